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

/// The hashing state of uploads in progress, by directory.
#[derive(Default)]
pub(super) struct Staging(Mutex<HashMap<PathBuf, Arc<Mutex<Progress>>>>);

impl std::fmt::Debug for Staging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Staging")
    }
}

impl Staging {
    fn of(&self, dir: &Path) -> Arc<Mutex<Progress>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(dir.to_owned()).or_default().clone()
    }

    fn forget(&self, dir: &Path) {
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
        let progress = self.0.staging.of(&dir);
        let missing = run(move || {
            let next = advance(&dir, size, &progress)?;
            Ok(plan(size)
                .into_iter()
                .filter(|(n, _, len)| {
                    *n >= next
                        && std::fs::metadata(dir.join(n.to_string()))
                            .map(|m| m.len())
                            .ok()
                            != Some(*len)
                })
                .collect())
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
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
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
            .map_err(io)?;
        guard.keep();
        let progress = self.0.staging.of(&dir);
        run(move || advance(&dir, size, &progress).map(drop)).await
    }

    /// Finishes an upload whose parts are all in: the object under the sha256 its bytes hash to,
    /// linked to `dataset`. Parts missing are a conflict (409) naming them.
    pub async fn stage_complete(&self, dataset: i64, id: &str) -> Result<(Oid, u64)> {
        let Backend::Local(store) = &self.0.backend else {
            return Err(Error::unprocessable("no staged uploads here"));
        };
        let dir = self.staged_dir(dataset, id)?;
        let size = size_of(&dir).await?;
        let progress = self.0.staging.of(&dir);
        let (at, finished) = (dir.clone(), progress.clone());
        let oid = run(move || {
            let next = advance(&at, size, &finished)?;
            let parts = plan(size);
            let missing: Vec<Part> = parts.into_iter().filter(|p| p.0 >= next).collect();
            if !missing.is_empty() {
                return Err(super::multipart::missing_error(&missing));
            }
            let p = finished.lock().unwrap_or_else(|e| e.into_inner());
            let hex = strata_lfs::lower_hex(&p.hasher.clone().finalize());
            std::fs::File::open(at.join("assembled"))
                .and_then(|f| f.sync_all())
                .map_err(io)?;
            hex.parse::<Oid>()
                .map_err(|_| Error::internal("a sha256 that is no oid"))
        })
        .await?;
        store
            .adopt(&oid, size, dir.join("assembled"))
            .await
            .map_err(super::objects::put_error)?;
        self.0.staging.forget(&dir);
        let _ = tokio::fs::remove_dir_all(&dir).await;
        self.0.db.link_object(dataset, &oid, size).await?;
        Ok((oid, size))
    }

    /// Throws an upload away.
    pub async fn stage_abort(&self, dataset: i64, id: &str) -> Result<()> {
        let dir = self.staged_dir(dataset, id)?;
        self.0.staging.forget(&dir);
        match tokio::fs::remove_dir_all(&dir).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::not_found("no such upload"))
            }
            other => other.map_err(io),
        }
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
/// not appended yet. The first call after a start or a restart reads `assembled` back (cut to the
/// last whole part) to rebuild the hash.
fn advance(dir: &Path, size: u64, progress: &Mutex<Progress>) -> Result<u32> {
    let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
    let parts = plan(size);
    let path = dir.join("assembled");
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io)?;
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
            p.hasher.update(&buf[..read]);
            out.write_all(&buf[..read]).map_err(io)?;
        }
        p.next = n + 1;
        let _ = std::fs::remove_file(&part);
    }
    // Parts sent again after they were appended: nothing to keep.
    for (n, ..) in parts.iter().filter(|(n, ..)| *n < p.next) {
        let _ = std::fs::remove_file(dir.join(n.to_string()));
    }
    Ok(p.next)
}
