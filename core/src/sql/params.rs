//! Values bound to a query's placeholders: `$1`, `$2`, … or `?` (numbered in the order they
//! appear in the text). Values come as JSON (REST) or as one row of an Arrow batch (Flight SQL's
//! prepared statements); each is cast to the type the query gives its placeholder (`amount > $1`
//! makes `$1` a number), so a value that cannot be one is refused before anything runs. Bound
//! values are literals in the plan: they are the caller's own, and every table is still the
//! caller's governed view.
//!
//! A Flight SQL prepared statement keeps nothing on the server: its handle is its query text, or,
//! once values are bound, a NUL byte, the text's length, the text, the values as an Arrow IPC
//! stream and an HMAC-SHA256 of all that under a key of this server's ([`Prepared`]): a handle
//! with values is read only when this server made it, so no client's bytes reach the IPC reader.
//! No query starts with a NUL byte.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{visit_expressions_mut, Expr, Statement, Value};

use crate::error::{Error, Result};

/// The most bytes of bound values one query takes.
pub const MAX_BYTES: usize = 1 << 20;

/// Values for `$1`, `$2`, … in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(Vec<ScalarValue>);

impl Params {
    /// No values: the query must have no placeholders.
    pub fn none() -> Params {
        Params::default()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Values given as JSON: text, numbers, `true`/`false` and `null`.
    pub fn from_json(values: &[serde_json::Value]) -> Result<Params> {
        use serde_json::Value as J;
        let mut out = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            out.push(match v {
                J::Null => ScalarValue::Null,
                J::Bool(b) => ScalarValue::Boolean(Some(*b)),
                J::String(s) => ScalarValue::Utf8(Some(s.clone())),
                J::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                    (Some(i), _, _) => ScalarValue::Int64(Some(i)),
                    (None, Some(u), _) => ScalarValue::UInt64(Some(u)),
                    (_, _, Some(f)) => ScalarValue::Float64(Some(f)),
                    _ => return Err(Error::bad_request(format!("parameter ${}: {n} is no number a query takes", i + 1))),
                },
                J::Array(_) | J::Object(_) => {
                    return Err(Error::bad_request(format!(
                        "parameter ${}: a value is text, a number, true, false or null, not a list or an object",
                        i + 1
                    )))
                }
            });
        }
        let params = Params(out);
        params.bounded()?;
        Ok(params)
    }

    /// Values given as the one row of `batch`, a column per placeholder in order.
    pub fn from_batch(batch: &RecordBatch) -> Result<Params> {
        if batch.num_rows() != 1 {
            return Err(Error::bad_request(format!(
                "bind one row of values to a query (one value per placeholder), not {}",
                batch.num_rows()
            )));
        }
        let values = batch
            .columns()
            .iter()
            .enumerate()
            .map(|(i, c)| {
                ScalarValue::try_from_array(c, 0).map_err(|e| {
                    Error::bad_request(format!(
                        "parameter ${}: not a value a query takes: {}",
                        i + 1,
                        e.strip_backtrace()
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let params = Params(values);
        params.bounded()?;
        Ok(params)
    }

    fn bounded(&self) -> Result<()> {
        let bytes: usize = self.0.iter().map(ScalarValue::size).sum();
        if bytes > MAX_BYTES {
            return Err(Error::too_large(format!(
                "bound values may take at most {} KiB",
                MAX_BYTES >> 10
            )));
        }
        Ok(())
    }

    /// The values as one row of an Arrow IPC stream (columns `$1`, `$2`, …).
    fn to_ipc(&self) -> Result<Vec<u8>> {
        let mut fields = Vec::with_capacity(self.0.len());
        let mut columns = Vec::with_capacity(self.0.len());
        for (i, v) in self.0.iter().enumerate() {
            fields.push(Field::new(format!("${}", i + 1), v.data_type(), true));
            columns.push(v.to_array().map_err(|e| Error::internal(e.to_string()))?);
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| Error::internal(e.to_string()))?;
        let mut out = Vec::new();
        let mut w =
            StreamWriter::try_new(&mut out, &schema).map_err(|e| Error::internal(e.to_string()))?;
        w.write(&batch)
            .and_then(|_| w.finish())
            .map_err(|e| Error::internal(e.to_string()))?;
        drop(w);
        Ok(out)
    }

    fn from_ipc(bytes: &[u8]) -> Result<Params> {
        let bad = |e: String| {
            Error::bad_request(format!("a statement handle's values are unreadable: {e}"))
        };
        let reader = StreamReader::try_new(bytes, None).map_err(|e| bad(e.to_string()))?;
        let mut batches = Vec::new();
        for b in reader {
            batches.push(b.map_err(|e| bad(e.to_string()))?);
        }
        match batches.as_slice() {
            [one] => Params::from_batch(one),
            _ => Err(bad("not one row".into())),
        }
    }
}

/// A Flight SQL prepared statement: its query and the values bound to it (stateless: the handle
/// carries both).
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub query: String,
    pub params: Params,
}

impl Prepared {
    /// The handle: the query's text; with values, a NUL byte, the text's length (4 bytes, big
    /// endian), the text, the values as Arrow IPC, and their signature under `key`.
    pub fn handle(&self, key: &[u8; 32]) -> Result<Vec<u8>> {
        if self.params.is_empty() {
            return Ok(self.query.clone().into_bytes());
        }
        let len = u32::try_from(self.query.len())
            .map_err(|_| Error::too_large("the query is too long"))?;
        let mut out = vec![0];
        out.extend(len.to_be_bytes());
        out.extend(self.query.as_bytes());
        out.extend(self.params.to_ipc()?);
        let mac = signature(key, &out);
        out.extend(mac);
        Ok(out)
    }

    /// The statement a handle stands for; a handle with values must carry the signature under
    /// `key` of what it holds, checked before anything of it is read.
    pub fn of(handle: &[u8], key: &[u8; 32]) -> Result<Prepared> {
        let unreadable = || Error::bad_request("a statement handle this server did not make");
        let handle = match handle {
            [0, ..] => {
                let (signed, mac) = handle.split_last_chunk::<32>().ok_or_else(unreadable)?;
                use hmac::{KeyInit, Mac};
                let mut check =
                    hmac::Hmac::<sha2::Sha256>::new_from_slice(key).map_err(Error::internal)?;
                check.update(signed);
                check.verify_slice(mac).map_err(|_| unreadable())?;
                signed
            }
            _ => handle,
        };
        let (text, values) = match handle {
            [0, rest @ ..] => {
                let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(unreadable)?;
                let len = u32::from_be_bytes(*len) as usize;
                if rest.len() < len {
                    return Err(unreadable());
                }
                let (text, values) = rest.split_at(len);
                (text, Some(values))
            }
            _ => (handle, None),
        };
        let query = String::from_utf8(text.to_vec()).map_err(|_| {
            Error::bad_request("a statement handle holds the query's text, in UTF-8")
        })?;
        let params = match values {
            Some(v) => Params::from_ipc(v)?,
            None => Params::none(),
        };
        Ok(Prepared { query, params })
    }
}

/// HMAC-SHA256 of `data` under `key`.
fn signature(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The key statement handles with values are signed under.
pub fn handle_key(core: &crate::Core) -> [u8; 32] {
    core.jwt.derive("strata sql statement handle")
}

/// Numbers the `?` placeholders of `statement` `$1`, `$2`, … in the order they appear in its
/// text. A query uses `?` or `$n`, not both.
pub(super) fn number_question_marks(statement: &mut Statement) -> Result<()> {
    let (mut marks, mut numbered) = (Vec::new(), false);
    let _ = visit_expressions_mut(statement, |e| {
        if let Expr::Value(v) = e {
            if let Value::Placeholder(p) = &v.value {
                if p == "?" {
                    marks.push((v.span.start.line, v.span.start.column));
                } else {
                    numbered = true;
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    if marks.is_empty() {
        return Ok(());
    }
    if numbered {
        return Err(Error::bad_request(
            "a query's placeholders are all ? or all $1, $2, …: not both",
        ));
    }
    marks.sort_unstable();
    let _ = visit_expressions_mut(statement, |e| {
        if let Expr::Value(v) = e {
            if matches!(&v.value, Value::Placeholder(p) if p == "?") {
                let at = (v.span.start.line, v.span.start.column);
                let n = marks.binary_search(&at).unwrap_or(0) + 1;
                v.value = Value::Placeholder(format!("${n}"));
            }
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(())
}

/// The placeholders of `plan` as a schema (`$1`, `$2`, … with the type the query gives each;
/// `Null` where it gives none).
pub(super) fn schema(plan: &LogicalPlan) -> Result<SchemaRef> {
    let types = placeholders(plan)?;
    let fields: Vec<Field> = types
        .into_iter()
        .enumerate()
        .map(|(i, t)| Field::new(format!("${}", i + 1), t.unwrap_or(DataType::Null), true))
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// The placeholders' types in order, `$1` first; named placeholders (`$name`) and gaps are
/// refused.
fn placeholders(plan: &LogicalPlan) -> Result<Vec<Option<DataType>>> {
    let found: HashMap<String, Option<DataType>> = plan
        .get_parameter_types()
        .map_err(|e| Error::bad_request(e.strip_backtrace()))?;
    let mut out = vec![None; found.len()];
    for (id, t) in found {
        let n = id
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=out.len()).contains(n))
            .ok_or_else(|| {
                Error::bad_request(format!(
                    "placeholder {id}: number placeholders $1, $2, … without gaps, or write ?"
                ))
            })?;
        out[n - 1] = t;
    }
    Ok(out)
}

/// `plan` with `params` in place of its placeholders, each cast to its placeholder's type.
pub(super) fn bind(plan: LogicalPlan, params: &Params) -> Result<LogicalPlan> {
    let types = placeholders(&plan)?;
    if types.len() != params.len() {
        return Err(Error::bad_request(format!(
            "the query has {} placeholder{} and {} value{} {} bound",
            types.len(),
            if types.len() == 1 { "" } else { "s" },
            params.len(),
            if params.len() == 1 { "" } else { "s" },
            if params.len() == 1 { "was" } else { "were" },
        )));
    }
    if types.is_empty() {
        return Ok(plan);
    }
    let mut values = Vec::with_capacity(types.len());
    for (i, (v, t)) in params.0.iter().zip(types).enumerate() {
        values.push(match t {
            Some(t) if v.data_type() != t && !v.is_null() => {
                let unfit = || {
                    Error::bad_request(format!(
                        "parameter ${}: {v} cannot be read as {t}, the type the query gives it",
                        i + 1
                    ))
                };
                let cast = v.cast_to(&t).map_err(|_| unfit())?;
                // A number read as another kind of number keeps its value (2.5 is no integer).
                if v.data_type().is_numeric()
                    && t.is_numeric()
                    && cast.cast_to(&v.data_type()).ok().as_ref() != Some(v)
                {
                    return Err(unfit());
                }
                cast
            }
            Some(t) if v.is_null() => ScalarValue::try_from(&t).unwrap_or(ScalarValue::Null),
            _ => v.clone(),
        });
    }
    plan.with_param_values(values)
        .map_err(|e| Error::bad_request(e.strip_backtrace()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_carries_the_query_and_its_values_signed() {
        let key = [7u8; 32];
        let p = Prepared {
            query: "SELECT $1, $2".into(),
            params: Params::from_json(&[serde_json::json!(5), serde_json::json!("a\0b")]).unwrap(),
        };
        let handle = p.handle(&key).unwrap();
        assert_eq!(Prepared::of(&handle, &key).unwrap(), p);
        // Another server's key, a changed byte, a cut: refused before any of it is read.
        assert!(Prepared::of(&handle, &[8u8; 32]).is_err());
        let mut changed = handle.clone();
        changed[10] ^= 1;
        assert!(Prepared::of(&changed, &key).is_err());
        assert!(Prepared::of(&handle[..handle.len() - 1], &key).is_err());
        let bare = Prepared {
            query: "SELECT 1".into(),
            params: Params::none(),
        };
        assert_eq!(bare.handle(&key).unwrap(), b"SELECT 1");
        assert_eq!(Prepared::of(b"SELECT 1", &key).unwrap(), bare);
        // Forged IPC claiming a huge body never reaches the reader.
        let mut forged = vec![0, 0, 0, 0, 8];
        forged.extend(b"SELECT 1");
        forged.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        forged.extend([0u8; 32]);
        assert!(Prepared::of(&forged, &key).is_err());
        assert!(Prepared::of(&[0], &key).is_err());
        assert!(Prepared::of(&[0xff, 0xfe], &key).is_err());
    }

    #[test]
    fn json_values_are_scalars_and_lists_are_refused() {
        let p = Params::from_json(
            &serde_json::from_str::<Vec<_>>(r#"[1, 2.5, "x", true, null, 18446744073709551615]"#)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            p.0,
            vec![
                ScalarValue::Int64(Some(1)),
                ScalarValue::Float64(Some(2.5)),
                ScalarValue::Utf8(Some("x".into())),
                ScalarValue::Boolean(Some(true)),
                ScalarValue::Null,
                ScalarValue::UInt64(Some(u64::MAX)),
            ]
        );
        assert!(Params::from_json(&[serde_json::json!([1])]).is_err());
        let big = "x".repeat(MAX_BYTES + 1);
        assert!(Params::from_json(&[serde_json::json!(big)]).is_err());
    }
}
