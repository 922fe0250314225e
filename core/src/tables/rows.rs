//! A page of a table's rows: filters (combined with AND), a full-text search over every column,
//! a sort by any columns, then `offset` and `limit`, and only the columns asked for; with the
//! total of rows that match. Everything runs on the caller's view, so a redacted column sorts,
//! filters and matches on its redacted value and a removed one does not exist.

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{cast, col, lit, Expr};
use serde::Serialize;
use serde_json::Value;
use strata_policy::table::FieldType;

use super::engine_error;
use super::view::View;
use crate::error::{Error, Result};
use crate::Core;

/// The most rows one page holds.
pub const MAX_LIMIT: usize = 1000;
/// The most filters and sort columns a query may have.
const MAX_TERMS: usize = 32;

/// How rows are compared with a filter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// One of a comma-separated list.
    In,
    /// The value's text holds this text (any case).
    Contains,
    /// `true`: empty; `false`: not empty.
    IsNull,
}

/// One filter: `column:op:value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub column: String,
    pub op: Op,
    pub value: String,
}

impl std::str::FromStr for Filter {
    type Err = Error;

    /// `column:op:value` (the value may hold colons; `in` takes a comma-separated list).
    fn from_str(s: &str) -> Result<Filter> {
        let bad = || {
            Error::bad_request(format!(
                "filter {s:?} is not column:op:value (op: eq, ne, lt, le, gt, ge, in, contains, is_null)"
            ))
        };
        let (column, rest) = s.split_once(':').ok_or_else(bad)?;
        let (op, value) = rest.split_once(':').unwrap_or((rest, ""));
        let op = match op {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "in" => Op::In,
            "contains" => Op::Contains,
            "is_null" => Op::IsNull,
            _ => return Err(bad()),
        };
        if column.is_empty() {
            return Err(bad());
        }
        Ok(Filter {
            column: column.to_owned(),
            op,
            value: value.to_owned(),
        })
    }
}

/// What a page asks for.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub offset: u64,
    pub limit: usize,
    /// Columns to sort by, `true` for descending.
    pub sort: Vec<(String, bool)>,
    pub filters: Vec<Filter>,
    /// Text to find in any column.
    pub q: Option<String>,
    /// Only these columns, in this order.
    pub columns: Option<Vec<String>>,
}

impl Query {
    /// A page's parameters from a query string's pairs: `offset`, `limit` (default 100), `sort`
    /// (`column` or `column:desc`, comma-separated or repeated), `filter` (repeated), `q`,
    /// `columns`; `rev` and `intent` fill `at`. Keys in `also` are left to the caller; any other
    /// is refused, as is a number that is not one (400).
    pub fn parse(pairs: &[(String, String)], at: &mut super::At, also: &[&str]) -> Result<Query> {
        let mut query = Query {
            limit: 100,
            ..Query::default()
        };
        let number = |k: &str, v: &str| {
            v.parse::<u64>()
                .map_err(|_| Error::bad_request(format!("{k} must be a whole number, not {v:?}")))
        };
        for (k, v) in pairs {
            match k.as_str() {
                "rev" => at.rev = Some(v.clone()).filter(|r| !r.is_empty()),
                "intent" => at.intent = Some(v.clone()).filter(|i| !i.is_empty()),
                "offset" => query.offset = number(k, v)?,
                "limit" => query.limit = usize::try_from(number(k, v)?).unwrap_or(usize::MAX),
                "q" => query.q = Some(v.clone()).filter(|q| !q.is_empty()),
                "columns" => {
                    query.columns = Some(
                        v.split(',')
                            .map(str::trim)
                            .filter(|c| !c.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    )
                }
                "sort" => {
                    for term in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                        query.sort.push(match term.rsplit_once(':') {
                            Some((c, "desc")) => (c.to_owned(), true),
                            Some((c, "asc")) => (c.to_owned(), false),
                            _ => (term.to_owned(), false),
                        });
                    }
                }
                "filter" if v.is_empty() => {}
                "filter" => query.filters.push(v.parse()?),
                other if also.contains(&other) => {}
                other => {
                    return Err(Error::bad_request(format!(
                        "unknown parameter {other:?} (rev, offset, limit, sort, filter, q, columns, intent)"
                    )))
                }
            }
        }
        Ok(query)
    }
}

