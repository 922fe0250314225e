//! Garbage collection's tables (`crate::gc` runs it): candidates marked unreachable, tombstones
//! of bytes being (or lately) deleted, each run's claim and report, and each dataset's retention.

use super::{now, Db, Engine};

/// A dataset as a collection sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GcRepo {
    pub id: i64,
    pub namespace: String,
    pub name: String,
    /// Days of each branch's history kept reachable; `None`: all of it.
    pub retention_days: Option<i64>,
}

/// A link of a dataset: oid, size, when it was last linked.
pub type GcLink = (String, i64, i64);

/// A run, as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GcRunRow {
    pub id: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub dry_run: i64,
    pub started_by: Option<String>,
    pub state: String,
    pub report: Option<String>,
}

/// A run that stopped sending heartbeats this long ago (seconds) is over: its process died.
const STALE: i64 = 600;

impl Db {
    /// Takes `oids` of dataset `repo_id` back from garbage collection; returns those of them no
    /// longer linked by now.
    pub(super) async fn rescue(
        &self,
        repo_id: i64,
        oids: &[String],
    ) -> Result<Vec<String>, sqlx::Error> {
        let list = serde_json::to_string(oids).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let rescue = match self.engine {
            Engine::Sqlite => "DELETE FROM gc_candidates WHERE repo_id = $1 AND oid IN (SELECT value FROM json_each($2))",
            Engine::Postgres => "DELETE FROM gc_candidates WHERE repo_id = $1 AND oid IN (SELECT jsonb_array_elements_text(CAST($2 AS TEXT)::jsonb))",
        };
        let linked = match self.engine {
            Engine::Sqlite => "SELECT oid FROM repo_objects WHERE repo_id = $1 AND oid IN (SELECT value FROM json_each($2))",
            Engine::Postgres => "SELECT oid FROM repo_objects WHERE repo_id = $1 AND oid IN (SELECT jsonb_array_elements_text(CAST($2 AS TEXT)::jsonb))",
        };
        sqlx::query(rescue)
            .bind(repo_id)
            .bind(&list)
            .execute(&self.pool)
            .await?;
        let still: Vec<String> = sqlx::query_scalar(linked)
            .bind(repo_id)
            .bind(&list)
            .fetch_all(&self.pool)
            .await?;
        Ok(oids
            .iter()
            .filter(|o| !still.contains(o))
            .cloned()
            .collect())
    }

