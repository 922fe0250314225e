//! Three-way merges as docs/changes.md ("How it merges") states them. A table of CSV tables
//! (base, ours = `main`, theirs = `feature`), each merged by a merge request in a dataset of its
//! own on the shared core: cleanly, into exactly the rows the rules give (key order, numbers as
//! numbers), or into exactly the cell and row conflicts they give. Keyed on the `primaryKey`
//! (disjoint edits, one cell changed alike or differently, deletes against edits, rows added on
//! both sides, columns added or removed, composite keys, empty tables, cells compared as
//! written) and without a key (whole rows counted). Then the datapackage and `.gitattributes`
//! through the pure planning functions (`merges::plan`).

use futures_util::StreamExt;
use serde_json::{json, Value};
use strata_core::auth::{Action, Role};
use strata_core::changes::merges::{self, plan};
use strata_core::datasets::{gate, git_on, refs, settings};
use strata_core::db::{User, Visibility};
use strata_core::error::Result;

use crate::common::*;

/// A conflict: kind, key, column, and the base, ours and theirs values.
type Clash = (
    &'static str,
    Value,
    Option<&'static str>,
    Value,
    Value,
    Value,
);

/// What a merge should end in.
enum Want {
    /// Mergeable: the merged `t.csv`, whole.
    Clean(&'static str),
    Conflicts(Vec<Clash>),
}

struct Case {
    name: &'static str,
    /// The `primaryKey` (empty: none, rows matched whole).
    key: &'static [&'static str],
    base: &'static str,
    ours: &'static str,
    theirs: &'static str,
    want: Want,
}

const B: &str = "id,name,score\n1,ann,10\n2,bo,20\n3,cy,30\n";

