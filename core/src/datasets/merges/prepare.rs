//! A merge worked out: the two heads and their base, what each changed file becomes, the
//! datapackage merged, the tables both sides changed merged on their keys, and every conflict
//! with a stable id. [`Prepared::ops`] turns it, with the conflicts' resolutions, into the
//! merge commit's file operations.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{json, Map, Value};
use strata_lfs::pointer::Pointer;
use strata_metastore::{
    lfs_attribute_line, ObjectId, Op, Package, PathSides, Sides, DATAPACKAGE, GITATTRIBUTES,
    LFSCONFIG,
};
use strata_policy::Decision;

use super::plan::{self, Seg};
use super::rows::{self, Pick, RowClash};
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
    Row(RowClash),
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
    resource: String,
    sides: [Opened; 3],
}

/// A merge worked out for the heads of the moment.
pub struct Prepared {
    pub sides: Sides,
    pub paths: Vec<PathMerge>,
    pub conflicts: Vec<Conflict>,
    /// More conflicts than [`MAX_CONFLICTS`].
    pub more: bool,
    pub tables: Vec<TableMerge>,
    packages: [Option<Value>; 3],
    merged: Option<Value>,
    attributes: Option<String>,
    ours_attributes: String,
    takes: Vec<PathSides>,
    row_tables: Vec<Table>,
}

