//! `dataset_redirects`: the names datasets had before they were renamed, each leading to its
//! dataset by id; and the rename itself, in one transaction with what names the dataset.

use super::{now, Db, Repo};

impl Db {
    /// The dataset an old name `{namespace}/{name}` leads to, if any (case-insensitively).
    pub async fn redirect_of(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT repo_id FROM dataset_redirects WHERE lower(namespace) = lower($1) AND lower(name) = lower($2)",
        )
        .bind(namespace)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
    }

    /// Renames dataset `repo` to `name` (in its namespace): its row, the events and
    /// notifications that name it, and a redirect from the old name. A dataset of that name
    /// exists already: [`super::Error::Conflict`], and nothing changes.
    pub async fn rename_repo(&self, repo: &Repo, name: &str) -> Result<Repo, super::Error> {
        let old = format!("{}/{}", repo.namespace, repo.name);
        let new = format!("{}/{}", repo.namespace, name);
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE repos SET name = $2 WHERE id = $1")
            .bind(repo.id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        // The new name is its own from now on; the old one leads here.
        forget(&mut *tx, &repo.namespace, name).await?;
        // A new spelling of the same name needs none: names are found whatever their case.
        let respelled = repo.name.to_lowercase() == name.to_lowercase();
        if !respelled {
            sqlx::query(
            "INSERT INTO dataset_redirects (namespace, name, repo_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&repo.namespace)
        .bind(&repo.name)
        .bind(repo.id)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        }
        sqlx::query("UPDATE events SET dataset = $2 WHERE lower(dataset) = lower($1)")
            .bind(&old)
            .bind(&new)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE notifications SET dataset = $2 WHERE lower(dataset) = lower($1)")
            .bind(&old)
            .bind(&new)
            .execute(&mut *tx)
            .await?;
        // The ref ledger's rows (`--refs sql`) go under the new name as they are: nothing the
        // ledger holds is lost, and whatever a replica adopted meanwhile under the new name
        // makes way.
        sqlx::query("DELETE FROM ref_ledger WHERE dataset = $1")
            .bind(&new)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM ref_ledger_datasets WHERE dataset = $1")
            .bind(&new)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE ref_ledger SET dataset = $2 WHERE dataset = $1")
            .bind(&old)
            .bind(&new)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE ref_ledger_datasets SET dataset = $2 WHERE dataset = $1")
            .bind(&old)
            .bind(&new)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut renamed = repo.clone();
        renamed.name = name.to_owned();
        Ok(renamed)
    }

    /// Forgets the old names of a dataset that makes way for another of one of them.
    pub async fn drop_redirect(&self, namespace: &str, name: &str) -> Result<(), sqlx::Error> {
        forget(&self.pool, namespace, name).await
    }
}

/// Deletes the redirect from the old name `{namespace}/{name}`, if there is one.
async fn forget<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    namespace: &str,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM dataset_redirects WHERE lower(namespace) = lower($1) AND lower(name) = lower($2)",
    )
    .bind(namespace)
    .bind(name)
    .execute(db)
    .await?;
    Ok(())
}
