//! `imports` and `object_refs`: imports by reference (`crate::imports`) as they run, and the
//! objects they adopted, each pinned to where it is in its source and the ETag (and version) it
//! was hashed at.

use super::{now, Db};

/// An import as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ImportRow {
    pub id: i64,
    pub repo_id: i64,
    pub created_by: i64,
    pub source: String,
    pub prefix: String,
    pub path: String,
    pub branch: String,
    pub message: String,
    pub state: String,
    pub claimed_until: Option<i64>,
    pub objects: i64,
    pub hashed: i64,
    pub bytes: i64,
    pub reused: i64,
    pub revision: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A new import.
#[derive(Debug, Clone)]
pub struct NewImport<'a> {
    pub created_by: i64,
    pub source: &'a str,
    pub prefix: &'a str,
    pub path: &'a str,
    pub branch: &'a str,
    pub message: &'a str,
}

/// Where an adopted object is: its source, key, size, and the ETag and version it was hashed at.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ObjectRef {
    pub oid: String,
    pub source: String,
    pub key: String,
    pub size: i64,
    pub etag: Option<String>,
    pub version: Option<String>,
}

const COLUMNS: &str = "id, repo_id, created_by, source, prefix, path, branch, message, state, claimed_until, objects, hashed, bytes, reused, revision, error, created_at, updated_at";

impl Db {
    /// Records a new import into dataset `repo_id`, queued.
    pub async fn import_create(
        &self,
        repo_id: i64,
        new: &NewImport<'_>,
    ) -> Result<ImportRow, sqlx::Error> {
        sqlx::query_as(sql!(
            "INSERT INTO imports (repo_id, created_by, source, prefix, path, branch, message, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {COLUMNS}"
        ))
        .bind(repo_id)
        .bind(new.created_by)
        .bind(new.source)
        .bind(new.prefix)
        .bind(new.path)
        .bind(new.branch)
        .bind(new.message)
        .bind(now())
        .fetch_one(&self.pool)
        .await
    }

