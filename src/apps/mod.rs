//! Apps, the domain side: the catalog (manifests from `--apps-dir`, and the ones admins and
//! engineers add through the API), installs per user with the scopes they consented to, who may
//! use an instance (its owner and the people the owner shares it with), and the instances
//! themselves ([`launch`]: started on the first request, idle ones stopped, tokens renewed).
//! The HTTP side is `crate::http::api::apps` (REST), `crate::http::pages::apps` (pages) and
//! `crate::http::proxy` (`/apps/{user}/{app}/…`).

pub mod launch;
mod open;
pub mod ticket;

pub use open::{open_with, openers};

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use strata_apps::{Manifest, Supervisor};

use crate::auth::{Role, Scopes};
use crate::config::Config;
use crate::db::{InstallRow, User};
use crate::error::{Error, Result};
use crate::state::AppState;

/// Where apps are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Not at all: the admin chose neither `--apps-origin` nor `--apps-same-origin`.
    Off,
    /// Under `/apps/` of strata's own origin (`--apps-same-origin`).
    Same,
    /// On another origin pointing at this server (`--apps-origin`), without strata's session.
    /// With `*` as its first host label, each instance gets its own origin (`{label}.…`, see
    /// [`instance_label`]).
    Separate(url::Url),
}

/// Who may use which instance, as decided a moment ago: (visitor, owner, install, manifest).
pub type Pass = (User, User, InstallRow, Manifest);

/// The proxy's decisions for a second, by credential and instance: a page of a notebook loads
/// dozens of files, and each would otherwise cost a few queries. Any change to installs,
/// shares or the catalog on this replica clears it; on other replicas it lasts that second.
#[derive(Default)]
pub struct Passes {
    map: std::sync::Mutex<std::collections::HashMap<[u8; 32], (std::time::Instant, u64, Pass)>>,
    /// Moves on every change: a decision made before it is never reused after it.
    generation: std::sync::atomic::AtomicU64,
}

/// How long a decision is reused.
const PASS_TTL: Duration = Duration::from_secs(1);

impl Passes {
    fn key(credential: &str, owner: &str, app: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(format!("{credential}\n{owner}\n{app}")).into()
    }

