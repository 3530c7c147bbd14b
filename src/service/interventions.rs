//! Interventions: field-service jobs created from a request. The request's equipment lines
//! with their symptoms are carried over; a date and time slot, technicians, a place (the
//! customer's address by default), a status (planifiée → en cours → terminée, or annulée)
//! and a report. The planning shows them per technician and per branch, with conflicts (a
//! technician booked twice at the same time).

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::access::{Actor, Visibility};
use crate::audit::{self, Audited};
use crate::clock::{format_ms, Millis, Zone};
use crate::db::page::{self, Count, Page, PageReq, Sort, SortKey};
use crate::db::{Db, Sql, Tx};
use crate::error::{Error, FieldErrors, Result};

/// The longest place of an intervention.
pub const PLACE_MAX: usize = 500;
/// The longest work report of an intervention.
pub const REPORT_MAX: usize = 20_000;

/// The status of an intervention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Planifiee,
    EnCours,
    Terminee,
    Annulee,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Planifiee, Status::EnCours, Status::Terminee, Status::Annulee];
    pub fn code(self) -> &'static str {
        match self {
            Status::Planifiee => "planifiee",
            Status::EnCours => "en_cours",
            Status::Terminee => "terminee",
            Status::Annulee => "annulee",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        Self::ALL.into_iter().find(|x| x.code() == s)
    }
    pub fn badge(self) -> &'static str {
        match self {
            Status::Planifiee => "badge-purple",
            Status::EnCours => "badge-amber",
            Status::Terminee => "badge-green",
            Status::Annulee => "badge-gray",
        }
    }
    /// The statuses the workflow allows from this one (itself included), for the drop-down;
    /// finishing is offered, its report being typed in the same form.
    pub fn choices(self) -> Vec<Status> {
        Self::ALL.into_iter().filter(|to| self.check(*to, true).is_ok()).collect()
    }
    /// The workflow: planned → in progress → done; planned or in progress → cancelled.
    /// Finishing needs a report (the work done).
    pub fn check(self, to: Status, has_report: bool) -> Result<()> {
        use Status::*;
        let ok = matches!(
            (self, to),
            (Planifiee, EnCours) | (Planifiee, Terminee) | (EnCours, Terminee) | (Planifiee, Annulee) | (EnCours, Annulee)
        );
        if self == to {
            return Ok(());
        }
        if !ok {
            return Err(Error::InvalidState { reason: "error.intervention_transition" });
        }
        if to == Terminee && !has_report {
            return Err(Error::validation("report_work", "error.report_required"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Technician {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct EquipmentLine {
    pub equipment_id: i64,
    pub serial_number: String,
    pub model: String,
    pub symptom: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Intervention {
    pub id: i64,
    /// `INT-2026-000001`.
    pub number: String,
    pub request_id: i64,
    pub request_number: String,
    pub customer_id: i64,
    pub customer_name: String,
    pub start_at: i64,
    pub end_at: i64,
    pub place: String,
    pub status: Status,
    pub report_work: String,
    pub report_minutes: Option<i64>,
    /// The report is shown to the customer in the portal.
    pub report_shared: bool,
    pub branch_id: Option<i64>,
    pub technicians: Vec<Technician>,
    pub equipment: Vec<EquipmentLine>,
    /// The customer's signature (a PNG document of the request), whoever signed and when.
    pub signature_document_id: Option<i64>,
    pub signed_by: String,
    pub signed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Audited for Intervention {
    const ENTITY: &'static str = "intervention";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("number", Some(self.number.clone())),
            ("start_at", Some(format_ms(self.start_at))),
            ("end_at", Some(format_ms(self.end_at))),
            ("place", Some(self.place.clone()).filter(|s| !s.is_empty())),
            ("status", Some(self.status.code().into())),
            (
                "technicians",
                Some(self.technicians.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")).filter(|s| !s.is_empty()),
            ),
            (
                "equipment",
                Some(self.equipment.iter().map(|e| e.serial_number.as_str()).collect::<Vec<_>>().join(" ")).filter(|s| !s.is_empty()),
            ),
            ("report_work", Some(self.report_work.clone()).filter(|s| !s.is_empty())),
            ("report_minutes", self.report_minutes.map(|m| m.to_string())),
            ("report_shared", Some(self.report_shared.to_string())),
            ("signed_by", Some(self.signed_by.clone()).filter(|s| !s.is_empty())),
            ("signed_at", self.signed_at.map(format_ms)),
            ("signature_document_id", self.signature_document_id.map(|d| d.to_string())),
        ]
    }
}

/// An intervention as typed (local date and times) or sent as JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InterventionForm {
    /// The request it is created from (creation through `POST /api/v1/interventions`).
    #[serde(default)]
    pub request_id: Option<i64>,
    /// `YYYY-MM-DD`, local.
    #[serde(default)]
    pub date: String,
    /// `HH:MM`, local.
    #[serde(default)]
    pub start_time: String,
    /// `HH:MM`, local.
    #[serde(default)]
    pub end_time: String,
    /// Empty: the customer's address.
    #[serde(default)]
    pub place: String,
    #[serde(default)]
    pub technician_ids: Vec<i64>,
    /// `planifiee` (default), `en_cours`, `terminee`, `annulee`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub report_work: String,
    /// Time spent, in minutes.
    #[serde(default)]
    pub report_minutes: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct InterventionInput {
    pub start_at: Millis,
    pub end_at: Millis,
    pub place: String,
    pub technician_ids: Vec<i64>,
    pub status: Status,
    pub report_work: String,
    pub report_minutes: Option<i64>,
}

impl InterventionForm {
    pub fn parse(&self, zone: Zone) -> Result<InterventionInput> {
        let mut errs = FieldErrors::new();
        let start = zone.parse_local(&self.date, &self.start_time);
        let end = zone.parse_local(&self.date, &self.end_time);
        if chrono::NaiveDate::parse_from_str(self.date.trim(), "%Y-%m-%d").is_err() {
            errs.add("date", "error.invalid_datetime");
        } else if start.is_none() {
            errs.add("start_time", "error.invalid_datetime");
        } else if end.is_none() {
            errs.add("end_time", "error.invalid_datetime");
        } else if end <= start {
            errs.add("end_time", "error.end_before_start");
        }
        if self.technician_ids.is_empty() {
            errs.add("technician_ids", "error.technician_required");
        }
        let status = if self.status.trim().is_empty() { Some(Status::Planifiee) } else { Status::parse(self.status.trim()) };
        if status.is_none() {
            errs.add("status", "error.invalid_choice");
        }
        if self.place.chars().count() > PLACE_MAX {
            errs.add("place", "error.too_long");
        }
        if self.report_work.chars().count() > REPORT_MAX {
            errs.add("report_work", "error.too_long");
        }
        if self.report_minutes.is_some_and(|m| !(0..=100_000).contains(&m)) {
            errs.add("report_minutes", "error.out_of_range");
        }
        errs.into_result()?;
        let mut techs = self.technician_ids.clone();
        techs.sort();
        techs.dedup();
        Ok(InterventionInput {
            start_at: start.unwrap_or_default(),
            end_at: end.unwrap_or_default(),
            place: self.place.trim().to_string(),
            technician_ids: techs,
            status: status.unwrap_or(Status::Planifiee),
            report_work: self.report_work.trim().to_string(),
            report_minutes: self.report_minutes,
        })
    }

    /// The intervention's form as it is now, moved to a new slot (a drag on the planning).
    /// Dropped from technician `from`'s column into `to`'s: `to` takes `from`'s place; the place,
    /// the status and the report stay as they are.
    pub fn moved(i: &Intervention, zone: Zone, slot: crate::calendar::Slot) -> InterventionForm {
        let mut f = InterventionForm::from_intervention(i, zone);
        (f.date, f.start_time, f.end_time) = (slot.date, slot.start_time, slot.end_time);
        if let Some((from, to)) = slot.person {
            f.technician_ids = crate::calendar::Slot::swap(&f.technician_ids, from, to);
        }
        f
    }

    pub fn from_intervention(i: &Intervention, zone: Zone) -> InterventionForm {
        InterventionForm {
            request_id: Some(i.request_id),
            date: zone.date(i.start_at),
            start_time: zone.time(i.start_at),
            end_time: zone.time(i.end_at),
            place: i.place.clone(),
            technician_ids: i.technicians.iter().map(|t| t.id).collect(),
            status: i.status.code().into(),
            report_work: i.report_work.clone(),
            report_minutes: i.report_minutes,
        }
    }
}

#[derive(Debug, FromRow)]
struct Row {
    id: i64,
    number: String,
    request_id: i64,
    request_number: String,
    customer_id: i64,
    customer_name: String,
    start_at: i64,
    end_at: i64,
    place: String,
    status: String,
    report_work: String,
    report_minutes: Option<i64>,
    report_shared: i64,
    branch_id: Option<i64>,
    signature_document_id: Option<i64>,
    signed_by: String,
    signed_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

const SELECT: &str = "SELECT i.id, i.number, i.request_id, r.number AS request_number, r.customer_id, c.display_name AS customer_name, \
    i.start_at, i.end_at, i.place, i.status, i.report_work, i.report_minutes, i.report_shared, i.branch_id, \
    i.signature_document_id, i.signed_by, i.signed_at, i.created_at, i.updated_at \
    FROM interventions i JOIN service_requests r ON r.id = i.request_id JOIN customers c ON c.id = r.customer_id";

/// The rows with their technicians and equipment: two queries for the whole page, not two per row.
async fn assemble(conn: &mut sqlx::AnyConnection, rows: Vec<Row>) -> Result<Vec<Intervention>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Integer ids read from the database, written inline.
    let ids = rows.iter().map(|r| r.id.to_string()).collect::<Vec<_>>().join(", ");
    let techs: Vec<(i64, i64, String)> = sqlx::query_as(&format!(
        "SELECT t.intervention_id, u.id, u.name FROM intervention_technicians t JOIN users u ON u.id = t.user_id \
         WHERE t.intervention_id IN ({ids}) ORDER BY u.name"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let lines: Vec<(i64, i64, String, String, Option<String>)> = sqlx::query_as(&format!(
        "SELECT l.intervention_id, e.id, e.serial_number, e.model, l.symptom FROM intervention_equipment l \
         JOIN equipment e ON e.id = l.equipment_id WHERE l.intervention_id IN ({ids}) ORDER BY e.serial_number"
    ))
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Intervention {
            technicians: techs.iter().filter(|t| t.0 == r.id).map(|t| Technician { id: t.1, name: t.2.clone() }).collect(),
            equipment: lines
                .iter()
                .filter(|l| l.0 == r.id)
                .map(|l| EquipmentLine { equipment_id: l.1, serial_number: l.2.clone(), model: l.3.clone(), symptom: l.4.clone() })
                .collect(),
            id: r.id,
            number: r.number,
            request_id: r.request_id,
            request_number: r.request_number,
            customer_id: r.customer_id,
            customer_name: r.customer_name,
            start_at: r.start_at,
            end_at: r.end_at,
            place: r.place,
            status: Status::parse(&r.status).unwrap_or(Status::Planifiee),
            report_work: r.report_work,
            report_minutes: r.report_minutes,
            report_shared: r.report_shared != 0,
            branch_id: r.branch_id,
            signature_document_id: r.signature_document_id,
            signed_by: r.signed_by,
            signed_at: r.signed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect())
}

pub async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<Intervention>> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} WHERE i.id = $1")).bind(id).fetch_all(&mut *conn).await?;
    Ok(assemble(conn, rows).await?.pop())
}

/// The condition "the user may see it": its request is visible, which holds for its
/// technicians too (taking part, see `Visibility::requests`).
fn visible_cond(vis: &Visibility) -> Sql {
    vis.requests("r")
}

pub async fn get_visible(db: &Db, vis: &Visibility, id: i64) -> Result<Option<Intervention>> {
    let mut q = Sql::new(SELECT);
    q.push(" WHERE i.id = ").bind(id).push(" AND ").append(visible_cond(vis));
    let mut conn = db.pool.acquire().await?;
    let rows: Vec<Row> = q.query_as().fetch_all(&mut *conn).await?;
    Ok(assemble(&mut conn, rows).await?.pop())
}

pub async fn for_request(db: &Db, request_id: i64) -> Result<Vec<Intervention>> {
    let mut conn = db.pool.acquire().await?;
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} WHERE i.request_id = $1 ORDER BY i.start_at DESC"))
        .bind(request_id)
        .fetch_all(&mut *conn)
        .await?;
    assemble(&mut conn, rows).await
}

/// Whose planning.
#[derive(Debug, Clone, Copy)]
pub enum PlanningOf {
    Technician(i64),
    Branch(i64),
    All,
}

/// Interventions starting in `[from, to)`, visible to `vis`.
pub async fn planning(db: &Db, vis: &Visibility, of: PlanningOf, from: Millis, to: Millis) -> Result<Vec<Intervention>> {
    let mut q = Sql::new(SELECT);
    q.push(" WHERE i.start_at >= ").bind(from).push(" AND i.start_at < ").bind(to).push(" AND ").append(visible_cond(vis));
    match of {
        PlanningOf::Technician(u) => {
            q.push(" AND EXISTS (SELECT 1 FROM intervention_technicians t2 WHERE t2.intervention_id = i.id AND t2.user_id = ")
                .bind(u)
                .push(")");
        }
        PlanningOf::Branch(b) => {
            q.push(" AND ").append(crate::org::units::within("i.branch_id", b));
        }
        PlanningOf::All => {}
    }
    q.push(" ORDER BY i.start_at, i.id LIMIT 1000");
    let mut conn = db.pool.acquire().await?;
    let rows: Vec<Row> = q.query_as().fetch_all(&mut *conn).await?;
    assemble(&mut conn, rows).await
}

/// What the intervention list shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<Status>,
    /// Interventions this user is a technician on.
    pub technician_id: Option<i64>,
    pub branch_id: Option<i64>,
    /// Starting at or after / before (ms).
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    /// The order (default: the next ones first, by start).
    pub sort: Option<Sort>,
}

/// The orders of the intervention list (`sort=code`, `-code` descending).
pub static SORTS: [SortKey; 5] = [
    SortKey::int("start", "i.start_at"),
    SortKey::text("number", "i.number"),
    SortKey::text("customer", "c.display_name"),
    SortKey::text("status", "i.status"),
    SortKey::int("updated", "i.updated_at").desc_first(),
];

/// By start, soonest first.
pub fn default_sort() -> Sort {
    Sort::by(&SORTS[0])
}

fn filtered(select: &str, vis: &Visibility, f: &ListFilter) -> Sql {
    filtered_where(select, visible_cond(vis), f)
}

/// `select` with the `WHERE` of `f`, the interventions seen being those whose request is of
/// `seen` (a condition on `r`).
fn filtered_where(select: &str, seen: Sql, f: &ListFilter) -> Sql {
    let mut q = Sql::new(select);
    q.push(" WHERE ").append(seen);
    if let Some(s) = f.status {
        q.push(" AND i.status = ").bind(s.code());
    }
    if let Some(u) = f.technician_id {
        q.push(" AND EXISTS (SELECT 1 FROM intervention_technicians t2 WHERE t2.intervention_id = i.id AND t2.user_id = ")
            .bind(u)
            .push(")");
    }
    if let Some(b) = f.branch_id {
        q.push(" AND ").append(crate::org::units::within("i.branch_id", b));
    }
    if let Some(from) = f.from {
        q.push(" AND i.start_at >= ").bind(from);
    }
    if let Some(to) = f.to {
        q.push(" AND i.start_at < ").bind(to);
    }
    q
}

/// The rows of `select` (a `SELECT` of columns `FROM interventions i JOIN service_requests r
/// ON r.id = i.request_id`) of the interventions of `f` visible to `vis`: a derived table for
/// a report to aggregate (alias it). For a user who does not see everything, a `UNION ALL` of
/// the visibility's arms, as the requests' (`service::store::visible_rows`): each arm reads
/// the period's interventions of the requests it keeps, where one `OR` made PostgreSQL hash
/// every request.
pub fn visible_rows(select: &str, vis: &Visibility, f: &ListFilter) -> Sql {
    vis.request_rows("r", |seen| filtered_where(select, seen, f))
}

/// Interventions visible to `vis` and matching `f`, in its order, a page at a time.
pub async fn list(db: &Db, vis: &Visibility, f: &ListFilter, page: &PageReq) -> Result<Page<Intervention>> {
    let sort = f.sort.unwrap_or_else(default_sort);
    let mut q = filtered(&page::keyed_select(SELECT, &sort), vis, f);
    page::keyset(&mut q, &sort, "i.id", page)?;
    let mut conn = db.pool.acquire().await?;
    let rows: Vec<page::Keyed<Row>> = q.query_as().fetch_all(&mut *conn).await?;
    let p = Page::keyed(rows, page, |r: &Row| r.id);
    let items = assemble(&mut conn, p.items).await?;
    Ok(Page { items, next: p.next, prev: p.prev, first: p.first })
}

/// How many interventions [`list`] would return, up to [`page::COUNT_CAP`].
pub async fn count(db: &Db, vis: &Visibility, f: &ListFilter) -> Result<Count> {
    let from = "SELECT 1 FROM interventions i JOIN service_requests r ON r.id = i.request_id";
    let mut conn = db.pool.acquire().await?;
    page::count_capped(&mut conn, filtered(from, vis, f), page::COUNT_CAP).await
}

/// A technician booked on two interventions that overlap.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Conflict {
    pub technician_id: i64,
    pub technician_name: String,
    pub first: i64,
    pub second: i64,
}

/// The conflicts among `items` (cancelled interventions do not count).
pub fn conflicts(items: &[Intervention]) -> Vec<Conflict> {
    let live: Vec<&Intervention> = items.iter().filter(|i| i.status != Status::Annulee).collect();
    let mut out = Vec::new();
    for (n, a) in live.iter().enumerate() {
        for b in &live[n + 1..] {
            if a.start_at < b.end_at && b.start_at < a.end_at {
                for t in &a.technicians {
                    if b.technicians.iter().any(|x| x.id == t.id) {
                        out.push(Conflict { technician_id: t.id, technician_name: t.name.clone(), first: a.id, second: b.id });
                    }
                }
            }
        }
    }
    out
}

/// Technicians must be active users whose role holds `service.interventions.perform` (who is
/// assigned interventions, as the planning's columns and the pickers offer them), but one
/// already on the intervention (`kept`) may stay after leaving or losing the right, so that
/// saving it as it is keeps them.
async fn check_technicians(tx: &mut Tx, ids: &[i64], kept: &[i64]) -> Result<()> {
    for t in ids.iter().filter(|t| !kept.contains(t)) {
        let performs: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM role_rights rr WHERE rr.role_id = u.role_id AND rr.right_code = $1) THEN 1 ELSE 0 END AS BIGINT) \
             FROM users u WHERE u.id = $2 AND u.active = 1",
        )
        .bind(crate::access::Right::InterventionsPerform.code())
        .bind(*t)
        .fetch_optional(&mut **tx)
        .await?;
        match performs {
            None => return Err(Error::validation("technician_ids", "error.unknown_technician")),
            Some(0) => return Err(Error::validation("technician_ids", "error.not_a_technician")),
            Some(_) => {}
        }
    }
    Ok(())
}

