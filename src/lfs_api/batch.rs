//! `POST /{ns}/{repo}/info/lfs/objects/batch`: which objects to transfer, and how.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use strata_lfs::signing::{Grant, SignedOp};
use strata_lfs::storage::PutError;
use strata_lfs::wire::{
    self, Action as LfsAction, Actions, BatchRequest, BatchResponse, ObjectError, Operation,
    ResponseObject,
};
use strata_lfs::Oid;

use super::{lfs_json, read_json, repo_name, rfc3339};
use crate::auth::{authorize_repo, Action, Principal};
use crate::db::{now, Repo};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::Storage;

/// Signatures outlive the lifetime their actions announce by this much, so a client that starts a
/// transfer just before `expires_at` is not refused half-way.
pub const SIGNATURE_GRACE_SECS: i64 = 120;

pub async fn batch(
    State(state): State<AppState>,
    Path((ns, repo)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let req: BatchRequest = read_json(&headers, body, state.settings.max_json_body).await?;
    if req.objects.len() > state.settings.max_batch_objects {
        return Err(ApiError::too_large(format!(
            "a batch may hold at most {} objects, this one has {}",
            state.settings.max_batch_objects,
            req.objects.len()
        )));
    }
    let action = match req.operation {
        Operation::Download => Action::Read,
        Operation::Upload => Action::Write,
    };
    let hash_algo_ok = req.hash_algo.as_deref().is_none_or(|h| h == "sha256");
    // Validate every object first, so that one query can look up all the valid ones.
    let mut checked: Vec<Result<(Oid, u64), ObjectError>> = req
        .objects
        .iter()
        .map(|o| {
            if !hash_algo_ok {
                return Err(object_error(
                    409,
                    format!(
                        "hash algorithm {:?} is not supported; use sha256",
                        req.hash_algo.as_deref().unwrap_or("")
                    ),
                ));
            }
            let oid: Oid = o
                .oid
                .parse()
                .map_err(|e| object_error(422, format!("invalid oid: {e}")))?;
            let size = wire::size_of(&o.size)
                .ok_or_else(|| object_error(422, "size must be a non-negative integer"))?;
            let max = state.settings.max_object_size;
            if req.operation == Operation::Upload && max > 0 && size > max {
                return Err(object_error(
                    422,
                    format!("object is larger than this server's limit of {max} bytes"),
                ));
            }
            Ok((oid, size))
        })
        .collect();
    let valid: Vec<Oid> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok().map(|(oid, _)| *oid))
        .collect();
    let repo = authorize_repo(&state, &who, &ns, repo_name(&repo), action).await?;
    if let Some(offered) = &req.transfers {
        if !offered.iter().any(|t| t == "basic") {
            return Err(ApiError::unprocessable(format!("none of the offered transfer adapters {offered:?} is supported; strata supports basic")));
        }
    }
    let linked = state.db.linked_objects(repo.id, &valid).await?;
    // A grant on the whole repository covers each of its objects; only object-scoped tokens need
    // the check per object.
    if !who.can(&repo, None, action) {
        for check in &mut checked {
            if matches!(check, Ok((oid, _)) if !who.can(&repo, Some(oid), action)) {
                *check = Err(object_error(
                    403,
                    "your token does not grant this operation on this object",
                ));
            }
        }
    }

    let issuer = Issuer::new(&state, &repo);
    let mut objects = Vec::with_capacity(req.objects.len());
    for (raw, check) in req.objects.iter().zip(checked) {
        let (oid, size) = match check {
            Ok(pair) => pair,
            Err(error) => {
                let size = wire::size_of(&raw.size).unwrap_or(0);
                objects.push(ResponseObject {
                    oid: raw.oid.clone(),
                    size,
                    authenticated: None,
                    actions: None,
                    error: Some(error),
                });
                continue;
            }
        };
        let stored = linked.get(&oid).copied();
        let mut out = ResponseObject {
            oid: oid.to_string(),
            size,
            authenticated: Some(true),
            actions: None,
            error: None,
        };
        match (req.operation, stored) {
            (_, Some(stored)) if stored != size => {
                out.error = Some(object_error(
                    422,
                    format!("size {size} does not match the stored object's size {stored}"),
                ));
            }
            (Operation::Download, None) => {
                out.error = Some(object_error(404, "object does not exist"))
            }
            (Operation::Download, Some(_)) => {
                out.actions = Some(Actions {
                    download: Some(issuer.download(&oid, size).await?),
                    ..Default::default()
                })
            }
            (Operation::Upload, Some(_)) => {} // already here: nothing to do
            (Operation::Upload, None) => out.actions = Some(issuer.upload(&oid, size).await?),
        }
        objects.push(out);
    }
    Ok(lfs_json(
        StatusCode::OK,
        &BatchResponse {
            transfer: "basic".into(),
            objects,
            hash_algo: "sha256".into(),
        },
    ))
}

