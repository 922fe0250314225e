//! Governed writes: every table a write changes is decided with `actionType` `write` (Fybrik's
//! sample has a rule for it), as reads are. A Deny refuses the write naming its policies. Column
//! transforms and row filters are applied to what is stored: the table is read through the
//! decision (a view, as reads make them) and written back in its own format (CSV with its
//! delimiter, Parquet, JSON Lines) as a new LFS object, committed in place of what was sent; its
//! resource's hash and size follow, a redacted or hashed column becomes text in its schema, a
//! removed one leaves it, and the revision's message says what was applied under which policy.
//! What was sent is never committed, and it is indexed as that table's object, so no raw read
//! serves it while the policy governs the table. A table sent as a plain git file is stored as
//! an LFS object first. What a rewrite stored is recorded with the decision's fingerprint
//! (`governed_writes`): sent again under the same decision (a move, a merge), it is kept as it
//! is. Merges are governed as commits are; pushes and reverts, which cannot be rewritten, are
//! checked by [`super::moved`].
//!
//! A write's tables are the resources of the datapackage it leaves (the one it writes, or else
//! the one it builds on) whose file it writes with new content, or whose datapackage entry names
//! another object; tags are those of that datapackage and of the default branch's head together,
//! so a write cannot untag what it writes. The dataset as a whole is decided too, so a Deny on a
//! dataset refuses files that are no table yet (a browser upload makes them resources after).
//! An object a write names must be linked to the dataset, reached by the writer, and none a
//! policy keeps from them (else its rewrite would be a way to read it). A datapackage written
//! may change what the policies read: governed by `super::retag`; a write to a protected default
//! branch may not have its contract's foreign keys tell values a policy keeps from the writer
//! (`crate::contracts::references`).

use std::collections::BTreeMap;

use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use strata_lfs::pointer::Pointer;
use strata_lfs::Oid;
use strata_metastore::{DatasetId, Metastore, ObjectId, Op, DATAPACKAGE, DEFAULT_BRANCH};
use strata_policy::{ColumnAction, Decision};

use crate::datasets::catalog::{Catalog, Table};
use crate::datasets::gated::Gated;
use crate::datasets::git_on;
use crate::datasets::policies::{catalog, decide, Surface};
use crate::error::{Error, Result};
use crate::tables::{self, view, Kind, Opened};
use crate::Core;

/// What a write's policies did to one table: its new object, and its columns' fate.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    pub resource: String,
    pub oid: Oid,
    pub size: u64,
    pub columns: BTreeMap<String, ColumnAction>,
}

/// What the policies did to a write: the tables rewritten, and a line for each in the message.
#[derive(Debug, Default)]
pub(crate) struct Governed {
    pub applied: Vec<Applied>,
    pub notes: Vec<String>,
}

impl Governed {
    /// The commit message with a `Governed-Write:` line per table rewritten.
    pub fn message(&self, message: String) -> String {
        if self.notes.is_empty() {
            return message;
        }
        format!("{message}\n\n{}", self.notes.join("\n"))
    }
}