async fn write_technicians(tx: &mut Tx, id: i64, ids: &[i64]) -> Result<()> {
    sqlx::query("DELETE FROM intervention_technicians WHERE intervention_id = $1").bind(id).execute(&mut **tx).await?;
    for t in ids {
        sqlx::query("INSERT INTO intervention_technicians (intervention_id, user_id) VALUES ($1, $2)")
            .bind(id)
            .bind(*t)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Creates an intervention from a request: its equipment lines and their symptoms are carried
/// over; the place defaults to the customer's address. The request's history says so.
pub async fn create(db: &Db, actor: &Actor, now: Millis, request_id: i64, input: &InterventionInput) -> Result<Intervention> {
    let mut tx = db.begin().await?;
    let req: Option<(i64, Option<i64>)> = sqlx::query_as("SELECT customer_id, branch_id FROM service_requests WHERE id = $1")
        .bind(request_id)
        .fetch_optional(&mut *tx)
        .await?;
    let (customer_id, branch) = req.ok_or(Error::NotFound)?;
    check_technicians(&mut tx, &input.technician_ids, &[]).await?;
    Status::Planifiee.check(input.status, !input.report_work.is_empty())?;
    let place = if input.place.is_empty() {
        sqlx::query_scalar("SELECT address FROM customers WHERE id = $1").bind(customer_id).fetch_one(&mut *tx).await?
    } else {
        input.place.clone()
    };
    let number = super::store::next_number(&mut tx, "INT", now).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO interventions (number, request_id, start_at, end_at, place, status, report_work, report_minutes, branch_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
    )
    .bind(&number)
    .bind(request_id)
    .bind(input.start_at)
    .bind(input.end_at)
    .bind(&place)
    .bind(input.status.code())
    .bind(&input.report_work)
    .bind(input.report_minutes)
    .bind(branch)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    write_technicians(&mut tx, id, &input.technician_ids).await?;
    sqlx::query("INSERT INTO intervention_equipment (intervention_id, equipment_id, symptom) SELECT $1, equipment_id, symptom FROM request_equipment WHERE request_id = $2")
        .bind(id)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
    let i = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(&mut tx, actor, now, id, &i).await?;
    audit::record(
        &mut tx,
        actor,
        now,
        "service_request",
        request_id,
        "intervention",
        &[audit::Change { field: "intervention".into(), old: None, new: Some(format!("{} {}", i.number, format_ms(i.start_at))) }],
    )
    .await?;
    sqlx::query("UPDATE service_requests SET updated_at = $1 WHERE id = $2").bind(now).bind(request_id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(i)
}

/// Changes an intervention (slot, technicians, place, status through its workflow, report).
/// Shows the report to the customer in the portal, or hides it again.
pub async fn set_report_shared(db: &Db, actor: &Actor, now: Millis, id: i64, shared: bool) -> Result<Intervention> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if old.report_shared == shared {
        tx.rollback().await?;
        return Ok(old);
    }
    sqlx::query("UPDATE interventions SET report_shared = $1, updated_at = $2 WHERE id = $3")
        .bind(shared as i64)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    Ok(new)
}

pub async fn update(db: &Db, actor: &Actor, now: Millis, id: i64, input: &InterventionInput) -> Result<Intervention> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let before = audit::Before::read(&mut tx, "interventions", id).await?;
    old.status.check(input.status, !input.report_work.is_empty())?;
    let kept: Vec<i64> = old.technicians.iter().map(|t| t.id).collect();
    check_technicians(&mut tx, &input.technician_ids, &kept).await?;
    let place = if input.place.is_empty() { old.place.clone() } else { input.place.clone() };
    sqlx::query(
        "UPDATE interventions SET start_at = $1, end_at = $2, place = $3, status = $4, report_work = $5, report_minutes = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(input.start_at)
    .bind(input.end_at)
    .bind(&place)
    .bind(input.status.code())
    .bind(&input.report_work)
    .bind(input.report_minutes)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    write_technicians(&mut tx, id, &input.technician_ids).await?;
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if before.unchanged(&mut tx, &old, &new).await? {
        tx.rollback().await?;
        return Ok(old);
    }
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    if old.status != new.status {
        audit::record(
            &mut tx,
            actor,
            now,
            "service_request",
            new.request_id,
            "intervention",
            &[audit::Change {
                field: "intervention".into(),
                old: Some(format!("{} {}", old.number, old.status.code())),
                new: Some(format!("{} {}", new.number, new.status.code())),
            }],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(id: i64, start: i64, end: i64, techs: &[i64], status: Status) -> Intervention {
        Intervention {
            id,
            number: format!("INT-{id}"),
            request_id: 1,
            request_number: "DEM".into(),
            customer_id: 1,
            customer_name: "C".into(),
            start_at: start,
            end_at: end,
            place: String::new(),
            status,
            report_work: String::new(),
            report_minutes: None,
            report_shared: false,
            branch_id: None,
            technicians: techs.iter().map(|t| Technician { id: *t, name: format!("T{t}") }).collect(),
            equipment: Vec::new(),
            signature_document_id: None,
            signed_by: String::new(),
            signed_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn conflicts_are_overlaps_of_one_technician() {
        let items = vec![
            iv(1, 0, 10, &[7], Status::Planifiee),
            iv(2, 5, 15, &[7, 8], Status::Planifiee),
            iv(3, 10, 20, &[7], Status::Planifiee),
            iv(4, 0, 30, &[9], Status::Planifiee),
            iv(5, 0, 30, &[8], Status::Annulee),
        ];
        let c = conflicts(&items);
        let pairs: Vec<(i64, i64, i64)> = c.iter().map(|x| (x.technician_id, x.first, x.second)).collect();
        assert_eq!(pairs, vec![(7, 1, 2), (7, 2, 3)], "touching slots (10 = 10) do not conflict; cancelled ones do not count");
    }

    #[test]
    fn the_status_workflow() {
        use Status::*;
        assert!(Planifiee.check(EnCours, false).is_ok());
        assert!(matches!(EnCours.check(Terminee, false), Err(Error::Validation(_))), "a report is needed");
        assert!(EnCours.check(Terminee, true).is_ok());
        assert!(matches!(Terminee.check(Planifiee, true), Err(Error::InvalidState { .. })));
        assert!(matches!(Annulee.check(EnCours, true), Err(Error::InvalidState { .. })));
        assert!(Terminee.check(Terminee, true).is_ok());
    }

    #[test]
    fn the_drop_down_offers_the_workflow_choices() {
        use Status::*;
        assert_eq!(Planifiee.choices(), vec![Planifiee, EnCours, Terminee, Annulee]);
        assert_eq!(EnCours.choices(), vec![EnCours, Terminee, Annulee]);
        assert_eq!(Terminee.choices(), vec![Terminee]);
        assert_eq!(Annulee.choices(), vec![Annulee]);
    }
}
