//! `table_views`: the Parquet views of tables, by the key of what they were made from
//! (`crate::tables::view` makes and finds them).

use super::{now, Db};

/// A stored view.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TableView {
    /// The Parquet object's oid (in the dataset's store) and size.
    pub oid: String,
    pub size: i64,
    pub rows: i64,
    /// The column statistics as JSON, once computed.
    pub stats: Option<String>,
    /// When it was last read (unix seconds, to the hour).
    pub used_at: i64,
    /// The region store holding it (a residency copy); `None`: the dataset's store.
    pub store: Option<String>,
}

impl Db {
    pub async fn table_view(&self, key: &str) -> Result<Option<TableView>, sqlx::Error> {
        sqlx::query_as(
            "SELECT oid, size, rows, stats, used_at, store FROM table_views WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await
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
            "INSERT INTO table_views (key, repo_id, source, oid, size, rows, stats, created_at, used_at, store)
             VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $7, $8)
             ON CONFLICT (key) DO UPDATE SET oid = excluded.oid, size = excluded.size,
                 rows = excluded.rows, stats = NULL, created_at = excluded.created_at,
                 used_at = excluded.used_at, store = excluded.store",
        )
        .bind(key)
        .bind(repo_id)
        .bind(source)
        .bind(&view.oid)
        .bind(view.size)
        .bind(view.rows)
        .bind(now())
        .bind(&view.store)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets the view under `key`: its oid and store, if there was one.
    pub async fn drop_table_view(
        &self,
        key: &str,
    ) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
        sqlx::query_as("DELETE FROM table_views WHERE key = $1 RETURNING oid, store")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
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

    /// Notes that a view was read now.
    pub async fn touch_table_view(&self, key: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE table_views SET used_at = $1 WHERE key = $2")
            .bind(now())
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets the views nobody read since `before` (unix seconds); how many went. A view kept
    /// as chunks loses its file too, so its xorbs go as any unused ones.
    pub async fn forget_table_views(&self, before: i64) -> Result<u64, sqlx::Error> {
        let gone: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "DELETE FROM table_views WHERE used_at < $1 RETURNING repo_id, oid, store",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        for (repo_id, oid, store) in &gone {
            if store.is_none() {
                self.xet_forget_files_of(*repo_id, oid).await?;
            }
        }
        Ok(gone.len() as u64)
    }

    /// The oids of the views (and digest indexes) dataset `repo_id` keeps in its own store.
    pub async fn table_view_oids(
        &self,
        repo_id: i64,
    ) -> Result<std::collections::HashSet<String>, sqlx::Error> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT oid FROM table_views WHERE repo_id = $1 AND store IS NULL",
        )
        .bind(repo_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// The oids of the views dataset `repo_id` keeps in its own store that were made only from
    /// objects among `sources`: a view whose bytes another table of the dataset was also made
    /// into (two files read as the same rows) is not among them.
    pub async fn views_made_from(
        &self,
        repo_id: i64,
        sources: &[String],
    ) -> Result<Vec<String>, sqlx::Error> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT oid, source FROM table_views WHERE repo_id = $1 AND store IS NULL",
        )
        .bind(repo_id)
        .fetch_all(&self.pool)
        .await?;
        let from = |source: &str| {
            let object = source.rsplit_once(':').map_or(source, |(_, oid)| oid);
            sources.iter().any(|s| s == object)
        };
        let (made, kept): (Vec<_>, Vec<_>) = rows.iter().partition(|(_, source)| from(source));
        let kept: std::collections::HashSet<&String> =
            kept.into_iter().map(|(oid, _)| oid).collect();
        let made: std::collections::BTreeSet<&String> =
            made.into_iter().map(|(oid, _)| oid).collect();
        Ok(made
            .into_iter()
            .filter(|oid| !kept.contains(oid))
            .cloned()
            .collect())
    }
}
