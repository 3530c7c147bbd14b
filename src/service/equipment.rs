//! Equipment: a customer's installed base (serial number, model, installation date,
//! location), and the equipment lines of a request with a symptom each (seed 001: add,
//! remove, create; "add a symptom" on a line).

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::access::Actor;
use crate::audit::{self, Audited, Change};
use crate::clock::Millis;
use crate::db::{is_unique_violation, Db, Tx};
use crate::error::{Error, FieldErrors, Result};

/// The longest serial number.
pub const SERIAL_MAX: usize = 60;
/// The longest model name.
pub const MODEL_MAX: usize = 200;
/// The longest location of an equipment.
pub const LOCATION_MAX: usize = 300;

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Equipment {
    pub id: i64,
    pub customer_id: i64,
    pub serial_number: String,
    pub model: String,
    /// `YYYY-MM-DD`.
    pub installed_on: Option<String>,
    pub location: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Audited for Equipment {
    const ENTITY: &'static str = "equipment";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("serial_number", Some(self.serial_number.clone())),
            ("model", Some(self.model.clone())),
            ("installed_on", self.installed_on.clone()),
            ("location", Some(self.location.clone()).filter(|s| !s.is_empty())),
        ]
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EquipmentForm {
    #[serde(default)]
    pub customer_id: Option<i64>,
    #[serde(default)]
    pub serial_number: String,
    #[serde(default)]
    pub model: String,
    /// `YYYY-MM-DD`, optional.
    #[serde(default)]
    pub installed_on: String,
    #[serde(default)]
    pub location: String,
}

#[derive(Debug, Clone)]
pub struct EquipmentInput {
    pub customer_id: i64,
    pub serial_number: String,
    pub model: String,
    pub installed_on: Option<String>,
    pub location: String,
}

impl EquipmentForm {
    pub fn parse(&self) -> Result<EquipmentInput> {
        let mut errs = FieldErrors::new();
        if self.customer_id.is_none() {
            errs.add("customer_id", "error.required");
        }
        let serial = self.serial_number.trim().to_uppercase();
        if serial.is_empty() {
            errs.add("serial_number", "error.required");
        } else if serial.chars().count() > SERIAL_MAX {
            errs.add("serial_number", "error.too_long");
        }
        let model = self.model.trim().to_string();
        if model.is_empty() {
            errs.add("model", "error.required");
        } else if model.chars().count() > MODEL_MAX {
            errs.add("model", "error.too_long");
        }
        let installed_on = match self.installed_on.trim() {
            "" => None,
            d => match chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d") {
                Ok(x) => Some(x.format("%Y-%m-%d").to_string()),
                Err(_) => {
                    errs.add("installed_on", "error.invalid_datetime");
                    None
                }
            },
        };
        if self.location.chars().count() > LOCATION_MAX {
            errs.add("location", "error.too_long");
        }
        errs.into_result()?;
        Ok(EquipmentInput {
            customer_id: self.customer_id.unwrap_or_default(),
            serial_number: serial,
            model,
            installed_on,
            location: self.location.trim().to_string(),
        })
    }
}

const SELECT: &str = "SELECT id, customer_id, serial_number, model, installed_on, location, created_at, updated_at FROM equipment";

pub async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<Equipment>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_optional(conn).await?)
}

/// A customer's installed base, by serial number.
pub async fn of_customer(db: &Db, customer_id: i64) -> Result<Vec<Equipment>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE customer_id = $1 ORDER BY serial_number LIMIT 1000"))
        .bind(customer_id)
        .fetch_all(&db.pool)
        .await?)
}

fn unique(e: sqlx::Error) -> Error {
    if is_unique_violation(&e) {
        Error::conflict("serial_number", "error.serial_taken")
    } else {
        e.into()
    }
}

