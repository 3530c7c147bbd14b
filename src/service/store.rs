//! Storage of service requests, their customer updates and the contacts set on them.

use futures_util::future::BoxFuture;
use serde::Serialize;
use sqlx::FromRow;

use super::{ContactRef, RequestInput, RequestStatus, ServiceRequest};
use crate::access::{Actor, Visibility};
use crate::audit::{self, Audited};
use crate::clock::Millis;
use crate::customers::files::OpenFile;
use crate::customers::{Contact, ContactInput};
use crate::db::page::{self, Count, Page, PageReq, Sort, SortKey};
use crate::db::{Db, Sql, Tx};
use crate::error::{Error, FieldErrors, Result};
use crate::i18n::Lang;

/// The longest message of a customer update.
pub const UPDATE_MAX: usize = 10_000;

#[derive(Debug, FromRow)]
struct Row {
    id: i64,
    number: String,
    customer_id: i64,
    customer_name: String,
    rq_id: Option<i64>,
    rq_first: Option<String>,
    rq_last: Option<String>,
    rq_email: Option<String>,
    rq_phone: Option<String>,
    rq_mobile: Option<String>,
    us_id: Option<i64>,
    us_first: Option<String>,
    us_last: Option<String>,
    us_email: Option<String>,
    us_phone: Option<String>,
    us_mobile: Option<String>,
    request_type: String,
    symptom: Option<String>,
    source: String,
    description: String,
    status: String,
    priority: String,
    first_update_at: Option<i64>,
    first_update_due_at: Option<i64>,
    close_due_at: Option<i64>,
    owner_id: Option<i64>,
    owner_name: Option<String>,
    branch_id: Option<i64>,
    branch_name: Option<String>,
    closed_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    intervention_id: Option<i64>,
}

fn contact_ref(
    id: Option<i64>,
    first: Option<String>,
    last: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    mobile: Option<String>,
) -> Option<ContactRef> {
    id.map(|id| ContactRef {
        id,
        name: format!("{} {}", first.unwrap_or_default(), last.unwrap_or_default()).trim().to_string(),
        email,
        phone,
        mobile,
    })
}

impl From<Row> for ServiceRequest {
    fn from(r: Row) -> ServiceRequest {
        ServiceRequest {
            id: r.id,
            number: r.number,
            customer_id: r.customer_id,
            customer_name: r.customer_name,
            requester: contact_ref(r.rq_id, r.rq_first, r.rq_last, r.rq_email, r.rq_phone, r.rq_mobile),
            user: contact_ref(r.us_id, r.us_first, r.us_last, r.us_email, r.us_phone, r.us_mobile),
            request_type: r.request_type,
            symptom: r.symptom,
            source: r.source,
            description: r.description,
            status: RequestStatus::parse(&r.status).unwrap_or(RequestStatus::Nouveau),
            priority: r.priority,
            first_update_at: r.first_update_at,
            first_update_due_at: r.first_update_due_at,
            close_due_at: r.close_due_at,
            owner_id: r.owner_id,
            owner_name: r.owner_name,
            branch_id: r.branch_id,
            branch_name: r.branch_name,
            closed_at: r.closed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            intervention_id: r.intervention_id,
        }
    }
}

const SELECT: &str = "SELECT r.id, r.number, r.customer_id, c.display_name AS customer_name, \
    rq.id AS rq_id, rq.first_name AS rq_first, rq.last_name AS rq_last, rq.email AS rq_email, rq.phone AS rq_phone, rq.mobile AS rq_mobile, \
    us.id AS us_id, us.first_name AS us_first, us.last_name AS us_last, us.email AS us_email, us.phone AS us_phone, us.mobile AS us_mobile, \
    r.request_type, r.symptom, r.source, r.description, r.status, r.priority, r.first_update_at, r.first_update_due_at, r.close_due_at, r.owner_id, u.name AS owner_name, r.branch_id, b.name AS branch_name, \
    r.closed_at, r.created_at, r.updated_at, (SELECT MAX(i.id) FROM interventions i WHERE i.request_id = r.id) AS intervention_id \
    FROM service_requests r JOIN customers c ON c.id = r.customer_id \
    LEFT JOIN contacts rq ON rq.id = r.requester_contact_id LEFT JOIN contacts us ON us.id = r.user_contact_id \
    LEFT JOIN users u ON u.id = r.owner_id LEFT JOIN org_units b ON b.id = r.branch_id";

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Searches the customer (names, emails, phones).
    pub q: Option<String>,
    pub status: Option<RequestStatus>,
    pub request_type: Option<String>,
    pub priority: Option<String>,
    pub owner_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// Open requests only (not closed).
    pub open: bool,
    /// Open requests past a service-level due time (the first update not given by its due
    /// time, or not closed by its due time), at `now`.
    pub overdue: bool,
    pub now: i64,
    /// Requests with a customer message staff have not read.
    pub unread: bool,
    /// The order of [`list`] (default: most recent first).
    pub sort: Option<Sort>,
    /// Created (or closed) within `[from, to)` (the dashboards' periods).
    pub dated: Option<(Dated, i64, i64)>,
    /// A service-level target met or missed (at `now` for the ones still running).
    pub sla: Option<SlaOutcome>,
    /// In this unit or below it.
    pub unit_id: Option<i64>,
}

