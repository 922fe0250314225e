//! Webhook filters (docs/events.md, "Webhooks"): a dataset's webhooks, each with its filters on
//! event kinds, branch globs, tag globs and path globs (`*` within a folder, `**` across), two
//! of its namespace's, and one whose owner was downgraded to reading (share events are for
//! admins), × the events of real changes (commits touching given paths, branches and tags made
//! and deleted, a merge request, a share, another dataset's commit): which webhook gets a delivery
//! of which event, on a core of this module's own running the dispatcher. Branch globs filter
//! only branch events, tag globs only tag events, path globs only events that change paths.
//! Then filters and targets refused when a webhook is made.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::json;
use strata_core::auth::{Action, Principal, Role};
use strata_core::config::Switch;
use strata_core::datasets::{gate, refs, settings};
use strata_core::db::{Permission, Visibility};
use strata_core::delivery::webhooks::{self, Input, Target};
use strata_core::error::Kind;
use strata_core::sharing::shares;
use strata_core::{changes::merges, commits, Core};
use strata_metastore::Op;

use crate::common::*;

/// Every event of the table, by its label, in the order the changes make them.
#[rustfmt::skip]
const EVENTS: [&str; 13] = ["a", "readme", "dev+", "dev", "release+", "feature+", "v1+", "nightly+",
    "mr", "v1-", "dev-", "share", "e:a"];

/// The events of `hooker/d`.
const D: &str = "a readme dev+ dev release+ feature+ v1+ nightly+ mr v1- dev- share";
/// The events that change no paths, of `hooker/d`.
const PATHLESS: &str = "dev+ release+ feature+ v1+ nightly+ mr v1- dev- share";
/// Tag, merge request and share events, which no branch glob filters.
const NO_BRANCH: &str = "v1+ nightly+ mr v1- share";

/// The webhooks: label, filters (`events=`, `branches=`, `tags=`, `paths=` with lists; `ns`: the
/// namespace's; `helper`: made by the admin later downgraded to reading) and the events it gets.
#[rustfmt::skip]
const HOOKS: &[(&str, &str, &str)] = &[
    ("everything", "", D),
    ("kind branch.updated", "events=branch.updated", "a readme dev"),
    ("kinds tag.created, tag.deleted", "events=tag.created,tag.deleted", "v1+ nightly+ v1-"),
    ("branch main", "branches=main", "a readme | NO_BRANCH"),
    ("branch release/*", "branches=release/*", "release+ | NO_BRANCH"),
    ("branch feature/* stays in its folder", "branches=feature/*", "| NO_BRANCH"),
    ("branch feature/** crosses folders", "branches=feature/**", "feature+ | NO_BRANCH"),
    ("branch ?ev", "branches=?ev", "dev+ dev dev- | NO_BRANCH"),
    ("tag v*", "tags=v*", "a readme dev+ dev release+ feature+ v1+ mr v1- dev- share"),
    ("kind tag.created, tag nightly-*", "events=tag.created tags=nightly-*", "nightly+"),
    ("path data/**", "paths=data/**", "a dev | PATHLESS"),
    ("path data/* stays in its folder", "paths=data/*", "a | PATHLESS"),
    ("path *.md", "paths=*.md", "readme | PATHLESS"),
    ("path **/*.csv", "paths=**/*.csv", "a dev | PATHLESS"),
    ("branch.updated of main under data/", "events=branch.updated branches=main paths=data/**", "a"),
    ("kind merge_request.opened", "events=merge_request.opened", "mr"),
    ("branch.created of release/* or feature/**", "events=branch.created branches=release/*,feature/**",
     "release+ feature+"),
    ("kinds share.granted, branch.deleted", "events=share.granted,branch.deleted", "share dev-"),
    ("an owner who now only reads", "helper", "a readme dev+ dev release+ feature+ v1+ nightly+ mr v1- dev-"),
    ("namespace: everything", "ns", "e:a | D"),
    ("namespace: branch.updated", "ns events=branch.updated", "a readme dev e:a"),
];

/// The webhook `filters` of [`HOOKS`] asks for.
fn input(filters: &str) -> Input {
    let mut input = Input {
        url: "http://127.0.0.1:9/hook".into(),
        ..Input::default()
    };
    for f in filters.split_whitespace() {
        let Some((what, list)) = f.split_once('=') else {
            continue;
        };
        let list = list.split(',').map(str::to_owned).collect();
        match what {
            "events" => input.events = list,
            "branches" => input.branches = list,
            "tags" => input.tags = list,
            "paths" => input.paths = list,
            _ => panic!("{f}"),
        }
    }
    input
}

