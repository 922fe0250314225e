//! `workloads`: tools a user registered over REST with their intent, datasets and protocol
//! (`crate::workloads`).

use super::{now, Db};

/// A registered workload.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkloadRow {
    pub id: String,
    pub user_id: i64,
    pub name: String,
    pub intent: Option<String>,
    /// `ns/name`, one per line.
    pub datasets: String,
    pub protocol: Option<String>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, user_id, name, intent, datasets, protocol, created_at";

impl Db {
    /// Registers a workload; `false` when the user has one of that name.
    pub async fn insert_workload(&self, w: &WorkloadRow) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO workloads (id, user_id, name, intent, datasets, protocol, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id, name) DO NOTHING",
        )
        .bind(&w.id)
        .bind(w.user_id)
        .bind(&w.name)
        .bind(&w.intent)
        .bind(&w.datasets)
        .bind(&w.protocol)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The workload of a token family (`wl:…`), if it is still registered.
    pub async fn workload(&self, id: &str) -> Result<Option<WorkloadRow>, sqlx::Error> {
        sqlx::query_as(sql!("SELECT {COLUMNS} FROM workloads WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// `user_id`'s workloads, by name.
    pub async fn workloads_of(&self, user_id: i64) -> Result<Vec<WorkloadRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM workloads WHERE user_id = $1 ORDER BY name"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Removes `user_id`'s workload `name`: whether there was one.
    pub async fn delete_workload(&self, user_id: i64, name: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM workloads WHERE user_id = $1 AND name = $2")
            .bind(user_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
