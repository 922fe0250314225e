//! The "Share outside" panel of a dataset (`/datasets/{ns}/{name}/share-outside`): for those who
//! manage its namespace's Delta Sharing (the user, an owner of the organisation, a site admin),
//! the shares that hold its tables, a form that puts one of its tables in a share (new or
//! existing; some columns only, at a branch or tag), the recipients that read those shares with
//! their use (queries, last call) and state, a form that makes a recipient, and its rotation and
//! revocation. A profile file (a new recipient's, or a rotated one's) is shown once, to copy or
//! download. The same domain calls as the REST API (`strata_core::sharing::recipients`,
//! `strata_core::compat::delta_sharing::shares`); every form carries the CSRF token.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::dataset_settings::admin_of;
use super::dataset_settings::expiry;
use super::layout::{render, Chrome};
use super::show::{failed, when};
use super::signed_in::SignedIn;
use crate::http::csrf::CsrfForm;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::session_principal;
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::compat::delta_sharing::shares::{self, TableInput};
use strata_core::datasets::gate::Gated;
use strata_core::db::SessionRow;
use strata_core::sharing::recipients::{self, RecipientInput};

/// A share's table of this dataset, as the panel lists it.
struct TableLine {
    share: String,
    schema: String,
    name: String,
    resource: String,
    at: String,
    columns: String,
}

/// A recipient of one of those shares.
struct RecipientLine {
    name: String,
    organization: String,
    purpose: String,
    shares: String,
    /// `live`, `revoked` or `expired`.
    state: &'static str,
    until: String,
    queries: i64,
    last_used: String,
}

#[derive(Template)]
#[template(path = "outside.html")]
struct OutsidePage {
    chrome: Chrome,
    dataset: String,
    namespace: String,
    /// The dataset's tables (resources).
    resources: Vec<String>,
    /// Every share of the namespace (the share field completes them).
    all_shares: Vec<String>,
    /// The shares holding a table of this dataset.
    shares: Vec<String>,
    tables: Vec<TableLine>,
    recipients: Vec<RecipientLine>,
    /// A profile file shown once: `(recipient, JSON)`.
    profile: Option<(String, String)>,
}

/// The panel, with `error` or `notice` where the content starts and a profile to show once.
async fn panel(
    state: &AppState,
    s: &SessionRow,
    repo: &Gated,
    status: StatusCode,
    said: Said,
) -> ApiResult<Response> {
    let who = session_principal(s)?;
    let title = format!("Share {} outside", repo.path());
    let ns = repo.namespace.clone();
    let listed = match shares::list(state, &who, &ns).await {
        Ok(l) => l,
        Err(e) => return Ok(failed(Some(s), &title, e)),
    };
    let resources = match strata_core::tables::list(state, repo, None).await {
        Ok((_, tables)) => tables.into_iter().map(|t| t.name).collect(),
        Err(_) => Vec::new(),
    };
    let mut tables = Vec::new();
    let mut held = Vec::new();
    for l in &listed {
        for t in l.tables.iter().filter(|t| t.repo_id == repo.id) {
            let columns: Option<Vec<String>> = t
                .columns
                .as_deref()
                .and_then(|c| serde_json::from_str(c).ok());
            tables.push(TableLine {
                share: l.share.name.clone(),
                schema: t.schema_name.clone(),
                name: t.name.clone(),
                resource: t.resource.clone(),
                at: t
                    .at_ref
                    .clone()
                    .unwrap_or_else(|| "the default branch".into()),
                columns: columns.map_or("all the policies leave".into(), |c| c.join(", ")),
            });
            if !held.contains(&l.share.name) {
                held.push(l.share.name.clone());
            }
        }
    }
    let recipients = recipients::list(state, &who, &ns)
        .await?
        .into_iter()
        .filter(|r| r.shares.iter().any(|s| held.contains(s)))
        .map(|r| {
            let c = r.recipient;
            let state = if c.revoked_at.is_some() {
                "revoked"
            } else if c.live() {
                "live"
            } else {
                "expired"
            };
            RecipientLine {
                state,
                until: c.expires_at.map_or("no end".into(), when),
                last_used: c.last_used_at.map_or("never".into(), when),
                queries: c.queries,
                shares: r.shares.join(", "),
                name: c.name,
                organization: c.organization,
                purpose: c.purpose,
            }
        })
        .collect();
    let mut chrome = Chrome::new(title, Some(s), "datasets");
    match said.words {
        Some(Ok(notice)) => chrome = chrome.notice(notice),
        Some(Err(error)) => chrome = chrome.error(error),
        None => {}
    }
    let page = OutsidePage {
        chrome,
        dataset: repo.path(),
        namespace: ns,
        resources,
        all_shares: listed.into_iter().map(|l| l.share.name).collect(),
        shares: held,
        tables,
        recipients,
        profile: said.profile,
    };
    Ok(render(status, &page))
}

