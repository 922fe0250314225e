//! Differences between two revisions: the datapackage compared resource by resource (added,
//! removed, changed and in which fields, schema fields one by one), the package's own metadata,
//! and the file-level changes of the tree diff, with exact renames.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::package::read_package;
use crate::package::Package;
use crate::refs::resolve;
use crate::{DatasetId, Metastore};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Diff {
    pub from: String,
    pub to: String,
    /// Top-level datapackage fields other than `resources`.
    pub metadata: Vec<FieldChange>,
    pub resources: Vec<ResourceChange>,
    pub files: Vec<FileChange>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ResourceChange {
    pub name: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// For `changed`: which fields, e.g. `bytes`, `hash`, `schema.fields.age`, `description`.
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileChangeKind {
    Added,
    Modified,
    Deleted,
    Renamed,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileChange {
    pub kind: FileChangeKind,
    pub path: String,
    /// For renames: where the file was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
}

impl Metastore {
    /// What changed from revision `from` to revision `to`.
    pub fn diff(&self, ds: DatasetId<'_>, from: &str, to: &str) -> Result<Diff> {
        let repo = self.open(ds)?;
        let (a, b) = (resolve(&repo, Some(from))?, resolve(&repo, Some(to))?);
        let (pa, pb) = (read_package(&repo, a)?, read_package(&repo, b)?);
        let (metadata, resources) = package_diff(pa.as_ref(), pb.as_ref());
        Ok(Diff {
            from: a.to_string(),
            to: b.to_string(),
            metadata,
            resources,
            files: file_changes(&repo, a, b)?,
        })
    }
}

fn file_changes(
    repo: &gix::Repository,
    a: gix::ObjectId,
    b: gix::ObjectId,
) -> Result<Vec<FileChange>> {
    let old = repo.find_commit(a)?.tree()?;
    let new = repo.find_commit(b)?.tree()?;
    // Exact renames only: pointer files of different objects look alike to a similarity metric.
    let rewrites = gix::diff::Rewrites {
        copies: None,
        percentage: None,
        limit: 0,
        track_empty: false,
    };
    let options = gix::diff::Options::default().with_rewrites(Some(rewrites));
    let mut out = Vec::new();
    for change in repo.diff_tree_to_tree(&old, &new, options)? {
        use gix::object::tree::diff::ChangeDetached as C;
        let (kind, path, old_path, mode) = match change {
            C::Addition {
                location,
                entry_mode,
                ..
            } => (FileChangeKind::Added, location, None, entry_mode),
            C::Deletion {
                location,
                entry_mode,
                ..
            } => (FileChangeKind::Deleted, location, None, entry_mode),
            C::Modification {
                location,
                entry_mode,
                ..
            } => (FileChangeKind::Modified, location, None, entry_mode),
            C::Rewrite {
                source_location,
                location,
                entry_mode,
                ..
            } => (
                FileChangeKind::Renamed,
                location,
                Some(source_location.to_string()),
                entry_mode,
            ),
        };
        if mode.is_tree() {
            continue;
        }
        out.push(FileChange {
            kind,
            path: path.to_string(),
            old_path,
        });
    }
    out.sort_by(|x, y| x.path.cmp(&y.path));
    Ok(out)
}

fn resources_by_name(p: Option<&Package>) -> BTreeMap<String, Map<String, Value>> {
    p.and_then(|p| p.json.get("resources"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let r = r.as_object()?;
            Some((r.get("name")?.as_str()?.to_owned(), r.clone()))
        })
        .collect()
}

fn package_diff(
    a: Option<&Package>,
    b: Option<&Package>,
) -> (Vec<FieldChange>, Vec<ResourceChange>) {
    let empty = Map::new();
    let top = |p: Option<&Package>| {
        let mut m = p.map_or_else(|| empty.clone(), |p| p.json.clone());
        m.remove("resources");
        m
    };
    let metadata = object_diff("", &top(a), &top(b));
    let (ra, rb) = (resources_by_name(a), resources_by_name(b));
    let mut resources = Vec::new();
    for (name, before) in &ra {
        match rb.get(name) {
            None => resources.push(ResourceChange {
                name: name.clone(),
                change: "removed",
                fields: Vec::new(),
            }),
            Some(after) => {
                let fields = resource_fields(before, after);
                if !fields.is_empty() {
                    resources.push(ResourceChange {
                        name: name.clone(),
                        change: "changed",
                        fields,
                    });
                }
            }
        }
    }
    for name in rb.keys().filter(|n| !ra.contains_key(*n)) {
        resources.push(ResourceChange {
            name: name.clone(),
            change: "added",
            fields: Vec::new(),
        });
    }
    resources.sort_by(|x, y| x.name.cmp(&y.name));
    (metadata, resources)
}

/// The fields of a resource that differ; a table schema is compared field by field.
fn resource_fields(a: &Map<String, Value>, b: &Map<String, Value>) -> Vec<FieldChange> {
    let mut a = a.clone();
    let mut b = b.clone();
    let (sa, sb) = (a.remove("schema"), b.remove("schema"));
    let mut out = object_diff("", &a, &b);
    match (sa, sb) {
        (Some(Value::Object(mut sa)), Some(Value::Object(mut sb))) => {
            let fields = |s: &mut Map<String, Value>| -> Map<String, Value> {
                let list = s.remove("fields");
                list.as_ref()
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|f| Some((f.get("name")?.as_str()?.to_owned(), f.clone())))
                    .collect()
            };
            let (fa, fb) = (fields(&mut sa), fields(&mut sb));
            out.extend(object_diff("schema.fields.", &fa, &fb));
            out.extend(object_diff("schema.", &sa, &sb));
        }
        (sa, sb) if sa != sb => out.push(FieldChange {
            field: "schema".into(),
            before: sa,
            after: sb,
        }),
        _ => {}
    }
    out.sort_by(|x, y| x.field.cmp(&y.field));
    out
}

/// Keys whose values differ between two objects, as `{prefix}{key}`.
fn object_diff(prefix: &str, a: &Map<String, Value>, b: &Map<String, Value>) -> Vec<FieldChange> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| FieldChange {
            field: format!("{prefix}{k}"),
            before: a.get(k).cloned(),
            after: b.get(k).cloned(),
        })
        .collect()
}
