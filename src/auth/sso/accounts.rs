//! Who a provider's user is here, and what the rules give them.
//!
//! - An identity is the provider's issuer and stable subject, linked to one user. Email is never
//!   used to find an account: a provider that says "this is bob@example.com" gets a new account,
//!   not bob's.
//! - Linking an identity to an existing account takes being signed in to that account.
//! - A first sign-in makes an account when sign-up is `open`, or (`invite`, `admin`) when some
//!   rule matches the user. Its username comes from the provider's username (or the email's
//!   local part), cleaned to the namespace rules; a taken name (any case), a reserved one or an
//!   empty one gets a numbered or random suffix instead.
//! - At every sign-in the rules set the role and the organisation and team memberships. Only
//!   what the rules granted is taken back when they stop granting it; memberships added by hand
//!   stay. Every change is in the audit log.

use serde_json::json;

use super::rules::{evaluate, Outcome};
use super::{Claims, Provider};
use crate::config::Signup;
use crate::db::{is_unique_violation, Role, User};
use crate::error::{Error, Result};
use crate::state::AppState;

/// How a sign-in went.
#[derive(Debug)]
pub struct SignIn {
    pub user: User,
    /// A new account was made for this identity.
    pub created: bool,
    /// The identity was linked to the signed-in account.
    pub linked: bool,
}

async fn audit(state: &AppState, event: &str, user: &str, detail: serde_json::Value) -> Result<()> {
    let ip = crate::context::current().ip;
    state
        .db
        .audit(event, Some(user), Some(user), Some(&ip), &detail)
        .await?;
    Ok(())
}

/// Signs `who` in through `p`: the linked account, a new link to `link_to` (the account the
/// browser is signed in to, when it asked to link), or a new account; then the rules.
pub async fn sign_in(
    state: &AppState,
    p: &Provider,
    who: &Claims,
    link_to: Option<i64>,
) -> Result<SignIn> {
    if who.subject.is_empty() || who.issuer.is_empty() {
        return Err(Error::new(
            crate::error::Kind::Upstream,
            "the identity provider named no subject",
        ));
    }
    let outcome = evaluate(&p.rules, who);
    let existing = state.db.identity(&who.issuer, &who.subject).await?;
    let (user, created, linked, mapped_before) = match (existing, link_to) {
        (Some(identity), Some(uid)) if identity.user_id != uid => {
            return Err(Error::conflict(format!(
                "this {} account is already linked to another strata account",
                p.name
            )));
        }
        (Some(identity), _) => {
            let user = state
                .db
                .user_by_id(identity.user_id)
                .await?
                .ok_or_else(|| Error::internal("an identity without its user"))?;
            (user, false, false, identity.mapped_role)
        }
        (None, Some(uid)) => {
            let user = state
                .db
                .user_by_id(uid)
                .await?
                .ok_or_else(|| Error::unauthorized("sign in again"))?;
            link(state, p, who, user.id).await?;
            audit(
                state,
                "sso.link",
                &user.username,
                json!({"provider": p.id, "subject": who.subject, "login": who.login}),
            )
            .await?;
            (user, false, true, None)
        }
        (None, None) => {
            if state.settings.signup != Signup::Open && !outcome.matched {
                audit(
                    state,
                    "sso.refused",
                    &who.login,
                    json!({"provider": p.id, "subject": who.subject, "reason": "unmapped"}),
                )
                .await?;
                return Err(Error::forbidden(format!(
                    "your {} account has no access to this server: ask an administrator to map it",
                    p.name
                )));
            }
            let user = create(state, p, who).await?;
            (user, true, false, None)
        }
    };
    let mapped = apply(state, p, &user, mapped_before.as_deref(), &outcome).await?;
    state
        .db
        .identity_signed_in(
            &who.issuer,
            &who.subject,
            &who.login,
            mapped.map(Role::as_str),
        )
        .await?;
    let user = state.db.user_by_id(user.id).await?.unwrap_or(user);
    audit(
        state,
        "sso.login",
        &user.username,
        json!({
            "provider": p.id,
            "subject": who.subject,
            "login": who.login,
            "role": user.role.as_str(),
            "memberships": outcome.memberships,
        }),
    )
    .await?;
    Ok(SignIn {
        user,
        created,
        linked,
    })
}

async fn link(state: &AppState, p: &Provider, who: &Claims, user_id: i64) -> Result<()> {
    match state
        .db
        .link_identity(&who.issuer, &who.subject, &p.id, user_id, &who.login)
        .await
    {
        Err(e) if is_unique_violation(&e) => Err(Error::conflict(format!(
            "this {} account is already linked to another strata account",
            p.name
        ))),
        other => Ok(other?),
    }
}

/// A username made from what the provider calls the user: the namespace's characters only,
/// lower case, at most 48 characters, `user` when nothing is left.
pub fn base_username(who: &Claims) -> String {
    let from = if who.login.trim().is_empty() {
        who.email
            .as_deref()
            .and_then(|e| e.split('@').next())
            .unwrap_or("")
    } else {
        who.login.as_str()
    };
    let mut name = String::new();
    for c in from.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            c
        } else {
            '-'
        };
        if !(c == '-' && name.ends_with('-')) {
            name.push(c);
        }
        if name.len() >= 48 {
            break;
        }
    }
    let mut name = name
        .trim_start_matches(['.', '-'])
        .trim_end_matches(['.', '-'])
        .to_owned();
    while name.ends_with(".git") {
        name.truncate(name.len() - 4);
        name = name.trim_end_matches(['.', '-']).to_owned();
    }
    if name.is_empty() {
        "user".into()
    } else {
        name
    }
}

