//! CSV records as field slices, fast: a line without quotes or stray carriage returns (nearly
//! every line of machine-written data) is split on commas in place with `memchr`, without
//! copying; any other record goes through `csv_core`'s parser (quotes, escaped quotes, newlines
//! inside fields), so every RFC 4180 file reads correctly. Empty lines are skipped, `\r\n` and
//! `\n` both end records, and every record must have as many fields as the header.

use std::io::Read;
use std::ops::Range;

use crate::error::TableError;

/// Input is read this much at a time (a line longer than this grows the buffer).
const READ: usize = 1 << 20;

/// The longest record accepted: memory stays bounded whatever the file holds.
pub const MAX_RECORD: usize = 16 << 20;

fn too_long() -> TableError {
    TableError::Invalid(format!("a record is longer than {} MiB", MAX_RECORD >> 20))
}

/// A reader of CSV records from `R`.
pub struct Records<R> {
    input: R,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    /// The current record's fields, as ranges of `buf` (fast path) or of `scratch`.
    fields: Vec<Range<usize>>,
    scratch: Vec<u8>,
    ends: Vec<usize>,
    core: csv_core::Reader,
    delimiter: u8,
    /// Records read so far (the header is record 1).
    count: u64,
    /// Fields per record (from the header; 0 until it is read).
    width: usize,
}

/// One record: field `i` is `record.get(i)`.
pub struct Record<'a> {
    data: &'a [u8],
    fields: &'a [Range<usize>],
    /// Its number in the file (the header is 1).
    pub number: u64,
    /// Read in place from a line without quotes: its fields need no quoting, and the bytes
    /// between them are single commas.
    pub plain: bool,
}

impl Record<'_> {
    pub fn get(&self, i: usize) -> &[u8] {
        &self.data[self.fields[i].clone()]
    }

    /// For a [`Record::plain`] record: fields `first..=last` with the commas between them.
    pub fn span(&self, first: usize, last: usize) -> &[u8] {
        &self.data[self.fields[first].start..self.fields[last].end]
    }

    /// The record's fields as text: one UTF-8 check for the whole record, each field then a
    /// slice of it. `None` when the record is not all UTF-8: its fields are to be checked one by
    /// one.
    pub fn text(&self) -> Option<Text<'_>> {
        let (first, last) = (self.fields.first()?, self.fields.last()?);
        let text = std::str::from_utf8(&self.data[first.start..last.end]).ok()?;
        Some(Text {
            text,
            at: first.start,
            fields: self.fields,
        })
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// A record's fields as text ([`Record::text`]).
pub struct Text<'a> {
    text: &'a str,
    /// Where `text` starts in the record's data.
    at: usize,
    fields: &'a [Range<usize>],
}

impl<'a> Text<'a> {
    /// Field `i`; `None` when it does not start and end on a character (it is not UTF-8 on its
    /// own).
    pub fn get(&self, i: usize) -> Option<&'a str> {
        let f = &self.fields[i];
        self.text.get(f.start - self.at..f.end - self.at)
    }
}

impl<R: Read> Records<R> {
    pub fn new(input: R) -> Records<R> {
        Records::with_delimiter(input, b',')
    }

    /// Records separated by `delimiter` (a tab for TSV, a datapackage's `dialect`).
    pub fn with_delimiter(input: R, delimiter: u8) -> Records<R> {
        Records {
            input,
            buf: vec![0; READ],
            start: 0,
            end: 0,
            eof: false,
            fields: Vec::new(),
            scratch: vec![0; 4096],
            ends: vec![0; 64],
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            delimiter,
            count: 0,
            width: 0,
        }
    }

    /// A reader that has read `data` from `input` already (`eof`: and all of it), for a table of
    /// `width` fields, numbering records on from `count` read before (see
    /// [`crate::table::parallel`]).
    pub(crate) fn resume(
        input: R,
        data: Vec<u8>,
        eof: bool,
        delimiter: u8,
        width: usize,
        count: u64,
    ) -> Records<R> {
        let end = data.len();
        let mut buf = data;
        if !eof && buf.len() < READ {
            buf.resize(READ, 0);
        }
        Records {
            input,
            buf,
            start: 0,
            end,
            eof,
            fields: Vec::new(),
            scratch: vec![0; 4096],
            ends: vec![0; 64],
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            delimiter,
            count,
            width,
        }
    }

