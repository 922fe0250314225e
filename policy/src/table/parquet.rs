//! Parquet out of a [`Plan`], on several threads: the table's records are cut into chunks of
//! whole records ([`super::parallel`]), and each worker both reads its chunk into typed Arrow
//! batches and encodes them into a row group of its own (every column's pages compressed), so
//! both the parsing and the encoding run on every core. The calling thread only appends the
//! finished row groups to the file, in the order of the table. A row group is one chunk's rows
//! (at most [`ROW_GROUP`]); where cutting stops (a stray quote), the rest is read on the calling
//! thread in row groups of [`ROW_GROUP`] rows, each written as soon as it is full.

use std::io::{Read, Write};

use ::parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, ArrowWriter,
};
use ::parquet::basic::Compression;
use ::parquet::errors::ParquetError;
use ::parquet::file::properties::WriterProperties;
use arrow_array::RecordBatch;

use super::parallel::{in_chunks_of, Out};
use super::{Plan, Records, TableError};

/// Rows per row group, at most: small enough that a page of rows reads little.
pub const ROW_GROUP: usize = 128 * 1024;

/// A column chunk's dictionary grows to this many bytes at most, then its values are written
/// plain: a column of distinct values (names, amounts) stops paying for the dictionary early,
/// one of few (codes, flags) keeps it.
const DICTIONARY: usize = 64 * 1024;

/// CSV bytes per chunk (and so about a row group's worth, for rows of a hundred bytes).
const CHUNK: usize = 8 << 20;

/// How the view's Parquet is written: Snappy, row groups of at most [`ROW_GROUP`] rows.
pub fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .set_dictionary_page_size_limit(DICTIONARY)
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
    write_parquet_in(CHUNK, reader, plan, out, threads)
}

fn write_parquet_in<R: Read + Send, W: Write + Send>(
    chunk: usize,
    reader: Records<R>,
    plan: &Plan,
    out: W,
    threads: usize,
) -> Result<u64, TableError> {
    let schema = plan.schema();
    let writer = ArrowWriter::try_new(out, schema.clone(), Some(properties())).map_err(error)?;
    let (mut file, factory) = writer.into_serialized_writer().map_err(error)?;
    let mut rows = 0u64;
    in_chunks_of(
        chunk,
        reader,
        threads,
        |records, out: Out<'_, Encoded>| {
            let mut group = Group::new(&factory, &schema)?;
            super::arrow::batches_of(records, plan, false, |b| {
                group.write(&b)?;
                if group.rows >= ROW_GROUP {
                    out(std::mem::replace(&mut group, Group::new(&factory, &schema)?).finish()?)?;
                }
                Ok(())
            })?;
            if group.rows > 0 {
                out(group.finish()?)?;
            }
            Ok(())
        },
        |group| {
            let mut row_group = file.next_row_group().map_err(error)?;
            for chunk in group.chunks {
                chunk.append_to_row_group(&mut row_group).map_err(error)?;
            }
            row_group.close().map_err(error)?;
            rows += group.rows as u64;
            Ok(())
        },
    )?;
    file.close().map_err(error)?;
    Ok(rows)
}

/// A row group being encoded: a writer per (leaf) column.
struct Group {
    writers: Vec<ArrowColumnWriter>,
    schema: arrow_schema::SchemaRef,
    rows: usize,
}

/// A row group encoded, to be appended to the file.
struct Encoded {
    chunks: Vec<ArrowColumnChunk>,
    rows: usize,
}

impl Group {
    fn new(
        factory: &ArrowRowGroupWriterFactory,
        schema: &arrow_schema::SchemaRef,
    ) -> Result<Group, TableError> {
        Ok(Group {
            // The index matters only to Parquet's encryption, which views do not use.
            writers: factory.create_column_writers(0).map_err(error)?,
            schema: schema.clone(),
            rows: 0,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), TableError> {
        let mut writers = self.writers.iter_mut();
        for (array, field) in batch.columns().iter().zip(self.schema.fields()) {
            for leaf in compute_leaves(field, array).map_err(error)? {
                let writer = writers
                    .next()
                    .ok_or_else(|| TableError::Invalid("a batch has more columns".into()))?;
                writer.write(&leaf).map_err(error)?;
            }
        }
        self.rows += batch.num_rows();
        Ok(())
    }

    fn finish(self) -> Result<Encoded, TableError> {
        let chunks = self
            .writers
            .into_iter()
            .map(ArrowColumnWriter::close)
            .collect::<Result<Vec<_>, _>>()
            .map_err(error)?;
        Ok(Encoded {
            chunks,
            rows: self.rows,
        })
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
        let rows = write_parquet_in(chunk, reader, &p, &mut out, threads)?;
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
        match write_parquet_in(4096, reader, &p, Full, 2) {
            Err(TableError::Io(e)) => assert!(e.to_string().contains("gone"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
