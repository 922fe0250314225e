//! The Hub's gated-repository API for datasets, so `huggingface_hub`'s calls work unchanged:
//! `list_pending_access_requests` (and `…_accepted_…`, `…_rejected_…`) read
//! `GET /api/datasets/{ns}/{name}/user-access-request/{status}` (pages follow `Link`),
//! `accept_access_request`, `reject_access_request` and `cancel_access_request` post
//! `…/user-access-request/handle`, `grant_access` posts `…/grant`. The dataset's admins only; the
//! rules are strata's (`strata_core::sharing::access`), the shapes the Hub's.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::hf::{no_repo, with_next, HubResult};
use crate::http::error::ApiError;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::gate;
use strata_core::sharing::access::requests::{self, Answer, Request};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/datasets/{ns}/{name}/user-access-request/handle",
            post(handle),
        )
        .route(
            "/api/datasets/{ns}/{name}/user-access-request/grant",
            post(grant),
        )
        .route(
            "/api/datasets/{ns}/{name}/user-access-request/{status}",
            get(list),
        )
}

/// A request as the Hub shows it.
fn hub(r: &Request) -> Value {
    json!({
        "user": {
            "user": r.user,
            "fullname": r.fields.get("name").cloned().unwrap_or_else(|| r.user.clone()),
            "email": r.email,
        },
        "requestId": r.id.to_string(),
        "status": r.status,
        "timestamp": r.created_at,
        "fields": r.fields,
    })
}

#[derive(Deserialize)]
struct Cursor {
    cursor: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    Path((ns, name, status)): Path<(String, String, String)>,
    Query(q): Query<Cursor>,
    who: Principal,
) -> HubResult<Response> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin)
        .await
        .map_err(no_repo)?;
    if !["pending", "accepted", "rejected"].contains(&status.as_str()) {
        return Err(ApiError::bad_request(format!(
            "unknown status {status:?}: use pending, accepted or rejected"
        ))
        .into());
    }
    let (page, next) =
        requests::list(&state, &repo, Some(&status), q.cursor.unwrap_or(0), 100).await?;
    let next = next.map(|c| {
        format!(
            "{}/api/datasets/{ns}/{name}/user-access-request/{status}?cursor={c}",
            state.settings.public_url
        )
    });
    let items: Vec<Value> = page.iter().map(hub).collect();
    Ok(with_next(Json(items).into_response(), next))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Handle {
    user: Option<String>,
    request_id: Option<String>,
    status: String,
    rejection_reason: Option<String>,
}

async fn handle(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> HubResult<Json<Value>> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin)
        .await
        .map_err(no_repo)?;
    let h: Handle = read_json(&headers, body, state.settings.max_json_body).await?;
    let user = match (h.user, h.request_id) {
        (Some(u), None) => u,
        (None, Some(id)) => {
            let id: i64 = id
                .parse()
                .map_err(|_| ApiError::not_found(format!("no access request {id:?}")))?;
            requests::list(&state, &repo, None, id - 1, 1)
                .await?
                .0
                .into_iter()
                .find(|r| r.id == id)
                .map(|r| r.user)
                .ok_or_else(|| ApiError::not_found(format!("no access request {id}")))?
        }
        _ => {
            return Err(ApiError::bad_request("give user or requestId, not both").into());
        }
    };
    let answer = match h.status.as_str() {
        "accepted" => Answer::Accept { expires_at: None },
        "rejected" => Answer::Reject {
            reason: h.rejection_reason,
        },
        "pending" => Answer::Reopen,
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown status {other:?}: use accepted, rejected or pending"
            ))
            .into())
        }
    };
    let done = requests::answer(&state, &who, &repo, &user, &answer).await?;
    Ok(Json(hub(&done)))
}

#[derive(Deserialize)]
struct Grant {
    user: String,
}

async fn grant(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> HubResult<Json<Value>> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin)
        .await
        .map_err(no_repo)?;
    let g: Grant = read_json(&headers, body, state.settings.max_json_body).await?;
    let done = requests::grant(&state, &who, &repo, &g.user, None).await?;
    Ok(Json(hub(&done)))
}
