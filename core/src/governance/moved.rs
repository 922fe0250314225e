//! Writes strata cannot rewrite, decided as writes all the same: a push (its commits are the
//! pusher's) and a revert (a commit whose content is an earlier revision's). Each table whose
//! object the write changes is decided with `actionType` `write`; a Deny refuses it, and so does
//! a decision that would transform the table, unless the object is what a governed write stored
//! under that same decision (`governed_writes`: a redacted version brought back is fine, the raw
//! version from before the policy is not). A change of what the policies read is governed as
//! every write's is (`super::retag`), and so is a contract's reach into governed columns
//! (`crate::contracts::references`); a push hears those refusals as a 422's message.

use serde_json::{Map, Value};

use super::write::{fingerprint, held_at, note, refusal};
use crate::datasets::catalog::Catalog;
use crate::datasets::gated::Gated;
use crate::datasets::policies::{catalog, decide, Surface};
use crate::error::{Error, Result};
use crate::tables::Kind;
use crate::Core;

/// What cannot rewrite what it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrewritable {
    Push,
    Revert,
}

/// Decides the tables of `package` (the datapackage the write leaves, its resources' hash and
/// bytes those of their files) whose objects differ from those at `base` (a branch; `None` or
/// a branch not there yet: the default branch) and from the default branch's head.
pub(crate) async fn moved(
    core: &Core,
    repo: &Gated,
    base: Option<&str>,
    package: &Map<String, Value>,
    how: Unrewritable,
) -> Result<()> {
    if !core.governance.in_force(core).await
        || core
            .governance
            .is_policy_dataset(&repo.namespace, &repo.name)
    {
        return Ok(());
    }
    let head = catalog(core, repo, None).await?;
    // What the branch holds now (a branch not there yet: the default branch's head).
    let before = match base {
        Some(b) => match catalog(core, repo, Some(b)).await {
            Ok(c) => c,
            Err(e) if e.kind == crate::error::Kind::NotFound => head.clone(),
            Err(e) => return Err(e),
        },
        None => head.clone(),
    };
    let own = Catalog::read(&repo.path(), package);
    // What the policies read may change with it (on the default branch the datapackage becomes
    // the head; elsewhere the head's tags stay). A push hears the refusal as a 422's message.
    let to_default = base.is_none_or(|b| b == strata_metastore::DEFAULT_BRANCH);
    let will_see = match to_default {
        true => own.clone(),
        false => own.clone().with_head(&head),
    };
    let refused = |e: Error| match how {
        Unrewritable::Push if e.kind == crate::error::Kind::Forbidden => {
            Error::unprocessable(e.message)
        }
        _ => e,
    };
    super::retag::check(core, repo, &before, &will_see)
        .await
        .map_err(&refused)?;
    // The contract of a protected default branch: not checked for a writer its foreign keys
    // would tell values a policy keeps from.
    if to_default && repo.protect_default_branch != 0 {
        crate::contracts::references(core, repo, package, true)
            .await
            .map_err(&refused)?;
    }
    let after = own.with_head(&head);
    let held = held_at(core, repo, base, &after).await?;
    let listed = |c: &Catalog, path: &str, oid| {
        c.resources
            .iter()
            .any(|t| t.path == path && Kind::of(t).is_some() && t.object.map(|o| o.0) == Some(oid))
    };
    for table in &after.resources {
        let Some((oid, _)) = table.object else {
            continue;
        };
        // Unchanged: the same object was this table already (a file that was no table before
        // is written as one now, whatever it holds).
        let kept = held.get(&table.path) == Some(&oid) && listed(&before, &table.path, oid);
        if Kind::of(table).is_none() || kept || listed(&head, &table.path, oid) {
            continue;
        }
        let decision = decide(core, repo, &after, Some(table), None, Surface::Write).await?;
        if decision.denied() {
            return Err(Error::unprocessable(
                refusal(Some(table), &decision).message,
            ));
        }
        if decision.transforms()
            && !core
                .db
                .is_governed_write(repo.id, &oid, &fingerprint(&decision))
                .await?
        {
            let why = match how {
                Unrewritable::Push => {
                    "a push cannot change the commits it brings: write this table through the \
                     REST API or the browser, which apply it"
                }
                Unrewritable::Revert => {
                    "a revert cannot rewrite the version it brings back: commit that version \
                     through the REST API, which applies it"
                }
            };
            return Err(Error::unprocessable(format!(
                "{} when written, and {why}",
                note(table, &decision).trim_start_matches("Governed-Write: ")
            )));
        }
    }
    Ok(())
}
