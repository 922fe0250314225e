//! CKAN's view of datasets, for CKAN's clients (`ckanapi`, Datopian's `ckan-client`) through the
//! Action API subset their stacks used: a CKAN package is a dataset, mapped to and from its
//! datapackage the way `frictionless-ckan-mapper` maps them (`description` ↔ `notes`, `homepage`
//! ↔ `url`, `keywords` ↔ `tags`, the first licence ↔ `license_*`, resources' `path`, `bytes`,
//! `mediatype` ↔ `url`, `size`, `mimetype`, any other property ↔ `extras`). A package's `id` is
//! `{ns}/{name}`, its `owner_org` the namespace; a resource's `id` is `{ns}/{name}/{resource}`
//! and its `url` the raw route that serves its bytes (refused for a table a policy governs: read
//! it through the tables route). Every call passes the same gates as REST.

mod map;

pub use map::{from_ckan, to_ckan};

use serde_json::{json, Map, Value};
use strata_metastore::Revision;

use crate::auth::{Action, Principal};
use crate::datasets::gate::{self, Gated};
use crate::datasets::{git_on, NewDataset};
use crate::db::{rfc3339, Repo, Visibility};
use crate::error::{Error, Result};
use crate::Core;

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
    // Through the datapackage update every other surface uses: its objects linked, its tables
    // governed as writes, and a change of what the policies read governed too.
    let (rev, package) = crate::commits::update_package(
        core,
        who,
        &gated,
        json,
        parent,
        None,
        Some("Update datapackage (CKAN package_update)".into()),
    )
    .await?;
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
