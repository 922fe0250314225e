//! Instances: what a start runs (the manifest's command with its placeholders filled, a clean
//! environment holding the base URL, the port, strata's API URL and the path of a token file),
//! the token itself (an access token of the owner narrowed to the scopes they consented to,
//! short-lived, carrying the install's family so that an uninstall revokes it, rewritten while
//! the instance runs), and the background work: idle instances culled, tokens renewed. On
//! Kubernetes the start scales a Deployment up (`strata_apps::kube`), the token goes into a
//! Secret, and the culling goes by the traffic every replica recorded, one replica at a time.

use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use strata_apps::lifecycle::{LogSlot, Started};
use strata_apps::manifest::expand;
use strata_apps::process::{free_port, wait_healthy, Instance, Launch};
use strata_apps::{Manifest, Prefix, Runner, Status};
use tokio::sync::watch;

pub use crate::apps::shared::base_path;
use crate::db::{InstallRow, User};
use crate::error::{Error, Result};
use crate::Core;

/// Log lines kept per instance.
const LOG_LINES: usize = 500;

/// The status of the instance of `m` kept under `owner` (a user, or a shared instance's
/// organisation), acting as `runs_as`, starting it unless it runs or is starting.
pub async fn ensure(
    core: &Arc<Core>,
    owner: &str,
    runs_as: &User,
    install: &InstallRow,
    m: &Manifest,
) -> Result<watch::Receiver<Status>> {
    if crate::apps::awaits_consent(install) {
        return Err(crate::apps::consent_error(&runs_as.username, &m.id));
    }
    let idle = Duration::from_secs(m.idle_timeout_secs);
    // Worked out only when a start is due (a port, a fresh token), not on every request.
    let (s, i, man) = (core.clone(), install.clone(), m.clone());
    let o = Runs {
        owner: owner.to_owned(),
        user: runs_as.clone(),
    };
    let sup = &core.apps.supervisor;
    let started = match &m.runner {
        Runner::Process { .. } => {
            let start = move |log: LogSlot| async move {
                match Plan::new(&s, &o, &i, &man) {
                    Ok(plan) => plan.run(log).await,
                    Err(e) => Err((
                        format!("the app could not be prepared: {}", e.message),
                        Vec::new(),
                    )),
                }
            };
            sup.ensure(owner, &m.id, idle, m.on_idle, start).await
        }
        Runner::Kubernetes { .. } => {
            let start = move |_: LogSlot| async move { start_kube(&s, &o, &i, &man).await };
            sup.ensure(owner, &m.id, idle, m.on_idle, start).await
        }
    };
    started.map_err(|e| Error::too_many(e.to_string()))
}

/// Whom an instance is kept under and whose token it acts with.
struct Runs {
    /// A user, or a shared instance's organisation.
    owner: String,
    user: User,
}

