//! Key material: the RS256 key pair that signs JWTs (published as JWKS) and the HMAC keys that sign
//! transfer URLs. Both are generated into `<data-dir>/keys` on first start unless configured.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{RsaKeyPair, RsaPublicKeyComponents};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use strata_lfs::signing::UrlSigner;

use super::scope::{ScopeError, Scopes};

/// A new 2048-bit RSA key as PKCS#8 PEM. Generated with the `rsa` crate (ring cannot generate
/// RSA keys): once, on this machine, where its timing is no one's to observe; every signature
/// with it is ring's ([`super::jwt_crypto`]).
pub fn generate_pem() -> Result<String, KeyError> {
    use rsa::pkcs8::EncodePrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    Ok(to_pem("PRIVATE KEY", der.as_bytes()))
}

/// `der` as a PEM block labelled `label`.
fn to_pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// The label and the decoded bytes of the first PEM block in `pem`.
fn pem_body(pem: &str) -> Option<(String, Vec<u8>)> {
    let start = pem.find("-----BEGIN ")?;
    let rest = &pem[start + 11..];
    let (label, rest) = rest.split_once("-----")?;
    let end = rest.find(&format!("-----END {label}-----"))?;
    let b64: String = rest[..end].split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some((label.to_owned(), der))
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} is not an RSA private key in PEM (PKCS#8 or PKCS#1): {reason}")]
    BadPem { path: PathBuf, reason: String },
    #[error("RSA key generation failed: {0}")]
    Generate(String),
    #[error(
        "invalid URL signing key {0}: expected kid=hexsecret with at least 16 bytes of secret"
    )]
    BadUrlKey(String),
    #[error("JWT key: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

/// The claims of a strata access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    /// Space-separated scopes (see [`super::scope`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// giftless's claim name for the same: a string or a list.
    #[serde(default, skip_serializing)]
    pub scopes: Option<serde_json::Value>,
    /// OAuth access tokens: the user on whose behalf the client acts (their rights, narrowed by
    /// the scopes), the client, and the grant family (revoking it revokes the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<String>,
}

impl Claims {
    /// All scopes the token carries, under either claim name.
    pub fn all_scopes(&self) -> Result<Scopes, ScopeError> {
        let mut text = self.scope.clone();
        match &self.scopes {
            Some(serde_json::Value::String(s)) => text.push_str(&format!(" {s}")),
            Some(serde_json::Value::Array(list)) => {
                for item in list.iter().filter_map(|v| v.as_str()) {
                    text.push_str(&format!(" {item}"));
                }
            }
            _ => {}
        }
        Scopes::parse(&text)
    }
}

/// Signs and checks RS256 JWTs.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    jwks: serde_json::Value,
    issuer: String,
    audience: String,
    /// sha256 of the private key: the seed of [`JwtKeys::derive`].
    seed: [u8; 32],
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Loads the key at `path`, generating a 2048-bit key there first if the file does not exist.
    pub fn load_or_generate(
        path: &Path,
        issuer: String,
        audience: String,
    ) -> Result<JwtKeys, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let pem = match std::fs::read_to_string(path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pem = generate_pem()?;
                write_secret(path, pem.as_bytes()).map_err(io)?;
                tracing::info!(path = %path.display(), "generated a new RS256 signing key");
                pem
            }
            Err(e) => return Err(io(e)),
        };
        JwtKeys::from_pem(&pem, issuer, audience).map_err(|e| match e {
            KeyError::BadPem { reason, .. } => KeyError::BadPem {
                path: path.to_owned(),
                reason,
            },
            e => e,
        })
    }

    /// Keys from an RSA private key in PEM (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str, issuer: String, audience: String) -> Result<JwtKeys, KeyError> {
        // Before any token is signed or checked (see there).
        super::jwt_crypto::install();
        let bad = |reason: String| KeyError::BadPem {
            path: PathBuf::new(),
            reason,
        };
        let (label, der) = pem_body(pem).ok_or_else(|| bad("no PEM block".into()))?;
        let key = match label.as_str() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
            other => return Err(bad(format!("a {other} block"))),
        }
        .map_err(|e| bad(e.to_string()))?;
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(key.public());
        let n = URL_SAFE_NO_PAD.encode(&public.n);
        let e = URL_SAFE_NO_PAD.encode(&public.e);
        // RFC 7638 thumbprint: sha256 of the required members in lexicographic order.
        let thumbprint = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint.as_bytes()));
        let jwks = serde_json::json!({
            "keys": [{ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e }]
        });
        Ok(JwtKeys {
            seed: Sha256::digest(&der).into(),
            encoding: EncodingKey::from_rsa_pem(pem.as_bytes())?,
            decoding: DecodingKey::from_rsa_components(&n, &e)?,
            kid,
            jwks,
            issuer,
            audience,
        })
    }

    /// A secret for `purpose`, derived from the private key (HMAC-SHA256 of the purpose under the
    /// key's sha256): the same on every replica that shares the key, and on no other server.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&self.seed).expect("any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The public keys as a JWK Set.
    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Issues a token for `sub` with `scopes`, valid for `ttl_secs` from now.
    pub fn issue(&self, sub: &str, scopes: &Scopes, ttl_secs: i64) -> Result<String, KeyError> {
        self.sign(&self.claims(sub, &scopes.to_string(), ttl_secs))
    }

    /// The claims of a new access token (to be completed, then [`JwtKeys::sign`]ed).
    pub fn claims(&self, sub: &str, scope: &str, ttl_secs: i64) -> Claims {
        let now = crate::db::now();
        Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: sub.to_owned(),
            exp: now + ttl_secs,
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            scope: scope.to_owned(),
            scopes: None,
            uid: None,
            client_id: None,
            fam: None,
        }
    }

    /// Signs any claims (access tokens, OpenID Connect id tokens) with the RS256 key.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String, KeyError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }

    /// Checks signature (RS256 only: `none` and HMAC are refused), expiry, not-before, issuer and
    /// audience.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        self.verify_for(token, &self.audience)
    }

    /// The audience of the tokens strata mints for `purpose` (a Xet CAS token: `xet`): tokens
    /// no other route accepts, since [`JwtKeys::verify`] wants the server's own audience.
    pub fn audience_for(&self, purpose: &str) -> String {
        format!("{}#{purpose}", self.audience)
    }

    /// [`JwtKeys::verify`] for a token minted for another audience ([`JwtKeys::audience_for`]).
    pub fn verify_for(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = 30;
        Ok(jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)?.claims)
    }
}

