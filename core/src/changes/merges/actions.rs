//! What writers do to a merge request: approve it, resolve its conflicts, merge it.

use std::collections::HashMap;

use strata_metastore::{MergeMeta, Revision};

use super::prepare::{self, MAX_CONFLICTS};
use super::rows::Pick;
use super::{get, record, status, user_id, who_name, writer, MergeRequest, Status};
use crate::auth::Principal;
use crate::datasets::gated::Gated;
use crate::datasets::{author, git_on};
use crate::error::{Error, Kind, Result};
use crate::Core;

/// Approves merge request `number` as it is now (its source's head, which must be `seen` when
/// given: what the approver looked at), or withdraws the approval.
pub async fn approve(
    core: &Core,
    who: &Principal,
    gated: &Gated,
    number: i64,
    on: bool,
    seen: Option<String>,
) -> Result<Status> {
    writer(gated)?;
    let request = get(core, gated, number).await?;
    let Some(me) = user_id(who) else {
        return Err(Error::forbidden(
            "approvals are given by accounts, not by bare tokens",
        ));
    };
    if on {
        if request.state != "open" {
            return Err(Error::conflict(format!(
                "merge request {number} is {}",
                request.state
            )));
        }
        if request.author_id == Some(me) {
            return Err(Error::forbidden(
                "the author of a merge request cannot approve it",
            ));
        }
        let source = request.source.clone();
        let head = git_on(core, gated, move |ms, ds| ms.resolve(ds, Some(&source))).await?;
        let now = head.to_string();
        if let Some(seen) = seen.filter(|s| *s != now) {
            return Err(Error::conflict(format!(
                "{} moved since you looked at it ({seen}; it is at {head}): look at it again",
                request.source
            )));
        }
        core.db.approve(request.id, me, &head.to_string()).await?;
        record(core, who, "merge_request.approve", gated, number).await?;
    } else if !core.db.unapprove(request.id, me).await? {
        return Err(Error::not_found("you have not approved this merge request"));
    }
    status(core, gated, number).await
}

/// One resolution asked for: conflict `id` takes `take` (`ours`, `theirs`, `base`, `value`
/// with `value`; `None`: forget its resolution).
#[derive(Debug, Clone)]
pub struct Resolve {
    pub id: String,
    pub take: Option<String>,
    pub value: Option<String>,
}

/// Records resolutions of conflicts of merge request `number` (all or none).
pub async fn resolve(
    core: &Core,
    who: &Principal,
    gated: &Gated,
    number: i64,
    asked: Vec<Resolve>,
) -> Result<Status> {
    writer(gated)?;
    if asked.is_empty() || asked.len() > MAX_CONFLICTS {
        return Err(Error::unprocessable(format!(
            "name 1 to {MAX_CONFLICTS} resolutions"
        )));
    }
    let request = get(core, gated, number).await?;
    if request.state != "open" {
        return Err(Error::conflict(format!(
            "merge request {number} is {}",
            request.state
        )));
    }
    let p = prepare::prepare(core, gated, &request.target, &request.source).await?;
    let mut rows = Vec::new();
    for r in asked {
        let Some(c) = p.conflicts.iter().find(|c| c.id == r.id) else {
            return Err(Error::unprocessable(format!(
                "{:?} is not a conflict of this merge now (the branches may have moved: look again)",
                r.id
            )));
        };
        match (r.take.as_deref(), &r.value) {
            (None, _) => {}
            (Some("ours" | "theirs" | "base"), None) => {}
            (Some("value"), Some(v)) if c.kind == "cell" => {
                if v.len() > 64 * 1024 {
                    return Err(Error::unprocessable("a value is at most 64 KiB"));
                }
            }
            (Some("value"), _) => {
                return Err(Error::unprocessable(format!(
                    "conflict {} is a {} conflict: it takes a side (ours, theirs or base); only a cell takes a value",
                    c.id, c.kind
                )))
            }
            (Some(t), _) => {
                return Err(Error::unprocessable(format!(
                    "take is ours, theirs, base or value (with a value), not {t:?}"
                )))
            }
        }
        rows.push((r.id, r.take, r.value));
    }
    core.db.resolve(request.id, &who_name(who), &rows).await?;
    record(core, who, "merge_request.resolve", gated, number).await?;
    status(core, gated, number).await
}

