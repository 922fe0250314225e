//! `POST /{ns}/{repo}/info/lfs/verify`: the client says an upload finished; strata checks that the
//! object really is in storage with the right size (and, for staged cloud uploads, moves it into
//! place) before the repository may read it. A verify never links an object the caller did not
//! upload through this repository: knowing an oid is not enough.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use strata_lfs::signing::{Grant, SignedOp};
use strata_lfs::wire::{self, VerifyRequest};
use strata_lfs::Oid;

use super::{lfs_json, read_json, repo_name};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::{Action, On, Principal};
use strata_core::datasets::gate::{self, Reach};
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

    // The verify href carries a signature over (verify, repo, oid, size); callers without it need
    // verify permission of their own.
    let path = format!("{ns}/{name}");
    let signed_ok = match (q.ds, q.exp, &q.kid, &q.sig) {
        (Some(dataset), Some(expires), Some(kid), Some(sig)) => state
            .storage
            .check_signature(
                &Grant {
                    op: SignedOp::Verify,
                    repo: &path,
                    dataset,
                    oid,
                    size,
                    expires,
                },
                kid,
                sig,
            )
            .is_ok(),
        _ => false,
    };
    let repo = if signed_ok {
        // The signature names the dataset's row id: not one made again under the same name.
        state
            .db
            .repo_by_path(&ns, name)
            .await?
            .filter(|r| Some(r.id) == q.ds)
            .ok_or_else(|| ApiError::not_found("repository not found"))?
    } else {
        let repo = gate::open(&state, &who, &ns, name, Action::Verify, Reach::Objects).await?;
        if !repo.allows(On::Object(&oid), Action::Verify) {
            return Err(ApiError::forbidden(
                "your token does not grant verify on this object",
            ));
        }
        repo.dataset.repo
    };

    let not_uploaded =
        || strata_core::error::Error::not_found(format!("object {oid} was not uploaded to {path}"));
    let confirmed = state
        .storage
        .confirm_upload(
            repo.id,
            &oid,
            size,
            &repo.id.to_string(),
            q.nonce.as_deref(),
            not_uploaded,
        )
        .await
        .inspect_err(|e| super::count_refusal(&state, e))?;
    if confirmed == Confirmed::NewlyStored {
        tracing::info!(%oid, size, repo = %path, "object verified and stored");
    }
    Ok(lfs_json(
        StatusCode::OK,
        &serde_json::json!({ "oid": oid, "size": size }),
    ))
}
