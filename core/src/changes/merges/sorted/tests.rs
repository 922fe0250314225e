//! The keyed merge's merge-join checked against the merge query on random sides.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use super::aside::{cast, compare_part, make};
use super::{plan, Sorted, ST};
use crate::tables::rows::quoted;
use datafusion::datasource::MemTable;

#[test]
fn numbers_sort_as_numbers_then_text_nulls_last() {
    let p = |n: Option<f64>, t: Option<&'static str>| (n, t);
    let less = [
        (p(Some(9.0), Some("9")), p(Some(10.0), Some("10"))),
        (p(Some(1.0), Some("1")), p(Some(1.0), Some("1.0"))),
        (p(Some(5.0), Some("5")), p(None, Some("a"))),
        (p(None, Some("b")), p(None, None)),
    ];
    for (a, b) in less {
        assert_eq!(compare_part(a, b), Ordering::Less, "{a:?} < {b:?}");
        assert_eq!(compare_part(b, a), Ordering::Greater, "{b:?} > {a:?}");
    }
    let a = p(None, Some("a"));
    assert_eq!(compare_part(a, a), Ordering::Equal);
}

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

type Side = (Vec<&'static str>, Vec<Vec<Option<String>>>);

/// One side: `columns` (the key first), its rows' keys from `keys`, cells from a few values
/// (so sides agree and differ often), in key order with some rows moved, or shuffled.
fn side(g: &mut Lcg, columns: Vec<&'static str>, keys: &[Option<String>]) -> Side {
    let mut rows: Vec<Vec<Option<String>>> = Vec::new();
    for k in keys {
        if g.next(5) == 0 {
            continue;
        }
        let mut row = vec![k.clone()];
        for _ in 1..columns.len() {
            row.push(match g.next(4) {
                0 => None,
                v => Some(format!("{v}")),
            });
        }
        rows.push(row);
    }
    match g.next(3) {
        0 => {}
        1 => {
            for _ in 0..g.next(4) {
                let (a, b) = (g.next(rows.len() as u64), g.next(rows.len() as u64));
                let r = rows.remove(a as usize);
                rows.insert(b as usize, r);
            }
        }
        _ => {
            for i in (1..rows.len()).rev() {
                rows.swap(i, g.next(i as u64 + 1) as usize);
            }
        }
    }
    (columns, rows)
}

fn table(side: &Side) -> Arc<MemTable> {
    let schema = Arc::new(Schema::new(
        side.0
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = (0..side.0.len())
        .map(|c| {
            Arc::new(StringArray::from(
                side.1.iter().map(|r| r[c].clone()).collect::<Vec<_>>(),
            )) as ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
    Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
}

/// Each batch's rows as text, in the columns of `names`.
fn rows(batches: &[RecordBatch], names: &[String]) -> Vec<Vec<Option<String>>> {
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<ArrayRef> = names
            .iter()
            .map(|n| cast(b.column_by_name(n).expect(n), &DataType::Utf8).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            out.push(
                cols.iter()
                    .map(|a| {
                        let a = a.as_string::<i32>();
                        (!a.is_null(i)).then(|| a.value(i).to_owned())
                    })
                    .collect(),
            );
        }
    }
    out
}

/// Sides in key order (or nearly, or not at all), with columns added and removed, keys
/// numeric, textual and null: merge-joined as they stream, they give the merge query's rows,
/// in its order.
#[tokio::test]
async fn the_merge_join_gives_the_query_s_rows() {
    let mut g = Lcg(11);
    for round in 0..30 {
        let keys: Vec<Option<String>> = (0..40)
            .map(|i| match i {
                0 => None,
                i if i % 7 == 0 => Some(format!("k{i}")),
                // The number of the key before, written another way.
                i if i % 13 == 0 => Some(format!("{}.0", (i - 1) * 3)),
                i => Some(format!("{}", i * 3)),
            })
            .collect();
        let b = side(&mut g, vec!["id", "a", "b"], &keys);
        let o = side(&mut g, vec!["id", "a", "b", "c"], &keys);
        let t = side(&mut g, vec!["id", "a", "d"], &keys);
        let mut config = datafusion::prelude::SessionConfig::new().with_target_partitions(1);
        config.options_mut().sql_parser.enable_ident_normalization = false;
        let ctx = SessionContext::new_with_config(config);
        for (name, s) in [("b", &b), ("o", &o), ("t", &t)] {
            ctx.register_table(name, table(s)).unwrap();
        }
        let shape = super::super::rows::stack(&ctx, &["id".to_owned()])
            .await
            .unwrap();
        let q = super::super::rows::Query { shape: &shape };
        let sql = format!(
            "SELECT * FROM ({}) WHERE {} <> 'd' ORDER BY {}",
            q.keyed(),
            quoted(ST),
            q.order()
        );
        let want = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let plan = make(&ctx, &shape).await.unwrap().expect("a plan");
        let mut merged = Sorted::start(&ctx, &shape, plan).await.unwrap();
        let mut got = Vec::new();
        while let Some(b) = merged.next().await {
            got.push(b.unwrap());
        }
        let names: Vec<String> = merged
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(
            rows(&got, &names),
            rows(&want, &names),
            "round {round}: {names:?}"
        );
    }
}

/// A key twice in a side is refused, as the query refuses it.
#[tokio::test]
async fn a_key_twice_is_refused() {
    let key = |k: &str| vec![Some(k.to_owned()), Some("v".to_owned())];
    let once: Side = (vec!["id", "a"], vec![key("1"), key("2"), key("3")]);
    let twice: Side = (
        vec!["id", "a"],
        vec![key("1"), key("3"), key("2"), key("3")],
    );
    let ctx = SessionContext::new();
    for (name, s) in [("b", &once), ("o", &twice), ("t", &once)] {
        ctx.register_table(name, table(s)).unwrap();
    }
    let shape = super::super::rows::stack(&ctx, &["id".to_owned()])
        .await
        .unwrap();
    let plan = make(&ctx, &shape).await.unwrap().expect("a plan");
    let mut merged = Sorted::start(&ctx, &shape, plan).await.unwrap();
    let mut error = None;
    while let Some(b) = merged.next().await {
        if let Err(e) = b {
            error = Some(e);
        }
    }
    let e = error.expect("refused");
    assert!(
        e.message.contains("not unique in the target"),
        "{}",
        e.message
    );
}

/// The plan made for three sides is kept for the same three (by name): asked again, it is not
/// made again, even with the sides' rows gone; other sides get their own.
#[tokio::test]
async fn a_plan_is_kept_for_the_same_sides() {
    let row = |k: &str| vec![Some(k.to_owned()), Some("v".to_owned())];
    let side: Side = (
        vec!["id", "a"],
        vec![row("1"), row("3"), row("2"), row("4")],
    );
    let ctx = SessionContext::new();
    for name in ["b", "o", "t"] {
        ctx.register_table(name, table(&side)).unwrap();
    }
    let shape = super::super::rows::stack(&ctx, &["id".to_owned()])
        .await
        .unwrap();
    let first = plan(&ctx, &shape, "kept: the first sides")
        .await
        .unwrap()
        .expect("a plan");
    assert_eq!(first[0].places.len(), 1, "row 2 set aside");
    for name in ["b", "o", "t"] {
        ctx.deregister_table(name).unwrap();
    }
    let again = plan(&ctx, &shape, "kept: the first sides")
        .await
        .unwrap()
        .expect("the plan kept");
    assert!(Arc::ptr_eq(&first[0], &again[0]), "not made again");
    assert!(
        plan(&ctx, &shape, "kept: other sides").await.is_err(),
        "other sides are read (and are gone here)"
    );
}
