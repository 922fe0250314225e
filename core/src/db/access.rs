//! `access_gates` and `access_requests`: gated datasets (`repos.gated`), the form their
//! visitors fill, and each user's one request per dataset, whose acceptance is their grant
//! (`crate::sharing::access`; the gates read it through `Db::memberships`).

use super::{now, Db};

/// A gated dataset's form and rules.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GateRow {
    pub repo_id: i64,
    pub message: String,
    /// JSON: `[{name, label, required}]`.
    pub questions: String,
    /// JSON: organisation names.
    pub auto_orgs: String,
    pub grant_days: Option<i64>,
    pub remind_days: i64,
    pub expire_days: i64,
    pub updated_at: i64,
}

/// A user's request for access to a dataset, with their name and e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessRequestRow {
    pub id: i64,
    pub repo_id: i64,
    pub namespace: String,
    pub name: String,
    pub user_id: i64,
    pub username: String,
    pub email: Option<String>,
    /// `pending`, `accepted`, `rejected` or `expired`.
    pub status: String,
    /// JSON: the answers.
    pub fields: String,
    pub reason: Option<String>,
    pub decided_by: Option<String>,
    pub grant_expires_at: Option<i64>,
    pub reminded_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl AccessRequestRow {
    /// The status as it stands now: an accepted request whose grant ran out is `expired` even
    /// before the sweep writes it so.
    pub fn status_now(&self) -> &str {
        if self.status == "accepted" && self.grant_expires_at.is_some_and(|t| t <= now()) {
            "expired"
        } else {
            &self.status
        }
    }
}

const REQUEST_COLUMNS: &str = "a.id, a.repo_id, r.namespace, r.name, a.user_id, u.username,
    u.email, a.status, a.fields, a.reason, a.decided_by, a.grant_expires_at, a.reminded_at,
    a.created_at, a.updated_at
    FROM access_requests a JOIN repos r ON r.id = a.repo_id JOIN users u ON u.id = a.user_id";

/// How a request changes.
#[derive(Debug, Clone, Default)]
pub struct RequestChange<'a> {
    /// The statuses it may change from (the compare of the compare-and-set).
    pub from: &'a [&'a str],
    pub to: &'a str,
    pub reason: Option<&'a str>,
    pub decided_by: Option<&'a str>,
    pub grant_expires_at: Option<i64>,
}

impl Db {
    /// Gates dataset `repo_id` (`mode`: `manual` or `auto`) with `gate`'s form, or ungates it
    /// (`None`: the form is kept for the next time), in one transaction.
    pub async fn set_gate(
        &self,
        repo_id: i64,
        mode: &str,
        gate: Option<&GateRow>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE repos SET gated = $1 WHERE id = $2")
            .bind(mode)
            .bind(repo_id)
            .execute(&mut *tx)
            .await?;
        if let Some(g) = gate {
            sqlx::query(
                "INSERT INTO access_gates (repo_id, message, questions, auto_orgs, grant_days,
                     remind_days, expire_days, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (repo_id) DO UPDATE SET message = $2, questions = $3,
                     auto_orgs = $4, grant_days = $5, remind_days = $6, expire_days = $7,
                     updated_at = $8",
            )
            .bind(repo_id)
            .bind(&g.message)
            .bind(&g.questions)
            .bind(&g.auto_orgs)
            .bind(g.grant_days)
            .bind(g.remind_days)
            .bind(g.expire_days)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// The form and rules of dataset `repo_id`, if it was ever gated.
    pub async fn gate(&self, repo_id: i64) -> Result<Option<GateRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT repo_id, message, questions, auto_orgs, grant_days, remind_days, expire_days,
                 updated_at FROM access_gates WHERE repo_id = $1",
        )
        .bind(repo_id)
        .fetch_optional(&self.pool)
        .await
    }

