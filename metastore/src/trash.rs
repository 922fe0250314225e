//! Recently deleted files: the files that commits on a branch deleted and that are not back at its
//! head. Nothing is ever purged (the bytes stay in history); this is the list a file manager shows
//! as its trash, read newest first and a bounded number of commits at a time.

use std::collections::BTreeSet;

use gix::ObjectId;

use crate::error::{Error, Result};
use crate::history::revision;
use crate::refs::resolve;
use crate::{DatasetId, Metastore};

/// A file a commit deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub path: String,
    /// The commit that deleted it.
    pub deleted_in: String,
    /// The revision before the deletion, where the file can be read and restored from.
    pub before: String,
    pub author: String,
    pub time: i64,
}

impl Metastore {
    /// Files deleted by the first-parent history of `rev`, newest deletion first, that are not at
    /// `rev` now; only paths inside `within` when given. Looks at `scan` commits after `cursor`
    /// (a commit id from the previous call) and returns the cursor to go on from, if any.
    pub fn deleted(
        &self,
        ds: DatasetId<'_>,
        rev: Option<&str>,
        within: Option<&str>,
        cursor: Option<&str>,
        scan: usize,
    ) -> Result<(Vec<Deleted>, Option<String>)> {
        let repo = self.open(ds)?;
        let head = match resolve(&repo, rev) {
            Ok(id) => id,
            Err(Error::NotFound(_)) if rev.is_none() => return Ok((Vec::new(), None)),
            Err(e) => return Err(e),
        };
        let head_tree = repo.find_commit(head)?.tree()?;
        let mut at = match cursor {
            Some(c) => Some(
                ObjectId::from_hex(c.as_bytes())
                    .map_err(|_| Error::Invalid(format!("invalid cursor {c:?}")))?,
            ),
            None => Some(head),
        };
        let inside = |path: &str| match within {
            None | Some("") => true,
            Some(w) => path == w || path.strip_prefix(w).is_some_and(|r| r.starts_with('/')),
        };
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for _ in 0..scan {
            let Some(id) = at else { break };
            let commit = repo.find_commit(id)?;
            let parent = commit.parent_ids().next().map(|p| p.detach());
            at = parent;
            let Some(parent) = parent else { break };
            let old = repo.find_commit(parent)?.tree()?;
            let new = commit.tree()?;
            // Exact renames are moves, not deletions.
            let rewrites = gix::diff::Rewrites {
                copies: None,
                percentage: None,
                limit: 0,
                track_empty: false,
            };
            let options = gix::diff::Options::default().with_rewrites(Some(rewrites));
            let changes = repo.diff_tree_to_tree(&old, &new, options)?;
            let mut info = None;
            for change in changes {
                let gix::object::tree::diff::ChangeDetached::Deletion {
                    location,
                    entry_mode,
                    ..
                } = change
                else {
                    continue;
                };
                let path = location.to_string();
                if !entry_mode.is_blob() || !inside(&path) || !seen.insert(path.clone()) {
                    continue;
                }
                if head_tree.lookup_entry_by_path(&path)?.is_some() {
                    continue;
                }
                let r = match &info {
                    Some(r) => r,
                    None => info.insert(revision(&repo, id)?),
                };
                out.push(Deleted {
                    path,
                    deleted_in: id.to_string(),
                    before: parent.to_string(),
                    author: r.author.name.clone(),
                    time: r.time,
                });
            }
        }
        Ok((out, at.map(|id| id.to_string())))
    }
}
