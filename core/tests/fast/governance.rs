//! Governance decisions on the shared core (policy dataset `steward/policies`, region
//! `theshire`): subjects × datasets tagged for each action (none, Redact, Hash, Remove for a role,
//! Filter, residency Deny, a team-only Deny) × the whole dataset or its table, and what follows
//! for raw reads of the table and of other files, for clones, and for LFS objects; intents that
//! deny or make the policies fail closed; copies of a governed table's bytes. The policy dataset
//! itself is in `policy_dataset.rs`.

use serde_json::{json, Value};
use strata_core::auth::{Action, Principal, Role};
use strata_core::datasets::catalog::Catalog;
use strata_core::datasets::gate::{self, Decision, Gated};
use strata_core::datasets::policies::{self, Surface};
use strata_core::db::Visibility;
use strata_core::error::Kind;
use strata_core::Core;
use strata_lfs::pointer::Pointer;
use strata_lfs::Oid;
use strata_metastore::Op;

use crate::common::*;

/// The policies of the shared core (Fybrik's rule format).
pub const POLICIES: &str = r#"package dataapi.authz

rule[{"action": {"name": "RedactAction", "columns": cols}, "policy": "redact PII in finance"}] {
  input.resource.metadata.tags.finance
  cols := [input.resource.metadata.columns[i].name | input.resource.metadata.columns[i].tags.PII]
  count(cols) > 0
}
rule[{"action": {"name": "HashAction", "columns": ["email"]}, "policy": "hash emails"}] {
  input.resource.metadata.tags.contacts
}
rule[{"action": {"name": "RemoveAction", "columns": ["email"]}, "policy": "no emails for analysts"}] {
  input.resource.metadata.tags.contacts
  input.subject.roles[_] == "analyst"
}
rule[{"action": {"name": "FilterAction", "filters": [{"column": "region", "op": "eq", "value": "north"}]}, "policy": "north only"}] {
  input.resource.metadata.tags.regional
}
rule[{"action": {"name": "Deny"}, "policy": "data stays where it lives"}] {
  input.resource.metadata.geography != input.action.processingLocation
}
rule[{"action": {"name": "Deny"}, "policy": "secrets stay with acme/eng"}] {
  input.resource.metadata.tags.secret
  not in_eng
}
in_eng {
  input.subject.teams[_] == "acme/eng"
}
rule[{"action": {"name": "Deny"}, "policy": "no marketing"}] {
  input.context.intent == "marketing"
}
rule[{"action": {"name": "Teleport"}, "policy": "an action strata does not know"}] {
  input.context.intent == "teleport"
}
"#;

/// Makes `steward/policies` (a site admin's, private) with [`POLICIES`].
pub async fn install_policies(core: &Core) {
    let steward = new_user(core, "steward", Role::Admin).await;
    dataset(
        core,
        "steward",
        "policies",
        &steward,
        Visibility::Private,
        &[("policy.rego", POLICIES)],
    )
    .await;
    assert_eq!(
        core.governance.failing(core).await,
        None,
        "the policies load"
    );
}

