//! Staged uploads: the browser's upload through strata, hashed by strata while the parts come
//! in, so a person waits for the slower of sending and hashing, not their sum, and the browser
//! hashes nothing. An upload is started with its size (`{staged}/{dataset}-{id}/`, beside the
//! objects on the local disk, in the data directory for a bucket, on the volume replicas share).
//! Its parts are cut as `multipart-basic` cuts them ([`super::multipart::plan`]); each request
//! streams its part into a file of its own (`part.{n}.{token}`: memory a chunk, no thread held by
//! a slow sender), syncs it and links it as `part.{n}`, which only the first writer of a part
//! can make: a part is never written over once it is in, so what was hashed stays what is stored,
//! whichever replica a request lands on. An upload is its starter's alone; starts are counted and
//! bounded (per dataset and per person) under one lock, parts in flight per upload too. As soon
//! as the next part in order is in it is read back and hashed, after the part's answer; completing hashes what is left,
//! and the parts become the object under the sha256 they hash to (on the disk written into one
//! file as they are hashed, moved into place on completion; on a bucket sent to the object's key in one upload, visible when
//! it completes), linked to the dataset. Parts may come in any order; a part sent again once in
//! is taken as delivered, and one this replica is still writing answers 409. A new page asks
//! which parts are missing and sends only those (resume). The hashing state lives in memory;
//! after a restart, on another replica, or after any failure, it is rebuilt from the parts in.
//! Idle uploads are purged with `multipart-basic`'s. Sealed storage stages nothing (parts would
//! wait unsealed).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use strata_lfs::Oid;

use super::multipart::{plan, Part};
use super::{io, Backend, Storage};
use crate::error::{Error, Result};

/// Where an upload's hashing has got to: the parts before `next` are hashed.
#[derive(Default)]
struct Progress {
    /// `0`: not read back yet (a new upload, or the first touch after a restart or a failure).
    next: u32,
    hasher: Sha256,
    /// Parts being written now, each taken out by its [`Sending`] guard when its request ends
    /// however it ends (a request cut off is dropped mid-write, and its part may be sent again).
    writing: Arc<Mutex<std::collections::HashSet<u32>>>,
}

impl Progress {
    fn writing(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<u32>> {
        self.writing.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A part being written here: out of [`Progress::writing`] when dropped.
struct Sending(Arc<Mutex<std::collections::HashSet<u32>>>, u32);

impl Drop for Sending {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.1);
    }
}

/// A writer's own file for a part, removed when dropped (linked as the part, or abandoned).
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Part `n`'s file once it is in.
fn part_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("part.{n}"))
}

/// The hashing state of uploads in progress, by directory. Each upload's is behind an async
/// lock taken before its blocking work starts, so waiting for it holds no thread. Starts take
/// turns (the second lock), so two at once cannot both pass the count of uploads in progress.
#[derive(Default)]
pub(super) struct Staging(
    Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<Progress>>>>,
    tokio::sync::Mutex<()>,
);

type Held = tokio::sync::OwnedMutexGuard<Progress>;

impl std::fmt::Debug for Staging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Staging")
    }
}

impl Staging {
    /// The upload's state, locked for this caller.
    async fn hold(&self, dir: &Path) -> Held {
        let progress = {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(dir.to_owned()).or_default().clone()
        };
        progress.lock_owned().await
    }

    pub(super) fn forget(&self, dir: &Path) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(dir);
    }
}

/// An upload in progress: its size and the parts it still needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedUpload {
    pub id: String,
    pub size: u64,
    pub missing: Vec<Part>,
}

impl Storage {
    /// Whether uploads may be staged here: any backend, unsealed (sealed storage takes whole
    /// uploads only, as with `multipart-basic`).
    pub fn stages(&self) -> bool {
        self.0.sealed.is_none()
    }

    /// Whether hashing also writes the object (on the disk; a bucket is sent the parts).
    fn assembles(&self) -> bool {
        matches!(self.0.backend, Backend::Local(_))
    }

