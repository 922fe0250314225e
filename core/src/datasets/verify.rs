//! The LFS verify step: a client says an upload finished, and the object is linked to the
//! dataset only once storage holds it with the right size (staged cloud uploads are moved into
//! place first). The caller either brings the signature the batch answer put on the verify href
//! (over verify, dataset, oid, size) or holds verify permission on the object itself. A verify
//! never links an object the caller did not upload through this dataset: knowing an oid is not
//! enough.

use strata_lfs::signing::{Grant, SignedOp};
use strata_lfs::Oid;

use crate::auth::{Action, On, Principal};
use crate::datasets::gate::{self, Reach};
use crate::db::Repo;
use crate::error::{Error, Result};
use crate::storage::Confirmed;
use crate::Core;

/// The signature a verify href carries.
#[derive(Debug, Default)]
pub struct Signature<'a> {
    /// The dataset's row id: one deleted and made again under the same name is another.
    pub dataset: Option<i64>,
    pub expires: Option<i64>,
    pub kid: Option<&'a str>,
    pub sig: Option<&'a str>,
    /// The upload's nonce, for staged cloud uploads.
    pub nonce: Option<&'a str>,
}

/// Verifies that `oid` (of `size` bytes) was uploaded to `ns/name` and links it.
pub async fn verify(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
    oid: &Oid,
    size: u64,
    signature: Signature<'_>,
) -> Result<Confirmed> {
    let path = format!("{ns}/{name}");
    let repo = match signed_dataset(core, &path, oid, size, &signature) {
        Some(dataset) => core
            .db
            .repo_by_path(ns, name)
            .await?
            .filter(|r| r.id == dataset)
            .ok_or_else(|| Error::not_found("repository not found"))?,
        None => allowed(core, who, ns, name, oid).await?,
    };
    let not_uploaded = || Error::not_found(format!("object {oid} was not uploaded to {path}"));
    let key = repo.id.to_string();
    core.storage
        .confirm_upload(repo.id, oid, size, &key, signature.nonce, not_uploaded)
        .await
}

/// The dataset id a good signature names, if the href carries one.
fn signed_dataset(core: &Core, path: &str, oid: &Oid, size: u64, s: &Signature<'_>) -> Option<i64> {
    let (Some(dataset), Some(expires), Some(kid), Some(sig)) = (s.dataset, s.expires, s.kid, s.sig)
    else {
        return None;
    };
    let grant = Grant {
        op: SignedOp::Verify,
        repo: path,
        dataset,
        oid: *oid,
        size,
        expires,
    };
    core.storage
        .check_signature(&grant, kid, sig)
        .is_ok()
        .then_some(dataset)
}

/// The dataset, when `who` may verify `oid` in it without a signature.
async fn allowed(core: &Core, who: &Principal, ns: &str, name: &str, oid: &Oid) -> Result<Repo> {
    let repo = gate::open(core, who, ns, name, Action::Verify, Reach::Objects).await?;
    if !repo.allows(On::Object(oid), Action::Verify) {
        return Err(Error::forbidden(
            "your token does not grant verify on this object",
        ));
    }
    Ok(repo.dataset.repo)
}
