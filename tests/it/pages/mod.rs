//! The pages over HTTP and in Chromium: browsing, dataset pages, the drive, the browser upload.

mod browser;
mod dataset;
pub(crate) mod drive;
mod upload;
