//! The push checks that read what the new commits' files say:
//!
//! - `.lfsconfig` is strata's: no new commit, and no branch the push moves, may remove it or
//!   change where it points git-lfs (`strata_metastore::lfsconfig`), so a writer cannot send
//!   every clone's LFS traffic elsewhere;
//! - a new `datapackage.json` is validated as the REST API validates it, except that a resource
//!   without `bytes` or `hash` (a hand-written datapackage, or `frictionless describe`'s) takes
//!   them from the LFS pointer at its path in the same commit, as strata reads it later; where a
//!   resource gives them and a pointer is there, they must agree;
//! - the content the push keeps in git (files that are no LFS pointers) is measured, for the
//!   namespace's quota (`crate::quotas::counts_in_git`): only blobs the repository did not hold
//!   before the push add bytes;
//! - a push to the policy dataset's default branch brings policies that compile.

use std::collections::{BTreeMap, HashMap};

use strata_lfs::pointer::{self, Pointer};
use strata_metastore::{Package, DATAPACKAGE, DEFAULT_BRANCH, LFSCONFIG};

use super::{Update, ZERO};
use crate::datasets::plumbing::{cat_blobs, changes_to, git, held_before};

/// Refuses a push that removes `.lfsconfig` or changes where it points, in any new commit
/// (against each of its parents) or between a branch's old and new head; `own` is the dataset's
/// own LFS endpoint, which it may always be made to point at.
pub(super) fn check_lfsconfig(updates: &[Update], own: Option<&str>) -> Result<(), String> {
    let refused = |at: &str, why: String| format!("push refused: {at}: {why}");
    let tips: Vec<&str> = updates
        .iter()
        .filter(|u| u.new != ZERO)
        .map(|u| u.new.as_str())
        .collect();
    for (commit, old, new) in changes_to(LFSCONFIG, &tips)? {
        let before = old.map(|id| blob(&id)).transpose()?;
        let after = new.map(|id| blob(&id)).transpose()?;
        strata_metastore::lfsconfig::check_change(before.as_deref(), after.as_deref(), own)
            .map_err(|why| refused(&format!("commit {commit}"), why))?;
    }
    // A force-push can leave it behind without any new commit touching it.
    let moved = updates
        .iter()
        .filter(|u| u.name.starts_with("refs/heads/") && u.old != ZERO && u.new != ZERO);
    for u in moved {
        let before = file_at(&u.old, LFSCONFIG)?;
        let after = file_at(&u.new, LFSCONFIG)?;
        strata_metastore::lfsconfig::check_change(before.as_deref(), after.as_deref(), own)
            .map_err(|why| refused(u.name.trim_start_matches("refs/heads/"), why))?;
    }
    Ok(())
}

