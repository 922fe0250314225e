//! A scriptable identity provider for the hostile cases of external sign-in: OpenID Connect
//! discovery, a JWKS, and a token endpoint that answers with whatever id token the test signed
//! (forged, expired, for another audience…), plus GitHub's OAuth and user API. A real provider
//! (another strata) is used for the happy path in Chromium; this one exists because no real
//! provider misbehaves on demand.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use strata_core::auth::keys::JwtKeys;

pub const CLIENT_ID: &str = "strata-rp";
pub const CLIENT_SECRET: &str = "rp secret value";

pub struct IdpState {
    /// Keys in the JWKS.
    pub published: Vec<Arc<JwtKeys>>,
    /// What the token endpoint answers next (taken once).
    pub answer: Option<Value>,
    /// Forms the token endpoint received.
    pub token_forms: Vec<Vec<(String, String)>>,
    /// GitHub: `/user`, `/user/teams`, `/user/orgs`, `/user/emails`.
    pub github: Value,
}

pub struct Idp {
    pub url: String,
    pub state: Arc<Mutex<IdpState>>,
}

pub fn keys(issuer: &str) -> Arc<JwtKeys> {
    let pem = strata_core::auth::keys::generate_pem().unwrap();
    Arc::new(JwtKeys::from_pem(&pem, issuer.into(), CLIENT_ID.into()).unwrap())
}

type Shared = (String, Arc<Mutex<IdpState>>);

async fn discovery(State((url, _)): State<Shared>) -> Json<Value> {
    Json(json!({
        "issuer": url,
        "authorization_endpoint": format!("{url}/authorize"),
        "token_endpoint": format!("{url}/token"),
        "userinfo_endpoint": format!("{url}/userinfo"),
        "jwks_uri": format!("{url}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn jwks(State((_, s)): State<Shared>) -> Json<Value> {
    let s = s.lock().unwrap();
    let keys: Vec<Value> = s
        .published
        .iter()
        .flat_map(|k| k.jwks()["keys"].as_array().unwrap().clone())
        .collect();
    Json(json!({ "keys": keys }))
}

async fn token(State((_, s)): State<Shared>, body: String) -> Json<Value> {
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
    let mut s = s.lock().unwrap();
    s.token_forms.push(form);
    Json(s.answer.take().unwrap_or_else(
        || json!({"error": "invalid_grant", "error_description": "no answer planned"}),
    ))
}

async fn github(
    State((_, s)): State<Shared>,
    axum::extract::Path(what): axum::extract::Path<String>,
) -> Json<Value> {
    Json(s.lock().unwrap().github[what].clone())
}

impl Idp {
    pub async fn start() -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(IdpState {
            published: vec![keys(&url)],
            answer: None,
            token_forms: Vec::new(),
            github: Value::Null,
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/api/user", get(github_user))
            .route("/api/user/{what}", get(github))
            .with_state((url.clone(), state.clone()));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Idp { url, state }
    }

    /// Signs `claims` with the first published key.
    pub fn sign(&self, claims: &Value) -> String {
        let key = self.state.lock().unwrap().published[0].clone();
        key.sign(claims).unwrap()
    }

    /// The token endpoint's next answer carries `id_token`.
    pub fn answer_with(&self, id_token: &str) {
        self.state.lock().unwrap().answer = Some(json!({
            "access_token": "idp-access-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }));
    }
}

async fn github_user(State((_, s)): State<Shared>) -> Json<Value> {
    Json(s.lock().unwrap().github["user"].clone())
}
