//! `/notifications`: what the visitor was told (something shared with them, a merge request
//! waiting for their review, one of theirs merged, a failed contract on a dataset they
//! administer, an access request, a paused webhook), newest first, unread ones marked; each
//! marked read alone, all at once, or by opening it (`/notifications/{id}` marks it read and
//! leads on). The header's badge counts the unread ones. The same domain calls as
//! `/api/v1/notifications` (`strata_core::delivery::notify`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::forms::see_other;
use super::layout::{render, Chrome};
use super::show::when;
use super::signed_in::{PageResult, SignedIn};
use crate::http::csrf::CsrfForm;
use crate::http::extract::session_principal;
use crate::http::state::AppState;
use strata_core::delivery::notify::{self, Notification};

/// Notifications a page shows.
const PAGE: i64 = 100;

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    chrome: Chrome,
    notifications: Vec<(Notification, String)>,
    unread: i64,
    /// Only the unread ones are listed.
    unread_only: bool,
    /// The `before` of the next page.
    next: Option<i64>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    unread: Option<String>,
    #[serde(default)]
    before: Option<i64>,
}

/// `GET /notifications`.
pub async fn show(
    State(state): State<AppState>,
    SignedIn { session: s, .. }: SignedIn,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let who = session_principal(&s)?;
    let unread_only = q.unread.is_some();
    let (list, unread) = notify::list(&state, &who, unread_only, q.before, PAGE).await?;
    let next = (list.len() as i64 == PAGE)
        .then(|| list.last().map(|n| n.id))
        .flatten();
    let mut chrome = Chrome::new("Notifications", Some(&s), "notifications");
    // The badge counts what is unread now (the session was read before any was marked).
    chrome.unread = unread;
    let page = NotificationsPage {
        chrome,
        notifications: list
            .into_iter()
            .map(|n| {
                let at = when(n.created_at);
                (n, at)
            })
            .collect(),
        unread,
        unread_only,
        next,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct ReadForm {
    /// One notification; all of them when absent.
    #[serde(default)]
    id: Option<i64>,
}

/// `POST /notifications/read`: marks one notification read, or all.
pub async fn mark_read(
    State(state): State<AppState>,
    CsrfForm { signed_in, form }: CsrfForm<ReadForm>,
) -> PageResult {
    let who = session_principal(&signed_in.session)?;
    let ids = form.id.map(|id| vec![id]);
    notify::mark_read(&state, &who, ids.as_deref()).await?;
    Ok::<Response, _>(see_other("/notifications", &[]))
}

/// `GET /notifications/{id}`: marks the notification read and goes where it leads.
pub async fn open(
    State(state): State<AppState>,
    SignedIn { session: s, .. }: SignedIn,
    Path(id): Path<i64>,
) -> PageResult {
    let who = session_principal(&s)?;
    let to = notify::open(&state, &who, id).await?;
    Ok::<Response, _>(see_other(&to, &[]))
}
