//! What draws a page goes gzip-compressed to a browser that accepts it (the page, the style sheet,
//! the script), and as it is to one that does not; a download, a raw file and the REST API never
//! (their bytes are served as stored, ranges and all). Chromium reads the compressed pages in
//! every browser test.

use crate::common::*;

/// `path` with or without `Accept-Encoding: gzip`: its `Content-Encoding` and body.
async fn get(
    server: &TestServer,
    path: &str,
    gzip: bool,
    token: Option<&str>,
) -> (Option<String>, Vec<u8>) {
    let mut req = client().get(format!("{}{path}", server.url));
    if gzip {
        req = req.header("accept-encoding", "gzip");
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    let encoding = r
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_owned());
    (encoding, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn pages_are_compressed_and_downloads_are_not() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let (encoding, plain) = get(&server, "/login", false, None).await;
    assert_eq!(encoding, None);
    let html = String::from_utf8(plain.clone()).unwrap();
    let (encoding, zipped) = get(&server, "/login", true, None).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    assert_eq!(&zipped[..2], &[0x1f, 0x8b], "a gzip stream");
    assert!(
        zipped.len() < plain.len(),
        "{} >= {}",
        zipped.len(),
        plain.len()
    );
    // The style sheet and the script the page names.
    for ext in ["css", "js"] {
        let at = html.find(&format!(".{ext}\"")).unwrap();
        let start = html[..at].rfind("/static/").unwrap();
        let url = format!("{}.{ext}", &html[start..at]);
        let (encoding, body) = get(&server, &url, true, None).await;
        assert_eq!(encoding.as_deref(), Some("gzip"), "{url}");
        assert_eq!(&body[..2], &[0x1f, 0x8b], "{url}");
    }
    // A raw file and the API, asked with gzip: as they are.
    let (status, v) = crate::sharing::gated::call(
        &server,
        reqwest::Method::POST,
        "/api/v1/datasets",
        Some(&alice),
        Some(serde_json::json!({"namespace": "alice", "name": "text", "visibility": "public"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (encoding, _) = get(&server, "/api/v1/datasets?limit=5", true, Some(&alice)).await;
    assert_eq!(encoding, None, "the REST API");
    let (encoding, body) = get(
        &server,
        "/api/v1/datasets/alice/text/raw/datapackage.json",
        true,
        None,
    )
    .await;
    assert_eq!(encoding, None, "a raw file");
    assert!(body.starts_with(b"{"));
}
