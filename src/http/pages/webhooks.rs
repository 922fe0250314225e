//! The webhooks pages: a dataset's (`/datasets/{ns}/{name}/settings/webhooks`, its admins'), the
//! visitor's own namespace's (`/settings/webhooks`) and an organisation's
//! (`/orgs/{org}/webhooks`, its owners'). Each lists the webhooks with their filters, state and
//! latest deliveries, and has a form to add one (its secret shown once), and buttons to pause,
//! resume, rotate the secret, delete and redeliver. The same domain calls as the REST API
//! (`strata_core::delivery::webhooks`); every form carries the session's CSRF token.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::forms::see_other;
use super::layout::{render, Chrome};
use super::show::{failed, when};
use super::signed_in::{PageResult, SignedIn};
use crate::http::csrf::CsrfForm;
use crate::http::extract::session_principal;
use crate::http::state::AppState;
use strata_core::db::SessionRow;
use strata_core::delivery::webhooks::{self, Delivery, Input, Target, Webhook};
use strata_core::error::{Error, Result};
use strata_core::events::KINDS;

/// Deliveries shown per webhook.
const SHOWN: i64 = 20;

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    /// What the webhooks hear of, in words ("alice/survey", "every dataset of acme").
    scope: String,
    /// This page's path (forms post here).
    here: String,
    /// Where to go back to.
    back: (String, String),
    hooks: Vec<(Webhook, Vec<(Delivery, String)>)>,
    kinds: &'static [&'static str],
    /// `(webhook id, secret)` made just now.
    secret: Option<(i64, String)>,
    /// What the add form held, when it was refused.
    prefill: Prefill,
}

#[derive(Default)]
struct Prefill {
    url: String,
    events: Vec<String>,
    branches: String,
    tags: String,
    paths: String,
}

/// Whose webhooks a page shows.
enum Whose {
    Dataset(String, String),
    Mine,
    Org(String),
}

impl Whose {
    fn target<'a>(&'a self, s: &'a SessionRow) -> Target<'a> {
        match self {
            Whose::Dataset(ns, name) => Target::Dataset { ns, name },
            Whose::Mine => Target::Namespace(&s.user.username),
            Whose::Org(org) => Target::Namespace(org),
        }
    }

    fn here(&self) -> String {
        match self {
            Whose::Dataset(ns, name) => format!("/datasets/{ns}/{name}/settings/webhooks"),
            Whose::Mine => "/settings/webhooks".into(),
            Whose::Org(org) => format!("/orgs/{org}/webhooks"),
        }
    }

    fn scope(&self, s: &SessionRow) -> (String, (String, String)) {
        match self {
            Whose::Dataset(ns, name) => (
                format!("{ns}/{name}"),
                (
                    format!("/datasets/{ns}/{name}/settings"),
                    "Settings and sharing".into(),
                ),
            ),
            Whose::Mine => (
                format!("every dataset of {}", s.user.username),
                ("/settings".into(), "Settings".into()),
            ),
            Whose::Org(org) => (
                format!("every dataset of {org}"),
                (format!("/orgs/{org}"), org.clone()),
            ),
        }
    }
}

/// The page, with `error` shown where the content starts.
async fn page(
    state: &AppState,
    s: &SessionRow,
    whose: &Whose,
    status: StatusCode,
    error: Option<String>,
    secret: Option<(i64, String)>,
    prefill: Prefill,
) -> Result<Response> {
    let who = session_principal(s).map_err(|e| Error::internal(e.message))?;
    let target = whose.target(s);
    let hooks = webhooks::logs(state, &who, target, SHOWN)
        .await?
        .into_iter()
        .map(|(w, deliveries)| {
            let deliveries = deliveries
                .into_iter()
                .map(|d| {
                    let at = when(d.updated_at);
                    (d, at)
                })
                .collect();
            (w, deliveries)
        })
        .collect();
    let (scope, back) = whose.scope(s);
    let mut chrome = Chrome::new(format!("Webhooks of {scope}"), Some(s), "settings");
    if let Some(e) = error {
        chrome = chrome.error(e);
    }
    Ok(render(
        status,
        &WebhooksPage {
            chrome,
            scope,
            here: whose.here(),
            back,
            hooks,
            kinds: KINDS,
            secret,
            prefill,
        },
    ))
}

