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
        // Within i64, as git-lfs reads it (`strconv.ParseInt`): a larger size is no pointer to it.
        let size = size_text
            .parse::<i64>()
            .map_err(|_| PointerError::Malformed("size is out of range"))?
            .unsigned_abs();
        if lines.next().is_some() {
            return Err(PointerError::Malformed("unexpected extra lines"));
        }
        Ok(Pointer { oid, size })
    }
}

/// Version lines git-lfs accepts as v1 (`lfs/pointer.go`, `v1Aliases`).
const V1_ALIASES: [&str; 3] = [
    "http://git-media.io/v/2",
    "https://hawser.github.com/spec/v1",
    VERSION,
];

/// Decodes `data` the way git-lfs decides whether a blob is a pointer (`DecodePointer` in
/// git-lfs 3.x), so that the push checks see every pointer a client would smudge: the whole blob
/// trimmed, CRLF or LF lines, blank lines skipped, `ext-N-name sha256:<hex>` extension lines
/// anywhere before `size`, the v1 version aliases, a size with leading zeros or `+`, and the
/// empty blob (the empty object, size 0). Like git-lfs's `DecodeFrom`, only the first 1024 bytes
/// count: a longer blob that starts with a (whitespace-padded) pointer is a pointer to git-lfs's
/// smudge filter, so it is one here too. `None` means git-lfs treats it as a plain file.
pub fn lenient(data: &[u8]) -> Option<Pointer> {
    let data = &data[..data.len().min(MAX_POINTER_LEN)];
    if data.is_empty() {
        return Some(Pointer {
            oid: Oid::EMPTY,
            size: 0,
        });
    }
    let text = String::from_utf8_lossy(data);
    if !["git-media", "hawser", "git-lfs"]
        .iter()
        .any(|m| text.contains(m))
    {
        return None;
    }
    const KEYS: [&str; 3] = ["version", "oid", "size"];
    let mut values: [&str; 3] = [""; 3];
    let mut seen = 0;
    let mut priorities = [false; 10];
    for line in text.trim().split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let (key, value) = line.split_once(' ')?;
        if seen == KEYS.len() {
            return None; // an extra line after `size`
        }
        if key == KEYS[seen] {
            values[seen] = value;
            seen += 1;
            continue;
        }
        // `\Aext-\d{1}-\w+`: an extension, whose value must be a sha256 oid.
        let rest = key.strip_prefix("ext-")?;
        let (digit, name) = (rest.as_bytes().first()?, rest.get(1..)?);
        let word = name.strip_prefix('-')?;
        if !digit.is_ascii_digit()
            || !word
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return None;
        }
        value.strip_prefix("sha256:")?.parse::<Oid>().ok()?;
        let priority = usize::from(digit - b'0');
        if std::mem::replace(&mut priorities[priority], true) {
            return None; // a duplicate priority
        }
    }
    if seen < KEYS.len() || !V1_ALIASES.contains(&values[0]) {
        return None;
    }
    let oid = values[1].strip_prefix("sha256:")?.parse::<Oid>().ok()?;
    let size = parse_go_int(values[2])?;
    Some(Pointer { oid, size })
}

/// Go's `strconv.ParseInt(s, 10, 64)` for values that are not negative: an optional sign, then
/// decimal digits (leading zeros allowed), within `i64`. `-0` is 0.
fn parse_go_int(s: &str) -> Option<u64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    match (negative, n) {
        (true, 0) => Some(0),
        (true, _) => None,
        (false, n) => Some(n as u64),
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
        // Past i64 git-lfs sees no pointer, so neither does the strict reader (found by
        // fuzz/fuzz_targets/lfs_pointer.rs: the two readers disagreed).
        let max = p.replace("size 1", &format!("size {}", i64::MAX));
        assert_eq!(
            Pointer::parse(max.as_bytes()).unwrap().size,
            i64::MAX as u64
        );
        let past = p.replace("size 1", "size 9223372036854775808");
        assert!(Pointer::parse(past.as_bytes()).is_err());
        assert_eq!(lenient(past.as_bytes()), None);
    }

    #[test]
    fn lenient_accepts_what_git_lfs_accepts() {
        let oid = Oid::of(b"x");
        let want = Some(Pointer { oid, size: 1 });
        let canonical = Pointer { oid, size: 1 }.encode();
        let ext = format!("ext-0-foo sha256:{}", Oid::of(b"y"));
        for spelled in [
            canonical.clone(),
            canonical.replace('\n', "\r\n"),
            canonical.trim_end().to_owned(),
            format!("\n\n{canonical}\n\n"),
            canonical.replace("size 1", "size 0001"),
            canonical.replace("size 1", "size +1"),
            canonical.replace("\noid", "\n\noid"),
            canonical.replace(VERSION, "https://hawser.github.com/spec/v1"),
            canonical.replace(VERSION, "http://git-media.io/v/2"),
            canonical.replace("\nsize", &format!("\n{ext}\nsize")),
            format!("{ext}\n{canonical}"),
        ] {
            assert_eq!(lenient(spelled.as_bytes()), want, "{spelled:?}");
        }
        assert_eq!(
            lenient(b""),
            Some(Pointer {
                oid: Oid::EMPTY,
                size: 0
            })
        );
        for not in [
            canonical.replace("size 1", "size -1"),
            canonical.replace("size 1", "size  1"),
            canonical.replace("sha256:", "sha512:"),
            canonical.to_uppercase(),
            format!("{canonical}extra line\n"),
            canonical.replace(VERSION, "https://git-lfs.github.com/spec/v2"),
            canonical.replace("\nsize 1", ""),
            format!("{ext}\n{}\n{canonical}", ext.replace("foo", "bar")),
            "plain text".into(),
        ] {
            assert_eq!(lenient(not.as_bytes()), None, "{not:?}");
        }
        assert_eq!(
            lenient(canonical.replace("size 1", "size -0").as_bytes()),
            Some(Pointer { oid, size: 0 })
        );
        // Only the first 1024 bytes count, as in git-lfs's DecodeFrom.
        let mut padded = canonical.clone().into_bytes();
        padded.resize(MAX_POINTER_LEN, b'\n');
        padded.extend_from_slice(b"anything at all after the first 1024 bytes");
        assert_eq!(lenient(&padded), want);
        let mut long = canonical.into_bytes();
        long.resize(MAX_POINTER_LEN + 10, b'x');
        assert_eq!(lenient(&long), None);
    }
}
