//! Noisy answers in SQL. A table a policy allows the caller aggregates only (`AggregateOnly`) may
//! be asked, in SQL, what `…/tables/{resource}/aggregate` answers: a query of the form [`FORM`]
//! over that one table. Each aggregate costs ε of the caller's budget for the dataset (spent
//! before anything is computed, as there); values are clamped to the bounds the query names;
//! Laplace noise is added as [`crate::tables::aggregate`] adds it (count 1/ε, sum
//! max(|lower|, |upper|)/ε, a mean a noisy sum over a noisy count with ε split in two). The
//! `WHERE` clause is a row filter of plain comparisons of columns with literals of their own kind
//! (`=`, `<>`, `<`, `<=`, `>`, `>=`, `BETWEEN`, `IN (…)`, `LIKE`, `IS [NOT] NULL`, `AND`, `OR`,
//! `NOT`), so each row still changes each answer by at most its bound, and nothing the filter
//! does can fail on a value (a failure, or a subquery's finding, would tell what is in the rows
//! without noise). Once ε is spent, any failure answers one fixed message.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr as Logical, LogicalPlan};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, SelectItem, SetExpr,
    Statement, TableFactor, UnaryOperator, Value,
};
use serde::Serialize;
use strata_policy::AggregateOnly;

use crate::datasets::gated::Gated;
use crate::error::{Error, Result};
use crate::tables::aggregate::{laplace, MAX_BOUND};

/// The one form a query of an aggregates-only table may take.
pub const FORM: &str = "SELECT count(*), count(col), sum(col, lower, upper), avg(col, lower, \
    upper) FROM table [WHERE …]: aggregates of that one table, values clamped to the bounds, a \
    WHERE of comparisons of columns with literals of their kind (=, <>, <, <=, >, >=, BETWEEN, \
    IN (…), LIKE, IS NULL, AND, OR, NOT), no GROUP BY, ORDER BY, LIMIT, joins, subqueries, casts, \
    functions, samples (TABLESAMPLE) or aliases of the table";

/// Aggregates one query may ask at most.
const MAX_ASKED: usize = 16;

/// One aggregate asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Agg {
    /// `count(*)`, or `count(col)` (the column as written).
    Count(Option<String>),
    Sum(String, f64, f64),
    Mean(String, f64, f64),
}

/// An aggregate and the name of its column in the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    pub agg: Agg,
    pub name: String,
}

/// A private query: what it asks, of which table (as written), with which row filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub asked: Vec<Asked>,
    pub from: String,
    pub selection: Option<Expr>,
}

/// The shape of `statement` if it is a private query, or why it is not.
pub fn shape(statement: &DfStatement) -> std::result::Result<Shape, String> {
    let DfStatement::Statement(s) = statement else {
        return Err("not a query".into());
    };
    let Statement::Query(q) = s.as_ref() else {
        return Err("not a query".into());
    };
    let SetExpr::Select(select) = q.body.as_ref() else {
        return Err("not one SELECT".into());
    };
    // WITH, ORDER BY, LIMIT, FETCH…: the query is more than its SELECT.
    if q.to_string() != select.to_string() {
        return Err("a clause besides SELECT … FROM … WHERE".into());
    }
    if select.from.len() != 1 || !select.from[0].joins.is_empty() {
        return Err("not one table".into());
    }
    // A table by its name and nothing else: no subquery or table function, and none of what a
    // name may carry (a sample of its rows, an alias, another version, hints, partitions).
    match &select.from[0].relation {
        TableFactor::Table {
            name: _,
            alias: None,
            args: None,
            with_hints,
            version: None,
            with_ordinality: false,
            partitions,
            json_path: None,
            sample: None,
            index_hints,
        } if with_hints.is_empty() && partitions.is_empty() && index_hints.is_empty() => {}
        TableFactor::Table {
            sample: Some(_), ..
        } => return Err("a sample of the table's rows (TABLESAMPLE)".into()),
        TableFactor::Table { alias: Some(_), .. } => return Err("an alias of the table".into()),
        TableFactor::Table { .. } => return Err("more than the table's name".into()),
        _ => return Err("not a table by its name".into()),
    }
    let from = select.from[0].to_string();
    let selection = select.selection.clone();
    let mut asked = Vec::new();
    let mut items = Vec::new();
    for item in &select.projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            other => return Err(format!("{other} is no aggregate")),
        };
        let agg = aggregate(expr)?;
        asked.push(Asked {
            agg,
            name: alias.unwrap_or_else(|| expr.to_string()),
        });
        items.push(item.to_string());
    }
    if asked.is_empty() || asked.len() > MAX_ASKED {
        return Err(format!("1 to {MAX_ASKED} aggregates"));
    }
    // GROUP BY, HAVING, DISTINCT, QUALIFY…: anything the canonical form lacks.
    let canonical = format!(
        "SELECT {} FROM {from}{}",
        items.join(", "),
        where_clause(&selection)
    );
    if canonical != select.to_string() {
        return Err("a clause besides SELECT … FROM … WHERE".into());
    }
    Ok(Shape {
        asked,
        from,
        selection,
    })
}

