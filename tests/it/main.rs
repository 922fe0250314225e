//! The one integration test binary: every test starts the real strata server on `127.0.0.1:0`
//! (see `common`) and drives it with real clients (git, git-lfs, Chromium, Authlib, S3 and Azure
//! emulators that check signatures). One binary links strata once; the modules are the areas.

mod common;

mod accounts;
mod apps;
mod browser;
mod browser_upload;
mod chart;
mod cluster;
mod dataset_pages;
mod datasets_api;
mod drive;
mod encryption;
mod encryption_buckets;
mod encryption_contents;
mod gates;
mod git_hosting;
mod git_lfs;
mod git_transport;
mod governance;
mod hygiene;
mod layout;
mod lfs_api;
mod log_secrets;
mod multipart;
mod multipart_buckets;
mod newcomer;
mod oauth;
mod ops;
mod permissions;
mod presigned;
mod push;
mod replicas;
mod share_links;
mod sharing;
mod sharing_browser;
mod sql;
mod sso;
mod sso_browser;
