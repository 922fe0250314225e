//! A mirror in the browser: the section of a dataset's settings that sets it up to follow a
//! remote (`POST /datasets/{ns}/{name}/settings/mirror`: its hook secret shown once), syncs it
//! now and stops it; and the banner on a mirror's pages (its remote, how its syncs go).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use strata_core::auth::Action;
use strata_core::datasets::gate;
use strata_core::mirrors::{self, Input, Mirror};

use super::dataset_settings::{admin_of, settings_page, Shown};
use super::show::when;
use crate::http::csrf::CsrfForm;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

/// What a mirror's pages say of it.
pub(super) struct Banner {
    pub url: String,
    /// `in step`, `not synced yet`, `failing`, `paused`; with `syncing now` while one runs.
    pub state: String,
    /// When it last caught up (empty: never).
    pub synced: String,
    /// Since when it may lack what the remote has.
    pub behind: String,
    pub error: Option<String>,
    pub interval: i64,
}

pub(super) fn banner(m: &Mirror) -> Banner {
    let mut state = match (m.paused, m.state.as_str()) {
        (true, _) => "paused".to_owned(),
        (_, "ok") => "in step".to_owned(),
        (_, "failed") => "failing".to_owned(),
        _ => "not synced yet".to_owned(),
    };
    if m.syncing {
        state.push_str(", syncing now");
    }
    Banner {
        url: m.url.clone(),
        state,
        synced: m.last_success_at.map(when).unwrap_or_default(),
        behind: m.behind_since.map(when).unwrap_or_default(),
        error: m.last_error.clone().filter(|_| m.state == "failed"),
        interval: m.interval_secs,
    }
}

#[derive(Deserialize)]
pub struct MirrorForm {
    /// `set`, `sync` or `stop`.
    change: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    interval: String,
}

/// `POST /datasets/{ns}/{name}/settings/mirror`: one change, then the settings again.
pub async fn change(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm { signed_in, form }: CsrfForm<MirrorForm>,
) -> ApiResult<Response> {
    let (s, who, repo) = match admin_of(&state, signed_in.session, &ns, &name).await {
        Ok(parts) => parts,
        Err(e) => return Ok(e.into_response()),
    };
    let at = (ns.as_str(), name.as_str());
    let done = match form.change.as_str() {
        "set" => match form.interval.trim() {
            "" => Ok(None),
            n => n.parse::<u64>().map(Some).map_err(|_| {
                strata_core::error::Error::unprocessable("sync every: a number of seconds")
            }),
        }
        .map(|interval_secs| Input {
            url: form.url.trim().to_owned(),
            token: Some(form.token.trim().to_owned()).filter(|t| !t.is_empty()),
            interval_secs,
            ..Input::default()
        }),
        "sync" | "stop" => Ok(Input::default()),
        other => Err(strata_core::error::Error::unprocessable(format!(
            "unknown change {other:?}"
        ))),
    };
    let done = match (form.change.as_str(), done) {
        (_, Err(e)) => Err(e),
        ("set", Ok(input)) => mirrors::put(&state, &who, at, input).await.map(|(_, s)| s),
        ("sync", _) => mirrors::sync_now(&state, &who, at).await.map(|_| None),
        (_, _) => mirrors::delete(&state, &who, at).await.map(|()| None),
    };
    let shown = |error, hook_secret| Shown {
        error,
        new_link: None,
        prefill: String::new(),
        hook_secret,
        feed_token: None,
    };
    match done.map_err(ApiError::from) {
        Ok(Some(secret)) => {
            // A mirror now: read again for the page, which shows it.
            let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
            settings_page(
                &state,
                &s,
                &repo,
                StatusCode::CREATED,
                shown(None, Some(secret)),
            )
            .await
        }
        Ok(None) => Ok(super::forms::see_other(
            &format!("/datasets/{}/settings#mirror", repo.path()),
            &[],
        )),
        Err(e) if e.status.is_client_error() => {
            settings_page(&state, &s, &repo, e.status, shown(Some(&e.message), None)).await
        }
        Err(e) => Err(e),
    }
}