fn row(id: &str, name: &str, score: &str) -> Value {
    json!({"id": id, "name": name, "score": score})
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use Want::*;
    let id = |i: &str| json!({ "id": i });
    let s = |v: &str| json!(v);
    let k: &[&str] = &["id"];
    let c = |name, key, base, ours, theirs, want| Case { name, key, base, ours, theirs, want };
    vec![
        c("disjoint rows edited", k, B, "id,name,score\n1,ann,10\n2,bob,20\n3,cy,30\n",
          "id,name,score\n1,ann,10\n2,bo,20\n3,cy,33\n",
          Clean("id,name,score\n1,ann,10\n2,bob,20\n3,cy,33\n")),
        c("two cells of one row, one each", k, B, "id,name,score\n1,ann,10\n2,bob,20\n3,cy,30\n",
          "id,name,score\n1,ann,10\n2,bo,22\n3,cy,30\n",
          Clean("id,name,score\n1,ann,10\n2,bob,22\n3,cy,30\n")),
        c("one cell changed alike", k, B, "id,name,score\n1,ann,11\n2,bo,25\n3,cy,30\n",
          "id,name,score\n1,ann,10\n2,bo,25\n3,cy,33\n",
          Clean("id,name,score\n1,ann,11\n2,bo,25\n3,cy,33\n")),
        c("one cell changed differently", k, B, "id,name,score\n1,ann,10\n2,bo,21\n3,cy,30\n",
          "id,name,score\n1,ann,10\n2,bo,22\n3,cy,30\n",
          Conflicts(vec![("cell", id("2"), Some("score"), s("20"), s("21"), s("22"))])),
        c("deleted by ours, edited by theirs", k, B, "id,name,score\n1,ann,10\n2,bo,20\n",
          "id,name,score\n1,ann,10\n2,bo,20\n3,cyd,30\n",
          Conflicts(vec![("row", id("3"), None, row("3", "cy", "30"), Value::Null,
                          row("3", "cyd", "30"))])),
        c("edited by ours, deleted by theirs", k, B, "id,name,score\n1,ann,11\n2,bo,20\n3,cy,30\n",
          "id,name,score\n2,bo,20\n3,cy,30\n",
          Conflicts(vec![("row", id("1"), None, row("1", "ann", "10"), row("1", "ann", "11"),
                          Value::Null)])),
        c("deleted by one side, untouched by the other", k, B, B,
          "id,name,score\n1,ann,10\n3,cy,30\n", Clean("id,name,score\n1,ann,10\n3,cy,30\n")),
        c("deleted by both", k, B, "id,name,score\n1,ann,11\n3,cy,30\n",
          "id,name,score\n1,ann,10\n3,cy,33\n", Clean("id,name,score\n1,ann,11\n3,cy,33\n")),
        c("rows added on each side, in key order as numbers", k, B,
          "id,name,score\n1,ann,10\n2,bo,20\n3,cy,30\n10,jo,100\n",
          "id,name,score\n1,ann,10\n2,bo,20\n3,cy,30\n9,ike,90\n",
          Clean("id,name,score\n1,ann,10\n2,bo,20\n3,cy,30\n9,ike,90\n10,jo,100\n")),
        c("one key added alike on both sides", k, B,
          "id,name,score\n1,ann,11\n2,bo,20\n3,cy,30\n4,di,40\n",
          "id,name,score\n1,ann,10\n2,bo,20\n3,cy,33\n4,di,40\n",
          Clean("id,name,score\n1,ann,11\n2,bo,20\n3,cy,33\n4,di,40\n")),
        c("one key added differently on both sides", k, B,
          "id,name,score\n1,ann,10\n2,bo,20\n3,cy,30\n4,di,40\n",
          "id,name,score\n1,ann,10\n2,bo,20\n3,cy,30\n4,ed,44\n",
          Conflicts(vec![("cell", id("4"), Some("name"), Value::Null, s("di"), s("ed")),
                         ("cell", id("4"), Some("score"), Value::Null, s("40"), s("44"))])),
        c("a column added by theirs, a row by ours", k, B,
          "id,name,score\n1,ann,10\n2,bo,20\n3,cy,30\n4,di,40\n",
          "id,name,score,tag\n1,ann,10,x\n2,bo,20,\n3,cy,30,z\n",
          Clean("id,name,score,tag\n1,ann,10,x\n2,bo,20,\n3,cy,30,z\n4,di,40,\n")),
        c("a column removed by ours, a cell changed by theirs", k, B,
          "id,name\n1,ann\n2,bo\n3,cy\n", "id,name,score\n1,ann,10\n2,bob,20\n3,cy,30\n",
          Clean("id,name\n1,ann\n2,bob\n3,cy\n")),
        c("cells compared as written: 1.50 is not 1.5", k, "id,v\n1,1.5\n2,2.5\n",
          "id,v\n1,1.50\n2,2.5\n", "id,v\n1,1.5\n2,2.50\n", Clean("id,v\n1,1.50\n2,2.50\n")),
        c("cells compared as written, both sides", k, "id,v\n1,1.5\n", "id,v\n1,1.50\n",
          "id,v\n1,1.500\n",
          Conflicts(vec![("cell", id("1"), Some("v"), s("1.5"), s("1.50"), s("1.500"))])),
        c("a composite key", &["a", "b"], "a,b,v\n1,x,1\n1,y,2\n2,x,3\n",
          "a,b,v\n1,x,10\n1,y,2\n2,x,3\n", "a,b,v\n1,x,11\n1,y,2\n2,x,30\n",
          Conflicts(vec![("cell", json!({"a": "1", "b": "x"}), Some("v"), s("1"), s("10"),
                          s("11"))])),
        c("an empty base, rows added on each side", k, "id,name,score\n",
          "id,name,score\n1,ann,10\n", "id,name,score\n2,bo,20\n",
          Clean("id,name,score\n1,ann,10\n2,bo,20\n")),
        c("every row deleted by theirs", k, B, B, "id,name,score\n", Clean("id,name,score\n")),
        c("no key: each side's edit of one row kept", &[], B,
          "id,name,score\n1,ann,10\n2,bo,21\n3,cy,30\n",
          "id,name,score\n1,ann,10\n2,bo,22\n3,cy,30\n",
          Clean("id,name,score\n1,ann,10\n2,bo,21\n2,bo,22\n3,cy,30\n")),
        c("no key: a copy added by ours, a row deleted by theirs", &[], B,
          "id,name,score\n1,ann,10\n1,ann,10\n2,bo,20\n3,cy,30\n",
          "id,name,score\n1,ann,10\n2,bo,20\n",
          Clean("id,name,score\n1,ann,10\n1,ann,10\n2,bo,20\n")),
        // "both changed it alike: that change once" (docs/changes.md and the module's header).
        c("no key: the same row added by both sides", &[], B,
          "id,name,score\n1,ann,10\n2,bo,20\n3,cy,30\n4,di,40\n5,ed,50\n",
          "id,name,score\n1,ann,10\n2,bo,20\n3,cy,30\n4,di,40\n",
          Clean("id,name,score\n1,ann,10\n2,bo,20\n3,cy,30\n4,di,40\n5,ed,50\n")),
        // "both changed it differently: both changes" (one copy more on ours, two on theirs).
        c("no key: copies added on both sides, not alike", &[], B,
          "id,name,score\n1,ann,10\n1,ann,10\n2,bo,20\n3,cy,30\n",
          "id,name,score\n1,ann,10\n1,ann,10\n1,ann,10\n2,bo,20\n3,cy,30\n",
          Clean("id,name,score\n1,ann,10\n1,ann,10\n1,ann,10\n1,ann,10\n2,bo,20\n3,cy,30\n")),
    ]
}

