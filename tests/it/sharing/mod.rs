//! Shares and share links: REST, pages and Chromium.

mod browser;
mod dialog;
mod downloads;
mod links;
mod shares;
