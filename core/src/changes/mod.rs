//! Changes between revisions: what changed between two revisions, down to the lines
//! ([`diffs`]), and merge requests with their three-way merges of files and table rows, written
//! as the one write path writes (governed, checked against the contract) ([`merges`]).
//!
//! May use: the one write path (`commits`) and every floor below it (governance, contracts, the
//! table plane, the datasets foundation, the event outbox). Not the other rooms on its floor.

pub mod diffs;
pub mod merges;
