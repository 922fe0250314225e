//! Delta Sharing recipients: who reads a namespace's shares from outside strata (a partner, a
//! regulator, a customer) or as a strata user or team through Delta Sharing clients. Each has a
//! bearer token (`sdr_…`, shown once in its profile file; the database keeps its sha256), the
//! shares it reads, and what policies see of it: its name (`subject.recipient`), its
//! organisation, its declared purpose (the intent of every read), and for a user or a team
//! their groups. A namespace's recipients are managed by that user, or by an owner of that
//! organisation. Revoking or rotating ends the old token at once on every replica (the database
//! is asked on every call); an expiry or an address allow-list is checked on every call too.

use serde_json::{json, Value};
use strata_policy::Subject;

use crate::auth::{secrets, Need, Principal};
use crate::db::{now, DeltaShare, NewRecipient, Recipient, User};
use crate::error::{Error, Result};
use crate::Core;

/// What every recipient token starts with.
pub const PREFIX: &str = "sdr_";

/// Recipients and shares one namespace has at most.
const MOST: usize = 1000;

/// The namespace `ns` names, as stored, if `who` manages its shares and recipients: the user
/// themselves, an owner of the organisation, or a site admin.
pub async fn managed(core: &Core, who: &Principal, ns: &str) -> Result<(String, User)> {
    let user = core.require(who, Need::Account).await?.clone();
    if let Some(org) = core.db.org_by_name(ns).await? {
        core.require(who, Need::OrgOwner(&org)).await?;
        return Ok((org.name, user));
    }
    match core.db.user_by_name(ns).await? {
        Some(u) if u.id == user.id || user.admin() => Ok((u.username, user)),
        Some(_) => Err(Error::forbidden(format!(
            "only {ns} manages the shares and recipients of {ns}"
        ))),
        None => Err(Error::not_found(format!(
            "no user or organisation named {ns}"
        ))),
    }
}

/// A name of the protocol (share, schema, table) or of a recipient, in lower case: 1 to 128
/// letters, digits, `_` and `-` (clients split table URLs on `.` and `#`, and compare names
/// without case).
pub fn check_name(what: &str, name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        return Err(Error::unprocessable(format!(
            "{what} name {name:?} must be 1 to 128 letters, digits, '_' or '-'"
        )));
    }
    Ok(name.to_ascii_lowercase())
}

/// A new recipient, or what changes.
#[derive(Debug, Clone, Default)]
pub struct RecipientInput {
    pub name: String,
    pub organization: String,
    pub purpose: String,
    /// A strata user the recipient stands for (policies see their groups), or a team `org/team`.
    pub user: Option<String>,
    pub team: Option<String>,
    /// Shares of the namespace it reads.
    pub shares: Vec<String>,
    /// Addresses or CIDR blocks it may call from (empty: any).
    pub ip_allow: Vec<String>,
    pub expires_at: Option<i64>,
}

/// A recipient and the names of the shares it reads.
#[derive(Debug, Clone)]
pub struct Listed {
    pub recipient: Recipient,
    pub shares: Vec<String>,
}

/// A recipient with its profile file (endpoint and token), shown this once.
#[derive(Debug, Clone)]
pub struct Issued {
    pub listed: Listed,
    pub profile: Value,
}

/// Makes a recipient of namespace `ns`.
pub async fn create(
    core: &Core,
    who: &Principal,
    ns: &str,
    input: RecipientInput,
) -> Result<Issued> {
    let (ns, by) = managed(core, who, ns).await?;
    let name = check_name("recipient", &input.name)?;
    if core.db.recipients(&ns).await?.len() >= MOST {
        return Err(Error::unprocessable(format!(
            "{ns} has {MOST} recipients, the most a namespace has: revoke one first"
        )));
    }
    let ip_allow = allow_list(&input.ip_allow)?;
    if input.expires_at.is_some_and(|t| t <= now()) {
        return Err(Error::unprocessable("the expiry must be in the future"));
    }
    let (user_id, team_id) = stands_for(core, &input).await?;
    let shares = shares_named(core, &ns, &input.shares).await?;
    for (what, v) in [
        ("organization", &input.organization),
        ("purpose", &input.purpose),
    ] {
        if v.chars().count() > 200 || v.chars().any(char::is_control) {
            return Err(Error::unprocessable(format!(
                "the {what} is at most 200 characters, none of them control characters"
            )));
        }
    }
    let token = new_token();
    let new = NewRecipient {
        namespace: &ns,
        name: &name,
        organization: input.organization.trim(),
        purpose: input.purpose.trim(),
        user_id,
        team_id,
        ip_allow,
        expires_at: input.expires_at,
        created_by: Some(by.id),
    };
    let Some(id) = core
        .db
        .put_recipient(&new, &secrets::stored(&token))
        .await?
    else {
        return Err(Error::conflict(format!(
            "{ns} has a recipient named {name}"
        )));
    };
    let ids: Vec<i64> = shares.iter().map(|s| s.id).collect();
    core.db.set_recipient_shares(id, &ids).await?;
    let detail = json!({"recipient": name, "shares": input.shares, "expires_at": input.expires_at});
    crate::audit::by(core, "delta_sharing.recipient.create", &by, &ns, detail).await?;
    issued(core, id, &token).await
}

