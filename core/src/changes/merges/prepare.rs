//! A merge worked out: the two heads and their base, what each changed file becomes, the
//! datapackage merged, the tables both sides changed merged on their keys, and every conflict
//! with a stable id. [`Prepared::ops`] turns it, with the conflicts' resolutions, into the
//! merge commit's file operations.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};
use strata_metastore::{ObjectId, PathSides, Sides, DATAPACKAGE, GITATTRIBUTES, LFSCONFIG};
use strata_policy::Decision;

use super::plan::{self, Seg};
use super::rows::{self, RowClash};
use crate::datasets::catalog::Catalog;
use crate::datasets::gated::Gated;
use crate::datasets::git_on;
use crate::error::{Error, Result};
use crate::tables::{Kind, Opened};
use crate::Core;

/// The most conflicts one merge lists; past it, resolve on the source branch and push.
pub const MAX_CONFLICTS: usize = 1000;

/// Where a conflict is, to apply its resolution.
#[derive(Debug, Clone)]
pub(super) enum Place {
    /// A file both sides changed (not a resource, not the datapackage).
    File(PathSides),
    /// A datapackage property both sides changed.
    Package(Vec<Seg>),
    /// A resource's stored bytes both sides changed, where they are not a CSV table.
    Data(String),
    /// A row or a cell of a table.
    Row(Box<RowClash>),
}

/// A place both sides changed differently.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Conflict {
    /// Stable while the conflict is the same (a keyed hash of where it is and of the values).
    pub id: String,
    /// `file`, `package`, `data`, `row` or `cell`.
    pub kind: &'static str,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// In the datapackage: `resources[trips].schema.fields[fare]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The three sides' values (`null`: absent or deleted); withheld (`hidden`) where the
    /// caller's policies transform or filter the table.
    pub base: Value,
    pub ours: Value,
    pub theirs: Value,
    pub hidden: bool,
    #[serde(skip)]
    pub(super) place: Place,
}

/// How one changed path is merged.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PathMerge {
    pub path: String,
    /// `source` (only the source changed it), `merged` (both did: merged by property, line or
    /// row), `conflict`, or `derived` (a resource's pointer, written from the datapackage).
    pub how: &'static str,
}

/// A table merged row by row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableMerge {
    pub resource: String,
    /// The key rows are matched on (empty: whole rows).
    pub key: Vec<String>,
    pub columns: Vec<String>,
}

pub(super) struct Table {
    pub(super) resource: String,
    pub(super) sides: [Opened; 3],
}

/// A merge worked out for the heads of the moment.
pub struct Prepared {
    pub sides: Sides,
    pub paths: Vec<PathMerge>,
    pub conflicts: Vec<Conflict>,
    /// More conflicts than [`MAX_CONFLICTS`].
    pub more: bool,
    pub tables: Vec<TableMerge>,
    pub(super) packages: [Option<Value>; 3],
    pub(super) merged: Option<Value>,
    pub(super) attributes: Option<String>,
    pub(super) ours_attributes: String,
    pub(super) takes: Vec<PathSides>,
    pub(super) row_tables: Vec<Table>,
}

/// Works out the merge of branch `source` into `target` of `gated`.
pub async fn prepare(
    core: &Core,
    gated: &Gated,
    target: &str,
    source: &str,
) -> Result<Arc<Prepared>> {
    let (t, s) = (target.to_owned(), source.to_owned());
    let sides = git_on(core, gated, move |ms, ds| ms.merge_sides(ds, &t, &s)).await?;
    prepared(core, gated, sides).await
}

/// The merge a merge commit made, worked out again from its parents (a merged request's record:
/// what it merged, as it was then).
pub async fn prepare_merged(core: &Core, gated: &Gated, merged: &str) -> Result<Arc<Prepared>> {
    let m = merged.to_owned();
    let sides = git_on(core, gated, move |ms, ds| ms.sides_of(ds, &m)).await?;
    prepared(core, gated, sides).await
}

