//! The file manager: upload, new folder, rename or move, delete, restore a version or a deleted
//! file, edit a text file. Each action is one commit through [`crate::commits`], made by the caller
//! on the default branch or another existing branch ([`Branch`]; a share reaches the default
//! branch only), so every file keeps its history; nothing is ever purged. The caller passed the
//! write gate for a path (`gate::path` or `gate::shared`); the commit checks each path it touches.

use strata_lfs::pointer::Pointer;
use strata_lfs::Oid;
use strata_metastore::{Deleted, Op, Revision, DATAPACKAGE, GITATTRIBUTES, LFSCONFIG};

use crate::auth::Principal;
use crate::commits::describe::Describe;
use crate::commits::{commit, Change};
use crate::datasets::gate::{check_path, Gated};
use crate::datasets::git_on;
use crate::datasets::paths::{head_of, stat, stat_at, Branch, KEEP};
use crate::error::{Error, Result};
use crate::Core;

/// Files the server writes itself: never touched by the file manager.
fn reserved(path: &str) -> bool {
    [DATAPACKAGE, GITATTRIBUTES, LFSCONFIG].contains(&path)
}

/// `folder/name` for a name a browser sent (only its last component counts).
pub fn join(folder: &str, name: &str) -> Result<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty() || base == "." || base == ".." || base.chars().any(char::is_control) {
        return Err(Error::unprocessable(format!("{name:?} is not a file name")));
    }
    let path = if folder.is_empty() {
        base.to_owned()
    } else {
        format!("{folder}/{base}")
    };
    check_path(&path)?;
    Ok(path)
}

fn check_target(path: &str) -> Result<()> {
    check_path(path)?;
    if path.is_empty() || reserved(path) {
        return Err(Error::unprocessable(format!(
            "{path:?} cannot be written from the file manager"
        )));
    }
    Ok(())
}

pub(super) fn check_writable(repo: &Gated, path: &str) -> Result<()> {
    check_target(path)?;
    if !repo.covers(path) {
        return Err(Error::forbidden(format!(
            "{path:?} is not shared with you for writing"
        )));
    }
    Ok(())
}

/// Whether a file may be uploaded to `path`: checked before its bytes are stored. Besides the
/// name and the share, a file in the way (`path` would go inside it) or a folder at `path` is a
/// conflict; the commit refuses both anyway, asking first stores nothing in vain.
pub async fn check_upload(core: &Core, repo: &Gated, branch: Branch<'_>, path: &str) -> Result<()> {
    check_writable(repo, path)?;
    let Some(head) = head_of(core, repo, branch).await? else {
        return Ok(());
    };
    let file = path.to_owned();
    git_on(core, repo, move |ms, ds| {
        let at = |p: &str| match ms.stat(ds, Some(&head), p) {
            Err(strata_metastore::Error::NotFound(_)) => Ok(None),
            other => other,
        };
        for (end, _) in file.match_indices('/') {
            match at(&file[..end])? {
                Some(false) => {
                    return Err(strata_metastore::Error::Conflict(format!(
                        "{:?} is a file: {file:?} cannot go inside it",
                        &file[..end]
                    )))
                }
                Some(true) => {}
                None => return Ok(()),
            }
        }
        match at(&file)? {
            Some(true) => Err(strata_metastore::Error::Conflict(format!(
                "{file:?} is a folder: a file cannot take its place"
            ))),
            _ => Ok(()),
        }
    })
    .await
}

/// Names beside a taken one [`free_path`] tries.
const KEEP_BOTH: usize = 100;

