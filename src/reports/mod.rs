//! Reports: the sales and service dashboards (issue 20).
//!
//! A dashboard is a set of [`Chart`]s and [`Kpi`]s computed for a [`Period`] (and the
//! previous period of the same length, for comparison) over what the user may see: every
//! query goes through the list filters of its records (`sales::store::report_from`,
//! `service::store::visible_rows`) with the user's visibility, so that a figure and the list it
//! links to count the same rows (tests/reports.rs checks each one). Nothing is cached: each
//! figure is an aggregate over the indexes of the dates it is counted by (migration 24).
//!
//! - [`sales`] the sales dashboard: pipeline, leads, speed to lead, appointments and show
//!   rate, funnel, win rate and lost reasons, expired, per rep and per branch;
//! - [`service`] the service dashboard: backlog, opened and closed, service levels,
//!   interventions per technician, returns by reason;
//! - [`chart`] charts as SVG (server-rendered, accessible), their tables and CSV.

pub mod chart;
pub mod figures;
pub mod sales;
pub mod service;

use chrono::{Datelike, Duration, NaiveDate};

use crate::clock::{Millis, Zone};
use crate::db::Sql;

/// Whose figures: the user's own (`owner_id`), a unit and what is below it, or everything the
/// user sees (neither); always within the user's visibility.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope {
    pub owner_id: Option<i64>,
    pub unit_id: Option<i64>,
}

impl Scope {
    /// The scope as list filters (`owner_id=…`, `unit_id=…`), with a trailing `&` when any.
    pub fn query(&self) -> String {
        let mut q = String::new();
        if let Some(o) = self.owner_id {
            q.push_str(&format!("owner_id={o}&"));
        }
        if let Some(u) = self.unit_id {
            q.push_str(&format!("unit_id={u}&"));
        }
        q
    }
}

/// The preset periods of the dashboards.
pub const PRESETS: &[&str] = &["7d", "30d", "90d", "month", "prev_month", "quarter", "year"];

/// A period: whole days `from..=to` in the company's time zone, as `[start, end)` in ms.
#[derive(Debug, Clone)]
pub struct Period {
    /// A preset's code, or `custom`.
    pub preset: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub start: Millis,
    pub end: Millis,
    pub zone: Zone,
}

impl Period {
    /// The period of `preset` (or of `from`/`to` when both are given), `today` included.
    /// `None` when the dates are not dates or the period is empty or longer than 3 years.
    pub fn parse(preset: Option<&str>, from: Option<&str>, to: Option<&str>, today: NaiveDate, zone: Zone) -> Option<Period> {
        let day = |s: &str| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
        // The dates count with `custom` (or without a preset): a form sends the preset with the
        // dates it shows, and picking another preset must not keep the old dates.
        let (code, from, to) = match (from.filter(|s| !s.is_empty()), to.filter(|s| !s.is_empty())) {
            (Some(f), Some(t)) if preset.is_none_or(|p| p == "custom") => ("custom".to_string(), day(f)?, day(t)?),
            _ => {
                let code = preset.filter(|p| PRESETS.contains(p)).unwrap_or("30d");
                let (f, t) = Self::preset_days(code, today)?;
                (code.to_string(), f, t)
            }
        };
        if to < from || (to - from).num_days() > 3 * 366 {
            return None;
        }
        Some(Period::of_days(&code, from, to, zone))
    }

    fn preset_days(code: &str, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
        let month_start = today.with_day(1)?;
        Some(match code {
            "7d" => (today - Duration::days(6), today),
            "90d" => (today - Duration::days(89), today),
            "month" => (month_start, today),
            "prev_month" => {
                let last = month_start.pred_opt()?;
                (last.with_day(1)?, last)
            }
            "quarter" => (NaiveDate::from_ymd_opt(today.year(), (today.month0() / 3) * 3 + 1, 1)?, today),
            "year" => (NaiveDate::from_ymd_opt(today.year(), 1, 1)?, today),
            _ => (today - Duration::days(29), today),
        })
    }

    pub fn of_days(preset: &str, from: NaiveDate, to: NaiveDate, zone: Zone) -> Period {
        let end_day = to.succ_opt().unwrap_or(to);
        Period { preset: preset.to_string(), from, to, start: zone.midnight(from), end: zone.midnight(end_day), zone }
    }

    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The period of the same number of days just before this one.
    pub fn previous(&self, zone: Zone) -> Period {
        let to = self.from.pred_opt().unwrap_or(self.from);
        let from = to - Duration::days(self.days() - 1);
        Period::of_days("previous", from, to, zone)
    }

    /// The grain of its time series: days up to a month, weeks up to half a year, else months.
    pub fn grain(&self) -> Grain {
        match self.days() {
            0..=31 => Grain::Day,
            32..=183 => Grain::Week,
            _ => Grain::Month,
        }
    }