/// The user or team a recipient stands for, by id.
async fn stands_for(core: &Core, input: &RecipientInput) -> Result<(Option<i64>, Option<i64>)> {
    match (&input.user, &input.team) {
        (Some(_), Some(_)) => Err(Error::unprocessable(
            "a recipient stands for a user or a team, not both",
        )),
        (Some(u), None) => match core.db.user_by_name(u).await? {
            Some(u) => Ok((Some(u.id), None)),
            None => Err(Error::unprocessable(format!("no user named {u}"))),
        },
        (None, Some(t)) => {
            let missing = || Error::unprocessable(format!("no team {t:?} (name it org/team)"));
            let (org, team) = t.split_once('/').ok_or_else(missing)?;
            let org = core.db.org_by_name(org).await?.ok_or_else(missing)?;
            let id = core.db.team_id(org.id, team).await?.ok_or_else(missing)?;
            Ok((None, Some(id)))
        }
        (None, None) => Ok((None, None)),
    }
}

/// The shares of `ns` named (each must exist).
async fn shares_named(core: &Core, ns: &str, names: &[String]) -> Result<Vec<DeltaShare>> {
    let mut out: Vec<DeltaShare> = Vec::new();
    for n in names {
        let n = n.to_ascii_lowercase();
        match core.db.delta_share(ns, &n).await? {
            Some(s) if !out.iter().any(|o| o.id == s.id) => out.push(s),
            Some(_) => {}
            None => return Err(Error::unprocessable(format!("{ns} has no share named {n}"))),
        }
    }
    Ok(out)
}

/// The allow-list as stored: each entry an address or a CIDR block.
fn allow_list(entries: &[String]) -> Result<Option<String>> {
    if entries.is_empty() {
        return Ok(None);
    }
    if entries.len() > 100 {
        return Err(Error::unprocessable(
            "an allow-list has at most 100 entries",
        ));
    }
    let mut nets = Vec::new();
    for e in entries {
        let e = e.trim();
        let net = e
            .parse::<ipnet::IpNet>()
            .or_else(|_| e.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                Error::unprocessable(format!(
                    "{e:?} is not an address or a CIDR block (such as 203.0.113.0/24)"
                ))
            })?;
        nets.push(net.to_string());
    }
    Ok(Some(json!(nets).to_string()))
}

fn new_token() -> String {
    format!("{PREFIX}{}", secrets::random_hex(24))
}

/// The recipient `id` with a profile file holding `token`.
async fn issued(core: &Core, id: i64, token: &str) -> Result<Issued> {
    let listed = listed(core, id).await?;
    let profile = profile(core, token, listed.recipient.expires_at);
    Ok(Issued { listed, profile })
}

async fn listed(core: &Core, id: i64) -> Result<Listed> {
    let recipient = core
        .db
        .recipient_by_id(id)
        .await?
        .ok_or_else(|| Error::not_found("no such recipient"))?;
    let shares = core.db.recipient_shares(id).await?;
    Ok(Listed {
        recipient,
        shares: shares.into_iter().map(|s| s.name).collect(),
    })
}

/// The profile file Delta Sharing clients read: where the server is, and the token.
pub fn profile(core: &Core, token: &str, expires_at: Option<i64>) -> Value {
    let mut p = json!({
        "shareCredentialsVersion": 1,
        "endpoint": format!("{}/api/delta-sharing", core.settings.public_url),
        "bearerToken": token,
    });
    if let Some(t) = expires_at.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok()) {
        let format = time::format_description::well_known::Rfc3339;
        p["expirationTime"] = json!(t.format(&format).unwrap_or_default());
    }
    p
}

/// A namespace's recipients.
pub async fn list(core: &Core, who: &Principal, ns: &str) -> Result<Vec<Listed>> {
    let (ns, _) = managed(core, who, ns).await?;
    let mut out = Vec::new();
    for r in core.db.recipients(&ns).await? {
        out.push(listed(core, r.id).await?);
    }
    Ok(out)
}

/// One recipient of a namespace (404 for another's).
pub async fn get(core: &Core, who: &Principal, ns: &str, name: &str) -> Result<Listed> {
    let (ns, _) = managed(core, who, ns).await?;
    let r = one(core, &ns, name).await?;
    listed(core, r.id).await
}

