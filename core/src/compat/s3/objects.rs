//! Reading and writing one key of the S3 gateway: what a file is to a reader (an LFS object, a
//! file kept in git, or a governed table's view) and its ETag (`super::etags`), and a write to a
//! branch as one commit (an object through the same hashing as every upload, a delete, a copy).
//! A put of what the key holds already changes nothing: no commit (`rclone sync`, `aws s3 cp`
//! of unchanged files).

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use strata_lfs::pointer::Pointer;
use strata_lfs::Oid;
use strata_metastore::Op;

pub use super::etags::MAX_INLINE;
use super::{etags, Located};
use crate::auth::Principal;
use crate::commits::{self, Change};
use crate::datasets::gate::Gated;
use crate::datasets::git_on;
use crate::datasets::policies::{catalog, decide, raw_objects, refusal, Surface};
use crate::error::{Error, Kind, Result};
use crate::storage::Place;
use crate::tables::stream::{self as streamed, Chunk, Format};
use crate::Core;

/// What a key's bytes are.
pub enum Content {
    /// An LFS object where it is: a dataset's (a governed Parquet table's view may be in another
    /// dataset's store, or a residency copy in a region store).
    Object { place: Place, oid: Oid, size: u64 },
    /// A file kept in git.
    Inline(Vec<u8>),
    /// A governed text table: its governed view as CSV, streamed (its size is known once read).
    Governed(tokio::sync::mpsc::Receiver<Result<Chunk>>),
}

/// A key as a reader sees it.
pub struct Found {
    pub content: Content,
    /// The S3 ETag (`super::etags`), as listings give it: an LFS object's the upload recorded,
    /// a file kept in git its MD5; a governed view's names the revision and table (its bytes
    /// depend on who reads).
    pub etag: String,
    /// When the revision was made.
    pub modified: i64,
    /// The revision's commit id.
    pub commit: String,
}

/// The file `at` names, for the caller of `gated`: through the read gate of a file (its object
/// linked, no policy denying it); a table a policy transforms is its governed view, never raw.
pub async fn read(core: &Core, gated: &Gated, at: &Located) -> Result<Found> {
    let (rev, path) = (at.rev.clone(), at.path.clone());
    let (revision, blob, data) = git_on(core, gated, move |ms, ds| {
        let revision = ms.revision(ds, &rev)?;
        let files = ms.files(ds, Some(&revision.id))?;
        let (blob, _, data) = files.blob(&path, 1024)?;
        let data = match data {
            Some(d) => d,
            None => files.blob(&path, u64::MAX)?.2.unwrap_or_default(),
        };
        Ok((revision, blob, data))
    })
    .await?;
    let pointer = strata_lfs::pointer::lenient(&data);
    if let Some(p) = &pointer {
        gated.read_object(core, &p.oid, p.size).await?;
    }
    let found = |content, etag| Found {
        content,
        etag,
        modified: revision.time,
        commit: revision.id.clone(),
    };
    if core.governance.in_force(core).await {
        let catalog = catalog(core, gated, Some(&revision.id)).await?;
        let table = catalog.table_at(&at.path);
        let d = decide(core, gated, &catalog, table, None, Surface::Raw).await?;
        if d.denied() {
            return Err(refusal(gated, table, &d));
        }
        if let (true, Some(t)) = (d.transforms(), table) {
            let etag = etags::opaque(&format!("{}:{}:governed", revision.id, t.name));
            if at.path.to_ascii_lowercase().ends_with(".parquet") {
                let at = crate::tables::At {
                    resource: t.name.clone(),
                    rev: Some(revision.id.clone()),
                    intent: None,
                };
                let view = crate::tables::view_of(core, gated, &at).await?;
                let content = Content::Object {
                    place: view.place(),
                    oid: view.oid,
                    size: view.size,
                };
                return Ok(found(content, etags::opaque(&view.oid.to_string())));
            }
            let req = streamed::Request {
                resource: t.name.clone(),
                rev: Some(revision.id.clone()),
                columns: None,
                intent: None,
            };
            let opened = streamed::open(core, gated, &req, Format::Csv, Surface::Table).await?;
            return Ok(found(Content::Governed(opened.chunks), etag));
        }
        if d.transforms() {
            return Err(refusal(gated, table, &d));
        }
        if let Some(p) = &pointer {
            if raw_objects(core, gated, Surface::Raw, &[p.oid])
                .await?
                .is_some_and(|allowed| !allowed.contains(&p.oid))
            {
                return Err(Error::forbidden(format!(
                    "these bytes belong to data a policy governs in {}",
                    gated.path()
                )));
            }
        }
    }
    Ok(match pointer {
        Some(p) => found(
            Content::Object {
                place: Place::Dataset(gated.id),
                oid: p.oid,
                size: p.size,
            },
            etags::object(core, gated.id, &p.oid).await?,
        ),
        // A file kept in git: the MD5 of its bytes, as listings give it.
        None => {
            let etag = etags::of_blob(&blob, Some(data.as_slice()));
            found(Content::Inline(data), etag)
        }
    })
}

