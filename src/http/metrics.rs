//! Prometheus metrics (`/metrics`, OpenMetrics text): requests by route and status with latency
//! histograms, LFS objects and bytes by operation and backend, verification failures, git
//! operations, the database pool, what is stored (objects, bytes, namespaces near their quota). Labels carry route templates (`/{ns}/{repo}/…`), never names
//! of users or datasets, so the page says how busy strata is, not who uses it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LfsLabels {
    operation: String,
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GitLabels {
    service: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    backend: String,
    database: String,
}

/// Mirrors by state, and the lag of the one furthest behind (`strata_core::mirrors::figures`).
pub type MirrorFigures = (Vec<(String, i64)>, i64);

/// The server's metrics, registered once at start-up.
pub struct Metrics {
    registry: Registry,
    backend: String,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    lfs_objects: Family<LfsLabels, Counter>,
    lfs_bytes: Family<LfsLabels, Counter>,
    verify_failures: Family<BackendLabels, Counter>,
    git: Family<GitLabels, Counter>,
    pool: Family<PoolLabels, Gauge>,
    apps: Family<PoolLabels, Gauge>,
    stored_objects: Gauge,
    stored_bytes: Gauge,
    xet_stored: Gauge,
    xet_files: Gauge,
    near_quota: Gauge,
    views_ahead: Family<OutcomeLabels, Counter>,
    mirror_syncs: Family<OutcomeLabels, Counter>,
    mirror_objects: Counter,
    mirror_bytes: Counter,
    mirrors: Family<PoolLabels, Gauge>,
    mirror_lag: Gauge,
    /// When the storage totals were last read (they are read at most once a minute).
    storage_read: std::sync::Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// `backend` is the object store's name (`local`, `s3`…), `database` the engine's.
    pub fn new(backend: &str, database: &str) -> Metrics {
        let mut registry = Registry::with_prefix("strata");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 1 ms to ~65 s.
            Histogram::new(exponential_buckets(0.001, 2.0, 17))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (until its headers; streamed bodies go on after)",
            durations.clone(),
        );
        let lfs_objects = Family::<LfsLabels, Counter>::default();
        registry.register(
            "lfs_objects",
            "LFS objects given transfer actions by the batch API, by operation and backend",
            lfs_objects.clone(),
        );
        let lfs_bytes = Family::<LfsLabels, Counter>::default();
        registry.register(
            "lfs_bytes",
            "Bytes of the LFS objects given transfer actions, by operation and backend",
            lfs_bytes.clone(),
        );
        let verify_failures = Family::<BackendLabels, Counter>::default();
        registry.register(
            "lfs_verify_failures",
            "Uploads refused because their bytes did not match their oid or size",
            verify_failures.clone(),
        );
        let git = Family::<GitLabels, Counter>::default();
        registry.register(
            "git_operations",
            "git smart HTTP requests (info/refs, upload-pack, receive-pack) by outcome",
            git.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections, by state (idle, in use) and the pool's maximum",
            pool.clone(),
        );
        let apps = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "app_instances",
            "App instances on this replica, by state (starting, running, paused, failed)",
            apps.clone(),
        );
        let stored_objects = Gauge::default();
        registry.register(
            "storage_objects",
            "LFS objects stored (each once, however many datasets link it)",
            stored_objects.clone(),
        );
        let stored_bytes = Gauge::default();
        registry.register(
            "storage_bytes",
            "Bytes of the LFS objects stored (each once)",
            stored_bytes.clone(),
        );
        let xet_stored = Gauge::default();
        registry.register(
            "xet_stored_bytes",
            "Bytes of the xorbs of datasets' Xet storage (each chunk once per dataset)",
            xet_stored.clone(),
        );
        let xet_files = Gauge::default();
        registry.register(
            "xet_file_bytes",
            "Bytes of the files those chunks make (over xet_stored_bytes: the dedup ratio)",
            xet_files.clone(),
        );
        let near_quota = Gauge::default();
        registry.register(
            "storage_namespaces_near_quota",
            "Namespaces holding at least 90 % of their storage quota",
            near_quota.clone(),
        );
        let views_ahead = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "table_views_ahead",
            "Table views of new revisions made ahead of their first reader, by outcome: made, \
             found made already, failed (left for the first reader), retried",
            views_ahead.clone(),
        );
        let mirror_syncs = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "mirror_syncs",
            "Mirror syncs run here, by outcome: moved (refs moved), unchanged, failed",
            mirror_syncs.clone(),
        );
        let mirror_objects = Counter::default();
        registry.register(
            "mirror_objects",
            "LFS objects mirror syncs fetched and stored",
            mirror_objects.clone(),
        );
        let mirror_bytes = Counter::default();
        registry.register(
            "mirror_bytes",
            "Bytes of LFS objects mirror syncs fetched and stored",
            mirror_bytes.clone(),
        );
        let mirrors = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "mirrors",
            "Mirrors, by state: new, ok, failed, paused",
            mirrors.clone(),
        );
        let mirror_lag = Gauge::default();
        registry.register(
            "mirror_lag_seconds",
            "How long the mirror furthest behind its remote has failed to catch up (0: none)",
            mirror_lag.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                backend: backend.to_owned(),
                database: database.to_owned(),
            })
            .set(1);
        registry.register("build_info", "strata's version and setup", build);
        Metrics {
            registry,
            backend: backend.to_owned(),
            requests,
            durations,
            lfs_objects,
            lfs_bytes,
            verify_failures,
            git,
            pool,
            apps,
            stored_objects,
            stored_bytes,
            xet_stored,
            xet_files,
            near_quota,
            views_ahead,
            mirror_syncs,
            mirror_objects,
            mirror_bytes,
            mirrors,
            mirror_lag,
            storage_read: Default::default(),
        }
    }

    /// One HTTP request answered.
    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let (method, route) = (method.to_owned(), route.to_owned());
        self.durations
            .get_or_create(&RouteLabels {
                method: method.clone(),
                route: route.clone(),
            })
            .observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }

    /// `objects` of `bytes` in all given actions for `operation` (`upload`, `download`).
    pub fn lfs(&self, operation: &str, objects: u64, bytes: u64) {
        let labels = LfsLabels {
            operation: operation.to_owned(),
            backend: self.backend.clone(),
        };
        self.lfs_objects.get_or_create(&labels).inc_by(objects);
        self.lfs_bytes.get_or_create(&labels).inc_by(bytes);
    }

    /// Counts an upload the storage refused for its bytes (a wrong size or hash: 422, 413).
    pub fn count_refusal(&self, e: &strata_core::error::Error) {
        use strata_core::error::Kind;
        if matches!(e.kind, Kind::Invalid | Kind::TooLarge) {
            self.verify_failed();
        }
    }

    /// An upload refused because its bytes did not match.
    pub fn verify_failed(&self) {
        self.verify_failures
            .get_or_create(&BackendLabels {
                backend: self.backend.clone(),
            })
            .inc();
    }

    /// A git smart HTTP request for `service`, `ok` or not.
    pub fn git(&self, service: &str, ok: bool) {
        self.git
            .get_or_create(&GitLabels {
                service: service.to_owned(),
                outcome: if ok { "ok" } else { "error" }.to_owned(),
            })
            .inc();
    }

    /// Whether the storage totals are due to be read again (at most once a minute: they count
    /// every object), noting that they are.
    pub fn storage_due(&self) -> bool {
        let mut last = self.storage_read.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(60));
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }

    /// The metrics as OpenMetrics text, with the pool's state (`idle`, `in_use`, `max`), the
    /// app instances by state, the views made ahead of time and the storage totals (when they
    /// could be read) read now.
    pub fn encode(
        &self,
        pool: (u32, u32, u32),
        apps: &[(&str, usize)],
        ahead: strata_core::tables::ahead::Figures,
        storage: Option<strata_core::quotas::Totals>,
        mirrors: (&strata_core::mirrors::sync::Counts, Option<MirrorFigures>),
    ) -> String {
        let (counts, figures) = mirrors;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        for (outcome, n) in [
            ("moved", load(&counts.moved)),
            ("unchanged", load(&counts.unchanged)),
            ("failed", load(&counts.failed)),
        ] {
            self.mirror_syncs
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.to_owned(),
                })
                .inner()
                .store(n, std::sync::atomic::Ordering::Relaxed);
        }
        self.mirror_objects
            .inner()
            .store(load(&counts.objects), std::sync::atomic::Ordering::Relaxed);
        self.mirror_bytes
            .inner()
            .store(load(&counts.bytes), std::sync::atomic::Ordering::Relaxed);
        if let Some((states, lag)) = figures {
            for (state, n) in states {
                self.mirrors.get_or_create(&PoolLabels { state }).set(n);
            }
            self.mirror_lag.set(lag);
        }
        for (outcome, n) in [
            ("made", ahead.made),
            ("found", ahead.found),
            ("failed", ahead.failed),
            ("retried", ahead.retried),
        ] {
            // The core counts; the counter shows its count.
            self.views_ahead
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.to_owned(),
                })
                .inner()
                .store(n, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(t) = storage {
            self.stored_objects.set(t.objects as i64);
            self.stored_bytes.set(t.bytes as i64);
            self.xet_stored.set(t.xet_stored as i64);
            self.xet_files.set(t.xet_files as i64);
            self.near_quota.set(t.near_quota as i64);
        }
        for (state, n) in apps {
            self.apps
                .get_or_create(&PoolLabels {
                    state: (*state).to_owned(),
                })
                .set(*n as i64);
        }
        let (size, idle, max) = pool;
        for (state, n) in [
            ("idle", idle),
            ("in_use", size.saturating_sub(idle)),
            ("max", max),
        ] {
            self.pool
                .get_or_create(&PoolLabels {
                    state: state.to_owned(),
                })
                .set(n as i64);
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
