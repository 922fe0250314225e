//! A CSV table on its way out through a decision, streamed in bounded memory: [`Plan`] says, from
//! the table's header, the decision and the columns asked for, what each output column is (kept,
//! redacted, hashed; removed ones are absent) and which rows the filters keep. [`write_csv`],
//! [`batches`] and [`write_arrow`] then read records one at a time and write CSV, Arrow record
//! batches or an Arrow IPC stream; [`write_parquet`] writes Parquet on several threads. Filters look at the original values, before any transform.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::decision::{ColumnAction, Decision, Filter};
use crate::records::write_field;

mod arrow;
mod batch;
mod cuts;
pub mod parallel;
pub mod parquet;
pub use crate::records::{Record, Records};
pub use arrow::{batches, write_arrow};
pub use batch::BatchPlan;
pub use parquet::write_parquet;

/// What a redacted value becomes.
pub const REDACTED: &str = "XXXXXXXXXX";

/// How many rows an Arrow record batch holds.
pub const BATCH_ROWS: usize = 8192;

/// A column's type, from the datapackage's `schema.fields[].type` (Frictionless names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldType {
    #[default]
    String,
    Integer,
    Number,
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// ISO 8601 (`2024-05-01T12:00:00Z`, or without a zone: UTC).
    Datetime,
}

impl FieldType {
    /// The type a Frictionless name says (`integer`, `number`, `boolean`, `date`, `datetime`);
    /// any other is text.
    pub fn from_frictionless(name: &str) -> FieldType {
        match name {
            "integer" => FieldType::Integer,
            "number" => FieldType::Number,
            "boolean" => FieldType::Boolean,
            "date" => FieldType::Date,
            "datetime" => FieldType::Datetime,
            _ => FieldType::String,
        }
    }

    /// The Frictionless name.
    pub fn frictionless(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
        }
    }

    /// The type of an Arrow column, as Frictionless names it.
    pub fn of_arrow(t: &DataType) -> FieldType {
        match t {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64 => FieldType::Integer,
            DataType::Float16
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(..)
            | DataType::Decimal256(..) => FieldType::Number,
            DataType::Boolean => FieldType::Boolean,
            DataType::Date32 | DataType::Date64 => FieldType::Date,
            DataType::Timestamp(..) => FieldType::Datetime,
            _ => FieldType::String,
        }
    }

    /// The Arrow type values of this type are read into.
    pub fn arrow(self) -> DataType {
        match self {
            FieldType::String => DataType::Utf8,
            FieldType::Integer => DataType::Int64,
            FieldType::Number => DataType::Float64,
            FieldType::Boolean => DataType::Boolean,
            FieldType::Date => DataType::Date32,
            FieldType::Datetime => DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, None),
        }
    }
}

pub use crate::error::TableError;

/// The keyed hash of [`ColumnAction::Hash`]: HMAC-SHA256 under the server's key, in hex, so equal
/// values hash equal in every table (joins work) and nobody without the key can test guesses.
#[derive(Clone)]
pub struct Hasher(Hmac<Sha256>);

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher([key])")
    }
}

impl Hasher {
    pub fn new(key: &[u8]) -> Hasher {
        Hasher(Hmac::new_from_slice(key).expect("HMAC takes keys of any length"))
    }