/// A date of a request that a list or a figure is counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dated {
    Created,
    Closed,
}

impl Dated {
    pub fn parse(s: &str) -> Option<Dated> {
        match s {
            "created" => Some(Dated::Created),
            "closed" => Some(Dated::Closed),
            _ => None,
        }
    }
    fn column(self) -> &'static str {
        match self {
            Dated::Created => "r.created_at",
            Dated::Closed => "r.closed_at",
        }
    }
}

/// How a request did against a service-level target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaOutcome {
    FirstUpdateMet,
    FirstUpdateMissed,
    CloseMet,
    CloseMissed,
}

impl SlaOutcome {
    pub const ALL: [SlaOutcome; 4] =
        [SlaOutcome::FirstUpdateMet, SlaOutcome::FirstUpdateMissed, SlaOutcome::CloseMet, SlaOutcome::CloseMissed];
    pub fn code(self) -> &'static str {
        match self {
            SlaOutcome::FirstUpdateMet => "first_update_met",
            SlaOutcome::FirstUpdateMissed => "first_update_missed",
            SlaOutcome::CloseMet => "close_met",
            SlaOutcome::CloseMissed => "close_missed",
        }
    }
    pub fn parse(s: &str) -> Option<SlaOutcome> {
        SlaOutcome::ALL.into_iter().find(|o| o.code() == s)
    }
    /// The condition on a request (alias `r`), `now` bound for the targets still running:
    /// the list's filter and the dashboard's sums (`SUM(CASE WHEN … THEN 1 ELSE 0 END)`) alike.
    /// Never NULL: each column compared is first tested for NULL.
    pub fn condition(self, now: i64) -> Sql {
        let (done, due) = match self {
            SlaOutcome::FirstUpdateMet | SlaOutcome::FirstUpdateMissed => ("r.first_update_at", "r.first_update_due_at"),
            SlaOutcome::CloseMet | SlaOutcome::CloseMissed => ("r.closed_at", "r.close_due_at"),
        };
        let mut q = Sql::new("(");
        match self {
            SlaOutcome::FirstUpdateMet | SlaOutcome::CloseMet => {
                q.push(&format!("{due} IS NOT NULL AND {done} IS NOT NULL AND {done} <= {due}"));
            }
            SlaOutcome::FirstUpdateMissed | SlaOutcome::CloseMissed => {
                q.push(&format!("{due} IS NOT NULL AND (({done} IS NOT NULL AND {done} > {due}) OR ({done} IS NULL AND {due} <= "))
                    .bind(now)
                    .push("))");
            }
        }
        q.push(")");
        q
    }
}

/// The orders of the request list (`sort=code`, `-code` descending).
pub static SORTS: [SortKey; 9] = [
    SortKey::int("created", "r.id").desc_first(),
    SortKey::text("number", "r.number"),
    SortKey::text("customer", "c.display_name"),
    SortKey::text("status", "r.status"),
    SortKey::text("type", "r.request_type"),
    SortKey::text("owner", "COALESCE(u.name, '')"),
    SortKey::int("updated", "r.updated_at").desc_first(),
    SortKey::text("priority", "r.priority"),
    // The next due time: the first update's until it is given, then closing's; none last.
    SortKey::int("due", "COALESCE(CASE WHEN r.first_update_at IS NULL THEN r.first_update_due_at END, r.close_due_at, 9000000000000000)"),
];

