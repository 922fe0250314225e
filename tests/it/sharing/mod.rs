//! Shares and share links: REST, pages and Chromium.

mod browser;
mod links;
mod shares;
