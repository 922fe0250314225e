//! Default apps over REST: a site admin names them (`PUT /api/v1/apps/{app}/default`), each
//! account sees what it is offered (`GET /api/v1/user/app-offers`, with the scopes installing
//! consents to) and installs (`PUT /api/v1/user/apps/{app}`) or declines one
//! (`POST /api/v1/user/app-offers/{app}/decline`). The rules are in `strata_core::apps::offers`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::apps::AppView;
use super::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::apps::offers;
use strata_core::auth::{Need, Principal};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_default))
        .routes(routes!(my_offers))
        .routes(routes!(decline))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultBody {
    /// Whether every account is offered the app.
    default: bool,
}

/// Names an app of the catalog a default app (offered to every account once), or no longer.
/// Site admins only.
#[utoipa::path(put, path = "/api/v1/apps/{app}/default", tag = "apps", operation_id = "set_default_app", params(("app" = String, Path)),
    request_body = DefaultBody,
    responses((status = 204, description = "Done"),
        (status = 403, description = "Not a site admin", body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody)))]
pub async fn set_default(
    State(state): State<AppState>,
    Path(app): Path<String>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let user = state.require(&who, Need::Account).await?.clone();
    let b: DefaultBody = read_json(&headers, body, 4096).await?;
    offers::set_default(&state, &user, &app, b.default).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The default apps offered to the caller: not installed, not declined, and installable by
/// their role; each with the scopes installing it consents to.
#[utoipa::path(get, path = "/api/v1/user/app-offers", tag = "apps", operation_id = "app_offers",
    responses((status = 200, description = "OK", body = Vec<AppView>),
        (status = 401, description = "Not signed in", body = ErrorBody)))]
pub async fn my_offers(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<Vec<AppView>>> {
    let user = state.require(&who, Need::Account).await?.clone();
    let offered = offers::offers(&state, &user).await?;
    Ok(Json(
        offered
            .iter()
            .map(|e| AppView::new(&e.manifest, e.from_dir))
            .collect(),
    ))
}

/// Declines an offered app: it is not offered again (it can still be installed).
#[utoipa::path(post, path = "/api/v1/user/app-offers/{app}/decline", tag = "apps", operation_id = "decline_app_offer", params(("app" = String, Path)),
    responses((status = 204, description = "Declined"),
        (status = 404, description = "Not offered to you", body = ErrorBody)))]
pub async fn decline(
    State(state): State<AppState>,
    Path(app): Path<String>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let user = state.require(&who, Need::Account).await?.clone();
    offers::decline(&state, &user, &app).await?;
    Ok(StatusCode::NO_CONTENT)
}
