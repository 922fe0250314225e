//! A contract's foreign key is no oracle on values a policy hides: alice's protected `alice/c`
//! has `people.team` refer to `teams.id`, a column Fybrik's sample redacts (tagged PII in a
//! finance dataset). bob, a collaborator, writing a row whose team is real or made up, is refused
//! the same way (403, naming the governed column) where the check would have told them apart
//! (200 against 422 "refers to no row"); alice, its admin (who may untag it), is not refused.
//! Once the column is untagged, the key is checked as
//! before.

use super::*;

fn teams() -> Vec<u8> {
    b"id,name\n10,red\n20,blue\n".to_vec()
}

fn people(id: u32, team: &str) -> Vec<u8> {
    format!("id,team\n{id},{team}\n").into_bytes()
}

/// `alice/c`'s datapackage: `people.team` refers to `teams.id`, tagged PII when `pii`.
fn package(people: &[u8], teams: &[u8], pii: bool) -> Value {
    let resource = |name: &str, data: &[u8], schema: Value| {
        json!({"name": name, "path": format!("{name}.csv"), "format": "csv",
            "bytes": data.len(), "hash": format!("sha256:{}", sha256_hex(data)), "schema": schema})
    };
    json!({"name": "c", "tags": ["finance"], "resources": [
        resource("people", people, json!({
            "fields": [{"name": "id", "type": "integer"}, {"name": "team", "type": "integer"}],
            "foreignKeys": [{"fields": "team", "reference": {"resource": "teams", "fields": "id"}}]
        })),
        resource("teams", teams, json!({"fields": [
            {"name": "id", "type": "integer", "tags": {"PII": pii}},
            {"name": "name", "type": "string"}
        ]})),
    ]})
}

/// PUTs `package` as alice/c's datapackage on its head, as alice.
async fn put(gov: &Gov, package: &Value) -> (u16, Value) {
    let parent = gov.head("alice/c", &gov.alice).await;
    let r = client()
        .put(format!("{}/alice/c", gov.api))
        .bearer_auth(&gov.alice)
        .json(&json!({"datapackage": package, "parent": parent}))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    (status, v)
}

/// bob commits `people.csv` as `data` (uploaded first): status and body.
async fn bob_writes(gov: &Gov, data: &[u8]) -> (u16, Value) {
    upload(&gov.server, "alice/c", &gov.bob, data).await;
    let line = json!({"key": "lfsFile",
        "value": {"path": "people.csv", "oid": sha256_hex(data), "size": data.len()}});
    gov.commit("alice/c", &gov.bob, vec![line]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_key_into_a_governed_column_tells_nothing_of_its_values() {
    let gov = Gov::start().await;
    // The sample's read rule only: what is written is stored as written.
    gov.reads_only().await;
    gov.create("alice", "c", &gov.alice.clone(), "private")
        .await;
    let first = people(1, "10");
    upload(&gov.server, "alice/c", &gov.alice, &teams()).await;
    upload(&gov.server, "alice/c", &gov.alice, &first).await;
    let (status, v) = put(&gov, &package(&first, &teams(), true)).await;
    assert_eq!(status, 200, "{v}");
    let r = client()
        .put(format!("{}/alice/c/collaborators/bob", gov.api))
        .bearer_auth(&gov.alice)
        .json(&json!({"permission": "write"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = client()
        .put(format!("{}/alice/c/protection", gov.api))
        .bearer_auth(&gov.alice)
        .json(&json!({"default_branch": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // A team that is there and one that is not: the same answer, naming the governed column.
    let head = gov.head("alice/c", &gov.alice).await;
    for team in ["10", "99"] {
        let (status, v) = bob_writes(&gov, &people(2, team)).await;
        assert_eq!(status, 403, "team {team}: {v}");
        let message = v["message"].as_str().unwrap();
        assert!(
            message.contains("refers to \"teams\" (id)") && message.contains("keeps from you"),
            "{v}"
        );
        assert!(!message.contains("refers to no row"), "{v}");
    }
    assert_eq!(gov.head("alice/c", &gov.alice).await, head);

    // Untagged by its admin, the column is read raw: the key is checked as any other.
    let (status, v) = put(&gov, &package(&first, &teams(), false)).await;
    assert_eq!(status, 200, "{v}");
    // (Other rows than before: each object is uploaded once.)
    let (status, v) = bob_writes(&gov, &people(3, "99")).await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("refers to no row"),
        "{v}"
    );
    let (status, v) = bob_writes(&gov, &people(3, "10")).await;
    assert_eq!(status, 200, "{v}");
}
