//! Multipart uploads to a bucket for `multipart-basic`: the client sends each part straight to the
//! bucket through a presigned URL, and strata lists, completes and aborts with requests of its own.
//! On S3 those are `UploadPart` URLs and signed `CreateMultipartUpload`, `ListParts`,
//! `CompleteMultipartUpload` and `AbortMultipartUpload` requests, which `object_store` does not
//! expose (it has no `ListParts`, and completing needs the parts' ETags); Azure's blocks are in
//! `super::blocks`.
//!
//! The upload goes to a staging key, never to the object's own key. A bucket's checksums are per
//! part (S3's whole-object ones are a composite of them or CRCs, never a sha256), so the bucket
//! cannot say whether the whole object hashes to its oid: strata reads the completed staging
//! object once, hashing as it streams (one GET of the object, constant memory), and only then
//! copies it to the final key. Whatever the outcome, the staging object is deleted, so a wrong hash
//! leaves nothing behind.

use std::time::Duration;

use object_store::path::Path as StorePath;
use reqwest::Method;
use serde::Deserialize;

use super::{CloudSigner, CloudStore};
use crate::oid::Oid;
use crate::s3sign::{Presigned, S3Presigner};
use crate::storage::{PutError, StoreError};

/// One multipart upload in the bucket: the staging key's nonce and S3's upload id (empty on
/// Azure, where the staging blob's uncommitted blocks are the upload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketUpload {
    pub nonce: String,
    pub upload_id: String,
}

/// A part the bucket holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPart {
    pub number: u32,
    pub size: u64,
    pub etag: Option<String>,
}

#[derive(Deserialize)]
struct Initiated {
    #[serde(rename = "UploadId")]
    upload_id: String,
}

#[derive(Deserialize)]
struct Listed {
    #[serde(rename = "IsTruncated", default)]
    truncated: bool,
    #[serde(rename = "NextPartNumberMarker")]
    next: Option<u32>,
    #[serde(rename = "Part", default)]
    parts: Vec<ListedPart>,
}

#[derive(Deserialize)]
struct ListedPart {
    #[serde(rename = "PartNumber")]
    number: u32,
    #[serde(rename = "Size")]
    size: u64,
    #[serde(rename = "ETag")]
    etag: Option<String>,
}

impl CloudStore {
    /// Whether this store takes `multipart-basic` uploads (S3 and Azure).
    pub fn takes_multipart(&self) -> bool {
        matches!(self.signer, CloudSigner::S3 { .. } | CloudSigner::Azure(_))
    }

    /// The origin (`scheme://host[:port]`) of the URLs parts go to, when this store takes
    /// multipart uploads: what a page's CSP must allow.
    pub async fn part_origin(&self) -> Option<String> {
        let url = match &self.signer {
            CloudSigner::S3 { presigner, .. } => return Some(presigner.origin()),
            CloudSigner::Azure(_) => self.presign("PUT", "origin", &[], Duration::from_secs(60)),
            CloudSigner::Generic(_) => return None,
        };
        let url = reqwest::Url::parse(&url.await.ok()?.url).ok()?;
        Some(url.origin().ascii_serialization())
    }

    pub(super) fn s3(&self) -> Result<&S3Presigner, StoreError> {
        match &self.signer {
            CloudSigner::S3 { presigner, .. } => Ok(presigner),
            _ => Err(StoreError::Presign("this is no S3 bucket".into())),
        }
    }

    /// One signed request of strata's own to the bucket: the status and the body.
    pub(super) async fn s3_call(
        &self,
        method: Method,
        key: &str,
        params: &[(&str, &str)],
        body: Option<String>,
    ) -> Result<(u16, String), StoreError> {
        self.s3_call_with(method, key, params, &[], body).await
    }

    /// [`CloudStore::s3_call`] with headers, which the signature covers.
    pub(super) async fn s3_call_with(
        &self,
        method: Method,
        key: &str,
        params: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Result<(u16, String), StoreError> {
        let signed = self
            .s3()?
            .presign_query(
                method.as_str(),
                key,
                params,
                headers,
                60,
                time::OffsetDateTime::now_utc(),
            )
            .map_err(|e| StoreError::Presign(format!("{method} {key}: {e}")))?;
        let mut request = self.http.request(method.clone(), &signed.url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| StoreError::Presign(format!("{method} {key}: {e}")))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| StoreError::Presign(format!("{method} {key}: {e}")))?;
        Ok((status, text))
    }