async fn one(core: &Core, ns: &str, name: &str) -> Result<Recipient> {
    core.db
        .recipient(ns, &name.to_ascii_lowercase())
        .await?
        .ok_or_else(|| Error::not_found(format!("{ns} has no recipient named {name}")))
}

/// Sets the shares a recipient reads.
pub async fn set_shares(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
    names: &[String],
) -> Result<Listed> {
    let (ns, by) = managed(core, who, ns).await?;
    let r = one(core, &ns, name).await?;
    let shares = shares_named(core, &ns, names).await?;
    let ids: Vec<i64> = shares.iter().map(|s| s.id).collect();
    core.db.set_recipient_shares(r.id, &ids).await?;
    let detail = json!({"recipient": r.name, "shares": names});
    crate::audit::by(core, "delta_sharing.recipient.shares", &by, &ns, detail).await?;
    listed(core, r.id).await
}

/// A new token for a recipient (the old one stops at once), and a new expiry if `expires_at`
/// is given (`Some(None)`: none).
pub async fn rotate(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
    expires_at: Option<Option<i64>>,
) -> Result<Issued> {
    let (ns, by) = managed(core, who, ns).await?;
    let r = one(core, &ns, name).await?;
    if r.revoked_at.is_some() {
        return Err(Error::conflict(format!(
            "recipient {} is revoked: make a new one",
            r.name
        )));
    }
    if expires_at.flatten().is_some_and(|t| t <= now()) {
        return Err(Error::unprocessable("the expiry must be in the future"));
    }
    let token = new_token();
    core.db
        .rotate_recipient(r.id, &secrets::stored(&token), expires_at)
        .await?;
    let detail = json!({"recipient": r.name, "expires_at": expires_at});
    crate::audit::by(core, "delta_sharing.recipient.rotate", &by, &ns, detail).await?;
    issued(core, r.id, &token).await
}

/// Revokes a recipient: its token is refused from the next call on.
pub async fn revoke(core: &Core, who: &Principal, ns: &str, name: &str) -> Result<()> {
    let (ns, by) = managed(core, who, ns).await?;
    let r = one(core, &ns, name).await?;
    core.db.revoke_recipient(r.id).await?;
    let detail = json!({"recipient": r.name});
    crate::audit::by(core, "delta_sharing.recipient.revoke", &by, &ns, detail).await?;
    Ok(())
}

/// The live recipient a bearer token belongs to, calling from an address it may call from: a
/// wrong, revoked or expired token is 401 (alike: nothing says which), an address outside the
/// allow-list 403.
pub async fn authenticate(core: &Core, secret: &str) -> Result<Recipient> {
    let refused = || Error::unauthorized("the bearer token is not a live recipient token");
    if !secret.starts_with(PREFIX) || secret.len() != PREFIX.len() + 48 {
        return Err(refused());
    }
    let r = core
        .db
        .recipient_by_token(&secrets::stored(secret))
        .await?
        .filter(Recipient::live)
        .ok_or_else(refused)?;
    if let Some(list) = &r.ip_allow {
        let nets: Vec<ipnet::IpNet> = serde_json::from_str::<Vec<String>>(list)
            .unwrap_or_default()
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        let ip = crate::context::current().ip;
        let from = ip.parse::<std::net::IpAddr>().ok();
        if !from.is_some_and(|a| nets.iter().any(|n| n.contains(&a))) {
            return Err(Error::forbidden(format!(
                "this recipient may not call from {ip}"
            )));
        }
    }
    Ok(r)
}

/// The recipient as policies see it: its name, organisation and purpose, and the groups of the
/// user or team it stands for.
pub async fn subject(core: &Core, r: &Recipient) -> Result<Subject> {
    let mut s = Subject {
        recipient: Some(r.name.clone()),
        purpose: (!r.purpose.is_empty()).then(|| r.purpose.clone()),
        ..Subject::default()
    };
    if !r.organization.is_empty() {
        s.organizations.push(r.organization.clone());
    }
    if let Some(user) = match r.user_id {
        Some(id) => core.db.user_by_id(id).await?,
        None => None,
    } {
        for g in core.db.groups_of(user.id).await? {
            match g.contains('/') {
                true => s.teams.push(g),
                false => s.organizations.push(g),
            }
        }
        s.user = Some(user.username);
        s.roles = vec![user.role.as_str().to_owned()];
    }
    if let (Some(_), Some(team)) = (r.team_id, &r.stands_for) {
        s.teams.push(team.clone());
        if let Some((org, _)) = team.split_once('/') {
            s.organizations.push(org.to_owned());
        }
    }
    s.organizations.sort();
    s.organizations.dedup();
    Ok(s)
}
