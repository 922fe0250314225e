//! What a region feed's snapshot must not carry, beyond the tables it decides one by one
//! (`super::snapshot`): the raw bytes a policy governs wherever else they are (a copy at another
//! path, a second resource naming the same object, an older version, a branch or tag whose
//! datapackage tags nothing), as LFS refuses them raw to a reader in that region
//! (`policies::raw_objects`); plain files when the dataset as a whole is transformed; and, of
//! the datapackage and `.gitattributes`, what would describe or sample withheld or governed
//! data.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};
use strata_lfs::pointer::Pointer;
use strata_lfs::Oid;
use strata_metastore::{DatasetId, Op, DATAPACKAGE, GITATTRIBUTES};
use strata_policy::Decision;

use crate::datasets::catalog::Catalog;
use crate::datasets::gated::Gated;
use crate::datasets::policies::{raw_objects, Surface};
use crate::error::{Error, Result};
use crate::governance::write::{patch_package, Applied};
use crate::Core;

/// Removes from `files` what may not leave raw (the governed versions `made` here excepted);
/// returns the paths removed.
pub(super) async fn raw(
    core: &Core,
    gated: &Gated,
    whole: &Decision,
    catalog: &Catalog,
    files: &mut BTreeMap<String, Vec<u8>>,
    made: &HashSet<Oid>,
) -> Result<Vec<String>> {
    let pointers: Vec<(String, Oid)> = files
        .iter()
        .filter_map(|(path, data)| Some((path.clone(), Pointer::parse(data).ok()?.oid)))
        .filter(|(_, oid)| !made.contains(oid))
        .collect();
    let asked: Vec<Oid> = pointers.iter().map(|(_, o)| *o).collect();
    let mut out = Vec::new();
    if let Some(allowed) = raw_objects(core, gated, Surface::Feed, &asked).await? {
        for (path, oid) in pointers {
            if !allowed.contains(&oid) {
                files.remove(&path);
                out.push(path);
            }
        }
    }
    if whole.transforms() {
        // The dataset as a whole is transformed: a plain file that is no table cannot be.
        let plain: Vec<String> = files
            .iter()
            .filter(|(path, data)| {
                Pointer::parse(data).is_err()
                    && path.as_str() != DATAPACKAGE
                    && path.as_str() != GITATTRIBUTES
                    && catalog.table_at(path).is_none()
            })
            .map(|(path, _)| path.clone())
            .collect();
        for path in plain {
            files.remove(&path);
            out.push(path);
        }
    }
    Ok(out)
}

/// Keys of a resource that may hold its data (inline rows, samples, examples).
const DATA_KEYS: [&str; 5] = ["data", "sample", "samples", "example", "examples"];

/// The source's datapackage as the feed carries it: resources withheld (by name, or whose path
/// was withheld) left out; governed ones with their new hash, size and schema, and without
/// inline data or examples (of the resource or of any field).
pub(super) fn repackage(
    core: &Core,
    data: Vec<u8>,
    withheld: &[String],
    paths: &[String],
    applied: &[Applied],
) -> Result<Vec<u8>> {
    let mut json: Map<String, Value> = serde_json::from_slice(&data)
        .map_err(|e| Error::conflict(format!("the source's {DATAPACKAGE} is unreadable: {e}")))?;
    if let Some(Value::Array(resources)) = json.get_mut("resources") {
        resources.retain(|r| {
            let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
            let path = r.get("path").and_then(Value::as_str).unwrap_or_default();
            !withheld.iter().any(|w| w == name) && !paths.iter().any(|p| p == path)
        });
        for r in resources.iter_mut().filter_map(Value::as_object_mut) {
            let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
            if !applied.iter().any(|a| a.resource == name) {
                continue;
            }
            for key in DATA_KEYS {
                r.remove(key);
            }
            let fields = r
                .get_mut("schema")
                .and_then(|s| s.get_mut("fields"))
                .and_then(Value::as_array_mut);
            for f in fields
                .into_iter()
                .flatten()
                .filter_map(Value::as_object_mut)
            {
                for key in DATA_KEYS {
                    f.remove(key);
                }
            }
        }
    }
    let data = serde_json::to_vec_pretty(&Value::Object(json)).map_err(Error::internal)?;
    let mut ops = vec![Op::Put {
        path: DATAPACKAGE.into(),
        data,
    }];
    let unused = DatasetId {
        ns: "feeds",
        name: "unused",
    };
    patch_package(&core.metastore, unused, None, &mut ops, applied)?;
    match ops.pop() {
        Some(Op::Put { data, .. }) => Ok(data),
        _ => Err(Error::internal("the datapackage went missing")),
    }
}

/// `.gitattributes` without the lines about `paths` (files the feed does not carry).
pub(super) fn attributes(data: &[u8], paths: &[String]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(data) else {
        return data.to_vec();
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or_default();
        if paths.iter().any(|p| p == first) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.into_bytes()
}
