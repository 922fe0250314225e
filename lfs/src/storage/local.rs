//! [`LocalStore`]: objects as files on local disk, written only once verified.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;

use super::{PutError, StoreError, Verifier};
use crate::oid::Oid;

/// Temporary files older than this are left-overs of crashed uploads and removed at start-up.
const STALE_TEMP_AGE: Duration = Duration::from_secs(24 * 3600);

/// Objects as files below a root directory, with uploads staged in `{root}/tmp`.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    tmp: PathBuf,
}

/// Deletes a temporary file unless it was renamed into place, whatever way the upload ended.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl LocalStore {
    /// Opens (creating if needed) a store below `root` and sweeps stale temporary files.
    pub async fn open(root: impl Into<PathBuf>) -> Result<LocalStore, StoreError> {
        let root = root.into();
        let tmp = root.join("tmp");
        tokio::fs::create_dir_all(&tmp).await?;
        let mut entries = tokio::fs::read_dir(&tmp).await?;
        while let Some(entry) = entries.next_entry().await? {
            let stale = entry
                .metadata()
                .await
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > STALE_TEMP_AGE);
            if stale {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
        Ok(LocalStore { root, tmp })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, oid: &Oid) -> PathBuf {
        self.root.join(oid.fanout_path())
    }

    /// The stored size of `oid`, or `None` when it is not stored.
    pub async fn size(&self, oid: &Oid) -> Result<Option<u64>, StoreError> {
        match tokio::fs::metadata(self.path_of(oid)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens `oid` for reading, with its length. An object of at most [`SMALL_READ`] bytes
    /// comes back read, in one blocking task (a clone of many small files is bound by thread
    /// hand-offs, not bytes); a larger one as an open file to stream.
    pub async fn open_read(&self, oid: &Oid) -> Result<Option<(Opened, u64)>, StoreError> {
        let path = self.path_of(oid);
        let opened = tokio::task::spawn_blocking(move || {
            let mut file = match std::fs::File::open(path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let len = file.metadata()?.len();
            if len > SMALL_READ {
                return Ok(Some((Opened::File(tokio::fs::File::from_std(file)), len)));
            }
            let mut bytes = Vec::with_capacity(len as usize);
            io::Read::read_to_end(&mut file, &mut bytes)?;
            // The length is what was read, so ranges are cut from bytes that exist.
            let len = bytes.len() as u64;
            Ok(Some((Opened::Small(Bytes::from(bytes)), len)))
        })
        .await
        .map_err(io::Error::other)??;
        Ok(opened)
    }

    /// Where uploads are staged (and spooled, by the server's browser uploads).
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Streams `body` into the store as `oid`, refusing it unless it is exactly `size` bytes that
    /// hash to `oid`. Memory use is one chunk of the body for a large object, at most
    /// [`SMALL_OBJECT`] bytes for a small one (written in one blocking task: a push of many small
    /// files is bound by thread hand-offs, not bytes). Concurrent uploads of one oid each write
    /// their own temporary file; the renames are atomic. The file is synced before it is renamed
    /// into place, so a crash never leaves a visible object with missing bytes.
    pub async fn put_verified<S, E>(&self, oid: &Oid, size: u64, body: S) -> Result<(), PutError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let tmp_path = self
            .tmp
            .join(format!("{oid}.{}", uuid::Uuid::new_v4().simple()));
        let dest = self.path_of(oid);
        let mut verifier = Verifier::new(*oid, size);
        let mut body = std::pin::pin!(body);
        if size <= SMALL_OBJECT {
            let mut bytes = Vec::with_capacity(size as usize);
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| PutError::Body(e.to_string()))?;
                verifier.update(&chunk)?;
                bytes.extend_from_slice(&chunk);
            }
            verifier.finish()?;
            return tokio::task::spawn_blocking(move || {
                let mut guard = TempGuard(Some(tmp_path.clone()));
                let mut file = std::fs::File::create(&tmp_path)?;
                io::Write::write_all(&mut file, &bytes)?;
                file.sync_all()?;
                drop(file);
                rename_into_place(&tmp_path, &dest)?;
                guard.0 = None;
                Ok::<_, io::Error>(())
            })
            .await
            .map_err(|e| StoreError::from(io::Error::other(e)))?
            .map_err(|e| StoreError::from(e).into());
        }
        let mut guard = TempGuard(Some(tmp_path.clone()));
        let file = tokio::fs::File::create(&tmp_path)
            .await
            .map_err(StoreError::from)?;
        let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| PutError::Body(e.to_string()))?;
            verifier.update(&chunk)?;
            out.write_all(&chunk).await.map_err(StoreError::from)?;
        }
        verifier.finish()?;
        out.flush().await.map_err(StoreError::from)?;
        let file = out.into_inner();
        file.sync_all().await.map_err(StoreError::from)?;
        drop(file);
        tokio::task::spawn_blocking(move || rename_into_place(&tmp_path, &dest))
            .await
            .map_err(|e| StoreError::from(io::Error::other(e)))?
            .map_err(StoreError::from)?;
        guard.0 = None;
        Ok(())
    }
}

