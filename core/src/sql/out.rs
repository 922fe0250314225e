//! A query's result as bytes, batch by batch: JSON (`columns`, `tables`, then `rows`), CSV, an
//! Arrow IPC stream or Parquet. An error after the first byte cuts the output, never ends it
//! cleanly.

use bytes::Bytes;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use super::Answer;
use crate::error::{Error, Result};
use crate::tables::export::Encoder;
use crate::tables::rows;
use crate::tables::stream::Format as Streamed;

/// What a result is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Arrow,
    Parquet,
}

impl Format {
    /// The format `name` names (default JSON).
    pub fn parse(name: Option<&str>) -> Result<Format> {
        Ok(match name.unwrap_or("json") {
            "json" => Format::Json,
            "csv" => Format::Csv,
            "arrow" => Format::Arrow,
            "parquet" => Format::Parquet,
            other => {
                return Err(Error::unprocessable(format!(
                    "format {other:?} is not written: use json, csv, arrow or parquet"
                )))
            }
        })
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.stream",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// How the batches become bytes.
enum Writer {
    Json { started: bool },
    Table(Encoder),
    Parquet(Box<ArrowWriter<Vec<u8>>>),
}

impl Writer {
    fn new(format: Format, schema: &SchemaRef) -> Result<Writer> {
        Ok(match format {
            Format::Json => Writer::Json { started: false },
            Format::Csv => Writer::Table(Encoder::new(Streamed::Csv, schema)),
            Format::Arrow => Writer::Table(Encoder::new(Streamed::Arrow, schema)),
            Format::Parquet => Writer::Parquet(Box::new(
                ArrowWriter::try_new(Vec::new(), schema.clone(), None).map_err(parquet)?,
            )),
        })
    }

    fn write(&mut self, schema: &SchemaRef, b: &RecordBatch) -> Result<Bytes> {
        match self {
            Writer::Json { started } => {
                let mut out = Vec::new();
                for row in rows::to_rows(schema, std::slice::from_ref(b))? {
                    if *started {
                        out.push(b',');
                    }
                    *started = true;
                    serde_json::to_writer(&mut out, &row)
                        .map_err(|e| Error::internal(format!("rows as JSON: {e}")))?;
                }
                Ok(Bytes::from(out))
            }
            Writer::Table(e) => e.encode(b),
            Writer::Parquet(w) => {
                w.write(b).map_err(parquet)?;
                Ok(Bytes::from(std::mem::take(w.inner_mut())))
            }
        }
    }

    fn finish(self) -> Result<Bytes> {
        match self {
            Writer::Json { .. } => Ok(Bytes::from_static(b"]}")),
            Writer::Table(mut e) => Ok(e.finish()?.unwrap_or_default()),
            Writer::Parquet(w) => Ok(Bytes::from(w.into_inner().map_err(parquet)?)),
        }
    }
}

fn parquet(e: datafusion::parquet::errors::ParquetError) -> Error {
    Error::internal(format!("writing Parquet: {e}"))
}

/// The answer as `format`, chunk by chunk.
pub fn bytes(answer: Answer, format: Format) -> Result<BoxStream<'static, Result<Bytes>>> {
    let schema = answer.schema.clone();
    let writer = Writer::new(format, &schema)?;
    let head = match format {
        Format::Json => {
            let head = serde_json::json!({
                "columns": rows::columns_of(&schema),
                "tables": answer.tables,
            })
            .to_string();
            // `{"columns":…,"tables":…` then `,"rows":[` … `]}`.
            let open = format!("{},\"rows\":[", &head[..head.len() - 1]);
            Some(Ok(Bytes::from(open)))
        }
        _ => None,
    };
    let body = futures_util::stream::unfold(
        (answer.batches, Some(writer), schema),
        |(mut batches, writer, schema)| async move {
            let mut writer = writer?;
            match batches.next().await {
                Some(Ok(b)) => {
                    let out = writer.write(&schema, &b);
                    let failed = out.is_err();
                    Some((out, (batches, (!failed).then_some(writer), schema)))
                }
                Some(Err(e)) => Some((Err(e), (batches, None, schema))),
                None => Some((writer.finish(), (batches, None, schema))),
            }
        },
    )
    .filter(|chunk| std::future::ready(!matches!(chunk, Ok(b) if b.is_empty())));
    Ok(futures_util::stream::iter(head).chain(body).boxed())
}
