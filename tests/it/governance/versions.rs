//! Older versions of a governed table: an object that was ever the content of a governed table on
//! the default branch is refused raw (REST raw, share links, LFS) wherever it is committed now,
//! whether its revisions came by REST or by a push that a force-push removed since, and for
//! history the index had not seen (first sight).

use serde_json::{json, Value};

use super::*;

/// The PaySim rows without the last one: a newer version of the table.
fn fewer_rows() -> Vec<u8> {
    let text = std::str::from_utf8(PAYSIM).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = lines[..lines.len() - 1].join("\n");
    out.push('\n');
    out.into_bytes()
}

pub(super) fn pointer(data: &[u8]) -> String {
    format!(
        "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n",
        sha256_hex(data),
        data.len()
    )
}

impl Gov {
    /// `GET …/alice/paysim/raw/{path}` as bob: the status.
    async fn raw_status(&self, path: &str) -> u16 {
        client()
            .get(format!("{}/alice/paysim/raw/{path}", self.api))
            .bearer_auth(&self.bob)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// An LFS download of `data`'s object from alice/paysim as alice: the object's error code,
    /// or 200 when it is handed out.
    pub(super) async fn lfs_status(&self, data: &[u8]) -> u64 {
        let req = json!({"operation": "download",
            "objects": [{"oid": sha256_hex(data), "size": data.len()}]});
        let (status, _, v) = body(
            lfs_post(
                &self.server.batch_url("alice/paysim"),
                Some(&self.alice),
                &req,
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "{v}");
        v["objects"][0]["error"]["code"].as_u64().unwrap_or(200)
    }

    /// Commits `data`'s object (uploaded already) at `path` as alice.
    async fn commit_object(&self, path: &str, data: &[u8]) {
        let line = json!({"key": "lfsFile",
            "value": {"path": path, "oid": sha256_hex(data), "size": data.len()}});
        let (status, v) = self.commit("alice/paysim", &self.alice, vec![line]).await;
        assert_eq!(status, 200, "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_version_of_a_governed_table_is_refused_raw_wherever_it_is_committed() {
    let gov = Gov::start().await;
    // The sample's read rule only: versions are stored as sent.
    gov.reads_only().await;
    // The table moves on: PAYSIM is now an older version of it.
    let v2 = fewer_rows();
    upload(&gov.server, "alice/paysim", &gov.alice, &v2).await;
    gov.set_table(json!(["finance"]), "theshire", &v2).await;
    // Bytes that never were a table, committed the same way, are served: the refusal is not
    // of every LFS file.
    let notes = b"some notes, never a table\n";
    upload(&gov.server, "alice/paysim", &gov.alice, notes).await;
    gov.commit_object("notes.txt", notes).await;
    assert_eq!(gov.raw_status("notes.txt").await, 200);
    assert_eq!(gov.lfs_status(notes).await, 200);

    // The old version, committed at a path no resource names.
    gov.commit_object("old.csv", PAYSIM).await;
    assert_eq!(gov.raw_status("old.csv").await, 403);
    assert_eq!(gov.lfs_status(PAYSIM).await, 403);
    let gated = strata_core::datasets::gate::dataset(
        &gov.server.state,
        &strata_core::auth::Principal::Anonymous,
        "alice",
        "paysim",
        strata_core::auth::Action::Read,
    )
    .await
    .unwrap();
    let alice_p = strata_core::auth::authenticate(&gov.server.state, &gov.alice)
        .await
        .unwrap();
    let link = strata_core::sharing::links::create(
        &gov.server.state,
        &alice_p,
        &gated,
        "old.csv",
        None,
        None,
    )
    .await
    .unwrap();
    let r = client()
        .get(format!("{}/s/{}/raw", gov.server.url, link.secret))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // History the index never saw (a dataset from before it): read once, at first sight.
    let pool = gov.server.state.db.pool();
    for table in ["table_objects", "table_index"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(pool)
            .await
            .unwrap();
    }
    assert_eq!(gov.raw_status("old.csv").await, 403);
    assert_eq!(gov.raw_status("notes.txt").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_version_pushed_then_forced_away_stays_refused_raw() {
    let gov = Gov::start().await;
    // Pushed tables the sample's write rule would redact are refused (`writes.rs`): reads only.
    gov.reads_only().await;
    let v3 = fewer_rows();
    upload(&gov.server, "alice/paysim", &gov.alice, &v3).await;
    // Force-pushes allowed.
    let r = client()
        .put(format!("{}/alice/paysim/protection", gov.api))
        .bearer_auth(&gov.alice)
        .json(&json!({"default_branch": false}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    setup_home(&home, &gov.server.url, &gov.alice);
    let url = format!("{}/alice/paysim.git", gov.server.url);
    // The pointers are enough: no LFS content is fetched.
    run(git(&home, dir.path())
        .env("GIT_LFS_SKIP_SMUDGE", "1")
        .args(["clone", &url, "p"]));
    let work = dir.path().join("p");
    let run_in = |args: &[&str]| run(git(&home, &work).env("GIT_LFS_SKIP_SMUDGE", "1").args(args));
    // A: the table's resource and pointer become v3, pushed.
    let package_path = work.join("datapackage.json");
    let mut package: Value =
        serde_json::from_str(&std::fs::read_to_string(&package_path).unwrap()).unwrap();
    package["resources"][0]["hash"] = json!(format!("sha256:{}", sha256_hex(&v3)));
    package["resources"][0]["bytes"] = json!(v3.len());
    std::fs::write(
        &package_path,
        serde_json::to_string_pretty(&package).unwrap(),
    )
    .unwrap();
    std::fs::write(work.join("paysim.csv"), pointer(&v3)).unwrap();
    run_in(&["commit", "-qam", "v3"]);
    run_in(&["push", "-q", "--no-verify", "origin", "main"]);
    // B: that revision forced away; v3's bytes at a path no resource names.
    run_in(&["reset", "-q", "--hard", "HEAD~1"]);
    std::fs::write(work.join("other.csv"), pointer(&v3)).unwrap();
    run_in(&["add", "other.csv"]);
    run_in(&["commit", "-qm", "other"]);
    run_in(&["push", "-q", "--no-verify", "--force", "origin", "main"]);
    let head = gov.head("alice/paysim", &gov.alice).await;
    let local = run_in(&["rev-parse", "HEAD"]);
    assert_eq!(head, local.trim(), "the force-push moved main");

    assert_eq!(gov.raw_status("other.csv").await, 403);
    assert_eq!(gov.lfs_status(&v3).await, 403);
}
