//! Organisations (namespaces shared with users), their members and teams, and the collaborators
//! of datasets (users or teams, with read, write or admin).

use super::{now, Db};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Org {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
}

/// What a collaborator may do to a dataset (stored as its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    Read,
    Write,
    Admin,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Permission {
    type Err = String;
    fn from_str(s: &str) -> Result<Permission, String> {
        match s {
            "read" => Ok(Permission::Read),
            "write" => Ok(Permission::Write),
            "admin" => Ok(Permission::Admin),
            _ => Err(format!(
                "unknown permission {s:?}: use read, write or admin"
            )),
        }
    }
}

/// A member's role in an organisation (stored as its name). Owners administer the
/// organisation and every dataset in its namespace; members read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgRole {
    Owner,
    Member,
}

impl OrgRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Owner => "owner",
            OrgRole::Member => "member",
        }
    }

    /// The role a stored name stands for (the schema allows only these two).
    pub(crate) fn stored(name: &str) -> OrgRole {
        if name == "owner" {
            OrgRole::Owner
        } else {
            OrgRole::Member
        }
    }
}

impl std::str::FromStr for OrgRole {
    type Err = String;
    fn from_str(s: &str) -> Result<OrgRole, String> {
        match s {
            "owner" => Ok(OrgRole::Owner),
            "member" => Ok(OrgRole::Member),
            _ => Err("role must be owner or member".into()),
        }
    }
}

impl Db {
    /// Creates organisation `name` with `owner_id` as its first owner; `Conflict` if the name is
    /// taken.
    pub async fn create_org(&self, name: &str, owner_id: i64) -> Result<Org, super::Error> {
        let mut tx = self.write_tx().await?;
        let org: Org = sqlx::query_as(
            "INSERT INTO orgs (name, created_at) VALUES ($1, $2) RETURNING id, name, created_at",
        )
        .bind(name)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'owner')")
            .bind(org.id)
            .bind(owner_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(org)
    }

    pub async fn org_by_name(&self, name: &str) -> Result<Option<Org>, sqlx::Error> {
        sqlx::query_as("SELECT id, name, created_at FROM orgs WHERE lower(name) = lower($1)")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
    }

    /// `(username, role)` of every member, owners first.
    pub async fn org_members(&self, org_id: i64) -> Result<Vec<(String, OrgRole)>, sqlx::Error> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT u.username, m.role FROM org_members m JOIN users u ON u.id = m.user_id
             WHERE m.org_id = $1 ORDER BY m.role DESC, u.username",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, role)| (name, OrgRole::stored(&role)))
            .collect())
    }

    /// Names of the organisations `user_id` belongs to, by name.
    pub async fn orgs_of(&self, user_id: i64) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT o.name FROM org_members m JOIN orgs o ON o.id = m.org_id
             WHERE m.user_id = $1 ORDER BY o.name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
    }

    /// A user's organisations and teams as `org` and `org/team`, sorted (the `groups` claim).
    pub async fn groups_of(&self, user_id: i64) -> Result<Vec<String>, sqlx::Error> {
        let mut groups = self.orgs_of(user_id).await?;
        let teams: Vec<(String, String)> = sqlx::query_as(
            "SELECT o.name, t.name FROM team_members tm JOIN teams t ON t.id = tm.team_id
             JOIN orgs o ON o.id = t.org_id WHERE tm.user_id = $1",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        groups.extend(teams.into_iter().map(|(o, t)| format!("{o}/{t}")));
        groups.sort();
        Ok(groups)
    }

    pub async fn org_role(
        &self,
        org_id: i64,
        user_id: i64,
    ) -> Result<Option<OrgRole>, sqlx::Error> {
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2")
                .bind(org_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(role.as_deref().map(OrgRole::stored))
    }

    pub async fn set_org_member(
        &self,
        org_id: i64,
        user_id: i64,
        role: OrgRole,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)
             ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(role.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a member (and their team memberships in the organisation).
    pub async fn remove_org_member(&self, org_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "DELETE FROM team_members WHERE user_id = $1 AND team_id IN (SELECT id FROM teams WHERE org_id = $2)",
        )
        .bind(user_id)
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM org_members WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn owner_count(&self, org_id: i64) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM org_members WHERE org_id = $1 AND role = 'owner'")
            .bind(org_id)
            .fetch_one(&self.pool)
            .await
    }

    pub async fn create_team(&self, org_id: i64, name: &str) -> Result<i64, super::Error> {
        Ok(
            sqlx::query_scalar("INSERT INTO teams (org_id, name) VALUES ($1, $2) RETURNING id")
                .bind(org_id)
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn team_id(&self, org_id: i64, name: &str) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar("SELECT id FROM teams WHERE org_id = $1 AND name = $2")
            .bind(org_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
    }

    /// `(team, username)` pairs of an organisation's teams (teams without members appear with
    /// no username).
    pub async fn teams(&self, org_id: i64) -> Result<Vec<(String, Option<String>)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT t.name, u.username FROM teams t
             LEFT JOIN team_members tm ON tm.team_id = t.id LEFT JOIN users u ON u.id = tm.user_id
             WHERE t.org_id = $1 ORDER BY t.name, u.username",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Adds a team member; whether they were not one before.
    pub async fn add_team_member(&self, team_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT (team_id, user_id) DO NOTHING",
        )
        .bind(team_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn remove_team_member(
        &self,
        team_id: i64,
        user_id: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
            .bind(team_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Gives a user (or with `team`, a team) `permission` on a repository, replacing what it had.
    pub async fn set_collaborator(
        &self,
        repo_id: i64,
        user_id: Option<i64>,
        team_id: Option<i64>,
        permission: Permission,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "DELETE FROM collaborators WHERE repo_id = $1 AND (user_id = $2 OR team_id = $3)",
        )
        .bind(repo_id)
        .bind(user_id)
        .bind(team_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO collaborators (repo_id, user_id, team_id, permission) VALUES ($1, $2, $3, $4)")
            .bind(repo_id)
            .bind(user_id)
            .bind(team_id)
            .bind(permission.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    pub async fn remove_collaborator(
        &self,
        repo_id: i64,
        user_id: Option<i64>,
        team_id: Option<i64>,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM collaborators WHERE repo_id = $1 AND (user_id = $2 OR team_id = $3)",
        )
        .bind(repo_id)
        .bind(user_id)
        .bind(team_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// `(kind, name, permission)` of a repository's collaborators; kind is `user` or `team`.
    pub async fn collaborators(
        &self,
        repo_id: i64,
    ) -> Result<Vec<(String, String, String)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT CASE WHEN c.user_id IS NULL THEN 'team' ELSE 'user' END AS kind,
                    COALESCE(u.username, t.name) AS name, c.permission
             FROM collaborators c LEFT JOIN users u ON u.id = c.user_id LEFT JOIN teams t ON t.id = c.team_id
             WHERE c.repo_id = $1 ORDER BY kind DESC, name",
        )
        .bind(repo_id)
        .fetch_all(&self.pool)
        .await
    }
}
