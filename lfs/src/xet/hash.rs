//! Xet hashes: the 32-byte [`Hash`] and its "xet hex" form, and the keyed BLAKE3 hashes built on
//! it — chunk hashes, the aggregation tree that gives xorb and file hashes, term verification
//! hashes, the global-dedup HMAC — as specified in the Xet spec's `hashing.md`.

use std::fmt;

/// The BLAKE3 key of chunk hashes (`DATA_KEY`).
const DATA_KEY: [u8; 32] = [
    102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28, 157, 228, 33, 16,
    155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41,
];

/// The BLAKE3 key of the aggregation tree's internal nodes (`INTERNAL_NODE_KEY`).
const INTERNAL_NODE_KEY: [u8; 32] = [
    1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230, 93, 221, 83, 111, 55,
    199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63,
];

/// The BLAKE3 key of term verification hashes (`VERIFICATION_KEY`).
const VERIFICATION_KEY: [u8; 32] = [
    127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243, 164, 205, 38, 213,
    181, 219, 73, 230, 65, 36, 152, 127, 40, 251, 148, 195,
];

/// A Xet hash: 32 raw bytes, in the order the binary formats store them (four little-endian
/// u64 words). Its text form, [`Hash::hex`], prints each word as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// All zero bytes: the hash of an empty file, and "no key" for HMAC keys.
    pub const ZERO: Hash = Hash([0; 32]);

    /// Parses "xet hex": 64 hex digits (either case), each group of 16 being one little-endian
    /// u64 word. `None` for anything else.
    pub fn from_hex(s: &str) -> Option<Hash> {
        let s = s.as_bytes();
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (word, digits) in s.chunks_exact(16).enumerate() {
            let mut v = 0u64;
            for &d in digits {
                let nibble = (d as char).to_digit(16)?;
                v = (v << 4) | u64::from(nibble);
            }
            out[word * 8..word * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        Some(Hash(out))
    }

    /// The "xet hex" form, lowercase: each little-endian u64 word printed as `{:016x}`.
    pub fn hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for w in self.words() {
            s.push_str(&format!("{w:016x}"));
        }
        s
    }

    /// A standard SHA-256 digest as shards store it (`FileMetadataExt`): each 8-byte group
    /// reversed, so that [`Hash::hex`] of the result prints the usual sha256 hex.
    pub fn from_sha256(digest: [u8; 32]) -> Hash {
        Hash(reverse_groups(digest))
    }

    /// The standard SHA-256 digest bytes of a hash made by [`Hash::from_sha256`].
    pub fn sha256_bytes(&self) -> [u8; 32] {
        reverse_groups(self.0)
    }

    /// The four little-endian u64 words.
    fn words(&self) -> [u64; 4] {
        let mut w = [0u64; 4];
        for (i, c) in self.0.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            w[i] = u64::from_le_bytes(b);
        }
        w
    }
}

fn reverse_groups(mut b: [u8; 32]) -> [u8; 32] {
    for g in b.chunks_exact_mut(8) {
        g.reverse();
    }
    b
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

fn keyed(key: &[u8; 32], data: &[u8]) -> Hash {
    Hash(*blake3::keyed_hash(key, data).as_bytes())
}

/// The hash of one chunk's (uncompressed) bytes.
pub fn chunk_hash(data: &[u8]) -> Hash {
    keyed(&DATA_KEY, data)
}

/// The aggregation-tree root over `(hash, length)` leaves, in order: a xorb's hash is this over
/// its chunks. An empty list gives [`Hash::ZERO`]; a single leaf is its own root.
pub fn xorb_hash(chunks: &[(Hash, u64)]) -> Hash {
    let mut level: Vec<(Hash, u64)> = chunks.to_vec();
    if level.is_empty() {
        return Hash::ZERO;
    }
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len() / 3 + 1);
        let mut rest = &level[..];
        while !rest.is_empty() {
            let cut = next_merge_cut(rest);
            next.push(merge(&rest[..cut]));
            rest = &rest[cut..];
        }
        level = next;
    }
    level[0].0
}

/// How many leading nodes of `nodes` merge into one parent: all of them when 2 or fewer remain,
/// else up to and including the first node from index 2 on whose last word is a multiple of 4,
/// at most 9.
fn next_merge_cut(nodes: &[(Hash, u64)]) -> usize {
    if nodes.len() <= 2 {
        return nodes.len();
    }
    let end = nodes.len().min(9);
    (2..end)
        .find(|&i| nodes[i].0.words()[3].is_multiple_of(4))
        .map_or(end, |i| i + 1)
}

/// An internal node: the keyed hash of `"{hex} : {len}\n"` per child; its length is their sum.
fn merge(children: &[(Hash, u64)]) -> (Hash, u64) {
    let mut text = String::with_capacity(children.len() * 88);
    let mut total = 0u64;
    for (h, len) in children {
        text.push_str(&format!("{} : {len}\n", h.hex()));
        total = total.wrapping_add(*len);
    }
    (keyed(&INTERNAL_NODE_KEY, text.as_bytes()), total)
}

/// A file's Xet hash from all its chunks in file order (however they are split into xorbs):
/// the aggregation root keyed with a zero salt. An empty file's hash is [`Hash::ZERO`].
pub fn file_hash(chunks: &[(Hash, u64)]) -> Hash {
    if chunks.is_empty() {
        return Hash::ZERO;
    }
    hmac(&Hash::ZERO, &xorb_hash(chunks))
}

