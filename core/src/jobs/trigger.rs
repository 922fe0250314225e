//! Runs started by commits and by schedules, following the event stream (one replica at a time):
//! a commit to a dataset's default branch that changes its `datapackage.json` keeps the jobs it
//! declares, with who committed them (the account the runs those jobs start by themselves act
//! as); a commit to a branch a job reads (`"triggers": ["push"]`) starts a run of it, and so does
//! the time its cron schedule names (`{"schedule": …}`). A chain of jobs, each started by what
//! the one before committed, stops after [`DEEPEST`] runs.

use std::sync::Arc;

use strata_apps::job::Trigger;

use super::How;
use crate::auth::{Principal, Scopes};
use crate::datasets::gate;
use crate::db::{EventRow, KeptJob};
use crate::error::{Error, Result};
use crate::Core;

/// The longest chain of runs, each started by the revision the one before committed.
pub const DEEPEST: i64 = 8;

/// Where the stream stands: the last event seen.
#[derive(Debug, Default)]
pub struct Follow {
    seen: Option<i64>,
}

/// Starts following the stream from where it stands now.
pub async fn start(core: &Core, state: &mut Follow) -> Result<()> {
    state.seen = Some(core.db.last_event_seq().await?);
    Ok(())
}

/// Takes the new ref moves from the stream: keeps the jobs declared, starts the runs due.
pub async fn turn(core: &Arc<Core>, state: &mut Follow) -> Result<()> {
    if state.seen.is_none() {
        start(core, state).await?;
    }
    let events = core
        .db
        .events_after(state.seen.unwrap_or_default(), 200)
        .await?;
    for e in events {
        state.seen = Some(e.seq);
        if e.kind != "branch.created" && e.kind != "branch.updated" {
            continue;
        }
        let data: serde_json::Value = serde_json::from_str(&e.data).unwrap_or_default();
        let (Some(branch), Some(after)) = (data["branch"].as_str(), data["after"].as_str()) else {
            continue;
        };
        let package_changed = e.kind == "branch.created"
            || data["paths_truncated"].as_bool() == Some(true)
            || data["paths"].as_array().is_some_and(|p| {
                p.iter()
                    .any(|p| p.as_str() == Some(strata_metastore::DATAPACKAGE))
            });
        if branch == strata_metastore::DEFAULT_BRANCH && package_changed {
            if let Err(err) = keep(core, &e, after).await {
                tracing::warn!(dataset = %e.dataset, error = %err.message, "jobs: the declared jobs were not read");
            }
        }
        for job in core.db.jobs_on_push(&e.dataset, branch).await? {
            if let Err(err) = pushed(core, &e, after, job).await {
                tracing::info!(dataset = %e.dataset, error = %err.message, "jobs: a run was not started");
            }
        }
    }
    scheduled(core).await
}

/// Starts the runs whose schedule's time has come since it last fired (at most one per job per
/// `--jobs-schedule-min-secs`); a time missed while no server ran fires once.
async fn scheduled(core: &Arc<Core>) -> Result<()> {
    let Some(now) = chrono::DateTime::from_timestamp(crate::db::now(), 0) else {
        return Ok(());
    };
    for s in core.db.scheduled_jobs().await? {
        if now.timestamp() - s.fired_at < core.jobs.schedule_floor {
            continue;
        }
        let Ok(cron) = strata_apps::job::cron(&s.schedule) else {
            continue;
        };
        let Some(last) = chrono::DateTime::from_timestamp(s.fired_at, 0) else {
            continue;
        };
        if cron
            .find_next_occurrence(&last, false)
            .map_or(true, |due| due > now)
        {
            continue;
        }
        match core
            .db
            .fire_job(s.job.repo_id, &s.job.name, s.fired_at, now.timestamp())
            .await
        {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "jobs: a schedule could not fire");
                continue;
            }
        }
        let how = How {
            cause: "schedule",
            force: false,
            depth: 0,
        };
        if let Err(err) = as_owner(core, s.job, how).await {
            tracing::info!(error = %err.message, "jobs: a scheduled run was not started");
        }
    }
    Ok(())
}

