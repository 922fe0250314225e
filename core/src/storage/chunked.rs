//! Objects kept as chunks: a file whose chunks a dataset holds in xorbs (uploaded through Xet,
//! or chunked by strata after it arrived, `crate::xet::chunking`) need not be stored whole. Its
//! bytes, or a range of them, are read from the xorbs, streaming, a xorb range at a time and a
//! chunk at a time decoded: every reader (LFS, raw files, S3, share links, tables, jobs) reads
//! through [`Storage::read`], which falls back to here.

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use strata_lfs::storage::{ByteStream, ObjectRead};
use strata_lfs::xet::{shard, xorb, Hash};
use strata_lfs::Oid;

use super::objects::bounds;
use super::{Place, Read, Storage};
use crate::db::XetFile;
use crate::error::{Error, Result};

/// One run of consecutive chunks of one xorb that a read needs.
#[derive(Debug)]
struct Piece {
    xorb: Oid,
    /// The run's serialized bytes in the xorb (inclusive).
    first: u64,
    last: u64,
    /// Where each chunk of the run ends, counted from `first`.
    ends: VecDeque<u64>,
    /// Decoded bytes to drop before the read's first byte.
    skip: u64,
    /// Serialized bytes of the run decoded already.
    consumed: u64,
}

impl Storage {
    /// `oid` of dataset `repo_id` read from its chunks, honouring a `Range` value: `None` when
    /// no file of the dataset was checked to be `oid`.
    pub(super) async fn read_chunked(
        &self,
        repo_id: i64,
        oid: &Oid,
        range: Option<&str>,
    ) -> Result<Option<Read>> {
        let Some(file) = self.0.db.xet_file_of(repo_id, &oid.to_string()).await? else {
            return Ok(None);
        };
        let len = file.size as u64;
        let Some((start, count, partial)) = bounds(range, len) else {
            return Ok(Some(Read::Unsatisfiable { len }));
        };
        let body = self.file_bytes(repo_id, &file, start, count).await?;
        Ok(Some(Read::Found {
            object: ObjectRead {
                len,
                start,
                count,
                body,
            },
            partial,
        }))
    }

    /// Whether dataset `repo_id` holds `oid` as chunks (a file of it was checked to be `oid`).
    pub async fn holds_chunked(&self, repo_id: i64, oid: &Oid) -> Result<bool> {
        Ok(self
            .0
            .db
            .xet_hash_of(repo_id, &oid.to_string())
            .await?
            .is_some())
    }

