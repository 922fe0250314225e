//! Share link pages, for visitors without an account: `/s/{secret}` shows the shared file or
//! folder (folders one level at a time, `?path=` inside it), `/s/{secret}/raw/{path}` downloads a
//! file. A link with a password asks for it first and then remembers it in a cookie scoped to the
//! link. Requests are limited per client address; wrong passwords per link and address.

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::file::Preview;
use super::forms::{read_form, see_other};
use super::layout::{render, Chrome};
use super::show::human_size;
use crate::http::cookies::{self, SameSite};
use crate::http::download::serve_file;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::secrets;
use strata_core::datasets::gate::check_path;
use strata_core::datasets::git_on;
use strata_core::datasets::paths::KEEP;
use strata_core::error::Error;
use strata_core::sharing::links::{self, Opened};

const COOKIE: &str = "strata_link";
/// Entries per page of a shared folder.
const PAGE: usize = 200;

#[derive(Deserialize, Default)]
pub struct LinkQuery {
    path: Option<String>,
    page: Option<usize>,
}

struct Item {
    name: String,
    /// The path inside the link.
    rel: String,
    folder: bool,
    size: String,
}

#[derive(Template)]
#[template(path = "link.html")]
struct LinkPage {
    chrome: Chrome,
    secret: String,
    needs_password: bool,
    /// Where the visitor is inside the link (`""`: its top), and the way up.
    rel: String,
    up: Option<String>,
    /// A file: its size and download URL.
    file: Option<(String, String)>,
    items: Vec<Item>,
    total: usize,
    page: usize,
    more: bool,
    /// A file that is a table: the viewer.
    viewer: Option<super::table_view::Viewer>,
    /// A file that is no table: the start of it, or an image.
    preview: Option<Preview>,
    image: bool,
    /// Who made the link, and until when it works (`""`: no end).
    shared_by: String,
    until: String,
}

impl LinkPage {
    fn new(o: &Opened, secret: String) -> LinkPage {
        LinkPage {
            chrome: Chrome::new(title_of(o), None, "link"),
            secret,
            needs_password: false,
            rel: String::new(),
            up: None,
            file: None,
            items: Vec::new(),
            total: 0,
            page: 1,
            more: false,
            viewer: None,
            preview: None,
            image: false,
            shared_by: o.link.created_by.clone().unwrap_or_default(),
            until: o.link.expires_at.map(super::show::when).unwrap_or_default(),
        }
    }
}

/// The start of a linked file, as a file's page previews it; read through the link's gate.
async fn preview_of(state: &AppState, o: &Opened, path: &str, data: &[u8]) -> Preview {
    use super::file::{preview, read_head, PREVIEW_BYTES};
    let pointer = strata_lfs::pointer::lenient(data);
    if o.gated
        .read_file(state, path, None, pointer.as_ref())
        .await
        .is_err()
    {
        return Preview::None("Download the file to see it.".into());
    }
    match pointer {
        Some(p) => match read_head(state, o.gated.id, &p.oid, p.size).await {
            Ok(bytes) => preview(path, &bytes, p.size > bytes.len() as u64),
            Err(why) => Preview::None(why),
        },
        None => {
            let n = data.len().min(PREVIEW_BYTES as usize);
            preview(path, &data[..n], data.len() > n)
        }
    }
}

/// Opens the link for this request, or answers instead (rate limit, unknown link).
async fn opened(state: &AppState, secret: &str) -> ApiResult<Opened> {
    let ip = strata_core::context::current().ip;
    if !state.http().link_requests.allow(&ip) {
        return Err(Error::too_many("too many requests: wait a minute, then try again").into());
    }
    Ok(links::open(state, secret).await?)
}

/// Whether the visitor gave the link's password (or it has none).
fn unlocked(headers: &HeaderMap, secret: &str, o: &Opened) -> bool {
    let Some(expected) = links::unlock_token(secret, &o.link) else {
        return true;
    };
    cookies::get(headers, COOKIE).is_some_and(|v| secrets::same(&v, &expected))
}

/// The dataset path of `rel` inside the link.
fn target(o: &Opened, rel: &str) -> ApiResult<String> {
    let rel = rel.trim_matches('/');
    check_path(rel)?;
    Ok(match (o.link.path.as_str(), rel) {
        (base, "") => base.to_owned(),
        ("", rel) => rel.to_owned(),
        (base, rel) => format!("{base}/{rel}"),
    })
}

fn title_of(o: &Opened) -> String {
    match o.link.path.rsplit('/').next() {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => o.gated.name.clone(),
    }
}

/// An error of a link page as a page.
fn as_page(result: ApiResult<Response>) -> Response {
    result.unwrap_or_else(|e| {
        if e.status.is_server_error() {
            return e.into_response();
        }
        super::layout::error_page(
            e.status,
            Chrome::new("Shared link", None, "link"),
            &e.message,
        )
    })
}

/// `GET /s/{secret}`.
pub async fn show(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    Query(q): Query<LinkQuery>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    as_page(show_page(&state, secret, q, pairs, &headers).await)
}

