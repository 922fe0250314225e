//! Apps, the domain side: the catalog ([`catalog`]: manifests from `--apps-dir`, and the ones
//! admins and engineers add through the API), installs per user with the scopes they consented
//! to (suspended when the app changes what it runs or may do, until they consent again), who may
//! use an instance (its owner and the people the owner shares it with), and the instances
//! themselves ([`launch`]: started on the first request, idle ones stopped, tokens renewed).
//! The HTTP side is `crate::http::api::apps` (REST), `crate::http::pages::apps` (pages) and
//! `crate::http::proxy` (`/apps/{user}/{app}/…`).

pub(crate) mod catalog;
pub mod enter;
pub mod installed;
pub mod launch;
pub mod offers;
mod open;
pub mod sandbox;
pub mod shared;
pub mod ticket;

pub use catalog::{add, catalog, entry, parse, remove, Added};
pub use open::{open_with, openers};

pub use crate::manifests::Entry;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use strata_apps::{Changes, Manifest, Supervisor};

use crate::auth::Scopes;
use crate::config::Config;
use crate::db::{InstallRow, User};
use crate::error::{Error, Result};
use crate::Core;

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

/// Who may use which instance, as decided a moment ago.
#[derive(Debug, Clone)]
pub struct Pass {
    /// Who asks: `None` for an anonymous visitor of a public shared instance.
    pub visitor: Option<User>,
    /// The name the instance is kept under (its path's owner): a user, or the organisation of a
    /// shared instance.
    pub owner: String,
    /// Whose token the instance acts with: the owner, or a shared instance's publisher.
    pub runs_as: User,
    /// `runs_as`'s install of the app.
    pub install: InstallRow,
    pub manifest: Manifest,
    /// A shared instance (served at its app's own host).
    pub shared: bool,
}

