//! Bytes in and out: signed local uploads (streamed and checked against their sha256 before they
//! become visible), confirming an upload, and ranged reads on any backend.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use strata_lfs::storage::{ObjectRead, Opened, PutError};
use strata_lfs::Oid;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{io, Backend, Place, Storage, TempFile};
use crate::error::{Error, Kind, Result};

/// What confirming an upload found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    /// The object was stored and linked before (a local upload links as it stores).
    AlreadyLinked,
    /// The upload was checked and moved into place: the caller links it now.
    NewlyStored,
}

/// The answer to a read.
pub enum Read {
    /// The object, or the requested range of it (`partial`).
    Found { object: ObjectRead, partial: bool },
    /// The range cannot be served from an object of `len` bytes.
    Unsatisfiable { len: u64 },
}

impl Storage {
    /// Whether uploads come to strata itself (the local disk, and any sealed store), rather than
    /// going straight to a bucket.
    pub(super) fn receives_uploads(&self) -> bool {
        self.0.sealed.is_some() || matches!(self.0.backend, Backend::Local(_))
    }

    /// Whether downloads of objects stored whole go to the bucket straight (presigned URLs: a
    /// plain bucket). Objects kept as chunks are read through strata everywhere.
    pub fn presigns_downloads(&self) -> bool {
        !self.receives_uploads()
    }

    /// How long a URL handed out now (a batch action) may still be used: its lifetime and grace.
    pub fn url_lifetime(&self) -> std::time::Duration {
        self.0.action_ttl + std::time::Duration::from_secs(super::SIGNATURE_GRACE_SECS as u64)
    }