    /// The buckets of its time series: each `(first day, last day)`, weeks from Monday and
    /// months from the 1st (the first and last may be partial).
    pub fn buckets(&self) -> Vec<(NaiveDate, NaiveDate)> {
        let grain = self.grain();
        let mut out = Vec::new();
        let mut d = self.from;
        while d <= self.to {
            let next = match grain {
                Grain::Day => d.succ_opt(),
                Grain::Week => Some(d + Duration::days(7 - d.weekday().num_days_from_monday() as i64)),
                Grain::Month => {
                    let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
                    NaiveDate::from_ymd_opt(y, m, 1)
                }
            };
            let Some(next) = next else { break };
            let last = next.pred_opt().unwrap_or(next).min(self.to);
            out.push((d, last));
            d = next;
        }
        out
    }

    /// The end (exclusive, in ms) of each of [`buckets`](Self::buckets).
    pub fn bucket_ends(&self) -> Vec<Millis> {
        self.buckets().iter().map(|(_, last)| self.zone.midnight(last.succ_opt().unwrap_or(*last))).collect()
    }

    /// `from=…&to=…` of the period, for a link to a list.
    pub fn query(&self) -> String {
        format!("from={}&to={}", self.from.format("%Y-%m-%d"), self.to.format("%Y-%m-%d"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Day,
    Week,
    Month,
}

/// A bucket's label: `06/12` (day), `sem. 06/12` (week), `2026-12` (month).
pub fn bucket_label(first: NaiveDate, grain: Grain, french: bool) -> String {
    let dm = if french { first.format("%d/%m").to_string() } else { first.format("%m/%d").to_string() };
    match grain {
        Grain::Day => dm,
        Grain::Week => format!("{} {dm}", if french { "sem." } else { "wk" }),
        Grain::Month => first.format("%Y-%m").to_string(),
    }
}

/// `CAST(CASE WHEN col < b1 THEN 0 WHEN col < b2 THEN 1 … ELSE n - 1 END AS BIGINT)`: the bucket of `col`
/// among bounds (each bucket's end, in ms; the rows are already within the period).
pub fn bucket_case(col: &str, ends: &[Millis]) -> Sql {
    if ends.len() < 2 {
        // One bucket (a one-day period): a `CASE` without a `WHEN` is not SQL.
        return Sql::new("CAST(0 AS BIGINT)");
    }
    let mut s = Sql::new("CAST(CASE");
    for (i, e) in ends.iter().enumerate().take(ends.len().saturating_sub(1)) {
        s.push(" WHEN ").push(col).push(" < ").bind(*e).push(&format!(" THEN {i}"));
    }
    s.push(&format!(" ELSE {} END AS BIGINT)", ends.len().saturating_sub(1)));
    s
}

/// What a figure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Count,
    /// Cents of the sales currency.
    Money,
    /// Per mille (0–1000), shown as a percentage with one decimal.
    Permille,
    Minutes,
    Hours,
}

/// One bar of a chart: a label, a value, the previous period's when compared, and the list
/// it counts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Bar {
    /// A stable code (CSV, tests).
    pub code: String,
    pub label: String,
    pub value: i64,
    pub previous: Option<i64>,
    pub href: Option<String>,
}

/// A chart with the table behind it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Chart {
    /// The chart's id in the page and in `?csv=` (stable).
    pub id: &'static str,
    pub title: String,
    /// What it counts, said in a sentence under the title.
    pub note: String,
    pub unit: Unit,
    /// Horizontal bars (categories) or columns (a time series).
    pub series: bool,
    pub bars: Vec<Bar>,
    /// A second value per bar (e.g. amounts beside counts), shown in the table and the CSV.
    pub extra: Option<Extra>,
}

/// A second column of a chart's table.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Extra {
    pub label: String,
    pub unit: Unit,
    pub values: Vec<i64>,
}

impl Chart {
    pub fn total(&self) -> i64 {
        self.bars.iter().map(|b| b.value).sum()
    }
}

/// A key figure: a value, the previous period's, the list it counts.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Kpi {
    pub id: &'static str,
    pub label: String,
    pub value: Option<i64>,
    pub previous: Option<i64>,
    pub unit: Unit,
    pub href: Option<String>,
}

impl Kpi {
    /// The change from the previous period, in per cent (`None` without a base).
    pub fn delta_percent(&self) -> Option<i64> {
        match (self.value, self.previous) {
            (Some(v), Some(p)) if p != 0 => Some(((v - p) * 100) / p.abs()),
            _ => None,
        }
    }
}

/// `part / whole` in per mille (`None` when `whole` is 0).
pub fn permille(part: i64, whole: i64) -> Option<i64> {
    (whole > 0).then(|| (part * 1000 + whole / 2) / whole)
}

