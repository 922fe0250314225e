//! Merge requests: a branch proposed for merging into another, shown with what it changes and
//! what conflicts, approved by other writers, its conflicts resolved one by one, and merged as
//! a compare-and-swap on the target (a merge commit with both heads as parents).
//!
//! Readers of the whole dataset see merge requests; writers open, resolve, approve and merge
//! them (a share of some files reaches none of this). A protected default branch may take
//! changes through merge requests only, and only with approvals from writers other than the
//! author, given on the source head being merged; its contracts are checked on the merge as on
//! every write ([`crate::contracts::OnWrite`]).

mod actions;
mod cells;
mod marks;
mod ops;
pub mod plan;
mod prepare;
mod rows;
mod sorted;

use std::collections::HashMap;

use serde::Serialize;
use strata_metastore::DEFAULT_BRANCH;

use crate::audit::by as audit;
use crate::auth::{Action, On, Principal};
use crate::datasets::gated::Gated;
use crate::datasets::{author, git_on};
use crate::db::{rfc3339, MergeRow, NewMerge};
use crate::error::{Error, Kind, Result};
use crate::Core;
pub use actions::{approve, merge, resolve, Resolve};
pub use marks::Pick;
pub use prepare::{Cache, Conflict, PathMerge, TableMerge, MAX_CONFLICTS};

/// A merge request as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MergeRequest {
    pub number: i64,
    pub source: String,
    pub target: String,
    pub title: String,
    pub description: String,
    pub author: String,
    /// `open`, `merged` or `closed`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip)]
    pub(crate) id: i64,
    #[serde(skip)]
    pub(crate) author_id: Option<i64>,
}

impl From<MergeRow> for MergeRequest {
    fn from(r: MergeRow) -> MergeRequest {
        MergeRequest {
            number: r.number,
            source: r.source,
            target: r.target,
            title: r.title,
            description: r.description,
            author: r.author,
            state: r.state,
            merged_revision: r.merged_revision,
            merged_by: r.merged_by,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
            id: r.id,
            author_id: r.author_id,
        }
    }
}

/// An approval.
#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    pub user: String,
    /// The source head it was given on.
    pub revision: String,
    /// Whether that is still the source's head (an older approval does not count).
    pub current: bool,
    pub at: String,
}

/// A conflict's resolution.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    /// `ours` (the target's), `theirs` (the source's), `base`, or `value`.
    pub take: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub by: String,
}

/// A conflict with its resolution, if any.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub conflict: Conflict,
    pub resolution: Option<Resolution>,
}

/// Where a merge request stands now.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    #[serde(flatten)]
    pub request: MergeRequest,
    /// The heads (commit ids) the status was worked out for, and their merge base.
    pub target_head: String,
    pub source_head: String,
    pub base: Option<String>,
    /// Each path either side changed since the base, and how it merges.
    pub paths: Vec<PathMerge>,
    /// Tables merged row by row.
    pub tables: Vec<TableMerge>,
    pub conflicts: Vec<Listed>,
    /// More conflicts than are listed (the merge then cannot be made here).
    pub more_conflicts: bool,
    pub approvals: Vec<Approval>,
    pub approvals_required: i64,
    /// Whether the target takes changes through merge requests only.
    pub protected: bool,
    /// Why it cannot be merged now (empty: it can).
    pub blockers: Vec<String>,
    pub mergeable: bool,
}

fn writer(gated: &Gated) -> Result<()> {
    reader(gated)?;
    if !gated.allows(On::Dataset, Action::Write) {
        return Err(Error::forbidden(format!(
            "this needs write access to {}",
            gated.path()
        )));
    }
    Ok(())
}

fn reader(gated: &Gated) -> Result<()> {
    if gated.limited() {
        return Err(Error::forbidden(
            "merge requests change whole branches: a share of some files does not reach them",
        ));
    }
    Ok(())
}

fn who_name(who: &Principal) -> String {
    author(who).name
}

fn user_id(who: &Principal) -> Option<i64> {
    match who {
        Principal::User { user, .. } => Some(user.id),
        _ => None,
    }
}

