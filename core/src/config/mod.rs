//! The server's settings (`Config`, flattened into `strata serve` and `strata admin` by
//! `crate::cli`). Every flag can also be set through the `STRATA_*` environment variable named
//! beside it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

mod jobs;
mod secret;
mod stores;
pub use jobs::{Interpreter, JobsConfig};
pub use secret::Secret;
pub use stores::{ImportSource, Location, StoreSpec};

/// Settings handlers read at request time.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base of every URL strata hands out, without a trailing slash.
    pub public_url: String,
    /// Lifetime announced in batch actions; signatures live a minute longer.
    pub action_ttl: std::time::Duration,
    pub max_batch_objects: usize,
    /// The default quota of a namespace, in stored bytes (0: none).
    pub quota_bytes: u64,
    /// Garbage collection's period (zero: never by itself) and grace.
    pub gc_interval: std::time::Duration,
    pub gc_grace: std::time::Duration,
    /// How often objects that arrived whole are chunked (`crate::xet::chunking`); zero: never.
    pub chunking_interval: std::time::Duration,
    /// The smallest object chunked: smaller ones stay whole.
    pub chunking_min_bytes: u64,
    pub max_json_body: usize,
    /// 0 means no limit.
    pub max_object_size: u64,
    /// What git needs to run strata's push hook: the hooks directory, the strata binary and the
    /// database it checks.
    pub hooks_dir: std::path::PathBuf,
    pub hook_exe: std::path::PathBuf,
    /// The file the hook reads the database URL from (`crate::hook::write_database_url`).
    pub hook_database_file: std::path::PathBuf,
    /// `--refs sql`: the ref ledger decides ref updates, pushes included.
    pub refs_sql: bool,
    pub database_url: Secret,
    /// How long a browser session lasts, in seconds.
    pub session_ttl_secs: i64,
    /// Who may create an account in the browser.
    pub signup: Signup,
    /// Whom the share forms suggest: people of one's organisations, or every account.
    pub people: People,
    /// Whether the login page takes usernames and passwords (off: identity providers only).
    pub password_login: bool,
    /// Where webhooks may point.
    pub webhooks: crate::targets::Targets,
    /// The data directory (`--data-dir`): mirrors stage their fetches under it.
    pub data_dir: std::path::PathBuf,
    /// Which remotes mirrors may follow.
    pub mirrors: crate::targets::Targets,
    /// The shortest interval between a mirror's scheduled syncs.
    pub mirror_min_interval: std::time::Duration,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long a client may take to send its headers, and to send each part of a body.
    pub header_timeout: std::time::Duration,
    pub body_idle_timeout: std::time::Duration,
    /// How long in-flight requests get after a shutdown signal.
    pub shutdown_grace: std::time::Duration,
    /// How long a stopping server keeps serving, not ready, before it stops accepting.
    pub drain_delay: std::time::Duration,
    /// How long a multipart upload may sit untouched before its parts are purged.
    pub multipart_idle: std::time::Duration,
    /// How the drive page sends files.
    pub browser_uploads: BrowserUploads,
    /// The S3 gateway's URL as clients reach it (`--s3-public-url`), if set.
    pub s3_public_url: Option<String>,
    /// Encryption at rest: when not `Off`, file contents written through strata become LFS
    /// objects (sealed or bucket-encrypted), never plain git blobs.
    pub encryption: Encryption,
}

impl Settings {
    /// The largest object taken, in bytes: `max_object_size`, or no limit for its 0.
    pub fn object_limit(&self) -> u64 {
        match self.max_object_size {
            0 => u64::MAX,
            n => n,
        }
    }

    /// Whether cookies are `Secure`: strata is served over https.
    pub fn cookie_secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// Where objects are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageBackend {
    /// Files below `<data-dir>/objects`; strata serves the bytes itself through signed URLs.
    Local,
    /// An S3-compatible bucket; clients transfer directly with presigned URLs (downloads of
    /// objects kept as chunks excepted: strata serves those).
    S3,
    /// A Google Cloud Storage bucket (credentials from the usual GOOGLE_* variables).
    Gcs,
    /// An Azure Blob Storage container (credentials from the usual AZURE_* variables).
    Azure,
}

/// Who may create an account through the sign-up page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Signup {
    /// Anyone.
    Open,
    /// Whoever holds an invitation code (`strata admin invite`).
    Invite,
    /// Nobody: administrators create accounts with `strata admin create-user`.
    Admin,
}

