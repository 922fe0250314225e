//! The table engine. A dataset's resource is a table when it is CSV or TSV (the datapackage's
//! `dialect` may name another delimiter), Parquet or JSON Lines. Its Table Schema is the
//! datapackage's, or else inferred from its first rows ([`infer`]). What a caller reads of it is
//! a typed **view**: the table read through the caller's policy decision (or none) and stored
//! once as Parquet in the dataset's store ([`view`]); the viewer's pages of rows ([`rows`]) and
//! column statistics ([`stats`]) are DataFusion queries over that view, so sorting, filtering,
//! searching and statistics only ever see the values the caller may see.
//!
//! Everything starts at [`open`]: the gate's reach, the resource, the decision.

pub mod aggregate;
pub mod ahead;
pub mod diff;
pub mod export;
pub mod infer;
pub mod reads;
pub mod residency;
pub mod rows;
pub mod schema;
pub mod stats;
pub mod store;
pub mod stream;
pub mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use strata_lfs::Oid;
use strata_policy::Decision;

use crate::datasets::catalog::{Catalog, Table};
use crate::datasets::gated::Gated;
use crate::datasets::policies::{self, Surface};
use crate::error::{Error, Kind as ErrorKind, Result};
use crate::Core;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

/// An error of the query engine, as the domain's: resources run out is 503, the rest internal.
pub(crate) fn engine_error(e: datafusion::error::DataFusionError) -> Error {
    use datafusion::error::DataFusionError as E;
    match e.find_root() {
        E::ResourcesExhausted(m) => Error::new(
            ErrorKind::Busy,
            format!("the query needs more memory than the server has free now: {m}"),
        ),
        E::Plan(m) => Error::unprocessable(m.clone()),
        E::SchemaError(e, _) => Error::unprocessable(e.to_string()),
        other => Error::internal(format!("the table engine: {other}")),
    }
}

/// Views made at once, per process: each reads a whole table and writes it again.
const MAKING: usize = 2;

/// The engine's shared state: the bound on views being made, and one lock per view key so two
/// callers needing the same view make it once.
pub struct Tables {
    making: Arc<tokio::sync::Semaphore>,
    /// The views made ahead of time ([`ahead`]): what became of them.
    pub ahead: ahead::Counts,
    /// Foreground table work before the background's ([`ahead::Priority`]).
    pub priority: ahead::Priority,
    keys: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Per dataset: views being made hold it shared, an erasure's deletions alone ([`Tables::making_in`]).
    erasing: Mutex<HashMap<i64, Arc<tokio::sync::RwLock<()>>>>,
    /// The bytes every query shares ([`QUERY_MEMORY`] unless configured).
    memory: usize,
    /// DataFusion's runtime (one memory pool for every query) and the store it reads views from.
    engine: std::sync::OnceLock<(Arc<RuntimeEnv>, store::Objects)>,
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tables")
    }
}

impl Default for Tables {
    fn default() -> Tables {
        Tables::new(QUERY_MEMORY)
    }
}

impl Tables {
    /// The engine's state, its queries sharing `memory` bytes.
    pub fn new(memory: usize) -> Tables {
        Tables {
            memory,
            making: Arc::new(tokio::sync::Semaphore::new(MAKING)),
            ahead: ahead::Counts::default(),
            priority: ahead::Priority::default(),
            keys: Mutex::new(HashMap::new()),
            erasing: Mutex::new(HashMap::new()),
            engine: std::sync::OnceLock::new(),
        }
    }
}

/// The memory all queries share by default; past it, sorts and aggregations spill to disk.
const QUERY_MEMORY: usize = 256 * 1024 * 1024;