/// What a new merge request says.
#[derive(Debug, Clone, Default)]
pub struct New {
    pub source: String,
    /// `None`: the default branch.
    pub target: Option<String>,
    pub title: String,
    pub description: String,
}

/// Opens a merge request of `new.source` into `new.target`.
pub async fn open(core: &Core, who: &Principal, gated: &Gated, new: New) -> Result<MergeRequest> {
    writer(gated)?;
    let target = new.target.unwrap_or_else(|| DEFAULT_BRANCH.to_owned());
    let title = new.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(Error::unprocessable(
            "a merge request needs a title of 1 to 200 characters",
        ));
    }
    if new.description.len() > 64 * 1024 {
        return Err(Error::unprocessable("the description is over 64 KiB"));
    }
    if new.source == target {
        return Err(Error::unprocessable(
            "a branch cannot be merged into itself",
        ));
    }
    let (s, t) = (new.source.clone(), target.clone());
    let sides = git_on(core, gated, move |ms, ds| ms.merge_sides(ds, &t, &s)).await?;
    if sides.merged() {
        return Err(Error::unprocessable(format!(
            "{} has nothing {target} does not have already",
            new.source
        )));
    }
    let name = who_name(who);
    let row = core
        .db
        .open_merge(&NewMerge {
            repo_id: gated.id,
            source: &new.source,
            target: &target,
            title: &title,
            description: &new.description,
            author: &name,
            author_id: user_id(who),
        })
        .await
        .map_err(|e| match e {
            crate::db::Error::Conflict => Error::conflict(format!(
                "a merge request of {} into {target} is open already",
                new.source
            )),
            e => e.into(),
        })?;
    record(core, who, "merge_request.open", gated, row.number).await?;
    let request: MergeRequest = row.into();
    told(core, who, "merge_request.opened", gated, &request).await;
    Ok(request)
}

