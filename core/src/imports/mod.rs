//! Import by reference: a dataset's admin adopts the objects under a prefix of an import source
//! (a bucket or directory the operator declared, `--import-source`) as files of a folder of the
//! dataset, without copying them. An import runs in the background:
//!
//! 1. it lists the prefix (all of it, or nothing: at most [`MAX_OBJECTS`]) and maps each key to
//!    a path in the dataset, refusing names a dataset cannot hold;
//! 2. checks the object size limit and the namespace's quota;
//! 3. hashes each object where it is, once (an object adopted before at the same ETag is not
//!    read again), and records it pinned to that ETag and version (`crate::storage`);
//! 4. links the objects to the dataset and commits their pointers as one commit on the branch,
//!    tables becoming datapackage resources as for a browser upload.
//!
//! Then each file is an ordinary LFS object to every client (git-lfs, raw, S3, the Hub, the table
//! plane), read from the source; one that changed there is refused (409), never served wrong.
//! An import that fails commits nothing; one whose replica stops is taken up again.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use strata_lfs::pointer::Pointer;
use strata_lfs::Oid;
use strata_metastore::{Op, DATAPACKAGE, GITATTRIBUTES, LFSCONFIG};

use crate::auth::scope::Action;
use crate::auth::Principal;
use crate::commits::{commit, Change};
use crate::datasets::gate::{self, Gated};
use crate::db::{ImportRow, NewImport, ObjectRef};
use crate::error::{Error, Kind, Result};
use crate::Core;

/// The most objects one import adopts.
pub const MAX_OBJECTS: usize = 100_000;
/// Objects hashed at once.
const AT_ONCE: usize = 8;
/// How long a claim holds without progress being recorded.
const LEASE: i64 = 120;

/// The signal that wakes the imports' loop.
#[derive(Debug, Default)]
pub struct Imports {
    pub wake: tokio::sync::Notify,
}

/// What an admin asks to import.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The import source's name (`--import-source NAME=…`).
    pub source: String,
    /// The folder of the source to import (`""`: all of it).
    #[serde(default)]
    pub prefix: String,
    /// The dataset's folder the files land in (`""`: its root).
    #[serde(default)]
    pub path: String,
    /// The branch (default: the default branch).
    #[serde(default)]
    pub branch: Option<String>,
    /// The commit's summary.
    #[serde(default)]
    pub message: Option<String>,
}

