//! `GET /api/v1/events`: the event stream, as server-sent events (`id` its place in the stream,
//! `event` the kind, `data` the payload webhooks receive), resumed after `Last-Event-ID`. Also
//! the payload's schema ([`EventPayload`]) and the OpenAPI document's `webhooks`: one entry per
//! event kind, as strata POSTs it to a subscriber ([`with_webhooks`]).

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::api::ErrorBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::delivery::stream;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(follow))
}

/// An event: the body of a webhook delivery and the `data` of a stream event.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct EventPayload {
    /// The kind: `branch.created`, `branch.updated`, `branch.deleted`, `tag.created`,
    /// `tag.updated`, `tag.deleted`, `merge_request.opened`, `merge_request.merged`,
    /// `merge_request.closed`, `merge_request.reopened`, `share.granted`, `share.revoked`,
    /// `share_link.created`, `policy.changed`, `contract.failed`.
    #[serde(rename = "type")]
    kind: String,
    /// When it happened (RFC 3339).
    timestamp: String,
    /// The `webhook-id` of a delivery (`msg_…`, the same on each attempt), the place in the
    /// stream for the stream.
    id: String,
    data: EventData,
}

/// What happened. `dataset` and `actor` always; the rest by kind (absent when not the kind's).
/// Names and places only: never a table's values, a link's secret or a rule's offending row.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct EventData {
    /// `namespace/name`.
    dataset: String,
    /// Who made the change (a username), when known.
    actor: Option<String>,
    /// `branch.*`, `policy.changed`, `contract.failed`: the branch.
    branch: Option<String>,
    /// `tag.*`: the tag.
    tag: Option<String>,
    /// `branch.*`, `tag.*`: the revision before (none when created) and after (none when
    /// deleted).
    before: Option<String>,
    after: Option<String>,
    /// `branch.updated`: the files the move changed (a renamed file's old and new path).
    paths: Option<Vec<String>>,
    /// `branch.updated`: the datapackage's changes: `resources` (`name`, `change`, `fields`)
    /// and `metadata` (the package's own fields).
    #[schema(value_type = Option<Object>)]
    datapackage: Option<serde_json::Value>,
    /// `merge_request.*`: its number, title, branches and author.
    number: Option<i64>,
    title: Option<String>,
    source: Option<String>,
    target: Option<String>,
    author: Option<String>,
    /// `merge_request.merged`: the merge; `policy.changed`: the new head; `contract.failed`:
    /// the refused revision.
    revision: Option<String>,
    /// `share.*`: the share's id, path (`""`: the whole dataset), grantee (a username or
    /// `org/team`), `grantee_kind` (`user`, `team`), access and expiry (unix seconds).
    share: Option<i64>,
    path: Option<String>,
    grantee: Option<String>,
    grantee_kind: Option<String>,
    access: Option<String>,
    expires_at: Option<i64>,
    /// `share_link.created`: the link's id and whether it has a password (never its secret).
    link: Option<i64>,
    password: Option<bool>,
    /// `policy.changed`: the `.rego` files changed.
    files: Option<Vec<String>>,
    /// `contract.failed`: each rule broken: `resource`, `column`, `rule`, `count`.
    #[schema(value_type = Option<Vec<Object>>)]
    violations: Option<Vec<serde_json::Value>>,
}

/// `openapi` with a `webhooks` entry per event kind: the POST strata sends a subscriber, signed
/// the Standard Webhooks way.
pub fn with_webhooks(mut openapi: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::{ContentBuilder, Ref, Required, Response};
    let mut paths = PathsBuilder::new();
    for kind in strata_core::events::KINDS {
        let body = RequestBodyBuilder::new()
            .required(Some(Required::True))
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("EventPayload")))
                    .build(),
            )
            .build();
        let op = OperationBuilder::new()
            .summary(Some(format!("{kind}: delivered to a webhook")))
            .description(Some(
                "POSTed to each matching webhook with the headers webhook-id, \
                 webhook-timestamp and webhook-signature (v1, HMAC-SHA256 of \
                 `{id}.{timestamp}.{body}`); a 2xx answer within 10 s delivers it, anything \
                 else is retried for a day.",
            ))
            .tag("events")
            .request_body(Some(body))
            .response("200", Response::new("Delivered (any 2xx)"));
        paths = paths.path(*kind, PathItem::new(HttpMethod::Post, op));
    }
    openapi.webhooks = Some(paths.build());
    openapi
}

/// One server-sent event of `/api/v1/events` (documentation: the fields of the stream's text).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct StreamedEvent {
    /// The place in the stream: send it back as `Last-Event-ID` to resume after it.
    id: String,
    /// The kind (`branch.created`, …).
    event: String,
    /// The payload, an [`EventPayload`] as JSON text.
    data: String,
}

/// The events of the datasets the caller may read, from the place after `Last-Event-ID` (the
/// start without it), then each new one as it happens. Server-sent events; a comment every 15 s
/// keeps the connection open.
#[utoipa::path(get, operation_id = "follow_events", path = "/api/v1/events", tag = "events",
    params(("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event")),
    responses(
        (status = 200, description = "A stream of events (text/event-stream): `id` the place in the stream, `event` the kind, `data` the payload", content_type = "text/event-stream", body = StreamedEvent),
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
