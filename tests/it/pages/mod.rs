//! The pages over HTTP and in Chromium: browsing, dataset pages and cards, landing and home, the
//! drive, the browser upload.

mod browser;
pub(crate) mod cards;
mod compressed;
mod dataset;
pub(crate) mod drive;
mod edits;
mod everything;
mod lists;
mod picks;
mod renamed;
mod round_two;
mod staged;
mod upload;
