//! `push_mirrors`: the remotes each dataset is pushed to (`crate::mirrors::push`), when each is
//! due, the lease of a running push, and what the last one did.

use super::{now, Db};

/// A push mirror as stored (its sealed credentials included: never shown).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PushRow {
    pub id: i64,
    pub repo_id: i64,
    pub url: String,
    pub lfs_url: Option<String>,
    pub credentials: Option<String>,
    pub created_by: i64,
    pub force: i64,
    pub interval_secs: i64,
    pub state: String,
    pub next_at: i64,
    pub claimed_at: Option<i64>,
    pub claimed_until: Option<i64>,
    pub triggered_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
    pub failures: i64,
    pub pushed_refs: String,
    pub objects_pushed: i64,
    pub bytes_pushed: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A new push mirror.
#[derive(Debug, Clone)]
pub struct NewPush {
    pub url: String,
    pub lfs_url: Option<String>,
    /// Sealed.
    pub credentials: Option<String>,
    pub created_by: i64,
    pub force: bool,
    pub interval_secs: i64,
}

const COLUMNS: &str = "id, repo_id, url, lfs_url, credentials, created_by, force, interval_secs, state, next_at, claimed_at, claimed_until, triggered_at, last_attempt_at, last_success_at, last_error, failures, pushed_refs, objects_pushed, bytes_pushed, created_at, updated_at";

impl Db {
    /// Adds a push mirror to dataset `repo_id`, due at once.
    pub async fn push_create(&self, repo_id: i64, new: &NewPush) -> Result<PushRow, sqlx::Error> {
        let at = now();
        sqlx::query_as(sql!(
            "INSERT INTO push_mirrors (repo_id, url, lfs_url, credentials, created_by, force, \
             interval_secs, next_at, triggered_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8, $8) RETURNING {COLUMNS}"
        ))
        .bind(repo_id)
        .bind(&new.url)
        .bind(&new.lfs_url)
        .bind(&new.credentials)
        .bind(new.created_by)
        .bind(new.force as i64)
        .bind(new.interval_secs)
        .bind(at)
        .fetch_one(&self.pool)
        .await
    }

    /// The push mirrors of dataset `repo_id`, oldest first.
    pub async fn pushes_of(&self, repo_id: i64) -> Result<Vec<PushRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM push_mirrors WHERE repo_id = $1 ORDER BY id"
        ))
        .bind(repo_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Push mirror `id` of dataset `repo_id`.
    pub async fn push_of(&self, repo_id: i64, id: i64) -> Result<Option<PushRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM push_mirrors WHERE repo_id = $1 AND id = $2"
        ))
        .bind(repo_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Removes push mirror `id` of dataset `repo_id`: false when there was none.
    pub async fn push_delete(&self, repo_id: i64, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM push_mirrors WHERE repo_id = $1 AND id = $2")
            .bind(repo_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Makes the push mirrors of dataset `repo_id` (or only `id`) due now (after a running
    /// push, which then pushes again): how many there are.
    pub async fn push_trigger(&self, repo_id: i64, id: Option<i64>) -> Result<u64, sqlx::Error> {
        let at = now();
        let done = sqlx::query(
            "UPDATE push_mirrors SET next_at = $1, triggered_at = $1 \
             WHERE repo_id = $2 AND ($3 = 0 OR id = $3)",
        )
        .bind(at)
        .bind(repo_id)
        .bind(id.unwrap_or(0))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Push mirrors due that no running push holds, the longest due first.
    pub async fn due_pushes(&self, limit: i64) -> Result<Vec<PushRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM push_mirrors WHERE next_at <= $1 \
             AND COALESCE(claimed_until, 0) < $1 ORDER BY next_at, id LIMIT $2"
        ))
        .bind(now())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Claims push mirror `id` until `until`: when it was claimed, `None` when another holds it.
    pub async fn push_claim(&self, id: i64, until: i64) -> Result<Option<i64>, sqlx::Error> {
        let at = now();
        let done = sqlx::query(
            "UPDATE push_mirrors SET claimed_at = $1, claimed_until = $2, last_attempt_at = $1 \
             WHERE id = $3 AND COALESCE(claimed_until, 0) < $1",
        )
        .bind(at)
        .bind(until)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok((done.rows_affected() == 1).then_some(at))
    }

    /// Extends the lease of the push of mirror `id` taken at `claimed_at`.
    pub async fn push_renew(
        &self,
        id: i64,
        claimed_at: i64,
        until: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE push_mirrors SET claimed_until = $1 WHERE id = $2 AND claimed_at = $3",
        )
        .bind(until)
        .bind(id)
        .bind(claimed_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a push that left `refs` (JSON) on the remote, having uploaded so much.
    pub async fn push_done(
        &self,
        id: i64,
        claimed_at: i64,
        refs: &str,
        objects: i64,
        bytes: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE push_mirrors SET state = 'ok', last_success_at = $1, last_error = NULL, \
             failures = 0, pushed_refs = $4, objects_pushed = objects_pushed + $5, \
             bytes_pushed = bytes_pushed + $6, \
             next_at = CASE WHEN COALESCE(triggered_at, 0) >= claimed_at THEN $1 ELSE $1 + interval_secs END, \
             claimed_until = NULL, updated_at = $1 WHERE id = $2 AND claimed_at = $3",
        )
        .bind(now())
        .bind(id)
        .bind(claimed_at)
        .bind(refs)
        .bind(objects)
        .bind(bytes)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed push, tried again `retry_in` seconds on (at once if triggered meanwhile).
    pub async fn push_failed(
        &self,
        id: i64,
        claimed_at: i64,
        error: &str,
        retry_in: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE push_mirrors SET updated_at = $1, state = 'failed', last_error = $4, \
             failures = failures + 1, \
             next_at = CASE WHEN COALESCE(triggered_at, 0) >= claimed_at THEN $1 ELSE $1 + CAST($5 AS BIGINT) END, \
             claimed_until = NULL WHERE id = $2 AND claimed_at = $3",
        )
        .bind(now())
        .bind(id)
        .bind(claimed_at)
        .bind(error)
        .bind(retry_in)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
