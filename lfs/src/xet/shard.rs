//! The shard (MDB) format: a 48-byte header, a file-info section (each file's reconstruction as
//! xorb chunk ranges, with verification hashes and its sha256), a CAS-info section (each new
//! xorb's chunk list) and, in stored shards only, lookup tables and a 200-byte footer. Parses
//! uploaded shards, writes them, and writes the footer-carrying answers of global dedup.

use std::time::{SystemTime, UNIX_EPOCH};

use super::hash::{hmac, Hash};
use super::{le, FormatError};

/// Every shard record (header, entry, bookend) is 48 bytes.
const ENTRY: usize = 48;
/// `"HFRepoMetaData"`, a zero, then 17 fixed bytes.
const TAG: [u8; 32] = [
    b'H', b'F', b'R', b'e', b'p', b'o', b'M', b'e', b't', b'a', b'D', b'a', b't', b'a', 0, 85, 105,
    103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169,
];
const VERSION: u64 = 2;
const FOOTER_VERSION: u64 = 1;
const FOOTER_SIZE: usize = 200;
/// A file-info header flag: one verification entry per segment follows the segments.
const FILE_HAS_VERIFICATION: u32 = 1 << 31;
/// A file-info header flag: a metadata entry (the sha256) follows.
const FILE_HAS_METADATA: u32 = 1 << 30;
/// A CAS chunk flag: the chunk is a global-dedup candidate (servers set it on file starts).
pub const CHUNK_GLOBAL_DEDUP: u32 = 1 << 31;
/// The largest shard the Xet spec allows (a client splits larger ones).
pub const MAX_SHARD_BYTES: usize = 64 << 20;

/// A term of a file: chunks `start..end` of a xorb, `unpacked` bytes in all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub xorb: Hash,
    pub unpacked: u32,
    pub start: u32,
    pub end: u32,
}

/// How to rebuild one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub hash: Hash,
    pub segments: Vec<Segment>,
    /// The term verification hashes: empty if absent, else one per segment.
    pub verification: Vec<Hash>,
    /// The file's SHA-256, standard byte order.
    pub sha256: Option<[u8; 32]>,
}

impl FileEntry {
    /// The file's size: the sum of its segments' unpacked bytes.
    pub fn size(&self) -> u64 {
        self.segments.iter().map(|s| u64::from(s.unpacked)).sum()
    }
}

/// A xorb's chunk list: per chunk its hash, unpacked offset in the xorb and length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XorbEntry {
    pub hash: Hash,
    pub chunks: Vec<(Hash, u32, u32)>,
    /// Per chunk flags ([`CHUNK_GLOBAL_DEDUP`]); when writing, missing ones are 0.
    pub flags: Vec<u32>,
}

/// The two sections of a shard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shard {
    pub files: Vec<FileEntry>,
    pub xorbs: Vec<XorbEntry>,
}

fn fail(offset: usize, problem: impl Into<String>) -> FormatError {
    FormatError::Shard {
        offset,
        problem: problem.into(),
    }
}

/// A 48-byte record split into its hash and four u32 words.
fn record(b: &[u8], at: usize) -> Option<(Hash, [u32; 4])> {
    let hash = le::bytes::<32>(b, at)?;
    let w = |i: usize| le::u32(b, at + 32 + 4 * i);
    Some((Hash(hash), [w(0)?, w(1)?, w(2)?, w(3)?]))
}

/// Reads records one after another, refusing to run past the end.
struct Records<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Records<'_> {
    fn next(&mut self, section: &str) -> Result<(Hash, [u32; 4]), FormatError> {
        let r = record(self.b, self.pos).ok_or_else(|| {
            fail(
                self.pos,
                format!("the shard ends inside the {section} section, before its end marker"),
            )
        })?;
        self.pos += ENTRY;
        Ok(r)
    }

    /// Refuses a header announcing `records` more records than the bytes left can hold.
    fn room(&self, records: u64, what: impl FnOnce() -> String) -> Result<(), FormatError> {
        let left = (self.b.len() - self.pos.min(self.b.len())) as u64;
        if records.saturating_mul(ENTRY as u64) > left {
            return Err(fail(
                self.pos - ENTRY,
                format!("{} but only {left} bytes are left", what()),
            ));
        }
        Ok(())
    }
}

fn is_bookend(h: &Hash) -> bool {
    h.0 == [0xff; 32]
}