/// Most recent first.
pub fn default_sort() -> Sort {
    Sort::by(&SORTS[0])
}

fn filtered(select: &str, vis: &Visibility, f: &Filter) -> Sql {
    filtered_where(select, vis.requests("r"), f)
}

/// `select` with the `WHERE` of `f`, the requests seen being those of `seen`.
fn filtered_where(select: &str, seen: Sql, f: &Filter) -> Sql {
    let mut q = Sql::new(select);
    q.push(" WHERE ").append(seen);
    if let Some(m) = f.q.as_deref().and_then(|t| crate::search::matching("customer", "r.customer_id", t)) {
        q.push(" AND ").append(m);
    }
    if let Some(s) = f.status {
        q.push(" AND r.status = ").bind(s.code());
    }
    if f.open {
        q.push(" AND r.status <> 'cloture'");
    }
    if f.unread {
        q.push(" AND EXISTS (SELECT 1 FROM request_messages m WHERE m.request_id = r.id AND m.direction = 'in' AND m.read_at IS NULL)");
    }
    if let Some(t) = f.request_type.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND r.request_type = ").bind(t.to_string());
    }
    if let Some(p) = f.priority.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND r.priority = ").bind(p.to_string());
    }
    if f.overdue {
        q.push(" AND r.status <> 'cloture' AND ((r.first_update_at IS NULL AND r.first_update_due_at <= ")
            .bind(f.now)
            .push(") OR r.close_due_at <= ")
            .bind(f.now)
            .push(")");
    }
    if let Some(o) = f.owner_id {
        q.push(" AND r.owner_id = ").bind(o);
    }
    if let Some(c) = f.customer_id {
        q.push(" AND r.customer_id = ").bind(c);
    }
    if let Some((d, from, to)) = f.dated {
        q.push(" AND ").push(d.column()).push(" >= ").bind(from).push(" AND ").push(d.column()).push(" < ").bind(to);
    }
    if let Some(o) = f.sla {
        q.push(" AND ").append(o.condition(f.now));
    }
    if let Some(u) = f.unit_id {
        q.push(" AND r.branch_id IN (SELECT d.id FROM org_units d JOIN org_units p ON d.path LIKE p.path || '%' WHERE p.id = ")
            .bind(u)
            .push(")");
    }
    q
}

/// `head` (a `SELECT … FROM` a table or derived table aliased `r` with the request columns the
/// visibility and `f` read, binds allowed) with the `WHERE` of `f` and the visibility, as one
/// condition: a report aggregates exactly the rows the list shows.
pub fn report_from(head: Sql, vis: &Visibility, f: &Filter) -> Sql {
    let mut q = head;
    q.append(filtered("", vis, f));
    q
}

/// The rows of `select` (a `SELECT` of request columns, `FROM service_requests r` and its
/// joins) of the requests of `f` visible to `vis`: a derived table for a report to aggregate
/// (alias it).
///
/// For a user who sees everything, one `SELECT`. For the others a `UNION ALL` of the
/// visibility's arms ([`Visibility::request_rows`], each request in one arm): the scope's
/// units and the user's own requests, each read from an index of its own (migration 37), and
/// the requests they take part in, by id. As one `OR` of them, PostgreSQL estimated most
/// requests kept and read all 500 000 into a hash for a support agent's dashboard (issue 15).
pub fn visible_rows(select: &str, vis: &Visibility, f: &Filter) -> Sql {
    vis.request_rows("r", |seen| filtered_where(select, seen, f))
}

/// Requests visible to `vis` and matching `filter`, in the filter's order.
pub async fn list(db: &Db, vis: &Visibility, f: &Filter, page: &PageReq) -> Result<Page<ServiceRequest>> {
    let sort = f.sort.unwrap_or_else(default_sort);
    let mut q = filtered(&page::keyed_select(SELECT, &sort), vis, f);
    page::keyset(&mut q, &sort, "r.id", page)?;
    let rows: Vec<page::Keyed<Row>> = q.query_as().fetch_all(&db.pool).await?;
    Ok(Page::keyed(rows, page, |r: &Row| r.id).map(ServiceRequest::from))
}

