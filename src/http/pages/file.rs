//! A file's page: its size, a bounded preview (the first rows of a CSV or TSV file as a table,
//! the start of a text file), its download link, its versions, and for writers rename, delete
//! and restore; through the path read gate, so whoever the file is shared with sees it too.

use askama::Template;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::datasets::{crumbs, BrowseQuery, Crumb, RevisionRow};
use super::layout::{render, Chrome};
use super::reader::{File, Reader};
use super::show::{failed, human_size};
use super::table_view::{self, Viewer};
use crate::http::error::ApiResult;
use crate::http::state::AppState;
use strata_core::datasets::git_on;
use strata_core::drive::marks;

/// Bytes of a file read for its preview.
pub(super) const PREVIEW_BYTES: u64 = 64 * 1024;
/// Rows of a CSV/TSV preview.
const PREVIEW_ROWS: usize = 50;

#[derive(Template)]
#[template(path = "file.html")]
struct FilePage {
    chrome: Chrome,
    dataset: String,
    file: String,
    rev: String,
    crumbs: Vec<Crumb>,
    size: String,
    lfs: Option<String>,
    download: String,
    preview: Preview,
    /// The revisions that changed this file and have it, newest first (not for visitors
    /// through a share): each one's download and restore work.
    /// Each version, and the path the file had in it (an older name before a rename).
    versions: Vec<(RevisionRow, String)>,
    /// Whether the newest version is the file at the head (nothing to restore), not a deleted one.
    newest_is_current: bool,
    /// Whether the visitor may rename, delete or restore it.
    writer: bool,
    /// Whether it opens in the text editor (a writer's text file of at most 1 MiB).
    editable: bool,
    /// An image, shown from its download URL.
    image: bool,
    /// A PDF, shown in a frame by the browser's viewer (`super::previews::pdf`).
    pdf: bool,
    /// The visitor starred it (their drive's Starred), and this page's own address to come back.
    starred: bool,
    here: String,
    /// Whether the visitor manages the dataset's sharing (the Share button).
    share: bool,
    /// The branch the page's forms write (`""`: the default branch).
    branch: String,
    limited: bool,
    /// A table a policy transforms: shown and downloaded through the policies.
    governed: bool,
    /// "Open with": (app name, link) of the visitor's apps that open this file type.
    open_with: Vec<(String, String)>,
    /// The whole table, for a file that is one.
    viewer: Option<Viewer>,
    /// Whether the bounded preview is shown: for files that are no table, and tables the viewer
    /// cannot show.
    show_preview: bool,
    /// A version just restored (`?undo=`): its notice, with Undo.
    undo: Option<super::undo::Undo>,
}

/// Versions listed on a file's page.
const VERSIONS: usize = 20;

/// What a file's page shows of its content.
pub(super) enum Preview {
    /// The first rows of a CSV or TSV file; `cut` when there are more.
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
        cut: bool,
    },
    /// The start of a text file; `cut` when there is more.
    Text { text: String, cut: bool },
    /// Nothing to show (binary, or the bytes are missing from storage).
    None(String),
}

