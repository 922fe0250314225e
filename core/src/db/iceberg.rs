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
