//! The SQL of a table diff. Over the whole views `a` and `b`: which rows differ, grouped on the
//! key (or on whole rows) with a digest standing for each row's other cells, so nothing wide is
//! grouped or sorted; and each side's rows of one page. Over just those rows: the page, with
//! each side's cells, each common column's "differs" flag and the two sides' marks.

use datafusion::arrow::datatypes::Schema;

use super::digest::NAME as DIGEST;
use super::{A, B, D, H, KH, MARK, NA, NB};
use crate::tables::rows::quoted;

const IN_A: &str = "\u{1}ia";
const IN_B: &str = "\u{1}ib";

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

    /// The columns rows are told apart by (the key's, or every common one), as `side` has them.
    fn ident(&self, side: &str) -> Vec<String> {
        let by: &[String] = if self.key.is_empty() {
            self.common
        } else {
            self.key
        };
        by.iter().map(|c| self.col(side, c)).collect()
    }

    /// Over the whole views: one row per key (or distinct whole row) that differs, in key order,
    /// with `KH` (the digest a page's rows are fetched by) and `NA`, `NB` (its rows in `a` and
    /// `b`). Keyed, a key with more than one row on a side is listed too: the key is not one.
    pub(super) fn differing(&self) -> String {
        let (na, nb, kh, h) = (quoted(NA), quoted(NB), quoted(KH), quoted(H));
        // Each row's side, named apart from the counts the grouping answers with.
        let (ia, ib) = (quoted(IN_A), quoted(IN_B));
        let side = |s: &str, marks: &str| {
            let cells: Vec<String> = if self.key.is_empty() {
                self.ident(s)
            } else {
                self.common
                    .iter()
                    .filter(|c| !self.key.contains(c))
                    .map(|c| self.col(s, c))
                    .collect()
            };
            let digest = if cells.is_empty() {
                "CAST(NULL AS BYTEA)".to_owned()
            } else {
                format!("{DIGEST}({})", cells.join(", "))
            };
            let keys = if self.key.is_empty() {
                String::new()
            } else {
                self.key
                    .iter()
                    .map(|k| format!("{} AS {}, ", self.col(s, k), quoted(k)))
                    .collect()
            };
            format!("SELECT {keys}{digest} AS {h}, {marks} FROM {s} {s}")
        };
        let stacked = format!(
            "{} UNION ALL {}",
            side("a", &format!("1 AS {ia}, 0 AS {ib}")),
            side("b", &format!("0 AS {ia}, 1 AS {ib}"))
        );
        if self.key.is_empty() {
            format!(
                "SELECT {h} AS {kh}, sum({ia}) AS {na}, sum({ib}) AS {nb} FROM ({stacked}) \
                 GROUP BY {h} HAVING sum({ia}) <> sum({ib}) ORDER BY {h}"
            )
        } else {
            let keys: Vec<String> = self.key.iter().map(|k| quoted(k)).collect();
            let keys = keys.join(", ");
            format!(
                "SELECT {keys}, {DIGEST}({keys}) AS {kh}, sum({ia}) AS {na}, sum({ib}) AS {nb} \
                 FROM ({stacked}) GROUP BY {keys} \
                 HAVING sum({ia}) <> 1 OR sum({ib}) <> 1 \
                 OR max(CASE WHEN {ia} = 1 THEN {h} END) IS DISTINCT FROM max(CASE WHEN {ib} = 1 THEN {h} END) \
                 ORDER BY {keys}"
            )
        }
    }

    /// Over a whole view (`a` or `b`): its rows, each with `KH` (the digest
    /// [`differing`](Self::differing) names the page's rows by).
    pub(super) fn fetch(&self, side: &str) -> String {
        format!(
            "SELECT *, {DIGEST}({}) AS {} FROM {side} {side}",
            self.ident(side).join(", "),
            quoted(KH)
        )
    }

    /// Over just a page's rows (`a` and `b`, and keyless `p`: the page's digests and copies): the
    /// page, in order.
    pub(super) fn page(&self) -> String {
        if self.key.is_empty() {
            let kh = quoted(KH);
            let named = |prefix: &str, c: &str| quoted(&format!("{prefix}{c}"));
            let out: Vec<String> = self
                .common
                .iter()
                .map(|c| format!("{} AS {}", self.col("a", c), named(A, c)))
                .chain(
                    self.common
                        .iter()
                        .map(|c| format!("{} AS {}", self.col("b", c), named(B, c))),
                )
                .chain([
                    format!("p.{} AS {}", quoted(NA), quoted(A)),
                    format!("p.{} AS {}", quoted(NB), quoted(B)),
                ])
                .collect();
            format!(
                "SELECT {} FROM p LEFT JOIN a ON p.{kh} = a.{kh} LEFT JOIN b ON p.{kh} = b.{kh} \
                 ORDER BY p.{kh}",
                out.join(", ")
            )
        } else {
            format!("SELECT * FROM ({}) ORDER BY {}", self.keyed(), self.order())
        }
    }

    /// Keyed, the rows that differ: each side's columns (`A`/`B` + name), each common column's
    /// "differs" flag (`D` + name), and the two sides' marks (`A`, `B`: presence).
    fn keyed(&self) -> String {
        let mark = quoted(MARK);
        let named = |prefix: &str, c: &str| quoted(&format!("{prefix}{c}"));
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
            .map(|k| {
                format!(
                    "({} IS NOT DISTINCT FROM {})",
                    self.col("a", k),
                    self.col("b", k)
                )
            })
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

    /// A keyed page's order: the key, whichever side has it.
    fn order(&self) -> String {
        self.key
            .iter()
            .map(|c| {
                let (a, b) = (quoted(&format!("{A}{c}")), quoted(&format!("{B}{c}")));
                if self.retyped.contains(&c.as_str()) {
                    format!("coalesce(CAST({a} AS VARCHAR), CAST({b} AS VARCHAR))")
                } else {
                    format!("coalesce({a}, {b})")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}