    /// Bytes `start..start + count` of Xet file `file` of dataset `repo_id`, streamed from the
    /// xorbs holding its chunks. A xorb missing or shorter than the file's record ends the
    /// stream with an error.
    pub async fn file_bytes(
        &self,
        repo_id: i64,
        file: &XetFile,
        start: u64,
        count: u64,
    ) -> Result<ByteStream> {
        let segments = shard::parse_segments(&file.segments).map_err(Error::internal)?;
        let mut xorbs: HashMap<Hash, (Oid, Vec<xorb::ChunkEntry>)> = HashMap::new();
        let mut pieces = VecDeque::new();
        let (end, mut at) = (start + count, 0u64);
        for seg in &segments {
            if at >= end {
                break;
            }
            if at + u64::from(seg.unpacked) <= start {
                at += u64::from(seg.unpacked);
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = xorbs.entry(seg.xorb) {
                let row = self
                    .0
                    .db
                    .xet_xorb(repo_id, &seg.xorb.hex())
                    .await?
                    .ok_or_else(|| Error::internal(format!("xorb {} is not recorded", seg.xorb)))?;
                let index = xorb::parse_index(&row.chunks).map_err(Error::internal)?;
                slot.insert((row.oid.parse().map_err(Error::internal)?, index));
            }
            let (oid, index) = &xorbs[&seg.xorb];
            let chunks = index
                .get(seg.start as usize..seg.end as usize)
                .ok_or_else(|| {
                    Error::internal(format!("xorb {} is shorter than a term", seg.xorb))
                })?;
            let mut piece: Option<Piece> = None;
            for c in chunks {
                let next = at + u64::from(c.unpacked);
                if next > start && at < end {
                    let p = piece.get_or_insert_with(|| Piece {
                        xorb: *oid,
                        first: u64::from(c.start),
                        last: 0,
                        ends: VecDeque::new(),
                        skip: start.saturating_sub(at),
                        consumed: 0,
                    });
                    p.last = u64::from(c.end) - 1;
                    p.ends.push_back(u64::from(c.end) - p.first);
                }
                at = next;
            }
            pieces.extend(piece);
        }
        let reader = Reader {
            storage: self.clone(),
            repo_id,
            pieces,
            current: None,
            left: count,
        };
        Ok(futures_util::stream::unfold(reader, |mut r| async move {
            match r.next().await {
                Ok(Some(bytes)) => Some((Ok(bytes), r)),
                Ok(None) => None,
                Err(e) => {
                    r.left = 0;
                    Some((Err(std::io::Error::other(e.to_string())), r))
                }
            }
        })
        .boxed())
    }
}

/// The state of a read from chunks.
struct Reader {
    storage: Storage,
    repo_id: i64,
    pieces: VecDeque<Piece>,
    /// The piece being read: its serialized bytes as they arrive, and what is not decoded yet.
    current: Option<(ByteStream, BytesMut, Piece)>,
    /// Bytes still to give.
    left: u64,
}

impl Reader {
    /// The next decoded bytes; `None` at the end.
    async fn next(&mut self) -> Result<Option<Bytes>> {
        loop {
            if self.left == 0 {
                return Ok(None);
            }
            let Some((body, buf, piece)) = &mut self.current else {
                let piece = self
                    .pieces
                    .pop_front()
                    .ok_or_else(|| Error::internal("a file's segments end before its size"))?;
                let range = format!("bytes={}-{}", piece.first, piece.last);
                let place = Place::Dataset(self.repo_id);
                let Some(Read::Found { object, .. }) = self
                    .storage
                    .read_stored(&place, &piece.xorb, Some(&range))
                    .await?
                else {
                    return Err(Error::internal(format!(
                        "xorb {} is not stored",
                        piece.xorb
                    )));
                };
                self.current = Some((object.body, BytesMut::new(), piece));
                continue;
            };
            // Every chunk whole in the buffer is decoded at once.
            let mut whole = 0u64;
            while let Some(end) = piece.ends.front().copied() {
                if end - piece.consumed > buf.len() as u64 {
                    break;
                }
                whole = end - piece.consumed;
                piece.ends.pop_front();
            }
            if whole > 0 {
                piece.consumed += whole;
            }
            if whole > 0 {
                let raw = buf.split_to(whole as usize).freeze();
                let mut out = Vec::with_capacity(raw.len() * 2);
                xorb::decode(&raw, &mut out).map_err(Error::internal)?;
                let mut out = Bytes::from(out);
                let skip = (piece.skip as usize).min(out.len());
                piece.skip -= skip as u64;
                out = out.slice(skip..);
                if out.len() as u64 > self.left {
                    out.truncate(self.left as usize);
                }
                self.left -= out.len() as u64;
                if piece.ends.is_empty() {
                    self.current = None;
                }
                if !out.is_empty() {
                    return Ok(Some(out));
                }
                continue;
            }
            match body.next().await {
                Some(more) => buf.extend_from_slice(&more.map_err(Error::internal)?),
                None => return Err(Error::internal("a xorb ends before its chunks")),
            }
        }
    }
}

impl Storage {
    /// Lets go of the whole copy of object `oid`, which dataset `repo_id` holds as chunks (the
    /// chunking turn held, [`Storage::chunking`]): at once, or on a bucket once the URLs to it
    /// handed out before now have expired (`crate::xet::chunking::drop_due`; downloads from now
    /// on read the chunks, through strata). Whether it went now.
    pub async fn let_whole_go(&self, repo_id: i64, oid: &Oid) -> Result<bool> {
        let text = oid.to_string();
        // (A xorb's own bytes are never dropped: they are what chunks are read from.)
        if !self
            .0
            .db
            .xet_xorbs_held_by(repo_id, &text)
            .await?
            .is_empty()
            || !self.whole_may_go(repo_id, &text).await?
        {
            return Ok(false);
        }
        if self.presigns_downloads() {
            self.let_whole_go_soon(repo_id, &text).await?;
            return Ok(false);
        }
        self.drop_whole(repo_id, oid).await
    }

