//! A view as JSON Lines: one object per row, streamed batch by batch from the view's Parquet (a
//! failure after the first byte cuts the stream, never ends it cleanly).

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::engine_error;
use super::view::View;
use crate::error::Result;
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
