//! OAuth 2.0 provider state: clients, authorization codes, refresh token families and revoked
//! access tokens. Secrets (client secrets, codes, refresh tokens) are stored as their sha256.

use super::{now, Db};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OauthClient {
    pub client_id: String,
    pub secret_hash: Option<String>,
    pub name: String,
    /// Newline-separated; matched exactly.
    pub redirect_uris: String,
    pub confidential: i64,
    pub owner_id: i64,
    pub created_at: i64,
}

impl OauthClient {
    pub fn redirect_uris(&self) -> impl Iterator<Item = &str> {
        self.redirect_uris.lines().filter(|l| !l.is_empty())
    }

    pub fn is_confidential(&self) -> bool {
        self.confidential != 0
    }
}

/// An authorization code, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRow {
    pub family_id: String,
    pub client_id: String,
    pub user_id: i64,
    pub redirect_uri: String,
    pub scope: String,
    pub challenge: Option<String>,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// A refresh token with its family.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub family_id: String,
    pub scope: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub client_id: String,
    pub user_id: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A consent a user gave a client, remembered.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentRow {
    pub client_id: String,
    /// The client's name.
    pub name: String,
    /// Space-separated, sorted.
    pub scope: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const CLIENT_COLUMNS: &str =
    "client_id, secret_hash, name, redirect_uris, confidential, owner_id, created_at";

impl Db {
    pub async fn create_client(&self, c: &OauthClient) -> Result<(), sqlx::Error> {
        sqlx::query(sql!(
            "INSERT INTO oauth_clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&c.client_id)
        .bind(&c.secret_hash)
        .bind(&c.name)
        .bind(&c.redirect_uris)
        .bind(c.confidential)
        .bind(c.owner_id)
        .bind(c.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn client(&self, client_id: &str) -> Result<Option<OauthClient>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1"
        ))
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn clients_of(&self, owner_id: i64) -> Result<Vec<OauthClient>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE owner_id = $1 ORDER BY created_at DESC"
        ))
        .bind(owner_id)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn create_family(
        &self,
        id: &str,
        client_id: &str,
        user_id: Option<i64>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO oauth_families (id, client_id, user_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(client_id)
            .bind(user_id)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Remembers that `user_id` allowed `client_id` the scopes `scope` (replacing what it
    /// allowed before).
    pub async fn remember_consent(
        &self,
        user_id: i64,
        client_id: &str,
        scope: &str,
    ) -> Result<(), sqlx::Error> {
        let at = now();
        sqlx::query(
            "INSERT INTO oauth_consents (user_id, client_id, scope, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (user_id, client_id) \
             DO UPDATE SET scope = $3, updated_at = $4",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The scopes `user_id` allowed `client_id`, if it remembers any.
    pub async fn consent(
        &self,
        user_id: i64,
        client_id: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT scope FROM oauth_consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
    }

    /// The consents `user_id` gave, newest first, with each client's name.
    pub async fn consents_of(&self, user_id: i64) -> Result<Vec<ConsentRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT c.client_id, k.name, c.scope, c.created_at, c.updated_at \
             FROM oauth_consents c JOIN oauth_clients k ON k.client_id = c.client_id \
             WHERE c.user_id = $1 ORDER BY c.updated_at DESC",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Forgets a consent and revokes every grant family of that client for that user (their
    /// refresh and access tokens stop working), not the client's own `client_credentials` ones.
    /// Whether there was a consent or a live grant to take back.
    pub async fn forget_consent(&self, user_id: i64, client_id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let gone = sqlx::query("DELETE FROM oauth_consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let revoked = sqlx::query(
            "UPDATE oauth_families SET revoked_at = $1 \
             WHERE user_id = $2 AND client_id = $3 AND revoked_at IS NULL AND id NOT LIKE 'cc-%'",
        )
        .bind(now())
        .bind(user_id)
        .bind(client_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(gone + revoked > 0)
    }

    /// Revokes a family: its refresh tokens stop working, and so do its access tokens.
    pub async fn revoke_family(&self, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE oauth_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn create_code(
        &self,
        code_hash: &str,
        family_id: &str,
        client_id: &str,
        user_id: i64,
        redirect_uri: &str,
        scope: &str,
        challenge: Option<&str>,
        nonce: Option<&str>,
        ttl: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO oauth_codes (code_hash, family_id, client_id, user_id, redirect_uri, scope, challenge, nonce, auth_time, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(code_hash)
        .bind(family_id)
        .bind(client_id)
        .bind(user_id)
        .bind(redirect_uri)
        .bind(scope)
        .bind(challenge)
        .bind(nonce)
        .bind(now())
        .bind(now() + ttl)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn code(&self, code_hash: &str) -> Result<Option<CodeRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT family_id, client_id, user_id, redirect_uri, scope, challenge, nonce, auth_time, expires_at, used_at
             FROM oauth_codes WHERE code_hash = $1
             AND family_id NOT IN (SELECT id FROM oauth_families WHERE revoked_at IS NOT NULL)",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await
    }

    /// Marks a code used; `false` when it was used already (a replay).
    pub async fn use_code(&self, code_hash: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE oauth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
        )
        .bind(now())
        .bind(code_hash)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn create_refresh(
        &self,
        token_hash: &str,
        family_id: &str,
        scope: &str,
        ttl: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO oauth_refresh_tokens (token_hash, family_id, scope, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(family_id)
        .bind(scope)
        .bind(now())
        .bind(now() + ttl)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn refresh(&self, token_hash: &str) -> Result<Option<RefreshRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT r.family_id, r.scope, r.expires_at, r.used_at, f.client_id, f.user_id, f.revoked_at
             FROM oauth_refresh_tokens r JOIN oauth_families f ON f.id = r.family_id WHERE r.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
    }

    /// Marks a refresh token used; `false` when it was used already (a reuse).
    pub async fn use_refresh(&self, token_hash: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("UPDATE oauth_refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
            .bind(now())
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO oauth_revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether an OAuth access token was revoked, itself or through its family.
    pub async fn access_revoked(&self, jti: &str, family_id: &str) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM oauth_revoked_tokens WHERE jti = $1)
                  + (SELECT COUNT(*) FROM oauth_families WHERE id = $2 AND revoked_at IS NOT NULL)",
        )
        .bind(jti)
        .bind(family_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }
}
