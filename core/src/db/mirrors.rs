//! `mirrors`: datasets that follow a remote (`crate::mirrors`), when each is due, the lease of a
//! running sync, and what the last one did.

use super::{now, Db};

/// A mirror as stored (its sealed secrets included: never shown as they are).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MirrorRow {
    pub id: i64,
    pub repo_id: i64,
    pub url: String,
    pub lfs_url: Option<String>,
    pub credentials: Option<String>,
    pub hook_secret: String,
    pub created_by: i64,
    pub interval_secs: i64,
    pub state: String,
    pub paused: i64,
    pub next_at: i64,
    pub claimed_at: Option<i64>,
    pub claimed_until: Option<i64>,
    pub triggered_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub behind_since: Option<i64>,
    pub last_error: Option<String>,
    pub failures: i64,
    pub remote_refs: String,
    pub objects_fetched: i64,
    pub bytes_fetched: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a mirror follows and how often (creating or changing one).
#[derive(Debug, Clone)]
pub struct MirrorSet {
    pub url: String,
    pub lfs_url: Option<String>,
    /// Sealed; `None` keeps what a mirror being changed has.
    pub credentials: Option<String>,
    /// Sealed.
    pub hook_secret: String,
    pub created_by: i64,
    pub interval_secs: i64,
    pub paused: bool,
}

/// How a sync ended.
#[derive(Debug, Clone)]
pub enum MirrorEnd<'a> {
    /// The mirror has the remote's refs (`refs`: JSON), having fetched so much.
    Synced {
        refs: &'a str,
        objects: i64,
        bytes: i64,
    },
    Failed(&'a str),
}

const COLUMNS: &str = "id, repo_id, url, lfs_url, credentials, hook_secret, created_by, interval_secs, state, paused, next_at, claimed_at, claimed_until, triggered_at, last_attempt_at, last_success_at, behind_since, last_error, failures, remote_refs, objects_fetched, bytes_fetched, created_at, updated_at";

