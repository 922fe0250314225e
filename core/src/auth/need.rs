//! What an account-level operation needs, declared by its caller and decided here
//! ([`Core::require`]): organisations, roles, applications, the app catalog, the audit log,
//! creating datasets. What a caller may do to one dataset is the gate's
//! (`datasets::gate`), which also applies the governance policies.
//!
//! A need is met by a user's platform role (`auth::Role`) or by what they hold (an
//! organisation's owner role). Account-level operations also need all of the user's rights: a
//! browser session or a personal access token with the `*` scope, never a narrowed token or a
//! JWT.

use crate::auth::{Principal, Role};
use crate::db::{Org, OrgRole, User};
use crate::error::{Error, Result};
use crate::Core;

/// What an operation needs of its caller.
#[derive(Debug, Clone, Copy)]
pub enum Need<'a> {
    /// Signed in with all of their rights.
    Account,
    /// A site administrator.
    Admin,
    /// A role that creates datasets (scientists, engineers, admins): not analysts or viewers.
    CreateDatasets,
    /// A role that creates organisations (engineers, admins).
    ManageMembers,
    /// A role that adds apps to the catalog (engineers, admins).
    ManageApps,
    /// A role that registers OAuth applications: one that creates datasets or manages apps.
    RegisterClients,
    /// An owner of this organisation, or a site admin.
    OrgOwner(&'a Org),
    /// One who acts in this namespace: its own user, a member of the organisation of that name,
    /// or a site admin. (What they may do there is each dataset's or the role's to say.)
    InNamespace(&'a str),
}

impl Need<'_> {
    /// Why a user without it is refused.
    fn refusal(&self) -> String {
        match self {
            Need::Account => {
                "this needs a session or a personal access token with the * scope".into()
            }
            Need::Admin => "only site administrators may do this".into(),
            Need::CreateDatasets => "your role may not create datasets".into(),
            Need::ManageMembers => "only engineers and admins create organisations".into(),
            Need::ManageApps => "only admins and engineers may add or remove apps".into(),
            Need::RegisterClients => "your role may not register applications".into(),
            Need::OrgOwner(org) => format!("only owners of {} may change it", org.name),
            Need::InNamespace(ns) => format!("you are not a member of {ns}"),
        }
    }
}

impl Core {
    /// The user behind `who`, if they have `need`; else 401 (no credentials), or 403 (a narrowed
    /// credential, or a user without it).
    pub async fn require<'w>(&self, who: &'w Principal, need: Need<'_>) -> Result<&'w User> {
        let user = who.full_user()?;
        self.require_of(user, need).await?;
        Ok(user)
    }

    /// [`Core::require`] for a user already known to act with all of their rights.
    pub async fn require_of(&self, user: &User, need: Need<'_>) -> Result<()> {
        if self.has(user, need).await? {
            Ok(())
        } else {
            Err(Error::forbidden(need.refusal()))
        }
    }

    /// Whether `user` has `need` (to show or hide what they could do).
    pub async fn has(&self, user: &User, need: Need<'_>) -> Result<bool> {
        let role = Role::of(user);
        Ok(match need {
            Need::Account => true,
            Need::Admin => role == Role::Admin,
            Need::CreateDatasets => role.can_create_datasets(),
            Need::ManageMembers => role.can_manage_members(),
            Need::ManageApps => role.can_manage_apps(),
            Need::RegisterClients => role.can_manage_apps() || role.can_create_datasets(),
            Need::OrgOwner(org) => {
                role == Role::Admin
                    || self.db.org_role(org.id, user.id).await? == Some(OrgRole::Owner)
            }
            Need::InNamespace(ns) => {
                role == Role::Admin
                    || user.username.eq_ignore_ascii_case(ns)
                    || match self.db.org_by_name(ns).await? {
                        Some(org) => self.db.org_role(org.id, user.id).await?.is_some(),
                        None => false,
                    }
            }
        })
    }
}
