//! Access requests to gated datasets: a signed-in visitor files one with the form's answers
//! ([`file`]); the dataset's admins list them ([`list`]), answer them one by one or in bulk
//! ([`answer`]: accept with an expiry, reject with a reason, or put back to pending, which takes
//! an accepted one's access away), or grant access without a request ([`grant`]). [`sweep`]
//! reminds the admins of requests left pending, then expires them, and expires grants that ran
//! out (the gates refuse those at once already; the sweep says so and tells the user).
//!
//! A user has one request per dataset: a rejected one stays rejected until an admin reopens it;
//! an expired one may be filed again. A visitor files at most [`PER_HOUR`] requests an hour.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::{gate_of, is_gated, Gate, Mode};
use crate::audit::changed;
use crate::auth::{Action, Need, Principal};
use crate::datasets::gate::{self, Gated};
use crate::db::{now, rfc3339, AccessRequestRow, RequestChange};
use crate::error::{Error, Result};
use crate::events::record;
use crate::Core;

/// The most requests one visitor files in an hour, over all datasets.
pub const PER_HOUR: i64 = 20;
/// The longest answer, in characters.
const MAX_ANSWER: usize = 2000;
/// The longest rejection reason, in characters.
const MAX_REASON: usize = 1000;
/// The most users one bulk answer names, and the largest page.
pub const MAX_BATCH: usize = 200;

/// A request as its user and the dataset's admins see it.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub id: i64,
    pub dataset: String,
    pub user: String,
    /// Only the dataset's admins see it (`None` in the requester's own view of other fields).
    pub email: Option<String>,
    /// `pending`, `accepted`, `rejected` or `expired`, as it stands now.
    pub status: String,
    pub fields: BTreeMap<String, String>,
    pub reason: Option<String>,
    pub decided_by: Option<String>,
    /// RFC 3339: when an accepted request's access ends (`None`: until revoked).
    pub grant_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Unix seconds of `created_at` (for the Hub's timestamps and sorting).
    #[serde(skip)]
    pub created_unix: i64,
}

impl From<AccessRequestRow> for Request {
    fn from(r: AccessRequestRow) -> Request {
        Request {
            id: r.id,
            dataset: format!("{}/{}", r.namespace, r.name),
            status: r.status_now().to_owned(),
            user: r.username,
            email: r.email,
            fields: serde_json::from_str(&r.fields).unwrap_or_default(),
            reason: r.reason,
            decided_by: r.decided_by,
            grant_expires_at: r.grant_expires_at.map(rfc3339),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
            created_unix: r.created_at,
        }
    }
}

/// Files `who`'s request for access to `{ns}/{name}` with `answers` to its form. Accepted at once
/// when the gate is `auto` or the user is a member of one of its organisations.
pub async fn file(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
    answers: BTreeMap<String, String>,
) -> Result<Request> {
    let user = core.require(who, Need::Account).await?;
    match gate::dataset(core, who, ns, name, Action::Read).await {
        Ok(g) => {
            return Err(Error::conflict(format!(
                "you may read {} already: no request is needed",
                g.path()
            )))
        }
        Err(e) if is_gated(&e) => {}
        Err(e) => return Err(e),
    }
    let repo = core
        .db
        .repo_by_path(ns, name)
        .await?
        .ok_or_else(|| Error::not_found(format!("dataset {ns}/{name} not found")))?;
    let form = gate_of(core, &repo).await?;
    let fields = check_answers(&form, answers)?;
    if let Some(held) = core.db.access_request(repo.id, user.id).await? {
        match held.status_now() {
            "pending" => {
                return Err(Error::conflict(format!(
                    "your request for {} is pending since {}",
                    repo.path(),
                    rfc3339(held.created_at)
                )))
            }
            "rejected" => {
                return Err(Error::forbidden(format!(
                    "your request for {} was declined{}: ask its owners",
                    repo.path(),
                    held.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                )))
            }
            _ => {}
        }
    }
    if core.db.access_requests_since(user.id, now() - 3600).await? >= PER_HOUR {
        return Err(Error::too_many(format!(
            "you filed {PER_HOUR} access requests in the last hour: try again later"
        )));
    }
    let auto = form.mode == Some(Mode::Auto) || member_of_any(core, &form, user.id).await?;
    let text = serde_json::to_string(&fields).map_err(Error::internal)?;
    let change = RequestChange {
        // An expired request, or an accepted one whose access ran out, is filed again.
        from: &["expired", "accepted"],
        to: if auto { "accepted" } else { "pending" },
        decided_by: auto.then_some("auto"),
        grant_expires_at: if auto { expiry(&form, None)? } else { None },
        ..Default::default()
    };
    if !core
        .db
        .put_access_request(repo.id, user.id, &text, &change)
        .await?
    {
        return Err(Error::conflict(format!(
            "your request for {} changed meanwhile: look at it again",
            repo.path()
        )));
    }
    let row = core
        .db
        .access_request(repo.id, user.id)
        .await?
        .ok_or_else(|| Error::internal("a request just filed is gone"))?;
    let path = repo.path();
    changed(
        core,
        who,
        "dataset.access.request",
        &path,
        json!({"status": change.to}),
    )
    .await?;
    let told = json!({"user": user.username, "request": row.id, "fields": fields, "auto": auto});
    record(core, Some(who), "access.requested", &path, told).await;
    if auto {
        let told = json!({"user": user.username, "request": row.id, "auto": true,
            "expires_at": row.grant_expires_at.map(rfc3339)});
        record(core, None, "access.accepted", &path, told).await;
    }
    Ok(row.into())
}

