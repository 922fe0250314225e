//! `PUT` and `GET /_transfer/{ns}/{repo}/{oid}?size&exp&kid&sig`: the local backend's signed URLs.
//! The signature is the only credential: it names the operation, repository, oid, size and expiry.
//! Uploads are verified against the oid while they stream; downloads support `Range`.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use strata_lfs::signing::{Grant, SignError, SignedOp};
use strata_lfs::{LocalStore, Oid};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::batch::put_error;
use crate::db::now;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::Storage;

#[derive(Debug, Deserialize)]
pub struct Signed {
    size: u64,
    exp: i64,
    kid: String,
    sig: String,
}

/// Checks the URL's signature for `op` and returns the oid and size it grants.
fn check(
    state: &AppState,
    op: SignedOp,
    ns: &str,
    repo: &str,
    oid: &str,
    q: Result<Query<Signed>, QueryRejection>,
) -> ApiResult<(Oid, u64)> {
    let Query(q) = q.map_err(|_| ApiError::forbidden("missing or malformed signature"))?;
    let oid: Oid = oid
        .parse()
        .map_err(|_| ApiError::forbidden("the signature does not match this URL"))?;
    let path = format!("{ns}/{repo}");
    let grant = Grant {
        op,
        repo: &path,
        oid,
        size: q.size,
        expires: q.exp,
    };
    state
        .signer
        .verify(&grant, &q.kid, &q.sig, now())
        .map_err(|e| match e {
            SignError::Expired => {
                ApiError::forbidden("this URL has expired: ask the batch API for a new one")
            }
            SignError::UnknownKey | SignError::BadSignature => {
                ApiError::forbidden("the signature does not match this URL")
            }
        })?;
    Ok((oid, q.size))
}

fn local(state: &AppState) -> ApiResult<&LocalStore> {
    match &state.storage {
        Storage::Local(store) => Ok(store),
        Storage::Cloud(_) => Err(ApiError::not_found(
            "this server stores objects in a bucket; transfers go there",
        )),
    }
}

pub async fn upload(
    State(state): State<AppState>,
    Path((ns, repo, oid)): Path<(String, String, String)>,
    query: Result<Query<Signed>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let (oid, size) = check(&state, SignedOp::Upload, &ns, &repo, &oid, query)?;
    let store = local(&state)?;
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
    let repo = state
        .db
        .repo_by_path(&ns, &repo)
        .await?
        .ok_or_else(|| ApiError::not_found("repository not found"))?;
    store
        .put_verified(&oid, size, body.into_data_stream())
        .await
        .map_err(put_error)?;
    state.db.link_object(repo.id, &oid, size).await?;
    tracing::info!(%oid, size, repo = %repo.path(), "object stored");
    Ok(StatusCode::OK)
}

pub async fn download(
    State(state): State<AppState>,
    Path((ns, repo, oid)): Path<(String, String, String)>,
    query: Result<Query<Signed>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (oid, _) = check(&state, SignedOp::Download, &ns, &repo, &oid, query)?;
    let store = local(&state)?;
    let (mut file, len) = store
        .open_read(&oid)
        .await?
        .ok_or_else(|| ApiError::not_found("object is missing from storage"))?;
    let etag = format!("\"{oid}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|r| parse_range(r, len));
    let (status, start, count) = match range {
        None | Some(RangeSpec::Ignore) => (StatusCode::OK, 0, len),
        Some(RangeSpec::Unsatisfiable) => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("range not satisfiable: the object has {len} bytes"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(response);
        }
        Some(RangeSpec::Bytes(start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
    };
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(ApiError::internal)?;
    }
    let stream = ReaderStream::with_capacity(file.take(count), 256 * 1024);
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) =
            HeaderValue::from_str(&format!("bytes {}-{}/{len}", start, start + count - 1))
        {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(response)
}

#[derive(Debug, PartialEq, Eq)]
enum RangeSpec {
    /// Inclusive byte range.
    Bytes(u64, u64),
    Unsatisfiable,
    /// Not a single byte range we serve partially (e.g. several ranges): answer the whole object.
    Ignore,
}

/// Parses a `Range` header for a `len`-byte object (RFC 9110 §14.1.2), single ranges only.
fn parse_range(value: &str, len: u64) -> RangeSpec {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if spec.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeSpec::Unsatisfiable;
    };
    let parse = |s: &str| {
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u64>().ok()
        } else {
            None
        }
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match parse(suffix) {
            Some(n) if n > 0 && len > 0 => RangeSpec::Bytes(len.saturating_sub(n), len - 1),
            _ => RangeSpec::Unsatisfiable,
        },
        (start, "") => match parse(start) {
            Some(s) if s < len => RangeSpec::Bytes(s, len - 1),
            _ => RangeSpec::Unsatisfiable,
        },
        (start, end) => match (parse(start), parse(end)) {
            (Some(s), Some(e)) if s <= e && s < len => RangeSpec::Bytes(s, e.min(len - 1)),
            _ => RangeSpec::Unsatisfiable,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_range, RangeSpec::*};

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Bytes(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Bytes(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Bytes(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), Bytes(0, 99));
        assert_eq!(parse_range("bytes=50-1000", 100), Bytes(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=9-3", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=a-b", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ignore);
        assert_eq!(parse_range("items=0-1", 100), Ignore);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
    }
}
