//! What changed between two revisions, down to the lines: the datapackage's fields and resources
//! and the files added, modified, deleted and renamed (`strata_metastore::Diff`), each file with
//! its size (and LFS oid) on both sides and, when asked, its content diff: the lines of a text
//! file that changed, with context. Contents are read as every read is: through the read gate
//! for the file ([`Gated::read_file`]), so a file a policy withholds or transforms is `hidden`,
//! never diffed, and a caller who reaches only some paths sees only those files.
//!
//! Bounds: a side over [`MAX_TEXT`] bytes is `too_large`; at most [`MAX_LINES`] lines of hunks a
//! file (`truncated` past them); contents of at most [`MAX_FILES`] files and [`MAX_READ`] bytes
//! a request (`skipped` after: ask for one file with `path`). Without contents asked for, only
//! the first bytes of each file are read (enough to tell an LFS pointer).

use futures_util::TryStreamExt;
use serde::Serialize;
use strata_lfs::pointer::{lenient, Pointer};
use strata_metastore::lines::{self, LineDiff};
use strata_metastore::{FieldChange, FileChange, FileChangeKind, ResourceChange};

use crate::datasets::gated::Gated;
use crate::datasets::git_on;
use crate::error::{Error, Kind, Result};
use crate::storage::Read;
use crate::Core;

/// The largest side of a file a line diff reads.
pub const MAX_TEXT: u64 = 1 << 20;
/// Lines of hunks shown for one file.
pub const MAX_LINES: usize = 2000;
/// Files whose contents one request diffs, and the bytes it reads for them in all.
pub const MAX_FILES: usize = 100;
pub const MAX_READ: u64 = 16 << 20;
/// The bytes of a file read to tell an LFS pointer (git-lfs reads no more).
const POINTER: u64 = 1024;

/// What is asked for.
#[derive(Debug, Clone, Default)]
pub struct Ask {
    /// Diff the files' contents (not only list them).
    pub content: bool,
    /// Only this file or folder (its old or new path).
    pub path: Option<String>,
    /// Leave out git plumbing strata writes itself (`.gitattributes`, `.lfsconfig`, `.keep`), as
    /// the file browser does.
    pub hide_plumbing: bool,
}

/// Two revisions compared.
#[derive(Debug, Clone, Serialize)]
pub struct Compared {
    pub from: String,
    pub to: String,
    pub metadata: Vec<FieldChange>,
    pub resources: Vec<ResourceChange>,
    pub files: Vec<FileDiff>,
}

/// One file that changed.
#[derive(Debug, Clone, Serialize)]
pub struct FileDiff {
    #[serde(flatten)]
    pub change: FileChange,
    /// The file before (`None` when added) and after (`None` when deleted).
    pub before: Option<Side>,
    pub after: Option<Side>,
    /// Its content diff, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
}

/// A file on one side of a diff.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub size: u64,
    /// The LFS object holding it, for an LFS file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
}

/// A file's content diff.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    /// Text: the lines that changed.
    Lines(LineDiff),
    /// The same bytes on both sides (a rename).
    Unchanged,
    /// Not text on one side (not UTF-8, or NUL bytes): sizes and oids say what changed.
    Binary,
    /// A side is larger than `limit` bytes.
    TooLarge { limit: u64 },
    /// A policy withholds or transforms the file's bytes: its table's row changes show what
    /// the caller may see.
    Hidden { reason: String },
    /// Past the files or bytes one request diffs: ask for this file with `path`.
    Skipped,
    /// The bytes cannot be read: an LFS object this dataset never received, or gone from storage.
    Unavailable { reason: String },
}

