//! The S3 gateway's writes (`ops.rs` routes them here): bucket creation (a dataset), puts,
//! multipart uploads, deletes and copies, each the write gate and one domain call
//! (`strata_core::compat::s3`). Every ETag answered is S3's (`strata_core::compat::s3::etags`).

use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use strata_core::auth::Action;
use strata_core::compat::s3::objects::{self, Content, Written};
use strata_core::compat::s3::{self as gateway, uploads, MadeBucket};
use strata_core::error::Kind;
use strata_core::storage::{Place, Read};

use super::ops::{blob, etag, message, time, writer, Gateway};
use super::{principal, s3_err, Missing};

impl Gateway {
    /// `CreateBucket`: a new dataset where the caller may make one; S3's answers for a bucket
    /// that exists (`BucketAlreadyOwnedByYou` when the caller may write it, which clients that
    /// create a bucket before uploading take as done).
    pub(super) async fn make_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let who = principal(&self.state, &req).await?;
        let bucket = req.input.bucket.clone();
        let public = req.input.acl.as_ref().is_some_and(|acl| {
            matches!(
                acl.as_str(),
                BucketCannedACL::PUBLIC_READ | BucketCannedACL::PUBLIC_READ_WRITE
            )
        });
        let made = gateway::create_bucket(&self.state, &who, &bucket, public)
            .await
            .map_err(|e| match e.kind {
                Kind::Invalid => S3Error::with_message(S3ErrorCode::InvalidBucketName, e.message),
                _ => s3_err(&req, Missing::Bucket, e),
            })?;
        match made {
            MadeBucket::Created => Ok(S3Response::new(CreateBucketOutput {
                location: Some(format!("/{bucket}")),
            })),
            MadeBucket::Yours => Err(s3_error!(
                BucketAlreadyOwnedByYou,
                "bucket {bucket:?} is a dataset you may write already"
            )),
            MadeBucket::Taken => Err(s3_error!(
                BucketAlreadyExists,
                "bucket {bucket:?} is a dataset you may not write: pick another name"
            )),
        }
    }

    pub(super) async fn put(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        if key.starts_with(strata_core::compat::iceberg::files::ROOT) {
            return self.stage(req).await;
        }
        // A folder marker (`main/data/`, empty): folders exist while files are in them.
        if key.ends_with('/') && req.input.content_length.unwrap_or(0) == 0 {
            let (who, _) = self.open(&req, &bucket, Action::Write).await?;
            writer(&req, &who)?;
            return Ok(S3Response::new(PutObjectOutput::default()));
        }
        let (who, gated, at) = self.file(&req, &bucket, &key, Action::Write).await?;
        writer(&req, &who)?;
        // Conditional writes: checked before the commit (a write that lands in between wins).
        let (if_match, if_none) = (&req.input.if_match, &req.input.if_none_match);
        if if_match.is_some() || if_none.is_some() {
            let current = objects::read(&self.state, &gated, &at).await;
            let fails = match (&current, if_match, if_none) {
                (Ok(_), _, Some(_)) => true,
                (Ok(f), Some(c), None) => !super::ops::matches(c, &f.etag),
                (Err(e), Some(_), _) if e.kind == strata_core::error::Kind::NotFound => true,
                (Err(e), ..) if e.kind != strata_core::error::Kind::NotFound => {
                    return Err(s3_err(
                        &req,
                        Missing::Key,
                        strata_core::error::Error::new(e.kind, e.message.clone()),
                    ));
                }
                _ => false,
            };
            if fails {
                return Err(s3_error!(PreconditionFailed));
            }
        }
        strata_core::quotas::check(
            &self.state,
            &gated,
            None,
            req.input.content_length.unwrap_or(0).max(0) as u64,
        )
        .await
        .map_err(|e| s3_err(&req, Missing::Key, e))?;
        let mut req = req;
        let body = req.input.body.take();
        let written = self
            .store(&req, &gated, &at, body, req.input.content_length)
            .await?;
        let msg = message(req.input.metadata.as_ref());
        let put = objects::put(&self.state, &who, &gated, &at, written, msg)
            .await
            .map_err(|e| s3_err(&req, Missing::Key, e))?;
        let output = PutObjectOutput {
            e_tag: Some(etag(&put.etag)),
            ..Default::default()
        };
        Ok(at_revision(output, &put.revision))
    }

    pub(super) async fn delete(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        if key.starts_with(strata_core::compat::iceberg::files::ROOT) {
            return self.unstage(req).await;
        }
        let (who, gated, at) = self.file(&req, &bucket, &key, Action::Write).await?;
        writer(&req, &who)?;
        objects::delete(&self.state, &who, &gated, &at.rev, vec![at.path])
            .await
            .map_err(|e| s3_err(&req, Missing::Key, e))?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    pub(super) async fn delete_many(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let bucket = req.input.bucket.clone();
        let (who, gated) = self.open(&req, &bucket, Action::Write).await?;
        writer(&req, &who)?;
        let refs = gateway::refs(&self.state, &gated)
            .await
            .map_err(|e| s3_err(&req, Missing::Bucket, e))?;
        let mut errors = Vec::new();
        // One commit per branch named: `(branch, [(key, path)])`.
        let mut batches: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for o in &req.input.delete.objects {
            let refused = |code: &str, message: String| Error {
                code: Some(code.to_owned()),
                key: Some(o.key.clone()),
                message: Some(message),
                version_id: None,
            };
            match gateway::locate(&refs, &o.key, gated.limited()) {
                Some(at) if !at.path.is_empty() => match objects::check_write(&gated, &at) {
                    Ok(()) => match batches.iter_mut().find(|(b, _)| *b == at.rev) {
                        Some((_, keys)) => keys.push((o.key.clone(), at.path)),
                        None => batches.push((at.rev, vec![(o.key.clone(), at.path)])),
                    },
                    Err(e) => errors.push(refused("AccessDenied", e.message)),
                },
                _ => errors.push(refused(
                    "NoSuchKey",
                    "keys are {branch}/{path}, of a branch of the dataset".into(),
                )),
            }
        }
        let mut deleted = Vec::new();
        for (branch, keys) in batches {
            let paths = keys.iter().map(|(_, p)| p.clone()).collect();
            match objects::delete(&self.state, &who, &gated, &branch, paths).await {
                Ok(_) => deleted.extend(keys.into_iter().map(|(key, _)| DeletedObject {
                    key: Some(key),
                    ..Default::default()
                })),
                Err(e) => errors.extend(keys.into_iter().map(|(key, _)| Error {
                    code: Some("OperationAborted".into()),
                    key: Some(key),
                    message: Some(e.message.clone()),
                    version_id: None,
                })),
            }
        }
        let quiet = req.input.delete.quiet.unwrap_or(false);
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: (!quiet).then_some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }

    pub(super) async fn copy(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let (src_bucket, src_key) = match &req.input.copy_source {
            CopySource::Bucket { bucket, key, .. } => (bucket.to_string(), key.to_string()),
            _ => {
                return Err(s3_error!(
                    NotImplemented,
                    "copy from a bucket of this gateway"
                ))
            }
        };
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let (who, gated, at) = self.file(&req, &bucket, &key, Action::Write).await?;
        writer(&req, &who)?;
        let found = self.found(&req, &src_bucket, &src_key, None, None).await?;
        let written = match found.content {
            // The dataset's own object keeps its ETag.
            Content::Object { place, oid, size } if place == Place::Dataset(gated.id) => {
                Written::Stored {
                    oid,
                    size,
                    etag: None,
                }
            }
            Content::Inline(d) => Written::Inline(d),
            // Another dataset's bytes (or a governed view) are copied through, hashed again.
            content => {
                let body = match content {
                    Content::Object { place, oid, .. } => {
                        match self.state.storage.read(place, &oid, None).await {
                            Ok(Some(Read::Found { object, .. })) => blob(object.body),
                            _ => {
                                return Err(s3_error!(
                                    InternalError,
                                    "the source object is missing from storage"
                                ))
                            }
                        }
                    }
                    Content::Governed(mut rx) => {
                        use futures_util::StreamExt;
                        blob(
                            futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
                                .map(objects::chunk_bytes),
                        )
                    }
                    Content::Inline(_) => unreachable!("handled above"),
                };
                objects::ingest(&self.state, &gated, body)
                    .await
                    .map_err(|e| s3_err(&req, Missing::Key, e))?
            }
        };
        let msg = Some(
            message(req.input.metadata.as_ref())
                .unwrap_or_else(|| format!("Copy {src_key} to {}", at.path)),
        );
        let put = objects::put(&self.state, &who, &gated, &at, written, msg)
            .await
            .map_err(|e| s3_err(&req, Missing::Key, e))?;
        let output = CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&put.etag)),
                last_modified: Some(time(strata_core::db::now())),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok(at_revision(output, &put.revision))
    }

    pub(super) async fn start_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let (who, gated, _) = self.writable(&req, &bucket, &key).await?;
        let user = writer(&req, &who)?;
        let id = uploads::create(&self.state, &gated, &key, user)
            .await
            .map_err(|e| s3_err(&req, Missing::Upload, e))?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(bucket),
            key: Some(key),
            upload_id: Some(id),
            ..Default::default()
        }))
    }

    pub(super) async fn part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let (who, gated, _) = self.writable(&req, &bucket, &key).await?;
        let user = writer(&req, &who)?;
        let mut req = req;
        let body = req
            .input
            .body
            .take()
            .ok_or_else(|| s3_error!(IncompleteBody))?;
        let tag = uploads::part(
            &self.state,
            &gated,
            &key,
            &req.input.upload_id,
            user,
            req.input.part_number,
            body,
        )
        .await
        .map_err(|e| s3_err(&req, Missing::Upload, e))?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(etag(&tag)),
            ..Default::default()
        }))
    }

    pub(super) async fn parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let (who, gated, _) = self.writable(&req, &bucket, &key).await?;
        let user = writer(&req, &who)?;
        let parts = uploads::parts(&self.state, &gated, &key, &req.input.upload_id, user)
            .await
            .map_err(|e| s3_err(&req, Missing::Upload, e))?;
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(bucket),
            key: Some(key),
            upload_id: Some(req.input.upload_id.clone()),
            is_truncated: Some(false),
            parts: Some(
                parts
                    .into_iter()
                    .map(|(n, tag, size)| Part {
                        part_number: Some(n),
                        e_tag: Some(etag(&tag)),
                        size: Some(size as i64),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(super) async fn complete(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let (who, gated, at) = self.writable(&req, &bucket, &key).await?;
        let user = writer(&req, &who)?;
        let named: Vec<(i32, String)> = req
            .input
            .multipart_upload
            .as_ref()
            .and_then(|m| m.parts.as_ref())
            .map(|parts| {
                parts
                    .iter()
                    .map(|p| {
                        let tag = p
                            .e_tag
                            .as_ref()
                            .map(|e| e.value().to_owned())
                            .unwrap_or_default();
                        (p.part_number.unwrap_or(0), tag)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let written = uploads::complete(
            &self.state,
            &gated,
            &key,
            &req.input.upload_id,
            user,
            &named,
        )
        .await
        .map_err(|e| s3_err(&req, Missing::Upload, e))?;
        let Some(at) = at else {
            // A file staged for an Iceberg commit: recorded, in no revision.
            let tag =
                strata_core::compat::iceberg::staged::record(&self.state, &gated, &key, written)
                    .await
                    .map_err(|e| s3_err(&req, Missing::Key, e))?;
            let _ = uploads::forget(&self.state, &gated, &key, &req.input.upload_id, user).await;
            return Ok(S3Response::new(CompleteMultipartUploadOutput {
                bucket: Some(bucket),
                key: Some(key),
                e_tag: Some(etag(&tag)),
                ..Default::default()
            }));
        };
        let put = objects::put(&self.state, &who, &gated, &at, written, None)
            .await
            .map_err(|e| s3_err(&req, Missing::Key, e))?;
        let _ = uploads::forget(&self.state, &gated, &key, &req.input.upload_id, user).await;
        let output = CompleteMultipartUploadOutput {
            bucket: Some(bucket),
            key: Some(key),
            e_tag: Some(etag(&put.etag)),
            ..Default::default()
        };
        Ok(at_revision(output, &put.revision))
    }

    pub(super) async fn abort(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let (who, gated, _) = self.writable(&req, &bucket, &key).await?;
        let user = writer(&req, &who)?;
        uploads::abort(&self.state, &gated, &key, &req.input.upload_id, user)
            .await
            .map_err(|e| s3_err(&req, Missing::Upload, e))?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }
}

/// A write's answer with the revision it left the branch at (`x-strata-revision`: the commit it
/// made, or the branch's head when the key held these bytes already and nothing was committed).
fn at_revision<T>(output: T, revision: &str) -> S3Response<T> {
    let mut response = S3Response::new(output);
    if let Ok(v) = hyper::header::HeaderValue::from_str(revision) {
        response.headers.insert("x-strata-revision", v);
    }
    response
}
