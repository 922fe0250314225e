//! Views: a table read through one decision of the policies, stored once as Parquet.
//!
//! A view's key hashes all it is made from: the dataset, the object, its kind, the declared
//! column types (inferred ones follow from the object), and the decision's column transforms and
//! row filters. Any change to those (a new commit, a
//! declared type, a policy that now decides otherwise for this caller) finds no view under the
//! new key, so a read is never served from a view of an older decision. The view is an object of
//! the dataset's store (sealed when encryption is on), recorded in `table_views` with its row
//! count; it is made at most once at a time per key, and at most [`super::MAKING`] at once in
//! all (more wait no longer than it takes to say 503). Views nobody read for [`IDLE`] are
//! forgotten by the hourly purge; their bytes stay in the store (nothing links them to a dataset,
//! so no read can reach them) until the store is collected.
//!
//! Making one streams the table's object through the transform into Parquet and into the store
//! together, in bounded memory; a CSV is parsed and encoded on every core
//! ([`strata_policy::table::parquet`]). A column whose type was inferred (not declared) and whose later
//! rows break that type is read again as text.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::parquet::arrow::ArrowWriter;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;
use sha2::Digest;
use strata_lfs::Oid;
use strata_policy::table::{self, BatchPlan, FieldType, Plan, TableError};
use tokio_util::io::{ReaderStream, StreamReader, SyncIoBridge};

use super::{infer, Kind, Opened, Tables};
use crate::db::RegionCopy;
use crate::error::{Error, Result};
use crate::storage::{Place, Read};
use crate::Core;

/// Bytes in flight between the writer and the store.
const PIPE: usize = 1024 * 1024;

/// How finely a view's last use is kept (seconds).
const USE_KEPT_TO: i64 = 3600;

/// Views nobody read for this long are forgotten (seconds): those of older objects, decisions or
/// declared types are found by no new read, and any other is made again when next read.
pub const IDLE: i64 = 7 * 86_400;

/// A table's view for one decision.
#[derive(Debug, Clone)]
pub struct View {
    pub key: String,
    pub repo_id: i64,
    /// The Parquet object and its size.
    pub oid: Oid,
    pub size: u64,
    pub rows: u64,
    /// The column statistics (JSON), once computed.
    pub stats: Option<String>,
    /// The region store holding it, for a residency copy ([`super::residency`]); `None`: the
    /// dataset's store.
    pub store: Option<String>,
}

impl View {
    /// Where its Parquet object is.
    pub fn place(&self) -> Place {
        match &self.store {
            Some(store) => Place::Copy(store.clone()),
            None => Place::Dataset(self.repo_id),
        }
    }
}

/// The view of `opened` for dataset `repo_id` as its caller reads it, made now if there is none
/// yet: in this region's store when it is a residency copy ([`super::residency`]).
pub async fn view(core: &Core, repo_id: i64, opened: &Opened) -> Result<View> {
    let copy = super::residency::store_for(core, &opened.decision);
    view_as(core, repo_id, opened, false, copy).await
}

/// The view of `opened` for dataset `repo_id` as [`view`] finds it, if it is made: nothing is
/// made now.
pub async fn find(core: &Core, repo_id: i64, opened: &Opened) -> Result<Option<View>> {
    let copy = super::residency::store_for(core, &opened.decision);
    stored(core, &key(repo_id, opened, false, copy.as_deref()), repo_id).await
}

/// The view of `opened` for strata's own work on the dataset (a governed write's rewrite, a
/// contract check), always in the dataset's store: never a residency copy.
pub async fn view_in_place(core: &Core, repo_id: i64, opened: &Opened) -> Result<View> {
    view_as(core, repo_id, opened, false, None).await
}

/// The view of a CSV table with every column read as text, its cells exactly as written (a
/// merge compares and writes them so): made now if there is none yet, in the dataset's store.
pub async fn text_view(core: &Core, repo_id: i64, opened: &Opened) -> Result<View> {
    view_as(core, repo_id, opened, true, None).await
}

