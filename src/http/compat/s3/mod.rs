//! The S3 gateway: the S3 API (through `s3s`, which parses requests and checks SigV4 and SigV2
//! signatures, presigned URLs included) on a listener of its own (`--s3-listen`), path-style:
//! `http://{gateway}/{bucket}/{key}`. A bucket is a dataset (`{ns}.{name}`), a key
//! `{branch, tag or commit}/{path}` (`strata_core::compat::s3`).
//!
//! Credentials: the access key id is a personal access token's first 20 characters, the secret
//! access key the token; the server derives the token again from the id (`auth::pat`), so SigV4
//! can be checked without storing the token, and its scopes apply to every call. Unsigned
//! requests are anonymous: they read public datasets only. Every answer carries a request id
//! (`x-amz-request-id` and `x-request-id`, and the `RequestId` of an error's body) and
//! `X-Content-Type-Options: nosniff`; the bytes of a read are confined as the main port's
//! downloads are (`crate::http::download::confine`).

mod listing;
mod ops;
mod staging;
mod writes;

use std::future::Future;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{s3_error, S3Error, S3ErrorCode, S3Result};
use strata_core::auth::{self, pat, Action, Principal};
use strata_core::compat::iceberg;
use strata_core::compat::s3;
use strata_core::error::{Error, Kind};
use tokio::net::TcpListener;

use crate::http::state::AppState;

/// The request id of one call, put in the request's extensions for the operations to name.
#[derive(Clone)]
struct RequestId(String);

/// Serves the S3 gateway for `state` on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;

    let addr = listener.local_addr()?;
    tracing::info!(%addr, "strata S3 gateway listening");
    // Where the Iceberg catalog sends engines for tables' files (unless `--s3-public-url`).
    state.core.iceberg.set_gateway(format!("http://{addr}"));
    let mut builder = s3s::service::S3ServiceBuilder::new(ops::Gateway {
        state: state.clone(),
    });
    builder.set_auth(Auth {
        state: state.clone(),
    });
    builder.set_access(Open);
    builder.set_validation(Names);
    let service = builder.build();
    let mut http = Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(state.settings.header_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "S3 gateway: accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let service = service.clone();
        let idle = state.settings.body_idle_timeout;
        let svc = hyper::service::service_fn(move |req| {
            let service = service.clone();
            async move { Ok::<_, std::convert::Infallible>(answer(&service, req, idle).await) }
        });
        let conn = http.serve_connection(TokioIo::new(tcp), svc);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(state.settings.shutdown_grace) => {}
    }
    Ok(())
}

/// One request: a request id for it, the S3 service's answer (or S3's error for a request it
/// could not answer), logged.
async fn answer(
    service: &s3s::service::S3Service,
    mut req: hyper::Request<hyper::body::Incoming>,
    timeout: std::time::Duration,
) -> hyper::Response<s3s::Body> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let id = uuid::Uuid::new_v4().to_string();
    req.extensions_mut().insert(RequestId(id.clone()));
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    // Browser form uploads (POST Object): `s3s` would hold the whole file in memory before any
    // check, and their policies are not strata's. Refused before the body is read.
    let form = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if method == hyper::Method::POST && form {
        // Read (and drop) what the client is sending, so it reads the answer, not a broken pipe.
        let mut body = req.into_body();
        let drain = async {
            use hyper::body::Body as _;
            let mut read = 0u64;
            while read <= crate::http::drain::MAX_DRAIN {
                match std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
                {
                    Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len() as u64),
                    _ => break,
                }
            }
        };
        let _ = tokio::time::timeout(timeout, drain).await;
        return refusal(
            hyper::StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "browser form uploads (POST Object) are not taken: use PutObject or a multipart upload",
            &id,
        );
    }
    let read = std::sync::Arc::new(AtomicBool::new(false));
    let has_body = !hyper::body::Body::is_end_stream(req.body());
    let req = req.map(|inner| {
        s3s::Body::http_body_unsync(Tracked {
            inner,
            read: read.clone(),
            idle: timeout,
            timer: None,
        })
    });
    let mut response = match service.call(req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = ?e, request_id = %id, "S3 gateway: unanswerable request");
            let mut r = hyper::Response::new(s3s::Body::from(format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code>\
                 <Message>the request could not be answered</Message><RequestId>{id}</RequestId></Error>"
            )));
            *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    };
    if response.status().as_u16() >= 400 {
        name_error(&mut response, &id);
    }
    let status = response.status().as_u16();
    tracing::info!(%method, %path, status, request_id = %id, "s3");
    let h = response.headers_mut();
    if let Ok(v) = hyper::header::HeaderValue::from_str(&id) {
        h.insert("x-amz-request-id", v.clone());
        h.insert("x-request-id", v);
    }
    h.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        hyper::header::HeaderValue::from_static("nosniff"),
    );
    // A body left unread (a write refused before its bytes were needed) must not be read as the
    // next request: the connection ends with this answer.
    if has_body && !read.load(Ordering::Acquire) {
        h.insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("close"),
        );
    }
    response
}

