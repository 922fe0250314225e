//! Datasets as the rest of the server sees them: a `repos` row (owner, visibility, object links)
//! plus a bare git repository in the metastore. Creating and deleting keeps the two together.

pub mod buckets;
pub mod card;
pub mod catalog;
pub mod front;
pub mod gate;
pub mod gated;
pub mod ledger;
pub mod listing;
pub mod locks;
pub mod packaged;
pub mod paths;
pub mod plumbing;
pub mod policies;
pub mod refs;
pub mod rename;
pub mod search;
pub mod settings;
pub mod verify;

use strata_metastore::{DatasetId, Metastore, Person};

use crate::auth::Principal;
use crate::db::{Repo, Visibility};
use crate::error::{Error, Result};
use crate::Core;

/// Runs a metastore call on the blocking pool (gix is synchronous).
pub async fn git<T, F>(core: &Core, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Metastore) -> strata_metastore::Result<T> + Send + 'static,
{
    let metastore = core.metastore.clone();
    let ctx = crate::context::current();
    tokio::task::spawn_blocking(move || crate::context::blocking(ctx, || f(&metastore)))
        .await
        .map_err(Error::internal)?
        .map_err(Error::from)
}

/// Runs a metastore call on dataset `repo` on the blocking pool.
pub async fn git_on<T, F>(core: &Core, repo: &Repo, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Metastore, DatasetId<'_>) -> strata_metastore::Result<T> + Send + 'static,
{
    let (ns, name) = (repo.namespace.clone(), repo.name.clone());
    git(core, move |ms| {
        f(
            ms,
            DatasetId {
                ns: &ns,
                name: &name,
            },
        )
    })
    .await
}

/// Creates the row and the repository of a new dataset; a failure leaves neither.
pub async fn create(
    core: &Core,
    ns: &str,
    name: &str,
    owner_id: i64,
    visibility: Visibility,
) -> Result<Repo, CreateError> {
    buckets::check_new_bucket(core, ns, name)
        .await
        .map_err(CreateError::Refused)?;
    let repo = core
        .db
        .create_repo(ns, name, owner_id, visibility)
        .await
        .map_err(|e| match e {
            crate::db::Error::Conflict => CreateError::Exists,
            e => CreateError::Db(e),
        })?;
    // The policy dataset only where nobody but site admins can write it.
    if let Err(e) = policies::trust::check_created(core, &repo).await {
        let _ = core.db.delete_repo(repo.id).await;
        return Err(CreateError::Refused(e));
    }
    let (n, m) = (ns.to_owned(), name.to_owned());
    let made = git(core, move |ms| ms.create(DatasetId { ns: &n, name: &m })).await;
    if let Err(e) = made {
        let _ = core.db.delete_repo(repo.id).await;
        return Err(CreateError::Git(e));
    }
    // An old name of another dataset leads there no more (found first anyway: this one is).
    if let Err(e) = core.db.drop_redirect(ns, name).await {
        tracing::warn!(error = %e, "an old name's redirect was left behind");
    }
    Ok(repo)
}

/// Deletes a dataset: its row (and with it the object links and locks), its data keys when
/// objects are sealed (crypto-shredding: its objects are unreadable at once) and its repository.
pub async fn delete(core: &Core, repo: &Repo) -> Result<()> {
    core.db.delete_repo(repo.id).await?;
    core.storage.shred(repo.id).await?;
    let (n, m) = (repo.namespace.clone(), repo.name.clone());
    match git(core, move |ms| ms.delete(DatasetId { ns: &n, name: &m })).await {
        Ok(()) => Ok(()),
        // A repository that never got its git side is deleted all the same.
        Err(e) if e.kind == crate::error::Kind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// What a new dataset starts with.
pub struct NewDataset {
    pub namespace: String,
    pub name: String,
    pub visibility: Visibility,
    /// The first revision's datapackage (default: `{"name": <name>, "resources": []}`).
    pub datapackage: Option<serde_json::Value>,
    pub message: Option<String>,
}

/// Creates a dataset for `who` (REST and pages): in their own namespace, or an organisation's
/// they belong to (admins anywhere), if their role creates datasets and their token's scopes
/// administer the new path; with a first revision. A failure leaves nothing behind.
pub async fn create_as(
    core: &Core,
    who: &Principal,
    new: NewDataset,
) -> Result<(Repo, strata_metastore::Revision, strata_metastore::Package)> {
    use crate::auth::{Action, On};
    let Principal::User { user, scopes, .. } = who else {
        return Err(if who.is_anonymous() {
            Error::unauthorized("authentication required")
        } else {
            Error::forbidden("datasets are created with a personal access token")
        });
    };
    let ns = new.namespace.as_str();
    crate::names::check_namespace(ns).map_err(|e| Error::unprocessable(e.to_string()))?;
    crate::names::check("dataset name", &new.name)
        .map_err(|e| Error::unprocessable(e.to_string()))?;
    let path = format!("{ns}/{}", new.name);
    core.require_of(user, crate::auth::Need::CreateDatasets)
        .await?;
    let member = core.has(user, crate::auth::Need::InNamespace(ns)).await?;
    let org = core.db.org_by_name(ns).await?;
    if !member || !scopes.allows(&path, On::Dataset, Action::Admin) {
        return Err(Error::forbidden(format!(
            "you may not create datasets in {ns}"
        )));
    }
    let package_json = new
        .datapackage
        .unwrap_or_else(|| serde_json::json!({"name": new.name, "resources": []}));
    let package = strata_metastore::Package::from_json(package_json)?;
    packaged::jobs(&package.json)?;
    if !package.resources.is_empty() {
        // Nothing can be linked to a dataset that does not exist yet.
        return Err(Error::unprocessable(
            "a new dataset starts without resources: upload their objects to it, then add them",
        ));
    }
    // The namespace's user owns the dataset; in an organisation, whoever creates it. The
    // namespace is spelled as its user or organisation spells it.
    let (owner, namespace) = match (core.db.user_by_name(ns).await?, &org) {
        (Some(owner), _) => {
            let ns = owner.username.clone();
            (owner, ns)
        }
        (None, Some(org)) if member => (user.clone(), org.name.clone()),
        _ => return Err(Error::unprocessable(format!("no namespace {ns}"))),
    };
    let message = new.message.unwrap_or_else(|| "Create dataset".into());
    let first = First {
        package,
        message,
        author: author(who),
    };
    create_with(core, &namespace, &new.name, owner.id, new.visibility, first).await
}

/// The first revision of a new dataset.
pub struct First {
    pub package: strata_metastore::Package,
    pub message: String,
    pub author: Person,
}

/// Creates a dataset with its first revision; a failure leaves nothing behind.
pub async fn create_with(
    core: &Core,
    namespace: &str,
    name: &str,
    owner_id: i64,
    visibility: Visibility,
    first: First,
) -> Result<(Repo, strata_metastore::Revision, strata_metastore::Package)> {
    let repo = create(core, namespace, name, owner_id, visibility)
        .await
        .map_err(|e| match e {
            CreateError::Exists => {
                Error::conflict(format!("dataset {namespace}/{name} exists already"))
            }
            CreateError::Db(e) => e.into(),
            CreateError::Git(e) | CreateError::Refused(e) => e,
        })?;
    let (n, m) = (repo.namespace.clone(), repo.name.clone());
    let url = lfs_url(core, &repo);
    let written = git(core, move |ms| {
        let id = DatasetId { ns: &n, name: &m };
        let meta = strata_metastore::WriteMeta {
            branch: strata_metastore::DEFAULT_BRANCH,
            parent: None,
            author: &first.author,
            message: &first.message,
        };
        ms.update(id, &meta, &first.package, Some(&url))?;
        ms.fetch(id, None)
    })
    .await;
    match written {
        Ok((revision, package)) => Ok((repo, revision, package)),
        Err(e) => {
            let _ = delete(core, &repo).await;
            Err(e)
        }
    }
}

/// `user`'s drive, if it was made.
pub async fn existing_drive(core: &Core, user: &crate::db::User) -> Result<Option<Repo>> {
    Ok(core.db.repo_by_path(&user.username, DRIVE).await?)
}

/// The dataset that is `user`'s drive, `{user}/drive` (private), created on first use.
pub async fn drive(core: &Core, who: &Principal) -> Result<Repo> {
    let user = match who {
        Principal::User { user, .. } => user,
        Principal::Anonymous => return Err(Error::unauthorized("authentication required")),
        Principal::Jwt { .. } => return Err(Error::forbidden("a drive belongs to a user")),
    };
    if let Some(repo) = existing_drive(core, user).await? {
        return Ok(repo);
    }
    if crate::auth::Role::of(user) == crate::auth::Role::Viewer {
        return Err(Error::forbidden(
            "your role reads only, so a drive would be of no use: ask an admin for another role",
        ));
    }
    let package = strata_metastore::Package::from_json(serde_json::json!({
        "name": DRIVE,
        "title": format!("{}'s drive", user.username),
        "resources": [],
    }))?;
    let first = First {
        package,
        message: "Create drive".into(),
        author: author(who),
    };
    match create_with(
        core,
        &user.username,
        DRIVE,
        user.id,
        Visibility::Private,
        first,
    )
    .await
    {
        Ok((repo, ..)) => Ok(repo),
        // Two first visits at once: the other one made it.
        Err(e) if e.kind == crate::error::Kind::Conflict => {
            existing_drive(core, user).await?.ok_or(e)
        }
        Err(e) => Err(e),
    }
}

/// The name of every user's drive dataset.
pub const DRIVE: &str = "drive";

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("exists already")]
    Exists,
    #[error("database: {0}")]
    Db(crate::db::Error),
    #[error("{}", .0.message)]
    Git(Error),
    /// Not allowed (the policy dataset where others than site admins could write it).
    #[error("{}", .0.message)]
    Refused(Error),
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
pub fn lfs_url(core: &Core, repo: &Repo) -> String {
    format!("{}/{}.git/info/lfs", core.settings.public_url, repo.path())
}
