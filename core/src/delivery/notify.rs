//! Notifications: what the web interface tells a user (the header's badge and
//! `/notifications`), worked out by the dispatcher as it fans an event out (in the same
//! transaction, so each event notifies once): a share granted to them or their team, a merge
//! request opened on a dataset they write (waiting for their review), one of theirs merged, a
//! contract failed on a dataset they administer, an access request to a dataset they administer
//! filed or waiting, theirs accepted, declined or expired, a run of a job they started failed;
//! and, outside events, a webhook of theirs paused.
//! Nobody is told of what they did themselves.

use serde::Serialize;
use serde_json::Value;

use crate::auth::scope::{Action, Scopes};
use crate::auth::Principal;
use crate::db::{EventRow, NotificationRow};
use crate::error::{Error, Result};
use crate::Core;

/// The most notifications a page holds.
pub const MAX_PAGE: i64 = 200;
/// The most accounts told of one event of a dataset.
const MAX_TOLD: usize = 500;

/// A notification as its user sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub id: i64,
    /// The event kind (`share.granted`, `merge_request.opened`, `merge_request.merged`,
    /// `contract.failed`, `access.*`) or `webhook.paused`.
    pub kind: String,
    pub dataset: String,
    pub actor: Option<String>,
    /// One line saying what happened.
    pub text: String,
    /// Where to look (a page of this server).
    pub link: String,
    pub created_at: i64,
    pub read: bool,
}