    fn staged_dir(&self, dataset: i64, id: &str) -> Result<PathBuf> {
        let gone = || Error::not_found("no such upload: start it again");
        if id.len() != 32
            || !id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(gone());
        }
        if !self.stages() {
            return Err(Error::unprocessable(
                "this server's storage is sealed and takes whole uploads only: use the LFS batch API",
            ));
        }
        Ok(self.0.staged_root.join(format!("{dataset}-{id}")))
    }

    /// Starts an upload of `size` bytes (at most `limit`) to `dataset` for `owner` (a
    /// [`crate::auth::Principal::key`]): only they send its parts, see it, complete or cancel it.
    pub async fn stage_start(
        &self,
        dataset: i64,
        owner: &str,
        size: u64,
        limit: u64,
    ) -> Result<StagedUpload> {
        if i64::try_from(size).is_err() {
            return Err(Error::unprocessable(format!(
                "size must be a byte count of at most {}",
                i64::MAX
            )));
        }
        let limit = limit.min(MAX_STAGED);
        if size > limit {
            return Err(Error::too_large(format!(
                "this server takes objects of at most {limit} bytes"
            )));
        }
        let id = crate::auth::secrets::random_hex(16);
        let dir = self.staged_dir(dataset, &id)?;
        let _turn = self.0.staging.1.lock().await;
        if let Some(root) = dir.parent() {
            let (all, theirs) = open_uploads(root, dataset, owner).await;
            if all >= AT_ONCE {
                return Err(Error::too_many(format!(
                    "this dataset has {AT_ONCE} uploads in progress: finish or cancel one first"
                )));
            }
            if theirs >= AT_ONCE_EACH {
                return Err(Error::too_many(format!(
                    "you have {AT_ONCE_EACH} uploads in progress here: finish or cancel one first"
                )));
            }
        }
        let made = async {
            tokio::fs::create_dir_all(&dir).await?;
            tokio::fs::write(dir.join("owner"), owner).await?;
            tokio::fs::write(dir.join("size"), size.to_string()).await?;
            // Sparse, no block used: proof the filesystem takes a file this size (413 if not);
            // on the disk, the parts are written into it as they are hashed.
            let assembled = tokio::fs::File::create(dir.join("assembled")).await?;
            assembled.set_len(size).await
        }
        .await;
        if let Err(e) = made {
            // Nothing half made stays behind to count against the dataset.
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return Err(match e.kind() {
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::FileTooLarge => {
                    Error::too_large("this disk cannot hold a file of that size")
                }
                _ => io(e),
            });
        }
        Ok(StagedUpload {
            id,
            size,
            missing: plan(size),
        })
    }

    /// An upload in progress and the parts it still needs (404 for one unknown, finished or
    /// purged).
    pub async fn stage_status(&self, dataset: i64, owner: &str, id: &str) -> Result<StagedUpload> {
        let dir = self.staged_dir(dataset, id)?;
        let size = opened(&dir, owner).await?;
        let mut held = self.0.staging.hold(&dir).await;
        let into = self.assembles();
        let missing = run(move || {
            let next = advance(&dir, size, into, &mut held)?;
            Ok(missing(&dir, size, next))
        })
        .await?;
        Ok(StagedUpload {
            id: id.to_owned(),
            size,
            missing,
        })
    }

    /// Writes part `n` of an upload (exactly its length, or it stays missing) into a file of its
    /// own, links it as the part unless another writer's is in first, then hashes what is in, in
    /// order. A part in already is taken as delivered; one this replica is writing answers 409.
    pub async fn stage_part<S, E>(
        &self,
        dataset: i64,
        owner: &str,
        (id, n): (&str, u32),
        body: S,
    ) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let dir = self.staged_dir(dataset, id)?;
        let size = opened(&dir, owner).await?;
        let Some((_, _, len)) = plan(size).into_iter().find(|p| p.0 == n) else {
            return Err(Error::not_found(format!("this upload has no part {n}")));
        };
        let sending = {
            let held = self.0.staging.hold(&dir).await;
            if held.writing().contains(&n) {
                return Err(Error::conflict(format!("part {n} is being sent already")));
            }
            if held.writing().len() >= PARTS_AT_ONCE {
                return Err(Error::too_many(format!(
                    "at most {PARTS_AT_ONCE} parts of an upload at once"
                )));
            }
            if tokio::fs::try_exists(part_path(&dir, n))
                .await
                .unwrap_or(false)
            {
                return Ok(()); // in before: its answer was lost on the way
            }
            held.writing().insert(n);
            Sending(held.writing.clone(), n)
        };
        let own = Partial(dir.join(format!("part.{n}.{}", crate::auth::secrets::random_hex(8))));
        write_part(&own.0, len, body).await?;
        // Only the first writer's file becomes the part: a part is never written over.
        match tokio::fs::hard_link(&own.0, part_path(&dir, n)).await {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                drop(sending);
                if !tokio::fs::try_exists(&dir).await.unwrap_or(true) {
                    // Completed, cancelled or purged meanwhile: its state is not kept again.
                    self.0.staging.forget(&dir);
                }
                return Err(gone_or_io(e));
            }
            _ => {}
        }
        drop(own);
        drop(sending);
        // Hashed (and on the disk written into the object) after the answer, so the sender's
        // next part does not wait for it; completing waits, and hashes what is left.
        let (storage, into) = (self.clone(), self.assembles());
        tokio::spawn(async move {
            let mut held = storage.0.staging.hold(&dir).await;
            let at = dir.clone();
            if let Err(e) = run(move || advance(&at, size, into, &mut held).map(drop)).await {
                tracing::debug!(error = %e.message, "hashing an upload's parts");
                if !dir.exists() {
                    // Completed, cancelled or purged meanwhile: its state is not kept again.
                    storage.0.staging.forget(&dir);
                }
            }
        });
        Ok(())
    }

    /// Finishes an upload whose parts are all in: the object under the sha256 its bytes hash to,
    /// linked to `dataset`. Parts missing are a conflict (409) naming them.
    pub async fn stage_complete(&self, dataset: i64, owner: &str, id: &str) -> Result<(Oid, u64)> {
        let dir = self.staged_dir(dataset, id)?;
        let size = opened(&dir, owner).await?;
        // Held to the end: a part, a status or another completion waits, then finds it gone.
        let mut held = self.0.staging.hold(&dir).await;
        let at = dir.clone();
        let into = self.assembles();
        let (oid, held) = run(move || {
            let next = advance(&at, size, into, &mut held)?;
            let missing = missing(&at, size, next);
            if !missing.is_empty() {
                let numbers: Vec<u32> = missing.iter().map(|p| p.0).collect();
                return Err(Error::conflict(format!(
                    "parts {numbers:?} are not uploaded: send them, then complete again"
                ))
                .with_extra(serde_json::json!({ "missing_parts": numbers })));
            }
            if next as usize != plan(size).len() + 1 {
                return Err(Error::internal(
                    "an upload's parts are in but not all hashed",
                ));
            }
            let hex = strata_lfs::lower_hex(&held.hasher.clone().finalize());
            let oid = hex
                .parse::<Oid>()
                .map_err(|_| Error::internal("a sha256 that is no oid"))?;
            Ok((oid, held))
        })
        .await?;
        match &self.0.backend {
            Backend::Local(store) => {
                // Written part by part as they were hashed, each synced: the object is made.
                let assembled = dir.join("assembled");
                let file = assembled.clone();
                run(move || {
                    std::fs::File::open(file)
                        .and_then(|f| f.sync_all())
                        .map_err(io)
                })
                .await?;
                store
                    .adopt(&oid, size, assembled)
                    .await
                    .map_err(super::objects::put_error)?;
            }
            Backend::Cloud(cloud) => {
                // The parts, in order: the bytes hashed (a part in is never written again).
                if cloud.size(&oid).await? != Some(size) {
                    use futures_util::TryStreamExt;
                    let parts: Vec<PathBuf> =
                        plan(size).iter().map(|p| part_path(&dir, p.0)).collect();
                    let body = futures_util::stream::iter(parts)
                        .then(|part| async move {
                            let file = tokio::fs::File::open(part).await?;
                            Ok::<_, std::io::Error>(tokio_util::io::ReaderStream::with_capacity(
                                file,
                                1024 * 1024,
                            ))
                        })
                        .try_flatten();
                    cloud
                        .put_sized(&oid, size, body)
                        .await
                        .map_err(super::objects::put_error)?;
                }
            }
        }
        let _ = tokio::fs::remove_dir_all(&dir).await;
        self.0.staging.forget(&dir);
        drop(held);
        self.link(dataset, &oid, size).await?;
        Ok((oid, size))
    }

    /// Throws an upload away.
    pub async fn stage_abort(&self, dataset: i64, owner: &str, id: &str) -> Result<()> {
        let dir = self.staged_dir(dataset, id)?;
        opened(&dir, owner).await?;
        let held = self.0.staging.hold(&dir).await;
        let removed = tokio::fs::remove_dir_all(&dir).await;
        self.0.staging.forget(&dir);
        drop(held);
        match removed {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::not_found("no such upload"))
            }
            other => other.map_err(io),
        }
    }
}

