//! The local backend's `multipart-basic` URLs, each signed for one operation on one object of one
//! dataset (the signature is the only credential, as for `/_transfer` uploads):
//! `PUT /_transfer/{ns}/{repo}/{oid}/parts/{n}` stores part `n`, `POST …/commit` assembles and
//! checks the object and links it to the dataset, `POST …/abort` throws the parts away. The
//! storage facade (`strata_core::storage`) owns parts, resume and completion.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use strata_lfs::signing::SignedOp;

use super::transfer::{check, Signed};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

pub async fn part(
    State(state): State<AppState>,
    Path((ns, repo, oid, n)): Path<(String, String, String, String)>,
    query: Result<Query<Signed>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let n: u32 = n
        .parse()
        .map_err(|_| ApiError::forbidden("the signature does not match this URL"))?;
    let (oid, size, dataset) = check(&state, SignedOp::Part(n), &ns, &repo, &oid, query)?;
    let expected = part_len(size, n)?;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len != expected {
            return Err(ApiError::unprocessable(format!(
                "Content-Length is {len}, part {n} has {expected} bytes"
            )));
        }
    }
    state
        .storage
        .receive_part(dataset, &oid, size, n, body.into_data_stream())
        .await?;
    Ok(StatusCode::OK)
}

/// The length of part `n` of an object of `size` bytes.
fn part_len(size: u64, n: u32) -> ApiResult<u64> {
    strata_core::storage::multipart_plan(size)
        .into_iter()
        .find(|p| p.0 == n)
        .map(|p| p.2)
        .ok_or_else(|| ApiError::not_found(format!("this upload has no part {n}")))
}

pub async fn commit(
    State(state): State<AppState>,
    Path((ns, repo, oid)): Path<(String, String, String)>,
    query: Result<Query<Signed>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let (oid, size, dataset) = check(&state, SignedOp::Commit, &ns, &repo, &oid, query)?;
    // Assembling and hashing a large object takes a while: it runs to the end (the link
    // included) even if the client or a proxy gives up waiting, and a retried commit or a new
    // batch then finds the object stored.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task_state = state.clone();
    state.tasks.spawn("multipart commit", move |_| async move {
        let done = finish(&task_state, &format!("{ns}/{repo}"), dataset, oid, size).await;
        let _ = tx.send(done);
    });
    rx.await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping: commit again",
        )
    })?
}

/// Completes an upload, checks the object, and links it to the dataset.
async fn finish(
    state: &AppState,
    repo: &str,
    dataset: i64,
    oid: strata_lfs::Oid,
    size: u64,
) -> ApiResult<StatusCode> {
    state
        .storage
        .complete_multipart(dataset, &oid, size)
        .await
        .inspect_err(|e| {
            if e.kind != strata_core::error::Kind::Conflict {
                state.http().metrics.count_refusal(e)
            }
        })?;
    tracing::info!(%oid, size, repo, "multipart object stored");
    Ok(StatusCode::OK)
}

pub async fn abort(
    State(state): State<AppState>,
    Path((ns, repo, oid)): Path<(String, String, String)>,
    query: Result<Query<Signed>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let (oid, size, dataset) = check(&state, SignedOp::Abort, &ns, &repo, &oid, query)?;
    state.storage.abort_multipart(dataset, &oid, size).await?;
    Ok(StatusCode::NO_CONTENT)
}
