//! [`CloudStore`]: objects in S3, GCS or Azure through `object_store`. strata presigns URLs so bytes
//! go straight between client and bucket, stages uploads under a per-upload key, and checks them
//! (by the bucket's own sha256 on S3, by hashing elsewhere) before moving them into place.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::{path::Path as StorePath, ObjectStore, ObjectStoreExt};

use super::{ObjectRead, PutError, StoreError, Verifier};
use crate::oid::Oid;
use crate::s3sign::{Presigned, S3Presigner};

mod blocks;
mod copy;
mod multipart;
mod scope;

pub use multipart::{BucketPart, BucketUpload};

/// The largest object [`CloudStore::put_sized`] sends in one `PUT` (S3 takes 5 GiB; strata's
/// own calls to the bucket time out after 10 minutes, so a single request is kept short).
const ONE_PUT: u64 = 1024 * 1024 * 1024;

/// The part size and the parts in flight of [`CloudStore::put_hashed`].
const PUT_PART: usize = 16 * 1024 * 1024;
const PUT_PARTS_AT_ONCE: usize = 4;

/// How a [`CloudStore`] presigns URLs.
#[derive(Clone)]
pub enum CloudSigner {
    /// The SigV4 presigner of [`crate::s3sign`], which can pin `x-amz-checksum-sha256` on uploads
    /// (for stores that check it) and presign multipart parts.
    S3 {
        presigner: S3Presigner,
        pin_checksums: bool,
    },
    /// Azure Blob Storage: `object_store`'s SAS signer, and its block list for multipart parts
    /// (Put Block, Put Block List). Uploads are not pinned to their content, so strata hashes them
    /// before accepting them.
    Azure(Arc<object_store::azure::MicrosoftAzure>),
    /// `object_store`'s signer (GCS): uploads are not pinned to their content, so strata hashes
    /// them before accepting them.
    Generic(Arc<dyn object_store::signer::Signer>),
}

