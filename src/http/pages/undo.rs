//! The notice after a change made from a page (the file manager's moves and deletes, a
//! restore) with its Undo: a revert of that one revision, offered only to its author and only
//! where the revert is theirs to make; the revert itself is refused once the head moved
//! (`revisions::revert`). Rendered by `ui/templates/undo.html`.

use crate::http::state::AppState;
use strata_core::auth::Action;
use strata_core::datasets::gate::Gated;
use strata_core::datasets::git_on;

/// A change the visitor just made, said on the folder's page, with what undoing it takes: the
/// revision to go back to and the revision that must still be the head.
pub(super) struct Undo {
    pub(super) summary: String,
    pub(super) back_to: Option<(String, String)>,
    /// The revert form's action, and the page it comes back to.
    pub(super) revert: String,
    pub(super) next: String,
    /// The branch undone (`""`: the default branch).
    pub(super) branch: String,
}

/// The notice of the change `id` on a page at `next`: only its author is offered it, and Undo only
/// where a revert of that one revision is theirs to make (a revert refused once the head moved).
pub(super) async fn undo_of(
    state: &AppState,
    repo: &Gated,
    id: &str,
    username: &str,
    (next, branch): (&str, &str),
) -> Option<Undo> {
    let at = id.to_owned();
    let revision = git_on(state, repo, move |ms, ds| ms.revision(ds, &at))
        .await
        .ok()?;
    if revision.author.name != username {
        return None;
    }
    let summary = revision.message.lines().next().unwrap_or("").to_owned();
    let whole = !repo.limited() && repo.allows(strata_core::auth::On::Dataset, Action::Write);
    let back_to = match revision.parents.as_slice() {
        [parent] if whole => Some((parent.clone(), revision.id.clone())),
        _ => None,
    };
    Some(Undo {
        summary,
        back_to,
        revert: format!("/datasets/{}/revert", repo.path()),
        next: next.to_owned(),
        branch: branch.to_owned(),
    })
}