/// Who is told of event `e` (its completed `data`): user ids, never its actor.
pub(super) async fn recipients(core: &Core, e: &EventRow, data: &Value) -> Vec<i64> {
    let (ns, name) = e.dataset.split_once('/').unwrap_or((&e.dataset, ""));
    let mut ids = match e.kind.as_str() {
        "share.granted" => grantees(core, data).await,
        "merge_request.opened" => holding(core, ns, name, Action::Write).await,
        "merge_request.merged" => {
            let author = named(core, data["author"].as_str()).await;
            readers(core, ns, name, author, Action::Read).await
        }
        "merge_request.commented" => {
            let author = named(core, data["author"].as_str()).await;
            readers(core, ns, name, author, Action::Read).await
        }
        "contract.failed" | "access.requested" | "access.reminded" => {
            holding(core, ns, name, Action::Admin).await
        }
        "access.accepted" | "access.rejected" | "access.expired" => {
            named(core, data["user"].as_str()).await
        }
        "run.failed" => named(core, data["started_by"].as_str()).await,
        _ => Vec::new(),
    };
    if let Some(actor) = &e.actor {
        if let Ok(Some(u)) = core.db.user_by_name(actor).await {
            ids.retain(|id| *id != u.id);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

async fn named(core: &Core, name: Option<&str>) -> Vec<i64> {
    match name {
        Some(n) => core
            .db
            .user_by_name(n)
            .await
            .ok()
            .flatten()
            .map(|u| vec![u.id])
            .unwrap_or_default(),
        None => Vec::new(),
    }
}

/// The user a share names, or its team's members.
async fn grantees(core: &Core, data: &Value) -> Vec<i64> {
    let grantee = data["grantee"].as_str().unwrap_or_default();
    if data["grantee_kind"] != "team" {
        return named(core, Some(grantee)).await;
    }
    let Some((org, team)) = grantee.split_once('/') else {
        return Vec::new();
    };
    let Ok(Some(org)) = core.db.org_by_name(org).await else {
        return Vec::new();
    };
    match core.db.team_id(org.id, team).await {
        Ok(Some(id)) => core.db.team_member_ids(id).await.unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The accounts that hold `action` on the whole of dataset `ns/name`, as the gate decides.
async fn holding(core: &Core, ns: &str, name: &str, action: Action) -> Vec<i64> {
    let Ok(Some(repo)) = core.db.repo_by_path(ns, name).await else {
        return Vec::new();
    };
    let mut people = core
        .db
        .dataset_people(repo.id, &repo.namespace)
        .await
        .unwrap_or_default();
    // Each is a decision of the gate: a dataset of a very large organisation tells the first
    // ones (by account age) rather than hold the dispatcher up.
    people.sort_unstable();
    people.truncate(MAX_TOLD);
    readers(core, ns, name, people, action).await
}

/// Those of `ids` who hold `action` on the whole of dataset `ns/name`.
async fn readers(core: &Core, ns: &str, name: &str, ids: Vec<i64>, action: Action) -> Vec<i64> {
    let mut out = Vec::new();
    for id in ids {
        if let Some(who) = account(core, id).await {
            let gated = crate::datasets::gate::dataset(core, &who, ns, name, action).await;
            if gated.is_ok_and(|g| !g.limited()) {
                out.push(id);
            }
        }
    }
    out
}

/// User `id` with all of their rights (as their session has them).
pub(super) async fn account(core: &Core, id: i64) -> Option<Principal> {
    let user = core.db.user_by_id(id).await.ok().flatten()?;
    Some(Principal::User {
        user,
        scopes: Scopes::parse("*").ok()?,
        family: None,
    })
}

/// A page of the caller's notifications, newest first (`before`: older than that id), and how
/// many are unread.
pub async fn list(
    core: &Core,
    who: &Principal,
    unread_only: bool,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<Notification>, i64)> {
    let user = core.require(who, crate::auth::Need::Account).await?;
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Error::unprocessable(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let rows = core
        .db
        .notifications(user.id, unread_only, before, limit)
        .await?;
    let unread = core.db.unread_notifications(user.id).await?;
    Ok((rows.into_iter().map(shown).collect(), unread))
}

/// Opens the caller's notification `id`: marks it read and answers where it leads (a page of
/// this server). 404 for another's, or none.
pub async fn open(core: &Core, who: &Principal, id: i64) -> Result<String> {
    let user = core.require(who, crate::auth::Need::Account).await?;
    let row = core
        .db
        .notifications(user.id, false, id.checked_add(1), 1)
        .await?
        .into_iter()
        .find(|n| n.id == id)
        .ok_or_else(|| Error::not_found(format!("you have no notification {id}")))?;
    core.db
        .mark_notifications_read(user.id, Some(&[id]))
        .await?;
    let link = shown(row).link;
    // Only ever a page of this server.
    Ok(if link.starts_with('/') && !link.starts_with("//") {
        link
    } else {
        "/notifications".into()
    })
}

/// Marks the caller's notifications `ids` read (`None`: all of them); how many were unread.
pub async fn mark_read(core: &Core, who: &Principal, ids: Option<&[i64]>) -> Result<u64> {
    let user = core.require(who, crate::auth::Need::Account).await?;
    if ids.is_some_and(|ids| ids.len() > MAX_PAGE as usize) {
        return Err(Error::unprocessable(format!(
            "at most {MAX_PAGE} notifications at once"
        )));
    }
    Ok(core.db.mark_notifications_read(user.id, ids).await?)
}

fn shown(n: NotificationRow) -> Notification {
    let data: Value = serde_json::from_str(&n.data).unwrap_or_default();
    let s = |k: &str| data[k].as_str().unwrap_or_default().to_owned();
    let by = n.actor.clone().unwrap_or_else(|| "someone".into());
    let page = format!("/datasets/{}", n.dataset);
    let request = |number: &Value| format!("{page}/merge-requests/{number}");
    let (text, link) = match n.kind.as_str() {
        "share.granted" => {
            let what = match s("path").as_str() {
                "" => n.dataset.clone(),
                p => format!("{p} of {}", n.dataset),
            };
            let whom = match data["grantee_kind"].as_str() {
                Some("team") => format!("your team {}", s("grantee")),
                _ => "you".into(),
            };
            let link = match s("path").as_str() {
                "" => page.clone(),
                p => format!("{page}/files/{p}"),
            };
            (
                format!("{by} shared {what} with {whom} ({})", s("access")),
                link,
            )
        }
        "merge_request.opened" => (
            format!(
                "{by} asks to merge {} into {} of {}: {}",
                s("source"),
                s("target"),
                n.dataset,
                s("title")
            ),
            request(&data["number"]),
        ),
        "merge_request.merged" => (
            format!(
                "{by} merged your merge request {} of {}: {}",
                data["number"],
                n.dataset,
                s("title")
            ),
            request(&data["number"]),
        ),
        "merge_request.commented" => (
            format!(
                "{by} commented on merge request {} of {}: {}",
                data["number"],
                n.dataset,
                s("title")
            ),
            format!("{}#comments", request(&data["number"])),
        ),
        "contract.failed" => {
            let broken = data["violations"].as_array().map_or(0, Vec::len);
            (
                format!(
                    "a write by {by} to {} of {} broke its contract ({broken} rule{} broken); it was refused",
                    s("branch"),
                    n.dataset,
                    if broken == 1 { "" } else { "s" }
                ),
                page.clone(),
            )
        }
        "access.requested" => (
            format!(
                "{} asks for access to {}{}",
                s("user"),
                n.dataset,
                if data["auto"] == true {
                    " (accepted at once)"
                } else {
                    ""
                }
            ),
            format!("{page}/settings/access"),
        ),
        "access.reminded" => (
            format!(
                "{}'s request for access to {} waits for an answer since {} days",
                s("user"),
                n.dataset,
                data["days"]
            ),
            format!("{page}/settings/access"),
        ),
        "access.accepted" => (
            format!(
                "you may read {} now{}",
                n.dataset,
                match data["expires_at"].as_str() {
                    Some(t) => format!(", until {t}"),
                    None => String::new(),
                }
            ),
            page.clone(),
        ),
        "access.rejected" => (
            format!(
                "your request for access to {} was declined{}",
                n.dataset,
                match data["reason"].as_str() {
                    Some(r) => format!(": {r}"),
                    None => String::new(),
                }
            ),
            format!("{page}/access"),
        ),
        "access.expired" => (
            match data["was"].as_str() {
                Some("accepted") => format!("your access to {} ran out", n.dataset),
                _ => format!(
                    "your request for access to {} expired unanswered",
                    n.dataset
                ),
            },
            format!("{page}/access"),
        ),
        "run.failed" => (
            format!(
                "run {} of job {} of {} failed: {}",
                data["run"],
                s("job"),
                n.dataset,
                s("error")
            ),
            format!("/api/v1/datasets/{}/runs/{}", n.dataset, data["run"]),
        ),
        "webhook.paused" => (
            format!(
                "your webhook to {} on {} was paused: {}",
                s("url"),
                n.dataset,
                s("reason")
            ),
            s("page"),
        ),
        other => (format!("{other} on {}", n.dataset), page.clone()),
    };
    Notification {
        id: n.id,
        kind: n.kind,
        dataset: n.dataset,
        actor: n.actor,
        text,
        link,
        created_at: n.created_at,
        read: n.read_at.is_some(),
    }
}
