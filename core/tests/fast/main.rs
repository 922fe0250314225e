//! The fast tier: strata-core's domain tested directly on a real `Core` (SQLite and local storage
//! in a temporary directory), without a server. One binary, one shared fixture (`common`), the
//! access matrix's rules as tables (`matrix`), and a module per area. Each table test counts its
//! cases, prints the count and reports every failing case in one assertion. What acts on a whole
//! core (garbage collection, the event dispatcher) runs on a core of its own (`common::own_core`);
//! what makes table views retries while the core answers that it is busy making others
//! (`common::patiently`), as the tests run side by side.

mod access;
mod accounts;
mod apps_enter;
mod common;
mod contracts;
mod decisions_kept;
mod event_filters;
mod gated;
mod gc;
mod governance;
mod links;
mod listing;
mod matrix;
mod merges;
mod oauth;
mod oauth_grants;
mod orgs;
mod paths;
mod pats;
mod policy_dataset;
mod quotas;
mod region_stores;
mod shares;
mod sql_refusals;
mod staged;
mod table_views;
mod views_ahead;