/// Whether a file at `path` of `size` bytes starting with `sample` is kept in git rather than
/// as an LFS object: small text that is no data (as the Hub's commits decide).
pub fn inline(path: &str, sample: &[u8], size: u64) -> bool {
    crate::compat::hf::upload_mode(path, sample, size, MAX_INLINE) == "regular"
}

/// Checks that `at` can be written by the caller before any byte is stored: a branch, a path
/// the caller may write.
pub fn check_write(gated: &Gated, at: &Located) -> Result<()> {
    if !at.branch {
        return Err(Error::forbidden(format!(
            "{:?} is a tag or a commit: write to a branch ({{branch}}/{{path}})",
            at.rev
        )));
    }
    if !gated.covers(&at.path) {
        return Err(Error::forbidden(format!(
            "{:?} is not shared with you for writing",
            at.path
        )));
    }
    crate::datasets::gate::check_path(&at.path)
}

/// How the bytes of a put arrive.
pub enum Written {
    /// Small text, whole.
    Inline(Vec<u8>),
    /// An object already stored (by [`ingest`], or a multipart upload's completion), with the
    /// ETag its upload makes it answer (`None`: a copy of an object the dataset holds, which
    /// keeps its own).
    Stored {
        oid: Oid,
        size: u64,
        etag: Option<String>,
    },
}

/// A put done: the revision the branch is at (the one made, or the head when the key held
/// these bytes already) and the object's ETag.
#[derive(Debug, Clone)]
pub struct Put {
    pub revision: String,
    pub etag: String,
}

/// Writes one file to a branch as one commit with `message` (default `Upload {path}`), retried
/// on a branch that moved meanwhile; no commit when the file holds these bytes already.
pub async fn put(
    core: &Core,
    who: &Principal,
    gated: &Gated,
    at: &Located,
    bytes: Written,
    message: Option<String>,
) -> Result<Put> {
    check_write(gated, at)?;
    let path = at.path.clone();
    let (data, lfs_paths, vouched, etag) = match bytes {
        Written::Inline(data) => {
            let etag = etags::md5_hex(&data);
            (data, vec![], vec![], etag)
        }
        Written::Stored { oid, size, etag } => {
            core.storage.link(gated.id, &oid, size).await?;
            // Recorded before the commit: a reader who sees the commit sees its ETag.
            let etag = match etag {
                Some(e) => {
                    etags::record(core, gated.id, &oid, &e).await?;
                    e
                }
                None => etags::object(core, gated.id, &oid).await?,
            };
            let data = Pointer { oid, size }.encode().into_bytes();
            (data, vec![path.clone()], vec![oid], etag)
        }
    };
    let change = Change {
        summary: message.unwrap_or_else(|| format!("Upload {path}")),
        at_head: true,
        branch: Some(at.rev.clone()),
        ops: vec![Op::Put {
            path: path.clone(),
            data: data.clone(),
        }],
        lfs_paths,
        vouched,
        ..Change::default()
    };
    let _turn = core.s3_writes.turn(gated.id).await;
    let mut tries = 0;
    loop {
        if let Some(head) = holding(core, gated, &at.rev, &path, &data).await? {
            return Ok(Put {
                revision: head,
                etag,
            });
        }
        match commits::commit(core, who, gated, change.clone()).await {
            Err(e) if e.kind == Kind::Conflict && tries < 8 => {
                tries += 1;
                backoff(tries).await;
            }
            other => {
                return other.map(|r| Put {
                    revision: r.id,
                    etag,
                })
            }
        }
    }
}

