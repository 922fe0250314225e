//! Parquet out of a [`Plan`], on several threads: the table's records are cut into chunks of
//! whole records ([`super::parallel`]), and each worker both reads its chunk into typed Arrow
//! batches and encodes them into row groups of its own (every column's pages compressed), so
//! both the parsing and the encoding run on every core. The calling thread only appends the
//! finished column chunks to the file, in the order of the table. Where cutting stops (a stray
//! quote), the rest is read on the calling thread in row groups of [`ROW_GROUP`] rows, each
//! written as soon as it is full.
//!
//! Written to be stored as chunks: the chunks end where their records say (so a row group is
//! the same records in every revision that holds them, wherever they stand), and each column's
//! pages end where its values say (Parquet's content-defined chunking), so an edit changes the
//! pages it touches and the views of successive revisions share the rest byte for byte.

use std::io::{Read, Write};

use ::parquet::arrow::ArrowWriter;
use ::parquet::basic::Compression;
use ::parquet::column::writer::ColumnCloseResult;
use ::parquet::errors::ParquetError;
use ::parquet::file::metadata::ParquetMetaData;
use ::parquet::file::properties::{CdcOptions, WriterProperties};

use super::parallel::{in_chunks_of, Cuts, Out};
use super::{Plan, Records, TableError};

/// Rows per row group, at most: small enough that a page of rows reads little.
pub const ROW_GROUP: usize = 128 * 1024;

/// A column chunk's dictionary grows to this many bytes at most, then its values are written
/// plain: a column of distinct values (names, amounts) stops paying for the dictionary early,
/// one of few (codes, flags) keeps it.
const DICTIONARY: usize = 64 * 1024;

/// CSV bytes per chunk at most; chunks end by content at about three eighths of it (3 MiB,
/// a row group of some 30,000 rows of a hundred bytes).
const CHUNK: usize = 8 << 20;

/// How a view's Parquet is written: Snappy, row groups of at most [`ROW_GROUP`] rows, pages
/// that end where the values say (Parquet's defaults: 256 KiB to 1 MiB of values).
pub fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .set_dictionary_page_size_limit(DICTIONARY)
        .set_content_defined_chunking(Some(CdcOptions::default()))
        .build()
}

/// Writes the table through the plan as a Parquet file to `out` on `threads` threads; the number
/// of rows. A value not of its column's type is an error naming its record, as a read on one
/// thread names it; nothing after the error is written.
pub fn write_parquet<R: Read + Send, W: Write + Send>(
    reader: Records<R>,
    plan: &Plan,
    out: W,
    threads: usize,
) -> Result<u64, TableError> {
    write_parquet_in(CHUNK, &properties(), reader, plan, out, threads)
}

fn write_parquet_in<R: Read + Send, W: Write + Send>(
    chunk: usize,
    props: &WriterProperties,
    reader: Records<R>,
    plan: &Plan,
    out: W,
    threads: usize,
) -> Result<u64, TableError> {
    let schema = plan.schema();
    let writer = ArrowWriter::try_new(out, schema.clone(), Some(props.clone())).map_err(error)?;
    let (mut file, _) = writer.into_serialized_writer().map_err(error)?;
    let mut rows = 0u64;
    in_chunks_of(
        chunk,
        Cuts::ByContent,
        reader,
        threads,
        |records, out: Out<'_, Encoded>| {
            let mut part = Part::new(&schema, props)?;
            super::arrow::batches_of(records, plan, false, |b| {
                part.rows += b.num_rows();
                part.writer.write(&b).map_err(error)?;
                if part.rows >= ROW_GROUP {
                    out(std::mem::replace(&mut part, Part::new(&schema, props)?).finish()?)?;
                }
                Ok(())
            })?;
            if part.rows > 0 {
                out(part.finish()?)?;
            }
            Ok(())
        },
        |part| {
            for (g, group) in part.meta.row_groups().iter().enumerate() {
                let mut row_group = file.next_row_group().map_err(error)?;
                for (c, column) in group.columns().iter().enumerate() {
                    let close = ColumnCloseResult {
                        bytes_written: column.compressed_size() as u64,
                        rows_written: group.num_rows() as u64,
                        metadata: column.clone(),
                        bloom_filter: None,
                        column_index: part.meta.column_index().map(|i| i[g][c].clone()),
                        offset_index: part.meta.offset_index().map(|i| i[g][c].clone()),
                    };
                    row_group.append_column(&part.bytes, close).map_err(error)?;
                }
                row_group.close().map_err(error)?;
                rows += group.num_rows() as u64;
            }
            Ok(())
        },
    )?;
    file.close().map_err(error)?;
    Ok(rows)
}

