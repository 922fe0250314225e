//! Uploads through Xet: a xorb (`POST …/xet/v1/xorbs/{prefix}/{hash}`), checked against its
//! hash and kept as an object of the dataset, and a shard (`POST …/xet/v1/shards`), whose files
//! are recorded only when every term checks against xorbs the dataset holds.

use std::collections::HashMap;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use strata_lfs::xet::{self, shard, xorb, Hash};

use crate::auth::{Action, Principal};
use crate::datasets::gate;
use crate::db::XetFile;
use crate::error::{Error, Result};
use crate::Core;

/// The largest xorb taken: the spec's 64 MiB of chunks, and room for a footer.
pub const MAX_XORB_BODY: usize = xorb::MAX_XORB_BYTES + (1 << 20);
/// The largest shard taken (the spec splits larger ones).
pub const MAX_SHARD_BODY: usize = 64 << 20;
/// How long room reserved for a xorb being stored is kept, should the server stop meanwhile.
const XORB_HOLD: std::time::Duration = std::time::Duration::from_secs(600);
/// The most chunks the terms of one shard may name (files of 256 GiB in all): each is checked.
const MAX_SHARD_CHUNKS: usize = 1 << 22;

/// A request body, read only once the gate let its sender in: at most `limit` bytes.
async fn read_body<S, E>(body: S, limit: usize, what: &str) -> Result<Bytes>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: std::fmt::Display,
{
    // Room for what the body says it holds (its Content-Length), up to the limit: a 64 MiB xorb
    // grown by doubling is copied and faulted in again at every step.
    let mut out = bytes::BytesMut::with_capacity(body.size_hint().0.min(limit));
    let mut body = std::pin::pin!(body);
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| Error::bad_request(format!("reading the body: {e}")))?;
        if out.len() + piece.len() > limit {
            return Err(Error::too_large(format!(
                "{what} takes at most {limit} bytes"
            )));
        }
        out.extend_from_slice(&piece);
    }
    Ok(out.freeze())
}

fn parse_hash(hex: &str) -> Result<Hash> {
    Hash::from_hex(hex).ok_or_else(|| {
        Error::bad_request(format!("{hex:?} is not a Xet hash (64 hexadecimal digits)"))
    })
}

/// Stores xorb `hash` (its serialized `body`) in `{ns}/{name}`: true when it is new, false when
/// the dataset has it already. Refused (400) unless its chunks decode and hash to `hash`.
pub async fn put_xorb<S, E>(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
    hash: &str,
    body: S,
) -> Result<bool>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let repo = gate::dataset(core, who, ns, name, Action::Write).await?;
    let wanted = parse_hash(hash)?;
    let body = read_body(body, MAX_XORB_BODY, "a xorb").await?;
    // Checked even when the dataset has it: bytes that are not this xorb are refused, always.
    let parsed = {
        let body = body.clone();
        tokio::task::spawn_blocking(move || xorb::parse(&body))
            .await
            .map_err(Error::internal)?
            .map_err(|e| Error::bad_request(format!("the xorb: {e}")))?
    };
    if parsed.hash != wanted {
        return Err(Error::bad_request(format!(
            "the xorb's chunks hash to {}, not {wanted}",
            parsed.hash
        )));
    }
    if core.db.xet_xorb(repo.id, &wanted.hex()).await?.is_some() {
        // Held already: linked again, which takes it back from a collection that marked it.
        core.storage.link_xorb(repo.id, &wanted).await?;
        return Ok(false);
    }
    let chunks = body.slice(..parsed.len as usize);
    // Room reserved while it is stored, so xorbs uploaded side by side cannot all take the same
    // room; once linked, the xorb counts as an object of the dataset.
    // (One key per upload: two of the same xorb side by side each hold their own.)
    let key = format!("xet {} {wanted} {}", repo.id, uuid::Uuid::new_v4());
    crate::quotas::reserve(core, &repo, &key, chunks.len() as u64, XORB_HOLD).await?;
    let stored = core
        .storage
        .store_xorb(repo.id, &parsed, chunks, false)
        .await;
    // (Room not given back now goes when its hold ends.)
    if let Err(e) = crate::quotas::release(core, &repo, &key).await {
        tracing::warn!(error = %e.message, "giving back the room reserved for a xorb");
    }
    stored
}

