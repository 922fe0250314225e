//! Erasure that can be proven: files (or folders) removed from a dataset's whole history.
//!
//! Every revision any ref reaches is rewritten without them (`Metastore::rewrite_history`: the
//! same authors, times and messages; the datapackage's resources for them and their
//! `.gitattributes` lines go too) and every ref moves. The objects only they reached are erased:
//! unlinked and recorded (a signed URL or download naming one answers 410), their table views
//! and residency copies deleted, their bytes deleted (kept only while another dataset links the
//! same bytes, which the report says), and with them the xorbs their chunks were uploaded in
//! through Xet (`xet.rs`). The repository's old objects are pruned (reflogs expired,
//! `git gc` pruning what is older than the erasure). Under encryption every surviving object is sealed again under a new
//! data-key version and the older versions are destroyed, so no ciphertext left anywhere can be
//! opened. The report lists the revisions rewritten, refs moved, objects removed and key versions
//! destroyed. Clones and fetches made before cannot be reached: the report says so.

mod rows;
mod xet;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;
use serde_json::{json, Value};
use strata_lfs::Oid;
use strata_metastore::{
    check_path, DatasetId, Edit, Rewrite, DATAPACKAGE, GITATTRIBUTES, LFSCONFIG,
};

use crate::error::{Error, Result};
use crate::storage::Rekeyed;

use crate::Core;
pub use rows::erase_rows;

/// The most paths one erasure takes.
pub const MAX_PATHS: usize = 100;

/// What an erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dataset: String,
    pub paths: Vec<String>,
    /// For an erasure of rows: how many rows went, over every version of the table.
    pub rows_removed: Option<u64>,
    /// Revisions rewritten (old id, new id), and refs moved (name, from, to).
    pub revisions_rewritten: Vec<(String, String)>,
    pub refs_moved: Vec<(String, String, String)>,
    pub objects_removed: Vec<Removed>,
    /// Table views and residency copies deleted with them.
    pub derived_removed: usize,
    /// Under encryption: the key version everything is sealed under now, how many objects were
    /// sealed again, and the versions destroyed.
    pub keys: Option<Rekeyed>,
    /// Whether the repository's old objects were pruned.
    pub history_pruned: bool,
    pub not_reached: &'static str,
}

/// An object erased.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub oid: String,
    pub size: u64,
    /// Whether its bytes were deleted; `false` when other datasets link the same bytes
    /// (`linked_elsewhere` of them), which keep them.
    pub bytes_deleted: bool,
    pub linked_elsewhere: i64,
}

const NOT_REACHED: &str = "clones, fetches and downloads made before the erasure still hold what \
    they copied; strata cannot reach them. Commit messages are kept as they were.";

/// Erases `paths` (files, or folders and all in them) from the whole history of dataset
/// `ns/name`, for a site admin or the operator (`by`). What the paths name is recorded before
/// any ref moves: an erasure that stops half-way (a conflict, a crash) is finished by the next
/// one of the dataset, which takes its paths and objects too.
pub async fn erase(
    core: &Core,
    by: &str,
    ns: &str,
    name: &str,
    paths: &[String],
) -> Result<Report> {
    let paths = check(paths)?;
    let repo = core
        .db
        .repo_by_path(ns, name)
        .await?
        .ok_or_else(|| Error::not_found(format!("dataset {ns}/{name} not found")))?;
    crate::audit::record(
        core,
        "dataset.erase.start",
        Some(by),
        Some(&repo.path()),
        json!({ "paths": hashed(&paths) }),
    )
    .await?;
    let started_at = crate::db::now();
    let unfinished = core.db.unfinished_erasures(repo.id).await?;
    let mut all: BTreeSet<String> = paths.iter().cloned().collect();
    let mut named: BTreeMap<String, u64> = BTreeMap::new();
    for (_, p, o) in &unfinished {
        all.extend(p.iter().cloned());
        named.extend(o.iter().map(|oid| (oid.clone(), 0)));
    }
    let all: Vec<String> = all.into_iter().collect();
    // The plan first (no ref moves): what the paths name, recorded.
    let (_, planned, mut resources) = rewrite(core, &repo, &all, false).await?;
    named.extend(planned);
    let job = core
        .db
        .start_erasure(repo.id, &all, &keys(&named), by)
        .await?;
    let (rewritten, more, names) = rewrite(core, &repo, &all, true).await?;
    named.extend(more);
    resources.extend(names);
    core.db.erasure_oids(job, &keys(&named)).await?;
    let mut jobs: Vec<i64> = unfinished.iter().map(|(id, _, _)| *id).collect();
    jobs.push(job);
    let done = Done {
        jobs,
        named,
        rewritten,
        started_at,
        paths: all,
        resources,
        rows_removed: None,
    };
    finish(core, by, &repo, done).await
}

