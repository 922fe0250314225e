//! The jobs pages: a dataset's jobs and their runs (readers; "Run now" for writers), one run
//! (its inputs at their revisions, its output, its log for writers, Cancel while it runs, and the
//! page reloads itself until it ends), and a revision's lineage (what made it, what was made from
//! it, and "Run again" at the inputs that made it). The same core calls and gates as the REST
//! jobs API; every form carries the session's CSRF token.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::forms::see_other;
use super::layout::{render, Chrome};
use super::reader::Reader;
use super::show::{failed, human_size, when};
use crate::http::csrf::CsrfForm;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{session_principal, visitor};
use crate::http::state::AppState;
use strata_core::auth::{Action, On};
use strata_core::db::{RunRow, SessionRow};
use strata_core::jobs::{self, graph};

/// A job as its row shows it.
struct JobRow {
    name: String,
    inputs: Vec<String>,
    output: String,
    triggers: Vec<String>,
    incremental: bool,
}

/// A run as a list or its page shows it.
struct RunLine {
    id: i64,
    job: String,
    state: String,
    cause: String,
    started_by: String,
    created: String,
    took: String,
    /// `(dataset, revision)`, those the visitor may read.
    inputs: Vec<(String, String)>,
    output: String,
    output_revision: String,
    /// The merge request the run opened, or empty.
    merge_request: String,
    error: String,
    exit_code: String,
    bytes: String,
    log: String,
    live: bool,
}

impl From<RunRow> for RunLine {
    fn from(r: RunRow) -> RunLine {
        let inputs: Vec<Value> = serde_json::from_str(&r.inputs).unwrap_or_default();
        let took = match (r.started_at, r.finished_at) {
            (Some(a), Some(b)) => format!("{} s", b - a),
            _ => String::new(),
        };
        RunLine {
            id: r.id,
            live: matches!(r.state.as_str(), "queued" | "running"),
            created: when(r.created_at),
            took,
            inputs: inputs
                .iter()
                .filter_map(|i| {
                    Some((
                        i["dataset"].as_str()?.to_owned(),
                        i["revision"].as_str()?.to_owned(),
                    ))
                })
                .collect(),
            output: r.output.split('@').next().unwrap_or_default().to_owned(),
            output_revision: r.output_revision.unwrap_or_default(),
            merge_request: r.merge_request.map(|n| n.to_string()).unwrap_or_default(),
            error: r.error.unwrap_or_default(),
            exit_code: r.exit_code.map(|c| c.to_string()).unwrap_or_default(),
            bytes: format!(
                "{} in, {} out",
                human_size(r.bytes_in.max(0) as u64),
                human_size(r.bytes_out.max(0) as u64)
            ),
            job: r.job,
            state: r.state,
            cause: r.cause,
            started_by: r.started_by,
            log: r.log,
        }
    }
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    chrome: Chrome,
    dataset: String,
    jobs: Vec<JobRow>,
    runs: Vec<RunLine>,
    writer: bool,
}

/// `GET /datasets/{ns}/{name}/jobs`.
pub async fn list(
    State(state): State<AppState>,
    Reader {
        session: s, repo, ..
    }: Reader,
) -> ApiResult<Response> {
    jobs_page(
        &state,
        s.as_ref(),
        &repo.namespace,
        &repo.name,
        StatusCode::OK,
        None,
    )
    .await
}

async fn jobs_page(
    state: &AppState,
    s: Option<&SessionRow>,
    ns: &str,
    name: &str,
    status: StatusCode,
    error: Option<&str>,
) -> ApiResult<Response> {
    let title = format!("Jobs of {ns}/{name}");
    let who = visitor(s)?;
    let listed = match jobs::list(state, &who, ns, name).await {
        Ok(j) => j,
        Err(e) => return Ok(failed(s, &title, e)),
    };
    let runs = jobs::runs(state, &who, ns, name, None).await?;
    let repo = strata_core::datasets::gate::dataset(state, &who, ns, name, Action::Read).await?;
    let mut chrome = Chrome::new(title, s, "datasets");
    if let Some(error) = error {
        chrome = chrome.error(error);
    }
    let jobs = listed
        .into_iter()
        .map(|j| JobRow {
            inputs: j
                .inputs
                .iter()
                .map(|i| format!("{}@{}", i.dataset, i.branch))
                .collect(),
            output: format!(
                "{}@{}{}",
                j.output.dataset,
                j.output.branch,
                if j.output.path.is_empty() {
                    String::new()
                } else {
                    format!(" /{}", j.output.path)
                }
            ),
            triggers: j
                .triggers
                .iter()
                .map(|t| match t {
                    strata_apps::job::Trigger::Push => "on push".to_owned(),
                    strata_apps::job::Trigger::Manual => "by hand".to_owned(),
                    strata_apps::job::Trigger::Schedule(c) => format!("schedule {c}"),
                })
                .collect(),
            incremental: j.incremental,
            name: j.name,
        })
        .collect();
    let page = JobsPage {
        chrome,
        dataset: format!("{}/{}", repo.namespace, repo.name),
        jobs,
        runs: runs.into_iter().map(RunLine::from).collect(),
        writer: !repo.limited() && repo.allows(On::Dataset, Action::Write),
    };
    Ok(render(status, &page))
}

#[derive(Deserialize)]
pub struct RunForm {
    #[serde(default)]
    force: Option<String>,
}

