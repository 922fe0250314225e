//! Views made ahead of time. When a branch moves to a new revision (any write: a push, REST, the
//! browser, the S3 gateway, a merge), the unrestricted view ([`super::view`], the decision that
//! transforms nothing) of each table that revision holds is made in the background, so the first
//! reader, the first SQL query and the first diff of an ungoverned table find it made; a table
//! with a primary key gets its digest index too ([`super::diff`]), so its first diff is a
//! merge-join of two indexes, and a keyed CSV its text view, which merges read.
//!
//! The work follows the event stream (`branch.created`, `branch.updated`: every ref move records
//! one) from where it stood when the server started; `crate::background` runs [`turn`] on one
//! replica at a time. One view at a time, and only while no foreground work runs ([`Priority`]: a
//! reader making a view, a contract check, a diff, a merge): a reader never waits for this work,
//! which stops when one starts and waits its turn instead. At most [`QUEUED`] revisions wait; past
//! that the oldest are left for their first reader. A view that could not be made for a passing
//! reason (the database, the store) is tried again up to [`TRIES`] times, a minute apart; a table
//! that cannot be read as its schema says is left for its first reader, who hears why (422 naming
//! row and column). What became of each is counted ([`Counts`], on `/metrics`).
//!
//! May use: the datasets (the revision's datapackage), the database, and this room's views.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use strata_policy::Decision;

use super::{view, Kind, Opened};
use crate::datasets::catalog::Catalog;
use crate::error::{Kind as ErrorKind, Result};
use crate::Core;

/// Revisions waiting for their views, at most.
pub const QUEUED: usize = 256;
/// Times a view is tried before it is left for its first reader.
pub const TRIES: u32 = 3;
/// Seconds between tries.
const AGAIN_AFTER: i64 = 60;

/// Who goes first: table work a request waits for (a reader making a view, a contract check, a
/// diff, a merge) is foreground; while any runs, the work here does not start, and work here
/// under way when one starts is dropped (what it had written is no view: never recorded) and
/// its revision tried again on a later turn. Two table scans at once on top of each other's
/// memory is what this keeps a server under its memory limit from.
#[derive(Debug, Default)]
pub struct Priority {
    running: std::sync::atomic::AtomicUsize,
    came: tokio::sync::Notify,
}

/// Held while foreground work runs ([`Priority::foreground`]).
pub struct Foreground<'a>(&'a Priority);

impl Drop for Foreground<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Priority {
    /// Marks foreground work until the guard drops, stopping the background's work under way.
    pub fn foreground(&self) -> Foreground<'_> {
        self.running.fetch_add(1, Ordering::SeqCst);
        self.came.notify_waiters();
        Foreground(self)
    }

    /// `work`, unless foreground work is running or starts meanwhile: then `Busy`, and `work` is
    /// dropped where it stands.
    pub async fn background<T>(
        &self,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let came = self.came.notified();
        tokio::pin!(came);
        came.as_mut().enable();
        if self.running.load(Ordering::SeqCst) > 0 {
            return Err(super::Tables::busy());
        }
        tokio::select! {
            done = work => done,
            () = came => Err(super::Tables::busy()),
        }
    }
}

/// What became of the views made ahead of time, since the server started.
#[derive(Debug, Default)]
pub struct Counts {
    /// Made here.
    pub made: AtomicU64,
    /// Found made already (by a reader, or an earlier revision holding the same table).
    pub found: AtomicU64,
    /// Left for the first reader: the table cannot be read as its schema says, or every try
    /// failed.
    pub failed: AtomicU64,
    /// Tried again after a passing failure.
    pub retried: AtomicU64,
    /// Revisions waiting after the last turn.
    pub waiting: AtomicU64,
    /// The place in the event stream the last turn took events up to.
    pub seen: AtomicI64,
}

/// A snapshot of [`Counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Figures {
    pub made: u64,
    pub found: u64,
    pub failed: u64,
    pub retried: u64,
}