/// Parses a shard as uploaded (`footer_size` 0), or a stored one whose lookup tables and footer
/// are ignored. Counts are checked against the bytes left before anything is allocated.
pub fn parse(bytes: &[u8]) -> Result<Shard, FormatError> {
    if bytes.len() > MAX_SHARD_BYTES {
        return Err(fail(
            0,
            format!(
                "the shard is {} bytes, more than the {MAX_SHARD_BYTES} a shard may have: split it",
                bytes.len()
            ),
        ));
    }
    let (Some(tag), Some(version), Some(footer)) = (
        le::bytes::<32>(bytes, 0),
        le::u64(bytes, 32),
        le::u64(bytes, 40),
    ) else {
        return Err(fail(
            0,
            format!("{} bytes is too short for a shard header (48)", bytes.len()),
        ));
    };
    if tag != TAG {
        return Err(fail(
            0,
            "not a shard: the header tag is not HFRepoMetaData's",
        ));
    }
    if version != VERSION {
        return Err(fail(
            32,
            format!("shard format version {version} is not supported (only {VERSION})"),
        ));
    }
    let after_header = (bytes.len() - ENTRY) as u64;
    if footer > after_header {
        return Err(fail(
            40,
            format!("the header announces a {footer}-byte footer but only {after_header} bytes follow it"),
        ));
    }
    let body = &bytes[..bytes.len() - footer as usize];
    let mut r = Records {
        b: body,
        pos: ENTRY,
    };
    let mut shard = Shard::default();
    loop {
        let (hash, [flags, n, _, _]) = r.next("file-info")?;
        if is_bookend(&hash) {
            break;
        }
        shard
            .files
            .push(read_file(&mut r, shard.files.len(), hash, flags, n)?);
    }
    loop {
        let (hash, [_, n, _, _]) = r.next("CAS-info")?;
        if is_bookend(&hash) {
            break;
        }
        let x = shard.xorbs.len();
        r.room(u64::from(n), || {
            format!("xorb {x} ({hash}) lists {n} chunks")
        })?;
        let mut chunks = Vec::with_capacity(n as usize);
        let mut flags = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let (chunk, [offset, len, f, _]) = r.next("CAS-info")?;
            chunks.push((chunk, offset, len));
            flags.push(f);
        }
        shard.xorbs.push(XorbEntry {
            hash,
            chunks,
            flags,
        });
    }
    if footer == 0 && r.pos != bytes.len() {
        return Err(fail(
            r.pos,
            format!(
                "{} bytes follow the end of the CAS-info section, and the header announces no footer",
                bytes.len() - r.pos
            ),
        ));
    }
    Ok(shard)
}

/// Reads the segments, verification entries and metadata of the file whose header was just read.
fn read_file(
    r: &mut Records<'_>,
    index: usize,
    hash: Hash,
    flags: u32,
    n: u32,
) -> Result<FileEntry, FormatError> {
    let verified = flags & FILE_HAS_VERIFICATION != 0;
    let has_sha = flags & FILE_HAS_METADATA != 0;
    let records = u64::from(n) * (1 + u64::from(verified)) + u64::from(has_sha);
    r.room(records, || {
        format!("file {index} ({hash}) announces {records} records")
    })?;
    let mut segments = Vec::with_capacity(n as usize);
    for i in 0..n {
        let at = r.pos;
        let (xorb, [_, unpacked, start, end]) = r.next("file-info")?;
        if end <= start {
            return Err(fail(
                at,
                format!(
                    "file {index} ({hash}), segment {i}: the chunk range {start}..{end} is empty"
                ),
            ));
        }
        segments.push(Segment {
            xorb,
            unpacked,
            start,
            end,
        });
    }
    let mut verification = Vec::new();
    if verified {
        verification.reserve(n as usize);
        for _ in 0..n {
            verification.push(r.next("file-info")?.0);
        }
    }
    let sha256 = if has_sha {
        Some(r.next("file-info")?.0.sha256_bytes())
    } else {
        None
    };
    Ok(FileEntry {
        hash,
        segments,
        verification,
        sha256,
    })
}

