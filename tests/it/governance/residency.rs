//! Residency copies with two S3 servers standing for two regions: strata holds alice's PaySim
//! table in `theshire` (its default store, S3 server A) and reads in `neverland`, which has a
//! store of its own (S3 server B). Fybrik's sample policy (unchanged) plus a residency rule let
//! neverland read the table only redacted, so the governed view is written into B once and every
//! read there (CSV, Arrow, Parquet, rows, statistics, SQL, another reader with the same decision)
//! comes from B: A's access log shows the raw object read once, to make the copy, and nothing
//! after; B's shows the copy written once and read, and B holds no object that hashes to the raw
//! bytes nor any of their PII values. The copy is listed to the dataset's admin with the revision,
//! object and decision it came from, and audited; a reader who is no admin cannot list it; a
//! policy change makes a new copy rather than serving the old one.

use serde_json::{json, Value};
use sha2::Digest;

use super::{Gov, LIB, PAYSIM, PII, SAMPLE_POLICY};
use crate::common::s3::S3Server;
use crate::common::*;

/// The residency rule: outside the data's geography, destination accounts are redacted too.
const RESIDENCY: &str = r#"package dataapi.authz

rule[{"action": {"name": "RedactAction", "columns": ["nameDest"]}, "policy": "Destination accounts stay in their region"}] {
  input.action.actionType == "read"
  input.resource.metadata.geography != input.action.processingLocation
}
"#;

/// Every file below `root`, with its sha256 and bytes.
fn files(root: &std::path::Path) -> Vec<(std::path::PathBuf, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let data = std::fs::read(&path).unwrap();
                let hash = hex::encode(sha2::Sha256::digest(&data));
                out.push((path, hash, data));
            }
        }
    }
    out
}

