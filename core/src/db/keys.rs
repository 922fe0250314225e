//! `data_keys`: the datasets' data keys for encryption at rest, wrapped by the master key.

use super::{is_unique_violation, now, Db};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyRow {
    pub id: i64,
    pub repo_id: i64,
    pub version: i64,
    /// `None` once destroyed.
    pub wrapped: Option<String>,
    pub master_id: String,
}

const COLUMNS: &str = "id, repo_id, version, wrapped, master_id";

impl Db {
    /// A dataset's newest data key (destroyed or not).
    pub async fn newest_data_key(&self, repo_id: i64) -> Result<Option<KeyRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM data_keys WHERE repo_id = $1 ORDER BY version DESC LIMIT 1"
        ))
        .bind(repo_id)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn data_key(&self, id: i64) -> Result<Option<KeyRow>, sqlx::Error> {
        sqlx::query_as(sql!("SELECT {COLUMNS} FROM data_keys WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Records a new key version; `Ok(None)` when another one took that version first.
    pub async fn insert_data_key(
        &self,
        repo_id: i64,
        version: i64,
        wrapped: &str,
        master_id: &str,
    ) -> Result<Option<KeyRow>, sqlx::Error> {
        let row = sqlx::query_as(sql!(
            "INSERT INTO data_keys (repo_id, version, wrapped, master_id, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
        ))
        .bind(repo_id)
        .bind(version)
        .bind(wrapped)
        .bind(master_id)
        .bind(now())
        .fetch_one(&self.pool)
        .await;
        match row {
            Ok(row) => Ok(Some(row)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every key not destroyed, oldest first.
    pub async fn live_data_keys(&self) -> Result<Vec<KeyRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM data_keys WHERE wrapped IS NOT NULL ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await
    }

    /// Replaces a live key's wrapping (master-key rotation); whether it was still live.
    pub async fn rewrap_data_key(
        &self,
        id: i64,
        wrapped: &str,
        master_id: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE data_keys SET wrapped = $2, master_id = $3 WHERE id = $1 AND wrapped IS NOT NULL",
        )
        .bind(id)
        .bind(wrapped)
        .bind(master_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Objects after `after` (by oid), at most `limit`, with their sizes: the migration of a
    /// store to sealed objects walks them in order.
    pub async fn objects_after(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query_as("SELECT oid, size FROM objects WHERE oid > $1 ORDER BY oid LIMIT $2")
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
    }

    /// The datasets that link an object.
    pub async fn datasets_linking(&self, oid: &str) -> Result<Vec<i64>, sqlx::Error> {
        sqlx::query_scalar("SELECT repo_id FROM repo_objects WHERE oid = $1 ORDER BY repo_id")
            .bind(oid)
            .fetch_all(&self.pool)
            .await
    }

    /// Destroys every key of a dataset (crypto-shredding); how many were live.
    pub async fn destroy_data_keys(&self, repo_id: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE data_keys SET wrapped = NULL, destroyed_at = $2
             WHERE repo_id = $1 AND wrapped IS NOT NULL",
        )
        .bind(repo_id)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
