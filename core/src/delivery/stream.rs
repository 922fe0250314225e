//! The event stream (`GET /api/v1/events`): the events fanned out after a place in it, in order,
//! of the datasets the caller may read whole (administer, for shares and links) (their token's scopes and grants, checked again
//! each minute), then each new one as the dispatcher fans it out. Ids are the stream's own
//! order, so a client resumes where it stopped (`Last-Event-ID`). The stream ends when the
//! server drains, and after [`LIFETIME`] (its caller checked again when it reconnects).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::Stream;

use crate::auth::scope::Action;
use crate::auth::Principal;
use crate::datasets::gate;
use crate::db::EventRow;
use crate::error::{Error, Result};
use crate::Core;

/// One event of the stream.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its place in the stream.
    pub seq: i64,
    pub kind: String,
    /// The payload (as webhooks receive it).
    pub data: String,
}

/// How long an answer on who may read a dataset is kept.
const RECHECK: Duration = Duration::from_secs(60);
/// How long one stream lasts: then it ends, and the client reconnects with `Last-Event-ID`
/// (browsers' `EventSource` does so by itself), its credentials checked again, so a revoked
/// token or an ended session stops hearing.
pub const LIFETIME: Duration = Duration::from_secs(600);

struct Follow {
    core: Arc<Core>,
    who: Principal,
    after: i64,
    queue: VecDeque<Entry>,
    /// Per dataset and the right an event needs: whether the caller holds it.
    readable: HashMap<(String, Action), bool>,
    checked: Instant,
    started: Instant,
    fanned: tokio::sync::watch::Receiver<u64>,
}

/// The events after `after` the caller may see, then each new one. Anonymous callers have none.
pub fn follow(
    core: Arc<Core>,
    who: Principal,
    after: i64,
) -> Result<impl Stream<Item = Entry> + Send> {
    if matches!(who, Principal::Anonymous) {
        return Err(Error::unauthorized(
            "the event stream needs a token or a session",
        ));
    }
    if after < 0 {
        return Err(Error::bad_request(
            "Last-Event-ID must be a place in the stream (0 or more)",
        ));
    }
    let fanned = core.events.fanned.subscribe();
    let state = Follow {
        core,
        who,
        after,
        queue: VecDeque::new(),
        readable: HashMap::new(),
        checked: Instant::now(),
        started: Instant::now(),
        fanned,
    };
    Ok(futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(e) = s.queue.pop_front() {
                return Some((e, s));
            }
            if s.core.draining.load(Ordering::Relaxed) || s.started.elapsed() > LIFETIME {
                return None;
            }
            match s.core.db.events_after(s.after, 100).await {
                Ok(rows) if !rows.is_empty() => {
                    for row in rows {
                        s.after = row.seq;
                        if s.may_read(&row).await {
                            s.queue.push_back(Entry {
                                seq: row.seq,
                                kind: row.kind.clone(),
                                data: super::webhooks::payload(&row, &row.seq.to_string()),
                            });
                        }
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the event stream could not read events"),
            }
            // Woken by this replica's dispatcher, or once a second for another's.
            let _ = tokio::time::timeout(Duration::from_secs(1), s.fanned.changed()).await;
        }
    }))
}

impl Follow {
    /// Whether the caller may read all of `e`'s dataset (a caller reaching only some of its
    /// paths sees none of its events: they name paths), or administer it for the events of its
    /// shares and links ([`super::needs`]).
    async fn may_read(&mut self, e: &EventRow) -> bool {
        if self.checked.elapsed() > RECHECK {
            self.readable.clear();
            self.checked = Instant::now();
        }
        let need = crate::events::needs(&e.kind);
        let key = (e.dataset.clone(), need);
        if let Some(known) = self.readable.get(&key) {
            return *known;
        }
        let (ns, name) = e.dataset.split_once('/').unwrap_or((&e.dataset, ""));
        let may = gate::dataset(&self.core, &self.who, ns, name, need)
            .await
            .is_ok_and(|g| !g.limited());
        self.readable.insert(key, may);
        may
    }
}
