//! Aggregates of a table: `count`, `sum`, `mean` and `histogram`, over the caller's view. For a
//! caller a policy allows aggregates only (`AggregateOnly`, with ε per query and a budget per
//! subject and dataset), each answer is differentially private: ε is spent from the budget in
//! SQL before anything is computed (an exhausted budget is 403, and nothing is computed), values
//! are clamped to the bounds the caller names, and Laplace noise of scale sensitivity / ε is added
//! (count: 1; sum: the larger bound's magnitude; mean: a noisy sum over a noisy count, ε split
//! in two; histogram: 1 per bin, every bin released, empty ones too). Anyone who may read the
//! rows gets the exact figures, with no budget spent.
//!
//! [`across`] asks the same statistic of many datasets (the "aggregator" of drives shared with
//! it): each answered, and spent, as above, and the answers combined.

use datafusion::arrow::datatypes::DataType;
use datafusion::functions::math::expr_fn::isnan;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{cast, col, lit, when, Expr};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use strata_policy::AggregateOnly;

use super::rows::quoted;
use super::{engine_error, open_as, view, At};
use crate::datasets::gated::Gated;
use crate::datasets::policies::Surface;
use crate::error::{Error, Result};
use crate::Core;

/// Bins of a histogram, at most.
pub const MAX_BINS: u32 = 100;
/// The largest magnitude of a bound (past it sums and noise scales stop being finite numbers).
pub const MAX_BOUND: f64 = 1e15;
/// Tables one aggregator query may ask, at most.
pub const MAX_TABLES: usize = 100;

/// The statistic asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Statistic {
    Count,
    Sum,
    Mean,
    Histogram,
}

/// What is asked: the statistic, its column (all but `count`) and the bounds values are clamped
/// to (needed for noisy answers other than `count`; a histogram's range), its bins.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Ask {
    pub statistic: Option<Statistic>,
    pub column: Option<String>,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub bins: Option<u32>,
}

/// One bin of a histogram: `[lower, upper)` (the last one closed) and its count.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Bin {
    pub lower: f64,
    pub upper: f64,
    pub count: f64,
}

/// An answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answer {
    pub statistic: Statistic,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// count, sum or mean (none for a histogram).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub bins: Vec<Bin>,
    /// Whether the figures are exact (the caller may read the rows) or noisy.
    pub exact: bool,
    /// Noisy answers: ε spent on this one, the Laplace scale of its noise (for a mean, of its
    /// sum and count each), and the budget's total and what is left of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<f64>,
}

/// A statistic checked: what to compute.
#[derive(Debug, Clone)]
struct Checked {
    statistic: Statistic,
    column: Option<String>,
    bounds: Option<(f64, f64)>,
    bins: u32,
}

fn check(ask: &Ask, noisy: bool) -> Result<Checked> {
    let statistic = ask
        .statistic
        .ok_or_else(|| Error::bad_request("name a statistic: count, sum, mean or histogram"))?;
    let column = match (statistic, &ask.column) {
        (Statistic::Count, c) => c.clone(),
        (_, Some(c)) => Some(c.clone()),
        (_, None) => return Err(Error::bad_request(format!("{statistic:?} needs a column"))),
    };
    let bounds = match (ask.lower, ask.upper) {
        (Some(l), Some(u)) if l.abs() <= MAX_BOUND && u.abs() <= MAX_BOUND && l < u => Some((l, u)),
        (None, None) => None,
        _ => {
            return Err(Error::bad_request(
                "lower and upper are numbers within ±1e15, lower below upper",
            ))
        }
    };
    let needs_bounds =
        statistic == Statistic::Histogram || (noisy && statistic != Statistic::Count);
    if needs_bounds && bounds.is_none() {
        return Err(Error::bad_request(format!(
            "{statistic:?} needs lower and upper: values are clamped to them{}",
            if noisy {
                ", which bound what one row can change (its noise is scaled to them)"
            } else {
                ""
            }
        )));
    }
    let bins = ask.bins.unwrap_or(10);
    if !(1..=MAX_BINS).contains(&bins) {
        return Err(Error::bad_request(format!("bins is 1 to {MAX_BINS}")));
    }
    Ok(Checked {
        statistic,
        column,
        bounds,
        bins,
    })
}

