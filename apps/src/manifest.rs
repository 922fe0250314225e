//! An app's manifest: what it is, how to run it, what it needs.
//!
//! ```toml
//! id = "jupyter"
//! name = "JupyterLab"
//! description = "Notebooks next to your data"
//! version = "4.4"
//! prefix = "keep"            # keep: the app serves under its base URL; strip: it serves at /
//! health = "/api"            # polled (under the base URL) until it answers
//! start_timeout_secs = 60
//! idle_timeout_secs = 900
//! scopes = ["dataset:*:read"]
//! opens = ["csv", "ipynb"]   # file types it can open
//! open = "/lab"              # where "open with" goes ({dataset}, {path}, {rev}, {file_url})
//! on_idle = "stop"           # or "pause" (SIGSTOP, resumed on the next request)
//!
//! [runner]
//! kind = "process"
//! command = "jupyter-lab"
//! args = ["--port={port}", "--ServerApp.base_url={base_url}"]
//! env = { JUPYTER_TOKEN = "" }
//! ```
//!
//! A Kubernetes runner names `image`, `port` and optionally `cpu` and `memory` instead.

use std::collections::BTreeMap;

use serde::Deserialize;

/// How the app wants its path prefix (`/apps/{user}/{app}/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Prefix {
    /// The app is told its base URL and serves under it (Jupyter's `base_url`).
    Keep,
    /// The prefix is stripped before the request reaches the app, and its redirects are
    /// rewritten: for simple apps that serve at `/`.
    Strip,
}

/// How an instance runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Runner {
    /// A process on this machine. `args`, `env` values and `workdir` may use `{port}`,
    /// `{base_url}`, `{home}` (the instance's persistent working directory), `{api_url}` and
    /// `{token_file}`.
    Process {
        command: String,
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
        workdir: Option<String>,
        /// The sha256 of the executable `command` names (lower-case hex): an instance starts
        /// only from an executable that hashes to it.
        #[serde(default)]
        sha256: Option<String>,
    },
    /// A Deployment and Service per (user, app), scaled between 0 and 1.
    Kubernetes {
        image: String,
        port: u16,
        cpu: Option<String>,
        memory: Option<String>,
    },
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub version: String,
    pub runner: Runner,
    #[serde(default = "keep")]
    pub prefix: Prefix,
    #[serde(default = "root")]
    pub health: String,
    #[serde(default = "sixty")]
    pub start_timeout_secs: u64,
    #[serde(default = "fifteen_minutes")]
    pub idle_timeout_secs: u64,
    /// The strata scopes its token carries, which the user consents to at install.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// File types (extensions, lower case, without the dot) it can open.
    #[serde(default)]
    pub opens: Vec<String>,
    /// Where "open with" sends the browser, under the app's prefix: a path and query that may
    /// use `{dataset}` (`ns/name`), `{path}`, `{rev}` and `{file_url}` (the file's URL in
    /// strata's API), each URL-encoded.
    #[serde(default = "root")]
    pub open: String,
    /// What an idle instance becomes: `stop` (default) or `pause`.
    #[serde(default)]
    pub on_idle: crate::lifecycle::OnIdle,
    /// Platform roles mapped to the app's, who may install it, its OAuth client.
    #[serde(default)]
    pub roles: crate::access::Roles,
    /// The intent, datasets and protocol it declares (policies see them).
    #[serde(default)]
    pub workload: Option<crate::access::Workload>,
}

fn keep() -> Prefix {
    Prefix::Keep
}
fn root() -> String {
    "/".into()
}
fn sixty() -> u64 {
    60
}
fn fifteen_minutes() -> u64 {
    900
}

/// Why a manifest is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("app manifest: {0}")]
pub struct ManifestError(pub String);

/// The placeholders runner strings may use.
pub const PLACEHOLDERS: [&str; 5] = ["port", "base_url", "home", "api_url", "token_file"];

