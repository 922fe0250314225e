//! The Git LFS batch API decided (`POST …/info/lfs/objects/batch`): for each object of a batch,
//! its answer, in the batch's order. Each object is checked on its own (a bad oid or size is
//! that object's error), the gate decides them all in one query (linked, not linked, governed,
//! not granted), erased objects are gone for good (410), new uploads past the namespace's quota
//! are refused one by one (507) and the others get their room reserved, and the storage facade
//! hands out the actions (`basic`, or `multipart-basic` on the local disk).
//!
//! May use: erasure (`erase`), quotas, the gates and the storage facade, and the floors below.

use std::collections::HashMap;

use strata_lfs::wire::{
    self, Actions, BatchRequest, BatchResponse, ObjectError, Operation, ResponseObject,
};
use strata_lfs::Oid;

use crate::auth::{Action, Principal};
use crate::datasets::gate::{self, Decision, Reach};
use crate::error::{Error, Result};
use crate::Core;

/// The most `multipart-basic` part URLs one batch answer holds.
const MAX_PART_ACTIONS: usize = 10_000;

/// The answer to batch `req` for dataset `ns/name`, asked by `who`; `git_lfs` when the client is
/// git-lfs itself (it needs no verify action where strata checks uploads as they stream in).
pub async fn answer(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
    req: &BatchRequest,
    git_lfs: bool,
) -> Result<BatchResponse> {
    if req.objects.len() > core.settings.max_batch_objects {
        return Err(Error::too_large(format!(
            "a batch may hold at most {} objects, this one has {}",
            core.settings.max_batch_objects,
            req.objects.len()
        )));
    }
    let action = match req.operation {
        Operation::Download => Action::Read,
        Operation::Upload => Action::Write,
    };
    // Validate every object first, so that one query can look up all the valid ones.
    let checked = req.checked(core.settings.max_object_size);
    let valid: Vec<Oid> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok().map(|(oid, _)| *oid))
        .collect();
    let repo = gate::open(core, who, ns, name, action, Reach::Objects).await?;
    let transfer = req
        .transfer(core.storage.multipart())
        .map_err(Error::unprocessable)?;
    let decisions: HashMap<Oid, Decision> = valid
        .iter()
        .copied()
        .zip(repo.objects(core, &valid, action).await?)
        .collect();

    let mut issuer = core.storage.actions(repo.path(), repo.id);
    // git-lfs uploads need no verify where strata checks them as they stream in; clients
    // written for giftless expect one in every answer.
    if !git_lfs {
        issuer = issuer.always_verify();
    }
    if req.operation == Operation::Download {
        // (Which of them strata reads from chunks: asked once for the whole batch.)
        issuer.know_chunked(&valid).await?;
    }
    // New objects past the namespace's quota are refused one by one (507), in the batch's order;
    // those admitted get their room reserved (`crate::quotas::admit`).
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
    let erased = crate::erase::erased(core, repo.id, &unlinked).await?;
    // Admitted objects keep their room until their URLs expire: none for those refused as erased.
    let new: Vec<(Oid, u64)> = new
        .into_iter()
        .filter(|(oid, _)| !erased.contains(oid))
        .collect();
    let admitted: HashMap<Oid, Result<(), String>> = new
        .iter()
        .map(|(oid, _)| *oid)
        .zip(crate::quotas::admit(core, &repo, &new).await?)
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
                let parts = crate::storage::multipart_plan(size).len();
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
    Ok(BatchResponse {
        transfer: transfer.into(),
        objects,
        hash_algo: "sha256".into(),
    })
}
