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
//! The access token of [`token`] is the caller's own strata token: every CAS request is judged
//! again by the gate, so a revoked token or a lost grant stops it at once (a range URL handed
//! out before works until it expires, as any signed URL).

pub mod chunking;
mod dedup;
mod land;
mod read;
mod upload;

pub use dedup::dedup;
pub use land::{hash_of, land};
pub use read::{reconstruction, Fetch, Reconstruction, Term};
pub use upload::{put_shard, put_xorb, MAX_SHARD_BODY, MAX_XORB_BODY};

use crate::auth::{Action, Principal};
use crate::datasets::gate;
use crate::error::Result;
use crate::Core;

/// How long an access token is announced to last: `hf_xet` asks again 30 s before.
pub const TOKEN_SECS: i64 = 3600;

/// The token the Hub's `xet-read-token` / `xet-write-token` routes answer.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub access_token: String,
    pub exp: i64,
    pub cas_url: String,
}

/// What anonymous callers get as an access token (their CAS requests are anonymous again).
pub const ANONYMOUS: &str = "anonymous";

/// A token for the CAS of `{ns}/{name}`: for reading, or with `write` for uploading xorbs and
/// shards. `secret` is the strata token the caller came with (none: anonymous).
pub async fn token(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
    write: bool,
    secret: Option<String>,
) -> Result<Token> {
    let action = if write { Action::Write } else { Action::Read };
    let repo = gate::dataset(core, who, ns, name, action).await?;
    Ok(Token {
        access_token: secret.unwrap_or_else(|| ANONYMOUS.to_owned()),
        exp: crate::db::now() + TOKEN_SECS,
        cas_url: cas_url(core, &repo.path()),
    })
}

/// The base of the CAS URLs of dataset `path` (`{ns}/{name}`).
pub fn cas_url(core: &Core, path: &str) -> String {
    format!("{}/api/datasets/{path}/xet", core.settings.public_url)
}
