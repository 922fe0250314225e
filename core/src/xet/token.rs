//! The access tokens of the Hub's `xet-read-token` / `xet-write-token` routes: a token strata
//! signs for one dataset's CAS, reading or writing, that lives [`TOKEN_SECS`] and that no other
//! route takes (its audience is the CAS's, [`crate::auth::keys::JwtKeys::audience_for`]). It
//! acts for the user who asked, within their rights at each request, and dies with the OAuth
//! grant it was minted from; an anonymous reader of a public dataset gets [`ANONYMOUS`].
//!
//! A CAS request may also come with any other strata credential, judged as anywhere else.

use crate::auth::{self, Action, Principal, Scopes};
use crate::datasets::gate;
use crate::error::{Error, Result};
use crate::Core;

/// How long an access token lasts: `hf_xet` asks again 30 s before.
pub const TOKEN_SECS: i64 = 3600;

/// What anonymous callers get as an access token (their CAS requests are anonymous again).
pub const ANONYMOUS: &str = "anonymous";

/// The audience purpose of the tokens minted here.
const PURPOSE: &str = "xet";

/// The token the Hub's `xet-read-token` / `xet-write-token` routes answer.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub access_token: String,
    pub exp: i64,
    pub cas_url: String,
}

/// A token for the CAS of `{ns}/{name}` at `rev`: for reading, or with `write` for uploading
/// xorbs and shards too. The caller must be able to do as much with the dataset now, and a
/// revision to read must be there (a branch, tag or commit; the default branch always is), as
/// the Hub answers.
pub async fn token(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
    rev: &str,
    write: bool,
) -> Result<Token> {
    let action = if write { Action::Write } else { Action::Read };
    let repo = gate::dataset(core, who, ns, name, action).await?;
    // (The default branch is there to read even before a first commit, as on the Hub.)
    if !write && rev != strata_metastore::DEFAULT_BRANCH {
        let rev = rev.to_owned();
        crate::datasets::git_on(core, &repo, move |ms, ds| ms.resolve(ds, Some(&rev))).await?;
    }
    let path = repo.path();
    let scope = scope(&path, write);
    let (sub, uid, family) = match who {
        Principal::Anonymous => {
            return Ok(Token {
                access_token: ANONYMOUS.to_owned(),
                exp: crate::db::now() + TOKEN_SECS,
                cas_url: cas_url(core, &path),
            })
        }
        Principal::User { user, family, .. } => {
            (user.username.clone(), Some(user.id), family.clone())
        }
        Principal::Jwt { sub, .. } => (sub.clone(), None, None),
    };
    let mut claims = core.jwt.claims(&sub, &scope, TOKEN_SECS);
    claims.aud = core.jwt.audience_for(PURPOSE);
    claims.uid = uid;
    claims.fam = family;
    let exp = claims.exp;
    Ok(Token {
        access_token: core.jwt.sign(&claims).map_err(Error::internal)?,
        exp,
        cas_url: cas_url(core, &path),
    })
}

/// Who a CAS request to `{ns}/{name}` bearing `secret` comes from, when `secret` is a token of
/// [`token`] (or [`ANONYMOUS`]); `None` for any other credential. A token minted for another
/// dataset reaches nothing here (the gate answers as to any token without the scope); one
/// expired or not signed here is not a CAS token, and fails as any other credential would.
pub async fn caller(
    core: &Core,
    secret: &str,
    (ns, name): (&str, &str),
) -> Result<Option<Principal>> {
    if secret == ANONYMOUS {
        return Ok(Some(Principal::Anonymous));
    }
    if secret.split('.').count() != 3 {
        return Ok(None);
    }
    let Ok(claims) = core.jwt.verify_for(secret, &core.jwt.audience_for(PURPOSE)) else {
        return Ok(None);
    };
    let path = format!("{ns}/{name}");
    let here = [false, true]
        .iter()
        .any(|&w| claims.scope == scope(&path, w));
    let mut who = auth::principal_of(core, claims).await?;
    if !here {
        // (Its scope would reach datasets nested under its own: it reaches its own only.)
        match &mut who {
            Principal::User { scopes, .. } | Principal::Jwt { scopes, .. } => {
                *scopes = Scopes::default()
            }
            Principal::Anonymous => {}
        }
    }
    Ok(Some(who))
}

/// The one scope of a token for dataset `path`'s CAS.
fn scope(path: &str, write: bool) -> String {
    format!("dataset:{path}:{}", if write { "write" } else { "read" })
}

/// The base of the CAS URLs of dataset `path` (`{ns}/{name}`).
pub fn cas_url(core: &Core, path: &str) -> String {
    format!("{}/api/datasets/{path}/xet", core.settings.public_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_for_the_cas_only() {
        use crate::auth::keys::{generate_pem, JwtKeys};
        let keys = JwtKeys::from_pem(&generate_pem().unwrap(), "iss".into(), "aud".into()).unwrap();
        let mut claims = keys.claims("alice", "dataset:alice/t:read", TOKEN_SECS);
        claims.aud = keys.audience_for(PURPOSE);
        let token = keys.sign(&claims).unwrap();
        assert!(keys.verify(&token).is_err(), "no other route takes it");
        assert!(keys.verify_for(&token, &keys.audience_for(PURPOSE)).is_ok());
        // Expired (past the leeway), it is refused.
        let mut old = claims.clone();
        old.exp = crate::db::now() - 120;
        let old = keys.sign(&old).unwrap();
        assert!(keys.verify_for(&old, &keys.audience_for(PURPOSE)).is_err());
    }
}
