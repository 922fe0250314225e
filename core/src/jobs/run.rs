//! One run: its inputs written read-only into its folder at their pinned revisions (through the
//! read gate and the policies, as a download would be), its script from the declaring dataset at
//! the job's revision, the interpreter started in the process runner's sandbox with the run's
//! limits, then every plain file it left in `out/` committed as one revision of the output, with
//! the run's provenance. Whatever goes wrong ends the run as failed, saying why.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use strata_apps::job::Job;
use strata_apps::process::{Instance, Launch};
use strata_lfs::pointer::Pointer;
use strata_metastore::Op;
use tokio_util::sync::CancellationToken;

use super::Pinned;
use crate::auth::Principal;
use crate::commits::{commit, Change};
use crate::config::Interpreter;
use crate::datasets::gate::Gated;
use crate::db::RunEnd;
use crate::error::{Error, Result};
use crate::Core;

/// The log lines a run keeps.
const LOG_LINES: usize = 2000;
/// How often a running run says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(20);
/// How often a running run's new log lines are written down for whoever follows them.
const LOG_EVERY: Duration = Duration::from_millis(500);

/// A run to make, decided when it was started.
pub(super) struct Plan {
    pub id: i64,
    pub who: Principal,
    pub declaring: Gated,
    pub job: Job,
    pub job_revision: String,
    pub inputs: Vec<(Pinned, Gated)>,
    pub output: Gated,
    pub interpreter: Interpreter,
    pub how: super::How,
    /// For a re-run: what it reproduces.
    pub reproduce: Option<super::Reproduce>,
    /// For an incremental run: the revision of each input the last success read.
    pub since: Vec<Option<String>>,
    pub stop: CancellationToken,
}

/// What a run did, so far.
#[derive(Default)]
struct Tally {
    log: String,
    log_lines: u64,
    merge_request: Option<i64>,
    exit_code: Option<i64>,
    bytes_in: u64,
    bytes_out: u64,
}

/// Makes the run and records how it ended.
pub(super) async fn execute(core: Arc<Core>, plan: Plan) {
    let declaring = format!("{}/{}", plan.declaring.namespace, plan.declaring.name);
    let _turn = match core.jobs.turns.clone().acquire_owned().await {
        Ok(t) => t,
        Err(_) => return,
    };
    if core.db.run_cancelled(plan.id).await.unwrap_or(false) {
        return;
    }
    if let Err(e) = core.db.beat_run(plan.id, true).await {
        tracing::warn!(run = plan.id, error = %e, "a job run could not start");
        return;
    }
    let data = json!({"job": plan.job.name, "run": plan.id, "started_by": plan.who.display_name()});
    crate::events::record(&core, None, "run.started", &declaring, data).await;
    let dir = core.jobs.root.join(format!("run-{}", plan.id));
    let mut tally = Tally::default();
    let outcome = work(&core, &plan, &dir, &mut tally).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    let (state, error, revision) = match outcome {
        Ok(rev) => ("succeeded", None, rev),
        Err(e) => ("failed", Some(e.message), None),
    };
    let end = RunEnd {
        state: state.into(),
        exit_code: tally.exit_code,
        error: error.clone(),
        log: tally.log,
        log_lines: i64::try_from(tally.log_lines).unwrap_or(i64::MAX),
        bytes_in: i64::try_from(tally.bytes_in).unwrap_or(i64::MAX),
        bytes_out: i64::try_from(tally.bytes_out).unwrap_or(i64::MAX),
        output_revision: revision.clone(),
        merge_request: tally.merge_request,
    };
    if let Err(e) = core.db.end_run(plan.id, &end).await {
        tracing::warn!(run = plan.id, error = %e, "a job run's end was not recorded");
    }
    let cancelled = core.db.run_cancelled(plan.id).await.unwrap_or(false);
    let kind = if state == "succeeded" && !cancelled {
        "run.succeeded"
    } else {
        "run.failed"
    };
    let data = json!({"job": plan.job.name, "run": plan.id, "started_by": plan.who.display_name(),
        "error": error, "output_revision": revision});
    // Recorded by nobody: the run's starter is told of a failure (nobody is told of what they
    // did themselves).
    crate::events::record(&core, None, kind, &declaring, data).await;
}

