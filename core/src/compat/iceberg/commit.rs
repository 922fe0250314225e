//! Commits through the catalog (`POST /v1/{prefix}/namespaces/{ns}/tables/{table}`): an engine's
//! append or overwrite becomes a revision of the table's resource on the warehouse's branch.
//!
//! The engine has staged its snapshot's files under the table's location ([`super::staged`]) and
//! sends the spec's requirements and updates. The requirements are checked against the table as
//! the caller loads it now (a stale `assert-ref-snapshot-id` is 409 CommitFailed); the snapshot
//! `main` is set to is read (its manifest list, its manifests: Avro, staged by the caller or made
//! here), and its live data files decide the new content: the caller's view file of the current
//! snapshot stands for the table's rows as they are (an append keeps them: the stored rows, never
//! the caller's governed view of them), every other file must be a Parquet file the caller staged
//! (its rows are added). Without the current view file the snapshot replaces the rows: an
//! overwrite, taken only from a caller whose view of the table is the table itself. Row-level
//! deletes, schema changes and other refs are refused with what to do instead.
//!
//! The new object ([`super::content`]) is committed as one revision on top of the head the
//! requirements were checked at, through `commits::commit`: the write gate, governed writes and
//! the dataset's contract decide as for every write (a contract's refusal is 422 with its
//! message). A branch that moved meanwhile is checked again from the start.

use std::sync::Arc;

use apache_avro::types::Value as Avro;
use serde_json::Value;
use strata_lfs::pointer::Pointer;
use strata_lfs::Oid;
use strata_metastore::{Op, DEFAULT_BRANCH};

use super::files;
use super::load::{self, Loaded};
use super::{content, dataset, staged, Warehouse};
use crate::auth::{Action, Principal};
use crate::commits::{self, describe::Describe, Change};
use crate::datasets::gate::{self, Gated};
use crate::datasets::git_on;
use crate::datasets::policies::Surface;
use crate::error::{Error, Kind, Result};
use crate::tables;
use crate::Core;

/// Requirements and updates one commit takes at most.
const MOST_CHANGES: usize = 100;
/// Manifests a snapshot names, and data files, at most.
const MOST_MANIFESTS: usize = 1000;
const MOST_FILES: usize = 10_000;
/// The largest manifest or manifest list read.
const MANIFEST_BYTES: u64 = 64 << 20;
/// Times a commit is tried again on a branch that moved meanwhile.
const TRIES: usize = 5;

/// A commit's request, read.
struct Request {
    requirements: Vec<Value>,
    /// The snapshot `main` is set to: its manifest list and its operation.
    manifest_list: String,
    operation: String,
}

fn bad(message: impl Into<String>) -> Error {
    Error::bad_request(message.into())
}

fn failed(message: impl Into<String>) -> Error {
    Error::conflict(message.into())
}

/// Reads the spec's `CommitTableRequest`.
fn read_request(body: &Value) -> Result<Request> {
    let list = |name: &str, required: bool| -> Result<Vec<Value>> {
        match body.get(name) {
            Some(Value::Array(a)) if a.len() <= MOST_CHANGES => Ok(a.clone()),
            Some(Value::Array(_)) => Err(bad(format!("at most {MOST_CHANGES} {name}"))),
            None | Some(Value::Null) if !required => Ok(Vec::new()),
            _ => Err(bad(format!("{name:?} must be a list"))),
        }
    };
    if !body.is_object() {
        return Err(bad(
            "a commit is a JSON object with \"requirements\" and \"updates\"",
        ));
    }
    let requirements = list("requirements", false)?;
    let updates = list("updates", true)?;
    let mut added: Vec<&Value> = Vec::new();
    let mut main: Option<i64> = None;
    for u in &updates {
        let action = u.get("action").and_then(Value::as_str).unwrap_or("");
        match action {
            "add-snapshot" => {
                let s = u
                    .get("snapshot")
                    .filter(|s| s.is_object())
                    .ok_or_else(|| bad("add-snapshot needs a \"snapshot\" object"))?;
                added.push(s);
            }
            "set-snapshot-ref" => {
                let name = u.get("ref-name").and_then(Value::as_str).unwrap_or("");
                if name != DEFAULT_BRANCH {
                    return Err(bad(format!(
                        "ref {name:?}: a commit here sets {DEFAULT_BRANCH:?}, the warehouse's \
                         branch; to write another branch, use it as the warehouse"
                    )));
                }
                if u.get("type").and_then(Value::as_str).unwrap_or("branch") != "branch" {
                    return Err(bad(format!("{DEFAULT_BRANCH:?} is a branch")));
                }
                main = Some(
                    u.get("snapshot-id")
                        .and_then(Value::as_i64)
                        .ok_or_else(|| bad("set-snapshot-ref needs a \"snapshot-id\""))?,
                );
            }
            "" => return Err(bad("every update names its \"action\"")),
            other => {
                return Err(bad(format!(
                    "update {other:?} is not taken here: a table's schema, properties and \
                     history change through its dataset; a commit appends or overwrites rows"
                )))
            }
        }
    }
    let id = main.ok_or_else(|| {
        bad(format!(
            "nothing to commit: no set-snapshot-ref moves {DEFAULT_BRANCH:?} to a new snapshot"
        ))
    })?;
    let snapshot = added
        .iter()
        .find(|s| s.get("snapshot-id").and_then(Value::as_i64) == Some(id))
        .ok_or_else(|| {
            bad(format!(
                "snapshot {id} is not added by this commit: setting a ref back to an older \
                 snapshot is a revert of the dataset"
            ))
        })?;
    let manifest_list = snapshot
        .get("manifest-list")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("the snapshot needs a \"manifest-list\""))?
        .to_owned();
    let operation = snapshot
        .pointer("/summary/operation")
        .and_then(Value::as_str)
        .unwrap_or("append")
        .to_owned();
    Ok(Request {
        requirements,
        manifest_list,
        operation,
    })
}