/// The aggregate `expr` asks: a plain call of count, sum or avg.
fn aggregate(expr: &Expr) -> std::result::Result<Agg, String> {
    let Expr::Function(f) = expr else {
        return Err(format!("{expr} is no aggregate"));
    };
    let FunctionArguments::List(list) = &f.args else {
        return Err(format!("{expr}: not a plain call"));
    };
    let args: Vec<String> = list.args.iter().map(ToString::to_string).collect();
    // FILTER, OVER, DISTINCT, ORDER BY inside…: the call is more than its name and arguments.
    if list.duplicate_treatment.is_some()
        || !list.clauses.is_empty()
        || f.to_string() != format!("{}({})", f.name, args.join(", "))
    {
        return Err(format!("{expr}: not a plain call"));
    }
    let column = |a: &FunctionArg| match a {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(i))) => Some(i.to_string()),
        _ => None,
    };
    let number = |a: &FunctionArg| {
        let text = a.to_string().replace(' ', "");
        text.parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && n.abs() <= MAX_BOUND)
    };
    let name = f.name.to_string().to_ascii_lowercase();
    match (name.as_str(), list.args.as_slice()) {
        ("count", [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)]) => Ok(Agg::Count(None)),
        ("count", [a]) => column(a)
            .map(|c| Agg::Count(Some(c)))
            .ok_or_else(|| format!("{expr}: count a column or *")),
        ("sum" | "avg", [c, lo, hi]) => {
            let (Some(c), Some(lo), Some(hi)) = (column(c), number(lo), number(hi)) else {
                return Err(format!(
                    "{expr}: {name}(column, lower, upper) with numbers within ±1e15"
                ));
            };
            if lo >= hi {
                return Err(format!("{expr}: lower must be below upper"));
            }
            Ok(match name.as_str() {
                "sum" => Agg::Sum(c, lo, hi),
                _ => Agg::Mean(c, lo, hi),
            })
        }
        ("sum" | "avg", _) => Err(format!(
            "{expr}: {name}(column, lower, upper): the bounds each value is clamped to scale the noise"
        )),
        _ => Err(format!("{expr}: only count, sum and avg")),
    }
}

/// The exact query the noisy answers are made from: for aggregate `i`, `a{i}` (and a mean's
/// count `n{i}`), every value a number or NULL.
pub fn exact_sql(shape: &Shape) -> String {
    let number = |c: &str| format!("CAST({c} AS DOUBLE)");
    let kept = |c: &str| {
        let x = number(c);
        format!("CASE WHEN {x} IS NULL OR isnan({x}) THEN NULL ELSE {x} END")
    };
    let clamped =
        |c: &str, lo: f64, hi: f64| format!("least(greatest({}, {lo:?}), {hi:?})", kept(c));
    let mut items = Vec::new();
    for (i, a) in shape.asked.iter().enumerate() {
        match &a.agg {
            Agg::Count(None) => items.push(format!("CAST(count(*) AS DOUBLE) AS a{i}")),
            Agg::Count(Some(c)) => items.push(format!("CAST(count({c}) AS DOUBLE) AS a{i}")),
            Agg::Sum(c, lo, hi) => {
                items.push(format!("sum({}) AS a{i}", clamped(c, *lo, *hi)));
            }
            Agg::Mean(c, lo, hi) => {
                items.push(format!("sum({}) AS a{i}", clamped(c, *lo, *hi)));
                items.push(format!("CAST(count({}) AS DOUBLE) AS n{i}", kept(c)));
            }
        }
    }
    format!(
        "SELECT {} FROM {}{}",
        items.join(", "),
        shape.from,
        where_clause(&shape.selection)
    )
}

