//! Row-level table diffs against a pandas oracle: random pairs of revisions of a table (rows
//! deleted, added and changed, cells emptied, text with commas, quotes and accents, a column
//! added, a table without a primary key and with duplicate rows), each diffed by strata and by
//! `pandas.merge(indicator=True)`, which must agree on every added, removed and changed row and
//! changed column. A retyped column, the paging, every bad request and a declared key that is not
//! one are in the API tier (`api/table_diff.rs`).

use serde_json::json;

use super::{dataset, get, put_resources};
use crate::common::*;

/// Writes `PAIRS` pairs of CSV files into the folder `argv[1]`, and prints each pair's key.
const GENERATE: &str = r#"
import csv, json, random, sys
out, pairs = sys.argv[1], int(sys.argv[2])
words = ["alpha", "beta, gamma", 'say "hi"', "café", "naïve ünïcode", "", "x" * 40]
def row(r, i):
    return {"id": i, "name": r.choice(words) + str(r.randint(0, 99)), "score": round(r.uniform(-500, 500), 2),
            "flag": r.choice(["true", "false"]), "day": f"2024-{r.randint(1, 12):02}-{r.randint(1, 28):02}"}
keys = []
for k in range(pairs):
    r = random.Random(k)
    keyed = k != pairs - 1
    n = r.randint(120, 260)
    base = [row(r, i) for i in range(1, n + 1)]
    if not keyed:
        base += [dict(x) for x in r.sample(base, 15)]  # whole duplicate rows
    nxt = [dict(x) for x in base if r.random() > 0.1]
    for x in nxt:
        if r.random() < 0.15:
            col = r.choice(["name", "score", "flag", "day"])
            x[col] = "" if r.random() < 0.2 else row(r, 0)[col]
    nxt += [row(r, i) for i in range(n + 1, n + 1 + r.randint(0, 30))]
    if not keyed:
        nxt += [dict(x) for x in r.sample(nxt, 5)]
    r.shuffle(nxt)
    cols = ["id", "name", "score", "flag", "day"]
    ncols = cols + (["extra"] if k == 1 else [])
    for name, rows, cs in (("base", base, cols), ("next", nxt, ncols)):
        with open(f"{out}/{name}_{k}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cs)
            for x in rows:
                w.writerow([x.get(c, "e" + str(x["id"])) for c in cs])
    keys.append("id" if keyed else None)
print(json.dumps(keys))
"#;

/// Checks strata's diffs (`diff_K.json`) against pandas on the same files; prints `ok` or what
/// differs.
const ORACLE: &str = r#"
import json, sys
import pandas as pd
out, keys = sys.argv[1], json.loads(sys.argv[2])
problems = []
for k, key in enumerate(keys):
    a = pd.read_csv(f"{out}/base_{k}.csv", dtype=str, keep_default_na=False)
    b = pd.read_csv(f"{out}/next_{k}.csv", dtype=str, keep_default_na=False)
    d = json.load(open(f"{out}/diff_{k}.json"))
    common = [c for c in a.columns if c in b.columns]
    def bad(what, want, got):
        problems.append(f"pair {k}: {what}: pandas {want}, strata {got}")
    if key:
        m = a[common].merge(b[common], on=key, how="outer", suffixes=("_a", "_b"), indicator=True)
        added = sorted(int(i) for i in m[m._merge == "right_only"][key])
        removed = sorted(int(i) for i in m[m._merge == "left_only"][key])
        both = m[m._merge == "both"]
        changed = {}
        for _, r in both.iterrows():
            cs = sorted(c for c in common if c != key and r[c + "_a"] != r[c + "_b"])
            if cs:
                changed[int(r[key])] = cs
        rows = d["rows"]
        got = lambda kind: sorted(int(x["key"][key]) for x in rows if x["change"] == kind)
        if got("added") != added: bad("added", added, got("added"))
        if got("removed") != removed: bad("removed", removed, got("removed"))
        got_changed = {int(x["key"][key]): sorted(x["changed"]) for x in rows if x["change"] == "changed"}
        if got_changed != changed: bad("changed", changed, got_changed)
        counts = {"added": len(added), "removed": len(removed), "changed": len(changed)}
        if d["counts"] != counts: bad("counts", counts, d["counts"])
        # The changed cells' new values, as the file spells them.
        bi = b.set_index(key)
        for x in rows:
            if x["change"] == "changed" and "name" in x["changed"]:
                want = bi.loc[str(x["key"][key]), "name"]
                got_name = x["after"].get("name", "")
                if want != got_name: bad(f"name of {x['key'][key]}", want, got_name)
    else:
        ca = a.groupby(common).size().rename("na").reset_index()
        cb = b.groupby(common).size().rename("nb").reset_index()
        m = ca.merge(cb, on=common, how="outer").fillna(0)
        added = int((m.nb - m.na).clip(lower=0).sum())
        removed = int((m.na - m.nb).clip(lower=0).sum())
        counts = {"added": added, "removed": removed, "changed": 0}
        if d["counts"] != counts: bad("counts", counts, d["counts"])
        got = sum(x["count"] for x in d["rows"])
        if got != added + removed: bad("rows' counts", added + removed, got)
    added_cols = [c for c in b.columns if c not in a.columns]
    if [c["name"] for c in d["columns"]["added"]] != added_cols: bad("added columns", added_cols, d["columns"]["added"])
print("ok" if not problems else "\n".join(problems))
"#;

const PAIRS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_diffs_agree_with_pandas_on_random_pairs() {
    let (server, alice, api) = dataset(&[("t", "t.csv", b"id\n1\n".to_vec())]).await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap().to_owned();
    let python = python_tool("python");
    let (py, f) = (python.clone(), folder.clone());
    let keys = tokio::task::spawn_blocking(move || {
        run(std::process::Command::new(py).args(["-c", GENERATE, &f, &PAIRS.to_string()]))
    })
    .await
    .unwrap();
    let keys: Vec<Option<String>> = serde_json::from_str(keys.trim()).unwrap();
    for (k, key) in keys.iter().enumerate() {
        let extra = match key {
            Some(key) => json!({"t": {"schema": {"primaryKey": key}}}),
            None => json!({}),
        };
        let mut revisions = Vec::new();
        for side in ["base", "next"] {
            let data = std::fs::read(dir.path().join(format!("{side}_{k}.csv"))).unwrap();
            put_resources(&server, &alice, &[("t", "t.csv", data)], extra.clone()).await;
            let (_, head) = get(&api, &alice).await;
            revisions.push(head["revision"]["id"].as_str().unwrap().to_owned());
        }
        let (status, d) = get(
            &format!(
                "{api}/tables/t/diff?from={}&to={}&limit=1000",
                revisions[0], revisions[1]
            ),
            &alice,
        )
        .await;
        assert_eq!(status, 200, "pair {k}: {d}");
        assert_eq!(d["from"], revisions[0]);
        assert_eq!(d["to"], revisions[1]);
        let want_key = key.iter().cloned().collect::<Vec<_>>();
        assert_eq!(d["key"], json!(want_key), "pair {k}");
        std::fs::write(dir.path().join(format!("diff_{k}.json")), d.to_string()).unwrap();
    }
    let keys = serde_json::to_string(&keys).unwrap();
    let verdict = tokio::task::spawn_blocking(move || {
        run(std::process::Command::new(python).args(["-c", ORACLE, &folder, &keys]))
    })
    .await
    .unwrap();
    assert_eq!(verdict.trim(), "ok", "{verdict}");
}

const REMOVE_NAME_DEST: &str = r#"package dataapi.authz

rule[{"action": {"name": "RemoveAction", "columns": ["nameDest"]}, "policy": "remove"}] {
  input.context.intent == "remove"
}
"#;

/// A governed diff: Fybrik's sample policy redacts the PII columns for bob. A row whose only
/// change is a redacted value still shows as changed, with the redaction on both sides; no value
/// the policy hides comes out; a removed column is absent, and a change only to it is no change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governed_diffs_show_changes_never_hidden_values() {
    use crate::governance::{Gov, PAYSIM};
    let gov = Gov::start().await;
    // The sample's read rule only: the new version is stored as sent.
    gov.reads_only().await;
    let (status, v) = gov
        .commit_files("steward/policies", &[("remove.rego", REMOVE_NAME_DEST)])
        .await;
    assert_eq!(status, 200, "{v}");
    let from = gov.head("alice/paysim", &gov.alice).await;
    let text = std::str::from_utf8(PAYSIM).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let old: Vec<Vec<String>> = lines[1..4]
        .iter()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    let mut edit = |row: usize, column: usize, value: &str| {
        let mut cells: Vec<String> = lines[row].split(',').map(str::to_owned).collect();
        cells[column] = value.to_owned();
        lines[row] = cells.join(",");
    };
    edit(1, 3, "C9999999999"); // nameOrig: redacted for bob
    edit(2, 2, "12345.67"); // amount: plain
    edit(3, 6, "M0000000001"); // nameDest: removed with the intent "remove"
    let data = format!("{}\n", lines.join("\n")).into_bytes();
    upload(&gov.server, "alice/paysim", &gov.alice, &data).await;
    gov.set_table(json!(["finance"]), "theshire", &data).await;

    let url = format!(
        "{}/alice/paysim/tables/paysim-csv/diff?from={from}&limit=1000",
        gov.api
    );
    let (status, d) = get(&url, &gov.bob).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["key"], json!([]), "PaySim declares no primary key");
    assert_eq!(
        d["counts"],
        json!({"added": 3, "removed": 3, "changed": 0}),
        "{d}"
    );
    assert_eq!(d["governed"]["nameOrig"], "Redact", "{d}");
    let shown = d.to_string();
    for secret in [old[0][3].as_str(), "C9999999999", old[0][4].as_str()] {
        assert!(!shown.contains(secret), "{secret} came out: {shown}");
    }
    assert!(shown.contains("XXXXXXXXXX"), "{shown}");
    assert!(
        shown.contains("12345.67"),
        "a plain column's change shows: {shown}"
    );

    // The file's content diff is hidden: its lines would hold the values.
    let (status, d) = get(
        &format!("{}/alice/paysim/diff?from={from}&content=true", gov.api),
        &gov.bob,
    )
    .await;
    assert_eq!(status, 200, "{d}");
    let csv = d["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(".csv"))
        .unwrap_or_else(|| panic!("{d}"));
    assert_eq!(csv["content"]["type"], "hidden", "{d}");
    let shown = d.to_string();
    for secret in [old[0][3].as_str(), "C9999999999", "12345.67"] {
        assert!(!shown.contains(secret), "{secret} came out: {shown}");
    }

    let (status, d) = get(&format!("{url}&intent=remove"), &gov.bob).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        d["counts"],
        json!({"added": 2, "removed": 2, "changed": 0}),
        "a change only to a removed column is none: {d}"
    );
    assert!(!d.to_string().contains("nameDest"), "{d}");
    assert!(!d.to_string().contains("M0000000001"), "{d}");
}

