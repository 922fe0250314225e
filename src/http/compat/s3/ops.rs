//! The S3 operations the gateway answers, each the gate and one domain call
//! (`strata_core::compat::s3`): buckets and reads here (ranges, conditional requests, `response-*`
//! overrides on signed requests only, bytes confined as the main port's downloads are);
//! listings in `listing.rs`; bucket creation, puts, multipart uploads, deletes and copies in
//! `writes.rs`. Anything else answers `NotImplemented`.

use bytes::Bytes;
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use strata_core::auth::{Action, Principal};
use strata_core::compat::iceberg;
use strata_core::compat::s3::objects::{self, Content, Written};
use strata_core::compat::s3::{self as gateway, Located};
use strata_core::datasets::gate::Gated;
use strata_core::storage::Read;

use super::{principal, s3_err, Missing};
use crate::http::state::AppState;

pub struct Gateway {
    pub state: AppState,
}

pub(super) fn time(secs: i64) -> Timestamp {
    Timestamp::from(
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

pub(super) fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_owned())
}

/// Whether `cond` (an `If-Match` or `If-None-Match`) names `value`.
pub(super) fn matches(cond: &ETagCondition, value: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == value,
    }
}

/// The user id behind a write (anonymous callers never write).
pub(super) fn writer<T>(req: &S3Request<T>, who: &Principal) -> S3Result<i64> {
    match who {
        Principal::User { user, .. } => Ok(user.id),
        _ => Err(s3_err(
            req,
            Missing::Key,
            strata_core::error::Error::forbidden("sign your request: anonymous callers only read"),
        )),
    }
}

/// A body stream that is `Sync` (as `s3s` wants), fed from one that need not be.
pub(super) fn blob<S, E>(body: S) -> StreamingBlob
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    use futures_util::StreamExt;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut body = std::pin::pin!(body);
        while let Some(item) = body.next().await {
            let item = item.map_err(|e| std::io::Error::other(e.to_string()));
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    StreamingBlob::wrap(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

impl Gateway {
    /// The caller and the dataset of `bucket`, through the gate for `action`.
    pub(super) async fn open<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        action: Action,
    ) -> S3Result<(Principal, Gated)> {
        let who = principal(&self.state, req).await?;
        let gated = gateway::open(&self.state, &who, bucket, action)
            .await
            .map_err(|e| s3_err(req, Missing::Bucket, e))?;
        Ok((who, gated))
    }

    /// The file `key` names, for `action`.
    pub(super) async fn file<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        key: &str,
        action: Action,
    ) -> S3Result<(Principal, Gated, Located)> {
        let (who, gated) = self.open(req, bucket, action).await?;
        let at = gateway::locate_file(&self.state, &gated, key)
            .await
            .map_err(|e| s3_err(req, Missing::Key, e))?;
        if action == Action::Write {
            objects::check_write(&gated, &at).map_err(|e| s3_err(req, Missing::Key, e))?;
        }
        Ok((who, gated, at))
    }

    /// What a read of `key` finds, after `If-Match`/`If-None-Match`.
    pub(super) async fn found<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        key: &str,
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
    ) -> S3Result<objects::Found> {
        let found = if key.starts_with(iceberg::files::ROOT) {
            // A file an Iceberg catalog's load named: made for its caller again.
            let who = super::iceberg_caller(&self.state, req, bucket, key).await?;
            let gated = gateway::open(&self.state, &who, bucket, Action::Read)
                .await
                .map_err(|e| s3_err(req, Missing::Bucket, e))?;
            iceberg::files::read(&self.state, &gated, key)
                .await
                .map_err(|e| s3_err(req, Missing::Key, e))?
        } else {
            let (_, gated, at) = self.file(req, bucket, key, Action::Read).await?;
            objects::read(&self.state, &gated, &at)
                .await
                .map_err(|e| s3_err(req, Missing::Key, e))?
        };
        if if_match.is_some_and(|c| !matches(c, &found.etag)) {
            return Err(s3_error!(PreconditionFailed));
        }
        if if_none_match.is_some_and(|c| matches(c, &found.etag)) {
            let mut e = S3Error::new(S3ErrorCode::NotModified);
            e.set_status_code(hyper::StatusCode::NOT_MODIFIED);
            return Err(e);
        }
        Ok(found)
    }

    /// Stores a put's body: small text whole (kept in git), anything else as an object.
    pub(super) async fn store<T>(
        &self,
        req: &S3Request<T>,
        gated: &Gated,
        at: &Located,
        body: Option<StreamingBlob>,
        length: Option<i64>,
    ) -> S3Result<Written> {
        use futures_util::StreamExt;
        let body = body.unwrap_or_else(|| {
            blob(futures_util::stream::empty::<Result<Bytes, std::io::Error>>())
        });
        let small = length.is_some_and(|l| (0..=objects::MAX_INLINE as i64).contains(&l));
        if small && objects::inline(&at.path, b"", 0) {
            let mut data = Vec::new();
            let mut body = body;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| s3_error!(IncompleteBody, "{e}"))?;
                data.extend_from_slice(&chunk);
                if data.len() as u64 > objects::MAX_INLINE {
                    return Err(s3_error!(EntityTooLarge));
                }
            }
            if objects::inline(&at.path, &data, data.len() as u64) {
                return Ok(Written::Inline(data));
            }
            return objects::ingest(
                &self.state,
                gated,
                futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(data))]),
            )
            .await
            .map_err(|e| s3_err(req, Missing::Key, e));
        }
        objects::ingest(&self.state, gated, body)
            .await
            .map_err(|e| s3_err(req, Missing::Key, e))
    }
}

