//! An email address as a typed value, parsed at the edge. A leaf module: identity (users),
//! customers, mail and settings all take addresses, and none of them needs the others for it.

use crate::error::{Error, Result};

/// The longest address, in bytes (RFC 5321).
pub const MAX_BYTES: usize = 254;

/// An email address, trimmed and lower-cased, syntactically checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err("error.required");
        }
        let valid = s.len() <= MAX_BYTES
            && !s.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == ';' || c == '<' || c == '>')
            && match s.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && local.len() <= 64
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !domain.contains("..")
                }
                None => false,
            };
        if valid {
            Ok(Email(s))
        } else {
            Err("error.email_invalid")
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses an email for field `field`, as a validation error.
pub fn parse_email(field: &str, raw: &str) -> Result<Email> {
    Email::parse(raw).map_err(|r| Error::validation(field, r))
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn email_parsing() {
        assert_eq!(Email::parse("  Jean.Dupont@Example.FR ").unwrap().as_str(), "jean.dupont@example.fr");
        for bad in ["", "a", "a@b", "a@@b.fr", "a b@c.fr", "a@b.fr\r\nBcc: x@y.fr", "@b.fr", "a@.fr", "a@b..fr"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
