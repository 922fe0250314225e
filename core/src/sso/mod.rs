//! Sign-in through external identity providers: generic OpenID Connect by discovery (Keycloak,
//! Azure AD, Google, Okta, another strata) and GitHub's plain OAuth 2.0.
//!
//! The providers and their rules come from one TOML file (`--oidc-config`), read again whenever
//! it changes, so a changed mapping applies at the next sign-in without a restart. A file that
//! no longer parses keeps the last good one (and says why in the log).
//!
//! - `client.rs`: the protocol (authorization code + PKCE, `state`, `nonce`, the id token checked
//!   against the provider's JWKS by `openidconnect`; GitHub's user API).
//! - `accounts.rs`: who the provider's user is here (linked by issuer + subject, never by email),
//!   new accounts and their usernames, and the rules applied at every sign-in.
//! - `flow.rs`: one sign-in from start to callback (the pending record, the answer's checks, the
//!   new session) and the "another way in" rule for unlinking.

mod accounts;
mod client;
pub mod flow;
mod rules;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Deserialize;

pub use accounts::{sign_in, unlink, SignIn};
pub use client::{Begun, Claims, Client};
pub use rules::{Outcome, Rule};

use crate::db::Role;

/// What kind of provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// OpenID Connect: discovery, id token, JWKS.
    #[default]
    Oidc,
    /// GitHub (or GitHub Enterprise): OAuth 2.0 and the user API, no id token.
    Github,
}

/// One `[[provider]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Short name in URLs (`/login/sso/{id}`): 1–32 of `a-z 0-9 -`.
    pub id: String,
    /// Shown on the button: "Sign in with {name}".
    pub name: String,
    #[serde(default)]
    pub kind: Kind,
    /// OpenID Connect: the issuer; discovery is `{issuer}/.well-known/openid-configuration`.
    pub issuer: Option<String>,
    pub client_id: String,
    /// Where the client secret is: an environment variable or a file (never in this file).
    /// Neither: a public client (PKCE only).
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for besides `openid` (OIDC default: profile, email; GitHub default:
    /// read:user, user:email, and read:org when a rule names a group).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The claim that lists the user's groups (OIDC).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// The claim the username is derived from (OIDC), then `email`'s local part.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The role of users no rule gives a role. Unset: a new account gets the platform default
    /// and an existing one keeps its role, unless the rules set it before.
    #[serde(default, deserialize_with = "role_opt")]
    pub default_role: Option<Role>,
    /// GitHub: the API and OAuth endpoints (defaults: github.com's).
    pub api_url: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    /// The role mapping, applied at every sign-in.
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
    /// Read from `client_secret_env` or `client_secret_file`; its `Debug` says `[redacted]`.
    #[serde(skip)]
    pub client_secret: Option<openidconnect::ClientSecret>,
}

fn default_groups_claim() -> String {
    "groups".into()
}

fn default_username_claim() -> String {
    "preferred_username".into()
}

fn role_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Role>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| s.parse().map_err(serde::de::Error::custom))
        .transpose()
}

impl Provider {
    /// The issuer identities of this provider are recorded under.
    pub fn issuer_key(&self) -> String {
        match self.kind {
            Kind::Oidc => self.issuer.clone().unwrap_or_default(),
            Kind::Github => format!("github:{}", self.github_api()),
        }
    }

    pub fn github_api(&self) -> &str {
        self.api_url
            .as_deref()
            .unwrap_or("https://api.github.com")
            .trim_end_matches('/')
    }

    fn check(&mut self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 32
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && self.id != "unlink";
        if !id_ok {
            return Err(format!(
                "provider id {:?}: use 1 to 32 of a-z, 0-9 and '-'",
                self.id
            ));
        }
        let at = |e: String| format!("provider {}: {e}", self.id);
        if self.kind == Kind::Oidc {
            let issuer = self.issuer.as_deref().unwrap_or("");
            let parsed = url::Url::parse(issuer).map_err(|e| at(format!("issuer: {e}")))?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err(at("issuer must be an http(s) URL".into()));
            }
        }
        for rule in &self.rules {
            rule.check().map_err(at)?;
        }
        for (name, url) in [
            ("api_url", &self.api_url),
            ("authorize_url", &self.authorize_url),
            ("token_url", &self.token_url),
        ] {
            if let Some(url) = url {
                let ok = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "https" | "http"));
                if !ok {
                    return Err(at(format!("{name} must be an http(s) URL")));
                }
            }
        }
        let secret = match (&self.client_secret_env, &self.client_secret_file) {
            (Some(_), Some(_)) => {
                return Err(at(
                    "give client_secret_env or client_secret_file, not both".into()
                ))
            }
            (Some(var), None) => Some(
                std::env::var(var)
                    .map_err(|_| at(format!("environment variable {var} is not set")))?,
            ),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| at(format!("client secret file {}: {e}", path.display())))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        self.client_secret = secret.map(openidconnect::ClientSecret::new);
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    provider: Vec<Provider>,
}

