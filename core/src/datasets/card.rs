//! A dataset's card: what lists and its page show of it besides its files. From its
//! datapackage: title, description, licence and keywords; from its default branch's head: when
//! it last changed, how many files it holds and their size (LFS files at their objects' size).
//! Worked out once per head commit and kept ([`Cards`]), so a list of datasets reads git only
//! for those that changed. [`describe`] edits the datapackage's fields as one commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use strata_metastore::{Op, Package, Revision, DATAPACKAGE};

use super::commit::{commit, Change};
use super::gate::Gated;
use super::git_on;
use crate::auth::Principal;
use crate::db::Repo;
use crate::error::{Error, Kind, Result};
use crate::Core;

/// What a list or a dataset's page shows of a dataset.
#[derive(Debug, Clone, Default)]
pub struct Card {
    pub title: String,
    pub description: String,
    /// The first licence's name (its identifier), or its title.
    pub licence: String,
    pub keywords: Vec<String>,
    /// When the default branch's head was made (unix seconds).
    pub updated_at: i64,
    pub files: usize,
    pub size: u64,
}

/// Cards worked out lately, by dataset and head commit (a commit never changes).
#[derive(Default)]
pub struct Cards(Mutex<HashMap<(i64, String), Arc<Card>>>);

impl std::fmt::Debug for Cards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("card::Cards")
    }
}

/// Cards kept at most (a few hundred bytes each).
const KEPT: usize = 4096;

impl Cards {
    fn get(&self, key: &(i64, String)) -> Option<Arc<Card>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).cloned()
    }

    fn put(&self, key: (i64, String), card: Arc<Card>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= KEPT {
            map.clear();
        }
        map.insert(key, card);
    }
}

