//! Only site admins create and write the policy dataset: a namespace claimed first (open sign-up,
//! an organisation) cannot make it, through REST, the home page's form, `strata admin
//! create-repo` or the drive; and when anyone else comes to hold write on it (an organisation
//! owner, a collaborator, a share, added later), its policies are not loaded: governed reads are
//! denied and `/readyz` answers 503 with the reason until that is undone.

use serde_json::{json, Value};

use super::*;
use crate::common::forms::{Browser, PASSWORD};

/// A policy that never fires: reads are allowed while it is in force.
const NEVER: &str = "package dataapi.authz\n\nrule[{\"action\": {\"name\": \"Deny\"}, \"policy\": \"never\"}] { false }\n";

/// `/readyz`: (status, body).
async fn ready(server: &TestServer) -> (u16, Value) {
    let r = client()
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Waits (up to a minute) until `/readyz` answers `status`; its body.
async fn ready_becomes(server: &TestServer, status: u16) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (now, v) = ready(server).await;
        if now == status {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz stayed {now}: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `POST /api/v1/datasets` as `token`: (status, body).
async fn create(server: &TestServer, token: &str, ns: &str, name: &str) -> (u16, Value) {
    let r = client()
        .post(format!("{}/api/v1/datasets", server.url))
        .bearer_auth(token)
        .json(&json!({"namespace": ns, "name": name, "visibility": "private"}))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    (status, v)
}

/// Signs up through the open sign-up form as `name`; the browser holds the new session.
async fn sign_up(server: &TestServer, name: &str) -> Browser {
    let mut b = Browser::new(&server.url);
    let csrf = b.get("/signup").await.hidden("csrf");
    let page = b
        .post(
            "/signup",
            &[
                ("username", name),
                ("email", "someone@example.com"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    b
}

async fn exists(server: &TestServer, ns: &str, name: &str) -> bool {
    server
        .state
        .db
        .repo_by_path(ns, name)
        .await
        .unwrap()
        .is_some()
}

/// Commits one text file to `dataset` as `token` through the REST commit API: the status.
async fn commit_file(
    server: &TestServer,
    token: &str,
    dataset: &str,
    path: &str,
    text: &str,
) -> u16 {
    let api = format!("{}/api/v1/datasets/{dataset}", server.url);
    let r = client().get(&api).bearer_auth(token).send().await.unwrap();
    if r.status() != 200 {
        return r.status().as_u16();
    }
    let v: Value = r.json().await.unwrap();
    let parent = v["revision"]["id"].clone();
    let header = json!({"key": "header", "value": {"summary": "a commit", "parent": parent}});
    let file = json!({"key": "file", "value": {"path": path, "content": text}});
    let r = client()
        .post(format!("{api}/commit"))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(format!("{header}\n{file}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status != 200 {
        eprintln!("{dataset}: {}", r.text().await.unwrap());
    }
    status
}

/// `GET …/raw/{path}` of `dataset` as `token`: the status.
async fn raw(server: &TestServer, token: &str, dataset: &str, path: &str) -> u16 {
    client()
        .get(format!(
            "{}/api/v1/datasets/{dataset}/raw/{path}",
            server.url
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_signed_up_first_cannot_make_the_policy_dataset() {
    let server = TestServer::start_with(Backend::Local, |c| {
        c.policy_dataset = Some("steward/policies".into());
        c.signup = strata_core::config::Signup::Open;
    })
    .await;
    let root = server.user_with("root", true, "*").await;
    // mallory signs up as the namespace of the policy dataset, before anyone made it.
    let mut mallory_browser = sign_up(&server, "steward").await;
    let mallory = strata::cli::admin::create_token(&server.state, "steward", "t", "*", None)
        .await
        .unwrap();

    // REST: neither mallory nor a site admin may make it where mallory could write it.
    for token in [&mallory, &root] {
        let (status, v) = create(&server, token, "steward", "policies").await;
        assert_eq!(status, 403, "{v}");
        assert!(
            v["message"].as_str().unwrap().contains("site admins"),
            "{v}"
        );
    }
    // The home page's form.
    let csrf = mallory_browser.get("/").await.hidden("csrf");
    let page = mallory_browser
        .post(
            "/datasets",
            &[
                ("csrf", &csrf),
                ("namespace", "steward"),
                ("name", "policies"),
                ("visibility", "private"),
            ],
        )
        .await;
    assert_eq!(page.status, 403, "{}", page.text);
    // `strata admin create-repo`, owned by the namespace's user as it is by default.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("STRATA_DATA_DIR", server.dir.path().join("data"))
        .env("STRATA_DATABASE_URL", &server.state.settings.database_url)
        .env("STRATA_JWT_KEY_FILE", server.dir.path().join("jwt.pem"))
        .env("STRATA_POLICY_DATASET", "steward/policies")
        .args(["admin", "create-repo", "steward/policies"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("site admins"), "{said}");
    assert!(!exists(&server, "steward", "policies").await);
    // A dataset of another name is mallory's to make, as ever.
    assert_eq!(create(&server, &mallory, "steward", "notes").await.0, 201);
    let (status, v) = ready(&server).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["checks"]["governance"], "ok");

    // A policy dataset that is someone's drive: made on that user's first visit, refused.
    let server = TestServer::start_with(Backend::Local, |c| {
        c.policy_dataset = Some("dora/drive".into());
        c.signup = strata_core::config::Signup::Open;
    })
    .await;
    let mut dora = sign_up(&server, "dora").await;
    let csrf = dora.get("/drive").await.hidden("csrf");
    let page = dora.post("/drive", &[("csrf", &csrf)]).await;
    assert_ne!(page.status, 303, "the drive was made");
    assert!(page.text.contains("site admins"), "{}", page.text);
    assert!(!exists(&server, "dora", "drive").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organisation_named_first_cannot_make_the_policy_dataset_and_owners_added_later_fail_closed(
) {
    // carol, an engineer, makes the organisation `gov` before anyone made gov/policies.
    let server = TestServer::start_with(Backend::Local, |c| {
        c.policy_dataset = Some("gov/policies".into());
    })
    .await;
    let root = server.user_with("root", true, "*").await;
    let carol = server.user("carol").await;
    let carol_id = server
        .state
        .db
        .user_by_name("carol")
        .await
        .unwrap()
        .unwrap()
        .id;
    server
        .state
        .db
        .set_role(carol_id, "engineer")
        .await
        .unwrap();
    let orgs = format!("{}/api/v1/orgs", server.url);
    let r = client()
        .post(&orgs)
        .bearer_auth(&carol)
        .json(&json!({"name": "gov"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (status, v) = create(&server, &carol, "gov", "policies").await;
    assert_eq!(status, 403, "{v}");
    let (status, v) = create(&server, &root, "gov", "policies").await;
    assert_eq!(status, 403, "{v}");
    assert!(v["message"].as_str().unwrap().contains("carol"), "{v}");
    assert!(!exists(&server, "gov", "policies").await);

    // The organisation is a site admin's, and so is its policy dataset: the policies govern.
    let server = TestServer::start_with(Backend::Local, |c| {
        c.policy_dataset = Some("gov/policies".into());
    })
    .await;
    let root = server.user_with("root", true, "*").await;
    let carol = server.user("carol").await;
    let alice = server.user("alice").await;
    let orgs = format!("{}/api/v1/orgs", server.url);
    let r = client()
        .post(&orgs)
        .bearer_auth(&root)
        .json(&json!({"name": "gov"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(create(&server, &root, "gov", "policies").await.0, 201);
    assert_eq!(
        commit_file(&server, &root, "gov/policies", "never.rego", NEVER).await,
        200
    );
    assert_eq!(create(&server, &alice, "alice", "notes").await.0, 201);
    assert_eq!(
        commit_file(&server, &alice, "alice/notes", "a.txt", "hello").await,
        200
    );
    assert_eq!(raw(&server, &alice, "alice/notes", "a.txt").await, 200);
    assert_eq!(ready(&server).await.0, 200);

    // carol made a member: members read only, nothing changes.
    let member = |role: &'static str| {
        let (url, root) = (format!("{orgs}/gov/members/carol"), root.clone());
        async move {
            let r = client()
                .put(url)
                .bearer_auth(root)
                .json(&json!({ "role": role }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
        }
    };
    member("member").await;
    assert_eq!(
        commit_file(&server, &carol, "gov/policies", "x.rego", NEVER).await,
        403,
        "a member reads, and may not write"
    );
    assert_eq!(ready(&server).await.0, 200);
    // carol made an owner: she could write the policies, so they are not loaded.
    member("owner").await;
    let v = ready_becomes(&server, 503).await;
    let why = v["checks"]["governance"].as_str().unwrap();
    assert!(why.contains("carol") && why.contains("gov/policies"), "{v}");
    assert_eq!(raw(&server, &alice, "alice/notes", "a.txt").await, 403);
    // And her writes are refused all the same.
    assert_eq!(
        commit_file(&server, &carol, "gov/policies", "x.rego", NEVER).await,
        403
    );
    // Back to a member: the policies govern again.
    member("member").await;
    let v = ready_becomes(&server, 200).await;
    assert_eq!(v["checks"]["governance"], "ok");
    assert_eq!(raw(&server, &alice, "alice/notes", "a.txt").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collaborator_or_share_writing_the_policy_dataset_makes_governance_fail_closed() {
    let gov = Gov::start().await;
    let a = Some(gov.alice.as_str());
    let collaborator = |permission: &'static str| {
        let url = format!("{}/steward/policies/collaborators/bob", gov.api);
        let steward = gov.steward.clone();
        async move {
            let r = client()
                .put(url)
                .bearer_auth(steward)
                .json(&json!({ "permission": permission }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
        }
    };
    let (status, text) = gov.table(a, "").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("XXXXXXXXXX"), "the policies are in force");

    // A reader is harmless.
    collaborator("read").await;
    assert_eq!(ready(&gov.server).await.0, 200);
    assert_eq!(gov.table(a, "").await.0, 200);

    // A writer: nothing the policy dataset says is trusted any more.
    collaborator("write").await;
    let v = ready_becomes(&gov.server, 503).await;
    let why = v["checks"]["governance"].as_str().unwrap();
    assert!(
        why.contains("bob") && why.contains("steward/policies"),
        "{v}"
    );
    assert_eq!(gov.table(a, "").await.0, 403);
    let raw = client()
        .get(format!("{}/alice/paysim/raw/paysim.csv", gov.api))
        .bearer_auth(&gov.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 403);
    // bob's writes are refused: a REST commit and a push.
    let allow = json!({"key": "file", "value": {"path": "sample-policy.rego", "content": NEVER}});
    let (status, v) = gov.commit("steward/policies", &gov.bob, vec![allow]).await;
    assert_eq!(status, 403, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("site admins"),
        "{v}"
    );
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    setup_home(&home, &gov.server.url, &gov.bob);
    let url = format!("{}/steward/policies.git", gov.server.url);
    run(git(&home, dir.path()).args(["clone", &url, "p"]));
    let work = dir.path().join("p");
    std::fs::write(work.join("sample-policy.rego"), NEVER).unwrap();
    run(git(&home, &work).args(["commit", "-qam", "no more redaction"]));
    let push = git(&home, &work)
        .args(["push", "origin", "main"])
        .output()
        .unwrap();
    assert!(
        !push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    // The steward takes the write back: the policies, unchanged, govern again.
    collaborator("read").await;
    ready_becomes(&gov.server, 200).await;
    let (status, text) = gov.table(a, "").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("XXXXXXXXXX"), "the policies are in force");

    // A write share of one file is write too.
    let r = client()
        .post(format!("{}/steward/policies/shares", gov.api))
        .bearer_auth(&gov.steward)
        .json(&json!({"path": "lib.rego", "user": "bob", "access": "write"}))
        .send()
        .await
        .unwrap();
    let (status, _, share) = body(r).await;
    assert_eq!(status, 201, "{share}");
    let v = ready_becomes(&gov.server, 503).await;
    assert!(v["checks"]["governance"].as_str().unwrap().contains("bob"));
    assert_eq!(gov.table(a, "").await.0, 403);
    let r = client()
        .delete(format!(
            "{}/steward/policies/shares/{}",
            gov.api, share["id"]
        ))
        .bearer_auth(&gov.steward)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    ready_becomes(&gov.server, 200).await;
    assert_eq!(gov.table(a, "").await.0, 200);
}
