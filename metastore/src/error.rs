//! The metastore's one error type. Each variant says which kind of failure it is, so the server can
//! answer 404, 409 or 422 without looking at messages.

/// Why a metastore operation failed. Nothing was changed in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The dataset, revision, tag, branch or file does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The write was based on a revision that is no longer the head and touches paths that changed
    /// since, or a tag or branch of that name exists already, or it would turn a file into a folder
    /// (or a folder into a file) without deleting it first.
    #[error("{0}")]
    Conflict(String),
    /// The input is not acceptable: a bad datapackage, path, name or revision.
    #[error("{0}")]
    Invalid(String),
    /// A check asked before a branch moves ([`crate::HeadCheck`]) refused the write, with what it
    /// found as JSON.
    #[error("{message}")]
    Refused {
        message: String,
        details: serde_json::Value,
    },
    /// A check asked before a branch moves refused the way the write came: a protected branch
    /// that takes changes through merge requests only.
    #[error("{0}")]
    Forbidden(String),
    /// A check asked before a branch moves could not be made now (the server is busy): try
    /// again shortly.
    #[error("{0}")]
    Busy(String),
    /// git itself failed (I/O, a corrupt object): not the caller's fault.
    #[error("git: {0}")]
    Git(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn git(e: impl std::fmt::Display) -> Error {
        Error::Git(e.to_string())
    }
}

impl From<gix::Error> for Error {
    fn from(e: gix::Error) -> Error {
        Error::git(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::git(e)
    }
}
