//! Import by reference in the browser: the section of a dataset's settings that lists the
//! import sources open to it and its latest imports, and starts one
//! (`POST /datasets/{ns}/{name}/settings/import`, `strata_core::imports`).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use strata_core::imports::{self, Import, Input};

use super::dataset_settings::{admin_of, settings_page, Shown};
use super::show::when;
use crate::http::csrf::CsrfForm;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

/// What the settings page shows of imports: `None` when no source is open to the dataset and
/// it has none.
pub(super) struct Section {
    pub sources: Vec<String>,
    pub recent: Vec<Line>,
}

pub(super) struct Line {
    pub what: String,
    pub state: String,
    pub objects: i64,
    pub error: Option<String>,
    /// The commit, and its short id.
    pub revision: Option<(String, String)>,
    pub when: String,
}

impl From<Import> for Line {
    fn from(i: Import) -> Line {
        Line {
            what: format!("{}:{} → /{}", i.source, i.prefix, i.path),
            state: i.state,
            objects: i.objects,
            error: i.error,
            revision: i.revision.map(|r| (r.clone(), r.chars().take(8).collect())),
            when: when(i.created_at),
        }
    }
}

/// The section for `repo`'s settings.
pub(super) async fn section(
    state: &AppState,
    repo: &strata_core::datasets::gate::Gated,
) -> strata_core::error::Result<Option<Section>> {
    let (recent, sources) = imports::of(state, repo, 5).await?;
    if recent.is_empty() && sources.is_empty() {
        return Ok(None);
    }
    Ok(Some(Section {
        sources,
        recent: recent.into_iter().map(Line::from).collect(),
    }))
}

#[derive(Deserialize)]
pub struct ImportForm {
    source: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    path: String,
}

/// `POST /datasets/{ns}/{name}/settings/import`: starts an import, then the settings again.
pub async fn start(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm { signed_in, form }: CsrfForm<ImportForm>,
) -> ApiResult<Response> {
    let (s, who, repo) = match admin_of(&state, signed_in.session, &ns, &name).await {
        Ok(parts) => parts,
        Err(e) => return Ok(e.into_response()),
    };
    let input = Input {
        source: form.source,
        prefix: form.prefix,
        path: form.path,
        ..Input::default()
    };
    match imports::start(&state, &who, (&ns, &name), input)
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Ok(super::forms::see_other(
            &format!("/datasets/{}/settings#imports", repo.path()),
            &[],
        )),
        Err(e) if e.status.is_client_error() => {
            let shown = Shown {
                error: Some(&e.message),
                new_link: None,
                prefill: String::new(),
                hook_secret: None,
                feed_token: None,
            };
            settings_page(&state, &s, &repo, e.status, shown).await
        }
        Err(e) => Err(e),
    }
}
