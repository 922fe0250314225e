//! What made a revision a run committed, recorded: the run's record kept for that revision
//! (and for the column types' commit right on top of it, marked as such), and for a re-run
//! whether its output came out the same as the revision it reproduces.

use serde_json::json;

use super::run::Plan;
use crate::datasets::gate::Gated;
use crate::datasets::git_on;
use crate::error::Result;
use crate::Core;

/// Records what made `made` (and the column types' commit right on top of it, if there is
/// one); for a re-run, whether it reproduced the revision.
pub(super) async fn record(
    core: &Core,
    plan: &Plan,
    made: &str,
    mut record: serde_json::Value,
) -> Result<()> {
    let repo = &plan.output;
    if let Some(r) = &plan.reproduce {
        let same = same_output(core, repo, &plan.job.output.path, &r.revision, made).await?;
        record["reproduces"] = json!({"revision": r.revision, "identical": same});
    }
    core.db
        .put_provenance(repo.id, made, plan.id, &record.to_string())
        .await?;
    // A new table's column types follow in a commit of their own, right on top: it says what
    // made its data too, and which commit that is.
    let (data, on) = (made.to_owned(), plan.job.output.branch.clone());
    let typed = git_on(core, repo, move |ms, ds| {
        let head = ms.revision(ds, &on)?;
        Ok((head.parents == [data] && head.message.starts_with("Types of")).then_some(head.id))
    })
    .await?;
    if let Some(typed) = typed {
        record["typed_of"] = json!(made);
        core.db
            .put_provenance(repo.id, &typed, plan.id, &record.to_string())
            .await?;
    }
    Ok(())
}

/// Whether revisions `a` and `b` of `repo` hold the same files, byte for byte, under `path`.
async fn same_output(core: &Core, repo: &Gated, path: &str, a: &str, b: &str) -> Result<bool> {
    let (path, a, b) = (
        path.trim_end_matches('/').to_owned(),
        a.to_owned(),
        b.to_owned(),
    );
    git_on(core, repo, move |ms, ds| {
        // An LFS file's blob is its pointer: the same blob, the same bytes.
        let under = |rev: &str| -> strata_metastore::Result<Vec<(String, String)>> {
            let (_, tree) = ms.tree(ds, Some(rev))?;
            Ok(tree
                .into_iter()
                .filter(|e| path.is_empty() || e.path.starts_with(&format!("{path}/")))
                .map(|e| (e.path, e.oid))
                .collect())
        };
        Ok(under(&a)? == under(&b)?)
    })
    .await
}
