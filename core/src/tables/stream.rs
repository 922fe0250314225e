//! Tabular reads: a CSV or TSV resource of a dataset streamed through the decision of the
//! policies, as CSV, an Arrow IPC stream, or Arrow record batches (for Arrow Flight), in bounded
//! memory. Parquet and JSON Lines resources come the same ways from their view
//! (`crate::tables::export::opened`), and so does a table read from a residency copy
//! (`crate::tables::residency`). The
//! object is read from storage as any download is; parsing and the transform run off the async
//! runtime, on every core (`strata_policy::table::parallel`), and hand chunks over a small
//! channel, so a slow client holds back the reading.

use std::io::Write;

use bytes::Bytes;
use futures_util::TryStreamExt;
use strata_policy::table::{self, Plan, TableError};
use strata_policy::Decision;
use tokio::sync::{mpsc, oneshot};
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::datasets::catalog::Table;
use crate::datasets::gate::Gated;
use crate::datasets::policies::{self, Surface};
use crate::error::{Error, Result};
use crate::storage::Read;
use crate::tables::view::table_error;
use crate::Core;

pub use super::reads::{Chunk, Format, Opened, Request};

/// How many chunks may wait for a slow reader.
const QUEUE: usize = 8;
/// Bytes per chunk of CSV or Arrow IPC output.
const CHUNK: usize = 256 * 1024;

/// The resource `req.resource` of `gated`, read through the policies.
pub async fn open(
    core: &Core,
    gated: &Gated,
    req: &Request,
    format: Format,
    surface: Surface,
) -> Result<Opened> {
    gated.check_rev(req.rev.as_deref())?;
    let catalog = policies::catalog(core, gated, req.rev.as_deref()).await?;
    let t = crate::tables::find(gated, &catalog, &req.resource)?;
    // Parquet and JSON Lines are read from their view (made once); text tables stream.
    let delimiter = match crate::tables::Kind::of(t) {
        Some(crate::tables::Kind::Csv { delimiter }) => delimiter,
        Some(_) => return crate::tables::export::opened(core, gated, req, format, surface).await,
        None => {
            return Err(Error::unprocessable(format!(
                "resource {:?} is {}, not a table: tables are CSV, TSV, Parquet or JSON Lines",
                t.name,
                if t.format.is_empty() {
                    "of no known format"
                } else {
                    &t.format
                }
            )))
        }
    };
    let (oid, size) = t
        .object
        .ok_or_else(|| Error::unprocessable(format!("resource {:?} names no object", t.name)))?;
    gated.read_object(core, &oid, size).await?;
    let decision = policies::decide(
        core,
        gated,
        &catalog,
        Some(t),
        req.intent.as_deref(),
        surface,
    )
    .await?;
    if decision.denied() {
        return Err(policies::refusal(gated, Some(t), &decision));
    }
    // Read here only transformed, held in another region: from this region's copy.
    if crate::tables::residency::store_for(core, &decision).is_some() {
        let opened = crate::tables::Opened {
            table: t.clone(),
            kind: crate::tables::Kind::Csv { delimiter },
            object: (oid, size),
            decision,
            catalog,
        };
        return crate::tables::export::serve(core, gated.id, opened, req, format).await;
    }
    let body = match core.storage.read(gated.id, &oid, None).await? {
        Some(Read::Found { object, .. }) => object.body,
        _ => {
            return Err(Error::not_found(format!(
                "the bytes of {oid} are not in storage"
            )))
        }
    };
    stream(core, t, delimiter, req, format, decision, body).await
}

/// Starts the transform on the blocking pool; answers once the header is read and the plan made
/// (so a bad request or table is an error status, not a cut stream).
async fn stream(
    core: &Core,
    t: &Table,
    delimiter: u8,
    req: &Request,
    format: Format,
    decision: Decision,
    body: strata_lfs::storage::ByteStream,
) -> Result<Opened> {
    let permit = core
        .governance
        .streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            Error::new(
                crate::error::Kind::Busy,
                "too many tables are streaming right now: try again shortly",
            )
        })?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let (ready, planned) = oneshot::channel();
    let types = t.types.clone();
    let want = req.columns.clone();
    let hasher = core.governance.hasher().clone();
    let d = decision.clone();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let input = SyncIoBridge::new_with_handle(
            StreamReader::new(body.map_err(std::io::Error::other)),
            handle,
        );
        let opened = table::open_with(input, delimiter).and_then(|(reader, header)| {
            let plan = Plan::new(&header, &types, &d, want.as_deref(), hasher)?;
            Ok((reader, plan))
        });
        let (reader, plan) = match opened {
            Ok(pair) => pair,
            Err(e) => {
                let _ = ready.send(Err(table_error(e)));
                return;
            }
        };
        if ready.send(Ok(plan.schema())).is_err() {
            return;
        }
        let mut out = ChunkWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let threads = table::parallel::threads();
        let done = match format {
            Format::Csv => table::parallel::write_csv(reader, &plan, &mut out, threads),
            Format::Arrow => table::parallel::write_arrow(reader, &plan, &mut out, threads),
            Format::Batches => table::parallel::batches(reader, &plan, threads, |b| {
                tx.blocking_send(Ok(Chunk::Batch(b)))
                    .map_err(|_| TableError::Io(std::io::ErrorKind::BrokenPipe.into()))
            }),
        }
        .and_then(|rows| out.flush().map(|_| rows).map_err(TableError::Io));
        // A reader that stopped reading (it had the rows it wanted, or went away) closed the
        // channel: nobody is told, and that is no failure to log.
        if let Err(e) = done {
            if !tx.is_closed() {
                let _ = tx.blocking_send(Err(table_error(e)));
            }
        }
    });
    let schema = planned
        .await
        .map_err(|_| Error::internal("the table reader stopped"))??;
    Ok(Opened {
        schema,
        decision,
        chunks: rx,
    })
}

/// Output bytes, sent on in chunks of [`CHUNK`].
struct ChunkWriter {
    tx: mpsc::Sender<Result<Chunk>>,
    buf: Vec<u8>,
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(Chunk::Bytes(chunk)))
            .map_err(|_| std::io::ErrorKind::BrokenPipe.into())
    }
}
