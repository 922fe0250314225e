//! Delta Sharing's REST protocol under `/api/delta-sharing`, the endpoint of a recipient's
//! profile file (`strata_core::compat::delta_sharing`):
//!
//! | route | what |
//! |---|---|
//! | `GET /api/delta-sharing/shares` | the recipient's shares |
//! | `GET /api/delta-sharing/shares/{share}` | one share |
//! | `GET /api/delta-sharing/shares/{share}/schemas` | its schemas |
//! | `GET /api/delta-sharing/shares/{share}/schemas/{schema}/tables` | a schema's tables |
//! | `GET /api/delta-sharing/shares/{share}/all-tables` | every table of the share |
//! | `GET …/tables/{table}/version` | the version (`Delta-Table-Version`), or the first at or after `startingTimestamp` |
//! | `GET …/tables/{table}/metadata` | protocol and metadata lines (NDJSON) |
//! | `POST …/tables/{table}/query` | protocol, metadata and file lines, at a `version` or `timestamp` |
//! | `GET …/tables/{table}/changes` | the change data feed from `startingVersion` (or time) on |
//! | `GET /api/delta-sharing/files/{token}` | a file a query named (HEAD and ranges too); the token is the credential |
//!
//! Calls carry the recipient's bearer token; errors are the protocol's
//! (`{"errorCode", "message"}`, with strata's request id). Lists are one line of JSON; names
//! compare without case. Only the `parquet` response format is answered.

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use strata_core::compat::delta_sharing::{
    self as ds, files, Answer, ChangesAsk, PageAsk, QueryAsk, Reader, Target,
};

/// The routes, with their part of the OpenAPI document (tag `delta-sharing`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_shares))
        .routes(routes!(get_share))
        .routes(routes!(list_schemas))
        .routes(routes!(list_tables))
        .routes(routes!(list_all_tables))
        .routes(routes!(table_version))
        .routes(routes!(table_metadata))
        .routes(routes!(table_query))
        .routes(routes!(table_changes))
        .routes(routes!(file))
}

/// An error as Delta Sharing clients read it.
pub struct DeltaError(ApiError);

impl<E: Into<ApiError>> From<E> for DeltaError {
    fn from(e: E) -> DeltaError {
        DeltaError(e.into())
    }
}

type DeltaResult<T> = Result<T, DeltaError>;

fn malformed(message: impl Into<String>) -> DeltaError {
    DeltaError(ApiError::new(StatusCode::BAD_REQUEST, message))
}

