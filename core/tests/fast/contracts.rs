//! Data contracts (docs/changes.md, "Data contracts"; `contracts::rules`): every constraint the
//! Table Schema holds (`required`, `unique`, `enum`, `minimum`, `maximum`, `pattern` on the whole
//! value, `minLength`, `maxLength`), declared types, primary and foreign keys and the tag rule,
//! each with rows that keep it and rows that break it, checked by `contracts::check` on tables of
//! a dataset of this module's own; a broken rule names its resource, column and first rows, and
//! the refusal names them too without quoting a value. Then contracts that cannot be read
//! (refused naming resource and field), hostile inputs (a regex that backtracks, one too big, a
//! huge cell, an unknown type), and a write to a protected branch refused the same way.

use serde_json::{json, Map, Value};
use strata_core::auth::{Action, Role};
use strata_core::contracts::{self, Report};
use strata_core::datasets::{gate, paths};
use strata_core::db::{Repo, Visibility};
use strata_core::error::{Kind, Result};

use crate::common::*;

/// A datapackage of the table `t` (`csv`, with `schema`) and `top` at the package's top; a
/// `"t"` in `top` is the resource's own tags.
fn package(csv: &str, schema: Value, top: &Value) -> Map<String, Value> {
    let mut p = json!({"name": "c", "resources": [resource("t", "t.csv", csv.as_bytes(), schema)]});
    for (k, x) in top.as_object().into_iter().flatten() {
        match k.as_str() {
            "t" => p["resources"][0]["tags"] = x.clone(),
            _ => p[k] = x.clone(),
        }
    }
    p.as_object().unwrap().clone()
}

/// The table of `id` (1, 2, …; required) and `v` (`values`), and its schema with `v` of type
/// `ty` with `constraints`.
fn table(ty: &str, constraints: Value, values: &[&str]) -> (String, Value) {
    let mut csv = String::from("id,v\n");
    for (i, v) in values.iter().enumerate() {
        csv.push_str(&format!("{},{v}\n", i + 1));
    }
    let id = json!({"name": "id", "type": "integer", "constraints": {"required": true}});
    let v = json!({"name": "v", "type": ty, "constraints": constraints});
    (csv, json!({ "fields": [id, v] }))
}

/// The violations of `report`: (resource, column, rule, rows).
fn broken(report: &Report) -> Vec<(String, Option<String>, String, Vec<u64>)> {
    let v = report.violations.iter();
    v.map(|v| {
        (
            v.resource.clone(),
            v.column.clone(),
            v.rule.clone(),
            v.rows.clone(),
        )
    })
    .collect()
}

/// Checks `package` of dataset `repo` (its table stored first).
async fn check(repo: &Repo, csv: &str, package: &Map<String, Value>) -> Result<Report> {
    let core = &fixture().await.core;
    stored(core, repo.id, csv.as_bytes()).await;
    let path = repo.path();
    patiently(|| contracts::check(core, repo.id, &path, package, "r")).await
}

