//! State in SQL through sqlx's `Any` driver: SQLite embedded by default, PostgreSQL to scale out.
//! Queries are written once, in the SQL both engines accept (`$n` placeholders, `RETURNING`,
//! `ON CONFLICT`); each engine has its own migrations. Submodules group the queries by table.

/// A query text built from constant pieces (column lists, engine-specific fragments): never from
/// input, which always travels as bind parameters.
macro_rules! sql {
    ($($t:tt)*) => {
        sqlx::AssertSqlSafe(format!($($t)*))
    };
}

mod access;
mod accounts;
mod apps;
mod budgets;
mod delta_sharing;
mod erasure;
mod events;
mod feeds;
mod gc;
mod iceberg;
mod identities;
mod imports;
mod invites;
mod jobs;
mod keys;
mod leaving;
mod locks;
mod marks;
mod merges;
mod mirrors;
mod notifications;
mod oauth;
mod objects;
mod orgs;
mod push_mirrors;
mod quotas;
mod redirects;
mod refs;
mod region_copies;
mod repos;
mod s3_etags;
mod shared_apps;
mod shares;
mod table_objects;
mod table_views;
mod tokens;
mod uploads;
mod users;
mod validations;
mod workloads;
mod xet;

pub use access::{AccessRequestRow, GateRow, RequestChange};
pub use accounts::{AuditEntry, SessionRow};
pub use apps::InstallRow;
pub use delta_sharing::{DeltaShare, DeltaTable, NewDeltaTable, NewRecipient, Recipient};
pub use erasure::Derived;
pub use events::{
    Attempt, DeliveryRow, EventRow, FanOut, Hooked, NewEvent, NewWebhook, WebhookRow,
};
pub use feeds::{FeedObject, FeedRow};
pub use gc::{GcLink, GcRepo, GcRunRow};
pub use iceberg::IcebergStaged;
pub use identities::{Identity, PendingLogin};
pub use imports::{ImportRow, NewImport, ObjectRef};
pub use invites::InviteRow;
pub use jobs::{JobRow, KeptJob, NewRun, RunEnd, RunRow, ScheduledJob};
pub use keys::KeyRow;
pub use locks::{LockFilter, LockRow, NewLock};
pub use marks::{Mark, RECENT_KEPT};
pub use merges::{ApprovalRow, CommentRow, MergeRow, NewMerge, ResolutionRow};
pub use mirrors::{MirrorEnd, MirrorRow, MirrorSet};
pub use notifications::NotificationRow;
pub use oauth::{CodeRow, ConsentRow, OauthClient, RefreshRow};
pub use objects::{LinkError, Linked};
pub use orgs::{Org, OrgRole, Permission};
pub use push_mirrors::{NewPush, PushRow};
pub use refs::{RefEdit, SwapError};
pub use region_copies::RegionCopy;
pub use repos::{Repo, Visibility};
pub use shared_apps::SharedAppRow;
pub use shares::{LinkRow, ShareRow};
pub use table_objects::TableObject;
pub use table_views::TableView;
pub use tokens::TokenRow;
pub use uploads::UploadRow;
pub use users::{Memberships, Role, User};
pub use workloads::WorkloadRow;
pub use xet::{XetFile, XetXorb};

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The connection pool; cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    engine: Engine,
    /// The turn to write links: one group commit at a time (see [`Db::link_object`]). On SQLite
    /// it also keeps link writers out of its busy handler, which sleeps 1, 2, 5, 10… ms.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    links: std::sync::Arc<objects::PendingLinks>,
}

/// A turn among replicas ([`Db::turn`]), held while this lives.
pub struct Turn {
    _held: Option<sqlx::Transaction<'static, sqlx::Any>>,
}

/// The advisory lock key of `name` of kind `kind`.
fn lock_key(kind: &str, name: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("strata {kind} {name}"));
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