    /// Claims the next run: `None` while another one runs (and sends heartbeats).
    pub async fn gc_claim(
        &self,
        dry_run: bool,
        by: Option<&str>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let now = now();
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE gc_runs SET state = 'failed', finished_at = $1 WHERE state = 'running' AND heartbeat_at < $2")
            .bind(now)
            .bind(now - STALE)
            .execute(&mut *tx)
            .await?;
        if !dry_run {
            let running: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM gc_runs WHERE state = 'running' AND dry_run = 0",
            )
            .fetch_one(&mut *tx)
            .await?;
            if running > 0 {
                return Ok(None);
            }
        }
        let id: i64 = sqlx::query_scalar("INSERT INTO gc_runs (started_at, heartbeat_at, dry_run, started_by, state) VALUES ($1, $1, $2, $3, 'running') RETURNING id")
            .bind(now)
            .bind(i64::from(dry_run))
            .bind(by)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    pub async fn gc_heartbeat(&self, run: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE gc_runs SET heartbeat_at = $1 WHERE id = $2")
            .bind(now())
            .bind(run)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a run with `state` (`done` or `failed`) and its report.
    pub async fn gc_finish(&self, run: i64, state: &str, report: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE gc_runs SET state = $1, report = $2, finished_at = $3 WHERE id = $4")
            .bind(state)
            .bind(report)
            .bind(now())
            .bind(run)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The latest runs, newest first.
    pub async fn gc_runs(&self, limit: i64) -> Result<Vec<GcRunRow>, sqlx::Error> {
        sqlx::query_as("SELECT id, started_at, finished_at, dry_run, started_by, state, report FROM gc_runs ORDER BY id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
    }

    pub async fn gc_run(&self, id: i64) -> Result<Option<GcRunRow>, sqlx::Error> {
        sqlx::query_as("SELECT id, started_at, finished_at, dry_run, started_by, state, report FROM gc_runs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Every dataset, by id.
    pub async fn gc_repos(&self) -> Result<Vec<GcRepo>, sqlx::Error> {
        sqlx::query_as("SELECT id, namespace, name, CAST(retention_days AS BIGINT) AS retention_days FROM repos ORDER BY id")
            .fetch_all(&self.pool)
            .await
    }

    /// Sets how many days of history a dataset keeps (`None`: all).
    pub async fn set_retention(&self, repo_id: i64, days: Option<i64>) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE repos SET retention_days = $1 WHERE id = $2")
            .bind(days)
            .bind(repo_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn retention(&self, repo_id: i64) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar("SELECT CAST(retention_days AS BIGINT) FROM repos WHERE id = $1")
            .bind(repo_id)
            .fetch_optional(&self.pool)
            .await
            .map(Option::flatten)
    }

    /// The links of a dataset.
    pub async fn gc_links(&self, repo_id: i64) -> Result<Vec<GcLink>, sqlx::Error> {
        sqlx::query_as("SELECT r.oid, o.size, r.created_at FROM repo_objects r JOIN objects o ON o.oid = r.oid WHERE r.repo_id = $1")
            .bind(repo_id)
            .fetch_all(&self.pool)
            .await
    }

    /// The candidates of `repo_id` (0: objects no dataset links), with when they were marked.
    pub async fn gc_candidates(&self, repo_id: i64) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query_as("SELECT oid, marked_at FROM gc_candidates WHERE repo_id = $1")
            .bind(repo_id)
            .fetch_all(&self.pool)
            .await
    }

    /// Marks `oids` of `repo_id` (0: unlinked objects) as candidates now, unless linked (again)
    /// since `cutoff`: a link made during the run is never marked.
    pub async fn gc_mark(
        &self,
        repo_id: i64,
        oids: &[String],
        cutoff: i64,
    ) -> Result<(), sqlx::Error> {
        if oids.is_empty() {
            return Ok(());
        }
        let list = serde_json::to_string(oids).map_err(|e| sqlx::Error::Encode(e.into()))?;
        // (repo_id 0: objects no dataset links; otherwise links of that dataset.)
        let sql = match (self.engine, repo_id == 0) {
            (Engine::Sqlite, true) => "INSERT INTO gc_candidates (repo_id, oid, marked_at) SELECT $1, v.value, $3 FROM json_each($2) v WHERE NOT EXISTS (SELECT 1 FROM repo_objects r WHERE r.oid = v.value) AND EXISTS (SELECT 1 FROM objects o WHERE o.oid = v.value AND o.created_at < $4) ON CONFLICT (repo_id, oid) DO NOTHING",
            (Engine::Sqlite, false) => "INSERT INTO gc_candidates (repo_id, oid, marked_at) SELECT $1, v.value, $3 FROM json_each($2) v WHERE EXISTS (SELECT 1 FROM repo_objects r WHERE r.repo_id = $1 AND r.oid = v.value AND r.created_at < $4) ON CONFLICT (repo_id, oid) DO NOTHING",
            (Engine::Postgres, true) => "INSERT INTO gc_candidates (repo_id, oid, marked_at) SELECT $1, v.oid, $3 FROM (SELECT jsonb_array_elements_text(CAST($2 AS TEXT)::jsonb) AS oid) v WHERE NOT EXISTS (SELECT 1 FROM repo_objects r WHERE r.oid = v.oid) AND EXISTS (SELECT 1 FROM objects o WHERE o.oid = v.oid AND o.created_at < $4) ON CONFLICT (repo_id, oid) DO NOTHING",
            (Engine::Postgres, false) => "INSERT INTO gc_candidates (repo_id, oid, marked_at) SELECT $1, v.oid, $3 FROM (SELECT jsonb_array_elements_text(CAST($2 AS TEXT)::jsonb) AS oid) v WHERE EXISTS (SELECT 1 FROM repo_objects r WHERE r.repo_id = $1 AND r.oid = v.oid AND r.created_at < $4) ON CONFLICT (repo_id, oid) DO NOTHING",
        };
        sqlx::query(sql)
            .bind(repo_id)
            .bind(list)
            .bind(now())
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drops candidates of `repo_id` that are live again.
    pub async fn gc_unmark(&self, repo_id: i64, oids: &[String]) -> Result<(), sqlx::Error> {
        if oids.is_empty() {
            return Ok(());
        }
        self.rescue(repo_id, oids).await.map(|_| ())
    }

    /// Removes the link of a candidate marked by `due` (unix seconds) and still a candidate,
    /// with what was derived from it (table views, residency copies, the table index, governed
    /// writes); with `sealed`, its sealed copy becomes a tombstone being deleted. `None` when it
    /// stays; otherwise the derived bytes to delete.
    pub async fn gc_unlink(
        &self,
        repo_id: i64,
        oid: &str,
        due: i64,
        sealed: bool,
    ) -> Result<Option<Vec<super::Derived>>, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let taken = sqlx::query(
            "DELETE FROM gc_candidates WHERE repo_id = $1 AND oid = $2 AND marked_at <= $3",
        )
        .bind(repo_id)
        .bind(oid)
        .bind(due)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if taken == 0 {
            return Ok(None);
        }
        let derived = drop_link(&mut tx, repo_id, oid).await?;
        if sealed {
            tombstone(&mut tx, repo_id, oid).await?;
        }
        tx.commit().await?;
        Ok(Some(derived))
    }

    /// Forgets candidates and tombstones of datasets deleted since.
    pub async fn gc_forget_deleted(&self) -> Result<(), sqlx::Error> {
        for sql in [
            "DELETE FROM gc_candidates WHERE repo_id <> 0 AND repo_id NOT IN (SELECT id FROM repos)",
            "DELETE FROM gc_tombstones WHERE repo_id <> 0 AND repo_id NOT IN (SELECT id FROM repos)",
        ] {
            sqlx::query(sql).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Removes one link (a link whose bytes turned out collected).
    pub async fn unlink_object(&self, repo_id: i64, oid: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM repo_objects WHERE repo_id = $1 AND oid = $2")
            .bind(repo_id)
            .bind(oid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Objects no dataset links, recorded before `cutoff`.
    pub async fn gc_unlinked_objects(
        &self,
        cutoff: i64,
    ) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query_as("SELECT o.oid, o.size FROM objects o WHERE o.created_at < $1 AND NOT EXISTS (SELECT 1 FROM repo_objects r WHERE r.oid = o.oid)")
            .bind(cutoff)
            .fetch_all(&self.pool)
            .await
    }

    /// Forgets an object no dataset links, marked by `due` and still a candidate: its row goes
    /// and its bytes become a tombstone being deleted. Whether it went.
    pub async fn gc_forget_object(&self, oid: &str, due: i64) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let taken = sqlx::query(
            "DELETE FROM gc_candidates WHERE repo_id = 0 AND oid = $1 AND marked_at <= $2",
        )
        .bind(oid)
        .bind(due)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if taken == 0 {
            return Ok(false);
        }
        let gone = forget_unlinked(&mut tx, oid).await?;
        tx.commit().await?;
        Ok(gone)
    }

    /// The bytes of a tombstone are deleted.
    pub async fn gc_deleted(&self, repo_id: i64, oid: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE gc_tombstones SET state = 'deleted', at = $1 WHERE repo_id = $2 AND oid = $3",
        )
        .bind(now())
        .bind(repo_id)
        .bind(oid)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Tombstones whose bytes a run began deleting and did not finish (it died): the next run
    /// deletes them again.
    pub async fn gc_unfinished(&self) -> Result<Vec<(i64, String)>, sqlx::Error> {
        sqlx::query_as("SELECT repo_id, oid FROM gc_tombstones WHERE state = 'deleting'")
            .fetch_all(&self.pool)
            .await
    }

    /// Forgets tombstones deleted before `before`.
    pub async fn gc_forget_tombstones(&self, before: i64) -> Result<u64, sqlx::Error> {
        Ok(
            sqlx::query("DELETE FROM gc_tombstones WHERE state = 'deleted' AND at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Of `oids`, those recorded as an object, or as a table view's or residency copy's bytes
    /// (bytes still needed).
    pub async fn gc_known(&self, oids: &[String]) -> Result<Vec<String>, sqlx::Error> {
        let list = serde_json::to_string(oids).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let sql = match self.engine {
            Engine::Sqlite => "SELECT v.value FROM json_each($1) v WHERE EXISTS (SELECT 1 FROM objects o WHERE o.oid = v.value) OR EXISTS (SELECT 1 FROM table_views t WHERE t.oid = v.value) OR EXISTS (SELECT 1 FROM region_copies c WHERE c.oid = v.value)",
            Engine::Postgres => "SELECT v.oid FROM (SELECT jsonb_array_elements_text(CAST($1 AS TEXT)::jsonb) AS oid) v WHERE EXISTS (SELECT 1 FROM objects o WHERE o.oid = v.oid) OR EXISTS (SELECT 1 FROM table_views t WHERE t.oid = v.oid) OR EXISTS (SELECT 1 FROM region_copies c WHERE c.oid = v.oid)",
        };
        sqlx::query_scalar(sql)
            .bind(list)
            .fetch_all(&self.pool)
            .await
    }
}

/// Removes dataset `repo_id`'s link to `oid` and what derives from it (its table views and
/// residency copies, the table index, governed writes, its S3 ETag, a candidate row, what region
/// feeds name of it); returns
/// the derived bytes to delete. Garbage collection and erasure both drop links through here.
pub(super) async fn drop_link(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    repo_id: i64,
    oid: &str,
) -> Result<Vec<super::Derived>, sqlx::Error> {
    let mut derived: Vec<super::Derived> = sqlx::query_as(
        "SELECT oid, store FROM table_views WHERE repo_id = $1 AND source LIKE '%:' || $2",
    )
    .bind(repo_id)
    .bind(oid)
    .fetch_all(&mut **tx)
    .await?;
    let copies: Vec<(String, String)> = sqlx::query_as(
        "SELECT oid, store FROM region_copies WHERE repo_id = $1 AND source_oid = $2",
    )
    .bind(repo_id)
    .bind(oid)
    .fetch_all(&mut **tx)
    .await?;
    derived.extend(copies.into_iter().map(|(o, s)| (o, Some(s))));
    // The region feeds that named it, or something made from it, rewrite their history.
    sqlx::query("UPDATE region_feeds SET erased_at = $3 WHERE id IN (SELECT feed_id FROM feed_objects WHERE repo_id = $1 AND (oid = $2 OR source_oid = $2))")
        .bind(repo_id)
        .bind(oid)
        .bind(super::now())
        .execute(&mut **tx)
        .await?;
    for sql in [
        "DELETE FROM repo_objects WHERE repo_id = $1 AND oid = $2",
        "DELETE FROM table_views WHERE repo_id = $1 AND source LIKE '%:' || $2",
        "DELETE FROM region_copies WHERE repo_id = $1 AND source_oid = $2",
        "DELETE FROM table_objects WHERE repo_id = $1 AND oid = $2",
        "DELETE FROM governed_writes WHERE repo_id = $1 AND oid = $2",
        "DELETE FROM gc_candidates WHERE repo_id = $1 AND oid = $2",
        "DELETE FROM s3_etags WHERE repo_id = $1 AND oid = $2",
        // A region feed no longer serves it, nor what it was made into (collected in turn).
        "DELETE FROM feed_objects WHERE repo_id = $1 AND (oid = $2 OR source_oid = $2)",
    ] {
        sqlx::query(sql)
            .bind(repo_id)
            .bind(oid)
            .execute(&mut **tx)
            .await?;
    }
    Ok(derived)
}

/// Forgets object `oid` if no dataset links it, its bytes becoming a tombstone being deleted;
/// whether it went.
pub(super) async fn forget_unlinked(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    oid: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM gc_candidates WHERE repo_id = 0 AND oid = $1")
        .bind(oid)
        .execute(&mut **tx)
        .await?;
    let gone = sqlx::query("DELETE FROM objects WHERE oid = $1 AND NOT EXISTS (SELECT 1 FROM repo_objects r WHERE r.oid = $1)")
        .bind(oid)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if gone > 0 {
        tombstone(tx, 0, oid).await?;
    }
    Ok(gone > 0)
}

/// Records that the bytes of (`repo_id`, `oid`) are being deleted.
async fn tombstone(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    repo_id: i64,
    oid: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO gc_tombstones (repo_id, oid, state, at) VALUES ($1, $2, 'deleting', $3) ON CONFLICT (repo_id, oid) DO UPDATE SET state = 'deleting', at = excluded.at")
        .bind(repo_id)
        .bind(oid)
        .bind(now())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
