//! `notifications`: what each user is told in the web interface, written by the event
//! dispatcher with the fan-out of the event (`crate::delivery::notify`), read and marked read by
//! their user; and the accounts that may be told of a dataset's events.

use super::{now, Db};

/// A notification as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NotificationRow {
    pub id: i64,
    pub kind: String,
    pub dataset: String,
    pub actor: Option<String>,
    /// JSON: the event's fields.
    pub data: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

impl Db {
    /// A page of `user_id`'s notifications, newest first, older than `before` when given.
    pub async fn notifications(
        &self,
        user_id: i64,
        unread_only: bool,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<NotificationRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, kind, dataset, actor, data, created_at, read_at FROM notifications \
             WHERE user_id = $1 AND ($2 = 0 OR read_at IS NULL) AND id < $3 \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(user_id)
        .bind(i64::from(unread_only))
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// How many of `user_id`'s notifications are unread.
    pub async fn unread_notifications(&self, user_id: i64) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await
    }

    /// Marks `user_id`'s notifications read: those of `ids`, or all (`None`). Returns how many
    /// were unread.
    pub async fn mark_notifications_read(
        &self,
        user_id: i64,
        ids: Option<&[i64]>,
    ) -> Result<u64, sqlx::Error> {
        let at = now();
        let Some(ids) = ids else {
            let done = sqlx::query(
                "UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL",
            )
            .bind(at)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
            return Ok(done.rows_affected());
        };
        let mut tx = self.write_tx().await?;
        let mut n = 0;
        for id in ids {
            let done = sqlx::query(
                "UPDATE notifications SET read_at = $1 \
                 WHERE user_id = $2 AND id = $3 AND read_at IS NULL",
            )
            .bind(at)
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            n += done.rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Tells `user_id` of something that is no event of a dataset (a webhook of theirs paused).
    pub async fn notify(
        &self,
        user_id: i64,
        kind: &str,
        dataset: &str,
        data: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO notifications (user_id, kind, dataset, data, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user_id)
        .bind(kind)
        .bind(dataset)
        .bind(data)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets notifications read before `before`, and any older than `unread_before`.
    pub async fn forget_notifications(
        &self,
        before: i64,
        unread_before: i64,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM notifications WHERE (read_at IS NOT NULL AND read_at < $1) \
             OR created_at < $2",
        )
        .bind(before)
        .bind(unread_before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The accounts that may hold rights on the dataset `repo_id` of namespace `namespace`
    /// beyond its visibility: the owning user, the organisation's members, collaborators (and
    /// their teams' members) and the grantees of shares of the whole dataset. Callers ask the
    /// gate which of them have the right they mean.
    pub async fn dataset_people(
        &self,
        repo_id: i64,
        namespace: &str,
    ) -> Result<Vec<i64>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT id FROM users WHERE lower(username) = lower($1) \
             UNION SELECT m.user_id FROM org_members m JOIN orgs o ON o.id = m.org_id \
               WHERE lower(o.name) = lower($1) \
             UNION SELECT user_id FROM collaborators WHERE repo_id = $2 AND user_id IS NOT NULL \
             UNION SELECT t.user_id FROM team_members t JOIN collaborators c ON c.team_id = t.team_id \
               WHERE c.repo_id = $2 \
             UNION SELECT user_id FROM shares WHERE repo_id = $2 AND path = '' AND user_id IS NOT NULL \
             UNION SELECT t.user_id FROM team_members t JOIN shares s ON s.team_id = t.team_id \
               WHERE s.repo_id = $2 AND s.path = ''",
        )
        .bind(namespace)
        .bind(repo_id)
        .fetch_all(&self.pool)
        .await
    }

    /// The members of team `team_id`.
    pub async fn team_member_ids(&self, team_id: i64) -> Result<Vec<i64>, sqlx::Error> {
        sqlx::query_scalar("SELECT user_id FROM team_members WHERE team_id = $1")
            .bind(team_id)
            .fetch_all(&self.pool)
            .await
    }
}
