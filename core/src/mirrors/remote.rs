//! A mirror's remote: git fetched by the `git` CLI into a staging repository, and LFS objects
//! downloaded through the remote's batch API. Every connection goes to addresses checked as a
//! webhook's are: git is pinned to the addresses checked (`http.curloptResolve`, no second
//! lookup to race), follows no redirect, speaks `https` only (plain `http` only where private
//! addresses are allowed), and checks every object it receives; the LFS client resolves
//! through the checked resolver and checks every redirect. Credentials reach git through its
//! environment (never its arguments, which anyone on the machine may read), and go only to the
//! remote's own git and batch URLs: a download is sent the headers its batch answer gave.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use strata_lfs::Oid;

use crate::config::Secret;
use crate::error::{Error, Kind, Result};
use crate::targets::Targets;

/// The longest a fetch may take.
const FETCH_DEADLINE: Duration = Duration::from_secs(3600);
/// The most bytes of git objects one fetch may bring.
pub const MAX_FETCH_BYTES: u64 = 1 << 30;
/// The largest batch answer read.
const MAX_BATCH_ANSWER: usize = 16 << 20;
/// Objects asked for in one batch request.
pub const BATCH: usize = 100;

pub(super) fn upstream(message: impl Into<String>) -> Error {
    Error::new(Kind::Upstream, message)
}

/// The LFS endpoint of git URL `url`, unless `explicit` names one (git-lfs's rule).
pub fn lfs_url(url: &str, explicit: Option<&str>) -> String {
    if let Some(e) = explicit {
        return e.trim_end_matches('/').to_owned();
    }
    let url = url.trim_end_matches('/');
    if url.ends_with(".git") {
        format!("{url}/info/lfs")
    } else {
        format!("{url}.git/info/lfs")
    }
}

/// The `Authorization` value for a token, or a user name and password.
pub fn authorization(
    token: Option<&str>,
    username: Option<&str>,
    password: Option<&str>,
) -> Result<Option<String>> {
    let bad = |what: &str| Error::unprocessable(format!("{what} may not hold line breaks"));
    match (token, username, password) {
        (None, None, None) => Ok(None),
        (Some(t), None, None) if !t.is_empty() => {
            if t.contains(['\r', '\n']) {
                return Err(bad("token"));
            }
            Ok(Some(format!("Bearer {t}")))
        }
        (None, user, Some(p)) => {
            let user = user.unwrap_or("strata");
            if user.contains(':') || user.contains(['\r', '\n']) {
                return Err(Error::unprocessable(
                    "username may not hold ':' or line breaks",
                ));
            }
            let raw = format!("{user}:{p}");
            let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
            Ok(Some(format!("Basic {b64}")))
        }
        _ => Err(Error::unprocessable(
            "credentials: a token, or a password (with a username), not both",
        )),
    }
}

/// A remote, ready to be reached.
pub struct Remote {
    pub url: String,
    pub lfs: String,
    pub(super) auth: Option<Secret>,
    pub(super) targets: Targets,
    /// `host:port:address,…` for git: the addresses checked.
    pins: String,
    pub(super) client: reqwest::Client,
}