/// The answers, checked against the form: every required question answered, no other key, each
/// at most [`MAX_ANSWER`] characters; blank answers dropped.
fn check_answers(
    form: &Gate,
    answers: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let mut kept = BTreeMap::new();
    for (k, v) in answers {
        if !form.questions.iter().any(|q| q.name == k) {
            return Err(Error::unprocessable(format!(
                "the form asks no question {k:?}"
            )));
        }
        if v.chars().count() > MAX_ANSWER {
            return Err(Error::unprocessable(format!(
                "the answer to {k:?} is longer than {MAX_ANSWER} characters"
            )));
        }
        let v = v.trim();
        if !v.is_empty() {
            kept.insert(k, v.to_owned());
        }
    }
    let missing: Vec<&str> = form
        .questions
        .iter()
        .filter(|q| q.required && !kept.contains_key(&q.name))
        .map(|q| q.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(Error::unprocessable(format!(
            "answer every required question: {} missing",
            missing.join(", ")
        ))
        .with_extra(json!({ "missing": missing })));
    }
    Ok(kept)
}

/// Whether user `id` is a member of one of the organisations the gate accepts at once.
async fn member_of_any(core: &Core, form: &Gate, id: i64) -> Result<bool> {
    for name in &form.auto_orgs {
        if let Some(org) = core.db.org_by_name(name).await? {
            if core.db.org_role(org.id, id).await?.is_some() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// When access granted now ends: `at` (which must be ahead), or the gate's `grant_days` from now.
fn expiry(form: &Gate, at: Option<i64>) -> Result<Option<i64>> {
    match at {
        Some(t) if t <= now() => Err(Error::unprocessable("expires_at must be in the future")),
        Some(t) => Ok(Some(t)),
        None => Ok(form.grant_days.map(|d| now() + d * 86_400)),
    }
}

/// A page of the dataset's requests in `status` (all when `None`), oldest first, after request
/// id `after`; its admins only (`repo` passed the admin gate). The next page's cursor.
pub async fn list(
    core: &Core,
    repo: &Gated,
    status: Option<&str>,
    after: i64,
    limit: i64,
) -> Result<(Vec<Request>, Option<i64>)> {
    if let Some(s) = status.filter(|s| !STATUSES.contains(s)) {
        return Err(Error::unprocessable(format!(
            "unknown status {s:?}: use pending, accepted, rejected or expired"
        )));
    }
    if !(1..=MAX_BATCH as i64).contains(&limit) {
        return Err(Error::unprocessable(format!("limit is 1 to {MAX_BATCH}")));
    }
    let rows = core
        .db
        .access_requests(repo.id, status, after, limit)
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let shown = rows
        .into_iter()
        .map(Request::from)
        // An accepted request whose access ran out is expired, not accepted.
        .filter(|r| status.is_none_or(|s| s == r.status || s == "expired"))
        .collect();
    Ok((shown, next))
}

/// Every status a request has.
pub const STATUSES: [&str; 4] = ["pending", "accepted", "rejected", "expired"];

/// An admin's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Access until `expires_at` (unix seconds; `None`: the gate's `grant_days`).
    Accept { expires_at: Option<i64> },
    /// No access, with a reason the user is told.
    Reject { reason: Option<String> },
    /// Back to the queue; an accepted request's access ends.
    Reopen,
}

/// Answers user `username`'s request (its admins only): any is accepted (an accepted one gets
/// the new end), pending or accepted ones rejected, accepted or rejected ones reopened. 404 when the user has
/// no request that answer applies to.
pub async fn answer(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    username: &str,
    answer: &Answer,
) -> Result<Request> {
    let user = crate::orgs::user_named(core, username).await?;
    let form = gate_of(core, repo).await?;
    if form.mode.is_none() {
        return Err(Error::bad_request(format!("{} is not gated", repo.path())));
    }
    let by = who.display_name();
    let (from, change, kind): (&[&str], _, _) = match answer {
        // (An accepted one again: its access now ends when this says.)
        Answer::Accept { expires_at } => (
            &["pending", "rejected", "expired", "accepted"],
            RequestChange {
                to: "accepted",
                decided_by: Some(&by),
                grant_expires_at: expiry(&form, *expires_at)?,
                ..Default::default()
            },
            Some("access.accepted"),
        ),
        Answer::Reject { reason } => {
            let reason = reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
            if reason.is_some_and(|r| r.chars().count() > MAX_REASON) {
                return Err(Error::unprocessable(format!(
                    "a reason is at most {MAX_REASON} characters"
                )));
            }
            (
                &["pending", "accepted"],
                RequestChange {
                    to: "rejected",
                    reason,
                    decided_by: Some(&by),
                    ..Default::default()
                },
                Some("access.rejected"),
            )
        }
        Answer::Reopen => (
            &["accepted", "rejected"],
            RequestChange {
                to: "pending",
                ..Default::default()
            },
            None,
        ),
    };
    let change = RequestChange { from, ..change };
    if !core
        .db
        .change_access_request(repo.id, user.id, &change)
        .await?
    {
        return Err(Error::not_found(format!(
            "{} has no request for {} that can be {}",
            user.username,
            repo.path(),
            change.to
        )));
    }
    let row = core
        .db
        .access_request(repo.id, user.id)
        .await?
        .ok_or_else(|| Error::internal("a request just answered is gone"))?;
    let path = repo.path();
    changed(
        core,
        who,
        "dataset.access.answer",
        &format!("{path}:{}", user.username),
        json!({"status": change.to, "reason": change.reason}),
    )
    .await?;
    if let Some(kind) = kind {
        let told = json!({"user": user.username, "request": row.id, "reason": row.reason,
            "expires_at": row.grant_expires_at.map(rfc3339)});
        record(core, Some(who), kind, &path, told).await;
    }
    Ok(row.into())
}

/// Grants `username` access without a request of theirs (its admins only): 400 when they may
/// read it already.
pub async fn grant(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    username: &str,
    expires_at: Option<i64>,
) -> Result<Request> {
    let user = crate::orgs::user_named(core, username).await?;
    let form = gate_of(core, repo).await?;
    if form.mode.is_none() {
        return Err(Error::bad_request(format!(
            "{} is not gated: share it instead",
            repo.path()
        )));
    }
    let theirs = crate::auth::access::user_grant(&core.db, &user, repo).await?;
    if theirs.dataset.is_some() {
        return Err(Error::bad_request(format!(
            "{} may read {} already",
            user.username,
            repo.path()
        )));
    }
    let by = who.display_name();
    let change = RequestChange {
        from: &["pending", "rejected", "expired", "accepted"],
        to: "accepted",
        decided_by: Some(&by),
        grant_expires_at: expiry(&form, expires_at)?,
        ..Default::default()
    };
    let fields = match core.db.access_request(repo.id, user.id).await? {
        Some(held) => held.fields,
        None => "{}".into(),
    };
    core.db
        .put_access_request(repo.id, user.id, &fields, &change)
        .await?;
    let row = core
        .db
        .access_request(repo.id, user.id)
        .await?
        .ok_or_else(|| Error::internal("a grant just made is gone"))?;
    let path = repo.path();
    changed(
        core,
        who,
        "dataset.access.grant",
        &format!("{path}:{}", user.username),
        json!({"expires_at": row.grant_expires_at}),
    )
    .await?;
    let told = json!({"user": user.username, "request": row.id, "granted": true,
        "expires_at": row.grant_expires_at.map(rfc3339)});
    record(core, Some(who), "access.accepted", &path, told).await;
    Ok(row.into())
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub reminded: usize,
    pub expired: usize,
}

/// Reminds the admins of requests pending `remind_days`, expires those pending `expire_days` and
/// grants that ran out, as of `at` (unix seconds; the server's sweep passes now). Each step once,
/// whichever replica sweeps.
pub async fn sweep(core: &Core, at: i64) -> Result<Swept> {
    let mut swept = Swept::default();
    for r in core.db.access_requests_to_remind(at).await? {
        if core.db.remind_access_request(r.id, at).await? {
            let days = (at - r.created_at) / 86_400;
            let told = json!({"user": r.username, "request": r.id, "days": days});
            let path = format!("{}/{}", r.namespace, r.name);
            record(core, None, "access.reminded", &path, told).await;
            swept.reminded += 1;
        }
    }
    for r in core.db.access_requests_lapsing(at).await? {
        let change = RequestChange {
            from: if r.status == "accepted" {
                &["accepted"]
            } else {
                &["pending"]
            },
            to: "expired",
            decided_by: r.decided_by.as_deref(),
            grant_expires_at: r.grant_expires_at,
            reason: Some(if r.status == "accepted" {
                "the access granted ran out"
            } else {
                "nobody answered in time"
            }),
        };
        if core
            .db
            .change_access_request(r.repo_id, r.user_id, &change)
            .await?
        {
            let told = json!({"user": r.username, "request": r.id, "was": r.status});
            let path = format!("{}/{}", r.namespace, r.name);
            record(core, None, "access.expired", &path, told).await;
            swept.expired += 1;
        }
    }
    Ok(swept)
}
