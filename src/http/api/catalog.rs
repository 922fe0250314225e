//! Governance over REST: `GET /api/v1/catalog` (datasets by tag, geography and name, only those
//! the caller may see) and `GET /api/v1/datasets/{ns}/{name}/tables/{resource}` (a CSV resource
//! streamed through the policies as CSV or an Arrow IPC stream).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
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
use strata_core::datasets::governance::{self, Surface};
use strata_core::datasets::listing;
use strata_core::datasets::tables::{self, Chunk, Format};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(catalog))
        .routes(routes!(table))
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
    #[schema(value_type = Object)]
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
                let entry = governance::catalog(&state, &gated, None).await?;
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TableQuery {
    /// A revision id, branch or tag (default: the head of `main`).
    rev: Option<String>,
    /// Comma-separated columns to return, in that order (default: all the policies leave).
    columns: Option<String>,
    /// `csv` (default) or `arrow` (an Arrow IPC stream).
    format: Option<String>,
    /// Why you read: policies see it as `context.intent`.
    intent: Option<String>,
}

/// A CSV resource of the dataset, streamed with the policies' obligations applied (redacted,
/// removed and hashed columns, filtered rows) as CSV or an Arrow IPC stream.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/tables/{resource}", tag = "governance",
    params(("ns" = String, Path), ("name" = String, Path), ("resource" = String, Path, description = "The resource's name in the datapackage"), TableQuery),
    responses(
        (status = 200, description = "The table", content_type = "text/csv"),
        (status = 403, description = "A policy denies it, or a removed column was asked for", body = ErrorBody),
        (status = 404, description = "No such dataset, revision or resource", body = ErrorBody),
        (status = 422, description = "Not a CSV resource, an unknown column or format", body = ErrorBody),
    ))]
pub async fn table(
    State(state): State<AppState>,
    Path((ns, name, resource)): Path<(String, String, String)>,
    Query(q): Query<TableQuery>,
    who: Principal,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = match q.format.as_deref() {
        Some("csv") => Format::Csv,
        Some("arrow") => Format::Arrow,
        None if accept.contains("application/vnd.apache.arrow.stream") => Format::Arrow,
        None => Format::Csv,
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "format {other:?} is not served: use csv or arrow"
            )))
        }
    };
    let gated = gate::shared(&state, &who, &ns, &name, Action::Read).await?;
    let req = tables::Request {
        resource,
        rev: q.rev,
        columns: q.columns.map(|c| {
            c.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        }),
        intent: q.intent,
    };
    let opened = tables::open(&state, &gated, &req, format, Surface::Table).await?;
    let chunks = tokio_stream_of(opened.chunks);
    let mut response = Body::from_stream(chunks).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(match format {
            Format::Arrow => "application/vnd.apache.arrow.stream",
            _ => "text/csv; charset=utf-8",
        }),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if !opened.decision.policies.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&opened.decision.to_audit()["columns"].to_string()) {
            h.insert("strata-policy-columns", v);
        }
    }
    Ok(response)
}

/// The chunks as a body stream: bytes pass, an error cuts the stream.
fn tokio_stream_of(
    mut rx: tokio::sync::mpsc::Receiver<strata_core::error::Result<Chunk>>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|next| {
            next.map(|c| match c {
                Ok(Chunk::Bytes(b)) => Ok(b),
                Ok(Chunk::Batch(_)) => Err(std::io::Error::other("unexpected batch")),
                Err(e) => Err(std::io::Error::other(e.message)),
            })
        })
    })
}
