//! The rows of a CSV table both sides of a merge changed, merged row by row and cell by cell.
//!
//! The three revisions (base, ours = the target, theirs = the source) are read as text views
//! (every cell exactly as written), stacked and grouped on the Table Schema's `primaryKey`: a
//! cell one side changed takes that side's value; cells both changed to different values
//! clash; a row one side deleted and the other changed clashes as a whole. Without a key (or
//! when its columns are not in all three), rows are matched whole and counted: each distinct
//! row ends with the copies the side that changed its count left (both changed it alike: that
//! count, once; differently: both changes, the base's count plus each side's change). Columns a side added are kept, columns a side removed are gone.
//!
//! DataFusion groups the rows (spilling past the shared memory pool) — or, when every side is
//! already in key order, the three are merge-joined as they stream ([`super::sorted`]), with
//! no grouping and no sort; the merged rows are streamed as CSV into the dataset's store in key
//! order. Nothing holds a whole table.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures_util::StreamExt;
use strata_lfs::Oid;
use tokio_util::io::{ReaderStream, SyncIoBridge};

use super::cells::{whole_rows, Columns};
pub use super::marks::{Pick, RowClash, Shape};
use super::marks::{CELL, CLASH, COPIES, MERGED, N, ST};
use super::sorted;
use crate::error::{Error, Kind as ErrorKind, Result};
use crate::tables::rows::quoted;
use crate::tables::{engine_error, store, view, Kind, Opened};
use crate::Core;

/// How each clash is resolved (`None`: it is not).
pub type Picker = Arc<dyn Fn(&RowClash) -> Option<Pick> + Send + Sync>;

/// The three revisions of one table.
pub struct Sides<'a> {
    pub base: &'a Opened,
    pub ours: &'a Opened,
    pub theirs: &'a Opened,
}

/// The longest a merge waits for its next rows (the first come after the whole grouping and
/// sort): past it the merge gives up rather than hold its memory.
const STALL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

const S: &str = "\u{1}s";

/// The clashes of the merge (at most `limit`; `true` when there are more).
pub async fn clashes(
    core: &Core,
    repo_id: i64,
    sides: &Sides<'_>,
    limit: usize,
) -> Result<(Shape, Vec<RowClash>, bool)> {
    // A request waits for this: the views ahead of time wait for it.
    let _first = core.tables.priority.foreground();
    let (ctx, shape, named) = prepare(core, repo_id, sides).await?;
    if shape.key.is_empty() {
        return Ok((shape, Vec::new(), false));
    }
    let mut found = Vec::new();
    if let Some(plan) = sorted::plan(&ctx, &shape, &named).await? {
        let mut merged = sorted::Sorted::start(&ctx, &shape, plan).await?;
        while let Some(b) = merged.next().await {
            let b = b?;
            let cols = Columns::of(&b, &shape)?;
            for i in 0..b.num_rows() {
                found.extend(cols.clashes(i)?);
            }
            if found.len() > limit {
                break;
            }
        }
    } else {
        let q = Query { shape: &shape };
        let flags: Vec<String> = std::iter::once(format!("{} IN ('x', 'u')", quoted(ST)))
            .chain(q.cells().map(|c| quoted(&format!("{CLASH}{c}"))))
            .collect();
        let sql = format!(
            "SELECT * FROM ({}) WHERE {} ORDER BY {} LIMIT {}",
            q.keyed(),
            flags.join(" OR "),
            q.order(),
            limit + 1
        );
        let df = ctx.sql(&sql).await.map_err(merge_error)?;
        let batches = df.collect().await.map_err(merge_error)?;
        for b in &batches {
            let cols = Columns::of(b, &shape)?;
            for i in 0..b.num_rows() {
                found.extend(cols.clashes(i)?);
            }
        }
    }
    let more = found.len() > limit;
    found.truncate(limit);
    Ok((shape, found, more))
}

