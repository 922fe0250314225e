//! Governed writes, on top of the table plane: every table a write changes is decided as a write
//! is (`actionType` `write`) by the policies the read gate also asks (`crate::datasets::policies`).
//! A write strata makes is stored through the decision ([`write`]); a write it cannot rewrite (a
//! push, a revert) is refused unless what it brings is what such a write stored ([`moved`]); and
//! a change to what the policies read (tags, geography, names a policy mentions) is governed
//! itself ([`retag`]).
//!
//! May use: the table plane (`tables`), the contracts' reference rules (`contracts`),
//! the foundation (`datasets`, its policies and gates) and everything below them. The one write
//! path (`crate::commits`) and the push hook call it; it calls neither.

pub(crate) mod moved;
pub(crate) mod retag;
pub(crate) mod write;