/// The unrestricted view of `opened` (its decision is the default), made now by the background
/// ([`super::ahead`]) unless it is made already: the view, and whether it was made now. Only
/// while no reader is making a view (else `Busy`, to be tried again), and without taking a
/// reader's place.
/// `text`: the text view ([`text_view`]) instead, which merges read.
pub async fn ahead(core: &Core, repo_id: i64, opened: &Opened, text: bool) -> Result<(View, bool)> {
    let key = key(repo_id, opened, text, None);
    if let Some(view) = stored(core, &key, repo_id).await? {
        return Ok((view, false));
    }
    let view = view_with(core, repo_id, opened, text, None, Turn::Ahead).await?;
    Ok((view, true))
}

/// The longest a reader waits for a place to make a view in.
const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Whose turn making a view is: a reader's (one of [`super::MAKING`] places, or `Busy` at once)
/// or the background's (only while every reader's place is free).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Turn {
    Reader,
    Ahead,
}

async fn view_as(
    core: &Core,
    repo_id: i64,
    opened: &Opened,
    text: bool,
    copy: Option<String>,
) -> Result<View> {
    view_with(core, repo_id, opened, text, copy, Turn::Reader).await
}

async fn view_with(
    core: &Core,
    repo_id: i64,
    opened: &Opened,
    text: bool,
    copy: Option<String>,
    turn: Turn,
) -> Result<View> {
    // Inferred types follow from the object, which the key names: only declared ones go in it,
    // so finding a view reads nothing of the table.
    let key = key(repo_id, opened, text, copy.as_deref());
    if let Some(v) = stored(core, &key, repo_id).await? {
        return Ok(v);
    }
    let lock = core.tables.key_lock(&key);
    let _turn = lock.lock().await;
    if let Some(v) = stored(core, &key, repo_id).await? {
        return Ok(v);
    }
    let _permit = match turn {
        // A reader waits a while for a place (a few readers of new tables at once share the
        // two), then hears the server is busy.
        Turn::Reader => Some(
            tokio::time::timeout(WAIT, core.tables.making.clone().acquire_owned())
                .await
                .ok()
                .and_then(std::result::Result::ok)
                .ok_or_else(Tables::busy)?,
        ),
        Turn::Ahead if core.tables.making.available_permits() < super::MAKING => {
            return Err(Tables::busy())
        }
        Turn::Ahead => None,
    };
    // A reader's view goes before the background's work, which stops meanwhile.
    let _first = (turn == Turn::Reader).then(|| core.tables.priority.foreground());
    let _made_in = core.tables.making_in(repo_id).await;
    let mut types = match opened.kind {
        Kind::Csv { .. } => infer::csv_types(opened, &infer::sample(core, repo_id, opened).await?),
        _ => HashMap::new(),
    };
    if text {
        types.values_mut().for_each(|t| *t = FieldType::String);
    }
    let (oid, size, rows) = loop {
        match make(core, repo_id, opened, &types, copy.as_deref()).await {
            Ok(made) => break made,
            // An inferred type the rows break: that column is text after all.
            Err(Made::BadValue { column, error })
                if !opened.table.types.contains_key(&column) && types.contains_key(&column) =>
            {
                tracing::debug!(%column, %error, "an inferred type does not hold: read as text");
                types.insert(column, FieldType::String);
            }
            Err(Made::BadValue { error, .. }) | Err(Made::Other(error)) => return Err(*error),
        }
    };
    let row = crate::db::TableView {
        oid: oid.to_string(),
        size: size as i64,
        rows: rows as i64,
        stats: None,
        used_at: 0,
        store: copy.clone(),
    };
    let source = format!("{}:{}", opened.table.name, opened.object.0);
    record(core, &key, repo_id, &source, &row).await?;
    let view = View {
        key,
        repo_id,
        oid,
        size,
        rows,
        stats: None,
        store: copy,
    };
    if view.store.is_some() {
        record_copy(core, opened, &view).await?;
    }
    Ok(view)
}