#[test]
fn every_constraint_kept_and_broken() {
    run(async {
        let core = &fixture().await.core;
        let owner = new_user(core, "contractor", Role::Scientist).await;
        let repo = dataset(core, "contractor", "c", &owner, Visibility::Private, &[]).await;
        let long: &str = &"x".repeat(256 * 1024);
        let one = |rule: &'static str, row: u64| Some((rule, vec![row]));
        // (case, type of `v`, its constraints, its values, the rule they break and its rows)
        #[rustfmt::skip]
        let cases = [
            ("required, all there", "string", json!({"required": true}), vec!["a", "b"], None),
            ("required, one empty", "string", json!({"required": true}), vec!["a", "", "c"], one("required", 2)),
            ("required: false asks nothing", "string", json!({"required": false}), vec!["", ""], None),
            ("unique, all distinct", "string", json!({"unique": true}), vec!["a", "b", "c"], None),
            ("unique, a repeat", "string", json!({"unique": true}), vec!["a", "b", "a"], Some(("unique", vec![1, 3]))),
            ("enum of text, kept", "string", json!({"enum": ["x", "y"]}), vec!["x", "y", "x"], None),
            ("enum of text, broken", "string", json!({"enum": ["x", "y"]}), vec!["x", "z"], one("enum", 2)),
            ("enum is case-sensitive", "string", json!({"enum": ["x"]}), vec!["X"], one("enum", 1)),
            ("enum of numbers, kept", "integer", json!({"enum": [1, 2]}), vec!["2", "1"], None),
            ("enum of numbers, broken", "integer", json!({"enum": [1, 2]}), vec!["1", "3"], one("enum", 2)),
            ("minimum, on it", "integer", json!({"minimum": 0}), vec!["0", "7"], None),
            ("minimum, below", "integer", json!({"minimum": 0}), vec!["5", "-1"], one("minimum", 2)),
            ("an empty value keeps a minimum", "integer", json!({"minimum": 0}), vec!["3", ""], None),
            ("maximum of a number, on it", "number", json!({"maximum": 1.5}), vec!["1.5", "-3"], None),
            ("maximum of a number, above", "number", json!({"maximum": 1.5}), vec!["1.51"], one("maximum", 1)),
            ("minimum of a date, kept", "date", json!({"minimum": "2024-01-01"}), vec!["2024-01-01", "2025-06-30"], None),
            ("minimum of a date, broken", "date", json!({"minimum": "2024-01-01"}), vec!["2024-02-01", "2023-12-31"], one("minimum", 2)),
            ("a huge minimum", "number", json!({"minimum": 1e300}), vec!["1e301", "5"], one("minimum", 2)),
            ("pattern, the whole value", "string", json!({"pattern": "[A-Z]{2}"}), vec!["AB", "CD"], None),
            ("pattern, a value longer than it", "string", json!({"pattern": "[A-Z]{2}"}), vec!["AB", "ABC"], one("pattern", 2)),
            ("pattern, not its case", "string", json!({"pattern": "[A-Z]{2}"}), vec!["ab"], one("pattern", 1)),
            ("pattern with an alternative, whole", "string", json!({"pattern": "a|b"}), vec!["a", "ab"], one("pattern", 2)),
            ("pattern that backtracks elsewhere", "string", json!({"pattern": "(a+)+b"}), vec!["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"], one("pattern", 1)),
            ("minLength, kept", "string", json!({"minLength": 2}), vec!["ab", "abc"], None),
            ("minLength, broken", "string", json!({"minLength": 2}), vec!["ab", "a"], one("minLength", 2)),
            ("maxLength counts characters, not bytes", "string", json!({"maxLength": 3}), vec!["ééé", "abc"], None),
            ("maxLength, broken", "string", json!({"maxLength": 3}), vec!["abcd"], one("maxLength", 1)),
            ("maxLength, a 256 KiB cell", "string", json!({"maxLength": 10}), vec!["ok", long], one("maxLength", 2)),
            ("integer, all integers", "integer", json!({}), vec!["1", "-2"], None),
            ("integer, a word", "integer", json!({}), vec!["1", "x"], one("type", 2)),
            ("number, a word", "number", json!({}), vec!["1.5", "abc"], one("type", 2)),
            ("boolean, neither", "boolean", json!({}), vec!["true", "maybe"], one("type", 2)),
            ("date, no such day", "date", json!({}), vec!["2024-02-30"], one("type", 1)),
            ("an unknown type is text", "wibble", json!({"maxLength": 5}), vec!["any", "thing"], None),
        ];
        let mut t = Tally::default();
        for (case, ty, constraints, values, want) in cases {
            let (csv, schema) = table(ty, constraints, &values);
            let report = match check(&repo, &csv, &package(&csv, schema, &json!({}))).await {
                Ok(r) => r,
                Err(e) => {
                    t.check(false, || format!("{case}: {:?} {}", e.kind, e.message));
                    continue;
                }
            };
            let wanted = want.iter().map(|(rule, rows)| {
                (
                    "t".to_owned(),
                    Some("v".to_owned()),
                    rule.to_string(),
                    rows.clone(),
                )
            });
            t.eq(broken(&report), wanted.collect(), case);
            t.eq(report.ok, want.is_none(), &format!("{case}: ok"));
            if let Some((_, rows)) = &want {
                // The refusal names the resource, the first row and the column, never a value.
                let m = report.refusal().message;
                let row = format!("row {}", rows[0]);
                let named = [r#"resource "t""#, row.as_str(), r#"column "v""#];
                t.check(named.iter().all(|n| m.contains(n)), || {
                    format!("{case}: {m}")
                });
                let quoted = values.iter().find(|v| v.len() > 1 && m.contains(*v));
                t.check(quoted.is_none() && m.len() < 1000, || {
                    format!("{case}: {m:.200}")
                });
            }
        }
        t.finish("contracts: constraints × rows");
    })
}

#[test]
fn keys_and_the_tag_rule() {
    run(async {
        let core = &fixture().await.core;
        let owner = new_user(core, "keyholder", Role::Scientist).await;
        let repo = dataset(core, "keyholder", "k", &owner, Visibility::Private, &[]).await;
        let fields = json!([{"name": "id", "type": "integer"}, {"name": "v", "type": "integer"}]);
        let fk = |to: &str| json!([{"fields": "v", "reference": {"resource": to, "fields": "id"}}]);
        let pk = json!({"fields": fields, "primaryKey": "id"});
        let to_itself = json!({"fields": fields, "foreignKeys": fk("")});
        let to_u = json!({"fields": fields, "foreignKeys": fk("u")});
        let tagged = json!({"fields": [{"name": "id", "type": "integer", "tags": {"PII": false}},
            {"name": "v", "type": "integer"}]});
        let typed = json!({ "fields": fields });
        let rule = json!({"rules": [{"tag": "finance", "columns": "tagged"}]});
        let finance = json!({"rules": rule["rules"].clone(), "t": ["finance"]});
        let u = "id,v\n10,0\n20,0\n";
        // (case, schema of t, its rows, the package's top, the rule broken: its column and rows)
        #[rustfmt::skip]
        let cases = [
            ("primaryKey, unique and there", &pk, "1,5\n2,5\n", json!({}), None),
            ("primaryKey, a repeat", &pk, "1,5\n1,6\n", json!({}), Some(("primaryKey", "id", vec![1, 2]))),
            ("primaryKey, one missing", &pk, "1,5\n,6\n", json!({}), Some(("primaryKey", "id", vec![2]))),
            ("foreignKey to itself, kept", &to_itself, "1,2\n2,1\n3,\n", json!({}), None),
            ("foreignKey to itself, broken", &to_itself, "1,2\n2,9\n", json!({}), Some(("foreignKey", "v", vec![2]))),
            ("foreignKey to another table, kept", &to_u, "1,10\n2,20\n", json!({}), None),
            ("foreignKey to another table, broken", &to_u, "1,10\n2,30\n", json!({}), Some(("foreignKey", "v", vec![2]))),
            ("tag rule, the table not tagged", &tagged, "1,2\n", rule.clone(), None),
            ("tag rule, a tagged table's column without tags", &tagged, "1,2\n", finance, Some(("tags", "v", vec![]))),
            // "the declared `type` of each value, in a table another rule reads" (docs/changes.md).
            ("a declared type broken where a key reads the rows", &pk, "1,2\n2,x\n", json!({}), Some(("type", "v", vec![2]))),
            ("declared types alone read no rows", &typed, "1,2\n2,x\n", json!({}), None),
        ];
        let mut t = Tally::default();
        stored(core, repo.id, u.as_bytes()).await;
        for (case, schema, rows, top, want) in cases {
            let csv = format!("id,v\n{rows}");
            let mut p = package(&csv, schema.clone(), &top);
            let u = resource("u", "u.csv", u.as_bytes(), json!({ "fields": fields }));
            p["resources"].as_array_mut().unwrap().push(u);
            let got = check(&repo, &csv, &p).await.map(|r| broken(&r));
            let want = want.map(|(rule, col, rows)| {
                ("t".to_owned(), Some(col.to_owned()), rule.to_owned(), rows)
            });
            t.eq(
                got.map_err(|e| e.message),
                Ok(want.into_iter().collect()),
                case,
            );
        }
        t.finish("contracts: keys and tags");
    })
}

#[test]
fn contracts_that_cannot_be_read_are_refused_naming_resource_and_field() {
    // (case, type of `v`, its constraints)
    #[rustfmt::skip]
    let fields = [
        ("a pattern that does not compile", "string", json!({"pattern": "("})),
        ("a pattern too big to compile", "string", json!({"pattern": "(a{1000}){1000}"})),
        ("a pattern that is no text", "string", json!({"pattern": 5})),
        ("a minimum that is no number", "integer", json!({"minimum": "zero"})),
        ("a minimum of a text field", "string", json!({"minimum": 3})),
        ("a maximum of a date that is no date", "date", json!({"maximum": "soon"})),
        ("an empty enum", "string", json!({"enum": []})),
        ("an enum of text for an integer", "integer", json!({"enum": ["one"]})),
        ("an enum of objects", "string", json!({"enum": [{"a": 1}]})),
        ("required that is no flag", "string", json!({"required": "yes"})),
        ("a negative maxLength", "string", json!({"maxLength": -1})),
        ("a fractional minLength", "string", json!({"minLength": 1.5})),
        ("a huge maxLength", "string", json!({"maxLength": 1u64 << 40})),
        ("an unknown constraint", "string", json!({"shiny": true})),
        ("constraints that are no object", "string", json!(["required"])),
    ];
    let mut t = Tally::default();
    let mut refused = |case: &str, p: &Map<String, Value>, field: &str| {
        let got = contracts::read(p, |_| true)
            .err()
            .map(|e| (e.kind, e.message));
        let named = |m: &String| m.contains(r#"resource "t""#) && m.contains(field);
        let ok = matches!(&got, Some((Kind::Invalid, m)) if named(m));
        t.check(ok, || format!("{case}: {got:?}"));
    };
    for (case, ty, constraints) in fields {
        let (csv, schema) = table(ty, constraints, &[]);
        refused(case, &package(&csv, schema, &json!({})), r#""v""#);
    }
    let a = json!([{"name": "a"}]);
    let fk = |fields: Value, to: &str, refs: Value| json!([{"fields": fields, "reference": {"resource": to, "fields": refs}}]);
    #[rustfmt::skip]
    let keys = [
        ("a primaryKey naming no field", json!({"fields": a, "primaryKey": "b"}), "primaryKey"),
        ("a primaryKey that is a number", json!({"fields": a, "primaryKey": 3}), "primaryKey"),
        ("a foreign key to no resource", json!({"fields": a, "foreignKeys": fk(json!("a"), "nope", json!("a"))}), "nope"),
        ("a foreign key to no field", json!({"fields": a, "foreignKeys": fk(json!("a"), "", json!("zz"))}), "zz"),
        ("a foreign key of unequal lengths", json!({"fields": a, "foreignKeys": fk(json!(["a"]), "", json!(["a", "a"]))}), "foreign key"),
    ];
    for (case, schema, names) in keys {
        refused(case, &package("a\n", schema, &json!({})), names);
    }
    t.finish("contracts: unreadable contracts");
}

#[test]
fn a_write_that_breaks_the_contract_is_refused_and_the_branch_stays() {
    run(async {
        let core = &fixture().await.core;
        let owner = new_user(core, "protector", Role::Scientist).await;
        dataset(core, "protector", "p", &owner, Visibility::Private, &[]).await;
        let who = as_user(&owner);
        let gated = gate::dataset(core, &who, "protector", "p", Action::Write)
            .await
            .unwrap();
        let head = || paths::head_of(core, &gated, None);
        let mut t = Tally::default();
        for (case, values, refused) in [
            ("kept", &["1", "2"][..], false),
            ("row 3", &["1", "2", "-5"], true),
        ] {
            let (csv, schema) = table("integer", json!({"minimum": 0}), values);
            let p = Value::Object(package(&csv, schema, &json!({})));
            let before = head().await.unwrap();
            let tables: &[(&str, &[u8])] = &[("t.csv", csv.as_bytes())];
            let got = patiently(|| commit_tables(core, &who, &gated, None, &p, tables)).await;
            let after = head().await.unwrap();
            match (&got, refused) {
                (Err(e), true) => {
                    let says = [
                        "the contract refuses",
                        r#"resource "t""#,
                        "row 3",
                        r#"column "v""#,
                    ];
                    let m = &e.message;
                    t.eq(e.kind, Kind::Invalid, case);
                    t.check(
                        says.iter().all(|s| m.contains(s)) && !m.contains("-5"),
                        || m.clone(),
                    );
                    t.eq(after, before, &format!("{case}: the branch stays"));
                }
                (Ok(_), false) => t.check(after != before, || format!("{case}: the branch moved")),
                _ => t.check(false, || format!("{case}: {:?}", got.as_ref().err())),
            }
        }
        t.finish("contracts: writes to a protected branch");
    })
}
