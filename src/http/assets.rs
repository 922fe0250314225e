//! `ui/static/`: the stylesheet, the page script, the upload module and its worker, the
//! vendored hash-wasm (`ui/static/vendor/`) and the favicon, embedded in the binary and served under names that
//! carry a hash of their content (`/static/strata.<hash>.css`), so a browser may keep them for a
//! year and still never runs an old script against a new page.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    /// The hashed file name, as in the URL.
    name: String,
    body: &'static [u8],
    content_type: &'static str,
}

/// `(stem, extension, bytes, content type)` of every file in `ui/static/`.
const FILES: [(&str, &str, &[u8], &str); 6] = [
    (
        "strata",
        "css",
        include_bytes!("../../ui/static/strata.css"),
        "text/css; charset=utf-8",
    ),
    (
        "strata",
        "js",
        include_bytes!("../../ui/static/strata.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "upload",
        "js",
        include_bytes!("../../ui/static/upload.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "upload-worker",
        "js",
        include_bytes!("../../ui/static/upload-worker.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "hash-wasm-sha256",
        "js",
        include_bytes!("../../ui/static/vendor/hash-wasm-sha256.umd.min.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "favicon",
        "svg",
        include_bytes!("../../ui/static/favicon.svg"),
        "image/svg+xml",
    ),
];

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(stem, ext, body, content_type)| {
            let hash = hex::encode(&Sha256::digest(body)[..6]);
            Asset {
                name: format!("{stem}.{hash}.{ext}"),
                body,
                content_type,
            }
        })
        .collect()
});

/// The URL of the stylesheet.
pub fn css() -> String {
    format!("/static/{}", ASSETS[0].name)
}

/// The URL of the page script.
pub fn js() -> String {
    format!("/static/{}", ASSETS[1].name)
}

/// The URL of the favicon.
pub fn favicon() -> String {
    format!("/static/{}", ASSETS[5].name)
}

/// The URLs of the browser upload: the module, its hashing worker, and hash-wasm's sha256.
pub fn upload() -> [String; 3] {
    [2, 3, 4].map(|i| format!("/static/{}", ASSETS[i].name))
}

/// `GET /static/{file}`: only the current hashed names exist.
pub async fn serve(Path(file): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == file) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let mut response = asset.body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}
