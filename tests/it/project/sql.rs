//! Every SQL statement strata sends, prepared against the engine of this run (SQLite, then
//! PostgreSQL in the second phase of `scripts/test.sh`), so a statement one engine cannot parse
//! fails here rather than in production; and the two engines' schemas compared after migration
//! (that test needs PostgreSQL, and `scripts/test.sh` runs it in the PostgreSQL phase only).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use sqlx::Executor;
use strata_core::db::Engine;

use crate::common::*;

/// The string literals of `text`, unescaped, with the text of the line they start on.
fn literals(text: &str) -> Vec<(String, String)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') || bytes.get(i + 1) == Some(&b'\\') => {
                // A char literal ('"' or '\\'); lifetimes never reach a quote two bytes on.
                i += if bytes[i + 1] == b'\\' { 4 } else { 3 };
            }
            b'"' => {
                let line_start = text[..i].rfind('\n').map_or(0, |p| p + 1);
                let line = text[line_start..i].to_owned();
                let mut s = String::new();
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                        match bytes[i] {
                            b'n' => s.push('\n'),
                            b'\n' => {
                                while i + 1 < bytes.len() && bytes[i + 1].is_ascii_whitespace() {
                                    i += 1;
                                }
                            }
                            c => s.push(c as char),
                        }
                    } else {
                        let ch = text[i..].chars().next().unwrap();
                        s.push(ch);
                        i += ch.len_utf8() - 1;
                    }
                    i += 1;
                }
                out.push((line, s));
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// The statements in `core/src/db/*.rs` for `engine`: literals that start with a SQL verb, with the
/// file's column-list constants put in, and those written for the other engine left out.
fn statements(engine: Engine) -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("core/src/db");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let lits = literals(&text);
        // `const NAME: &str = "…";` (possibly on the next line).
        let mut consts = BTreeMap::new();
        for (line, value) in &lits {
            if let Some(decl) = line.trim_start().strip_prefix("const ") {
                let name = decl.split(':').next().unwrap().trim();
                consts.insert(format!("{{{name}}}"), value.clone());
            }
        }
        for l in text
            .lines()
            .filter(|l| l.trim_start().starts_with("const ") && l.trim_end().ends_with('='))
        {
            let name = l.trim_start()[6..]
                .split(':')
                .next()
                .unwrap()
                .trim()
                .to_owned();
            // The value is the first literal after this declaration.
            let at = text.find(l).unwrap() + l.len();
            if let Some((_, v)) = literals(&text[at..]).into_iter().next() {
                consts.insert(format!("{{{name}}}"), v);
            }
        }
        for (line, lit) in lits {
            let head = lit.trim_start().to_ascii_uppercase();
            if !["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"]
                .iter()
                .any(|v| head.starts_with(v))
            {
                continue;
            }
            let other = match engine {
                Engine::Sqlite => "Engine::Postgres",
                Engine::Postgres => "Engine::Sqlite",
            };
            if line.contains(other) {
                continue;
            }
            let mut sql = lit.clone();
            for (k, v) in &consts {
                sql = sql.replace(k, v);
            }
            let sql = sql.replace("{{", "{").replace("}}", "}");
            out.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                sql,
            ));
        }
    }
    out
}

#[tokio::test]
async fn every_statement_prepares_on_this_engine() {
    let server = TestServer::start().await;
    let engine = server.state.db.engine();
    let found = statements(engine);
    assert!(
        found.len() > 80,
        "only {} statements found: the scanner is broken",
        found.len()
    );
    let mut failed = Vec::new();
    for (file, sql) in &found {
        assert!(
            !sql.contains('{'),
            "{file}: unresolved placeholder in {sql}"
        );
        if let Err(e) = server
            .state
            .db
            .pool()
            .prepare(sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(
                sql.clone(),
            )))
            .await
        {
            failed.push(format!("{file}: {e}\n    {}", sql.replace('\n', " ")));
        }
    }
    assert!(failed.is_empty(), "{engine:?}:\n{}", failed.join("\n"));
}

/// `(table, column)` → type family, for the tables of a migrated database.
async fn schema(db: &strata_core::db::Db) -> BTreeMap<(String, String), String> {
    let rows: Vec<(String, String, String)> = match db.engine() {
        Engine::Sqlite => sqlx::query_as(
            "SELECT m.name, p.name, p.type FROM sqlite_master m JOIN pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'",
        )
        .fetch_all(db.pool())
        .await
        .unwrap(),
        Engine::Postgres => sqlx::query_as(
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'",
        )
        .fetch_all(db.pool())
        .await
        .unwrap(),
    };
    let family = |t: &str| {
        let t = t.to_ascii_lowercase();
        if t.contains("int") || t == "bigserial" || t == "serial" {
            "integer"
        } else if t.contains("char") || t == "text" {
            "text"
        } else if t.contains("bool") {
            "boolean"
        } else {
            "other"
        }
        .to_owned()
    };
    rows.into_iter()
        .map(|(t, c, ty)| ((t, c), family(&ty)))
        .collect()
}

#[tokio::test]
async fn pg_only_schemas_match_across_engines() {
    let url = std::env::var("STRATA_TEST_DATABASE_URL").expect(
        "this test compares with PostgreSQL: scripts/test.sh runs it in its PostgreSQL phase",
    );
    assert!(!url.is_empty());
    let pg = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = strata_core::db::Db::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("s.db").display()
    ))
    .await
    .unwrap();
    let (a, b) = (schema(&sqlite).await, schema(&pg.state.db).await);
    assert!(a.len() > 50, "{a:?}");
    let tables = |s: &BTreeMap<(String, String), String>| -> BTreeSet<String> {
        s.keys().map(|(t, _)| t.clone()).collect()
    };
    assert_eq!(tables(&a), tables(&b), "the engines have different tables");
    let differ: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|((t, c), v)| {
            format!(
                "{t}.{c}: sqlite {v}, postgres {:?}",
                b.get(&(t.clone(), c.clone()))
            )
        })
        .chain(
            b.keys()
                .filter(|k| !a.contains_key(*k))
                .map(|(t, c)| format!("{t}.{c}: only in postgres")),
        )
        .collect();
    assert!(differ.is_empty(), "schemas differ:\n{}", differ.join("\n"));
}