impl Counts {
    pub fn figures(&self) -> Figures {
        Figures {
            made: self.made.load(Ordering::Relaxed),
            found: self.found.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
        }
    }
}

/// One revision whose tables want views.
#[derive(Debug, Clone)]
struct Job {
    /// `ns/name`.
    dataset: String,
    revision: String,
    tries: u32,
    /// Not before this time (seconds).
    due: i64,
}

/// Where the work stands: the last event seen, and the revisions waiting.
#[derive(Debug, Default)]
pub struct State {
    seen: Option<i64>,
    waiting: VecDeque<Job>,
}

/// Starts following the event stream from where it stands now (revisions written before are
/// made when first read). [`turn`] does it too when it was not done.
pub async fn start(core: &Core, state: &mut State) -> Result<()> {
    state.seen = Some(core.db.last_event_seq().await?);
    Ok(())
}

/// Takes the new ref moves from the event stream, then makes the views of the revisions due, one
/// at a time; returns once nothing more is due or a reader is making a view.
pub async fn turn(core: &Core, state: &mut State) -> Result<()> {
    if state.seen.is_none() {
        start(core, state).await?;
    }
    let seen = state.seen.unwrap_or_default();
    let events = core.db.events_after(seen, 500).await?;
    for e in events {
        state.seen = Some(e.seq);
        if e.kind != "branch.created" && e.kind != "branch.updated" {
            continue;
        }
        let data: serde_json::Value = serde_json::from_str(&e.data).unwrap_or_default();
        let Some(revision) = data["after"].as_str() else {
            continue;
        };
        if state.waiting.len() >= QUEUED {
            state.waiting.pop_front();
            core.tables.ahead.failed.fetch_add(1, Ordering::Relaxed);
        }
        state.waiting.push_back(Job {
            dataset: e.dataset.clone(),
            revision: revision.to_owned(),
            tries: 0,
            due: 0,
        });
    }
    let now = crate::db::now();
    let mut later = VecDeque::new();
    while let Some(mut job) = state.waiting.pop_front() {
        if job.due > now {
            later.push_back(job);
            continue;
        }
        match core.tables.priority.background(views_of(core, &job)).await {
            Ok(()) => {}
            // Foreground work (a reader making a view, a check, a diff, a merge) is running or
            // started: this revision waits, untried, for the next turn.
            Err(e) if e.kind == ErrorKind::Busy => {
                state.waiting.push_front(job);
                break;
            }
            Err(e) => {
                job.tries += 1;
                if job.tries >= TRIES {
                    tracing::warn!(dataset = %job.dataset, revision = %job.revision, error = %e.message,
                        "views ahead of time: given up, left for the first reader");
                    core.tables.ahead.failed.fetch_add(1, Ordering::Relaxed);
                } else {
                    tracing::info!(dataset = %job.dataset, error = %e.message,
                        "views ahead of time: tried again in a minute");
                    core.tables.ahead.retried.fetch_add(1, Ordering::Relaxed);
                    job.due = now + AGAIN_AFTER;
                    later.push_back(job);
                }
            }
        }
    }
    state.waiting.extend(later);
    let ahead = &core.tables.ahead;
    ahead
        .waiting
        .store(state.waiting.len() as u64, Ordering::Relaxed);
    ahead
        .seen
        .store(state.seen.unwrap_or_default(), Ordering::Relaxed);
    Ok(())
}

/// Whether the work is done for now: every event recorded is fanned out, taken by a turn, and
/// no revision waits (tests and benchmarks wait for it before they count reads).
pub async fn settled(core: &Core) -> Result<bool> {
    if !core.db.pending_events(1).await?.is_empty() {
        return Ok(false);
    }
    let ahead = &core.tables.ahead;
    Ok(ahead.waiting.load(Ordering::Relaxed) == 0
        && ahead.seen.load(Ordering::Relaxed) >= core.db.last_event_seq().await?)
}

