//! The S3 gateway's listings (`ops.rs` routes them here): `ListObjectsV2` and `ListObjects`,
//! one page of `strata_core::compat::s3::list` each, its keys encoded as the client asked.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};
use strata_core::auth::Action;
use strata_core::compat::s3::{self as gateway, ListQuery};

use super::ops::{etag, time, Gateway};
use super::{s3_err, Missing};

/// One page of a listing (V1 and V2 alike), its keys encoded as the client asked.
struct Page {
    contents: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
    next: Option<String>,
    max_keys: i32,
}

impl Gateway {
    pub(super) async fn list_v2(
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

    pub(super) async fn list_v1(
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
