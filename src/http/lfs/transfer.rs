//! `PUT` and `GET /_transfer/{ns}/{repo}/{oid}?size&exp&kid&sig`: the local backend's signed URLs.
//! The signature is the only credential: only a gate hands one out, and it names the operation,
//! dataset, oid, size and expiry. Uploads are verified against the oid while they stream (the
//! storage facade); downloads support `Range` and still need the object linked to the dataset.
//! `GET /_transfer/{ns}/{repo}/{oid}/range?…&r=FIRST-LAST` reads those bytes only (a xorb's
//! range, for a Xet client): the signature covers the range.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use strata_lfs::signing::{Grant, SignError, SignedOp};
use strata_lfs::Oid;

use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

#[derive(Debug, Deserialize)]
pub struct Signed {
    size: u64,
    /// The dataset's row id, signed: the URL works only for the dataset it was minted for.
    ds: i64,
    exp: i64,
    kid: String,
    sig: String,
}

/// Checks the URL's signature for `op` and returns the oid, size and dataset id it grants.
pub(super) fn check(
    state: &AppState,
    op: SignedOp,
    ns: &str,
    repo: &str,
    oid: &str,
    q: Result<Query<Signed>, QueryRejection>,
) -> ApiResult<(Oid, u64, i64)> {
    let Query(q) = q.map_err(|_| ApiError::forbidden("missing or malformed signature"))?;
    let oid: Oid = oid
        .parse()
        .map_err(|_| ApiError::forbidden("the signature does not match this URL"))?;
    let path = format!("{ns}/{repo}");
    state
        .storage
        .check_signature(
            &Grant {
                op,
                repo: &path,
                dataset: q.ds,
                oid,
                size: q.size,
                expires: q.exp,
            },
            &q.kid,
            &q.sig,
        )
        .map_err(|e| match e {
            SignError::Expired => {
                ApiError::forbidden("this URL has expired: ask the batch API for a new one")
            }
            SignError::UnknownKey | SignError::BadSignature => {
                ApiError::forbidden("the signature does not match this URL")
            }
        })?;
    Ok((oid, q.size, q.ds))
}

pub async fn upload(
    State(state): State<AppState>,
    Path((ns, repo, oid)): Path<(String, String, String)>,
    query: Result<Query<Signed>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let (oid, size, dataset) = check(&state, SignedOp::Upload, &ns, &repo, &oid, query)?;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len != size {
            return Err(ApiError::unprocessable(format!(
                "Content-Length is {len}, the object's size is {size}"
            )));
        }
    }
    state
        .storage
        .receive(dataset, &oid, size, body.into_data_stream())
        .await
        .inspect_err(|e| state.http().metrics.count_refusal(e))?;
    tracing::info!(%oid, size, repo = %format!("{ns}/{repo}"), "object stored");
    Ok(StatusCode::OK)
}

pub async fn download(
    State(state): State<AppState>,
    Path((ns, repo, oid)): Path<(String, String, String)>,
    query: Result<Query<Signed>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (oid, _, dataset) = check(&state, SignedOp::Download, &ns, &repo, &oid, query)?;
    // The signature was minted by the read gate; the link must still hold (the URL names the
    // dataset's row id, so one deleted and made again under the same name does not inherit the
    // old one's objects).
    state.storage.still_linked(dataset, &oid).await?;
    crate::http::download::serve_object(&state, dataset, &oid, &headers, None).await
}

#[derive(Debug, Deserialize)]
pub struct SignedRange {
    /// `FIRST-LAST`, inclusive.
    r: String,
}

pub async fn range(
    State(state): State<AppState>,
    Path((ns, repo, oid)): Path<(String, String, String)>,
    query: Result<Query<Signed>, QueryRejection>,
    range: Result<Query<SignedRange>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let bad = || ApiError::forbidden("missing or malformed signature");
    let Query(SignedRange { r }) = range.map_err(|_| bad())?;
    let (first, last) = r
        .split_once('-')
        .and_then(|(f, l)| Some((f.parse::<u64>().ok()?, l.parse::<u64>().ok()?)))
        .filter(|(f, l)| f <= l)
        .ok_or_else(bad)?;
    let op = SignedOp::Range(first, last);
    let (oid, _, dataset) = check(&state, op, &ns, &repo, &oid, query)?;
    state.storage.still_linked(dataset, &oid).await?;
    // The client asks for the signed range (a part of it at most); it is what is read.
    let within = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => (first, last),
        Some(v) => v
            .strip_prefix("bytes=")
            .and_then(|v| v.split_once('-'))
            .and_then(|(f, l)| Some((f.parse::<u64>().ok()?, l.parse::<u64>().ok()?)))
            .filter(|(f, l)| first <= *f && f <= l && *l <= last)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    format!("this URL reads bytes {first}-{last} only"),
                )
            })?,
    };
    let mut asked = HeaderMap::new();
    let value = format!("bytes={}-{}", within.0, within.1);
    asked.insert(
        header::RANGE,
        value
            .parse()
            .map_err(|_| ApiError::internal("a range header"))?,
    );
    crate::http::download::serve_object(&state, dataset, &oid, &asked, None).await
}
