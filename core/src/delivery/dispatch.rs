//! The dispatcher, two loops each run by one replica at a time (a leader lock of its own):
//! the fan-out, woken by the [`super::Bell`] when this replica records events and every second
//! otherwise, completes pending events and fans each out to the matching webhooks (a delivery
//! each, in one transaction with the event's place in the stream and its notifications); the
//! sender, woken by each fan-out and every second, sends the deliveries due, each on its own
//! task: at most [`AT_ONCE`] at a time, and [`PER_WEBHOOK`] per webhook, so a slow receiver
//! delays its own deliveries, never the fan-out or other webhooks'. A failed attempt is retried
//! after 10 s, doubling up to an hour, until the delivery is a day old; a webhook whose
//! deliveries failed [`PAUSE_AFTER`] times in a row is paused, and its owner told.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::deliver::Sender;
use crate::db::{Attempt, DeliveryRow, EventRow, FanOut, NewEvent, WebhookRow};
use crate::Core;

/// Failed attempts in a row that pause a webhook.
pub const PAUSE_AFTER: i64 = 20;
/// How long a delivery is retried (seconds).
const GIVE_UP_AFTER: i64 = 24 * 3600;
/// Deliveries in flight at once, and per webhook.
const AT_ONCE: usize = 32;
const PER_WEBHOOK: usize = 2;
/// The most changed paths a payload names (`paths_truncated` says when there were more).
const MAX_PATHS: usize = 1000;

/// Starts the dispatcher's two loops.
pub fn start(core: &Arc<Core>) {
    let fan = core.clone();
    core.tasks.clone().spawn("events", move |stop| async move {
        let mut more = false;
        loop {
            // A full batch fanned out: the next at once; otherwise when woken.
            if !more {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = fan.events.recorded.notified() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            } else if stop.is_cancelled() {
                break;
            }
            match fan.db.as_leader("events", fan_turn(&fan)).await {
                Ok(done) => more = done == Some(true),
                Err(e) => {
                    more = false;
                    tracing::warn!(error = %e, "the event fan-out could not take its turn");
                }
            }
        }
    });
    let send = core.clone();
    let sender = Arc::new(Sender::new(core.settings.webhooks));
    let flight = Arc::new(InFlight::default());
    let mut fanned = core.events.fanned.subscribe();
    core.tasks
        .clone()
        .spawn("deliveries", move |stop| async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = fanned.changed() => {}
                    // A delivery done: its place is free for the next due one.
                    () = flight.freed.notified() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                let turn = send_turn(&send, &sender, &flight);
                if let Err(e) = send.db.as_leader("deliveries", turn).await {
                    tracing::warn!(error = %e, "the webhook sender could not take its turn");
                }
            }
        });
}

/// Fans out the pending events, a batch at a time: whether the batch was full (more wait).
async fn fan_turn(core: &Core) -> bool {
    const BATCH: usize = 100;
    match core.db.pending_events(BATCH as i64).await {
        Ok(events) => {
            let full = events.len() == BATCH;
            for e in events {
                if let Err(e) = fan_out(core, &e).await {
                    tracing::warn!(event = e.message, "an event was not fanned out");
                    return false;
                }
            }
            full
        }
        Err(e) => {
            tracing::warn!(error = %e, "pending events unreadable");
            false
        }
    }
}

/// The deliveries in flight from this replica, in all and per webhook.
#[derive(Default)]
struct InFlight {
    per_webhook: Mutex<HashMap<i64, usize>>,
    /// Rung when a delivery is done.
    freed: tokio::sync::Notify,
}

impl InFlight {
    /// Takes a place for a delivery of `webhook`, if one is free.
    fn take(&self, webhook: i64) -> bool {
        let mut m = self.per_webhook.lock().unwrap_or_else(|p| p.into_inner());
        if m.values().sum::<usize>() >= AT_ONCE {
            return false;
        }
        let n = m.entry(webhook).or_default();
        if *n >= PER_WEBHOOK {
            return false;
        }
        *n += 1;
        true
    }

    fn done(&self, webhook: i64) {
        {
            let mut m = self.per_webhook.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = m.get_mut(&webhook) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&webhook);
                }
            }
        }
        self.freed.notify_one();
    }
}

/// Starts sending the deliveries due that have a free place, each on its own task.
async fn send_turn(core: &Arc<Core>, sender: &Arc<Sender>, flight: &Arc<InFlight>) {
    let due = match core.db.due_deliveries(200).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "due deliveries unreadable");
            return;
        }
    };
    for d in due {
        if !flight.take(d.webhook_id) {
            continue;
        }
        let (core, sender, flight) = (core.clone(), sender.clone(), flight.clone());
        tokio::spawn(async move {
            send(&core, &sender, &d).await;
            flight.done(d.webhook_id);
        });
    }
}

