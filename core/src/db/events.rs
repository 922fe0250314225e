//! `events`, `webhooks` and `webhook_deliveries`: the outbox of what happened to datasets
//! (written in the transaction of the change), the webhooks subscribed to them, and each event's
//! delivery to each webhook (`crate::events`).

use sqlx::{Any, Transaction};

use super::{now, Db};

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: String,
    /// `namespace/name`.
    pub dataset: String,
    pub actor: Option<String>,
    /// JSON.
    pub data: String,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub kind: String,
    pub dataset: String,
    pub actor: Option<String>,
    pub data: String,
    pub created_at: i64,
    pub seq: i64,
}

/// A webhook as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: i64,
    /// A dataset's webhook; or else
    pub repo_id: Option<i64>,
    /// a namespace's: every dataset of a user or an organisation.
    pub namespace: Option<String>,
    pub owner_id: i64,
    pub url: String,
    pub kinds: String,
    pub branches: String,
    pub tags: String,
    pub paths: String,
    pub secret: String,
    pub old_secret: Option<String>,
    pub old_secret_until: Option<i64>,
    pub active: i64,
    pub failures: i64,
    pub paused_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// `strata` or `openlineage`.
    pub format: String,
}

/// What a webhook hears of: one dataset, or every dataset of a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hooked<'a> {
    /// A dataset (its `repos` id).
    Dataset(i64),
    /// A user's or an organisation's name (compared case-insensitively).
    Namespace(&'a str),
}

impl Hooked<'_> {
    /// The `(repo_id, namespace)` columns.
    fn columns(&self) -> (Option<i64>, Option<String>) {
        match self {
            Hooked::Dataset(id) => (Some(*id), None),
            Hooked::Namespace(ns) => (None, Some((*ns).to_owned())),
        }
    }

    /// Whether webhook `w` is one of these.
    pub fn holds(&self, w: &WebhookRow) -> bool {
        match self {
            Hooked::Dataset(id) => w.repo_id == Some(*id),
            Hooked::Namespace(ns) => w
                .namespace
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(ns)),
        }
    }
}

/// A new webhook.
pub struct NewWebhook<'a> {
    pub hooked: Hooked<'a>,
    pub owner_id: i64,
    pub url: &'a str,
    pub kinds: &'a str,
    pub branches: &'a str,
    pub tags: &'a str,
    pub paths: &'a str,
    pub secret: &'a str,
    pub format: &'a str,
}

/// A delivery as stored, with what it delivers.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: i64,
    pub message_id: String,
    pub state: String,
    pub attempts: i64,
    pub next_at: i64,
    pub status: Option<i64>,
    pub millis: Option<i64>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What fanning an event out writes.
#[derive(Debug, Default)]
pub struct FanOut {
    /// The event's completed data (JSON).
    pub data: String,
    /// The webhooks that get a delivery of it.
    pub webhooks: Vec<i64>,
    /// The users told of it.
    pub notify: Vec<i64>,
    /// Events it gives rise to (a policy set changed by a branch's move).
    pub derived: Vec<NewEvent>,
}

/// How an attempt went.
pub struct Attempt<'a> {
    pub state: &'a str,
    pub next_at: i64,
    pub status: Option<i64>,
    pub millis: i64,
    pub error: Option<&'a str>,
}

const EVENT: &str = "id, kind, dataset, actor, data, created_at, seq";
const WEBHOOK: &str =
    "id, repo_id, namespace, owner_id, url, kinds, branches, tags, paths, secret, \
     old_secret, old_secret_until, active, failures, paused_reason, created_at, updated_at, format";
const DELIVERY: &str = "id, webhook_id, event_id, message_id, state, attempts, next_at, status, \
     millis, error, created_at, updated_at";

