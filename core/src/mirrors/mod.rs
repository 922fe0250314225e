//! Pull mirrors: a dataset that follows a git + LFS remote (another strata, the Hub's git and
//! LFS endpoints, any git + LFS server), on a schedule, when asked, and when the remote's webhook
//! says it changed. A sync fetches the remote's branches and tags into a staging repository,
//! stores and verifies every LFS object the new commits name, and only then moves the dataset's
//! refs (`sync`): a reader never meets a pointer without its bytes. The remote is checked like a
//! webhook's target (`crate::targets`), its credentials are sealed (`crate::auth::sealed`), and
//! the dataset is read-only to everyone but its syncs (`crate::datasets::gate`).
//!
//! Push mirrors go the other way: a dataset pushed to remotes after each change (`push`).
//! Region feeds (`feed`, `snapshot`) serve a dataset as one region may hold it, for a pull mirror
//! in that region to follow.

pub mod feed;
pub mod push;
mod remote;
pub mod snapshot;
pub mod sync;
mod upload;
mod withhold;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::scope::Action;
use crate::auth::{sealed, Principal};
use crate::datasets::gate;
use crate::db::{MirrorRow, MirrorSet};
use crate::error::{Error, Result};
use crate::Core;

/// The mirrors' shared state: the signal that wakes the sync loop, and what syncs did.
#[derive(Debug, Default)]
pub struct Mirrors {
    pub wake: tokio::sync::Notify,
    pub counts: sync::Counts,
    /// One build of a region feed at a time (`feed`).
    pub builds: feed::Builds,
}

/// What a mirror follows, as its admin sets it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The remote's git URL (`https://host/ns/name.git`): `https`, public addresses only unless
    /// the admin allows private ones.
    pub url: String,
    /// Its LFS endpoint, when not the URL's own (`{url}/info/lfs`).
    #[serde(default)]
    pub lfs_url: Option<String>,
    /// A token for the remote, sent as `Authorization: Bearer …`.
    #[serde(default)]
    pub token: Option<String>,
    /// Or a user name and password, sent as HTTP Basic.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Seconds between scheduled syncs (default an hour; at least the server's minimum).
    #[serde(default)]
    pub interval_secs: Option<u64>,
    /// Paused mirrors are not synced.
    #[serde(default)]
    pub paused: bool,
    /// The secret the remote's webhook signs with (a strata webhook's `whsec_…`); without it, a
    /// new mirror gets one made here, shown once, and a changed one keeps its own.
    #[serde(default)]
    pub hook_secret: Option<String>,
}

/// A mirror as its dataset's readers see it (never its credentials or its hook secret).
#[derive(Debug, Clone, Serialize)]
pub struct Mirror {
    pub dataset: String,
    pub url: String,
    pub lfs_url: String,
    pub has_credentials: bool,
    pub interval_secs: i64,
    /// `new` (never synced), `ok` (the last sync caught up) or `failed`.
    pub state: String,
    pub paused: bool,
    /// A sync is running.
    pub syncing: bool,
    pub next_sync_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_success_at: Option<i64>,
    /// Since when the mirror may lack what the remote has (the first failure since a success).
    pub behind_since: Option<i64>,
    pub last_error: Option<String>,
    pub failures: i64,
    /// The remote's branches and tags the last sync moved to.
    pub refs: serde_json::Value,
    pub objects_fetched: i64,
    pub bytes_fetched: i64,
    pub created_at: i64,
}

/// The default interval between scheduled syncs.
const DEFAULT_INTERVAL: u64 = 3600;

fn view(repo: &crate::db::Repo, row: &MirrorRow) -> Mirror {
    let now = crate::db::now();
    Mirror {
        dataset: repo.path(),
        url: row.url.clone(),
        lfs_url: remote::lfs_url(&row.url, row.lfs_url.as_deref()),
        has_credentials: row.credentials.is_some(),
        interval_secs: row.interval_secs,
        state: row.state.clone(),
        paused: row.paused != 0,
        syncing: row.claimed_until.is_some_and(|t| t >= now),
        next_sync_at: row.next_at,
        last_attempt_at: row.last_attempt_at,
        last_success_at: row.last_success_at,
        behind_since: row.behind_since,
        last_error: row.last_error.clone(),
        failures: row.failures,
        refs: serde_json::from_str(&row.remote_refs).unwrap_or_else(|_| json!({})),
        objects_fetched: row.objects_fetched,
        bytes_fetched: row.bytes_fetched,
        created_at: row.created_at,
    }
}

