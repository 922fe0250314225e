//! The objects that were ever the content of a table (a datapackage resource) on a revision of a
//! dataset's default branch, with the resource's name and path and one revision that held it
//! (`table_objects`). Raw reads refuse such an object wherever it is now while a policy governs
//! that table (`super::raw`): an old version of a governed table, committed again at a path that
//! is no table, stays refused.
//!
//! The index is kept by the writes, not by walking history at each read. REST commits, reverts,
//! datapackage updates and the file manager catch it up after they write ([`written`]): the
//! revisions between the head it was last brought to (`table_index`) and the head now. Pushes
//! record their revisions from the pre-receive hook ([`pushed`]), where git sees the pushed
//! objects, so a revision a later force-push removes is in it too. A dataset's history from before
//! the index is read once, at its first sight (its first write, or its first read governed by a
//! policy). A read catches up only when the index is behind the head ([`former`]).

use std::collections::BTreeMap;
use std::process::Command;

use strata_lfs::Oid;
use strata_metastore::ObjectId;

use crate::datasets::catalog::Catalog;
use crate::datasets::git_on;
use crate::db::{Db, Repo, TableObject};
use crate::error::{Kind, Result};
use crate::Core;

/// Rows being collected: one per (object, resource, path), with the first revision seen.
#[derive(Default)]
struct Rows(BTreeMap<(Oid, String, String), String>);

impl Rows {
    /// The tables of one `datapackage.json` (as bytes) of revision `rev`.
    fn add(&mut self, rev: &str, package: &[u8]) {
        let Ok(serde_json::Value::Object(json)) = serde_json::from_slice(package) else {
            return;
        };
        for t in Catalog::read("", &json).resources {
            if let Some((oid, _)) = t.object {
                self.0
                    .entry((oid, t.name, t.path))
                    .or_insert_with(|| rev.to_owned());
            }
        }
    }

    fn into_vec(self) -> Vec<TableObject> {
        self.0
            .into_iter()
            .map(|((oid, resource, path), rev)| TableObject {
                oid,
                resource,
                path,
                rev,
            })
            .collect()
    }
}

/// Brings the index of `repo` up to its default branch's head: the revisions since the head it
/// was indexed at (all of them at first sight).
async fn catch_up(core: &Core, repo: &Repo) -> Result<()> {
    let seen = core.db.table_index_head(repo.id).await?;
    let from = seen.clone();
    let walked = git_on(core, repo, move |ms, ds| {
        let head = match ms.resolve(ds, None) {
            Ok(head) => head,
            // No revision yet: nothing to index.
            Err(strata_metastore::Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if from.as_deref() == Some(head.to_string().as_str()) {
            return Ok(None);
        }
        let from = from.and_then(|f| ObjectId::from_hex(f.as_bytes()).ok());
        let mut rows = Rows::default();
        ms.walk_packages(ds, head, from, |rev, package| rows.add(rev, package))?;
        Ok(Some((head.to_string(), rows)))
    })
    .await?;
    if let Some((head, rows)) = walked {
        core.db
            .record_table_objects(repo.id, &rows.into_vec(), seen.as_deref(), Some(&head))
            .await?;
    }
    Ok(())
}

/// After a write to `repo` through this server (REST, file manager, revert): the index catches
/// up with the default branch. The write stands whatever happens here; a failure is logged and
/// the next governed read catches up instead.
pub(crate) async fn written(core: &Core, repo: &Repo) {
    if let Err(e) = catch_up(core, repo).await {
        tracing::error!(dataset = %repo.path(), error = %e.message, "could not index the tables of a write");
    }
}

/// Of `asked`, the objects of `repo` that were the content of a table on its default branch,
/// the index caught up first.
pub(crate) async fn former(core: &Core, repo: &Repo, asked: &[Oid]) -> Result<Vec<TableObject>> {
    if asked.is_empty() {
        return Ok(Vec::new());
    }
    match catch_up(core, repo).await {
        Ok(()) => {}
        // A dataset without a repository has no history to index.
        Err(e) if e.kind == Kind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(core.db.table_objects(repo.id, asked).await?)
}

/// A push moving the default branch of dataset `repo_id` from `old` (`None`: a new branch) to
/// `new`: records the tables of every pushed revision, from the pre-receive hook (the `git` CLI
/// sees the pushed objects in quarantine). The index moves to `new` only if it was at `old`.
pub async fn pushed(
    db: &Db,
    repo_id: i64,
    old: Option<&str>,
    new: &str,
) -> std::result::Result<(), String> {
    let (o, n) = (old.map(str::to_owned), new.to_owned());
    let rows = tokio::task::spawn_blocking(move || pushed_rows(o.as_deref(), &n))
        .await
        .map_err(|e| e.to_string())??;
    let to = old.map(|_| new);
    db.record_table_objects(repo_id, &rows.into_vec(), old, to)
        .await
        .map_err(|e| format!("strata: recording the pushed tables failed: {e}"))
}

/// The tables of the revisions reachable from `new` and not from `old`, read with the `git` CLI.
fn pushed_rows(old: Option<&str>, new: &str) -> std::result::Result<Rows, String> {
    let mut list = Command::new("git");
    list.args(["rev-list", new]);
    if let Some(old) = old {
        list.args(["--not", old]);
    }
    let out = list.output().map_err(|e| format!("git rev-list: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git rev-list: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let commits: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    // Each revision's datapackage blob; each distinct one read once.
    let names = commits
        .iter()
        .map(|c| format!("{c}:{}", strata_metastore::DATAPACKAGE));
    let found = crate::datasets::plumbing::batch_check_as("%(objectname)", names)?;
    let mut blobs: BTreeMap<String, String> = BTreeMap::new();
    for (commit, id) in commits.iter().zip(found) {
        if let Some(id) = id {
            blobs.entry(id).or_insert_with(|| commit.clone());
        }
    }
    let ids: Vec<String> = blobs.keys().cloned().collect();
    let mut rows = Rows::default();
    for (id, data) in crate::datasets::plumbing::cat_blobs(ids.iter(), &ids)? {
        rows.add(&blobs[&id], &data);
    }
    Ok(rows)
}
