//! A dataset's settings page, for its admins: visibility, default-branch protection,
//! collaborators, shares and share links, through the admin gate and the same domain functions as
//! the REST API (`strata_core::datasets::{settings, shares, links}`); every form carries the session's
//! CSRF token.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::forms::see_other;
use super::layout::{render, Chrome};
use super::show::{failed, when};
use super::signed_in::{PageError, PageResult};
use crate::http::csrf::CsrfForm;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{session as session_of, session_principal};
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::gate::{self, Gated};
use strata_core::datasets::settings;
use strata_core::db::{Permission, SessionRow, ShareRow, Visibility};
use strata_core::sharing::links;
use strata_core::sharing::shares::{self, Access, Grantee, NewShare};

#[derive(Template)]
#[template(path = "dataset_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    dataset: String,
    /// The dataset's name alone (typed again to delete it).
    name: String,
    visibility: &'static str,
    protected: bool,
    merges_only: bool,
    approvals: i64,
    /// `(kind, name, permission)`.
    collaborators: Vec<(String, String, String)>,
    shares: Vec<ShareLine>,
    /// Invitations of addresses without an account: `(id, what, address, access, until)`.
    invites: Vec<(i64, String, String, String, String)>,
    links: Vec<LinkLine>,
    /// The URL of a link just made (shown once).
    new_link: Option<String>,
    /// A path to prefill the share forms with (`?path=` from a file or folder page).
    prefill: String,
    /// Whom the share form completes: the people and teams of the visitor's organisations.
    people: Vec<String>,
    /// The remote it follows, when it is a mirror, and its hook secret just made.
    mirror: Option<super::mirror::Banner>,
    hook_secret: Option<String>,
    hook_url: String,
    /// The import sources open to it and its latest imports (`None`: neither).
    imports: Option<super::imports::Section>,
    /// Its region feeds, and one just made (its URL and token, shown once).
    feeds: Vec<super::feeds::Line>,
    feed_token: Option<(String, String)>,
}

pub(super) struct ShareLine {
    pub id: i64,
    pub path: String,
    pub grantee: String,
    pub access: String,
    pub expires: String,
    pub expired: bool,
    /// It reaches the item the page was opened for.
    pub here: bool,
    /// It is of something inside the item the share dialog is for.
    pub inside: bool,
}

impl From<ShareRow> for ShareLine {
    fn from(r: ShareRow) -> ShareLine {
        ShareLine {
            here: false,
            inside: false,
            expired: !r.live(),
            id: r.id,
            grantee: if r.kind == "team" {
                format!("team {}", r.grantee)
            } else {
                r.grantee
            },
            path: r.path,
            access: r.access,
            expires: r.expires_at.map(when).unwrap_or_else(|| "never".into()),
        }
    }
}

struct LinkLine {
    /// The link, to copy again (none for links made before links could be shown again).
    url: Option<String>,
    id: i64,
    path: String,
    password: bool,
    expires: String,
    created: String,
}

pub(super) struct Shown<'a> {
    pub error: Option<&'a str>,
    pub new_link: Option<String>,
    pub prefill: String,
    /// A mirror's hook secret just made (shown once).
    pub hook_secret: Option<String>,
    /// A region feed just made: its URL and token (shown once).
    pub feed_token: Option<(String, String)>,
}

