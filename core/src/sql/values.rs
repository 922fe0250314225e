//! Values no query may make too large. The memory pool of a query ([`super::Limits::memory`])
//! accounts for what sorts, joins and aggregations keep, not for the values functions return:
//! `repeat('x', 100000000)` would make 100 MB per row before anything counted it. So each
//! function that makes a value longer than its inputs (`repeat`, `lpad`, `rpad`, `replace`,
//! `regexp_replace`, `overlay`, `concat`, `concat_ws`, the `||` operator, and `translate`,
//! `upper`, `lower`, `initcap`, which nested would grow a value without end) runs here wrapped:
//!
//! - before it runs, the longest value each row can give is worked out from the arguments; a
//!   row that could give more than [`MAX_VALUE`] bytes is refused;
//! - a batch is run in slices whose rows together can give at most [`MAX_BATCH`] bytes, and the
//!   values made so far may not pass [`MAX_BATCH`] either.
//!
//! So no call holds more than twice [`MAX_BATCH`] at once, whatever its arguments.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::kernels::length::length;
use datafusion::arrow::compute::{cast, concat};
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Documentation, Expr, ExprSchemable, LogicalPlan, Operator,
    ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use datafusion::optimizer::analyzer::AnalyzerRule;
use datafusion::prelude::SessionContext;

/// The longest value one row of a function may make, in bytes.
pub const MAX_VALUE: u64 = 16 << 20;
/// The most one call of a function may make for one batch, in bytes.
pub const MAX_BATCH: u64 = 64 << 20;

/// How long a row's value can be at most, from its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// `repeat(s, n)`: `len(s) × n`.
    Repeat,
    /// `lpad(s, n [, fill])`, `rpad`: `n` characters of at most 4 bytes.
    Pad,
    /// `replace(s, from, to)`: every `from` (or every gap, if empty) becomes `to`.
    Replace,
    /// `regexp_replace(s, pattern, replacement [, flags])`: at most one match per byte and one
    /// more, each replaced by at most the replacement's text and the whole match per reference.
    RegexpReplace,
    /// `concat(…)`, `overlay(…)`, `||`: the arguments' lengths together.
    Sum,
    /// `concat_ws(sep, …)`: the arguments and a separator between each.
    SumWithSeparator,
    /// `translate`, `upper`, `lower`, `initcap`: each character becomes at most this many
    /// times its bytes (nested, they would grow without end).
    Times(u64),
}

/// A function of DataFusion's, run within the bounds.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    growth: Growth,
    /// Any NULL argument makes NULL (`||`), where the inner function (`concat`) skips it.
    strict: bool,
    name: String,
}

/// The name `||` is run under once rewritten (see [`ConcatOperator`]).
const CONCAT_OPERATOR: &str = "strata_concat_operator";

