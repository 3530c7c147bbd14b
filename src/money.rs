//! Amounts of money as people type and read them: cents in storage, `12 500,50` typed, the
//! currency of the setting `sales.currency` shown beside (a leaf).

/// An amount in cents as `1234.50`.
pub fn format_amount(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

/// Parses an amount typed by a person (`12 500`, `12500,50`, `12500.5`) into cents.
pub fn parse_amount(s: &str) -> Option<i64> {
    let t: String = s.chars().filter(|c| !c.is_whitespace() && *c != '\u{a0}' && *c != '\u{202f}').collect();
    let t = t.replace(',', ".");
    if t.is_empty() || t.starts_with('-') {
        return None;
    }
    let (int, frac) = match t.split_once('.') {
        Some((i, f)) => (i, f),
        None => (t.as_str(), ""),
    };
    if int.is_empty() || !int.chars().all(|c| c.is_ascii_digit()) || frac.len() > 2 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let units: i64 = int.parse().ok()?;
    let cents: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().ok()? };
    units.checked_mul(100)?.checked_add(cents).filter(|v| *v <= 1_000_000_000_000)
}

/// An amount for people: thousands grouped, the currency's code after (`12 500,50 CAD` in
/// French, `12,500.50 CAD` in English); whole amounts without cents.
pub fn display(cents: i64, currency: &str, french: bool) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    let units = (c / 100).to_string();
    let (group, point) = if french { ('\u{202f}', ',') } else { (',', '.') };
    let mut grouped = String::new();
    for (i, ch) in units.chars().enumerate() {
        if i > 0 && (units.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(ch);
    }
    let frac = if c % 100 == 0 { String::new() } else { format!("{point}{:02}", c % 100) };
    format!("{sign}{grouped}{frac} {currency}").trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_in_each_language() {
        assert_eq!(display(1_250_050, "CAD", false), "12,500.50 CAD");
        assert_eq!(display(125_000_000, "EUR", true), "1\u{202f}250\u{202f}000 EUR");
        assert_eq!(display(0, "CAD", true), "0 CAD");
        assert_eq!(display(99, "", false), "0.99");
    }
}
