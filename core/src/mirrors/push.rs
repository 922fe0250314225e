//! Push mirrors: remotes a dataset is pushed to after each change (a branch or tag moved: the
//! event stream says so), and every interval besides. One push, as the account that set it up
//! (while it may still administer the dataset): the remote's refs read (`git ls-remote`), the
//! LFS objects the commits it lacks name uploaded through its batch API (objects first), then
//! the branches and tags pushed, a rewritten branch force-pushed only when the mirror says
//! `force`, and refs the dataset no longer has deleted there. A failure is retried with backoff
//! and shown with the mirror; the remote is checked and reached as a pull mirror's is
//! (`super::remote`).

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use strata_lfs::Oid;
use strata_metastore::{ObjectId, Refs};

use super::remote::{upstream, Remote, BATCH};
use crate::auth::scope::Action;
use crate::auth::{sealed, Principal};
use crate::datasets::{gate, git_on};
use crate::db::{NewPush, PushRow};
use crate::error::{Error, Result};
use crate::Core;

/// How long a claim holds without being renewed.
const LEASE: i64 = 120;
/// The most push mirrors a dataset has.
pub const MAX_PER_DATASET: usize = 10;

/// A push mirror to set up.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushInput {
    /// The remote's git URL (checked as a pull mirror's is).
    pub url: String,
    #[serde(default)]
    pub lfs_url: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Force-push branches rewritten here (default: such a push fails and says so).
    #[serde(default)]
    pub force: bool,
    /// Seconds between pushes when nothing changed (default an hour).
    #[serde(default)]
    pub interval_secs: Option<u64>,
}

/// A push mirror as the dataset's admins see it (never its credentials).
#[derive(Debug, Clone, Serialize)]
pub struct PushMirror {
    pub id: i64,
    pub url: String,
    pub lfs_url: String,
    pub has_credentials: bool,
    pub force: bool,
    pub interval_secs: i64,
    /// `new`, `ok` or `failed`.
    pub state: String,
    pub pushing: bool,
    pub next_push_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
    pub failures: i64,
    /// The refs the last push left on the remote.
    pub refs: Value,
    pub objects_pushed: i64,
    pub bytes_pushed: i64,
    pub created_at: i64,
}

fn view(row: &PushRow) -> PushMirror {
    PushMirror {
        id: row.id,
        url: row.url.clone(),
        lfs_url: super::remote::lfs_url(&row.url, row.lfs_url.as_deref()),
        has_credentials: row.credentials.is_some(),
        force: row.force != 0,
        interval_secs: row.interval_secs,
        state: row.state.clone(),
        pushing: row.claimed_until.is_some_and(|t| t >= crate::db::now()),
        next_push_at: row.next_at,
        last_attempt_at: row.last_attempt_at,
        last_success_at: row.last_success_at,
        last_error: row.last_error.clone(),
        failures: row.failures,
        refs: serde_json::from_str(&row.pushed_refs).unwrap_or_else(|_| json!({})),
        objects_pushed: row.objects_pushed,
        bytes_pushed: row.bytes_pushed,
        created_at: row.created_at,
    }
}

/// Adds a remote `{ns}/{name}` is pushed to (its admins'): the first push is due at once.
pub async fn create(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
    input: PushInput,
) -> Result<PushMirror> {
    let repo = gate::dataset(core, who, ns, name, Action::Admin).await?;
    let Principal::User { user, .. } = who else {
        return Err(Error::forbidden(
            "push mirrors are set up with a personal access token",
        ));
    };
    let targets = core.settings.mirrors;
    targets
        .check_url(&input.url)
        .map_err(|e| Error::unprocessable(format!("url: {e}")))?;
    if let Some(lfs) = &input.lfs_url {
        targets
            .check_url(lfs)
            .map_err(|e| Error::unprocessable(format!("lfs_url: {e}")))?;
    }
    let interval = input.interval_secs.unwrap_or(3600);
    let least = core.settings.mirror_min_interval.as_secs();
    if interval < least || interval > 365 * 86400 {
        return Err(Error::unprocessable(format!(
            "interval_secs: from {least} to {} seconds",
            365 * 86400
        )));
    }
    if core.db.pushes_of(repo.id).await?.len() >= MAX_PER_DATASET {
        return Err(Error::unprocessable(format!(
            "a dataset is pushed to at most {MAX_PER_DATASET} remotes"
        )));
    }
    let header = super::remote::authorization(
        input.token.as_deref(),
        input.username.as_deref(),
        input.password.as_deref(),
    )?;
    let new = NewPush {
        url: input.url,
        lfs_url: input.lfs_url,
        credentials: header.map(|h| sealed::seal(&core.jwt, &aad(repo.id), &h)),
        created_by: user.id,
        force: input.force,
        interval_secs: interval as i64,
    };
    let row = core.db.push_create(repo.id, &new).await?;
    core.mirrors.wake.notify_one();
    crate::audit::record(
        core,
        "push_mirror.created",
        Some(&who.display_name()),
        Some(&repo.path()),
        json!({"url": row.url, "id": row.id}),
    )
    .await?;
    Ok(view(&row))
}