/// Replaces the functions that make values longer than their inputs in `ctx` by their bounded
/// forms, and rewrites `||` on strings to the bounded `concat`.
pub fn bound(ctx: &SessionContext) {
    let state = ctx.state();
    let functions = state.scalar_functions();
    let wrap = |name: &str, growth: Growth| {
        if let Some(inner) = functions.get(name) {
            ctx.register_udf(ScalarUDF::new_from_impl(Bounded {
                inner: inner.clone(),
                growth,
                strict: false,
                name: name.to_owned(),
            }));
        }
    };
    wrap("repeat", Growth::Repeat);
    wrap("lpad", Growth::Pad);
    wrap("rpad", Growth::Pad);
    wrap("replace", Growth::Replace);
    wrap("regexp_replace", Growth::RegexpReplace);
    wrap("overlay", Growth::Sum);
    wrap("concat", Growth::Sum);
    wrap("concat_ws", Growth::SumWithSeparator);
    wrap("translate", Growth::Times(4));
    for case in ["upper", "lower", "initcap"] {
        wrap(case, Growth::Times(3));
    }
    if let Some(inner) = functions.get("concat") {
        let operator = Arc::new(ScalarUDF::new_from_impl(Bounded {
            inner: inner.clone(),
            growth: Growth::Sum,
            strict: true,
            name: CONCAT_OPERATOR.to_owned(),
        }));
        ctx.add_analyzer_rule(Arc::new(ConcatOperator(operator)));
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        &self.name
    }

    fn aliases(&self) -> &[String] {
        if self.strict {
            &[]
        } else {
            self.inner.aliases()
        }
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> DfResult<FieldRef> {
        let field = self.inner.return_field_from_args(args)?;
        Ok(match self.strict {
            true => Arc::new(field.as_ref().clone().with_nullable(true)),
            false => field,
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let most = self.most(&args.args, rows)?;
        if let Some((row, n)) = most.iter().enumerate().find(|(_, n)| **n > MAX_VALUE) {
            return Err(too_large(format!(
                "{}() would make a value of up to {n} bytes (row {}): a value may have at most {MAX_VALUE} bytes",
                self.public_name(),
                row + 1
            )));
        }
        let out = if scalar || most.iter().sum::<u64>() <= MAX_BATCH {
            self.invoke(args)?
        } else {
            self.in_slices(args, &most)?
        };
        Ok(out)
    }
}

impl Bounded {
    fn public_name(&self) -> &str {
        if self.strict {
            "||"
        } else {
            &self.name
        }
    }

    /// The inner function, and NULL where any argument is (for `||`).
    fn invoke(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if !self.strict {
            return self.inner.invoke_with_args(args);
        }
        let rows = args.number_rows;
        let nulls: Vec<ColumnarValue> = args.args.clone();
        let out = self.inner.invoke_with_args(args)?;
        null_where_any_null(out, &nulls, rows)
    }

    /// Runs `args` a slice of rows at a time, each slice within [`MAX_BATCH`] by `most`, and the
    /// values made within it in all.
    fn in_slices(&self, args: ScalarFunctionArgs, most: &[u64]) -> DfResult<ColumnarValue> {
        let mut parts: Vec<ArrayRef> = Vec::new();
        let (mut start, mut made) = (0usize, 0u64);
        while start < most.len() {
            let (mut end, mut sum) = (start, 0u64);
            while end < most.len() && (end == start || sum + most[end] <= MAX_BATCH) {
                sum += most[end];
                end += 1;
            }
            let slice = ScalarFunctionArgs {
                args: args
                    .args
                    .iter()
                    .map(|a| match a {
                        ColumnarValue::Array(a) => {
                            ColumnarValue::Array(a.slice(start, end - start))
                        }
                        s => s.clone(),
                    })
                    .collect(),
                arg_fields: args.arg_fields.clone(),
                number_rows: end - start,
                return_field: args.return_field.clone(),
                config_options: args.config_options.clone(),
            };
            let part = self.invoke(slice)?.into_array(end - start)?;
            made += part.get_buffer_memory_size() as u64;
            if made > MAX_BATCH {
                return Err(too_large(format!(
                    "{}() would make more than {MAX_BATCH} bytes for one batch of rows: ask for fewer or shorter values",
                    self.public_name()
                )));
            }
            parts.push(part);
            start = end;
        }
        let parts: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
        Ok(ColumnarValue::Array(concat(&parts)?))
    }

    /// The longest value each of `rows` rows can give.
    fn most(&self, args: &[ColumnarValue], rows: usize) -> DfResult<Vec<u64>> {
        let len = |i: usize| -> DfResult<Lengths> {
            args.get(i).map_or(Ok(Lengths::Same(0)), Lengths::of)
        };
        let int = |i: usize| -> DfResult<Ints> { args.get(i).map_or(Ok(Ints::Same(0)), Ints::of) };
        let mut out = vec![0u64; rows];
        match self.growth {
            Growth::Repeat => {
                let (s, n) = (len(0)?, int(1)?);
                for (r, o) in out.iter_mut().enumerate() {
                    *o = s.at(r).saturating_mul(n.at(r));
                }
            }
            Growth::Pad => {
                let n = int(1)?;
                for (r, o) in out.iter_mut().enumerate() {
                    *o = n.at(r).saturating_mul(4);
                }
            }
            Growth::Replace => {
                let (s, from, to) = (len(0)?, len(1)?, len(2)?);
                for (r, o) in out.iter_mut().enumerate() {
                    let places = s.at(r) / from.at(r).max(1) + 1;
                    *o = s.at(r).saturating_add(places.saturating_mul(to.at(r)));
                }
            }
            Growth::RegexpReplace => {
                let (s, replacement) = (len(0)?, len(2)?);
                for (r, o) in out.iter_mut().enumerate() {
                    let (s, t) = (s.at(r), replacement.at(r));
                    *o = s
                        .saturating_add(1)
                        .saturating_mul(t.saturating_add(1))
                        .saturating_add(s);
                }
            }
            Growth::Times(k) => {
                let s = len(0)?;
                for (r, o) in out.iter_mut().enumerate() {
                    *o = s.at(r).saturating_mul(k);
                }
            }
            Growth::Sum | Growth::SumWithSeparator => {
                let lens = (0..args.len()).map(len).collect::<DfResult<Vec<_>>>()?;
                let separator = match self.growth {
                    Growth::SumWithSeparator => lens.first().map_or(0, |l| l.at(0)),
                    _ => 0,
                };
                for (r, o) in out.iter_mut().enumerate() {
                    let sum = lens.iter().fold(0u64, |a, l| a.saturating_add(l.at(r)));
                    let gaps = separator.saturating_mul(args.len() as u64);
                    *o = sum.saturating_add(gaps);
                }
            }
        }
        Ok(out)
    }
}

/// The byte lengths of an argument's values (NULL: 0; a value not text or bytes: at most 64).
enum Lengths {
    Same(u64),
    Each(Int64Array),
    Other,
}

impl Lengths {
    fn of(arg: &ColumnarValue) -> DfResult<Lengths> {
        Ok(match arg {
            ColumnarValue::Scalar(s) => Lengths::Same(match s {
                ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
                    v.as_ref().map_or(0, |v| v.len() as u64)
                }
                ScalarValue::Binary(v)
                | ScalarValue::LargeBinary(v)
                | ScalarValue::BinaryView(v) => v.as_ref().map_or(0, |v| v.len() as u64),
                _ => 64,
            }),
            ColumnarValue::Array(a) if texty(a.data_type()) => {
                let lengths = cast(&length(a)?, &DataType::Int64)?;
                Lengths::Each(lengths.as_primitive::<Int64Type>().clone())
            }
            ColumnarValue::Array(_) => Lengths::Other,
        })
    }

    fn at(&self, row: usize) -> u64 {
        match self {
            Lengths::Same(n) => *n,
            Lengths::Each(a) if a.is_valid(row) => a.value(row).max(0) as u64,
            Lengths::Each(_) => 0,
            Lengths::Other => 64,
        }
    }
}

fn texty(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    )
}

/// An argument's whole numbers (NULL or negative: 0).
enum Ints {
    Same(u64),
    Each(Int64Array),
}

impl Ints {
    fn of(arg: &ColumnarValue) -> DfResult<Ints> {
        Ok(match arg {
            ColumnarValue::Scalar(s) => Ints::Same(match s.cast_to(&DataType::Int64)? {
                ScalarValue::Int64(Some(n)) => n.max(0) as u64,
                _ => 0,
            }),
            ColumnarValue::Array(a) => Ints::Each(
                cast(a, &DataType::Int64)?
                    .as_primitive::<Int64Type>()
                    .clone(),
            ),
        })
    }

    fn at(&self, row: usize) -> u64 {
        match self {
            Ints::Same(n) => *n,
            Ints::Each(a) if a.is_valid(row) => a.value(row).max(0) as u64,
            Ints::Each(_) => 0,
        }
    }
}

/// `out` with NULL wherever one of `args` is NULL.
fn null_where_any_null(
    out: ColumnarValue,
    args: &[ColumnarValue],
    rows: usize,
) -> DfResult<ColumnarValue> {
    if args
        .iter()
        .any(|a| matches!(a, ColumnarValue::Scalar(s) if s.is_null()))
    {
        let t = out.data_type();
        return Ok(match out {
            ColumnarValue::Scalar(_) => ColumnarValue::Scalar(ScalarValue::try_from(&t)?),
            ColumnarValue::Array(_) => {
                ColumnarValue::Array(datafusion::arrow::array::new_null_array(&t, rows))
            }
        });
    }
    let mut nulls: Option<datafusion::arrow::buffer::NullBuffer> = None;
    for a in args {
        if let ColumnarValue::Array(a) = a {
            nulls = datafusion::arrow::buffer::NullBuffer::union(
                nulls.as_ref(),
                a.logical_nulls().as_ref(),
            );
        }
    }
    let (Some(nulls), ColumnarValue::Array(array)) = (nulls, &out) else {
        return Ok(out);
    };
    let data = array
        .to_data()
        .into_builder()
        .nulls(datafusion::arrow::buffer::NullBuffer::union(
            Some(&nulls),
            array.nulls(),
        ))
        .build()?;
    Ok(ColumnarValue::Array(datafusion::arrow::array::make_array(
        data,
    )))
}

fn too_large(message: String) -> DataFusionError {
    DataFusionError::Execution(message)
}

/// Rewrites `a || b` on text to the bounded concatenation, after types are settled.
#[derive(Debug)]
struct ConcatOperator(Arc<ScalarUDF>);

impl AnalyzerRule for ConcatOperator {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> DfResult<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            // Expressions are typed by what the node reads.
            let schema = match node.inputs().as_slice() {
                [] => node.schema().as_ref().clone(),
                inputs => datafusion::logical_expr::utils::merge_schema(inputs),
            };
            // Each expression keeps its name: the plan's schema does not change.
            let names = datafusion::logical_expr::expr_rewriter::NamePreserver::new(&node);
            node.map_expressions(|e| {
                let name = names.save(&e);
                let rewritten = e.transform_up(|e| match e {
                    Expr::BinaryExpr(BinaryExpr {
                        left,
                        op: Operator::StringConcat,
                        right,
                    }) if text(&left, &schema) && text(&right, &schema) => {
                        Ok(Transformed::yes(Expr::ScalarFunction(
                            ScalarFunction::new_udf(self.0.clone(), vec![*left, *right]),
                        )))
                    }
                    e => Ok(Transformed::no(e)),
                })?;
                Ok(rewritten.update_data(|e| name.restore(e)))
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "strata_bounded_concat"
    }
}

/// Whether `e` is text: a concatenation rewritten already is (found without typing it again,
/// which would make a chain of `||` quadratic to rewrite).
fn text(e: &Expr, schema: &datafusion::common::DFSchema) -> bool {
    if let Expr::ScalarFunction(f) = e {
        if f.func.name() == CONCAT_OPERATOR {
            return true;
        }
    }
    e.get_type(schema)
        .is_ok_and(|t| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn one(query: &str) -> DfResult<ScalarValue> {
        let ctx = SessionContext::new();
        bound(&ctx);
        let batches = ctx.sql(query).await?.collect().await?;
        ScalarValue::try_from_array(batches[0].column(0), 0)
    }

    async fn refused(query: &str) -> String {
        match one(query).await {
            Ok(v) => panic!("{query} answered {v}"),
            Err(e) => e.strip_backtrace(),
        }
    }

    #[tokio::test]
    async fn functions_that_grow_values_answer_as_before_within_the_bounds() {
        let text = |v: ScalarValue| v.to_string();
        assert_eq!(text(one("SELECT repeat('ab', 3)").await.unwrap()), "ababab");
        assert_eq!(text(one("SELECT lpad('7', 3, '0')").await.unwrap()), "007");
        assert_eq!(
            text(one("SELECT replace('a-b', '-', '--')").await.unwrap()),
            "a--b"
        );
        assert_eq!(text(one("SELECT 'a' || 'b' || 1").await.unwrap()), "ab1");
        assert!(one("SELECT 'a' || NULL").await.unwrap().is_null());
        assert!(one("SELECT v || 'x' FROM (VALUES (NULL), ('a')) t(v)")
            .await
            .unwrap()
            .is_null());
        assert_eq!(
            text(one("SELECT concat('a', NULL, 'b')").await.unwrap()),
            "ab"
        );
        // Bounds far above what the rows make: run in slices, answered whole.
        let n = one(
            "SELECT sum(length(regexp_replace(repeat(v, 10), 'q', repeat('z', 1000000)))) \
             FROM (VALUES ('a'),('b'),('c'),('d'),('e'),('f'),('g'),('h'),('i'),('j')) t(v)",
        )
        .await
        .unwrap();
        assert_eq!(n, ScalarValue::Int64(Some(100)));
    }

    #[tokio::test]
    async fn values_past_the_bounds_are_refused_before_they_are_made() {
        for query in [
            "SELECT max(length(repeat('x', 100000000 + v))) FROM (VALUES (1),(2),(3),(4),(5),(6)) t(v)",
            "SELECT length(lpad('x', 100000000))",
            "SELECT length(rpad('x', 100000000, 'ab'))",
            "SELECT length(replace(repeat('x', 1000000), 'x', repeat('y', 100)))",
            "SELECT length(regexp_replace(repeat('x', 1000000), 'x', repeat('y', 100), 'g'))",
            "SELECT length(concat(x, x, x, x, x)) FROM (SELECT repeat('x', 8000000) AS x)",
            "SELECT length(x || x || x || x || x) FROM (SELECT repeat('x', 8000000) AS x)",
            "SELECT length(translate(translate(translate(x, 'a', 'ü'), 'ü', 'üü'), 'ü', 'üü')) \
             FROM (SELECT repeat('a', 8000000) AS x)",
            "SELECT length(upper(upper(x))) FROM (SELECT repeat('ß', 4000000) AS x)",
        ] {
            let e = refused(query).await;
            assert!(e.contains("at most 16777216 bytes"), "{query}: {e}");
        }
        // Each value within its bound, a batch of them not.
        let e = refused(
            "SELECT max(length(repeat('x', 10000000 + v))) FROM (VALUES (1),(2),(3),(4),(5),(6),(7),(8)) t(v)",
        )
        .await;
        assert!(e.contains("for one batch of rows"), "{e}");
    }
}
