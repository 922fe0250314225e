//! Files as one zip archive, made while it is sent: the file manager's "Download" of picked items
//! or a folder, and a share link's "Download all". [`gather`] lists the files at or under the
//! paths asked for at one revision, each through the read gate (a file a policy withholds raw
//! refuses the archive, naming it; through a share only what it covers), without the server's
//! plumbing; [`Archive::stream`] writes them stored (no compression: data files mostly come
//! compressed, and the archive goes out at the speed of storage), zip64 for large ones, with
//! LFS objects read from storage as they are written. Bounded in files and in bytes kept in git.

use bytes::Bytes;
use futures_util::StreamExt;
use strata_lfs::Oid;
use tokio::sync::mpsc;

use crate::datasets::gate::Gated;
use crate::datasets::git_on;
use crate::error::{Error, Result};
use crate::storage::{Read, Storage};
use crate::Core;

/// Files one archive holds at most.
pub const MAX_FILES: usize = 10_000;
/// Bytes of files kept in git (not LFS) one archive holds at most: they are read before it starts.
const MAX_INLINE: u64 = 32 * 1024 * 1024;
/// Archives made at once: each holds a blocking thread while its client reads.
const AT_ONCE: usize = 16;
static ARCHIVES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(AT_ONCE);
/// Archives one client address has in the making at once, so that a few slow readers cannot
/// take every turn.
const EACH: usize = 2;
static CLIENTS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, usize>>> =
    std::sync::LazyLock::new(Default::default);

/// One of a client's [`EACH`] archives, given back when the archive is dropped.
struct ClientTurn(String);

impl ClientTurn {
    fn take(client: &str) -> Result<ClientTurn> {
        let mut map = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(client.to_owned()).or_default();
        if *n >= EACH {
            return Err(Error::too_many(format!(
                "you are downloading {EACH} archives already: wait for one to finish"
            )));
        }
        *n += 1;
        Ok(ClientTurn(client.to_owned()))
    }
}

impl Drop for ClientTurn {
    fn drop(&mut self) {
        let mut map = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.0) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.0);
            }
        }
    }
}
/// How long a client may leave the archive's next bytes unread before it is cut off.
const STALLED: std::time::Duration = std::time::Duration::from_secs(60);

/// What an archive will hold: names inside it, and where each file's bytes are.
pub struct Archive {
    repo_id: i64,
    files: Vec<(String, Source)>,
    /// One of the [`AT_ONCE`] archives being made, and one of its client's, until its last byte
    /// is sent.
    _turn: (tokio::sync::SemaphorePermit<'static>, ClientTurn),
}

enum Source {
    Inline(Vec<u8>),
    Object(Oid, u64),
}

impl Archive {
    /// How many files it holds.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Its bytes, made as they are read: a stream that ends with an error (so the download
    /// fails, never passing for whole) when a file cannot be read.
    pub fn stream(
        self,
        storage: Storage,
    ) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
        let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(8);
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let out = Sender {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
                handle: handle.clone(),
            };
            if let Err(e) = write(self, &storage, &handle, out) {
                let _ = tx.blocking_send(Err(e));
            }
        });
        receiver_stream(rx)
    }
}

fn receiver_stream(
    mut rx: mpsc::Receiver<std::io::Result<Bytes>>,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Bytes sent at once.
const CHUNK: usize = 256 * 1024;

/// The archive's bytes, into a channel in [`CHUNK`]s (a receiver gone stops the writing).
struct Sender {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
    handle: tokio::runtime::Handle,
}

impl std::io::Write for Sender {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        let stopped = |why| std::io::Error::new(std::io::ErrorKind::BrokenPipe, why);
        match self
            .handle
            .block_on(tokio::time::timeout(STALLED, self.tx.send(Ok(chunk))))
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(stopped("download stopped")),
            Err(_) => Err(stopped("the client stopped reading")),
        }
    }
}

