//! Arrow out of a [`Plan`]: typed record batches of up to [`BATCH_ROWS`] rows (integers, numbers
//! and booleans parsed by their Frictionless type; empty cells of typed columns are null;
//! redacted and hashed columns are text), and the Arrow IPC stream made of them.

use std::io::{Read, Write};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::types::Date32Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_cast::parse::Parser;

use super::{FieldType, How, Plan, Records, TableError, BATCH_ROWS, REDACTED};

enum Builder {
    Text(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Time(TimestampMicrosecondBuilder),
}

impl Builder {
    fn new(how: How) -> Builder {
        match how {
            How::Keep(FieldType::Integer) => Builder::Int(Int64Builder::with_capacity(BATCH_ROWS)),
            How::Keep(FieldType::Number) => {
                Builder::Float(Float64Builder::with_capacity(BATCH_ROWS))
            }
            How::Keep(FieldType::Boolean) => {
                Builder::Bool(BooleanBuilder::with_capacity(BATCH_ROWS))
            }
            How::Keep(FieldType::Date) => Builder::Date(Date32Builder::with_capacity(BATCH_ROWS)),
            How::Keep(FieldType::Datetime) => {
                Builder::Time(TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS))
            }
            _ => Builder::Text(StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16)),
        }
    }

    /// Appends `cell`; an empty cell of a typed column is null.
    fn push(&mut self, cell: &str) -> Result<(), String> {
        let bad = |what| format!("{cell:?} is not {what}");
        match self {
            Builder::Text(b) => b.append_value(cell),
            _ if cell.is_empty() => self.push_null(),
            Builder::Int(b) => b.append_value(trim(cell).parse().map_err(|_| bad("an integer"))?),
            Builder::Float(b) => b.append_value(trim(cell).parse().map_err(|_| bad("a number"))?),
            Builder::Bool(b) => b.append_value(match trim(cell) {
                "true" | "True" | "TRUE" | "1" => true,
                "false" | "False" | "FALSE" | "0" => false,
                _ => return Err(bad("a boolean")),
            }),
            Builder::Date(b) => {
                b.append_value(Date32Type::parse(trim(cell)).ok_or_else(|| bad("a date"))?)
            }
            Builder::Time(b) => b.append_value(
                arrow_cast::parse::string_to_timestamp_nanos(trim(cell))
                    .map_err(|_| bad("a datetime"))?
                    / 1000,
            ),
        }
        Ok(())
    }

    fn push_null(&mut self) {
        match self {
            Builder::Text(b) => b.append_null(),
            Builder::Int(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Time(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
        }
    }
}

/// `cell` without the whitespace around it: as `str::trim`, at once when it starts and ends
/// with a visible ASCII character (as nearly every value does).
fn trim(cell: &str) -> &str {
    match (cell.as_bytes().first(), cell.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => cell,
        _ => cell.trim(),
    }
}

/// Reads the table through the plan as Arrow record batches of up to [`BATCH_ROWS`] rows, each
/// handed to `sink` as soon as it is full; the number of rows.
pub fn batches<R: Read>(
    reader: &mut Records<R>,
    plan: &Plan,
    sink: impl FnMut(RecordBatch) -> Result<(), TableError>,
) -> Result<u64, TableError> {
    batches_of(reader, plan, true, sink)
}

/// [`batches`]; `empty_too`: a table without rows still hands on one (empty) batch.
pub(super) fn batches_of<R: Read>(
    reader: &mut Records<R>,
    plan: &Plan,
    empty_too: bool,
    mut sink: impl FnMut(RecordBatch) -> Result<(), TableError>,
) -> Result<u64, TableError> {
    let mut builders: Vec<Builder> = plan.out.iter().map(|o| Builder::new(o.how)).collect();
    let (mut rows, mut pending) = (0u64, 0usize);
    let flush = |builders: &mut Vec<Builder>| -> Result<RecordBatch, TableError> {
        let columns = builders.iter_mut().map(Builder::finish).collect();
        Ok(RecordBatch::try_new(plan.schema(), columns)?)
    };
    while let Some(record) = reader.next_record()? {
        if !plan.keeps(&record) {
            continue;
        }
        let line = record.number;
        // One UTF-8 check for the record; cell by cell only when it fails (a cell the plan does
        // not read may be any bytes).
        let text = record.text();
        for (n, (o, b)) in plan.out.iter().zip(builders.iter_mut()).enumerate() {
            let cell = match text.as_ref().and_then(|t| t.get(o.source)) {
                Some(cell) => cell,
                None => std::str::from_utf8(record.get(o.source)).map_err(|_| {
                    TableError::Invalid(format!("record {line}: a value is not UTF-8 text"))
                })?,
            };
            match o.how {
                How::Keep(_) => b.push(cell).map_err(|message| TableError::BadValue {
                    record: line,
                    column: plan.schema.field(n).name().clone(),
                    message,
                })?,
                How::Redact => b.push(REDACTED).map_err(TableError::Invalid)?,
                How::Hash => b
                    .push(&plan.hasher.hash(cell.as_bytes()))
                    .map_err(TableError::Invalid)?,
            }
        }
        rows += 1;
        pending += 1;
        if pending == BATCH_ROWS {
            sink(flush(&mut builders)?)?;
            pending = 0;
        }
    }
    if pending > 0 || (rows == 0 && empty_too) {
        sink(flush(&mut builders)?)?;
    }
    Ok(rows)
}

/// Writes the table through the plan as an Arrow IPC stream; the number of rows.
pub fn write_arrow<R: Read, W: Write>(
    reader: &mut Records<R>,
    plan: &Plan,
    out: W,
) -> Result<u64, TableError> {
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(out, &plan.schema())?;
    let rows = batches(reader, plan, |batch| Ok(writer.write(&batch)?))?;
    writer.finish()?;
    Ok(rows)
}
