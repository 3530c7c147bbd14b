//! Calls on an opportunity: scheduled from an opportunity (never from a bare customer record),
//! listed as the owner's tasks with an email reminder, then logged with an outcome. The calls
//! themselves are `crate::calls` (shared with service requests); here, what an opportunity adds:
//! the logged call goes to the opportunity's timeline, and a call answered is the lead's first
//! answer.

pub use crate::calls::{
    get, get_visible, of_file, reschedule, schedule_in, tasks, Call, CallForm, CallInput, File, On, Outcome, Tasks, COMMENT_MAX, NOTES_MAX,
    REMINDER_JOB, SUBJECT_MAX, TASK_DAYS_MAX,
};

use crate::access::Actor;
use crate::clock::Millis;
use crate::db::Db;
use crate::error::{Error, Result};

/// Schedules a call on the opportunity of `input` (not in the trash: 422 on `opportunity_id`).
pub async fn schedule(db: &Db, actor: &Actor, now: Millis, input: &CallInput) -> Result<Call> {
    let File::Opportunity(opportunity_id) = input.file else { return Err(Error::validation("opportunity_id", "error.required")) };
    let mut tx = db.begin().await?;
    let trashed: Option<i64> =
        sqlx::query_scalar("SELECT trashed FROM opportunities WHERE id = $1").bind(opportunity_id).fetch_optional(&mut *tx).await?;
    if trashed.is_none_or(|t| t != 0) {
        return Err(Error::validation("opportunity_id", "error.unknown_opportunity"));
    }
    let c = schedule_in(&mut tx, actor, now, input, false).await?;
    tx.commit().await?;
    Ok(c)
}

/// Logs a planned call of an opportunity: its outcome (a `call_outcome` code) and an optional
/// comment; or cancels it (`outcome` = `cancelled`). The timeline says so.
pub async fn log(db: &Db, actor: &Actor, now: Millis, id: i64, outcome: &str, comment: &str) -> Result<Call> {
    let o = Outcome::parse(db, outcome, comment).await?;
    let mut tx = db.begin().await?;
    let (old, new) = crate::calls::log_in(&mut tx, actor, now, id, &o).await?;
    // A request's call is logged from its request.
    let opportunity_id = old.opportunity_id.ok_or(Error::NotFound)?;
    super::store::add_note_in(&mut tx, actor, now, opportunity_id, "call", &o.summary(&old.subject)).await?;
    if o.done() {
        super::leads::answered_in(&mut tx, opportunity_id, now).await?;
    }
    tx.commit().await?;
    Ok(new)
}
