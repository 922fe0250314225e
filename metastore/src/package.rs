//! `datapackage.json`: validation, and the files strata derives from it (an LFS pointer per
//! resource, `.gitattributes` routing those paths through LFS, `.lfsconfig` pointing at strata).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use strata_lfs::pointer::Pointer;
use strata_lfs::Oid;

use crate::error::{Error, Result};

pub const DATAPACKAGE: &str = "datapackage.json";
pub const GITATTRIBUTES: &str = ".gitattributes";
pub const LFSCONFIG: &str = ".lfsconfig";

/// One resource of a datapackage, as strata stores it: a file held in LFS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub name: String,
    pub path: String,
    pub oid: Oid,
    pub size: u64,
}

/// A validated datapackage: the JSON as given, and its resources.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    pub json: Map<String, Value>,
    pub resources: Vec<Resource>,
}

impl Package {
    /// Validates `value` as a datapackage strata can store.
    pub fn from_json(value: Value) -> Result<Package> {
        Package::from_json_in(value, |_| None)
    }

    /// [`Package::from_json`] for a datapackage read along with the files of its revision: a
    /// resource without `bytes` or `hash` (a hand-written datapackage, or one `frictionless
    /// describe` wrote) takes them from the LFS pointer at its path, which `pointer_at` reads,
    /// and the JSON gets them too. Those given are taken as they are.
    pub fn from_json_in(
        value: Value,
        mut pointer_at: impl FnMut(&str) -> Option<Pointer>,
    ) -> Result<Package> {
        let invalid = |m: String| Error::Invalid(m);
        let Value::Object(mut json) = value else {
            return Err(invalid("datapackage.json must be a JSON object".into()));
        };
        let list = match json.get_mut("resources") {
            Some(Value::Array(list)) => list,
            _ => {
                return Err(invalid(
                    "datapackage.json needs a \"resources\" array".into(),
                ))
            }
        };
        let mut names = BTreeSet::new();
        let mut paths = BTreeSet::new();
        let mut resources = Vec::with_capacity(list.len());
        for (i, r) in list.iter_mut().enumerate() {
            let at = |m: &str| invalid(format!("resources[{i}]: {m}"));
            let r = r.as_object_mut().ok_or_else(|| at("must be an object"))?;
            let text = |key: &str| r.get(key).and_then(Value::as_str);
            let name = text("name").ok_or_else(|| at("\"name\" is required"))?;
            if name.is_empty() {
                return Err(at("\"name\" must not be empty"));
            }
            if !names.insert(name.to_owned()) {
                return Err(at(&format!("the name {name:?} is used twice")));
            }
            let name = name.to_owned();
            let path = text("path").ok_or_else(|| at("\"path\" must be a string"))?;
            check_path(path).map_err(|m| at(&m))?;
            if !paths.insert(path.to_owned()) {
                return Err(at(&format!("the path {path:?} is used twice")));
            }
            let path = path.to_owned();
            let given = |key: &str| r.get(key).filter(|v| !v.is_null()).cloned();
            let (bytes, hash) = (given("bytes"), given("hash"));
            let pointer = match (&bytes, &hash) {
                (Some(_), Some(_)) => None,
                _ => pointer_at(&path),
            };
            let size = match &bytes {
                Some(v) => v
                    .as_u64()
                    .ok_or_else(|| at("\"bytes\" must be a non-negative integer"))?,
                None => pointer.map(|p| p.size).ok_or_else(|| {
                    at(&format!(
                        "\"bytes\" is required (or an LFS pointer at {path:?} to take it from)"
                    ))
                })?,
            };
            let oid = match &hash {
                Some(v) => v
                    .as_str()
                    .and_then(|h| h.strip_prefix("sha256:"))
                    .and_then(|h| h.parse::<Oid>().ok())
                    .ok_or_else(|| {
                        at("\"hash\" must be \"sha256:\" and 64 lowercase hex digits")
                    })?,
                None => pointer.map(|p| p.oid).ok_or_else(|| {
                    at(&format!(
                        "\"hash\" is required, as \"sha256:<oid>\" (or an LFS pointer at \
                         {path:?} to take it from)"
                    ))
                })?,
            };
            if bytes.is_none() {
                r.insert("bytes".into(), Value::from(size));
            }
            if hash.is_none() {
                r.insert("hash".into(), Value::from(format!("sha256:{oid}")));
            }
            resources.push(Resource {
                name,
                path,
                oid,
                size,
            });
        }
        Ok(Package { json, resources })
    }