/// The range header `s3s` parsed, as storage reads it.
fn range_header(range: Option<&Range>) -> Option<String> {
    range.map(|r| match r {
        Range::Int {
            first,
            last: Some(last),
        } => format!("bytes={first}-{last}"),
        Range::Int { first, last: None } => format!("bytes={first}-"),
        Range::Suffix { length } => format!("bytes=-{length}"),
    })
}

/// Whether a read asks for `response-*` overrides (`response-content-type`, `-disposition`, …).
macro_rules! asks_overrides {
    ($input:expr) => {
        $input.response_cache_control.is_some()
            || $input.response_content_disposition.is_some()
            || $input.response_content_encoding.is_some()
            || $input.response_content_language.is_some()
            || $input.response_content_type.is_some()
            || $input.response_expires.is_some()
    };
}

/// Refuses `response-*` overrides on an unsigned request, as S3 does (`InvalidRequest`): a link
/// anybody can make never chooses how a browser shows strata's bytes. Signed ones (presigned
/// URLs included) are honoured, and [`confine`]d.
fn check_overrides<T>(req: &S3Request<T>, asked: bool) -> S3Result<()> {
    if asked && req.credentials.is_none() {
        return Err(s3_error!(
            InvalidRequest,
            "Request specific response headers cannot be used for anonymous GET requests: \
             sign the request (or presign its URL) to use response-content-type and the others"
        ));
    }
    Ok(())
}

/// The headers that keep the bytes of `key` from acting as a page of strata's origin
/// ([`crate::http::download::confine`]), for the content type the answer has: `asked` (a signed
/// `response-content-type`) or the key's by its extension.
fn confine(key: &str, asked: Option<&str>) -> hyper::HeaderMap {
    let shown = asked.unwrap_or_else(|| crate::http::download::content_type_of(key));
    let mut headers = hyper::HeaderMap::new();
    crate::http::download::confine(&mut headers, shown, key);
    headers
}

/// The message of a write (`x-amz-meta-message`), if the client gave one.
pub(super) fn message(metadata: Option<&Metadata>) -> Option<String> {
    metadata
        .and_then(|m| m.get("message").cloned())
        .filter(|m| !m.trim().is_empty())
}

