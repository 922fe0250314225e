//! `multipart_uploads`: the bucket's multipart uploads in progress, one per (dataset, object), so
//! every replica resumes the same one and the idle purge can abort them.

use super::{is_unique_violation, now, Db};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UploadRow {
    pub repo_id: i64,
    pub oid: String,
    pub size: i64,
    pub nonce: String,
    pub upload_id: String,
}

const COLUMNS: &str = "repo_id, oid, size, nonce, upload_id";

impl Db {
    /// The upload in progress for an object of a dataset, marked as touched now.
    pub async fn touch_upload(
        &self,
        repo_id: i64,
        oid: &str,
        size: i64,
    ) -> Result<Option<UploadRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "UPDATE multipart_uploads SET touched_at = $4 WHERE repo_id = $1 AND oid = $2 AND size = $3 RETURNING {COLUMNS}"
        ))
        .bind(repo_id)
        .bind(oid)
        .bind(size)
        .bind(now())
        .fetch_optional(&self.pool)
        .await
    }

    /// Records a new upload; `Ok(Err(winner))` when another one was recorded first.
    pub async fn insert_upload(
        &self,
        row: &UploadRow,
    ) -> Result<Result<(), UploadRow>, sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT INTO multipart_uploads (repo_id, oid, size, nonce, upload_id, created_at, touched_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(row.repo_id)
        .bind(&row.oid)
        .bind(row.size)
        .bind(&row.nonce)
        .bind(&row.upload_id)
        .bind(now())
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(Ok(())),
            Err(e) if is_unique_violation(&e) => {
                match self.touch_upload(row.repo_id, &row.oid, row.size).await? {
                    Some(winner) => Ok(Err(winner)),
                    // The winner was committed or aborted in between: try once more.
                    None => Box::pin(self.insert_upload(row)).await,
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Removes the record of an upload; whether it was there (whoever removes it owns it).
    pub async fn take_upload(&self, row: &UploadRow) -> Result<bool, sqlx::Error> {
        self.take_idle_upload(row, i64::MAX).await
    }

    /// [`Db::take_upload`] for the purge: only if nobody touched it since `before` (unix seconds).
    pub async fn take_idle_upload(
        &self,
        row: &UploadRow,
        before: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM multipart_uploads WHERE repo_id = $1 AND oid = $2 AND size = $3 AND nonce = $4 AND touched_at < $5",
        )
        .bind(row.repo_id)
        .bind(&row.oid)
        .bind(row.size)
        .bind(&row.nonce)
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Uploads nobody touched since `before` (unix seconds), at most `limit` of them.
    pub async fn idle_uploads(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<UploadRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM multipart_uploads WHERE touched_at < $1 ORDER BY touched_at LIMIT $2"
        ))
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }
}