/// What a Kubernetes instance gets in its environment (its token comes as a file).
fn kube_env(core: &Core, owner: &str, m: &Manifest, port: u16) -> Vec<(String, String)> {
    let api_url = format!("{}/api/v1", core.settings.public_url);
    [
        ("STRATA_BASE_URL", base_path(owner, &m.id)),
        ("STRATA_PORT", port.to_string()),
        ("PORT", port.to_string()),
        ("STRATA_API_URL", api_url),
        ("STRATA_URL", core.settings.public_url.clone()),
        ("STRATA_USER", owner.to_owned()),
        ("STRATA_APP", m.id.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Starts (scales up) `owner`'s Deployment of `m`.
// Without the `kubernetes` feature a `Cluster` has no values: the compiler then sees that nothing
// after `cluster()` runs.
#[cfg_attr(not(feature = "kubernetes"), allow(unused_variables))]
async fn start_kube(core: &Core, runs: &Runs, install: &InstallRow, m: &Manifest) -> Started {
    let owner = runs.owner.as_str();
    let Runner::Kubernetes {
        image,
        port,
        cpu,
        memory,
    } = &m.runner
    else {
        return Err(("not a Kubernetes app".into(), Vec::new()));
    };
    let fail = |e: Error| (e.message, Vec::new());
    let cluster = core.apps.cluster().await.map_err(fail)?;
    let token = mint_token(core, &runs.user, install).map_err(fail)?;
    let base = base_path(owner, &m.id);
    let spec = strata_apps::kube::Spec {
        name: strata_apps::kube::object_name(owner, &m.id),
        user: owner.to_owned(),
        app: m.id.clone(),
        image: image.clone(),
        port: *port,
        cpu: cpu.clone(),
        memory: memory.clone(),
        health: match m.prefix {
            Prefix::Keep => format!("{}{}", base.trim_end_matches('/'), m.health),
            Prefix::Strip => m.health.clone(),
        },
        env: kube_env(core, owner, m, *port),
        token,
    };
    match cluster
        .start(&spec, Duration::from_secs(m.start_timeout_secs))
        .await
    {
        Ok(addr) => {
            // A start is activity: the culling must not scale it down before any traffic.
            let _ = core
                .db
                .app_active(runs.user.id, &m.id, crate::db::now())
                .await;
            let running = strata_apps::kube::KubeInstance {
                cluster: cluster.clone(),
                name: spec.name,
            };
            Ok((Box::new(running), addr))
        }
        Err(e) => Err((e, cluster.logs(&spec.name).await)),
    }
}

/// Everything a start needs, worked out before it runs.
struct Plan {
    launch: Launch,
    port: u16,
    health: String,
    timeout: Duration,
}

impl Plan {
    fn new(core: &Core, runs: &Runs, install: &InstallRow, m: &Manifest) -> Result<Plan> {
        let owner = runs.owner.as_str();
        let Runner::Process {
            command,
            args,
            env,
            workdir,
            sha256,
        } = &m.runner
        else {
            return Err(Error::internal("not a process app"));
        };
        let port = free_port().map_err(Error::internal)?;
        let base_url = base_path(owner, &m.id);
        let home = core.apps.root.join(owner).join(&m.id);
        std::fs::create_dir_all(&home).map_err(Error::internal)?;
        let token_file = token_path(&core.apps.tokens, owner, &m.id);
        write_token(core, &runs.user, install, &token_file)?;
        let api_url = format!("{}/api/v1", core.settings.public_url);
        let port_s = port.to_string();
        let home_s = home.display().to_string();
        let token_s = token_file.display().to_string();
        let vars = [
            ("port", port_s.as_str()),
            ("base_url", base_url.as_str()),
            ("home", home_s.as_str()),
            ("api_url", api_url.as_str()),
            ("token_file", token_s.as_str()),
        ];
        let mut all_env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.clone(), expand(v, &vars)))
            .collect();
        for (k, v) in [
            ("STRATA_BASE_URL", base_url.as_str()),
            ("STRATA_PORT", port_s.as_str()),
            ("PORT", port_s.as_str()),
            ("STRATA_API_URL", api_url.as_str()),
            ("STRATA_URL", core.settings.public_url.as_str()),
            ("STRATA_TOKEN_FILE", token_s.as_str()),
            ("STRATA_USER", owner),
            ("STRATA_APP", m.id.as_str()),
        ] {
            all_env.push((k.to_owned(), v.to_owned()));
        }
        let health = match m.prefix {
            Prefix::Keep => format!("{}{}", base_url.trim_end_matches('/'), m.health),
            Prefix::Strip => m.health.clone(),
        };
        let workdir = workdir
            .as_deref()
            .map(|w| PathBuf::from(expand(w, &vars)))
            .unwrap_or_else(|| home.clone());
        std::fs::create_dir_all(&workdir)
            .map_err(|e| Error::conflict(format!("{}: {e}", workdir.display())))?;
        let token_dir = token_file.parent().expect("a token file has a directory");
        let sandbox = core
            .apps
            .sandbox
            .for_instance(&[&home, &workdir], token_dir)?;
        // Started from the executable as found now, by its path, hashed first: a pinned one
        // only if it hashes to the pin; the digest is shown with the instance.
        let (command, digest) = executable(&expand(command, &vars), sha256.as_deref())?;
        core.apps
            .digests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((owner.to_owned(), m.id.clone()), digest);
        Ok(Plan {
            launch: Launch {
                command,
                args: args.iter().map(|a| expand(a, &vars)).collect(),
                env: all_env,
                workdir,
                log_lines: LOG_LINES,
                memory: core.apps.memory,
                sandbox,
            },
            port,
            health,
            timeout: Duration::from_secs(m.start_timeout_secs),
        })
    }

    async fn run(self, log: LogSlot) -> Started {
        let mut instance = match Instance::start(&self.launch) {
            Ok(i) => i,
            Err(e) => {
                return Err((
                    format!("{} could not be started: {e}", self.launch.command),
                    Vec::new(),
                ))
            }
        };
        log.set(instance.log().clone());
        let mut ended = None;
        let healthy = wait_healthy(self.port, &self.health, self.timeout, || {
            ended = instance.exited();
            ended.is_none()
        })
        .await;
        if healthy {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
            return Ok((Box::new(instance), addr));
        }
        let error = match ended {
            Some(status) => format!("the app exited during its start ({status})"),
            None => format!(
                "the app did not answer {} within {} s",
                self.health,
                self.timeout.as_secs()
            ),
        };
        // Its last words reach the log before it is read.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let lines = instance.log().lines();
        instance.stop(Duration::from_secs(2)).await;
        Err((error, lines))
    }
}

/// The executable `command` names (a path, or a name looked up in `PATH`) and its sha256;
/// one that does not hash to `pin` is refused.
fn executable(command: &str, pin: Option<&str>) -> Result<(String, String)> {
    let path = if command.contains('/') {
        PathBuf::from(command)
    } else {
        std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|d| d.join(command))
            .find(|p| p.is_file())
            .ok_or_else(|| Error::conflict(format!("{command}: not found in PATH")))?
    };
    // Run by the path found (a virtualenv's interpreter knows itself by it), hashed through it.
    let mut file = std::fs::File::open(&path)
        .map_err(|e| Error::conflict(format!("{}: {e}", path.display())))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        use std::io::Read;
        let n = file.read(&mut buf).map_err(Error::internal)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let hex = hex::encode(hasher.finalize());
    if let Some(pin) = pin.filter(|p| *p != hex) {
        return Err(Error::conflict(format!(
            "{} hashes to sha256:{hex}, not to the manifest's pin sha256:{pin}: not started",
            path.display()
        )));
    }
    Ok((path.display().to_string(), format!("sha256:{hex}")))
}

