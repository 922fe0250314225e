//! `iceberg_columns`: the Iceberg field id of each column of each table the Iceberg catalog
//! showed (`crate::compat::iceberg`), given on first sight and never changed.

use std::collections::HashMap;

use super::{is_unique_violation, Db};

impl Db {
    /// The field ids of `paths` (columns of table `resource` of dataset `repo_id`, each a JSON
    /// array of names), each path not seen before given the table's next id; and every path the
    /// table ever had, with its id.
    pub async fn iceberg_field_ids(
        &self,
        repo_id: i64,
        resource: &str,
        paths: &[String],
    ) -> Result<HashMap<String, i32>, sqlx::Error> {
        let mut known = self.iceberg_columns(repo_id, resource).await?;
        for path in paths {
            // Two writers giving the same next id to two columns: one loses on the unique id
            // and tries again with the one after.
            let mut tries = 0;
            while !known.contains_key(path) {
                let given = sqlx::query(
                    "INSERT INTO iceberg_columns (repo_id, resource, path, field_id)
                     SELECT $1, $2, $3, COALESCE(MAX(field_id), 0) + 1 FROM iceberg_columns
                     WHERE repo_id = $1 AND resource = $2",
                )
                .bind(repo_id)
                .bind(resource)
                .bind(path)
                .execute(&self.pool)
                .await;
                match given {
                    Err(e) if is_unique_violation(&e) && tries < 20 => tries += 1,
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
                known = self.iceberg_columns(repo_id, resource).await?;
            }
        }
        Ok(known)
    }

    /// Every column path table `resource` of dataset `repo_id` was given an id for.
    pub async fn iceberg_columns(
        &self,
        repo_id: i64,
        resource: &str,
    ) -> Result<HashMap<String, i32>, sqlx::Error> {
        let rows: Vec<(String, i32)> = sqlx::query_as(
            "SELECT path, field_id FROM iceberg_columns WHERE repo_id = $1 AND resource = $2",
        )
        .bind(repo_id)
        .bind(resource)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }
}

/// A file staged for a commit through the Iceberg catalog (`iceberg_staged`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IcebergStaged {
    pub key: String,
    pub oid: String,
    pub size: i64,
    pub etag: String,
    pub created: i64,
}

impl Db {
    /// Records (or replaces) file `key` staged by `user_id` in dataset `repo_id`.
    pub async fn iceberg_stage(
        &self,
        repo_id: i64,
        user_id: i64,
        file: &IcebergStaged,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO iceberg_staged (repo_id, user_id, key, oid, size, etag, created)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (repo_id, user_id, key) DO UPDATE
             SET oid = excluded.oid, size = excluded.size, etag = excluded.etag,
                 created = excluded.created",
        )
        .bind(repo_id)
        .bind(user_id)
        .bind(&file.key)
        .bind(&file.oid)
        .bind(file.size)
        .bind(&file.etag)
        .bind(file.created)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// File `key` as `user_id` staged it in dataset `repo_id`.
    pub async fn iceberg_staged(
        &self,
        repo_id: i64,
        user_id: i64,
        key: &str,
    ) -> Result<Option<IcebergStaged>, sqlx::Error> {
        sqlx::query_as(
            "SELECT key, oid, size, etag, created FROM iceberg_staged
             WHERE repo_id = $1 AND user_id = $2 AND key = $3",
        )
        .bind(repo_id)
        .bind(user_id)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
    }

    /// How many files `user_id` has staged in dataset `repo_id`.
    pub async fn iceberg_staged_count(
        &self,
        repo_id: i64,
        user_id: i64,
    ) -> Result<i64, sqlx::Error> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM iceberg_staged WHERE repo_id = $1 AND user_id = $2",
        )
        .bind(repo_id)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// Forgets the files `keys` that `user_id` staged in dataset `repo_id` (a commit took them).
    pub async fn iceberg_unstage(
        &self,
        repo_id: i64,
        user_id: i64,
        keys: &[String],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for key in keys {
            sqlx::query(
                "DELETE FROM iceberg_staged WHERE repo_id = $1 AND user_id = $2 AND key = $3",
            )
            .bind(repo_id)
            .bind(user_id)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Forgets staged files older than `before` (Unix seconds), however many.
    pub async fn iceberg_purge_staged(&self, before: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM iceberg_staged WHERE created < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
