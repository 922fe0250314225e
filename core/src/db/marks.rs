//! `starred` and `recent`: a person's starred files, folders and datasets, and what they opened
//! lately ([`RECENT_KEPT`] each).

use super::{now, Db};

/// The files a person opened lately that are kept.
pub const RECENT_KEPT: i64 = 100;

/// A mark: the dataset's id, the path (`""`: the whole dataset) and when.
pub type Mark = (i64, String, i64);

impl Db {
    /// Stars (`on`) or unstars `path` of dataset `repo_id` for `user_id`; starring twice keeps
    /// the first time.
    pub async fn star(
        &self,
        user_id: i64,
        repo_id: i64,
        path: &str,
        on: bool,
    ) -> Result<(), sqlx::Error> {
        let query = match on {
            true => sqlx::query(
                "INSERT INTO starred (user_id, repo_id, path, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id, repo_id, path) DO NOTHING",
            )
            .bind(user_id)
            .bind(repo_id)
            .bind(path)
            .bind(now()),
            false => {
                sqlx::query("DELETE FROM starred WHERE user_id = $1 AND repo_id = $2 AND path = $3")
                    .bind(user_id)
                    .bind(repo_id)
                    .bind(path)
            }
        };
        query.execute(&self.pool).await?;
        Ok(())
    }

    /// Whether `user_id` starred `path` of dataset `repo_id`.
    pub async fn starred_one(
        &self,
        user_id: i64,
        repo_id: i64,
        path: &str,
    ) -> Result<bool, sqlx::Error> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT repo_id FROM starred WHERE user_id = $1 AND repo_id = $2 AND path = $3",
        )
        .bind(user_id)
        .bind(repo_id)
        .bind(path)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// What `user_id` starred, newest first, at most `limit`.
    pub async fn starred(&self, user_id: i64, limit: i64) -> Result<Vec<Mark>, sqlx::Error> {
        self.marks(List::Starred, user_id, limit).await
    }

    /// Notes that `user_id` opened `path` of dataset `repo_id` now; only the newest
    /// [`RECENT_KEPT`] stay.
    pub async fn seen(&self, user_id: i64, repo_id: i64, path: &str) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO recent (user_id, repo_id, path, seen_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, repo_id, path) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(user_id)
        .bind(repo_id)
        .bind(path)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM recent WHERE user_id = $1 AND seen_at < COALESCE((SELECT seen_at FROM recent \
             WHERE user_id = $1 ORDER BY seen_at DESC LIMIT 1 OFFSET $2), -1)",
        )
        .bind(user_id)
        .bind(RECENT_KEPT - 1)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// What `user_id` opened lately, newest first, at most `limit`.
    pub async fn recent(&self, user_id: i64, limit: i64) -> Result<Vec<Mark>, sqlx::Error> {
        self.marks(List::Recent, user_id, limit).await
    }

    async fn marks(&self, list: List, user_id: i64, limit: i64) -> Result<Vec<Mark>, sqlx::Error> {
        let sql = match list {
            List::Starred => {
                "SELECT repo_id, path, created_at FROM starred WHERE user_id = $1 \
                 ORDER BY created_at DESC, repo_id, path LIMIT $2"
            }
            List::Recent => {
                "SELECT repo_id, path, seen_at FROM recent WHERE user_id = $1 \
                 ORDER BY seen_at DESC, repo_id, path LIMIT $2"
            }
        };
        sqlx::query_as(sql)
            .bind(user_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
    }
}

/// The two lists of marks.
enum List {
    Starred,
    Recent,
}
