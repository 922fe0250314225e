//! Column types for text tables that do not declare them: Arrow's inference (integers, numbers,
//! booleans, dates, datetimes, else text) over the first rows of the table, named as Frictionless
//! names them. A declared type (the datapackage's `schema.fields[].type`) always wins; a column
//! whose later rows break the inferred type is read again as text ([`super::view`]).

use std::collections::HashMap;
use std::io::Cursor;

use arrow_csv::reader::Format;
use bytes::BytesMut;
use futures_util::StreamExt;
use strata_policy::table::FieldType;

use super::{Kind, Opened};
use crate::error::{Error, Result};
use crate::storage::Read;
use crate::Core;

/// How much of a table its types are inferred from.
const SAMPLE: u64 = 4 * 1024 * 1024;
/// At most this many rows of the sample.
const SAMPLE_ROWS: usize = 10_000;

/// The first bytes of `opened`'s object, cut after its last complete line (unless that is all of
/// it).
pub async fn sample(core: &Core, repo_id: i64, opened: &Opened) -> Result<Vec<u8>> {
    let (oid, size) = &opened.object;
    let header = format!("bytes=0-{}", SAMPLE.min(*size).max(1) - 1);
    let range = (*size > 0).then_some(header.as_str());
    let mut body = match core.storage.read(repo_id, oid, range).await? {
        Some(Read::Found { object, .. }) => object.body,
        Some(Read::Unsatisfiable { .. }) => return Ok(Vec::new()),
        None => return Err(missing(oid)),
    };
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk.map_err(|e| Error::internal(e.to_string()))?);
    }
    let mut data = buf.to_vec();
    if *size > data.len() as u64 {
        if let Some(end) = data.iter().rposition(|b| *b == b'\n') {
            data.truncate(end + 1);
        }
    }
    Ok(data)
}

pub(crate) fn missing(oid: &strata_lfs::Oid) -> Error {
    Error::not_found(format!("the bytes of {oid} are not in storage"))
}

/// The types of a text table's columns: the declared ones, and for the others what the sample
/// shows. Empty for Parquet (its file has types) and JSON Lines (inferred as it is read).
pub fn csv_types(opened: &Opened, sample: &[u8]) -> HashMap<String, FieldType> {
    let mut types = opened.table.types.clone();
    let Kind::Csv { delimiter } = opened.kind else {
        return types;
    };
    let format = Format::default()
        .with_header(true)
        .with_delimiter(delimiter);
    // A sample the inference cannot read leaves undeclared columns as text; reading the table
    // then says what is wrong with it, and where.
    if let Ok((schema, _)) = format.infer_schema(Cursor::new(sample), Some(SAMPLE_ROWS)) {
        for field in schema.fields() {
            let name = field.name().trim_start_matches('\u{feff}').to_owned();
            types
                .entry(name)
                .or_insert_with(|| FieldType::of_arrow(field.data_type()));
        }
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(types: &[(&str, FieldType)]) -> Opened {
        let mut table = crate::datasets::catalog::Table {
            name: "t".into(),
            format: "csv".into(),
            ..Default::default()
        };
        table.types = types.iter().map(|(n, t)| ((*n).to_owned(), *t)).collect();
        Opened {
            catalog: Default::default(),
            table,
            kind: Kind::Csv { delimiter: b',' },
            object: (strata_lfs::Oid::EMPTY, 0),
            decision: Default::default(),
        }
    }

    #[test]
    fn undeclared_columns_get_the_type_their_rows_show() {
        let csv = b"id,amount,ok,day,at,name\n1,1.5,true,2024-01-31,2024-01-31T10:00:00,ann\n2,3,false,2024-02-01,2024-02-01T11:30:00,bob\n";
        let types = csv_types(&opened(&[("name", FieldType::String)]), csv);
        let want = [
            ("id", FieldType::Integer),
            ("amount", FieldType::Number),
            ("ok", FieldType::Boolean),
            ("day", FieldType::Date),
            ("at", FieldType::Datetime),
            ("name", FieldType::String),
        ];
        for (name, ty) in want {
            assert_eq!(types[name], ty, "{name}");
        }
        // A declared type wins over what the rows show.
        let types = csv_types(&opened(&[("id", FieldType::String)]), csv);
        assert_eq!(types["id"], FieldType::String);
    }
}