/// A part of the table being encoded: a Parquet file of its own, in memory, whose column chunks
/// are then copied into the view as they are.
struct Part {
    writer: ArrowWriter<Vec<u8>>,
    rows: usize,
}

/// A part encoded: the file's bytes and what its footer says of them.
struct Encoded {
    bytes: bytes::Bytes,
    meta: ParquetMetaData,
}

impl Part {
    fn new(schema: &arrow_schema::SchemaRef, props: &WriterProperties) -> Result<Part, TableError> {
        Ok(Part {
            writer: ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props.clone()))
                .map_err(error)?,
            rows: 0,
        })
    }

    fn finish(mut self) -> Result<Encoded, TableError> {
        let meta = self.writer.finish().map_err(error)?;
        let bytes = std::mem::take(self.writer.inner_mut()).into();
        Ok(Encoded { bytes, meta })
    }
}

/// Parquet's error as a table's: an I/O error of the output (a store gone) stays one.
fn error(e: ParquetError) -> TableError {
    match e {
        ParquetError::External(e) => match e.downcast::<std::io::Error>() {
            Ok(io) => TableError::Io(*io),
            Err(e) => TableError::Io(std::io::Error::other(e)),
        },
        e => TableError::Io(std::io::Error::other(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use arrow_array::RecordBatch;

    use super::*;
    use crate::table::{self, FieldType, Hasher};
    use crate::Decision;

    fn plan(header: &[String], types: &[(&str, FieldType)], rules: serde_json::Value) -> Plan {
        let types: HashMap<String, FieldType> =
            types.iter().map(|(n, t)| (n.to_string(), *t)).collect();
        let d = Decision::from_rules(&rules).unwrap();
        Plan::new(header, &types, &d, None, Hasher::new(b"k")).unwrap()
    }

    /// The table written as Parquet in chunks of `chunk` bytes on `threads` threads, read back:
    /// its batches and how many row groups it has.
    fn written(
        text: &[u8],
        types: &[(&str, FieldType)],
        chunk: usize,
        threads: usize,
    ) -> Result<(Vec<RecordBatch>, usize, u64), TableError> {
        let (reader, header) = table::open(Dribble(text)).unwrap();
        let p = plan(&header, types, serde_json::json!([]));
        let mut out = Vec::new();
        let rows = write_parquet_in(chunk, &properties(), reader, &p, &mut out, threads)?;
        let file = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(out)).unwrap();
        let groups = file.metadata().num_row_groups();
        let batches = file
            .build()
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        Ok((batches, groups, rows))
    }

    /// A table read at most 1000 bytes at a time, as from a socket: chunks are cut as the bytes
    /// come (from bytes already in memory, the first chunk would be all of them).
    struct Dribble<'a>(&'a [u8]);

    impl std::io::Read for Dribble<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(1000).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// The same table through one thread's Arrow batches.
    fn one_thread(text: &[u8], types: &[(&str, FieldType)]) -> Vec<RecordBatch> {
        let (mut reader, header) = table::open(text).unwrap();
        let p = plan(&header, types, serde_json::json!([]));
        let mut all = Vec::new();
        table::batches(&mut reader, &p, |b| {
            all.push(b);
            Ok(())
        })
        .unwrap();
        all
    }

    fn concat(batches: &[RecordBatch]) -> RecordBatch {
        arrow_select::concat::concat_batches(&batches[0].schema(), batches).unwrap()
    }

    const TYPES: &[(&str, FieldType)] = &[("n", FieldType::Integer), ("x", FieldType::Number)];

    fn table(rows: usize) -> String {
        let mut text = String::from("n,x,text\n");
        for i in 0..rows {
            match i % 5 {
                0 => text.push_str(&format!("{i},{i}.5,\"quoted, with a comma\"\n")),
                1 => text.push_str(&format!("{i},,\"two\nlines\"\r\n")),
                _ => text.push_str(&format!("{i},{},row {i}\n", i as f64 / 3.0)),
            }
        }
        text
    }

    #[test]
    fn chunks_on_threads_write_what_one_thread_reads() {
        let text = table(6_000);
        let want = concat(&one_thread(text.as_bytes(), TYPES));
        for (chunk, threads) in [(2048, 3), (16 << 10, 2), (8 << 20, 1)] {
            let (got, groups, rows) = written(text.as_bytes(), TYPES, chunk, threads).unwrap();
            assert_eq!(rows, 6_000, "chunk {chunk}");
            assert_eq!(
                concat(&got).columns(),
                want.columns(),
                "chunk {chunk}, threads {threads}"
            );
            // A row group a chunk, in the table's order.
            match chunk {
                2048 => assert!(groups > 40, "{groups} row groups"),
                _ => assert!(groups >= 1, "chunk {chunk}"),
            }
        }
    }

    #[test]
    fn the_rest_after_a_stray_quote_is_written_in_bounded_row_groups() {
        // A quote inside an unquoted field: the cutter stops there, the rest reads on one thread.
        let mut text = table(1000);
        text.push_str("1000,1.0,say a\"b\n");
        for i in 1001..(ROW_GROUP + 5000) {
            text.push_str(&format!("{i},2.0,r\n"));
        }
        let want = concat(&one_thread(text.as_bytes(), TYPES));
        let (got, groups, rows) = written(text.as_bytes(), TYPES, 4096, 2).unwrap();
        assert_eq!(rows as usize, ROW_GROUP + 5000);
        assert_eq!(concat(&got).columns(), want.columns());
        assert!(groups >= 3, "{groups} row groups");
    }

    #[test]
    fn a_bad_value_names_its_record_as_one_thread_does() {
        let mut text = table(3000);
        text.push_str("3000,not a number,t\n");
        let (mut one, header) = table::open(text.as_bytes()).unwrap();
        let p = plan(&header, TYPES, serde_json::json!([]));
        let want = table::batches(&mut one, &p, |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(want.contains("x"), "{want}");
        for chunk in [512, 4096, 8 << 20] {
            let got = written(text.as_bytes(), TYPES, chunk, 2)
                .unwrap_err()
                .to_string();
            assert_eq!(got, want, "chunk {chunk}");
        }
    }

    #[test]
    fn an_empty_table_is_a_parquet_file_with_its_columns() {
        let (got, groups, rows) = written(b"n,x,text\n", TYPES, 4096, 2).unwrap();
        assert_eq!((rows, groups), (0, 0));
        assert!(got.is_empty());
        let (reader, header) = table::open(&b"n,x,text\n"[..]).unwrap();
        let p = plan(&header, TYPES, serde_json::json!([]));
        let mut out = Vec::new();
        write_parquet(reader, &p, &mut out, 2).unwrap();
        let file = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(out)).unwrap();
        let names: Vec<_> = file
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["n", "x", "text"]);
    }

    /// Each data and dictionary page of a Parquet file, as its bytes.
    fn pages(file: &[u8]) -> Vec<Vec<u8>> {
        use ::parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
        let bytes = bytes::Bytes::copy_from_slice(file);
        let meta = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Required)
            .parse_and_finish(&bytes)
            .unwrap();
        let mut all = Vec::new();
        for (g, group) in meta.row_groups().iter().enumerate() {
            for (c, column) in group.columns().iter().enumerate() {
                let (start, end) = column.byte_range();
                let locations = &meta.offset_index().unwrap()[g][c].page_locations;
                let mut at = start as usize;
                for l in locations {
                    // The dictionary page, before the first data page.
                    if (l.offset as usize) > at {
                        all.push(file[at..l.offset as usize].to_vec());
                    }
                    at = l.offset as usize + l.compressed_page_size as usize;
                    all.push(file[l.offset as usize..at].to_vec());
                }
                assert_eq!(at as u64, start + end);
            }
        }
        all
    }

    /// The share of `new`'s page bytes that `old` holds byte for byte: what a store of chunks
    /// keeps once for both.
    fn shared(old: &[u8], new: &[u8]) -> f64 {
        let old: std::collections::HashSet<Vec<u8>> = pages(old).into_iter().collect();
        let new = pages(new);
        let total: usize = new.iter().map(Vec::len).sum();
        let kept: usize = new.iter().filter(|p| old.contains(*p)).map(Vec::len).sum();
        kept as f64 / total as f64
    }

    /// A table of `ids` rows, their values drawn from the id (so a row is the same wherever it
    /// stands).
    fn rows_of(ids: impl Iterator<Item = usize>) -> String {
        let mut text = String::from("n,x,text\n");
        for i in ids {
            let h = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            text.push_str(&format!(
                "{i},{},name {} of {}\n",
                h % 100_000,
                h >> 40,
                h % 977
            ));
        }
        text
    }

    #[test]
    fn views_of_an_edited_table_share_their_pages() {
        let old = rows_of(0..100_000);
        // Rows inserted a third of the way in, and some deleted two thirds in.
        let new = rows_of(
            (0..33_000)
                .chain(900_000..900_050)
                .chain(33_000..66_000)
                .chain(66_200..100_000),
        );
        let written = |text: &str| {
            let (reader, header) = table::open(Dribble(text.as_bytes())).unwrap();
            let p = plan(&header, TYPES, serde_json::json!([]));
            let mut out = Vec::new();
            write_parquet_in(128 << 10, &properties(), reader, &p, &mut out, 2).unwrap();
            out
        };
        let ours = shared(&written(&old), &written(&new));
        // The same tables through a plain writer: row groups and pages of fixed sizes.
        let plain = |text: &str| {
            let (mut reader, header) = table::open(text.as_bytes()).unwrap();
            let p = plan(&header, TYPES, serde_json::json!([]));
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_max_row_group_row_count(Some(20_000))
                .build();
            let mut w = ArrowWriter::try_new(Vec::new(), p.schema(), Some(props)).unwrap();
            table::batches(&mut reader, &p, |b| {
                w.write(&b).unwrap();
                Ok(())
            })
            .unwrap();
            w.into_inner().unwrap()
        };
        let theirs = shared(&plain(&old), &plain(&new));
        assert!(ours > 0.85, "{ours:.3} of the pages shared");
        assert!(
            theirs < 0.6,
            "{theirs:.3} shared without content-defined cuts"
        );
    }

    /// A table's view, its CSV read `step` bytes at a time, in parts of at most `chunk` bytes.
    fn view_of(text: &str, chunk: usize, step: usize) -> Vec<u8> {
        view_with(&properties(), text, chunk, step)
    }

    fn view_with(props: &WriterProperties, text: &str, chunk: usize, step: usize) -> Vec<u8> {
        struct Steps<'a>(&'a [u8], usize);
        impl std::io::Read for Steps<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let (reader, header) = table::open(Steps(text.as_bytes(), step)).unwrap();
        let p = plan(&header, TYPES, serde_json::json!([]));
        let mut out = Vec::new();
        write_parquet_in(chunk, props, reader, &p, &mut out, 2).unwrap();
        out
    }

    #[test]
    fn a_view_is_the_same_bytes_however_its_table_is_read() {
        let text = rows_of(0..10_000);
        let want = view_of(&text, 16 << 10, 1000);
        for step in [13, 4096, 1 << 20] {
            assert!(
                view_of(&text, 16 << 10, step) == want,
                "read {step} bytes at a time"
            );
        }
    }

    #[test]
    fn pages_end_where_the_values_say() {
        assert!(properties().content_defined_chunking().is_some());
        // One row group (the table is shorter than a part's least): only its pages can come back
        // in step after an edit. Pages of 2 to 8 KiB of values, for a table this small.
        let old = rows_of(0..30_000);
        let new = rows_of((0..10_000).chain(900_000..900_020).chain(10_000..30_000));
        let shares = |cdc: Option<CdcOptions>| {
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_dictionary_enabled(false)
                .set_content_defined_chunking(cdc)
                .build();
            let view = |text: &str| view_with(&props, text, 64 << 20, 1 << 16);
            shared(&view(&old), &view(&new))
        };
        let small = CdcOptions {
            min_chunk_size: 2 << 10,
            max_chunk_size: 8 << 10,
            norm_level: 0,
        };
        let (with, without) = (shares(Some(small)), shares(None));
        assert!(with > 0.9, "{with:.3} of the pages shared");
        assert!(
            without < 0.5,
            "{without:.3} shared with pages of fixed sizes"
        );
    }

    #[test]
    fn a_failing_output_is_an_io_error() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("the store is gone"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let text = table(5000);
        let (reader, header) = table::open(text.as_bytes()).unwrap();
        let p = plan(&header, TYPES, serde_json::json!([]));
        match write_parquet_in(4096, &properties(), reader, &p, Full, 2) {
            Err(TableError::Io(e)) => assert!(e.to_string().contains("gone"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