/// ` WHERE …`, or nothing.
fn where_clause(selection: &Option<Expr>) -> String {
    selection
        .as_ref()
        .map(|w| format!(" WHERE {w}"))
        .unwrap_or_default()
}

/// What a value in a row filter is, for comparing like with like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Number,
    Text,
    Boolean,
    /// NULL, or a placeholder (bound to the type of what it is compared with).
    Any,
}

/// The kind of a column or literal of a row filter.
fn sort_of(e: &Expr, schema: &Schema) -> std::result::Result<Sort, String> {
    match e {
        Expr::Nested(inner) => sort_of(inner, schema),
        Expr::Identifier(i) => {
            let f = schema
                .field_with_name(&i.value)
                .map_err(|_| format!("the table has no column {:?} you may read", i.value))?;
            let t = f.data_type();
            Ok(if t.is_numeric() {
                Sort::Number
            } else if *t == DataType::Boolean {
                Sort::Boolean
            } else if matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
                Sort::Text
            } else {
                return Err(format!("column {:?} cannot be compared here", i.value));
            })
        }
        Expr::Value(v) => Ok(match &v.value {
            Value::Number(..) => Sort::Number,
            Value::SingleQuotedString(_) => Sort::Text,
            Value::Boolean(_) => Sort::Boolean,
            Value::Null | Value::Placeholder(_) => Sort::Any,
            other => return Err(format!("{other} is no literal this filter takes")),
        }),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } if matches!(expr.as_ref(), Expr::Value(v) if matches!(v.value, Value::Number(..))) => {
            Ok(Sort::Number)
        }
        other => Err(format!("{other} is neither a column nor a literal")),
    }
}

/// Checks a row filter against the table's columns: plain comparisons of like with like.
fn check_filter(e: &Expr, schema: &Schema) -> std::result::Result<(), String> {
    let alike = |a: &Expr, b: &Expr| -> std::result::Result<(), String> {
        let (x, y) = (sort_of(a, schema)?, sort_of(b, schema)?);
        if x == y || x == Sort::Any || y == Sort::Any {
            Ok(())
        } else {
            Err(format!("{a} and {b} are not of one kind"))
        }
    };
    match e {
        Expr::Nested(inner) => check_filter(inner, schema),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => check_filter(expr, schema),
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::And | BinaryOperator::Or => {
                check_filter(left, schema)?;
                check_filter(right, schema)
            }
            BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq => alike(left, right),
            other => Err(format!("{other} is not a comparison this filter takes")),
        },
        Expr::IsNull(x) | Expr::IsNotNull(x) => sort_of(x, schema).map(drop),
        Expr::Between {
            expr, low, high, ..
        } => {
            alike(expr, low)?;
            alike(expr, high)
        }
        Expr::InList { expr, list, .. } => {
            if list.len() > 1000 {
                return Err("IN takes at most 1,000 values".into());
            }
            list.iter().try_for_each(|v| match v {
                Expr::Value(_) | Expr::UnaryOp { .. } => alike(expr, v),
                other => Err(format!("{other} is no literal")),
            })
        }
        Expr::Like {
            expr,
            pattern,
            any: false,
            escape_char: None,
            ..
        } => match (sort_of(expr, schema)?, sort_of(pattern, schema)?) {
            (Sort::Text, Sort::Text | Sort::Any) => Ok(()),
            _ => Err(format!("{e}: LIKE compares text with a text pattern")),
        },
        other => Err(format!("{other} is not a comparison this filter takes")),
    }
}

/// A column as a query writes it (`amount`, `"nameOrig"`), as the table names it.
fn unquoted(c: &str) -> String {
    match c.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => c.to_owned(),
    }
}

