//! `multipart-basic` uploads (giftless's transfer adapter) on the local backend: the server cuts
//! the object into parts (at least 16 MiB, at most 10,000 of them), each part goes to its own
//! strata-signed URL and lands in `{root}/parts/{dataset}-{oid}-{size}/{n}` (written to a temporary
//! name and renamed, so a cut-off part never counts), a second batch for the same object sends
//! only the parts still missing (resume), and the commit streams the parts in order through the
//! same hashing as a whole upload: nothing is visible under the oid before all of its bytes hash
//! to it, and a wrong hash throws every part away. Abandoned uploads are purged after a while.
//! An S3 bucket takes the parts itself (`super::bucket`); other buckets answer `basic`.

use std::path::PathBuf;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use strata_lfs::Oid;

use super::{io, Backend, Storage, TempFile};
use crate::error::{Error, Result};

/// The smallest part; objects up to this size are one part.
pub const MIN_PART: u64 = 16 * 1024 * 1024;
/// The most parts an upload is cut into (S3's limit, kept everywhere).
pub const MAX_PARTS: u64 = 10_000;

/// Part `n` (from 1) of an upload: `(n, pos, len)`.
pub type Part = (u32, u64, u64);

/// How an object of `size` bytes is cut: every part but the last is `part_size` bytes.
pub fn plan(size: u64) -> Vec<Part> {
    let part_size = MIN_PART.max(size.div_ceil(MAX_PARTS));
    let count = size.div_ceil(part_size).max(1);
    (0..count)
        .map(|i| {
            let pos = i * part_size;
            (i as u32 + 1, pos, part_size.min(size - pos))
        })
        .collect()
}

impl Storage {
    /// Whether this backend takes `multipart-basic` uploads.
    pub fn multipart(&self) -> bool {
        // Sealed storage takes whole uploads only: parts would wait on disk unsealed.
        self.0.sealed.is_none()
            && (matches!(self.0.backend, Backend::Local(_)) || self.bucket().is_some())
    }