impl Tables {
    /// DataFusion's runtime and the object store it reads views through.
    pub(crate) fn engine(&self, core: &Core) -> (Arc<RuntimeEnv>, store::Objects) {
        self.engine
            .get_or_init(|| {
                let objects = store::Objects::new(core.storage.clone());
                let runtime = RuntimeEnvBuilder::new()
                    .with_memory_pool(Arc::new(FairSpillPool::new(self.memory)))
                    .build_arc()
                    .expect("a DataFusion runtime");
                let url = url::Url::parse(store::URL).expect("the store's URL");
                runtime.register_object_store(&url, Arc::new(objects.clone()));
                (runtime, objects)
            })
            .clone()
    }

    /// Makes `view` readable through the store; its path there (under [`store::URL`]).
    pub(crate) fn know(&self, core: &Core, view: &view::View) -> object_store::path::Path {
        let (_, objects) = self.engine(core);
        objects.know(&view.place(), &view.oid, view.size)
    }

    /// The store views are read from, alone, for sessions that must reach nothing else.
    pub(crate) fn views_only(&self, core: &Core) -> Arc<store::OnlyViews> {
        let (_, objects) = self.engine(core);
        Arc::new(store::OnlyViews::new(objects))
    }

    /// A DataFusion frame over `view`.
    pub(crate) async fn session(
        &self,
        core: &Core,
        view: &view::View,
    ) -> Result<datafusion::prelude::DataFrame> {
        self.read_parquet(core, view.place(), &view.oid, view.size)
            .await
            .map_err(engine_error)
    }

    /// A DataFusion frame over the Parquet object `oid` (`size` bytes) at `place`.
    pub(crate) async fn read_parquet(
        &self,
        core: &Core,
        place: impl Into<crate::storage::Place>,
        oid: &Oid,
        size: u64,
    ) -> datafusion::error::Result<datafusion::prelude::DataFrame> {
        let (runtime, objects) = self.engine(core);
        let path = objects.know(&place.into(), oid, size);
        let config = SessionConfig::new()
            .with_target_partitions(2)
            .with_batch_size(8192);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let options = ParquetReadOptions::default().file_extension("");
        ctx.read_parquet(format!("{}{path}", store::URL), options)
            .await
    }
    /// The lock of one view key.
    fn key_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        // Locks nobody holds or waits for are dropped as the map grows.
        if keys.len() > 1024 {
            keys.retain(|_, l| Arc::strong_count(l) > 1);
        }
        keys.entry(key.to_owned()).or_default().clone()
    }

    /// Held while a view or digest index of dataset `repo_id` is made and recorded: an erasure
    /// of that dataset ([`Tables::erasing`]) waits for what is being made from the objects it
    /// erases, and what starts after it finds them gone.
    pub(crate) async fn making_in(&self, repo_id: i64) -> tokio::sync::OwnedRwLockReadGuard<()> {
        self.erasing_lock(repo_id).read_owned().await
    }

    /// Held by an erasure of dataset `repo_id` while it deletes what derives from the objects
    /// it erases: no view of that dataset is being made meanwhile.
    pub(crate) async fn erasing(&self, repo_id: i64) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.erasing_lock(repo_id).write_owned().await
    }

    fn erasing_lock(&self, repo_id: i64) -> Arc<tokio::sync::RwLock<()>> {
        let mut locks = self.erasing.lock().unwrap_or_else(|e| e.into_inner());
        if locks.len() > 1024 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(repo_id).or_default().clone()
    }

    pub(crate) fn busy() -> Error {
        Error::new(
            ErrorKind::Busy,
            "the server is preparing other tables right now: try again shortly",
        )
    }
}

/// How a table's bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Delimited text with a header row.
    Csv {
        delimiter: u8,
    },
    Parquet,
    /// One JSON object per line.
    Jsonl,
}

impl Kind {
    /// The kind of `t`, from its format (or its path's extension) and dialect.
    pub fn of(t: &Table) -> Option<Kind> {
        Some(match t.format.as_str() {
            "csv" => Kind::Csv {
                delimiter: t.delimiter.unwrap_or(b','),
            },
            "tsv" | "tab" => Kind::Csv {
                delimiter: t.delimiter.unwrap_or(b'\t'),
            },
            "parquet" | "pq" => Kind::Parquet,
            "jsonl" | "ndjson" => Kind::Jsonl,
            _ => return None,
        })
    }

