//! The Xet routes `huggingface_hub` and `hf_xet` call (strata as the self-hosted Xet CAS; the
//! domain is `strata_core::xet`):
//!
//! | route | what |
//! |---|---|
//! | `GET /api/datasets/{ns}/{name}/xet-read-token/{rev}`, `…/xet-write-token/{rev}` | the CAS URL and an access token, in the body and the `X-Xet-*` headers |
//! | `POST /api/datasets/{ns}/{name}/xet/v1/xorbs/{prefix}/{hash}` | a xorb, `{"was_inserted": bool}` |
//! | `POST /api/datasets/{ns}/{name}/xet/v1/shards` | a shard, `{"result": 1}` (0: nothing new) |
//! | `GET /api/datasets/{ns}/{name}/xet/v1/reconstructions/{hash}` | a file's reconstruction, `Range` honoured (416 past the end) |
//! | `GET /api/datasets/{ns}/{name}/xet/v1/chunks/{prefix}/{hash}` | the dedup query (writers): the xorb holding the chunk, as a shard; 404 when the dataset has none |
//! | `POST /api/datasets/{ns}/{name}/xet/v1/telemetry` | accepted and dropped |
//!
//! The xorb ranges a reconstruction names are `/_transfer/…/range` URLs (`super::super::lfs`).
//! What the Hub's API calls `v2` (shards, reconstructions) and upload grants answer 404, which
//! `hf_xet` takes to mean the `v1` routes.

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::xet;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/datasets/{ns}/{name}/xet-read-token/{rev}",
            get(read_token),
        )
        .route(
            "/api/datasets/{ns}/{name}/xet-write-token/{rev}",
            get(write_token),
        )
        .route(
            "/api/datasets/{ns}/{name}/xet/v1/xorbs/{prefix}/{hash}",
            post(put_xorb),
        )
        .route("/api/datasets/{ns}/{name}/xet/v1/shards", post(put_shard))
        .route(
            "/api/datasets/{ns}/{name}/xet/v1/reconstructions/{hash}",
            get(reconstruction),
        )
        .route(
            "/api/datasets/{ns}/{name}/xet/v1/chunks/{prefix}/{hash}",
            get(dedup),
        )
        .route(
            "/api/datasets/{ns}/{name}/xet/v1/telemetry",
            post(telemetry),
        )
        .layer(axum::middleware::map_response(
            crate::http::error::json_refusals,
        ))
}

/// The caller of a CAS request: the token [`xet::token`] handed out for this dataset (or the
/// anonymous one), else any other strata credential, judged as anywhere else.
pub struct CasCaller(Principal);

impl FromRequestParts<AppState> for CasCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|v| v.trim().to_owned());
        if let Some(secret) = bearer {
            let params = RawPathParams::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::bad_request(e.body_text()))?;
            let param = |key: &str| {
                params
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or("", |(_, v)| v)
                    .to_owned()
            };
            let at = (param("ns"), param("name"));
            if let Some(who) = xet::caller(state, &secret, (&at.0, &at.1)).await? {
                return Ok(CasCaller(who));
            }
        }
        Ok(CasCaller(
            Principal::from_request_parts(parts, state).await?,
        ))
    }
}

async fn read_token(
    State(state): State<AppState>,
    Path((ns, name, rev)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Response> {
    token(&state, &who, (&ns, &name), &rev, false).await
}

async fn write_token(
    State(state): State<AppState>,
    Path((ns, name, rev)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Response> {
    token(&state, &who, (&ns, &name), &rev, true).await
}

/// The token, as JSON (what `hf_xet` reads) and as headers (what `huggingface_hub` reads).
async fn token(
    state: &AppState,
    who: &Principal,
    at: (&str, &str),
    rev: &str,
    write: bool,
) -> ApiResult<Response> {
    let token = xet::token(state, who, at, rev, write).await?;
    let mut response = Json(&token).into_response();
    let h = response.headers_mut();
    for (name, value) in [
        ("x-xet-cas-url", token.cas_url.clone()),
        ("x-xet-access-token", token.access_token.clone()),
        ("x-xet-token-expiration", token.exp.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn put_xorb(
    State(state): State<AppState>,
    Path((ns, name, _prefix, hash)): Path<(String, String, String, String)>,
    CasCaller(who): CasCaller,
    body: Body,
) -> ApiResult<Json<serde_json::Value>> {
    let body = body.into_data_stream();
    let inserted = xet::put_xorb(&state, &who, (&ns, &name), &hash, body).await?;
    Ok(Json(json!({ "was_inserted": inserted })))
}

async fn put_shard(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CasCaller(who): CasCaller,
    body: Body,
) -> ApiResult<Json<serde_json::Value>> {
    let new = xet::put_shard(&state, &who, (&ns, &name), body.into_data_stream()).await?;
    Ok(Json(json!({ "result": u8::from(new) })))
}

async fn reconstruction(
    State(state): State<AppState>,
    Path((ns, name, hash)): Path<(String, String, String)>,
    CasCaller(who): CasCaller,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let range = match headers.get(header::RANGE) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(parse_range)
                .ok_or_else(|| ApiError::bad_request("Range must be bytes=FIRST-[LAST]"))?,
        ),
    };
    match xet::reconstruction(&state, &who, (&ns, &name), &hash, range).await? {
        Some(r) => Ok(Json(r).into_response()),
        None => Err(ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "the range starts past the end of the file",
        )),
    }
}

/// `bytes=FIRST-[LAST]`, one range.
fn parse_range(v: &str) -> Option<(u64, Option<u64>)> {
    let (first, last) = v.strip_prefix("bytes=")?.split_once('-')?;
    let first = first.trim().parse().ok()?;
    let last = match last.trim() {
        "" => None,
        l => Some(l.parse().ok()?),
    };
    (last.is_none_or(|l| l >= first)).then_some((first, last))
}

async fn dedup(
    State(state): State<AppState>,
    Path((ns, name, _prefix, hash)): Path<(String, String, String, String)>,
    CasCaller(who): CasCaller,
) -> ApiResult<Response> {
    match xet::dedup(&state, &who, (&ns, &name), &hash).await? {
        Some(shard) => {
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], shard).into_response())
        }
        None => Err(ApiError::not_found(
            "no chunk of this dataset is known by that hash",
        )),
    }
}

async fn telemetry() -> StatusCode {
    StatusCode::OK
}
