//! Chunking what arrived whole: an object of at least `--chunking-min-bytes` that came by
//! git-lfs, the browser, the S3 gateway, a commit or a job, and a table view (or digest index) a
//! dataset keeps in its own store, is cut, in the background, by the same content-defined
//! chunking as Xet clients (a view's Parquet pages end where its values say, so views of
//! successive revisions share chunks). Chunks its dataset holds already (in xorbs uploaded
//! through Xet, or made here) are referred to; new ones are packed into new xorbs of the
//! dataset. The object is then recorded as a Xet file of the dataset, checked (its bytes were
//! hashed as they were cut), so a file pushed by git-lfs and one uploaded by `hf_xet` dedup
//! against each other, both ways. The whole copy then goes
//! ([`crate::storage::Storage::drop_whole`]): the object is stored once, as its chunks. On a
//! bucket it goes once the URLs to it handed out before have expired ([`drop_due`]).

use std::collections::{BTreeSet, HashMap, HashSet};

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::Digest;
use strata_lfs::xet::{chunker, chunker::Chunker, hash, shard, xorb, Hash};
use strata_lfs::Oid;

use crate::db::XetFile;
use crate::error::{Error, Result};
use crate::Core;

/// How many objects one pass chunks at most.
const PASS: i64 = 64;
/// The most xorbs one object's chunking looks into for chunks it may refer to.
const MAX_LOOKED: usize = 256;

/// The objects whose chunking failed since the server started: left whole, not tried again
/// until it restarts.
static FAILED: std::sync::Mutex<BTreeSet<(i64, String)>> = std::sync::Mutex::new(BTreeSet::new());

/// What chunking one object did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Chunked {
    pub chunks: u64,
    /// Chunks the dataset held already.
    pub known: u64,
    /// Bytes of new xorbs stored.
    pub stored: u64,
    /// Whether the whole copy went.
    pub dropped: bool,
}

/// One pass: chunks the objects waiting (at most [`PASS`]). Returns how many were chunked; an
/// object that fails is logged and left whole.
pub async fn pass(core: &Core) -> Result<usize> {
    if let Err(e) = drop_due(core, crate::db::now()).await {
        tracing::warn!(error = %e.message, "letting whole copies of chunked objects go");
    }
    let min = core.settings.chunking_min_bytes as i64;
    let failed = FAILED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let waiting = core
        .db
        .xet_unchunked(min, PASS + failed.len() as i64)
        .await?;
    let mut done = 0;
    for (repo_id, oid, size) in waiting {
        if failed.contains(&(repo_id, oid.clone())) {
            continue;
        }
        let Ok(parsed) = oid.parse::<Oid>() else {
            continue;
        };
        let result = chunk_object(core, repo_id, &parsed, size as u64).await;
        if result.is_err() {
            FAILED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert((repo_id, oid.clone()));
        }
        match result {
            Ok(c) => {
                done += 1;
                tracing::info!(
                    %oid, repo_id, chunks = c.chunks, known = c.known, stored = c.stored,
                    dropped = c.dropped, "object chunked"
                );
            }
            Err(e) => tracing::warn!(%oid, repo_id, error = %e.message, "chunking an object"),
        }
    }
    Ok(done)
}

/// Cuts object `oid` (`size` bytes) of dataset `repo_id` into chunks, stores the new ones,
/// records the file and lets go of the whole copy where chunks suffice.
pub async fn chunk_object(core: &Core, repo_id: i64, oid: &Oid, size: u64) -> Result<Chunked> {
    let _turn = core.storage.chunking().await?;
    let Some(crate::storage::Read::Found { object, .. }) =
        core.storage.read(repo_id, oid, None).await?
    else {
        return Err(Error::not_found(format!("{oid} is not stored")));
    };
    // A table view the dataset does not also link: its new xorbs count toward no usage.
    let linked = core.db.linked_objects(repo_id, &[*oid]).await?;
    let mut packer = Packer::new(core, repo_id, !linked.contains_key(oid), size);
    let (mut cut, mut carry) = (Chunker::new(), Vec::new());
    let (mut sha, mut total) = (sha2::Sha256::new(), 0u64);
    let mut body = object.body;
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(Error::internal)?;
        sha.update(&piece);
        total += piece.len() as u64;
        let mut pos = 0;
        for len in cut.push(&piece) {
            let take = len - carry.len();
            carry.extend_from_slice(&piece[pos..pos + take]);
            pos += take;
            packer.add(&carry).await?;
            carry.clear();
        }
        carry.extend_from_slice(&piece[pos..]);
    }
    cut.finish();
    if !carry.is_empty() {
        packer.add(&carry).await?;
    }
    packer.flush().await?;
    let got = Oid::from_digest(sha.finalize().into());
    if got != *oid || total != size {
        return Err(Error::internal(format!(
            "{oid} reads as {got} ({total} bytes, not {size}): not chunked"
        )));
    }
    let mut done = packer.record(oid, size).await?;
    done.dropped = core.storage.let_whole_go(repo_id, oid).await?;
    Ok(done)
}

