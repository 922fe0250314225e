//! Import sources (`--import-source NAME=URL`): buckets or directories whose objects datasets
//! adopt by reference (`crate::imports`). The facade lists a source's prefix, hashes an object
//! where it is (read once, never copied), records it pinned to the ETag and version it was read
//! at, and reads it from there afterwards: a read that finds the object changed or gone is
//! refused (409), never answered with other bytes, and a whole read is hashed again as it streams
//! (cut short if the bytes are not the object's).

use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetRange, ObjectStore};
use sha2::{Digest, Sha256};
use strata_lfs::storage::ObjectRead;
use strata_lfs::Oid;

use super::objects::{bounds, Read};
use super::{Storage, StorageConfigError};
use crate::config::{Config, Location};
use crate::db::ObjectRef;
use crate::error::{Error, Kind, Result};

/// An opened import source.
#[derive(Debug)]
pub(super) struct Source {
    pub name: String,
    pub namespaces: Vec<String>,
    pub store: Arc<dyn ObjectStore>,
    /// A directory's canonical path: what is read must be a file inside it, reached through no
    /// symbolic link (one planted in a shared folder must not reach strata's keys).
    pub root: Option<std::path::PathBuf>,
}

impl Source {
    /// Refuses `key` of a directory source when its path is, or passes through, a symbolic
    /// link (named by the link, not by what it leads to).
    async fn check_inside(&self, key: &str) -> Result<()> {
        let Some(root) = &self.root else {
            return Ok(());
        };
        let path = root.join(key);
        match tokio::fs::canonicalize(&path).await {
            Ok(real) if real == path => Ok(()),
            Ok(_) => {
                let mut link = root.clone();
                let mut named = String::new();
                for part in key.split('/') {
                    link.push(part);
                    if !named.is_empty() {
                        named.push('/');
                    }
                    named.push_str(part);
                    if tokio::fs::symlink_metadata(&link)
                        .await
                        .is_ok_and(|m| m.is_symlink())
                    {
                        break;
                    }
                }
                Err(Error::forbidden(format!(
                    "{named:?} in import source {:?} is a symbolic link: a directory source \
                     serves only the files inside it",
                    self.name
                )))
            }
            Err(e) => Err(Error::not_found(format!(
                "{key:?} in import source {:?}: {e}",
                self.name
            ))),
        }
    }
}

/// An object under a source's prefix, as listed.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Its key in the source.
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
}

/// Opens the import sources.
pub(super) async fn open(config: &Config) -> Result<Vec<Source>, StorageConfigError> {
    let mut out: Vec<Source> = Vec::new();
    for spec in &config.import_sources {
        if out.iter().any(|s| s.name == spec.name) {
            return Err(StorageConfigError::Stores(format!(
                "two import sources are named {:?}",
                spec.name
            )));
        }
        let (store, root): (Arc<dyn ObjectStore>, _) = match &spec.at {
            Location::Dir(path) => {
                if !path.is_dir() {
                    return Err(StorageConfigError::Stores(format!(
                        "import source {:?}: {} is not a directory",
                        spec.name,
                        path.display()
                    )));
                }
                (
                    Arc::new(LocalFileSystem::new_with_prefix(path)?),
                    path.canonicalize().ok(),
                )
            }
            Location::S3 {
                bucket,
                prefix,
                endpoint,
                s3_region,
                path_style,
            } => {
                let (builder, _) =
                    super::s3_builder(config, bucket, s3_region, endpoint.as_deref(), *path_style)?;
                let s3 = builder.build()?;
                let store: Arc<dyn ObjectStore> = match prefix.is_empty() {
                    true => Arc::new(s3),
                    false => Arc::new(PrefixStore::new(s3, prefix.as_str())),
                };
                (store, None)
            }
        };
        tracing::info!(source = %spec.name, "import source");
        out.push(Source {
            name: spec.name.clone(),
            namespaces: spec.namespaces.clone(),
            store,
            root,
        });
    }
    Ok(out)
}

/// A key as listed (already in the store's encoding), as a path to it.
fn key_path(key: &str) -> Path {
    Path::parse(key).unwrap_or_else(|_| Path::from(key))
}

/// The error for a source's object that is no longer what was imported.
fn drifted(r: &ObjectRef, why: impl std::fmt::Display) -> Error {
    Error::conflict(format!(
        "{:?} in import source {:?} changed since it was imported ({why}): strata serves no other \
         bytes for it; import it again",
        r.key, r.source
    ))
}

fn source_error(source: &str, e: object_store::Error) -> Error {
    Error::new(Kind::Upstream, format!("import source {source:?}: {e}"))
}

impl Storage {
    /// The import sources, and the namespaces whose dataset admins may use each (none: only
    /// site admins).
    pub fn import_sources(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0
            .sources
            .iter()
            .map(|s| (s.name.as_str(), s.namespaces.as_slice()))
    }

