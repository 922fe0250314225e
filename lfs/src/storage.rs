//! Content-addressed object storage, keyed by oid at `{prefix}/{oid[0:2]}/{oid[2:4]}/{oid}`.
//!
//! [`LocalStore`] is the embedded default: strata receives the bytes itself and
//! [`LocalStore::put_verified`] streams them to a temporary file while hashing and counting, so a
//! body whose sha256 or length is wrong never becomes visible; success is an atomic rename.
//! [`CloudStore`] wraps `object_store` for S3, GCS and Azure, where strata only presigns URLs and
//! checks what arrived.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::{path::Path as StorePath, ObjectStore};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::oid::Oid;
use crate::s3sign::{Presigned, S3Presigner};

/// Temporary files older than this are left-overs of crashed uploads and removed at start-up.
const STALE_TEMP_AGE: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("object store request failed: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("presigning is not supported by this backend: {0}")]
    Presign(String),
}

/// Why a verified upload was refused. Nothing is stored in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error("body is longer than the declared size of {expected} bytes")]
    TooLong { expected: u64 },
    #[error("body has {actual} bytes, the declared size is {expected}")]
    SizeMismatch { expected: u64, actual: u64 },
    #[error("body hashes to {actual}, not to the oid {expected}")]
    HashMismatch { expected: Oid, actual: Oid },
    #[error("the request body could not be read: {0}")]
    Body(String),
    #[error("the upload could not be verified: {0}")]
    Unverified(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Objects as files below a root directory, with uploads staged in `{root}/tmp`.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    tmp: PathBuf,
}

