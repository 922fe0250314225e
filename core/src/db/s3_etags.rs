//! `s3_etags`: the ETag the S3 gateway answered for each object it stored in a dataset (the MD5
//! of its bytes, or a multipart upload's `{md5 of the parts' MD5s}-{parts}`), so reads, heads
//! and listings answer the same one (`crate::compat::s3::etags`). A row goes with its object's
//! link (`super::gc::drop_link`) and with its dataset.

use std::collections::HashMap;

use strata_lfs::Oid;

use super::{Db, Engine};

impl Db {
    /// Records `etag` as the S3 ETag of `oid` in dataset `repo_id` (the last upload's wins, as
    /// S3's last write does).
    pub async fn record_s3_etag(
        &self,
        repo_id: i64,
        oid: &Oid,
        etag: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO s3_etags (repo_id, oid, etag) VALUES ($1, $2, $3)
             ON CONFLICT (repo_id, oid) DO UPDATE SET etag = excluded.etag",
        )
        .bind(repo_id)
        .bind(oid.to_string())
        .bind(etag)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The S3 ETags recorded for those of `oids` that dataset `repo_id` has one for.
    pub async fn s3_etags(
        &self,
        repo_id: i64,
        oids: &[Oid],
    ) -> Result<HashMap<Oid, String>, sqlx::Error> {
        if oids.is_empty() {
            return Ok(HashMap::new());
        }
        // The oids travel as one JSON array, the rows come back as one (as `table_objects`).
        let list = serde_json::to_string(oids).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let sql = match self.engine {
            Engine::Sqlite => "SELECT json_group_array(json_array(oid, etag)) FROM s3_etags WHERE repo_id = $1 AND oid IN (SELECT value FROM json_each($2))",
            Engine::Postgres => "SELECT COALESCE(CAST(json_agg(json_build_array(oid, etag)) AS TEXT), '[]') FROM s3_etags WHERE repo_id = $1 AND oid IN (SELECT jsonb_array_elements_text(CAST($2 AS TEXT)::jsonb))",
        };
        let (rows,): (String,) = sqlx::query_as(sql)
            .bind(repo_id)
            .bind(list)
            .fetch_one(&self.pool)
            .await?;
        let rows: Vec<(String, String)> =
            serde_json::from_str(&rows).map_err(|e| sqlx::Error::Decode(e.into()))?;
        Ok(rows
            .into_iter()
            .filter_map(|(oid, etag)| Some((oid.parse().ok()?, etag)))
            .collect())
    }
}
