//! Snapshots: a revision's files read whole, and a whole set of files written as a commit that
//! no ref names yet. A region feed (`strata_core::mirrors::feed`) builds its commits so, in a
//! repository of its own, and then moves its refs with [`Metastore::follow`].

use gix::objs::tree::EntryKind;
use gix::ObjectId;

use crate::error::{Error, Result};
use crate::refs::resolve;
use crate::write::WriteMeta;
use crate::{DatasetId, Metastore};

/// Files as a snapshot holds them: path and bytes.
pub type FileSet = Vec<(String, Vec<u8>)>;

impl Metastore {
    /// The revision `rev` resolves to in `ds`, and every file of it (path and bytes), sorted by
    /// path. A file over `limit` bytes is refused (a snapshot holds pointers and small files).
    pub fn whole(&self, ds: DatasetId<'_>, rev: &str, limit: u64) -> Result<(ObjectId, FileSet)> {
        let repo = self.open(ds)?;
        let id = resolve(&repo, Some(rev))?;
        let mut recorder = gix::traverse::tree::Recorder::default();
        repo.find_commit(id)?
            .tree()?
            .traverse()
            .breadthfirst(&mut recorder)?;
        let mut files = Vec::new();
        for entry in recorder.records {
            if !entry.mode.is_blob() {
                continue;
            }
            let path = entry.filepath.to_string();
            if repo.find_header(entry.oid)?.size() > limit {
                return Err(Error::Invalid(format!(
                    "{path:?} is a git file of over {limit} bytes"
                )));
            }
            files.push((path, repo.find_object(entry.oid)?.detach().data));
        }
        files.sort();
        Ok((id, files))
    }

    /// Writes `files` as the whole tree of a new commit on `meta.parent`, moving no ref; returns
    /// its id. `meta.branch` is not used.
    pub fn write_snapshot(
        &self,
        ds: DatasetId<'_>,
        meta: &WriteMeta<'_>,
        files: &[(String, Vec<u8>)],
    ) -> Result<ObjectId> {
        let repo = self.open(ds)?;
        let mut editor = repo.edit_tree(repo.empty_tree().id)?;
        for (path, data) in files {
            let blob = repo.write_blob(data)?;
            editor.upsert(path.as_str(), EntryKind::Blob, blob)?;
        }
        let tree = editor.write()?.detach();
        self.write_commit(&repo, tree, meta.parent.into_iter().collect(), meta)
    }

    /// The message of commit `id` of `ds`, if `ds` has it.
    pub fn message_of(&self, ds: DatasetId<'_>, id: ObjectId) -> Result<Option<String>> {
        let repo = self.open(ds)?;
        if !repo.has_object(id) {
            return Ok(None);
        }
        let commit = repo.find_commit(id)?;
        Ok(Some(commit.message_raw_sloppy().to_string()))
    }
}
