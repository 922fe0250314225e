//! Who may write the policy dataset: site admins only. Policies decide every governed read on the
//! server, so whoever writes them governs everyone; a namespace claimed first (an open sign-up,
//! an SSO username, an organisation) must not make its holder the steward.
//!
//! Three places keep this: creating the policy dataset ([`check_created`], from
//! `crate::datasets::create`: REST, the home page, `strata admin create-repo`, the drive), writing
//! it ([`check_write`], from the gates: REST commits, the file manager, settings, LFS, git push),
//! and loading it ([`untrusted`], from `Governance::current`): when anyone but a site admin holds
//! write on it (ownership, an organisation, a collaborator or team, a share), by the same rules
//! the gates apply (`crate::auth::access::user_grant`), its policies are not loaded and governed
//! reads are denied, with the reason in the log and in `/readyz`.

use crate::auth::access::{self, Authorized};
use crate::auth::{Action, Principal};
use crate::db::Repo;
use crate::error::{Error, Result};
use crate::Core;

/// Whether `who` is a site admin (the only callers who may write the policy dataset).
fn site_admin(who: &Principal) -> bool {
    matches!(who, Principal::User { user, .. } if user.admin())
}

/// The gates' check: a caller who passed for `action` on `dataset` may do anything but read the
/// policy dataset only as a site admin.
pub(crate) fn check_write(
    core: &Core,
    who: &Principal,
    dataset: &Authorized,
    action: Action,
) -> Result<()> {
    if action == Action::Read
        || site_admin(who)
        || !core
            .governance
            .is_policy_dataset(&dataset.namespace, &dataset.name)
    {
        return Ok(());
    }
    Err(Error::forbidden(format!(
        "{} holds the governance policies of this server: only site admins may change it",
        dataset.path()
    )))
}

/// The users other than site admins who may write `repo`, by the gates' rules.
async fn writers(core: &Core, repo: &Repo) -> Result<Vec<String>> {
    let mut writers = Vec::new();
    for user in core.db.holders(repo.id, &repo.namespace).await? {
        if user.admin() {
            continue;
        }
        let grant = access::user_grant(&core.db, &user, repo).await?;
        let writes = grant.dataset.is_some_and(|g| g.covers(Action::Write))
            || grant.paths.iter().any(|(_, g)| g.covers(Action::Write));
        if writes {
            writers.push(user.username);
        }
    }
    Ok(writers)
}

/// How the writers are named in refusals and in the log.
fn named(repo: &Repo, writers: &[String]) -> String {
    format!(
        "{} can be written by {} (not a site admin: as its owner, an owner of its organisation, \
         a collaborator or through a share)",
        repo.path(),
        writers.join(", ")
    )
}

/// Why the policies of `repo` (the policy dataset) must not be loaded: someone other than a site
/// admin may write it. `None` when only site admins may.
pub(crate) async fn untrusted(core: &Core, repo: &Repo) -> Result<Option<String>> {
    let writers = writers(core, repo).await?;
    Ok((!writers.is_empty()).then(|| {
        format!(
            "the policy dataset {}: only site admins may write it, so its policies are not \
             loaded and governed reads are denied until that is undone",
            named(repo, &writers)
        )
    }))
}

/// The check of a new dataset's row before its repository is made: the policy dataset may be
/// created only where nobody but site admins can write it.
pub(crate) async fn check_created(core: &Core, repo: &Repo) -> Result<()> {
    if !core
        .governance
        .is_policy_dataset(&repo.namespace, &repo.name)
    {
        return Ok(());
    }
    let writers = writers(core, repo).await?;
    if writers.is_empty() {
        return Ok(());
    }
    Err(Error::forbidden(format!(
        "{} holds the governance policies of this server, so only site admins may create it, \
         and only where nobody else can write it: {}",
        repo.path(),
        named(repo, &writers)
    )))
}
