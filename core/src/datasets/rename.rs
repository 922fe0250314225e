//! Renaming a dataset in its namespace. The repository moves, then its row (with the events and
//! notifications that name it); the old name leads to the dataset from then on (the gate answers
//! it with [`Error::moved`], which the HTTP layer turns into a redirect), until a dataset is made
//! or renamed to it. Clones, tokens and bucket names of the old name follow the redirect or are
//! refused; nothing else moves, since everything else about a dataset is kept by its id.

use strata_metastore::DatasetId;

use serde_json::json;

use super::{buckets, git, DRIVE};
use crate::audit;
use crate::auth::{Action, Need, On, Principal};
use crate::db::Repo;
use crate::error::{Error, Result};
use crate::Core;

/// Renames `repo` (which `who` administers: the caller's gate said so) to `name`; the renamed
/// dataset. The same name again changes nothing.
pub async fn rename(core: &Core, who: &Principal, repo: &Repo, name: &str) -> Result<Repo> {
    let (ns, old) = (repo.namespace.as_str(), repo.name.as_str());
    crate::names::check("dataset name", name).map_err(|e| Error::unprocessable(e.to_string()))?;
    if name == old {
        return Ok(repo.clone());
    }
    if old.eq_ignore_ascii_case(DRIVE) || name.eq_ignore_ascii_case(DRIVE) {
        return Err(Error::unprocessable(format!(
            "{DRIVE} is the name of a person's drive: a drive keeps it, and no other dataset takes it"
        )));
    }
    let governance = &core.governance;
    if governance.is_policy_dataset(ns, old) || governance.is_policy_dataset(ns, name) {
        return Err(Error::unprocessable(
            "the policy dataset keeps the name the server is started with (--policy-dataset)",
        ));
    }
    // Those who may make datasets here (its owner, the organisation's members, site admins),
    // with a token that administers the new name too.
    let (maker, admin) = match who {
        Principal::User { user, .. } => (
            core.has(user, Need::InNamespace(ns)).await?,
            core.has(user, Need::Admin).await?,
        ),
        _ => (false, false),
    };
    // Policies may name datasets: where they are in force, a name is changed by site admins,
    // who answer for the policies, so that nobody renames a dataset out of one.
    if !admin && core.governance.in_force(core).await {
        return Err(Error::forbidden(
            "policies are in force on this server, and may name datasets: a site administrator renames them",
        ));
    }
    let scoped = who
        .scopes()
        .is_some_and(|s| s.allows(&format!("{ns}/{name}"), On::Dataset, Action::Admin));
    if !maker || !scoped {
        return Err(Error::forbidden(format!(
            "you may not name a dataset {ns}/{name}: renaming is for those who make datasets in {ns}"
        )));
    }
    let taken = |_| Error::conflict(format!("a dataset {ns}/{name} exists already"));
    if let Some(other) = core.db.repo_by_path(ns, name).await? {
        if other.id != repo.id {
            return Err(taken(()));
        }
    }
    // An old name still leads to another dataset: its links and clones are that one's.
    if core
        .db
        .redirect_of(ns, name)
        .await?
        .is_some_and(|id| id != repo.id)
    {
        return Err(Error::conflict(format!(
            "{ns}/{name} is an old name of another dataset, and leads there: pick another name"
        )));
    }
    buckets::check_new_bucket(core, ns, name).await?;
    let (n, from, to) = (ns.to_owned(), old.to_owned(), name.to_owned());
    git(core, move |ms| {
        ms.rename(
            DatasetId {
                ns: &n,
                name: &from,
            },
            DatasetId { ns: &n, name: &to },
        )
    })
    .await?;
    match core.db.rename_repo(repo, name).await {
        Ok(renamed) => {
            audit::changed(
                core,
                who,
                "dataset.renamed",
                &renamed.path(),
                json!({"from": repo.path()}),
            )
            .await?;
            Ok(renamed)
        }
        Err(e) => {
            // The row stayed: so does the repository.
            let (n, from, to) = (ns.to_owned(), old.to_owned(), name.to_owned());
            let back = git(core, move |ms| {
                ms.rename(
                    DatasetId { ns: &n, name: &to },
                    DatasetId {
                        ns: &n,
                        name: &from,
                    },
                )
            })
            .await;
            if let Err(b) = back {
                tracing::error!(error = %b, "a failed rename could not move the repository back");
            }
            Err(match e {
                crate::db::Error::Conflict => taken(()),
                e => e.into(),
            })
        }
    }
}

/// Where an old name `ns/name` leads for `who`: the dataset's name now, when there is one and
/// `who` could see it; `None` otherwise (the old name is then as missing as any other).
pub async fn moved_to(core: &Core, ns: &str, name: &str) -> Result<Option<Repo>> {
    let Some(id) = core.db.redirect_of(ns, name).await? else {
        return Ok(None);
    };
    Ok(core.db.repo_by_id(id).await?)
}