    /// A name for keys and messages.
    pub fn name(self) -> String {
        match self {
            Kind::Csv { delimiter: b',' } => "csv".into(),
            Kind::Csv { delimiter } => format!("csv({delimiter})"),
            Kind::Parquet => "parquet".into(),
            Kind::Jsonl => "jsonl".into(),
        }
    }
}

/// A table as one caller reads it.
#[derive(Debug, Clone)]
pub struct Opened {
    pub catalog: Catalog,
    pub table: Table,
    pub kind: Kind,
    /// The LFS object holding it, and its size.
    pub object: (Oid, u64),
    /// The policies' decision for this caller (the default: none applies).
    pub decision: Decision,
}

/// The resource `resource` of `gated` at `rev` (default: the default branch's head), through
/// the read gate and the policies: a missing resource (or one outside a caller's path share) is
/// 404, a resource that is not a table 422, a denied read 403.
pub async fn open(
    core: &Core,
    gated: &Gated,
    resource: &str,
    rev: Option<&str>,
    intent: Option<&str>,
    surface: Surface,
) -> Result<Opened> {
    open_as(core, gated, (resource, rev, intent), surface, false).await
}

/// [`open`] for [`aggregate`]: a decision allowing aggregates only (`AggregateOnly`) opens too.
pub(crate) async fn open_as(
    core: &Core,
    gated: &Gated,
    (resource, rev, intent): (&str, Option<&str>, Option<&str>),
    surface: Surface,
    aggregates: bool,
) -> Result<Opened> {
    gated.check_rev(rev)?;
    let catalog = policies::catalog(core, gated, rev).await?;
    let table = find(gated, &catalog, resource)?.clone();
    let kind = Kind::of(&table).ok_or_else(|| not_a_table(&table))?;
    let object = table.object.ok_or_else(|| {
        Error::unprocessable(format!(
            "resource {:?} names no stored object (its datapackage entry has no sha256 hash and \
             byte count): tables are read from files tracked by Git LFS",
            table.name
        ))
    })?;
    gated.read_object(core, &object.0, object.1).await?;
    let decision = policies::decide(core, gated, &catalog, Some(&table), intent, surface).await?;
    if decision.denied() && !(aggregates && decision.deny.is_empty()) {
        return Err(policies::refusal(gated, Some(&table), &decision));
    }
    Ok(Opened {
        catalog,
        table,
        kind,
        object,
        decision,
    })
}

/// The tables of `gated` at `rev` the caller reaches (a path share reaches those inside it).
pub async fn list(core: &Core, gated: &Gated, rev: Option<&str>) -> Result<(Catalog, Vec<Table>)> {
    gated.check_rev(rev)?;
    let catalog = policies::catalog(core, gated, rev).await?;
    let tables = catalog
        .resources
        .iter()
        .filter(|t| gated.covers(&t.path) && Kind::of(t).is_some())
        .cloned()
        .collect();
    Ok((catalog, tables))
}

/// The resource named `resource` among those the caller reaches; a caller limited to some paths
/// hears only of the resources inside them (one outside answers as a missing one does).
pub fn find<'c>(gated: &Gated, catalog: &'c Catalog, resource: &str) -> Result<&'c Table> {
    let reached = || catalog.resources.iter().filter(|t| gated.covers(&t.path));
    if let Some(t) = reached().find(|t| t.name == resource) {
        return Ok(t);
    }
    let names: Vec<&str> = reached().map(|t| t.name.as_str()).collect();
    Err(Error::not_found(format!(
        "{} has no resource {:?}{}",
        gated.path(),
        resource,
        if names.is_empty() {
            String::new()
        } else if gated.limited() {
            format!(" (resources shared with you: {})", names.join(", "))
        } else {
            format!(" (its resources: {})", names.join(", "))
        }
    )))
}

