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
//! - At every sign-in through a provider its rules set the role and the organisation and team
//!   memberships. The role is the highest any of the user's providers' rules gave at their last
//!   sign-in (`default_role` counts only for accounts the provider made or roles it set before,
//!   so linking an account never demotes it), and the last admin is never demoted. Only what the
//!   rules granted is taken back when no provider's rules grant it any more; memberships added by
//!   hand stay. Unlinking a provider takes back what its rules gave. Every change is audited.

use serde_json::json;

use super::rules::{evaluate, Outcome};
use super::{Claims, Provider};
use crate::config::Signup;
use crate::db::{Role, User};
use crate::error::{Error, Result};
use crate::Core;

/// How a sign-in went.
#[derive(Debug)]
pub struct SignIn {
    pub user: User,
    /// A new account was made for this identity.
    pub created: bool,
    /// The identity was linked to the signed-in account.
    pub linked: bool,
}

async fn audit(core: &Core, event: &str, user: &str, detail: serde_json::Value) -> Result<()> {
    crate::audit::record(core, event, Some(user), Some(user), detail).await
}

/// Signs `who` in through `p`: the linked account, a new link to `link_to` (the account the
/// browser is signed in to, when it asked to link), or a new account; then the rules.
pub async fn sign_in(
    core: &Core,
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
    let existing = core.db.identity(&who.issuer, &who.subject).await?;
    let (user, created, linked, mapped_before) = match (existing, link_to) {
        (Some(identity), Some(uid)) if identity.user_id != uid => {
            return Err(Error::conflict(format!(
                "this {} account is already linked to another strata account",
                p.name
            )));
        }
        (Some(identity), _) => {
            let user = core
                .db
                .user_by_id(identity.user_id)
                .await?
                .ok_or_else(|| Error::internal("an identity without its user"))?;
            (user, false, false, identity.mapped_role)
        }
        (None, Some(uid)) => {
            let user = core
                .db
                .user_by_id(uid)
                .await?
                .ok_or_else(|| Error::unauthorized("sign in again"))?;
            link(core, p, who, user.id).await?;
            audit(
                core,
                "sso.link",
                &user.username,
                json!({"provider": p.id, "subject": who.subject, "login": who.login}),
            )
            .await?;
            (user, false, true, None)
        }
        (None, None) => {
            if core.settings.signup != Signup::Open && !outcome.matched {
                let ip = crate::context::current().ip;
                let detail =
                    json!({"subject": who.subject, "login": who.login, "reason": "unmapped"});
                core.db
                    .audit(
                        "sso.refused",
                        Some(&format!("sso:{}", p.id)),
                        None,
                        Some(&ip),
                        &detail,
                    )
                    .await?;
                return Err(Error::forbidden(format!(
                    "your {} account has no access to this server: ask an administrator to map it",
                    p.name
                )));
            }
            let user = create(core, p, who).await?;
            (user, true, false, None)
        }
    };
    let default = if created || mapped_before.is_some() {
        p.default_role
    } else {
        None
    };
    let mapped = outcome.role.or(default);
    core.db
        .identity_signed_in(
            &who.issuer,
            &who.subject,
            &who.login,
            mapped.map(Role::as_str),
        )
        .await?;
    settle_role(core, &p.id, &user, mapped_before.is_some()).await?;
    memberships(core, p, &user, &outcome).await?;
    let user = core.db.user_by_id(user.id).await?.unwrap_or(user);
    // Shares waiting for an address the provider verified are this account's now.
    // A failure here leaves the invitation for the next sign-in; it never stops this one.
    if let Some(email) = who.email.as_deref().filter(|_| who.email_verified) {
        if let Err(e) = crate::sharing::invites::deliver(core, &user, email).await {
            tracing::warn!(user = %user.username, error = %e.message, "invitations not delivered");
        }
    }
    audit(
        core,
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

async fn link(core: &Core, p: &Provider, who: &Claims, user_id: i64) -> Result<()> {
    match core
        .db
        .link_identity(&who.issuer, &who.subject, &p.id, user_id, &who.login)
        .await
    {
        Err(crate::db::Error::Conflict) => Err(Error::conflict(format!(
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

async fn create(core: &Core, p: &Provider, who: &Claims) -> Result<User> {
    let base = base_username(who);
    let mut candidates: Vec<String> = std::iter::once(base.clone())
        .chain((2..=20).map(|n| format!("{base}-{n}")))
        .collect();
    candidates.push(format!("{base}-{}", crate::auth::secrets::random_hex(4)));
    // Only an address the provider says it verified is kept; it finds no account either way.
    let email = who.email.as_deref().filter(|_| who.email_verified);
    for name in candidates {
        if crate::names::check_namespace(&name).is_err() || core.db.namespace_taken(&name).await? {
            continue;
        }
        let user = match core.db.create_user(&name, email, false).await {
            Ok(user) => user,
            Err(crate::db::Error::Conflict) => continue,
            Err(e) => return Err(e.into()),
        };
        if let Err(e) = link(core, p, who, user.id).await {
            // Another sign-in of the same identity won the race: keep its account.
            core.db.delete_user(user.id).await?;
            return match core.db.identity(&who.issuer, &who.subject).await? {
                Some(i) => core
                    .db
                    .user_by_id(i.user_id)
                    .await?
                    .ok_or_else(|| Error::internal("an identity without its user")),
                None => Err(e),
            };
        }
        audit(
            core,
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

/// Sets the user's role to the highest any of their providers' rules gave at their last
/// sign-in; with none, back to the platform default if a provider's rules had set it
/// (`was_mapped`). The last admin is never demoted.
async fn settle_role(core: &Core, provider: &str, user: &User, was_mapped: bool) -> Result<()> {
    let best = core
        .db
        .identities_of(user.id)
        .await?
        .iter()
        .filter_map(|i| i.mapped_role.as_deref()?.parse::<Role>().ok())
        .max_by_key(|r| super::rules::rank(*r));
    let Some(role) = best.or(was_mapped.then_some(Role::Scientist)) else {
        return Ok(());
    };
    let now = Role::of(user);
    if now == role && (user.is_admin == 0 || role == Role::Admin) {
        return Ok(());
    }
    if now == Role::Admin && core.db.admin_count().await? <= 1 {
        tracing::warn!(user = %user.username, "the rules would demote the last admin: kept");
        return Ok(());
    }
    core.db.set_role(user.id, role.as_str()).await?;
    audit(
        core,
        "sso.role",
        &user.username,
        json!({"provider": provider, "from": now.as_str(), "to": role.as_str()}),
    )
    .await
}

/// Forgets a linked identity and takes back what its provider's rules gave.
/// It must not be the user's only way in ([`super::flow::another_way_in`]).
pub async fn unlink(core: &Core, user: &User, issuer: &str, subject: &str) -> Result<()> {
    super::flow::another_way_in(core, user, issuer, subject).await?;
    let Some(identity) = core
        .db
        .identity(issuer, subject)
        .await?
        .filter(|i| i.user_id == user.id)
    else {
        return Err(Error::not_found("no such linked account"));
    };
    if !core.db.unlink_identity(user.id, issuer, subject).await? {
        return Err(Error::not_found("no such linked account"));
    }
    let granted = core.db.sso_memberships(user.id, issuer).await?;
    take_back(core, &identity.provider, user, issuer, granted).await?;
    settle_role(
        core,
        &identity.provider,
        user,
        identity.mapped_role.is_some(),
    )
    .await?;
    audit(
        core,
        "sso.unlink",
        &user.username,
        json!({"provider": identity.provider, "subject": subject}),
    )
    .await
}

async fn memberships(core: &Core, p: &Provider, user: &User, outcome: &Outcome) -> Result<()> {
    let issuer = p.issuer_key();
    let mut wanted = Vec::new();
    for (org_name, team) in &outcome.memberships {
        let Some(org) = core.db.org_by_name(org_name).await? else {
            tracing::warn!(provider = %p.id, org = %org_name, "a rule names an organisation that does not exist");
            continue;
        };
        let team_id = match team {
            None => 0,
            Some(t) => match core.db.team_id(org.id, t).await? {
                Some(id) => id,
                None => {
                    tracing::warn!(provider = %p.id, org = %org_name, team = %t, "a rule names a team that does not exist");
                    continue;
                }
            },
        };
        wanted.push((org.id, team_id));
    }
    let granted = core.db.sso_memberships(user.id, &issuer).await?;
    for &(org_id, team_id) in &wanted {
        if granted.contains(&(org_id, team_id)) {
            continue;
        }
        let added = if team_id == 0 {
            core.db.add_org_member_if_absent(org_id, user.id).await?
        } else {
            core.db.add_team_member(team_id, user.id).await?
        };
        // A membership another provider's rules hold is held by these rules too; one added by
        // hand is nobody's to take back.
        let held = core
            .db
            .sso_membership_holders(user.id, org_id, team_id)
            .await?
            > 0;
        if added || held {
            core.db
                .record_sso_membership(user.id, &issuer, org_id, team_id)
                .await?;
        }
        if added {
            audit(
                core,
                "sso.membership.add",
                &user.username,
                json!({"provider": p.id, "org_id": org_id, "team_id": team_id}),
            )
            .await?;
        }
    }
    let stale = granted
        .into_iter()
        .filter(|g| !wanted.contains(g))
        .collect();
    take_back(core, &p.id, user, &issuer, stale).await
}

/// Takes back memberships an issuer's rules granted: teams first, then organisations, each only
/// when no other provider's rules still hold it; an organisation stays while the user is in one
/// of its teams, and an owner stays an owner.
async fn take_back(
    core: &Core,
    provider: &str,
    user: &User,
    issuer: &str,
    mut stale: Vec<(i64, i64)>,
) -> Result<()> {
    stale.sort_by_key(|&(_, team)| team == 0);
    for (org_id, team_id) in stale {
        core.db
            .forget_sso_membership(user.id, issuer, org_id, team_id)
            .await?;
        if core
            .db
            .sso_membership_holders(user.id, org_id, team_id)
            .await?
            > 0
        {
            continue;
        }
        let removed = if team_id != 0 {
            core.db.remove_team_member(team_id, user.id).await?
        } else if core.db.teams_in_org_of(user.id, org_id).await? == 0 {
            core.db.remove_plain_member(org_id, user.id).await?
        } else {
            false
        };
        if removed {
            audit(
                core,
                "sso.membership.remove",
                &user.username,
                json!({"provider": provider, "org_id": org_id, "team_id": team_id}),
            )
            .await?;
        }
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