/// `POST /datasets/{ns}/{name}/jobs/{job}/run`: starts a run, then its page.
pub async fn start(
    State(state): State<AppState>,
    Path((ns, name, job)): Path<(String, String, String)>,
    CsrfForm { signed_in, form }: CsrfForm<RunForm>,
) -> ApiResult<Response> {
    let s = signed_in.session;
    let who = session_principal(&s)?;
    match jobs::start(&state.core, &who, &ns, &name, &job, form.force.is_some()).await {
        Ok(run) => Ok(see_other(
            &format!("/datasets/{ns}/{name}/runs/{}", run.id),
            &[],
        )),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_server_error() {
                return Err(e);
            }
            jobs_page(&state, Some(&s), &ns, &name, e.status, Some(&e.message)).await
        }
    }
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    chrome: Chrome,
    dataset: String,
    run: RunLine,
    writer: bool,
}

/// `GET /datasets/{ns}/{name}/runs/{id}`.
pub async fn run(
    State(state): State<AppState>,
    Path((_, _, id)): Path<(String, String, String)>,
    Reader {
        session: s, repo, ..
    }: Reader,
) -> ApiResult<Response> {
    let who = visitor(s.as_ref())?;
    let title = format!("Run {id} of {}", repo.path());
    let Ok(id) = id.parse::<i64>() else {
        return Ok(failed(
            s.as_ref(),
            &title,
            strata_core::error::Error::not_found(format!("there is no run {id:?}")),
        ));
    };
    let row = match jobs::one(&state, &who, &repo.namespace, &repo.name, id).await {
        Ok(r) => r,
        Err(e) => return Ok(failed(s.as_ref(), &title, e)),
    };
    let page = RunPage {
        chrome: Chrome::new(title, s.as_ref(), "datasets"),
        dataset: repo.path(),
        run: row.into(),
        writer: !repo.limited() && repo.allows(On::Dataset, Action::Write),
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /datasets/{ns}/{name}/runs/{id}/cancel`, then the run's page.
pub async fn cancel(
    State(state): State<AppState>,
    Path((ns, name, id)): Path<(String, String, String)>,
    CsrfForm { signed_in, .. }: CsrfForm<RunForm>,
) -> ApiResult<Response> {
    let who = session_principal(&signed_in.session)?;
    let Ok(number) = id.parse::<i64>() else {
        return Err(ApiError::not_found(format!("there is no run {id:?}")));
    };
    match jobs::cancel(&state, &who, &ns, &name, number).await {
        Ok(_) => Ok(see_other(
            &format!("/datasets/{ns}/{name}/runs/{number}"),
            &[],
        )),
        // Ended meanwhile: its page says how.
        Err(e) if e.kind == strata_core::error::Kind::Conflict => Ok(see_other(
            &format!("/datasets/{ns}/{name}/runs/{number}"),
            &[],
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "lineage.html")]
struct LineagePage {
    chrome: Chrome,
    dataset: String,
    revision: String,
    lineage: graph::Lineage,
}

/// `GET /datasets/{ns}/{name}/revisions/{rev}/lineage`.
pub async fn lineage(
    State(state): State<AppState>,
    Path((_, _, rev)): Path<(String, String, String)>,
    Reader {
        session: s, repo, ..
    }: Reader,
) -> ApiResult<Response> {
    lineage_page(
        &state,
        s.as_ref(),
        &repo.namespace,
        &repo.name,
        &rev,
        (StatusCode::OK, None),
    )
    .await
}

async fn lineage_page(
    state: &AppState,
    s: Option<&SessionRow>,
    ns: &str,
    name: &str,
    rev: &str,
    (status, error): (StatusCode, Option<&str>),
) -> ApiResult<Response> {
    let who = visitor(s)?;
    let title = format!(
        "Lineage of {ns}/{name} at {}",
        rev.chars().take(10).collect::<String>()
    );
    let lineage = match graph::lineage(state, &who, ns, name, rev).await {
        Ok(l) => l,
        Err(e) => return Ok(failed(s, &title, e)),
    };
    let mut chrome = Chrome::new(title, s, "datasets");
    if let Some(error) = error {
        chrome = chrome.error(error);
    }
    let revision = lineage
        .upstream
        .first()
        .map(|n| n.revision.clone())
        .unwrap_or_else(|| rev.to_owned());
    let page = LineagePage {
        chrome,
        dataset: format!("{ns}/{name}"),
        revision,
        lineage,
    };
    Ok(render(status, &page))
}

/// `POST /datasets/{ns}/{name}/revisions/{rev}/rerun`: runs again what made the revision, then
/// the new run's page.
pub async fn rerun(
    State(state): State<AppState>,
    Path((ns, name, rev)): Path<(String, String, String)>,
    CsrfForm { signed_in, .. }: CsrfForm<RunForm>,
) -> ApiResult<Response> {
    let s = signed_in.session;
    let who = session_principal(&s)?;
    match jobs::rerun(&state.core, &who, &ns, &name, &rev).await {
        Ok(run) => {
            let declaring = jobs::run_dataset(&state, &run).await?;
            Ok(see_other(
                &format!("/datasets/{declaring}/runs/{}", run.id),
                &[],
            ))
        }
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_server_error() {
                return Err(e);
            }
            lineage_page(
                &state,
                Some(&s),
                &ns,
                &name,
                &rev,
                (e.status, Some(&e.message)),
            )
            .await
        }
    }
}