    fn source(&self, name: &str) -> Result<&Source> {
        self.0
            .sources
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::not_found(format!("there is no import source {name:?}")))
    }

    /// The objects under `prefix` of source `name` (a folder: `""` or ending in `/`), at most
    /// `limit` (more is an error, so an import never takes part of a prefix).
    pub async fn list_source(&self, name: &str, prefix: &str, limit: usize) -> Result<Vec<Listed>> {
        let source = self.source(name)?;
        let at = (!prefix.is_empty()).then(|| Path::from(prefix.trim_end_matches('/')));
        let mut listing = source.store.list(at.as_ref());
        let mut out = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| source_error(name, e))?;
            source.check_inside(meta.location.as_ref()).await?;
            if out.len() == limit {
                return Err(Error::new(
                    Kind::TooLarge,
                    format!("more than {limit} objects under {prefix:?}: import a narrower prefix"),
                ));
            }
            out.push(Listed {
                key: meta.location.to_string(),
                size: meta.size,
                etag: meta.e_tag,
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Reads `key` of source `name` once, hashing it where it is: the object it is, pinned to
    /// the ETag and version it was read at. Refused past `limit` bytes.
    pub async fn hash_source(&self, name: &str, key: &str, limit: u64) -> Result<ObjectRef> {
        let source = self.source(name)?;
        source.check_inside(key).await?;
        let got = source
            .store
            .get_opts(&key_path(key), GetOptions::default())
            .await
            .map_err(|e| source_error(name, e))?;
        let meta = got.meta.clone();
        if meta.size > limit {
            return Err(Error::new(
                Kind::TooLarge,
                format!(
                    "{key:?} is {} bytes, more than the {limit} an object may be",
                    meta.size
                ),
            ));
        }
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = got.into_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| source_error(name, e))?;
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        if size != meta.size {
            return Err(Error::conflict(format!(
                "{key:?} changed while it was read ({size} bytes, listed as {})",
                meta.size
            )));
        }
        Ok(ObjectRef {
            oid: Oid::from_digest(hasher.finalize().into()).to_string(),
            source: name.to_owned(),
            key: key.to_owned(),
            size: size as i64,
            etag: meta.e_tag,
            version: meta.version,
        })
    }

    /// Adopts objects `refs` into dataset `repo_id` by reference: recorded (a thousand to a
    /// transaction), then linked (many at once: the links share transactions).
    pub async fn adopt(&self, repo_id: i64, refs: &[ObjectRef]) -> Result<()> {
        for part in refs.chunks(1000) {
            self.0.db.put_object_refs(part).await?;
        }
        let links: Vec<futures_util::future::BoxFuture<'_, Result<()>>> = refs
            .iter()
            .map(|r| futures_util::FutureExt::boxed(self.link_ref(repo_id, r)))
            .collect();
        let linked = futures_util::stream::iter(links)
            .buffer_unordered(32)
            .collect::<Vec<Result<()>>>()
            .await;
        linked.into_iter().collect()
    }

    async fn link_ref(&self, repo_id: i64, r: &ObjectRef) -> Result<()> {
        let oid: Oid = r.oid.parse().map_err(Error::internal)?;
        self.link(repo_id, &oid, r.size as u64).await
    }

    /// Whether `oid` is adopted by reference.
    pub(super) async fn referenced(&self, oid: &Oid) -> Result<bool> {
        Ok(self.0.db.object_ref(&oid.to_string()).await?.is_some())
    }

    /// [`Storage::read`] of an object adopted by reference: `None` when it is not one.
    pub(super) async fn read_referenced(
        &self,
        oid: &Oid,
        range: Option<&str>,
    ) -> Result<Option<Read>> {
        let Some(r) = self.0.db.object_ref(&oid.to_string()).await? else {
            return Ok(None);
        };
        let len = r.size as u64;
        let Some((start, count, partial)) = bounds(range, len) else {
            return Ok(Some(Read::Unsatisfiable { len }));
        };
        let source = self.source(&r.source).map_err(|_| {
            Error::conflict(format!(
                "this object is in import source {:?}, which this server no longer has",
                r.source
            ))
        })?;
        source
            .check_inside(&r.key)
            .await
            .map_err(|e| drifted(&r, e.message))?;
        let options = GetOptions {
            if_match: r.etag.clone(),
            version: r.version.clone(),
            range: (count < len).then_some(GetRange::Bounded(start..start + count)),
            ..GetOptions::default()
        };
        let got = match source
            .store
            .get_opts(&Path::from(r.key.as_str()), options)
            .await
        {
            Ok(got) => got,
            Err(object_store::Error::Precondition { .. }) => {
                return Err(drifted(&r, "its ETag is not the one it was hashed at"))
            }
            Err(object_store::Error::NotFound { .. }) => return Err(drifted(&r, "it is gone")),
            Err(e) => return Err(source_error(&r.source, e)),
        };
        // A store that ignored the condition still says what it served.
        if got.meta.size != len || (r.etag.is_some() && got.meta.e_tag != r.etag) {
            return Err(drifted(
                &r,
                "its ETag or size is not the one it was hashed at",
            ));
        }
        let body = got.into_stream().map_err(std::io::Error::other);
        let body = match partial || count < len {
            true => body.boxed(),
            false => checked(body, *oid).boxed(),
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
}

/// `body` as it streams, ended with an error instead of its last piece if all of it does not
/// hash to `oid`: a reader never takes other bytes for the object.
fn checked(
    body: impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
    oid: Oid,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    struct State<S> {
        body: S,
        hasher: Option<Sha256>,
        held: Option<bytes::Bytes>,
    }
    let start = State {
        body: Box::pin(body),
        hasher: Some(Sha256::new()),
        held: None,
    };
    futures_util::stream::unfold(start, move |mut st| async move {
        let hasher = st.hasher.as_mut()?;
        loop {
            match st.body.next().await {
                Some(Ok(chunk)) => {
                    hasher.update(&chunk);
                    if let Some(previous) = st.held.replace(chunk) {
                        return Some((Ok(previous), st));
                    }
                }
                Some(Err(e)) => {
                    st.hasher = None;
                    return Some((Err(e), st));
                }
                None => {
                    let hasher = st.hasher.take()?;
                    if Oid::from_digest(hasher.finalize().into()) != oid {
                        return Some((
                            Err(std::io::Error::other(
                                "the source's bytes are not this object's: it changed",
                            )),
                            st,
                        ));
                    }
                    let last = st.held.take()?;
                    return Some((Ok(last), st));
                }
            }
        }
    })
}