fn object_error(code: u16, message: impl Into<String>) -> ObjectError {
    ObjectError {
        code,
        message: message.into(),
    }
}

/// Writes the actions of one batch response: everything they share is computed once.
pub struct Issuer<'a> {
    state: &'a AppState,
    repo: &'a Repo,
    /// `repo.path()`.
    path: String,
    issued: i64,
    ttl: i64,
    /// `issued + ttl` as RFC 3339.
    expires_at: String,
}

impl<'a> Issuer<'a> {
    pub fn new(state: &'a AppState, repo: &'a Repo) -> Issuer<'a> {
        let (issued, ttl) = (now(), state.settings.action_ttl.as_secs() as i64);
        Issuer {
            state,
            repo,
            path: repo.path(),
            issued,
            ttl,
            expires_at: rfc3339(issued + ttl),
        }
    }

    fn action(&self, href: String, header: BTreeMap<String, String>) -> LfsAction {
        LfsAction {
            href,
            header,
            expires_in: self.ttl,
            expires_at: self.expires_at.clone(),
        }
    }

    /// Signs `op` on `oid`, valid a little longer than the announced ttl.
    fn signed_query(&self, op: SignedOp, oid: &Oid, size: u64) -> String {
        let expires = self.issued + self.ttl + SIGNATURE_GRACE_SECS;
        let sig = self.state.signer.sign(&Grant {
            op,
            repo: &self.path,
            oid: *oid,
            size,
            expires,
        });
        format!("size={size}&exp={expires}&kid={}&sig={}", sig.kid, sig.sig)
    }

    /// The local backend's signed transfer URL for `oid`.
    fn transfer_href(&self, op: SignedOp, oid: &Oid, size: u64) -> String {
        format!(
            "{}/_transfer/{}/{oid}?{}",
            self.state.settings.public_url,
            self.path,
            self.signed_query(op, oid, size)
        )
    }

    /// A signed download action for `oid` (the caller checked that it is linked to the repo).
    pub async fn download(&self, oid: &Oid, size: u64) -> ApiResult<LfsAction> {
        match &self.state.storage {
            Storage::Local(_) => {
                let href = self.transfer_href(SignedOp::Download, oid, size);
                Ok(self.action(href, BTreeMap::new()))
            }
            Storage::Cloud(cloud) => {
                let signed = cloud.presign_download(oid, grace_ttl(self.ttl)).await?;
                Ok(self.action(signed.url, signed.headers))
            }
        }
    }

    async fn upload(&self, oid: &Oid, size: u64) -> ApiResult<Actions> {
        let verify_base = format!(
            "{}/{}.git/info/lfs/verify?{}",
            self.state.settings.public_url,
            self.path,
            self.signed_query(SignedOp::Verify, oid, size)
        );
        let (upload, verify_href) = match &self.state.storage {
            Storage::Local(_) => {
                let href = self.transfer_href(SignedOp::Upload, oid, size);
                let header = BTreeMap::from([(
                    "Content-Type".to_owned(),
                    "application/octet-stream".to_owned(),
                )]);
                (self.action(href, header), verify_base)
            }
            Storage::Cloud(cloud) => {
                let (signed, nonce) = cloud
                    .presign_upload(oid, &self.repo.id.to_string(), grace_ttl(self.ttl))
                    .await?;
                (
                    self.action(signed.url, signed.headers),
                    format!("{verify_base}&nonce={nonce}"),
                )
            }
        };
        Ok(Actions {
            upload: Some(upload),
            verify: Some(self.action(verify_href, BTreeMap::new())),
            download: None,
        })
    }
}

fn grace_ttl(ttl: i64) -> std::time::Duration {
    std::time::Duration::from_secs((ttl + SIGNATURE_GRACE_SECS) as u64)
}

/// How an upload that failed verification is reported.
pub fn put_error(e: PutError) -> ApiError {
    match e {
        PutError::TooLong { .. } => ApiError::too_large(e.to_string()),
        PutError::SizeMismatch { .. } | PutError::HashMismatch { .. } | PutError::Unverified(_) => {
            ApiError::unprocessable(e.to_string())
        }
        PutError::Body(_) => ApiError::bad_request(e.to_string()),
        PutError::Store(e) => e.into(),
    }
}
