//! The body of the Hub's `paths-info` call as an extractor: the form `huggingface_hub` sends
//! (`paths` once per path, `expand`), or the same as JSON.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::Deserialize;
use serde_json::Value;

use crate::http::error::ApiError;
use crate::http::json::read_json;
use crate::http::state::AppState;

/// The paths asked about, and whether each is to name its last commit.
pub struct PathsAsked {
    pub paths: Vec<String>,
    pub expand: bool,
}

/// What `get_paths_info` asks, as JSON.
#[derive(Deserialize)]
struct PathsBody {
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    expand: Value,
}

fn yes(v: &str) -> bool {
    v.eq_ignore_ascii_case("true") || v == "1"
}

impl FromRequest<AppState> for PathsAsked {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.settings.max_json_body;
        let (parts, body) = req.into_parts();
        let json = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.trim_start().starts_with("application/json"));
        if json {
            let b: PathsBody = read_json(&parts.headers, body, limit).await?;
            let expand = b.expand == Value::Bool(true) || b.expand.as_str().is_some_and(yes);
            return Ok(PathsAsked {
                paths: b.paths,
                expand,
            });
        }
        let bytes = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| ApiError::too_large(format!("the form is larger than {limit} bytes")))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ApiError::bad_request(format!("a malformed form: {e}")))?;
        let paths = pairs
            .iter()
            .filter(|(k, _)| k == "paths" || k == "paths[]")
            .map(|(_, v)| v.clone())
            .collect();
        let expand = pairs.iter().any(|(k, v)| k == "expand" && yes(v));
        Ok(PathsAsked { paths, expand })
    }
}
