//! Downloads through Xet: a file's reconstruction (`GET …/xet/v1/reconstructions/{hash}`, with
//! an optional byte range), for a caller who may read the file: its terms, and for each xorb
//! the byte ranges to fetch, merged, each behind a strata-signed URL that reads that range only.

use std::collections::BTreeMap;

use serde::Serialize;
use strata_lfs::xet::{shard, xorb, Hash};
use strata_lfs::Oid;

use crate::auth::{Action, Principal};
use crate::datasets::gate::{self, Decision};
use crate::error::{Error, Result};
use crate::Core;

/// A file's reconstruction, as the CAS API's `v1/reconstructions` answers it.
#[derive(Debug, Serialize)]
pub struct Reconstruction {
    /// Bytes to skip in the first term to reach the range asked for.
    pub offset_into_first_range: u64,
    pub terms: Vec<Term>,
    /// For each xorb, its ranges to fetch (chunk indices, and serialized bytes, end inclusive).
    pub fetch_info: BTreeMap<String, Vec<Fetch>>,
}

/// A run of chunks of one xorb, in file order.
#[derive(Debug, Serialize)]
pub struct Term {
    pub hash: String,
    pub unpacked_length: u64,
    pub range: Span,
}

/// Chunk indices `start..end`, or (in `url_range`) bytes `start..=end`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

#[derive(Debug, Serialize)]
pub struct Fetch {
    pub range: Span,
    pub url: String,
    pub url_range: Span,
}

/// The reconstruction of file `hash` of `{ns}/{name}`, of bytes `range` (`(first, last)`,
/// inclusive; `None` for all of it). A file the caller may not read, or not read raw (a policy
/// governs it), answers as a file that is not there. `Ok(None)`: the range starts past the end.
pub async fn reconstruction(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
    hash: &str,
    range: Option<(u64, Option<u64>)>,
) -> Result<Option<Reconstruction>> {
    let repo = gate::dataset(core, who, ns, name, Action::Read).await?;
    let missing = || Error::not_found(format!("no file {hash} in {ns}/{name}"));
    let file = match Hash::from_hex(hash) {
        Some(h) => core.db.xet_file(repo.id, &h.hex()).await?,
        None => None,
    };
    let Some(file) = file else {
        return Err(missing());
    };
    // Readable as the LFS object it was checked to be, linked to the dataset, raw.
    let Some(oid) = file.oid.as_deref().and_then(|o| o.parse::<Oid>().ok()) else {
        return Err(missing());
    };
    let size = file.size as u64;
    match repo.objects(core, &[oid], Action::Read).await?[0] {
        Decision::Linked(s) if s == size => {}
        _ => return Err(missing()),
    }
    let (first, end) = match range {
        None => (0, size),
        Some((first, _)) if first >= size && size > 0 => return Ok(None),
        Some((first, last)) => (first, last.map_or(size, |l| l.saturating_add(1).min(size))),
    };
    let segments = shard::parse_segments(&file.segments).map_err(Error::internal)?;
    let actions = core.storage.actions(repo.path(), repo.id);
    let mut terms = Vec::new();
    let mut wanted: BTreeMap<Hash, Vec<Span>> = BTreeMap::new();
    let mut indexes: BTreeMap<Hash, (Oid, u64, Vec<xorb::ChunkEntry>)> = BTreeMap::new();
    let (mut at, mut offset) = (0u64, None);
    for seg in &segments {
        let seg_end = at + seg.unpacked as u64;
        if seg_end <= first || at >= end {
            at = seg_end;
            continue;
        }
        if let std::collections::btree_map::Entry::Vacant(slot) = indexes.entry(seg.xorb) {
            let row = core
                .db
                .xet_xorb(repo.id, &seg.xorb.hex())
                .await?
                .ok_or_else(|| Error::internal(format!("xorb {} is not recorded", seg.xorb)))?;
            let oid = row.oid.parse::<Oid>().map_err(Error::internal)?;
            let index = xorb::parse_index(&row.chunks).map_err(Error::internal)?;
            slot.insert((oid, row.size as u64, index));
        }
        let index = &indexes[&seg.xorb].2;
        let chunks = index
            .get(seg.start as usize..seg.end as usize)
            .ok_or_else(|| Error::internal(format!("xorb {} is shorter than a term", seg.xorb)))?;
        // Chunks wholly before `first` or from `end` on are left out of the term.
        let (mut lo, mut hi) = (seg.start as u64, seg.start as u64);
        let mut pos = at;
        let mut kept = 0u64;
        for c in chunks {
            let c_end = pos + c.unpacked as u64;
            if c_end <= first {
                lo += 1;
            } else if pos < end {
                if offset.is_none() {
                    offset = Some(first.saturating_sub(pos));
                }
                kept += c.unpacked as u64;
            }
            if pos < end {
                hi += 1;
            }
            pos = c_end;
        }
        terms.push(Term {
            hash: seg.xorb.hex(),
            unpacked_length: kept,
            range: Span { start: lo, end: hi },
        });
        wanted
            .entry(seg.xorb)
            .or_default()
            .push(Span { start: lo, end: hi });
        at = seg_end;
    }
    let mut fetch_info = BTreeMap::new();
    for (xorb_hash, mut spans) in wanted {
        let (oid, xsize, index) = &indexes[&xorb_hash];
        // Overlapping or touching ranges merge: every term lies within one fetch, none overlap.
        spans.sort();
        let mut merged: Vec<Span> = Vec::new();
        for s in spans {
            match merged.last_mut() {
                Some(m) if s.start <= m.end => m.end = m.end.max(s.end),
                _ => merged.push(s),
            }
        }
        let fetches = merged
            .into_iter()
            .map(|r| {
                let bytes = (
                    index[r.start as usize].start as u64,
                    index[r.end as usize - 1].end as u64 - 1,
                );
                Fetch {
                    range: r,
                    url: actions.range_href(oid, *xsize, bytes),
                    url_range: Span {
                        start: bytes.0,
                        end: bytes.1,
                    },
                }
            })
            .collect();
        fetch_info.insert(xorb_hash.hex(), fetches);
    }
    Ok(Some(Reconstruction {
        offset_into_first_range: offset.unwrap_or(0),
        terms,
        fetch_info,
    }))
}
