//! OAuth clients (applications), the domain side: registering one (from the settings page or the
//! REST API) with its redirect URIs checked as URLs, and matching a redirect URI an authorization
//! request sends against the registered ones.

use serde_json::json;

use crate::db::Db;
use crate::db::{now, OauthClient};

use super::secrets::{random_hex, stored as sha256_hex};

/// A new client secret.
fn random_secret() -> String {
    random_hex(32)
}

/// A redirect URI must parse as an absolute URL, https (or http to this machine), without
/// credentials or a fragment. Parsed, not prefix-matched: `http://127.0.0.1.evil.example/` and
/// `http://localhost@evil.example/` are refused.
fn check_redirect(uri: &str) -> Result<(), String> {
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{uri:?}: no spaces or control characters"));
    }
    let url = url::Url::parse(uri).map_err(|e| format!("{uri:?}: not an absolute URL ({e})"))?;
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if is_loopback(&url) => {}
        _ => {
            return Err(format!(
                "{uri:?}: use https (http only for 127.0.0.1, [::1] or localhost)"
            ))
        }
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{uri:?}: no fragments or credentials"));
    }
    Ok(())
}

/// Registers an application owned by `user`: `Ok(Err(reason))` for bad input, else the client
/// id and, for a confidential client, its secret (shown once, stored hashed).
pub async fn create_client(
    db: &Db,
    user: &crate::db::User,
    name: &str,
    redirect_uris: &[String],
    confidential: bool,
) -> crate::error::Result<Result<(String, Option<String>), String>> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Ok(Err("the name must be 1 to 100 characters".into()));
    }
    if redirect_uris.is_empty() || redirect_uris.len() > 10 {
        return Ok(Err("register 1 to 10 redirect URIs".into()));
    }
    for uri in redirect_uris {
        if let Err(e) = check_redirect(uri) {
            return Ok(Err(e));
        }
    }
    let client_id = format!("sc_{}", uuid::Uuid::new_v4().simple());
    let secret = confidential.then(random_secret);
    let client = OauthClient {
        client_id: client_id.clone(),
        secret_hash: secret.as_deref().map(sha256_hex),
        name: name.to_owned(),
        redirect_uris: redirect_uris.join("\n"),
        confidential: confidential as i64,
        owner_id: user.id,
        created_at: now(),
    };
    db.create_client(&client).await?;
    let ip = crate::context::current().ip;
    let detail = json!({"name": name, "confidential": confidential});
    db.audit(
        "oauth.client.register",
        Some(&user.username),
        Some(&client_id),
        Some(&ip),
        &detail,
    )
    .await?;
    Ok(Ok((client_id, secret)))
}

/// Whether `url` is plain http to this machine (127.0.0.1, [::1] or localhost).
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether a redirect URI sent to the authorization endpoint is the `registered` one, compared
/// as URLs: scheme, host, port, path and query must be the same (the port may differ only for
/// loopback http, as RFC 8252 §7.3 asks for native apps); credentials and fragments never match.
pub fn redirect_matches(registered: &str, given: &str) -> bool {
    let (Ok(r), Ok(g)) = (url::Url::parse(registered), url::Url::parse(given)) else {
        return false;
    };
    let loopback = r.scheme() == "http" && is_loopback(&r);
    g.fragment().is_none()
        && g.username().is_empty()
        && g.password().is_none()
        && r.scheme() == g.scheme()
        && r.host() == g.host()
        && (r.port_or_known_default() == g.port_or_known_default() || loopback)
        && r.path() == g.path()
        && r.query() == g.query()
}

#[cfg(test)]
mod tests {
    use super::redirect_matches;

    #[test]
    fn redirect_uris_compare_as_urls() {
        let app = "https://app.example/cb";
        assert!(redirect_matches(app, "https://app.example/cb"));
        assert!(redirect_matches(app, "https://APP.example:443/cb"));
        for bad in [
            "https://app.example/cb/../evil",
            "https://app.example/cbx",
            "https://app.example/cb?x=1",
            "https://app.example.evil/cb",
            "https://app.example:8443/cb",
            "https://user@app.example/cb",
            "https://app.example/cb#frag",
            "http://app.example/cb",
            "https://app.example/CB",
            "not a url",
        ] {
            assert!(!redirect_matches(app, bad), "{bad}");
        }
        let native = "http://127.0.0.1/cb";
        assert!(redirect_matches(native, "http://127.0.0.1:53123/cb"));
        assert!(!redirect_matches(native, "http://127.0.0.2/cb"));
        assert!(!redirect_matches(
            native,
            "http://127.0.0.1.evil.example/cb"
        ));
    }
}
