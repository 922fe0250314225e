//! Digest indexes: a view's rows reduced to their key and a digest of their other cells
//! ([`super::digest`]), in key order, kept beside the view as a Parquet object of the dataset's
//! store and recorded with the views (so erasure, the idle purge and collection treat it as they
//! treat a view). A keyed diff of two revisions whose views have one is then a merge-join of two
//! sorted files, reading neither table's cells again: its cost follows the rows, not their width,
//! and a second diff of either revision reads only the indexes.
//!
//! An index is made on a diff's first need, one per (view, key, compared columns): a first pass
//! reads only the key to see whether the view is in key order already (tables usually are, as
//! written); if so, the second pass streams it as it stands, else sorted (spilling past the
//! memory pool). A key with two rows on one side is no key: no index is kept, and the diff
//! compares whole rows as before.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BinaryArray, Int64Array, RecordBatch};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::row::{OwnedRow, RowConverter, Rows, SortField};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures_util::StreamExt;
use serde_json::json;
use sha2::Digest;
use strata_lfs::Oid;

use super::digest::{self, NAME as DIGEST};
use super::scan::Found;
use super::{diff_error, Counts, KH, NA, NB};
use crate::error::{Error, Result};
use crate::tables::rows::quoted;
use crate::tables::view::{record, stored, View};
use crate::tables::{engine_error, store};
use crate::Core;

/// The digest column of an index.
const H: &str = "\u{1}h";

/// A view's digest index.
#[derive(Debug, Clone)]
pub(super) struct Index {
    view: View,
}

/// The index of `view` on `key`, its digests over `cells` (in that order), made now if there is
/// none; `None` when the key has two rows on one side (it is no key). `source` is the view's
/// (`table:object`), so that erasing the object forgets the index too.
pub(super) async fn index(
    core: &Core,
    view: &View,
    source: &str,
    key: &[String],
    cells: &[String],
) -> Result<Option<Index>> {
    let name = hex::encode(sha2::Sha256::digest(
        json!({"v": 1, "index": view.key, "key": key, "cells": cells}).to_string(),
    ));
    if let Some(view) = stored(core, &name, view.repo_id).await? {
        return Ok(Some(Index { view }));
    }
    let lock = core.tables.key_lock(&name);
    let _turn = lock.lock().await;
    if let Some(view) = stored(core, &name, view.repo_id).await? {
        return Ok(Some(Index { view }));
    }
    let _made_in = core.tables.making_in(view.repo_id).await;
    let ctx = session(core, view).await?;
    let keys: Vec<String> = key.iter().map(|k| quoted(k)).collect();
    let keys = keys.join(", ");
    // First pass: the key alone, in the view's order.
    let sorted = match in_order(
        ctx.sql(&format!("SELECT {keys} FROM v"))
            .await
            .map_err(diff_error)?
            .execute_stream()
            .await
            .map_err(diff_error)?,
        key.len(),
    )
    .await?
    {
        Order::Sorted => true,
        Order::Unsorted => false,
        Order::Repeated => return Ok(None),
    };
    let digest = if cells.is_empty() {
        "CAST(NULL AS BYTEA)".to_owned()
    } else {
        let cells: Vec<String> = cells.iter().map(|c| quoted(c)).collect();
        format!("{DIGEST}({})", cells.join(", "))
    };
    let order = if sorted {
        String::new()
    } else {
        let asc: Vec<String> = key
            .iter()
            .map(|k| format!("{} ASC NULLS FIRST", quoted(k)))
            .collect();
        format!(" ORDER BY {}", asc.join(", "))
    };
    let sql = format!("SELECT {keys}, {digest} AS {} FROM v{order}", quoted(H));
    let stream = ctx
        .sql(&sql)
        .await
        .map_err(diff_error)?
        .execute_stream()
        .await
        .map_err(diff_error)?;
    let Some((oid, size, rows)) = write(core, view, stream, key.len()).await? else {
        return Ok(None);
    };
    let row = crate::db::TableView {
        oid: oid.to_string(),
        size: size as i64,
        rows: rows as i64,
        stats: None,
        used_at: 0,
        store: view.store.clone(),
    };
    record(core, &name, view.repo_id, source, &row).await?;
    Ok(Some(Index {
        view: View {
            key: name,
            repo_id: view.repo_id,
            oid,
            size,
            rows,
            stats: None,
            store: view.store.clone(),
        },
    }))
}

/// The index of `view` on `key` over every other column, as a diff with a revision of the same
/// columns needs it: made ahead of time, with the view ([`crate::tables::ahead`]). A key the
/// view lacks (a policy removed it) indexes nothing.
pub(crate) async fn ahead(core: &Core, view: &View, source: &str, key: &[String]) -> Result<()> {
    let ctx = session(core, view).await?;
    let df = ctx.table("v").await.map_err(engine_error)?;
    let schema = df.schema().as_arrow().clone();
    if key.iter().any(|k| schema.field_with_name(k).is_err()) {
        return Ok(());
    }
    let cells: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| !key.contains(n))
        .collect();
    index(core, view, source, key, &cells).await.map(|_| ())
}