/// Decides the tables `ops` changes on top of `base` (a revision or branch; `None`: the default
/// branch) for a write to `branch` (`None`: the default branch), refusing a denied one and
/// rewriting a transformed one in `ops`. A change of what the policies read is governed too
/// ([`super::retag`]).
pub(crate) async fn govern(
    core: &Core,
    repo: &Gated,
    base: Option<&str>,
    branch: Option<&str>,
    ops: &mut Vec<Op>,
    lfs_paths: &mut Vec<String>,
    vouched: &mut Vec<Oid>,
) -> Result<Governed> {
    let mut governed = Governed::default();
    if !core.governance.in_force(core).await
        || core
            .governance
            .is_policy_dataset(&repo.namespace, &repo.name)
    {
        return Ok(governed);
    }
    let path = repo.path();
    let base_rev = base.map(str::to_owned);
    let before_json: Map<String, Value> = git_on(core, repo, move |ms, ds| {
        match ms.fetch_any(ds, base_rev.as_deref()) {
            Ok((_, p)) => Ok(p.map(|p| p.json).unwrap_or_default()),
            Err(strata_metastore::Error::NotFound(_)) => Ok(Map::new()),
            Err(e) => Err(e),
        }
    })
    .await?;
    let written_package = ops.iter().find_map(|op| match op {
        Op::Put { path, data } if path == DATAPACKAGE => {
            serde_json::from_slice::<Map<String, Value>>(data).ok()
        }
        _ => None,
    });
    let head = catalog(core, repo, None).await?;
    let before = Catalog::read(&path, &before_json);
    let after = match &written_package {
        Some(json) => Catalog::read(&path, json),
        None => before.clone(),
    }
    .with_head(&head);
    // The objects the tables' files hold before the write: a table is written when what it
    // reads from changes (its file, or the object its resource names).
    let held = held_at(core, repo, base, &after).await?;
    // A write of any file to a dataset a policy denies writing (not only its tables: a file an
    // upload is about to make a resource of too).
    let whole = decide(core, repo, &after, None, None, Surface::Write).await?;
    if !whole.deny.is_empty() || whole.error.is_some() {
        return Err(refusal(None, &whole));
    }
    // A datapackage written (or deleted): what the policies read may change with it.
    let deleted = ops
        .iter()
        .any(|op| matches!(op, Op::Delete { path } if path == DATAPACKAGE));
    let empty = Map::new();
    let package = match &written_package {
        Some(p) => p,
        None if deleted => &empty,
        None => &before_json,
    };
    let to_default = branch.is_none_or(|b| b == DEFAULT_BRANCH);
    if written_package.is_some() || deleted {
        let seen = match catalog(core, repo, base).await {
            Ok(c) => c,
            Err(e) if e.kind == crate::error::Kind::NotFound => head.clone(),
            Err(e) => return Err(e),
        };
        let own = Catalog::read(&path, package);
        let will_see = match to_default {
            true => own,
            false => own.with_head(&head),
        };
        super::retag::check(core, repo, &seen, &will_see).await?;
    }
    // The contract a protected default branch is checked against: not by a writer its foreign
    // keys would tell values a policy keeps from.
    if to_default && repo.protect_default_branch != 0 {
        crate::contracts::references(core, repo, package, true).await?;
    }
    for table in &after.resources {
        let Some(kind) = Kind::of(table) else {
            continue;
        };
        let before_oid = held.get(&table.path);
        // A file that was no table before is written as one now, whatever it holds.
        let was_table = before
            .resources
            .iter()
            .any(|t| t.path == table.path && Kind::of(t).is_some());
        let at = ops
            .iter()
            .position(|op| matches!(op, Op::Put { path, .. } if *path == table.path));
        let sent = match at.map(|i| &ops[i]) {
            Some(Op::Put { data, .. }) => match strata_lfs::pointer::lenient(data) {
                Some(p) if Some(&p.oid) == before_oid && was_table => continue,
                Some(p) => Sent::Object(p.oid, p.size),
                None if data.is_empty() => continue,
                None => Sent::Plain,
            },
            // A datapackage naming another object for a table: a write of it all the same.
            _ => match table.object {
                Some((oid, size))
                    if !was_table
                        || (Some(&oid) != before_oid
                            && before.table(&table.name).and_then(|t| t.object)
                                != table.object) =>
                {
                    Sent::Object(oid, size)
                }
                _ => continue,
            },
        };
        let decision = decide(core, repo, &after, Some(table), None, Surface::Write).await?;
        if decision.denied() {
            return Err(refusal(Some(table), &decision));
        }
        if !decision.transforms() {
            continue;
        }
        let fingerprint = fingerprint(&decision);
        if let Sent::Object(oid, _) = &sent {
            // What a governed write stored under this decision already (a move, a merge).
            if core
                .db
                .is_governed_write(repo.id, oid, &fingerprint)
                .await?
            {
                continue;
            }
        }
        let (oid, size) = match sent {
            Sent::Object(oid, size) => {
                // Only an object of this dataset the writer reaches, and none a policy keeps
                // from them: a rewrite would be a way to read it.
                if repo.limited() && !vouched.contains(&oid) {
                    return Err(Error::forbidden(format!(
                        "{:?} names an LFS object: through a share, upload files in the browser \
                         instead",
                        table.path
                    )));
                }
                repo.check_linked(core, std::iter::once((oid, size)))
                    .await?;
                if !crate::datasets::policies::governed_among(core, repo, &[oid])
                    .await?
                    .is_empty()
                {
                    return Err(Error::forbidden(format!(
                        "resource {:?} names an object a policy keeps from you: it cannot be \
                         written as a table",
                        table.name
                    )));
                }
                (oid, size)
            }
            Sent::Plain => {
                // Stored as an LFS object first: a governed table is read from one.
                let i = at.unwrap_or_default();
                let Op::Put { data, .. } = &mut ops[i] else {
                    continue;
                };
                let bytes = bytes::Bytes::from(std::mem::take(data));
                let body =
                    futures_util::stream::once(
                        async move { Ok::<_, std::convert::Infallible>(bytes) },
                    );
                let limit = core.settings.object_limit();
                let (oid, size) = core.storage.ingest(repo.id, body, limit).await?;
                core.storage.link(repo.id, &oid, size).await?;
                (oid, size)
            }
        };
        let applied = rewrite(core, repo, &after, table, kind, (oid, size), &decision).await?;
        core.db
            .record_governed_write(repo.id, &applied.oid, &fingerprint)
            .await?;
        // What was sent counts as that table's object for raw reads (a revision that held the
        // table stands for its catalog).
        if let Some(rev) = &head.revision {
            let sent_row = crate::db::TableObject {
                oid,
                resource: table.name.clone(),
                path: table.path.clone(),
                rev: rev.clone(),
            };
            core.db
                .record_table_objects(repo.id, &[sent_row], None, None)
                .await?;
        }
        let pointer = Pointer {
            oid: applied.oid,
            size: applied.size,
        }
        .encode()
        .into_bytes();
        match at {
            Some(i) => {
                ops[i] = Op::Put {
                    path: table.path.clone(),
                    data: pointer,
                }
            }
            None => ops.push(Op::Put {
                path: table.path.clone(),
                data: pointer,
            }),
        }
        if !lfs_paths.contains(&table.path) {
            lfs_paths.push(table.path.clone());
        }
        vouched.push(applied.oid);
        governed.notes.push(note(table, &decision));
        governed.applied.push(applied);
    }
    Ok(governed)
}

