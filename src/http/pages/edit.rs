//! The text editor: `GET /datasets/{ns}/{name}/edit/{*path}?rev=` opens a text file of a branch
//! (`rev`: a branch, the default branch without it) in a text area, `GET …/new?path=&rev=` an empty
//! one for a new file in a folder, and `POST /datasets/{ns}/{name}/edit` saves either as one
//! revision with the message typed (`strata_core::drive::edit`), behind the path write gate,
//! with the session's CSRF token. The editor's revision is the parent: a file changed meanwhile
//! is a conflict, said on the page, never overwritten.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::datasets::{crumbs, Crumb};
use super::files::{folder_url, refused};
use super::forms::{path_url, see_other};
use super::layout::{render, Chrome};
use super::reader::{Item, Reader};
use super::show::failed;
use super::signed_in::SignedIn;
use crate::http::csrf::CsrfForm;
use crate::http::error::ApiResult;
use crate::http::extract::{session_principal, visitor};
use crate::http::state::AppState;
use strata_core::auth::Action;
use strata_core::datasets::gate;
use strata_core::drive::edit::{self, Edit};

/// The editor's form: the text, URL-encoded, may take three bytes per byte of text.
const MAX_EDIT_FORM: usize = 3 * edit::MAX_TEXT as usize + 64 * 1024;

#[derive(Template)]
#[template(path = "edit.html")]
struct EditPage {
    chrome: Chrome,
    dataset: String,
    crumbs: Vec<Crumb>,
    /// The file edited, or for a new file the folder it goes in.
    path: String,
    /// A new file: its name is typed (and kept when the form comes back).
    new: bool,
    name: String,
    /// The branch written (`""`: the default branch).
    branch: String,
    parent: String,
    text: String,
    /// Where Cancel goes.
    back: String,
}

#[derive(Deserialize, Default)]
pub struct EditQuery {
    rev: Option<String>,
    /// `new`: the folder the file goes in.
    path: Option<String>,
}

/// `GET /datasets/{ns}/{name}/edit/{*path}?rev=`: a text file in the editor.
pub async fn show(
    State(state): State<AppState>,
    Path((ns, name, path)): Path<(String, String, String)>,
    Query(q): Query<EditQuery>,
    reader: Reader<Item>,
) -> ApiResult<Response> {
    let path = path.trim_matches('/').to_owned();
    editor(&state, reader, (&ns, &name), path, q.rev, false).await
}

/// `GET /datasets/{ns}/{name}/new?path=&rev=`: the editor for a new text file in a folder.
pub async fn new(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<EditQuery>,
    reader: Reader<Item>,
) -> ApiResult<Response> {
    let folder = q.path.unwrap_or_default().trim_matches('/').to_owned();
    editor(&state, reader, (&ns, &name), folder, q.rev, true).await
}