/// The merge requests of `gated` in `state` (`open`, `merged`, `closed`; `None`: all).
pub async fn list(core: &Core, gated: &Gated, state: Option<&str>) -> Result<Vec<MergeRequest>> {
    reader(gated)?;
    if let Some(s) = state {
        if !["open", "merged", "closed"].contains(&s) {
            return Err(Error::unprocessable("state is open, merged, closed or all"));
        }
    }
    let rows = core.db.merge_requests(gated.id, state, 500).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Merge request `number` of `gated`.
pub async fn get(core: &Core, gated: &Gated, number: i64) -> Result<MergeRequest> {
    reader(gated)?;
    core.db
        .merge_request(gated.id, number)
        .await?
        .map(Into::into)
        .ok_or_else(|| Error::not_found(format!("{} has no merge request {number}", gated.path())))
}

/// Where merge request `number` stands, worked out for the heads of the moment.
pub async fn status(core: &Core, gated: &Gated, number: i64) -> Result<Status> {
    let request = get(core, gated, number).await?;
    let repo: &crate::db::Repo = gated;
    let protected = request.target == DEFAULT_BRANCH && repo.protect_default_branch != 0;
    let mut blockers = Vec::new();
    if request.state != "open" {
        blockers.push(format!("the merge request is {}", request.state));
    }
    // A merged request shows what its merge commit merged, not the branches as they are now.
    let worked_out = match &request.merged_revision {
        Some(merged) if request.state == "merged" => {
            prepare::prepare_merged(core, gated, merged).await
        }
        _ => prepare::prepare(core, gated, &request.target, &request.source).await,
    };
    let prepared = match worked_out {
        Ok(p) => Some(p),
        // A branch deleted since: nothing to work out, and nothing to merge.
        Err(e) if e.kind == Kind::NotFound => {
            if request.state == "open" {
                blockers.push(e.message);
            }
            None
        }
        Err(e) => return Err(e),
    };
    let resolutions: HashMap<String, Resolution> = core
        .db
        .resolutions(request.id)
        .await?
        .into_iter()
        .map(|r| {
            (
                r.conflict,
                Resolution {
                    take: r.take,
                    value: r.value,
                    by: r.resolved_by,
                },
            )
        })
        .collect();
    let source_head = prepared.as_ref().map(|p| p.sides.theirs.to_string());
    let approvals: Vec<Approval> = core
        .db
        .approvals(request.id)
        .await?
        .into_iter()
        .map(|a| Approval {
            current: Some(&a.source_head) == source_head.as_ref(),
            user: a.username,
            revision: a.source_head,
            at: rfc3339(a.created_at),
        })
        .collect();
    let approvals_required = if protected {
        repo.required_approvals
    } else {
        0
    };
    let counted = approvals
        .iter()
        .filter(|a| a.current && Some(&a.user) != Some(&request.author))
        .count() as i64;
    if counted < approvals_required {
        blockers.push(format!(
            "{} needs {approvals_required} approval(s) of the source's head from writers other \
             than the author; it has {counted}",
            request.target
        ));
    }
    let Some(p) = prepared else {
        return Ok(Status {
            request,
            target_head: String::new(),
            source_head: String::new(),
            base: None,
            paths: Vec::new(),
            tables: Vec::new(),
            conflicts: Vec::new(),
            more_conflicts: false,
            approvals,
            approvals_required,
            protected: protected && repo.require_merge_request != 0,
            mergeable: false,
            blockers,
        });
    };
    if p.sides.merged() && request.state == "open" {
        blockers.push(format!(
            "{} has nothing {} does not have",
            request.source, request.target
        ));
    }
    let conflicts: Vec<Listed> = prepare::shown(core, gated, &p)
        .await?
        .into_iter()
        .map(|c| Listed {
            resolution: resolutions.get(&c.id).cloned(),
            conflict: c,
        })
        .collect();
    let open_conflicts = conflicts.iter().filter(|c| c.resolution.is_none()).count();
    if open_conflicts > 0 {
        blockers.push(format!("{open_conflicts} conflict(s) are not resolved"));
    }
    if p.more {
        blockers.push(format!(
            "more than {MAX_CONFLICTS} conflicts: merge {} into {} on a clone, resolve them there and push",
            request.target, request.source
        ));
    }
    Ok(Status {
        target_head: p.sides.ours.to_string(),
        source_head: p.sides.theirs.to_string(),
        base: p.sides.base.map(|b| b.to_string()),
        paths: p.paths.clone(),
        tables: p.tables.clone(),
        conflicts,
        more_conflicts: p.more,
        approvals,
        approvals_required,
        protected: protected && repo.require_merge_request != 0,
        mergeable: blockers.is_empty(),
        blockers,
        request,
    })
}

/// Changes the title and description, or closes or reopens merge request `number`.
pub async fn edit(
    core: &Core,
    who: &Principal,
    gated: &Gated,
    number: i64,
    title: Option<String>,
    description: Option<String>,
    state: Option<String>,
) -> Result<MergeRequest> {
    writer(gated)?;
    let request = get(core, gated, number).await?;
    if title.is_some() || description.is_some() {
        let title = title.unwrap_or(request.title.clone()).trim().to_owned();
        if title.is_empty() || title.chars().count() > 200 {
            return Err(Error::unprocessable(
                "a merge request needs a title of 1 to 200 characters",
            ));
        }
        let description = description.unwrap_or(request.description.clone());
        if description.len() > 64 * 1024 {
            return Err(Error::unprocessable("the description is over 64 KiB"));
        }
        core.db.edit_merge(request.id, &title, &description).await?;
    }
    if let Some(state) = state.filter(|s| *s != request.state) {
        let (from, event) = match state.as_str() {
            "closed" => ("open", "merge_request.close"),
            "open" => ("closed", "merge_request.reopen"),
            _ => {
                return Err(Error::unprocessable(
                    "state is open or closed (a merge request is merged by merging it)",
                ))
            }
        };
        let moved = core
            .db
            .set_merge_state(request.id, from, &state, None)
            .await
            .map_err(|e| match e {
                crate::db::Error::Conflict => Error::conflict(format!(
                    "another merge request of {} into {} is open",
                    request.source, request.target
                )),
                e => e.into(),
            })?;
        if !moved {
            return Err(Error::conflict(format!(
                "merge request {number} is {}: it cannot become {state}",
                request.state
            )));
        }
        record(core, who, event, gated, number).await?;
        let kind = if state == "closed" {
            "merge_request.closed"
        } else {
            "merge_request.reopened"
        };
        told(core, who, kind, gated, &request).await;
    }
    get(core, gated, number).await
}

/// The most comments one merge request takes, and the longest comment.
pub const MAX_COMMENTS: i64 = 1000;
pub const MAX_COMMENT: usize = 10_000;

/// A comment on a merge request, as the API and the page show it.
#[derive(Debug, Clone, Serialize)]
pub struct Comment {
    pub id: i64,
    pub author: String,
    pub body: String,
    /// The file it is about (empty: the request itself), and the row of it (its key).
    pub path: String,
    pub row: String,
    pub created_at: String,
}

/// The comments on merge request `number`, oldest first.
pub async fn comments(core: &Core, gated: &Gated, number: i64) -> Result<Vec<Comment>> {
    let request = get(core, gated, number).await?;
    Ok(core
        .db
        .comments(request.id, MAX_COMMENTS)
        .await?
        .into_iter()
        .map(|c| Comment {
            id: c.id,
            author: c.author,
            body: c.body,
            path: c.path,
            row: c.row_key,
            created_at: rfc3339(c.created_at),
        })
        .collect())
}

/// Comments on merge request `number` (on `path`, and its row `row`, when given): for an
/// account that reads the whole dataset; an empty or over-long comment, or one past
/// [`MAX_COMMENTS`], is refused. Its author is notified.
pub async fn comment(
    core: &Core,
    who: &Principal,
    gated: &Gated,
    number: i64,
    (body, path, row): (&str, &str, &str),
) -> Result<Comment> {
    let request = get(core, gated, number).await?;
    if matches!(who, Principal::Anonymous) {
        return Err(Error::unauthorized("sign in to comment"));
    }
    let Some(me) = user_id(who) else {
        return Err(Error::forbidden(
            "comments are made by accounts, not by bare tokens",
        ));
    };
    let body = body.trim();
    if body.is_empty() || body.chars().count() > MAX_COMMENT {
        return Err(Error::unprocessable(format!(
            "a comment is 1 to {MAX_COMMENT} characters"
        )));
    }
    let (path, row) = (path.trim().trim_matches('/'), row.trim());
    if path.len() > 1000 || row.len() > 1000 || (path.is_empty() && !row.is_empty()) {
        return Err(Error::unprocessable(
            "a comment is about the request, a file of it (path), or a row of a file (path and row)",
        ));
    }
    let name = who_name(who);
    let made = core
        .db
        .comment(
            request.id,
            (&name, Some(me)),
            (body, path, row),
            MAX_COMMENTS,
        )
        .await?
        .ok_or_else(|| {
            Error::conflict(format!(
                "merge request {number} has {MAX_COMMENTS} comments, the most it takes"
            ))
        })?;
    record(core, who, "merge_request.comment", gated, number).await?;
    let data = serde_json::json!({"number": request.number, "title": request.title,
        "source": request.source, "target": request.target, "author": request.author,
        "revision": request.merged_revision, "comment": made, "path": path, "row": row});
    crate::events::record(
        core,
        Some(who),
        "merge_request.commented",
        &gated.path(),
        data,
    )
    .await;
    Ok(Comment {
        id: made,
        author: name,
        body: body.to_owned(),
        path: path.to_owned(),
        row: row.to_owned(),
        created_at: rfc3339(crate::db::now()),
    })
}

/// The event of merge request `r` (`kind`), for webhooks, the stream and notifications.
pub(super) async fn told(
    core: &Core,
    who: &Principal,
    kind: &str,
    gated: &Gated,
    r: &MergeRequest,
) {
    let data = serde_json::json!({"number": r.number, "title": r.title, "source": r.source,
        "target": r.target, "author": r.author, "revision": r.merged_revision});
    crate::events::record(core, Some(who), kind, &gated.path(), data).await;
}

async fn record(
    core: &Core,
    who: &Principal,
    event: &str,
    gated: &Gated,
    number: i64,
) -> Result<()> {
    if let Principal::User { user, .. } = who {
        audit(
            core,
            event,
            user,
            &format!("{}!{number}", gated.path()),
            serde_json::json!({}),
        )
        .await?;
    }
    Ok(())
}
