//! Business hours: the days and hours a team works, and its holidays, in the business's time
//! zone. Service-level targets are counted in business minutes: a request opened on Friday at
//! 16:30 with a 2-hour target under `1-5 08:00-17:00` is due on Monday at 09:30 (Tuesday if
//! Monday is a holiday). A leaf module: settings validate their values with it.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone};

use crate::clock::{Millis, Zone};

/// The working week: which ISO days (1 = Monday … 7 = Sunday) and the hours of each, e.g.
/// `1-5 08:00-17:00` or `1,2,3,4 08:30-17:30`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hours {
    days: [bool; 7],
    start: NaiveTime,
    end: NaiveTime,
}

impl Hours {
    pub fn parse(spec: &str) -> Option<Hours> {
        let (days_part, time_part) = spec.trim().split_once(char::is_whitespace)?;
        let mut days = [false; 7];
        for piece in days_part.split(',') {
            let (a, b) = match piece.split_once('-') {
                Some((a, b)) => (a.trim().parse::<usize>().ok()?, b.trim().parse::<usize>().ok()?),
                None => {
                    let d = piece.trim().parse::<usize>().ok()?;
                    (d, d)
                }
            };
            if !(1..=7).contains(&a) || !(1..=7).contains(&b) || a > b {
                return None;
            }
            for d in a..=b {
                days[d - 1] = true;
            }
        }
        let (s, e) = time_part.trim().split_once('-')?;
        let start = NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()?;
        let end = NaiveTime::parse_from_str(e.trim(), "%H:%M").ok()?;
        (start < end).then_some(Hours { days, start, end })
    }
}

/// Holidays: dates `YYYY-MM-DD` separated by spaces or commas (may be empty).
pub fn parse_holidays(spec: &str) -> Option<BTreeSet<NaiveDate>> {
    spec.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .collect()
}

/// Business hours in a time zone, with holidays.
#[derive(Debug, Clone)]
pub struct Calendar {
    zone: Zone,
    hours: Hours,
    holidays: BTreeSet<NaiveDate>,
}

/// How far [`Calendar::add`] looks ahead before giving up (a calendar with every day a holiday).
const HORIZON_DAYS: i64 = 3 * 366;

impl Calendar {
    pub fn new(zone: Zone, hours: Hours, holidays: BTreeSet<NaiveDate>) -> Calendar {
        Calendar { zone, hours, holidays }
    }

    /// An instant as the business reads it (`2026-12-07 09:30`, local time).
    pub fn format(&self, ms: Millis) -> String {
        self.zone.format(ms)
    }

    fn instant(&self, date: NaiveDate, t: NaiveTime) -> Millis {
        let local = date.and_time(t);
        // A time skipped by a clock change is taken an hour later; a repeated one, first.
        let z = self.zone.0;
        z.from_local_datetime(&local)
            .earliest()
            .or_else(|| z.from_local_datetime(&(local + Duration::hours(1))).earliest())
            .map(|d| d.timestamp_millis())
            .unwrap_or_else(|| local.and_utc().timestamp_millis())
    }

    /// The business window of a day (start, end instants), if it is a working day.
    fn window(&self, date: NaiveDate) -> Option<(Millis, Millis)> {
        let working = self.hours.days[date.weekday().number_from_monday() as usize - 1] && !self.holidays.contains(&date);
        working.then(|| (self.instant(date, self.hours.start), self.instant(date, self.hours.end)))
    }

