//! The git plumbing the push hook and the table index share: `git` run in the repository the
//! hook runs in, ancestry, `cat-file --batch-check` and streaming blobs out of `cat-file --batch`,
//! the blobs and the changes to one file the new commits bring, and which objects the repository
//! held before the push.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};

use strata_lfs::pointer::MAX_POINTER_LEN;

pub(crate) fn git(args: &[&str]) -> Result<std::process::Output, String> {
    Command::new("git")
        .args(args)
        .output()
        .map_err(|e| format!("git {}: {e}", args[0]))
}

/// Whether commit `old` is an ancestor of `new` (a fast-forward).
pub(crate) fn is_ancestor(old: &str, new: &str) -> Result<bool, String> {
    let out = git(&["merge-base", "--is-ancestor", old, new])?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(format!(
            "git merge-base: {}",
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// `git cat-file --batch-check` over `names`: for each, its type and size, or `None` if missing.
pub(crate) fn batch_check(
    names: impl Iterator<Item = String>,
) -> Result<Vec<Option<(String, u64)>>, String> {
    Ok(batch_check_as("%(objecttype) %(objectsize)", names)?
        .into_iter()
        .map(|line| {
            let line = line?;
            let (kind, size) = line.split_once(' ')?;
            Some((kind.to_owned(), size.parse().ok()?))
        })
        .collect())
}

/// `git cat-file --batch-check={format}` over `names`: for each, its line, or `None` if missing.
pub(crate) fn batch_check_as(
    format: &str,
    names: impl Iterator<Item = String>,
) -> Result<Vec<Option<String>>, String> {
    batch_check_in(Command::new("git"), format, names)
}

/// Which of the objects `ids` the repository held before this push. git receives a push's
/// objects into a quarantine directory and runs the hook with it as the object directory (the
/// repository's own as an alternate): they are looked up without it. Outside a quarantine,
/// none is known to be older.
pub(crate) fn held_before(ids: &[String]) -> Result<BTreeSet<String>, String> {
    if ids.is_empty() || std::env::var_os("GIT_QUARANTINE_PATH").is_none() {
        return Ok(BTreeSet::new());
    }
    let mut cmd = Command::new("git");
    cmd.env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
        .env_remove("GIT_QUARANTINE_PATH");
    let found = batch_check_in(cmd, "%(objectname)", ids.iter().cloned())?;
    Ok(found.into_iter().flatten().collect())
}

/// A commit's change to a file: (commit, blob before, blob after), `None` where there is no file.
pub(crate) type Change = (String, Option<String>, Option<String>);

/// The changes the commits reachable from `tips`, and from no existing ref, make to the file at
/// `path` (a merge's against each of its parents).
pub(crate) fn changes_to(path: &str, tips: &[&str]) -> Result<Vec<Change>, String> {
    if tips.is_empty() {
        return Ok(Vec::new());
    }
    let out = Command::new("git")
        .args([
            "log",
            "-m",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            "--format=%H",
        ])
        .args(tips)
        .args(["--not", "--all", "--", path])
        .output()
        .map_err(|e| format!("git log: {e}"))?;
    if !out.status.success() {
        return Err(format!("git log: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let blob = |id: &str| (!id.bytes().all(|b| b == b'0')).then(|| id.to_owned());
    let mut commit = String::new();
    let mut changes = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // Raw lines: ":<mode> <mode> <old blob> <new blob> <status>\t<path>".
        let Some((meta, at)) = line.strip_prefix(':').and_then(|l| l.split_once('\t')) else {
            if line.len() >= 40 && line.bytes().all(|b| b.is_ascii_hexdigit()) {
                commit = line.to_owned();
            }
            continue;
        };
        let fields: Vec<&str> = meta.split(' ').collect();
        if at == path && fields.len() >= 4 {
            changes.push((commit.clone(), blob(fields[2]), blob(fields[3])));
        }
    }
    Ok(changes)
}

/// [`batch_check_as`] with the `git` command given (its environment set).
fn batch_check_in(
    mut cmd: Command,
    format: &str,
    names: impl Iterator<Item = String>,
) -> Result<Vec<Option<String>>, String> {
    let input: String = names.map(|n| format!("{n}\n")).collect();
    let mut child = cmd
        .args(["cat-file", &format!("--batch-check={format}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("git cat-file: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("git cat-file: {e}"))?;
    let _ = writer.join();
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| (!line.ends_with(" missing")).then(|| line.to_owned()))
        .collect())
}

/// The blobs (regular files) that the commits reachable from `tips`, and from no existing ref,
/// add or change, with their paths. Uses the `git` CLI, which sees the push's quarantine.
pub(crate) fn introduced_blobs(
    tips: &[&str],
) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let mut log = Command::new("git");
    log.args([
        "log",
        "-m",
        "--raw",
        "--no-abbrev",
        "--no-renames",
        "--format=%H",
        "--diff-filter=AMT",
    ])
    .args(tips)
    .args(["--not", "--all"]);
    let out = log.output().map_err(|e| format!("git log: {e}"))?;
    if !out.status.success() {
        return Err(format!("git log: {}", String::from_utf8_lossy(&out.stderr)));
    }
    // Raw lines: ":<mode> <mode> <old blob> <new blob> <status>\t<path>".
    let mut blobs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((meta, path)) = line.strip_prefix(':').and_then(|l| l.split_once('\t')) else {
            continue;
        };
        let fields: Vec<&str> = meta.split(' ').collect();
        if fields.len() >= 4 && fields[1].starts_with("100") {
            blobs
                .entry(fields[3].to_owned())
                .or_default()
                .insert(path.to_owned());
        }
    }
    Ok(blobs)
}

/// The first 1024 bytes of each of `ids` (all of those in `whole`: datapackages the caller
/// checked are within the size limit). Larger blobs stream through and are not kept.
pub(crate) fn cat_blobs<'a>(
    ids: impl Iterator<Item = &'a String>,
    whole: &[String],
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let ids: Vec<String> = ids.cloned().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut cat = Command::new("git")
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("git cat-file: {e}"))?;
    let mut input = cat.stdin.take().expect("piped");
    let wanted = ids.clone();
    let writer = std::thread::spawn(move || {
        for id in wanted {
            if writeln!(input, "{id}").is_err() {
                break;
            }
        }
    });
    let mut reader = std::io::BufReader::new(cat.stdout.take().expect("piped"));
    let mut blobs = Vec::new();
    let mut header = String::new();
    for id in ids {
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
        let keep = if whole.contains(&id) {
            size
        } else {
            size.min(MAX_POINTER_LEN)
        };
        let mut data = vec![0u8; keep];
        std::io::Read::read_exact(&mut reader, &mut data).map_err(|e| e.to_string())?;
        // The rest of the content and its trailing newline go by.
        let rest = (size - keep + 1) as u64;
        let copied = std::io::copy(
            &mut std::io::Read::take(&mut reader, rest),
            &mut std::io::sink(),
        )
        .map_err(|e| e.to_string())?;
        if copied != rest {
            return Err("git cat-file ended early".into());
        }
        blobs.push((id, data));
    }
    let _ = writer.join();
    let _ = cat.wait();
    Ok(blobs)
}
