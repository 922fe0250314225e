//! The facade's sealed half (`--encryption on`, local disk): objects are stored once per dataset
//! (its key scope) at `{objects}/sealed/{dataset id}/{oid fan-out}`, sealed with the dataset's
//! data key (`strata_lfs::storage::sealed`). The same oid in two datasets is two files under two
//! keys: deduplication never crosses a key scope, so nothing about one dataset's objects can be
//! learnt through another's, at the cost of the space of each copy.
//!
//! A stored object that fails to authenticate (changed bytes, another key) is never served: the
//! read answers 500 and the audit log gets an `object.integrity` entry. A dataset whose keys were
//! destroyed answers 410 for every object it had.

use std::path::PathBuf;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use serde_json::json;
use strata_lfs::storage::sealed_io::{self, DataKey};
use strata_lfs::storage::ObjectRead;
use strata_lfs::{LocalStore, Oid};

use super::keys::KeyRing;
use super::objects::{parse_range, put_error, RangeSpec, Read};
use crate::db::Db;
use crate::error::{Error, Kind, Result};

/// Whether unsealed objects are left in the store (from before `--encryption on`).
pub(super) fn has_plain(store: &LocalStore) -> bool {
    std::fs::read_dir(store.root())
        .map(|d| {
            d.filter_map(|e| e.ok()).any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit())
            })
        })
        .unwrap_or(false)
}

