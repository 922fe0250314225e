//! Files uploaded through Xet becoming LFS objects: a commit naming an object the dataset does
//! not hold, which a shard claimed is a file of it, reads that file back from its xorbs and
//! links it, refused unless it hashes to the object (a shard's sha256 is a claim, not a proof).
//! The object is kept as its chunks (stored once), on every backend. The xorbs read are linked
//! first, which takes them back from a garbage collection that would let them go meanwhile.

use futures_util::StreamExt;
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
        // A file made of chunks becomes an object: the same limits as any upload.
        if *size > core.settings.object_limit() {
            return Err(Error::too_large(format!(
                "{oid} is {size} bytes: objects may be at most {} bytes",
                core.settings.object_limit()
            )));
        }
        // (Kept as chunks only, its bytes count as the xorbs they are in.)
        for file in claims {
            if let Err(e) = take_back(core, repo.id, &file).await {
                tracing::warn!(%oid, xet = %file.hash, "taking a Xet file's xorbs back: {e}");
                continue;
            }
            match read_back(core, repo.id, &file, *size).await {
                Ok(got) if got == (*oid, *size) => {
                    // Checked first: a link whose bytes are looked for finds the chunks.
                    if !core
                        .db
                        .xet_file_checked(repo.id, &file.hash, &oid.to_string())
                        .await?
                    {
                        continue; // forgotten meanwhile (collected with its xorbs)
                    }
                    if let Err(e) = core.storage.link(repo.id, oid, *size).await {
                        core.db.xet_file_unclaim(repo.id, &file.hash).await?;
                        return Err(e);
                    }
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

/// Links the xorbs `file` of dataset `repo_id` uses again (the file may have been uploaded
/// longer than a collection's grace period ago: see [`crate::storage::Storage::link_xorb`]).
async fn take_back(core: &Core, repo_id: i64, file: &XetFile) -> Result<()> {
    let mut hashes = Vec::new();
    for xorb in file.xorbs().map_err(Error::internal)? {
        core.storage.link_xorb(repo_id, &xorb).await?;
        hashes.push(xorb.hex());
    }
    // Becoming an object of the dataset, it counts toward usage as its xorbs, a view's too.
    core.db.xet_xorbs_counted(repo_id, &hashes).await?;
    Ok(())
}

/// Reads `file` of dataset `repo_id` back from its xorbs: the oid and size its bytes have (at
/// most `limit` of them are read). The file stays in chunks, read from them whenever it is read.
/// The bytes are hashed on a thread of their own while the next chunks are read and decoded,
/// so the commit that waits for this waits for the slower half, not for both.
async fn read_back(core: &Core, repo_id: i64, file: &XetFile, limit: u64) -> Result<(Oid, u64)> {
    let count = (file.size as u64).min(limit.saturating_add(1));
    let mut body = core.storage.file_bytes(repo_id, file, 0, count).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
    let hasher = tokio::task::spawn_blocking(move || {
        use sha2::Digest;
        let (mut hasher, mut size) = (sha2::Sha256::new(), 0u64);
        while let Some(piece) = rx.blocking_recv() {
            size += piece.len() as u64;
            hasher.update(&piece);
        }
        (Oid::from_digest(hasher.finalize().into()), size)
    });
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(Error::internal)?;
        if tx.send(piece).await.is_err() {
            break;
        }
    }
    drop(tx);
    hasher.await.map_err(Error::internal)
}

/// The Xet hash of object `oid` of dataset `repo_id`, when it was uploaded through Xet (and
/// read back as that object): what the Hub's `X-Xet-Hash` header says.
pub async fn hash_of(core: &Core, repo_id: i64, oid: &Oid) -> Result<Option<String>> {
    Ok(core.db.xet_hash_of(repo_id, &oid.to_string()).await?)
}
