//! Time is a parameter: code asks a [`Clock`] for "now" and never calls the system clock
//! itself, so that expiry rules, session timeouts and rate limits can be tested at their
//! boundaries. Timestamps are stored as milliseconds since the Unix epoch (UTC) on both
//! database backends.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};

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
    /// The first instant of a local day: its midnight, or, where a daylight-saving change
    /// skips midnight, the first hour that exists.
    pub fn midnight(self, date: NaiveDate) -> Millis {
        use chrono::TimeZone;
        (0..3)
            .find_map(|h| {
                let t = NaiveTime::from_hms_opt(h, 0, 0)?;
                self.0.from_local_datetime(&date.and_time(t)).earliest().map(|x| x.timestamp_millis())
            })
            .unwrap_or_else(|| date.and_time(NaiveTime::MIN).and_utc().timestamp_millis())
    }
    /// The days a calendar or a planning shows for `date`, and the instants bounding them:
    /// from the first day's local midnight to the local midnight after the last day (so a
    /// week across a daylight-saving change is 167 or 169 hours, never 7 × 24 h shifted).
    pub fn window(self, date: NaiveDate, span: Span) -> Window {
        use chrono::Datelike;
        let (first, n) = match span {
            Span::Day => (date, 1),
            Span::Week => (date - Days::new(date.weekday().num_days_from_monday() as u64), 7),
            Span::Days(n) => (date, n),
        };
        Window { from: self.midnight(first), to: self.midnight(first + Days::new(n)), days: (0..n).map(|i| first + Days::new(i)).collect() }
    }
}

/// The most days a calendar or a planning shows at once.
pub const WINDOW_DAYS_MAX: i64 = 42;

/// What a [`Zone::window`] covers from its date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// The day itself.
    Day,
    /// The week (Monday to Sunday) holding the day.
    Week,
    /// This many days from the day.
    Days(u64),
}

impl Span {
    /// The `view` parameter of the calendar and planning pages: `day`, else the week.
    pub fn of_view(view: Option<&str>) -> Span {
        if view == Some("day") {
            Span::Day
        } else {
            Span::Week
        }
    }
}

/// A window of local days: `[from, to)` in UTC milliseconds, and its days in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub from: Millis,
    pub to: Millis,
    pub days: Vec<NaiveDate>,
}

impl Window {
    /// The number of days, as a step to the previous or next window.
    pub fn step(&self) -> Days {
        Days::new(self.days.len() as u64)
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

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_week_window_runs_from_monday_to_the_next_monday_midnight() {
        let z = Zone::parse("America/Toronto").unwrap();
        // Wednesday 2026-11-25.
        let w = z.window(day("2026-11-25"), Span::Week);
        assert_eq!(w.days.len(), 7);
        assert_eq!(w.days[0], day("2026-11-23"), "starts on Monday");
        assert_eq!(w.days[6], day("2026-11-29"));
        assert_eq!(z.format(w.from), "2026-11-23 00:00");
        assert_eq!(z.format(w.to), "2026-11-30 00:00");
        assert_eq!(w.to - w.from, 7 * 86_400_000);
        assert_eq!(w.step(), Days::new(7));
        // A Monday is its own week's first day; a Sunday the last.
        assert_eq!(z.window(day("2026-11-23"), Span::Week), w);
        assert_eq!(z.window(day("2026-11-29"), Span::Week), w);
    }

    #[test]
    fn day_and_days_windows_start_on_the_date() {
        let z = Zone::parse("America/Toronto").unwrap();
        let d = z.window(day("2026-11-25"), Span::Day);
        assert_eq!(d.days, vec![day("2026-11-25")]);
        assert_eq!((z.format(d.from).as_str(), z.format(d.to).as_str()), ("2026-11-25 00:00", "2026-11-26 00:00"));
        assert_eq!(d.step(), Days::new(1));
        let n = z.window(day("2026-11-25"), Span::Days(3));
        assert_eq!(n.days, vec![day("2026-11-25"), day("2026-11-26"), day("2026-11-27")]);
        assert_eq!(z.format(n.to), "2026-11-28 00:00");
        assert_eq!(Span::of_view(Some("day")), Span::Day);
        assert_eq!(Span::of_view(Some("week")), Span::Week);
        assert_eq!(Span::of_view(None), Span::Week);
    }

    #[test]
    fn windows_count_local_days_across_daylight_saving() {
        let z = Zone::parse("America/Toronto").unwrap();
        // Clocks go forward on Sunday 2026-03-08: that week is one hour short.
        let spring = z.window(day("2026-03-04"), Span::Week);
        assert_eq!(spring.to - spring.from, 7 * 86_400_000 - 3_600_000);
        assert_eq!(z.format(spring.to), "2026-03-09 00:00");
        // And back on Sunday 2026-11-01: that day is one hour long.
        let autumn = z.window(day("2026-11-01"), Span::Day);
        assert_eq!(autumn.to - autumn.from, 25 * 3_600_000);
        // Where midnight itself is skipped (Santiago, 2026-09-06), the day starts at 01:00.
        let s = Zone::parse("America/Santiago").unwrap();
        assert_eq!(s.format(s.midnight(day("2026-09-06"))), "2026-09-06 01:00");
        assert_eq!(s.format(s.midnight(day("2026-09-07"))), "2026-09-07 00:00");
    }
}
