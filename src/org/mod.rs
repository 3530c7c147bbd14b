//! The sales structure (a tree of org units: company → region → branch → team) and groups of
//! users.

pub mod groups;
pub mod units;