/// Builds the transfer URL signer from `kid=hex` specs, or from a secret generated at `path`.
pub fn url_signer(specs: &[crate::config::Secret], path: &Path) -> Result<UrlSigner, KeyError> {
    let mut keys = Vec::new();
    for (n, spec) in specs.iter().filter(|s| !s.trim().is_empty()).enumerate() {
        // The message names the key by its place and id, never with its secret.
        let bad = |kid: &str| KeyError::BadUrlKey(format!("#{} (key id {kid:?})", n + 1));
        let (kid, secret) = spec.trim().split_once('=').ok_or_else(|| bad(""))?;
        let secret = hex::decode(secret).map_err(|_| bad(kid))?;
        if kid.is_empty()
            || secret.len() < 16
            || !kid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad(kid));
        }
        keys.push((kid.to_owned(), secret));
    }
    if keys.is_empty() {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let secret = match std::fs::read_to_string(path) {
            Ok(text) => hex::decode(text.trim())
                .map_err(|_| KeyError::BadUrlKey(path.display().to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret: [u8; 32] = rand::random();
                write_secret(path, hex::encode(secret).as_bytes()).map_err(io)?;
                secret.to_vec()
            }
            Err(e) => return Err(io(e)),
        };
        let kid = hex::encode(&Sha256::digest(&secret)[..4]);
        keys.push((kid, secret));
    }
    Ok(UrlSigner::new(keys))
}

/// Writes a secret file readable by its owner only, atomically.
pub(crate) fn write_secret(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RS256 through jsonwebtoken on ring: a token verifies under the key that signed it (and
    /// under its published JWKS modulus and exponent), a changed one or another key's does not,
    /// and an algorithm other than RS256 is refused.
    #[test]
    fn rs256_tokens_sign_and_verify() {
        let keys = |pem: &str| JwtKeys::from_pem(pem, "iss".into(), "aud".into()).unwrap();
        let pem = generate_pem().unwrap();
        let a = keys(&pem);
        let token = a
            .issue("alice", &Scopes::parse("obj:*:read").unwrap(), 60)
            .unwrap();
        assert_eq!(a.verify(&token).unwrap().sub, "alice");
        // The same key from its PKCS#1 form: the same kid, and it accepts the token.
        let pkcs1 = {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::pkcs8::DecodePrivateKey;
            let key = rsa::RsaPrivateKey::from_pkcs8_der(&pem_body(&pem).unwrap().1).unwrap();
            to_pem("RSA PRIVATE KEY", key.to_pkcs1_der().unwrap().as_bytes())
        };
        let a1 = keys(&pkcs1);
        assert_eq!(a1.kid, a.kid);
        assert_eq!(a1.verify(&token).unwrap().sub, "alice");
        // Checked as a relying party does: with the JWKS's n and e.
        let jwk = &a.jwks()["keys"][0];
        let decoding = DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&["aud"]);
        let header = jsonwebtoken::decode::<Claims>(&token, &decoding, &v)
            .unwrap()
            .header;
        assert_eq!(header.kid.as_deref(), Some(a.kid.as_str()));
        // A changed payload, a changed signature, another key.
        let (head, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged = format!(
            "{head}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(br#"{"iss":"iss","aud":"aud","sub":"mallory","exp":9999999999,"nbf":0,"iat":0,"jti":"j"}"#)
        );
        assert!(a.verify(&forged).is_err());
        let (signed, _) = token.rsplit_once('.').unwrap();
        let other = if sig.starts_with('A') { 'B' } else { 'A' };
        let bad_sig = format!("{signed}.{other}{}", &sig[1..]);
        assert!(a.verify(&bad_sig).is_err());
        let b = keys(&generate_pem().unwrap());
        assert!(b.verify(&token).is_err());
        // Only RS256 is provided.
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "x"}),
            &EncodingKey::from_secret(b"secret"),
        );
        assert!(hs.is_err());
    }

    /// A bad `--url-signing-keys` entry is named by its place and key id, never with its secret.
    #[test]
    fn bad_url_keys_are_named_without_their_secret() {
        let dir = std::env::temp_dir();
        for spec in [
            "k1=abcdef",
            "k1=not-hex-secret-value",
            "bad kid=00112233445566778899aabbccddeeff",
        ] {
            let Err(err) = url_signer(
                &["k0=00112233445566778899aabbccddeeff".into(), spec.into()],
                &dir,
            ) else {
                panic!("{spec} was accepted");
            };
            let message = err.to_string();
            assert!(message.contains("#2"), "{message}");
            let secret = spec.split_once('=').unwrap().1;
            assert!(!message.contains(secret), "{message}");
        }
    }
}
