//! Encryption at rest: sealed objects on the disk, in buckets, and file contents.

mod buckets;
mod contents;
pub(crate) mod local;
