//! The sealed object format: an object encrypted at rest with AES-256-GCM over fixed-size chunks,
//! each authenticated on its own, so a read of any range decrypts only the chunks it needs and
//! any change to a stored file (a flipped byte, a swapped, dropped or appended chunk, another
//! header) fails to open instead of yielding wrong bytes.
//!
//! ```text
//! header (64 bytes)  magic "STRSEAL1" | version 1 | algorithm 1 (AES-256-GCM) | chunk size
//!                    as a power of two | 1 reserved byte | key id (u64) | key version (u32) |
//!                    salt (32 bytes) | plaintext size (u64), big-endian
//! chunk i            ciphertext of plaintext bytes [i*C, (i+1)*C) then its 16-byte tag
//! ```
//!
//! - Every object has its own subkey: HKDF-SHA256 of the data key with the object's random salt,
//!   so chunk indexes are unique nonces under it.
//! - Each chunk's additional data is the whole header, its index and whether it is the last, so
//!   chunks cannot move between objects or positions and the object cannot be cut short at a
//!   chunk boundary. The plaintext size in the (authenticated) header fixes the chunk count.
//! - The data key itself (which dataset's, which version) is the caller's business: the header
//!   names it by id and version, unencrypted and authenticated.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::hkdf::{Salt, HKDF_SHA256};

pub const MAGIC: &[u8; 8] = b"STRSEAL1";
pub const HEADER_LEN: usize = 64;
pub const TAG_LEN: usize = 16;
/// log2 of the chunk size written: 64 KiB.
pub const CHUNK_LOG2: u8 = 16;
const VERSION: u8 = 1;
const AES_256_GCM_CHUNKED: u8 = 1;
const INFO: &[u8] = b"strata sealed object v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("not a sealed object (bad header)")]
    Header,
    #[error("unsupported sealed format version {0}")]
    Version(u8),
    #[error("a sealed chunk failed to authenticate: the object was changed or the key is wrong")]
    Tampered,
    #[error("the object's size differs from the size it was sealed with")]
    Size,
}

/// What the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key_id: u64,
    pub key_version: u32,
    pub salt: [u8; 32],
    pub size: u64,
    pub chunk_log2: u8,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(MAGIC);
        h[8] = VERSION;
        h[9] = AES_256_GCM_CHUNKED;
        h[10] = self.chunk_log2;
        h[12..20].copy_from_slice(&self.key_id.to_be_bytes());
        h[20..24].copy_from_slice(&self.key_version.to_be_bytes());
        h[24..56].copy_from_slice(&self.salt);
        h[56..64].copy_from_slice(&self.size.to_be_bytes());
        h
    }

    pub fn decode(h: &[u8]) -> Result<Header, SealError> {
        if h.len() < HEADER_LEN || &h[..8] != MAGIC {
            return Err(SealError::Header);
        }
        if h[8] != VERSION {
            return Err(SealError::Version(h[8]));
        }
        if h[9] != AES_256_GCM_CHUNKED || !(10..=24).contains(&h[10]) || h[11] != 0 {
            return Err(SealError::Header);
        }
        let u64_at = |i: usize| u64::from_be_bytes(h[i..i + 8].try_into().expect("8 bytes"));
        let mut salt = [0u8; 32];
        salt.copy_from_slice(&h[24..56]);
        Ok(Header {
            key_id: u64_at(12),
            key_version: u32::from_be_bytes(h[20..24].try_into().expect("4 bytes")),
            salt,
            size: u64_at(56),
            chunk_log2: h[10],
        })
    }

    pub fn chunk_size(&self) -> u64 {
        1 << self.chunk_log2
    }

    /// How many chunks the object has (an empty object has one, empty).
    pub fn chunks(&self) -> u64 {
        self.size.div_ceil(self.chunk_size()).max(1)
    }

    /// The size of the sealed file.
    pub fn sealed_len(&self) -> u64 {
        HEADER_LEN as u64 + self.size + self.chunks() * TAG_LEN as u64
    }

    /// Where chunk `i` starts in the sealed file, and how long it is there (tag included).
    pub fn chunk_span(&self, i: u64) -> (u64, u64) {
        let c = self.chunk_size();
        let start = HEADER_LEN as u64 + i * (c + TAG_LEN as u64);
        let plain = if i + 1 == self.chunks() {
            self.size - i * c
        } else {
            c
        };
        (start, plain + TAG_LEN as u64)
    }
}

fn subkey(data_key: &[u8; 32], salt: &[u8; 32]) -> LessSafeKey {
    let prk = Salt::new(HKDF_SHA256, salt).extract(data_key);
    let mut key = [0u8; 32];
    prk.expand(&[INFO], HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut key))
        .expect("HKDF-SHA256 yields 32 bytes");
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("a 32-byte AES key"))
}

