//! Reading a shared table: its version, its metadata, a query's files and the change data feed,
//! as the protocol's lines (`protocol`, `metaData`, then `file`, `add`, `remove` or `cdf`), each
//! version's file the recipient's governed view of that revision.

use datafusion::arrow::datatypes::Schema;
use serde_json::{json, Value};
use strata_policy::{ColumnAction, Filter};

use super::files::{self, What};
use super::versions::{self, Readable, Version};
use super::{gated, schema, table_of, Reader, Target};
use crate::datasets::gate::Gated;
use crate::datasets::policies::Surface;
use crate::db::DeltaTable;
use crate::error::{Error, Kind, Result};
use crate::tables::{self, view, view::View, Opened};
use crate::Core;

/// Versions one query or changes call reads at most.
const VERSIONS: i64 = 100;

/// What a call answers: the version its `Delta-Table-Version` header names, and its lines.
#[derive(Debug, Clone)]
pub struct Answer {
    pub version: i64,
    pub lines: Vec<Value>,
}

/// A query's body, as far as it is read (hints are hints: strata answers every file of the
/// version, which the protocol allows; they are never evaluated).
#[derive(Debug, Clone, Default)]
pub struct QueryAsk {
    pub version: Option<i64>,
    pub timestamp: Option<String>,
    pub starting_version: Option<i64>,
    pub ending_version: Option<i64>,
}

/// A changes call's bounds.
#[derive(Debug, Clone, Default)]
pub struct ChangesAsk {
    pub starting_version: Option<i64>,
    pub starting_timestamp: Option<String>,
    pub ending_version: Option<i64>,
    pub ending_timestamp: Option<String>,
}

/// A shared table opened for a recipient: its dataset and its versions.
pub(super) struct Shared {
    pub t: DeltaTable,
    pub gated: Gated,
    versions: Vec<Version>,
}

impl Shared {
    fn readable(&self) -> Readable<'_> {
        Readable {
            all: &self.versions,
            start: self.t.start_version,
        }
    }
}

async fn shared(core: &Core, r: &Reader, target: &Target) -> Result<Shared> {
    let t = table_of(core, r, target).await?;
    let gated = gated(core, r, &t).await?;
    let gone = || {
        Error::not_found(format!(
            "table {}.{}.{} has no file to read at {}",
            t.share,
            t.schema_name,
            t.name,
            t.at_ref
                .as_deref()
                .unwrap_or(strata_metastore::DEFAULT_BRANCH)
        ))
    };
    let found = match tables::list(core, &gated, t.at_ref.as_deref()).await {
        Ok((_, list)) => list.into_iter().find(|x| x.name == t.resource),
        Err(e) if e.kind == Kind::NotFound => None,
        Err(e) => return Err(e),
    };
    let found = found.ok_or_else(gone)?;
    let versions = versions::of(core, &gated, &t, &found.path).await?;
    if versions.is_empty() {
        return Err(gone());
    }
    Ok(Shared { t, gated, versions })
}

/// The table at revision `rev` as the recipient reads it: the policies' decision for it, with
/// the share's column list and filters added.
pub(super) async fn opened_at(
    core: &Core,
    gated: &Gated,
    t: &DeltaTable,
    rev: &str,
) -> Result<Opened> {
    let mut o = tables::open(
        core,
        gated,
        &t.resource,
        Some(rev),
        None,
        Surface::DeltaSharing,
    )
    .await?;
    if let Some(cols) = &t.columns {
        let keep: Vec<String> = serde_json::from_str(cols).unwrap_or_default();
        for c in &o.table.columns {
            if !keep.contains(&c.name) {
                o.decision
                    .columns
                    .insert(c.name.clone(), ColumnAction::Remove);
            }
        }
    }
    if let Some(filters) = &t.filters {
        let list: Vec<Value> = serde_json::from_str(filters).unwrap_or_default();
        for f in &list {
            o.decision.filters.push(
                Filter::parse(f).map_err(|e| Error::internal(format!("a share's filter: {e}")))?,
            );
        }
    }
    Ok(o)
}

/// The recipient's view of `v`.
async fn view_of(core: &Core, s: &Shared, v: &Version) -> Result<(View, Opened)> {
    let o = opened_at(core, &s.gated, &s.t, &v.rev).await?;
    let view = view::view(core, s.gated.id, &o).await?;
    Ok((view, o))
}

/// The current version (`startingTimestamp`: the first at or after it).
pub async fn version(
    core: &Core,
    r: &Reader,
    target: &Target,
    starting: Option<&str>,
) -> Result<i64> {
    let s = shared(core, r, target).await?;
    let readable = s.readable();
    Ok(match starting {
        Some(t) => readable.starting_at(t)?.number,
        None => readable.latest()?.number,
    })
}

fn protocol() -> Value {
    json!({"protocol": {"minReaderVersion": 1}})
}

