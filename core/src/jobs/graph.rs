//! The lineage of a revision, as a caller may see it: upstream, what made it (the job and run of
//! its provenance), then what made each input revision that run read, and so on; downstream, the
//! revisions runs made from it, then from those. Each side is at most [`DEEPEST`] steps and
//! [`MOST`] revisions; a revision the caller may not read is a hidden node, and nothing past it
//! is followed.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;

use crate::auth::Principal;
use crate::error::Result;
use crate::Core;

/// The most steps either way.
pub const DEEPEST: usize = super::trigger::DEEPEST as usize;
/// The most revisions on either side.
pub const MOST: usize = 200;

/// A revision in a lineage.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Steps from the revision asked about (0: itself).
    pub depth: usize,
    /// `ns/name` and the full revision id; empty when hidden.
    pub dataset: String,
    pub revision: String,
    /// The job that made it (`ns/name` of its dataset, and its name) and the run, if a run did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<i64>,
    /// A revision the caller may not read: nothing of it is shown.
    pub hidden: bool,
}

/// A revision's lineage: itself first upstream, then what made it, depth first.
#[derive(Debug, Clone, Serialize)]
pub struct Lineage {
    pub upstream: Vec<Node>,
    pub downstream: Vec<Node>,
    /// Whether the caller may run again what made it (they write its dataset whole, and the
    /// job's).
    pub may_rerun: bool,
}

/// The lineage of revision `rev` of `ns/name`, for a reader of it.
pub async fn lineage(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
    rev: &str,
) -> Result<Lineage> {
    let (repo, id) = super::read_at(core, who, ns, name, rev).await?;
    let root_name = format!("{}/{}", repo.namespace, repo.name);
    let root = (root_name.clone(), id);
    let mut upstream = Vec::new();
    let mut seen = HashSet::new();
    // `None`: an input the caller may not read, shown hidden and not followed.
    let mut todo: Vec<(Option<(String, String)>, usize)> = vec![(Some(root.clone()), 0)];
    while let Some((next, depth)) = todo.pop() {
        if upstream.len() >= MOST {
            break;
        }
        let Some((dataset, revision)) = next else {
            upstream.push(hidden(depth));
            continue;
        };
        if !seen.insert((dataset.clone(), revision.clone())) {
            continue;
        }
        let (dns, dname) = super::split(&dataset);
        let record = super::provenance(core, who, dns, dname, &revision)
            .await
            .ok();
        let mut node = Node {
            depth,
            dataset,
            revision,
            job: None,
            run: None,
            hidden: false,
        };
        if let Some(r) = &record {
            if r["job"].get("hidden").is_none() {
                node.job = Some((text(&r["job"]["dataset"]), text(&r["job"]["name"])));
                node.run = r["run"]["id"].as_i64();
            }
            if depth < DEEPEST {
                let inputs = r["inputs"].as_array().cloned().unwrap_or_default();
                // Pushed last first: the first input is shown first.
                for input in inputs.iter().rev() {
                    let next = match input.get("hidden") {
                        Some(_) => None,
                        None => Some((text(&input["dataset"]), text(&input["revision"]))),
                    };
                    todo.push((next, depth + 1));
                }
            }
        }
        upstream.push(node);
    }
    let mut downstream = Vec::new();
    let mut todo = vec![(root, 1usize)];
    let mut seen = HashSet::new();
    while let Some(((dataset, revision), depth)) = todo.pop() {
        if downstream.len() >= MOST
            || depth > DEEPEST
            || !seen.insert((dataset.clone(), revision.clone()))
        {
            continue;
        }
        for run in core.db.runs_reading(&revision, MOST as i64).await? {
            let read: Vec<super::Pinned> = serde_json::from_str(&run.inputs).unwrap_or_default();
            if !read
                .iter()
                .any(|p| p.revision == revision && p.dataset.eq_ignore_ascii_case(&dataset))
            {
                continue;
            }
            let out = run.output.split('@').next().unwrap_or_default().to_owned();
            let made = run.output_revision.clone().unwrap_or_default();
            let declaring = match core.db.repo_by_id(run.repo_id).await? {
                Some(r) => format!("{}/{}", r.namespace, r.name),
                None => continue,
            };
            if !super::readable(core, who, &out).await {
                downstream.push(hidden(depth));
                continue;
            }
            let job = super::readable(core, who, &declaring)
                .await
                .then(|| (declaring, run.job.clone()));
            let run_id = job.as_ref().map(|_| run.id);
            downstream.push(Node {
                depth,
                dataset: out.clone(),
                revision: made.clone(),
                job,
                run: run_id,
                hidden: false,
            });
            todo.push(((out, made), depth + 1));
        }
    }
    let may_rerun = match upstream.first().and_then(|n| n.job.as_ref()) {
        Some((declaring, _)) => {
            super::writes_whole(core, who, declaring).await
                && super::writes_whole(core, who, &root_name).await
        }
        None => false,
    };
    Ok(Lineage {
        upstream,
        downstream,
        may_rerun,
    })
}

/// A revision the caller may not read.
fn hidden(depth: usize) -> Node {
    Node {
        depth,
        dataset: String::new(),
        revision: String::new(),
        job: None,
        run: None,
        hidden: true,
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}
