//! Azure block blobs as multipart uploads: part `n` is the block named `strata-part-{n:06}` (in
//! base64, as Azure wants) of the staging blob, sent with Put Block through a SAS URL. The blob's
//! uncommitted blocks are the upload: Get Block List lists them for a resumed batch, Put Block List
//! makes the blob, and an abort commits an empty list and deletes the blob (Azure has no call that
//! drops uncommitted blocks; left alone, they are collected after a week).

use std::time::Duration;

use base64::Engine;
use object_store::azure::MicrosoftAzure;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as StorePath;
use object_store::ObjectStoreExt;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

use super::{BucketPart, CloudStore};
use crate::s3sign::Presigned;
use crate::storage::StoreError;

#[derive(Deserialize)]
struct BlockList {
    #[serde(rename = "UncommittedBlocks", default)]
    uncommitted: Blocks,
}

#[derive(Deserialize, Default)]
struct Blocks {
    #[serde(rename = "Block", default)]
    blocks: Vec<Block>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Size")]
    size: u64,
}

/// The name of part `n`'s block (before base64); all of a blob's block names have one length.
fn block_name(n: u32) -> String {
    format!("strata-part-{n:06}")
}

/// The part number of a block of strata's, from its base64 name.
fn part_number(encoded: &str) -> Option<u32> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("strata-part-")?
        .parse()
        .ok()
}

impl CloudStore {
    /// A Put Block URL for part `n` of the staging blob `key`.
    pub(super) async fn presign_block(
        &self,
        key: &str,
        n: u32,
        ttl: Duration,
    ) -> Result<Presigned, StoreError> {
        let mut signed = self.presign("PUT", key, &[], ttl).await?;
        // Put Block takes no blob type: that is for Put Blob.
        signed.headers.clear();
        let id = base64::engine::general_purpose::STANDARD.encode(block_name(n));
        signed.url = format!(
            "{}&comp=block&blockid={}",
            signed.url,
            utf8_percent_encode(&id, NON_ALPHANUMERIC)
        );
        Ok(signed)
    }

    /// The uncommitted blocks of the staging blob `key` that are parts of strata's.
    pub(super) async fn list_blocks(&self, key: &str) -> Result<Vec<BucketPart>, StoreError> {
        let signed = self
            .presign("GET", key, &[], Duration::from_secs(60))
            .await?;
        let url = format!("{}&comp=blocklist&blocklisttype=uncommitted", signed.url);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| StoreError::Presign(format!("Get Block List {key}: {e}")))?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|e| StoreError::Presign(format!("Get Block List {key}: {e}")))?;
        match status {
            200 => {}
            // No block yet: the blob does not exist.
            404 => return Ok(Vec::new()),
            _ => return Err(Self::refused("Get Block List", status, &body)),
        }
        let list: BlockList = quick_xml::de::from_str(&body)
            .map_err(|e| StoreError::Presign(format!("Get Block List answered {e}")))?;
        let mut parts: Vec<BucketPart> = list
            .uncommitted
            .blocks
            .into_iter()
            .filter_map(|b| {
                Some(BucketPart {
                    number: part_number(&b.name)?,
                    size: b.size,
                    etag: None,
                })
            })
            .collect();
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    /// Put Block List: the staging blob becomes `parts`, in order.
    pub(super) async fn commit_blocks(
        azure: &MicrosoftAzure,
        key: &str,
        parts: &[BucketPart],
    ) -> Result<(), StoreError> {
        let ids = parts
            .iter()
            .map(|p| PartId {
                content_id: block_name(p.number),
            })
            .collect();
        azure
            .complete_multipart(&StorePath::from(key), &String::new(), ids)
            .await?;
        Ok(())
    }

    /// Drops the uncommitted blocks of the staging blob `key`: an empty block list makes an empty
    /// blob, which is then deleted.
    pub(super) async fn discard_blocks(
        &self,
        azure: &MicrosoftAzure,
        key: &str,
    ) -> Result<(), StoreError> {
        let path = StorePath::from(key);
        azure
            .complete_multipart(&path, &String::new(), Vec::new())
            .await?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_names_are_one_length_and_read_back() {
        let encode = |n| base64::engine::general_purpose::STANDARD.encode(block_name(n));
        assert_eq!(encode(1).len(), encode(10_000).len());
        assert!(!encode(1).contains('='));
        assert_eq!(part_number(&encode(42)), Some(42));
        assert_eq!(part_number("bm90LW91cnM="), None);
    }
}
