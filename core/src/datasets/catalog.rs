//! The catalog: what a dataset's datapackage says about its data for governance, versioned with
//! it. Dataset-level `tags` and `geography`; per resource optional `tags` and `geography` of its
//! own, and per column (`schema.fields[]`) `tags` (e.g. `{"PII": true}`) and a Frictionless
//! `type`. Tags may be written as an object of flags or as a list of names.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};
use strata_policy::table::FieldType;
use strata_policy::{tags_from_json, Column, Metadata, Tags};

/// A dataset's catalog entry.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Catalog {
    /// `ns/name`.
    pub dataset: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tags: Tags,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geography: Option<String>,
    pub resources: Vec<Table>,
    /// The revision (commit id) it was read at; none for a dataset without revisions.
    #[serde(skip)]
    pub revision: Option<String>,
}

/// A resource of a dataset, with its columns.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Table {
    pub name: String,
    pub path: String,
    /// The resource's own tags (the dataset's apply too).
    pub tags: Tags,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geography: Option<String>,
    pub columns: Vec<Column>,
    #[serde(skip)]
    pub types: HashMap<String, FieldType>,
    /// The resource's format (`format`, or else its path's extension), lower case.
    pub format: String,
    /// The delimiter its `dialect` names (one ASCII character), if any.
    #[serde(skip)]
    pub delimiter: Option<u8>,
    /// The LFS object holding it, and its size.
    #[serde(skip)]
    pub object: Option<(strata_lfs::Oid, u64)>,
    /// Its Table Schema's `primaryKey` (one column or several), if it declares one.
    #[serde(skip)]
    pub primary_key: Vec<String>,
}

