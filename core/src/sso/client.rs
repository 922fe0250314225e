//! The protocol side of a sign-in. `begin` makes the authorization URL (code flow, PKCE S256, a
//! random `state` and, for OpenID Connect, a random `nonce`); `finish` swaps the code for tokens
//! and says who signed in.
//!
//! OpenID Connect goes through `openidconnect`: discovery, then the id token's signature (the
//! provider's JWKS), issuer, audience, expiry and nonce. Discovery is cached for an hour and
//! fetched again at once when a signature fails to verify, so a provider's key rotation costs one
//! refetch. GitHub has no id token: the code is swapped through `oauth2` and the user comes from
//! the user API (`/user`, `/user/emails`, and `/user/teams` + `/user/orgs` as groups).
//! Requests to providers follow no redirects, time out, and read at most 1 MiB.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, StandardErrorResponse,
    StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

use super::{Kind, Provider};
use crate::error::{Error, Kind as ErrorKind, Result};

const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
const MAX_ANSWER: usize = 1 << 20;

/// The id token's claims beyond the standard ones (groups, and whatever rules name).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Extra {
    #[serde(flatten)]
    claims: serde_json::Map<String, serde_json::Value>,
}
impl AdditionalClaims for Extra {}

type Tokens = StandardTokenResponse<
    IdTokenFields<
        Extra,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

type OidcClient = openidconnect::Client<
    Extra,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Who signed in, as the provider says (after every check).
#[derive(Debug, Clone, Default)]
pub struct Claims {
    /// The provider's issuer key (`Provider::issuer_key`) and its stable subject.
    pub issuer: String,
    pub subject: String,
    /// The provider's username for the user (the username claim, or GitHub's login).
    pub login: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub groups: Vec<String>,
    /// Other claims of the id token, for `claim` rules.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// An authorization request, and what its callback needs to finish it.
pub struct Begun {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Request(#[from] reqwest::Error),
    #[error("the answer is larger than {MAX_ANSWER} bytes")]
    TooLarge,
}

/// The HTTP client and discovery cache shared by every provider.
pub struct Client {
    http: reqwest::Client,
    discovered: Mutex<HashMap<String, (Instant, Arc<CoreProviderMetadata>)>>,
}

fn upstream(what: &str, e: impl std::fmt::Display) -> Error {
    tracing::warn!("identity provider: {what}: {e}");
    Error::new(ErrorKind::Upstream, format!("{what}: {e}"))
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    pub fn new() -> Client {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent("strata")
            .build()
            .expect("an HTTP client");
        Client {
            http,
            discovered: Mutex::new(HashMap::new()),
        }
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let mut answer = self
            .http
            .execute(reqwest::Request::try_from(request)?)
            .await?;
        let status = answer.status();
        let headers = answer.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = answer.chunk().await? {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let mut response = HttpResponse::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }

    async fn metadata(&self, issuer: &str, fresh: bool) -> Result<Arc<CoreProviderMetadata>> {
        if !fresh {
            let cache = self.discovered.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, meta)) = cache.get(issuer) {
                if at.elapsed() < DISCOVERY_TTL {
                    return Ok(meta.clone());
                }
            }
        }
        let url = IssuerUrl::new(issuer.to_owned()).map_err(|e| upstream("issuer", e))?;
        let meta = CoreProviderMetadata::discover_async(url, self)
            .await
            .map_err(|e| upstream("discovery failed", e))?;
        let meta = Arc::new(meta);
        self.discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(issuer.to_owned(), (Instant::now(), meta.clone()));
        Ok(meta)
    }

    async fn oidc(&self, p: &Provider, redirect: &str, fresh: bool) -> Result<OidcClient> {
        let meta = self
            .metadata(p.issuer.as_deref().unwrap_or(""), fresh)
            .await?;
        let redirect = RedirectUrl::new(redirect.to_owned()).map_err(Error::internal)?;
        Ok(OidcClient::from_provider_metadata(
            (*meta).clone(),
            ClientId::new(p.client_id.clone()),
            p.client_secret.clone(),
        )
        .set_redirect_uri(redirect))
    }

    fn github(&self, p: &Provider, redirect: &str) -> Result<GithubClient> {
        let auth = p
            .authorize_url
            .as_deref()
            .unwrap_or("https://github.com/login/oauth/authorize");
        let token = p
            .token_url
            .as_deref()
            .unwrap_or("https://github.com/login/oauth/access_token");
        let mut client = oauth2::basic::BasicClient::new(ClientId::new(p.client_id.clone()))
            .set_auth_uri(oauth2::AuthUrl::new(auth.to_owned()).map_err(Error::internal)?)
            .set_token_uri(oauth2::TokenUrl::new(token.to_owned()).map_err(Error::internal)?)
            .set_redirect_uri(RedirectUrl::new(redirect.to_owned()).map_err(Error::internal)?);
        if let Some(secret) = &p.client_secret {
            client = client.set_client_secret(secret.clone());
        }
        Ok(client)
    }