/// Records a view or digest index made from the object `source` names (`table:object`) under
/// `key`, unless an erasure took that object meanwhile: then it is deleted again and the caller
/// hears the object is gone (410). Checked after recording, so an erasure that recorded the
/// object too late to be seen here finds this view among those it deletes.
pub(super) async fn record(
    core: &Core,
    key: &str,
    repo_id: i64,
    source: &str,
    row: &crate::db::TableView,
) -> Result<()> {
    core.db.put_table_view(key, repo_id, source, row).await?;
    // The same bytes kept as another dataset's chunks may have had their whole copy dropped
    // between their store and this record: the view is made again on the next read.
    if row.store.is_none() && core.db.chunked_anywhere(&row.oid).await? {
        let oid: Oid = row.oid.parse().map_err(Error::internal)?;
        if !core.storage.holds(repo_id, &oid).await? {
            core.db.drop_table_view(key).await?;
            return Err(Error::new(
                crate::error::Kind::Busy,
                "the table's view was let go while it was made: try again",
            ));
        }
        // The dataset holds these bytes as chunks already (another table read as the same
        // rows, a view made again): the whole copy just written goes as the chunker's would,
        // by its next pass (which takes the chunking turn; a reader never waits for it here).
        if core.db.xet_file_of(repo_id, &row.oid).await?.is_some() {
            if let Err(e) = core.storage.let_whole_go_soon(repo_id, &row.oid).await {
                tracing::warn!(oid = %row.oid, error = %e.message, "a view's whole copy kept");
            }
        }
    }
    let from = source.rsplit_once(':').map_or(source, |(_, oid)| oid);
    if core
        .db
        .erased(repo_id, &[from.to_owned()])
        .await?
        .is_empty()
    {
        return Ok(());
    }
    if let Some((oid, store)) = core.db.drop_table_view(key).await? {
        core.storage
            .delete_derived(repo_id, &oid, store.as_deref())
            .await?;
    }
    Err(Error::new(
        crate::error::Kind::Gone,
        "the table's file was erased from this dataset",
    ))
}

/// The view recorded under `key`, if any (a digest index too, [`super::diff`]).
pub(super) async fn stored(core: &Core, key: &str, repo_id: i64) -> Result<Option<View>> {
    let Some(row) = core.db.table_view(key).await? else {
        return Ok(None);
    };
    // Its use, kept to the hour (one write an hour, not one a read).
    if row.used_at < crate::db::now() - USE_KEPT_TO {
        core.db.touch_table_view(key).await?;
    }
    let Ok(oid) = row.oid.parse::<Oid>() else {
        return Ok(None);
    };
    Ok(Some(View {
        key: key.to_owned(),
        repo_id,
        oid,
        size: row.size as u64,
        rows: row.rows as u64,
        stats: row.stats,
        store: row.store,
    }))
}

/// The key of the view of `opened`.
fn key(repo_id: i64, opened: &Opened, text: bool, store: Option<&str>) -> String {
    let mut types: Vec<(&String, &str)> = opened
        .table
        .types
        .iter()
        .map(|(n, t)| (n, t.frictionless()))
        .collect();
    types.sort();
    let what = json!({
        "v": 2,
        "dataset": repo_id,
        "object": opened.object.0.to_string(),
        "kind": opened.kind.name(),
        "types": types,
        "columns": opened.decision.columns,
        "filters": opened.decision.filters.iter().map(|f| json!([f.column, format!("{:?}", f.op), f.value])).collect::<Vec<_>>(),
    });
    let mut what = what;
    if text {
        what["text"] = json!(true);
    }
    if let Some(store) = store {
        what["store"] = json!(store);
    }
    hex::encode(sha2::Sha256::digest(what.to_string()))
}

/// Why making a view failed.
enum Made {
    /// A value not of its column's type.
    BadValue {
        column: String,
        error: Box<Error>,
    },
    Other(Box<Error>),
}

impl From<Error> for Made {
    fn from(e: Error) -> Made {
        Made::other(e)
    }
}

impl Made {
    fn other(e: Error) -> Made {
        Made::Other(Box::new(e))
    }
}

fn made(e: TableError) -> Made {
    match e {
        TableError::BadValue { ref column, .. } => {
            let column = column.clone();
            Made::BadValue {
                column,
                error: Box::new(table_error(e)),
            }
        }
        // The store stopped reading: its own error says why (logged where it is met), or the
        // making was called off (a reader's view made ahead of time gives way to the reader).
        TableError::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Made::other(Error::new(
            crate::error::Kind::Internal,
            "the view's store stopped reading",
        )),
        e => Made::other(table_error(e)),
    }
}