pub(super) async fn settings_page(
    state: &AppState,
    s: &SessionRow,
    repo: &Gated,
    status: StatusCode,
    shown: Shown<'_>,
) -> ApiResult<Response> {
    let mut chrome = Chrome::new(format!("Settings of {}", repo.path()), Some(s), "datasets");
    if let Some(error) = shown.error {
        chrome = chrome.error(error);
    }
    if shown.new_link.is_some() {
        chrome = chrome.notice("Link made: copy it below, now or later, from the list of links.");
    }
    let page = SettingsPage {
        chrome,
        dataset: repo.path(),
        name: repo.name.clone(),
        visibility: repo.visibility.as_str(),
        protected: repo.protect_default_branch != 0,
        merges_only: repo.require_merge_request != 0,
        approvals: repo.required_approvals,
        collaborators: settings::collaborators(state, repo).await?,
        shares: {
            // Opened for one item (its Share button): what reaches that item comes first.
            let mut lines: Vec<ShareLine> = shares::list(state, repo)
                .await?
                .into_iter()
                .map(ShareLine::from)
                .collect();
            let item = shown.prefill.trim_matches('/');
            if !item.is_empty() {
                for l in &mut lines {
                    l.here = reaches(&l.path, item);
                }
                lines.sort_by_key(|l| !l.here);
            }
            lines
        },
        invites: strata_core::sharing::invites::list(state, repo)
            .await?
            .into_iter()
            .map(|i| {
                let until = i.expires_at.map(when).unwrap_or_else(|| "never".into());
                (i.id, i.path, i.email, i.access, until)
            })
            .collect(),
        links: links::list(state, repo)
            .await?
            .into_iter()
            .map(|l| LinkLine {
                url: links::secret_of(state, &l)
                    .map(|secret| format!("{}/s/{secret}", state.settings.public_url)),
                id: l.id,
                path: l.path,
                password: l.password_hash.is_some(),
                expires: l.expires_at.map(when).unwrap_or_else(|| "never".into()),
                created: when(l.created_at),
            })
            .collect(),
        new_link: shown.new_link,
        prefill: shown.prefill,
        people: strata_core::orgs::people_near(state, &s.user).await?,
        mirror: strata_core::mirrors::of(state, repo)
            .await?
            .map(|m| super::mirror::banner(&m)),
        hook_secret: shown.hook_secret,
        hook_url: format!(
            "{}/api/v1/datasets/{}/mirror/hook",
            state.settings.public_url,
            repo.path()
        ),
        imports: super::imports::section(state, repo).await?,
        feeds: super::feeds::lines(state, repo).await?,
        feed_token: shown.feed_token,
    };
    Ok(render(status, &page))
}

/// Whether a share of `shared` reaches `item` (the item itself, a folder above it, or all).
pub(super) fn reaches(shared: &str, item: &str) -> bool {
    shared.is_empty()
        || shared == item
        || item
            .strip_prefix(shared)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A date from a form (`YYYY-MM-DD`, the end of that day UTC), or none when empty.
pub(super) fn expiry(text: &str) -> strata_core::error::Result<Option<i64>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bad =
        || strata_core::error::Error::unprocessable(format!("{text:?} is not a date (YYYY-MM-DD)"));
    let mut parts = text.splitn(3, '-').map(|p| p.parse::<i32>().ok());
    let (Some(Some(y)), Some(Some(m)), Some(Some(d))) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let month = time::Month::try_from(u8::try_from(m).map_err(|_| bad())?).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(y, month, u8::try_from(d).map_err(|_| bad())?)
        .map_err(|_| bad())?;
    Ok(Some(date.midnight().assume_utc().unix_timestamp() + 86_399))
}

/// The signed-in admin of `{ns}/{name}`, or the page to answer instead.
async fn admin(
    state: &AppState,
    headers: &HeaderMap,
    ns: &str,
    name: &str,
) -> PageResult<(SessionRow, Principal, Gated)> {
    let Some((_, s)) = session_of(state, headers).await? else {
        let next =
            serde_urlencoded::to_string([("next", format!("/datasets/{ns}/{name}/settings"))])
                .unwrap_or_default();
        return Err(PageError::Answer(see_other(&format!("/login?{next}"), &[])));
    };
    admin_of(state, s, ns, name).await
}

