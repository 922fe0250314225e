//! Platform roles and what a signed-in user may do to a dataset: the grant every entry point
//! (git, LFS, REST, pages) checks through [`super::Principal::can`].
//!
//! | role      | create datasets | write | read | manage members | manage apps | administer |
//! |-----------|-----------------|-------|------|----------------|-------------|------------|
//! | admin     | yes             | yes   | yes  | yes            | yes         | everything |
//! | engineer  | yes             | yes   | yes  | yes            | yes         | own and granted datasets |
//! | scientist | yes             | yes   | yes  | no             | no          | own and granted datasets |
//! | analyst   | no              | where granted | yes | no       | no          | no |
//! | viewer    | no              | no    | yes  | no             | no          | no |
//!
//! A user's grant on a dataset is the highest of: administer for its owner, for the owners of its
//! organisation and for site admins; read for members of its organisation; what its collaborators
//! list or its whole-dataset shares give them directly or through a team; read on `public` and
//! `internal` datasets that are not gated, and to those whose access request to a gated one was
//! accepted (until the grant runs out; `crate::sharing::access`). A viewer's grant is capped at read, and an analyst never administers.
//! Shares of a file or folder are kept apart as path grants: the gates let them reach exactly
//! those paths and nothing beside them.

use std::ops::Deref;

use crate::db::{Db, OrgRole, Repo, User};

use super::Action;

pub use crate::db::Role;

impl Role {
    /// A user's effective role (the old `is_admin` flag counts as admin).
    pub fn of(user: &User) -> Role {
        if user.admin() {
            Role::Admin
        } else {
            user.role
        }
    }

    pub fn can_create_datasets(self) -> bool {
        matches!(self, Role::Admin | Role::Engineer | Role::Scientist)
    }

    pub fn can_manage_members(self) -> bool {
        matches!(self, Role::Admin | Role::Engineer)
    }

    pub fn can_manage_apps(self) -> bool {
        matches!(self, Role::Admin | Role::Engineer)
    }

    /// The most this role may do to any one dataset, whatever the grant.
    fn cap(self) -> Action {
        match self {
            Role::Admin | Role::Engineer | Role::Scientist => Action::Admin,
            Role::Analyst => Action::Write,
            Role::Viewer => Action::Read,
        }
    }
}

/// A repository looked up for a caller, with what that caller's user may do to it.
#[derive(Debug, Clone)]
pub struct Authorized {
    pub repo: Repo,
    /// For a signed-in user: their grant on the whole dataset (before token scopes narrow it).
    pub(crate) user_grant: Option<Action>,
    /// For a signed-in user: the files and folders shared with them, with what they may do there.
    pub(crate) path_grants: Vec<(String, Action)>,
}

impl Deref for Authorized {
    type Target = Repo;
    fn deref(&self) -> &Repo {
        &self.repo
    }
}

fn rank(a: Action) -> u8 {
    match a {
        Action::Read | Action::Verify => 1,
        Action::Write => 2,
        Action::Admin => 3,
    }
}

fn max(a: Option<Action>, b: Option<Action>) -> Option<Action> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if rank(x) >= rank(y) { x } else { y }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// What a user may do to one dataset: to all of it, and to paths shared with them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    pub dataset: Option<Action>,
    /// Live path shares (file or folder, read or write), already capped by the user's role.
    pub paths: Vec<(String, Action)>,
}

/// What `user` may do to `repo`.
pub async fn user_grant(db: &Db, user: &User, repo: &Repo) -> Result<Grant, sqlx::Error> {
    let role = Role::of(user);
    if role == Role::Admin {
        return Ok(Grant {
            dataset: Some(Action::Admin),
            paths: Vec::new(),
        });
    }
    let cap = |g: Action| {
        if rank(g) > rank(role.cap()) {
            role.cap()
        } else {
            g
        }
    };
    let mut paths = Vec::new();
    let mut grant = if repo.owner_id == user.id {
        Some(Action::Admin)
    } else {
        let held = db.memberships(user.id, &repo.namespace, repo.id).await?;
        let from_org = match held.org_role {
            Some(OrgRole::Owner) => Some(Action::Admin),
            Some(OrgRole::Member) => Some(Action::Read),
            None => None,
        };
        let from_collab = match held.collaborator {
            Some(3) => Some(Action::Admin),
            Some(2) => Some(Action::Write),
            Some(_) => Some(Action::Read),
            None => None,
        };
        let mut grant = max(from_org, from_collab);
        if held.accepted {
            // An accepted access request is a read grant until it runs out.
            grant = max(grant, Some(Action::Read));
        }
        for (path, access) in held.shares {
            let access = if access == "write" {
                Action::Write
            } else {
                Action::Read
            };
            if path.is_empty() {
                // A share of the whole dataset is a grant like a collaborator's.
                grant = max(grant, Some(access));
            } else {
                paths.push((path, cap(access)));
            }
        }
        grant
    };
    if (repo.is_public() || repo.is_internal()) && !repo.is_gated() {
        grant = max(grant, Some(Action::Read));
    }
    Ok(Grant {
        dataset: grant.map(cap),
        paths,
    })
}
