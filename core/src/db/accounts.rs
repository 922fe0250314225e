//! Accounts: password hashes, browser sessions (stored as the sha256 of the cookie), invitations,
//! failed logins for throttling, and the append-only audit log.

use super::{now, Db, User};

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub event: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
}

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub user: User,
    pub csrf: String,
    pub expires_at: i64,
    /// The user's unread notifications (the header's badge).
    pub unread: i64,
}

#[derive(sqlx::FromRow)]
struct SessionJoin {
    csrf: String,
    expires_at: i64,
    id: i64,
    username: String,
    email: Option<String>,
    is_admin: i64,
    #[sqlx(try_from = "String")]
    role: super::Role,
    created_at: i64,
    unread: i64,
}

impl Db {
    pub async fn set_password(&self, user_id: i64, hash: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The user named `username` with their password hash (`None`: no password set).
    pub async fn user_with_password(
        &self,
        username: &str,
    ) -> Result<Option<(User, Option<String>)>, sqlx::Error> {
        let Some(user) = self.user_by_name(username).await? else {
            return Ok(None);
        };
        let hash: Option<String> =
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                .bind(user.id)
                .fetch_one(&self.pool)
                .await?;
        Ok(Some((user, hash)))
    }

    pub async fn create_session(
        &self,
        id_hash: &str,
        user_id: i64,
        csrf: &str,
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id_hash)
            .bind(user_id)
            .bind(csrf)
            .bind(now())
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The live (unexpired) session with this hash.
    pub async fn session(&self, id_hash: &str) -> Result<Option<SessionRow>, sqlx::Error> {
        let row: Option<SessionJoin> = sqlx::query_as(
            "SELECT s.csrf, s.expires_at, u.id, u.username, u.email, u.is_admin, u.created_at, u.role,
                    (SELECT count(*) FROM notifications n
                     WHERE n.user_id = u.id AND n.read_at IS NULL) AS unread
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id_hash = $1 AND s.expires_at > $2",
        )
        .bind(id_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| SessionRow {
            user: User {
                id: r.id,
                username: r.username,
                email: r.email,
                is_admin: r.is_admin,
                role: r.role,
                created_at: r.created_at,
            },
            csrf: r.csrf,
            expires_at: r.expires_at,
            unread: r.unread,
        }))
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session of a user except `keep` (after a password change).
    pub async fn delete_other_sessions(&self, user_id: i64, keep: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
            .bind(user_id)
            .bind(keep)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn create_invitation(
        &self,
        code_hash: &str,
        created_by: i64,
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO invitations (code_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(code_hash)
            .bind(created_by)
            .bind(now())
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether an unused, unexpired invitation with this hash exists.
    pub async fn invitation_is_open(&self, code_hash: &str) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM invitations WHERE code_hash = $1 AND used_by IS NULL AND expires_at > $2",
        )
        .bind(code_hash)
        .bind(now())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Marks an open invitation used by `user_id`; `false` when someone used it first.
    pub async fn use_invitation(&self, code_hash: &str, user_id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE invitations SET used_by = $1 WHERE code_hash = $2 AND used_by IS NULL AND expires_at > $3",
        )
        .bind(user_id)
        .bind(code_hash)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn record_login_failure(&self, username: &str, ip: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO login_failures (username, ip, at) VALUES ($1, $2, $3)")
            .bind(username)
            .bind(ip)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Failed logins since `since` for this username and from this address.
    pub async fn login_failures(
        &self,
        username: &str,
        ip: &str,
        since: i64,
    ) -> Result<(i64, i64), sqlx::Error> {
        let by_user: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM login_failures WHERE username = $1 AND at > $2",
        )
        .bind(username)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        let by_ip: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM login_failures WHERE ip = $1 AND at > $2")
                .bind(ip)
                .bind(since)
                .fetch_one(&self.pool)
                .await?;
        Ok((by_user, by_ip))
    }

    pub async fn clear_login_failures(&self, username: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM login_failures WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Appends an entry to the audit log.
    pub async fn audit(
        &self,
        event: &str,
        actor: Option<&str>,
        subject: Option<&str>,
        ip: Option<&str>,
        detail: &serde_json::Value,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO audit_log (at, event, actor, subject, ip, detail) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(now())
            .bind(event)
            .bind(actor)
            .bind(subject)
            .bind(ip)
            .bind(detail.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Audit entries, newest first, older than `before` (an entry id) if given.
    pub async fn audit_entries(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, at, event, actor, subject, ip, detail FROM audit_log
             WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Deletes what has expired: sessions, unused invitations, login failures older than a day,
    /// OAuth codes, refresh tokens, the revocation entries of expired access tokens and expired
    /// quota reservations. Returns how many rows went.
    pub async fn purge_expired(&self) -> Result<u64, sqlx::Error> {
        let now = now();
        let mut gone = 0;
        for (sql, cutoff) in [
            ("DELETE FROM sessions WHERE expires_at < $1", now),
            (
                "DELETE FROM invitations WHERE used_by IS NULL AND expires_at < $1",
                now,
            ),
            ("DELETE FROM login_failures WHERE at < $1", now - 86_400),
            ("DELETE FROM oauth_codes WHERE expires_at < $1", now - 3600),
            (
                "DELETE FROM oauth_refresh_tokens WHERE expires_at < $1",
                now,
            ),
            (
                "DELETE FROM oauth_revoked_tokens WHERE expires_at < $1",
                now - 300,
            ),
            // Room kept for uploads that ended or were given up (`crate::quotas`).
            ("DELETE FROM quota_reservations WHERE expires_at < $1", now),
            ("DELETE FROM quota_turns WHERE at < $1", now - 86_400),
        ] {
            gone += sqlx::query(sql)
                .bind(cutoff)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(gone)
    }
}
