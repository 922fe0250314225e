//! The gates: the one place that decides whether a principal may read or write a dataset, its
//! files or its LFS objects. Every byte path asks here: the batch API, verify, locks, the signed
//! transfers (through the URLs only a gate hands out), REST reads and writes, raw files, git
//! clone and push, and token minting.
//!
//! A decision combines, in this order: the dataset's visibility, the user's grant (role, owner,
//! organisation, collaborators, teams; `crate::auth::access`), the token's scopes (`obj:` scopes
//! reach objects only, `dataset:` scopes and `*` the dataset too; `crate::auth::scope`), and for
//! objects the link rule: a dataset reads only objects uploaded or verified through it, so knowing
//! an oid is never enough. Path shares and policies are further inputs to [`Gated`], not new call
//! sites.
//!
//! Refusals answer as a careful server does: strangers get 401 (so git asks for credentials) and
//! cannot tell a private dataset from a missing one; signed-in users who may not see it get 404;
//! those who may see it but not do what they asked get 403.

use serde_json::json;
use strata_lfs::Oid;

use crate::auth::access::{self, Authorized};
use crate::auth::{Action, On, Principal};
use crate::error::{Error, Result};
use crate::state::AppState;

/// What part of a dataset a request reaches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The dataset: datapackage, files, history, refs, settings (REST, git, pages).
    Dataset,
    /// Its LFS objects (the batch API, verify, locks).
    Objects,
}

/// A dataset the caller passed a gate for, with what the caller may do to it.
#[derive(Debug, Clone)]
pub struct Gated {
    pub dataset: Authorized,
    who: Principal,
}

impl std::ops::Deref for Gated {
    type Target = crate::db::Repo;
    fn deref(&self) -> &crate::db::Repo {
        &self.dataset.repo
    }
}

/// What a gate says about one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, and linked to the dataset with this size.
    Linked(u64),
    /// Allowed, and not (yet) linked to the dataset.
    Unlinked,
    /// The caller's token does not reach this object.
    Denied,
}

/// Opens `{ns}/{name}` for `who`, who wants `action` on `reach`. For [`Reach::Objects`] it is
/// enough to reach some object; the per-object answer comes from [`Gated::objects`].
pub async fn open(
    state: &AppState,
    who: &Principal,
    ns: &str,
    name: &str,
    action: Action,
    reach: Reach,
) -> Result<Gated> {
    let denied = |found: bool| {
        if who.is_anonymous() {
            Error::unauthorized("authentication required")
        } else if found {
            Error::forbidden(format!(
                "you may read {ns}/{name} but not {}",
                action_word(action, reach)
            ))
        } else {
            Error::not_found(format!("dataset {ns}/{name} not found"))
        }
    };
    let Some(repo) = state.db.repo_by_path(ns, name).await? else {
        return Err(denied(false));
    };
    let user_grant = match who {
        Principal::User { user, .. } => access::user_grant(&state.db, user, &repo).await?,
        _ => None,
    };
    let dataset = Authorized { repo, user_grant };
    let passes = |action| match reach {
        Reach::Dataset => who.can(&dataset, On::Dataset, action),
        Reach::Objects => who.can_some_object(&dataset, action),
    };
    if passes(action) {
        return Ok(Gated {
            dataset,
            who: who.clone(),
        });
    }
    let sees = action != Action::Read && passes(Action::Read);
    if !sees && reach == Reach::Dataset && who.can_some_object(&dataset, Action::Read) {
        // A token that reaches only objects: say so rather than pretend the dataset is missing.
        return Err(Error::forbidden(format!(
            "your token reaches only LFS objects of {ns}/{name}, not the dataset itself: use a \
             token with a dataset: scope"
        )));
    }
    Err(denied(sees))
}

/// The dataset gate: `open(…, Reach::Dataset)`.
pub async fn dataset(
    state: &AppState,
    who: &Principal,
    ns: &str,
    name: &str,
    action: Action,
) -> Result<Gated> {
    open(state, who, ns, name, action, Reach::Dataset).await
}

fn action_word(action: Action, reach: Reach) -> &'static str {
    match (action, reach) {
        (Action::Read, _) => "read it",
        (Action::Verify, _) => "verify objects in it",
        (Action::Write, Reach::Dataset) => "write to it",
        (Action::Write, Reach::Objects) => "upload objects to it",
        (Action::Admin, _) => "administer it",
    }
}

impl Gated {
    /// Whether the caller may do `action` on `on` of this dataset.
    pub fn allows(&self, on: On<'_>, action: Action) -> bool {
        self.who.can(&self.dataset, on, action)
    }

    /// The object gate: for each of `oids`, whether the caller may do `action` on it and whether
    /// it is linked to this dataset (one query for all of them).
    pub async fn objects(
        &self,
        state: &AppState,
        oids: &[Oid],
        action: Action,
    ) -> Result<Vec<Decision>> {
        let linked = state.db.linked_objects(self.id, oids).await?;
        // A grant on all objects covers each; only object-scoped tokens need the check per oid.
        let all = self.allows(On::Objects, action);
        Ok(oids
            .iter()
            .map(|oid| {
                if !all && !self.allows(On::Object(oid), action) {
                    Decision::Denied
                } else {
                    match linked.get(oid) {
                        Some(size) => Decision::Linked(*size),
                        None => Decision::Unlinked,
                    }
                }
            })
            .collect())
    }

    /// The read gate for one object named by a file of the dataset (raw reads, previews):
    /// allowed when the caller reads the dataset and the object is linked with this size.
    pub async fn read_object(&self, state: &AppState, oid: &Oid, size: u64) -> Result<()> {
        match self.objects(state, &[*oid], Action::Read).await?[0] {
            Decision::Linked(s) if s == size => Ok(()),
            Decision::Denied => Err(Error::forbidden(
                "your token does not grant reading this object",
            )),
            _ => Err(Error::not_found(format!(
                "object {oid} ({size} bytes) was never uploaded to {}",
                self.path()
            ))),
        }
    }

    /// The write gate for metadata: every object that a write's pointers or datapackage name must
    /// be linked to this dataset with that size (422 listing the missing ones otherwise).
    pub async fn check_linked(
        &self,
        state: &AppState,
        objects: impl Iterator<Item = (Oid, u64)>,
    ) -> Result<()> {
        let missing = state.db.missing_objects(self.id, objects).await?;
        if missing.is_empty() {
            return Ok(());
        }
        let shown = missing
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        Err(Error::unprocessable(format!(
            "{} object(s) are not uploaded to {}: {shown}",
            missing.len(),
            self.path()
        ))
        .with_extra(json!({ "missing": missing })))
    }
}