impl Db {
    /// A transaction that will write. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): a deferred one that read first could not upgrade once another connection (or
    /// replica) wrote meanwhile, and fails with "database is locked" without waiting.
    pub(crate) async fn write_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.engine {
            Engine::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => self.pool.begin().await,
        }
    }

    /// Connects to `url` and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Engine::Postgres
        } else {
            return Err(sqlx::Error::Configuration(
                format!("unsupported database URL {url:?}: use sqlite:// or postgres://").into(),
            ));
        };
        let options: AnyConnectOptions = url.parse()?;
        let pool = AnyPoolOptions::new()
            .max_connections(if engine == Engine::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let migrator = match engine {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        };
        // sqlx takes the database's migration lock (PostgreSQL: an advisory lock), so replicas
        // starting together migrate once.
        match migrator.run(&pool).await {
            Ok(()) => {}
            Err(sqlx::migrate::MigrateError::VersionMissing(v)) => {
                let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
                return Err(sqlx::Error::Configuration(
                    format!(
                        "the database schema was migrated by a newer strata (migration {v}); \
                         this one knows migrations up to {known}: run the newer strata"
                    )
                    .into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Db::new(pool, engine))
    }

    /// The newest migration applied to the database.
    pub async fn schema_version(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar::<_, i64>(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
        )
        .fetch_one(&self.pool)
        .await
    }

    /// Runs `work` only if no other replica runs work of that `name` now (PostgreSQL: a
    /// transaction-scoped advisory lock, released when `work` ends, or when this replica dies);
    /// `None` when another holds it. SQLite serves one server, which always leads.
    pub async fn as_leader<T>(
        &self,
        name: &str,
        work: impl std::future::Future<Output = T>,
    ) -> Result<Option<T>, sqlx::Error> {
        let lock = match self.engine {
            Engine::Postgres => "SELECT pg_try_advisory_xact_lock($1)",
            Engine::Sqlite => return Ok(Some(work.await)),
        };
        let key = lock_key("leader", name);
        let mut tx = self.pool.begin().await?;
        let led: bool = sqlx::query_scalar(lock)
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
        if !led {
            return Ok(None);
        }
        let out = work.await;
        tx.commit().await?;
        Ok(Some(out))
    }

    /// Waits for the turn `name` among replicas and holds it until the answer is dropped
    /// (PostgreSQL: a transaction-scoped advisory lock; SQLite serves one server: no wait).
    pub async fn turn(&self, name: &str) -> Result<Turn, sqlx::Error> {
        let lock = match self.engine {
            Engine::Postgres => "SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) t",
            Engine::Sqlite => return Ok(Turn { _held: None }),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(lock)
            .bind(lock_key("turn", name))
            .execute(&mut *tx)
            .await?;
        Ok(Turn { _held: Some(tx) })
    }

    /// Whether the database answers, within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> bool {
        let query = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&self.pool);
        matches!(tokio::time::timeout(timeout, query).await, Ok(Ok(1)))
    }

    /// The pool's connections: (open, idle, most allowed).
    pub fn pool_stats(&self) -> (u32, u32, u32) {
        (
            self.pool.size(),
            self.pool.num_idle() as u32,
            self.pool.options().get_max_connections(),
        )
    }

    /// Connects to a database another process keeps up to date (the push hook): no migrations,
    /// one connection.
    pub async fn connect_existing(url: &str) -> Result<Db, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else {
            Engine::Postgres
        };
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        Ok(Db::new(pool, engine))
    }

    fn new(pool: AnyPool, engine: Engine) -> Db {
        Db {
            pool,
            engine,
            writer: Default::default(),
            links: Default::default(),
        }
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Whether `e` is a unique-constraint violation (for this module's own retries; callers outside
/// it get [`Error::Conflict`]).
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// A failed database call, with the outcomes callers act on told apart: `Conflict` when a
/// unique key is taken (a name, a link, a token name), `NotFound` when a row that must exist does
/// not. Methods that create named rows return it; the rest return `sqlx::Error`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("a row with that key exists")]
    Conflict,
    #[error("database: {0}")]
    Other(sqlx::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Error {
        match e {
            sqlx::Error::RowNotFound => Error::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => Error::Conflict,
            e => Error::Other(e),
        }
    }
}

/// An RFC 3339 timestamp with second precision, as LFS wants for `expires_at` and `locked_at`.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
