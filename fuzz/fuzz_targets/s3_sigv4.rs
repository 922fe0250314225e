//! Requests to the S3 gateway as anyone may send them: s3s (which strata's gateway is built on)
//! reads the SigV4 `Authorization` header, presigned query strings (SigV4 and SigV2), the
//! `x-amz-*` headers and `aws-chunked` bodies with their chunk signatures; then strata's own rule
//! on presigned URLs' lifetimes (`strata_core::compat::s3::presigned_too_long`). Every request is
//! answered (2xx or an S3 error), none panics, and a request signed with a wrong key is never
//! let through.
//!
//! The input: a method byte, then `path?query`, header lines `name: value`, an empty line, and
//! the body.
#![no_main]

use std::sync::OnceLock;

use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::SimpleAuth;
use s3s::dto::{PutObjectInput, PutObjectOutput};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};

/// The one key the gateway knows here.
const ACCESS_KEY: &str = "stp_0123456789abcdef";
const SECRET_KEY: &str = "stp_0123456789abcdef0123456789abcdef0123456789abcd";

/// An object store that reads every body it is given to the end (so chunk signatures are
/// checked) and keeps nothing.
struct Sink;

#[async_trait::async_trait]
impl S3 for Sink {
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        // Only a request that proved the key reaches here, or an anonymous one.
        if let Some(c) = &req.credentials {
            assert_eq!(c.access_key, ACCESS_KEY);
        }
        if let Some(mut body) = req.input.body {
            while let Some(chunk) = body.next().await {
                chunk.map_err(|e| s3_error!(InvalidRequest, "{e}"))?;
            }
        }
        Ok(S3Response::new(PutObjectOutput::default()))
    }
}

/// strata's rule on presigned URLs, as its gateway applies it.
struct Lifetimes;

#[async_trait::async_trait]
impl S3Access for Lifetimes {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let query = cx.uri().query().unwrap_or("");
        if strata_core::compat::s3::presigned_too_long(query, 1_700_000_000) {
            return Err(s3_error!(
                AccessDenied,
                "a presigned URL lives at most 7 days"
            ));
        }
        Ok(())
    }
}

fn service() -> &'static (tokio::runtime::Runtime, S3Service) {
    static SERVICE: OnceLock<(tokio::runtime::Runtime, S3Service)> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let mut b = S3ServiceBuilder::new(Sink);
        b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        b.set_access(Lifetimes);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        (runtime, b.build())
    })
}

/// The request `data` describes, if it is one `http` can hold.
fn request(data: &[u8]) -> Option<http::Request<s3s::Body>> {
    let (&method, rest) = data.split_first()?;
    let method = ["GET", "PUT", "POST", "HEAD", "DELETE"][usize::from(method) % 5];
    let split = rest.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(i) => (&rest[..i], rest[i + 2..].to_vec()),
        None => (rest, Vec::new()),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.lines();
    let target = lines.next()?;
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:9000{target}"))
        .header("host", "127.0.0.1:9000");
    for line in lines {
        let (name, value) = line.split_once(':')?;
        b = b.header(name.trim(), value.trim());
    }
    b.body(s3s::Body::from(body)).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some(req) = request(data) else {
        return;
    };
    let (runtime, service) = service();
    let answer = runtime.block_on(service.call(req));
    if let Ok(resp) = answer {
        assert!(
            !resp.status().is_server_error() || resp.status() == 501,
            "{resp:?}"
        );
    }
});