    /// The parts of an upload still to send (all of them for a new upload), and where they go.
    pub(super) async fn pending_parts(
        &self,
        dataset: i64,
        oid: &Oid,
        size: u64,
    ) -> Result<Pending<'_>> {
        match self.bucket() {
            Some(cloud) => {
                let (upload, parts) = self.bucket_missing(cloud, dataset, oid, size).await?;
                Ok(Pending::Bucket(cloud, upload, parts))
            }
            None => Ok(Pending::Local(
                self.missing_parts(dataset, oid, size).await?,
            )),
        }
    }

    fn parts_dir(&self, dataset: i64, oid: &Oid, size: u64) -> Result<PathBuf> {
        match &self.0.backend {
            Backend::Local(store) => Ok(store
                .root()
                .join("parts")
                .join(format!("{dataset}-{oid}-{size}"))),
            Backend::Cloud(_) => Err(Error::unprocessable(
                "this server takes multipart uploads on its local disk only: use basic",
            )),
        }
    }

    /// The parts of a local upload that are not stored yet (all of them for a new upload).
    async fn missing_parts(&self, dataset: i64, oid: &Oid, size: u64) -> Result<Vec<Part>> {
        let dir = self.parts_dir(dataset, oid, size)?;
        // One read of the directory, not one look-up per part.
        let mut stored = std::collections::HashMap::new();
        if let Ok(mut entries) = tokio::fs::read_dir(&dir).await {
            while let Ok(Some(entry)) = entries.next_entry().await {
                let n = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok());
                if let (Some(n), Ok(meta)) = (n, entry.metadata().await) {
                    stored.insert(n, meta.len());
                }
            }
        }
        Ok(plan(size)
            .into_iter()
            .filter(|(n, _, len)| stored.get(n) != Some(len))
            .collect())
    }

    /// Stores part `n` of an upload: exactly its length, or nothing.
    pub async fn receive_part<S, E>(
        &self,
        dataset: i64,
        oid: &Oid,
        size: u64,
        n: u32,
        body: S,
    ) -> Result<()>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let Some((_, _, len)) = plan(size).into_iter().find(|p| p.0 == n) else {
            return Err(Error::not_found(format!("this upload has no part {n}")));
        };
        let dir = self.parts_dir(dataset, oid, size)?;
        tokio::fs::create_dir_all(&dir).await.map_err(io)?;
        let tmp = dir.join(format!("{n}.{}", uuid::Uuid::new_v4().simple()));
        let guard = TempFile::new(tmp.clone());
        // One blocking task writes the chunks as they come (no copy, no buffer of its own), so a
        // part costs a few chunks of memory whatever its size.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(2);
        let writer = tokio::task::spawn_blocking({
            let tmp = tmp.clone();
            move || {
                let mut file = std::fs::File::create(&tmp)?;
                while let Some(chunk) = rx.blocking_recv() {
                    std::io::Write::write_all(&mut file, &chunk)?;
                }
                file.sync_all()
            }
        });
        let mut seen = 0u64;
        let mut body = std::pin::pin!(body);
        let received = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| Error::bad_request(format!("part cut off: {e}")))?;
                seen += chunk.len() as u64;
                if seen > len {
                    return Err(Error::unprocessable(format!(
                        "part {n} has {len} bytes; more were sent"
                    )));
                }
                if tx.send(chunk).await.is_err() {
                    break; // the writer failed: its error is below
                }
            }
            Ok(())
        }
        .await;
        drop(tx);
        let written = writer.await.map_err(|e| io(std::io::Error::other(e)))?;
        received?;
        written.map_err(io)?;
        if seen != len {
            return Err(Error::unprocessable(format!(
                "part {n} has {len} bytes; {seen} were sent"
            )));
        }
        tokio::fs::rename(&tmp, dir.join(n.to_string()))
            .await
            .map_err(io)?;
        guard.keep();
        Ok(())
    }

    /// Assembles an upload whose parts are all stored: streams them in order into the store,
    /// which checks the sha256 and size before anything is visible. A wrong hash throws the parts
    /// away (422); missing parts are a conflict (409) that a new batch resolves. The parts move
    /// aside first, so one commit streams them: a concurrent commit, an abort or the purge finds
    /// nothing to take.
    ///
    /// Then the object is linked to the dataset (a dataset deleted since the URL was signed
    /// refuses the link). A retried commit whose first try linked the object is done: only a link
    /// of this very dataset counts, as an object stored for another one proves nothing about this
    /// caller.
    pub async fn complete_multipart(&self, dataset: i64, oid: &Oid, size: u64) -> Result<()> {
        match self.assemble_multipart(dataset, oid, size).await {
            Ok(()) => {}
            Err(e) if e.kind == crate::error::Kind::Conflict => {
                let linked = self.0.db.linked_objects(dataset, &[*oid]).await?;
                return match linked.get(oid) == Some(&size) {
                    true => Ok(()),
                    false => Err(e),
                };
            }
            Err(e) => return Err(e),
        }
        self.link(dataset, oid, size).await?;
        Ok(())
    }

    async fn assemble_multipart(&self, dataset: i64, oid: &Oid, size: u64) -> Result<()> {
        if let Some(cloud) = self.bucket() {
            return self.bucket_complete(cloud, dataset, oid, size).await;
        }
        let Backend::Local(store) = &self.0.backend else {
            return Err(Error::unprocessable("no multipart uploads here"));
        };
        let missing = self.missing_parts(dataset, oid, size).await?;
        if !missing.is_empty() {
            return Err(missing_error(&missing));
        }
        let parts = self.parts_dir(dataset, oid, size)?;
        let dir = parts.with_extension(format!("committing.{}", uuid::Uuid::new_v4().simple()));
        if tokio::fs::rename(&parts, &dir).await.is_err() {
            return Err(Error::conflict(
                "this upload is being committed already: ask the batch API whether it is done",
            ));
        }
        let files = plan(size)
            .into_iter()
            .map(|(n, ..)| dir.join(n.to_string()))
            .collect();
        let stored = store.assemble(oid, size, files).await;
        use strata_lfs::storage::PutError;
        match &stored {
            // The bytes are not the object: nothing of them is kept.
            Ok(())
            | Err(PutError::HashMismatch { .. })
            | Err(PutError::SizeMismatch { .. })
            | Err(PutError::TooLong { .. }) => {
                let _ = tokio::fs::remove_dir_all(&dir).await;
            }
            // Our side failed (a full disk, a read error): keep the parts for a retried commit.
            Err(_) => {
                let _ = tokio::fs::rename(&dir, &parts).await;
            }
        }
        stored.map_err(super::objects::put_error)
    }

    /// Throws an upload's parts away.
    pub async fn abort_multipart(&self, dataset: i64, oid: &Oid, size: u64) -> Result<()> {
        if let Some(cloud) = self.bucket() {
            return self.bucket_abort(cloud, dataset, oid, size).await;
        }
        let dir = self.parts_dir(dataset, oid, size)?;
        match tokio::fs::remove_dir_all(&dir).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
            _ => Ok(()),
        }
    }

    /// Removes uploads nobody touched for `idle`; returns how many.
    pub async fn purge_multipart(&self, idle: std::time::Duration) -> Result<usize> {
        // `multipart-basic`'s parts (in the bucket, or on the local disk), and staged uploads
        // (`super::staged`).
        let mut purged = match (self.bucket(), &self.0.backend) {
            (Some(cloud), _) => self.bucket_purge(cloud, idle).await?,
            (None, Backend::Local(store)) => {
                purge_idle(&store.root().join("parts"), idle).await?.len()
            }
            (None, Backend::Cloud(_)) => 0,
        };
        for dir in purge_idle(&self.0.staged_root, idle).await? {
            self.0.staging.forget(&dir);
            purged += 1;
        }
        Ok(purged)
    }
}

