//! Git LFS building blocks with no HTTP framework in them: object ids, pointer files, the batch and
//! locking wire types, HMAC signing of transfer URLs, S3 SigV4 presigning, and content-addressed
//! storage that verifies every byte it stores against its sha256; and the Hugging Face Xet storage
//! formats (hashes, chunking, xorbs, shards).

pub mod oid;
pub mod pointer;
pub mod s3sign;
pub mod signing;
pub mod storage;
pub mod wire;
pub mod xet;

pub use oid::{lower_hex, Oid, OidError};
pub use storage::{CloudStore, LocalStore, PutError, StoreError};
