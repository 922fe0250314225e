//! The locking API: create, list with paging and filters, verify, unlock and force.

use super::*;

#[tokio::test]
async fn locks_api() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let admin = server.user_with("root", true, "*").await;
    let repo = server.repo("alice/r", Visibility::Public).await;
    // Bob may write: give him a JWT for the repository.
    let bob_jwt = server.jwt("bob", "dataset:alice/r:write", 600);
    let _ = bob;
    let locks = format!("{}/locks", server.lfs_url("alice/r"));

    let (status, _, v) = body(
        lfs_post(
            &locks,
            Some(&alice),
            &json!({"path": "data/a.bin", "ref": {"name": "refs/heads/main"}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_schema("http-lock-create-response-schema.json", &v);
    let id = v["lock"]["id"].as_str().unwrap().to_owned();
    let (status, _, v) =
        body(lfs_post(&locks, Some(&bob_jwt), &json!({"path": "data/a.bin"})).await).await;
    assert_eq!(status, 409);
    assert_eq!(v["lock"]["id"], id.as_str());
    assert!(v["message"].is_string());
    for bad in ["/etc/passwd", "../x", "a/../../b", ""] {
        let (status, _, _) =
            body(lfs_post(&locks, Some(&alice), &json!({"path": bad})).await).await;
        assert_eq!(status, 422, "{bad}");
    }
    for i in 0..5 {
        assert_eq!(
            lfs_post(
                &locks,
                Some(&bob_jwt),
                &json!({"path": format!("b/{i}.bin")})
            )
            .await
            .status(),
            201
        );
    }
    // Listing with paging, filters; anonymous may list on a public repository.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let resp = client()
            .get(format!("{locks}?limit=2&cursor={cursor}"))
            .header("accept", LFS)
            .send()
            .await
            .unwrap();
        let (status, _, v) = body(resp).await;
        assert_eq!(status, 200, "{v}");
        assert_schema("http-lock-list-response-schema.json", &v);
        seen.extend(
            v["locks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["path"].as_str().unwrap().to_owned()),
        );
        match v["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    let (_, _, v) = body(
        client()
            .get(format!("{locks}?path=data/a.bin"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["locks"].as_array().unwrap().len(), 1);
    let (_, _, v) = body(
        client()
            .get(format!("{locks}?id={id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["locks"][0]["owner"]["name"], "alice");
    let (status, _, _) = body(
        client()
            .get(format!("{locks}?limit=0"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);

    // Verify: ours and theirs.
    let (status, _, v) =
        body(lfs_post(&format!("{locks}/verify"), Some(&alice), &json!({})).await).await;
    assert_eq!(status, 200);
    assert_schema("http-lock-verify-response-schema.json", &v);
    assert_eq!(v["ours"].as_array().unwrap().len(), 1);
    assert_eq!(v["theirs"].as_array().unwrap().len(), 5);
    assert_eq!(
        lfs_post(&format!("{locks}/verify"), None, &json!({}))
            .await
            .status(),
        401
    );

    // Unlock: not someone else's without force; force needs admin on the repository.
    let unlock = format!("{locks}/{id}/unlock");
    assert_eq!(
        lfs_post(&unlock, Some(&bob_jwt), &json!({})).await.status(),
        403
    );
    assert_eq!(
        lfs_post(&unlock, Some(&bob_jwt), &json!({"force": true}))
            .await
            .status(),
        403
    );
    let (status, _, v) = body(lfs_post(&unlock, Some(&admin), &json!({"force": true})).await).await;
    assert_eq!(status, 200, "{v}");
    assert_schema("http-lock-create-response-schema.json", &v);
    assert_eq!(
        lfs_post(&unlock, Some(&alice), &json!({})).await.status(),
        404
    );
    let (_, _, v) = body(
        client()
            .get(format!("{locks}?limit=1&cursor=1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let bob_lock = v["locks"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, _) = body(
        lfs_post(
            &format!("{locks}/{bob_lock}/unlock"),
            Some(&bob_jwt),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(repo.path(), "alice/r");
}
