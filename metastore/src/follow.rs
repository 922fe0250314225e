//! Following a remote (strata's mirrors): a dataset's branches and tags as stored (tags
//! unpeeled), and moving them to a remote's, each by a compare-and-swap against what was read,
//! through the ledger and the ref listener like every other ref move.

use std::collections::BTreeMap;

use gix::ObjectId;

use crate::error::{Error, Result};
use crate::refs::current;
use crate::{DatasetId, Metastore};

/// Ref names (`refs/heads/…`, `refs/tags/…`) to what they point at.
pub type Refs = BTreeMap<String, ObjectId>;

impl Metastore {
    /// The branches and tags of `ds`, each with the object it names (a tag object for an
    /// annotated tag).
    pub fn heads_and_tags(&self, ds: DatasetId<'_>) -> Result<Refs> {
        let repo = self.open(ds)?;
        let mut out = Refs::new();
        for r in repo.references()?.all()? {
            let r = r.map_err(Error::git)?;
            let name = r.name().as_bstr().to_string();
            if !(name.starts_with("refs/heads/") || name.starts_with("refs/tags/")) {
                continue;
            }
            if let Some(id) = r.target().try_id() {
                out.insert(name, id.to_owned());
            }
        }
        Ok(out)
    }

    /// Moves the branches and tags of `ds` from `old` (as read before) to `new`: refs created or
    /// moved first, then refs `new` lacks deleted. Each move is refused if the ref is no longer
    /// what `old` says. The objects of `new` must be in the repository already. Returns the refs
    /// moved, in order; on an error, the refs moved before it stay moved.
    pub fn follow(
        &self,
        ds: DatasetId<'_>,
        old: &Refs,
        new: &Refs,
        message: &str,
    ) -> Result<Vec<String>> {
        let repo = self.open(ds)?;
        let mut moved = Vec::new();
        for (name, id) in new {
            let was = old.get(name).copied();
            if was == Some(*id) {
                continue;
            }
            if !repo.has_object(id) {
                return Err(Error::Git(format!(
                    "{name} names {id}, which was not fetched"
                )));
            }
            if current(&repo, name)? != was {
                return Err(Error::Conflict(format!("{name} moved meanwhile")));
            }
            self.swap_ref(&repo, name, was, Some(*id), message)?;
            moved.push(name.clone());
        }
        for (name, id) in old {
            if new.contains_key(name) {
                continue;
            }
            self.swap_ref(&repo, name, Some(*id), None, message)?;
            moved.push(name.clone());
        }
        Ok(moved)
    }
}
