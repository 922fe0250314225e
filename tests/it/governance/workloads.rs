//! Registered workloads: an app's manifest declares its intent, the datasets it reads and its
//! protocol (as a FybrikApplication does). A policy beside Fybrik's sample lets the finance table
//! be read by the fraud-detection app only: its token passes (policies see `subject.app`,
//! `context.workload`, and the declared intent when the request names none), while the same
//! user's other app, the same user's own token, and the fraud app asking with another intent
//! are refused.

use super::*;

const WORKLOADS: &str = r#"package dataapi.authz
rule[{"action": {"name": "Deny"}, "policy": "Finance data is for the fraud-detection workload"}] {
  input.action.actionType == "read"
  input.resource.metadata.tags.finance
  not fraud_workload
}
fraud_workload {
  input.subject.app == "fraud"
  input.context.intent == "Fraud Detection"
  input.context.workload.datasets[_] == input.resource.metadata.dataset
  input.context.workload.protocol == "arrow-flight"
}
"#;

fn manifest(id: &str, workload: &str) -> String {
    format!(
        r#"id = "{id}"
name = "{id}"
scopes = ["dataset:*:read"]

[runner]
kind = "process"
command = "/bin/true"
{workload}"#
    )
}

impl Gov {
    /// A token of alice's install of `app`, as strata writes into the instance's token file.
    async fn app_token(&self, app: &str) -> String {
        let r = client()
            .put(format!("{}/api/v1/user/apps/{app}", self.server.url))
            .bearer_auth(&self.alice)
            .json(&json!({ "scopes": ["dataset:*:read"] }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let state = &self.server.state;
        let alice = state.db.user_by_name("alice").await.unwrap().unwrap();
        let install = state.db.app_install(alice.id, app).await.unwrap().unwrap();
        let mut claims = state.jwt.claims("alice", &install.scopes, 600);
        claims.uid = Some(alice.id);
        claims.client_id = Some(format!("app:{app}"));
        claims.fam = Some(install.family.clone());
        state.jwt.sign(&claims).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_tells_the_registered_fraud_workload_from_the_same_users_other_tools() {
    let gov = Gov::start().await;
    for (id, workload) in [
        (
            "fraud",
            "\n[workload]\nintent = \"Fraud Detection\"\ndatasets = [\"alice/paysim\"]\nprotocol = \"arrow-flight\"\n",
        ),
        ("other", ""),
    ] {
        let r = client()
            .post(format!("{}/api/v1/apps", gov.server.url))
            .bearer_auth(&gov.steward)
            .header("content-type", "application/toml")
            .body(manifest(id, workload))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    // A workload that is not one is refused with the manifest.
    let r = client()
        .post(format!("{}/api/v1/apps", gov.server.url))
        .bearer_auth(&gov.steward)
        .header("content-type", "application/toml")
        .body(manifest("bad", "\n[workload]\ndatasets = [\"nons\"]\n"))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert!(status == 400 || status == 422, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("workload.datasets"),
        "{v}"
    );

    let (status, v) = gov
        .commit_files("steward/policies", &[("workloads.rego", WORKLOADS)])
        .await;
    assert_eq!(status, 200, "{v}");
    let fraud = gov.app_token("fraud").await;
    let other = gov.app_token("other").await;

    // The fraud app: its declared intent, its dataset, its protocol; the sample still redacts.
    let (status, csv) = gov.table(Some(&fraud), "").await;
    assert_eq!(status, 200, "{csv}");
    assert!(csv.contains("XXXXXXXXXX"), "{csv}");
    // The same app asking for another purpose, the same user's other app, the user herself.
    let (status, v) = gov.table(Some(&fraud), "intent=Marketing").await;
    assert_eq!(status, 403, "{v}");
    for token in [&other, &gov.alice] {
        let (status, v) = gov.table(Some(token), "").await;
        assert_eq!(status, 403, "{v}");
        assert!(v.contains("fraud-detection workload"), "{v}");
    }
}
