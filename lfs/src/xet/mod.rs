//! Hugging Face Xet storage formats, with no I/O in them: the hashes (chunk, xorb, file, term
//! verification, HMAC), content-defined chunking, the xorb format (chunks of compressed data) and
//! the shard format (file reconstructions and xorb chunk lists), as written by `hf_xet` 1.8.
//! Everything that parses client bytes returns a [`FormatError`] and never panics.

pub mod chunker;
pub mod hash;
mod lz4;
pub mod shard;
pub mod xorb;

#[cfg(test)]
mod tests;

pub use hash::Hash;

/// Why bytes that claim to be a xorb, a shard or a chunk index could not be read. The messages
/// name the place (chunk, file or xorb number, byte offset) and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The xorb holds no chunk at all.
    #[error("the xorb is empty: it must hold at least one chunk")]
    EmptyXorb,
    /// The serialized xorb is larger than any client writes.
    #[error("the xorb is {len} bytes, more than the {max} bytes a xorb may have: split it")]
    XorbTooLarge { len: usize, max: usize },
    /// The xorb holds more chunks than any client puts in one.
    #[error("the xorb holds more than {max} chunks: split it")]
    TooManyChunks { max: usize },
    /// One chunk of a xorb (or of a range of chunks) is malformed.
    #[error("chunk {index} (at byte {offset}): {problem}")]
    Chunk {
        index: usize,
        offset: usize,
        problem: String,
    },
    /// A shard is malformed.
    #[error("shard, at byte {offset}: {problem}")]
    Shard { offset: usize, problem: String },
    /// A stored chunk index (see [`xorb::index_bytes`]) is malformed.
    #[error("xorb chunk index: {0}")]
    Index(String),
}

/// Little-endian readers over a slice that refuse to read past its end.
mod le {
    /// `N` bytes at `at`, if the slice has them.
    pub fn bytes<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
        b.get(at..at.checked_add(N)?)?.try_into().ok()
    }

    pub fn u32(b: &[u8], at: usize) -> Option<u32> {
        bytes::<4>(b, at).map(u32::from_le_bytes)
    }

    pub fn u64(b: &[u8], at: usize) -> Option<u64> {
        bytes::<8>(b, at).map(u64::from_le_bytes)
    }

    /// A 3-byte little-endian number (the xorb chunk header's sizes).
    pub fn u24(b: &[u8], at: usize) -> Option<u32> {
        bytes::<3>(b, at).map(|[x, y, z]| u32::from_le_bytes([x, y, z, 0]))
    }
}