/// Revisions `from` and `to` of `gated` compared for its caller, as `ask` says.
pub async fn compare(
    core: &Core,
    gated: &Gated,
    from: &str,
    to: &str,
    ask: &Ask,
) -> Result<Compared> {
    if gated.limited() {
        return Err(Error::forbidden(
            "what is shared with you is the current version only: it has no history to compare",
        ));
    }
    let (from, to) = (from.to_owned(), to.to_owned());
    let drive = gated.name == crate::datasets::DRIVE;
    let wanted = ask.clone();
    let (diff, blobs) = git_on(core, gated, move |ms, ds| {
        let diff = ms.diff(ds, &from, &to)?;
        let (old, new) = (
            ms.files(ds, Some(&diff.from))?,
            ms.files(ds, Some(&diff.to))?,
        );
        let mut blobs = Vec::new();
        // What is read is bounded here: an LFS pointer's worth of each file, and whole files
        // (up to MAX_TEXT each) only for contents asked for, within the request's budget.
        let mut left = if wanted.content { MAX_READ } else { 0 };
        let mut files_left = if wanted.content { MAX_FILES } else { 0 };
        for f in &diff.files {
            if !wanted.keeps(f, drive) {
                continue;
            }
            let old_path = f.old_path.as_deref().unwrap_or(&f.path);
            let whole = files_left > 0 && left > 0;
            let limit = if whole { MAX_TEXT.min(left) } else { POINTER };
            // A symlink, or a file git cannot read, has no content to compare: its side is
            // empty rather than the whole comparison failing.
            let read = |files: &strata_metastore::Files, path: &str| match files.upto(path, limit) {
                Ok(found) => Ok(found),
                Err(strata_metastore::Error::NotFound(_)) => Ok((0, None)),
                Err(e) => Err(e),
            };
            let before = match f.kind {
                FileChangeKind::Added => None,
                _ => Some(read(&old, old_path)?),
            };
            let after = match f.kind {
                FileChangeKind::Deleted => None,
                _ => Some(read(&new, &f.path)?),
            };
            if whole {
                let taken: u64 = [&before, &after]
                    .into_iter()
                    .flatten()
                    .filter_map(|(_, b)| b.as_ref().map(|b| b.len() as u64))
                    .sum();
                left = left.saturating_sub(taken);
                files_left -= 1;
            }
            blobs.push((f.clone(), before, after));
        }
        Ok((diff, blobs))
    })
    .await?;
    let mut files = Vec::with_capacity(blobs.len());
    let mut budget = Budget {
        files: MAX_FILES,
        bytes: MAX_READ,
    };
    for (change, before, after) in blobs {
        if !gated.covers(&change.path) {
            continue;
        }
        let old_path = change
            .old_path
            .clone()
            .unwrap_or_else(|| change.path.clone());
        let before = before.map(|b| File::of(b, old_path, &diff.from));
        let after = after.map(|b| File::of(b, change.path.clone(), &diff.to));
        let content = if !ask.content {
            None
        } else if change.kind == FileChangeKind::Renamed {
            // Renames are exact: the same bytes under a new name.
            Some(Content::Unchanged)
        } else {
            Some(content(core, gated, before.as_ref(), after.as_ref(), &mut budget).await?)
        };
        files.push(FileDiff {
            change,
            before: before.as_ref().map(File::side),
            after: after.as_ref().map(File::side),
            content,
        });
    }
    Ok(Compared {
        from: diff.from,
        to: diff.to,
        metadata: diff.metadata,
        resources: diff.resources,
        files,
    })
}

impl Ask {
    fn keeps(&self, f: &FileChange, drive: bool) -> bool {
        let paths = [Some(f.path.as_str()), f.old_path.as_deref()];
        if self.hide_plumbing && crate::datasets::paths::plumbing(&f.path, drive) {
            return false;
        }
        match &self.path {
            None => true,
            Some(p) => {
                let p = p.trim_matches('/');
                paths
                    .into_iter()
                    .flatten()
                    .any(|x| x == p || p.is_empty() || x.starts_with(&format!("{p}/")))
            }
        }
    }
}

/// What is left of one request's reading.
struct Budget {
    files: usize,
    bytes: u64,
}

/// A file at one revision: its git blob (its size, and its bytes unless it is larger than a
/// line diff reads), which may be an LFS pointer.
struct File {
    path: String,
    rev: String,
    size: u64,
    blob: Option<Vec<u8>>,
    pointer: Option<Pointer>,
}

impl File {
    fn of((size, blob): (u64, Option<Vec<u8>>), path: String, rev: &str) -> File {
        // An empty blob is an empty file, not an empty LFS object.
        let pointer = blob.as_deref().filter(|b| !b.is_empty()).and_then(lenient);
        File {
            path,
            rev: rev.to_owned(),
            size,
            blob,
            pointer,
        }
    }

    fn side(&self) -> Side {
        match &self.pointer {
            Some(p) => Side {
                size: p.size,
                oid: Some(p.oid.to_string()),
            },
            None => Side {
                size: self.size,
                oid: None,
            },
        }
    }

    fn size(&self) -> u64 {
        self.side().size
    }