/// What a rewrite left to finish an erasure with.
struct Done {
    /// The erasures (this one, and those it finishes).
    jobs: Vec<i64>,
    /// The objects the erased paths or rows were in, with their sizes.
    named: BTreeMap<String, u64>,
    rewritten: Rewrite,
    started_at: i64,
    paths: Vec<String>,
    resources: BTreeSet<String>,
    rows_removed: Option<u64>,
}

/// The rest of an erasure once the history is rewritten: the objects named that nothing reaches
/// any more are erased with what derives from them, the repository pruned, events scrubbed,
/// keys rotated, the erasures marked finished, audited.
async fn finish(core: &Core, by: &str, repo: &crate::db::Repo, done: Done) -> Result<Report> {
    // What another path or revision still reaches stays.
    let after = {
        let (ns, name) = (repo.namespace.clone(), repo.name.clone());
        crate::datasets::git(core, move |ms| {
            ms.reached(
                DatasetId {
                    ns: &ns,
                    name: &name,
                },
                None,
            )
        })
        .await?
    };
    let mut gone: Vec<(Oid, u64)> = done
        .named
        .iter()
        .filter_map(|(o, s)| o.parse::<Oid>().ok().map(|o| (o, *s)))
        .filter(|(o, _)| !after.objects.contains_key(o))
        .collect();
    let named: Vec<String> = gone.iter().map(|(o, _)| o.to_string()).collect();
    // Their chunks too: the xorbs they were uploaded in through Xet (unless a ref reaches the
    // same bytes as a file).
    // No file is chunked into the xorbs about to go meanwhile.
    let turn = core.storage.chunking().await?;
    // And those of the table views made from them, kept as chunks of the dataset too (not a
    // view another table of the dataset was made into as well: it stays, read by that table).
    let mut files = named.clone();
    files.extend(core.db.views_made_from(repo.id, &named).await?);
    let chunks = self::xet::chunks_of(core, repo.id, &files).await?;
    self::xet::keep_sharing(core, repo.id, &chunks).await;
    gone.extend(
        chunks
            .objects
            .iter()
            .filter(|(o, _)| !after.objects.contains_key(o))
            .copied(),
    );
    let oids: Vec<String> = gone.iter().map(|(o, _)| o.to_string()).collect();
    // No view or digest index of the dataset is being made meanwhile (one being made from an
    // erased object is recorded before this and deleted here, or finds the object gone).
    let making = core.tables.erasing(repo.id).await;
    let derived = core.db.erase_links(repo.id, &oids).await?;
    for (oid, store) in &derived {
        core.storage
            .delete_derived(repo.id, oid, store.as_deref())
            .await?;
    }
    let mut removed = Vec::new();
    for (oid, size) in gone {
        let text = oid.to_string();
        if core.storage.sealed() {
            core.storage.delete_bytes(repo.id, &oid).await?;
        }
        let elsewhere = core.db.links_of(&text).await?;
        let deleted = elsewhere == 0 && core.db.erase_object(&text).await?;
        if deleted {
            core.storage.delete_bytes(0, &oid).await?;
            core.db.gc_deleted(0, &text).await?;
        }
        removed.push(Removed {
            oid: text,
            size,
            bytes_deleted: deleted || (core.storage.sealed() && elsewhere == 0),
            linked_elsewhere: elsewhere,
        });
    }
    self::xet::forget(core, repo.id, &chunks).await?;
    drop(turn);
    let history_pruned = prune(core, &repo.namespace, &repo.name, done.started_at).await;
    scrub_events(core, &repo.path(), &done.paths, &done.resources).await?;
    let keys = core.storage.rekey(repo.id).await?;
    drop(making);
    let report = Report {
        dataset: repo.path(),
        paths: done.paths,
        rows_removed: done.rows_removed,
        revisions_rewritten: done.rewritten.revisions,
        refs_moved: done.rewritten.refs,
        objects_removed: removed,
        derived_removed: derived.len(),
        keys,
        history_pruned,
        not_reached: NOT_REACHED,
    };
    // What is kept of it names the paths by their hashes only.
    let mut kept = serde_json::to_value(&report).map_err(Error::internal)?;
    kept["paths"] = json!(hashed(&report.paths));
    core.db
        .finish_erasures(&done.jobs, &kept.to_string())
        .await?;
    crate::audit::record(
        core,
        "dataset.erase",
        Some(by),
        Some(&report.dataset),
        json!({
            "paths": hashed(&report.paths),
            "rows_removed": report.rows_removed,
            "revisions_rewritten": report.revisions_rewritten.len(),
            "refs_moved": report.refs_moved.len(),
            "objects_removed": report.objects_removed.iter().map(|r| &r.oid).collect::<Vec<_>>(),
            "key_versions_destroyed": report.keys.as_ref().map(|k| k.destroyed.clone()),
            "history_pruned": report.history_pruned,
        }),
    )
    .await?;
    Ok(report)
}

