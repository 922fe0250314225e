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
//!
//! A namespace of several parts comes as one path segment, its parts joined by the unit
//! separator (`%1F`). Callers authenticate as everywhere (a Bearer token; `Bearer None`, which
//! PyIceberg sends without one, is anonymous). Errors are the spec's
//! (`{"error": {"message", "type", "code"}}`), with strata's request id.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header::AUTHORIZATION, request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::error::ApiError;
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::compat::iceberg::{self, Warehouse};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/iceberg/v1/config", get(config))
        .route("/iceberg/v1/oauth/tokens", post(tokens))
        .route("/iceberg/v1/{prefix}/namespaces", get(namespaces))
        .route(
            "/iceberg/v1/{prefix}/namespaces/{ns}",
            get(namespace).head(namespace_exists),
        )
        .route("/iceberg/v1/{prefix}/namespaces/{ns}/tables", get(tables))
        .route(
            "/iceberg/v1/{prefix}/namespaces/{ns}/tables/{table}",
            get(load).head(table_exists),
        )
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

async fn namespace_exists(
    state: State<AppState>,
    path: Path<(String, String)>,
    who: Caller,
) -> IcebergResult<StatusCode> {
    let _ = namespace(state, path, who).await?;
    Ok(StatusCode::NO_CONTENT)
}

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

async fn table_exists(
    State(state): State<AppState>,
    Path((prefix, ns, table)): Path<(String, String, String)>,
    Caller(who): Caller,
) -> IcebergResult<StatusCode> {
    let w = warehouse(&prefix)?;
    iceberg::exists(&state, &who, &parts(&ns), &table, &w).await?;
    Ok(StatusCode::NO_CONTENT)
}
