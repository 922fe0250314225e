//! A dataset's card edited: [`describe`] sets the title, description, licence and keywords of
//! the datapackage on the default branch as one commit; the card itself (what lists show) is read
//! by `crate::datasets::card`.

use serde_json::{json, Value};
use strata_metastore::{Op, Package, Revision, DATAPACKAGE};

use crate::auth::Principal;
use crate::commits::{commit, Change};
use crate::datasets::gate::Gated;
use crate::datasets::git_on;
use crate::error::{Error, Result};
use crate::Core;

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
    if repo.name == crate::datasets::DRIVE {
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
    let before = crate::datasets::card::of_package(&json);
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
    let same_licence = crate::datasets::card::of_package(&json).licence == licence;
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
