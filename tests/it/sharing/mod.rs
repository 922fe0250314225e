//! Shares and share links: REST, pages and Chromium.

mod browser;
mod downloads;
mod links;
mod shares;