/// Reads the table through the decision into Parquet, stored as it is written: the view's oid,
/// size and rows.
async fn make(
    core: &Core,
    repo_id: i64,
    opened: &Opened,
    types: &HashMap<String, FieldType>,
    store: Option<&str>,
) -> std::result::Result<(Oid, u64, u64), Made> {
    let (write, read) = tokio::io::duplex(PIPE);
    let hasher = core.governance.hasher().clone();
    let producer: tokio::task::JoinHandle<std::result::Result<u64, Made>> = match opened.kind {
        Kind::Parquet => {
            let (oid, size) = &opened.object;
            let df = core
                .tables
                .read_parquet(core, repo_id, oid, *size)
                .await
                .map_err(|e| Made::other(not_parquet(e)))?;
            let decision = opened.decision.clone();
            tokio::spawn(async move {
                let schema = df.schema().as_arrow().clone();
                let plan = BatchPlan::new(&schema, &decision, hasher).map_err(made)?;
                let mut batches = df
                    .execute_stream()
                    .await
                    .map_err(|e| Made::other(not_parquet(e)))?;
                let handle = tokio::runtime::Handle::current();
                let (tx, mut rx) = tokio::sync::mpsc::channel(2);
                let writer = tokio::task::spawn_blocking(move || {
                    write_batches(SyncIoBridge::new_with_handle(write, handle), plan, |sink| {
                        while let Some(b) = rx.blocking_recv() {
                            sink(b)?;
                        }
                        Ok(())
                    })
                });
                while let Some(b) = batches.next().await {
                    let b = b.map_err(|e| Made::other(not_parquet(e)))?;
                    if tx.send(b).await.is_err() {
                        break;
                    }
                }
                drop(tx);
                writer
                    .await
                    .map_err(|e| Made::other(Error::internal(e.to_string())))?
            })
        }
        kind => {
            let body = match core.storage.read(repo_id, &opened.object.0, None).await? {
                Some(Read::Found { object, .. }) => object.body,
                _ => return Err(Made::other(infer::missing(&opened.object.0))),
            };
            let input = SyncIoBridge::new(StreamReader::new(body.map_err(std::io::Error::other)));
            let output = SyncIoBridge::new(write);
            let (types, decision) = (types.clone(), opened.decision.clone());
            let sample = match kind {
                Kind::Jsonl => infer::sample(core, repo_id, opened).await?,
                _ => Vec::new(),
            };
            tokio::task::spawn_blocking(move || match kind {
                // Parsed and encoded on every core, a row group per chunk of the CSV.
                Kind::Csv { delimiter } => {
                    let (reader, header) = table::open_with(input, delimiter).map_err(made)?;
                    let plan = Plan::new(&header, &types, &decision, None, hasher).map_err(made)?;
                    table::write_parquet(reader, &plan, output, table::parallel::threads())
                        .map_err(made)
                }
                _ => jsonl(input, output, &sample, &decision, hasher),
            })
        }
    };
    let body = ReaderStream::with_capacity(read, 256 * 1024);
    let limit = opened.object.1.saturating_mul(8).saturating_add(64 << 20);
    let place = match store {
        Some(s) => Place::Copy(s.to_owned()),
        None => Place::Dataset(repo_id),
    };
    let stored = core.storage.ingest_at(&place, body, limit).await;
    // When the store stopped reading, its error says why; the writer's broken pipe follows.
    if let Err(e) = &stored {
        tracing::warn!(repo = repo_id, error = %e.message, "a table's view was not stored");
    }
    let (oid, size) = stored?;
    let rows = producer
        .await
        .map_err(|e| Made::other(Error::internal(format!("making a view: {e}"))))??;
    Ok((oid, size, rows))
}

/// Writes the batches `feed` hands over through `plan` as Parquet to `out`; the rows written.
fn write_batches<W: std::io::Write + Send>(
    out: W,
    plan: BatchPlan,
    feed: impl FnOnce(
        &mut dyn FnMut(
            datafusion::arrow::record_batch::RecordBatch,
        ) -> std::result::Result<(), Made>,
    ) -> std::result::Result<(), Made>,
) -> std::result::Result<u64, Made> {
    let mut writer = parquet_writer(out, plan.schema())?;
    let mut rows = 0u64;
    feed(&mut |b| {
        if let Some(kept) = plan.apply(&b).map_err(made)? {
            rows += kept.num_rows() as u64;
            writer.write(&kept).map_err(|e| made(parquet_error(e)))?;
        }
        Ok(())
    })?;
    writer.close().map_err(|e| made(parquet_error(e)))?;
    Ok(rows)
}

