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

    /// Storage key below a prefix: `{oid[0:2]}/{oid[2:4]}/{oid}`.
    pub fn fanout_path(&self) -> String {
        let hex = self.to_string();
        format!("{}/{}/{}", &hex[0..2], &hex[2..4], hex)
    }
}

impl FromStr for Oid {
    type Err = OidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(OidError::Length(s.len()));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(OidError::NotLowerHex);
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| OidError::NotLowerHex)?;
        Ok(Oid(out))
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
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
