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
            let views: Vec<Derived> = sqlx::query_as(
                "SELECT oid, store FROM table_views WHERE repo_id = $1 AND source LIKE '%:' || $2",
            )
            .bind(repo_id)
            .bind(oid)
            .fetch_all(&mut *tx)
            .await?;
            let copies: Vec<(String, String)> = sqlx::query_as(
                "SELECT oid, store FROM region_copies WHERE repo_id = $1 AND source_oid = $2",
            )
            .bind(repo_id)
            .bind(oid)
            .fetch_all(&mut *tx)
            .await?;
            derived.extend(views);
            derived.extend(copies.into_iter().map(|(o, s)| (o, Some(s))));
            for sql in [
                "DELETE FROM repo_objects WHERE repo_id = $1 AND oid = $2",
                "DELETE FROM table_views WHERE repo_id = $1 AND source LIKE '%:' || $2",
                "DELETE FROM region_copies WHERE repo_id = $1 AND source_oid = $2",
                "DELETE FROM table_objects WHERE repo_id = $1 AND oid = $2",
                "DELETE FROM governed_writes WHERE repo_id = $1 AND oid = $2",
                "DELETE FROM gc_candidates WHERE repo_id = $1 AND oid = $2",
            ] {
                sqlx::query(sql)
                    .bind(repo_id)
                    .bind(oid)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(derived)
    }

    /// Forgets an object no dataset links any more and makes its bytes a tombstone being
    /// deleted; whether it went (`false`: another dataset links it).
    pub async fn erase_object(&self, oid: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM gc_candidates WHERE repo_id = 0 AND oid = $1")
            .bind(oid)
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM objects WHERE oid = $1 AND NOT EXISTS (SELECT 1 FROM repo_objects r WHERE r.oid = $1)")
            .bind(oid)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone > 0 {
            sqlx::query("INSERT INTO gc_tombstones (repo_id, oid, state, at) VALUES (0, $1, 'deleting', $2) ON CONFLICT (repo_id, oid) DO UPDATE SET state = 'deleting', at = excluded.at")
                .bind(oid)
                .bind(now())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(gone > 0)
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
}
