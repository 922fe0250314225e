//! The drive's Starred and Recent: `/drive/starred` (files, folders and datasets the visitor
//! starred) and `/drive/recent` (files they opened lately), each only as far as they may still
//! read it; `POST /starred` stars or unstars one item and goes back to the page it came from.
//! The same domain calls as the rest of the drive (`strata_core::drive::marks`).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::forms::see_other;
use super::layout::{render, Chrome};
use super::show::when;
use super::signed_in::{PageResult, SignedIn};
use crate::http::csrf::CsrfForm;
use crate::http::extract::session_principal;
use crate::http::state::AppState;
use strata_core::auth::Action;
use strata_core::datasets::gate;
use strata_core::drive::marks::{self, Marked};

/// One item as the list shows it: its name, where it leads, its dataset, when.
struct Row {
    name: String,
    href: String,
    dataset: String,
    path: String,
    folder: bool,
    when: String,
}

#[derive(Template)]
#[template(path = "marks.html")]
struct MarksPage {
    chrome: Chrome,
    /// `starred` or `recent`.
    list: &'static str,
    rows: Vec<Row>,
}

fn row(m: Marked) -> Row {
    let file = m.path.trim_end_matches('/').to_owned();
    let folder = m.path.ends_with('/');
    let href = match (file.is_empty(), folder) {
        (true, _) => format!("/datasets/{}", m.dataset),
        (false, true) => format!(
            "/datasets/{}?{}",
            m.dataset,
            serde_urlencoded::to_string([("path", &file)]).unwrap_or_default()
        ),
        (false, false) => format!(
            "/datasets/{}/files/{}",
            m.dataset,
            super::forms::path_url(&file)
        ),
    };
    Row {
        name: match file.rsplit_once('/') {
            Some((_, last)) => last.to_owned(),
            None if file.is_empty() => m.dataset.clone(),
            None => file.clone(),
        },
        href,
        dataset: m.dataset,
        path: file,
        folder,
        when: when(m.when),
    }
}

/// `GET /drive/starred`.
pub async fn starred(
    State(state): State<AppState>,
    SignedIn { session: s, .. }: SignedIn,
) -> PageResult {
    let who = session_principal(&s)?;
    let rows = marks::starred(&state, &who)
        .await?
        .into_iter()
        .map(row)
        .collect();
    let chrome = Chrome::new("Starred", Some(&s), "drive");
    Ok(render(
        StatusCode::OK,
        &MarksPage {
            chrome,
            list: "starred",
            rows,
        },
    ))
}

/// `GET /drive/recent`.
pub async fn recent(
    State(state): State<AppState>,
    SignedIn { session: s, .. }: SignedIn,
) -> PageResult {
    let who = session_principal(&s)?;
    let rows = marks::recent(&state, &who)
        .await?
        .into_iter()
        .map(row)
        .collect();
    let chrome = Chrome::new("Recent", Some(&s), "drive");
    Ok(render(
        StatusCode::OK,
        &MarksPage {
            chrome,
            list: "recent",
            rows,
        },
    ))
}

#[derive(Deserialize)]
pub struct StarForm {
    /// `ns/name`.
    dataset: String,
    /// The file or folder (empty: the whole dataset).
    #[serde(default)]
    path: String,
    /// Present for a folder.
    #[serde(default)]
    folder: Option<String>,
    /// `on` stars, anything else unstars.
    #[serde(default)]
    star: String,
    /// The page to go back to (one of strata's own).
    #[serde(default)]
    back: String,
}

/// `POST /starred`: stars or unstars an item the visitor may read, then back.
pub async fn star(
    State(state): State<AppState>,
    CsrfForm { signed_in, form }: CsrfForm<StarForm>,
) -> PageResult {
    let who = session_principal(&signed_in.session)?;
    let Some((ns, name)) = form.dataset.split_once('/') else {
        return Err(
            crate::http::error::ApiError::unprocessable("dataset is namespace/name").into(),
        );
    };
    let path = form.path.trim_matches('/');
    let folder = form.folder.is_some();
    if form.star == "on" {
        let dataset = match path.is_empty() {
            true => gate::dataset(&state, &who, ns, name, Action::Read).await?,
            false => gate::path(&state, &who, ns, name, path, Action::Read).await?,
        };
        marks::star(&state, &who, &dataset, path, folder, true).await?;
    } else {
        marks::unstar(&state, &who, (ns, name), path, folder).await?;
    }
    // Only a path of this server: never a way out to another site.
    let back = super::forms::safe_next(&form.back).unwrap_or("/drive/starred");
    Ok::<Response, _>(see_other(back, &[]))
}