impl Manifest {
    /// Parses and validates a manifest.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let m: Manifest = basic_toml::from_str(text).map_err(|e| ManifestError(e.to_string()))?;
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<(), ManifestError> {
        let bad = |m: String| Err(ManifestError(m));
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 40
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !self.id.starts_with('-');
        if !id_ok {
            return bad(format!(
                "id {:?} must be 1 to 40 of a-z, 0-9 and -, not starting with -",
                self.id
            ));
        }
        if self.name.trim().is_empty() {
            return bad("name must not be empty".into());
        }
        if !self.health.starts_with('/') {
            return bad(format!(
                "health {:?} must be a path starting with /",
                self.health
            ));
        }
        if !(1..=3600).contains(&self.start_timeout_secs) {
            return bad("start_timeout_secs must be 1 to 3600".into());
        }
        if self.idle_timeout_secs < 5 {
            return bad("idle_timeout_secs must be at least 5".into());
        }
        if !self.open.starts_with('/') {
            return bad(format!("open {:?} must start with /", self.open));
        }
        check_names(&self.open, &OPEN_PLACEHOLDERS)?;
        self.roles.check()?;
        if let Some(w) = &self.workload {
            w.check()?;
        }
        for ext in &self.opens {
            if ext.is_empty()
                || !ext
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                return bad(format!(
                    "opens: {ext:?} is not a lower-case file extension without a dot"
                ));
            }
        }
        match &self.runner {
            Runner::Process {
                command,
                args,
                env,
                workdir,
                sha256,
            } => {
                if sha256.as_deref().is_some_and(|h| !is_sha256(h)) {
                    return bad("runner.sha256 must be 64 lower-case hex digits".into());
                }
                if command.trim().is_empty() {
                    return bad("runner.command must not be empty".into());
                }
                let strings = args
                    .iter()
                    .chain(env.values())
                    .chain(workdir.iter())
                    .chain(std::iter::once(command));
                for s in strings {
                    check_placeholders(s)?;
                }
                for k in env.keys() {
                    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                        return bad(format!("runner.env: {k:?} is not a variable name"));
                    }
                    if k.starts_with("STRATA_") {
                        return bad(format!("runner.env: {k} is set by strata itself"));
                    }
                }
            }
            Runner::Kubernetes { image, port, .. } => {
                if image.trim().is_empty() {
                    return bad("runner.image must not be empty".into());
                }
                if *port == 0 {
                    return bad("runner.port must be 1 to 65535".into());
                }
            }
        }
        Ok(())
    }
}

/// What differs between two versions of a manifest, field by field, and whether the change needs
/// the consent of the users who installed the older one again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Changes of what runs and what it may do: the runner's kind, `command`, `args`, `env`,
    /// `workdir`, `image`, the scopes (compared as a set), `[roles]` and `[workload]`. Installs
    /// wait for renewed consent.
    pub consent: Vec<&'static str>,
    /// Everything else (name, description, version, timeouts, prefix, health, port, cpu...).
    pub other: Vec<&'static str>,
}

