//! A region feed brought up to date (`super::feed`): each branch and tag of the source becomes a
//! snapshot of its files as the policies let the feed's region hold them, in the feed's own
//! repository, and the feed's refs move to them together. A ref whose snapshot was built under
//! the same key (`Feed-Key`: its source revision, the policies' version, the default branch's
//! head and the groups of the feed's maker) is kept as it is; otherwise its new snapshot is a
//! commit on top of its last one, so a mirror of the feed moves forward. After an erasure on the
//! source, or once a policy governs what the feed sent raw, the feed's whole history is rewritten
//! without it (`forget_erased`) and pruned: a mirror follows the rewritten refs, and its garbage
//! collection then takes those bytes.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use serde_json::{Map, Value};
use sha2::Digest;
use strata_lfs::pointer::Pointer;
use strata_lfs::Oid;
use strata_metastore::{
    DatasetId, Edit, Metastore, ObjectId, Person, Refs, WriteMeta, DATAPACKAGE,
};
use strata_policy::Decision;

use super::withhold;
use crate::datasets::catalog::Table;
use crate::datasets::gated::Gated;
use crate::datasets::git_on;
use crate::datasets::policies::{self, Surface};
use crate::db::{FeedObject, FeedRow};
use crate::error::{Error, Result};
use crate::governance::write::{rewrite, Applied};
use crate::tables::Kind;
use crate::Core;

/// A git file (not an LFS pointer) larger than this stops the build.
const MAX_GIT_FILE: u64 = 16 << 20;

/// The feeds' repositories: `data_dir/feeds/feeds/{id}.git`.
fn store(core: &Core) -> Metastore {
    Metastore::new(
        core.settings.data_dir.join("feeds"),
        Person {
            name: "strata".into(),
            email: "feeds@strata.invalid".into(),
        },
    )
}

fn ds(name: &str) -> DatasetId<'_> {
    DatasetId { ns: "feeds", name }
}

/// Where feed `id`'s repository is.
pub(super) fn repo_dir(core: &Core, id: i64) -> PathBuf {
    let (root, path) = git_root(core, id);
    root.join(path.trim_start_matches('/'))
}

/// The git root and the path under it of feed `id`'s repository (for `git http-backend`).
pub fn git_root(core: &Core, id: i64) -> (PathBuf, String) {
    (
        core.settings.data_dir.join("feeds"),
        format!("/feeds/{id}.git"),
    )
}

/// Removes the repositories of feeds that are no more (their dataset deleted with them).
pub(super) async fn sweep_orphans(core: &Core) {
    let dir = core.settings.data_dir.join("feeds").join("feeds");
    let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
        return;
    };
    while let Ok(Some(e)) = entries.next_entry().await {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(id) = name
            .strip_suffix(".git")
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        if matches!(core.db.feed(id).await, Ok(None)) {
            let lock = core.mirrors.builds.of(id);
            let _held = lock.lock().await;
            if matches!(core.db.feed(id).await, Ok(None)) {
                tracing::info!(feed = id, "mirrors: a deleted feed's repository removed");
                let _ = tokio::fs::remove_dir_all(e.path()).await;
            }
        }
    }
}

/// Brings `feed` up to date with its dataset and the policies in force. Recorded on the feed:
/// when it was built, and why not.
pub async fn build(core: &Core, feed: &FeedRow) -> Result<()> {
    let lock = core.mirrors.builds.of(feed.id);
    let _held = lock.lock().await;
    // Read again under the lock: deleted meanwhile, or erased from since.
    let Some(feed) = core.db.feed(feed.id).await? else {
        return Err(Error::not_found(format!("no region feed {}", feed.id)));
    };
    let result = build_locked(core, &feed).await;
    let error = result.as_ref().err().map(|e| e.message.clone());
    core.db.feed_built(feed.id, error.as_deref()).await?;
    result
}

