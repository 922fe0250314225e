//! The actions of a batch response: where a client uploads, downloads and (for buckets) verifies
//! an object.
//! The local backend gets strata-signed `/_transfer/…` URLs (HMAC over operation, dataset, oid,
//! size and expiry); a bucket gets presigned URLs, so those bytes never pass through strata
//! (but for an object kept as chunks, which strata reads and serves).

use std::collections::BTreeMap;

use strata_lfs::signing::{Grant, SignError, SignedOp};
use strata_lfs::wire::{Action as LfsAction, Actions as LfsActions, PartAction, RequestAction};
use strata_lfs::Oid;

use super::multipart::Pending;
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
    /// The dataset's row id, signed into every URL.
    dataset: i64,
    /// Staging scope of cloud uploads (the row id as text).
    scope: String,
    issued: i64,
    ttl: i64,
    /// `issued + ttl` as RFC 3339.
    expires_at: String,
    /// Whether uploads that need no confirming get a verify action all the same.
    always_verify: bool,
    /// Objects the dataset keeps as chunks, where downloads otherwise go to a bucket: strata
    /// serves those ([`Actions::know_chunked`]).
    chunked: std::collections::HashSet<Oid>,
}

impl Storage {
    /// The action writer for dataset `path` (row id `repo_id`).
    pub fn actions(&self, path: String, repo_id: i64) -> Actions<'_> {
        let (issued, ttl) = (now(), self.0.action_ttl.as_secs() as i64);
        Actions {
            storage: self,
            path,
            dataset: repo_id,
            scope: repo_id.to_string(),
            issued,
            ttl,
            expires_at: crate::db::rfc3339(issued + ttl),
            always_verify: false,
            chunked: Default::default(),
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

/// A verify action's header: what the call sends, and so a `header` for clients that expect one
/// in every action (giftless's always have one).
fn verify_header() -> BTreeMap<String, String> {
    BTreeMap::from([("Accept".to_owned(), strata_lfs::wire::MEDIA_TYPE.to_owned())])
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
            dataset: self.dataset,
            oid: *oid,
            size,
            expires,
        });
        format!(
            "size={size}&ds={}&exp={expires}&kid={}&sig={}",
            self.dataset, sig.kid, sig.sig
        )
    }

    /// The actions of a `multipart-basic` upload: the parts still missing, each with its own URL
    /// (strata-signed for the local disk, a presigned `UploadPart` for S3), and signed commit and
    /// abort requests to strata. The commit checks the whole object and links it, so there is no
    /// verify action.
    pub async fn multipart(&self, oid: &Oid, size: u64) -> Result<LfsActions> {
        let base = format!(
            "{}/_transfer/{}/{oid}",
            self.storage.0.public_url, self.path
        );
        let part = |(_, pos, len): super::multipart::Part, href: String, header| PartAction {
            href,
            header,
            pos,
            size: len,
            expires_in: self.ttl,
            expires_at: self.expires_at.clone(),
        };
        let parts = match self.storage.pending_parts(self.dataset, oid, size).await? {
            Pending::Local(missing) => missing
                .into_iter()
                .map(|p| {
                    let query = self.signed_query(SignedOp::Part(p.0), oid, size);
                    part(p, format!("{base}/parts/{}?{query}", p.0), BTreeMap::new())
                })
                .collect(),
            Pending::Bucket(cloud, upload, missing) => {
                let mut parts = Vec::with_capacity(missing.len());
                for p in missing {
                    let signed = cloud
                        .presign_part(oid, &self.scope, &upload, p.0, self.grace_ttl())
                        .await?;
                    parts.push(part(p, signed.url, signed.headers));
                }
                parts
            }
        };
        let request = |op: SignedOp, word: &str| RequestAction {
            href: format!("{base}/{word}?{}", self.signed_query(op, oid, size)),
            header: BTreeMap::new(),
            method: "POST".into(),
            expires_in: self.ttl,
            expires_at: self.expires_at.clone(),
        };
        Ok(LfsActions {
            parts: Some(parts),
            commit: Some(request(SignedOp::Commit, "commit")),
            abort: Some(request(SignedOp::Abort, "abort")),
            ..Default::default()
        })
    }

    /// strata's own signed URL to bytes `start..=end` of `oid` (`size` bytes): a range of a
    /// xorb, which a Xet client fetches with no other credential. The signature covers the range.
    pub fn range_href(&self, oid: &Oid, size: u64, (start, end): (u64, u64)) -> String {
        format!(
            "{}/_transfer/{}/{oid}/range?{}&r={start}-{end}",
            self.storage.0.public_url,
            self.path,
            self.signed_query(SignedOp::Range(start, end), oid, size)
        )
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
        self.storage.url_lifetime()
    }

    /// Learns which of `oids` (to be downloaded) the dataset keeps as chunks, or adopted by
    /// reference from an import source, where downloads otherwise go to a bucket straight: their
    /// actions are strata's, which reads the chunks or the source (checking it did not change).
    pub async fn know_chunked(&mut self, oids: &[Oid]) -> Result<()> {
        if self.storage.presigns_downloads() {
            let db = &self.storage.0.db;
            self.chunked = db.xet_chunked_among(self.dataset, oids).await?;
            self.chunked.extend(db.referenced_among(oids).await?);
        }
        Ok(())
    }

    /// A download action for `oid`; the caller passed the read gate (the object is linked).
    /// Call [`Actions::know_chunked`] first.
    pub async fn download(&self, oid: &Oid, size: u64) -> Result<LfsAction> {
        match &self.storage.0.backend {
            // The empty object is in no bucket, and an object kept as chunks is read from them:
            // strata serves those on any backend.
            Backend::Cloud(cloud)
                if *oid != Oid::EMPTY && !self.storage.sealed() && !self.chunked.contains(oid) =>
            {
                let signed = cloud.presign_download(oid, self.grace_ttl()).await?;
                Ok(self.action(signed.url, signed.headers))
            }
            _ => {
                let href = self.transfer_href(SignedOp::Download, oid, size);
                Ok(self.action(href, BTreeMap::new()))
            }
        }
    }

    /// Verify actions for every upload: clients written for giftless (`ckan-client`) call the
    /// verify action they expect in every answer. git-lfs does not need one where strata checks
    /// the bytes as they stream in, and is spared the extra request.
    pub fn always_verify(mut self) -> Self {
        self.always_verify = true;
        self
    }

    /// The upload action for `oid`, and a verify action where the upload needs confirming; the
    /// caller passed the write gate. A local upload is checked against its oid and linked while
    /// it streams, so it has nothing to verify (one request per object, not two); a bucket upload
    /// is staged, and the signed verify call hashes it and moves it into place.
    pub async fn upload(&self, oid: &Oid, size: u64) -> Result<LfsActions> {
        match &self.storage.0.backend {
            Backend::Cloud(cloud) if !self.storage.receives_uploads() => {
                let (signed, nonce) = cloud
                    .presign_upload(oid, &self.scope, self.grace_ttl())
                    .await?;
                let verify = format!(
                    "{}/{}.git/info/lfs/verify?{}&nonce={nonce}",
                    self.storage.0.public_url,
                    self.path,
                    self.signed_query(SignedOp::Verify, oid, size)
                );
                Ok(LfsActions {
                    upload: Some(self.action(signed.url, signed.headers)),
                    verify: Some(self.action(verify, verify_header())),
                    ..Default::default()
                })
            }
            // The local disk, and sealed stores: bytes pass through strata.
            _ => {
                let href = self.transfer_href(SignedOp::Upload, oid, size);
                let header = BTreeMap::from([(
                    "Content-Type".to_owned(),
                    "application/octet-stream".to_owned(),
                )]);
                let verify = self.always_verify.then(|| {
                    let href = format!(
                        "{}/{}.git/info/lfs/verify?{}",
                        self.storage.0.public_url,
                        self.path,
                        self.signed_query(SignedOp::Verify, oid, size)
                    );
                    self.action(href, verify_header())
                });
                Ok(LfsActions {
                    upload: Some(self.action(href, header)),
                    verify,
                    ..Default::default()
                })
            }
        }
    }
}
