//! `validations`: the contract report of each checked revision of a dataset
//! (`crate::contracts`), as JSON.

use super::{now, Db};

impl Db {
    /// The report of `revision` of dataset `repo_id`, if it was checked.
    pub async fn validation(
        &self,
        repo_id: i64,
        revision: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT report FROM validations WHERE repo_id = $1 AND revision = $2")
                .bind(repo_id)
                .bind(revision)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(r,)| r))
    }

    /// Whether `revision` of dataset `repo_id` holds its contract: `None` when it was never
    /// checked.
    pub async fn validated(
        &self,
        repo_id: i64,
        revision: &str,
    ) -> Result<Option<bool>, sqlx::Error> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT ok FROM validations WHERE repo_id = $1 AND revision = $2")
                .bind(repo_id)
                .bind(revision)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(ok,)| ok != 0))
    }

    /// Records the report of `revision` (a check made again replaces it).
    pub async fn put_validation(
        &self,
        repo_id: i64,
        revision: &str,
        ok: bool,
        report: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO validations (repo_id, revision, ok, report, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (repo_id, revision) DO UPDATE SET ok = excluded.ok,
                 report = excluded.report, created_at = excluded.created_at",
        )
        .bind(repo_id)
        .bind(revision)
        .bind(i64::from(ok))
        .bind(report)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
