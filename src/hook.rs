//! The `pre-receive` hook of pushes over HTTP: metadata never points at bytes that are not there.
//! git runs it (through the script [`install`] writes) with the pushed objects in quarantine; it
//! lists the LFS pointers the push introduces and refuses the push if any names an object that
//! was not uploaded to this dataset. git-lfs uploads objects before it pushes, so a normal push
//! passes; a push without `git lfs push` gets a message saying what is missing.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use strata_lfs::pointer::{Pointer, MAX_POINTER_LEN};
use strata_lfs::Oid;

use crate::db::Db;

/// Environment the hook reads: which dataset (its row id) and which database.
pub const ENV_REPO_ID: &str = "STRATA_HOOK_REPO_ID";
pub const ENV_DATABASE_URL: &str = "STRATA_HOOK_DATABASE_URL";
pub const ENV_EXE: &str = "STRATA_HOOK_EXE";

const ZERO: &str = "0000000000000000000000000000000000000000";

/// Writes the hooks directory (`core.hooksPath` of pushes) and returns its path.
pub fn install(data_dir: &Path) -> std::io::Result<PathBuf> {
    let dir = data_dir.join("hooks");
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("pre-receive");
    let text = format!(
        "#!/bin/sh\n# Written by strata at start-up: refuse pushes whose LFS pointers name objects\n\
         # that were not uploaded to this dataset.\nexec \"${ENV_EXE}\" hook pre-receive\n"
    );
    std::fs::write(&script, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(dir)
}

/// `strata hook pre-receive`: reads git's ref updates on stdin; `Err` is shown to the pusher.
pub async fn pre_receive() -> Result<(), String> {
    let repo_id: i64 = std::env::var(ENV_REPO_ID)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or("the hook runs only inside a push to strata")?;
    let url = std::env::var(ENV_DATABASE_URL).map_err(|_| "no database for the hook")?;
    let mut tips = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let mut parts = line.split_whitespace();
        if let (Some(_old), Some(new), Some(_name)) = (parts.next(), parts.next(), parts.next()) {
            if new != ZERO {
                tips.push(new.to_owned());
            }
        }
    }
    if tips.is_empty() {
        return Ok(());
    }
    let pointers = tokio::task::spawn_blocking(move || introduced_pointers(&tips))
        .await
        .map_err(|e| e.to_string())??;
    if pointers.is_empty() {
        return Ok(());
    }
    let db = Db::connect_existing(&url)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let oids: Vec<Oid> = pointers.iter().map(|p| p.oid).collect();
    let linked = db
        .linked_objects(repo_id, &oids)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let missing: Vec<String> = pointers
        .iter()
        .filter(|p| linked.get(&p.oid) != Some(&p.size))
        .map(|p| format!("  {} ({} bytes)", p.oid, p.size))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "push refused: {} LFS object(s) named by the pushed commits were never uploaded to this \
         dataset:\n{}\nUpload them first (git lfs push --all origin), then push again.",
        missing.len(),
        missing
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    ))
}

/// The LFS pointers in blobs that the commits reachable from `tips`, and from no existing ref,
/// add or change. Uses the `git` CLI, which sees the push's quarantined objects.
fn introduced_pointers(tips: &[String]) -> Result<BTreeSet<Pointer>, String> {
    let mut log = Command::new("git");
    log.args([
        "log",
        "-m",
        "--raw",
        "--no-abbrev",
        "--no-renames",
        "--format=%H",
    ])
    .args(["--diff-filter=AMT"])
    .args(tips)
    .args(["--not", "--all"]);
    let out = log.output().map_err(|e| format!("git log: {e}"))?;
    if !out.status.success() {
        return Err(format!("git log: {}", String::from_utf8_lossy(&out.stderr)));
    }
    // Raw lines: ":<mode> <mode> <old blob> <new blob> <status>\t<path>".
    let blobs: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(':'))
        .filter_map(|l| {
            let fields: Vec<&str> = l.split('\t').next()?.split(' ').collect();
            let mode = fields.get(1)?;
            (mode.starts_with("100") && fields.len() >= 4).then(|| fields[3].to_owned())
        })
        .collect();
    if blobs.is_empty() {
        return Ok(BTreeSet::new());
    }
    let mut cat = Command::new("git")
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("git cat-file: {e}"))?;
    let mut input = cat.stdin.take().expect("piped");
    let ids: Vec<String> = blobs.into_iter().collect();
    let writer = std::thread::spawn(move || {
        for id in ids {
            if writeln!(input, "{id}").is_err() {
                break;
            }
        }
    });
    let mut reader = std::io::BufReader::new(cat.stdout.take().expect("piped"));
    let mut pointers = BTreeSet::new();
    let mut header = String::new();
    loop {
        header.clear();
        if reader.read_line(&mut header).map_err(|e| e.to_string())? == 0 {
            break;
        }
        if header.trim_end().ends_with(" missing") {
            continue;
        }
        let size: usize = header
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut data = vec![0u8; size + 1]; // the content and its trailing newline
        std::io::Read::read_exact(&mut reader, &mut data).map_err(|e| e.to_string())?;
        if size < MAX_POINTER_LEN {
            if let Ok(p) = Pointer::parse(&data[..size]) {
                pointers.insert(p);
            }
        }
    }
    let _ = writer.join();
    let _ = cat.wait();
    Ok(pointers)
}