async fn show(state: &AppState, s: &SessionRow, whose: Whose) -> Response {
    let title = "Webhooks";
    match page(
        state,
        s,
        &whose,
        StatusCode::OK,
        None,
        None,
        Prefill::default(),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => failed(Some(s), title, e),
    }
}

/// `GET /datasets/{ns}/{name}/settings/webhooks`.
pub async fn dataset(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    SignedIn { session: s, .. }: SignedIn,
) -> Response {
    show(&state, &s, Whose::Dataset(ns, name)).await
}

/// `GET /settings/webhooks`.
pub async fn mine(
    State(state): State<AppState>,
    SignedIn { session: s, .. }: SignedIn,
) -> Response {
    show(&state, &s, Whose::Mine).await
}

/// `GET /orgs/{org}/webhooks`.
pub async fn org(
    State(state): State<AppState>,
    Path(org): Path<String>,
    SignedIn { session: s, .. }: SignedIn,
) -> Response {
    show(&state, &s, Whose::Org(org)).await
}

type Pairs = Vec<(String, String)>;

/// `POST /datasets/{ns}/{name}/settings/webhooks`.
pub async fn change_dataset(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    form: CsrfForm<Pairs>,
) -> PageResult {
    Ok(change(&state, Whose::Dataset(ns, name), form).await)
}

/// `POST /settings/webhooks`.
pub async fn change_mine(State(state): State<AppState>, form: CsrfForm<Pairs>) -> PageResult {
    Ok(change(&state, Whose::Mine, form).await)
}

/// `POST /orgs/{org}/webhooks`.
pub async fn change_org(
    State(state): State<AppState>,
    Path(org): Path<String>,
    form: CsrfForm<Pairs>,
) -> PageResult {
    Ok(change(&state, Whose::Org(org), form).await)
}

/// Globs typed one per line or comma-separated.
fn globs(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One change by the form's `change`: `add`, `pause`, `resume`, `rotate`, `delete` or
/// `redeliver`.
async fn change(
    state: &AppState,
    whose: Whose,
    CsrfForm { signed_in, form }: CsrfForm<Pairs>,
) -> Response {
    let s = &signed_in.session;
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let number = |k: &str| field(k).parse::<i64>().unwrap_or(0);
    let who = match session_principal(s) {
        Ok(who) => who,
        Err(e) => return failed(Some(s), "Webhooks", Error::internal(e.message)),
    };
    let target = whose.target(s);
    let prefill = Prefill {
        url: field("url").to_owned(),
        events: form
            .iter()
            .filter(|(n, _)| n == "event")
            .map(|(_, v)| v.clone())
            .collect(),
        branches: field("branches").to_owned(),
        tags: field("tags").to_owned(),
        paths: field("paths").to_owned(),
    };
    let done: Result<Option<(i64, String)>> = match field("change") {
        "add" => {
            let input = Input {
                url: prefill.url.trim().to_owned(),
                events: prefill.events.clone(),
                branches: globs(&prefill.branches),
                tags: globs(&prefill.tags),
                paths: globs(&prefill.paths),
                format: None,
            };
            webhooks::create(state, &who, target, &input)
                .await
                .map(|(w, secret)| Some((w.id, secret)))
        }
        "rotate" => webhooks::rotate(state, &who, target, number("id"))
            .await
            .map(|(w, secret)| Some((w.id, secret))),
        "pause" | "resume" => {
            let active = field("change") == "resume";
            webhooks::set_active(state, &who, target, number("id"), active)
                .await
                .map(|_| None)
        }
        "delete" => webhooks::delete(state, &who, target, number("id"))
            .await
            .map(|()| None),
        "redeliver" => webhooks::redeliver(state, &who, target, number("id"), number("delivery"))
            .await
            .map(|()| None),
        other => Err(Error::unprocessable(format!("unknown change {other:?}"))),
    };
    let answer = match done {
        // A secret is shown once: on the page answering the form, never in a URL.
        Ok(Some(secret)) => {
            page(
                state,
                s,
                &whose,
                StatusCode::OK,
                None,
                Some(secret),
                Prefill::default(),
            )
            .await
        }
        Ok(None) => return see_other(&whose.here(), &[]),
        Err(e) => {
            let message = e.message.clone();
            let status = crate::http::error::ApiError::from(e).status;
            let keep = if field("change") == "add" {
                prefill
            } else {
                Prefill::default()
            };
            page(state, s, &whose, status, Some(message), None, keep).await
        }
    };
    answer.unwrap_or_else(|e| failed(Some(s), "Webhooks", e))
}
