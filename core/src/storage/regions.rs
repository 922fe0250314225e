//! Region stores (`--store NAME=URL`): object stores tagged with the region they are in, beside
//! the default store (whose region is `--storage-region`). They hold residency copies only: a
//! governed view written once into the store of the region that reads it
//! (`crate::tables::residency`), never a dataset's raw bytes.
//!
//! A store is `s3://bucket/prefix` or `file:///absolute/path`, its query saying `region=` (the
//! name policies compare with a dataset's `geography`, required) and, for S3, `endpoint=`,
//! `s3_region=` (default `us-east-1`) and `path_style=true`. S3 credentials are the default
//! store's (`--s3-access-key-id`, `--s3-secret-access-key`, or the `AWS_*` variables).

use std::sync::Arc;

use strata_lfs::s3sign::{S3Credentials, S3Presigner};
use strata_lfs::storage::CloudSigner;
use strata_lfs::{CloudStore, LocalStore};

use super::{Backend, StorageConfigError};
use crate::config::{Config, Location};

/// An opened region store.
#[derive(Debug)]
pub(super) struct Region {
    pub name: String,
    pub region: String,
    pub backend: Backend,
}

/// Checks the stores against each other and the default store's region, and opens them.
pub(super) async fn open(config: &Config) -> Result<Vec<Region>, StorageConfigError> {
    let bad = |m: String| StorageConfigError::Stores(m);
    let home = config.storage_region();
    let mut out: Vec<Region> = Vec::new();
    for spec in &config.stores {
        if out.iter().any(|r| r.name == spec.name) {
            return Err(bad(format!("two stores are named {:?}", spec.name)));
        }
        if out.iter().any(|r| r.region == spec.region) {
            return Err(bad(format!("two stores are in region {:?}", spec.region)));
        }
        match home {
            None => {
                return Err(bad(
                    "--store needs the default store's region: set --storage-region (or --region)"
                        .into(),
                ))
            }
            Some(h) if h == spec.region => {
                return Err(bad(format!(
                    "store {:?} is in region {:?}, where the default store is",
                    spec.name, spec.region
                )))
            }
            Some(_) => {}
        }
        if config.encryption == crate::config::Encryption::Strict {
            return Err(bad(
                "--store with --encryption strict: residency copies are not sealed, so strict \
                 encryption cannot be kept in region stores"
                    .into(),
            ));
        }
        let backend = match &spec.at {
            Location::Dir(path) => Backend::Local(LocalStore::open(path.clone()).await?),
            Location::S3 {
                bucket,
                prefix,
                endpoint,
                s3_region,
                path_style,
            } => {
                let (builder, (key_id, secret, token)) =
                    super::s3_builder(config, bucket, s3_region, endpoint.as_deref(), *path_style)?;
                let signer = CloudSigner::S3 {
                    presigner: S3Presigner::new(
                        endpoint.as_deref(),
                        bucket,
                        s3_region,
                        S3Credentials {
                            access_key_id: key_id,
                            secret_access_key: secret,
                            session_token: token,
                        },
                        *path_style,
                    )?,
                    pin_checksums: false,
                };
                Backend::Cloud(Box::new(CloudStore::new(
                    Arc::new(builder.build()?),
                    signer,
                    prefix,
                )))
            }
        };
        tracing::info!(store = %spec.name, region = %spec.region, "region store");
        out.push(Region {
            name: spec.name.clone(),
            region: spec.region.clone(),
            backend,
        });
    }
    Ok(out)
}

impl super::Storage {
    /// The region the default store is in (`--storage-region`, or else `--region`).
    pub fn home_region(&self) -> Option<&str> {
        self.0.home.as_deref()
    }

    /// The name of the store in `region`, other than the default store.
    pub fn store_in(&self, region: &str) -> Option<&str> {
        self.0
            .regions
            .iter()
            .find(|r| r.region == region)
            .map(|r| r.name.as_str())
    }

    /// The region store named `name`.
    pub(super) fn region(&self, name: &str) -> crate::error::Result<&Backend> {
        self.0
            .regions
            .iter()
            .find(|r| r.name == name)
            .map(|r| &r.backend)
            .ok_or_else(|| {
                crate::error::Error::internal(format!(
                    "no region store is named {name:?} (was --store {name}=… removed?)"
                ))
            })
    }
}
