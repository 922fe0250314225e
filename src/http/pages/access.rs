//! Gated datasets' pages: the access page every visitor who sees the dataset reads (its card,
//! README and table schemas, the request form or their request's status; a stranger is asked to
//! sign in), and for its admins the queue (`…/settings/access`): the gate's form and rules, the
//! pending requests with their answers, accepted or declined in bulk, and who has access until
//! when. Dataset pages send a visitor without access here (`super::reader`). The same domain
//! calls as the REST API (`strata_core::sharing::access`); every form carries the CSRF token.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::dataset_settings::admin_of;
use super::dataset_settings::expiry;
use super::forms::see_other;
use super::layout::{render, Chrome};
use super::markdown::{self, Base};
use super::show::{failed, human_size};
use super::signed_in::SignedIn;
use crate::http::csrf::CsrfForm;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{session as session_of, session_principal, visitor};
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::datasets::gate::Gated;
use strata_core::db::SessionRow;
use strata_core::sharing::access::requests::{self, Answer, Request};
use strata_core::sharing::access::{self, Gate, Mode, Preview, Question};

#[derive(Template)]
#[template(path = "access.html")]
struct AccessPage {
    chrome: Chrome,
    p: Preview,
    /// The README as HTML (sanitised by the Markdown renderer).
    readme: Option<String>,
    /// `(table, size)` beside `p.tables`.
    sizes: Vec<String>,
    signed_in: bool,
    /// Whether the form is shown: gated, no access, no request pending or declined.
    can_request: bool,
    /// What was typed, shown again after a refusal.
    typed: BTreeMap<String, String>,
}

/// The access page, with `error` where the content starts.
async fn access_page(
    state: &AppState,
    s: Option<&SessionRow>,
    ns: &str,
    name: &str,
    status: StatusCode,
    error: Option<&str>,
    typed: BTreeMap<String, String>,
) -> ApiResult<Response> {
    let who = visitor(s)?;
    let title = format!("Access to {ns}/{name}");
    let p = match access::preview(state, &who, ns, name).await {
        Ok(p) => p,
        Err(e) => return Ok(failed(s, &title, e)),
    };
    let readme = p.readme.as_deref().map(|text| {
        let base = Base {
            dataset: &p.dataset,
            folder: "",
            rev: None,
        };
        markdown::render(text, &base)
    });
    let mut chrome = Chrome::new(title, s, "datasets");
    if let Some(error) = error {
        chrome = chrome.error(error);
    }
    let sizes = p.tables.iter().map(|t| human_size(t.bytes)).collect();
    let waiting = p
        .request
        .as_ref()
        .is_some_and(|r| r.status == "pending" || r.status == "rejected");
    let page = AccessPage {
        can_request: !p.access && p.gated.is_some() && !waiting,
        chrome,
        readme,
        sizes,
        signed_in: s.is_some(),
        typed,
        p,
    };
    Ok(render(status, &page))
}

/// `GET /datasets/{ns}/{name}/access`.
pub async fn show(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let s = session_of(&state, &headers).await?.map(|(_, s)| s);
    access_page(
        &state,
        s.as_ref(),
        &ns,
        &name,
        StatusCode::OK,
        None,
        Default::default(),
    )
    .await
}

/// `POST /datasets/{ns}/{name}/access`: files the visitor's request; `q_{name}` are the answers.
pub async fn file(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm { signed_in, form }: CsrfForm<BTreeMap<String, String>>,
) -> ApiResult<Response> {
    let s = signed_in.session;
    let who = session_principal(&s)?;
    let answers: BTreeMap<String, String> = form
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix("q_").map(|k| (k.to_owned(), v)))
        .collect();
    match requests::file(&state, &who, &ns, &name, answers.clone()).await {
        Ok(_) => Ok(see_other(&format!("/datasets/{ns}/{name}/access"), &[])),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_server_error() {
                return Err(e);
            }
            access_page(
                &state,
                Some(&s),
                &ns,
                &name,
                e.status,
                Some(&e.message),
                answers,
            )
            .await
        }
    }
}

