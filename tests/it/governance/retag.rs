//! Changes to what the policies read are governed: bob, a collaborator who may write alice's
//! PaySim but whom Fybrik's sample redacts, cannot lift the redaction by writing the datapackage
//! without its tags (the dataset's, the columns'), with another geography, through a REST
//! datapackage update, an NDJSON commit or a push; nor by removing the table and describing its
//! object again untagged. Other metadata (a title) he changes as before. alice, the dataset's
//! admin, may untag; and a writer who reads a table unrestricted may tag it.

use super::*;

const REDACTED: &str = "XXXXXXXXXX";

/// Makes `user` a collaborator of alice/paysim with `permission`.
async fn collaborator(gov: &Gov, user: &str, permission: &str) {
    let r = client()
        .put(format!("{}/alice/paysim/collaborators/{user}", gov.api))
        .bearer_auth(&gov.alice)
        .json(&json!({ "permission": permission }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
}

/// alice/paysim's datapackage at its head.
async fn package(gov: &Gov) -> Value {
    let v: Value = client()
        .get(format!("{}/alice/paysim", gov.api))
        .bearer_auth(&gov.alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["datapackage"].clone()
}

/// PUTs `package` as alice/paysim's datapackage, on its head, as `token`.
async fn put_as(gov: &Gov, token: &str, package: &Value) -> (u16, Value) {
    let parent = gov.head("alice/paysim", token).await;
    let r = client()
        .put(format!("{}/alice/paysim", gov.api))
        .bearer_auth(token)
        .json(&json!({"datapackage": package, "parent": parent}))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    (status, v)
}

/// `package` with every column's tags set to `tags`.
fn columns_tagged(package: &Value, tags: Value) -> Value {
    let mut p = package.clone();
    for f in p["resources"][0]["schema"]["fields"]
        .as_array_mut()
        .unwrap()
    {
        f["tags"] = tags.clone();
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_the_policies_redact_cannot_untag_what_they_read() {
    let gov = Gov::start().await;
    collaborator(&gov, "bob", "write").await;
    let bob = gov.bob.clone();
    let (status, csv) = gov.table(Some(&bob), "").await;
    assert_eq!(status, 200, "{csv}");
    assert!(csv.contains(REDACTED), "{csv}");

    // Metadata the policies do not read: his to change.
    let mut titled = package(&gov).await;
    titled["title"] = json!("PaySim, renamed");
    let (status, v) = put_as(&gov, &bob, &titled).await;
    assert_eq!(status, 200, "{v}");

    // The dataset's tags, the columns' tags, the geography: refused, nothing moves.
    let original = package(&gov).await;
    let head = gov.head("alice/paysim", &bob).await;
    let mut untagged = original.clone();
    untagged["tags"] = json!([]);
    let mut elsewhere = original.clone();
    elsewhere["geography"] = json!("mordor");
    let attempts = [
        untagged.clone(),
        columns_tagged(&original, json!({})),
        elsewhere,
    ];
    for attempt in &attempts {
        let (status, v) = put_as(&gov, &bob, attempt).await;
        assert_eq!(status, 403, "{v}");
        let message = v["message"].as_str().unwrap();
        assert!(
            message.contains("what the governance policies read") && message.contains("admin"),
            "{v}"
        );
    }
    // The same datapackage as a file of an NDJSON commit.
    let line = json!({"key": "file", "value": {"path": "datapackage.json",
        "content": untagged.to_string()}});
    let (status, v) = gov.commit("alice/paysim", &bob, vec![line]).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(gov.head("alice/paysim", &bob).await, head);

    // And pushed.
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    setup_home(&home, &gov.server.url, &bob);
    let url = format!("{}/alice/paysim.git", gov.server.url);
    run(git(&home, dir.path())
        .env("GIT_LFS_SKIP_SMUDGE", "1")
        .args(["clone", &url, "p"]));
    let work = dir.path().join("p");
    let package_path = work.join("datapackage.json");
    let mut pushed: Value =
        serde_json::from_str(&std::fs::read_to_string(&package_path).unwrap()).unwrap();
    pushed["tags"] = json!([]);
    std::fs::write(&package_path, pushed.to_string()).unwrap();
    let git_in = |args: &[&str]| {
        git(&home, &work)
            .env("GIT_LFS_SKIP_SMUDGE", "1")
            .args(args)
            .output()
            .unwrap()
    };
    assert!(git_in(&["commit", "-qam", "untag"]).status.success());
    let push = git_in(&["push", "--no-verify", "origin", "main"]);
    let said = String::from_utf8_lossy(&push.stderr);
    assert!(!push.status.success(), "{said}");
    assert!(said.contains("what the governance policies read"), "{said}");
    assert_eq!(gov.head("alice/paysim", &bob).await, head);
    // Nor by pushing the datapackage away (its tags with it).
    assert!(git_in(&["reset", "-q", "--hard", "HEAD~1"])
        .status
        .success());
    assert!(git_in(&["rm", "-q", "datapackage.json"]).status.success());
    assert!(git_in(&["commit", "-qm", "no datapackage"])
        .status
        .success());
    let push = git_in(&["push", "--no-verify", "origin", "main"]);
    let said = String::from_utf8_lossy(&push.stderr);
    assert!(!push.status.success(), "{said}");
    assert!(said.contains("what the governance policies read"), "{said}");
    assert_eq!(gov.head("alice/paysim", &bob).await, head);
    let (status, csv) = gov.table(Some(&bob), "").await;
    assert_eq!(status, 200, "{csv}");
    assert!(csv.contains(REDACTED), "still redacted: {csv}");

    // alice administers the dataset: she may untag it. Then bob reads it unrestricted, and may
    // tag it again; untagging it once more is refused.
    let (status, v) = put_as(&gov, &gov.alice, &untagged).await;
    assert_eq!(status, 200, "{v}");
    let (status, csv) = gov.table(Some(&bob), "").await;
    assert_eq!(status, 200, "{csv}");
    assert!(
        !csv.contains(REDACTED) && csv.contains("C1231006815"),
        "{csv}"
    );
    let (status, v) = put_as(&gov, &bob, &original).await;
    assert_eq!(status, 200, "{v}");
    let (_, csv) = gov.table(Some(&bob), "").await;
    assert!(csv.contains(REDACTED), "{csv}");
    let (status, v) = put_as(&gov, &bob, &untagged).await;
    assert_eq!(status, 403, "{v}");

    // Removing the table is his to do; describing its object again, untagged, is not.
    let mut gone = original.clone();
    gone["resources"] = json!([]);
    let (status, v) = put_as(&gov, &bob, &gone).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = put_as(&gov, &bob, &columns_tagged(&original, json!({}))).await;
    assert_eq!(status, 403, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("keeps from you"),
        "{v}"
    );
    let (status, _) = gov.table(Some(&bob), "").await;
    assert_eq!(status, 404);
}