    pub(super) fn refused(what: &str, status: u16, body: &str) -> StoreError {
        let code = body
            .split_once("<Code>")
            .and_then(|(_, rest)| rest.split_once("</Code>"))
            .map_or("", |(code, _)| code);
        StoreError::Presign(format!("the bucket refused {what}: {status} {code}"))
    }

    /// Starts a multipart upload to `key`; its upload id.
    pub(super) async fn create_upload(&self, key: &str) -> Result<String, StoreError> {
        let sse: Vec<(&str, &str)> = self
            .sse
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let (status, body) = self
            .s3_call_with(Method::POST, key, &[("uploads", "")], &sse, None)
            .await?;
        if status != 200 {
            return Err(Self::refused("CreateMultipartUpload", status, &body));
        }
        let initiated: Initiated = quick_xml::de::from_str(&body)
            .map_err(|e| StoreError::Presign(format!("CreateMultipartUpload answered {e}")))?;
        Ok(initiated.upload_id)
    }

    /// Starts a multipart upload of `oid` to a fresh staging key of `scope`.
    pub async fn start_multipart(
        &self,
        oid: &Oid,
        scope: &str,
    ) -> Result<BucketUpload, StoreError> {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        if let CloudSigner::Azure(_) = &self.signer {
            // A blob's uncommitted blocks are the upload: there is nothing to start.
            return Ok(BucketUpload {
                nonce,
                upload_id: String::new(),
            });
        }
        let key = self.staging_key(oid, scope, &nonce);
        let upload_id = self.create_upload(&key).await?;
        Ok(BucketUpload { nonce, upload_id })
    }

    /// A presigned URL for part `n` of `upload` (`UploadPart`, or Azure's Put Block).
    pub async fn presign_part(
        &self,
        oid: &Oid,
        scope: &str,
        upload: &BucketUpload,
        n: u32,
        ttl: Duration,
    ) -> Result<Presigned, StoreError> {
        let key = self.staging_key(oid, scope, &upload.nonce);
        if let CloudSigner::Azure(_) = &self.signer {
            return self.presign_block(&key, n, ttl).await;
        }
        let number = n.to_string();
        self.s3()?
            .presign_query(
                "PUT",
                &key,
                &[("partNumber", &number), ("uploadId", &upload.upload_id)],
                &[],
                ttl.as_secs(),
                time::OffsetDateTime::now_utc(),
            )
            .map_err(|e| StoreError::Presign(format!("PUT {key}: {e}")))
    }

    /// The parts the bucket holds for `upload`, in order; `None` when the upload is gone.
    pub async fn list_parts(
        &self,
        oid: &Oid,
        scope: &str,
        upload: &BucketUpload,
    ) -> Result<Option<Vec<BucketPart>>, StoreError> {
        let key = self.staging_key(oid, scope, &upload.nonce);
        if let CloudSigner::Azure(_) = &self.signer {
            return self.list_blocks(&key).await.map(Some);
        }
        let mut parts = Vec::new();
        let mut marker = 0u32;
        loop {
            let after = marker.to_string();
            let mut params = vec![("uploadId", upload.upload_id.as_str())];
            if marker > 0 {
                params.push(("part-number-marker", &after));
            }
            let (status, body) = self.s3_call(Method::GET, &key, &params, None).await?;
            match status {
                200 => {}
                404 => return Ok(None),
                _ => return Err(Self::refused("ListParts", status, &body)),
            }
            let listed: Listed = quick_xml::de::from_str(&body)
                .map_err(|e| StoreError::Presign(format!("ListParts answered {e}")))?;
            let last = listed.parts.last().map(|p| p.number);
            parts.extend(listed.parts.into_iter().map(|p| BucketPart {
                number: p.number,
                size: p.size,
                etag: p.etag,
            }));
            match (listed.truncated, listed.next.or(last)) {
                (true, Some(next)) if next > marker => marker = next,
                _ => break,
            }
        }
        parts.sort_by_key(|p| p.number);
        parts.dedup_by_key(|p| p.number);
        Ok(Some(parts))
    }