    /// The authorization request for `p`, coming back to `redirect`.
    pub async fn begin(&self, p: &Provider, redirect: &str) -> Result<Begun> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = match p.kind {
            Kind::Oidc => {
                let scopes = if p.scopes.is_empty() {
                    vec!["profile".to_owned(), "email".to_owned()]
                } else {
                    p.scopes.clone()
                };
                let (url, state, nonce) = self
                    .oidc(p, redirect, false)
                    .await?
                    .authorize_url(
                        AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                        CsrfToken::new_random,
                        Nonce::new_random,
                    )
                    .add_scopes(scopes.into_iter().map(Scope::new))
                    .set_pkce_challenge(challenge)
                    .url();
                (url, state, nonce.secret().clone())
            }
            Kind::Github => {
                let (url, state) = self
                    .github(p, redirect)?
                    .authorize_url(CsrfToken::new_random)
                    .add_scopes(github_scopes(p).into_iter().map(Scope::new))
                    .set_pkce_challenge(challenge)
                    .url();
                (url, state, String::new())
            }
        };
        Ok(Begun {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce,
            verifier: verifier.secret().clone(),
        })
    }

    /// Swaps `code` for tokens and checks them; who signed in.
    pub async fn finish(
        &self,
        p: &Provider,
        redirect: &str,
        code: &str,
        nonce: &str,
        verifier: &str,
    ) -> Result<Claims> {
        let code = AuthorizationCode::new(code.to_owned());
        let verifier = PkceCodeVerifier::new(verifier.to_owned());
        match p.kind {
            Kind::Oidc => {
                let client = self.oidc(p, redirect, false).await?;
                let tokens = client
                    .exchange_code(code)
                    .map_err(|e| upstream("the provider has no token endpoint", e))?
                    .set_pkce_verifier(verifier)
                    .request_async(self)
                    .await
                    .map_err(token_error)?;
                let id_token = tokens
                    .id_token()
                    .ok_or_else(|| upstream("token answer", "it has no id_token"))?;
                let nonce = Nonce::new(nonce.to_owned());
                let claims = match id_token.claims(&id_verifier(&client), &nonce) {
                    Ok(c) => c.clone(),
                    // An unknown or changed key: the provider may have rotated its keys.
                    Err(ClaimsVerificationError::SignatureVerification(_)) => {
                        let client = self.oidc(p, redirect, true).await?;
                        let verifier = id_verifier(&client);
                        let claims = id_token.claims(&verifier, &nonce).map_err(refused)?;
                        claims.clone()
                    }
                    Err(e) => return Err(refused(e)),
                };
                Ok(oidc_claims(p, claims))
            }
            Kind::Github => {
                let tokens = self
                    .github(p, redirect)?
                    .exchange_code(code)
                    .set_pkce_verifier(verifier)
                    .request_async(self)
                    .await
                    .map_err(token_error)?;
                self.github_user(p, tokens.access_token().secret()).await
            }
        }
    }

    async fn github_get<T: serde::de::DeserializeOwned>(
        &self,
        p: &Provider,
        path: &str,
        token: &str,
    ) -> Result<T> {
        let what = format!("GitHub {path}");
        let mut request = openidconnect::http::Request::new(Vec::new());
        *request.uri_mut() = format!("{}{path}", p.github_api())
            .parse()
            .map_err(|e| upstream(&what, e))?;
        let headers = request.headers_mut();
        let auth = format!("Bearer {token}");
        headers.insert(
            "authorization",
            auth.parse().map_err(|e| upstream(&what, e))?,
        );
        headers.insert(
            "accept",
            openidconnect::http::HeaderValue::from_static("application/vnd.github+json"),
        );
        let answer = self.send(request).await.map_err(|e| upstream(&what, e))?;
        if !answer.status().is_success() {
            return Err(upstream(&what, answer.status()));
        }
        serde_json::from_slice(answer.body()).map_err(|e| upstream(&what, e))
    }

    /// Every page of a GitHub list (100 a page, at most 10 pages).
    async fn github_list<T: serde::de::DeserializeOwned>(
        &self,
        p: &Provider,
        path: &str,
        token: &str,
    ) -> Result<Vec<T>> {
        let mut all = Vec::new();
        for page in 1..=10 {
            let items: Vec<T> = self
                .github_get(p, &format!("{path}?per_page=100&page={page}"), token)
                .await?;
            let last = items.len() < 100;
            all.extend(items);
            if last {
                break;
            }
        }
        Ok(all)
    }

