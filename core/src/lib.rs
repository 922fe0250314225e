//! strata-core: strata's domain, with no HTTP in it (axum, hyper, tonic, askama and utoipa are not
//! dependencies of this crate, so the compiler keeps them out).
//!
//! [`Core`] holds the server's parts (settings, database, storage facade, metastore, keys,
//! background tasks, governance, apps) and every domain function takes it: the gate that decides
//! each read and write (`datasets::gate`), the storage facade (`storage`), accounts and tokens
//! (`auth`), organisations (`orgs`), the policies (`datasets::policies`), apps (`apps`) and the
//! SQL state (`db`). The `strata` crate puts HTTP, the command line and `main` on top.
//!
//! The modules are rooms on floors (ARCHITECTURE.md, "Floors"): each may use only the rooms on
//! the floors below it, which `tests/it/project/floors.rs` checks.

pub mod accounts;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod background;
pub mod batch;
pub mod changes;
pub mod commits;
pub mod compat;
pub mod config;
pub mod context;
pub mod contracts;
pub mod core;
pub mod datasets;
pub mod db;
pub mod delivery;
pub mod drive;
pub mod erase;
pub mod error;
pub mod events;
pub mod gc;
pub mod governance;
pub mod hook;
pub mod imports;
pub mod jobs;
pub mod manifests;
pub mod mirrors;
pub mod names;
pub mod oauth;
pub mod orgs;
pub mod process;
pub mod quotas;
pub mod readiness;
pub mod sharing;
pub mod sql;
pub mod sso;
pub mod storage;
pub mod tables;
pub mod targets;
pub mod tasks;
pub mod workloads;
pub mod xet;

pub use crate::core::{Core, Settings, StartError};