    /// Parses and validates the bytes of a stored `datapackage.json`.
    pub fn from_bytes(data: &[u8]) -> Result<Package> {
        Package::from_bytes_in(data, |_| None)
    }

    /// [`Package::from_bytes`] with the revision's files: see [`Package::from_json_in`].
    pub fn from_bytes_in(
        data: &[u8],
        pointer_at: impl FnMut(&str) -> Option<Pointer>,
    ) -> Result<Package> {
        let value: Value = serde_json::from_slice(data)
            .map_err(|e| Error::Invalid(format!("datapackage.json is not valid JSON: {e}")))?;
        Package::from_json_in(value, pointer_at)
    }

    /// `datapackage.json` as strata writes it: pretty, with a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(&self.json).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Every file this datapackage puts in a revision, by path: itself, one pointer per resource,
    /// `.gitattributes` and `.lfsconfig` (when `lfs_url` is given).
    pub fn files(&self, lfs_url: Option<&str>) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        files.insert(DATAPACKAGE.to_owned(), self.to_bytes());
        for r in &self.resources {
            let pointer = Pointer {
                oid: r.oid,
                size: r.size,
            };
            files.insert(r.path.clone(), pointer.encode().into_bytes());
        }
        files.insert(GITATTRIBUTES.to_owned(), self.gitattributes().into_bytes());
        if let Some(url) = lfs_url {
            files.insert(
                LFSCONFIG.to_owned(),
                format!("[lfs]\n\turl = {url}\n").into_bytes(),
            );
        }
        files
    }

    /// One line per resource path, so that git-lfs smudges exactly these files.
    fn gitattributes(&self) -> String {
        let mut paths: Vec<&str> = self.resources.iter().map(|r| r.path.as_str()).collect();
        paths.sort_unstable();
        let mut out = String::from(
            "# Written by strata: every resource of datapackage.json is an LFS file.\n",
        );
        for path in paths {
            out.push_str(&lfs_attribute_line(path));
        }
        out
    }
}

/// The `.gitattributes` line that makes `path` (and nothing else) an LFS file.
pub fn lfs_attribute_line(path: &str) -> String {
    format!(
        "/{} filter=lfs diff=lfs merge=lfs -text\n",
        attribute_pattern(path)
    )
}

/// A path as a gitattributes pattern that matches only itself: glob characters and the characters
/// gitattributes splits on are escaped.
fn attribute_pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            ' ' => out.push_str("[[:space:]]"),
            '\t' => out.push_str("[[:blank:]]"),
            '*' | '?' | '[' | ']' | '\\' | '!' | '#' | '"' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A resource path must be a relative POSIX path to a file of its own: no `..`, `.` or empty
/// segments, no absolute paths, nothing inside `.git`, and not one of the files strata writes.
pub fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.starts_with('/') {
        return Err(format!(
            "{path:?} is absolute: paths are relative to the dataset"
        ));
    }
    if path.contains('\\') {
        return Err(format!(
            "{path:?} contains '\\': use '/' to separate directories"
        ));
    }
    if path.chars().any(|c| c.is_control()) {
        return Err(format!("{path:?} contains a control character"));
    }
    if path.len() > 1024 {
        return Err("the path is longer than 1024 bytes".into());
    }
    for segment in path.split('/') {
        match segment {
            "" | "." | ".." => {
                return Err(format!("{path:?} has an empty, '.' or '..' segment"));
            }
            s if s.eq_ignore_ascii_case(".git") => {
                return Err(format!("{path:?} goes into .git"));
            }
            _ => {}
        }
    }
    if [DATAPACKAGE, GITATTRIBUTES, LFSCONFIG].contains(&path) {
        return Err(format!("{path:?} is written by strata itself"));
    }
    Ok(())
}

