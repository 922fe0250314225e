//! Content-addressed object storage, keyed by oid at `{prefix}/{oid[0:2]}/{oid[2:4]}/{oid}`.
//!
//! [`LocalStore`] is the embedded default: strata receives the bytes itself and
//! [`LocalStore::put_verified`] streams them to a temporary file while hashing and counting, so a
//! body whose sha256 or length is wrong never becomes visible; success is an atomic rename.
//! [`CloudStore`] wraps `object_store` for S3, GCS and Azure, where strata only presigns URLs and
//! checks what arrived. Both check bytes with one [`Verifier`].

mod cloud;
mod local;
pub mod sealed;
pub mod sealed_io;

use std::io;

use sha2::{Digest, Sha256};

use crate::oid::Oid;

pub use cloud::{BucketPart, BucketUpload, CloudSigner, CloudStore};
pub use local::{LocalStore, Opened};

/// The bytes of a stored object (or of a range of it), as a stream of chunks.
pub type ByteStream = futures_util::stream::BoxStream<'static, Result<bytes::Bytes, io::Error>>;

/// An object opened for reading: `count` bytes from offset `start` of a `len`-byte object.
pub struct ObjectRead {
    pub len: u64,
    pub start: u64,
    pub count: u64,
    pub body: ByteStream,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("object store request failed: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("presigning is not supported by this backend: {0}")]
    Presign(String),
}

/// Why a verified upload was refused. Nothing is stored in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error("body is longer than the declared size of {expected} bytes")]
    TooLong { expected: u64 },
    #[error("body has {actual} bytes, the declared size is {expected}")]
    SizeMismatch { expected: u64, actual: u64 },
    #[error("body hashes to {actual}, not to the oid {expected}")]
    HashMismatch { expected: Oid, actual: Oid },
    #[error("the request body could not be read: {0}")]
    Body(String),
    #[error("the upload could not be verified: {0}")]
    Unverified(String),
    #[error("{0}: ask the batch API for the parts again")]
    PartsChanged(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counts and hashes bytes as they stream past, and says whether they are exactly `size` bytes
/// hashing to `oid`. Refuses as soon as the stream runs longer than declared.
pub struct Verifier {
    oid: Oid,
    size: u64,
    seen: u64,
    hasher: Sha256,
}

impl Verifier {
    pub fn new(oid: Oid, size: u64) -> Verifier {
        Verifier {
            oid,
            size,
            seen: 0,
            hasher: Sha256::new(),
        }
    }

    pub fn update(&mut self, chunk: &[u8]) -> Result<(), PutError> {
        self.seen += chunk.len() as u64;
        if self.seen > self.size {
            return Err(PutError::TooLong {
                expected: self.size,
            });
        }
        self.hasher.update(chunk);
        Ok(())
    }

    /// At the end of the stream: the length, then the hash.
    pub fn finish(self) -> Result<(), PutError> {
        if self.seen != self.size {
            return Err(PutError::SizeMismatch {
                expected: self.size,
                actual: self.seen,
            });
        }
        let actual = Oid::from_digest(self.hasher.finalize().into());
        if actual != self.oid {
            return Err(PutError::HashMismatch {
                expected: self.oid,
                actual,
            });
        }
        Ok(())
    }
}
