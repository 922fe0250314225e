//! `GET /`: the landing page. Signed out: what strata is, the public datasets with a search, and
//! a way in. Signed in, the home page: what was shared with the user lately, their unread
//! notifications, the datasets they may see (the same query as `GET /api/v1/datasets`; `?q=`
//! searches their cards: `strata_core::datasets::search`), most recently changed first, each with its card (title, description,
//! licence, size, last change, owner), and a form that creates a dataset through the same
//! domain function as `POST /api/v1/datasets`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::forms::see_other;
use super::layout::{render, Chrome};
use super::show::{human_size, when};
use super::signed_in::SignedIn;
use crate::http::csrf::CsrfForm;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::session_principal;
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::datasets::{card, create_as, listing, NewDataset};
use strata_core::db::{SessionRow, Visibility};
use strata_core::delivery::notify;

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing {
    chrome: Chrome,
    q: String,
    datasets: Vec<Row>,
    /// The next datasets' page, when there are more.
    more: Option<String>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    chrome: Chrome,
    base: String,
    q: String,
    datasets: Vec<Row>,
    more: Option<String>,
    /// The latest things shared with the user, and whether there are more.
    shared: Vec<super::shared::Received>,
    /// Unread notifications, the latest first, and how many in all.
    unread: Vec<strata_core::delivery::notify::Notification>,
    unread_count: i64,
    /// Where the signed-in user may create datasets: their own namespace and their
    /// organisations.
    namespaces: Vec<String>,
    /// The create form as sent, `(namespace, name)`, when it is shown again with an error.
    form: (String, String),
    /// The default apps offered to the user, not yet installed or declined.
    offers: Vec<Offer>,
}

/// A default app offered on the home page, with the scopes installing it consents to.
struct Offer {
    id: String,
    name: String,
    description: String,
    scopes: Vec<String>,
    /// The scopes as the install form sends them.
    scope_value: String,
}

/// A dataset in a list, with its card.
struct Row {
    path: String,
    /// Its account or organisation.
    owner: String,
    visibility: &'static str,
    title: String,
    description: String,
    licence: String,
    size: String,
    files: usize,
    /// When it last changed, or when it was made if it has no revision yet.
    updated: String,
    updated_at: i64,
    id: i64,
}

/// Datasets a list shows at most.
const LISTED: i64 = 200;
/// Of a description, the characters a list shows.
const SUMMARY: usize = 240;

/// The datasets `who` may see whose name holds `q`, [`LISTED`] at a time after dataset `after`
/// (by id), most recently changed first, with cards; and the link to the next ones.
async fn rows(
    state: &AppState,
    who: &Principal,
    q: &str,
    after: i64,
) -> ApiResult<(Vec<Row>, Option<String>)> {
    let search = strata_core::datasets::search::Search::parse(q);
    let (repos, cards, more) = if search.is_empty() {
        let page = listing::list(state, who, after.max(0), LISTED, None).await?;
        let more = page.next_cursor.map(|next| format!("/?after={next}"));
        let cards = card::cards(state, &page.datasets).await;
        (page.datasets, cards, more)
    } else {
        // A search looks at the cards (names, tags, licence, columns, text).
        let found =
            strata_core::datasets::search::find(state, who, &search, after.max(0), LISTED as usize);
        let found = found.await?;
        let more = found.next_cursor.map(|next| {
            let pairs = [("after", next.to_string()), ("q", q.to_owned())];
            format!(
                "/?{}",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            )
        });
        let (repos, cards) = found.datasets.into_iter().unzip();
        (repos, cards, more)
    };
    let mut rows: Vec<Row> = repos
        .iter()
        .zip(cards)
        .map(|(r, c)| {
            let c = c.as_deref().cloned().unwrap_or_default();
            let updated_at = if c.updated_at > 0 {
                c.updated_at
            } else {
                r.created_at
            };
            let mut description: String = c.description.chars().take(SUMMARY).collect();
            if description.len() < c.description.len() {
                description.push('…');
            }
            Row {
                path: r.path(),
                owner: r.namespace.clone(),
                visibility: r.visibility.as_str(),
                title: c.title,
                description,
                licence: c.licence,
                size: human_size(c.size),
                files: c.files,
                updated: when(updated_at),
                updated_at,
                id: r.id,
            }
        })
        .collect();
    // Git keeps seconds: within one, the newer dataset first.
    rows.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)));
    Ok((rows, more))
}