/// A column as the page names it.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    /// Its Frictionless type.
    #[serde(rename = "type")]
    pub ty: &'static str,
}

/// A page of rows.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub columns: Vec<Column>,
    /// Each row's values, in the order of `columns`.
    pub rows: Vec<Vec<Value>>,
    /// Rows that match the filters and the search, in all.
    pub total: u64,
    pub offset: u64,
    pub limit: usize,
}

/// The columns of a schema, with their Frictionless types.
pub fn columns_of(schema: &Schema) -> Vec<Column> {
    schema
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            ty: FieldType::of_arrow(f.data_type()).frictionless(),
        })
        .collect()
}

/// The page `query` asks for of `view`.
pub async fn page(core: &Core, view: &View, query: &Query) -> Result<Page> {
    if query.limit == 0 || query.limit > MAX_LIMIT {
        return Err(Error::unprocessable(format!(
            "limit must be 1 to {MAX_LIMIT}"
        )));
    }
    if query.filters.len() + query.sort.len() > MAX_TERMS {
        return Err(Error::unprocessable(format!(
            "at most {MAX_TERMS} filters and sort columns"
        )));
    }
    let df = core.tables.session(core, view).await?;
    let schema = df.schema().as_arrow().clone();
    let known = |name: &str| known(&schema, name);
    let unfiltered = query.filters.is_empty() && query.q.is_none();
    let mut df = filtered(df, query)?;
    let total = if unfiltered {
        view.rows
    } else {
        df.clone().count().await.map_err(engine_error)? as u64
    };
    if !query.sort.is_empty() {
        let mut order = Vec::new();
        for (c, desc) in &query.sort {
            known(c)?;
            order.push(col(quoted(c)).sort(!desc, false));
        }
        df = df.sort(order).map_err(engine_error)?;
    }
    let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
    df = df.limit(offset, Some(query.limit)).map_err(engine_error)?;
    if let Some(cols) = &query.columns {
        for c in cols {
            known(c)?;
        }
        let picked: Vec<Expr> = cols.iter().map(|c| col(quoted(c))).collect();
        df = df.select(picked).map_err(engine_error)?;
    }
    let out_schema = df.schema().as_arrow().clone();
    let batches = df.collect().await.map_err(engine_error)?;
    Ok(Page {
        columns: columns_of(&out_schema),
        rows: to_rows(&out_schema, &batches)?,
        total,
        offset: query.offset,
        limit: query.limit,
    })
}

/// The type of the column `name` of `schema`, or a refusal naming the columns it has.
fn known(schema: &Schema, name: &str) -> Result<DataType> {
    schema
        .field_with_name(name)
        .map(|f| f.data_type().clone())
        .map_err(|_| {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            Error::unprocessable(format!(
                "the table has no column {name:?} (its columns: {})",
                names.join(", ")
            ))
        })
}

/// `df`'s rows that `query`'s filters and search keep.
pub(super) fn filtered(
    df: datafusion::prelude::DataFrame,
    query: &Query,
) -> Result<datafusion::prelude::DataFrame> {
    let schema = df.schema().as_arrow().clone();
    let mut df = df;
    for f in &query.filters {
        let ty = known(&schema, &f.column)?;
        df = df.filter(condition(f, &ty)?).map_err(engine_error)?;
    }
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        let any = schema
            .fields()
            .iter()
            .map(|f| contains(text_of(f.name()), q))
            .reduce(Expr::or)
            .unwrap_or_else(|| lit(false));
        df = df.filter(any).map_err(engine_error)?;
    }
    Ok(df)
}

