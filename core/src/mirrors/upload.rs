//! A push mirror's LFS uploads (`super::push`): the objects a remote lacks, asked of its batch
//! API, each sent to the upload action it answered (streamed from the storage facade) and
//! confirmed through its verify action. Our credentials go to the remote's own LFS host only.

use futures_util::StreamExt;
use serde_json::{json, Value};
use strata_lfs::Oid;

use super::remote::{upstream, Remote};
use crate::error::{Error, Result};
use crate::Core;

/// Uploads `objects` of dataset `repo_id` the remote lacks through its batch API: how many, and
/// their bytes.
pub(super) async fn upload(
    core: &Core,
    repo_id: i64,
    remote: &Remote,
    objects: &[(Oid, u64)],
) -> Result<(u64, u64)> {
    let listed = remote.batch_answer("upload", objects).await?;
    let mut work = Vec::new();
    for o in &listed {
        if let Some(e) = o.get("error") {
            let msg = e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            let oid = o.get("oid").and_then(Value::as_str).unwrap_or("?");
            return Err(upstream(format!("the remote refuses {oid}: {msg}")));
        }
        let Some(put) = o.pointer("/actions/upload").cloned() else {
            continue;
        };
        let oid: Oid = o
            .get("oid")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| upstream("the remote's batch answer names a bad oid"))?;
        let Some((_, size)) = objects.iter().find(|(x, _)| *x == oid) else {
            return Err(upstream(format!(
                "the remote's batch answer names {oid}, not asked for"
            )));
        };
        work.push((oid, *size, put, o.pointer("/actions/verify").cloned()));
    }
    let results = futures_util::stream::iter(work)
        .map(|(oid, size, put, verify)| async move {
            send(core, repo_id, remote, oid, size, &put, verify.as_ref())
                .await
                .map(|()| size)
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    let (mut n, mut bytes) = (0, 0);
    for r in results {
        bytes += r?;
        n += 1;
    }
    Ok((n, bytes))
}

fn action(remote: &Remote, method: reqwest::Method, a: &Value) -> Result<reqwest::RequestBuilder> {
    let href = a.get("href").and_then(Value::as_str).unwrap_or_default();
    remote
        .targets
        .check_url(href)
        .map_err(|e| upstream(format!("an upload action: {e}")))?;
    let mut req = remote.client.request(method, href);
    if let Some(h) = a.get("header").and_then(Value::as_object) {
        for (k, v) in h {
            if let Some(v) = v.as_str() {
                req = req.header(k, v);
            }
        }
    }
    Ok(req)
}

/// One object's bytes to the remote's upload action, then its verify action if it has one.
async fn send(
    core: &Core,
    repo_id: i64,
    remote: &Remote,
    oid: Oid,
    size: u64,
    put: &Value,
    verify: Option<&Value>,
) -> Result<()> {
    let Some(crate::storage::Read::Found { object, .. }) =
        core.storage.read(repo_id, &oid, None).await?
    else {
        return Err(Error::internal(format!(
            "{oid} is named by a commit but not stored here"
        )));
    };
    let resp = action(remote, reqwest::Method::PUT, put)?
        .header("Content-Length", size.to_string())
        .header("Content-Type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(object.body))
        .send()
        .await
        .map_err(|e| upstream(format!("uploading {oid}: {e}")))?;
    if !resp.status().is_success() {
        return Err(upstream(format!(
            "uploading {oid}: the remote answered {}",
            resp.status()
        )));
    }
    if let Some(v) = verify {
        let resp = action(remote, reqwest::Method::POST, v)?
            .header("Content-Type", "application/vnd.git-lfs+json")
            .body(json!({"oid": oid.to_string(), "size": size}).to_string());
        // Our credentials go to the remote's own LFS host only, and only when the action
        // brings no headers of its own.
        let href = v.get("href").and_then(Value::as_str).unwrap_or_default();
        let same_host = |a: &str, b: &str| {
            let (a, b) = (url::Url::parse(a), url::Url::parse(b));
            matches!((a, b), (Ok(a), Ok(b)) if a.origin() == b.origin())
        };
        let resp = match &remote.auth {
            Some(auth) if v.get("header").is_none() && same_host(href, &remote.lfs) => {
                resp.header("Authorization", &**auth)
            }
            _ => resp,
        };
        let resp = resp
            .send()
            .await
            .map_err(|e| upstream(format!("verifying {oid}: {e}")))?;
        if !resp.status().is_success() {
            return Err(upstream(format!(
                "verifying {oid}: the remote answered {}",
                resp.status()
            )));
        }
    }
    Ok(())
}