/// The content of blob `id`.
fn blob(id: &str) -> Result<Vec<u8>, String> {
    let out = git(&["cat-file", "blob", id])?;
    if !out.status.success() {
        return Err(format!(
            "git cat-file: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// The file at `path` in commit `rev`, if there is one.
fn file_at(rev: &str, path: &str) -> Result<Option<Vec<u8>>, String> {
    let name = format!("{rev}:{path}");
    let kind = git(&["cat-file", "-t", &name])?;
    if !kind.status.success() || String::from_utf8_lossy(&kind.stdout).trim() != "blob" {
        return Ok(None);
    }
    blob(&name).map(Some)
}

/// The datapackages that blob `id` (`data`, a new root `datapackage.json`) is in the commits
/// `tips` bring, validated: one per commit that brings it, each resource without `bytes` or
/// `hash` taking them from the LFS pointer at its path in that commit, and those given agreeing
/// with the pointer there. `Err` is the refusal.
pub(super) fn packages(id: &str, data: &[u8], tips: &[&str]) -> Result<Vec<Package>, String> {
    let refused = |at: &str, e: String| format!("push refused: {DATAPACKAGE} ({at}): {e}");
    let value: serde_json::Value = serde_json::from_slice(data)
        .map_err(|e| refused(id, format!("datapackage.json is not valid JSON: {e}")))?;
    let paths: Vec<String> = value
        .get("resources")
        .and_then(serde_json::Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|r| r.get("path")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut commits: Vec<String> = Vec::new();
    if !paths.is_empty() {
        for (commit, _, new) in changes_to(DATAPACKAGE, tips)? {
            if new.as_deref() == Some(id) && !commits.contains(&commit) {
                commits.push(commit);
            }
        }
    }
    if commits.is_empty() {
        let package = Package::from_json(value).map_err(|e| refused(id, e.to_string()))?;
        crate::datasets::packaged::jobs(&package.json).map_err(|e| refused(id, e.message))?;
        return Ok(vec![package]);
    }
    let mut out = Vec::with_capacity(commits.len());
    for commit in commits {
        let pointers = pointers_at(&commit, &paths)?;
        let package = Package::from_json_in(value.clone(), |p| pointers.get(p).copied())
            .map_err(|e| refused(&commit, e.to_string()))?;
        crate::datasets::packaged::jobs(&package.json).map_err(|e| refused(&commit, e.message))?;
        for r in &package.resources {
            let Some(p) = pointers.get(&r.path) else {
                continue;
            };
            if (p.oid, p.size) != (r.oid, r.size) {
                return Err(refused(
                    &commit,
                    format!(
                        "the resource {:?} says {:?} is sha256:{} of {} bytes, but the LFS \
                         pointer there names sha256:{} of {} bytes: give the pointer's, or \
                         leave \"bytes\" and \"hash\" out to take them from it",
                        r.name, r.path, r.oid, r.size, p.oid, p.size
                    ),
                ));
            }
        }
        out.push(package);
    }
    Ok(out)
}

/// The LFS pointers at `paths` in commit `commit`, by path (paths that hold no pointer there
/// are left out).
fn pointers_at(commit: &str, paths: &[String]) -> Result<HashMap<String, Pointer>, String> {
    let names: Vec<String> = paths
        .iter()
        .filter(|p| !p.contains(['\n', '\r']))
        .map(|p| format!("{commit}:{p}"))
        .collect();
    Ok(cat_blobs(names.iter(), &[])?
        .into_iter()
        .filter_map(|(name, data)| {
            let (_, path) = name.split_once(':')?;
            Some((path.to_owned(), pointer::lenient(&data)?))
        })
        .collect())
}

/// The bytes the blobs `counted` (by id, each one the push brings that counts toward the quota
/// at one of its paths; `sizes` by id) keep in git: those the repository did not hold before
/// the push.
pub(super) fn kept_in_git(
    counted: &[String],
    sizes: &BTreeMap<String, u64>,
) -> Result<u64, String> {
    let held = held_before(counted)?;
    Ok(counted
        .iter()
        .filter(|id| !held.contains(*id))
        .filter_map(|id| sizes.get(id))
        .sum())
}

/// A push to the policy dataset: the `.rego` files of the new default branch must compile, as
/// the server would load them (`crate::datasets::policies`).
pub(super) fn check_policies(updates: &[Update], limit: std::time::Duration) -> Result<(), String> {
    let default = format!("refs/heads/{DEFAULT_BRANCH}");
    if updates.iter().any(|u| u.name == default && u.new == ZERO) {
        return Err(format!(
            "push refused: {DEFAULT_BRANCH} of the policy dataset holds the policies in force and cannot be deleted"
        ));
    }
    for u in updates.iter().filter(|u| u.name == default) {
        let out = git(&["ls-tree", "-r", "-z", &u.new])?;
        if !out.status.success() {
            return Err(format!(
                "git ls-tree: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut files = Vec::new();
        for entry in out.stdout.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let entry = String::from_utf8_lossy(entry);
            let Some((meta, path)) = entry.split_once('\t') else {
                continue;
            };
            let fields: Vec<&str> = meta.split(' ').collect();
            if !path.ends_with(".rego") || fields.get(1) != Some(&"blob") {
                continue;
            }
            let blob = git(&["cat-file", "blob", fields[2]])?;
            if pointer::lenient(&blob.stdout).is_some() {
                return Err(format!(
                    "push refused: {path} is an LFS object; policies must be plain files in git"
                ));
            }
            let text = String::from_utf8(blob.stdout)
                .map_err(|_| format!("push refused: {path} is not UTF-8 text"))?;
            files.push(strata_policy::PolicyFile {
                path: path.to_owned(),
                text,
            });
        }
        strata_policy::Policies::compile(u.new.clone(), files, limit)
            .map_err(|e| format!("push refused: the policies do not compile: {e}"))?;
    }
    Ok(())
}