#[derive(Deserialize, Default)]
pub struct HomeQuery {
    #[serde(default)]
    q: String,
    /// The list goes on after this dataset (the "More datasets" link).
    #[serde(default)]
    after: i64,
}

pub async fn show(
    State(state): State<AppState>,
    Query(query): Query<HomeQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let q = query.q.trim().to_owned();
    let Some((_, s)) = crate::http::extract::session(&state, &headers).await? else {
        let chrome = Chrome::new("strata", None, "");
        let (datasets, more) = rows(&state, &Principal::Anonymous, &q, query.after).await?;
        return Ok(render(
            StatusCode::OK,
            &Landing {
                chrome,
                q,
                datasets,
                more,
            },
        ));
    };
    let listed = (q, query.after);
    home(&state, &s, StatusCode::OK, listed, None, Default::default()).await
}

/// Shared things and notifications the home page shows at most.
const RECENT: usize = 5;

/// The signed-in home page; `error` and `form` show a refused create form again.
async fn home(
    state: &AppState,
    s: &SessionRow,
    status: StatusCode,
    (q, after): (String, i64),
    error: Option<&str>,
    form: (String, String),
) -> ApiResult<Response> {
    let who = crate::http::extract::session_principal(s)?;
    let (datasets, more) = rows(state, &who, &q, after).await?;
    let scopes = who.scopes().cloned().unwrap_or_default();
    let shared = super::shared::received(state, &s.user, &scopes, RECENT).await?;
    let (unread, unread_count) = notify::list(state, &who, true, None, RECENT as i64).await?;
    let mut namespaces = vec![s.user.username.clone()];
    namespaces.extend(strata_core::orgs::of_user(state, &s.user).await?);
    let offers = strata_core::apps::offers::offers(state, &s.user)
        .await?
        .into_iter()
        .map(|e| Offer {
            id: e.manifest.id,
            name: e.manifest.name,
            description: e.manifest.description,
            scope_value: e.manifest.scopes.join(" "),
            scopes: e.manifest.scopes,
        })
        .collect();
    let mut chrome = Chrome::new("Datasets", Some(s), "datasets");
    if let Some(error) = error {
        chrome = chrome.error(error);
    }
    Ok(render(
        status,
        &Home {
            chrome,
            base: state.settings.public_url.clone(),
            q,
            datasets,
            more,
            shared,
            unread,
            unread_count,
            namespaces,
            form,
            offers,
        },
    ))
}

#[derive(Deserialize)]
pub struct CreateForm {
    namespace: String,
    name: String,
    visibility: String,
}

/// `POST /datasets`: the create form, through the same domain function as the REST API.
pub async fn create(
    State(state): State<AppState>,
    CsrfForm {
        signed_in: SignedIn {
            id_hash: _,
            session: s,
        },
        form,
    }: CsrfForm<CreateForm>,
) -> ApiResult<Response> {
    let sent = (form.namespace.clone(), form.name.trim().to_owned());
    let refused = |status, message: String| {
        let sent = sent.clone();
        let (state, s) = (&state, &s);
        async move { home(state, s, status, (String::new(), 0), Some(&message), sent).await }
    };
    let visibility: Visibility = match form.visibility.parse() {
        Ok(v) => v,
        Err(e) => return refused(StatusCode::UNPROCESSABLE_ENTITY, e).await,
    };
    let new = NewDataset {
        namespace: form.namespace.clone(),
        name: form.name.trim().to_owned(),
        visibility,
        datapackage: None,
        message: None,
    };
    match create_as(&state, &session_principal(&s)?, new).await {
        Ok((repo, _, _)) => Ok(see_other(&format!("/datasets/{}", repo.path()), &[])),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_client_error() {
                refused(e.status, e.message).await
            } else {
                Err(e)
            }
        }
    }
}
