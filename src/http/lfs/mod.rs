//! The Git LFS HTTP API: batch, verify, locks, and the signed transfer URLs of the local backend.
//! Bodies use the `application/vnd.git-lfs+json` media type in and out.

pub mod batch;
mod locks;
mod multipart;
pub mod transfer;
mod verify;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;
use strata_lfs::wire::MEDIA_TYPE;

use crate::http::error::ApiError;
use crate::http::state::AppState;

/// Routes below `/{ns}/{repo}/info/lfs` (where `repo` may end in `.git`) and `/_transfer`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{ns}/{repo}/info/lfs/objects/batch", post(batch::batch))
        // giftless's layout (`{base}/{org}/{repo}/objects/batch`), for clients written for it.
        .route("/{ns}/{repo}/objects/batch", post(batch::batch))
        .route("/{ns}/{repo}/info/lfs/verify", post(verify::verify))
        .route(
            "/{ns}/{repo}/info/lfs/locks",
            post(locks::create).get(locks::list),
        )
        .route("/{ns}/{repo}/info/lfs/locks/verify", post(locks::verify))
        .route(
            "/{ns}/{repo}/info/lfs/locks/{id}/unlock",
            post(locks::unlock),
        )
        .route(
            "/_transfer/{ns}/{repo}/{oid}",
            get(transfer::download).put(transfer::upload),
        )
        // multipart-basic on the local disk: parts, then commit (or abort)
        .route(
            "/_transfer/{ns}/{repo}/{oid}/parts/{n}",
            put(multipart::part),
        )
        .route(
            "/_transfer/{ns}/{repo}/{oid}/commit",
            post(multipart::commit),
        )
        .route("/_transfer/{ns}/{repo}/{oid}/abort", post(multipart::abort))
}

/// The repository name in a URL, without the optional `.git` suffix.
pub fn repo_name(segment: &str) -> &str {
    segment.strip_suffix(".git").unwrap_or(segment)
}

/// A JSON response with the LFS media type.
pub fn lfs_json(status: StatusCode, body: &impl Serialize) -> Response {
    let mut bytes = Vec::with_capacity(16 * 1024);
    match serde_json::to_writer(&mut bytes, body) {
        Ok(()) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE))],
            bytes,
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// Counts an upload the storage refused for its bytes (a wrong size or hash: 422, 413) in the
/// metrics.
pub fn count_refusal(state: &AppState, e: &strata_core::error::Error) {
    use strata_core::error::Kind;
    if matches!(e.kind, Kind::Invalid | Kind::TooLarge) {
        state.http().metrics.verify_failed();
    }
}

/// Reads and parses an LFS JSON request body: checks `Accept` (406) and `Content-Type` (415),
/// enforces the size limit (413) and reports malformed JSON (422).
pub async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, ApiError> {
    if let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        let ok = accept.split(',').any(|item| {
            let media = item.split(';').next().unwrap_or("").trim();
            matches!(
                media,
                MEDIA_TYPE | "application/json" | "application/*" | "*/*" | ""
            )
        });
        if !ok {
            return Err(ApiError::new(
                StatusCode::NOT_ACCEPTABLE,
                format!("responses are {MEDIA_TYPE}"),
            ));
        }
    }
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let media = ct
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if media != MEDIA_TYPE && media != "application/json" {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("request bodies must be {MEDIA_TYPE}"),
            ));
        }
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large(format!("request body is larger than {limit} bytes")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::unprocessable(format!("malformed request body: {e}")))
}

pub use strata_core::db::rfc3339;
