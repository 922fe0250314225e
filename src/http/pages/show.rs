//! How pages say things: a domain error as a page ([`failed`]), times ([`when`]) and sizes
//! ([`human_size`]).

use axum::response::Response;
use strata_core::db::SessionRow;
use strata_core::error::Error;

use super::layout::{error_page, Chrome};

/// A domain error as a page.
pub(super) fn failed(s: Option<&SessionRow>, title: &str, e: Error) -> Response {
    let e = crate::http::error::ApiError::from(e);
    // A renamed dataset's old name: to the page under its new name.
    if e.status.is_redirection() {
        return axum::response::IntoResponse::into_response(e);
    }
    if e.status.is_server_error() {
        tracing::error!(error = %e.message, "page failed");
    }
    error_page(e.status, Chrome::new(title, s, "datasets"), &e.message)
}

/// A unix time as pages show it: `2026-11-22 14:52:30 UTC`.
pub(super) fn when(unix: i64) -> String {
    strata_core::db::rfc3339(unix)
        .replace('T', " ")
        .replace('Z', " UTC")
}

/// `1.2 MiB`-style sizes.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
