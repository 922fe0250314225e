//! What pages show of a file besides its text: the thumbnail of an image for the grid view, and
//! a PDF for the browser's own viewer. Both through the path read gate and the policies, as a
//! download would be: what may be read may be shown, nothing else.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::datasets::BrowseQuery;
use super::reader::{File, Reader};
use crate::http::download::{attachment, serve_file};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::datasets::git_on;
use strata_core::drive::thumbnails;

/// `GET /datasets/{ns}/{name}/thumbnails/{*path}?rev=`.
pub async fn thumbnail(
    State(state): State<AppState>,
    Path((_, _, path)): Path<(String, String, String)>,
    Query(q): Query<BrowseQuery>,
    headers: HeaderMap,
    Reader { repo, .. }: Reader<File>,
) -> ApiResult<Response> {
    let thumbnail = thumbnails::of_file(&state, &repo, &path, q.rev.as_deref()).await?;
    let etag = format!("\"{}\"", strata_lfs::Oid::of(&thumbnail.bytes));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = match fresh {
        true => StatusCode::NOT_MODIFIED.into_response(),
        false => (StatusCode::OK, thumbnail.bytes.clone()).into_response(),
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(thumbnail.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Ok(response)
}

/// `GET /datasets/{ns}/{name}/preview/{*path}?rev=`: a PDF file for the frame of its page, where
/// the browser's viewer shows it. Served as a download is (streamed, ranges, `nosniff`), but
/// inline, with a policy of its own ([`PDF_CSP`]).
pub async fn pdf(
    State(state): State<AppState>,
    Path((_, _, path)): Path<(String, String, String)>,
    Query(q): Query<BrowseQuery>,
    headers: HeaderMap,
    Reader { repo, .. }: Reader<File>,
) -> ApiResult<Response> {
    if !is_pdf(&path) {
        return Err(ApiError::not_found("only PDF files are shown in a frame"));
    }
    repo.check_rev(q.rev.as_deref())?;
    let (rev, file) = (q.rev.clone(), path.clone());
    let data = git_on(&state, &repo, move |ms, ds| {
        ms.read_file(ds, rev.as_deref(), &file)
    })
    .await?;
    let mut response = serve_file(&state, &repo, &path, q.rev.as_deref(), data, &headers).await?;
    let inline = attachment(&path)
        .and_then(|v| {
            v.to_str()
                .ok()
                .map(|v| v.replacen("attachment", "inline", 1))
        })
        .and_then(|v| HeaderValue::from_str(&v).ok());
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    // Not `sandbox`, where no browser shows a PDF: the document may hold the viewer of its own
    // bytes and nothing else, and only strata's own pages may frame it.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PDF_CSP),
    );
    if let Some(v) = inline {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The policy of a framed PDF (`nosniff` keeps it a PDF): nothing but the browser's viewer of
/// its own bytes, framed by strata's pages only.
const PDF_CSP: &str =
    "default-src 'none'; object-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'";

/// Whether a file is a PDF the page frames (by its extension).
pub(super) fn is_pdf(path: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".pdf")
}