/// The head of `branch` when file `path` holds `data` there already (an LFS file: a pointer to
/// the same object, in any spelling); `None` when a put of `data` would change something.
async fn holding(
    core: &Core,
    gated: &Gated,
    branch: &str,
    path: &str,
    data: &[u8],
) -> Result<Option<String>> {
    use strata_metastore::Error as GitError;
    let (branch, path, want) = (branch.to_owned(), path.to_owned(), data.to_vec());
    git_on(core, gated, move |ms, ds| {
        let head = match ms.resolve(ds, Some(&branch)) {
            Ok(id) => id.to_string(),
            // A branch without a commit yet holds nothing.
            Err(GitError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let files = ms.files(ds, Some(&head))?;
        let current = match files.blob(&path, want.len() as u64 + 1024) {
            Ok((_, _, Some(current))) => current,
            Ok(_) | Err(GitError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let lenient = strata_lfs::pointer::lenient;
        let same = current == want
            || matches!((lenient(&want), lenient(&current)), (Some(a), Some(b)) if a == b);
        Ok(same.then_some(head))
    })
    .await
}

/// Deletes the files among `paths` (of one branch) that exist, as one commit; deleting what is
/// not there is no error (as S3's). Returns the revision made, if any.
pub async fn delete(
    core: &Core,
    who: &Principal,
    gated: &Gated,
    branch: &str,
    paths: Vec<String>,
) -> Result<Option<String>> {
    // Which of them exist is asked again on each try: another writer may have deleted some.
    let _turn = core.s3_writes.turn(gated.id).await;
    for tries in 0.. {
        let (rev, wanted) = (branch.to_owned(), paths.clone());
        let present: Vec<String> = git_on(core, gated, move |ms, ds| {
            let mut out = Vec::new();
            for p in wanted {
                if let Ok(Some(false)) = ms.stat(ds, Some(&rev), &p) {
                    out.push(p);
                }
            }
            Ok(out)
        })
        .await?;
        if present.is_empty() {
            return Ok(None);
        }
        let summary = match present.as_slice() {
            [one] => format!("Delete {one}"),
            many => format!("Delete {} files", many.len()),
        };
        let change = Change {
            summary,
            at_head: true,
            branch: Some(branch.to_owned()),
            ops: present
                .into_iter()
                .map(|path| Op::Delete { path })
                .collect(),
            ..Change::default()
        };
        match commits::commit(core, who, gated, change).await {
            Err(e) if e.kind == Kind::Conflict && tries < 8 => backoff(tries).await,
            other => return other.map(|r| Some(r.id)),
        }
    }
    unreachable!("the loop returns")
}

/// A pause before trying a commit again, longer each time.
async fn backoff(tries: u32) {
    tokio::time::sleep(std::time::Duration::from_millis(10 << tries.min(5))).await;
}

/// The chunks of a governed view as bytes.
pub fn chunk_bytes(c: Result<Chunk>) -> std::result::Result<Bytes, std::io::Error> {
    match c {
        Ok(Chunk::Bytes(b)) => Ok(b),
        Ok(Chunk::Batch(_)) => Err(std::io::Error::other("unexpected batch")),
        Err(e) => Err(std::io::Error::other(e.message)),
    }
}

/// Stores a body as an object of `gated` (its sha256 and its MD5, the ETag, taken on the way),
/// bounded by the server's object size limit.
pub async fn ingest<S, E>(core: &Core, gated: &Gated, body: S) -> Result<Written>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let limit = core.settings.object_limit();
    let mut md5 = etags::Md5Sum::default();
    let body = body.inspect(|chunk| {
        if let Ok(bytes) = chunk {
            md5.update(bytes);
        }
    });
    let (oid, size) = core.storage.ingest(gated.id, body, limit).await?;
    Ok(Written::Stored {
        oid,
        size,
        etag: Some(md5.hex()),
    })
}
