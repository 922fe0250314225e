//! Runs started by commits, following the event stream (one replica at a time): a commit to a
//! dataset's default branch that changes its `datapackage.json` keeps the jobs it declares, with
//! who committed them (the account the runs those jobs start by themselves act as); a commit to
//! a branch a job reads (`"triggers": ["push"]`) starts a run of it. A chain of jobs, each
//! started by what the one before committed, stops after [`DEEPEST`] runs.

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
            (j.name.clone(), spec, triggers)
        })
        .collect();
    core.db.keep_jobs(repo.id, after, owner, &kept).await?;
    Ok(())
}

/// Starts a run of `job`, which a commit (`after`) to one of its inputs started, as its owner.
async fn pushed(core: &Arc<Core>, e: &EventRow, after: &str, job: crate::db::JobRow) -> Result<()> {
    let Some(owner_id) = job.owner_id else {
        return Err(Error::conflict("the job's owner is gone"));
    };
    let Some(owner) = core.db.user_by_id(owner_id).await? else {
        return Err(Error::conflict("the job's owner is gone"));
    };
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
    let how = How {
        cause: "push",
        force: false,
        depth,
    };
    super::begin(core, &who, repo, spec, job.revision, how).await?;
    Ok(())
}
