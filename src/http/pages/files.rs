//! The file manager's forms on a dataset's pages: upload (multipart, spooled and hashed by the
//! storage facade), new folder, rename or move, delete, restore a version or a deleted file, the
//! recently deleted list, and `/drive` (the visitor's own `{user}/drive`). The actions are the
//! domain's (`strata_core::drive::files`), behind the path write gate, with the session's CSRF token.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::forms::{see_other, small_text};
use super::layout::{render, Chrome, Message};
use super::show::{failed, when};
use super::signed_in::SignedIn;
use crate::http::csrf::{CsrfForm, CsrfMultipart, NoFields};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{session as session_of, session_principal, visitor};
use crate::http::state::AppState;
use strata_core::auth::Action;
use strata_core::datasets::gate;
use strata_core::db::SessionRow;
use strata_core::drive::files;
use strata_core::error::Error;

#[derive(Template)]
#[template(path = "drive.html")]
struct DrivePage {
    chrome: Chrome,
}

/// `GET /drive`: the visitor's drive, or the button that makes it.
pub async fn drive(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let Some((_, s)) = session_of(&state, &headers).await? else {
        return Ok(see_other("/login?next=%2Fdrive", &[]));
    };
    if let Some(repo) = strata_core::datasets::existing_drive(&state, &s.user).await? {
        return Ok(see_other(&format!("/datasets/{}", repo.path()), &[]));
    }
    let page = DrivePage {
        chrome: Chrome::new("Your drive", Some(&s), "drive"),
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /drive`: makes the visitor's drive (once), then opens it.
pub async fn make_drive(
    State(state): State<AppState>,
    CsrfForm {
        signed_in: SignedIn {
            id_hash: _,
            session: s,
        },
        form: _,
    }: CsrfForm<NoFields>,
) -> ApiResult<Response> {
    let who = session_principal(&s)?;
    match strata_core::datasets::drive(&state, &who).await {
        Ok(repo) => Ok(see_other(&format!("/datasets/{}", repo.path()), &[])),
        Err(e) => Ok(failed(Some(&s), "Your drive", e)),
    }
}

/// The folder page a path belongs to.
pub(super) fn folder_url(ns: &str, name: &str, folder: &str) -> String {
    folder_on(ns, name, folder, None)
}

/// The folder page on a branch (`None`: the default branch).
pub(super) fn folder_on(ns: &str, name: &str, folder: &str, branch: Option<&str>) -> String {
    let mut pairs = Vec::new();
    if !folder.is_empty() {
        pairs.push(("path", folder));
    }
    if let Some(b) = branch {
        pairs.push(("rev", b));
    }
    if pairs.is_empty() {
        format!("/datasets/{ns}/{name}")
    } else {
        let q = serde_urlencoded::to_string(pairs).unwrap_or_default();
        format!("/datasets/{ns}/{name}?{q}")
    }
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

/// A failed action as a page: what went wrong, and the way back to where it was tried.
pub(super) fn refused(s: &SessionRow, back: String, e: Error) -> ApiResult<Response> {
    let e = ApiError::from(e);
    if e.status.is_server_error() {
        return Err(e);
    }
    let page = Message {
        chrome: Chrome::new("That did not work", Some(s), "datasets").error(e.message),
        next: Some((back, "Back".into())),
    };
    Ok(render(e.status, &page))
}

/// `POST /datasets/{ns}/{name}/upload` (multipart: `csrf`, then `folder`, then optionally
/// `branch` (an existing branch; the default branch without it), `message` and `clash` (`keep`:
/// a name the folder has already is kept beside it, the default; `replace`), then `file`
/// fields): uploads files into a folder as one commit.
pub async fn upload(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfMultipart {
        signed_in: SignedIn {
            id_hash: _,
            session: s,
        },
        mut form,
    }: CsrfMultipart,
) -> ApiResult<Response> {
    let bad = |e: axum::extract::multipart::MultipartError| ApiError::bad_request(e.body_text());
    let folder = match form.next_field().await.map_err(bad)? {
        Some(f) if f.name() == Some("folder") => small_text(f).await?,
        _ => return Err(ApiError::unprocessable("the form names no folder")),
    };
    let folder = folder.trim_matches('/').to_owned();
    let mut back = folder_url(&ns, &name, &folder);
    let who = session_principal(&s)?;
    let repo = match gate::path(&state, &who, &ns, &name, &folder, Action::Write).await {
        Ok(repo) => repo,
        Err(e) => return refused(&s, back, e),
    };
    let limit = state.settings.object_limit();
    let mut stored: Vec<(String, strata_lfs::Oid, u64)> = Vec::new();
    // A form without the choice (an older page, a script) replaces, as uploads always did.
    let (mut message, mut replace, mut branch) = (String::new(), true, None::<String>);
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let Some(file_name) = field.file_name().map(str::to_owned) else {
            match field.name() {
                Some("message") => message = small_text(field).await?,
                Some("clash") => replace = small_text(field).await? == "replace",
                Some("branch") if stored.is_empty() => {
                    let b = small_text(field).await?.trim().to_owned();
                    branch = Some(b).filter(|b| !b.is_empty());
                    back = folder_on(&ns, &name, &folder, branch.as_deref());
                }
                Some("branch") => {
                    let e = Error::unprocessable("the branch comes before the files");
                    return refused(&s, back, e);
                }
                _ => {}
            }
            continue;
        };
        let branch = branch.as_deref();
        if file_name.is_empty() {
            continue; // the form was sent without a file chosen
        }
        // Every name is checked before its bytes are stored.
        let taken: Vec<String> = stored.iter().map(|(p, _, _)| p.clone()).collect();
        let path = match files::join(&folder, &file_name) {
            Ok(p) if !replace => files::free_path(&state, &repo, branch, &p, &taken).await,
            other => other,
        };
        let path = match path {
            Ok(p) => files::check_upload(&state, &repo, branch, &p)
                .await
                .map(|()| p),
            Err(e) => Err(e),
        };
        let path = match path {
            Ok(p) if stored.iter().any(|(q, _, _)| *q == p) => {
                let e = Error::unprocessable(format!("{p:?} is in the upload twice"));
                return refused(&s, back, e);
            }
            Ok(p) => p,
            Err(e) => return refused(&s, back, e),
        };
        let (oid, size) = match state.storage.ingest(repo.id, field, limit).await {
            Ok(done) => done,
            Err(e) => return refused(&s, back, e),
        };
        stored.push((path, oid, size));
    }
    let message = Some(message.trim().to_owned()).filter(|m| !m.is_empty());
    match files::upload(&state, &who, &repo, branch.as_deref(), stored, message).await {
        Ok(_) => Ok(see_other(&back, &[])),
        Err(e) => refused(&s, back, e),
    }
}

#[derive(Deserialize)]
pub struct FileForm {
    /// `folder`, `move`, `rename`, `delete`, `share` or `restore`.
    op: String,
    /// The file or folder acted on (for `folder`: the folder to make it in).
    #[serde(default)]
    path: String,
    /// The folder the form was on, where the visitor goes back to.
    #[serde(default)]
    folder: Option<String>,
    /// `folder`: the new folder's name; `move`: the folder to move into (`""`: the top);
    /// `rename`: the new name (in the same folder) or, with a `/`, the new path.
    #[serde(default)]
    to: String,
    /// `restore`: the revision to restore from.
    #[serde(default)]
    rev: String,
    /// `restore`: `trash` when restored from Recently deleted (back to the file's folder).
    #[serde(default)]
    from: String,
    /// `restore`: the path the file had at `rev`, when it was renamed since.
    #[serde(default)]
    named: String,
    /// The branch changed (`""`: the default branch; not for `restore`).
    #[serde(default)]
    branch: String,
    /// The items picked in a folder's list: `p1`, `p2`, … (their paths).
    #[serde(flatten)]
    picked: std::collections::BTreeMap<String, String>,
}

/// Items a form may act on at once.
const MAX_PICKED: usize = 1000;

impl FileForm {
    /// The paths acted on: the picked items, or the one `path`.
    fn paths(&self) -> Result<Vec<String>, Error> {
        let mut paths: Vec<String> = self
            .picked
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix('p')
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .map(|(_, v)| v.trim_matches('/').to_owned())
            .collect();
        if paths.is_empty() && !self.path.trim_matches('/').is_empty() {
            paths.push(self.path.trim_matches('/').to_owned());
        }
        if paths.len() > MAX_PICKED {
            return Err(Error::unprocessable(format!(
                "at most {MAX_PICKED} items at once"
            )));
        }
        paths.sort();
        paths.dedup();
        Ok(paths)
    }
}

/// `POST /datasets/{ns}/{name}/files`: new folder, move, rename, delete (the picked items as one
/// revision), share (to the item's share dialog), restore. After a change, the folder's page says what
/// was done and offers to undo it.
pub async fn change(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm {
        signed_in: SignedIn {
            id_hash: _,
            session: s,
        },
        form,
    }: CsrfForm<FileForm>,
) -> ApiResult<Response> {
    let to = form.to.trim().trim_matches('/').to_owned();
    let who = session_principal(&s)?;
    let paths = form.paths();
    let first = paths
        .as_ref()
        .ok()
        .and_then(|p| p.first().cloned())
        .unwrap_or_default();
    let folder = match &form.folder {
        Some(f) => f.trim_matches('/').to_owned(),
        None if form.op == "folder" => first.clone(),
        None => parent_of(&first).to_owned(),
    };
    let branch = Some(form.branch.trim()).filter(|b| !b.is_empty());
    let back = folder_on(&ns, &name, &folder, branch);
    // A refusal's way back keeps what was typed (the folder's page fills it in again).
    let typed_back = match to.is_empty() || form.op == "folder" {
        true => back.clone(),
        false => {
            let sep = if back.contains('?') { '&' } else { '?' };
            let q = serde_urlencoded::to_string([("to", to.as_str())]).unwrap_or_default();
            format!("{back}{sep}{q}")
        }
    };
    let paths = match paths {
        Ok(p) => p,
        Err(e) => return refused(&s, typed_back, e),
    };
    if paths.is_empty() && matches!(form.op.as_str(), "move" | "rename" | "delete" | "share") {
        let e = Error::unprocessable(
            "nothing is picked: tick the boxes of the files or folders in the list first",
        );
        return refused(&s, typed_back, e);
    }
    // One item: its own gate (a share of that file reaches it); several: the folder's.
    let gated_at = match paths.as_slice() {
        [one] => one.clone(),
        _ => folder.clone(),
    };
    let repo = match gate::path(&state, &who, &ns, &name, &gated_at, Action::Write).await {
        Ok(repo) => repo,
        Err(e) => return refused(&s, back, e),
    };
    let done = match form.op.as_str() {
        "folder" => match files::join(&first, &to) {
            Ok(made) => files::new_folder(&state, &who, &repo, branch, &made)
                .await
                .map(|_| folder_on(&ns, &name, &made, branch)),
            Err(e) => Err(e),
        },
        "move" => {
            let moves: Result<Vec<_>, _> = paths
                .iter()
                .map(|p| {
                    let base = p.rsplit('/').next().unwrap_or(p);
                    files::join(&to, base).map(|t| (p.clone(), t))
                })
                .collect();
            match moves {
                Ok(moves) => files::rename(&state, &who, &repo, branch, &moves)
                    .await
                    .map(|r| undo_url(&back, &r.id)),
                Err(e) => Err(e),
            }
        }
        "rename" => match paths.as_slice() {
            [from] => {
                let target = if to.contains('/') {
                    Ok(to.clone())
                } else {
                    files::join(parent_of(from), &to)
                };
                match target {
                    Ok(target) => {
                        let moves = [(from.clone(), target.clone())];
                        let there = folder_on(&ns, &name, parent_of(&target), branch);
                        files::rename(&state, &who, &repo, branch, &moves)
                            .await
                            .map(|r| undo_url(&there, &r.id))
                    }
                    Err(e) => Err(e),
                }
            }
            _ => Err(Error::unprocessable("pick one item to rename")),
        },
        "delete" => files::delete(&state, &who, &repo, branch, &paths)
            .await
            .map(|r| undo_url(&back, &r.id)),
        "share" => match paths.as_slice() {
            [one] => {
                let q = serde_urlencoded::to_string([("path", one)]).unwrap_or_default();
                Ok(format!("/datasets/{ns}/{name}/share?{q}"))
            }
            _ => Err(Error::unprocessable("pick one item to share")),
        },
        "restore" if branch.is_some() => Err(Error::unprocessable(
            "versions are restored on the default branch: open the file there",
        )),
        // From Recently deleted: back to the file's folder; from the file's versions: its page.
        // Either says what was done, with Undo.
        "restore" => files::restore(
            &state,
            &who,
            &repo,
            &first,
            form.rev.trim(),
            Some(form.named.trim()).filter(|n| !n.is_empty()),
        )
        .await
        .map(|r| match form.from.as_str() {
            "trash" => undo_url(&folder_on(&ns, &name, parent_of(&first), None), &r.id),
            _ => undo_url(
                &format!(
                    "/datasets/{ns}/{name}/files/{}",
                    super::forms::path_url(&first)
                ),
                &r.id,
            ),
        }),
        other => Err(Error::unprocessable(format!("unknown action {other:?}"))),
    };
    match done {
        Ok(next) => Ok(see_other(&next, &[])),
        Err(e) => refused(&s, typed_back, e),
    }
}

/// The folder's page after a change: it names the revision, to say what was done and undo it.
fn undo_url(folder_url: &str, revision: &str) -> String {
    let sep = if folder_url.contains('?') { '&' } else { '?' };
    format!("{folder_url}{sep}undo={revision}")
}

#[derive(Deserialize, Default)]
pub struct TrashQuery {
    cursor: Option<String>,
}

struct DeletedRow {
    path: String,
    before: String,
    author: String,
    date: String,
}

#[derive(Template)]
#[template(path = "trash.html")]
struct TrashPage {
    chrome: Chrome,
    dataset: String,
    rows: Vec<DeletedRow>,
    next: Option<String>,
    writer: bool,
}

/// `GET /datasets/{ns}/{name}/trash`: recently deleted files, each with a restore button.
pub async fn trash(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<TrashQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let s = session_of(&state, &headers).await?.map(|(_, s)| s);
    let who = visitor(s.as_ref())?;
    let title = format!("{ns}/{name}");
    let repo = match gate::shared(&state, &who, &ns, &name, Action::Read).await {
        Ok(repo) => repo,
        Err(e) if e.kind == strata_core::error::Kind::Unauthenticated => {
            return Ok(see_other("/login", &[]))
        }
        Err(e) => return Ok(failed(s.as_ref(), &title, e)),
    };
    let (list, next) = match files::deleted(&state, &repo, q.cursor).await {
        Ok(found) => found,
        Err(e) => return Ok(failed(s.as_ref(), &title, e)),
    };
    // Only whole-dataset writers get here (the list is refused through shares).
    let writer = repo.allows(strata_core::auth::On::Dataset, Action::Write);
    let page = TrashPage {
        chrome: Chrome::new(
            format!("Recently deleted in {title}"),
            s.as_ref(),
            "datasets",
        ),
        dataset: repo.path(),
        rows: list
            .into_iter()
            .map(|d| DeletedRow {
                path: d.path,
                before: d.before,
                author: d.author,
                date: when(d.time),
            })
            .collect(),
        next,
        writer,
    };
    Ok(render(StatusCode::OK, &page))
}
