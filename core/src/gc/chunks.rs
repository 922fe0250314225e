//! Garbage collection reaches a dataset's Xet storage (`crate::xet`): a xorb stays while a file
//! that uses it does (a file whose object a ref reaches, or one uploaded through Xet and not
//! yet committed), and goes like any object once none does. A file whose object's link goes is
//! forgotten with it, and so is a xorb whose object's link goes (with the files that used it and
//! the dedup entries that led to it).

use std::collections::HashMap;

use strata_lfs::xet::shard;
use strata_lfs::Oid;

use crate::error::{Error, Result};
use crate::Core;

/// The objects holding the xorbs that the live files of dataset `repo_id` use: those whose
/// object is in `reached`, and those not committed yet.
pub(super) async fn live_xorbs(
    core: &Core,
    repo_id: i64,
    reached: &HashMap<Oid, u64>,
) -> Result<Vec<Oid>> {
    let files = core.db.xet_files(repo_id).await?;
    let mut used = std::collections::BTreeSet::new();
    for file in files {
        let live = match file.oid.as_deref().map(str::parse::<Oid>) {
            None => true,
            Some(Ok(oid)) => reached.contains_key(&oid),
            Some(Err(_)) => false,
        };
        if live {
            let segments = shard::parse_segments(&file.segments).map_err(Error::internal)?;
            used.extend(segments.iter().map(|s| s.xorb.hex()));
        }
    }
    Ok(core
        .db
        .xet_xorb_oids(repo_id)
        .await?
        .into_iter()
        .filter(|(hash, _)| used.contains(hash))
        .filter_map(|(_, oid)| oid.parse::<Oid>().ok())
        .collect())
}

/// Forgets what dataset `repo_id` recorded of object `oid`, whose link went: the files checked
/// to be it, or the xorb it held with every file that used that xorb.
pub(super) async fn forget(core: &Core, repo_id: i64, oid: &str) -> Result<()> {
    let xorbs = core.db.xet_xorbs_held_by(repo_id, oid).await?;
    if xorbs.is_empty() {
        // A file's object (most links): only its own records go.
        core.db.xet_forget_files_of(repo_id, oid).await?;
        return Ok(());
    }
    let mut gone: Vec<String> = Vec::new();
    for file in core.db.xet_files(repo_id).await? {
        let segments = shard::parse_segments(&file.segments).map_err(Error::internal)?;
        if segments.iter().any(|s| xorbs.contains(&s.xorb.hex()))
            || file.oid.as_deref() == Some(oid)
        {
            gone.push(file.hash);
        }
    }
    core.db.xet_forget(repo_id, &xorbs, &gone).await?;
    Ok(())
}