#[derive(Template)]
#[template(path = "access_queue.html")]
struct QueuePage {
    chrome: Chrome,
    dataset: String,
    gate: Gate,
    /// The questions as the form's text area holds them: `name: Label`, ` (optional)`.
    questions: String,
    pending: Vec<Request>,
    accepted: Vec<Request>,
    /// Declined and expired ones, newest first.
    closed: Vec<Request>,
    /// Each pending request's answers in the form's order: `(label, answer)`.
    answers: Vec<Vec<(String, String)>>,
}

/// The queue page, with `error` (or `notice`) where the content starts.
async fn queue_page(
    state: &AppState,
    s: &SessionRow,
    repo: &Gated,
    status: StatusCode,
    error: Option<&str>,
    notice: Option<&str>,
) -> ApiResult<Response> {
    let gate = access::gate_of(state, repo).await?;
    let page_of = |status| requests::list(state, repo, Some(status), 0, requests::MAX_BATCH as i64);
    let (pending, _) = page_of("pending").await?;
    let (accepted, _) = page_of("accepted").await?;
    let (mut closed, _) = page_of("rejected").await?;
    closed.extend(page_of("expired").await?.0);
    closed.sort_by_key(|r| std::cmp::Reverse(r.updated_at.clone()));
    let answers = pending
        .iter()
        .map(|r| {
            gate.questions
                .iter()
                .filter_map(|q| r.fields.get(&q.name).map(|a| (q.label.clone(), a.clone())))
                .collect()
        })
        .collect();
    let questions = gate
        .questions
        .iter()
        .map(|q| {
            let optional = if q.required { "" } else { " (optional)" };
            format!("{}: {}{optional}", q.name, q.label)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut chrome = Chrome::new(format!("Access to {}", repo.path()), Some(s), "datasets");
    if let Some(error) = error {
        chrome = chrome.error(error);
    }
    if let Some(notice) = notice {
        chrome = chrome.notice(notice);
    }
    let page = QueuePage {
        chrome,
        dataset: repo.path(),
        gate,
        questions,
        pending,
        accepted,
        closed,
        answers,
    };
    Ok(render(status, &page))
}

/// `GET /datasets/{ns}/{name}/settings/access`.
pub async fn queue(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    SignedIn { session, .. }: SignedIn,
) -> ApiResult<Response> {
    match admin_of(&state, session, &ns, &name).await {
        Ok((s, _, repo)) => queue_page(&state, &s, &repo, StatusCode::OK, None, None).await,
        Err(page) => Ok(page.into_response()),
    }
}

/// After an admin's form: the queue again, with what happened or what went wrong.
async fn after(
    state: &AppState,
    s: &SessionRow,
    repo: &Gated,
    done: Result<String, ApiError>,
) -> ApiResult<Response> {
    match done {
        Ok(notice) => queue_page(state, s, repo, StatusCode::OK, None, Some(&notice)).await,
        Err(e) if e.status.is_server_error() => Err(e),
        Err(e) => queue_page(state, s, repo, e.status, Some(&e.message), None).await,
    }
}

/// `POST /datasets/{ns}/{name}/settings/access/gate`: the gate's mode, form and rules.
pub async fn set_gate(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm { signed_in, form }: CsrfForm<BTreeMap<String, String>>,
) -> ApiResult<Response> {
    let (s, who, repo) = match admin_of(&state, signed_in.session, &ns, &name).await {
        Ok(found) => found,
        Err(page) => return Ok(page.into_response()),
    };
    let done = match gate_from(&form) {
        Ok(gate) => access::set_gate(&state, &who, &repo, gate)
            .await
            .map(|g| match g.mode {
                Some(m) => format!("The dataset is gated ({}).", m.as_str()),
                None => "The dataset is not gated.".to_owned(),
            })
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    after(&state, &s, &repo, done).await
}

/// The gate the form says.
fn gate_from(form: &BTreeMap<String, String>) -> ApiResult<Gate> {
    let field = |k: &str| form.get(k).map(|v| v.trim()).unwrap_or("");
    let days = |k: &str| -> ApiResult<Option<i64>> {
        match field(k) {
            "" => Ok(None),
            v => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::unprocessable(format!("{k}: a number of days"))),
        }
    };
    let mode = match field("mode") {
        "manual" => Some(Mode::Manual),
        "auto" => Some(Mode::Auto),
        "" | "off" => None,
        other => {
            return Err(ApiError::unprocessable(format!(
                "unknown mode {other:?}: off, manual or auto"
            )))
        }
    };
    let mut questions = Vec::new();
    for line in field("questions")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let Some((name, label)) = line.split_once(':') else {
            return Err(ApiError::unprocessable(format!(
                "question {line:?}: write it as name: Label"
            )));
        };
        let label = label.trim();
        let (label, required) = match label.strip_suffix("(optional)") {
            Some(l) => (l.trim(), false),
            None => (label, true),
        };
        questions.push(Question {
            name: name.trim().to_owned(),
            label: label.to_owned(),
            required,
        });
    }
    let default = Gate::default();
    Ok(Gate {
        mode,
        message: field("message").to_owned(),
        questions,
        auto_orgs: field("auto_orgs")
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect(),
        grant_days: days("grant_days")?,
        remind_days: days("remind_days")?.unwrap_or(default.remind_days),
        expire_days: days("expire_days")?.unwrap_or(default.expire_days),
    })
}

/// `POST /datasets/{ns}/{name}/settings/access/answer`: the ticked requests (`u_{user}`)
/// accepted (until `until`, a date), declined (with `reason`) or reopened.
pub async fn answer(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm { signed_in, form }: CsrfForm<BTreeMap<String, String>>,
) -> ApiResult<Response> {
    let (s, who, repo) = match admin_of(&state, signed_in.session, &ns, &name).await {
        Ok(found) => found,
        Err(page) => return Ok(page.into_response()),
    };
    let users: Vec<&str> = form.keys().filter_map(|k| k.strip_prefix("u_")).collect();
    let done = answer_all(&state, &who, &repo, &form, &users).await;
    after(&state, &s, &repo, done).await
}

async fn answer_all(
    state: &AppState,
    who: &Principal,
    repo: &Gated,
    form: &BTreeMap<String, String>,
    users: &[&str],
) -> Result<String, ApiError> {
    if users.is_empty() {
        return Err(ApiError::unprocessable("tick the requests to answer"));
    }
    if users.len() > requests::MAX_BATCH {
        return Err(ApiError::unprocessable(format!(
            "at most {} requests at once",
            requests::MAX_BATCH
        )));
    }
    let field = |k: &str| form.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let answer = match field("status") {
        Some("accepted") => Answer::Accept {
            expires_at: expiry(field("until").unwrap_or(""))?,
        },
        Some("rejected") => Answer::Reject {
            reason: field("reason").map(str::to_owned),
        },
        Some("pending") => Answer::Reopen,
        _ => return Err(ApiError::unprocessable("accept, decline or reopen")),
    };
    let mut failed = Vec::new();
    for user in users {
        if let Err(e) = requests::answer(state, who, repo, user, &answer).await {
            failed.push(format!("{user}: {}", e.message));
        }
    }
    let done = users.len() - failed.len();
    let what = match answer {
        Answer::Accept { .. } => "accepted",
        Answer::Reject { .. } => "declined",
        Answer::Reopen => "reopened",
    };
    if failed.is_empty() {
        Ok(format!("{done} request(s) {what}."))
    } else {
        Err(ApiError::unprocessable(format!(
            "{done} request(s) {what}; not {}",
            failed.join("; ")
        )))
    }
}