impl Db {
    /// Makes dataset `repo_id` a mirror as `set` says, or changes the one it is: due at once
    /// either way. The dataset is read-only from now on.
    pub async fn mirror_put(
        &self,
        repo_id: i64,
        set: &MirrorSet,
    ) -> Result<MirrorRow, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let at = now();
        sqlx::query(
            "INSERT INTO mirrors (repo_id, url, lfs_url, credentials, hook_secret, created_by, \
             interval_secs, paused, next_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9) \
             ON CONFLICT (repo_id) DO UPDATE SET url = excluded.url, lfs_url = excluded.lfs_url, \
             credentials = COALESCE(excluded.credentials, mirrors.credentials), \
             hook_secret = excluded.hook_secret, \
             created_by = excluded.created_by, interval_secs = excluded.interval_secs, \
             paused = excluded.paused, next_at = excluded.next_at, triggered_at = excluded.next_at, \
             failures = 0, updated_at = excluded.updated_at",
        )
        .bind(repo_id)
        .bind(&set.url)
        .bind(&set.lfs_url)
        .bind(&set.credentials)
        .bind(&set.hook_secret)
        .bind(set.created_by)
        .bind(set.interval_secs)
        .bind(set.paused as i64)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE repos SET mirror = 1 WHERE id = $1")
            .bind(repo_id)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query_as(sql!("SELECT {COLUMNS} FROM mirrors WHERE repo_id = $1"))
            .bind(repo_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The mirror dataset `repo_id` is, if it is one.
    pub async fn mirror_of(&self, repo_id: i64) -> Result<Option<MirrorRow>, sqlx::Error> {
        sqlx::query_as(sql!("SELECT {COLUMNS} FROM mirrors WHERE repo_id = $1"))
            .bind(repo_id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Stops dataset `repo_id` mirroring: writable again. False when it was no mirror.
    pub async fn mirror_delete(&self, repo_id: i64) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let gone = sqlx::query("DELETE FROM mirrors WHERE repo_id = $1")
            .bind(repo_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE repos SET mirror = 0 WHERE id = $1")
            .bind(repo_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone == 1)
    }

    /// Asks for a sync of the mirror of `repo_id` now (after the running one, if one is).
    pub async fn mirror_trigger(&self, repo_id: i64) -> Result<bool, sqlx::Error> {
        let at = now();
        let done = sqlx::query(
            "UPDATE mirrors SET next_at = $1, triggered_at = $1, updated_at = $1 WHERE repo_id = $2",
        )
        .bind(at)
        .bind(repo_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Mirrors due for a sync that no running sync holds, the longest due first.
    pub async fn due_mirrors(&self, limit: i64) -> Result<Vec<MirrorRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM mirrors WHERE paused = 0 AND next_at <= $1 \
             AND COALESCE(claimed_until, 0) < $1 ORDER BY next_at, id LIMIT $2"
        ))
        .bind(now())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Claims mirror `id` for a sync until `until` (renewed while it runs): when it was claimed,
    /// or `None` when another replica holds it.
    pub async fn mirror_claim(&self, id: i64, until: i64) -> Result<Option<i64>, sqlx::Error> {
        let at = now();
        let done = sqlx::query(
            "UPDATE mirrors SET claimed_at = $1, claimed_until = $2, last_attempt_at = $1 \
             WHERE id = $3 AND paused = 0 AND COALESCE(claimed_until, 0) < $1",
        )
        .bind(at)
        .bind(until)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok((done.rows_affected() == 1).then_some(at))
    }

    /// Extends the lease of the sync of mirror `id` taken at `claimed_at`: false when it lost it.
    pub async fn mirror_renew(
        &self,
        id: i64,
        claimed_at: i64,
        until: i64,
    ) -> Result<bool, sqlx::Error> {
        let done =
            sqlx::query("UPDATE mirrors SET claimed_until = $1 WHERE id = $2 AND claimed_at = $3")
                .bind(until)
                .bind(id)
                .bind(claimed_at)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records how the sync of mirror `id` taken at `claimed_at` ended, and when the next is
    /// due: `retry_in` seconds after a failure, its interval after a success, at once when it
    /// was triggered while it ran.
    pub async fn mirror_end(
        &self,
        id: i64,
        claimed_at: i64,
        end: MirrorEnd<'_>,
        retry_in: i64,
    ) -> Result<(), sqlx::Error> {
        let at = now();
        let q = match end {
            MirrorEnd::Synced {
                refs,
                objects,
                bytes,
            } => sqlx::query(
                "UPDATE mirrors SET state = 'ok', last_success_at = $1, last_error = NULL, \
                 failures = 0, behind_since = NULL, remote_refs = $4, \
                 objects_fetched = objects_fetched + $5, bytes_fetched = bytes_fetched + $6, \
                 next_at = CASE WHEN COALESCE(triggered_at, 0) >= claimed_at THEN $1 ELSE $1 + interval_secs END, claimed_until = NULL, \
                 updated_at = $1 WHERE id = $2 AND claimed_at = $3",
            )
            .bind(at)
            .bind(id)
            .bind(claimed_at)
            .bind(refs.to_owned())
            .bind(objects)
            .bind(bytes),
            MirrorEnd::Failed(error) => sqlx::query(
                "UPDATE mirrors SET state = 'failed', last_error = $4, failures = failures + 1, \
                 behind_since = COALESCE(behind_since, $1), \
                 next_at = CASE WHEN COALESCE(triggered_at, 0) >= claimed_at THEN $1 ELSE $1 + $5 END, claimed_until = NULL, updated_at = $1 \
                 WHERE id = $2 AND claimed_at = $3",
            )
            .bind(at)
            .bind(id)
            .bind(claimed_at)
            .bind(error.to_owned())
            .bind(retry_in),
        };
        q.execute(&self.pool).await?;
        Ok(())
    }

    /// How many mirrors are in each state, and the oldest `behind_since` (unix seconds).
    pub async fn mirror_figures(&self) -> Result<(Vec<(String, i64)>, Option<i64>), sqlx::Error> {
        let states = sqlx::query_as(
            "SELECT CASE WHEN paused <> 0 THEN 'paused' ELSE state END AS s, COUNT(*) \
             FROM mirrors GROUP BY s",
        )
        .fetch_all(&self.pool)
        .await?;
        let behind: (Option<i64>,) = sqlx::query_as("SELECT MIN(behind_since) FROM mirrors")
            .fetch_one(&self.pool)
            .await?;
        Ok((states, behind.0))
    }
}