/// Where `user`'s `app` finds its token: outside every working directory.
fn token_path(tokens: &Path, user: &str, app: &str) -> PathBuf {
    tokens.join(user).join(app).join("token")
}

/// A fresh token for `owner`'s install: their access token narrowed to the consented scopes,
/// carrying the install's family (an uninstall revokes it), short-lived.
fn mint_token(core: &Core, owner: &User, install: &InstallRow) -> Result<String> {
    let ttl = core.apps.token_ttl.as_secs() as i64;
    let mut claims = core.jwt.claims(&owner.username, &install.scopes, ttl);
    claims.uid = Some(owner.id);
    claims.client_id = Some(format!("app:{}", install.app_id));
    claims.fam = Some(install.family.clone());
    core.jwt.sign(&claims).map_err(Error::internal)
}

/// Writes a fresh token for `owner`'s install: atomically, readable by its owner only.
fn write_token(core: &Core, owner: &User, install: &InstallRow, path: &Path) -> Result<()> {
    let token = mint_token(core, owner, install)?;
    let dir = path.parent().expect("a token file has a directory");
    std::fs::create_dir_all(dir).map_err(Error::internal)?;
    let tmp = dir.join(format!(".token.{}", uuid::Uuid::new_v4().simple()));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(Error::internal)?;
        f.write_all(token.as_bytes()).map_err(Error::internal)?;
    }
    std::fs::rename(&tmp, path).map_err(Error::internal)
}

/// Renews the tokens of the instances running here; stops the ones whose install is gone or
/// waits for renewed consent (a shared instance's: its publisher's).
pub async fn renew_tokens(core: &Core) {
    for i in core.apps.supervisor.list() {
        if matches!(i.status, Status::Failed { .. }) {
            continue;
        }
        let Ok(runner) = crate::apps::shared::runner(core, &i.user, &i.app).await else {
            continue;
        };
        match runner {
            Some((runs_as, install)) if !crate::apps::awaits_consent(&install) => {
                if let Err(e) = renew(core, &i.user, &runs_as, &install).await {
                    tracing::error!(user = %i.user, app = %i.app, error = %e.message, "an app token could not be renewed");
                }
            }
            _ => core.apps.supervisor.stop(&i.user, &i.app).await,
        }
    }
}

/// Stops the instances running here whose install waits for renewed consent (its manifest was
/// changed on this replica or another one), a shared instance's being its publisher's, and
/// removes those whose install is gone.
async fn stop_suspended(core: &Core) {
    let listed = core.apps.supervisor.list();
    if listed.is_empty() {
        return;
    }
    let Ok(suspended) = core.db.suspended_app_installs().await else {
        return;
    };
    let shared = core.db.shared_apps().await.unwrap_or_default();
    for i in listed {
        let runs_as = shared
            .iter()
            .find(|s| s.app_id == i.app && s.org == i.user)
            .map_or(i.user.as_str(), |s| s.published_by.as_str());
        if suspended.iter().any(|(u, a)| u == runs_as && *a == i.app) {
            tracing::info!(user = %i.user, app = %i.app, "app instance stopped: its manifest changed, it waits for renewed consent");
            core.apps.supervisor.stop(&i.user, &i.app).await;
        } else if matches!(
            crate::apps::shared::runner(core, &i.user, &i.app).await,
            Ok(None)
        ) {
            // Uninstalled elsewhere (another replica, or its account deleted by `strata admin
            // delete-user`): it stops, and what it kept goes.
            tracing::info!(user = %i.user, app = %i.app, "app instance stopped: its install is gone");
            crate::apps::remove_instance(core, &i.user, &i.app).await;
        }
    }
}