    /// Completes `upload` from `parts` (all of them, in order) into its staging object, checks
    /// that object's length and sha256 by reading it once, and copies it to `oid`'s key. The
    /// staging object is deleted whatever the outcome.
    pub async fn complete_multipart(
        &self,
        oid: &Oid,
        size: u64,
        scope: &str,
        upload: &BucketUpload,
        parts: &[BucketPart],
    ) -> Result<(), PutError> {
        let key = self.staging_key(oid, scope, &upload.nonce);
        let staging = StorePath::from(key.clone());
        let placed = match &self.signer {
            // The part URLs are SAS URLs of the staging blob, which could write it until they
            // expire: hash a private copy.
            CloudSigner::Azure(azure) => {
                Self::commit_blocks(azure, &key, parts).await?;
                self.hash_and_place(&staging, oid, size).await
            }
            // A completed upload's part URLs write nothing any more: hash it where it is.
            _ => {
                self.complete_s3(&key, upload, parts).await?;
                let checked = self.hash_staged(&staging, oid, size).await;
                self.place(&staging, oid, size, checked).await
            }
        };
        match placed {
            Ok(true) => Ok(()),
            Ok(false) => Err(PutError::Unverified(
                "the completed upload is not in the bucket".into(),
            )),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn complete_s3(
        &self,
        key: &str,
        upload: &BucketUpload,
        parts: &[BucketPart],
    ) -> Result<(), PutError> {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for part in parts {
            xml.push_str(&format!("<Part><PartNumber>{}</PartNumber>", part.number));
            if let Some(etag) = &part.etag {
                xml.push_str(&format!("<ETag>{}</ETag>", xml_text(etag)));
            }
            xml.push_str("</Part>");
        }
        xml.push_str("</CompleteMultipartUpload>");
        let (status, body) = self
            .s3_call(
                Method::POST,
                key,
                &[("uploadId", &upload.upload_id)],
                Some(xml),
            )
            .await?;
        // S3 may answer 200 and report the failure in the body.
        if status != 200 || body.contains("<Error>") {
            if parts_changed(&body) {
                return Err(PutError::PartsChanged(
                    "a part changed while the upload was completed".into(),
                ));
            }
            return Err(Self::refused("CompleteMultipartUpload", status, &body).into());
        }
        Ok(())
    }

    /// Throws `upload` and its parts away; an upload already gone is no error.
    pub async fn abort_multipart(
        &self,
        oid: &Oid,
        scope: &str,
        upload: &BucketUpload,
    ) -> Result<(), StoreError> {
        let key = self.staging_key(oid, scope, &upload.nonce);
        if let CloudSigner::Azure(azure) = &self.signer {
            return self.discard_blocks(azure, &key).await;
        }
        let (status, body) = self
            .s3_call(
                Method::DELETE,
                &key,
                &[("uploadId", &upload.upload_id)],
                None,
            )
            .await?;
        match status {
            200 | 204 | 404 => Ok(()),
            _ => Err(Self::refused("AbortMultipartUpload", status, &body)),
        }
    }
}

/// Whether S3 refused to complete because of the parts the client sent (one re-sent or replaced
/// since they were listed, one too small): the client's doing, which a new batch sorts out.
fn parts_changed(body: &str) -> bool {
    [
        "InvalidPart",
        "InvalidPartOrder",
        "EntityTooSmall",
        "NoSuchUpload",
    ]
    .iter()
    .any(|code| body.contains(&format!("<Code>{code}</Code>")))
}

/// `text` escaped for an XML element's content.
fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_caused_completion_errors_are_told_apart() {
        let error = |code: &str| format!("<Error><Code>{code}</Code><Message>m</Message></Error>");
        assert!(parts_changed(&error("InvalidPart")));
        assert!(parts_changed(&error("EntityTooSmall")));
        assert!(!parts_changed(&error("InternalError")));
        assert!(!parts_changed(&error("AccessDenied")));
        assert!(!parts_changed(
            "<Error><Code>InvalidPartNumber</Code></Error>"
        ));
    }
}
