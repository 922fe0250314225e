//! `region_feeds` and `feed_objects`: the region feeds of datasets (`crate::mirrors::feed`), and
//! the LFS objects their snapshots name (the only ones a feed's token may download).

use super::{now, Db};

/// A feed as stored (its token only as a hash).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FeedRow {
    pub id: i64,
    pub repo_id: i64,
    pub region: String,
    pub created_by: i64,
    pub note: String,
    pub built_at: Option<i64>,
    pub error: Option<String>,
    pub erased_at: Option<i64>,
    pub rewritten_at: Option<i64>,
    pub created_at: i64,
}

/// An object a feed's snapshot names, and what it was made from.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct FeedObject {
    pub oid: String,
    pub size: i64,
    /// The raw object a governed version was made from (never in the feed itself).
    pub source_oid: Option<String>,
    pub resource: Option<String>,
    /// The source revision it was first named at.
    pub revision: String,
    /// The decision applied (as the audit log gives it), JSON.
    #[serde(skip)]
    pub decision: Option<String>,
    pub policies: Option<String>,
    pub created_at: i64,
}

const COLUMNS: &str =
    "id, repo_id, region, created_by, note, built_at, error, erased_at, rewritten_at, created_at";
const OBJECT_COLUMNS: &str =
    "oid, size, source_oid, resource, revision, decision, policies, created_at";

impl Db {
    /// Records a new feed of dataset `repo_id` for `region`, read with the token hashing to
    /// `token_hash`.
    pub async fn feed_create(
        &self,
        repo_id: i64,
        region: &str,
        created_by: i64,
        token_hash: &str,
        note: &str,
    ) -> Result<FeedRow, sqlx::Error> {
        sqlx::query_as(sql!(
            "INSERT INTO region_feeds (repo_id, region, created_by, token_hash, note, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
        ))
        .bind(repo_id)
        .bind(region)
        .bind(created_by)
        .bind(token_hash)
        .bind(note)
        .bind(now())
        .fetch_one(&self.pool)
        .await
    }

    /// Dataset `repo_id`'s feeds, oldest first.
    pub async fn feeds_of(&self, repo_id: i64) -> Result<Vec<FeedRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM region_feeds WHERE repo_id = $1 ORDER BY id"
        ))
        .bind(repo_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Feed `id`, whichever dataset it is of.
    pub async fn feed(&self, id: i64) -> Result<Option<FeedRow>, sqlx::Error> {
        sqlx::query_as(sql!("SELECT {COLUMNS} FROM region_feeds WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Feed `id` if `token_hash` is its token's.
    pub async fn feed_by_token(
        &self,
        id: i64,
        token_hash: &str,
    ) -> Result<Option<FeedRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM region_feeds WHERE id = $1 AND token_hash = $2"
        ))
        .bind(id)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
    }

    /// Deletes feed `id` of dataset `repo_id` (and its objects' rows); whether it was there.
    pub async fn feed_delete(&self, repo_id: i64, id: i64) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM feed_objects WHERE feed_id = $1 AND repo_id = $2")
            .bind(id)
            .bind(repo_id)
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM region_feeds WHERE id = $1 AND repo_id = $2")
            .bind(id)
            .bind(repo_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(gone > 0)
    }

    /// Records how the last build of feed `id` went.
    pub async fn feed_built(&self, id: i64, error: Option<&str>) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE region_feeds SET built_at = $1, error = $2 WHERE id = $3")
            .bind(now())
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records that feed `id`'s history was rewritten for the erasures up to `erased_at`.
    pub async fn feed_rewritten(&self, id: i64, erased_at: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE region_feeds SET rewritten_at = $1 WHERE id = $2")
            .bind(erased_at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The objects feed `feed_id` published as they are in the dataset (no governed version).
    pub async fn feed_raw_oids(&self, feed_id: i64) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT oid FROM feed_objects WHERE feed_id = $1 AND source_oid IS NULL")
            .bind(feed_id)
            .fetch_all(&self.pool)
            .await
    }

    /// Takes `oids` (and what was made from them) out of feed `feed_id`.
    pub async fn feed_objects_forget(
        &self,
        feed_id: i64,
        oids: &[String],
    ) -> Result<(), sqlx::Error> {
        for oid in oids {
            sqlx::query(
                "DELETE FROM feed_objects WHERE feed_id = $1 AND (oid = $2 OR source_oid = $2)",
            )
            .bind(feed_id)
            .bind(oid)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Records that erasure took something out of feed `id` now (its history is rewritten at
    /// its next build).
    pub async fn feed_erased_now(&self, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE region_feeds SET erased_at = $1 WHERE id = $2")
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every path any erasure of dataset `repo_id` named (a file, or a folder and all in it).
    pub async fn erased_paths(&self, repo_id: i64) -> Result<Vec<String>, sqlx::Error> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT paths FROM erasures WHERE repo_id = $1")
            .bind(repo_id)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for r in rows {
            let paths: Vec<String> = serde_json::from_str(&r).unwrap_or_default();
            out.extend(paths.into_iter().map(|p| p.trim_matches('/').to_owned()));
        }
        out.retain(|p| !p.is_empty());
        Ok(out)
    }

    /// Every object feed `feed_id` names.
    pub async fn feed_oids(&self, feed_id: i64) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT oid FROM feed_objects WHERE feed_id = $1")
            .bind(feed_id)
            .fetch_all(&self.pool)
            .await
    }

    /// Records the objects a snapshot of feed `feed_id` names (one named before keeps its row).
    pub async fn feed_objects_put(
        &self,
        feed_id: i64,
        repo_id: i64,
        objects: &[FeedObject],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for o in objects {
            sqlx::query(sql!(
                "INSERT INTO feed_objects (feed_id, repo_id, {OBJECT_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (feed_id, oid) DO NOTHING"
            ))
            .bind(feed_id)
            .bind(repo_id)
            .bind(&o.oid)
            .bind(o.size)
            .bind(&o.source_oid)
            .bind(&o.resource)
            .bind(&o.revision)
            .bind(&o.decision)
            .bind(&o.policies)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Object `oid` as feed `feed_id` names it, if it does.
    pub async fn feed_object(
        &self,
        feed_id: i64,
        oid: &str,
    ) -> Result<Option<FeedObject>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {OBJECT_COLUMNS} FROM feed_objects WHERE feed_id = $1 AND oid = $2"
        ))
        .bind(feed_id)
        .bind(oid)
        .fetch_optional(&self.pool)
        .await
    }

    /// The governed versions feed `feed_id` holds (the latest `limit`), newest first.
    pub async fn feed_copies(
        &self,
        feed_id: i64,
        limit: i64,
    ) -> Result<Vec<FeedObject>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {OBJECT_COLUMNS} FROM feed_objects \
             WHERE feed_id = $1 AND source_oid IS NOT NULL ORDER BY created_at DESC LIMIT $2"
        ))
        .bind(feed_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// The objects dataset `repo_id`'s feeds keep: those they name and those their governed
    /// versions were made from (garbage collection counts both as reached).
    pub async fn feed_kept(&self, repo_id: i64) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT oid FROM feed_objects WHERE repo_id = $1 \
             UNION SELECT source_oid FROM feed_objects \
             WHERE repo_id = $1 AND source_oid IS NOT NULL",
        )
        .bind(repo_id)
        .fetch_all(&self.pool)
        .await
    }
}