pub async fn create_in(tx: &mut Tx, actor: &Actor, now: Millis, input: &EquipmentInput) -> Result<Equipment> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE id = $1").bind(input.customer_id).fetch_one(&mut **tx).await?;
    if n == 0 {
        return Err(Error::validation("customer_id", "error.unknown_customer"));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO equipment (customer_id, serial_number, model, installed_on, location, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(input.customer_id)
    .bind(&input.serial_number)
    .bind(&input.model)
    .bind(input.installed_on.as_deref())
    .bind(&input.location)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(unique)?;
    let e = get(tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(tx, actor, now, id, &e).await?;
    Ok(e)
}

pub async fn create(db: &Db, actor: &Actor, now: Millis, input: &EquipmentInput) -> Result<Equipment> {
    let mut tx = db.begin().await?;
    let e = create_in(&mut tx, actor, now, input).await?;
    tx.commit().await?;
    Ok(e)
}

pub async fn update(db: &Db, actor: &Actor, now: Millis, id: i64, input: &EquipmentInput) -> Result<Equipment> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let before = audit::Before::read(&mut tx, "equipment", id).await?;
    if old.customer_id != input.customer_id {
        return Err(Error::validation("customer_id", "error.read_only"));
    }
    sqlx::query("UPDATE equipment SET serial_number = $1, model = $2, installed_on = $3, location = $4, updated_at = $5 WHERE id = $6")
        .bind(&input.serial_number)
        .bind(&input.model)
        .bind(input.installed_on.as_deref())
        .bind(&input.location)
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

// ------------------------------------------------------------------ lines of a request

/// An equipment line of a request.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Line {
    pub equipment_id: i64,
    pub serial_number: String,
    pub model: String,
    pub installed_on: Option<String>,
    pub location: String,
    /// A `symptom` code.
    pub symptom: Option<String>,
}

pub async fn lines(conn: &mut sqlx::AnyConnection, request_id: i64) -> Result<Vec<Line>> {
    Ok(sqlx::query_as(
        "SELECT e.id AS equipment_id, e.serial_number, e.model, e.installed_on, e.location, l.symptom FROM request_equipment l \
         JOIN equipment e ON e.id = l.equipment_id WHERE l.request_id = $1 ORDER BY e.serial_number",
    )
    .bind(request_id)
    .fetch_all(conn)
    .await?)
}

async fn check_symptom(tx: &mut Tx, symptom: Option<&str>) -> Result<()> {
    if let Some(s) = symptom {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM value_list_items WHERE list_code = 'symptom' AND code = $1 AND active = 1")
            .bind(s)
            .fetch_one(&mut **tx)
            .await?;
        if n == 0 {
            return Err(Error::validation("symptom", "error.invalid_choice"));
        }
    }
    Ok(())
}

async fn request_customer(tx: &mut Tx, request_id: i64) -> Result<i64> {
    sqlx::query_scalar("SELECT customer_id FROM service_requests WHERE id = $1")
        .bind(request_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound)
}

async fn record(tx: &mut Tx, actor: &Actor, now: Millis, request_id: i64, old: Option<String>, new: Option<String>) -> Result<()> {
    sqlx::query("UPDATE service_requests SET updated_at = $1 WHERE id = $2").bind(now).bind(request_id).execute(&mut **tx).await?;
    audit::record(tx, actor, now, "service_request", request_id, "equipment", &[Change { field: "equipment".into(), old, new }]).await
}

fn describe(e: &Equipment, symptom: Option<&str>) -> String {
    match symptom {
        Some(s) => format!("{} {} ({s})", e.serial_number, e.model),
        None => format!("{} {}", e.serial_number, e.model),
    }
}

/// Adds one of the customer's equipment to the request, with an optional symptom.
pub async fn add_line(db: &Db, actor: &Actor, now: Millis, request_id: i64, equipment_id: i64, symptom: Option<&str>) -> Result<()> {
    let mut tx = db.begin().await?;
    let customer = request_customer(&mut tx, request_id).await?;
    let e = get(&mut tx, equipment_id)
        .await?
        .filter(|e| e.customer_id == customer)
        .ok_or_else(|| Error::validation("equipment_id", "error.equipment_not_of_customer"))?;
    check_symptom(&mut tx, symptom).await?;
    let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM request_equipment WHERE request_id = $1 AND equipment_id = $2")
        .bind(request_id)
        .bind(equipment_id)
        .fetch_one(&mut *tx)
        .await?;
    if exists > 0 {
        return Err(Error::conflict("equipment_id", "error.equipment_on_request"));
    }
    sqlx::query("INSERT INTO request_equipment (request_id, equipment_id, symptom, added_at) VALUES ($1, $2, $3, $4)")
        .bind(request_id)
        .bind(equipment_id)
        .bind(symptom)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    record(&mut tx, actor, now, request_id, None, Some(describe(&e, symptom))).await?;
    tx.commit().await?;
    Ok(())
}

/// Creates an equipment for the request's customer and adds it to the request, at once.
pub async fn create_line(
    db: &Db,
    actor: &Actor,
    now: Millis,
    request_id: i64,
    input: &EquipmentInput,
    symptom: Option<&str>,
) -> Result<Equipment> {
    let mut tx = db.begin().await?;
    let customer = request_customer(&mut tx, request_id).await?;
    if customer != input.customer_id {
        return Err(Error::validation("customer_id", "error.read_only"));
    }
    check_symptom(&mut tx, symptom).await?;
    let e = create_in(&mut tx, actor, now, input).await?;
    sqlx::query("INSERT INTO request_equipment (request_id, equipment_id, symptom, added_at) VALUES ($1, $2, $3, $4)")
        .bind(request_id)
        .bind(e.id)
        .bind(symptom)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    record(&mut tx, actor, now, request_id, None, Some(describe(&e, symptom))).await?;
    tx.commit().await?;
    Ok(e)
}

/// Sets (or clears) the symptom of a line.
pub async fn set_symptom(db: &Db, actor: &Actor, now: Millis, request_id: i64, equipment_id: i64, symptom: Option<&str>) -> Result<()> {
    let mut tx = db.begin().await?;
    let old: Option<Option<String>> =
        sqlx::query_scalar("SELECT symptom FROM request_equipment WHERE request_id = $1 AND equipment_id = $2")
            .bind(request_id)
            .bind(equipment_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(old) = old else { return Err(Error::NotFound) };
    if old.as_deref() == symptom {
        // The same symptom: nothing to write, no history.
        tx.rollback().await?;
        return Ok(());
    }
    check_symptom(&mut tx, symptom).await?;
    let e = get(&mut tx, equipment_id).await?.ok_or(Error::NotFound)?;
    sqlx::query("UPDATE request_equipment SET symptom = $1 WHERE request_id = $2 AND equipment_id = $3")
        .bind(symptom)
        .bind(request_id)
        .bind(equipment_id)
        .execute(&mut *tx)
        .await?;
    record(&mut tx, actor, now, request_id, Some(describe(&e, old.as_deref())), Some(describe(&e, symptom))).await?;
    tx.commit().await?;
    Ok(())
}

/// Takes an equipment off the request (the equipment stays in the customer's base).
pub async fn remove_line(db: &Db, actor: &Actor, now: Millis, request_id: i64, equipment_id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let old: Option<Option<String>> =
        sqlx::query_scalar("SELECT symptom FROM request_equipment WHERE request_id = $1 AND equipment_id = $2")
            .bind(request_id)
            .bind(equipment_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(old) = old else { return Err(Error::NotFound) };
    let e = get(&mut tx, equipment_id).await?.ok_or(Error::NotFound)?;
    sqlx::query("DELETE FROM request_equipment WHERE request_id = $1 AND equipment_id = $2")
        .bind(request_id)
        .bind(equipment_id)
        .execute(&mut *tx)
        .await?;
    record(&mut tx, actor, now, request_id, Some(describe(&e, old.as_deref())), None).await?;
    tx.commit().await?;
    Ok(())
}

/// An equipment found by its serial number, with its customer and its most recent request
/// `vis` may see (if any).
#[derive(Debug, Clone, FromRow)]
pub struct SerialHit {
    pub id: i64,
    pub serial_number: String,
    pub model: String,
    pub customer_id: i64,
    pub customer_name: String,
    pub request_id: Option<i64>,
    pub request_number: Option<String>,
}

/// Equipment whose serial number starts with `prefix` (upper case, as stored), of customers
/// `vis` may read; at most `limit`, and whether there are more. The prefix is a byte-order
/// range over the `equipment_serial_number` index.
pub async fn by_serial(db: &Db, vis: &crate::access::Visibility, prefix: &str, limit: i64) -> Result<(Vec<SerialHit>, bool)> {
    let col = match db.backend {
        crate::db::Backend::Postgres => "e.serial_number COLLATE \"C\"",
        crate::db::Backend::Sqlite => "e.serial_number",
    };
    let mut visible = crate::db::Sql::new("");
    visible.append(vis.requests("r"));
    let mut s = crate::db::Sql::new(
        "SELECT e.id, e.serial_number, e.model, e.customer_id, c.display_name AS customer_name, \
         (SELECT MAX(r.id) FROM request_equipment l JOIN service_requests r ON r.id = l.request_id WHERE l.equipment_id = e.id AND ",
    );
    s.append(visible.clone());
    s.push(
        ") AS request_id, (SELECT r.number FROM service_requests r WHERE r.id = (SELECT MAX(r.id) FROM request_equipment l \
         JOIN service_requests r ON r.id = l.request_id WHERE l.equipment_id = e.id AND ",
    );
    s.append(visible);
    s.push(")) AS request_number FROM equipment e JOIN customers c ON c.id = e.customer_id WHERE ");
    s.push(col).push(" >= ").bind(prefix.to_string()).push(" AND ").push(col).push(" < ").bind(format!("{prefix}\u{10FFFF}"));
    s.push(" AND ").append(vis.customers("c"));
    s.push(" ORDER BY ").push(col).push(", e.id LIMIT ").bind(limit + 1);
    let mut rows: Vec<SerialHit> = s.query_as().fetch_all(&db.pool).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    Ok((rows, more))
}
