//! `objects` and `repo_objects`: which oids are stored, and which repositories may read them. An
//! oid is readable through a repository only once it was uploaded or verified through it.

use std::collections::HashMap;

use strata_lfs::Oid;

use super::{now, Db, Engine};

/// Links waiting for the next write turn (see [`Db::link_object`]).
#[derive(Debug, Default)]
pub(super) struct PendingLinks(std::sync::Mutex<Vec<PendingLink>>);

#[derive(Debug)]
struct PendingLink {
    repo_id: i64,
    oid: Oid,
    size: u64,
    done: tokio::sync::oneshot::Sender<Result<(), LinkError>>,
}

/// Why a link was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The dataset is gone (deleted since the URL was signed).
    #[error("the dataset no longer exists")]
    NoDataset,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Db {
    /// Records that `oid` (of `size` bytes) is stored and linked to `repo_id`; idempotent, and
    /// durable when it returns. Concurrent calls are committed together: whoever gets the write
    /// turn writes every link waiting by then in one transaction (group commit), so a push of
    /// many small objects costs a few transactions, not one per object.
    pub async fn link_object(&self, repo_id: i64, oid: &Oid, size: u64) -> Result<(), LinkError> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.links
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(PendingLink {
                repo_id,
                oid: *oid,
                size,
                done,
            });
        {
            let _turn = self.writer.lock().await;
            let batch =
                std::mem::take(&mut *self.links.0.lock().unwrap_or_else(|e| e.into_inner()));
            if !batch.is_empty() {
                self.write_links(batch).await;
            }
        }
        result
            .await
            .unwrap_or_else(|_| Err(LinkError::Db(sqlx::Error::PoolClosed)))
    }

    /// Writes `batch` in one transaction; if that fails, each link alone, so one link to a
    /// deleted dataset fails only itself.
    async fn write_links(&self, batch: Vec<PendingLink>) {
        let rows: Vec<(i64, String, u64)> = batch
            .iter()
            .map(|l| (l.repo_id, l.oid.to_string(), l.size))
            .collect();
        if batch.len() > 1 && self.insert_links(&rows).await.is_ok() {
            for l in batch {
                let _ = l.done.send(Ok(()));
            }
            return;
        }
        for (l, row) in batch.into_iter().zip(rows) {
            let result = self.insert_links(std::slice::from_ref(&row)).await;
            let _ = l.done.send(result.map_err(|e| match &e {
                sqlx::Error::Database(d)
                    if d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation =>
                {
                    LinkError::NoDataset
                }
                _ => LinkError::Db(e),
            }));
        }
    }

    /// One transaction inserting `rows` (`repo_id`, oid, size) into `objects` and
    /// `repo_objects`; the rows travel as one JSON parameter per statement.
    async fn insert_links(&self, rows: &[(i64, String, u64)]) -> Result<(), sqlx::Error> {
        let list = serde_json::to_string(rows).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let objects = match self.engine {
            Engine::Sqlite => "INSERT INTO objects (oid, size, created_at) SELECT json_extract(value, '$[1]'), json_extract(value, '$[2]'), $2 FROM json_each($1) WHERE true ON CONFLICT (oid) DO NOTHING",
            Engine::Postgres => "INSERT INTO objects (oid, size, created_at) SELECT e->>1, CAST(e->>2 AS BIGINT), $2 FROM jsonb_array_elements(CAST($1 AS TEXT)::jsonb) e ON CONFLICT (oid) DO NOTHING",
        };
        let links = match self.engine {
            Engine::Sqlite => "INSERT INTO repo_objects (repo_id, oid, created_at) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), $2 FROM json_each($1) WHERE true ON CONFLICT (repo_id, oid) DO NOTHING",
            Engine::Postgres => "INSERT INTO repo_objects (repo_id, oid, created_at) SELECT CAST(e->>0 AS BIGINT), e->>1, $2 FROM jsonb_array_elements(CAST($1 AS TEXT)::jsonb) e ON CONFLICT (repo_id, oid) DO NOTHING",
        };
        let now = now();
        let mut tx = self.write_tx().await?;
        for sql in [objects, links] {
            sqlx::query(sql)
                .bind(&list)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
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
        if let [oid] = oids {
            // One object (a transfer, a raw read): the plain indexed lookup.
            let size: Option<i64> = sqlx::query_scalar("SELECT o.size FROM repo_objects r JOIN objects o ON o.oid = r.oid WHERE r.repo_id = $1 AND r.oid = $2")
                .bind(repo_id)
                .bind(oid.to_string())
                .fetch_optional(&self.pool)
                .await?;
            found.extend(size.map(|s| (*oid, s as u64)));
            return Ok(found);
        }
        // The oids travel as one JSON array parameter (no bind-parameter limit, one statement)
        // and the answer comes back as one JSON array: one row, however many objects (sqlx hands
        // SQLite rows over one by one between threads).
        let list = serde_json::to_string(oids).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let sql = match self.engine {
            Engine::Sqlite => "SELECT json_group_array(json_array(o.oid, o.size)) FROM repo_objects r JOIN objects o ON o.oid = r.oid WHERE r.repo_id = $1 AND r.oid IN (SELECT value FROM json_each($2))",
            Engine::Postgres => "SELECT COALESCE(CAST(json_agg(json_build_array(o.oid, o.size)) AS TEXT), '[]') FROM repo_objects r JOIN objects o ON o.oid = r.oid WHERE r.repo_id = $1 AND r.oid IN (SELECT jsonb_array_elements_text(CAST($2 AS TEXT)::jsonb))",
        };
        let (rows,): (String,) = sqlx::query_as(sql)
            .bind(repo_id)
            .bind(list)
            .fetch_one(&self.pool)
            .await?;
        let rows: Vec<(String, u64)> =
            serde_json::from_str(&rows).map_err(|e| sqlx::Error::Decode(e.into()))?;
        for (oid, size) in rows {
            if let Ok(oid) = oid.parse() {
                found.insert(oid, size);
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
