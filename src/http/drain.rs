//! Refusals that leave a request body unread: the body is read (up to [`MAX_DRAIN`] bytes) before
//! the answer goes out, so a client still sending it (DVC's HTTP remote POSTing a file, a `curl
//! -T` to the wrong URL) reads the answer instead of a broken pipe; past that (or 30 seconds),
//! the connection ends with the answer. HTTP/2 requests and those waiting for `100 Continue`
//! are left alone: nothing of theirs is in the way. A DVC HTTP remote's URLs (`…/files/md5/…`) get an answer that says where
//! DVC's data goes instead.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Body as _, Frame, SizeHint};

use crate::http::error::ApiError;

/// The most bytes of a refused request's body read before answering.
pub const MAX_DRAIN: u64 = 64 << 20;
/// The longest a refused request's body is read for.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// A request body the layer can take back after the handler answered.
struct Shared(Arc<Mutex<Option<Body>>>);

impl hyper::body::Body for Shared {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<bytes::Bytes>, axum::Error>>> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match slot.as_mut() {
            Some(body) => std::pin::Pin::new(body).poll_frame(cx),
            // Taken back after the answer: whoever still reads it must not see a clean end.
            None => std::task::Poll::Ready(Some(Err(axum::Error::new(
                "the request was answered before its body was read",
            )))),
        }
    }

    fn is_end_stream(&self) -> bool {
        let slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().map(|b| b.size_hint()).unwrap_or_default()
    }
}

pub async fn layer(req: Request, next: Next) -> Response {
    let dvc = req.uri().path().contains("/files/md5/");
    let slot = Arc::new(Mutex::new(None));
    // Nothing to drain: no body; HTTP/2 (a stream is reset, the connection lives on); a client
    // that waits for `100 Continue` (reading would invite the very upload that was refused).
    let expects = req.headers().contains_key(header::EXPECT);
    let req =
        if req.body().is_end_stream() || expects || req.version() >= axum::http::Version::HTTP_2 {
            req
        } else {
            let (parts, body) = req.into_parts();
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(body);
            Request::from_parts(parts, Body::new(Shared(slot.clone())))
        };
    let mut response = next.run(req).await;
    if response.status().is_success() || response.status().is_redirection() {
        return response;
    }
    if dvc
        && matches!(
            response.status(),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        )
    {
        response = ApiError::new(
            response.status(),
            "strata is not a DVC HTTP remote: point DVC's S3 remote at strata's S3 gateway \
             (url s3://{namespace}.{dataset}/main/{folder}, endpointurl the gateway's address; \
             see docs/clients.md)",
        )
        .into_response();
    }
    let left = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(mut body) = left {
        let drain = async {
            let mut read = 0u64;
            while read <= MAX_DRAIN {
                match std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
                {
                    Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len() as u64),
                    Some(Err(_)) | None => return true,
                }
            }
            false
        };
        if let Ok(true) = tokio::time::timeout(DRAIN_TIME, drain).await {
            return response;
        }
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
