//! OpenLineage (openlineage.io, spec 2-0-2): each `run.*` event as a RunEvent (START, COMPLETE,
//! FAIL or ABORT), for the webhooks whose format is `openlineage`. The job is the declaring
//! dataset's job at the revision that declared it;
//! its source code location is the declaring dataset's git repository at that revision;
//! inputs and outputs are strata datasets at the revisions the run read and wrote, named
//! `namespace/name` in the server's namespace (its public URL). An input the webhook's owner may
//! not read is left out.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::db::EventRow;
use crate::Core;

const SPEC: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const VERSION_FACET: &str =
    "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet";
const ERROR_FACET: &str =
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
const JOB_TYPE_FACET: &str =
    "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";
const SOURCE_FACET: &str = "https://openlineage.io/spec/facets/1-1-0/SourceCodeLocationJobFacet.json#/$defs/SourceCodeLocationJobFacet";
const OUTPUT_STATS_FACET: &str = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet";

/// The RunEvent of `run.*` event `e`, as `owner` (the webhook's owner) may see it.
pub async fn event(core: &Core, owner: &Principal, e: &EventRow) -> String {
    let data: Value = serde_json::from_str(&e.data).unwrap_or_default();
    let base = core.settings.public_url.trim_end_matches('/').to_owned();
    let producer = format!(
        "{base}/api/v1/openapi.json#strata-{}",
        env!("CARGO_PKG_VERSION")
    );
    let facet = |schema: &str, mut fields: Value| {
        fields["_producer"] = json!(producer);
        fields["_schemaURL"] = json!(schema);
        fields
    };
    let run_id = data["run"].as_i64().unwrap_or_default();
    let job = data["job"].as_str().unwrap_or_default();
    let (ns, name) = split(&e.dataset);
    let row = match core.db.repo_by_path(ns, name).await {
        Ok(Some(repo)) => core.db.run(repo.id, run_id).await.ok().flatten(),
        _ => None,
    };
    let state = row.as_ref().map(|r| r.state.as_str()).unwrap_or_default();
    let event_type = match e.kind.as_str() {
        "run.started" => "START",
        "run.succeeded" => "COMPLETE",
        _ if state == "cancelled" => "ABORT",
        _ => "FAIL",
    };
    let mut run_facets = json!({});
    if event_type == "FAIL" {
        let message = data["error"].as_str().unwrap_or("the run failed");
        run_facets["errorMessage"] = facet(
            ERROR_FACET,
            json!({"message": message, "programmingLanguage": "shell"}),
        );
    }
    let dataset = |name: &str, revision: Option<&str>| {
        let mut facets = json!({});
        if let Some(rev) = revision {
            facets["version"] = facet(VERSION_FACET, json!({"datasetVersion": rev}));
        }
        json!({"namespace": base, "name": name, "facets": facets})
    };
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut job_facets = json!({
        "jobType": facet(JOB_TYPE_FACET, json!({"processingType": "BATCH", "integration": "STRATA", "jobType": "JOB"})),
    });
    if let Some(r) = &row {
        let listed: Vec<Value> = serde_json::from_str(&r.inputs).unwrap_or_default();
        for i in listed {
            let name = i["dataset"].as_str().unwrap_or_default();
            if readable(core, owner, name).await {
                inputs.push(dataset(name, i["revision"].as_str()));
            }
        }
        let out = r.output.split('@').next().unwrap_or_default();
        if !out.is_empty() && readable(core, owner, out).await {
            let mut o = dataset(
                out,
                r.output_revision
                    .as_deref()
                    .filter(|_| event_type == "COMPLETE"),
            );
            if event_type == "COMPLETE" {
                o["outputFacets"] = json!({"outputStatistics": facet(OUTPUT_STATS_FACET, json!({"size": r.bytes_out}))});
            }
            outputs.push(o);
        }
        job_facets["sourceCodeLocation"] = facet(
            SOURCE_FACET,
            json!({"type": "git", "url": format!("{base}/{}.git", e.dataset), "version": r.job_revision}),
        );
    }
    json!({
        "eventType": event_type,
        "eventTime": crate::db::rfc3339(e.created_at),
        "producer": producer,
        "schemaURL": SPEC,
        "run": {"runId": run_uuid(&base, &e.dataset, run_id), "facets": run_facets},
        "job": {"namespace": base, "name": format!("{}.{job}", e.dataset), "facets": job_facets},
        "inputs": inputs,
        "outputs": outputs,
    })
    .to_string()
}

/// A run's id as a UUID (version 8: the first 16 bytes of a hash of the server, the declaring
/// dataset and the run's number): the same run, the same id, in each of its events.
fn run_uuid(base: &str, dataset: &str, run: i64) -> String {
    let mut h = Sha256::new();
    h.update(format!("{base}\n{dataset}\n{run}").as_bytes());
    let mut b: [u8; 16] = h.finalize()[..16].try_into().unwrap_or_default();
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

fn split(dataset: &str) -> (&str, &str) {
    dataset.split_once('/').unwrap_or(("", dataset))
}

async fn readable(core: &Core, who: &Principal, dataset: &str) -> bool {
    let (ns, name) = split(dataset);
    crate::datasets::gate::dataset(core, who, ns, name, crate::auth::Action::Read)
        .await
        .is_ok()
}