/// Completes `e` and gives each matching webhook a delivery of it, tells the people concerned,
/// and derives what it gives rise to (all in one transaction).
async fn fan_out(core: &Core, e: &EventRow) -> crate::error::Result<()> {
    let (ns, name) = e.dataset.split_once('/').unwrap_or((&e.dataset, ""));
    let mut data: Value = serde_json::from_str(&e.data).unwrap_or_else(|_| json!({}));
    let changes = changes_of(core, ns, name, &data).await;
    if let Some((paths, package)) = &changes {
        data["paths"] = json!(paths.iter().take(MAX_PATHS).collect::<Vec<_>>());
        if paths.len() > MAX_PATHS {
            data["paths_truncated"] = json!(true);
        }
        data["datapackage"] = package.clone();
    }
    let paths: Option<Vec<String>> = changes.map(|(p, _)| p);
    let mut out = FanOut::default();
    let need = crate::events::needs(&e.kind);
    for w in core.db.active_webhooks(ns, name).await? {
        if matches(&w, &e.kind, &data, paths.as_deref())
            && owner_holds(core, &w, ns, name, need).await
        {
            out.webhooks.push(w.id);
        }
    }
    out.notify = super::notify::recipients(core, e, &data).await;
    out.derived = policy_change(core, e, &data, paths.as_deref());
    out.data = data.to_string();
    core.db.fan_out(e, &out).await?;
    core.events.fanned.send_modify(|n| *n += 1);
    Ok(())
}

/// A move of the policy dataset's default branch that changed its `.rego` files changes the
/// policy set every governed read is decided by: a `policy.changed` event of its own.
fn policy_change(
    core: &Core,
    e: &EventRow,
    data: &Value,
    paths: Option<&[String]>,
) -> Vec<NewEvent> {
    let (ns, name) = e.dataset.split_once('/').unwrap_or((&e.dataset, ""));
    let files: Vec<&String> = paths
        .unwrap_or_default()
        .iter()
        .filter(|p| p.ends_with(".rego"))
        .collect();
    if e.kind != "branch.updated"
        || data["branch"] != strata_metastore::DEFAULT_BRANCH
        || files.is_empty()
        || !core.governance.is_policy_dataset(ns, name)
    {
        return Vec::new();
    }
    vec![NewEvent {
        kind: "policy.changed".into(),
        dataset: e.dataset.clone(),
        actor: e.actor.clone(),
        data: json!({"branch": data["branch"], "revision": data["after"], "files": files})
            .to_string(),
    }]
}