/// What the panel says after a form: a notice or an error, and a profile to show once.
#[derive(Default)]
struct Said {
    words: Option<Result<String, String>>,
    profile: Option<(String, String)>,
}

/// `GET /datasets/{ns}/{name}/share-outside`.
pub async fn show(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    SignedIn { session, .. }: SignedIn,
) -> ApiResult<Response> {
    match admin_of(&state, session, &ns, &name).await {
        Ok((s, _, repo)) => panel(&state, &s, &repo, StatusCode::OK, Said::default()).await,
        Err(page) => Ok(page.into_response()),
    }
}

/// `POST /datasets/{ns}/{name}/share-outside`: `change` is `table`, `untable`, `recipient`,
/// `rotate` or `revoke`.
pub async fn change(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm { signed_in, form }: CsrfForm<BTreeMap<String, String>>,
) -> ApiResult<Response> {
    let (s, who, repo) = match admin_of(&state, signed_in.session, &ns, &name).await {
        Ok(found) => found,
        Err(page) => return Ok(page.into_response()),
    };
    let said = act(&state, &who, &repo, &form).await;
    let status = match &said.words {
        Some(Err(_)) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    panel(&state, &s, &repo, status, said).await
}

/// Does what the form says.
async fn act(
    state: &AppState,
    who: &Principal,
    repo: &Gated,
    form: &BTreeMap<String, String>,
) -> Said {
    let field = |k: &str| form.get(k).map(|v| v.trim()).unwrap_or("").to_owned();
    let list = |k: &str| -> Vec<String> {
        field(k)
            .split([',', ' ', '\n'])
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let ns = repo.namespace.clone();
    let done: Result<(String, Option<(String, String)>), ApiError> = async {
        match field("change").as_str() {
            "table" => {
                let share = field("share");
                let exists = shares::get(state, who, &ns, &share).await.is_ok();
                if !exists {
                    shares::create(state, who, &ns, &share, "").await?;
                }
                let resource = field("resource");
                let columns = list("columns");
                let input = TableInput {
                    schema: Some(field("schema"))
                        .filter(|s| !s.is_empty())
                        .unwrap_or("default".into()),
                    name: Some(field("table"))
                        .filter(|s| !s.is_empty())
                        .unwrap_or(resource.clone()),
                    dataset: repo.name.clone(),
                    resource,
                    at: Some(field("at")).filter(|a| !a.is_empty()),
                    columns: (!columns.is_empty()).then_some(columns),
                    ..Default::default()
                };
                let t = shares::add_table(state, who, &ns, &share, input).await?;
                Ok((
                    format!("Shared as {}.{}.{}.", share, t.schema_name, t.name),
                    None,
                ))
            }
            "untable" => {
                let (share, schema, table) = (field("share"), field("schema"), field("table"));
                shares::remove_table(state, who, &ns, &share, &schema, &table).await?;
                Ok((format!("{schema}.{table} is no longer in {share}."), None))
            }
            "recipient" => {
                let expires_at = expiry(&field("expires"))?;
                let input = RecipientInput {
                    name: field("name"),
                    organization: field("organization"),
                    purpose: field("purpose"),
                    shares: form
                        .keys()
                        .filter_map(|k| k.strip_prefix("s_").map(str::to_owned))
                        .collect(),
                    ip_allow: list("ip_allow"),
                    expires_at,
                    ..Default::default()
                };
                let issued = recipients::create(state, who, &ns, input).await?;
                let name = issued.listed.recipient.name.clone();
                let text = serde_json::to_string_pretty(&issued.profile).unwrap_or_default();
                Ok((
                    format!("Recipient {name} made: save its profile file now."),
                    Some((name, text)),
                ))
            }
            "rotate" => {
                let issued = recipients::rotate(state, who, &ns, &field("name"), None).await?;
                let name = issued.listed.recipient.name.clone();
                let text = serde_json::to_string_pretty(&issued.profile).unwrap_or_default();
                Ok((
                    format!("{name}'s old token stopped working: give it the new profile file."),
                    Some((name, text)),
                ))
            }
            "revoke" => {
                let name = field("name");
                recipients::revoke(state, who, &ns, &name).await?;
                Ok((
                    format!("{name} is revoked: its next call is refused."),
                    None,
                ))
            }
            other => Err(ApiError::unprocessable(format!("unknown change {other:?}"))),
        }
    }
    .await;
    match done {
        Ok((notice, profile)) => Said {
            words: Some(Ok(notice)),
            profile,
        },
        Err(e) => Said {
            words: Some(Err(e.message)),
            profile: None,
        },
    }
}
