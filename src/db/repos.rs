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
    pub visibility: String,
    pub created_at: i64,
    /// Non-zero: the default branch refuses force-pushes and deletion.
    pub protect_default_branch: i64,
}

impl Repo {
    /// `{namespace}/{name}`.
    pub fn path(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn is_public(&self) -> bool {
        self.visibility == Visibility::Public.as_str()
    }

    pub fn is_internal(&self) -> bool {
        self.visibility == Visibility::Internal.as_str()
    }
}

/// `internal` is stored as the `internal` flag (see migration 0003); rows read as one string.
const COLUMNS: &str = "id, namespace, name, owner_id, CASE WHEN internal <> 0 THEN 'internal' ELSE visibility END AS visibility, created_at, protect_default_branch";

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
    ) -> Result<Repo, sqlx::Error> {
        sqlx::query_as(&format!(
            "INSERT INTO repos (namespace, name, owner_id, visibility, internal, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
        ))
        .bind(namespace)
        .bind(name)
        .bind(owner_id)
        .bind(stored(visibility))
        .bind((visibility == Visibility::Internal) as i64)
        .bind(now())
        .fetch_one(&self.pool)
        .await
    }

    pub async fn repo_by_path(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Repo>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM repos WHERE lower(namespace) = lower($1) AND lower(name) = lower($2)"
        ))
        .bind(namespace)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
    }

    /// Deletes a repository row; its object links and locks go with it.
    pub async fn delete_repo(&self, id: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM locks WHERE repo_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM repo_objects WHERE repo_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM repos WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    pub async fn set_protection(&self, id: i64, on: bool) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE repos SET protect_default_branch = $1 WHERE id = $2")
            .bind(on as i64)
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
