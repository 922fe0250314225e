//! Xet content-defined chunking: a gear rolling hash (the `gearhash` crate's default table) cuts
//! a byte stream into chunks of 8 KiB to 128 KiB, 64 KiB on average, exactly where `hf_xet`
//! cuts it, so that the server's chunks of an object deduplicate against the clients'.

use std::ops::Range;

/// The smallest chunk, except a stream's last.
pub const MIN_CHUNK: usize = 8192;
/// The largest chunk: a chunk is cut here when the hash found no boundary.
pub const MAX_CHUNK: usize = 131072;

/// A boundary is where the gear hash has its top 16 bits clear (target size 64 KiB).
const MASK: u64 = 0xFFFF_0000_0000_0000;

/// The gear hash depends only on the last 64 bytes (each byte's term is shifted out after 64
/// more), so the bytes of a chunk before `MIN_CHUNK - 64` never affect a boundary: skip them.
const SKIP: usize = MIN_CHUNK - 64;

/// A streaming chunker: feed it bytes in pieces of any size; the chunk lengths it reports do not
/// depend on how the stream was split.
#[derive(Debug, Clone)]
pub struct Chunker {
    hasher: gearhash::Hasher<'static>,
    /// Bytes of the current, unfinished chunk seen so far.
    len: usize,
}

impl Default for Chunker {
    fn default() -> Self {
        Chunker::new()
    }
}

impl Chunker {
    pub fn new() -> Chunker {
        Chunker {
            hasher: gearhash::Hasher::default(),
            len: 0,
        }
    }

    /// Feeds bytes; returns the lengths of the chunks completed within them, in order (the
    /// first may have started in an earlier call). The unfinished tail is kept as state.
    pub fn push(&mut self, data: &[u8]) -> Vec<usize> {
        let mut done = Vec::new();
        let mut pos = 0;
        while pos < data.len() {
            let rest = &data[pos..];
            if self.len < SKIP {
                let n = rest.len().min(SKIP - self.len);
                self.len += n;
                pos += n;
            } else if self.len < MIN_CHUNK - 1 {
                // Within the hash window before the minimum: hash, but no boundary yet.
                let n = rest.len().min(MIN_CHUNK - 1 - self.len);
                self.hasher.update(&rest[..n]);
                self.len += n;
                pos += n;
            } else {
                // The next byte makes the chunk at least MIN_CHUNK long: look for a boundary.
                let n = rest.len().min(MAX_CHUNK - self.len);
                let cut = self.hasher.next_match(&rest[..n], MASK);
                let step = cut.unwrap_or(n);
                self.len += step;
                pos += step;
                if cut.is_some() || self.len == MAX_CHUNK {
                    done.push(self.len);
                    self.reset();
                }
            }
        }
        done
    }

    /// Ends the stream: the length of the last, unfinished chunk (0 if there is none). The
    /// chunker is then ready for a new stream.
    pub fn finish(&mut self) -> usize {
        let last = self.len;
        self.reset();
        last
    }

    fn reset(&mut self) {
        self.len = 0;
        self.hasher.set_hash(0);
    }
}

/// The chunks of a whole buffer, as byte ranges covering it in order (none for empty input).
pub fn chunks(data: &[u8]) -> Vec<Range<usize>> {
    let mut c = Chunker::new();
    let mut lens = c.push(data);
    lens.push(c.finish());
    let mut start = 0;
    lens.into_iter()
        .filter(|&n| n > 0)
        .map(|n| {
            start += n;
            start - n..start
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xet::tests::lcg;

    /// The rule spelled out byte by byte, as the Xet spec states it.
    fn reference(data: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        let (mut h, mut len) = (0u64, 0usize);
        for &b in data {
            h = (h << 1).wrapping_add(gearhash::DEFAULT_TABLE[b as usize]);
            len += 1;
            if len >= MAX_CHUNK || (len >= MIN_CHUNK && h & MASK == 0) {
                out.push(len);
                h = 0;
                len = 0;
            }
        }
        if len > 0 {
            out.push(len);
        }
        out
    }

    fn lens(ranges: &[Range<usize>]) -> Vec<usize> {
        ranges.iter().map(|r| r.len()).collect()
    }

    #[test]
    fn the_gear_table_is_xets() {
        let t = &gearhash::DEFAULT_TABLE;
        assert_eq!(t[0], 0xb088d3a9e840f559);
        assert_eq!(t[1], 0x5652c7f739ed20d6);
        assert_eq!(t[255], 0x63c7a906c1dd187b);
    }

    #[test]
    fn matches_the_byte_by_byte_rule() {
        let data = lcg(1_500_000, 1);
        let got = chunks(&data);
        assert_eq!(lens(&got), reference(&data));
        assert!(got.len() > 10);
        assert_eq!(got.last().map(|r| r.end), Some(data.len()));
        // Zeros never match (the table's entry for 0 is odd): all chunks are the maximum.
        assert_eq!(lens(&chunks(&[0; 300_000])), [MAX_CHUNK, MAX_CHUNK, 37856]);
    }

    #[test]
    fn boundaries_do_not_depend_on_how_input_is_split() {
        let data = lcg(700_000, 2);
        let whole = lens(&chunks(&data));
        for piece in [
            1usize, 7, 63, 64, 65, 4096, 8127, 8128, 8191, 8192, 65536, 131073,
        ] {
            let mut c = Chunker::new();
            let mut got = Vec::new();
            for p in data.chunks(piece) {
                got.extend(c.push(p));
            }
            got.push(c.finish());
            got.retain(|&n| n > 0);
            assert_eq!(got, whole, "pieces of {piece}");
        }
        // Uneven pieces too.
        let mut c = Chunker::new();
        let (mut got, mut pos, mut step) = (Vec::new(), 0, 1);
        while pos < data.len() {
            let end = (pos + step).min(data.len());
            got.extend(c.push(&data[pos..end]));
            pos = end;
            step = step * 3 % 20011 + 1;
        }
        got.push(c.finish());
        assert_eq!(got, whole);
    }

    #[test]
    fn small_and_empty_inputs() {
        assert!(chunks(&[]).is_empty());
        assert_eq!(lens(&chunks(&[7; 5000])), [5000]);
        let mut c = Chunker::new();
        assert!(c.push(&[]).is_empty());
        assert_eq!(c.finish(), 0);
        assert!(c.push(&[1; 100]).is_empty());
        assert_eq!(c.finish(), 100);
        // finish() resets: the next stream starts fresh.
        let data = lcg(400_000, 3);
        let mut got = c.push(&data);
        got.push(c.finish());
        assert_eq!(got, reference(&data));
    }
}
