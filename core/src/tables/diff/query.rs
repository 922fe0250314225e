//! The SQL of a table diff: the rows that differ between views `a` and `b`, matched on a key or
//! as whole rows, with each side's cells, each common column's "differs" flag and the two sides'
//! marks; and the order pages come in.

use datafusion::arrow::datatypes::Schema;

use super::{A, B, D, MARK};
use crate::tables::rows::quoted;

/// What the diff's query is built from.
pub(super) struct Query<'q> {
    pub a: &'q Schema,
    pub b: &'q Schema,
    pub common: &'q [String],
    pub retyped: &'q [&'q str],
    pub key: &'q [String],
}

impl Query<'_> {
    /// `side.column`, as text when its type changed between the revisions.
    fn col(&self, side: &str, c: &str) -> String {
        if self.retyped.contains(&c) {
            format!("CAST({side}.{} AS VARCHAR)", quoted(c))
        } else {
            format!("{side}.{}", quoted(c))
        }
    }

    /// The rows that differ: each side's columns (`A`/`B` + name), each common column's
    /// "differs" flag (`D` + name, keyed only), and the two sides' marks (`A`, `B`: presence,
    /// or a whole row's copies).
    pub(super) fn sql(&self) -> String {
        let mark = quoted(MARK);
        let named = |prefix: &str, c: &str| quoted(&format!("{prefix}{c}"));
        if self.key.is_empty() {
            let cols = |side: &str| {
                self.common
                    .iter()
                    .map(|c| format!("{} AS {}", self.col(side, c), quoted(c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let group = (1..=self.common.len())
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let out: Vec<String> = self
                .common
                .iter()
                .map(|c| format!("ca.{} AS {}", quoted(c), named(A, c)))
                .chain(
                    self.common
                        .iter()
                        .map(|c| format!("cb.{} AS {}", quoted(c), named(B, c))),
                )
                .chain([
                    format!("ca.{mark} AS {}", quoted(A)),
                    format!("cb.{mark} AS {}", quoted(B)),
                ])
                .collect();
            let on = self
                .common
                .iter()
                .map(|c| format!("(ca.{0} IS NOT DISTINCT FROM cb.{0})", quoted(c)))
                .collect::<Vec<_>>()
                .join(" AND ");
            format!(
                "WITH ca AS (SELECT {ca}, count(*) AS {mark} FROM a GROUP BY {group}), \
                 cb AS (SELECT {cb}, count(*) AS {mark} FROM b GROUP BY {group}) \
                 SELECT {out} FROM ca FULL OUTER JOIN cb ON {on} \
                 WHERE ca.{mark} IS DISTINCT FROM cb.{mark}",
                ca = cols("a"),
                cb = cols("b"),
                out = out.join(", "),
            )
        } else {
            let differs = |c: &str| {
                format!(
                    "({} IS DISTINCT FROM {})",
                    self.col("a", c),
                    self.col("b", c)
                )
            };
            let out: Vec<String> = self
                .a
                .fields()
                .iter()
                .map(|f| format!("a.{} AS {}", quoted(f.name()), named(A, f.name())))
                .chain(
                    self.b
                        .fields()
                        .iter()
                        .map(|f| format!("b.{} AS {}", quoted(f.name()), named(B, f.name()))),
                )
                .chain(
                    self.common
                        .iter()
                        .filter(|c| !self.key.contains(c))
                        .map(|c| format!("({}) AS {}", differs(c), named(D, c))),
                )
                .chain([
                    format!("a.{mark} AS {}", quoted(A)),
                    format!("b.{mark} AS {}", quoted(B)),
                ])
                .collect();
            let on = self
                .key
                .iter()
                .map(|k| format!("({} = {})", self.col("a", k), self.col("b", k)))
                .collect::<Vec<_>>()
                .join(" AND ");
            let changed: Vec<String> = self
                .common
                .iter()
                .filter(|c| !self.key.contains(c))
                .map(|c| differs(c))
                .collect();
            let changed = if changed.is_empty() {
                String::new()
            } else {
                format!(" OR {}", changed.join(" OR "))
            };
            format!(
                "SELECT {out} FROM (SELECT *, true AS {mark} FROM a) a \
                 FULL OUTER JOIN (SELECT *, true AS {mark} FROM b) b ON {on} \
                 WHERE a.{mark} IS NULL OR b.{mark} IS NULL{changed}",
                out = out.join(", "),
            )
        }
    }

    /// The page's order: the key (or every common column), whichever side has it.
    pub(super) fn order(&self) -> String {
        let by: &[String] = if self.key.is_empty() {
            self.common
        } else {
            self.key
        };
        by.iter()
            .map(|c| {
                let (a, b) = (quoted(&format!("{A}{c}")), quoted(&format!("{B}{c}")));
                if self.retyped.contains(&c.as_str()) && !self.key.is_empty() {
                    format!("coalesce(CAST({a} AS VARCHAR), CAST({b} AS VARCHAR))")
                } else {
                    format!("coalesce({a}, {b})")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}