/// Writes the merged table into the dataset's store, each clash resolved by `pick` (an
/// unresolved clash fails the write): the object and its size.
pub async fn write(
    core: &Core,
    repo_id: i64,
    sides: &Sides<'_>,
    pick: Picker,
) -> Result<(Oid, u64)> {
    let _first = core.tables.priority.foreground();
    let (ctx, shape, named) = prepare(core, repo_id, sides).await?;
    let mut stream = if let Some(plan) = sorted::plan(&ctx, &shape, &named).await? {
        Merged::Sorted(Box::new(sorted::Sorted::start(&ctx, &shape, plan).await?))
    } else {
        let q = Query { shape: &shape };
        let sql = if shape.key.is_empty() {
            format!("SELECT * FROM ({}) ORDER BY {}", q.whole(), q.order())
        } else {
            format!(
                "SELECT * FROM ({}) WHERE {} <> 'd' ORDER BY {}",
                q.keyed(),
                quoted(ST),
                q.order()
            )
        };
        let df = ctx.sql(&sql).await.map_err(merge_error)?;
        Merged::Query(df.execute_stream().await.map_err(merge_error)?)
    };
    let delimiter = match sides.ours.kind {
        Kind::Csv { delimiter } => delimiter,
        _ => b',',
    };
    let schema: SchemaRef = Arc::new(Schema::new(
        shape
            .columns
            .iter()
            .map(|c| Field::new(c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let (write, read) = tokio::io::duplex(1 << 20);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<RecordBatch>(2);
    let handle = tokio::runtime::Handle::current();
    let writer = tokio::task::spawn_blocking(move || {
        let out = SyncIoBridge::new_with_handle(write, handle);
        let mut csv = datafusion::arrow::csv::WriterBuilder::new()
            .with_header(true)
            .with_delimiter(delimiter)
            .build(out);
        while let Some(b) = rx.blocking_recv() {
            csv.write(&b)
                .map_err(|e| Error::internal(format!("writing the merged table: {e}")))?;
        }
        let mut out = csv.into_inner();
        use std::io::Write as _;
        out.flush()
            .and_then(|()| out.shutdown())
            .map_err(|e| Error::internal(format!("writing the merged table: {e}")))
    });
    let limit = [sides.base, sides.ours, sides.theirs]
        .iter()
        .map(|s| s.object.1)
        .sum::<u64>()
        .saturating_add(64 << 20);
    let body = ReaderStream::with_capacity(read, 256 * 1024);
    let stored = tokio::spawn({
        let storage = core.storage.clone();
        async move { storage.ingest(repo_id, body, limit).await }
    });
    let mut header_sent = false;
    let produced: Result<()> = async {
        loop {
            let Ok(next) = tokio::time::timeout(STALL, stream.next()).await else {
                return Err(Error::new(
                    ErrorKind::Busy,
                    "the merge of this table made no progress for 15 minutes: try again later",
                ));
            };
            let Some(b) = next else { break };
            let b = b?;
            let out = if shape.key.is_empty() {
                whole_rows(&b, &shape, &schema)?
            } else {
                Columns::of(&b, &shape)?.merged(&schema, pick.as_ref())?
            };
            header_sent = true;
            if tx.send(out).await.is_err() {
                break;
            }
        }
        if !header_sent {
            let _ = tx.send(RecordBatch::new_empty(schema.clone())).await;
        }
        Ok(())
    }
    .await;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| Error::internal(format!("writing the merged table: {e}")))?;
    produced?;
    written?;
    let (oid, size) = stored
        .await
        .map_err(|e| Error::internal(format!("storing the merged table: {e}")))??;
    Ok((oid, size))
}

/// The merged rows: by the merge query, or merge-joined as the sides stream when they are in
/// key order ([`sorted`]).
enum Merged {
    Query(datafusion::physical_plan::SendableRecordBatchStream),
    Sorted(Box<sorted::Sorted>),
}

impl Merged {
    async fn next(&mut self) -> Option<Result<RecordBatch>> {
        match self {
            Merged::Query(s) => s.next().await.map(|b| b.map_err(merge_error)),
            Merged::Sorted(s) => s.next().await,
        }
    }
}

/// Text views of the three sides registered as `b`, `o` and `t`, and the merged shape.
/// The three sides registered as `b`, `o` and `t`, their merged shape, and their name (the
/// three views', for [`sorted::plan`]).
async fn prepare(
    core: &Core,
    repo_id: i64,
    sides: &Sides<'_>,
) -> Result<(SessionContext, Shape, String)> {
    // One partition: the merged rows are sorted once, by one sort that spills and merges its
    // own runs (two partitions' sorts and their merge stalled at 1 GiB in a 256 MiB pool).
    let (runtime, _) = core.tables.engine(core);
    let mut config = datafusion::prelude::SessionConfig::new()
        .with_target_partitions(1)
        .with_batch_size(8192);
    config.options_mut().sql_parser.enable_ident_normalization = false;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    let mut named = String::new();
    for (name, side) in [("b", sides.base), ("o", sides.ours), ("t", sides.theirs)] {
        let v = view::text_view(core, repo_id, side).await?;
        let path = core.tables.know(core, &v);
        named.push_str(path.as_ref());
        named.push('\u{1}');
        ctx.register_parquet(
            name,
            format!("{}{path}", store::URL),
            ParquetReadOptions::default().file_extension(""),
        )
        .await
        .map_err(engine_error)?;
    }
    let shape = stack(&ctx, &sides.ours.table.primary_key).await?;
    Ok((ctx, shape, named))
}

/// The merged shape of the sides registered as `b`, `o` and `t` (`declared`: the target's
/// primary key), and their rows registered as `stacked`, each tagged with its side.
pub(super) async fn stack(ctx: &SessionContext, declared: &[String]) -> Result<Shape> {
    let mut headers = Vec::new();
    for name in ["b", "o", "t"] {
        let df = ctx.table(name).await.map_err(engine_error)?;
        let names: Vec<String> = df
            .schema()
            .as_arrow()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        if names.iter().any(|n| n.starts_with('\u{1}')) {
            return Err(Error::unprocessable(
                "a column name starts with the control character U+0001: such tables are not merged",
            ));
        }
        headers.push(names);
    }
    let [b, o, t] = [&headers[0], &headers[1], &headers[2]];
    let mut columns: Vec<String> = o
        .iter()
        .filter(|c| !b.contains(c) || t.contains(c))
        .cloned()
        .collect();
    columns.extend(
        t.iter()
            .filter(|c| !o.contains(c) && !b.contains(c))
            .cloned(),
    );
    let key = if !declared.is_empty()
        && declared
            .iter()
            .all(|k| b.contains(k) && o.contains(k) && t.contains(k))
    {
        declared.to_vec()
    } else {
        Vec::new()
    };
    let shape = Shape { key, columns };
    // Each side's columns, every merged column named (absent ones empty).
    let sel = |side: &[String], tag: &str| {
        shape
            .columns
            .iter()
            .map(|c| {
                if side.contains(c) {
                    format!("CAST({} AS VARCHAR) AS {}", quoted(c), quoted(c))
                } else {
                    format!("CAST(NULL AS VARCHAR) AS {}", quoted(c))
                }
            })
            .chain([format!("'{tag}' AS {}", quoted(S))])
            .collect::<Vec<_>>()
            .join(", ")
    };
    let stacked = format!(
        "SELECT {} FROM b UNION ALL SELECT {} FROM o UNION ALL SELECT {} FROM t",
        sel(b, "b"),
        sel(o, "o"),
        sel(t, "t")
    );
    ctx.register_table(
        "stacked",
        ctx.sql(&stacked).await.map_err(merge_error)?.into_view(),
    )
    .map_err(engine_error)?;
    Ok(shape)
}

/// The merge's SQL over the `stacked` rows.
pub(super) struct Query<'q> {
    pub(super) shape: &'q Shape,
}

impl Query<'_> {
    /// The merged columns that are not the key.
    fn cells(&self) -> impl Iterator<Item = &String> + '_ {
        self.shape
            .columns
            .iter()
            .filter(|c| !self.shape.key.contains(c))
    }

    fn counts(&self) -> String {
        ["b", "o", "t"]
            .iter()
            .zip(N)
            .map(|(tag, n)| {
                format!(
                    "sum(CASE WHEN {} = '{tag}' THEN 1 ELSE 0 END) AS {}",
                    quoted(S),
                    quoted(n)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Keyed: per key, each side's cells and copies, each cell's merged value and clash flag,
    /// and the row's state: `k` kept, `d` dropped, `x` a whole-row clash, `u` a key not unique.
    pub(super) fn keyed(&self) -> String {
        let keys: Vec<String> = self.shape.key.iter().map(|k| quoted(k)).collect();
        let mut inner = keys.clone();
        for c in self.cells() {
            for (tag, prefix) in ["b", "o", "t"].iter().zip(CELL) {
                inner.push(format!(
                    "max(CASE WHEN {} = '{tag}' THEN {} END) AS {}",
                    quoted(S),
                    quoted(c),
                    quoted(&format!("{prefix}{c}"))
                ));
            }
        }
        inner.push(self.counts());
        let cell = |prefix: &str, c: &str| quoted(&format!("{prefix}{c}"));
        let changed = |side: usize, c: &str| {
            format!(
                "({} IS DISTINCT FROM {})",
                cell(CELL[side], c),
                cell(CELL[0], c)
            )
        };
        let any = |side: usize| {
            let all: Vec<String> = self.cells().map(|c| changed(side, c)).collect();
            if all.is_empty() {
                "false".to_owned()
            } else {
                format!("({})", all.join(" OR "))
            }
        };
        let [bn, on, tn] = N.map(quoted);
        let state = format!(
            "CASE WHEN {bn} > 1 OR {on} > 1 OR {tn} > 1 THEN 'u' \
             WHEN {on} > 0 AND {tn} > 0 THEN 'k' \
             WHEN {bn} > 0 AND {on} > 0 THEN CASE WHEN {} THEN 'x' ELSE 'd' END \
             WHEN {bn} > 0 AND {tn} > 0 THEN CASE WHEN {} THEN 'x' ELSE 'd' END \
             WHEN {bn} > 0 THEN 'd' ELSE 'k' END AS {}",
            any(1),
            any(2),
            quoted(ST)
        );
        let mut outer = vec!["*".to_owned(), state];
        for c in self.cells() {
            outer.push(format!(
                "CASE WHEN {} THEN {} ELSE {} END AS {}",
                changed(1, c),
                cell(CELL[1], c),
                cell(CELL[2], c),
                cell(MERGED, c)
            ));
            outer.push(format!(
                "({} AND {} AND ({} IS DISTINCT FROM {})) AS {}",
                changed(1, c),
                changed(2, c),
                cell(CELL[1], c),
                cell(CELL[2], c),
                cell(CLASH, c)
            ));
        }
        format!(
            "SELECT {} FROM (SELECT {} FROM stacked GROUP BY {})",
            outer.join(", "),
            inner.join(", "),
            keys.join(", ")
        )
    }

    /// Whole rows: each distinct row with the copies the merge keeps (`COPIES`), those kept.
    fn whole(&self) -> String {
        let cols: Vec<String> = self.shape.columns.iter().map(|c| quoted(c)).collect();
        let [bn, on, tn] = N.map(quoted);
        format!(
            "SELECT * FROM (SELECT {cols}, CASE WHEN {on} = {bn} THEN {tn} WHEN {tn} = {bn} THEN {on} \
             WHEN {on} = {tn} THEN {on} WHEN {on} + {tn} > {bn} THEN {on} + {tn} - {bn} ELSE 0 END \
             AS {n} FROM (SELECT {cols}, {counts} FROM stacked GROUP BY {cols})) WHERE {n} > 0",
            cols = cols.join(", "),
            counts = self.counts(),
            n = quoted(COPIES),
        )
    }

    /// Key order (numbers as numbers, then as text), or whole rows' order.
    pub(super) fn order(&self) -> String {
        let by = if self.shape.key.is_empty() {
            &self.shape.columns
        } else {
            &self.shape.key
        };
        by.iter()
            // `|| ''`: DataFusion takes a grouped key's own sort for implied by a sort on an
            // expression of it and drops it, which left keys equal as numbers unordered.
            .map(|c| {
                format!(
                    "try_cast({0} AS DOUBLE) NULLS LAST, {0} || '' NULLS LAST",
                    quoted(c)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub(super) fn merge_error(e: datafusion::error::DataFusionError) -> Error {
    if let datafusion::error::DataFusionError::ResourcesExhausted(m) = e.find_root() {
        return Error::new(
            ErrorKind::Busy,
            format!("the merge needs more memory than the server has free right now: {m}"),
        );
    }
    engine_error(e)
}