/// Objects in a bucket reached through `object_store`; bytes go straight between client and bucket.
#[derive(Clone)]
pub struct CloudStore {
    store: Arc<dyn ObjectStore>,
    signer: CloudSigner,
    prefix: String,
    http: reqwest::Client,
    /// Server-side encryption headers every write to the bucket carries (S3 SSE), signed into
    /// the upload URLs handed out, so a client that drops them is refused by the bucket.
    sse: Vec<(String, String)>,
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
            // strata's own calls to the bucket (HEAD, ListParts, completing…) never hang a batch.
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(600))
                .build()
                .unwrap_or_default(),
            sse: Vec::new(),
        }
    }

    /// The same store, asking S3 for server-side encryption on every write strata makes or signs:
    /// `headers` are `x-amz-server-side-encryption…` pairs (the `object_store` client must be
    /// configured with the same encryption for the writes it makes itself).
    pub fn with_sse(mut self, headers: Vec<(String, String)>) -> CloudStore {
        self.sse = headers;
        self
    }

    /// The server-side encryption headers writes carry (empty without `with_sse`).
    pub fn sse_headers(&self) -> &[(String, String)] {
        &self.sse
    }

    /// The `object_store` client behind this store.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// `key` under this store's prefix.
    pub fn prefixed(&self, key: &str) -> StorePath {
        if self.prefix.is_empty() {
            StorePath::from(key)
        } else {
            StorePath::from(format!("{}/{key}", self.prefix))
        }
    }

    /// Whether uploads through this store are checked against their sha256 by the bucket itself.
    pub fn pins_content(&self) -> bool {
        matches!(
            self.signer,
            CloudSigner::S3 {
                pin_checksums: true,
                ..
            }
        )
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

    /// Opens `oid` for reading through strata (not a presigned URL), `range` being an inclusive
    /// byte range the caller checked against [`CloudStore::size`]; `None` when it is not stored.
    pub async fn read(
        &self,
        oid: &Oid,
        range: Option<(u64, u64)>,
    ) -> Result<Option<ObjectRead>, StoreError> {
        let path = StorePath::from(self.key(oid));
        let options = object_store::GetOptions {
            range: range.map(|(first, last)| object_store::GetRange::Bounded(first..last + 1)),
            ..Default::default()
        };
        let result = match self.store.get_opts(&path, options).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let len = result.meta.size;
        let (start, count) = (result.range.start, result.range.end - result.range.start);
        let body = result
            .into_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other))
            .boxed();
        Ok(Some(ObjectRead {
            len,
            start,
            count,
            body,
        }))
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
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let key = self.staging_key(oid, scope, &nonce);
        let headers = self.put_headers(oid);
        let signed: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let presigned = self.presign("PUT", &key, &signed, ttl).await?;
        Ok((presigned, nonce))
    }

    /// What a `PUT` of `oid` carries, signed: the bucket's encryption headers, and its sha256
    /// where the bucket checks it.
    fn put_headers(&self, oid: &Oid) -> Vec<(&str, String)> {
        use base64::Engine;
        let mut headers: Vec<(&str, String)> = self
            .sse
            .iter()
            .map(|(n, v)| (n.as_str(), v.clone()))
            .collect();
        if self.pins_content() {
            let checksum = base64::engine::general_purpose::STANDARD.encode(oid.as_bytes());
            headers.push(("x-amz-checksum-sha256", checksum));
        }
        headers
    }

    fn staging_key(&self, oid: &Oid, scope: &str, nonce: &str) -> String {
        let key = format!("staging/{scope}/{oid}.{nonce}");
        if self.prefix.is_empty() {
            key
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// Stores `body` (`size` bytes the caller hashed to `oid`) under `oid`'s key. On S3, up to
    /// [`ONE_PUT`], in one streamed `PUT` the bucket writes once (checking its sha256 where
    /// checksums are pinned); elsewhere, and beyond, in one multipart upload
    /// ([`CloudStore::put_hashed`]). Nothing is visible under the key before all of it is there.
    pub async fn put_sized<S>(&self, oid: &Oid, size: u64, body: S) -> Result<(), PutError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
    {
        if !matches!(self.signer, CloudSigner::S3 { .. }) || size > ONE_PUT {
            return self.put_hashed(oid, body).await;
        }
        let key = self.key(oid);
        let owned = self.put_headers(oid);
        let headers: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let signed = self
            .s3()?
            .presign_query(
                "PUT",
                &key,
                &[],
                &headers,
                3600,
                time::OffsetDateTime::now_utc(),
            )
            .map_err(|e| StoreError::Presign(format!("PUT {key}: {e}")))?;
        let mut request = self
            .http
            .put(&signed.url)
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(body));
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| StoreError::Presign(format!("PUT {key}: {e}")))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let text = response.text().await.unwrap_or_default();
            return Err(Self::refused(&format!("PUT {key}"), status, &text).into());
        }
        Ok(())
    }

    /// Writes `body` to `oid`'s final key in one multipart upload, which becomes visible only when
    /// it completes. For bytes the caller has already hashed to `oid` (a spooled browser upload).
    pub async fn put_hashed<S, E>(&self, oid: &Oid, body: S) -> Result<(), PutError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, E>>,
        E: std::fmt::Display,
    {
        use futures_util::StreamExt;
        let upload = self
            .store
            .put_multipart(&StorePath::from(self.key(oid)))
            .await
            .map_err(StoreError::from)?;
        // Parts of 16 MiB, at most 4 in flight: memory stays near 80 MiB however fast the body
        // comes (`write` alone starts every part at once, holding the whole body).
        let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PUT_PART);
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(PutError::Body(e.to_string()));
                }
            };
            if let Err(e) = writer.wait_for_capacity(PUT_PARTS_AT_ONCE).await {
                let _ = writer.abort().await;
                return Err(StoreError::from(e).into());
            }
            writer.put(chunk);
        }
        writer.finish().await.map_err(StoreError::from)?;
        Ok(())
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
        match &self.signer {
            CloudSigner::S3 {
                presigner,
                pin_checksums: true,
            } => {
                let checked = self.check_s3_checksum(presigner, &staging, oid, size).await;
                self.place(&staging, oid, size, checked).await
            }
            _ => self.hash_and_place(&staging, oid, size).await,
        }
    }

    /// Once `checked` says the object at `from` is exactly `size` bytes hashing to `oid`
    /// (`Ok(true)`), copies it to `oid`'s key; `from` is deleted whatever the outcome.
    pub(super) async fn place(
        &self,
        from: &StorePath,
        oid: &Oid,
        size: u64,
        checked: Result<bool, PutError>,
    ) -> Result<bool, PutError> {
        let placed = match checked {
            Ok(true) => self
                .copy_key(from.as_ref(), &self.key(oid), size)
                .await
                .map(|()| true)
                .map_err(PutError::from),
            other => other,
        };
        let _ = self.store.delete(from).await;
        placed
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
        // Signed in headers: a presigned URL would leave `x-amz-checksum-mode` unsigned.
        let head = s3
            .sign_request(
                "HEAD",
                staging.as_ref(),
                &[],
                &[("x-amz-checksum-mode", "ENABLED")],
                b"",
                time::OffsetDateTime::now_utc(),
            )
            .map_err(|e| StoreError::Presign(format!("HEAD {staging}: {e}")))?;
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

    /// Hashes a staged object and moves it into place from a key no client can write. The upload
    /// URL handed out for `staging` stays valid until it expires, so the object is first copied
    /// to a private key (`….checked`, for which no URL was ever signed) and the staging object is
    /// deleted; the private copy is hashed and copied to `oid`'s key. Bytes swapped in after the
    /// hash never reach the object. `Ok(false)` when nothing is staged; the private copy is
    /// deleted whatever the outcome.
    pub(super) async fn hash_and_place(
        &self,
        staging: &StorePath,
        oid: &Oid,
        size: u64,
    ) -> Result<bool, PutError> {
        let private = StorePath::from(format!("{staging}.checked"));
        match self
            .copy_key(staging.as_ref(), private.as_ref(), size)
            .await
        {
            Ok(()) => {}
            Err(StoreError::ObjectStore(object_store::Error::NotFound { .. })) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let _ = self.store.delete(staging).await;
        let checked = self.hash_staged(&private, oid, size).await;
        self.place(&private, oid, size, checked).await
    }

    /// Reads a staged object through strata and checks its length and sha256: `Ok(false)` when
    /// nothing is staged there.
    async fn hash_staged(
        &self,
        staging: &StorePath,
        oid: &Oid,
        size: u64,
    ) -> Result<bool, PutError> {
        let got = match self.store.get(staging).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(StoreError::from(e).into()),
        };
        let mut verifier = Verifier::new(*oid, size);
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            verifier.update(&chunk.map_err(StoreError::from)?)?;
        }
        verifier.finish()?;
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
            CloudSigner::S3 { presigner: s3, .. } => s3
                .presign(
                    method,
                    key,
                    headers,
                    ttl.as_secs(),
                    time::OffsetDateTime::now_utc(),
                )
                .map_err(|e| StoreError::Presign(format!("{method} {key}: {e}"))),
            CloudSigner::Azure(azure) => {
                let mut signed = sign(azure.as_ref(), method, key, ttl).await?;
                if method == "PUT" {
                    // Put Blob refuses a request that does not say which kind of blob it makes.
                    signed
                        .headers
                        .insert("x-ms-blob-type".into(), "BlockBlob".into());
                }
                Ok(signed)
            }
            CloudSigner::Generic(signer) => sign(signer.as_ref(), method, key, ttl).await,
        }
    }
}

/// A URL presigned by `object_store`'s `signer`.
async fn sign(
    signer: &dyn object_store::signer::Signer,
    method: &str,
    key: &str,
    ttl: Duration,
) -> Result<Presigned, StoreError> {
    let parsed = method
        .parse()
        .map_err(|_| StoreError::Presign(format!("bad method {method}")))?;
    let url = signer
        .signed_url(parsed, &StorePath::from(key), ttl)
        .await?;
    Ok(Presigned {
        url: url.to_string(),
        headers: Default::default(),
    })
}
