//! Calls: a callback to the customer, scheduled on a file — an opportunity (sales) or a service
//! request (service), exactly one of the two (migration 32) — listed as its owner's tasks with
//! an email reminder, then logged with an outcome.
//!
//! Below sales and service, which add their own effects around [`schedule_in`] and [`log_in`]
//! in the same transaction (`sales::calls`: the opportunity's timeline, the lead's first
//! answer; `service::calls`: the request's history). A call is visible exactly when its file
//! is; its owner takes part in that file (`Visibility::opportunities`, `Visibility::requests`).

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

/// The file a call is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum File {
    Opportunity(i64),
    Request(i64),
}

impl File {
    fn opportunity_id(self) -> Option<i64> {
        match self {
            File::Opportunity(id) => Some(id),
            File::Request(_) => None,
        }
    }
    fn request_id(self) -> Option<i64> {
        match self {
            File::Request(id) => Some(id),
            File::Opportunity(_) => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Call {
    pub id: i64,
    /// The opportunity it is on (null for a service request's call).
    pub opportunity_id: Option<i64>,
    pub opportunity_name: Option<String>,
    /// The service request it is on (null for an opportunity's call).
    pub request_id: Option<i64>,
    pub request_number: Option<String>,
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
    pub fn file(&self) -> File {
        match (self.opportunity_id, self.request_id) {
            (Some(o), _) => File::Opportunity(o),
            (None, r) => File::Request(r.unwrap_or_default()),
        }
    }
    /// The opportunity's name or the request's number.
    pub fn file_name(&self) -> &str {
        self.opportunity_name.as_deref().or(self.request_number.as_deref()).unwrap_or_default()
    }
    /// The call in its file's feed.
    pub fn href(&self) -> String {
        match self.file() {
            File::Opportunity(o) => format!("/opportunities/{o}#call-{}", self.id),
            File::Request(r) => format!("/service/requests/{r}#call-{}", self.id),
        }
    }
}

impl Audited for Call {
    const ENTITY: &'static str = "call";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("opportunity", self.opportunity_id.map(|id| format!("#{id}"))),
            ("request", self.request_number.clone()),
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
    /// On `POST /api/v1/calls` (a request's call takes its request from the path).
    #[serde(default)]
    pub opportunity_id: Option<i64>,
    /// Defaults to the opportunity's owner (or the caller); on a request, the caller.
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
    pub file: File,
    pub owner_id: i64,
    pub due_at: Millis,
    pub subject: String,
    pub notes: String,
}

impl CallForm {
    /// The call on `file` (which the caller found visible), for `default_owner` unless chosen.
    pub fn parse(&self, zone: Zone, file: File, default_owner: i64) -> Result<CallInput> {
        let mut errs = FieldErrors::new();
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
            file,
            owner_id: self.owner_id.unwrap_or(default_owner),
            due_at: due.unwrap_or_default(),
            subject: subject.to_string(),
            notes: self.notes.trim().to_string(),
        })
    }
}

const SELECT: &str = "SELECT k.id, k.opportunity_id, o.name AS opportunity_name, k.request_id, r.number AS request_number, \
    COALESCE(o.customer_id, r.customer_id) AS customer_id, k.owner_id, u.name AS owner_name, k.due_at, \
    k.subject, k.notes, k.status, k.outcome, k.automatic, k.done_at FROM calls k \
    LEFT JOIN opportunities o ON o.id = k.opportunity_id LEFT JOIN service_requests r ON r.id = k.request_id \
    JOIN users u ON u.id = k.owner_id";

pub async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<Call>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE k.id = $1")).bind(id).fetch_optional(conn).await?)
}

/// Where a call is looked for: on any opportunity (the sales routes), or on one request.
#[derive(Debug, Clone, Copy)]
pub enum On {
    Opportunity,
    Request(i64),
}

/// A call on `on` whose file `vis` may see (the call's owner takes part in it).
pub async fn get_visible(db: &Db, vis: &Visibility, id: i64, on: On) -> Result<Option<Call>> {
    let mut q = Sql::new(SELECT);
    q.push(" WHERE k.id = ").bind(id);
    match on {
        On::Opportunity => {
            q.push(" AND o.trashed = 0 AND ").append(vis.opportunities("o"));
        }
        On::Request(request_id) => {
            q.push(" AND k.request_id = ").bind(request_id).push(" AND ").append(vis.requests("r"));
        }
    }
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

/// Schedules a call in the caller's transaction (which has checked its file). `automatic` for
/// the system's follow-ups.
pub async fn schedule_in(tx: &mut Tx, actor: &Actor, now: Millis, input: &CallInput, automatic: bool) -> Result<Call> {
    check_owner(tx, input.owner_id).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO calls (opportunity_id, request_id, owner_id, due_at, subject, notes, status, outcome, automatic, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'planned', '', $7, $8, $8) RETURNING id",
    )
    .bind(input.file.opportunity_id())
    .bind(input.file.request_id())
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

/// An outcome as logged: a `call_outcome` code, or `cancelled`, and an optional comment.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub code: String,
    /// `done` or `cancelled`.
    pub status: &'static str,
    /// The code's French label (the timelines are written in the business's language).
    pub label: String,
    pub comment: String,
}

