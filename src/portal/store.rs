//! What a portal user reads and writes. Every function takes the organisation
//! (`customer_id`, from the session) and filters by it in SQL: a record of another
//! organisation reads as `None`, exactly as an unknown id, so portal routes answer 404 alike.

use serde::Serialize;
use serde_json::json;
use sqlx::FromRow;

use super::PortalUser;
use crate::audit::{self, Actor, Audited};
use crate::clock::Millis;
use crate::db::Db;
use crate::error::{Error, FieldErrors, Result};
use crate::service::documents::Document;
use crate::service::equipment::{Equipment, Line};
use crate::service::store::RequestUpdate;
use crate::service::{RequestStatus, ServiceRequest};

/// How many requests a page of the portal's list holds.
pub const PAGE: i64 = 25;

/// A request as its customer sees it in lists.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct RequestSummary {
    pub id: i64,
    pub number: String,
    pub request_type: String,
    pub status: String,
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The latest customer update's message and time.
    pub last_message: Option<String>,
    pub last_update_at: Option<i64>,
    /// When this portal user last opened the request.
    pub read_at: Option<i64>,
}

impl RequestSummary {
    pub fn status(&self) -> RequestStatus {
        RequestStatus::parse(&self.status).unwrap_or(RequestStatus::Nouveau)
    }
    /// A customer update written since the user last opened the request.
    pub fn unread(&self) -> bool {
        self.last_update_at.is_some_and(|u| self.read_at.is_none_or(|r| u > r))
    }
}

const SUMMARY: &str = "SELECT r.id, r.number, r.request_type, r.status, r.description, r.created_at, r.updated_at, \
    (SELECT u.message FROM request_updates u WHERE u.request_id = r.id ORDER BY u.id DESC LIMIT 1) AS last_message, \
    (SELECT MAX(u.created_at) FROM request_updates u WHERE u.request_id = r.id) AS last_update_at, \
    (SELECT pr.read_at FROM portal_reads pr WHERE pr.account_id = $1 AND pr.request_id = r.id) AS read_at \
    FROM service_requests r WHERE r.customer_id = $2";

/// Which requests a list shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Closed requests instead of open ones.
    pub closed: bool,
    /// A number or words of the description.
    pub q: Option<String>,
    /// Keyset: requests with a smaller id than this one.
    pub before: Option<i64>,
}

/// A page of the organisation's requests, newest first, and whether there are more.
pub async fn requests(db: &Db, u: &PortalUser, f: &Filter, limit: i64) -> Result<(Vec<RequestSummary>, bool)> {
    let mut sql = format!("{SUMMARY} AND r.status {} 'cloture'", if f.closed { "=" } else { "<>" });
    let mut n = 2;
    let q = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(|q| format!("%{}%", q.to_lowercase().replace(['%', '_'], "")));
    if q.is_some() {
        n += 1;
        sql.push_str(&format!(" AND (LOWER(r.number) LIKE ${n} OR LOWER(r.description) LIKE ${n})"));
    }
    if f.before.is_some() {
        n += 1;
        sql.push_str(&format!(" AND r.id < ${n}"));
    }
    sql.push_str(&format!(" ORDER BY r.id DESC LIMIT {}", limit + 1));
    let mut query = sqlx::query_as::<_, RequestSummary>(&sql).bind(u.account_id).bind(u.customer_id);
    if let Some(q) = &q {
        query = query.bind(q.clone());
    }
    if let Some(b) = f.before {
        query = query.bind(b);
    }
    let mut rows = query.fetch_all(&db.pool).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// How many open requests the organisation has.
pub async fn open_count(db: &Db, customer_id: i64) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM service_requests WHERE customer_id = $1 AND status <> 'cloture'")
        .bind(customer_id)
        .fetch_one(&db.pool)
        .await?)
}

/// How many of the organisation's open requests have a customer update newer than the
/// user's last reading of it (the rule of [`RequestSummary::unread`], counted in SQL).
pub async fn unread_count(db: &Db, u: &PortalUser) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM service_requests r WHERE r.customer_id = $1 AND r.status <> 'cloture' \
         AND EXISTS (SELECT 1 FROM request_updates up WHERE up.request_id = r.id AND up.created_at > \
         COALESCE((SELECT pr.read_at FROM portal_reads pr WHERE pr.account_id = $2 AND pr.request_id = r.id), -1))",
    )
    .bind(u.customer_id)
    .bind(u.account_id)
    .fetch_one(&db.pool)
    .await?)
}