async fn create(state: &AppState, p: &Provider, who: &Claims) -> Result<User> {
    let base = base_username(who);
    let mut candidates: Vec<String> = std::iter::once(base.clone())
        .chain((2..=20).map(|n| format!("{base}-{n}")))
        .collect();
    candidates.push(format!("{base}-{}", crate::auth::secrets::random_hex(4)));
    // Only an address the provider says it verified is kept; it finds no account either way.
    let email = who.email.as_deref().filter(|_| who.email_verified);
    for name in candidates {
        if crate::names::check_namespace(&name).is_err() || state.db.namespace_taken(&name).await? {
            continue;
        }
        let user = match state.db.create_user(&name, email, false).await {
            Ok(user) => user,
            Err(e) if is_unique_violation(&e) => continue,
            Err(e) => return Err(e.into()),
        };
        if let Err(e) = link(state, p, who, user.id).await {
            // Another sign-in of the same identity won the race: keep its account.
            state.db.delete_user(user.id).await?;
            return match state.db.identity(&who.issuer, &who.subject).await? {
                Some(i) => state
                    .db
                    .user_by_id(i.user_id)
                    .await?
                    .ok_or_else(|| Error::internal("an identity without its user")),
                None => Err(e),
            };
        }
        audit(
            state,
            "sso.signup",
            &user.username,
            json!({"provider": p.id, "subject": who.subject, "login": who.login}),
        )
        .await?;
        return Ok(user);
    }
    Err(Error::conflict(
        "no free username could be made for this account: ask an administrator",
    ))
}

/// Applies the rules' role and memberships; the role the rules set (to remember), if any.
async fn apply(
    state: &AppState,
    p: &Provider,
    user: &User,
    mapped_before: Option<&str>,
    outcome: &Outcome,
) -> Result<Option<Role>> {
    let target = outcome.role.or(p.default_role);
    let role = match (target, mapped_before) {
        (Some(role), _) => Some(role),
        // The rules gave a role before and give none now: back to the platform default.
        (None, Some(_)) => Some(Role::Scientist),
        (None, None) => None,
    };
    if let Some(role) = role {
        let now = Role::of(user);
        if now != role || (user.is_admin != 0 && role != Role::Admin) {
            state.db.set_role(user.id, role.as_str()).await?;
            audit(
                state,
                "sso.role",
                &user.username,
                json!({"provider": p.id, "from": now.as_str(), "to": role.as_str()}),
            )
            .await?;
        }
    }
    memberships(state, p, user, outcome).await?;
    Ok(target)
}

async fn memberships(state: &AppState, p: &Provider, user: &User, outcome: &Outcome) -> Result<()> {
    let issuer = p.issuer_key();
    let mut wanted = Vec::new();
    for (org_name, team) in &outcome.memberships {
        let Some(org) = state.db.org_by_name(org_name).await? else {
            tracing::warn!(provider = %p.id, org = %org_name, "a rule names an organisation that does not exist");
            continue;
        };
        let team_id = match team {
            None => 0,
            Some(t) => match state.db.team_id(org.id, t).await? {
                Some(id) => id,
                None => {
                    tracing::warn!(provider = %p.id, org = %org_name, team = %t, "a rule names a team that does not exist");
                    continue;
                }
            },
        };
        wanted.push((org.id, team_id, org_name.as_str(), team.as_deref()));
    }
    let granted = state.db.sso_memberships(user.id, &issuer).await?;
    for &(org_id, team_id, org, team) in &wanted {
        if granted.contains(&(org_id, team_id)) {
            continue;
        }
        let added = if team_id == 0 {
            let absent = state.db.org_role(org_id, user.id).await?.is_none();
            if absent {
                state.db.set_org_member(org_id, user.id, "member").await?;
            }
            absent
        } else {
            state.db.add_team_member(team_id, user.id).await?
        };
        if added {
            state
                .db
                .record_sso_membership(user.id, &issuer, org_id, team_id)
                .await?;
            audit(
                state,
                "sso.membership.add",
                &user.username,
                json!({"provider": p.id, "org": org, "team": team}),
            )
            .await?;
        }
    }
    for (org_id, team_id) in granted {
        if wanted
            .iter()
            .any(|&(o, t, _, _)| (o, t) == (org_id, team_id))
        {
            continue;
        }
        if team_id == 0 {
            // An owner was made one by hand since: that stays.
            if state.db.org_role(org_id, user.id).await?.as_deref() == Some("member") {
                state.db.remove_org_member(org_id, user.id).await?;
            }
        } else {
            state.db.remove_team_member(team_id, user.id).await?;
        }
        state
            .db
            .forget_sso_membership(user.id, &issuer, org_id, team_id)
            .await?;
        audit(
            state,
            "sso.membership.remove",
            &user.username,
            json!({"provider": p.id, "org_id": org_id, "team_id": team_id}),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(login: &str, email: Option<&str>) -> String {
        base_username(&Claims {
            login: login.into(),
            email: email.map(str::to_owned),
            ..Claims::default()
        })
    }

    #[test]
    fn usernames_are_cleaned() {
        assert_eq!(name("Alice", None), "alice");
        assert_eq!(name("Zoë Smith", None), "zo-smith");
        assert_eq!(name("", Some("Bob.Jones@example.com")), "bob.jones");
        assert_eq!(name("../..", None), "user");
        assert_eq!(name("-x.git", None), "x");
        assert_eq!(name("日本", None), "user");
        assert_eq!(name(&"a".repeat(300), None).len(), 48);
    }
}