/// The labels a hook's spec names (`| PATHLESS`, `| NO_BRANCH` and `| D` name those lists).
fn wanted(spec: &str) -> BTreeSet<&'static str> {
    let (own, list) = spec.split_once('|').unwrap_or((spec, ""));
    let list = match list.trim() {
        "PATHLESS" => PATHLESS,
        "NO_BRANCH" => NO_BRANCH,
        "D" => D,
        _ => "",
    };
    let named: BTreeSet<&str> = own
        .split_whitespace()
        .chain(list.split_whitespace())
        .collect();
    EVENTS.into_iter().filter(|e| named.contains(e)).collect()
}

/// Commits `files` (path, text) at the head of `branch` of `gated`.
async fn commit(
    core: &Core,
    who: &Principal,
    gated: &gate::Gated,
    branch: &str,
    files: &[(&str, &str)],
) {
    let ops = files
        .iter()
        .map(|(p, t)| Op::Put {
            path: (*p).into(),
            data: t.as_bytes().to_vec(),
        })
        .collect();
    let change = commits::Change {
        summary: "files".into(),
        at_head: true,
        branch: Some(branch.into()),
        ops,
        ..commits::Change::default()
    };
    commits::commit(core, who, gated, change)
        .await
        .expect("committed");
}

/// Waits until every event recorded is fanned out; the events since `seq` and the last seq.
async fn fanned(core: &Core, seq: i64) -> (Vec<strata_core::db::EventRow>, i64) {
    for _ in 0..200 {
        if core.db.pending_events(1).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let events = core.db.events_after(seq, 1000).await.unwrap();
    let last = events.last().map_or(seq, |e| e.seq);
    (events, last)
}

#[test]
fn each_webhook_gets_the_events_its_filters_let_through() {
    run(async {
        let (core, _dir) = own_core(|c| c.webhooks_allow_private = Switch::On).await;
        strata_core::delivery::start(&core);
        let core = &*core;
        let hooker = new_user(core, "hooker", Role::Scientist).await;
        let helper = new_user(core, "helper", Role::Scientist).await;
        let (who, helping) = (as_user(&hooker), as_user(&helper));
        let start = [("data/a.csv", "x\n1\n"), ("README.md", "hi\n")];
        for name in ["d", "e"] {
            dataset(core, "hooker", name, &hooker, Visibility::Private, &start).await;
        }
        let d = gate::dataset(core, &who, "hooker", "d", Action::Admin)
            .await
            .unwrap();
        let e = gate::dataset(core, &who, "hooker", "e", Action::Write)
            .await
            .unwrap();
        settings::set_collaborator(core, &who, &d, "helper", Permission::Admin)
            .await
            .unwrap();

        // The datasets' own events are fanned out before any webhook is there.
        fanned(core, 0).await;
        let mut ids = Vec::new();
        for (label, filters, _) in HOOKS {
            let flag = |f: &str| filters.split_whitespace().any(|x| x == f);
            let target = match flag("ns") {
                true => Target::Namespace("hooker"),
                false => Target::Dataset {
                    ns: "hooker",
                    name: "d",
                },
            };
            let by = if flag("helper") { &helping } else { &who };
            let (hook, _) = webhooks::create(core, by, target, &input(filters))
                .await
                .expect(label);
            ids.push((hook.id, target));
        }
        settings::set_collaborator(core, &who, &d, "helper", Permission::Read)
            .await
            .unwrap();
        let (_, mut seq) = fanned(core, 0).await;

        // The changes, each making one event.
        let mut labels: HashMap<i64, &str> = HashMap::new();
        let mut t = Tally::default();
        for label in EVENTS {
            match label {
                "a" => commit(core, &who, &d, "main", &[("data/a.csv", "x\n2\n")]).await,
                "readme" => commit(core, &who, &d, "main", &[("README.md", "hello\n")]).await,
                "dev+" | "release+" | "feature+" => {
                    let name = match label {
                        "dev+" => "dev",
                        "release+" => "release/1.0",
                        _ => "feature/a/b",
                    };
                    refs::create_branch(core, &d, name, None).await.unwrap();
                }
                "dev" => commit(core, &who, &d, "dev", &[("data/sub/b.csv", "y\n1\n")]).await,
                "v1+" => drop(
                    refs::create_tag(core, &who, &d, "v1", None, "")
                        .await
                        .unwrap(),
                ),
                "nightly+" => drop(
                    refs::create_tag(core, &who, &d, "nightly-2024", None, "")
                        .await
                        .unwrap(),
                ),
                "mr" => {
                    let new = merges::New {
                        source: "dev".into(),
                        title: "dev".into(),
                        ..Default::default()
                    };
                    merges::open(core, &who, &d, new).await.unwrap();
                }
                "v1-" => refs::delete_tag(core, &d, "v1").await.unwrap(),
                "dev-" => refs::delete_branch(core, &d, "dev").await.unwrap(),
                "share" => {
                    let new = shares::NewShare {
                        path: "data".into(),
                        grantee: shares::Grantee::User("helper".into()),
                        access: shares::Access::Read,
                        expires_at: None,
                    };
                    shares::create(core, &who, &d, new).await.unwrap();
                }
                "e:a" => commit(core, &who, &e, "main", &[("data/a.csv", "x\n3\n")]).await,
                _ => unreachable!(),
            }
            let (events, last) = fanned(core, seq).await;
            seq = last;
            t.eq(events.len(), 1, &format!("{label}: one event"));
            labels.extend(events.iter().map(|e| (e.id, label)));
        }

        for ((label, _, spec), (id, target)) in HOOKS.iter().zip(ids) {
            let (_, deliveries) = webhooks::get(core, &who, target, id).await.expect(label);
            let got: BTreeSet<&str> = deliveries
                .iter()
                .map(|d| labels.get(&d.event).copied().unwrap_or("?"))
                .collect();
            let want = wanted(spec);
            for event in EVENTS {
                let case = format!("{label} × {event}");
                t.eq(got.contains(event), want.contains(event), &case);
            }
            t.check(!got.contains("?"), || {
                format!("{label}: a delivery of an event of no change")
            });
        }
        assert!(
            core.tasks.shutdown(Duration::from_secs(5)).await,
            "the dispatcher stops"
        );
        t.finish("events: webhooks × events");
    })
}

#[test]
fn bad_filters_and_targets_are_refused() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let owner = new_user(core, "hookcheck", Role::Scientist).await;
        dataset(core, "hookcheck", "d", &owner, Visibility::Private, &[]).await;
        let who = as_user(&owner);
        let target = Target::Dataset {
            ns: "hookcheck",
            name: "d",
        };
        let ok = "https://hooks.example.com/x";
        let input = |v: serde_json::Value| serde_json::from_value::<Input>(v);
        #[rustfmt::skip]
        let cases = [
            ("no filter", json!({"url": ok}), true),
            ("every filter", json!({"url": ok, "events": ["branch.updated", "tag.created"],
                "branches": ["main", "release/**"], "tags": ["v[0-9]*"], "paths": ["data/**"]}), true),
            ("an unknown kind", json!({"url": ok, "events": ["everything"]}), false),
            ("a kind in other case", json!({"url": ok, "events": ["Branch.Updated"]}), false),
            ("a branch glob that is no glob", json!({"url": ok, "branches": ["[oops"]}), false),
            ("a tag glob that is no glob", json!({"url": ok, "tags": ["v[1"]}), false),
            ("a path glob that is no glob", json!({"url": ok, "paths": ["data/[x"]}), false),
            ("plain http", json!({"url": "http://hooks.example.com/x"}), false),
            ("loopback", json!({"url": "https://127.0.0.1/x"}), false),
            ("localhost", json!({"url": "https://localhost/x"}), false),
            ("a private address", json!({"url": "https://10.0.0.7/x"}), false),
            ("cloud metadata", json!({"url": "https://169.254.169.254/latest/meta-data/"}), false),
            ("IPv6 loopback", json!({"url": "https://[::1]/x"}), false),
            ("a private address in IPv6", json!({"url": "https://[::ffff:10.0.0.1]/x"}), false),
            ("the unspecified address", json!({"url": "https://0.0.0.0/x"}), false),
            ("a file", json!({"url": "file:///etc/passwd"}), false),
            ("credentials", json!({"url": "https://u:p@hooks.example.com/x"}), false),
            ("no URL", json!({"url": "hooks"}), false),
        ];
        let mut t = Tally::default();
        for (case, body, made) in cases {
            let got = webhooks::create(core, &who, target, &input(body).unwrap()).await;
            let want = if made { None } else { Some(Kind::Invalid) };
            t.eq(kind(&got), want, case);
        }
        // A field nobody reads is refused as the input is read.
        t.check(input(json!({"url": ok, "bogus": 1})).is_err(), || {
            "an unknown field".into()
        });
        t.finish("events: webhooks refused");
    })
}
