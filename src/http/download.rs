//! Every byte response: an LFS object streamed from storage ([`serve_object`]: `ETag`, `Range`,
//! 304/206/416, cache rules) and a dataset file as a download ([`serve_file`]: REST raw, share
//! links), with its content type by extension and an RFC 6266 attachment name. Bytes never act
//! as a page of strata's origin ([`confine`]: the main port's downloads and the S3 gateway's
//! reads alike).

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use strata_lfs::Oid;

use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::storage::{Place, Read};

/// Streams `oid` (or the requested range of it) with `ETag`, `Accept-Ranges` and 304/206/416
/// answers; `filename` makes it an attachment. The raw-file endpoint serves through this too.
pub async fn serve_object(
    state: &AppState,
    place: impl Into<Place>,
    oid: &Oid,
    headers: &HeaderMap,
    filename: Option<&str>,
) -> ApiResult<Response> {
    let etag = format!("\"{oid}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (object, partial) = match state.storage.read(place, oid, range).await? {
        None => return Err(ApiError::not_found("object is missing from storage")),
        Some(Read::Unsatisfiable { len }) => {
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
        Some(Read::Found { object, partial }) => (object, partial),
    };
    let (start, count, len) = (object.start, object.count, object.len);
    let mut response = Response::new(Body::from_stream(object.body));
    if partial {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let h = response.headers_mut();
    let content_type = filename.map_or("application/octet-stream", content_type_of);
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // An oid never changes its bytes; a file's path may name other bytes tomorrow, or stop being
    // readable by this caller (a revoked share or link): revalidate those (the ETag answers 304).
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if filename.is_some() {
            "private, no-cache"
        } else {
            "private, max-age=31536000, immutable"
        }),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    confine(h, content_type, filename.unwrap_or(""));
    if let Some(disposition) = filename.and_then(attachment) {
        h.insert(header::CONTENT_DISPOSITION, disposition);
    }
    if partial {
        if let Ok(v) =
            HeaderValue::from_str(&format!("bytes {}-{}/{len}", start, start + count - 1))
        {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(response)
}

/// A file of a dataset as a download (REST raw, share links): its bytes, or for an LFS pointer
/// its object (which must be linked to the dataset, through `repo`'s read gate), streamed from
/// storage through strata on every backend: no redirect, so a client that forwards its
/// Authorization header (urllib, pandas) never sends it elsewhere.
pub async fn serve_file(
    state: &AppState,
    repo: &strata_core::datasets::gate::Gated,
    path: &str,
    rev: Option<&str>,
    data: Vec<u8>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let pointer = strata_lfs::pointer::lenient(&data);
    repo.read_file(state, path, rev, pointer.as_ref()).await?;
    if let Some(pointer) = pointer {
        return serve_object(state, repo.id, &pointer.oid, headers, Some(path)).await;
    }
    let mut response = (StatusCode::OK, data).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type_of(path)),
    );
    confine(h, content_type_of(path), path);
    if let Some(disposition) = attachment(path) {
        h.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

/// The content type of a file, by its extension (data formats first).
pub fn content_type_of(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "csv" => "text/csv; charset=utf-8",
        "tsv" => "text/tab-separated-values; charset=utf-8",
        "json" => "application/json",
        "ndjson" | "jsonl" => "application/x-ndjson",
        "txt" | "md" => "text/plain; charset=utf-8",
        "parquet" => "application/vnd.apache.parquet",
        "arrow" | "feather" => "application/vnd.apache.arrow.file",
        "xml" => "application/xml",
        "yaml" | "yml" => "application/yaml",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// Whether a browser shows `content_type` without running anything in it: text, data formats,
/// the pictures it decodes, sound and video. Anything else — HTML, SVG, XML and its kin, PDF,
/// JavaScript, a type it does not know — may run script as a page of the origin serving it.
pub fn inert(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "text/plain"
            | "text/csv"
            | "text/tab-separated-values"
            | "application/json"
            | "application/x-ndjson"
            | "application/octet-stream"
            | "application/vnd.apache.parquet"
            | "application/vnd.apache.arrow.file"
            | "application/yaml"
            | "application/zip"
            | "application/gzip"
            | "image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
    ) || essence.starts_with("audio/")
        || essence.starts_with("video/")
}

/// Keeps bytes strata serves as `content_type` (the file at `path`) from acting as a page of its
/// origin, where they could read or set its cookies: `X-Content-Type-Options: nosniff`,
/// `Content-Security-Policy: sandbox` (no script, an origin of its own even when shown) and, for
/// a type that is not [`inert`], `Content-Disposition: attachment`. The one rule of the main
/// port's downloads and of the S3 gateway's reads (whose signed callers choose the type).
pub fn confine(h: &mut HeaderMap, content_type: &str, path: &str) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    if !inert(content_type) {
        let disposition =
            attachment(path).unwrap_or_else(|| HeaderValue::from_static("attachment"));
        h.insert(header::CONTENT_DISPOSITION, disposition);
    }
}

/// `Content-Disposition: attachment` with the file's name (RFC 6266, UTF-8 through `filename*`).
pub fn attachment(path: &str) -> Option<HeaderValue> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .ok()
}
