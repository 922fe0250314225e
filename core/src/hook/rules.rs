//! The rules of one push, as the server that receives it hands them to its hook: one typed
//! request ([`Rules`]), serialized and signed with HMAC-SHA256 into one environment variable
//! ([`ENV_RULES`]). The key ([`HookKey`]) is made once in the data directory's `keys/`, beside the
//! database file the hook reads, only strata's user may read it, and replicas sharing the
//! directory share it. The hook refuses a push whose request is missing, altered, or signed with
//! another key: it never runs on rules it did not get from this server.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::datasets::gate::Gated;
use crate::error::Result;
use crate::Core;

/// The environment variable that carries a push's signed [`Rules`].
pub const ENV_RULES: &str = "STRATA_HOOK_RULES";

/// What the hook holds a push to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// The dataset's path (`ns/name`), its name in the ref ledger.
    pub dataset: String,
    /// The dataset's row id.
    pub repo_id: i64,
    /// The ref ledger decides ref updates (`--refs sql`).
    pub refs_sql: bool,
    /// The largest plain blob a push may add, in bytes (0: no limit).
    pub max_object_size: u64,
    /// The largest `datapackage.json` a push may add (the REST API's body limit).
    pub max_package: u64,
    /// The default branch may be neither deleted nor force-pushed.
    pub protect_default: bool,
    /// The protected default branch takes changes through merge requests only.
    pub merges_only: bool,
    /// For the policy dataset, the evaluation limit in milliseconds: the policies of a pushed
    /// default branch must compile.
    pub policy_limit_ms: Option<u64>,
    /// `--encryption strict` (not for the policy dataset, whose `.rego` files the server reads
    /// from git): every content file of a push must be an LFS pointer.
    pub strict: bool,
    /// The namespace's quota in bytes when the push started, for the content a push keeps in git.
    pub quota: Option<u64>,
    /// The dataset's own LFS endpoint, the one `.lfsconfig` may always point at.
    pub lfs_url: Option<String>,
    /// Where the hook asks the server that started the push to check the contract and the
    /// policies, for a push to a protected default branch or while policies are in force.
    pub ask: Option<Ask>,
}

/// How the hook reaches the server that started the push (`crate::hook::push`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    pub url: String,
    /// Good for this push only.
    pub token: String,
    /// Policies are in force: every branch the push moves is asked about (otherwise only the
    /// protected default branch's contract).
    pub governed: bool,
}

impl Rules {
    /// The rules of a git request to `dataset` (a push when `receiving`), asking the server at
    /// `ask` when it must check what the push brings.
    pub async fn of(
        core: &Core,
        dataset: &Gated,
        receiving: bool,
        ask: Option<Ask>,
    ) -> Result<Rules> {
        let governance = &core.governance;
        let policy = governance.is_policy_dataset(&dataset.namespace, &dataset.name);
        let (quota, lfs_url) = match receiving {
            true => (
                crate::quotas::quota_of(core, &dataset.namespace).await?,
                Some(crate::datasets::lfs_url(core, dataset)),
            ),
            false => (None, None),
        };
        Ok(Rules {
            dataset: dataset.path(),
            repo_id: dataset.id,
            refs_sql: core.settings.refs_sql,
            max_object_size: core.settings.max_object_size,
            max_package: core.settings.max_json_body as u64,
            protect_default: dataset.protect_default_branch != 0,
            merges_only: dataset.require_merge_request != 0,
            policy_limit_ms: policy.then(|| governance.limit().as_millis() as u64),
            strict: core.settings.encryption == crate::config::Encryption::Strict && !policy,
            quota,
            lfs_url,
            ask,
        })
    }

    /// The rules as [`ENV_RULES`] carries them: the JSON, base64url, `.`, its HMAC in hex.
    pub fn seal(&self, key: &HookKey) -> String {
        let json = serde_json::to_vec(self).expect("rules serialize");
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let mac = key.mac(body.as_bytes()).finalize().into_bytes();
        format!("{body}.{}", hex::encode(mac))
    }

