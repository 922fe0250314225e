//! `quotas`: the stored bytes a namespace (a user's or an organisation's) may hold, where a site
//! admin set one; and the usage queries `crate::quotas` counts with (unique stored bytes: an
//! object in several datasets of a namespace counts once).

use strata_lfs::Oid;

use super::{now, Db};

impl Db {
    /// The quota a site admin set for `namespace`, if any.
    pub async fn quota(&self, namespace: &str) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar("SELECT bytes FROM quotas WHERE namespace = $1")
            .bind(namespace.to_ascii_lowercase())
            .fetch_optional(&self.pool)
            .await
    }

    /// Sets (or with `None`, removes) the quota of `namespace`.
    pub async fn set_quota(
        &self,
        namespace: &str,
        bytes: Option<i64>,
        by: &str,
    ) -> Result<(), sqlx::Error> {
        let ns = namespace.to_ascii_lowercase();
        match bytes {
            Some(b) => {
                sqlx::query(
                    "INSERT INTO quotas (namespace, bytes, set_by, updated_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (namespace) DO UPDATE SET bytes = excluded.bytes,
                         set_by = excluded.set_by, updated_at = excluded.updated_at",
                )
                .bind(ns)
                .bind(b)
                .bind(by)
                .bind(now())
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM quotas WHERE namespace = $1")
                    .bind(ns)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// The unique stored bytes of `namespace`'s datasets.
    pub async fn namespace_bytes(&self, namespace: &str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(o.size), 0) AS BIGINT) FROM objects o
             WHERE o.oid IN (SELECT ro.oid FROM repo_objects ro JOIN repos r ON r.id = ro.repo_id
                             WHERE lower(r.namespace) = lower($1))",
        )
        .bind(namespace)
        .fetch_one(&self.pool)
        .await
    }

    /// Each dataset of `namespace` with the stored bytes of its objects, largest first.
    pub async fn dataset_bytes(&self, namespace: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT r.name, CAST(COALESCE(SUM(o.size), 0) AS BIGINT) AS bytes FROM repos r
             LEFT JOIN repo_objects ro ON ro.repo_id = r.id LEFT JOIN objects o ON o.oid = ro.oid
             WHERE lower(r.namespace) = lower($1) GROUP BY r.id, r.name ORDER BY bytes DESC, r.name",
        )
        .bind(namespace)
        .fetch_all(&self.pool)
        .await
    }

    /// Whether `oid` is linked to a dataset of `namespace` already (it adds no bytes to it).
    pub async fn in_namespace(&self, namespace: &str, oid: &Oid) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM repo_objects ro JOIN repos r ON r.id = ro.repo_id
             WHERE lower(r.namespace) = lower($1) AND ro.oid = $2",
        )
        .bind(namespace)
        .bind(oid.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Every object stored: how many, and their bytes.
    pub async fn stored_totals(&self) -> Result<(i64, i64), sqlx::Error> {
        sqlx::query_as("SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM objects")
            .fetch_one(&self.pool)
            .await
    }

    /// Each namespace holding objects: its unique stored bytes and the quota set for it.
    pub async fn namespaces_usage(&self) -> Result<Vec<(String, i64, Option<i64>)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT u.ns, u.bytes, q.bytes FROM (
                 SELECT n.ns AS ns, CAST(SUM(o.size) AS BIGINT) AS bytes FROM (
                     SELECT DISTINCT lower(r.namespace) AS ns, ro.oid AS oid
                     FROM repo_objects ro JOIN repos r ON r.id = ro.repo_id) n
                 JOIN objects o ON o.oid = n.oid GROUP BY n.ns) u
             LEFT JOIN quotas q ON lower(q.namespace) = u.ns",
        )
        .fetch_all(&self.pool)
        .await
    }
}
