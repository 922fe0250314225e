//! Gated datasets and access requests over HTTP, under `/api/v1/datasets/{ns}/{name}/access`:
//! the preview every visitor who sees the dataset reads (card, README, schemas, the form, their
//! own request), filing a request, and for its admins the gate's form, the queue, answers one by
//! one or in bulk, and grants. The rules are in `strata_core::sharing::access`.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::shares::parse_time;
use super::ErrorBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::gate;
use strata_core::sharing::access::requests::{self, Answer, Request};
use strata_core::sharing::access::{self, Gate, Mode, Preview, Question};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(preview))
        .routes(routes!(read_gate, set_gate))
        .routes(routes!(list_requests, file_request))
        .routes(routes!(answer_requests))
        .routes(routes!(grant_access))
}

/// A dataset's gate: its mode (null: not gated) and form.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GateBody {
    /// `manual`, `auto`, or null to ungate (the form is kept).
    #[schema(value_type = Option<String>)]
    mode: Option<Mode>,
    /// What the form says to visitors.
    #[serde(default)]
    message: String,
    /// The form's questions (absent: name, organisation and purpose, all required).
    #[schema(value_type = Option<Vec<Object>>)]
    questions: Option<Vec<Question>>,
    /// Organisations whose members are accepted at once.
    #[serde(default)]
    auto_orgs: Vec<String>,
    /// Days an accepted request grants access (null: until revoked).
    grant_days: Option<i64>,
    /// Days before a pending request is reminded to the admins (default 7).
    remind_days: Option<i64>,
    /// Days before a pending request expires unanswered (default 30).
    expire_days: Option<i64>,
}

impl From<Gate> for GateBody {
    fn from(g: Gate) -> GateBody {
        GateBody {
            mode: g.mode,
            message: g.message,
            questions: Some(g.questions),
            auto_orgs: g.auto_orgs,
            grant_days: g.grant_days,
            remind_days: Some(g.remind_days),
            expire_days: Some(g.expire_days),
        }
    }
}

/// A dataset's card, README and schemas, its form, and the caller's request.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/access", tag = "access",
    params(("ns" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "OK", body = Object),
        (status = 401, description = "Sign in to see it", body = ErrorBody),
        (status = 403, description = "Only some files of it are shared with you", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<Preview>> {
    Ok(Json(access::preview(&state, &who, &ns, &name).await?))
}

/// The dataset's gate (its admins only).
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/access/gate", tag = "access",
    params(("ns" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "OK", body = GateBody),
        (status = 403, description = "You do not administer it", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody)))]
pub async fn read_gate(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<GateBody>> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    Ok(Json(access::gate_of(&state, &repo).await?.into()))
}

/// Gates the dataset (or ungates it, `mode: null`), with its form and rules.
#[utoipa::path(put, path = "/api/v1/datasets/{ns}/{name}/access/gate", tag = "access",
    params(("ns" = String, Path), ("name" = String, Path)),
    request_body = GateBody,
    responses((status = 200, description = "Set", body = GateBody),
        (status = 403, description = "You do not administer it", body = ErrorBody),
        (status = 404, description = "No such dataset or organisation", body = ErrorBody),
        (status = 422, description = "Invalid form, or a private dataset", body = ErrorBody)))]