    /// Stores the body of a strata-signed upload as `oid`, refusing it unless it is exactly `size`
    /// bytes that hash to `oid`, then links it to the dataset. Only the local backend receives
    /// uploads itself. A dataset deleted since the URL was signed refuses the link (404): the
    /// stored bytes stay unreadable, as nothing links them.
    pub async fn receive<S, E>(&self, repo_id: i64, oid: &Oid, size: u64, body: S) -> Result<()>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        self.store_received(repo_id, oid, size, body).await?;
        self.link(repo_id, oid, size).await?;
        Ok(())
    }

    async fn store_received<S, E>(&self, repo_id: i64, oid: &Oid, size: u64, body: S) -> Result<()>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        if let Some(sealed) = &self.0.sealed {
            return sealed.receive(repo_id, oid, size, body).await;
        }
        match &self.0.backend {
            Backend::Local(store) => store.put_verified(oid, size, body).await.map_err(put_error),
            Backend::Cloud(_) => Err(not_here()),
        }
    }

    /// Where bytes wait before they are an object: the local store's temporary folder, or the
    /// system's for a bucket.
    pub fn spool_dir(&self) -> std::path::PathBuf {
        match &self.0.backend {
            Backend::Local(store) => store.tmp_dir().to_path_buf(),
            Backend::Cloud(_) => std::env::temp_dir(),
        }
    }

    /// Stores bytes whose oid nobody knows yet (a browser's form upload, which strata receives
    /// itself): spools them to a temporary file while hashing, refusing more than `limit` bytes,
    /// then stores them under the oid they hash to. Returns that oid and the size. Nothing is
    /// visible under the oid before all of it is stored.
    pub async fn ingest<S, E>(&self, repo_id: i64, body: S, limit: u64) -> Result<(Oid, u64)>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        self.ingest_at(&Place::Dataset(repo_id), body, limit).await
    }

    /// [`Storage::ingest`] into `place`: a dataset's store, or a region store.
    pub async fn ingest_at<S, E>(&self, place: &Place, body: S, limit: u64) -> Result<(Oid, u64)>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        self.ingest_checked(place, body, limit, None).await
    }

    /// Stores `body`, sent by a remote as object `oid` of `size` bytes, for dataset `repo_id`,
    /// and links it: refused (and nothing stored) unless the bytes are exactly that object.
    pub async fn store_fetched<S, E>(
        &self,
        repo_id: i64,
        oid: &Oid,
        size: u64,
        body: S,
    ) -> Result<()>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let place = Place::Dataset(repo_id);
        self.ingest_checked(&place, body, size, Some((oid, size)))
            .await?;
        self.link(repo_id, oid, size).await
    }

    /// [`Storage::ingest_at`], refusing bytes that are not `expected` before they are stored.
    async fn ingest_checked<S, E>(
        &self,
        place: &Place,
        body: S,
        limit: u64,
        expected: Option<(&Oid, u64)>,
    ) -> Result<(Oid, u64)>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let dir = self.spool_dir();
        let spool = TempFile::new(dir.join(format!("spool.{}", uuid::Uuid::new_v4().simple())));
        let spooled = spool_to(spool.path(), body, limit).await;
        let (oid, size) = match (spooled, expected) {
            (Err(e), Some((want, want_size))) if e.kind == Kind::TooLarge => {
                return Err(Error::new(
                    Kind::Upstream,
                    format!("the bytes sent for {want} are more than its {want_size} bytes"),
                ))
            }
            (spooled, _) => spooled?,
        };
        if let Some((want, want_size)) = expected {
            if (&oid, size) != (want, want_size) {
                return Err(Error::new(
                    Kind::Upstream,
                    format!(
                        "the bytes sent for {want} ({want_size} bytes) are {oid} ({size} bytes)"
                    ),
                ));
            }
        }
        if let (Place::Dataset(_), None, Backend::Local(store)) =
            (place, &self.0.sealed, &self.0.backend)
        {
            // Hashed as it was spooled, beside the objects (`spool_dir`): synced and renamed
            // into place, not read, hashed and written a second time.
            let file = tokio::fs::File::open(spool.path()).await.map_err(io)?;
            file.sync_all().await.map_err(io)?;
            store
                .adopt(&oid, size, spool.path().to_owned())
                .await
                .map_err(put_error)?;
            spool.keep();
            return Ok((oid, size));
        }
        let bytes = ReaderStream::with_capacity(
            tokio::fs::File::open(spool.path()).await.map_err(io)?,
            256 * 1024,
        );
        let backend = match place {
            Place::Dataset(repo_id) => {
                if let Some(sealed) = &self.0.sealed {
                    sealed.receive(*repo_id, &oid, size, bytes).await?;
                    return Ok((oid, size));
                }
                &self.0.backend
            }
            Place::Copy(store) => self.region(store)?,
        };
        match backend {
            Backend::Local(store) => store
                .put_verified(&oid, size, bytes)
                .await
                .map_err(put_error)?,
            Backend::Cloud(cloud) => {
                if cloud.size(&oid).await? != Some(size) {
                    cloud.put_hashed(&oid, bytes).await.map_err(put_error)?;
                }
            }
        }
        Ok((oid, size))
    }

    /// Confirms that `oid` (`size` bytes) was uploaded for the dataset whose staging scope is
    /// `scope` (`nonce` names a cloud upload's staging key), and links it to the dataset when this
    /// confirmation is what stored it. Errors when nothing (or something else) was uploaded.
    pub async fn confirm_upload(
        &self,
        repo_id: i64,
        oid: &Oid,
        size: u64,
        scope: &str,
        nonce: Option<&str>,
        not_uploaded: impl Fn() -> Error,
    ) -> Result<Confirmed> {
        let linked = self
            .0
            .db
            .linked_objects(repo_id, &[*oid])
            .await?
            .get(oid)
            .copied();
        let confirmed = self
            .confirm(repo_id, oid, size, scope, linked, nonce, not_uploaded)
            .await?;
        if confirmed == Confirmed::NewlyStored {
            self.link(repo_id, oid, size).await?;
        }
        Ok(confirmed)
    }

    /// `confirm_upload` given the size the dataset's link records, if any.
    #[allow(clippy::too_many_arguments)]
    async fn confirm(
        &self,
        repo_id: i64,
        oid: &Oid,
        size: u64,
        scope: &str,
        linked: Option<u64>,
        nonce: Option<&str>,
        not_uploaded: impl Fn() -> Error,
    ) -> Result<Confirmed> {
        let plain_size = || async {
            match &self.0.backend {
                Backend::Local(store) => store.size(oid).await,
                Backend::Cloud(cloud) => cloud.size(oid).await,
            }
        };
        // Uploads strata receives itself (the local disk, anything sealed) were linked as they
        // were stored; confirm both halves are present.
        if self.receives_uploads() {
            let stored = match &self.0.sealed {
                // (A plain object from before encryption counts until it is sealed.)
                Some(sealed) => match sealed.size(repo_id, oid).await? {
                    Some(size) => Some(size),
                    None => plain_size().await?,
                },
                None => plain_size().await?,
            };
            // (Or kept as chunks only.)
            let stored = match stored {
                Some(size) => Some(size),
                None => self
                    .0
                    .db
                    .xet_file_of(repo_id, &oid.to_string())
                    .await?
                    .map(|f| f.size as u64),
            };
            return match (linked, stored) {
                (Some(_), Some(stored)) if stored == size => Ok(Confirmed::AlreadyLinked),
                (Some(_), Some(stored)) => Err(Error::unprocessable(format!(
                    "stored object has {stored} bytes, not {size}"
                ))),
                _ => Err(not_uploaded()),
            };
        }
        match &self.0.backend {
            Backend::Local(_) => Err(not_uploaded()),
            Backend::Cloud(_) if linked.is_some() => Ok(Confirmed::AlreadyLinked),
            Backend::Cloud(cloud) => {
                let nonce = nonce.ok_or_else(&not_uploaded)?;
                if cloud
                    .finish_upload(oid, size, scope, nonce)
                    .await
                    .map_err(put_error)?
                {
                    Ok(Confirmed::NewlyStored)
                } else {
                    Err(not_uploaded())
                }
            }
        }
    }

    /// Checks that `oid` is still linked to dataset `repo_id` before a signed download serves
    /// it: the signature was minted by the read gate, but the link must still hold. A dataset
    /// deleted with its keys destroyed answers 410 (asked only when the link is gone).
    pub async fn still_linked(&self, repo_id: i64, oid: &Oid) -> Result<()> {
        let linked = self
            .0
            .db
            .linked_objects(repo_id, std::slice::from_ref(oid))
            .await?;
        if linked.contains_key(oid) {
            return Ok(());
        }
        if !self
            .0
            .db
            .erased(repo_id, &[oid.to_string()])
            .await?
            .is_empty()
        {
            return Err(Error::new(
                crate::error::Kind::Gone,
                "this object was erased from the dataset",
            ));
        }
        if self.shredded(repo_id).await? {
            return Err(Error::new(
                crate::error::Kind::Gone,
                "this dataset was deleted and its data key destroyed: the object is gone",
            ));
        }
        Err(Error::not_found("object not found in this dataset"))
    }

    /// Opens `oid` for reading, honouring a `Range` header value (single ranges; anything else
    /// reads the whole object). A dataset's object not stored whole is read from its chunks
    /// (`chunked`), one adopted by reference from its import source (`imports`). `None` when the
    /// object is missing from storage.
    pub async fn read(
        &self,
        place: impl Into<Place>,
        oid: &Oid,
        range: Option<&str>,
    ) -> Result<Option<Read>> {
        let place = place.into();
        if let Some(found) = self.read_stored(&place, oid, range).await? {
            return Ok(Some(found));
        }
        match place {
            Place::Dataset(repo_id) => match self.read_chunked(repo_id, oid, range).await? {
                Some(found) => Ok(Some(found)),
                None => self.read_referenced(oid, range).await,
            },
            Place::Copy(_) => Ok(None),
        }
    }

    /// [`Storage::read`] of the object stored whole.
    pub(super) async fn read_stored(
        &self,
        place: &Place,
        oid: &Oid,
        range: Option<&str>,
    ) -> Result<Option<Read>> {
        if *oid == Oid::EMPTY {
            return Ok(Some(match range.map(|r| parse_range(r, 0)) {
                Some(RangeSpec::Unsatisfiable) => Read::Unsatisfiable { len: 0 },
                _ => Read::Found {
                    object: ObjectRead {
                        len: 0,
                        start: 0,
                        count: 0,
                        body: futures_util::stream::empty().boxed(),
                    },
                    partial: false,
                },
            }));
        }
        let backend = match place {
            Place::Dataset(repo_id) => {
                if let Some(sealed) = &self.0.sealed {
                    if let Some(found) = sealed.read(*repo_id, oid, range).await? {
                        return Ok(Some(found));
                    }
                    // Not sealed (yet): an object from before encryption, until it is sealed.
                }
                &self.0.backend
            }
            Place::Copy(store) => self.region(store)?,
        };
        match backend {
            Backend::Local(store) => {
                let Some((opened, len)) = store.open_read(oid).await? else {
                    return Ok(None);
                };
                let Some((start, count, partial)) = bounds(range, len) else {
                    return Ok(Some(Read::Unsatisfiable { len }));
                };
                let body = match opened {
                    Opened::Small(bytes) => {
                        let part = bytes.slice(start as usize..(start + count) as usize);
                        futures_util::stream::once(async move { Ok(part) }).boxed()
                    }
                    Opened::File(mut file) => {
                        if start > 0 {
                            file.seek(std::io::SeekFrom::Start(start))
                                .await
                                .map_err(Error::internal)?;
                        }
                        ReaderStream::with_capacity(file.take(count), 256 * 1024).boxed()
                    }
                };
                Ok(Some(Read::Found {
                    object: ObjectRead {
                        len,
                        start,
                        count,
                        body,
                    },
                    partial,
                }))
            }
            Backend::Cloud(cloud) => {
                let Some(len) = cloud.size(oid).await? else {
                    return Ok(None);
                };
                let (bounds, partial) = match range.map(|r| parse_range(r, len)) {
                    None | Some(RangeSpec::Ignore) => (None, false),
                    Some(RangeSpec::Unsatisfiable) => return Ok(Some(Read::Unsatisfiable { len })),
                    Some(RangeSpec::Bytes(first, last)) => (Some((first, last)), true),
                };
                // An empty range request to a bucket is an error there; read nothing instead.
                let object = if len == 0 {
                    None
                } else {
                    cloud.read(oid, bounds).await?
                };
                Ok(object.map(|object| Read::Found { object, partial }))
            }
        }
    }
}

