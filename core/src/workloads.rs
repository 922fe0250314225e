//! Workloads registered over REST: a user's tool (one that is no strata app) declares its intent,
//! the datasets it reads and its protocol, as a FybrikApplication does, and gets a token for it:
//! read access to those datasets only, within the user's rights, carrying the workload as its
//! family. Policies see it as `input.subject.app` (its name) and `input.context.workload`, and its
//! intent as `input.context.intent` when a request names none. Deleting it ends its tokens.

use serde::Serialize;
use serde_json::json;

use crate::auth::{Need, Principal};
use crate::db::WorkloadRow;
use crate::error::{Error, Result};
use crate::Core;

/// What a registration asks for.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    pub name: String,
    pub intent: Option<String>,
    pub datasets: Vec<String>,
    pub protocol: Option<String>,
    /// How long its token lives, in days (1 to 365).
    pub ttl_days: i64,
}

/// A registered workload as its owner sees it; `token` only when it is made.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    pub name: String,
    pub intent: Option<String>,
    pub datasets: Vec<String>,
    pub protocol: Option<String>,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<WorkloadRow> for Workload {
    fn from(w: WorkloadRow) -> Workload {
        Workload {
            datasets: w.datasets.lines().map(str::to_owned).collect(),
            name: w.name,
            intent: w.intent,
            protocol: w.protocol,
            created_at: w.created_at,
            token: None,
        }
    }
}

/// The workload as policies see it (`input.context.workload`).
pub fn policy_view(w: &WorkloadRow) -> serde_json::Value {
    json!({"name": w.name, "intent": w.intent, "protocol": w.protocol, "registered": true,
        "datasets": w.datasets.lines().collect::<Vec<_>>()})
}

fn check(d: &Declared) -> Result<()> {
    let bad = |m: String| Err(Error::bad_request(m));
    let name_ok = !d.name.is_empty()
        && d.name.len() <= 40
        && d.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !d.name.starts_with('-');
    if !name_ok {
        return bad("name: 1 to 40 of a-z, 0-9 and -, not starting with -".into());
    }
    if d.intent
        .as_ref()
        .is_some_and(|i| i.trim().is_empty() || i.len() > 200)
    {
        return bad("intent: 1 to 200 characters".into());
    }
    if d.protocol
        .as_ref()
        .is_some_and(|p| p.is_empty() || p.len() > 40)
    {
        return bad("protocol: 1 to 40 characters".into());
    }
    if d.datasets.is_empty() || d.datasets.len() > 100 {
        return bad("datasets: 1 to 100 of ns/name".into());
    }
    for ds in &d.datasets {
        let ok = ds.split_once('/').is_some_and(|(ns, n)| {
            crate::names::check_namespace(ns).is_ok() && !n.is_empty() && !n.contains('/')
        });
        if !ok {
            return bad(format!("datasets: {ds:?} is not ns/name"));
        }
    }
    if !(1..=365).contains(&d.ttl_days) {
        return bad("ttl_days: 1 to 365".into());
    }
    Ok(())
}

/// Registers `d` for `who` (a session or a `*` token): the workload with its token, shown once.
pub async fn register(core: &Core, who: &Principal, d: Declared) -> Result<Workload> {
    // A token narrower than its user's rights cannot mint a wider one.
    let user = who.full_user()?.clone();
    check(&d)?;
    let row = WorkloadRow {
        id: format!("wl:{}", uuid::Uuid::new_v4()),
        user_id: user.id,
        name: d.name.clone(),
        intent: d.intent.clone(),
        datasets: d.datasets.join("\n"),
        protocol: d.protocol.clone(),
        created_at: crate::db::now(),
    };
    if !core.db.insert_workload(&row).await? {
        return Err(Error::conflict(format!(
            "you have a workload named {:?}: delete it first",
            d.name
        )));
    }
    // Read access to the declared datasets only (and never beyond the user's own rights).
    let scope: Vec<String> = d
        .datasets
        .iter()
        .map(|ds| format!("dataset:{ds}:read"))
        .collect();
    let mut claims = core
        .jwt
        .claims(&user.username, &scope.join(" "), d.ttl_days * 86_400);
    claims.uid = Some(user.id);
    claims.client_id = Some(format!("workload:{}", d.name));
    claims.fam = Some(row.id.clone());
    let token = core.jwt.sign(&claims).map_err(Error::internal)?;
    crate::audit::record(
        core,
        "workload.register",
        Some(&user.username),
        Some(&d.name),
        json!({"intent": d.intent, "datasets": d.datasets, "protocol": d.protocol}),
    )
    .await?;
    let mut w = Workload::from(row);
    w.token = Some(token);
    Ok(w)
}

/// `who`'s workloads.
pub async fn list(core: &Core, who: &Principal) -> Result<Vec<Workload>> {
    let user = core.require(who, Need::Account).await?;
    Ok(core
        .db
        .workloads_of(user.id)
        .await?
        .into_iter()
        .map(Workload::from)
        .collect())
}

/// Deletes `who`'s workload `name`: its tokens stop working at once.
pub async fn delete(core: &Core, who: &Principal, name: &str) -> Result<()> {
    let user = core.require(who, Need::Account).await?.clone();
    if !core.db.delete_workload(user.id, name).await? {
        return Err(Error::not_found(format!("you have no workload {name:?}")));
    }
    crate::audit::record(
        core,
        "workload.delete",
        Some(&user.username),
        Some(name),
        json!({}),
    )
    .await
}
