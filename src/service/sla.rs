//! Service levels (issue 20): each request has a priority (the `request_priority` list), and
//! targets per request type and priority give the business minutes allowed to the first
//! customer update and to closing, counted in the business hours of the settings
//! (`service.business_hours`, `service.holidays`, see [`crate::calendar`]). The due times are
//! stamped on the request when it is created and again when its type or priority changes; the
//! lists and the request page show the time left or overdue.
//!
//! The `sla_watch` job (every five minutes) tells the owner when a due time comes within
//! `service.sla_warning_minutes`, and the owner and the escalation group
//! (`service.escalation_group`) when it is breached — once each: the alert's key
//! (request, target, level, due time) is inserted with the emails in one transaction, so two
//! processes, or two runs, send it once.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::audit::{self, Actor, Change};
use crate::calendar::{Calendar, Hours};
use crate::clock::Millis;
use crate::db::{Db, Tx};
use crate::error::{Error, FieldErrors, Result};
use crate::mail::notify::{notify, Notice, Recipient};

/// The job that sends warnings and escalations. Stored in `jobs`: never rename it.
pub const JOB: &str = "sla_watch";

/// The longest target (a year of business minutes is far beyond any service level).
pub const MAX_MINUTES: i64 = 525_600;

/// The targets of one request type and priority, in business minutes (`None`: no target).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, FromRow, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub request_type: String,
    pub priority: String,
    pub first_update_minutes: Option<i64>,
    pub close_minutes: Option<i64>,
}

/// Every target set.
pub async fn targets(db: &Db) -> Result<Vec<Target>> {
    Ok(sqlx::query_as(
        "SELECT request_type, priority, first_update_minutes, close_minutes FROM service_levels ORDER BY request_type, priority",
    )
    .fetch_all(&db.pool)
    .await?)
}

