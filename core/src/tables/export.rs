//! Views streamed out: as JSON Lines (one object per row), and for the streamed reads of Parquet
//! and JSON Lines tables as CSV, Arrow IPC or record batches. Batch by batch from the view's
//! Parquet; a failure after the first byte cuts the stream, never ends it cleanly.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use futures_util::{Stream, StreamExt};

use super::engine_error;
use super::reads as streamed;
use super::view::View;
use crate::error::{Error, Result};
use crate::Core;

/// The rows of `view` as JSON Lines.
pub async fn jsonl(
    core: &Core,
    view: &View,
) -> Result<impl Stream<Item = std::result::Result<Bytes, std::io::Error>> + Send + 'static> {
    let df = core.tables.session(core, view).await?;
    let batches = df.execute_stream().await.map_err(engine_error)?;
    Ok(batches.map(|b| {
        let b = b.map_err(std::io::Error::other)?;
        let mut out = Vec::with_capacity(b.get_array_memory_size());
        let mut w = arrow_json::LineDelimitedWriter::new(&mut out);
        w.write(&b).map_err(std::io::Error::other)?;
        w.finish().map_err(std::io::Error::other)?;
        drop(w);
        Ok(Bytes::from(out))
    }))
}

/// A Parquet or JSON Lines table (or a residency copy's) for the streamed reads (REST
/// `tables/{resource}` as CSV or Arrow, Arrow Flight): its view, projected to the columns asked for, as the chunks those reads
/// send on. A column the policies remove is refused if asked for, as for CSV tables.
pub async fn opened(
    core: &Core,
    gated: &crate::datasets::gated::Gated,
    req: &streamed::Request,
    format: streamed::Format,
    surface: crate::datasets::policies::Surface,
) -> Result<streamed::Opened> {
    let opened = super::open(
        core,
        gated,
        &req.resource,
        req.rev.as_deref(),
        req.intent.as_deref(),
        surface,
    )
    .await?;
    serve(core, gated.id, opened, req, format).await
}

/// The streamed read of `opened` (a table of dataset `repo_id`, decided) from its view.
pub async fn serve(
    core: &Core,
    repo_id: i64,
    opened: super::Opened,
    req: &streamed::Request,
    format: streamed::Format,
) -> Result<streamed::Opened> {
    let view = super::view::view(core, repo_id, &opened).await?;
    let mut df = core.tables.session(core, &view).await?;
    if let Some(columns) = &req.columns {
        let mut picked = Vec::new();
        for c in columns {
            if opened.decision.columns.get(c) == Some(&strata_policy::ColumnAction::Remove) {
                return Err(Error::forbidden(format!(
                    "column {c:?} is removed by policy: leave it out of columns"
                )));
            }
            if df.schema().as_arrow().field_with_name(c).is_err() {
                return Err(Error::unprocessable(format!(
                    "the table has no column {c:?}"
                )));
            }
            picked.push(datafusion::logical_expr::col(super::rows::quoted(c)));
        }
        if picked.is_empty() {
            return Err(Error::unprocessable(
                "no column is left to serve: ask for at least one the policies do not remove",
            ));
        }
        df = df.select(picked).map_err(engine_error)?;
    }
    let schema = Arc::new(df.schema().as_arrow().clone());
    let mut batches = df.execute_stream().await.map_err(engine_error)?;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let out = schema.clone();
    tokio::spawn(async move {
        let mut encoder = Encoder::new(format, &out);
        while let Some(next) = batches.next().await {
            let item = match next {
                Err(e) => Err(engine_error(e)),
                Ok(b) if matches!(format, streamed::Format::Batches) => {
                    Ok(streamed::Chunk::Batch(b))
                }
                Ok(b) => encoder.encode(&b).map(streamed::Chunk::Bytes),
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return;
            }
        }
        let last = match encoder.finish() {
            Ok(None) => return,
            Ok(Some(bytes)) => Ok(streamed::Chunk::Bytes(bytes)),
            Err(e) => Err(e),
        };
        let _ = tx.send(last).await;
    });
    Ok(streamed::Opened {
        schema,
        decision: opened.decision,
        chunks: rx,
    })
}

/// Batches as CSV or Arrow IPC bytes.
pub(crate) enum Encoder {
    Csv(SchemaRef, bool),
    Arrow(Box<strata_policy::arrow_ipc_writer::StreamWriter<Vec<u8>>>),
    None,
}

impl Encoder {
    pub(crate) fn new(format: streamed::Format, schema: &SchemaRef) -> Encoder {
        match format {
            streamed::Format::Csv => Encoder::Csv(schema.clone(), false),
            streamed::Format::Arrow => {
                match strata_policy::arrow_ipc_writer::StreamWriter::try_new(Vec::new(), schema) {
                    Ok(w) => Encoder::Arrow(Box::new(w)),
                    Err(_) => Encoder::None,
                }
            }
            streamed::Format::Batches => Encoder::None,
        }
    }

    pub(crate) fn encode(&mut self, b: &RecordBatch) -> Result<Bytes> {
        let fail = |e: datafusion::arrow::error::ArrowError| {
            Error::internal(format!("encoding rows: {e}"))
        };
        match self {
            Encoder::Csv(_, header_written) => {
                let mut out = Vec::new();
                let mut w = arrow_csv::WriterBuilder::new()
                    .with_header(!*header_written)
                    .build(&mut out);
                w.write(b).map_err(fail)?;
                drop(w);
                *header_written = true;
                Ok(Bytes::from(out))
            }
            Encoder::Arrow(w) => {
                w.write(b).map_err(fail)?;
                Ok(Bytes::from(std::mem::take(w.get_mut())))
            }
            Encoder::None => Err(Error::internal("no encoder for this format")),
        }
    }

    /// What is left to send once the batches ended: a CSV header for a table without rows, the
    /// end of an Arrow IPC stream.
    pub(crate) fn finish(&mut self) -> Result<Option<Bytes>> {
        let fail = |e: datafusion::arrow::error::ArrowError| {
            Error::internal(format!("encoding rows: {e}"))
        };
        match std::mem::replace(self, Encoder::None) {
            Encoder::Csv(schema, false) => {
                let empty = RecordBatch::new_empty(schema);
                let mut out = Vec::new();
                let mut w = arrow_csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out);
                w.write(&empty).map_err(fail)?;
                drop(w);
                Ok(Some(Bytes::from(out)))
            }
            Encoder::Arrow(mut w) => {
                w.finish().map_err(fail)?;
                Ok(Some(Bytes::from(std::mem::take(w.get_mut()))))
            }
            _ => Ok(None),
        }
    }
}
