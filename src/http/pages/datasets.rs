//! The dataset browser: a dataset's files at any revision (one folder at a time, paged, so a
//! folder of many files costs one tree read; sizes, its datapackage's resources, the clone URL), a file's page with a bounded preview (CSV/TSV as a table, JSON and
//! text as text) and download, and the history with paging and a path filter. Every page asks
//! the same read gate as the REST API (`super::reader`); a stranger is sent to sign in, and
//! a private dataset looks missing to those who may not read it.

use super::show::{failed, human_size, when};
use askama::Template;
use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use strata_metastore::Revision;

use super::layout::{render, Chrome};
use super::reader::{Item, Reader};
use crate::http::error::ApiResult;
use crate::http::state::AppState;
use strata_core::auth::Action;
use strata_core::datasets::front::README_LIMIT;
use strata_core::datasets::gate::Gated;
use strata_core::datasets::git_on;

/// Revisions per history page.
const HISTORY_PAGE: usize = 50;
/// Branches, and tags, the dataset page's switcher lists at most.
const SWITCHER: usize = 30;
/// Entries per page of a folder listing.
const LISTING_PAGE: usize = 200;

#[derive(Deserialize, Default)]
pub struct BrowseQuery {
    pub(super) rev: Option<String>,
    /// A folder of the tree (overview) or a path filter (history).
    path: Option<String>,
    cursor: Option<String>,
    /// The page of a folder listing, from 1.
    page: Option<usize>,
    /// `grid`: the folder as a grid of thumbnails (else a list).
    view: Option<String>,
    /// What was just done, for its notice (`card`: the card was saved).
    pub(super) done: Option<String>,
    /// The revision a file manager change just made: its notice, and the way to undo it.
    pub(super) undo: Option<String>,
    /// Set after an undo.
    pub(super) undone: Option<String>,
    /// What was typed in the file manager's name field before a refusal.
    to: Option<String>,
}

/// A revision as the pages show it.
pub(super) struct RevisionRow {
    pub(super) id: String,
    pub(super) short: String,
    pub(super) summary: String,
    pub(super) author: String,
    pub(super) date: String,
}

impl From<Revision> for RevisionRow {
    fn from(r: Revision) -> RevisionRow {
        RevisionRow {
            short: r.id.chars().take(10).collect(),
            summary: r.message.lines().next().unwrap_or("").to_owned(),
            author: r.author.name,
            date: when(r.time),
            id: r.id,
        }
    }
}

/// One line of a folder listing.
struct Entry {
    name: String,
    /// Path of the file, or of the folder.
    path: String,
    folder: bool,
    lfs: bool,
    size: String,
    /// When it last changed, and by whom (empty when that is further back than the page looks).
    modified: String,
    by: String,
    /// With whom it is shared (`""`: nobody), for those who manage the dataset's sharing.
    shared: String,
    /// For the grid: a thumbnail is shown (an image), or else this label of its kind.
    thumbnail: bool,
    badge: String,
}

/// What the grid shows of a file that is no image: its kind, in a word.
fn badge(name: &str, folder: bool) -> String {
    if folder {
        return "Folder".into();
    }
    match name.rsplit_once('.') {
        Some((_, ext)) if (1..=4).contains(&ext.len()) => ext.to_ascii_uppercase(),
        _ => "File".into(),
    }
}

/// Commits the "Modified" column looks back through.
const MODIFIED_DEPTH: usize = 2000;

/// The paths of a dataset shared with people, teams or by link, each with whom, for those who
/// manage its sharing (nobody else is told).
async fn shared_paths(state: &AppState, repo: &Gated) -> Vec<(String, String)> {
    use strata_core::sharing::links;
    use strata_core::sharing::shares;
    if repo.limited() || !repo.allows(strata_core::auth::On::Dataset, Action::Admin) {
        return Vec::new();
    }
    let mut out: Vec<(String, String)> = shares::list(state, repo)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.live())
        .map(|s| (s.path, s.grantee))
        .collect();
    out.extend(
        links::list(state, repo)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.live())
            .map(|l| (l.path, "a link".to_owned())),
    );
    out
}