/// A term's verification hash (shards' `FileVerificationEntry`): the keyed hash of the raw
/// bytes of the chunk hashes of the term's xorb chunk range, in order.
pub fn range_hash(chunk_hashes: &[Hash]) -> Hash {
    let mut h = blake3::Hasher::new_keyed(&VERIFICATION_KEY);
    for c in chunk_hashes {
        h.update(&c.0);
    }
    Hash(*h.finalize().as_bytes())
}

/// `h` keyed with `key` (BLAKE3 keyed hash of the raw 32 bytes): global-dedup answers replace
/// every chunk hash by this, and the file hash is this with a zero key.
pub fn hmac(key: &Hash, h: &Hash) -> Hash {
    keyed(&key.0, &h.0)
}

/// Whether a chunk hash is one clients ask the global-dedup endpoint about by its value alone
/// (its last word is a multiple of 1024). File-start chunks and chunks flagged in a shard are
/// eligible too; that is for the caller to add.
pub fn dedup_eligible(h: &Hash) -> bool {
    h.words()[3].is_multiple_of(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq() -> Hash {
        let mut b = [0u8; 32];
        for (i, x) in b.iter_mut().enumerate() {
            *x = i as u8;
        }
        Hash(b)
    }

    #[test]
    fn hex_is_little_endian_words() {
        // The Xet spec's example (the research brief's copy dropped the "10" of the third word).
        let hex = "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918";
        assert_eq!(seq().hex(), hex);
        assert_eq!(seq().to_string(), hex);
        assert_eq!(format!("{:?}", seq()), hex);
        assert_eq!(Hash::from_hex(hex), Some(seq()));
        assert_eq!(Hash::from_hex(&hex.to_uppercase()), Some(seq()));
        assert_eq!(Hash::ZERO.hex(), "0".repeat(64));
    }

    #[test]
    fn from_hex_refuses_anything_else() {
        let hex = seq().hex();
        assert_eq!(Hash::from_hex(&hex[..63]), None);
        assert_eq!(Hash::from_hex(&format!("{hex}0")), None);
        assert_eq!(Hash::from_hex(&format!("{}g", &hex[..63])), None);
        assert_eq!(Hash::from_hex(&format!("+{}", &hex[1..])), None);
        assert_eq!(Hash::from_hex(""), None);
        // 64 bytes but not 64 characters of ASCII.
        assert_eq!(Hash::from_hex(&format!("é{}", &hex[2..])), None);
    }

    #[test]
    fn sha256_maps_to_its_usual_hex() {
        use sha2::{Digest, Sha256};
        let digest: [u8; 32] = Sha256::digest(b"hello").into();
        let h = Hash::from_sha256(digest);
        assert_eq!(
            h.hex(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(h.sha256_bytes(), digest);
        assert_ne!(h.0, digest);
    }

    #[test]
    fn aggregation_shapes() {
        let leaf = |i: u8| (chunk_hash(&[i]), 10 + u64::from(i));
        assert_eq!(xorb_hash(&[]), Hash::ZERO);
        // One leaf is its own root; the file hash still keys it.
        assert_eq!(xorb_hash(&[leaf(1)]), leaf(1).0);
        assert_eq!(file_hash(&[leaf(1)]), hmac(&Hash::ZERO, &leaf(1).0));
        assert_eq!(file_hash(&[]), Hash::ZERO);
        // Two leaves merge into one node whose text lists both.
        let text = format!("{} : 11\n{} : 12\n", leaf(1).0, leaf(2).0);
        let two = Hash(*blake3::keyed_hash(&INTERNAL_NODE_KEY, text.as_bytes()).as_bytes());
        assert_eq!(xorb_hash(&[leaf(1), leaf(2)]), two);
        // Groups are 3 to 9 nodes, except a tail of at most 2.
        let many: Vec<_> = (0..200).map(leaf).collect();
        let mut rest = &many[..];
        while rest.len() > 2 {
            let cut = next_merge_cut(rest);
            assert!((3..=9).contains(&cut), "{cut}");
            rest = &rest[cut..];
        }
        assert_ne!(xorb_hash(&many), xorb_hash(&many[..199]));
    }

    #[test]
    fn verification_and_hmac_are_keyed_blake3() {
        let hs = [chunk_hash(b"a"), chunk_hash(b"b")];
        let mut cat = Vec::new();
        cat.extend_from_slice(&hs[0].0);
        cat.extend_from_slice(&hs[1].0);
        let want = blake3::keyed_hash(&VERIFICATION_KEY, &cat);
        assert_eq!(range_hash(&hs).0, *want.as_bytes());
        assert_eq!(
            range_hash(&[]).0,
            *blake3::keyed_hash(&VERIFICATION_KEY, b"").as_bytes()
        );
        let key = seq();
        assert_eq!(
            hmac(&key, &hs[0]).0,
            *blake3::keyed_hash(&key.0, &hs[0].0).as_bytes()
        );
    }

    #[test]
    fn dedup_eligibility_reads_the_last_word() {
        let mut h = [0xffu8; 32];
        h[24..32].copy_from_slice(&(1024u64 * 7).to_le_bytes());
        assert!(dedup_eligible(&Hash(h)));
        h[24] = 1;
        assert!(!dedup_eligible(&Hash(h)));
        assert!(dedup_eligible(&Hash::ZERO));
    }
}
