//! JSON bodies in and out: [`read_json`] (the `Accept` and `Content-Type` checks, the size limit,
//! a clear error for malformed JSON) for the LFS and REST APIs, and [`lfs_json`] (an answer with
//! the Git LFS media type).

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use strata_lfs::wire::MEDIA_TYPE;

use crate::http::error::ApiError;

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
    parse(&bytes)
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::unprocessable(format!("malformed request body: {e}")))
}

/// [`read_json`] for a body that may be left out: no bytes at all read as `T::default()`.
pub async fn read_optional_json<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large(format!("request body is larger than {limit} bytes")))?;
    if bytes.is_empty() {
        return Ok(T::default());
    }
    read_json(headers, Body::from(bytes), limit).await
}