fn not_here() -> Error {
    Error::not_found("this server stores objects in a bucket; transfers go there")
}

/// How an upload that failed verification is reported.
/// Writes `body` to a new file at `path` while hashing it, refusing more than `limit` bytes (the
/// caller removes the file on an error): the sha256 it hashes to, and its size.
pub async fn spool_to<S, E>(path: &std::path::Path, body: S, limit: u64) -> Result<(Oid, u64)>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    use sha2::Digest;
    use tokio::io::AsyncWriteExt;
    let file = tokio::fs::File::create(path).await.map_err(io)?;
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    let mut hasher = sha2::Sha256::new();
    let mut size = 0u64;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Error::bad_request(format!("upload cut off: {e}")))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(Error::too_large(format!(
                "a file uploaded here may have at most {limit} bytes"
            )));
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(io)?;
    }
    out.flush().await.map_err(io)?;
    Ok((Oid::from_digest(hasher.finalize().into()), size))
}

pub fn put_error(e: PutError) -> Error {
    match e {
        PutError::TooLong { .. } => Error::too_large(e.to_string()),
        PutError::SizeMismatch { .. } | PutError::HashMismatch { .. } | PutError::Unverified(_) => {
            Error::unprocessable(e.to_string())
        }
        PutError::Body(_) => Error::bad_request(e.to_string()),
        PutError::PartsChanged(_) => Error::conflict(e.to_string()),
        PutError::Store(e) => e.into(),
    }
}

