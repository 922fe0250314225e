//! Region feeds in the browser: the section of a dataset's settings that lists its feeds, makes
//! one for a region (its URL and token shown once, on the page that follows) and deletes one
//! (`POST /datasets/{ns}/{name}/settings/feeds`, `strata_core::mirrors::feed`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use strata_core::mirrors::feed::{self, Feed, FeedInput};

use super::dataset_settings::{admin_of, settings_page, Shown};
use super::show::when;
use crate::http::csrf::CsrfForm;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

/// One feed as the section lists it.
pub(super) struct Line {
    pub id: i64,
    pub region: String,
    pub note: String,
    pub url: String,
    /// When it was last built, or that it never was; and why the last build failed.
    pub built: String,
    pub error: Option<String>,
}

impl From<Feed> for Line {
    fn from(f: Feed) -> Line {
        Line {
            id: f.id,
            region: f.region,
            note: f.note,
            url: f.url,
            built: f.built_at.map(when).unwrap_or_else(|| "not yet".into()),
            error: f.error,
        }
    }
}

/// The feeds of `repo`, for its settings page (its admins reach it).
pub(super) async fn lines(
    state: &AppState,
    repo: &strata_core::datasets::gate::Gated,
) -> strata_core::error::Result<Vec<Line>> {
    let who = repo.who().clone();
    let feeds = feed::list(state, &who, (&repo.namespace, &repo.name)).await?;
    Ok(feeds.into_iter().map(Line::from).collect())
}

#[derive(Deserialize)]
pub struct FeedForm {
    /// `make` or `delete`.
    change: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    id: Option<i64>,
}

/// `POST /datasets/{ns}/{name}/settings/feeds`: makes a feed (then the settings, with its token
/// shown once) or deletes one (then back to the settings).
pub async fn change(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm { signed_in, form }: CsrfForm<FeedForm>,
) -> ApiResult<Response> {
    let (s, who, repo) = match admin_of(&state, signed_in.session, &ns, &name).await {
        Ok(parts) => parts,
        Err(e) => return Ok(e.into_response()),
    };
    let at = (ns.as_str(), name.as_str());
    let done = match form.change.as_str() {
        "make" => {
            let input = FeedInput {
                region: form.region.trim().to_owned(),
                note: Some(form.note.trim().to_owned()).filter(|n| !n.is_empty()),
            };
            feed::create(&state, &who, at, input).await.map(Some)
        }
        "delete" => match form.id {
            Some(id) => feed::delete(&state, &who, at, id).await.map(|()| None),
            None => Err(strata_core::error::Error::unprocessable("which feed?")),
        },
        _ => Err(strata_core::error::Error::unprocessable(
            "change: make or delete",
        )),
    };
    let shown = |error, feed_token| Shown {
        error,
        new_link: None,
        prefill: String::new(),
        hook_secret: None,
        feed_token,
    };
    match done.map_err(ApiError::from) {
        Ok(Some((made, token))) => {
            let shown = shown(None, Some((made.url, token)));
            settings_page(&state, &s, &repo, StatusCode::CREATED, shown).await
        }
        Ok(None) => Ok(super::forms::see_other(
            &format!("/datasets/{}/settings#feeds", repo.path()),
            &[],
        )),
        Err(e) if e.status.is_client_error() => {
            settings_page(&state, &s, &repo, e.status, shown(Some(&e.message), None)).await
        }
        Err(e) => Err(e),
    }
}
