//! S3 multipart uploads: each part spooled to `{spool}/s3-uploads/{upload id}/{n}-{etag}` (written
//! to a temporary name and renamed, so a cut-off part never counts; its ETag is its MD5, as S3's,
//! and in its name, so a part sent twice at once cannot pair one's bytes with the other's ETag);
//! completing streams the named parts in order through the same hashing as every upload, so
//! nothing is an object before all of its bytes hash to it, and answers S3's ETag of the whole
//! (`super::etags::multipart`); the upload is forgotten once the object is committed (a refused
//! commit can be completed again). An upload belongs to the user who started it and to its
//! dataset and key; abandoned ones are purged with LFS's.
//! The parts live on the replica that took them: behind a load balancer, keep a client's
//! multipart upload on one replica (or use one replica for the S3 gateway).

use std::path::PathBuf;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::etags;
use super::objects::Written;
use crate::datasets::gate::Gated;
use crate::error::{Error, Result};
use crate::storage::Storage;
use crate::Core;

/// The most parts an upload has (S3's limit).
pub const MAX_PARTS: i32 = 10_000;

/// Who started an upload, and of what.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Meta {
    repo_id: i64,
    key: String,
    user: i64,
}

fn root(storage: &Storage) -> PathBuf {
    storage.spool_dir().join("s3-uploads")
}

fn io(e: std::io::Error) -> Error {
    Error::internal(e)
}

/// The folder of upload `id`, if `id` is one this server could have made (32 hex characters).
fn dir(storage: &Storage, id: &str) -> Result<PathBuf> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::not_found(format!("no multipart upload {id:?}")));
    }
    Ok(root(storage).join(id))
}

/// Starts an upload of `key` to `gated` by user `user`; its id.
pub async fn create(core: &Core, gated: &Gated, key: &str, user: i64) -> Result<String> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let dir = dir(&core.storage, &id)?;
    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
    let meta = Meta {
        repo_id: gated.id,
        key: key.to_owned(),
        user,
    };
    let json = serde_json::to_vec(&meta).map_err(Error::internal)?;
    tokio::fs::write(dir.join("meta.json"), json)
        .await
        .map_err(io)?;
    Ok(id)
}

/// Upload `id`'s folder, when it is the caller's upload of `key` to `gated`.
async fn owned(core: &Core, gated: &Gated, key: &str, id: &str, user: i64) -> Result<PathBuf> {
    let dir = dir(&core.storage, id)?;
    let missing = || Error::not_found(format!("no multipart upload {id:?} of this key"));
    let raw = tokio::fs::read(dir.join("meta.json"))
        .await
        .map_err(|_| missing())?;
    let meta: Meta = serde_json::from_slice(&raw).map_err(|_| missing())?;
    let want = Meta {
        repo_id: gated.id,
        key: key.to_owned(),
        user,
    };
    if meta != want {
        return Err(missing());
    }
    Ok(dir)
}

/// Stores part `n` of upload `id`, bounded by the server's object size limit; its ETag (the
/// part's MD5).
pub async fn part<S, E>(
    core: &Core,
    gated: &Gated,
    key: &str,
    id: &str,
    user: i64,
    n: i32,
    body: S,
) -> Result<String>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: std::fmt::Display,
{
    if !(1..=MAX_PARTS).contains(&n) {
        return Err(Error::unprocessable(format!(
            "a part number is from 1 to {MAX_PARTS}, not {n}"
        )));
    }
    let dir = owned(core, gated, key, id, user).await?;
    let max = core.settings.object_limit();
    // The upload's other parts count against the object size limit: no upload holds more on
    // disk than one object may have.
    let others: u64 = parts(core, gated, key, id, user)
        .await?
        .iter()
        .filter(|p| p.0 != n)
        .map(|p| p.2)
        .sum();
    let limit = max.saturating_sub(others);
    let tmp = dir.join(format!("{n}.{}", uuid::Uuid::new_v4().simple()));
    let mut md5 = etags::Md5Sum::default();
    let body = body.inspect(|chunk| {
        if let Ok(bytes) = chunk {
            md5.update(bytes);
        }
    });
    let result = crate::storage::spool_to(&tmp, body, limit).await;
    match result {
        Ok(_) => {
            let etag = md5.hex();
            let name = format!("{n}-{etag}");
            tokio::fs::rename(&tmp, dir.join(&name)).await.map_err(io)?;
            // The part sent before under this number is superseded.
            let mut entries = tokio::fs::read_dir(&dir).await.map_err(io)?;
            while let Some(e) = entries.next_entry().await.map_err(io)? {
                let other = e.file_name().to_string_lossy().into_owned();
                if other != name
                    && other
                        .split_once('-')
                        .is_some_and(|(m, _)| m == n.to_string())
                {
                    let _ = tokio::fs::remove_file(e.path()).await;
                }
            }
            Ok(etag)
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e)
        }
    }
}

