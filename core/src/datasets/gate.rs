//! The gates: the one place that decides whether a principal may read or write a dataset, its
//! files or its LFS objects. Every byte path asks here: the batch API, verify, locks, the signed
//! transfers (through the URLs only a gate hands out), REST reads and writes, raw files, git
//! clone and push, and token minting.
//!
//! A decision combines, in this order: the dataset's visibility, the user's grant (role, owner,
//! organisation, collaborators, teams; `crate::auth::access`), the token's scopes (`obj:` scopes
//! reach objects only, `dataset:` scopes and `*` the dataset too; `crate::auth::scope`), and for
//! objects the link rule: a dataset reads only objects uploaded or verified through it, so knowing
//! an oid is never enough. Path shares come in through [`path`]: a user whose only grant is a share
//! of a file or folder passes it for exactly that subtree ([`Gated::covers`]), and every other
//! gate refuses them. Policies are one more input of the read gate: [`Gated::objects`] for LFS
//! reads and [`Gated::read_file`] for raw files ask `crate::datasets::policies`, and only site
//! admins pass for anything but reading the policy dataset itself.
//!
//! A mirror (`crate::mirrors`) refuses writing and verifying to everyone: only its syncs change
//! it, and they do not come through here.
//!
//! A gated dataset (`crate::sharing::access`) refuses visitors without a grant with a 401 or
//! 403 that says where to request access.
//!
//! Refusals answer as a careful server does: strangers get 401 (so git asks for credentials) and
//! cannot tell a private dataset from a missing one; signed-in users who may not see it get 404;
//! those who may see it but not do what they asked get 403.

use serde_json::json;
use strata_lfs::pointer::Pointer;
use strata_lfs::Oid;

use crate::auth::access::{self, Authorized};
use crate::auth::{Action, On, Principal};
use crate::datasets::policies::{self, catalog, decide, raw_objects, refusal, Surface};
use crate::error::{Error, Result};
use crate::Core;

pub use crate::datasets::gated::Gated;

/// What part of a dataset a request reaches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The dataset: datapackage, files, history, refs, settings (REST, git, pages).
    Dataset,
    /// Its LFS objects (the batch API, verify, locks).
    Objects,
}

/// The policies' version and files for `who`, if they may read the policy dataset (its file names
/// are its data); else `null`.
pub async fn policies(core: &Core, who: &Principal) -> serde_json::Value {
    let Some((ns, name)) = core.governance.policy_dataset() else {
        return serde_json::Value::Null;
    };
    if dataset(core, who, ns, name, Action::Read).await.is_err() {
        return serde_json::Value::Null;
    }
    core.governance.describe(core).await
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
    /// A policy governs the file it belongs to (or it is in no file at the head of a governed
    /// dataset): its raw bytes are not served (`crate::datasets::policies`).
    Governed,
}

/// Opens `{ns}/{name}` for `who`, who wants `action` on `reach`. For [`Reach::Objects`] it is
/// enough to reach some object; the per-object answer comes from [`Gated::objects`].
pub async fn open(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
    action: Action,
    reach: Reach,
) -> Result<Gated> {
    let Some(dataset) = lookup(core, who, ns, name).await? else {
        return Err(missing(core, who, ns, name, action, reach).await);
    };
    let passes = |action| match reach {
        Reach::Dataset => who.can(&dataset, On::Dataset, action),
        Reach::Objects => who.can_some_object(&dataset, action),
    };
    if passes(action) {
        check_write(core, who, &dataset, action)?;
        return Ok(Gated {
            dataset,
            who: who.clone(),
            within: None,
            policy_subject: Default::default(),
            region: None,
        });
    }
    let sees = action != Action::Read && passes(Action::Read);
    Err(refuse(who, &dataset, action, reach, sees))
}

/// Why a caller who did not pass is refused, in the most useful words that reveal nothing.
fn refuse(
    who: &Principal,
    dataset: &Authorized,
    action: Action,
    reach: Reach,
    sees: bool,
) -> Error {
    let (ns, name) = (&dataset.namespace, &dataset.name);
    if !sees {
        if let Some(e) = gated(who, dataset) {
            return e;
        }
    }
    if !sees && reach == Reach::Dataset && who.can_some_object(dataset, Action::Read) {
        // A token that reaches only objects: say so rather than pretend the dataset is missing.
        return Error::forbidden(format!(
            "your token reaches only LFS objects of {ns}/{name}, not the dataset itself: use a \
             token with a dataset: scope"
        ));
    }
    if !sees && !dataset.path_grants.is_empty() {
        return Error::forbidden(format!(
            "only some files of {ns}/{name} are shared with you: open them by their path (the \
             web pages, or /tree and /raw of the REST API)"
        ));
    }
    denied(who, ns, name, action, reach, sees)
}

