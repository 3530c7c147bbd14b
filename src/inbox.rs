//! In-app notifications (issue 21): the bell of the top bar and the `/notifications` page.
//!
//! A notification is written by `mail::notify` in the transaction of the event that also
//! queues its email, for each recipient *user* who wants that event (the same preferences:
//! a user who turned an event off gets neither), never for the user who caused it. Its text
//! is the email's subject, rendered in the recipient's language; it points at a record
//! (`entity_type`, `entity_id`) which the web layer re-checks for visibility when the user
//! opens it. Every read and write here is filtered by the user taken from the session: no
//! one reads or marks another user's notification. Read notifications older than
//! [`KEEP_READ_MS`] are purged by the daily housekeeping.

use serde::Serialize;
use sqlx::FromRow;

use crate::clock::Millis;
use crate::db::page::Cursor;
use crate::db::{Db, Sql, Tx};
use crate::error::Result;

/// Above this many unread notifications the bell shows "99+" (the count stops there).
pub const CAP: i64 = 99;
/// Notifications per page of the list.
pub const PAGE: usize = 50;
/// How long a read notification is kept (90 days).
pub const KEEP_READ_MS: i64 = 90 * 86_400_000;
/// Longest text kept (an administrator's template could make a long subject).
const MAX_TEXT: usize = 300;

/// One notification of a user.
#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
#[schema(as = InboxNotification)]
pub struct Notification {
    pub id: i64,
    /// The event (one of the email events: `opportunity_assigned`, `lead_queued`,
    /// `request_message_received`, `call_reminder`, `sla_breached`…).
    pub event: String,
    /// The kind of record: `opportunity`, `service_request`, `meeting`, `presales_request`.
    pub entity_type: String,
    pub entity_id: i64,
    /// A short text in the recipient's language.
    pub text: String,
    pub created_at: Millis,
    /// When the user read it; absent while unread.
    pub read_at: Option<Millis>,
}

impl Notification {
    pub fn unread(&self) -> bool {
        self.read_at.is_none()
    }
}

/// The path of a record's page, for the kinds of records notifications point at.
pub fn record_path(entity_type: &str, id: i64) -> Option<String> {
    let base = match entity_type {
        "opportunity" => "/opportunities",
        "service_request" => "/service/requests",
        "meeting" => "/meetings",
        "presales_request" => "/presales",
        _ => return None,
    };
    Some(format!("{base}/{id}"))
}

/// Stores a notification for `user_id` in the caller's transaction (records of a kind with no
/// page are not notified in the app).
pub async fn add(tx: &mut Tx, now: Millis, user_id: i64, event: &str, entity: (&str, i64), text: &str) -> Result<()> {
    if record_path(entity.0, entity.1).is_none() {
        return Ok(());
    }
    let text: String = text.trim().chars().take(MAX_TEXT).collect();
    sqlx::query("INSERT INTO notifications (user_id, event, entity_type, entity_id, text, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(user_id)
        .bind(event)
        .bind(entity.0)
        .bind(entity.1)
        .bind(text)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The user's unread count among the notifications `readable` lets through (SQL on
/// `notifications n`: the records the user still sees, built by the web layer), at most
/// [`CAP`] + 1 (a range of the partial index `notifications_unread`, stopped after 100 rows
/// whatever the user's backlog).
pub async fn unread_count(db: &Db, user_id: i64, readable: Sql) -> Result<i64> {
    let mut q = Sql::new("SELECT COUNT(*) FROM (SELECT 1 AS one FROM notifications n WHERE n.user_id = ");
    q.bind(user_id).push(" AND n.read_at IS NULL AND ").append(readable).push(" LIMIT 100) AS unread");
    Ok(q.query_scalar().fetch_one(&db.pool).await?)
}

/// The bell's label for a count: "99+" above [`CAP`].
pub fn badge(n: i64) -> String {
    if n > CAP {
        format!("{CAP}+")
    } else {
        n.to_string()
    }
}

/// A page of the user's notifications, newest first, after the cursor `after` (from a
/// previous page): the rows and the next page's cursor, if any.
pub async fn list(db: &Db, user_id: i64, after: Option<&str>, readable: Sql) -> Result<(Vec<Notification>, Option<String>)> {
    let before = match after {
        Some(s) if !s.is_empty() => Cursor::decode(s)?.id,
        _ => i64::MAX,
    };
    let mut q = Sql::new(
        "SELECT n.id, n.event, n.entity_type, n.entity_id, n.text, n.created_at, n.read_at FROM notifications n WHERE n.user_id = ",
    );
    q.bind(user_id).push(" AND n.id < ").bind(before).push(" AND ").append(readable).push(" ORDER BY n.id DESC LIMIT 51");
    let mut rows: Vec<Notification> = q.query_as().fetch_all(&db.pool).await?;
    let next = if rows.len() > PAGE {
        rows.truncate(PAGE);
        rows.last().map(|r| Cursor { k: String::new(), id: r.id, n: 0 }.encode())
    } else {
        None
    };
    Ok((rows, next))
}

/// Marks one of the user's notifications read (once: a second time keeps the first time) and
/// returns it; `None` when the user has no such notification (another user's included).
pub async fn mark_read(db: &Db, now: Millis, user_id: i64, id: i64) -> Result<Option<Notification>> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE notifications SET read_at = $1 WHERE id = $2 AND user_id = $3 AND read_at IS NULL")
        .bind(now)
        .bind(id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let n: Option<Notification> = sqlx::query_as(
        "SELECT id, event, entity_type, entity_id, text, created_at, read_at FROM notifications WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// Marks all the user's notifications read; returns how many were unread.
pub async fn mark_all_read(db: &Db, now: Millis, user_id: i64) -> Result<u64> {
    let mut tx = db.begin().await?;
    let n = sqlx::query("UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n)
}

/// Deletes the notifications read before `before` (the daily housekeeping).
pub async fn purge(db: &Db, before: Millis) -> Result<u64> {
    let mut tx = db.begin().await?;
    let n = sqlx::query("DELETE FROM notifications WHERE read_at IS NOT NULL AND read_at < $1")
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badge_caps_at_99() {
        assert_eq!(badge(0), "0");
        assert_eq!(badge(99), "99");
        assert_eq!(badge(100), "99+");
    }

    #[test]
    fn records_have_their_page() {
        assert_eq!(record_path("opportunity", 4).as_deref(), Some("/opportunities/4"));
        assert_eq!(record_path("service_request", 5).as_deref(), Some("/service/requests/5"));
        assert_eq!(record_path("user", 5), None);
    }
}
