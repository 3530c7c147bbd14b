//! Calls: scheduled from an opportunity (never from a bare customer record), listed as the
//! owner's tasks with an email reminder, then logged with an outcome. Notes go to the
//! opportunity's timeline, not into the call.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::access::{Actor, Visibility};
use crate::audit::{self, Audited};
use crate::clock::{format_ms, Millis, Zone};
use crate::db::{Db, Sql, Tx};
use crate::error::{Error, FieldErrors, Result};

/// The furthest the task list of calls looks ahead, in days.
pub const TASK_DAYS_MAX: i64 = 366;
/// The longest subject of a call.
pub const SUBJECT_MAX: usize = 200;
/// The longest notes of a call.
pub const NOTES_MAX: usize = 10_000;
/// The longest comment logged with a call's outcome.
pub const COMMENT_MAX: usize = 2000;

pub const REMINDER_JOB: &str = "call-reminders";

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Call {
    pub id: i64,
    pub opportunity_id: i64,
    pub opportunity_name: String,
    pub customer_id: i64,
    pub owner_id: i64,
    pub owner_name: String,
    /// Milliseconds since the epoch (UTC).
    pub due_at: i64,
    pub subject: String,
    pub notes: String,
    /// `planned`, `done` or `cancelled`.
    pub status: String,
    /// The outcome code (list `call_outcome`) and comment, once logged.
    pub outcome: String,
    #[sqlx(try_from = "crate::db::Flag")]
    pub automatic: bool,
    pub done_at: Option<i64>,
}

impl Call {
    pub fn due(&self) -> String {
        format_ms(self.due_at)
    }
    pub fn is_planned(&self) -> bool {
        self.status == "planned"
    }
    pub fn overdue(&self, now: &Millis) -> bool {
        self.is_planned() && self.due_at < *now
    }
}

impl Audited for Call {
    const ENTITY: &'static str = "call";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("opportunity", Some(format!("#{}", self.opportunity_id))),
            ("owner", Some(self.owner_name.clone())),
            ("due_at", Some(format_ms(self.due_at))),
            ("subject", Some(self.subject.clone())),
            ("notes", Some(self.notes.clone()).filter(|s| !s.is_empty())),
            ("status", Some(self.status.clone())),
            ("outcome", Some(self.outcome.clone()).filter(|s| !s.is_empty())),
        ]
    }
}

/// A call as typed: the date and time are local to the business's zone.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallForm {
    #[serde(default)]
    pub opportunity_id: Option<i64>,
    /// Defaults to the opportunity's owner (or the caller).
    #[serde(default)]
    pub owner_id: Option<i64>,
    /// `YYYY-MM-DD`, local.
    #[serde(default)]
    pub date: String,
    /// `HH:MM`, local.
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone)]
pub struct CallInput {
    pub opportunity_id: i64,
    pub owner_id: i64,
    pub due_at: Millis,
    pub subject: String,
    pub notes: String,
}

impl CallForm {
    pub fn parse(&self, zone: Zone, default_owner: i64) -> Result<CallInput> {
        let mut errs = FieldErrors::new();
        if self.opportunity_id.is_none() {
            errs.add("opportunity_id", "error.required");
        }
        let due = zone.parse_local(&self.date, &self.time);
        if due.is_none() {
            errs.add(
                if chrono::NaiveDate::parse_from_str(self.date.trim(), "%Y-%m-%d").is_err() { "date" } else { "time" },
                "error.invalid_datetime",
            );
        }
        let subject = self.subject.trim();
        if subject.is_empty() {
            errs.add("subject", "error.required");
        } else if subject.chars().count() > SUBJECT_MAX {
            errs.add("subject", "error.too_long");
        }
        if self.notes.chars().count() > NOTES_MAX {
            errs.add("notes", "error.too_long");
        }
        errs.into_result()?;
        Ok(CallInput {
            opportunity_id: self.opportunity_id.unwrap_or_default(),
            owner_id: self.owner_id.unwrap_or(default_owner),
            due_at: due.unwrap_or_default(),
            subject: subject.to_string(),
            notes: self.notes.trim().to_string(),
        })
    }
}