/// Gives an error `s3s` answered itself (a signature that does not match, a malformed request)
/// what strata's errors have: a message and the request id.
fn name_error(response: &mut hyper::Response<s3s::Body>, id: &str) {
    let Some(xml) = response.body().bytes() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(&xml) else {
        return;
    };
    if !text.ends_with("</Error>") || text.contains("<RequestId>") {
        return;
    }
    let mut text = text.trim_end_matches("</Error>").to_owned();
    if !text.contains("<Message>") {
        let code = text
            .split("<Code>")
            .nth(1)
            .and_then(|c| c.split("</Code>").next())
            .unwrap_or("");
        let message = match code {
            "SignatureDoesNotMatch" => {
                "the signature does not match this request: sign with a strata token as the \
                 secret access key and its first 20 characters as the access key id"
            }
            "AccessDenied" => "you may not do this",
            _ => "the request was refused",
        };
        text.push_str(&format!("<Message>{message}</Message>"));
    }
    text.push_str(&format!("<RequestId>{id}</RequestId></Error>"));
    let len = text.len();
    *response.body_mut() = s3s::Body::from(text);
    response.headers_mut().insert(
        hyper::header::CONTENT_LENGTH,
        hyper::header::HeaderValue::from(len),
    );
}

/// An S3 error answered before `s3s` sees the request; the connection ends with it.
fn refusal(
    status: hyper::StatusCode,
    code: &str,
    message: &str,
    id: &str,
) -> hyper::Response<s3s::Body> {
    tracing::info!(status = status.as_u16(), code, request_id = %id, "s3 request refused");
    let mut r = hyper::Response::new(s3s::Body::from(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>\
         <Message>{message}</Message><RequestId>{id}</RequestId></Error>"
    )));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    h.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(id) {
        h.insert("x-amz-request-id", v.clone());
        h.insert("x-request-id", v);
    }
    r
}

/// A request body that says when it was read to its end, and is cut off when it sends nothing
/// for the server's body idle timeout (a slow sender pins nothing).
struct Tracked {
    inner: hyper::body::Incoming,
    read: std::sync::Arc<std::sync::atomic::AtomicBool>,
    idle: std::time::Duration,
    /// Armed when the body is first read (not while the request waits on its checks).
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl hyper::body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>> {
        use std::future::Future;
        use std::task::Poll;
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.read.store(true, std::sync::atomic::Ordering::Release),
            Poll::Ready(Some(_)) => {
                let deadline = tokio::time::Instant::now() + self.idle;
                if let Some(t) = self.timer.as_mut() {
                    t.as_mut().reset(deadline);
                }
            }
            Poll::Pending => {
                let idle = self.idle;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the request body sent nothing for too long",
                    ))));
                }
            }
        }
        polled.map(|f| f.map(|r| r.map_err(std::io::Error::other)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Access key ids are tokens' ids; the secret is the token, derived again under the server's key.
struct Auth {
    state: AppState,
}

#[async_trait::async_trait]
impl S3Auth for Auth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if iceberg::creds::is_vended(access_key) {
            return match iceberg::creds::check(&self.state, access_key) {
                Some((_, secret)) => Ok(SecretKey::from(secret)),
                None => Err(s3_error!(
                    InvalidAccessKeyId,
                    "this Iceberg catalog key has expired or was not made here: load the table again"
                )),
            };
        }
        let key = self.state.jwt.derive(pat::PURPOSE);
        let unknown = || {
            s3_error!(
                InvalidAccessKeyId,
                "the access key id is a strata personal access token's first 20 characters \
                 (stp_ and 16 more), of a live token made for this server"
            )
        };
        let secret = pat::derive(&key, access_key).ok_or_else(unknown)?;
        match auth::authenticate(&self.state, &secret).await {
            Ok(_) => Ok(SecretKey::from(secret)),
            Err(_) => Err(unknown()),
        }
    }
}

/// Every call reaches the operations, which decide through the gates (anonymous callers too:
/// public datasets are theirs to read); only presigned URLs' lifetimes are checked here.
struct Open;

