//! [`Gated`]: a dataset a caller passed a gate for (`crate::datasets::gate`), with what that
//! caller may do to it: the whole dataset, or through shares only some paths. What it answers
//! without asking anything else lives here (which paths it covers, whether it may write one,
//! which revisions); the decisions that ask the database or the policies are the gate's.

use crate::auth::access::Authorized;
use crate::auth::{Action, On, Principal};
use crate::error::{Error, Result};

/// A dataset the caller passed a gate for, with what the caller may do to it.
#[derive(Debug, Clone)]
pub struct Gated {
    pub dataset: Authorized,
    pub(crate) who: Principal,
    /// `None`: the caller reaches the whole dataset. `Some`: only the paths (files or folders)
    /// shared with them for the action they asked for.
    pub(crate) within: Option<(Vec<String>, Action)>,
    /// The caller as policies see them, looked up once (`crate::datasets::policies`).
    pub(crate) policy_subject: std::sync::Arc<tokio::sync::OnceCell<strata_policy::Subject>>,
    /// Where the policies see the data processed: this server's `--region`, unless a region
    /// feed decides for the region it is pinned to (`crate::mirrors::feed`).
    pub(crate) region: Option<String>,
}

impl std::ops::Deref for Gated {
    type Target = crate::db::Repo;
    fn deref(&self) -> &crate::db::Repo {
        &self.dataset.repo
    }
}

impl Gated {
    /// Whether the caller reaches `path` (a file or folder): always, unless they came in through
    /// [`path`] on a share, and then only inside what is shared with them.
    pub fn covers(&self, path: &str) -> bool {
        match &self.within {
            None => true,
            Some((shared, _)) => shared.iter().any(|p| under(path, p)),
        }
    }

    /// Refuses another revision than the default branch's head to a caller who reaches only some
    /// paths: a share (or a link) is of the current files, not of their history, branches or tags.
    pub fn check_rev(&self, rev: Option<&str>) -> Result<()> {
        match rev {
            Some(r) if self.limited() && r != strata_metastore::DEFAULT_BRANCH => {
                Err(Error::forbidden(
                    "what is shared with you is the current version only: leave out rev",
                ))
            }
            _ => Ok(()),
        }
    }

    /// Whether the caller may write `path`: what `path(…, path, Action::Write)` would say,
    /// from the grants this gate already looked up (pages ask it to show their forms).
    pub fn writes(&self, path: &str) -> bool {
        let (who, dataset) = (&self.who, &self.dataset);
        if dataset.mirror != 0 {
            return false; // written by its syncs only (`crate::mirrors`)
        }
        who.can(dataset, On::Dataset, Action::Write)
            || (who
                .scopes()
                .is_some_and(|s| s.allows(&dataset.path(), On::Dataset, Action::Write))
                && dataset
                    .path_grants
                    .iter()
                    .any(|(p, granted)| granted.covers(Action::Write) && under(path, p)))
    }

    /// Whether the caller reaches only some paths (through shares), not the whole dataset.
    pub fn limited(&self) -> bool {
        self.within.is_some()
    }

    /// Whether the caller may do `action` on `on` of this dataset. Through a share, that is what
    /// the share and the token allow; the caller checks [`Gated::covers`] for the path first.
    pub fn allows(&self, on: On<'_>, action: Action) -> bool {
        if self.dataset.mirror != 0 && matches!(action, Action::Write | Action::Verify) {
            return false;
        }
        match &self.within {
            None => self.who.can(&self.dataset, on, action),
            Some((_, granted)) => {
                granted.covers(action)
                    && match &self.who {
                        // Only a share link makes an anonymous caller limited: the link is
                        // the credential.
                        Principal::Anonymous => true,
                        who => who
                            .scopes()
                            .is_some_and(|s| s.allows(&self.dataset.path(), on, action)),
                    }
            }
        }
    }

    /// The caller of this gate.
    pub fn who(&self) -> &Principal {
        &self.who
    }
}

/// Whether `path` is `share` or inside it.
pub(crate) fn under(path: &str, share: &str) -> bool {
    share.is_empty()
        || path == share
        || (path.len() > share.len()
            && path.starts_with(share)
            && path.as_bytes()[share.len()] == b'/')
}
