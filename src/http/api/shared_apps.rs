//! Shared app instances over REST: an organisation's owner publishes one for its members or for
//! everyone (`PUT /api/v1/orgs/{org}/apps/{app}`, `{"public": false}`), lists and ends them;
//! each account lists the shared instances it may use (`GET /api/v1/user/shared-apps`). The rules
//! are in `strata_core::apps::shared`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::apps::shared;
use strata_core::auth::{Need, Principal};
use strata_core::db::SharedAppRow;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(publish, unpublish))
        .routes(routes!(of_org))
        .routes(routes!(mine))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    /// Anyone may use it, signed in or not; otherwise the organisation's members only.
    #[serde(default)]
    public: bool,
}

/// A shared instance.
#[derive(Serialize, ToSchema)]
pub struct SharedAppView {
    app: String,
    org: String,
    public: bool,
    /// Whose consent (their install of the app) it acts with.
    published_by: String,
    /// Where it is served: the app's own host.
    url: Option<String>,
    created_at: i64,
}

impl SharedAppView {
    fn new(state: &AppState, row: SharedAppRow) -> Self {
        SharedAppView {
            url: state
                .apps
                .shared_origin(&row.app_id)
                .map(|o| format!("{o}/")),
            public: row.is_public(),
            app: row.app_id,
            org: row.org,
            published_by: row.published_by,
            created_at: row.created_at,
        }
    }
}

/// Publishes the caller's install of `app` as `org`'s shared instance, at the app's own host
/// (publishing again changes who may use it). The organisation's owners (or a site admin) who
/// installed the app; one shared instance per app.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/apps/{app}", tag = "apps", operation_id = "publish_shared_app",
    params(("org" = String, Path), ("app" = String, Path)), request_body = PublishBody,
    responses((status = 200, description = "Published", body = SharedAppView),
        (status = 403, description = "Not an owner of the organisation", body = ErrorBody),
        (status = 404, description = "No such organisation or app", body = ErrorBody),
        (status = 409, description = "Not installed by the caller, published by another organisation, or no --apps-origin", body = ErrorBody),
        (status = 422, description = "An app id that cannot be a host", body = ErrorBody)))]
pub async fn publish(
    State(state): State<AppState>,
    Path((org, app)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<SharedAppView>> {
    let user = state.require(&who, Need::Account).await?.clone();
    let b: PublishBody = read_json(&headers, body, 4096).await?;
    let row = shared::publish(&state, &user, &org, &app, b.public).await?;
    Ok(Json(SharedAppView::new(&state, row)))
}

/// Ends `org`'s shared instance of `app`: it stops, and what it kept is removed.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/apps/{app}", tag = "apps", operation_id = "unpublish_shared_app",
    params(("org" = String, Path), ("app" = String, Path)),
    responses((status = 204, description = "Ended"),
        (status = 403, description = "Not an owner of the organisation", body = ErrorBody),
        (status = 404, description = "No such shared instance", body = ErrorBody)))]
pub async fn unpublish(
    State(state): State<AppState>,
    Path((org, app)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let user = state.require(&who, Need::Account).await?.clone();
    shared::unpublish(&state, &user, &org, &app).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `org`'s shared instances, for its members.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps", tag = "apps", operation_id = "org_shared_apps",
    params(("org" = String, Path)),
    responses((status = 200, description = "OK", body = Vec<SharedAppView>),
        (status = 404, description = "No such organisation, or not a member", body = ErrorBody)))]
pub async fn of_org(
    State(state): State<AppState>,
    Path(org): Path<String>,
    who: Principal,
) -> ApiResult<Json<Vec<SharedAppView>>> {
    let user = state.require(&who, Need::Account).await?.clone();
    let rows = shared::of_org(&state, &user, &org).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| SharedAppView::new(&state, r))
            .collect(),
    ))
}

/// The shared instances the caller may use: their organisations' and the public ones.
#[utoipa::path(get, path = "/api/v1/user/shared-apps", tag = "apps", operation_id = "my_shared_apps",
    responses((status = 200, description = "OK", body = Vec<SharedAppView>),
        (status = 401, description = "Not signed in", body = ErrorBody)))]
pub async fn mine(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<Vec<SharedAppView>>> {
    let user = state.require(&who, Need::Account).await?.clone();
    let rows = shared::for_user(&state, &user).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| SharedAppView::new(&state, r))
            .collect(),
    ))
}