pub async fn set_gate(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<GateBody>> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    let b: GateBody = read_json(&headers, body, state.settings.max_json_body).await?;
    let default = Gate::default();
    let gate = Gate {
        mode: b.mode,
        message: b.message,
        questions: b.questions.unwrap_or(default.questions),
        auto_orgs: b.auto_orgs,
        grant_days: b.grant_days,
        remind_days: b.remind_days.unwrap_or(default.remind_days),
        expire_days: b.expire_days.unwrap_or(default.expire_days),
    };
    Ok(Json(
        access::set_gate(&state, &who, &repo, gate).await?.into(),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `pending`, `accepted`, `rejected` or `expired` (absent: all).
    status: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<i64>,
    /// 1 to 200 (default 50).
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct RequestPage {
    #[schema(value_type = Vec<Object>)]
    requests: Vec<Request>,
    next_cursor: Option<i64>,
}

/// The dataset's access requests, oldest first (its admins only).
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/access/requests", tag = "access",
    params(("ns" = String, Path), ("name" = String, Path), ListQuery),
    responses((status = 200, description = "OK", body = RequestPage),
        (status = 403, description = "You do not administer it", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody),
        (status = 422, description = "Unknown status or bad limit", body = ErrorBody)))]
pub async fn list_requests(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    who: Principal,
) -> ApiResult<Json<RequestPage>> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    let (requests, next_cursor) = requests::list(
        &state,
        &repo,
        q.status.as_deref(),
        q.cursor.unwrap_or(0),
        q.limit.unwrap_or(50),
    )
    .await?;
    Ok(Json(RequestPage {
        requests,
        next_cursor,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileRequest {
    /// The answers to the form's questions, by name.
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

/// Files the caller's request for access (signed in). Accepted at once when the gate says so.
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/access/requests", tag = "access",
    params(("ns" = String, Path), ("name" = String, Path)),
    request_body = FileRequest,
    responses((status = 201, description = "Filed (pending or accepted)", body = Object),
        (status = 401, description = "Sign in first", body = ErrorBody),
        (status = 403, description = "Declined before", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody),
        (status = 409, description = "Pending already, or you may read it", body = ErrorBody),
        (status = 422, description = "An answer missing or unknown", body = ErrorBody),
        (status = 429, description = "Too many requests this hour", body = ErrorBody)))]
pub async fn file_request(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Request>)> {
    let b: FileRequest = read_json(&headers, body, state.settings.max_json_body).await?;
    let filed = requests::file(&state, &who, &ns, &name, b.fields).await?;
    Ok((StatusCode::CREATED, Json(filed)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// The users whose requests are answered (1 to 200).
    users: Vec<String>,
    /// `accepted`, `rejected` or `pending` (reopened: an accepted one's access ends).
    status: String,
    /// Why it is declined (told to the user).
    reason: Option<String>,
    /// RFC 3339: when the access accepted ends (absent: the gate's `grant_days`).
    expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Answered {
    user: String,
    /// The request's status after the answer, or null when it failed.
    status: Option<String>,
    /// Why the answer did not apply to this user.
    error: Option<String>,
}

/// Answers requests in bulk (its admins only): each user's outcome, in order.
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/access/requests/answer", tag = "access",
    params(("ns" = String, Path), ("name" = String, Path)),
    request_body = AnswerBody,
    responses((status = 200, description = "Each user's outcome", body = Vec<Answered>),
        (status = 403, description = "You do not administer it", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody),
        (status = 422, description = "Bad status, time or list", body = ErrorBody)))]
pub async fn answer_requests(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Vec<Answered>>> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    let b: AnswerBody = read_json(&headers, body, state.settings.max_json_body).await?;
    if b.users.is_empty() || b.users.len() > requests::MAX_BATCH {
        return Err(ApiError::unprocessable(format!(
            "name 1 to {} users",
            requests::MAX_BATCH
        )));
    }
    let answer = parse_answer(&b.status, b.reason, b.expires_at.as_deref())?;
    let mut out = Vec::with_capacity(b.users.len());
    for user in b.users {
        let done = requests::answer(&state, &who, &repo, &user, &answer).await;
        out.push(match done {
            Ok(r) => Answered {
                user,
                status: Some(r.status),
                error: None,
            },
            Err(e) => Answered {
                user,
                status: None,
                error: Some(e.message),
            },
        });
    }
    Ok(Json(out))
}

/// An answer from its wire spelling.
pub fn parse_answer(
    status: &str,
    reason: Option<String>,
    expires_at: Option<&str>,
) -> ApiResult<Answer> {
    let expires_at = expires_at.map(parse_time).transpose()?;
    match status {
        "accepted" => Ok(Answer::Accept { expires_at }),
        "rejected" => Ok(Answer::Reject { reason }),
        "pending" => Ok(Answer::Reopen),
        other => Err(ApiError::unprocessable(format!(
            "unknown status {other:?}: use accepted, rejected or pending"
        ))),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    user: String,
    /// RFC 3339 (absent: the gate's `grant_days`).
    expires_at: Option<String>,
}

/// Grants a user access without a request of theirs (its admins only).
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/access/grants", tag = "access",
    params(("ns" = String, Path), ("name" = String, Path)),
    request_body = GrantBody,
    responses((status = 201, description = "Granted", body = Object),
        (status = 400, description = "Not gated, or they may read it already", body = ErrorBody),
        (status = 403, description = "You do not administer it", body = ErrorBody),
        (status = 404, description = "No such dataset or user", body = ErrorBody)))]
pub async fn grant_access(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Request>)> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    let b: GrantBody = read_json(&headers, body, state.settings.max_json_body).await?;
    let expires_at = b.expires_at.as_deref().map(parse_time).transpose()?;
    let granted = requests::grant(&state, &who, &repo, &b.user, expires_at).await?;
    Ok((StatusCode::CREATED, Json(granted)))
}