/// A request of the organisation (None for another organisation's, as for an unknown id).
pub async fn request(db: &Db, customer_id: i64, id: i64) -> Result<Option<ServiceRequest>> {
    let mut conn = db.pool.acquire().await?;
    Ok(crate::service::store::get(&mut conn, id).await?.filter(|r| r.customer_id == customer_id))
}

/// Notes that the user read the request now.
pub async fn mark_read(db: &Db, account_id: i64, request_id: i64, now: Millis) -> Result<()> {
    sqlx::query(
        "INSERT INTO portal_reads (account_id, request_id, read_at) VALUES ($1, $2, $3) \
         ON CONFLICT (account_id, request_id) DO UPDATE SET read_at = excluded.read_at",
    )
    .bind(account_id)
    .bind(request_id)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The customer updates of a request, oldest first (the story in order).
pub async fn updates(db: &Db, request_id: i64) -> Result<Vec<RequestUpdate>> {
    let mut u = crate::service::store::updates(db, request_id).await?;
    u.reverse();
    Ok(u)
}

/// An intervention as the customer sees it: the technicians by first name, the report only
/// once staff marked it shareable.
#[derive(Debug, Clone, Serialize)]
pub struct Visit {
    pub id: i64,
    pub number: String,
    pub request_id: i64,
    pub request_number: String,
    pub start_at: i64,
    pub end_at: i64,
    pub place: String,
    pub status: String,
    pub technicians: Vec<String>,
    /// The work report, when shared.
    pub report: Option<String>,
}

impl Visit {
    pub fn status(&self) -> crate::service::interventions::Status {
        crate::service::interventions::Status::parse(&self.status).unwrap_or(crate::service::interventions::Status::Planifiee)
    }
}

#[derive(FromRow)]
struct VisitRow {
    id: i64,
    number: String,
    request_id: i64,
    request_number: String,
    start_at: i64,
    end_at: i64,
    place: String,
    status: String,
    report_work: String,
    report_shared: i64,
}

const VISITS: &str = "SELECT i.id, i.number, i.request_id, r.number AS request_number, i.start_at, i.end_at, i.place, i.status, \
    i.report_work, i.report_shared FROM interventions i JOIN service_requests r ON r.id = i.request_id WHERE r.customer_id = $1";

async fn visits_of(db: &Db, rows: Vec<VisitRow>) -> Result<Vec<Visit>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = rows.iter().map(|r| r.id.to_string()).collect::<Vec<_>>().join(",");
    let techs: Vec<(i64, String)> = sqlx::query_as(&format!(
        "SELECT t.intervention_id, u.name FROM intervention_technicians t JOIN users u ON u.id = t.user_id \
         WHERE t.intervention_id IN ({ids}) ORDER BY u.name"
    ))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Visit {
            technicians: techs
                .iter()
                .filter(|t| t.0 == r.id)
                .map(|t| t.1.split_whitespace().next().unwrap_or_default().to_string())
                .collect(),
            report: (r.report_shared != 0 && !r.report_work.trim().is_empty()).then_some(r.report_work),
            id: r.id,
            number: r.number,
            request_id: r.request_id,
            request_number: r.request_number,
            start_at: r.start_at,
            end_at: r.end_at,
            place: r.place,
            status: r.status,
        })
        .collect())
}

/// The interventions of one of the organisation's requests, in date order.
pub async fn visits_of_request(db: &Db, customer_id: i64, request_id: i64) -> Result<Vec<Visit>> {
    let rows: Vec<VisitRow> = sqlx::query_as(&format!("{VISITS} AND i.request_id = $2 ORDER BY i.start_at, i.id"))
        .bind(customer_id)
        .bind(request_id)
        .fetch_all(&db.pool)
        .await?;
    visits_of(db, rows).await
}

/// The organisation's interventions starting in `[from, to)` (not cancelled), in date order,
/// at most `limit`.
pub async fn planning(db: &Db, customer_id: i64, from: Millis, to: Millis, limit: i64) -> Result<Vec<Visit>> {
    let rows: Vec<VisitRow> = sqlx::query_as(&format!(
        "{VISITS} AND i.start_at >= $2 AND i.start_at < $3 AND i.status <> 'annulee' ORDER BY i.start_at, i.id LIMIT $4"
    ))
    .bind(customer_id)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    visits_of(db, rows).await
}

