//! `merge_requests`, `merge_approvals`, `merge_resolutions` and `merge_comments`: merge requests
//! of a dataset (numbered per dataset), who approved which source head, how conflicts were
//! resolved, and what was said (`crate::changes::merges`).

use super::{now, Db};

/// A merge request as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MergeRow {
    pub id: i64,
    pub repo_id: i64,
    pub number: i64,
    pub source: String,
    pub target: String,
    pub title: String,
    pub description: String,
    pub author: String,
    pub author_id: Option<i64>,
    pub state: String,
    pub merged_revision: Option<String>,
    pub merged_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An approval: who, of which source head.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApprovalRow {
    pub user_id: i64,
    pub username: String,
    pub source_head: String,
    pub created_at: i64,
}

/// A comment on a merge request (on a file when `path` is set, on a row of it when `row_key`
/// is).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct CommentRow {
    pub id: i64,
    pub author: String,
    pub body: String,
    pub path: String,
    pub row_key: String,
    pub created_at: i64,
}

/// A conflict's resolution.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ResolutionRow {
    pub conflict: String,
    pub take: String,
    pub value: Option<String>,
    pub resolved_by: String,
}

const COLUMNS: &str = "id, repo_id, number, source, target, title, description, author, \
     author_id, state, merged_revision, merged_by, created_at, updated_at";

/// A new merge request.
pub struct NewMerge<'a> {
    pub repo_id: i64,
    pub source: &'a str,
    pub target: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub author: &'a str,
    pub author_id: Option<i64>,
}

