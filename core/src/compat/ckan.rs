//! CKAN's view of datasets, for CKAN's clients (`ckanapi`, Datopian's `ckan-client`) through the
//! Action API subset their stacks used: a CKAN package is a dataset, mapped to and from its
//! datapackage the way `frictionless-ckan-mapper` maps them (`description` ↔ `notes`, `homepage`
//! ↔ `url`, `keywords` ↔ `tags`, the first licence ↔ `license_*`, resources' `path`, `bytes`,
//! `mediatype` ↔ `url`, `size`, `mimetype`, any other property ↔ `extras`). A package's `id` is
//! `{ns}/{name}`, its `owner_org` the namespace; a resource's `id` is `{ns}/{name}/{resource}`
//! and its `url` the raw route that serves its bytes (refused for a table a policy governs: read
//! it through the tables route). Every call passes the same gates as REST.

use serde_json::{json, Map, Value};
use strata_metastore::{Package, Revision, WriteMeta, DEFAULT_BRANCH};

use crate::auth::{Action, Principal};
use crate::datasets::gate::{self, Gated};
use crate::datasets::{author, git_on, lfs_url, NewDataset};
use crate::db::{rfc3339, Repo, Visibility};
use crate::error::{Error, Result};
use crate::Core;

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

/// The most packages one `package_search` page holds.
pub const MAX_ROWS: usize = 100;

/// `ns/name` of a package id; a bare name is the caller's own namespace's.
fn split_id<'a>(who: &'a Principal, id: &'a str) -> Result<(String, String)> {
    let id = id.trim().trim_matches('/');
    match id.split_once('/') {
        Some((ns, name)) if !name.contains('/') && !ns.is_empty() && !name.is_empty() => {
            Ok((ns.to_owned(), name.to_owned()))
        }
        None if !id.is_empty() => match who {
            Principal::User { user, .. } => Ok((user.username.clone(), id.to_owned())),
            _ => Err(Error::not_found(format!(
                "package {id:?}: name it as {{namespace}}/{{name}}"
            ))),
        },
        _ => Err(Error::not_found(format!(
            "package {id:?}: name it as {{namespace}}/{{name}}"
        ))),
    }
}

/// The dataset a package id names, through the gate for `action`.
/// (A package is its datapackage, which names every file: someone only some files are shared
/// with does not see it, as strata's own dataset route does not show it to them.)
pub async fn open(core: &Core, who: &Principal, id: &str, action: Action) -> Result<Gated> {
    let (ns, name) = split_id(who, id)?;
    gate::dataset(core, who, &ns, &name, action).await
}

