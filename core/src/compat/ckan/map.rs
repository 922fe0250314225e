//! Packages as CKAN's clients see them, to and from datapackages, the way
//! `frictionless-ckan-mapper` maps them (see `super`).

use serde_json::{json, Map, Value};
use strata_metastore::Revision;

use crate::db::{rfc3339, Repo, Visibility};
use crate::error::{Error, Result};

/// Package properties of CKAN's own, kept out of `extras`.
const CKAN_KEYS: &[&str] = &[
    "author",
    "author_email",
    "creator_user_id",
    "groups",
    "id",
    "license_id",
    "license_title",
    "license_url",
    "maintainer",
    "maintainer_email",
    "metadata_created",
    "metadata_modified",
    "name",
    "notes",
    "owner_org",
    "private",
    "relationships_as_object",
    "relationships_as_subject",
    "revision_id",
    "resources",
    "state",
    "tags",
    "tracking_summary",
    "title",
    "type",
    "url",
    "version",
    "organization",
    "num_resources",
    "num_tags",
    "isopen",
    "extras",
];

/// A datapackage as a CKAN package of dataset `repo` (revision `rev`).
pub fn to_ckan(base: &str, repo: &Repo, rev: Option<&Revision>, pkg: &Map<String, Value>) -> Value {
    let id = repo.path();
    let mut out = Map::new();
    let mut extras = Vec::new();
    for (k, v) in pkg {
        match k.as_str() {
            "description" => {
                out.insert("notes".into(), v.clone());
            }
            "homepage" => {
                out.insert("url".into(), v.clone());
            }
            "keywords" => {
                let tags = v.as_array().cloned().unwrap_or_default();
                let tags: Vec<Value> = tags.into_iter().map(|t| json!({"name": t})).collect();
                out.insert("num_tags".into(), json!(tags.len()));
                out.insert("tags".into(), Value::Array(tags));
            }
            "licenses" => {
                let first = &v[0];
                out.insert("license_id".into(), first["name"].clone());
                out.insert("license_title".into(), first["title"].clone());
                out.insert("license_url".into(), first["path"].clone());
                if v.as_array().is_some_and(|l| l.len() > 1) {
                    extras.push(json!({"key": "licenses", "value": v.to_string()}));
                }
            }
            "resources" => {}
            // As the mapper reads them: the first author (or role-less) and maintainer; the
            // list itself goes in `extras` too, so nothing is lost on the way back.
            "contributors" => {
                for (role, field) in [("author", "author"), ("maintainer", "maintainer")] {
                    let first = v.as_array().into_iter().flatten().find(|c| {
                        c["role"] == role || (role == "author" && c.get("role").is_none())
                    });
                    if let Some(c) = first {
                        out.insert(field.into(), c["title"].clone());
                        out.insert(format!("{field}_email"), c["email"].clone());
                    }
                }
                extras.push(json!({"key": k, "value": v.to_string()}));
            }
            "name" | "title" | "version" => {
                out.insert(k.clone(), v.clone());
            }
            _ => extras.push(json!({"key": k, "value": match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }})),
        }
    }
    let resources: Vec<Value> = pkg
        .get("resources")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, r)| resource(base, repo, i, r))
                .collect()
        })
        .unwrap_or_default();
    out.insert("id".into(), json!(id));
    out.insert("name".into(), json!(repo.name));
    out.entry("title").or_insert_with(|| json!(repo.name));
    out.insert("owner_org".into(), json!(repo.namespace));
    out.insert(
        "organization".into(),
        json!({"name": repo.namespace, "title": repo.namespace}),
    );
    out.insert(
        "private".into(),
        json!(repo.visibility != Visibility::Public),
    );
    out.insert("state".into(), json!("active"));
    out.insert("type".into(), json!("dataset"));
    out.insert("metadata_created".into(), json!(rfc3339(repo.created_at)));
    out.insert(
        "metadata_modified".into(),
        json!(rfc3339(rev.map_or(repo.created_at, |r| r.time))),
    );
    out.insert("revision_id".into(), json!(rev.map(|r| r.id.clone())));
    out.insert("num_resources".into(), json!(resources.len()));
    out.insert("resources".into(), Value::Array(resources));
    out.entry("tags").or_insert_with(|| json!([]));
    out.insert("extras".into(), Value::Array(extras));
    Value::Object(out)
}