#[async_trait::async_trait]
impl s3s::access::S3Access for Open {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> S3Result<()> {
        let query = cx.uri().query().unwrap_or("");
        if s3::presigned_too_long(query, strata_core::db::now()) {
            return Err(s3_error!(
                AccessDenied,
                "a presigned URL lives at most 7 days (604800 seconds)"
            ));
        }
        Ok(())
    }
}

/// Bucket names are dataset names: letters of either case, digits, `_`, `.` and `-`.
struct Names;

impl s3s::validation::NameValidation for Names {
    fn validate_bucket_name(&self, name: &str) -> bool {
        (3..=129).contains(&name.len())
            && name.contains('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    }
}

/// The caller of a request: the token its access key names (its scopes apply), or anonymous.
async fn principal<T>(state: &AppState, req: &s3s::S3Request<T>) -> S3Result<Principal> {
    let Some(c) = &req.credentials else {
        return Ok(Principal::Anonymous);
    };
    if iceberg::creds::is_vended(&c.access_key) {
        return Err(s3_error!(
            AccessDenied,
            "an Iceberg catalog's key reaches its table's files (under .iceberg/) and nothing else"
        ));
    }
    let key = state.jwt.derive(pat::PURPOSE);
    let secret = pat::derive(&key, &c.access_key).ok_or_else(|| s3_error!(InvalidAccessKeyId))?;
    auth::authenticate(state, &secret)
        .await
        .map_err(|e| s3_error!(InvalidAccessKeyId, "{}", e.message))
}

/// The caller of a read or a staging write of `key` (under `.iceberg/`) in `bucket`: an Iceberg
/// catalog's key for that table of that dataset (a read-only key's holder may not write), or any
/// caller [`principal`] takes.
pub(super) async fn iceberg_caller<T>(
    state: &AppState,
    req: &s3s::S3Request<T>,
    bucket: &str,
    key: &str,
) -> S3Result<Principal> {
    let Some(c) = req
        .credentials
        .as_ref()
        .filter(|c| iceberg::creds::is_vended(&c.access_key))
    else {
        return principal(state, req).await;
    };
    let denied = || {
        s3_error!(
            AccessDenied,
            "this Iceberg catalog key is for another table's files"
        )
    };
    let (vended, _) = iceberg::creds::check(state, &c.access_key)
        .ok_or_else(|| s3_error!(InvalidAccessKeyId, "this Iceberg catalog key has expired"))?;
    let table = iceberg::files::table_of(key).ok_or_else(denied)?;
    if iceberg::creds::table_tag(table) != vended.table {
        return Err(denied());
    }
    let who = iceberg::creds::principal(state, &vended)
        .await
        .map_err(|e| s3_error!(InvalidAccessKeyId, "{}", e.message))?;
    // The key is for one dataset: its bucket and no other.
    let gated = strata_core::compat::s3::open(state, &who, bucket, Action::Read)
        .await
        .map_err(|_| denied())?;
    if gated.id != vended.repo_id {
        return Err(denied());
    }
    Ok(who)
}

/// What a missing thing is, for the error code a client expects.
#[derive(Clone, Copy)]
enum Missing {
    Bucket,
    Key,
    Upload,
}

/// A domain error as S3's: the code S3 clients expect for its kind, the message, the request id.
fn s3_err<T>(req: &s3s::S3Request<T>, missing: Missing, e: Error) -> S3Error {
    let code = match e.kind {
        Kind::NotFound | Kind::Gone | Kind::Moved => match missing {
            Missing::Bucket => S3ErrorCode::NoSuchBucket,
            Missing::Key => S3ErrorCode::NoSuchKey,
            Missing::Upload => S3ErrorCode::NoSuchUpload,
        },
        Kind::Unauthenticated | Kind::Forbidden => S3ErrorCode::AccessDenied,
        Kind::Conflict => S3ErrorCode::OperationAborted,
        Kind::BadRequest => S3ErrorCode::InvalidRequest,
        Kind::Invalid => S3ErrorCode::InvalidArgument,
        Kind::TooLarge | Kind::Quota => S3ErrorCode::EntityTooLarge,
        Kind::TooMany | Kind::Busy => S3ErrorCode::SlowDown,
        Kind::Upstream | Kind::Internal => S3ErrorCode::InternalError,
    };
    let mut err = S3Error::with_message(code, e.message);
    if let Some(RequestId(id)) = req.extensions.get::<RequestId>() {
        err.set_request_id(id.clone());
    }
    err
}
