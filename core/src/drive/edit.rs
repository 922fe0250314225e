//! Text files edited in the browser: [`open`] reads a file for the editor (through the read gate,
//! at most [`MAX_TEXT`] bytes of UTF-8), [`save`] writes the edited text back as one commit on the
//! branch it was read from. The editor's revision is the commit's parent, so an edit of a file
//! someone changed meanwhile is a conflict (409), not a lost update. A file kept in LFS stays in
//! LFS (the new bytes are stored and hashed first); a file a policy transforms is not editable
//! here (the editor would show, and write back, what the policy let out).

use bytes::Bytes;
use futures_util::StreamExt;
use strata_lfs::pointer::Pointer;
use strata_metastore::{Op, Revision};

use super::files::check_writable;
use crate::auth::Principal;
use crate::commits::{commit, Change};
use crate::datasets::gate::Gated;
use crate::datasets::git_on;
use crate::datasets::paths::{head_of, Branch};
use crate::error::{Error, Result};
use crate::Core;

/// The largest file the browser edits.
pub const MAX_TEXT: u64 = 1024 * 1024;

/// A text file as the editor opens it.
pub struct Text {
    pub text: String,
    /// The head of the branch it was read at: the parent of the edit.
    pub parent: String,
    /// Whether it is kept in LFS.
    pub lfs: bool,
}

/// The head of `branch` (an existing branch; `None`: the default branch): what a new file's
/// editor names as its parent.
pub async fn head(core: &Core, repo: &Gated, branch: Branch<'_>) -> Result<String> {
    head_of(core, repo, branch)
        .await?
        .ok_or_else(|| Error::not_found(format!("{} has no revisions yet", repo.path())))
}

/// Reads the file at `path` on `branch` for editing.
pub async fn open(core: &Core, repo: &Gated, branch: Branch<'_>, path: &str) -> Result<Text> {
    check_writable(repo, path)?;
    let Some(parent) = head_of(core, repo, branch).await? else {
        return Err(Error::not_found(format!("{path:?} not found")));
    };
    let (at, file) = (parent.clone(), path.to_owned());
    let data = git_on(core, repo, move |ms, ds| ms.read_file(ds, Some(&at), &file)).await?;
    let pointer = strata_lfs::pointer::lenient(&data);
    repo.read_file(core, path, Some(&parent), pointer.as_ref())
        .await
        .map_err(|e| match e.kind {
            crate::error::Kind::Forbidden => Error::forbidden(format!(
                "{path:?} is shown through a policy: it cannot be edited in the browser"
            )),
            _ => e,
        })?;
    let bytes = match &pointer {
        Some(p) => read_object(core, repo, p).await?,
        None => data,
    };
    if bytes.len() as u64 > MAX_TEXT {
        return Err(too_large(path));
    }
    // Not UTF-8, or a NUL byte (binary to git too): not for a text area.
    let text = String::from_utf8(bytes)
        .ok()
        .filter(|t| !t.contains('\0'))
        .ok_or_else(|| {
            Error::unprocessable(format!(
                "{path:?} is not text (UTF-8): download it to change it"
            ))
        })?;
    Ok(Text {
        text,
        parent,
        lfs: pointer.is_some(),
    })
}

fn too_large(path: &str) -> Error {
    Error::unprocessable(format!(
        "{path:?} is over {} KiB: the browser edits smaller text files; clone the dataset for this one",
        MAX_TEXT / 1024
    ))
}

async fn read_object(core: &Core, repo: &Gated, pointer: &Pointer) -> Result<Vec<u8>> {
    if pointer.size > MAX_TEXT {
        return Err(Error::unprocessable(format!(
            "the file is over {} KiB: the browser edits smaller text files",
            MAX_TEXT / 1024
        )));
    }
    let missing = || {
        Error::new(
            crate::error::Kind::Busy,
            "the file's bytes are not in storage",
        )
    };
    let Some(crate::storage::Read::Found { object, .. }) =
        core.storage.read(repo.id, &pointer.oid, None).await?
    else {
        return Err(missing());
    };
    let mut out = Vec::with_capacity(pointer.size as usize);
    let mut body = object.body;
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.map_err(|_| missing())?);
    }
    Ok(out)
}

/// An edit to save.
pub struct Edit {
    pub path: String,
    /// The revision the editor read: the commit's parent.
    pub parent: String,
    /// The new text, as a browser sends a text area (line breaks as CRLF).
    pub text: String,
    pub message: Option<String>,
}

/// Writes `edit` on `branch` as one commit by `who`.
pub async fn save(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    branch: Branch<'_>,
    edit: Edit,
) -> Result<Revision> {
    let Edit {
        path,
        parent,
        text,
        message,
    } = edit;
    check_writable(repo, &path)?;
    let before = open(core, repo, branch, &path).await?;
    // A browser sends a text area's line breaks as CRLF: a file written with LF keeps LF.
    let text = if before.text.contains("\r\n") {
        text
    } else {
        text.replace("\r\n", "\n")
    };
    if text.len() as u64 > MAX_TEXT {
        return Err(too_large(&path));
    }
    if text == before.text {
        return Err(Error::unprocessable(
            "nothing changed: the text is as it was",
        ));
    }
    let (data, lfs_paths, vouched) = if before.lfs {
        let limit = core.settings.object_limit();
        crate::quotas::check(core, repo, None, text.len() as u64).await?;
        let body = futures_util::stream::once(async move {
            Ok::<_, std::convert::Infallible>(Bytes::from(text))
        });
        let (oid, size) = core.storage.ingest(repo.id, body, limit).await?;
        core.storage.link(repo.id, &oid, size).await?;
        let pointer = Pointer { oid, size }.encode().into_bytes();
        (pointer, vec![path.clone()], vec![oid])
    } else {
        (text.into_bytes(), Vec::new(), Vec::new())
    };
    let change = Change {
        summary: message
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("Edit {path}")),
        parent: Some(parent),
        branch: branch.map(str::to_owned),
        ops: vec![Op::Put { path, data }],
        lfs_paths,
        vouched,
        describe: crate::commits::describe::Describe::Follow,
        ..Change::default()
    };
    commit(core, who, repo, change).await
}

/// Makes a new text file at `path` on `branch` (refused when something is there already).
pub async fn create(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    branch: Branch<'_>,
    edit: Edit,
) -> Result<Revision> {
    let Edit {
        path,
        parent,
        text,
        message,
    } = edit;
    super::files::check_upload(core, repo, branch, &path).await?;
    let text = text.replace("\r\n", "\n");
    if text.len() as u64 > MAX_TEXT {
        return Err(too_large(&path));
    }
    let (at, file) = (parent.clone(), path.clone());
    let there = git_on(core, repo, move |ms, ds| {
        match ms.stat(ds, Some(&at), &file) {
            Err(strata_metastore::Error::NotFound(_)) => Ok(None),
            other => other,
        }
    })
    .await?;
    if there.is_some() {
        return Err(Error::conflict(format!(
            "{path:?} exists already: open it to edit it"
        )));
    }
    let change = Change {
        summary: message
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("Add {path}")),
        parent: Some(parent),
        branch: branch.map(str::to_owned),
        ops: vec![Op::Put {
            path,
            data: text.into_bytes(),
        }],
        ..Change::default()
    };
    commit(core, who, repo, change).await
}
