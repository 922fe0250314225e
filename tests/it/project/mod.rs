//! The project itself: the layout rules, every SQL statement on both engines, a newcomer's first steps.

mod floors;
mod layout;
mod newcomer;
mod sql;