/// The refusal of a gated dataset to a visitor who sees it (anyone on a public one, a signed-in
/// user on an internal one) but holds no grant: it says where to ask for access
/// (`crate::sharing::access`), with `gated` in the error's body. `None` for anyone else.
fn gated(who: &Principal, dataset: &Authorized) -> Option<Error> {
    let sees = match who {
        Principal::Anonymous => dataset.is_public(),
        Principal::User { .. } => {
            dataset.user_grant.is_none() && (dataset.is_public() || dataset.is_internal())
        }
        Principal::Jwt { .. } => false,
    };
    if !dataset.is_gated() || !sees {
        return None;
    }
    let path = dataset.path();
    let extra =
        json!({"gated": dataset.gated.clone(), "access": format!("/datasets/{path}/access")});
    let e = if who.is_anonymous() {
        Error::unauthorized(format!(
            "{path} is gated: sign in and request access at /datasets/{path}/access"
        ))
    } else {
        Error::forbidden(format!(
            "{path} is gated: request access at /datasets/{path}/access (or POST /api/v1/datasets/{path}/access/requests)"
        ))
    };
    Some(e.with_extra(extra))
}

/// The dataset and the caller's grants on it; `None` when there is no such dataset.
async fn lookup(core: &Core, who: &Principal, ns: &str, name: &str) -> Result<Option<Authorized>> {
    let Some(repo) = core.db.repo_by_path(ns, name).await? else {
        return Ok(None);
    };
    let grant = match who {
        Principal::User { user, .. } => access::user_grant(&core.db, user, &repo).await?,
        _ => access::Grant::default(),
    };
    Ok(Some(Authorized {
        repo,
        user_grant: grant.dataset,
        path_grants: grant.paths,
    }))
}

/// The refusal of a name no dataset has: where it is the old name of a dataset `who` sees,
/// the way there ([`Error::moved`]); otherwise as missing as any name.
async fn missing(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
    action: Action,
    reach: Reach,
) -> Error {
    if let Ok(Some(repo)) = super::rename::moved_to(core, ns, name).await {
        if let Ok(Some(now)) = lookup(core, who, &repo.namespace, &repo.name).await {
            let sees = who.can(&now, On::Dataset, Action::Read)
                || who.can_some_object(&now, Action::Read)
                || !now.path_grants.is_empty()
                || gated(who, &now).is_some();
            if sees {
                return Error::moved(&format!("{ns}/{name}"), &now.path());
            }
        }
    }
    denied(who, ns, name, action, reach, false)
}

/// How a refusal answers: strangers get 401, those who may not see the dataset 404, those who
/// see it but may not do this 403.
fn denied(
    who: &Principal,
    ns: &str,
    name: &str,
    action: Action,
    reach: Reach,
    sees: bool,
) -> Error {
    if who.is_anonymous() {
        Error::unauthorized("authentication required")
    } else if sees {
        Error::forbidden(format!(
            "you may read {ns}/{name} but not {}",
            action_word(action, reach)
        ))
    } else {
        Error::not_found(format!("dataset {ns}/{name} not found"))
    }
}

/// The gate for callers who may reach only part of a dataset: the dataset gate, or else the
/// caller's shares for `action` (files or folders). A caller who passes through shares reaches only
/// what [`Gated::covers`] says; writes check each path they touch.
pub async fn shared(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
    action: Action,
) -> Result<Gated> {
    let Some(dataset) = lookup(core, who, ns, name).await? else {
        return Err(missing(core, who, ns, name, action, Reach::Dataset).await);
    };
    if who.can(&dataset, On::Dataset, action) {
        check_write(core, who, &dataset, action)?;
        return Ok(Gated {
            dataset,
            who: who.clone(),
            within: None,
            policy_subject: Default::default(),
            region: None,
        });
    }
    // Path shares count only for a credential that may do `action` to the dataset's files.
    let scoped = who
        .scopes()
        .is_some_and(|s| s.allows(&dataset.path(), On::Dataset, action));
    let shared: Vec<String> = dataset
        .path_grants
        .iter()
        .filter(|(_, granted)| granted.covers(action))
        .map(|(p, _)| p.clone())
        .collect();
    if scoped && !shared.is_empty() {
        check_write(core, who, &dataset, action)?;
        return Ok(Gated {
            dataset,
            who: who.clone(),
            within: Some((shared, action)),
            policy_subject: Default::default(),
            region: None,
        });
    }
    let sees = action != Action::Read && who.can(&dataset, On::Dataset, Action::Read);
    if !sees && scoped && !dataset.path_grants.is_empty() {
        return Err(Error::forbidden(format!(
            "nothing of {ns}/{name} is shared with you for {}",
            if action == Action::Read {
                "reading"
            } else {
                "writing"
            }
        )));
    }
    Err(refuse(who, &dataset, action, Reach::Dataset, sees))
}