/// Works out the merge of branch `source` into `target` of `gated`.
pub async fn prepare(core: &Core, gated: &Gated, target: &str, source: &str) -> Result<Prepared> {
    let (t, s) = (target.to_owned(), source.to_owned());
    let limit = core.settings.max_json_body as u64;
    let (sides, paths, packages, attrs) = git_on(core, gated, move |ms, ds| {
        let sides = ms.merge_sides(ds, &t, &s)?;
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
        let hidden = hides(core, gated, &catalogs[1], &t.sides[1]).await?;
        for c in found {
            out.conflicts.push(Conflict {
                id: String::new(),
                kind: if c.column.is_some() { "cell" } else { "row" },
                path: path.clone(),
                resource: Some(t.resource.clone()),
                location: None,
                key: (!hidden).then(|| c.key.clone()),
                column: c.column.clone(),
                base: if hidden { Value::Null } else { c.base.clone() },
                ours: if hidden { Value::Null } else { c.ours.clone() },
                theirs: if hidden {
                    Value::Null
                } else {
                    c.theirs.clone()
                },
                hidden,
                place: Place::Row(c),
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
    let d = crate::datasets::governance::decide(
        core,
        gated,
        catalog,
        Some(&side.table),
        None,
        crate::datasets::governance::Surface::Table,
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

fn conflict_id(key: &[u8; 32], c: &Conflict) -> String {
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

impl Prepared {
    /// The merge commit's operations, every conflict resolved by `picks` (by conflict id).
    pub async fn ops(
        &self,
        core: &Core,
        gated: &Gated,
        picks: &HashMap<String, Pick>,
    ) -> Result<Vec<Op>> {
        let mut merged = self.merged.clone();
        let mut ops: BTreeMap<String, Op> = BTreeMap::new();
        let mut rows: HashMap<String, Pick> = HashMap::new();
        let mut blobs: Vec<(String, ObjectId)> = Vec::new();
        let mut deletes: Vec<String> = Vec::new();
        let mut take_blob = |path: &str, id: Option<ObjectId>| match id {
            Some(id) => blobs.push((path.to_owned(), id)),
            None => deletes.push(path.to_owned()),
        };
        for p in &self.takes {
            take_blob(&p.path, p.theirs);
        }
        for c in &self.conflicts {
            let pick = picks.get(&c.id).cloned().ok_or_else(|| {
                Error::conflict(format!(
                    "conflict {} ({} {}) is not resolved",
                    c.id, c.kind, c.path
                ))
            })?;
            let side = |p: &Pick, b: &Value, o: &Value, t: &Value| -> Result<Option<Value>> {
                Ok(match p {
                    Pick::Base => Some(b.clone()),
                    Pick::Ours => Some(o.clone()),
                    Pick::Theirs => Some(t.clone()),
                    Pick::Value(_) => {
                        return Err(Error::unprocessable(format!(
                            "conflict {} is resolved by taking a side (ours, theirs or base): only a cell takes a value",
                            c.id
                        )))
                    }
                }
                .filter(|v| !v.is_null()))
            };
            match &c.place {
                Place::File(p) => match &pick {
                    Pick::Ours => {}
                    Pick::Theirs => take_blob(&p.path, p.theirs),
                    Pick::Base => take_blob(&p.path, p.base),
                    Pick::Value(_) => {
                        side(&pick, &c.base, &c.ours, &c.theirs)?;
                    }
                },
                Place::Package(at) => {
                    let v = side(&pick, &c.base, &c.ours, &c.theirs)?;
                    if let Some(json) = merged.as_mut() {
                        plan::set_at(json, at, v);
                    }
                }
                Place::Data(name) => {
                    let v = side(&pick, &c.base, &c.ours, &c.theirs)?;
                    if let Some(json) = merged.as_mut() {
                        set_data(json, name, v.as_ref());
                    }
                }
                Place::Row(_) => {
                    rows.insert(c.id.clone(), pick);
                }
            }
        }
        // Tables merged row by row, written to the store and linked to the dataset.
        let key = core.jwt.derive("strata merge conflict");
        for t in &self.row_tables {
            let rows = rows.clone();
            let resource = t.resource.clone();
            let path = t.sides[1].table.path.clone();
            let pick: Arc<dyn Fn(&RowClash) -> Option<Pick> + Send + Sync> =
                Arc::new(move |r: &RowClash| {
                    let c = Conflict {
                        id: String::new(),
                        kind: if r.column.is_some() { "cell" } else { "row" },
                        path: path.clone(),
                        resource: Some(resource.clone()),
                        location: None,
                        key: None,
                        column: r.column.clone(),
                        base: Value::Null,
                        ours: Value::Null,
                        theirs: Value::Null,
                        hidden: false,
                        place: Place::Row(r.clone()),
                    };
                    rows.get(&conflict_id(&key, &c)).cloned()
                });
            let sides = rows::Sides {
                base: &t.sides[0],
                ours: &t.sides[1],
                theirs: &t.sides[2],
            };
            let (oid, size) = rows::write(core, gated.id, &sides, pick).await?;
            core.db.link_object(gated.id, &oid, size).await?;
            if let Some(json) = merged.as_mut() {
                let data = json!({"hash": format!("sha256:{oid}"), "bytes": size});
                set_data(json, &t.resource, Some(&data));
            }
        }
        // The datapackage and the files derived from it.
        let mut attributes = self.attributes.clone();
        if merged != self.packages[1] {
            let ours = match &self.packages[1] {
                Some(v) => Some(Package::from_json(v.clone())?),
                None => None,
            };
            match &merged {
                Some(json) => {
                    let package = Package::from_json(json.clone()).map_err(|e| {
                        Error::unprocessable(format!("the merged datapackage.json: {e}"))
                    })?;
                    ops.insert(
                        DATAPACKAGE.into(),
                        Op::Put {
                            path: DATAPACKAGE.into(),
                            data: package.to_bytes(),
                        },
                    );
                    let before: BTreeMap<&str, (&strata_lfs::Oid, u64)> = ours
                        .iter()
                        .flat_map(|p| &p.resources)
                        .map(|r| (r.path.as_str(), (&r.oid, r.size)))
                        .collect();
                    let mut lines = attributes
                        .clone()
                        .unwrap_or_else(|| self.ours_attributes.clone());
                    for r in &package.resources {
                        if before.get(r.path.as_str()) != Some(&(&r.oid, r.size)) {
                            let pointer = Pointer {
                                oid: r.oid,
                                size: r.size,
                            };
                            ops.insert(
                                r.path.clone(),
                                Op::Put {
                                    path: r.path.clone(),
                                    data: pointer.encode().into_bytes(),
                                },
                            );
                        }
                        let line = lfs_attribute_line(&r.path);
                        if !lines.lines().any(|l| format!("{l}\n") == line) {
                            if !lines.is_empty() && !lines.ends_with('\n') {
                                lines.push('\n');
                            }
                            lines.push_str(&line);
                        }
                    }
                    if lines != self.ours_attributes {
                        attributes = Some(lines);
                    }
                    let kept: BTreeSet<&str> =
                        package.resources.iter().map(|r| r.path.as_str()).collect();
                    for path in before.keys().filter(|p| !kept.contains(*p)) {
                        deletes.push((*path).to_owned());
                    }
                }
                None => deletes.push(DATAPACKAGE.into()),
            }
        }
        if let Some(text) = attributes {
            ops.insert(
                GITATTRIBUTES.into(),
                Op::Put {
                    path: GITATTRIBUTES.into(),
                    data: text.into_bytes(),
                },
            );
        }
        // Files taken from one side, read from git.
        let wanted: Vec<(String, ObjectId)> = blobs
            .into_iter()
            .filter(|(p, _)| !ops.contains_key(p))
            .collect();
        let read = git_on(core, gated, move |ms, ds| {
            wanted
                .into_iter()
                .map(|(p, id)| {
                    let data = ms.blob_upto(ds, id, u64::MAX)?.unwrap_or_default();
                    Ok(Op::Put { path: p, data })
                })
                .collect::<strata_metastore::Result<Vec<Op>>>()
        })
        .await?;
        for op in read {
            if let Op::Put { path, .. } = &op {
                ops.insert(path.clone(), op);
            }
        }
        for path in deletes {
            ops.entry(path.clone()).or_insert(Op::Delete { path });
        }
        Ok(ops.into_values().collect())
    }
}

/// Sets resource `name`'s `hash` and `bytes` from `data` (`{hash, bytes}`; `None`: removes the
/// resource).
fn set_data(json: &mut Value, name: &str, data: Option<&Value>) {
    let Some(list) = json.get_mut("resources").and_then(Value::as_array_mut) else {
        return;
    };
    let Some(i) = list
        .iter()
        .position(|r| r.get("name").and_then(Value::as_str) == Some(name))
    else {
        return;
    };
    match data {
        Some(d) => {
            if let Some(r) = list[i].as_object_mut() {
                for k in ["hash", "bytes"] {
                    match d.get(k) {
                        Some(v) if !v.is_null() => {
                            r.insert(k.into(), v.clone());
                        }
                        _ => {
                            r.remove(k);
                        }
                    }
                }
            }
        }
        None => {
            list.remove(i);
        }
    }
}