#[async_trait::async_trait]
impl S3 for Gateway {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let who = principal(&self.state, &req).await?;
        let buckets = gateway::buckets(&self.state, &who)
            .await
            .map_err(|e| s3_err(&req, Missing::Bucket, e))?;
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(
                buckets
                    .into_iter()
                    .map(|b| Bucket {
                        creation_date: Some(time(b.created_at)),
                        name: Some(b.name),
                        bucket_region: None,
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.open(&req, &req.input.bucket, Action::Read).await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.make_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.open(&req, &req.input.bucket, Action::Read).await?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.list_v2(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.list_v1(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let i = &req.input;
        check_overrides(&req, asks_overrides!(i))?;
        let found = self
            .found(
                &req,
                &i.bucket,
                &i.key,
                i.if_match.as_ref(),
                i.if_none_match.as_ref(),
            )
            .await?;
        let size = match found.content {
            Content::Object { size, .. } => size,
            Content::Inline(ref d) => d.len() as u64,
            // A governed view's size is known once it is read.
            Content::Governed(mut rx) => {
                let mut n = 0u64;
                while let Some(chunk) = rx.recv().await {
                    n += objects::chunk_bytes(chunk)
                        .map_err(|e| s3_error!(InternalError, "{e}"))?
                        .len() as u64;
                }
                n
            }
        };
        let mut response = S3Response::new(HeadObjectOutput {
            content_length: Some(size as i64),
            e_tag: Some(etag(&found.etag)),
            last_modified: Some(time(found.modified)),
            content_type: Some(crate::http::download::content_type_of(&i.key).to_owned()),
            accept_ranges: Some("bytes".into()),
            ..Default::default()
        });
        response.headers = confine(&i.key, i.response_content_type.as_deref());
        Ok(response)
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let i = &req.input;
        check_overrides(&req, asks_overrides!(i))?;
        let found = self
            .found(
                &req,
                &i.bucket,
                &i.key,
                i.if_match.as_ref(),
                i.if_none_match.as_ref(),
            )
            .await?;
        let content_type = Some(crate::http::download::content_type_of(&i.key).to_owned());
        let mut out = GetObjectOutput {
            e_tag: Some(etag(&found.etag)),
            last_modified: Some(time(found.modified)),
            content_type,
            accept_ranges: Some("bytes".into()),
            ..Default::default()
        };
        match found.content {
            Content::Object { place, oid, .. } => {
                let range = range_header(i.range.as_ref());
                let read = self
                    .state
                    .storage
                    .read(place, &oid, range.as_deref())
                    .await
                    .map_err(|e| s3_err(&req, Missing::Key, e))?;
                match read {
                    None => {
                        return Err(s3_error!(
                            InternalError,
                            "the object is missing from storage"
                        ))
                    }
                    Some(Read::Unsatisfiable { len }) => {
                        return Err(s3_error!(
                            InvalidRange,
                            "range not satisfiable: the object has {len} bytes"
                        ))
                    }
                    Some(Read::Found { object, partial }) => {
                        out.content_length = Some(object.count as i64);
                        if partial {
                            out.content_range = Some(format!(
                                "bytes {}-{}/{}",
                                object.start,
                                object.start + object.count - 1,
                                object.len
                            ));
                        }
                        out.body = Some(blob(object.body));
                    }
                }
            }
            Content::Inline(data) => {
                let len = data.len() as u64;
                let span = match &i.range {
                    None => 0..len,
                    Some(r) => r.check(len).map_err(|_| {
                        s3_error!(
                            InvalidRange,
                            "range not satisfiable: the file has {len} bytes"
                        )
                    })?,
                };
                if i.range.is_some() {
                    out.content_range = Some(format!(
                        "bytes {}-{}/{len}",
                        span.start,
                        span.end.saturating_sub(1)
                    ));
                }
                let part = Bytes::from(data).slice(span.start as usize..span.end as usize);
                out.content_length = Some(part.len() as i64);
                out.body = Some(blob(futures_util::stream::iter([Ok::<_, std::io::Error>(
                    part,
                )])));
            }
            Content::Governed(mut rx) => {
                if i.range.is_some() {
                    return Err(s3_error!(
                        InvalidRange,
                        "a governed table is read whole: its view depends on who reads it"
                    ));
                }
                let chunks = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
                use futures_util::StreamExt;
                out.body = Some(blob(chunks.map(objects::chunk_bytes)));
            }
        }
        let mut response = S3Response::new(out);
        if i.range.is_some() {
            response.status = Some(hyper::StatusCode::PARTIAL_CONTENT);
        }
        // Applied after `s3s` applies the overrides: a signed `response-content-disposition` of
        // an active type is an attachment all the same.
        response.headers = confine(&i.key, i.response_content_type.as_deref());
        Ok(response)
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.put(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.delete(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.delete_many(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.copy(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.start_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.part(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.parts(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.complete(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.abort(req).await
    }
}
