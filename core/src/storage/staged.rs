//! Staged uploads: the browser's upload to the local disk, hashed by strata while the parts come
//! in, so a person waits for the slower of sending and hashing, not their sum, and the browser
//! hashes nothing. An upload is started with its size (`{root}/staged/{dataset}-{id}/`), its parts
//! are cut as `multipart-basic` cuts them ([`super::multipart::plan`]) and stored each under its
//! number (a temporary name renamed, so a cut-off part never counts); as soon as the next part in
//! order is there it is hashed and appended to `assembled`, then removed. Completing appends what
//! is left, and the assembled file becomes the object under the sha256 it hashed to, linked to
//! the dataset. Parts may come in any order and again (a part already appended is dropped);
//! a new page asks which parts are still missing and sends only those (resume). The hashing state
//! lives in memory; after a restart it is rebuilt by hashing `assembled` once. Idle uploads are
//! purged with `multipart-basic`'s.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use strata_lfs::Oid;

use super::multipart::{plan, Part};
use super::{io, Backend, Storage};
use crate::error::{Error, Result};

/// Where an upload's hashing has got to: parts before `next` are in `assembled`.
#[derive(Default)]
struct Progress {
    /// `0`: not read back yet (a new upload, or the first touch after a restart).
    next: u32,
    hasher: Sha256,
}

