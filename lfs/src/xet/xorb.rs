//! The xorb format: a sequence of chunks, each an 8-byte header (version, compressed size,
//! compression scheme, uncompressed size) and its bytes stored as is, LZ4-framed, or
//! byte-grouped then LZ4-framed; optionally followed by an `XETBLOB` footer, which is ignored.
//! Parses and verifies uploaded xorbs, decodes chunk ranges, writes chunks, and keeps a compact
//! per-chunk index for storage next to the xorb.

use std::io::Write;

use lz4_flex::frame::FrameEncoder;

use super::chunker::MAX_CHUNK;
use super::hash::{chunk_hash, xorb_hash, Hash};
use super::{le, lz4, FormatError};

/// The largest serialized xorb the Xet spec allows.
pub const MAX_XORB_BYTES: usize = 64 << 20;
/// How far [`parse`] lets a xorb exceed [`MAX_XORB_BYTES`]: `hf_xet` caps the *unpacked* bytes
/// of a xorb at 64 MiB, so incompressible data serializes up to 8 header bytes a chunk larger
/// (64 KiB at most), and a stored xorb may carry a footer (40 bytes a chunk).
pub const XORB_SLACK: usize = 1 << 20;
/// The most chunks a xorb may hold: `hf_xet` and huggingface.js both cut xorbs at 8192 chunks.
/// This bounds the work and memory of parsing one (at most 1 GiB unpacked, 8192 entries).
pub const MAX_XORB_CHUNKS: usize = 8192;

/// The size of a chunk header.
pub const CHUNK_HEADER: usize = 8;
/// The start of the optional footer of stored xorbs (`XorbObjectInfo`).
const FOOTER_IDENT: &[u8; 7] = b"XETBLOB";
/// The largest compressed size a chunk header may announce.
const MAX_COMPRESSED: usize = 2 * MAX_CHUNK;
/// The bytes of one entry of [`index_bytes`].
const INDEX_ENTRY: usize = 40;

const SCHEME_NONE: u8 = 0;
const SCHEME_LZ4: u8 = 1;
const SCHEME_BG4_LZ4: u8 = 2;

/// One chunk of a xorb: its hash, its uncompressed length, and where it lies in the serialized
/// xorb (`start..end`, header included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkEntry {
    pub hash: Hash,
    pub unpacked: u32,
    pub start: u32,
    pub end: u32,
}

/// A parsed, verified xorb.
#[derive(Clone, Debug)]
pub struct Xorb {
    /// The xorb hash computed from the chunks (compare it with the hash it was uploaded under).
    pub hash: Hash,
    pub chunks: Vec<ChunkEntry>,
    /// The serialized length of the chunks, footer excluded.
    pub len: u64,
}

impl Xorb {
    /// The sum of the chunks' uncompressed lengths.
    pub fn unpacked_len(&self) -> u64 {
        self.chunks.iter().map(|c| u64::from(c.unpacked)).sum()
    }
}

/// A validated chunk header.
struct Header {
    scheme: u8,
    compressed: usize,
    unpacked: usize,
}

fn chunk_error(index: usize, offset: usize, problem: impl Into<String>) -> FormatError {
    FormatError::Chunk {
        index,
        offset,
        problem: problem.into(),
    }
}

