//! The new bytes of a table a commit through the catalog makes ([`super::commit`]), in the
//! table's own format: for a CSV table its rows as they are (when the snapshot keeps them) and
//! the staged Parquet files' rows after them, in the table's columns and delimiter; for a
//! Parquet table one file of its rows and the new ones, cast to its column types. A column the
//! new rows lack is empty (null) in them; a column the table lacks refuses the commit. The
//! bytes are stored as they are made (a pipe into the dataset's hashing upload), never held whole.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{new_null_array, ArrayRef};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use futures_util::StreamExt;
use strata_lfs::Oid;
use tokio::io::AsyncWriteExt;

use crate::compat::s3::objects::{self, Written};
use crate::datasets::gate::Gated;
use crate::error::{Error, Result};
use crate::storage::{Place, Read};
use crate::tables::{engine_error, Kind, Opened};
use crate::Core;

/// The table's new object.
#[derive(Debug)]
pub(super) struct Made {
    pub oid: Oid,
    pub size: u64,
    /// Rows the staged files added.
    pub added: u64,
    /// Whether the table's rows were kept (an append) or replaced (an overwrite).
    pub kept: bool,
}

/// Makes the table of `opened` again: its current rows when `keep`, then the rows of the staged
/// Parquet files `added` (objects of the dataset).
pub(super) async fn make(
    core: &Core,
    gated: &Gated,
    opened: &Opened,
    keep: bool,
    added: &[(Oid, u64)],
) -> Result<Made> {
    let (pipe_in, pipe_out) = tokio::io::duplex(1 << 20);
    let write = async {
        let mut pipe_in = pipe_in;
        let done = match opened.kind {
            Kind::Csv { delimiter } => {
                csv(core, gated, opened, keep, added, delimiter, &mut pipe_in).await
            }
            Kind::Parquet => parquet(core, gated, opened, keep, added, &mut pipe_in).await,
            Kind::Jsonl => Err(Error::unprocessable(format!(
                "{:?} is a JSON lines table: commits through the Iceberg catalog write CSV and \
                 Parquet tables",
                opened.table.name
            ))),
        };
        // The pipe ends here either way; a failed write leaves an object nobody links.
        let _ = pipe_in.shutdown().await;
        done
    };
    let store = objects::ingest(core, gated, tokio_util::io::ReaderStream::new(pipe_out));
    let (written, stored) = tokio::join!(write, store);
    let added_rows = written?;
    let Written::Stored { oid, size, .. } = stored? else {
        return Err(Error::internal("an ingested object is stored"));
    };
    Ok(Made {
        oid,
        size,
        added: added_rows,
        kept: keep,
    })
}

/// The rows of the staged files, one stream after another.
async fn staged_rows(
    core: &Core,
    repo_id: i64,
    file: (Oid, u64),
) -> Result<SendableRecordBatchStream> {
    let df = core
        .tables
        .read_parquet(core, Place::Dataset(repo_id), &file.0, file.1)
        .await
        .map_err(|e| {
            Error::bad_request(format!(
                "a staged data file is no Parquet file strata reads: {e}"
            ))
        })?;
    df.execute_stream().await.map_err(engine_error)
}

/// `batch` in the table's columns `into` (by name): a column it lacks is null; one the table
/// lacks is refused; with `cast`, each is cast to the table's type.
fn align(batch: &RecordBatch, into: &SchemaRef, cast: bool, table: &str) -> Result<RecordBatch> {
    for f in batch.schema().fields() {
        if into.field_with_name(f.name()).is_err() {
            return Err(Error::bad_request(format!(
                "the new rows have a column {:?} that table {table:?} does not: change the \
                 table's columns through the dataset first",
                f.name()
            )));
        }
    }
    let rows = batch.num_rows();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(into.fields().len());
    for f in into.fields() {
        let column = match batch.column_by_name(f.name()) {
            Some(c) if cast && c.data_type() != f.data_type() => {
                datafusion::arrow::compute::cast(c, f.data_type()).map_err(|e| {
                    Error::bad_request(format!(
                        "column {:?} of the new rows ({}) does not fit the table's {}: {e}",
                        f.name(),
                        c.data_type(),
                        f.data_type()
                    ))
                })?
            }
            Some(c) => c.clone(),
            None => new_null_array(f.data_type(), rows),
        };
        columns.push(column);
    }
    let fields: Vec<Field> = into
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| Error::bad_request(format!("the new rows do not fit table {table:?}: {e}")))
}

fn csv_bytes(batch: &RecordBatch, delimiter: u8, header: bool) -> Result<Vec<u8>> {
    let mut w = datafusion::arrow::csv::WriterBuilder::new()
        .with_header(header)
        .with_delimiter(delimiter)
        .build(Vec::new());
    w.write(batch)
        .map_err(|e| Error::bad_request(format!("the new rows cannot be written as CSV: {e}")))?;
    Ok(w.into_inner())
}

/// The longest first line read as a CSV table's header.
const HEADER_MOST: usize = 1 << 20;

/// The column names a CSV file's first line (in `head`) gives.
fn header(head: &[u8], delimiter: u8) -> Option<Vec<String>> {
    let line = head.split(|b| *b == b'\n').next()?;
    let format = datafusion::arrow::csv::reader::Format::default()
        .with_header(true)
        .with_delimiter(delimiter);
    let (schema, _) = format
        .infer_schema(std::io::Cursor::new(line), Some(0))
        .ok()?;
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            f.name()
                .trim_start_matches('\u{feff}')
                .trim_end_matches('\r')
                .to_owned()
        })
        .collect();
    (!names.is_empty()).then_some(names)
}

