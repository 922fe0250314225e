//! Erasing rows: the rows of a CSV table with a `primaryKey` whose key is one of those given,
//! removed from every version of the table in the dataset's history. Each version holding one is
//! written again without it (a new object; the other rows' values unchanged, the file written
//! out as CSV again), its pointer and datapackage resource rewritten in every revision that has
//! it, and the old version erased as erased files are (see the module above).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use serde_json::{json, Map, Value};
use strata_lfs::pointer::Pointer;
use strata_lfs::Oid;
use strata_metastore::{DatasetId, Edit, DATAPACKAGE};

use super::{finish, Done, Report};
use crate::error::{Error, Result};
use crate::Core;

/// The most keys one erasure takes.
pub const MAX_KEYS: usize = 10_000;

/// Erases the rows of table `resource` (at the head of the default branch) whose primary key is
/// one of `keys` (each an object naming every key column) from every version of it.
pub async fn erase_rows(
    core: &Core,
    by: &str,
    ns: &str,
    name: &str,
    resource: &str,
    keys: &[Map<String, Value>],
) -> Result<Report> {
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(Error::unprocessable(format!(
            "name 1 to {MAX_KEYS} rows by their primary key"
        )));
    }
    let repo = core
        .db
        .repo_by_path(ns, name)
        .await?
        .ok_or_else(|| Error::not_found(format!("dataset {ns}/{name} not found")))?;
    let ds = (repo.namespace.clone(), repo.name.clone());
    let (_, package) = {
        let (ns, name) = ds.clone();
        crate::datasets::git(core, move |ms| {
            ms.fetch(
                DatasetId {
                    ns: &ns,
                    name: &name,
                },
                None,
            )
        })
        .await?
    };
    let table = Table::of(&package.json, resource)?;
    let wanted = table.keys(keys)?;
    crate::audit::record(
        core,
        "dataset.erase.start",
        Some(by),
        Some(&repo.path()),
        json!({ "resource": resource, "rows": keys.len() }),
    )
    .await?;
    let started_at = crate::db::now();
    // Every version of the table in the history, then each written again without the rows.
    let versions = plan(core, &ds, &table.path).await?;
    let mut replaced: HashMap<Oid, (Oid, u64)> = HashMap::new();
    let mut named = BTreeMap::new();
    let mut rows_removed = 0;
    for (oid, size) in versions {
        if let Some((new, new_size, removed)) = without(core, repo.id, &table, &wanted, oid).await?
        {
            replaced.insert(oid, (new, new_size));
            named.insert(oid.to_string(), size);
            rows_removed += removed;
        }
    }
    let job = core
        .db
        .start_erasure(repo.id, &[], &named.keys().cloned().collect::<Vec<_>>(), by)
        .await?;
    let rewritten = rewrite(core, &ds, &table.path, replaced).await?;
    let done = Done {
        jobs: vec![job],
        named,
        rewritten,
        started_at,
        paths: Vec::new(),
        resources: BTreeSet::new(),
        rows_removed: Some(rows_removed),
    };
    finish(core, by, &repo, done).await
}

/// The table rows are erased from: its path, key columns and delimiter.
struct Table {
    path: String,
    key: Vec<String>,
    delimiter: u8,
}

