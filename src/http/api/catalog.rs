//! Governance over REST: `GET /api/v1/catalog` (datasets by tag, geography and name, only those
//! the caller may see). Tables themselves are in `super::tables`.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::gate;
use strata_core::datasets::listing;
use strata_core::datasets::policies;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(catalog))
}

/// How many datasets one catalog request looks at before it answers with a cursor.
const SCAN: usize = 1000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// Comma-separated tags that must all be set on the dataset, one of its resources or a column.
    tags: Option<String>,
    /// The dataset's (or a resource's) geography, case-insensitive.
    geography: Option<String>,
    /// Text in the dataset's name, title or description.
    q: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Matches per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct CatalogPage {
    /// Each dataset's catalog entry: title, description, tags, geography, resources with their
    /// tags and columns (with their tags).
    #[schema(value_type = Vec<Object>)]
    datasets: Vec<strata_core::datasets::catalog::Catalog>,
    /// Pass as `cursor` for more; `null` when the search is complete.
    next_cursor: Option<String>,
    /// The policies in force, their version (the policy dataset's head) and files; `null` for
    /// callers who may not read the policy dataset.
    #[schema(value_type = Option<Object>)]
    policies: serde_json::Value,
}

/// Searches the catalog: the datasets the caller may read whose datapackage tags, geography and
/// name match.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "governance", operation_id = "catalog", params(CatalogQuery),
    responses((status = 200, description = "OK", body = CatalogPage),
        (status = 422, description = "Bad cursor or limit", body = ErrorBody)))]
pub async fn catalog(
    State(state): State<AppState>,
    Query(q): Query<CatalogQuery>,
    who: Principal,
) -> ApiResult<Json<CatalogPage>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::unprocessable("limit must be 1 to 200"));
    }
    let mut after = match q.cursor.as_deref() {
        None => 0,
        Some(c) => c
            .parse::<i64>()
            .map_err(|_| ApiError::unprocessable("malformed cursor"))?,
    };
    let tags: Vec<String> = q
        .tags
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let geography = q
        .geography
        .as_deref()
        .map(str::trim)
        .filter(|g| !g.is_empty());
    let text = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let mut found = Vec::new();
    let mut scanned = 0;
    let mut next_cursor = None;
    'pages: loop {
        let batch = listing::list(&state, &who, after, 100, None).await?;
        let full = batch.next_cursor.is_some();
        for repo in batch.datasets {
            after = repo.id;
            scanned += 1;
            // Through the gate, as every read: what it refuses is left out.
            if let Ok(gated) =
                gate::dataset(&state, &who, &repo.namespace, &repo.name, Action::Read).await
            {
                let entry = policies::catalog(&state, &gated, None).await?;
                if entry.matches(&tags, geography, text) {
                    found.push(entry);
                }
            }
            if found.len() == limit || scanned == SCAN {
                next_cursor = Some(after.to_string());
                break 'pages;
            }
        }
        if !full {
            break;
        }
    }
    Ok(Json(CatalogPage {
        datasets: found,
        next_cursor,
        policies: strata_core::datasets::gate::policies(&state, &who).await,
    }))
}