/// Refuses a sealed store started without `--encryption on` (its objects would be unreadable).
/// A plain store started with it is sealed in the background ([`migrate`]).
pub(super) fn check_layout(store: &LocalStore, sealed: bool) -> std::result::Result<(), String> {
    let has_sealed = std::fs::read_dir(store.root().join("sealed"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if !sealed && has_sealed {
        return Err(format!(
            "{} holds sealed objects: start with --encryption on and the same master key",
            store.root().display()
        ));
    }
    Ok(())
}

pub(super) fn path_of(store: &LocalStore, repo_id: i64, oid: &Oid) -> PathBuf {
    store
        .root()
        .join("sealed")
        .join(repo_id.to_string())
        .join(oid.fanout_path())
}

fn integrity(db: &Db, repo_id: i64, oid: &Oid, e: &std::io::Error) -> Error {
    tracing::error!(repo_id, %oid, error = %e, "a sealed object failed its integrity check");
    let db = db.clone();
    let detail = json!({"dataset_id": repo_id, "oid": oid.to_string(), "error": e.to_string()});
    tokio::spawn(async move {
        let _ = db
            .audit("object.integrity", None, None, None, &detail)
            .await;
    });
    Error::new(
        Kind::Internal,
        "the stored object failed its integrity check: it was not served",
    )
}

fn io_error(db: &Db, repo_id: i64, oid: &Oid, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::InvalidData || e.kind() == std::io::ErrorKind::UnexpectedEof
    {
        integrity(db, repo_id, oid, &e)
    } else {
        Error::internal(e)
    }
}

/// Seals `body` (checked against `oid` and `size`) into the dataset's scope.
pub(super) async fn receive<S, E>(
    store: &LocalStore,
    keys: &KeyRing,
    repo_id: i64,
    oid: &Oid,
    size: u64,
    body: S,
) -> Result<()>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let key: DataKey = keys.current(repo_id).await?;
    let dest = path_of(store, repo_id, oid);
    sealed_io::put_sealed(store.tmp_dir(), &dest, oid, size, &key, body)
        .await
        .map_err(put_error)
}

/// The size an object was sealed with in the dataset's scope, if it is stored there.
pub(super) async fn size(store: &LocalStore, repo_id: i64, oid: &Oid) -> Result<Option<u64>> {
    match sealed_io::open_sealed(&path_of(store, repo_id, oid)).await {
        Ok(found) => Ok(found.map(|(_, header)| header.size)),
        Err(e) => Err(Error::internal(e)),
    }
}

/// Reads an object of the dataset's scope, or the range of it a `Range` header asks for.
pub(super) async fn read(
    store: &LocalStore,
    keys: &KeyRing,
    db: &Db,
    repo_id: i64,
    oid: &Oid,
    range: Option<&str>,
) -> Result<Option<Read>> {
    let opened = sealed_io::open_sealed(&path_of(store, repo_id, oid))
        .await
        .map_err(|e| io_error(db, repo_id, oid, e))?;
    let Some((file, header)) = opened else {
        // Only a missing file asks whether the dataset was shredded (its files go with its
        // keys); a file whose key was destroyed answers 410 from the key ring.
        if keys.shredded(repo_id).await? {
            return Err(Error::new(
                Kind::Gone,
                "this dataset was deleted and its data key destroyed: its objects are gone",
            ));
        }
        return Ok(None);
    };
    let len = header.size;
    let (start, count, partial) = match range.map(|r| parse_range(r, len)) {
        None | Some(RangeSpec::Ignore) => (0, len, false),
        Some(RangeSpec::Unsatisfiable) => return Ok(Some(Read::Unsatisfiable { len })),
        Some(RangeSpec::Bytes(first, last)) => (first, last - first + 1, true),
    };
    let key = keys.by_id(repo_id, header.key_id).await?;
    let object = sealed_io::read_range(file, header, &key, start, count)
        .await
        .map_err(|e| io_error(db, repo_id, oid, e))?;
    // A chunk that fails later ends the stream (the client sees a cut transfer) and is audited.
    let (db, oid) = (db.clone(), *oid);
    let body = object
        .body
        .inspect_err(move |e| {
            integrity(&db, repo_id, &oid, e);
        })
        .boxed();
    Ok(Some(Read::Found {
        object: ObjectRead { body, ..object },
        partial,
    }))
}

/// Seals the unsealed objects of a store that was plain before `--encryption on`, walking the
/// objects by oid from `after`, at most `limit` of them: each is sealed once for every dataset
/// that links it (re-verified against its oid), and its plain file is removed only once all of
/// those copies exist. Reads serve the plain file until then. Resumable at any point: a sealed
/// copy that exists is not made again. Returns the last oid walked (`None`: the walk is over)
/// and how many sealed copies were made.
pub(super) async fn migrate(
    store: &LocalStore,
    keys: &KeyRing,
    db: &Db,
    after: &str,
    limit: i64,
) -> Result<(Option<String>, u64)> {
    let batch = db.objects_after(after, limit).await?;
    let mut made = 0;
    for (oid_text, size) in &batch {
        let Ok(oid) = oid_text.parse::<Oid>() else {
            continue;
        };
        let plain = store.root().join(oid.fanout_path());
        if !tokio::fs::try_exists(&plain).await.unwrap_or(false) {
            continue;
        }
        for repo_id in db.datasets_linking(oid_text).await? {
            let dest = path_of(store, repo_id, &oid);
            if tokio::fs::try_exists(&dest).await.unwrap_or(false) {
                continue;
            }
            let key = keys.current(repo_id).await?;
            let file = tokio::fs::File::open(&plain)
                .await
                .map_err(Error::internal)?;
            let body = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
            sealed_io::put_sealed(store.tmp_dir(), &dest, &oid, *size as u64, &key, body)
                .await
                .map_err(put_error)?;
            made += 1;
        }
        tokio::fs::remove_file(&plain)
            .await
            .map_err(Error::internal)?;
    }
    let last = (batch.len() as i64 == limit).then(|| batch.last().map(|(o, _)| o.clone()));
    Ok((last.flatten(), made))
}

/// Re-seals every object of a dataset that is not under its current key: each is decrypted,
/// checked against its oid again and sealed anew into a temporary file that replaces it
/// atomically, one object at a time with flat memory. Resumable: objects already under the
/// current key are skipped. Returns (re-sealed, already current).
pub(super) async fn reseal(
    store: &LocalStore,
    keys: &KeyRing,
    db: &Db,
    repo_id: i64,
) -> Result<(u64, u64)> {
    let current = keys.current(repo_id).await?;
    let root = store.root().join("sealed").join(repo_id.to_string());
    let mut stack = vec![root];
    let (mut resealed, mut current_already) = (0, 0);
    while let Some(dir) = stack.pop() {
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::internal(e)),
        };
        while let Some(entry) = entries.next_entry().await.map_err(Error::internal)? {
            let path = entry.path();
            if entry.file_type().await.map_err(Error::internal)?.is_dir() {
                stack.push(path);
                continue;
            }
            let Ok(oid) = entry.file_name().to_string_lossy().parse::<Oid>() else {
                continue;
            };
            let Some((file, header)) = sealed_io::open_sealed(&path)
                .await
                .map_err(|e| io_error(db, repo_id, &oid, e))?
            else {
                continue;
            };
            if header.key_id == current.id {
                current_already += 1;
                continue;
            }
            let old = keys.by_id(repo_id, header.key_id).await?;
            let size = header.size;
            let plain = sealed_io::read_range(file, header, &old, 0, size)
                .await
                .map_err(|e| io_error(db, repo_id, &oid, e))?;
            sealed_io::put_sealed(store.tmp_dir(), &path, &oid, size, &current, plain.body)
                .await
                .map_err(put_error)?;
            resealed += 1;
        }
    }
    Ok((resealed, current_already))
}

/// Destroys a dataset's keys, then (best effort) its sealed files.
pub(super) async fn shred(store: &LocalStore, keys: &KeyRing, repo_id: i64) -> Result<()> {
    keys.shred(repo_id).await?;
    let dir = store.root().join("sealed").join(repo_id.to_string());
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %dir.display(), error = %e, "sealed files of a shredded dataset left behind (unreadable)");
        }
    }
    Ok(())
}
