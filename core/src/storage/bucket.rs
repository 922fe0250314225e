//! `multipart-basic` uploads to a bucket (S3, Azure): the parts go straight to the bucket through
//! presigned URLs; strata records the upload (`multipart_uploads`, one per dataset and
//! object, so any replica resumes it), lists the parts the bucket holds to answer a resumed batch
//! with the missing ones, completes the upload into a staging key, hashes it, and moves it into
//! place (see `strata_lfs::storage::CloudStore::complete_multipart` for what that costs).

use strata_lfs::storage::{BucketPart, BucketUpload};
use strata_lfs::{CloudStore, Oid, PutError};

use super::multipart::{plan, Part};
use super::{Backend, Storage};
use crate::db::UploadRow;
use crate::error::{Error, Result};

impl Storage {
    /// The bucket, when it takes multipart uploads.
    pub(super) fn bucket(&self) -> Option<&CloudStore> {
        match &self.0.backend {
            Backend::Cloud(cloud) if cloud.takes_multipart() && self.0.sealed.is_none() => {
                Some(cloud)
            }
            _ => None,
        }
    }

    /// The origin a browser sends parts to besides strata's own (a page's CSP allows it).
    pub fn part_origin(&self) -> Option<&str> {
        self.0.part_origin.as_deref()
    }

    /// The upload in progress for an object, with the parts the bucket holds; a new one when
    /// there is none and `start`.
    async fn bucket_upload(
        &self,
        cloud: &CloudStore,
        dataset: i64,
        oid: &Oid,
        size: u64,
        start: bool,
    ) -> Result<Option<(UploadRow, Vec<BucketPart>)>> {
        let db = &self.0.db;
        let scope = dataset.to_string();
        if let Some(row) = db
            .touch_upload(dataset, &oid.to_string(), size as i64)
            .await?
        {
            match cloud.list_parts(oid, &scope, &upload_of(&row)).await? {
                Some(parts) => return Ok(Some((row, parts))),
                // Aborted in the bucket (a lifecycle rule, an operator): forget it.
                None => {
                    db.take_upload(&row).await?;
                }
            }
        }
        if !start {
            return Ok(None);
        }
        let upload = cloud.start_multipart(oid, &scope).await?;
        let row = UploadRow {
            repo_id: dataset,
            oid: oid.to_string(),
            size: size as i64,
            nonce: upload.nonce.clone(),
            upload_id: upload.upload_id.clone(),
        };
        match db.insert_upload(&row).await? {
            Ok(()) => Ok(Some((row, Vec::new()))),
            // A concurrent batch started one first: use that one, drop ours.
            Err(winner) => {
                let _ = cloud.abort_multipart(oid, &scope, &upload).await;
                let parts = cloud
                    .list_parts(oid, &scope, &upload_of(&winner))
                    .await?
                    .unwrap_or_default();
                Ok(Some((winner, parts)))
            }
        }
    }

    /// The parts of an object's bucket upload still missing (starting the upload if need be),
    /// and the upload they belong to.
    pub(super) async fn bucket_missing(
        &self,
        cloud: &CloudStore,
        dataset: i64,
        oid: &Oid,
        size: u64,
    ) -> Result<(BucketUpload, Vec<Part>)> {
        let (row, parts) = self
            .bucket_upload(cloud, dataset, oid, size, true)
            .await?
            .expect("an upload is started when there is none");
        Ok((upload_of(&row), missing(size, &parts)))
    }

    /// Completes an object's bucket upload: every part must be there with its planned size.
    pub(super) async fn bucket_complete(
        &self,
        cloud: &CloudStore,
        dataset: i64,
        oid: &Oid,
        size: u64,
    ) -> Result<()> {
        let Some((row, parts)) = self.bucket_upload(cloud, dataset, oid, size, false).await? else {
            return Err(Error::conflict(
                "no upload of this object is in progress: ask the batch API for one",
            ));
        };
        let gaps = missing(size, &parts);
        if !gaps.is_empty() {
            return Err(super::multipart::missing_error(&gaps));
        }
        // Whoever takes the record completes the upload; a concurrent commit finds it gone.
        if !self.0.db.take_upload(&row).await? {
            return Err(Error::conflict(
                "this upload is being committed already: ask the batch API whether it is done",
            ));
        }
        let planned: Vec<BucketPart> = plan(size)
            .into_iter()
            .filter_map(|(n, ..)| parts.iter().find(|p| p.number == n).cloned())
            .collect();
        let upload = upload_of(&row);
        let scope = dataset.to_string();
        let done = cloud
            .complete_multipart(oid, size, &scope, &upload, &planned)
            .await;
        if let Err(PutError::Store(_) | PutError::PartsChanged(_)) = &done {
            // The bucket or the network failed: if the upload is still open, keep it resumable.
            if let Ok(Some(_)) = cloud.list_parts(oid, &scope, &upload).await {
                let _ = self.0.db.insert_upload(&row).await;
            }
        }
        done.map_err(super::objects::put_error)
    }

    /// Aborts an object's bucket upload, if one is in progress.
    pub(super) async fn bucket_abort(
        &self,
        cloud: &CloudStore,
        dataset: i64,
        oid: &Oid,
        size: u64,
    ) -> Result<()> {
        if let Some(row) = self
            .0
            .db
            .touch_upload(dataset, &oid.to_string(), size as i64)
            .await?
        {
            // Abort in the bucket first: if that fails, the record stays for a retry or the purge.
            cloud
                .abort_multipart(oid, &dataset.to_string(), &upload_of(&row))
                .await?;
            self.0.db.take_upload(&row).await?;
        }
        Ok(())
    }

    /// Aborts bucket uploads nobody touched for `idle`; returns how many. One that fails to abort
    /// stays recorded for the next round.
    pub(super) async fn bucket_purge(
        &self,
        cloud: &CloudStore,
        idle: std::time::Duration,
    ) -> Result<usize> {
        let before = crate::db::now() - idle.as_secs() as i64;
        let mut purged = 0;
        for row in self.0.db.idle_uploads(before, 1000).await? {
            let Ok(oid) = row.oid.parse::<Oid>() else {
                continue;
            };
            // Only if nobody resumed it meanwhile (a batch touches the record).
            if !self.0.db.take_idle_upload(&row, before).await? {
                continue;
            }
            let upload = upload_of(&row);
            if let Err(e) = cloud
                .abort_multipart(&oid, &row.repo_id.to_string(), &upload)
                .await
            {
                tracing::warn!(error = %e, oid = %row.oid, "aborting an idle upload failed");
                let _ = self.0.db.insert_upload(&row).await;
                continue;
            }
            purged += 1;
        }
        Ok(purged)
    }
}

fn upload_of(row: &UploadRow) -> BucketUpload {
    BucketUpload {
        nonce: row.nonce.clone(),
        upload_id: row.upload_id.clone(),
    }
}

/// The planned parts the bucket does not hold with their planned size.
fn missing(size: u64, held: &[BucketPart]) -> Vec<Part> {
    plan(size)
        .into_iter()
        .filter(|(n, _, len)| !held.iter().any(|p| p.number == *n && p.size == *len))
        .collect()
}