    /// User `user_id`'s request for dataset `repo_id`.
    pub async fn access_request(
        &self,
        repo_id: i64,
        user_id: i64,
    ) -> Result<Option<AccessRequestRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {REQUEST_COLUMNS} WHERE a.repo_id = $1 AND a.user_id = $2"
        ))
        .bind(repo_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Files a request: a new one, or the user's earlier one (if its status is one of
    /// `change.from`) opened again with these answers, in one statement. `false` when the
    /// earlier one was in another status.
    pub async fn put_access_request(
        &self,
        repo_id: i64,
        user_id: i64,
        fields: &str,
        change: &RequestChange<'_>,
    ) -> Result<bool, sqlx::Error> {
        let [a, b, c, d] = statuses(change.from);
        let done = sqlx::query(
            "INSERT INTO access_requests (repo_id, user_id, status, fields, reason, decided_by,
                 grant_expires_at, reminded_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $8)
             ON CONFLICT (repo_id, user_id) DO UPDATE SET status = $3, fields = $4, reason = $5,
                 decided_by = $6, grant_expires_at = $7, reminded_at = NULL, created_at = $8,
                 updated_at = $8
             WHERE access_requests.status IN ($9, $10, $11, $12)",
        )
        .bind(repo_id)
        .bind(user_id)
        .bind(change.to)
        .bind(fields)
        .bind(change.reason)
        .bind(change.decided_by)
        .bind(change.grant_expires_at)
        .bind(now())
        .bind(a)
        .bind(b)
        .bind(c)
        .bind(d)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Moves user `user_id`'s request for `repo_id` from one of `change.from` to `change.to`;
    /// `false` when it was in none of them (or there is none).
    pub async fn change_access_request(
        &self,
        repo_id: i64,
        user_id: i64,
        change: &RequestChange<'_>,
    ) -> Result<bool, sqlx::Error> {
        let [a, b, c, d] = statuses(change.from);
        let done = sqlx::query(
            "UPDATE access_requests SET status = $1, reason = $2, decided_by = $3,
                 grant_expires_at = $4, updated_at = $5
             WHERE repo_id = $6 AND user_id = $7 AND status IN ($8, $9, $10, $11)",
        )
        .bind(change.to)
        .bind(change.reason)
        .bind(change.decided_by)
        .bind(change.grant_expires_at)
        .bind(now())
        .bind(repo_id)
        .bind(user_id)
        .bind(a)
        .bind(b)
        .bind(c)
        .bind(d)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A page of dataset `repo_id`'s requests in `status` (all when `None`), oldest first, with
    /// an id above `after`.
    pub async fn access_requests(
        &self,
        repo_id: i64,
        status: Option<&str>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<AccessRequestRow>, sqlx::Error> {
        let query = match status {
            Some(_) => sql!(
                "SELECT {REQUEST_COLUMNS} WHERE a.repo_id = $1 AND a.id > $2 AND a.status = $4
                     ORDER BY a.id LIMIT $3"
            ),
            None => sql!(
                "SELECT {REQUEST_COLUMNS} WHERE a.repo_id = $1 AND a.id > $2 ORDER BY a.id LIMIT $3"
            ),
        };
        let query = sqlx::query_as(query).bind(repo_id).bind(after).bind(limit);
        match status {
            Some(s) => query.bind(s),
            None => query,
        }
        .fetch_all(&self.pool)
        .await
    }

    /// How many requests user `user_id` filed since `since` (the per-visitor limit).
    pub async fn access_requests_since(
        &self,
        user_id: i64,
        since: i64,
    ) -> Result<i64, sqlx::Error> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM access_requests WHERE user_id = $1 AND created_at > $2",
        )
        .bind(user_id)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// Pending requests of gated datasets due a reminder at `at` (filed `remind_days` before,
    /// not yet reminded, not yet due to expire).
    pub async fn access_requests_to_remind(
        &self,
        at: i64,
    ) -> Result<Vec<AccessRequestRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {REQUEST_COLUMNS} JOIN access_gates g ON g.repo_id = a.repo_id
             WHERE a.status = 'pending' AND a.reminded_at IS NULL
                 AND a.created_at + g.remind_days * 86400 <= $1
                 AND a.created_at + g.expire_days * 86400 > $1
             ORDER BY a.id LIMIT 500"
        ))
        .bind(at)
        .fetch_all(&self.pool)
        .await
    }

    /// Marks request `id` reminded at `at`; `false` when another replica did.
    pub async fn remind_access_request(&self, id: i64, at: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE access_requests SET reminded_at = $1 WHERE id = $2 AND reminded_at IS NULL",
        )
        .bind(at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Requests that lapse at `at`: pending ones unanswered for `expire_days`, and accepted ones
    /// whose grant ran out.
    pub async fn access_requests_lapsing(
        &self,
        at: i64,
    ) -> Result<Vec<AccessRequestRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {REQUEST_COLUMNS} LEFT JOIN access_gates g ON g.repo_id = a.repo_id
             WHERE (a.status = 'pending' AND a.created_at + COALESCE(g.expire_days, 30) * 86400 <= $1)
                 OR (a.status = 'accepted' AND a.grant_expires_at IS NOT NULL
                     AND a.grant_expires_at <= $1)
             ORDER BY a.id LIMIT 500"
        ))
        .bind(at)
        .fetch_all(&self.pool)
        .await
    }
}

/// The statuses `from` names, as the four parameters of an `IN` list (the first repeated where
/// there are fewer; none matches nothing).
fn statuses<'a>(from: &[&'a str]) -> [&'a str; 4] {
    let first = from.first().copied().unwrap_or("");
    std::array::from_fn(|i| from.get(i).copied().unwrap_or(first))
}