/// Lets go of the whole copies of objects kept as chunks on a bucket whose time came by `at`
/// (see [`chunk_object`]), once no dataset's URLs to them may still be used and every xorb
/// their chunks are in is still recorded: how many went. One that fails is logged and tried
/// again an hour later.
pub async fn drop_due(core: &Core, at: i64) -> Result<usize> {
    let mut dropped = 0;
    for (repo_id, oid) in core.db.xet_whole_due(at, PASS).await? {
        let Ok(parsed) = oid.parse::<Oid>() else {
            continue;
        };
        let _turn = core.storage.chunking().await?;
        let went = match core.storage.whole_may_go(repo_id, &oid).await {
            Ok(true) => core.storage.drop_whole(repo_id, &parsed).await,
            other => other,
        };
        match went {
            Ok(went) => {
                dropped += usize::from(went);
                core.db.xet_drop_whole_at(repo_id, &oid, None).await?;
            }
            Err(e) => {
                tracing::warn!(%oid, repo_id, error = %e.message, "dropping a whole copy");
                let again = crate::db::now() + 3600;
                core.db
                    .xet_drop_whole_at(repo_id, &oid, Some(again))
                    .await?;
            }
        }
    }
    Ok(dropped)
}

/// Where a chunk is: in a xorb the dataset holds, or in the `n`th xorb made by this chunking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Xorb {
    Held(Hash),
    New(usize),
}

/// The chunks of one object as they are cut: where each is, and the xorb being filled.
struct Packer<'a> {
    core: &'a Core,
    repo_id: i64,
    /// Every chunk whose place is known: its xorb and its index there.
    known: HashMap<Hash, (Xorb, u32)>,
    looked: HashSet<String>,
    /// The object's chunks in order: where, and (hash, length).
    refs: Vec<(Xorb, u32, Hash, u64)>,
    /// The xorb being filled, its chunks, and the xorbs made so far.
    filling: Vec<u8>,
    filled: usize,
    made: Vec<Hash>,
    /// The object's bytes not added yet: a new xorb is given room for them (at most a xorb's
    /// worth) at once, not grown by doubling (each step a copy, and the steps kept apart by the
    /// allocator).
    left: u64,
    result: Chunked,
    /// Whether the object is a table view's (see [`crate::db::XetXorb::for_view`]).
    for_view: bool,
}