/// The hashing state of uploads in progress, by directory. Each upload's is behind an async
/// lock taken before its blocking work starts, so waiting for it holds no thread.
#[derive(Default)]
pub(super) struct Staging(Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<Progress>>>>);

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
    /// Whether uploads may be staged here: the local disk, unsealed (sealed storage takes whole
    /// uploads only, as with `multipart-basic`).
    pub fn stages(&self) -> bool {
        self.0.sealed.is_none() && matches!(self.0.backend, Backend::Local(_))
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
        match &self.0.backend {
            Backend::Local(store) if self.stages() => {
                Ok(store.root().join("staged").join(format!("{dataset}-{id}")))
            }
            _ => Err(Error::unprocessable(
                "this server stages uploads on its local disk only: use the LFS batch API",
            )),
        }
    }

    /// Starts an upload of `size` bytes (at most `limit`) to `dataset`.
    pub async fn stage_start(&self, dataset: i64, size: u64, limit: u64) -> Result<StagedUpload> {
        if size > limit {
            return Err(Error::too_large(format!(
                "this server takes objects of at most {limit} bytes"
            )));
        }
        let id = crate::auth::secrets::random_hex(16);
        let dir = self.staged_dir(dataset, &id)?;
        if let Some(root) = dir.parent() {
            if open_uploads(root, dataset).await >= AT_ONCE {
                return Err(Error::too_many(format!(
                    "this dataset has {AT_ONCE} uploads in progress: finish or cancel one first"
                )));
            }
        }
        tokio::fs::create_dir_all(&dir).await.map_err(io)?;
        tokio::fs::write(dir.join("size"), size.to_string())
            .await
            .map_err(io)?;
        Ok(StagedUpload {
            id,
            size,
            missing: plan(size),
        })
    }

    /// An upload in progress and the parts it still needs (404 for one unknown, finished or
    /// purged).
    pub async fn stage_status(&self, dataset: i64, id: &str) -> Result<StagedUpload> {
        let dir = self.staged_dir(dataset, id)?;
        let size = size_of(&dir).await?;
        let mut held = self.0.staging.hold(&dir).await;
        let missing = run(move || {
            let next = advance(&dir, size, &mut held)?;
            Ok(missing(&dir, size, next))
        })
        .await?;
        Ok(StagedUpload {
            id: id.to_owned(),
            size,
            missing,
        })
    }

    /// Stores part `n` of an upload (exactly its length, or nothing), then hashes what is in order.
    pub async fn stage_part<S, E>(&self, dataset: i64, id: &str, n: u32, body: S) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let dir = self.staged_dir(dataset, id)?;
        let size = size_of(&dir).await?;
        let Some((_, _, len)) = plan(size).into_iter().find(|p| p.0 == n) else {
            return Err(Error::not_found(format!("this upload has no part {n}")));
        };
        let tmp = dir.join(format!("{n}.{}", uuid::Uuid::new_v4().simple()));
        let guard = super::TempFile::new(tmp.clone());
        // The upload finished, or was cancelled or purged, meanwhile: it is gone.
        let mut file = tokio::fs::File::create(&tmp).await.map_err(gone_or_io)?;
        let mut seen = 0u64;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Error::bad_request(format!("part cut off: {e}")))?;
            seen += chunk.len() as u64;
            if seen > len {
                return Err(Error::unprocessable(format!(
                    "part {n} has {len} bytes; more were sent"
                )));
            }
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                .await
                .map_err(io)?;
        }
        if seen != len {
            return Err(Error::unprocessable(format!(
                "part {n} has {len} bytes; {seen} were sent"
            )));
        }
        drop(file);
        tokio::fs::rename(&tmp, dir.join(n.to_string()))
            .await
            .map_err(gone_or_io)?;
        guard.keep();
        let mut held = self.0.staging.hold(&dir).await;
        run(move || advance(&dir, size, &mut held).map(drop)).await
    }

    /// Finishes an upload whose parts are all in: the object under the sha256 its bytes hash to,
    /// linked to `dataset`. Parts missing are a conflict (409) naming them.
    pub async fn stage_complete(&self, dataset: i64, id: &str) -> Result<(Oid, u64)> {
        let Backend::Local(store) = &self.0.backend else {
            return Err(Error::unprocessable("no staged uploads here"));
        };
        let dir = self.staged_dir(dataset, id)?;
        let size = size_of(&dir).await?;
        // Held to the end: a part, a status or another completion waits, then finds it gone.
        let mut held = self.0.staging.hold(&dir).await;
        let at = dir.clone();
        let (oid, held) = run(move || {
            let next = advance(&at, size, &mut held)?;
            let missing = missing(&at, size, next);
            if !missing.is_empty() {
                let numbers: Vec<u32> = missing.iter().map(|p| p.0).collect();
                return Err(Error::conflict(format!(
                    "parts {numbers:?} are not uploaded: send them, then complete again"
                ))
                .with_extra(serde_json::json!({ "missing_parts": numbers })));
            }
            let hex = strata_lfs::lower_hex(&held.hasher.clone().finalize());
            let oid = hex
                .parse::<Oid>()
                .map_err(|_| Error::internal("a sha256 that is no oid"))?;
            Ok((oid, held))
        })
        .await?;
        store
            .adopt(&oid, size, dir.join("assembled"))
            .await
            .map_err(super::objects::put_error)?;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        self.0.staging.forget(&dir);
        drop(held);
        self.0.db.link_object(dataset, &oid, size).await?;
        Ok((oid, size))
    }

    /// Throws an upload away.
    pub async fn stage_abort(&self, dataset: i64, id: &str) -> Result<()> {
        let dir = self.staged_dir(dataset, id)?;
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

/// The parts after `next` (the first not appended) that are not stored whole.
fn missing(dir: &Path, size: u64, next: u32) -> Vec<Part> {
    plan(size)
        .into_iter()
        .filter(|(n, _, len)| {
            *n >= next
                && std::fs::metadata(dir.join(n.to_string()))
                    .map(|m| m.len())
                    .ok()
                    != Some(*len)
        })
        .collect()
}

/// Uploads in progress one dataset may have at once.
const AT_ONCE: usize = 16;

/// The uploads in progress of `dataset` under `root`.
async fn open_uploads(root: &Path, dataset: i64) -> usize {
    let prefix = format!("{dataset}-");
    let Ok(mut entries) = tokio::fs::read_dir(root).await else {
        return 0;
    };
    let mut n = 0;
    while let Ok(Some(e)) = entries.next_entry().await {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            n += 1;
        }
    }
    n
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

/// Appends the parts that are next in order to `assembled`, hashing them; returns the first part
/// not appended yet. The first call after a start or a restart, or after any failure, reads
/// `assembled` back (cut to the last whole part) to rebuild the hash, so the hash never counts
/// bytes the file does not hold.
fn advance(dir: &Path, size: u64, p: &mut Progress) -> Result<u32> {
    let done = append(dir, size, p);
    if done.is_err() {
        p.next = 0;
    }
    done
}

fn append(dir: &Path, size: u64, p: &mut Progress) -> Result<u32> {
    let parts = plan(size);
    let path = dir.join("assembled");
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(gone_or_io)?;
    let mut buf = vec![0; 1024 * 1024];
    if p.next == 0 {
        let have = out.metadata().map_err(io)?.len();
        let whole: Vec<&Part> = parts
            .iter()
            .take_while(|(_, pos, len)| pos + len <= have)
            .collect();
        let keep = whole.last().map_or(0, |(_, pos, len)| pos + len);
        if have != keep {
            out.set_len(keep).map_err(io)?;
        }
        let mut hasher = Sha256::new();
        let mut back = std::fs::File::open(&path).map_err(io)?.take(keep);
        loop {
            let n = back.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        p.hasher = hasher;
        p.next = whole.last().map_or(1, |(n, ..)| n + 1);
    }
    let mut appended = Vec::new();
    while let Some((n, _, len)) = parts.iter().find(|(n, ..)| *n == p.next).copied() {
        let part = dir.join(n.to_string());
        match std::fs::metadata(&part) {
            Ok(m) if m.len() == len => {}
            _ => break,
        }
        let mut file = std::fs::File::open(&part).map_err(io)?;
        loop {
            let read = file.read(&mut buf).map_err(io)?;
            if read == 0 {
                break;
            }
            // Written first, then counted: a failed write leaves the hash as the file is.
            out.write_all(&buf[..read]).map_err(io)?;
            p.hasher.update(&buf[..read]);
        }
        p.next = n + 1;
        appended.push(part);
    }
    if !appended.is_empty() {
        // On disk before the parts go: a crash never leaves holes where parts were.
        out.sync_data().map_err(io)?;
    }
    for part in appended {
        let _ = std::fs::remove_file(part);
    }
    // Parts sent again after they were appended: nothing to keep.
    for (n, ..) in parts.iter().filter(|(n, ..)| *n < p.next) {
        let _ = std::fs::remove_file(dir.join(n.to_string()));
    }
    Ok(p.next)
}