fn nonce(i: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&i.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

fn aad(header: &[u8; HEADER_LEN], i: u64, last: bool) -> [u8; HEADER_LEN + 9] {
    let mut a = [0u8; HEADER_LEN + 9];
    a[..HEADER_LEN].copy_from_slice(header);
    a[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(&i.to_be_bytes());
    a[HEADER_LEN + 8] = last as u8;
    a
}

/// Seals an object of a known size as its bytes arrive: `push` them, then `finish`.
pub struct Sealer {
    key: LessSafeKey,
    header: Header,
    encoded: [u8; HEADER_LEN],
    buf: Vec<u8>,
    index: u64,
    seen: u64,
}

impl Sealer {
    /// A sealer for `size` bytes under `data_key`; `salt` must be random (one per object).
    pub fn new(
        data_key: &[u8; 32],
        key_id: u64,
        key_version: u32,
        salt: [u8; 32],
        size: u64,
    ) -> Sealer {
        let header = Header {
            key_id,
            key_version,
            salt,
            size,
            chunk_log2: CHUNK_LOG2,
        };
        Sealer {
            key: subkey(data_key, &salt),
            encoded: header.encode(),
            buf: Vec::with_capacity(header.chunk_size() as usize),
            header,
            index: 0,
            seen: 0,
        }
    }

    /// The header, which goes first in the sealed file.
    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.encoded
    }

    fn seal_chunk(&mut self, last: bool, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.buf);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                nonce(self.index),
                Aad::from(aad(&self.encoded, self.index, last)),
                &mut out[start..],
            )
            .expect("AES-GCM seals any chunk");
        out.extend_from_slice(tag.as_ref());
        self.buf.clear();
        self.index += 1;
    }

    /// Takes more of the object; sealed chunks are appended to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), SealError> {
        self.seen += data.len() as u64;
        if self.seen > self.header.size {
            return Err(SealError::Size);
        }
        let c = self.header.chunk_size() as usize;
        while !data.is_empty() {
            let take = (c - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            // A full chunk is sealed at once unless it may be the last one (nothing after it).
            if self.buf.len() == c && (!data.is_empty() || self.seen < self.header.size) {
                self.seal_chunk(false, out);
            }
        }
        Ok(())
    }

    /// Seals the last chunk; the object must have had exactly its size.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), SealError> {
        if self.seen != self.header.size {
            return Err(SealError::Size);
        }
        self.seal_chunk(true, out);
        debug_assert_eq!(self.index, self.header.chunks());
        Ok(())
    }
}

/// Opens the chunks of a sealed object.
pub struct Opener {
    key: LessSafeKey,
    pub header: Header,
    encoded: [u8; HEADER_LEN],
}

impl Opener {
    /// An opener for the object whose first bytes are `header`, under `data_key` (the key the
    /// header's id and version name).
    pub fn new(data_key: &[u8; 32], header: &[u8]) -> Result<Opener, SealError> {
        let parsed = Header::decode(header)?;
        let mut encoded = [0u8; HEADER_LEN];
        encoded.copy_from_slice(&header[..HEADER_LEN]);
        Ok(Opener {
            key: subkey(data_key, &parsed.salt),
            header: parsed,
            encoded,
        })
    }