/// Whom the item at `path` is shared with, itself or through a folder above it.
fn shared_with(shared: &[(String, String)], path: &str) -> String {
    let mut whom: Vec<&str> = shared
        .iter()
        .filter(|(p, _)| {
            p.is_empty()
                || p == path
                || path
                    .strip_prefix(p.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        })
        .map(|(_, w)| w.as_str())
        .collect();
    whom.sort_unstable();
    whom.dedup();
    whom.join(", ")
}

#[derive(Template)]
#[template(path = "dataset.html")]
struct DatasetPage {
    chrome: Chrome,
    path: String,
    clone_url: String,
    /// The revision asked for (`?rev=`), empty for the default branch.
    rev: String,
    head: Option<RevisionRow>,
    /// The folder shown, `""` at the root, and the way to it.
    folder: String,
    crumbs: Vec<Crumb>,
    entries: Vec<Entry>,
    /// Of the folder's entries: how many, which page, and whether more follow.
    total: usize,
    page: usize,
    first: usize,
    more: bool,
    description: String,
    /// The datapackage's card fields, as the edit form shows them.
    card: strata_core::datasets::card::Card,
    /// The folder's `README.md`, rendered (`super::markdown`).
    readme: Option<String>,
    /// At a dataset's root: its table viewer and the ways to use it.
    front: Option<super::front::Front>,
    /// The file manager's name field as typed before a refusal.
    typed_to: String,
    /// The folder shown as a grid of thumbnails (`?view=grid`), not a list.
    grid: bool,
    /// The visitor starred this folder (the whole dataset at its root).
    starred: bool,
    /// Branches (`true`) and tags to switch to, at most [`SWITCHER`] of each.
    branches: Vec<String>,
    tags_list: Vec<String>,
    /// More refs than the switcher shows.
    more_refs: bool,
    /// The change just made (`?undo=`), when it is the visitor's and still the head.
    undo: Option<super::undo::Undo>,
    /// The branch the page's forms write (`""`: the default branch).
    branch: String,
    /// Whether the card may be edited here (a writer, at the root of the default branch).
    edit_card: bool,
    /// Catalog tags of the dataset (`name` or `name: value`) and its geography.
    tags: Vec<String>,
    geography: String,
    /// Resources: name, path, size, and the tags of its columns (`PII: a, b`).
    resources: Vec<(String, String, String, String)>,
    /// Whether the visitor administers the dataset (the settings link).
    admin: bool,
    /// Whether the visitor may change this folder (the file manager's forms).
    writer: bool,
    /// Whether the visitor reaches only what is shared with them (no history, no clone).
    limited: bool,
    /// A drive: a file manager, without the datapackage's resources.
    drive: bool,
    /// The dataset's owner, and whether that is the visitor (a drive's "Owner" column).
    owner: String,
    own: bool,
    /// The browser upload's module, worker and sha256 (hashed URLs), when files may go straight
    /// to storage (not through a share, and on a backend that takes multipart uploads).
    upload: Option<[String; 3]>,
    /// On the visitor's own drive: what their datasets store, against their quota.
    storage: Option<String>,
    /// Whether the browser stages its uploads (`/api/v1/datasets/…/uploads`) instead of hashing.
    staged: bool,
    /// The remote it follows, when it is a mirror.
    mirror: Option<super::mirror::Banner>,
}

/// `GET /datasets/{ns}/{name}?rev=&path=`: the files of a folder at a revision.
pub async fn show(
    State(state): State<AppState>,
    Query(q): Query<BrowseQuery>,
    RawQuery(raw): RawQuery,
    Reader {
        session: s, repo, ..
    }: Reader<Item>,
) -> ApiResult<Response> {
    let folder = q.path.as_deref().unwrap_or("").trim_matches('/').to_owned();
    let title = repo.path();
    let page_no = q.page.unwrap_or(1).max(1);
    let skip = (page_no - 1).saturating_mul(LISTING_PAGE);
    if let Err(e) = repo.check_rev(q.rev.as_deref()) {
        return Ok(failed(s.as_ref(), &repo.path(), e));
    }
    let (rev, dir) = (q.rev.clone(), folder.clone());
    let drive = repo.name == strata_core::datasets::DRIVE;
    // Who changed what when is history, which a share does not reach.
    let dated = !repo.limited();
    let fetched = git_on(&state, &repo, move |ms, ds| {
        match ms.fetch(ds, rev.as_deref()) {
            Ok((revision, package)) => {
                // Pages and counts leave out the files the page hides.
                let (_, listing) =
                    ms.list_dir(ds, Some(&revision.id), &dir, skip, LISTING_PAGE, |p| {
                        strata_core::datasets::paths::plumbing(p, drive)
                    })?;
                let readme = readme_of(ms, ds, &revision.id, &dir, &listing)?;
                let names: Vec<String> = listing.entries.iter().map(|e| e.name.clone()).collect();
                let changed = match dated {
                    true => ms.last_changed(ds, &revision.id, &dir, &names, MODIFIED_DEPTH)?,
                    false => Default::default(),
                };
                let mut refs: Vec<(String, bool)> = ms
                    .branches(ds)?
                    .into_iter()
                    .map(|(b, _)| (b, true))
                    .collect();
                refs.extend(ms.tags(ds)?.into_iter().map(|t| (t.name, false)));
                Ok(Some((revision, package, listing, readme, refs, changed)))
            }
            Err(strata_metastore::Error::NotFound(_)) if rev.is_none() => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await;
    let fetched = match fetched {
        Ok(f) => f,
        Err(e) => return Ok(failed(s.as_ref(), &title, e)),
    };
    let (head, entries, total, description, resources, catalog, card, readme, refs) = match fetched
    {
        None => (
            None::<RevisionRow>,
            Vec::new(),
            0,
            String::new(),
            Vec::new(),
            None,
            Default::default(),
            None,
            Vec::new(),
        ),
        Some((revision, package, listing, readme, refs, changed)) => {
            let mut card = strata_core::datasets::card::of_package(&package.json);
            // The README is read as its file page would be: through the same read gate.
            let readme = match readme {
                Some((p, found)) => {
                    let pointer = match &found {
                        Readme::Lfs(pointer) => Some(*pointer),
                        Readme::Text(_) => None,
                    };
                    let gate = repo.read_file(&state, &p, q.rev.as_deref(), pointer.as_ref());
                    let text = match (gate.await, found) {
                        (Err(_), _) => None,
                        (Ok(()), Readme::Text(text)) => Some(text),
                        (Ok(()), Readme::Lfs(pointer)) => {
                            strata_core::datasets::front::stored_text(&state, repo.id, &pointer)
                                .await
                        }
                    };
                    if let (Some(text), true) = (&text, folder.is_empty()) {
                        let front = strata_core::datasets::front::of(text);
                        strata_core::datasets::card::with_front(&mut card, &front);
                    }
                    text.map(|text| {
                        let base = super::markdown::Base {
                            dataset: &title,
                            folder: &folder,
                            rev: q.rev.as_deref(),
                        };
                        super::markdown::render(&text, &base)
                    })
                }
                None => None,
            };
            let catalog = strata_core::datasets::catalog::Catalog::read(&title, &package.json);
            let description = ["title", "description"]
                .iter()
                .filter_map(|k| package.json.get(*k).and_then(|v| v.as_str()))
                .collect::<Vec<_>>()
                .join(" — ");
            let resources = package
                .resources
                .iter()
                .map(|r| {
                    let tagged = catalog
                        .table(&r.name)
                        .map(strata_core::datasets::catalog::column_tags)
                        .unwrap_or_default();
                    (r.name.clone(), r.path.clone(), human_size(r.size), tagged)
                })
                .collect();
            let shared = shared_paths(&state, &repo).await;
            let entries = listing
                .entries
                .into_iter()
                .map(|e| {
                    let last = changed.get(&e.name);
                    Entry {
                        size: if e.folder {
                            "folder".into()
                        } else {
                            human_size(e.lfs.as_ref().map_or(e.size, |p| p.size))
                        },
                        lfs: e.lfs.is_some(),
                        modified: last.map(|c| when(c.time)).unwrap_or_default(),
                        by: last.map(|c| c.author.clone()).unwrap_or_default(),
                        shared: shared_with(&shared, &e.path),
                        thumbnail: !e.folder
                            && super::file::is_image(&e.name)
                            && e.lfs.as_ref().map_or(e.size, |p| p.size)
                                <= strata_core::drive::thumbnails::SOURCE_MAX,
                        badge: badge(&e.name, e.folder),
                        name: e.name,
                        path: e.path,
                        folder: e.folder,
                    }
                })
                .collect();
            (
                Some(revision.into()),
                entries,
                listing.total,
                description,
                resources,
                Some(catalog),
                card,
                readme,
                refs,
            )
        }
    };
    let tags = catalog
        .as_ref()
        .map(|c| strata_core::datasets::catalog::tag_words(&c.tags))
        .unwrap_or_default();
    let geography = catalog.and_then(|c| c.geography).unwrap_or_default();
    let first = skip.min(total);
    let more = total > first + LISTING_PAGE;
    // Writable: the default branch, or another branch (not a tag or a commit) for those who
    // reach the whole dataset.
    let branch = q
        .rev
        .as_deref()
        .filter(|r| !repo.limited() && refs.iter().any(|(b, is_branch)| *is_branch && b == r));
    let writer = (q.rev.is_none() || branch.is_some()) && repo.writes(&folder);
    let limited = repo.limited();
    // Through strata, hashed as the parts arrive (whole-dataset writers), unless the server
    // sends browsers straight to the bucket (`--browser-uploads direct`).
    let staged = !limited
        && state.storage.stages()
        && state.settings.browser_uploads == strata_core::config::BrowserUploads::Staged
        && repo.allows(strata_core::auth::On::Dataset, Action::Write);
    let own_drive = repo.name == strata_core::datasets::DRIVE
        && s.as_ref()
            .is_some_and(|s| s.user.username.eq_ignore_ascii_case(&repo.namespace));
    let nav = if own_drive { "drive" } else { "datasets" };
    let edit_card = writer && folder.is_empty() && !limited && !drive && head.is_some();
    let who = crate::http::extract::visitor(s.as_ref())?;
    let starred = strata_core::drive::marks::is_starred(&state, &who, &repo, &folder, true).await;
    let mut chrome = Chrome::new(title.clone(), s.as_ref(), nav);
    if q.done.as_deref() == Some("card") {
        chrome = chrome.notice("The card is saved.");
    }
    if q.undone.is_some() {
        chrome = chrome.notice("Undone.");
    }
    let here_url = super::files::folder_on(&repo.namespace, &repo.name, &folder, branch);
    let undo = match (&q.undo, &head, &s) {
        (Some(id), Some(_), Some(s)) if writer => {
            let on = (here_url.as_str(), branch.unwrap_or_default());
            super::undo::undo_of(&state, &repo, id, &s.user.username, on).await
        }
        _ => None,
    };
    let branch = branch.unwrap_or_default().to_owned();
    let storage = match own_drive {
        true => Some(super::settings::storage_line(&state, &repo.namespace).await?),
        false => None,
    };
    let front = match folder.is_empty() && !limited && !drive && head.is_some() {
        true => {
            let pairs =
                serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
            Some(super::front::front(&state, &repo, q.rev.as_deref(), pairs).await)
        }
        false => None,
    };
    let mirror = strata_core::mirrors::of(&state, &repo)
        .await?
        .map(|m| super::mirror::banner(&m));
    let page = DatasetPage {
        grid: q.view.as_deref() == Some("grid"),
        starred,
        typed_to: q.to.clone().unwrap_or_default(),
        front,
        storage,
        chrome,
        total,
        page: page_no,
        first: first + 1,
        more,
        clone_url: format!("{}/{title}.git", state.settings.public_url),
        path: title,
        rev: q.rev.unwrap_or_default(),
        head,
        crumbs: crumbs(&repo, &folder),
        folder,
        entries,
        description,
        edit_card,
        more_refs: refs.iter().filter(|(_, b)| *b).count() > SWITCHER
            || refs.iter().filter(|(_, b)| !*b).count() > SWITCHER,
        branches: refs
            .iter()
            .filter(|(_, b)| *b)
            .take(SWITCHER)
            .map(|(r, _)| r.clone())
            .collect(),
        tags_list: refs
            .iter()
            .filter(|(_, b)| !*b)
            .take(SWITCHER)
            .map(|(r, _)| r.clone())
            .collect(),
        undo,
        branch,
        card,
        readme,
        tags,
        geography,
        resources,
        admin: repo.allows(strata_core::auth::On::Dataset, Action::Admin),
        writer,
        limited,
        drive,
        owner: repo.namespace.clone(),
        own: s
            .as_ref()
            .is_some_and(|s| s.user.username.eq_ignore_ascii_case(&repo.namespace)),
        upload: (!limited && (state.storage.multipart() || staged))
            .then(crate::http::assets::upload),
        staged,
        mirror,
    };
    Ok(render(StatusCode::OK, &page))
}

/// The path and text of the `README.md` (any case) of the folder `listing` shows, if it has one
/// of at most [`README_LIMIT`] bytes of UTF-8, kept in git or (uploaded through the browser or
/// git-lfs) in storage.
fn readme_of(
    ms: &strata_metastore::Metastore,
    ds: strata_metastore::DatasetId<'_>,
    rev: &str,
    folder: &str,
    listing: &strata_metastore::DirListing,
) -> strata_metastore::Result<Option<(String, Readme)>> {
    // The page's entries, or in a folder of several pages the usual name.
    let path = match listing
        .entries
        .iter()
        .find(|e| !e.folder && e.name.eq_ignore_ascii_case("readme.md"))
    {
        // Uploaded through the browser (or git-lfs): its bytes are in storage.
        Some(e) => match &e.lfs {
            Some(p) if p.size <= README_LIMIT => {
                return Ok(Some((e.path.clone(), Readme::Lfs(*p))))
            }
            Some(_) => return Ok(None),
            None => e.path.clone(),
        },
        None if folder.is_empty() => "README.md".to_owned(),
        None => format!("{folder}/README.md"),
    };
    let data = match ms.read_file_upto(ds, Some(rev), &path, README_LIMIT) {
        Ok((_, data)) => data,
        Err(strata_metastore::Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(data
        .filter(|d| strata_lfs::pointer::lenient(d).is_none())
        .and_then(|d| String::from_utf8(d).ok())
        .map(|text| (path, Readme::Text(text))))
}

/// A folder's README: its text from git, or the pointer of its bytes in storage.
enum Readme {
    Text(String),
    Lfs(strata_lfs::pointer::Pointer),
}

/// A step of a breadcrumb: a folder (the dataset's root has the path `""`), and whether the
/// visitor may open it (a share reaches its own folder and what is inside, not the folders above).
pub(super) struct Crumb {
    pub(super) name: String,
    pub(super) path: String,
    pub(super) open: bool,
}

/// The breadcrumb of `folder`: the dataset's root, then each folder down to `folder`.
pub(super) fn crumbs(repo: &Gated, folder: &str) -> Vec<Crumb> {
    let mut out = vec![Crumb {
        name: repo.path(),
        path: String::new(),
        open: repo.covers(""),
    }];
    let mut path = String::new();
    for part in folder.split('/').filter(|p| !p.is_empty()) {
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(part);
        out.push(Crumb {
            name: part.to_owned(),
            open: repo.covers(&path),
            path: path.clone(),
        });
    }
    out
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    chrome: Chrome,
    dataset: String,
    rev: String,
    filter: String,
    revisions: Vec<RevisionRow>,
    /// The link to the next page.
    next: Option<String>,
}

/// `GET /datasets/{ns}/{name}/history?rev=&path=&cursor=`: revisions, newest first.
pub async fn history(
    State(state): State<AppState>,
    Query(q): Query<BrowseQuery>,
    Reader {
        session: s, repo, ..
    }: Reader,
) -> ApiResult<Response> {
    let title = format!("History of {}", repo.path());
    let filter = q
        .path
        .as_deref()
        .map(|p| p.trim().trim_matches('/').to_owned())
        .filter(|p| !p.is_empty());
    let (rev, cursor, path) = (q.rev.clone(), q.cursor.clone(), filter.clone());
    let listed = git_on(&state, &repo, move |ms, ds| {
        ms.revisions(
            ds,
            rev.as_deref(),
            cursor.as_deref(),
            HISTORY_PAGE,
            path.as_deref(),
        )
    })
    .await;
    let (list, next_cursor) = match listed {
        Ok(found) => found,
        Err(e) => return Ok(failed(s.as_ref(), &title, e)),
    };
    let next = next_cursor.map(|c| {
        let mut pairs = vec![("cursor", c)];
        if let Some(r) = &q.rev {
            pairs.push(("rev", r.clone()));
        }
        if let Some(p) = &filter {
            pairs.push(("path", p.clone()));
        }
        format!(
            "/datasets/{}/history?{}",
            repo.path(),
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    });
    let page = HistoryPage {
        chrome: Chrome::new(title, s.as_ref(), "datasets"),
        dataset: repo.path(),
        rev: q.rev.unwrap_or_default(),
        filter: filter.unwrap_or_default(),
        revisions: list.into_iter().map(Into::into).collect(),
        next,
    };
    Ok(render(StatusCode::OK, &page))
}
