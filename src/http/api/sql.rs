//! SQL over REST: `POST /api/v1/sql` with `{"query", "format", "intent", "params"}`, and the same as
//! `GET /api/v1/sql?q=…&format=…` (a URL to share, or to hand to a tool that reads CSV or
//! Parquet by URL). The result streams as it is computed (`strata_core::sql`).

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::sql;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_sql, post_sql))
}

/// The longest query text taken.
const MAX_QUERY: usize = 64 * 1024;

/// A query.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlRequest {
    /// One query (`SELECT`, `WITH`, `VALUES`). Tables are `"ns/name"."resource"`, or
    /// `"ns/name@rev"."resource"` at a branch, tag or revision.
    query: String,
    /// `json` (default: `columns`, `tables` read, `rows`), `csv`, `arrow` (an IPC stream) or
    /// `parquet`.
    #[schema(pattern = "^(json|csv|arrow|parquet)$")]
    format: Option<String>,
    /// Why you read: policies see it as `context.intent`.
    intent: Option<String>,
    /// Values for the query's placeholders (`$1`, `$2`, … or `?` in order): text, numbers,
    /// `true`, `false` or `null`, each read as the type the query gives its placeholder.
    #[schema(value_type = Vec<Object>)]
    params: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SqlQuery {
    /// The query.
    q: String,
    /// `json` (default), `csv`, `arrow` or `parquet`.
    #[param(pattern = "^(json|csv|arrow|parquet)$")]
    format: Option<String>,
    /// Why you read: policies see it as `context.intent`.
    intent: Option<String>,
}

/// Runs a query over the tables the caller may read, each as the policies let the caller see it
/// (removed columns absent, redacted and hashed ones transformed, rows filtered first). A table
/// the caller may not read answers as a missing one does.
#[utoipa::path(post, path = "/api/v1/sql", tag = "sql", operation_id = "sql",
    request_body = SqlRequest,
    responses((status = 200, description = "The result: JSON, CSV, Arrow IPC or Parquet"),
        (status = 400, description = "Not a query this server runs (syntax errors name the line and column), or values that do not fit its placeholders", body = ErrorBody),
        (status = 404, description = "A table that does not exist or may not be read", body = ErrorBody),
        (status = 413, description = "The query text or its bound values are too long", body = ErrorBody),
        (status = 422, description = "A format this server does not answer in", body = ErrorBody),
        (status = 429, description = "Too many of your queries running", body = ErrorBody),
        (status = 503, description = "The server is busy, or the query needs more memory than it may use", body = ErrorBody)))]
async fn post_sql(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    // Any `Accept` goes: the answer's type is the format asked for.
    let mut only_type = HeaderMap::new();
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        only_type.insert(header::CONTENT_TYPE, ct.clone());
    }
    let req: SqlRequest =
        read_json(&only_type, body, MAX_QUERY + sql::params::MAX_BYTES * 2).await?;
    let params = sql::Params::from_json(req.params.as_deref().unwrap_or_default())?;
    answer(
        &state,
        &who,
        &req.query,
        &params,
        req.format.as_deref(),
        req.intent.as_deref(),
    )
    .await
}

/// [`post_sql`] as a URL.
#[utoipa::path(get, path = "/api/v1/sql", tag = "sql", operation_id = "sql_get",
    params(SqlQuery),
    responses((status = 200, description = "The result: JSON, CSV, Arrow IPC or Parquet"),
        (status = 400, description = "Not a query this server runs", body = ErrorBody),
        (status = 404, description = "A table that does not exist or may not be read", body = ErrorBody),
        (status = 413, description = "The query text is too long", body = ErrorBody),
        (status = 422, description = "A format this server does not answer in", body = ErrorBody),
        (status = 429, description = "Too many of your queries running", body = ErrorBody)))]
async fn get_sql(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<SqlQuery>,
) -> ApiResult<Response> {
    let params = sql::Params::none();
    answer(
        &state,
        &who,
        &q.q,
        &params,
        q.format.as_deref(),
        q.intent.as_deref(),
    )
    .await
}

async fn answer(
    state: &AppState,
    who: &Principal,
    query: &str,
    params: &sql::Params,
    format: Option<&str>,
    intent: Option<&str>,
) -> ApiResult<Response> {
    if query.len() > MAX_QUERY {
        return Err(ApiError::too_large(format!(
            "a query may be at most {MAX_QUERY} bytes long"
        )));
    }
    let format = sql::Format::parse(format)?;
    let answer = sql::run(&state.core, who, query, params, intent).await?;
    let bytes = sql::out::bytes(answer, format)?.map_err(|e| std::io::Error::other(e.message));
    let mut response = Body::from_stream(bytes).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