async fn prepared(core: &Core, gated: &Gated, sides: Sides) -> Result<Arc<Prepared>> {
    if let Some(p) = core.merges.get(gated.id, &sides) {
        return Ok(p);
    }
    let p = Arc::new(work_out(core, gated, sides).await?);
    core.merges.put(gated.id, p.clone());
    Ok(p)
}

/// Merges worked out lately, by dataset and heads (all a merge depends on): a merge request's
/// page read again, and the merge after it, do not group the tables again.
#[derive(Default)]
pub struct Cache(Mutex<HashMap<(i64, Sides), Arc<Prepared>>>);

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("merges::Cache")
    }
}

/// Merges kept at most.
const CACHED: usize = 32;

impl Cache {
    fn get(&self, repo_id: i64, sides: &Sides) -> Option<Arc<Prepared>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(repo_id, *sides)).cloned()
    }

    fn put(&self, repo_id: i64, p: Arc<Prepared>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CACHED {
            map.clear();
        }
        map.insert((repo_id, p.sides), p);
    }
}

/// The conflicts of `p` as the caller may see them: those of a table the caller's policies
/// transform, filter or deny say where they are (the column), never the row's key or a value.
pub async fn shown(core: &Core, gated: &Gated, p: &Prepared) -> Result<Vec<Conflict>> {
    let mut hidden = HashSet::new();
    for t in &p.row_tables {
        // Any side's tags may bring a policy to bear: hidden if one side's decision hides.
        for side in &t.sides {
            if hides(core, gated, &side.catalog, side).await? {
                hidden.insert(t.resource.clone());
                break;
            }
        }
    }
    Ok(p.conflicts
        .iter()
        .map(|c| {
            let mut c = c.clone();
            if matches!(c.place, Place::Row(_))
                && c.resource.as_ref().is_some_and(|r| hidden.contains(r))
            {
                c.key = None;
                c.base = Value::Null;
                c.ours = Value::Null;
                c.theirs = Value::Null;
                c.hidden = true;
            }
            c
        })
        .collect())
}

