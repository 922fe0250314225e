//! Loading a table: its snapshots (the revisions of the default branch that changed it, newest
//! [`SNAPSHOTS`], and the revision each branch and tag reads it at, for at most [`REFS`] refs), each opened for the caller
//! at its revision, its view and that view's columns; the Iceberg metadata of all of it, with
//! the ids kept for its columns. A load is kept a minute for the same caller, heads and
//! policies; the files it names decide again when read ([`super::files`]).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use serde_json::{json, Value};
use strata_metastore::{Revision, DEFAULT_BRANCH};

use super::files::{FileName, Which};
use super::{at, creds, dataset, schema, Warehouse};
use crate::auth::{Action, Principal};
use crate::datasets::gate::{self, Gated};
use crate::datasets::git_on;
use crate::datasets::policies::Surface;
use crate::error::{Error, Kind, Result};
use crate::tables::{self, view};
use crate::Core;

/// Snapshots of the default branch a load names at most (the newest).
pub const SNAPSHOTS: usize = 1000;
/// Views one load makes at most (the newest snapshots first); snapshots beyond wait for a later
/// load, and the metadata says how many.
const MAKES: usize = 4;
/// How long a load is kept for the same caller, heads and policies, and how many are kept.
const KEPT: std::time::Duration = std::time::Duration::from_secs(60);
const KEPT_LOADS: usize = 100;
/// Branches and tags a load names at most (each is a walk back to where it last changed the
/// table), and fields (each given an id on first sight).
const REFS: usize = 200;
const FIELDS: usize = 10_000;

/// A table as one caller loads it.
#[derive(Debug)]
pub struct Loaded {
    pub metadata: Value,
    pub metadata_location: String,
}

/// A revision the table has a snapshot at.
struct Snap {
    rev: Revision,
    view: view::View,
    columns: SchemaRef,
}

fn no_table(ns: &[String], table: &str, warehouse: &Warehouse) -> Error {
    Error::not_found(format!(
        "table {table:?} does not exist in namespace {:?} at {:?}",
        ns.join("."),
        warehouse.0
    ))
}

/// `table` of the dataset `ns` names, as `who` loads it in `warehouse`: the metadata, and the
/// properties an engine reads its files with (the S3 gateway, and a key for this table's files
/// alone).
pub async fn load(
    core: &Core,
    who: &Principal,
    ns: &[String],
    table: &str,
    warehouse: &Warehouse,
) -> Result<(Arc<Loaded>, Value)> {
    let gated = dataset(core, who, ns).await?;
    let Some(endpoint) = core
        .settings
        .s3_public_url
        .clone()
        .or_else(|| core.iceberg.gateway())
    else {
        return Err(Error::new(
            Kind::Busy,
            "this server's S3 gateway is off, and engines read an Iceberg table's files through \
             it: start strata with --s3-listen",
        ));
    };
    let rev = at(&gated, warehouse);
    let found = match tables::list(core, &gated, rev).await {
        Ok((_, tables)) => tables.into_iter().find(|t| t.name == table),
        Err(e) if e.kind == Kind::NotFound => None,
        Err(e) => return Err(e),
    };
    let Some(found) = found else {
        return Err(no_table(ns, table, warehouse));
    };
    let heads = heads(core, &gated).await?;
    let key = format!(
        "{}|{}|{table}|{}|{heads:?}",
        super::caller_key(core, who).await,
        gated.id,
        warehouse.0,
    );
    let loaded = match core.iceberg.loads.get(&key, KEPT) {
        Some(l) => l,
        None => {
            let l = Arc::new(make(core, &gated, &found.path, table, warehouse).await?);
            core.iceberg.loads.put(key, l.clone(), KEPT, KEPT_LOADS);
            l
        }
    };
    // The gateway takes a signature of any region; engines need one named.
    let region = "us-east-1";
    let mut config = json!({
        "s3.endpoint": endpoint,
        "s3.path-style-access": "true",
        "s3.region": region,
        "client.region": region,
    });
    if let Principal::User { user, .. } = who {
        // A caller who may write the dataset may stage a commit's files with it too.
        let writes = gate::shared(core, who, &gated.namespace, &gated.name, Action::Write)
            .await
            .is_ok();
        let key = creds::mint(core, user.id, gated.id, table, writes);
        config["s3.access-key-id"] = json!(key.id);
        config["s3.secret-access-key"] = json!(key.secret);
        config["strata.credentials-expire-at-ms"] = json!((key.expires * 1000).to_string());
    }
    Ok((loaded, config))
}

