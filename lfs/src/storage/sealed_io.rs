//! Sealed objects on disk: [`put_sealed`] streams an upload through the same sha256 and size
//! check as a plain one while sealing it (`super::sealed`), into a temporary file that is synced
//! and renamed into place only once everything checked; [`open_sealed`] and [`read_range`] give
//! back any range of it, decrypting only the chunks the range touches, one chunk in memory at a
//! time. A chunk that fails to authenticate is an error, never bytes: the first one before
//! anything is sent, a later one as a failed stream.

use std::io;
use std::path::Path;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::sealed::{Header, Opener, SealError, Sealer, HEADER_LEN};
use super::{ByteStream, ObjectRead, PutError, StoreError, Verifier};
use crate::oid::Oid;

/// A data key, by the id and version a sealed header names it with. Its `Debug` hides the key.
#[derive(Clone)]
pub struct DataKey {
    pub id: u64,
    pub version: u32,
    pub key: [u8; 32],
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey({}, v{}, [redacted])", self.id, self.version)
    }
}

fn sealing(e: SealError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Streams `body` into `dest`, sealed under `key`, refusing it unless it is exactly `size`
/// bytes that hash to `oid`. The temporary file (in `tmp_dir`) is removed on any failure.
pub async fn put_sealed<S, E>(
    tmp_dir: &Path,
    dest: &Path,
    oid: &Oid,
    size: u64,
    key: &DataKey,
    body: S,
) -> Result<(), PutError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let tmp = tmp_dir.join(format!("{oid}.{}.sealed", uuid::Uuid::new_v4().simple()));
    let mut guard = Remove(Some(tmp.clone()));
    let mut salt = [0u8; 32];
    aws_lc_rs::rand::fill(&mut salt)
        .map_err(|_| StoreError::from(io::Error::other("no randomness")))?;
    let mut sealer = Sealer::new(&key.key, key.id, key.version, salt, size);
    let file = tokio::fs::File::create(&tmp)
        .await
        .map_err(StoreError::from)?;
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    out.write_all(sealer.header())
        .await
        .map_err(StoreError::from)?;
    let mut verifier = Verifier::new(*oid, size);
    let mut sealed = Vec::with_capacity(256 * 1024);
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| PutError::Body(e.to_string()))?;
        verifier.update(&chunk)?;
        sealer
            .push(&chunk, &mut sealed)
            .map_err(|e| StoreError::from(sealing(e)))?;
        if sealed.len() >= 128 * 1024 {
            out.write_all(&sealed).await.map_err(StoreError::from)?;
            sealed.clear();
        }
    }
    verifier.finish()?;
    sealer
        .finish(&mut sealed)
        .map_err(|e| StoreError::from(sealing(e)))?;
    out.write_all(&sealed).await.map_err(StoreError::from)?;
    out.flush().await.map_err(StoreError::from)?;
    let file = out.into_inner();
    file.sync_all().await.map_err(StoreError::from)?;
    drop(file);
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(StoreError::from)?;
    }
    tokio::fs::rename(&tmp, dest)
        .await
        .map_err(StoreError::from)?;
    guard.0 = None;
    Ok(())
}

struct Remove(Option<std::path::PathBuf>);

impl Drop for Remove {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Opens a sealed object: the file and its header (which names the key to ask for). `None`
/// when there is no such file.
pub async fn open_sealed(path: &Path) -> io::Result<Option<(tokio::fs::File, Header)>> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut head = [0u8; HEADER_LEN];
    file.read_exact(&mut head).await?;
    let header = Header::decode(&head).map_err(sealing)?;
    if file.metadata().await?.len() != header.sealed_len() {
        return Err(sealing(SealError::Tampered));
    }
    Ok(Some((file, header)))
}

async fn chunk(file: &mut tokio::fs::File, opener: &Opener, i: u64) -> io::Result<Bytes> {
    let (at, len) = opener.header.chunk_span(i);
    file.seek(io::SeekFrom::Start(at)).await?;
    let mut buf = vec![0u8; len as usize];
    file.read_exact(&mut buf).await?;
    let plain = opener.open_chunk(i, &mut buf).map_err(sealing)?.len();
    buf.truncate(plain);
    Ok(Bytes::from(buf))
}