/// The parts after `next` (the first not hashed) that are not in.
fn missing(dir: &Path, size: u64, next: u32) -> Vec<Part> {
    plan(size)
        .into_iter()
        .filter(|(n, ..)| *n >= next && !part_path(dir, *n).exists())
        .collect()
}

/// Streams `body` into a new file at `path`, exactly `len` bytes, synced. Each chunk is written
/// as it comes (a short blocking write each), so a part costs a chunk of memory whatever its size
/// and a slow sender holds no thread.
async fn write_part<S, E>(path: &Path, len: u64, body: S) -> Result<()>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: std::fmt::Display,
{
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .await
        .map_err(gone_or_io)?;
    let mut seen = 0u64;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Error::bad_request(format!("part cut off: {e}")))?;
        seen += chunk.len() as u64;
        if seen > len {
            return Err(Error::unprocessable(format!(
                "this part has {len} bytes; more were sent"
            )));
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    if seen != len {
        return Err(Error::unprocessable(format!(
            "this part has {len} bytes; {seen} were sent"
        )));
    }
    file.flush().await.map_err(io)?;
    file.sync_data().await.map_err(io)
}

/// Uploads in progress one dataset may have at once, and one person in one dataset.
const AT_ONCE: usize = 16;
const AT_ONCE_EACH: usize = 8;
/// Parts of one upload written at once (the page sends 4).
const PARTS_AT_ONCE: usize = 8;
/// The largest staged upload whatever the server's limit (1 TiB).
const MAX_STAGED: u64 = 1 << 40;