async fn work_out(core: &Core, gated: &Gated, sides: Sides) -> Result<Prepared> {
    let limit = core.settings.max_json_body as u64;
    let (sides, paths, packages, attrs) = git_on(core, gated, move |ms, ds| {
        let paths = ms.merge_paths(ds, &sides)?;
        let read =
            |rev: Option<ObjectId>, path: &str| -> strata_metastore::Result<Option<Vec<u8>>> {
                let Some(rev) = rev else { return Ok(None) };
                match ms.read_file_upto(ds, Some(&rev.to_string()), path, limit) {
                    Ok((_, bytes)) => Ok(bytes),
                    Err(strata_metastore::Error::NotFound(_)) => Ok(None),
                    Err(e) => Err(e),
                }
            };
        let mut packages = Vec::new();
        let mut attrs = Vec::new();
        for rev in [sides.base, Some(sides.ours), Some(sides.theirs)] {
            packages.push(read(rev, DATAPACKAGE)?);
            attrs.push(read(rev, GITATTRIBUTES)?);
        }
        Ok((sides, paths, packages, attrs))
    })
    .await?;
    let parse = |bytes: &Option<Vec<u8>>| -> Result<Option<Value>> {
        bytes
            .as_deref()
            .map(|b| {
                serde_json::from_slice(b).map_err(|e| {
                    Error::unprocessable(format!(
                        "a datapackage.json of the merge is not JSON: {e}"
                    ))
                })
            })
            .transpose()
    };
    let packages = [
        parse(&packages[0])?,
        parse(&packages[1])?,
        parse(&packages[2])?,
    ];
    let text = |b: &Option<Vec<u8>>| {
        String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned()
    };

    let mut out = Prepared {
        sides,
        paths: Vec::new(),
        conflicts: Vec::new(),
        more: false,
        tables: Vec::new(),
        merged: packages[1].clone(),
        attributes: None,
        ours_attributes: text(&attrs[1]),
        takes: Vec::new(),
        row_tables: Vec::new(),
        packages: packages.clone(),
    };
    let mut clashes = Vec::new();
    let mut both_data = Vec::new();
    let package_path = paths.iter().find(|p| p.path == DATAPACKAGE);
    if let Some(p) = package_path {
        if p.theirs_only() {
            out.merged = packages[2].clone();
        } else if p.both() {
            let m = plan::package(
                packages[0].as_ref(),
                packages[1].as_ref(),
                packages[2].as_ref(),
            );
            out.merged = m.json;
            clashes = m.clashes;
            both_data = m.both_data;
        }
    }
    // Resource paths are written from the merged datapackage, not merged as files.
    let resource_paths: BTreeSet<String> = packages
        .iter()
        .flatten()
        .flat_map(resource_list)
        .filter_map(|r| r.get("path").and_then(Value::as_str).map(str::to_owned))
        .collect();
    for p in &paths {
        let how = if p.path == DATAPACKAGE {
            if p.both() {
                "merged"
            } else {
                "source"
            }
        } else if resource_paths.contains(&p.path) {
            "derived"
        } else if p.path == GITATTRIBUTES {
            if p.both() {
                out.attributes = Some(plan::lines(
                    &text(&attrs[0]),
                    &text(&attrs[1]),
                    &text(&attrs[2]),
                ));
                "merged"
            } else if p.theirs_only() {
                out.attributes = Some(text(&attrs[2]));
                "source"
            } else {
                continue;
            }
        } else if p.path == LFSCONFIG && p.both() {
            "merged"
        } else if p.theirs_only() {
            out.takes.push(p.clone());
            "source"
        } else if p.both() {
            out.conflicts.push(file_conflict(p));
            "conflict"
        } else {
            continue;
        };
        out.paths.push(PathMerge {
            path: p.path.clone(),
            how,
        });
    }
    for c in clashes {
        out.conflicts.push(Conflict {
            id: String::new(),
            kind: "package",
            path: DATAPACKAGE.into(),
            resource: match c.at.as_slice() {
                [Seg::Key(k), Seg::Named(n), ..] if k == "resources" => Some(n.clone()),
                _ => None,
            },
            location: Some(plan::shown(&c.at)),
            key: None,
            column: None,
            base: c.base.unwrap_or(Value::Null),
            ours: c.ours.unwrap_or(Value::Null),
            theirs: c.theirs.unwrap_or(Value::Null),
            hidden: false,
            place: Place::Package(c.at),
        });
    }
    // Tables both sides changed: merged on their keys where all three are CSV tables.
    let catalogs = packages.clone().map(|p| {
        let map = p.and_then(|v| v.as_object().cloned()).unwrap_or_default();
        Catalog::read(&gated.path(), &map)
    });
    for name in both_data {
        match table_sides(&catalogs, &name) {
            Some(sides) => out.row_tables.push(Table {
                resource: name,
                sides,
            }),
            None => out.conflicts.push(data_conflict(&packages, &name)),
        }
    }
    for t in &out.row_tables {
        let room = MAX_CONFLICTS.saturating_sub(out.conflicts.len());
        let sides = rows::Sides {
            base: &t.sides[0],
            ours: &t.sides[1],
            theirs: &t.sides[2],
        };
        let (shape, found, more) = rows::clashes(core, gated.id, &sides, room).await?;
        out.more |= more;
        let path = t.sides[1].table.path.clone();
        for c in found {
            out.conflicts.push(Conflict {
                id: String::new(),
                kind: if c.column.is_some() { "cell" } else { "row" },
                path: path.clone(),
                resource: Some(t.resource.clone()),
                location: None,
                key: Some(c.key.clone()),
                column: c.column.clone(),
                base: c.base.clone(),
                ours: c.ours.clone(),
                theirs: c.theirs.clone(),
                hidden: false,
                place: Place::Row(Box::new(c)),
            });
        }
        out.tables.push(TableMerge {
            resource: t.resource.clone(),
            key: shape.key,
            columns: shape.columns,
        });
    }
    out.more |= out.conflicts.len() > MAX_CONFLICTS;
    out.conflicts.truncate(MAX_CONFLICTS);
    let key = core.jwt.derive("strata merge conflict");
    for c in &mut out.conflicts {
        c.id = conflict_id(&key, c);
    }
    Ok(out)
}

