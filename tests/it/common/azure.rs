//! A real Azure Blob server for tests: Azurite, Microsoft's emulator (npm package `azurite`), on
//! `127.0.0.1:0`. It checks Shared Key and SAS signatures against the well-known development
//! account key, so forged or expired SAS URLs get 403.
//!
//! `scripts/test.sh` installs Azurite and `@azure/storage-blob` (used to create the container)
//! into `target/test-tools`; `STRATA_TEST_TOOLS` points elsewhere.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's documented development key; not a secret.
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const CONTAINER: &str = "strata-test";

pub struct Azurite {
    /// The account's endpoint, `http://127.0.0.1:<port>/devstoreaccount1`.
    pub endpoint: String,
    child: Child,
    /// Where Azurite keeps the blobs it stores.
    pub dir: tempfile::TempDir,
}

fn tools() -> PathBuf {
    std::env::var_os("STRATA_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-tools"))
}

impl Azurite {
    pub fn start() -> Azurite {
        let tools = tools();
        let bin = tools.join("node_modules/.bin/azurite-blob");
        assert!(
            bin.exists(),
            "Azurite is not installed at {}: run scripts/test.sh, which installs it, or \
             `npm install --prefix {} azurite@3 @azure/storage-blob@12`",
            bin.display(),
            tools.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(&bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", "0", "--silent"])
            .args(["--disableTelemetry", "--skipApiVersionCheck", "--location"])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e} (is node installed?)", bin.display()));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let prefix = "listens on http://";
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(at) = line.find(prefix) {
                        break line[at + prefix.len()..].trim().to_owned();
                    }
                }
                _ => panic!("Azurite exited before listening"),
            }
        };
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let endpoint = format!("http://{addr}/{ACCOUNT}");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/common/azurite.js");
        let out = Command::new("node")
            .arg(script)
            .args([&endpoint, ACCOUNT, KEY, CONTAINER])
            .env("NODE_PATH", tools.join("node_modules"))
            .output()
            .expect("node runs");
        assert!(
            out.status.success(),
            "creating the container failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Azurite {
            endpoint,
            child,
            dir,
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