/// Replaces the targets of the pairs given (a pair with neither target is removed), each
/// change in the history. Codes must be known types and priorities; minutes within
/// 1..=[`MAX_MINUTES`]. Due times of requests already open keep their stamp.
pub async fn set_targets(db: &Db, actor: &Actor, now: Millis, rows: &[Target]) -> Result<usize> {
    let mut errs = FieldErrors::new();
    let types = crate::lists::items(db, "request_type", true).await?;
    let priorities = crate::lists::items(db, "request_priority", true).await?;
    for (i, t) in rows.iter().enumerate() {
        if !types.iter().any(|x| x.code == t.request_type) {
            errs.add(format!("targets[{i}].request_type"), "error.invalid_choice");
        }
        if !priorities.iter().any(|x| x.code == t.priority) {
            errs.add(format!("targets[{i}].priority"), "error.invalid_choice");
        }
        for (field, v) in [("first_update_minutes", t.first_update_minutes), ("close_minutes", t.close_minutes)] {
            if v.is_some_and(|m| !(1..=MAX_MINUTES).contains(&m)) {
                errs.add(format!("targets[{i}].{field}"), "error.out_of_range");
            }
        }
    }
    errs.into_result()?;
    let current = targets(db).await?;
    let mut tx = db.begin().await?;
    let mut changed = 0;
    for t in rows {
        let old = current.iter().find(|c| c.request_type == t.request_type && c.priority == t.priority);
        let old_pair = old.map(|o| (o.first_update_minutes, o.close_minutes)).unwrap_or((None, None));
        if old_pair == (t.first_update_minutes, t.close_minutes) {
            continue;
        }
        if t.first_update_minutes.is_none() && t.close_minutes.is_none() {
            sqlx::query("DELETE FROM service_levels WHERE request_type = $1 AND priority = $2")
                .bind(&t.request_type)
                .bind(&t.priority)
                .execute(&mut *tx)
                .await?;
        } else {
            // An upsert: two saves of the same pair at once both succeed (the last one wins).
            sqlx::query(
                "INSERT INTO service_levels (request_type, priority, first_update_minutes, close_minutes, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (request_type, priority) DO UPDATE SET first_update_minutes = excluded.first_update_minutes, \
                 close_minutes = excluded.close_minutes, updated_at = excluded.updated_at",
            )
            .bind(&t.request_type)
            .bind(&t.priority)
            .bind(t.first_update_minutes)
            .bind(t.close_minutes)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let show = |p: (Option<i64>, Option<i64>)| format!("{} / {}", minutes_text(p.0), minutes_text(p.1));
        audit::record(
            &mut tx,
            actor,
            now,
            "service_level",
            0,
            "update",
            &[Change {
                field: format!("{}/{}", t.request_type, t.priority).into(),
                old: Some(show(old_pair)),
                new: Some(show((t.first_update_minutes, t.close_minutes))),
            }],
        )
        .await?;
        changed += 1;
    }
    tx.commit().await?;
    Ok(changed)
}

fn minutes_text(m: Option<i64>) -> String {
    m.map(|m| format!("{m} min")).unwrap_or_else(|| "—".into())
}

/// The business calendar of the settings.
pub async fn calendar(conn: &mut sqlx::AnyConnection) -> Result<Calendar> {
    let v = crate::settings::get_many_in(conn, &["ui.timezone", "service.business_hours", "service.holidays"]).await?;
    let zone = crate::clock::Zone::parse(&v[0]).unwrap_or_default();
    let hours = Hours::parse(&v[1]).or_else(|| Hours::parse("1-5 08:00-17:00")).ok_or_else(|| Error::internal("business hours"))?;
    Ok(Calendar::new(zone, hours, crate::calendar::parse_holidays(&v[2]).unwrap_or_default()))
}

/// Stamps the due times of a request from its creation, type and priority (after it is
/// created, or its type or priority changed), in the caller's transaction.
pub async fn stamp(tx: &mut Tx, request_id: i64) -> Result<()> {
    let (created_at, request_type, priority): (i64, String, String) =
        sqlx::query_as("SELECT created_at, request_type, priority FROM service_requests WHERE id = $1")
            .bind(request_id)
            .fetch_one(&mut **tx)
            .await?;
    let target: Option<(Option<i64>, Option<i64>)> =
        sqlx::query_as("SELECT first_update_minutes, close_minutes FROM service_levels WHERE request_type = $1 AND priority = $2")
            .bind(&request_type)
            .bind(&priority)
            .fetch_optional(&mut **tx)
            .await?;
    let (first, close) = target.unwrap_or((None, None));
    let (first_due, close_due) = if first.is_some() || close.is_some() {
        let cal = calendar(tx).await?;
        (first.and_then(|m| cal.add(created_at, m)), close.and_then(|m| cal.add(created_at, m)))
    } else {
        (None, None)
    };
    sqlx::query("UPDATE service_requests SET first_update_due_at = $1, close_due_at = $2 WHERE id = $3")
        .bind(first_due)
        .bind(close_due)
        .bind(request_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Where a request stands against one of its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Standing {
    /// Done in time.
    Met,
    /// Done, late.
    Missed,
    /// Business minutes left.
    OnTrack { minutes_left: i64 },
    /// Within the warning time.
    DueSoon { minutes_left: i64 },
    /// Not done, past due, by business minutes.
    Overdue { minutes_late: i64 },
}

impl Standing {
    /// Where a target stands at `now`: `due` (none: no target), `done_at` (the first update,
    /// or closing), `warning` business minutes before the due time.
    pub fn of(cal: &Calendar, now: Millis, due: Option<Millis>, done_at: Option<Millis>, warning: i64) -> Option<Standing> {
        let due = due?;
        Some(match done_at {
            Some(d) if d <= due => Standing::Met,
            Some(_) => Standing::Missed,
            None if now >= due => Standing::Overdue { minutes_late: cal.minutes_between(due, now).max(0) },
            None => {
                let left = cal.minutes_between(now, due);
                if left <= warning {
                    Standing::DueSoon { minutes_left: left }
                } else {
                    Standing::OnTrack { minutes_left: left }
                }
            }
        })
    }

    /// The badge's colour class.
    pub fn badge(&self) -> &'static str {
        match self {
            Standing::Met => "badge-green",
            Standing::Missed | Standing::Overdue { .. } => "badge-red",
            Standing::DueSoon { .. } => "badge-amber",
            Standing::OnTrack { .. } => "badge-gray",
        }
    }
}

/// Business minutes as shown: `45 min`, `3 h 20`, `2 j 4 h` (a business day is 24 h here:
/// the figure is the time the team works, shown plainly).
pub fn duration_text(minutes: i64, lang: crate::i18n::Lang) -> String {
    let day = match lang {
        crate::i18n::Lang::Fr => "j",
        crate::i18n::Lang::En => "d",
    };
    let m = minutes.abs();
    match m {
        m if m < 60 => format!("{m} min"),
        m if m < 24 * 60 => match m % 60 {
            0 => format!("{} h", m / 60),
            r => format!("{} h {r:02}", m / 60),
        },
        m => match (m / 60) % 24 {
            0 => format!("{} {day}", m / 1440),
            h => format!("{} {day} {h} h", m / 1440),
        },
    }
}

/// Sends the warnings and escalations due at `now` (the job). Returns what it sent.
pub async fn watch(db: &Db, now: Millis) -> Result<String> {
    let mut conn = db.pool.acquire().await?;
    let cal = calendar(&mut conn).await?;
    let v = crate::settings::get_many_in(&mut conn, &["service.sla_warning_minutes", "service.escalation_group"]).await?;
    drop(conn);
    let warning: i64 = v[0].parse().unwrap_or(60);
    let group: Option<i64> = sqlx::query_scalar("SELECT id FROM user_groups WHERE name = $1").bind(&v[1]).fetch_optional(&db.pool).await?;
    // Everything due before the warning horizon (the instant `warning` business minutes ahead).
    let horizon = if warning > 0 { cal.add(now, warning).unwrap_or(now) } else { now };
    // Only what was not alerted yet at its level: requests long overdue do not come back on
    // every run (nor hold the newer ones behind the limit).
    let pending = |target: &str, due: &str| {
        format!(
            "NOT EXISTS (SELECT 1 FROM sla_alerts a WHERE a.request_id = r.id AND a.target = '{target}' AND a.due_at = r.{due} \
             AND a.level = CASE WHEN r.{due} <= $2 THEN 'breached' ELSE 'warning' END)"
        )
    };
    let due: Vec<(i64, String, Millis)> = sqlx::query_as(&format!(
        "SELECT r.id, 'first_update', r.first_update_due_at FROM service_requests r \
           WHERE r.first_update_at IS NULL AND r.status <> 'cloture' AND r.first_update_due_at <= $1 AND {} \
         UNION ALL SELECT r.id, 'close', r.close_due_at FROM service_requests r \
           WHERE r.status <> 'cloture' AND r.close_due_at <= $1 AND {} \
         ORDER BY 3 LIMIT 5000",
        pending("first_update", "first_update_due_at"),
        pending("close", "close_due_at")
    ))
    .bind(horizon)
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    let (mut warned, mut breached) = (0, 0);
    for (request_id, target, due_at) in due {
        let level = if due_at <= now { "breached" } else { "warning" };
        if level == "warning" && warning == 0 {
            continue;
        }
        let mut tx = db.begin().await?;
        // Once: the first insert of this key wins, across runs and processes.
        let fresh = sqlx::query(
            "INSERT INTO sla_alerts (request_id, target, level, due_at, sent_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (request_id, target, level, due_at) DO NOTHING",
        )
        .bind(request_id)
        .bind(&target)
        .bind(level)
        .bind(due_at)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !fresh {
            tx.rollback().await?;
            continue;
        }
        let r = crate::service::store::get(&mut tx, request_id).await?.ok_or(Error::NotFound)?;
        let mut to: Vec<Recipient> = r.owner_id.map(Recipient::User).into_iter().collect();
        if level == "breached" {
            to.extend(group.map(Recipient::Group));
        }
        if !to.is_empty() {
            let notice = Notice {
                event: if level == "breached" { "sla_breached" } else { "sla_warning" },
                entity: Some(("service_request".into(), request_id)),
                vars: serde_json::json!({
                    "request": {"id": request_id, "number": r.number, "priority": r.priority},
                    "customer": {"name": r.customer_name},
                    "target": target, "due": cal.format(due_at),
                }),
                attachments: Vec::new(),
                created_by: None,
            };
            notify(&mut tx, now, notice, &to).await?;
        }
        tx.commit().await?;
        if level == "breached" {
            breached += 1;
        } else {
            warned += 1;
        }
    }
    Ok(format!("{warned} warnings, {breached} escalations sent"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn durations_read_plainly() {
        assert_eq!(duration_text(45, Lang::Fr), "45 min");
        assert_eq!(duration_text(120, Lang::Fr), "2 h");
        assert_eq!(duration_text(200, Lang::Fr), "3 h 20");
        assert_eq!(duration_text(-200, Lang::En), "3 h 20");
        assert_eq!(duration_text(1440 * 2 + 240, Lang::Fr), "2 j 4 h");
        assert_eq!(duration_text(1440, Lang::En), "1 d");
    }

    #[test]
    fn standings() {
        let cal = Calendar::new(crate::clock::Zone::parse("UTC").unwrap(), Hours::parse("1-7 00:00-23:59").unwrap(), Default::default());
        let h = 3_600_000;
        assert_eq!(Standing::of(&cal, 0, None, None, 60), None);
        assert_eq!(Standing::of(&cal, 0, Some(5 * h), Some(4 * h), 60), Some(Standing::Met));
        assert_eq!(Standing::of(&cal, 0, Some(5 * h), Some(6 * h), 60), Some(Standing::Missed));
        assert_eq!(Standing::of(&cal, 0, Some(5 * h), None, 60), Some(Standing::OnTrack { minutes_left: 300 }));
        assert_eq!(Standing::of(&cal, 4 * h, Some(5 * h), None, 60), Some(Standing::DueSoon { minutes_left: 60 }));
        assert_eq!(Standing::of(&cal, 7 * h, Some(5 * h), None, 60), Some(Standing::Overdue { minutes_late: 120 }));
    }
}
