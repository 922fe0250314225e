//! Copies within an S3 bucket past `CopyObject`'s 5 GiB limit: a multipart upload of the target
//! whose parts are `UploadPartCopy` ranges of the source, so a checked multipart upload of any size
//! can be moved into place without its bytes leaving the bucket.

use object_store::path::Path as StorePath;
use object_store::ObjectStoreExt;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;
use serde::Deserialize;

use super::{BucketPart, BucketUpload, CloudSigner, CloudStore};
use crate::storage::{PutError, StoreError};

/// The largest object one `CopyObject` copies.
pub const COPY_LIMIT: u64 = 5 * 1024 * 1024 * 1024;
/// The range each `UploadPartCopy` copies beyond it (at most 5 GiB; 10,000 of them make 10 TiB).
pub const COPY_PART: u64 = 1024 * 1024 * 1024;

/// Unreserved characters and `/` stay as they are in `x-amz-copy-source`.
const SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

#[derive(Deserialize)]
struct Copied {
    #[serde(rename = "ETag")]
    etag: Option<String>,
}

impl CloudStore {
    /// Copies the object at `from` to `to` (keys with the prefix): one `CopyObject` up to
    /// [`COPY_LIMIT`], in [`COPY_PART`] ranges beyond it on S3.
    pub(super) async fn copy_key(&self, from: &str, to: &str, size: u64) -> Result<(), StoreError> {
        self.copy_in_parts(from, to, size, COPY_LIMIT, COPY_PART)
            .await
    }

    /// [`CloudStore::copy_key`] with the limit and the part size given (tests use small ones).
    pub async fn copy_in_parts(
        &self,
        from: &str,
        to: &str,
        size: u64,
        limit: u64,
        part: u64,
    ) -> Result<(), StoreError> {
        let bucket = match &self.signer {
            CloudSigner::S3 { presigner, .. } if size > limit => presigner.bucket().to_owned(),
            _ => {
                return Ok(self
                    .store
                    .copy(&StorePath::from(from), &StorePath::from(to))
                    .await?)
            }
        };
        let upload_id = self.create_upload(to).await?;
        let upload = BucketUpload {
            nonce: String::new(),
            upload_id,
        };
        let source = utf8_percent_encode(&format!("/{bucket}/{from}"), SOURCE).to_string();
        let copied = self
            .copy_parts(to, &upload, &source, size, part.max(1))
            .await;
        let done = match copied {
            Ok(parts) => self
                .complete_s3(to, &upload, &parts)
                .await
                .map_err(|e| match e {
                    PutError::Store(e) => e,
                    other => StoreError::Presign(other.to_string()),
                }),
            Err(e) => Err(e),
        };
        if done.is_err() {
            let params = [("uploadId", upload.upload_id.as_str())];
            let _ = self.s3_call(Method::DELETE, to, &params, None).await;
        }
        done
    }

    async fn copy_parts(
        &self,
        to: &str,
        upload: &BucketUpload,
        source: &str,
        size: u64,
        part: u64,
    ) -> Result<Vec<BucketPart>, StoreError> {
        let mut parts = Vec::new();
        for (i, first) in (0..size).step_by(part as usize).enumerate() {
            let last = (first + part).min(size) - 1;
            let number = (i + 1).to_string();
            let range = format!("bytes={first}-{last}");
            let params = [
                ("partNumber", number.as_str()),
                ("uploadId", upload.upload_id.as_str()),
            ];
            let headers = [
                ("x-amz-copy-source", source),
                ("x-amz-copy-source-range", range.as_str()),
            ];
            let (status, body) = self
                .s3_call_with(Method::PUT, to, &params, &headers, None)
                .await?;
            if status != 200 || body.contains("<Error>") {
                return Err(Self::refused("UploadPartCopy", status, &body));
            }
            let copied: Copied = quick_xml::de::from_str(&body)
                .map_err(|e| StoreError::Presign(format!("UploadPartCopy answered {e}")))?;
            parts.push(BucketPart {
                number: i as u32 + 1,
                size: last + 1 - first,
                etag: copied.etag,
            });
        }
        Ok(parts)
    }
}
