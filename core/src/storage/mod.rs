//! The storage facade: the one place that knows which backend holds the bytes. It hands out
//! upload and download actions (strata-signed URLs for the local disk, presigned URLs for a
//! bucket), receives signed local uploads, confirms uploads, and opens ranged reads. Handlers
//! never match on the backend.

mod actions;
mod bucket;
mod chunked;
mod collect;
mod imports;
pub mod keys;
mod multipart;
mod objects;
mod regions;
mod sealed;
mod staged;
mod xorbs;

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::ObjectStore;
use strata_lfs::s3sign::{S3Credentials, S3Presigner};
use strata_lfs::signing::UrlSigner;
use strata_lfs::storage::CloudSigner;
use strata_lfs::{CloudStore, LocalStore};

use crate::config::{Config, StorageBackend};

pub use crate::config::{Location, StoreSpec};
pub use actions::{Actions, SIGNATURE_GRACE_SECS};
pub use collect::Rekeyed;
pub use imports::Listed;
pub use multipart::plan as multipart_plan;
pub use objects::{spool_to, Confirmed, Read};
pub use staged::StagedUpload;
pub use xorbs::Compacted;

/// The configured object storage, with the URL signer and the lifetime of the actions it issues.
#[derive(Debug, Clone)]
pub struct Storage(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    backend: Backend,
    signer: UrlSigner,
    /// Base of the URLs strata signs itself, without a trailing slash.
    public_url: String,
    /// Lifetime announced in actions; signatures live [`SIGNATURE_GRACE_SECS`] longer.
    action_ttl: Duration,
    /// Where the bucket's multipart uploads in progress are recorded.
    db: crate::db::Db,
    /// The origin of the bucket's part URLs, when browsers send parts there.
    part_origin: Option<String>,
    /// With `--encryption on` (local disk) or `strict` (any backend): where sealed objects are
    /// kept and the keys they are sealed with. Every transfer then passes through strata.
    sealed: Option<sealed::Sealed>,
    /// The hashing state of staged uploads in progress (`staged`), and where they are kept:
    /// beside the objects on the local disk, in the data directory for a bucket (shared by
    /// replicas, as the repositories are).
    staging: staged::Staging,
    staged_root: std::path::PathBuf,
    /// The default store's region (`--storage-region`), and the region stores (`regions`).
    home: Option<String>,
    regions: Vec<regions::Region>,
    /// The import sources (`--import-source`): objects adopted by reference are read there.
    sources: Vec<imports::Source>,
    /// Held while an object is chunked and while garbage collection sweeps a dataset
    /// ([`Storage::chunking`]).
    chunking: tokio::sync::Mutex<()>,
}

/// Where an object is: among a dataset's objects in the default store, or in a region store
/// (a residency copy, named by the store).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Place {
    Dataset(i64),
    Copy(String),
}

impl From<i64> for Place {
    fn from(repo_id: i64) -> Place {
        Place::Dataset(repo_id)
    }
}

#[derive(Debug)]
enum Backend {
    Local(LocalStore),
    Cloud(Box<CloudStore>),
}

