//! Browser uploads staged on the local disk (`crate::storage::staged`), with their namespace's
//! quota: an upload is admitted when it starts, before any of its bytes arrive, so room for its
//! whole size is reserved then (`crate::quotas::reserve`) for as long as an idle upload is kept;
//! completing it links its object (which counts from then on) and gives the room back, and so
//! does cancelling it. The room of an upload abandoned expires when it would be purged.

use std::time::Duration;

use strata_lfs::Oid;

use crate::datasets::gate::Gated;
use crate::error::Result;
use crate::storage::StagedUpload;
use crate::Core;

/// The room's key of upload `id` of dataset `repo_id`.
fn key(repo_id: i64, id: &str) -> String {
    format!("upload:{repo_id}-{id}")
}

/// How long an upload's room lasts: as long as an idle upload is kept before it is purged.
fn hold(core: &Core) -> Duration {
    core.settings
        .multipart_idle
        .max(crate::quotas::batch_hold(core))
}

/// Starts an upload of `size` bytes to `repo` for `owner` (a principal's key), its room reserved;
/// past the namespace's quota nothing is started (507).
pub async fn start(core: &Core, repo: &Gated, owner: &str, size: u64) -> Result<StagedUpload> {
    // A quick refusal before anything is made; the reservation below decides.
    crate::quotas::check(core, repo, None, size).await?;
    let limit = core.settings.object_limit();
    let started = core
        .storage
        .stage_start(repo.id, owner, size, limit)
        .await?;
    let reserved =
        crate::quotas::reserve(core, repo, &key(repo.id, &started.id), size, hold(core)).await;
    if let Err(e) = reserved {
        let _ = core.storage.stage_abort(repo.id, owner, &started.id).await;
        return Err(e);
    }
    Ok(started)
}

/// Completes upload `id`: its object, linked to `repo`; its room given back.
pub async fn complete(core: &Core, repo: &Gated, owner: &str, id: &str) -> Result<(Oid, u64)> {
    let done = core.storage.stage_complete(repo.id, owner, id).await?;
    crate::quotas::release(core, repo, &key(repo.id, id)).await?;
    Ok(done)
}

/// Cancels upload `id` and gives its room back.
pub async fn abort(core: &Core, repo: &Gated, owner: &str, id: &str) -> Result<()> {
    core.storage.stage_abort(repo.id, owner, id).await?;
    crate::quotas::release(core, repo, &key(repo.id, id)).await
}
