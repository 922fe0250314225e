//! The S3 operations the gateway answers, each the gate and one domain call
//! (`strata_core::compat::s3`): buckets, listings and reads here (ranges, conditional requests);
//! puts, multipart uploads, deletes and copies in `writes.rs`. Anything else answers
//! `NotImplemented`.

use bytes::Bytes;
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use strata_core::auth::{Action, Principal};
use strata_core::compat::s3::objects::{self, Content, Written};
use strata_core::compat::s3::{self as gateway, ListQuery, Located};
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
        let (_, gated, at) = self.file(req, bucket, key, Action::Read).await?;
        let found = objects::read(&self.state, &gated, &at)
            .await
            .map_err(|e| s3_err(req, Missing::Key, e))?;
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
            let stored = objects::ingest(
                &self.state,
                gated,
                futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(data))]),
            )
            .await
            .map_err(|e| s3_err(req, Missing::Key, e))?;
            return Ok(Written::Stored(stored.0, stored.1));
        }
        let (oid, size) = objects::ingest(&self.state, gated, body)
            .await
            .map_err(|e| s3_err(req, Missing::Key, e))?;
        Ok(Written::Stored(oid, size))
    }
}

/// One page of a listing (V1 and V2 alike), its keys encoded as the client asked.
struct Page {
    contents: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
    next: Option<String>,
    max_keys: i32,
}

impl Gateway {
    #[allow(clippy::too_many_arguments)]
    async fn page<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        prefix: &Option<String>,
        delimiter: &Option<String>,
        after: Option<String>,
        max_keys: Option<i32>,
        encoding: Option<&EncodingType>,
    ) -> S3Result<(Page, Encode)> {
        let (_, gated) = self.open(req, bucket, Action::Read).await?;
        let q = ListQuery {
            prefix: prefix.clone().unwrap_or_default(),
            delimiter: delimiter.clone(),
            after,
            max_keys: max_keys.unwrap_or(1000).max(0) as usize,
        };
        let listed_page = gateway::list(&self.state, &gated, &q)
            .await
            .map_err(|e| s3_err(req, Missing::Bucket, e))?;
        let e = Encode::of(encoding);
        let page = Page {
            contents: listed_page
                .objects
                .into_iter()
                .map(|l| listed(l, e))
                .collect(),
            prefixes: listed_page
                .prefixes
                .into_iter()
                .map(|p| CommonPrefix {
                    prefix: Some(e.key(p)),
                })
                .collect(),
            next: listed_page.next,
            max_keys: q.max_keys as i32,
        };
        Ok((page, e))
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
        let i = &req.input;
        let after = i
            .continuation_token
            .clone()
            .or_else(|| i.start_after.clone());
        let (page, e) = self
            .page(
                &req,
                &i.bucket,
                &i.prefix,
                &i.delimiter,
                after,
                i.max_keys,
                i.encoding_type.as_ref(),
            )
            .await?;
        let input = req.input;
        Ok(S3Response::new(ListObjectsV2Output {
            key_count: Some((page.contents.len() + page.prefixes.len()) as i32),
            max_keys: Some(page.max_keys),
            is_truncated: Some(page.next.is_some()),
            contents: Some(page.contents),
            common_prefixes: Some(page.prefixes),
            continuation_token: input.continuation_token,
            next_continuation_token: page.next,
            delimiter: input.delimiter.map(|d| e.key(d)),
            encoding_type: input.encoding_type,
            name: Some(input.bucket),
            prefix: input.prefix.map(|p| e.key(p)),
            start_after: input.start_after.map(|a| e.key(a)),
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let i = &req.input;
        let (page, e) = self
            .page(
                &req,
                &i.bucket,
                &i.prefix,
                &i.delimiter,
                i.marker.clone(),
                i.max_keys,
                i.encoding_type.as_ref(),
            )
            .await?;
        let input = req.input;
        Ok(S3Response::new(ListObjectsOutput {
            max_keys: Some(page.max_keys),
            is_truncated: Some(page.next.is_some()),
            contents: Some(page.contents),
            common_prefixes: Some(page.prefixes),
            next_marker: page.next.map(|m| e.key(m)),
            marker: input.marker.map(|m| e.key(m)),
            delimiter: input.delimiter.map(|d| e.key(d)),
            encoding_type: input.encoding_type,
            name: Some(input.bucket),
            prefix: input.prefix.map(|p| e.key(p)),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let i = &req.input;
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
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(size as i64),
            e_tag: Some(etag(&found.etag)),
            last_modified: Some(time(found.modified)),
            content_type: Some(crate::http::download::content_type_of(&i.key).to_owned()),
            accept_ranges: Some("bytes".into()),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let i = &req.input;
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

/// Whether a listing's keys go out URL-encoded (`encoding-type=url`, which botocore asks for and
/// decodes: a `+` or a `%` in a key would otherwise come back as another key).
#[derive(Clone, Copy)]
struct Encode(bool);

impl Encode {
    fn of(t: Option<&EncodingType>) -> Encode {
        Encode(t.is_some_and(|t| t.as_str().eq_ignore_ascii_case("url")))
    }

    fn key(self, k: String) -> String {
        if !self.0 {
            return k;
        }
        k.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }
}

fn listed(l: gateway::Listed, e: Encode) -> Object {
    Object {
        key: Some(e.key(l.key)),
        size: Some(l.size as i64),
        e_tag: Some(etag(&l.etag)),
        last_modified: Some(time(l.modified)),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        ..Default::default()
    }
}
