//! Managing shares and recipients, hostile: who may, what names and values are refused, a share
//! or table taken away seen by the recipient's next call, pages of a list and their tokens, an
//! address allow-list.

use serde_json::{json, Value};

use super::post;
use crate::common::*;

async fn get(server: &TestServer, token: &str, path: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{}/{path}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    (status, v)
}

async fn delete(server: &TestServer, token: &str, path: &str) -> u16 {
    client()
        .delete(format!("{}/api/v1/{path}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn shares_and_recipients_refuse_what_they_must_and_take_effect_at_once() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (status, v) = post(
        &server,
        &alice,
        "datasets",
        json!({"namespace": "alice", "name": "t", "visibility": "private"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    crate::tables::put_resources(
        &server,
        &alice,
        &[("people", "people.csv", crate::tables::people().into_bytes())],
        json!({}),
    )
    .await;
    let shares = "namespaces/alice/delta-shares";
    for name in ["a.b", "", "a b", "x#y"] {
        let (status, v) = post(&server, &alice, shares, json!({"name": name})).await;
        assert_eq!(status, 422, "{name:?}: {v}");
    }
    let (status, v) = post(&server, &alice, shares, json!({"name": "s"})).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        post(&server, &alice, shares, json!({"name": "S"})).await.0,
        409
    );
    assert_eq!(
        post(&server, &bob, shares, json!({"name": "b"})).await.0,
        403
    );
    assert_eq!(
        post(
            &server,
            &alice,
            "namespaces/nobody/delta-shares",
            json!({"name": "b"})
        )
        .await
        .0,
        404
    );
    for t in ["one", "two", "three"] {
        let table = json!({"schema": "people", "name": t, "dataset": "t", "resource": "people"});
        let (status, v) = post(&server, &alice, &format!("{shares}/s/tables"), table).await;
        assert_eq!(status, 201, "{v}");
    }
    // Only the namespace's own datasets, through their admin right.
    let (status, _) = post(
        &server,
        &bob,
        "namespaces/bob/delta-shares",
        json!({"name": "b"}),
    )
    .await;
    assert_eq!(status, 201);
    let theirs = json!({"schema": "p", "name": "x", "dataset": "t", "resource": "people"});
    let (status, v) = post(
        &server,
        &bob,
        "namespaces/bob/delta-shares/b/tables",
        theirs,
    )
    .await;
    assert_eq!(status, 404, "{v}");

    let recipients = "namespaces/alice/recipients";
    for (bad, why) in [
        (json!({"name": "r", "shares": ["nope"]}), "nope"),
        (json!({"name": "r", "user": "ghost"}), "ghost"),
        (json!({"name": "r", "team": "noteam"}), "noteam"),
        (
            json!({"name": "r", "ip_allow": ["not-an-address"]}),
            "not-an-address",
        ),
        (
            json!({"name": "r", "expires_at": "2001-01-01T00:00:00Z"}),
            "future",
        ),
        (json!({"name": "r.x"}), "recipient"),
    ] {
        let (status, v) = post(&server, &alice, recipients, bad).await;
        assert_eq!(status, 422, "{v}");
        assert!(v["message"].as_str().unwrap().contains(why), "{v}");
    }
    // Bob cannot hand out alice's share: his recipients read his namespace's only.
    let (status, v) = post(
        &server,
        &bob,
        "namespaces/bob/recipients",
        json!({"name": "r", "shares": ["s"]}),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(
        post(&server, &bob, recipients, json!({"name": "r"}))
            .await
            .0,
        403
    );
    let (status, v) = post(
        &server,
        &alice,
        recipients,
        json!({"name": "r", "shares": ["s"], "user": "bob"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["recipient"]["stands_for"], "bob");
    assert_eq!(
        post(&server, &alice, recipients, json!({"name": "R"}))
            .await
            .0,
        409
    );
    let token = v["profile"]["bearerToken"].as_str().unwrap().to_owned();
    let (status, list) = get(&server, &alice, &format!("api/v1/{recipients}")).await;
    assert_eq!(status, 200);
    assert!(
        !list.to_string().contains(&token),
        "a token is shown once only"
    );
    assert_eq!(
        get(&server, &bob, &format!("api/v1/{recipients}")).await.0,
        403
    );

    // Pages: two, then one; a token is its list's and nobody else's.
    let ds = "api/delta-sharing/shares/s";
    let (status, first) = get(&server, &token, &format!("{ds}/all-tables?maxResults=2")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let next = first["nextPageToken"].as_str().unwrap().to_owned();
    let (status, second) = get(
        &server,
        &token,
        &format!("{ds}/all-tables?maxResults=2&pageToken={next}"),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second.get("nextPageToken").is_none());
    let (status, v) = get(
        &server,
        &token,
        &format!("{ds}/schemas/people/tables?pageToken={next}"),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        get(&server, &token, &format!("{ds}/all-tables?maxResults=-1"))
            .await
            .0,
        400
    );

    // A table or a share taken away: the next call finds nothing.
    assert_eq!(
        delete(&server, &alice, &format!("{shares}/s/tables/people/two")).await,
        204
    );
    let (_, v) = get(&server, &token, &format!("{ds}/all-tables")).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 2, "{v}");
    let (status, v) = get(
        &server,
        &token,
        &format!("{ds}/schemas/people/tables/two/version"),
    )
    .await;
    assert_eq!(status, 404, "{v}");
    let r = client()
        .patch(format!("{}/api/v1/{recipients}/r", server.url))
        .bearer_auth(&alice)
        .json(&json!({"shares": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, v) = get(&server, &token, "api/delta-sharing/shares").await;
    assert_eq!(status, 200);
    assert_eq!(v["items"], json!([]));
    assert_eq!(
        get(&server, &token, &format!("{ds}/all-tables")).await.0,
        404
    );

    // An allow-list: calls from elsewhere are refused, with the protocol's shape.
    let (status, v) = post(
        &server,
        &alice,
        recipients,
        json!({"name": "far", "shares": ["s"], "ip_allow": ["203.0.113.0/24"]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let far = v["profile"]["bearerToken"].as_str().unwrap().to_owned();
    let (status, v) = get(&server, &far, "api/delta-sharing/shares").await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["errorCode"], "PERMISSION_DENIED");
    let (status, v) = post(
        &server,
        &alice,
        recipients,
        json!({"name": "near", "shares": ["s"], "ip_allow": ["127.0.0.1", "::1"]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let near = v["profile"]["bearerToken"].as_str().unwrap().to_owned();
    assert_eq!(get(&server, &near, "api/delta-sharing/shares").await.0, 200);

    // A share removed; a revoked recipient is not rotated back to life.
    assert_eq!(delete(&server, &alice, &format!("{shares}/s")).await, 204);
    let (status, v) = get(&server, &near, "api/delta-sharing/shares").await;
    assert_eq!(status, 200);
    assert_eq!(v["items"], json!([]));
    assert_eq!(
        delete(&server, &alice, &format!("{recipients}/near")).await,
        204
    );
    let (status, _) = post(
        &server,
        &alice,
        &format!("{recipients}/near/rotate"),
        json!({}),
    )
    .await;
    assert_eq!(status, 409);
}