fn aad(repo_id: i64) -> String {
    format!("push-mirror:{repo_id}:credentials")
}

/// The remotes `{ns}/{name}` is pushed to (its admins').
pub async fn list(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
) -> Result<Vec<PushMirror>> {
    let repo = gate::dataset(core, who, ns, name, Action::Admin).await?;
    Ok(core.db.pushes_of(repo.id).await?.iter().map(view).collect())
}

/// Push mirror `id` of `{ns}/{name}` (its admins').
pub async fn get(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
    id: i64,
) -> Result<PushMirror> {
    let repo = gate::dataset(core, who, ns, name, Action::Admin).await?;
    let row = core.db.push_of(repo.id, id).await?;
    row.as_ref()
        .map(view)
        .ok_or_else(|| Error::not_found(format!("there is no push mirror {id}")))
}

/// Stops pushing `{ns}/{name}` to push mirror `id` (its admins').
pub async fn delete(core: &Core, who: &Principal, (ns, name): (&str, &str), id: i64) -> Result<()> {
    let repo = gate::dataset(core, who, ns, name, Action::Admin).await?;
    if !core.db.push_delete(repo.id, id).await? {
        return Err(Error::not_found(format!("there is no push mirror {id}")));
    }
    crate::audit::record(
        core,
        "push_mirror.deleted",
        Some(&who.display_name()),
        Some(&repo.path()),
        json!({"id": id}),
    )
    .await
}

/// Pushes `{ns}/{name}` to push mirror `id` now (its admins').
pub async fn push_now(
    core: &Core,
    who: &Principal,
    at: (&str, &str),
    id: i64,
) -> Result<PushMirror> {
    let repo = gate::dataset(core, who, at.0, at.1, Action::Admin).await?;
    if core.db.push_trigger(repo.id, Some(id)).await? == 0 {
        return Err(Error::not_found(format!("there is no push mirror {id}")));
    }
    core.mirrors.wake.notify_one();
    get(core, who, at, id).await
}

/// Makes the push mirrors of `dataset` (`ns/name`) due: one of its refs moved.
pub(super) async fn changed(core: &Core, dataset: &str) -> Result<()> {
    let Some((ns, name)) = dataset.split_once('/') else {
        return Ok(());
    };
    if let Some(repo) = core.db.repo_by_path(ns, name).await? {
        if core.db.push_trigger(repo.id, None).await? > 0 {
            core.mirrors.wake.notify_one();
        }
    }
    Ok(())
}

/// Claims and runs the push mirrors due, one at a time.
pub(super) async fn turn(core: &Arc<Core>) {
    let due = match core.db.due_pushes(10).await {
        Ok(due) => due,
        Err(e) => return tracing::warn!(error = %e, "push mirrors: which are due cannot be read"),
    };
    for row in due {
        let until = crate::db::now() + LEASE;
        let claimed_at = match core.db.push_claim(row.id, until).await {
            Ok(Some(at)) => at,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "push mirrors: a claim failed");
                continue;
            }
        };
        let renew = |until| core.db.push_renew(row.id, claimed_at, until);
        let id = format!("push-mirror-{}-{claimed_at}", row.id);
        let outcome = super::sync::leased(&id, push(core, &row), renew).await;
        let ended = match outcome {
            Ok((refs, objects, bytes)) => {
                let refs = super::sync::refs_json(&refs).to_string();
                core.db
                    .push_done(row.id, claimed_at, &refs, objects as i64, bytes as i64)
                    .await
            }
            Err(e) => {
                let path = core
                    .db
                    .repo_by_id(row.repo_id)
                    .await
                    .ok()
                    .flatten()
                    .map(|r| r.path());
                tracing::warn!(push = row.url, error = %e.message, "a push mirror's push failed");
                if let Some(path) = path {
                    let data = json!({"push": row.url, "error": e.message});
                    crate::events::record(core, None, "mirror.failed", &path, data).await;
                }
                let retry = (10i64 << row.failures.clamp(0, 9)).min(3600);
                core.db
                    .push_failed(row.id, claimed_at, &e.message, retry)
                    .await
            }
        };
        if let Err(e) = ended {
            tracing::warn!(error = %e, "push mirrors: the end of a push cannot be recorded");
        }
    }
}

