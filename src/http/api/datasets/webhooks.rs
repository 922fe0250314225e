//! `…/webhooks`: a dataset's webhooks (its admins'): create one (its secret shown once), list,
//! read with its delivery log, pause and resume, rotate the secret, delete, redeliver. The same
//! handlers serve a namespace's webhooks (`crate::http::api::namespace_webhooks`): the path says
//! whose.

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
use strata_core::delivery::webhooks::{self, Delivery, Input, Target, Webhook};

/// The path of a webhook route: a dataset's (`ns`, `name`) or a namespace's (`ns`), and the
/// webhook and delivery it names.
#[derive(Deserialize)]
pub struct HookPath {
    ns: String,
    name: Option<String>,
    id: Option<String>,
    delivery: Option<String>,
}

impl HookPath {
    fn target(&self) -> Target<'_> {
        match &self.name {
            Some(name) => Target::Dataset { ns: &self.ns, name },
            None => Target::Namespace(&self.ns),
        }
    }

    fn id(&self) -> ApiResult<i64> {
        parse("webhook", self.id.as_deref().unwrap_or_default())
    }
}

/// A webhook's path parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct WebhookPath {
    ns: String,
    name: String,
    /// The webhook's id.
    id: i64,
}

/// A delivery's path parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct DeliveryPath {
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
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct WebhookBody {
    /// `https` (plain `http` and private addresses only where the admin allows them).
    url: String,
    /// Event kinds (empty: all): `branch.created`, `branch.updated`, `branch.deleted`,
    /// `tag.created`, `tag.updated`, `tag.deleted`, `merge_request.opened`,
    /// `merge_request.merged`, `merge_request.closed`, `merge_request.reopened`,
    /// `share.granted`, `share.revoked`, `share_link.created`, `policy.changed`,
    /// `contract.failed`.
    #[serde(default)]
    events: Vec<String>,
    /// Globs on the branch (`branch.*` events; empty: all).
    #[serde(default)]
    branches: Vec<String>,
    /// Globs on the tag (`tag.*` events; empty: all).
    #[serde(default)]
    tags: Vec<String>,
    /// Globs on the changed paths (empty: all).
    #[serde(default)]
    paths: Vec<String>,
    /// What a delivery carries: `strata` (the event; default) or `openlineage` (an OpenLineage
    /// RunEvent of each `run.*` event: START, COMPLETE or FAIL, with the run's input and output
    /// datasets at their revisions).
    #[serde(default)]
    format: Option<String>,
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
    Path(p): Path<HookPath>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<WithSecret>)> {
    let input: Input = read_json(&headers, body, state.settings.max_json_body).await?;
    let (webhook, secret) = webhooks::create(&state, &who, p.target(), &input).await?;
    Ok((StatusCode::CREATED, Json(WithSecret { webhook, secret })))
}

/// Lists a dataset's webhooks (dataset admins).
#[utoipa::path(get, operation_id = "list_webhooks", path = "/api/v1/datasets/{ns}/{name}/webhooks", tag = "webhooks",
    params(DatasetPath),
    responses((status = 200, description = "The webhooks, without their secrets", body = WebhookList),
        (status = 404, description = "No such dataset", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Path(p): Path<HookPath>,
    who: Principal,
) -> ApiResult<Json<WebhookList>> {
    let webhooks = webhooks::list_all(&state, &who, p.target()).await?;
    Ok(Json(WebhookList { webhooks }))
}

/// One webhook and its delivery log (the latest 100).
#[utoipa::path(get, operation_id = "read_webhook", path = "/api/v1/datasets/{ns}/{name}/webhooks/{id}", tag = "webhooks",
    params(WebhookPath),
    responses((status = 200, description = "The webhook and its deliveries", body = WebhookLog),
        (status = 404, description = "No such dataset or webhook", body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    Path(p): Path<HookPath>,
    who: Principal,
) -> ApiResult<Json<WebhookLog>> {
    let id = p.id()?;
    let (webhook, deliveries) = webhooks::get(&state, &who, p.target(), id).await?;
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
    Path(p): Path<HookPath>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let id = p.id()?;
    webhooks::delete(&state, &who, p.target(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a webhook a new secret; the previous one signs deliveries too for a day.
#[utoipa::path(post, operation_id = "rotate_webhook_secret", path = "/api/v1/datasets/{ns}/{name}/webhooks/{id}/rotate", tag = "webhooks",
    params(WebhookPath),
    responses((status = 200, description = "The webhook and its new secret, shown this once", body = WithSecret),
        (status = 404, description = "No such dataset or webhook", body = ErrorBody)))]
pub async fn rotate(
    State(state): State<AppState>,
    Path(p): Path<HookPath>,
    who: Principal,
) -> ApiResult<Json<WithSecret>> {
    let id = p.id()?;
    let (webhook, secret) = webhooks::rotate(&state, &who, p.target(), id).await?;
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
    Path(p): Path<HookPath>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Webhook>> {
    let id = p.id()?;
    let req: ActiveBody = read_json(&headers, body, state.settings.max_json_body).await?;
    let w = webhooks::set_active(&state, &who, p.target(), id, req.active).await?;
    Ok(Json(w))
}

/// Sends a delivery again, now (its attempts go on counting).
#[utoipa::path(post, operation_id = "redeliver_webhook", path = "/api/v1/datasets/{ns}/{name}/webhooks/{id}/deliveries/{delivery}/redeliver", tag = "webhooks",
    params(DeliveryPath),
    responses((status = 202, description = "Queued"),
        (status = 404, description = "No such dataset, webhook or delivery", body = ErrorBody)))]
pub async fn redeliver(
    State(state): State<AppState>,
    Path(p): Path<HookPath>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let id = p.id()?;
    let delivery = parse("delivery", p.delivery.as_deref().unwrap_or_default())?;
    webhooks::redeliver(&state, &who, p.target(), id, delivery).await?;
    Ok(StatusCode::ACCEPTED)
}
