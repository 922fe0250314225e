//! Webhooks, of a dataset (managed by its admins) or of a namespace (every dataset of a user,
//! managed by that user, or of an organisation, managed by its owners): created (the secret
//! shown once), listed, paused and resumed, their secret rotated (the old one signs too for a
//! day), deleted; their delivery log read and a delivery sent again. Also the payload every
//! delivery carries.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::deliver::new_secret;
use crate::auth::scope::Action;
use crate::auth::Principal;
use crate::datasets::gate;
use crate::db::{DeliveryRow, EventRow, Hooked, NewWebhook, WebhookRow};
use crate::error::{Error, Result};
use crate::events::KINDS;
use crate::Core;

/// The most webhooks a dataset, or a namespace, has.
pub const MAX_PER_DATASET: usize = 20;

/// Whose webhooks: a dataset's, or a namespace's (every dataset of a user or an organisation).
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Dataset { ns: &'a str, name: &'a str },
    Namespace(&'a str),
}
/// What a webhook's deliveries may carry: the event, or an OpenLineage RunEvent.
pub const FORMATS: [&str; 2] = ["strata", "openlineage"];
/// How long a rotated-out secret still signs (seconds).
pub const OVERLAP: i64 = 24 * 3600;
/// The most globs of each kind a webhook filters by.
const MAX_GLOBS: usize = 50;

/// What a webhook is made of.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Where deliveries go: `https` (plain `http` and private addresses only where the admin
    /// allows them).
    pub url: String,
    /// The event kinds delivered (empty: all).
    #[serde(default)]
    pub events: Vec<String>,
    /// Globs on the branch of `branch.*` events (empty: all).
    #[serde(default)]
    pub branches: Vec<String>,
    /// Globs on the tag of `tag.*` events (empty: all).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Globs on the changed paths: an event is delivered when one matches (empty: all).
    #[serde(default)]
    pub paths: Vec<String>,
    /// What a delivery carries: `strata` (the event; the default) or `openlineage` (an
    /// OpenLineage RunEvent for each `run.*` event, and nothing else).
    #[serde(default)]
    pub format: Option<String>,
}