async fn show_page(
    state: &AppState,
    secret: String,
    q: LinkQuery,
    pairs: Vec<(String, String)>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let state = state.clone();
    let o = opened(&state, &secret).await?;
    let mut page = LinkPage::new(&o, secret.clone());
    if !unlocked(headers, &secret, &o) {
        page.needs_password = true;
        return Ok(render(StatusCode::OK, &page));
    }
    let rel = q.path.as_deref().unwrap_or("").trim_matches('/').to_owned();
    let path = target(&o, &rel)?;
    let page_no = q.page.unwrap_or(1).max(1);
    let skip = (page_no - 1).saturating_mul(PAGE);
    let p = path.clone();
    let found = git_on(&state, &o.gated, move |ms, ds| {
        match ms.stat(ds, None, &p)? {
            Some(true) => {
                let keep = |path: &str| path.rsplit('/').next() == Some(KEEP);
                Ok(Some(Ok(ms.list_dir(ds, None, &p, skip, PAGE, keep)?.1)))
            }
            Some(false) => Ok(Some(Err(ms.read_file(ds, None, &p)?))),
            None => Ok(None),
        }
    })
    .await;
    let found = match found {
        Ok(Some(f)) => f,
        Ok(None) | Err(_) => {
            return Err(ApiError::not_found(format!("{rel:?} is not in this link")))
        }
    };
    page.up = (!rel.is_empty()).then(|| rel.rsplit_once('/').map_or("", |(u, _)| u).to_owned());
    let base = o.link.path.len() + usize::from(!o.link.path.is_empty());
    match found {
        Ok(listing) => {
            page.total = listing.total;
            page.page = page_no;
            page.more = listing.total > skip + PAGE;
            page.items = listing
                .entries
                .into_iter()
                .map(|e| Item {
                    size: if e.folder {
                        "folder".into()
                    } else {
                        human_size(e.lfs.as_ref().map_or(e.size, |p| p.size))
                    },
                    rel: e.path.get(base..).unwrap_or_default().to_owned(),
                    name: e.name,
                    folder: e.folder,
                })
                .collect();
        }
        Err(data) => {
            let size = strata_lfs::pointer::lenient(&data).map_or(data.len() as u64, |p| p.size);
            let url = if rel.is_empty() {
                format!("/s/{secret}/raw")
            } else {
                format!("/s/{secret}/raw/{}", super::forms::path_url(&rel))
            };
            let here = format!("/s/{secret}");
            page.viewer = super::table_view::viewer(&state, &o.gated, &path, &here, pairs).await;
            if page.viewer.as_ref().is_none_or(|v| v.headings.is_empty()) {
                page.image = super::file::is_image(&path);
                if !page.image {
                    page.preview = Some(preview_of(&state, &o, &path, &data).await);
                }
            }
            page.file = Some((human_size(size), url));
        }
    }
    page.rel = rel;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

/// `POST /s/{secret}`: the link's password; remembered for this link in a cookie.
pub async fn unlock(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    body: Body,
) -> Response {
    as_page(unlock_page(state, secret, body).await)
}

async fn unlock_page(state: AppState, secret: String, body: Body) -> ApiResult<Response> {
    let o = opened(&state, &secret).await?;
    let form: PasswordForm = read_form(body).await?;
    let Some(token) = links::unlock_token(&secret, &o.link) else {
        return Ok(see_other(&format!("/s/{secret}"), &[]));
    };
    if !links::check_password(&state, &o.link, form.password).await? {
        let mut page = LinkPage::new(&o, secret);
        page.chrome = page.chrome.error("That is not the password.");
        page.needs_password = true;
        return Ok(render(StatusCode::FORBIDDEN, &page));
    }
    let here = format!("/s/{secret}");
    let secure = state.settings.cookie_secure();
    let cookie = cookies::set(COOKIE, &token, &here, SameSite::Lax, 43200, secure);
    Ok(see_other(&here, &[cookie]))
}

/// The link of `secret`, opened for this request (its password given, when it has one), and
/// the dataset path of `rel` inside it.
pub(super) async fn reach(
    state: &AppState,
    secret: &str,
    rel: Option<&str>,
    headers: &HeaderMap,
) -> ApiResult<(Opened, String)> {
    let o = opened(state, secret).await?;
    if !unlocked(headers, secret, &o) {
        return Err(ApiError::forbidden(
            "this link has a password: open the link and give it first",
        ));
    }
    let path = target(&o, rel.unwrap_or(""))?;
    Ok((o, path))
}

/// `GET /s/{secret}/raw` and `/s/{secret}/raw/{*path}`: a file's bytes.
pub async fn raw(
    State(state): State<AppState>,
    Path(parts): Path<Vec<(String, String)>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let get = |k: &str| {
        parts
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let secret = get("secret");
    let (o, path) = reach(&state, &secret, Some(&get("path")), &headers).await?;
    let file = path.clone();
    let data = git_on(&state, &o.gated, move |ms, ds| {
        ms.read_file(ds, None, &file)
    })
    .await
    .map_err(|_| ApiError::not_found("no such file in this link"))?;
    serve_file(&state, &o.gated, &path, None, data, &headers).await
}