impl IntoResponse for DeltaError {
    fn into_response(self) -> Response {
        let e = self.0;
        // A client's mistake is never a 5xx: clients retry those for minutes.
        let (status, code) = match e.status {
            StatusCode::BAD_REQUEST if e.message.starts_with("malformed") => {
                (StatusCode::BAD_REQUEST, "MALFORMED_REQUEST")
            }
            StatusCode::BAD_REQUEST if e.message.contains("responseformat") => {
                (StatusCode::BAD_REQUEST, "UNSUPPORTED_OPERATION")
            }
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT => {
                (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE")
            }
            StatusCode::UNAUTHORIZED => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            StatusCode::FORBIDDEN => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
            StatusCode::NOT_FOUND | StatusCode::GONE => {
                (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST")
            }
            StatusCode::TOO_MANY_REQUESTS => (StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED"),
            s => (s, "INTERNAL_ERROR"),
        };
        if status.is_client_error() {
            tracing::info!(status = status.as_u16(), message = %e.message, "request refused");
        }
        let body = json!({
            "errorCode": code,
            "message": e.message,
            "request_id": strata_core::context::current().request_id,
        });
        let mut r = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// The recipient calling: its bearer token, at most so many calls a minute per address.
pub struct Recipient(Reader);

impl axum::extract::FromRequestParts<AppState> for Recipient {
    type Rejection = DeltaError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = strata_core::context::current().ip;
        if !state.http().delta_requests.allow(&ip) {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many Delta Sharing calls from your address: wait a minute",
            )
            .into());
        }
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_owned());
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(strata_core::error::Error::unauthorized(
                "send the recipient's bearer token (the profile file's bearerToken)",
            )
            .into());
        };
        Ok(Recipient(ds::reader(state, &token).await?))
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Params {
    max_results: Option<String>,
    page_token: Option<String>,
    starting_timestamp: Option<String>,
    starting_version: Option<String>,
    ending_version: Option<String>,
    ending_timestamp: Option<String>,
    version: Option<String>,
    timestamp: Option<String>,
}

fn params(raw: Option<String>) -> DeltaResult<Params> {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| malformed(format!("malformed query string: {e}")))
}

fn number(what: &str, v: &Option<String>) -> DeltaResult<Option<i64>> {
    v.as_deref()
        .map(|s| {
            s.trim().parse::<i64>().map_err(|_| {
                DeltaError::from(strata_core::error::Error::bad_request(format!(
                    "{what} must be a whole number, not {s:?}"
                )))
            })
        })
        .transpose()
}

fn page(p: &Params) -> DeltaResult<PageAsk> {
    Ok(PageAsk {
        max_results: number("maxResults", &p.max_results)?,
        page_token: p.page_token.clone(),
    })
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)]
struct ListParams {
    /// Items a page holds at most (0 to 500; default 500).
    max_results: Option<i32>,
    /// The `nextPageToken` of the page before.
    page_token: Option<String>,
}

#[utoipa::path(get, path = "/api/delta-sharing/shares", tag = "delta-sharing", operation_id = "delta_list_shares", params(ListParams),
    responses((status = 200, description = "The recipient's shares", body = Object),
        (status = 401, description = "No live recipient token", body = Object)))]
async fn list_shares(
    State(state): State<AppState>,
    Recipient(r): Recipient,
    RawQuery(q): RawQuery,
) -> DeltaResult<Json<Value>> {
    let p = params(q)?;
    Ok(Json(ds::list_shares(&state, &r, &page(&p)?).await?))
}

#[utoipa::path(get, path = "/api/delta-sharing/shares/{share}", tag = "delta-sharing", operation_id = "delta_get_share",
    params(("share" = String, Path)),
    responses((status = 200, description = "The share", body = Object),
        (status = 404, description = "No such share for this recipient", body = Object)))]
async fn get_share(
    State(state): State<AppState>,
    Recipient(r): Recipient,
    Path(share): Path<String>,
) -> DeltaResult<Json<Value>> {
    Ok(Json(ds::get_share(&state, &r, &share).await?))
}

#[utoipa::path(get, path = "/api/delta-sharing/shares/{share}/schemas", tag = "delta-sharing", operation_id = "delta_list_schemas",
    params(("share" = String, Path), ListParams),
    responses((status = 200, description = "The share's schemas", body = Object),
        (status = 404, description = "No such share for this recipient", body = Object)))]
async fn list_schemas(
    State(state): State<AppState>,
    Recipient(r): Recipient,
    Path(share): Path<String>,
    RawQuery(q): RawQuery,
) -> DeltaResult<Json<Value>> {
    let p = params(q)?;
    Ok(Json(
        ds::list_schemas(&state, &r, &share, &page(&p)?).await?,
    ))
}

#[utoipa::path(get, path = "/api/delta-sharing/shares/{share}/schemas/{schema}/tables", tag = "delta-sharing", operation_id = "delta_list_tables",
    params(("share" = String, Path), ("schema" = String, Path), ListParams),
    responses((status = 200, description = "The schema's tables", body = Object),
        (status = 404, description = "No such share or schema for this recipient", body = Object)))]
