//! LFS pointer files (`pointer-spec.md`): the small text blob git stores in place of a large file.

use crate::oid::Oid;

pub const VERSION: &str = "https://git-lfs.github.com/spec/v1";
/// Pointer files must be smaller than this, extensions included.
pub const MAX_POINTER_LEN: usize = 1024;

/// The two facts a v1 pointer records about an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pointer {
    pub oid: Oid,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointerError {
    #[error("pointer file is {0} bytes, more than the 1024 allowed")]
    TooLarge(usize),
    #[error("pointer file is not valid UTF-8")]
    NotUtf8,
    #[error("pointer file is malformed: {0}")]
    Malformed(&'static str),
}

impl Pointer {
    /// The one canonical encoding of this pointer.
    pub fn encode(&self) -> String {
        format!(
            "version {VERSION}\noid sha256:{}\nsize {}\n",
            self.oid, self.size
        )
    }

    /// Parses a pointer file, accepting only the canonical v1 form (extensions are refused).
    pub fn parse(data: &[u8]) -> Result<Pointer, PointerError> {
        if data.len() >= MAX_POINTER_LEN {
            return Err(PointerError::TooLarge(data.len()));
        }
        let text = std::str::from_utf8(data).map_err(|_| PointerError::NotUtf8)?;
        let body = text
            .strip_suffix('\n')
            .ok_or(PointerError::Malformed("missing final newline"))?;
        let mut lines = body.split('\n');
        let version = lines.next().and_then(|l| l.strip_prefix("version "));
        if version != Some(VERSION) {
            return Err(PointerError::Malformed("first line must be the v1 version"));
        }
        let oid = lines
            .next()
            .and_then(|l| l.strip_prefix("oid sha256:"))
            .ok_or(PointerError::Malformed(
                "second line must be `oid sha256:<hex>`",
            ))?
            .parse::<Oid>()
            .map_err(|_| PointerError::Malformed("oid is not 64 lowercase hex characters"))?;
        let size_text = lines
            .next()
            .and_then(|l| l.strip_prefix("size "))
            .ok_or(PointerError::Malformed("third line must be `size <bytes>`"))?;
        if size_text.is_empty()
            || !size_text.bytes().all(|b| b.is_ascii_digit())
            || (size_text.len() > 1 && size_text.starts_with('0'))
        {
            return Err(PointerError::Malformed(
                "size must be a non-negative integer",
            ));
        }
        let size = size_text
            .parse()
            .map_err(|_| PointerError::Malformed("size is out of range"))?;
        if lines.next().is_some() {
            return Err(PointerError::Malformed("unexpected extra lines"));
        }
        Ok(Pointer { oid, size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let p = Pointer {
            oid: Oid::of(b"hello"),
            size: 5,
        };
        assert_eq!(Pointer::parse(p.encode().as_bytes()), Ok(p));
    }

    #[test]
    fn refuses_non_canonical() {
        let p = Pointer {
            oid: Oid::of(b"x"),
            size: 1,
        }
        .encode();
        assert!(Pointer::parse(p.trim_end().as_bytes()).is_err());
        assert!(Pointer::parse(p.replace("size 1", "size 01").as_bytes()).is_err());
        assert!(Pointer::parse(p.replace("size 1", "size -1").as_bytes()).is_err());
        assert!(Pointer::parse(format!("{p}ext-0-foo sha256:00\n").as_bytes()).is_err());
        assert!(Pointer::parse(&vec![b'a'; 2000]).is_err());
    }
}
