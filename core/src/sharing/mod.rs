//! Sharing, on top of the datasets floor: shares with users and teams ([`shares`]), invitations
//! to addresses without an account ([`invites`]), share links that work without one
//! ([`links`]), Delta Sharing recipients ([`recipients`]) and gated datasets' access requests
//! ([`access`]). The gates evaluate what these write (`crate::datasets::gate`); this room only
//! makes, lists and revokes them.
//!
//! May use: the foundation (`datasets`) and everything below it (the event outbox, audit, the
//! database). Not the other rooms on its floor.

pub mod access;
pub mod invites;
pub mod links;
pub mod recipients;
pub mod shares;
