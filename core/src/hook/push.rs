//! Contract and policy checks of pushes. git runs the pre-receive hook in a process of its own,
//! with the pushed objects in quarantine; the hook reads the new `datapackage.json` of each branch
//! the push moves and hands it back to the server that started the push ([`Pushes`]: a token good
//! while the push lasts and the server's own loopback address, both passed in the hook's
//! environment), which checks it as it checks every other write: the policies on the tables it
//! changes, as the pusher (`crate::governance::moved`), on every branch, and
//! the contract of a protected default branch ([`crate::contracts::enforce`]). A push whose check cannot be
//! made is refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::contracts::Report;
use crate::datasets::gated::Gated;
use crate::error::{Error, Kind, Result};
use crate::Core;

/// How long a push's token is good for.
const TTL: Duration = Duration::from_secs(3600);

/// The pushes in flight that may ask for a contract check.
#[derive(Debug, Default)]
pub struct Pushes {
    /// sha256 of each token → the dataset as its pusher passed its gate, and when the token ends.
    tokens: Arc<Mutex<HashMap<String, (Gated, Instant)>>>,
    /// Where the hook reaches this server: `http://127.0.0.1:{port}` (set when it listens).
    url: OnceLock<String>,
}

fn hash(token: &str) -> String {
    crate::auth::secrets::stored(token)
}

/// A push's right to ask for checks, ended when dropped (the push is over).
pub struct Admitted {
    tokens: Arc<Mutex<HashMap<String, (Gated, Instant)>>>,
    pub url: String,
    pub token: String,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut map = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&hash(&self.token));
    }
}

impl Pushes {
    /// Where this server listens, for its hooks (set once).
    pub fn listening(&self, addr: std::net::SocketAddr) {
        let port = addr.port();
        let host = if addr.is_ipv6() && !addr.ip().is_unspecified() {
            format!("[{}]", addr.ip())
        } else if addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            addr.ip().to_string()
        };
        let _ = self.url.set(format!("http://{host}:{port}"));
    }

    /// A token for one push to `dataset`; `None` before the server listens.
    pub fn admit(&self, dataset: &Gated) -> Option<Admitted> {
        let url = format!("{}/_hook/contracts", self.url.get()?);
        let token = crate::auth::secrets::random_hex(32);
        let mut map = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, (_, until)| *until > now);
        map.insert(hash(&token), (dataset.clone(), now + TTL));
        Some(Admitted {
            tokens: self.tokens.clone(),
            url,
            token,
        })
    }

    /// Whether `token` is a push's, good now (asked before its request's body is read).
    pub fn knows(&self, token: &str) -> bool {
        let map = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&hash(token))
            .is_some_and(|(_, until)| *until > Instant::now())
    }

    /// The dataset of a push's token (good for each branch the push moves, while it lasts).
    fn dataset(&self, token: &str) -> Option<Gated> {
        let map = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&hash(token))
            .filter(|(_, until)| *until > Instant::now())
            .map(|(gated, _)| gated.clone())
    }
}

/// The hook's request (once per branch a push moves): check `package` (the pushed
/// `datapackage.json`, its resources' `hash` and `bytes` those of the files at their paths) as
/// revision `revision` of `branch` of the dataset `token` was made for: the policies on writes
/// on every branch, the contract on the default one.
pub async fn check_pushed(
    core: &Core,
    token: &str,
    revision: &str,
    branch: &str,
    package: &[u8],
) -> Result<Option<Report>> {
    let gated = core
        .pushes
        .dataset(token)
        .ok_or_else(|| Error::new(Kind::Unauthenticated, "no push in flight has this token"))?;
    let repo = core
        .db
        .repo_by_id(gated.id)
        .await?
        .ok_or_else(|| Error::not_found("the dataset is gone"))?;
    if revision.len() != 40 || !revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::bad_request("a revision is a commit id"));
    }
    let package: Map<String, Value> = serde_json::from_slice(package)
        .map_err(|e| Error::unprocessable(format!("datapackage.json is not JSON: {e}")))?;
    use crate::governance::moved::{moved, Unrewritable};
    moved(core, &gated, Some(branch), &package, Unrewritable::Push).await?;
    if branch != strata_metastore::DEFAULT_BRANCH {
        return Ok(None);
    }
    crate::contracts::enforce(core, &repo, &package, revision).await
}

/// The hook's side: asks the server at `url` to check `package` of commit `revision`; `Err` is
/// the refusal shown to the pusher.
pub async fn ask(
    url: &str,
    token: &str,
    revision: &str,
    branch: &str,
    package: Vec<u8>,
) -> std::result::Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1800))
        .build()
        .map_err(|e| e.to_string())?;
    let body = serde_json::json!({
        "revision": revision,
        "branch": branch,
        "datapackage": String::from_utf8_lossy(&package),
    });
    let r = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("push refused: the contract could not be checked ({e})"))?;
    if r.status().is_success() {
        return Ok(());
    }
    let status = r.status();
    let v: Value = r.json().await.unwrap_or_default();
    let message = v["message"].as_str().unwrap_or("no reason given");
    Err(if status.as_u16() == 422 {
        format!("push refused: {message}")
    } else {
        format!("push refused: the contract could not be checked ({status}: {message})")
    })
}
