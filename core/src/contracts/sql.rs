//! The queries behind a contract check: one aggregate per table counting every per-row rule's
//! breaches at once, one grouping per unique column or key, one anti-join per foreign key; then,
//! for what broke, an ordered pass (one partition, so row numbers are the file's) for the first
//! rows. Views are `t0`, `t1`, … in the session; column names and literals are quoted here, never
//! taken as SQL.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type, UInt64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{SessionConfig, SessionContext};
use serde_json::Value;

use super::rules::{Rule, TableContract};
use super::{Violation, ROWS_NAMED};
use crate::error::{Error, Result};
use crate::tables::{engine_error, rows::quoted};
use crate::Core;

/// A session over the tables' shared runtime (its memory pool spills sorts and groups).
pub(super) fn context(core: &Core) -> SessionContext {
    let (runtime, _) = core.tables.engine(core);
    let mut config = SessionConfig::new()
        .with_target_partitions(2)
        .with_batch_size(8192);
    config.options_mut().sql_parser.enable_ident_normalization = false;
    SessionContext::new_with_config_rt(config, runtime)
}

/// One check: its rule, column, and the condition a breaking row meets.
struct Check {
    rule: &'static str,
    column: String,
    /// Over the table's columns; true for a row that breaks the rule.
    condition: String,
    message: String,
}

