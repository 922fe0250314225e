//! What every page of a dataset starts with, as one extractor: [`Reader`], the visitor's session
//! (if any) and the route's dataset `{ns}/{name}` through the read gate, or the page to
//! answer instead: a visitor of a gated dataset without access is sent to its access page; a
//! stranger is sent to sign in and brought back; any other refusal is the error
//! page, where the content would be. A private dataset so looks missing to those who may not
//! read it. [`Shows`] says what the gate is asked for: the whole dataset ([`Whole`]), or one
//! file or folder ([`Item`], [`File`]), which whoever it is shared with may read too.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::show::failed;
use super::signed_in::{PageError, PageResult};
use crate::http::extract::{session, visitor};
use crate::http::state::AppState;
use strata_core::auth::Action;
use strata_core::datasets::gate::{self, Gated};
use strata_core::db::SessionRow;
use strata_core::error::Kind;

/// A dataset page's reader: the visitor and the dataset, through the read gate of what the page
/// shows.
pub struct Reader<R = Whole> {
    /// The visitor's session; `None` for a stranger.
    pub session: Option<SessionRow>,
    pub repo: Gated,
    shows: PhantomData<fn() -> R>,
}

/// What of its dataset a page shows, so what the read gate is asked for.
pub trait Shows {
    /// The file or folder (`route_path`: the route's `{*path}`), or `None` for the whole dataset.
    fn item(parts: &Parts, route_path: Option<&str>) -> Option<String>;
}

/// The whole dataset (its history, revisions, tags, merge requests, row changes).
pub struct Whole;

/// One file or folder: the route's `{*path}`, or else the `path` query parameter, without its
/// outer `/` (`""`: the top). The folder pages and the editor.
pub struct Item;

/// The file of the route's `{*path}`, as it is: a path that is not one is refused, not mended.
/// The file page.
pub struct File;

impl Shows for Whole {
    fn item(_: &Parts, _: Option<&str>) -> Option<String> {
        None
    }
}

impl Shows for Item {
    fn item(parts: &Parts, route_path: Option<&str>) -> Option<String> {
        #[derive(Deserialize, Default)]
        struct Folder {
            path: Option<String>,
        }
        let path = match route_path {
            Some(path) => path.to_owned(),
            None => {
                let query = parts.uri.query().unwrap_or("");
                let q: Folder = serde_urlencoded::from_str(query).unwrap_or_default();
                q.path.unwrap_or_default()
            }
        };
        Some(path.trim_matches('/').to_owned())
    }
}

impl Shows for File {
    fn item(_: &Parts, route_path: Option<&str>) -> Option<String> {
        Some(route_path.unwrap_or_default().to_owned())
    }
}

/// The route's parameters a dataset page is read from.
#[derive(Deserialize)]
struct Route {
    ns: String,
    name: String,
    #[serde(default)]
    path: Option<String>,
}

impl<R: Shows> FromRequestParts<AppState> for Reader<R> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> PageResult<Self> {
        let Path(route) = Path::<Route>::from_request_parts(parts, state)
            .await
            .map_err(|e| PageError::Answer(e.into_response()))?;
        let item = R::item(parts, route.path.as_deref());
        let s = session(state, &parts.headers).await?.map(|(_, s)| s);
        let who = visitor(s.as_ref())?;
        let (ns, name) = (route.ns.as_str(), route.name.as_str());
        let gated = match &item {
            Some(path) => gate::path(state, &who, ns, name, path, Action::Read).await,
            None => gate::dataset(state, &who, ns, name, Action::Read).await,
        };
        match gated {
            Ok(repo) => Ok(Reader {
                session: s,
                repo,
                shows: PhantomData,
            }),
            // A gated dataset the visitor may not read (yet): its access page, to ask.
            Err(e) if strata_core::sharing::access::is_gated(&e) => {
                Err(PageError::Redirect(format!("/datasets/{ns}/{name}/access")))
            }
            // Signed out: to the login page, then back to this page (its path, without a query).
            Err(e) if e.kind == Kind::Unauthenticated => {
                let next =
                    serde_urlencoded::to_string([("next", parts.uri.path())]).unwrap_or_default();
                Err(PageError::Redirect(format!("/login?{next}")))
            }
            Err(e) => Err(PageError::Answer(failed(
                s.as_ref(),
                &format!("{ns}/{name}"),
                e,
            ))),
        }
    }
}
