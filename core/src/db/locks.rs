//! `locks`: LFS file locks, one per path and repository.

use super::{is_unique_violation, now, Db};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LockRow {
    pub id: i64,
    pub repo_id: i64,
    pub path: String,
    pub ref_name: Option<String>,
    /// Stable identity of the owner: `user:{id}` or `jwt:{sub}`.
    pub owner_key: String,
    pub owner_name: String,
    pub locked_at: i64,
}

pub struct NewLock<'a> {
    pub repo_id: i64,
    pub path: &'a str,
    pub ref_name: Option<&'a str>,
    pub owner_key: &'a str,
    pub owner_name: &'a str,
}

#[derive(Debug, Default)]
pub struct LockFilter {
    pub path: Option<String>,
    pub id: Option<i64>,
    /// Only locks with an id greater than this (the paging cursor).
    pub after: Option<i64>,
    pub limit: i64,
}

const COLUMNS: &str = "id, repo_id, path, ref_name, owner_key, owner_name, locked_at";

impl Db {
    /// Creates a lock, or returns `Err(existing)` when the path is locked already.
    pub async fn create_lock(
        &self,
        new: NewLock<'_>,
    ) -> Result<Result<LockRow, LockRow>, sqlx::Error> {
        let inserted = sqlx::query_as(sql!(
            "INSERT INTO locks (repo_id, path, ref_name, owner_key, owner_name, locked_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
        ))
        .bind(new.repo_id)
        .bind(new.path)
        .bind(new.ref_name)
        .bind(new.owner_key)
        .bind(new.owner_name)
        .bind(now())
        .fetch_one(&self.pool)
        .await;
        match inserted {
            Ok(lock) => Ok(Ok(lock)),
            Err(e) if is_unique_violation(&e) => {
                let existing = sqlx::query_as(sql!(
                    "SELECT {COLUMNS} FROM locks WHERE repo_id = $1 AND path = $2"
                ))
                .bind(new.repo_id)
                .bind(new.path)
                .fetch_optional(&self.pool)
                .await?;
                match existing {
                    Some(lock) => Ok(Err(lock)),
                    // Unlocked between our insert and our read: the caller may simply retry.
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Locks of a repository, oldest first, at most `filter.limit + 1` (to tell if more follow).
    pub async fn list_locks(
        &self,
        repo_id: i64,
        filter: &LockFilter,
    ) -> Result<Vec<LockRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM locks WHERE repo_id = $1 AND (CAST($2 AS TEXT) IS NULL OR path = $2) AND (CAST($3 AS BIGINT) IS NULL OR id = $3)
             AND id > $4 ORDER BY id LIMIT $5"
        ))
        .bind(repo_id)
        .bind(filter.path.as_deref())
        .bind(filter.id)
        .bind(filter.after.unwrap_or(0))
        .bind(filter.limit + 1)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn lock_by_id(&self, repo_id: i64, id: i64) -> Result<Option<LockRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM locks WHERE repo_id = $1 AND id = $2"
        ))
        .bind(repo_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Deletes a lock; returns whether it was still there.
    pub async fn delete_lock(&self, repo_id: i64, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM locks WHERE repo_id = $1 AND id = $2")
            .bind(repo_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
