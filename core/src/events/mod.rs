//! Events: what happened to a dataset, kept in the outbox for delivery.
//!
//! A change records its events in the `events` table (the outbox): with `--refs sql` in the very
//! transaction that moves the refs (the ledger's, the push hook's), so an event exists exactly
//! when its change does, whichever replica dies when; with `--refs git` right after the move
//! ([`GitRefs`]). Events that are no ref move (merge requests, shares, share links, failed
//! contracts) are recorded with [`record`] right after their change. Delivering them (webhooks,
//! notifications, the live stream) is `crate::delivery`'s, a floor above the datasets.
//!
//! May use: the database, `auth`'s scopes and the context. It sits below the datasets floor so
//! that every room that changes a dataset can record what it did.

use serde_json::json;

use crate::db::{NewEvent, RefEdit};

/// How long events and their deliveries are kept (seconds): a stream resumed after an older one
/// goes on from the oldest kept.
pub const KEPT_SECS: i64 = 30 * 86_400;

/// Every kind of event, as subscriptions name them.
pub const KINDS: &[&str] = &[
    "branch.created",
    "branch.updated",
    "branch.deleted",
    "tag.created",
    "tag.updated",
    "tag.deleted",
    "merge_request.opened",
    "merge_request.merged",
    "merge_request.closed",
    "merge_request.reopened",
    "merge_request.commented",
    "share.granted",
    "share.revoked",
    "share_link.created",
    "policy.changed",
    "contract.failed",
    "access.requested",
    "access.accepted",
    "access.rejected",
    "access.reminded",
    "access.expired",
    "run.started",
    "run.succeeded",
    "run.failed",
    "mirror.moved",
    "mirror.failed",
];

/// What a subscriber must hold on the whole dataset to hear of an event of `kind`: shares,
/// links, access requests and refused writes are its admins' business (as the lists of shares,
/// links and requests are); the rest, its readers'.
pub fn needs(kind: &str) -> crate::auth::scope::Action {
    if kind.starts_with("share")
        || kind.starts_with("access.")
        || kind == "contract.failed"
        || kind == "mirror.failed"
    {
        crate::auth::scope::Action::Admin
    } else {
        crate::auth::scope::Action::Read
    }
}

/// Records an event of `kind` that is no ref move, by `who` (or else the request's actor),
/// right after its change (a failure to record is logged: the change stands).
pub async fn record(
    core: &crate::Core,
    who: Option<&crate::auth::Principal>,
    kind: &str,
    dataset: &str,
    data: serde_json::Value,
) {
    debug_assert!(KINDS.contains(&kind), "{kind}");
    let actor = match who {
        Some(crate::auth::Principal::User { user, .. }) => Some(user.username.clone()),
        _ => crate::context::current().actor(),
    };
    let event = NewEvent {
        kind: kind.to_owned(),
        dataset: dataset.to_owned(),
        actor,
        data: data.to_string(),
    };
    if let Err(e) = core.db.record_events(&[event]).await {
        tracing::error!(error = %e, dataset, kind, "an event was lost: it could not be recorded");
    }
    core.events.ring();
}

/// The events of ref moves `edits` of `dataset` (`namespace/name`) by `actor`.
pub fn of_refs(dataset: &str, edits: &[RefEdit], actor: Option<String>) -> Vec<NewEvent> {
    let rewritten = crate::context::current().rewriting;
    edits
        .iter()
        .filter_map(|e| {
            let (what, name) = if let Some(b) = e.name.strip_prefix("refs/heads/") {
                ("branch", b)
            } else if let Some(t) = e.name.strip_prefix("refs/tags/") {
                ("tag", t)
            } else {
                return None;
            };
            let how = match (&e.old, &e.new) {
                (None, Some(_)) => "created",
                (Some(_), Some(_)) => "updated",
                (Some(_), None) => "deleted",
                (None, None) => return None,
            };
            Some(NewEvent {
                kind: format!("{what}.{how}"),
                dataset: dataset.to_owned(),
                actor: actor.clone(),
                data: if rewritten {
                    // (What changed is what was erased: not named.)
                    json!({what: name, "before": e.old, "after": e.new, "rewritten": true})
                } else {
                    json!({what: name, "before": e.old, "after": e.new})
                }
                .to_string(),
            })
        })
        .collect()
}

/// `--refs git`: each ref move the metastore made, recorded right after it (a crash between the
/// two loses the event; `--refs sql` records it in the move's own transaction).
#[derive(Debug)]
pub struct GitRefs {
    db: crate::db::Db,
    runtime: tokio::runtime::Handle,
    bell: std::sync::Arc<Bell>,
}

impl GitRefs {
    /// Must be made inside the server's runtime.
    pub fn new(db: crate::db::Db, bell: std::sync::Arc<Bell>) -> GitRefs {
        GitRefs {
            db,
            runtime: tokio::runtime::Handle::current(),
            bell,
        }
    }
}

impl strata_metastore::RefListener for GitRefs {
    fn moved(
        &self,
        dataset: &str,
        name: &str,
        old: Option<strata_metastore::ObjectId>,
        new: Option<strata_metastore::ObjectId>,
    ) {
        let edit = RefEdit {
            name: name.to_owned(),
            old: old.map(|id| id.to_string()),
            new: new.map(|id| id.to_string()),
        };
        let events = of_refs(dataset, &[edit], crate::context::current().actor());
        if let Err(e) = self.runtime.block_on(self.db.record_events(&events)) {
            tracing::error!(error = %e, dataset, name, "an event was lost: it could not be recorded");
        }
        self.bell.ring();
    }
}

/// Wakes the dispatcher when events were just recorded here, and the streams when it fanned
/// some out.
#[derive(Debug)]
pub struct Bell {
    pub(crate) recorded: tokio::sync::Notify,
    /// Bumped by each fan-out.
    pub(crate) fanned: tokio::sync::watch::Sender<u64>,
}

impl Default for Bell {
    fn default() -> Bell {
        Bell {
            recorded: tokio::sync::Notify::new(),
            fanned: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Bell {
    pub fn ring(&self) {
        self.recorded.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_moves_name_their_kind() {
        let edit = |name: &str, old: Option<&str>, new: Option<&str>| RefEdit {
            name: name.into(),
            old: old.map(Into::into),
            new: new.map(Into::into),
        };
        let events = of_refs(
            "ann/d",
            &[
                edit("refs/heads/main", Some("a"), Some("b")),
                edit("refs/tags/v1", None, Some("b")),
                edit("refs/heads/x", Some("a"), None),
                edit("refs/notes/x", Some("a"), None),
            ],
            Some("ann".into()),
        );
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["branch.updated", "tag.created", "branch.deleted"]);
        assert!(kinds.iter().all(|k| KINDS.contains(k)));
        let data: serde_json::Value = serde_json::from_str(&events[1].data).unwrap();
        assert_eq!(data, json!({"tag": "v1", "before": null, "after": "b"}));
    }
}