/// The gate for one file or folder (`path`, without leading or trailing `/`; `""` is the root) of
/// `{ns}/{name}`: [`shared`], then whether the caller reaches that path.
pub async fn path(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
    path: &str,
    action: Action,
) -> Result<Gated> {
    check_path(path)?;
    let gated = shared(core, who, ns, name, action).await?;
    if gated.covers(path) {
        return Ok(gated);
    }
    // The same answer whether `path` exists or not: a share reveals nothing beside it.
    Err(Error::forbidden(format!(
        "{path:?} of {ns}/{name} is not shared with you{}",
        if action == Action::Read {
            ""
        } else {
            " for writing"
        }
    )))
}

/// The rules on writing that no grant lifts: the policy dataset (site admins only) and a mirror
/// (its syncs only).
fn check_write(core: &Core, who: &Principal, dataset: &Authorized, action: Action) -> Result<()> {
    if dataset.mirror != 0 && matches!(action, Action::Write | Action::Verify) {
        return Err(Error::forbidden(format!(
            "{} is a mirror of a remote: it is read-only (stop mirroring to write to it)",
            dataset.path()
        )));
    }
    policies::trust::check_write(core, who, dataset, action)
}

/// The gate of a share link: reading `path` (a file or folder) of `repo`, for whoever holds the
/// link's secret, without an account. The caller found the link live (`crate::sharing::links`).
pub fn link(repo: crate::db::Repo, path: String) -> Gated {
    Gated {
        dataset: Authorized {
            repo,
            user_grant: None,
            path_grants: Vec::new(),
        },
        who: Principal::Anonymous,
        within: Some((vec![path], Action::Read)),
        policy_subject: Default::default(),
        region: None,
    }
}

/// Refuses paths that could name something else than they seem to (`a/../b`, `a//b`).
pub fn check_path(path: &str) -> Result<()> {
    if !path.is_empty()
        && path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(Error::unprocessable(format!(
            "{path:?} is not a path in a dataset: use names separated by single /, without . or .."
        )));
    }
    Ok(())
}