/// One of the organisation's interventions.
pub async fn visit(db: &Db, customer_id: i64, id: i64) -> Result<Option<Visit>> {
    let rows: Vec<VisitRow> = sqlx::query_as(&format!("{VISITS} AND i.id = $2")).bind(customer_id).bind(id).fetch_all(&db.pool).await?;
    Ok(visits_of(db, rows).await?.pop())
}

/// The documents of a request the customer may see: shared by staff, or their own.
pub async fn documents(db: &Db, request_id: i64) -> Result<Vec<Document>> {
    Ok(crate::service::documents::for_request(db, request_id)
        .await?
        .into_iter()
        .filter(|d| d.shared || d.portal_account_id.is_some())
        .collect())
}

/// One of those documents, of one of the organisation's requests.
pub async fn document(db: &Db, customer_id: i64, id: i64) -> Result<Option<Document>> {
    let Some(d) = crate::service::documents::get(db, id).await? else { return Ok(None) };
    if !(d.shared || d.portal_account_id.is_some()) {
        return Ok(None);
    }
    let owner: Option<i64> =
        sqlx::query_scalar("SELECT customer_id FROM service_requests WHERE id = $1").bind(d.request_id).fetch_optional(&db.pool).await?;
    Ok((owner == Some(customer_id)).then_some(d))
}

/// The equipment lines of a request (with their symptoms).
pub async fn lines(db: &Db, request_id: i64) -> Result<Vec<Line>> {
    let mut conn = db.pool.acquire().await?;
    crate::service::equipment::lines(&mut conn, request_id).await
}

/// The organisation's installed base.
pub async fn equipment(db: &Db, customer_id: i64) -> Result<Vec<Equipment>> {
    crate::service::equipment::of_customer(db, customer_id).await
}

/// One item of the installed base and the requests it has been on (newest first).
pub async fn equipment_item(db: &Db, customer_id: i64, id: i64) -> Result<Option<(Equipment, Vec<(i64, String, String, i64)>)>> {
    let mut conn = db.pool.acquire().await?;
    let Some(e) = crate::service::equipment::get(&mut conn, id).await?.filter(|e| e.customer_id == customer_id) else {
        return Ok(None);
    };
    let requests: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT r.id, r.number, r.status, r.created_at FROM request_equipment l JOIN service_requests r ON r.id = l.request_id \
         WHERE l.equipment_id = $1 AND r.customer_id = $2 ORDER BY r.id DESC LIMIT 100",
    )
    .bind(id)
    .bind(customer_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some((e, requests)))
}

