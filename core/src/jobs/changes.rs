//! What an incremental run is given: for each input, the files added, modified and deleted since
//! the revision the job's last success read (only the added and modified are written into the
//! run's inputs), and for each modified table its changed rows, as the change data feed Delta
//! Sharing serves (`tables::diff::feed`: a Parquet file of the later revision's columns and
//! `_change_type`), under `changes/<input>/<path>.parquet`, read through the policies as the
//! run's starter may read them.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde_json::{json, Value};
use strata_metastore::FileChangeKind;

use crate::datasets::gate::Gated;
use crate::datasets::git_on;
use crate::datasets::policies::Surface;
use crate::error::{Error, Result};
use crate::tables::{self, view};
use crate::Core;

/// The files of one input that changed between two revisions (those its globs match).
#[derive(Debug, Default)]
pub struct Changed {
    pub since: String,
    pub to: String,
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub deleted: Vec<String>,
    /// Per modified table: its changed rows' file and count, or why there is none.
    pub rows: BTreeMap<String, Value>,
}

impl Changed {
    /// The files a run reads: the added and the modified.
    pub fn to_read(&self) -> HashSet<String> {
        self.added.iter().chain(&self.modified).cloned().collect()
    }
}

/// What changed in `repo` from `since` to `to`; `None` when `since` is gone (a rewritten
/// branch, or a revision collected): the run then reads everything.
pub async fn between(
    core: &Core,
    repo: &Gated,
    since: &str,
    to: &str,
    globs: &[glob::Pattern],
) -> Result<Option<Changed>> {
    let (from, at) = (since.to_owned(), to.to_owned());
    let diff = git_on(core, repo, move |ms, ds| match ms.diff(ds, &from, &at) {
        Ok(d) => Ok(Some(d)),
        Err(strata_metastore::Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    })
    .await?;
    let Some(diff) = diff else {
        return Ok(None);
    };
    let drive = repo.name == crate::datasets::DRIVE;
    let wanted = |p: &str| {
        !crate::datasets::paths::plumbing(p, drive)
            && (globs.is_empty() || globs.iter().any(|g| g.matches(p)))
            && repo.covers(p)
    };
    let mut c = Changed {
        since: since.to_owned(),
        to: to.to_owned(),
        ..Changed::default()
    };
    for f in diff.files {
        if let Some(old) = f.old_path.as_deref().filter(|o| wanted(o)) {
            c.deleted.push(old.to_owned());
        }
        if !wanted(&f.path) {
            continue;
        }
        match f.kind {
            FileChangeKind::Added | FileChangeKind::Renamed => c.added.push(f.path),
            FileChangeKind::Modified => c.modified.push(f.path),
            FileChangeKind::Deleted => c.deleted.push(f.path),
        }
    }
    Ok(Some(c))
}

/// Writes the changed rows of each modified table of `c` under `ro/changes/<folder>`; the bytes
/// written.
pub async fn rows(
    core: &Core,
    repo: &Gated,
    c: &mut Changed,
    (ro, folder): (&Path, &str),
    budget: &mut u64,
) -> Result<u64> {
    let dir = ro.join("changes").join(folder);
    if c.modified.is_empty() {
        return Ok(0);
    }
    let (before, after) = (
        crate::datasets::policies::catalog(core, repo, Some(&c.since)).await?,
        crate::datasets::policies::catalog(core, repo, Some(&c.to)).await?,
    );
    let mut total = 0;
    for path in c.modified.clone() {
        let (Some(a), Some(b)) = (
            before.resources.iter().find(|t| t.path == path),
            after.resources.iter().find(|t| t.path == path),
        ) else {
            continue;
        };
        let file = format!("changes/{folder}/{path}.parquet");
        let made = feed(
            core,
            repo,
            (&a.name, &c.since),
            (&b.name, &c.to),
            &dir.join(format!("{path}.parquet")),
            budget,
        )
        .await;
        let entry = match made {
            Ok((size, n)) => {
                total += size;
                json!({"file": file, "rows": n})
            }
            // A table whose columns changed, or that is no table to the engine: the run reads
            // the file. Anything else fails the run, so no change is skipped.
            Err(e) if e.kind == crate::error::Kind::Invalid => json!({"error": e.message}),
            Err(e) => return Err(e),
        };
        c.rows.insert(path, entry);
    }
    Ok(total)
}

/// The change feed from table `a` to table `b` written to `target`: its size and rows.
async fn feed(
    core: &Core,
    repo: &Gated,
    a: (&str, &str),
    b: (&str, &str),
    target: &Path,
    budget: &mut u64,
) -> Result<(u64, u64)> {
    let oa = tables::open(core, repo, a.0, Some(a.1), None, Surface::Table).await?;
    let ob = tables::open(core, repo, b.0, Some(b.1), None, Surface::Table).await?;
    let (va, vb) = (
        view::view(core, repo.id, &oa).await?,
        view::view(core, repo.id, &ob).await?,
    );
    let source = format!("{}:{}", ob.table.name, ob.object.0);
    let fed = tables::diff::feed::feed(core, &va, &vb, &ob.table.primary_key, &source).await?;
    if fed.size > *budget {
        return Err(Error::new(
            crate::error::Kind::Quota,
            format!(
                "the run's inputs hold more than its limit of {} MiB (--jobs-max-mb)",
                core.jobs.max_bytes >> 20
            ),
        ));
    }
    *budget -= fed.size;
    if let Some(parent) = target.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(Error::internal)?;
    }
    super::fetch::copy_object(core, fed.place(), &fed.oid, target).await?;
    Ok((fed.size, fed.rows))
}

/// An input's entry in `changes.json`: `full` when the run reads every file (no success before,
/// or its revision is gone), else what changed.
pub fn summary(since: Option<&str>, to: &str, c: Option<&Changed>) -> Value {
    match c {
        None => json!({"since": since, "to": to, "full": true}),
        Some(c) => json!({
            "since": c.since,
            "to": to,
            "full": false,
            "added": c.added,
            "modified": c.modified,
            "deleted": c.deleted,
            "rows": c.rows,
        }),
    }
}