/// Makes the unrestricted view of every table `job`'s revision holds (each at most once: a view
/// already made, here or by a reader, is found).
async fn views_of(core: &Core, job: &Job) -> Result<()> {
    let Some((ns, name)) = job.dataset.split_once('/') else {
        return Ok(());
    };
    // A dataset deleted since has nothing to make.
    let Some(repo) = core.db.repo_by_path(ns, name).await? else {
        return Ok(());
    };
    let revision = job.revision.clone();
    let package = crate::datasets::git_on(core, &repo, move |ms, ds| {
        crate::datasets::packaged::at(ms, ds, &revision)
    })
    .await?;
    let Some(Ok(package)) = package else {
        return Ok(());
    };
    let catalog = Catalog::read(&job.dataset, &package);
    for table in &catalog.resources {
        let (Some(kind), Some(object)) = (Kind::of(table), table.object) else {
            continue;
        };
        let opened = Opened {
            catalog: catalog.clone(),
            table: table.clone(),
            kind,
            object,
            decision: Decision::default(),
        };
        let counter = match view::ahead(core, repo.id, &opened, false).await {
            Ok((view, made)) => {
                // A keyed table's digest index too, for its first diff, and a keyed CSV's text
                // view, for its first merge.
                if !table.primary_key.is_empty() {
                    let source = format!("{}:{}", table.name, object.0);
                    // A reader making a view: the revision waits for the next turn (what is
                    // made already is found then).
                    match super::diff::index_ahead(core, &view, &source, &table.primary_key).await {
                        Err(e) if e.kind == ErrorKind::Busy => return Err(e),
                        Err(e) => tracing::debug!(dataset = %job.dataset, table = %table.name,
                            error = %e.message, "no digest index ahead of time"),
                        Ok(()) => {}
                    }
                    if matches!(kind, Kind::Csv { .. }) {
                        match view::ahead(core, repo.id, &opened, true).await {
                            Err(e) if e.kind == ErrorKind::Busy => return Err(e),
                            Err(e) => tracing::debug!(dataset = %job.dataset, table = %table.name,
                                error = %e.message, "no text view ahead of time"),
                            Ok(_) => {}
                        }
                    }
                }
                match made {
                    true => &core.tables.ahead.made,
                    false => &core.tables.ahead.found,
                }
            }
            // Read as its schema says, the table breaks it: its first reader hears why.
            Err(e) if e.kind == ErrorKind::Invalid => {
                tracing::debug!(dataset = %job.dataset, table = %table.name, error = %e.message,
                    "no view ahead of time");
                &core.tables.ahead.failed
            }
            Err(e) => return Err(e),
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn foreground_work_keeps_the_background_from_starting_and_stops_it() {
        let p = Priority::default();
        // Alone, the background's work runs to its end.
        assert_eq!(p.background(async { Ok(7) }).await.unwrap(), 7);
        // While foreground work runs, it does not start.
        let started = std::sync::atomic::AtomicBool::new(false);
        {
            let _first = p.foreground();
            let e = p
                .background(async {
                    started.store(true, Ordering::SeqCst);
                    Ok(())
                })
                .await
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::Busy);
        }
        assert!(!started.load(Ordering::SeqCst));
        // Under way when foreground work starts, it is dropped where it stands.
        let (under_way, told) = tokio::sync::oneshot::channel();
        let work = p.background(async {
            let _ = under_way.send(());
            std::future::pending::<()>().await;
            Ok(())
        });
        let first = async {
            told.await.unwrap();
            let _first = p.foreground();
            tokio::task::yield_now().await;
        };
        let (stopped, ()) = tokio::join!(work, first);
        assert_eq!(stopped.unwrap_err().kind, ErrorKind::Busy);
        // Once the foreground work is over, the background's runs again.
        assert_eq!(p.background(async { Ok(8) }).await.unwrap(), 8);
    }
}
