//! The HTTP layer, and the only place that imports axum: the router that shows the whole API,
//! the one error type and how domain errors map onto it, the request context, the extractors,
//! the accept loop, and one module per surface (Git LFS, git smart HTTP, the REST API, OAuth,
//! server pages, Arrow Flight, the app proxy). Handlers parse, call the domain (`strata_core`: `datasets`, `auth`,
//! `storage`, `db`) and render; they decide nothing about permissions themselves.

pub mod api;
pub mod assets;
pub mod compat;
pub mod compress;
pub mod cookies;
pub mod csp;
pub mod csrf;
pub mod ctx;
pub mod download;
pub mod drain;
pub mod error;
pub mod extract;
pub mod feeds;
pub mod flight;
pub mod flight_sql;
pub mod git;
pub mod json;
pub mod lfs;
pub mod limits;
pub mod metrics;
pub mod moved;
pub mod oauth;
pub mod ops;
pub mod pages;
pub mod proxy;
pub mod router;
pub mod serve;
pub mod session;
pub mod state;

pub use router::app;
pub use serve::run;
