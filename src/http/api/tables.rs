//! Tables over REST, all through the read gate and the policies: `GET …/tables` (the tables at a
//! revision, with schemas and row counts), `GET …/tables/{resource}` (the whole table as CSV, an
//! Arrow IPC stream, Parquet with `Range`, or JSON Lines), `GET …/tables/{resource}/rows` (a page
//! of rows: sort, filters, search), `GET …/tables/{resource}/stats` (column statistics) and
//! `POST …/tables/{resource}/schema` (commit the column types).

use axum::body::Body;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorBody;
use crate::http::download::serve_object;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::gate;
use strata_core::datasets::policies::Surface;
use strata_core::tables::stream::{self as streamed, Chunk, Format};
use strata_core::tables::{self, rows, At};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(table))
        .routes(routes!(rows_page))
        .routes(routes!(stats))
        .routes(routes!(commit_schema))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A revision id, branch or tag (default: the head of `main`).
    rev: Option<String>,
    /// Why you read: policies see it as `context.intent`.
    intent: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TableList {
    /// Each table the caller may read: name, path, format, `rows`, and `columns` (name, Frictionless
    /// `type`, whether it is `declared` in the datapackage or inferred); `error` for a table
    /// that cannot be read.
    #[schema(value_type = Vec<Object>)]
    tables: Vec<tables::Described>,
}

/// The tables of a dataset at a revision (CSV, TSV, Parquet and JSON Lines resources), each with
/// the schema and row count the caller sees after the policies.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/tables", tag = "tables", operation_id = "tables",
    params(("ns" = String, Path), ("name" = String, Path), ListQuery),
    responses((status = 200, description = "OK", body = TableList),
        (status = 404, description = "No such dataset or revision", body = ErrorBody),
        (status = 503, description = "Busy preparing other tables: try again", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    who: Principal,
) -> ApiResult<Json<TableList>> {
    let gated = gate::shared(&state, &who, &ns, &name, Action::Read).await?;
    let tables = tables::describe(&state, &gated, q.rev.as_deref(), q.intent.as_deref()).await?;
    Ok(Json(TableList { tables }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TableQuery {
    /// A revision id, branch or tag (default: the head of `main`).
    rev: Option<String>,
    /// Comma-separated columns to return, in that order (default: all the policies leave; CSV
    /// and Arrow only).
    columns: Option<String>,
    /// `csv` (default), `arrow` (an Arrow IPC stream), `parquet` (with `Content-Length`, `ETag`
    /// and `Range`) or `jsonl` (JSON Lines).
    #[param(pattern = "^(csv|arrow|parquet|jsonl)$")]
    format: Option<String>,
    /// Why you read: policies see it as `context.intent`.
    intent: Option<String>,
}

/// A table of the dataset, whole, with the policies' obligations applied (redacted, removed and
/// hashed columns, filtered rows).
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/tables/{resource}", tag = "tables", operation_id = "table",
    params(("ns" = String, Path), ("name" = String, Path), ("resource" = String, Path, description = "The resource's name in the datapackage"), TableQuery),
    responses(
        (status = 200, description = "The table", content_type = "text/csv"),
        (status = 206, description = "A range of the Parquet view"),
        (status = 403, description = "A policy denies it, or a removed column was asked for", body = ErrorBody),
        (status = 404, description = "No such dataset, revision or resource", body = ErrorBody),
        (status = 422, description = "Not a table, a malformed table, an unknown column or format", body = ErrorBody),
        (status = 503, description = "Busy: try again", body = ErrorBody),
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
        Some("parquet" | "jsonl") if q.columns.is_some() => {
            return Err(ApiError::unprocessable(
                "columns picks columns of csv and arrow output: Parquet and JSON Lines are the whole table",
            ))
        }
        Some(f @ ("parquet" | "jsonl")) => {
            let gated = gate::shared(&state, &who, &ns, &name, Action::Read).await?;
            let at = At {
                resource,
                rev: q.rev,
                intent: q.intent,
            };
            let view = tables::view_of(&state, &gated, &at).await?;
            if f == "parquet" {
                let file = format!("{}.parquet", at.resource);
                return serve_object(&state, view.place(), &view.oid, &headers, Some(&file)).await;
            }
            let lines = tables::export::jsonl(&state, &view).await?;
            let mut response = Body::from_stream(lines).into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/jsonl"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
            return Ok(response);
        }
        None if accept.contains("application/vnd.apache.arrow.stream") => Format::Arrow,
        None => Format::Csv,
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "format {other:?} is not served: use csv, arrow, parquet or jsonl"
            )))
        }
    };
    let gated = gate::shared(&state, &who, &ns, &name, Action::Read).await?;
    let req = streamed::Request {
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
    let opened = streamed::open(&state, &gated, &req, format, Surface::Table).await?;
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

/// The parameters of a page of rows (documentation; they are read from the query string, where
/// `filter` and `sort` may repeat).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RowsQuery {
    /// A revision id, branch or tag (default: the head of `main`).
    rev: Option<String>,
    /// Rows to skip (default 0).
    offset: Option<u64>,
    /// Rows in the page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// `column` or `column:desc`; repeat (or separate with commas) to sort by several.
    sort: Option<String>,
    /// `column:op:value`, op one of `eq ne lt le gt ge in contains is_null` (`in` takes a
    /// comma-separated list; `is_null` true or false); repeat for more, all must hold.
    filter: Option<String>,
    /// Text to find in any column, in any case.
    q: Option<String>,
    /// Comma-separated columns to return, in that order.
    columns: Option<String>,
    /// Why you read: policies see it as `context.intent`.
    intent: Option<String>,
}

