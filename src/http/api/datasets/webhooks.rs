//! `…/webhooks`: a dataset's webhooks (its admins'): create one (its secret shown once), list,
//! read with its delivery log, pause and resume, rotate the secret, delete, redeliver.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{DatasetPath, ErrorBody};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::events::webhooks::{self, Delivery, Input, Webhook};

/// A webhook's path parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct WebhookPath {
    ns: String,
    name: String,
    /// The webhook's id.
    id: i64,
}

/// A delivery's path parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct DeliveryPath {
    ns: String,
    name: String,
    id: i64,
    /// The delivery's id.
    delivery: i64,
}

fn parse(what: &str, id: &str) -> ApiResult<i64> {
    id.parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::not_found(format!("there is no {what} {id:?}")))
}

/// A webhook's fields (as created).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
struct WebhookBody {
    /// `https` (plain `http` and private addresses only where the admin allows them).
    url: String,
    /// Event kinds (empty: all): `branch.created`, `branch.updated`, `branch.deleted`,
    /// `tag.created`, `tag.updated`, `tag.deleted`.
    events: Vec<String>,
    /// Globs on the branch (`branch.*` events).
    branches: Vec<String>,
    /// Globs on the tag (`tag.*` events).
    tags: Vec<String>,
    /// Globs on the changed paths.
    paths: Vec<String>,
}

/// A webhook and its secret (shown only when created or rotated).
#[derive(Serialize, ToSchema)]
pub struct WithSecret {
    #[schema(value_type = Object)]
    webhook: Webhook,
    /// `whsec_…`: the Standard Webhooks signing secret.
    secret: String,
}

/// The dataset's webhooks.
#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    #[schema(value_type = Vec<Object>)]
    webhooks: Vec<Webhook>,
}

/// A webhook and its latest deliveries, newest first.
#[derive(Serialize, ToSchema)]
pub struct WebhookLog {
    #[schema(value_type = Object)]
    webhook: Webhook,
    #[schema(value_type = Vec<Object>)]
    deliveries: Vec<Delivery>,
}

/// Creates a webhook (dataset admins, signed in or with a personal access token).
#[utoipa::path(post, operation_id = "create_webhook", path = "/api/v1/datasets/{ns}/{name}/webhooks", tag = "webhooks",
    params(DatasetPath), request_body = WebhookBody,
    responses((status = 201, description = "Created: the webhook and its secret, shown this once", body = WithSecret),
        (status = 403, description = "Not an admin of the dataset, or not an account", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody),
        (status = 422, description = "A URL that is not https or reaches a private address, an unknown event kind, a bad glob, or too many webhooks", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<WithSecret>)> {
    let input: Input = read_json(&headers, body, state.settings.max_json_body).await?;
    let (webhook, secret) = webhooks::create(&state, &who, &ns, &name, &input).await?;
    Ok((StatusCode::CREATED, Json(WithSecret { webhook, secret })))
}

/// Lists a dataset's webhooks (dataset admins).
#[utoipa::path(get, operation_id = "list_webhooks", path = "/api/v1/datasets/{ns}/{name}/webhooks", tag = "webhooks",
    params(DatasetPath),
    responses((status = 200, description = "The webhooks, without their secrets", body = WebhookList),
        (status = 404, description = "No such dataset", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<WebhookList>> {
    let webhooks = webhooks::list_all(&state, &who, &ns, &name).await?;
    Ok(Json(WebhookList { webhooks }))
}

/// One webhook and its delivery log (the latest 100).
#[utoipa::path(get, operation_id = "read_webhook", path = "/api/v1/datasets/{ns}/{name}/webhooks/{id}", tag = "webhooks",
    params(WebhookPath),
    responses((status = 200, description = "The webhook and its deliveries", body = WebhookLog),
        (status = 404, description = "No such dataset or webhook", body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    Path((ns, name, id)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<WebhookLog>> {
    let id = parse("webhook", &id)?;
    let (webhook, deliveries) = webhooks::get(&state, &who, &ns, &name, id).await?;
    Ok(Json(WebhookLog {
        webhook,
        deliveries,
    }))
}

/// Deletes a webhook and its delivery log.
#[utoipa::path(delete, operation_id = "delete_webhook", path = "/api/v1/datasets/{ns}/{name}/webhooks/{id}", tag = "webhooks",
    params(WebhookPath),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such dataset or webhook", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path((ns, name, id)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let id = parse("webhook", &id)?;
    webhooks::delete(&state, &who, &ns, &name, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a webhook a new secret; the previous one signs deliveries too for a day.
#[utoipa::path(post, operation_id = "rotate_webhook_secret", path = "/api/v1/datasets/{ns}/{name}/webhooks/{id}/rotate", tag = "webhooks",
    params(WebhookPath),
    responses((status = 200, description = "The webhook and its new secret, shown this once", body = WithSecret),
        (status = 404, description = "No such dataset or webhook", body = ErrorBody)))]
pub async fn rotate(
    State(state): State<AppState>,
    Path((ns, name, id)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<WithSecret>> {
    let id = parse("webhook", &id)?;
    let (webhook, secret) = webhooks::rotate(&state, &who, &ns, &name, id).await?;
    Ok(Json(WithSecret { webhook, secret }))
}

/// Whether a webhook delivers.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActiveBody {
    /// `false` pauses it; `true` resumes it (its run of failures forgotten).
    active: bool,
}

/// Pauses or resumes a webhook.
#[utoipa::path(put, operation_id = "set_webhook_active", path = "/api/v1/datasets/{ns}/{name}/webhooks/{id}/active", tag = "webhooks",
    params(WebhookPath), request_body = ActiveBody,
    responses((status = 200, description = "The webhook", body = Object),
        (status = 404, description = "No such dataset or webhook", body = ErrorBody)))]
pub async fn set_active(
    State(state): State<AppState>,
    Path((ns, name, id)): Path<(String, String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Webhook>> {
    let id = parse("webhook", &id)?;
    let req: ActiveBody = read_json(&headers, body, state.settings.max_json_body).await?;
    let w = webhooks::set_active(&state, &who, &ns, &name, id, req.active).await?;
    Ok(Json(w))
}

/// Sends a delivery again, now (its attempts go on counting).
#[utoipa::path(post, operation_id = "redeliver_webhook", path = "/api/v1/datasets/{ns}/{name}/webhooks/{id}/deliveries/{delivery}/redeliver", tag = "webhooks",
    params(DeliveryPath),
    responses((status = 202, description = "Queued"),
        (status = 404, description = "No such dataset, webhook or delivery", body = ErrorBody)))]
pub async fn redeliver(
    State(state): State<AppState>,
    Path((ns, name, id, delivery)): Path<(String, String, String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let id = parse("webhook", &id)?;
    let delivery = parse("delivery", &delivery)?;
    webhooks::redeliver(&state, &who, &ns, &name, id, delivery).await?;
    Ok(StatusCode::ACCEPTED)
}
