//! A README's YAML front matter, as Hugging Face dataset cards start with (`---`, YAML, `---`):
//! the licence, tags, languages, size category and pretty name it declares, read into a
//! dataset's card where its datapackage says nothing. Parsed safely: at most [`MAX_BYTES`] of
//! YAML, through serde-saphyr's limits on aliases and events; anything else (a value of
//! another shape, YAML that does not parse) is left out, never an error.

use serde_json::Value;

use crate::Core;

/// The largest README read.
pub const README_LIMIT: u64 = 512 * 1024;

/// The largest front matter read.
pub const MAX_BYTES: usize = 16 * 1024;
/// The most tags and languages kept.
const MAX_ITEMS: usize = 50;

/// What a README's front matter says of its dataset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Front {
    pub pretty_name: String,
    pub licence: String,
    /// `tags`, `task_categories` and `task_ids`, in that order, without repeats.
    pub tags: Vec<String>,
    pub languages: Vec<String>,
    /// `size_categories` (such as `10K<n<100K`).
    pub size: String,
}

/// The front matter block of `text` (between a first line `---` and the next `---` line), if
/// it has one.
pub fn block(text: &str) -> Option<&str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let mut at = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some(&rest[..at]);
        }
        at += line.len();
        if at > MAX_BYTES {
            return None;
        }
    }
    None
}

/// What `text`'s front matter declares; the default when it has none or it does not parse.
pub fn of(text: &str) -> Front {
    let Some(yaml) = block(text) else {
        return Front::default();
    };
    let Ok(Value::Object(map)) = serde_saphyr::from_str::<Value>(yaml) else {
        return Front::default();
    };
    let one = |k: &str| match map.get(k) {
        Some(Value::String(s)) => s.trim().chars().take(200).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .find_map(Value::as_str)
            .map(|s| s.trim().chars().take(200).collect())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let many = |keys: &[&str]| {
        let mut out: Vec<String> = Vec::new();
        for k in keys {
            let items = match map.get(*k) {
                Some(Value::String(s)) => vec![s.as_str()],
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            for i in items {
                let i: String = i.trim().chars().take(100).collect();
                if !i.is_empty() && !out.contains(&i) && out.len() < MAX_ITEMS {
                    out.push(i);
                }
            }
        }
        out
    };
    Front {
        pretty_name: one("pretty_name"),
        licence: one("license"),
        tags: many(&["tags", "task_categories", "task_ids"]),
        languages: many(&["language"]),
        size: one("size_categories"),
    }
}

/// The text of a README kept in storage (at most [`README_LIMIT`] bytes of UTF-8), for a caller
/// already allowed to read it.
pub async fn stored_text(
    core: &Core,
    repo_id: i64,
    p: &strata_lfs::pointer::Pointer,
) -> Option<String> {
    use futures_util::StreamExt;
    if p.size == 0 {
        return Some(String::new());
    }
    if p.size > README_LIMIT {
        return None;
    }
    let range = format!("bytes=0-{}", p.size - 1);
    let Ok(Some(crate::storage::Read::Found { object, .. })) =
        core.storage.read(repo_id, &p.oid, Some(&range)).await
    else {
        return None;
    };
    let mut out = Vec::new();
    let mut body = object.body;
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.ok()?);
        if out.len() as u64 > README_LIMIT {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hub_card_front_matter_is_read() {
        let text = "---\nlicense: cc-by-4.0\nlanguage:\n- en\n- fr\ntags:\n- climate\n- climate\n\
                    task_categories: [tabular-regression]\nsize_categories:\n- 10K<n<100K\n\
                    pretty_name: Weather stations\n---\n# Weather\n";
        let f = of(text);
        assert_eq!(f.licence, "cc-by-4.0");
        assert_eq!(f.languages, ["en", "fr"]);
        assert_eq!(f.tags, ["climate", "tabular-regression"]);
        assert_eq!(f.size, "10K<n<100K");
        assert_eq!(f.pretty_name, "Weather stations");
    }

    #[test]
    fn anything_else_is_no_front_matter() {
        for text in [
            "# Title\n---\nlicense: mit\n---\n",
            "---\nlicense: mit\n",
            "---\n: : [\n---\n",
            "---\n- a list\n---\n",
            "---\nlicense: {name: mit}\n---\n",
        ] {
            assert_eq!(of(text).licence, "", "{text:?}");
        }
        // An alias bomb is refused by the parser's limits, not expanded.
        let mut bomb = String::from("---\na: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            bomb.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = c;
        }
        bomb.push_str("license: mit\n---\n");
        let _ = of(&bomb);
        let long = format!("---\nx: '{}'\n---\n", "y".repeat(MAX_BYTES + 10));
        assert_eq!(block(&long), None);
    }
}