/// A webhook, as its dataset's admins see it (never its secret).
#[derive(Debug, Clone, Serialize)]
pub struct Webhook {
    pub id: i64,
    /// Set for a namespace's webhook (every dataset of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub url: String,
    pub events: Vec<String>,
    pub branches: Vec<String>,
    pub tags: Vec<String>,
    pub paths: Vec<String>,
    /// `strata` or `openlineage`.
    pub format: String,
    /// `false` when paused (by an admin, or after failing deliveries: `paused_reason`).
    pub active: bool,
    pub paused_reason: Option<String>,
    /// Failed deliveries in a row.
    pub failures: i64,
    /// Until when the previous secret signs too, after a rotation (unix seconds).
    pub previous_secret_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One delivery, as the log shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: i64,
    /// The `webhook-id` header it is sent with.
    pub message_id: String,
    pub event: i64,
    /// `pending`, `delivered` or `failed` (given up after a day).
    pub state: String,
    pub attempts: i64,
    /// The last attempt's answer status, time (milliseconds) and error.
    pub status: Option<i64>,
    pub millis: Option<i64>,
    pub error: Option<String>,
    /// When it is next tried, while pending (unix seconds).
    pub next_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn list(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

impl From<WebhookRow> for Webhook {
    fn from(w: WebhookRow) -> Webhook {
        Webhook {
            id: w.id,
            namespace: w.namespace,
            events: list(&w.kinds),
            branches: list(&w.branches),
            tags: list(&w.tags),
            paths: list(&w.paths),
            url: w.url,
            format: w.format,
            active: w.active != 0,
            paused_reason: w.paused_reason,
            failures: w.failures,
            previous_secret_until: w.old_secret_until.filter(|u| *u > crate::db::now()),
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

impl From<DeliveryRow> for Delivery {
    fn from(d: DeliveryRow) -> Delivery {
        Delivery {
            next_at: (d.state == "pending").then_some(d.next_at),
            id: d.id,
            message_id: d.message_id,
            event: d.event_id,
            state: d.state,
            attempts: d.attempts,
            status: d.status,
            millis: d.millis,
            error: d.error,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// The body of a delivery of event `e`: its kind, time and data (the dataset, who, and the
/// event's own fields).
pub fn payload(e: &EventRow, message_id: &str) -> String {
    let mut data: Value = serde_json::from_str(&e.data).unwrap_or_else(|_| json!({}));
    data["dataset"] = json!(e.dataset);
    data["actor"] = json!(e.actor);
    json!({
        "type": e.kind,
        "timestamp": crate::db::rfc3339(e.created_at),
        "id": message_id,
        "data": data,
    })
    .to_string()
}

/// The admin check of `target`: its webhooks, and the caller's account (the webhook's owner
/// is the admin who creates it).
async fn scope<'a>(core: &Core, who: &Principal, target: Target<'a>) -> Result<(Hooked<'a>, i64)> {
    match target {
        Target::Dataset { ns, name } => {
            let gated = gate::dataset(core, who, ns, name, Action::Admin).await?;
            match who {
                Principal::User { user, .. } => {
                    Ok((Hooked::Dataset(gated.dataset.repo.id), user.id))
                }
                _ => Err(Error::forbidden(
                    "webhooks belong to an account: use a session or a personal access token",
                )),
            }
        }
        Target::Namespace(ns) => {
            let user = core.require(who, crate::auth::Need::Account).await?;
            if let Some(org) = core.db.org_by_name(ns).await? {
                core.require(who, crate::auth::Need::OrgOwner(&org)).await?;
            } else if !user.username.eq_ignore_ascii_case(ns) {
                return Err(match core.db.user_by_name(ns).await? {
                    Some(_) => Error::forbidden(format!(
                        "only {ns} manages the webhooks of {ns}'s datasets"
                    )),
                    None => Error::not_found(format!("no user or organisation named {ns}")),
                });
            }
            Ok((Hooked::Namespace(ns), user.id))
        }
    }
}

/// The webhook `id` of `hooked` (404 for another's).
async fn one(core: &Core, hooked: Hooked<'_>, id: i64) -> Result<WebhookRow> {
    match core.db.webhook(id).await? {
        Some(w) if hooked.holds(&w) => Ok(w),
        _ => Err(Error::not_found("no such webhook")),
    }
}

fn checked(core: &Core, input: &Input) -> Result<[String; 5]> {
    core.settings
        .webhooks
        .check_url(&input.url)
        .map_err(Error::unprocessable)?;
    if let Some(k) = input.events.iter().find(|k| !KINDS.contains(&k.as_str())) {
        return Err(Error::unprocessable(format!(
            "unknown event kind {k:?}: the kinds are {}",
            KINDS.join(", ")
        )));
    }
    for (what, globs) in [
        ("branches", &input.branches),
        ("tags", &input.tags),
        ("paths", &input.paths),
    ] {
        if globs.len() > MAX_GLOBS {
            return Err(Error::unprocessable(format!(
                "{what}: at most {MAX_GLOBS} globs"
            )));
        }
        for g in globs {
            if g.is_empty() || g.len() > 500 {
                return Err(Error::unprocessable(format!(
                    "{what}: a glob is 1 to 500 bytes"
                )));
            }
            glob::Pattern::new(g)
                .map_err(|e| Error::unprocessable(format!("{what}: {g:?} is not a glob: {e}")))?;
        }
    }
    let format = input.format.as_deref().unwrap_or(FORMATS[0]);
    if !FORMATS.contains(&format) {
        return Err(Error::unprocessable(format!(
            "format: {format:?} is not one of {}",
            FORMATS.join(", ")
        )));
    }
    if format == "openlineage" {
        if let Some(k) = input.events.iter().find(|k| !k.starts_with("run.")) {
            return Err(Error::unprocessable(format!(
                "events: an openlineage webhook carries the run.* events only, not {k:?}"
            )));
        }
    }
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    Ok([
        format.to_owned(),
        json(&input.events),
        json(&input.branches),
        json(&input.tags),
        json(&input.paths),
    ])
}

/// Creates a webhook: it and its secret (shown this once).
pub async fn create(
    core: &Core,
    who: &Principal,
    target: Target<'_>,
    input: &Input,
) -> Result<(Webhook, String)> {
    let (hooked, owner_id) = scope(core, who, target).await?;
    let [format, kinds, branches, tags, paths] = checked(core, input)?;
    if core.db.webhooks(hooked).await?.len() >= MAX_PER_DATASET {
        return Err(Error::unprocessable(format!(
            "a dataset or namespace has at most {MAX_PER_DATASET} webhooks"
        )));
    }
    let secret = new_secret();
    let row = core
        .db
        .create_webhook(&NewWebhook {
            hooked,
            owner_id,
            url: &input.url,
            kinds: &kinds,
            branches: &branches,
            tags: &tags,
            paths: &paths,
            secret: &secret,
            format: &format,
        })
        .await?;
    audit(core, who, "webhook.create", target, row.id).await?;
    Ok((row.into(), secret))
}

/// The dataset's webhooks.
pub async fn list_all(core: &Core, who: &Principal, target: Target<'_>) -> Result<Vec<Webhook>> {
    let (hooked, _) = scope(core, who, target).await?;
    Ok(core
        .db
        .webhooks(hooked)
        .await?
        .into_iter()
        .map(Webhook::from)
        .collect())
}

/// One webhook and its latest deliveries (newest first).
pub async fn get(
    core: &Core,
    who: &Principal,
    target: Target<'_>,
    id: i64,
) -> Result<(Webhook, Vec<Delivery>)> {
    let (hooked, _) = scope(core, who, target).await?;
    let w = one(core, hooked, id).await?;
    let deliveries = core.db.deliveries(w.id, 100).await?;
    Ok((
        w.into(),
        deliveries.into_iter().map(Delivery::from).collect(),
    ))
}

/// Every webhook of `target` with its latest `shown` deliveries (newest first): the admin
/// check made once (the webhooks pages).
pub async fn logs(
    core: &Core,
    who: &Principal,
    target: Target<'_>,
    shown: i64,
) -> Result<Vec<(Webhook, Vec<Delivery>)>> {
    let (hooked, _) = scope(core, who, target).await?;
    let mut out = Vec::new();
    for w in core.db.webhooks(hooked).await? {
        let deliveries = core.db.deliveries(w.id, shown).await?;
        out.push((
            w.into(),
            deliveries.into_iter().map(Delivery::from).collect(),
        ));
    }
    Ok(out)
}

/// Deletes a webhook (its deliveries with it).
pub async fn delete(core: &Core, who: &Principal, target: Target<'_>, id: i64) -> Result<()> {
    let (hooked, _) = scope(core, who, target).await?;
    one(core, hooked, id).await?;
    if !core.db.delete_webhook(id).await? {
        return Err(Error::not_found("no such webhook"));
    }
    audit(core, who, "webhook.delete", target, id).await
}

/// A new secret for a webhook (shown this once); the old one signs too for [`OVERLAP`].
pub async fn rotate(
    core: &Core,
    who: &Principal,
    target: Target<'_>,
    id: i64,
) -> Result<(Webhook, String)> {
    let (hooked, _) = scope(core, who, target).await?;
    one(core, hooked, id).await?;
    let secret = new_secret();
    core.db
        .rotate_webhook_secret(id, &secret, crate::db::now() + OVERLAP)
        .await?;
    audit(core, who, "webhook.rotate", target, id).await?;
    Ok((one(core, hooked, id).await?.into(), secret))
}

/// Pauses or resumes a webhook (resumed, its failures are forgotten and due deliveries go).
pub async fn set_active(
    core: &Core,
    who: &Principal,
    target: Target<'_>,
    id: i64,
    active: bool,
) -> Result<Webhook> {
    let (hooked, _) = scope(core, who, target).await?;
    one(core, hooked, id).await?;
    let reason = (!active).then_some("paused by an admin");
    core.db.set_webhook_active(id, active, reason).await?;
    let event = if active {
        "webhook.resume"
    } else {
        "webhook.pause"
    };
    audit(core, who, event, target, id).await?;
    core.events.ring();
    Ok(one(core, hooked, id).await?.into())
}

/// Sends delivery `delivery` of a webhook again, now.
pub async fn redeliver(
    core: &Core,
    who: &Principal,
    target: Target<'_>,
    id: i64,
    delivery: i64,
) -> Result<()> {
    let (hooked, _) = scope(core, who, target).await?;
    one(core, hooked, id).await?;
    if !core.db.redeliver(id, delivery).await? {
        return Err(Error::not_found("no such delivery"));
    }
    core.events.ring();
    Ok(())
}

async fn audit(
    core: &Core,
    who: &Principal,
    event: &str,
    target: Target<'_>,
    id: i64,
) -> Result<()> {
    let subject = match target {
        Target::Dataset { ns, name } => format!("{ns}/{name}"),
        Target::Namespace(ns) => ns.to_owned(),
    };
    crate::audit::record(
        core,
        event,
        Some(&who.display_name()),
        Some(&subject),
        json!({"webhook": id}),
    )
    .await
}
