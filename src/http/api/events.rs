//! `GET /api/v1/events`: the event stream, as server-sent events (`id` its place in the stream,
//! `event` the kind, `data` the payload webhooks receive), resumed after `Last-Event-ID`.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::api::ErrorBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::events::stream;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(follow))
}

/// The events of the datasets the caller may read, from the place after `Last-Event-ID` (the
/// start without it), then each new one as it happens. Server-sent events; a comment every 15 s
/// keeps the connection open.
#[utoipa::path(get, operation_id = "follow_events", path = "/api/v1/events", tag = "events",
    params(("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event")),
    responses(
        (status = 200, description = "A stream of events (text/event-stream)", content_type = "text/event-stream", body = String),
        (status = 400, description = "A Last-Event-ID that is no place in the stream", body = ErrorBody),
        (status = 401, description = "Authentication required", body = ErrorBody),
    ))]
pub async fn follow(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let after = match headers.get("last-event-id") {
        None => 0,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be a number"))?,
    };
    let events = stream::follow(state.core.clone(), who, after)?;
    let events = events.map(|e| {
        Ok(Event::default()
            .id(e.seq.to_string())
            .event(e.kind)
            .data(e.data))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15))))
}
