//! A revision's datapackage as its files hold it: each table resource's `hash` and `bytes` taken
//! from the LFS pointer at its path, so what a revision's files say wins over a datapackage entry
//! a write left behind (the file manager, a push replacing a table's file alone). Read by the
//! contract checks, the write path, the push hook and the views made ahead of time; and the
//! [`jobs`] a datapackage declares, checked wherever one is written.

use serde_json::{Map, Value};

/// `package` as the files of its revision hold it: each resource's `hash` and `bytes` are those
/// of the LFS file at its path (`file` reads a path of the revision), so a write that replaces a
/// table's file without its datapackage entry (the file manager, a push) is checked on its bytes.
pub fn at_files(package: &mut Map<String, Value>, file: impl Fn(&str) -> Option<Vec<u8>>) {
    let Some(Value::Array(resources)) = package.get_mut("resources") else {
        return;
    };
    for r in resources.iter_mut().filter_map(Value::as_object_mut) {
        let Some(path) = r.get("path").and_then(Value::as_str).map(str::to_owned) else {
            continue;
        };
        let Some(pointer) = file(&path).and_then(|b| strata_lfs::pointer::lenient(&b)) else {
            continue;
        };
        r.insert(
            "hash".into(),
            Value::String(format!("sha256:{}", pointer.oid)),
        );
        r.insert("bytes".into(), Value::from(pointer.size));
    }
}

/// The datapackage of commit `revision` as its files hold it ([`at_files`]); `None` without one,
/// `Some(Err(why))` when it is not JSON.
pub fn at(
    ms: &strata_metastore::Metastore,
    ds: strata_metastore::DatasetId<'_>,
    revision: &str,
) -> strata_metastore::Result<Option<std::result::Result<Map<String, Value>, String>>> {
    let files = ms.files(ds, Some(revision))?;
    let bytes = match files.upto(strata_metastore::DATAPACKAGE, u64::MAX) {
        Ok((_, b)) => b.unwrap_or_default(),
        Err(strata_metastore::Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut package: Map<String, Value> = match serde_json::from_slice(&bytes) {
        Ok(p) => p,
        Err(e) => return Ok(Some(Err(format!("datapackage.json is not JSON: {e}")))),
    };
    // Only an LFS pointer's worth of each file is read: a larger file is no pointer.
    at_files(&mut package, |path| {
        files.upto(path, 1024).ok().and_then(|(_, b)| b)
    });
    Ok(Some(Ok(package)))
}

/// The jobs `package` declares (its `jobs` object); a wrong one is refused (422) naming its field.
pub fn jobs(package: &Map<String, Value>) -> crate::error::Result<Vec<strata_apps::job::Job>> {
    strata_apps::job::declared(package).map_err(crate::error::Error::unprocessable)
}
