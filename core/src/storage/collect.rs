//! The storage side of garbage collection (`crate::gc`): linking an object with the check that
//! its bytes survived a collection racing the upload, and deleting bytes.

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
        let linked = self.0.db.link_object(repo_id, oid, size).await?;
        if linked.collected_lately && !self.holds(repo_id, oid).await? {
            self.0.db.unlink_object(repo_id, &oid.to_string()).await?;
            return Err(Error::new(
                Kind::Busy,
                "garbage collection deleted this object's earlier copy while it was uploaded: \
                 upload it again",
            ));
        }
        Ok(())
    }

    /// Whether the bytes of `oid` are stored for dataset `repo_id`.
    pub async fn holds(&self, repo_id: i64, oid: &Oid) -> Result<bool> {
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
}
