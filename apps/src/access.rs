//! What a manifest says about who and what: `[roles]` (platform roles mapped to the app's own,
//! the roles that may install it, and an OAuth client of the app whose tokens carry the mapped
//! roles) and `[workload]` (the intent, datasets and protocol the app declares, as a
//! FybrikApplication does, which policies see).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ManifestError;

/// How platform roles reach the app, and who may install it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    /// Platform role → the app's role (`X-Strata-App-Roles`, and `app_roles` for `client`). A
    /// platform role not named has no role in the app.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// The platform roles that may install it (empty: every role).
    #[serde(default)]
    pub install: Vec<String>,
    /// The OAuth client id (`sc_…`) of the app's own sign-in through strata: its id tokens and
    /// userinfo carry the mapped roles as `app_roles`.
    #[serde(default)]
    pub client: Option<String>,
}

impl Roles {
    /// The app's roles of a user with platform `roles`, each once, in order.
    pub fn of(&self, roles: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in roles {
            if let Some(a) = self.map.get(*r) {
                if !out.contains(a) {
                    out.push(a.clone());
                }
            }
        }
        out
    }

    /// Whether a user with platform `roles` may install the app.
    pub fn may_install(&self, roles: &[&str]) -> bool {
        self.install.is_empty() || roles.iter().any(|r| self.install.iter().any(|i| i == r))
    }

    pub(crate) fn check(&self) -> Result<(), ManifestError> {
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        };
        for (k, v) in &self.map {
            if !name_ok(k) || !name_ok(v) {
                return Err(ManifestError(format!(
                    "roles.map: {k:?} = {v:?}: role names are 1 to 64 of letters, digits and -_.:"
                )));
            }
        }
        if let Some(r) = self.install.iter().find(|r| !name_ok(r)) {
            return Err(ManifestError(format!(
                "roles.install: {r:?} is no role name"
            )));
        }
        if let Some(c) = &self.client {
            if !c.starts_with("sc_") || !name_ok(c) {
                return Err(ManifestError(format!(
                    "roles.client: {c:?} is no OAuth client id (sc_…)"
                )));
            }
        }
        Ok(())
    }
}

/// What the app does with data: policies see it as `input.context.workload`, its intent as
/// `input.context.intent` when a request names none, and the app as `input.subject.app`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    #[serde(default)]
    pub intent: Option<String>,
    /// The datasets it reads, `ns/name`.
    #[serde(default)]
    pub datasets: Vec<String>,
    /// How it reads them (`arrow-flight`, `s3`, `rest`, `sql`…).
    #[serde(default)]
    pub protocol: Option<String>,
}

impl Workload {
    pub(crate) fn check(&self) -> Result<(), ManifestError> {
        if self
            .intent
            .as_ref()
            .is_some_and(|i| i.trim().is_empty() || i.len() > 200)
        {
            return Err(ManifestError(
                "workload.intent must be 1 to 200 characters".into(),
            ));
        }
        if self.datasets.len() > 100 {
            return Err(ManifestError("workload.datasets: at most 100".into()));
        }
        if let Some(d) = self
            .datasets
            .iter()
            .find(|d| d.split('/').count() != 2 || d.split('/').any(str::is_empty))
        {
            return Err(ManifestError(format!(
                "workload.datasets: {d:?} is not ns/name"
            )));
        }
        Ok(())
    }
}