    /// Has the whole copy of object `oid`, written again while dataset `repo_id` holds it as
    /// chunks (a table view made again of the same bytes), let go by the chunker's next pass:
    /// on a bucket, once the URLs to it handed out from now on may have expired.
    pub async fn let_whole_go_soon(&self, repo_id: i64, oid: &str) -> Result<()> {
        let mut at = crate::db::now();
        if self.presigns_downloads() {
            at += self.url_lifetime().as_secs() as i64 + 1;
        }
        self.0.db.xet_drop_whole_at(repo_id, oid, Some(at)).await?;
        Ok(())
    }

    /// Whether dataset `repo_id` holds `oid` as a file checked to be it whose every xorb is
    /// still recorded.
    pub async fn whole_may_go(&self, repo_id: i64, oid: &str) -> Result<bool> {
        let Some(file) = self.0.db.xet_file_of(repo_id, oid).await? else {
            return Ok(false);
        };
        for xorb in file.xorbs().map_err(Error::internal)? {
            if self.0.db.xet_xorb(repo_id, &xorb.hex()).await?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Lets go of the whole copy of `oid`, which dataset `repo_id` now holds as chunks: the
    /// dataset's sealed copy, or the plain object itself (on the local disk or a bucket) once
    /// every dataset linking it holds it as chunks. A dataset that linked it meanwhile (an
    /// upload racing this) gets it back whole, read from the chunks. True when the whole copy
    /// went. (On a bucket, callers wait until URLs to the whole copy handed out before it was
    /// chunked expired: [`Storage::url_lifetime`].)
    pub async fn drop_whole(&self, repo_id: i64, oid: &Oid) -> Result<bool> {
        let text = oid.to_string();
        if self.0.sealed.is_some() {
            self.delete_bytes(repo_id, oid).await?;
            return Ok(true);
        }
        if self.0.db.links_without_chunks(&text).await? > 0 {
            return Ok(false);
        }
        self.delete_bytes(0, oid).await?;
        if self.0.db.links_without_chunks(&text).await? > 0 {
            if let Some(file) = self.0.db.xet_file_of(repo_id, &text).await? {
                self.keep_whole(repo_id, &file).await?;
            }
            return Ok(false);
        }
        Ok(true)
    }

    /// Stores file `file` of dataset `repo_id` (checked to be an object) whole again, read from
    /// its chunks, unless it is stored whole: before the xorbs holding it are erased.
    pub async fn keep_whole(&self, repo_id: i64, file: &XetFile) -> Result<()> {
        let Some(oid) = file.oid.as_deref().and_then(|o| o.parse::<Oid>().ok()) else {
            return Ok(());
        };
        if self.holds_whole(repo_id, &oid).await? {
            return Ok(());
        }
        let size = file.size as u64;
        let body = self.file_bytes(repo_id, file, 0, size).await?;
        let (got, _) = self.ingest(repo_id, body, size).await?;
        if got != oid {
            return Err(Error::internal(format!(
                "Xet file {} reads back as {got}, not {oid}",
                file.hash
            )));
        }
        Ok(())
    }
}
