//! The one HTTP error type. Every handler returns `Result<_, ApiError>`; the domain's
//! [`strata_core::error::Error`] (and through it the libraries' errors) is mapped to a status here, once.
//! The body is always `{message, request_id}`; server errors are logged once, inside the request
//! span, and answered with a generic message that leaks nothing.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::http::ctx;
use strata_core::error::{Error, Kind};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// For 401: ask for credentials (`LFS-Authenticate` / `WWW-Authenticate`).
    challenge: bool,
    /// Extra JSON fields merged into the body (e.g. the existing lock of a 409).
    extra: Option<serde_json::Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// The extra JSON fields of the body, if any.
    pub fn extra(&self) -> Option<&serde_json::Value> {
        self.extra.as_ref()
    }

    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            challenge: false,
            extra: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401 with a credentials challenge so that git and git-lfs ask their credential helpers.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError {
            challenge: true,
            ..ApiError::new(StatusCode::UNAUTHORIZED, message)
        }
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }

    /// A server-side failure: logged here with its cause, answered without it.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    }

    pub fn with_extra(mut self, extra: impl Serialize) -> ApiError {
        self.extra = serde_json::to_value(extra).ok();
        self
    }
}

/// axum's own refusals (a path, query or body its extractors cannot read, a body over the limit)
/// are plain text; on the REST API they answer `{message, request_id}` as every other error does.
pub async fn json_refusals(response: Response) -> Response {
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    if !response.status().is_client_error() || !plain {
        return response;
    }
    let status = response.status();
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    ApiError::new(status, String::from_utf8_lossy(&text).trim().to_owned()).into_response()
}

#[derive(Serialize)]
struct Body<'a> {
    message: &'a str,
    request_id: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ctx = ctx::current();
        let mut body = serde_json::to_value(Body {
            message: &self.message,
            request_id: ctx.request_id,
        })
        .unwrap_or_default();
        if let (Some(serde_json::Value::Object(extra)), serde_json::Value::Object(map)) =
            (self.extra, &mut body)
        {
            for (k, v) in extra {
                map.entry(k).or_insert(v);
            }
        }
        if self.status.is_client_error() {
            tracing::info!(status = self.status.as_u16(), message = %self.message, "request refused");
        }
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        let content_type = if ctx.lfs {
            strata_lfs::wire::MEDIA_TYPE
        } else {
            "application/json"
        };
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if self.status == StatusCode::TEMPORARY_REDIRECT {
            // The request's layer makes the `Location` of the address it answers (`ctx::layer`).
            if let Some(moved) = moved(body.get("moved_from"), body.get("moved_to")) {
                response.extensions_mut().insert(moved);
            }
        }
        let headers = response.headers_mut();
        if self.challenge {
            let challenge = HeaderValue::from_static("Basic realm=\"strata\", charset=\"UTF-8\"");
            if ctx.lfs {
                headers.insert("lfs-authenticate", challenge);
            } else {
                headers.insert(header::WWW_AUTHENTICATE, challenge);
            }
        }
        response
    }
}

/// What an answer for a dataset's old name tells `ctx::layer` (a response extension, never a
/// header: nothing outside strata can send it): the old `ns/name` and the new.
#[derive(Debug, Clone)]
pub struct Moved {
    pub from: String,
    pub to: String,
}

fn moved(from: Option<&serde_json::Value>, to: Option<&serde_json::Value>) -> Option<Moved> {
    Some(Moved {
        from: from?.as_str()?.to_owned(),
        to: to?.as_str()?.to_owned(),
    })
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let status = match e.kind {
            Kind::BadRequest => StatusCode::BAD_REQUEST,
            Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Gone => StatusCode::GONE,
            Kind::Moved => StatusCode::TEMPORARY_REDIRECT,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::TooMany => StatusCode::TOO_MANY_REQUESTS,
            Kind::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Quota => StatusCode::INSUFFICIENT_STORAGE,
            Kind::Upstream => StatusCode::BAD_GATEWAY,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: e.message,
            challenge: e.kind == Kind::Unauthenticated,
            extra: e.extra,
        }
    }
}

/// Library errors reach handlers through the domain error.
macro_rules! through_domain {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> ApiError {
                Error::from(e).into()
            }
        }
    )*};
}

through_domain!(
    strata_lfs::StoreError,
    strata_metastore::Error,
    strata_core::auth::password::Busy
);

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> ApiError {
        ApiError::bad_request(e.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(e: axum::extract::rejection::PathRejection) -> ApiError {
        ApiError::bad_request(e.body_text())
    }
}