    /// All the bytes a [`Records::resume`]d reader of a whole chunk was given.
    pub(crate) fn into_data(self) -> Vec<u8> {
        let mut data = self.buf;
        data.truncate(self.end);
        data
    }

    /// Records read so far (the header is record 1).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Fields per record (0 until the header is read).
    pub(crate) fn width(&self) -> usize {
        self.width
    }

    pub(crate) fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The bytes read but not parsed yet, and the input after them.
    pub(crate) fn into_rest(mut self) -> (Vec<u8>, R) {
        self.buf.truncate(self.end);
        self.buf.drain(..self.start);
        (self.buf, self.input)
    }

    /// Moves the unread bytes to the front and reads more after them (growing the buffer when
    /// it is full). False at the end of the input.
    fn fill(&mut self) -> Result<bool, TableError> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() > MAX_RECORD {
                return Err(too_long());
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.input.read(&mut self.buf[self.end..])?;
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.end += n;
        Ok(true)
    }

    /// The next record, or `None` at the end.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, TableError> {
        // How far the unread bytes were scanned already (a long line is not scanned again).
        let mut scanned = 0;
        let fast = loop {
            let avail = &self.buf[self.start..self.end];
            // One pass finds the line's end, or a quote or carriage return before it.
            let hit = memchr::memchr3(b'\n', b'"', b'\r', &avail[scanned..]).map(|i| i + scanned);
            let (line_end, cut) = match hit {
                Some(i) if avail[i] == b'\n' => (i, 0),
                Some(i) if avail[i] == b'\r' && avail.get(i + 1) == Some(&b'\n') => (i + 1, 1),
                Some(i) if avail[i] == b'\r' && i + 1 == avail.len() && !self.eof => {
                    scanned = i;
                    self.fill()?;
                    continue;
                }
                Some(_) => break false,
                None if self.eof => (avail.len(), 0),
                None => {
                    scanned = avail.len();
                    self.fill()?;
                    continue;
                }
            };
            if avail.is_empty() {
                return Ok(None);
            }
            let line = &avail[..line_end - cut];
            let (from, next) = (self.start, self.start + (line_end + 1).min(avail.len()));
            self.start = next;
            if line.is_empty() {
                continue;
            }
            self.fields.clear();
            let mut at = from;
            for comma in memchr::memchr_iter(self.delimiter, line) {
                self.fields.push(at..from + comma);
                at = from + comma + 1;
            }
            self.fields.push(at..from + line.len());
            break true;
        };
        if !fast {
            self.slow()?;
        }
        self.count += 1;
        if self.width == 0 {
            self.width = self.fields.len();
        } else if self.fields.len() != self.width {
            return Err(TableError::Invalid(format!(
                "record {} has {} fields, the header {}",
                self.count,
                self.fields.len(),
                self.width
            )));
        }
        Ok(Some(Record {
            data: if fast { &self.buf } else { &self.scratch },
            fields: &self.fields,
            number: self.count,
            // A span of plain fields is CSV as it stands only when commas separate them.
            plain: fast && self.delimiter == b',',
        }))
    }

    /// One record through `csv_core` (it may span lines and reads), into `scratch`.
    fn slow(&mut self) -> Result<(), TableError> {
        let (mut out, mut nends) = (0, 0);
        loop {
            let input = &self.buf[self.start..self.end];
            let (result, nin, nout, nend) =
                self.core
                    .read_record(input, &mut self.scratch[out..], &mut self.ends[nends..]);
            self.start += nin;
            out += nout;
            nends += nend;
            match result {
                csv_core::ReadRecordResult::Record => break,
                csv_core::ReadRecordResult::InputEmpty => {
                    if !self.fill()? && self.start == self.end {
                        // Ask the parser to finish with no more input.
                        let (r, _, nout, nend) = self.core.read_record(
                            &[],
                            &mut self.scratch[out..],
                            &mut self.ends[nends..],
                        );
                        out += nout;
                        nends += nend;
                        if matches!(r, csv_core::ReadRecordResult::Record) {
                            break;
                        }
                        match r {
                            csv_core::ReadRecordResult::OutputFull => {
                                self.scratch.resize(self.scratch.len() * 2, 0);
                                continue;
                            }
                            csv_core::ReadRecordResult::OutputEndsFull => {
                                self.ends.resize(self.ends.len() * 2, 0);
                                continue;
                            }
                            _ => {}
                        }
                        return Err(TableError::Invalid("the table ends inside a record".into()));
                    }
                }
                csv_core::ReadRecordResult::OutputFull => {
                    if self.scratch.len() > MAX_RECORD {
                        return Err(too_long());
                    }
                    self.scratch.resize(self.scratch.len() * 2, 0)
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    self.ends.resize(self.ends.len() * 2, 0)
                }
                csv_core::ReadRecordResult::End => {
                    return Err(TableError::Invalid("the table ends inside a record".into()))
                }
            }
        }
        self.fields.clear();
        let mut at = 0;
        for &e in &self.ends[..nends] {
            self.fields.push(at..e);
            at = e;
        }
        Ok(())
    }
}