impl LocalStore {
    /// Stores `oid` from the files `parts`, concatenated in order (a multipart upload's parts):
    /// read, hashed and written by one blocking task with one buffer, so memory stays flat
    /// whatever the size. Nothing is visible unless the bytes are exactly `size` hashing to `oid`.
    pub async fn assemble(
        &self,
        oid: &Oid,
        size: u64,
        parts: Vec<PathBuf>,
    ) -> Result<(), PutError> {
        let tmp_path = self
            .tmp
            .join(format!("{oid}.{}", uuid::Uuid::new_v4().simple()));
        let dest = self.path_of(oid);
        let oid = *oid;
        tokio::task::spawn_blocking(move || {
            let mut guard = TempGuard(Some(tmp_path.clone()));
            let mut verifier = Verifier::new(oid, size);
            let mut out = std::fs::File::create(&tmp_path).map_err(StoreError::from)?;
            let mut buf = vec![0; 1024 * 1024];
            for part in parts {
                let mut file = std::fs::File::open(part).map_err(StoreError::from)?;
                loop {
                    let n = io::Read::read(&mut file, &mut buf).map_err(StoreError::from)?;
                    if n == 0 {
                        break;
                    }
                    verifier.update(&buf[..n])?;
                    io::Write::write_all(&mut out, &buf[..n]).map_err(StoreError::from)?;
                }
            }
            verifier.finish()?;
            out.sync_all().map_err(StoreError::from)?;
            drop(out);
            rename_into_place(&tmp_path, &dest).map_err(StoreError::from)?;
            guard.0 = None;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::from(io::Error::other(e)))?
    }
}

impl LocalStore {
    /// Moves `file` into the store as `oid`: its bytes were hashed as they were written (by the
    /// caller, who found them hashing to `oid`) and synced. Refused unless it has exactly `size`
    /// bytes. An object already stored stays as it is (never replaced), and the file goes.
    pub async fn adopt(&self, oid: &Oid, size: u64, file: PathBuf) -> Result<(), PutError> {
        let actual = tokio::fs::metadata(&file)
            .await
            .map_err(StoreError::from)?
            .len();
        if actual != size {
            return Err(PutError::SizeMismatch {
                expected: size,
                actual,
            });
        }
        let dest = self.path_of(oid);
        if tokio::fs::metadata(&dest)
            .await
            .is_ok_and(|m| m.len() == size)
        {
            let _ = tokio::fs::remove_file(&file).await;
            return Ok(());
        }
        tokio::task::spawn_blocking(move || rename_into_place(&file, &dest))
            .await
            .map_err(|e| StoreError::from(io::Error::other(e)))?
            .map_err(StoreError::from)?;
        Ok(())
    }
}

/// What [`LocalStore::open_read`] found.
#[derive(Debug)]
pub enum Opened {
    /// A small object, read whole.
    Small(Bytes),
    /// A larger one, to stream.
    File(tokio::fs::File),
}

/// Objects up to this size are read whole, in one blocking task.
pub const SMALL_READ: u64 = 64 * 1024;

/// Objects up to this size are buffered and written in one blocking task.
pub const SMALL_OBJECT: u64 = 1024 * 1024;

/// Renames `tmp` to `dest`, creating `dest`'s fan-out directory only when the rename says it is
/// missing (it exists for all but the first object under it).
fn rename_into_place(tmp: &Path, dest: &Path) -> io::Result<()> {
    match std::fs::rename(tmp, dest) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::rename(tmp, dest)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::PutError;
    use futures_util::stream;

    fn body(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, io::Error>> {
        stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    async fn temp_files(store: &LocalStore) -> usize {
        std::fs::read_dir(store.root().join("tmp")).unwrap().count()
    }

    #[tokio::test]
    async fn stores_only_verified_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).await.unwrap();
        let oid = Oid::of(b"hello world");

        let wrong = store
            .put_verified(&oid, 11, body(&[b"hello", b" worle"]))
            .await;
        assert!(
            matches!(wrong, Err(PutError::HashMismatch { .. })),
            "{wrong:?}"
        );
        let short = store.put_verified(&oid, 11, body(&[b"hello"])).await;
        assert!(matches!(
            short,
            Err(PutError::SizeMismatch {
                expected: 11,
                actual: 5
            })
        ));
        let long = store
            .put_verified(&oid, 11, body(&[b"hello world", b"!"]))
            .await;
        assert!(matches!(long, Err(PutError::TooLong { .. })));
        let cut = stream::iter(vec![
            Ok(Bytes::from_static(b"hel")),
            Err(io::Error::other("reset")),
        ]);
        assert!(matches!(
            store.put_verified(&oid, 11, cut).await,
            Err(PutError::Body(_))
        ));
        assert_eq!(store.size(&oid).await.unwrap(), None);
        assert_eq!(temp_files(&store).await, 0);

        store
            .put_verified(&oid, 11, body(&[b"hello", b" world"]))
            .await
            .unwrap();
        assert_eq!(store.size(&oid).await.unwrap(), Some(11));
        assert_eq!(temp_files(&store).await, 0);
    }
}
