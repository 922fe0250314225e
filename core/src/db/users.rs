//! `users`: accounts; a user's username is also their namespace.

use super::{now, Db, Engine};

/// A platform role (what each may do is in `auth::access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Engineer,
    Scientist,
    Analyst,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Engineer,
        Role::Scientist,
        Role::Analyst,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Engineer => "engineer",
            Role::Scientist => "scientist",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown role {s:?}: use one of {}", all.join(", "))
            })
    }
}

impl TryFrom<String> for Role {
    type Error = String;
    fn try_from(s: String) -> Result<Role, String> {
        s.parse()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub is_admin: i64,
    pub created_at: i64,
    /// Platform role (stored as its name).
    #[sqlx(try_from = "String")]
    pub role: Role,
}

impl User {
    pub fn admin(&self) -> bool {
        self.is_admin != 0 || self.role == Role::Admin
    }

    /// The platform roles as apps and OpenID clients see them (the `roles` claim,
    /// `X-Strata-Roles`): the user's role, and `admin` for a site admin of another role.
    pub fn roles(&self) -> Vec<&'static str> {
        let mut roles = vec![self.role.as_str()];
        if self.admin() && self.role != Role::Admin {
            roles.push(Role::Admin.as_str());
        }
        roles
    }
}

const COLUMNS: &str = "id, username, email, is_admin, created_at, role";

impl Db {
    pub async fn create_user(
        &self,
        username: &str,
        email: Option<&str>,
        admin: bool,
    ) -> Result<User, super::Error> {
        let role = if admin { "admin" } else { "scientist" };
        Ok(sqlx::query_as(sql!("INSERT INTO users (username, email, is_admin, created_at, role) VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"))
            .bind(username)
            .bind(email)
            .bind(admin as i64)
            .bind(now())
            .bind(role)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Whether `name` is taken in the shared namespace (case-insensitively): by a user, an
    /// organisation, or datasets left in it.
    pub async fn namespace_taken(&self, name: &str) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM users WHERE lower(username) = lower($1))
                  + (SELECT COUNT(*) FROM orgs WHERE lower(name) = lower($1))
                  + (SELECT COUNT(*) FROM repos WHERE lower(namespace) = lower($1))",
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM users WHERE lower(username) = lower($1)"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await
    }

