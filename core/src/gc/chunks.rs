//! Garbage collection reaches a dataset's Xet storage (`crate::xet`): a xorb stays while a file
//! that uses it does (a file whose object a ref reaches, a table view the dataset keeps, or one
//! uploaded through Xet that no commit named yet, for the grace period after its shard), and goes
//! like any object once none does. A
//! file whose object's link goes is forgotten with it, and so is a xorb whose object's link goes
//! (with the files that used it and the dedup entries that led to it). A xorb mostly dead (more
//! than half of its bytes are chunks no file uses) is compacted: its used chunks go into a new xorb
//! the files move onto, and the old one, used by none, then goes as any other.

use std::collections::{BTreeSet, HashMap};

use strata_lfs::xet::{shard, xorb, Hash};
use strata_lfs::Oid;

use super::{Item, Options, Report};
use crate::error::{Error, Result};
use crate::Core;

/// The objects holding the xorbs that the live files of dataset `repo_id` use: those whose
/// object is in `reached` or is one of its table views, and those not committed yet that a
/// shard recorded since `cutoff`.
pub(super) async fn live_xorbs(
    core: &Core,
    repo_id: i64,
    reached: &HashMap<Oid, u64>,
    cutoff: i64,
) -> Result<Vec<Oid>> {
    let files = core.db.xet_files(repo_id).await?;
    let unlanded = core.db.xet_unlanded(repo_id, cutoff).await?;
    let views = core.db.table_view_oids(repo_id).await?;
    let mut used = std::collections::BTreeSet::new();
    for file in files {
        let live = match file.oid.as_deref().map(str::parse::<Oid>) {
            None => !unlanded.contains(&file.hash),
            Some(Ok(oid)) => reached.contains_key(&oid) || views.contains(&oid.to_string()),
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
        // A file's object (most links): only its own records go (unless a view is those bytes).
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

/// Compacts the xorbs of dataset `repo_id` (`path`) that are mostly dead: more than half of
/// their bytes are chunks no recorded file uses, yet some chunk is used, and they were linked
/// before `cutoff` (one uploaded lately may still await the shard that names its chunks).
/// Callers hold [`crate::storage::Storage::chunking`].
pub(super) async fn compact(
    core: &Core,
    report: &mut Report,
    (repo_id, path): (i64, &str),
    options: &Options,
    cutoff: i64,
) -> Result<()> {
    let xorbs = core.db.xet_xorb_oids(repo_id).await?;
    if xorbs.is_empty() {
        return Ok(());
    }
    // (A file no commit named within the grace period holds none: it goes with its xorbs.)
    let unlanded = core.db.xet_unlanded(repo_id, cutoff).await?;
    let mut files = Vec::new();
    for file in core.db.xet_files(repo_id).await? {
        if !unlanded.contains(&file.hash) {
            let segments = shard::parse_segments(&file.segments).map_err(Error::internal)?;
            files.push((file, segments));
        }
    }
    let mut used: HashMap<Hash, BTreeSet<u32>> = HashMap::new();
    for s in files.iter().flat_map(|(_, segments)| segments) {
        used.entry(s.xorb).or_default().extend(s.start..s.end);
    }
    let linked: HashMap<String, i64> = core
        .db
        .gc_links(repo_id)
        .await?
        .into_iter()
        .map(|(oid, _, at)| (oid, at))
        .collect();
    for (hex, oid) in xorbs {
        let (Some(hash), Some(&at)) = (Hash::from_hex(&hex), linked.get(&oid)) else {
            continue;
        };
        let Some(keep) = used.get(&hash).filter(|_| at < cutoff) else {
            continue;
        };
        let Some(row) = core.db.xet_xorb(repo_id, &hex).await? else {
            continue;
        };
        let index = xorb::parse_index(&row.chunks).map_err(Error::internal)?;
        let total: u64 = index.last().map_or(0, |c| u64::from(c.end));
        let live: u64 = keep
            .iter()
            .filter_map(|&i| index.get(i as usize))
            .map(|c| u64::from(c.end - c.start))
            .sum();
        let dead = total.saturating_sub(live);
        if dead * 2 <= total {
            continue;
        }
        let (action, into) = if options.dry_run {
            ("would compact", String::new())
        } else {
            match core
                .storage
                .compact_xorb(repo_id, &hash, keep, &files)
                .await
            {
                Ok(Some(c)) => (
                    "compacted",
                    format!(" into xorb {} ({} files moved)", c.into, c.files),
                ),
                Ok(None) => continue,
                Err(e) => {
                    report
                        .errors
                        .push(format!("{path}: compacting xorb {hash}: {}", e.message));
                    continue;
                }
            }
        };
        report.xorbs_compacted += 1;
        report.compacted_bytes += dead;
        report.item(Item {
            dataset: Some(path.to_owned()),
            oid,
            size: dead,
            action,
            reason: format!(
                "{dead} of the {total} bytes of xorb {hash} are chunks no file uses: \
                 the rest written again{into}"
            ),
        });
    }
    Ok(())
}
