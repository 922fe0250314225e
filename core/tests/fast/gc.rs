//! Garbage collection's reachability and its two steps (docs/storage.md, "Garbage
//! collection"; `gc`'s header), on a core of this module's own: a run collects every dataset of
//! its core, and the shared core holds objects other modules link on purpose and nothing
//! reaches (`acme`'s, and uploads not committed yet), so a real run there would take them.
//!
//! A table of objects, each where one rule puts it: reached by a branch head, by history behind
//! a branch, by another branch, by a tag only, by a tagged revision past a retention of 0 days
//! (kept), or by no ref: a deleted branch's, an upload never committed, history past a retention
//! of 0 days, a deleted dataset's object (unlinked), a link of one dataset to an object another
//! dataset reaches (its link goes, the bytes stay). Dry runs report exactly the candidates and
//! delete nothing; a run marks only links older than its grace; a mark is swept only by a run
//! the grace period later; a use in between takes a candidate back; what is reached never goes.

use std::time::Duration;

use serde_json::{json, Value};
use strata_core::auth::{Action, Principal, Role};
use strata_core::datasets::{self, gate, refs, settings};
use strata_core::db::Visibility;
use strata_core::gc::{self, Options, Report};
use strata_core::Core;
use strata_lfs::pointer::Pointer;

use crate::common::*;

/// What an object is to a run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    /// A ref reaches it.
    Reached,
    /// No ref of the dataset linked to it reaches it.
    Unreached(&'static str),
    /// No dataset links it (its dataset was deleted).
    Unlinked,
    /// Unreached by `gc/b`, which links it; `gc/a` reaches it.
    Shared,
    /// Unreached, and used (linked again) after it was marked.
    TakenBack,
}

struct Object {
    label: &'static str,
    /// Its dataset (empty: none).
    path: &'static str,
    class: Class,
    pointer: Pointer,
    /// The dataset it is linked to (0: none).
    repo_id: i64,
}

/// The runs of the test, in order: dry with no grace, dry with an hour's, a real one with 1 s
/// (the links older than that), one with an hour's right after, one with 1 s a grace later
/// (after the taken-back object's use), one with no grace.
const RUNS: [(&str, bool, u64); 6] = [
    ("a dry run", true, 0),
    ("a dry run, links younger than the grace", true, 3600),
    ("marking", false, 1),
    ("before the grace passed", false, 3600),
    ("the grace passed", false, 1),
    ("no grace", false, 0),
];

/// What run `n` of [`RUNS`] does to an object of `class`: (dataset, action) per item.
fn done(class: Class, n: usize) -> Vec<(Option<&'static str>, &'static str)> {
    use Class::*;
    match (class, n) {
        (Reached, _) | (_, 1 | 3) => vec![],
        (Unreached(d), 0) => vec![(Some(d), "would remove")],
        (Unreached(d), 2) => vec![(Some(d), "marked")],
        // Its link goes; then the object no dataset links is marked in its turn...
        (Unreached(d), 4) => vec![(Some(d), "removed"), (None, "marked")],
        // ...and goes a grace later.
        (Unreached(_), 5) => vec![(None, "removed")],
        (Unlinked, 0) => vec![(None, "would remove")],
        (Unlinked, 2) => vec![(None, "marked")],
        (Unlinked, 4) => vec![(None, "removed")],
        (Shared, 0) => vec![(Some("gc/b"), "would remove")],
        (Shared, 2) => vec![(Some("gc/b"), "marked")],
        (Shared, 4) => vec![(Some("gc/b"), "removed")],
        (TakenBack, 0) => vec![(Some("gc/a"), "would remove")],
        (TakenBack, 2) => vec![(Some("gc/a"), "marked")],
        (TakenBack, 5) => vec![(Some("gc/a"), "removed"), (None, "removed")],
        _ => vec![],
    }
}

/// Whether an object of `class` is linked to its dataset and its bytes stored, after run `n`.
fn state(class: Class, n: usize) -> (bool, bool) {
    use Class::*;
    match (class, n) {
        (Reached, _) => (true, true),
        (Unreached(_), 0..=3) | (TakenBack, 0..=4) => (true, true),
        (Unreached(_), 4) => (false, true),
        (Unlinked, 0..=3) | (Shared, 4..) => (false, true),
        (Shared, _) => (true, true),
        _ => (false, false),
    }
}

fn bytes(label: &str) -> Vec<u8> {
    format!("id\n{label}\n").into_bytes()
}

/// Commits the table `t.csv` holding object `label` on `branch` of `gated`.
async fn commit(
    core: &Core,
    who: &Principal,
    gated: &gate::Gated,
    branch: Option<&str>,
    label: &str,
) {
    let data = bytes(label);
    let package = json!({"name": "g", "resources": [resource("t", "t.csv", &data, Value::Null)]});
    let tables: &[(&str, &[u8])] = &[("t.csv", &data)];
    commit_tables(core, who, gated, branch, &package, tables)
        .await
        .expect("committed");
}