impl Pass {
    /// Whether the visitor may see the instance's log (on its starting and failure pages): a
    /// shared instance's is its publisher's only.
    pub fn shows_log(&self) -> bool {
        !self.shared || self.visitor.as_ref().map(|v| v.id) == Some(self.runs_as.id)
    }
}

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
    pub(crate) dir: Vec<Manifest>,
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
    /// What each process instance is kept from.
    pub sandbox: sandbox::Policy,
    pub token_ttl: Duration,
    pub cull_every: Duration,
    /// Kubernetes images may be named by tag (`--apps-allow-image-tags`).
    pub allow_image_tags: bool,
    /// The sha256 of the executable each process instance was started from, by (user, app).
    pub digests: std::sync::Mutex<std::collections::HashMap<(String, String), String>>,
    /// The Kubernetes runner's cluster, connected on first use.
    kube: tokio::sync::OnceCell<strata_apps::kube::Cluster>,
    kube_url: Option<String>,
    kube_namespace: String,
    kube_proxy_labels: String,
    kube_storage_class: Option<String>,
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
                let apps_host = host.strip_prefix("*.").unwrap_or(host).to_ascii_lowercase();
                let under = public
                    .as_ref()
                    .and_then(|p| p.host_str())
                    .is_some_and(|h| h.to_ascii_lowercase().ends_with(&format!(".{apps_host}")));
                if under {
                    return Err(format!(
                        "--apps-origin {o:?}: strata's own host is under it, where apps would be served: give apps a host of their own"
                    ));
                }
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
            Some(dir) => catalog::read_dir(dir, config.apps_allow_image_tags)?,
            None => Vec::new(),
        };
        let sandbox = sandbox::Policy::load(config);
        match &sandbox {
            sandbox::Policy::Unavailable(why) if origin != Origin::Off => {
                tracing::error!("process apps will not start: {why}")
            }
            sandbox::Policy::Off if origin != Origin::Off => tracing::warn!(
                "--apps-process-sandbox off: process apps run unconfined, as strata's own user"
            ),
            _ => {}
        }
        Ok(Apps {
            dir,
            passes: Passes::default(),
            supervisor: Supervisor::new(config.apps_max_instances),
            origin,
            root: config.data_dir.join("apps"),
            tokens: config.data_dir.join("app-tokens"),
            memory: (config.apps_memory_mb > 0).then_some(config.apps_memory_mb << 20),
            sandbox,
            token_ttl: Duration::from_secs(config.apps_token_ttl_secs.clamp(60, 86_400)),
            cull_every: Duration::from_secs(config.apps_cull_secs.clamp(1, 3600)),
            allow_image_tags: config.apps_allow_image_tags,
            digests: Default::default(),
            kube: tokio::sync::OnceCell::new(),
            kube_url: config.apps_kube_url.clone(),
            kube_namespace: config.apps_kube_namespace.clone(),
            kube_proxy_labels: config.apps_kube_proxy_labels.clone(),
            kube_storage_class: config
                .apps_kube_storage_class
                .clone()
                .filter(|c| !c.trim().is_empty()),
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
                    self.kube_storage_class.as_deref(),
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
            let (core, _) = state_of(Some(&i));
            if let Some(c) = counts.iter_mut().find(|(s, _)| *s == core) {
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

async fn audit(
    core: &Core,
    event: &str,
    actor: &User,
    subject: &str,
    detail: serde_json::Value,
) -> Result<()> {
    crate::audit::by(core, event, actor, subject, detail).await
}

/// Installs `id` for `user`, who consented to exactly `consented` (the app's scopes); installing
/// again renews the consent of an install that waits for it.
pub async fn install(
    core: &Core,
    user: &User,
    id: &str,
    consented: &[String],
) -> Result<InstallRow> {
    let consented_to = entry(core, id).await?;
    if !consented_to.manifest.roles.may_install(&user.roles()) {
        return Err(Error::forbidden(format!(
            "your role ({}) may not install {id}: the roles that may are {}",
            user.roles().join(", "),
            consented_to.manifest.roles.install.join(", ")
        )));
    }
    let mut asked = consented_to.manifest.scopes.clone();
    let mut given = consented.to_vec();
    asked.sort();
    given.sort();
    if asked != given {
        return Err(Error::unprocessable(format!(
            "installing {id} needs consent to exactly the scopes it asks for: [{}]",
            consented_to.manifest.scopes.join(", ")
        ))
        .with_extra(json!({ "scopes": consented_to.manifest.scopes })));
    }
    let scopes = consented_to.manifest.scopes.join(" ");
    Scopes::parse(&scopes).map_err(|e| Error::unprocessable(e.to_string()))?;
    let family = format!("app:{}", uuid::Uuid::new_v4());
    let renewed = core
        .db
        .app_install(user.id, id)
        .await?
        .is_some_and(|r| r.suspended_at.is_some());
    core.db.install_app(user.id, id, &scopes, &family).await?;
    // The manifest may have changed between what was consented to and the write above: a change
    // suspends installs after it is written, so either it suspended this one, or it is seen here.
    let now = entry(core, id).await?;
    if Changes::between(&consented_to.manifest, &now.manifest).need_consent() {
        core.db.suspend_app_install(user.id, id).await?;
        core.apps.passes.clear();
        return Err(Error::conflict(format!(
            "{id} changed while you consented to it: look at it again"
        )));
    }
    core.apps.passes.clear();
    audit(
        core,
        "app.install",
        user,
        id,
        json!({ "scopes": consented_to.manifest.scopes, "renewed_consent": renewed }),
    )
    .await?;
    let row = core
        .db
        .app_install(user.id, id)
        .await?
        .ok_or_else(|| Error::internal("an install vanished"))?;
    // Installed again while it runs: its token follows the new consent (and family) at once.
    // The instances it runs (theirs, and what they published) follow the new consent at once.
    let mut owners = vec![user.username.clone()];
    owners.extend(shared::published_by(core, user, id).await?.map(|s| s.org));
    for owner in owners {
        let running = core.apps.supervisor.status(&owner, id);
        if matches!(running, Some(strata_apps::Status::Ready { .. })) {
            launch::renew(core, &owner, user, &row).await?;
        }
    }
    Ok(row)
}

/// Whether an install waits for its owner's renewed consent (its manifest changed what runs or
/// what it may do since they consented).
pub fn awaits_consent(install: &InstallRow) -> bool {
    install.suspended_at.is_some()
}

/// Why `owner`'s install of `app` cannot be used now, for whoever asks.
pub fn consent_error(owner: &str, app: &str) -> Error {
    Error::conflict(format!(
        "{app} changed since {owner} consented to it: it waits for {owner} to consent again \
         (the app's page in the catalog, or PUT /api/v1/user/apps/{app})"
    ))
}

/// Uninstalls `id` for `user`: its tokens stop working and its instance stops.
pub async fn uninstall(core: &Core, user: &User, id: &str) -> Result<()> {
    if !core.db.uninstall_app(user.id, id).await? {
        return Err(Error::not_found(format!("you have not installed {id:?}")));
    }
    core.apps.passes.clear();
    remove_instance(core, &user.username, id).await;
    shared::unpublish_all(core, user, id).await?;
    audit(core, "app.uninstall", user, id, json!({})).await
}

/// Stops the instance kept under `owner` (a user, or a shared instance's organisation) of `id`
/// and removes what it kept: its Kubernetes objects, or its working directory and token file.
pub(crate) async fn remove_instance(core: &Core, owner: &str, id: &str) {
    core.apps.supervisor.stop(owner, id).await;
    let kube = entry(core, id)
        .await
        .is_ok_and(|e| matches!(e.manifest.runner, strata_apps::Runner::Kubernetes { .. }));
    if kube {
        // The install is gone either way; objects left behind are removed by the culler.
        let name = strata_apps::kube::object_name(owner, id);
        let removed = match core.apps.cluster().await {
            Ok(cluster) => cluster.remove(&name).await,
            Err(e) => Err(e.message),
        };
        if let Err(e) = removed {
            tracing::warn!(%owner, app = %id, error = %e, "the app's Kubernetes objects stay until the culler removes them");
        }
    } else {
        for dir in [&core.apps.root, &core.apps.tokens] {
            let at = dir.join(owner).join(id);
            if let Err(e) = tokio::fs::remove_dir_all(&at).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %at.display(), error = %e, "an ended app instance's files stay");
                }
            }
        }
    }
}

