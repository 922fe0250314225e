//! Renaming a dataset over REST, in process: every address under the old name answers `307` to
//! the same address under the new one (query kept), for whoever may see the dataset and nobody
//! else; the refusals (a taken name, a bad one, a drive, a stranger) change nothing; chains of
//! renames lead to the last name, and a dataset made under an old name takes it back.

use axum::http::Method;
use serde_json::json;
use strata_core::db::Visibility;

use super::call;
use crate::common::api::{api, unique};

#[tokio::test]
async fn the_old_name_leads_to_the_new_for_those_who_see_it() {
    let api = api().await;
    let alice = unique("alice");
    let token = api.user(&alice).await;
    let (old, new, last) = (unique("old"), unique("new"), unique("last"));
    let (s, v) = call(
        api,
        &token,
        Method::POST,
        "/api/v1/datasets",
        Some(json!({"namespace": alice, "name": old})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let rename = |from: &str| format!("/api/v1/datasets/{alice}/{from}/rename");
    let (s, v) = call(
        api,
        &token,
        Method::POST,
        &rename(&old),
        Some(json!({"name": new})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], json!(new));

    // The old address answers with the new one, query and tail kept, and the new one works.
    let (s, h, v) = api
        .get(format!("/api/v1/datasets/{alice}/{old}/tree?rev=main"))
        .bearer(&token)
        .send()
        .await
        .parts();
    assert_eq!(s, 307, "{v}");
    assert_eq!(
        h["location"],
        format!("/api/v1/datasets/{alice}/{new}/tree?rev=main").as_str()
    );
    assert!(v["request_id"].is_string() && v["message"].as_str().unwrap().contains(&new));
    let (s, _) = call(
        api,
        &token,
        Method::GET,
        &format!("/api/v1/datasets/{alice}/{new}"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    // The LFS batch API and the git address too (pages: `pages::round_two`).
    let batch = json!({"operation": "download", "objects": []});
    let r = api
        .lfs_post(
            &api.batch_url(&format!("{alice}/{old}")),
            Some(&token),
            &batch,
        )
        .await;
    let (status, h, _) = r.parts();
    assert_eq!(status, 307);
    assert_eq!(
        h["location"],
        api.batch_url(&format!("{alice}/{new}")).as_str()
    );
    // git itself is served at the old address (it follows a redirect only on its first request).
    let r = api
        .get(format!(
            "/{alice}/{old}.git/info/refs?service=git-upload-pack"
        ))
        .basic(&alice, &token)
        .send()
        .await;
    assert_eq!(r.status, 200);

    // A private dataset's old name tells a stranger nothing; an anonymous caller is asked to
    // sign in, as anywhere.
    let bob = api.user(&unique("bob")).await;
    let (s, v) = call(
        api,
        &bob,
        Method::GET,
        &format!("/api/v1/datasets/{alice}/{old}"),
        None,
    )
    .await;
    assert_eq!(s, 404, "{v}");
    assert!(!v.to_string().contains(&new), "{v}");
    let r = api
        .get(format!("/api/v1/datasets/{alice}/{old}"))
        .send()
        .await;
    assert_eq!(r.status, 401);
    // A SQL query by the old name says the new one to the owner.
    let (s, v) = call(
        api,
        &token,
        Method::POST,
        "/api/v1/sql",
        Some(json!({"query": format!("SELECT * FROM \"{alice}/{old}\".\"x\"")})),
    )
    .await;
    assert_eq!(s, 404, "{v}");
    assert!(v["message"].as_str().unwrap().contains(&new), "{v}");

    // Refusals change nothing.
    let other = unique("other");
    api.repo(&format!("{alice}/{other}"), Visibility::Private)
        .await;
    for (body, status) in [
        (json!({"name": other}), 409),
        (json!({"name": other.to_uppercase()}), 409),
        (json!({"name": "a/b"}), 422),
        (json!({"name": ".hidden"}), 422),
        (json!({"name": "x.git"}), 422),
        (json!({"name": "drive"}), 422),
        (json!({"name": ""}), 422),
        (json!({"name": 5}), 422),
        (json!({}), 422),
    ] {
        let (s, v) = call(api, &token, Method::POST, &rename(&new), Some(body.clone())).await;
        assert_eq!(s, status, "{body}: {v}");
    }
    let (s, _) = call(
        api,
        &bob,
        Method::POST,
        &rename(&new),
        Some(json!({"name": "mine"})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        api,
        &token,
        Method::GET,
        &format!("/api/v1/datasets/{alice}/{new}"),
        None,
    )
    .await;
    assert_eq!(s, 200, "still under its name");

    // Renamed again: both old names lead to the last.
    let (s, _) = call(
        api,
        &token,
        Method::POST,
        &rename(&new),
        Some(json!({"name": last})),
    )
    .await;
    assert_eq!(s, 200);
    for gone in [&old, &new] {
        let (_, h, _) = api
            .get(format!("/api/v1/datasets/{alice}/{gone}"))
            .bearer(&token)
            .send()
            .await
            .parts();
        assert_eq!(
            h["location"],
            format!("/api/v1/datasets/{alice}/{last}").as_str()
        );
    }
    // A dataset made under an old name takes it back.
    let (s, _) = call(
        api,
        &token,
        Method::POST,
        "/api/v1/datasets",
        Some(json!({"namespace": alice, "name": old})),
    )
    .await;
    assert_eq!(s, 201);
    let (s, v) = call(
        api,
        &token,
        Method::GET,
        &format!("/api/v1/datasets/{alice}/{old}"),
        None,
    )
    .await;
    assert_eq!((s, v["name"].as_str()), (200, Some(old.as_str())));
}

/// A new spelling of the same name moves the repository too (git reads it under the new one);
/// an outside collaborator who administers the dataset may not rename it (names in a namespace
/// are for those who make datasets there); nobody renames onto another dataset's old name.
#[tokio::test]
async fn a_respelled_name_works_and_names_stay_with_their_namespace() {
    let api = api().await;
    let alice = unique("alice");
    let token = api.user(&alice).await;
    let (data, other) = (unique("data"), unique("other"));
    for name in [&data, &other] {
        let (s, v) = call(
            api,
            &token,
            Method::POST,
            "/api/v1/datasets",
            Some(json!({"namespace": alice, "name": name})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    let upper = data.to_uppercase();
    let (s, v) = call(
        api,
        &token,
        Method::POST,
        &format!("/api/v1/datasets/{alice}/{data}/rename"),
        Some(json!({"name": upper})),
    )
    .await;
    assert_eq!((s, v["name"].as_str()), (200, Some(upper.as_str())), "{v}");
    let (s, v) = call(
        api,
        &token,
        Method::GET,
        &format!("/api/v1/datasets/{alice}/{upper}/tree"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let r = api
        .get(format!(
            "/{alice}/{upper}.git/info/refs?service=git-upload-pack"
        ))
        .basic(&alice, &token)
        .send()
        .await;
    assert_eq!(r.status, 200);

    // bob administers it, but makes no datasets in alice's namespace.
    let bob_name = unique("bob");
    let bob = api.user(&bob_name).await;
    let (s, _) = call(
        api,
        &token,
        Method::PUT,
        &format!("/api/v1/datasets/{alice}/{upper}/collaborators/{bob_name}"),
        Some(json!({"permission": "admin"})),
    )
    .await;
    assert_eq!(s, 204);
    let (s, v) = call(
        api,
        &bob,
        Method::POST,
        &format!("/api/v1/datasets/{alice}/{upper}/rename"),
        Some(json!({"name": "bobs"})),
    )
    .await;
    assert_eq!(s, 403, "{v}");

    // `other` renamed away leaves its old name leading to it: not a name to take.
    let moved = unique("moved");
    let rename = |from: &str| format!("/api/v1/datasets/{alice}/{from}/rename");
    let (s, _) = call(
        api,
        &token,
        Method::POST,
        &rename(&other),
        Some(json!({"name": moved})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = call(
        api,
        &token,
        Method::POST,
        &rename(&upper),
        Some(json!({"name": other})),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("old name of another dataset"),
        "{v}"
    );
}
