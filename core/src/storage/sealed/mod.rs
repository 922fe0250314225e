//! The facade's sealed half (`--encryption on` on the local disk, `--encryption strict` with a
//! bucket): objects are stored once per dataset (its key scope), sealed with the dataset's data
//! key (`strata_lfs::storage::sealed`), on the disk or in the bucket ([`place`]). The same oid in
//! two datasets is two copies under two keys: deduplication never crosses a key scope, so
//! nothing about one dataset's objects can be learnt through another's, at the cost of the space
//! of each copy.
//!
//! A stored object that fails to authenticate (changed bytes, another key, a cut copy) is never
//! served: the read answers 500 and the audit log gets an `object.integrity` entry. A dataset
//! whose keys were destroyed answers 410 for every object it had.

mod place;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use serde_json::json;
use strata_lfs::storage::ObjectRead;
use strata_lfs::Oid;

use super::keys::KeyRing;
use super::objects::{parse_range, put_error, RangeSpec, Read};
use crate::db::Db;
use crate::error::{Error, Kind, Result};
pub(super) use place::Place;

/// Sealed objects: where they are, and the keys they are sealed with.
#[derive(Debug)]
pub(super) struct Sealed {
    place: Place,
    keys: KeyRing,
    db: Db,
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

fn is_integrity(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
    )
}

impl Sealed {
    pub(super) fn new(place: Place, keys: KeyRing, db: Db) -> Sealed {
        Sealed { place, keys, db }
    }

    pub(super) fn keys(&self) -> &KeyRing {
        &self.keys
    }

    fn io_error(&self, repo_id: i64, oid: &Oid, e: std::io::Error) -> Error {
        if is_integrity(&e) {
            integrity(&self.db, repo_id, oid, &e)
        } else {
            Error::internal(e)
        }
    }