fn text(o: &Map<String, Value>, key: &str) -> Option<String> {
    o.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl Catalog {
    /// The catalog entry of `dataset` (`ns/name`) from its datapackage's JSON.
    pub fn read(dataset: &str, json: &Map<String, Value>) -> Catalog {
        let resources = json
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .map(|r| {
                let fields = r
                    .get("schema")
                    .and_then(|s| s.get("fields"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_object)
                    .filter_map(|f| Some((text(f, "name")?, f)));
                let mut columns = Vec::new();
                let mut types = HashMap::new();
                for (name, f) in fields {
                    if let Some(t) = f.get("type").and_then(Value::as_str) {
                        // Dates and times in a pattern of their own stay text.
                        let patterned =
                            text(f, "format").is_some_and(|p| p != "default" && p != "any");
                        let ty = FieldType::from_frictionless(t);
                        let temporal = matches!(ty, FieldType::Date | FieldType::Datetime);
                        if !(temporal && patterned) {
                            types.insert(name.clone(), ty);
                        }
                    }
                    columns.push(Column::new(name, tags_from_json(f.get("tags"))));
                }
                let path = text(r, "path").unwrap_or_default();
                let format = text(r, "format")
                    .or_else(|| path.rsplit_once('.').map(|(_, e)| e.to_owned()))
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let object = text(r, "hash")
                    .and_then(|h| h.strip_prefix("sha256:")?.parse().ok())
                    .zip(r.get("bytes").and_then(Value::as_u64));
                let delimiter = r
                    .get("dialect")
                    .and_then(|d| d.get("delimiter"))
                    .and_then(Value::as_str)
                    .filter(|d| d.len() == 1 && d.is_ascii() && !matches!(*d, "\"" | "\n" | "\r"))
                    .map(|d| d.as_bytes()[0]);
                let primary_key = match r.get("schema").and_then(|s| s.get("primaryKey")) {
                    Some(Value::String(k)) => vec![k.clone()],
                    Some(Value::Array(ks)) => ks
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    _ => Vec::new(),
                };
                Table {
                    name: text(r, "name").unwrap_or_default(),
                    primary_key,
                    path,
                    format,
                    delimiter,
                    object,
                    tags: tags_from_json(r.get("tags")),
                    geography: text(r, "geography"),
                    columns,
                    types,
                }
            })
            .collect();
        Catalog {
            dataset: dataset.to_owned(),
            title: text(json, "title"),
            description: text(json, "description"),
            tags: tags_from_json(json.get("tags")),
            geography: text(json, "geography"),
            resources,
            revision: None,
        }
    }

    /// Adds what `head` (the default branch's current catalog) says to this older or other
    /// revision's: a tag set in either applies (so tagging data today governs its history too),
    /// and the head's geography wins.
    pub fn with_head(mut self, head: &Catalog) -> Catalog {
        merge(&mut self.tags, &head.tags);
        if head.geography.is_some() {
            self.geography.clone_from(&head.geography);
        }
        for t in &mut self.resources {
            // The same resource at the head: by name, or else by path (renamed since).
            let Some(h) = head
                .resources
                .iter()
                .find(|h| h.name == t.name)
                .or_else(|| head.resources.iter().find(|h| h.path == t.path))
            else {
                continue;
            };
            merge(&mut t.tags, &h.tags);
            if h.geography.is_some() {
                t.geography.clone_from(&h.geography);
            }
            for hc in &h.columns {
                match t.columns.iter_mut().find(|c| c.name == hc.name) {
                    Some(c) => merge(&mut c.tags, &hc.tags),
                    // A column the older schema did not list keeps the head's tags.
                    None => t.columns.push(hc.clone()),
                }
            }
        }
        self
    }

    /// The resource whose file is `path`.
    pub fn table_at(&self, path: &str) -> Option<&Table> {
        self.resources.iter().find(|t| t.path == path)
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.resources.iter().find(|t| t.name == name)
    }

    /// What a policy sees of `table` (or of the dataset itself, for files no resource lists):
    /// the dataset's tags with the resource's over them, the resource's geography or else the
    /// dataset's, and the columns.
    pub fn metadata(&self, table: Option<&Table>) -> Metadata {
        let mut tags = self.tags.clone();
        let mut m = Metadata {
            name: self.dataset.clone(),
            dataset: self.dataset.clone(),
            geography: self.geography.clone(),
            ..Metadata::default()
        };
        if let Some(t) = table {
            tags.extend(t.tags.clone());
            m.name = format!("{}/{}", self.dataset, t.name);
            m.resource = Some(t.name.clone());
            if t.geography.is_some() {
                m.geography.clone_from(&t.geography);
            }
            m.columns.clone_from(&t.columns);
        }
        m.tags = tags;
        m
    }

    /// Whether the entry matches a catalog search: every tag in `tags` set (truthy) on the
    /// dataset, a resource or a column; the geography equal (case-insensitive); `q` in the name,
    /// title or description.
    pub fn matches(&self, tags: &[String], geography: Option<&str>, q: Option<&str>) -> bool {
        let set = |t: &Tags, name: &str| t.get(name).is_some_and(truthy);
        let has_tag = |name: &str| {
            set(&self.tags, name)
                || self
                    .resources
                    .iter()
                    .any(|r| set(&r.tags, name) || r.columns.iter().any(|c| set(&c.tags, name)))
        };
        let geo_ok = geography.is_none_or(|g| {
            self.geography
                .iter()
                .chain(self.resources.iter().filter_map(|r| r.geography.as_ref()))
                .any(|own| own.eq_ignore_ascii_case(g))
        });
        let q_ok = q.is_none_or(|q| {
            let q = q.to_lowercase();
            [
                Some(&self.dataset),
                self.title.as_ref(),
                self.description.as_ref(),
            ]
            .into_iter()
            .flatten()
            .any(|s| s.to_lowercase().contains(&q))
        });
        tags.iter().all(|t| has_tag(t)) && geo_ok && q_ok
    }
}

/// Tags as words for people: `name` for a flag, `name: value` otherwise (unset ones left out).
pub fn tag_words(tags: &Tags) -> Vec<String> {
    tags.iter()
        .filter(|(_, v)| truthy(v))
        .map(|(k, v)| match v {
            Value::Bool(true) => k.clone(),
            Value::String(s) => format!("{k}: {s}"),
            other => format!("{k}: {other}"),
        })
        .collect()
}

/// The tagged columns of a table for people: `PII: a, b; finance: c`.
pub fn column_tags(table: &Table) -> String {
    let mut by_tag: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for c in &table.columns {
        for t in tag_words(&c.tags) {
            by_tag.entry(t).or_default().push(&c.name);
        }
    }
    by_tag
        .iter()
        .map(|(t, cols)| format!("{t}: {}", cols.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether a tag's value counts as set.
fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
}

/// `into` with every tag that `from` sets and `into` does not.
fn merge(into: &mut Tags, from: &Tags) {
    for (k, v) in from {
        if truthy(v) && !into.get(k).is_some_and(truthy) {
            into.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn package(tags: Value, pii: bool) -> Map<String, Value> {
        json!({
            "title": "PaySim",
            "tags": tags,
            "geography": "theshire",
            "resources": [{
                "name": "paysim-csv", "path": "paysim.csv",
                "schema": {"fields": [
                    {"name": "step", "type": "integer"},
                    {"name": "nameOrig", "type": "string", "tags": {"PII": pii}},
                ]}
            }]
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn metadata_in_fybriks_shape() {
        let c = Catalog::read("bank/paysim", &package(json!(["finance"]), true));
        let t = c.table("paysim-csv").unwrap();
        assert_eq!(t.types["step"], FieldType::Integer);
        let m = c.metadata(Some(t));
        assert_eq!(m.name, "bank/paysim/paysim-csv");
        assert_eq!(m.tags["finance"], true);
        assert_eq!(m.geography.as_deref(), Some("theshire"));
        assert_eq!(m.columns[1].tags["PII"], true);
        assert_eq!(c.metadata(None).columns.len(), 0);
        assert!(c.matches(
            &["finance".into(), "PII".into()],
            Some("TheShire"),
            Some("pay")
        ));
        assert!(!c.matches(&["health".into()], None, None));
        assert!(!c.matches(&[], Some("mordor"), None));
    }

    #[test]
    fn tags_at_the_head_govern_older_revisions() {
        let old = Catalog::read("bank/paysim", &package(json!({}), false));
        let head = Catalog::read("bank/paysim", &package(json!({"finance": true}), true));
        let merged = old.clone().with_head(&head);
        let m = merged.metadata(merged.table("paysim-csv"));
        assert_eq!(m.tags["finance"], true);
        assert_eq!(m.columns[1].tags["PII"], true);
        // an older schema that listed no columns gets the head's tagged ones
        let mut bare = old.clone();
        bare.resources[0].columns.clear();
        let merged_bare = bare.with_head(&head);
        let m = merged_bare.metadata(merged_bare.table("paysim-csv"));
        assert!(m
            .columns
            .iter()
            .any(|c| c.name == "nameOrig" && c.tags["PII"] == true));
        // and a tag removed at the head still applies to the revision that had it
        let merged = head.clone().with_head(&old);
        assert_eq!(merged.tags["finance"], true);
    }
}
