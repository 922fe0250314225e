//! App manifests as the rest of the server reads them: parsed and checked ([`parse`]: no app may
//! ask for all of a user's rights), and looked up by id in `--apps-dir` and the catalog the API
//! adds to ([`entry`], [`catalog`]). Below the datasets floor, because the policies' subject of an
//! app's token names the workload its manifest declares; what apps may do with them (adding,
//! installing, launching) is `crate::apps`'.

use strata_apps::Manifest;

use crate::error::{Error, Result};
use crate::Core;

/// A catalog entry: the manifest, and whether it came from `--apps-dir` (then the API cannot
/// change or remove it).
#[derive(Debug, Clone)]
pub struct Entry {
    pub manifest: Manifest,
    pub from_dir: bool,
}

/// Parses a manifest and checks its scopes against strata's grammar.
pub fn parse(text: &str) -> Result<Manifest> {
    let m = Manifest::parse(text).map_err(|e| Error::unprocessable(e.to_string()))?;
    for s in &m.scopes {
        crate::auth::scope::Scope::parse(s)
            .map_err(|e| Error::unprocessable(format!("app manifest: scopes: {e}")))?;
        // kind:target[:meta][:actions]: the actions, when given, are the last part.
        let parts: Vec<&str> = s.split(':').collect();
        let last = parts[parts.len() - 1];
        let actions = if parts.len() >= 3 && last != "meta" {
            last
        } else {
            ""
        };
        if s == "*" || actions.split(',').any(|a| a == "admin" || a == "*") {
            return Err(Error::unprocessable(format!(
                "app manifest: scopes: an app may not ask for {s:?}: it would act with all of the user's rights"
            )));
        }
    }
    Ok(m)
}

/// The whole catalog: `--apps-dir` first, then the API's, by id.
pub async fn catalog(core: &Core) -> Result<Vec<Entry>> {
    let mut out: Vec<Entry> = core
        .apps
        .dir
        .iter()
        .map(|m| Entry {
            manifest: m.clone(),
            from_dir: true,
        })
        .collect();
    for (id, text) in core.db.app_manifests().await? {
        match parse(&text) {
            Ok(manifest) if !out.iter().any(|e| e.manifest.id == id) => out.push(Entry {
                manifest,
                from_dir: false,
            }),
            Ok(_) => {} // an --apps-dir manifest of the same id wins
            Err(e) => {
                tracing::warn!(app = %id, error = %e.message, "a stored app manifest no longer parses")
            }
        }
    }
    out.sort_by(|a, b| a.manifest.id.cmp(&b.manifest.id));
    Ok(out)
}

/// One catalog entry, or 404.
pub async fn entry(core: &Core, id: &str) -> Result<Entry> {
    if let Some(m) = core.apps.dir.iter().find(|m| m.id == id) {
        return Ok(Entry {
            manifest: m.clone(),
            from_dir: true,
        });
    }
    let text = core
        .db
        .app_manifest(id)
        .await?
        .ok_or_else(|| Error::not_found(format!("no app {id:?} in the catalog")))?;
    Ok(Entry {
        manifest: parse(&text)?,
        from_dir: false,
    })
}