/// The dataset gate: `open(…, Reach::Dataset)`.
pub async fn dataset(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
    action: Action,
) -> Result<Gated> {
    open(core, who, ns, name, action, Reach::Dataset).await
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
    /// The object gate: for each of `oids`, whether the caller may do `action` on it and whether
    /// it is linked to this dataset (one query for all of them); for reads, whether policies let
    /// its raw bytes out.
    pub async fn objects(
        &self,
        core: &Core,
        oids: &[Oid],
        action: Action,
    ) -> Result<Vec<Decision>> {
        let mut decisions = self.linked(core, oids, action).await?;
        if action == Action::Read {
            let lfs = Surface::Lfs;
            if let Some(raw) = raw_objects(core, self, lfs, oids).await? {
                for (d, oid) in decisions.iter_mut().zip(oids) {
                    if *d != Decision::Denied && !raw.contains(oid) {
                        *d = Decision::Governed;
                    }
                }
            }
        }
        Ok(decisions)
    }

    /// [`Gated::objects`] without the policies.
    async fn linked(&self, core: &Core, oids: &[Oid], action: Action) -> Result<Vec<Decision>> {
        let linked = core.db.linked_objects(self.id, oids).await?;
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

    /// The link check for one object named by a file of the dataset: allowed when the caller
    /// reads the dataset and the object is linked with this size. Raw reads go through
    /// [`Gated::read_file`], which adds the policies.
    pub async fn read_object(&self, core: &Core, oid: &Oid, size: u64) -> Result<()> {
        match self.linked(core, &[*oid], Action::Read).await?[0] {
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
        core: &Core,
        objects: impl Iterator<Item = (Oid, u64)>,
    ) -> Result<()> {
        let missing = core.db.missing_objects(self.id, objects).await?;
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

    /// The whole dataset's decision for reading it as a whole (git clones and fetches): a
    /// denial refuses (residency, for instance). Transforms apply to tables, whose objects LFS
    /// refuses on its own.
    pub async fn read_dataset(&self, core: &Core) -> Result<()> {
        if !core.governance.in_force(core).await {
            return Ok(());
        }
        let catalog = catalog(core, self, None).await?;
        let d = decide(core, self, &catalog, None, None, Surface::Git).await?;
        if d.denied() {
            return Err(refusal(self, None, &d));
        }
        Ok(())
    }

    /// The read gate for one file of the dataset (raw reads, previews, share links): for an LFS
    /// file its object must be linked ([`Gated::read_object`]), and no policy may deny or
    /// transform what the file holds.
    pub async fn read_file(
        &self,
        core: &Core,
        path: &str,
        rev: Option<&str>,
        pointer: Option<&Pointer>,
    ) -> Result<()> {
        if let Some(p) = pointer {
            self.read_object(core, &p.oid, p.size).await?;
        }
        if !core.governance.in_force(core).await {
            return Ok(());
        }
        let catalog = catalog(core, self, rev).await?;
        let table = catalog.table_at(path);
        let d = decide(core, self, &catalog, table, None, Surface::Raw).await?;
        if d.denied() || d.transforms() {
            return Err(refusal(self, table, &d));
        }
        // The same bytes under another name (a copy of a governed table) are refused as LFS
        // refuses them.
        if let Some(p) = pointer {
            if raw_objects(core, self, Surface::Raw, &[p.oid])
                .await?
                .is_some_and(|allowed| !allowed.contains(&p.oid))
            {
                return Err(Error::forbidden(format!(
                    "these bytes belong to data a policy governs in {}: read its table through GET /api/v1/datasets/{}/tables/<resource>, or Arrow Flight",
                    self.path(),
                    self.path()
                )));
            }
        }
        Ok(())
    }

    /// [`Gated::read_file`] for many files of one revision at once (an archive): the objects
    /// looked up together, the catalog read once, a decision per table (and one for the files
    /// that are no table), and one check of the objects policies govern. Refuses naming the
    /// first file refused.
    pub async fn read_files(
        &self,
        core: &Core,
        rev: Option<&str>,
        files: &[(String, Option<Pointer>)],
    ) -> Result<()> {
        let lfs: Vec<(&String, Pointer)> = files
            .iter()
            .filter_map(|(path, p)| p.map(|p| (path, p)))
            .collect();
        for chunk in lfs.chunks(1000) {
            let oids: Vec<Oid> = chunk.iter().map(|(_, p)| p.oid).collect();
            let decided = self.linked(core, &oids, Action::Read).await?;
            for ((path, p), d) in chunk.iter().zip(decided) {
                match d {
                    Decision::Linked(s) if s == p.size => {}
                    Decision::Denied => {
                        return Err(Error::forbidden(format!(
                            "{path:?}: your token does not grant reading it"
                        )))
                    }
                    _ => {
                        return Err(Error::not_found(format!(
                            "{path:?}: its object was never uploaded to {}",
                            self.path()
                        )))
                    }
                }
            }
        }
        let oids: Vec<Oid> = lfs.iter().map(|(_, p)| p.oid).collect();
        if !core.governance.in_force(core).await {
            return Ok(());
        }
        let catalog = catalog(core, self, rev).await?;
        // One decision per table, and one for the files that are no table.
        let mut decided: std::collections::HashSet<Option<String>> = Default::default();
        for (path, _) in files {
            let table = catalog.table_at(path);
            if !decided.insert(table.map(|t| t.name.clone())) {
                continue;
            }
            let d = decide(core, self, &catalog, table, None, Surface::Raw).await?;
            if d.denied() || d.transforms() {
                return Err(refusal(self, table, &d)).map_err(|e: Error| Error {
                    message: format!("{path:?}: {}", e.message),
                    ..e
                });
            }
        }
        if let Some(allowed) = raw_objects(core, self, Surface::Raw, &oids).await? {
            if let Some((path, _)) = files
                .iter()
                .find(|(_, p)| p.is_some_and(|p| !allowed.contains(&p.oid)))
            {
                return Err(Error::forbidden(format!(
                    "{path:?} holds bytes of data a policy governs in {}: leave it out, or read its table through the tables API",
                    self.path()
                )));
            }
        }
        Ok(())
    }
}
