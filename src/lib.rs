//! strata: a Git-LFS-backed versioned storage server.
//!
//! The domain lives in `strata-core` ([`strata_core::Core`]) and knows nothing of HTTP. This crate
//! puts on top of it the HTTP layer (`http`, the only module that imports axum, mapping domain
//! errors to statuses once) and the command line (`cli`: the clap tree, the admin commands).
//! [`app`] builds the router for an [`AppState`]; [`run`] serves it on a listener until a
//! shutdown signal. `main.rs` only parses the command line and calls these, so tests start the
//! real server on `127.0.0.1:0` the same way.

pub mod cli;
pub mod http;

pub use http::compat::s3::run as run_s3;
pub use http::state::AppState;
pub use http::{app, run};