/// Whom the share forms complete names from (sharing with anyone by name works either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum People {
    /// The members and teams of the organisations one belongs to.
    Organisations,
    /// Every account of the server, and one's organisations' teams.
    Everyone,
}

/// A setting that is on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// Where dataset refs are decided (`--refs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Refs {
    /// `sql` when the database's ledger holds refs already (it was used with `sql`), else `git`.
    Auto,
    /// The repositories' own ref files, with git's lock files (one server).
    Git,
    /// A ledger in the database, compare-and-swap on every update; the ref files follow it (several
    /// replicas on one database and one shared repositories directory).
    Sql,
}

/// Encryption at rest (`--encryption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Encryption {
    /// Objects are stored as they are.
    Off,
    /// Local disk: every object sealed by strata with its dataset's data key. Buckets: the
    /// store's own encryption, asked for on every write (S3: SSE-S3, or SSE-KMS with
    /// `--s3-sse-kms-key-id`; Azure: `--azure-encryption-scope`), and bytes still go straight
    /// between client and bucket.
    On,
    /// As `on` on the local disk; with a bucket, bytes pass through strata and are stored
    /// sealed in its format, so the bucket never holds plaintext (no presigned URLs).
    Strict,
}

/// How the drive page sends a file (`--browser-uploads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BrowserUploads {
    /// To strata, in parts several at a time: strata hashes them as they come and then stores
    /// the object (on a bucket, one upload from strata once the last part is hashed). Nothing is
    /// hashed in the browser and nothing read back, so a person waits about as long as the
    /// sending takes; the bytes cross strata.
    Staged,
    /// Through the LFS batch API: on a bucket, the page hashes the whole file first and sends
    /// the parts straight to the bucket (presigned URLs), and strata reads the object back once
    /// to check it. Spares strata the bytes; a person waits for hashing, sending and the check.
    Direct,
}