/// `GET /datasets/{ns}/{name}/files/{*path}?rev=`: a file, its preview and its download link.
pub async fn show(
    State(state): State<AppState>,
    Path((ns, name, path)): Path<(String, String, String)>,
    Query(q): Query<BrowseQuery>,
    RawQuery(raw): RawQuery,
    Reader {
        session: s, repo, ..
    }: Reader<File>,
) -> ApiResult<Response> {
    let here = format!(
        "/datasets/{ns}/{name}/files/{}",
        super::forms::path_url(&path)
    );
    let title = format!("{}/{path}", repo.path());
    if let Err(e) = repo.check_rev(q.rev.as_deref()) {
        return Ok(failed(s.as_ref(), &title, e));
    }
    let (rev, file) = (q.rev.clone(), path.clone());
    let data = git_on(&state, &repo, move |ms, ds| {
        ms.read_file(ds, rev.as_deref(), &file)
    })
    .await;
    let data = match data {
        Ok(d) => d,
        Err(e) => return Ok(failed(s.as_ref(), &title, e)),
    };
    // Opened: in the visitor's Recent.
    let who = crate::http::extract::visitor(s.as_ref())?;
    marks::seen(&state, &who, &repo, &path).await;
    let starred = marks::is_starred(&state, &who, &repo, &path, false).await;
    let pointer = strata_lfs::pointer::lenient(&data);
    // A table whose raw bytes a policy withholds is shown as the policies let it out.
    let mut governed = None;
    if let Err(e) = repo
        .read_file(&state, &path, q.rev.as_deref(), pointer.as_ref())
        .await
    {
        match through_policies(&state, &repo, &path, q.rev.as_deref(), &e).await {
            Some(shown) => governed = Some(shown),
            None => return Ok(failed(s.as_ref(), &title, e)),
        }
    }
    let (size, lfs, head, total) = match pointer {
        Some(pointer) => {
            let head = read_head(&state, repo.id, &pointer.oid, pointer.size).await;
            (
                pointer.size,
                Some(pointer.oid.to_string()),
                head,
                pointer.size,
            )
        }
        None => {
            let n = data.len().min(PREVIEW_BYTES as usize);
            (
                data.len() as u64,
                None,
                Ok(data[..n].to_vec()),
                data.len() as u64,
            )
        }
    };
    let preview = match (&governed, head) {
        (Some((_, bytes, cut)), _) => preview(&path, bytes, *cut),
        (None, Ok(bytes)) => preview(&path, &bytes, total > bytes.len() as u64),
        (None, Err(message)) => Preview::None(message),
    };
    let query = q
        .rev
        .as_deref()
        .map(|r| {
            format!(
                "?{}",
                serde_urlencoded::to_string([("rev", r)]).unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let folder = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let (versions, newest_is_current) = if repo.limited() {
        (Vec::new(), false)
    } else {
        let file = path.clone();
        git_on(&state, &repo, move |ms, ds| {
            let (list, _) = ms.versions_named(ds, None, None, VERSIONS, &file)?;
            let current = ms.stat(ds, None, &file)? == Some(false);
            Ok((list, current))
        })
        .await
        .map(|(list, current)| {
            let list = list
                .into_iter()
                .map(|(r, at)| (RevisionRow::from(r), at))
                .collect();
            (list, current)
        })
        .unwrap_or_default()
    };
    // Written on the default branch, or on the branch the page shows (not a tag or a commit).
    let branch = match q.rev.as_deref() {
        Some(r) if !repo.limited() => {
            let r = r.to_owned();
            git_on(&state, &repo, move |ms, ds| ms.branches(ds))
                .await
                .ok()
                .filter(|bs| bs.iter().any(|(b, _)| *b == r))
                .map(|_| q.rev.clone().unwrap_or_default())
        }
        Some(_) => None,
        None => Some(String::new()),
    };
    let writer = branch.is_some() && repo.writes(&path);
    let editable = writer
        && governed.is_none()
        && size <= strata_core::drive::edit::MAX_TEXT
        && match &preview {
            // A NUL byte says binary, as it does to git.
            Preview::Text { text, .. } => !text.contains('\0'),
            Preview::Table { .. } => true,
            Preview::None(_) => false,
        };
    let open_with = match &s {
        Some(s) if governed.is_none() => {
            strata_core::apps::openers(&state, &s.user, &repo.path(), &path, q.rev.as_deref()).await
        }
        _ => Vec::new(),
    };
    let pairs = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let viewer = table_view::viewer(&state, &repo, &path, &here, pairs).await;
    let mut chrome = Chrome::new(
        path.rsplit('/').next().unwrap_or(&path).to_owned(),
        s.as_ref(),
        "datasets",
    );
    if q.done.as_deref() == Some("saved") {
        chrome = chrome.notice("Saved as a new revision.");
    }
    // A restore just made here, while it is still the head (a revert of it needs that).
    let undo = match (&q.undo, &s) {
        (Some(id), Some(s)) if writer && q.rev.is_none() => {
            let head = git_on(&state, &repo, |ms, ds| ms.resolve(ds, None))
                .await
                .ok()
                .map(|h| h.to_string());
            match head.as_deref() == Some(id.as_str()) {
                true => {
                    super::undo::undo_of(&state, &repo, id, &s.user.username, (&here, "")).await
                }
                false => None,
            }
        }
        _ => None,
    };
    if q.undone.is_some() {
        chrome = chrome.notice("Undone.");
    }
    let page = FilePage {
        undo,
        chrome,
        editable,
        image: governed.is_none() && is_image(&path),
        pdf: governed.is_none() && super::previews::is_pdf(&path),
        starred,
        here: match &raw {
            Some(q) => format!("{here}?{q}"),
            None => here.clone(),
        },
        share: !repo.limited()
            && repo.allows(
                strata_core::auth::On::Dataset,
                strata_core::auth::Action::Admin,
            ),
        branch: branch.unwrap_or_default(),
        show_preview: viewer.as_ref().is_none_or(|v| v.headings.is_empty()),
        viewer,
        open_with,
        versions,
        newest_is_current,
        writer,
        limited: repo.limited(),
        download: match &governed {
            Some((table, _, _)) => format!(
                "/api/v1/datasets/{}/tables/{}{query}",
                repo.path(),
                super::forms::path_url(table)
            ),
            None => format!(
                "/api/v1/datasets/{}/raw/{}{query}",
                repo.path(),
                super::forms::path_url(&path)
            ),
        },
        governed: governed.is_some(),
        dataset: repo.path(),
        crumbs: crumbs(&repo, folder),
        file: path,
        rev: q.rev.unwrap_or_default(),
        size: human_size(size),
        lfs,
        preview,
    };
    Ok(render(StatusCode::OK, &page))
}

/// For a file the read gate refused because a policy transforms it: the name of its table and
/// the first [`PREVIEW_BYTES`] of it as the policies let it out (`true`: it goes on). `None`
/// for every other refusal (a denial, a file that is no table).
async fn through_policies(
    state: &AppState,
    repo: &strata_core::datasets::gate::Gated,
    path: &str,
    rev: Option<&str>,
    refused: &strata_core::error::Error,
) -> Option<(String, Vec<u8>, bool)> {
    use strata_core::datasets::policies;
    use strata_core::tables::stream as tables;
    if refused.kind != strata_core::error::Kind::Forbidden {
        return None;
    }
    let catalog = policies::catalog(state, repo, rev).await.ok()?;
    let table = catalog.table_at(path)?;
    let req = tables::Request {
        resource: table.name.clone(),
        rev: rev.map(str::to_owned),
        ..tables::Request::default()
    };
    let surface = policies::Surface::Table;
    let mut opened = tables::open(state, repo, &req, tables::Format::Csv, surface)
        .await
        .ok()?;
    let mut out = Vec::new();
    while let Some(chunk) = opened.chunks.recv().await {
        let tables::Chunk::Bytes(b) = chunk.ok()? else {
            return None;
        };
        out.extend_from_slice(&b);
        if out.len() as u64 >= PREVIEW_BYTES {
            out.truncate(PREVIEW_BYTES as usize);
            return Some((table.name.clone(), out, true));
        }
    }
    Some((table.name.clone(), out, false))
}

/// The first [`PREVIEW_BYTES`] of an object, or why there are none.
pub(super) async fn read_head(
    state: &AppState,
    repo_id: i64,
    oid: &strata_lfs::Oid,
    size: u64,
) -> Result<Vec<u8>, String> {
    use futures_util::StreamExt;
    if size == 0 {
        return Ok(Vec::new());
    }
    let range = format!("bytes=0-{}", size.min(PREVIEW_BYTES) - 1);
    let read = state.storage.read(repo_id, oid, Some(&range)).await;
    let Ok(Some(strata_core::storage::Read::Found { object, .. })) = read else {
        return Err("The file's bytes are not in storage.".into());
    };
    let mut out = Vec::new();
    let mut body = object.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| "The file's bytes could not be read.".to_owned())?;
        out.extend_from_slice(&chunk);
        if out.len() as u64 >= PREVIEW_BYTES {
            out.truncate(PREVIEW_BYTES as usize);
            break;
        }
    }
    Ok(out)
}

/// The preview of `bytes`, the start of the file at `path` (`cut` when the file goes on).
pub(super) fn preview(path: &str, bytes: &[u8], cut: bool) -> Preview {
    let lower = path.to_ascii_lowercase();
    // A cut may fall inside a UTF-8 sequence: drop the partial character.
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) if cut && e.error_len().is_none() => {
            std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or("")
        }
        Err(_) => return Preview::None("A binary file: download it to open it.".into()),
    };
    let sep = if lower.ends_with(".csv") {
        Some(',')
    } else if lower.ends_with(".tsv") || lower.ends_with(".tab") {
        Some('\t')
    } else {
        None
    };
    if let Some(sep) = sep {
        let mut records = parse_delimited(text, sep, cut);
        if records.is_empty() {
            return Preview::Text {
                text: String::new(),
                cut,
            };
        }
        let header = records.remove(0);
        let more = cut || records.len() > PREVIEW_ROWS;
        records.truncate(PREVIEW_ROWS);
        return Preview::Table {
            header,
            rows: records,
            cut: more,
        };
    }
    Preview::Text {
        text: text.to_owned(),
        cut,
    }
}