    /// Seals `body` (checked against `oid` and `size`) into the dataset's scope.
    pub(super) async fn receive<S, E>(
        &self,
        repo_id: i64,
        oid: &Oid,
        size: u64,
        body: S,
    ) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let key = self.keys.current(repo_id).await?;
        self.place
            .put(repo_id, oid, size, &key, body)
            .await
            .map_err(put_error)
    }

    /// The size an object was sealed with in the dataset's scope, if it is stored there.
    pub(super) async fn size(&self, repo_id: i64, oid: &Oid) -> Result<Option<u64>> {
        match self.place.open(repo_id, oid).await {
            Ok(found) => Ok(found.map(|f| f.header().size)),
            Err(e) => Err(self.io_error(repo_id, oid, e)),
        }
    }

    /// Removes the dataset's sealed copy of `oid`, and the plain copy from before encryption
    /// when `plain` (garbage collection).
    pub(super) async fn remove(&self, repo_id: i64, oid: &Oid, plain: bool) -> Result<()> {
        let result = if plain {
            match self.place.remove_plain(oid).await {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        } else {
            self.place.remove(repo_id, oid).await
        };
        result.map_err(|e| self.io_error(repo_id, oid, e))
    }

    /// Reads an object of the dataset's scope, or the range of it a `Range` header asks for.
    /// `None` when the dataset has no sealed copy of it (a plain object from before encryption
    /// may still be).
    pub(super) async fn read(
        &self,
        repo_id: i64,
        oid: &Oid,
        range: Option<&str>,
    ) -> Result<Option<Read>> {
        let found = self
            .place
            .open(repo_id, oid)
            .await
            .map_err(|e| self.io_error(repo_id, oid, e))?;
        let Some(found) = found else {
            // Only a missing copy asks whether the dataset was shredded (its copies go with its
            // keys); a copy whose key was destroyed answers 410 from the key ring.
            if self.keys.shredded(repo_id).await? {
                return Err(Error::new(
                    Kind::Gone,
                    "this dataset was deleted and its data key destroyed: its objects are gone",
                ));
            }
            return Ok(None);
        };
        let len = found.header().size;
        let (start, count, partial) = match range.map(|r| parse_range(r, len)) {
            None | Some(RangeSpec::Ignore) => (0, len, false),
            Some(RangeSpec::Unsatisfiable) => return Ok(Some(Read::Unsatisfiable { len })),
            Some(RangeSpec::Bytes(first, last)) => (first, last - first + 1, true),
        };
        let key = self.keys.by_id(repo_id, found.header().key_id).await?;
        let object = self
            .place
            .read(found, &key, start, count)
            .await
            .map_err(|e| self.io_error(repo_id, oid, e))?;
        // A chunk that fails later ends the stream (the client sees a cut transfer) and is audited.
        let (db, oid) = (self.db.clone(), *oid);
        let body = object
            .body
            .inspect_err(move |e| {
                if is_integrity(e) {
                    integrity(&db, repo_id, &oid, e);
                }
            })
            .boxed();
        Ok(Some(Read::Found {
            object: ObjectRead { body, ..object },
            partial,
        }))
    }

    /// Whether unsealed objects from before encryption are left in the store.
    pub(super) async fn has_plain(&self) -> bool {
        self.place.holds_plain().await.unwrap_or(false)
    }

    /// Seals the unsealed objects of a store that was plain before encryption, walking the
    /// objects by oid from `after`, at most `limit` of them: each is sealed once for every dataset
    /// that links it (re-verified against its oid), and its plain copy is removed only once all
    /// of those copies exist. Reads serve the plain copy until then. Resumable at any point: a
    /// sealed copy that exists is not made again. Returns the last oid walked (`None`: the walk
    /// is over) and how many sealed copies were made.
    pub(super) async fn migrate(&self, after: &str, limit: i64) -> Result<(Option<String>, u64)> {
        let batch = self.db.objects_after(after, limit).await?;
        let mut made = 0;
        for (oid_text, size) in &batch {
            let Ok(oid) = oid_text.parse::<Oid>() else {
                continue;
            };
            if !self.place.has_plain(&oid).await.map_err(Error::internal)? {
                continue;
            }
            for repo_id in self.db.datasets_linking(oid_text).await? {
                if self.size(repo_id, &oid).await?.is_some() {
                    continue;
                }
                let Some(body) = self.place.plain(&oid).await.map_err(Error::internal)? else {
                    break;
                };
                let key = self.keys.current(repo_id).await?;
                self.place
                    .put(repo_id, &oid, *size as u64, &key, body)
                    .await
                    .map_err(put_error)?;
                made += 1;
            }
            self.place
                .remove_plain(&oid)
                .await
                .map_err(Error::internal)?;
        }
        let last = (batch.len() as i64 == limit).then(|| batch.last().map(|(o, _)| o.clone()));
        Ok((last.flatten(), made))
    }

    /// Re-seals every object of a dataset that is not under its current key: each is decrypted,
    /// checked against its oid again and sealed anew into a copy that replaces it atomically, one
    /// object at a time with flat memory. Resumable: objects already under the current key are
    /// skipped. Returns (re-sealed, already current).
    pub(super) async fn reseal(&self, repo_id: i64) -> Result<(u64, u64)> {
        let current = self.keys.current(repo_id).await?;
        let (mut resealed, mut current_already) = (0, 0);
        for oid in self.place.list(repo_id).await.map_err(Error::internal)? {
            let Some(found) = self
                .place
                .open(repo_id, &oid)
                .await
                .map_err(|e| self.io_error(repo_id, &oid, e))?
            else {
                continue;
            };
            if found.header().key_id == current.id {
                current_already += 1;
                continue;
            }
            let old = self.keys.by_id(repo_id, found.header().key_id).await?;
            let size = found.header().size;
            let plain = self
                .place
                .read(found, &old, 0, size)
                .await
                .map_err(|e| self.io_error(repo_id, &oid, e))?;
            self.place
                .put(repo_id, &oid, size, &current, plain.body)
                .await
                .map_err(put_error)?;
            resealed += 1;
        }
        Ok((resealed, current_already))
    }

    /// Destroys a dataset's keys, then (best effort) its sealed copies.
    pub(super) async fn shred(&self, repo_id: i64) -> Result<()> {
        self.keys.shred(repo_id).await?;
        if let Err(e) = self.place.remove_all(repo_id).await {
            tracing::warn!(repo_id, error = %e, "sealed copies of a shredded dataset left behind (unreadable)");
        }
        Ok(())
    }
}

/// Refuses a store that holds sealed objects when it is not sealed (with a bucket: not strict):
/// its objects would be unreadable.
pub(super) async fn check_layout(place: &Place, sealed: bool) -> std::result::Result<(), String> {
    if sealed || !place.holds_sealed().await.map_err(|e| e.to_string())? {
        return Ok(());
    }
    Err(format!(
        "{} holds sealed objects: start with the same --encryption and master key",
        place.describe()
    ))
}
