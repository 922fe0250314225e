//! The share dialog of one item: `/datasets/{ns}/{name}/share?path=` (a file, a folder, or with
//! no path the whole dataset or drive), where every Share button leads. It lists who can reach
//! that item (the owner and collaborators, each share, invitation and link that reaches it, and
//! for a folder those of what is inside it, each with its revoke button; links copyable again),
//! and takes new shares (people and teams
//! completed from the visitor's organisations, or an e-mail address: an invitation) and links.
//! For the dataset's admins, through the admin gate and the domain's `shares`, `invites` and
//! `links`, as the settings page and the REST API are; every form carries the CSRF token.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::dataset_settings::{expiry, reaches, share_with, ShareLine};
use super::forms::{path_url, refusal, see_other};
use super::layout::{render, Chrome};
use super::show::{failed, when};
use super::signed_in::{PageError, PageResult, SignedIn};
use crate::http::csrf::CsrfForm;
use crate::http::extract::session_principal;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::gate::{self, Gated};
use strata_core::datasets::settings;
use strata_core::db::SessionRow;
use strata_core::sharing::invites;
use strata_core::sharing::links;
use strata_core::sharing::shares;

#[derive(Template)]
#[template(path = "share.html")]
struct SharePage {
    chrome: Chrome,
    dataset: String,
    /// The item shared (`""`: the whole dataset).
    item: String,
    /// Where the item is shown (its file page or folder).
    item_url: String,
    /// What the item is called on the page.
    label: String,
    /// `private`, `internal` or `public`.
    visibility: &'static str,
    owner: String,
    /// `(who, access)`: collaborators reach everything.
    collaborators: Vec<(String, String)>,
    /// The shares that reach the item: its own, then those of a folder above it or all of it.
    shares: Vec<ShareLine>,
    /// `(id, address, access, until, where)` of invitations that reach the item or are inside it.
    invites: Vec<(i64, String, String, String, Reach)>,
    links: Vec<LinkLine>,
    /// Whom the form completes: the people and teams of the visitor's organisations.
    people: Vec<String>,
    /// The field values to show again after a refusal: `(who, access, until)`.
    again: (String, String, String),
}

/// Where a link or an invitation is, seen from the item.
enum Reach {
    Here,
    /// A folder above it, or the whole dataset (`""`).
    Above(String),
    Inside(String),
}

impl Reach {
    /// Where `path` (which reaches `item` or is inside it) is, seen from `item`.
    fn of(path: &str, item: &str) -> Reach {
        match path {
            p if p == item => Reach::Here,
            p if reaches(item, p) => Reach::Inside(p.to_owned()),
            p => Reach::Above(p.to_owned()),
        }
    }

    fn here(&self) -> bool {
        matches!(self, Reach::Here)
    }
    fn inside(&self) -> bool {
        matches!(self, Reach::Inside(_))
    }
    /// The other item's path (`""`: the item itself, or the whole dataset above it).
    fn path(&self) -> &str {
        match self {
            Reach::Here => "",
            Reach::Above(p) | Reach::Inside(p) => p,
        }
    }
}

struct LinkLine {
    what: Reach,
    id: i64,
    /// The link, to copy again (none for links that cannot be shown again).
    url: Option<String>,
    password: bool,
    expires: String,
    created: String,
}

#[derive(Deserialize, Default)]
pub struct ShareQuery {
    #[serde(default)]
    path: String,
    /// What was just done, for its notice.
    #[serde(default)]
    done: String,
}

/// The signed-in visitor's principal and the dataset, through the admin gate (the page of the
/// refusal otherwise).
async fn admin_of(
    state: &AppState,
    s: &SessionRow,
    ns: &str,
    name: &str,
) -> PageResult<(Principal, Gated)> {
    let who = session_principal(s)?;
    match gate::dataset(state, &who, ns, name, Action::Admin).await {
        Ok(repo) => Ok((who, repo)),
        Err(e) => Err(PageError::Answer(failed(
            Some(s),
            &format!("{ns}/{name}"),
            e,
        ))),
    }
}

/// `GET /datasets/{ns}/{name}/share?path=`.
pub async fn show(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<ShareQuery>,
    SignedIn {
        id_hash: _,
        session: s,
    }: SignedIn,
) -> PageResult {
    let (_, repo) = admin_of(&state, &s, &ns, &name).await?;
    let notice = match q.done.as_str() {
        "shared" => Some("Shared: they find it under Shared with me."),
        "invited" => Some(
            "Invitation kept: the share is made when someone signs in through a provider that \
             verified that address.",
        ),
        "revoked" => Some("The share is revoked."),
        "withdrawn" => Some("The invitation is withdrawn."),
        "linked" => Some("Link made: copy it below, now or later."),
        "unlinked" => Some("The link is revoked: it stops working at once."),
        _ => None,
    };
    let shown = Shown {
        notice,
        error: None,
        again: Default::default(),
    };
    Ok(page(
        &state,
        &s,
        &repo,
        q.path.trim_matches('/'),
        StatusCode::OK,
        shown,
    )
    .await?)
}

struct Shown<'a> {
    notice: Option<&'a str>,
    error: Option<String>,
    again: (String, String, String),
}

