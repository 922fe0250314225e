//! Writes under `.iceberg/{table}/`: the files an engine stages for a commit through the Iceberg
//! catalog (`strata_core::compat::iceberg::staged`), with the staging key a load hands a caller
//! who may write the dataset (or their own token's key), and deleted by them. They land in no
//! revision: the catalog's commit decides what becomes one.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};
use strata_core::auth::{Action, Principal};
use strata_core::compat::iceberg::{files::ROOT, staged};
use strata_core::compat::s3::{self as gateway, Located};
use strata_core::datasets::gate::Gated;

use super::ops::{blob, etag, writer, Gateway};
use super::{s3_err, Missing};

impl Gateway {
    /// The caller, the dataset and (for a branch's file) where a write of `key` goes: under
    /// [`ROOT`], a file staged for a commit (no place: it is in no revision).
    pub(super) async fn writable<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        key: &str,
    ) -> S3Result<(Principal, Gated, Option<Located>)> {
        if !key.starts_with(ROOT) {
            let (who, gated, at) = self.file(req, bucket, key, Action::Write).await?;
            return Ok((who, gated, Some(at)));
        }
        let who = super::iceberg_caller(&self.state, req, bucket, key).await?;
        let gated = gateway::open(&self.state, &who, bucket, Action::Write)
            .await
            .map_err(|e| s3_err(req, Missing::Key, e))?;
        writer(req, &who)?;
        staged::check_key(key).map_err(|e| s3_err(req, Missing::Key, e))?;
        Ok((who, gated, None))
    }

    /// `PutObject` under [`ROOT`]: a file staged for a commit.
    pub(super) async fn stage(
        &self,
        mut req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let (_, gated, _) = self.writable(&req, &bucket, &key).await?;
        let length = req.input.content_length.unwrap_or(0).max(0) as u64;
        let body = req.input.body.take().unwrap_or_else(|| {
            blob(futures_util::stream::empty::<
                Result<bytes::Bytes, std::io::Error>,
            >())
        });
        let tag = staged::put(&self.state, &gated, &key, length, body)
            .await
            .map_err(|e| s3_err(&req, Missing::Key, e))?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&tag)),
            ..Default::default()
        }))
    }

    /// `DeleteObject` under [`ROOT`]: a staged file the caller no longer needs (engines clean up
    /// after a failed commit); deleting what is not staged is no error, as S3's.
    pub(super) async fn unstage(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let (_, gated, _) = self.writable(&req, &bucket, &key).await?;
        staged::forget(&self.state, &gated, &[key])
            .await
            .map_err(|e| s3_err(&req, Missing::Key, e))?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }
}
