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

use super::batch::put_error;
use super::{lfs_json, read_json, repo_name};
use crate::auth::{authorize_repo, Action, Principal};
use crate::db::now;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::Storage;

#[derive(Debug, Default, Deserialize)]
pub struct VerifyQuery {
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
    let signed_ok = match (q.exp, &q.kid, &q.sig) {
        (Some(expires), Some(kid), Some(sig)) => {
            let grant = Grant {
                op: SignedOp::Verify,
                repo: &path,
                oid,
                size,
                expires,
            };
            state.signer.verify(&grant, kid, sig, now()).is_ok()
        }
        _ => false,
    };
    let repo = if signed_ok {
        state
            .db
            .repo_by_path(&ns, name)
            .await?
            .ok_or_else(|| ApiError::not_found("repository not found"))?
    } else {
        let repo = authorize_repo(&state, &who, &ns, name, Action::Verify).await?;
        if !who.can(&repo, Some(&oid), Action::Verify) {
            return Err(ApiError::forbidden(
                "your token does not grant verify on this object",
            ));
        }
        repo.repo
    };

    let not_uploaded = || ApiError::not_found(format!("object {oid} was not uploaded to {path}"));
    match &state.storage {
        Storage::Local(store) => {
            // The upload itself linked the object; here we only confirm both halves are present.
            let linked = state.db.linked_objects(repo.id, &[oid]).await?;
            match (linked.get(&oid), store.size(&oid).await?) {
                (Some(_), Some(stored)) if stored == size => {}
                (Some(_), Some(stored)) => {
                    return Err(ApiError::unprocessable(format!(
                        "stored object has {stored} bytes, not {size}"
                    )))
                }
                _ => return Err(not_uploaded()),
            }
        }
        Storage::Cloud(cloud) => {
            let linked = state.db.linked_objects(repo.id, &[oid]).await?;
            if !linked.contains_key(&oid) {
                let nonce = q.nonce.as_deref().ok_or_else(not_uploaded)?;
                if !cloud
                    .finish_upload(&oid, size, &repo.id.to_string(), nonce)
                    .await
                    .map_err(put_error)?
                {
                    return Err(not_uploaded());
                }
                state.db.link_object(repo.id, &oid, size).await?;
                tracing::info!(%oid, size, repo = %path, "object verified and stored");
            }
        }
    }
    Ok(lfs_json(
        StatusCode::OK,
        &serde_json::json!({ "oid": oid, "size": size }),
    ))
}