/// The governed datasets of `gov`: name, dataset-level fields of the datapackage, and what the
/// policies decide for the whole dataset and for its table `t` (see [`summary`]), for anyone
/// but analysts and the team `acme/eng`; then those two where they differ.
const DATASETS: &[(&str, &str, &str, &str)] = &[
    ("plain", "{}", "none", "none"),
    (
        "finance",
        r#"{"tags": ["finance"]}"#,
        "none",
        "name=RedactAction",
    ),
    (
        "contacts",
        r#"{"tags": {"contacts": true}}"#,
        "email=HashAction",
        "email=HashAction",
    ),
    (
        "regional",
        r#"{"tags": ["regional"]}"#,
        "filter:region",
        "filter:region",
    ),
    ("abroad", r#"{"geography": "mordor"}"#, "deny", "deny"),
    ("home", r#"{"geography": "theshire"}"#, "none", "none"),
    ("secret", r#"{"tags": ["secret"]}"#, "deny", "deny"),
];

fn expected(
    subject: &str,
    dataset: &str,
    whole: &'static str,
    table: &'static str,
) -> [&'static str; 2] {
    match (subject, dataset) {
        ("analyst", "contacts") => ["email=RemoveAction", "email=RemoveAction"],
        ("teamw", "secret") => ["none", "none"],
        _ => [whole, table],
    }
}

/// A decision in a few words: `deny`, `error`, the column actions and the filtered columns.
fn summary(d: &strata_policy::Decision) -> String {
    if d.error.is_some() {
        return "error".into();
    }
    if d.denied() {
        return "deny".into();
    }
    let mut parts: Vec<String> = d
        .columns
        .iter()
        .map(|(c, a)| format!("{c}={}", a.name()))
        .collect();
    parts.extend(d.filters.iter().map(|f| format!("filter:{}", f.column)));
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(",")
    }
}

/// The table of `gov/{name}`: its bytes (distinct per dataset) as an LFS object.
fn table_bytes(name: &str) -> Vec<u8> {
    format!("id,name,email,region\n1,{name},{name}@example.test,north\n").into_bytes()
}

fn pointer(bytes: &[u8]) -> Pointer {
    Pointer {
        oid: Oid::of(bytes),
        size: bytes.len() as u64,
    }
}

/// Creates `gov/{name}` (public) with `t.csv` as an LFS table, `copy.bin` holding the same
/// object under a path that is no table, `notes.txt`, and a datapackage with `fields` added.
async fn governed(core: &Core, owner: &strata_core::db::User, name: &str, fields: &str) {
    let repo = dataset(core, "gov", name, owner, Visibility::Public, &[]).await;
    let bytes = table_bytes(name);
    let p = pointer(&bytes);
    core.db
        .link_object(repo.id, &p.oid, p.size)
        .await
        .expect("linked");
    let mut package = json!({"name": name, "resources": [{
        "name": "t", "path": "t.csv", "format": "csv", "bytes": p.size,
        "hash": format!("sha256:{}", p.oid),
        "schema": {"fields": [
            {"name": "id", "type": "integer"},
            {"name": "name", "type": "string", "tags": {"PII": true}},
            {"name": "email", "type": "string"},
            {"name": "region", "type": "string"}]}}]});
    let extra: Value = serde_json::from_str(fields).unwrap();
    for (k, v) in extra.as_object().unwrap() {
        package[k] = v.clone();
    }
    let who = owner_principal(owner);
    let gated = gate::dataset(core, &who, "gov", name, Action::Write)
        .await
        .unwrap();
    let ops = vec![
        Op::Put {
            path: "t.csv".into(),
            data: p.encode().into_bytes(),
        },
        Op::Put {
            path: "copy.bin".into(),
            data: p.encode().into_bytes(),
        },
        Op::Put {
            path: "notes.txt".into(),
            data: b"notes".to_vec(),
        },
        Op::Put {
            path: "datapackage.json".into(),
            data: package.to_string().into_bytes(),
        },
    ];
    let change = strata_core::commits::Change {
        summary: "tables".into(),
        at_head: true,
        ops,
        lfs_paths: vec!["t.csv".into(), "copy.bin".into()],
        ..Default::default()
    };
    strata_core::commits::commit(core, &who, &gated, change)
        .await
        .expect("committed");
}

fn owner_principal(user: &strata_core::db::User) -> Principal {
    Principal::User {
        user: user.clone(),
        scopes: strata_core::auth::Scopes::parse("*").unwrap(),
        family: None,
    }
}

pub async fn decide(core: &Core, gated: &Gated, table: bool, intent: Option<&str>) -> String {
    let catalog: Catalog = policies::catalog(core, gated, None)
        .await
        .expect("a catalog");
    let t = if table { catalog.table("t") } else { None };
    let d = policies::decide(core, gated, &catalog, t, intent, Surface::Table)
        .await
        .expect("decided");
    summary(&d)
}

#[test]
fn decisions_raw_reads_clones_and_objects_per_subject_and_dataset() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let owner = new_user(core, "govowner", Role::Scientist).await;
        for (name, fields, ..) in DATASETS {
            governed(core, &owner, name, fields).await;
        }
        let mut subjects: Vec<(String, Principal)> = [
            "anonymous",
            "siteadmin",
            "teamw",
            "analyst",
            "outsider",
            "viewer",
        ]
        .iter()
        .map(|s| (s.to_string(), f.principal(s).clone()))
        .collect();
        subjects.push((
            "jwt".into(),
            jwt(core, "gov-service", "dataset:gov:read").await,
        ));
        let mut t = Tally::default();
        for (who_name, who) in &subjects {
            for (name, _, whole, table) in DATASETS {
                let want = expected(who_name, name, whole, table);
                let case = format!("{who_name} reads gov/{name}");
                let gated = gate::dataset(core, who, "gov", name, Action::Read)
                    .await
                    .expect("public");
                t.eq(
                    decide(core, &gated, false, None).await.as_str(),
                    want[0],
                    &format!("{case}: the dataset"),
                );
                t.eq(
                    decide(core, &gated, true, None).await.as_str(),
                    want[1],
                    &format!("{case}: its table"),
                );
                let p = pointer(&table_bytes(name));
                let raw = gated.read_file(core, "t.csv", None, Some(&p)).await;
                let refused = |free: bool| (!free).then_some(Kind::Forbidden);
                t.eq(
                    kind(&raw),
                    refused(want[1] == "none"),
                    &format!("{case}: raw t.csv"),
                );
                // The same bytes under a path that is no table are the table's all the same.
                let copy = gated.read_file(core, "copy.bin", None, Some(&p)).await;
                let free = want[1] == "none" && want[0] == "none";
                t.eq(kind(&copy), refused(free), &format!("{case}: raw copy.bin"));
                let notes = gated.read_file(core, "notes.txt", None, None).await;
                t.eq(
                    kind(&notes),
                    refused(want[0] == "none"),
                    &format!("{case}: raw notes.txt"),
                );
                let clone = gated.read_dataset(core).await;
                t.eq(
                    kind(&clone),
                    refused(want[0] != "deny"),
                    &format!("{case}: a clone"),
                );
                let objects =
                    gate::open(core, who, "gov", name, Action::Read, gate::Reach::Objects)
                        .await
                        .expect("objects of a public dataset");
                let got = objects
                    .objects(core, &[p.oid], Action::Read)
                    .await
                    .expect("decided");
                let linked = if want[1] == "none" {
                    Decision::Linked(p.size)
                } else {
                    Decision::Governed
                };
                t.eq(got, vec![linked], &format!("{case}: the LFS object"));
            }
        }
        // Intents: one denies everywhere, an unknown action fails closed, others change nothing.
        let plain = gate::dataset(core, f.principal("outsider"), "gov", "plain", Action::Read)
            .await
            .unwrap();
        for (intent, want) in [
            ("marketing", "deny"),
            ("teleport", "error"),
            ("research", "none"),
        ] {
            for table in [false, true] {
                let got = decide(core, &plain, table, Some(intent)).await;
                t.eq(
                    got.as_str(),
                    want,
                    &format!("intent {intent} (table: {table})"),
                );
            }
        }
        t.finish("governance: subjects × datasets × surfaces");
    })
}
