//! A data file's column statistics for its manifest, from the view's Parquet footer: per
//! top-level column, its bytes, values, nulls, and bounds in Iceberg's single-value form, so
//! engines skip a snapshot's file when a filter cannot match. They are the view's: a redacted
//! column's bounds are the redacted values', a removed column has none. Bounds only where exact
//! (Parquet may cut long strings' statistics short).

use std::collections::HashMap;

use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use datafusion::parquet::file::statistics::Statistics;
use futures_util::StreamExt;

use super::avro::ColumnStats;
use crate::error::{Error, Result};
use crate::storage::Read;
use crate::tables::view::View;
use crate::Core;

/// The bytes of `view` in `range` (`a-b`, inclusive).
async fn read(core: &Core, view: &View, from: u64, to: u64) -> Result<Vec<u8>> {
    let range = format!("bytes={from}-{to}");
    let mut body = match core
        .storage
        .read(view.place(), &view.oid, Some(&range))
        .await?
    {
        Some(Read::Found { object, .. }) => object.body,
        _ => return Err(Error::internal("a view's footer cannot be read")),
    };
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.map_err(|e| Error::internal(e.to_string()))?);
    }
    Ok(out)
}

/// The footer of the view's Parquet file.
async fn footer(core: &Core, view: &View) -> Result<ParquetMetaData> {
    let bad = || Error::internal("a view that is not a Parquet file");
    if view.size < 12 {
        return Err(bad());
    }
    let tail = read(core, view, view.size - 8, view.size - 1).await?;
    if tail.len() != 8 || &tail[4..] != b"PAR1" {
        return Err(bad());
    }
    let len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if len + 8 > view.size - 4 {
        return Err(bad());
    }
    let meta = read(core, view, view.size - 8 - len, view.size - 9).await?;
    ParquetMetaDataReader::decode_metadata(&meta).map_err(|e| Error::internal(e.to_string()))
}

/// The statistics of `view`'s top-level columns that have ids in `ids` (by path, as
/// `super::schema` keeps them).
pub async fn of(
    core: &Core,
    view: &View,
    columns: &SchemaRef,
    ids: &HashMap<String, i32>,
) -> Result<Vec<ColumnStats>> {
    let footer = footer(core, view).await?;
    let mut out: Vec<(String, ColumnStats, Bounds)> = Vec::new();
    for group in footer.row_groups() {
        for chunk in group.columns() {
            let parts = chunk.column_path().parts();
            let [name] = parts else { continue };
            let Some(id) = ids.get(&serde_json::to_string(&[name]).unwrap_or_default()) else {
                continue;
            };
            let Ok(field) = columns.field_with_name(name) else {
                continue;
            };
            let at = match out.iter().position(|(n, ..)| n == name) {
                Some(i) => i,
                None => {
                    let stats = ColumnStats {
                        id: *id,
                        nulls: Some(0),
                        ..Default::default()
                    };
                    out.push((name.clone(), stats, Bounds::Empty));
                    out.len() - 1
                }
            };
            let (_, stats, bounds) = &mut out[at];
            stats.size += u64::try_from(chunk.compressed_size()).unwrap_or(0);
            stats.values += u64::try_from(chunk.num_values()).unwrap_or(0);
            let s = chunk.statistics();
            stats.nulls = match (stats.nulls, s.and_then(Statistics::null_count_opt)) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            bounds.add(s, field.data_type());
        }
    }
    Ok(out
        .into_iter()
        .map(|(_, mut stats, bounds)| {
            if let Bounds::Some(lower, upper) = bounds {
                stats.lower = Some(lower.bytes());
                stats.upper = Some(upper.bytes());
            }
            stats
        })
        .collect())
}

/// A column's bounds so far.
enum Bounds {
    Empty,
    /// A row group without exact statistics: no bounds at all.
    Unknown,
    Some(Value, Value),
}

/// A value as Iceberg writes a bound, and how it orders.
#[derive(PartialEq, PartialOrd)]
enum Value {
    Bool(bool),
    Int(i32),
    Long(i64),
    Float(f32),
    Double(f64),
    Text(Vec<u8>),
}

impl Value {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Value::Bool(b) => vec![u8::from(*b)],
            Value::Int(v) => v.to_le_bytes().to_vec(),
            Value::Long(v) => v.to_le_bytes().to_vec(),
            Value::Float(v) => v.to_le_bytes().to_vec(),
            Value::Double(v) => v.to_le_bytes().to_vec(),
            Value::Text(v) => v.clone(),
        }
    }
}

/// A row group's min and max of a column of Arrow type `ty`, as Iceberg values, if exact and
/// of a type whose bounds Iceberg reads as Parquet stores them.
fn min_max(s: &Statistics, ty: &DataType) -> Option<(Value, Value)> {
    if !s.min_is_exact() || !s.max_is_exact() {
        return None;
    }
    let micros = |v: i64, up: bool| match ty {
        DataType::Timestamp(TimeUnit::Second, _) => v.checked_mul(1_000_000),
        DataType::Timestamp(TimeUnit::Millisecond, _) => v.checked_mul(1_000),
        DataType::Timestamp(TimeUnit::Nanosecond, _) if up => Some(v.div_euclid(1_000) + 1),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => Some(v.div_euclid(1_000)),
        _ => Some(v),
    };
    Some(match (s, ty) {
        (Statistics::Boolean(v), DataType::Boolean) => {
            (Value::Bool(*v.min_opt()?), Value::Bool(*v.max_opt()?))
        }
        (
            Statistics::Int32(v),
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Date32,
        ) => (Value::Int(*v.min_opt()?), Value::Int(*v.max_opt()?)),
        (Statistics::Int64(v), DataType::Int64 | DataType::Timestamp(..)) => (
            Value::Long(micros(*v.min_opt()?, false)?),
            Value::Long(micros(*v.max_opt()?, true)?),
        ),
        (Statistics::Float(v), DataType::Float32) => {
            (Value::Float(*v.min_opt()?), Value::Float(*v.max_opt()?))
        }
        (Statistics::Double(v), DataType::Float64) => {
            (Value::Double(*v.min_opt()?), Value::Double(*v.max_opt()?))
        }
        (Statistics::ByteArray(v), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => (
            Value::Text(v.min_opt()?.data().to_vec()),
            Value::Text(v.max_opt()?.data().to_vec()),
        ),
        _ => return None,
    })
}

impl Bounds {
    fn add(&mut self, s: Option<&Statistics>, ty: &DataType) {
        if matches!(self, Bounds::Unknown) {
            return;
        }
        // A row group of nulls only has no min or max, and bounds nothing.
        if s.is_some_and(|s| s.min_bytes_opt().is_none() && s.null_count_opt().is_some()) {
            return;
        }
        let Some((lo, hi)) = s.and_then(|s| min_max(s, ty)) else {
            *self = Bounds::Unknown;
            return;
        };
        *self = match std::mem::replace(self, Bounds::Empty) {
            Bounds::Some(l, u) => {
                Bounds::Some(if lo < l { lo } else { l }, if hi > u { hi } else { u })
            }
            _ => Bounds::Some(lo, hi),
        };
    }
}
