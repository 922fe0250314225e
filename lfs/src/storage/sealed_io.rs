//! Sealed objects on disk: [`put_sealed`] streams an upload through the same sha256 and size
//! check as a plain one while sealing it (`super::sealed`), into a temporary file that is synced
//! and renamed into place only once everything checked; [`open_sealed`] and [`read_range`] give
//! back any range of it, decrypting only the chunks the range touches, one chunk in memory at a
//! time. A chunk that fails to authenticate is an error, never bytes: the first one before
//! anything is sent, a later one as a failed stream.

use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::{path::Path as StorePath, ObjectStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

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

/// Writes the header and the sealed chunks of `body` to `out`, refusing it unless it is exactly
/// `size` bytes that hash to `oid`. The caller makes the written bytes visible only on success.
async fn seal_into<W, S, E>(
    out: &mut W,
    oid: &Oid,
    size: u64,
    key: &DataKey,
    body: S,
) -> Result<(), PutError>
where
    W: tokio::io::AsyncWrite + Unpin,
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let mut salt = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| StoreError::from(io::Error::other("no randomness")))?;
    let mut sealer = Sealer::new(&key.key, key.id, key.version, salt, size);
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
    Ok(())
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
    let file = tokio::fs::File::create(&tmp)
        .await
        .map_err(StoreError::from)?;
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    seal_into(&mut out, oid, size, key, body).await?;
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

/// [`put_sealed`] into a bucket: the sealed bytes go to `path` in one multipart upload, which
/// becomes visible only when it completes, so a refused body leaves nothing (the upload is
/// aborted). Memory stays bounded by the writer's buffer and its parts in flight.
pub async fn put_sealed_in<S, E>(
    store: &Arc<dyn ObjectStore>,
    path: &StorePath,
    oid: &Oid,
    size: u64,
    key: &DataKey,
    body: S,
) -> Result<(), PutError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let mut out = object_store::buffered::BufWriter::with_capacity(
        store.clone(),
        path.clone(),
        8 * 1024 * 1024,
    )
    .with_max_concurrency(4);
    match seal_into(&mut out, oid, size, key, body).await {
        Ok(()) => out.shutdown().await.map_err(|e| StoreError::from(e).into()),
        Err(e) => {
            let _ = out.abort().await;
            Err(e)
        }
    }
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

/// A sealed object in a bucket, as [`open_sealed_in`] found it.
#[derive(Debug, Clone)]
pub struct InBucket {
    pub header: Header,
    /// The version read, so a later range read cannot mix in another one.
    e_tag: Option<String>,
}

/// Reads the header of the sealed object at `path` in a bucket; `None` when there is none. A
/// stored length other than the header's is tampering (a cut or extended object).
pub async fn open_sealed_in(
    store: &Arc<dyn ObjectStore>,
    path: &StorePath,
) -> io::Result<Option<InBucket>> {
    let options = object_store::GetOptions {
        range: Some(object_store::GetRange::Bounded(0..HEADER_LEN as u64)),
        ..Default::default()
    };
    let got = match store.get_opts(path, options).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(io::Error::other(e)),
    };
    let (len, e_tag) = (got.meta.size, got.meta.e_tag.clone());
    let head = got.bytes().await.map_err(io::Error::other)?;
    let header = Header::decode(&head).map_err(sealing)?;
    if len != header.sealed_len() {
        return Err(sealing(SealError::Tampered));
    }
    Ok(Some(InBucket { header, e_tag }))
}

/// [`read_range`] of a sealed object in a bucket: one ranged GET over the chunks the range needs.
pub async fn read_range_in(
    store: &Arc<dyn ObjectStore>,
    path: &StorePath,
    found: InBucket,
    key: &DataKey,
    start: u64,
    count: u64,
) -> io::Result<ObjectRead> {
    let (at, len) = span(&found.header, start, count);
    let options = object_store::GetOptions {
        range: Some(object_store::GetRange::Bounded(at..at + len)),
        if_match: found.e_tag.clone(),
        ..Default::default()
    };
    let got = store
        .get_opts(path, options)
        .await
        .map_err(io::Error::other)?;
    let stream = got.into_stream().map(|r| r.map_err(io::Error::other));
    let reader = tokio_util::io::StreamReader::new(stream);
    read_chunks(reader, found.header, key, start, count).await
}

/// The chunks a read of plaintext `[start, start + count)` opens: those holding its bytes, or
/// the last one alone for an empty read (which still proves the key), and whether they are
/// sent.
fn chunks_of(header: &Header, start: u64, count: u64) -> (std::ops::Range<u64>, bool) {
    let end = start.saturating_add(count).min(header.size);
    let c = header.chunk_size();
    if end <= start {
        let last = header.chunks() - 1;
        return (last..last + 1, false);
    }
    (start / c..end.div_ceil(c).min(header.chunks()), true)
}

/// Where the chunks a read of `[start, start + count)` needs lie in the sealed object: their
/// offset and length, one contiguous span.
pub fn span(header: &Header, start: u64, count: u64) -> (u64, u64) {
    let (chunks, _) = chunks_of(header, start, count);
    let (at, _) = header.chunk_span(chunks.start);
    let (last_at, last_len) = header.chunk_span(chunks.end - 1);
    (at, last_at + last_len - at)
}

async fn next_chunk<R: AsyncRead + Unpin>(
    reader: &mut R,
    opener: &Opener,
    i: u64,
) -> io::Result<Bytes> {
    let (_, len) = opener.header.chunk_span(i);
    let mut buf = vec![0u8; len as usize];
    reader.read_exact(&mut buf).await?;
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
    let (at, len) = span(&header, start, count);
    file.seek(io::SeekFrom::Start(at)).await?;
    read_chunks(file.take(len), header, key, start, count).await
}

/// The plaintext of `[start, start + count)` from `reader`, which yields the sealed [`span`] of
/// that range: each chunk is read whole, opened, and cut to the range, one in memory at a time.
async fn read_chunks<R>(
    mut reader: R,
    header: Header,
    key: &DataKey,
    start: u64,
    count: u64,
) -> io::Result<ObjectRead>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let opener = Opener::new(&key.key, &header.encode()).map_err(sealing)?;
    let len = header.size;
    let end = start.saturating_add(count).min(len);
    let c = header.chunk_size();
    let (chunks, sent) = chunks_of(&header, start, count);
    let first = next_chunk(&mut reader, &opener, chunks.start).await?;
    let cut = move |i: u64, bytes: Bytes| {
        let from = start.saturating_sub(i * c) as usize;
        let to = ((end - i * c) as usize).min(bytes.len());
        bytes.slice(from..to)
    };
    let body: ByteStream = if sent {
        let head = futures_util::stream::once({
            let b = cut(chunks.start, first);
            async move { Ok(b) }
        });
        let rest = futures_util::stream::try_unfold(
            (reader, opener, chunks.start + 1, chunks.end),
            move |(mut reader, opener, i, stop)| async move {
                if i >= stop {
                    return Ok(None);
                }
                let bytes = next_chunk(&mut reader, &opener, i).await?;
                Ok(Some((cut(i, bytes), (reader, opener, i + 1, stop))))
            },
        );
        Box::pin(head.chain(rest))
    } else {
        Box::pin(futures_util::stream::empty())
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