/// An import, as the dataset's admins see it.
#[derive(Debug, Clone, Serialize)]
pub struct Import {
    pub id: i64,
    pub dataset: String,
    pub source: String,
    pub prefix: String,
    pub path: String,
    pub branch: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// Objects found under the prefix.
    pub objects: i64,
    /// Objects read and hashed in the source, and those known already at the same ETag.
    pub hashed: i64,
    pub reused: i64,
    /// Bytes the objects hold (read once to hash, never copied).
    pub bytes: i64,
    /// Bytes copied into strata's store: none.
    pub bytes_copied: i64,
    /// The commit that adopted them, once done.
    pub revision: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn view(dataset: String, r: ImportRow) -> Import {
    Import {
        id: r.id,
        dataset,
        source: r.source,
        prefix: r.prefix,
        path: r.path,
        branch: r.branch,
        state: r.state,
        objects: r.objects,
        hashed: r.hashed,
        reused: r.reused,
        bytes: r.bytes,
        bytes_copied: 0,
        revision: r.revision,
        error: r.error,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// The import sources `who` may import from into namespace `ns`.
pub fn sources_for<'a>(core: &'a Core, who: &Principal, ns: &str) -> Vec<&'a str> {
    let admin = matches!(who, Principal::User { user, .. } if user.admin());
    core.storage
        .import_sources()
        .filter(|(_, spaces)| admin || spaces.iter().any(|s| s.eq_ignore_ascii_case(ns)))
        .map(|(name, _)| name)
        .collect()
}

/// A folder as given (`a/b`, `a/b/`, `/a/b`): `""` or checked and ending in `/`.
fn folder(what: &str, s: &str) -> Result<String> {
    let trimmed = s.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    gate::check_path(trimmed)
        .map_err(|e| Error::unprocessable(format!("{what}: {}", e.message)))?;
    Ok(format!("{trimmed}/"))
}

/// Starts an import into `{ns}/{name}` (its admins; not a mirror, not under encryption).
pub async fn start(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
    input: Input,
) -> Result<Import> {
    let repo = gate::dataset(core, who, ns, name, Action::Admin).await?;
    let Principal::User { user, .. } = who else {
        return Err(Error::forbidden(
            "imports are started with a personal access token",
        ));
    };
    // A mirror refuses writes here, with its reason.
    gate::dataset(core, who, ns, name, Action::Write).await?;
    if core.storage.sealed() {
        return Err(Error::conflict(
            "this server seals every stored byte (--encryption): objects adopted by reference \
             would stay in their bucket unsealed, so imports by reference are off",
        ));
    }
    let allowed = sources_for(core, who, &repo.namespace);
    if !allowed.contains(&input.source.as_str()) {
        let known = core
            .storage
            .import_sources()
            .any(|(n, _)| n == input.source);
        let offer = match allowed.is_empty() {
            true => "none is open to it".to_owned(),
            false => format!("it may use {}", allowed.join(", ")),
        };
        return Err(match known {
            true => Error::forbidden(format!(
                "import source {:?} is not open to namespace {:?} ({offer})",
                input.source, repo.namespace
            )),
            false => Error::not_found(format!(
                "there is no import source {:?} ({offer})",
                input.source
            )),
        });
    }
    let prefix = folder("prefix", &input.prefix)?;
    let path = folder("path", &input.path)?;
    let branch = input
        .branch
        .clone()
        .unwrap_or_else(|| strata_metastore::DEFAULT_BRANCH.to_owned());
    if branch != strata_metastore::DEFAULT_BRANCH {
        crate::datasets::paths::head_of(core, &repo, Some(&branch)).await?;
    }
    let message = input
        .message
        .clone()
        .unwrap_or_else(|| format!("Import {}{prefix} by reference", input.source));
    if message.trim().is_empty() || message.len() > 1000 {
        return Err(Error::unprocessable("message: 1 to 1000 characters"));
    }
    if core.db.imports_open(repo.id).await? > 0 {
        return Err(Error::conflict(
            "an import into this dataset is running: wait for it to end",
        ));
    }
    let row = core
        .db
        .import_create(
            repo.id,
            &NewImport {
                created_by: user.id,
                source: &input.source,
                prefix: &prefix,
                path: &path,
                branch: &branch,
                message: &message,
            },
        )
        .await?;
    core.imports.wake.notify_one();
    Ok(view(format!("{}/{}", repo.namespace, repo.name), row))
}

/// Import `id` of `{ns}/{name}` (its admins).
pub async fn get(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
    id: i64,
) -> Result<Import> {
    let repo = gate::dataset(core, who, ns, name, Action::Admin).await?;
    let row = core
        .db
        .import_get(repo.id, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("no import {id} in this dataset")))?;
    Ok(view(format!("{}/{}", repo.namespace, repo.name), row))
}

/// The latest imports of `{ns}/{name}` (its admins), newest first, and the sources the caller
/// may import from into it.
pub async fn list(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
) -> Result<(Vec<Import>, Vec<String>)> {
    let repo = gate::dataset(core, who, ns, name, Action::Admin).await?;
    of(core, &repo, 50).await
}

/// The latest `limit` imports of `repo`, which its caller administers, and the sources they
/// may import from into it.
pub async fn of(core: &Core, repo: &Gated, limit: i64) -> Result<(Vec<Import>, Vec<String>)> {
    let rows = core.db.imports_of(repo.id, limit).await?;
    let imports = rows
        .into_iter()
        .map(|r| view(format!("{}/{}", repo.namespace, repo.name), r))
        .collect();
    let sources = sources_for(core, repo.who(), &repo.namespace)
        .into_iter()
        .map(str::to_owned)
        .collect();
    Ok((imports, sources))
}

/// Runs the loop: every two seconds, or when woken, claims the imports due and runs them.
pub fn start_loop(core: &Arc<Core>) {
    let core = core.clone();
    core.tasks.clone().spawn("imports", move |stop| async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = core.imports.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            let due = match core.db.imports_due(4).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "imports: which are due cannot be read");
                    continue;
                }
            };
            for row in due {
                if stop.is_cancelled() {
                    break;
                }
                match core.db.import_claim(row.id, crate::db::now() + LEASE).await {
                    Ok(true) => {
                        let id = row.id;
                        let outcome = leased(&core, &row).await;
                        let ended = match &outcome {
                            Ok(revision) => core.db.import_end(id, Ok(revision.as_deref())).await,
                            Err(e) => core.db.import_end(id, Err(&e.message)).await,
                        };
                        if let Err(e) = ended {
                            tracing::warn!(error = %e, import = id, "imports: the end was not recorded");
                        }
                        match outcome {
                            Ok(_) => tracing::info!(import = id, "import done"),
                            Err(e) => tracing::warn!(import = id, error = %e.message, "import failed"),
                        }
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "imports: a claim failed"),
                }
            }
        }
    });
}

