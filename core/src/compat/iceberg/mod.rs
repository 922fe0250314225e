//! The Apache Iceberg REST catalog's view of datasets, for engines that run on many machines
//! (Spark, Trino, Ray, Daft) and those that do not (DuckDB, PyIceberg): a dataset is a
//! namespace of its path's parts (`alice.sales`: `["alice", "sales"]`; the namespace `alice`
//! holds its datasets), a table is one of its tables, each revision of the default branch that
//! changed the table is a snapshot, and branches and tags are refs of their names. The warehouse
//! a client asks for is a branch or a tag (default `main`): its head is the table's current
//! snapshot (the `main` ref), so engines that cannot pick a ref read another branch through it.
//!
//! Each caller loads **their own** table: the data files are their governed views (`tables::view`),
//! made once per (object, decision) and kept as views are, and the schema has only the columns
//! they may see. Metadata, manifests and views are reached through the S3 gateway under the
//! table's location (`s3://{bucket}/.iceberg/{table}/`, [`files`]), with a read-only key for that
//! table alone that expires ([`creds`]); every file read decides again, so a policy change is
//! seen by the next read, never served from an older load. Column ids are kept per table
//! (`iceberg_columns`), so a column keeps its id across revisions; the name mapping tells
//! readers which Parquet column is which.
//!
//! Writes: an engine stages a snapshot's files under the table's location ([`staged`]) and
//! commits it here ([`commit`]): an append or an overwrite becomes a revision of the table's
//! resource, through the write gate, governed writes and the dataset's contract.

pub mod avro;
mod commit;
mod content;
pub mod creds;
pub mod files;
mod load;
mod schema;
pub mod staged;
mod stats;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use serde_json::{json, Value};

use super::Kept;
use crate::auth::{Action, On, Principal};
use crate::datasets::gate::{self, Gated};
use crate::datasets::listing;
use crate::error::{Error, Result};
use crate::tables;
use crate::Core;

pub use commit::commit;
pub use load::{load, Loaded};

/// The catalog's state on this server: where engines reach the S3 gateway, and the work of
/// recent loads (metadata by caller and heads, view schemas by view).
#[derive(Default)]
pub struct Iceberg {
    gateway: RwLock<Option<String>>,
    loads: Kept<Arc<Loaded>>,
    /// What reads of a snapshot's files found (`files`): an engine reads them one after another.
    data: Kept<files::Hit>,
    schemas: Mutex<HashMap<strata_lfs::Oid, datafusion::arrow::datatypes::SchemaRef>>,
}

impl std::fmt::Debug for Iceberg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Iceberg")
    }
}

impl Iceberg {
    /// Records the S3 gateway's URL as engines reach it (`--s3-public-url`, else where it
    /// listens).
    pub fn set_gateway(&self, url: String) {
        *self.gateway.write().unwrap_or_else(|e| e.into_inner()) = Some(url);
    }

    fn gateway(&self) -> Option<String> {
        self.gateway
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What a caller's kept work is keyed by besides what it is of: who, through which scopes, under
/// which version of the policies.
async fn caller_key(core: &Core, who: &Principal) -> String {
    format!(
        "{}|{:?}|{:?}",
        who.key(),
        who.scopes().map(ToString::to_string),
        core.governance.version(core).await
    )
}

/// The warehouse a client names: a branch or a tag (empty: `main`). Its prefix in the catalog's
/// URLs is the ref with `/` as `~` (a ref never holds `~`), as clients put it in a path whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warehouse(pub String);

impl Warehouse {
    pub fn named(name: Option<&str>) -> Result<Warehouse> {
        let name = name
            .filter(|n| !n.is_empty())
            .unwrap_or(strata_metastore::DEFAULT_BRANCH);
        Warehouse::from_prefix(&name.replace('/', "~"))
    }

    /// The warehouse of a catalog URL's prefix.
    pub fn from_prefix(prefix: &str) -> Result<Warehouse> {
        let ok = !prefix.is_empty()
            && prefix.len() <= 200
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'~'))
            && !prefix.starts_with(['.', '~'])
            && !prefix.contains("..");
        if !ok {
            return Err(Error::bad_request(format!(
                "{prefix:?} is no warehouse: name a branch or a tag of letters, digits, '.', '_', \
                 '-' and '/'"
            )));
        }
        Ok(Warehouse(prefix.replace('~', "/")))
    }

    pub fn prefix(&self) -> String {
        self.0.replace('/', "~")
    }
}

/// What `GET /v1/config` answers: the prefix of `warehouse` and the calls this catalog serves.
pub fn config(warehouse: &Warehouse) -> Value {
    json!({
        "defaults": {},
        "overrides": {"prefix": warehouse.prefix()},
        "endpoints": [
            "GET /v1/{prefix}/namespaces",
            "GET /v1/{prefix}/namespaces/{namespace}",
            "HEAD /v1/{prefix}/namespaces/{namespace}",
            "GET /v1/{prefix}/namespaces/{namespace}/tables",
            "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
            "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
            "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
        ],
    })
}

