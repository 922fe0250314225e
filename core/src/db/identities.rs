//! `identities`, `sso_logins`, `sso_memberships`: accounts at external identity providers linked
//! to users, sign-ins in flight, and the memberships the providers' rules granted.

use super::{now, Db};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub provider: String,
    pub user_id: i64,
    pub login: String,
    pub mapped_role: Option<String>,
    pub created_at: i64,
    pub last_login_at: i64,
}

/// A sign-in in flight, taken (and so used up) by its callback.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingLogin {
    pub provider: String,
    pub nonce: String,
    pub verifier: String,
    pub next: String,
    pub link_user_id: Option<i64>,
    pub expires_at: i64,
}

const COLUMNS: &str =
    "issuer, subject, provider, user_id, login, mapped_role, created_at, last_login_at";

impl Db {
    pub async fn identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<Identity>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM identities WHERE issuer = $1 AND subject = $2"
        ))
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn identities_of(&self, user_id: i64) -> Result<Vec<Identity>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM identities WHERE user_id = $1 ORDER BY provider, login"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Links an identity to a user; a unique violation means someone linked it first.
    pub async fn link_identity(
        &self,
        issuer: &str,
        subject: &str,
        provider: &str,
        user_id: i64,
        login: &str,
    ) -> Result<(), super::Error> {
        sqlx::query(
            "INSERT INTO identities (issuer, subject, provider, user_id, login, created_at, last_login_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(issuer)
        .bind(subject)
        .bind(provider)
        .bind(user_id)
        .bind(login)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a sign-in: the provider's current name for the user and the role its rules gave.
    pub async fn identity_signed_in(
        &self,
        issuer: &str,
        subject: &str,
        login: &str,
        mapped_role: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE identities SET login = $3, mapped_role = $4, last_login_at = $5
             WHERE issuer = $1 AND subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .bind(login)
        .bind(mapped_role)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn unlink_identity(
        &self,
        user_id: i64,
        issuer: &str,
        subject: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM identities WHERE user_id = $1 AND issuer = $2 AND subject = $3",
        )
        .bind(user_id)
        .bind(issuer)
        .bind(subject)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn start_sso_login(
        &self,
        state_hash: &str,
        login: &PendingLogin,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM sso_logins WHERE expires_at < $1")
            .bind(now())
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sso_logins (state_hash, provider, nonce, verifier, next, link_user_id, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(state_hash)
        .bind(&login.provider)
        .bind(&login.nonce)
        .bind(&login.verifier)
        .bind(&login.next)
        .bind(login.link_user_id)
        .bind(login.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes and returns a sign-in in flight: a state is good for one callback only.
    pub async fn take_sso_login(
        &self,
        state_hash: &str,
    ) -> Result<Option<PendingLogin>, sqlx::Error> {
        sqlx::query_as(
            "DELETE FROM sso_logins WHERE state_hash = $1
             RETURNING provider, nonce, verifier, next, link_user_id, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await
    }

    /// The memberships an issuer's rules granted a user: `(org_id, team_id)`, team 0 for the
    /// organisation itself.
    pub async fn sso_memberships(
        &self,
        user_id: i64,
        issuer: &str,
    ) -> Result<Vec<(i64, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT org_id, team_id FROM sso_memberships WHERE user_id = $1 AND issuer = $2",
        )
        .bind(user_id)
        .bind(issuer)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn record_sso_membership(
        &self,
        user_id: i64,
        issuer: &str,
        org_id: i64,
        team_id: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO sso_memberships (user_id, issuer, org_id, team_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, issuer, org_id, team_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(issuer)
        .bind(org_id)
        .bind(team_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn forget_sso_membership(
        &self,
        user_id: i64,
        issuer: &str,
        org_id: i64,
        team_id: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "DELETE FROM sso_memberships WHERE user_id = $1 AND issuer = $2 AND org_id = $3 AND team_id = $4",
        )
        .bind(user_id)
        .bind(issuer)
        .bind(org_id)
        .bind(team_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many issuers' rules hold a membership of a user (`team_id` 0: the organisation).
    pub async fn sso_membership_holders(
        &self,
        user_id: i64,
        org_id: i64,
        team_id: i64,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM sso_memberships WHERE user_id = $1 AND org_id = $2 AND team_id = $3",
        )
        .bind(user_id)
        .bind(org_id)
        .bind(team_id)
        .fetch_one(&self.pool)
        .await
    }

    /// Makes a user a `member` of an organisation unless they belong to it already (an owner
    /// stays an owner); whether they were added.
    pub async fn add_org_member_if_absent(
        &self,
        org_id: i64,
        user_id: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'member')
             ON CONFLICT (org_id, user_id) DO NOTHING",
        )
        .bind(org_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many teams of an organisation a user is in.
    pub async fn teams_in_org_of(&self, user_id: i64, org_id: i64) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM team_members tm JOIN teams t ON t.id = tm.team_id
             WHERE tm.user_id = $1 AND t.org_id = $2",
        )
        .bind(user_id)
        .bind(org_id)
        .fetch_one(&self.pool)
        .await
    }

    /// Removes a plain `member` of an organisation (never an owner, and only the organisation
    /// row: team memberships are the caller's to check first).
    pub async fn remove_plain_member(
        &self,
        org_id: i64,
        user_id: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM org_members WHERE org_id = $1 AND user_id = $2 AND role = 'member'",
        )
        .bind(org_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many users are site admins.
    pub async fn admin_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' OR is_admin <> 0")
            .fetch_one(&self.pool)
            .await
    }
}
