//! Zip downloads (`strata_core::drive::archive`): `GET /datasets/{ns}/{name}/zip?path=&rev=`
//! a folder (or the whole dataset) for whoever may read it, `POST /datasets/{ns}/{name}/zip` the
//! items picked in a folder's list (with the session's CSRF token, so picks never ride in a URL),
//! and `GET /s/{secret}/zip?path=` a share link's folder ("Download all"). The archive streams as
//! it is made; refusals come before its first byte.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::signed_in::SignedIn;
use crate::http::csrf::CsrfForm;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{session, session_principal, visitor};
use crate::http::state::AppState;
use strata_core::auth::Action;
use strata_core::datasets::gate;
use strata_core::drive::archive::{self, Archive};

#[derive(Deserialize, Default)]
pub struct ZipQuery {
    path: Option<String>,
    rev: Option<String>,
}

/// The archive as a download named `{name}.zip`.
fn download(state: &AppState, archive: Archive, name: &str) -> Response {
    let mut response = (
        StatusCode::OK,
        Body::from_stream(archive.stream(state.storage.clone())),
    )
        .into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Some(d) = crate::http::download::attachment(&format!("{name}.zip")) {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    response
}

/// The archive's name: the folder's, or the dataset's.
fn name_of(dataset: &str, folder: &str) -> String {
    match folder.rsplit('/').next() {
        Some(f) if !f.is_empty() => f.to_owned(),
        _ => dataset.to_owned(),
    }
}

/// `GET /datasets/{ns}/{name}/zip?path=&rev=`: a folder and everything in it.
pub async fn folder(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<ZipQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let who = visitor(session(&state, &headers).await?.map(|(_, s)| s).as_ref())?;
    let folder = q.path.unwrap_or_default().trim_matches('/').to_owned();
    let repo = gate::path(&state, &who, &ns, &name, &folder, Action::Read).await?;
    repo.check_rev(q.rev.as_deref())?;
    let paths = [folder.clone()];
    let archive = archive::gather(&state, &repo, q.rev.as_deref(), &paths, &folder).await?;
    Ok(download(&state, archive, &name_of(&name, &folder)))
}

#[derive(Deserialize)]
pub struct PickedForm {
    /// The folder the items were picked in.
    #[serde(default)]
    folder: String,
    #[serde(default)]
    branch: String,
    /// `p1`, `p2`, …: the picked paths.
    #[serde(flatten)]
    picked: std::collections::BTreeMap<String, String>,
}

/// `POST /datasets/{ns}/{name}/zip`: the picked items of a folder.
pub async fn picked(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm {
        signed_in: SignedIn {
            id_hash: _,
            session: s,
        },
        form,
    }: CsrfForm<PickedForm>,
) -> ApiResult<Response> {
    let who = session_principal(&s)?;
    let folder = form.folder.trim_matches('/').to_owned();
    let mut paths: Vec<String> = form
        .picked
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix('p')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|(_, v)| v.trim_matches('/').to_owned())
        .collect();
    paths.sort();
    paths.dedup();
    if paths.is_empty() {
        return Err(ApiError::unprocessable(
            "pick the files and folders to download",
        ));
    }
    if paths.len() > archive::MAX_FILES {
        return Err(ApiError::unprocessable(format!(
            "at most {} items at once",
            archive::MAX_FILES
        )));
    }
    let gated_at = match paths.as_slice() {
        [one] => one.clone(),
        _ => folder.clone(),
    };
    let repo = gate::path(&state, &who, &ns, &name, &gated_at, Action::Read).await?;
    let rev = Some(form.branch.trim()).filter(|b| !b.is_empty());
    repo.check_rev(rev)?;
    let archive = archive::gather(&state, &repo, rev, &paths, &folder).await?;
    let title = match paths.as_slice() {
        [one] => name_of(&name, one),
        _ => name_of(&name, &folder),
    };
    Ok(download(&state, archive, &title))
}

/// `GET /s/{secret}/zip?path=`: everything a share link reaches, or a folder inside it.
pub async fn link(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    Query(q): Query<ZipQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (o, path) = super::links::reach(&state, &secret, q.path.as_deref(), &headers).await?;
    let archive =
        archive::gather(&state, &o.gated, None, std::slice::from_ref(&path), &path).await?;
    let name = match path.rsplit('/').next() {
        Some(n) if !n.is_empty() => n.to_owned(),
        _ => o.gated.name.clone(),
    };
    Ok(download(&state, archive, &name))
}
