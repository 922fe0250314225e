//! Where a chunk of a CSV table may end: after a line break outside quotes (RFC 4180), the quotes
//! followed as the parser reads them (a quote opens a field only at the field's start; inside,
//! `""` is a quote and a quote closes only before a delimiter or a line break). A quote the parser
//! reads otherwise is [`Point::Stray`]: the caller stops cutting.
//!
//! Two ways to choose among those places: [`last`], the last one in the bytes read (chunks as
//! long as they can be); and [`by_content`], one the records choose themselves. There a record
//! ends a chunk when a hash of its bytes says so (about once per `mean` bytes of records, once the
//! chunk holds `min` bytes), so the same records end chunks wherever they stand in the file: rows
//! inserted or deleted early in a table move the cuts only up to the next one they did not touch,
//! and a Parquet view written a row group a chunk keeps its other row groups byte for byte.

/// Where a chunk of `data` (which starts at a record's start) may end.
#[derive(Debug, PartialEq)]
pub(super) enum Point {
    /// After a line break outside quotes: `data[..n]` is whole records.
    At(usize),
    /// No line break outside quotes yet.
    None,
    /// A quote the parser reads otherwise than as RFC 4180 has it: stop cutting.
    Stray,
}

/// The last place in `data` a chunk may end.
pub(super) fn last(data: &[u8], delimiter: u8) -> Point {
    let mut last = None;
    let walked = outside_quotes(data, delimiter, |from, to| {
        if let Some(nl) = memchr::memrchr(b'\n', &data[from..to]) {
            last = Some(from + nl + 1);
        }
        false
    });
    match (walked, last) {
        (Err(Stray), _) => Point::Stray,
        (Ok(()), Some(n)) => Point::At(n),
        (Ok(()), None) => Point::None,
    }
}

/// The first record ending at or after `min` bytes whose hash picks it (a record of `len` bytes
/// with a chance of `len / mean`); where none does, the [`last`] place if `data` is `full` (no
/// more will be read for this chunk), else [`Point::None`].
pub(super) fn by_content(data: &[u8], delimiter: u8, min: usize, mean: usize, full: bool) -> Point {
    let mean = mean.max(1) as u64;
    let (mut start, mut last, mut picked) = (0, None, None);
    let walked = outside_quotes(data, delimiter, |from, to| {
        for nl in memchr::memchr_iter(b'\n', &data[from..to]) {
            let end = from + nl + 1;
            let record = &data[start..end];
            if end >= min && hash(record) % mean < record.len() as u64 {
                picked = Some(end);
                return true;
            }
            (start, last) = (end, Some(end));
        }
        false
    });
    match (walked, picked, last) {
        // A stray quote after the pick is the next chunk's to find.
        (_, Some(n), _) => Point::At(n),
        (Err(Stray), None, _) => Point::Stray,
        (Ok(()), None, Some(n)) if full => Point::At(n),
        (Ok(()), None, _) => Point::None,
    }
}

/// Where a chunk of at most `size` bytes cut [`by_content`] starts looking (`min`), and how far
/// apart its records pick themselves (`mean`): from an eighth of `size` on, a quarter of it
/// apart, so chunks are about three eighths of `size` and one in thirty runs to `size`. Picks
/// sparser than `min` is long let a cut moved by an edit fall back in step at the next one.
pub(super) fn spacing(size: usize) -> (usize, usize) {
    (size / 8, size / 4)
}

/// A stray quote.
struct Stray;

/// Calls `each` with every stretch of `data` outside quotes, in order (`from..to`), until it
/// returns true. Stretches stop where `data` ends inside quotes, or at a closing quote that is
/// its last byte (it may be the first of a `""`).
fn outside_quotes(
    data: &[u8],
    delimiter: u8,
    mut each: impl FnMut(usize, usize) -> bool,
) -> Result<(), Stray> {
    let mut outside_from = 0;
    let mut quotes = memchr::memchr_iter(b'"', data);
    while let Some(q) = quotes.next() {
        // The stretch before the quote first: a pick there stands whatever the quote is.
        if each(outside_from, q) {
            return Ok(());
        }
        let starts_field =
            q == 0 || matches!(data[q - 1], b'\n' | b'\r') || data[q - 1] == delimiter;
        if !starts_field {
            return Err(Stray);
        }
        // Inside quotes, to the quote that closes them.
        loop {
            let Some(c) = quotes.next() else {
                return Ok(());
            };
            match data.get(c + 1) {
                Some(b'"') => {
                    quotes.next();
                }
                Some(&b) if b == delimiter || b == b'\n' || b == b'\r' => {
                    outside_from = c + 1;
                    break;
                }
                None => return Ok(()),
                Some(_) => return Err(Stray),
            }
        }
    }
    each(outside_from, data.len());
    Ok(())
}