/// The uploads in progress of `dataset` under `root`: all of them, and `owner`'s.
async fn open_uploads(root: &Path, dataset: i64, owner: &str) -> (usize, usize) {
    let prefix = format!("{dataset}-");
    let Ok(mut entries) = tokio::fs::read_dir(root).await else {
        return (0, 0);
    };
    let (mut all, mut theirs) = (0, 0);
    while let Ok(Some(e)) = entries.next_entry().await {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            all += 1;
            let by = tokio::fs::read_to_string(e.path().join("owner")).await;
            theirs += usize::from(by.is_ok_and(|by| by == owner));
        }
    }
    (all, theirs)
}

/// The size of an upload `owner` started (another's answers as missing: 404).
async fn opened(dir: &Path, owner: &str) -> Result<u64> {
    let size = size_of(dir).await?;
    match tokio::fs::read_to_string(dir.join("owner")).await {
        Ok(by) if by == owner => Ok(size),
        // Started before uploads named their owner.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(size),
        _ => Err(Error::not_found("no such upload: start it again")),
    }
}

/// A file of an upload's directory that cannot be made: the upload is gone (404), or the disk
/// failed.
fn gone_or_io(e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::not_found("no such upload: start it again"),
        _ => io(e),
    }
}

async fn size_of(dir: &Path) -> Result<u64> {
    let text = match tokio::fs::read_to_string(dir.join("size")).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::not_found("no such upload: start it again"))
        }
        Err(e) => return Err(io(e)),
    };
    text.trim()
        .parse()
        .map_err(|_| Error::internal("an upload's size file is damaged"))
}

async fn run<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
}

/// Hashes the parts that are done, next in order; returns the first part not hashed yet. The
/// first call after a start or a restart, or after any failure, hashes from the first part again,
/// so the hash only ever counts bytes of parts that are in.
fn advance(dir: &Path, size: u64, into: bool, p: &mut Progress) -> Result<u32> {
    let done = hash_done(dir, size, into, p);
    if done.is_err() {
        p.next = 0;
    }
    done
}

/// With `into`, each part hashed is also written at its place in the upload's `assembled` file
/// and synced (the object on the disk, made as the parts come: the same bytes, read once; a part
/// written again after a restart is the same bytes at the same place).
fn hash_done(dir: &Path, size: u64, into: bool, p: &mut Progress) -> Result<u32> {
    use std::io::Read;
    use std::os::unix::fs::FileExt;
    if p.next == 0 {
        p.hasher = Sha256::new();
        p.next = 1;
    }
    let mut buf = vec![0; 1024 * 1024];
    let from = p.next;
    let mut out = None;
    for (n, at, len) in plan(size).into_iter().filter(|(n, ..)| *n >= from) {
        let file = match std::fs::File::open(part_path(dir, n)) {
            Ok(f) if n == p.next => f,
            _ => break,
        };
        if file.metadata().map_err(io)?.len() != len {
            return Err(Error::internal(format!(
                "part {n} of an upload has the wrong size"
            )));
        }
        if into && out.is_none() {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("assembled"));
            out = Some(file.map_err(gone_or_io)?);
        }
        let mut file = file;
        let mut left = len;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            file.read_exact(&mut buf[..want]).map_err(io)?;
            p.hasher.update(&buf[..want]);
            if let Some(out) = &out {
                out.write_all_at(&buf[..want], at + (len - left))
                    .map_err(io)?;
            }
            left -= want as u64;
        }
        if let Some(out) = &out {
            out.sync_data().map_err(io)?;
        }
        p.next = n + 1;
    }
    Ok(p.next)
}
