//! Datasets as the rest of the server sees them: a `repos` row (owner, visibility, object links)
//! plus a bare git repository in the metastore. Creating and deleting keeps the two together.

pub mod gate;

use strata_metastore::{DatasetId, Metastore, Person};

use crate::auth::Principal;
use crate::db::{Repo, Visibility};
use crate::error::{Error, Result};
use crate::state::AppState;

/// Runs a metastore call on the blocking pool (gix is synchronous).
pub async fn git<T, F>(state: &AppState, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Metastore) -> strata_metastore::Result<T> + Send + 'static,
{
    let metastore = state.metastore.clone();
    tokio::task::spawn_blocking(move || f(&metastore))
        .await
        .map_err(Error::internal)?
        .map_err(Error::from)
}

/// Creates the row and the repository of a new dataset; a failure leaves neither.
pub async fn create(
    state: &AppState,
    ns: &str,
    name: &str,
    owner_id: i64,
    visibility: Visibility,
) -> Result<Repo, CreateError> {
    let repo = state
        .db
        .create_repo(ns, name, owner_id, visibility)
        .await
        .map_err(|e| {
            if crate::db::is_unique_violation(&e) {
                CreateError::Exists
            } else {
                CreateError::Db(e)
            }
        })?;
    let (n, m) = (ns.to_owned(), name.to_owned());
    let made = git(state, move |ms| ms.create(DatasetId { ns: &n, name: &m })).await;
    if let Err(e) = made {
        let _ = state.db.delete_repo(repo.id).await;
        return Err(CreateError::Git(e));
    }
    Ok(repo)
}

/// Deletes a dataset: its row (and with it the object links and locks) and its repository.
pub async fn delete(state: &AppState, repo: &Repo) -> Result<()> {
    state.db.delete_repo(repo.id).await?;
    let (n, m) = (repo.namespace.clone(), repo.name.clone());
    match git(state, move |ms| ms.delete(DatasetId { ns: &n, name: &m })).await {
        Ok(()) => Ok(()),
        // A repository that never got its git side is deleted all the same.
        Err(e) if e.kind == crate::error::Kind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("exists already")]
    Exists,
    #[error("database: {0}")]
    Db(sqlx::Error),
    #[error("{}", .0.message)]
    Git(Error),
}

/// The author of a commit made by `who`.
pub fn author(who: &Principal) -> Person {
    match who {
        Principal::User { user, .. } => Person {
            name: user.username.clone(),
            email: user
                .email
                .clone()
                .unwrap_or_else(|| format!("{}@users.noreply.strata", user.username)),
        },
        Principal::Jwt { sub, .. } => Person {
            name: sub.clone(),
            email: format!("{sub}@tokens.noreply.strata"),
        },
        Principal::Anonymous => Person {
            name: "anonymous".into(),
            email: "anonymous@noreply.strata".into(),
        },
    }
}

/// The LFS endpoint of a dataset, written into its `.lfsconfig`.
pub fn lfs_url(state: &AppState, repo: &Repo) -> String {
    format!("{}/{}.git/info/lfs", state.settings.public_url, repo.path())
}
