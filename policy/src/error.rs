//! Why a table cannot be served: the one error of table reads and writes under a decision
//! ([`TableError`]), from the records read to the batches written.

/// Why a table cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The request asks for something the policy forbids (403).
    #[error("{0}")]
    Refused(String),
    /// The request or the table is not what it should be (422).
    #[error("{0}")]
    Invalid(String),
    /// A value that is not of its column's type (422).
    #[error("record {record}, column {column:?}: {message}")]
    BadValue {
        /// The record's number in the file (the header is 1).
        record: u64,
        column: String,
        message: String,
    },
    #[error("reading the table: {0}")]
    Io(#[from] std::io::Error),
}

impl From<arrow_schema::ArrowError> for TableError {
    fn from(e: arrow_schema::ArrowError) -> TableError {
        match e {
            arrow_schema::ArrowError::IoError(_, io) => TableError::Io(io),
            other => TableError::Invalid(other.to_string()),
        }
    }
}
