//! The Hugging Face Hub's view of a dataset, for `huggingface_hub` pointed at strata
//! (`HF_ENDPOINT`): the dataset's info at a revision (its files as `siblings`), the tree listing
//! (files and folders, LFS files with their sha256), the paths asked about (`paths-info`), the
//! commits, the refs. `repo_id` is `{ns}/{name}`; revisions are strata's (a branch, a tag or a
//! commit id). Every answer comes through the read gate: a caller who reaches only some paths (a
//! share) sees only those.

use serde::Serialize;
use serde_json::{json, Value};
use strata_metastore::{Revision, TreeEntry};

use crate::auth::scope::Action;
use crate::auth::Principal;
use crate::datasets::gate::{self, Gated};
use crate::datasets::git_on;
use crate::db::{rfc3339, Visibility};
use crate::error::{Error, Result};
use crate::Core;

/// Commits one page of `list_repo_commits` holds.
pub const COMMITS_PER_PAGE: usize = 100;
/// Entries one page of a tree listing holds.
pub const TREE_PER_PAGE: usize = 1000;

/// A dataset as `dataset_info` reads it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    /// `ns/name`.
    pub id: String,
    pub author: String,
    /// The revision's commit id.
    pub sha: String,
    pub created_at: String,
    pub last_modified: String,
    pub private: bool,
    /// `false`, or how access requests are answered (`manual`, `auto`).
    pub gated: Value,
    pub disabled: bool,
    pub downloads: u64,
    pub likes: u64,
    /// The datapackage's keywords.
    pub tags: Vec<String>,
    /// The datapackage's title, description and licence, as a dataset card's data.
    pub card_data: Value,
    pub siblings: Vec<Sibling>,
}

/// One file of [`Info`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sibling {
    pub rfilename: String,
    pub size: u64,
    pub blob_id: String,
    /// The Hub names the sha256 `sha256` here (and `oid` in a tree listing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lfs: Option<SiblingLfs>,
}

/// An LFS file's object, as [`Sibling`] names it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SiblingLfs {
    pub sha256: String,
    pub size: u64,
    pub pointer_size: u64,
}

/// An LFS file's object.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lfs {
    /// The sha256.
    pub oid: String,
    pub size: u64,
    pub pointer_size: u64,
}

/// One entry of a tree listing.
#[derive(Debug, Serialize)]
pub struct Entry {
    /// `file` or `directory`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The git object id (a file's blob; a folder's tree is not looked up: the commit's id).
    pub oid: String,
    /// A file's size (an LFS file's object's); 0 for a folder.
    pub size: u64,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lfs: Option<Lfs>,
    /// The last commit that changed it (`id`, `title`, `date`), when asked for (`expand`).
    #[serde(rename = "lastCommit", skip_serializing_if = "Option::is_none")]
    pub last_commit: Option<Value>,
}

/// One commit, as `list_repo_commits` reads it.
#[derive(Debug, Serialize)]
pub struct Commit {
    pub id: String,
    pub title: String,
    pub message: String,
    pub authors: Vec<Value>,
    pub date: String,
}

/// The dataset `ns/name` for a reader: through the read gate of its whole, or of the parts a
/// share gives. (The calls below take it, so a caller can tell a dataset that is not there from
/// a revision or a file that is not.)
pub async fn reader(core: &Core, who: &Principal, ns: &str, name: &str) -> Result<Gated> {
    gate::shared(core, who, ns, name, Action::Read).await
}

/// The files of `rev` the caller may read, and the commit `rev` is.
async fn files(core: &Core, gated: &Gated, rev: &str) -> Result<(String, Vec<TreeEntry>)> {
    gated.check_rev(Some(rev))?;
    let rev = rev.to_owned();
    let (commit, entries) = git_on(core, gated, move |ms, ds| ms.tree(ds, Some(&rev))).await?;
    Ok((
        commit,
        entries
            .into_iter()
            .filter(|e| gated.covers(&e.path))
            .collect(),
    ))
}

