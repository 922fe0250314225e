//! What a run reads, written into its folder: the files of an input (or of the job's own dataset,
//! for its script) at a pinned revision, through the read gate and the policies as a download
//! would read them, within the run's byte budget; and one stored object streamed to a file.

use std::path::Path;

use futures_util::StreamExt;
use strata_lfs::pointer::Pointer;
use tokio::io::AsyncWriteExt;

use crate::datasets::gate::Gated;
use crate::datasets::git_on;
use crate::error::{Error, Result};
use crate::Core;

/// Writes the files of `repo` at `rev` that `globs` match (all without globs), and of those
/// only the paths in `only` when given, into `dest`, as the run's starter may read them; the
/// bytes written, within `budget`.
pub(super) async fn files(
    core: &Core,
    repo: &Gated,
    rev: &str,
    (globs, only): (&[glob::Pattern], Option<&std::collections::HashSet<String>>),
    dest: &Path,
    budget: &mut u64,
) -> Result<u64> {
    let (at, globs, only) = (rev.to_owned(), globs.to_vec(), only.cloned());
    let drive = repo.name == crate::datasets::DRIVE;
    let found = git_on(core, repo, move |ms, ds| {
        let (_, tree) = ms.tree(ds, Some(&at))?;
        let files = ms.files(ds, Some(&at))?;
        let mut out = Vec::new();
        for e in tree {
            if crate::datasets::paths::plumbing(&e.path, drive)
                || !(globs.is_empty() || globs.iter().any(|g| g.matches(&e.path)))
                || only.as_ref().is_some_and(|o| !o.contains(&e.path))
            {
                continue;
            }
            let data = match e.lfs {
                Some(_) => None,
                None => files.upto(&e.path, u64::MAX)?.1,
            };
            out.push((e.path, e.lfs, data));
        }
        Ok(out)
    })
    .await?;
    tokio::fs::create_dir_all(dest)
        .await
        .map_err(Error::internal)?;
    let listed: Vec<(String, Option<Pointer>)> =
        found.iter().map(|(p, l, _)| (p.clone(), *l)).collect();
    repo.read_files(core, Some(rev), &listed).await?;
    let mut total = 0u64;
    for (path, lfs, data) in found {
        let size = lfs
            .map(|p| p.size)
            .unwrap_or(data.as_ref().map_or(0, |d| d.len() as u64));
        if size > *budget {
            return Err(Error::unprocessable(format!(
                "the run's inputs hold more than its limit of {} MiB (--jobs-max-mb)",
                core.jobs.max_bytes >> 20
            )));
        }
        *budget -= size;
        total += size;
        let target = dest.join(&path);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(Error::internal)?;
        }
        match (lfs, data) {
            (Some(p), _) => copy_object(core, repo.id, &p.oid, &target)
                .await
                .map_err(|e| Error::new(e.kind, format!("{path}: {}", e.message)))?,
            (None, Some(d)) => tokio::fs::write(&target, d)
                .await
                .map_err(Error::internal)?,
            (None, None) => {}
        }
    }
    Ok(total)
}

/// Streams object `oid` of `place` (a dataset's LFS object, or a table's view) into `target`.
pub(super) async fn copy_object(
    core: &Core,
    place: impl Into<crate::storage::Place>,
    oid: &strata_lfs::Oid,
    target: &Path,
) -> Result<()> {
    let read = core.storage.read(place, oid, None).await?;
    let Some(crate::storage::Read::Found { object, .. }) = read else {
        return Err(Error::not_found("its bytes are not in storage"));
    };
    let mut file = tokio::fs::File::create(target)
        .await
        .map_err(Error::internal)?;
    let mut body = object.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(Error::internal)?;
        file.write_all(&chunk).await.map_err(Error::internal)?;
    }
    file.flush().await.map_err(Error::internal)
}
