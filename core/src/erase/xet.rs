//! Erasure reaches a dataset's Xet storage (`crate::xet`): the chunks of an erased file go with
//! it. Each xorb an erased file used is erased whole, as an object; the files that shared one
//! lose their Xet form (their whole LFS objects stay, read as before), and no dedup answer leads
//! to it any more.

use std::collections::BTreeSet;

use strata_lfs::xet::shard;
use strata_lfs::Oid;

use crate::error::{Error, Result};
use crate::Core;

/// The objects holding the xorbs that files of dataset `repo_id` with sha256 among `oids` used,
/// after forgetting those xorbs and every file recorded from them.
pub(super) async fn chunks_of(
    core: &Core,
    repo_id: i64,
    oids: &[String],
) -> Result<Vec<(Oid, u64)>> {
    if oids.is_empty() {
        return Ok(Vec::new());
    }
    let files = core.db.xet_files(repo_id).await?;
    let erased = |o: &Option<String>| o.as_ref().is_some_and(|o| oids.contains(o));
    let mut xorbs = BTreeSet::new();
    for file in files
        .iter()
        .filter(|f| erased(&f.oid) || erased(&f.claimed))
    {
        let segments = shard::parse_segments(&file.segments).map_err(Error::internal)?;
        xorbs.extend(segments.iter().map(|s| s.xorb.hex()));
    }
    if xorbs.is_empty() {
        return Ok(Vec::new());
    }
    let mut sharing = Vec::new();
    for file in &files {
        let segments = shard::parse_segments(&file.segments).map_err(Error::internal)?;
        if segments.iter().any(|s| xorbs.contains(&s.xorb.hex())) {
            sharing.push(file.hash.clone());
        }
    }
    let xorbs: Vec<String> = xorbs.into_iter().collect();
    let held = core.db.xet_forget(repo_id, &xorbs, &sharing).await?;
    Ok(held
        .into_iter()
        .filter_map(|(oid, size)| Some((oid.parse().ok()?, size.max(0) as u64)))
        .collect())
}