async fn metadata_line(
    core: &Core,
    s: &Shared,
    view: &View,
    version: Option<i64>,
) -> Result<Value> {
    let df = core
        .tables
        .read_parquet(core, view.place(), &view.oid, view.size)
        .await
        .map_err(|e| Error::internal(format!("reading a view's columns: {e}")))?;
    let columns: Schema = df.schema().as_arrow().clone();
    let mut m = json!({
        "id": s.t.uuid,
        "name": s.t.name,
        "format": {"provider": "parquet"},
        "schemaString": schema::schema_string(&columns),
        "partitionColumns": [],
        "configuration": {"enableChangeDataFeed": "true"},
        "size": view.size,
        "numFiles": 1,
    });
    if let Some(v) = version {
        m["version"] = json!(v);
    }
    Ok(json!({"metaData": m}))
}

/// A file action (`file`, `add`, `remove`, `cdf`) of `view`, at `v` when `stamped`.
fn file_line(
    core: &Core,
    r: &Reader,
    s: &Shared,
    action: &str,
    what: What,
    view: &View,
    v: Option<&Version>,
) -> Value {
    let (url, expires) = files::url(core, r, &s.t, &what, &view.key);
    let mut f = json!({
        "url": url,
        "id": view.key,
        "partitionValues": {},
        "size": view.size,
        "expirationTimestamp": expires * 1000,
    });
    if action != "cdf" && action != "remove" {
        f["stats"] = json!(json!({"numRecords": view.rows}).to_string());
    }
    if let Some(v) = v {
        f["version"] = json!(v.number);
        f["timestamp"] = json!(v.at);
    }
    json!({ action: f })
}

/// The table's metadata at the current version, or at `version` or `timestamp`.
pub async fn metadata(core: &Core, r: &Reader, target: &Target, ask: &QueryAsk) -> Result<Answer> {
    let s = shared(core, r, target).await?;
    let (v, stamped) = at(&s, ask)?;
    let (view, _) = view_of(core, &s, &v).await?;
    let lines = vec![
        protocol(),
        metadata_line(core, &s, &view, stamped.then_some(v.number)).await?,
    ];
    audit(core, r, &s, "metadata", v.number, &[]).await?;
    Ok(Answer {
        version: v.number,
        lines,
    })
}

/// The version a query reads, and whether it asked for one.
fn at(s: &Shared, ask: &QueryAsk) -> Result<(Version, bool)> {
    let readable = s.readable();
    Ok(match (ask.version, &ask.timestamp) {
        (Some(_), Some(_)) => {
            return Err(Error::bad_request("give version or timestamp, not both"))
        }
        (Some(n), None) => (readable.number(n)?.clone(), true),
        (None, Some(t)) => (readable.as_of(t)?.clone(), true),
        (None, None) => (readable.latest()?.clone(), false),
    })
}

/// A query's files: the version's view; from `startingVersion` on, each version's view added
/// (and the one before it removed).
pub async fn query(core: &Core, r: &Reader, target: &Target, ask: &QueryAsk) -> Result<Answer> {
    let s = shared(core, r, target).await?;
    let asked = [
        ask.version.is_some(),
        ask.timestamp.is_some(),
        ask.starting_version.is_some(),
    ];
    if asked.iter().filter(|a| **a).count() > 1 {
        return Err(Error::bad_request(
            "give at most one of version, timestamp and startingVersion",
        ));
    }
    if let Some(start) = ask.starting_version {
        let (from, to) = range(&s, Some(start), ask.ending_version)?;
        let mut lines = vec![protocol()];
        let mut served = Vec::new();
        let mut before: Option<View> = None;
        for v in &s.versions[from.number as usize..=to.number as usize] {
            let (view, _) = view_of(core, &s, v).await?;
            if lines.len() == 1 {
                lines.push(metadata_line(core, &s, &view, Some(from.number)).await?);
            }
            if let (Some(b), true) = (&before, v.number > from.number) {
                let prev = &s.versions[v.number as usize - 1];
                lines.push(file_line(
                    core,
                    r,
                    &s,
                    "remove",
                    What::Snapshot(prev.rev.clone()),
                    b,
                    Some(v),
                ));
            }
            lines.push(file_line(
                core,
                r,
                &s,
                "add",
                What::Snapshot(v.rev.clone()),
                &view,
                Some(v),
            ));
            served.push(view.size);
            before = Some(view);
        }
        audit(core, r, &s, "query", from.number, &served).await?;
        return Ok(Answer {
            version: from.number,
            lines,
        });
    }
    let (v, stamped) = at(&s, ask)?;
    let (view, _) = view_of(core, &s, &v).await?;
    let lines = vec![
        protocol(),
        metadata_line(core, &s, &view, stamped.then_some(v.number)).await?,
        file_line(
            core,
            r,
            &s,
            "file",
            What::Snapshot(v.rev.clone()),
            &view,
            stamped.then_some(&v),
        ),
    ];
    audit(core, r, &s, "query", v.number, &[view.size]).await?;
    Ok(Answer {
        version: v.number,
        lines,
    })
}