/// A column name as DataFusion's `col` reads it (case and dots kept).
pub fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The column's values as text.
fn text_of(name: &str) -> Expr {
    cast(col(quoted(name)), DataType::Utf8)
}

/// Whether `expr` holds `needle`, in any case (`%`, `_` and `\` in it match themselves).
fn contains(expr: Expr, needle: &str) -> Expr {
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Expr::Like(datafusion::logical_expr::expr::Like::new(
        false,
        Box::new(expr),
        Box::new(lit(format!("%{escaped}%"))),
        Some('\\'),
        true,
    ))
}

/// `f` as a condition on a column of type `ty`.
fn condition(f: &Filter, ty: &DataType) -> Result<Expr> {
    let c = col(quoted(&f.column));
    let value = |v: &str| -> Result<Expr> {
        ScalarValue::try_from_string(v.to_owned(), ty)
            .map(lit)
            .map_err(|_| {
                Error::unprocessable(format!(
                    "filter on {:?}: {v:?} is not of type {}",
                    f.column,
                    FieldType::of_arrow(ty).frictionless()
                ))
            })
    };
    Ok(match f.op {
        Op::Eq => c.eq(value(&f.value)?),
        Op::Ne => c.not_eq(value(&f.value)?),
        Op::Lt => c.lt(value(&f.value)?),
        Op::Le => c.lt_eq(value(&f.value)?),
        Op::Gt => c.gt(value(&f.value)?),
        Op::Ge => c.gt_eq(value(&f.value)?),
        Op::In => {
            let list = f.value.split(',').map(value).collect::<Result<Vec<_>>>()?;
            c.in_list(list, false)
        }
        Op::Contains => contains(text_of(&f.column), &f.value),
        Op::IsNull => match f.value.as_str() {
            "" | "true" => c.is_null(),
            "false" => c.is_not_null(),
            other => {
                return Err(Error::unprocessable(format!(
                    "is_null takes true or false, not {other:?}"
                )))
            }
        },
    })
}

/// Record batches as rows of JSON values (numbers as numbers, dates and times as ISO text), in
/// the order of `schema`'s columns.
pub(crate) fn to_rows(
    schema: &Schema,
    batches: &[datafusion::arrow::record_batch::RecordBatch],
) -> Result<Vec<Vec<Value>>> {
    Ok(objects(batches)?
        .into_iter()
        .map(|mut o| {
            schema
                .fields()
                .iter()
                .map(|f| o.remove(f.name()).unwrap_or(Value::Null))
                .collect()
        })
        .collect())
}

/// Record batches as JSON objects by column name (a null is absent).
pub(crate) fn objects(
    batches: &[datafusion::arrow::record_batch::RecordBatch],
) -> Result<Vec<serde_json::Map<String, Value>>> {
    let mut out = Vec::new();
    let mut writer = arrow_json::ArrayWriter::new(&mut out);
    for b in batches {
        writer
            .write(b)
            .map_err(|e| Error::internal(format!("rows as JSON: {e}")))?;
    }
    writer
        .finish()
        .map_err(|e| Error::internal(format!("rows as JSON: {e}")))?;
    drop(writer);
    if out.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&out).map_err(|e| Error::internal(format!("rows as JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_as_column_op_value() {
        let f: Filter = "at:ge:2024-01-01T10:00:00".parse().unwrap();
        assert_eq!(
            (f.column.as_str(), f.op, f.value.as_str()),
            ("at", Op::Ge, "2024-01-01T10:00:00")
        );
        let f: Filter = "name:is_null".parse().unwrap();
        assert_eq!(f.op, Op::IsNull);
        for bad in ["name", ":eq:1", "name:like:x", ""] {
            assert!(bad.parse::<Filter>().is_err(), "{bad}");
        }
    }
}
