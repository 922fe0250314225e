//! Keys the catalog hands an engine with a load, for the S3 gateway: for one table's files alone
//! (`.iceberg/{table}/` of its dataset's bucket), expiring after [`LIFETIME`]; read-only, or for a
//! caller who may write the dataset also able to stage the files of a commit there
//! ([`super::staged`]: nothing is written to the dataset until the catalog's commit). Nothing
//! is stored: the access key id says whose, which dataset, which table, until when and whether it
//! stages, and the secret is an HMAC of it under a key derived from the server's, so any replica
//! checks it. The holder acts as the user it was made for, with that user's rights when it is
//! used (a share revoked or a policy changed meanwhile counts), through a
//! `dataset:{ns}/{name}:read` scope (`:write` for a staging key).

use hmac::{KeyInit, Mac};

use crate::auth::{Principal, Scopes};
use crate::error::{Error, Result};
use crate::Core;

const PREFIX: &str = "stv_";
/// What the key is derived under is derived for (`JwtKeys::derive`).
const PURPOSE: &str = "strata iceberg vended keys";
/// How long a key lives (seconds).
pub const LIFETIME: i64 = 3600;

/// A key for one table's files.
#[derive(Debug, Clone)]
pub struct Key {
    pub id: String,
    pub secret: String,
    /// Unix seconds.
    pub expires: i64,
}

/// What a key is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vended {
    pub user_id: i64,
    pub repo_id: i64,
    /// The first 16 hex characters of the table's name's sha256 ([`table_tag`]).
    pub table: String,
    pub expires: i64,
    /// Whether it stages a commit's files too.
    pub write: bool,
}

/// What names a table in a key.
pub fn table_tag(table: &str) -> String {
    crate::auth::secrets::stored(table)[..16].to_owned()
}

fn secret_of(core: &Core, id: &str) -> String {
    let key = core.jwt.derive(PURPOSE);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(id.as_bytes());
    strata_lfs::lower_hex(&mac.finalize().into_bytes()[..20])
}

/// A key for `user_id` to read table `table` of dataset `repo_id` through the S3 gateway (and
/// with `write`, to stage a commit's files).
pub fn mint(core: &Core, user_id: i64, repo_id: i64, table: &str, write: bool) -> Key {
    mint_until(
        core,
        user_id,
        repo_id,
        table,
        crate::db::now() + LIFETIME,
        write,
    )
}

/// [`mint`], expiring at `expires` (Unix seconds).
pub fn mint_until(
    core: &Core,
    user_id: i64,
    repo_id: i64,
    table: &str,
    expires: i64,
    write: bool,
) -> Key {
    let id = format!(
        "{PREFIX}{user_id:x}_{repo_id:x}_{expires:x}_{}{}",
        table_tag(table),
        if write { "_w" } else { "" }
    );
    Key {
        secret: secret_of(core, &id),
        id,
        expires,
    }
}

/// Whether `access_key_id` is of the catalog's keys (checked or not).
pub fn is_vended(access_key_id: &str) -> bool {
    access_key_id.starts_with(PREFIX)
}

/// What a live key made by this server is for, with its secret; `None` for anything else (an
/// expired key too).
pub fn check(core: &Core, access_key_id: &str) -> Option<(Vended, String)> {
    let rest = access_key_id.strip_prefix(PREFIX)?;
    let mut parts = rest.split('_');
    let mut hex = || i64::from_str_radix(parts.next()?, 16).ok();
    let (user_id, repo_id, expires) = (hex()?, hex()?, hex()?);
    let table = parts.next()?.to_owned();
    let write = match parts.next() {
        None => false,
        Some("w") => true,
        Some(_) => return None,
    };
    let mode = if write { "_w" } else { "" };
    if parts.next().is_some()
        || table.len() != 16
        || !table
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        || expires <= crate::db::now()
        || access_key_id != format!("{PREFIX}{user_id:x}_{repo_id:x}_{expires:x}_{table}{mode}")
    {
        return None;
    }
    let vended = Vended {
        user_id,
        repo_id,
        table,
        expires,
        write,
    };
    Some((vended, secret_of(core, access_key_id)))
}

/// The caller a live key acts as: its user, reading that dataset only (a staging key: reading
/// and writing it).
pub async fn principal(core: &Core, vended: &Vended) -> Result<Principal> {
    let expired = || {
        Error::unauthorized(
            "this catalog key has expired or its user is gone: load the table again",
        )
    };
    if vended.expires <= crate::db::now() {
        return Err(expired());
    }
    let user = core
        .db
        .user_by_id(vended.user_id)
        .await?
        .ok_or_else(expired)?;
    let repo = core
        .db
        .repo_by_id(vended.repo_id)
        .await?
        .ok_or_else(expired)?;
    let action = if vended.write { "write" } else { "read" };
    let scopes = Scopes::parse(&format!("dataset:{}:{action}", repo.path()))
        .map_err(|e| Error::internal(format!("a catalog key's scope: {e}")))?;
    Ok(Principal::User {
        user,
        scopes,
        family: None,
    })
}