impl Db {
    /// Opens a merge request under the dataset's next number; `Conflict` when one is open from
    /// the same source into the same target (or two took the same number at once).
    pub async fn open_merge(&self, m: &NewMerge<'_>) -> Result<MergeRow, super::Error> {
        let at = now();
        Ok(sqlx::query_as(sql!(
            "INSERT INTO merge_requests (repo_id, number, source, target, title, description, \
             author, author_id, state, created_at, updated_at)
             VALUES ($1, (SELECT coalesce(max(number), 0) + 1 FROM merge_requests WHERE repo_id = $1),
                     $2, $3, $4, $5, $6, $7, 'open', $8, $8)
             RETURNING {COLUMNS}"
        ))
        .bind(m.repo_id)
        .bind(m.source)
        .bind(m.target)
        .bind(m.title)
        .bind(m.description)
        .bind(m.author)
        .bind(m.author_id)
        .bind(at)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn merge_request(
        &self,
        repo_id: i64,
        number: i64,
    ) -> Result<Option<MergeRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM merge_requests WHERE repo_id = $1 AND number = $2"
        ))
        .bind(repo_id)
        .bind(number)
        .fetch_optional(&self.pool)
        .await
    }

    /// The dataset's merge requests in `state` (all when `None`), newest first, at most `limit`.
    pub async fn merge_requests(
        &self,
        repo_id: i64,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<MergeRow>, sqlx::Error> {
        match state {
            Some(state) => {
                sqlx::query_as(sql!(
                    "SELECT {COLUMNS} FROM merge_requests WHERE repo_id = $1 AND state = $2
                     ORDER BY number DESC LIMIT $3"
                ))
                .bind(repo_id)
                .bind(state)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query_as(sql!(
                    "SELECT {COLUMNS} FROM merge_requests WHERE repo_id = $1
                     ORDER BY number DESC LIMIT $2"
                ))
                .bind(repo_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
        }
    }

    /// Changes the title and description.
    pub async fn edit_merge(
        &self,
        id: i64,
        title: &str,
        description: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE merge_requests SET title = $1, description = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(title)
        .bind(description)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Moves a merge request from state `from` to `to` (closing, reopening, merging); false when
    /// it was not in `from` any more. Reopening one whose source and target have another open
    /// merge request is a `Conflict`.
    pub async fn set_merge_state(
        &self,
        id: i64,
        from: &str,
        to: &str,
        merged: Option<(&str, &str)>,
    ) -> Result<bool, super::Error> {
        let done = sqlx::query(
            "UPDATE merge_requests SET state = $1, merged_revision = $2, merged_by = $3,
             updated_at = $4 WHERE id = $5 AND state = $6",
        )
        .bind(to)
        .bind(merged.map(|m| m.0))
        .bind(merged.map(|m| m.1))
        .bind(now())
        .bind(id)
        .bind(from)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn approvals(&self, id: i64) -> Result<Vec<ApprovalRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT a.user_id, u.username, a.source_head, a.created_at FROM merge_approvals a
             JOIN users u ON u.id = a.user_id WHERE a.merge_request_id = $1 ORDER BY a.created_at",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
    }

    /// Records `user_id`'s approval of `source_head` (replacing an earlier one).
    pub async fn approve(
        &self,
        id: i64,
        user_id: i64,
        source_head: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO merge_approvals (merge_request_id, user_id, source_head, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (merge_request_id, user_id) DO UPDATE SET source_head = excluded.source_head,
                 created_at = excluded.created_at",
        )
        .bind(id)
        .bind(user_id)
        .bind(source_head)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Withdraws `user_id`'s approval; false when there was none.
    pub async fn unapprove(&self, id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
        let done =
            sqlx::query("DELETE FROM merge_approvals WHERE merge_request_id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn resolutions(&self, id: i64) -> Result<Vec<ResolutionRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT conflict, take, value, resolved_by FROM merge_resolutions
             WHERE merge_request_id = $1",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
    }

    /// Records resolutions (`take` `None`: forget that conflict's resolution), all or none, and
    /// withdraws every approval (they approved other resolutions).
    pub async fn resolve(
        &self,
        id: i64,
        by: &str,
        resolutions: &[(String, Option<String>, Option<String>)],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // What was approved is no longer what would be merged.
        sqlx::query("DELETE FROM merge_approvals WHERE merge_request_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for (conflict, take, value) in resolutions {
            match take {
                Some(take) => {
                    sqlx::query(
                        "INSERT INTO merge_resolutions (merge_request_id, conflict, take, value,
                             resolved_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (merge_request_id, conflict) DO UPDATE SET take = excluded.take,
                             value = excluded.value, resolved_by = excluded.resolved_by,
                             created_at = excluded.created_at",
                    )
                    .bind(id)
                    .bind(conflict)
                    .bind(take)
                    .bind(value)
                    .bind(by)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query(
                        "DELETE FROM merge_resolutions WHERE merge_request_id = $1 AND conflict = $2",
                    )
                    .bind(id)
                    .bind(conflict)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await
    }

    /// The comments on merge request `id`, oldest first, at most `limit`.
    pub async fn comments(&self, id: i64, limit: i64) -> Result<Vec<CommentRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, author, body, path, row_key, created_at FROM merge_comments
             WHERE merge_request_id = $1 ORDER BY id LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Adds a comment to merge request `id` unless it has `most` already; its id, or `None`
    /// when it is full.
    pub async fn comment(
        &self,
        id: i64,
        (author, author_id): (&str, Option<i64>),
        (body, path, row_key): (&str, &str, &str),
        most: i64,
    ) -> Result<Option<i64>, sqlx::Error> {
        // Counted and added under a lock, so concurrent comments never pass the cap: SQLite's
        // write lock, taken at once; PostgreSQL's lock on the request's row.
        let mut tx = self.write_tx().await?;
        let lock = match self.engine {
            super::Engine::Postgres => "SELECT id FROM merge_requests WHERE id = $1 FOR UPDATE",
            super::Engine::Sqlite => "SELECT id FROM merge_requests WHERE id = $1",
        };
        sqlx::query(lock).bind(id).execute(&mut *tx).await?;
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM merge_comments WHERE merge_request_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if n >= most {
            return Ok(None);
        }
        let made: i64 = sqlx::query_scalar(
            "INSERT INTO merge_comments (merge_request_id, author, author_id, body, path, row_key,
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(id)
        .bind(author)
        .bind(author_id)
        .bind(body)
        .bind(path)
        .bind(row_key)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(made))
    }
}
