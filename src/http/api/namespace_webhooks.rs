//! `/api/v1/namespaces/{ns}/webhooks…`: the webhooks of a namespace, delivered the events of
//! every dataset of a user (managed by that user) or an organisation (by its owners). The same
//! handlers as a dataset's webhooks (`crate::http::api::datasets::webhooks`); these give the
//! routes their place in the OpenAPI document.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::datasets::webhooks::{
    self as hooks, ActiveBody, HookPath, WebhookBody, WebhookList, WebhookLog, WithSecret,
};
use super::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::delivery::webhooks::Webhook;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(read, delete))
        .routes(routes!(rotate))
        .routes(routes!(set_active))
        .routes(routes!(redeliver))
}

/// A namespace's path parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct NsPath {
    /// A user's or an organisation's name.
    ns: String,
}

/// A namespace webhook's path parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct NsHookPath {
    ns: String,
    /// The webhook's id.
    id: i64,
}

/// A namespace webhook delivery's path parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct NsDeliveryPath {
    ns: String,
    id: i64,
    /// The delivery's id.
    delivery: i64,
}

/// Creates a webhook of every dataset of a namespace (the user themselves, or an owner of the
/// organisation).
#[utoipa::path(post, operation_id = "create_namespace_webhook", path = "/api/v1/namespaces/{ns}/webhooks", tag = "webhooks",
    params(NsPath), request_body = WebhookBody,
    responses((status = 201, description = "Created: the webhook and its secret, shown this once", body = WithSecret),
        (status = 403, description = "Not that user, nor an owner of that organisation", body = ErrorBody),
        (status = 404, description = "No such user or organisation", body = ErrorBody),
        (status = 422, description = "A URL that is not https or reaches a private address, an unknown event kind, a bad glob, or too many webhooks", body = ErrorBody)))]
pub async fn create(
    state: State<AppState>,
    p: Path<HookPath>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<WithSecret>)> {
    hooks::create(state, p, who, headers, body).await
}

/// Lists a namespace's webhooks.
#[utoipa::path(get, operation_id = "list_namespace_webhooks", path = "/api/v1/namespaces/{ns}/webhooks", tag = "webhooks",
    params(NsPath),
    responses((status = 200, description = "The webhooks, without their secrets", body = WebhookList),
        (status = 403, description = "Not that user, nor an owner of that organisation", body = ErrorBody),
        (status = 404, description = "No such user or organisation", body = ErrorBody)))]
pub async fn list(
    state: State<AppState>,
    p: Path<HookPath>,
    who: Principal,
) -> ApiResult<Json<WebhookList>> {
    hooks::list(state, p, who).await
}

/// One namespace webhook and its delivery log (the latest 100).
#[utoipa::path(get, operation_id = "read_namespace_webhook", path = "/api/v1/namespaces/{ns}/webhooks/{id}", tag = "webhooks",
    params(NsHookPath),
    responses((status = 200, description = "The webhook and its deliveries", body = WebhookLog),
        (status = 404, description = "No such webhook", body = ErrorBody)))]
pub async fn read(
    state: State<AppState>,
    p: Path<HookPath>,
    who: Principal,
) -> ApiResult<Json<WebhookLog>> {
    hooks::read(state, p, who).await
}

/// Deletes a namespace webhook and its delivery log.
#[utoipa::path(delete, operation_id = "delete_namespace_webhook", path = "/api/v1/namespaces/{ns}/webhooks/{id}", tag = "webhooks",
    params(NsHookPath),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such webhook", body = ErrorBody)))]
pub async fn delete(
    state: State<AppState>,
    p: Path<HookPath>,
    who: Principal,
) -> ApiResult<StatusCode> {
    hooks::delete(state, p, who).await
}

/// Gives a namespace webhook a new secret; the previous one signs too for a day.
#[utoipa::path(post, operation_id = "rotate_namespace_webhook_secret", path = "/api/v1/namespaces/{ns}/webhooks/{id}/rotate", tag = "webhooks",
    params(NsHookPath),
    responses((status = 200, description = "The webhook and its new secret, shown this once", body = WithSecret),
        (status = 404, description = "No such webhook", body = ErrorBody)))]
pub async fn rotate(
    state: State<AppState>,
    p: Path<HookPath>,
    who: Principal,
) -> ApiResult<Json<WithSecret>> {
    hooks::rotate(state, p, who).await
}

/// Pauses or resumes a namespace webhook.
#[utoipa::path(put, operation_id = "set_namespace_webhook_active", path = "/api/v1/namespaces/{ns}/webhooks/{id}/active", tag = "webhooks",
    params(NsHookPath), request_body = ActiveBody,
    responses((status = 200, description = "The webhook", body = Object),
        (status = 404, description = "No such webhook", body = ErrorBody)))]
pub async fn set_active(
    state: State<AppState>,
    p: Path<HookPath>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Webhook>> {
    hooks::set_active(state, p, who, headers, body).await
}

/// Sends a namespace webhook's delivery again, now.
#[utoipa::path(post, operation_id = "redeliver_namespace_webhook", path = "/api/v1/namespaces/{ns}/webhooks/{id}/deliveries/{delivery}/redeliver", tag = "webhooks",
    params(NsDeliveryPath),
    responses((status = 202, description = "Queued"),
        (status = 404, description = "No such webhook or delivery", body = ErrorBody)))]
pub async fn redeliver(
    state: State<AppState>,
    p: Path<HookPath>,
    who: Principal,
) -> ApiResult<StatusCode> {
    hooks::redeliver(state, p, who).await
}
