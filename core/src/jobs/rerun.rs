//! Running again what made a revision: the job as declared then, its inputs at the revisions
//! that run read (an incremental run: since the same revisions), its output on a new branch from
//! the revision's parent, where the run's provenance says whether it came out byte for byte the
//! same (`run.rs`).

use std::sync::Arc;

use serde_json::Value;

use super::{begin, split, How};
use crate::auth::{Action, Principal};
use crate::datasets::gate;
use crate::datasets::git_on;
use crate::db::RunRow;
use crate::error::{Error, Result};
use crate::Core;

/// What a re-run reproduces: a revision a run committed, on a new branch from that revision's
/// parent, with the inputs at the revisions that run read.
#[derive(Debug, Clone)]
pub(crate) struct Reproduce {
    /// The revision reproduced (its parent is where the re-run's branch starts).
    pub revision: String,
    /// The revisions the run read, in the job's order of inputs.
    pub inputs: Vec<String>,
    /// For an incremental job: the revisions it read changes since.
    pub since: Vec<Option<String>>,
}

/// Runs again, as `who`, the job that made revision `rev` of `ns/name`: the job as it was then,
/// its inputs at the revisions that run read. The output lands on a new branch of `ns/name`
/// (`rerun-…`) from `rev`'s parent, and its provenance says whether it reproduced `rev`'s files
/// byte for byte.
pub async fn rerun(
    core: &Arc<Core>,
    who: &Principal,
    ns: &str,
    name: &str,
    rev: &str,
) -> Result<RunRow> {
    let output = gate::dataset(core, who, ns, name, Action::Write).await?;
    output.check_rev(Some(rev))?;
    let at = rev.to_owned();
    let mut id = git_on(core, &output, move |ms, ds| Ok(ms.revision(ds, &at)?.id)).await?;
    let Some((_, record)) = core.db.provenance(output.id, &id).await? else {
        return Err(Error::not_found(format!(
            "revision {id} of {ns}/{name} was not made by a job"
        )));
    };
    let record: Value = serde_json::from_str(&record).map_err(Error::internal)?;
    // The column types' commit on top of a run's: what is reproduced is the run's own.
    if let Some(data) = record["typed_of"].as_str() {
        id = data.to_owned();
    }
    let at = id.clone();
    let parent = git_on(core, &output, move |ms, ds| {
        Ok(ms.revision(ds, &at)?.parents.first().cloned())
    })
    .await?;
    let Some(parent) = parent else {
        return Err(Error::conflict(format!(
            "revision {id} is the first of {ns}/{name}: a re-run lands on a branch from its parent, and it has none"
        )));
    };
    let declaring = record["job"]["dataset"].as_str().unwrap_or_default();
    let (job_name, job_revision) = (
        record["job"]["name"].as_str().unwrap_or_default(),
        record["job"]["revision"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    );
    let (dns, dname) = split(declaring);
    let repo = gate::dataset(core, who, dns, dname, Action::Write).await?;
    if repo.limited() {
        return Err(Error::forbidden(
            "jobs run for those who write the whole dataset, not through a share",
        ));
    }
    let at = job_revision.clone();
    let package = git_on(core, &repo, move |ms, ds| {
        crate::datasets::packaged::at(ms, ds, &at)
    })
    .await?;
    let jobs = match package {
        Some(Ok(json)) => crate::datasets::packaged::jobs(&json)?,
        _ => Vec::new(),
    };
    let Some(mut job) = jobs.into_iter().find(|j| j.name == job_name) else {
        return Err(Error::conflict(format!(
            "{declaring} declared no job {job_name:?} at {job_revision}: it cannot run again"
        )));
    };
    let (ons, oname) = split(&job.output.dataset);
    if !(ons.eq_ignore_ascii_case(&output.namespace) && oname.eq_ignore_ascii_case(&output.name)) {
        return Err(Error::conflict(format!(
            "job {job_name} wrote {} then, not {ns}/{name}",
            job.output.dataset
        )));
    }
    let recorded = record["inputs"].as_array().cloned().unwrap_or_default();
    let inputs: Vec<String> = recorded
        .iter()
        .map(|i| i["revision"].as_str().unwrap_or_default().to_owned())
        .collect();
    let since: Vec<Option<String>> = recorded
        .iter()
        .map(|i| i["since"].as_str().map(str::to_owned))
        .collect();
    if inputs.len() != job.inputs.len() {
        return Err(Error::conflict(
            "the run's record does not match its job's inputs",
        ));
    }
    // Its branch, made now: the revision's parent must still be whole.
    let branch = format!("rerun-{}-{}", &id[..id.len().min(12)], crate::db::now());
    crate::datasets::refs::create_branch(core, &output, &branch, Some(&parent)).await?;
    job.output.branch = branch.clone();
    // A reproduction is compared, not proposed: it lands on its branch.
    job.output.merge_request = false;
    let how = How {
        cause: "rerun",
        force: true,
        depth: 0,
    };
    let reproduce = Reproduce {
        revision: id,
        inputs,
        since,
    };
    let started = begin(core, who, repo, job, job_revision, how, Some(reproduce)).await;
    if started.is_err() {
        let _ = crate::datasets::refs::delete_branch(core, &output, &branch).await;
    }
    started
}