/// The revision page counts a changed table's rows and links to its row changes, which show
/// each changed cell old → new, in headless Chromium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_changes_from_the_revision_page_in_chromium() {
    use crate::common::chromium::*;
    let before = "id,name,score\n1,ann,10\n2,bob,20\n3,cid,30\n";
    let after = "id,name,score\n1,ann,10\n2,bea,20\n4,dan,40\n";
    let (server, alice, api) = dataset(&[("t", "t.csv", b"id\n0\n".to_vec())]).await;
    let extra = json!({"t": {"schema": {"primaryKey": "id"}}});
    put_resources(
        &server,
        &alice,
        &[("t", "t.csv", before.as_bytes().to_vec())],
        extra.clone(),
    )
    .await;
    put_resources(
        &server,
        &alice,
        &[("t", "t.csv", after.as_bytes().to_vec())],
        extra,
    )
    .await;
    let (_, head) = get(&api, &alice).await;
    let rev = head["revision"]["id"].as_str().unwrap().to_owned();
    strata::cli::admin::set_password(&server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &server.dir.path().join("profile")).await;
    sign_in(&c, &server.url, "alice").await;
    c.goto(&format!("{}/datasets/alice/t/revisions/{rev}", server.url))
        .await
        .unwrap();
    let page = text(&c).await;
    assert!(
        page.contains("rows: 1 added, 1 removed, 1 changed"),
        "{page}"
    );
    click(&c, "a.row-changes").await;
    let counts = c
        .find(fantoccini::Locator::Id("diff-counts"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(counts, "1 added 1 removed 1 changed");
    let rows = c
        .find(fantoccini::Locator::Id("diff-rows"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(rows.contains("bob → bea"), "{rows}");
    assert!(rows.contains("cid") && rows.contains("dan"), "{rows}");
    screenshot(&c, "table-diff").await;
    let errors = console_errors(&c).await;
    assert!(errors.is_empty(), "{errors:?}");
    c.close().await.unwrap();
}
