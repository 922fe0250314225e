//! `GET /api/v1/datasets`: the datasets the caller may see, a page at a time, with a name filter.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ErrorBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::lfs::rfc3339;
use crate::http::state::AppState;
use strata_core::auth::{Action, On, Principal};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only datasets whose `ns/name` contains this (case-insensitive).
    q: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Datasets per page, 1 to 500 (default 50).
    limit: Option<i64>,
}

/// A dataset in a list.
#[derive(Serialize, ToSchema)]
pub struct DatasetItem {
    namespace: String,
    name: String,
    visibility: String,
    /// RFC 3339.
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct DatasetPage {
    datasets: Vec<DatasetItem>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// The datasets the caller may read: public ones, and for signed-in users internal ones, their
/// own, their organisations' and those shared with them (all of them for site admins), narrowed
/// by the token's scopes.
#[utoipa::path(get, path = "/api/v1/datasets", tag = "datasets", operation_id = "list_datasets", params(ListQuery),
    responses((status = 200, description = "OK", body = DatasetPage),
        (status = 422, description = "Bad cursor or limit", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
    who: Principal,
) -> ApiResult<Json<DatasetPage>> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::unprocessable(format!(
            "limit must be 1 to {MAX_LIMIT}"
        )));
    }
    let after = match q.cursor.as_deref() {
        None => 0,
        Some(c) => c
            .parse::<i64>()
            .map_err(|_| ApiError::unprocessable("malformed cursor"))?,
    };
    let viewer = match &who {
        Principal::User { user, .. } => Some(user),
        _ => None,
    };
    let query = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    // A token sees what its scopes reach (and public datasets); a JWT without a user, public
    // ones. The scopes are applied before paging, so neither the page nor its cursor tells a
    // narrow token about datasets it may not see.
    let scopes = who.scopes().filter(|s| !s.allows_everything());
    let reaches = |r: &strata_core::db::Repo| match scopes {
        None => true,
        Some(s) => r.is_public() || s.allows(&r.path(), On::Dataset, Action::Read),
    };
    let mut rows = Vec::new();
    let mut next_cursor = None;
    let mut after = after;
    loop {
        let batch = state.db.visible_repos(viewer, after, limit, query).await?;
        let full = batch.len() as i64 == limit;
        after = batch.last().map_or(after, |r| r.id);
        for r in batch {
            if rows.len() as i64 == limit {
                break;
            }
            if reaches(&r) {
                rows.push(r);
            }
        }
        if rows.len() as i64 == limit {
            next_cursor = rows.last().map(|r| r.id.to_string());
            break;
        }
        if !full {
            break;
        }
    }
    let datasets = rows
        .into_iter()
        .map(|r| DatasetItem {
            created_at: rfc3339(r.created_at),
            namespace: r.namespace,
            name: r.name,
            visibility: r.visibility.to_string(),
        })
        .collect();
    Ok(Json(DatasetPage {
        datasets,
        next_cursor,
    }))
}
