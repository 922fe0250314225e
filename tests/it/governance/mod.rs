//! Governance end to end: Fybrik's notebook sample (its policy and `lib.rego` verbatim, its PaySim
//! rows) in a policy dataset; pandas through `pyarrow.flight` and through the tabular endpoint (CSV
//! and Arrow IPC) sees the three PII columns redacted and the rest intact, while the raw, LFS,
//! share-link and clone paths refuse the bytes. `actions.rs`: Deny, Remove, Hash, Filter,
//! residency, policy changes by push and by commit, broken policies refused, failing closed, the
//! audit entries, and the catalog search. `trust.rs`: only site admins create and write the policy
//! dataset; anyone else holding write on it makes governance fail closed. `shared.rs`: tables
//! through a folder share, where a resource outside it answers as a missing one. `versions.rs`:
//! older versions of a governed table refused raw wherever they are committed. `writes.rs`: the
//! sample's write rule applied to what is stored; a Deny on write refusing commits and pushes.
//! `retag.rs`: a writer the policies redact cannot untag what they read (REST, commits, pushes).
//! `references.rs`: a contract's foreign key into a governed column is no oracle on its values.

mod actions;
mod aggregates;
mod private_sql;
mod references;
mod residency;
mod retag;
mod shared;
mod trust;
mod versions;
mod workloads;
mod writes;

use serde_json::{json, Value};

use crate::common::*;

pub const PAYSIM: &[u8] =
    include_bytes!("../../../fixtures/governance/paysim/PS_20174392719_1491204439457_log.csv");
pub const SAMPLE_POLICY: &str =
    include_str!("../../../fixtures/governance/policies/sample-policy.rego");
pub const LIB: &str = include_str!("../../../fixtures/governance/policies/lib.rego");

pub const PII: [&str; 3] = ["nameOrig", "oldbalanceOrg", "newbalanceOrig"];

/// A server governed by `steward/policies` in region `theshire`, with alice's `alice/paysim`
/// (public, tagged as in Fybrik's sample) and bob, who has no grant on it.
pub struct Gov {
    pub server: TestServer,
    pub steward: String,
    pub alice: String,
    pub bob: String,
    pub api: String,
}

impl Gov {
    pub async fn start() -> Gov {
        Gov::start_with(Backend::Local, |_| {}).await
    }

    /// [`Gov::start`] on `backend`, the configuration changed by `tweak` after the governance
    /// settings.
    pub async fn start_with(
        backend: Backend,
        tweak: impl FnOnce(&mut strata_core::config::Config),
    ) -> Gov {
        let server = TestServer::start_with(backend, |c| {
            c.policy_dataset = Some("steward/policies".into());
            c.region = Some("theshire".into());
            tweak(c);
        })
        .await;
        let steward = server.user_with("steward", true, "*").await;
        let alice = server.user("alice").await;
        let bob = server.user("bob").await;
        let api = format!("{}/api/v1/datasets", server.url);
        let gov = Gov {
            server,
            steward,
            alice,
            bob,
            api,
        };
        gov.create("steward", "policies", &gov.steward.clone(), "private")
            .await;
        // The table is there before the policies (their write rule would have redacted it).
        gov.create("alice", "paysim", &gov.alice.clone(), "public")
            .await;
        upload(&gov.server, "alice/paysim", &gov.alice, PAYSIM).await;
        gov.set_package(json!(["finance"]), "theshire").await;
        let (status, v) = gov
            .commit_files(
                "steward/policies",
                &[("sample-policy.rego", SAMPLE_POLICY), ("lib.rego", LIB)],
            )
            .await;
        assert_eq!(status, 200, "{v}");
        gov
    }