/// A page of a table's rows, as the caller may see them: sorting, filtering and searching only
/// ever see the values the policies leave (a redacted column sorts on its redacted value).
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/tables/{resource}/rows", tag = "tables", operation_id = "table_rows",
    params(("ns" = String, Path), ("name" = String, Path), ("resource" = String, Path), RowsQuery),
    responses((status = 200, description = "`columns` (name, type), `rows` (arrays in that order), `total` matching rows", body = Object),
        (status = 400, description = "A malformed filter or number", body = ErrorBody),
        (status = 403, description = "A policy denies it", body = ErrorBody),
        (status = 404, description = "No such dataset, revision or resource", body = ErrorBody),
        (status = 422, description = "An unknown column, a value not of its column's type, a limit out of range, a malformed table", body = ErrorBody),
        (status = 503, description = "Busy: try again", body = ErrorBody)))]
pub async fn rows_page(
    State(state): State<AppState>,
    Path((ns, name, resource)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    who: Principal,
) -> ApiResult<Json<rows::Page>> {
    let (at, query) = rows_query(resource, raw.as_deref().unwrap_or(""))?;
    let gated = gate::shared(&state, &who, &ns, &name, Action::Read).await?;
    Ok(Json(tables::rows_of(&state, &gated, &at, &query).await?))
}

/// The table and the page a query string asks for.
fn rows_query(resource: String, raw: &str) -> ApiResult<(At, rows::Query)> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))?;
    let mut at = At {
        resource,
        ..At::default()
    };
    let query = rows::Query::parse(&pairs, &mut at, &[])?;
    Ok((at, query))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// A revision id, branch or tag (default: the head of `main`).
    rev: Option<String>,
    /// Why you read: policies see it as `context.intent`.
    intent: Option<String>,
}

/// Column statistics of a table as the caller may see it: per column its type, count, nulls,
/// distinct values, min, max, mean (numbers), the most frequent values and a histogram (numbers).
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/tables/{resource}/stats", tag = "tables", operation_id = "table_stats",
    params(("ns" = String, Path), ("name" = String, Path), ("resource" = String, Path), StatsQuery),
    responses((status = 200, description = "`rows` and per column statistics", body = Object),
        (status = 403, description = "A policy denies it", body = ErrorBody),
        (status = 404, description = "No such dataset, revision or resource", body = ErrorBody),
        (status = 422, description = "A malformed table", body = ErrorBody),
        (status = 503, description = "Busy: try again", body = ErrorBody)))]
pub async fn stats(
    State(state): State<AppState>,
    Path((ns, name, resource)): Path<(String, String, String)>,
    Query(q): Query<StatsQuery>,
    who: Principal,
) -> ApiResult<Json<tables::stats::Stats>> {
    let gated = gate::shared(&state, &who, &ns, &name, Action::Read).await?;
    let at = At {
        resource,
        rev: q.rev,
        intent: q.intent,
    };
    Ok(Json(tables::stats_of(&state, &gated, &at).await?))
}

/// Writes the column types of a table (declared, or inferred from its rows) into the resource's
/// `schema.fields` in one commit at the head of the default branch. Fields the datapackage has
/// keep what they say; columns a policy transforms for you are left untyped.
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/tables/{resource}/schema", tag = "tables", operation_id = "commit_table_schema",
    params(("ns" = String, Path), ("name" = String, Path), ("resource" = String, Path)),
    responses((status = 200, description = "`revision` (the new head, or the head when nothing changed) and `typed` ([name, type] written)", body = Object),
        (status = 403, description = "You may not write the dataset, or a policy denies the read", body = ErrorBody),
        (status = 404, description = "No such dataset or resource", body = ErrorBody),
        (status = 422, description = "Not a table, or a malformed one", body = ErrorBody)))]
pub async fn commit_schema(
    State(state): State<AppState>,
    Path((ns, name, resource)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<tables::schema::Committed>> {
    let gated = gate::dataset(&state, &who, &ns, &name, Action::Write).await?;
    let at = At {
        resource,
        ..At::default()
    };
    Ok(Json(
        tables::schema::commit_schema(&state, &who, &gated, &at).await?,
    ))
}
