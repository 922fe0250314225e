//! strata: a Git-LFS-backed versioned storage server.
//!
//! The domain (`auth`, `datasets` with its gates, `storage`, `db`, `hook`, `admin`) knows
//! nothing of HTTP; `http` is the only module that imports axum, and maps domain errors to
//! statuses once. [`app`] builds the router for an [`AppState`]; [`run`] serves it on a listener
//! until a shutdown signal. `main.rs` only parses the command line and calls these, so tests
//! start the real server on `127.0.0.1:0` the same way.

pub mod admin;
pub mod apps;
pub mod auth;
pub mod cli;
pub mod config;
pub mod context;
pub mod datasets;
pub mod db;
pub mod error;
pub mod hook;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod names;
pub mod orgs;
pub mod process;
pub mod state;
pub mod storage;
pub mod tasks;

pub use http::{app, run};
pub use state::AppState;
