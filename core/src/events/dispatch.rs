//! The dispatcher: one at a time among replicas (a leader lock), woken by the [`super::Bell`]
//! when this replica records events and every second otherwise. Each turn it completes pending
//! events and fans each out to the matching webhooks (a delivery each, in one transaction with
//! the event's place in the stream), then sends the deliveries due, a few at once. A failed
//! attempt is retried after 10 s, doubling up to an hour, until the delivery is a day old; a
//! webhook whose deliveries failed [`PAUSE_AFTER`] times in a row is paused, and its page says
//! why.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::deliver::Sender;
use crate::db::{Attempt, DeliveryRow, EventRow, FanOut, NewEvent, WebhookRow};
use crate::Core;

/// Failed attempts in a row that pause a webhook.
pub const PAUSE_AFTER: i64 = 20;
/// How long a delivery is retried (seconds).
const GIVE_UP_AFTER: i64 = 24 * 3600;
/// Deliveries sent at once.
const AT_ONCE: usize = 8;

/// Starts the dispatcher.
pub fn start(core: &Arc<Core>) {
    let core = core.clone();
    let sender = Sender::new(core.settings.webhooks);
    core.tasks.clone().spawn("events", move |stop| async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = core.events.recorded.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            let turn = core.db.as_leader("events", turn(&core, &sender)).await;
            if let Err(e) = turn {
                tracing::warn!(error = %e, "the event dispatcher could not take its turn");
            }
        }
    });
}

async fn turn(core: &Core, sender: &Sender) {
    match core.db.pending_events(100).await {
        Ok(events) => {
            for e in events {
                if let Err(e) = fan_out(core, &e).await {
                    tracing::warn!(event = e.message, "an event was not fanned out");
                    break;
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "pending events unreadable"),
    }
    let due = match core.db.due_deliveries(100).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "due deliveries unreadable");
            return;
        }
    };
    futures_util::stream::iter(due)
        .for_each_concurrent(AT_ONCE, |d| async move { send(core, sender, &d).await })
        .await;
}

/// Completes `e` and gives each matching webhook a delivery of it, tells the people concerned,
/// and derives what it gives rise to (all in one transaction).
async fn fan_out(core: &Core, e: &EventRow) -> crate::error::Result<()> {
    let (ns, name) = e.dataset.split_once('/').unwrap_or((&e.dataset, ""));
    let mut data: Value = serde_json::from_str(&e.data).unwrap_or_else(|_| json!({}));
    let changes = changes_of(core, ns, name, &data).await;
    if let Some((paths, package)) = &changes {
        data["paths"] = json!(paths);
        data["datapackage"] = package.clone();
    }
    let paths: Option<Vec<String>> = changes.map(|(p, _)| p);
    let mut out = FanOut::default();
    let need = super::needs(&e.kind);
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
    let any = |globs: &[String], s: &str| {
        let options = glob::MatchOptions {
            require_literal_separator: true,
            ..glob::MatchOptions::new()
        };
        globs.is_empty()
            || globs
                .iter()
                .any(|g| glob::Pattern::new(g).is_ok_and(|p| p.matches_with(s, options)))
    };
    let kinds = list(&w.kinds);
    if !kinds.is_empty() && !kinds.iter().any(|k| k == kind) {
        return false;
    }
    if let Some(branch) = data["branch"].as_str() {
        if !any(&list(&w.branches), branch) {
            return false;
        }
    }
    if let Some(tag) = data["tag"].as_str() {
        if !any(&list(&w.tags), tag) {
            return false;
        }
    }
    let globs = list(&w.paths);
    match paths {
        Some(paths) if !globs.is_empty() => paths.iter().any(|p| any(&globs, p)),
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
    let body = super::webhooks::payload(&e, &d.message_id);
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
            let _ = core.db.set_webhook_active(w.id, false, Some(&why)).await;
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
