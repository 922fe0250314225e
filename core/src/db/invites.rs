//! `share_invites`: shares with an e-mail address that has no account yet, kept until an account
//! signs in through a provider that verified that address (`datasets::invites`).

use super::{now, Db};

/// An invitation as stored, with its dataset and who made it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InviteRow {
    pub id: i64,
    pub repo_id: i64,
    pub path: String,
    pub email: String,
    pub access: String,
    pub expires_at: Option<i64>,
    pub created_by: Option<i64>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, repo_id, path, email, access, expires_at, created_by, created_at";

impl Db {
    /// Makes the invitation, or changes the access and expiry of the one with the same dataset,
    /// path and address. Returns its id.
    pub async fn put_invite(
        &self,
        repo_id: i64,
        path: &str,
        email: &str,
        (access, expires_at): (&str, Option<i64>),
        created_by: Option<i64>,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "INSERT INTO share_invites (repo_id, path, email, access, expires_at, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (repo_id, path, email)
             DO UPDATE SET access = excluded.access, expires_at = excluded.expires_at
             RETURNING id",
        )
        .bind(repo_id)
        .bind(path)
        .bind(email)
        .bind(access)
        .bind(expires_at)
        .bind(created_by)
        .bind(now())
        .fetch_one(&self.pool)
        .await
    }

    /// A dataset's invitations, oldest first.
    pub async fn invites(&self, repo_id: i64) -> Result<Vec<InviteRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM share_invites WHERE repo_id = $1 ORDER BY id"
        ))
        .bind(repo_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Removes one invitation of a dataset; whether there was one.
    pub async fn delete_invite(&self, repo_id: i64, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM share_invites WHERE repo_id = $1 AND id = $2")
            .bind(repo_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every invitation to `email` (lower case).
    pub async fn invites_to(&self, email: &str) -> Result<Vec<InviteRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM share_invites WHERE email = $1 ORDER BY id"
        ))
        .bind(email)
        .fetch_all(&self.pool)
        .await
    }

    /// Removes an invitation once it is delivered; whether this call removed it (two sign-ins
    /// at once deliver it once).
    pub async fn take_invite(&self, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM share_invites WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
