//! Erasure reaches a dataset's Xet storage (`crate::xet`): the chunks of an erased file go with it.
//! Each xorb an erased file's recorded terms used (and each xorb compacted into one of those, not
//! collected yet) is erased whole, as an object; the files that shared one lose their Xet form
//! (each is first stored whole again, read from its chunks, where it was kept as chunks only), and
//! no dedup answer leads to it any more. The records go last, once the objects are erased, so an
//! erasure that stopped half-way finds them again.

use std::collections::BTreeSet;

use strata_lfs::xet::shard;
use strata_lfs::Oid;

use crate::error::{Error, Result};
use crate::Core;

/// What erasing some files takes of a dataset's Xet storage.
#[derive(Debug, Default)]
pub(super) struct Chunks {
    /// The objects holding the xorbs, with their sizes.
    pub objects: Vec<(Oid, u64)>,
    xorbs: Vec<String>,
    files: Vec<String>,
    /// The files not erased that shared a xorb: stored whole before it goes.
    sharing: Vec<crate::db::XetFile>,
}

/// The xorbs that files of dataset `repo_id` with sha256 among `oids` used, and every file
/// recorded from them.
pub(super) async fn chunks_of(core: &Core, repo_id: i64, oids: &[String]) -> Result<Chunks> {
    if oids.is_empty() {
        return Ok(Chunks::default());
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
    let mut chunks = Chunks::default();
    if xorbs.is_empty() {
        return Ok(chunks);
    }
    // And the xorbs compacted into those, not collected yet: they hold the same chunks.
    let mut newest: Vec<String> = xorbs.iter().cloned().collect();
    while !newest.is_empty() {
        let older = core.db.xet_compacted_into(repo_id, &newest).await?;
        newest = older
            .into_iter()
            .filter(|h| xorbs.insert(h.clone()))
            .collect();
    }
    for file in &files {
        let segments = shard::parse_segments(&file.segments).map_err(Error::internal)?;
        if segments.iter().any(|s| xorbs.contains(&s.xorb.hex())) {
            chunks.files.push(file.hash.clone());
            if file.oid.is_some() && !erased(&file.oid) && !erased(&file.claimed) {
                chunks.sharing.push(file.clone());
            }
        }
    }
    for hash in xorbs {
        if let Some(row) = core.db.xet_xorb(repo_id, &hash).await? {
            if let Ok(oid) = row.oid.parse::<Oid>() {
                chunks.objects.push((oid, row.size.max(0) as u64));
            }
        }
        chunks.xorbs.push(hash);
    }
    Ok(chunks)
}

/// Stores whole the files not erased that shared the xorbs of `chunks`, before those go.
/// A file that cannot be read back is unreadable already: the erasure goes on.
pub(super) async fn keep_sharing(core: &Core, repo_id: i64, chunks: &Chunks) {
    for file in &chunks.sharing {
        if let Err(e) = core.storage.keep_whole(repo_id, file).await {
            tracing::warn!(xet = %file.hash, error = %e.message, "storing a file whole before an erasure");
        }
    }
}

/// Forgets the xorbs and files of `chunks` (their objects erased already).
pub(super) async fn forget(core: &Core, repo_id: i64, chunks: &Chunks) -> Result<()> {
    core.db
        .xet_forget(repo_id, &chunks.xorbs, &chunks.files)
        .await?;
    Ok(())
}