/// Merges merge request `number`: its source's head into its target, which must still be at
/// `target_head` when given (and at the head the merge was worked out for in any case: a
/// conflict otherwise, nothing written). Returns the merge request and the merge revision.
pub async fn merge(
    core: &Core,
    who: &Principal,
    gated: &Gated,
    number: i64,
    target_head: Option<String>,
    message: Option<String>,
) -> Result<(MergeRequest, Revision)> {
    writer(gated)?;
    let status = status(core, gated, number).await?;
    let request = status.request.clone();
    if let Some(expected) = &target_head {
        let target = request.target.clone();
        let expected = expected.clone();
        let (now, wanted) = git_on(core, gated, move |ms, ds| {
            Ok((
                ms.resolve(ds, Some(&target))?,
                ms.resolve(ds, Some(&expected))?,
            ))
        })
        .await?;
        if now != wanted {
            return Err(Error::conflict(format!(
                "{} moved: it is at {now}, not at {wanted}",
                request.target
            )));
        }
    }
    if !status.mergeable {
        let unresolved = status.conflicts.iter().any(|c| c.resolution.is_none());
        let approvals = status
            .approvals
            .iter()
            .filter(|a| a.current && a.user != request.author)
            .count() as i64;
        let kind = if request.state != "open" || unresolved || status.more_conflicts {
            Kind::Conflict
        } else if approvals < status.approvals_required {
            Kind::Forbidden
        } else {
            Kind::Invalid
        };
        return Err(Error::new(
            kind,
            format!(
                "merge request {number} cannot be merged: {}",
                status.blockers.join("; ")
            ),
        ));
    }
    let p = prepare::prepare(core, gated, &request.target, &request.source).await?;
    if p.sides.ours.to_string().as_str() != status.target_head.as_str()
        || p.sides.theirs.to_string().as_str() != status.source_head.as_str()
    {
        return Err(Error::conflict(
            "a branch moved while the merge was prepared: look at it again",
        ));
    }
    let picks: HashMap<String, Pick> = core
        .db
        .resolutions(request.id)
        .await?
        .into_iter()
        .map(|r| {
            let pick = match (r.take.as_str(), r.value) {
                ("ours", _) => Pick::Ours,
                ("theirs", _) => Pick::Theirs,
                ("base", _) => Pick::Base,
                (_, v) => Pick::Value(v),
            };
            (r.conflict, pick)
        })
        .collect();
    let mut ops = p.ops(core, gated, &picks).await?;
    // The tables the merge writes into the target are governed as a commit's are: refused, or
    // rewritten (what a governed write stored under the same decision is kept as it is).
    let ours = p.sides.ours.to_string();
    let (mut lfs_paths, mut vouched) = (Vec::new(), Vec::new());
    let governed = crate::governance::write::govern(
        core,
        gated,
        Some(&ours),
        Some(&request.target),
        &mut ops,
        &mut lfs_paths,
        &mut vouched,
    )
    .await?;
    let message = governed.message(message.filter(|m| !m.trim().is_empty()).unwrap_or_else(|| {
        format!(
            "Merge {} into {} (merge request {number})\n\n{}",
            request.source, request.target, request.title
        )
    }));
    let applied = governed.applied;
    let person = author(who);
    let sides = p.sides;
    let target = request.target.clone();
    let revision = git_on(core, gated, move |ms, ds| {
        let parent = Some(sides.ours);
        crate::commits::route_through_lfs(ms, ds, parent, &lfs_paths, &mut ops)?;
        crate::governance::write::patch_package(ms, ds, parent, &mut ops, &applied)?;
        let meta = MergeMeta {
            branch: &target,
            sides,
            author: &person,
            message: &message,
        };
        let id = ms.write_merge(ds, &meta, &ops)?;
        ms.revision(ds, &id.to_string())
    })
    .await?;
    crate::datasets::policies::written(core, gated).await;
    let by = who_name(who);
    let merged = Some((revision.id.as_str(), by.as_str()));
    // Closed while the merge ran: the merge happened all the same, and the request says so.
    if !core
        .db
        .set_merge_state(request.id, "open", "merged", merged)
        .await?
    {
        core.db
            .set_merge_state(request.id, "closed", "merged", merged)
            .await?;
    }
    record(core, who, "merge_request.merge", gated, number).await?;
    let merged = get(core, gated, number).await?;
    super::told(core, who, "merge_request.merged", gated, &merged).await;
    Ok((merged, revision))
}