/// The objects the files of `catalog`'s tables hold at `base` (`None`: the default branch).
pub(crate) async fn held_at(
    core: &Core,
    repo: &Gated,
    base: Option<&str>,
    catalog: &Catalog,
) -> Result<BTreeMap<String, Oid>> {
    let paths: Vec<String> = catalog
        .resources
        .iter()
        .filter(|t| Kind::of(t).is_some())
        .map(|t| t.path.clone())
        .collect();
    let base = base.map(str::to_owned);
    git_on(core, repo, move |ms, ds| {
        let mut held = BTreeMap::new();
        for path in paths {
            match ms.read_file(ds, base.as_deref(), &path) {
                Ok(data) => {
                    if let Some(p) = strata_lfs::pointer::lenient(&data) {
                        held.insert(path, p.oid);
                    }
                }
                Err(strata_metastore::Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(held)
    })
    .await
}

/// What a write sent for a table.
enum Sent {
    Object(Oid, u64),
    /// Its bytes, in the op (a plain git file).
    Plain,
}

/// What a decision does to a table's values, as a key: its column transforms and row filters.
pub(crate) fn fingerprint(decision: &Decision) -> String {
    use sha2::Digest;
    // Filters combine with AND: their order does not matter.
    let mut filters: Vec<String> = decision
        .filters
        .iter()
        .map(|f| json!([f.column, format!("{:?}", f.op), f.value]).to_string())
        .collect();
    filters.sort();
    let what = json!({"columns": decision.columns, "filters": filters});
    hex::encode(sha2::Sha256::digest(what.to_string()))
}

/// The refusal of a denied write.
pub(crate) fn refusal(table: Option<&Table>, decision: &Decision) -> Error {
    let what = match table {
        Some(t) => format!("resource {:?}", t.name),
        None => "this dataset".to_owned(),
    };
    if decision.error.is_some() {
        return Error::forbidden(format!(
            "the policies could not decide on writing {what}, so the write is refused; the \
             audit log has the details"
        ));
    }
    Error::forbidden(format!(
        "a policy denies writing {what}: {}",
        decision.deny.join("; ")
    ))
}

/// The message line for one rewritten table.
pub(crate) fn note(table: &Table, decision: &Decision) -> String {
    let mut by: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (column, action) in &decision.columns {
        by.entry(action.name()).or_default().push(column);
    }
    let mut done: Vec<String> = by
        .into_iter()
        .map(|(action, columns)| format!("{action} {}", columns.join(", ")))
        .collect();
    if !decision.filters.is_empty() {
        done.push(format!("rows filtered ({})", decision.filters.len()));
    }
    format!(
        "Governed-Write: {}: {} (policy: {})",
        table.name,
        done.join("; "),
        decision.policies.join("; ")
    )
}

/// Reads `object` as `table` through `decision` and stores the result in the table's format.
pub(crate) async fn rewrite(
    core: &Core,
    repo: &Gated,
    catalog: &Catalog,
    table: &Table,
    kind: Kind,
    object: (Oid, u64),
    decision: &Decision,
) -> Result<Applied> {
    let mut table = table.clone();
    table.object = Some(object);
    let opened = Opened {
        catalog: catalog.clone(),
        table,
        kind,
        object,
        decision: decision.clone(),
    };
    let made = view::view_in_place(core, repo.id, &opened).await?;
    let (oid, size) = match kind {
        Kind::Parquet => (made.oid, made.size),
        kind => {
            let df = core.tables.session(core, &made).await?;
            let batches = df.execute_stream().await.map_err(tables::engine_error)?;
            let mut header = true;
            let body = batches.map(move |b| {
                let b = b.map_err(std::io::Error::other)?;
                let mut out = Vec::with_capacity(b.get_array_memory_size());
                match kind {
                    Kind::Csv { delimiter } => {
                        let mut w = arrow_csv::WriterBuilder::new()
                            .with_header(header)
                            .with_delimiter(delimiter)
                            .build(&mut out);
                        w.write(&b).map_err(std::io::Error::other)?;
                    }
                    _ => {
                        let mut w = arrow_json::LineDelimitedWriter::new(&mut out);
                        w.write(&b).map_err(std::io::Error::other)?;
                        w.finish().map_err(std::io::Error::other)?;
                    }
                }
                header = false;
                Ok::<_, std::io::Error>(bytes::Bytes::from(out))
            });
            let limit = made.size.saturating_mul(16).saturating_add(64 << 20);
            core.storage.ingest(repo.id, body, limit).await?
        }
    };
    core.storage.link(repo.id, &oid, size).await?;
    Ok(Applied {
        resource: opened.table.name,
        oid,
        size,
        columns: decision.columns.clone(),
    })
}

/// Brings the datapackage `ops` leaves in step with the tables rewritten: their hash and size,
/// and their schema (a redacted or hashed column is text, a removed one gone).
pub(crate) fn patch_package(
    ms: &Metastore,
    ds: DatasetId<'_>,
    parent: Option<ObjectId>,
    ops: &mut Vec<Op>,
    applied: &[Applied],
) -> strata_metastore::Result<()> {
    if applied.is_empty() {
        return Ok(());
    }
    let at = ops
        .iter()
        .position(|op| matches!(op, Op::Put { path, .. } if path == DATAPACKAGE));
    let mut json: Map<String, Value> = match at.map(|i| &ops[i]) {
        Some(Op::Put { data, .. }) => serde_json::from_slice(data)
            .map_err(|e| strata_metastore::Error::Invalid(format!("{DATAPACKAGE}: {e}")))?,
        _ => match parent.map(|p| ms.fetch_any(ds, Some(&p.to_string()))) {
            Some(Ok((_, package))) => package.map(|p| p.json).unwrap_or_default(),
            Some(Err(e)) => return Err(e),
            None => Map::new(),
        },
    };
    if let Some(Value::Array(resources)) = json.get_mut("resources") {
        for r in resources.iter_mut().filter_map(Value::as_object_mut) {
            let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
            let Some(a) = applied.iter().find(|a| a.resource == name) else {
                continue;
            };
            r.insert("hash".into(), json!(format!("sha256:{}", a.oid)));
            r.insert("bytes".into(), json!(a.size));
            let fields = r
                .get_mut("schema")
                .and_then(|s| s.get_mut("fields"))
                .and_then(Value::as_array_mut);
            if let Some(fields) = fields {
                fields.retain(|f| {
                    let n = f.get("name").and_then(Value::as_str).unwrap_or_default();
                    a.columns.get(n) != Some(&ColumnAction::Remove)
                });
                for f in fields.iter_mut().filter_map(Value::as_object_mut) {
                    let n = f.get("name").and_then(Value::as_str).unwrap_or_default();
                    if a.columns.contains_key(n) {
                        f.insert("type".into(), json!("string"));
                        f.remove("format");
                        f.remove("constraints");
                    }
                }
            }
        }
    }
    let data = serde_json::to_vec_pretty(&Value::Object(json))
        .map_err(|e| strata_metastore::Error::Invalid(e.to_string()))?;
    let op = Op::Put {
        path: DATAPACKAGE.into(),
        data,
    };
    match at {
        Some(i) => ops[i] = op,
        None => ops.push(op),
    }
    Ok(())
}
