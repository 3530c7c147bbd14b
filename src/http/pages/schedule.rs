//! The time grid of the calendar (meetings) and the planning (interventions): the layout is
//! computed here, on the server, and drawn with CSS grid classes (`gr-N` the first row,
//! `gs-N` the rows spanned, `lane-LK` lane K of L): the Content-Security-Policy allows no
//! inline style. Rows are [`ROW_MINUTES`] long. The day view has one column per person, the
//! week view one per day. Bookings of one person that overlap are marked; the current time is
//! a line. A phone shows the same entries as an agenda list by day (CSS only).
//! Pure layout: no SQL, no HTTP; each page builds its [`Entry`]s and columns.

use chrono::{NaiveDate, Timelike};

use crate::clock::{Millis, Zone};

/// Minutes per row of the grid.
pub const ROW_MINUTES: u32 = 15;
/// The hours shown when nothing is booked outside them.
const FIRST_HOUR: u32 = 7;
const LAST_HOUR: u32 = 19;
/// Lanes side by side in a column before overlapping entries share the last one.
const MAX_LANES: usize = 4;
/// Minutes of an empty slot one clicks to book.
const SLOT_MINUTES: u32 = 30;

/// A booking to place (a meeting, an intervention).
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub start: Millis,
    pub end: Millis,
    /// Whose: the rep of a meeting, the technicians of an intervention (conflicts, columns).
    pub people: Vec<i64>,
    pub href: String,
    /// What people read: the customer's name and the kind in full.
    pub title: String,
    /// The people's names, the place.
    pub detail: String,
    /// An extra CSS class (the meeting's priority).
    pub class: String,
    pub cancelled: bool,
    /// Whether a drag may move it (`POST <api>/{id}/move` with its new slot alone).
    pub movable: bool,
}

/// A column: a day (week view) or a person (day view).
#[derive(Debug, Clone)]
pub struct ColumnSpec {
    pub label: String,
    pub date: NaiveDate,
    pub person: Option<i64>,
}

/// An entry placed in a column.
#[derive(Debug, Clone)]
pub struct Placed {
    pub e: Entry,
    pub row: u32,
    pub span: u32,
    /// `lane-LK`: lane K (1-based) of L.
    pub lane: String,
    pub conflict: bool,
    /// `09:00–10:00`.
    pub time: String,
}

/// An empty slot: a link to book there.
#[derive(Debug, Clone)]
pub struct Slot {
    pub row: u32,
    pub time: String,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub label: String,
    pub date: String,
    pub person: Option<i64>,
    pub today: bool,
    pub events: Vec<Placed>,
    pub slots: Vec<Slot>,
    /// The row of the current time, in today's column.
    pub now_row: Option<u32>,
}

/// One day of the agenda list (phones).
#[derive(Debug, Clone)]
pub struct AgendaDay {
    pub label: String,
    pub today: bool,
    pub events: Vec<Placed>,
}

#[derive(Debug, Clone)]
pub struct Grid {
    pub first_hour: u32,
    pub rows: u32,
    /// `(row, "08:00")` for each hour.
    pub hours: Vec<(u32, String)>,
    pub columns: Vec<Column>,
    pub agenda: Vec<AgendaDay>,
    /// How many entries overlap another booking of the same person.
    pub conflicts: usize,
}

/// The columns of a day of people: `people` (a branch's, or the one chosen), then whoever
/// else is `booked`; the day itself as one column when there is nobody.
pub fn people_columns(
    mut people: Vec<(i64, String)>,
    booked: impl IntoIterator<Item = (i64, String)>,
    date: NaiveDate,
    day_label: String,
) -> Vec<ColumnSpec> {
    for (id, name) in booked {
        if !people.iter().any(|p| p.0 == id) {
            people.push((id, name));
        }
    }
    if people.is_empty() {
        return vec![ColumnSpec { label: day_label, date, person: None }];
    }
    people.into_iter().map(|(id, name)| ColumnSpec { label: name, date, person: Some(id) }).collect()
}

/// A slot clicked in a grid (`date`, `start_time` as typed in the query): the local date,
/// start and end (`hours` later, at most 23:59) of the booking, when both are valid.
pub fn slot(date: Option<&str>, time: Option<&str>, hours: i64) -> Option<(String, String, String)> {
    let d = NaiveDate::parse_from_str(date?.trim(), "%Y-%m-%d").ok()?;
    let t = chrono::NaiveTime::parse_from_str(time?.trim(), "%H:%M").ok()?;
    let end = t + chrono::Duration::hours(hours);
    let end = if end <= t { chrono::NaiveTime::from_hms_opt(23, 59, 0)? } else { end };
    Some((d.format("%Y-%m-%d").to_string(), t.format("%H:%M").to_string(), end.format("%H:%M").to_string()))
}