fn put(out: &mut Vec<u8>, hash: &Hash, words: [u32; 4]) {
    out.extend_from_slice(&hash.0);
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

fn put_u64s(out: &mut Vec<u8>, vals: &[u64]) {
    for v in vals {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn put_header(out: &mut Vec<u8>, footer_size: u64) {
    out.extend_from_slice(&TAG);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&footer_size.to_le_bytes());
}

fn put_bookend(out: &mut Vec<u8>) {
    put(out, &Hash([0xff; 32]), [0; 4]);
}

/// A xorb's CAS-info entries, with each chunk hash replaced by `rename(hash)`. Returns the
/// xorb's unpacked bytes.
fn put_xorb(out: &mut Vec<u8>, x: &XorbEntry, rename: impl Fn(&Hash) -> Hash) -> u64 {
    let total: u64 = x.chunks.iter().map(|c| u64::from(c.2)).sum();
    let n = x.chunks.len() as u32;
    // num_bytes_on_disk: hf_xet sends 0, and so do we.
    put(
        out,
        &x.hash,
        [0, n, u32::try_from(total).unwrap_or(u32::MAX), 0],
    );
    for (i, (h, offset, len)) in x.chunks.iter().enumerate() {
        let flags = x.flags.get(i).copied().unwrap_or(0);
        put(out, &rename(h), [*offset, *len, flags, 0]);
    }
    total
}

/// Serializes a shard as a client uploads it: no footer, no lookup tables.
///
/// # Panics
/// If a file has verification hashes but not exactly one per segment.
pub fn write(shard: &Shard) -> Vec<u8> {
    let mut out = Vec::new();
    put_header(&mut out, 0);
    for f in &shard.files {
        assert!(
            f.verification.is_empty() || f.verification.len() == f.segments.len(),
            "file {}: {} verification hashes for {} segments",
            f.hash,
            f.verification.len(),
            f.segments.len()
        );
        let mut flags = 0;
        if !f.verification.is_empty() {
            flags |= FILE_HAS_VERIFICATION;
        }
        if f.sha256.is_some() {
            flags |= FILE_HAS_METADATA;
        }
        put(&mut out, &f.hash, [flags, f.segments.len() as u32, 0, 0]);
        for s in &f.segments {
            put(&mut out, &s.xorb, [0, s.unpacked, s.start, s.end]);
        }
        for v in &f.verification {
            put(&mut out, v, [0; 4]);
        }
        if let Some(d) = f.sha256 {
            put(&mut out, &Hash::from_sha256(d), [0; 4]);
        }
    }
    put_bookend(&mut out);
    for x in &shard.xorbs {
        put_xorb(&mut out, x, |h| *h);
    }
    put_bookend(&mut out);
    out
}

/// A global-dedup answer created now: see [`dedup_answer_at`].
pub fn dedup_answer(xorbs: &[XorbEntry], key: &Hash, expiry_unix: u64) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    dedup_answer_at(xorbs, key, now, expiry_unix)
}

/// A global-dedup answer, as xet-core's servers write one: header with a 200-byte footer, an
/// empty file section, the CAS-info of `xorbs` (chunk hashes HMAC'ed with `key` unless it is
/// [`Hash::ZERO`]), and the footer carrying the key, the creation time and `shard_key_expiry`,
/// after which the client forgets the shard (unix seconds).
pub fn dedup_answer_at(
    xorbs: &[XorbEntry],
    key: &Hash,
    created_unix: u64,
    expiry_unix: u64,
) -> Vec<u8> {
    let mut out = Vec::new();
    put_header(&mut out, FOOTER_SIZE as u64);
    let file_info = out.len() as u64;
    put_bookend(&mut out);
    let xorb_info = out.len() as u64;
    let mut stored = 0u64;
    for x in xorbs {
        stored += if *key == Hash::ZERO {
            put_xorb(&mut out, x, |h| *h)
        } else {
            put_xorb(&mut out, x, |h| hmac(key, h))
        };
    }
    put_bookend(&mut out);
    let footer = out.len() as u64;
    // version, file_info_offset, xorb_info_offset, then the three lookup tables: empty, at the
    // footer (the client indexes the CAS section itself).
    put_u64s(&mut out, &[FOOTER_VERSION, file_info, xorb_info]);
    put_u64s(&mut out, &[footer, 0, footer, 0, footer, 0]);
    out.extend_from_slice(&key.0);
    put_u64s(&mut out, &[created_unix, expiry_unix]);
    put_u64s(&mut out, &[0; 6]);
    // stored_bytes_on_disk, materialized_bytes, stored_bytes, footer_offset.
    put_u64s(&mut out, &[0, 0, stored, footer]);
    out
}

#[cfg(test)]
#[path = "shard_tests.rs"]
mod tests;

/// A file's segments in the compact form a server keeps them in (not the spec's): per segment
/// the xorb hash (32 bytes), then unpacked bytes, first and past-last chunk (u32 LE each).
pub fn segments_bytes(segments: &[Segment]) -> Vec<u8> {
    let mut out = Vec::with_capacity(segments.len() * 44);
    for s in segments {
        out.extend_from_slice(&s.xorb.0);
        for n in [s.unpacked, s.start, s.end] {
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
    out
}

/// The segments [`segments_bytes`] wrote.
pub fn parse_segments(bytes: &[u8]) -> Result<Vec<Segment>, FormatError> {
    if !bytes.len().is_multiple_of(44) {
        return Err(FormatError::Index(format!(
            "{} bytes of segments are not whole segments of 44 bytes",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(44)
        .map(|b| {
            let n = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&b[..32]);
            Segment {
                xorb: Hash(hash),
                unpacked: n(32),
                start: n(36),
                end: n(40),
            }
        })
        .collect())
}