async fn page(
    state: &AppState,
    s: &SessionRow,
    repo: &Gated,
    item: &str,
    status: StatusCode,
    shown: Shown<'_>,
) -> crate::http::error::ApiResult<Response> {
    let dataset = repo.path();
    let drive = repo.name == "drive";
    let label = match item.rsplit('/').next() {
        Some(last) if !item.is_empty() => last.to_owned(),
        _ if drive => format!("{}'s drive", repo.namespace),
        _ => dataset.clone(),
    };
    let mut chrome = Chrome::new(
        format!("Share “{label}”"),
        Some(s),
        if drive { "drive" } else { "datasets" },
    );
    if let Some(n) = shown.notice {
        chrome = chrome.notice(n);
    }
    if let Some(e) = shown.error {
        chrome = chrome.error(e);
    }
    // What reaches the item, and (for a folder or the whole dataset) what is shared inside it.
    let near = |path: &str| reaches(path, item) || reaches(item, path);
    let mut lines: Vec<ShareLine> = shares::list(state, repo)
        .await?
        .into_iter()
        .filter(|r| near(&r.path))
        .map(ShareLine::from)
        .collect();
    for l in &mut lines {
        l.here = l.path == item;
        l.inside = !l.here && reaches(item, &l.path);
    }
    // The item's own shares first, then the folders above it (nearest first), then inside it.
    lines.sort_by(|a, b| {
        (!a.here, a.inside, std::cmp::Reverse(a.path.len()), &a.path).cmp(&(
            !b.here,
            b.inside,
            std::cmp::Reverse(b.path.len()),
            &b.path,
        ))
    });
    let page = SharePage {
        chrome,
        item_url: if item.is_empty() {
            format!("/datasets/{dataset}")
        } else {
            format!("/datasets/{dataset}/files/{}", path_url(item))
        },
        item: item.to_owned(),
        label,
        visibility: repo.visibility.as_str(),
        owner: repo.namespace.clone(),
        collaborators: settings::collaborators(state, repo)
            .await?
            .into_iter()
            .map(|(kind, name, access)| match kind.as_str() {
                "team" => (format!("team {name}"), access),
                _ => (name, access),
            })
            .collect(),
        shares: lines,
        invites: invites::list(state, repo)
            .await?
            .into_iter()
            .filter(|i| near(&i.path))
            .map(|i| {
                let until = i.expires_at.map(when).unwrap_or_else(|| "never".into());
                (i.id, i.email, i.access, until, Reach::of(&i.path, item))
            })
            .collect(),
        links: links::list(state, repo)
            .await?
            .into_iter()
            .filter(|l| near(l.path.trim_matches('/')))
            .map(|l| LinkLine {
                what: Reach::of(l.path.trim_matches('/'), item),
                url: links::secret_of(state, &l)
                    .map(|secret| format!("{}/s/{secret}", state.settings.public_url)),
                id: l.id,
                password: l.password_hash.is_some(),
                expires: l.expires_at.map(when).unwrap_or_else(|| "never".into()),
                created: when(l.created_at),
            })
            .collect(),
        people: strata_core::orgs::people_near(state, &s.user).await?,
        again: shown.again,
        dataset,
    };
    Ok(render(status, &page))
}

#[derive(Deserialize)]
pub struct ShareForm {
    /// `share`, `unshare`, `uninvite`, `link` or `unlink`.
    change: String,
    /// The item the dialog is for (`""`: the whole dataset).
    #[serde(default)]
    path: String,
    /// `share`: a username, `team:{org}/{team}`, or an e-mail address.
    #[serde(default)]
    who: String,
    /// `share`: `read` or `write`.
    #[serde(default)]
    access: String,
    /// `share` and `link`: `YYYY-MM-DD`, or empty for none.
    #[serde(default)]
    expires: String,
    /// `link`: an optional password.
    #[serde(default)]
    password: String,
    /// `unshare`, `uninvite` and `unlink`: which one.
    #[serde(default)]
    id: i64,
}

/// `POST /datasets/{ns}/{name}/share`: one change, then the dialog again with a notice (or the
/// refusal, with what was typed kept).
pub async fn change(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm {
        signed_in: SignedIn {
            id_hash: _,
            session: s,
        },
        form,
    }: CsrfForm<ShareForm>,
) -> PageResult {
    let (who, repo) = admin_of(&state, &s, &ns, &name).await?;
    let item = form.path.trim_matches('/').to_owned();
    let done = match form.change.as_str() {
        "share" => {
            let terms = (
                form.who.as_str(),
                form.access.as_str(),
                form.expires.as_str(),
            );
            share_with(&state, &who, &repo, &item, terms).await
        }
        "unshare" => shares::revoke(&state, &who, &repo, form.id)
            .await
            .map(|_| "revoked"),
        "uninvite" => invites::revoke(&state, &who, &repo, form.id)
            .await
            .map(|_| "withdrawn"),
        "link" => match expiry(&form.expires) {
            Ok(expires) => {
                let password = Some(form.password.clone()).filter(|p| !p.is_empty());
                links::create(&state, &who, &repo, &item, password, expires)
                    .await
                    .map(|_| "linked")
            }
            Err(e) => Err(e),
        },
        "unlink" => links::revoke(&state, &who, &repo, form.id)
            .await
            .map(|_| "unlinked"),
        other => Err(strata_core::error::Error::unprocessable(format!(
            "unknown change {other:?}"
        ))),
    };
    match done {
        Ok(done) => {
            let q = serde_urlencoded::to_string([("path", item.as_str()), ("done", done)])
                .unwrap_or_default();
            Ok(see_other(
                &format!("/datasets/{}/share?{q}", repo.path()),
                &[],
            ))
        }
        Err(e) => {
            let (status, message) = refusal(e)?;
            let shown = Shown {
                notice: None,
                error: Some(message),
                again: (form.who, form.access, form.expires),
            };
            Ok(page(&state, &s, &repo, &item, status, shown).await?)
        }
    }
}
