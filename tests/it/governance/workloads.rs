//! Registered workloads: an app's manifest declares its intent, the datasets it reads and its
//! protocol (as a FybrikApplication does). A policy beside Fybrik's sample lets the finance table
//! be read by the fraud-detection app only: its token passes (policies see `subject.app`,
//! `context.workload`, and the declared intent when the request names none), while the same
//! user's other app, the same user's own token, and the fraud app asking with another intent
//! are refused. The same over REST: a registered workload's token (read access to its declared
//! datasets only) is told apart from the user's other workload, and ends with its registration.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_registered_over_rest_is_told_apart_and_ends_with_its_registration() {
    let gov = Gov::start().await;
    let (status, v) = gov
        .commit_files("steward/policies", &[("workloads.rego", WORKLOADS)])
        .await;
    assert_eq!(status, 200, "{v}");
    let url = format!("{}/api/v1/user/workloads", gov.server.url);
    let register = |token: String, declared: Value| {
        let url = url.clone();
        async move {
            let r = client()
                .post(url)
                .bearer_auth(token)
                .json(&declared)
                .send()
                .await
                .unwrap();
            let (status, _, v) = body(r).await;
            (status, v)
        }
    };
    let fraud = json!({"name": "fraud", "intent": "Fraud Detection",
        "datasets": ["alice/paysim"], "protocol": "arrow-flight"});
    let (status, v) = register(gov.alice.clone(), fraud.clone()).await;
    assert_eq!(status, 201, "{v}");
    let token = v["token"].as_str().unwrap().to_owned();
    // The same name again, a malformed one, and a narrower token minting a wider one: refused.
    assert_eq!(register(gov.alice.clone(), fraud.clone()).await.0, 409);
    for bad in [
        json!({"name": "Bad Name", "datasets": ["alice/paysim"]}),
        json!({"name": "x", "datasets": []}),
        json!({"name": "x", "datasets": ["nons"]}),
        json!({"name": "x", "datasets": ["alice/paysim"], "ttl_days": 0}),
        json!({"name": "x", "datasets": ["alice/paysim"], "surprise": 1}),
    ] {
        let (status, v) = register(gov.alice.clone(), bad.clone()).await;
        assert!(status == 400 || status == 422, "{bad}: {v}");
    }
    let narrow = strata::cli::admin::create_token(
        &gov.server.state,
        "alice",
        "narrow",
        "dataset:alice/paysim:read",
        None,
    )
    .await
    .unwrap();
    let (status, v) = register(narrow, json!({"name": "wide", "datasets": ["alice/other"]})).await;
    assert_eq!(status, 403, "{v}");

    // Its token: the policy tells the fraud workload apart; the sample still redacts.
    let (status, csv) = gov.table(Some(&token), "").await;
    assert_eq!(status, 200, "{csv}");
    assert!(csv.contains("XXXXXXXXXX"), "{csv}");
    let (status, _) = gov.table(Some(&token), "intent=Marketing").await;
    assert_eq!(status, 403);
    let (status, v) = register(
        gov.alice.clone(),
        json!({"name": "other",
        "intent": "Fraud Detection", "datasets": ["alice/paysim"], "protocol": "rest"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, _) = gov.table(Some(v["token"].as_str().unwrap()), "").await;
    assert_eq!(status, 403, "another workload of the same user");
    // It reads the declared datasets only.
    gov.create("alice", "elsewhere", &gov.alice.clone(), "private")
        .await;
    let r = client()
        .get(format!("{}/alice/elsewhere", gov.api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status() == 403 || r.status() == 404, "{}", r.status());
    // Listed without tokens; deleted, its token stops at once.
    let listed: Value = client()
        .get(&url)
        .bearer_auth(&gov.alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(listed[0].get("token").is_none(), "{listed}");
    let r = client()
        .delete(format!("{url}/fraud"))
        .bearer_auth(&gov.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, _) = gov.table(Some(&token), "").await;
    assert_eq!(status, 401);
    // bob cannot delete alice's.
    let r = client()
        .delete(format!("{url}/other"))
        .bearer_auth(&gov.bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