/// The run's work: the revision it committed (`None` when its output changed nothing).
async fn work(core: &Core, plan: &Plan, dir: &Path, tally: &mut Tally) -> Result<Option<String>> {
    let (ro, home, out) = (dir.join("ro"), dir.join("home"), dir.join("out"));
    let _ = tokio::fs::remove_dir_all(dir).await;
    for d in [&ro, &home, &out] {
        tokio::fs::create_dir_all(d)
            .await
            .map_err(Error::internal)?;
    }
    let inputs = ro.join("inputs");
    let mut budget = core.jobs.max_bytes;
    let mut changes = serde_json::Map::new();
    // The job's inputs, in order, each with the revision it was pinned at (an incremental run:
    // only what changed since the last success, and each changed table's changed rows).
    for (i, (input, (pinned, gated))) in plan.job.inputs.iter().zip(&plan.inputs).enumerate() {
        let globs: Vec<glob::Pattern> = input
            .paths
            .iter()
            .filter_map(|g| glob::Pattern::new(g).ok())
            .collect();
        let dest = inputs.join(input.folder());
        let at = |e: Error| {
            let at = format!("input {}@{}", pinned.dataset, pinned.revision);
            Error::new(e.kind, format!("{at}: {}", e.message))
        };
        let since = plan.since.get(i).cloned().flatten();
        let changed = match (&since, plan.job.incremental) {
            (Some(s), true) => {
                let mut c = super::changes::between(core, gated, s, &pinned.revision, &globs)
                    .await
                    .map_err(at)?;
                if let Some(c) = &mut c {
                    let place = (ro.as_path(), input.folder());
                    tally.bytes_in += super::changes::rows(core, gated, c, place, &mut budget)
                        .await
                        .map_err(at)?;
                }
                c
            }
            _ => None,
        };
        let only = changed.as_ref().map(|c| c.to_read());
        let read = super::fetch::files(
            core,
            gated,
            &pinned.revision,
            (&globs, only.as_ref()),
            &dest,
            &mut budget,
        )
        .await
        .map_err(at)?;
        tally.bytes_in += read;
        if plan.job.incremental {
            changes.insert(
                input.folder().to_owned(),
                super::changes::summary(since.as_deref(), &pinned.revision, changed.as_ref()),
            );
        }
    }
    let changes_file = ro.join("changes.json");
    if plan.job.incremental {
        let body = serde_json::to_vec_pretty(&changes).map_err(Error::internal)?;
        tokio::fs::write(&changes_file, body)
            .await
            .map_err(Error::internal)?;
    }
    // The script, at the job's revision of the declaring dataset.
    let script = plan.job.run.script.clone();
    let only = glob::Pattern::new(&glob::Pattern::escape(&script)).map_err(Error::internal)?;
    let read = super::fetch::files(
        core,
        &plan.declaring,
        &plan.job_revision,
        (&[only], None),
        &ro.join("job"),
        &mut budget,
    )
    .await?;
    let script_path = ro.join("job").join(&script);
    if read == 0 && !script_path.exists() {
        return Err(Error::unprocessable(format!(
            "jobs.{}.run.script: {script:?} is not a file of the dataset",
            plan.job.name
        )));
    }
    tally.bytes_in += read;
    let sandbox = core.apps.sandbox.for_instance(&[&home, &out], &ro)?;
    let vars = [
        ("inputs", inputs.to_string_lossy().into_owned()),
        ("output", out.to_string_lossy().into_owned()),
        ("script", script_path.to_string_lossy().into_owned()),
        ("changes", changes_file.to_string_lossy().into_owned()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut args: Vec<String> = plan
        .job
        .run
        .args
        .iter()
        .map(|a| strata_apps::manifest::expand(a, &vars))
        .collect();
    if !plan.job.run.args.iter().any(|a| a.contains("{script}")) {
        args.insert(0, script_path.to_string_lossy().into_owned());
    }
    let mut env: Vec<(String, String)> = plan
        .job
        .params
        .iter()
        .map(|(k, v)| {
            (
                format!("STRATA_PARAM_{}", k.to_ascii_uppercase()),
                v.clone(),
            )
        })
        .collect();
    env.push(("STRATA_RUN".into(), plan.id.to_string()));
    env.push(("STRATA_INPUTS".into(), vars[0].1.to_owned()));
    env.push(("STRATA_OUTPUT".into(), vars[1].1.to_owned()));
    if plan.job.incremental {
        env.push(("STRATA_CHANGES".into(), vars[3].1.to_owned()));
    }
    let memory = plan
        .job
        .limits
        .memory_mb
        .unwrap_or(core.jobs.memory_mb)
        .min(core.jobs.memory_mb);
    let launch = Launch {
        command: plan.interpreter.path.to_string_lossy().into_owned(),
        args,
        env,
        workdir: home.clone(),
        log_lines: LOG_LINES,
        memory: (memory > 0).then_some(memory << 20),
        sandbox,
    };
    let mut instance = Instance::start(&launch).map_err(|e| {
        Error::unprocessable(format!(
            "the interpreter {} did not start: {e}",
            plan.interpreter.name
        ))
    })?;
    let limit = plan
        .job
        .limits
        .timeout_secs
        .map(Duration::from_secs)
        .unwrap_or(core.jobs.timeout)
        .min(core.jobs.timeout);
    let status = wait(core, plan, &mut instance, limit).await;
    // The last lines are read before the log is taken.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (lines, count) = instance.log().snapshot();
    (tally.log, tally.log_lines) = (lines.join("\n"), count);
    instance.stop(Duration::from_secs(2)).await;
    let status = status?;
    tally.exit_code = status.code().map(i64::from);
    if !status.success() {
        return Err(Error::unprocessable(match status.code() {
            Some(c) => format!("the job's process exited with {c}"),
            None => "the job's process was killed (by a signal: its memory limit?)".into(),
        }));
    }
    if core.db.run_cancelled(plan.id).await? {
        return Err(Error::conflict("the run was cancelled"));
    }
    let revision = land(core, plan, &out, tally).await?;
    Ok(revision)
}

/// Waits for the process to end: stopped at the time limit, on cancellation or shutdown.
async fn wait(
    core: &Core,
    plan: &Plan,
    instance: &mut Instance,
    limit: Duration,
) -> Result<std::process::ExitStatus> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut beat = tokio::time::Instant::now() + HEARTBEAT;
    let (mut logged, mut written) = (tokio::time::Instant::now(), 0);
    loop {
        if let Some(status) = instance.exited() {
            return Ok(status);
        }
        let now = tokio::time::Instant::now();
        if now >= logged && instance.log().written() != written {
            let (lines, count) = instance.log().snapshot();
            written = count;
            let lines = lines.join("\n");
            // A log of long lines is written down less often.
            logged = now + LOG_EVERY * if lines.len() > 1 << 20 { 6 } else { 1 };
            let count = i64::try_from(written).unwrap_or(i64::MAX);
            if let Err(e) = core.db.run_log(plan.id, &lines, count).await {
                tracing::warn!(run = plan.id, error = %e, "a run's log was not written down");
            }
        }
        if now >= deadline {
            return Err(Error::unprocessable(format!(
                "the run took longer than its {} s and was stopped",
                limit.as_secs()
            )));
        }
        if plan.stop.is_cancelled() {
            return Err(Error::conflict("the run was cancelled"));
        }
        if now >= beat {
            beat = now + HEARTBEAT;
            let _ = core.db.beat_run(plan.id, false).await;
            if core.db.run_cancelled(plan.id).await.unwrap_or(false) {
                return Err(Error::conflict("the run was cancelled"));
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
            () = plan.stop.cancelled() => {}
        }
    }
}

/// Commits the plain files of `out` under the job's output path, as one revision with the run's
/// provenance; `None` when that changes nothing.
async fn land(core: &Core, plan: &Plan, out: &Path, tally: &mut Tally) -> Result<Option<String>> {
    let files = tokio::task::spawn_blocking({
        let out = out.to_path_buf();
        move || walk(&out)
    })
    .await
    .map_err(Error::internal)??;
    let repo = &plan.output;
    let base = plan.job.output.path.trim_end_matches('/');
    let (mut ops, mut lfs_paths, mut vouched) = (Vec::new(), Vec::new(), Vec::new());
    for (rel, file) in files {
        let path = if base.is_empty() {
            rel.clone()
        } else {
            format!("{base}/{rel}")
        };
        strata_metastore::check_path(&path)
            .map_err(|e| Error::unprocessable(format!("the output {rel:?}: {e}")))?;
        if crate::datasets::paths::plumbing(&path, false) || path == strata_metastore::DATAPACKAGE {
            return Err(Error::unprocessable(format!(
                "the output {path:?} is a file strata writes itself"
            )));
        }
        let size = tokio::fs::metadata(&file)
            .await
            .map_err(Error::internal)?
            .len();
        tally.bytes_out += size;
        if tally.bytes_out > core.jobs.max_bytes {
            return Err(Error::unprocessable(format!(
                "the run wrote more than its limit of {} MiB (--jobs-max-mb)",
                core.jobs.max_bytes >> 20
            )));
        }
        crate::quotas::check(core, repo, None, size).await?;
        let reader = tokio::fs::File::open(&file)
            .await
            .map_err(Error::internal)?;
        let body = tokio_util::io::ReaderStream::new(reader);
        let (oid, size) = core
            .storage
            .ingest(repo.id, body, core.settings.object_limit())
            .await?;
        core.storage.link(repo.id, &oid, size).await?;
        ops.push(Op::Put {
            path: path.clone(),
            data: Pointer { oid, size }.encode().into_bytes(),
        });
        lfs_paths.push(path);
        vouched.push(oid);
    }
    if ops.is_empty() {
        return Ok(None);
    }
    let target = plan.job.output.branch.clone();
    let parent = crate::datasets::paths::head_of(core, repo, Some(&target))
        .await
        .map_err(|e| {
            let at = format!("jobs.{}.output.branch", plan.job.name);
            Error::new(e.kind, format!("{at}: {}", e.message))
        })?;
    let branch = match plan.job.output.merge_request {
        false => target.clone(),
        true => super::propose::branch(core, plan, parent.as_deref()).await?,
    };
    let mut trailers = vec![
        format!(
            "Strata-Job: {}/{}:{}@{}",
            plan.declaring.namespace, plan.declaring.name, plan.job.name, plan.job_revision
        ),
        format!("Strata-Run: {}", plan.id),
    ];
    trailers.extend(
        plan.inputs
            .iter()
            .map(|(p, _)| format!("Strata-Input: {}@{}", p.dataset, p.revision)),
    );
    let change = Change {
        summary: format!("Run {} of job {}", plan.id, plan.job.name),
        description: Some(trailers.join("\n")),
        parent: parent.clone(),
        branch: Some(branch.clone()),
        ops,
        lfs_paths,
        vouched,
        describe: crate::commits::describe::Describe::Add,
        ..Change::default()
    };
    let committed = commit(core, &plan.who, repo, change).await;
    let proposed = branch != target;
    let revision = match committed {
        Ok(r) if parent.as_deref() != Some(r.id.as_str()) => r,
        other => {
            if proposed {
                super::propose::drop_branch(core, repo, &branch).await;
            }
            return other.map(|_| None);
        }
    };
    if proposed {
        // Cancelled while it landed: nothing is proposed.
        if core.db.run_cancelled(plan.id).await? {
            super::propose::drop_branch(core, repo, &branch).await;
            return Err(Error::conflict("the run was cancelled"));
        }
        tally.merge_request =
            Some(super::propose::open(core, plan, (&branch, &target), &trailers).await?);
    }
    let record = json!({
        "job": {
            "dataset": format!("{}/{}", plan.declaring.namespace, plan.declaring.name),
            "name": plan.job.name,
            "revision": plan.job_revision,
            "script": plan.job.run.script,
        },
        "run": {"id": plan.id, "cause": plan.how.cause, "started_by": plan.who.display_name()},
        "depth": plan.how.depth + 1,
        "inputs": plan.inputs.iter().zip(&plan.since).map(|((p, _), since)| {
            let mut input = json!({"dataset": p.dataset, "branch": p.branch, "revision": p.revision});
            if plan.job.incremental {
                input["since"] = json!(since);
            }
            input
        }).collect::<Vec<_>>(),
        "params": plan.job.params,
        "runner": {"kind": "process", "interpreter": plan.interpreter.name},
        "output": {
            "dataset": format!("{}/{}", repo.namespace, repo.name),
            "branch": branch,
            "path": plan.job.output.path,
            "merge_request": tally.merge_request.map(|n| json!({"number": n, "into": target})),
        },
    });
    // The revision has landed: what follows is recorded as well as it can be, and never fails
    // the run.
    if let Err(e) = super::provenance::record(core, plan, &revision.id, record).await {
        tracing::warn!(run = plan.id, error = %e.message, "a run's provenance was not all recorded");
    }
    Ok(Some(revision.id))
}

/// The plain files under `root` (relative path, full path), sorted; a symlink or anything else
/// that is not a plain file or a folder is refused (strata would follow it, outside the sandbox).
fn walk(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).map_err(Error::internal)? {
            let entry = entry.map_err(Error::internal)?;
            let path = entry.path();
            let kind = std::fs::symlink_metadata(&path)
                .map_err(Error::internal)?
                .file_type();
            let rel = path
                .strip_prefix(root)
                .map_err(Error::internal)?
                .to_string_lossy()
                .into_owned();
            if kind.is_dir() {
                todo.push(path);
            } else if kind.is_file() {
                out.push((rel, path));
            } else {
                return Err(Error::unprocessable(format!(
                    "the output {rel:?} is not a plain file (a link?): only files are committed"
                )));
            }
            if out.len() > 10_000 {
                return Err(Error::unprocessable(
                    "a run's output holds at most 10,000 files",
                ));
            }
        }
    }
    out.sort();
    Ok(out)
}
