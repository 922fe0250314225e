//! Decisions kept by the policies in force (a core of its own, policy dataset `kstew/policies`):
//! the same read decided again is found kept and answers the same; a commit to the policy
//! dataset is seen by the very next decision, whatever was kept, and so is a revert; a decision
//! for another subject or intent is made afresh.

use serde_json::json;
use strata_core::auth::{Action, Role};
use strata_core::datasets::gate;
use strata_core::db::Visibility;

use crate::common::*;
use crate::governance::decide;

const REDACT: &str = r#"package dataapi.authz
rule[{"action": {"name": "RedactAction", "columns": cols}, "policy": "redact PII in finance"}] {
  input.resource.metadata.tags.finance
  cols := [input.resource.metadata.columns[i].name | input.resource.metadata.columns[i].tags.PII]
  count(cols) > 0
}
"#;

const DENY: &str = r#"package dataapi.authz
rule[{"action": {"name": "Deny"}, "policy": "no finance at all"}] {
  input.resource.metadata.tags.finance
}
"#;

#[test]
fn kept_decisions_answer_alike_and_a_policy_change_is_seen_by_the_next_decision() {
    run(async {
        let (core, _dir) = own_core(|c| c.policy_dataset = Some("kstew/policies".into())).await;
        let core = &*core;
        let steward = new_user(core, "kstew", Role::Admin).await;
        let policies = dataset(
            core,
            "kstew",
            "policies",
            &steward,
            Visibility::Private,
            &[("policy.rego", REDACT)],
        )
        .await;
        assert_eq!(policies.name, "policies");
        let owner = new_user(core, "kowner", Role::Scientist).await;
        dataset(core, "kowner", "fin", &owner, Visibility::Public, &[]).await;
        let table = b"id,name\n1,a\n";
        let schema = json!({"fields": [
            {"name": "id", "type": "integer"},
            {"name": "name", "type": "string", "tags": {"PII": true}}]});
        let package = json!({"name": "fin", "tags": ["finance"],
            "resources": [resource("t", "t.csv", table, schema)]});
        let write = gate::dataset(core, &as_user(&owner), "kowner", "fin", Action::Write)
            .await
            .expect("the owner writes");
        commit_tables(
            core,
            &as_user(&owner),
            &write,
            None,
            &package,
            &[("t.csv", table)],
        )
        .await
        .expect("the table");
        let reader = new_user(core, "kreader", Role::Scientist).await;
        let reader = pat(core, &reader, "read", "*").await;
        let gated = gate::dataset(core, &reader, "kowner", "fin", Action::Read)
            .await
            .expect("public");
        let mut t = Tally::default();

        let before = core.governance.decision_counts(core).await;
        t.eq(
            decide(core, &gated, true, None).await,
            "name=RedactAction".to_owned(),
            "the first read",
        );
        let first = core.governance.decision_counts(core).await;
        t.eq(
            first.made,
            before.made + 1,
            "the first read is decided afresh",
        );
        t.eq(
            decide(core, &gated, true, None).await,
            "name=RedactAction".to_owned(),
            "the same read again",
        );
        let again = core.governance.decision_counts(core).await;
        t.eq(again.found, first.found + 1, "the same read is found kept");
        t.eq(again.made, first.made, "and not decided afresh");
        // Another intent is another input.
        t.eq(
            decide(core, &gated, true, Some("research")).await,
            "name=RedactAction".to_owned(),
            "another intent",
        );
        let intent = core.governance.decision_counts(core).await;
        t.eq(
            intent.made,
            again.made + 1,
            "another intent is decided afresh",
        );

        // The steward changes the policy: the very next decision is the new one's.
        let admin = pat(core, &steward, "policies", "*").await;
        let write = gate::dataset(core, &admin, "kstew", "policies", Action::Write)
            .await
            .expect("the steward writes");
        put(core, &admin, &write, &[("policy.rego", DENY)])
            .await
            .expect("the new policy");
        t.eq(
            decide(core, &gated, true, None).await,
            "deny".to_owned(),
            "the read right after the change",
        );
        t.eq(
            core.governance.decision_counts(core).await.found,
            0,
            "the new policies found nothing kept",
        );
        // And back: nothing kept from before the change answers for the old policy either.
        put(core, &admin, &write, &[("policy.rego", REDACT)])
            .await
            .expect("the old policy again");
        t.eq(
            decide(core, &gated, true, None).await,
            "name=RedactAction".to_owned(),
            "the read right after the revert",
        );
        t.finish("decisions kept");
    })
}