    /// The file's bytes, read through the read gate; `Err` with what to answer instead when a
    /// policy keeps them or they cannot be read.
    async fn bytes(
        &self,
        core: &Core,
        gated: &Gated,
    ) -> Result<std::result::Result<Vec<u8>, Content>> {
        match gated
            .read_file(
                core,
                &self.path,
                Some(self.rev.as_str()),
                self.pointer.as_ref(),
            )
            .await
        {
            Ok(()) => {}
            Err(e) if e.kind == Kind::Forbidden => {
                return Ok(Err(Content::Hidden { reason: e.message }))
            }
            Err(e) if e.kind == Kind::NotFound => {
                return Ok(Err(Content::Unavailable { reason: e.message }))
            }
            Err(e) => return Err(e),
        }
        let Some(p) = &self.pointer else {
            return Ok(Ok(self.blob.clone().unwrap_or_default()));
        };
        let Some(Read::Found { object, .. }) = core.storage.read(gated.id, &p.oid, None).await?
        else {
            return Ok(Err(Content::Unavailable {
                reason: "the file's bytes are not in storage".into(),
            }));
        };
        let mut out = Vec::with_capacity(p.size as usize);
        let mut body = object.body;
        while let Some(chunk) = body.try_next().await.map_err(Error::internal)? {
            out.extend_from_slice(&chunk);
            if out.len() as u64 > MAX_TEXT {
                break;
            }
        }
        Ok(Ok(out))
    }
}

/// The content diff of a file from `before` to `after`.
async fn content(
    core: &Core,
    gated: &Gated,
    before: Option<&File>,
    after: Option<&File>,
    budget: &mut Budget,
) -> Result<Content> {
    let sides: Vec<&File> = before.into_iter().chain(after).collect();
    if sides.iter().any(|f| f.size() > MAX_TEXT) {
        return Ok(Content::TooLarge { limit: MAX_TEXT });
    }
    // A plain file the budget left unread (only its first bytes were, to tell a pointer).
    if sides
        .iter()
        .any(|f| f.pointer.is_none() && f.blob.as_ref().is_none_or(|b| b.len() as u64 != f.size))
    {
        return Ok(Content::Skipped);
    }
    let bytes: u64 = sides.iter().map(|f| f.size()).sum();
    if budget.files == 0 || bytes > budget.bytes {
        return Ok(Content::Skipped);
    }
    budget.files -= 1;
    budget.bytes -= bytes;
    let mut texts = Vec::with_capacity(2);
    for side in [before, after] {
        texts.push(match side {
            None => Vec::new(),
            Some(f) => match f.bytes(core, gated).await? {
                Ok(b) => b,
                Err(instead) => return Ok(instead),
            },
        });
    }
    // Off the async workers: a line diff of two 1 MiB texts is work.
    tokio::task::spawn_blocking(
        move || match (lines::text(&texts[0]), lines::text(&texts[1])) {
            (Some(old), Some(new)) => Content::Lines(lines::diff(old, new, MAX_LINES)),
            _ => Content::Binary,
        },
    )
    .await
    .map_err(Error::internal)
}

/// What a compare form offers to pick from: branches, tags and recent revisions of the default
/// branch, each with its revision id.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Choices {
    pub branches: Vec<Choice>,
    pub tags: Vec<Choice>,
    pub recent: Vec<Choice>,
}

/// One name to pick (a branch, a tag, or a revision's first message line) and what it names.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub name: String,
    pub revision: String,
}

/// Recent revisions a compare form offers.
pub const RECENT: usize = 50;

/// The branches, tags and recent revisions of `gated` (none for a caller who reaches only some
/// paths: they have no history to compare).
pub async fn choices(core: &Core, gated: &Gated) -> Result<Choices> {
    if gated.limited() {
        return Ok(Choices::default());
    }
    git_on(core, gated, |ms, ds| {
        let branches = ms
            .branches(ds)?
            .into_iter()
            .map(|(name, revision)| Choice { name, revision })
            .collect();
        let tags = ms
            .tags(ds)?
            .into_iter()
            .map(|t| Choice {
                name: t.name,
                revision: t.revision,
            })
            .collect();
        let (recent, _) = ms.revisions(ds, None, None, RECENT, None)?;
        let recent = recent
            .into_iter()
            .map(|r| Choice {
                name: format!(
                    "{} {}",
                    &r.id[..r.id.len().min(10)],
                    r.message.lines().next().unwrap_or("")
                ),
                revision: r.id,
            })
            .collect();
        Ok(Choices {
            branches,
            tags,
            recent,
        })
    })
    .await
}
