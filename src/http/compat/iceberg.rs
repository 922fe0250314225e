//! The Apache Iceberg REST catalog (its OpenAPI spec, v1) under `/iceberg`, for PyIceberg,
//! DuckDB's `iceberg` extension, Spark, Trino, Ray and Daft with `uri` = `{public_url}/iceberg`:
//!
//! | route | what |
//! |---|---|
//! | `GET /iceberg/v1/config?warehouse=W` | the prefix of warehouse `W` (a branch or tag; default `main`) and the calls served |
//! | `POST /iceberg/v1/oauth/tokens` | client credentials (the secret a strata token) → that token as the bearer |
//! | `GET /iceberg/v1/{prefix}/namespaces[?parent=]` | namespaces: owners, then their datasets |
//! | `GET`, `HEAD /iceberg/v1/{prefix}/namespaces/{ns}` | a namespace and its properties |
//! | `GET /iceberg/v1/{prefix}/namespaces/{ns}/tables` | a dataset's tables |
//! | `GET`, `HEAD /iceberg/v1/{prefix}/namespaces/{ns}/tables/{table}` | load a table: its metadata for this caller, and how to read its files |
//! | `POST /iceberg/v1/{prefix}/namespaces/{ns}/tables/{table}` | commit an append or an overwrite whose files were staged through the S3 gateway |
//!
//! A namespace of several parts comes as one path segment, its parts joined by the unit
//! separator (`%1F`). Callers authenticate as everywhere (a Bearer token; `Bearer None`, which
//! PyIceberg sends without one, is anonymous). Errors are the spec's
//! (`{"error": {"message", "type", "code"}}`), with strata's request id.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header::AUTHORIZATION, request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::compat::iceberg::{self, Warehouse};

/// The routes, with their part of the OpenAPI document (tag `iceberg`; the spec's own document
/// is Apache Iceberg's `rest-catalog-open-api.yaml`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(config))
        .routes(routes!(tokens))
        .routes(routes!(namespaces))
        .routes(routes!(namespace, namespace_exists))
        .routes(routes!(tables))
        .routes(routes!(load, table_exists, commit))
}

/// What is missing when a call answers 404, as the spec's error types name it.
#[derive(Clone, Copy)]
enum Missing {
    Namespace,
    Table,
}

/// An error as Iceberg clients read it.
pub struct IcebergError {
    error: ApiError,
    missing: Missing,
}

type IcebergResult<T> = Result<T, IcebergError>;

impl<E: Into<ApiError>> From<E> for IcebergError {
    fn from(e: E) -> IcebergError {
        IcebergError {
            error: e.into(),
            missing: Missing::Table,
        }
    }
}

fn on_namespace(e: impl Into<ApiError>) -> IcebergError {
    IcebergError {
        error: e.into(),
        missing: Missing::Namespace,
    }
}

impl IntoResponse for IcebergError {
    fn into_response(self) -> Response {
        let status = self.error.status;
        let kind = match status {
            StatusCode::BAD_REQUEST => "BadRequestException",
            StatusCode::UNAUTHORIZED => "NotAuthorizedException",
            StatusCode::FORBIDDEN => "ForbiddenException",
            StatusCode::NOT_FOUND => match self.missing {
                Missing::Namespace => "NoSuchNamespaceException",
                Missing::Table if self.error.message.starts_with("namespace") => {
                    "NoSuchNamespaceException"
                }
                Missing::Table => "NoSuchTableException",
            },
            StatusCode::CONFLICT => "CommitFailedException",
            StatusCode::UNPROCESSABLE_ENTITY => "ValidationException",
            StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailableException",
            StatusCode::TOO_MANY_REQUESTS => "TooManyRequestsException",
            s if s.is_server_error() => "ServerErrorException",
            _ => "RESTException",
        };
        let request_id = strata_core::context::current().request_id;
        if status.is_client_error() {
            tracing::info!(status = status.as_u16(), message = %self.error.message, "request refused");
        }
        let body = json!({
            "error": {"message": self.error.message, "type": kind, "code": status.as_u16()},
            "request_id": request_id,
        });
        (status, Json(body)).into_response()
    }
}

/// The caller: as everywhere, except that `Bearer None` (PyIceberg with no token) is anonymous.
pub struct Caller(Principal);

impl axum::extract::FromRequestParts<AppState> for Caller {
    type Rejection = IcebergError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let none = parts
            .headers
            .get(AUTHORIZATION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"bearer none"));
        if none {
            return Ok(Caller(Principal::Anonymous));
        }
        Ok(Caller(Principal::from_request_parts(parts, state).await?))
    }
}

/// A namespace's parts, as the path names them.
fn parts(ns: &str) -> Vec<String> {
    ns.split('\u{1f}').map(str::to_owned).collect()
}