impl Changes {
    /// What changed from `old` to `new`.
    pub fn between(old: &Manifest, new: &Manifest) -> Changes {
        let mut c = Changes::default();
        let mut note = |differs: bool, consent: bool, field: &'static str| {
            if differs {
                if consent {
                    c.consent.push(field);
                } else {
                    c.other.push(field);
                }
            }
        };
        use Runner::{Kubernetes, Process};
        match (&old.runner, &new.runner) {
            (
                Process {
                    command: c1,
                    args: a1,
                    env: e1,
                    workdir: w1,
                    sha256: h1,
                },
                Process {
                    command: c2,
                    args: a2,
                    env: e2,
                    workdir: w2,
                    sha256: h2,
                },
            ) => {
                note(h1 != h2, true, "sha256");
                note(c1 != c2, true, "command");
                note(a1 != a2, true, "args");
                note(e1 != e2, true, "env");
                note(w1 != w2, true, "workdir");
            }
            (
                Kubernetes {
                    image: i1,
                    port: p1,
                    cpu: c1,
                    memory: m1,
                },
                Kubernetes {
                    image: i2,
                    port: p2,
                    cpu: c2,
                    memory: m2,
                },
            ) => {
                note(i1 != i2, true, "image");
                note(p1 != p2, false, "port");
                note(c1 != c2, false, "cpu");
                note(m1 != m2, false, "memory");
            }
            _ => note(true, true, "runner"),
        }
        let set = |s: &[String]| s.iter().cloned().collect::<std::collections::BTreeSet<_>>();
        note(set(&old.scopes) != set(&new.scopes), true, "scopes");
        note(old.name != new.name, false, "name");
        note(old.description != new.description, false, "description");
        note(old.version != new.version, false, "version");
        note(old.prefix != new.prefix, false, "prefix");
        note(old.health != new.health, false, "health");
        note(
            old.start_timeout_secs != new.start_timeout_secs,
            false,
            "start_timeout_secs",
        );
        note(
            old.idle_timeout_secs != new.idle_timeout_secs,
            false,
            "idle_timeout_secs",
        );
        note(old.opens != new.opens, false, "opens");
        note(old.open != new.open, false, "open");
        note(old.on_idle != new.on_idle, false, "on_idle");
        // Who is what in the app, and what policies are told it does: consented to again.
        note(old.roles != new.roles, true, "roles");
        note(old.workload != new.workload, true, "workload");
        c
    }

    /// Whether the installs of the older version must be consented to again.
    pub fn need_consent(&self) -> bool {
        !self.consent.is_empty()
    }
}

/// The placeholders of `open`.
pub const OPEN_PLACEHOLDERS: [&str; 4] = ["dataset", "path", "rev", "file_url"];

/// Refuses `{names}` that are not placeholders (a typo would reach the app verbatim).
fn check_placeholders(s: &str) -> Result<(), ManifestError> {
    check_names(s, &PLACEHOLDERS)
}

pub(crate) fn check_names(s: &str, known: &[&str]) -> Result<(), ManifestError> {
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err(ManifestError(format!("{s:?}: a {{ without a }}")));
        };
        let name = &rest[open + 1..open + close];
        if !known.contains(&name) {
            return Err(ManifestError(format!(
                "{s:?}: unknown placeholder {{{name}}} (known: {})",
                known.join(", ")
            )));
        }
        rest = &rest[open + close + 1..];
    }
    Ok(())
}

