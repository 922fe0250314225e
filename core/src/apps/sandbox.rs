//! What process instances are kept from (`--apps-process-sandbox`, on by default): strata's data
//! directory (keys, the SQLite database, repositories, objects, every instance's working
//! directory and token) and each file of strata's own the configuration names elsewhere (the
//! repositories, the database with its `-wal` and `-shm`, the JWT and master keys, the identity
//! providers' file, the apps directory). An instance gets its own working directory back, and its
//! own token's directory to read. The kernel is asked once, at start: without Landlock, process
//! instances do not start, and say why.

use std::path::{Path, PathBuf};

use strata_apps::sandbox::{self, Sandbox};

use crate::config::{Config, Switch};
use crate::error::{Error, Result};

/// The sandbox of every process instance of this server.
#[derive(Debug, Clone)]
pub enum Policy {
    /// `--apps-process-sandbox off`: instances run as strata's own user, unconfined.
    Off,
    /// Instances may not reach these paths.
    On(Vec<PathBuf>),
    /// Wanted, but the kernel cannot: why (process instances are refused with it).
    Unavailable(String),
}

impl Policy {
    /// The policy `config` asks for, checked against the running kernel.
    pub fn load(config: &Config) -> Policy {
        if config.apps_process_sandbox == Switch::Off {
            return Policy::Off;
        }
        match sandbox::check() {
            Ok(()) => Policy::On(denied(config)),
            Err(why) => Policy::Unavailable(why),
        }
    }

    /// The sandbox of one instance working in `workdirs` (made already) with its token in
    /// `token_dir`: `None` when sandboxing is off; an error when it cannot be had.
    pub fn for_instance(&self, workdirs: &[&Path], token_dir: &Path) -> Result<Option<Sandbox>> {
        match self {
            Policy::Off => Ok(None),
            Policy::Unavailable(why) => Err(Error::conflict(why.clone())),
            Policy::On(deny) => Ok(Some(Sandbox {
                deny: deny.clone(),
                read_write: workdirs.iter().map(|p| p.to_path_buf()).collect(),
                read_only: vec![token_dir.to_path_buf()],
            })),
        }
    }
}

/// Everything of strata's an instance may not reach.
fn denied(config: &Config) -> Vec<PathBuf> {
    let mut out = vec![config.data_dir.clone(), config.repos_dir()];
    if let Some(db) = sqlite_file(&config.database_url()) {
        let name = db.file_name().unwrap_or_default().to_string_lossy();
        for suffix in ["-wal", "-shm", "-journal"] {
            out.push(db.with_file_name(format!("{name}{suffix}")));
        }
        out.push(db);
    }
    out.extend(
        [
            &config.jwt_key_file,
            &config.master_key_file,
            &config.oidc_config,
            &config.apps_dir,
        ]
        .into_iter()
        .flatten()
        .cloned(),
    );
    out
}

/// The file of a SQLite database URL (`sqlite://path?…` or `sqlite:path`), if it names one.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_directory_the_database_and_the_key_files_are_denied() {
        let mut config = Config::with_data_dir("/srv/strata");
        config.database_url = Some("sqlite:///var/db/strata.db?mode=rwc".into());
        config.jwt_key_file = Some("/etc/strata/jwt.pem".into());
        let deny = denied(&config);
        for want in [
            "/srv/strata",
            "/srv/strata/repos",
            "/var/db/strata.db",
            "/var/db/strata.db-wal",
            "/var/db/strata.db-shm",
            "/etc/strata/jwt.pem",
        ] {
            assert!(deny.contains(&PathBuf::from(want)), "{want}: {deny:?}");
        }
        assert_eq!(sqlite_file("postgres://db/strata"), None);
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite:x.db"), Some(PathBuf::from("x.db")));
    }
}