/// A branch update's changed paths and datapackage changes (none when either revision is gone).
async fn changes_of(
    core: &Core,
    ns: &str,
    name: &str,
    data: &Value,
) -> Option<(Vec<String>, Value)> {
    let (Some(before), Some(after)) = (data["before"].as_str(), data["after"].as_str()) else {
        return None;
    };
    if data["rewritten"] == true {
        return None;
    }
    let (before, after) = (before.to_owned(), after.to_owned());
    let (ns, name) = (ns.to_owned(), name.to_owned());
    let diff = crate::datasets::git(core, move |ms| {
        ms.diff(
            strata_metastore::DatasetId {
                ns: &ns,
                name: &name,
            },
            &before,
            &after,
        )
    })
    .await
    .ok()?;
    let mut paths: Vec<String> = Vec::new();
    for f in &diff.files {
        paths.extend(f.old_path.clone());
        paths.push(f.path.clone());
    }
    let package = json!({
        "resources": diff.resources.iter().map(|r| json!({
            "name": r.name,
            "change": r.change,
            "fields": r.fields.iter().map(|f| f.field.clone()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "metadata": diff.metadata.iter().map(|f| f.field.clone()).collect::<Vec<_>>(),
    });
    Some((paths, package))
}

/// Whether webhook `w` wants an event of `kind` with `data` (and changed `paths`, for the events
/// that change any: path globs filter only those).
pub(super) fn matches(w: &WebhookRow, kind: &str, data: &Value, paths: Option<&[String]>) -> bool {
    let list = |json: &str| serde_json::from_str::<Vec<String>>(json).unwrap_or_default();
    // Each glob compiled once (they were checked when the webhook was made).
    let globs = |json: &str| -> Vec<glob::Pattern> {
        list(json)
            .iter()
            .filter_map(|g| glob::Pattern::new(g).ok())
            .collect()
    };
    let options = glob::MatchOptions {
        require_literal_separator: true,
        ..glob::MatchOptions::new()
    };
    let any = |globs: &[glob::Pattern], s: &str| {
        globs.is_empty() || globs.iter().any(|p| p.matches_with(s, options))
    };
    if w.format == "openlineage" && !kind.starts_with("run.") {
        return false;
    }
    let kinds = list(&w.kinds);
    if !kinds.is_empty() && !kinds.iter().any(|k| k == kind) {
        return false;
    }
    if let Some(branch) = data["branch"].as_str() {
        if !any(&globs(&w.branches), branch) {
            return false;
        }
    }
    if let Some(tag) = data["tag"].as_str() {
        if !any(&globs(&w.tags), tag) {
            return false;
        }
    }
    let wanted = globs(&w.paths);
    match paths {
        Some(paths) if !wanted.is_empty() => paths.iter().any(|p| any(&wanted, p)),
        _ => true,
    }
}

/// Whether the webhook's owner still holds `need` on the whole dataset: deliveries carry only
/// what they may see.
async fn owner_holds(
    core: &Core,
    w: &WebhookRow,
    ns: &str,
    name: &str,
    need: crate::auth::scope::Action,
) -> bool {
    let Some(owner) = super::notify::account(core, w.owner_id).await else {
        return false;
    };
    crate::datasets::gate::dataset(core, &owner, ns, name, need)
        .await
        .is_ok_and(|g| !g.limited())
}

/// One attempt of delivery `d`.
async fn send(core: &Core, sender: &Sender, d: &DeliveryRow) {
    let now = crate::db::now();
    // Claimed first: another dispatcher that finds it due skips it.
    match core.db.claim_delivery(d, now + 60).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, "a delivery could not be claimed");
            return;
        }
    }
    let (Ok(Some(w)), Ok(Some(e))) = (
        core.db.webhook(d.webhook_id).await,
        core.db.event(d.event_id).await,
    ) else {
        return;
    };
    // Its owner's access, checked again at each attempt: a retry or a redelivery after they
    // lost it carries nothing.
    let (ns, name) = e.dataset.split_once('/').unwrap_or((&e.dataset, ""));
    if !owner_holds(core, &w, ns, name, crate::events::needs(&e.kind)).await {
        let refused = Attempt {
            state: "failed",
            next_at: now,
            status: None,
            millis: 0,
            error: Some("not sent: the webhook's owner may no longer read this dataset"),
        };
        if let Err(e) = core.db.attempted(d, &refused).await {
            tracing::warn!(error = %e, "a delivery's refusal was not recorded");
        }
        return;
    }
    let body = match w.format.as_str() {
        "openlineage" => match super::notify::account(core, w.owner_id).await {
            Some(owner) => super::lineage::event(core, &owner, &e).await,
            None => return,
        },
        _ => super::webhooks::payload(&e, &d.message_id),
    };
    let mut secrets = vec![w.secret.as_str()];
    if let (Some(old), Some(until)) = (&w.old_secret, w.old_secret_until) {
        if until > now {
            secrets.push(old);
        }
    }
    let outcome = sender.send(&w.url, &d.message_id, &body, &secrets).await;
    let delivered = outcome.error.is_none();
    let retry = (10i64 << d.attempts.min(9)).min(3600);
    let state = if delivered {
        "delivered"
    } else if now + retry - d.created_at > GIVE_UP_AFTER {
        "failed"
    } else {
        "pending"
    };
    let attempt = Attempt {
        state,
        next_at: now + retry,
        status: outcome.status.map(i64::from),
        millis: outcome.millis,
        error: outcome.error.as_deref(),
    };
    match core.db.attempted(d, &attempt).await {
        Ok(failures) if failures >= PAUSE_AFTER => {
            let why = format!(
                "paused after {failures} failed deliveries in a row; the last: {}",
                outcome.error.as_deref().unwrap_or("")
            );
            // Several failures in flight at once: only the one that pauses it tells.
            if !core.db.pause_webhook(w.id, &why).await.unwrap_or(false) {
                return;
            }
            let (hooked, page) = match &w.namespace {
                Some(ns) => match core.db.org_by_name(ns).await {
                    Ok(Some(org)) => (org.name.clone(), format!("/orgs/{}/webhooks", org.name)),
                    _ => (ns.clone(), "/settings/webhooks".to_owned()),
                },
                None => (
                    e.dataset.clone(),
                    format!("/datasets/{}/settings/webhooks", e.dataset),
                ),
            };
            let told = json!({"webhook": w.id, "url": w.url, "reason": why, "page": page});
            let _ = core
                .db
                .notify(w.owner_id, "webhook.paused", &hooked, &told.to_string())
                .await;
            let _ = crate::audit::record(
                core,
                "webhook.pause",
                None,
                Some(&e.dataset),
                json!({"webhook": w.id, "reason": why}),
            )
            .await;
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "a delivery's attempt was not recorded"),
    }
}