/// alice/paysim's residency copies, as its admin lists them.
async fn list_copies(gov: &Gov) -> Value {
    client()
        .get(format!("{}/alice/paysim/copies", gov.api))
        .bearer_auth(&gov.alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn get(gov: &Gov, token: &str, path: &str) -> (u16, Vec<u8>) {
    let r = client()
        .get(format!("{}/alice/paysim/{path}", gov.api))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neverland_reads_theshire_data_from_its_own_copy_and_raw_bytes_never_go_there() {
    let b = S3Server::start().await;
    let store = format!(
        "neverland=s3://{}/copies?region=neverland&endpoint={}&path_style=true",
        b.bucket, b.endpoint
    );
    let gov = Gov::start_with(Backend::S3, |c| {
        c.region = Some("neverland".into());
        c.storage_region = Some("theshire".into());
        c.stores = vec![store.parse().unwrap()];
    })
    .await;
    let a = gov.server.s3.as_ref().expect("server A");
    let (status, v) = gov
        .commit_files(
            "steward/policies",
            &[
                ("sample-policy.rego", SAMPLE_POLICY),
                ("lib.rego", LIB),
                ("residency.rego", RESIDENCY),
            ],
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let raw = strata_lfs::Oid::of(PAYSIM).to_string();
    let carol = gov.server.user("carol").await;
    // The table's unrestricted view, made in the background after its push, is A's business
    // before the reads below; they must be all that reads A.
    gov.server.views_settled().await;
    a.take_log();
    b.take_log();

    // The first read makes the copy: the raw object is read from A, the view written to B.
    let (status, csv) = gov.table(Some(&gov.bob), "").await;
    assert_eq!(status, 200, "{csv}");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let redacted: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, c)| PII.contains(c) || *c == &"nameDest")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(redacted.len(), 4, "{header:?}");
    let mut rows = 0;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        for i in &redacted {
            assert_eq!(cells[*i], "XXXXXXXXXX", "{} in {line}", header[*i]);
        }
        rows += 1;
    }
    assert_eq!(
        rows,
        std::str::from_utf8(PAYSIM).unwrap().lines().count() - 1
    );
    let a_log = a.take_log();
    let b_log = b.take_log();
    assert!(
        a_log
            .iter()
            .any(|l| l.starts_with("GET ") && l.contains(&raw)),
        "A was not read: {a_log:?}"
    );
    assert!(
        b_log.iter().all(|l| !l.contains(&raw)),
        "the raw object's name reached B: {b_log:?}"
    );
    let b_writes: Vec<&String> = b_log
        .iter()
        .filter(|l| l.starts_with("PUT ") || l.starts_with("POST "))
        .collect();
    assert!(!b_writes.is_empty(), "nothing written to B: {b_log:?}");
    assert!(
        b_writes
            .iter()
            .all(|l| l.contains(&format!("/{}/copies/", b.bucket))),
        "B written outside its prefix: {b_log:?}"
    );

    // Every later read here comes from B; A hears nothing.
    let reads = [
        (gov.bob.clone(), "tables/paysim-csv"),
        (gov.bob.clone(), "tables/paysim-csv?format=arrow"),
        (gov.bob.clone(), "tables/paysim-csv?format=parquet"),
        (gov.bob.clone(), "tables/paysim-csv?format=jsonl"),
        (
            gov.bob.clone(),
            "tables/paysim-csv/rows?limit=5&sort=amount:desc",
        ),
        (gov.bob.clone(), "tables/paysim-csv/stats"),
        (carol.clone(), "tables/paysim-csv?columns=step,nameDest"),
    ];
    for (token, path) in &reads {
        let (status, body) = get(&gov, token, path).await;
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("C1231006815"), "{path} shows a raw nameOrig");
        assert!(!text.contains("M1979787155"), "{path} shows a raw nameDest");
    }
    let (status, _, v) = crate::sql::sql(
        &gov.server.url,
        &gov.bob,
        r#"SELECT "nameDest", count(*) AS n FROM "alice/paysim"."paysim-csv" GROUP BY "nameDest""#,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["rows"], json!([["XXXXXXXXXX", 100]]), "{v}");
    let a_log = a.take_log();
    assert!(a_log.is_empty(), "A was read again: {a_log:?}");
    let b_log = b.take_log();
    assert!(
        b_log.iter().any(|l| l.starts_with("GET ")),
        "B was not read: {b_log:?}"
    );
    assert!(
        b_log
            .iter()
            .all(|l| l.starts_with("GET ") || l.starts_with("HEAD ")),
        "the same decision wrote B again: {b_log:?}"
    );

    // B holds the copy and nothing of the raw bytes.
    let held = files(b.root.path());
    assert!(
        held.iter().all(|(_, hash, _)| *hash != raw),
        "B holds the raw object"
    );
    let raw_text = std::str::from_utf8(PAYSIM).unwrap();
    let values: Vec<&str> = raw_text
        .lines()
        .skip(1)
        .flat_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            [c[3], c[6]]
        })
        .collect();
    for (path, _, data) in &held {
        let data = String::from_utf8_lossy(data);
        assert!(
            values.iter().all(|v| !data.contains(v)),
            "{} holds a raw account name",
            path.display()
        );
    }

    // The copy as its dataset's admin sees it, and the audit log.
    let head = gov.head("alice/paysim", &gov.alice).await;
    let copies = list_copies(&gov).await;
    let list = copies["copies"].as_array().expect("copies");
    assert_eq!(list.len(), 1, "{copies}");
    let c = &list[0];
    assert_eq!(c["store"], "neverland");
    assert_eq!(c["region"], "neverland");
    assert_eq!(c["resource"], "paysim-csv");
    assert_eq!(c["revision"], head.as_str());
    assert_eq!(c["source_oid"], raw.as_str());
    assert_eq!(c["decided"]["columns"]["nameDest"], "RedactAction", "{c}");
    assert_eq!(c["decided"]["columns"]["nameOrig"], "RedactAction", "{c}");
    assert_eq!(
        c["policies"],
        gov.head("steward/policies", &gov.steward).await.as_str()
    );
    let copy_oid = c["oid"].as_str().unwrap();
    assert!(
        held.iter().any(|(_, hash, _)| hash == copy_oid),
        "B does not hold the listed copy"
    );
    let r = client()
        .get(format!("{}/alice/paysim/copies", gov.api))
        .bearer_auth(&gov.bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a reader listed the copies");
    let entries = gov.audit().await;
    let copy = entries
        .iter()
        .find(|e| e["event"] == "governance.copy")
        .expect("the copy audited");
    assert_eq!(copy["detail"]["copy"], copy_oid, "{copy}");
    assert_eq!(copy["detail"]["source"], raw.as_str(), "{copy}");

    // The raw bytes stay refused here, as anywhere a policy transforms the table.
    let (status, _) = get(&gov, &gov.bob, "raw/paysim.csv").await;
    assert_eq!(status, 403);

    // A policy that decides otherwise finds no copy of the old decision: a new one is made.
    let (status, v) = gov
        .commit_files(
            "steward/policies",
            &[(
                "residency.rego",
                &RESIDENCY.replace(r#"["nameDest"]"#, r#"["nameDest", "type"]"#),
            )],
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, csv) = gov.table(Some(&gov.bob), "columns=type").await;
    assert_eq!(status, 200, "{csv}");
    assert!(
        csv.lines().skip(1).all(|l| l == "XXXXXXXXXX"),
        "the old copy was served: {}",
        &csv[..200.min(csv.len())]
    );
    assert!(a.take_log().iter().any(|l| l.contains(&raw)));
    let copies = list_copies(&gov).await;
    assert_eq!(copies["copies"].as_array().unwrap().len(), 2, "{copies}");

    // A governed write here is rewritten into the dataset's own store, never into a copy.
    let v2: String = std::str::from_utf8(PAYSIM)
        .unwrap()
        .lines()
        .take(11)
        .map(|l| format!("{l}\n"))
        .collect();
    upload(&gov.server, "alice/paysim", &gov.alice, v2.as_bytes()).await;
    let line = json!({"key": "lfsFile",
        "value": {"path": "paysim.csv", "oid": strata_lfs::Oid::of(v2.as_bytes()).to_string(), "size": v2.len()}});
    let (status, v) = gov.commit("alice/paysim", &gov.alice, vec![line]).await;
    assert_eq!(status, 200, "{v}");
    b.take_log();
    let (status, csv) = gov.table(Some(&gov.bob), "").await;
    assert_eq!(status, 200, "{csv}");
    assert_eq!(csv.lines().count(), 11, "{csv}");
    let copies = list_copies(&gov).await;
    assert_eq!(
        copies["copies"].as_array().unwrap().len(),
        3,
        "one copy for the read, none for the write: {copies}"
    );
}