const SELECT: &str =
    "SELECT k.id, k.opportunity_id, o.name AS opportunity_name, o.customer_id, k.owner_id, u.name AS owner_name, k.due_at, \
    k.subject, k.notes, k.status, k.outcome, k.automatic, k.done_at FROM calls k JOIN opportunities o ON o.id = k.opportunity_id \
    JOIN users u ON u.id = k.owner_id";

pub async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<Call>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE k.id = $1")).bind(id).fetch_optional(conn).await?)
}

/// A call whose opportunity `vis` may see (or that the user owns).
pub async fn get_visible(db: &Db, vis: &Visibility, id: i64) -> Result<Option<Call>> {
    let mut q = Sql::new(SELECT);
    // The call's owner takes part in its opportunity (see `Visibility::opportunities`).
    q.push(" WHERE k.id = ").bind(id).push(" AND o.trashed = 0 AND ").append(vis.opportunities("o"));
    Ok(q.query_as().fetch_optional(&db.pool).await?)
}

/// A call's owner is an active user (422 on `owner_id` otherwise, never a foreign-key error).
async fn check_owner(tx: &mut Tx, owner_id: i64) -> Result<()> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1 AND active = 1").bind(owner_id).fetch_one(&mut **tx).await?;
    if n == 0 {
        return Err(Error::validation("owner_id", "error.unknown_user"));
    }
    Ok(())
}

/// Schedules a call in the caller's transaction. `automatic` for the system's follow-ups.
pub async fn schedule_in(tx: &mut Tx, actor: &Actor, now: Millis, input: &CallInput, automatic: bool) -> Result<Call> {
    check_owner(tx, input.owner_id).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO calls (opportunity_id, owner_id, due_at, subject, notes, status, outcome, automatic, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'planned', '', $6, $7, $7) RETURNING id",
    )
    .bind(input.opportunity_id)
    .bind(input.owner_id)
    .bind(input.due_at)
    .bind(&input.subject)
    .bind(&input.notes)
    .bind(automatic as i64)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    let c = get(tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(tx, actor, now, id, &c).await?;
    Ok(c)
}

pub async fn schedule(db: &Db, actor: &Actor, now: Millis, input: &CallInput) -> Result<Call> {
    let mut tx = db.begin().await?;
    let trashed: Option<i64> =
        sqlx::query_scalar("SELECT trashed FROM opportunities WHERE id = $1").bind(input.opportunity_id).fetch_optional(&mut *tx).await?;
    if trashed.is_none_or(|t| t != 0) {
        return Err(Error::validation("opportunity_id", "error.unknown_opportunity"));
    }
    let c = schedule_in(&mut tx, actor, now, input, false).await?;
    tx.commit().await?;
    Ok(c)
}

/// Moves or edits a planned call.
pub async fn reschedule(db: &Db, actor: &Actor, now: Millis, id: i64, input: &CallInput) -> Result<Call> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if !old.is_planned() {
        return Err(Error::InvalidState { reason: "error.call_closed" });
    }
    check_owner(&mut tx, input.owner_id).await?;
    sqlx::query("UPDATE calls SET owner_id = $1, due_at = $2, subject = $3, notes = $4, reminded_at = NULL, updated_at = $5 WHERE id = $6")
        .bind(input.owner_id)
        .bind(input.due_at)
        .bind(&input.subject)
        .bind(&input.notes)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    Ok(new)
}

