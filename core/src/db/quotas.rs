//! `quotas`: the stored bytes a namespace (a user's or an organisation's) may hold, where a site
//! admin set one; and the usage queries `crate::quotas` counts with (unique stored bytes: an
//! object in several datasets of a namespace counts once; plus the bytes each dataset keeps in
//! git, `git_bytes`). `quota_reservations` keeps room for bytes on their way, taken in one turn
//! per namespace ([`Db::reserve`]) so that separate requests cannot all be admitted into the
//! same room.

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

    /// The unique stored bytes of `namespace`'s datasets: their objects, and what they keep in
    /// git.
    pub async fn namespace_bytes(&self, namespace: &str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(STORED)
            .bind(namespace.to_ascii_lowercase())
            .fetch_one(&self.pool)
            .await
    }

    /// What counts against `namespace`'s quota now: its stored bytes, and the room reserved for
    /// bytes on their way (objects linked meanwhile count once, as stored).
    pub async fn namespace_used(&self, namespace: &str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(USED)
            .bind(namespace.to_ascii_lowercase())
            .bind(now())
            .fetch_one(&self.pool)
            .await
    }

    /// Each dataset of `namespace` with the stored bytes of its objects (those it keeps as
    /// chunks count as its xorbs) and what it keeps in git, largest first.
    pub async fn dataset_bytes(&self, namespace: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT r.name, CAST(COALESCE(SUM(o.size), 0) + COALESCE(MAX(g.bytes), 0) AS BIGINT)
                 AS bytes FROM repos r
             LEFT JOIN git_bytes g ON g.repo_id = r.id
             LEFT JOIN repo_objects ro ON ro.repo_id = r.id AND NOT EXISTS
                 (SELECT 1 FROM xet_files f WHERE f.repo_id = r.id AND f.oid = ro.oid)
                 AND NOT EXISTS (SELECT 1 FROM xet_xorbs x
                     WHERE x.repo_id = r.id AND x.oid = ro.oid AND (x.for_view = 1 OR x.compacted_into IS NOT NULL))
             LEFT JOIN objects o ON o.oid = ro.oid
             WHERE lower(r.namespace) = lower($1) GROUP BY r.id, r.name ORDER BY bytes DESC, r.name",
        )
        .bind(namespace)
        .fetch_all(&self.pool)
        .await
    }

    /// Adds `bytes` a write brought into dataset `repo_id`'s git repository.
    pub async fn add_git_bytes(&self, repo_id: i64, bytes: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO git_bytes (repo_id, bytes, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (repo_id) DO UPDATE SET bytes = git_bytes.bytes + excluded.bytes,
                 updated_at = excluded.updated_at",
        )
        .bind(repo_id)
        .bind(bytes.max(0))
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Admits `wanted` (key, size: an oid, or an upload's key) to `namespace` in order, in one
    /// turn of the namespace (no other admission of it runs meanwhile), against `quota`: a key
    /// linked to one of the namespace's datasets already, or reserved for it and not expired, is
    /// admitted as it is (a reservation lasting at least to `until`); any other only while what
    /// the namespace uses stays within `quota` with it, and reserved until `until`. For each,
    /// `Ok`, or what the namespace used when it was refused.
    pub async fn reserve(
        &self,
        namespace: &str,
        quota: i64,
        wanted: &[(String, i64)],
        until: i64,
    ) -> Result<Vec<Result<(), i64>>, sqlx::Error> {
        let ns = namespace.to_ascii_lowercase();
        let now = now();
        let mut tx = self.write_tx().await?;
        // The namespace's turn: a row lock held to the commit.
        sqlx::query(
            "INSERT INTO quota_turns (namespace, at) VALUES ($1, $2)
             ON CONFLICT (namespace) DO UPDATE SET at = excluded.at",
        )
        .bind(&ns)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let mut used: i64 = sqlx::query_scalar(USED)
            .bind(&ns)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let mut out = Vec::with_capacity(wanted.len());
        for (key, size) in wanted {
            let linked: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM repo_objects ro JOIN repos r ON r.id = ro.repo_id
                 WHERE lower(r.namespace) = $1 AND ro.oid = $2",
            )
            .bind(&ns)
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
            // Room held already for this key counts for as much as it holds: asking for more
            // (the same oid again with a larger size) needs the difference.
            let reserved: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(size), 0) FROM quota_reservations
                 WHERE namespace = $1 AND oid = $2 AND expires_at > $3",
            )
            .bind(&ns)
            .bind(key)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            if linked > 0 || (reserved > 0 && reserved >= *size) {
                sqlx::query(
                    "UPDATE quota_reservations SET expires_at = $3
                     WHERE namespace = $1 AND oid = $2 AND expires_at < $3",
                )
                .bind(&ns)
                .bind(key)
                .bind(until)
                .execute(&mut *tx)
                .await?;
                out.push(Ok(()));
                continue;
            }
            let more = size.saturating_sub(reserved);
            if used.saturating_add(more) > quota {
                out.push(Err(used));
                continue;
            }
            sqlx::query(
                "INSERT INTO quota_reservations (namespace, oid, size, expires_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (namespace, oid) DO UPDATE SET size = excluded.size,
                     expires_at = excluded.expires_at",
            )
            .bind(&ns)
            .bind(key)
            .bind(*size)
            .bind(until)
            .execute(&mut *tx)
            .await?;
            used = used.saturating_add(more);
            out.push(Ok(()));
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The room reserved under `key` in `namespace` becomes the room of object `oid` (whose
    /// bytes just arrived): it counts until the object is linked, then the object does.
    pub async fn convert_reservation(
        &self,
        namespace: &str,
        key: &str,
        oid: &Oid,
    ) -> Result<(), sqlx::Error> {
        let ns = namespace.to_ascii_lowercase();
        let oid = oid.to_string();
        let mut tx = self.write_tx().await?;
        let moved =
            sqlx::query("SELECT 1 FROM quota_reservations WHERE namespace = $1 AND oid = $2")
                .bind(&ns)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        if moved {
            sqlx::query("DELETE FROM quota_reservations WHERE namespace = $1 AND oid = $2")
                .bind(&ns)
                .bind(&oid)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE quota_reservations SET oid = $3 WHERE namespace = $1 AND oid = $2")
                .bind(&ns)
                .bind(key)
                .bind(&oid)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// Gives up the room reserved under `key` in `namespace`.
    pub async fn release(&self, namespace: &str, key: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM quota_reservations WHERE namespace = $1 AND oid = $2")
            .bind(namespace.to_ascii_lowercase())
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
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

    /// Each namespace holding objects or bytes in git: its unique stored bytes and the quota
    /// set for it.
    pub async fn namespaces_usage(&self) -> Result<Vec<(String, i64, Option<i64>)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT u.ns, CAST(SUM(u.bytes) AS BIGINT), q.bytes FROM (
                 SELECT n.ns AS ns, SUM(o.size) AS bytes FROM (
                     SELECT DISTINCT lower(r.namespace) AS ns, ro.oid AS oid
                     FROM repo_objects ro JOIN repos r ON r.id = ro.repo_id
                     WHERE NOT EXISTS (SELECT 1 FROM xet_files f JOIN repos r2 ON r2.id = f.repo_id
                         WHERE f.oid = ro.oid AND lower(r2.namespace) = lower(r.namespace))
                       AND NOT EXISTS (SELECT 1 FROM xet_xorbs x
                         WHERE x.repo_id = ro.repo_id AND x.oid = ro.oid AND (x.for_view = 1 OR x.compacted_into IS NOT NULL))) n
                 JOIN objects o ON o.oid = n.oid GROUP BY n.ns
                 UNION ALL
                 SELECT lower(r.namespace) AS ns, SUM(g.bytes) AS bytes
                 FROM git_bytes g JOIN repos r ON r.id = g.repo_id GROUP BY lower(r.namespace)) u
             LEFT JOIN quotas q ON lower(q.namespace) = u.ns GROUP BY u.ns, q.bytes",
        )
        .fetch_all(&self.pool)
        .await
    }
}

/// A namespace's stored bytes (`$1`, lowercase): its datasets' objects, each once (an object a
/// dataset keeps as chunks counts as its xorbs, which are objects too; those made for a table
/// view, a cache strata keeps, and those compacted into another, waiting for collection, count
/// for nobody), and the bytes they keep in git.
const STORED: &str = "SELECT CAST(
    (SELECT COALESCE(SUM(o.size), 0) FROM objects o
     WHERE o.oid IN (SELECT ro.oid FROM repo_objects ro JOIN repos r ON r.id = ro.repo_id
                     WHERE lower(r.namespace) = $1 AND NOT EXISTS (SELECT 1 FROM xet_xorbs x
                         WHERE x.repo_id = ro.repo_id AND x.oid = ro.oid AND (x.for_view = 1 OR x.compacted_into IS NOT NULL)))
       AND NOT EXISTS (SELECT 1 FROM xet_files f JOIN repos r ON r.id = f.repo_id
                       WHERE f.oid = o.oid AND lower(r.namespace) = $1))
  + (SELECT COALESCE(SUM(g.bytes), 0) FROM git_bytes g JOIN repos r ON r.id = g.repo_id
     WHERE lower(r.namespace) = $1) AS BIGINT)";

/// What counts against a namespace's quota (`$1`, lowercase) at `$2`: [`STORED`], and the room
/// reserved and not expired for objects none of its datasets links yet (or uploads under way).
const USED: &str = "SELECT CAST(
    (SELECT COALESCE(SUM(o.size), 0) FROM objects o
     WHERE o.oid IN (SELECT ro.oid FROM repo_objects ro JOIN repos r ON r.id = ro.repo_id
                     WHERE lower(r.namespace) = $1 AND NOT EXISTS (SELECT 1 FROM xet_xorbs x
                         WHERE x.repo_id = ro.repo_id AND x.oid = ro.oid AND (x.for_view = 1 OR x.compacted_into IS NOT NULL)))
       AND NOT EXISTS (SELECT 1 FROM xet_files f JOIN repos r ON r.id = f.repo_id
                       WHERE f.oid = o.oid AND lower(r.namespace) = $1))
  + (SELECT COALESCE(SUM(g.bytes), 0) FROM git_bytes g JOIN repos r ON r.id = g.repo_id
     WHERE lower(r.namespace) = $1)
  + (SELECT COALESCE(SUM(q.size), 0) FROM quota_reservations q
     WHERE q.namespace = $1 AND q.expires_at > $2
       AND NOT EXISTS (SELECT 1 FROM repo_objects ro JOIN repos r ON r.id = ro.repo_id
                       WHERE ro.oid = q.oid AND lower(r.namespace) = $1)) AS BIGINT)";