impl Table {
    fn of(package: &Map<String, Value>, resource: &str) -> Result<Table> {
        let r = package
            .get("resources")
            .and_then(Value::as_array)
            .and_then(|rs| rs.iter().find(|r| r["name"] == resource))
            .ok_or_else(|| {
                Error::not_found(format!("no resource {resource:?} at the head of main"))
            })?;
        let path = r["path"]
            .as_str()
            .ok_or_else(|| Error::unprocessable(format!("{resource} has no single path")))?
            .to_owned();
        let csv = path.ends_with(".csv") || path.ends_with(".tsv") || r["format"] == "csv";
        if !csv {
            return Err(Error::unprocessable(format!(
                "rows are erased from CSV tables only; {path} is not one (erase the file instead)"
            )));
        }
        let key: Vec<String> = match &r["schema"]["primaryKey"] {
            Value::String(k) => vec![k.clone()],
            Value::Array(ks) => ks
                .iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        if key.is_empty() {
            return Err(Error::unprocessable(format!(
                "{resource} has no primaryKey in its schema: rows are named by their key"
            )));
        }
        let delimiter = match r["dialect"]["delimiter"].as_str() {
            Some(d) if d.len() == 1 => d.as_bytes()[0],
            _ if path.ends_with(".tsv") => b'\t',
            _ => b',',
        };
        Ok(Table {
            path,
            key,
            delimiter,
        })
    }

    /// The keys as text tuples, in the key's column order.
    fn keys(&self, given: &[Map<String, Value>]) -> Result<HashSet<Vec<String>>> {
        given
            .iter()
            .map(|k| {
                if k.len() != self.key.len() || !self.key.iter().all(|c| k.contains_key(c)) {
                    return Err(Error::unprocessable(format!(
                        "each row is named by its primary key: exactly {:?}",
                        self.key
                    )));
                }
                Ok(self.key.iter().map(|c| text(&k[c])).collect())
            })
            .collect()
    }
}

/// A key value as the CSV holds it.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Every version (object) of the file at `path` any ref's history holds.
async fn plan(core: &Core, ds: &(String, String), path: &str) -> Result<Vec<(Oid, u64)>> {
    let (ns, name, path) = (ds.0.clone(), ds.1.clone(), path.to_owned());
    crate::datasets::git(core, move |ms| {
        let mut found = BTreeMap::new();
        let wants = |p: &str| p == path;
        let mut see = |_: &str, data: &[u8]| {
            if let Some(p) = strata_lfs::pointer::lenient(data) {
                found.insert(p.oid, p.size);
            }
            Ok(Edit::Keep)
        };
        ms.rewrite_history(
            DatasetId {
                ns: &ns,
                name: &name,
            },
            &wants,
            &mut see,
            false,
        )?;
        Ok(found.into_iter().collect())
    })
    .await
}

/// Version `oid` of the table without the rows: the new object, its size and how many rows went;
/// `None` when it holds none of them.
async fn without(
    core: &Core,
    repo_id: i64,
    table: &Table,
    wanted: &HashSet<Vec<String>>,
    oid: Oid,
) -> Result<Option<(Oid, u64, u64)>> {
    let dir = core.storage.spool_dir();
    let spool = |what: &str| dir.join(format!("erase.{what}.{}", uuid::Uuid::new_v4().simple()));
    let (input, output) = (Temp(spool("in")), Temp(spool("out")));
    let Some(crate::storage::Read::Found { object, .. }) =
        core.storage.read(repo_id, &oid, None).await?
    else {
        return Err(Error::internal(format!(
            "version {oid} of the table is not stored"
        )));
    };
    crate::storage::spool_to(&input.0, object.body, u64::MAX).await?;
    let (key, delimiter, wanted) = (table.key.clone(), table.delimiter, wanted.clone());
    let (inp, out) = (input.0.clone(), output.0.clone());
    let removed = tokio::task::spawn_blocking(move || filter(&inp, &out, &key, delimiter, &wanted))
        .await
        .map_err(Error::internal)??;
    if removed == 0 {
        return Ok(None);
    }
    let read = tokio::fs::File::open(&output.0)
        .await
        .map_err(Error::internal)?;
    let stream = tokio_util::io::ReaderStream::with_capacity(read, 256 * 1024);
    let (new, size) = core.storage.ingest(repo_id, stream, u64::MAX).await?;
    core.storage.link(repo_id, &new, size).await?;
    Ok(Some((new, size, removed)))
}

/// A spooled file, removed when dropped.
struct Temp(PathBuf);

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Copies the CSV at `input` to `output` without the rows whose `key` columns hold one of
/// `wanted`; how many went. Every column is read as text, so the other rows keep their values.
fn filter(
    input: &Path,
    output: &Path,
    key: &[String],
    delimiter: u8,
    wanted: &HashSet<Vec<String>>,
) -> Result<u64> {
    use arrow_csv::reader::Format;
    let bad = |e: &dyn std::fmt::Display| Error::unprocessable(format!("reading the table: {e}"));
    let open = || std::fs::File::open(input).map_err(Error::internal);
    let format = Format::default()
        .with_header(true)
        .with_delimiter(delimiter);
    let (inferred, _) = format
        .infer_schema(std::io::BufReader::new(open()?), Some(1))
        .map_err(|e| bad(&e))?;
    let schema = Arc::new(Schema::new(
        inferred
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let columns: Vec<usize> = key
        .iter()
        .map(|k| {
            schema.index_of(k).map_err(|_| {
                Error::unprocessable(format!("a version of the table has no key column {k:?}"))
            })
        })
        .collect::<Result<_>>()?;
    let reader = arrow_csv::ReaderBuilder::new(schema.clone())
        .with_format(format)
        .with_batch_size(8192)
        .build(open()?)
        .map_err(|e| bad(&e))?;
    let out = std::fs::File::create(output).map_err(Error::internal)?;
    let mut writer = arrow_csv::WriterBuilder::new()
        .with_header(true)
        .with_delimiter(delimiter)
        .build(out);
    let mut removed = 0u64;
    let mut wrote = false;
    for batch in reader {
        let batch = batch.map_err(|e| bad(&e))?;
        let cols: Vec<_> = columns
            .iter()
            .map(|i| batch.column(*i).as_string::<i32>())
            .collect();
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|r| {
                let k: Vec<String> = cols
                    .iter()
                    .map(|c| {
                        if c.is_null(r) {
                            String::new()
                        } else {
                            c.value(r).to_owned()
                        }
                    })
                    .collect();
                Some(!wanted.contains(&k))
            })
            .collect();
        removed += keep.iter().filter(|k| *k == Some(false)).count() as u64;
        let kept = filter_record_batch(&batch, &keep).map_err(|e| bad(&e))?;
        writer.write(&kept).map_err(|e| bad(&e))?;
        wrote = true;
    }
    if !wrote {
        writer
            .write(&RecordBatch::new_empty(schema))
            .map_err(|e| bad(&e))?;
    }
    Ok(removed)
}

/// Rewrites the history with each replaced version's pointer and datapackage resource pointing
/// at its replacement (the refs move as a rewrite).
async fn rewrite(
    core: &Core,
    ds: &(String, String),
    path: &str,
    replaced: HashMap<Oid, (Oid, u64)>,
) -> Result<strata_metastore::Rewrite> {
    let (ns, name, path) = (ds.0.clone(), ds.1.clone(), path.to_owned());
    super::as_rewrite(crate::datasets::git(core, move |ms| {
        let wants = |p: &str| p == path || p == DATAPACKAGE;
        let mut edit = |p: &str, data: &[u8]| -> strata_metastore::Result<Edit> {
            if p == DATAPACKAGE {
                return Ok(package_with(data, &path, &replaced));
            }
            Ok(
                match strata_lfs::pointer::lenient(data).and_then(|p| replaced.get(&p.oid)) {
                    Some((oid, size)) => Edit::Replace(
                        Pointer {
                            oid: *oid,
                            size: *size,
                        }
                        .encode()
                        .into_bytes(),
                    ),
                    None => Edit::Keep,
                },
            )
        };
        ms.rewrite_history(
            DatasetId {
                ns: &ns,
                name: &name,
            },
            &wants,
            &mut edit,
            true,
        )
    }))
    .await
}

/// The datapackage with the resource at `path` naming its replacement, if its version was one.
fn package_with(data: &[u8], path: &str, replaced: &HashMap<Oid, (Oid, u64)>) -> Edit {
    let Ok(mut value) = serde_json::from_slice::<Value>(data) else {
        return Edit::Keep;
    };
    let mut changed = false;
    for r in value
        .get_mut("resources")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if r["path"] != path {
            continue;
        }
        let old = r["hash"]
            .as_str()
            .map(|h| h.strip_prefix("sha256:").unwrap_or(h));
        if let Some((oid, size)) = old
            .and_then(|h| h.parse::<Oid>().ok())
            .and_then(|o| replaced.get(&o))
        {
            r["hash"] = json!(format!("sha256:{oid}"));
            r["bytes"] = json!(size);
            changed = true;
        }
    }
    if !changed {
        return Edit::Keep;
    }
    let mut text = serde_json::to_vec_pretty(&value).unwrap_or_default();
    text.push(b'\n');
    Edit::Replace(text)
}
