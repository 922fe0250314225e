//! `POST /{ns}/{repo}/info/lfs/objects/batch`: which objects to transfer, and how (`basic`, or
//! `multipart-basic` for uploads to the local disk: resumable parts, then a commit).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use strata_lfs::wire::{
    self, Actions, BatchRequest, BatchResponse, ObjectError, Operation, ResponseObject,
};
use strata_lfs::Oid;

use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::repo_name;
use crate::http::json::{lfs_json, read_json};
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::gate::{self, Decision, Reach};

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
    // Validate every object first, so that one query can look up all the valid ones.
    let checked = req.checked(state.settings.max_object_size);
    let valid: Vec<Oid> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok().map(|(oid, _)| *oid))
        .collect();
    let repo = gate::open(&state, &who, &ns, repo_name(&repo), action, Reach::Objects).await?;
    let transfer = req
        .transfer(state.storage.multipart())
        .map_err(ApiError::unprocessable)?;
    let decisions: std::collections::HashMap<Oid, Decision> = valid
        .iter()
        .copied()
        .zip(repo.objects(&state, &valid, action).await?)
        .collect();

    let mut issuer = state.storage.actions(repo.path(), repo.id);
    // git-lfs uploads need no verify where strata checks them as they stream in; clients
    // written for giftless expect one in every answer.
    let git_lfs = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("git-lfs/"));
    if !git_lfs {
        issuer = issuer.always_verify();
    }
    // New objects past the namespace's quota are refused one by one (507), in the batch's order;
    // those admitted get their room reserved (`strata_core::quotas::admit`).
    let new: Vec<(Oid, u64)> = match req.operation {
        Operation::Upload => checked
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .filter(|(oid, _)| matches!(decisions.get(oid), Some(Decision::Unlinked)))
            .copied()
            .collect(),
        Operation::Download => Vec::new(),
    };
    // Objects erased from the dataset: gone for good (410), neither missing nor uploadable.
    let unlinked: Vec<Oid> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok())
        .filter(|(oid, _)| matches!(decisions.get(oid), Some(Decision::Unlinked)))
        .map(|(oid, _)| *oid)
        .collect();
    let erased = strata_core::erase::erased(&state, repo.id, &unlinked).await?;
    // Admitted objects keep their room until their URLs expire: none for those refused as erased.
    let new: Vec<(Oid, u64)> = new
        .into_iter()
        .filter(|(oid, _)| !erased.contains(oid))
        .collect();
    let admitted: std::collections::HashMap<Oid, Result<(), String>> = new
        .iter()
        .map(|(oid, _)| *oid)
        .zip(strata_core::quotas::admit(&state, &repo, &new).await?)
        .collect();
    let mut part_actions = 0;
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
        let stored = match decisions.get(&oid) {
            Some(Decision::Linked(size)) => Some(*size),
            Some(Decision::Unlinked) => None,
            Some(Decision::Governed) => {
                objects.push(ResponseObject {
                    oid: oid.to_string(),
                    size,
                    authenticated: None,
                    actions: None,
                    error: Some(ObjectError::new(
                        403,
                        format!(
                            "a policy governs this object's data, so its raw bytes are not served: read its table through GET /api/v1/datasets/{}/tables/<resource>, or Arrow Flight",
                            repo.path()
                        ),
                    )),
                });
                continue;
            }
            _ => {
                objects.push(ResponseObject {
                    oid: oid.to_string(),
                    size,
                    authenticated: None,
                    actions: None,
                    error: Some(ObjectError::new(
                        403,
                        "your token does not grant this operation on this object",
                    )),
                });
                continue;
            }
        };
        let mut out = ResponseObject {
            oid: oid.to_string(),
            size,
            authenticated: Some(true),
            actions: None,
            error: None,
        };
        match (req.operation, stored) {
            (_, Some(stored)) if stored != size => {
                out.error = Some(ObjectError::new(
                    422,
                    format!("size {size} does not match the stored object's size {stored}"),
                ));
            }
            (Operation::Download, None) if erased.contains(&oid) => {
                out.error = Some(ObjectError::new(
                    410,
                    "this object was erased from the dataset",
                ))
            }
            (Operation::Download, None) => {
                out.error = Some(ObjectError::new(404, "object does not exist"))
            }
            (Operation::Download, Some(_)) => {
                out.actions = Some(Actions {
                    download: Some(issuer.download(&oid, size).await?),
                    ..Default::default()
                })
            }
            (Operation::Upload, Some(_)) => {} // already here: nothing to do
            (Operation::Upload, None) if erased.contains(&oid) => {
                out.error = Some(ObjectError::new(
                    410,
                    "this object was erased from the dataset and cannot be uploaded to it again",
                ))
            }
            (Operation::Upload, None) if matches!(admitted.get(&oid), Some(Err(_))) => {
                let why = admitted.get(&oid).and_then(|r| r.clone().err());
                out.error = Some(ObjectError::new(507, why.unwrap_or_default()));
            }
            (Operation::Upload, None) if transfer == "multipart-basic" => {
                // One answer hands out at most MAX_PART_ACTIONS part URLs: ask again for more.
                let parts = strata_core::storage::multipart_plan(size).len();
                if part_actions + parts > MAX_PART_ACTIONS {
                    out.error = Some(ObjectError::new(
                        413,
                        "this batch asks for too many parts at once: send fewer objects per batch",
                    ));
                } else {
                    part_actions += parts;
                    out.actions = Some(issuer.multipart(&oid, size).await?)
                }
            }
            (Operation::Upload, None) => out.actions = Some(issuer.upload(&oid, size).await?),
        }
        objects.push(out);
    }
    let given = objects.iter().filter(|o| o.actions.is_some());
    let (count, bytes) = given.fold((0, 0), |(n, b), o| (n + 1, b + o.size));
    let operation = match req.operation {
        Operation::Upload => "upload",
        Operation::Download => "download",
    };
    state.http().metrics.lfs(operation, count, bytes);
    Ok(lfs_json(
        StatusCode::OK,
        &BatchResponse {
            transfer: transfer.into(),
            objects,
            hash_algo: "sha256".into(),
        },
    ))
}

/// The most `multipart-basic` part URLs one batch answer holds.
const MAX_PART_ACTIONS: usize = 10_000;
