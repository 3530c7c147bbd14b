//! Time is a parameter: code asks a [`Clock`] for "now" and never calls the system clock
//! itself, so that expiry rules, session timeouts and rate limits can be tested at their
//! boundaries. Timestamps are stored as milliseconds since the Unix epoch (UTC) on both
//! database backends.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;

    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_default()
    }
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now_ms(&self) -> Millis {
        Utc::now().timestamp_millis()
    }
}

/// A clock that only moves when told to; for tests and simulations.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Millis) -> Self {
        Self(Arc::new(AtomicI64::new(start)))
    }
    pub fn set(&self, ms: Millis) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn advance(&self, ms: Millis) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// Formats a stored timestamp for display (UTC, minute precision).
pub fn format_ms(ms: Millis) -> String {
    DateTime::from_timestamp_millis(ms).map(|d| d.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
}

/// Formats a stored timestamp as RFC 3339 for the API.
/// Serialises optional milliseconds as an RFC 3339 string (or null), for JSON answers.
pub fn ser_rfc3339<S: serde::Serializer>(ms: &Option<Millis>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match ms {
        Some(m) => s.serialize_str(&rfc3339(*m)),
        None => s.serialize_none(),
    }
}

pub fn rfc3339(ms: Millis) -> String {
    DateTime::from_timestamp_millis(ms).map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)).unwrap_or_default()
}

/// The business's time zone (setting `ui.timezone`): dates and times are typed and shown in
/// it, stored in UTC.
#[derive(Debug, Clone, Copy)]
pub struct Zone(pub chrono_tz::Tz);

impl Default for Zone {
    fn default() -> Self {
        Zone(chrono_tz::America::Toronto)
    }
}

impl Zone {
    pub fn parse(name: &str) -> Option<Zone> {
        name.parse::<chrono_tz::Tz>().ok().map(Zone)
    }
    pub fn local(self, ms: Millis) -> chrono::NaiveDateTime {
        DateTime::from_timestamp_millis(ms).unwrap_or_default().with_timezone(&self.0).naive_local()
    }
    /// `YYYY-MM-DD HH:MM` in the zone.
    pub fn format(self, ms: Millis) -> String {
        self.local(ms).format("%Y-%m-%d %H:%M").to_string()
    }
    pub fn date(self, ms: Millis) -> String {
        self.local(ms).format("%Y-%m-%d").to_string()
    }
    pub fn time(self, ms: Millis) -> String {
        self.local(ms).format("%H:%M").to_string()
    }
    /// A local date and time (`2026-11-23`, `14:30`) as a timestamp; `None` when invalid or
    /// skipped by a daylight-saving change (an ambiguous time takes the earlier instant).
    pub fn parse_local(self, date: &str, time: &str) -> Option<Millis> {
        use chrono::TimeZone;
        let d = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
        let t = chrono::NaiveTime::parse_from_str(time.trim(), "%H:%M").ok()?;
        self.0.from_local_datetime(&d.and_time(t)).earliest().map(|x| x.timestamp_millis())
    }
    /// Midnight starting the local day of `ms`.
    pub fn day_start(self, ms: Millis) -> Millis {
        let d = self.local(ms).date();
        self.parse_local(&d.format("%Y-%m-%d").to_string(), "00:00").unwrap_or(ms)
    }
}

#[cfg(test)]
mod zone_tests {
    use super::*;

    #[test]
    fn local_times_round_trip_across_daylight_saving() {
        let z = Zone::parse("America/Toronto").unwrap();
        let ms = z.parse_local("2026-07-01", "14:30").unwrap();
        assert_eq!(z.format(ms), "2026-07-01 14:30");
        assert_eq!(rfc3339(ms), "2026-07-01T18:30:00.000Z");
        let winter = z.parse_local("2026-12-01", "14:30").unwrap();
        assert_eq!(rfc3339(winter), "2026-12-01T19:30:00.000Z");
        assert!(z.parse_local("2026-03-08", "02:30").is_none(), "skipped hour");
        assert!(z.parse_local("2026-13-01", "10:00").is_none());
        assert_eq!(z.format(z.day_start(ms)), "2026-07-01 00:00");
    }
}