/// The statistic `ask` names of the table `at` names, as the caller may have it.
pub async fn aggregate(core: &Core, gated: &Gated, at: &At, ask: &Ask) -> Result<Answer> {
    let opened = open_as(
        core,
        gated,
        (&at.resource, at.rev.as_deref(), at.intent.as_deref()),
        Surface::Table,
        true,
    )
    .await?;
    let private = opened.decision.aggregate;
    let checked = check(ask, private.is_some())?;
    if let Some(p) = private {
        // A spent budget is refused before any work.
        spend(core, gated, p, true).await?;
    }
    let view = view::view(core, gated.id, &opened).await?;
    let df = core.tables.session(core, &view).await?;
    if let Some(c) = &checked.column {
        let field = df
            .schema()
            .as_arrow()
            .field_with_name(c)
            .map_err(|_| Error::bad_request(format!("the table has no column {c:?} you may read")))?
            .clone();
        let numeric = field.data_type().is_numeric();
        if checked.statistic != Statistic::Count && !numeric {
            return Err(Error::bad_request(format!(
                "column {c:?} holds no numbers (as you read it)"
            )));
        }
    }
    // Spent before anything is computed: a failure after it costs the budget still.
    let spent = match private {
        Some(p) => Some(spend(core, gated, p, false).await?),
        None => None,
    };
    let (exact, parts) = compute(&df, &checked).await?;
    Ok(match (private, spent) {
        (Some(p), Some(remaining)) => noisy(exact, parts, &checked, p, remaining),
        _ => exact,
    })
}

/// Spends ε of the caller's budget on this dataset: what is left, or 403 when it is spent.
pub(crate) async fn spend(core: &Core, gated: &Gated, p: AggregateOnly, dry: bool) -> Result<f64> {
    // A query costs ε rounded up to a millionth (never nothing); the budget is rounded down.
    let cost = ((p.epsilon * 1e6).ceil() as i64).max(1);
    let budget = (p.budget * 1e6).floor() as i64;
    let subject = gated.who().key();
    let spent = match dry {
        true => {
            let spent = core.db.privacy_spent(gated.id, &subject).await?;
            (spent + cost <= budget).then_some(spent)
        }
        false => {
            core.db
                .spend_privacy(gated.id, &subject, cost, budget)
                .await?
        }
    };
    match spent {
        Some(spent) => Ok((budget - spent) as f64 / 1e6),
        None => {
            let spent = core.db.privacy_spent(gated.id, &subject).await? as f64 / 1e6;
            Err(Error::forbidden(format!(
                "your privacy budget for this dataset is spent: {spent} of {} (each aggregate \
                 costs ε = {})",
                p.budget, p.epsilon
            )))
        }
    }
}