    /// The rules `sealed` carries, if `key` signed them.
    pub fn open(sealed: &str, key: &HookKey) -> std::result::Result<Rules, String> {
        let refused = |why: &str| Err(format!("the push's rules are {why}: refused"));
        let Some((body, mac)) = sealed.rsplit_once('.') else {
            return refused("malformed");
        };
        let Ok(mac) = hex::decode(mac) else {
            return refused("malformed");
        };
        if key.mac(body.as_bytes()).verify_slice(&mac).is_err() {
            return refused("not this server's");
        }
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| "the push's rules are malformed: refused".to_owned())?;
        serde_json::from_slice(&json)
            .map_err(|e| format!("the push's rules are malformed ({e}): refused"))
    }

    /// The rules of the push the hook runs in, from [`ENV_RULES`], checked with the key beside
    /// `database_file` (the hook's way to this server's files).
    pub fn from_env(database_file: &Path) -> std::result::Result<Rules, String> {
        let sealed = std::env::var(ENV_RULES)
            .map_err(|_| "the hook runs only inside a push to strata".to_owned())?;
        let key = HookKey::read(&key_file(database_file))?;
        Rules::open(&sealed, &key)
    }
}

/// Where the hook key is: beside the database file, in the data directory's `keys/`.
fn key_file(database_file: &Path) -> PathBuf {
    database_file.with_file_name("hook-key")
}

/// The key that signs pushes' [`Rules`].
#[derive(Clone)]
pub struct HookKey(Vec<u8>);

impl std::fmt::Debug for HookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookKey(..)")
    }
}

impl HookKey {
    /// The key beside `database_file`, made (32 random bytes, hex, mode 0600) if there is none
    /// yet. Replicas starting together agree: the first to create the file wins, the others
    /// read it.
    pub fn load_or_make(database_file: &Path) -> std::io::Result<HookKey> {
        let path = key_file(database_file);
        if !path.exists() {
            // Written whole under a name of its own, then linked into place only if no other
            // replica's key got there first: the key file is never seen half-written.
            let tmp = path.with_extension(format!("tmp.{}", uuid::Uuid::new_v4().simple()));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            file.write_all(crate::auth::secrets::random_hex(32).as_bytes())?;
            file.sync_all()?;
            let linked = std::fs::hard_link(&tmp, &path);
            std::fs::remove_file(&tmp)?;
            match linked {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        HookKey::read(&path).map_err(std::io::Error::other)
    }

    fn read(path: &Path) -> std::result::Result<HookKey, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("the hook key {}: {e}", path.display()))?;
        match hex::decode(text.trim()) {
            Ok(key) if key.len() >= 32 => Ok(HookKey(key)),
            _ => Err(format!(
                "the hook key {} is not 32 bytes of hex",
                path.display()
            )),
        }
    }

    fn mac(&self, data: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(data);
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            dataset: "alice/data".into(),
            repo_id: 7,
            refs_sql: false,
            max_object_size: 1 << 20,
            max_package: 1 << 20,
            protect_default: true,
            merges_only: true,
            policy_limit_ms: None,
            strict: false,
            quota: Some(10),
            lfs_url: Some("http://127.0.0.1:1/alice/data.git/info/lfs".into()),
            ask: Some(Ask {
                url: "http://127.0.0.1:1/internal".into(),
                token: "t".into(),
                governed: true,
            }),
        }
    }

    #[test]
    fn sealed_rules_open_only_with_their_key_and_unaltered() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("database-url");
        let key = HookKey::load_or_make(&db).unwrap();
        // A second start (or a replica) reads the same key.
        let again = HookKey::load_or_make(&db).unwrap();
        // Only the key is left behind, no file it was written through.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["hook-key"], "{names:?}");
        let sealed = rules().seal(&key);
        assert_eq!(Rules::open(&sealed, &again), Ok(rules()));

        let other = HookKey(vec![1; 32]);
        assert!(Rules::open(&sealed, &other)
            .unwrap_err()
            .contains("not this server's"));
        // The merges-only rule switched off by hand: the signature no longer holds.
        let (body, mac) = sealed.rsplit_once('.').unwrap();
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .unwrap();
        let lifted = String::from_utf8(json)
            .unwrap()
            .replace("\"merges_only\":true", "\"merges_only\":false");
        let forged = format!(
            "{}.{mac}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(lifted)
        );
        assert!(Rules::open(&forged, &key)
            .unwrap_err()
            .contains("not this server's"));
        for junk in ["", "no-dot", "abc.zz", "."] {
            assert!(Rules::open(junk, &key).is_err(), "{junk:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_key_is_for_strata_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("database-url");
        HookKey::load_or_make(&db).unwrap();
        let mode = std::fs::metadata(key_file(&db))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}