/// The dataset an import runs on, opened for the account that started it (which must still
/// administer it, and write to it).
async fn reach(core: &Core, row: &ImportRow) -> Result<Gated> {
    let repo = core
        .db
        .repo_by_id(row.repo_id)
        .await?
        .ok_or_else(|| Error::not_found("the dataset is gone"))?;
    let user = core
        .db
        .user_by_id(row.created_by)
        .await?
        .ok_or_else(|| Error::forbidden("the account that started this import is gone"))?;
    let who = Principal::User {
        user,
        scopes: crate::auth::scope::Scopes::parse("*").map_err(Error::internal)?,
        family: None,
    };
    crate::context::set_actor(&who.display_name());
    let refused = |e: Error| {
        Error::forbidden(format!(
            "the account that started this import may no longer: {}",
            e.message
        ))
    };
    gate::dataset(core, &who, &repo.namespace, &repo.name, Action::Admin)
        .await
        .map_err(refused)?;
    gate::dataset(core, &who, &repo.namespace, &repo.name, Action::Write)
        .await
        .map_err(refused)
}

/// The dataset path `key` (under `prefix`) lands at in `folder`, or why it cannot.
fn landing(prefix: &str, folder: &str, key: &str) -> Result<String> {
    let rel = key.strip_prefix(prefix).unwrap_or(key);
    let path = format!("{folder}{rel}");
    let refuse = |why: &str| {
        Error::unprocessable(format!(
            "{key:?} cannot be a file of the dataset ({why}): rename it, or import a narrower prefix"
        ))
    };
    gate::check_path(&path).map_err(|e| refuse(&e.message))?;
    let last = path.rsplit('/').next().unwrap_or(&path);
    if path == DATAPACKAGE || last == GITATTRIBUTES || path == LFSCONFIG {
        return Err(refuse("strata keeps that file itself"));
    }
    if path
        .split('/')
        .any(|part| part.eq_ignore_ascii_case(".git"))
    {
        return Err(refuse("a .git folder"));
    }
    Ok(path)
}

/// A path of `paths` that is also the folder of another, with that other: a bucket may hold
/// keys `a` and `a/b`, a dataset not.
fn clash(paths: &[String]) -> Option<(&str, &str)> {
    let all: std::collections::HashSet<&str> = paths.iter().map(String::as_str).collect();
    paths.iter().find_map(|p| {
        let mut at = p.as_str();
        while let Some((folder, _)) = at.rsplit_once('/') {
            if all.contains(folder) {
                return Some((folder, p.as_str()));
            }
            at = folder;
        }
        None
    })
}

/// `l` of `source` hashed where it is, or as it was adopted before at the same ETag (`true`).
async fn hash_one(
    core: &Core,
    source: &str,
    l: &crate::storage::Listed,
    limit: u64,
) -> Result<(ObjectRef, bool)> {
    if let Some(etag) = &l.etag {
        if let Some(known) = core.db.object_ref_at(source, &l.key, etag).await? {
            return Ok((known, true));
        }
    }
    Ok((
        core.storage.hash_source(source, &l.key, limit).await?,
        false,
    ))
}

/// [`run`] while its lease is renewed every quarter of [`LEASE`] (a single large object may
/// take longer to hash than the lease lasts): it stops when the lease is lost.
async fn leased(core: &Core, row: &ImportRow) -> Result<Option<String>> {
    let keep = async {
        loop {
            tokio::time::sleep(Duration::from_secs((LEASE / 4) as u64)).await;
            match core.db.import_renew(row.id, crate::db::now() + LEASE).await {
                Ok(true) => {}
                Ok(false) => return Error::conflict("the import was taken over"),
                Err(e) => return Error::from(e),
            }
        }
    };
    tokio::select! {
        done = run(core, row) => done,
        lost = keep => Err(lost),
    }
}

