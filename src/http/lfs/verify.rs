//! `POST /{ns}/{repo}/info/lfs/verify`: the client says an upload finished. The checks (the
//! href's signature or the caller's own verify permission, the object in storage with the right
//! size) are `strata_core::datasets::verify`'s.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use strata_lfs::wire::{self, VerifyRequest};
use strata_lfs::Oid;

use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::repo_name;
use crate::http::json::{lfs_json, read_json};
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::datasets::verify::{self, Signature};
use strata_core::storage::Confirmed;

#[derive(Debug, Default, Deserialize)]
pub struct VerifyQuery {
    ds: Option<i64>,
    exp: Option<i64>,
    kid: Option<String>,
    sig: Option<String>,
    nonce: Option<String>,
}

pub async fn verify(
    State(state): State<AppState>,
    Path((ns, repo)): Path<(String, String)>,
    query: Result<Query<VerifyQuery>, axum::extract::rejection::QueryRejection>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let name = repo_name(&repo);
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let req: VerifyRequest = read_json(&headers, body, state.settings.max_json_body).await?;
    let oid: Oid = req
        .oid
        .parse()
        .map_err(|e| ApiError::unprocessable(format!("invalid oid: {e}")))?;
    let size = wire::size_of(&req.size)
        .ok_or_else(|| ApiError::unprocessable("size must be a non-negative integer"))?;

    let signature = Signature {
        dataset: q.ds,
        expires: q.exp,
        kid: q.kid.as_deref(),
        sig: q.sig.as_deref(),
        nonce: q.nonce.as_deref(),
    };
    let confirmed = verify::verify(&state, &who, (&ns, name), &oid, size, signature)
        .await
        .inspect_err(|e| state.http().metrics.count_refusal(e))?;
    if confirmed == Confirmed::NewlyStored {
        tracing::info!(%oid, size, repo = %format!("{ns}/{name}"), "object verified and stored");
    }
    Ok(lfs_json(
        StatusCode::OK,
        &serde_json::json!({ "oid": oid, "size": size }),
    ))
}
