//! What a streamed tabular read asks for ([`Request`], [`Format`]) and what it sends on
//! ([`Opened`], a stream of [`Chunk`]s): shared by the CSV reads (`super::stream`) and the
//! Parquet and JSON Lines reads from a view (`super::export`).

use bytes::Bytes;
use strata_policy::Decision;
use strata_policy::{arrow_array, arrow_schema};
use tokio::sync::mpsc;

use crate::error::Result;

/// What a tabular read asks for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The resource's name in the datapackage.
    pub resource: String,
    /// A branch, tag or revision id (default: the default branch's head).
    pub rev: Option<String>,
    /// Only these columns, in this order.
    pub columns: Option<Vec<String>>,
    /// Why the caller reads (policies see it as `context.intent`).
    pub intent: Option<String>,
}

/// What comes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    /// An Arrow IPC stream.
    Arrow,
    /// Arrow record batches, one at a time (Arrow Flight).
    Batches,
}

/// One piece of the output.
pub enum Chunk {
    Bytes(Bytes),
    Batch(arrow_array::RecordBatch),
}

/// A table ready to stream.
pub struct Opened {
    /// The schema of what comes out (after the policies).
    pub schema: arrow_schema::SchemaRef,
    /// The decision applied.
    pub decision: Decision,
    /// The output; an error ends it (the stream is cut, never silently short).
    pub chunks: mpsc::Receiver<Result<Chunk>>,
}