async fn build_locked(core: &Core, feed: &FeedRow) -> Result<()> {
    let gated = super::feed::source(core, feed).await?;
    let name = feed.id.to_string();
    let policies = core.governance.version(core).await;
    // What it published raw that a policy governs now is taken back, as an erasure is.
    let published = core.db.feed_raw_oids(feed.id).await?;
    let published: Vec<Oid> = published.iter().filter_map(|o| o.parse().ok()).collect();
    let revoked: Vec<String> = crate::datasets::policies::governed_among(core, &gated, &published)
        .await?
        .iter()
        .map(Oid::to_string)
        .collect();
    let mut erased_at = feed.erased_at.filter(|e| Some(*e) > feed.rewritten_at);
    if !revoked.is_empty() {
        core.db.feed_objects_forget(feed.id, &revoked).await?;
        erased_at = Some(crate::db::now());
    }
    if let Some(erased_at) = erased_at {
        forget_erased(core, feed).await?;
        // An erasure in this very second may have come after what was read: again next time.
        let done = if erased_at >= crate::db::now() {
            erased_at - 1
        } else {
            erased_at
        };
        core.db.feed_rewritten(feed.id, done).await?;
    }
    let (old, source) = {
        let name = name.clone();
        let fs = store(core);
        let old = tokio::task::spawn_blocking(move || {
            if !fs.exists(ds(&name)) {
                fs.create(ds(&name))?;
            }
            fs.heads_and_tags(ds(&name))
        })
        .await
        .map_err(Error::internal)??;
        let source = git_on(core, &gated, |ms, ds| {
            let mut out = BTreeMap::new();
            // A tag object (an annotated tag) is peeled to its commit.
            for (name, target) in ms.heads_and_tags(ds)? {
                // A tag of a tree or a blob is no revision: the feed has none of it.
                if let Ok(id) = ms.resolve(ds, Some(&target.to_string())) {
                    out.insert(name, id);
                }
            }
            Ok(out)
        })
        .await?;
        (old, source)
    };
    // What a snapshot's decisions rest on besides its own revision: the policies' version, the
    // head (whose tags every revision's tables are read with, and whose files decide what else
    // may go raw), and the groups of the feed's maker.
    let head = source
        .get(&format!("refs/heads/{}", strata_metastore::DEFAULT_BRANCH))
        .map(ObjectId::to_string);
    let groups = core.db.groups_of(feed.created_by).await?;
    let basis = serde_json::json!([policies, head, groups, feed.region]).to_string();
    let mut new = Refs::new();
    for (name_of_ref, commit) in &source {
        let key = strata_lfs::lower_hex(&sha2::Sha256::digest(format!("{commit} {basis}")));
        let prev = old.get(name_of_ref).copied();
        if let Some(prev) = prev {
            if built_from(core, &name, prev).await?.as_deref() == Some(key.as_str()) {
                new.insert(name_of_ref.clone(), prev);
                continue;
            }
        }
        let at = (*commit, prev, policies.as_deref(), key.as_str());
        let id = snapshot(core, feed, &gated, at).await?;
        new.insert(name_of_ref.clone(), id);
    }
    let fs = store(core);
    tokio::task::spawn_blocking(move || fs.follow(ds(&name), &old, &new, "region feed"))
        .await
        .map_err(Error::internal)??;
    Ok(())
}

