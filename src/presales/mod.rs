//! Pre-sales requests (seed 000): a partner asks the vendor's pre-sales team for an
//! intervention (demo, workshop, scoping) on one of their opportunities, negotiates a date among
//! the team's proposals and answers its questions. `workflow.rs` is the pure state machine,
//! `calendar.rs` the engineers' busy times, slot conflicts and the invitation of the accepted slot.

pub mod calendar;
pub mod store;
pub mod workflow;

pub use workflow::{decide, Action, Actor, Effect, Refusal, Side, State, Status};