/// Records the files of a shard uploaded to `{ns}/{name}`: true when any is new. Every term
/// must lie within a xorb the dataset holds and carry its verification hash, and every file's
/// hash must be that of its chunks; otherwise nothing of the shard is recorded (400).
pub async fn put_shard<S, E>(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
    body: S,
) -> Result<bool>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let repo = gate::dataset(core, who, ns, name, Action::Write).await?;
    let body = read_body(body, MAX_SHARD_BODY, "a shard (split it)").await?;
    let parsed = shard::parse(&body).map_err(|e| Error::bad_request(format!("the shard: {e}")))?;
    let mut xorbs: HashMap<Hash, Vec<xorb::ChunkEntry>> = HashMap::new();
    let mut rows = Vec::with_capacity(parsed.files.len());
    let mut named = 0usize;
    for file in &parsed.files {
        let mut chunks: Vec<(Hash, u64)> = Vec::new();
        if file.verification.len() != file.segments.len() {
            return Err(Error::bad_request(format!(
                "file {}: every term needs its verification hash",
                file.hash
            )));
        }
        for (n, (seg, check)) in file.segments.iter().zip(&file.verification).enumerate() {
            if let std::collections::hash_map::Entry::Vacant(slot) = xorbs.entry(seg.xorb) {
                let Some(row) = core.db.xet_xorb(repo.id, &seg.xorb.hex()).await? else {
                    return Err(Error::bad_request(format!(
                        "file {}: term {n} names xorb {}, which was not uploaded to {}",
                        file.hash,
                        seg.xorb,
                        repo.path()
                    )));
                };
                let index = xorb::parse_index(&row.chunks).map_err(Error::internal)?;
                slot.insert(index);
            }
            let index = &xorbs[&seg.xorb];
            let (start, end) = (seg.start as usize, seg.end as usize);
            if start >= end || end > index.len() {
                return Err(Error::bad_request(format!(
                    "file {}: term {n} asks for chunks {start}..{end} of xorb {}, which has {}",
                    file.hash,
                    seg.xorb,
                    index.len()
                )));
            }
            named += end - start;
            if named > MAX_SHARD_CHUNKS {
                return Err(Error::too_large(format!(
                    "a shard's terms may name at most {MAX_SHARD_CHUNKS} chunks: split it"
                )));
            }
            let span = &index[start..end];
            let bytes: u64 = span.iter().map(|c| c.unpacked as u64).sum();
            if bytes != seg.unpacked as u64 {
                return Err(Error::bad_request(format!(
                    "file {}: term {n} says {} bytes, its chunks hold {bytes}",
                    file.hash, seg.unpacked
                )));
            }
            let hashes: Vec<Hash> = span.iter().map(|c| c.hash).collect();
            if xet::hash::range_hash(&hashes) != *check {
                return Err(Error::bad_request(format!(
                    "file {}: term {n}'s verification hash does not match its chunks",
                    file.hash
                )));
            }
            chunks.extend(span.iter().map(|c| (c.hash, c.unpacked as u64)));
        }
        if xet::hash::file_hash(&chunks) != file.hash {
            return Err(Error::bad_request(format!(
                "file {}: its chunks hash to {}",
                file.hash,
                xet::hash::file_hash(&chunks)
            )));
        }
        rows.push(XetFile {
            hash: file.hash.hex(),
            claimed: file
                .sha256
                .map(|d| strata_lfs::Oid::from_digest(d).to_string()),
            oid: None,
            size: chunks.iter().map(|(_, n)| *n as i64).sum(),
            segments: shard::segments_bytes(&file.segments),
        });
    }
    let mut new = false;
    for (row, file) in rows.iter().zip(&parsed.files) {
        new |= core.db.xet_put_file(repo.id, row).await?;
        let entries = super::dedup::marked(file, &xorbs);
        core.db.xet_put_chunks(repo.id, &entries).await?;
    }
    Ok(new)
}
