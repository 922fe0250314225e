//! Signed transfer URLs in process: tampered and expired signatures, link isolation between
//! datasets, URLs dying with their dataset (moved from `lfs/transfers.rs`), and expired
//! `multipart-basic` part and commit URLs (from `lfs/multipart.rs`).

use serde_json::{json, Value};
use strata_core::db::Visibility;
use strata_lfs::Oid;

use crate::common::api::{api, unique, Api};
use crate::common::{assert_error_body, assert_schema, sha256_hex};

async fn download_href(
    api: &'static Api,
    repo: &str,
    token: Option<&str>,
    oid: &Oid,
    size: usize,
) -> Value {
    let req = json!({"operation": "download", "objects": [{"oid": oid.to_string(), "size": size}]});
    let (status, _, v) = api
        .lfs_post(&api.batch_url(repo), token, &req)
        .await
        .parts();
    assert_eq!(status, 200, "{v}");
    assert_schema("http-batch-response-schema.json", &v);
    v["objects"][0].clone()
}

/// A URL signed with the shared state's own key.
fn url_signer(api: &Api) -> strata_lfs::signing::UrlSigner {
    strata_core::auth::keys::url_signer(&[], &api.dir.path().join("data/keys/url-signing.key"))
        .unwrap()
}

#[tokio::test]
async fn signed_urls_refuse_tampering_and_expiry() {
    let api = api().await;
    let user = unique("alice");
    let alice = api.user(&user).await;
    let repo = format!("{user}/r");
    api.repo(&repo, Visibility::Private).await;
    api.repo(&format!("{user}/other"), Visibility::Private)
        .await;
    let data = b"signed content".to_vec();
    let oid = api.upload(&repo, &alice, &data).await;
    let obj = download_href(api, &repo, Some(&alice), &oid, data.len()).await;
    let href = obj["actions"]["download"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(api.get(&href).send().await.status, 200);

    let other_oid = sha256_hex(b"other");
    let tampered = [
        href.replace("sig=", "sig=00"),
        href.replace(&format!("size={}", data.len()), "size=999"),
        href.replace(&format!("/{user}/r/"), &format!("/{user}/other/")),
        href.replace(&oid.to_string(), &other_oid),
        href.replace("kid=", "kid=x"),
        href.replace("exp=", "exp=9"),
        href.replace("ds=", "ds=9"),
        href.split('?').next().unwrap().to_owned(),
        href.replace(&oid.to_string(), "..%2F..%2Fkeys%2Fjwt-rs256.pem"),
    ];
    for bad in tampered {
        let (status, headers, v) = api.get(&bad).send().await.parts();
        assert!(status == 403 || status == 404, "{bad}: {status} {v}");
        if status == 403 {
            assert_error_body(status, &headers, &v, 403);
        }
    }
    // A download URL does not allow an upload.
    let status = api.put(&href).body(data.clone()).send().await.status;
    assert_eq!(status, 403);

    // An expired signature, made with the server's own key.
    let expired = {
        use strata_lfs::signing::{Grant, SignedOp};
        let exp = strata_core::db::now() - 10;
        let signer = url_signer(api);
        let ds: i64 = href
            .split("ds=")
            .nth(1)
            .and_then(|v| v.split('&').next())
            .unwrap()
            .parse()
            .unwrap();
        let sig = signer.sign(&Grant {
            op: SignedOp::Download,
            repo: &repo,
            dataset: ds,
            oid,
            size: data.len() as u64,
            expires: exp,
        });
        format!(
            "/_transfer/{repo}/{oid}?size={}&ds={ds}&exp={exp}&kid={}&sig={}",
            data.len(),
            sig.kid,
            sig.sig
        )
    };
    let (status, _, v) = api.get(&expired).send().await.parts();
    assert_eq!(status, 403);
    assert!(v["message"].as_str().unwrap().contains("expired"), "{v}");
}

#[tokio::test]
async fn knowing_an_oid_is_not_enough() {
    let api = api().await;
    let (alice_name, mallory_name) = (unique("alice"), unique("mallory"));
    let alice = api.user(&alice_name).await;
    let mallory = api.user(&mallory_name).await;
    let (secret, loot) = (
        format!("{alice_name}/secret"),
        format!("{mallory_name}/loot"),
    );
    api.repo(&secret, Visibility::Private).await;
    api.repo(&loot, Visibility::Private).await;
    let data = b"alice's secret data".to_vec();
    let oid = api.upload(&secret, &alice, &data).await;

    // Mallory knows the oid and size but her repository has no link to them.
    let obj = download_href(api, &loot, Some(&mallory), &oid, data.len()).await;
    assert_eq!(obj["error"]["code"], 404);
    // Asking to upload gets an upload action, not a free link.
    let req =
        json!({"operation": "upload", "objects": [{"oid": oid.to_string(), "size": data.len()}]});
    let (_, _, v) = api
        .lfs_post(&api.batch_url(&loot), Some(&mallory), &req)
        .await
        .parts();
    let actions = &v["objects"][0]["actions"];
    assert!(actions["upload"]["href"].is_string(), "{v}");
    // Verifying without uploading does not link it either.
    let verify = json!({"oid": oid.to_string(), "size": data.len()});
    assert_eq!(
        api.lfs_post(
            &format!("{}/verify", api.lfs_url(&loot)),
            Some(&mallory),
            &verify
        )
        .await
        .status,
        404
    );
    let obj = download_href(api, &loot, Some(&mallory), &oid, data.len()).await;
    assert_eq!(obj["error"]["code"], 404);
    // A wrong guess at the content fails; only the real bytes link it.
    let put = api
        .put(actions["upload"]["href"].as_str().unwrap())
        .body(b"alice's secret datA".to_vec())
        .send()
        .await;
    assert_eq!(put.status, 422);
    let links = api
        .on(move |s| async move { s.db.object_link_count(&oid).await.unwrap() })
        .await;
    assert_eq!(links, (true, 1));
}

#[tokio::test]
async fn signed_urls_die_with_their_dataset() {
    let api = api().await;
    let user = unique("alice");
    let alice = api.user(&user).await;
    let path = format!("{user}/r");
    let repo = api.repo(&path, Visibility::Private).await;
    let data = b"first life".to_vec();
    let oid = api.upload(&path, &alice, &data).await;
    let get = download_href(api, &path, Some(&alice), &oid, data.len()).await["actions"]
        ["download"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let later = b"uploaded after the dataset was made again".to_vec();
    let later_oid = Oid::of(&later);
    let req = json!({"operation": "upload", "objects": [{"oid": later_oid.to_string(), "size": later.len()}]});
    let (_, _, v) = api
        .lfs_post(&api.batch_url(&path), Some(&alice), &req)
        .await
        .parts();
    let put = v["objects"][0]["actions"]["upload"]["href"]
        .as_str()
        .unwrap()
        .to_owned();

    // The dataset is deleted and another made under the same name.
    api.on(move |s| async move { strata_core::datasets::delete(&s, &repo).await.unwrap() })
        .await;
    api.repo(&path, Visibility::Private).await;

    // Neither URL works for the new dataset: no read of the old bytes, no link into it.
    let (status, headers, v) = api.get(&get).send().await.parts();
    assert_error_body(status, &headers, &v, 404);
    let (status, headers, v) = api.put(&put).body(later.clone()).send().await.parts();
    assert_error_body(status, &headers, &v, 404);
    for (oid, len) in [(oid, data.len()), (later_oid, later.len())] {
        let obj = download_href(api, &path, Some(&alice), &oid, len).await;
        assert_eq!(obj["error"]["code"], 404, "{obj}");
    }
}

/// Part and commit URLs signed with strata's own key but expired are refused with a 403 that says
/// so (the client then asks the batch API again).
#[tokio::test]
async fn expired_part_and_commit_urls_are_refused() {
    use strata_lfs::signing::{Grant, SignedOp};
    let api = api().await;
    let user = unique("alice");
    let token = api.user_with(&user, true, "*").await;
    let path = format!("{user}/big");
    let repo = api.repo(&path, Visibility::Private).await.id;
    let data: Vec<u8> = (0..1000).map(|i| (i * 31 % 251) as u8).collect();
    let oid = sha256_hex(&data);
    let signer = url_signer(api);
    let url = |op: SignedOp, tail: &str, expires: i64| {
        let sig = signer.sign(&Grant {
            op,
            repo: &path,
            dataset: repo,
            oid: oid.parse().unwrap(),
            size: 1000,
            expires,
        });
        format!(
            "/_transfer/{path}/{oid}/{tail}?size=1000&ds={repo}&exp={expires}&kid={}&sig={}",
            sig.kid, sig.sig
        )
    };
    let post = |href: String| async move {
        let r = api.post(href).send().await;
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    };
    let past = strata_core::db::now() - 10;
    let r = api
        .put(url(SignedOp::Part(1), "parts/1", past))
        .body(data.clone())
        .send()
        .await;
    assert_eq!(r.status, 403);
    let v = r.json();
    assert!(v["message"].as_str().unwrap().contains("expired"), "{v}");
    let (status, v) = post(url(SignedOp::Commit, "commit", past)).await;
    assert_eq!(status, 403);
    assert!(v["message"].as_str().unwrap().contains("expired"), "{v}");
    // The same URLs, not yet expired, work: the key and the layout above are the real ones.
    let future = strata_core::db::now() + 600;
    let put = api
        .put(url(SignedOp::Part(1), "parts/1", future))
        .body(data)
        .send()
        .await;
    assert_eq!(put.status, 200);
    assert_eq!(post(url(SignedOp::Commit, "commit", future)).await.0, 200);
    let req = json!({"operation": "download", "objects": [{"oid": oid, "size": 1000}]});
    let (_, _, v) = api
        .lfs_post(&api.batch_url(&path), Some(&token), &req)
        .await
        .parts();
    let linked = v["objects"][0]["actions"]["download"]["href"].is_string();
    assert!(linked);
}