fn warehouse(prefix: &str) -> IcebergResult<Warehouse> {
    Ok(Warehouse::from_prefix(prefix)?)
}

#[derive(Deserialize)]
struct ConfigQuery {
    warehouse: Option<String>,
}

#[utoipa::path(get, path = "/iceberg/v1/config", tag = "iceberg", operation_id = "iceberg_config", params(("warehouse" = Option<String>, Query)),
    responses((status = 200, description = "The prefix of the warehouse and the calls served", body = Object)))]
async fn config(Query(q): Query<ConfigQuery>, _who: Caller) -> IcebergResult<Json<Value>> {
    let w = Warehouse::named(q.warehouse.as_deref())?;
    Ok(Json(iceberg::config(&w)))
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_secret: Option<String>,
}

/// Client credentials: the secret (in the form, or Basic's password) is a strata token, which
/// becomes the bearer of the calls that follow.
#[utoipa::path(post, path = "/iceberg/v1/oauth/tokens", tag = "iceberg", operation_id = "iceberg_tokens",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "grant_type=client_credentials, the client secret a strata token"),
    responses((status = 200, description = "The token as the bearer", body = Object),
        (status = 400, description = "OAuth's `invalid_request`, `unsupported_grant_type`", body = Object),
        (status = 401, description = "OAuth's `invalid_client`: not a live token", body = Object)))]
async fn tokens(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let refuse = |status, error: &str, description: &str| {
        crate::http::oauth::oauth_error(status, error, description)
    };
    let form: TokenForm = match crate::http::pages::forms::read_form(body).await {
        Ok(f) => f,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, "invalid_request", &e.message),
    };
    if form.grant_type.as_deref() != Some("client_credentials") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "this catalog takes client_credentials, the secret a strata token",
        );
    }
    let secret = form
        .client_secret
        .or_else(|| crate::http::extract::basic_credentials(&headers).map(|(_, p)| p));
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "send a strata token as the client secret",
        );
    };
    match strata_core::auth::authenticate(&state, &secret).await {
        Ok(_) => Json(json!({
            "access_token": secret,
            "token_type": "bearer",
            "expires_in": 3600,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        }))
        .into_response(),
        Err(e) => refuse(StatusCode::UNAUTHORIZED, "invalid_client", &e.message),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    parent: Option<String>,
}

#[utoipa::path(get, path = "/iceberg/v1/{prefix}/namespaces", tag = "iceberg", operation_id = "iceberg_namespaces", params(("prefix" = String, Path, description = "The warehouse: a branch or tag, `/` as `~`"), ("parent" = Option<String>, Query)),
    responses((status = 200, description = "`namespaces`", body = Object), (status = 404, description = "NoSuchNamespaceException", body = Object)))]
async fn namespaces(
    State(state): State<AppState>,
    Path(prefix): Path<String>,
    Query(q): Query<ListQuery>,
    Caller(who): Caller,
) -> IcebergResult<Json<Value>> {
    warehouse(&prefix)?;
    let parent = q
        .parent
        .filter(|p| !p.is_empty())
        .map(|p| parts(&p))
        .unwrap_or_default();
    let list = iceberg::namespaces(&state, &who, &parent)
        .await
        .map_err(on_namespace)?;
    Ok(Json(json!({ "namespaces": list })))
}

#[utoipa::path(get, path = "/iceberg/v1/{prefix}/namespaces/{ns}", tag = "iceberg", operation_id = "iceberg_namespace", params(("prefix" = String, Path, description = "The warehouse: a branch or tag, `/` as `~`"), ("ns" = String, Path, description = "The namespace, its parts joined by %1F")),
    responses((status = 200, description = "The namespace and its properties", body = Object), (status = 404, description = "NoSuchNamespaceException", body = Object)))]
async fn namespace(
    State(state): State<AppState>,
    Path((prefix, ns)): Path<(String, String)>,
    Caller(who): Caller,
) -> IcebergResult<Json<Value>> {
    warehouse(&prefix)?;
    let ns = parts(&ns);
    let properties = iceberg::namespace(&state, &who, &ns)
        .await
        .map_err(on_namespace)?;
    Ok(Json(json!({ "namespace": ns, "properties": properties })))
}

#[utoipa::path(head, path = "/iceberg/v1/{prefix}/namespaces/{ns}", tag = "iceberg", operation_id = "iceberg_namespace_exists", params(("prefix" = String, Path, description = "The warehouse: a branch or tag, `/` as `~`"), ("ns" = String, Path, description = "The namespace, its parts joined by %1F")),
    responses((status = 204, description = "It exists"), (status = 404, description = "It does not, for you")))]
