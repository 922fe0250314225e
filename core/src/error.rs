//! The domain error: what went wrong, in terms the HTTP layer maps to a status exactly once
//! (`crate::http::error`). Domain modules (gates, storage, datasets, accounts) return it; server
//! failures are logged here with their cause and carry no detail outward.

use serde::Serialize;

/// What kind of failure: each maps to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Malformed input (400).
    BadRequest,
    /// No credentials, or bad ones (401, with a challenge).
    Unauthenticated,
    /// Known caller, not allowed (403).
    Forbidden,
    /// Missing, or not visible to the caller (404).
    NotFound,
    /// Gone for good (410).
    Gone,
    /// A dataset's old name, after it was renamed: answered with a redirect (307) to the same
    /// address under the new name (`extra` holds `moved_from` and `moved_to`).
    Moved,
    /// A stale parent, an existing name (409).
    Conflict,
    /// Well-formed but unacceptable (422).
    Invalid,
    /// Over a size or count limit (413).
    TooLarge,
    /// Too many requests from this client (429).
    TooMany,
    /// Saturated: try again shortly (503).
    Busy,
    /// Past a storage quota (507).
    Quota,
    /// A server strata depends on (an identity provider) failed or answered wrongly (502).
    Upstream,
    /// A failure on our side (500); the cause was logged.
    Internal,
}

#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    /// Extra JSON fields for the error body (e.g. the missing objects of a 422).
    pub extra: Option<serde_json::Value>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            extra: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Error {
        Error::new(Kind::BadRequest, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Error {
        Error::new(Kind::Unauthenticated, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Error {
        Error::new(Kind::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(Kind::NotFound, message)
    }

    /// The old name `from` (`ns/name`) of the dataset now named `to`.
    pub fn moved(from: &str, to: &str) -> Error {
        Error::new(Kind::Moved, format!("dataset {from} is now {to}"))
            .with_extra(serde_json::json!({"moved_from": from, "moved_to": to}))
    }

    /// The new `ns/name` of a [`Kind::Moved`] error.
    pub fn moved_to(&self) -> Option<&str> {
        match self.kind {
            Kind::Moved => self.extra.as_ref()?.get("moved_to")?.as_str(),
            _ => None,
        }
    }

    pub fn conflict(message: impl Into<String>) -> Error {
        Error::new(Kind::Conflict, message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Error {
        Error::new(Kind::Invalid, message)
    }

    pub fn too_large(message: impl Into<String>) -> Error {
        Error::new(Kind::TooLarge, message)
    }

    pub fn too_many(message: impl Into<String>) -> Error {
        Error::new(Kind::TooMany, message)
    }

    /// A server-side failure: logged here with its cause, reported without it.
    pub fn internal(cause: impl std::fmt::Display) -> Error {
        tracing::error!(error = %cause, "internal error");
        Error::new(Kind::Internal, "internal server error")
    }

    pub fn with_extra(mut self, extra: impl Serialize) -> Error {
        self.extra = serde_json::to_value(extra).ok();
        self
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Error {
        Error::internal(format!("database: {e}"))
    }
}

impl From<crate::db::Error> for Error {
    fn from(e: crate::db::Error) -> Error {
        match e {
            crate::db::Error::NotFound => Error::not_found("not found"),
            crate::db::Error::Conflict => Error::conflict("it exists already"),
            crate::db::Error::Other(e) => e.into(),
        }
    }
}

impl From<crate::db::LinkError> for Error {
    fn from(e: crate::db::LinkError) -> Error {
        match e {
            crate::db::LinkError::NoDataset => Error::not_found("dataset not found"),
            crate::db::LinkError::Collecting => Error::new(
                Kind::Busy,
                "garbage collection was deleting this object's earlier copy: upload it again",
            ),
            crate::db::LinkError::Db(e) => e.into(),
        }
    }
}

impl From<strata_lfs::StoreError> for Error {
    fn from(e: strata_lfs::StoreError) -> Error {
        Error::internal(e)
    }
}

impl From<strata_metastore::Error> for Error {
    fn from(e: strata_metastore::Error) -> Error {
        use strata_metastore::Error as E;
        match e {
            E::NotFound(m) => Error::not_found(m),
            E::Conflict(m) => Error::conflict(m),
            E::Invalid(m) => Error::unprocessable(m),
            E::Refused { message, details } => Error::unprocessable(message).with_extra(details),
            E::Busy(m) => Error::new(Kind::Busy, m),
            E::Forbidden(m) => Error::forbidden(m),
            E::Git(m) => Error::internal(format!("git: {m}")),
        }
    }
}