    /// Import `id` of dataset `repo_id`.
    pub async fn import_get(
        &self,
        repo_id: i64,
        id: i64,
    ) -> Result<Option<ImportRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM imports WHERE repo_id = $1 AND id = $2"
        ))
        .bind(repo_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Dataset `repo_id`'s latest imports, newest first.
    pub async fn imports_of(
        &self,
        repo_id: i64,
        limit: i64,
    ) -> Result<Vec<ImportRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM imports WHERE repo_id = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(repo_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// How many of dataset `repo_id`'s imports are queued or running.
    pub async fn imports_open(&self, repo_id: i64) -> Result<i64, sqlx::Error> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM imports WHERE repo_id = $1 AND state IN ('queued', 'running')",
        )
        .bind(repo_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// Imports to run: queued ones, and running ones whose lease lapsed (their replica stopped).
    pub async fn imports_due(&self, limit: i64) -> Result<Vec<ImportRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM imports WHERE state = 'queued' \
             OR (state = 'running' AND COALESCE(claimed_until, 0) < $1) ORDER BY id LIMIT $2"
        ))
        .bind(now())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Takes import `id` to run until `until`, unless another holds it: whether this did.
    pub async fn import_claim(&self, id: i64, until: i64) -> Result<bool, sqlx::Error> {
        let at = now();
        let done = sqlx::query(
            "UPDATE imports SET state = 'running', claimed_until = $1, updated_at = $2 \
             WHERE id = $3 AND (state = 'queued' \
             OR (state = 'running' AND COALESCE(claimed_until, 0) < $2))",
        )
        .bind(until)
        .bind(at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Extends the lease of running import `id` to `until`: whether it is still running.
    pub async fn import_renew(&self, id: i64, until: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE imports SET claimed_until = $1 WHERE id = $2 AND state = 'running'",
        )
        .bind(until)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the progress of running import `id` and extends its lease to `until`: whether it
    /// still holds it.
    pub async fn import_progress(
        &self,
        id: i64,
        until: i64,
        (objects, hashed, bytes, reused): (i64, i64, i64, i64),
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE imports SET claimed_until = $1, objects = $2, hashed = $3, bytes = $4, \
             reused = $5, updated_at = $6 WHERE id = $7 AND state = 'running'",
        )
        .bind(until)
        .bind(objects)
        .bind(hashed)
        .bind(bytes)
        .bind(reused)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends running import `id`: done at `revision`, or failed with `error`.
    pub async fn import_end(
        &self,
        id: i64,
        outcome: Result<Option<&str>, &str>,
    ) -> Result<(), sqlx::Error> {
        let (state, revision, error) = match outcome {
            Ok(revision) => ("done", revision, None),
            Err(error) => ("failed", None, Some(error)),
        };
        sqlx::query(
            "UPDATE imports SET state = $1, revision = $2, error = $3, claimed_until = NULL, \
             updated_at = $4 WHERE id = $5",
        )
        .bind(state)
        .bind(revision)
        .bind(error)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records that each object of `refs` is its key in its source (replacing where it was
    /// before: the same bytes, found again just now), in one transaction.
    pub async fn put_object_refs(&self, refs: &[ObjectRef]) -> Result<(), sqlx::Error> {
        if refs.is_empty() {
            return Ok(());
        }
        // One JSON array per object: oid, source, key, size, ETag, version.
        let rows: Vec<serde_json::Value> = refs
            .iter()
            .map(|r| serde_json::json!([r.oid, r.source, r.key, r.size, r.etag, r.version]))
            .collect();
        let list = serde_json::to_string(&rows).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let objects = match self.engine {
            super::Engine::Sqlite => "INSERT INTO objects (oid, size, created_at) SELECT json_extract(value, '$[0]'), json_extract(value, '$[3]'), $2 FROM json_each($1) WHERE true ON CONFLICT (oid) DO NOTHING",
            super::Engine::Postgres => "INSERT INTO objects (oid, size, created_at) SELECT e->>0, CAST(e->>3 AS BIGINT), $2 FROM jsonb_array_elements(CAST($1 AS TEXT)::jsonb) e ON CONFLICT (oid) DO NOTHING",
        };
        let refs_sql = match self.engine {
            super::Engine::Sqlite => "INSERT INTO object_refs (oid, source, key, size, etag, version, created_at) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), $2 FROM json_each($1) WHERE true ON CONFLICT (oid) DO UPDATE SET source = excluded.source, key = excluded.key, size = excluded.size, etag = excluded.etag, version = excluded.version, created_at = excluded.created_at",
            super::Engine::Postgres => "INSERT INTO object_refs (oid, source, key, size, etag, version, created_at) SELECT e->>0, e->>1, e->>2, CAST(e->>3 AS BIGINT), e->>4, e->>5, $2 FROM jsonb_array_elements(CAST($1 AS TEXT)::jsonb) e ON CONFLICT (oid) DO UPDATE SET source = excluded.source, key = excluded.key, size = excluded.size, etag = excluded.etag, version = excluded.version, created_at = excluded.created_at",
        };
        let at = now();
        let mut tx = self.write_tx().await?;
        sqlx::query(objects)
            .bind(&list)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(refs_sql)
            .bind(&list)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// Where object `oid` is, when it was adopted by reference.
    pub async fn object_ref(&self, oid: &str) -> Result<Option<ObjectRef>, sqlx::Error> {
        sqlx::query_as(
            "SELECT oid, source, key, size, etag, version FROM object_refs WHERE oid = $1",
        )
        .bind(oid)
        .fetch_optional(&self.pool)
        .await
    }

    /// The object adopted from `key` of `source` at `etag`, if one was: hashed already.
    pub async fn object_ref_at(
        &self,
        source: &str,
        key: &str,
        etag: &str,
    ) -> Result<Option<ObjectRef>, sqlx::Error> {
        sqlx::query_as(
            "SELECT oid, source, key, size, etag, version FROM object_refs \
             WHERE source = $1 AND key = $2 AND etag = $3",
        )
        .bind(source)
        .bind(key)
        .bind(etag)
        .fetch_optional(&self.pool)
        .await
    }

    /// Of `oids`, those adopted by reference.
    pub async fn referenced_among(
        &self,
        oids: &[strata_lfs::Oid],
    ) -> Result<std::collections::HashSet<strata_lfs::Oid>, sqlx::Error> {
        if oids.is_empty() {
            return Ok(Default::default());
        }
        let list = serde_json::to_string(oids).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let sql = match self.engine {
            super::Engine::Sqlite => "SELECT oid FROM object_refs WHERE oid IN (SELECT value FROM json_each($1))",
            super::Engine::Postgres => "SELECT oid FROM object_refs WHERE oid IN (SELECT jsonb_array_elements_text(CAST($1 AS TEXT)::jsonb))",
        };
        let rows: Vec<(String,)> = sqlx::query_as(sql).bind(list).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().filter_map(|(o,)| o.parse().ok()).collect())
    }
}
