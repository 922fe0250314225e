//! Xet storage: strata as the self-hosted CAS that `huggingface_hub` with `hf_xet` uploads to and
//! downloads from, as Hugging Face's Hub does (the Xet protocol, huggingface.co/docs/xet).
//!
//! A dataset's Xet storage is its own: its xorbs (content-defined chunks, ~64 KiB each, packed
//! into objects of up to 64 MiB) are objects of the dataset, sealed with its key under
//! `--encryption`; a shard names xorbs of the same dataset only, and a dedup answer never speaks
//! of another dataset's chunks. A xorb is checked against its hash, and a shard's files against
//! their xorbs (every term's verification hash, every file hash), before anything refers to
//! them ([`upload`]).
//!
//! A commit that names a file by the sha256 the shard claimed for it reads the file back from
//! its chunks and links it as the LFS object it says it is, refused unless the bytes hash to it
//! ([`land`]): every other reader (git-lfs, raw downloads, the S3 gateway, tables) reads it
//! through the storage facade, from its chunks. Objects that arrive whole are chunked in the
//! background ([`chunking`]) into the same storage. A download through Xet asks for the file's reconstruction ([`read`]): its terms and
//! strata-signed URLs to the byte ranges of its xorbs, for a caller who may read the file.
//!
//! An uploader's dedup query ([`dedup`]) learns which xorb of the same dataset holds a chunk, so
//! a client with an empty cache still sends only the chunks the dataset lacks.
//!
//! The access token of [`token()`] is signed for the one dataset's CAS, reading or writing, for
//! an hour ([`mod@token`]); every CAS request is judged again by the gate, so a lost grant stops it
//! at once (a range URL handed out before works until it expires, as any signed URL).

pub mod chunking;
mod dedup;
mod land;
mod read;
mod token;
mod upload;

pub use dedup::dedup;
pub use land::{hash_of, land};
pub use read::{reconstruction, Fetch, Reconstruction, Term};
pub use token::{caller, cas_url, token, Token, ANONYMOUS, TOKEN_SECS};
pub use upload::{put_shard, put_xorb, MAX_SHARD_BODY, MAX_XORB_BODY};