fn text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A JSON value as a literal for a column of Frictionless type `ty`.
fn literal(v: &Value, ty: &str) -> String {
    match (v, ty) {
        (Value::Number(n), _) => n.to_string(),
        (Value::String(s), "date") => format!("DATE {}", text(s)),
        (Value::String(s), "datetime") => format!("CAST({} AS TIMESTAMP)", text(s)),
        (Value::String(s), "time") => format!("CAST({} AS TIME)", text(s)),
        (Value::String(s), _) => text(s),
        (other, _) => text(&other.to_string()),
    }
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The per-row checks of `c`'s columns that `present` has.
fn checks(c: &TableContract, present: &[String]) -> (Vec<Check>, Vec<Violation>) {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (name, ty, rules) in &c.columns {
        let needed = !rules.is_empty() || c.primary_key.contains(name);
        if !present.contains(name) {
            if needed {
                missing.push(Violation {
                    resource: c.resource.clone(),
                    column: Some(name.clone()),
                    rule: "column".into(),
                    count: 0,
                    rows: Vec::new(),
                    message: "the schema declares this column and the table has none".into(),
                });
            }
            continue;
        }
        let q = quoted(name);
        let as_text = format!("CAST({q} AS VARCHAR)");
        let blank = if ty == "string" || ty.is_empty() {
            format!("({q} IS NULL OR {as_text} = '')")
        } else {
            format!("{q} IS NULL")
        };
        let mut push = |rule: &'static str, condition: String, message: String| {
            out.push(Check {
                rule,
                column: name.clone(),
                condition,
                message,
            })
        };
        let required = rules.contains(&Rule::Required) || c.primary_key.contains(name);
        if required {
            let rule = if rules.contains(&Rule::Required) {
                "required"
            } else {
                "primaryKey"
            };
            push(
                rule,
                blank.clone(),
                "a value is required and this row has none".into(),
            );
        }
        for rule in rules {
            let present = format!("NOT {blank}");
            match rule {
                Rule::Required | Rule::Unique => {}
                Rule::Enum(values) => {
                    let list: Vec<String> = values
                        .iter()
                        .map(|v| {
                            if ty == "string" {
                                text(&shown(v))
                            } else {
                                literal(v, ty)
                            }
                        })
                        .collect();
                    push(
                        "enum",
                        format!("{present} AND {q} NOT IN ({})", list.join(", ")),
                        format!(
                            "not one of the values allowed ({})",
                            values.iter().map(shown).collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
                Rule::Minimum(v) => push(
                    "minimum",
                    format!("{present} AND {q} < {}", literal(v, ty)),
                    format!("below the minimum {}", shown(v)),
                ),
                Rule::Maximum(v) => push(
                    "maximum",
                    format!("{present} AND {q} > {}", literal(v, ty)),
                    format!("above the maximum {}", shown(v)),
                ),
                Rule::Pattern(p) => push(
                    "pattern",
                    format!(
                        "{present} AND NOT regexp_like({as_text}, {})",
                        text(&format!("^(?:{p})$"))
                    ),
                    format!("does not match the pattern {p}"),
                ),
                Rule::MinLength(n) => push(
                    "minLength",
                    format!("{present} AND character_length({as_text}) < {n}"),
                    format!("shorter than {n} characters"),
                ),
                Rule::MaxLength(n) => push(
                    "maxLength",
                    format!("{present} AND character_length({as_text}) > {n}"),
                    format!("longer than {n} characters"),
                ),
            }
        }
    }
    // Key columns the schema does not declare (types inferred) are required all the same.
    for k in &c.primary_key {
        if present.contains(k) && !c.columns.iter().any(|(n, _, _)| n == k) {
            let q = quoted(k);
            out.push(Check {
                rule: "primaryKey",
                column: k.clone(),
                condition: format!("({q} IS NULL OR CAST({q} AS VARCHAR) = '')"),
                message: "a value is required and this row has none".into(),
            });
        }
    }
    (out, missing)
}

/// Runs one check. The engine's own messages may quote a cell (a cast that fails), so none is
/// passed on: the refusal says the table cannot be checked as its schema says, and the log has
/// the cause for the operator.
async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let failed = |e: datafusion::error::DataFusionError| {
        if let datafusion::error::DataFusionError::ResourcesExhausted(_) = e.find_root() {
            return engine_error(e);
        }
        tracing::warn!(error = %e, "a contract check failed");
        Error::unprocessable(
            "the table cannot be checked as its schema says: a value does not fit the type a rule compares it as",
        )
    };
    let df = ctx.sql(sql).await.map_err(failed)?;
    df.collect().await.map_err(failed)
}

/// The whole numbers of a result's first column.
fn numbers(batches: &[RecordBatch]) -> Vec<u64> {
    let mut out = Vec::new();
    for b in batches {
        let col = b.column(0);
        for i in 0..col.len() {
            if col.is_null(i) {
                out.push(0);
                continue;
            }
            out.push(match col.data_type() {
                DataType::Int64 => col.as_primitive::<Int64Type>().value(i).max(0) as u64,
                DataType::UInt64 => col.as_primitive::<UInt64Type>().value(i),
                _ => 0,
            });
        }
    }
    out
}

/// A session like [`context`] with one partition: row numbers follow the file.
pub(super) fn ordered(core: &Core) -> SessionContext {
    let ctx = context(core);
    SessionContext::new_with_config_rt(
        ctx.copied_config().with_target_partitions(1),
        ctx.runtime_env(),
    )
}

/// The first rows (numbered in file order from 1) of table `t` that meet `condition`, in the
/// one-partition session `ordered`.
async fn first_rows(ordered: &SessionContext, t: &str, condition: &str) -> Result<Vec<u64>> {
    let sql = format!(
        "SELECT CAST(__row AS BIGINT) AS __n FROM (SELECT row_number() OVER () AS __row, * FROM {t}) AS {t} \
         WHERE {condition} ORDER BY __n LIMIT {ROWS_NAMED}"
    );
    Ok(numbers(&run(ordered, &sql).await?))
}

/// Every rule of `c` its rows break; `index` names the view (`t{n}`) of a resource.
pub(super) async fn violations(
    ctx: &SessionContext,
    ordered: &SessionContext,
    c: &TableContract,
    index: &(dyn Fn(&str) -> usize + Sync),
) -> Result<Vec<Violation>> {
    let t = format!("t{}", index(&c.resource));
    let present: Vec<String> = ctx
        .table(t.as_str())
        .await
        .map_err(engine_error)?
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let (checks, mut out) = checks(c, &present);
    // Keys naming columns the data lacks (declared nowhere, or declared and missing).
    let declared: Vec<&String> = c.columns.iter().map(|(n, _, _)| n).collect();
    let keyed = c
        .primary_key
        .iter()
        .chain(c.foreign_keys.iter().flat_map(|fk| &fk.fields));
    let mut lacking: Vec<&String> = keyed
        .filter(|k| !present.contains(k) && !declared.contains(k))
        .collect();
    lacking.dedup();
    for k in lacking {
        out.push(Violation {
            resource: c.resource.clone(),
            column: Some(k.clone()),
            rule: "column".into(),
            count: 0,
            rows: Vec::new(),
            message: "a key names this column and the table has none".into(),
        });
    }
    let violation = |rule: &str, column: String, count: u64, message: String| Violation {
        resource: c.resource.clone(),
        column: Some(column),
        rule: rule.into(),
        count,
        rows: Vec::new(),
        message,
    };
    // Every per-row rule in one scan.
    let mut found = Vec::new();
    if !checks.is_empty() {
        let sums: Vec<String> = checks
            .iter()
            .map(|k| {
                format!(
                    "CAST(sum(CASE WHEN {} THEN 1 ELSE 0 END) AS BIGINT)",
                    k.condition
                )
            })
            .collect();
        let batches = run(ctx, &format!("SELECT {} FROM {t}", sums.join(", "))).await?;
        for (i, k) in checks.iter().enumerate() {
            let n = batches
                .first()
                .filter(|b| b.num_rows() > 0)
                .map(|b| numbers(&[b.project(&[i]).unwrap_or_else(|_| b.clone())]))
                .and_then(|v| v.first().copied())
                .unwrap_or(0);
            if n > 0 {
                found.push((
                    violation(k.rule, k.column.clone(), n, k.message.clone()),
                    k.condition.clone(),
                ));
            }
        }
    }
    // Unique columns and the primary key: values held by more than one row.
    let mut keys: Vec<(&'static str, Vec<String>)> = c
        .columns
        .iter()
        .filter(|(n, _, r)| r.contains(&Rule::Unique) && present.contains(n))
        .map(|(n, _, _)| ("unique", vec![n.clone()]))
        .collect();
    if !c.primary_key.is_empty() && c.primary_key.iter().all(|k| present.contains(k)) {
        keys.push(("primaryKey", c.primary_key.clone()));
    }
    for (rule, cols) in keys {
        let list: Vec<String> = cols.iter().map(|k| quoted(k)).collect();
        let list = list.join(", ");
        let not_null: Vec<String> = cols
            .iter()
            .map(|k| format!("{t}.{} IS NOT NULL", quoted(k)))
            .collect();
        let not_null = not_null.join(" AND ");
        let sql = format!(
            "SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM (SELECT count(*) AS n FROM {t} WHERE {not_null} GROUP BY {list} HAVING count(*) > 1)"
        );
        let n = numbers(&run(ctx, &sql).await?)
            .first()
            .copied()
            .unwrap_or(0);
        if n > 0 {
            let same: Vec<String> = cols
                .iter()
                .map(|k| format!("__dup.{} = {t}.{}", quoted(k), quoted(k)))
                .collect();
            let condition = format!(
                "{not_null} AND EXISTS (SELECT 1 FROM (SELECT {list} FROM {t} GROUP BY {list} HAVING count(*) > 1) AS __dup WHERE {})",
                same.join(" AND ")
            );
            let what = if cols.len() == 1 {
                "value"
            } else {
                "combination of values"
            };
            found.push((
                violation(
                    rule,
                    cols.join(", "),
                    n,
                    format!("the same {what} is in more than one row"),
                ),
                condition,
            ));
        }
    }
    // Foreign keys: values with no row to refer to.
    for fk in &c.foreign_keys {
        if !fk.fields.iter().all(|f| present.contains(f)) {
            continue;
        }
        let r = format!("t{}", index(&fk.resource));
        let on: Vec<String> = fk
            .fields
            .iter()
            .zip(&fk.reference)
            .map(|(a, b)| format!("{t}.{} = __ref.{}", quoted(a), quoted(b)))
            .collect();
        let not_null: Vec<String> = fk
            .fields
            .iter()
            .map(|f| format!("{t}.{} IS NOT NULL", quoted(f)))
            .collect();
        let condition = format!(
            "{} AND NOT EXISTS (SELECT 1 FROM {r} AS __ref WHERE {})",
            not_null.join(" AND "),
            on.join(" AND ")
        );
        let sql = format!("SELECT CAST(count(*) AS BIGINT) FROM {t} WHERE {condition}");
        let n = numbers(&run(ctx, &sql).await?)
            .first()
            .copied()
            .unwrap_or(0);
        if n > 0 {
            found.push((
                violation(
                    "foreignKey",
                    fk.fields.join(", "),
                    n,
                    format!(
                        "refers to no row of {:?} ({})",
                        fk.resource,
                        fk.reference.join(", ")
                    ),
                ),
                condition,
            ));
        }
    }
    for (mut v, condition) in found {
        v.rows = first_rows(ordered, &t, &condition).await?;
        out.push(v);
    }
    Ok(out)
}
