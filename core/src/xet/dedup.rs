//! The dedup query (`GET …/xet/v1/chunks/{prefix}/{hash}`): an uploader asks whether the
//! dataset already holds a chunk, and if it does gets the chunk list of the xorb that holds it,
//! so it sends none of those chunks again. Only writers of the dataset ask, only its own chunks
//! answer, and the answer's chunk hashes are keyed with a key of its own (the client keys its
//! hashes to compare): no raw hash leaves, and no other dataset's content can be probed.

use strata_lfs::xet::{hash, shard, xorb, Hash};

use crate::auth::{Action, Principal};
use crate::datasets::gate;
use crate::error::{Error, Result};
use crate::Core;

/// How long a client may keep a dedup answer.
const ANSWER_SECS: u64 = 24 * 3600;

/// The chunks worth recording for dedup queries among a xorb's: those the spec marks.
pub(super) fn marked(chunks: &[xorb::ChunkEntry]) -> Vec<String> {
    chunks
        .iter()
        .filter(|c| hash::dedup_eligible(&c.hash))
        .map(|c| c.hash.hex())
        .collect()
}

/// The dedup answer for chunk `chunk` of `{ns}/{name}`: a shard listing the chunks of the xorb
/// that holds it, or `None` when the dataset holds no such chunk (as far as it recorded).
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
    let Some(xorb_hash) = core.db.xet_chunk_xorb(repo.id, &chunk.hex()).await? else {
        return Ok(None);
    };
    let Some(row) = core.db.xet_xorb(repo.id, &xorb_hash).await? else {
        return Ok(None);
    };
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
    let entry = shard::XorbEntry {
        hash: Hash::from_hex(&xorb_hash).ok_or_else(|| Error::internal("a xorb's hash"))?,
        chunks,
        flags: Vec::new(),
    };
    let key = Hash(rand::random());
    let expiry = crate::db::now().max(0) as u64 + ANSWER_SECS;
    Ok(Some(shard::dedup_answer(&[entry], &key, expiry)))
}
