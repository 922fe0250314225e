//! The one integration test binary: every test starts the real strata server on `127.0.0.1:0`
//! (see `common`) and drives it with real clients (git, git-lfs, Chromium, Authlib, S3 and Azure
//! emulators that check signatures), except the API tier (`api`), which sends its requests to the
//! router in process, with no socket. One binary links strata once; the modules are the areas.

mod common;

mod access;
mod accounts;
mod api;
mod apps;
mod changes;
mod compat;
mod datasets;
mod encryption;
mod events;
mod fuzz;
mod git;
mod governance;
mod imports;
mod jobs;
mod lfs;
mod mirrors;
mod ops;
mod pages;
mod project;
mod replicas;
mod sharing;
mod sql;
mod tables;