/// Datasets a listing reads at most.
const LISTED: i64 = 10_000;

/// The paths (as parts) of the datasets `who` may list.
async fn visible(core: &Core, who: &Principal) -> Result<Vec<Vec<String>>> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = listing::list(core, who, after, 500, None).await?;
        for r in &page.datasets {
            let mut parts = vec![r.namespace.clone()];
            parts.extend(r.name.split('/').map(str::to_owned));
            out.push(parts);
        }
        match page.next_cursor {
            Some(c) if (out.len() as i64) < LISTED => after = c,
            _ => break,
        }
    }
    // Datasets shared with them in part (files, folders) too, as far as their token reaches.
    if let Principal::User { user, scopes, .. } = who {
        for s in core.db.shared_with(user.id).await? {
            let path = format!("{}/{}", s.namespace, s.name);
            if !scopes.allows_everything() && !scopes.allows(&path, On::Dataset, Action::Read) {
                continue;
            }
            let mut parts = vec![s.namespace.clone()];
            parts.extend(s.name.split('/').map(str::to_owned));
            if !out.contains(&parts) {
                out.push(parts);
            }
        }
    }
    Ok(out)
}

fn no_namespace(ns: &[String]) -> Error {
    Error::not_found(format!("namespace {:?} does not exist", ns.join(".")))
}

/// The namespaces under `parent` (none: the top level) `who` sees: the levels of the dataset
/// paths they may list.
pub async fn namespaces(
    core: &Core,
    who: &Principal,
    parent: &[String],
) -> Result<Vec<Vec<String>>> {
    let all = visible(core, who).await?;
    let under: Vec<&Vec<String>> = all.iter().filter(|p| p.starts_with(parent)).collect();
    if !parent.is_empty() && under.is_empty() {
        return Err(no_namespace(parent));
    }
    let children: BTreeSet<Vec<String>> = under
        .iter()
        .filter(|p| p.len() > parent.len())
        .map(|p| p[..=parent.len()].to_vec())
        .collect();
    Ok(children.into_iter().collect())
}

/// A namespace's properties: a dataset's path and location, or nothing for a level above.
pub async fn namespace(core: &Core, who: &Principal, ns: &[String]) -> Result<Value> {
    if ns.is_empty() {
        return Err(no_namespace(ns));
    }
    let all = visible(core, who).await?;
    if !all.iter().any(|p| p.starts_with(ns)) {
        return Err(no_namespace(ns));
    }
    Ok(if all.iter().any(|p| p == ns) {
        json!({"strata.dataset": ns.join("/")})
    } else {
        json!({})
    })
}

/// The dataset a namespace names, through the read gate (a path share passes, reaching the
/// tables inside it); one that is no dataset, or that the caller may not see, is missing.
pub(crate) async fn dataset(core: &Core, who: &Principal, ns: &[String]) -> Result<Gated> {
    let [first, rest @ ..] = ns else {
        return Err(no_namespace(ns));
    };
    if rest.is_empty() {
        return Err(no_namespace(ns));
    }
    gate::shared(core, who, first, &rest.join("/"), Action::Read)
        .await
        .map_err(|e| match e.kind {
            crate::error::Kind::NotFound | crate::error::Kind::Forbidden => no_namespace(ns),
            _ => e,
        })
}

/// The tables of the dataset `ns` names, in `warehouse` (none when it has no such ref).
pub async fn tables(
    core: &Core,
    who: &Principal,
    ns: &[String],
    warehouse: &Warehouse,
) -> Result<Vec<String>> {
    let gated = dataset(core, who, ns).await?;
    let rev = at(&gated, warehouse);
    match tables::list(core, &gated, rev).await {
        Ok((_, tables)) => Ok(tables.into_iter().map(|t| t.name).collect()),
        Err(e) if e.kind == crate::error::Kind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Whether the dataset `ns` names has `table` in `warehouse`, for the caller (as a load finds
/// it, without loading it).
pub async fn exists(
    core: &Core,
    who: &Principal,
    ns: &[String],
    table: &str,
    warehouse: &Warehouse,
) -> Result<()> {
    if tables(core, who, ns, warehouse)
        .await?
        .iter()
        .any(|t| t == table)
    {
        return Ok(());
    }
    Err(Error::not_found(format!(
        "table {table:?} does not exist in namespace {:?} at {:?}",
        ns.join("."),
        warehouse.0
    )))
}

/// The revision a caller reads in `warehouse`: a caller reaching only shared paths reads the
/// default branch's head, whatever the warehouse.
fn at<'w>(gated: &Gated, warehouse: &'w Warehouse) -> Option<&'w str> {
    (!gated.limited()).then_some(warehouse.0.as_str())
}