impl Remote {
    /// Checks `url` and `lfs` and resolves the git URL's host to addresses that may be reached.
    pub async fn new(
        url: &str,
        lfs: Option<&str>,
        auth: Option<Secret>,
        targets: Targets,
    ) -> Result<Remote> {
        let parsed = targets
            .check_url(url)
            .map_err(|e| upstream(format!("the remote: {e}")))?;
        let lfs = lfs_url(url, lfs);
        targets
            .check_url(&lfs)
            .map_err(|e| upstream(format!("the LFS endpoint: {e}")))?;
        let host = parsed
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addresses = targets.addresses(&host, port).await.map_err(upstream)?;
        let list: Vec<String> = addresses
            .iter()
            .map(|a| match a.ip() {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            })
            .collect();
        let pins = format!(
            "{}:{port}:{}",
            parsed.host_str().unwrap_or_default(),
            list.join(",")
        );
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 3 {
                attempt.error("more than 3 redirects")
            } else if let Err(e) = targets.check_url(attempt.url().as_str()) {
                attempt.error(e)
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .redirect(redirects)
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .user_agent("strata-mirror")
            .dns_resolver(targets.resolver())
            .build()
            .map_err(Error::internal)?;
        Ok(Remote {
            url: url.to_owned(),
            lfs,
            auth,
            targets,
            pins,
            client,
        })
    }

    /// A `git` command that reads no configuration but its own, asks nobody for credentials,
    /// uses no proxy, and reaches the remote only at the addresses checked.
    pub(super) fn git(&self, home: &Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("git");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "/bin/false")
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut config: Vec<(&str, String)> = vec![
            ("http.curloptResolve", self.pins.clone()),
            ("http.followRedirects", "false".into()),
            ("http.lowSpeedLimit", "1000".into()),
            ("http.lowSpeedTime", "60".into()),
            ("protocol.allow", "never".into()),
            ("protocol.https.allow", "always".into()),
            ("fetch.fsckObjects", "true".into()),
            ("credential.helper", "".into()),
            ("core.hooksPath", "/dev/null".into()),
        ];
        if self.targets.allow_private {
            config.push(("protocol.http.allow", "always".into()));
        }
        if let Some(auth) = &self.auth {
            config.push(("http.extraHeader", format!("Authorization: {}", &**auth)));
        }
        cmd.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (n, (k, v)) in config.into_iter().enumerate() {
            cmd.env(format!("GIT_CONFIG_KEY_{n}"), k);
            cmd.env(format!("GIT_CONFIG_VALUE_{n}"), v);
        }
        cmd
    }

    /// Fetches the remote's branches and tags into `staging` (a bare repository), pruning
    /// those it no longer has. Refused past the deadline or [`MAX_FETCH_BYTES`].
    pub async fn fetch(&self, staging: &Path, home: &Path) -> Result<()> {
        let mut cmd = self.git(home);
        cmd.arg("-C").arg(staging).args([
            "fetch",
            "--prune",
            "--no-tags",
            "--no-write-fetch-head",
            "--quiet",
            &self.url,
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
        ]);
        let mut child = cmd.spawn().map_err(Error::internal)?;
        let mut stderr = child.stderr.take().expect("piped");
        let errors = tokio::spawn(async move {
            let mut out = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut stderr, &mut out).await;
            out
        });
        let objects = staging.join("objects");
        let started = tokio::time::Instant::now();
        let status = loop {
            tokio::select! {
                status = child.wait() => break status.map_err(Error::internal)?,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            if started.elapsed() > FETCH_DEADLINE {
                let _ = child.kill().await;
                return Err(upstream(
                    "the remote took longer than an hour to fetch from",
                ));
            }
            if dir_size(&objects) > MAX_FETCH_BYTES {
                let _ = child.kill().await;
                return Err(upstream(format!(
                    "the remote sent more than {MAX_FETCH_BYTES} bytes of git objects"
                )));
            }
        };
        let errors = errors.await.unwrap_or_default();
        if !status.success() {
            let text = String::from_utf8_lossy(&errors);
            let text: String = text.lines().take(5).collect::<Vec<_>>().join("; ");
            return Err(upstream(format!(
                "git fetch from the remote failed: {text}"
            )));
        }
        Ok(())
    }

