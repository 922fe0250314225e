//! What the SQL plane refuses and what it runs (docs/sql.md: "What runs", "Errors", "Limits",
//! "Placeholders"), through `sql::run` on the shared core: DDL, DML, `COPY`, `SET`, `SHOW`,
//! `EXPLAIN`, several statements, file and URL table functions, `information_schema`, other
//! catalogs, statements past the bounds (chains, set operations, parentheses, text size, value
//! size), placeholders misused, and tables the caller may not read — missing with the same
//! message as tables that do not exist, wherever the query names them. Then queries that run.

use futures_util::TryStreamExt;
use serde_json::{json, Value};
use strata_core::auth::{Action, Principal, Role};
use strata_core::datasets::gate;
use strata_core::db::Visibility;
use strata_core::error::{Kind, Result};
use strata_core::sql::{self, Params};

use crate::common::*;

/// The private table and the public one.
const T: &str = r#""sqlowner/t"."people""#;
const PUB: &str = r#""sqlowner/pub"."people""#;

enum Want {
    /// Runs, answering this many rows.
    Rows(usize),
    /// Refused with this kind (`None`: the docs say refused, not how) and these words.
    No(Option<Kind>, &'static str),
}

/// Makes `sqlowner/t` (private) and `sqlowner/pub` (public), each with the table `people`.
async fn tables() -> Principal {
    let core = &fixture().await.core;
    let owner = new_user(core, "sqlowner", Role::Scientist).await;
    let who = as_user(&owner);
    let csv = b"id,name\n1,ann\n2,bo\n3,cy\n";
    for (name, vis) in [("t", Visibility::Private), ("pub", Visibility::Public)] {
        dataset(core, "sqlowner", name, &owner, vis, &[]).await;
        let gated = gate::dataset(core, &who, "sqlowner", name, Action::Write)
            .await
            .unwrap();
        let people = resource("people", "people.csv", csv, Value::Null);
        let package = json!({"name": name, "resources": [people]});
        let files: &[(&str, &[u8])] = &[("people.csv", csv)];
        patiently(|| commit_tables(core, &who, &gated, None, &package, files))
            .await
            .unwrap();
    }
    who
}

/// Runs `query` as `who` with `params`: the rows of the whole answer, or the refusal.
async fn ask(who: &Principal, query: &str, params: &[Value]) -> Result<usize> {
    let core = &fixture().await.core;
    let params = Params::from_json(params)?;
    let answer = patiently(|| sql::run(core, who, query, &params, None)).await?;
    let batches: Vec<_> = answer.batches.try_collect().await?;
    Ok(batches.iter().map(|b| b.num_rows()).sum())
}

/// (case, query, what it gets): `{T}` is the private table, `{PUB}` the public one; the cases
/// named "hidden" ask as someone who may not read `sqlowner/t`, the others as its owner.
#[rustfmt::skip]
fn cases() -> Vec<(&'static str, String, Want)> {
    use Want::*;
    let (bad, missing) = (Some(Kind::BadRequest), Some(Kind::NotFound));
    let only = "only queries run here";
    let hidden = r#"no table "sqlowner/t"."people": it does not exist, or you may not read it"#;
    let schema = r#"no dataset "information_schema""#;
    let chain = |n: usize, t: &str, sep: &str| vec![t; n].join(sep);
    let q = |s: &str| s.replace("{T}", T).replace("{PUB}", PUB);
    let tables17: Vec<String> = (0..17).map(|i| format!(r#"SELECT 1 FROM "sqlowner/t@r{i}"."people""#)).collect();
    vec![
        ("CREATE TABLE … AS", q("CREATE TABLE x AS SELECT * FROM {T}"), No(bad, only)),
        ("CREATE EXTERNAL TABLE", q("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'"), No(bad, only)),
        ("CREATE VIEW", q("CREATE VIEW v AS SELECT * FROM {T}"), No(bad, only)),
        ("DROP TABLE", q("DROP TABLE {T}"), No(bad, only)),
        ("INSERT", q("INSERT INTO {T} VALUES (4, 'di')"), No(bad, only)),
        ("UPDATE", q("UPDATE {T} SET name = 'x'"), No(bad, only)),
        ("DELETE", q("DELETE FROM {T}"), No(bad, only)),
        ("COPY a table to a file", q("COPY {T} TO '/tmp/out.csv'"), No(bad, only)),
        ("COPY a query to a file", q("COPY (SELECT 1) TO '/tmp/out.parquet'"), No(bad, only)),
        ("SET", q("SET datafusion.runtime.memory_limit = '10G'"), No(bad, only)),
        ("SHOW TABLES", q("SHOW TABLES"), No(bad, only)),
        ("EXPLAIN", q("EXPLAIN SELECT * FROM {T}"), No(bad, "EXPLAIN is not run")),
        ("EXPLAIN ANALYZE", q("EXPLAIN ANALYZE SELECT 1"), No(bad, "EXPLAIN is not run")),
        ("two statements", q("SELECT 1; SELECT 2"), No(bad, "not SQL this server reads")),
        ("a query, then DDL", q("SELECT 1; DROP TABLE {T}"), No(bad, "not SQL this server reads")),
        ("not SQL", q("SELEC 1"), No(bad, "not SQL this server reads")),
        ("read_csv of a file", q("SELECT * FROM read_csv('/etc/passwd')"), No(missing, "read_csv")),
        ("read_parquet of a URL", q("SELECT * FROM read_parquet('http://169.254.169.254/x')"), No(missing, "read_parquet")),
        ("a file as a table", q("SELECT * FROM '/etc/passwd'"), No(missing, "no table")),
        ("a URL as a table", q("SELECT * FROM 'https://example.com/x.csv'"), No(missing, "no table")),
        ("information_schema.tables", q("SELECT * FROM information_schema.tables"), No(missing, schema)),
        ("information_schema.columns", q("SELECT * FROM information_schema.columns"), No(missing, schema)),
        ("a bare table name", q("SELECT * FROM people"), No(missing, r#"name tables as "ns/name""#)),
        ("another catalog", q(r#"SELECT * FROM other."sqlowner/t".people"#), No(missing, "no catalog")),
        ("a resource that does not exist", q(r#"SELECT * FROM "sqlowner/t"."nope""#), No(missing, "it does not exist, or you may not read it")),
        ("a revision that does not exist", q(r#"SELECT * FROM "sqlowner/t@nope"."people""#), No(missing, "")),
        ("17 tables", tables17.join(" UNION ALL "), No(None, "16")),
        ("an unknown column", q("SELECT nope FROM {T}"), No(bad, "nope")),
        ("a division by zero", q("SELECT id / 0 FROM {T}"), No(bad, "Divide by zero")),
        ("a failed cast", q("SELECT CAST(name AS INT) FROM {T}"), No(bad, "the query failed")),
        ("1+1+… × 2,500", format!("SELECT {}", chain(2500, "1", "+")), No(bad, "at most 1000")),
        ("x OR y OR … × 2,500", format!("SELECT 1 WHERE {}", chain(2500, "1=0", " OR ")), No(bad, "at most 1000")),
        ("'a'||'a'||… × 2,500", format!("SELECT {}", chain(2500, "'a'", "||")), No(bad, "at most 1000")),
        ("UNION ALL × 1,500", chain(1500, "SELECT 1", " UNION ALL "), No(bad, "at most 1000")),
        ("parentheses 60 deep", format!("SELECT {}1{}", "(".repeat(60), ")".repeat(60)), No(bad, "")),
        ("a text over 64 KiB", format!("SELECT 1 {}", " ".repeat(70_000)), No(Some(Kind::TooLarge), "")),
        ("a value past 16 MiB", q("SELECT length(repeat('x', 100000000)) FROM {T}"), No(bad, "16777216 bytes")),
        ("SELECT 1", q("SELECT 1"), Rows(1)),
        ("VALUES", q("VALUES (1), (2), (3)"), Rows(3)),
        ("WITH", q("WITH x AS (SELECT 2 AS a) SELECT a FROM x"), Rows(1)),
        ("the owner's private table", q("SELECT * FROM {T}"), Rows(3)),
        ("under the catalog strata", q(r#"SELECT * FROM strata."sqlowner/t"."people""#), Rows(3)),
        ("at a branch, joined with the head", q(r#"SELECT * FROM "sqlowner/t@main"."people" a JOIN {T} b ON a.id = b.id"#), Rows(3)),
        ("functions and grouping", q("SELECT upper(name), count(*) FROM {T} GROUP BY upper(name) ORDER BY 1"), Rows(3)),
        ("a chain of 200 terms", format!("SELECT {}", chain(200, "1", "+")), Rows(1)),
        ("UNION ALL × 100", chain(100, "SELECT 1", " UNION ALL "), Rows(100)),
        ("a public table", q("SELECT * FROM {PUB}"), Rows(3)),
        ("hidden: the private table", q("SELECT * FROM {T}"), No(missing, hidden)),
        ("hidden: in a subquery", q("SELECT 1 WHERE EXISTS (SELECT 1 FROM {T})"), No(missing, hidden)),
        ("hidden: in a CTE", q("WITH x AS (SELECT * FROM {T}) SELECT count(*) FROM x"), No(missing, hidden)),
        ("hidden: joined with a public table", q("SELECT * FROM {PUB} p JOIN {T} t ON p.id = t.id"), No(missing, hidden)),
        ("hidden: at a revision", q(r#"SELECT * FROM "sqlowner/t@main"."people""#), No(missing, "you may not read it")),
        ("hidden: a public table is not", q("SELECT * FROM {PUB}"), Rows(3)),
    ]
}

#[test]
fn statements_refused_and_run() {
    run(async {
        let f = fixture().await;
        let owner = tables().await;
        let mut t = Tally::default();
        for (case, query, want) in cases() {
            let who = match case.starts_with("hidden") {
                true => f.principal("outsider"),
                false => &owner,
            };
            check(&mut t, case, ask(who, &query, &[]).await, want);
        }
        // Anonymous callers read public tables only.
        let anonymous = Principal::Anonymous;
        let got = ask(&anonymous, &format!("SELECT * FROM {PUB}"), &[]).await;
        check(&mut t, "anonymous: a public table", got, Want::Rows(3));
        let got = ask(&anonymous, &format!("SELECT * FROM {T}"), &[]).await;
        let refused = Want::No(Some(Kind::NotFound), "you may not read it");
        check(&mut t, "anonymous: a private table", got, refused);
        // The same words for a table one may not read as for one that is not there.
        let absent = ask(&owner, r#"SELECT * FROM "sqlowner/none"."people""#, &[]).await;
        let hidden = ask(f.principal("outsider"), &format!("SELECT * FROM {T}"), &[]).await;
        let words = |r: Result<usize>| r.err().map(|e| (e.kind, e.message));
        let absent = words(absent).map(|(k, m)| (k, m.replace("sqlowner/none", "sqlowner/t")));
        t.eq(
            words(hidden),
            absent,
            "a hidden table reads as an absent one",
        );
        t.finish("sql: statements");
    })
}

fn check(t: &mut Tally, case: &str, got: Result<usize>, want: Want) {
    match (got, want) {
        (Ok(n), Want::Rows(w)) => t.eq(n, w, case),
        (Err(e), Want::No(kind, says)) => {
            let ok = kind.is_none_or(|k| k == e.kind) && e.message.contains(says);
            let (k, m) = (e.kind, e.message);
            t.check(ok, || {
                format!("{case}: {k:?} {m:.300}, want {kind:?} {says:?}")
            })
        }
        (Ok(n), _) => t.check(false, || format!("{case}: ran, answering {n} rows")),
        (Err(e), _) => t.check(false, || format!("{case}: {:?} {:.300}", e.kind, e.message)),
    }
}

#[test]
fn placeholders() {
    run(async {
        let f = fixture().await;
        let who = as_user(&new_user(&f.core, "sqlparams", Role::Scientist).await);
        let big = json!("x".repeat(2 << 20));
        let q = |s: &str| s.replace("{V}", "SELECT * FROM (VALUES (1), (2), (3)) t(id)");
        // (case, query, values, what it gets)
        #[rustfmt::skip]
        let cases = [
            ("$1 bound", q("{V} WHERE id > $1"), vec![json!(1)], Want::Rows(2)),
            ("? bound", q("{V} WHERE id > ? AND id < ?"), vec![json!(1), json!(3)], Want::Rows(1)),
            ("$1 used twice", q("{V} WHERE id >= $1 AND id <= $1"), vec![json!(2)], Want::Rows(1)),
            ("text read as the number the query asks for", q("{V} WHERE id > $1"), vec![json!("2")], Want::Rows(1)),
            ("a value that is no number", q("{V} WHERE id > $1"), vec![json!("lots")], Want::No(None, "")),
            ("a value is never a name", q("SELECT * FROM $1"), vec![json!(T)], Want::No(None, "")),
            ("a named placeholder", q("{V} WHERE id > $low"), vec![json!(1)], Want::No(None, "")),
            ("a gap: $2 without $1", q("{V} WHERE id > $2"), vec![json!(1), json!(1)], Want::No(None, "")),
            ("? and $1 in one query", q("{V} WHERE id > ? AND id < $1"), vec![json!(1)], Want::No(None, "")),
            ("too few values", q("{V} WHERE id > $1 AND id < $2"), vec![json!(1)], Want::No(None, "")),
            ("too many values", q("{V} WHERE id > $1"), vec![json!(1), json!(2)], Want::No(None, "")),
            ("a value and no placeholder", q("{V}"), vec![json!(1)], Want::No(None, "")),
            ("values over 1 MiB", q("SELECT length($1)"), vec![big], Want::No(Some(Kind::TooLarge), "")),
        ];
        let mut t = Tally::default();
        for (case, query, params, want) in cases {
            check(&mut t, case, ask(&who, &query, &params).await, want);
        }
        t.finish("sql: placeholders");
    })
}
