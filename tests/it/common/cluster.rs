//! Several strata processes (the real binary) on one database, the test S3 server and one shared
//! repositories directory, with `--refs sql`, behind NGINX (Debian's `nginx`) as the load
//! balancer: what the Helm chart runs, on one machine. Replicas can be killed (SIGKILL), stopped
//! (SIGTERM, drained) and started again on their port. [`Nginx`] alone fronts any server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{database_url, s3, shared_jwt_key};

pub struct Cluster {
    /// NGINX's URL: what clients use.
    pub url: String,
    pub ports: Vec<u16>,
    pub token: String,
    pub dir: tempfile::TempDir,
    pub s3: s3::S3Server,
    replicas: Vec<Option<Child>>,
    _nginx: Nginx,
    database_url: String,
    signing_key: String,
}

/// A port nothing listens on now, for a server started as its own process. It is drawn below
/// the kernel's ephemeral range where that range leaves room: a port the kernel hands out for
/// `127.0.0.1:0` (what every in-process server of the suite binds) could be given to another
/// test between this answer and the process's bind, and the process would then fail to listen
/// while its URL reached that other test's server.
pub fn free_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(0);
    if low > 12_000 {
        use std::hash::{BuildHasher, Hasher};
        for _ in 0..200 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            h.write_u128(now.map_or(0, |d| d.as_nanos()));
            let port = (10_000 + h.finish() % u64::from(low - 10_000)) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nginx_bin() -> PathBuf {
    let bin = PathBuf::from("/usr/sbin/nginx");
    assert!(
        bin.exists(),
        "nginx is not installed: run scripts/test.sh, which installs it, or apt-get install nginx"
    );
    bin
}

async fn wait_for(url: &str, want: u16) {
    let started = std::time::Instant::now();
    loop {
        if let Ok(r) = reqwest::get(url).await {
            if r.status().as_u16() == want {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{url} never answered {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Cluster {
    /// `n` replicas behind NGINX, a user `alice` (token in `token`) and her dataset `alice/data`.
    pub async fn start(n: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let s3 = s3::S3Server::start().await;
        let database_url = database_url(dir.path()).await;
        std::fs::write(dir.path().join("jwt.pem"), shared_jwt_key()).unwrap();
        std::fs::create_dir_all(dir.path().join("repos")).unwrap();
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let nginx = Nginx::start(dir.path(), &ports).await;
        let url = nginx.url.clone();
        let mut cluster = Cluster {
            url,
            ports: ports.clone(),
            token: String::new(),
            replicas: (0..n).map(|_| None).collect(),
            _nginx: nginx,
            dir,
            s3,
            database_url,
            signing_key: format!("k1={}", hex::encode(rand_bytes())),
        };
        for i in 0..n {
            cluster.start_replica(i).await;
        }
        wait_for(&format!("{}/livez", cluster.url), 200).await;
        // The first user and dataset, through the library on the same database.
        let state = strata::AppState::build(&cluster.config("admin"))
            .await
            .unwrap();
        strata::cli::admin::create_user(&state, "alice", None, false)
            .await
            .unwrap();
        cluster.token = strata::cli::admin::create_token(&state, "alice", "test", "*", None)
            .await
            .unwrap();
        state.db.close().await;
        cluster
    }

    /// The configuration replica `name` runs with (its own data directory, shared repositories).
    fn config(&self, name: &str) -> strata_core::config::Config {
        let mut c = strata_core::config::Config::with_data_dir(self.dir.path().join(name));
        c.public_url = Some(self.url.clone());
        c.database_url = Some(self.database_url.clone().into());
        c.repos_dir = Some(self.dir.path().join("repos"));
        c.jwt_key_file = Some(self.dir.path().join("jwt.pem"));
        c.url_signing_keys = vec![self.signing_key.clone().into()];
        c.refs = strata_core::config::Refs::Sql;
        c.storage = strata_core::config::StorageBackend::S3;
        c.bucket = Some(self.s3.bucket.clone());
        c.s3_endpoint = Some(self.s3.endpoint.clone());
        c.s3_path_style = true;
        c.s3_access_key_id = Some(s3::ACCESS_KEY.into());
        c.s3_secret_access_key = Some(s3::SECRET_KEY.into());
        c
    }

    /// Starts replica `i` on its port and waits until it is ready.
    pub async fn start_replica(&mut self, i: usize) {
        let port = self.ports[i];
        let data = self.dir.path().join(format!("replica-{i}"));
        let log = std::fs::File::create(self.dir.path().join(format!("replica-{i}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("STRATA_LISTEN", format!("127.0.0.1:{port}"))
            .env("STRATA_PUBLIC_URL", &self.url)
            .env("STRATA_DATA_DIR", &data)
            .env("STRATA_DATABASE_URL", &self.database_url)
            .env("STRATA_REPOS_DIR", self.dir.path().join("repos"))
            .env("STRATA_JWT_KEY_FILE", self.dir.path().join("jwt.pem"))
            .env("STRATA_URL_SIGNING_KEYS", &self.signing_key)
            .env("STRATA_REFS", "sql")
            .env("STRATA_STORAGE", "s3")
            .env("STRATA_BUCKET", &self.s3.bucket)
            .env("STRATA_S3_ENDPOINT", &self.s3.endpoint)
            .env("STRATA_S3_PATH_STYLE", "true")
            .env("STRATA_S3_ACCESS_KEY_ID", s3::ACCESS_KEY)
            .env("STRATA_S3_SECRET_ACCESS_KEY", s3::SECRET_KEY)
            .env("STRATA_DRAIN_DELAY_SECS", "1")
            .env("STRATA_SHUTDOWN_GRACE_SECS", "30")
            .env("STRATA_LOG", "warn")
            // Webhooks to the tests' receiver on loopback.
            .env("STRATA_WEBHOOKS_ALLOW_PRIVATE", "on")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("strata starts");
        self.replicas[i] = Some(child);
        wait_for(&format!("http://127.0.0.1:{port}/readyz"), 200).await;
    }

    /// SIGKILL: the replica dies at once, whatever it was doing.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.replicas[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the replica to drain and exit.
    pub async fn stop(&mut self, i: usize) {
        if let Some(mut child) = self.replicas[i].take() {
            let sent = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
            tokio::task::spawn_blocking(move || child.wait())
                .await
                .unwrap()
                .unwrap();
        }
    }

    /// Replica `i`'s own URL (not through NGINX).
    pub fn replica_url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }
}

/// NGINX (Debian's `nginx`, not a daemon, its own prefix and temporary directories) in front of
/// `upstreams`, set up as the Helm chart's ingress annotations set up ingress-nginx: no body
/// size limit, request and response bodies streamed (`proxy_request_buffering off`,
/// `proxy_buffering off`), HTTP/1.1 to the upstreams.
pub struct Nginx {
    /// NGINX's URL: what clients use.
    pub url: String,
    dir: PathBuf,
    child: Child,
}

impl Nginx {
    /// Starts NGINX on a free port with `dir` as its prefix, and waits until it accepts.
    pub async fn start(dir: &Path, upstreams: &[u16]) -> Nginx {
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        let servers: String = upstreams
            .iter()
            .map(|p| format!("    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;\n"))
            .collect();
        let d = dir.display();
        // As root, workers would switch to `nobody`; they keep root's rights on the temp files.
        use std::os::unix::fs::MetadataExt;
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        let user = if root { "user root;\n" } else { "" };
        let conf = format!(
            "{user}daemon off;\nworker_processes 2;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/nginx-body;\n  proxy_temp_path {d}/nginx-proxy;\n\
             fastcgi_temp_path {d}/nginx-fcgi;\n  uwsgi_temp_path {d}/nginx-uwsgi;\n  scgi_temp_path {d}/nginx-scgi;\n\
             upstream strata {{\n{servers}  }}\n\
             server {{\n    listen 127.0.0.1:{port};\n    client_max_body_size 0;\n    proxy_request_buffering off;\n\
             proxy_buffering off;\n    proxy_read_timeout 300s;\n\
             location / {{\n      proxy_pass http://strata;\n      proxy_http_version 1.1;\n\
             proxy_set_header Host $http_host;\n      proxy_set_header Connection \"\";\n\
             proxy_next_upstream error timeout http_502;\n    }}\n  }}\n}}\n"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new(nginx_bin())
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let started = std::time::Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "nginx never listened on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Nginx {
            url: format!("http://127.0.0.1:{port}"),
            dir: dir.to_owned(),
            child,
        }
    }

    /// What NGINX logged (warnings and errors).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nginx-error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    for (i, x) in uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(uuid::Uuid::new_v4().as_bytes())
        .enumerate()
    {
        b[i] = *x;
    }
    b
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.replicas.len() {
            self.kill(i);
        }
    }
}
