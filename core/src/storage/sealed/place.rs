//! Where sealed objects are kept: the local disk (`{objects}/sealed/{dataset}/{oid fan-out}`,
//! written to a temporary file and renamed into place) or, with `--encryption strict`, a bucket
//! (`{prefix}/sealed/{dataset}/{oid fan-out}`, written in one multipart upload that becomes
//! visible when it completes). The plain objects of a store from before encryption are reached
//! here too, for the migration that seals them.

use std::path::PathBuf;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::ObjectStoreExt;
use strata_lfs::storage::sealed::Header;
use strata_lfs::storage::sealed_io::{self, DataKey, InBucket};
use strata_lfs::storage::{ByteStream, ObjectRead, PutError};
use strata_lfs::{CloudStore, LocalStore, Oid};

/// The disk or the bucket sealed objects live in.
#[derive(Debug)]
pub(in crate::storage) enum Place {
    Disk(LocalStore),
    Bucket(Box<CloudStore>),
}

/// A sealed object found, ready to read any range of.
pub(super) enum Found {
    File(tokio::fs::File, Header),
    Bucket(StorePath, InBucket),
}

impl Found {
    pub(super) fn header(&self) -> &Header {
        match self {
            Found::File(_, header) => header,
            Found::Bucket(_, found) => &found.header,
        }
    }
}

