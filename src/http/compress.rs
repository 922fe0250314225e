//! Compression of what browsers load to draw a page: the pages themselves, the style sheet and
//! the scripts (gzip, which every browser accepts; flate2 is in the build already), on the pages'
//! router only. Never
//! a download (a body with `Content-Disposition` or `Content-Range`), an image, or anything of
//! another type: the bytes of datasets are served as they are stored, ranges and all.

use axum::http::{header, Extensions, HeaderMap, StatusCode, Version};
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;

/// Bodies smaller than this go as they are (compressing them saves nothing).
const SMALLEST: u64 = 512;

/// The layer for the pages' router.
pub fn layer() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .gzip(true)
        .compress_when(SizeAbove::new(SMALLEST).and(drawn))
}

/// Whether a response is part of drawing a page: HTML, CSS or JavaScript, not a download.
fn drawn(_: StatusCode, _: Version, headers: &HeaderMap, _: &Extensions) -> bool {
    if headers.contains_key(header::CONTENT_DISPOSITION)
        || headers.contains_key(header::CONTENT_RANGE)
    {
        return false;
    }
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    [
        "text/html",
        "text/css",
        "text/javascript",
        "application/javascript",
    ]
    .iter()
    .any(|t| kind.starts_with(t))
}