/// `count` plaintext bytes from `start` of an opened sealed object under `key`. The first
/// chunk is opened before this returns, so a tampered object fails before any byte is sent.
pub async fn read_range(
    mut file: tokio::fs::File,
    header: Header,
    key: &DataKey,
    start: u64,
    count: u64,
) -> io::Result<ObjectRead> {
    let mut head = [0u8; HEADER_LEN];
    file.seek(io::SeekFrom::Start(0)).await?;
    file.read_exact(&mut head).await?;
    let opener = Opener::new(&key.key, &head).map_err(sealing)?;
    let len = header.size;
    let end = (start + count).min(len);
    let c = header.chunk_size();
    let chunks = opener.chunks_for(start, end);
    let first = if chunks.is_empty() {
        // An empty read (or object) still proves the key and the last chunk.
        chunk(&mut file, &opener, header.chunks() - 1).await?;
        None
    } else {
        Some(chunk(&mut file, &opener, chunks.start).await?)
    };
    let cut = move |i: u64, bytes: Bytes| {
        let from = start.saturating_sub(i * c) as usize;
        let to = ((end - i * c) as usize).min(bytes.len());
        bytes.slice(from..to)
    };
    let body: ByteStream = match first {
        None => Box::pin(futures_util::stream::empty()),
        Some(first) => {
            let head = futures_util::stream::once({
                let b = cut(chunks.start, first);
                async move { Ok(b) }
            });
            let rest = futures_util::stream::try_unfold(
                (file, opener, chunks.start + 1, chunks.end),
                move |(mut file, opener, i, stop)| async move {
                    if i >= stop {
                        return Ok(None);
                    }
                    let bytes = chunk(&mut file, &opener, i).await?;
                    Ok(Some((cut(i, bytes), (file, opener, i + 1, stop))))
                },
            );
            Box::pin(head.chain(rest))
        }
    };
    Ok(ObjectRead {
        len,
        start,
        count: end.saturating_sub(start),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sealed::CHUNK_LOG2;

    fn key() -> DataKey {
        DataKey {
            id: 1,
            version: 1,
            key: [5; 32],
        }
    }

    fn oid_of(data: &[u8]) -> Oid {
        use sha2::Digest;
        Oid::from_digest(sha2::Sha256::digest(data).into())
    }

    fn body(data: &[u8]) -> impl Stream<Item = Result<Bytes, io::Error>> {
        let pieces: Vec<Result<Bytes, io::Error>> = data
            .chunks(10_000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures_util::stream::iter(pieces)
    }

    async fn read(path: &Path, key: &DataKey, start: u64, count: u64) -> io::Result<Vec<u8>> {
        let (file, header) = open_sealed(path).await?.expect("stored");
        let r = read_range(file, header, key, start, count).await?;
        let mut out = Vec::new();
        let mut body = r.body;
        while let Some(b) = body.next().await {
            out.extend_from_slice(&b?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn stores_reads_ranges_and_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let c = 1usize << CHUNK_LOG2;
        let data: Vec<u8> = (0..3 * c + 100).map(|i| (i % 253) as u8).collect();
        let oid = oid_of(&data);
        let dest = dir.path().join("sealed/1/obj");
        // A wrong hash or size leaves nothing, not even a temporary file.
        let wrong = put_sealed(
            dir.path(),
            &dest,
            &oid,
            data.len() as u64,
            &key(),
            body(&data[1..]),
        )
        .await;
        assert!(wrong.is_err());
        let other = oid_of(b"other");
        assert!(put_sealed(
            dir.path(),
            &dest,
            &other,
            data.len() as u64,
            &key(),
            body(&data)
        )
        .await
        .is_err());
        assert!(!dest.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        put_sealed(
            dir.path(),
            &dest,
            &oid,
            data.len() as u64,
            &key(),
            body(&data),
        )
        .await
        .unwrap();
        let stored = std::fs::read(&dest).unwrap();
        for window in data.chunks(64).take(50) {
            assert!(!stored.windows(64).any(|w| w == window));
        }
        assert_eq!(read(&dest, &key(), 0, u64::MAX).await.unwrap(), data);
        for (start, count) in [
            (0, 1),
            (c as u64 - 1, 2),
            (c as u64, c as u64),
            (5, 3 * c as u64),
            (3 * c as u64 + 99, 1),
        ] {
            let want = &data[start as usize..(start + count) as usize];
            assert_eq!(
                read(&dest, &key(), start, count).await.unwrap(),
                want,
                "{start}+{count}"
            );
        }
        // Another key, and a flipped byte in the second chunk: the error comes before any byte
        // of a range that starts there, and ends a stream that reaches it.
        let wrong_key = DataKey {
            key: [6; 32],
            ..key()
        };
        assert!(read_range_err(&dest, &wrong_key, 0).await);
        let mut bad = stored.clone();
        bad[HEADER_LEN + c + 16 + 7] ^= 1;
        std::fs::write(&dest, &bad).unwrap();
        assert!(read_range_err(&dest, &key(), c as u64).await);
        assert!(read(&dest, &key(), 0, u64::MAX).await.is_err());
        // Truncated.
        std::fs::write(&dest, &stored[..stored.len() - 1]).unwrap();
        assert!(open_sealed(&dest).await.is_err());
    }

    async fn read_range_err(path: &Path, key: &DataKey, start: u64) -> bool {
        let (file, header) = open_sealed(path).await.unwrap().unwrap();
        read_range(file, header, key, start, 10).await.is_err()
    }

    #[tokio::test]
    async fn the_empty_object() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("e");
        put_sealed(dir.path(), &dest, &Oid::EMPTY, 0, &key(), body(b""))
            .await
            .unwrap();
        assert_eq!(read(&dest, &key(), 0, u64::MAX).await.unwrap(), b"");
        let wrong_key = DataKey {
            key: [6; 32],
            ..key()
        };
        assert!(read_range_err(&dest, &wrong_key, 0).await);
    }
}