fn resource_list(p: &Value) -> impl Iterator<Item = &Map<String, Value>> {
    p.get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

/// The three sides of resource `name` as raw CSV tables, if it is one on every side.
fn table_sides(catalogs: &[Catalog; 3], name: &str) -> Option<[Opened; 3]> {
    let side = |c: &Catalog| {
        let table = c.resources.iter().find(|t| t.name == name)?;
        let kind = Kind::of(table)?;
        if !matches!(kind, Kind::Csv { .. }) {
            return None;
        }
        Some(Opened {
            catalog: c.clone(),
            table: table.clone(),
            kind,
            object: table.object?,
            decision: Decision::default(),
        })
    };
    Some([
        side(&catalogs[0])?,
        side(&catalogs[1])?,
        side(&catalogs[2])?,
    ])
}

/// Whether the caller's policies transform, filter or deny the table: its conflicts then show
/// where they are (the column), never a key or a value.
async fn hides(core: &Core, gated: &Gated, catalog: &Catalog, side: &Opened) -> Result<bool> {
    let d = crate::datasets::policies::decide(
        core,
        gated,
        catalog,
        Some(&side.table),
        None,
        crate::datasets::policies::Surface::Table,
    )
    .await?;
    Ok(d.denied() || !d.columns.is_empty() || !d.filters.is_empty())
}

fn blob_value(id: Option<ObjectId>) -> Value {
    id.map_or(Value::Null, |i| json!({ "blob": i.to_string() }))
}

fn file_conflict(p: &PathSides) -> Conflict {
    Conflict {
        id: String::new(),
        kind: "file",
        path: p.path.clone(),
        resource: None,
        location: None,
        key: None,
        column: None,
        base: blob_value(p.base),
        ours: blob_value(p.ours),
        theirs: blob_value(p.theirs),
        hidden: false,
        place: Place::File(p.clone()),
    }
}

fn data_of(p: &Option<Value>, name: &str) -> Value {
    p.as_ref()
        .into_iter()
        .flat_map(resource_list)
        .find(|r| r.get("name").and_then(Value::as_str) == Some(name))
        .map_or(
            Value::Null,
            |r| json!({ "hash": r.get("hash"), "bytes": r.get("bytes") }),
        )
}

fn data_conflict(packages: &[Option<Value>; 3], name: &str) -> Conflict {
    let path = packages[1]
        .as_ref()
        .into_iter()
        .flat_map(resource_list)
        .find(|r| r.get("name").and_then(Value::as_str) == Some(name))
        .and_then(|r| r.get("path").and_then(Value::as_str))
        .unwrap_or(DATAPACKAGE)
        .to_owned();
    Conflict {
        id: String::new(),
        kind: "data",
        path,
        resource: Some(name.to_owned()),
        location: None,
        key: None,
        column: None,
        base: data_of(&packages[0], name),
        ours: data_of(&packages[1], name),
        theirs: data_of(&packages[2], name),
        hidden: false,
        place: Place::Data(name.to_owned()),
    }
}

pub(super) fn conflict_id(key: &[u8; 32], c: &Conflict) -> String {
    use hmac::{KeyInit, Mac};
    let (base, ours, theirs, k) = match &c.place {
        Place::Row(r) => (&r.base, &r.ours, &r.theirs, Some(&r.key)),
        _ => (&c.base, &c.ours, &c.theirs, None),
    };
    let what = json!([c.kind, c.path, c.resource, c.location, k, c.column, base, ours, theirs]);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(what.to_string().as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}
