//! A change data feed: the rows that changed between two views of a table, as one Parquet file
//! with the later view's columns and `_change_type` (`insert`, `delete`, `update_preimage`,
//! `update_postimage`), the shape Delta Sharing's `…/changes` serves. Keyed tables (the Table
//! Schema's `primaryKey`, unique on both sides) pair a changed row's two images by key; keyless
//! ones, and a key that repeats, compare whole rows as multisets (a row twice before and once
//! after is one `delete`). Both views are already governed for their reader, so nothing the
//! reader may not see is compared or written. The feed is kept as views are (`table_views`,
//! under a key of both views and the key), so erasure, the idle purge and collection treat it
//! as a view, and a second reader of the same pair finds it made.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures_util::StreamExt;
use serde_json::json;
use sha2::Digest;
use strata_lfs::Oid;
use tokio_util::io::{ReaderStream, SyncIoBridge};

use super::{context, diff_error, run};
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
    if sa.fields() != sb.fields() {
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
    let keyed = !key.is_empty()
        && key.iter().all(|k| columns.contains(k))
        && unique(&ctx, "a", key).await?
        && unique(&ctx, "b", key).await?;
    let sql = match keyed {
        true => keyed_sql(&columns, key),
        false => whole_sql(&columns),
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

/// Whether no value of `key` has two rows in `side`.
async fn unique(ctx: &SessionContext, side: &str, key: &[String]) -> Result<bool> {
    let k: Vec<String> = key.iter().map(|c| quoted(c)).collect();
    let sql = format!(
        "SELECT 1 FROM {side} GROUP BY {} HAVING count(*) > 1 LIMIT 1",
        k.join(", ")
    );
    Ok(run(ctx, &sql).await?.iter().all(|b| b.num_rows() == 0))
}

fn side_columns(side: &str, columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("{side}.{q} AS {q}", q = quoted(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Keyed: a key on one side only is a delete or an insert; on both with another cell, an
/// update's two images.
fn keyed_sql(columns: &[String], key: &[String]) -> String {
    let on = key
        .iter()
        .map(|k| format!("(a.{q} = b.{q})", q = quoted(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let differs = columns
        .iter()
        .filter(|c| !key.contains(c))
        .map(|c| format!("(a.{q} IS DISTINCT FROM b.{q})", q = quoted(c)))
        .collect::<Vec<_>>()
        .join(" OR ");
    let (ca, cb) = (side_columns("a", columns), side_columns("b", columns));
    let t = quoted(CHANGE_TYPE);
    let mut sql = format!(
        "SELECT {ca}, 'delete' AS {t} FROM a LEFT ANTI JOIN b ON {on} \
         UNION ALL SELECT {cb}, 'insert' AS {t} FROM b LEFT ANTI JOIN a ON {on}"
    );
    if !differs.is_empty() {
        sql.push_str(&format!(
            " UNION ALL SELECT {ca}, 'update_preimage' AS {t} FROM a JOIN b ON {on} WHERE {differs} \
             UNION ALL SELECT {cb}, 'update_postimage' AS {t} FROM a JOIN b ON {on} WHERE {differs}"
        ));
    }
    sql
}

/// Keyless: each row numbered among its equals on its side; a row whose number the other side
/// lacks is a delete (from `a`) or an insert (into `b`).
fn whole_sql(columns: &[String]) -> String {
    let n = quoted("\u{1}n");
    let all = columns
        .iter()
        .map(|c| quoted(c))
        .collect::<Vec<_>>()
        .join(", ");
    let on = columns
        .iter()
        .map(|c| format!("(x.{q} IS NOT DISTINCT FROM y.{q})", q = quoted(c)))
        .chain(std::iter::once(format!("(x.{n} = y.{n})")))
        .collect::<Vec<_>>()
        .join(" AND ");
    let numbered =
        |side: &str| format!("SELECT *, row_number() OVER (PARTITION BY {all}) AS {n} FROM {side}");
    let t = quoted(CHANGE_TYPE);
    let (cx, na, nb) = (side_columns("x", columns), numbered("a"), numbered("b"));
    format!(
        "SELECT {cx}, 'delete' AS {t} FROM ({na}) x LEFT ANTI JOIN ({nb}) y ON {on} \
         UNION ALL SELECT {cx}, 'insert' AS {t} FROM ({nb}) x LEFT ANTI JOIN ({na}) y ON {on}"
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
    writer
        .await
        .map_err(|e| Error::internal(format!("writing a table's Parquet: {e}")))??;
    let (oid, size) = stored.0?;
    Ok((oid, size, stored.1?))
}

fn parquet_error(e: datafusion::parquet::errors::ParquetError) -> Error {
    Error::internal(format!("writing Parquet: {e}"))
}
