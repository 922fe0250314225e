//! A table read on several threads: the rest of a CSV table (after its header) is cut into chunks
//! of whole records, each chunk goes through the plan on one of a few worker threads, and the
//! results are handed on in the order of the file. Memory stays bounded: at most a few chunks are
//! read ahead of the slowest one, and a reader that stops (a client gone) stops everything.
//!
//! A chunk may only end where a record ends ([`super::cuts`]: the last such place, or one the
//! records choose, for Parquet whose row groups should not move with an edit elsewhere); at a
//! stray quote the parser reads otherwise than RFC 4180 it stops cutting, and the rest of the
//! table is read on one thread, after the chunks before it, exactly as it would have been.
//! Errors name the record as a single-threaded read does: a chunk that fails is read again once
//! its place in the file is known.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

use arrow_array::RecordBatch;

use super::cuts::{self, Point};
use super::{Plan, TableError};
use crate::records::{Records, MAX_RECORD};

/// Bytes per chunk: enough that handing it over costs nothing next to reading it.
const CHUNK: usize = 2 << 20;

/// The threads to transform on: this machine's cores, up to four.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

/// [`super::write_csv`] on `threads` threads.
pub fn write_csv<R: Read + Send, W: std::io::Write>(
    reader: Records<R>,
    plan: &Plan,
    mut out: W,
    threads: usize,
) -> Result<u64, TableError> {
    let mut header = Vec::new();
    super::write_header(plan, &mut header);
    out.write_all(&header)?;
    let mut rows = 0;
    in_chunks(
        reader,
        threads,
        |records, out| {
            // A chunk's rows, gathered (they are about as long as the chunk).
            let mut buf = Vec::with_capacity(super::OUT + 4096);
            let mut rows = Vec::with_capacity(CHUNK + CHUNK / 4);
            let n = super::write_rows(records, plan, &mut buf, &mut rows)?;
            rows.extend_from_slice(&buf);
            out((rows, n))
        },
        |(buf, n)| {
            rows += n;
            Ok(out.write_all(&buf)?)
        },
    )?;
    out.flush()?;
    Ok(rows)
}

/// [`super::batches`] on `threads` threads: batches of up to [`super::BATCH_ROWS`] rows (a
/// chunk's last may hold fewer), handed to `sink` in the order of the file.
pub fn batches<R: Read + Send>(
    reader: Records<R>,
    plan: &Plan,
    threads: usize,
    mut sink: impl FnMut(RecordBatch) -> Result<(), TableError>,
) -> Result<u64, TableError> {
    let mut rows = 0;
    in_chunks(
        reader,
        threads,
        |records, out| super::arrow::batches_of(records, plan, false, out).map(|_| ()),
        |b| {
            rows += b.num_rows() as u64;
            sink(b)
        },
    )?;
    if rows == 0 {
        sink(RecordBatch::new_empty(plan.schema()))?;
    }
    Ok(rows)
}

/// [`super::write_arrow`] on `threads` threads.
pub fn write_arrow<R: Read + Send, W: std::io::Write>(
    reader: Records<R>,
    plan: &Plan,
    out: W,
    threads: usize,
) -> Result<u64, TableError> {
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(out, &plan.schema())?;
    let rows = batches(reader, plan, threads, |b| Ok(writer.write(&b)?))?;
    writer.finish()?;
    Ok(rows)
}

/// What a worker's records are read from: nothing more for a chunk, the rest of the input
/// where cutting stopped.
pub(crate) type Input<'a> = Box<dyn Read + 'a>;

/// Where the records of a chunk start in the file, and the chunk.
struct Piece {
    seq: u64,
    data: Vec<u8>,
}

/// What a worker made of a piece: its results and the records it read, or the piece back.
type Done<T> = (u64, Result<(Vec<T>, u64), Vec<u8>>);

/// Where a worker hands its results on: gathered for a chunk, to `emit` for the rest.
pub(crate) type Out<'a, T> = &'a mut dyn FnMut(T) -> Result<(), TableError>;

/// Runs `work` over the records after the header, chunk by chunk on up to `threads` threads, and
/// `emit` over each result in the order of the file (on the calling thread).
fn in_chunks<R: Read + Send, T: Send>(
    reader: Records<R>,
    threads: usize,
    work: impl Fn(&mut Records<Input<'_>>, Out<'_, T>) -> Result<(), TableError> + Sync,
    emit: impl FnMut(T) -> Result<(), TableError>,
) -> Result<(), TableError> {
    in_chunks_of(CHUNK, Cuts::Last, reader, threads, work, emit)
}