/// `path`, or when a file or folder is there already (or in `taken`) the first free name beside
/// it: `a (1).csv`, `a (2).csv`, …
pub async fn free_path(
    core: &Core,
    repo: &Gated,
    branch: Branch<'_>,
    path: &str,
    taken: &[String],
) -> Result<String> {
    let (dir, name) = match path.rsplit_once('/') {
        Some((d, n)) => (format!("{d}/"), n),
        None => (String::new(), path),
    };
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let head = match branch {
        Some(_) => head_of(core, repo, branch).await?,
        None => None,
    };
    let mut candidate = path.to_owned();
    for n in 1..=KEEP_BOTH {
        if !taken.contains(&candidate)
            && stat_at(core, repo, head.clone(), &candidate)
                .await?
                .is_none()
        {
            return Ok(candidate);
        }
        candidate = format!("{dir}{stem} ({n}){ext}");
    }
    Err(Error::conflict(format!(
        "{path:?} and the {KEEP_BOTH} names beside it are taken: choose replace, or another name"
    )))
}

/// Commits objects already stored (by `Storage::ingest`) as LFS files at `files` (path, oid,
/// size), linking them to the dataset first; `message` is the revision's, or one is made up.
pub async fn upload(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    branch: Branch<'_>,
    files: Vec<(String, Oid, u64)>,
    message: Option<String>,
) -> Result<Revision> {
    if files.is_empty() {
        return Err(Error::unprocessable("choose at least one file to upload"));
    }
    // Past the namespace's quota, nothing is linked (the stored bytes are collected).
    let objects: Vec<(Oid, u64)> = files.iter().map(|(_, o, s)| (*o, *s)).collect();
    for admitted in crate::quotas::admit(core, repo, &objects).await? {
        admitted.map_err(|m| Error::new(crate::error::Kind::Quota, m))?;
    }
    let mut ops = Vec::new();
    let mut lfs_paths = Vec::new();
    for (path, oid, size) in &files {
        check_writable(repo, path)?;
        core.storage.link(repo.id, oid, *size).await?;
        ops.push(Op::Put {
            path: path.clone(),
            data: Pointer {
                oid: *oid,
                size: *size,
            }
            .encode()
            .into_bytes(),
        });
        lfs_paths.push(path.clone());
    }
    let summary = match (message, files.as_slice()) {
        (Some(m), _) => m,
        (None, [(path, ..)]) => format!("Upload {path}"),
        (None, _) => format!("Upload {} files", files.len()),
    };
    let change = Change {
        summary,
        parent: head_of(core, repo, branch).await?,
        at_head: true,
        branch: branch.map(str::to_owned),
        ops,
        lfs_paths,
        vouched: files.iter().map(|(_, oid, _)| *oid).collect(),
        describe: Describe::Add,
        ..Change::default()
    };
    commit(core, who, repo, change).await
}

/// Makes an empty folder (a `.keep` file in it).
pub async fn new_folder(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    branch: Branch<'_>,
    folder: &str,
) -> Result<Revision> {
    check_target(folder)?;
    let exists = stat(core, repo, branch, folder).await?;
    if exists.is_some() {
        return Err(Error::conflict(format!("{folder:?} exists already")));
    }
    let ops = vec![Op::Put {
        path: format!("{folder}/{KEEP}"),
        data: Vec::new(),
    }];
    let summary = format!("New folder {folder}");
    write(core, who, repo, branch, summary, ops, vec![]).await
}

/// The head of `branch`, and every file at or under each of `paths` there with its bytes
/// (pointers for LFS files). Writes built on them name that head as their parent, so a change to
/// those files in between is a conflict, not a lost update.
async fn files_at(
    core: &Core,
    repo: &Gated,
    branch: Branch<'_>,
    paths: &[String],
) -> Result<(String, Vec<(String, Vec<u8>)>)> {
    let paths = paths.to_vec();
    let Some(head) = head_of(core, repo, branch).await? else {
        return Err(Error::not_found(format!(
            "{} has no files yet",
            repo.path()
        )));
    };
    git_on(core, repo, move |ms, ds| {
        let mut files = Vec::new();
        let mut tree = None;
        for path in paths {
            match ms.stat(ds, Some(&head), &path)? {
                None => {
                    return Err(strata_metastore::Error::NotFound(format!(
                        "{path:?} not found"
                    )))
                }
                Some(false) => files.push((path.clone(), ms.read_file(ds, Some(&head), &path)?)),
                Some(true) => {
                    if tree.is_none() {
                        tree = Some(ms.tree(ds, Some(&head))?.1);
                    }
                    let prefix = format!("{path}/");
                    for e in tree
                        .iter()
                        .flatten()
                        .filter(|e| e.path.starts_with(&prefix))
                    {
                        files.push((e.path.clone(), ms.read_file(ds, Some(&head), &e.path)?));
                    }
                }
            }
        }
        Ok((head, files))
    })
    .await
}