/// Settings shared by `serve` and `admin`.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "STRATA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Address of the S3 gateway (off when not set): the S3 API over datasets, path-style, for
    /// the AWS CLI, boto3, s3fs, DuckDB and DVC (docs/clients.md).
    #[arg(long, env = "STRATA_S3_LISTEN")]
    pub s3_listen: Option<SocketAddr>,

    /// The S3 gateway's URL as clients reach it, which the Iceberg catalog hands engines for
    /// the tables' files (default: http://<s3-listen>).
    #[arg(long, env = "STRATA_S3_PUBLIC_URL")]
    pub s3_public_url: Option<String>,

    /// Public base URL of this server, used in every link it hands out (default: http://<listen>).
    #[arg(long, env = "STRATA_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Directory for the embedded database, local objects and generated keys.
    #[arg(long, env = "STRATA_DATA_DIR", default_value = "./strata-data")]
    pub data_dir: PathBuf,

    /// Directory of the datasets' bare git repositories (default: <data-dir>/repos).
    #[arg(long, env = "STRATA_REPOS_DIR")]
    pub repos_dir: Option<PathBuf>,

    /// The strata binary git runs as the push hook (default: this program).
    #[arg(long, env = "STRATA_HOOK_EXE")]
    pub hook_exe: Option<PathBuf>,

    /// Database URL: sqlite://path or postgres://... (default: SQLite in the data directory).
    #[arg(long, env = "STRATA_DATABASE_URL")]
    pub database_url: Option<Secret>,

    /// Object storage backend.
    #[arg(long, env = "STRATA_STORAGE", value_enum, default_value = "local")]
    pub storage: StorageBackend,

    /// Bucket (S3, GCS) or container (Azure) name.
    #[arg(long, env = "STRATA_BUCKET")]
    pub bucket: Option<String>,

    /// Key prefix inside the bucket.
    #[arg(long, env = "STRATA_STORAGE_PREFIX", default_value = "lfs")]
    pub storage_prefix: String,

    /// S3 endpoint for S3-compatible stores, e.g. http://127.0.0.1:9000 (default: AWS).
    #[arg(long, env = "STRATA_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// S3 region.
    #[arg(long, env = "STRATA_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    /// Use path-style S3 URLs (endpoint/bucket/key) instead of virtual-hosted ones.
    #[arg(long, env = "STRATA_S3_PATH_STYLE")]
    pub s3_path_style: bool,

    /// Pin `x-amz-checksum-sha256` in S3 upload URLs so the bucket refuses wrong bytes. Turn off for
    /// S3-compatible stores without checksum support: uploads then go to a staging key that strata
    /// hashes before moving it into place.
    #[arg(long, env = "STRATA_S3_CHECKSUM_PINNING", default_value_t = true, action = clap::ArgAction::Set)]
    pub s3_checksum_pinning: bool,

    /// S3 access key id (falls back to AWS_ACCESS_KEY_ID).
    #[arg(long, env = "STRATA_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,

    /// S3 secret access key (falls back to AWS_SECRET_ACCESS_KEY).
    #[arg(long, env = "STRATA_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<Secret>,

    /// Azure storage account (falls back to AZURE_STORAGE_ACCOUNT_NAME).
    #[arg(long, env = "STRATA_AZURE_ACCOUNT")]
    pub azure_account: Option<String>,

    /// Azure storage account key, which also signs the SAS URLs handed to clients (falls back to
    /// AZURE_STORAGE_ACCOUNT_KEY).
    #[arg(long, env = "STRATA_AZURE_ACCESS_KEY", hide_env_values = true)]
    pub azure_access_key: Option<Secret>,

    /// Azure Blob endpoint including the account for emulators and sovereign clouds, e.g.
    /// http://127.0.0.1:10000/devstoreaccount1 (default: https://<account>.blob.core.windows.net).
    #[arg(long, env = "STRATA_AZURE_ENDPOINT")]
    pub azure_endpoint: Option<String>,

    /// PEM file of the RS256 key that signs JWTs (default: generated at <data-dir>/keys/jwt-rs256.pem).
    #[arg(long, env = "STRATA_JWT_KEY_FILE")]
    pub jwt_key_file: Option<PathBuf>,

    /// `iss` of the JWTs strata issues and accepts (default: the public URL).
    #[arg(long, env = "STRATA_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// `aud` of the JWTs strata issues and accepts.
    #[arg(long, env = "STRATA_JWT_AUDIENCE", default_value = "strata")]
    pub jwt_audience: String,

    /// HMAC keys for signed transfer URLs as `kid=hexsecret`, comma-separated; the first signs,
    /// all verify (default: one generated at <data-dir>/keys/url-signing.key).
    #[arg(
        long,
        env = "STRATA_URL_SIGNING_KEYS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub url_signing_keys: Vec<Secret>,

    /// Lifetime announced for batch actions, in seconds.
    #[arg(long, env = "STRATA_ACTION_TTL", default_value_t = 3600)]
    pub action_ttl_secs: u64,

    /// Most objects accepted in one batch request (more gives 413).
    #[arg(long, env = "STRATA_MAX_BATCH_OBJECTS", default_value_t = 1000)]
    pub max_batch_objects: usize,

    /// Largest JSON request body accepted, in bytes (more gives 413).
    #[arg(long, env = "STRATA_MAX_JSON_BODY", default_value_t = 4 * 1024 * 1024)]
    pub max_json_body: usize,

    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed (comma-separated). Behind
    /// one, the client's address (for login throttling and the audit log) is the last address
    /// the trusted proxies did not add.
    #[arg(long, env = "STRATA_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Who may sign up in the browser.
    #[arg(long, env = "STRATA_SIGNUP", value_enum, default_value = "admin")]
    pub signup: Signup,

    /// Whom the share forms suggest as one types: `organisations` (the people and teams of the
    /// organisations one belongs to) or `everyone` (every account of the server).
    #[arg(
        long,
        env = "STRATA_PEOPLE",
        value_enum,
        default_value = "organisations"
    )]
    pub people: People,

    /// External identity providers people sign in through (OpenID Connect, GitHub) and their
    /// role mapping: a TOML file, read again when it changes (see `docs/accounts.md`).
    #[arg(long, env = "STRATA_OIDC_CONFIG")]
    pub oidc_config: Option<PathBuf>,

    /// Whether people may sign in and sign up with a username and password. `off` leaves the
    /// identity providers as the only way in for browsers; tokens and OAuth clients still work.
    #[arg(long, env = "STRATA_PASSWORD_LOGIN", value_enum, default_value = "on")]
    pub password_login: Switch,
    /// Whether webhooks may point to loopback, private and link-local addresses, and use plain
    /// `http` (for receivers inside your own network). Off, they reach public `https` only.
    #[arg(
        long,
        env = "STRATA_WEBHOOKS_ALLOW_PRIVATE",
        value_enum,
        default_value = "off"
    )]
    pub webhooks_allow_private: Switch,

    /// Whether mirrors may follow remotes on loopback, private and link-local addresses, and
    /// over plain `http` (a strata inside your own network). Off, public `https` only.
    #[arg(
        long,
        env = "STRATA_MIRRORS_ALLOW_PRIVATE",
        value_enum,
        default_value = "off"
    )]
    pub mirrors_allow_private: Switch,

    /// The shortest interval, in seconds, a mirror may ask to be synced at (a remote's webhook
    /// or "sync now" also syncs it sooner).
    #[arg(long, env = "STRATA_MIRROR_MIN_INTERVAL_SECS", default_value_t = 60)]
    pub mirror_min_interval_secs: u64,

    /// Encryption at rest. `on`: objects on the local disk are sealed with their dataset's data
    /// key (AES-256-GCM over 64 KiB chunks; deleting a dataset destroys its key), and a bucket is
    /// asked for its server-side encryption on every write. `strict`: bucket objects are sealed
    /// by strata as well, bytes passing through it.
    #[arg(long, env = "STRATA_ENCRYPTION", value_enum, default_value = "off")]
    pub encryption: Encryption,

    /// With `--encryption on` and S3: SSE-KMS under this KMS key (id, ARN or alias), with an S3
    /// Bucket Key; without it, SSE-S3 (AES256).
    #[arg(long, env = "STRATA_S3_SSE_KMS_KEY_ID")]
    pub s3_sse_kms_key_id: Option<String>,

    /// With `--encryption on` and Azure: the encryption scope every blob must land in. The
    /// container must have it as its default with overrides denied; strata checks at start.
    #[arg(long, env = "STRATA_AZURE_ENCRYPTION_SCOPE")]
    pub azure_encryption_scope: Option<String>,

    /// The master key that wraps the data keys: a file holding 64 hex digits (default:
    /// <data-dir>/keys/master.key, generated on first start). Back it up: without it nothing
    /// sealed can be read.
    #[arg(long, env = "STRATA_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,

    /// The master key itself, 64 hex digits (instead of a file).
    #[arg(long, env = "STRATA_MASTER_KEY", hide_env_values = true, hide = true)]
    pub master_key: Option<Secret>,

    /// How long a browser session lasts, in hours.
    #[arg(long, env = "STRATA_SESSION_TTL_HOURS", default_value_t = 168)]
    pub session_ttl_hours: u64,

    /// Hours a multipart upload may sit untouched before its parts are purged.
    #[arg(long, env = "STRATA_MULTIPART_IDLE_HOURS", default_value_t = 24)]
    pub multipart_idle_hours: u64,

    /// How the drive page sends files: `staged` (through strata, hashed as the parts come) or
    /// `direct` (on a bucket, hashed in the browser and sent straight to the bucket). Sealed
    /// storage takes whole uploads through strata either way.
    #[arg(long, env = "STRATA_BROWSER_UPLOADS", value_enum, default_value_t = BrowserUploads::Staged)]
    pub browser_uploads: BrowserUploads,

    /// Largest object accepted, in bytes (0: no limit).
    #[arg(long, env = "STRATA_MAX_OBJECT_SIZE", default_value_t = 0)]
    pub max_object_size: u64,

    /// Seconds a client has to send a request's headers; slower connections are closed.
    #[arg(long, env = "STRATA_HEADER_TIMEOUT_SECS", default_value_t = 30)]
    pub header_timeout_secs: u64,

    /// Seconds a request body may go without sending anything before it is cut off.
    #[arg(long, env = "STRATA_BODY_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub body_idle_timeout_secs: u64,

    /// Seconds in-flight requests get to finish after a shutdown signal.
    #[arg(long, env = "STRATA_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// Where dataset refs are decided: `git` (the repositories' files; one server) or `sql` (a
    /// ledger in the database; required for several replicas sharing the repositories). `auto`
    /// keeps whichever the database was used with.
    #[arg(long, env = "STRATA_REFS", value_enum, default_value = "auto")]
    pub refs: Refs,

    /// Seconds a stopping strata keeps serving with `/readyz` at 503, so a load balancer takes
    /// it out of rotation before it stops accepting connections.
    #[arg(long, env = "STRATA_DRAIN_DELAY_SECS", default_value_t = 0)]
    pub drain_delay_secs: u64,

    /// The dataset (`ns/name`) whose `.rego` files, at the head of its default branch, are the
    /// governance policies every read is checked against (package `dataapi.authz`, rule `rule`;
    /// see `docs/governance.md`). Unset: no policies.
    #[arg(long, env = "STRATA_POLICY_DATASET")]
    pub policy_dataset: Option<String>,

    /// Stored bytes each namespace (a user's or an organisation's datasets) may hold, unless a
    /// site admin set its own quota; 0: no limit. Unique bytes count: an object in several of a
    /// namespace's datasets counts once.
    #[arg(long, env = "STRATA_QUOTA_BYTES", default_value_t = 0)]
    pub quota_bytes: u64,

    /// How often garbage collection runs (seconds; 0: only when an admin runs it). It deletes
    /// the objects no ref reaches within each dataset's retention (see `docs/storage.md`).
    #[arg(long, env = "STRATA_GC_INTERVAL_SECS", default_value_t = 86400)]
    pub gc_interval_secs: u64,

    /// How often objects that arrived whole (by git-lfs, the browser, the S3 gateway, a job) are
    /// cut into content-defined chunks and kept as their dataset's Xet storage, so that what
    /// changed between versions is stored once (seconds; 0: never). See `docs/storage.md`.
    #[arg(long, env = "STRATA_CHUNKING_INTERVAL_SECS", default_value_t = 10)]
    pub chunking_interval_secs: u64,

    /// The smallest object chunked (bytes): smaller ones stay whole.
    #[arg(long, env = "STRATA_CHUNKING_MIN_BYTES", default_value_t = 1 << 20)]
    pub chunking_min_bytes: u64,

    /// How long an object found unreachable stays before garbage collection deletes it
    /// (seconds): anything that uses it meanwhile keeps it, and so does a push or upload in
    /// flight that long.
    #[arg(long, env = "STRATA_GC_GRACE_SECS", default_value_t = 86400)]
    pub gc_grace_secs: u64,

    /// Where this server processes data: policies see it as `action.processingLocation`
    /// (residency rules compare it with a dataset's `geography`).
    #[arg(long, env = "STRATA_REGION")]
    pub region: Option<String>,

    /// The region the default store (`--storage`) is in, where datasets' bytes are held
    /// (default: `--region`). Needed with `--store`.
    #[arg(long, env = "STRATA_STORAGE_REGION")]
    pub storage_region: Option<String>,

    /// A region store, `NAME=URL` (repeat it; comma-separated in the variable): `s3://bucket/prefix`
    /// or `file:///path`, with `?region=` and for S3 `endpoint=`, `s3_region=`, `path_style=true`.
    /// When this server's `--region` has a store and a policy lets it read a table held in
    /// another region only transformed, the governed view is written there once and read from
    /// there (`docs/governance.md#residency-copies`).
    #[arg(long = "store", env = "STRATA_STORES", value_delimiter = ',')]
    pub stores: Vec<StoreSpec>,

    /// A bucket (or directory) whose objects datasets may adopt without copying, `NAME=URL`
    /// (repeat it; comma-separated in the variable): `s3://bucket/prefix` (with `endpoint=`,
    /// `s3_region=`, `path_style=true`; the default store's S3 credentials) or `file:///path`,
    /// with `?namespace=NS` (repeated) for each namespace whose dataset admins may import from it
    /// (none: site admins only). See `docs/mirrors.md#import-by-reference`.
    #[arg(
        long = "import-source",
        env = "STRATA_IMPORT_SOURCES",
        value_delimiter = ','
    )]
    pub import_sources: Vec<ImportSource>,

    /// Milliseconds one policy evaluation may run; past it the read is denied.
    #[arg(long, env = "STRATA_POLICY_TIMEOUT_MS", default_value_t = 100)]
    pub policy_timeout_ms: u64,

    /// MiB the table engine's queries share (the viewer's pages and statistics, diffs, merges,
    /// contract checks; SQL queries have limits of their own): past it their sorts and groupings
    /// spill to disk, and a query that cannot spill answers 503. At least 16.
    #[arg(long, env = "STRATA_TABLE_MEMORY_MB", default_value_t = 256)]
    pub table_memory_mb: usize,

    /// A directory of app manifests (`*.toml`, see `docs/apps.md`) for the app catalog, beside the
    /// ones admins and engineers add through the API.
    #[arg(long, env = "STRATA_APPS_DIR")]
    pub apps_dir: Option<PathBuf>,

    /// The origin apps are served from (e.g. `https://apps.example.org`, pointing at this
    /// server): an app's scripts then cannot act with the user's strata session. With a
    /// wildcard (`https://*.apps.example.org`) each instance gets an origin of its own, so one
    /// instance's scripts cannot reach another's either. Without it (and without
    /// `--apps-same-origin`) apps are not served.
    #[arg(long, env = "STRATA_APPS_ORIGIN")]
    pub apps_origin: Option<String>,

    /// Serve apps on strata's own origin, under `/apps/{user}/{app}/`. An app's scripts can then
    /// call strata with the visitor's session: only for apps you trust as much as strata.
    #[arg(long, env = "STRATA_APPS_SAME_ORIGIN")]
    pub apps_same_origin: bool,

    /// App instances one user may run at a time (starting, running or paused).
    #[arg(long, env = "STRATA_APPS_MAX_INSTANCES", default_value_t = 3)]
    pub apps_max_instances: usize,

    /// The address space (MiB) of each process-runner instance (`RLIMIT_AS`); 0: no limit.
    /// A user's apps take at most `--apps-max-instances` times this.
    #[arg(long, env = "STRATA_APPS_MEMORY_MB", default_value_t = 0)]
    pub apps_memory_mb: u64,

    /// Sandbox every process-runner app instance with the kernel's Landlock (Linux 6.2 or
    /// later): it can neither read nor write strata's data directory (keys, database,
    /// repositories, objects, other instances' working directories and tokens) or the key and
    /// database files named elsewhere, only its own working directory and its token. Where the
    /// kernel lacks Landlock, process instances do not start. `off` runs them unconfined as
    /// strata's own OS user, able to read its signing key: only for apps trusted as much as
    /// strata itself.
    #[arg(
        long,
        env = "STRATA_APPS_PROCESS_SANDBOX",
        value_enum,
        default_value = "on"
    )]
    pub apps_process_sandbox: Switch,

    /// Seconds an app's token lives; it is renewed (in the file the app re-reads) every third
    /// of that while the instance runs.
    #[arg(long, env = "STRATA_APPS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub apps_token_ttl_secs: u64,

    #[command(flatten)]
    pub jobs: JobsConfig,

    /// Let Kubernetes app manifests name images by tag; without it they must pin a digest
    /// (`image@sha256:…`), so what runs is what the admin reviewed.
    #[arg(long, env = "STRATA_APPS_ALLOW_IMAGE_TAGS")]
    pub apps_allow_image_tags: bool,

    /// Seconds between two looks for idle app instances.
    #[arg(long, env = "STRATA_APPS_CULL_SECS", default_value_t = 5)]
    pub apps_cull_secs: u64,

    /// The Kubernetes namespace where apps with `kind = "kubernetes"` run.
    #[arg(
        long,
        env = "STRATA_APPS_KUBE_NAMESPACE",
        default_value = "strata-apps"
    )]
    pub apps_kube_namespace: String,

    /// The Kubernetes API server for those apps (default: the pod's service account in a
    /// cluster, else `KUBECONFIG`); a URL without credentials, such as `kubectl proxy`'s.
    #[arg(long, env = "STRATA_APPS_KUBE_URL")]
    pub apps_kube_url: Option<String>,

    /// The labels of strata's own pods (`key=value,…`): each app instance gets a NetworkPolicy
    /// admitting only pods with them, so nothing in the cluster reaches an app around the proxy.
    #[arg(
        long,
        env = "STRATA_APPS_KUBE_PROXY_LABELS",
        default_value = "app.kubernetes.io/name=strata"
    )]
    pub apps_kube_proxy_labels: String,

    /// The StorageClass of Kubernetes app instances' home volumes (default: the cluster's
    /// default class). Name an encrypted one to keep each user's app storage private at rest.
    #[arg(long, env = "STRATA_APPS_KUBE_STORAGE_CLASS")]
    pub apps_kube_storage_class: Option<String>,
}

impl Config {
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn repos_dir(&self) -> PathBuf {
        self.repos_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("repos"))
    }

    /// The region of the default store: `--storage-region`, or else `--region`.
    pub fn storage_region(&self) -> Option<&str> {
        self.storage_region.as_deref().or(self.region.as_deref())
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .as_deref()
            .map(str::to_owned)
            .unwrap_or_else(|| {
                format!(
                    "sqlite://{}?mode=rwc",
                    self.data_dir.join("strata.db").display()
                )
            })
    }
}

impl Config {
    /// A configuration with every default, rooted at `data_dir` (used by tests and tools).
    pub fn with_data_dir(data_dir: impl Into<std::path::PathBuf>) -> Config {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            config: Config,
        }
        let mut config = <Defaults as clap::Parser>::parse_from(["strata"]).config;
        config.data_dir = data_dir.into();
        config
    }
}

#[cfg(test)]
mod tests;
