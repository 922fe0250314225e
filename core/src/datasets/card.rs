//! A dataset's card: what lists and its page show of it besides its files. From its
//! datapackage: title, description, licence and keywords, completed by its README's YAML front
//! matter (licence, tags, languages, size category, pretty name: [`super::front`]) where the
//! datapackage says nothing (its text is not kept: the page reads it through the read gate); the
//! columns its tables declare; from its default branch's head: when
//! it last changed, how many files it holds and their size (LFS files at their objects' size).
//! Worked out once per head commit and kept ([`Cards`]), so a list of datasets reads git only
//! for those that changed. Editing them is `crate::drive::card`'s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::datasets::git_on;
use crate::db::Repo;
use crate::error::{Kind, Result};
use crate::Core;

/// What a list or a dataset's page shows of a dataset.
#[derive(Debug, Clone, Default)]
pub struct Card {
    pub title: String,
    pub description: String,
    /// The first licence's name (its identifier), or its title.
    pub licence: String,
    pub keywords: Vec<String>,
    /// From the README's front matter.
    pub languages: Vec<String>,
    pub size_category: String,
    /// The columns the datapackage's tables declare, by name (for the search).
    pub columns: Vec<String>,
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
        let readme = files
            .iter()
            .find(|f| f.path.eq_ignore_ascii_case("readme.md"))
            .map(|f| (f.path.clone(), f.lfs));
        // What the dataset holds for its readers: its data, not git's plumbing or the datapackage.
        let data = files
            .iter()
            .filter(|f| !crate::datasets::paths::plumbing(&f.path, true));
        for f in data {
            card.files += 1;
            card.size += f.lfs.as_ref().map_or(f.size, |p| p.size);
        }
        let text = match &readme {
            Some((path, None)) => ms
                .read_file_upto(ds, Some(&head), path, super::front::README_LIMIT)?
                .1
                .and_then(|d| String::from_utf8(d).ok()),
            _ => None,
        };
        Ok((card, text, readme.and_then(|r| r.1)))
    })
    .await?;
    let (mut card, text, stored) = card;
    let text = match (text, stored) {
        (Some(t), _) => Some(t),
        (None, Some(p)) => super::front::stored_text(core, repo.id, &p).await,
        (None, None) => None,
    };
    if let Some(text) = text {
        // Only the front matter's fields, metadata as the datapackage's are: the README's text
        // is read through the read gate, on the dataset's page.
        with_front(&mut card, &super::front::of(&text));
    }
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

/// `card` completed by a README's front matter: its licence and pretty name where the
/// datapackage has none, its tags after the keywords, its languages and size category.
pub fn with_front(card: &mut Card, front: &super::front::Front) {
    if card.licence.is_empty() {
        card.licence = front.licence.clone();
    }
    if card.title.is_empty() {
        card.title = front.pretty_name.clone();
    }
    for t in &front.tags {
        if !card.keywords.contains(t) {
            card.keywords.push(t.clone());
        }
    }
    card.languages = front.languages.clone();
    card.size_category = front.size.clone();
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
    let columns = json
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.pointer("/schema/fields")?.as_array())
        .flatten()
        .filter_map(|f| f.get("name")?.as_str().map(str::to_owned))
        .take(1000)
        .collect();
    Card {
        columns,
        title: text("title"),
        description: text("description"),
        licence,
        keywords,
        ..Card::default()
    }
}
