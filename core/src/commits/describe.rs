//! The datapackage kept in step with the file manager: in the same commit, each table (CSV, TSV,
//! Parquet, JSON lines) a browser upload writes gets a resource (or, already one, its new size
//! and hash) named after the file, with its format, and the new tables then get the column
//! types the table engine infers, in one schema commit for the whole upload, as after a
//! publishing flow (images, documents and other files stay plain files); a resource's file moved, deleted or
//! edited in the browser takes its resource along (in a drive too: its tables open in the table
//! viewer). Not through a share; never for what a push writes (its datapackage is its author's).

use serde_json::{json, Map, Value};
use strata_metastore::{DatasetId, Metastore, ObjectId, Op, DATAPACKAGE};

use crate::auth::Principal;
use crate::datasets::gated::Gated;
use crate::Core;

/// Tables typed after one upload at most (each is read through the table engine).
const TYPED: usize = 10;

/// What a commit does to the datapackage's resources for the files it writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Describe {
    /// Nothing (pushes, the Hub, the REST API unless asked).
    #[default]
    Off,
    /// Resources follow their files: a rewritten file's resource gets its new size and hash, a
    /// moved one its new path, a deleted one goes (the file manager, the editor).
    Follow,
    /// As [`Describe::Follow`], and every new table becomes a resource (browser uploads).
    Add,
}

/// Adds to `ops` the datapackage of `parent` with its resources following what `ops` does (see
/// [`Describe`]); returns the names of the tables it added. Does nothing when `ops` writes the
/// datapackage itself, or leaves the resources as they are.
pub(super) fn follow(
    ms: &Metastore,
    ds: DatasetId<'_>,
    parent: Option<ObjectId>,
    (lfs_paths, moved): (&[String], &[(String, String)]),
    ops: &mut Vec<Op>,
    how: Describe,
) -> strata_metastore::Result<Vec<String>> {
    if how == Describe::Off
        || ops
            .iter()
            .any(|op| matches!(op, Op::Put { path, .. } if path == DATAPACKAGE))
    {
        return Ok(Vec::new());
    }
    let mut json = match parent.map(|p| ms.fetch(ds, Some(&p.to_string()))) {
        Some(Ok((_, package))) => package.json,
        Some(Err(strata_metastore::Error::NotFound(_))) | None => Map::new(),
        // A datapackage strata cannot read (pushed by hand): left to its author.
        Some(Err(strata_metastore::Error::Invalid(_))) => return Ok(Vec::new()),
        Some(Err(e)) => return Err(e),
    };
    // The LFS files written (path, oid, size), and the paths removed.
    let written: Vec<(String, String, u64)> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Put { path, data } if lfs_paths.contains(path) && path != DATAPACKAGE => {
                strata_lfs::pointer::lenient(data)
                    .map(|p| (path.clone(), p.oid.to_string(), p.size))
            }
            _ => None,
        })
        .collect();
    let removed: Vec<&str> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Delete { path } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    let mut changed = false;
    if let Some(list) = json.get_mut("resources").and_then(Value::as_array_mut) {
        list.retain_mut(|r| {
            let Some(r) = r.as_object_mut() else {
                return true;
            };
            let path = r
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if !removed.contains(&path.as_str()) {
                return true;
            }
            changed = true;
            // Moved (the file manager says where to), or gone.
            match moved.iter().find(|(from, _)| *from == path) {
                Some((_, to)) => {
                    r.insert("path".into(), json!(to));
                    true
                }
                None => false,
            }
        });
    }
    let mut tables = Vec::new();
    for (path, oid, size) in &written {
        let known = json
            .get("resources")
            .and_then(Value::as_array)
            .is_some_and(|l| {
                l.iter()
                    .any(|r| r.get("path").and_then(Value::as_str) == Some(path))
            });
        if !known && (how != Describe::Add || !is_table(path)) {
            continue;
        }
        let name = describe(&mut json, path, oid, *size);
        changed = true;
        if !known {
            tables.push(name);
        }
    }
    if changed {
        // Resources that would clash (a file moved onto a path a stale resource claims): the
        // datapackage is left as it was, for its author, rather than the change refused.
        let Ok(package) = strata_metastore::Package::from_json(Value::Object(json)) else {
            return Ok(Vec::new());
        };
        ops.push(Op::Put {
            path: DATAPACKAGE.to_owned(),
            data: package.to_bytes(),
        });
    }
    Ok(tables)
}

