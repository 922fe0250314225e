//! The policy dataset (`steward/policies`, a site admin's): its own policies never govern it;
//! only site admins pass its write gates (a JWT holding admin on it does not), others cannot see
//! it; its version and files are described to its readers only; commits of policies that do not
//! compile are refused and the policies in force stay loaded.

use serde_json::{json, Value};
use strata_core::auth::Action;
use strata_core::datasets::gate;
use strata_core::error::Kind;

use crate::common::*;
use crate::governance::decide;

#[test]
fn the_policy_dataset_is_governed_by_permissions_and_written_by_site_admins_only() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        // Its own policies never govern it (they could lock their authors out).
        let steward_user = core
            .db
            .user_by_name("steward")
            .await
            .unwrap()
            .expect("the steward");
        let steward = pat(core, &steward_user, "policies", "*").await;
        let gated = gate::dataset(core, &steward, "steward", "policies", Action::Read)
            .await
            .unwrap();
        t.eq(
            decide(core, &gated, false, Some("marketing"))
                .await
                .as_str(),
            "none",
            "steward reads the policies",
        );
        // Only site admins pass the write gates; a JWT holding write on it does not.
        for (label, who) in [
            ("steward", steward.clone()),
            ("siteadmin", f.principal("siteadmin").clone()),
            (
                "JWT",
                jwt(core, "policy-bot", "dataset:steward/policies:admin").await,
            ),
        ] {
            for a in [Action::Read, Action::Verify, Action::Write, Action::Admin] {
                let want = (label == "JWT" && a != Action::Read).then_some(Kind::Forbidden);
                let got = gate::dataset(core, &who, "steward", "policies", a).await;
                t.eq(kind(&got), want, &format!("{label} {a:?} steward/policies"));
                let got =
                    gate::open(core, &who, "steward", "policies", a, gate::Reach::Objects).await;
                t.eq(
                    kind(&got),
                    want,
                    &format!("{label} {a:?} objects of steward/policies"),
                );
            }
        }
        for name in ["outsider", "analyst", "anonymous"] {
            let want = if name == "anonymous" {
                Kind::Unauthenticated
            } else {
                Kind::NotFound
            };
            let got =
                gate::dataset(core, f.principal(name), "steward", "policies", Action::Read).await;
            t.eq(
                kind(&got),
                Some(want),
                &format!("{name} reads the private policy dataset"),
            );
        }
        // The policies' version and files are told to their readers only.
        let shown = gate::policies(core, &steward).await;
        t.eq(
            shown["compiles"].clone(),
            json!(true),
            "described to the steward",
        );
        t.eq(
            shown["files"].clone(),
            json!(["policy.rego"]),
            "the policy files",
        );
        let hidden = gate::policies(core, f.principal("outsider")).await;
        t.eq(hidden, Value::Null, "described to an outsider");
        // A commit of policies that do not compile is refused, and the head stays.
        let write = gate::dataset(core, &steward, "steward", "policies", Action::Write)
            .await
            .unwrap();
        for broken in [
            "package dataapi.authz\nrule[x] { x := ",
            "package dataapi.authz\nrule[x] { x := no_such(1) }\n",
        ] {
            let got = put(core, &steward, &write, &[("broken.rego", broken)]).await;
            t.eq(
                kind(&got),
                Some(Kind::Invalid),
                &format!("commit {broken:?}"),
            );
        }
        t.eq(
            core.governance.failing(core).await,
            None,
            "the policies still load",
        );
        t.finish("governance: the policy dataset");
    })
}
