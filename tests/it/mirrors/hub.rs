//! A Hub as the remote: files uploaded with `huggingface_hub` and `hf_xet` (Xet on, so strata
//! keeps them as chunks) to a strata serving the Hub's API, pulled by a mirror on a second strata
//! through git + LFS, and read back from the mirror by `huggingface_hub` (`hf_hub_download`,
//! `snapshot_download`) byte for byte. The other way: a dataset filled by git pushed to that Hub
//! by a push mirror, and read there by `huggingface_hub` byte for byte.

use serde_json::json;

use super::{call, mirror_server, settled, API};
use crate::common::*;
use crate::compat::xet::{noise, xet_run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_written_through_the_hub_api_mirrored_and_read_by_huggingface_hub() {
    let hub = TestServer::start().await;
    let alice = hub.user("alice").await;
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("folder");
    std::fs::create_dir_all(folder.join("data")).unwrap();
    let random = noise(3_000_000, 11);
    std::fs::write(folder.join("data/random.bin"), &random).unwrap();
    std::fs::write(
        folder.join("README.md"),
        b"# uploaded through the Hub API\n",
    )
    .unwrap();
    let (url, token, dir) = (hub.url.clone(), alice.clone(), work.path().join("up"));
    let folder_arg = folder.display().to_string();
    tokio::task::spawn_blocking(move || {
        xet_run(
            &url,
            &token,
            &dir,
            &["upload", "alice/hubdata", &folder_arg, "first"],
        )
    })
    .await
    .unwrap();

    let mirror = mirror_server().await;
    let bob = mirror.user("bob").await;
    let (s, v) = call(
        reqwest::Method::POST,
        &format!("{}{API}", mirror.url),
        &bob,
        Some(json!({"namespace": "bob", "name": "copy", "visibility": "private"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let since = strata_core::db::now();
    let (s, v) = call(
        reqwest::Method::PUT,
        &format!("{}{API}/bob/copy/mirror", mirror.url),
        &bob,
        Some(json!({"url": format!("{}/alice/hubdata.git", hub.url), "token": alice})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let m = settled(&mirror, &bob, "bob/copy", since).await;
    assert_eq!(m["state"], "ok", "{m}");

    let (url, token, cache) = (mirror.url.clone(), bob.clone(), work.path().join("down"));
    let got = tokio::task::spawn_blocking(move || {
        let c = cache.display().to_string();
        xet_run(
            &url,
            &token,
            &cache,
            &["download", "bob/copy", &c, "data/random.bin", "README.md"],
        )
    })
    .await
    .unwrap();
    let want_random = sha256_hex(&random);
    let want_readme = sha256_hex(b"# uploaded through the Hub API\n");
    for kind in ["one", "snapshot"] {
        assert_eq!(
            got[kind]["data/random.bin"],
            want_random.as_str(),
            "{kind}: {got}"
        );
        assert_eq!(
            got[kind]["README.md"],
            want_readme.as_str(),
            "{kind}: {got}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_mirror_feeds_the_hub_and_huggingface_hub_reads_it_there() {
    let here = mirror_server().await;
    let hub = TestServer::start().await;
    let alice = here.user("alice").await;
    let carol = hub.user("carol").await;
    // A dataset filled by git (a strata remote refuses commits whose `.lfsconfig` points at
    // another server: see docs/mirrors.md).
    here.repo("alice/d", strata_core::db::Visibility::Private)
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    setup_home(&home, &here.url, &alice);
    run(git(&home, tmp.path()).args(["clone", "-q", &format!("{}/alice/d.git", here.url), "w"]));
    let work = tmp.path().join("w");
    run(git(&home, &work).args(["lfs", "track", "*.bin"]));
    let random = noise(2_000_000, 29);
    std::fs::create_dir_all(work.join("data")).unwrap();
    std::fs::write(work.join("data/random.bin"), &random).unwrap();
    std::fs::write(work.join("README.md"), b"# pushed to the Hub\n").unwrap();
    commit_all(&home, &work, "first");
    run(git(&home, &work).args(["push", "-q", "origin", "HEAD:main"]));
    hub.repo("carol/models", strata_core::db::Visibility::Private)
        .await;

    let since = strata_core::db::now();
    let body = json!({"url": format!("{}/carol/models.git", hub.url), "token": carol});
    let (s, v) = call(
        reqwest::Method::POST,
        &format!("{}{API}/alice/d/push-mirrors", here.url),
        &alice,
        Some(body),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["push_mirror"]["id"].as_i64().unwrap();
    let m = super::push::pushed(&here, &alice, "alice/d", id, since).await;
    assert_eq!(m["state"], "ok", "{m}");

    let (url, token, cache) = (hub.url.clone(), carol.clone(), tmp.path().join("down"));
    let got = tokio::task::spawn_blocking(move || {
        let c = cache.display().to_string();
        xet_run(
            &url,
            &token,
            &cache,
            &[
                "download",
                "carol/models",
                &c,
                "data/random.bin",
                "README.md",
            ],
        )
    })
    .await
    .unwrap();
    for kind in ["one", "snapshot"] {
        assert_eq!(
            got[kind]["data/random.bin"],
            sha256_hex(&random).as_str(),
            "{kind}: {got}"
        );
        assert_eq!(
            got[kind]["README.md"],
            sha256_hex(b"# pushed to the Hub\n").as_str(),
            "{kind}: {got}"
        );
    }
}
