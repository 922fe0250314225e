//! `table_objects`: the objects that were ever the content of a table on a dataset's default
//! branch, and `table_index`: how far each default branch is indexed
//! (`crate::datasets::policies::index` keeps them); `governed_writes`: what governed writes
//! stored (`crate::governance::write`).

use strata_lfs::Oid;

use super::{Db, Engine};

/// An object that was the content of a table: the resource's name and path, and a revision of
/// the default branch where it was.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TableObject {
    pub oid: Oid,
    pub resource: String,
    pub path: String,
    pub rev: String,
}

impl Db {
    /// The default branch's head that dataset `repo_id` is indexed up to.
    pub async fn table_index_head(&self, repo_id: i64) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT head FROM table_index WHERE repo_id = $1")
            .bind(repo_id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Records `objects` of dataset `repo_id` (those known already are left as they are), then
    /// moves its index from `from` to `to` unless someone else moved it meanwhile.
    pub async fn record_table_objects(
        &self,
        repo_id: i64,
        objects: &[TableObject],
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        for o in objects {
            sqlx::query(
                "INSERT INTO table_objects (repo_id, oid, resource, path, rev) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (repo_id, oid, resource, path) DO NOTHING",
            )
            .bind(repo_id)
            .bind(o.oid.to_string())
            .bind(&o.resource)
            .bind(&o.path)
            .bind(&o.rev)
            .execute(&mut *tx)
            .await?;
        }
        match (from, to) {
            (_, None) => {}
            (None, Some(to)) => {
                sqlx::query(
                    "INSERT INTO table_index (repo_id, head) VALUES ($1, $2) ON CONFLICT (repo_id) DO NOTHING",
                )
                .bind(repo_id)
                .bind(to)
                .execute(&mut *tx)
                .await?;
            }
            (Some(from), Some(to)) => {
                sqlx::query("UPDATE table_index SET head = $1 WHERE repo_id = $2 AND head = $3")
                    .bind(to)
                    .bind(repo_id)
                    .bind(from)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await
    }

    /// Of `oids`, the rows of those that were the content of a table of dataset `repo_id`.
    pub async fn table_objects(
        &self,
        repo_id: i64,
        oids: &[Oid],
    ) -> Result<Vec<TableObject>, sqlx::Error> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        // The oids travel as one JSON array, the rows come back as one (as `linked_objects`).
        let list = serde_json::to_string(oids).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let sql = match self.engine {
            Engine::Sqlite => "SELECT json_group_array(json_array(oid, resource, path, rev)) FROM table_objects WHERE repo_id = $1 AND oid IN (SELECT value FROM json_each($2))",
            Engine::Postgres => "SELECT COALESCE(CAST(json_agg(json_build_array(oid, resource, path, rev)) AS TEXT), '[]') FROM table_objects WHERE repo_id = $1 AND oid IN (SELECT jsonb_array_elements_text(CAST($2 AS TEXT)::jsonb))",
        };
        let (rows,): (String,) = sqlx::query_as(sql)
            .bind(repo_id)
            .bind(list)
            .fetch_one(&self.pool)
            .await?;
        let rows: Vec<(String, String, String, String)> =
            serde_json::from_str(&rows).map_err(|e| sqlx::Error::Decode(e.into()))?;
        Ok(rows
            .into_iter()
            .filter_map(|(oid, resource, path, rev)| {
                Some(TableObject {
                    oid: oid.parse().ok()?,
                    resource,
                    path,
                    rev,
                })
            })
            .collect())
    }
}

impl Db {
    /// Records that `oid` is what a governed write of dataset `repo_id` stored under the
    /// decision `fingerprint` names.
    pub async fn record_governed_write(
        &self,
        repo_id: i64,
        oid: &Oid,
        fingerprint: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO governed_writes (repo_id, oid, fingerprint, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(repo_id)
        .bind(oid.to_string())
        .bind(fingerprint)
        .bind(super::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether `oid` is what a governed write of dataset `repo_id` stored under `fingerprint`.
    pub async fn is_governed_write(
        &self,
        repo_id: i64,
        oid: &Oid,
        fingerprint: &str,
    ) -> Result<bool, sqlx::Error> {
        let found: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM governed_writes WHERE repo_id = $1 AND oid = $2 AND fingerprint = $3",
        )
        .bind(repo_id)
        .bind(oid.to_string())
        .bind(fingerprint)
        .fetch_one(&self.pool)
        .await?;
        Ok(found > 0)
    }
}
