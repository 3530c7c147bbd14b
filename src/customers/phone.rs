//! Phone numbers, stored in E.164 so that "514 555-0199", "(514) 555 0199" and
//! "+1 514-555-0199" are one number: how returning customers are recognised.

use phonenumber::country::Id;
use phonenumber::Mode;

/// The longest phone number as typed, in bytes (digits, spaces, `+-.()/`).
pub const MAX_BYTES: usize = 40;

/// A phone number in E.164 (`+15145550199`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// Parses a number typed in any usual format; `region` applies when it has no `+`.
    pub fn parse(raw: &str, region: &str) -> Result<Phone, &'static str> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("error.required");
        }
        if raw.len() > MAX_BYTES || !raw.chars().all(|c| c.is_ascii_digit() || " +-.()/".contains(c) || c == '\u{a0}') {
            return Err("error.phone_invalid");
        }
        // A number with its country code is parsed without a default region: phonenumber
        // 0.3 would otherwise strip the default region's national prefix from it
        // ("+33 1 42…" read in Canada lost its "1").
        let id: Option<Id> = if raw.starts_with('+') { None } else { region.parse().ok() };
        let n = phonenumber::parse(id, raw).map_err(|_| "error.phone_invalid")?;
        let e164 = n.format().mode(Mode::E164).to_string();
        let digits = e164.chars().filter(char::is_ascii_digit).count();
        if !(8..=15).contains(&digits) {
            return Err("error.phone_invalid");
        }
        Ok(Phone(e164))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Readable form for display (national format when in `region`, international otherwise).
    pub fn display(e164: &str, region: &str) -> String {
        let id: Option<Id> = region.parse().ok();
        match phonenumber::parse(None, e164) {
            Ok(n) if n.country().id() == id => n.format().mode(Mode::National).to_string(),
            Ok(n) => n.format().mode(Mode::International).to_string(),
            Err(_) => e164.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_number_in_every_format() {
        let want = "+15145550199";
        for raw in ["514 555-0199", "(514) 555 0199", "+1 514-555-0199", "514.555.0199", "1-514-555-0199"] {
            assert_eq!(Phone::parse(raw, "CA").unwrap().as_str(), want, "{raw}");
        }
        assert_eq!(Phone::parse("01 42 68 53 00", "FR").unwrap().as_str(), "+33142685300");
        assert_eq!(Phone::parse("+33 1 42 68 53 00", "CA").unwrap().as_str(), "+33142685300");
        for bad in ["abc", "12", "514-555-0199 ext", "+1 514\r\n555"] {
            assert!(Phone::parse(bad, "CA").is_err(), "{bad:?}");
        }
        assert_eq!(Phone::display("+15145550199", "CA"), "(514) 555-0199");
    }
}
