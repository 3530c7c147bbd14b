//! Internal notes on a service request (issue 21): what staff write down for one another from
//! the request's composer. Staff only: the customer portal never reads this table (its reads
//! are `portal::store`'s, and its history shows only the request's creation, status and
//! equipment). Each note is in the request's feed (`activity`) and its history.

use serde::Serialize;
use sqlx::FromRow;

use crate::access::Actor;
use crate::audit::{self, Audited, Change};
use crate::clock::Millis;
use crate::db::Db;
use crate::error::{Error, Result};

/// The longest note (as an opportunity's).
pub const NOTE_MAX: usize = 10_000;

/// An internal note of a request.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct RequestNote {
    pub id: i64,
    pub request_id: i64,
    pub body: String,
    pub author_id: Option<i64>,
    pub author_name: String,
    pub created_at: i64,
}

impl Audited for RequestNote {
    const ENTITY: &'static str = "request_note";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![("body", Some(self.body.clone()))]
    }
}

const SELECT: &str = "SELECT id, request_id, body, author_id, author_name, created_at FROM request_notes";

/// The body as written: trimmed, 1 to [`NOTE_MAX`] characters (422 on `body` otherwise).
fn parse(body: &str) -> Result<&str> {
    let body = body.trim();
    if body.is_empty() {
        return Err(Error::validation("body", "error.required"));
    }
    if body.chars().count() > NOTE_MAX {
        return Err(Error::validation("body", "error.too_long"));
    }
    Ok(body)
}

/// Adds a note to a request (the caller has checked that the user sees it): the note, its
/// own history and a line in the request's history, in one transaction.
pub async fn add(db: &Db, actor: &Actor, now: Millis, request_id: i64, body: &str) -> Result<RequestNote> {
    let body = parse(body)?;
    let mut tx = db.begin().await?;
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM service_requests WHERE id = $1").bind(request_id).fetch_optional(&mut *tx).await?;
    found.ok_or(Error::NotFound)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO request_notes (request_id, body, author_id, author_name, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(request_id)
    .bind(body)
    .bind(actor.id)
    .bind(&actor.name)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE service_requests SET updated_at = $1 WHERE id = $2").bind(now).bind(request_id).execute(&mut *tx).await?;
    let n: RequestNote = sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_one(&mut *tx).await?;
    audit::created(&mut tx, actor, now, id, &n).await?;
    audit::record(
        &mut tx,
        actor,
        now,
        super::ServiceRequest::ENTITY,
        request_id,
        "note",
        &[Change { field: "note".into(), old: None, new: Some(n.body.clone()) }],
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// A request's notes, newest first: `limit` of them with an id below `before`.
pub async fn list(db: &Db, request_id: i64, before: Option<i64>, limit: i64) -> Result<Vec<RequestNote>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE request_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"))
        .bind(request_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&db.pool)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_one_to_ten_thousand_characters() {
        assert_eq!(parse("  Rappeler après 16 h  ").ok(), Some("Rappeler après 16 h"));
        assert!(parse(" \n ").is_err());
        assert!(parse(&"é".repeat(NOTE_MAX)).is_ok());
        assert!(parse(&"é".repeat(NOTE_MAX + 1)).is_err());
    }
}