/// Takes the erased paths out of the dataset's events and notifications (the paths a change
/// touched, the resources of its datapackage): their names may be what had to go.
async fn scrub_events(
    core: &Core,
    dataset: &str,
    paths: &[String],
    resources: &BTreeSet<String>,
) -> Result<()> {
    let hit = |p: &str| {
        paths
            .iter()
            .any(|e| p == e || p.starts_with(&format!("{e}/")))
    };
    let named = |o: &serde_json::Map<String, Value>| {
        o.get("path").and_then(Value::as_str).is_some_and(hit)
            || o.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| resources.contains(n))
    };
    let needles = paths
        .iter()
        .chain(resources.iter().filter(|r| !r.is_empty()));
    for needle in needles {
        for (note, id, data) in core.db.event_data_mentioning(dataset, needle).await? {
            let Ok(mut value) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            scrub(&mut value, &hit, &named);
            core.db.set_event_data(note, id, &value.to_string()).await?;
        }
    }
    Ok(())
}

/// Removes from `v`, wherever it is, every string naming an erased path and every object that
/// names one, or an erased resource (`named`).
fn scrub(
    v: &mut Value,
    hit: &dyn Fn(&str) -> bool,
    named: &dyn Fn(&serde_json::Map<String, Value>) -> bool,
) {
    match v {
        Value::Array(items) => {
            items.retain(|i| match i {
                Value::String(s) => !hit(s),
                Value::Object(o) => !named(o),
                _ => true,
            });
            items.iter_mut().for_each(|i| scrub(i, hit, named));
        }
        Value::Object(o) => {
            for (_, field) in o.iter_mut() {
                match field {
                    Value::String(s) if hit(s) => *field = Value::Null,
                    other => scrub(other, hit, named),
                }
            }
        }
        _ => {}
    }
}

/// The paths as the audit log and the erasure's record keep them: `sha256:` of each (an auditor
/// can check a path was erased without the log naming it).
fn hashed(paths: &[String]) -> Vec<String> {
    use sha2::Digest;
    paths
        .iter()
        .map(|p| format!("sha256:{}", hex::encode(sha2::Sha256::digest(p.as_bytes()))))
        .collect()
}

fn keys(named: &BTreeMap<String, u64>) -> Vec<String> {
    named.keys().cloned().collect()
}

/// Runs `work` with its ref moves marked as a history rewrite (their events name no paths).
async fn as_rewrite<T>(work: impl std::future::Future<Output = T>) -> T {
    let mut ctx = crate::context::current();
    ctx.rewriting = true;
    crate::context::scope(ctx, work).await
}

/// Rewrites (or, without `move_refs`, plans) the history of `repo` without `paths`; the objects
/// the dropped files and resources named, with their sizes. Ref moves are marked as a rewrite
/// (their events name no paths).
async fn rewrite(
    core: &Core,
    repo: &crate::db::Repo,
    paths: &[String],
    move_refs: bool,
) -> Result<(Rewrite, BTreeMap<String, u64>, BTreeSet<String>)> {
    let (ns, name, erased) = (repo.namespace.clone(), repo.name.clone(), paths.to_vec());
    as_rewrite(crate::datasets::git(core, move |ms| {
        let hit = |p: &str| {
            erased
                .iter()
                .any(|e| p == e || p.starts_with(&format!("{e}/")))
        };
        let wants = |p: &str| hit(p) || p == DATAPACKAGE || p == GITATTRIBUTES;
        let mut named = BTreeMap::new();
        let mut resources = BTreeSet::new();
        let mut edit = |p: &str, data: &[u8]| -> strata_metastore::Result<Edit> {
            Ok(match p {
                DATAPACKAGE => {
                    let (edit, gone) = package_without(data, &hit);
                    for (name, oid, size) in gone {
                        resources.insert(name);
                        if let Some(oid) = oid {
                            named.insert(oid.to_string(), size);
                        }
                    }
                    edit
                }
                GITATTRIBUTES => attributes_without(data, &hit),
                _ => {
                    if let Some(p) = strata_lfs::pointer::lenient(data) {
                        named.insert(p.oid.to_string(), p.size);
                    }
                    Edit::Drop
                }
            })
        };
        let done = ms.rewrite_history(
            DatasetId {
                ns: &ns,
                name: &name,
            },
            &wants,
            &mut edit,
            move_refs,
        )?;
        Ok((done, named, resources))
    }))
    .await
}