/// `s` with each `{name}` replaced by its value in `vars`.
pub fn expand(s: &str, vars: &[(&str, &str)]) -> String {
    let mut out = s.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

fn is_sha256(h: &str) -> bool {
    h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The digest an image reference pins (`name@sha256:<64 hex>`), if it pins one.
pub fn image_digest(image: &str) -> Option<&str> {
    let (_, digest) = image.rsplit_once('@')?;
    let hex = digest.strip_prefix("sha256:")?;
    is_sha256(hex).then_some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JUPYTER: &str = r#"
id = "jupyter"
name = "JupyterLab"
prefix = "keep"
health = "/api"
scopes = ["dataset:*:read"]
opens = ["csv", "ipynb"]

[runner]
kind = "process"
command = "jupyter-lab"
args = ["--port={port}", "--ServerApp.base_url={base_url}"]
env = { JUPYTER_TOKEN = "" }
"#;

    #[test]
    fn a_process_app() {
        let m = Manifest::parse(JUPYTER).unwrap();
        assert_eq!(m.id, "jupyter");
        assert_eq!(m.prefix, Prefix::Keep);
        assert_eq!(m.idle_timeout_secs, 900);
        let Runner::Process { args, .. } = &m.runner else {
            panic!("{m:?}")
        };
        assert_eq!(
            expand(&args[1], &[("base_url", "/apps/alice/jupyter/")]),
            "--ServerApp.base_url=/apps/alice/jupyter/"
        );
    }

    #[test]
    fn a_kubernetes_app() {
        let m = Manifest::parse(
            "id = \"web\"\nname = \"Web\"\nprefix = \"strip\"\n[runner]\nkind = \"kubernetes\"\nimage = \"nginx:1\"\nport = 80\nmemory = \"256Mi\"\n",
        )
        .unwrap();
        assert_eq!(m.prefix, Prefix::Strip);
        assert!(matches!(m.runner, Runner::Kubernetes { port: 80, .. }));
    }

    #[test]
    fn changes_of_what_runs_or_may_do_need_consent_again() {
        let old = Manifest::parse(JUPYTER).unwrap();
        let same = Changes::between(&old, &old);
        assert!(same.consent.is_empty() && same.other.is_empty());
        let cosmetic = Manifest::parse(
            &JUPYTER
                .replace("JupyterLab", "Jupyter")
                .replace("[\"csv\", \"ipynb\"]", "[\"csv\"]"),
        )
        .unwrap();
        let c = Changes::between(&old, &cosmetic);
        assert!(!c.need_consent(), "{c:?}");
        assert_eq!(c.other, ["name", "opens"]);
        for (text, field) in [
            (JUPYTER.replace("\"jupyter-lab\"", "\"sh\""), "command"),
            (JUPYTER.replace("--port={port}", "--port=1"), "args"),
            (JUPYTER.replace("JUPYTER_TOKEN = \"\"", "JUPYTER_TOKEN = \"x\""), "env"),
            (
                JUPYTER.replace("dataset:*:read", "dataset:*:write"),
                "scopes",
            ),
            (
                JUPYTER.replace(
                    "kind = \"process\"\ncommand = \"jupyter-lab\"\nargs = [\"--port={port}\", \"--ServerApp.base_url={base_url}\"]\nenv = { JUPYTER_TOKEN = \"\" }",
                    "kind = \"kubernetes\"\nimage = \"jupyter:1\"\nport = 8888",
                ),
                "runner",
            ),
        ] {
            let new = Manifest::parse(&text).unwrap();
            let c = Changes::between(&old, &new);
            assert_eq!(c.consent, [field], "{c:?}");
        }
        // The same scopes in another order are the same consent.
        let two = JUPYTER.replace(
            "[\"dataset:*:read\"]",
            "[\"dataset:*:read\", \"dataset:a/b:write\"]",
        );
        let swapped = JUPYTER.replace(
            "[\"dataset:*:read\"]",
            "[\"dataset:a/b:write\", \"dataset:*:read\"]",
        );
        let c = Changes::between(
            &Manifest::parse(&two).unwrap(),
            &Manifest::parse(&swapped).unwrap(),
        );
        assert!(!c.need_consent(), "{c:?}");
    }

    #[test]
    fn bad_manifests_say_why() {
        for (text, words) in [
            (
                JUPYTER.replace("\"jupyter\"\nname", "\"Jupyter Lab\"\nname"),
                "id",
            ),
            (
                JUPYTER.replace("{port}", "{prot}"),
                "unknown placeholder {prot}",
            ),
            (JUPYTER.replace("\"/api\"", "\"api\""), "health"),
            (
                JUPYTER.replace("JUPYTER_TOKEN", "STRATA_TOKEN"),
                "set by strata",
            ),
            (JUPYTER.replace("\"ipynb\"", "\".ipynb\""), "opens"),
            (JUPYTER.replace("kind = \"process\"", "kind = \"vm\""), "vm"),
            (
                JUPYTER.replace("prefix = \"keep\"", "prefix = \"keep\"\ncolour = 1"),
                "colour",
            ),
            ("id = \"x\"".to_owned(), "name"),
        ] {
            let e = Manifest::parse(&text).unwrap_err();
            assert!(e.to_string().contains(words), "{words}: {e}");
        }
    }
}
