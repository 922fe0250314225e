//! A run's output proposed rather than landed (`"merge_request": true`): committed on a branch of
//! its own, `job-<name>-run-<id>`, made from the head of the branch it goes into, with a merge
//! request opened into that branch; the branch deleted again when there is nothing to propose or
//! the merge request cannot be opened.

use super::run::Plan;
use crate::datasets::gate::Gated;
use crate::error::{Error, Result};
use crate::Core;

/// The branch a run's output is proposed on (`job-<name>-run-<id>`), made at `parent`, the head of
/// the branch the merge request goes into.
pub(super) async fn branch(core: &Core, plan: &Plan, parent: Option<&str>) -> Result<String> {
    let Some(parent) = parent else {
        return Err(Error::unprocessable(format!(
            "jobs.{}.output.branch: {} has no revision to propose a change to",
            plan.job.name, plan.job.output.branch
        )));
    };
    let branch = format!("job-{}-run-{}", plan.job.name, plan.id);
    crate::datasets::refs::create_branch(core, &plan.output, &branch, Some(parent)).await?;
    Ok(branch)
}

/// Deletes a run's proposal branch that has nothing to propose (saying so when it cannot).
pub(super) async fn drop_branch(core: &Core, repo: &Gated, branch: &str) {
    if let Err(e) = crate::datasets::refs::delete_branch(core, repo, branch).await {
        tracing::warn!(branch, error = %e.message, "a run's proposal branch was not deleted");
    }
}

/// Opens the merge request of `branch` into `target` that a run's output is proposed by; when it
/// cannot be opened the branch goes, and the run fails with nothing landed.
pub(super) async fn open(
    core: &Core,
    plan: &Plan,
    (branch, target): (&str, &str),
    trailers: &[String],
) -> Result<i64> {
    let new = crate::changes::merges::New {
        source: branch.to_owned(),
        target: Some(target.to_owned()),
        title: format!("Run {} of job {}", plan.id, plan.job.name),
        description: format!(
            "The output of run {} of job {}, for review.\n\n{}",
            plan.id,
            plan.job.name,
            trailers.join("\n")
        ),
    };
    match crate::changes::merges::open(core, &plan.who, &plan.output, new).await {
        Ok(m) => Ok(m.number),
        Err(e) => {
            drop_branch(core, &plan.output, branch).await;
            Err(Error::new(
                e.kind,
                format!("the merge request was not opened: {}", e.message),
            ))
        }
    }
}
