//! The drive, on top of the datasets floor: the file manager's actions ([`files`]), text edited in
//! the browser ([`edit`]), zip downloads ([`archive`]) and browser uploads staged
//! with their quota ([`uploads`]). Every write is one commit through `crate::commits`.
//!
//! May use: the foundation (`datasets`), the one write path (`commits`) and everything below it. Not the other rooms on its floor.

pub mod archive;
pub mod card;
pub mod edit;
pub mod files;
pub mod marks;
pub mod thumbnails;
pub mod uploads;