fn package(name: &str, key: &[&str], data: &[u8]) -> Value {
    let schema = if key.is_empty() {
        Value::Null
    } else {
        json!({ "primaryKey": key })
    };
    json!({"name": name, "title": "T", "resources": [resource("t", "t.csv", data, schema)]})
}

/// What case `n` merged into: the merged `t.csv`, or its conflicts, or why it failed.
async fn merged(
    owner: &User,
    n: usize,
    case: &Case,
) -> Result<std::result::Result<String, Vec<Value>>> {
    let core = &fixture().await.core;
    let who = as_user(owner);
    let name = format!("m{n}");
    dataset(core, "merger", &name, owner, Visibility::Private, &[]).await;
    // Unprotected: the merges are what is tested here, not the contract checks on each write.
    let admin = gate::dataset(core, &who, "merger", &name, Action::Admin).await?;
    let open = settings::Protection {
        default_branch: false,
        ..settings::Protection::default()
    };
    settings::set_protection(core, &who, &admin, open).await?;
    let gated = gate::dataset(core, &who, "merger", &name, Action::Write).await?;
    let write = |branch: Option<&'static str>, text: &'static str| {
        let package = package(&name, case.key, text.as_bytes());
        let (core, who, gated) = (core.clone(), who.clone(), gated.clone());
        async move {
            let tables: &[(&str, &[u8])] = &[("t.csv", text.as_bytes())];
            patiently(|| commit_tables(&core, &who, &gated, branch, &package, tables)).await
        }
    };
    write(None, case.base).await?;
    refs::create_branch(core, &gated, "feature", None).await?;
    write(None, case.ours).await?;
    write(Some("feature"), case.theirs).await?;
    let new = merges::New {
        source: "feature".into(),
        title: case.name.into(),
        ..merges::New::default()
    };
    let request = merges::open(core, &who, &gated, new).await?;
    let status = patiently(|| merges::status(core, &gated, request.number)).await?;
    if !status.conflicts.is_empty() {
        let shown = status.conflicts.iter().map(|c| {
            let c = &c.conflict;
            json!([c.kind, c.key, c.column, c.base, c.ours, c.theirs])
        });
        return Ok(Err(shown.collect()));
    }
    let merge = || merges::merge(core, &who, &gated, request.number, None, None);
    let (_, revision) = patiently(merge).await?;
    Ok(Ok(table_at(core, &gated, &revision.id).await))
}

/// The bytes of resource `t` at revision `rev`, read through the object its datapackage names.
async fn table_at(core: &strata_core::Core, gated: &gate::Gated, rev: &str) -> String {
    let rev = rev.to_owned();
    let package = git_on(core, gated, move |ms, ds| {
        ms.read_file(ds, Some(&rev), "datapackage.json")
    })
    .await
    .expect("the datapackage");
    let package: Value = serde_json::from_slice(&package).expect("JSON");
    let hash = package["resources"][0]["hash"].as_str().expect("a hash");
    let oid = hash.trim_start_matches("sha256:").parse().expect("an oid");
    read_object(core, gated.id, &oid).await
}

/// The bytes of object `oid` of dataset `repo_id`, as text.
pub async fn read_object(core: &strata_core::Core, repo_id: i64, oid: &strata_lfs::Oid) -> String {
    use futures_util::TryStreamExt;
    match core
        .storage
        .read(repo_id, oid, None)
        .await
        .expect("readable")
    {
        Some(strata_core::storage::Read::Found { object, .. }) => {
            let parts: Vec<bytes::Bytes> = object.body.try_collect().await.expect("the bytes");
            String::from_utf8(parts.concat()).expect("text")
        }
        _ => panic!("{oid} is not stored"),
    }
}

#[test]
fn tables_merge_row_by_row_and_cell_by_cell() {
    run(async {
        let f = fixture().await;
        let owner = new_user(&f.core, "merger", Role::Scientist).await;
        let cases = cases();
        // Three at a time: each makes views of its three sides (two at once in all).
        let results: Vec<_> = futures_util::stream::iter(cases.iter().enumerate())
            .map(|(n, case)| merged(&owner, n, case))
            .buffered(3)
            .collect()
            .await;
        let mut t = Tally::default();
        for (case, got) in cases.iter().zip(results) {
            let want = match &case.want {
                Want::Clean(csv) => Ok(Ok((*csv).to_owned())),
                Want::Conflicts(list) => Ok(Err(list
                    .iter()
                    .map(|(kind, key, column, b, o, th)| json!([kind, key, column, b, o, th]))
                    .collect())),
            };
            let got = got.map_err(|e| format!("{:?}: {}", e.kind, e.message));
            t.eq(got, want, case.name);
        }
        t.finish("merges: tables (base, ours, theirs)");
    })
}

/// The base datapackage of the datapackage cases: a resource `t` with a field `x`.
fn base_package() -> Value {
    let x = json!([{"name": "x", "type": "integer"}]);
    let t =
        json!({"name": "t", "path": "t.csv", "hash": "h0", "bytes": 1, "schema": {"fields": x}});
    json!({"title": "a", "resources": [t]})
}

