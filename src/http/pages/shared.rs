//! `/shared`: what others shared with the visitor (or the visitor's teams), and every share the
//! visitor made, each with a way to open or manage it. The lists come from
//! `strata_core::sharing::shares`, like `/api/v1/shared-with-me` and `/api/v1/shares`.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::dataset_settings::ShareLine;
use super::forms::see_other;
use super::layout::{render, Chrome};
use super::show::when;
use crate::http::error::ApiResult;
use crate::http::extract::{session as session_of, session_principal};
use crate::http::state::AppState;
use strata_core::auth::Need;
use strata_core::db::ShareRow;
use strata_core::sharing::shares;

/// One thing shared with the visitor, as the lists show it.
pub(super) struct Received {
    pub(super) dataset: String,
    pub(super) path: String,
    /// Where it opens: the folder page or the file page.
    pub(super) href: String,
    pub(super) from: String,
    pub(super) since: String,
    pub(super) access: String,
    pub(super) until: String,
}

struct Made {
    dataset: String,
    line: ShareLine,
}

#[derive(Template)]
#[template(path = "shared.html")]
struct SharedPage {
    chrome: Chrome,
    received: Vec<Received>,
    made: Vec<Made>,
}

/// Whether `path` of a shared dataset is a file (`Some(false)`), a folder, or gone.
async fn kind(state: &AppState, row: &ShareRow) -> Option<bool> {
    if row.path.is_empty() {
        return Some(true);
    }
    let (ns, name, path) = (row.namespace.clone(), row.name.clone(), row.path.clone());
    strata_core::datasets::git(state, move |ms| {
        ms.stat(
            strata_metastore::DatasetId {
                ns: &ns,
                name: &name,
            },
            None,
            &path,
        )
    })
    .await
    .ok()
    .flatten()
}

/// `GET /shared`.
pub async fn show(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let Some((_, s)) = session_of(&state, &headers).await? else {
        return Ok(see_other("/login?next=%2Fshared", &[]));
    };
    let who = session_principal(&s)?;
    let user = state.require(&who, Need::Account).await?;
    let scopes = who.scopes().cloned().unwrap_or_default();
    let received = received(&state, user, &scopes, usize::MAX).await?;
    let made = shares::made_by(&state, user)
        .await?
        .into_iter()
        .map(|row| Made {
            dataset: format!("{}/{}", row.namespace, row.name),
            line: ShareLine::from(row),
        })
        .collect();
    let page = SharedPage {
        chrome: Chrome::new("Shared with me", Some(&s), "shared"),
        received,
        made,
    };
    Ok(render(StatusCode::OK, &page))
}

/// Up to `limit` things shared with `user` that are still there, newest first.
pub(super) async fn received(
    state: &AppState,
    user: &strata_core::db::User,
    scopes: &strata_core::auth::Scopes,
    limit: usize,
) -> ApiResult<Vec<Received>> {
    let mut received = Vec::new();
    let mut rows = shares::shared_with(state, user, scopes).await?;
    rows.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    for row in rows {
        if received.len() >= limit {
            break;
        }
        let dataset = format!("{}/{}", row.namespace, row.name);
        let href = match kind(state, &row).await {
            Some(true) if row.path.is_empty() => format!("/datasets/{dataset}"),
            Some(true) => format!(
                "/datasets/{dataset}?{}",
                serde_urlencoded::to_string([("path", &row.path)]).unwrap_or_default()
            ),
            Some(false) => format!(
                "/datasets/{dataset}/files/{}",
                super::forms::path_url(&row.path)
            ),
            None => continue, // shared, but gone from the head: nothing to open
        };
        received.push(Received {
            href,
            path: row.path,
            dataset,
            from: row.created_by.unwrap_or_else(|| "someone".into()),
            since: when(row.created_at),
            access: row.access,
            until: row.expires_at.map(when).unwrap_or_else(|| "no end".into()),
        });
    }
    Ok(received)
}
