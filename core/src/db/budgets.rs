//! `privacy_budgets`: what each subject has spent of a dataset's privacy budget on differentially
//! private aggregates (`crate::tables::aggregate`), in millionths of epsilon.

use super::{now, Db};

impl Db {
    /// Spends `cost` of `budget` (both in millionths) for `subject` on dataset `repo_id`, in one
    /// statement: what is spent after, or `None` (nothing spent) when it would pass the budget.
    pub async fn spend_privacy(
        &self,
        repo_id: i64,
        subject: &str,
        cost: i64,
        budget: i64,
    ) -> Result<Option<i64>, sqlx::Error> {
        let at = now();
        sqlx::query(
            "INSERT INTO privacy_budgets (repo_id, subject, spent_micro, updated_at)
             VALUES ($1, $2, 0, $3) ON CONFLICT (repo_id, subject) DO NOTHING",
        )
        .bind(repo_id)
        .bind(subject)
        .bind(at)
        .execute(&self.pool)
        .await?;
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE privacy_budgets SET spent_micro = spent_micro + $3, updated_at = $5
             WHERE repo_id = $1 AND subject = $2 AND spent_micro + $3 <= $4
             RETURNING spent_micro",
        )
        .bind(repo_id)
        .bind(subject)
        .bind(cost)
        .bind(budget)
        .bind(at)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(s,)| s))
    }

    /// What `subject` has spent of dataset `repo_id`'s budget (millionths).
    pub async fn privacy_spent(&self, repo_id: i64, subject: &str) -> Result<i64, sqlx::Error> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT spent_micro FROM privacy_budgets WHERE repo_id = $1 AND subject = $2",
        )
        .bind(repo_id)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map_or(0, |(s,)| s))
    }
}