/// The bytes a `Range` value asks of a `len`-byte object: start, count, and whether that is a
/// part of it; `None` when it cannot be served.
pub(super) fn bounds(range: Option<&str>, len: u64) -> Option<(u64, u64, bool)> {
    match range.map(|r| parse_range(r, len)) {
        None | Some(RangeSpec::Ignore) => Some((0, len, false)),
        Some(RangeSpec::Unsatisfiable) => None,
        Some(RangeSpec::Bytes(first, last)) => Some((first, last - first + 1, true)),
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum RangeSpec {
    /// Inclusive byte range.
    Bytes(u64, u64),
    Unsatisfiable,
    /// Not a single byte range we serve partially (e.g. several ranges): answer the whole object.
    Ignore,
}

/// Parses a `Range` header for a `len`-byte object (RFC 9110 §14.1.2), single ranges only.
pub(super) fn parse_range(value: &str, len: u64) -> RangeSpec {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if spec.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeSpec::Unsatisfiable;
    };
    let parse = |s: &str| {
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u64>().ok()
        } else {
            None
        }
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match parse(suffix) {
            Some(n) if n > 0 && len > 0 => RangeSpec::Bytes(len.saturating_sub(n), len - 1),
            _ => RangeSpec::Unsatisfiable,
        },
        (start, "") => match parse(start) {
            Some(s) if s < len => RangeSpec::Bytes(s, len - 1),
            _ => RangeSpec::Unsatisfiable,
        },
        (start, end) => match (parse(start), parse(end)) {
            (Some(s), Some(e)) if s <= e && s < len => RangeSpec::Bytes(s, e.min(len - 1)),
            _ => RangeSpec::Unsatisfiable,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_range, RangeSpec::*};

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Bytes(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Bytes(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Bytes(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), Bytes(0, 99));
        assert_eq!(parse_range("bytes=50-1000", 100), Bytes(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=9-3", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=a-b", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ignore);
        assert_eq!(parse_range("items=0-1", 100), Ignore);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
    }
}
