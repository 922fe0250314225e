//! Share links: a read-only URL to a file or folder of a dataset's default branch that works
//! without an account, optionally until an expiry and behind a password. The secret is in the URL
//! (`/s/{secret}`): it is the HMAC of a random nonce under a key derived from the server's private
//! key, so the dataset's admins can copy the link again ([`secret_of`]) while the database keeps
//! only the nonce and the secret's sha256; the password is stored as argon2id. Wrong passwords are
//! counted per link and per address in the database (every replica sees them); the pages also
//! limit requests per address. Revoking a link (or its dataset going away) ends it at once.

use serde_json::json;

use crate::audit::by as audit;
use crate::auth::{secrets, Principal};
use crate::datasets::gate::{self, check_path, Gated};
use crate::db::{now, LinkRow};
use crate::error::{Error, Result};
use crate::Core;

/// Wrong passwords allowed per link, and per address, in [`GUESS_WINDOW`] seconds.
const MAX_GUESSES_PER_LINK: i64 = 10;
const MAX_GUESSES_PER_IP: i64 = 50;
const GUESS_WINDOW: i64 = 15 * 60;

/// A new link, with its secret (shown once).
pub struct NewLink {
    pub row: LinkRow,
    pub secret: String,
}

/// Makes a link to `path` (a file or folder at the head of the default branch; `""` is all of
/// it) of a dataset the caller administers.
pub async fn create(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    path: &str,
    password: Option<String>,
    expires_at: Option<i64>,
) -> Result<NewLink> {
    let path = path.trim_matches('/').to_owned();
    check_path(&path)?;
    if expires_at.is_some_and(|t| t <= now()) {
        return Err(Error::unprocessable("the expiry must be in the future"));
    }
    crate::datasets::paths::check_exists(core, repo, &path).await?;
    let password_hash = match password.filter(|p| !p.is_empty()) {
        Some(p) if p.chars().count() < 8 => {
            return Err(Error::unprocessable(
                "a link password needs at least 8 characters",
            ))
        }
        Some(p) => Some(core.hasher.hash(p).await?),
        None => None,
    };
    let nonce = secrets::random_hex(16);
    let secret = derive(core, &nonce);
    let creator = match who {
        Principal::User { user, .. } => Some(user),
        _ => None,
    };
    let id = core
        .db
        .create_link(
            (&secrets::stored(&secret), &nonce),
            repo.id,
            &path,
            password_hash.as_deref(),
            expires_at,
            creator.map(|u| u.id),
        )
        .await?;
    let told = json!({"link": id, "path": path, "password": password_hash.is_some(),
        "expires_at": expires_at});
    crate::events::record(core, Some(who), "share_link.created", &repo.path(), told).await;
    if let Some(user) = creator {
        let detail =
            json!({"link": id, "password": password_hash.is_some(), "expires_at": expires_at});
        audit(
            core,
            "dataset.link.create",
            user,
            &format!("{}:{path}", repo.path()),
            detail,
        )
        .await?;
    }
    let row = core
        .db
        .links(repo.id)
        .await?
        .into_iter()
        .find(|l| l.id == id)
        .ok_or_else(|| Error::internal("the new link vanished"))?;
    Ok(NewLink { row, secret })
}

/// A link's secret from its nonce: 48 hex digits, like the random secrets of older links.
fn derive(core: &Core, nonce: &str) -> String {
    use hmac::{KeyInit, Mac};
    let key = core.jwt.derive("strata share link");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(nonce.as_bytes());
    strata_lfs::lower_hex(&mac.finalize().into_bytes()[..24])
}

/// The secret of `link`, for the dataset's admins to copy again; `None` for a link made before
/// links kept what that takes, or under another server key (it still opens: only its hash is
/// looked up; it just cannot be shown again).
pub fn secret_of(core: &Core, link: &LinkRow) -> Option<String> {
    let nonce = link.nonce.as_deref()?;
    let secret = derive(core, nonce);
    secrets::same(&secrets::stored(&secret), &link.token_hash).then_some(secret)
}

/// The live links of a dataset (its admins see them, and may copy them again).
pub async fn list(core: &Core, repo: &Gated) -> Result<Vec<LinkRow>> {
    Ok(core.db.links(repo.id).await?)
}

/// Ends a link at once.
pub async fn revoke(core: &Core, who: &Principal, repo: &Gated, id: i64) -> Result<()> {
    if !core.db.revoke_link(repo.id, id).await? {
        return Err(Error::not_found(format!("link {id} not found")));
    }
    if let Principal::User { user, .. } = who {
        audit(
            core,
            "dataset.link.revoke",
            user,
            &repo.path(),
            json!({"link": id}),
        )
        .await?;
    }
    Ok(())
}

/// A live link opened by its secret: the gate it grants, and the link.
pub struct Opened {
    pub gated: Gated,
    pub link: LinkRow,
}

/// Opens the link with `secret`: 404 for a wrong, revoked or expired one (all alike).
pub async fn open(core: &Core, secret: &str) -> Result<Opened> {
    let gone = || Error::not_found("this link does not exist, has expired or was revoked");
    if secret.len() != 48 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(gone());
    }
    let link = core
        .db
        .live_link(&secrets::stored(secret))
        .await?
        .ok_or_else(gone)?;
    let repo = core.db.repo_by_id(link.repo_id).await?.ok_or_else(gone)?;
    Ok(Opened {
        gated: gate::link(repo, link.path.clone()),
        link,
    })
}

/// The value that proves, for this link, that its password was given: only the server (which
/// holds the password hash) and the holder of the link's secret can compute it.
pub fn unlock_token(secret: &str, link: &LinkRow) -> Option<String> {
    link.password_hash
        .as_ref()
        .map(|hash| secrets::stored(&format!("{secret}\n{hash}")))
}

/// Checks a password for a link, counting wrong guesses (429 after too many).
pub async fn check_password(core: &Core, link: &LinkRow, password: String) -> Result<bool> {
    let ip = crate::context::current().ip;
    let key = format!("share-link:{}", link.id);
    let (by_link, by_ip) = core
        .db
        .login_failures(&key, &ip, now() - GUESS_WINDOW)
        .await?;
    if by_link >= MAX_GUESSES_PER_LINK || by_ip >= MAX_GUESSES_PER_IP {
        return Err(Error::too_many(
            "too many wrong passwords: wait a few minutes, then try again",
        ));
    }
    let ok = core
        .hasher
        .verify(password, link.password_hash.clone())
        .await?;
    if !ok {
        core.db.record_login_failure(&key, &ip).await?;
    }
    Ok(ok)
}