fn write(
    archive: Archive,
    storage: &Storage,
    handle: &tokio::runtime::Handle,
    out: Sender,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new_stream(out);
    for (name, source) in archive.files {
        let size = match &source {
            Source::Inline(data) => data.len() as u64,
            Source::Object(_, size) => *size,
        };
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(size >= u64::from(u32::MAX));
        zip.start_file(name.as_str(), options)
            .map_err(std::io::Error::other)?;
        match source {
            Source::Inline(data) => zip.write_all(&data)?,
            Source::Object(oid, _) => {
                let read = handle
                    .block_on(storage.read(archive.repo_id, &oid, None))
                    .map_err(|e| std::io::Error::other(e.message))?;
                let Some(Read::Found { object, .. }) = read else {
                    return Err(std::io::Error::other(format!(
                        "the bytes of {name} are not in storage"
                    )));
                };
                let mut body = object.body;
                while let Some(chunk) = handle.block_on(body.next()) {
                    zip.write_all(&chunk.map_err(std::io::Error::other)?)?;
                }
            }
        }
    }
    let mut out = zip.finish().map_err(std::io::Error::other)?.into_inner();
    out.flush()
}

/// The files at or under each of `paths` at `rev` (`None`: the default branch's head), named in
/// the archive by their path below `base` (a folder; `""`: the root), each passing the read gate.
/// Refuses (404) a path that is not there, and (422) more than [`MAX_FILES`] files.
pub async fn gather(
    core: &Core,
    repo: &Gated,
    rev: Option<&str>,
    paths: &[String],
    base: &str,
) -> Result<Archive> {
    for p in paths {
        if !repo.covers(p) {
            return Err(Error::forbidden(format!("{p:?} is not shared with you")));
        }
    }
    let client = ClientTurn::take(&crate::context::current().ip)?;
    let turn = ARCHIVES.try_acquire().map_err(|_| {
        Error::new(
            crate::error::Kind::Busy,
            "too many archives are being made right now: try again in a minute",
        )
    })?;
    let drive = repo.name == crate::datasets::DRIVE;
    let (at, wanted) = (rev.map(str::to_owned), paths.to_vec());
    let found = git_on(core, repo, move |ms, ds| {
        let (commit, tree) = ms.tree(ds, at.as_deref())?;
        let files = ms.files(ds, Some(&commit))?;
        let mut out = Vec::new();
        let mut inline = 0u64;
        for want in &wanted {
            let prefix = format!("{want}/");
            let mut any = false;
            for e in tree
                .iter()
                .filter(|e| want.is_empty() || e.path == *want || e.path.starts_with(&prefix))
            {
                any = true;
                if crate::datasets::paths::plumbing(&e.path, drive) {
                    continue;
                }
                if out.len() == MAX_FILES {
                    return Err(strata_metastore::Error::Invalid(format!(
                        "an archive holds at most {MAX_FILES} files: pick fewer, or clone the dataset"
                    )));
                }
                let source = match &e.lfs {
                    Some(p) => (Some(*p), None),
                    None => {
                        inline += e.size;
                        if inline > MAX_INLINE {
                            return Err(strata_metastore::Error::Invalid(
                                "these files hold too many bytes kept in git for one archive: \
                                 pick fewer, or clone the dataset"
                                    .into(),
                            ));
                        }
                        let (_, data) = files.upto(&e.path, u64::MAX)?;
                        (None, data)
                    }
                };
                out.push((e.path.clone(), source));
            }
            if !any {
                return Err(strata_metastore::Error::NotFound(format!(
                    "{want:?} not found"
                )));
            }
        }
        Ok((commit, out))
    })
    .await?;
    let (commit, mut found) = found;
    // A file picked beside its folder goes in once; through a share, only what it covers.
    let mut seen = std::collections::HashSet::new();
    found.retain(|(path, _)| seen.insert(path.clone()) && repo.covers(path));
    let checked: Vec<(String, Option<strata_lfs::pointer::Pointer>)> = found
        .iter()
        .map(|(path, (p, _))| (path.clone(), *p))
        .collect();
    repo.read_files(core, Some(&commit), &checked).await?;
    let mut files = Vec::with_capacity(found.len());
    for (path, (pointer, data)) in found {
        // Below `base`; a file picked or linked on its own goes by its name.
        let name = match path.strip_prefix(base).and_then(|r| r.strip_prefix('/')) {
            Some(rel) if !base.is_empty() => rel.to_owned(),
            _ if path == base => path.rsplit('/').next().unwrap_or(&path).to_owned(),
            _ => path.clone(),
        };
        let source = match (pointer, data) {
            (Some(p), _) => Source::Object(p.oid, p.size),
            (None, Some(d)) => Source::Inline(d),
            (None, None) => return Err(Error::internal(format!("{path:?} could not be read"))),
        };
        files.push((name, source));
    }
    Ok(Archive {
        repo_id: repo.id,
        files,
        _turn: (turn, client),
    })
}