#[derive(Debug, thiserror::Error)]
pub enum StorageConfigError {
    #[error("--bucket (STRATA_BUCKET) is required for the {0:?} backend")]
    MissingBucket(StorageBackend),
    #[error("S3 credentials are required: set STRATA_S3_ACCESS_KEY_ID and STRATA_S3_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")]
    MissingCredentials,
    #[error(transparent)]
    Endpoint(#[from] strata_lfs::s3sign::EndpointError),
    #[error(transparent)]
    Store(#[from] strata_lfs::StoreError),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("encryption at rest: {0}")]
    Encryption(String),
    #[error("region stores: {0}")]
    Stores(String),
}

impl Storage {
    pub async fn from_config(
        config: &Config,
        signer: UrlSigner,
        public_url: String,
        action_ttl: Duration,
        db: crate::db::Db,
    ) -> Result<Storage, StorageConfigError> {
        use crate::config::Encryption;
        let backend = Self::backend(config).await?;
        // The local disk is sealed whenever encryption is on; a bucket only in strict mode (with
        // `on` it gets the store's own encryption, and bytes keep going straight to it).
        let (place, sealing) = match &backend {
            Backend::Local(store) => (
                sealed::Place::Disk(store.clone()),
                config.encryption != Encryption::Off,
            ),
            Backend::Cloud(cloud) => (
                sealed::Place::Bucket(cloud.clone()),
                config.encryption == Encryption::Strict,
            ),
        };
        sealed::check_layout(&place, sealing)
            .await
            .map_err(StorageConfigError::Encryption)?;
        let sealed = if sealing {
            let default = config.data_dir.join("keys").join("master.key");
            let source = match (&config.master_key, &config.master_key_file) {
                (Some(hex), _) => keys::MasterSource::Hex(hex),
                (None, Some(path)) => keys::MasterSource::File(path),
                (None, None) => keys::MasterSource::File(&default),
            };
            let ring =
                keys::KeyRing::load(source, db.clone()).map_err(StorageConfigError::Encryption)?;
            Some(sealed::Sealed::new(place, ring, db.clone()))
        } else {
            None
        };
        let part_origin = match &backend {
            Backend::Cloud(cloud) if sealed.is_none() => cloud.part_origin().await,
            _ => None,
        };
        let staged_root = match &backend {
            Backend::Local(store) => store.root().join("staged"),
            Backend::Cloud(_) => config.data_dir.join("staged"),
        };
        Ok(Storage(Arc::new(Inner {
            staged_root,
            backend,
            signer,
            public_url,
            action_ttl,
            db,
            part_origin,
            sealed,
            staging: staged::Staging::default(),
            home: config.storage_region().map(str::to_owned),
            regions: regions::open(config).await?,
            sources: imports::open(config).await?,
            chunking: tokio::sync::Mutex::new(()),
        })))
    }

    async fn backend(config: &Config) -> Result<Backend, StorageConfigError> {
        let bucket = || {
            config
                .bucket
                .clone()
                .ok_or(StorageConfigError::MissingBucket(config.storage))
        };
        let cloud = |store: Arc<dyn ObjectStore>, signer| {
            Backend::Cloud(Box::new(CloudStore::new(
                store,
                signer,
                &config.storage_prefix,
            )))
        };
        Ok(match config.storage {
            StorageBackend::Local => {
                Backend::Local(LocalStore::open(config.data_dir.join("objects")).await?)
            }
            StorageBackend::S3 => {
                let bucket = bucket()?;
                let (mut builder, (key_id, secret, token)) = s3_builder(
                    config,
                    &bucket,
                    &config.s3_region,
                    config.s3_endpoint.as_deref(),
                    config.s3_path_style,
                )?;
                let sse = s3_sse(config);
                for (name, value) in &sse {
                    builder = match name.as_str() {
                        "x-amz-server-side-encryption" => builder
                            .with_config("aws_server_side_encryption".parse()?, value.as_str()),
                        "x-amz-server-side-encryption-aws-kms-key-id" => {
                            builder.with_sse_kms_encryption(value.as_str())
                        }
                        _ => builder.with_bucket_key(true),
                    };
                }
                let s3 = Arc::new(builder.build()?);
                let creds = S3Credentials {
                    access_key_id: key_id,
                    secret_access_key: secret,
                    session_token: token,
                };
                let signer = CloudSigner::S3 {
                    presigner: S3Presigner::new(
                        config.s3_endpoint.as_deref(),
                        &bucket,
                        &config.s3_region,
                        creds,
                        config.s3_path_style,
                    )?,
                    pin_checksums: config.s3_checksum_pinning,
                };
                Backend::Cloud(Box::new(
                    CloudStore::new(s3, signer, &config.storage_prefix).with_sse(sse),
                ))
            }
            StorageBackend::Gcs => {
                let gcs = Arc::new(
                    GoogleCloudStorageBuilder::from_env()
                        .with_bucket_name(bucket()?)
                        .build()?,
                );
                cloud(gcs.clone(), CloudSigner::Generic(gcs))
            }
            StorageBackend::Azure => {
                let mut builder = MicrosoftAzureBuilder::from_env().with_container_name(bucket()?);
                if let Some(account) = &config.azure_account {
                    builder = builder.with_account(account);
                }
                if let Some(key) = &config.azure_access_key {
                    builder = builder.with_access_key(&**key);
                }
                if let Some(endpoint) = &config.azure_endpoint {
                    builder = builder
                        .with_endpoint(endpoint.clone())
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                let azure = Arc::new(builder.build()?);
                let store = CloudStore::new(
                    azure.clone(),
                    CloudSigner::Azure(azure),
                    &config.storage_prefix,
                );
                if let (crate::config::Encryption::On, Some(scope)) =
                    (config.encryption, &config.azure_encryption_scope)
                {
                    store
                        .check_encryption_scope(scope)
                        .await
                        .map_err(StorageConfigError::Encryption)?;
                }
                Backend::Cloud(Box::new(store))
            }
        })
    }
}

/// The S3 credentials: the access key id, the secret and a session token.
/// S3 credentials: the access key id, the secret key and a session token.
type S3Keys = (String, String, Option<String>);

/// An S3 client for `bucket` (in `s3_region`, at `endpoint` or AWS, path-style or not) with the
/// default store's credentials, and those credentials (for presigning).
fn s3_builder(
    config: &Config,
    bucket: &str,
    s3_region: &str,
    endpoint: Option<&str>,
    path_style: bool,
) -> Result<(AmazonS3Builder, S3Keys), StorageConfigError> {
    let (key_id, secret, token) = s3_credentials(config)?;
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(s3_region)
        .with_access_key_id(&key_id)
        .with_secret_access_key(&secret)
        .with_virtual_hosted_style_request(!path_style);
    if let Some(endpoint) = endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    if let Some(token) = &token {
        builder = builder.with_token(token);
    }
    Ok((builder, (key_id, secret, token)))
}

fn s3_credentials(config: &Config) -> Result<S3Keys, StorageConfigError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let key_id = config
        .s3_access_key_id
        .clone()
        .or_else(|| env("AWS_ACCESS_KEY_ID"));
    let secret = config
        .s3_secret_access_key
        .as_deref()
        .map(str::to_owned)
        .or_else(|| env("AWS_SECRET_ACCESS_KEY"));
    let (Some(key_id), Some(secret)) = (key_id, secret) else {
        return Err(StorageConfigError::MissingCredentials);
    };
    Ok((key_id, secret, env("AWS_SESSION_TOKEN")))
}

/// The server-side encryption headers S3 writes carry with `--encryption on`: SSE-KMS under
/// `--s3-sse-kms-key-id` with an S3 Bucket Key (one data key per bucket and KMS key, so KMS is
/// not asked for every object), or SSE-S3.
fn s3_sse(config: &Config) -> Vec<(String, String)> {
    let pair = |n: &str, v: &str| (n.to_owned(), v.to_owned());
    match (config.encryption, &config.s3_sse_kms_key_id) {
        (crate::config::Encryption::Off, _) => Vec::new(),
        (_, Some(key)) => vec![
            pair("x-amz-server-side-encryption", "aws:kms"),
            pair("x-amz-server-side-encryption-aws-kms-key-id", key),
            pair("x-amz-server-side-encryption-bucket-key-enabled", "true"),
        ],
        (_, None) => vec![pair("x-amz-server-side-encryption", "AES256")],
    }
}

/// The turn of [`Storage::chunking`], held while this lives.
pub struct Chunking<'a> {
    _here: tokio::sync::MutexGuard<'a, ()>,
    _among: crate::db::Turn,
}

impl Storage {
    /// Whether stored objects are sealed (`--encryption on` on the local disk, `strict`).
    pub fn sealed(&self) -> bool {
        self.0.sealed.is_some()
    }