impl Outcome {
    /// Reads the outcome list (before the write transaction): 422 on `outcome` or `comment`.
    pub async fn parse(db: &Db, outcome: &str, comment: &str) -> Result<Outcome> {
        let comment = comment.trim();
        if comment.chars().count() > COMMENT_MAX {
            return Err(Error::validation("comment", "error.too_long"));
        }
        let (status, label) = if outcome == "cancelled" {
            ("cancelled", "Annulé / Cancelled".to_string())
        } else {
            let outcomes = crate::lists::items(db, "call_outcome", false).await?;
            let item = outcomes.iter().find(|o| o.code == outcome).ok_or_else(|| Error::validation("outcome", "error.invalid_choice"))?;
            ("done", item.label_fr.clone())
        };
        Ok(Outcome { code: outcome.to_string(), status, label, comment: comment.to_string() })
    }

    pub fn done(&self) -> bool {
        self.status == "done"
    }

    /// What the file's timeline or history says of the call: `subject — label : comment`.
    pub fn summary(&self, subject: &str) -> String {
        if self.comment.is_empty() {
            format!("{subject} — {}", self.label)
        } else {
            format!("{subject} — {} : {}", self.label, self.comment)
        }
    }
}

/// Logs a planned call in the caller's transaction: its outcome, or its cancellation. The
/// call before and after.
pub async fn log_in(tx: &mut Tx, actor: &Actor, now: Millis, id: i64, o: &Outcome) -> Result<(Call, Call)> {
    let old = get(tx, id).await?.ok_or(Error::NotFound)?;
    if !old.is_planned() {
        return Err(Error::InvalidState { reason: "error.call_closed" });
    }
    let text = if o.comment.is_empty() { o.code.clone() } else { format!("{}: {}", o.code, o.comment) };
    sqlx::query("UPDATE calls SET status = $1, outcome = $2, done_at = $3, updated_at = $3 WHERE id = $4")
        .bind(o.status)
        .bind(&text)
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let new = get(tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(tx, actor, now, id, &old, &new).await?;
    Ok((old, new))
}

/// The calls of a file, soonest first.
pub async fn of_file(db: &Db, file: File) -> Result<Vec<Call>> {
    let (col, id) = match file {
        File::Opportunity(id) => ("k.opportunity_id", id),
        File::Request(id) => ("k.request_id", id),
    };
    Ok(sqlx::query_as(&format!("{SELECT} WHERE {col} = $1 ORDER BY k.due_at, k.id LIMIT 500")).bind(id).fetch_all(&db.pool).await?)
}

/// Which of a user's calls their task list shows: each department's by its right.
#[derive(Debug, Clone, Copy)]
pub struct Tasks {
    pub opportunities: bool,
    pub requests: bool,
}

/// A user's planned calls due before `until` (their task list), soonest first: on opportunities
/// not in the trash, on requests. The owner takes part in their calls' files, so sees them all.
pub async fn tasks(db: &Db, user_id: i64, until: Millis, which: Tasks, limit: i64) -> Result<Vec<Call>> {
    let files = match (which.opportunities, which.requests) {
        (true, true) => "((k.opportunity_id IS NOT NULL AND o.trashed = 0) OR k.request_id IS NOT NULL)",
        (true, false) => "k.opportunity_id IS NOT NULL AND o.trashed = 0",
        (false, true) => "k.request_id IS NOT NULL",
        (false, false) => return Ok(Vec::new()),
    };
    Ok(sqlx::query_as(&format!(
        "{SELECT} WHERE k.owner_id = $1 AND k.status = 'planned' AND k.due_at < $2 AND {files} ORDER BY k.due_at, k.id LIMIT $3"
    ))
    .bind(user_id)
    .bind(until)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

/// The reminder job: emails each owner about planned calls due within the reminder delay
/// (setting `calls.reminder_minutes`; 0 turns reminders off), once per call: `call_reminder`
/// for an opportunity's call, `request_call_reminder` for a request's.
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
        let call = serde_json::json!({"subject": c.subject, "due": zone.format(c.due_at), "notes": c.notes});
        let notice = match c.file() {
            File::Opportunity(o) => Notice {
                event: "call_reminder",
                entity: Some(("opportunity".into(), o)),
                vars: serde_json::json!({"call": call, "opportunity": {"id": o, "name": c.file_name()}}),
                attachments: Vec::new(),
                created_by: None,
            },
            File::Request(r) => {
                let customer: String =
                    sqlx::query_scalar("SELECT display_name FROM customers WHERE id = $1").bind(c.customer_id).fetch_one(&mut *tx).await?;
                Notice {
                    event: "request_call_reminder",
                    entity: Some(("service_request".into(), r)),
                    vars: serde_json::json!({"call": call, "request": {"id": r, "number": c.file_name()}, "customer": {"name": customer}}),
                    attachments: Vec::new(),
                    created_by: None,
                }
            }
        };
        notify(&mut tx, now, notice, &[Recipient::User(c.owner_id)]).await?;
        tx.commit().await?;
        sent += 1;
    }
    Ok(format!("{sent} reminders"))
}
