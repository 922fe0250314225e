//! The LFS locking API (`locking.md`): create, list, verify (ours/theirs) and unlock. The rules
//! are the domain's (`strata_core::datasets::locks`); this maps them onto the wire types.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use strata_lfs::wire::{
    CreateLockRequest, Lock, LockConflict, LockList, LockOwner, LockResponse, UnlockRequest,
    VerifyLocksRequest, VerifyLocksResponse,
};

use crate::http::ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::repo_name;
use crate::http::json::{lfs_json, read_json};
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::locks;
use strata_core::db::rfc3339;
use strata_core::db::{LockFilter, LockRow};

fn to_wire(row: &LockRow) -> Lock {
    Lock {
        id: row.id.to_string(),
        path: row.path.clone(),
        locked_at: rfc3339(row.locked_at),
        owner: Some(LockOwner {
            name: row.owner_name.clone(),
        }),
    }
}

pub async fn create(
    State(state): State<AppState>,
    Path((ns, repo)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let repo = locks::open(&state, &who, &ns, repo_name(&repo), Action::Write).await?;
    let req: CreateLockRequest = read_json(&headers, body, state.settings.max_json_body).await?;
    let ref_name = req.git_ref.as_ref().map(|r| r.name.as_str());
    match locks::create(&state, &repo, &who, &req.path, ref_name).await? {
        Ok(lock) => Ok(lfs_json(
            StatusCode::CREATED,
            &LockResponse {
                lock: to_wire(&lock),
            },
        )),
        Err(existing) => Ok(lfs_json(
            StatusCode::CONFLICT,
            &LockConflict {
                lock: to_wire(&existing),
                message: format!(
                    "{} is already locked by {}",
                    existing.path, existing.owner_name
                ),
                request_id: Some(ctx::current().request_id),
            },
        )),
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    path: Option<String>,
    id: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
    #[allow(dead_code)] // locks are repository-wide; the refspec is accepted and ignored
    refspec: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Path((ns, repo)): Path<(String, String)>,
    who: Principal,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let repo = locks::open(&state, &who, &ns, repo_name(&repo), Action::Read).await?;
    let Query(q) = query?;
    let limit = locks::limit(
        q.limit
            .as_deref()
            .map(|l| {
                l.parse::<i64>()
                    .map_err(|_| ApiError::unprocessable("limit must be an integer"))
            })
            .transpose()?,
    )?;
    // An id that can't exist matches nothing rather than being an error.
    let id =
        q.id.as_deref()
            .filter(|s| !s.is_empty())
            .map(|id| id.parse::<i64>().unwrap_or(-1));
    let filter = LockFilter {
        path: q.path.filter(|p| !p.is_empty()),
        id,
        after: locks::cursor(q.cursor.as_deref())?,
        limit,
    };
    let page = locks::list(&state, &repo, &filter).await?;
    Ok(lfs_json(
        StatusCode::OK,
        &LockList {
            locks: page.locks.iter().map(to_wire).collect(),
            next_cursor: page.next_cursor,
        },
    ))
}

pub async fn verify(
    State(state): State<AppState>,
    Path((ns, repo)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let repo = locks::open(&state, &who, &ns, repo_name(&repo), Action::Write).await?;
    let req: VerifyLocksRequest = read_json(&headers, body, state.settings.max_json_body).await?;
    let filter = LockFilter {
        after: locks::cursor(req.cursor.as_deref())?,
        limit: locks::limit(req.limit)?,
        ..Default::default()
    };
    let (ours, theirs, next_cursor) = locks::verify(&state, &repo, &who, &filter).await?;
    Ok(lfs_json(
        StatusCode::OK,
        &VerifyLocksResponse {
            ours: ours.iter().map(to_wire).collect(),
            theirs: theirs.iter().map(to_wire).collect(),
            next_cursor,
        },
    ))
}

pub async fn unlock(
    State(state): State<AppState>,
    Path((ns, repo, id)): Path<(String, String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let repo = locks::open(&state, &who, &ns, repo_name(&repo), Action::Write).await?;
    let req: UnlockRequest = read_json(&headers, body, state.settings.max_json_body).await?;
    let force = req.force.unwrap_or(false);
    let lock = locks::unlock(&state, &repo, &who, &id, force).await?;
    Ok(lfs_json(
        StatusCode::OK,
        &LockResponse {
            lock: to_wire(&lock),
        },
    ))
}