    /// The turn of the work that makes xorbs before recording the files that use them (strata
    /// chunking an object, and letting whole copies go) against the work that lets xorbs go or
    /// moves files between them (garbage collection's sweep and compaction of a dataset,
    /// erasure): one at a time, in this process and among replicas.
    pub async fn chunking(&self) -> crate::error::Result<Chunking<'_>> {
        let local = self.0.chunking.lock().await;
        let shared = self.0.db.turn("xet chunking").await?;
        Ok(Chunking {
            _here: local,
            _among: shared,
        })
    }

    /// Whether the object store answers, within `timeout`: the local directory is there, or the
    /// bucket answers a HEAD (for a key that need not exist).
    pub async fn ping(&self, timeout: Duration) -> bool {
        let probe = async {
            match &self.0.backend {
                Backend::Local(store) => tokio::fs::metadata(store.root()).await.is_ok(),
                Backend::Cloud(cloud) => cloud.size(&strata_lfs::Oid::EMPTY).await.is_ok(),
            }
        };
        tokio::time::timeout(timeout, probe).await.unwrap_or(false)
    }

    fn not_sealed() -> crate::error::Error {
        crate::error::Error::unprocessable(
            "objects are not sealed here: start with --encryption on (strict for a bucket)",
        )
    }

    /// Whether a dataset was crypto-shredded: deleted with its data keys destroyed, so its
    /// sealed objects are unreadable from then on (reads answer 410) and its sealed copies were
    /// removed. Never without sealing.
    pub async fn shredded(&self, repo_id: i64) -> crate::error::Result<bool> {
        match &self.0.sealed {
            Some(sealed) => sealed.keys().shredded(repo_id).await,
            None => Ok(false),
        }
    }