/// `{ns}/{name}` through the admin gate for the signed-in `s`, or the page to answer instead
/// (the access queue and the Share outside panel use it too).
pub(super) async fn admin_of(
    state: &AppState,
    s: SessionRow,
    ns: &str,
    name: &str,
) -> PageResult<(SessionRow, Principal, Gated)> {
    let who = session_principal(&s)?;
    match gate::dataset(state, &who, ns, name, Action::Admin).await {
        Ok(repo) => Ok((s, who, repo)),
        Err(e) => Err(PageError::Answer(failed(
            Some(&s),
            &format!("{ns}/{name}"),
            e,
        ))),
    }
}

#[derive(Deserialize, Default)]
pub struct SettingsQuery {
    path: Option<String>,
}

/// `GET /datasets/{ns}/{name}/settings?path=`.
pub async fn show(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<SettingsQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    match admin(&state, &headers, &ns, &name).await {
        Ok((s, _, repo)) => {
            let shown = Shown {
                error: None,
                new_link: None,
                prefill: q.path.unwrap_or_default(),
                hook_secret: None,
                feed_token: None,
            };
            settings_page(&state, &s, &repo, StatusCode::OK, shown).await
        }
        Err(e) => Ok(e.into_response()),
    }
}

#[derive(Deserialize)]
pub struct SettingsForm {
    /// Which change: `visibility`, `protection`, `collaborator`, `remove`, `share`, `unshare`,
    /// `link` or `unlink`.
    change: String,
    #[serde(default)]
    visibility: String,
    /// A checkbox: present when checked.
    #[serde(default)]
    protect: Option<String>,
    /// A checkbox: merge requests only.
    #[serde(default)]
    merges_only: Option<String>,
    /// Approvals a merge into the protected default branch needs.
    #[serde(default)]
    approvals: Option<String>,
    /// A username, or `team:{name}`.
    #[serde(default)]
    who: String,
    #[serde(default)]
    permission: String,
    /// Shares and links: the file or folder (`""` the whole dataset).
    #[serde(default)]
    path: String,
    /// Shares: `read` or `write`.
    #[serde(default)]
    access: String,
    /// Shares and links: `YYYY-MM-DD`, or empty for none.
    #[serde(default)]
    expires: String,
    /// Links: an optional password.
    #[serde(default)]
    password: String,
    /// `unshare` and `unlink`: which one.
    #[serde(default)]
    id: i64,
    /// `delete`: the dataset's name typed again.
    #[serde(default)]
    confirm: String,
    /// `rename`: the new name.
    #[serde(default)]
    new_name: String,
}

