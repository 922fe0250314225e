//! Jobs over REST (`strata_core::jobs`): the jobs a dataset declares, runs started by hand, their
//! state and logs, cancellation, and the provenance of a revision a run committed.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{DatasetPath, ErrorBody};
use crate::http::error::ApiResult;
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::db::RunRow;
use strata_core::jobs;

/// A run of a job.
#[derive(Serialize, ToSchema)]
pub struct RunView {
    id: i64,
    job: String,
    /// `queued`, `running`, `succeeded`, `failed`, `skipped` (its inputs and job were those of
    /// the last success) or `cancelled`.
    state: String,
    /// `manual`, `push`, `schedule` or `rerun`.
    cause: String,
    started_by: String,
    /// The declaring dataset's revision whose job and script ran.
    job_revision: String,
    /// The inputs at the revisions the run read: `[{dataset, branch, revision}]`.
    #[schema(value_type = Vec<Object>)]
    inputs: Value,
    exit_code: Option<i64>,
    error: Option<String>,
    /// The process's last lines (stdout and stderr), for the dataset's writers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<String>,
    /// How many lines the process wrote in all (`log` keeps the last 2,000).
    log_lines: i64,
    bytes_in: i64,
    bytes_out: i64,
    /// Where the output goes: `ns/name@branch`.
    output: String,
    /// The revision the run committed (for a skipped run, the one it repeats).
    output_revision: Option<String>,
    /// The merge request the run opened with its output (a job whose output is a merge
    /// request).
    merge_request: Option<i64>,
    /// Unix seconds.
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

impl From<RunRow> for RunView {
    fn from(r: RunRow) -> RunView {
        RunView {
            id: r.id,
            job: r.job,
            state: r.state,
            cause: r.cause,
            started_by: r.started_by,
            job_revision: r.job_revision,
            inputs: serde_json::from_str(&r.inputs).unwrap_or(Value::Null),
            exit_code: r.exit_code,
            error: r.error,
            log: (!r.log.is_empty()).then_some(r.log),
            log_lines: r.log_lines,
            bytes_in: r.bytes_in,
            bytes_out: r.bytes_out,
            output: r.output,
            output_revision: r.output_revision,
            merge_request: r.merge_request,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

/// The jobs the dataset's `datapackage.json` declares on its default branch (its `jobs`
/// object, each with its `name`).
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/jobs", tag = "jobs", operation_id = "jobs",
    params(DatasetPath),
    responses((status = 200, description = "The jobs", body = Vec<Object>),
        (status = 404, description = "No such dataset (private datasets look missing too)", body = ErrorBody),
        (status = 422, description = "The declared jobs are not valid", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<Vec<Value>>> {
    let jobs = jobs::list(&state, &who, &ns, &name).await?;
    Ok(Json(
        jobs.into_iter()
            .map(|j| {
                let mut v = serde_json::to_value(&j).unwrap_or_default();
                v["name"] = Value::String(j.name);
                v
            })
            .collect(),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// Run even when the inputs and the job are those of the last success.
    #[serde(default)]
    force: bool,
}

/// Starts a run of the job, as you: it reads its inputs at their branches' heads now, as you may
/// read them, and commits its output where you may write. Needs write access to the dataset.
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/jobs/{job}/runs", tag = "jobs", operation_id = "start_run",
    params(DatasetPath, ("job" = String, Path, description = "The job's name"), StartQuery),
    responses((status = 202, description = "The run, queued (or `skipped`: its inputs did not change)", body = RunView),
        (status = 403, description = "You may not write this dataset, or write the output", body = ErrorBody),
        (status = 404, description = "No such dataset, job, input or branch", body = ErrorBody),
        (status = 409, description = "A run of the job on these inputs is under way, or the sandbox is off", body = ErrorBody),
        (status = 422, description = "The job names an interpreter this server does not run", body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    Path((ns, name, job)): Path<(String, String, String)>,
    Query(q): Query<StartQuery>,
    who: Principal,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    let run = jobs::start(&state.core, &who, &ns, &name, &job, q.force).await?;
    Ok((StatusCode::ACCEPTED, Json(run.into())))
}

/// The runs of one job, newest first (at most 100).
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/jobs/{job}/runs", tag = "jobs", operation_id = "job_runs",
    params(DatasetPath, ("job" = String, Path, description = "The job's name")),
    responses((status = 200, description = "The runs (logs for writers only)", body = Vec<RunView>),
        (status = 404, description = "No such dataset", body = ErrorBody)))]
pub async fn job_runs(
    State(state): State<AppState>,
    Path((ns, name, job)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<Vec<RunView>>> {
    let rows = jobs::runs(&state, &who, &ns, &name, Some(&job)).await?;
    Ok(Json(rows.into_iter().map(RunView::from).collect()))
}

/// The runs of every job of the dataset, newest first (at most 100).
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/runs", tag = "jobs", operation_id = "runs",
    params(DatasetPath),
    responses((status = 200, description = "The runs (logs for writers only)", body = Vec<RunView>),
        (status = 404, description = "No such dataset", body = ErrorBody)))]
pub async fn runs(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<Vec<RunView>>> {
    let rows = jobs::runs(&state, &who, &ns, &name, None).await?;
    Ok(Json(rows.into_iter().map(RunView::from).collect()))
}

/// One run: its state, exit code, bytes, output revision and (for writers) its log.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/runs/{id}", tag = "jobs", operation_id = "run",
    params(DatasetPath, ("id" = i64, Path, description = "The run's number")),
    responses((status = 200, description = "The run", body = RunView),
        (status = 404, description = "No such dataset or run", body = ErrorBody)))]
pub async fn run(
    State(state): State<AppState>,
    Path((ns, name, id)): Path<(String, String, i64)>,
    who: Principal,
) -> ApiResult<Json<RunView>> {
    Ok(Json(jobs::one(&state, &who, &ns, &name, id).await?.into()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Keep the response open and send each new line until the run ends (as `tail -f`), for up
    /// to ten minutes: then ask again `from` the lines you have.
    #[serde(default)]
    follow: bool,
    /// Skip the first this many lines the process wrote (those you have).
    #[serde(default)]
    from: u64,
}

/// A run's log as plain text, one line per line the process wrote (stdout and stderr), for the
/// dataset's writers. With `follow=true` the response stays open and each new line is sent as the
/// process writes it (within a second or so) until the run ends, for up to ten minutes. When more
/// lines were written than are kept (2,000), a line `[N earlier lines are not kept]` stands for
/// them.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/runs/{id}/log", tag = "jobs", operation_id = "run_log",
    params(DatasetPath, ("id" = i64, Path, description = "The run's number"), LogQuery),
    responses((status = 200, description = "The log (`text/plain`), streamed with `follow`", content_type = "text/plain", body = String),
        (status = 403, description = "You may read the dataset but not write it: logs are for writers", body = ErrorBody),
        (status = 404, description = "No such dataset or run", body = ErrorBody)))]
pub async fn log(
    State(state): State<AppState>,
    Path((ns, name, id)): Path<(String, String, i64)>,
    Query(q): Query<LogQuery>,
    who: Principal,
) -> ApiResult<Response> {
    let pieces = jobs::log(
        state.core.clone(),
        &who,
        (&ns, &name),
        id,
        (q.follow, q.from),
    )
    .await?;
    let body = Body::from_stream(pieces.map(Ok::<_, std::convert::Infallible>));
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // A proxy in front (NGINX) passes each piece on at once.
            (HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        body,
    )
        .into_response())
}

/// Cancels a queued or running run: its process is stopped and nothing it wrote lands.
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/runs/{id}/cancel", tag = "jobs", operation_id = "cancel_run",
    params(DatasetPath, ("id" = i64, Path, description = "The run's number")),
    responses((status = 200, description = "The run, cancelled", body = RunView),
        (status = 403, description = "You may not write this dataset", body = ErrorBody),
        (status = 404, description = "No such dataset or run", body = ErrorBody),
        (status = 409, description = "The run has ended", body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    Path((ns, name, id)): Path<(String, String, i64)>,
    who: Principal,
) -> ApiResult<Json<RunView>> {
    Ok(Json(
        jobs::cancel(&state, &who, &ns, &name, id).await?.into(),
    ))
}

/// What made a revision: the job (its dataset, name, revision and script), the run, the inputs
/// at the revisions it read, its params and runner. An input you may not read shows only
/// `{"hidden": true}`.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/revisions/{rev}/provenance", tag = "jobs", operation_id = "provenance",
    params(DatasetPath, ("rev" = String, Path, description = "A revision id, branch or tag")),
    responses((status = 200, description = "The provenance", body = Object),
        (status = 404, description = "No such dataset or revision, or a revision no job made", body = ErrorBody)))]
pub async fn provenance(
    State(state): State<AppState>,
    Path((ns, name, rev)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        jobs::provenance(&state, &who, &ns, &name, &rev).await?,
    ))
}

/// Runs again the job that made this revision: the job as declared then, its inputs at the
/// revisions that run read, as you. Its output lands on a new branch (`rerun-…`) from the
/// revision's parent; the new revision's provenance says whether it reproduced this one's files
/// byte for byte (`reproduces.identical`). Needs write access to this dataset and the job's.
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/revisions/{rev}/rerun", tag = "jobs", operation_id = "rerun",
    params(DatasetPath, ("rev" = String, Path, description = "A revision a run committed (id, branch or tag)")),
    responses((status = 202, description = "The run, queued", body = RunView),
        (status = 403, description = "You may not write this dataset or the job's, or read an input", body = ErrorBody),
        (status = 404, description = "No such dataset or revision, a revision no job made, or an input revision that is gone", body = ErrorBody),
        (status = 409, description = "The job is no longer what made the revision, an input's files are gone, or a run on these inputs is under way", body = ErrorBody),
        (status = 422, description = "The job names an interpreter this server does not run", body = ErrorBody)))]
pub async fn rerun(
    State(state): State<AppState>,
    Path((ns, name, rev)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    let run = jobs::rerun(&state.core, &who, &ns, &name, &rev).await?;
    Ok((StatusCode::ACCEPTED, Json(run.into())))
}

/// The lineage of a revision: upstream, what made it and what made each input its run read (at
/// most 8 steps); downstream, the revisions runs made from it, and from those. A revision you may
/// not read is `{"hidden": true}`, and nothing past it is shown.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/revisions/{rev}/lineage", tag = "jobs", operation_id = "lineage",
    params(DatasetPath, ("rev" = String, Path, description = "A revision id, branch or tag")),
    responses((status = 200, description = "`upstream` (the revision itself first) and `downstream`: `[{depth, dataset, revision, job: [dataset, name], run, hidden}]`, and `may_rerun`", body = Object),
        (status = 404, description = "No such dataset or revision", body = ErrorBody)))]
pub async fn lineage(
    State(state): State<AppState>,
    Path((ns, name, rev)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<jobs::graph::Lineage>> {
    Ok(Json(
        jobs::graph::lineage(&state, &who, &ns, &name, &rev).await?,
    ))
}
