//! The ref ledger (`--refs sql`): each ref of a dataset the ledger took over is a row, moved only
//! by compare-and-swap. See `datasets/ledger.rs` for how the repositories follow it.

use super::{Db, Engine};

/// One ref change: `name` from `old` to `new` (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefEdit {
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Why a swap did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    #[error("{0} moved: it is not where this update expected it")]
    Moved(String),
    #[error("{0} cannot exist beside {1}")]
    Nested(String, String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Db {
    /// The refs the ledger holds for `dataset`, or `None` when it has not taken it over.
    pub async fn ledger_refs(
        &self,
        dataset: &str,
    ) -> Result<Option<Vec<(String, String)>>, sqlx::Error> {
        let taken: Option<String> =
            sqlx::query_scalar("SELECT dataset FROM ref_ledger_datasets WHERE dataset = $1")
                .bind(dataset)
                .fetch_optional(&self.pool)
                .await?;
        if taken.is_none() {
            return Ok(None);
        }
        let rows =
            sqlx::query_as("SELECT name, oid FROM ref_ledger WHERE dataset = $1 ORDER BY name")
                .bind(dataset)
                .fetch_all(&self.pool)
                .await?;
        Ok(Some(rows))
    }

    /// Takes `dataset` over with `refs` as its repository has them; a dataset taken over already
    /// (by this or another replica) is left as it is.
    pub async fn ledger_adopt(
        &self,
        dataset: &str,
        refs: &[(String, String)],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let taken = sqlx::query(
            "INSERT INTO ref_ledger_datasets (dataset) VALUES ($1) ON CONFLICT (dataset) DO NOTHING",
        )
        .bind(dataset)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if taken == 1 {
            // Rows left by an earlier dataset of this name are not this one's.
            sqlx::query("DELETE FROM ref_ledger WHERE dataset = $1")
                .bind(dataset)
                .execute(&mut *tx)
                .await?;
            for (name, oid) in refs {
                sqlx::query("INSERT INTO ref_ledger (dataset, name, oid) VALUES ($1, $2, $3)")
                    .bind(dataset)
                    .bind(name)
                    .bind(oid)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await
    }

    /// Applies `edits` to the refs of `dataset` all together or not at all: each is a
    /// compare-and-swap from its `old` value. `events` (of the moves) are recorded with them.
    pub async fn ledger_swap(
        &self,
        dataset: &str,
        edits: &[RefEdit],
        events: &[super::NewEvent],
    ) -> Result<(), SwapError> {
        let mut tx = self.write_tx().await?;
        // Only a dataset the ledger took over (a deleted one's refs are not moved again). On
        // PostgreSQL its row is locked: swaps of one dataset queue, so the name checks below see
        // every ref committed before.
        const TAKEN: &str = "SELECT dataset FROM ref_ledger_datasets WHERE dataset = $1";
        let taken_sql = match self.engine {
            Engine::Postgres => sql!("{TAKEN} FOR UPDATE"),
            Engine::Sqlite => sql!("{TAKEN}"),
        };
        let taken: Option<String> = sqlx::query_scalar(taken_sql)
            .bind(dataset)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_none() {
            return Err(SwapError::Moved(
                edits.first().map(|e| e.name.clone()).unwrap_or_default(),
            ));
        }
        for edit in edits {
            if edit.old.is_none() && edit.new.is_some() {
                // A ref cannot be a directory of another (`a` and `a/b`): git could not store both.
                let clash: Option<String> = sqlx::query_scalar(
                    "SELECT name FROM ref_ledger WHERE dataset = $1 AND \
                     (substr(name, 1, length($2) + 1) = $2 || '/' \
                      OR substr($2, 1, length(name) + 1) = name || '/') LIMIT 1",
                )
                .bind(dataset)
                .bind(&edit.name)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(other) = clash {
                    return Err(SwapError::Nested(edit.name.clone(), other));
                }
            }
            let query = match (&edit.old, &edit.new) {
                (None, Some(new)) => sqlx::query(
                    "INSERT INTO ref_ledger (dataset, name, oid) VALUES ($1, $2, $3) \
                     ON CONFLICT (dataset, name) DO NOTHING",
                )
                .bind(dataset)
                .bind(&edit.name)
                .bind(new),
                (Some(old), Some(new)) => sqlx::query(
                    "UPDATE ref_ledger SET oid = $3 WHERE dataset = $1 AND name = $2 AND oid = $4",
                )
                .bind(dataset)
                .bind(&edit.name)
                .bind(new)
                .bind(old),
                (Some(old), None) => sqlx::query(
                    "DELETE FROM ref_ledger WHERE dataset = $1 AND name = $2 AND oid = $3",
                )
                .bind(dataset)
                .bind(&edit.name)
                .bind(old),
                (None, None) => continue,
            };
            if query.execute(&mut *tx).await?.rows_affected() != 1 {
                // Dropped unfinished: rolled back.
                return Err(SwapError::Moved(edit.name.clone()));
            }
        }
        super::events::record_in(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the ledger holds any dataset (then `--refs git` would ignore it: refused).
    pub async fn ledger_in_use(&self) -> Result<bool, sqlx::Error> {
        let any: Option<String> =
            sqlx::query_scalar("SELECT dataset FROM ref_ledger_datasets LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(any.is_some())
    }

    /// Forgets a deleted dataset's refs.
    pub async fn ledger_forget(&self, dataset: &str) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM ref_ledger WHERE dataset = $1")
            .bind(dataset)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM ref_ledger_datasets WHERE dataset = $1")
            .bind(dataset)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}
