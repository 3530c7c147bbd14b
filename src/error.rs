//! Error policy.
//!
//! - Domain and storage code returns [`Error`]: typed variants for what a caller can act on
//!   (validation with per-field reasons, not found, conflict, forbidden) and opaque variants
//!   for faults (database, internal).
//! - `anyhow` is used only in the command line and in job bodies.
//! - At the HTTP edge (`src/http/error.rs`) an [`Error`] becomes one response shape with a
//!   stable machine code: JSON `{"error": {"code", "message", "fields", "request_id"}}` for
//!   the API, an error page for the UI, said in the request's language by the rendering
//!   layer (handlers just use `?`). A fault is logged once, with the request id, and the
//!   client only sees a generic message and that id; SQL and paths never reach a response.
//! - Nothing swallows errors: lookups return `Result<Option<T>>`, never `.ok()`.
//! - Constraint violations are turned into `Conflict`/`Validation` with the field concerned.

use std::fmt;

/// One problem with one input field. `reason` is a message key (see `locales/`), so the UI
/// and the API can say it in the user's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: &'static str,
}

#[derive(Debug, Default, Clone)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self(Vec::new())
    }
    pub fn add(&mut self, field: impl Into<String>, reason: &'static str) {
        self.0.push(FieldError { field: field.into(), reason });
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, field: &str) -> Option<&'static str> {
        self.0.iter().find(|e| e.field == field).map(|e| e.reason)
    }
    /// `Ok(())` when empty, the validation error otherwise.
    pub fn into_result(self) -> Result<(), Error> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self))
        }
    }
    pub fn single(field: impl Into<String>, reason: &'static str) -> Self {
        let mut e = Self::new();
        e.add(field, reason);
        e
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect();
        write!(f, "{}", parts.join(", "))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid input: {0}")]
    Validation(FieldErrors),
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("authentication required")]
    Unauthenticated,
    #[error("conflict: {0}")]
    Conflict(FieldErrors),
    /// A request that is well-formed but not allowed in the record's current state
    /// (a workflow transition the table does not allow). `reason` is a message key.
    #[error("not allowed now: {reason}")]
    InvalidState { reason: &'static str },
    #[error("too many attempts")]
    RateLimited,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn validation(field: impl Into<String>, reason: &'static str) -> Self {
        Error::Validation(FieldErrors::single(field, reason))
    }
    pub fn conflict(field: impl Into<String>, reason: &'static str) -> Self {
        Error::Conflict(FieldErrors::single(field, reason))
    }
    pub fn internal(e: impl fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// True when the error is a unique-constraint violation (both backends).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation() || d.code().as_deref() == Some("23505") || d.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// Extension for turning storage errors on unique constraints into a conflict on `field`.
pub trait UniqueField<T> {
    fn unique_field(self, field: &str, reason: &'static str) -> Result<T>;
}

impl<T> UniqueField<T> for std::result::Result<T, sqlx::Error> {
    fn unique_field(self, field: &str, reason: &'static str) -> Result<T> {
        self.map_err(|e| if is_unique_violation(&e) { Error::conflict(field, reason) } else { Error::Db(e) })
    }
}
