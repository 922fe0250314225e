//! Shares (a user or a team gets read or write on a dataset or a path in it, maybe until an
//! expiry) and share links (a secret URL that reads a file or folder without an account).
//! Expired shares stay in the table (their owner sees them as expired) but grant nothing.

use super::{now, Db};

/// One share, with the names of its dataset, grantee and author.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ShareRow {
    pub id: i64,
    pub repo_id: i64,
    pub namespace: String,
    pub name: String,
    /// `""` for the whole dataset.
    pub path: String,
    /// `user` or `team`.
    pub kind: String,
    /// A username, or `{org}/{team}`.
    pub grantee: String,
    pub access: String,
    pub expires_at: Option<i64>,
    pub created_by: Option<String>,
    pub created_at: i64,
}

impl ShareRow {
    pub fn live(&self) -> bool {
        self.expires_at.is_none_or(|t| t > now())
    }
}

const SHARE_COLUMNS: &str = "s.id, s.repo_id, r.namespace, r.name, s.path,
    CASE WHEN s.user_id IS NULL THEN 'team' ELSE 'user' END AS kind,
    COALESCE(u.username, o.name || '/' || t.name) AS grantee, s.access, s.expires_at,
    c.username AS created_by, s.created_at
    FROM shares s JOIN repos r ON r.id = s.repo_id
    LEFT JOIN users u ON u.id = s.user_id
    LEFT JOIN teams t ON t.id = s.team_id LEFT JOIN orgs o ON o.id = t.org_id
    LEFT JOIN users c ON c.id = s.created_by";

/// A share link, as its dataset's admins see it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkRow {
    pub id: i64,
    pub repo_id: i64,
    pub path: String,
    pub password_hash: Option<String>,
    pub expires_at: Option<i64>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// What the link's secret is derived from (`datasets::links::secret_of`); none for links
    /// made before links could be shown again.
    pub nonce: Option<String>,
    /// The sha256 of the secret.
    pub token_hash: String,
}

impl LinkRow {
    /// Neither revoked nor expired.
    pub fn live(&self) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| t > now())
    }
}

const LINK_COLUMNS: &str = "l.id, l.repo_id, l.path, l.password_hash, l.expires_at,
    c.username AS created_by, l.created_at, l.revoked_at, l.nonce, l.token_hash
    FROM share_links l LEFT JOIN users c ON c.id = l.created_by";

impl Db {
    /// Creates a share, or changes the access and expiry of the one with the same dataset, path
    /// and grantee. Returns its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_share(
        &self,
        repo_id: i64,
        path: &str,
        user_id: Option<i64>,
        team_id: Option<i64>,
        access: &str,
        expires_at: Option<i64>,
        created_by: Option<i64>,
    ) -> Result<i64, sqlx::Error> {
        let put = || {
            self.put_share_once(
                repo_id, path, user_id, team_id, access, expires_at, created_by,
            )
        };
        match put().await {
            // The same share made twice at once: the second attempt finds the first and updates it.
            Err(e) if super::is_unique_violation(&e) => put().await,
            other => other,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn put_share_once(
        &self,
        repo_id: i64,
        path: &str,
        user_id: Option<i64>,
        team_id: Option<i64>,
        access: &str,
        expires_at: Option<i64>,
        created_by: Option<i64>,
    ) -> Result<i64, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let existing: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM shares WHERE repo_id = $1 AND path = $2
             AND (user_id = $3 OR team_id = $4)",
        )
        .bind(repo_id)
        .bind(path)
        .bind(user_id)
        .bind(team_id)
        .fetch_optional(&mut *tx)
        .await?;
        let id = match existing {
            Some(id) => {
                sqlx::query("UPDATE shares SET access = $1, expires_at = $2 WHERE id = $3")
                    .bind(access)
                    .bind(expires_at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                id
            }
            None => {
                sqlx::query_scalar(
                    "INSERT INTO shares (repo_id, path, user_id, team_id, access, expires_at, created_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(repo_id)
                .bind(path)
                .bind(user_id)
                .bind(team_id)
                .bind(access)
                .bind(expires_at)
                .bind(created_by)
                .bind(now())
                .fetch_one(&mut *tx)
                .await?
            }
        };
        tx.commit().await?;
        Ok(id)
    }

    pub async fn share(&self, repo_id: i64, id: i64) -> Result<Option<ShareRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {SHARE_COLUMNS} WHERE s.repo_id = $1 AND s.id = $2"
        ))
        .bind(repo_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Every share of a dataset, expired ones included.
    pub async fn shares(&self, repo_id: i64) -> Result<Vec<ShareRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {SHARE_COLUMNS} WHERE s.repo_id = $1 ORDER BY s.path, grantee"
        ))
        .bind(repo_id)
        .fetch_all(&self.pool)
        .await
    }

    /// The shares `user_id` made, on any dataset, newest first.
    pub async fn shares_made_by(&self, user_id: i64) -> Result<Vec<ShareRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {SHARE_COLUMNS} WHERE s.created_by = $1 ORDER BY s.created_at DESC, s.id DESC"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
    }

    /// The live shares held by `user_id` directly or through a team, newest first.
    pub async fn shared_with(&self, user_id: i64) -> Result<Vec<ShareRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {SHARE_COLUMNS} WHERE (s.expires_at IS NULL OR s.expires_at > $2)
             AND (s.user_id = $1 OR s.team_id IN (SELECT team_id FROM team_members WHERE user_id = $1))
             ORDER BY s.created_at DESC, s.id DESC"
        ))
        .bind(user_id)
        .bind(now())
        .fetch_all(&self.pool)
        .await
    }

    pub async fn update_share(
        &self,
        id: i64,
        access: &str,
        expires_at: Option<i64>,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("UPDATE shares SET access = $1, expires_at = $2 WHERE id = $3")
            .bind(access)
            .bind(expires_at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_share(&self, repo_id: i64, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM shares WHERE repo_id = $1 AND id = $2")
            .bind(repo_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn create_link(
        &self,
        (token_hash, nonce): (&str, &str),
        repo_id: i64,
        path: &str,
        password_hash: Option<&str>,
        expires_at: Option<i64>,
        created_by: Option<i64>,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "INSERT INTO share_links (token_hash, repo_id, path, password_hash, expires_at, created_by, created_at, nonce)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(token_hash)
        .bind(repo_id)
        .bind(path)
        .bind(password_hash)
        .bind(expires_at)
        .bind(created_by)
        .bind(now())
        .bind(nonce)
        .fetch_one(&self.pool)
        .await
    }

    /// The link with this secret, if it is neither revoked nor expired.
    pub async fn live_link(&self, token_hash: &str) -> Result<Option<LinkRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {LINK_COLUMNS} WHERE l.token_hash = $1 AND l.revoked_at IS NULL
             AND (l.expires_at IS NULL OR l.expires_at > $2)"
        ))
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await
    }

    /// A dataset's links that are not revoked (expired ones included), newest first.
    pub async fn links(&self, repo_id: i64) -> Result<Vec<LinkRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {LINK_COLUMNS} WHERE l.repo_id = $1 AND l.revoked_at IS NULL
             ORDER BY l.created_at DESC, l.id DESC"
        ))
        .bind(repo_id)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn revoke_link(&self, repo_id: i64, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE share_links SET revoked_at = $1 WHERE repo_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(repo_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