/// A session of one partition (so rows come in the file's order) over `view`, as `v`.
async fn session(core: &Core, view: &View) -> Result<SessionContext> {
    let ctx = super::context(core, 1);
    let path = core.tables.know(core, view);
    ctx.register_parquet(
        "v",
        format!("{}{path}", store::URL),
        ParquetReadOptions::default().file_extension(""),
    )
    .await
    .map_err(engine_error)?;
    Ok(ctx)
}

/// How a view's keys come.
enum Order {
    /// Each after the one before.
    Sorted,
    Unsorted,
    /// A key twice in a row.
    Repeated,
}

/// Keys in order, as one stream of batches whose first `width` columns are the key.
struct Keys {
    converter: Option<RowConverter>,
    width: usize,
    last: Option<OwnedRow>,
}

impl Keys {
    fn new(width: usize) -> Keys {
        Keys {
            converter: None,
            width,
            last: None,
        }
    }

    /// The batch's keys as comparable rows.
    fn rows(&mut self, batch: &RecordBatch) -> Result<Rows> {
        let columns: Vec<ArrayRef> = batch.columns()[..self.width].to_vec();
        if self.converter.is_none() {
            let fields = columns
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect();
            self.converter = Some(RowConverter::new(fields).map_err(arrow_error)?);
        }
        let converter = self.converter.as_ref().expect("made above");
        converter.convert_columns(&columns).map_err(arrow_error)
    }

    /// Where the batch's keys stand after those before it.
    fn follow(&mut self, batch: &RecordBatch) -> Result<Order> {
        if batch.num_rows() == 0 {
            return Ok(Order::Sorted);
        }
        let rows = self.rows(batch)?;
        let mut order = Order::Sorted;
        let mut prev = self.last.as_ref().map(|r| r.row());
        for row in rows.iter() {
            if let Some(p) = prev {
                match p.cmp(&row) {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => return Ok(Order::Repeated),
                    std::cmp::Ordering::Greater => order = Order::Unsorted,
                }
            }
            prev = Some(row);
        }
        self.last = Some(rows.row(rows.num_rows() - 1).owned());
        Ok(order)
    }
}

/// Whether the stream's keys come in order, and are each once (two equal neighbours are a key
/// twice, in order or not). Unsorted keys may repeat further apart: the sorted pass that follows
/// sees it.
async fn in_order(mut stream: SendableRecordBatchStream, width: usize) -> Result<Order> {
    let mut keys = Keys::new(width);
    while let Some(batch) = stream.next().await {
        match keys.follow(&batch.map_err(diff_error)?)? {
            Order::Sorted => {}
            other => return Ok(other),
        }
    }
    Ok(Order::Sorted)
}

/// Writes the index's rows (in key order) as Parquet into the view's store: its oid, size and
/// rows; `None` when a key repeats.
async fn write(
    core: &Core,
    view: &View,
    stream: SendableRecordBatchStream,
    width: usize,
) -> Result<Option<(Oid, u64, u64)>> {
    let mut keys = Keys::new(width);
    let mut repeated = false;
    let made = super::feed::write_parquet(core, &view.place(), stream, |batch| {
        if !matches!(keys.follow(batch)?, Order::Sorted) {
            repeated = true;
        }
        Ok(())
    })
    .await?;
    // The object stays unlinked (collection takes it): a key that repeats indexes nothing.
    Ok((!repeated).then_some(made))
}

/// The rows that differ between two views by their indexes, as the grouping pass would find
/// them ([`super::scan::differing`]): counted, and the page `offset..offset + limit` of them
/// with each row's key, `KH` (the digest of its key) and `NA`, `NB` (its rows on each side).
pub(super) async fn differing(
    core: &Core,
    (a, b): (&Index, &Index),
    width: usize,
    offset: u64,
    limit: usize,
) -> Result<Found> {
    let (mut sa, mut sb) = (
        Side::open(core, a, width).await?,
        Side::open(core, b, width).await?,
    );
    let mut counts = Counts::default();
    let (mut seen, end) = (0u64, offset.saturating_add(limit as u64));
    // The page's rows: each a one-row slice of its side's keys, and its counts.
    let mut page: Vec<(RecordBatch, i64, i64)> = Vec::new();
    loop {
        sa.fill().await?;
        sb.fill().await?;
        let step = match (sa.current(), sb.current()) {
            (None, None) => break,
            (Some(_), None) => Step::Removed,
            (None, Some(_)) => Step::Added,
            (Some((ka, ha)), Some((kb, hb))) => match ka.cmp(&kb) {
                std::cmp::Ordering::Less => Step::Removed,
                std::cmp::Ordering::Greater => Step::Added,
                std::cmp::Ordering::Equal if ha == hb => Step::Same,
                std::cmp::Ordering::Equal => Step::Changed,
            },
        };
        let (counted, from, na, nb) = match step {
            Step::Same => {
                sa.advance();
                sb.advance();
                continue;
            }
            Step::Removed => (&mut counts.removed, &sa, 1, 0),
            Step::Added => (&mut counts.added, &sb, 0, 1),
            Step::Changed => (&mut counts.changed, &sa, 1, 1),
        };
        *counted += 1;
        if seen >= offset && seen < end {
            page.push((from.key_row(), na, nb));
        }
        seen += 1;
        match step {
            Step::Removed => sa.advance(),
            Step::Added => sb.advance(),
            _ => {
                sa.advance();
                sb.advance();
            }
        }
    }
    Ok(Found {
        counts,
        page: page_batch(page)?.into_iter().collect(),
    })
}