/// Logs a planned call: its outcome (a `call_outcome` code) and an optional comment; or
/// cancels it (`outcome` = `cancelled`). The timeline says so.
pub async fn log(db: &Db, actor: &Actor, now: Millis, id: i64, outcome: &str, comment: &str) -> Result<Call> {
    let comment = comment.trim();
    if comment.chars().count() > COMMENT_MAX {
        return Err(Error::validation("comment", "error.too_long"));
    }
    let outcomes = crate::lists::items(db, "call_outcome", false).await?;
    let (status, label) = if outcome == "cancelled" {
        ("cancelled", "Annulé / Cancelled".to_string())
    } else {
        let item = outcomes.iter().find(|o| o.code == outcome).ok_or_else(|| Error::validation("outcome", "error.invalid_choice"))?;
        ("done", item.label_fr.clone())
    };
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if !old.is_planned() {
        return Err(Error::InvalidState { reason: "error.call_closed" });
    }
    let text = if comment.is_empty() { outcome.to_string() } else { format!("{outcome}: {comment}") };
    sqlx::query("UPDATE calls SET status = $1, outcome = $2, done_at = $3, updated_at = $3 WHERE id = $4")
        .bind(status)
        .bind(&text)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    let body = if comment.is_empty() { format!("{} — {label}", old.subject) } else { format!("{} — {label} : {comment}", old.subject) };
    super::store::add_note_in(&mut tx, actor, now, old.opportunity_id, "call", &body).await?;
    if status == "done" {
        super::leads::answered_in(&mut tx, old.opportunity_id, now).await?;
    }
    tx.commit().await?;
    Ok(new)
}

/// Calls of an opportunity, soonest first.
pub async fn for_opportunity(db: &Db, opportunity_id: i64) -> Result<Vec<Call>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE k.opportunity_id = $1 ORDER BY k.due_at, k.id"))
        .bind(opportunity_id)
        .fetch_all(&db.pool)
        .await?)
}

/// A user's planned calls due before `until` (their task list), soonest first.
pub async fn tasks(db: &Db, user_id: i64, until: Millis, limit: i64) -> Result<Vec<Call>> {
    Ok(sqlx::query_as(&format!(
        "{SELECT} WHERE k.owner_id = $1 AND k.status = 'planned' AND k.due_at < $2 AND o.trashed = 0 ORDER BY k.due_at, k.id LIMIT $3"
    ))
    .bind(user_id)
    .bind(until)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

/// The reminder job: emails each owner about planned calls due within the reminder delay
/// (setting `calls.reminder_minutes`; 0 turns reminders off), once per call.
pub async fn remind(ctx: &crate::jobs::JobContext) -> anyhow::Result<String> {
    use crate::mail::notify::{notify, Notice, Recipient};
    let now = ctx.clock.now_ms();
    let minutes: i64 = crate::settings::get(&ctx.db, "calls.reminder_minutes").await?.parse().unwrap_or(15);
    if minutes == 0 {
        return Ok("reminders off".into());
    }
    let zone = crate::settings::zone(&ctx.db).await?;
    let due: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM calls WHERE status = 'planned' AND reminded_at IS NULL AND due_at <= $1 AND due_at >= $2 ORDER BY due_at LIMIT 500",
    )
    .bind(now + minutes * 60_000)
    .bind(now - 3_600_000)
    .fetch_all(&ctx.db.pool)
    .await?;
    let mut sent = 0;
    for (id,) in due {
        let mut tx = ctx.db.begin().await?;
        // Claim it: another process may be reminding too.
        let claimed = sqlx::query("UPDATE calls SET reminded_at = $1 WHERE id = $2 AND reminded_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if claimed.rows_affected() == 0 {
            continue;
        }
        let Some(c) = get(&mut tx, id).await? else { continue };
        let notice = Notice {
            event: "call_reminder",
            entity: Some(("opportunity".into(), c.opportunity_id)),
            vars: serde_json::json!({"call": {"subject": c.subject, "due": zone.format(c.due_at), "notes": c.notes},
                "opportunity": {"id": c.opportunity_id, "name": c.opportunity_name}}),
            attachments: Vec::new(),
            created_by: None,
        };
        notify(&mut tx, now, notice, &[Recipient::User(c.owner_id)]).await?;
        tx.commit().await?;
        sent += 1;
    }
    Ok(format!("{sent} reminders"))
}
