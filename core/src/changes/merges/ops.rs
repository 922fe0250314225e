//! A prepared merge turned into the merge commit's file operations: each conflict's resolution
//! applied (a side's file, a datapackage property, a resource's bytes, rows and cells), the
//! tables merged row by row written to the store and linked, the datapackage and the pointers
//! and `.gitattributes` lines derived from it, and the files taken from one side read from git.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{json, Value};
use strata_lfs::pointer::Pointer;
use strata_metastore::{lfs_attribute_line, ObjectId, Op, Package, DATAPACKAGE, GITATTRIBUTES};

use super::plan;
use super::prepare::{conflict_id, Conflict, Place, Prepared};
use super::rows::{self, Pick, RowClash};
use crate::datasets::gated::Gated;
use crate::datasets::git_on;
use crate::error::{Error, Result};
use crate::Core;

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
            // The side taken (`None`: absent there); a value of one's own is for cells only.
            let taken = match &pick {
                Pick::Base => Some(&c.base),
                Pick::Ours => Some(&c.ours),
                Pick::Theirs => Some(&c.theirs),
                Pick::Value(_) if matches!(c.place, Place::Row(_)) => None,
                Pick::Value(_) => {
                    return Err(Error::unprocessable(format!(
                        "conflict {} is resolved by taking a side (ours, theirs or base): only a cell takes a value",
                        c.id
                    )))
                }
            }
            .filter(|v| !v.is_null())
            .cloned();
            match &c.place {
                Place::File(p) => match &pick {
                    Pick::Theirs => take_blob(&p.path, p.theirs),
                    Pick::Base => take_blob(&p.path, p.base),
                    _ => {}
                },
                Place::Package(at) => {
                    if let Some(json) = merged.as_mut() {
                        plan::set_at(json, at, taken);
                    }
                }
                Place::Data(name) => {
                    if let Some(json) = merged.as_mut() {
                        set_data(json, name, taken.as_ref());
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
            let pick: rows::Picker = Arc::new(move |r: &RowClash| {
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
                    place: Place::Row(Box::new(r.clone())),
                };
                rows.get(&conflict_id(&key, &c)).cloned()
            });
            let sides = rows::Sides {
                base: &t.sides[0],
                ours: &t.sides[1],
                theirs: &t.sides[2],
            };
            let (oid, size) = rows::write(core, gated.id, &sides, pick).await?;
            core.storage.link(gated.id, &oid, size).await?;
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
