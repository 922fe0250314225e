//! What the row merge ([`super::rows`]) and its cells ([`super::cells`]) both name: the shape
//! of the merged table, a clash and how it is resolved, and the marks that tag the columns of
//! the stacked query (never a column name a table can have: they start with U+0001).

use serde_json::{Map, Value};

/// What the merged table looks like.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// The columns rows are matched on (empty: whole rows).
    pub key: Vec<String>,
    /// The merged table's columns, in order: ours', less those theirs removed, then those theirs
    /// added.
    pub columns: Vec<String>,
}

/// A place in the rows both sides changed differently.
#[derive(Debug, Clone, PartialEq)]
pub struct RowClash {
    pub key: Map<String, Value>,
    /// The cell's column; `None` for a row one side deleted and the other changed (the values
    /// are then whole rows, `null` where deleted).
    pub column: Option<String>,
    pub base: Value,
    pub ours: Value,
    pub theirs: Value,
}

/// How a clash is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    Ours,
    Theirs,
    Base,
    /// A cell's own value (`None`: empty).
    Value(Option<String>),
}

pub(super) const ST: &str = "\u{1}st";
pub(super) const N: [&str; 3] = ["\u{1}bn", "\u{1}on", "\u{1}tn"];
pub(super) const CELL: [&str; 3] = ["\u{1}b:", "\u{1}o:", "\u{1}t:"];
pub(super) const MERGED: &str = "\u{1}m:";
pub(super) const CLASH: &str = "\u{1}x:";
pub(super) const COPIES: &str = "\u{1}n";