/// Reads and checks the header of the chunk at `pos`, and that its bytes are all there.
fn header_at(bytes: &[u8], pos: usize, index: usize) -> Result<Header, FormatError> {
    let err = |p: String| chunk_error(index, pos, p);
    let rest = bytes.get(pos..).unwrap_or_default();
    if rest.starts_with(FOOTER_IDENT) {
        return Err(err(
            "this is the xorb's footer (XETBLOB), not a chunk".into()
        ));
    }
    let (Some(raw), Some(compressed), Some(unpacked)) = (
        le::bytes::<CHUNK_HEADER>(rest, 0),
        le::u24(rest, 1),
        le::u24(rest, 5),
    ) else {
        return Err(err(format!(
            "the data ends {} bytes into the 8-byte chunk header",
            rest.len()
        )));
    };
    let (version, scheme) = (raw[0], raw[4]);
    let (compressed, unpacked) = (compressed as usize, unpacked as usize);
    if version != 0 {
        return Err(err(format!(
            "chunk format version {version} is not supported (only 0)"
        )));
    }
    if scheme > SCHEME_BG4_LZ4 {
        return Err(err(format!(
            "compression scheme {scheme} is unknown (0 none, 1 LZ4, 2 byte-grouped LZ4)"
        )));
    }
    if unpacked == 0 {
        return Err(err("the header says the chunk is empty".into()));
    }
    if unpacked > MAX_CHUNK {
        return Err(err(format!(
            "the header says {unpacked} bytes, more than the {MAX_CHUNK} a chunk may hold"
        )));
    }
    if compressed > MAX_COMPRESSED {
        return Err(err(format!(
            "the header says {compressed} compressed bytes, more than the {MAX_COMPRESSED} allowed"
        )));
    }
    if scheme == SCHEME_NONE && compressed != unpacked {
        return Err(err(format!(
            "stored uncompressed, but the header says {compressed} bytes stored for {unpacked}"
        )));
    }
    let available = rest.len() - CHUNK_HEADER;
    if compressed > available {
        return Err(err(format!(
            "the header says {compressed} compressed bytes but only {available} follow"
        )));
    }
    Ok(Header {
        scheme,
        compressed,
        unpacked,
    })
}

/// Appends the `h.unpacked` bytes of a chunk whose stored bytes are `payload` to `out`;
/// `scratch` is working space. On error `out` is as it was.
fn unpack(
    h: &Header,
    payload: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<(), String> {
    match h.scheme {
        SCHEME_NONE => out.extend_from_slice(payload),
        SCHEME_LZ4 => lz4::decode_frame(payload, h.unpacked, out)?,
        _ => {
            scratch.clear();
            lz4::decode_frame(payload, h.unpacked, scratch)?;
            bg4_regroup(scratch, out);
        }
    }
    Ok(())
}

/// Undoes byte grouping: `g` holds group 0 (bytes 0, 4, 8, …), then groups 1, 2 and 3; the
/// first `len % 4` groups have one byte more than the others.
fn bg4_regroup(g: &[u8], out: &mut Vec<u8>) {
    let n = g.len();
    let (q, r) = (n / 4, n % 4);
    let mut starts = [0usize; 4];
    for k in 1..4 {
        starts[k] = starts[k - 1] + q + usize::from(k - 1 < r);
    }
    out.reserve(n);
    out.extend((0..n).map(|i| g[starts[i % 4] + i / 4]));
}

/// Parses a serialized xorb as uploaded: every chunk's header is checked and its bytes
/// decompressed to exactly the announced length, the chunk hashes and the xorb hash are
/// computed. A footer (`XETBLOB…`) after the chunks is accepted and ignored.
pub fn parse(bytes: &[u8]) -> Result<Xorb, FormatError> {
    let max = MAX_XORB_BYTES + XORB_SLACK;
    if bytes.len() > max {
        return Err(FormatError::XorbTooLarge {
            len: bytes.len(),
            max,
        });
    }
    let mut chunks = Vec::new();
    let mut leaves = Vec::new();
    let (mut data, mut scratch) = (Vec::with_capacity(MAX_CHUNK), Vec::new());
    let mut pos = 0;
    while pos < bytes.len() && !bytes[pos..].starts_with(FOOTER_IDENT) {
        let index = chunks.len();
        if index == MAX_XORB_CHUNKS {
            return Err(FormatError::TooManyChunks {
                max: MAX_XORB_CHUNKS,
            });
        }
        let h = header_at(bytes, pos, index)?;
        let end = pos + CHUNK_HEADER + h.compressed;
        data.clear();
        unpack(&h, &bytes[pos + CHUNK_HEADER..end], &mut data, &mut scratch)
            .map_err(|p| chunk_error(index, pos, p))?;
        let hash = chunk_hash(&data);
        leaves.push((hash, h.unpacked as u64));
        // Both fit: the input is at most 65 MiB, a chunk at most 128 KiB.
        chunks.push(ChunkEntry {
            hash,
            unpacked: h.unpacked as u32,
            start: pos as u32,
            end: end as u32,
        });
        pos = end;
    }
    if chunks.is_empty() {
        return Err(FormatError::EmptyXorb);
    }
    Ok(Xorb {
        hash: xorb_hash(&leaves),
        chunks,
        len: pos as u64,
    })
}

/// Decodes whole consecutive serialized chunks (a range cut at [`ChunkEntry`] offsets) and
/// appends their bytes to `out`. Chunk numbers in errors count from the start of `bytes`. On
/// error `out` is as it was.
pub fn decode(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), FormatError> {
    let before = out.len();
    let mut scratch = Vec::new();
    let (mut pos, mut index) = (0, 0);
    while pos < bytes.len() {
        let step = header_at(bytes, pos, index).and_then(|h| {
            let end = pos + CHUNK_HEADER + h.compressed;
            unpack(&h, &bytes[pos + CHUNK_HEADER..end], out, &mut scratch)
                .map_err(|p| chunk_error(index, pos, p))?;
            Ok(end)
        });
        match step {
            Ok(end) => pos = end,
            Err(e) => {
                out.truncate(before);
                return Err(e);
            }
        }
        index += 1;
    }
    Ok(())
}

/// Appends one chunk to a serialized xorb: LZ4-framed if that is smaller, else stored as is.
///
/// # Panics
/// If `data` is empty or longer than [`MAX_CHUNK`]: the chunker never cuts such chunks.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    assert!(
        !data.is_empty() && data.len() <= MAX_CHUNK,
        "a xorb chunk holds 1 to {MAX_CHUNK} bytes, not {}",
        data.len()
    );
    let mut enc = FrameEncoder::new(Vec::with_capacity(data.len()));
    let packed = enc
        .write_all(data)
        .ok()
        .and_then(|()| enc.finish().ok())
        .filter(|c| c.len() < data.len());
    let (scheme, stored) = match &packed {
        Some(c) => (SCHEME_LZ4, c.as_slice()),
        None => (SCHEME_NONE, data),
    };
    out.push(0);
    out.extend_from_slice(&(stored.len() as u32).to_le_bytes()[..3]);
    out.push(scheme);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes()[..3]);
    out.extend_from_slice(stored);
}