fn piped(e: std::io::Error) -> Error {
    Error::internal(format!("storing the table's new object: {e}"))
}

/// A CSV table: its bytes as they are (with `keep`; else its header), then the new rows.
async fn csv(
    core: &Core,
    gated: &Gated,
    opened: &Opened,
    keep: bool,
    added: &[(Oid, u64)],
    delimiter: u8,
    out: &mut tokio::io::DuplexStream,
) -> Result<u64> {
    let (oid, size) = opened.object;
    let mut names: Vec<String> = opened
        .table
        .columns
        .iter()
        .map(|c| c.name.clone())
        .collect();
    if keep && size > 0 {
        let Some(Read::Found { mut object, .. }) = core.storage.read(gated.id, &oid, None).await?
        else {
            return Err(Error::internal(
                "the table's object is missing from storage",
            ));
        };
        // The file's own header names the columns, in its order (a first line too long to be a
        // header leaves the table's columns as described).
        let mut head: Vec<u8> = Vec::new();
        let mut headed = false;
        let mut last = b'\n';
        while let Some(chunk) = object.body.next().await {
            let chunk: Bytes = chunk.map_err(Error::internal)?;
            if let Some(b) = chunk.last() {
                last = *b;
            }
            if headed {
                out.write_all(&chunk).await.map_err(piped)?;
                continue;
            }
            head.extend_from_slice(&chunk);
            if head.contains(&b'\n') || head.len() >= HEADER_MOST {
                headed = true;
                if let Some(found) = header(&head, delimiter) {
                    names = found;
                }
                out.write_all(&head).await.map_err(piped)?;
            }
        }
        if !headed {
            // The whole file is one line: its header.
            if let Some(found) = header(&head, delimiter) {
                names = found;
            }
            out.write_all(&head).await.map_err(piped)?;
        }
        if last != b'\n' {
            out.write_all(b"\n").await.map_err(piped)?;
        }
    }
    // The table's columns, typed as text where the new rows do not say otherwise.
    let into: SchemaRef = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    if !(keep && size > 0) {
        let empty = RecordBatch::new_empty(into.clone());
        out.write_all(&csv_bytes(&empty, delimiter, true)?)
            .await
            .map_err(piped)?;
    }
    let mut rows = 0u64;
    for file in added {
        let mut batches = staged_rows(core, gated.id, *file).await?;
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(engine_error)?;
            let batch = align(&batch, &into, false, &opened.table.name)?;
            rows += batch.num_rows() as u64;
            out.write_all(&csv_bytes(&batch, delimiter, false)?)
                .await
                .map_err(piped)?;
        }
    }
    Ok(rows)
}

/// A Parquet table: one file of its rows (with `keep`) and the new ones, in its column types.
async fn parquet(
    core: &Core,
    gated: &Gated,
    opened: &Opened,
    keep: bool,
    added: &[(Oid, u64)],
    out: &mut tokio::io::DuplexStream,
) -> Result<u64> {
    use datafusion::parquet::arrow::AsyncArrowWriter;
    let (oid, size) = opened.object;
    let current = core
        .tables
        .read_parquet(core, Place::Dataset(gated.id), &oid, size)
        .await
        .map_err(engine_error)?;
    let into: SchemaRef = Arc::new(current.schema().as_arrow().clone());
    let fail = |e: datafusion::parquet::errors::ParquetError| {
        Error::internal(format!("writing the table's new Parquet file: {e}"))
    };
    let mut writer = AsyncArrowWriter::try_new(
        out,
        into.clone(),
        Some(strata_policy::table::parquet::properties()),
    )
    .map_err(fail)?;
    if keep {
        let mut batches = current.execute_stream().await.map_err(engine_error)?;
        while let Some(batch) = batches.next().await {
            writer
                .write(&batch.map_err(engine_error)?)
                .await
                .map_err(fail)?;
        }
    }
    let mut rows = 0u64;
    for file in added {
        let mut batches = staged_rows(core, gated.id, *file).await?;
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(engine_error)?;
            let batch = align(&batch, &into, true, &opened.table.name)?;
            // The table's own schema (its nullability, its metadata), the columns cast to it.
            let batch =
                RecordBatch::try_new(into.clone(), batch.columns().to_vec()).map_err(|e| {
                    Error::bad_request(format!(
                        "the new rows do not fit table {:?}: {e}",
                        opened.table.name
                    ))
                })?;
            rows += batch.num_rows() as u64;
            writer.write(&batch).await.map_err(fail)?;
        }
    }
    writer.close().await.map_err(fail)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_header_names_its_columns_in_its_order() {
        let names = |head: &[u8], d| header(head, d).unwrap();
        assert_eq!(names(b"b,a,c\n1,2,3\n", b','), ["b", "a", "c"]);
        assert_eq!(
            names(b"\xef\xbb\xbfid;name\r\n1;x\r\n", b';'),
            ["id", "name"]
        );
        assert_eq!(names(b"\"q,1\",z", b','), ["q,1", "z"]);
    }
}
