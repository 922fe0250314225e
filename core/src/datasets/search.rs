//! Finding datasets by what their cards say: words matched against the name, title,
//! description, keywords (and README tags), licence and column names, and qualifiers for one
//! field each: `tag:climate`, `licence:cc-by-4.0`, `column:price`, `language:fr`,
//! `size:>10MB` / `size:<1GB` (the bytes the dataset holds). Every term must match; matching
//! ignores case. Over the datasets the caller may see, [`SCANNED`] at most.

use std::sync::Arc;

use super::card::{self, Card};
use super::listing;
use crate::auth::Principal;
use crate::db::Repo;
use crate::error::Result;
use crate::Core;

/// Datasets looked at for one search at most (the most recently made first are not favoured:
/// by id).
pub const SCANNED: i64 = 5000;

/// One term of a search.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    Word(String),
    Tag(String),
    Licence(String),
    Column(String),
    Language(String),
    /// More (`true`) or fewer bytes than this.
    Size(bool, u64),
}

/// A search as typed: whitespace-separated terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Search(Vec<Term>);

impl Search {
    pub fn parse(q: &str) -> Search {
        let terms = q
            .split_whitespace()
            .take(20)
            .map(|t| {
                let lower = t.to_lowercase();
                match lower.split_once(':') {
                    Some(("tag", v)) => Term::Tag(v.to_owned()),
                    Some(("licence" | "license", v)) => Term::Licence(v.to_owned()),
                    Some(("column", v)) => Term::Column(v.to_owned()),
                    Some(("language", v)) => Term::Language(v.to_owned()),
                    Some(("size", v)) => match size(v) {
                        Some(s) => s,
                        None => Term::Word(lower.clone()),
                    },
                    _ => Term::Word(lower),
                }
            })
            .collect();
        Search(terms)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the dataset `repo` with its card matches every term.
    pub fn matches(&self, repo: &Repo, card: &Card) -> bool {
        let has = |list: &[String], v: &str| list.iter().any(|x| x.to_lowercase() == v);
        self.0.iter().all(|t| match t {
            Term::Word(w) => {
                let texts = [
                    repo.path(),
                    card.title.clone(),
                    card.description.clone(),
                    card.licence.clone(),
                ];
                texts.iter().any(|x| x.to_lowercase().contains(w.as_str()))
                    || card
                        .keywords
                        .iter()
                        .chain(&card.columns)
                        .any(|x| x.to_lowercase().contains(w.as_str()))
            }
            Term::Tag(v) => has(&card.keywords, v),
            Term::Licence(v) => card.licence.to_lowercase() == *v,
            Term::Column(v) => has(&card.columns, v),
            Term::Language(v) => has(&card.languages, v),
            Term::Size(more, n) => match more {
                true => card.size > *n,
                false => card.size < *n,
            },
        })
    }
}

/// `>10MB`, `<1.5GiB`, `>100` (bytes): a size term.
fn size(v: &str) -> Option<Term> {
    let (more, rest) = match v.as_bytes().first()? {
        b'>' => (true, &v[1..]),
        b'<' => (false, &v[1..]),
        _ => return None,
    };
    let split = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, unit) = rest.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match unit {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "kib" => 1024.0,
        "mb" => 1e6,
        "mib" => 1048576.0,
        "gb" => 1e9,
        "gib" => 1073741824.0,
        "tb" => 1e12,
        "tib" => 1099511627776.0,
        _ => return None,
    };
    Some(Term::Size(more, (number * factor) as u64))
}

/// What a search found: datasets with their cards, and the cursor of the next page (the id of
/// the last dataset looked at) when there may be more.
pub struct Found {
    pub datasets: Vec<(Repo, Option<Arc<Card>>)>,
    pub next_cursor: Option<i64>,
}

/// The datasets `who` may see that `search` finds after dataset `after` (by id), at most
/// `limit`, [`SCANNED`] looked at at most.
pub async fn find(
    core: &Core,
    who: &Principal,
    search: &Search,
    after: i64,
    limit: usize,
) -> Result<Found> {
    let mut datasets = Vec::new();
    let (mut after, mut scanned) = (after, 0);
    loop {
        let page = listing::list(core, who, after, 200, None).await?;
        scanned += page.datasets.len() as i64;
        let cards = card::cards(core, &page.datasets).await;
        for (r, c) in page.datasets.into_iter().zip(cards) {
            let shown = c.as_deref().cloned().unwrap_or_default();
            let id = r.id;
            if search.matches(&r, &shown) {
                datasets.push((r, c));
                if datasets.len() == limit {
                    return Ok(Found {
                        datasets,
                        next_cursor: Some(id),
                    });
                }
            }
        }
        match page.next_cursor {
            Some(next) if scanned < SCANNED => after = next,
            // Looked at as many as one search may: the rest from there.
            Some(next) => {
                return Ok(Found {
                    datasets,
                    next_cursor: Some(next),
                })
            }
            None => {
                return Ok(Found {
                    datasets,
                    next_cursor: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_and_sizes_are_read() {
        let s = Search::parse("Weather tag:Climate licence:CC-BY-4.0 size:>10MB size:<1.5GiB x:y");
        assert_eq!(
            s.0,
            [
                Term::Word("weather".into()),
                Term::Tag("climate".into()),
                Term::Licence("cc-by-4.0".into()),
                Term::Size(true, 10_000_000),
                Term::Size(false, 1_610_612_736),
                Term::Word("x:y".into()),
            ]
        );
        assert_eq!(Search::parse("size:big").0, [Term::Word("size:big".into())]);
        assert!(Search::parse("   ").is_empty());
    }
}