fn is_hex_pair(name: &str) -> bool {
    name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Place {
    /// Where the store is, for messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Place::Disk(store) => store.root().display().to_string(),
            Place::Bucket(_) => "the bucket".to_owned(),
        }
    }

    fn disk_path(store: &LocalStore, repo_id: i64, oid: &Oid) -> PathBuf {
        store
            .root()
            .join("sealed")
            .join(repo_id.to_string())
            .join(oid.fanout_path())
    }

    fn bucket_path(cloud: &CloudStore, repo_id: i64, oid: &Oid) -> StorePath {
        cloud.prefixed(&format!("sealed/{repo_id}/{}", oid.fanout_path()))
    }

    /// Seals `body` (checked against `oid` and `size`) as the dataset's copy of `oid`.
    pub(super) async fn put<S, E>(
        &self,
        repo_id: i64,
        oid: &Oid,
        size: u64,
        key: &DataKey,
        body: S,
    ) -> Result<(), PutError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        match self {
            Place::Disk(store) => {
                let dest = Self::disk_path(store, repo_id, oid);
                sealed_io::put_sealed(store.tmp_dir(), &dest, oid, size, key, body).await
            }
            Place::Bucket(cloud) => {
                let path = Self::bucket_path(cloud, repo_id, oid);
                sealed_io::put_sealed_in(cloud.object_store(), &path, oid, size, key, body).await
            }
        }
    }

    /// The dataset's sealed copy of `oid`, if there is one. A copy whose header or length is
    /// wrong is an `InvalidData` error.
    pub(super) async fn open(&self, repo_id: i64, oid: &Oid) -> std::io::Result<Option<Found>> {
        match self {
            Place::Disk(store) => Ok(
                sealed_io::open_sealed(&Self::disk_path(store, repo_id, oid))
                    .await?
                    .map(|(file, header)| Found::File(file, header)),
            ),
            Place::Bucket(cloud) => {
                let path = Self::bucket_path(cloud, repo_id, oid);
                Ok(sealed_io::open_sealed_in(cloud.object_store(), &path)
                    .await?
                    .map(|found| Found::Bucket(path, found)))
            }
        }
    }

    /// Plaintext `[start, start + count)` of a found object under `key`.
    pub(super) async fn read(
        &self,
        found: Found,
        key: &DataKey,
        start: u64,
        count: u64,
    ) -> std::io::Result<ObjectRead> {
        match (self, found) {
            (_, Found::File(file, header)) => {
                sealed_io::read_range(file, header, key, start, count).await
            }
            (Place::Bucket(cloud), Found::Bucket(path, found)) => {
                sealed_io::read_range_in(cloud.object_store(), &path, found, key, start, count)
                    .await
            }
            (Place::Disk(_), Found::Bucket(..)) => {
                Err(std::io::Error::other("a bucket object found on the disk"))
            }
        }
    }

    /// The oids of the dataset's sealed copies.
    pub(super) async fn list(&self, repo_id: i64) -> std::io::Result<Vec<Oid>> {
        let mut oids = Vec::new();
        match self {
            Place::Disk(store) => {
                let mut stack = vec![store.root().join("sealed").join(repo_id.to_string())];
                while let Some(dir) = stack.pop() {
                    let mut entries = match tokio::fs::read_dir(&dir).await {
                        Ok(e) => e,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    };
                    while let Some(entry) = entries.next_entry().await? {
                        if entry.file_type().await?.is_dir() {
                            stack.push(entry.path());
                        } else if let Ok(oid) = entry.file_name().to_string_lossy().parse() {
                            oids.push(oid);
                        }
                    }
                }
            }
            Place::Bucket(cloud) => {
                let prefix = cloud.prefixed(&format!("sealed/{repo_id}"));
                let mut listed = cloud.object_store().list(Some(&prefix));
                while let Some(meta) = listed.next().await {
                    let meta = meta.map_err(std::io::Error::other)?;
                    if let Some(Ok(oid)) = meta.location.filename().map(str::parse) {
                        oids.push(oid);
                    }
                }
            }
        }
        Ok(oids)
    }

    /// Removes the dataset's sealed copy of `oid` (there being none is no error).
    pub(super) async fn remove(&self, repo_id: i64, oid: &Oid) -> std::io::Result<()> {
        match self {
            Place::Disk(store) => {
                match tokio::fs::remove_file(Self::disk_path(store, repo_id, oid)).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                }
            }
            Place::Bucket(cloud) => {
                match cloud
                    .object_store()
                    .delete(&Self::bucket_path(cloud, repo_id, oid))
                    .await
                {
                    Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
                    Err(e) => Err(std::io::Error::other(e)),
                }
            }
        }
    }

    /// Removes every sealed copy of the dataset (best effort: they are unreadable already).
    pub(super) async fn remove_all(&self, repo_id: i64) -> std::io::Result<()> {
        match self {
            Place::Disk(store) => {
                let dir = store.root().join("sealed").join(repo_id.to_string());
                match tokio::fs::remove_dir_all(&dir).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                }
            }
            Place::Bucket(cloud) => {
                let store = cloud.object_store();
                let prefix = cloud.prefixed(&format!("sealed/{repo_id}"));
                let locations = store.list(Some(&prefix)).map_ok(|m| m.location).boxed();
                let mut deleted = store.delete_stream(locations);
                while let Some(done) = deleted.next().await {
                    done.map_err(std::io::Error::other)?;
                }
                Ok(())
            }
        }
    }

    /// Whether any sealed copy is stored at all.
    pub(super) async fn holds_sealed(&self) -> std::io::Result<bool> {
        match self {
            Place::Disk(store) => Ok(std::fs::read_dir(store.root().join("sealed"))
                .map(|mut d| d.next().is_some())
                .unwrap_or(false)),
            Place::Bucket(cloud) => {
                let prefix = cloud.prefixed("sealed");
                let first = cloud.object_store().list(Some(&prefix)).next().await;
                first
                    .transpose()
                    .map(|m| m.is_some())
                    .map_err(std::io::Error::other)
            }
        }
    }

    /// Whether plain objects from before encryption are stored (`{xx}/` fan-out directories).
    pub(super) async fn holds_plain(&self) -> std::io::Result<bool> {
        match self {
            Place::Disk(store) => Ok(std::fs::read_dir(store.root())
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .any(|e| is_hex_pair(&e.file_name().to_string_lossy()))
                })
                .unwrap_or(false)),
            Place::Bucket(cloud) => {
                let root = cloud.prefixed("");
                let root = (!root.as_ref().is_empty()).then_some(root);
                let listed = cloud
                    .object_store()
                    .list_with_delimiter(root.as_ref())
                    .await
                    .map_err(std::io::Error::other)?;
                Ok(listed
                    .common_prefixes
                    .iter()
                    .any(|p| p.filename().is_some_and(is_hex_pair)))
            }
        }
    }

    /// Whether the plain copy of `oid` from before encryption is still stored (a stat or a HEAD,
    /// no read).
    pub(super) async fn has_plain(&self, oid: &Oid) -> std::io::Result<bool> {
        match self {
            Place::Disk(store) => tokio::fs::try_exists(store.root().join(oid.fanout_path())).await,
            Place::Bucket(cloud) => Ok(cloud
                .size(oid)
                .await
                .map_err(std::io::Error::other)?
                .is_some()),
        }
    }

    /// The plain copy of `oid` from before encryption, if it is still stored.
    pub(super) async fn plain(&self, oid: &Oid) -> std::io::Result<Option<ByteStream>> {
        match self {
            Place::Disk(store) => {
                match tokio::fs::File::open(store.root().join(oid.fanout_path())).await {
                    Ok(file) => Ok(Some(
                        tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).boxed(),
                    )),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Place::Bucket(cloud) => Ok(cloud
                .read(oid, None)
                .await
                .map_err(std::io::Error::other)?
                .map(|read| read.body)),
        }
    }

    /// Removes the plain copy of `oid` once every sealed copy of it exists.
    pub(super) async fn remove_plain(&self, oid: &Oid) -> std::io::Result<()> {
        match self {
            Place::Disk(store) => {
                tokio::fs::remove_file(store.root().join(oid.fanout_path())).await
            }
            Place::Bucket(cloud) => match cloud
                .object_store()
                .delete(&cloud.prefixed(&oid.fanout_path()))
                .await
            {
                Err(object_store::Error::NotFound { path, .. }) => {
                    Err(std::io::Error::new(std::io::ErrorKind::NotFound, path))
                }
                other => other.map_err(std::io::Error::other),
            },
        }
    }
}
