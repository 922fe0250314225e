//! The URLs of a recipient's files: `{public_url}/api/delta-sharing/files/{token}`, where the
//! token says which recipient, which shared table, which revision (or pair of revisions, for a
//! change feed), the first characters of the view's key and until when, signed with a key
//! derived from the server's (any replica checks it; nothing is stored). Only unreserved
//! characters, as clients quote URLs again. Reading one checks the token, then that the
//! recipient is still live and still has the share (on every request: a revocation is seen by
//! the next read), then decides again as the recipient (kept [`DECIDED`]): a policy or share
//! changed since the query finds another view, and the URL answers 404.

use hmac::{KeyInit, Mac};
use strata_lfs::Oid;

use super::read::opened_at;
use super::{gated, Reader};
use crate::db::{now, DeltaTable};
use crate::error::{Error, Result};
use crate::storage::Place;
use crate::tables::{self, view};
use crate::Core;

/// How long a file URL lives (seconds).
pub const LIFETIME: i64 = 3600;
/// How long a file's decision is kept for the reads that follow (a client reads a file in
/// several ranges).
pub const DECIDED: std::time::Duration = std::time::Duration::from_secs(30);
const PURPOSE: &str = "strata delta sharing files";
/// Hex characters of the view's key a token carries.
const KEYED: usize = 16;

/// What a file is: a revision's view, or the change feed between two revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    Snapshot(String),
    Feed(String, String),
}

/// A file as it is served.
#[derive(Debug, Clone)]
pub struct Served {
    pub place: Place,
    pub oid: Oid,
    pub size: u64,
}

fn sign(core: &Core, body: &str) -> String {
    let key = core.jwt.derive(PURPOSE);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(body.as_bytes());
    strata_lfs::lower_hex(&mac.finalize().into_bytes()[..20])
}

/// The URL of a file of `table` for `r`, and when it expires (Unix seconds).
pub fn url(core: &Core, r: &Reader, table: &DeltaTable, what: &What, key: &str) -> (String, i64) {
    let expires = now() + LIFETIME;
    let revs = match what {
        What::Snapshot(rev) => format!("s{rev}"),
        What::Feed(a, b) => format!("c{a}-{b}"),
    };
    let body = format!(
        "{:x}-{:x}-{expires:x}-{revs}-{}",
        r.recipient.id,
        table.id,
        &key[..KEYED.min(key.len())]
    );
    let token = format!("{body}-{}", sign(core, &body));
    (
        format!(
            "{}/api/delta-sharing/files/{token}",
            core.settings.public_url
        ),
        expires,
    )
}

struct Token {
    recipient: i64,
    table: i64,
    expires: i64,
    what: What,
    key: String,
}

fn parse(core: &Core, token: &str) -> Result<Token> {
    let bad = || Error::not_found("no such file");
    let (body, sig) = token.rsplit_once('-').ok_or_else(bad)?;
    if !crate::auth::secrets::same(&sign(core, body), sig) {
        return Err(bad());
    }
    let parts: Vec<&str> = body.split('-').collect();
    let hex = |s: &str| i64::from_str_radix(s, 16).map_err(|_| bad());
    let (what, key) = match parts.as_slice() {
        [_, _, _, s, key] if s.starts_with('s') => (What::Snapshot(s[1..].to_owned()), key),
        [_, _, _, a, b, key] if a.starts_with('c') => {
            (What::Feed(a[1..].to_owned(), (*b).to_owned()), key)
        }
        _ => return Err(bad()),
    };
    Ok(Token {
        recipient: hex(parts[0])?,
        table: hex(parts[1])?,
        expires: hex(parts[2])?,
        what,
        key: (*key).to_owned(),
    })
}

/// The file a token names, if it is still the recipient's to read: 404 for a token that is
/// not one, 403 for an expired one or a recipient revoked, expired or no longer given the share.
pub async fn open(core: &Core, token: &str) -> Result<Served> {
    let t = parse(core, token)?;
    if t.expires < now() {
        return Err(Error::forbidden(
            "this file's URL expired: query the table again for a new one",
        ));
    }
    let recipient = core
        .db
        .recipient_by_id(t.recipient)
        .await?
        .filter(crate::db::Recipient::live)
        .ok_or_else(|| Error::forbidden("this recipient's access was revoked or expired"))?;
    let table = core
        .db
        .delta_table(t.table)
        .await?
        .ok_or_else(|| Error::forbidden("this table is no longer shared"))?;
    let shares = core.db.recipient_shares(recipient.id).await?;
    if !shares.iter().any(|s| s.id == table.share_id) {
        return Err(Error::forbidden("this table is no longer shared with you"));
    }
    let kept = format!("{token}|{:?}", core.governance.version(core).await);
    if let Some(s) = core.delta_sharing.files.get(&kept, DECIDED) {
        return Ok(s);
    }
    let subject = crate::sharing::recipients::subject(core, &recipient).await?;
    let reader = Reader { recipient, subject };
    let gated = gated(core, &reader, &table).await?;
    let changed = || {
        Error::not_found(
            "this file is no longer shared as it was (the table, its share or the policies \
             changed): query the table again",
        )
    };
    let found = match &t.what {
        What::Snapshot(rev) => {
            let o = opened_at(core, &gated, &table, rev).await?;
            view::find(core, gated.id, &o).await?
        }
        What::Feed(a, b) => {
            let oa = opened_at(core, &gated, &table, a).await?;
            let ob = opened_at(core, &gated, &table, b).await?;
            match (
                view::find(core, gated.id, &oa).await?,
                view::find(core, gated.id, &ob).await?,
            ) {
                (Some(va), Some(vb)) => {
                    tables::diff::feed::find(core, &va, &vb, &ob.table.primary_key).await?
                }
                _ => None,
            }
        }
    };
    let v = found
        .filter(|v| v.key.starts_with(&t.key))
        .ok_or_else(changed)?;
    let served = Served {
        place: v.place(),
        oid: v.oid,
        size: v.size,
    };
    core.delta_sharing
        .files
        .put(kept, served.clone(), DECIDED, 10_000);
    Ok(served)
}
