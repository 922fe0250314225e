//! `access_tokens`: personal access tokens, stored as the sha256 of the secret, never the secret.

use super::{now, Db, User};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub scopes: String,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

/// A token joined with its owner.
#[derive(sqlx::FromRow)]
struct LiveTokenRow {
    id: i64,
    user_id: i64,
    name: String,
    scopes: String,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    created_at: i64,
    username: String,
    email: Option<String>,
    is_admin: i64,
    #[sqlx(try_from = "String")]
    role: super::Role,
    user_created_at: i64,
}

impl Db {
    pub async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        scopes: &str,
        expires_at: Option<i64>,
    ) -> Result<i64, super::Error> {
        Ok(sqlx::query_scalar(
            "INSERT INTO access_tokens (user_id, name, token_hash, scopes, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(scopes)
        .bind(expires_at)
        .bind(now())
        .fetch_one(&self.pool)
        .await?)
    }

    /// The live token with this hash and its owner: not revoked, not expired.
    pub async fn live_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(TokenRow, User)>, sqlx::Error> {
        // One query for both: this runs on every authenticated request.
        let row: Option<LiveTokenRow> = sqlx::query_as(
            "SELECT t.id, t.user_id, t.name, t.scopes, t.expires_at, t.revoked_at, t.created_at,
                    u.username, u.email, u.is_admin, u.created_at AS user_created_at, u.role
             FROM access_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| {
            let user = User {
                id: r.user_id,
                username: r.username,
                email: r.email,
                is_admin: r.is_admin,
                role: r.role,
                created_at: r.user_created_at,
            };
            let token = TokenRow {
                id: r.id,
                user_id: r.user_id,
                name: r.name,
                scopes: r.scopes,
                expires_at: r.expires_at,
                revoked_at: r.revoked_at,
                created_at: r.created_at,
            };
            (token, user)
        }))
    }

    /// Revokes the user's token named `name`; returns whether one was live.
    pub async fn revoke_token(&self, user_id: i64, name: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("UPDATE access_tokens SET revoked_at = $1 WHERE user_id = $2 AND name = $3 AND revoked_at IS NULL")
            .bind(now())
            .bind(user_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A user's tokens that are neither revoked nor expired, newest first.
    pub async fn live_tokens_of(&self, user_id: i64) -> Result<Vec<TokenRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, user_id, name, scopes, expires_at, revoked_at, created_at FROM access_tokens
             WHERE user_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
             ORDER BY id DESC",
        )
        .bind(user_id)
        .bind(now())
        .fetch_all(&self.pool)
        .await
    }
}
