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

impl Db {
    pub async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        scopes: &str,
        expires_at: Option<i64>,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "INSERT INTO access_tokens (user_id, name, token_hash, scopes, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(scopes)
        .bind(expires_at)
        .bind(now())
        .fetch_one(&self.pool)
        .await
    }

    /// The live token with this hash and its owner: not revoked, not expired.
    pub async fn live_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(TokenRow, User)>, sqlx::Error> {
        let token: Option<TokenRow> = sqlx::query_as(
            "SELECT id, user_id, name, scopes, expires_at, revoked_at, created_at FROM access_tokens
             WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        let Some(token) = token else { return Ok(None) };
        Ok(self.user_by_id(token.user_id).await?.map(|u| (token, u)))
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
}
