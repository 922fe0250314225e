//! `/api/v1/notifications`: what the caller was told (a share, a merge request waiting for
//! them, a failed contract, a paused webhook), newest first, and marking it read.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::api::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::delivery::notify::{self, Notification};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(mark_read))
}

/// Which notifications.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only the unread ones.
    #[serde(default)]
    unread: bool,
    /// Older than this notification (the `next_before` of the previous page).
    before: Option<i64>,
    /// At most this many (1 to 200; 50 unless given).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// A page of notifications.
#[derive(Serialize, ToSchema)]
pub struct NotificationPage {
    #[schema(value_type = Vec<Object>)]
    notifications: Vec<Notification>,
    /// How many are unread in all.
    unread: i64,
    /// The `before` of the next page, when there may be one.
    next_before: Option<i64>,
}

/// The caller's notifications, newest first.
#[utoipa::path(get, operation_id = "list_notifications", path = "/api/v1/notifications", tag = "events",
    params(ListQuery),
    responses((status = 200, description = "A page of notifications", body = NotificationPage),
        (status = 401, description = "Authentication required", body = ErrorBody),
        (status = 403, description = "A token narrowed below the account", body = ErrorBody),
        (status = 422, description = "A limit out of bounds", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<NotificationPage>> {
    let limit = q.limit.unwrap_or(50);
    let (notifications, unread) = notify::list(&state, &who, q.unread, q.before, limit).await?;
    let next_before = (notifications.len() as i64 == limit)
        .then(|| notifications.last().map(|n| n.id))
        .flatten();
    Ok(Json(NotificationPage {
        notifications,
        unread,
        next_before,
    }))
}

/// Which notifications to mark read.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    /// These (at most 200); all of them when left out.
    ids: Option<Vec<i64>>,
}

/// How many were marked read.
#[derive(Serialize, ToSchema)]
pub struct Marked {
    marked: u64,
}

/// Marks notifications read.
#[utoipa::path(post, operation_id = "mark_notifications_read", path = "/api/v1/notifications/read", tag = "events",
    request_body = ReadBody,
    responses((status = 200, description = "How many were unread", body = Marked),
        (status = 401, description = "Authentication required", body = ErrorBody),
        (status = 422, description = "Too many ids", body = ErrorBody)))]
pub async fn mark_read(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Marked>> {
    let req: ReadBody = read_json(&headers, body, state.settings.max_json_body).await?;
    let marked = notify::mark_read(&state, &who, req.ids.as_deref()).await?;
    Ok(Json(Marked { marked }))
}