/// Requests visible to `vis` with the sequence `seq` (`DEM-<year>-<seq>`), in `year` or in
/// every year a request was numbered in: (id, number, customer name), most recent first. Each
/// number is an equality on the `service_requests_number` index.
pub async fn by_number(db: &Db, vis: &Visibility, year: Option<i32>, seq: i64, limit: i64) -> Result<Vec<(i64, String, String)>> {
    let years: Vec<i32> = match year {
        Some(y) => vec![y],
        None => {
            let ys: Vec<i64> =
                sqlx::query_scalar("SELECT year FROM number_counters WHERE name = 'DEM' AND last >= $1 ORDER BY year DESC LIMIT 50")
                    .bind(seq)
                    .fetch_all(&db.pool)
                    .await?;
            ys.into_iter().filter_map(|y| i32::try_from(y).ok()).collect()
        }
    };
    if years.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new(
        "SELECT r.id, r.number, c.display_name FROM service_requests r JOIN customers c ON c.id = r.customer_id WHERE r.number IN (",
    );
    for (i, y) in years.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.bind(super::number("DEM", *y, seq));
    }
    q.push(") AND ").append(vis.requests("r"));
    q.push(" ORDER BY r.id DESC LIMIT ").bind(limit);
    Ok(q.query_as().fetch_all(&db.pool).await?)
}

/// How many requests [`list`] would return, up to [`page::COUNT_CAP`].
pub async fn count(db: &Db, vis: &Visibility, f: &Filter) -> Result<Count> {
    let mut conn = db.pool.acquire().await?;
    let from = "SELECT 1 FROM service_requests r JOIN customers c ON c.id = r.customer_id";
    page::count_capped(&mut conn, filtered(from, vis, f), page::COUNT_CAP).await
}

pub async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<ServiceRequest>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE r.id = $1")).bind(id).fetch_optional(conn).await?;
    Ok(row.map(ServiceRequest::from))
}

pub async fn get_visible(db: &Db, vis: &Visibility, id: i64) -> Result<Option<ServiceRequest>> {
    let mut q = Sql::new(SELECT);
    q.push(" WHERE r.id = ").bind(id).push(" AND ").append(vis.requests("r"));
    let row: Option<Row> = q.query_as().fetch_optional(&db.pool).await?;
    Ok(row.map(ServiceRequest::from))
}

/// Checks the references of `input`; a retired (inactive) type or symptom is accepted only
/// where the request already has it (`old`), so that saving it as it is keeps it.
async fn check_refs(tx: &mut Tx, input: &RequestInput, old: Option<&ServiceRequest>) -> Result<()> {
    let mut errs = FieldErrors::new();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE id = $1").bind(input.customer_id).fetch_one(&mut **tx).await?;
    if n == 0 {
        errs.add("customer_id", "error.unknown_customer");
    }
    for (field, contact) in [("requester_contact_id", input.requester_contact_id), ("user_contact_id", input.user_contact_id)] {
        if let Some(ct) = contact {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contacts WHERE id = $1 AND customer_id = $2")
                .bind(ct)
                .bind(input.customer_id)
                .fetch_one(&mut **tx)
                .await?;
            if n == 0 {
                errs.add(field, "error.contact_not_of_customer");
            }
        }
    }
    let kept = (old.map(|o| o.request_type.as_str()), old.and_then(|o| o.symptom.as_deref()), old.map(|o| o.priority.as_str()));
    for (field, list, code, kept) in [
        ("request_type", "request_type", Some(&input.request_type), kept.0),
        ("symptom", "symptom", input.symptom.as_ref(), kept.1),
        ("priority", "request_priority", Some(&input.priority), kept.2),
    ] {
        if let Some(code) = code {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM value_list_items WHERE list_code = $1 AND code = $2 AND (active = 1 OR code = $3)",
            )
            .bind(list)
            .bind(code)
            .bind(kept.unwrap_or(""))
            .fetch_one(&mut **tx)
            .await?;
            if n == 0 {
                errs.add(field, "error.invalid_choice");
            }
        }
    }
    if let Some(o) = input.owner_id {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1").bind(o).fetch_one(&mut **tx).await?;
        if n == 0 {
            errs.add("owner_id", "error.unknown_user");
        }
    }
    if let Some(b) = input.branch_id {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM org_units WHERE id = $1").bind(b).fetch_one(&mut **tx).await?;
        if n == 0 {
            errs.add("branch_id", "error.unknown_org_unit");
        }
    }
    errs.into_result()
}

