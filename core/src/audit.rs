//! The audit log: one writer ([`record`], which takes the client's address from the request
//! being served), and the administrators' reading of it ([`page`]).

use crate::auth::Principal;
use crate::db::AuditEntry;
use crate::error::{Error, Result};
use crate::Core;

/// Appends `event` to the audit log: who did it (`actor`), to what (`subject`), details, and the
/// client's address when a request is being served.
pub async fn record(
    core: &Core,
    event: &str,
    actor: Option<&str>,
    subject: Option<&str>,
    detail: serde_json::Value,
) -> Result<()> {
    let ip = crate::context::current().ip;
    let ip = (!ip.is_empty()).then_some(ip.as_str());
    core.db.audit(event, actor, subject, ip, &detail).await?;
    Ok(())
}

/// [`record`] for a change a signed-in user made.
pub async fn by(
    core: &Core,
    event: &str,
    actor: &crate::db::User,
    subject: &str,
    detail: serde_json::Value,
) -> Result<()> {
    record(core, event, Some(&actor.username), Some(subject), detail).await
}

/// [`by`] for a change `who` made, recorded when a user made it: a bare JWT or a share link has
/// no account to name, and its change goes unrecorded here (the request log still has it).
pub async fn changed(
    core: &Core,
    who: &Principal,
    event: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<()> {
    match who {
        Principal::User { user, .. } => by(core, event, user, subject, detail).await,
        _ => Ok(()),
    }
}

/// The most entries one page holds.
pub const MAX_PAGE: i64 = 500;

/// A page of `limit` entries, newest first, older than entry `before` if given, and the `before`
/// of the next page. Administrators only.
pub async fn page(
    core: &Core,
    who: &Principal,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<AuditEntry>, Option<i64>)> {
    core.require(who, crate::auth::Need::Admin).await?;
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Error::unprocessable(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let rows = core.db.audit_entries(before, limit).await?;
    let next_before = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok((rows, next_before))
}