/// Where the cutter ends each chunk ([`super::cuts`]).
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Cuts {
    /// At the last record boundary in `size` bytes: chunks of at least `size` bytes.
    Last,
    /// Where the records say ([`cuts::by_content`]), between an eighth of `size` and `size`
    /// bytes ([`cuts::spacing`]): the same records make the same chunks wherever they stand.
    ByContent,
}

/// [`in_chunks`] with chunks of `size` bytes, cut as `cuts` says. `work` hands on as many
/// results as it likes: a chunk's are gathered until their turn; where cutting stopped, the
/// rest's go to `emit` as they come, so memory stays bounded there too.
pub(crate) fn in_chunks_of<R: Read + Send, T: Send>(
    size: usize,
    cuts: Cuts,
    reader: Records<R>,
    threads: usize,
    work: impl Fn(&mut Records<Input<'_>>, Out<'_, T>) -> Result<(), TableError> + Sync,
    mut emit: impl FnMut(T) -> Result<(), TableError>,
) -> Result<(), TableError> {
    let (delimiter, width, mut count) = (reader.delimiter(), reader.width(), reader.count());
    let (carry, input) = reader.into_rest();
    let threads = threads.max(1);
    let stop = AtomicBool::new(false);
    // A slot per chunk in flight: the cutter takes one to read a chunk, `emit` gives it back.
    let (slot_back, slots) = mpsc::sync_channel::<()>(threads * 2);
    for _ in 0..threads * 2 {
        let _ = slot_back.send(());
    }
    let (to_work, pieces) = mpsc::channel::<Piece>();
    let pieces = Mutex::new(pieces);
    let (done_tx, done) = mpsc::channel::<Done<T>>();
    let rest = std::thread::scope(|scope| -> Result<Option<(Vec<u8>, R)>, TableError> {
        let stop = &stop;
        let cutter = scope.spawn(move || -> Result<Option<(Vec<u8>, R)>, TableError> {
            let mut cutter = Cutter {
                input,
                carry,
                eof: false,
                delimiter,
                size,
                cuts,
            };
            let mut seq = 0;
            loop {
                if slots.recv().is_err() || stop.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                match cutter.next()? {
                    Cut::End => return Ok(None),
                    Cut::Rest => return Ok(Some((cutter.carry, cutter.input))),
                    Cut::Chunk(data) => {
                        if to_work.send(Piece { seq, data }).is_err() {
                            return Ok(None);
                        }
                        seq += 1;
                    }
                }
            }
        });
        for _ in 0..threads {
            let (pieces, done_tx, work) = (&pieces, done_tx.clone(), &work);
            scope.spawn(move || loop {
                let next = pieces.lock().map(|p| p.recv());
                let Ok(Ok(Piece { seq, data })) = next else {
                    return;
                };
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let mut records = chunk(data, delimiter, width, 0);
                let mut made = Vec::new();
                let result = match work(&mut records, &mut |t| {
                    made.push(t);
                    Ok(())
                }) {
                    Ok(()) => Ok((made, records.count())),
                    Err(_) => Err(records.into_data()),
                };
                if done_tx.send((seq, result)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        // In order: results that come early wait for those before them.
        let mut early = BTreeMap::new();
        let mut want = 0u64;
        let emitted = (|| -> Result<(), TableError> {
            for (seq, result) in done.iter() {
                early.insert(seq, result);
                while let Some(result) = early.remove(&want) {
                    match result {
                        Ok((made, read)) => {
                            for t in made {
                                emit(t)?;
                            }
                            count += read;
                        }
                        // Read again where it stands in the file, for the error's record number.
                        Err(data) => {
                            let mut again = chunk(data, delimiter, width, count);
                            work(&mut again, &mut |_| Ok(()))?;
                            return Err(TableError::Invalid(
                                "a part of the table failed to read once and not twice".into(),
                            ));
                        }
                    }
                    want += 1;
                    let _ = slot_back.send(());
                }
            }
            Ok(())
        })();
        if emitted.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        // Whatever happens next, nobody waits on a slot, a piece or a result any more.
        drop(slot_back);
        drop(done);
        let cut = cutter
            .join()
            .unwrap_or_else(|_| Err(TableError::Invalid("the table reader failed".into())));
        emitted?;
        cut
    })?;
    // The rest, where cutting stopped: on this thread, after everything before it.
    if let Some((carry, input)) = rest {
        let input: Input<'_> = Box::new(input);
        let mut records = Records::resume(input, carry, false, delimiter, width, count);
        work(&mut records, &mut emit)?;
    }
    Ok(())
}

/// A reader of one chunk's records.
fn chunk(data: Vec<u8>, delimiter: u8, width: usize, count: u64) -> Records<Input<'static>> {
    Records::resume(
        Box::new(std::io::empty()),
        data,
        true,
        delimiter,
        width,
        count,
    )
}

/// What the cutter found next.
enum Cut {
    Chunk(Vec<u8>),
    /// Cutting stops: the rest is read in one piece (`carry`, then the input).
    Rest,
    End,
}

/// Cuts a table's records into chunks.
struct Cutter<R> {
    input: R,
    /// Read, not yet handed out; starts at a record's start.
    carry: Vec<u8>,
    eof: bool,
    delimiter: u8,
    /// Bytes per chunk, at least; or by content, at most (unless a record is longer).
    size: usize,
    /// Where a chunk ends.
    cuts: Cuts,
}

impl<R: Read> Cutter<R> {
    fn next(&mut self) -> Result<Cut, TableError> {
        let (min, mean) = cuts::spacing(self.size);
        // By content, only as far as a pick is likely first (what is read past it is copied on).
        let mut want = match self.cuts {
            Cuts::ByContent => (min + mean).max(1),
            Cuts::Last => self.size.max(1),
        };
        loop {
            while !self.eof && self.carry.len() < want {
                let at = self.carry.len();
                self.carry.resize(want, 0);
                let n = self.input.read(&mut self.carry[at..])?;
                self.carry.truncate(at + n);
                self.eof = n == 0;
            }
            if self.eof {
                return Ok(match self.carry.is_empty() {
                    true => Cut::End,
                    false => Cut::Chunk(std::mem::take(&mut self.carry)),
                });
            }
            // By content, the chunk looks no further than `limit` (what a first read brought past
            // it is not looked at), so where it is cut does not depend on how the input is read.
            let limit = want.max(self.size);
            let full = self.carry.len() >= limit;
            let point = match self.cuts {
                Cuts::ByContent => {
                    let window = &self.carry[..self.carry.len().min(limit)];
                    cuts::by_content(window, self.delimiter, min, mean, full)
                }
                Cuts::Last => cuts::last(&self.carry, self.delimiter),
            };
            match point {
                Point::At(n) => {
                    let rest = self.carry[n..].to_vec();
                    let mut chunk = std::mem::replace(&mut self.carry, rest);
                    chunk.truncate(n);
                    return Ok(Cut::Chunk(chunk));
                }
                Point::Stray => return Ok(Cut::Rest),
                // A record longer than this is the single-threaded reader's to refuse.
                Point::None if want > MAX_RECORD => return Ok(Cut::Rest),
                Point::None if self.cuts == Cuts::ByContent && !full => want = limit,
                Point::None if self.cuts == Cuts::ByContent => want = limit * 2,
                // Past what is held already (a first read longer than `want`).
                Point::None => want = (want * 2).max(self.carry.len() + 1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{self, FieldType, Hasher};
    use crate::Decision;
    use std::collections::HashMap;

    fn plan(header: &[String], rules: serde_json::Value) -> Plan {
        let types = HashMap::from([("n".to_owned(), FieldType::Integer)]);
        let d = Decision::from_rules(&rules).unwrap();
        Plan::new(header, &types, &d, None, Hasher::new(b"k")).unwrap()
    }

    /// The table as CSV on one thread, and in chunks of `size` bytes on three (cut by content
    /// too, which must read the same).
    fn both(text: &[u8], size: usize, rules: serde_json::Value) -> (String, String) {
        let (one, many) = both_as(text, size, rules.clone(), Cuts::Last);
        let (_, by_content) = both_as(text, size, rules, Cuts::ByContent);
        assert_eq!(many, by_content, "cut by content, chunks of {size}");
        (one, many)
    }

    /// The table as CSV on one thread, and in chunks of `size` bytes (cut by content or not) on
    /// three.
    fn both_as(text: &[u8], size: usize, rules: serde_json::Value, cuts: Cuts) -> (String, String) {
        let (mut one, header) = table::open(text).unwrap();
        let p = plan(&header, rules);
        let mut a = Vec::new();
        let a = table::write_csv(&mut one, &p, &mut a)
            .map(|_| String::from_utf8(a).unwrap())
            .unwrap_or_else(|e| format!("error: {e}"));
        let (many, _) = table::open(text).unwrap();
        let mut b = Vec::new();
        write_header(&p, &mut b);
        let b = in_chunks_of(
            size,
            cuts,
            many,
            3,
            |r, out| {
                let mut buf = Vec::new();
                table::write_rows(r, &p, &mut buf, std::io::sink())?;
                out(buf)
            },
            |buf| {
                b.extend_from_slice(&buf);
                Ok(())
            },
        )
        .map(|_| String::from_utf8(b).unwrap())
        .unwrap_or_else(|e| format!("error: {e}"));
        (a, b)
    }

    fn write_header(p: &Plan, out: &mut Vec<u8>) {
        table::write_header(p, out)
    }

    #[test]
    fn chunks_read_as_one_thread_does() {
        let rows: String = (0..500)
            .map(|i| match i % 7 {
                0 => format!("{i},\"a, quoted\nline\",x\n"),
                1 => format!("{i},\"say \"\"hi\"\"\",y\r\n"),
                2 => "\n".to_owned(),
                3 => format!("{i},\"\",\"\"\"\"\n"),
                _ => format!("{i},plain {i},z\n"),
            })
            .collect();
        let text = format!("n,text,more\n{rows}9999,last,no newline");
        let redact = serde_json::json!([{"action": {"name": "RedactAction", "columns": ["more"]}}]);
        let filter = serde_json::json!([{"action": {"name": "FilterAction", "filters": [{"column": "n", "op": "lt", "value": 250}]}}]);
        for size in [1, 7, 64, 1000, 1 << 20] {
            for rules in [serde_json::json!([]), redact.clone(), filter.clone()] {
                let (one, many) = both(text.as_bytes(), size, rules);
                assert!(!one.starts_with("error"), "{one}");
                assert_eq!(one, many, "chunks of {size}");
            }
        }
    }

    #[test]
    fn stray_quotes_stop_the_cutting_and_read_the_same() {
        let mut text = String::from("n,text\n");
        for i in 0..300 {
            text.push_str(&format!("{i},plain\n"));
        }
        // Quotes the parser reads as text, not as RFC 4180 quoting, and a bare carriage return.
        text.push_str("300,ab\"c\n301,\"x\"y\n302,a\rb\n");
        for i in 303..600 {
            text.push_str(&format!("{i},\"q\nq\"\n"));
        }
        for size in [1, 50, 4096] {
            let (one, many) = both(text.as_bytes(), size, serde_json::json!([]));
            assert_eq!(one, many, "chunks of {size}");
        }
    }

    #[test]
    fn errors_name_the_same_record() {
        let mut text = String::from("n,text\n");
        for i in 0..1000 {
            text.push_str(&format!("{i},t\n"));
        }
        let ragged = format!("{text}1000,t,extra\n1001,t\n");
        for size in [1, 100, 1 << 20] {
            let (one, many) = both(ragged.as_bytes(), size, serde_json::json!([]));
            assert!(one.contains("record 1002 has 3 fields"), "{one}");
            assert_eq!(one, many);
        }
        // A bad integer, as typed batches see it.
        let bad = format!("{text}x,t\n");
        let (mut one, header) = table::open(bad.as_bytes()).unwrap();
        let p = plan(&header, serde_json::json!([]));
        let want = table::batches(&mut one, &p, |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(want.contains("1002"), "{want}");
        for size in [1, 100] {
            let (many, _) = table::open(bad.as_bytes()).unwrap();
            let got = in_chunks_of(
                size,
                Cuts::Last,
                many,
                2,
                |r, _: Out<'_, ()>| table::arrow::batches_of(r, &p, false, |_| Ok(())).map(|_| ()),
                |_| Ok(()),
            )
            .unwrap_err()
            .to_string();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn batches_on_threads_hold_every_row_once() {
        let mut text = String::from("n,text\n");
        for i in 0..50_000 {
            text.push_str(&format!("{i},row {i}\n"));
        }
        let (many, header) = table::open(text.as_bytes()).unwrap();
        let p = plan(&header, serde_json::json!([]));
        let mut seen = Vec::new();
        let rows = batches(many, &p, 4, |b| {
            let n = b
                .column(0)
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .unwrap();
            seen.extend(n.values().iter().copied());
            Ok(())
        })
        .unwrap();
        assert_eq!(rows, 50_000);
        assert_eq!(seen, (0..50_000).collect::<Vec<i64>>());
        // No rows at all: one empty batch, as on one thread.
        let (none, _) = table::open(&b"n,text\n"[..]).unwrap();
        let mut batches_seen = 0;
        assert_eq!(
            batches(none, &p, 2, |_| {
                batches_seen += 1;
                Ok(())
            })
            .unwrap(),
            0
        );
        assert_eq!(batches_seen, 1);
    }
}