/// The next number of the year for `prefix` (`DEM`, `INT`, `RMA`), in the caller's
/// transaction (one counter row per prefix and year; the row lock serialises writers).
pub async fn next_number(tx: &mut Tx, prefix: &str, now: Millis) -> Result<String> {
    use chrono::Datelike;
    let year = chrono::DateTime::from_timestamp_millis(now).unwrap_or_default().year();
    let n: i64 = sqlx::query_scalar(
        "INSERT INTO number_counters (name, year, last) VALUES ($1, $2, 1) \
         ON CONFLICT (name, year) DO UPDATE SET last = number_counters.last + 1 RETURNING last",
    )
    .bind(prefix)
    .bind(year as i64)
    .fetch_one(&mut **tx)
    .await?;
    Ok(super::number(prefix, year, n))
}

/// Creates a request; without an owner or a branch it goes to its creator, in the owner's
/// home unit.
pub async fn create(db: &Db, actor: &Actor, now: Millis, input: &RequestInput) -> Result<ServiceRequest> {
    let mut tx = db.begin().await?;
    let mut input = input.clone();
    (input.branch_id, input.owner_id) = crate::org::units::placement(&mut tx, actor, input.branch_id, input.owner_id).await?;
    let input = &input;
    check_refs(&mut tx, input, None).await?;
    let number = next_number(&mut tx, "DEM", now).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO service_requests (number, customer_id, requester_contact_id, user_contact_id, request_type, symptom, source, description, \
         status, owner_id, branch_id, created_at, updated_at, priority) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'nouveau', $9, $10, $11, $11, $12) \
         RETURNING id",
    )
    .bind(&number)
    .bind(input.customer_id)
    .bind(input.requester_contact_id)
    .bind(input.user_contact_id)
    .bind(&input.request_type)
    .bind(input.symptom.as_deref())
    .bind(&input.source)
    .bind(&input.description)
    .bind(input.owner_id)
    .bind(input.branch_id)
    .bind(now)
    .bind(&input.priority)
    .fetch_one(&mut *tx)
    .await?;
    super::sla::stamp(&mut tx, id).await?;
    let r = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(&mut tx, actor, now, id, &r).await?;
    tx.commit().await?;
    Ok(r)
}

/// Updates the editable fields (the customer cannot change; the status follows updates).
pub async fn update(db: &Db, actor: &Actor, now: Millis, id: i64, input: &RequestInput) -> Result<ServiceRequest> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let before = audit::Before::read(&mut tx, "service_requests", id).await?;
    if input.customer_id != old.customer_id {
        return Err(Error::validation("customer_id", "error.read_only"));
    }
    check_refs(&mut tx, input, Some(&old)).await?;
    sqlx::query(
        "UPDATE service_requests SET requester_contact_id = $1, user_contact_id = $2, request_type = $3, symptom = $4, source = $5, \
         description = $6, owner_id = $7, branch_id = $8, updated_at = $9, priority = $11 WHERE id = $10",
    )
    .bind(input.requester_contact_id)
    .bind(input.user_contact_id)
    .bind(&input.request_type)
    .bind(input.symptom.as_deref())
    .bind(&input.source)
    .bind(&input.description)
    .bind(input.owner_id)
    .bind(input.branch_id)
    .bind(now)
    .bind(id)
    .bind(&input.priority)
    .execute(&mut *tx)
    .await?;
    if old.request_type != input.request_type || old.priority != input.priority {
        super::sla::stamp(&mut tx, id).await?;
    }
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if before.unchanged(&mut tx, &old, &new).await? {
        tx.rollback().await?;
        return Ok(old);
    }
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    Ok(new)
}

// ------------------------------------------------------------------ customer updates

/// A customer update ("Nouvelle action"): a status and a message for the end customer.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct RequestUpdate {
    pub id: i64,
    pub request_id: i64,
    pub status: String,
    pub message: String,
    /// How many of the customer's contacts were emailed.
    pub notified: i64,
    pub author_id: Option<i64>,
    pub author_name: String,
    pub created_at: i64,
}

impl Audited for RequestUpdate {
    const ENTITY: &'static str = "request_update";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![("status", Some(self.status.clone())), ("message", Some(self.message.clone()))]
    }
}

pub async fn updates(db: &Db, request_id: i64) -> Result<Vec<RequestUpdate>> {
    Ok(sqlx::query_as(
        "SELECT id, request_id, status, message, notified, author_id, author_name, created_at FROM request_updates WHERE request_id = $1 ORDER BY id DESC",
    )
    .bind(request_id)
    .fetch_all(&db.pool)
    .await?)
}

