//! When each entry of a folder last changed: the file browser's "Modified" column. A walk back
//! along first parents from a revision, looking only at the folder's own tree: a commit that left
//! the folder's tree as it was costs one lookup, and a commit that changed it dates the entries
//! whose ids differ from its parent's. The walk is bounded; entries older than the bound are left
//! out (the page shows no date for them rather than a wrong one).

use std::collections::{HashMap, HashSet};

use gix::ObjectId;

use crate::error::{Error, Result};
use crate::refs::resolve;
use crate::{DatasetId, Metastore};

/// The last change of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The commit that changed it.
    pub revision: String,
    /// Unix seconds (the commit's author time).
    pub time: i64,
    pub author: String,
}

impl Metastore {
    /// For each of `names` (entries directly inside folder `dir`, `""` the root) at `rev`: the
    /// newest commit on the first-parent line back from `rev` that changed it, looking at most
    /// `depth` commits back.
    pub fn last_changed(
        &self,
        ds: DatasetId<'_>,
        rev: &str,
        dir: &str,
        names: &[String],
        depth: usize,
    ) -> Result<HashMap<String, Changed>> {
        let repo = self.open(ds)?;
        let mut id = resolve(&repo, Some(rev))?;
        let mut pending: HashSet<&str> = names.iter().map(String::as_str).collect();
        let mut out = HashMap::new();
        let mut here = folder(&repo, id, dir)?;
        for _ in 0..depth {
            if pending.is_empty() {
                break;
            }
            let commit = repo.find_commit(id)?;
            let parent = commit.parent_ids().next().map(|p| p.detach());
            let there = match parent {
                Some(p) => folder(&repo, p, dir)?,
                None => None,
            };
            if here != there {
                let now = entries(&repo, here, &pending)?;
                let before = entries(&repo, there, &pending)?;
                let decoded = commit.decode()?;
                let author = decoded.author()?;
                let changed: Vec<&str> = pending
                    .iter()
                    .copied()
                    .filter(|n| now.get(*n) != before.get(*n))
                    .collect();
                for name in changed {
                    pending.remove(name);
                    out.insert(
                        name.to_owned(),
                        Changed {
                            revision: id.to_string(),
                            time: author.time().map_or(0, |t| t.seconds),
                            author: author.name.to_string(),
                        },
                    );
                }
            }
            match parent {
                Some(p) => {
                    id = p;
                    here = there;
                }
                None => break,
            }
        }
        Ok(out)
    }
}

/// The id of the tree of folder `dir` at commit `id`, if it has one.
fn folder(repo: &gix::Repository, id: ObjectId, dir: &str) -> Result<Option<ObjectId>> {
    let root = repo.find_commit(id)?.tree()?;
    if dir.is_empty() {
        return Ok(Some(root.id));
    }
    Ok(root
        .lookup_entry_by_path(dir)?
        .filter(|e| e.mode().is_tree())
        .map(|e| e.object_id()))
}

/// The ids of the entries of tree `tree` that `names` asks for.
fn entries(
    repo: &gix::Repository,
    tree: Option<ObjectId>,
    names: &HashSet<&str>,
) -> Result<HashMap<String, ObjectId>> {
    let Some(tree) = tree else {
        return Ok(HashMap::new());
    };
    let tree = repo.find_tree(tree)?;
    let mut out = HashMap::new();
    for entry in tree.iter() {
        let entry = entry.map_err(|e| Error::Git(e.to_string()))?;
        let name = entry.filename().to_string();
        if names.contains(name.as_str()) {
            out.insert(name, entry.oid().to_owned());
        }
    }
    Ok(out)
}
