//! iCalendar (RFC 5545) invitations. A meeting keeps one `UID` for its whole life and a
//! `SEQUENCE` that grows with each change, so calendar clients update the event instead of
//! adding a copy; a cancellation is `METHOD:CANCEL` with the same UID.

use chrono::{DateTime, Utc};

use super::Mailbox;
use crate::clock::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Request,
    Cancel,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub uid: String,
    pub sequence: i64,
    pub start: Millis,
    pub end: Millis,
    pub summary: String,
    pub description: String,
    pub location: String,
    pub organizer: Mailbox,
    pub attendees: Vec<Mailbox>,
}

fn stamp(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().format("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes a TEXT value.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value (CN=…), quoted, without the characters a quoted value cannot hold.
fn param(s: &str) -> String {
    let clean: String = s.chars().filter(|c| *c != '"' && !c.is_control()).collect();
    format!("\"{clean}\"")
}

/// Folds a content line at 75 octets, on character boundaries.
fn fold(line: &str, out: &mut String) {
    let mut used = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if used + len > 75 {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += len;
    }
    out.push_str("\r\n");
}

/// The `.ics` text for `event`, stamped at `now`.
pub fn render(event: &Event, method: Method, now: Millis) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".into(),
        "PRODID:-//Carnet//Carnet CRM//FR".into(),
        "CALSCALE:GREGORIAN".into(),
        format!("METHOD:{}", if method == Method::Request { "REQUEST" } else { "CANCEL" }),
        "BEGIN:VEVENT".into(),
        format!("UID:{}", text(&event.uid)),
        format!("SEQUENCE:{}", event.sequence),
        format!("DTSTAMP:{}", stamp(now)),
        format!("DTSTART:{}", stamp(event.start)),
        format!("DTEND:{}", stamp(event.end)),
        format!("SUMMARY:{}", text(&event.summary)),
    ];
    if !event.description.is_empty() {
        lines.push(format!("DESCRIPTION:{}", text(&event.description)));
    }
    if !event.location.is_empty() {
        lines.push(format!("LOCATION:{}", text(&event.location)));
    }
    let cn = |m: &Mailbox| m.name.as_deref().map(|n| format!(";CN={}", param(n))).unwrap_or_default();
    lines.push(format!("ORGANIZER{}:mailto:{}", cn(&event.organizer), event.organizer.email));
    for a in &event.attendees {
        lines.push(format!("ATTENDEE{};ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{}", cn(a), a.email));
    }
    lines.push(format!("STATUS:{}", if method == Method::Request { "CONFIRMED" } else { "CANCELLED" }));
    lines.push("END:VEVENT".into());
    lines.push("END:VCALENDAR".into());
    let mut out = String::new();
    for l in lines {
        fold(&l, &mut out);
    }
    out
}

/// A calendar to subscribe to or import (`METHOD:PUBLISH`): the events as they stand, without
/// organizer or attendees (nobody is asked to answer).
pub fn publish(events: &[Event], now: Millis) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".into(),
        "PRODID:-//Carnet//Carnet CRM//FR".into(),
        "CALSCALE:GREGORIAN".into(),
        "METHOD:PUBLISH".into(),
    ];
    for e in events {
        lines.push("BEGIN:VEVENT".into());
        lines.push(format!("UID:{}", text(&e.uid)));
        lines.push(format!("SEQUENCE:{}", e.sequence));
        lines.push(format!("DTSTAMP:{}", stamp(now)));
        lines.push(format!("DTSTART:{}", stamp(e.start)));
        lines.push(format!("DTEND:{}", stamp(e.end)));
        lines.push(format!("SUMMARY:{}", text(&e.summary)));
        if !e.description.is_empty() {
            lines.push(format!("DESCRIPTION:{}", text(&e.description)));
        }
        if !e.location.is_empty() {
            lines.push(format!("LOCATION:{}", text(&e.location)));
        }
        lines.push("END:VEVENT".into());
    }
    lines.push("END:VCALENDAR".into());
    let mut out = String::new();
    for l in lines {
        fold(&l, &mut out);
    }
    out
}

/// The attachment carrying an invitation.
pub fn attachment(event: &Event, method: Method, now: Millis) -> super::Attachment {
    let m = if method == Method::Request { "REQUEST" } else { "CANCEL" };
    super::Attachment {
        filename: "invitation.ics".into(),
        content_type: format!("text/calendar; method={m}; charset=UTF-8"),
        content: render(event, method, now).into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_long_lines_and_escapes_text() {
        let mut out = String::new();
        fold(&"é".repeat(60), &mut out);
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{} octets", l.len());
        }
        assert_eq!(text("a;b,c\\d\ne"), "a\\;b\\,c\\\\d\\ne");
    }
}