fn not_a_table(t: &Table) -> Error {
    Error::unprocessable(format!(
        "resource {:?} is {}, not a table: tables are CSV, TSV, Parquet or JSON Lines",
        t.name,
        if t.format.is_empty() {
            "of no known format"
        } else {
            &t.format
        }
    ))
}

/// Which table a request reads, and why.
#[derive(Debug, Clone, Default)]
pub struct At {
    /// The resource's name in the datapackage.
    pub resource: String,
    /// A branch, tag or revision id (default: the default branch's head).
    pub rev: Option<String>,
    /// Why the caller reads (policies see it as `context.intent`).
    pub intent: Option<String>,
}

/// The caller's view of the table `at` names.
pub async fn view_of(core: &Core, gated: &Gated, at: &At) -> Result<view::View> {
    let opened = open(
        core,
        gated,
        &at.resource,
        at.rev.as_deref(),
        at.intent.as_deref(),
        Surface::Table,
    )
    .await?;
    view::view(core, gated.id, &opened).await
}

/// A page of the rows of the table `at` names, as the caller may see them.
pub async fn rows_of(
    core: &Core,
    gated: &Gated,
    at: &At,
    query: &rows::Query,
) -> Result<rows::Page> {
    let view = view_of(core, gated, at).await?;
    rows::page(core, &view, query).await
}

/// The column statistics of the table `at` names, as the caller may see it.
pub async fn stats_of(core: &Core, gated: &Gated, at: &At) -> Result<stats::Stats> {
    let view = view_of(core, gated, at).await?;
    stats::stats(core, &view).await
}

/// The column statistics of the rows of the table `at` names that `query` filters and finds.
pub async fn stats_of_rows(
    core: &Core,
    gated: &Gated,
    at: &At,
    query: &rows::Query,
) -> Result<stats::Stats> {
    let view = view_of(core, gated, at).await?;
    stats::filtered(core, &view, query).await
}

/// A table as the listing describes it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Described {
    pub name: String,
    pub path: String,
    pub format: String,
    /// Rows the caller sees (after the policies' row filters).
    pub rows: u64,
    /// The columns the caller sees, with their types: `declared` in the datapackage, or
    /// inferred.
    pub columns: Vec<DescribedColumn>,
    /// Why the table cannot be read (a malformed file), if so; then it has no rows or columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DescribedColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub declared: bool,
}

/// The tables of `gated` at `rev` the caller reaches, with the schema and row count each has for
/// them. Tables a policy denies to the caller are left out.
pub async fn describe(
    core: &Core,
    gated: &Gated,
    rev: Option<&str>,
    intent: Option<&str>,
) -> Result<Vec<Described>> {
    let (_, tables) = list(core, gated, rev).await?;
    let mut out = Vec::new();
    for t in tables {
        let at = At {
            resource: t.name.clone(),
            rev: rev.map(str::to_owned),
            intent: intent.map(str::to_owned),
        };
        let view = match view_of(core, gated, &at).await {
            Ok(v) => v,
            Err(e) if e.kind == ErrorKind::Forbidden => continue,
            Err(e) if e.kind == ErrorKind::Invalid => {
                out.push(Described {
                    name: t.name,
                    path: t.path,
                    format: t.format,
                    rows: 0,
                    columns: Vec::new(),
                    error: Some(e.message),
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        let df = core.tables.session(core, &view).await?;
        let columns = rows::columns_of(df.schema().as_arrow())
            .into_iter()
            .map(|c| DescribedColumn {
                declared: t.types.contains_key(&c.name),
                name: c.name,
                ty: c.ty,
            })
            .collect();
        out.push(Described {
            name: t.name,
            path: t.path,
            format: t.format,
            rows: view.rows,
            columns,
            error: None,
        });
    }
    Ok(out)
}