/// Parses and checks a providers file's text.
pub fn parse(text: &str) -> Result<Vec<Provider>, String> {
    let file: File = basic_toml::from_str(text).map_err(|e| e.to_string())?;
    let mut providers = file.provider;
    for p in &mut providers {
        p.check()?;
    }
    for (i, p) in providers.iter().enumerate() {
        if providers[..i].iter().any(|q| q.id == p.id) {
            return Err(format!("provider id {:?} is used twice", p.id));
        }
    }
    Ok(providers)
}

struct Loaded {
    modified: Option<(SystemTime, u64)>,
    providers: Arc<Vec<Arc<Provider>>>,
}

/// The configured providers, with the protocol client they share.
pub struct Providers {
    path: Option<PathBuf>,
    loaded: Mutex<Loaded>,
    pub client: Client,
}

/// When the file last changed, and its length (two writes in one clock tick differ in length).
fn modified(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl Providers {
    /// Reads the providers file (none: no providers). A file that does not parse is an error.
    pub fn load(path: Option<&Path>) -> Result<Providers, String> {
        let mut providers = Vec::new();
        let mut stamp = None;
        if let Some(path) = path {
            stamp = modified(path);
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            providers = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(Providers {
            path: path.map(Path::to_path_buf),
            loaded: Mutex::new(Loaded {
                modified: stamp,
                providers: Arc::new(providers.into_iter().map(Arc::new).collect()),
            }),
            client: Client::new(),
        })
    }

    /// The providers as the file now says (read again if it changed since).
    pub fn list(&self) -> Arc<Vec<Arc<Provider>>> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = &self.path {
            let now = modified(path);
            if now != loaded.modified {
                loaded.modified = now;
                match std::fs::read_to_string(path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| parse(&t))
                {
                    Ok(providers) => {
                        tracing::info!(path = %path.display(), "identity providers reloaded");
                        loaded.providers = Arc::new(providers.into_iter().map(Arc::new).collect());
                    }
                    Err(e) => tracing::error!(
                        path = %path.display(),
                        "identity providers file not reloaded, keeping the last good one: {e}"
                    ),
                }
            }
        }
        loaded.providers.clone()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Provider>> {
        self.list().iter().find(|p| p.id == id).cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.list().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let ok = parse(
            r#"
            [[provider]]
            id = "kc"
            name = "Keycloak"
            issuer = "https://kc.example.com/realms/data"
            client_id = "strata"
            default_role = "viewer"
            [[provider.rule]]
            group = "admins"
            role = "admin"
            [[provider.rule]]
            user = "carol"
            org = "acme"
            team = "analysts"

            [[provider]]
            id = "gh"
            name = "GitHub"
            kind = "github"
            client_id = "x"
            "#,
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].default_role, Some(Role::Viewer));
        assert_eq!(ok[1].issuer_key(), "github:https://api.github.com");
        for bad in [
            "[[provider]]\nid = \"Bad Id\"\nname = \"x\"\nissuer = \"https://a\"\nclient_id = \"c\"",
            "[[provider]]\nid = \"a\"\nname = \"x\"\nclient_id = \"c\"",
            "[[provider]]\nid = \"a\"\nname = \"x\"\nissuer = \"https://a\"\nclient_id = \"c\"\nsecret = \"s\"",
            "[[provider]]\nid = \"a\"\nname = \"x\"\nissuer = \"https://a\"\nclient_id = \"c\"\ndefault_role = \"king\"",
            "[[provider]]\nid = \"a\"\nname = \"x\"\nissuer = \"https://a\"\nclient_id = \"c\"\n[[provider.rule]]\nrole = \"admin\"",
            "[[provider]]\nid = \"a\"\nname = \"x\"\nissuer = \"https://a\"\nclient_id = \"c\"\nclient_secret_env = \"STRATA_NO_SUCH_VARIABLE\"",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_client_secret_stays_out_of_logs() {
        let file = std::env::temp_dir().join(format!("strata-sso-secret-{}", std::process::id()));
        std::fs::write(&file, "s3cr3t-value\n").unwrap();
        let text = format!(
            "[[provider]]\nid = \"a\"\nname = \"A\"\nissuer = \"https://a.example\"\nclient_id = \"c\"\nclient_secret_file = \"{}\"",
            file.display()
        );
        let providers = parse(&text).unwrap();
        std::fs::remove_file(&file).unwrap();
        let secret = providers[0].client_secret.as_ref().unwrap();
        assert_eq!(secret.secret(), "s3cr3t-value");
        assert!(!format!("{:?}", providers[0]).contains("s3cr3t"));
    }
}
