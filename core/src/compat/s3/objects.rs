//! Reading and writing one key of the S3 gateway: what a file is to a reader (an LFS object, a
//! file kept in git, or a governed table's view), and a write to a branch as one commit (an
//! object through the same hashing as every upload, a delete, a copy).

use bytes::Bytes;
use futures_util::Stream;
use strata_lfs::pointer::Pointer;
use strata_lfs::Oid;
use strata_metastore::Op;

use super::Located;
use crate::auth::Principal;
use crate::datasets::commit::{self, Change};
use crate::datasets::gate::Gated;
use crate::datasets::git_on;
use crate::datasets::governance::{catalog, decide, raw_objects, refusal, Surface};
use crate::datasets::tables::{self as streamed, Chunk, Format};
use crate::error::{Error, Kind, Result};
use crate::storage::Place;
use crate::Core;

/// Small text that is no data (a datapackage, a README) is kept in git when at most this big;
/// everything else becomes an LFS object.
pub const MAX_INLINE: u64 = 256 << 10;

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
    /// The sha256 of an LFS object, the git blob id of a file kept in git (as listings give
    /// them), the revision and table of a governed view (whose bytes depend on who reads).
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
            let etag = format!("{}:{}:governed", revision.id, t.name);
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
                return Ok(found(content, view.oid.to_string()));
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
            p.oid.to_string(),
        ),
        // A file kept in git: its blob id, as listings name it.
        None => found(Content::Inline(data), blob),
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
    /// An object already stored by `Storage::ingest`.
    Stored(Oid, u64),
}

/// Writes one file to a branch as one commit with `message` (default `Upload {path}`), retried
/// on a branch that moved meanwhile. Returns the revision made.
pub async fn put(
    core: &Core,
    who: &Principal,
    gated: &Gated,
    at: &Located,
    bytes: Written,
    message: Option<String>,
) -> Result<String> {
    check_write(gated, at)?;
    let path = at.path.clone();
    let (data, lfs_paths, vouched) = match bytes {
        Written::Inline(data) => (data, vec![], vec![]),
        Written::Stored(oid, size) => {
            core.storage.link(gated.id, &oid, size).await?;
            let data = Pointer { oid, size }.encode().into_bytes();
            (data, vec![path.clone()], vec![oid])
        }
    };
    let change = Change {
        summary: message.unwrap_or_else(|| format!("Upload {path}")),
        at_head: true,
        branch: Some(at.rev.clone()),
        ops: vec![Op::Put { path, data }],
        lfs_paths,
        vouched,
        ..Change::default()
    };
    commit_retrying(core, who, gated, change).await
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
        match commit::commit(core, who, gated, change).await {
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

/// [`commit::commit`] in the dataset's turn ([`super::Writes`]), again when the branch moved
/// between reading its head and writing (other replicas, other surfaces).
async fn commit_retrying(
    core: &Core,
    who: &Principal,
    gated: &Gated,
    change: Change,
) -> Result<String> {
    let _turn = core.s3_writes.turn(gated.id).await;
    let mut tries = 0;
    loop {
        match commit::commit(core, who, gated, change.clone()).await {
            Err(e) if e.kind == Kind::Conflict && tries < 8 => {
                tries += 1;
                backoff(tries).await;
            }
            other => return other.map(|r| r.id),
        }
    }
}

/// The chunks of a governed view as bytes.
pub fn chunk_bytes(c: Result<Chunk>) -> std::result::Result<Bytes, std::io::Error> {
    match c {
        Ok(Chunk::Bytes(b)) => Ok(b),
        Ok(Chunk::Batch(_)) => Err(std::io::Error::other("unexpected batch")),
        Err(e) => Err(std::io::Error::other(e.message)),
    }
}

/// Stores a body as an object of `gated` (sha256 computed on the way), bounded by the server's
/// object size limit.
pub async fn ingest<S, E>(core: &Core, gated: &Gated, body: S) -> Result<(Oid, u64)>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let limit = core.settings.object_limit();
    core.storage.ingest(gated.id, body, limit).await
}
