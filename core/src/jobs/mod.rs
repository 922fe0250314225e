//! Jobs: commands a dataset's `datapackage.json` declares (`strata_apps::job`), each run to
//! completion on fixed revisions of its inputs, in the process runner's sandbox, its output
//! committed as one revision of its output dataset through the one write path (governed writes,
//! quotas and data contracts as every write: a contract that fails fails the run, and nothing
//! lands), with the run's provenance in the commit and in the database. A run acts as whoever
//! started it: it reads only what they may read and writes only where they may write.
//!
//! Runs are kept with their state, log, exit code, times and bytes; one run per (job, inputs) at
//! a time, and a run whose inputs and job are those of the last success is skipped unless forced
//! (docs/jobs.md).

mod changes;
mod fetch;
pub mod graph;
mod log;
mod propose;
mod provenance;
mod rerun;
mod run;
pub mod trigger;

pub use log::log;
pub use rerun::rerun;
pub(crate) use rerun::Reproduce;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use strata_apps::job::Job;
use tokio_util::sync::CancellationToken;

use crate::auth::{Action, Principal};
use crate::config::{Config, Interpreter};
use crate::datasets::gate::{self, Gated};
use crate::datasets::git_on;
use crate::db::{NewRun, RunRow};
use crate::error::{Error, Result};
use crate::Core;

/// The most runs a list shows.
pub const RUNS_LISTED: i64 = 100;

/// The jobs' settings and the runs this server is running.
#[derive(Debug)]
pub struct Jobs {
    pub interpreters: Vec<Interpreter>,
    pub timeout: Duration,
    pub memory_mb: u64,
    pub max_bytes: u64,
    /// The shortest time between two runs a schedule starts, in seconds.
    pub schedule_floor: i64,
    /// Where runs work: `<data dir>/jobs/run-<id>`.
    pub root: PathBuf,
    turns: Arc<tokio::sync::Semaphore>,
    running: Mutex<HashMap<i64, CancellationToken>>,
}

impl Jobs {
    pub fn new(config: &Config) -> Jobs {
        let j = &config.jobs;
        Jobs {
            interpreters: j.jobs_interpreters.clone(),
            timeout: Duration::from_secs(j.jobs_timeout_secs.max(1)),
            memory_mb: j.jobs_memory_mb,
            max_bytes: j.jobs_max_mb.saturating_mul(1 << 20),
            schedule_floor: i64::try_from(j.jobs_schedule_min_secs).unwrap_or(i64::MAX),
            root: config.data_dir.join("jobs"),
            turns: Arc::new(tokio::sync::Semaphore::new(j.jobs_max_running.max(1))),
            running: Mutex::new(HashMap::new()),
        }
    }
}

/// An input at the revision a run reads.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Pinned {
    pub dataset: String,
    pub branch: String,
    pub revision: String,
}

/// The jobs dataset `ns/name` declares on its default branch, for a reader of it.
pub async fn list(core: &Core, who: &Principal, ns: &str, name: &str) -> Result<Vec<Job>> {
    let repo = gate::dataset(core, who, ns, name, Action::Read).await?;
    Ok(declared(core, &repo).await?.1)
}

/// The jobs `repo` declares on the head of its default branch, and that head.
async fn declared(core: &Core, repo: &Gated) -> Result<(String, Vec<Job>)> {
    let package = git_on(core, repo, |ms, ds| {
        let head = match ms.resolve(ds, None) {
            Ok(id) => id.to_string(),
            Err(strata_metastore::Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some((
            head.clone(),
            crate::datasets::packaged::at(ms, ds, &head)?,
        )))
    })
    .await?;
    match package {
        Some((head, Some(Ok(json)))) => Ok((head, crate::datasets::packaged::jobs(&json)?)),
        Some((head, _)) => Ok((head, Vec::new())),
        None => Ok((String::new(), Vec::new())),
    }
}

/// Starts a run of job `job` of `ns/name` by hand, as `who` (who must write the dataset, read
/// every input and write the output). With the inputs and job of the last success, the run is
/// recorded as skipped unless `force`.
pub async fn start(
    core: &Arc<Core>,
    who: &Principal,
    ns: &str,
    name: &str,
    job: &str,
    force: bool,
) -> Result<RunRow> {
    let repo = gate::dataset(core, who, ns, name, Action::Write).await?;
    if repo.limited() {
        return Err(Error::forbidden(
            "jobs run for those who write the whole dataset, not through a share",
        ));
    }
    let (job_revision, jobs) = declared(core, &repo).await?;
    let Some(job) = jobs.into_iter().find(|j| j.name == job) else {
        return Err(Error::not_found(format!(
            "{ns}/{name} declares no job {job:?} on its default branch"
        )));
    };
    let how = How {
        cause: "manual",
        force,
        depth: 0,
    };
    begin(core, who, repo, job, job_revision, how, None).await
}

/// Why and how a run starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct How {
    /// `manual`, `push`, `schedule` or `rerun`.
    pub cause: &'static str,
    /// Run even with the inputs and job of the last success.
    pub force: bool,
    /// How many runs made the revision that started this one (a chain of jobs is bounded).
    pub depth: i64,
}

