//! The LFS HTTP API against the real server, one module per area (the batch API, transfers,
//! `multipart-basic`, presigned bucket URLs, quotas (of objects and of bytes kept in git), and
//! the stock `git-lfs`). Every LFS response body is validated against the spec's JSON schemas.
//! The helpers here are shared by the modules. Authentication, locks, per-object errors, signed
//! URLs and link isolation are tested in process, in the API tier (`api/lfs.rs`,
//! `api/transfers.rs`, `api/access.rs`).

mod batch;
pub(crate) mod erase;
mod erase_rows;
mod gc;
mod gc_rules;
mod git_lfs;
pub(crate) mod multipart;
pub(crate) mod multipart_buckets;
mod presigned;
mod quotas;
mod quotas_git;
mod transfers;

use crate::common::*;
use serde_json::{json, Value};
use strata_core::db::Visibility;
use strata_lfs::Oid;

async fn download_href(
    server: &TestServer,
    repo: &str,
    token: Option<&str>,
    oid: &Oid,
    size: usize,
) -> Value {
    let req = json!({"operation": "download", "objects": [{"oid": oid.to_string(), "size": size}]});
    let (status, _, v) = body(lfs_post(&server.batch_url(repo), token, &req).await).await;
    assert_eq!(status, 200, "{v}");
    assert_schema("http-batch-response-schema.json", &v);
    v["objects"][0].clone()
}