    /// The objects of the remote's batch answer to `operation` (`download`, `upload`) on
    /// `objects`: read up to [`MAX_BATCH_ANSWER`] bytes, refused unless it speaks `basic`.
    pub(super) async fn batch_answer(
        &self,
        operation: &str,
        objects: &[(Oid, u64)],
    ) -> Result<Vec<Value>> {
        let body = json!({
            "operation": operation,
            "transfers": ["basic"],
            "hash_algo": "sha256",
            "objects": objects.iter().map(|(o, s)| json!({"oid": o.to_string(), "size": s})).collect::<Vec<_>>(),
        });
        let mut req = self
            .client
            .post(format!("{}/objects/batch", self.lfs))
            .header("Accept", "application/vnd.git-lfs+json")
            .header("Content-Type", "application/vnd.git-lfs+json")
            .body(body.to_string());
        if let Some(auth) = &self.auth {
            req = req.header("Authorization", &**auth);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| upstream(format!("the remote's LFS batch API: {e}")))?;
        let status = resp.status();
        let answer = read_capped(resp, MAX_BATCH_ANSWER).await?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&answer[..answer.len().min(300)]).into_owned();
            return Err(upstream(format!(
                "the remote's LFS batch API answered {status}: {text}"
            )));
        }
        let answer: Value = serde_json::from_slice(&answer)
            .map_err(|e| upstream(format!("the remote's LFS batch answer is not JSON: {e}")))?;
        if let Some(t) = answer.get("transfer").and_then(Value::as_str) {
            if t != "basic" {
                return Err(upstream(format!(
                    "the remote answered with transfer {t:?}: only basic is spoken"
                )));
            }
        }
        Ok(answer
            .get("objects")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// Where to download each of `objects` from, asked of the remote's batch API.
    pub async fn batch(&self, objects: &[(Oid, u64)]) -> Result<Vec<Download>> {
        let listed = self.batch_answer("download", objects).await?;
        let mut out = Vec::with_capacity(objects.len());
        for (oid, size) in objects {
            let key = oid.to_string();
            let Some(o) = listed
                .iter()
                .find(|o| o.get("oid").and_then(Value::as_str) == Some(&key))
            else {
                return Err(upstream(format!(
                    "the remote's batch answer does not list {oid}"
                )));
            };
            if let Some(e) = o.get("error") {
                let msg = e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message");
                return Err(upstream(format!("the remote cannot send {oid}: {msg}")));
            }
            let Some(action) = o.pointer("/actions/download") else {
                return Err(upstream(format!("the remote gave no download for {oid}")));
            };
            let href = action
                .get("href")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            self.targets
                .check_url(&href)
                .map_err(|e| upstream(format!("the download of {oid}: {e}")))?;
            let headers = action
                .get("header")
                .and_then(Value::as_object)
                .map(|h| {
                    h.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default();
            out.push(Download {
                oid: *oid,
                size: *size,
                href,
                headers,
            });
        }
        Ok(out)
    }

    /// The bytes of `d`, as a stream (checked by whoever stores them).
    pub async fn open(
        &self,
        d: &Download,
    ) -> Result<impl futures_util::Stream<Item = std::result::Result<Bytes, String>> + use<>> {
        let mut req = self.client.get(&d.href);
        for (k, v) in &d.headers {
            req = req.header(k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| upstream(format!("downloading {}: {e}", d.oid)))?;
        if !resp.status().is_success() {
            return Err(upstream(format!(
                "downloading {}: the remote answered {}",
                d.oid,
                resp.status()
            )));
        }
        Ok(
            futures_util::stream::try_unfold(resp, |mut resp| async move {
                match resp.chunk().await {
                    Ok(Some(piece)) => Ok(Some((piece, resp))),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e.to_string()),
                }
            })
            .into_stream()
            .boxed(),
        )
    }
}

/// One object to download.
#[derive(Debug, Clone)]
pub struct Download {
    pub oid: Oid,
    pub size: u64,
    href: String,
    headers: Vec<(String, String)>,
}

async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(piece) = resp
        .chunk()
        .await
        .map_err(|e| upstream(format!("reading the remote's answer: {e}")))?
    {
        if out.len() + piece.len() > limit {
            return Err(upstream(format!(
                "the remote's answer is larger than {limit} bytes"
            )));
        }
        out.extend_from_slice(&piece);
    }
    Ok(out)
}

/// The bytes of the files under `dir` (what a running fetch has written so far).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}
