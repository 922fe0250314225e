//! The notice after a change made from a page (the file manager's moves and deletes, a
//! restore) with its Undo: a revert of that one revision, offered only to its author and only
//! where the revert is theirs to make; the revert itself is refused once the head moved
//! (`revisions::revert`). An upload followed by the commit typing its tables is undone as one:
//! back to before the upload. Rendered by `ui/templates/undo.html`.

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

/// The notice of the change `id` on a page at `next`, while it is the head (or only the typing of
/// its tables came after): only its author is offered it, and Undo only where a revert of it is
/// theirs to make (a revert refused once the head moved).
pub(super) async fn undo_of(
    state: &AppState,
    repo: &Gated,
    id: &str,
    username: &str,
    (next, branch): (&str, &str),
) -> Option<Undo> {
    let (at, on) = (
        id.to_owned(),
        Some(branch.to_owned()).filter(|b| !b.is_empty()),
    );
    let (revision, head) = git_on(state, repo, move |ms, ds| {
        let head = ms.resolve(ds, on.as_deref())?.to_string();
        Ok((ms.revision(ds, &at)?, ms.revision(ds, &head)?))
    })
    .await
    .ok()?;
    if revision.author.name != username {
        return None;
    }
    // The change itself is the head, or the head is the commit that typed its tables.
    let typed_after = head.parents == [revision.id.clone()]
        && head.author.name == username
        && head.message.starts_with("Types of ");
    if head.id != revision.id && !typed_after {
        return None;
    }
    let summary = revision.message.lines().next().unwrap_or("").to_owned();
    let whole = !repo.limited() && repo.allows(strata_core::auth::On::Dataset, Action::Write);
    let back_to = match revision.parents.as_slice() {
        [parent] if whole => Some((parent.clone(), head.id.clone())),
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
