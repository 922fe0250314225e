//! What deleting an account asks of the database (`crate::accounts::delete`): the datasets a user
//! owns, organisations they alone own, how many site admins there are, an organisation dataset
//! handed to another owner, and the rows no foreign key removes.

use super::Db;

impl Db {
    /// The organisations `user_id` is the only owner of, by name.
    pub async fn orgs_owned_alone(&self, user_id: i64) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT o.name FROM org_members m JOIN orgs o ON o.id = m.org_id
             WHERE m.user_id = $1 AND m.role = 'owner'
               AND (SELECT COUNT(*) FROM org_members x
                    WHERE x.org_id = m.org_id AND x.role = 'owner') = 1
             ORDER BY o.name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Another owner of the organisation `org` than `user_id` (the longest-standing account).
    pub async fn other_org_owner(
        &self,
        org: &str,
        user_id: i64,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT m.user_id FROM org_members m JOIN orgs o ON o.id = m.org_id
             WHERE o.name = $1 AND m.role = 'owner' AND m.user_id <> $2
             ORDER BY m.user_id LIMIT 1",
        )
        .bind(org)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Site admins other than `user_id`.
    pub async fn other_admins(&self, user_id: i64) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND id <> $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await
    }

    /// Deletes the account `user_id` in one transaction: the datasets of `heirs` (dataset,
    /// new owner) handed over, its webhooks on each organisation of `org_heirs` (organisation,
    /// new owner) and on that organisation's datasets handed to that owner, what is kept under
    /// its subject key with no foreign key (its privacy budgets) removed, then its row, with
    /// every row keyed to it going or forgetting it.
    pub async fn delete_account(
        &self,
        user_id: i64,
        heirs: &[(i64, i64)],
        org_heirs: &[(String, i64)],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for (repo_id, heir) in heirs {
            sqlx::query("UPDATE repos SET owner_id = $1 WHERE id = $2 AND owner_id = $3")
                .bind(heir)
                .bind(repo_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        for (org, heir) in org_heirs {
            sqlx::query(
                "UPDATE webhooks SET owner_id = $1 WHERE owner_id = $2
                 AND (namespace = $3 OR repo_id IN (SELECT id FROM repos WHERE namespace = $3))",
            )
            .bind(heir)
            .bind(user_id)
            .bind(org)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM privacy_budgets WHERE subject = $1")
            .bind(format!("user:{user_id}"))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}
