//! A change data feed: the rows that changed between two views of a table, as one Parquet file
//! with the later view's columns and `_change_type` (`insert`, `delete`, `update_preimage`,
//! `update_postimage`), the shape Delta Sharing's `…/changes` serves. Keyed tables (the Table
//! Schema's `primaryKey`, unique on both sides) pair a changed row's two images by key; keyless
//! ones, and a key that repeats, compare whole rows as multisets (a row twice before and once
//! after is one `delete`). Both views are already governed for their reader, so nothing the
//! reader may not see is compared or written. The feed is kept as views are (`table_views`,
//! under a key of both views and the key), so erasure, the idle purge and collection treat it
//! as a view, and a second reader of the same pair finds it made.
//!
//! Two passes, as the row diff does, so that neither table is held in memory: the first groups
//! both sides on the key (or on each row's digest) with a digest standing for the other cells,
//! spilling past the memory pool, and keeps only the groups that differ; the second joins that
//! small set with each side to write the changed rows out.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures_util::StreamExt;
use serde_json::json;
use sha2::Digest;
use strata_lfs::Oid;
use tokio_util::io::{ReaderStream, SyncIoBridge};

use super::digest::NAME as DIGEST;
use super::{context, diff_error};
use crate::error::{Error, Result};
use crate::storage::Place;
use crate::tables::rows::quoted;
use crate::tables::view::{record, stored, View};
use crate::tables::{engine_error, store};
use crate::Core;

/// The column naming each row's change.
pub const CHANGE_TYPE: &str = "_change_type";

/// The key the feed from `a` to `b` (matched on `key`) is kept under.
pub fn key_of(a: &View, b: &View, key: &[String]) -> String {
    let what = json!({"v": 1, "feed": [a.key, b.key], "key": key});
    hex::encode(sha2::Sha256::digest(what.to_string()))
}

/// The feed from `a` to `b` if it is made: nothing is made now.
pub async fn find(core: &Core, a: &View, b: &View, key: &[String]) -> Result<Option<View>> {
    stored(core, &key_of(a, b, key), b.repo_id).await
}

/// The feed of the rows that changed from view `a` to view `b` of one table, found or made now.
/// `key`: the Table Schema's primary key (empty: none); `source` is `b`'s (`table:object`), so
/// that erasing its object forgets the feed too. The two views must have the same columns (a
/// table whose columns changed between them answers 422).
pub async fn feed(core: &Core, a: &View, b: &View, key: &[String], source: &str) -> Result<View> {
    let fkey = key_of(a, b, key);
    if let Some(v) = stored(core, &fkey, b.repo_id).await? {
        return Ok(v);
    }
    let lock = core.tables.key_lock(&fkey);
    let _turn = lock.lock().await;
    if let Some(v) = stored(core, &fkey, b.repo_id).await? {
        return Ok(v);
    }
    let _first = core.tables.priority.foreground();
    let _made_in = core.tables.making_in(b.repo_id).await;
    let ctx = context(core, 2);
    for (name, v) in [("a", a), ("b", b)] {
        let path = core.tables.know(core, v);
        ctx.register_parquet(
            name,
            format!("{}{path}", store::URL),
            ParquetReadOptions::default().file_extension(""),
        )
        .await
        .map_err(engine_error)?;
    }
    let schema = |name: &'static str| {
        let ctx = ctx.clone();
        async move {
            let df = ctx.table(name).await.map_err(engine_error)?;
            Ok::<Schema, Error>(df.schema().as_arrow().clone())
        }
    };
    let (sa, sb) = (schema("a").await?, schema("b").await?);
    let shape = |s: &Schema| -> Vec<(String, datafusion::arrow::datatypes::DataType)> {
        s.fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    };
    if shape(&sa) != shape(&sb) {
        return Err(Error::unprocessable(
            "the table's columns changed between these versions: its changes are read from the \
             version after the change on",
        ));
    }
    let columns: Vec<String> = sb.fields().iter().map(|f| f.name().clone()).collect();
    if columns.iter().any(|c| c == CHANGE_TYPE) {
        return Err(Error::unprocessable(format!(
            "the table has a column named {CHANGE_TYPE}: its changes cannot be told apart from it"
        )));
    }
    let keyed = !key.is_empty() && key.iter().all(|k| columns.contains(k));
    let mut sql = None;
    if keyed {
        let d = groups(&ctx, &keyed_differing(&columns, key)).await?;
        // A key with two rows on a side is no key: compare whole rows.
        if !repeats(&d.1)? {
            differing_table(&ctx, d)?;
            sql = Some(keyed_rows(&columns, key));
        }
    }
    let sql = match sql {
        Some(sql) => sql,
        None => {
            differing_table(&ctx, groups(&ctx, &whole_differing(&columns)).await?)?;
            whole_rows(&columns)
        }
    };
    let df = ctx.sql(&sql).await.map_err(diff_error)?;
    let stream = df.execute_stream().await.map_err(diff_error)?;
    let (oid, size, rows) = write_parquet(core, &b.place(), stream, |_| Ok(())).await?;
    let row = crate::db::TableView {
        oid: oid.to_string(),
        size: size as i64,
        rows: rows as i64,
        stats: None,
        used_at: 0,
        store: b.store.clone(),
    };
    record(core, &fkey, b.repo_id, source, &row).await?;
    Ok(View {
        key: fkey,
        repo_id: b.repo_id,
        oid,
        size,
        rows,
        stats: None,
        store: b.store.clone(),
    })
}