/// Posts a customer update: the request's status follows, the customer's contacts on the
/// request (requester and user; the customer's own address when none is set) are emailed,
/// and the request's history says so — in one transaction.
pub async fn add_update(db: &Db, actor: &Actor, now: Millis, request_id: i64, status: &str, message: &str) -> Result<RequestUpdate> {
    let update = RequestStatus::parse(status)
        .filter(|s| RequestStatus::UPDATES.contains(s))
        .ok_or_else(|| Error::validation("status", "error.invalid_choice"))?;
    let message = message.trim();
    if message.is_empty() {
        return Err(Error::validation("message", "error.required"));
    }
    if message.chars().count() > UPDATE_MAX {
        return Err(Error::validation("message", "error.too_long"));
    }
    let mut tx = db.begin().await?;
    let old = get(&mut tx, request_id).await?.ok_or(Error::NotFound)?;
    let to = old.status.after_update(update)?;
    let closed_at = if to == RequestStatus::Cloture { Some(now) } else { None };
    sqlx::query(
        "UPDATE service_requests SET status = $1, closed_at = $2, updated_at = $3, first_update_at = COALESCE(first_update_at, $3) WHERE id = $4",
    )
        .bind(to.code())
        .bind(closed_at)
        .bind(now)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
    let new = get(&mut tx, request_id).await?.ok_or(Error::NotFound)?;
    audit::record(&mut tx, actor, now, ServiceRequest::ENTITY, request_id, "status", &audit::diff(&old, &new)).await?;
    // Who hears about it: the contacts set on the request, else the customer's address.
    let lang: String = sqlx::query_scalar("SELECT language FROM customers WHERE id = $1").bind(new.customer_id).fetch_one(&mut *tx).await?;
    let lang = crate::i18n::Lang::parse(&lang).unwrap_or_default();
    let mut addresses: Vec<(String, Option<String>)> =
        [&new.requester, &new.user].into_iter().flatten().filter_map(|c| c.email.clone().map(|e| (e, Some(c.name.clone())))).collect();
    if addresses.is_empty() {
        let email: Option<String> =
            sqlx::query_scalar("SELECT email FROM customers WHERE id = $1").bind(new.customer_id).fetch_one(&mut *tx).await?;
        addresses.extend(email.map(|e| (e, Some(new.customer_name.clone()))));
    }
    addresses.sort();
    addresses.dedup_by(|a, b| a.0 == b.0);
    let recipients: Vec<crate::mail::notify::Recipient> = addresses
        .iter()
        .filter_map(|(e, name)| crate::identity::Email::parse(e).ok().map(|e| crate::mail::Mailbox::new(name.as_deref(), &e)))
        .map(|m| crate::mail::notify::Recipient::Address(m, lang))
        .collect();
    let notified = recipients.len() as i64;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO request_updates (request_id, status, message, notified, author_id, author_name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(request_id)
    .bind(update.code())
    .bind(message)
    .bind(notified)
    .bind(actor.id)
    .bind(&actor.name)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    if !recipients.is_empty() {
        let notice = crate::mail::notify::Notice {
            event: "request_update",
            entity: Some((ServiceRequest::ENTITY.into(), request_id)),
            vars: serde_json::json!({"request": {"id": request_id, "number": new.number, "status": update.code(),
                "status_label": crate::i18n::t(lang, &format!("service.status_{}", update.code()))},
                "update": {"message": message}, "customer": {"name": new.customer_name}, "actor": {"name": actor.name}}),
            attachments: Vec::new(),
            created_by: actor.id,
        };
        crate::mail::notify::notify(&mut tx, now, notice, &recipients).await?;
    }
    let u: RequestUpdate = sqlx::query_as(
        "SELECT id, request_id, status, message, notified, author_id, author_name, created_at FROM request_updates WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    audit::created(&mut tx, actor, now, id, &u).await?;
    tx.commit().await?;
    Ok(u)
}

// ------------------------------------------------------------------ contacts from a request

/// Which contact field of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Requester,
    User,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "requester" => Some(Role::Requester),
            "user" => Some(Role::User),
            _ => None,
        }
    }
    fn column(self) -> &'static str {
        match self {
            Role::Requester => "requester_contact_id",
            Role::User => "user_contact_id",
        }
    }
}

