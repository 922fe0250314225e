//! The `pre-receive` hook of pushes over HTTP, the write gate of git: a push never creates what
//! the REST API refuses. git runs it (through the script [`install`] writes) with the pushed
//! objects in quarantine, and it refuses the whole push when
//!
//! - a ref is outside `refs/heads/` and `refs/tags/`, or points at something that is not a
//!   commit (a tag of a tree or blob would break the tag API);
//! - the default branch is deleted or force-pushed while the dataset protects it;
//! - a new blob is larger than the server's object size limit;
//! - a new `datapackage.json` is not one the REST API would accept;
//! - an LFS pointer (in any spelling git-lfs accepts) or a datapackage resource names an object
//!   that was not uploaded to this dataset;
//! - the default branch is protected and its new tables break their contract (asked of the
//!   server that started the push: `crate::hook::push`);
//! - a policy denies writing a table the default branch's new datapackage changes, or would
//!   transform it on write (a push cannot be rewritten; asked the same way);
//! - under `--encryption strict`, a new file other than `datapackage.json`, `.gitattributes` and
//!   `.lfsconfig` holds its content in git rather than as an LFS pointer (git objects are never
//!   sealed; the policy dataset's `.rego` files are exempt);
//! - a new commit, or a branch moved, removes `.lfsconfig` or changes where it points git-lfs
//!   (`content::check_lfsconfig`);
//! - the content the push keeps in git (new blobs that are no LFS pointers) would take the
//!   dataset's namespace past its quota (`crate::quotas`); a push that passes counts it.
//!
//! A new `datapackage.json` whose resources leave out `bytes` and `hash` takes them from the LFS
//! pointers of its commit (`content::packages`).
//!
//! git-lfs uploads objects before it pushes, so a normal push passes; a push without `git lfs
//! push` gets a message saying what is missing. A push that passes records the tables of the
//! revisions the default branch gets (`crate::datasets::policies::index`).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use strata_lfs::pointer::{self};
use strata_lfs::Oid;
use strata_metastore::{DATAPACKAGE, DEFAULT_BRANCH};

use crate::db::Db;

mod content;
pub mod push;
pub mod rules;
use crate::datasets::paths::plain_allowed;
use crate::datasets::plumbing::{batch_check, cat_blobs, git, introduced_blobs, is_ancestor};

/// Environment the hook reads: where this server's files for it are, and the push's rules. The
/// database URL (which may carry a password) is not in the environment, which any process of the
/// same user can read under `/proc`: the hook reads it from a file only strata's user may read
/// ([`write_database_url`]), named by [`ENV_DATABASE_FILE`]; the hook key is beside it. What the
/// push is held to is one signed request, [`rules::ENV_RULES`].
pub const ENV_DATABASE_FILE: &str = "STRATA_HOOK_DATABASE_FILE";
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
    write_hook(&script, &text)?;
    // With the ref ledger, git asks it before moving any ref: a refused swap aborts the push.
    // Either way the moves' events are recorded.
    let text = format!(
        "#!/bin/sh\n# Written by strata at start-up: pushed refs move in the ledger (--refs sql) and\n\
         # their events are recorded.\nexec \"${ENV_EXE}\" hook reference-transaction \"$1\"\n"
    );
    write_hook(&dir.join("reference-transaction"), &text)?;
    Ok(dir)
}