/// Keeps the jobs the datapackage of `after` declares (none when it is unreadable or wrong: a
/// write refuses a wrong one, so only a push around the checks gets here).
async fn keep(core: &Core, e: &EventRow, after: &str) -> Result<()> {
    let (ns, name) = super::split(&e.dataset);
    let Some(repo) = core.db.repo_by_path(ns, name).await? else {
        return Ok(());
    };
    let at = after.to_owned();
    let package = crate::datasets::git_on(core, &repo, move |ms, ds| {
        crate::datasets::packaged::at(ms, ds, &at)
    })
    .await?;
    let jobs = match package {
        Some(Ok(json)) => crate::datasets::packaged::jobs(&json).unwrap_or_default(),
        _ => Vec::new(),
    };
    let owner = match &e.actor {
        Some(name) => core.db.user_by_name(name).await?.map(|u| u.id),
        None => None,
    };
    let kept: Vec<KeptJob> = jobs
        .iter()
        .map(|j| {
            let spec = serde_json::to_string(j).unwrap_or_default();
            let triggers = match j.triggers.contains(&Trigger::Push) {
                true => j
                    .inputs
                    .iter()
                    .map(|i| (i.dataset.to_lowercase(), i.branch.clone()))
                    .collect(),
                false => Vec::new(),
            };
            KeptJob {
                name: j.name.clone(),
                spec,
                triggers,
                schedule: j.schedules().next().map(str::to_owned),
            }
        })
        .collect();
    core.db.keep_jobs(repo.id, after, owner, &kept).await?;
    Ok(())
}

/// Starts a run of `job`, which a commit (`after`) to one of its inputs started, as its owner.
async fn pushed(core: &Arc<Core>, e: &EventRow, after: &str, job: crate::db::JobRow) -> Result<()> {
    // A revision a run made starts the next run of a chain, up to its end.
    let (ns, name) = super::split(&e.dataset);
    let depth = match core.db.repo_by_path(ns, name).await? {
        Some(r) => match core.db.provenance(r.id, after).await? {
            Some((_, record)) => serde_json::from_str::<serde_json::Value>(&record)
                .ok()
                .and_then(|v| v["depth"].as_i64())
                .unwrap_or(1),
            None => 0,
        },
        None => 0,
    };
    if depth >= DEEPEST {
        return Err(Error::conflict(format!(
            "a chain of {DEEPEST} runs, each started by the one before: stopped"
        )));
    }
    let how = How {
        cause: "push",
        force: false,
        depth,
    };
    as_owner(core, job, how).await
}

/// Starts a run of `job` as its owner (who last declared it), with every scope they have.
async fn as_owner(core: &Arc<Core>, job: crate::db::JobRow, how: How) -> Result<()> {
    let Some(owner_id) = job.owner_id else {
        return Err(Error::conflict("the job's owner is gone"));
    };
    let Some(owner) = core.db.user_by_id(owner_id).await? else {
        return Err(Error::conflict("the job's owner is gone"));
    };
    let who = Principal::User {
        user: owner,
        scopes: Scopes::parse("*").map_err(Error::internal)?,
        family: None,
    };
    let Some(declaring) = core.db.repo_by_id(job.repo_id).await? else {
        return Ok(());
    };
    let repo = gate::dataset(
        core,
        &who,
        &declaring.namespace,
        &declaring.name,
        crate::auth::Action::Write,
    )
    .await?;
    let spec: strata_apps::job::Job = serde_json::from_str(&job.spec).map_err(Error::internal)?;
    let spec = strata_apps::job::Job {
        name: job.name.clone(),
        ..spec
    };
    super::begin(core, &who, repo, spec, job.revision, how, None).await?;
    Ok(())
}
