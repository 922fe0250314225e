//! One sync of a mirror, and the loop that runs them. A sync:
//!
//! 1. claims the mirror (a lease in the database, renewed while it runs: one sync of a mirror
//!    at a time among replicas), and runs as the account that set it up, which must still
//!    administer the dataset;
//! 2. fetches the remote's branches and tags into a fresh staging repository that borrows the
//!    dataset's objects (so only what is new crosses the wire);
//! 3. when they differ from the dataset's, lists the LFS objects the new commits name that the
//!    dataset does not hold, checks the quota, and downloads each through the remote's batch
//!    API, stored only once it hashes to its oid;
//! 4. copies the new git objects into the dataset's repository, then moves its refs to the
//!    remote's, each against what was read (events `branch.*` and `tag.*` as for any move), and
//!    records `mirror.moved`.
//!
//! Anything that fails leaves the refs where they were (objects already stored stay, unlinked
//! ones collected as any are) and records `mirror.failed`; the next try comes after a backoff.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use strata_lfs::Oid;
use strata_metastore::{ObjectId, Refs};

use super::remote::BATCH;
use crate::datasets::git_on;
use crate::db::{MirrorEnd, MirrorRow};
use crate::error::{Error, Result};
use crate::Core;

/// How long a claim holds without being renewed.
const LEASE: i64 = 120;
/// Downloads at once (git-lfs's default).
const DOWNLOADS_AT_ONCE: usize = 8;

/// What syncs did, since the server started.
#[derive(Debug, Default)]
pub struct Counts {
    pub moved: AtomicU64,
    pub unchanged: AtomicU64,
    pub failed: AtomicU64,
    pub objects: AtomicU64,
    pub bytes: AtomicU64,
}

/// How a sync went.
#[derive(Debug)]
enum Outcome {
    Unchanged(Refs),
    Moved {
        refs: Refs,
        moved: Vec<String>,
        objects: u64,
        bytes: u64,
    },
}

/// Runs the loop: every second, or when woken, claims the mirrors due and syncs them, one at
/// a time; marks the push mirrors of datasets whose refs moved (the event stream says so) due,
/// and pushes those due (`super::push`).
pub fn start(core: &Arc<Core>) {
    let core = core.clone();
    core.tasks.clone().spawn("mirrors", move |stop| async move {
        let mut seen = core.db.last_event_seq().await.ok();
        let mut swept = std::time::Instant::now() - Duration::from_secs(3600);
        loop {
            if swept.elapsed() >= Duration::from_secs(3600) {
                swept = std::time::Instant::now();
                sweep_leftovers(&core.settings.data_dir.join("mirrors")).await;
                super::snapshot::sweep_orphans(&core).await;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = core.mirrors.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            follow(&core, &mut seen).await;
            super::push::turn(&core).await;
            let due = match core.db.due_mirrors(10).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "mirrors: which are due cannot be read");
                    continue;
                }
            };
            for row in due {
                if stop.is_cancelled() {
                    break;
                }
                let until = crate::db::now() + LEASE;
                match core.db.mirror_claim(row.id, until).await {
                    Ok(Some(claimed_at)) => run(&core, row, claimed_at).await,
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "mirrors: a claim failed"),
                }
            }
        }
    });
}

/// Removes what syncs and pushes killed with their process left in `work` (staging
/// repositories, git homes): entries untouched for a day, longer than any sync stays in one.
async fn sweep_leftovers(work: &std::path::Path) {
    let Ok(mut entries) = tokio::fs::read_dir(work).await else {
        return;
    };
    let day = Duration::from_secs(86400);
    while let Ok(Some(e)) = entries.next_entry().await {
        let old = e
            .metadata()
            .await
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > day));
        if old {
            tracing::info!(path = %e.path().display(), "mirrors: a killed sync's leftovers removed");
            let _ = tokio::fs::remove_dir_all(e.path()).await;
        }
    }
}

/// Marks the push mirrors of the datasets whose refs moved since event `seen` due.
async fn follow(core: &Arc<Core>, seen: &mut Option<i64>) {
    let Some(after) = *seen else {
        *seen = core.db.last_event_seq().await.ok();
        return;
    };
    let events = match core.db.events_after(after, 500).await {
        Ok(events) => events,
        Err(e) => return tracing::warn!(error = %e, "push mirrors: the event stream is unreadable"),
    };
    for e in events {
        *seen = Some(e.seq);
        if e.kind.starts_with("branch.") || e.kind.starts_with("tag.") {
            if let Err(err) = super::push::changed(core, &e.dataset).await {
                tracing::warn!(error = %err.message, "push mirrors: a change was not followed");
            }
        }
    }
}

/// A directory removed when this goes.
pub(super) struct Gone(pub std::path::PathBuf);