    /// The instant `minutes` business minutes after `from` (a target's due time). `None` when
    /// the calendar has no working time within three years.
    pub fn add(&self, from: Millis, minutes: i64) -> Option<Millis> {
        let mut left = minutes.max(0) * 60_000;
        let mut date = self.zone.local(from).date();
        for _ in 0..HORIZON_DAYS {
            if let Some((start, end)) = self.window(date) {
                let begin = start.max(from);
                if begin < end {
                    if left <= end - begin {
                        return Some(begin + left);
                    }
                    left -= end - begin;
                }
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// Business minutes from `a` to `b` (negative when `b` is before `a`).
    pub fn minutes_between(&self, a: Millis, b: Millis) -> i64 {
        if b < a {
            return -self.minutes_between(b, a);
        }
        let mut total = 0;
        let mut date = self.zone.local(a).date();
        let last = self.zone.local(b).date();
        while date <= last {
            if let Some((start, end)) = self.window(date) {
                let (s, e) = (start.max(a), end.min(b));
                if s < e {
                    total += e - s;
                }
            }
            match date.succ_opt() {
                Some(d) => date = d,
                None => break,
            }
        }
        total / 60_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(holidays: &str) -> Calendar {
        Calendar::new(Zone::parse("America/Toronto").unwrap(), Hours::parse("1-5 08:00-17:00").unwrap(), parse_holidays(holidays).unwrap())
    }

    fn at(c: &Calendar, s: &str) -> Millis {
        let (d, t) = s.split_once(' ').unwrap();
        c.instant(NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap(), NaiveTime::parse_from_str(t, "%H:%M").unwrap())
    }

    #[test]
    fn specs_are_checked() {
        assert!(Hours::parse("1-5 08:00-17:00").is_some());
        assert!(Hours::parse("1,3,5 09:30-12:00").is_some());
        assert!(Hours::parse("1-7 00:00-23:59").is_some());
        for bad in
            ["", "1-5", "0-5 08:00-17:00", "5-1 08:00-17:00", "1-8 08:00-17:00", "1-5 17:00-08:00", "1-5 8h-17h", "lun-ven 08:00-17:00"]
        {
            assert!(Hours::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(parse_holidays("").unwrap().len(), 0);
        assert_eq!(parse_holidays("2026-12-25, 2027-01-01 2026-12-26").unwrap().len(), 3);
        assert!(parse_holidays("2026-12-32").is_none());
        assert!(parse_holidays("25/12/2026").is_none());
    }

    #[test]
    fn due_times_skip_nights_weekends_and_holidays() {
        let c = cal("");
        // Within the day.
        assert_eq!(c.add(at(&c, "2026-12-07 09:00"), 120), Some(at(&c, "2026-12-07 11:00")));
        // Before opening: counted from 08:00.
        assert_eq!(c.add(at(&c, "2026-12-07 06:00"), 30), Some(at(&c, "2026-12-07 08:30")));
        // Friday 16:30 + 2 h: 30 min on Friday, 90 on Monday.
        assert_eq!(c.add(at(&c, "2026-12-11 16:30"), 120), Some(at(&c, "2026-12-14 09:30")));
        // Saturday: counted from Monday 08:00.
        assert_eq!(c.add(at(&c, "2026-12-12 10:00"), 60), Some(at(&c, "2026-12-14 09:00")));
        // Ending exactly at closing time stays on that day.
        assert_eq!(c.add(at(&c, "2026-12-07 16:00"), 60), Some(at(&c, "2026-12-07 17:00")));
        // Christmas Friday and Monday 28th off: Thursday 16:00 + 3 h → Tuesday 10:00.
        let h = cal("2026-12-25 2026-12-28");
        assert_eq!(h.add(at(&h, "2026-12-24 16:00"), 180), Some(at(&h, "2026-12-29 10:00")));
        // Two business days (18 h) from Wednesday 12:00 → Friday 12:00.
        assert_eq!(c.add(at(&c, "2026-12-09 12:00"), 18 * 60), Some(at(&c, "2026-12-11 12:00")));
        // A weekend team: Thursday 1970-01-01 00:00 UTC + 1 h → Saturday 09:00.
        let weekend = Calendar::new(Zone::parse("UTC").unwrap(), Hours::parse("6-7 08:00-17:00").unwrap(), BTreeSet::new());
        assert_eq!(weekend.add(0, 60), Some(2 * 86_400_000 + 9 * 3_600_000));
    }

    #[test]
    fn minutes_between_counts_business_time_only() {
        let c = cal("2026-12-25");
        assert_eq!(c.minutes_between(at(&c, "2026-12-07 09:00"), at(&c, "2026-12-07 11:30")), 150);
        assert_eq!(c.minutes_between(at(&c, "2026-12-11 16:00"), at(&c, "2026-12-14 09:00")), 120);
        assert_eq!(c.minutes_between(at(&c, "2026-12-14 09:00"), at(&c, "2026-12-11 16:00")), -120);
        assert_eq!(c.minutes_between(at(&c, "2026-12-24 16:00"), at(&c, "2026-12-28 08:30")), 90, "Christmas off");
        assert_eq!(c.minutes_between(at(&c, "2026-12-12 10:00"), at(&c, "2026-12-13 15:00")), 0, "a weekend");
        // add and minutes_between agree.
        let from = at(&c, "2026-12-23 15:10");
        for m in [0, 1, 59, 540, 541, 2000] {
            assert_eq!(c.minutes_between(from, c.add(from, m).unwrap()), m, "{m}");
        }
    }

    #[test]
    fn clock_changes_keep_business_hours_local() {
        // Toronto moves to summer time on Sunday 2027-03-14: Friday 16:00 + 2 h is Monday 09:00 local.
        let c = cal("");
        let due = c.add(at(&c, "2027-03-12 16:00"), 120).unwrap();
        assert_eq!(c.zone.local(due).format("%Y-%m-%d %H:%M").to_string(), "2027-03-15 09:00");
    }
}

/// Where a booking (a meeting, an intervention) is moved to on a time grid: its new local day
/// and times, and, dropped into another person's column, who it passes from and to. The body of
/// `POST /api/v1/meetings/{id}/move` and `…/interventions/{id}/move`: only the slot and the
/// person travel, so a grid loaded an hour ago cannot write back stale participants, reports or
/// descriptions.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MoveSlot)]
pub struct Slot {
    /// `YYYY-MM-DD`, local.
    pub date: String,
    /// `HH:MM`, local.
    pub start_time: String,
    /// `HH:MM`, local.
    pub end_time: String,
    /// `[from, to]`: the person whose column it left and the one it was dropped on.
    #[serde(default)]
    pub person: Option<(i64, i64)>,
}

impl Slot {
    /// `ids` with `from` replaced by `to` (once, and `to` not twice).
    pub fn swap(ids: &[i64], from: i64, to: i64) -> Vec<i64> {
        let mut out: Vec<i64> = ids.iter().copied().filter(|x| *x != from && *x != to).collect();
        out.push(to);
        out
    }
}