/// The paths, checked: relative, not the server's own files, at most [`MAX_PATHS`].
fn check(paths: &[String]) -> Result<Vec<String>> {
    if paths.is_empty() || paths.len() > MAX_PATHS {
        return Err(Error::unprocessable(format!(
            "name 1 to {MAX_PATHS} paths to erase"
        )));
    }
    let mut out = Vec::new();
    for p in paths {
        let p = p.trim_end_matches('/');
        check_path(p).map_err(Error::unprocessable)?;
        if [DATAPACKAGE, GITATTRIBUTES, LFSCONFIG].contains(&p) {
            return Err(Error::unprocessable(format!(
                "{p} is strata's own file and cannot be erased: erase the files it names"
            )));
        }
        out.push(p.to_owned());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The datapackage without the resources whose path is erased (unchanged when none is), and
/// those resources: name, and the object they named with its size.
type Gone = (String, Option<Oid>, u64);
fn package_without(data: &[u8], hit: &dyn Fn(&str) -> bool) -> (Edit, Vec<Gone>) {
    let Ok(mut value) = serde_json::from_slice::<Value>(data) else {
        return (Edit::Keep, Vec::new());
    };
    let Some(resources) = value.get_mut("resources").and_then(Value::as_array_mut) else {
        return (Edit::Keep, Vec::new());
    };
    let erased = |r: &Value| {
        let hit_path = |v: &Value| v.as_str().is_some_and(hit);
        match r.get("path") {
            Some(Value::Array(parts)) => parts.iter().any(hit_path),
            Some(p) => hit_path(p),
            None => false,
        }
    };
    let gone: Vec<Gone> = resources
        .iter()
        .filter(|r| erased(r))
        .map(|r| {
            let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
            let oid = r
                .get("hash")
                .and_then(Value::as_str)
                .and_then(|h| h.strip_prefix("sha256:").unwrap_or(h).parse().ok());
            let size = r.get("bytes").and_then(Value::as_u64).unwrap_or(0);
            (name.to_owned(), oid, size)
        })
        .collect();
    let before = resources.len();
    resources.retain(|r| !erased(r));
    if resources.len() == before {
        return (Edit::Keep, gone);
    }
    let mut text = serde_json::to_vec_pretty(&value).unwrap_or_default();
    text.push(b'\n');
    (Edit::Replace(text), gone)
}

/// `.gitattributes` without the lines naming an erased path (their names may say too much).
fn attributes_without(data: &[u8], hit: &dyn Fn(&str) -> bool) -> Edit {
    let text = String::from_utf8_lossy(data);
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            // strata writes spaces as [[:space:]] and escapes [ ] * ? with a backslash.
            let pattern = l.split_whitespace().next().unwrap_or("");
            let pattern = pattern.replace("[[:space:]]", " ").replace('\\', "");
            !hit(pattern.trim_start_matches('/'))
        })
        .collect();
    if kept.len() == text.lines().count() {
        return Edit::Keep;
    }
    let mut out = kept.join("\n");
    out.push('\n');
    Edit::Replace(out.into_bytes())
}

/// Expires the repository's reflogs and prunes every object no ref reaches that is older than
/// `before` (unix seconds: what a push during the erasure wrote stays); whether it worked.
async fn prune(core: &Core, ns: &str, name: &str, before: i64) -> bool {
    let prune = format!("--prune=@{before} +0000");
    let Ok(path) = core.metastore.repo_path(DatasetId { ns, name }) else {
        return false;
    };
    for args in [
        &[
            "reflog",
            "expire",
            "--expire=now",
            "--expire-unreachable=now",
            "--all",
        ][..],
        &["-c", "gc.autoDetach=false", "gc", prune.as_str(), "--quiet"][..],
    ] {
        let mut git = tokio::process::Command::new("git");
        git.arg("-C").arg(&path).args(args);
        let done = match core.children.spawn(&mut git) {
            Ok(mut group) => group.wait().await,
            Err(e) => Err(e),
        };
        if !done.is_ok_and(|s| s.success()) {
            tracing::warn!(repo = %path.display(), ?args, "pruning after an erasure failed");
            return false;
        }
    }
    true
}

/// Of `oids`, those erased from dataset `repo_id` (their downloads answer 410).
pub async fn erased(core: &Core, repo_id: i64, oids: &[Oid]) -> Result<HashSet<Oid>> {
    let list: Vec<String> = oids.iter().map(Oid::to_string).collect();
    Ok(core
        .db
        .erased(repo_id, &list)
        .await?
        .into_iter()
        .filter_map(|o| o.parse().ok())
        .collect())
}