/// A hash of the bytes, eight at a time (a multiply and a rotation per word), its bits then
/// mixed (the finalizer of MurmurHash3) so the low ones are as good as the high. Not for an
/// adversary: a table that picks no record is only cut at the last place.
fn hash(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut h = (bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for w in &mut words {
        let w = u64::from_le_bytes(w.try_into().expect("eight bytes"));
        h = (h ^ w).wrapping_mul(0xff51_afd7_ed55_8ccd).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_places() {
        assert_eq!(last(b"a,b\nc,d\ne", b','), Point::At(8));
        assert_eq!(last(b"a,\"b\nc\"\nx", b','), Point::At(8));
        assert_eq!(last(b"a,\"b\nc", b','), Point::None);
        assert_eq!(last(b"x\na,\"b\nc", b','), Point::At(2));
        assert_eq!(last(b"a,b\"c\n", b','), Point::Stray);
        assert_eq!(last(b"a,\"b\"c\n", b','), Point::Stray);
        assert_eq!(last(b"a\t\"b\"\n", b'\t'), Point::At(6));
        assert_eq!(last(b"a,\"b\"\"\"\n", b','), Point::At(8));
    }

    /// The records of a table: `i,some text i`.
    fn rows(range: std::ops::Range<usize>) -> Vec<u8> {
        range
            .flat_map(|i| format!("{i},\"text, of row\n{i}\"\n").into_bytes())
            .collect()
    }

    /// Every cut of `data`, chunk after chunk, as the cutter makes them from `size` bytes.
    fn cuts(data: &[u8], size: usize) -> Vec<usize> {
        let (mut at, mut all) = (0, Vec::new());
        while data.len() - at > size {
            let window = &data[at..at + size];
            let (min, mean) = spacing(size);
            match by_content(window, b',', min, mean, true) {
                Point::At(n) => at += n,
                other => panic!("{other:?} at {at}"),
            }
            all.push(at);
        }
        all
    }

    #[test]
    fn content_cuts_fall_on_records_and_come_back_after_an_edit() {
        let table = rows(0..20_000);
        let size = 16 << 10;
        let before = cuts(&table, size);
        assert!(before.len() > 20, "{} cuts", before.len());
        for w in before.windows(2) {
            assert!(w[1] - w[0] >= size / 8 && w[1] - w[0] <= size, "{w:?}");
        }
        for &c in &before {
            assert_eq!(table[c - 1], b'\n');
            assert!(table[c].is_ascii_digit(), "a record starts at {c}");
        }
        // A few rows inserted near the start, and some deleted later on.
        let mut edited = rows(0..100);
        edited.extend(b"x,\"new\nrow\"\ny,inserted\n");
        edited.extend(rows(100..5_000));
        edited.extend(rows(5_040..20_000));
        let after = cuts(&edited, size);
        // After each edit the cuts are the same records again: those past the last edit, all.
        let shift = edited.len() as i64 - table.len() as i64;
        let tail_before: Vec<i64> = before.iter().map(|&c| c as i64 + shift).collect();
        let common = after
            .iter()
            .filter(|&&c| tail_before.contains(&(c as i64)))
            .count();
        let past_edits = before.iter().filter(|&&c| c > rows(0..5_100).len()).count();
        assert!(common + 2 >= past_edits, "{common} of {past_edits}");
    }

    #[test]
    fn content_cuts_fall_back_to_the_last_place_and_stop_at_strays() {
        // One record too short to be picked before `min`: the last place then.
        assert_eq!(
            by_content(b"a\nb\nc", b',', 100, 1 << 20, true),
            Point::At(4)
        );
        // Not full: more is to be read first.
        assert_eq!(
            by_content(b"a\nb\nc", b',', 100, 1 << 20, false),
            Point::None
        );
        assert_eq!(by_content(b"a,\"b\nc", b',', 0, 1, true), Point::None);
        // A mean of one byte picks the first record at or past `min`.
        assert_eq!(by_content(b"ab\ncd\nef\n", b',', 4, 1, true), Point::At(6));
        assert_eq!(
            by_content(b"ab\ncd\"e\n", b',', 0, 1 << 20, true),
            Point::Stray
        );
        // A stray after the pick is the next chunk's, however far the bytes read reach.
        for (data, min, want) in [
            (&b"ab\ncd\"e\n"[..], 0, Point::At(3)),
            (b"ab\n\"q\"\ncd\"e\n", 0, Point::At(3)),
            (b"ab\n\"q\"\ncd\"e\n", 4, Point::At(7)),
            (b"ab\n\"q\"\ncd\"e\n", 8, Point::Stray),
        ] {
            assert_eq!(by_content(data, b',', min, 1, true), want, "{min}");
        }
    }
}