/// Records `events` in the transaction `tx` (of the change they tell of).
pub(super) async fn record_in(
    tx: &mut Transaction<'static, Any>,
    events: &[NewEvent],
) -> Result<(), sqlx::Error> {
    for e in events {
        sqlx::query(
            "INSERT INTO events (kind, dataset, actor, data, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&e.kind)
        .bind(&e.dataset)
        .bind(&e.actor)
        .bind(&e.data)
        .bind(now())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Db {
    /// Records `events` on their own (a change not made in SQL, or made before).
    pub async fn record_events(&self, events: &[NewEvent]) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        record_in(&mut tx, events).await?;
        tx.commit().await
    }

    /// Events not fanned out yet, oldest first.
    pub async fn pending_events(&self, limit: i64) -> Result<Vec<EventRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {EVENT} FROM events WHERE seq = 0 ORDER BY id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Fans event `e` out, all at once: its completed `data` and its place in the stream, a
    /// pending delivery to each of `out.webhooks` (message ids `msg_<event>_<webhook>`), a
    /// notification to each of `out.notify`, and the events `out.derived` it gives rise to.
    pub async fn fan_out(&self, e: &EventRow, out: &FanOut) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let at = now();
        let done = sqlx::query(
            "UPDATE events SET data = $1, \
             seq = (SELECT coalesce(max(seq), 0) + 1 FROM events) WHERE id = $2 AND seq = 0",
        )
        .bind(&out.data)
        .bind(e.id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            // Another dispatcher got there first.
            return Ok(());
        }
        for w in &out.webhooks {
            sqlx::query(
                "INSERT INTO webhook_deliveries (webhook_id, event_id, message_id, state, \
                 next_at, created_at, updated_at) VALUES ($1, $2, $3, 'pending', $4, $4, $4) \
                 ON CONFLICT (webhook_id, event_id) DO NOTHING",
            )
            .bind(w)
            .bind(e.id)
            .bind(format!("msg_{}_{w}", e.id))
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        for user in &out.notify {
            sqlx::query(
                "INSERT INTO notifications (user_id, kind, dataset, actor, data, event_id, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (user_id, event_id) DO NOTHING",
            )
            .bind(user)
            .bind(&e.kind)
            .bind(&e.dataset)
            .bind(&e.actor)
            .bind(&out.data)
            .bind(e.id)
            .bind(e.created_at)
            .execute(&mut *tx)
            .await?;
        }
        record_in(&mut tx, &out.derived).await?;
        tx.commit().await
    }

    /// Fanned-out events after `seq`, in order.
    pub async fn events_after(&self, seq: i64, limit: i64) -> Result<Vec<EventRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {EVENT} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// The place of the last fanned-out event (0: none yet).
    pub async fn last_event_seq(&self) -> Result<i64, sqlx::Error> {
        let (seq,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(seq.unwrap_or(0))
    }

    /// Forgets the fanned-out events recorded before `before`, their deliveries with them (the
    /// last one stays: the stream's places go on from it).
    pub async fn forget_events(&self, before: i64) -> Result<u64, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE event_id IN (SELECT id FROM events \
             WHERE seq > 0 AND created_at < $1 AND seq < (SELECT max(seq) FROM events))",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "DELETE FROM events WHERE seq > 0 AND created_at < $1 \
             AND seq < (SELECT max(seq) FROM events)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    pub async fn event(&self, id: i64) -> Result<Option<EventRow>, sqlx::Error> {
        sqlx::query_as(sql!("SELECT {EVENT} FROM events WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn create_webhook(&self, w: &NewWebhook<'_>) -> Result<WebhookRow, sqlx::Error> {
        let at = now();
        let (repo_id, namespace) = w.hooked.columns();
        sqlx::query_as(sql!(
            "INSERT INTO webhooks (repo_id, namespace, owner_id, url, kinds, branches, tags, \
             paths, secret, created_at, updated_at, format) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) RETURNING {WEBHOOK}"
        ))
        .bind(repo_id)
        .bind(namespace)
        .bind(w.owner_id)
        .bind(w.url)
        .bind(w.kinds)
        .bind(w.branches)
        .bind(w.tags)
        .bind(w.paths)
        .bind(w.secret)
        .bind(at)
        .bind(w.format)
        .fetch_one(&self.pool)
        .await
    }

    /// A dataset's or a namespace's webhooks, oldest first.
    pub async fn webhooks(&self, hooked: Hooked<'_>) -> Result<Vec<WebhookRow>, sqlx::Error> {
        let (repo_id, namespace) = hooked.columns();
        sqlx::query_as(sql!(
            "SELECT {WEBHOOK} FROM webhooks WHERE repo_id = $1 \
             OR (repo_id IS NULL AND lower(namespace) = lower($2)) ORDER BY id"
        ))
        .bind(repo_id)
        .bind(namespace)
        .fetch_all(&self.pool)
        .await
    }

    /// The active webhooks that hear of the dataset `namespace/name`: its own, and its
    /// namespace's.
    pub async fn active_webhooks(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<WebhookRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {WEBHOOK} FROM webhooks WHERE active = 1 AND (repo_id = \
             (SELECT id FROM repos WHERE namespace = $1 AND name = $2) \
             OR (repo_id IS NULL AND lower(namespace) = lower($1))) ORDER BY id"
        ))
        .bind(namespace)
        .bind(name)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn webhook(&self, id: i64) -> Result<Option<WebhookRow>, sqlx::Error> {
        sqlx::query_as(sql!("SELECT {WEBHOOK} FROM webhooks WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Deletes webhook `id`, its deliveries with it (callers checked it is theirs).
    pub async fn delete_webhook(&self, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A new secret; the old one signs too until `overlap_until`.
    pub async fn rotate_webhook_secret(
        &self,
        id: i64,
        secret: &str,
        overlap_until: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE webhooks SET old_secret = secret, old_secret_until = $1, secret = $2, \
             updated_at = $3 WHERE id = $4",
        )
        .bind(overlap_until)
        .bind(secret)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Turns a webhook on (its failures forgotten) or pauses it, saying why.
    pub async fn set_webhook_active(
        &self,
        id: i64,
        active: bool,
        reason: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE webhooks SET active = $1, paused_reason = $2, failures = failures * $3, \
             updated_at = $4 WHERE id = $5",
        )
        .bind(i64::from(active))
        .bind(reason)
        // Resumed: its failures forgotten.
        .bind(i64::from(!active))
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Pauses an active webhook after its failures, saying why: `false` when it was paused
    /// already.
    pub async fn pause_webhook(&self, id: i64, reason: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE webhooks SET active = 0, paused_reason = $1, updated_at = $2 \
             WHERE id = $3 AND active = 1",
        )
        .bind(reason)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deliveries due now, oldest first, of active webhooks.
    pub async fn due_deliveries(&self, limit: i64) -> Result<Vec<DeliveryRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {DELIVERY} FROM webhook_deliveries WHERE state = 'pending' AND next_at <= $1 \
             AND webhook_id IN (SELECT id FROM webhooks WHERE active = 1) \
             ORDER BY next_at, id LIMIT $2"
        ))
        .bind(now())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Claims due delivery `d` until `until` (its next attempt if this one never reports):
    /// `false` when another dispatcher claimed it first.
    pub async fn claim_delivery(&self, d: &DeliveryRow, until: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET next_at = $1 \
             WHERE id = $2 AND state = 'pending' AND next_at = $3",
        )
        .bind(until)
        .bind(d.id)
        .bind(d.next_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records an attempt of delivery `id`, and the webhook's run of failures: the run it is now
    /// on (0 after a success).
    pub async fn attempted(&self, d: &DeliveryRow, a: &Attempt<'_>) -> Result<i64, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let at = now();
        sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, next_at = $2, \
             status = $3, millis = $4, error = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(a.state)
        .bind(a.next_at)
        .bind(a.status)
        .bind(a.millis)
        .bind(a.error)
        .bind(at)
        .bind(d.id)
        .execute(&mut *tx)
        .await?;
        let failures: i64 = sqlx::query_scalar(
            "UPDATE webhooks SET failures = CASE WHEN $1 = 'delivered' THEN 0 ELSE failures + 1 END \
             WHERE id = $2 RETURNING failures",
        )
        .bind(a.state)
        .bind(d.webhook_id)
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(0);
        tx.commit().await?;
        Ok(failures)
    }

    /// A webhook's latest deliveries, newest first.
    pub async fn deliveries(
        &self,
        webhook_id: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {DELIVERY} FROM webhook_deliveries WHERE webhook_id = $1 \
             ORDER BY id DESC LIMIT $2"
        ))
        .bind(webhook_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Sends delivery `id` of webhook `webhook_id` again, now.
    pub async fn redeliver(&self, webhook_id: i64, id: i64) -> Result<bool, sqlx::Error> {
        let at = now();
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', next_at = $1, updated_at = $1 \
             WHERE webhook_id = $2 AND id = $3",
        )
        .bind(at)
        .bind(webhook_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