/// A deleted file brought back from revision `at` (a restore) brings its resource back too:
/// the datapackage of `head` with the resource `path` had at `at` (its schema, description and
/// the rest; renamed if its name is taken), sized and hashed as `pointer` says. `None` when
/// `head` describes the file already (the commit's [`Describe::Follow`] updates it), `at` had no
/// resource for it, or either datapackage is one strata cannot read.
pub(crate) fn bring_back(
    ms: &Metastore,
    ds: DatasetId<'_>,
    (head, at): (&str, &str),
    path: &str,
    pointer: &strata_lfs::pointer::Pointer,
) -> strata_metastore::Result<Option<Op>> {
    let of = |json: &Map<String, Value>| -> Option<Map<String, Value>> {
        json.get("resources")?
            .as_array()?
            .iter()
            .filter_map(Value::as_object)
            .find(|r| r.get("path").and_then(Value::as_str) == Some(path))
            .cloned()
    };
    let (Ok((_, now)), Ok((_, then))) = (ms.fetch(ds, Some(head)), ms.fetch(ds, Some(at))) else {
        return Ok(None);
    };
    let mut json = now.json;
    let (None, Some(mut resource)) = (of(&json), of(&then.json)) else {
        return Ok(None);
    };
    let list = json
        .entry("resources")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(list) = list.as_array_mut() else {
        return Ok(None);
    };
    let taken: Vec<String> = list
        .iter()
        .filter_map(|r| r.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let name = resource
        .get("name")
        .and_then(Value::as_str)
        .map_or_else(|| base_name(path), str::to_owned);
    resource.insert("name".into(), json!(free_name(&name, &taken)));
    list.push(Value::Object(resource));
    describe(&mut json, path, &pointer.oid.to_string(), pointer.size);
    Ok(strata_metastore::Package::from_json(Value::Object(json))
        .ok()
        .map(|package| Op::Put {
            path: DATAPACKAGE.to_owned(),
            data: package.to_bytes(),
        }))
}

/// Puts the file at `path` into `json`'s resources; returns its resource's name.
fn describe(json: &mut Map<String, Value>, path: &str, oid: &str, size: u64) -> String {
    let resources = json
        .entry("resources")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !resources.is_array() {
        *resources = Value::Array(Vec::new());
    }
    let list = resources.as_array_mut().expect("an array");
    let hash = format!("sha256:{oid}");
    if let Some(r) = list
        .iter_mut()
        .filter_map(Value::as_object_mut)
        .find(|r| r.get("path").and_then(Value::as_str) == Some(path))
    {
        r.insert("bytes".into(), json!(size));
        r.insert("hash".into(), json!(hash));
        return r
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
    }
    let taken: Vec<String> = list
        .iter()
        .filter_map(|r| r.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let name = free_name(&base_name(path), &taken);
    let mut r = Map::new();
    r.insert("name".into(), json!(name));
    r.insert("path".into(), json!(path));
    if let Some((_, ext)) = path.rsplit('/').next().unwrap_or(path).rsplit_once('.') {
        r.insert("format".into(), json!(ext.to_ascii_lowercase()));
    }
    r.insert("bytes".into(), json!(size));
    r.insert("hash".into(), json!(hash));
    list.push(Value::Object(r));
    name
}

/// A Frictionless resource name from a file's path: its name without the extension, lower
/// case, other characters than letters, digits, `-`, `_` and `.` as `-`.
fn base_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = match file.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s,
        _ => file,
    };
    let name: String = stem
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches(['-', '.']).to_owned();
    if name.is_empty() {
        "file".into()
    } else {
        name
    }
}

fn free_name(base: &str, taken: &[String]) -> String {
    let mut name = base.to_owned();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// Whether a file is a table the table engine reads, by its extension.
pub fn is_table(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.rsplit_once('.').is_some_and(|(_, ext)| {
        matches!(
            ext.to_ascii_lowercase().as_str(),
            "csv" | "tsv" | "tab" | "parquet" | "pq" | "jsonl" | "ndjson"
        )
    })
}

/// Commits the inferred column types of `tables` (the first [`TYPED`]) at the default branch's
/// head in one schema commit; a table that cannot be typed is left for its readers to infer.
pub(super) async fn type_tables(core: &Core, who: &Principal, repo: &Gated, tables: &[String]) {
    if tables.is_empty() {
        return;
    }
    let first = &tables[..tables.len().min(TYPED)];
    if let Err(e) = crate::tables::schema::commit_schemas(core, who, repo, first).await {
        tracing::info!(error = %e.message, "uploaded tables were not typed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_files_and_stay_unique() {
        assert_eq!(base_name("data/Sales 2026.CSV"), "sales-2026");
        assert_eq!(base_name(".hidden"), "hidden");
        assert_eq!(base_name("日本.csv"), "file");
        let taken = vec!["sales".to_owned(), "sales-2".to_owned()];
        assert_eq!(free_name("sales", &taken), "sales-3");
    }

    #[test]
    fn only_tables_are_tables() {
        for t in ["a.csv", "d/B.TSV", "x.parquet", "l.jsonl", "n.ndjson"] {
            assert!(is_table(t), "{t}");
        }
        for t in ["a.png", "csv", "d.csv/readme.md", "notes.txt", "report.pdf"] {
            assert!(!is_table(t), "{t}");
        }
    }

    #[test]
    fn a_file_already_described_keeps_its_name_and_gets_its_new_hash() {
        let mut json = Map::new();
        let a = "a".repeat(64);
        let first = describe(&mut json, "x/a.csv", &a, 10);
        let again = describe(&mut json, "x/a.csv", &"b".repeat(64), 20);
        assert_eq!((first.as_str(), again.as_str()), ("a", "a"));
        let list = json["resources"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["bytes"], 20);
        assert_eq!(list[0]["format"], "csv");
        let other = describe(&mut json, "y/a.csv", &a, 1);
        assert_eq!(other, "a-2");
    }
}