/// The datapackage of revision `id`, if it has one; a resource without `bytes` or `hash` takes
/// them from the LFS pointer at its path in the same revision.
pub(crate) fn read_package(repo: &gix::Repository, id: gix::ObjectId) -> Result<Option<Package>> {
    let tree = repo.find_commit(id)?.tree()?;
    let Some(entry) = tree.lookup_entry_by_path(DATAPACKAGE)? else {
        return Ok(None);
    };
    let data = entry.object()?.detach().data;
    let pointer_at = |path: &str| {
        let entry = tree.lookup_entry_by_path(path).ok()??;
        if !entry.mode().is_blob() {
            return None;
        }
        strata_lfs::pointer::lenient(&entry.object().ok()?.data)
    };
    Package::from_bytes_in(&data, pointer_at).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn oid() -> String {
        format!("sha256:{}", Oid::of(b"x"))
    }

    #[test]
    fn accepts_a_valid_package_and_derives_its_files() {
        let p = Package::from_json(json!({
            "name": "survey",
            "resources": [{"name": "a", "path": "data/a b.csv", "bytes": 1, "hash": oid()}]
        }))
        .unwrap();
        assert_eq!(p.resources[0].path, "data/a b.csv");
        let files = p.files(Some("http://h/ns/d.git/info/lfs"));
        assert!(String::from_utf8_lossy(&files["data/a b.csv"]).contains("size 1\n"));
        assert!(String::from_utf8_lossy(&files[GITATTRIBUTES])
            .contains("/data/a[[:space:]]b.csv filter=lfs"));
        assert!(
            String::from_utf8_lossy(&files[LFSCONFIG]).contains("url = http://h/ns/d.git/info/lfs")
        );
        // Key order is kept as given.
        let text = String::from_utf8(p.to_bytes()).unwrap();
        assert!(text.find("\"name\"").unwrap() < text.find("\"resources\"").unwrap());
    }

    #[test]
    fn takes_absent_bytes_and_hash_from_the_pointer_at_the_path() {
        let pointer = Pointer {
            oid: Oid::of(b"x"),
            size: 1,
        };
        let at = |path: &str| (path == "a.csv").then_some(pointer);
        let p = Package::from_json_in(json!({"resources": [{"name": "a", "path": "a.csv"}]}), at)
            .unwrap();
        assert_eq!((p.resources[0].oid, p.resources[0].size), (pointer.oid, 1));
        assert_eq!(p.json["resources"][0]["bytes"], 1);
        assert_eq!(p.json["resources"][0]["hash"], oid());
        // Those given are kept; wrong ones, or none and no pointer to take them from: refused.
        let given =
            json!({"resources": [{"name": "a", "path": "a.csv", "bytes": 7, "hash": oid()}]});
        assert_eq!(
            Package::from_json_in(given, at).unwrap().resources[0].size,
            7
        );
        for bad in [
            json!({"resources": [{"name": "b", "path": "b.csv"}]}),
            json!({"resources": [{"name": "a", "path": "a.csv", "hash": "md5:abc"}]}),
            json!({"resources": [{"name": "a", "path": "a.csv", "bytes": -1}]}),
        ] {
            assert!(Package::from_json_in(bad.clone(), at).is_err(), "{bad}");
            assert!(Package::from_json(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_bad_packages() {
        let bad = [
            json!([]),
            json!({"name": "x"}),
            json!({"resources": {}}),
            json!({"resources": [{"path": "a", "bytes": 1, "hash": oid()}]}),
            json!({"resources": [{"name": "a", "path": "../a", "bytes": 1, "hash": oid()}]}),
            json!({"resources": [{"name": "a", "path": "/etc/passwd", "bytes": 1, "hash": oid()}]}),
            json!({"resources": [{"name": "a", "path": ".git/config", "bytes": 1, "hash": oid()}]}),
            json!({"resources": [{"name": "a", "path": "x/.GIT/y", "bytes": 1, "hash": oid()}]}),
            json!({"resources": [{"name": "a", "path": "datapackage.json", "bytes": 1, "hash": oid()}]}),
            json!({"resources": [{"name": "a", "path": "a", "bytes": -1, "hash": oid()}]}),
            json!({"resources": [{"name": "a", "path": "a", "bytes": 1, "hash": "md5:abc"}]}),
            json!({"resources": [{"name": "a", "path": "a", "bytes": 1, "hash": oid()},
                                 {"name": "a", "path": "b", "bytes": 1, "hash": oid()}]}),
            json!({"resources": [{"name": "a", "path": "a", "bytes": 1, "hash": oid()},
                                 {"name": "b", "path": "a", "bytes": 1, "hash": oid()}]}),
        ];
        for value in bad {
            let err = Package::from_json(value.clone()).unwrap_err();
            assert!(matches!(err, Error::Invalid(_)), "{value}: {err:?}");
        }
    }
}