async fn namespace_exists(
    state: State<AppState>,
    path: Path<(String, String)>,
    who: Caller,
) -> IcebergResult<StatusCode> {
    let _ = namespace(state, path, who).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/iceberg/v1/{prefix}/namespaces/{ns}/tables", tag = "iceberg", operation_id = "iceberg_tables", params(("prefix" = String, Path, description = "The warehouse: a branch or tag, `/` as `~`"), ("ns" = String, Path, description = "The namespace, its parts joined by %1F")),
    responses((status = 200, description = "`identifiers`", body = Object), (status = 404, description = "NoSuchNamespaceException", body = Object)))]
async fn tables(
    State(state): State<AppState>,
    Path((prefix, ns)): Path<(String, String)>,
    Caller(who): Caller,
) -> IcebergResult<Json<Value>> {
    let w = warehouse(&prefix)?;
    let ns = parts(&ns);
    let names = iceberg::tables(&state, &who, &ns, &w)
        .await
        .map_err(on_namespace)?;
    let identifiers: Vec<Value> = names
        .into_iter()
        .map(|name| json!({"namespace": ns, "name": name}))
        .collect();
    Ok(Json(json!({ "identifiers": identifiers })))
}

#[utoipa::path(get, path = "/iceberg/v1/{prefix}/namespaces/{ns}/tables/{table}", tag = "iceberg", operation_id = "iceberg_load", params(("prefix" = String, Path, description = "The warehouse: a branch or tag, `/` as `~`"), ("ns" = String, Path, description = "The namespace, its parts joined by %1F"), ("table" = String, Path)),
    responses((status = 200, description = "`metadata-location`, `metadata` (the caller's own) and `config` (the S3 gateway and a key for this table's files)", body = Object),
        (status = 404, description = "NoSuchTableException, NoSuchNamespaceException", body = Object),
        (status = 503, description = "The S3 gateway is off", body = Object)))]
async fn load(
    State(state): State<AppState>,
    Path((prefix, ns, table)): Path<(String, String, String)>,
    Caller(who): Caller,
) -> IcebergResult<Json<Value>> {
    let w = warehouse(&prefix)?;
    let (loaded, config) = iceberg::load(&state, &who, &parts(&ns), &table, &w).await?;
    Ok(Json(json!({
        "metadata-location": loaded.metadata_location,
        "metadata": loaded.metadata,
        "config": config,
    })))
}

#[utoipa::path(head, path = "/iceberg/v1/{prefix}/namespaces/{ns}/tables/{table}", tag = "iceberg", operation_id = "iceberg_table_exists", params(("prefix" = String, Path, description = "The warehouse: a branch or tag, `/` as `~`"), ("ns" = String, Path, description = "The namespace, its parts joined by %1F"), ("table" = String, Path)),
    responses((status = 204, description = "It exists"), (status = 404, description = "It does not, for you")))]
async fn table_exists(
    State(state): State<AppState>,
    Path((prefix, ns, table)): Path<(String, String, String)>,
    Caller(who): Caller,
) -> IcebergResult<StatusCode> {
    let w = warehouse(&prefix)?;
    iceberg::exists(&state, &who, &parts(&ns), &table, &w).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/iceberg/v1/{prefix}/namespaces/{ns}/tables/{table}", tag = "iceberg", operation_id = "iceberg_commit", params(("prefix" = String, Path, description = "The warehouse: a branch or tag, `/` as `~`"), ("ns" = String, Path, description = "The namespace, its parts joined by %1F"), ("table" = String, Path)),
    request_body(content = Object, description = "The spec's CommitTableRequest: requirements, and updates adding a snapshot whose files were staged and setting `main` to it"),
    responses((status = 200, description = "`metadata-location` and `metadata` after the commit", body = Object),
        (status = 400, description = "A malformed commit, or one of what is not taken (deletes, schema changes)", body = Object),
        (status = 401, description = "No token", body = Object),
        (status = 403, description = "A reader; a tag's warehouse; an overwrite through a governed view", body = Object),
        (status = 404, description = "NoSuchTableException, NoSuchNamespaceException", body = Object),
        (status = 409, description = "CommitFailedException: a stale requirement", body = Object),
        (status = 422, description = "ValidationException: the contract or a governed write refuses it", body = Object)))]
async fn commit(
    State(state): State<AppState>,
    Path((prefix, ns, table)): Path<(String, String, String)>,
    Caller(who): Caller,
    body: axum::body::Bytes,
) -> IcebergResult<Json<Value>> {
    let w = warehouse(&prefix)?;
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        strata_core::error::Error::bad_request(format!("the commit is not JSON: {e}"))
    })?;
    let loaded = iceberg::commit(&state, &who, &parts(&ns), &table, &w, &body).await?;
    Ok(Json(json!({
        "metadata-location": loaded.metadata_location,
        "metadata": loaded.metadata,
    })))
}
