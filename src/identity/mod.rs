//! Staff identity: users, passwords, login sessions, API tokens and login throttling.

pub mod password;
pub mod session;
pub mod throttle;
pub mod token;
pub mod totp;
pub mod users;

pub use crate::email::{parse_email, Email};
