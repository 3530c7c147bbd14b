//! Calls on a service request (issue 21): a callback to the customer scheduled from the
//! request's composer, then logged from its feed. The calls themselves are `crate::calls` (one
//! table for both departments); here, what a request adds: its history says when a call was
//! scheduled and how it went, and the request is touched.

use crate::access::Actor;
use crate::audit::{self, Audited, Change};
use crate::calls::{self, Call, CallInput, File, Outcome};
use crate::clock::{format_ms, Millis};
use crate::db::{Db, Tx};
use crate::error::{Error, Result};

async fn touch(tx: &mut Tx, actor: &Actor, now: Millis, request_id: i64, action: &str, change: Change) -> Result<()> {
    sqlx::query("UPDATE service_requests SET updated_at = $1 WHERE id = $2").bind(now).bind(request_id).execute(&mut **tx).await?;
    audit::record(tx, actor, now, super::ServiceRequest::ENTITY, request_id, action, &[change]).await
}

/// Schedules a call on the request of `input` (the caller has checked that the user sees it).
pub async fn schedule(db: &Db, actor: &Actor, now: Millis, input: &CallInput) -> Result<Call> {
    let File::Request(request_id) = input.file else { return Err(Error::NotFound) };
    let mut tx = db.begin().await?;
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM service_requests WHERE id = $1").bind(request_id).fetch_optional(&mut *tx).await?;
    found.ok_or(Error::NotFound)?;
    let c = calls::schedule_in(&mut tx, actor, now, input, false).await?;
    let what = format!("{} · {} · {}", c.subject, format_ms(c.due_at), c.owner_name);
    touch(&mut tx, actor, now, request_id, "call", Change { field: "call".into(), old: None, new: Some(what) }).await?;
    tx.commit().await?;
    Ok(c)
}

/// Logs the outcome of the request's planned call `id` (or cancels it): the request's history
/// says so.
pub async fn log(db: &Db, actor: &Actor, now: Millis, request_id: i64, id: i64, outcome: &str, comment: &str) -> Result<Call> {
    let o = Outcome::parse(db, outcome, comment).await?;
    let mut tx = db.begin().await?;
    let (old, new) = calls::log_in(&mut tx, actor, now, id, &o).await?;
    if old.request_id != Some(request_id) {
        return Err(Error::NotFound);
    }
    let change = Change { field: "call".into(), old: Some(old.subject.clone()), new: Some(o.summary(&old.subject)) };
    touch(&mut tx, actor, now, request_id, "call_logged", change).await?;
    tx.commit().await?;
    Ok(new)
}
