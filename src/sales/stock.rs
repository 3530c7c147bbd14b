//! Stock units: a minimal inventory (stock number, description, status, branch) that
//! opportunities and meetings refer to.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::access::Actor;
use crate::audit::{self, Audited};
use crate::clock::Millis;
use crate::db::page::{Cursor, Page, PageReq};
use crate::db::{is_unique_violation, Db, Sql};
use crate::error::{Error, FieldErrors, Result};

/// The longest stock number (letters, digits, `-` and `_`).
pub const NUMBER_MAX: usize = 40;
/// The longest description of a stock unit.
pub const DESCRIPTION_MAX: usize = 500;

pub const STATUSES: &[&str] = &["disponible", "reserve", "vendu"];

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct StockUnit {
    pub id: i64,
    pub stock_number: String,
    pub description: String,
    /// `disponible`, `reserve` or `vendu`.
    pub status: String,
    pub branch_id: Option<i64>,
    pub branch_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Audited for StockUnit {
    const ENTITY: &'static str = "stock_unit";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("stock_number", Some(self.stock_number.clone())),
            ("description", Some(self.description.clone()).filter(|s| !s.is_empty())),
            ("status", Some(self.status.clone())),
            ("branch", self.branch_name.clone()),
        ]
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockForm {
    #[serde(default)]
    pub stock_number: String,
    #[serde(default)]
    pub description: String,
    /// `disponible` (default), `reserve` or `vendu`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub branch_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct StockInput {
    pub stock_number: String,
    pub description: String,
    pub status: String,
    pub branch_id: Option<i64>,
}

impl StockForm {
    pub fn parse(&self) -> Result<StockInput> {
        let mut errs = FieldErrors::new();
        let number = self.stock_number.trim().to_uppercase();
        if number.is_empty() {
            errs.add("stock_number", "error.required");
        } else if number.chars().count() > NUMBER_MAX || !number.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') {
            errs.add("stock_number", "error.stock_number_format");
        }
        if self.description.chars().count() > DESCRIPTION_MAX {
            errs.add("description", "error.too_long");
        }
        let status = if self.status.is_empty() { "disponible".to_string() } else { self.status.clone() };
        if !STATUSES.contains(&status.as_str()) {
            errs.add("status", "error.invalid_choice");
        }
        errs.into_result()?;
        Ok(StockInput { stock_number: number, description: self.description.trim().to_string(), status, branch_id: self.branch_id })
    }
}

const SELECT: &str =
    "SELECT s.id, s.stock_number, s.description, s.status, s.branch_id, b.name AS branch_name, s.created_at, s.updated_at \
    FROM stock_units s LEFT JOIN org_units b ON b.id = s.branch_id";

/// The inventory by stock number; `q` is a stock-number prefix.
pub async fn list(db: &Db, q: Option<&str>, status: Option<&str>, page: &PageReq) -> Result<Page<StockUnit>> {
    let mut s = Sql::new(SELECT);
    s.push(" WHERE 1 = 1");
    if let Some(q) = q.map(|x| x.trim().to_uppercase()).filter(|x| !x.is_empty()) {
        s.push(" AND s.stock_number >= ").bind(q.clone()).push(" AND s.stock_number < ").bind(format!("{q}\u{10FFFF}"));
    }
    if let Some(st) = status.filter(|x| !x.is_empty()) {
        s.push(" AND s.status = ").bind(st.to_string());
    }
    if let Some(c) = page.after_cursor() {
        s.push(" AND s.stock_number > ").bind(c.k.clone());
    }
    s.push(" ORDER BY s.stock_number LIMIT ").bind(page.limit + 1);
    let rows: Vec<StockUnit> = s.query_as().fetch_all(&db.pool).await?;
    Ok(Page::from_rows(rows, page.limit, |u: &StockUnit| Cursor { k: u.stock_number.clone(), id: u.id, n: 0 }))
}

pub async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<StockUnit>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE s.id = $1")).bind(id).fetch_optional(conn).await?)
}

pub async fn by_number(db: &Db, number: &str) -> Result<Option<StockUnit>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE s.stock_number = $1")).bind(number.trim().to_uppercase()).fetch_optional(&db.pool).await?)
}

/// Stock numbers typed in a form ("A123, B456") to ids; unknown numbers are a field error.
pub async fn ids_of_numbers(db: &Db, field: &str, raw: &str) -> Result<Vec<i64>> {
    let mut ids = Vec::new();
    for n in raw.split([',', ' ', ';']).map(str::trim).filter(|s| !s.is_empty()) {
        match by_number(db, n).await? {
            Some(u) => ids.push(u.id),
            None => return Err(Error::validation(field, "error.unknown_stock_unit")),
        }
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// A taken stock number is a conflict; a branch that does not exist (the only reference of a
/// stock unit) is a validation error on `branch_id`.
fn unique(e: sqlx::Error) -> Error {
    if crate::db::is_foreign_key_violation(&e) {
        Error::validation("branch_id", "error.unknown_org_unit")
    } else if is_unique_violation(&e) {
        Error::conflict("stock_number", "error.stock_number_taken")
    } else {
        e.into()
    }
}

pub async fn create(db: &Db, actor: &Actor, now: Millis, input: &StockInput) -> Result<StockUnit> {
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO stock_units (stock_number, description, status, branch_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(&input.stock_number)
    .bind(&input.description)
    .bind(&input.status)
    .bind(input.branch_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(unique)?;
    let u = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(&mut tx, actor, now, id, &u).await?;
    tx.commit().await?;
    Ok(u)
}

pub async fn update(db: &Db, actor: &Actor, now: Millis, id: i64, input: &StockInput) -> Result<StockUnit> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let before = audit::Before::read(&mut tx, "stock_units", id).await?;
    sqlx::query("UPDATE stock_units SET stock_number = $1, description = $2, status = $3, branch_id = $4, updated_at = $5 WHERE id = $6")
        .bind(&input.stock_number)
        .bind(&input.description)
        .bind(&input.status)
        .bind(input.branch_id)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(unique)?;
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if before.unchanged(&mut tx, &old, &new).await? {
        tx.rollback().await?;
        return Ok(old);
    }
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    Ok(new)
}
