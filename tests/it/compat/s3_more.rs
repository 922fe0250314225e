//! The S3 gateway with a governed table (its governed view on every read, never its bytes) and
//! DVC with an S3 remote on the gateway (push, pull into an empty cache, `dvc get` from the git
//! repository that tracks the data).

use std::process::Command;

use serde_json::Value;
use strata_core::db::Visibility;

use super::s3::{client, gateway, with_token};
use crate::common::*;
use crate::governance::{check_redacted, json_line, Gov, PAYSIM};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_serves_a_governed_table_as_its_governed_view() {
    let gov = Gov::start().await;
    let s3 = gateway(&gov.server).await;
    for token in [Some(gov.alice.as_str()), Some(gov.bob.as_str()), None] {
        let script = "import boto3, io, json, os, pandas as pd\n\
            from botocore import UNSIGNED\n\
            from botocore.config import Config\n\
            kw = {} if os.environ.get('AWS_ACCESS_KEY_ID') else {'config': Config(signature_version=UNSIGNED)}\n\
            c = boto3.client('s3', endpoint_url=os.environ['S3_ENDPOINT'], region_name='us-east-1', **kw)\n\
            body = c.get_object(Bucket='alice.paysim', Key='main/paysim.csv')['Body'].read()\n\
            head = c.head_object(Bucket='alice.paysim', Key='main/paysim.csv')\n\
            assert head['ContentLength'] == len(body), (head['ContentLength'], len(body))\n\
            try:\n    c.get_object(Bucket='alice.paysim', Key='main/paysim.csv', Range='bytes=0-9')\n    ranged = 'served'\n\
            except Exception as e:\n    ranged = e.response['Error']['Code']\n\
            df = pd.read_csv(io.BytesIO(body))\n\
            print(json.dumps({'rows': json.loads(df.to_json(orient='records')), 'raw': body.hex(), 'ranged': ranged}))\n";
        let mut cmd = Command::new(python_tool("python"));
        cmd.args(["-c", script]);
        with_token(&mut cmd, &s3, token);
        let out = tokio::task::spawn_blocking(move || run(&mut cmd))
            .await
            .unwrap();
        let v: Value = serde_json::from_str(json_line(&out)).unwrap();
        check_redacted(&v["rows"]);
        assert_ne!(v["raw"], hex::encode(PAYSIM), "the raw bytes were served");
        assert_eq!(v["ranged"], "InvalidRange");
    }
    // Listed, and copied only as what the caller may read.
    let v = client(
        &s3,
        Some(&gov.alice),
        &["read", "alice.paysim", "main/datapackage.json"],
    )
    .await;
    assert!(v["hex"].as_str().unwrap().len() > 10);
}

/// DVC with `dir` as its working directory and the gateway's credentials.
fn dvc(dir: &std::path::Path, s3: &str, token: &str, args: &[&str]) -> String {
    let mut cmd = Command::new(python_tool("dvc"));
    cmd.current_dir(dir)
        .args(args)
        .env("DVC_NO_ANALYTICS", "1")
        .env("DVC_SITE_CACHE_DIR", dir.join(".dvc-site"))
        .env("HOME", dir);
    with_token(&mut cmd, s3, Some(token));
    run(&mut cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dvc_pushes_and_pulls_through_the_s3_gateway() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/survey", Visibility::Private).await;
    let s3 = gateway(&server).await;
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("project");
    std::fs::create_dir_all(project.join("data")).unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| {
            let data = (0..(1000 + i * 4096))
                .map(|j| ((j * 31 + i * 7) % 251) as u8)
                .collect();
            (format!("data/part-{i}.bin"), data)
        })
        .collect();
    for (path, data) in &files {
        std::fs::write(project.join(path), data).unwrap();
    }
    let home = work.path().join("home");
    let (p, s, a) = (project.clone(), s3.clone(), alice.clone());
    let remote = "s3://alice.survey/main/dvcstore";
    tokio::task::spawn_blocking(move || {
        let git = |args: &[&str]| run(crate::common::git(&home, &p).args(args));
        std::fs::create_dir_all(&home).unwrap();
        git(&["init", "-q", "-b", "main"]);
        dvc(&p, &s, &a, &["init", "-q"]);
        dvc(&p, &s, &a, &["remote", "add", "-d", "store", remote]);
        dvc(
            &p,
            &s,
            &a,
            &["remote", "modify", "store", "endpointurl", &s],
        );
        dvc(&p, &s, &a, &["add", "-q", "data"]);
        git(&["add", "-A"]);
        git(&["commit", "-qm", "data tracked by DVC"]);
        let pushed = dvc(&p, &s, &a, &["push"]);
        assert!(pushed.contains("6 files pushed"), "{pushed}");
        // Again: nothing new.
        let again = dvc(&p, &s, &a, &["push"]);
        assert!(again.contains("Everything is up to date"), "{again}");
        // An empty cache and working copy: pulled back, byte for byte.
        std::fs::remove_dir_all(p.join(".dvc/cache")).unwrap();
        std::fs::remove_dir_all(p.join("data")).unwrap();
        dvc(&p, &s, &a, &["pull", "-q"]);
        // `dvc get` from the git repository: the file from the remote it names.
        let out = p.parent().unwrap().join("got.bin");
        dvc(
            p.parent().unwrap(),
            &s,
            &a,
            &[
                "get",
                p.to_str().unwrap(),
                "data/part-3.bin",
                "-o",
                out.to_str().unwrap(),
            ],
        );
    })
    .await
    .unwrap();
    for (path, data) in &files {
        assert_eq!(&std::fs::read(project.join(path)).unwrap(), data, "{path}");
    }
    assert_eq!(
        std::fs::read(work.path().join("got.bin")).unwrap(),
        files[3].1
    );
    // The remote is the dataset's: its files under main/dvcstore/, one commit each.
    let v = client(
        &s3,
        Some(&alice),
        &["hostile", "alice.survey", "alice.survey"],
    )
    .await;
    assert_eq!(v["buckets"], serde_json::json!(["alice.survey"]));
    let listing = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/datasets/alice/survey/revisions?limit=100",
            server.url
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let uploads = listing["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["message"]
                .as_str()
                .unwrap()
                .starts_with("Upload dvcstore/files/md5/")
        })
        .count();
    assert_eq!(uploads, 6, "{listing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_is_read_before_the_answer_and_dvc_http_urls_say_where_to_go() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/survey", Visibility::Private).await;
    // DVC's HTTP remote POSTs each file to {url}/files/md5/…: 30 MiB sent whole, then the answer.
    let big = vec![7u8; 30 << 20];
    let r = reqwest::Client::new()
        .post(format!(
            "{}/alice/survey/files/md5/ab/cdef0123456789abcdef0123456789",
            server.url
        ))
        .bearer_auth(&alice)
        .body(big.clone())
        .send()
        .await
        .expect("the answer, not a broken pipe");
    let (status, headers, v) = body(r).await;
    assert_error_body(status, &headers, &v, 404);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("not a DVC HTTP remote"),
        "{v}"
    );
    // Any refusal of a body it did not read: an upload to a route that is not there.
    let r = reqwest::Client::new()
        .put(format!(
            "{}/api/v1/datasets/alice/survey/nowhere",
            server.url
        ))
        .bearer_auth(&alice)
        .body(big)
        .send()
        .await
        .expect("the answer, not a broken pipe");
    assert_eq!(r.status(), 404);
}