const NA: &str = "\u{1}na";
const NB: &str = "\u{1}nb";
const H: &str = "\u{1}h";
const IA: &str = "\u{1}ia";
const IB: &str = "\u{1}ib";
const RN: &str = "\u{1}rn";
const M: &str = "\u{1}m";

fn list(columns: &[String], side: Option<&str>) -> String {
    columns
        .iter()
        .map(|c| match side {
            Some(s) => format!("{s}.{q} AS {q}", q = quoted(c)),
            None => quoted(c),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Both sides stacked: each row's `key` columns (none: none), the digest of `cells` and its side.
fn stacked(key: &[String], cells: &[String]) -> String {
    let digest = match cells.is_empty() {
        true => "CAST(NULL AS BYTEA)".to_owned(),
        false => format!("{DIGEST}({})", list(cells, None)),
    };
    let keys: String = key.iter().map(|k| format!("{}, ", quoted(k))).collect();
    let (h, ia, ib) = (quoted(H), quoted(IA), quoted(IB));
    format!(
        "SELECT {keys}{digest} AS {h}, 1 AS {ia}, 0 AS {ib} FROM a \
         UNION ALL SELECT {keys}{digest} AS {h}, 0 AS {ia}, 1 AS {ib} FROM b"
    )
}

/// Keyed, the first pass: each key whose rows differ, with its rows on each side.
fn keyed_differing(columns: &[String], key: &[String]) -> String {
    let cells: Vec<String> = columns
        .iter()
        .filter(|c| !key.contains(c))
        .cloned()
        .collect();
    let (h, ia, ib) = (quoted(H), quoted(IA), quoted(IB));
    let keys = list(key, None);
    format!(
        "SELECT {keys}, sum({ia}) AS {na}, sum({ib}) AS {nb} FROM ({s}) GROUP BY {keys} \
         HAVING sum({ia}) <> 1 OR sum({ib}) <> 1 \
         OR max(CASE WHEN {ia} = 1 THEN {h} END) IS DISTINCT FROM max(CASE WHEN {ib} = 1 THEN {h} END)",
        s = stacked(key, &cells),
        na = quoted(NA),
        nb = quoted(NB),
    )
}

/// Keyless, the first pass: each distinct row whose count differs, with its counts.
fn whole_differing(columns: &[String]) -> String {
    let (h, ia, ib) = (quoted(H), quoted(IA), quoted(IB));
    format!(
        "SELECT {h}, sum({ia}) AS {na}, sum({ib}) AS {nb} FROM ({s}) GROUP BY {h} \
         HAVING sum({ia}) <> sum({ib})",
        s = stacked(&[], columns),
        na = quoted(NA),
        nb = quoted(NB),
    )
}

/// Whether a key has more than one row on a side in the first pass's groups.
fn repeats(groups: &[RecordBatch]) -> Result<bool> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Int64Type;
    for b in groups {
        for name in [NA, NB] {
            let c = b
                .column_by_name(name)
                .and_then(|c| c.as_primitive_opt::<Int64Type>())
                .ok_or_else(|| Error::internal("a change feed's counts are missing"))?;
            if (0..c.len()).any(|i| c.is_valid(i) && c.value(i) > 1) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The first pass's groups (few: those of the rows that changed), in memory.
async fn groups(ctx: &SessionContext, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let df = ctx.sql(sql).await.map_err(diff_error)?;
    let schema: SchemaRef = std::sync::Arc::new(df.schema().as_arrow().clone());
    Ok((schema, df.collect().await.map_err(diff_error)?))
}

/// Registers the first pass's groups as `d`.
fn differing_table(
    ctx: &SessionContext,
    (schema, groups): (SchemaRef, Vec<RecordBatch>),
) -> Result<()> {
    let table = MemTable::try_new(schema, vec![groups]).map_err(engine_error)?;
    ctx.register_table("d", std::sync::Arc::new(table))
        .map_err(engine_error)?;
    Ok(())
}

/// Keyed, the second pass: the changed keys' rows, each side joined with `d` (the small side).
fn keyed_rows(columns: &[String], key: &[String]) -> String {
    let on = |side: &str| {
        key.iter()
            .map(|k| format!("(d.{q} = {side}.{q})", q = quoted(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let (na, nb, t) = (quoted(NA), quoted(NB), quoted(CHANGE_TYPE));
    format!(
        "SELECT {ca}, CASE WHEN d.{nb} = 0 THEN 'delete' ELSE 'update_preimage' END AS {t} \
         FROM d JOIN a ON {oa} \
         UNION ALL SELECT {cb}, CASE WHEN d.{na} = 0 THEN 'insert' ELSE 'update_postimage' END AS {t} \
         FROM d JOIN b ON {ob}",
        ca = list(columns, Some("a")),
        cb = list(columns, Some("b")),
        oa = on("a"),
        ob = on("b"),
    )
}

/// Keyless, the second pass: of each changed row, as many copies as one side has more of it.
fn whole_rows(columns: &[String]) -> String {
    let (na, nb, h, rn, m, t) = (
        quoted(NA),
        quoted(NB),
        quoted(H),
        quoted(RN),
        quoted(M),
        quoted(CHANGE_TYPE),
    );
    let all = list(columns, None);
    let side = |s: &str, more: &str, less: &str, change: &str| {
        format!(
            "SELECT {all}, '{change}' AS {t} FROM (SELECT {x}, row_number() OVER (PARTITION BY d.{h}) AS {rn}, \
             d.{more} - d.{less} AS {m} FROM d JOIN (SELECT *, {DIGEST}({all}) AS {h} FROM {s}) x \
             ON d.{h} = x.{h} WHERE d.{more} > d.{less}) WHERE {rn} <= {m}",
            x = list(columns, Some("x")),
        )
    };
    format!(
        "{} UNION ALL {}",
        side("a", &na, &nb, "delete"),
        side("b", &nb, &na, "insert")
    )
}

/// Streams `stream` as Parquet into the store at `place`, each batch shown to `check` first:
/// the object's oid, size and rows. The object is linked to nothing (the caller records it).
pub(super) async fn write_parquet(
    core: &Core,
    place: &Place,
    mut stream: SendableRecordBatchStream,
    mut check: impl FnMut(&RecordBatch) -> Result<()> + Send,
) -> Result<(Oid, u64, u64)> {
    let (write, read) = tokio::io::duplex(1 << 20);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<RecordBatch>(2);
    let schema = stream.schema();
    let handle = tokio::runtime::Handle::current();
    let writer = tokio::task::spawn_blocking(move || -> Result<()> {
        let out = SyncIoBridge::new_with_handle(write, handle);
        let props = strata_policy::table::parquet::properties();
        let mut w = ArrowWriter::try_new(out, schema, Some(props)).map_err(parquet_error)?;
        while let Some(b) = rx.blocking_recv() {
            w.write(&b).map_err(parquet_error)?;
        }
        w.close().map_err(parquet_error)?;
        Ok(())
    });
    let stored = {
        let body = ReaderStream::with_capacity(read, 256 * 1024);
        let ingest = core.storage.ingest_at(place, body, u64::MAX);
        let feed = async move {
            let mut rows = 0u64;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(diff_error)?;
                check(&batch)?;
                rows += batch.num_rows() as u64;
                if tx.send(batch).await.is_err() {
                    break;
                }
            }
            drop(tx);
            Ok::<_, Error>(rows)
        };
        tokio::join!(ingest, feed)
    };
    let written = writer
        .await
        .map_err(|e| Error::internal(format!("writing a table's Parquet: {e}")))?;
    // The store's own error first: the writer then only saw its pipe close.
    let (oid, size) = stored.0?;
    let rows = stored.1?;
    written?;
    Ok((oid, size, rows))
}

fn parquet_error(e: datafusion::parquet::errors::ParquetError) -> Error {
    Error::internal(format!("writing Parquet: {e}"))
}