/// A slot as the query of the form it opens (`date=…&start_time=…&owner_id=…`).
pub fn slot_query(slot: Option<(String, String, String)>, person_field: &str, person: Option<i64>) -> String {
    let mut s = String::new();
    if let Some((d, t, _)) = slot {
        s.push_str(&format!("date={d}&start_time={t}"));
    }
    if let Some(p) = person {
        s.push_str(&format!("&{person_field}={p}"));
    }
    s
}

/// The ids of entries that overlap another live entry of one of their people.
pub fn conflicting(entries: &[Entry]) -> Vec<i64> {
    let live: Vec<&Entry> = entries.iter().filter(|e| !e.cancelled).collect();
    let mut out = Vec::new();
    for (n, a) in live.iter().enumerate() {
        for b in &live[n + 1..] {
            if a.start < b.end && b.start < a.end && a.people.iter().any(|p| b.people.contains(p)) {
                out.push(a.id);
                out.push(b.id);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Lanes for entries of one column sorted by start: overlapping entries side by side. Returns
/// (lane, lanes of its cluster) per entry.
fn lanes(items: &[(u32, u32)]) -> Vec<(usize, usize)> {
    let mut out = vec![(0, 1); items.len()];
    let mut i = 0;
    while i < items.len() {
        // A cluster: entries chained by overlap.
        let mut end = items[i].0 + items[i].1;
        let mut j = i + 1;
        while j < items.len() && items[j].0 < end {
            end = end.max(items[j].0 + items[j].1);
            j += 1;
        }
        let mut lane_ends: Vec<u32> = Vec::new();
        for k in i..j {
            let (row, span) = items[k];
            let lane = match lane_ends.iter().position(|&e| e <= row) {
                Some(l) => l,
                None if lane_ends.len() < MAX_LANES => {
                    lane_ends.push(0);
                    lane_ends.len() - 1
                }
                None => MAX_LANES - 1,
            };
            lane_ends[lane] = lane_ends[lane].max(row + span);
            out[k].0 = lane;
        }
        for o in &mut out[i..j] {
            o.1 = lane_ends.len();
        }
        i = j;
    }
    out
}

/// Lays `entries` out in `columns` (an entry goes in the column of its start date and, when the
/// column is a person's, of that person). `now` draws the current-time line.
pub fn layout(zone: Zone, columns: &[ColumnSpec], entries: &[Entry], now: Millis, agenda_labels: &[(NaiveDate, String)]) -> Grid {
    // The hours: the default day, widened to what is booked.
    let (mut first, mut last) = (FIRST_HOUR, LAST_HOUR);
    for e in entries {
        let (s, t) = (zone.local(e.start), zone.local(e.end));
        first = first.min(s.hour());
        if t.date() > s.date() {
            last = 24;
        } else {
            last = last.max(t.hour() + u32::from(t.minute() > 0));
        }
    }
    let rows = (last - first) * 60 / ROW_MINUTES;
    let row_of = |ms: Millis, date: NaiveDate| -> u32 {
        let t = zone.local(ms);
        let minutes = if t.date() < date {
            0
        } else if t.date() > date {
            24 * 60
        } else {
            t.hour() * 60 + t.minute()
        };
        let m = minutes.saturating_sub(first * 60).min(rows * ROW_MINUTES);
        m / ROW_MINUTES + 1
    };
    let conflicts = conflicting(entries);
    let place = |e: &Entry, date: NaiveDate| -> Placed {
        let row = row_of(e.start, date).min(rows);
        let end = row_of(e.end, date).max(row + 1);
        Placed {
            e: e.clone(),
            row,
            span: (end - row).clamp(1, rows + 1 - row),
            lane: String::new(),
            conflict: conflicts.contains(&e.id),
            time: format!("{}–{}", zone.time(e.start), zone.time(e.end)),
        }
    };
    let today = zone.local(now).date();
    let now_row = {
        let t = zone.local(now);
        let m = t.hour() * 60 + t.minute();
        (m >= first * 60 && m < last * 60).then(|| (m - first * 60) / ROW_MINUTES + 1)
    };
    let mut out_cols = Vec::new();
    for spec in columns {
        let mut events: Vec<Placed> = entries
            .iter()
            .filter(|e| zone.local(e.start).date() == spec.date && spec.person.is_none_or(|p| e.people.contains(&p)))
            .map(|e| place(e, spec.date))
            .collect();
        events.sort_by_key(|p| (p.row, std::cmp::Reverse(p.span), p.e.id));
        let spans: Vec<(u32, u32)> = events.iter().map(|p| (p.row, p.span)).collect();
        for (p, (lane, n)) in events.iter_mut().zip(lanes(&spans)) {
            p.lane = format!("lane-{}{}", n.min(MAX_LANES), lane.min(MAX_LANES - 1) + 1);
        }
        let step = SLOT_MINUTES / ROW_MINUTES;
        let slots = (0..rows / step)
            .map(|k| {
                let m = first * 60 + k * SLOT_MINUTES;
                Slot { row: k * step + 1, time: format!("{:02}:{:02}", m / 60, m % 60) }
            })
            .collect();
        out_cols.push(Column {
            label: spec.label.clone(),
            date: spec.date.format("%Y-%m-%d").to_string(),
            person: spec.person,
            today: spec.date == today,
            events,
            slots,
            now_row: if spec.date == today { now_row } else { None },
        });
    }
    let agenda = agenda_labels
        .iter()
        .map(|(d, label)| {
            let mut events: Vec<Placed> = entries.iter().filter(|e| zone.local(e.start).date() == *d).map(|e| place(e, *d)).collect();
            events.sort_by_key(|p| (p.e.start, p.e.id));
            AgendaDay { label: label.clone(), today: *d == today, events }
        })
        .collect();
    Grid {
        first_hour: first,
        rows,
        hours: (first..last).map(|h| ((h - first) * 60 / ROW_MINUTES + 1, format!("{h:02}:00"))).collect(),
        columns: out_cols,
        agenda,
        conflicts: conflicts.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, z: Zone, day: &str, s: &str, e: &str, people: &[i64]) -> Entry {
        Entry {
            id,
            start: z.parse_local(day, s).unwrap(),
            end: z.parse_local(day, e).unwrap(),
            people: people.to_vec(),
            href: String::new(),
            title: String::new(),
            detail: String::new(),
            class: String::new(),
            cancelled: false,
            movable: true,
        }
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn rows_lanes_conflicts_and_people_columns() {
        let z = Zone::parse("America/Toronto").unwrap();
        let es = vec![
            entry(1, z, "2026-12-07", "09:00", "10:00", &[10]),
            entry(2, z, "2026-12-07", "09:30", "11:00", &[10]),
            entry(3, z, "2026-12-07", "09:30", "10:30", &[11]),
            entry(4, z, "2026-12-08", "06:00", "06:45", &[11]),
        ];
        let cols = vec![
            ColumnSpec { label: "A".into(), date: d("2026-12-07"), person: Some(10) },
            ColumnSpec { label: "B".into(), date: d("2026-12-07"), person: Some(11) },
        ];
        let now = z.parse_local("2026-12-07", "10:10").unwrap();
        let g = layout(z, &cols, &es, now, &[]);
        // Widened to 06:00 by entry 4 (not in these columns but in the window).
        assert_eq!(g.first_hour, 6);
        assert_eq!(g.rows, (19 - 6) * 4);
        let a = &g.columns[0];
        assert_eq!(
            a.events.iter().map(|p| (p.e.id, p.row, p.span, p.lane.as_str(), p.conflict)).collect::<Vec<_>>(),
            vec![(1, 13, 4, "lane-21", true), (2, 15, 6, "lane-22", true)]
        );
        let b = &g.columns[1];
        assert_eq!(b.events.iter().map(|p| (p.e.id, p.lane.as_str(), p.conflict)).collect::<Vec<_>>(), vec![(3, "lane-11", false)]);
        assert_eq!(a.now_row, Some(17), "10:10 is in the 10:00 row");
        assert_eq!(g.conflicts, 2);
        assert_eq!(a.slots[0].time, "06:00");
        assert_eq!(a.slots[1].row, 3);
    }

    #[test]
    fn slots_open_forms_at_their_time() {
        assert_eq!(slot(Some("2026-12-07"), Some("17:00"), 1), Some(("2026-12-07".into(), "17:00".into(), "18:00".into())));
        assert_eq!(slot(Some("2026-12-07"), Some("23:30"), 2).unwrap().2, "23:59", "not past midnight");
        assert_eq!(slot(Some("2026-12-32"), Some("10:00"), 1), None);
        assert_eq!(slot(Some("2026-12-07"), None, 1), None);
        assert_eq!(
            slot_query(slot(Some("2026-12-07"), Some("09:30"), 1), "owner_id", Some(4)),
            "date=2026-12-07&start_time=09:30&owner_id=4"
        );
        let cols = people_columns(vec![(1, "A".into())], [(2, "B".into()), (1, "A".into())], d("2026-12-07"), "Mon".into());
        assert_eq!(cols.iter().map(|c| (c.person, c.label.as_str())).collect::<Vec<_>>(), vec![(Some(1), "A"), (Some(2), "B")]);
        assert_eq!(people_columns(Vec::new(), [], d("2026-12-07"), "Mon".into())[0].person, None);
    }

    #[test]
    fn cancelled_entries_conflict_with_nothing() {
        let z = Zone::parse("UTC").unwrap();
        let mut es = vec![entry(1, z, "2026-12-07", "09:00", "10:00", &[1]), entry(2, z, "2026-12-07", "09:00", "10:00", &[1])];
        assert_eq!(conflicting(&es), vec![1, 2]);
        es[1].cancelled = true;
        assert!(conflicting(&es).is_empty());
    }

    #[test]
    fn many_overlaps_share_the_last_lane() {
        let l = lanes(&[(1, 4), (1, 4), (1, 4), (1, 4), (1, 4), (6, 2)]);
        assert_eq!(l, vec![(0, 4), (1, 4), (2, 4), (3, 4), (3, 4), (0, 1)]);
    }
}