/// Shares (or, with `on` false, stops sharing) `user`'s instance of `app` with `grantee`.
pub async fn share(core: &Core, user: &User, app: &str, grantee: &str, on: bool) -> Result<()> {
    if core.db.app_install(user.id, app).await?.is_none() {
        return Err(Error::not_found(format!("you have not installed {app:?}")));
    }
    let other = core
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
        core.db.share_app(user.id, app, other.id).await?;
    } else if !core.db.unshare_app(user.id, app, other.id).await? {
        return Err(Error::not_found(format!(
            "{app} is not shared with {grantee}"
        )));
    }
    core.apps.passes.clear();
    let event = if on { "app.share" } else { "app.unshare" };
    audit(core, event, user, app, json!({ "with": other.username })).await
}

/// The roles `user` has in the app whose manifest names `client_id` as its OAuth client
/// (`[roles] client`), as the manifest maps their platform roles; `None` when no manifest names it.
pub async fn roles_for_client(
    core: &Core,
    client_id: &str,
    user: &User,
) -> Result<Option<Vec<String>>> {
    let naming: Vec<strata_apps::Manifest> = catalog::catalog(core)
        .await?
        .into_iter()
        .map(|e| e.manifest)
        .filter(|m| m.roles.client.as_deref() == Some(client_id))
        .collect();
    // One app names a client at most (`catalog::add`); two (an --apps-dir manifest beside an
    // API one) say nothing rather than pick.
    Ok(match naming.as_slice() {
        [m] => Some(m.roles.of(&user.roles())),
        _ => None,
    })
}