    /// The usernames of people (not organisations), by name, at most `limit`.
    pub async fn usernames(&self, limit: i64) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT username FROM users ORDER BY username LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, sqlx::Error> {
        sqlx::query_as(sql!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Deletes a user who owns nothing yet (undoing a sign-up that lost a race for its invitation).
    pub async fn delete_user(&self, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets a user's platform role (`admin` also sets the legacy admin flag).
    pub async fn set_role(&self, user_id: i64, role: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE users SET role = $1, is_admin = $2 WHERE id = $3")
            .bind(role)
            .bind((role == "admin") as i64)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every user who holds something on repository `repo_id` of namespace `ns` beyond what its
    /// visibility gives: its owner, the members of the organisation `ns`, its collaborators and
    /// the users it is shared with (directly or through a team). What each may do is theirs to
    /// work out (`auth::access::user_grant`); nobody outside this list can write the repository.
    pub async fn holders(&self, repo_id: i64, ns: &str) -> Result<Vec<User>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM users WHERE id IN (
                SELECT owner_id FROM repos WHERE id = $1
                UNION SELECT m.user_id FROM org_members m JOIN orgs o ON o.id = m.org_id WHERE lower(o.name) = lower($2)
                UNION SELECT user_id FROM collaborators WHERE repo_id = $1 AND user_id IS NOT NULL
                UNION SELECT t.user_id FROM collaborators c JOIN team_members t ON t.team_id = c.team_id WHERE c.repo_id = $1
                UNION SELECT user_id FROM shares WHERE repo_id = $1 AND user_id IS NOT NULL
                UNION SELECT t.user_id FROM shares s JOIN team_members t ON t.team_id = s.team_id WHERE s.repo_id = $1
            ) ORDER BY username"
        ))
        .bind(repo_id)
        .bind(ns)
        .fetch_all(&self.pool)
        .await
    }

    /// A user's role in the organisation named `org` (if it is one), their best collaborator
    /// permission on repository `repo_id` (3 admin, 2 write, 1 read), directly or through a team,
    /// their live shares and whether an accepted access request grants them reading it.
    pub async fn memberships(
        &self,
        user_id: i64,
        org: &str,
        repo_id: i64,
    ) -> Result<Memberships, sqlx::Error> {
        // One statement for the three inputs of a grant: this runs on every gate.
        let sql = match self.engine {
            Engine::Sqlite => "SELECT (SELECT m.role FROM org_members m JOIN orgs o ON o.id = m.org_id WHERE lower(o.name) = lower($1) AND m.user_id = $2), (SELECT CAST(MAX(CASE c.permission WHEN 'admin' THEN 3 WHEN 'write' THEN 2 ELSE 1 END) AS BIGINT) FROM collaborators c LEFT JOIN team_members t ON t.team_id = c.team_id WHERE c.repo_id = $3 AND (c.user_id = $2 OR t.user_id = $2)), (SELECT json_group_array(json_array(s.path, s.access)) FROM shares s WHERE s.repo_id = $3 AND (s.expires_at IS NULL OR s.expires_at > $4) AND (s.user_id = $2 OR s.team_id IN (SELECT team_id FROM team_members WHERE user_id = $2))), (SELECT COUNT(*) FROM access_requests a WHERE a.repo_id = $3 AND a.user_id = $2 AND a.status = 'accepted' AND (a.grant_expires_at IS NULL OR a.grant_expires_at > $4))",
            Engine::Postgres => "SELECT (SELECT m.role FROM org_members m JOIN orgs o ON o.id = m.org_id WHERE lower(o.name) = lower($1) AND m.user_id = $2), (SELECT CAST(MAX(CASE c.permission WHEN 'admin' THEN 3 WHEN 'write' THEN 2 ELSE 1 END) AS BIGINT) FROM collaborators c LEFT JOIN team_members t ON t.team_id = c.team_id WHERE c.repo_id = $3 AND (c.user_id = $2 OR t.user_id = $2)), (SELECT COALESCE(CAST(json_agg(json_build_array(s.path, s.access)) AS TEXT), '[]') FROM shares s WHERE s.repo_id = $3 AND (s.expires_at IS NULL OR s.expires_at > $4) AND (s.user_id = $2 OR s.team_id IN (SELECT team_id FROM team_members WHERE user_id = $2))), (SELECT COUNT(*) FROM access_requests a WHERE a.repo_id = $3 AND a.user_id = $2 AND a.status = 'accepted' AND (a.grant_expires_at IS NULL OR a.grant_expires_at > $4))",
        };
        let (org_role, collaborator, shares, accepted): (
            Option<String>,
            Option<i64>,
            Option<String>,
            i64,
        ) = sqlx::query_as(sql)
            .bind(org)
            .bind(user_id)
            .bind(repo_id)
            .bind(now())
            .fetch_one(&self.pool)
            .await?;
        let shares = match shares {
            Some(json) => serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(e.into()))?,
            None => Vec::new(),
        };
        Ok(Memberships {
            org_role: org_role.as_deref().map(super::OrgRole::stored),
            collaborator,
            shares,
            accepted: accepted > 0,
        })
    }
}

/// What a user holds on one dataset besides ownership: the inputs of their grant.
#[derive(Debug, Clone, Default)]
pub struct Memberships {
    /// The user's role in the dataset's organisation.
    pub org_role: Option<super::OrgRole>,
    /// 3 admin, 2 write, 1 read: the highest collaborator permission, direct or through a team.
    pub collaborator: Option<i64>,
    /// Live shares as `(path, access)`; `""` is the whole dataset.
    pub shares: Vec<(String, String)>,
    /// Whether their access request is accepted and its grant live (gated datasets).
    pub accepted: bool,
}