/// Renames or moves files and folders (with everything in them), each `(from, to)`, as one
/// revision.
pub async fn rename(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    branch: Branch<'_>,
    moves: &[(String, String)],
) -> Result<Revision> {
    if moves.is_empty() {
        return Err(Error::unprocessable("choose what to move"));
    }
    // Every source and target is checked against the caller's reach before anything is looked
    // up: outside a share, a path answers the same whether it exists or not.
    for (from, to) in moves {
        check_writable(repo, from)?;
        check_writable(repo, to)?;
    }
    for (from, to) in moves {
        if from == to {
            return Err(Error::unprocessable(format!(
                "{from:?}: the new name is the old one"
            )));
        }
        if to.starts_with(&format!("{from}/")) {
            return Err(Error::unprocessable(format!(
                "{from:?} cannot move into itself"
            )));
        }
        if stat(core, repo, branch, to).await?.is_some() {
            return Err(Error::conflict(format!("{to:?} exists already")));
        }
    }
    for (a, _) in moves {
        if moves
            .iter()
            .any(|(b, _)| a.starts_with(&format!("{b}/")) || (a == b && !std::ptr::eq(a, b)))
        {
            return Err(Error::unprocessable(format!(
                "{a:?} is picked twice, or with its folder: pick one of them"
            )));
        }
    }
    let targets: std::collections::HashSet<&String> = moves.iter().map(|(_, to)| to).collect();
    if targets.len() < moves.len() {
        return Err(Error::conflict("two of the items would get the same name"));
    }
    let froms: Vec<String> = moves.iter().map(|(from, _)| from.clone()).collect();
    let (head, files) = files_at(core, repo, branch, &froms).await?;
    let mut ops = Vec::new();
    let mut lfs_paths = Vec::new();
    let mut vouched = Vec::new();
    let mut moved = Vec::new();
    for (path, data) in files {
        let (from, to) = moves
            .iter()
            .find(|(from, _)| path == *from || path.starts_with(&format!("{from}/")))
            .ok_or_else(|| Error::internal(format!("{path:?} was not asked for")))?;
        let target = format!("{to}{}", &path[from.len()..]);
        check_target(&target)?;
        if let Some(pointer) = strata_lfs::pointer::lenient(&data) {
            // Copied from where the caller reaches: theirs to move.
            vouched.push(pointer.oid);
            lfs_paths.push(target.clone());
        }
        moved.push((path.clone(), target.clone()));
        ops.push(Op::Delete { path });
        ops.push(Op::Put { path: target, data });
    }
    let summary = match moves {
        [(from, to)] => format!("Move {from} to {to}"),
        _ => format!("Move {} items", moves.len()),
    };
    let change = Change {
        summary,
        parent: Some(head),
        branch: branch.map(str::to_owned),
        ops,
        lfs_paths,
        vouched,
        describe: Describe::Follow,
        moved,
        ..Change::default()
    };
    commit(core, who, repo, change).await
}