/// Checks the spec's requirements against `metadata`, the table as the caller loads it now.
fn check(metadata: &Value, requirements: &[Value]) -> Result<()> {
    for r in requirements {
        let kind = r.get("type").and_then(Value::as_str).unwrap_or("");
        let same = |field: &str, in_metadata: &str| -> Result<()> {
            let want = r
                .get(field)
                .ok_or_else(|| bad(format!("{kind} needs {field:?}")))?;
            if metadata.get(in_metadata) != Some(want) {
                return Err(failed(format!(
                    "{kind}: the table's {in_metadata} is {}, not {want}",
                    metadata.get(in_metadata).unwrap_or(&Value::Null)
                )));
            }
            Ok(())
        };
        match kind {
            "assert-create" => return Err(failed("the table exists already")),
            "assert-table-uuid" => same("uuid", "table-uuid")?,
            "assert-current-schema-id" => same("current-schema-id", "current-schema-id")?,
            "assert-last-assigned-field-id" => same("last-assigned-field-id", "last-column-id")?,
            "assert-last-assigned-partition-id" => {
                same("last-assigned-partition-id", "last-partition-id")?
            }
            "assert-default-spec-id" => same("default-spec-id", "default-spec-id")?,
            "assert-default-sort-order-id" => {
                same("default-sort-order-id", "default-sort-order-id")?
            }
            "assert-ref-snapshot-id" => {
                let name = r.get("ref").and_then(Value::as_str).unwrap_or("");
                let want = r.get("snapshot-id").and_then(Value::as_i64);
                let now = metadata
                    .pointer(&format!("/refs/{name}/snapshot-id"))
                    .and_then(Value::as_i64);
                if now != want {
                    return Err(failed(format!(
                        "ref {name:?} is at snapshot {} now, not {}: load the table again",
                        now.map_or("none".into(), |n| n.to_string()),
                        want.map_or("none".into(), |n| n.to_string())
                    )));
                }
            }
            "" => return Err(bad("every requirement names its \"type\"")),
            other => return Err(bad(format!("requirement {other:?} is not known here"))),
        }
    }
    Ok(())
}

/// The branch a commit in `warehouse` writes: the warehouse's (a tag is refused); a caller
/// reaching only shared paths writes the default branch.
async fn branch_of(core: &Core, gated: &Gated, warehouse: &Warehouse) -> Result<String> {
    if gated.limited() {
        return Ok(DEFAULT_BRANCH.to_owned());
    }
    let name = warehouse.0.clone();
    let branches = git_on(core, gated, |ms, ds| ms.branches(ds)).await?;
    if branches.iter().any(|(b, _)| *b == name) || (branches.is_empty() && name == DEFAULT_BRANCH) {
        return Ok(name);
    }
    Err(Error::forbidden(format!(
        "warehouse {name:?} is not a branch (a tag is read-only): commit in a branch's warehouse"
    )))
}