    /// Data-key rotation for a dataset: new objects are sealed with a new key version; with
    /// `reseal`, every object sealed before is re-sealed under it. Returns the new version and
    /// how many objects were re-sealed.
    pub async fn rotate_data_key(
        &self,
        repo_id: i64,
        reseal: bool,
    ) -> crate::error::Result<(u32, u64)> {
        let sealed = self.0.sealed.as_ref().ok_or_else(Self::not_sealed)?;
        let key = sealed.keys().rotate(repo_id).await?;
        let resealed = if reseal {
            sealed.reseal(repo_id).await?.0
        } else {
            0
        };
        Ok((key.version, resealed))
    }

    /// Master-key rotation: every data key is wrapped again under the master key at `source`.
    /// Returns how many were rewrapped; restart strata with the new key afterwards.
    pub async fn rotate_master_key(
        &self,
        source: keys::MasterSource<'_>,
    ) -> crate::error::Result<(u64, String)> {
        let sealed = self.0.sealed.as_ref().ok_or_else(Self::not_sealed)?;
        let new = keys::KeyRing::load(source, self.0.db.clone())
            .map_err(crate::error::Error::unprocessable)?;
        let done = sealed.keys().rewrap_all(&new).await?;
        Ok((done, new.master_id().to_owned()))
    }

    /// Whether unsealed objects from before encryption are left to seal.
    pub async fn unsealed_left(&self) -> bool {
        match &self.0.sealed {
            Some(sealed) => sealed.has_plain().await,
            None => false,
        }
    }

    /// One step of sealing a store that was plain before encryption: at most `limit` objects
    /// after `after` (by oid). Returns where to go on from (`None`: done) and how many sealed
    /// copies were made. See `sealed::Sealed::migrate`.
    pub async fn seal_existing(
        &self,
        after: &str,
        limit: i64,
    ) -> crate::error::Result<(Option<String>, u64)> {
        match &self.0.sealed {
            Some(sealed) => sealed.migrate(after, limit).await,
            None => Ok((None, 0)),
        }
    }

    /// Crypto-shreds a deleted dataset: see [`Storage::shredded`].
    pub async fn shred(&self, repo_id: i64) -> crate::error::Result<()> {
        match &self.0.sealed {
            Some(sealed) => sealed.shred(repo_id).await,
            None => Ok(()),
        }
    }
}

/// A local I/O failure of the facade's own files, as the domain error.
fn io(e: std::io::Error) -> crate::error::Error {
    crate::error::Error::from(strata_lfs::StoreError::from(e))
}

/// A temporary file of the facade's (a spooled upload, a part being received), removed when
/// dropped unless kept.
struct TempFile(Option<std::path::PathBuf>);

impl TempFile {
    fn new(path: std::path::PathBuf) -> TempFile {
        TempFile(Some(path))
    }

    fn path(&self) -> &std::path::Path {
        self.0
            .as_deref()
            .expect("a TempFile has its path until kept")
    }

    /// The file became something else (renamed into place): leave it be.
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}