/// The card of `repo` at its default branch's head; `None` before its first commit. The caller
/// must already be allowed to read the whole dataset (a list of datasets it may see).
pub async fn card(core: &Core, repo: &Repo) -> Result<Option<Arc<Card>>> {
    let head = match git_on(core, repo, |ms, ds| ms.resolve(ds, None)).await {
        Ok(id) => id.to_string(),
        Err(e) if e.kind == Kind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let key = (repo.id, head.clone());
    if let Some(card) = core.cards.get(&key) {
        return Ok(Some(card));
    }
    let card = git_on(core, repo, move |ms, ds| {
        let (revision, package) = ms.fetch_any(ds, Some(&head))?;
        let (_, files) = ms.tree(ds, Some(&head))?;
        let mut card = package.map(|p| of_package(&p.json)).unwrap_or_default();
        card.updated_at = revision.time;
        // What the dataset holds for its readers: its data, not git's plumbing or the datapackage.
        let data = files
            .iter()
            .filter(|f| !super::files::plumbing(&f.path, true));
        for f in data {
            card.files += 1;
            card.size += f.lfs.as_ref().map_or(f.size, |p| p.size);
        }
        Ok(card)
    })
    .await?;
    let card = Arc::new(card);
    core.cards.put(key, card.clone());
    Ok(Some(card))
}

/// The cards of `repos`, in their order. A dataset whose card cannot be read (its repository
/// damaged) is listed without one, and logged: one dataset never takes a list down.
pub async fn cards(core: &Core, repos: &[Repo]) -> Vec<Option<Arc<Card>>> {
    let mut out = Vec::with_capacity(repos.len());
    for r in repos {
        out.push(card(core, r).await.unwrap_or_else(|e| {
            tracing::error!(dataset = %r.path(), error = %e, "a dataset's card could not be read");
            None
        }));
    }
    out
}

/// The card fields of a datapackage.
pub fn of_package(json: &serde_json::Map<String, Value>) -> Card {
    let text = |k: &str| {
        json.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    let licence = json
        .get("licenses")
        .and_then(Value::as_array)
        .and_then(|l| l.first())
        .and_then(|l| {
            l.get("name")
                .or_else(|| l.get("title"))
                .and_then(Value::as_str)
        })
        .unwrap_or("")
        .to_owned();
    let keywords = json
        .get("keywords")
        .and_then(Value::as_array)
        .map(|k| {
            k.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Card {
        title: text("title"),
        description: text("description"),
        licence,
        keywords,
        ..Card::default()
    }
}

/// A card's fields as a person edits them.
#[derive(Debug, Clone, Default)]
pub struct Describe {
    pub title: String,
    pub description: String,
    /// A licence's name (an SPDX identifier such as `CC-BY-4.0`), empty for none.
    pub licence: String,
    /// Keywords, separated by commas.
    pub keywords: String,
    /// The revision the form showed: a change made since is a conflict, not overwritten.
    pub parent: String,
}

const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 20_000;
const MAX_KEYWORDS: usize = 50;
const MAX_KEYWORD: usize = 100;

/// Sets the title, description, licence and keywords in the datapackage of the default branch,
/// as one commit on top of `d.parent`. Empty fields are removed. A dataset without a
/// datapackage gets one with no resources.
pub async fn describe(core: &Core, who: &Principal, repo: &Gated, d: Describe) -> Result<Revision> {
    let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let title = one_line(&d.title);
    let description = d.description.trim().replace("\r\n", "\n");
    let licence = d.licence.trim().to_owned();
    let keywords: Vec<String> = d
        .keywords
        .split(',')
        .map(one_line)
        .filter(|k| !k.is_empty())
        .collect();
    if title.chars().count() > MAX_TITLE {
        return Err(Error::unprocessable(format!(
            "a title is at most {MAX_TITLE} characters"
        )));
    }
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(Error::unprocessable(format!(
            "a description is at most {MAX_DESCRIPTION} characters"
        )));
    }
    if keywords.len() > MAX_KEYWORDS || keywords.iter().any(|k| k.chars().count() > MAX_KEYWORD) {
        return Err(Error::unprocessable(format!(
            "at most {MAX_KEYWORDS} keywords of at most {MAX_KEYWORD} characters each"
        )));
    }
    if repo.name == super::DRIVE {
        return Err(Error::unprocessable(
            "a drive has no card: its files are all it holds",
        ));
    }
    let parent = d.parent.trim().to_owned();
    if parent.is_empty() {
        return Err(Error::unprocessable(
            "the revision the card was edited on is missing (parent)",
        ));
    }
    // Resolved once: the fields are read at, and the commit is built on, that very commit (a
    // branch name sent as the parent could move in between).
    let (name, at) = (repo.name.clone(), parent.clone());
    let (parent, mut json) = git_on(core, repo, move |ms, ds| {
        let id = ms.resolve(ds, Some(&at))?.to_string();
        let (_, package) = ms.fetch_any(ds, Some(&id))?;
        let json =
            package.map(|p| p.json).unwrap_or_else(
                || match json!({"name": name, "resources": []}) {
                    Value::Object(m) => m,
                    _ => unreachable!("a JSON object literal"),
                },
            );
        Ok((id, json))
    })
    .await?;
    // Fields sent back as the form showed them stay as they are in the datapackage (keywords
    // holding commas, a title on two lines).
    let before = of_package(&json);
    let title_kept = one_line(&before.title) == title;
    let description_kept = before.description.replace("\r\n", "\n") == description;
    let keywords_kept = before
        .keywords
        .join(",")
        .split(',')
        .map(one_line)
        .filter(|k| !k.is_empty())
        .eq(keywords.iter().cloned());
    // A licence kept as it was stays as it was (with its title and path); a new one is named.
    let same_licence = of_package(&json).licence == licence;
    if !same_licence && (licence.len() > MAX_KEYWORD || licence.chars().any(char::is_whitespace)) {
        return Err(Error::unprocessable(
            "a licence is its identifier, such as CC-BY-4.0 or ODbL-1.0 (no spaces)",
        ));
    }
    let mut set = |key: &str, value: Option<Value>| match value {
        Some(v) => {
            json.insert(key.to_owned(), v);
        }
        None => {
            json.remove(key);
        }
    };
    if !title_kept {
        set("title", (!title.is_empty()).then(|| json!(title)));
    }
    if !description_kept {
        set(
            "description",
            (!description.is_empty()).then(|| json!(description)),
        );
    }
    if !keywords_kept {
        set("keywords", (!keywords.is_empty()).then(|| json!(keywords)));
    }
    if !same_licence {
        set(
            "licenses",
            (!licence.is_empty()).then(|| json!([{ "name": licence }])),
        );
    }
    let package = Package::from_json(Value::Object(json))?;
    let change = Change {
        summary: "Describe the dataset".into(),
        parent: Some(parent),
        ops: vec![Op::Put {
            path: DATAPACKAGE.into(),
            data: package.to_bytes(),
        }],
        ..Change::default()
    };
    commit(core, who, repo, change).await
}