/// Removes the upload directories under `root` nobody touched for `idle`; returns them.
async fn purge_idle(root: &std::path::Path, idle: std::time::Duration) -> Result<Vec<PathBuf>> {
    let mut entries = match tokio::fs::read_dir(root).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut purged = Vec::new();
    while let Some(entry) = entries.next_entry().await.map_err(io)? {
        let path = entry.path();
        // A commit in progress owns its directory; one left by a crash goes much later.
        let committing = path.to_string_lossy().contains(".committing.");
        let idle = if committing { idle * 7 } else { idle };
        let newest = latest_change(&path).await;
        if newest.is_some_and(|t| t.elapsed().is_ok_and(|age| age > idle))
            && tokio::fs::remove_dir_all(&path).await.is_ok()
        {
            purged.push(path);
        }
    }
    Ok(purged)
}

/// Where the parts still missing go: strata's own part URLs, or an upload in the bucket.
pub(super) enum Pending<'a> {
    Local(Vec<Part>),
    Bucket(
        &'a strata_lfs::CloudStore,
        strata_lfs::storage::BucketUpload,
        Vec<Part>,
    ),
}

/// A commit with parts missing: 409, naming them.
pub(super) fn missing_error(missing: &[Part]) -> Error {
    let numbers: Vec<u32> = missing.iter().map(|p| p.0).collect();
    Error::conflict(format!(
        "parts {numbers:?} are not uploaded: ask the batch API for their URLs"
    ))
    .with_extra(serde_json::json!({ "missing_parts": numbers }))
}

/// The latest modification of a part directory or of any part in it.
async fn latest_change(dir: &std::path::Path) -> Option<std::time::SystemTime> {
    let mut newest = tokio::fs::metadata(dir).await.ok()?.modified().ok()?;
    let mut entries = tokio::fs::read_dir(dir).await.ok()?;
    while let Ok(Some(entry)) = entries.next_entry().await {
        if let Ok(t) = entry.metadata().await.and_then(|m| m.modified()) {
            newest = newest.max(t);
        }
    }
    Some(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_the_object_in_order() {
        assert_eq!(plan(0), vec![(1, 0, 0)]);
        assert_eq!(plan(10), vec![(1, 0, 10)]);
        assert_eq!(plan(MIN_PART), vec![(1, 0, MIN_PART)]);
        assert_eq!(plan(MIN_PART + 1), vec![(1, 0, MIN_PART), (2, MIN_PART, 1)]);
        // Huge objects get bigger parts, never more than MAX_PARTS.
        let huge = plan(5 * 1024 * 1024 * 1024 * 1024);
        assert!(huge.len() as u64 <= MAX_PARTS);
        let total: u64 = huge.iter().map(|p| p.2).sum();
        assert_eq!(total, 5 * 1024 * 1024 * 1024 * 1024);
    }
}
