//! Gated datasets: a public or internal dataset whose card, README and table schemas everyone
//! who may see it reads, and whose files, objects, tables and history only those read whose
//! access request was accepted (or who hold another grant: its organisation's members,
//! collaborators, shares). The gates decide (`crate::auth::access` counts an accepted request as
//! a read grant until it runs out; `crate::datasets::gate` answers a visitor who has none with a
//! refusal that says where to ask).
//!
//! A dataset's admins gate it ([`set_gate`]) with a form: a message and questions (name,
//! organisation, purpose and their own), and rules: `auto` accepts every request, `manual` waits
//! for an admin unless the requester is a member of one of the listed organisations; how long
//! an accepted request grants access; after how many days a pending request is reminded to the
//! admins, and then expires. Requests, answers, grants and the sweep are in [`requests`]; each
//! step is an event (`access.requested`, `access.accepted`, `access.rejected`, `access.reminded`,
//! `access.expired`) and a notification, and each change is audited.

pub mod requests;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::changed;
use crate::auth::{Action, On, Principal};
use crate::datasets::gate::{self, Gated};
use crate::datasets::{card, git_on};
use crate::db::{GateRow, Repo};
use crate::error::{Error, Kind, Result};
use crate::Core;

/// How requests are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// By an admin (or at once for members of the listed organisations).
    Manual,
    /// At once, for everyone who fills the form.
    Auto,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Manual => "manual",
            Mode::Auto => "auto",
        }
    }

    fn of(stored: &str) -> Option<Mode> {
        match stored {
            "manual" => Some(Mode::Manual),
            "auto" => Some(Mode::Auto),
            _ => None,
        }
    }
}

/// One question of the form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The answer's key: `a`–`z`, `0`–`9` and `_`, starting with a letter, at most 40.
    pub name: String,
    /// What the form asks.
    pub label: String,
    #[serde(default)]
    pub required: bool,
}

/// A dataset's gate: its mode (`None`: not gated; the form is kept) and form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gate {
    pub mode: Option<Mode>,
    pub message: String,
    pub questions: Vec<Question>,
    /// Organisations whose members' requests are accepted at once.
    pub auto_orgs: Vec<String>,
    /// Days an accepted request grants access (`None`: until revoked).
    pub grant_days: Option<i64>,
    /// Days after which a pending request is reminded to the admins.
    pub remind_days: i64,
    /// Days after which a pending request expires unanswered.
    pub expire_days: i64,
}

impl Default for Gate {
    fn default() -> Gate {
        let q = |name: &str, label: &str| Question {
            name: name.into(),
            label: label.into(),
            required: true,
        };
        Gate {
            mode: None,
            message: String::new(),
            questions: vec![
                q("name", "Your full name"),
                q("organization", "Your organisation"),
                q("purpose", "What you will use the data for"),
            ],
            auto_orgs: Vec::new(),
            grant_days: None,
            remind_days: 7,
            expire_days: 30,
        }
    }
}

/// The most questions a form has, and the longest message.
pub const MAX_QUESTIONS: usize = 20;
const MAX_MESSAGE: usize = 4000;

/// The gate of `repo`, as its form stands (the default form when it was never gated).
pub async fn gate_of(core: &Core, repo: &Repo) -> Result<Gate> {
    let mode = Mode::of(&repo.gated);
    let Some(row) = core.db.gate(repo.id).await? else {
        return Ok(Gate {
            mode,
            ..Gate::default()
        });
    };
    Ok(Gate {
        mode,
        message: row.message,
        questions: serde_json::from_str(&row.questions).map_err(Error::internal)?,
        auto_orgs: serde_json::from_str(&row.auto_orgs).map_err(Error::internal)?,
        grant_days: row.grant_days,
        remind_days: row.remind_days,
        expire_days: row.expire_days,
    })
}

/// Gates the dataset (`gate.mode` some) or ungates it (none), with this form; its admins only
/// (`repo` passed the admin gate). Only public and internal datasets are gated: a private one
/// is read only by those it is shared with already.
pub async fn set_gate(core: &Core, who: &Principal, repo: &Gated, gate: Gate) -> Result<Gate> {
    if gate.mode.is_some() && !(repo.is_public() || repo.is_internal()) {
        return Err(Error::unprocessable(format!(
            "{} is private: only public or internal datasets are gated (share a private one instead)",
            repo.path()
        )));
    }
    check(core, &gate).await?;
    let row = GateRow {
        repo_id: repo.id,
        message: gate.message.trim().to_owned(),
        questions: serde_json::to_string(&gate.questions).map_err(Error::internal)?,
        auto_orgs: serde_json::to_string(&gate.auto_orgs).map_err(Error::internal)?,
        grant_days: gate.grant_days,
        remind_days: gate.remind_days,
        expire_days: gate.expire_days,
        updated_at: 0,
    };
    let mode = gate.mode.map_or("", Mode::as_str);
    core.db.set_gate(repo.id, mode, Some(&row)).await?;
    changed(
        core,
        who,
        "dataset.gate.set",
        &repo.path(),
        json!({"mode": gate.mode, "questions": gate.questions.len(),
            "auto_orgs": gate.auto_orgs, "grant_days": gate.grant_days}),
    )
    .await?;
    Ok(Gate {
        message: row.message,
        ..gate
    })
}

