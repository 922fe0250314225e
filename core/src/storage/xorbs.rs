//! A dataset's xorbs as objects (`crate::xet`): storing one, checked, as an object of the
//! dataset, and compacting one most of whose chunks no file uses any more. Compaction writes
//! the chunks still used, as they are, into a new xorb, and moves the files and the dedup
//! entries that led to the old one onto it; the old xorb then goes as any unused one does
//! (garbage collection, after its grace period, so a download already handed its URLs ends).

use std::collections::BTreeSet;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use strata_lfs::xet::{shard, xorb, Hash};
use strata_lfs::Oid;

use super::{Read, Storage};
use crate::db::{XetFile, XetXorb};
use crate::error::{Error, Result};

/// What compacting one xorb did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    /// The new xorb, holding the chunks still used.
    pub into: Hash,
    /// How many files moved onto it.
    pub files: u64,
}

impl Storage {
    /// Stores xorb `parsed` (its serialized `chunks`, checked) as an object of dataset `repo_id`
    /// and records it: true when it is new.
    pub async fn store_xorb(
        &self,
        repo_id: i64,
        parsed: &xorb::Xorb,
        chunks: Bytes,
        for_view: bool,
    ) -> Result<bool> {
        let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(chunks)]);
        let (oid, size) = self.ingest(repo_id, stream, parsed.len).await?;
        let row = XetXorb {
            oid: oid.to_string(),
            size: size as i64,
            chunks: xorb::index_bytes(&parsed.chunks),
            for_view,
        };
        // Recorded, then linked: a linked object not recorded as a xorb is one to chunk.
        let db = &self.0.db;
        let hash = parsed.hash.hex();
        let new = db.xet_put_xorb(repo_id, &hash, &row).await?;
        if !new {
            // Recorded meanwhile by another upload of it, perhaps serialized otherwise: that
            // record and its object stand (linked again here); these bytes, linked nowhere, go
            // with the next collection.
            return self.link_xorb(repo_id, &parsed.hash).await.map(|()| false);
        }
        if let Err(e) = self.link(repo_id, &oid, size).await {
            db.xet_forget(repo_id, &[hash], &[]).await?;
            return Err(e);
        }
        Ok(true)
    }

    /// Links xorb `hash` of dataset `repo_id` again, for a file about to be recorded or read
    /// from it: a collection that marked it keeps it now, and one that let it go refuses the
    /// link. A xorb no longer recorded is a conflict.
    pub async fn link_xorb(&self, repo_id: i64, hash: &Hash) -> Result<()> {
        let row = self
            .0
            .db
            .xet_xorb(repo_id, &hash.hex())
            .await?
            .ok_or_else(|| Error::conflict(format!("xorb {hash} is gone")))?;
        let oid: Oid = row.oid.parse().map_err(Error::internal)?;
        self.link(repo_id, &oid, row.size as u64).await
    }

    /// Rewrites xorb `hash` of dataset `repo_id` with only its chunks `keep` (their indexes),
    /// and moves onto the new xorb each of `files` (the dataset's, with their segments) whose
    /// terms in it lie within them. `None` when there is nothing to do: the xorb is gone, or
    /// `keep` is all of it or none of it. Callers hold [`Storage::chunking`], so no chunking
    /// refers to the old xorb meanwhile; a file recorded meanwhile on it (a shard naming it)
    /// keeps it in use, and a file moved meanwhile is not moved again.
    pub async fn compact_xorb(
        &self,
        repo_id: i64,
        hash: &Hash,
        keep: &BTreeSet<u32>,
        files: &[(XetFile, Vec<shard::Segment>)],
    ) -> Result<Option<Compacted>> {
        let db = &self.0.db;
        let Some(row) = db.xet_xorb(repo_id, &hash.hex()).await? else {
            return Ok(None);
        };
        let oid: Oid = row.oid.parse().map_err(Error::internal)?;
        let bytes = self.xorb_bytes(repo_id, &oid, row.size as u64).await?;
        let old = {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || xorb::parse(&bytes))
                .await
                .map_err(Error::internal)?
                .map_err(|e| Error::internal(format!("xorb {hash}: {e}")))?
        };
        if old.hash != *hash {
            return Err(Error::internal(format!(
                "xorb {hash} is stored as {oid}, whose chunks hash to {}",
                old.hash
            )));
        }
        let count = old.chunks.len();
        if keep.is_empty() || keep.len() >= count || keep.iter().any(|&i| i as usize >= count) {
            return Ok(None);
        }
        // The chunks kept, in order, each as it was serialized; `moved[i]`: old index → new.
        let mut out = Vec::new();
        let mut moved = vec![None; count];
        for (new, &i) in keep.iter().enumerate() {
            let c = &old.chunks[i as usize];
            out.extend_from_slice(&bytes[c.start as usize..c.end as usize]);
            moved[i as usize] = Some(new as u32);
        }
        let out = Bytes::from(out);
        let parsed = {
            let out = out.clone();
            tokio::task::spawn_blocking(move || xorb::parse(&out))
                .await
                .map_err(Error::internal)?
                .map_err(Error::internal)?
        };
        self.store_xorb(repo_id, &parsed, out, row.for_view).await?;
        let moves: Vec<_> = files
            .iter()
            .filter(|(_, segments)| segments.iter().any(|s| s.xorb == *hash))
            .filter_map(|(file, segments)| {
                let after = remapped(segments, hash, &parsed.hash, &moved)?;
                Some((
                    file.hash.clone(),
                    file.segments.clone(),
                    shard::segments_bytes(&after),
                ))
            })
            .collect();
        let files = db
            .xet_move_files(repo_id, &hash.hex(), &parsed.hash.hex(), &moves)
            .await?;
        Ok(Some(Compacted {
            into: parsed.hash,
            files,
        }))
    }

    /// The serialized bytes of xorb object `oid` (`size` bytes) of dataset `repo_id`.
    async fn xorb_bytes(&self, repo_id: i64, oid: &Oid, size: u64) -> Result<Bytes> {
        let max = (xorb::MAX_XORB_BYTES + xorb::XORB_SLACK) as u64;
        if size > max {
            return Err(Error::internal(format!(
                "xorb object {oid} has {size} bytes"
            )));
        }
        let Some(Read::Found { object, .. }) = self.read(repo_id, oid, None).await? else {
            return Err(Error::not_found(format!("xorb object {oid} is not stored")));
        };
        let mut out = BytesMut::with_capacity(size as usize);
        let mut body = object.body;
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(Error::internal)?;
            if out.len() + piece.len() > max as usize {
                return Err(Error::internal(format!(
                    "xorb object {oid} reads longer than {max} bytes"
                )));
            }
            out.extend_from_slice(&piece);
        }
        Ok(out.freeze())
    }
}