/// One push of `row`: the refs it left on the remote, and the objects and bytes it uploaded.
async fn push(core: &Arc<Core>, row: &PushRow) -> Result<(Refs, u64, u64)> {
    let (repo, remote) = super::reach(
        core,
        super::Setup {
            repo_id: row.repo_id,
            created_by: row.created_by,
            url: &row.url,
            lfs_url: row.lfs_url.as_deref(),
            credentials: row.credentials.as_deref(),
            aad: aad(row.repo_id),
            what: "push mirror",
        },
    )
    .await?;
    let home = core
        .settings
        .data_dir
        .join("mirrors")
        .join(format!("push-home-{}", uuid::Uuid::new_v4().simple()));
    tokio::fs::create_dir_all(&home)
        .await
        .map_err(Error::internal)?;
    let _home = super::sync::Gone(home.clone());
    let dir = git_on(core, &repo, |ms, ds| ms.repo_path(ds)).await?;
    let ours = git_on(core, &repo, |ms, ds| ms.heads_and_tags(ds)).await?;
    let theirs = ls_remote(&remote, &home).await?;
    if ours == theirs {
        return Ok((ours, 0, 0));
    }
    // Objects first: what the commits the remote lacks name.
    let tips: Vec<ObjectId> = ours
        .values()
        .copied()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let known: Vec<ObjectId> = theirs.values().copied().collect();
    let named = {
        let (ms, dir) = (core.metastore.clone(), dir.clone());
        tokio::task::spawn_blocking(move || ms.introduced(&dir, &tips, &known))
            .await
            .map_err(Error::internal)??
    };
    let mut objects: Vec<(Oid, u64)> = named.into_iter().collect();
    objects.sort();
    let (mut sent, mut bytes) = (0u64, 0u64);
    for part in objects.chunks(BATCH) {
        let (n, b) = super::upload::upload(core, repo.id, &remote, part).await?;
        sent += n;
        bytes += b;
    }
    // Then the refs.
    let mut specs = Vec::new();
    for (name, id) in &ours {
        if theirs.get(name) != Some(id) {
            let plus = if row.force != 0 { "+" } else { "" };
            specs.push(format!("{plus}{id}:{name}"));
        }
    }
    for name in theirs.keys().filter(|n| !ours.contains_key(*n)) {
        specs.push(format!(":{name}"));
    }
    let mut cmd = remote.git(&home);
    cmd.arg("-C")
        .arg(&dir)
        .args(["push", "--porcelain", "--quiet", &remote.url])
        .args(&specs);
    let out = cmd.output().await.map_err(Error::internal)?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let text: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with('!') || l.starts_with("remote:") || l.contains("error"))
            .take(5)
            .collect();
        return Err(upstream(format!(
            "git push to the remote failed: {}",
            text.join("; ")
        )));
    }
    Ok((ours, sent, bytes))
}

/// The remote's branches and tags.
async fn ls_remote(remote: &Remote, home: &std::path::Path) -> Result<Refs> {
    let mut cmd = remote.git(home);
    cmd.args(["ls-remote", "--heads", "--tags", &remote.url])
        .stdout(std::process::Stdio::piped());
    let out = cmd.output().await.map_err(Error::internal)?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        let text: String = text.lines().take(3).collect::<Vec<_>>().join("; ");
        return Err(upstream(format!(
            "git ls-remote of the remote failed: {text}"
        )));
    }
    let mut refs = Refs::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((id, name)) = line.split_once('\t') else {
            continue;
        };
        if name.ends_with("^{}") {
            continue;
        }
        let id = ObjectId::from_hex(id.as_bytes())
            .map_err(|e| upstream(format!("the remote's refs: {e}")))?;
        refs.insert(name.to_owned(), id);
    }
    Ok(refs)
}
