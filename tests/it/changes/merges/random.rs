//! Random three-way merges of a keyed table against an oracle.
use serde_json::{json, Value};

use super::*;
use crate::common::*;

/// A small deterministic generator (the test needs no crate for it).
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

type Rows = std::collections::BTreeMap<u64, [String; 2]>;

fn render(rows: &Rows) -> Vec<u8> {
    render_in(rows, false)
}

/// The rows as CSV, in key order or (`reversed`) against it: a merge of sides in key order
/// merge-joins them as they stream, one of sides out of order groups and sorts them; both give
/// the same merged table, in key order.
fn render_in(rows: &Rows, reversed: bool) -> Vec<u8> {
    let mut lines: Vec<String> = rows
        .iter()
        .map(|(k, [n, s])| format!("{k},{n},{s}"))
        .collect();
    if reversed {
        lines.reverse();
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    csv("id,name,score", &refs)
}

/// One side's edits of `base`: cells changed, rows deleted and added.
fn edit(base: &Rows, g: &mut Lcg, added_from: u64) -> Rows {
    let mut out = Rows::new();
    for (k, row) in base {
        match g.next(10) {
            0 => {}
            1 | 2 => {
                let mut row = row.clone();
                let c = g.next(2) as usize;
                row[c] = match c {
                    0 => format!("v{}", g.next(3)),
                    _ => format!("{}", 10 + g.next(3)),
                };
                out.insert(*k, row);
            }
            _ => {
                out.insert(*k, row.clone());
            }
        }
    }
    for i in 0..g.next(3) {
        out.insert(
            added_from + i,
            [format!("n{}", g.next(3)), format!("{}", g.next(5))],
        );
    }
    out
}

/// The merge the server must make, every conflict resolved with the source's side: the oracle.
fn expected(b: &Rows, o: &Rows, t: &Rows) -> Rows {
    let keys: std::collections::BTreeSet<&u64> = b.keys().chain(o.keys()).chain(t.keys()).collect();
    let mut out = Rows::new();
    for k in keys {
        let (bv, ov, tv) = (b.get(k), o.get(k), t.get(k));
        let merged = if ov == tv || tv == bv {
            ov.cloned()
        } else if ov == bv {
            tv.cloned()
        } else {
            match (ov, tv) {
                (Some(o), Some(t)) => Some(std::array::from_fn(|c| {
                    let bc = bv.map(|b| &b[c]);
                    if Some(&o[c]) == bc || o[c] == t[c] {
                        t[c].clone()
                    } else if Some(&t[c]) == bc {
                        o[c].clone()
                    } else {
                        t[c].clone()
                    }
                })),
                // Deleted on one side, changed on the other: the source's side.
                _ => tv.cloned(),
            }
        };
        if let Some(m) = merged {
            out.insert(*k, m);
        }
    }
    out
}

/// Random three-way merges of a keyed table against the oracle above: cells changed on either
/// side or both (conflicts resolved with the source's side), rows deleted on one side and changed
/// on the other, rows added on both sides, on one server and several datasets; every other
/// round's sides are written against key order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_merges_agree_with_an_oracle() {
    let s = setup(true).await;
    let mut g = Lcg(29);
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..8u64 {
        let name = format!("r{round}");
        let at = |path: &str| format!("{}{API}/alice/{name}{path}", s.server.url);
        let r = client()
            .post(format!("{}{API}", s.server.url))
            .bearer_auth(&s.alice)
            .json(&json!({"namespace": "alice", "name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let base: Rows = (1..=12)
            .map(|k| (k, [format!("n{}", g.next(3)), format!("{}", g.next(5))]))
            .collect();
        let ours = edit(&base, &mut g, 100);
        let from = 100 + g.next(2) * 2;
        let theirs = edit(&base, &mut g, from);
        let write = |branch: &'static str, rows: Rows| {
            let (s, at, repo) = (&s, &at, name.clone());
            async move {
                let data = render_in(&rows, round % 2 == 1);
                let oid = sha256_hex(&data);
                upload_once(&s.server, &format!("alice/{repo}"), &s.alice, &data, &oid).await;
                let head: Value = client()
                    .get(at(&format!("?rev={branch}")))
                    .bearer_auth(&s.alice)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let mut pkg = package(&data, "M", true, &[]);
                pkg["name"] = json!(repo);
                let r = client()
                    .put(at(""))
                    .bearer_auth(&s.alice)
                    .json(&json!({"datapackage": pkg, "parent": head["revision"]["id"], "branch": branch}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            }
        };
        write("main", base.clone()).await;
        let r = client()
            .post(at("/branches"))
            .bearer_auth(&s.alice)
            .json(&json!({"name": "feature"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        write("main", ours.clone()).await;
        write("feature", theirs.clone()).await;
        let r = client()
            .post(at("/merge-requests"))
            .bearer_auth(&s.alice)
            .json(&json!({"source": "feature", "title": "random"}))
            .send()
            .await
            .unwrap();
        let (st, _, v) = body(r).await;
        if st == 422 {
            // The source changed nothing the target lacks.
            assert_eq!(ours, theirs, "{v}");
            continue;
        }
        assert_eq!(st, 201, "{v}");
        let v: Value = client()
            .get(at("/merge-requests/1"))
            .bearer_auth(&s.alice)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let picks: Vec<Value> = v["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| json!({"id": c["id"], "take": "theirs"}))
            .collect();
        seen.extend(
            v["conflicts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["kind"].to_string()),
        );
        if !picks.is_empty() {
            let r = client()
                .put(at("/merge-requests/1/resolutions"))
                .bearer_auth(&s.alice)
                .json(&json!({"resolutions": picks}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        let r = client()
            .post(at("/merge-requests/1/merge"))
            .bearer_auth(&s.alice)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let (st, _, v) = body(r).await;
        assert_eq!(st, 200, "round {round}: {v}");
        let rev = v["revision"]["id"].as_str().unwrap();
        let got = client()
            .get(at(&format!("/raw/t.csv?rev={rev}")))
            .bearer_auth(&s.alice)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let want = String::from_utf8(render(&expected(&base, &ours, &theirs))).unwrap();
        assert_eq!(
            got, want,
            "round {round}: base {base:?}\nours {ours:?}\ntheirs {theirs:?}"
        );
    }
}

/// Uploads `data` unless this dataset has it already.
async fn upload_once(server: &TestServer, repo: &str, token: &str, data: &[u8], oid: &str) {
    let req = json!({"operation": "upload", "objects": [{"oid": oid, "size": data.len()}]});
    let (_, _, v) = body(lfs_post(&server.batch_url(repo), Some(token), &req).await).await;
    if v["objects"][0]["actions"]["upload"].is_object() {
        upload(server, repo, token, data).await;
    }
}