/// The exact figures, and for a sum or mean the clamped sum and the count apart.
async fn compute(df: &datafusion::prelude::DataFrame, c: &Checked) -> Result<(Answer, (f64, f64))> {
    let x = c
        .column
        .as_ref()
        .map(|name| cast(col(quoted(name)), DataType::Float64));
    // NaN is no number to sum or place: left out (a NaN would make the answer NaN whatever the
    // noise, and so tell that one is there).
    let df = match (&x, c.statistic) {
        (Some(x), Statistic::Sum | Statistic::Mean | Statistic::Histogram) => df
            .clone()
            .filter(isnan(x.clone()).is_not_true())
            .map_err(engine_error)?,
        _ => df.clone(),
    };
    let df = &df;
    let clamped = |x: Expr| match c.bounds {
        Some((l, u)) => when(x.clone().lt(lit(l)), lit(l))
            .when(x.clone().gt(lit(u)), lit(u))
            .otherwise(x)
            .unwrap_or_else(|_| lit(0.0)),
        None => x,
    };
    let mut parts = (0.0, 0.0);
    let mut answer = Answer {
        statistic: c.statistic,
        column: c.column.clone(),
        value: None,
        bins: Vec::new(),
        exact: true,
        epsilon: None,
        scale: None,
        budget: None,
        remaining: None,
    };
    let one = |aggs: Vec<Expr>| async {
        let found = df
            .clone()
            .aggregate(vec![], aggs)
            .map_err(engine_error)?
            .collect()
            .await
            .map_err(engine_error)?;
        super::rows::objects(&found).map(|mut rows| rows.pop().unwrap_or_default())
    };
    match (c.statistic, x) {
        (Statistic::Count, None) => {
            let o = one(vec![count(lit(1)).alias("n")]).await?;
            answer.value = o.get("n").and_then(|v| v.as_f64()).or(Some(0.0));
        }
        (Statistic::Count, Some(_)) => {
            // The column's values, whatever their type.
            let column = col(quoted(c.column.as_deref().unwrap_or_default()));
            let o = one(vec![count(column).alias("n")]).await?;
            answer.value = o.get("n").and_then(|v| v.as_f64()).or(Some(0.0));
        }
        (Statistic::Sum | Statistic::Mean, Some(x)) => {
            let o = one(vec![
                sum(clamped(x.clone())).alias("s"),
                count(x).alias("n"),
            ])
            .await?;
            let s = o.get("s").and_then(|v| v.as_f64()).unwrap_or(0.0);
            let n = o.get("n").and_then(|v| v.as_f64()).unwrap_or(0.0);
            answer.value = Some(match c.statistic {
                Statistic::Sum => s,
                _ if n > 0.0 => s / n,
                _ => 0.0,
            });
            parts = (s, n);
        }
        (Statistic::Histogram, Some(x)) => {
            let (lo, hi) = c.bounds.unwrap_or((0.0, 1.0));
            let width = (hi - lo) / f64::from(c.bins);
            let placed = clamped(x.clone());
            let counts = super::stats::buckets(df, x, placed, (lo, width), c.bins as usize).await?;
            answer.bins = counts
                .into_iter()
                .enumerate()
                .map(|(i, n)| Bin {
                    lower: lo + width * i as f64,
                    upper: lo + width * (i + 1) as f64,
                    count: n as f64,
                })
                .collect();
        }
        (_, None) => return Err(Error::bad_request("this statistic needs a column")),
    }
    Ok((answer, parts))
}

/// The exact figures of `exact` made private with ε of `p`.
fn noisy(
    exact: Answer,
    (s, n): (f64, f64),
    c: &Checked,
    p: AggregateOnly,
    remaining: f64,
) -> Answer {
    let eps = p.epsilon;
    let bound = c.bounds.map_or(1.0, |(l, u)| l.abs().max(u.abs()));
    let mut rng = rand::rng();
    let mut out = Answer {
        exact: false,
        epsilon: Some(eps),
        budget: Some(p.budget),
        remaining: Some(remaining),
        bins: Vec::new(),
        value: None,
        ..exact.clone()
    };
    match c.statistic {
        Statistic::Count => {
            out.scale = Some(1.0 / eps);
            out.value = exact.value.map(|v| v + laplace(&mut rng, 1.0 / eps));
        }
        Statistic::Sum => {
            out.scale = Some(bound / eps);
            out.value = exact.value.map(|v| v + laplace(&mut rng, bound / eps));
        }
        Statistic::Mean => {
            // Half of ε on the sum, half on the count.
            let s = s + laplace(&mut rng, 2.0 * bound / eps);
            let n = n + laplace(&mut rng, 2.0 / eps);
            let (l, u) = c.bounds.unwrap_or((0.0, 1.0));
            out.scale = Some(2.0 * bound / eps);
            out.value = Some((s / n.max(1.0)).clamp(l, u));
        }
        Statistic::Histogram => {
            out.scale = Some(1.0 / eps);
            out.bins = exact
                .bins
                .iter()
                .map(|b| Bin {
                    count: b.count + laplace(&mut rng, 1.0 / eps),
                    ..b.clone()
                })
                .collect();
        }
    }
    out
}

/// A draw from the Laplace distribution of mean 0 and scale `b` (inverse of its CDF).
pub fn laplace(rng: &mut impl rand::Rng, b: f64) -> f64 {
    // u in (-1/2, 1/2), never the ends (whose logarithm is infinite).
    let u: f64 = loop {
        let u = rng.random::<f64>() - 0.5;
        if u.abs() < 0.5 {
            break u;
        }
    };
    -b * u.signum() * (1.0 - 2.0 * u.abs()).ln()
}

