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
    done: tokio::sync::oneshot::Sender<Result<Linked, LinkError>>,
}

/// A link recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linked {
    /// Garbage collection deleted these bytes lately: the caller checks they are stored again
    /// (they were written after the deletion) before relying on the link.
    pub collected_lately: bool,
}

/// Why a link was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The dataset is gone (deleted since the URL was signed).
    #[error("the dataset no longer exists")]
    NoDataset,
    /// Garbage collection is deleting these bytes right now.
    #[error("the object is being deleted by garbage collection")]
    Collecting,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// What one link transaction found.
enum Written {
    /// Committed; the oids garbage collection deleted lately.
    Done(std::collections::HashSet<String>),
    /// Rolled back: these oids' bytes are being deleted.
    Collecting,
}

impl Db {
    /// Records that `oid` (of `size` bytes) is stored and linked to `repo_id`; idempotent, and
    /// durable when it returns. Concurrent calls are committed together: whoever gets the write
    /// turn writes every link waiting by then in one transaction (group commit), so a push of
    /// many small objects costs a few transactions, not one per object. Linking takes the object
    /// back from garbage collection (`crate::gc`): it is no candidate any more, and a link while
    /// its bytes are being deleted is refused. Use `Storage::link`, which checks the bytes when
    /// they were deleted lately.
    pub async fn link_object(
        &self,
        repo_id: i64,
        oid: &Oid,
        size: u64,
    ) -> Result<Linked, LinkError> {
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
    /// deleted dataset (or to bytes being collected) fails only itself.
    async fn write_links(&self, batch: Vec<PendingLink>) {
        let rows: Vec<(i64, String, u64)> = batch
            .iter()
            .map(|l| (l.repo_id, l.oid.to_string(), l.size))
            .collect();
        if batch.len() > 1 {
            if let Ok(Written::Done(lately)) = self.insert_links(&rows).await {
                for (l, row) in batch.into_iter().zip(rows) {
                    let collected_lately = lately.contains(&row.1);
                    let _ = l.done.send(Ok(Linked { collected_lately }));
                }
                return;
            }
        }
        for (l, row) in batch.into_iter().zip(rows) {
            let result = match self.insert_links(std::slice::from_ref(&row)).await {
                Ok(Written::Done(lately)) => Ok(Linked {
                    collected_lately: !lately.is_empty(),
                }),
                Ok(Written::Collecting) => Err(LinkError::Collecting),
                Err(sqlx::Error::Database(d))
                    if d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation =>
                {
                    // The dataset went, or (PostgreSQL) the object row was collected meanwhile.
                    match self.repo_by_id(row.0).await {
                        Ok(Some(_)) => Err(LinkError::Collecting),
                        _ => Err(LinkError::NoDataset),
                    }
                }
                Err(e) => Err(LinkError::Db(e)),
            };
            let _ = l.done.send(result);
        }
    }

    /// One transaction inserting `rows` (`repo_id`, oid, size) into `objects` and
    /// `repo_objects` (a link's `created_at` is when it was last linked), taking them back from
    /// garbage collection; the rows travel as one JSON
    /// parameter per statement. Rolled back when any of the bytes are being deleted.
    async fn insert_links(&self, rows: &[(i64, String, u64)]) -> Result<Written, sqlx::Error> {
        let list = serde_json::to_string(rows).map_err(|e| sqlx::Error::Encode(e.into()))?;
        // Candidates first: the order a collection takes its locks in (no deadlock).
        let rescue = match self.engine {
            Engine::Sqlite => "DELETE FROM gc_candidates WHERE $2 >= 0 AND EXISTS (SELECT 1 FROM json_each($1) WHERE json_extract(value, '$[1]') = gc_candidates.oid AND (gc_candidates.repo_id = 0 OR json_extract(value, '$[0]') = gc_candidates.repo_id))",
            Engine::Postgres => "DELETE FROM gc_candidates c WHERE $2 >= 0 AND EXISTS (SELECT 1 FROM jsonb_array_elements(CAST($1 AS TEXT)::jsonb) e WHERE e->>1 = c.oid AND (c.repo_id = 0 OR CAST(e->>0 AS BIGINT) = c.repo_id))",
        };
        let objects = match self.engine {
            Engine::Sqlite => "INSERT INTO objects (oid, size, created_at) SELECT json_extract(value, '$[1]'), json_extract(value, '$[2]'), $2 FROM json_each($1) WHERE true ON CONFLICT (oid) DO NOTHING",
            Engine::Postgres => "INSERT INTO objects (oid, size, created_at) SELECT e->>1, CAST(e->>2 AS BIGINT), $2 FROM jsonb_array_elements(CAST($1 AS TEXT)::jsonb) e ON CONFLICT (oid) DO NOTHING",
        };
        let links = match self.engine {
            Engine::Sqlite => "INSERT INTO repo_objects (repo_id, oid, created_at) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), $2 FROM json_each($1) WHERE true ON CONFLICT (repo_id, oid) DO UPDATE SET created_at = excluded.created_at",
            Engine::Postgres => "INSERT INTO repo_objects (repo_id, oid, created_at) SELECT CAST(e->>0 AS BIGINT), e->>1, $2 FROM jsonb_array_elements(CAST($1 AS TEXT)::jsonb) e ON CONFLICT (repo_id, oid) DO UPDATE SET created_at = excluded.created_at",
        };
        // A tombstone being deleted for longer than a run may take is one whose run died: its
        // bytes may be gone or not, as after a deletion (the link checks them).
        let tombs = match self.engine {
            Engine::Sqlite => "SELECT t.oid, CASE WHEN t.state = 'deleting' AND t.at >= $2 - 600 THEN 'deleting' ELSE 'deleted' END FROM gc_tombstones t WHERE EXISTS (SELECT 1 FROM json_each($1) WHERE json_extract(value, '$[1]') = t.oid AND (t.repo_id = 0 OR json_extract(value, '$[0]') = t.repo_id))",
            Engine::Postgres => "SELECT t.oid, CASE WHEN t.state = 'deleting' AND t.at >= $2 - 600 THEN 'deleting' ELSE 'deleted' END FROM gc_tombstones t WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(CAST($1 AS TEXT)::jsonb) e WHERE e->>1 = t.oid AND (t.repo_id = 0 OR CAST(e->>0 AS BIGINT) = t.repo_id))",
        };
        let now = now();
        let mut tx = self.write_tx().await?;
        for sql in [rescue, objects, links] {
            sqlx::query(sql)
                .bind(&list)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        // Read after writing: on PostgreSQL a collection that committed meanwhile is seen.
        let found: Vec<(String, String)> = sqlx::query_as(tombs)
            .bind(&list)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
        let (busy, lately): (Vec<_>, Vec<_>) =
            found.into_iter().partition(|(_, s)| s == "deleting");
        if !busy.is_empty() {
            tx.rollback().await?;
            return Ok(Written::Collecting);
        }
        tx.commit().await?;
        Ok(Written::Done(lately.into_iter().map(|(o, _)| o).collect()))
    }

    /// Of `oids`, those linked to `repo_id`, with their sizes. One query, however many oids. The
    /// empty object (size 0) is linked to every dataset: git-lfs never uploads it, and there is
    /// nothing in it to protect. A link garbage collection marked is taken back from it: whoever
    /// asks (a transfer, a push's check, a read) is about to use it.
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
        let mut marked = Vec::new();
        if let [oid] = oids {
            // One object (a transfer, a raw read): the plain indexed lookup.
            let row: Option<(i64, i64)> = sqlx::query_as("SELECT o.size, COALESCE(c.marked_at, 0) FROM repo_objects r JOIN objects o ON o.oid = r.oid LEFT JOIN gc_candidates c ON c.repo_id = r.repo_id AND c.oid = r.oid WHERE r.repo_id = $1 AND r.oid = $2")
                .bind(repo_id)
                .bind(oid.to_string())
                .fetch_optional(&self.pool)
                .await?;
            if let Some((size, m)) = row {
                found.insert(*oid, size as u64);
                if m != 0 {
                    marked.push(oid.to_string());
                }
            }
        } else {
            // The oids travel as one JSON array parameter (no bind-parameter limit, one
            // statement) and the answer comes back as one JSON array: one row, however many
            // objects (sqlx hands SQLite rows over one by one between threads).
            let list = serde_json::to_string(oids).map_err(|e| sqlx::Error::Encode(e.into()))?;
            let sql = match self.engine {
                Engine::Sqlite => "SELECT json_group_array(json_array(o.oid, o.size, COALESCE(c.marked_at, 0))) FROM repo_objects r JOIN objects o ON o.oid = r.oid LEFT JOIN gc_candidates c ON c.repo_id = r.repo_id AND c.oid = r.oid WHERE r.repo_id = $1 AND r.oid IN (SELECT value FROM json_each($2))",
                Engine::Postgres => "SELECT COALESCE(CAST(json_agg(json_build_array(o.oid, o.size, COALESCE(c.marked_at, 0))) AS TEXT), '[]') FROM repo_objects r JOIN objects o ON o.oid = r.oid LEFT JOIN gc_candidates c ON c.repo_id = r.repo_id AND c.oid = r.oid WHERE r.repo_id = $1 AND r.oid IN (SELECT jsonb_array_elements_text(CAST($2 AS TEXT)::jsonb))",
            };
            let (rows,): (String,) = sqlx::query_as(sql)
                .bind(repo_id)
                .bind(list)
                .fetch_one(&self.pool)
                .await?;
            let rows: Vec<(String, u64, i64)> =
                serde_json::from_str(&rows).map_err(|e| sqlx::Error::Decode(e.into()))?;
            for (oid, size, m) in rows {
                if m != 0 {
                    marked.push(oid.clone());
                }
                if let Ok(oid) = oid.parse() {
                    found.insert(oid, size);
                }
            }
        }
        if !marked.is_empty() {
            // A sweep may have removed a link between the read and the rescue: what is gone
            // after the rescue is not linked (and nothing can remove it now without a new mark).
            for gone in self.rescue(repo_id, &marked).await? {
                if let Ok(oid) = gone.parse::<Oid>() {
                    found.remove(&oid);
                }
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