/// What a sync or a push needs to reach its remote.
pub(super) struct Setup<'a> {
    pub repo_id: i64,
    pub created_by: i64,
    pub url: &'a str,
    pub lfs_url: Option<&'a str>,
    /// The sealed `Authorization` value, and what it was sealed for.
    pub credentials: Option<&'a str>,
    pub aad: String,
    /// `mirror` or `push mirror`, for the errors.
    pub what: &'a str,
}

/// The dataset of a sync or a push, acting as the account that set it up (while that account
/// may still administer it: the actor of the events its ref moves make), and its remote,
/// checked and resolved, with the credentials opened.
pub(super) async fn reach(core: &Core, s: Setup<'_>) -> Result<(crate::db::Repo, remote::Remote)> {
    let what = s.what;
    let repo = core
        .db
        .repo_by_id(s.repo_id)
        .await?
        .ok_or_else(|| Error::not_found("the dataset is gone"))?;
    let Some(user) = core.db.user_by_id(s.created_by).await? else {
        return Err(Error::forbidden(format!(
            "the account that set this {what} up is gone"
        )));
    };
    let who = Principal::User {
        user,
        scopes: crate::auth::scope::Scopes::parse("*").map_err(Error::internal)?,
        family: None,
    };
    gate::dataset(core, &who, &repo.namespace, &repo.name, Action::Admin)
        .await
        .map_err(|e| {
            Error::forbidden(format!(
                "the account that set this {what} up may no longer administer it: {}",
                e.message
            ))
        })?;
    crate::context::set_actor(&who.display_name());
    let auth = match s.credentials {
        Some(sealed_value) => Some(sealed::open(&core.jwt, &s.aad, sealed_value).ok_or_else(|| {
            Error::conflict(format!(
                "the {what}'s credentials cannot be opened (the server's key changed): set them again"
            ))
        })?),
        None => None,
    };
    let remote = remote::Remote::new(s.url, s.lfs_url, auth, core.settings.mirrors).await?;
    Ok((repo, remote))
}

fn aad(repo_id: i64, what: &str) -> String {
    format!("mirror:{repo_id}:{what}")
}