/// The parts stored so far: `(n, etag, size)`, in order.
pub async fn parts(
    core: &Core,
    gated: &Gated,
    key: &str,
    id: &str,
    user: i64,
) -> Result<Vec<(i32, String, u64)>> {
    let dir = owned(core, gated, key, id, user).await?;
    let mut out = Vec::new();
    let mut entries = tokio::fs::read_dir(&dir).await.map_err(io)?;
    let mut found: Vec<(i32, std::time::SystemTime, String, u64)> = Vec::new();
    while let Some(e) = entries.next_entry().await.map_err(io)? {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((n, etag)) = name.split_once('-') else {
            continue;
        };
        let Ok(n) = n.parse::<i32>() else { continue };
        let meta = e.metadata().await.map_err(io)?;
        let at = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        found.push((n, at, etag.to_owned(), meta.len()));
    }
    // A part sent more than once: its last.
    found.sort_by(|a, b| (a.0, b.1).cmp(&(b.0, a.1)));
    found.dedup_by_key(|p| p.0);
    out.extend(found.into_iter().map(|(n, _, etag, size)| (n, etag, size)));
    Ok(out)
}

/// Stores the object the named parts make, in their order (each named with its ETag, as the
/// client got it), with the upload's ETag; the caller commits it, then [`forget`]s the upload.
pub async fn complete(
    core: &Core,
    gated: &Gated,
    key: &str,
    id: &str,
    user: i64,
    named: &[(i32, String)],
) -> Result<Written> {
    let dir = owned(core, gated, key, id, user).await?;
    if named.is_empty() {
        return Err(Error::unprocessable(
            "a multipart upload completes with at least one part",
        ));
    }
    let mut files = Vec::new();
    let mut tags = Vec::new();
    let mut last = 0;
    for (n, etag) in named {
        if *n <= last {
            return Err(Error::unprocessable(
                "the parts must be listed in ascending order",
            ));
        }
        last = *n;
        let etag = etag.trim_matches('"');
        let etag = etag.to_ascii_lowercase();
        let file = dir.join(format!("{n}-{etag}"));
        if !etags::is_md5(&etag) || !tokio::fs::try_exists(&file).await.unwrap_or(false) {
            return Err(Error::unprocessable(format!(
                "part {n} with ETag {etag:?} was not uploaded"
            )));
        }
        files.push(file);
        tags.push(etag);
    }
    // The namespace's quota, before anything is stored (the parts wait outside it): room for
    // the whole object is reserved, and becomes the object's once its bytes hash to it (linked
    // by the commit that follows, it counts as an object).
    let mut total = 0u64;
    for f in &files {
        total += tokio::fs::metadata(f).await.map_err(io)?.len();
    }
    let room = format!("s3:{id}");
    let hold = crate::quotas::batch_hold(core);
    crate::quotas::reserve(core, gated, &room, total, hold).await?;
    let body = futures_util::stream::iter(files)
        .then(|f| async move {
            match tokio::fs::File::open(f).await {
                Ok(file) => {
                    tokio_util::io::ReaderStream::with_capacity(file, 256 << 10).left_stream()
                }
                Err(e) => futures_util::stream::once(async move { Err(e) }).right_stream(),
            }
        })
        .flatten();
    let limit = core.settings.object_limit();
    let stored = core.storage.ingest(gated.id, body, limit).await;
    match &stored {
        Ok((oid, _)) => crate::quotas::convert(core, gated, &room, oid).await?,
        Err(_) => {
            let _ = crate::quotas::release(core, gated, &room).await;
        }
    }
    let (oid, size) = stored?;
    Ok(Written::Stored {
        oid,
        size,
        etag: etags::multipart(&tags),
    })
}

/// Forgets upload `id` once its object is committed.
pub async fn forget(core: &Core, gated: &Gated, key: &str, id: &str, user: i64) -> Result<()> {
    let dir = owned(core, gated, key, id, user).await?;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    Ok(())
}

/// Throws away upload `id` and its parts.
pub async fn abort(core: &Core, gated: &Gated, key: &str, id: &str, user: i64) -> Result<()> {
    let dir = owned(core, gated, key, id, user).await?;
    tokio::fs::remove_dir_all(&dir).await.map_err(io)
}

/// Throws away uploads nothing was added to for `idle`; how many.
pub async fn purge(storage: &Storage, idle: std::time::Duration) -> Result<usize> {
    let Ok(mut entries) = tokio::fs::read_dir(root(storage)).await else {
        return Ok(0);
    };
    let mut purged = 0;
    while let Some(e) = entries.next_entry().await.map_err(io)? {
        let mut newest = e.metadata().await.and_then(|m| m.modified()).ok();
        if let Ok(mut inside) = tokio::fs::read_dir(e.path()).await {
            while let Ok(Some(f)) = inside.next_entry().await {
                let m = f.metadata().await.and_then(|m| m.modified()).ok();
                newest = newest.max(m);
            }
        }
        if newest.is_some_and(|t| t.elapsed().unwrap_or_default() > idle)
            && tokio::fs::remove_dir_all(e.path()).await.is_ok()
        {
            purged += 1;
        }
    }
    Ok(purged)
}
