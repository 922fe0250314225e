//! Governed writes. Fybrik's two-rule sample, unchanged: its write rule redacts the PII columns of
//! a finance table in what is stored (an LFS file committed over REST, and a plain file, which
//! becomes an LFS object), the revision says so, the schema follows, the bytes sent are never
//! served raw; a push it would rewrite is refused. A Deny on write (a policy added beside the
//! sample) refuses REST commits and pushes naming the policy, even when the same commit drops
//! the tag the policy reads; nothing moves. Pushes to any branch are decided; a revert to the raw
//! version is refused, one to a governed version keeps it as stored; a merge bringing a raw
//! version into main rewrites it, and so does a datapackage naming a raw object.

use super::versions::pointer;
use super::*;

const REDACTED: &str = "XXXXXXXXXX";

/// The file under `dir` named `name`, wherever it is.
fn find(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

/// The first `n` transactions of PaySim, with its header, and an `amount` changed so the bytes are
/// new.
fn transactions(n: usize, amount: &str) -> String {
    let text = std::str::from_utf8(PAYSIM).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().take(n + 1).enumerate() {
        if i == 1 {
            let mut cells: Vec<&str> = line.split(',').collect();
            cells[2] = amount;
            out.push_str(&cells.join(","));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

impl Gov {
    async fn get(&self, path: &str) -> Value {
        client()
            .get(format!("{}/alice/paysim{path}", self.api))
            .bearer_auth(&self.alice)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The head's PaySim resource and the bytes its object holds in the store.
    async fn stored_table(&self) -> (Value, String) {
        let r = client()
            .get(format!("{}/alice/paysim/raw/datapackage.json", self.api))
            .bearer_auth(&self.alice)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let package: Value = r.json().await.unwrap();
        let resource = package["resources"][0].clone();
        let oid = resource["hash"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
            .to_owned();
        let file = find(&self.server.dir.path().join("data"), &oid).expect("the object is stored");
        (resource, std::fs::read_to_string(file).unwrap())
    }
}

/// The head's datapackage with a second resource, `copy` at `copy.csv`, holding `data`, tagged as
/// the first.
async fn copy_package(gov: &Gov, data: &[u8]) -> String {
    let r = client()
        .get(format!("{}/alice/paysim/raw/datapackage.json", gov.api))
        .bearer_auth(&gov.alice)
        .send()
        .await
        .unwrap();
    let mut package: Value = r.json().await.unwrap();
    let mut copy = package["resources"][0].clone();
    copy["name"] = json!("copy");
    copy["path"] = json!("copy.csv");
    copy["hash"] = json!(format!("sha256:{}", sha256_hex(data)));
    copy["bytes"] = json!(data.len());
    package["resources"].as_array_mut().unwrap().push(copy);
    package.to_string()
}

/// `stored` is `sent` with the PII columns redacted and every other value as it was.
fn redacted_copy_of(sent: &str, stored: &str) {
    let header: Vec<&str> = sent.lines().next().unwrap().split(',').collect();
    let (sent, stored): (Vec<&str>, Vec<&str>) = (sent.lines().collect(), stored.lines().collect());
    assert_eq!(stored.len(), sent.len(), "every row kept");
    assert_eq!(stored[0], sent[0], "the header");
    for (a, b) in sent.iter().zip(&stored).skip(1) {
        for ((column, x), y) in header.iter().zip(a.split(',')).zip(b.split(',')) {
            if PII.contains(column) {
                assert_eq!(y, REDACTED, "{column} in {b}");
            } else if let (Ok(x), Ok(y)) = (x.parse::<f64>(), y.parse::<f64>()) {
                assert_eq!(x, y, "{column} in {b}");
            } else {
                assert_eq!(x, y, "{column} in {b}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fybriks_write_rule_redacts_what_is_stored_and_a_deny_refuses_every_way_in() {
    let gov = Gov::start().await;
    // A new version of the finance table, committed as an LFS file over REST.
    let v2 = transactions(60, "1234.5");
    upload(&gov.server, "alice/paysim", &gov.alice, v2.as_bytes()).await;
    let line = json!({"key": "lfsFile",
        "value": {"path": "paysim.csv", "oid": sha256_hex(v2.as_bytes()), "size": v2.len()}});
    let (status, v) = gov.commit("alice/paysim", &gov.alice, vec![line]).await;
    assert_eq!(status, 200, "{v}");
    let (resource, stored) = gov.stored_table().await;
    redacted_copy_of(&v2, &stored);
    assert_ne!(
        resource["hash"],
        json!(format!("sha256:{}", sha256_hex(v2.as_bytes())))
    );
    assert_eq!(resource["bytes"], json!(stored.len()));
    for field in resource["schema"]["fields"].as_array().unwrap() {
        let name = field["name"].as_str().unwrap();
        if PII.contains(&name) {
            assert_eq!(field["type"], "string", "{field}");
        }
    }
    // The revision says what was applied, and under which policy.
    let dataset = gov.get("").await;
    let message = dataset["revision"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(
            "Governed-Write: paysim-csv: RedactAction nameOrig, newbalanceOrig, oldbalanceOrg \
             (policy: Redact columns tagged as PII in datasets tagged with finance = true)"
        ),
        "{dataset}"
    );
    // The bytes sent are not served raw; the table reads as stored.
    assert_eq!(gov.lfs_status(v2.as_bytes()).await, 403);
    let (status, csv) = gov.table(Some(&gov.alice), "").await;
    assert_eq!(status, 200, "{csv}");
    assert_eq!(csv.lines().count(), 61, "{csv}");
    assert!(gov
        .audit()
        .await
        .iter()
        .any(|e| e["event"] == "policy.decision"
            && e["detail"]["surface"] == "write"
            && e["detail"]["resource"] == "paysim-csv"));

    // Written as a plain git file: stored as an LFS object, redacted.
    let v3 = transactions(20, "77.25");
    let line = json!({"key": "file", "value": {"path": "paysim.csv", "content": v3}});
    let (status, v) = gov.commit("alice/paysim", &gov.alice, vec![line]).await;
    assert_eq!(status, 200, "{v}");
    let (_, stored) = gov.stored_table().await;
    redacted_copy_of(&v3, &stored);

    // Hostile: naming as another table's content an object a policy keeps from the writer (the
    // first version, which alice reads redacted), or one of another dataset.
    let (status, v) = gov
        .commit(
            "alice/paysim",
            &gov.alice,
            vec![
                json!({"key": "file", "value": {"path": "datapackage.json",
                "content": copy_package(&gov, PAYSIM).await}}),
                json!({"key": "lfsFile", "value": {"path": "copy.csv",
                "oid": sha256_hex(PAYSIM), "size": PAYSIM.len()}}),
            ],
        )
        .await;
    assert_eq!(status, 403, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("keeps from you"),
        "{v}"
    );
    gov.create("bob", "elsewhere", &gov.bob.clone(), "private")
        .await;
    let theirs = transactions(5, "9.75");
    upload(&gov.server, "bob/elsewhere", &gov.bob, theirs.as_bytes()).await;
    let (status, v) = gov
        .commit(
            "alice/paysim",
            &gov.alice,
            vec![
                json!({"key": "file", "value": {"path": "datapackage.json",
                "content": copy_package(&gov, theirs.as_bytes()).await}}),
                json!({"key": "lfsFile", "value": {"path": "copy.csv",
                "oid": sha256_hex(theirs.as_bytes()), "size": theirs.len()}}),
            ],
        )
        .await;
    assert!(status == 403 || status == 422, "{v}");

    // A push of a version the write rule would rewrite is refused: git cannot store what the
    // pusher did not commit.
    let v4 = transactions(10, "5.5");
    upload(&gov.server, "alice/paysim", &gov.alice, v4.as_bytes()).await;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    setup_home(&home, &gov.server.url, &gov.alice);
    let url = format!("{}/alice/paysim.git", gov.server.url);
    run(git(&home, dir.path())
        .env("GIT_LFS_SKIP_SMUDGE", "1")
        .args(["clone", &url, "p"]));
    let work = dir.path().join("p");
    let git_in = |args: &[&str]| {
        git(&home, &work)
            .env("GIT_LFS_SKIP_SMUDGE", "1")
            .args(args)
            .output()
            .unwrap()
    };
    let package_path = work.join("datapackage.json");
    let mut package: Value =
        serde_json::from_str(&std::fs::read_to_string(&package_path).unwrap()).unwrap();
    package["resources"][0]["hash"] = json!(format!("sha256:{}", sha256_hex(v4.as_bytes())));
    package["resources"][0]["bytes"] = json!(v4.len());
    std::fs::write(&package_path, package.to_string()).unwrap();
    std::fs::write(work.join("paysim.csv"), pointer(v4.as_bytes())).unwrap();
    assert!(git_in(&["commit", "-qam", "v4"]).status.success());
    let before = gov.head("alice/paysim", &gov.alice).await;
    let push = git_in(&["push", "--no-verify", "origin", "main"]);
    let said = String::from_utf8_lossy(&push.stderr);
    assert!(!push.status.success(), "{said}");
    assert!(
        said.contains("RedactAction nameOrig") && said.contains("a push cannot change"),
        "{said}"
    );
    assert_eq!(gov.head("alice/paysim", &gov.alice).await, before);
    // To another branch too (a merge would bring it to main unrewritten), and with main and
    // the branch in one push.
    for refs in [
        &["HEAD:refs/heads/raw"][..],
        &["main", "HEAD:refs/heads/raw2"],
    ] {
        let mut args = vec!["push", "--no-verify", "origin"];
        args.extend_from_slice(refs);
        let push = git_in(&args);
        let said = String::from_utf8_lossy(&push.stderr);
        assert!(!push.status.success(), "{refs:?}: {said}");
        assert!(said.contains("a push cannot change"), "{refs:?}: {said}");
    }
    let r = client()
        .get(format!("{}/alice/paysim/branches", gov.api))
        .bearer_auth(&gov.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = r.text().await.unwrap();
    assert!(
        r.contains("main") && !r.contains("raw"),
        "a refused branch exists: {r}"
    );

    // A Deny on write, beside the sample: REST commits and pushes are refused, naming it.
    let frozen = r#"package dataapi.authz
rule[{"action": {"name": "Deny"}, "policy": "Frozen tables take no writes"}] {
  input.action.actionType == "write"
  input.resource.metadata.tags.frozen
}
"#;
    // (Tagged first: the tag is written to the datapackage, which the Deny would refuse.)
    let mut package = gov.get("").await["datapackage"].clone();
    package["tags"] = json!(["finance", "frozen"]);
    let r = put_package(&gov, &package).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (status, v) = gov
        .commit_files("steward/policies", &[("frozen.rego", frozen)])
        .await;
    assert_eq!(status, 200, "{v}");
    // Retagging is a write of the dataset too: refused.
    let r = put_package(&gov, &gov.get("").await["datapackage"]).await;
    assert_eq!(r.status(), 403);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Frozen tables take no writes"));
    let before = gov.head("alice/paysim", &gov.alice).await;
    let line = json!({"key": "lfsFile",
        "value": {"path": "paysim.csv", "oid": sha256_hex(v4.as_bytes()), "size": v4.len()}});
    let (status, v) = gov
        .commit("alice/paysim", &gov.alice, vec![line.clone()])
        .await;
    assert_eq!(status, 403, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("Frozen tables take no writes"),
        "{v}"
    );
    assert!(v["request_id"].is_string(), "{v}");
    // Untagging in the same commit does not help: the head's tags count.
    let mut untagged = package.clone();
    untagged["tags"] = json!(["finance"]);
    let sneak = json!({"key": "file", "value": {"path": "datapackage.json",
        "content": untagged.to_string()}});
    let (status, v) = gov
        .commit("alice/paysim", &gov.alice, vec![sneak, line])
        .await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(gov.head("alice/paysim", &gov.alice).await, before);
    // Any file of the frozen dataset, table or not.
    let notes = json!({"key": "file", "value": {"path": "notes.txt", "content": "hello"}});
    let (status, v) = gov.commit("alice/paysim", &gov.alice, vec![notes]).await;
    assert_eq!(status, 403, "{v}");
    // The push, again: refused by the Deny.
    assert!(git_in(&["fetch", "-q", "origin"]).status.success());
    assert!(git_in(&["reset", "-q", "--hard", "origin/main"])
        .status
        .success());
    std::fs::write(work.join("paysim.csv"), pointer(v4.as_bytes())).unwrap();
    assert!(git_in(&["commit", "-qam", "v4 again"]).status.success());
    let push = git_in(&["push", "--no-verify", "origin", "main"]);
    let said = String::from_utf8_lossy(&push.stderr);
    assert!(!push.status.success(), "{said}");
    assert!(said.contains("Frozen tables take no writes"), "{said}");
    assert_eq!(gov.head("alice/paysim", &gov.alice).await, before);
}

/// PUTs `package` as alice/paysim's datapackage, on its head, as alice.
async fn put_package(gov: &Gov, package: &Value) -> reqwest::Response {
    let parent = gov.head("alice/paysim", &gov.alice).await;
    client()
        .put(format!("{}/alice/paysim", gov.api))
        .bearer_auth(&gov.alice)
        .json(&json!({"datapackage": package, "parent": parent}))
        .send()
        .await
        .unwrap()
}

/// POSTs `body` to `path` of alice/paysim as alice: status and JSON.
async fn post(gov: &Gov, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}/alice/paysim{path}", gov.api))
        .bearer_auth(&gov.alice)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, _, v) = crate::common::body(r).await;
    (status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverts_and_merges_are_governed_writes_and_governed_versions_are_not_rewritten_again() {
    let gov = Gov::start().await;
    // The raw version from before the policies is the first revision's.
    let raw_rev = gov.head("alice/paysim", &gov.alice).await;
    let commit_version = |amount: &'static str| {
        let gov = &gov;
        async move {
            let data = transactions(30, amount);
            upload(&gov.server, "alice/paysim", &gov.alice, data.as_bytes()).await;
            let line = json!({"key": "lfsFile",
                "value": {"path": "paysim.csv", "oid": sha256_hex(data.as_bytes()), "size": data.len()}});
            let (status, v) = gov.commit("alice/paysim", &gov.alice, vec![line]).await;
            assert_eq!(status, 200, "{v}");
            data
        }
    };
    let v2 = commit_version("2.5").await;
    let (governed, stored) = gov.stored_table().await;
    redacted_copy_of(&v2, &stored);
    let governed_rev = gov.head("alice/paysim", &gov.alice).await;
    commit_version("3.5").await;

    // Reverting to the raw version would store it raw: refused, nothing moves.
    let head = gov.head("alice/paysim", &gov.alice).await;
    let (status, v) = post(&gov, "/revert", json!({"to": raw_rev, "parent": head})).await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("a revert cannot rewrite"),
        "{v}"
    );
    assert_eq!(gov.head("alice/paysim", &gov.alice).await, head);
    // Back to the governed version: what a governed write stored, kept as it is.
    let (status, v) = post(&gov, "/revert", json!({"to": governed_rev, "parent": head})).await;
    assert_eq!(status, 200, "{v}");
    let (resource, again) = gov.stored_table().await;
    assert_eq!(resource["hash"], governed["hash"], "rewritten again");
    assert_eq!(again, stored);

    // A branch written while the write rule was away holds a raw version; merging it into main
    // rewrites it there, and the merge says so.
    gov.reads_only().await;
    let main = gov.head("alice/paysim", &gov.alice).await;
    let (status, v) = post(&gov, "/branches", json!({"name": "dev", "revision": main})).await;
    assert_eq!(status, 201, "{v}");
    let v5 = transactions(20, "5.5");
    upload(&gov.server, "alice/paysim", &gov.alice, v5.as_bytes()).await;
    let dev_head = {
        let r: Value = client()
            .get(format!("{}/alice/paysim?rev=dev", gov.api))
            .bearer_auth(&gov.alice)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["revision"]["id"].as_str().unwrap().to_owned()
    };
    let header = json!({"key": "header", "value": {"summary": "raw on dev", "parent": dev_head, "branch": "dev"}});
    let line = json!({"key": "lfsFile",
        "value": {"path": "paysim.csv", "oid": sha256_hex(v5.as_bytes()), "size": v5.len()}});
    // Its datapackage names the new version (a merge takes a table's version from it).
    let mut package = gov.get("").await["datapackage"].clone();
    package["resources"][0]["hash"] = json!(format!("sha256:{}", sha256_hex(v5.as_bytes())));
    package["resources"][0]["bytes"] = json!(v5.len());
    let package_line = json!({"key": "file",
        "value": {"path": "datapackage.json", "content": package.to_string()}});
    let r = client()
        .post(format!("{}/alice/paysim/commit", gov.api))
        .bearer_auth(&gov.alice)
        .header("content-type", "application/x-ndjson")
        .body(format!("{header}\n{line}\n{package_line}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (status, v) = gov
        .commit_files(
            "steward/policies",
            &[("sample-policy.rego", SAMPLE_POLICY), ("lib.rego", LIB)],
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = post(
        &gov,
        "/merge-requests",
        json!({"source": "dev", "title": "bring dev in"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let number = v["number"].as_i64().unwrap();
    let (status, v) = post(&gov, &format!("/merge-requests/{number}/merge"), json!({})).await;
    assert_eq!(status, 200, "{v}");
    let (resource, stored) = gov.stored_table().await;
    redacted_copy_of(&v5, &stored);
    assert_ne!(
        resource["hash"],
        json!(format!("sha256:{}", sha256_hex(v5.as_bytes())))
    );
    let dataset = gov.get("").await;
    let message = dataset["revision"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Governed-Write: paysim-csv"), "{dataset}");

    // A datapackage naming a raw object (PUT …/{ns}/{name}) is a governed write too.
    let v6 = transactions(12, "6.5");
    upload(&gov.server, "alice/paysim", &gov.alice, v6.as_bytes()).await;
    gov.set_table(json!(["finance"]), "theshire", v6.as_bytes())
        .await;
    let (resource, stored) = gov.stored_table().await;
    redacted_copy_of(&v6, &stored);
    assert_eq!(resource["bytes"], json!(stored.len()));
    let dataset = gov.get("").await;
    let message = dataset["revision"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Governed-Write: paysim-csv"), "{dataset}");

    // A file committed as no table, then listed as one by the datapackage: a write of the table.
    let v7 = transactions(8, "7.5");
    upload(&gov.server, "alice/paysim", &gov.alice, v7.as_bytes()).await;
    let line = json!({"key": "lfsFile",
        "value": {"path": "other.csv", "oid": sha256_hex(v7.as_bytes()), "size": v7.len()}});
    let (status, v) = gov.commit("alice/paysim", &gov.alice, vec![line]).await;
    assert_eq!(status, 200, "{v}");
    let mut package = gov.get("").await["datapackage"].clone();
    let mut other = package["resources"][0].clone();
    other["name"] = json!("other");
    other["path"] = json!("other.csv");
    other["hash"] = json!(format!("sha256:{}", sha256_hex(v7.as_bytes())));
    other["bytes"] = json!(v7.len());
    package["resources"].as_array_mut().unwrap().push(other);
    let r = put_package(&gov, &package).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let package = gov.get("").await["datapackage"].clone();
    let listed = package["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "other")
        .unwrap()
        .clone();
    assert_ne!(
        listed["hash"],
        json!(format!("sha256:{}", sha256_hex(v7.as_bytes()))),
        "the file became a table raw: {package}"
    );
    let dataset = gov.get("").await;
    let message = dataset["revision"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Governed-Write: other"), "{dataset}");
}
