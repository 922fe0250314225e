//! The dedup query (`GET …/xet/v1/chunks/{prefix}/{hash}`): an uploader asks whether the
//! dataset already holds a chunk, and if it does gets the chunk lists of the xorbs of the file
//! that holds it, so it sends none of those chunks again. Only writers of the dataset ask, only its own chunks
//! answer, and the answer's chunk hashes are keyed with a key of its own (the client keys its
//! hashes to compare): no raw hash leaves, and no other dataset's content can be probed. The
//! xorbs an answer names are taken back from garbage collection.

use strata_lfs::xet::{hash, shard, xorb, Hash};

use crate::auth::{Action, Principal};
use crate::datasets::gate;
use crate::error::{Error, Result};
use crate::Core;

/// How long a client may keep a dedup answer.
const ANSWER_SECS: u64 = 24 * 3600;

/// The most xorbs one answer lists (4 GiB of chunks at most).
const MAX_XORBS: usize = 64;

/// What a file recorded by a shard leaves for dedup queries: the chunks a client asks about (its
/// first, and those the spec marks), and the xorbs its chunks are in (space-separated, first
/// use first, [`MAX_XORBS`] at most). Any of those chunks found again leads to all of the file's
/// xorbs: one query of a changed file's client finds every chunk it kept.
pub(super) fn marked(
    file: &shard::FileEntry,
    index: &std::collections::HashMap<Hash, Vec<xorb::ChunkEntry>>,
) -> (Vec<String>, String) {
    let mut asked = Vec::new();
    let mut xorbs: Vec<Hash> = Vec::new();
    for (n, seg) in file.segments.iter().enumerate() {
        if !xorbs.contains(&seg.xorb) && xorbs.len() < MAX_XORBS {
            xorbs.push(seg.xorb);
        }
        let chunks = index
            .get(&seg.xorb)
            .and_then(|c| c.get(seg.start as usize..seg.end as usize))
            .unwrap_or_default();
        for (i, c) in chunks.iter().enumerate() {
            if (n == 0 && i == 0) || hash::dedup_eligible(&c.hash) {
                asked.push(c.hash.hex());
            }
        }
    }
    let xorbs = xorbs.iter().map(Hash::hex).collect::<Vec<_>>().join(" ");
    (asked, xorbs)
}

/// The dedup answer for chunk `chunk` of `{ns}/{name}`: a shard listing the chunks of the xorbs
/// of the file that holds it, or `None` when the dataset holds no such chunk (as far as it
/// recorded).
pub async fn dedup(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
    chunk: &str,
) -> Result<Option<Vec<u8>>> {
    let repo = gate::dataset(core, who, ns, name, Action::Write).await?;
    let Some(chunk) = Hash::from_hex(chunk) else {
        return Err(Error::bad_request(format!(
            "{chunk:?} is not a Xet hash (64 hexadecimal digits)"
        )));
    };
    let Some(xorbs) = core.db.xet_chunk_xorb(repo.id, &chunk.hex()).await? else {
        return Ok(None);
    };
    let mut entries = Vec::new();
    let mut named = Vec::new();
    for xorb_hash in xorbs.split(' ').take(MAX_XORBS) {
        let Some(row) = core.db.xet_xorb(repo.id, xorb_hash).await? else {
            continue;
        };
        named.push(row.oid.clone());
        let index = xorb::parse_index(&row.chunks).map_err(Error::internal)?;
        let mut at = 0u32;
        let chunks = index
            .iter()
            .map(|c| {
                let entry = (c.hash, at, c.unpacked);
                at += c.unpacked;
                entry
            })
            .collect();
        entries.push(shard::XorbEntry {
            hash: Hash::from_hex(xorb_hash).ok_or_else(|| Error::internal("a xorb's hash"))?,
            chunks,
            flags: Vec::new(),
        });
    }
    if entries.is_empty() {
        return Ok(None);
    }
    // A client told of these xorbs will name them in its shard instead of sending their chunks:
    // any marked for collection is taken back (as an LFS download takes an object back), so no
    // sweep deletes them in between.
    core.db.gc_unmark(repo.id, &named).await?;
    let key = Hash(rand::random());
    let expiry = crate::db::now().max(0) as u64 + ANSWER_SECS;
    Ok(Some(shard::dedup_answer(&entries, &key, expiry)))
}
