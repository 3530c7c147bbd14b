//! Equipment returns (RMA) created from a request: a number, the equipment (a line of the
//! request), a reason, a return type (repair, replacement, credit) and a status that moves
//! through demandé → reçu → en réparation → renvoyé → clôturé (a credit or a replacement
//! may be closed once received).

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::access::Actor;
use crate::audit::{self, Audited, Change};
use crate::clock::Millis;
use crate::db::Db;
use crate::error::{Error, FieldErrors, Result};

/// The longest reason of a return.
pub const REASON_MAX: usize = 2000;

pub const TYPES: &[&str] = &["repair", "replacement", "credit"];
pub const STATUSES: &[&str] = &["demande", "recu", "en_reparation", "renvoye", "cloture"];

/// The statuses a return may move to from `from`.
pub fn next(from: &str, return_type: &str) -> &'static [&'static str] {
    match (from, return_type) {
        ("demande", _) => &["recu", "cloture"],
        ("recu", "repair") => &["en_reparation", "renvoye"],
        ("recu", _) => &["renvoye", "cloture"],
        ("en_reparation", _) => &["renvoye"],
        ("renvoye", _) => &["cloture"],
        _ => &[],
    }
}

pub fn badge(status: &str) -> &'static str {
    match status {
        "demande" => "badge-blue",
        "recu" => "badge-amber",
        "en_reparation" => "badge-purple",
        "renvoye" => "badge-teal",
        _ => "badge-green",
    }
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct EquipmentReturn {
    pub id: i64,
    /// `RMA-2026-000001`.
    pub number: String,
    pub request_id: i64,
    pub equipment_id: i64,
    pub serial_number: String,
    pub model: String,
    pub reason: String,
    /// `repair`, `replacement` or `credit`.
    pub return_type: String,
    /// `demande`, `recu`, `en_reparation`, `renvoye` or `cloture`.
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl EquipmentReturn {
    pub fn next(&self) -> &'static [&'static str] {
        next(&self.status, &self.return_type)
    }
}

impl Audited for EquipmentReturn {
    const ENTITY: &'static str = "equipment_return";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("number", Some(self.number.clone())),
            ("equipment", Some(format!("{} {}", self.serial_number, self.model))),
            ("reason", Some(self.reason.clone())),
            ("return_type", Some(self.return_type.clone())),
            ("status", Some(self.status.clone())),
        ]
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnForm {
    /// The request it is created from.
    #[serde(default)]
    pub request_id: Option<i64>,
    #[serde(default)]
    pub equipment_id: Option<i64>,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub return_type: String,
}

const SELECT: &str = "SELECT x.id, x.number, x.request_id, x.equipment_id, e.serial_number, e.model, x.reason, x.return_type, x.status, \
    x.created_at, x.updated_at FROM equipment_returns x JOIN equipment e ON e.id = x.equipment_id";

pub async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<EquipmentReturn>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE x.id = $1")).bind(id).fetch_optional(conn).await?)
}

pub async fn for_request(db: &Db, request_id: i64) -> Result<Vec<EquipmentReturn>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE x.request_id = $1 ORDER BY x.id DESC")).bind(request_id).fetch_all(&db.pool).await?)
}

/// Creates a return for one of the request's equipment lines.
pub async fn create(db: &Db, actor: &Actor, now: Millis, request_id: i64, f: &ReturnForm) -> Result<EquipmentReturn> {
    let mut errs = FieldErrors::new();
    let reason = f.reason.trim();
    if reason.is_empty() {
        errs.add("reason", "error.required");
    } else if reason.chars().count() > REASON_MAX {
        errs.add("reason", "error.too_long");
    }
    if !TYPES.contains(&f.return_type.as_str()) {
        errs.add("return_type", "error.invalid_choice");
    }
    if f.equipment_id.is_none() {
        errs.add("equipment_id", "error.required");
    }
    errs.into_result()?;
    let mut tx = db.begin().await?;
    let on: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM request_equipment WHERE request_id = $1 AND equipment_id = $2")
        .bind(request_id)
        .bind(f.equipment_id)
        .fetch_one(&mut *tx)
        .await?;
    if on == 0 {
        return Err(Error::validation("equipment_id", "error.equipment_not_on_request"));
    }
    let number = super::store::next_number(&mut tx, "RMA", now).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO equipment_returns (number, request_id, equipment_id, reason, return_type, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'demande', $6, $6) RETURNING id",
    )
    .bind(&number)
    .bind(request_id)
    .bind(f.equipment_id)
    .bind(reason)
    .bind(&f.return_type)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let x = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(&mut tx, actor, now, id, &x).await?;
    audit::record(
        &mut tx,
        actor,
        now,
        "service_request",
        request_id,
        "return",
        &[Change { field: "return".into(), old: None, new: Some(format!("{} {}", x.number, x.serial_number)) }],
    )
    .await?;
    tx.commit().await?;
    Ok(x)
}

/// Moves a return to its next status (refused when the workflow does not allow it).
pub async fn set_status(db: &Db, actor: &Actor, now: Millis, id: i64, to: &str) -> Result<EquipmentReturn> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if !STATUSES.contains(&to) {
        return Err(Error::validation("status", "error.invalid_choice"));
    }
    if !old.next().contains(&to) {
        return Err(Error::InvalidState { reason: "error.return_transition" });
    }
    sqlx::query("UPDATE equipment_returns SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(to)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    audit::record(
        &mut tx,
        actor,
        now,
        "service_request",
        new.request_id,
        "return",
        &[Change {
            field: "return".into(),
            old: Some(format!("{} {}", old.number, old.status)),
            new: Some(format!("{} {}", new.number, new.status)),
        }],
    )
    .await?;
    tx.commit().await?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_return_workflow() {
        assert_eq!(next("demande", "repair"), &["recu", "cloture"]);
        assert_eq!(next("recu", "repair"), &["en_reparation", "renvoye"]);
        assert_eq!(next("recu", "credit"), &["renvoye", "cloture"]);
        assert!(next("cloture", "repair").is_empty());
        // Every status reachable from "demande".
        let mut seen = vec!["demande"];
        let mut i = 0;
        while i < seen.len() {
            for n in next(seen[i], "repair") {
                if !seen.contains(n) {
                    seen.push(n);
                }
            }
            i += 1;
        }
        assert_eq!(seen.len(), STATUSES.len());
    }
}