/// Deletes a temporary file unless it was renamed into place, whatever way the upload ended.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl LocalStore {
    /// Opens (creating if needed) a store below `root` and sweeps stale temporary files.
    pub async fn open(root: impl Into<PathBuf>) -> Result<LocalStore, StoreError> {
        let root = root.into();
        let tmp = root.join("tmp");
        tokio::fs::create_dir_all(&tmp).await?;
        let mut entries = tokio::fs::read_dir(&tmp).await?;
        while let Some(entry) = entries.next_entry().await? {
            let stale = entry
                .metadata()
                .await
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > STALE_TEMP_AGE);
            if stale {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
        Ok(LocalStore { root, tmp })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, oid: &Oid) -> PathBuf {
        self.root.join(oid.fanout_path())
    }

    /// The stored size of `oid`, or `None` when it is not stored.
    pub async fn size(&self, oid: &Oid) -> Result<Option<u64>, StoreError> {
        match tokio::fs::metadata(self.path_of(oid)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens `oid` for reading, with its length.
    pub async fn open_read(&self, oid: &Oid) -> Result<Option<(tokio::fs::File, u64)>, StoreError> {
        match tokio::fs::File::open(self.path_of(oid)).await {
            Ok(f) => {
                let len = f.metadata().await?.len();
                Ok(Some((f, len)))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams `body` into the store as `oid`, refusing it unless it is exactly `size` bytes that
    /// hash to `oid`. Memory use is one chunk of the body, whatever the object's size. Concurrent
    /// uploads of one oid each write their own temporary file; the renames are atomic.
    pub async fn put_verified<S, E>(&self, oid: &Oid, size: u64, body: S) -> Result<(), PutError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let tmp_path = self
            .tmp
            .join(format!("{oid}.{}", uuid::Uuid::new_v4().simple()));
        let mut guard = TempGuard(Some(tmp_path.clone()));
        let file = tokio::fs::File::create(&tmp_path)
            .await
            .map_err(StoreError::from)?;
        let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
        let mut hasher = Sha256::new();
        let mut written: u64 = 0;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| PutError::Body(e.to_string()))?;
            written += chunk.len() as u64;
            if written > size {
                return Err(PutError::TooLong { expected: size });
            }
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(StoreError::from)?;
        }
        if written != size {
            return Err(PutError::SizeMismatch {
                expected: size,
                actual: written,
            });
        }
        let actual = Oid::from_digest(hasher.finalize().into());
        if actual != *oid {
            return Err(PutError::HashMismatch {
                expected: *oid,
                actual,
            });
        }
        out.flush().await.map_err(StoreError::from)?;
        let file = out.into_inner();
        file.sync_all().await.map_err(StoreError::from)?;
        drop(file);
        let dest = self.path_of(oid);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(StoreError::from)?;
        }
        tokio::fs::rename(&tmp_path, &dest)
            .await
            .map_err(StoreError::from)?;
        guard.0 = None;
        Ok(())
    }
}

/// How a [`CloudStore`] presigns URLs.
#[derive(Clone)]
pub enum CloudSigner {
    /// strata's own SigV4 presigner, which pins `x-amz-checksum-sha256` on uploads.
    S3(S3Presigner),
    /// `object_store`'s signer (GCS, Azure): uploads are not pinned to their content.
    Generic(Arc<dyn object_store::signer::Signer>),
}

/// Objects in a bucket reached through `object_store`; bytes go straight between client and bucket.
#[derive(Clone)]
pub struct CloudStore {
    store: Arc<dyn ObjectStore>,
    signer: CloudSigner,
    prefix: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for CloudStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudStore")
            .field("store", &self.store.to_string())
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl CloudStore {
    /// `prefix` is prepended to every key (`""` for none).
    pub fn new(store: Arc<dyn ObjectStore>, signer: CloudSigner, prefix: &str) -> CloudStore {
        CloudStore {
            store,
            signer,
            prefix: prefix.trim_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Whether uploads through this store are checked against their sha256 by the bucket itself.
    pub fn pins_content(&self) -> bool {
        matches!(self.signer, CloudSigner::S3(_))
    }

    fn key(&self, oid: &Oid) -> String {
        if self.prefix.is_empty() {
            oid.fanout_path()
        } else {
            format!("{}/{}", self.prefix, oid.fanout_path())
        }
    }

    /// The stored size of `oid`, or `None` when it is not stored.
    pub async fn size(&self, oid: &Oid) -> Result<Option<u64>, StoreError> {
        match self.store.head(&StorePath::from(self.key(oid))).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A URL the client can GET the object from.
    pub async fn presign_download(
        &self,
        oid: &Oid,
        ttl: Duration,
    ) -> Result<Presigned, StoreError> {
        self.presign("GET", &self.key(oid), &[], ttl).await
    }

    /// Where and how the client uploads `oid` for the repository `scope`: a URL for a fresh staging
    /// key, named by the returned nonce. On S3 the URL only accepts bytes hashing to `oid` (the
    /// checksum header is signed). Nothing uploaded there is visible until
    /// [`CloudStore::finish_upload`] checked it and moved it into place, so unverified bytes never
    /// replace a stored object, and a repository only gets an object linked by proving it uploaded
    /// it, never by naming an oid someone else stored.
    pub async fn presign_upload(
        &self,
        oid: &Oid,
        scope: &str,
        ttl: Duration,
    ) -> Result<(Presigned, String), StoreError> {
        use base64::Engine;
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let key = self.staging_key(oid, scope, &nonce);
        let presigned = match &self.signer {
            CloudSigner::S3(_) => {
                let checksum = base64::engine::general_purpose::STANDARD.encode(oid.as_bytes());
                self.presign(
                    "PUT",
                    &key,
                    &[("x-amz-checksum-sha256", checksum.as_str())],
                    ttl,
                )
                .await?
            }
            CloudSigner::Generic(_) => self.presign("PUT", &key, &[], ttl).await?,
        };
        Ok((presigned, nonce))
    }

    fn staging_key(&self, oid: &Oid, scope: &str, nonce: &str) -> String {
        let key = format!("staging/{scope}/{oid}.{nonce}");
        if self.prefix.is_empty() {
            key
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// Completes an upload made to a staging key: checks its length (and, where the bucket did not
    /// check it, its sha256), then copies it to the final key. The staging object is deleted
    /// whatever the outcome. Returns `Ok(false)` when nothing was uploaded under `nonce`.
    pub async fn finish_upload(
        &self,
        oid: &Oid,
        size: u64,
        scope: &str,
        nonce: &str,
    ) -> Result<bool, PutError> {
        let safe = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !safe(nonce) || !safe(scope) {
            return Ok(false);
        }
        let staging = StorePath::from(self.staging_key(oid, scope, nonce));
        let result = self.check_staged(&staging, oid, size).await;
        let result = match result {
            Ok(true) => self
                .store
                .copy(&staging, &StorePath::from(self.key(oid)))
                .await
                .map(|_| true)
                .map_err(|e| StoreError::from(e).into()),
            other => other,
        };
        if !matches!(result, Ok(false)) {
            let _ = self.store.delete(&staging).await;
        }
        result
    }

    /// Asks S3 for the object's size and the sha256 it checked on upload (`x-amz-checksum-mode`),
    /// so the bytes are verified without passing through strata. An object stored without that
    /// checksum is refused: it did not come through the pinned URL.
    async fn check_s3_checksum(
        &self,
        s3: &S3Presigner,
        staging: &StorePath,
        oid: &Oid,
        size: u64,
    ) -> Result<bool, PutError> {
        use base64::Engine;
        let head = s3.presign(
            "HEAD",
            staging.as_ref(),
            &[("x-amz-checksum-mode", "ENABLED")],
            60,
            time::OffsetDateTime::now_utc(),
        );
        let mut request = self.http.head(&head.url);
        for (name, value) in &head.headers {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| StoreError::Presign(format!("HEAD {staging}: {e}")))?;
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(false),
            status => {
                return Err(StoreError::Presign(format!("HEAD {staging}: status {status}")).into())
            }
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let actual_size = header("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        if actual_size != size {
            return Err(PutError::SizeMismatch {
                expected: size,
                actual: actual_size,
            });
        }
        let expected = base64::engine::general_purpose::STANDARD.encode(oid.as_bytes());
        match header("x-amz-checksum-sha256") {
            Some(sum) if sum == expected => Ok(true),
            Some(sum) => {
                let actual = base64::engine::general_purpose::STANDARD
                    .decode(&sum)
                    .ok()
                    .and_then(|raw| <[u8; 32]>::try_from(raw).ok())
                    .map(Oid::from_digest)
                    .unwrap_or(Oid::from_digest([0; 32]));
                Err(PutError::HashMismatch {
                    expected: *oid,
                    actual,
                })
            }
            None => Err(PutError::Unverified(
                "the bucket holds no sha256 checksum for this upload".into(),
            )),
        }
    }

    async fn check_staged(
        &self,
        staging: &StorePath,
        oid: &Oid,
        size: u64,
    ) -> Result<bool, PutError> {
        if let CloudSigner::S3(s3) = &self.signer {
            return self.check_s3_checksum(s3, staging, oid, size).await;
        }
        let got = match self.store.get(staging).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(StoreError::from(e).into()),
        };
        let mut hasher = Sha256::new();
        let mut seen: u64 = 0;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(StoreError::from)?;
            seen += chunk.len() as u64;
            if seen > size {
                return Err(PutError::TooLong { expected: size });
            }
            hasher.update(&chunk);
        }
        if seen != size {
            return Err(PutError::SizeMismatch {
                expected: size,
                actual: seen,
            });
        }
        let actual = Oid::from_digest(hasher.finalize().into());
        if actual != *oid {
            return Err(PutError::HashMismatch {
                expected: *oid,
                actual,
            });
        }
        Ok(true)
    }

    async fn presign(
        &self,
        method: &str,
        key: &str,
        headers: &[(&str, &str)],
        ttl: Duration,
    ) -> Result<Presigned, StoreError> {
        match &self.signer {
            CloudSigner::S3(s3) => Ok(s3.presign(
                method,
                key,
                headers,
                ttl.as_secs(),
                time::OffsetDateTime::now_utc(),
            )),
            CloudSigner::Generic(signer) => {
                let method = method
                    .parse()
                    .map_err(|_| StoreError::Presign(format!("bad method {method}")))?;
                let url = signer
                    .signed_url(method, &StorePath::from(key), ttl)
                    .await?;
                Ok(Presigned {
                    url: url.to_string(),
                    headers: Default::default(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn body(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, io::Error>> {
        stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    async fn temp_files(store: &LocalStore) -> usize {
        std::fs::read_dir(store.root().join("tmp")).unwrap().count()
    }

    #[tokio::test]
    async fn stores_only_verified_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).await.unwrap();
        let oid = Oid::of(b"hello world");

        let wrong = store
            .put_verified(&oid, 11, body(&[b"hello", b" worle"]))
            .await;
        assert!(
            matches!(wrong, Err(PutError::HashMismatch { .. })),
            "{wrong:?}"
        );
        let short = store.put_verified(&oid, 11, body(&[b"hello"])).await;
        assert!(matches!(
            short,
            Err(PutError::SizeMismatch {
                expected: 11,
                actual: 5
            })
        ));
        let long = store
            .put_verified(&oid, 11, body(&[b"hello world", b"!"]))
            .await;
        assert!(matches!(long, Err(PutError::TooLong { .. })));
        let cut = stream::iter(vec![
            Ok(Bytes::from_static(b"hel")),
            Err(io::Error::other("reset")),
        ]);
        assert!(matches!(
            store.put_verified(&oid, 11, cut).await,
            Err(PutError::Body(_))
        ));
        assert_eq!(store.size(&oid).await.unwrap(), None);
        assert_eq!(temp_files(&store).await, 0);

        store
            .put_verified(&oid, 11, body(&[b"hello", b" world"]))
            .await
            .unwrap();
        assert_eq!(store.size(&oid).await.unwrap(), Some(11));
        assert_eq!(temp_files(&store).await, 0);
    }
}