/// Whether a file is an image a page may show (by its extension; formats a browser draws
/// without script, served with their own content type).
pub(super) fn is_image(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg", ".gif", ".webp"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// Records of delimited text (RFC 4180 quoting); when `cut`, the last, possibly partial,
/// record is dropped.
fn parse_delimited(text: &str, sep: char, cut: bool) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' if quoted => quoted = false,
            '"' if field.is_empty() => quoted = true,
            c if c == sep && !quoted => record.push(std::mem::take(&mut field)),
            '\r' if !quoted => {}
            '\n' if !quoted => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                if records.len() > PREVIEW_ROWS + 1 {
                    return records;
                }
            }
            c => field.push(c),
        }
    }
    if !cut && (!field.is_empty() || !record.is_empty()) {
        record.push(field);
        records.push(record);
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimited_text_with_quotes_and_cuts() {
        let rows = parse_delimited("a,b\n\"x, y\",\"say \"\"hi\"\"\"\n1,2", ',', false);
        assert_eq!(
            rows,
            vec![vec!["a", "b"], vec!["x, y", "say \"hi\""], vec!["1", "2"]]
        );
        // A cut file drops its partial last record.
        assert_eq!(parse_delimited("a,b\n1,2\n3,", ',', true).len(), 2);
    }

    #[test]
    fn sizes_read_like_a_person_writes_them() {
        assert_eq!(human_size(5), "5 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
