//! Deleting an account destroys its app storage (User Private Clouds): bob runs the echo app, so
//! he has a working directory and a token file; deleting his account (after the dataset of his
//! own he is told to delete first) stops the instance and removes both, hands the dataset he made
//! in an organisation to its other owner, and ends his tokens. Refused: another user's deletion
//! by a non-admin, a narrow token, a wrong confirmation, anonymous callers, the last site admin,
//! an organisation's only owner. A new account of the same name inherits nothing. `strata admin
//! delete-user` does the same from the command line, the server stopping the instance at its
//! next look.

use serde_json::{json, Value};

use super::{echo_manifest, eventually, expect_error, Lab};
use crate::common::*;

async fn delete(lab: &Lab, token: Option<&str>, path: &str, confirm: &str) -> reqwest::Response {
    let mut r = client()
        .delete(lab.url(path))
        .json(&json!({ "confirm": confirm }));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

async fn call(lab: &Lab, token: &str, method: reqwest::Method, path: &str, body: Value) -> u16 {
    client()
        .request(method, lab.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn deleting_an_account_destroys_its_app_storage_and_leaves_nothing_ownerless() {
    let lab = Lab::start(|_| {}).await;
    assert_eq!(lab.add(&echo_manifest("echo", "", "")).await.0, 201);
    let (status, v) = lab.install(&lab.bob, "echo", &["dataset:*:read"]).await;
    assert_eq!(status, 200, "{v}");
    let r = lab.get_ready(&lab.bob, "/apps/bob/echo/").await;
    assert_eq!(r.status(), 200);
    let data = lab.server.dir.path().join("data");
    let home = data.join("apps/bob/echo");
    let token_file = data.join("app-tokens/bob/echo/token");
    assert!(
        home.join("starts.log").exists(),
        "the app's working directory"
    );
    assert!(token_file.exists(), "the app's token file");

    // acme: the steward and bob own it; bob made acme/shared there, and bob/own is his.
    let post = reqwest::Method::POST;
    let put = reqwest::Method::PUT;
    assert_eq!(
        call(
            &lab,
            &lab.steward,
            post.clone(),
            "/api/v1/orgs",
            json!({"name": "acme"})
        )
        .await,
        201
    );
    assert_eq!(
        call(
            &lab,
            &lab.steward,
            put,
            "/api/v1/orgs/acme/members/bob",
            json!({"role": "owner"})
        )
        .await,
        204
    );
    for (ns, name) in [("acme", "shared"), ("bob", "own")] {
        let body = json!({"namespace": ns, "name": name, "visibility": "private"});
        assert_eq!(
            call(&lab, &lab.bob, post.clone(), "/api/v1/datasets", body).await,
            201,
            "{ns}/{name}"
        );
    }
    // alice (an engineer) owns solo alone.
    assert_eq!(
        call(
            &lab,
            &lab.steward,
            reqwest::Method::PUT,
            "/api/v1/users/alice/role",
            json!({"role": "engineer"})
        )
        .await,
        204
    );
    assert_eq!(
        call(
            &lab,
            &lab.alice,
            post.clone(),
            "/api/v1/orgs",
            json!({"name": "solo"})
        )
        .await,
        201
    );

    // What is refused, and deletes nothing.
    expect_error(
        delete(&lab, Some(&lab.alice), "/api/v1/users/bob", "bob").await,
        403,
        "site admins",
    )
    .await;
    let narrow = strata::cli::admin::create_token(
        &lab.server.state,
        "bob",
        "narrow",
        "dataset:*:read",
        None,
    )
    .await
    .unwrap();
    expect_error(
        delete(&lab, Some(&narrow), "/api/v1/user", "bob").await,
        403,
        "*",
    )
    .await;
    expect_error(delete(&lab, None, "/api/v1/user", "bob").await, 401, "").await;
    expect_error(
        delete(&lab, Some(&lab.bob), "/api/v1/user", "Bob").await,
        422,
        "nothing was deleted",
    )
    .await;
    expect_error(
        delete(&lab, Some(&lab.bob), "/api/v1/user", "bob").await,
        409,
        "bob/own",
    )
    .await;
    expect_error(
        delete(&lab, Some(&lab.alice), "/api/v1/user", "alice").await,
        409,
        "solo",
    )
    .await;
    expect_error(
        delete(&lab, Some(&lab.steward), "/api/v1/user", "steward").await,
        409,
        "last site admin",
    )
    .await;
    expect_error(
        delete(&lab, Some(&lab.steward), "/api/v1/users/nobody", "nobody").await,
        404,
        "nobody",
    )
    .await;
    assert!(
        home.exists() && token_file.exists(),
        "a refusal destroyed storage"
    );
    assert_eq!(lab.get(&lab.bob, "/apps/bob/echo/").await.status(), 200);

    // bob deletes his dataset, then his account.
    let r = client()
        .delete(lab.url("/api/v1/datasets/bob/own"))
        .bearer_auth(&lab.bob)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = delete(&lab, Some(&lab.bob), "/api/v1/user", "bob").await;
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["apps"], json!(["echo"]), "{v}");
    assert_eq!(v["handed_over"], json!([["acme/shared", "steward"]]), "{v}");
    assert_eq!(v["oauth_clients"], json!([]), "{v}");
    eventually("bob's app storage destroyed", || async {
        !home.exists() && !token_file.exists()
    })
    .await;
    assert!(!data.join("app-tokens/bob/echo").exists());
    let r = client()
        .get(lab.url("/api/v1/user/apps"))
        .bearer_auth(&lab.bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "bob's token outlived him");
    let r = client()
        .get(lab.url("/api/v1/datasets/acme/shared"))
        .bearer_auth(&lab.steward)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "acme/shared went with bob");
    let audit: Value = client()
        .get(lab.url("/api/v1/audit?limit=50"))
        .bearer_auth(&lab.steward)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "account.delete" && e["actor"] == "bob"),
        "{audit}"
    );

    // A new bob inherits nothing: no install, no instance, no storage.
    let bob = lab.server.user("bob").await;
    let r = client()
        .get(lab.url("/api/v1/user/apps"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
    assert!(
        v.as_array().is_some_and(|a| a.is_empty())
            || v["apps"].as_array().is_some_and(|a| a.is_empty()),
        "{v}"
    );
    assert!(!home.exists());

    // The command line: carol's account and her app storage.
    let carol = lab.server.user("carol").await;
    assert_eq!(
        lab.install(&carol, "echo", &["dataset:*:read"]).await.0,
        200
    );
    assert_eq!(
        lab.get_ready(&carol, "/apps/carol/echo/").await.status(),
        200
    );
    let carols = data.join("apps/carol/echo");
    assert!(carols.exists());
    let strata = |confirm: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("STRATA_DATA_DIR", &data)
            .env(
                "STRATA_DATABASE_URL",
                &lab.server.state.settings.database_url,
            )
            .env("STRATA_JWT_KEY_FILE", lab.server.dir.path().join("jwt.pem"))
            .args(["admin", "delete-user", "carol", "--confirm", confirm])
            .output()
            .unwrap()
    };
    let out = strata("carl");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was deleted"));
    let out = strata("carol");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("deleted carol"), "{said}");
    assert!(
        !carols.exists(),
        "the command line left carol's app storage"
    );
    // The server's instance of hers stops at its next look (its install is gone).
    eventually("carol's instance stopped", || async {
        !lab.server
            .state
            .apps
            .supervisor
            .list()
            .iter()
            .any(|i| i.user == "carol")
    })
    .await;
    let r = client()
        .get(lab.url("/api/v1/user/apps"))
        .bearer_auth(&carol)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
