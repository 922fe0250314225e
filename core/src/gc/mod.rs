//! Garbage collection: deleting the objects nothing reaches any more.
//!
//! An object stays while a ref of a dataset linked to it (a branch, a tag, anything under
//! `refs/`) reaches a pointer to it within that dataset's retention (its refs' own revisions and
//! tags always; the revisions behind each ref back `retention_days`, all of them by default).
//! Table views, residency copies and the table index follow their source; a dataset's xorbs (its
//! Xet storage) stay while a live file uses them, one mostly unused compacted (`chunks`).
//! Everything else goes in two steps a grace period apart (`--gc-grace-secs`):
//!
//! 1. **mark**: a run records the dataset's unreachable links, and the objects no dataset links,
//!    as candidates (never a link made during the run: it was last linked after the cut-off);
//! 2. **sweep**: a later run (the same one with a grace of 0), with the refs read again, removes
//!    each candidate still unreachable and still a candidate, then deletes its bytes (the
//!    object's, once no dataset links it; a dataset's sealed copy with its link).
//!
//! Times are whole seconds: a run with a grace of 0 starts at the next second (it waits for it),
//! so what was linked before it, in the second it was asked for too, goes in that same run.
//!
//! Whatever uses a candidate meanwhile takes it back: the LFS batch API and every read asking
//! whether it is linked, a push's check of the objects it names, a new link (`db::objects`).
//! Bytes being deleted carry a tombstone: a link written meanwhile is refused, and one written
//! after checks the bytes are stored again (`Storage::link`). One run at a time, whichever
//! replica or process (`gc_runs`). [`run`] with `dry_run` reports what a run would do and why.

mod chunks;
mod sweep;

use serde::Serialize;
use serde_json::json;

use crate::db::GcRunRow;
use crate::error::{Error, Result};
use crate::Core;

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only report what would go.
    pub dry_run: bool,
    /// Between marking and deleting.
    pub grace: std::time::Duration,
    /// How gently it runs: after each piece of work it waits this many times as long as the
    /// work took ([`PACE`] by default: a run takes a quarter of one core, and the traffic
    /// beside it hardly notices; 0: flat out).
    pub pace: f64,
}

/// The default pace (see [`Options::pace`]).
pub const PACE: f64 = 3.0;

/// What a run did (or, dry, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub run: i64,
    pub dry_run: bool,
    pub grace_secs: u64,
    pub started_at: i64,
    pub elapsed_ms: u64,
    pub datasets: u64,
    /// Refs walked, revisions read, distinct objects they reach.
    pub refs: u64,
    pub revisions: u64,
    pub reachable: u64,
    /// Links and objects newly marked as candidates.
    pub marked: u64,
    /// Candidates found reachable (or used) again.
    pub kept: u64,
    pub links_removed: u64,
    pub objects_removed: u64,
    pub bytes_freed: u64,
    /// Xorbs mostly dead whose used chunks were written into new ones (the old ones then go as
    /// unused), and the bytes of unused chunks they held.
    pub xorbs_compacted: u64,
    pub compacted_bytes: u64,
    /// What was marked or removed (or would be), at most [`MAX_ITEMS`] of it.
    pub items: Vec<Item>,
    pub items_truncated: bool,
    /// Datasets or objects the run could not handle (it went on with the rest).
    pub errors: Vec<String>,
}

/// One object a run marked, removed or compacted (or would).
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// The dataset whose link it is (`None`: the object no dataset links).
    pub dataset: Option<String>,
    pub oid: String,
    pub size: u64,
    /// `marked`, `removed`, `compacted`, or the same with `would`.
    pub action: &'static str,
    pub reason: String,
}

/// The longest grace period a run takes (ten years).
pub const MAX_GRACE_SECS: u64 = 10 * 365 * 86_400;

/// The most items a report lists.
pub const MAX_ITEMS: usize = 1000;

impl Report {
    fn item(&mut self, item: Item) {
        if self.items.len() < MAX_ITEMS {
            self.items.push(item);
        } else {
            self.items_truncated = true;
        }
    }
}

/// Runs a collection; `by` names who asked (`None`: the server's schedule). A second real run
/// while one runs is refused (409).
pub async fn run(core: &Core, options: &Options, by: Option<&str>) -> Result<Report> {
    if !(0.0..=20.0).contains(&options.pace) {
        return Err(Error::unprocessable("the pace is between 0 and 20"));
    }
    if options.grace.as_secs() > MAX_GRACE_SECS {
        return Err(Error::unprocessable(format!(
            "the grace period is at most {MAX_GRACE_SECS} seconds (ten years)"
        )));
    }
    let Some(id) = core.db.gc_claim(options.dry_run, by).await? else {
        return Err(Error::conflict(
            "a garbage collection is running already: wait for it to finish",
        ));
    };
    let started = std::time::Instant::now();
    // Among PostgreSQL replicas, a real run also holds the leader lock while it works.
    let work = sweep::run(core, id, options);
    let outcome = if options.dry_run {
        Some(work.await)
    } else {
        match core.db.as_leader("gc", work).await {
            Ok(outcome) => outcome,
            Err(e) => {
                let _ = core.db.gc_finish(id, "failed", "{}").await;
                return Err(e.into());
            }
        }
    };
    let Some(outcome) = outcome else {
        core.db.gc_finish(id, "failed", "{}").await?;
        return Err(Error::conflict(
            "another replica is collecting garbage: wait for it to finish",
        ));
    };
    let mut report = match outcome {
        Ok(report) => report,
        Err(e) => {
            let _ = core
                .db
                .gc_finish(id, "failed", &json!({"error": e.message}).to_string())
                .await;
            return Err(e);
        }
    };
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    let text = serde_json::to_string(&report).map_err(Error::internal)?;
    core.db.gc_finish(id, "done", &text).await?;
    if !options.dry_run {
        crate::audit::record(
            core,
            "gc.run",
            by,
            None,
            json!({
                "run": id,
                "links_removed": report.links_removed,
                "objects_removed": report.objects_removed,
                "bytes_freed": report.bytes_freed,
                "marked": report.marked,
            }),
        )
        .await?;
    }
    Ok(report)
}

/// A run as listed: its row, and its report once it finished.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub id: i64,
    pub state: String,
    pub dry_run: bool,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub started_by: Option<String>,
    pub report: Option<serde_json::Value>,
}

impl From<GcRunRow> for RunSummary {
    fn from(r: GcRunRow) -> RunSummary {
        RunSummary {
            id: r.id,
            state: r.state,
            dry_run: r.dry_run != 0,
            started_at: r.started_at,
            finished_at: r.finished_at,
            started_by: r.started_by,
            report: r.report.and_then(|t| serde_json::from_str(&t).ok()),
        }
    }
}

/// The latest runs, newest first (their reports without items).
pub async fn runs(core: &Core, limit: i64) -> Result<Vec<RunSummary>> {
    if !(1..=100).contains(&limit) {
        return Err(Error::unprocessable("limit must be between 1 and 100"));
    }
    let rows = core.db.gc_runs(limit).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut s = RunSummary::from(r);
            if let Some(serde_json::Value::Object(m)) = s.report.as_mut() {
                m.remove("items");
            }
            s
        })
        .collect())
}

/// One run, with its report's items.
pub async fn run_by_id(core: &Core, id: i64) -> Result<RunSummary> {
    core.db
        .gc_run(id)
        .await?
        .map(RunSummary::from)
        .ok_or_else(|| Error::not_found(format!("garbage collection run {id} not found")))
}