/// The base datapackage changed at JSON pointer `at` (`null`: removed; a pointer ending in `-`:
/// appended to the list there).
fn changed(at: &str, value: Value) -> Value {
    let mut v = base_package();
    match (at.strip_suffix("/-"), value) {
        (Some(list), value) => v
            .pointer_mut(list)
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push(value),
        (None, Value::Null) => {
            let (parent, key) = at.rsplit_once('/').unwrap();
            match v.pointer_mut(parent).unwrap() {
                Value::Array(a) => drop(a.remove(key.parse::<usize>().unwrap())),
                other => drop(other.as_object_mut().unwrap().remove(key)),
            }
        }
        (None, value) => match v.pointer_mut(at) {
            Some(slot) => *slot = value,
            None => {
                let (parent, key) = at.rsplit_once('/').unwrap();
                v.pointer_mut(parent).unwrap()[key] = value;
            }
        },
    }
    v
}

#[test]
fn datapackages_merge_by_property_and_attributes_by_line() {
    let x_type = "/resources/0/schema/fields/0/type";
    let fields = "/resources/0/schema/fields/-";
    let r = |n: &str| json!({"name": n, "path": format!("{n}.csv"), "hash": "h9", "bytes": 9});
    // (case, ours: at and value, theirs: at and value, where it clashes, whose data both
    // changed, and where the merged package holds what)
    #[rustfmt::skip]
    let cases = [
        ("title changed by theirs", ("/title", json!("a")), ("/title", json!("b")), vec![], vec![],
         ("/title", json!("b"))),
        ("title changed alike", ("/title", json!("b")), ("/title", json!("b")), vec![], vec![],
         ("/title", json!("b"))),
        ("title changed differently", ("/title", json!("b")), ("/title", json!("c")), vec!["title"],
         vec![], ("/title", json!("b"))),
        ("a property added by each", ("/description", json!("d")), ("/version", json!("2")), vec![],
         vec![], ("/version", json!("2"))),
        ("a field's type changed differently", (x_type, json!("number")), (x_type, json!("string")),
         vec!["resources[t].schema.fields[x].type"], vec![], (x_type, json!("number"))),
        ("a field added by each, both kept", (fields, json!({"name": "y"})), (fields, json!({"name": "z"})),
         vec![], vec![], ("/resources/0/schema/fields/2/name", json!("z"))),
        ("a resource added by each, both kept", ("/resources/-", r("u")), ("/resources/-", r("w")),
         vec![], vec![], ("/resources/2/name", json!("w"))),
        ("a resource deleted by ours, changed by theirs", ("/resources/0", Value::Null),
         (x_type, json!("number")), vec!["resources[t]"], vec![], ("/resources", json!([]))),
        ("data changed by theirs only", ("/title", json!("a")), ("/resources/0/hash", json!("h2")),
         vec![], vec![], ("/resources/0/hash", json!("h2"))),
        ("data changed by both", ("/resources/0/hash", json!("h1")), ("/resources/0/hash", json!("h2")),
         vec![], vec!["t"], ("/resources/0/hash", json!("h1"))),
    ];
    let mut t = Tally::default();
    let base = base_package();
    for (case, (o_at, o), (t_at, th), clashes, both, (at, holds)) in cases {
        let (ours, theirs) = (changed(o_at, o), changed(t_at, th));
        let m = plan::package(Some(&base), Some(&ours), Some(&theirs));
        let shown: Vec<String> = m.clashes.iter().map(|c| plan::shown(&c.at)).collect();
        t.eq(shown, clashes.iter().map(|s| s.to_string()).collect(), case);
        t.eq(
            m.both_data,
            both.iter().map(|s| s.to_string()).collect(),
            case,
        );
        let json = m.json.unwrap_or(Value::Null);
        t.eq(json.pointer(at), Some(&holds), &format!("{case}: {at}"));
    }
    // `.gitattributes`: ours, less the lines theirs removed, plus the lines theirs added.
    #[rustfmt::skip]
    let lines = [
        ("a line added by each side", "a\n", "a\nb\n", "a\nc\n", "a\nb\nc\n"),
        ("a line removed by theirs", "a\nb\n", "a\nb\n", "a\n", "a\n"),
        ("a line removed by ours, kept by theirs", "a\nb\n", "a\n", "a\nb\n", "a\n"),
        ("the same line added by both", "", "x\n", "x\n", "x\n"),
        ("nothing anywhere", "", "", "", ""),
    ];
    for (case, b, o, th, want) in lines {
        t.eq(plan::lines(b, o, th), want.to_owned(), case);
    }
    t.finish("merges: datapackages and attributes");
}
