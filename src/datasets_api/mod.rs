//! The REST API of datasets under `/api/v1/datasets`: create, read, update and delete a dataset's
//! datapackage, atomic multi-file commits, revisions, tags, branches, diffs, reverts, the file
//! tree and raw files. JSON in and out; errors are `{message, request_id}`.

mod commit;
mod datasets;
mod history;
mod refs;

use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use strata_metastore::{DatasetId, Person, Revision};

use crate::auth::{authorize_repo, Action, Principal};
use crate::db::Repo;
use crate::error::ApiResult;
use crate::lfs_api::rfc3339;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    let one = "/api/v1/datasets/{ns}/{name}";
    Router::new()
        .route("/api/v1/datasets", post(datasets::create))
        .route(
            one,
            get(datasets::read)
                .put(datasets::update)
                .delete(datasets::delete),
        )
        .route(&format!("{one}/commit"), post(commit::commit))
        .route(&format!("{one}/revert"), post(commit::revert))
        .route(&format!("{one}/revisions"), get(history::revisions))
        .route(&format!("{one}/revisions/{{rev}}"), get(history::revision))
        .route(&format!("{one}/tree"), get(history::tree))
        .route(&format!("{one}/raw/{{*path}}"), get(history::raw))
        .route(&format!("{one}/diff"), get(history::diff))
        .route(
            &format!("{one}/tags"),
            get(refs::list_tags).post(refs::create_tag),
        )
        .route(
            &format!("{one}/tags/{{tag}}"),
            get(refs::read_tag)
                .patch(refs::update_tag)
                .delete(refs::delete_tag),
        )
        .route(
            &format!("{one}/branches"),
            get(refs::list_branches).post(refs::create_branch),
        )
        .route(
            &format!("{one}/branches/{{branch}}"),
            axum::routing::delete(refs::delete_branch),
        )
}

/// A dataset the caller may do `action` to (401 / 403 / 404 otherwise).
async fn dataset(
    state: &AppState,
    who: &Principal,
    ns: &str,
    name: &str,
    action: Action,
) -> ApiResult<Repo> {
    authorize_repo(state, who, ns, name, action).await
}

/// Owned `{ns}/{name}`, to move into blocking git work.
#[derive(Debug, Clone)]
struct Names {
    ns: String,
    name: String,
}

impl Names {
    fn of(repo: &Repo) -> Names {
        Names {
            ns: repo.namespace.clone(),
            name: repo.name.clone(),
        }
    }

    fn id(&self) -> DatasetId<'_> {
        DatasetId {
            ns: &self.ns,
            name: &self.name,
        }
    }
}

/// A revision as the API shows it.
#[derive(Debug, Serialize)]
struct RevisionView {
    id: String,
    parents: Vec<String>,
    author: Person,
    committer: Person,
    /// RFC 3339.
    time: String,
    message: String,
}

impl From<Revision> for RevisionView {
    fn from(r: Revision) -> RevisionView {
        RevisionView {
            id: r.id,
            parents: r.parents,
            author: r.author,
            committer: r.committer,
            time: rfc3339(r.time),
            message: r.message,
        }
    }
}

/// The branch a request writes to, `main` unless it says otherwise.
fn branch_or_default(branch: Option<&str>) -> &str {
    branch.unwrap_or(strata_metastore::DEFAULT_BRANCH)
}