    pub async fn create(&self, ns: &str, name: &str, token: &str, visibility: &str) {
        let r = client()
            .post(&self.api)
            .bearer_auth(token)
            .json(&json!({"namespace": ns, "name": name, "visibility": visibility}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    pub async fn head(&self, dataset: &str, token: &str) -> String {
        let v: Value = client()
            .get(format!("{}/{dataset}", self.api))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["revision"]["id"].as_str().unwrap().to_owned()
    }

    /// Commits `files` (path, text) to `dataset` as the steward through the REST commit API.
    pub async fn commit_files(&self, dataset: &str, files: &[(&str, &str)]) -> (u16, Value) {
        let lines = files
            .iter()
            .map(|(path, text)| json!({"key": "file", "value": {"path": path, "content": text}}))
            .collect();
        self.commit(dataset, &self.steward, lines).await
    }

    /// One NDJSON commit of `lines` (after a header naming the head) to `dataset` as `token`.
    pub async fn commit(&self, dataset: &str, token: &str, lines: Vec<Value>) -> (u16, Value) {
        let parent = self.head(dataset, token).await;
        let header = json!({"key": "header", "value": {"summary": "a commit", "parent": parent}});
        let lines: Vec<String> = std::iter::once(header)
            .chain(lines)
            .map(|l| l.to_string())
            .collect();
        let r = client()
            .post(format!("{}/{dataset}/commit", self.api))
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .body(lines.join("\n"))
            .send()
            .await
            .unwrap();
        let (status, _, v) = body(r).await;
        (status, v)
    }

    /// Fybrik's sample without its write rule (for tests of what reads see of writes the
    /// sample would rewrite).
    pub async fn reads_only(&self) {
        let second = SAMPLE_POLICY.rfind("\nrule[").unwrap();
        let (status, v) = self
            .commit_files(
                "steward/policies",
                &[("sample-policy.rego", &SAMPLE_POLICY[..second])],
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }

    /// alice's datapackage: the PaySim resource with Fybrik's tags, `tags` and `geography` on
    /// the dataset.
    pub async fn set_package(&self, tags: Value, geography: &str) {
        self.set_table(tags, geography, PAYSIM).await
    }

    /// alice's datapackage, with `data` (uploaded already) as the PaySim resource's bytes.
    pub async fn set_table(&self, tags: Value, geography: &str, data: &[u8]) {
        let header = std::str::from_utf8(PAYSIM).unwrap().lines().next().unwrap();
        let fields: Vec<Value> = header
            .split(',')
            .map(|c| {
                let kind = match c {
                    "step" | "isFraud" | "isFlaggedFraud" => "integer",
                    "type" | "nameOrig" | "nameDest" => "string",
                    _ => "number",
                };
                json!({"name": c, "type": kind, "tags": {"PII": PII.contains(&c)}})
            })
            .collect();
        let pkg = json!({
            "name": "paysim", "title": "PaySim transactions", "tags": tags, "geography": geography,
            "resources": [{"name": "paysim-csv", "path": "paysim.csv", "format": "csv",
                "bytes": data.len(), "hash": format!("sha256:{}", sha256_hex(data)),
                "schema": {"fields": fields}}]
        });
        let parent = self.head("alice/paysim", &self.alice).await;
        let r = client()
            .put(format!("{}/alice/paysim", self.api))
            .bearer_auth(&self.alice)
            .json(&json!({"datapackage": pkg, "parent": parent}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// GET a table as CSV: (status, body text).
    pub async fn table(&self, token: Option<&str>, query: &str) -> (u16, String) {
        let mut req = client().get(format!(
            "{}/alice/paysim/tables/paysim-csv?{query}",
            self.api
        ));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// The audit log's newest 500 entries, as the steward (an admin) reads them.
    pub async fn audit(&self) -> Vec<Value> {
        let v: Value = client()
            .get(format!("{}/api/v1/audit?limit=500", self.server.url))
            .bearer_auth(&self.steward)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["entries"].as_array().unwrap().clone()
    }

    /// Runs a Python script with the test tools' interpreter.
    pub async fn python(&self, script: String) -> String {
        let python = python_tool("python");
        // Leave without the interpreter's teardown, once the answer is printed: pyarrow's
        // thread pools now and then abort there ("terminate called without an active
        // exception") after a correct run.
        let script = format!("{script}\nimport os, sys\nsys.stdout.flush()\nos._exit(0)\n");
        tokio::task::spawn_blocking(move || {
            run(std::process::Command::new(python).args(["-c", &script]))
        })
        .await
        .unwrap()
    }
}

/// The line of a script's output that holds its JSON (Python may warn around it).
pub(crate) fn json_line(out: &str) -> &str {
    out.lines()
        .find(|l| l.starts_with('[') || l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON in {out}"))
}

/// What the PaySim rows look like after the sample policy: PII columns redacted, others intact.
pub(crate) fn check_redacted(rows: &Value) {
    let original: Vec<Vec<&str>> = std::str::from_utf8(PAYSIM)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), original.len());
    let header: Vec<&str> = std::str::from_utf8(PAYSIM)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .split(',')
        .collect();
    for (row, want) in rows.iter().zip(&original) {
        for (i, col) in header.iter().enumerate() {
            let got = &row[col];
            if PII.contains(col) {
                assert_eq!(got, "XXXXXXXXXX", "{col} in {row}");
            } else {
                let text = match got {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    other => panic!("{col}: {other}"),
                };
                let same =
                    text == want[i] || text.parse::<f64>().ok() == want[i].parse::<f64>().ok();
                assert!(same, "{col}: {text} != {}", want[i]);
            }
        }
    }
}

const FLIGHT: &str = r#"
import json, sys
import pyarrow.flight as fl
client = fl.connect(sys.argv[1])
options = fl.FlightCallOptions(headers=[(b"authorization", ("Bearer " + sys.argv[2]).encode())] if sys.argv[2] else [])
request = {"asset": "alice/paysim/paysim-csv"}
info = client.get_flight_info(fl.FlightDescriptor.for_command(json.dumps(request)), options)
df = client.do_get(info.endpoints[0].ticket, options).read_pandas()
print(json.dumps({"types": {c: str(t) for c, t in df.dtypes.items()}, "rows": json.loads(df.to_json(orient="records"))}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fybriks_notebook_sample_redacts_pii_on_every_tabular_path_and_refuses_raw_bytes() {
    let gov = Gov::start().await;
    let grpc = gov.server.url.replace("http://", "grpc://");
    let python = python_tool("python");

    // 1. The notebook's code, unchanged but for the token, through Arrow Flight on strata's port.
    for token in [gov.alice.clone(), gov.bob.clone(), String::new()] {
        let (script, grpc) = (FLIGHT.to_owned(), grpc.clone());
        let py = python.clone();
        let out = tokio::task::spawn_blocking(move || {
            run(std::process::Command::new(py).args(["-c", &script, &grpc, &token]))
        })
        .await
        .unwrap();
        let v: Value = serde_json::from_str(json_line(&out)).unwrap();
        assert_eq!(v["types"]["step"], "int64", "{}", v["types"]);
        assert_eq!(v["types"]["amount"], "float64");
        check_redacted(&v["rows"]);
    }

    // 2. pandas over HTTP: CSV, and an Arrow IPC stream.
    let url = format!("{}/alice/paysim/tables/paysim-csv", gov.api);
    let script = format!(
        "import json, io, pandas as pd, pyarrow.ipc as ipc, requests\n\
         h = {{'Authorization': 'Bearer {t}'}}\n\
         csv = pd.read_csv('{url}?intent=fraud', storage_options=h)\n\
         r = requests.get('{url}?format=arrow', headers=h)\n\
         assert r.headers['content-type'] == 'application/vnd.apache.arrow.stream', r.headers\n\
         arrow = ipc.open_stream(io.BytesIO(r.content)).read_pandas()\n\
         print(json.dumps([json.loads(d.to_json(orient='records')) for d in (csv, arrow)]))\n",
        t = gov.alice
    );
    let out = gov.python(script).await;
    let v: Value = serde_json::from_str(json_line(&out)).unwrap();
    check_redacted(&v[0]);
    check_redacted(&v[1]);

    // 3. The raw paths refuse the bytes and name the tabular endpoint.
    let raw = client()
        .get(format!("{}/alice/paysim/raw/paysim.csv", gov.api))
        .bearer_auth(&gov.alice)
        .send()
        .await
        .unwrap();
    let (status, headers, v) = body(raw).await;
    assert_error_body(status, &headers, &v, 403);
    assert!(
        v["message"].as_str().unwrap().contains("tables/paysim-csv"),
        "{v}"
    );
    let oid = sha256_hex(PAYSIM);
    let req = json!({"operation": "download", "objects": [{"oid": oid, "size": PAYSIM.len()}]});
    let (status, _, v) = body(
        lfs_post(
            &gov.server.batch_url("alice/paysim"),
            Some(&gov.alice),
            &req,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["objects"][0]["error"]["code"], 403, "{v}");
    assert!(v["objects"][0]["actions"].is_null());
    assert!(v["objects"][0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("tables"));
    // The same bytes committed under another name, outside the datapackage: refused as well.
    let copy =
        json!({"key": "lfsFile", "value": {"path": "copy.csv", "oid": oid, "size": PAYSIM.len()}});
    let (status, v) = gov.commit("alice/paysim", &gov.alice, vec![copy]).await;
    assert_eq!(status, 200, "{v}");
    let copy = client()
        .get(format!("{}/alice/paysim/raw/copy.csv", gov.api))
        .bearer_auth(&gov.bob)
        .send()
        .await
        .unwrap();
    assert_eq!(copy.status(), 403);
    // The file's page shows the table as the policies let it out, and downloads it that way.
    let page = client()
        .get(format!(
            "{}/datasets/alice/paysim/files/paysim.csv",
            gov.server.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("XXXXXXXXXX") && !page.contains("C1231006815"),
        "{page}"
    );
    assert!(page.contains("/api/v1/datasets/alice/paysim/tables/paysim-csv"));
    // A share link of the file: the page's download refuses too.
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
        "paysim.csv",
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
    // A clone gets the pointer; git-lfs is refused the object.
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    setup_home(&home, &gov.server.url, &gov.alice);
    let url = format!("{}/alice/paysim.git", gov.server.url);
    let clone = git(&home, dir.path())
        .args(["clone", &url, "paysim"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&clone.stderr);
    assert!(!clone.status.success() || said.contains("403"), "{said}");
    let pointer = std::fs::read_to_string(dir.path().join("paysim/paysim.csv")).unwrap_or_default();
    assert!(
        !pointer.contains("nameOrig"),
        "the raw bytes reached the clone"
    );

    // 4. Every governed decision is audited with the policies that made it.
    let entries = gov.audit().await;
    let decisions: Vec<&Value> = entries
        .iter()
        .filter(|e| e["event"] == "policy.decision")
        .collect();
    let surfaces: std::collections::BTreeSet<String> = decisions
        .iter()
        .map(|e| {
            let d: Value = match &e["detail"] {
                Value::String(s) => serde_json::from_str(s).unwrap(),
                d => d.clone(),
            };
            assert_eq!(
                d["policies"]["files"],
                json!(["lib.rego", "sample-policy.rego"]),
                "{d}"
            );
            assert_eq!(d["decision"]["columns"]["nameOrig"], "RedactAction");
            d["surface"].as_str().unwrap().to_owned()
        })
        .collect();
    for s in ["flight", "table", "raw", "lfs"] {
        assert!(surfaces.contains(s), "no {s} decision in {surfaces:?}");
    }
}
