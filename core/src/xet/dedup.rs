//! The dedup query (`GET …/xet/v1/chunks/{prefix}/{hash}`): an uploader asks whether the
//! dataset already holds a chunk, and if it does gets the chunk lists of the xorbs the last file
//! recorded with it uses from there on, so it sends none of those chunks again. Only writers of
//! the dataset ask, only its own chunks answer, and the answer's chunk hashes are keyed with a
//! key of its own (the client keys its hashes to compare): no raw hash leaves, and no other
//! dataset's content can be probed. The xorbs an answer names are taken back from garbage
//! collection.

use strata_lfs::xet::{hash, shard, xorb, Hash};

use crate::auth::{Action, Principal};
use crate::datasets::gate;
use crate::error::{Error, Result};
use crate::Core;

/// How long a client may keep a dedup answer.
const ANSWER_SECS: u64 = 24 * 3600;

/// The most xorbs one answer lists (4 GiB of chunks at most).
pub(super) const MAX_XORBS: usize = 64;

/// The most runs of a file (chunks in one xorb) an entry's xorbs are looked for in.
const MAX_RUNS: usize = 4096;

/// What a file recorded by a shard leaves for dedup queries ([`entries`] of its chunks in order).
pub(super) fn marked(
    file: &shard::FileEntry,
    index: &std::collections::HashMap<Hash, Vec<xorb::ChunkEntry>>,
) -> Vec<(String, String)> {
    let chunks = file.segments.iter().flat_map(|seg| {
        index
            .get(&seg.xorb)
            .and_then(|c| c.get(seg.start as usize..seg.end as usize))
            .unwrap_or_default()
            .iter()
            .map(|c| (c.hash, seg.xorb))
    });
    entries(chunks)
}

/// The dedup entries a file leaves, from its chunks in order (each with the xorb it is in): the
/// chunks a client asks about (its first, and those the spec marks), each leading to the xorbs
/// the file uses from that chunk on (space-separated, first use first, [`MAX_XORBS`] at most).
/// Any of those chunks found again leads to what follows it: one query of a changed file's
/// client finds every chunk it kept nearby, however large the file. A later file's entry for
/// the same chunk takes the place of an earlier one's, so each version of a file leads to the
/// chunks of the last (which dedups against those before it).
pub(super) fn entries(chunks: impl Iterator<Item = (Hash, Hash)>) -> Vec<(String, String)> {
    // The file as runs of chunks in one xorb.
    let mut runs: Vec<Hash> = Vec::new();
    let mut asked: Vec<(Hash, usize)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, (chunk, xorb)) in chunks.enumerate() {
        if runs.last() != Some(&xorb) {
            runs.push(xorb);
        }
        // A chunk the file holds twice leads to what follows its first place.
        if (n == 0 || hash::dedup_eligible(&chunk)) && seen.insert(chunk) {
            asked.push((chunk, runs.len() - 1));
        }
    }
    asked
        .into_iter()
        .map(|(chunk, run)| {
            let mut xorbs: Vec<Hash> = Vec::new();
            // (Within the next [`MAX_RUNS`] runs: a file that goes back and forth between a
            // few xorbs costs no more than one that does not.)
            for xorb in runs[run..].iter().take(MAX_RUNS) {
                if xorbs.len() == MAX_XORBS {
                    break;
                }
                if !xorbs.contains(xorb) {
                    xorbs.push(*xorb);
                }
            }
            let listed = xorbs.iter().map(Hash::hex).collect::<Vec<_>>().join(" ");
            (chunk.hex(), listed)
        })
        .collect()
}

/// The dedup answer for chunk `chunk` of `{ns}/{name}`: a shard listing the chunks of the xorbs
/// its entry leads to ([`entries`]), or `None` when the dataset holds no such chunk (as far as it
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash the spec marks for dedup queries (`marked`) or not.
    fn chunk(n: u8, marked: bool) -> Hash {
        (0..=u32::MAX)
            .map(|i| {
                let mut h = [n; 32];
                h[24..28].copy_from_slice(&i.to_le_bytes());
                Hash(h)
            })
            .find(|h| hash::dedup_eligible(h) == marked)
            .unwrap()
    }

    #[test]
    fn each_entry_leads_to_the_xorbs_from_its_chunk_on() {
        let (a, b, c, d) = (
            Hash([0xa; 32]),
            Hash([0xb; 32]),
            Hash([0xc; 32]),
            Hash([0xd; 32]),
        );
        let first = chunk(1, false);
        let marked = chunk(2, true);
        let file = [
            (first, a),
            (chunk(3, false), a),
            (chunk(4, false), b),
            (marked, c),
            (chunk(5, false), a),
            (chunk(6, false), d),
            // The same chunk again: its entry is its first place's.
            (first, d),
        ];
        let hex = |x: &[Hash]| x.iter().map(Hash::hex).collect::<Vec<_>>().join(" ");
        assert_eq!(
            entries(file.into_iter()),
            vec![
                (first.hex(), hex(&[a, b, c, d])),
                (marked.hex(), hex(&[c, a, d])),
            ]
        );
        assert!(entries(std::iter::empty()).is_empty());
    }

    #[test]
    fn an_entry_names_at_most_64_xorbs() {
        let file: Vec<(Hash, Hash)> = (0..100u8)
            .map(|n| (chunk(n, false), Hash([n; 32])))
            .collect();
        let got = entries(file.into_iter());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.split(' ').count(), MAX_XORBS);
    }
}
