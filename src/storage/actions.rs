//! The actions of a batch response: where a client uploads, downloads and verifies an object.
//! The local backend gets strata-signed `/_transfer/…` URLs (HMAC over operation, dataset, oid,
//! size and expiry); a bucket gets presigned URLs, so bytes never pass through strata.

use std::collections::BTreeMap;

use strata_lfs::signing::{Grant, SignError, SignedOp};
use strata_lfs::wire::{Action as LfsAction, Actions as LfsActions};
use strata_lfs::Oid;

use super::{Backend, Storage};
use crate::db::now;
use crate::error::Result;

/// Signatures outlive the lifetime their actions announce by this much, so a client that starts a
/// transfer just before `expires_at` is not refused half-way.
pub const SIGNATURE_GRACE_SECS: i64 = 120;

/// Writes the actions of one batch response for one dataset: what they share is computed once.
pub struct Actions<'a> {
    storage: &'a Storage,
    /// `{ns}/{name}` of the dataset.
    path: String,
    /// Staging scope of cloud uploads (the dataset's row id).
    scope: String,
    issued: i64,
    ttl: i64,
    /// `issued + ttl` as RFC 3339.
    expires_at: String,
}

impl Storage {
    /// The action writer for dataset `path` (row id `repo_id`).
    pub fn actions(&self, path: String, repo_id: i64) -> Actions<'_> {
        let (issued, ttl) = (now(), self.0.action_ttl.as_secs() as i64);
        Actions {
            storage: self,
            path,
            scope: repo_id.to_string(),
            issued,
            ttl,
            expires_at: crate::db::rfc3339(issued + ttl),
        }
    }

    /// Checks a strata-signed URL's signature (`kid`, `sig`) over `grant`.
    pub fn check_signature(
        &self,
        grant: &Grant<'_>,
        kid: &str,
        sig: &str,
    ) -> Result<(), SignError> {
        self.0.signer.verify(grant, kid, sig, now())
    }
}

impl Actions<'_> {
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
        let sig = self.storage.0.signer.sign(&Grant {
            op,
            repo: &self.path,
            oid: *oid,
            size,
            expires,
        });
        format!("size={size}&exp={expires}&kid={}&sig={}", sig.kid, sig.sig)
    }

    /// strata's own signed transfer URL for `oid`.
    fn transfer_href(&self, op: SignedOp, oid: &Oid, size: u64) -> String {
        format!(
            "{}/_transfer/{}/{oid}?{}",
            self.storage.0.public_url,
            self.path,
            self.signed_query(op, oid, size)
        )
    }

    fn grace_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs((self.ttl + SIGNATURE_GRACE_SECS) as u64)
    }

    /// A download action for `oid`; the caller passed the read gate (the object is linked).
    pub async fn download(&self, oid: &Oid, size: u64) -> Result<LfsAction> {
        match &self.storage.0.backend {
            // The empty object is in no bucket: strata serves it on any backend.
            Backend::Cloud(cloud) if *oid != Oid::EMPTY => {
                let signed = cloud.presign_download(oid, self.grace_ttl()).await?;
                Ok(self.action(signed.url, signed.headers))
            }
            _ => {
                let href = self.transfer_href(SignedOp::Download, oid, size);
                Ok(self.action(href, BTreeMap::new()))
            }
        }
    }

    /// Upload and verify actions for `oid`; the caller passed the write gate.
    pub async fn upload(&self, oid: &Oid, size: u64) -> Result<LfsActions> {
        let verify_base = format!(
            "{}/{}.git/info/lfs/verify?{}",
            self.storage.0.public_url,
            self.path,
            self.signed_query(SignedOp::Verify, oid, size)
        );
        let (upload, verify_href) = match &self.storage.0.backend {
            Backend::Local(_) => {
                let href = self.transfer_href(SignedOp::Upload, oid, size);
                let header = BTreeMap::from([(
                    "Content-Type".to_owned(),
                    "application/octet-stream".to_owned(),
                )]);
                (self.action(href, header), verify_base)
            }
            Backend::Cloud(cloud) => {
                let (signed, nonce) = cloud
                    .presign_upload(oid, &self.scope, self.grace_ttl())
                    .await?;
                (
                    self.action(signed.url, signed.headers),
                    format!("{verify_base}&nonce={nonce}"),
                )
            }
        };
        Ok(LfsActions {
            upload: Some(upload),
            verify: Some(self.action(verify_href, BTreeMap::new())),
            download: None,
        })
    }
}