/// Creates a contact of the request's customer and sets it as requester or user — only
/// when that field is empty (seed 004).
pub async fn create_contact(
    db: &Db,
    actor: &Actor,
    now: Millis,
    request_id: i64,
    role: Role,
    input: &ContactInput,
) -> Result<ServiceRequest> {
    let r = {
        let mut conn = db.pool.acquire().await?;
        get(&mut conn, request_id).await?.ok_or(Error::NotFound)?
    };
    let taken = match role {
        Role::Requester => r.requester.is_some(),
        Role::User => r.user.is_some(),
    };
    if taken {
        return Err(Error::InvalidState { reason: "error.contact_already_set" });
    }
    let mut tx = db.begin().await?;
    let contact = crate::customers::store::create_contact_in(&mut tx, actor, now, r.customer_id, input).await?;
    let old = get(&mut tx, request_id).await?.ok_or(Error::NotFound)?;
    let column = role.column();
    let done = sqlx::query(&format!("UPDATE service_requests SET {column} = $1, updated_at = $2 WHERE id = $3 AND {column} IS NULL"))
        .bind(contact.id)
        .bind(now)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::InvalidState { reason: "error.contact_already_set" });
    }
    let new = get(&mut tx, request_id).await?.ok_or(Error::NotFound)?;
    audit::updated(&mut tx, actor, now, request_id, &old, &new).await?;
    tx.commit().await?;
    Ok(new)
}

/// The contact set as requester or user (to modify it from the request).
pub async fn contact_of(db: &Db, request_id: i64, role: Role) -> Result<Option<Contact>> {
    let mut conn = db.pool.acquire().await?;
    let r = get(&mut conn, request_id).await?.ok_or(Error::NotFound)?;
    let id = match role {
        Role::Requester => r.requester.map(|c| c.id),
        Role::User => r.user.map(|c| c.id),
    };
    match id {
        Some(id) => crate::customers::store::contact(&mut conn, r.customer_id, id).await,
        None => Ok(None),
    }
}

// ------------------------------------------------------------------ open files

/// A customer's open requests (not closed), for the customer page and the lead screen.
pub async fn open_for_customer(db: &Db, customer_id: i64) -> Result<Vec<ServiceRequest>> {
    let rows: Vec<Row> =
        sqlx::query_as(&format!("{SELECT} WHERE r.customer_id = $1 AND r.status <> 'cloture' ORDER BY r.id DESC LIMIT 50"))
            .bind(customer_id)
            .fetch_all(&db.pool)
            .await?;
    Ok(rows.into_iter().map(ServiceRequest::from).collect())
}

/// Service as a department of `customers::files`: the customer's open requests (not
/// closed), newest first, `visible` where `vis` lets the user see them.
pub fn open_files_of<'a>(db: &'a Db, vis: &'a Visibility, customer_id: i64, lang: Lang) -> BoxFuture<'a, Result<Vec<OpenFile>>> {
    Box::pin(async move {
        let requests = open_for_customer(db, customer_id).await?;
        let visible = visible_ids(db, vis, customer_id).await?;
        let types = crate::lists::items(db, "request_type", true).await?;
        Ok(requests
            .into_iter()
            .map(|r| {
                let type_label =
                    types.iter().find(|t| t.code == r.request_type).map(|t| t.label(&lang).to_string()).unwrap_or(r.request_type.clone());
                OpenFile {
                    kind: "service_request".into(),
                    id: r.id,
                    name: format!("{} · {type_label}", r.number),
                    status: r.status.code().into(),
                    status_label: crate::i18n::t(lang, &format!("service.status_{}", r.status.code())),
                    owner_name: r.owner_name,
                    branch_name: r.branch_name,
                    visible: visible.contains(&r.id),
                    href: format!("/service/requests/{}", r.id),
                    created_at: r.created_at,
                }
            })
            .collect())
    })
}

/// Ids among `ids` that `vis` may see.
pub async fn visible_ids(db: &Db, vis: &Visibility, customer_id: i64) -> Result<Vec<i64>> {
    let mut q = Sql::new("SELECT r.id FROM service_requests r WHERE r.customer_id = ");
    q.bind(customer_id).push(" AND ").append(vis.requests("r"));
    Ok(q.query_scalar().fetch_all(&db.pool).await?)
}