/// A value for people in the unit's way (`12 %`, `3 h 20`, money with the currency).
pub fn format(value: i64, unit: Unit, currency: &str, french: bool) -> String {
    match unit {
        Unit::Count => crate::money::display(value * 100, "", french),
        Unit::Money => crate::money::display(value - value % 100, currency, french),
        Unit::Permille => {
            let s = format!("{}{}{}", value / 10, if french { "," } else { "." }, value % 10);
            if french {
                format!("{s}\u{a0}%")
            } else {
                format!("{s}%")
            }
        }
        Unit::Minutes => match value {
            m if m < 60 => format!("{m} min"),
            m if m < 60 * 48 => format!("{} h {:02}", m / 60, m % 60),
            m => format!("{} {}", m / (60 * 24), if french { "j" } else { "d" }),
        },
        Unit::Hours => format!("{} h", value),
    }
}

/// The CSV of a chart: a header, then one line per bar (the previous period's value when
/// compared, the extra column when there is one).
pub fn csv(chart: &Chart, label_header: &str, value_header: &str, previous_header: &str) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let safe = crate::customers::csv_safe;
    let compared = chart.bars.iter().any(|b| b.previous.is_some());
    let mut head = vec!["code".to_string(), safe(label_header), safe(value_header)];
    if compared {
        head.push(safe(previous_header));
    }
    if let Some(e) = &chart.extra {
        head.push(safe(&e.label));
    }
    let _ = w.write_record(&head);
    for (i, b) in chart.bars.iter().enumerate() {
        let mut line = vec![safe(&b.code), safe(&b.label), b.value.to_string()];
        if compared {
            line.push(b.previous.map(|p| p.to_string()).unwrap_or_default());
        }
        if let Some(e) = &chart.extra {
            line.push(e.values.get(i).map(|x| x.to_string()).unwrap_or_default());
        }
        let _ = w.write_record(&line);
    }
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn presets_and_previous_periods() {
        let z = Zone::parse("America/Toronto").unwrap();
        let today = d("2026-12-06");
        let p = Period::parse(Some("30d"), None, None, today, z).unwrap();
        assert_eq!((p.from, p.to, p.days()), (d("2026-11-07"), d("2026-12-06"), 30));
        let prev = p.previous(z);
        assert_eq!((prev.from, prev.to), (d("2026-10-08"), d("2026-11-06")));
        assert_eq!(prev.end, p.start);
        let m = Period::parse(Some("prev_month"), None, None, today, z).unwrap();
        assert_eq!((m.from, m.to), (d("2026-11-01"), d("2026-11-30")));
        let q = Period::parse(Some("quarter"), None, None, today, z).unwrap();
        assert_eq!(q.from, d("2026-10-01"));
        let c = Period::parse(None, Some("2026-01-01"), Some("2026-01-31"), today, z).unwrap();
        assert_eq!((c.preset.as_str(), c.days()), ("custom", 31));
        // A form sends the preset with the dates it shows: the preset wins unless it is `custom`.
        let preset = Period::parse(Some("7d"), Some("2026-11-01"), Some("2026-12-06"), today, z).unwrap();
        assert_eq!((preset.preset.as_str(), preset.days()), ("7d", 7));
        let custom = Period::parse(Some("custom"), Some("2026-11-01"), Some("2026-12-06"), today, z).unwrap();
        assert_eq!((custom.preset.as_str(), custom.days()), ("custom", 36));
        assert!(Period::parse(None, Some("2026-02-01"), Some("2026-01-31"), today, z).is_none());
        assert!(Period::parse(None, Some("x"), Some("2026-01-31"), today, z).is_none());
        // Across the change to winter time the day is 25 hours long.
        let dst = Period::parse(None, Some("2026-11-01"), Some("2026-11-01"), today, z).unwrap();
        assert_eq!(dst.end - dst.start, 25 * 3_600_000);
    }

    #[test]
    fn buckets_cover_the_period_once() {
        let z = Zone::default();
        let p = Period::of_days("custom", d("2026-11-04"), d("2026-12-06"), z);
        assert_eq!(p.grain(), Grain::Week);
        let b = p.buckets();
        assert_eq!(b.first(), Some(&(d("2026-11-04"), d("2026-11-08"))));
        assert_eq!(b[1], (d("2026-11-09"), d("2026-11-15")));
        assert_eq!(b.last(), Some(&(d("2026-11-30"), d("2026-12-06"))));
        let days: i64 = b.iter().map(|(f, l)| (*l - *f).num_days() + 1).sum();
        assert_eq!(days, p.days());
        let y = Period::of_days("custom", d("2026-01-15"), d("2026-12-06"), z);
        assert_eq!(y.buckets().len(), 12);
        assert_eq!(y.buckets()[0], (d("2026-01-15"), d("2026-01-31")));
    }

    #[test]
    fn figures_read_in_each_language() {
        assert_eq!(format(1234, Unit::Count, "", false), "1,234");
        assert_eq!(format(375, Unit::Permille, "", false), "37.5%");
        assert_eq!(format(375, Unit::Permille, "", true), "37,5\u{a0}%");
        assert_eq!(format(95, Unit::Minutes, "", true), "1 h 35");
        assert_eq!(format(1_250_099, Unit::Money, "CAD", false), "12,500 CAD");
        assert_eq!(permille(1, 3), Some(333));
        assert_eq!(permille(1, 0), None);
    }
}