/// Makes `{ns}/{name}` follow the remote `input` names, or changes what it follows (its
/// admins'). Its branches and tags become the remote's at the first sync, which is due at once.
/// Answers the mirror and, when it is new, the secret the remote's webhook signs with (shown
/// this once).
pub async fn put(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
    input: Input,
) -> Result<(Mirror, Option<String>)> {
    let repo = gate::dataset(core, who, ns, name, Action::Admin).await?;
    let Principal::User { user, .. } = who else {
        return Err(Error::forbidden(
            "mirrors are set up with a personal access token",
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
    let interval = input.interval_secs.unwrap_or(DEFAULT_INTERVAL);
    let least = core.settings.mirror_min_interval.as_secs();
    if interval < least || interval > 365 * 86400 {
        return Err(Error::unprocessable(format!(
            "interval_secs: from {least} to {} seconds",
            365 * 86400
        )));
    }
    let header = remote::authorization(
        input.token.as_deref(),
        input.username.as_deref(),
        input.password.as_deref(),
    )?;
    let existing = core.db.mirror_of(repo.id).await?;
    if let Some(s) = &input.hook_secret {
        if s.len() < 16 || s.len() > 256 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::unprocessable(
                "hook_secret: 16 to 256 characters, no spaces (a webhook's whsec_… secret)",
            ));
        }
    }
    // Shown once: a secret made here for a new mirror; one given is the caller's already.
    let made =
        (input.hook_secret.is_none() && existing.is_none()).then(crate::delivery::new_secret);
    let hook_secret = match (input.hook_secret.as_ref().or(made.as_ref()), &existing) {
        (Some(s), _) => sealed::seal(&core.jwt, &aad(repo.id, "hook"), s),
        (None, Some(row)) => row.hook_secret.clone(),
        (None, None) => unreachable!("a new mirror without a given secret gets one made"),
    };
    let set = MirrorSet {
        url: input.url,
        lfs_url: input.lfs_url,
        credentials: header.map(|h| sealed::seal(&core.jwt, &aad(repo.id, "credentials"), &h)),
        hook_secret,
        created_by: user.id,
        interval_secs: interval as i64,
        paused: input.paused,
    };
    let row = core.db.mirror_put(repo.id, &set).await?;
    core.mirrors.wake.notify_one();
    crate::audit::record(
        core,
        if existing.is_some() {
            "mirror.changed"
        } else {
            "mirror.created"
        },
        Some(&who.display_name()),
        Some(&repo.path()),
        json!({"url": row.url}),
    )
    .await?;
    let repo = core
        .db
        .repo_by_id(repo.id)
        .await?
        .ok_or_else(|| Error::not_found("gone"))?;
    Ok((view(&repo, &row), made))
}

/// The mirror `repo` (gated already) is, if it is one: what its pages show.
pub async fn of(core: &Core, repo: &crate::datasets::gate::Gated) -> Result<Option<Mirror>> {
    if repo.mirror == 0 {
        return Ok(None); // no query on the pages of the datasets that are none
    }
    Ok(core
        .db
        .mirror_of(repo.id)
        .await?
        .map(|row| view(repo, &row)))
}

/// The mirror `{ns}/{name}` is (its readers'): 404 when it is none.
pub async fn get(core: &Core, who: &Principal, (ns, name): (&str, &str)) -> Result<Mirror> {
    let repo = gate::dataset(core, who, ns, name, Action::Read).await?;
    let row = core
        .db
        .mirror_of(repo.id)
        .await?
        .ok_or_else(|| Error::not_found(format!("{} is not a mirror", repo.path())))?;
    Ok(view(&repo, &row))
}

/// Stops `{ns}/{name}` mirroring (its admins'): it keeps what it has and is writable again.
pub async fn delete(core: &Core, who: &Principal, (ns, name): (&str, &str)) -> Result<()> {
    let repo = gate::dataset(core, who, ns, name, Action::Admin).await?;
    if !core.db.mirror_delete(repo.id).await? {
        return Err(Error::not_found(format!("{} is not a mirror", repo.path())));
    }
    crate::audit::record(
        core,
        "mirror.deleted",
        Some(&who.display_name()),
        Some(&repo.path()),
        json!({}),
    )
    .await
}

/// Asks for a sync of `{ns}/{name}` now (its admins'), after the running one if one is.
pub async fn sync_now(core: &Core, who: &Principal, (ns, name): (&str, &str)) -> Result<Mirror> {
    let repo = gate::dataset(core, who, ns, name, Action::Admin).await?;
    if !core.db.mirror_trigger(repo.id).await? {
        return Err(Error::not_found(format!("{} is not a mirror", repo.path())));
    }
    core.mirrors.wake.notify_one();
    get(core, who, (ns, name)).await
}

/// The headers of a Standard Webhooks delivery.
#[derive(Debug, Clone, Default)]
pub struct Signed<'a> {
    pub id: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
}

/// A remote's webhook saying it changed: a sync of `{ns}/{name}` now, when the delivery is
/// signed with the mirror's hook secret and no more than five minutes old. Anything else, a
/// dataset that does not exist or is no mirror included, is the same 401.
pub async fn hook(
    core: &Core,
    (ns, name): (&str, &str),
    signed: Signed<'_>,
    body: &str,
) -> Result<()> {
    let refused = || Error::unauthorized("the delivery's signature does not verify");
    let Some(repo) = core.db.repo_by_path(ns, name).await? else {
        return Err(refused());
    };
    let Some(row) = core.db.mirror_of(repo.id).await? else {
        return Err(refused());
    };
    let Some(secret) = sealed::open(&core.jwt, &aad(repo.id, "hook"), &row.hook_secret) else {
        return Err(refused());
    };
    let timestamp: i64 = signed.timestamp.parse().map_err(|_| refused())?;
    if (crate::db::now() - timestamp).abs() > 300 || signed.id.is_empty() {
        return Err(refused());
    }
    let wanted = crate::delivery::sign(&secret, signed.id, timestamp, body);
    let good = signed
        .signature
        .split(' ')
        .any(|s| constant_time_eq(s.as_bytes(), wanted.as_bytes()));
    if !good {
        return Err(refused());
    }
    core.db.mirror_trigger(repo.id).await?;
    core.mirrors.wake.notify_one();
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How many mirrors are in each state, and for how long the one furthest behind has been.
pub async fn figures(core: &Core) -> Result<(Vec<(String, i64)>, i64)> {
    let (states, behind) = core.db.mirror_figures().await?;
    let lag = behind.map_or(0, |t| (crate::db::now() - t).max(0));
    Ok((states, lag))
}
