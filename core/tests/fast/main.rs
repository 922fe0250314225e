//! The fast tier: strata-core's domain tested directly on a real `Core` (SQLite and local storage
//! in a temporary directory), without a server. One binary, one shared fixture (`common`), the
//! access matrix's rules as tables (`matrix`), and a module per area. Each table test counts its
//! cases, prints the count and reports every failing case in one assertion.

mod access;
mod accounts;
mod apps_enter;
mod common;
mod governance;
mod links;
mod listing;
mod matrix;
mod oauth;
mod oauth_grants;
mod orgs;
mod paths;
mod pats;
mod policy_dataset;
mod quotas;
mod region_stores;
mod shares;
mod staged;
mod table_views;