    async fn github_user(&self, p: &Provider, token: &str) -> Result<Claims> {
        #[derive(Deserialize)]
        struct User {
            id: i64,
            login: String,
        }
        #[derive(Deserialize)]
        struct Email {
            email: String,
            primary: bool,
            verified: bool,
        }
        #[derive(Deserialize)]
        struct Org {
            login: String,
        }
        #[derive(Deserialize)]
        struct Team {
            slug: String,
            organization: Org,
        }
        let user: User = self.github_get(p, "/user", token).await?;
        let scopes = github_scopes(p);
        let mut claims = Claims {
            issuer: p.issuer_key(),
            subject: user.id.to_string(),
            login: user.login,
            ..Claims::default()
        };
        if scopes.iter().any(|s| s == "user:email" || s == "user") {
            let emails: Vec<Email> = self.github_get(p, "/user/emails", token).await?;
            if let Some(e) = emails.into_iter().find(|e| e.primary && e.verified) {
                claims.email = Some(e.email);
                claims.email_verified = true;
            }
        }
        if scopes.iter().any(|s| s == "read:org") {
            let teams: Vec<Team> = self.github_list(p, "/user/teams", token).await?;
            let orgs: Vec<Org> = self.github_list(p, "/user/orgs", token).await?;
            claims.groups = orgs.into_iter().map(|o| o.login).collect();
            claims.groups.extend(
                teams
                    .into_iter()
                    .map(|t| format!("{}/{}", t.organization.login, t.slug)),
            );
        }
        Ok(claims)
    }
}

/// What `openidconnect` and `oauth2` send their requests through.
impl<'c> openidconnect::AsyncHttpClient<'c> for Client {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

type GithubClient = oauth2::basic::BasicClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The id token verifier: the provider's keys, and only asymmetric signatures (an HMAC keyed
/// with the client secret would let anyone holding the secret mint id tokens).
fn id_verifier(client: &OidcClient) -> openidconnect::IdTokenVerifier<'_, CoreJsonWebKey> {
    use CoreJwsSigningAlgorithm as A;
    client.id_token_verifier().set_allowed_algs([
        A::RsaSsaPkcs1V15Sha256,
        A::RsaSsaPkcs1V15Sha384,
        A::RsaSsaPkcs1V15Sha512,
        A::RsaSsaPssSha256,
        A::RsaSsaPssSha384,
        A::RsaSsaPssSha512,
        A::EcdsaP256Sha256,
        A::EcdsaP384Sha384,
        A::EdDsa,
    ])
}

fn github_scopes(p: &Provider) -> Vec<String> {
    if !p.scopes.is_empty() {
        return p.scopes.clone();
    }
    let mut scopes = vec!["read:user".to_owned(), "user:email".to_owned()];
    if p.rules.iter().any(|r| r.group.is_some()) {
        scopes.push("read:org".into());
    }
    scopes
}

fn refused(e: ClaimsVerificationError) -> Error {
    tracing::warn!("identity provider: id token refused: {e}");
    Error::unauthorized(format!("the identity provider's id token was refused: {e}"))
}

fn token_error<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    e: RequestTokenError<RE, T>,
) -> Error {
    match e {
        RequestTokenError::ServerResponse(r) => {
            tracing::warn!("identity provider refused the code: {r}");
            Error::unauthorized(format!("the identity provider refused the code: {r}"))
        }
        other => upstream("token request failed", other),
    }
}

type IdClaims = openidconnect::IdTokenClaims<Extra, CoreGenderClaim>;

fn oidc_claims(p: &Provider, c: IdClaims) -> Claims {
    let extra = c.additional_claims().claims.clone();
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_owned);
    let verified = c.email_verified().unwrap_or(false);
    // The username is the configured claim only (an address only once verified): `user` rules
    // match it, so it must not fall back to something the user can choose.
    let login = match p.username_claim.as_str() {
        "preferred_username" => c.preferred_username().map(|u| u.to_string()),
        "email" => c.email().filter(|_| verified).map(|e| e.to_string()),
        "nickname" => c
            .nickname()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string()),
        "name" => c.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
        "sub" => Some(c.subject().to_string()),
        other => text(extra.get(other)),
    };
    let email = c.email().map(|e| e.to_string());
    let groups = match extra.get(&p.groups_claim) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    Claims {
        issuer: p.issuer_key(),
        subject: c.subject().to_string(),
        login: login.unwrap_or_default(),
        email_verified: verified,
        email,
        groups,
        extra,
    }
}
