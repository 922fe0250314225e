//! The Hub's account-level calls, for `huggingface_hub` with `HF_ENDPOINT` pointed at strata:
//! `create_repo` (`POST /api/repos/create`), `move_repo` (`POST /api/repos/move`: a rename in
//! the dataset's namespace), `whoami` (`GET /api/whoami-v2`), and the card check `upload_folder`
//! asks for before it uploads a `README.md` (`POST /api/validate-yaml`).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::error::{ApiError, ApiResult};
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::compat::hf;
use strata_core::datasets::{self, gate, NewDataset};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/repos/create", post(create_repo))
        .route("/api/repos/move", post(move_repo))
        .route("/api/whoami-v2", get(whoami))
        .route("/api/validate-yaml", post(validate_yaml))
}

#[derive(Deserialize)]
struct CreateRepo {
    /// `dataset` (strata holds datasets only).
    #[serde(default, rename = "type")]
    kind: Option<String>,
    name: String,
    /// The namespace (else the caller's own).
    #[serde(default)]
    organization: Option<String>,
    #[serde(default)]
    private: Option<bool>,
}

/// `create_repo(repo_type="dataset")`: a new dataset (409 when it exists, which
/// `exist_ok=True` accepts).
async fn create_repo(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let req: CreateRepo = read_json(&headers, body, state.settings.max_json_body).await?;
    if req.kind.as_deref() != Some("dataset") {
        return Err(ApiError::unprocessable(
            "strata holds datasets: create it with repo_type=\"dataset\"",
        ));
    }
    let user = match &who {
        Principal::User { user, .. } => user.username.clone(),
        _ => return Err(ApiError::unauthorized("creating a dataset needs a token")),
    };
    let namespace = req.organization.unwrap_or(user);
    let visibility = if req.private.unwrap_or(true) {
        strata_core::db::Visibility::Private
    } else {
        strata_core::db::Visibility::Public
    };
    let new = NewDataset {
        namespace: namespace.clone(),
        name: req.name.clone(),
        visibility,
        datapackage: None,
        message: None,
    };
    let url = format!(
        "{}/datasets/{namespace}/{}",
        state.settings.public_url, req.name
    );
    match datasets::create_as(&state, &who, new).await {
        Ok(_) => {}
        // The Hub names the dataset in its 409, and `exist_ok=True` reads it.
        Err(e) if e.kind == strata_core::error::Kind::Conflict => {
            return Err(e.with_extra(json!({"url": url})).into())
        }
        Err(e) => return Err(e.into()),
    }
    Ok((
        StatusCode::OK,
        Json(json!({"url": url, "name": format!("{namespace}/{}", req.name)})),
    )
        .into_response())
}

#[derive(Deserialize)]
struct MoveRepo {
    #[serde(rename = "fromRepo")]
    from: String,
    #[serde(rename = "toRepo")]
    to: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// `move_repo(from_id, to_id, repo_type="dataset")`: a rename in the dataset's namespace (the
/// old id leads to the new one); a move to another namespace is refused.
async fn move_repo(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let req: MoveRepo = read_json(&headers, body, state.settings.max_json_body).await?;
    if req.kind.as_deref() != Some("dataset") {
        return Err(ApiError::unprocessable(
            "strata holds datasets: move it with repo_type=\"dataset\"",
        ));
    }
    let split = |id: &str| {
        id.split_once('/')
            .map(|(n, m)| (n.to_owned(), m.to_owned()))
    };
    let (Some((ns, name)), Some((to_ns, to_name))) = (split(&req.from), split(&req.to)) else {
        return Err(ApiError::unprocessable(
            "fromRepo and toRepo are namespace/name",
        ));
    };
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    if !to_ns.eq_ignore_ascii_case(&repo.namespace) {
        return Err(ApiError::unprocessable(format!(
            "a dataset is renamed in its namespace, {}: moving it to another is not supported",
            repo.namespace
        )));
    }
    datasets::rename::rename(&state, &who, &repo, &to_name).await?;
    Ok(StatusCode::OK)
}

/// `whoami`: the token's account.
async fn whoami(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Value>> {
    Ok(Json(hf::whoami(&state, &who).await?))
}

#[derive(Deserialize)]
struct YamlBody {
    #[allow(dead_code)]
    content: String,
}

/// The dataset card check `upload_folder` asks for before it uploads a `README.md`: strata keeps
/// a dataset's metadata in its datapackage and checks no card, so none has errors.
async fn validate_yaml(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let _: YamlBody = read_json(&headers, body, state.settings.max_json_body).await?;
    Ok(Json(json!({"errors": [], "warnings": []})))
}
