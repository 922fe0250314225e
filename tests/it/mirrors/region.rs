//! Region mirrors: a strata in `neverland` follows alice's PaySim dataset, held in `theshire`,
//! through a region feed made by the dataset's admin. Fybrik's sample policy (unchanged), a
//! residency rule (destination accounts redacted outside the data's geography) and a Deny (a
//! table with a `secret` column stays in its geography) decide what neverland may hold: the
//! mirror receives the PaySim table only redacted (in its own format, CSV), never the secret
//! table nor its resource, nor an old copy of PaySim's bytes at a path no resource lists; the
//! README and an ungoverned table as they are. A canary scan of the mirror's whole data
//! directory finds no raw byte of the governed tables. A change on the source arrives redacted; a
//! policy that comes to deny a table the feed had sent takes it back (history rewritten, the
//! mirror's collection takes its bytes); the feed's token reads nothing but what the feed names;
//! erasing the source's table takes its governed versions out of the feed and, after a
//! collection, out of the mirror. The hostile callers get nothing.

use reqwest::Method;
use serde_json::{json, Value};
use sha2::Digest;

use super::{call, mirror_server, settled, API};
use crate::common::*;
use crate::governance::{Gov, LIB, PAYSIM, PII, SAMPLE_POLICY};

const RULES: &str = r#"package dataapi.authz

rule[{"action": {"name": "RedactAction", "columns": ["nameDest"]}, "policy": "Destination accounts stay in their region"}] {
  input.action.actionType == "read"
  input.resource.metadata.columns[_].name == "nameDest"
  input.resource.metadata.geography != input.action.processingLocation
}

rule[{"action": {"name": "Deny"}, "policy": "Secrets stay in their region"}] {
  input.action.actionType == "read"
  input.resource.metadata.columns[_].tags.secret
  input.resource.metadata.geography != input.action.processingLocation
}
"#;

/// The secret table: one row, a canary no mirror may hold.
const SECRETS: &[u8] = b"code,holder\nCANARY-7f3a9e21-SECRET,gandalf\n";
const README: &[u8] = b"# PaySim\nTransactions, synthetic.\n";
/// A table no policy governs at first: it leaves raw, until a policy comes to deny it there.
const WEATHER: &[u8] = b"day,temp\n1,12\n2,14\n";

/// A rule added later: the weather stays out of neverland.
const LATER: &str = r#"package dataapi.authz

rule[{"action": {"name": "Deny"}, "policy": "Weather stays home"}] {
  input.action.actionType == "read"
  input.resource.metadata.columns[_].name == "temp"
  input.action.processingLocation == "neverland"
}
"#;