impl Drop for Gone {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `work` (request id `id`) while `renew` keeps extending its claim to the time it is
/// given (every quarter of the lease): the work stops when the claim is lost.
pub(super) async fn leased<T, R, F>(
    id: &str,
    work: impl std::future::Future<Output = Result<T>>,
    renew: R,
) -> Result<T>
where
    R: Fn(i64) -> F,
    F: std::future::Future<Output = std::result::Result<bool, sqlx::Error>>,
{
    let keep = async {
        loop {
            tokio::time::sleep(Duration::from_secs((LEASE / 4) as u64)).await;
            if !matches!(renew(crate::db::now() + LEASE).await, Ok(true)) {
                return;
            }
        }
    };
    let ctx = crate::context::RequestCtx {
        request_id: id.to_owned(),
        ..Default::default()
    };
    tokio::select! {
        outcome = crate::context::scope(ctx, work) => outcome,
        () = keep => Err(Error::conflict("the work lost its claim (another replica took it)")),
    }
}

/// Syncs mirror `row` (claimed at `claimed_at`), renewing the claim while it runs, and
/// records how it ended.
async fn run(core: &Arc<Core>, row: MirrorRow, claimed_at: i64) {
    let renew = |until| core.db.mirror_renew(row.id, claimed_at, until);
    let id = format!("mirror-{}-{claimed_at}", row.id);
    let outcome = leased(&id, sync(core, &row), renew).await;
    let Ok(Some(repo)) = core.db.repo_by_id(row.repo_id).await else {
        return;
    };
    let counts = &core.mirrors.counts;
    let ended = match &outcome {
        Ok(Outcome::Unchanged(refs)) => {
            counts.unchanged.fetch_add(1, Ordering::Relaxed);
            let refs = refs_json(refs).to_string();
            let end = MirrorEnd::Synced {
                refs: &refs,
                objects: 0,
                bytes: 0,
            };
            core.db.mirror_end(row.id, claimed_at, end, 0).await
        }
        Ok(Outcome::Moved {
            refs,
            moved,
            objects,
            bytes,
        }) => {
            counts.moved.fetch_add(1, Ordering::Relaxed);
            counts.objects.fetch_add(*objects, Ordering::Relaxed);
            counts.bytes.fetch_add(*bytes, Ordering::Relaxed);
            let data =
                json!({"remote": row.url, "refs": moved, "objects": objects, "bytes": bytes});
            crate::events::record(core, None, "mirror.moved", &repo.path(), data).await;
            let refs = refs_json(refs).to_string();
            let end = MirrorEnd::Synced {
                refs: &refs,
                objects: *objects as i64,
                bytes: *bytes as i64,
            };
            core.db.mirror_end(row.id, claimed_at, end, 0).await
        }
        Err(e) => {
            counts.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(mirror = %repo.path(), error = %e.message, "a mirror's sync failed");
            let data = json!({"remote": row.url, "error": e.message});
            crate::events::record(core, None, "mirror.failed", &repo.path(), data).await;
            // 10 s, doubling with each failure in a row, up to an hour.
            let retry = (10i64 << row.failures.clamp(0, 9)).min(3600);
            core.db
                .mirror_end(row.id, claimed_at, MirrorEnd::Failed(&e.message), retry)
                .await
        }
    };
    if let Err(e) = ended {
        tracing::warn!(error = %e, "mirrors: the end of a sync cannot be recorded");
    }
}

pub(super) fn refs_json(refs: &Refs) -> serde_json::Value {
    refs.iter()
        .map(|(k, v)| (k.clone(), json!(v.to_string())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// One sync of `row`.
async fn sync(core: &Arc<Core>, row: &MirrorRow) -> Result<Outcome> {
    let (repo, remote) = super::reach(
        core,
        super::Setup {
            repo_id: row.repo_id,
            created_by: row.created_by,
            url: &row.url,
            lfs_url: row.lfs_url.as_deref(),
            credentials: row.credentials.as_deref(),
            aad: super::aad(row.repo_id, "credentials"),
            what: "mirror",
        },
    )
    .await?;

    // 2. The remote's refs, fetched into a fresh staging repository.
    let dataset_dir = git_on(core, &repo, |ms, ds| ms.repo_path(ds)).await?;
    let work = core.settings.data_dir.join("mirrors");
    let staging = Staging::new(&work, &dataset_dir).await?;
    remote.fetch(&staging.path, &staging.home).await?;
    let theirs = read_refs(&staging.path).await?;
    let ours = git_on(core, &repo, |ms, ds| ms.heads_and_tags(ds)).await?;
    if theirs == ours {
        return Ok(Outcome::Unchanged(theirs));
    }

    // 3. The LFS objects the new commits name, stored and verified.
    let tips: Vec<ObjectId> = theirs
        .values()
        .copied()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let hidden: Vec<ObjectId> = ours
        .values()
        .copied()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let named = {
        let (ms, path) = (core.metastore.clone(), staging.path.clone());
        tokio::task::spawn_blocking(move || ms.introduced(&path, &tips, &hidden))
            .await
            .map_err(Error::internal)??
    };
    let oids: Vec<Oid> = named.keys().copied().collect();
    let linked = core.db.linked_objects(repo.id, &oids).await?;
    let mut missing: Vec<(Oid, u64)> = named
        .into_iter()
        .filter(|(o, _)| !linked.contains_key(o))
        .collect();
    missing.sort();
    let limit = core.settings.object_limit();
    if let Some((oid, size)) = missing.iter().find(|(_, s)| *s > limit) {
        return Err(Error::too_large(format!(
            "{oid} is {size} bytes: objects may be at most {limit} bytes"
        )));
    }
    let total: u64 = missing.iter().map(|(_, s)| s).sum();
    crate::quotas::room(core, &repo).await?.check(total)?;
    let mut bytes = 0;
    for part in missing.chunks(BATCH) {
        let downloads = remote.batch(part).await?;
        let stored = futures_util::stream::iter(downloads)
            .map(|d| {
                let (remote, repo_id) = (&remote, repo.id);
                async move {
                    let body = remote.open(&d).await?;
                    core.storage
                        .store_fetched(repo_id, &d.oid, d.size, body)
                        .await?;
                    Ok::<u64, Error>(d.size)
                }
            })
            .buffer_unordered(DOWNLOADS_AT_ONCE)
            .collect::<Vec<_>>()
            .await;
        for s in stored {
            bytes += s?;
        }
    }

    // 4. The git objects into the dataset, then its refs moved.
    if !theirs.is_empty() {
        copy_objects(&staging, &dataset_dir, &theirs).await?;
    }
    let message = format!("mirror: sync from {}", remote.url);
    let (o, t) = (ours.clone(), theirs.clone());
    let moved = git_on(core, &repo, move |ms, ds| ms.follow(ds, &o, &t, &message)).await?;
    Ok(Outcome::Moved {
        refs: theirs,
        moved,
        objects: missing.len() as u64,
        bytes,
    })
}

/// A staging repository for one sync (deleted with it), and an empty home for git.
struct Staging {
    path: std::path::PathBuf,
    home: std::path::PathBuf,
    root: std::path::PathBuf,
}

impl Staging {
    async fn new(work: &std::path::Path, dataset: &std::path::Path) -> Result<Staging> {
        let root = work.join(format!("sync-{}", uuid::Uuid::new_v4().simple()));
        let (path, home) = (root.join("staging.git"), root.join("home"));
        tokio::fs::create_dir_all(&home)
            .await
            .map_err(Error::internal)?;
        let out = local_git()
            .args(["init", "--bare", "--quiet"])
            .arg(&path)
            .output()
            .await
            .map_err(Error::internal)?;
        if !out.status.success() {
            return Err(Error::internal(
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        let objects = dataset.join("objects");
        let alternates = path.join("objects/info/alternates");
        tokio::fs::write(&alternates, format!("{}\n", objects.display()))
            .await
            .map_err(Error::internal)?;
        Ok(Staging { path, home, root })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `git` on strata's own repositories: no system or user configuration, never a prompt.
fn local_git() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("git");
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0");
    cmd
}

/// The branches and tags of the staging repository.
async fn read_refs(git_dir: &std::path::Path) -> Result<Refs> {
    let out = local_git()
        .arg("-C")
        .arg(git_dir)
        .args([
            "for-each-ref",
            "--format=%(objectname) %(refname)",
            "refs/heads",
            "refs/tags",
        ])
        .output()
        .await
        .map_err(Error::internal)?;
    if !out.status.success() {
        return Err(Error::internal(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let mut refs = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((id, name)) = line.split_once(' ') else {
            continue;
        };
        let id = ObjectId::from_hex(id.as_bytes()).map_err(Error::internal)?;
        refs.insert(name.to_owned(), id);
    }
    Ok(refs)
}

/// Copies what the staging repository fetched into the dataset's repository, moving no ref.
async fn copy_objects(staging: &Staging, dataset: &std::path::Path, refs: &Refs) -> Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut child = local_git()
        .arg("-C")
        .arg(dataset)
        .args([
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--stdin",
        ])
        .arg(&staging.path)
        .kill_on_drop(true)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(Error::internal)?;
    let mut names = String::new();
    for name in refs.keys() {
        names.push_str(name);
        names.push('\n');
    }
    let mut stdin = child.stdin.take().expect("piped");
    stdin
        .write_all(names.as_bytes())
        .await
        .map_err(Error::internal)?;
    drop(stdin);
    let out = child.wait_with_output().await.map_err(Error::internal)?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "copying the fetched objects: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}