impl<'a> Packer<'a> {
    fn new(core: &'a Core, repo_id: i64, for_view: bool, size: u64) -> Packer<'a> {
        Packer {
            core,
            repo_id,
            known: HashMap::new(),
            looked: HashSet::new(),
            refs: Vec::new(),
            filling: Vec::new(),
            filled: 0,
            made: Vec::new(),
            left: size,
            result: Chunked::default(),
            for_view,
        }
    }

    /// One chunk, in order.
    async fn add(&mut self, data: &[u8]) -> Result<()> {
        let h = hash::chunk_hash(data);
        let len = data.len() as u64;
        let left = self.left;
        self.left = self.left.saturating_sub(len);
        self.result.chunks += 1;
        if !self.known.contains_key(&h) && (self.refs.is_empty() || hash::dedup_eligible(&h)) {
            self.look_up(&h).await?;
        }
        if let Some(&(at, i)) = self.known.get(&h) {
            if matches!(at, Xorb::Held(_)) {
                self.result.known += 1;
            }
            self.refs.push((at, i, h, len));
            return Ok(());
        }
        if self.filled == xorb::MAX_XORB_CHUNKS
            || self.filling.len() + xorb::CHUNK_HEADER + data.len() > xorb::MAX_XORB_BYTES
        {
            self.flush().await?;
        }
        if self.filling.capacity() == 0 {
            // Every chunk at least the chunker's least (the last may be less) and its header.
            let chunks = left / chunker::MIN_CHUNK as u64 + 1;
            let room = left + chunks * xorb::CHUNK_HEADER as u64;
            self.filling
                .reserve_exact(room.min(xorb::MAX_XORB_BYTES as u64) as usize);
        }
        xorb::write_chunk(&mut self.filling, data);
        let at = (Xorb::New(self.made.len()), self.filled as u32);
        self.filled += 1;
        self.known.insert(h, at);
        self.refs.push((at.0, at.1, h, len));
        Ok(())
    }

    /// Learns the chunks of the xorbs a dedup entry for `h` leads to.
    async fn look_up(&mut self, h: &Hash) -> Result<()> {
        let db = &self.core.db;
        let Some(xorbs) = db.xet_chunk_xorb(self.repo_id, &h.hex()).await? else {
            return Ok(());
        };
        for hex in xorbs.split(' ').take(super::dedup::MAX_XORBS) {
            if self.looked.len() >= MAX_LOOKED || !self.looked.insert(hex.to_owned()) {
                continue;
            }
            let (Some(row), Some(xh)) =
                (db.xet_xorb(self.repo_id, hex).await?, Hash::from_hex(hex))
            else {
                continue;
            };
            let index = xorb::parse_index(&row.chunks).map_err(Error::internal)?;
            for (i, c) in index.iter().enumerate() {
                self.known
                    .entry(c.hash)
                    .or_insert((Xorb::Held(xh), i as u32));
            }
        }
        Ok(())
    }

    /// Stores the xorb being filled, checked as any uploaded one.
    async fn flush(&mut self) -> Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let bytes = Bytes::from(std::mem::take(&mut self.filling));
        self.filled = 0;
        let parsed = {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || xorb::parse(&bytes))
                .await
                .map_err(Error::internal)?
                .map_err(Error::internal)?
        };
        self.result.stored += parsed.len;
        self.core
            .storage
            .store_xorb(self.repo_id, &parsed, bytes, self.for_view)
            .await?;
        self.made.push(parsed.hash);
        Ok(())
    }

    /// Records the object as a checked Xet file of the dataset, and its dedup entries.
    async fn record(self, oid: &Oid, size: u64) -> Result<Chunked> {
        let xorb_of = |x: Xorb| match x {
            Xorb::Held(h) => h,
            Xorb::New(n) => self.made[n],
        };
        let mut segments: Vec<shard::Segment> = Vec::new();
        let mut leaves = Vec::with_capacity(self.refs.len());
        for &(at, i, h, len) in &self.refs {
            let x = xorb_of(at);
            leaves.push((h, len));
            match segments.last_mut() {
                Some(s) if s.xorb == x && s.end == i => {
                    s.end += 1;
                    s.unpacked += len as u32;
                }
                _ => segments.push(shard::Segment {
                    xorb: x,
                    unpacked: len as u32,
                    start: i,
                    end: i + 1,
                }),
            }
        }
        // The xorbs it refers to are taken back from garbage collection, and must still be there.
        let db = &self.core.db;
        let mut held: Vec<Hash> = self
            .refs
            .iter()
            .filter_map(|r| match r.0 {
                Xorb::Held(h) => Some(h),
                Xorb::New(_) => None,
            })
            .collect();
        held.sort_unstable_by_key(|h| h.0);
        held.dedup();
        for h in &held {
            self.core.storage.link_xorb(self.repo_id, h).await?;
        }
        if !self.for_view {
            // Chunks of a view's xorbs now used by an object the dataset links: they count.
            let held: Vec<String> = held.iter().map(Hash::hex).collect();
            db.xet_xorbs_counted(self.repo_id, &held).await?;
        }
        let file = XetFile {
            hash: hash::file_hash(&leaves).hex(),
            claimed: Some(oid.to_string()),
            oid: None,
            size: size as i64,
            segments: shard::segments_bytes(&segments),
        };
        db.xet_put_file(self.repo_id, &file).await?;
        db.xet_file_checked(self.repo_id, &file.hash, &oid.to_string())
            .await?;
        let entries = super::dedup::entries(self.refs.iter().map(|r| (r.2, xorb_of(r.0))));
        db.xet_put_chunks(self.repo_id, &entries).await?;
        Ok(self.result)
    }
}
