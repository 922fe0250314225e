//! `region_copies`: the residency copies written into region stores, with what each was derived
//! from (`crate::tables::residency`).

use super::{now, Db};

/// One copy: where it is, what it was made from, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct RegionCopy {
    /// The view's key.
    pub key: String,
    #[serde(skip)]
    pub repo_id: i64,
    pub store: String,
    pub region: String,
    pub resource: String,
    /// The revision it was first made at, and the object read.
    pub revision: String,
    pub source_oid: String,
    /// The decision applied (as the audit log gives it), JSON.
    #[serde(skip)]
    pub decision: String,
    /// The policies' version.
    pub policies: Option<String>,
    /// The copy: a Parquet object of the region store.
    pub oid: String,
    pub size: i64,
    pub rows: i64,
    pub created_at: i64,
}

const COPY_COLUMNS: &str = "key, repo_id, store, region, resource, revision, source_oid, \
    decision, policies, oid, size, rows, created_at";

impl Db {
    /// Records a copy (made again under its key: the new one replaces it).
    pub async fn put_region_copy(&self, c: &RegionCopy) -> Result<(), sqlx::Error> {
        sqlx::query(sql!(
            "INSERT INTO region_copies ({COPY_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (key) DO UPDATE SET revision = excluded.revision,
                 source_oid = excluded.source_oid, decision = excluded.decision,
                 policies = excluded.policies, oid = excluded.oid, size = excluded.size,
                 rows = excluded.rows, created_at = excluded.created_at"
        ))
        .bind(&c.key)
        .bind(c.repo_id)
        .bind(&c.store)
        .bind(&c.region)
        .bind(&c.resource)
        .bind(&c.revision)
        .bind(&c.source_oid)
        .bind(&c.decision)
        .bind(&c.policies)
        .bind(&c.oid)
        .bind(c.size)
        .bind(c.rows)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The copies of a dataset's tables, newest first (at most `limit`).
    pub async fn region_copies(
        &self,
        repo_id: i64,
        limit: i64,
    ) -> Result<Vec<RegionCopy>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COPY_COLUMNS} FROM region_copies WHERE repo_id = $1
             ORDER BY created_at DESC, key LIMIT $2"
        ))
        .bind(repo_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }
}
