//! `erased_objects`, and the rows an erasure removes with a dataset's links (`crate::erase`).

use super::{now, Db, Engine};

/// Bytes derived from an erased object: a table view or residency copy (its oid, and the region
/// store holding it; `None`: the dataset's own store).
pub type Derived = (String, Option<String>);

impl Db {
    /// Records `oids` erased from dataset `repo_id` and removes their links and everything
    /// derived from them, in one transaction; returns the derived bytes to delete.
    pub async fn erase_links(
        &self,
        repo_id: i64,
        oids: &[String],
    ) -> Result<Vec<Derived>, sqlx::Error> {
        let now = now();
        let mut derived = Vec::new();
        let mut tx = self.write_tx().await?;
        for oid in oids {
            sqlx::query("INSERT INTO erased_objects (repo_id, oid, erased_at) VALUES ($1, $2, $3) ON CONFLICT (repo_id, oid) DO UPDATE SET erased_at = excluded.erased_at")
                .bind(repo_id)
                .bind(oid)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            derived.extend(super::gc::drop_link(&mut tx, repo_id, oid).await?);
        }
        tx.commit().await?;
        Ok(derived)
    }

    /// Forgets an object no dataset links any more and makes its bytes a tombstone being
    /// deleted; whether it went (`false`: another dataset links it).
    pub async fn erase_object(&self, oid: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let gone = super::gc::forget_unlinked(&mut tx, oid).await?;
        tx.commit().await?;
        Ok(gone)
    }

    /// How many datasets link `oid`.
    pub async fn links_of(&self, oid: &str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM repo_objects WHERE oid = $1")
            .bind(oid)
            .fetch_one(&self.pool)
            .await
    }

    /// Of `oids`, those erased from dataset `repo_id`.
    pub async fn erased(&self, repo_id: i64, oids: &[String]) -> Result<Vec<String>, sqlx::Error> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        let list = serde_json::to_string(oids).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let sql = match self.engine {
            Engine::Sqlite => "SELECT oid FROM erased_objects WHERE repo_id = $1 AND oid IN (SELECT value FROM json_each($2))",
            Engine::Postgres => "SELECT oid FROM erased_objects WHERE repo_id = $1 AND oid IN (SELECT jsonb_array_elements_text(CAST($2 AS TEXT)::jsonb))",
        };
        sqlx::query_scalar(sql)
            .bind(repo_id)
            .bind(list)
            .fetch_all(&self.pool)
            .await
    }

    /// Destroys a dataset's data keys older than `version`; the versions destroyed.
    pub async fn destroy_data_keys_before(
        &self,
        repo_id: i64,
        version: i64,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let mut versions: Vec<i64> = sqlx::query_scalar(
            "UPDATE data_keys SET wrapped = NULL, destroyed_at = $3
             WHERE repo_id = $1 AND version < $2 AND wrapped IS NOT NULL RETURNING CAST(version AS BIGINT)",
        )
        .bind(repo_id)
        .bind(version)
        .bind(now())
        .fetch_all(&self.pool)
        .await?;
        versions.sort();
        Ok(versions)
    }

    /// Records an erasure about to move refs: its paths and the objects they name.
    pub async fn start_erasure(
        &self,
        repo_id: i64,
        paths: &[String],
        oids: &[String],
        by: &str,
    ) -> Result<i64, sqlx::Error> {
        // The dataset's region feeds rewrite their history without these paths too.
        sqlx::query("UPDATE region_feeds SET erased_at = $1 WHERE repo_id = $2")
            .bind(now())
            .bind(repo_id)
            .execute(&self.pool)
            .await?;
        sqlx::query_scalar("INSERT INTO erasures (repo_id, paths, oids, started_by, started_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(repo_id)
            .bind(serde_json::to_string(paths).unwrap_or_default())
            .bind(serde_json::to_string(oids).unwrap_or_default())
            .bind(by)
            .bind(now())
            .fetch_one(&self.pool)
            .await
    }

    /// Adds to the objects an erasure names.
    pub async fn erasure_oids(&self, id: i64, oids: &[String]) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE erasures SET oids = $1 WHERE id = $2")
            .bind(serde_json::to_string(oids).unwrap_or_default())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The erasures of a dataset that did not finish: (id, paths, oids).
    pub async fn unfinished_erasures(
        &self,
        repo_id: i64,
    ) -> Result<Vec<(i64, Vec<String>, Vec<String>)>, sqlx::Error> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, paths, oids FROM erasures WHERE repo_id = $1 AND finished_at IS NULL ORDER BY id",
        )
        .bind(repo_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, p, o)| {
                (
                    id,
                    serde_json::from_str(&p).unwrap_or_default(),
                    serde_json::from_str(&o).unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Marks erasures finished with their report.
    pub async fn finish_erasures(&self, ids: &[i64], report: &str) -> Result<(), sqlx::Error> {
        for id in ids {
            sqlx::query(
                "UPDATE erasures SET finished_at = $1, report = $2, paths = '[]' WHERE id = $3",
            )
            .bind(now())
            .bind(report)
            .bind(id)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Events and notifications of `dataset` whose data holds `needle`: (is a notification, id,
    /// data).
    pub async fn event_data_mentioning(
        &self,
        dataset: &str,
        needle: &str,
    ) -> Result<Vec<(bool, i64, String)>, sqlx::Error> {
        let events: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, data FROM events WHERE dataset = $1 AND data LIKE '%' || $2 || '%'",
        )
        .bind(dataset)
        .bind(needle)
        .fetch_all(&self.pool)
        .await?;
        let notes: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, data FROM notifications WHERE dataset = $1 AND data LIKE '%' || $2 || '%'",
        )
        .bind(dataset)
        .bind(needle)
        .fetch_all(&self.pool)
        .await?;
        Ok(events
            .into_iter()
            .map(|(id, d)| (false, id, d))
            .chain(notes.into_iter().map(|(id, d)| (true, id, d)))
            .collect())
    }

    /// Replaces an event's (or notification's) data.
    pub async fn set_event_data(
        &self,
        notification: bool,
        id: i64,
        data: &str,
    ) -> Result<(), sqlx::Error> {
        let sql = if notification {
            "UPDATE notifications SET data = $1 WHERE id = $2"
        } else {
            "UPDATE events SET data = $1 WHERE id = $2"
        };
        sqlx::query(sql)
            .bind(data)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