/// `segments` with every term in xorb `old` moved to xorb `new` by `moved` (old chunk index →
/// new), or `None` when a term uses a chunk that was not kept.
fn remapped(
    segments: &[shard::Segment],
    old: &Hash,
    new: &Hash,
    moved: &[Option<u32>],
) -> Option<Vec<shard::Segment>> {
    segments
        .iter()
        .map(|s| {
            if s.xorb != *old {
                return Some(s.clone());
            }
            let mut at = (s.start..s.end).map(|i| moved.get(i as usize).copied().flatten());
            let first = at.next()??;
            // Every chunk of the term kept, and so consecutive in the new xorb too.
            let mut last = first;
            for i in at {
                last = i?;
            }
            Some(shard::Segment {
                xorb: *new,
                unpacked: s.unpacked,
                start: first,
                end: last + 1,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(x: u8, start: u32, end: u32) -> shard::Segment {
        shard::Segment {
            xorb: Hash([x; 32]),
            unpacked: 10 * (end - start),
            start,
            end,
        }
    }

    #[test]
    fn terms_move_onto_the_kept_chunks_or_not_at_all() {
        let (old, new) = (Hash([1; 32]), Hash([9; 32]));
        // Chunks 2, 3, 4 and 7 of the old xorb kept, as 0, 1, 2 and 3.
        let mut moved = vec![None; 8];
        for (n, i) in [2usize, 3, 4, 7].into_iter().enumerate() {
            moved[i] = Some(n as u32);
        }
        let before = [seg(1, 2, 5), seg(5, 0, 3), seg(1, 7, 8)];
        let after = remapped(&before, &old, &new, &moved).unwrap();
        assert_eq!(after, [seg(9, 0, 3), seg(5, 0, 3), seg(9, 3, 4)]);
        // A term over a chunk not kept (5), or past the end, moves nothing.
        assert_eq!(remapped(&[seg(1, 4, 6)], &old, &new, &moved), None);
        assert_eq!(remapped(&[seg(1, 7, 9)], &old, &new, &moved), None);
    }
}
