//! `repos`: one row per repository (`{namespace}/{name}`), with its owner and visibility.

use super::{now, Db};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Anyone may read, signed in or not.
    Public,
    /// Every signed-in user may read.
    Internal,
    /// Only those with a grant may read.
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
            Visibility::Private => "private",
        }
    }
}

impl TryFrom<String> for Visibility {
    type Error = String;
    fn try_from(s: String) -> Result<Visibility, String> {
        s.parse()
    }
}

impl std::fmt::Display for Visibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Visibility {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "public" => Ok(Visibility::Public),
            "internal" => Ok(Visibility::Internal),
            "private" => Ok(Visibility::Private),
            other => Err(format!(
                "unknown visibility {other:?}: use public, internal or private"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Repo {
    pub id: i64,
    pub namespace: String,
    pub name: String,
    pub owner_id: i64,
    #[sqlx(try_from = "String")]
    pub visibility: Visibility,
    pub created_at: i64,
    /// Non-zero: the default branch refuses force-pushes and deletion.
    pub protect_default_branch: i64,
    /// Non-zero: the protected default branch takes changes through merge requests only.
    pub require_merge_request: i64,
    /// Approvals from writers other than its author a merge request into the protected default
    /// branch needs.
    pub required_approvals: i64,
    /// How access requests are answered when the dataset is gated (`manual` or `auto`), or
    /// `""`: not gated (`crate::sharing::access`).
    pub gated: String,
    /// Non-zero: the dataset follows a remote (`crate::mirrors`) and is read-only to writers.
    pub mirror: i64,
}

impl Repo {
    /// `{namespace}/{name}`.
    pub fn path(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn is_public(&self) -> bool {
        self.visibility == Visibility::Public
    }

    pub fn is_internal(&self) -> bool {
        self.visibility == Visibility::Internal
    }

    /// Whether reading it takes an accepted access request (or another grant).
    pub fn is_gated(&self) -> bool {
        !self.gated.is_empty()
    }
}

/// `internal` is stored as the `internal` flag (see migration 0003); rows read as one string.
const COLUMNS: &str = "id, namespace, name, owner_id, CASE WHEN internal <> 0 THEN 'internal' ELSE visibility END AS visibility, created_at, protect_default_branch, require_merge_request, required_approvals, gated, mirror";

/// What the `visibility` column holds: internal datasets are `private` plus the flag.
fn stored(v: Visibility) -> &'static str {
    match v {
        Visibility::Internal => Visibility::Private.as_str(),
        v => v.as_str(),
    }
}

impl Db {
    pub async fn create_repo(
        &self,
        namespace: &str,
        name: &str,
        owner_id: i64,
        visibility: Visibility,
    ) -> Result<Repo, super::Error> {
        Ok(sqlx::query_as(sql!(
            "INSERT INTO repos (namespace, name, owner_id, visibility, internal, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
        ))
        .bind(namespace)
        .bind(name)
        .bind(owner_id)
        .bind(stored(visibility))
        .bind((visibility == Visibility::Internal) as i64)
        .bind(now())
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn repo_by_path(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Repo>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM repos WHERE lower(namespace) = lower($1) AND lower(name) = lower($2)"
        ))
        .bind(namespace)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
    }

    /// The datasets whose owner is `user_id` (their own, and those they made in organisations).
    pub async fn repos_owned_by(&self, user_id: i64) -> Result<Vec<Repo>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM repos WHERE owner_id = $1 ORDER BY namespace, name"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn repo_by_id(&self, id: i64) -> Result<Option<Repo>, sqlx::Error> {
        sqlx::query_as(sql!("SELECT {COLUMNS} FROM repos WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Deletes a repository row; its object links and locks go with it.
    pub async fn delete_repo(&self, id: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM locks WHERE repo_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM repo_objects WHERE repo_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM s3_etags WHERE repo_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Its events and what was told of them go too: a dataset made later under the same
        // name must not show them. The events stay as blank tombstones, keeping their places in
        // the stream (a new event must never take a place a client has seen).
        sqlx::query(
            "DELETE FROM notifications WHERE lower(dataset) = \
             (SELECT lower(namespace || '/' || name) FROM repos WHERE id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE event_id IN (SELECT id FROM events \
             WHERE lower(dataset) = (SELECT lower(namespace || '/' || name) FROM repos WHERE id = $1))",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE events SET dataset = '-/-', actor = NULL, data = $2 \
             WHERE lower(dataset) = (SELECT lower(namespace || '/' || name) FROM repos WHERE id = $1)",
        )
        .bind(id)
        .bind("{}")
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM dataset_redirects WHERE repo_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM repos WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// One page of the datasets `viewer` may see (anonymous: `None`; every row for site admins;
    /// whole-dataset shares count, shares of a path do not: those are under `/shared`),
    /// by ascending id after `after`, optionally only those whose `ns/name` contains `query`.
    pub async fn visible_repos(
        &self,
        viewer: Option<&super::User>,
        after: i64,
        limit: i64,
        query: Option<&str>,
    ) -> Result<Vec<Repo>, sqlx::Error> {
        let (all, signed_in, uid) = match viewer {
            Some(u) => (u.admin() as i64, 1i64, u.id),
            None => (0, 0, 0),
        };
        let pattern = query.map(|q| {
            let escaped = q
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM repos r WHERE r.id > $1
               AND (CAST($6 AS TEXT) IS NULL OR lower(r.namespace || '/' || r.name) LIKE $6 ESCAPE '\\')
               AND ($2 = 1 OR (r.visibility = 'public' AND r.internal = 0)
                 OR ($3 = 1 AND r.internal <> 0)
                 OR r.owner_id = $4
                 OR EXISTS (SELECT 1 FROM org_members m JOIN orgs o ON o.id = m.org_id
                            WHERE lower(o.name) = lower(r.namespace) AND m.user_id = $4)
                 OR EXISTS (SELECT 1 FROM collaborators c LEFT JOIN team_members t ON t.team_id = c.team_id
                            WHERE c.repo_id = r.id AND (c.user_id = $4 OR t.user_id = $4))
                 OR EXISTS (SELECT 1 FROM shares s WHERE s.repo_id = r.id AND s.path = ''
                            AND (s.expires_at IS NULL OR s.expires_at > $7)
                            AND (s.user_id = $4 OR s.team_id IN (SELECT team_id FROM team_members WHERE user_id = $4))))
             ORDER BY r.id LIMIT $5"
        ))
        .bind(after)
        .bind(all)
        .bind(signed_in)
        .bind(uid)
        .bind(limit)
        .bind(pattern)
        .bind(super::now())
        .fetch_all(&self.pool)
        .await
    }

    pub async fn set_protection(&self, id: i64, on: bool) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE repos SET protect_default_branch = $1 WHERE id = $2")
            .bind(on as i64)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// What merges into the protected default branch need.
    pub async fn set_merge_rules(
        &self,
        id: i64,
        require_merge_request: bool,
        required_approvals: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE repos SET require_merge_request = $1, required_approvals = $2 WHERE id = $3",
        )
        .bind(require_merge_request as i64)
        .bind(required_approvals)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn set_visibility(&self, id: i64, visibility: Visibility) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE repos SET visibility = $1, internal = $2 WHERE id = $3")
            .bind(stored(visibility))
            .bind((visibility == Visibility::Internal) as i64)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