/// The versions from `start` to `end` (default: the latest), at most [`VERSIONS`] of them.
fn range(s: &Shared, start: Option<i64>, end: Option<i64>) -> Result<(Version, Version)> {
    let readable = s.readable();
    let latest = readable.latest()?;
    let from = readable.number(start.unwrap_or(s.t.start_version))?.clone();
    let to = match end {
        Some(e) if e < from.number => {
            return Err(Error::bad_request(format!(
                "endingVersion {e} is before startingVersion {}",
                from.number
            )))
        }
        Some(e) if e > latest.number => {
            return Err(Error::bad_request(format!(
                "endingVersion {e} does not exist: the latest is {}",
                latest.number
            )))
        }
        Some(e) => readable.number(e)?.clone(),
        None => latest.clone(),
    };
    if to.number - from.number >= VERSIONS {
        return Err(Error::bad_request(format!(
            "read at most {VERSIONS} versions at once (asked: {} to {})",
            from.number, to.number
        )));
    }
    Ok((from, to))
}

/// The change data feed from a starting version (or time) to an ending one (default: the
/// latest): each version's rows that changed since the version before, as `cdf` files; a
/// version whose predecessor is not shared (the first, or the share's start) as its whole view
/// added.
pub async fn changes(core: &Core, r: &Reader, target: &Target, ask: &ChangesAsk) -> Result<Answer> {
    let s = shared(core, r, target).await?;
    let readable = s.readable();
    let start = match (ask.starting_version, &ask.starting_timestamp) {
        (Some(_), Some(_)) => {
            return Err(Error::bad_request(
                "give startingVersion or startingTimestamp, not both",
            ))
        }
        (Some(n), None) => {
            if n > readable.latest()?.number {
                return Err(Error::bad_request(format!(
                    "startingVersion {n} is after the latest version ({})",
                    readable.latest()?.number
                )));
            }
            n
        }
        (None, Some(t)) => readable.starting_at(t)?.number,
        (None, None) => {
            return Err(Error::bad_request(
                "give startingVersion or startingTimestamp",
            ))
        }
    };
    let end = match (ask.ending_version, &ask.ending_timestamp) {
        (Some(_), Some(_)) => {
            return Err(Error::bad_request(
                "give endingVersion or endingTimestamp, not both",
            ))
        }
        (Some(n), None) => Some(n),
        (None, Some(t)) => Some(readable.ending_at(t)?.number),
        (None, None) => None,
    };
    let (from, to) = range(&s, Some(start), end)?;
    let (last, last_opened) = view_of(core, &s, &to).await?;
    let mut lines = vec![protocol(), metadata_line(core, &s, &last, None).await?];
    let mut served = Vec::new();
    let key = last_opened.table.primary_key.clone();
    let source = format!("{}:{}", last_opened.table.name, last_opened.object.0);
    let mut before: Option<View> = None;
    for v in &s.versions[from.number as usize..=to.number as usize] {
        let view = match v.number == to.number {
            true => last.clone(),
            false => view_of(core, &s, v).await?.0,
        };
        let prev = v.number - 1;
        if prev < s.t.start_version {
            lines.push(file_line(
                core,
                r,
                &s,
                "add",
                What::Snapshot(v.rev.clone()),
                &view,
                Some(v),
            ));
            served.push(view.size);
        } else {
            let a = match before.take() {
                Some(a) => a,
                None => view_of(core, &s, &s.versions[prev as usize]).await?.0,
            };
            let feed = tables::diff::feed::feed(core, &a, &view, &key, &source).await?;
            let what = What::Feed(s.versions[prev as usize].rev.clone(), v.rev.clone());
            lines.push(file_line(core, r, &s, "cdf", what, &feed, Some(v)));
            served.push(feed.size);
        }
        before = Some(view);
    }
    audit(core, r, &s, "changes", from.number, &served).await?;
    Ok(Answer {
        version: from.number,
        lines,
    })
}

/// Records a read in the audit log and the recipient's use.
async fn audit(
    core: &Core,
    r: &Reader,
    s: &Shared,
    call: &str,
    version: i64,
    files: &[u64],
) -> Result<()> {
    core.db.recipient_used(r.recipient.id).await?;
    let detail = json!({
        "recipient": r.recipient.name,
        "share": s.t.share,
        "schema": s.t.schema_name,
        "table": s.t.name,
        "call": call,
        "version": version,
        "files": files.len(),
        "bytes": files.iter().sum::<u64>(),
    });
    crate::audit::record(
        core,
        "delta_sharing.read",
        Some(&r.actor()),
        Some(&s.gated.path()),
        detail,
    )
    .await
}