/// Refuses sums and means of columns that hold no numbers as the caller reads them (redacted
/// and hashed columns are text), and columns the table does not have.
pub async fn check_columns(
    ctx: &datafusion::prelude::SessionContext,
    table: &super::Name,
    shape: &Shape,
) -> Result<()> {
    let provider = ctx
        .table_provider(table.reference())
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
    let schema = provider.schema();
    for a in &shape.asked {
        let (column, numeric) = match &a.agg {
            Agg::Count(None) => continue,
            Agg::Count(Some(c)) => (c, false),
            Agg::Sum(c, ..) | Agg::Mean(c, ..) => (c, true),
        };
        let name = unquoted(column);
        let field = schema.field_with_name(&name).map_err(|_| {
            Error::bad_request(format!("the table has no column {name:?} you may read"))
        })?;
        if numeric && !field.data_type().is_numeric() {
            return Err(Error::bad_request(format!(
                "column {name:?} holds no numbers (as you read it)"
            )));
        }
    }
    if let Some(filter) = &shape.selection {
        check_filter(filter, &schema).map_err(|why| refused(table, &why))?;
    }
    Ok(())
}

/// The refusal of a query of `table` not of the private form.
pub fn refused(table: &super::Name, why: &str) -> Error {
    Error::forbidden(format!(
        "you may read aggregates of {table} only, each differentially private: ask {FORM} ({why})"
    ))
}

/// What any failure of a private query answers once ε is spent: nothing of why (a value in an
/// error, or whether one happened for some rows, would tell what the noise hides).
pub fn failed() -> Error {
    Error::unprocessable(
        "the private query could not be answered (its ε is spent): ask it again, or another",
    )
}

