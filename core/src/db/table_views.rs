//! `table_views`: the Parquet views of tables, by the key of what they were made from
//! (`crate::tables::view` makes and finds them).

use super::{now, Db};

/// A stored view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableView {
    /// The Parquet object's oid (in the dataset's store) and size.
    pub oid: String,
    pub size: i64,
    pub rows: i64,
    /// The column statistics as JSON, once computed.
    pub stats: Option<String>,
}

impl Db {
    pub async fn table_view(&self, key: &str) -> Result<Option<TableView>, sqlx::Error> {
        let row: Option<(String, i64, i64, Option<String>)> =
            sqlx::query_as("SELECT oid, size, rows, stats FROM table_views WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(oid, size, rows, stats)| TableView {
            oid,
            size,
            rows,
            stats,
        }))
    }

    /// Records a view (a view made again under the same key replaces the old one).
    pub async fn put_table_view(
        &self,
        key: &str,
        repo_id: i64,
        source: &str,
        view: &TableView,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO table_views (key, repo_id, source, oid, size, rows, stats, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)
             ON CONFLICT (key) DO UPDATE SET oid = excluded.oid, size = excluded.size,
                 rows = excluded.rows, stats = NULL, created_at = excluded.created_at",
        )
        .bind(key)
        .bind(repo_id)
        .bind(source)
        .bind(&view.oid)
        .bind(view.size)
        .bind(view.rows)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Keeps the statistics of a view.
    pub async fn set_table_view_stats(&self, key: &str, stats: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE table_views SET stats = $1 WHERE key = $2")
            .bind(stats)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