/// Writes the database URL for the hook to `{data_dir}/keys/database-url`, readable by strata's
/// user only, whole before it takes the name (a temporary file, then a rename), and returns its
/// path. An unchanged file is left alone.
pub fn write_database_url(data_dir: &Path, url: &str) -> std::io::Result<PathBuf> {
    let dir = data_dir.join("keys");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("database-url");
    if std::fs::read_to_string(&path).is_ok_and(|t| t == url) {
        return Ok(path);
    }
    let tmp = path.with_extension(format!("tmp.{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(&tmp)?.write_all(url.as_bytes())?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The file where strata left the database URL for the hook (the hook key is beside it).
fn database_file() -> Result<std::path::PathBuf, String> {
    std::env::var_os(ENV_DATABASE_FILE)
        .map(Into::into)
        .ok_or_else(|| "the hook runs only inside a push to strata".to_owned())
}

/// The database URL strata left for the hook.
fn database_url() -> Result<String, String> {
    let path = database_file()?;
    std::fs::read_to_string(&path)
        .map_err(|e| format!("the hook's database file {}: {e}", path.display()))
}

/// The rules of the push the hook runs in, signed by the server that received it.
fn push_rules() -> Result<rules::Rules, String> {
    rules::Rules::from_env(&database_file()?)
}

/// Writes a hook script whole and executable before it takes the name (replicas sharing the
/// directory start while others serve pushes): a temporary file, then a rename. Unchanged
/// scripts are left alone.
fn write_hook(path: &Path, text: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    let executable = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 == 0o111)
    };
    #[cfg(not(unix))]
    let executable = true;
    if executable && std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    let tmp = path.with_extension(format!("tmp.{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&tmp, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    }
    std::fs::rename(&tmp, path)
}

/// One line of git's input to the hook.
struct Update {
    old: String,
    new: String,
    name: String,
}

/// `strata hook reference-transaction STATE` (`--refs sql`): git calls it with the ref updates
/// of a push on stdin, once `prepared` (the refs are locked; a failure aborts the push), then
/// `committed` or `aborted`. Prepared, every branch and tag update is swapped in the ledger in
/// one transaction, each from the value git saw: a push based on a ref another replica moved
/// meanwhile is refused. Should git fail after that (a full disk), the ledger keeps the push and
/// the files catch up at the next read.
pub async fn reference_transaction(state: &str) -> Result<(), String> {
    let rules = push_rules()?;
    let sql = rules.refs_sql;
    // Without the ledger only `committed` acts: nothing before it may fail a push.
    if !sql && state != "committed" {
        return Ok(());
    }
    let dataset = rules.dataset;
    let url = database_url()?;
    let absent = |v: &str| (v != ZERO).then(|| v.to_owned());
    let mut edits = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let mut parts = line.split(' ');
        let (Some(old), Some(new), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        // Branches and tags only; a symbolic ref's value reads `ref:…`.
        if !(name.starts_with("refs/heads/") || name.starts_with("refs/tags/"))
            || old.starts_with("ref:")
            || new.starts_with("ref:")
        {
            continue;
        }
        edits.push(crate::db::RefEdit {
            name: name.to_owned(),
            old: absent(old),
            new: absent(new),
        });
    }
    // http-backend names the pusher (strata authenticated them).
    let events = crate::events::of_refs(&dataset, &edits, std::env::var("REMOTE_USER").ok());
    // Without the ledger, the files moved: their events are recorded once git committed them (a
    // crash in between loses them).
    if !sql {
        if state != "committed" || edits.is_empty() {
            return Ok(());
        }
        let db = Db::connect_existing(&url)
            .await
            .map_err(|e| format!("strata: the database is unreachable: {e}"))?;
        let recorded = db.record_events(&events).await;
        db.close().await;
        return recorded.map_err(|e| format!("strata: the push's events were not recorded: {e}"));
    }
    // Only `prepared` acts. git runs `aborted` when `prepared` failed, and then the ledger's
    // transaction was rolled back already: undoing "our" swap would undo another replica's.
    if state != "prepared" || edits.is_empty() {
        return Ok(());
    }
    let db = Db::connect_existing(&url)
        .await
        .map_err(|e| format!("strata: the ref ledger is unreachable: {e}"))?;
    let result = db.ledger_swap(&dataset, &edits, &events).await;
    db.close().await;
    match result {
        Ok(()) => Ok(()),
        Err(crate::db::SwapError::Moved(name)) => Err(format!(
            "{} moved on the server while this push was received: fetch, then push again",
            name.strip_prefix("refs/heads/")
                .or_else(|| name.strip_prefix("refs/tags/"))
                .unwrap_or(&name)
        )),
        Err(e @ crate::db::SwapError::Nested(..)) => Err(e.to_string()),
        Err(crate::db::SwapError::Db(e)) => Err(format!("strata: the ref ledger failed: {e}")),
    }
}

/// `strata hook pre-receive`: reads git's ref updates on stdin; `Err` is shown to the pusher.
pub async fn pre_receive() -> Result<(), String> {
    let rules = push_rules()?;
    let repo_id = rules.repo_id;
    let url = database_url()?;
    let protect = rules.protect_default;
    let mut updates = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let mut parts = line.split_whitespace();
        if let (Some(old), Some(new), Some(name)) = (parts.next(), parts.next(), parts.next()) {
            updates.push(Update {
                old: old.into(),
                new: new.into(),
                name: name.into(),
            });
        }
    }
    let limits = Limits {
        object: rules.max_object_size,
        package: rules.max_package,
        strict: rules.strict,
    };
    let quota = rules.quota;
    let own_url = rules.lfs_url.clone();
    let policy_limit = rules.policy_limit_ms;
    let default = format!("refs/heads/{DEFAULT_BRANCH}");
    if protect && rules.merges_only && updates.iter().any(|u| u.name == default) {
        return Err(format!(
            "push refused: {DEFAULT_BRANCH} takes changes through merge requests only: push a \
             branch and open a merge request"
        ));
    }
    let main = updates
        .iter()
        .find(|u| u.name == default && u.new != ZERO)
        .map(|u| ((u.old != ZERO).then(|| u.old.clone()), u.new.clone()));
    // The branches the push moves (not deletes), the default one first.
    let mut branches: Vec<(String, String)> = updates
        .iter()
        .filter(|u| u.name.starts_with("refs/heads/") && u.new != ZERO)
        .map(|u| (u.name.clone(), u.new.clone()))
        .collect();
    branches.sort_by_key(|(name, _)| *name != default);
    let (named, kept) = tokio::task::spawn_blocking(move || {
        let inspected = inspect(&updates, protect, limits)?;
        content::check_lfsconfig(&updates, own_url.as_deref())?;
        if let Some(ms) = policy_limit {
            content::check_policies(&updates, std::time::Duration::from_millis(ms))?;
        }
        Ok::<_, String>(inspected)
    })
    .await
    .map_err(|e| e.to_string())??;
    if named.is_empty() && branches.is_empty() && kept == 0 {
        return Ok(());
    }
    let db = Db::connect_existing(&url)
        .await
        .map_err(|e| format!("database: {e}"))?;
    // The content kept in git counts toward the namespace's quota, as a REST commit's does.
    if let (Some(quota), true) = (quota, kept > 0) {
        let namespace = rules
            .dataset
            .split_once('/')
            .map(|(ns, _)| ns.to_owned())
            .ok_or("no dataset for the hook")?;
        let used = db
            .namespace_used(&namespace)
            .await
            .map_err(|e| format!("database: {e}"))?
            .max(0) as u64;
        if used.saturating_add(kept) > quota {
            return Err(format!(
                "push refused: {namespace} is over its storage quota: it holds {used} of {quota} \
                 bytes and this push keeps {kept} more in git. Track large files with git lfs \
                 (git lfs track; git lfs migrate import for commits already made), delete \
                 data, or ask a site admin for more."
            ));
        }
    }
    let missing = db
        .missing_objects(repo_id, named.into_iter())
        .await
        .map_err(|e| format!("database: {e}"))?;
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(20).map(|m| format!("  {m}")).collect();
        return Err(format!(
            "push refused: {} LFS object(s) named by the pushed commits were never uploaded to \
             this dataset:\n{}\nUpload them first (git lfs push --all origin), then push again.",
            missing.len(),
            shown.join("\n")
        ));
    }
    // The policies on writes (every branch a push moves) and the contract of a protected
    // default branch, checked by the server that started the push (which gives the hook a way
    // to ask when either applies); a push to a protected branch whose check cannot be asked for
    // is refused.
    let governed = rules.ask.as_ref().is_some_and(|a| a.governed);
    for (branch, new) in &branches {
        let is_default = *branch == default;
        if !is_default && !governed {
            // Only the policies look at other branches.
            continue;
        }
        let Some(rules::Ask { url, token, .. }) = &rules.ask else {
            if is_default && protect {
                return Err(format!(
                    "push refused: {DEFAULT_BRANCH} is protected and its contract could not be \
                     checked (the server gave this push no way to ask): try again"
                ));
            }
            continue;
        };
        let listed = git(&["ls-tree", "--name-only", new, "--", DATAPACKAGE])?;
        if !listed.status.success() {
            return Err(format!(
                "push refused: the contract could not be checked ({})",
                String::from_utf8_lossy(&listed.stderr).trim()
            ));
        }
        let blob = |path: &str| {
            git(&["cat-file", "blob", &format!("{new}:{path}")])
                .ok()
                .filter(|o| o.status.success())
                .map(|o| o.stdout)
        };
        // A revision without a datapackage describes nothing: asked about as an empty one, so
        // that pushing the datapackage away (its tags with it) is governed like untagging it.
        let mut package: serde_json::Map<String, serde_json::Value> = if listed.stdout.is_empty() {
            serde_json::from_value(serde_json::json!({"resources": []}))
                .map_err(|e| e.to_string())?
        } else {
            let bytes = blob(DATAPACKAGE).ok_or_else(|| {
                format!(
                    "push refused: the contract could not be checked ({DATAPACKAGE} unreadable)"
                )
            })?;
            serde_json::from_slice(&bytes)
                .map_err(|e| format!("push refused: {DATAPACKAGE} is not JSON: {e}"))?
        };
        crate::datasets::packaged::at_files(&mut package, blob);
        let bytes = serde_json::to_vec(&package).map_err(|e| e.to_string())?;
        let name = branch.trim_start_matches("refs/heads/");
        crate::hook::push::ask(url, token, new, name, bytes).await?;
    }
    // The tables of the revisions the default branch gets (governance refuses their objects raw).
    if let Some((old, new)) = main {
        crate::datasets::policies::index::pushed(&db, repo_id, old.as_deref(), &new).await?;
    }
    // The push passed: what it keeps in git counts from now on.
    if kept > 0 {
        db.add_git_bytes(repo_id, i64::try_from(kept).unwrap_or(i64::MAX))
            .await
            .map_err(|e| format!("database: {e}"))?;
    }
    Ok(())
}

/// Size limits of a push, in bytes.
struct Limits {
    /// The largest plain blob (0: none).
    object: u64,
    /// The largest `datapackage.json`.
    package: u64,
    /// `--encryption strict`: content files must be LFS pointers.
    strict: bool,
}

/// Checks the refs and the new blobs of a push; returns the objects its pointers and
/// datapackages name, which must be linked to the dataset, and the bytes of content it keeps in
/// git (for the namespace's quota).
fn inspect(
    updates: &[Update],
    protect: bool,
    limits: Limits,
) -> Result<(Vec<(Oid, u64)>, u64), String> {
    let max_size = limits.object;
    let default = format!("refs/heads/{DEFAULT_BRANCH}");
    for u in updates {
        if !(u.name.starts_with("refs/heads/") || u.name.starts_with("refs/tags/")) {
            return Err(format!(
                "push refused: {} is neither a branch nor a tag; strata keeps refs/heads/* and \
                 refs/tags/* only",
                u.name
            ));
        }
        if protect && u.name == default {
            if u.new == ZERO {
                return Err(format!(
                    "push refused: {DEFAULT_BRANCH} is protected and cannot be deleted (a \
                     dataset admin can turn protection off)"
                ));
            }
            if u.old != ZERO && !is_ancestor(&u.old, &u.new)? {
                return Err(format!(
                    "push refused: {DEFAULT_BRANCH} is protected against force-pushes; pull, \
                     merge and push again (a dataset admin can turn protection off)"
                ));
            }
        }
    }
    let tips: Vec<&str> = updates
        .iter()
        .filter(|u| u.new != ZERO)
        .map(|u| u.new.as_str())
        .collect();
    if tips.is_empty() {
        return Ok((Vec::new(), 0));
    }
    // Every new ref must be (or peel to) a commit.
    let peeled = batch_check(tips.iter().map(|t| format!("{t}^{{commit}}")))?;
    for (u, found) in updates.iter().filter(|u| u.new != ZERO).zip(&peeled) {
        if found.is_none() {
            return Err(format!(
                "push refused: {} points at {}, which is not a commit",
                u.name, u.new
            ));
        }
    }
    let blobs = introduced_blobs(&tips)?;
    if blobs.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let ids: Vec<&String> = blobs.keys().collect();
    let sizes = batch_check(ids.iter().map(|id| id.to_string()))?;
    let mut small = Vec::new();
    let mut packages = Vec::new();
    let mut size_of = std::collections::BTreeMap::new();
    for (id, size) in ids.iter().zip(sizes) {
        let size = size.map(|(_, s)| s).unwrap_or(0);
        size_of.insert((*id).clone(), size);
        let paths = &blobs[*id];
        if max_size > 0 && size > max_size {
            return Err(format!(
                "push refused: {} is {size} bytes, more than this server's limit of {max_size} \
                 bytes for a file in git; track it with git lfs track",
                paths.iter().next().map(String::as_str).unwrap_or("a file")
            ));
        }
        if paths.contains(DATAPACKAGE) {
            if size > limits.package {
                return Err(format!(
                    "push refused: {DATAPACKAGE} is {size} bytes, more than the {} allowed",
                    limits.package
                ));
            }
            packages.push((*id).clone());
        } else {
            // git-lfs decides from the first 1024 bytes whatever the size: read those of all.
            small.push((*id).clone());
        }
    }
    let mut named = Vec::new();
    let mut counted = Vec::new();
    for (id, data) in cat_blobs(small.iter().chain(&packages), &packages)? {
        let size = size_of.get(&id).copied().unwrap_or(0);
        if blobs[&id]
            .iter()
            .any(|p| crate::quotas::counts_in_git(p, size, &data))
        {
            counted.push(id.clone());
        }
        let plain = pointer::lenient(&data).is_none() && !data.is_empty();
        if let Some(path) = blobs[&id].iter().find(|p| plain && !plain_allowed(p)) {
            if limits.strict {
                return Err(format!(
                    "push refused: {path} is stored in git as plain content, and this server keeps \
                     every file encrypted (--encryption strict), which git objects never are. \
                     Track it with git lfs (git lfs track '{path}'; git lfs migrate import \
                     --include='{path}' for commits already made), then push again."
                ));
            }
        }
        if packages.contains(&id) {
            for package in content::packages(&id, &data, &tips)? {
                named.extend(package.resources.iter().map(|r| (r.oid, r.size)));
            }
        }
        if let Some(p) = pointer::lenient(&data) {
            named.push((p.oid, p.size));
        }
    }
    let kept = content::kept_in_git(&counted, &size_of)?;
    Ok((named, kept))
}

#[cfg(test)]
mod tests {
    /// The hook's database URL sits in a file only strata's user may read, replaced whole.
    #[test]
    fn the_database_url_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let url = "postgres://strata:pw@db/strata";
        let path = super::write_database_url(dir.path(), url).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), url);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        let again = super::write_database_url(dir.path(), "sqlite://other.db").unwrap();
        assert_eq!(again, path);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "sqlite://other.db");
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file stays behind");
    }
}