    /// Decrypts chunk `i` in place (`sealed` is exactly its span); its plaintext.
    pub fn open_chunk<'a>(&self, i: u64, sealed: &'a mut [u8]) -> Result<&'a mut [u8], SealError> {
        if i >= self.header.chunks() || sealed.len() as u64 != self.header.chunk_span(i).1 {
            return Err(SealError::Tampered);
        }
        let last = i + 1 == self.header.chunks();
        self.key
            .open_in_place(nonce(i), Aad::from(aad(&self.encoded, i, last)), sealed)
            .map_err(|_| SealError::Tampered)
    }

    /// The chunks that hold plaintext bytes `[start, end)`.
    pub fn chunks_for(&self, start: u64, end: u64) -> std::ops::Range<u64> {
        let c = self.header.chunk_size();
        if end <= start {
            return 0..0;
        }
        start / c..end.div_ceil(c).min(self.header.chunks())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn seal(data: &[u8], pieces: usize) -> Vec<u8> {
        let mut s = Sealer::new(&KEY, 9, 2, [3; 32], data.len() as u64);
        let mut out = s.header().to_vec();
        for piece in data.chunks(pieces.max(1)) {
            s.push(piece, &mut out).unwrap();
        }
        s.finish(&mut out).unwrap();
        out
    }

    fn open(sealed: &[u8], key: &[u8; 32]) -> Result<Vec<u8>, SealError> {
        let o = Opener::new(key, sealed)?;
        if sealed.len() as u64 != o.header.sealed_len() {
            return Err(SealError::Tampered);
        }
        let mut plain = Vec::new();
        for i in 0..o.header.chunks() {
            let (at, len) = o.header.chunk_span(i);
            let mut chunk = sealed[at as usize..(at + len) as usize].to_vec();
            plain.extend_from_slice(o.open_chunk(i, &mut chunk)?);
        }
        Ok(plain)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn round_trips_at_every_boundary() {
        let c = 1 << CHUNK_LOG2;
        for n in [0, 1, c - 1, c, c + 1, 3 * c, 3 * c + 17] {
            let d = data(n);
            for pieces in [1, 1000, c, n] {
                let sealed = seal(&d, pieces);
                assert_eq!(
                    sealed.len() as u64,
                    Header::decode(&sealed).unwrap().sealed_len()
                );
                assert_eq!(open(&sealed, &KEY).unwrap(), d, "{n} in {pieces}");
            }
        }
    }

    #[test]
    fn no_plaintext_window_survives() {
        let d = data(200_000);
        let sealed = seal(&d, 4096);
        for window in d.chunks(64).take(100) {
            assert!(!sealed.windows(64).any(|w| w == window));
        }
    }

    #[test]
    fn tampering_is_detected() {
        let c = 1usize << CHUNK_LOG2;
        let d = data(3 * c + 5);
        let sealed = seal(&d, c);
        // Any flipped byte, in the header or any chunk.
        for at in [0, 10, 12, 30, 60, 64, 64 + c, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 1;
            assert!(open(&bad, &KEY).is_err(), "byte {at}");
        }
        // Two chunks swapped.
        let span = c + TAG_LEN;
        let mut swapped = sealed.clone();
        let (a, b) = (HEADER_LEN, HEADER_LEN + span);
        let first = swapped[a..a + span].to_vec();
        swapped.copy_within(b..b + span, a);
        swapped[b..b + span].copy_from_slice(&first);
        assert_eq!(open(&swapped, &KEY), Err(SealError::Tampered));
        // Cut at a chunk boundary, with the header's size lowered to match: the old last chunk
        // is not marked last, and the header no longer authenticates the chunks.
        let mut cut = sealed[..HEADER_LEN + 2 * span].to_vec();
        cut[56..64].copy_from_slice(&((2 * c) as u64).to_be_bytes());
        assert_eq!(open(&cut, &KEY), Err(SealError::Tampered));
        // Truncated, and another key.
        assert!(open(&sealed[..sealed.len() - 1], &KEY).is_err());
        assert_eq!(open(&sealed, &[8; 32]), Err(SealError::Tampered));
        // Another object's chunk (same key, other salt) in place of this one's.
        let mut other = Sealer::new(&KEY, 9, 2, [4; 32], d.len() as u64);
        let mut o = other.header().to_vec();
        other.push(&d, &mut o).unwrap();
        other.finish(&mut o).unwrap();
        let mut mixed = sealed.clone();
        mixed[HEADER_LEN..HEADER_LEN + span].copy_from_slice(&o[HEADER_LEN..HEADER_LEN + span]);
        assert_eq!(open(&mixed, &KEY), Err(SealError::Tampered));
    }

    #[test]
    fn sizes_must_match() {
        let mut s = Sealer::new(&KEY, 1, 1, [0; 32], 5);
        let mut out = Vec::new();
        assert_eq!(s.push(b"toolong", &mut out), Err(SealError::Size));
        let s = Sealer::new(&KEY, 1, 1, [0; 32], 5);
        assert_eq!(s.finish(&mut out), Err(SealError::Size));
        assert_eq!(Header::decode(b"short"), Err(SealError::Header));
        let mut h = Header::decode(&seal(b"x", 1)).unwrap().encode();
        h[8] = 2;
        assert_eq!(Header::decode(&h), Err(SealError::Version(2)));
    }

    #[test]
    fn ranges_name_their_chunks() {
        let c = 1u64 << CHUNK_LOG2;
        let sealed = seal(&data((3 * c + 5) as usize), 4096);
        let o = Opener::new(&KEY, &sealed).unwrap();
        assert_eq!(o.chunks_for(0, 1), 0..1);
        assert_eq!(o.chunks_for(c - 1, c + 1), 0..2);
        assert_eq!(o.chunks_for(c, 2 * c), 1..2);
        assert_eq!(o.chunks_for(3 * c, 3 * c + 5), 3..4);
        assert_eq!(o.chunks_for(5, 5), 0..0);
    }
}