/// JSON Lines: the schema from the sample, then every line; a line that is not an object, or a
/// value not of its column's type, is an error naming the line.
fn jsonl<R: std::io::Read, W: std::io::Write + Send>(
    input: R,
    output: W,
    sample: &[u8],
    decision: &strata_policy::Decision,
    hasher: strata_policy::table::Hasher,
) -> std::result::Result<u64, Made> {
    let (schema, _) =
        arrow_json::reader::infer_json_schema(std::io::BufReader::new(sample), Some(10_000))
            .map_err(|e| Made::other(Error::unprocessable(format!("not JSON Lines: {e}"))))?;
    let schema = Arc::new(schema);
    let plan = BatchPlan::new(&schema, decision, hasher).map_err(made)?;
    let reader = arrow_json::ReaderBuilder::new(schema)
        .with_batch_size(table::BATCH_ROWS)
        .build(std::io::BufReader::with_capacity(256 * 1024, input))
        .map_err(|e| Made::other(Error::unprocessable(e.to_string())))?;
    let mut read = 0u64;
    write_batches(output, plan, |sink| {
        for b in reader {
            let b = b.map_err(|e| {
                Made::other(Error::unprocessable(format!(
                    "JSON Lines, after line {read}: {e}"
                )))
            })?;
            read += b.num_rows() as u64;
            sink(b)?;
        }
        Ok(())
    })
}

fn parquet_writer<W: std::io::Write + Send>(
    out: W,
    schema: datafusion::arrow::datatypes::SchemaRef,
) -> std::result::Result<ArrowWriter<W>, Made> {
    ArrowWriter::try_new(out, schema, Some(table::parquet::properties()))
        .map_err(|e| Made::other(Error::internal(format!("writing Parquet: {e}"))))
}

fn parquet_error(e: datafusion::parquet::errors::ParquetError) -> TableError {
    match e {
        datafusion::parquet::errors::ParquetError::External(e) => {
            TableError::Io(std::io::Error::other(e))
        }
        e => TableError::Io(std::io::Error::other(e.to_string())),
    }
}

fn not_parquet(e: impl std::fmt::Display) -> Error {
    Error::unprocessable(format!("not a Parquet file this server can read: {e}"))
}

/// A table's error as the domain's.
pub(crate) fn table_error(e: TableError) -> Error {
    match e {
        TableError::Refused(m) => Error::forbidden(m),
        e @ (TableError::Invalid(_) | TableError::BadValue { .. }) => {
            Error::unprocessable(e.to_string())
        }
        TableError::Io(e) => Error::internal(format!("reading a table: {e}")),
    }
}

/// Records the copy `view` just made of `opened`, and audits it.
async fn record_copy(core: &Core, opened: &Opened, view: &View) -> Result<()> {
    let Some(store) = &view.store else {
        return Ok(());
    };
    let copy = RegionCopy {
        key: view.key.clone(),
        repo_id: view.repo_id,
        store: store.clone(),
        region: core.governance.region().unwrap_or_default().to_owned(),
        resource: opened.table.name.clone(),
        revision: opened.catalog.revision.clone().unwrap_or_default(),
        source_oid: opened.object.0.to_string(),
        decision: opened.decision.to_audit().to_string(),
        policies: core.governance.version(core).await,
        oid: view.oid.to_string(),
        size: view.size as i64,
        rows: view.rows as i64,
        created_at: 0,
    };
    core.db.put_region_copy(&copy).await?;
    let ctx = crate::context::current();
    core.db
        .audit(
            "governance.copy",
            ctx.actor().as_deref(),
            Some(&opened.catalog.dataset),
            Some(&ctx.ip),
            &json!({
                "store": copy.store,
                "region": copy.region,
                "resource": copy.resource,
                "revision": copy.revision,
                "source": copy.source_oid,
                "copy": copy.oid,
                "decision": opened.decision.to_audit(),
                "policies": copy.policies,
            }),
        )
        .await?;
    Ok(())
}
