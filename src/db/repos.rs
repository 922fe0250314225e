//! `repos`: one row per repository (`{namespace}/{name}`), with its owner and visibility.

use super::{now, Db};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
}

impl std::str::FromStr for Visibility {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "public" => Ok(Visibility::Public),
            "private" => Ok(Visibility::Private),
            other => Err(format!(
                "unknown visibility {other:?}: use public or private"
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
}

impl Repo {
    /// `{namespace}/{name}`.
    pub fn path(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn is_public(&self) -> bool {
        self.visibility == Visibility::Public.as_str()
    }
}

const COLUMNS: &str = "id, namespace, name, owner_id, visibility, created_at";

impl Db {
    pub async fn create_repo(
        &self,
        namespace: &str,
        name: &str,
        owner_id: i64,
        visibility: Visibility,
    ) -> Result<Repo, sqlx::Error> {
        sqlx::query_as(&format!(
            "INSERT INTO repos (namespace, name, owner_id, visibility, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
        ))
        .bind(namespace)
        .bind(name)
        .bind(owner_id)
        .bind(visibility.as_str())
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
            "SELECT {COLUMNS} FROM repos WHERE namespace = $1 AND name = $2"
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
}