/// The editor of `path` (a file; for a new file, its folder), for a `reader` who may also write
/// it.
async fn editor(
    state: &AppState,
    reader: Reader<Item>,
    (ns, name): (&str, &str),
    path: String,
    rev: Option<String>,
    new: bool,
) -> ApiResult<Response> {
    let s = reader.session;
    let who = visitor(s.as_ref())?;
    let title = format!("{ns}/{name}/{path}");
    let repo = match gate::path(state, &who, ns, name, &path, Action::Write).await {
        Ok(repo) => repo,
        Err(e) => return Ok(failed(s.as_ref(), &title, e)),
    };
    let branch = rev.filter(|r| !r.is_empty());
    let opened = if new {
        edit::head(state, &repo, branch.as_deref())
            .await
            .map(|parent| edit::Text {
                text: String::new(),
                parent,
                lfs: false,
            })
    } else {
        edit::open(state, &repo, branch.as_deref(), &path).await
    };
    let text = match opened {
        Ok(t) => t,
        Err(e) => return Ok(failed(s.as_ref(), &title, e)),
    };
    let on = branch
        .as_deref()
        .map(|b| {
            format!(
                "?{}",
                serde_urlencoded::to_string([("rev", b)]).unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let (back, folder) = if new {
        (folder_url(ns, name, &path), path.clone())
    } else {
        let folder = path.rsplit_once('/').map_or("", |(f, _)| f).to_owned();
        (
            format!("/datasets/{ns}/{name}/files/{}{on}", path_url(&path)),
            folder,
        )
    };
    let chrome = Chrome::new(
        if new {
            "New text file".to_owned()
        } else {
            format!("Edit {}", path.rsplit('/').next().unwrap_or(&path))
        },
        s.as_ref(),
        "datasets",
    );
    let page = EditPage {
        chrome,
        dataset: repo.path(),
        crumbs: crumbs(&repo, &folder),
        path,
        new,
        name: String::new(),
        branch: branch.unwrap_or_default(),
        parent: text.parent,
        text: text.text,
        back,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct EditForm {
    /// The file edited; for a new file, the folder it goes in and `name`.
    path: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    branch: String,
    parent: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    message: String,
}

/// `POST /datasets/{ns}/{name}/edit`: saves the editor's text as one revision, then shows the file.
pub async fn save(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm {
        signed_in: SignedIn {
            id_hash: _,
            session: s,
        },
        form,
    }: CsrfForm<EditForm, MAX_EDIT_FORM>,
) -> ApiResult<Response> {
    let who = session_principal(&s)?;
    let branch = Some(form.branch.trim()).filter(|b| !b.is_empty());
    let on = branch
        .map(|b| {
            format!(
                "?{}",
                serde_urlencoded::to_string([("rev", b)]).unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let folder_or_file = form.path.trim_matches('/').to_owned();
    let path = match &form.name {
        Some(n) => strata_core::drive::files::join(&folder_or_file, n),
        None => Ok(folder_or_file.clone()),
    };
    let back = match &form.name {
        Some(_) => folder_url(&ns, &name, &folder_or_file),
        None => format!(
            "/datasets/{ns}/{name}/files/{}{on}",
            path_url(&folder_or_file)
        ),
    };
    let path = match path {
        Ok(p) => p,
        Err(e) => return refused(&s, back, e),
    };
    let repo = match gate::path(&state, &who, &ns, &name, &path, Action::Write).await {
        Ok(repo) => repo,
        Err(e) => return refused(&s, back, e),
    };
    let change = Edit {
        path: path.clone(),
        parent: form.parent.clone(),
        text: form.text.clone(),
        message: Some(form.message),
    };
    let new = form.name.is_some();
    let saved = match new {
        true => edit::create(&state, &who, &repo, branch, change).await,
        false => edit::save(&state, &who, &repo, branch, change).await,
    };
    let e = match saved {
        Ok(_) => {
            let sep = if on.is_empty() { '?' } else { '&' };
            let file = format!("/datasets/{ns}/{name}/files/{}{on}", path_url(&path));
            return Ok(see_other(&format!("{file}{sep}done=saved"), &[]));
        }
        Err(e) => e,
    };
    // Refused (a conflict, a name taken, nothing changed): the editor again, with the text as
    // it was typed and why, so nothing typed is lost. After a conflict the form names the new
    // head: saving again replaces the other change knowingly.
    let conflict = e.kind == strata_core::error::Kind::Conflict && !new;
    let mut e = crate::http::error::ApiError::from(e);
    if e.status.is_server_error() {
        return Err(e);
    }
    let mut parent = form.parent;
    if conflict {
        if let Ok(head) = edit::head(&state, &repo, branch).await {
            parent = head;
            e.message = format!(
                "{} Your text is below: Save again to replace their version with it, or Cancel \
                 to keep theirs.",
                e.message
            );
        }
    }
    let folder = if new {
        folder_or_file.clone()
    } else {
        path.rsplit_once('/').map_or("", |(f, _)| f).to_owned()
    };
    let page = EditPage {
        chrome: Chrome::new("Not saved", Some(&s), "datasets").error(e.message),
        dataset: repo.path(),
        crumbs: crumbs(&repo, &folder),
        path: folder_or_file,
        new,
        name: form.name.unwrap_or_default(),
        branch: branch.unwrap_or_default().to_owned(),
        parent,
        text: form.text,
        back,
    };
    Ok(render(e.status, &page))
}