/// Rewrites `feed`'s whole history without the pointers to objects it no longer names (erased
/// on the source): its refs move, so a mirror of it moves too, and its old snapshots (with the
/// erased bytes) become unreachable there, for its garbage collection.
async fn forget_erased(core: &Core, feed: &FeedRow) -> Result<()> {
    let named: HashSet<String> = core.db.feed_oids(feed.id).await?.into_iter().collect();
    let erased = core.db.erased_paths(feed.repo_id).await?;
    let fs = store(core);
    let name = feed.id.to_string();
    let ran = tokio::task::spawn_blocking(move || {
        if !fs.exists(ds(&name)) {
            return Ok(false);
        }
        let gone = |path: &str| {
            erased.iter().any(|e| {
                path == e
                    || path
                        .strip_prefix(e.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        };
        let mut edit = |path: &str, data: &[u8]| {
            if path == DATAPACKAGE {
                return Ok(unnamed_resources_out(data, &named));
            }
            if gone(path) {
                return Ok(Edit::Drop);
            }
            Ok(match Pointer::parse(data) {
                Ok(p) if !named.contains(&p.oid.to_string()) => Edit::Drop,
                _ => Edit::Keep,
            })
        };
        fs.rewrite_history(ds(&name), &|_| true, &mut edit, true)
            .map(|_| true)
    })
    .await
    .map_err(Error::internal)?
    .map_err(Error::from)?;
    if ran {
        prune(&repo_dir(core, feed.id)).await?;
    }
    Ok(())
}

/// Deletes what no ref of the feed's repository reaches any more (its history before a
/// rewrite): `git upload-pack` is then unable to send it, whatever object a client asks for.
async fn prune(dir: &std::path::Path) -> Result<()> {
    for args in [
        &["reflog", "expire", "--expire=now", "--all"][..],
        &["gc", "--prune=now", "--quiet"][..],
    ] {
        let out = tokio::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .kill_on_drop(true)
            .output()
            .await
            .map_err(Error::internal)?;
        if !out.status.success() {
            return Err(Error::internal(format!(
                "git {} in a feed's repository: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(())
}

/// A datapackage without the resources whose object the feed no longer names (their hash would
/// keep the erased bytes reached).
fn unnamed_resources_out(data: &[u8], named: &HashSet<String>) -> Edit {
    let Ok(mut json) = serde_json::from_slice::<Map<String, Value>>(data) else {
        return Edit::Keep;
    };
    let Some(Value::Array(resources)) = json.get_mut("resources") else {
        return Edit::Keep;
    };
    let before = resources.len();
    resources.retain(|r| {
        r.get("hash")
            .and_then(Value::as_str)
            .and_then(|h| h.strip_prefix("sha256:"))
            .is_none_or(|h| named.contains(h))
    });
    if resources.len() == before {
        return Edit::Keep;
    }
    match serde_json::to_vec_pretty(&Value::Object(json)) {
        Ok(data) => Edit::Replace(data),
        Err(_) => Edit::Keep,
    }
}

/// The key snapshot `id` of the feed named `name` was built under (its message's last
/// `Feed-Key:` line): its source revision and what its decisions rest on.
async fn built_from(core: &Core, name: &str, id: ObjectId) -> Result<Option<String>> {
    let fs = store(core);
    let name = name.to_owned();
    let message = tokio::task::spawn_blocking(move || fs.message_of(ds(&name), id))
        .await
        .map_err(Error::internal)??;
    Ok(message.and_then(|m| {
        m.lines()
            .rev()
            .find_map(|l| l.strip_prefix("Feed-Key: "))
            .map(str::to_owned)
    }))
}

/// Refuses the build (and takes them out of the feed) when any of `named` was erased from the
/// dataset: an erasure ran while the source was read.
async fn not_erased(core: &Core, feed: &FeedRow, named: &[String]) -> Result<()> {
    let gone = core.db.erased(feed.repo_id, named).await?;
    if gone.is_empty() {
        return Ok(());
    }
    core.db.feed_objects_forget(feed.id, &gone).await?;
    core.db.feed_erased_now(feed.id).await?;
    Err(Error::conflict(
        "an erasure ran on the dataset while the feed was being built: fetch again",
    ))
}

/// What the policies do to one resource in the feed's region.
enum Fate {
    Keep,
    Withheld(Decision),
    Governed(Applied, Decision),
}

/// The snapshot of source revision `commit` for `feed`, on top of `parent`, built under `key`.
async fn snapshot(
    core: &Core,
    feed: &FeedRow,
    gated: &Gated,
    (commit, parent, policies, key): (ObjectId, Option<ObjectId>, Option<&str>, &str),
) -> Result<ObjectId> {
    let rev = commit.to_string();
    let (revision, files) = {
        let rev = rev.clone();
        git_on(core, gated, move |ms, ds| {
            let revision = ms.revision(ds, &rev)?;
            let (_, files) = ms.whole(ds, &rev, MAX_GIT_FILE)?;
            Ok((revision, files))
        })
        .await?
    };
    let catalog = policies::catalog(core, gated, Some(&rev)).await?;
    let whole = policies::decide(core, gated, &catalog, None, None, Surface::Feed).await?;
    if whole.denied() {
        return Err(Error::forbidden(format!(
            "the policies let region {} hold nothing of {}",
            feed.region, catalog.dataset
        )));
    }
    let mut files: BTreeMap<String, Vec<u8>> = files.into_iter().collect();
    // The source's LFS URL is not the mirror's.
    files.remove(strata_metastore::LFSCONFIG);
    let mut notes = Vec::new();
    let mut applied = Vec::new();
    let mut withheld = Vec::new();
    let mut made: BTreeMap<String, (String, Decision)> = BTreeMap::new();
    for table in &catalog.resources {
        let present = files.contains_key(&table.path);
        match fate(core, gated, &catalog, table, present).await? {
            Fate::Keep => {}
            Fate::Withheld(d) => {
                files.remove(&table.path);
                withheld.push(table.name.clone());
                notes.push(format!(
                    "Region-Feed: {} withheld ({})",
                    table.name,
                    d.policies.join("; ")
                ));
            }
            Fate::Governed(a, d) => {
                let pointer = Pointer {
                    oid: a.oid,
                    size: a.size,
                };
                files.insert(table.path.clone(), pointer.encode().into_bytes());
                notes.push(format!(
                    "Region-Feed: {} transformed ({})",
                    table.name,
                    d.policies.join("; ")
                ));
                let source = table.object.map(|(o, _)| o.to_string()).unwrap_or_default();
                made.insert(a.oid.to_string(), (source, d));
                applied.push(a);
            }
        }
    }
    let ours: HashSet<Oid> = applied.iter().map(|a| a.oid).collect();
    let paths = withhold::raw(core, gated, &whole, &catalog, &mut files, &ours).await?;
    for p in &paths {
        notes.push(format!(
            "Region-Feed: {p} withheld (a policy governs these bytes)"
        ));
    }
    let mut gone: Vec<String> = catalog
        .resources
        .iter()
        .filter(|t| withheld.contains(&t.name))
        .map(|t| t.path.clone())
        .collect();
    gone.extend(paths.iter().cloned());
    if let Some(data) = files.remove(DATAPACKAGE) {
        let data = withhold::repackage(core, data, &withheld, &paths, &applied)?;
        files.insert(DATAPACKAGE.into(), data);
    }
    if let Some(data) = files.get_mut(strata_metastore::GITATTRIBUTES) {
        *data = withhold::attributes(data, &gone);
    }
    // The objects first: a mirror that has the commit may fetch them at once.
    let mut objects = Vec::new();
    for (path, data) in &files {
        let Ok(p) = Pointer::parse(data) else {
            continue;
        };
        let oid = p.oid.to_string();
        let resource = catalog
            .resources
            .iter()
            .find(|t| &t.path == path)
            .map(|t| t.name.clone());
        let (source_oid, decision) = match made.get(&oid) {
            Some((s, d)) => (Some(s.clone()), Some(d.to_audit().to_string())),
            None => (None, None),
        };
        objects.push(FeedObject {
            oid,
            size: i64::try_from(p.size).unwrap_or(i64::MAX),
            source_oid,
            resource,
            revision: rev.clone(),
            decision,
            policies: policies.map(str::to_owned),
            created_at: 0,
        });
    }
    // An erasure that ran since the source was read: nothing of it goes in (and the next build
    // rewrites what came before).
    let mut named: Vec<String> = objects.iter().map(|o| o.oid.clone()).collect();
    named.extend(objects.iter().filter_map(|o| o.source_oid.clone()));
    not_erased(core, feed, &named).await?;
    core.db
        .feed_objects_put(feed.id, feed.repo_id, &objects)
        .await?;
    not_erased(core, feed, &named).await?;
    let mut message = revision.message.trim_end().to_owned();
    message.push_str("\n\n");
    for n in &notes {
        message.push_str(n);
        message.push('\n');
    }
    message.push_str(&format!(
        "Region: {}\nSource-Revision: {rev}\nPolicies: {}\nFeed-Key: {key}\n",
        feed.region,
        policies.unwrap_or("none")
    ));
    let fs = store(core);
    let name = feed.id.to_string();
    let files: Vec<(String, Vec<u8>)> = files.into_iter().collect();
    tokio::task::spawn_blocking(move || {
        let meta = WriteMeta {
            branch: strata_metastore::DEFAULT_BRANCH,
            parent,
            author: &revision.author,
            message: &message,
        };
        fs.write_snapshot(ds(&name), &meta, &files)
    })
    .await
    .map_err(Error::internal)?
    .map_err(Error::from)
}

/// What the policies do to `table` in the feed's region. A table they transform is read
/// through its decision and stored in its own format; a resource they transform that cannot be
/// read as a table (or names no LFS object) is withheld, never sent raw.
async fn fate(
    core: &Core,
    gated: &Gated,
    catalog: &crate::datasets::catalog::Catalog,
    table: &Table,
    present: bool,
) -> Result<Fate> {
    let decision = policies::decide(core, gated, catalog, Some(table), None, Surface::Feed).await?;
    if decision.denied() {
        return Ok(Fate::Withheld(decision));
    }
    // No file (erased, or never committed): nothing to send or to govern.
    if !decision.transforms() || !present {
        return Ok(Fate::Keep);
    }
    match (Kind::of(table), table.object) {
        (Some(kind), Some(object)) => {
            match rewrite(core, gated, catalog, table, kind, object, &decision).await {
                Ok(a) => Ok(Fate::Governed(a, decision)),
                // Its bytes are gone (erased), or do not read as the table it says: withheld,
                // never sent raw, and never the feed stopped for it.
                Err(e) if unreadable(&e) => Ok(Fate::Withheld(decision)),
                Err(e) => Err(e),
            }
        }
        _ => Ok(Fate::Withheld(decision)),
    }
}

/// Whether a rewrite failed on the table's bytes (gone, or not the table they should be),
/// rather than on the server.
fn unreadable(e: &Error) -> bool {
    use crate::error::Kind;
    matches!(
        e.kind,
        Kind::NotFound | Kind::Gone | Kind::Invalid | Kind::BadRequest | Kind::TooLarge
    )
}