async fn list_tables(
    State(state): State<AppState>,
    Recipient(r): Recipient,
    Path((share, schema)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> DeltaResult<Json<Value>> {
    let p = params(q)?;
    Ok(Json(
        ds::list_tables(&state, &r, &share, Some(&schema), &page(&p)?).await?,
    ))
}

#[utoipa::path(get, path = "/api/delta-sharing/shares/{share}/all-tables", tag = "delta-sharing", operation_id = "delta_list_all_tables",
    params(("share" = String, Path), ListParams),
    responses((status = 200, description = "Every table of the share", body = Object),
        (status = 404, description = "No such share for this recipient", body = Object)))]
async fn list_all_tables(
    State(state): State<AppState>,
    Recipient(r): Recipient,
    Path(share): Path<String>,
    RawQuery(q): RawQuery,
) -> DeltaResult<Json<Value>> {
    let p = params(q)?;
    Ok(Json(
        ds::list_tables(&state, &r, &share, None, &page(&p)?).await?,
    ))
}

type TablePath = Path<(String, String, String)>;

fn target((share, schema, table): (String, String, String)) -> Target {
    Target {
        share,
        schema,
        table,
    }
}

fn with_version(version: i64, body: Body, ndjson: bool) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert("delta-table-version", HeaderValue::from(version));
    if ndjson {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson; charset=utf-8"),
        );
        h.insert(
            "delta-sharing-capabilities",
            HeaderValue::from_static("responseformat=parquet"),
        );
    }
    r
}

fn ndjson(answer: Answer) -> Response {
    let mut out = String::new();
    for line in &answer.lines {
        out.push_str(&line.to_string());
        out.push('\n');
    }
    with_version(answer.version, Body::from(out), true)
}

/// Refuses a request for the `delta` response format alone: only `parquet` is answered.
fn parquet_only(headers: &HeaderMap) -> DeltaResult<()> {
    let Some(caps) = headers
        .get("delta-sharing-capabilities")
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(());
    };
    for part in caps.split(';') {
        if let Some((k, v)) = part.split_once('=') {
            if k.trim().eq_ignore_ascii_case("responseformat")
                && !v
                    .split(',')
                    .any(|f| f.trim().eq_ignore_ascii_case("parquet"))
            {
                return Err(strata_core::error::Error::bad_request(
                    "this server answers responseformat=parquet only",
                )
                .into());
            }
        }
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}/version", tag = "delta-sharing", operation_id = "delta_table_version",
    params(("share" = String, Path), ("schema" = String, Path), ("table" = String, Path), ("startingTimestamp" = Option<String>, Query)),
    responses((status = 200, description = "The version, in the Delta-Table-Version header"),
        (status = 400, description = "A timestamp that is none, or after the latest version", body = Object),
        (status = 404, description = "No such table for this recipient", body = Object)))]
async fn table_version(
    State(state): State<AppState>,
    Recipient(r): Recipient,
    Path(p): TablePath,
    RawQuery(q): RawQuery,
) -> DeltaResult<Response> {
    let q = params(q)?;
    let v = ds::version(&state, &r, &target(p), q.starting_timestamp.as_deref()).await?;
    Ok(with_version(v, Body::empty(), false))
}

#[utoipa::path(get, path = "/api/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}/metadata", tag = "delta-sharing", operation_id = "delta_table_metadata",
    params(("share" = String, Path), ("schema" = String, Path), ("table" = String, Path), ("version" = Option<i64>, Query), ("timestamp" = Option<String>, Query)),
    responses((status = 200, description = "NDJSON: the protocol and metadata lines", content_type = "application/x-ndjson", body = String),
        (status = 404, description = "No such table for this recipient", body = Object)))]