/// The head of the default branch and its datapackage (`None` before the first commit).
async fn head(core: &Core, gated: &Gated) -> Result<Option<(Revision, Map<String, Value>)>> {
    match git_on(core, gated, |ms, ds| ms.fetch_any(ds, None)).await {
        Ok((r, p)) => Ok(Some((r, p.map(|p| p.json).unwrap_or_default()))),
        Err(e) if e.kind == crate::error::Kind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

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

/// Where `repo`'s files are served raw: resources' URLs start with it.
fn raw_base(core: &Core, repo: &Repo) -> String {
    format!(
        "{}/api/v1/datasets/{}/raw/",
        core.settings.public_url,
        repo.path()
    )
}

/// `package_show`: the package at the head of the default branch.
pub async fn show(core: &Core, gated: &Gated) -> Result<Value> {
    let base = &core.settings.public_url;
    Ok(match head(core, gated).await? {
        Some((rev, pkg)) => to_ckan(base, gated, Some(&rev), &pkg),
        None => to_ckan(base, gated, None, &Map::new()),
    })
}

/// `resource_show`: resource `{ns}/{name}/{resource}`.
pub async fn resource_show(core: &Core, who: &Principal, id: &str) -> Result<Value> {
    let (dataset, res) = id.trim_matches('/').rsplit_once('/').ok_or_else(|| {
        Error::not_found(format!(
            "resource {id:?}: name it as {{namespace}}/{{name}}/{{resource}}"
        ))
    })?;
    let gated = open(core, who, dataset, Action::Read).await?;
    let package = show(core, &gated).await?;
    package["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == res)
        .cloned()
        .ok_or_else(|| Error::not_found(format!("package {dataset} has no resource {res:?}")))
}

/// `package_list`: the ids of the datasets the caller may read, up to 10,000.
pub async fn list(core: &Core, who: &Principal) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = crate::datasets::listing::list(core, who, after, 500, None).await?;
        out.extend(page.datasets.iter().map(Repo::path));
        match page.next_cursor {
            Some(next) if out.len() < 10_000 => after = next,
            _ => return Ok(out),
        }
    }
}

/// `package_search`: the datasets the caller may read whose name or description has `q`, a page
/// of `rows` from `start`, with the count of all.
pub async fn search(
    core: &Core,
    who: &Principal,
    q: Option<&str>,
    rows: usize,
    start: usize,
) -> Result<Value> {
    let q = q.map(str::trim).filter(|q| !q.is_empty() && *q != "*:*");
    let mut found = Vec::new();
    let mut after = 0;
    loop {
        let page = crate::datasets::listing::list(core, who, after, 500, q).await?;
        found.extend(page.datasets);
        match page.next_cursor {
            Some(next) if found.len() < 10_000 => after = next,
            _ => break,
        }
    }
    let count = found.len();
    let mut results = Vec::new();
    for repo in found.into_iter().skip(start).take(rows.min(MAX_ROWS)) {
        // Listed but not readable whole (a narrower token, a share of some files): left out.
        if let Ok(gated) = gate::dataset(core, who, &repo.namespace, &repo.name, Action::Read).await
        {
            results.push(show(core, &gated).await?);
        }
    }
    Ok(
        json!({"count": count, "results": results, "sort": "name asc", "facets": {}, "search_facets": {}}),
    )
}

/// `package_create`: a dataset `owner_org/name` (the caller's namespace without `owner_org`),
/// private unless `private` is false, with the package's metadata as its first datapackage
/// (resources come with `package_update` once their objects are uploaded).
pub async fn create(core: &Core, who: &Principal, body: &Value) -> Result<Value> {
    let name = body["name"]
        .as_str()
        .ok_or_else(|| Error::unprocessable("name: a package needs a name"))?;
    let ns = match (body["owner_org"].as_str(), who) {
        (Some(org), _) if !org.is_empty() => org.to_owned(),
        (_, Principal::User { user, .. }) => user.username.clone(),
        _ => return Err(Error::unauthorized("authentication required")),
    };
    let private = !matches!(body["private"], Value::Bool(false))
        && body["private"].as_str() != Some("False")
        && body["private"].as_str() != Some("false");
    let raw = format!(
        "{}/api/v1/datasets/{ns}/{name}/raw/",
        core.settings.public_url
    );
    let mut package = from_ckan(body, None, &raw)?;
    package["name"] = json!(name);
    if package["resources"]
        .as_array()
        .is_some_and(|r| !r.is_empty())
    {
        return Err(Error::unprocessable(
            "resources: a new package starts without resources: upload their objects, then add them with package_update",
        ));
    }
    let new = NewDataset {
        namespace: ns,
        name: name.to_owned(),
        visibility: if private {
            Visibility::Private
        } else {
            Visibility::Public
        },
        datapackage: Some(package),
        message: Some("Create dataset (CKAN package_create)".into()),
    };
    let (repo, rev, pkg) = crate::datasets::create_as(core, who, new).await?;
    Ok(to_ckan(
        &core.settings.public_url,
        &repo,
        Some(&rev),
        &pkg.json,
    ))
}

/// `package_update` (and `package_patch`, which keeps what the body does not mention): the
/// package's metadata as a new datapackage, one commit on the default branch. Every resource's
/// object must be uploaded to the dataset (LFS) first.
pub async fn update(core: &Core, who: &Principal, body: &Value, patch: bool) -> Result<Value> {
    let id = body["id"]
        .as_str()
        .or(body["name"].as_str())
        .ok_or_else(|| Error::unprocessable("id: name the package to update"))?;
    let (ns, name) = match (id.contains('/'), body["owner_org"].as_str()) {
        (false, Some(org)) if !org.is_empty() => (org.to_owned(), id.to_owned()),
        _ => split_id(who, id)?,
    };
    let gated = gate::dataset(core, who, &ns, &name, Action::Write).await?;
    let current = head(core, &gated).await?;
    let parent = current.as_ref().map(|(r, _)| r.id.clone());
    let base = current.map(|(_, p)| p).unwrap_or_default();
    let mut json = if patch {
        from_ckan(body, Some(&base), &raw_base(core, &gated))?
    } else {
        // An update replaces the metadata; the dataset's name stays.
        from_ckan(body, None, &raw_base(core, &gated))?
    };
    json["name"] = base.get("name").cloned().unwrap_or(json!(name));
    let package = Package::from_json(json)?;
    gated
        .check_linked(core, package.resources.iter().map(|r| (r.oid, r.size)))
        .await?;
    let meta_author = author(who);
    let url = lfs_url(core, &gated);
    let (rev, package) = git_on(core, &gated, move |ms, ds| {
        let parent = parent.map(|p| ms.resolve(ds, Some(&p))).transpose()?;
        let meta = WriteMeta {
            branch: DEFAULT_BRANCH,
            parent,
            author: &meta_author,
            message: "Update datapackage (CKAN package_update)",
        };
        let id = ms.update(ds, &meta, &package, Some(&url))?;
        ms.fetch(ds, Some(&id.to_string()))
    })
    .await?;
    crate::datasets::governance::written(core, &gated).await;
    Ok(to_ckan(
        &core.settings.public_url,
        &gated,
        Some(&rev),
        &package.json,
    ))
}

/// How long a token `authz_authorize` hands out lives, in seconds.
pub const AUTHZ_TTL: i64 = 15 * 60;

/// `authz_authorize` (ckanext-authz-service's action, which `ckan-client` asks before uploading):
/// a JWT for the caller with the scopes asked for (`obj:{ns}/{name}/*:write`…), acting for the
/// caller within their rights. Only a credential with all of its user's rights asks: a narrower
/// token, or a token minted here, cannot (so nothing minted outlives what minted it by more than
/// its 15 minutes, and nothing mints itself a new life).
pub async fn authorize(core: &Core, who: &Principal, requested: &[String]) -> Result<Value> {
    // Only a credential with all of its user's rights (a session, a `*` token) mints: a
    // minted token (never `*`) cannot mint itself a new life, nor can a narrower token.
    let user = who.full_user()?;
    let Principal::User { family, .. } = who else {
        return Err(Error::forbidden("tokens are handed out to users"));
    };
    let mut granted = Vec::new();
    for raw in requested {
        let scope = crate::auth::scope::Scope::parse(raw)
            .map_err(|e| Error::unprocessable(e.to_string()))?;
        if scope.to_string() == "*" {
            return Err(Error::forbidden(
                "scopes: * is not handed out: ask for what you need",
            ));
        }
        granted.push(raw.clone());
    }
    if granted.is_empty() {
        return Err(Error::unprocessable("scopes: ask for at least one scope"));
    }
    let scope = granted.join(" ");
    let mut claims = core.jwt.claims(&user.username, &scope, AUTHZ_TTL);
    claims.uid = Some(user.id);
    claims.fam = family.clone();
    let expires = claims.exp;
    let token = core.jwt.sign(&claims).map_err(Error::internal)?;
    Ok(json!({
        "token": token,
        "user_id": user.username,
        "expires_at": rfc3339(expires),
        "requested_scopes": requested,
        "granted_scopes": granted,
    }))
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