/// Checks a form: its questions, organisations and days.
async fn check(core: &Core, gate: &Gate) -> Result<()> {
    if gate.questions.len() > MAX_QUESTIONS {
        return Err(Error::unprocessable(format!(
            "a form has at most {MAX_QUESTIONS} questions"
        )));
    }
    if gate.message.chars().count() > MAX_MESSAGE {
        return Err(Error::unprocessable(format!(
            "the message is at most {MAX_MESSAGE} characters"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for q in &gate.questions {
        let n = &q.name;
        let shaped = n.len() <= 40
            && n.starts_with(|c: char| c.is_ascii_lowercase())
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !shaped {
            return Err(Error::unprocessable(format!(
                "question name {n:?}: use a-z, 0-9 and _, starting with a letter, at most 40"
            )));
        }
        if !seen.insert(n.as_str()) {
            return Err(Error::unprocessable(format!(
                "question {n:?} is asked twice"
            )));
        }
        let label = q.label.trim();
        if label.is_empty() || label.chars().count() > 300 || label.chars().any(char::is_control) {
            return Err(Error::unprocessable(format!(
                "question {n:?}: its label is 1 to 300 characters on one line"
            )));
        }
    }
    if gate.auto_orgs.len() > 20 {
        return Err(Error::unprocessable("at most 20 organisations"));
    }
    for org in &gate.auto_orgs {
        crate::orgs::org_named(core, org).await?;
    }
    if gate.grant_days.is_some_and(|d| !(1..=3650).contains(&d)) {
        return Err(Error::unprocessable(
            "grant_days is 1 to 3650 (or null: until revoked)",
        ));
    }
    if !(1..=365).contains(&gate.expire_days) || !(1..gate.expire_days).contains(&gate.remind_days)
    {
        return Err(Error::unprocessable(
            "expire_days is 1 to 365, and remind_days at least 1 and fewer than expire_days",
        ));
    }
    Ok(())
}

/// A table's columns as the gate shows them: names, types and descriptions, never values.
#[derive(Debug, Clone, Serialize)]
pub struct TableSchema {
    pub name: String,
    pub path: String,
    pub bytes: u64,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
}

/// What a visitor of a gated dataset sees: its card, README and schemas, the form, and their
/// own request.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub dataset: String,
    pub gated: Option<Mode>,
    pub title: String,
    pub description: String,
    pub licence: String,
    pub keywords: Vec<String>,
    pub tables: Vec<TableSchema>,
    /// The README.md at the top of the default branch, as text (up to 256 KiB).
    pub readme: Option<String>,
    pub message: String,
    pub questions: Vec<Question>,
    /// Whether the caller may read the dataset (no request needed).
    pub access: bool,
    /// Whether the caller is one of its admins.
    pub admin: bool,
    pub request: Option<requests::Request>,
}

/// The preview of `{ns}/{name}` for `who`: anyone who may see the dataset (a stranger on a
/// public one, a signed-in user on an internal one, any reader). Refuses as the read gate does
/// otherwise.
pub async fn preview(core: &Core, who: &Principal, ns: &str, name: &str) -> Result<Preview> {
    let (repo, access, admin) = match gate::dataset(core, who, ns, name, Action::Read).await {
        Ok(g) => {
            let admin = !g.limited() && g.allows(On::Dataset, Action::Admin);
            (g.dataset.repo.clone(), true, admin)
        }
        Err(e) if is_gated(&e) => {
            let repo = core
                .db
                .repo_by_path(ns, name)
                .await?
                .ok_or_else(|| Error::not_found(format!("dataset {ns}/{name} not found")))?;
            (repo, false, false)
        }
        Err(e) => return Err(e),
    };
    let form = gate_of(core, &repo).await?;
    let card = card::card(core, &repo).await?.unwrap_or_default();
    let (tables, readme) = git_on(core, &repo, |ms, ds| {
        let package = match ms.fetch_any(ds, None) {
            Ok((_, p)) => p,
            Err(strata_metastore::Error::NotFound(_)) => return Ok((Vec::new(), None)),
            Err(e) => return Err(e),
        };
        let readme = match ms.read_file_upto(ds, None, "README.md", 256 << 10) {
            Ok((_, Some(bytes))) => String::from_utf8(bytes).ok(),
            _ => None,
        };
        Ok((package.map(|p| schemas(&p)).unwrap_or_default(), readme))
    })
    .await?;
    let request = match who {
        Principal::User { user, .. } => core
            .db
            .access_request(repo.id, user.id)
            .await?
            .map(requests::Request::from),
        _ => None,
    };
    Ok(Preview {
        dataset: repo.path(),
        gated: form.mode,
        title: card.title.clone(),
        description: card.description.clone(),
        licence: card.licence.clone(),
        keywords: card.keywords.clone(),
        tables,
        readme,
        message: form.message,
        questions: form.questions,
        access,
        admin,
        request,
    })
}

/// The tables of a datapackage with their columns (names, types, descriptions).
fn schemas(package: &strata_metastore::Package) -> Vec<TableSchema> {
    let listed = package.json.get("resources").and_then(|r| r.as_array());
    package
        .resources
        .iter()
        .map(|r| {
            let described = listed
                .and_then(|all| all.iter().find(|j| j["name"] == r.name.as_str()))
                .and_then(|j| j["schema"]["fields"].as_array());
            let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
            TableSchema {
                name: r.name.clone(),
                path: r.path.clone(),
                bytes: r.size,
                fields: described
                    .map(|fields| {
                        fields
                            .iter()
                            .map(|f| Field {
                                name: text(&f["name"]),
                                kind: match f["type"].as_str() {
                                    Some(t) => t.to_owned(),
                                    None => "any".into(),
                                },
                                description: text(&f["description"]),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// Whether `e` is the gate's answer to a visitor of a gated dataset who may not read it.
pub fn is_gated(e: &Error) -> bool {
    matches!(e.kind, Kind::Forbidden | Kind::Unauthenticated)
        && e.extra.as_ref().is_some_and(|x| x.get("gated").is_some())
}