/// Resource `i` of a datapackage as CKAN's.
fn resource(base: &str, repo: &Repo, i: usize, r: &Value) -> Value {
    let mut out = Map::new();
    for (k, v) in r.as_object().into_iter().flatten() {
        let key = match k.as_str() {
            "path" => "path",
            "bytes" => "size",
            "mediatype" => "mimetype",
            other => other,
        };
        out.insert(key.to_owned(), v.clone());
    }
    let name = r["name"].as_str().unwrap_or("").to_owned();
    let path = r["path"].as_str().unwrap_or("");
    let api = format!("{base}/api/v1/datasets/{}", repo.path());
    out.remove("path");
    out.insert(
        "url".into(),
        json!(format!("{api}/raw/{}", crate::names::url_path(path))),
    );
    out.insert("id".into(), json!(format!("{}/{name}", repo.path())));
    out.insert("package_id".into(), json!(repo.path()));
    out.insert("position".into(), json!(i));
    out.insert("state".into(), json!("active"));
    out.insert("url_type".into(), json!("upload"));
    Value::Object(out)
}

/// A CKAN package (as a client sends it to `package_create` or `package_update`) as a
/// datapackage; properties of `base` the package does not mention stay.
pub fn from_ckan(body: &Value, base: Option<&Map<String, Value>>, raw: &str) -> Result<Value> {
    let Some(obj) = body.as_object() else {
        return Err(Error::unprocessable("a package is a JSON object"));
    };
    let mut out = base.cloned().unwrap_or_default();
    for (k, v) in obj {
        if v.is_null() {
            continue;
        }
        match k.as_str() {
            "notes" | "description" => {
                out.insert("description".into(), v.clone());
            }
            "url" | "homepage" => {
                out.insert("homepage".into(), v.clone());
            }
            "title" | "version" => {
                out.insert(k.clone(), v.clone());
            }
            "author" | "maintainer" => {
                let role = k.as_str();
                let email = obj.get(&format!("{role}_email")).filter(|e| !e.is_null());
                let mut c = json!({"title": v, "role": role});
                if let Some(e) = email {
                    c["email"] = e.clone();
                }
                let list = out.entry("contributors").or_insert_with(|| json!([]));
                if let Some(list) = list.as_array_mut() {
                    list.retain(|x| x["role"] != role);
                    list.push(c);
                }
            }
            "tags" | "keywords" => {
                let words: Vec<Value> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.get("name").or(Some(t)).and_then(Value::as_str))
                    .map(|t| json!(t))
                    .collect();
                out.insert("keywords".into(), Value::Array(words));
            }
            "license_id" => {
                let mut l = json!({"name": v});
                if let Some(t) = obj.get("license_title").filter(|t| !t.is_null()) {
                    l["title"] = t.clone();
                }
                if let Some(p) = obj.get("license_url").filter(|p| !p.is_null()) {
                    l["path"] = p.clone();
                }
                out.insert("licenses".into(), json!([l]));
            }
            "resources" => {
                let list = v
                    .as_array()
                    .ok_or_else(|| Error::unprocessable("resources is a list of resources"))?;
                let resources: Result<Vec<Value>> =
                    list.iter().map(|r| resource_from_ckan(r, raw)).collect();
                out.insert("resources".into(), Value::Array(resources?));
            }
            "extras" => {
                for e in v.as_array().into_iter().flatten() {
                    let (Some(key), Some(value)) = (e["key"].as_str(), e.get("value")) else {
                        return Err(Error::unprocessable("an extra is {key, value}"));
                    };
                    if key == "resources" || key == "name" {
                        continue;
                    }
                    let value = match value {
                        Value::String(s) => serde_json::from_str(s).unwrap_or(value.clone()),
                        other => other.clone(),
                    };
                    out.insert(key.to_owned(), value);
                }
            }
            // Frictionless licences as they are; a form flattens them into names (ckan-client
            // posts forms), which are no licences.
            "licenses" => {
                if v.as_array().is_some_and(|l| l.iter().all(Value::is_object)) {
                    out.insert(k.clone(), v.clone());
                }
            }
            k if CKAN_KEYS.contains(&k) => {}
            // Frictionless properties a client sent as they are (ckan-client sends them so).
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out.entry("resources").or_insert_with(|| json!([]));
    Ok(Value::Object(out))
}

/// A CKAN resource as a datapackage resource: `url` (a strata URL) or `path` is its path in the
/// dataset, `size` its bytes, `hash` its sha256.
fn resource_from_ckan(r: &Value, raw: &str) -> Result<Value> {
    let Some(obj) = r.as_object() else {
        return Err(Error::unprocessable("a resource is a JSON object"));
    };
    let mut out = Map::new();
    for (k, v) in obj {
        if v.is_null() {
            continue;
        }
        match k.as_str() {
            "size" => {
                let n = v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()));
                out.insert("bytes".into(), json!(n));
            }
            "mimetype" => {
                out.insert("mediatype".into(), v.clone());
            }
            "url" => {
                // This dataset's raw URL names the path (percent-encoded); anything else is the
                // path as given.
                let url = v.as_str().unwrap_or("");
                let path = match url.strip_prefix(raw) {
                    Some(encoded) => percent_decode(encoded),
                    None => url.to_owned(),
                };
                out.entry("path").or_insert_with(|| json!(path));
            }
            "id" | "package_id" | "position" | "state" | "url_type" | "datastore_active"
            | "created" | "last_modified" => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

/// `%XX` escapes decoded (a URL's path as `names::url_path` wrote it).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|c| hex(*c)),
            b.get(i + 2).and_then(|c| hex(*c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, ..) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_maps_both_ways_as_frictionless_ckan_mapper_maps_it() {
        let pkg = json!({
            "name": "survey", "title": "Survey", "description": "Answers", "homepage": "https://x.org",
            "keywords": ["a", "b"], "licenses": [{"name": "CC-BY-4.0", "title": "CC BY", "path": "https://l"}],
            "geography": "theshire", "tags": {"finance": true},
            "resources": [{"name": "answers", "path": "data/a.csv", "bytes": 10, "mediatype": "text/csv",
                "hash": "sha256:ab", "format": "csv"}]
        });
        let repo = Repo {
            id: 1,
            namespace: "alice".into(),
            name: "survey".into(),
            owner_id: 1,
            visibility: Visibility::Private,
            created_at: 0,
            protect_default_branch: 0,
            require_merge_request: 0,
            required_approvals: 0,
            gated: String::new(),
            mirror: 0,
        };
        let ckan = to_ckan("http://s", &repo, None, pkg.as_object().unwrap());
        assert_eq!(ckan["id"], "alice/survey");
        assert_eq!(ckan["notes"], "Answers");
        assert_eq!(ckan["url"], "https://x.org");
        assert_eq!(ckan["tags"], json!([{"name": "a"}, {"name": "b"}]));
        assert_eq!(ckan["license_id"], "CC-BY-4.0");
        assert_eq!(ckan["private"], true);
        let r = &ckan["resources"][0];
        assert_eq!(r["size"], 10);
        assert_eq!(r["mimetype"], "text/csv");
        assert_eq!(
            r["url"],
            "http://s/api/v1/datasets/alice/survey/raw/data/a.csv"
        );
        assert!(ckan["extras"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "geography", "value": "theshire"})));
        let back = from_ckan(&ckan, None, "http://s/api/v1/datasets/alice/survey/raw/").unwrap();
        assert_eq!(back["description"], "Answers");
        assert_eq!(back["keywords"], json!(["a", "b"]));
        assert_eq!(back["licenses"][0]["path"], "https://l");
        assert_eq!(back["geography"], "theshire");
        assert_eq!(back["tags"], json!({"finance": true}));
        assert_eq!(back["resources"][0]["path"], "data/a.csv");
        assert_eq!(back["resources"][0]["bytes"], 10);
        assert_eq!(back["resources"][0].get("id"), None);
    }
}