async fn table_metadata(
    State(state): State<AppState>,
    Recipient(r): Recipient,
    Path(p): TablePath,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> DeltaResult<Response> {
    parquet_only(&headers)?;
    let q = params(q)?;
    let ask = QueryAsk {
        version: number("version", &q.version)?,
        timestamp: q.timestamp,
        ..QueryAsk::default()
    };
    Ok(ndjson(ds::metadata(&state, &r, &target(p), &ask).await?))
}

#[utoipa::path(post, path = "/api/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}/query", tag = "delta-sharing", operation_id = "delta_table_query",
    params(("share" = String, Path), ("schema" = String, Path), ("table" = String, Path)),
    request_body(content = Object, description = "`version`, `timestamp`, `startingVersion`/`endingVersion`; hints (`predicateHints`, `jsonPredicateHints`, `limitHint`) are taken as hints: every file of the version is answered"),
    responses((status = 200, description = "NDJSON: protocol, metadata and file lines", content_type = "application/x-ndjson", body = String),
        (status = 400, description = "A malformed body, or versions that do not fit", body = Object),
        (status = 404, description = "No such table for this recipient", body = Object)))]
async fn table_query(
    State(state): State<AppState>,
    Recipient(r): Recipient,
    Path(p): TablePath,
    headers: HeaderMap,
    body: Bytes,
) -> DeltaResult<Response> {
    parquet_only(&headers)?;
    let body: Value = match body.iter().all(u8::is_ascii_whitespace) {
        true => json!({}),
        false => serde_json::from_slice(&body)
            .map_err(|e| malformed(format!("malformed request body: {e}")))?,
    };
    if !body.is_object() {
        return Err(malformed("malformed request body: it is no JSON object"));
    }
    let int = |k: &str| -> DeltaResult<Option<i64>> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                strata_core::error::Error::bad_request(format!("{k} must be a whole number")).into()
            }),
        }
    };
    let ask = QueryAsk {
        version: int("version")?,
        timestamp: match body.get("timestamp") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(malformed("malformed request body: timestamp is a string")),
        },
        starting_version: int("startingVersion")?,
        ending_version: int("endingVersion")?,
    };
    Ok(ndjson(ds::query(&state, &r, &target(p), &ask).await?))
}

#[utoipa::path(get, path = "/api/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}/changes", tag = "delta-sharing", operation_id = "delta_table_changes",
    params(("share" = String, Path), ("schema" = String, Path), ("table" = String, Path),
        ("startingVersion" = Option<i64>, Query), ("startingTimestamp" = Option<String>, Query),
        ("endingVersion" = Option<i64>, Query), ("endingTimestamp" = Option<String>, Query)),
    responses((status = 200, description = "NDJSON: protocol, metadata, then add and cdf lines", content_type = "application/x-ndjson", body = String),
        (status = 400, description = "No start, or versions that do not fit", body = Object),
        (status = 404, description = "No such table for this recipient", body = Object)))]
async fn table_changes(
    State(state): State<AppState>,
    Recipient(r): Recipient,
    Path(p): TablePath,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> DeltaResult<Response> {
    parquet_only(&headers)?;
    let q = params(q)?;
    let ask = ChangesAsk {
        starting_version: number("startingVersion", &q.starting_version)?,
        starting_timestamp: q.starting_timestamp,
        ending_version: number("endingVersion", &q.ending_version)?,
        ending_timestamp: q.ending_timestamp,
    };
    Ok(ndjson(ds::changes(&state, &r, &target(p), &ask).await?))
}

#[utoipa::path(get, path = "/api/delta-sharing/files/{token}", tag = "delta-sharing", operation_id = "delta_file",
    params(("token" = String, Path, description = "From a file line's url: the credential")),
    responses((status = 200, description = "The Parquet file (or 206, a range of it)", content_type = "application/octet-stream"),
        (status = 403, description = "Expired, or the recipient revoked", body = Object),
        (status = 404, description = "No such file, or no longer shared as it was", body = Object)))]
async fn file(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> DeltaResult<Response> {
    let served = files::open(&state, &token).await?;
    Ok(
        crate::http::download::serve_object(&state, served.place, &served.oid, &headers, None)
            .await?,
    )
}