/// Starts a run of `job` (declared at `job_revision` of `repo`, which `who` writes whole) as
/// `who`: its inputs pinned at their heads now, the output gated, one run per inputs.
async fn begin(
    core: &Arc<Core>,
    who: &Principal,
    repo: Gated,
    job: Job,
    job_revision: String,
    how: How,
    reproduce: Option<Reproduce>,
) -> Result<RunRow> {
    let Principal::User { user, .. } = who else {
        return Err(Error::forbidden(
            "jobs are started by people: sign in, or use a personal access token",
        ));
    };
    let interpreter = core
        .jobs
        .interpreters
        .iter()
        .find(|i| i.name == job.run.interpreter)
        .cloned()
        .ok_or_else(|| {
            Error::unprocessable(format!(
                "jobs.{}.run.interpreter: this server runs no interpreter {:?} (its --jobs-interpreter list: {})",
                job.name,
                job.run.interpreter,
                core.jobs.interpreters.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })?;
    if matches!(core.apps.sandbox, crate::apps::sandbox::Policy::Off) {
        return Err(Error::conflict(
            "jobs run only in the process sandbox, and it is off (--apps-process-sandbox)",
        ));
    }
    // Each input at its branch's head now (a re-run: at the revision read then), as `who` may
    // read it.
    let mut inputs = Vec::with_capacity(job.inputs.len());
    for (i, input) in job.inputs.iter().enumerate() {
        let (ins, iname) = split(&input.dataset);
        let gated = gate::dataset(core, who, ins, iname, Action::Read).await?;
        let head = match &reproduce {
            Some(r) => Some(pinned_at(core, &gated, &r.inputs[i]).await?),
            None => crate::datasets::paths::head_of(core, &gated, Some(&input.branch)).await?,
        };
        let head = head.ok_or_else(|| {
            Error::not_found(format!(
                "{} has no branch {:?}",
                input.dataset, input.branch
            ))
        })?;
        inputs.push((
            Pinned {
                dataset: format!("{}/{}", gated.namespace, gated.name),
                branch: input.branch.clone(),
                revision: head,
            },
            gated,
        ));
    }
    let (ons, oname) = split(&job.output.dataset);
    let output = gate::dataset(core, who, ons, oname, Action::Write).await?;
    if output.limited() {
        return Err(Error::forbidden(format!(
            "{}: a job writes datasets its starter writes whole, not through a share",
            job.output.dataset
        )));
    }
    // An incremental run reads what changed since the revisions the last success of the same
    // job revision read (a re-run: since what the run it repeats read), one run at a time.
    let mut since = vec![None; inputs.len()];
    if job.incremental && reproduce.is_none() {
        if let Some(id) = core.db.job_in_flight(repo.id, &job.name).await? {
            return Err(Error::conflict(format!(
                "run {id} of incremental job {} is under way: its next run starts from where that one ends",
                job.name
            )));
        }
        let last = core.db.last_success(repo.id, &job.name).await?;
        if let Some(last) = last.filter(|l| l.job_revision == job_revision) {
            let read: Vec<Pinned> = serde_json::from_str(&last.inputs).unwrap_or_default();
            for (slot, (p, _)) in since.iter_mut().zip(&inputs) {
                *slot = read
                    .iter()
                    .find(|r| r.dataset.eq_ignore_ascii_case(&p.dataset) && r.branch == p.branch)
                    .map(|r| r.revision.clone());
            }
        }
    }
    if let Some(r) = reproduce.as_ref().filter(|_| job.incremental) {
        since.clone_from(&r.since);
        since.resize(inputs.len(), None);
    }
    let pinned: Vec<&Pinned> = inputs.iter().map(|(p, _)| p).collect();
    let inputs_json = serde_json::to_string(&pinned).map_err(Error::internal)?;
    let key = inputs_key(&job, &job_revision, &inputs_json);
    let output_name = format!("{}/{}@{}", output.namespace, output.name, job.output.branch);
    let repeats = match how.force {
        true => None,
        false => core
            .db
            .last_success(repo.id, &job.name)
            .await?
            .filter(|r| r.inputs_key == key),
    };
    // A schedule that finds nothing changed records nothing (it would fill the list).
    if repeats.is_some() && how.cause == "schedule" {
        return Err(Error::conflict(format!(
            "job {}: nothing changed since its last success",
            job.name
        )));
    }
    let new = NewRun {
        repo_id: repo.id,
        job: &job.name,
        state: if repeats.is_some() {
            "skipped"
        } else {
            "queued"
        },
        cause: how.cause,
        started_by: &user.username,
        runs_as: Some(user.id),
        job_revision: &job_revision,
        inputs: &inputs_json,
        inputs_key: &key,
        output: &output_name,
        output_revision: repeats.as_ref().and_then(|r| r.output_revision.as_deref()),
    };
    let id = match core.db.insert_run(&new).await {
        Ok(id) => id,
        Err(crate::db::Error::Conflict) => {
            let running = core.db.run_in_flight(repo.id, &job.name, &key).await?;
            return Err(Error::conflict(format!(
                "run {} of job {} on these inputs is under way",
                running.map(|i| i.to_string()).unwrap_or_default(),
                job.name
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let row = core
        .db
        .run(repo.id, id)
        .await?
        .ok_or_else(|| Error::internal("the run just recorded is gone"))?;
    if repeats.is_some() {
        return Ok(row);
    }
    let stop = CancellationToken::new();
    core.jobs
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, stop.clone());
    let plan = run::Plan {
        id,
        who: who.clone(),
        declaring: repo,
        job,
        job_revision,
        inputs,
        output,
        interpreter,
        how,
        reproduce,
        since,
        stop,
    };
    let c = core.clone();
    core.tasks.spawn("job run", move |shutdown| async move {
        // A shutdown stops the run as a cancellation does: its process, then its record.
        let stop = plan.stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => stop.cancel(),
                () = stop.cancelled() => {}
            }
        });
        let ended = plan.stop.clone();
        run::execute(c.clone(), plan).await;
        ended.cancel();
        c.jobs
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    });
    Ok(row)
}

/// Revision `rev` of an input, which must still be there and whole (a re-run reads it again).
async fn pinned_at(core: &Core, repo: &Gated, rev: &str) -> Result<String> {
    let at = rev.to_owned();
    let id = git_on(core, repo, move |ms, ds| {
        Ok(ms.resolve(ds, Some(&at))?.to_string())
    })
    .await
    .map_err(|e| {
        Error::new(
            e.kind,
            format!(
                "input {}/{}@{rev} is gone: {}",
                repo.namespace, repo.name, e.message
            ),
        )
    })?;
    crate::datasets::refs::check_whole(core, repo, &id).await?;
    Ok(id)
}

/// What identifies a run's work: the job as declared, its revision and its inputs' revisions.
fn inputs_key(job: &Job, job_revision: &str, inputs: &str) -> String {
    let spec = serde_json::to_string(job).unwrap_or_default();
    let mut h = Sha256::new();
    for part in [spec.as_str(), job_revision, inputs] {
        h.update(part.len().to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// `ns/name` as its two parts (the job's checks made sure there are two).
fn split(dataset: &str) -> (&str, &str) {
    dataset.split_once('/').unwrap_or(("", dataset))
}

/// The runs of `ns/name`'s jobs (of `job` alone when given), newest first, for a reader; the
/// logs only for its writers (a log may show the rows it read).
pub async fn runs(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
    job: Option<&str>,
) -> Result<Vec<RunRow>> {
    let repo = gate::dataset(core, who, ns, name, Action::Read).await?;
    let mut rows = core.db.runs(repo.id, job, RUNS_LISTED).await?;
    let mut seen = HashMap::new();
    for r in &mut rows {
        redact(core, who, &repo, r, &mut seen).await;
    }
    Ok(rows)
}

/// Run `id` of `ns/name`'s jobs (its log for writers only).
pub async fn one(core: &Core, who: &Principal, ns: &str, name: &str, id: i64) -> Result<RunRow> {
    let repo = gate::dataset(core, who, ns, name, Action::Read).await?;
    let mut row = core
        .db
        .run(repo.id, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("{ns}/{name} has no run {id}")))?;
    redact(core, who, &repo, &mut row, &mut HashMap::new()).await;
    Ok(row)
}

/// `run` as `who` may see it: the log for the dataset's writers only; an input or output they
/// may not read without its revision (`seen`: what was decided already).
async fn redact(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    run: &mut RunRow,
    seen: &mut HashMap<String, bool>,
) {
    if !writes(repo) {
        run.log.clear();
    }
    let mut inputs: Vec<Value> = serde_json::from_str(&run.inputs).unwrap_or_default();
    for input in &mut inputs {
        let dataset = input["dataset"].as_str().unwrap_or_default().to_owned();
        if !may_read(core, who, &dataset, seen).await {
            *input = json!({"hidden": true});
        }
    }
    run.inputs = Value::Array(inputs).to_string();
    let output = run.output.split('@').next().unwrap_or_default().to_owned();
    if !may_read(core, who, &output, seen).await {
        run.output = String::new();
        run.output_revision = None;
        run.merge_request = None;
    }
}

async fn may_read(
    core: &Core,
    who: &Principal,
    dataset: &str,
    seen: &mut HashMap<String, bool>,
) -> bool {
    if let Some(known) = seen.get(dataset) {
        return *known;
    }
    let ok = readable(core, who, dataset).await;
    seen.insert(dataset.to_owned(), ok);
    ok
}

fn writes(repo: &Gated) -> bool {
    !repo.limited() && repo.allows(crate::auth::On::Dataset, Action::Write)
}

/// Cancels run `id` of `ns/name`'s jobs (a writer of it): a queued run does not start, a running
/// one is stopped, and nothing it would have written lands.
pub async fn cancel(core: &Core, who: &Principal, ns: &str, name: &str, id: i64) -> Result<RunRow> {
    let repo = gate::dataset(core, who, ns, name, Action::Write).await?;
    let row = core
        .db
        .run(repo.id, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("{ns}/{name} has no run {id}")))?;
    if !core.db.cancel_run(row.id, &who.display_name()).await? {
        return Err(Error::conflict(format!(
            "run {id} has ended: {}",
            row.state
        )));
    }
    if let Some(stop) = core
        .jobs
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
    {
        stop.cancel();
    }
    Ok(core.db.run(repo.id, id).await?.unwrap_or(row))
}

/// What made revision `rev` of `ns/name` (a reader of it): the job, the run and its inputs;
/// an input `who` may not read is shown only as hidden. 404 for a revision no run made.
pub async fn provenance(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
    rev: &str,
) -> Result<Value> {
    let (repo, id) = read_at(core, who, ns, name, rev).await?;
    let Some((_, record)) = core.db.provenance(repo.id, &id).await? else {
        return Err(Error::not_found(format!(
            "revision {id} of {ns}/{name} was not made by a job"
        )));
    };
    let mut record: Value = serde_json::from_str(&record).map_err(Error::internal)?;
    // Inputs and the declaring dataset as far as `who` may read them.
    if let Some(inputs) = record.get_mut("inputs").and_then(Value::as_array_mut) {
        for input in inputs.iter_mut() {
            let dataset = input["dataset"].as_str().unwrap_or_default().to_owned();
            if !readable(core, who, &dataset).await {
                *input = json!({"hidden": true});
            }
        }
    }
    let declaring = record["job"]["dataset"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if !readable(core, who, &declaring).await {
        record["job"] = json!({"hidden": true});
        record["run"] = json!({"hidden": true});
    }
    record["revision"] = json!(id);
    Ok(record)
}

/// `ns/name` through the read gate, and revision `rev` of it (an id, branch or tag) as its full
/// id.
async fn read_at(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
    rev: &str,
) -> Result<(Gated, String)> {
    let repo = gate::dataset(core, who, ns, name, Action::Read).await?;
    repo.check_rev(Some(rev))?;
    let at = rev.to_owned();
    let id = git_on(core, &repo, move |ms, ds| {
        Ok(ms.resolve(ds, Some(&at))?.to_string())
    })
    .await?;
    Ok((repo, id))
}

async fn readable(core: &Core, who: &Principal, dataset: &str) -> bool {
    let (ns, name) = split(dataset);
    gate::dataset(core, who, ns, name, Action::Read)
        .await
        .is_ok()
}

/// Whether `who` writes `dataset` whole (not through a share).
async fn writes_whole(core: &Core, who: &Principal, dataset: &str) -> bool {
    let (ns, name) = split(dataset);
    gate::dataset(core, who, ns, name, Action::Write)
        .await
        .is_ok_and(|g| !g.limited())
}

/// `ns/name` of the dataset whose jobs' run is `run`.
pub async fn run_dataset(core: &Core, run: &RunRow) -> Result<String> {
    let repo = core
        .db
        .repo_by_id(run.repo_id)
        .await?
        .ok_or_else(|| Error::not_found("the run's dataset is gone"))?;
    Ok(format!("{}/{}", repo.namespace, repo.name))
}