/// Deletes files and folders as one revision; they stay in history and in [`deleted`].
pub async fn delete(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    branch: Branch<'_>,
    paths: &[String],
) -> Result<Revision> {
    if paths.is_empty() {
        return Err(Error::unprocessable("choose what to delete"));
    }
    for path in paths {
        check_writable(repo, path)?;
    }
    let (head, files) = files_at(core, repo, branch, paths).await?;
    let summary = match paths {
        [path] => format!("Delete {path}"),
        _ => format!("Delete {} items", paths.len()),
    };
    let mut ops: Vec<Op> = files
        .into_iter()
        .map(|(path, _)| Op::Delete { path })
        .collect();
    // A folder and a file in it both picked: deleted once.
    ops.sort_by(|a, b| op_key(a).cmp(op_key(b)));
    ops.dedup_by(|a, b| op_key(a) == op_key(b));
    let change = Change {
        summary,
        parent: Some(head),
        branch: branch.map(str::to_owned),
        ops,
        describe: Describe::Follow,
        ..Change::default()
    };
    commit(core, who, repo, change).await
}

fn op_key(op: &Op) -> &str {
    match op {
        Op::Put { path, .. } | Op::Delete { path } => path,
    }
}

/// Writes the content `path` had at revision `rev` back at the head: restores an old version, or
/// a deleted file. `named`: the path the file had at `rev`, when it was renamed since (its
/// versions follow it back through renames); `None`: `path`.
pub async fn restore(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    path: &str,
    rev: &str,
    named: Option<&str>,
) -> Result<Revision> {
    check_target(path)?;
    if let Some(n) = named {
        check_target(n)?;
    }
    if repo.limited() {
        return Err(Error::forbidden(
            "what is shared with you is the current version only: its owner restores old ones",
        ));
    }
    let (file, at) = (path.to_owned(), rev.to_owned());
    let then = named.unwrap_or(path).to_owned();
    let head = head_of(core, repo, None).await?;
    let at_head = head.clone();
    let (data, short, package) = git_on(core, repo, move |ms, ds| {
        let id = ms.resolve(ds, Some(&at))?;
        let data = ms.read_file(ds, Some(&at), &then)?;
        // A deleted file's resource comes back with it.
        let package = match (strata_lfs::pointer::lenient(&data), &at_head) {
            (Some(pointer), Some(head)) => {
                let revs = (head.as_str(), id.to_string());
                crate::commits::describe::bring_back(ms, ds, (revs.0, &revs.1), &file, &pointer)?
            }
            _ => None,
        };
        Ok((data, id.to_string(), package))
    })
    .await?;
    let lfs_paths = if strata_lfs::pointer::lenient(&data).is_some() {
        vec![path.to_owned()]
    } else {
        vec![]
    };
    let mut ops = vec![Op::Put {
        path: path.to_owned(),
        data,
    }];
    ops.extend(package);
    let summary = format!("Restore {path} from {}", &short[..10.min(short.len())]);
    let change = Change {
        summary,
        parent: head,
        at_head: true,
        ops,
        lfs_paths,
        describe: Describe::Follow,
        ..Change::default()
    };
    commit(core, who, repo, change).await
}

/// Files deleted on the default branch that are not back: at most one page (the deletions of
/// 200 commits after `cursor`), only those the caller reaches. Returns the next cursor.
pub async fn deleted(
    core: &Core,
    repo: &Gated,
    cursor: Option<String>,
) -> Result<(Vec<Deleted>, Option<String>)> {
    if repo.limited() {
        return Err(Error::forbidden(
            "recently deleted files are part of the history, which a share does not reach",
        ));
    }
    let (mut list, next) = git_on(core, repo, move |ms, ds| {
        ms.deleted(ds, None, None, cursor.as_deref(), 200)
    })
    .await?;
    list.retain(|d| !d.path.ends_with(&format!("/{KEEP}")) && d.path != KEEP);
    Ok((list, next))
}

async fn write(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    branch: Branch<'_>,
    summary: String,
    ops: Vec<Op>,
    lfs_paths: Vec<String>,
) -> Result<Revision> {
    let change = Change {
        summary,
        parent: head_of(core, repo, branch).await?,
        at_head: true,
        branch: branch.map(str::to_owned),
        ops,
        lfs_paths,
        describe: Describe::Follow,
        ..Change::default()
    };
    commit(core, who, repo, change).await
}