    /// The generation to pass to [`Passes::put`]: read it before deciding.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn get(&self, credential: &str, owner: &str, app: &str) -> Option<Pass> {
        let now = self.generation();
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&Self::key(credential, owner, app))
            .filter(|(at, generation, _)| at.elapsed() < PASS_TTL && *generation == now)
            .map(|(_, _, p)| p.clone())
    }

    /// Keeps a decision made while `generation` was current.
    pub fn put(&self, credential: &str, owner: &str, app: &str, generation: u64, pass: Pass) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= 10_000 {
            map.retain(|_, (at, _, _)| at.elapsed() < PASS_TTL);
        }
        map.insert(
            Self::key(credential, owner, app),
            (std::time::Instant::now(), generation, pass),
        );
    }

    /// Forgets every decision (installs, shares or the catalog changed).
    pub fn clear(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The apps of a server: the catalog's files, the instances, and the settings.
pub struct Apps {
    dir: Vec<Manifest>,
    /// The proxy's recent decisions.
    pub passes: Passes,
    pub supervisor: Supervisor,
    pub origin: Origin,
    /// Instances' working directories (`{user}/{app}`).
    pub root: PathBuf,
    /// Their token files (`{user}/{app}/token`), apart from every working directory.
    pub tokens: PathBuf,
    /// Each process instance's address space, in bytes.
    pub memory: Option<u64>,
    pub token_ttl: Duration,
    pub cull_every: Duration,
    /// The Kubernetes runner's cluster, connected on first use.
    kube: tokio::sync::OnceCell<strata_apps::kube::Cluster>,
    kube_url: Option<String>,
    kube_namespace: String,
    kube_proxy_labels: String,
}

/// A catalog entry: the manifest, and whether it came from `--apps-dir` (then the API cannot
/// change or remove it).
#[derive(Debug, Clone)]
pub struct Entry {
    pub manifest: Manifest,
    pub from_dir: bool,
}

impl Apps {
    /// The apps of `config`: reads and checks every manifest of `--apps-dir`.
    pub fn load(config: &Config) -> std::result::Result<Apps, String> {
        let origin = match (&config.apps_origin, config.apps_same_origin) {
            (Some(_), true) => {
                return Err("--apps-origin and --apps-same-origin exclude each other".into())
            }
            (Some(o), false) => {
                let url = url::Url::parse(o).map_err(|e| format!("--apps-origin {o:?}: {e}"))?;
                let host = url.host_str().unwrap_or_default();
                let wildcard_ok = !host.contains('*')
                    || (host.starts_with("*.") && host.len() > 2 && !host[2..].contains('*'));
                if !matches!(url.scheme(), "http" | "https")
                    || url.host_str().is_none()
                    || !wildcard_ok
                    || url.path() != "/"
                    || url.query().is_some()
                {
                    return Err(format!(
                        "--apps-origin {o:?} must be an origin such as https://apps.example.org, or https://*.apps.example.org for an origin per instance"
                    ));
                }
                let public = url::Url::parse(&config.public_url()).ok();
                if public.is_some_and(|p| p.origin() == url.origin()) {
                    return Err(format!(
                        "--apps-origin {o:?} is strata's own origin: use --apps-same-origin to mean that"
                    ));
                }
                Origin::Separate(url)
            }
            (None, true) => Origin::Same,
            (None, false) => Origin::Off,
        };
        let dir = match &config.apps_dir {
            Some(dir) => read_dir(dir)?,
            None => Vec::new(),
        };
        Ok(Apps {
            dir,
            passes: Passes::default(),
            supervisor: Supervisor::new(config.apps_max_instances),
            origin,
            root: config.data_dir.join("apps"),
            tokens: config.data_dir.join("app-tokens"),
            memory: (config.apps_memory_mb > 0).then_some(config.apps_memory_mb << 20),
            token_ttl: Duration::from_secs(config.apps_token_ttl_secs.clamp(60, 86_400)),
            cull_every: Duration::from_secs(config.apps_cull_secs.clamp(1, 3600)),
            kube: tokio::sync::OnceCell::new(),
            kube_url: config.apps_kube_url.clone(),
            kube_namespace: config.apps_kube_namespace.clone(),
            kube_proxy_labels: config.apps_kube_proxy_labels.clone(),
        })
    }

    /// The cluster of the Kubernetes runner (connected on first use).
    pub async fn cluster(&self) -> Result<&strata_apps::kube::Cluster> {
        self.kube
            .get_or_try_init(|| {
                strata_apps::kube::Cluster::connect(
                    self.kube_url.as_deref(),
                    &self.kube_namespace,
                    &self.kube_proxy_labels,
                )
            })
            .await
            .map_err(|e| Error::new(crate::error::Kind::Upstream, e))
    }

    /// Whether any app of the catalog might run on Kubernetes (the cluster is asked only then).
    pub fn kube_configured(&self) -> bool {
        self.kube_url.is_some() || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
    }

    /// How many instances this replica has in each state (for `strata_app_instances`).
    pub fn counts(&self) -> [(&'static str, usize); 4] {
        let mut counts = [
            ("starting", 0),
            ("running", 0),
            ("paused", 0),
            ("failed", 0),
        ];
        for i in self.supervisor.list() {
            let (state, _) = state_of(Some(&i));
            if let Some(c) = counts.iter_mut().find(|(s, _)| *s == state) {
                c.1 += 1;
            }
        }
        counts
    }

    /// The state of `user`'s `app` on this replica, as pages and the API name it, with the
    /// error of a failed start.
    pub fn state(&self, user: &str, app: &str) -> (&'static str, Option<String>) {
        let listed = self.supervisor.list();
        state_of(listed.iter().find(|i| i.user == user && i.app == app))
    }

    /// The origin `user`'s `app` is served from, as a URL prefix without a trailing `/`.
    pub fn origin_of(&self, public_url: &str, user: &str, app: &str) -> Option<String> {
        match &self.origin {
            Origin::Off => None,
            Origin::Same => Some(public_url.to_owned()),
            Origin::Separate(url) => {
                let origin = url.origin().ascii_serialization();
                Some(if self.per_instance() {
                    origin.replacen('*', &instance_label(user, app), 1)
                } else {
                    origin
                })
            }
        }
    }

    /// Whether each instance has an origin of its own (`--apps-origin https://*.…`).
    pub fn per_instance(&self) -> bool {
        matches!(&self.origin, Origin::Separate(url) if url.host_str().is_some_and(|h| h.starts_with("*.")))
    }

    /// Whether apps are served at all.
    pub fn served(&self) -> bool {
        self.origin != Origin::Off
    }
}

/// The host label of `user`'s `app` under a wildcard `--apps-origin`: a DNS label no other
/// (user, app) gets.
pub fn instance_label(user: &str, app: &str) -> String {
    strata_apps::kube::object_name(user, app)
}

/// `stopped`, `starting`, `running`, `paused` or `failed` (with the error).
fn state_of(i: Option<&strata_apps::lifecycle::Listed>) -> (&'static str, Option<String>) {
    use strata_apps::Status;
    match i.map(|i| (&i.status, i.paused)) {
        None => ("stopped", None),
        Some((Status::Starting, _)) => ("starting", None),
        Some((Status::Ready { .. }, true)) => ("paused", None),
        Some((Status::Ready { .. }, false)) => ("running", None),
        Some((Status::Failed { error, .. }, _)) => ("failed", Some(error.clone())),
    }
}

/// The manifests of a directory, checked; a bad one stops the start with its file's name.
fn read_dir(dir: &Path) -> std::result::Result<Vec<Manifest>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("--apps-dir {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut out: Vec<Manifest> = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let m = parse(&text).map_err(|e| format!("{}: {}", path.display(), e.message))?;
        if out.iter().any(|o| o.id == m.id) {
            return Err(format!("{}: app id {:?} is taken", path.display(), m.id));
        }
        out.push(m);
    }
    Ok(out)
}

/// Parses a manifest and checks its scopes against strata's grammar.
pub fn parse(text: &str) -> Result<Manifest> {
    let m = Manifest::parse(text).map_err(|e| Error::unprocessable(e.to_string()))?;
    for s in &m.scopes {
        crate::auth::scope::Scope::parse(s)
            .map_err(|e| Error::unprocessable(format!("app manifest: scopes: {e}")))?;
        // kind:target[:meta][:actions]: the actions, when given, are the last part.
        let parts: Vec<&str> = s.split(':').collect();
        let last = parts[parts.len() - 1];
        let actions = if parts.len() >= 3 && last != "meta" {
            last
        } else {
            ""
        };
        if s == "*" || actions.split(',').any(|a| a == "admin" || a == "*") {
            return Err(Error::unprocessable(format!(
                "app manifest: scopes: an app may not ask for {s:?}: it would act with all of the user's rights"
            )));
        }
    }
    Ok(m)
}

/// The whole catalog: `--apps-dir` first, then the API's, by id.
pub async fn catalog(state: &AppState) -> Result<Vec<Entry>> {
    let mut out: Vec<Entry> = state
        .apps
        .dir
        .iter()
        .map(|m| Entry {
            manifest: m.clone(),
            from_dir: true,
        })
        .collect();
    for (id, text) in state.db.app_manifests().await? {
        match parse(&text) {
            Ok(manifest) if !out.iter().any(|e| e.manifest.id == id) => out.push(Entry {
                manifest,
                from_dir: false,
            }),
            Ok(_) => {} // an --apps-dir manifest of the same id wins
            Err(e) => {
                tracing::warn!(app = %id, error = %e.message, "a stored app manifest no longer parses")
            }
        }
    }
    out.sort_by(|a, b| a.manifest.id.cmp(&b.manifest.id));
    Ok(out)
}

/// One catalog entry, or 404.
pub async fn entry(state: &AppState, id: &str) -> Result<Entry> {
    if let Some(m) = state.apps.dir.iter().find(|m| m.id == id) {
        return Ok(Entry {
            manifest: m.clone(),
            from_dir: true,
        });
    }
    let text = state
        .db
        .app_manifest(id)
        .await?
        .ok_or_else(|| Error::not_found(format!("no app {id:?} in the catalog")))?;
    Ok(Entry {
        manifest: parse(&text)?,
        from_dir: false,
    })
}

async fn audit(
    state: &AppState,
    event: &str,
    actor: &User,
    subject: &str,
    detail: serde_json::Value,
) -> Result<()> {
    crate::orgs::audit(state, event, actor, subject, detail).await
}

fn may_manage(user: &User) -> Result<()> {
    if Role::of(user).can_manage_apps() {
        Ok(())
    } else {
        Err(Error::forbidden(
            "only admins and engineers may add or remove apps",
        ))
    }
}

/// Adds (or replaces) an app of the catalog from its TOML manifest.
pub async fn add(state: &AppState, user: &User, text: &str) -> Result<Manifest> {
    may_manage(user)?;
    if text.len() > 64 * 1024 {
        return Err(Error::too_large("an app manifest is at most 64 KiB"));
    }
    let m = parse(text)?;
    if state.apps.dir.iter().any(|d| d.id == m.id) {
        return Err(Error::conflict(format!(
            "app {:?} comes from the server's --apps-dir: change it there",
            m.id
        )));
    }
    state.db.put_app_manifest(&m.id, text, user.id).await?;
    state.apps.passes.clear();
    audit(
        state,
        "app.add",
        user,
        &m.id,
        json!({ "version": m.version, "scopes": m.scopes }),
    )
    .await?;
    Ok(m)
}

/// Removes an API-managed app: its installs go, and its instances on this replica stop.
pub async fn remove(state: &AppState, user: &User, id: &str) -> Result<()> {
    may_manage(user)?;
    if state.apps.dir.iter().any(|d| d.id == id) {
        return Err(Error::conflict(format!(
            "app {id:?} comes from the server's --apps-dir: remove it there"
        )));
    }
    if !state.db.delete_app_manifest(id).await? {
        return Err(Error::not_found(format!("no app {id:?} in the catalog")));
    }
    state.apps.passes.clear();
    for i in state.apps.supervisor.list() {
        if i.app == id {
            state.apps.supervisor.stop(&i.user, &i.app).await;
        }
    }
    audit(state, "app.remove", user, id, json!({})).await
}

/// Installs `id` for `user`, who consented to exactly `consented` (the app's scopes).
pub async fn install(
    state: &AppState,
    user: &User,
    id: &str,
    consented: &[String],
) -> Result<InstallRow> {
    let entry = entry(state, id).await?;
    let mut asked = entry.manifest.scopes.clone();
    let mut given = consented.to_vec();
    asked.sort();
    given.sort();
    if asked != given {
        return Err(Error::unprocessable(format!(
            "installing {id} needs consent to exactly the scopes it asks for: [{}]",
            entry.manifest.scopes.join(", ")
        ))
        .with_extra(json!({ "scopes": entry.manifest.scopes })));
    }
    let scopes = entry.manifest.scopes.join(" ");
    Scopes::parse(&scopes).map_err(|e| Error::unprocessable(e.to_string()))?;
    let family = format!("app:{}", uuid::Uuid::new_v4());
    state.db.install_app(user.id, id, &scopes, &family).await?;
    state.apps.passes.clear();
    audit(
        state,
        "app.install",
        user,
        id,
        json!({ "scopes": entry.manifest.scopes }),
    )
    .await?;
    let row = state
        .db
        .app_install(user.id, id)
        .await?
        .ok_or_else(|| Error::internal("an install vanished"))?;
    // Installed again while it runs: its token follows the new consent (and family) at once.
    let running = state.apps.supervisor.status(&user.username, id);
    if matches!(running, Some(strata_apps::Status::Ready { .. })) {
        launch::renew(state, user, &row).await?;
    }
    Ok(row)
}

/// Uninstalls `id` for `user`: its tokens stop working and its instance stops.
pub async fn uninstall(state: &AppState, user: &User, id: &str) -> Result<()> {
    if !state.db.uninstall_app(user.id, id).await? {
        return Err(Error::not_found(format!("you have not installed {id:?}")));
    }
    state.apps.passes.clear();
    state.apps.supervisor.stop(&user.username, id).await;
    let kube = entry(state, id)
        .await
        .is_ok_and(|e| matches!(e.manifest.runner, strata_apps::Runner::Kubernetes { .. }));
    if kube {
        // The install is gone either way; objects left behind are removed by the culler.
        let name = strata_apps::kube::object_name(&user.username, id);
        let removed = match state.apps.cluster().await {
            Ok(cluster) => cluster.remove(&name).await,
            Err(e) => Err(e.message),
        };
        if let Err(e) = removed {
            tracing::warn!(user = %user.username, app = %id, error = %e, "the app's Kubernetes objects stay until the culler removes them");
        }
    }
    audit(state, "app.uninstall", user, id, json!({})).await
}

/// What a visitor may use: `owner`'s install of `app`, with the manifest, if the visitor is the
/// owner or someone the owner shares it with.
pub async fn usable(
    state: &AppState,
    visitor: &User,
    owner: &str,
    app: &str,
) -> Result<(User, InstallRow, Manifest)> {
    let nobody = || Error::not_found(format!("{owner} has no app {app:?} installed"));
    let owner = state.db.user_by_name(owner).await?.ok_or_else(nobody)?;
    let install = state
        .db
        .app_install(owner.id, app)
        .await?
        .ok_or_else(nobody)?;
    if visitor.id != owner.id && !state.db.app_shared_with(owner.id, app, visitor.id).await? {
        return Err(Error::forbidden(format!(
            "only {} and the people they share it with may use {}'s {app}",
            owner.username, owner.username
        )));
    }
    let manifest = entry(state, app).await?.manifest;
    Ok((owner, install, manifest))
}

/// Shares (or, with `on` false, stops sharing) `user`'s instance of `app` with `grantee`.
pub async fn share(
    state: &AppState,
    user: &User,
    app: &str,
    grantee: &str,
    on: bool,
) -> Result<()> {
    if state.db.app_install(user.id, app).await?.is_none() {
        return Err(Error::not_found(format!("you have not installed {app:?}")));
    }
    let other = state
        .db
        .user_by_name(grantee)
        .await?
        .ok_or_else(|| Error::not_found(format!("no user {grantee:?}")))?;
    if other.id == user.id {
        return Err(Error::unprocessable(
            "an app is always yours to use: share it with someone else",
        ));
    }
    if on {
        state.db.share_app(user.id, app, other.id).await?;
    } else if !state.db.unshare_app(user.id, app, other.id).await? {
        return Err(Error::not_found(format!(
            "{app} is not shared with {grantee}"
        )));
    }
    state.apps.passes.clear();
    let event = if on { "app.share" } else { "app.unshare" };
    audit(state, event, user, app, json!({ "with": other.username })).await
}
