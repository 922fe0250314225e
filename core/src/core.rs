//! `Core`: the server's parts, built once at start-up from the configuration. Every domain
//! function takes it; the HTTP layer wraps it (`strata::http::state::Core`) with what only
//! HTTP needs.

use std::sync::Arc;
use std::time::Duration;

use strata_metastore::{Metastore, Person};

use crate::auth::keys::{self, JwtKeys, KeyError};
use crate::config::Config;
use crate::db::Db;
use crate::storage::{Storage, StorageConfigError};

pub use crate::config::Settings;

/// The server's parts, built once at start-up.
pub struct Core {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub storage: Storage,
    pub jwt: Arc<JwtKeys>,
    /// The datasets' git repositories.
    pub metastore: Arc<Metastore>,
    /// argon2, bounded.
    pub hasher: crate::auth::password::Hasher,
    /// Background work, stopped and awaited at shutdown.
    pub tasks: crate::tasks::Tasks,
    /// Child processes (`git http-backend`, `git gc`), each group killed at shutdown.
    pub children: crate::process::Children,
    /// External identity providers (`--oidc-config`).
    pub sso: crate::sso::Providers,
    /// Governance: the policies of `--policy-dataset` (`crate::datasets::policies`).
    pub governance: Arc<crate::datasets::policies::Governance>,
    /// The contract and protection check of writes to protected default branches, attached to
    /// the core as it is built ([`Core::build`]).
    pub contracts: Arc<crate::contracts::OnWrite>,
    /// Pushes whose hook may ask this server for a contract check.
    pub pushes: crate::hook::push::Pushes,
    /// Signs each push's rules for its hook (`crate::hook::rules`).
    pub hook_key: crate::hook::rules::HookKey,
    /// Apps: the catalog's files, the instances, their settings (`crate::apps`).
    pub apps: Arc<crate::apps::Apps>,
    /// The table engine's limits and views in the making (`crate::tables`).
    pub tables: Arc<crate::tables::Tables>,
    /// Merges worked out lately, by dataset and heads (a merge request's page reads them again).
    pub merges: crate::changes::merges::Cache,
    /// The S3 gateway's writes, one dataset's at a time on this server.
    pub s3_writes: crate::compat::s3::Writes,
    /// The files of commits the S3 gateway listed lately.
    pub s3_listings: crate::compat::s3::Listings,
    /// The Iceberg catalog: where engines reach the S3 gateway, recent loads.
    pub iceberg: crate::compat::iceberg::Iceberg,
    /// Delta Sharing's recently decided files.
    pub delta_sharing: crate::compat::delta_sharing::DeltaSharing,
    /// Dataset cards worked out lately (`crate::datasets::card`).
    pub cards: crate::datasets::card::Cards,
    /// Thumbnails of images made lately (`crate::drive::thumbnails`).
    pub thumbnails: crate::drive::thumbnails::Thumbnails,
    /// The jobs' settings and the runs under way here (`crate::jobs`).
    pub jobs: Arc<crate::jobs::Jobs>,
    /// Rung when this replica records events: the dispatcher wakes.
    pub events: Arc<crate::events::Bell>,
    /// The SQL queries running, by caller (`crate::sql`).
    pub sql: Arc<crate::sql::Running>,
    /// The mirrors' sync loop's bell and what syncs did (`crate::mirrors`).
    pub mirrors: Arc<crate::mirrors::Mirrors>,
    /// The imports' loop's bell (`crate::imports`).
    pub imports: Arc<crate::imports::Imports>,
    /// Set once a shutdown began: `/readyz` answers 503, and long background work (git
    /// maintenance) stops between steps.
    pub draining: std::sync::atomic::AtomicBool,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("keys: {0}")]
    Keys(#[from] KeyError),
    #[error("storage: {0}")]
    Storage(#[from] StorageConfigError),
    #[error("identity providers: {0}")]
    Sso(String),
    #[error("policies: {0}")]
    Policy(String),
    #[error("apps: {0}")]
    Apps(String),
    #[error("refs: {0}")]
    Refs(&'static str),
    #[error("data directory {0}: {1}")]
    DataDir(String, std::io::Error),
}

impl Core {
    /// The core of `config`, shared, with what needs the core itself at work (the contract and
    /// branch-protection check the metastore asks before a protected branch moves) attached to
    /// it: there is no core without it, so no caller (the server, `strata admin`, the tests)
    /// can move a protected branch unchecked.
    pub async fn build(config: &Config) -> Result<Arc<Core>, StartError> {
        let core = Arc::new(Core::parts(config).await?);
        core.contracts.attach(&core);
        Ok(core)
    }

    async fn parts(config: &Config) -> Result<Core, StartError> {
        // jsonwebtoken's provider, before anything could make or check a token.
        crate::auth::jwt_crypto::install();
        let sso =
            crate::sso::Providers::load(config.oidc_config.as_deref()).map_err(StartError::Sso)?;
        if config.password_login == crate::config::Switch::Off && sso.is_empty() {
            return Err(StartError::Sso(
                "--password-login off needs at least one provider in --oidc-config: nobody could sign in in a browser".into(),
            ));
        }
        let apps = Arc::new(crate::apps::Apps::load(config).map_err(StartError::Apps)?);
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
        let public_url = config.public_url();
        let database_url = config.database_url();
        let db = Db::connect(&database_url).await?;
        // Refs kept in the ledger would be silently ignored (and then contradicted) by `git`.
        let refs_sql = match config.refs {
            crate::config::Refs::Sql => true,
            crate::config::Refs::Auto => db.ledger_in_use().await?,
            crate::config::Refs::Git if db.ledger_in_use().await? => {
                return Err(StartError::Refs(
                    "this database keeps dataset refs in its ledger (--refs sql was used): start with --refs sql or auto",
                ));
            }
            crate::config::Refs::Git => false,
        };
        let hook_database_file =
            crate::hook::write_database_url(&config.data_dir, &database_url)
                .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
        let hook_key = crate::hook::rules::HookKey::load_or_make(&hook_database_file)
            .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
        let hooks_dir = crate::hook::install(&config.data_dir)
            .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
        let hook_exe = match &config.hook_exe {
            Some(exe) => exe.clone(),
            None => std::env::current_exe()
                .map_err(|e| StartError::DataDir("the strata executable".into(), e))?,
        };
        let key_dir = config.data_dir.join("keys");
        let jwt_path = config
            .jwt_key_file
            .clone()
            .unwrap_or_else(|| key_dir.join("jwt-rs256.pem"));
        let issuer = config
            .jwt_issuer
            .clone()
            .unwrap_or_else(|| public_url.clone());
        let audience = config.jwt_audience.clone();
        let jwt = tokio::task::spawn_blocking(move || {
            JwtKeys::load_or_generate(&jwt_path, issuer, audience)
        })
        .await
        .expect("key loading does not panic")?;
        let signer = keys::url_signer(&config.url_signing_keys, &key_dir.join("url-signing.key"))?;
        let action_ttl = Duration::from_secs(
            config
                .action_ttl_secs
                .clamp(60, strata_lfs::s3sign::MAX_EXPIRES_SECS - 120),
        );
        let storage =
            Storage::from_config(config, signer, public_url.clone(), action_ttl, db.clone())
                .await?;
        let policy_dataset = match config.policy_dataset.as_deref() {
            None => None,
            Some(p) => match p.split_once('/') {
                Some((ns, name))
                    if crate::names::check("namespace", ns).is_ok()
                        && crate::names::check("dataset", name).is_ok() =>
                {
                    Some((ns.to_owned(), name.to_owned()))
                }
                _ => {
                    return Err(StartError::Policy(format!(
                        "--policy-dataset {p:?} is not ns/name"
                    )))
                }
            },
        };
        let governance = Arc::new(crate::datasets::policies::Governance::new(
            policy_dataset,
            config.region.clone(),
            Duration::from_millis(config.policy_timeout_ms.clamp(1, 10_000)),
            &jwt.derive("strata policy HashAction"),
        ));
        let mut metastore = Metastore::new(
            config.repos_dir(),
            Person {
                name: "strata".into(),
                email: "strata@localhost".into(),
            },
        );
        let contracts = Arc::new(crate::contracts::OnWrite::default());
        metastore = metastore
            .with_head_check(governance.clone())
            .with_head_check(contracts.clone());
        let events = Arc::new(crate::events::Bell::default());
        if refs_sql {
            metastore = metastore.with_ledger(Arc::new(crate::datasets::ledger::SqlLedger::new(
                db.clone(),
                events.clone(),
            )));
        } else {
            metastore = metastore.with_ref_listener(Arc::new(crate::events::GitRefs::new(
                db.clone(),
                events.clone(),
            )));
        }
        Ok(Core {
            contracts,
            pushes: Default::default(),
            hook_key,
            governance,
            apps,
            tables: Arc::new(crate::tables::Tables::new(
                config.table_memory_mb.clamp(16, 1 << 20) << 20,
            )),
            merges: crate::changes::merges::Cache::default(),
            s3_writes: crate::compat::s3::Writes::default(),
            s3_listings: crate::compat::s3::Listings::default(),
            iceberg: crate::compat::iceberg::Iceberg::default(),
            delta_sharing: Default::default(),
            cards: crate::datasets::card::Cards::default(),
            mirrors: Arc::default(),
            imports: Arc::default(),
            thumbnails: Default::default(),
            jobs: Arc::new(crate::jobs::Jobs::new(config)),
            events,
            sql: Arc::default(),
            settings: Arc::new(Settings {
                public_url,
                action_ttl,
                max_batch_objects: config.max_batch_objects.max(1),
                quota_bytes: config.quota_bytes,
                gc_interval: std::time::Duration::from_secs(config.gc_interval_secs),
                chunking_interval: std::time::Duration::from_secs(config.chunking_interval_secs),
                chunking_min_bytes: config.chunking_min_bytes.max(1),
                gc_grace: std::time::Duration::from_secs(config.gc_grace_secs),
                max_json_body: config.max_json_body.max(1024),
                max_object_size: config.max_object_size,
                hooks_dir,
                hook_database_file,
                hook_exe,
                refs_sql,
                database_url: database_url.into(),
                session_ttl_secs: (config.session_ttl_hours.max(1) * 3600) as i64,
                signup: config.signup,
                people: config.people,
                password_login: config.password_login == crate::config::Switch::On,
                webhooks: crate::targets::Targets {
                    allow_private: config.webhooks_allow_private == crate::config::Switch::On,
                },
                data_dir: config.data_dir.clone(),
                mirrors: crate::targets::Targets {
                    allow_private: config.mirrors_allow_private == crate::config::Switch::On,
                },
                mirror_min_interval: Duration::from_secs(config.mirror_min_interval_secs),
                trusted_proxies: config.trusted_proxies.clone(),
                header_timeout: Duration::from_secs(config.header_timeout_secs.max(1)),
                body_idle_timeout: Duration::from_secs(config.body_idle_timeout_secs.max(1)),
                shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
                drain_delay: Duration::from_secs(config.drain_delay_secs),
                multipart_idle: Duration::from_secs(config.multipart_idle_hours.max(1) * 3600),
                browser_uploads: config.browser_uploads,
                s3_public_url: config
                    .s3_public_url
                    .as_ref()
                    .map(|u| u.trim_end_matches('/').to_owned()),
                encryption: config.encryption,
            }),
            db,
            storage,
            jwt: Arc::new(jwt),
            hasher: crate::auth::password::Hasher::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            tasks: crate::tasks::Tasks::default(),
            children: crate::process::Children::default(),
            sso,
            metastore: Arc::new(metastore),
            draining: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

impl Core {
    /// The database engine's name, as metrics label it: `sqlite` or `postgres`.
    pub fn engine_name(&self) -> &'static str {
        match self.db.engine() {
            crate::db::Engine::Sqlite => "sqlite",
            crate::db::Engine::Postgres => "postgres",
        }
    }

    /// Closes the database pool, once nothing uses it any more (the end of a shutdown).
    pub async fn close(&self) {
        self.db.close().await;
    }
}
