//! `objects` and `repo_objects`: which oids are stored, and which repositories may read them. An
//! oid is readable through a repository only once it was uploaded or verified through it.

use std::collections::HashMap;

use strata_lfs::Oid;

use super::{now, Db, Engine};

impl Db {
    /// Records that `oid` (of `size` bytes) is stored and linked to `repo_id`. Idempotent.
    pub async fn link_object(&self, repo_id: i64, oid: &Oid, size: u64) -> Result<(), sqlx::Error> {
        let oid = oid.to_string();
        let now = now();
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO objects (oid, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (oid) DO NOTHING")
            .bind(&oid)
            .bind(size as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO repo_objects (repo_id, oid, created_at) VALUES ($1, $2, $3) ON CONFLICT (repo_id, oid) DO NOTHING")
            .bind(repo_id)
            .bind(&oid)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// Of `oids`, those linked to `repo_id`, with their sizes. One query, however many oids. The
    /// empty object (size 0) is linked to every dataset: git-lfs never uploads it, and there is
    /// nothing in it to protect.
    pub async fn linked_objects(
        &self,
        repo_id: i64,
        oids: &[Oid],
    ) -> Result<HashMap<Oid, u64>, sqlx::Error> {
        let mut found = HashMap::new();
        if oids.contains(&Oid::EMPTY) {
            found.insert(Oid::EMPTY, 0);
        }
        if oids.is_empty() {
            return Ok(found);
        }
        // The oids travel as one JSON array parameter: no bind-parameter limit, one statement.
        let list = serde_json::to_string(oids).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let sql = match self.engine {
            Engine::Sqlite => "SELECT o.oid, o.size FROM repo_objects r JOIN objects o ON o.oid = r.oid WHERE r.repo_id = $1 AND r.oid IN (SELECT value FROM json_each($2))",
            Engine::Postgres => "SELECT o.oid, o.size FROM repo_objects r JOIN objects o ON o.oid = r.oid WHERE r.repo_id = $1 AND r.oid IN (SELECT jsonb_array_elements_text(CAST($2 AS TEXT)::jsonb))",
        };
        let rows: Vec<(String, i64)> = sqlx::query_as(sql)
            .bind(repo_id)
            .bind(list)
            .fetch_all(&self.pool)
            .await?;
        for (oid, size) in rows {
            if let Ok(oid) = oid.parse() {
                found.insert(oid, size as u64);
            }
        }
        Ok(found)
    }

    /// Of `objects`, those not linked to dataset `repo_id` with that size, as sorted
    /// `"<oid> (<size> bytes)"` lines: what metadata may not name (the gates and the push hook).
    pub async fn missing_objects(
        &self,
        repo_id: i64,
        objects: impl Iterator<Item = (Oid, u64)>,
    ) -> Result<Vec<String>, sqlx::Error> {
        let wanted: HashMap<Oid, u64> = objects.collect();
        let oids: Vec<Oid> = wanted.keys().copied().collect();
        let linked = self.linked_objects(repo_id, &oids).await?;
        let mut missing: Vec<String> = wanted
            .iter()
            .filter(|(oid, size)| linked.get(*oid) != Some(*size))
            .map(|(oid, size)| format!("{oid} ({size} bytes)"))
            .collect();
        missing.sort();
        Ok(missing)
    }

    /// How many repositories `oid` is linked to, and whether it is recorded at all (for tests and
    /// consistency checks).
    pub async fn object_link_count(&self, oid: &Oid) -> Result<(bool, i64), sqlx::Error> {
        let oid = oid.to_string();
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM objects WHERE oid = $1")
            .bind(&oid)
            .fetch_one(&self.pool)
            .await?;
        let links: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM repo_objects WHERE oid = $1")
            .bind(&oid)
            .fetch_one(&self.pool)
            .await?;
        Ok((stored > 0, links))
    }
}
