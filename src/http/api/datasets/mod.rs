//! The REST API of datasets under `/api/v1/datasets`: create, read, update and delete a dataset's
//! datapackage, atomic multi-file commits, revisions, tags, branches, diffs, reverts, the file
//! tree and raw files, staged uploads, jobs and their runs, mirrors. JSON in and out; errors are
//! `{message, request_id}`.

mod collaborators;
pub(crate) mod commit;
mod dataset;
mod feeds;
mod history;
mod imports;
mod jobs;
mod list;
mod merge_comments;
mod merges;
mod mirror;
mod push_mirrors;
mod refs;
mod uploads;
pub(crate) mod webhooks;

use serde::Serialize;
use strata_metastore::{DatasetId, Person, Revision};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::ApiResult;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::gate::{self, Gated};
use strata_core::db::rfc3339;
use strata_core::db::Repo;

/// The routes, and the OpenAPI document generated from their annotations.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(dataset::create, list::list))
        .routes(routes!(dataset::read, dataset::update, dataset::delete))
        .routes(routes!(dataset::rename))
        .routes(routes!(commit::commit))
        .routes(routes!(commit::revert))
        .routes(routes!(history::revisions))
        .routes(routes!(history::revision))
        .routes(routes!(history::validation))
        .routes(routes!(history::tree))
        // A wildcard path, which utoipa cannot route: documented through `ApiDoc` instead.
        .route(
            "/api/v1/datasets/{ns}/{name}/raw/{*path}",
            axum::routing::get(history::raw),
        )
        .routes(routes!(history::diff))
        .routes(routes!(uploads::start))
        .routes(routes!(uploads::status, uploads::abort))
        .routes(routes!(uploads::part))
        .routes(routes!(uploads::complete))
        .routes(routes!(refs::list_tags, refs::create_tag))
        .routes(routes!(refs::read_tag, refs::update_tag, refs::delete_tag))
        .routes(routes!(refs::list_branches, refs::create_branch))
        .routes(routes!(refs::delete_branch))
        .routes(routes!(collaborators::list_collaborators))
        .routes(routes!(
            collaborators::set_collaborator,
            collaborators::remove_collaborator
        ))
        .routes(routes!(collaborators::set_visibility))
        .routes(routes!(collaborators::set_protection))
        .routes(routes!(
            collaborators::get_retention,
            collaborators::set_retention
        ))
        .routes(routes!(merges::open, merges::list))
        .routes(routes!(merges::read, merges::edit))
        .routes(routes!(merges::resolve))
        .routes(routes!(merges::approve, merges::unapprove))
        .routes(routes!(merges::merge))
        .routes(routes!(merge_comments::list, merge_comments::add))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::read, webhooks::delete))
        .routes(routes!(webhooks::rotate))
        .routes(routes!(webhooks::set_active))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(mirror::set, mirror::read, mirror::delete))
        .routes(routes!(mirror::sync))
        .routes(routes!(mirror::hook))
        .routes(routes!(push_mirrors::create, push_mirrors::list))
        .routes(routes!(push_mirrors::read, push_mirrors::delete))
        .routes(routes!(push_mirrors::push_now))
        .routes(routes!(feeds::create, feeds::list))
        .routes(routes!(feeds::read, feeds::delete))
        .routes(routes!(imports::start, imports::list))
        .routes(routes!(imports::read))
        .routes(routes!(jobs::list))
        .routes(routes!(jobs::start, jobs::job_runs))
        .routes(routes!(jobs::runs))
        .routes(routes!(jobs::run))
        .routes(routes!(jobs::cancel))
        .routes(routes!(jobs::log))
        .routes(routes!(jobs::provenance))
        .routes(routes!(jobs::rerun))
        .routes(routes!(jobs::lineage))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "strata",
        description = "Versioned datasets: a Frictionless datapackage and LFS pointer files in git, with revisions, tags, branches, diffs and reverts. Errors are `{message, request_id}`. Authenticate with a personal access token or a JWT, as `Bearer` or as the password of HTTP Basic."
    ),
    tags((name = "datasets", description = "Datasets and their history"),
        (name = "merge requests", description = "Branches proposed for merging, their conflicts, approvals and merges"),
        (name = "webhooks", description = "A dataset's events delivered to URLs, signed the Standard Webhooks way"),
        (name = "mirrors", description = "A dataset that follows a git + LFS remote, is pushed to remotes, or adopts a bucket's objects by reference"),
        (name = "jobs", description = "Jobs a dataset declares, their runs, and the provenance of what they committed")),
    paths(history::raw)
)]
struct ApiDoc;

pub use super::ErrorBody;

/// Path parameters of one dataset.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct DatasetPath {
    /// The owner's namespace (a user or an organisation).
    ns: String,
    /// The dataset's name.
    name: String,
}

/// A dataset the caller may do `action` to (401 / 403 / 404 otherwise): the dataset gate.
async fn dataset(
    state: &AppState,
    who: &Principal,
    ns: &str,
    name: &str,
    action: Action,
) -> ApiResult<Gated> {
    Ok(gate::dataset(state, who, ns, name, action).await?)
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

/// Who made a commit or a tag.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonView {
    name: String,
    email: String,
}

impl From<Person> for PersonView {
    fn from(p: Person) -> PersonView {
        PersonView {
            name: p.name,
            email: p.email,
        }
    }
}

/// A revision (a commit) as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionView {
    id: String,
    parents: Vec<String>,
    author: PersonView,
    committer: PersonView,
    /// RFC 3339.
    time: String,
    message: String,
}

impl From<Revision> for RevisionView {
    fn from(r: Revision) -> RevisionView {
        RevisionView {
            id: r.id,
            parents: r.parents,
            author: r.author.into(),
            committer: r.committer.into(),
            time: rfc3339(r.time),
            message: r.message,
        }
    }
}

/// A positive id from a path segment, or the 404 that says there is no such `what`.
fn positive_id(raw: &str, what: &str) -> ApiResult<i64> {
    raw.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        crate::http::error::ApiError::not_found(format!("there is no {what} {raw:?}"))
    })
}