fn lfs_of(e: &TreeEntry) -> Option<Lfs> {
    e.lfs.as_ref().map(|p| Lfs {
        oid: p.oid.to_string(),
        size: p.size,
        pointer_size: e.size,
    })
}

/// A file's size as clients mean it: an LFS file's object's.
fn size_of(e: &TreeEntry) -> u64 {
    e.lfs.as_ref().map_or(e.size, |p| p.size)
}

/// `dataset_info`: the dataset at `rev`.
pub async fn info(core: &Core, gated: &Gated, rev: &str) -> Result<Info> {
    let (commit, entries) = files(core, gated, rev).await?;
    let at = commit.clone();
    // A revision without a datapackage (pushed over git, say) has files all the same.
    let (revision, package) =
        git_on(core, gated, move |ms, ds| ms.fetch_any(ds, Some(&at))).await?;
    let package = package.map_or(Value::Null, |p| Value::Object(p.json));
    let tags = package["keywords"]
        .as_array()
        .map(|k| {
            k.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let licence = package["licenses"][0]["name"].clone();
    Ok(Info {
        id: gated.path(),
        author: gated.namespace.clone(),
        sha: commit,
        created_at: rfc3339(gated.created_at),
        last_modified: rfc3339(revision.time),
        private: gated.visibility != Visibility::Public,
        gated: if gated.is_gated() {
            Value::from(gated.gated.clone())
        } else {
            Value::Bool(false)
        },
        disabled: false,
        downloads: 0,
        likes: 0,
        tags,
        card_data: json!({"pretty_name": package["title"], "description": package["description"],
            "license": licence}),
        siblings: entries
            .iter()
            .map(|e| Sibling {
                rfilename: e.path.clone(),
                size: size_of(e),
                blob_id: e.oid.clone(),
                lfs: lfs_of(e).map(|l| SiblingLfs {
                    sha256: l.oid,
                    size: l.size,
                    pointer_size: l.pointer_size,
                }),
            })
            .collect(),
    })
}

/// What a tree listing asks for.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// The folder (`""`: the root).
    pub path: String,
    /// Everything under it, not only what is directly inside.
    pub recursive: bool,
    /// Where the page starts (an index into the listing).
    pub cursor: usize,
}

/// `list_repo_tree`: what is inside a folder at `rev` (everything under it when recursive),
/// sorted by path, one page of [`TREE_PER_PAGE`], and the next page's cursor; `None` when there
/// is no such folder.
pub async fn tree(
    core: &Core,
    gated: &Gated,
    rev: &str,
    listing: &Listing,
) -> Result<Option<(Vec<Entry>, Option<usize>)>> {
    let Listing {
        path,
        recursive,
        cursor,
    } = listing;
    let (recursive, cursor) = (*recursive, *cursor);
    let (commit, entries) = files(core, gated, rev).await?;
    let dir = path.trim_matches('/');
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut out: Vec<Entry> = Vec::new();
    let mut folders = std::collections::BTreeSet::new();
    for e in &entries {
        let Some(rest) = e.path.strip_prefix(&prefix) else {
            continue;
        };
        // Every folder on the way to the file, as far as the listing goes down.
        let segments: Vec<&str> = rest.split('/').collect();
        let depth = if recursive { segments.len() - 1 } else { 1 };
        for i in 1..=depth.min(segments.len() - 1) {
            folders.insert(format!("{prefix}{}", segments[..i].join("/")));
        }
        if recursive || segments.len() == 1 {
            out.push(Entry {
                kind: "file",
                oid: e.oid.clone(),
                size: size_of(e),
                path: e.path.clone(),
                lfs: lfs_of(e),
                last_commit: None,
            });
        }
    }
    if out.is_empty() && folders.is_empty() && !dir.is_empty() {
        return Ok(None);
    }
    out.extend(folders.into_iter().map(|path| Entry {
        kind: "directory",
        oid: commit.clone(),
        size: 0,
        path,
        lfs: None,
        last_commit: None,
    }));
    out.sort_by(|a, b| a.path.cmp(&b.path));
    let end = cursor.saturating_add(TREE_PER_PAGE);
    let next = (out.len() > end).then_some(end);
    let page = out.into_iter().skip(cursor).take(TREE_PER_PAGE).collect();
    Ok(Some((page, next)))
}

/// Paths one `get_paths_info` may ask about.
pub const MAX_PATHS: usize = 1000;
/// Paths one `get_paths_info` with `expand` may ask about (each walks the history).
pub const MAX_EXPANDED: usize = 50;

/// `get_paths_info` (and `HfFileSystem.info(…, refresh=True)`): each of `paths` at `rev` the
/// caller may read, as a tree listing shows it (a file, or a folder), in the order asked; a path
/// that is not there, or not the caller's to read, is left out, as the Hub leaves it out. With
/// `expand`, each has the last commit that changed it (not for a reader of some paths only, who
/// sees no history).
pub async fn paths_info(
    core: &Core,
    gated: &Gated,
    rev: &str,
    paths: &[String],
    expand: bool,
) -> Result<Vec<Entry>> {
    let most = if expand { MAX_EXPANDED } else { MAX_PATHS };
    if paths.len() > most {
        return Err(Error::bad_request(format!(
            "at most {most} paths at once{}",
            if expand { " with expand" } else { "" }
        )));
    }
    let (commit, entries) = files(core, gated, rev).await?;
    let mut out: Vec<Entry> = Vec::new();
    for asked in paths {
        let path = asked.trim_matches('/');
        if path.is_empty() || out.iter().any(|e| e.path == path) {
            continue;
        }
        let prefix = format!("{path}/");
        if let Some(e) = entries.iter().find(|e| e.path == path) {
            out.push(Entry {
                kind: "file",
                oid: e.oid.clone(),
                size: size_of(e),
                path: e.path.clone(),
                lfs: lfs_of(e),
                last_commit: None,
            });
        } else if entries.iter().any(|e| e.path.starts_with(&prefix)) {
            out.push(Entry {
                kind: "directory",
                oid: commit.clone(),
                size: 0,
                path: path.to_owned(),
                lfs: None,
                last_commit: None,
            });
        }
    }
    if expand && !out.is_empty() && !gated.limited() {
        let wanted: Vec<String> = out.iter().map(|e| e.path.clone()).collect();
        let at = commit.clone();
        let lasts = git_on(core, gated, move |ms, ds| {
            wanted
                .iter()
                .map(|p| Ok(ms.revisions(ds, Some(&at), None, 1, Some(p))?.0.pop()))
                .collect::<strata_metastore::Result<Vec<Option<Revision>>>>()
        })
        .await?;
        for (e, last) in out.iter_mut().zip(lasts) {
            e.last_commit = last.map(|r| {
                let c = commit_of(r);
                json!({"id": c.id, "title": c.title, "date": c.date})
            });
        }
    }
    Ok(out)
}

/// `list_repo_commits`: the commits reachable from `rev`, newest first, a page after `cursor`.
pub async fn commits(
    core: &Core,
    gated: &Gated,
    rev: &str,
    cursor: Option<String>,
) -> Result<(Vec<Commit>, Option<String>)> {
    gated.check_rev(Some(rev))?;
    if gated.limited() {
        // Commit messages name paths: a share of some of them shows no history.
        return Err(Error::forbidden(
            "the history of a dataset is for those who may read all of it",
        ));
    }
    let rev = rev.to_owned();
    let (revisions, next) = git_on(core, gated, move |ms, ds| {
        ms.revisions(ds, Some(&rev), cursor.as_deref(), COMMITS_PER_PAGE, None)
    })
    .await?;
    Ok((revisions.into_iter().map(commit_of).collect(), next))
}

fn commit_of(r: Revision) -> Commit {
    let (title, message) = match r.message.split_once('\n') {
        Some((t, m)) => (t.trim().to_owned(), m.trim().to_owned()),
        None => (r.message.trim().to_owned(), String::new()),
    };
    Commit {
        id: r.id,
        title,
        message,
        authors: vec![json!({"user": r.author.name})],
        date: rfc3339(r.time),
    }
}

/// `list_repo_refs`: the branches and tags, each with the commit it names.
/// A reader of some paths only (a share) sees `main` alone, as strata's own routes show them no
/// other branch or tag.
pub async fn refs(core: &Core, gated: &Gated) -> Result<Value> {
    let (branches, tags) =
        git_on(core, gated, |ms, ds| Ok((ms.branches(ds)?, ms.tags(ds)?))).await?;
    let branch = |(name, id): (String, String)| json!({"name": name, "ref": format!("refs/heads/{name}"), "targetCommit": id});
    let tag = |t: strata_metastore::Tag| json!({"name": t.name, "ref": format!("refs/tags/{}", t.name), "targetCommit": t.revision});
    Ok(json!({
        "branches": branches.into_iter().filter(|(b, _)| gated.check_rev(Some(b)).is_ok()).map(branch).collect::<Vec<_>>(),
        "tags": tags.into_iter().filter(|_| !gated.limited()).map(tag).collect::<Vec<_>>(),
        "converts": [],
    }))
}

/// `whoami`: the account behind a token with all of its rights (name, e-mail, organisations, as
/// `/oauth/userinfo` gives them only for their scopes).
pub async fn whoami(core: &Core, who: &Principal) -> Result<Value> {
    let user = who.full_user()?;
    let orgs = core.db.orgs_of(user.id).await?;
    Ok(json!({
        "type": "user",
        "name": user.username,
        "fullname": user.username,
        "email": user.email,
        "orgs": orgs.into_iter().map(|o| json!({"type": "org", "name": o})).collect::<Vec<_>>(),
        "auth": {"type": "access_token"},
    }))
}

/// `preupload`: how file `path` of a commit is to be sent. Data goes through LFS (object storage,
/// verified by its sha256, as every dataset's resources do); small text that is no data (a
/// README, a dataset card, a config) goes inline in the commit.
pub fn upload_mode(path: &str, sample: &[u8], size: u64, max_inline: u64) -> &'static str {
    const PROSE: &[&str] = &[
        "md", "txt", "yaml", "yml", "json", "toml", "cff", "py", "rego",
    ];
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let dot = path.rsplit('/').next().is_some_and(|f| f.starts_with('.'));
    let text = std::str::from_utf8(sample).is_ok() && !sample.contains(&0);
    if text && size <= max_inline && (dot || PROSE.contains(&ext.as_str())) {
        "regular"
    } else {
        "lfs"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_prose_goes_inline_and_data_through_lfs() {
        let m = 1 << 20;
        assert_eq!(upload_mode("README.md", b"# Survey\n", 9, m), "regular");
        assert_eq!(
            upload_mode(".gitattributes", b"*.csv filter=lfs\n", 17, m),
            "regular"
        );
        assert_eq!(upload_mode("datapackage.json", b"{}", 2, m), "regular");
        assert_eq!(upload_mode("data/a.csv", b"id,name\n1,a\n", 12, m), "lfs");
        assert_eq!(upload_mode("notes.md", b"# x", 2 << 20, m), "lfs");
        assert_eq!(
            upload_mode("t.parquet", &[0x50, 0x41, 0x52, 0x31, 0], 5, m),
            "lfs"
        );
        assert_eq!(upload_mode("odd.txt", &[0xff, 0xfe], 2, m), "lfs");
    }

    #[test]
    fn a_commit_message_is_a_title_and_a_body() {
        let r = Revision {
            id: "a".repeat(40),
            parents: vec![],
            author: strata_metastore::Person {
                name: "ann".into(),
                email: "ann@example.org".into(),
            },
            time: 0,
            committer: strata_metastore::Person {
                name: "ann".into(),
                email: "ann@example.org".into(),
            },
            message: "Add rows\n\nMore of them.\n".into(),
        };
        let c = commit_of(r);
        assert_eq!(
            (c.title.as_str(), c.message.as_str()),
            ("Add rows", "More of them.")
        );
        assert_eq!(c.authors, vec![json!({"user": "ann"})]);
    }
}
