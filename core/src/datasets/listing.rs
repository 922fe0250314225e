//! What a caller may list: the one rule behind `GET /api/v1/datasets`, the home page, the catalog
//! and Arrow Flight's `ListFlights`. The database narrows by visibility and the user's grants
//! (`Db::visible_repos`: site admins see every dataset; whole-dataset shares count, path shares
//! do not); a token narrower than `*` then sees only what its scopes reach, and public datasets.
//! The scopes apply before paging, so neither a page nor its cursor tells a narrow token about
//! datasets it may not see.

use crate::auth::{Action, On, Principal};
use crate::db::Repo;
use crate::error::Result;
use crate::Core;

/// One page of datasets, by ascending id, and the cursor of the next page.
pub struct Page {
    pub datasets: Vec<Repo>,
    pub next_cursor: Option<i64>,
}

/// Whether `who`'s credential reaches `repo` at all (its user's grants aside).
pub fn reaches(who: &Principal, repo: &Repo) -> bool {
    match who.scopes().filter(|s| !s.allows_everything()) {
        None => true,
        Some(s) => repo.is_public() || s.allows(&repo.path(), On::Dataset, Action::Read),
    }
}

/// Up to `limit` datasets `who` may list, with an id above `after`, whose `ns/name` contains
/// `query` if given.
pub async fn list(
    core: &Core,
    who: &Principal,
    after: i64,
    limit: i64,
    query: Option<&str>,
) -> Result<Page> {
    let viewer = match who {
        Principal::User { user, .. } => Some(user),
        _ => None,
    };
    let mut datasets = Vec::new();
    let mut after = after;
    loop {
        let batch = core.db.visible_repos(viewer, after, limit, query).await?;
        let full = batch.len() as i64 == limit;
        after = batch.last().map_or(after, |r| r.id);
        for r in batch {
            if datasets.len() as i64 == limit {
                break;
            }
            if reaches(who, &r) {
                datasets.push(r);
            }
        }
        if datasets.len() as i64 == limit {
            let next_cursor = datasets.last().map(|r| r.id);
            return Ok(Page {
                datasets,
                next_cursor,
            });
        }
        if !full {
            return Ok(Page {
                datasets,
                next_cursor: None,
            });
        }
    }
}