/// A compact index of a xorb's chunks, to store next to it: per chunk its hash (32 bytes),
/// uncompressed length and serialized end offset (u32 little-endian each). A chunk starts
/// where the previous one ends, the first at 0.
pub fn index_bytes(chunks: &[ChunkEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunks.len() * INDEX_ENTRY);
    for c in chunks {
        out.extend_from_slice(&c.hash.0);
        out.extend_from_slice(&c.unpacked.to_le_bytes());
        out.extend_from_slice(&c.end.to_le_bytes());
    }
    out
}

/// Reads an index written by [`index_bytes`].
pub fn parse_index(bytes: &[u8]) -> Result<Vec<ChunkEntry>, FormatError> {
    if !bytes.len().is_multiple_of(INDEX_ENTRY) {
        return Err(FormatError::Index(format!(
            "{} bytes is not a whole number of {INDEX_ENTRY}-byte entries",
            bytes.len()
        )));
    }
    let mut chunks = Vec::with_capacity(bytes.len() / INDEX_ENTRY);
    let mut start = 0u32;
    for (i, e) in bytes.chunks_exact(INDEX_ENTRY).enumerate() {
        let (Some(hash), Some(unpacked), Some(end)) =
            (le::bytes::<32>(e, 0), le::u32(e, 32), le::u32(e, 36))
        else {
            return Err(FormatError::Index(format!("entry {i} is cut short")));
        };
        if unpacked == 0 || unpacked as usize > MAX_CHUNK {
            return Err(FormatError::Index(format!(
                "entry {i}: a chunk of {unpacked} bytes is impossible (1 to {MAX_CHUNK})"
            )));
        }
        if end <= start {
            return Err(FormatError::Index(format!(
                "entry {i}: it ends at byte {end}, not after its start {start}"
            )));
        }
        chunks.push(ChunkEntry {
            hash: Hash(hash),
            unpacked,
            start,
            end,
        });
        start = end;
    }
    Ok(chunks)
}

#[cfg(test)]
#[path = "xorb_tests.rs"]
mod tests;