/// Every branch and tag of the dataset with its commit: a load is kept while they stay.
async fn heads(core: &Core, gated: &Gated) -> Result<Vec<(String, String)>> {
    git_on(core, gated, |ms, ds| {
        let mut all = ms.branches(ds)?;
        all.extend(
            ms.tags(ds)?
                .into_iter()
                .map(|t| (format!("tag:{}", t.name), t.revision)),
        );
        Ok(all)
    })
    .await
}

/// The revisions: the default branch's that changed `path` (newest first), and for each branch
/// and tag the newest revision it reaches that changed it (refs without the table left out).
async fn history(
    core: &Core,
    gated: &Gated,
    path: &str,
) -> Result<(Vec<Revision>, Vec<(String, bool, Revision)>)> {
    let (path, limited) = (path.to_owned(), gated.limited());
    git_on(core, gated, move |ms, ds| {
        let limit = if limited { 1 } else { SNAPSHOTS };
        let main = match ms.revisions(ds, Some(DEFAULT_BRANCH), None, limit, Some(&path)) {
            Ok((revs, _)) => revs,
            Err(strata_metastore::Error::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut refs = Vec::new();
        if !limited {
            let tags = ms.tags(ds)?.into_iter().map(|t| (t.name, true));
            let branches = ms.branches(ds)?.into_iter().map(|(b, _)| (b, false));
            // The default branch first, then the others, as many as a load names.
            let mut all: Vec<(String, bool)> = branches.chain(tags).collect();
            all.sort_by_key(|(name, tag)| (name != DEFAULT_BRANCH, *tag));
            all.truncate(REFS);
            for (name, tag) in all {
                if let Ok((revs, _)) = ms.revisions(ds, Some(&name), None, 1, Some(&path)) {
                    if let Some(r) = revs.into_iter().next() {
                        refs.push((name, tag, r));
                    }
                }
            }
        }
        Ok((main, refs))
    })
    .await
}

/// A snapshot's id: the revision's first 60 bits (positive, as Iceberg's ids are).
pub(super) fn snapshot_id(rev: &str) -> i64 {
    i64::from_str_radix(rev.get(..15).unwrap_or("0"), 16).unwrap_or(0)
}

async fn make(
    core: &Core,
    gated: &Gated,
    path: &str,
    table: &str,
    warehouse: &Warehouse,
) -> Result<Loaded> {
    let (main, refs) = history(core, gated, path).await?;
    let in_main = main.len();
    // Every revision once, oldest first.
    let mut revs: Vec<Revision> = main;
    for (_, _, r) in &refs {
        if !revs.iter().any(|x| x.id == r.id) {
            revs.push(r.clone());
        }
    }
    revs.sort_by_key(|r| r.time);
    // Opened and viewed newest first: views are made for the newest while the budget lasts.
    let (mut snaps, mut omitted, mut makes) = (Vec::new(), 0usize, MAKES);
    for rev in revs.iter().rev() {
        let at = (!gated.limited()).then_some(rev.id.as_str());
        let opened = match tables::open(core, gated, table, at, None, Surface::Iceberg).await {
            Ok(o) => o,
            // Not a table there (renamed, another format), or not for this caller.
            Err(e) if matches!(e.kind, Kind::NotFound | Kind::Invalid | Kind::Forbidden) => {
                continue
            }
            Err(e) => return Err(e),
        };
        let view = match view::find(core, gated.id, &opened).await? {
            Some(v) => v,
            None if makes > 0 => {
                makes -= 1;
                match view::view(core, gated.id, &opened).await {
                    Ok(v) => v,
                    Err(e) if e.kind == Kind::Invalid => continue,
                    Err(e) => return Err(e),
                }
            }
            None => {
                omitted += 1;
                continue;
            }
        };
        let columns = columns(core, &view).await?;
        snaps.push(Snap {
            rev: rev.clone(),
            view,
            columns,
        });
    }
    snaps.reverse();
    // Ids: every field of every snapshot, kept per table.
    let mut paths = Vec::new();
    for s in &snaps {
        for p in schema::paths(&s.columns) {
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
    }
    if paths.len() > FIELDS {
        return Err(Error::unprocessable(format!(
            "{table:?} has {} fields over its revisions: an Iceberg table here has at most {FIELDS}",
            paths.len()
        )));
    }
    let kept = core.db.iceberg_field_ids(gated.id, table, &paths).await?;
    // Only the fields this caller's views have: one a policy removes for them is not named.
    let last_id = schema::last_id(&kept);
    let ids: HashMap<String, i32> = kept
        .into_iter()
        .filter(|(p, _)| paths.contains(p))
        .collect();
    let bucket = crate::compat::s3::bucket_name(&gated.namespace, &gated.name);
    let location = format!("s3://{bucket}/.iceberg/{table}");
    let mut schemas: Vec<Value> = Vec::new();
    let (mut snapshots, mut log) = (Vec::new(), Vec::new());
    let mut parent: Option<i64> = None;
    for (i, s) in snaps.iter().enumerate() {
        let mut this = schema::iceberg(&s.columns, &ids, 0);
        let schema_id = match schemas.iter().position(|x| x["fields"] == this["fields"]) {
            Some(n) => n as i32,
            None => {
                this["schema-id"] = json!(schemas.len());
                schemas.push(this);
                (schemas.len() - 1) as i32
            }
        };
        let id = snapshot_id(&s.rev.id);
        let name = FileName {
            sequence: i as i64 + 1,
            rev: s.rev.id.clone(),
            schema: schema_id,
            key: s.view.key.clone(),
        };
        let ms = s.rev.time * 1000;
        let mut snap = json!({
            "snapshot-id": id,
            "sequence-number": i + 1,
            "timestamp-ms": ms,
            "manifest-list": format!("{location}/{}", name.path(Which::List)),
            "schema-id": schema_id,
            "summary": {
                "operation": if parent.is_none() { "append" } else { "overwrite" },
                "added-data-files": "1",
                "added-records": s.view.rows.to_string(),
                "total-records": s.view.rows.to_string(),
                "total-data-files": "1",
                "strata.revision": s.rev.id,
                "strata.message": s.rev.message.trim_end(),
                "strata.author": s.rev.author.name,
            },
        });
        if let Some(p) = parent {
            snap["parent-snapshot-id"] = json!(p);
        }
        parent = Some(id);
        log.push(json!({"snapshot-id": id, "timestamp-ms": ms}));
        snapshots.push(snap);
    }
    let snap_of = |rev: &str| {
        snaps
            .iter()
            .find(|s| s.rev.id == rev)
            .map(|s| (snapshot_id(&s.rev.id), s))
    };
    // The warehouse's ref reads as `main`; the others by their names.
    let mut refs_out = serde_json::Map::new();
    let mut current = None;
    for (name, tag, rev) in &refs {
        let Some((id, _)) = snap_of(&rev.id) else {
            continue;
        };
        if *name == warehouse.0 {
            current = Some(id);
        }
        if name != DEFAULT_BRANCH {
            let kind = if *tag { "tag" } else { "branch" };
            refs_out.insert(name.clone(), json!({"snapshot-id": id, "type": kind}));
        }
    }
    if gated.limited() {
        current = snaps.last().map(|s| snapshot_id(&s.rev.id));
    }
    let current_schema =
        match current.and_then(|c| snaps.iter().find(|s| snapshot_id(&s.rev.id) == c)) {
            Some(s) => snapshots
                .iter()
                .find(|x| x["snapshot-id"] == snapshot_id(&s.rev.id))
                .and_then(|x| x["schema-id"].as_i64())
                .unwrap_or(0),
            None => schemas.len().saturating_sub(1) as i64,
        };
    if let Some(c) = current {
        refs_out.insert(
            DEFAULT_BRANCH.into(),
            json!({"snapshot-id": c, "type": "branch"}),
        );
    }
    if schemas.is_empty() {
        schemas.push(json!({"type": "struct", "schema-id": 0, "fields": []}));
    }
    let mut properties = json!({
        "schema.name-mapping.default": schema::name_mapping(&ids),
        "strata.dataset": gated.path(),
        "strata.table": table,
        "strata.warehouse": warehouse.0,
    });
    if in_main == SNAPSHOTS {
        properties["strata.snapshots-capped"] =
            json!(format!("only the newest {SNAPSHOTS} revisions of {DEFAULT_BRANCH} that changed the table are snapshots"));
    }
    if omitted > 0 {
        properties["strata.snapshots-omitted"] = json!(format!(
            "{omitted} older revisions are left out while their views are made: load the table again"
        ));
    }
    let updated = snaps.iter().map(|s| s.rev.time * 1000).max().unwrap_or(0);
    let uuid = table_uuid(gated.id, table);
    let metadata = json!({
        "format-version": 2,
        "table-uuid": uuid,
        "location": location,
        "last-sequence-number": snaps.len(),
        "last-updated-ms": updated,
        "last-column-id": last_id,
        "schemas": schemas,
        "current-schema-id": current_schema,
        "partition-specs": [{"spec-id": 0, "fields": []}],
        "default-spec-id": 0,
        "last-partition-id": 999,
        "sort-orders": [{"order-id": 0, "fields": []}],
        "default-sort-order-id": 0,
        "properties": properties,
        "current-snapshot-id": current.unwrap_or(-1),
        "snapshots": snapshots,
        "snapshot-log": log,
        "metadata-log": [],
        "refs": refs_out,
    });
    let digest = crate::auth::secrets::stored(&metadata.to_string());
    let metadata_location = format!(
        "{location}/metadata/{}.{}.metadata.json",
        warehouse.prefix(),
        &digest[..16.min(digest.len())]
    );
    Ok(Loaded {
        metadata,
        metadata_location,
    })
}

/// A table's uuid: the same for every load of it.
fn table_uuid(repo_id: i64, table: &str) -> String {
    use sha2::Digest;
    let h = hex::encode(sha2::Sha256::digest(format!("{repo_id}/{table}")));
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// The columns of a view (its Parquet file's schema), kept by view.
pub(super) async fn columns(core: &Core, view: &view::View) -> Result<SchemaRef> {
    if let Some(s) = core
        .iceberg
        .schemas
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&view.oid)
    {
        return Ok(s.clone());
    }
    let df = core
        .tables
        .read_parquet(core, view.place(), &view.oid, view.size)
        .await
        .map_err(|e| Error::internal(format!("reading a view's columns: {e}")))?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let mut kept = core
        .iceberg
        .schemas
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if kept.len() > 10_000 {
        kept.clear();
    }
    kept.insert(view.oid, schema.clone());
    Ok(schema)
}

/// The ids of a table's fields, for a file made again (every field of `columns` has one).
pub(super) async fn ids(
    core: &Core,
    repo_id: i64,
    table: &str,
    columns: &SchemaRef,
) -> Result<HashMap<String, i32>> {
    Ok(core
        .db
        .iceberg_field_ids(repo_id, table, &schema::paths(columns))
        .await?)
}
