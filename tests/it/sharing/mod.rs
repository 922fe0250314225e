//! Shares, share links and gated datasets: REST, pages and Chromium.

mod browser;
mod dialog;
mod downloads;
pub(crate) mod gated;
mod gated_browser;
mod links;
mod outside_browser;
mod shares;
