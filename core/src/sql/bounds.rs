//! How big a query may be, checked on the parsed statement before anything plans it: its text,
//! how deep its expressions, subqueries and joins nest, and how many set operations (`UNION`,
//! `INTERSECT`, `EXCEPT`) one query chains.
//!
//! Chains such as `1+1+…+1`, `a OR b OR …` or `SELECT … UNION ALL SELECT …` parse without
//! recursion but make trees as deep as they are long, and every later walk of them (table
//! references, the planner, the optimizer, physical planning, the private-query rewriter, even
//! dropping them) recurses. The bounds keep every statement that reaches those walks shallow, and
//! the SQL threads' stacks ([`super::engine::STACK`]) hold statements far deeper than the bounds
//! (the tests below run ten times the bounds on them): a query can no longer take the process
//! down by its shape. Parentheses are bounded by the parser itself (50 levels).

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Expr, Query, Select, SetExpr, TableFactor, Visit, Visitor};

use crate::error::{Error, Result};

/// The longest query text, in bytes.
pub const MAX_BYTES: usize = 64 * 1024;
/// How deep expressions, subqueries and table factors may nest in all.
pub const MAX_DEPTH: usize = 1_000;
/// How many set operations one query (or subquery) may chain.
pub const MAX_SET_OPERATIONS: usize = 1_000;

/// Refuses a query text longer than [`MAX_BYTES`], before it is parsed.
pub fn check_text(text: &str) -> Result<()> {
    if text.len() > MAX_BYTES {
        return Err(Error::too_large(format!(
            "a query may be at most {MAX_BYTES} bytes long"
        )));
    }
    Ok(())
}

/// Refuses a statement deeper or longer than the bounds, saying which and where to look.
pub fn check(statement: &DfStatement) -> Result<()> {
    let DfStatement::Statement(statement) = statement else {
        return Ok(());
    };
    let mut walk = Walk::default();
    match statement.visit(&mut walk) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(why) => Err(Error::bad_request(why)),
    }
}

#[derive(Default)]
struct Walk {
    depth: usize,
}

impl Walk {
    fn enter(&mut self) -> ControlFlow<String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return ControlFlow::Break(format!(
                "the query nests too deep: expressions, subqueries and joins may nest at most \
                 {MAX_DEPTH} levels (a chain such as a+b+c… or x OR y OR … counts one level per \
                 term): use IN (…), a table, or fewer terms"
            ));
        }
        ControlFlow::Continue(())
    }

    fn leave(&mut self) -> ControlFlow<String> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

impl Visitor for Walk {
    type Break = String;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        // Counted without recursion, before the walk descends into the chain.
        let operations = set_operations(&query.body);
        if operations > MAX_SET_OPERATIONS {
            return ControlFlow::Break(format!(
                "the query chains {operations} set operations (UNION, INTERSECT, EXCEPT): at \
                 most {MAX_SET_OPERATIONS} may be chained"
            ));
        }
        self.enter()
    }

    fn post_visit_query(&mut self, _: &Query) -> ControlFlow<String> {
        self.leave()
    }

    fn pre_visit_select(&mut self, _: &Select) -> ControlFlow<String> {
        self.enter()
    }

    fn post_visit_select(&mut self, _: &Select) -> ControlFlow<String> {
        self.leave()
    }

    fn pre_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<String> {
        self.enter()
    }

    fn post_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<String> {
        self.leave()
    }

    fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<String> {
        self.enter()
    }

    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<String> {
        self.leave()
    }
}

/// The set operations of one query body (not of the subqueries in it, which are queries of
/// their own), counted with a stack of its own.
fn set_operations(body: &SetExpr) -> usize {
    let mut count = 0;
    let mut stack = vec![body];
    while let Some(e) = stack.pop() {
        if let SetExpr::SetOperation { left, right, .. } = e {
            count += 1;
            stack.push(left);
            stack.push(right);
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> DfStatement {
        let mut statements = datafusion::sql::parser::DFParser::parse_sql(text).unwrap();
        statements.pop_front().unwrap()
    }

    /// Each shape a stranger sent that ended the process, `n` terms long.
    pub(crate) fn shapes(n: usize) -> Vec<(&'static str, String)> {
        let terms = |t: &str, sep: &str| vec![t; n].join(sep);
        vec![
            ("+", format!("SELECT {}", terms("1", "+"))),
            ("||", format!("SELECT {}", terms("'a'", "||"))),
            ("AND", format!("SELECT 1 WHERE {}", terms("true", " AND "))),
            ("OR", format!("SELECT 1 WHERE {}", terms("1=1", " OR "))),
            ("UNION ALL", terms("SELECT 1", " UNION ALL ")),
            ("IS NULL", format!("SELECT 1{}", " IS NULL".repeat(n))),
            ("::", format!("SELECT 1{}", "::int".repeat(n))),
        ]
    }

    #[test]
    fn statements_within_the_bounds_pass_and_longer_ones_are_refused_with_why() {
        for (shape, text) in shapes(MAX_DEPTH - 5) {
            check(&parse(&text)).unwrap_or_else(|e| panic!("{shape}: {}", e.message));
        }
        for (shape, text) in shapes(MAX_DEPTH + 5) {
            let e = check(&parse(&text)).unwrap_err();
            assert_eq!(e.kind, crate::error::Kind::BadRequest, "{shape}");
            assert!(e.message.contains("at most 1000"), "{shape}: {}", e.message);
        }
        assert!(check_text(&"1".repeat(MAX_BYTES + 1)).is_err());
        assert!(check_text(&"1".repeat(MAX_BYTES)).is_ok());
    }

    /// The check itself walks a statement no deeper than the bounds, whatever its length: a
    /// chain sixteen times as long as the bound is refused on an ordinary 2 MiB thread.
    #[test]
    fn the_check_never_walks_past_the_bounds() {
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                for (shape, text) in shapes(MAX_DEPTH * 16) {
                    let statement = parse(&text);
                    assert!(check(&statement).is_err(), "{shape}");
                    // Dropping the tree recurses too: that happens on the SQL threads.
                    std::mem::forget(statement);
                }
            })
            .unwrap();
        handle.join().unwrap();
    }

    /// The deepest statements the bounds let through are parsed, checked, planned, optimized, run
    /// and dropped on a tenth of a SQL thread's stack: the SQL threads hold them ten times over.
    #[test]
    fn a_tenth_of_the_sql_threads_stack_holds_the_deepest_statement_of_every_shape() {
        let handle = std::thread::Builder::new()
            .stack_size(crate::sql::engine::STACK / 10)
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    for (shape, text) in shapes(MAX_DEPTH - 5) {
                        let ctx = datafusion::prelude::SessionContext::new();
                        let statement = parse(&text);
                        check(&statement).unwrap();
                        let plan = ctx.state().statement_to_plan(statement).await.unwrap();
                        let batches = ctx
                            .execute_logical_plan(plan)
                            .await
                            .unwrap()
                            .collect()
                            .await
                            .unwrap_or_else(|e| panic!("{shape}: {e}"));
                        assert!(!batches.is_empty(), "{shape}");
                    }
                })
            })
            .unwrap();
        handle.join().unwrap();
    }
}
