//! The storage side of garbage collection (`crate::gc`) and erasure (`crate::erase`): linking an
//! object with the check that its bytes survived a collection racing the upload, deleting bytes
//! (objects', and views' and residency copies'), and re-keying a dataset's sealed objects.

use object_store::ObjectStoreExt;
use strata_lfs::Oid;

use super::{Backend, Storage};
use crate::error::{Error, Kind, Result};

impl Storage {
    /// Links `oid` (`size` bytes, stored already) to dataset `repo_id`: every write path links
    /// through here. When garbage collection deleted these bytes lately, the link is kept only
    /// if they are stored again by now (written after the deletion); otherwise it is undone and
    /// the caller told to upload again.
    pub async fn link(&self, repo_id: i64, oid: &Oid, size: u64) -> Result<()> {
        // What was erased from a dataset does not come back to it (a stale clone's push).
        if !self
            .0
            .db
            .erased(repo_id, &[oid.to_string()])
            .await?
            .is_empty()
        {
            return Err(Error::new(
                Kind::Gone,
                format!("{oid} was erased from this dataset and cannot be stored in it again"),
            ));
        }
        let linked = self.0.db.link_object(repo_id, oid, size).await?;
        // Unsealed, the chunker may have dropped the whole copy these bytes were stored as,
        // between their store and this link, if a dataset holds them as chunks: checked then.
        let chunked = self.0.db.chunked_anywhere(&oid.to_string()).await?;
        let dropped_lately = self.0.sealed.is_none() && chunked;
        if (linked.collected_lately || dropped_lately) && !self.holds(repo_id, oid).await? {
            self.0.db.unlink_object(repo_id, &oid.to_string()).await?;
            return Err(Error::new(
                Kind::Busy,
                "this object's earlier copy was deleted (collected, or kept as another dataset's \
                 chunks) while it was uploaded: upload it again",
            ));
        }
        // The dataset kept these bytes as a view's chunks (counted for nobody): as its object,
        // they count toward its usage now. (Nothing to look up unless some dataset chunked them.)
        let file = match chunked {
            true => self.0.db.xet_file_of(repo_id, &oid.to_string()).await?,
            false => None,
        };
        if let Some(file) = file {
            let xorbs = file.xorbs().map_err(Error::internal)?;
            let hashes: Vec<String> = xorbs.iter().map(|x| x.hex()).collect();
            self.0.db.xet_xorbs_counted(repo_id, &hashes).await?;
        }
        Ok(())
    }

    /// Whether the bytes of `oid` are stored for dataset `repo_id`: whole, or as chunks, or
    /// where they were adopted from by reference.
    pub async fn holds(&self, repo_id: i64, oid: &Oid) -> Result<bool> {
        Ok(self.holds_whole(repo_id, oid).await?
            || self.holds_chunked(repo_id, oid).await?
            || self.referenced(oid).await?)
    }

    /// Whether `oid` is stored whole for dataset `repo_id`.
    pub async fn holds_whole(&self, repo_id: i64, oid: &Oid) -> Result<bool> {
        if let Some(sealed) = &self.0.sealed {
            if sealed.size(repo_id, oid).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(match &self.0.backend {
            Backend::Local(store) => store.size(oid).await?,
            Backend::Cloud(cloud) => cloud.size(oid).await?,
        }
        .is_some())
    }

    /// Deletes bytes garbage collection let go: with `repo_id` 0 the object's plain bytes (and,
    /// when sealing, none are left to delete but those from before encryption); otherwise the
    /// dataset's sealed copy. Deleting what is not there is no error.
    pub async fn delete_bytes(&self, repo_id: i64, oid: &Oid) -> Result<()> {
        if let Some(sealed) = &self.0.sealed {
            return sealed.remove(repo_id, oid, repo_id == 0).await;
        }
        if repo_id != 0 {
            return Ok(());
        }
        match &self.0.backend {
            Backend::Local(store) => {
                match tokio::fs::remove_file(store.root().join(oid.fanout_path())).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(super::io(e)),
                    _ => Ok(()),
                }
            }
            Backend::Cloud(cloud) => {
                match cloud
                    .object_store()
                    .delete(&cloud.prefixed(&oid.fanout_path()))
                    .await
                {
                    Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
                    Err(e) => Err(Error::internal(format!("deleting {oid}: {e}"))),
                }
            }
        }
    }

    /// Deletes the bytes of a table view or residency copy (`store`: the region store; `None`:
    /// the dataset's own store), unless something else still records them. A view kept as
    /// chunks loses its file (its xorbs go once no file uses them, as any unused).
    pub async fn delete_derived(&self, repo_id: i64, oid: &str, store: Option<&str>) -> Result<()> {
        if store.is_none() {
            self.0.db.xet_forget_files_of(repo_id, oid).await?;
        }
        if !self.0.db.gc_known(&[oid.to_owned()]).await?.is_empty() {
            return Ok(());
        }
        let Ok(parsed) = oid.parse::<Oid>() else {
            return Ok(());
        };
        let backend = match store {
            Some(name) => self.region(name)?,
            None if self.0.sealed.is_some() => {
                if self.0.db.links_of(oid).await? > 0 {
                    return Ok(());
                }
                return self.delete_bytes(repo_id, &parsed).await;
            }
            None => &self.0.backend,
        };
        match backend {
            Backend::Local(store) => {
                match tokio::fs::remove_file(store.root().join(parsed.fanout_path())).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(super::io(e)),
                    _ => Ok(()),
                }
            }
            Backend::Cloud(cloud) => {
                match cloud
                    .object_store()
                    .delete(&cloud.prefixed(&parsed.fanout_path()))
                    .await
                {
                    Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
                    Err(e) => Err(Error::internal(format!("deleting {oid}: {e}"))),
                }
            }
        }
    }

    /// Seals every object of a dataset again under a new data-key version and destroys the
    /// versions before it (erasure): whatever ciphertext of the dataset survives anywhere under an
    /// older version can no longer be opened. `None` when nothing is sealed.
    pub async fn rekey(&self, repo_id: i64) -> Result<Option<Rekeyed>> {
        let Some(sealed) = &self.0.sealed else {
            return Ok(None);
        };
        let key = sealed.keys().rotate(repo_id).await?;
        let (resealed, _) = sealed.reseal(repo_id).await?;
        let destroyed = sealed.keys().destroy_before(repo_id, key.version).await?;
        Ok(Some(Rekeyed {
            version: key.version,
            resealed,
            destroyed,
        }))
    }
}

/// What [`Storage::rekey`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rekeyed {
    /// The data-key version every object of the dataset is sealed under now.
    pub version: u32,
    pub resealed: u64,
    /// The versions destroyed.
    pub destroyed: Vec<u32>,
}
