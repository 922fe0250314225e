//! `GET /api/v1/datasets`: the datasets the caller may see, a page at a time, with a name filter.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ErrorBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::datasets::listing;
use strata_core::db::rfc3339;

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
    #[param(minimum = 1, maximum = 500)]
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
    let query = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let page = listing::list(&state, &who, after, limit, query).await?;
    let next_cursor = page.next_cursor.map(|c| c.to_string());
    let datasets = page
        .datasets
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