/// One table of an aggregator's query.
#[derive(Debug, Clone, Deserialize)]
pub struct Source {
    /// `ns/name`.
    pub dataset: String,
    pub resource: String,
}

/// The answers of many tables to one statistic, and their combination: counts and sums added,
/// a mean from the added sums over the added counts (noisy ones each noised as above),
/// histogram bins added.
#[derive(Debug, Clone, Serialize)]
pub struct Combined {
    pub statistic: Statistic,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bins: Vec<Bin>,
    /// Per table: its dataset and resource, and its answer or why there is none.
    pub tables: Vec<serde_json::Value>,
}

/// The statistic `ask` names of each of `sources` that `who` reaches (through its gate:
/// their own, shared with them, public), and the answers combined. A table that cannot be
/// answered (no access, a spent budget) is listed with its error and left out of the total.
pub async fn across(
    core: &Core,
    who: &crate::auth::Principal,
    sources: &[Source],
    ask: &Ask,
) -> Result<Combined> {
    if sources.is_empty() || sources.len() > MAX_TABLES {
        return Err(Error::bad_request(format!("name 1 to {MAX_TABLES} tables")));
    }
    let statistic = check(ask, false)?.statistic;
    let mut tables = Vec::new();
    let mut answers = Vec::new();
    for s in sources {
        let answered = async {
            let (ns, name) = s
                .dataset
                .split_once('/')
                .ok_or_else(|| Error::bad_request("a dataset is ns/name"))?;
            let gated =
                crate::datasets::gate::shared(core, who, ns, name, crate::auth::Action::Read)
                    .await?;
            let at = At {
                resource: s.resource.clone(),
                ..At::default()
            };
            aggregate(core, &gated, &at, ask).await
        }
        .await;
        match answered {
            Ok(a) => {
                tables.push(
                    serde_json::json!({"dataset": s.dataset, "resource": s.resource, "answer": a}),
                );
                answers.push(a);
            }
            Err(e) => tables.push(
                serde_json::json!({"dataset": s.dataset, "resource": s.resource,
                "error": {"kind": format!("{:?}", e.kind), "message": e.message}}),
            ),
        }
    }
    let mut combined = Combined {
        statistic,
        value: None,
        bins: Vec::new(),
        tables,
    };
    if answers.is_empty() {
        return Ok(combined);
    }
    match statistic {
        Statistic::Count | Statistic::Sum => {
            combined.value = Some(answers.iter().filter_map(|a| a.value).sum());
        }
        Statistic::Mean => {
            // Weighted by each table's (noisy) count is not released; the mean of means.
            let values: Vec<f64> = answers.iter().filter_map(|a| a.value).collect();
            combined.value = Some(values.iter().sum::<f64>() / values.len().max(1) as f64);
        }
        Statistic::Histogram => {
            let mut bins = answers[0].bins.clone();
            for a in &answers[1..] {
                for (b, o) in bins.iter_mut().zip(&a.bins) {
                    b.count += o.count;
                }
            }
            combined.bins = bins;
        }
    }
    Ok(combined)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The draws' mean is 0 and their mean absolute value the scale, within a few standard
    /// errors; their variance 2b².
    #[test]
    fn laplace_draws_have_the_scale_asked() {
        let mut rng = rand::rng();
        for b in [0.5, 2.0, 10.0] {
            let n = 200_000;
            let draws: Vec<f64> = (0..n).map(|_| laplace(&mut rng, b)).collect();
            let mean = draws.iter().sum::<f64>() / n as f64;
            let abs = draws.iter().map(|d| d.abs()).sum::<f64>() / n as f64;
            let var = draws.iter().map(|d| d * d).sum::<f64>() / n as f64;
            // Standard errors: mean √(2b²/n), |x| b/√n.
            let se = (2.0 * b * b / n as f64).sqrt();
            assert!(mean.abs() < 5.0 * se, "b {b}: mean {mean}");
            assert!(
                (abs - b).abs() < 5.0 * b / (n as f64).sqrt(),
                "b {b}: E|x| {abs}"
            );
            assert!((var / (2.0 * b * b) - 1.0).abs() < 0.05, "b {b}: var {var}");
        }
    }
}