/// `POST /datasets/{ns}/{name}/settings`: one change, then the page again (with what went
/// wrong, where it went wrong).
pub async fn change(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm { signed_in, form }: CsrfForm<SettingsForm>,
) -> ApiResult<Response> {
    let (s, who, repo) = match admin_of(&state, signed_in.session, &ns, &name).await {
        Ok(parts) => parts,
        Err(e) => return Ok(e.into_response()),
    };
    let target = form.who.trim();
    if form.change == "delete" || form.change == "rename" {
        let done = match form.change.as_str() {
            "rename" => {
                strata_core::datasets::rename::rename(&state, &who, &repo, form.new_name.trim())
                    .await
                    .map(|r| format!("/datasets/{}/settings", r.path()))
            }
            _ if form.confirm.trim() == repo.name => strata_core::datasets::delete(&state, &repo)
                .await
                .map(|()| "/".to_owned()),
            _ => Err(strata_core::error::Error::unprocessable(format!(
                "type the dataset's name, {}, to delete it",
                repo.name
            ))),
        };
        return match done.map_err(ApiError::from) {
            Ok(to) => Ok(see_other(&to, &[])),
            Err(e) if e.status.is_client_error() => {
                let shown = Shown {
                    error: Some(&e.message),
                    new_link: None,
                    prefill: String::new(),
                    hook_secret: None,
                    feed_token: None,
                };
                settings_page(&state, &s, &repo, e.status, shown).await
            }
            Err(e) => Err(e),
        };
    }
    let done = match form.change.as_str() {
        "visibility" => match form.visibility.parse::<Visibility>() {
            Ok(v) => settings::set_visibility(&state, &who, &repo, v).await,
            Err(e) => Err(strata_core::error::Error::unprocessable(e)),
        },
        "protection" => match form
            .approvals
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::parse::<i64>)
            .transpose()
        {
            Ok(approvals) => {
                let protection = settings::Protection {
                    default_branch: form.protect.is_some(),
                    require_merge_request: Some(form.merges_only.is_some()),
                    required_approvals: approvals,
                };
                settings::set_protection(&state, &who, &repo, protection).await
            }
            Err(_) => Err(strata_core::error::Error::unprocessable(
                "approvals is a number from 0 to 10",
            )),
        },
        "collaborator" => match form.permission.parse::<Permission>() {
            Ok(p) => settings::set_collaborator(&state, &who, &repo, target, p).await,
            Err(e) => Err(strata_core::error::Error::unprocessable(e)),
        },
        "remove" => settings::remove_collaborator(&state, &who, &repo, target).await,
        "share" => {
            let terms = (
                form.who.as_str(),
                form.access.as_str(),
                form.expires.as_str(),
            );
            share_with(&state, &who, &repo, &form.path, terms)
                .await
                .map(drop)
        }
        "unshare" => shares::revoke(&state, &who, &repo, form.id).await,
        "uninvite" => strata_core::sharing::invites::revoke(&state, &who, &repo, form.id).await,
        "link" => {
            let made = match expiry(&form.expires) {
                Ok(expires) => {
                    let password = Some(form.password.clone()).filter(|p| !p.is_empty());
                    links::create(&state, &who, &repo, &form.path, password, expires).await
                }
                Err(e) => Err(e),
            };
            match made {
                Ok(link) => {
                    let url = format!("{}/s/{}", state.settings.public_url, link.secret);
                    let shown = Shown {
                        error: None,
                        new_link: Some(url),
                        prefill: String::new(),
                        hook_secret: None,
                        feed_token: None,
                    };
                    return settings_page(&state, &s, &repo, StatusCode::CREATED, shown).await;
                }
                Err(e) => Err(e),
            }
        }
        "unlink" => links::revoke(&state, &who, &repo, form.id).await,
        other => Err(strata_core::error::Error::unprocessable(format!(
            "unknown change {other:?}"
        ))),
    };
    match done.map_err(ApiError::from) {
        Ok(()) => Ok(see_other(
            &format!("/datasets/{}/settings", repo.path()),
            &[],
        )),
        Err(e) if e.status.is_client_error() => {
            let shown = Shown {
                error: Some(&e.message),
                new_link: None,
                prefill: form.path.clone(),
                hook_secret: None,
                feed_token: None,
            };
            settings_page(&state, &s, &repo, e.status, shown).await
        }
        Err(e) => Err(e),
    }
}

/// A share of `path` as the share forms word it: `who` is a username, `team:{org}/{team}`, or
/// an e-mail address (an invitation, delivered when its owner signs in through a provider that
/// verified it); then the access and an optional end date. Says which was made: `shared` or
/// `invited`.
pub(super) async fn share_with(
    state: &AppState,
    who: &Principal,
    repo: &Gated,
    path: &str,
    (target, access, expires): (&str, &str, &str),
) -> strata_core::error::Result<&'static str> {
    let target = target.trim();
    if target.contains('@') && !target.starts_with("team:") {
        let terms = (access.parse::<Access>()?, expiry(expires)?);
        return strata_core::sharing::invites::invite(state, who, repo, target, path, terms)
            .await
            .map(|_| "invited");
    }
    let grantee = match target.strip_prefix("team:") {
        Some(team) => Grantee::Team(team.trim().to_owned()),
        None => Grantee::User(target.to_owned()),
    };
    let new = NewShare {
        path: path.to_owned(),
        grantee,
        access: access.parse::<Access>()?,
        expires_at: expiry(expires)?,
    };
    shares::create(state, who, repo, new)
        .await
        .map(|_| "shared")
}