/// Gives the running instance kept under `owner` a fresh token of `runs_as`'s install (a file,
/// or its Secret).
pub async fn renew(core: &Core, owner: &str, runs_as: &User, install: &InstallRow) -> Result<()> {
    let kube = crate::apps::entry(core, &install.app_id)
        .await
        .is_ok_and(|e| matches!(e.manifest.runner, Runner::Kubernetes { .. }));
    if kube {
        let token = mint_token(core, runs_as, install)?;
        let name = strata_apps::kube::object_name(owner, &install.app_id);
        let cluster = core.apps.cluster().await?;
        cluster
            .put_token(&name, &token)
            .await
            .map_err(|e| Error::new(crate::error::Kind::Upstream, e))
    } else {
        let path = token_path(&core.apps.tokens, owner, &install.app_id);
        write_token(core, runs_as, install, &path)
    }
}

/// Records the traffic this replica saw since the last look in the installs (what the culling
/// of Kubernetes instances, which any replica may serve, goes by).
async fn record_activity(core: &Core) {
    // Only Kubernetes instances are shared by replicas; a process instance's own supervisor
    // knows all its traffic.
    if !core.apps.kube_configured() {
        return;
    }
    let now = crate::db::now();
    for i in core.apps.supervisor.list() {
        if i.idle_for > core.apps.cull_every * 2 || !matches!(i.status, Status::Ready { .. }) {
            continue;
        }
        if let Ok(Some((runs_as, _))) = crate::apps::shared::runner(core, &i.user, &i.app).await {
            let at = now - i.idle_for.as_secs() as i64;
            let _ = core.db.app_active(runs_as.id, &i.app, at).await;
        }
    }
}

/// Scales down the Deployments no replica saw traffic for within their app's idle timeout, and
/// removes the objects of installs that are gone (uninstalled elsewhere, or the app removed from
/// the catalog). One replica at a time does it.
async fn cull_kube(core: &Core) -> Result<()> {
    let cluster = core.apps.cluster().await?;
    let deployments = cluster
        .deployments()
        .await
        .map_err(|e| Error::new(crate::error::Kind::Upstream, e))?;
    let now = crate::db::now();
    for (name, user, app, up) in deployments {
        let install = crate::apps::shared::runner(core, &user, &app)
            .await?
            .map(|(_, install)| install);
        let Some(install) = install else {
            // Uninstalled, or the app left the catalog: nothing of it stays.
            let _ = cluster.remove(&name).await;
            continue;
        };
        if !up {
            continue;
        }
        if crate::apps::awaits_consent(&install) {
            tracing::info!(%user, %app, "app instance scaled down: it waits for renewed consent");
            core.apps.supervisor.forget(&user, &app);
            if let Err(e) = cluster.scale_down(&name).await {
                tracing::warn!(%user, %app, error = %e, "an app instance was not scaled down");
            }
            continue;
        }
        let idle = crate::apps::entry(core, &app)
            .await
            .map(|e| e.manifest.idle_timeout_secs as i64)
            .unwrap_or(0);
        let last = install.active_at.unwrap_or(install.created_at);
        let here = core
            .apps
            .supervisor
            .list()
            .into_iter()
            .find(|i| i.user == user && i.app == app)
            .map(|i| now - i.idle_for.as_secs() as i64);
        if now - last.max(here.unwrap_or(0)) >= idle {
            tracing::info!(%user, %app, "app instance scaled down");
            core.apps.supervisor.forget(&user, &app);
            if let Err(e) = cluster.scale_down(&name).await {
                tracing::warn!(%user, %app, error = %e, "an app instance was not scaled down");
            }
        }
    }
    Ok(())
}

/// Starts the background work of apps: the idle culler and the token renewal.
pub fn background(core: &Arc<Core>) {
    let s = core.clone();
    core
        .tasks
        .every("app culling", core.apps.cull_every, move || {
            let s = s.clone();
            async move {
                record_activity(&s).await;
                stop_suspended(&s).await;
                for (user, app) in s.apps.supervisor.cull().await {
                    tracing::info!(%user, %app, "app instance stopped");
                }
                if s.apps.kube_configured() {
                    let led = s.db.as_leader("app-culling", cull_kube(&s)).await;
                    if let Ok(Some(Err(e))) = led {
                        tracing::warn!(error = %e.message, "Kubernetes app instances were not culled");
                    }
                }
            }
        });
    let s = core.clone();
    core.tasks
        .every("app tokens", core.apps.token_ttl / 3, move || {
            let s = s.clone();
            async move { renew_tokens(&s).await }
        });
    let s = core.clone();
    core.tasks.spawn("app instances", move |stop| async move {
        stop.cancelled().await;
        s.apps.supervisor.stop_all().await;
    });
}
