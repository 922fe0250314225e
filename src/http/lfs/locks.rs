//! The LFS locking API (`locking.md`): create, list, verify (ours/theirs) and unlock.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use strata_lfs::wire::{
    CreateLockRequest, Lock, LockConflict, LockList, LockOwner, LockResponse, UnlockRequest,
    VerifyLocksRequest, VerifyLocksResponse,
};

use super::{lfs_json, read_json, repo_name, rfc3339};
use crate::http::ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::{Action, On, Principal};
use strata_core::datasets::gate::{self, Gated, Reach};
use strata_core::db::{LockFilter, LockRow, NewLock};

const DEFAULT_LIMIT: i64 = 100;

/// Locks name paths, not objects: they need a grant on all of the dataset's objects (a token
/// scoped to one object cannot lock).
async fn locks_gate(
    state: &AppState,
    who: &Principal,
    ns: &str,
    repo: &str,
    action: Action,
) -> ApiResult<Gated> {
    let gated = gate::open(state, who, ns, repo_name(repo), action, Reach::Objects).await?;
    if !gated.allows(On::Objects, action) {
        return Err(ApiError::forbidden(
            "locks need a token that reaches every object of the dataset",
        ));
    }
    Ok(gated)
}
const MAX_LIMIT: i64 = 1000;
const MAX_PATH_LEN: usize = 4096;

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

/// Lock paths are repository-relative POSIX paths: no absolute paths, no `.`/`..` segments, no NUL.
fn check_path(path: &str) -> ApiResult<()> {
    let bad = path.is_empty()
        || path.len() > MAX_PATH_LEN
        || path.starts_with('/')
        || path.contains('\0')
        || path.contains('\\')
        || path
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bad {
        return Err(ApiError::unprocessable(format!(
            "invalid lock path {path:?}: use a relative path inside the repository"
        )));
    }
    Ok(())
}

fn limit(value: Option<i64>) -> ApiResult<i64> {
    match value {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::unprocessable(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {n}"
        ))),
    }
}

fn cursor(value: Option<&str>) -> ApiResult<Option<i64>> {
    value
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::unprocessable("invalid cursor"))
        })
        .transpose()
}

/// Cuts a page of `limit` from rows fetched with one extra, and the cursor of the next page.
fn page(mut rows: Vec<LockRow>, limit: i64) -> (Vec<LockRow>, Option<String>) {
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        let next = rows.last().map(|r| r.id.to_string());
        (rows, next)
    } else {
        (rows, None)
    }
}

pub async fn create(
    State(state): State<AppState>,
    Path((ns, repo)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let repo = locks_gate(&state, &who, &ns, &repo, Action::Write).await?;
    let req: CreateLockRequest = read_json(&headers, body, state.settings.max_json_body).await?;
    check_path(&req.path)?;
    let (key, name) = (who.key(), who.display_name());
    let new = NewLock {
        repo_id: repo.id,
        path: &req.path,
        ref_name: req.git_ref.as_ref().map(|r| r.name.as_str()),
        owner_key: &key,
        owner_name: &name,
    };
    match state.db.create_lock(new).await? {
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
    let repo = locks_gate(&state, &who, &ns, &repo, Action::Read).await?;
    let Query(q) = query?;
    let limit = limit(
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
        after: cursor(q.cursor.as_deref())?,
        limit,
    };
    let (rows, next_cursor) = page(state.db.list_locks(repo.id, &filter).await?, limit);
    Ok(lfs_json(
        StatusCode::OK,
        &LockList {
            locks: rows.iter().map(to_wire).collect(),
            next_cursor,
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
    let repo = locks_gate(&state, &who, &ns, &repo, Action::Write).await?;
    let req: VerifyLocksRequest = read_json(&headers, body, state.settings.max_json_body).await?;
    let limit = limit(req.limit)?;
    let filter = LockFilter {
        after: cursor(req.cursor.as_deref())?,
        limit,
        ..Default::default()
    };
    let (rows, next_cursor) = page(state.db.list_locks(repo.id, &filter).await?, limit);
    let me = who.key();
    let (ours, theirs): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r.owner_key == me);
    Ok(lfs_json(
        StatusCode::OK,
        &VerifyLocksResponse {
            ours: ours.into_iter().map(to_wire).collect(),
            theirs: theirs.into_iter().map(to_wire).collect(),
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
    let repo = locks_gate(&state, &who, &ns, &repo, Action::Write).await?;
    let req: UnlockRequest = read_json(&headers, body, state.settings.max_json_body).await?;
    let not_found = || ApiError::not_found(format!("lock {id} not found"));
    let lock_id = id.parse::<i64>().map_err(|_| not_found())?;
    let lock = state
        .db
        .lock_by_id(repo.id, lock_id)
        .await?
        .ok_or_else(not_found)?;
    if lock.owner_key != who.key() {
        if !req.force.unwrap_or(false) {
            return Err(ApiError::forbidden(format!(
                "{} is locked by {}; only an administrator can force the unlock",
                lock.path, lock.owner_name
            )));
        }
        if !repo.allows(On::Dataset, Action::Admin) {
            return Err(ApiError::forbidden(
                "forcing an unlock needs admin rights on the repository",
            ));
        }
    }
    if !state.db.delete_lock(repo.id, lock_id).await? {
        return Err(not_found());
    }
    Ok(lfs_json(
        StatusCode::OK,
        &LockResponse {
            lock: to_wire(&lock),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn lock_paths() {
        for ok in ["a.bin", "dir/a.bin", "dir/..a", "ünï/cödé"] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            "a\0b",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }
}
