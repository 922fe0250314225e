//! The dataset store as DataFusion and the Parquet reader see it: a read-only `ObjectStore` whose
//! objects are `{repo_id}/{oid}` (a dataset's) or `@{store}/{oid}` (a residency copy in a region
//! store), read through the storage facade (so sealed objects are opened,
//! and every backend answers ranged reads). Only the objects it was told of ([`Objects::know`])
//! exist for it; writes are not implemented.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use strata_lfs::Oid;

use crate::storage::{Place, Read, Storage};

/// The URL DataFusion knows this store by.
pub const URL: &str = "strata://objects/";

/// Objects of datasets, by `{repo_id}/{oid}`, with their sizes.
#[derive(Clone)]
pub struct Objects {
    storage: Storage,
    known: Arc<RwLock<HashMap<Path, u64>>>,
}

impl fmt::Debug for Objects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Objects")
    }
}

impl fmt::Display for Objects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("strata objects")
    }
}

/// The path of `oid` at `place` in the store.
pub fn path(place: &Place, oid: &Oid) -> Path {
    match place {
        Place::Dataset(repo_id) => Path::from(format!("{repo_id}/{oid}")),
        Place::Copy(store) => Path::from(format!("@{store}/{oid}")),
    }
}

/// The place and oid a path names.
fn parse(location: &Path) -> Option<(Place, Oid)> {
    let (at, oid) = location.as_ref().split_once('/')?;
    let place = match at.strip_prefix('@') {
        Some(store) => Place::Copy(store.to_owned()),
        None => Place::Dataset(at.parse().ok()?),
    };
    Some((place, oid.parse().ok()?))
}

impl Objects {
    /// A store that knows no object yet.
    pub fn new(storage: Storage) -> Objects {
        Objects {
            storage,
            known: Arc::default(),
        }
    }

    /// Makes `oid` at `place` (`size` bytes) readable; its path.
    pub fn know(&self, place: &Place, oid: &Oid, size: u64) -> Path {
        let p = path(place, oid);
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        // Objects are kept for the queries of the moment, not forever.
        if known.len() > 4096 {
            known.clear();
        }
        known.insert(p.clone(), size);
        p
    }

    fn size(&self, location: &Path) -> Option<u64> {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        known.get(location).copied()
    }

    fn meta(&self, location: &Path) -> object_store::Result<ObjectMeta> {
        let size = self.size(location).ok_or_else(|| not_found(location))?;
        Ok(ObjectMeta {
            location: location.clone(),
            last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            size,
            // Objects are named by their content: the name is the version.
            e_tag: Some(location.to_string()),
            version: None,
        })
    }
}

fn not_found(location: &Path) -> object_store::Error {
    object_store::Error::NotFound {
        path: location.to_string(),
        source: "no such object".into(),
    }
}

fn generic(e: impl fmt::Display) -> object_store::Error {
    object_store::Error::Generic {
        store: "strata",
        source: e.to_string().into(),
    }
}

fn read_only(operation: &str) -> object_store::Error {
    object_store::Error::NotImplemented {
        operation: operation.to_owned(),
        implementer: "strata objects (read-only)".to_owned(),
    }
}

#[async_trait]
impl ObjectStore for Objects {
    async fn put_opts(
        &self,
        _: &Path,
        _: PutPayload,
        _: PutOptions,
    ) -> object_store::Result<PutResult> {
        Err(read_only("put"))
    }

    async fn put_multipart_opts(
        &self,
        _: &Path,
        _: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(read_only("put_multipart"))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let meta = self.meta(location)?;
        options.check_preconditions(&meta)?;
        let size = meta.size;
        let range: Range<u64> = match &options.range {
            None => 0..size,
            Some(GetRange::Bounded(r)) => r.start..r.end.min(size),
            Some(GetRange::Offset(o)) => *o..size,
            Some(GetRange::Suffix(n)) => size.saturating_sub(*n)..size,
        };
        if options.head || range.is_empty() {
            return Ok(GetResult {
                payload: GetResultPayload::Stream(stream::empty().boxed()),
                range: range.start..range.start,
                meta,
                attributes: Default::default(),
            });
        }
        let (place, oid) = parse(location).ok_or_else(|| not_found(location))?;
        let header = format!("bytes={}-{}", range.start, range.end - 1);
        let read = self
            .storage
            .read(place, &oid, Some(&header))
            .await
            .map_err(|e| generic(e.message))?;
        let body = match read {
            Some(Read::Found { object, .. }) => object.body,
            Some(Read::Unsatisfiable { .. }) => {
                return Err(generic(format!(
                    "bytes {range:?} are past the object's end"
                )))
            }
            None => return Err(not_found(location)),
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(body.map_err(generic).boxed()),
            range,
            meta,
            attributes: Default::default(),
        })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        locations.map(|_| Err(read_only("delete"))).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let paths: Vec<Path> = {
            let known = self.known.read().unwrap_or_else(|e| e.into_inner());
            known
                .keys()
                .filter(|p| prefix.is_none_or(|pre| p.prefix_matches(pre) || *p == pre))
                .cloned()
                .collect()
        };
        let found: Vec<_> = paths.iter().map(|p| self.meta(p)).collect();
        stream::iter(found).boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let objects = self.list(prefix).try_collect().await?;
        Ok(ListResult {
            common_prefixes: Vec::new(),
            objects,
        })
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> object_store::Result<()> {
        Err(read_only("copy"))
    }
}

/// The stores of a SQL session: this one, and nothing else (no local files, no URLs), whatever a
/// query names.
#[derive(Debug)]
pub struct OnlyViews {
    objects: Objects,
}

impl OnlyViews {
    pub fn new(objects: Objects) -> OnlyViews {
        OnlyViews { objects }
    }
}

impl datafusion::execution::object_store::ObjectStoreRegistry for OnlyViews {
    fn register_store(
        &self,
        _: &url::Url,
        _: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        None
    }

    fn get_store(&self, url: &url::Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if url.scheme() == "strata" && url.host_str() == Some("objects") {
            return Ok(Arc::new(self.objects.clone()));
        }
        Err(datafusion::error::DataFusionError::Plan(format!(
            "no store for {url}: queries read the tables they name, nothing else"
        )))
    }
}