/// alice's datapackage: PaySim (as `Gov::set_table` has it, with `data`) and the secret table.
async fn package(gov: &Gov, data: &[u8]) {
    let header = std::str::from_utf8(PAYSIM).unwrap().lines().next().unwrap();
    let fields: Vec<Value> = header
        .split(',')
        .map(|c| json!({"name": c, "type": "string", "tags": {"PII": PII.contains(&c)}}))
        .collect();
    let pkg = json!({
        "name": "paysim", "tags": ["finance"], "geography": "theshire",
        "resources": [
            {"name": "paysim-csv", "path": "paysim.csv", "format": "csv", "bytes": data.len(),
             "hash": format!("sha256:{}", sha256_hex(data)), "schema": {"fields": fields}},
            {"name": "secrets", "path": "secrets.csv", "format": "csv", "bytes": SECRETS.len(),
             "hash": format!("sha256:{}", sha256_hex(SECRETS)),
             "schema": {"fields": [{"name": "code", "type": "string", "tags": {"secret": true}},
                                   {"name": "holder", "type": "string"}]}},
            {"name": "weather", "path": "weather.csv", "format": "csv", "bytes": WEATHER.len(),
             "hash": format!("sha256:{}", sha256_hex(WEATHER)),
             "schema": {"fields": [{"name": "day", "type": "integer"}, {"name": "temp", "type": "integer"}]}}]
    });
    let parent = gov.head("alice/paysim", &gov.alice).await;
    let r = client()
        .put(format!("{}/alice/paysim", gov.api))
        .bearer_auth(&gov.alice)
        .json(&json!({"datapackage": pkg, "parent": parent}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// Every file below `root`: (path, bytes).
fn files(root: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(data) = std::fs::read(&path) {
                out.push((path, data));
            }
        }
    }
    out
}

fn holds(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The feed's LFS batch answer for one object, as `token` gets it: (status, object answer).
async fn feed_batch(url: &str, token: Option<&str>, oid: &str, size: usize) -> (u16, Value) {
    let req = json!({"operation": "download", "objects": [{"oid": oid, "size": size}]});
    let mut r = client()
        .post(format!("{url}/info/lfs/objects/batch"))
        .header("accept", "application/vnd.git-lfs+json")
        .header("content-type", "application/vnd.git-lfs+json");
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let (status, _, v) = body(r.body(req.to_string()).send().await.unwrap()).await;
    (status, v["objects"][0].clone())
}

/// Syncs bob/paysim on `mirror` now and waits for it to land.
async fn sync(mirror: &TestServer, bob: &str) {
    let since = strata_core::db::now();
    let (s, v) = call(
        Method::POST,
        &format!("{}{API}/bob/paysim/mirror/sync", mirror.url),
        bob,
        None,
    )
    .await;
    assert_eq!(s, 202, "{v}");
    let m = settled(mirror, bob, "bob/paysim", since).await;
    assert_eq!(m["state"], "ok", "{m}");
}

/// A garbage collection of `server` with no grace, as its admin `root`: its report.
async fn collect(server: &TestServer, root: &str) -> Value {
    let (s, v) = call(
        Method::POST,
        &format!("{}/api/v1/admin/gc", server.url),
        root,
        Some(json!({"grace_secs": 0})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_mirror_holds_what_its_region_may_and_nothing_raw() {
    let gov = Gov::start().await;
    let (status, v) = gov
        .commit_files(
            "steward/policies",
            &[
                ("sample-policy.rego", SAMPLE_POLICY),
                ("lib.rego", LIB),
                ("region.rego", RULES),
            ],
        )
        .await;
    assert_eq!(status, 200, "{v}");
    upload(&gov.server, "alice/paysim", &gov.alice, SECRETS).await;
    upload(&gov.server, "alice/paysim", &gov.alice, WEATHER).await;
    package(&gov, PAYSIM).await;
    let readme = json!({"key": "file", "value": {"path": "README.md", "content": std::str::from_utf8(README).unwrap()}});
    let (status, v) = gov.commit("alice/paysim", &gov.alice, vec![readme]).await;
    assert_eq!(status, 200, "{v}");
    let source = &gov.server;
    let feeds = format!("{}/alice/paysim/feeds", gov.api);
    // A copy of the PaySim table at a path no resource lists, as a dataset may hold from before
    // its policies (written here around every check): the same bytes, so never sent raw.
    let ms = source.state.metastore.clone();
    let pointer = format!(
        "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n",
        sha256_hex(PAYSIM),
        PAYSIM.len()
    );
    tokio::task::spawn_blocking(move || {
        let id = strata_metastore::DatasetId {
            ns: "alice",
            name: "paysim",
        };
        let author = strata_metastore::Person {
            name: "alice".into(),
            email: "alice@example.com".into(),
        };
        let meta = strata_metastore::WriteMeta {
            branch: "main",
            parent: Some(ms.resolve(id, None).unwrap()),
            author: &author,
            message: "an old copy",
        };
        let put = strata_metastore::Op::Put {
            path: "copies/paysim.csv".into(),
            data: pointer.into_bytes(),
        };
        ms.commit(id, &meta, &[put]).unwrap();
    })
    .await
    .unwrap();

    // Only the dataset's admins make feeds, for a region named as `--region` is.
    for (token, body, want) in [
        (&gov.bob, json!({"region": "neverland"}), 403),
        (&gov.alice, json!({"region": ""}), 422),
        (&gov.alice, json!({"region": "never land"}), 422),
        (&gov.alice, json!({"region": "neverland", "url": "x"}), 422),
        (
            &gov.alice,
            json!({"region": "neverland", "note": "a\u{7}"}),
            422,
        ),
    ] {
        let (status, v) = call(Method::POST, &feeds, token, Some(body.clone())).await;
        assert!(
            status == want || (want == 403 && status == 404),
            "{body}: {status} {v}"
        );
        assert!(v["request_id"].is_string(), "{v}");
    }
    let (status, made) = call(
        Method::POST,
        &feeds,
        &gov.alice,
        Some(json!({"region": "neverland", "note": "the neverland site"})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let token = made["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("sfd_"), "{made}");
    let url = made["feed"]["url"].as_str().unwrap().to_owned();
    assert_eq!(made["feed"]["region"], "neverland");
    let (_, listed) = call(Method::GET, &feeds, &gov.alice, None).await;
    assert!(
        !listed.to_string().contains(&token),
        "never shown again: {listed}"
    );
    let (status, _) = call(Method::GET, &feeds, &gov.bob, None).await;
    assert!(status == 403 || status == 404);

    // A strata in neverland follows the feed as a pull mirror.
    let mirror = mirror_server().await;
    let bob = mirror.user("bob").await;
    let (s, v) = call(
        Method::POST,
        &format!("{}{API}", mirror.url),
        &bob,
        Some(json!({"namespace": "bob", "name": "paysim"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let since = strata_core::db::now();
    let (s, v) = call(
        Method::PUT,
        &format!("{}{API}/bob/paysim/mirror", mirror.url),
        &bob,
        Some(json!({"url": url, "token": token, "interval_secs": 3600})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let m = settled(&mirror, &bob, "bob/paysim", since).await;
    assert_eq!(m["state"], "ok", "{m}");

    // What arrived: PaySim redacted (PII and destination accounts), in CSV as it was; no secret
    // table and no resource naming it; the README byte for byte.
    let raw = |path: &str| {
        let url = format!("{}{API}/bob/paysim/raw/{path}", mirror.url);
        let bob = bob.clone();
        async move {
            let r = client().get(url).bearer_auth(bob).send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        }
    };
    let (s, csv) = raw("paysim.csv").await;
    assert_eq!(s, 200);
    let csv = String::from_utf8(csv).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let hidden: Vec<usize> = (0..header.len())
        .filter(|i| PII.contains(&header[*i]) || header[*i] == "nameDest")
        .collect();
    assert_eq!(hidden.len(), 4, "{header:?}");
    let mut rows = 0;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        for i in &hidden {
            assert_eq!(cells[*i], "XXXXXXXXXX", "{} in {line}", header[*i]);
        }
        rows += 1;
    }
    assert_eq!(
        rows,
        std::str::from_utf8(PAYSIM).unwrap().lines().count() - 1
    );
    assert_eq!(raw("secrets.csv").await.0, 404);
    assert_eq!(
        raw("copies/paysim.csv").await.0,
        404,
        "the copy is withheld"
    );
    assert_eq!(raw("README.md").await, (200, README.to_vec()));
    assert_eq!(raw("weather.csv").await, (200, WEATHER.to_vec()));
    let (_, pkg) = raw("datapackage.json").await;
    let pkg: Value = serde_json::from_slice(&pkg).unwrap();
    let names: Vec<&str> = pkg["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["paysim-csv", "weather"], "{pkg}");
    assert_eq!(
        pkg["resources"][0]["hash"],
        format!("sha256:{}", sha256_hex(csv.as_bytes()))
    );

    // The canary scan: nothing in the mirror's data directory holds the raw tables, an account
    // they hide, or the secret.
    let raw_oid = sha256_hex(PAYSIM);
    let secret_oid = sha256_hex(SECRETS);
    let first = std::str::from_utf8(PAYSIM).unwrap().lines().nth(1).unwrap();
    let cells: Vec<&str> = first.split(',').collect();
    let governed = sha256_hex(csv.as_bytes());
    let mut scanned = false;
    for (path, data) in files(mirror.dir.path()) {
        let name = path.to_string_lossy();
        scanned |= hex::encode(sha2::Sha256::digest(&data)) == governed;
        assert!(
            !name.contains(&raw_oid) && !name.contains(&secret_oid),
            "{name}"
        );
        let hash = hex::encode(sha2::Sha256::digest(&data));
        assert!(
            hash != raw_oid && hash != secret_oid,
            "{name} is a raw table"
        );
        for canary in [cells[3], cells[6], "CANARY-7f3a9e21"] {
            assert!(!holds(&data, canary.as_bytes()), "{name} holds {canary}");
        }
    }
    assert!(scanned, "the scan reached the mirror's objects");

    // The feed's token reads what the feed names and nothing else: not the raw objects (by
    // batch or by address), not another feed, not the REST API; no token, no feed.
    let governed_len = csv.len();
    let (s, o) = feed_batch(&url, Some(&token), &governed, governed_len).await;
    assert_eq!(s, 200);
    assert!(o["actions"]["download"]["href"].is_string(), "{o}");
    for (oid, size) in [(&raw_oid, PAYSIM.len()), (&secret_oid, SECRETS.len())] {
        let (s, o) = feed_batch(&url, Some(&token), oid, size).await;
        assert_eq!((s, o["error"]["code"].as_i64()), (200, Some(404)), "{o}");
        let r = client()
            .get(format!("{url}/info/lfs/objects/{oid}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let (s, _) = feed_batch(&url, None, &governed, governed_len).await;
    assert_eq!(s, 401);
    let (s, _) = feed_batch(&url, Some("sfd_0000"), &governed, governed_len).await;
    assert_eq!(s, 404);
    let (s, _) = feed_batch(&url, Some(&gov.alice), &governed, governed_len).await;
    assert_eq!(s, 401, "an account's token is no feed's");
    let other = url.replace("/_feeds/1.git", "/_feeds/2.git");
    let (s, _) = feed_batch(&other, Some(&token), &governed, governed_len).await;
    assert_eq!(s, 404);
    let (s, _) = call(
        Method::GET,
        &format!("{}/alice/paysim", gov.api),
        &token,
        None,
    )
    .await;
    assert_eq!(s, 401, "a feed's token is no account's");
    let r = client()
        .get(format!("{url}/info/refs?service=git-receive-pack"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "nobody pushes to a feed");
    let push = json!({"operation": "upload", "objects": [{"oid": governed, "size": 1}]});
    let r = client()
        .post(format!("{url}/info/lfs/objects/batch"))
        .bearer_auth(&token)
        .header("content-type", "application/vnd.git-lfs+json")
        .body(push.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The admin sees the governed version, what it was made from and under which decision.
    let (status, one) = call(Method::GET, &format!("{feeds}/1"), &gov.alice, None).await;
    assert_eq!(status, 200, "{one}");
    let copy = &one["feed"]["copies"][0];
    assert_eq!(copy["oid"], governed.as_str(), "{one}");
    assert_eq!(copy["source_oid"], raw_oid.as_str(), "{one}");
    assert_eq!(copy["resource"], "paysim-csv", "{one}");
    assert!(copy["decided"]["columns"]["nameDest"].is_string(), "{one}");

    // A change on the source arrives redacted.
    let more = format!(
        "{}1,TRANSFER,1.00,C0000000001,5,4,M0000000002,0,0,0,0\n",
        std::str::from_utf8(PAYSIM).unwrap()
    );
    upload(source, "alice/paysim", &gov.alice, more.as_bytes()).await;
    package(&gov, more.as_bytes()).await;
    sync(&mirror, &bob).await;
    let (_, csv) = raw("paysim.csv").await;
    let csv = String::from_utf8(csv).unwrap();
    assert!(
        csv.ends_with("1,TRANSFER,1.00,XXXXXXXXXX,XXXXXXXXXX,XXXXXXXXXX,XXXXXXXXXX,0,0,0,0\n"),
        "{csv}"
    );
    assert!(!csv.contains("C0000000001") && !csv.contains("M0000000002"));

    // A policy that comes to deny the weather there: the feed takes it back, its history is
    // rewritten without it, and the mirror's collection takes its bytes.
    let (status, v) = gov
        .commit_files("steward/policies", &[("later.rego", LATER)])
        .await;
    assert_eq!(status, 200, "{v}");
    sync(&mirror, &bob).await;
    assert_eq!(raw("weather.csv").await.0, 404);
    let weather = sha256_hex(WEATHER);
    let (s, o) = feed_batch(&url, Some(&token), &weather, WEATHER.len()).await;
    assert_eq!((s, o["error"]["code"].as_i64()), (200, Some(404)), "{o}");
    let root = mirror.user_with("root", true, "*").await;
    let v = collect(&mirror, &root).await;
    for (path, data) in files(mirror.dir.path()) {
        let hash = hex::encode(sha2::Sha256::digest(&data));
        assert!(hash != weather, "{} stays: {v}", path.display());
    }

    // Erasing the table (and its old copy) on the source takes its governed versions out of
    // the feed.
    let (status, v) = call(
        Method::POST,
        &format!("{}/api/v1/admin/datasets/alice/paysim/erase", source.url),
        &gov.steward,
        Some(json!({"paths": ["paysim.csv", "copies"], "confirm": "alice/paysim"})),
    )
    .await;
    assert!(status == 200 || status == 202, "{v}");
    let (s, o) = feed_batch(&url, Some(&token), &governed, governed_len).await;
    assert_eq!((s, o["error"]["code"].as_i64()), (200, Some(404)), "{o}");
    let (_, one) = call(Method::GET, &format!("{feeds}/1"), &gov.alice, None).await;
    assert!(one["feed"]["erased_at"].is_i64(), "{one}");
    assert_eq!(one["feed"]["copies"], json!([]), "{one}");
    // The mirror follows the feed's rewritten history; its garbage collection then takes the
    // governed versions of the erased table, and no revision there names them.
    sync(&mirror, &bob).await;
    assert_eq!(raw("paysim.csv").await.0, 404);
    assert_eq!(raw("README.md").await, (200, README.to_vec()));
    let v = collect(&mirror, &root).await;
    let later = sha256_hex(csv.as_bytes());
    for (path, data) in files(mirror.dir.path()) {
        let hash = hex::encode(sha2::Sha256::digest(&data));
        assert!(
            hash != governed && hash != later,
            "{} stays: {v}",
            path.display()
        );
    }

    // A deleted feed's token reads nothing at once.
    let (status, _) = call(Method::DELETE, &format!("{feeds}/1"), &gov.alice, None).await;
    assert_eq!(status, 204);
    let r = client()
        .get(format!("{url}/info/refs?service=git-upload-pack"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// The settings page's section in Chromium: alice makes a feed (its token shown once, and
/// working), sees it listed with its note escaped, and deletes it (its token then reads nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_feed_made_and_deleted_in_chromium() {
    use crate::common::chromium::*;
    use crate::common::forms::PASSWORD;

    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    strata::cli::admin::set_password(&server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let (s, v) = call(
        Method::POST,
        &format!("{}{API}", server.url),
        &alice,
        Some(json!({"namespace": "alice", "name": "survey"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let base = server.url.clone();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &server.dir.path().join("profile")).await;
    sign_in(&c, &base, "alice").await;
    c.goto(&format!("{base}/datasets/alice/survey/settings"))
        .await
        .unwrap();
    assert!(text(&c).await.contains("Region feeds"));
    fill(&c, "region", "neverland").await;
    fill(&c, "note", "<b>the site</b>").await;
    click(&c, "#make-feed button").await;
    let page = text(&c).await;
    assert!(page.contains("shown this once"), "{page}");
    assert!(page.contains("<b>the site</b>"), "escaped: {page}");
    let token = page
        .split_whitespace()
        .find(|w| w.starts_with("sfd_"))
        .expect("the token on the page")
        .to_owned();
    let url = format!("{base}/_feeds/1.git/info/refs?service=git-upload-pack");
    let r = client().get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200, "the token shown works");
    c.execute("document.getElementById('feeds').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshot(&c, "region-feed").await;
    c.goto(&format!("{base}/datasets/alice/survey/settings"))
        .await
        .unwrap();
    let page = text(&c).await;
    assert!(
        page.contains("neverland") && !page.contains(&token),
        "{page}"
    );
    click(&c, "#feeds-list button").await;
    let page = text(&c).await;
    assert!(!page.contains("/_feeds/1.git"), "{page}");
    let r = client().get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 404);
    c.close().await.unwrap();
}
