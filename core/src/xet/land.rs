//! Files uploaded through Xet becoming LFS objects: a commit naming an object the dataset does
//! not hold, which a shard claimed is a file of it, reads that file back from its xorbs and
//! stores it, refused unless it hashes to the object (a shard's sha256 is a claim, not a proof).

use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

use strata_lfs::xet::{shard, xorb, Hash};
use strata_lfs::Oid;

use crate::datasets::gate::Gated;
use crate::db::XetFile;
use crate::error::{Error, Result};
use crate::Core;

/// Stores, for each of `objects` (`(oid, size)`) that `repo` does not hold yet, the Xet file a
/// shard uploaded to it claimed to be that object, once read back and found to be. Objects no
/// file claims stay missing: the commit's own check names them.
pub async fn land(core: &Core, repo: &Gated, objects: &[(Oid, u64)]) -> Result<()> {
    let oids: Vec<Oid> = objects.iter().map(|(o, _)| *o).collect();
    let linked = core.db.linked_objects(repo.id, &oids).await?;
    let mut seen = std::collections::HashSet::new();
    for (oid, size) in objects {
        if linked.contains_key(oid) || !seen.insert(*oid) {
            continue;
        }
        let claims = core
            .db
            .xet_files_claiming(repo.id, &oid.to_string(), *size as i64)
            .await?;
        if claims.is_empty() {
            continue;
        }
        // A file made of chunks is stored whole: the same limits as any upload.
        if *size > core.settings.object_limit() {
            return Err(Error::too_large(format!(
                "{oid} is {size} bytes: objects may be at most {} bytes",
                core.settings.object_limit()
            )));
        }
        crate::quotas::check(core, repo, Some(oid), *size).await?;
        for file in claims {
            match read_back(core, repo.id, &file, *size).await {
                Ok(got) if got == (*oid, *size) => {
                    core.storage.link(repo.id, oid, *size).await?;
                    core.db
                        .xet_file_checked(repo.id, &file.hash, &oid.to_string())
                        .await?;
                    tracing::info!(%oid, size, xet = %file.hash, "Xet file stored as an object");
                    break;
                }
                Ok((got, _)) => {
                    // A false claim is spent: it is not read back again.
                    core.db.xet_file_unclaim(repo.id, &file.hash).await?;
                    tracing::warn!(
                        %oid, xet = %file.hash, %got,
                        "a shard claimed a Xet file is {oid}: it reads back as {got}"
                    )
                }
                Err(e) => tracing::warn!(%oid, xet = %file.hash, "reading a Xet file back: {e}"),
            }
        }
    }
    Ok(())
}

/// Reads `file` of dataset `repo_id` back from its xorbs into the dataset's objects: the oid and
/// size its bytes have (at most `limit` of them are read). Each xorb's record is read once.
async fn read_back(core: &Core, repo_id: i64, file: &XetFile, limit: u64) -> Result<(Oid, u64)> {
    let segments = shard::parse_segments(&file.segments).map_err(Error::internal)?;
    let mut xorbs: HashMap<Hash, Xorb> = HashMap::new();
    for seg in &segments {
        if let Entry::Vacant(slot) = xorbs.entry(seg.xorb) {
            let row = core
                .db
                .xet_xorb(repo_id, &seg.xorb.hex())
                .await?
                .ok_or_else(|| Error::not_found(format!("xorb {} is not stored", seg.xorb)))?;
            let index = xorb::parse_index(&row.chunks).map_err(Error::internal)?;
            slot.insert((row.oid.parse().map_err(Error::internal)?, index));
        }
    }
    let xorbs = &xorbs;
    let stream = futures_util::stream::iter(segments)
        .then(move |seg| async move { segment(core, repo_id, &seg, &xorbs[&seg.xorb]).await })
        .map(|r| r.map_err(|e| std::io::Error::other(e.to_string())));
    core.storage.ingest(repo_id, stream, limit).await
}

/// A xorb as a read-back needs it: the object holding it, and its chunks.
type Xorb = (Oid, Vec<xorb::ChunkEntry>);

/// The bytes of one segment: its chunks' range of the xorb, read and decoded.
async fn segment(core: &Core, repo_id: i64, seg: &shard::Segment, xorb: &Xorb) -> Result<Bytes> {
    let (oid, index) = xorb;
    let chunks = index
        .get(seg.start as usize..seg.end as usize)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Error::internal(format!("xorb {} is shorter than a term", seg.xorb)))?;
    let (first, last) = (chunks[0].start, chunks[chunks.len() - 1].end - 1);
    let range = format!("bytes={first}-{last}");
    let Some(crate::storage::Read::Found { object, .. }) =
        core.storage.read(repo_id, oid, Some(&range)).await?
    else {
        return Err(Error::not_found(format!("xorb {} is not stored", seg.xorb)));
    };
    let mut raw = Vec::with_capacity(object.count as usize);
    let mut body = object.body;
    while let Some(piece) = body.next().await {
        raw.extend_from_slice(&piece.map_err(Error::internal)?);
    }
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        xorb::decode(&raw, &mut out).map(|()| Bytes::from(out))
    })
    .await
    .map_err(Error::internal)?
    .map_err(|e| Error::internal(format!("xorb {}: {e}", seg.xorb)))
}

/// The Xet hash of object `oid` of dataset `repo_id`, when it was uploaded through Xet (and
/// read back as that object): what the Hub's `X-Xet-Hash` header says.
pub async fn hash_of(core: &Core, repo_id: i64, oid: &Oid) -> Result<Option<String>> {
    Ok(core.db.xet_hash_of(repo_id, &oid.to_string()).await?)
}