/// The head of `branch` (none before its first commit).
async fn head(core: &Core, gated: &Gated, branch: &str) -> Result<Option<String>> {
    let branch = branch.to_owned();
    git_on(core, gated, move |ms, ds| {
        match ms.resolve(ds, Some(&branch)) {
            Ok(id) => Ok(Some(id.to_string())),
            Err(strata_metastore::Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await
}

/// A record's field, a union's value unwrapped.
fn field<'a>(v: &'a Avro, name: &str) -> Option<&'a Avro> {
    let Avro::Record(fields) = v else {
        return None;
    };
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| match v {
            Avro::Union(_, inner) => inner.as_ref(),
            v => v,
        })
}

fn int(v: Option<&Avro>) -> Option<i64> {
    match v? {
        Avro::Int(i) => Some(i64::from(*i)),
        Avro::Long(l) => Some(*l),
        _ => None,
    }
}

fn text(v: Option<&Avro>) -> Option<&str> {
    match v? {
        Avro::String(s) => Some(s),
        _ => None,
    }
}

/// The records of an Avro file.
fn records(bytes: &[u8], what: &str) -> Result<Vec<Avro>> {
    let unreadable =
        |e: apache_avro::Error| bad(format!("the {what} is no Avro file strata reads: {e}"));
    let reader = apache_avro::Reader::new(bytes).map_err(unreadable)?;
    let mut out = Vec::new();
    for r in reader {
        out.push(r.map_err(unreadable)?);
        if out.len() > MOST_FILES {
            return Err(bad(format!(
                "the {what} names more than {MOST_FILES} files"
            )));
        }
    }
    Ok(out)
}

/// The file at `url` under the table's location: made here for the caller, or staged by them
/// (its key then added to `staged`).
async fn avro_file(
    core: &Core,
    gated: &Gated,
    url: &str,
    location: &str,
    what: &str,
    staged: &mut Vec<String>,
) -> Result<Vec<u8>> {
    let (key, path) = key_of(gated, url, location).ok_or_else(|| {
        bad(format!(
            "the {what} {url:?} is not under the table's location {location}"
        ))
    })?;
    if files::is_made_here(&path) {
        let found = files::read(core, gated, &key)
            .await
            .map_err(|e| match e.kind {
                Kind::NotFound => failed(format!("the {what} {url:?} is not the table's any more")),
                _ => e,
            })?;
        return match found.content {
            crate::compat::s3::objects::Content::Inline(bytes) => Ok(bytes),
            _ => Err(bad(format!("{url:?} is a data file, not a {what}"))),
        };
    }
    let bytes = staged::bytes(core, gated, &key, MANIFEST_BYTES)
        .await?
        .ok_or_else(|| bad(format!("the {what} {url:?} was not staged by you: put it through the S3 gateway with the load's key first")))?;
    staged.push(key);
    Ok(bytes)
}

/// The bucket key of `url` and its path under `location` (`s3://{bucket}/.iceberg/{table}`),
/// when it is under it.
fn key_of(gated: &Gated, url: &str, location: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix(location)?.strip_prefix('/')?;
    let bucket = crate::compat::s3::bucket_name(&gated.namespace, &gated.name);
    let key = url.strip_prefix(&format!("s3://{bucket}/"))?;
    (!rest.is_empty()).then(|| (key.to_owned(), rest.to_owned()))
}

/// What a snapshot's live data files are.
struct Live {
    /// Whether the current view file is among them (the table's rows kept).
    keep: bool,
    /// The staged data files (objects of the dataset).
    added: Vec<(Oid, u64)>,
    /// The keys of every staged file the snapshot names: the commit takes them.
    staged: Vec<String>,
}

/// The live data files of the snapshot `request` sets `main` to; `current` is the current view
/// file's URL.
async fn live_files(
    core: &Core,
    gated: &Gated,
    request: &Request,
    location: &str,
    current: Option<&str>,
) -> Result<Live> {
    let mut staged = Vec::new();
    let list = avro_file(
        core,
        gated,
        &request.manifest_list,
        location,
        "manifest list",
        &mut staged,
    )
    .await?;
    let manifests = records(&list, "manifest list")?;
    if manifests.len() > MOST_MANIFESTS {
        return Err(bad(format!(
            "a snapshot here names at most {MOST_MANIFESTS} manifests"
        )));
    }
    let (mut keep, mut added, mut seen) = (false, Vec::new(), 0usize);
    for m in &manifests {
        if int(field(m, "content")).unwrap_or(0) != 0 {
            return Err(deletes());
        }
        let path = text(field(m, "manifest_path"))
            .ok_or_else(|| bad("a manifest list entry needs its manifest_path"))?;
        let bytes = avro_file(core, gated, path, location, "manifest", &mut staged).await?;
        for entry in records(&bytes, "manifest")? {
            // 2: deleted in this snapshot.
            if int(field(&entry, "status")) == Some(2) {
                continue;
            }
            seen += 1;
            if seen > MOST_FILES {
                return Err(bad(format!(
                    "a snapshot here names at most {MOST_FILES} data files"
                )));
            }
            let file = field(&entry, "data_file")
                .ok_or_else(|| bad("a manifest entry needs its data_file"))?;
            if int(field(file, "content")).unwrap_or(0) != 0 {
                return Err(deletes());
            }
            let url = text(field(file, "file_path"))
                .ok_or_else(|| bad("a data file needs its file_path"))?;
            if Some(url) == current {
                keep = true;
                continue;
            }
            let (key, path) = key_of(gated, url, location).ok_or_else(|| {
                bad(format!(
                    "data file {url:?} is not under the table's location {location}"
                ))
            })?;
            if files::is_made_here(&path) {
                return Err(failed(format!(
                    "data file {url:?} is of a snapshot that is not the table's current one: load \
                     the table again"
                )));
            }
            let format = text(field(file, "file_format")).unwrap_or("");
            if !format.eq_ignore_ascii_case("parquet") {
                return Err(bad(format!(
                    "data file {url:?} is {format}: commits here add Parquet files"
                )));
            }
            let Some((oid, size, _)) = staged::find(core, gated, &key).await? else {
                return Err(bad(format!(
                    "data file {url:?} was not staged by you: put it through the S3 gateway with \
                     the load's key first"
                )));
            };
            if !added.iter().any(|(o, _)| *o == oid) {
                added.push((oid, size));
            }
            staged.push(key);
        }
    }
    Ok(Live {
        keep,
        added,
        staged,
    })
}

fn deletes() -> Error {
    bad("row-level deletes are not taken here: append rows, or overwrite the table")
}

/// The data file of the current snapshot of `main` in `metadata`.
fn current_data(metadata: &Value) -> Option<String> {
    let id = metadata.pointer("/refs/main/snapshot-id")?.as_i64()?;
    let snap = metadata["snapshots"]
        .as_array()?
        .iter()
        .find(|s| s["snapshot-id"].as_i64() == Some(id))?;
    files::data_of_list(snap["manifest-list"].as_str()?)
}

/// Commits `body` (the spec's `CommitTableRequest`) to `table` of the dataset `ns` names, in
/// `warehouse`, for `who`; the table as they load it after.
pub async fn commit(
    core: &Core,
    who: &Principal,
    ns: &[String],
    table: &str,
    warehouse: &Warehouse,
    body: &Value,
) -> Result<Arc<Loaded>> {
    // Strangers hear that nothing is there; readers that they may not write.
    let read = dataset(core, who, ns).await?;
    if matches!(who, Principal::Anonymous) {
        return Err(Error::unauthorized(
            "sign in to commit: send a strata token",
        ));
    }
    let gated = gate::shared(core, who, &read.namespace, &read.name, Action::Write)
        .await
        .map_err(|e| match e.kind {
            Kind::NotFound | Kind::Forbidden => {
                Error::forbidden(format!("you may read {:?} but not write it", ns.join(".")))
            }
            _ => e,
        })?;
    super::exists(core, who, ns, table, warehouse).await?;
    let request = read_request(body)?;
    let branch = branch_of(core, &gated, warehouse).await?;
    for tries in 1.. {
        let head = head(core, &gated, &branch).await?;
        let (loaded, _) = load::load(core, who, ns, table, warehouse).await?;
        check(&loaded.metadata, &request.requirements)?;
        let location = loaded.metadata["location"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let current = current_data(&loaded.metadata);
        let Live {
            keep,
            added,
            staged: taken,
        } = live_files(core, &gated, &request, &location, current.as_deref()).await?;
        if keep && added.is_empty() {
            // Nothing changes: the table as it is.
            return Ok(loaded);
        }
        let at = (!gated.limited()).then_some(head.as_deref()).flatten();
        let opened = tables::open(core, &gated, table, at, None, Surface::Iceberg).await?;
        if !keep && (!opened.decision.columns.is_empty() || !opened.decision.filters.is_empty()) {
            return Err(Error::forbidden(format!(
                "the policies shape your view of {table:?}: you may append rows to it, not \
                 replace rows you cannot all see"
            )));
        }
        let estimate =
            added.iter().map(|(_, s)| s).sum::<u64>() + if keep { opened.object.1 } else { 0 };
        crate::quotas::check(core, &gated, None, estimate).await?;
        let made = content::make(core, &gated, &opened, keep, &added).await?;
        let done = put(core, who, &gated, &opened, &branch, head, &request, made).await;
        match done {
            Err(e) if e.kind == Kind::Conflict && tries < TRIES => continue,
            Err(e) if e.kind == Kind::Conflict => {
                return Err(failed(format!("the branch kept moving: {}", e.message)))
            }
            Err(e) => return Err(e),
            Ok(()) => {
                // The files it took; what the caller staged for another commit stays.
                staged::forget(core, &gated, &taken).await?;
                break;
            }
        }
    }
    Ok(load::load(core, who, ns, table, warehouse).await?.0)
}

/// Commits the table's new object on `branch`, on top of `head`.
#[allow(clippy::too_many_arguments)]
async fn put(
    core: &Core,
    who: &Principal,
    gated: &Gated,
    opened: &tables::Opened,
    branch: &str,
    head: Option<String>,
    request: &Request,
    made: content::Made,
) -> Result<()> {
    let path = opened.table.path.clone();
    core.storage.link(gated.id, &made.oid, made.size).await?;
    // What it does to the rows, whatever the engine calls its last snapshot (an overwrite is a
    // delete and an append).
    let verb = if made.kept {
        "append to"
    } else {
        "overwrite of"
    };
    let change = Change {
        summary: format!("Iceberg {verb} {}: {} rows", opened.table.name, made.added),
        description: Some(format!(
            "Committed through the Iceberg catalog ({} snapshot).",
            request.operation
        )),
        at_head: head.is_none(),
        parent: head,
        branch: Some(branch.to_owned()),
        ops: vec![Op::Put {
            path: path.clone(),
            data: Pointer {
                oid: made.oid,
                size: made.size,
            }
            .encode()
            .into_bytes(),
        }],
        lfs_paths: vec![path],
        vouched: vec![made.oid],
        describe: Describe::Follow,
        ..Change::default()
    };
    commits::commit(core, who, gated, change).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_are_read_and_odd_ones_refused() {
        let ok = json!({"requirements": [{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": 7}],
            "updates": [{"action": "add-snapshot", "snapshot": {"snapshot-id": 9, "manifest-list": "s3://b/x",
              "summary": {"operation": "append"}}},
             {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch", "snapshot-id": 9}]});
        let r = read_request(&ok).unwrap();
        assert_eq!(
            (r.manifest_list.as_str(), r.operation.as_str()),
            ("s3://b/x", "append")
        );
        for bad in [
            json!([]),
            json!({"updates": "x"}),
            json!({"updates": []}),
            json!({"updates": [{"action": "set-properties", "updates": {}}]}),
            json!({"updates": [{"action": "set-snapshot-ref", "ref-name": "main", "snapshot-id": 3}]}),
            json!({"updates": [{"action": "set-snapshot-ref", "ref-name": "dev", "snapshot-id": 3}]}),
        ] {
            assert_eq!(
                read_request(&bad).err().map(|e| e.kind),
                Some(Kind::BadRequest),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_stale_ref_fails_the_commit() {
        let metadata = json!({"table-uuid": "u", "refs": {"main": {"snapshot-id": 5}}});
        let at = |id: Value| json!([{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": id}]);
        assert!(check(&metadata, at(json!(5)).as_array().unwrap()).is_ok());
        for stale in [json!(4), Value::Null] {
            let e = check(&metadata, at(stale).as_array().unwrap()).unwrap_err();
            assert_eq!(e.kind, Kind::Conflict);
        }
        let e = check(
            &metadata,
            &[json!({"type": "assert-table-uuid", "uuid": "v"})],
        )
        .unwrap_err();
        assert_eq!(e.kind, Kind::Conflict);
        let e = check(&metadata, &[json!({"type": "assert-create"})]).unwrap_err();
        assert_eq!(e.kind, Kind::Conflict);
        let e = check(&metadata, &[json!({"type": "assert-magic"})]).unwrap_err();
        assert_eq!(e.kind, Kind::BadRequest);
    }
}