/// The objects, each where its case puts it.
async fn objects(core: &Core) -> Vec<Object> {
    let owner = new_user(core, "gcowner", Role::Scientist).await;
    let who = as_user(&owner);
    let mut gated = Vec::new();
    for name in ["a", "r", "gone", "b"] {
        dataset(core, "gc", name, &owner, Visibility::Private, &[]).await;
        gated.push(
            gate::dataset(core, &who, "gc", name, Action::Admin)
                .await
                .unwrap(),
        );
    }
    let [a, r, gone, b] = &gated[..] else {
        unreachable!()
    };
    // gc/a keeps all its history.
    commit(core, &who, a, None, "history").await;
    refs::create_branch(core, a, "dev", None).await.unwrap();
    commit(core, &who, a, Some("dev"), "dev head").await;
    for (branch, label) in [("tmp", "tag only"), ("gone", "deleted branch")] {
        refs::create_branch(core, a, branch, None).await.unwrap();
        commit(core, &who, a, Some(branch), label).await;
    }
    refs::create_tag(core, &who, a, "v1", Some("tmp"), "")
        .await
        .unwrap();
    for branch in ["tmp", "gone"] {
        refs::delete_branch(core, a, branch).await.unwrap();
    }
    commit(core, &who, a, None, "main head").await;
    let never = stored(core, a.id, &bytes("never committed")).await;
    let taken_back = stored(core, a.id, &bytes("taken back")).await;
    // gc/r keeps no history: only what its refs point at.
    settings::set_retention(core, &who, r, Some(0))
        .await
        .unwrap();
    commit(core, &who, r, None, "past retention").await;
    commit(core, &who, r, None, "tagged past retention").await;
    refs::create_tag(core, &who, r, "keep", None, "")
        .await
        .unwrap();
    commit(core, &who, r, None, "retention head").await;
    // gc/gone is deleted; gc/b links what gc/a's head reaches, and reaches nothing itself.
    commit(core, &who, gone, None, "deleted dataset").await;
    datasets::delete(core, gone).await.unwrap();
    let shared = stored(core, b.id, &bytes("main head")).await;
    let p = |label: &str| Pointer {
        oid: strata_lfs::Oid::of(&bytes(label)),
        size: bytes(label).len() as u64,
    };
    use Class::*;
    let o = |label, class, path, repo_id, pointer| Object {
        label,
        path,
        class,
        pointer,
        repo_id,
    };
    #[rustfmt::skip]
    let objects = vec![
        o("main head", Reached, "gc/a", a.id, p("main head")),
        o("history", Reached, "gc/a", a.id, p("history")),
        o("dev head", Reached, "gc/a", a.id, p("dev head")),
        o("tag only", Reached, "gc/a", a.id, p("tag only")),
        o("deleted branch", Unreached("gc/a"), "gc/a", a.id, p("deleted branch")),
        o("never committed", Unreached("gc/a"), "gc/a", a.id, never),
        o("taken back", TakenBack, "gc/a", a.id, taken_back),
        o("retention head", Reached, "gc/r", r.id, p("retention head")),
        o("tagged past retention", Reached, "gc/r", r.id, p("tagged past retention")),
        o("past retention", Unreached("gc/r"), "gc/r", r.id, p("past retention")),
        o("deleted dataset", Unlinked, "", 0, p("deleted dataset")),
        o("reached by gc/a, linked by gc/b", Shared, "gc/b", b.id, shared),
    ];
    objects
}

/// What `report` did to object `o`: its items' (dataset, action).
fn done_to(report: &Report, o: &Object) -> Vec<(Option<String>, &'static str)> {
    let oid = o.pointer.oid.to_string();
    let ours = |d: &Option<String>| d.as_deref().is_none_or(|d| d == o.path);
    let items = report
        .items
        .iter()
        .filter(|i| i.oid == oid && ours(&i.dataset));
    items.map(|i| (i.dataset.clone(), i.action)).collect()
}

fn owned(items: Vec<(Option<&str>, &'static str)>) -> Vec<(Option<String>, &'static str)> {
    items
        .into_iter()
        .map(|(d, a)| (d.map(str::to_owned), a))
        .collect()
}

/// Whether object `o` is linked to its dataset, and its bytes are stored: read as the collector
/// reads them (asking whether it is linked would take a candidate back).
async fn there(core: &Core, o: &Object) -> (bool, bool) {
    let oid = o.pointer.oid;
    let links = core.db.gc_links(o.repo_id).await.unwrap();
    let linked = o.repo_id != 0 && links.iter().any(|(l, ..)| *l == oid.to_string());
    (linked, core.storage.holds(o.repo_id, &oid).await.unwrap())
}

async fn collect(core: &Core, dry_run: bool, grace: u64) -> Report {
    let options = Options {
        dry_run,
        grace: Duration::from_secs(grace),
        pace: 0.0,
    };
    gc::run(core, &options, Some("fast")).await.expect("a run")
}

#[test]
fn reachable_objects_stay_and_the_rest_goes_in_two_steps() {
    run(async {
        let (core, _dir) = own_core(|_| {}).await;
        let core = &*core;
        let objects = objects(core).await;
        let mut t = Tally::default();
        for (n, (step, dry_run, grace)) in RUNS.into_iter().enumerate() {
            match step {
                // Links 2 s old: older than a grace of 1 s at the next run's start.
                "marking" => tokio::time::sleep(Duration::from_millis(2100)).await,
                "the grace passed" => {
                    tokio::time::sleep(Duration::from_millis(1100)).await;
                    let back = objects
                        .iter()
                        .find(|o| o.class == Class::TakenBack)
                        .unwrap();
                    let p = &back.pointer;
                    core.storage
                        .link(back.repo_id, &p.oid, p.size)
                        .await
                        .unwrap();
                }
                _ => {}
            }
            let report = collect(core, dry_run, grace).await;
            t.eq(report.errors.clone(), vec![], &format!("{step}: errors"));
            for o in &objects {
                let case = format!("{step}: {}", o.label);
                t.eq(done_to(&report, o), owned(done(o.class, n)), &case);
                t.eq(
                    there(core, o).await,
                    state(o.class, n),
                    &format!("{case}: (linked, stored)"),
                );
            }
        }
        t.finish("gc: objects × runs");
    })
}