    pub fn hash(&self, value: &[u8]) -> String {
        let mut mac = self.0.clone();
        mac.update(value);
        hex::encode(mac.finalize().into_bytes())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    Keep(FieldType),
    Redact,
    Hash,
}

/// One output column.
#[derive(Debug, Clone)]
struct Out {
    source: usize,
    how: How,
}

/// The CSV output of a plain record, in pieces.
#[derive(Debug, Clone, Copy)]
enum Segment {
    /// Source fields `first..=last`, kept, with their commas.
    Copy(usize, usize),
    Redact,
    Hash(usize),
}

/// What to do to each record of one table.
#[derive(Clone)]
pub struct Plan {
    out: Vec<Out>,
    segments: Vec<Segment>,
    filters: Vec<(usize, Filter)>,
    schema: SchemaRef,
    hasher: Hasher,
}

impl Plan {
    /// The plan for a table with `header`, column `types` (by name; absent: text), the
    /// `decision`, and optionally only the columns `want` (in that order). Asking for a column
    /// the table lacks is invalid; asking for one the policy removes is refused; a filter on a
    /// column the table lacks refuses the read (the policy cannot be applied).
    pub fn new(
        header: &[String],
        types: &HashMap<String, FieldType>,
        decision: &Decision,
        want: Option<&[String]>,
        hasher: Hasher,
    ) -> Result<Plan, TableError> {
        let index: HashMap<&str, usize> = header
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let picked: Vec<usize> = match want {
            None => (0..header.len()).collect(),
            Some(names) => names
                .iter()
                .map(|n| {
                    index.get(n.as_str()).copied().ok_or_else(|| {
                        TableError::Invalid(format!("the table has no column {n:?}"))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let mut out = Vec::with_capacity(picked.len());
        let mut fields = Vec::with_capacity(picked.len());
        for i in picked {
            let name = &header[i];
            let ty = types.get(name).copied().unwrap_or_default();
            let how = match decision.columns.get(name) {
                Some(ColumnAction::Remove) if want.is_some() => {
                    return Err(TableError::Refused(format!(
                        "column {name:?} is removed by policy: leave it out of columns"
                    )))
                }
                Some(ColumnAction::Remove) => continue,
                Some(ColumnAction::Redact) => How::Redact,
                Some(ColumnAction::Hash) => How::Hash,
                None => How::Keep(ty),
            };
            let data_type = match how {
                How::Keep(ty) => ty.arrow(),
                _ => DataType::Utf8,
            };
            fields.push(Field::new(name.clone(), data_type, true));
            out.push(Out { source: i, how });
        }
        // A column the policy transforms but the header lacks: the header does not say what
        // the catalog says (another spelling, a byte-order mark, another delimiter), so the
        // policy cannot be applied.
        if let Some(missing) = decision
            .columns
            .keys()
            .find(|c| !index.contains_key(c.as_str()))
        {
            return Err(TableError::Refused(format!(
                "a policy transforms column {missing:?}, which the table's header does not have, so it cannot be applied"
            )));
        }
        if out.is_empty() {
            return Err(TableError::Invalid(
                "no column is left to serve: ask for at least one the policies do not remove"
                    .into(),
            ));
        }
        let filters = decision
            .filters
            .iter()
            .map(|f| match index.get(f.column.as_str()) {
                Some(&i) => Ok((i, f.clone())),
                None => Err(TableError::Refused(format!(
                    "a policy filters rows on column {:?}, which the table does not have, so \
                     it cannot be applied",
                    f.column
                ))),
            })
            .collect::<Result<_, _>>()?;
        let mut segments: Vec<Segment> = Vec::new();
        for o in &out {
            match (o.how, segments.last_mut()) {
                (How::Keep(_), Some(Segment::Copy(_, last))) if *last + 1 == o.source => {
                    *last = o.source
                }
                (How::Keep(_), _) => segments.push(Segment::Copy(o.source, o.source)),
                (How::Redact, _) => segments.push(Segment::Redact),
                (How::Hash, _) => segments.push(Segment::Hash(o.source)),
            }
        }
        Ok(Plan {
            out,
            segments,
            filters,
            schema: Arc::new(Schema::new(fields)),
            hasher,
        })
    }

    /// The Arrow schema of what comes out.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Whether a record passes the filters.
    fn keeps(&self, record: &Record<'_>) -> bool {
        self.filters
            .iter()
            .all(|(i, f)| std::str::from_utf8(record.get(*i)).is_ok_and(|cell| f.keeps(cell)))
    }
}

/// A reader of the table's records over `input` (header row first), and the header.
pub fn open<R: Read>(input: R) -> Result<(Records<R>, Vec<String>), TableError> {
    open_with(input, b',')
}

/// [`open`] for fields separated by `delimiter`.
pub fn open_with<R: Read>(
    input: R,
    delimiter: u8,
) -> Result<(Records<R>, Vec<String>), TableError> {
    let mut reader = Records::with_delimiter(input, delimiter);
    let header = match reader.next_record()? {
        None => return Err(TableError::Invalid("the table has no header row".into())),
        Some(h) => (0..h.len())
            .map(|i| {
                let name = h.get(i);
                // A UTF-8 byte-order mark (spreadsheet exports) is not part of the first name.
                let name = match i {
                    0 => name.strip_prefix(b"\xef\xbb\xbf").unwrap_or(name),
                    _ => name,
                };
                String::from_utf8(name.to_vec())
                    .map_err(|_| TableError::Invalid("the header row is not UTF-8 text".into()))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    if header.iter().all(String::is_empty) {
        return Err(TableError::Invalid("the table has no header row".into()));
    }
    Ok((reader, header))
}

/// How much output is gathered before it is written on.
const OUT: usize = 256 * 1024;

/// Writes the table as CSV (header first, `\n` line ends) through the plan; the number of rows
/// written. ([`parallel::write_csv`] does it on several threads.)
pub fn write_csv<R: Read, W: Write>(
    reader: &mut Records<R>,
    plan: &Plan,
    mut out: W,
) -> Result<u64, TableError> {
    let mut buf = Vec::with_capacity(OUT + 4096);
    write_header(plan, &mut buf);
    let rows = write_rows(reader, plan, &mut buf, &mut out)?;
    out.write_all(&buf)?;
    out.flush()?;
    Ok(rows)
}

/// The CSV header of what comes out.
fn write_header(plan: &Plan, buf: &mut Vec<u8>) {
    for (n, f) in plan.schema.fields().iter().enumerate() {
        if n > 0 {
            buf.push(b',');
        }
        write_field(buf, f.name().as_bytes());
    }
    buf.push(b'\n');
}

/// The rows of `reader` as CSV into `buf`, written on to `out` whenever it holds [`OUT`] bytes;
/// the number of rows.
fn write_rows<R: Read, W: Write>(
    reader: &mut Records<R>,
    plan: &Plan,
    buf: &mut Vec<u8>,
    mut out: W,
) -> Result<u64, TableError> {
    let mut rows = 0;
    while let Some(record) = reader.next_record()? {
        if !plan.keeps(&record) {
            continue;
        }
        if record.plain {
            // Runs of kept columns are copied with their commas in one piece.
            for (n, seg) in plan.segments.iter().enumerate() {
                if n > 0 {
                    buf.push(b',');
                }
                match *seg {
                    Segment::Copy(first, last) => buf.extend_from_slice(record.span(first, last)),
                    Segment::Redact => buf.extend_from_slice(REDACTED.as_bytes()),
                    Segment::Hash(i) => {
                        buf.extend_from_slice(plan.hasher.hash(record.get(i)).as_bytes())
                    }
                }
            }
        } else {
            for (n, o) in plan.out.iter().enumerate() {
                if n > 0 {
                    buf.push(b',');
                }
                let cell = record.get(o.source);
                match o.how {
                    How::Keep(_) => write_field(buf, cell),
                    How::Redact => buf.extend_from_slice(REDACTED.as_bytes()),
                    How::Hash => buf.extend_from_slice(plan.hasher.hash(cell).as_bytes()),
                }
            }
        }
        buf.push(b'\n');
        rows += 1;
        if buf.len() >= OUT {
            out.write_all(buf)?;
            buf.clear();
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CSV: &str = "id,name,amount,ok\n1,ann,10.5,true\n2,bob,2000,false\n3,,7,\n";

    fn plan(rules: serde_json::Value, want: Option<&[String]>) -> Result<Plan, TableError> {
        let (_, header) = open(CSV.as_bytes()).unwrap();
        let types = HashMap::from([
            ("id".to_owned(), FieldType::Integer),
            ("amount".to_owned(), FieldType::Number),
            ("ok".to_owned(), FieldType::Boolean),
        ]);
        let decision = Decision::from_rules(&rules).unwrap();
        Plan::new(&header, &types, &decision, want, Hasher::new(b"k"))
    }

    fn csv_out(p: &Plan) -> String {
        let (mut r, _) = open(CSV.as_bytes()).unwrap();
        let mut out = Vec::new();
        write_csv(&mut r, p, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn redact_remove_hash_and_filter_as_csv() {
        let p = plan(
            json!([
                {"action": {"name": "RedactAction", "columns": ["name"]}},
                {"action": {"name": "RemoveAction", "columns": ["ok"]}},
                {"action": {"name": "HashAction", "columns": ["id"]}},
                {"action": {"name": "FilterAction", "column": "amount", "op": "<", "value": 1000}},
            ]),
            None,
        )
        .unwrap();
        let h = |v: &str| Hasher::new(b"k").hash(v.as_bytes());
        assert_eq!(
            csv_out(&p),
            format!(
                "id,name,amount\n{},XXXXXXXXXX,10.5\n{},XXXXXXXXXX,7\n",
                h("1"),
                h("3")
            )
        );
    }

    #[test]
    fn columns_asked_for() {
        let want = ["amount".to_owned(), "id".to_owned()];
        let p = plan(json!([]), Some(&want)).unwrap();
        assert_eq!(csv_out(&p), "amount,id\n10.5,1\n2000,2\n7,3\n");
        let want = ["nope".to_owned()];
        assert!(matches!(
            plan(json!([]), Some(&want)),
            Err(TableError::Invalid(_))
        ));
        let want = ["ok".to_owned()];
        let rules = json!([{"action": {"name": "RemoveAction", "columns": ["ok"]}}]);
        assert!(matches!(
            plan(rules, Some(&want)),
            Err(TableError::Refused(_))
        ));
        let rules = json!([{"action": {"name": "FilterAction", "column": "gone", "value": 1}}]);
        assert!(matches!(plan(rules, None), Err(TableError::Refused(_))));
    }

    #[test]
    fn arrow_batches_are_typed_and_redacted_columns_are_text() {
        let p = plan(
            json!([{"action": {"name": "RedactAction", "columns": ["amount"]}}]),
            None,
        )
        .unwrap();
        let (mut r, _) = open(CSV.as_bytes()).unwrap();
        let mut got = Vec::new();
        let rows = batches(&mut r, &p, |b| {
            got.push(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(rows, 3);
        let b = &got[0];
        let schema = b.schema();
        let types: Vec<_> = schema
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(
            types,
            [
                DataType::Int64,
                DataType::Utf8,
                DataType::Utf8,
                DataType::Boolean
            ]
        );
        assert_eq!(b.column(3).null_count(), 1, "an empty boolean is null");
        let mut ipc = Vec::new();
        let (mut r, _) = open(CSV.as_bytes()).unwrap();
        write_arrow(&mut r, &p, &mut ipc).unwrap();
        let back = arrow_ipc::reader::StreamReader::try_new(&ipc[..], None).unwrap();
        let n: usize = back.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(n, 3);
    }

    #[test]
    fn a_byte_order_mark_is_not_a_name_and_missing_policy_columns_refuse() {
        let text = "\u{feff}id,name\n1,ann\n";
        let (mut r, header) = open(text.as_bytes()).unwrap();
        assert_eq!(header, ["id", "name"]);
        let redact = |cols: serde_json::Value| {
            Decision::from_rules(&json!([{"action": {"name": "RedactAction", "columns": cols}}]))
                .unwrap()
        };
        let p = Plan::new(
            &header,
            &HashMap::new(),
            &redact(json!(["id"])),
            None,
            Hasher::new(b"k"),
        )
        .unwrap();
        let mut out = Vec::new();
        write_csv(&mut r, &p, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "id,name\nXXXXXXXXXX,ann\n");
        let missing = Plan::new(
            &header,
            &HashMap::new(),
            &redact(json!(["ssn"])),
            None,
            Hasher::new(b"k"),
        );
        assert!(matches!(missing, Err(TableError::Refused(_))));
        let none: Vec<String> = Vec::new();
        let empty = Plan::new(
            &header,
            &HashMap::new(),
            &Decision::default(),
            Some(&none),
            Hasher::new(b"k"),
        );
        assert!(matches!(empty, Err(TableError::Invalid(_))));
    }

    #[test]
    fn bad_values_and_ragged_rows_are_errors() {
        let p = plan(json!([]), None).unwrap();
        let (mut r, _) = open("id,name,amount,ok\nx,a,1,true\n".as_bytes()).unwrap();
        let e = batches(&mut r, &p, |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("not an integer"), "{e}");
        let (mut r, _) = open("id,name,amount,ok\n1,a\n".as_bytes()).unwrap();
        assert!(write_csv(&mut r, &p, std::io::sink()).is_err());
        assert!(open("".as_bytes()).is_err());
    }
}