#[derive(Clone, Copy)]
enum Step {
    Same,
    Removed,
    Added,
    Changed,
}

/// One side of the merge: its index read in order, a batch at a time.
struct Side {
    stream: SendableRecordBatchStream,
    keys: Keys,
    /// The batch, its keys comparable, its digests.
    batch: Option<(RecordBatch, Rows, BinaryArray)>,
    at: usize,
    done: bool,
}

impl Side {
    async fn open(core: &Core, index: &Index, width: usize) -> Result<Side> {
        let ctx = session(core, &index.view).await?;
        let stream = ctx
            .sql("SELECT * FROM v")
            .await
            .map_err(diff_error)?
            .execute_stream()
            .await
            .map_err(diff_error)?;
        Ok(Side {
            stream,
            keys: Keys::new(width),
            batch: None,
            at: 0,
            done: false,
        })
    }

    /// Reads the next batch once this one is used up.
    async fn fill(&mut self) -> Result<()> {
        while !self.done
            && self
                .batch
                .as_ref()
                .is_none_or(|(b, _, _)| self.at >= b.num_rows())
        {
            match self.stream.next().await {
                None => {
                    self.done = true;
                    self.batch = None;
                }
                Some(b) => {
                    let b = b.map_err(diff_error)?;
                    let rows = self.keys.rows(&b)?;
                    // The digests as plain binary (the engine may read them as views).
                    let h = cast(b.column(b.num_columns() - 1), &DataType::Binary)
                        .map_err(arrow_error)?;
                    let h = h
                        .as_any()
                        .downcast_ref::<BinaryArray>()
                        .cloned()
                        .ok_or_else(|| Error::internal("a digest index without digests"))?;
                    self.batch = Some((b, rows, h));
                    self.at = 0;
                }
            }
        }
        Ok(())
    }

    /// The current row's key (comparable) and digest.
    fn current(&self) -> Option<(datafusion::arrow::row::Row<'_>, Option<&[u8]>)> {
        let (b, rows, h) = self.batch.as_ref()?;
        if self.at >= b.num_rows() {
            return None;
        }
        let h = (!h.is_null(self.at)).then(|| h.value(self.at));
        Some((rows.row(self.at), h))
    }

    /// The current row's key columns, as a batch of one row.
    fn key_row(&self) -> RecordBatch {
        let (b, _, _) = self.batch.as_ref().expect("a current row");
        let width = b.num_columns() - 1;
        b.project(&(0..width).collect::<Vec<_>>())
            .expect("the key's columns")
            .slice(self.at, 1)
    }

    fn advance(&mut self) {
        self.at += 1;
    }
}

/// The page's rows as one batch: the key's columns, `KH`, `NA`, `NB`.
fn page_batch(page: Vec<(RecordBatch, i64, i64)>) -> Result<Option<RecordBatch>> {
    let Some((first, _, _)) = page.first() else {
        return Ok(None);
    };
    let keys_schema = first.schema();
    let rows: Vec<RecordBatch> = page.iter().map(|(b, _, _)| b.clone()).collect();
    let keys = concat_batches(&keys_schema, &rows).map_err(arrow_error)?;
    let kh = digest::digests(keys.columns()).map_err(|e| Error::internal(e.to_string()))?;
    let na = Int64Array::from_iter_values(page.iter().map(|(_, a, _)| *a));
    let nb = Int64Array::from_iter_values(page.iter().map(|(_, _, b)| *b));
    let mut fields: Vec<Field> = keys_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.extend([
        Field::new(KH, DataType::Binary, true),
        Field::new(NA, DataType::Int64, true),
        Field::new(NB, DataType::Int64, true),
    ]);
    let mut columns: Vec<ArrayRef> = keys.columns().to_vec();
    columns.extend([
        Arc::new(kh) as ArrayRef,
        Arc::new(na) as ArrayRef,
        Arc::new(nb) as ArrayRef,
    ]);
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map(Some)
        .map_err(arrow_error)
}

fn arrow_error(e: datafusion::arrow::error::ArrowError) -> Error {
    Error::internal(format!("a digest index: {e}"))
}