/// One import: returns the revision that adopted the objects.
async fn run(core: &Core, row: &ImportRow) -> Result<Option<String>> {
    let repo = reach(core, row).await?;
    let listed = core
        .storage
        .list_source(&row.source, &row.prefix, MAX_OBJECTS)
        .await?;
    if listed.is_empty() {
        return Err(Error::not_found(format!(
            "there is no object under {:?} in import source {:?}",
            row.prefix, row.source
        )));
    }
    let mut paths = Vec::with_capacity(listed.len());
    let limit = core.settings.object_limit();
    let mut total = 0u64;
    for l in &listed {
        paths.push(landing(&row.prefix, &row.path, &l.key)?);
        if l.size > limit {
            return Err(Error::new(
                Kind::TooLarge,
                format!(
                    "{:?} is {} bytes, more than the {limit} an object may be",
                    l.key, l.size
                ),
            ));
        }
        total += l.size;
    }
    if let Some((folder, p)) = clash(&paths) {
        return Err(Error::unprocessable(format!(
            "{folder:?} would be both a file and the folder of {p:?} (a bucket may hold both \
             keys): import a narrower prefix"
        )));
    }
    crate::quotas::room(core, &repo).await?.check(total)?;
    let count = listed.len() as i64;
    let (mut hashed, mut reused, mut bytes) = (0i64, 0i64, 0i64);
    let mut last = std::time::Instant::now();
    let mut refs: Vec<ObjectRef> = Vec::with_capacity(listed.len());
    let source = row.source.as_str();
    let hashes: Vec<futures_util::future::BoxFuture<'_, Result<(ObjectRef, bool)>>> = listed
        .iter()
        .map(|l| futures_util::FutureExt::boxed(hash_one(core, source, l, limit)))
        .collect();
    let mut work = futures_util::stream::iter(hashes).buffered(AT_ONCE);
    while let Some(done) = work.next().await {
        let (r, known) = done?;
        match known {
            true => reused += 1,
            false => hashed += 1,
        }
        bytes += r.size;
        refs.push(r);
        if last.elapsed() >= Duration::from_secs(1) || refs.len() == listed.len() {
            last = std::time::Instant::now();
            let held = core
                .db
                .import_progress(
                    row.id,
                    crate::db::now() + LEASE,
                    (count, hashed, bytes, reused),
                )
                .await?;
            if !held {
                return Err(Error::conflict("the import was taken over"));
            }
        }
    }
    drop(work);
    let mut ops = Vec::with_capacity(refs.len());
    let mut vouched = Vec::with_capacity(refs.len());
    core.storage.adopt(repo.id, &refs).await?;
    for (r, path) in refs.iter().zip(&paths) {
        let oid: Oid = r.oid.parse().map_err(Error::internal)?;
        ops.push(Op::Put {
            path: path.clone(),
            data: Pointer {
                oid,
                size: r.size as u64,
            }
            .encode()
            .into_bytes(),
        });
        vouched.push(oid);
    }
    let change = Change {
        summary: row.message.clone(),
        description: Some(format!("Strata-Import: {}:{}", row.source, row.prefix)),
        at_head: true,
        branch: Some(row.branch.clone()),
        lfs_paths: paths,
        ops,
        vouched,
        describe: crate::commits::describe::Describe::Add,
        ..Change::default()
    };
    let who = repo.who().clone();
    let revision = commit(core, &who, &repo, change).await?;
    Ok(Some(revision.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_land_as_files_or_are_refused() {
        assert_eq!(
            landing("exports/", "raw/", "exports/a/b.csv").unwrap(),
            "raw/a/b.csv"
        );
        assert_eq!(landing("", "", "top.bin").unwrap(), "top.bin");
        for (prefix, folder, key) in [
            ("", "", "datapackage.json"),
            ("x/", "", "x/.lfsconfig"),
            ("", "in/", "deep/.gitattributes"),
            ("", "", "a/.git/config"),
            ("", "", "a//b"),
            ("", "", "a/../b"),
        ] {
            assert!(landing(prefix, folder, key).is_err(), "{key}");
        }
        // Not at the root, a datapackage.json is a file like any.
        assert!(landing("", "", "sub/datapackage.json").is_ok());
    }

    #[test]
    fn a_file_that_is_also_a_folder_is_found() {
        let paths = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(clash(&paths(&["a/b", "c", "a/c/d"])), None);
        assert_eq!(clash(&paths(&["a/b/c", "a"])), Some(("a", "a/b/c")));
        assert_eq!(clash(&paths(&["x/y", "x/y/z"])), Some(("x/y", "x/y/z")));
    }

    #[test]
    fn folders_are_checked_and_end_in_a_slash() {
        assert_eq!(folder("prefix", "").unwrap(), "");
        assert_eq!(folder("prefix", "/").unwrap(), "");
        assert_eq!(folder("prefix", "/a/b/").unwrap(), "a/b/");
        assert!(folder("prefix", "../etc").is_err());
        assert!(folder("path", "a//b").is_err());
    }
}