/// What changed on a request that concerns its customer: its creation, status and equipment
/// (not staff-internal fields such as the owner, nor documents, whose names may be internal:
/// the shared ones are listed beside).
#[derive(Debug, Clone, FromRow)]
pub struct Event {
    pub at: i64,
    pub actor_name: String,
    pub action: String,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

pub async fn history(db: &Db, request_id: i64) -> Result<Vec<Event>> {
    Ok(sqlx::query_as(
        "SELECT at, actor_name, action, field, old_value, new_value FROM audit_events \
         WHERE entity_type = 'service_request' AND entity_id = $1 AND (action = 'created' OR field IN ('status', 'equipment')) \
         ORDER BY id DESC LIMIT 100",
    )
    .bind(request_id)
    .fetch_all(&db.pool)
    .await?)
}

// ------------------------------------------------------------------ a new request

/// A request as the portal's form sends it.
#[derive(Debug, Clone, Default)]
pub struct NewRequest {
    pub request_type: String,
    pub symptom: Option<String>,
    pub description: String,
    /// Items of the installed base, each with its symptom.
    pub equipment: Vec<(i64, Option<String>)>,
}

impl NewRequest {
    /// Checks what can be checked without the database.
    pub fn check(&self) -> Result<()> {
        let mut errs = FieldErrors::new();
        if self.request_type.trim().is_empty() {
            errs.add("request_type", "error.required");
        }
        if self.description.trim().is_empty() {
            errs.add("description", "error.required");
        } else if self.description.chars().count() > 20_000 {
            errs.add("description", "error.too_long");
        }
        if self.equipment.len() > 50 {
            errs.add("equipment", "error.too_long");
        }
        errs.into_result()
    }
}

async fn list_has(tx: &mut crate::db::Tx, list: &str, code: &str, flag: Option<&str>) -> Result<bool> {
    let flags: Option<String> = sqlx::query_scalar("SELECT flags FROM value_list_items WHERE list_code = $1 AND code = $2 AND active = $3")
        .bind(list)
        .bind(code)
        .bind(1i64)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(flags.is_some_and(|f| flag.is_none_or(|x| f.split_whitespace().any(|w| w == x))))
}

/// Opens a request for the user's organisation: `source: portal`, the requester is the
/// user's contact, the customer's branch and no owner yet (the support team's queue), with its
/// equipment lines; the support team is told. One transaction.
pub async fn create_request(db: &Db, u: &PortalUser, actor: &Actor, now: Millis, input: &NewRequest) -> Result<ServiceRequest> {
    input.check()?;
    let mut tx = db.begin().await?;
    let mut errs = FieldErrors::new();
    if !list_has(&mut tx, "request_type", input.request_type.trim(), Some("portal")).await? {
        errs.add("request_type", "error.invalid_choice");
    }
    if let Some(s) = &input.symptom {
        if !list_has(&mut tx, "symptom", s, None).await? {
            errs.add("symptom", "error.invalid_choice");
        }
    }
    for (eq, symptom) in &input.equipment {
        let owner: Option<i64> =
            sqlx::query_scalar("SELECT customer_id FROM equipment WHERE id = $1").bind(*eq).fetch_optional(&mut *tx).await?;
        if owner != Some(u.customer_id) {
            errs.add("equipment", "error.invalid_choice");
        }
        if let Some(s) = symptom {
            if !list_has(&mut tx, "symptom", s, None).await? {
                errs.add("equipment", "error.invalid_choice");
            }
        }
    }
    errs.into_result()?;
    let branch: Option<i64> =
        sqlx::query_scalar("SELECT branch_id FROM customers WHERE id = $1").bind(u.customer_id).fetch_one(&mut *tx).await?;
    let number = crate::service::store::next_number(&mut tx, "DEM", now).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO service_requests (number, customer_id, requester_contact_id, user_contact_id, request_type, symptom, source, description, \
         status, owner_id, branch_id, created_at, updated_at, portal_account_id) \
         VALUES ($1, $2, $3, NULL, $4, $5, 'portal', $6, 'nouveau', NULL, $7, $8, $8, $9) RETURNING id",
    )
    .bind(&number)
    .bind(u.customer_id)
    .bind(u.contact_id)
    .bind(input.request_type.trim())
    .bind(input.symptom.as_deref())
    .bind(input.description.trim())
    .bind(branch)
    .bind(now)
    .bind(u.account_id)
    .fetch_one(&mut *tx)
    .await?;
    crate::service::sla::stamp(&mut tx, id).await?;
    let mut seen = std::collections::HashSet::new();
    for (eq, symptom) in &input.equipment {
        if !seen.insert(*eq) {
            continue;
        }
        sqlx::query("INSERT INTO request_equipment (request_id, equipment_id, symptom, added_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(*eq)
            .bind(symptom.as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    let r = crate::service::store::get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(&mut tx, actor, now, id, &r).await?;
    // The support team hears about it (the group named by the setting `portal.support_group`).
    let group_name = crate::settings::get_in(&mut tx, "portal.support_group").await?;
    let group: Option<i64> =
        sqlx::query_scalar("SELECT id FROM user_groups WHERE name = $1").bind(group_name.trim()).fetch_optional(&mut *tx).await?;
    if let Some(g) = group {
        let notice = crate::mail::notify::Notice {
            event: "portal_request_created",
            entity: Some((ServiceRequest::ENTITY.into(), id)),
            vars: json!({"request": {"id": id, "number": r.number, "description": r.description}, "customer": {"name": r.customer_name},
                         "actor": {"name": u.name}}),
            attachments: Vec::new(),
            created_by: None,
        };
        crate::mail::notify::notify(&mut tx, now, notice, &[crate::mail::notify::Recipient::Group(g)]).await?;
    }
    tx.commit().await?;
    Ok(r)
}

/// The active request types offered in the portal and the symptoms, in the user's language:
/// (code, label).
pub async fn choices(db: &Db, lang: crate::i18n::Lang) -> Result<(Vec<(String, String)>, Vec<(String, String)>)> {
    let types = crate::lists::items(db, "request_type", false).await?;
    let symptoms = crate::lists::items(db, "symptom", false).await?;
    Ok((
        types
            .iter()
            .filter(|t| t.flags.split_whitespace().any(|f| f == "portal"))
            .map(|t| (t.code.clone(), t.label(&lang).to_string()))
            .collect(),
        symptoms.iter().map(|t| (t.code.clone(), t.label(&lang).to_string())).collect(),
    ))
}
