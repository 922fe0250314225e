//! Who may do what: the gates' holes closed, and the permission matrix through every entry point.

pub(crate) mod gates;
mod permissions;