/// Writes `field` as a CSV field: quoted (with quotes doubled) when it holds a comma, a quote or
/// a line break.
pub fn write_field(out: &mut Vec<u8>, field: &[u8]) {
    if memchr::memchr3(b',', b'"', b'\n', field).is_none() && memchr::memchr(b'\r', field).is_none()
    {
        out.extend_from_slice(field);
        return;
    }
    out.push(b'"');
    for &b in field {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &[u8], chunk: usize) -> Result<Vec<Vec<String>>, TableError> {
        // A reader that hands out at most `chunk` bytes at a time, to cross buffer edges.
        struct Slow<'a>(&'a [u8], usize);
        impl Read for Slow<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut r = Records::new(Slow(text, chunk));
        let mut rows = Vec::new();
        while let Some(rec) = r.next_record()? {
            rows.push(
                (0..rec.len())
                    .map(|i| String::from_utf8(rec.get(i).to_vec()).unwrap())
                    .collect(),
            );
        }
        Ok(rows)
    }

    #[test]
    fn plain_quoted_and_crlf_records() {
        let text = b"a,b,c\r\n1,,3\n\n\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\nlast,1,2";
        for chunk in [1, 3, 7, 4096] {
            let rows = all(text, chunk).unwrap();
            assert_eq!(
                rows,
                [
                    vec!["a", "b", "c"],
                    vec!["1", "", "3"],
                    vec!["x,y", "say \"hi\"", "two\nlines"],
                    vec!["last", "1", "2"],
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn ragged_and_unterminated_records_are_errors() {
        assert!(all(b"a,b\n1\n", 4096).is_err());
        assert!(all(b"a,b\n\"open,2\n", 4096).is_err());
        assert!(all(b"", 4096).unwrap().is_empty());
    }

    #[test]
    fn a_record_as_text_or_its_fields_one_by_one() {
        let text = b"a,b\nx,caf\xc3\xa9\n\"\xc3\",\"\xa9\"\ny,\xff\n";
        let mut r = Records::new(&text[..]);
        r.next_record().unwrap();
        let rec = r.next_record().unwrap().unwrap();
        let t = rec.text().unwrap();
        assert_eq!((t.get(0), t.get(1)), (Some("x"), Some("caf\u{e9}")));
        // Two quoted halves of one character: the record reads as text, neither field does.
        let rec = r.next_record().unwrap().unwrap();
        let t = rec.text().unwrap();
        assert_eq!((t.get(0), t.get(1)), (None, None));
        // Not UTF-8 at all: its fields are for the caller to check one by one.
        let rec = r.next_record().unwrap().unwrap();
        assert!(rec.text().is_none());
        assert_eq!(rec.get(0), b"y");
    }

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let mut out = Vec::new();
        for f in [&b"plain"[..], b"a,b", b"q\"", b"l\nm"] {
            write_field(&mut out, f);
            out.push(b'|');
        }
        assert_eq!(out, b"plain|\"a,b\"|\"q\"\"\"|\"l\nm\"|");
    }
}
