//! Object ids: the lowercase hex sha256 of an object's content, the only hash Git LFS defines.

use std::fmt;
use std::str::FromStr;

/// A validated sha256 object id: exactly 64 lowercase hexadecimal characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Oid([u8; 32]);

/// Why a string is not an object id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidError {
    #[error("oid must be 64 characters long, got {0}")]
    Length(usize),
    #[error("oid must be lowercase hexadecimal")]
    NotLowerHex,
}

impl Oid {
    /// The oid of the empty object (`e3b0c442…b855`): git-lfs never uploads it.
    pub const EMPTY: Oid = Oid([
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9,
        0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52,
        0xb8, 0x55,
    ]);

    /// The oid of the given bytes.
    pub fn of(content: &[u8]) -> Oid {
        use sha2::Digest;
        Oid(sha2::Sha256::digest(content).into())
    }

    pub fn from_digest(digest: [u8; 32]) -> Oid {
        Oid(digest)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex digits, without allocating.
    pub fn hex(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        // Cannot fail: the buffer is exactly twice the digest's length.
        let _ = hex::encode_to_slice(self.0, &mut out);
        out
    }

    /// Storage key below a prefix: `{oid[0:2]}/{oid[2:4]}/{oid}`.
    pub fn fanout_path(&self) -> String {
        let hex = self.to_string();
        format!("{}/{}/{}", &hex[0..2], &hex[2..4], hex)
    }
}

/// Lowercase hex of `bytes`, through a buffer rather than `hex::encode`'s per-char iterator.
pub fn lower_hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    // Cannot fail: the buffer is exactly twice as long as the input.
    let _ = hex::encode_to_slice(bytes, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

impl FromStr for Oid {
    type Err = OidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(OidError::Length(s.len()));
        }
        // One pass that validates and decodes: this runs for every object of every batch.
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            }
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
            let (hi, lo) = nibble(pair[0])
                .zip(nibble(pair[1]))
                .ok_or(OidError::NotLowerHex)?;
            *byte = hi << 4 | lo;
        }
        Ok(Oid(out))
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.hex();
        // Hex digits are ASCII.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

impl serde::Serialize for Oid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Oid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_the_hash_of_nothing() {
        assert_eq!(Oid::EMPTY, Oid::of(b""));
    }

    #[test]
    fn parses_and_prints_round_trip() {
        let s = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";
        let oid: Oid = s.parse().unwrap();
        assert_eq!(oid.to_string(), s);
        assert_eq!(oid.fanout_path(), format!("4d/7a/{s}"));
    }

    #[test]
    fn rejects_bad_oids() {
        assert_eq!("abc".parse::<Oid>(), Err(OidError::Length(3)));
        let upper = "4D7A214614AB2935C943F9E0FF69D22EADBB8F32B1258DAAA5E2CA24D17E2393";
        assert_eq!(upper.parse::<Oid>(), Err(OidError::NotLowerHex));
        let nonhex = "g".repeat(64);
        assert_eq!(nonhex.parse::<Oid>(), Err(OidError::NotLowerHex));
        let traversal = format!("../{}", "a".repeat(61));
        assert!(traversal.parse::<Oid>().is_err());
    }

    #[test]
    fn hashes_content() {
        assert_eq!(
            Oid::of(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
