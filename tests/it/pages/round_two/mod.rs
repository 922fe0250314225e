//! Pages round two in headless Chromium, each check one that failed before: the README is the
//! top of the dataset's page with its front matter as tags, the viewer of its first table below
//! with a chart in every heading and a table picker, "Use this dataset" with this server's
//! addresses; statistics of the filtered rows only, empty text counted as empty; a key offered
//! and declared in one click from the table; search by tag, licence, column and size; the file
//! manager's controls enabled by the pick; a dropped file's upload that ends on its folder with
//! the list kept and Undo; organisations made, datasets renamed (the old address leading to the
//! new) and deleted from pages; the drive's grid of thumbnails, a PDF in the browser's viewer,
//! Starred and Recent.

mod drive;
mod forms;
mod front;
mod settings;

use fantoccini::Locator;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::chromium::*;
use crate::common::forms::PASSWORD;
use crate::common::*;
use crate::sharing::gated::call;

/// Commits `lines` after a header on the head of `main` of `repo` as a browser upload does
/// (`describe`: tables become resources).
pub(super) async fn commit(
    server: &TestServer,
    token: &str,
    repo: &str,
    summary: &str,
    lines: &[Value],
) {
    let api = format!("/api/v1/datasets/{repo}");
    let (_, v) = call(server, Method::GET, &api, Some(token), None).await;
    let mut body = vec![json!({"key": "header", "value": {"summary": summary,
        "parent": v["revision"]["id"], "describe": true}})
    .to_string()];
    body.extend(lines.iter().map(Value::to_string));
    let r = client()
        .post(format!("{}{api}/commit", server.url))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// An LFS file line for `data` uploaded to `repo`.
pub(super) async fn lfs(
    server: &TestServer,
    token: &str,
    repo: &str,
    path: &str,
    data: &[u8],
) -> Value {
    let oid = upload(server, repo, token, data).await;
    json!({"key": "lfsFile", "value": {"path": path, "oid": oid.to_string(), "size": data.len()}})
}

pub(super) async fn type_into(c: &fantoccini::Client, selector: &str, value: &str) {
    let field = c.find(Locator::Css(selector)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Alice, with the tests' password, and her private dataset `alice/{name}`: her token.
pub(super) async fn alice_with(server: &TestServer, name: &str) -> String {
    let alice = server.user("alice").await;
    strata::cli::admin::set_password(&server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let (status, v) = call(
        server,
        Method::POST,
        "/api/v1/datasets",
        Some(&alice),
        Some(json!({"namespace": "alice", "name": name, "visibility": "private"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    alice
}

/// A one-page PDF that says "Hello PDF".
pub(super) fn pdf() -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        {
            let text = "BT /F1 24 Tf 40 100 Td (Hello PDF) Tj ET";
            format!("<< /Length {} >>\nstream\n{text}\nendstream", text.len())
        },
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{o}\nendobj\n", i + 1));
    }
    let xref = out.len();
    out.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for o in offsets {
        out.push_str(&format!("{o:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.into_bytes()
}

pub(super) fn stations() -> Vec<u8> {
    let mut out = String::from("id,name,region,temp\n");
    for i in 1..=200 {
        let region = if i % 10 == 0 {
            ""
        } else {
            ["north", "south"][i % 2]
        };
        out.push_str(&format!("{i},station {i},{region},{}\n", i % 40));
    }
    out.into_bytes()
}
