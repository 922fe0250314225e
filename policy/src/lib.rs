//! Governance for strata, without HTTP or SQL: Rego policies evaluated in-process by regorus
//! ([`Policies`]), the input they see ([`Input`], Fybrik's shape extended with the subject), the
//! decision they produce ([`Decision`]: deny, per-column remove/redact/hash, row filters), and the
//! streaming transforms that apply a decision to a CSV table on its way out, as CSV or Arrow
//! ([`table`]), in bounded memory.

mod decision;
mod engine;
mod error;
mod input;
mod literals;
mod records;
pub mod table;

pub use decision::{AggregateOnly, ColumnAction, Decision, Filter, Op};
pub use engine::{CompileError, DecisionCounts, Policies, PolicyFile, KEPT, RULE};
pub use input::{tags_from_json, Column, Input, Metadata, Subject, Tags};

pub use arrow_array;
pub use arrow_ipc::writer as arrow_ipc_writer;
pub use arrow_schema;