/// Refuses a plan of anything but aggregates of one table's filtered rows (the exact query
/// [`exact_sql`] makes): projections, one aggregation, a filter, the scan.
pub fn check_plan(table: &super::Name, plan: &LogicalPlan) -> Result<()> {
    let mut scans = 0;
    let mut aggregates = 0;
    let mut other = None;
    plan.apply_with_subqueries(|p| {
        match p {
            LogicalPlan::TableScan(_) => scans += 1,
            LogicalPlan::Aggregate(_) => aggregates += 1,
            LogicalPlan::Projection(_) | LogicalPlan::Filter(_) | LogicalPlan::SubqueryAlias(_) => {
            }
            p => other = Some(p.display().to_string()),
        }
        for e in p.expressions() {
            let _ = e.apply(|x| {
                if matches!(
                    x,
                    Logical::ScalarSubquery(_) | Logical::Exists(_) | Logical::InSubquery(_)
                ) {
                    other = Some("a subquery".into());
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(|e| Error::internal(e.to_string()))?;
    match other {
        Some(what) => Err(refused(table, &what)),
        None if scans != 1 || aggregates != 1 => Err(refused(table, "not one table aggregated")),
        None => Ok(()),
    }
}

/// The answer's schema: one number per aggregate asked.
pub fn schema(shape: &Shape) -> SchemaRef {
    Arc::new(Schema::new(
        shape
            .asked
            .iter()
            .map(|a| Field::new(&a.name, DataType::Float64, false))
            .collect::<Vec<_>>(),
    ))
}

/// A private query planned: its shape, the caller's gate of the table, the policy's terms and
/// the table's name.
pub struct Private {
    pub shape: Shape,
    pub gated: Gated,
    pub terms: AggregateOnly,
    pub name: super::Name,
}

/// What a private query spent, for the answer and the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct Spent {
    pub exact: bool,
    /// ε of each aggregate, in all, and the budget and what is left of it.
    pub epsilon: f64,
    pub spent: f64,
    pub budget: f64,
    pub remaining: f64,
}

impl Private {
    /// ε this query costs.
    fn cost(&self) -> AggregateOnly {
        AggregateOnly {
            epsilon: self.terms.epsilon * self.shape.asked.len() as f64,
            budget: self.terms.budget,
        }
    }

    /// Refuses the query before any work when the budget cannot pay for it.
    pub async fn affordable(&self, core: &crate::Core) -> Result<()> {
        crate::tables::aggregate::spend(core, &self.gated, self.cost(), true)
            .await
            .map(drop)
    }

    /// Spends what the query costs: what it spent and what is left.
    pub async fn spend(&self, core: &crate::Core) -> Result<Spent> {
        let cost = self.cost();
        let remaining = crate::tables::aggregate::spend(core, &self.gated, cost, false).await?;
        Ok(Spent {
            exact: false,
            epsilon: self.terms.epsilon,
            spent: cost.epsilon,
            budget: cost.budget,
            remaining,
        })
    }

    /// The noisy answer from the exact one (`exact`: the one row of [`exact_sql`]).
    pub fn answer(&self, exact: &[RecordBatch]) -> Result<RecordBatch> {
        let rows = crate::tables::rows::objects(exact)?;
        let row = rows.into_iter().next().unwrap_or_default();
        let get = |k: String| row.get(&k).and_then(|v| v.as_f64()).unwrap_or(0.0);
        let eps = self.terms.epsilon;
        let mut rng = rand::rng();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (i, a) in self.shape.asked.iter().enumerate() {
            let value = match a.agg {
                Agg::Count(_) => get(format!("a{i}")) + laplace(&mut rng, 1.0 / eps),
                Agg::Sum(_, lo, hi) => {
                    get(format!("a{i}")) + laplace(&mut rng, lo.abs().max(hi.abs()) / eps)
                }
                Agg::Mean(_, lo, hi) => {
                    let bound = lo.abs().max(hi.abs());
                    let s = get(format!("a{i}")) + laplace(&mut rng, 2.0 * bound / eps);
                    let n = get(format!("n{i}")) + laplace(&mut rng, 2.0 / eps);
                    (s / n.max(1.0)).clamp(lo, hi)
                }
            };
            columns.push(Arc::new(Float64Array::from(vec![value])));
        }
        RecordBatch::try_new(schema(&self.shape), columns)
            .map_err(|e| Error::internal(format!("a private answer: {e}")))
    }
}

/// A private query run: the budget spent first, then the exact figures made noisy.
pub(super) async fn run(
    core: &crate::Core,
    (ctx, plan): (datafusion::prelude::SessionContext, LogicalPlan),
    private: Private,
    (caller, query, params, intent): (&str, &str, &super::Params, Option<&str>),
    mut read: Vec<super::TableRead>,
) -> Result<super::Answer> {
    use futures_util::StreamExt;
    // Spent before anything is computed: a failure after it costs the budget still.
    let spent = private.spend(core).await?;
    if let Some(t) = read.first_mut() {
        t.private = Some(spent);
    }
    super::audit(core, caller, query, params, &read, intent).await?;
    // From here on, every failure says the same (a reason could tell what the noise hides).
    let exact = async {
        let df = ctx.execute_logical_plan(plan).await.ok()?;
        tokio::time::timeout(super::LIMITS.time, df.collect())
            .await
            .ok()?
            .ok()
    }
    .await
    .ok_or_else(failed)?;
    let batch = private.answer(&exact).map_err(|_| failed())?;
    Ok(super::Answer {
        schema: batch.schema(),
        batches: futures_util::stream::once(async { Ok(batch) }).boxed(),
        tables: read,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParser;

    fn shape_of(sql: &str) -> std::result::Result<Shape, String> {
        let mut statements = DFParser::parse_sql(sql).expect("it parses");
        shape(&statements.pop_front().expect("one statement"))
    }

    const T: &str = r#""alice/paysim"."paysim-csv""#;

    #[test]
    fn the_documented_form_only() {
        let good = format!(
            "SELECT count(*) AS n, count(\"nameDest\"), sum(amount, 0, 10000) AS s, \
             avg(amount, 0, 10000) FROM {T} WHERE \"type\" = 'PAYMENT'"
        );
        let s = shape_of(&good).unwrap();
        assert_eq!(s.asked.len(), 4);
        assert_eq!(s.from, T);
        for bad in [
            // A sample of the rows, before or after an alias, by any spelling.
            format!("SELECT count(*) FROM {T} TABLESAMPLE SYSTEM (50)"),
            format!("SELECT count(*) FROM {T} TABLESAMPLE BERNOULLI (10) REPEATABLE (1)"),
            format!("SELECT count(*) FROM {T} AS t TABLESAMPLE (5 ROWS)"),
            // An alias of the table, an undocumented aggregate's name.
            format!("SELECT count(*) FROM {T} AS t"),
            format!("SELECT count(*) FROM {T} t"),
            format!("SELECT mean(amount, 0, 1) FROM {T}"),
            // The table as a function.
            format!("SELECT count(*) FROM {T}(1)"),
        ] {
            assert!(shape_of(&bad).is_err(), "{bad} passed");
        }
        assert!(
            shape_of(&format!("SELECT count(*) FROM {T} TABLESAMPLE SYSTEM (50)"))
                .unwrap_err()
                .contains("TABLESAMPLE")
        );
    }
}
