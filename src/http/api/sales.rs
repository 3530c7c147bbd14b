//! `/api/v1/opportunities`, `/api/v1/leads`, `/api/v1/meetings`, `/api/v1/calls`,
//! `/api/v1/stock-units`: the sales module.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::users::HistoryQuery;
use super::{ListOf, PageOf};
use crate::access::Right;
use crate::audit::AuditEvent;
use crate::customers::CustomerForm;
use crate::db::page::{Count, Page, PageReq};
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::json::{ApiInput, ApiJson};
use crate::http::listing::{self, ListState, Listed};
use crate::http::lists::Opportunities;
use crate::http::AppState;
use crate::sales::calls::{self, Call, CallForm};
use crate::sales::leads::{self, LeadAnswer, LeadForm};
use crate::sales::meetings::{self, CalendarOf, Meeting, MeetingForm};
use crate::sales::stock::{self, StockForm, StockUnit};
use crate::sales::store::{self, Note, OpenFile};
use crate::sales::{Opportunity, OpportunityForm, HIDDEN_HISTORY_FIELDS};

const OPP_READ_ONLY: &[&str] = &[
    "id",
    "expired",
    "sale_date",
    "delivery_date",
    "customer_name",
    "owner_name",
    "branch_name",
    "stock_units",
    "created_at",
    "updated_at",
];

impl ApiInput for OpportunityForm {
    const READ_ONLY: &'static [&'static str] = OPP_READ_ONLY;
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Searches the customer (names, emails, phone digits).
    pub q: Option<String>,
    pub status: Option<String>,
    pub owner_id: Option<i64>,
    pub branch_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub lead_type: Option<String>,
    /// `1`: the caller's own.
    pub mine: Option<String>,
    /// In this unit (a branch, a region) or below it.
    pub unit_id: Option<i64>,
    /// Administrators: `1` expired, `0` not expired.
    pub expired: Option<String>,
    /// The date `from` and `to` are about: `created` (default), `sold`, `lost`, `booked`, `expired` (administrators).
    #[serde(rename = "in")]
    #[param(rename = "in")]
    pub dated: Option<String>,
    /// `YYYY-MM-DD`, included.
    pub from: Option<String>,
    /// `YYYY-MM-DD`, included.
    pub to: Option<String>,
    /// Having reached a stage: `booked`, `showed`, `sold`, `lost`.
    pub stage: Option<String>,
    /// `created` (default, newest first), `name`, `customer`, `status`, `lead_type`, `owner`, `branch`, `updated`, `amount`, `expected_close`; `-` before reverses.
    pub sort: Option<String>,
    /// A saved view whose filters apply when the query names none.
    pub view: Option<i64>,
    pub limit: Option<i64>,
    pub after: Option<String>,
    pub before: Option<String>,
    /// `true`: include the count (exact up to 1,000).
    pub count: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LeadListQuery {
    pub lead_type: Option<String>,
    /// The source exactly as received.
    pub source: Option<String>,
    /// The opportunity's owner.
    pub owner_id: Option<i64>,
    /// The opportunity's branch is this unit or below it.
    pub unit_id: Option<i64>,
    pub opportunity_id: Option<i64>,
    /// Received from this date (`YYYY-MM-DD`, included).
    pub from: Option<String>,
    /// Received until this date (`YYYY-MM-DD`, included).
    pub to: Option<String>,
    /// Speed to lead: `le_5m`, `le_1h`, `le_4h`, `le_24h`, `more`, `none` (not answered yet).
    pub speed: Option<String>,
    /// `1`: the caller's own opportunities.
    pub mine: Option<String>,
    /// `received` (default, newest first).
    pub sort: Option<String>,
    pub view: Option<i64>,
    pub limit: Option<i64>,
    pub after: Option<String>,
    pub before: Option<String>,
    /// `true`: include the count (exact up to 1,000).
    pub count: Option<bool>,
}

/// Leads received on the opportunities the caller sees, most recent first, with how fast each
/// was answered (the sales dashboard's lead figures link here).
#[utoipa::path(get, path = "/api/v1/leads", tag = "sales", params(LeadListQuery), responses((status = 200, body = PageOf<crate::sales::leads::ListedLead>), (status = 422)))]
pub async fn list_leads(
    State(st): State<AppState>,
    c: Ctx,
    Query(q): Query<LeadListQuery>,
    RawQuery(raw): RawQuery,
) -> Result<Json<PageOf<crate::sales::leads::ListedLead>>, HttpError> {
    Ok(Json(listing::api_page::<crate::http::lists::Leads>(&st, &c, raw.as_deref(), q.limit, q.count).await?))
}

/// A page of opportunities as the caller may read them.
fn for_viewer(page: Page<Opportunity>, count: Option<Count>, hidden: bool) -> PageOf<Opportunity> {
    PageOf::new(page.map(|o| o.for_viewer(hidden)), count)
}

/// Opportunities the caller may see, most recent first (trashed ones never appear).
#[utoipa::path(get, path = "/api/v1/opportunities", tag = "sales", params(ListQuery), responses((status = 200, body = PageOf<Opportunity>), (status = 422)))]
pub async fn list(
    State(st): State<AppState>,
    c: Ctx,
    Query(q): Query<ListQuery>,
    RawQuery(raw): RawQuery,
) -> Result<Json<PageOf<Opportunity>>, HttpError> {
    let (page, count) = listing::api_read::<Opportunities>(&st, &c, raw.as_deref(), q.limit, q.count).await?;
    Ok(Json(for_viewer(page, count, c.p.sees_hidden_fields())))
}

/// The trash: opportunities moved to a trash status (administrators).
#[utoipa::path(get, path = "/api/v1/opportunities/trash", tag = "sales", params(ListQuery), responses((status = 200, body = PageOf<Opportunity>)))]
pub async fn trash(
    State(st): State<AppState>,
    c: Ctx,
    Query(q): Query<ListQuery>,
    RawQuery(raw): RawQuery,
) -> Result<Json<PageOf<Opportunity>>, HttpError> {
    let s = ListState::load(&st.db, st.now(), &c.p, Opportunities::DEF, raw.as_deref(), q.limit.unwrap_or(crate::db::page::DEFAULT_LIMIT))
        .await?;
    let f = store::Filter { trash: true, ..Opportunities::filter(&s, &c.p)? };
    let page = store::list(&st.db, &c.p.visibility, &f, &s.page).await?;
    Ok(Json(for_viewer(page, None, c.p.sees_hidden_fields())))
}

/// A new opportunity: for an existing customer (`customer_id`) or for a new one (`customer`,
/// with the returning-customer check: 409 when the phone or email is known).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOpportunity {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub customer_id: Option<i64>,
    /// A customer to create with the opportunity.
    #[serde(default)]
    pub customer: Option<CustomerForm>,
    #[serde(default)]
    pub lead_type: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub owner_id: Option<i64>,
    #[serde(default)]
    pub branch_id: Option<i64>,
    #[serde(default)]
    pub stock_unit_ids: Vec<i64>,
    /// The deal's value in cents of the currency of the setting `sales.currency`.
    #[serde(default)]
    pub amount_cents: Option<i64>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub expected_close_on: Option<String>,
    /// With a new customer: create it even if its phone or email is known (needs `customers.create_duplicate`).
    #[serde(default)]
    pub allow_duplicate: bool,
}

impl ApiInput for NewOpportunity {
    const READ_ONLY: &'static [&'static str] = OPP_READ_ONLY;
}

#[utoipa::path(post, path = "/api/v1/opportunities", tag = "sales", request_body = NewOpportunity,
    responses((status = 201, body = Opportunity), (status = 409, description = "The new customer's phone or email is known"), (status = 422)))]
pub async fn create(
    State(st): State<AppState>,
    c: Ctx,
    ApiJson(n): ApiJson<NewOpportunity>,
) -> Result<(StatusCode, Json<Opportunity>), HttpError> {
    let form = OpportunityForm {
        name: n.name,
        customer_id: n.customer_id.or(Some(0)),
        lead_type: n.lead_type,
        status: n.status,
        owner_id: n.owner_id.or(Some(c.p.user_id)),
        branch_id: n.branch_id.or(c.p.visibility.home_unit_id()),
        stock_unit_ids: n.stock_unit_ids,
        amount_cents: n.amount_cents,
        expected_close_on: n.expected_close_on,
    };
    let o = match (n.customer, n.customer_id) {
        (Some(_), Some(_)) => return Err(Error::validation("customer", "error.customer_or_id").into()),
        (None, None) => return Err(Error::validation("customer_id", "error.required").into()),
        (Some(cf), None) => {
            if !c.p.can(Right::CustomersCreate) {
                return Err(Error::Forbidden.into());
            }
            let region = crate::customers::store::region_of(&st.db).await?;
            let ci = cf.parse(&region).map_err(|e| prefix(e, "customer.", true))?;
            let input = form.parse()?;
            crate::identity::users::check_owner_choice(&st.db, &c.p.visibility, input.owner_id, None).await?;
            let allow = n.allow_duplicate && c.p.can(Right::CustomersCreateDuplicate);
            store::create_with_customer(&st.db, &c.actor(), st.now(), &ci, allow, &input)
                .await
                .map_err(|e| prefix(e, "customer.", false))?
        }
        (None, Some(id)) => {
            crate::customers::store::get_visible(&st.db, &c.p.visibility, id)
                .await?
                .ok_or_else(|| Error::validation("customer_id", "error.unknown_customer"))?;
            let input = form.parse()?;
            crate::identity::users::check_owner_choice(&st.db, &c.p.visibility, input.owner_id, None).await?;
            store::create(&st.db, &c.actor(), st.now(), &input).await?
        }
    };
    Ok((StatusCode::CREATED, Json(o.for_viewer(c.p.sees_hidden_fields()))))
}

/// Customer field errors named `customer.email` etc. in the answer: every field of a
/// validation error (`all`), or the fields of a conflict (the returning-customer check).
fn prefix(e: Error, p: &str, all: bool) -> Error {
    let re = |f: crate::error::FieldErrors| {
        let mut out = crate::error::FieldErrors::new();
        for x in f.0 {
            out.add(format!("{p}{}", x.field), x.reason);
        }
        out
    };
    match e {
        Error::Validation(f) if all => Error::Validation(re(f)),
        Error::Conflict(f) => Error::Conflict(re(f)),
        e => e,
    }
}

async fn visible(st: &AppState, c: &Ctx, id: i64) -> Result<Opportunity, HttpError> {
    Ok(store::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?)
}

#[utoipa::path(get, path = "/api/v1/opportunities/{id}", tag = "sales", responses((status = 200, body = Opportunity), (status = 404)))]
pub async fn get(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<Opportunity>, HttpError> {
    Ok(Json(visible(&st, &c, id).await?.for_viewer(c.p.sees_hidden_fields())))
}

/// A partial update. `status` changes the status with its effects (sale date, delivery
/// date, trash, follow-up call); `expired`, `sale_date` and `delivery_date` are the system's.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpportunityPatch {
    pub name: Option<String>,
    pub status: Option<String>,
    #[serde(default, deserialize_with = "crate::http::json::double_option")]
    #[schema(value_type = Option<String>)]
    pub lead_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::double_option")]
    #[schema(value_type = Option<i64>)]
    pub owner_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "crate::http::json::double_option")]
    #[schema(value_type = Option<i64>)]
    pub branch_id: Option<Option<i64>>,
    pub stock_unit_ids: Option<Vec<i64>>,
    /// Cents; `null` removes the amount.
    #[serde(default, deserialize_with = "crate::http::json::double_option")]
    #[schema(value_type = Option<i64>)]
    pub amount_cents: Option<Option<i64>>,
    /// `YYYY-MM-DD`; `null` removes it.
    #[serde(default, deserialize_with = "crate::http::json::double_option")]
    #[schema(value_type = Option<String>)]
    pub expected_close_on: Option<Option<String>>,
}

impl ApiInput for OpportunityPatch {
    const READ_ONLY: &'static [&'static str] = &[
        "id",
        "expired",
        "sale_date",
        "delivery_date",
        "customer_id",
        "customer_name",
        "owner_name",
        "branch_name",
        "stock_units",
        "created_at",
        "updated_at",
    ];
}

#[utoipa::path(patch, path = "/api/v1/opportunities/{id}", tag = "sales", request_body = OpportunityPatch,
    responses((status = 200, body = Opportunity), (status = 404), (status = 409, description = "In the trash"), (status = 422)))]
pub async fn update(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(p): ApiJson<OpportunityPatch>,
) -> Result<Json<Opportunity>, HttpError> {
    let cur = visible(&st, &c, id).await?;
    let touches_fields = p.name.is_some()
        || p.lead_type.is_some()
        || p.owner_id.is_some()
        || p.branch_id.is_some()
        || p.stock_unit_ids.is_some()
        || p.amount_cents.is_some()
        || p.expected_close_on.is_some();
    let fields = if touches_fields {
        let mut f = OpportunityForm::from_opportunity(&cur);
        if let Some(v) = p.name {
            f.name = v;
        }
        if let Some(v) = p.lead_type {
            f.lead_type = v;
        }
        if let Some(v) = p.owner_id {
            f.owner_id = v;
        }
        if let Some(v) = p.branch_id {
            f.branch_id = v;
        }
        if let Some(v) = p.stock_unit_ids {
            f.stock_unit_ids = v;
        }
        if let Some(v) = p.amount_cents {
            f.amount_cents = v;
        }
        if let Some(v) = p.expected_close_on {
            f.expected_close_on = v;
        }
        Some(f.parse()?)
    } else {
        None
    };
    if let Some(f) = &fields {
        crate::identity::users::check_owner_choice(&st.db, &c.p.visibility, f.owner_id, cur.owner_id).await?;
    }
    let o = store::apply(&st.db, &c.actor(), st.now(), id, fields.as_ref(), p.status.as_deref(), c.p.rights).await?;
    Ok(Json(o.for_viewer(c.p.sees_hidden_fields())))
}

#[utoipa::path(post, path = "/api/v1/opportunities/{id}/restore", tag = "sales", responses((status = 200, body = Opportunity), (status = 404), (status = 409)))]
pub async fn restore(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<Opportunity>, HttpError> {
    store::get_visible_trashed(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    let o = store::restore(&st.db, &c.actor(), st.now(), id).await?;
    Ok(Json(o.for_viewer(c.p.sees_hidden_fields())))
}

/// The change history (the `expired` changes for administrators only).
#[utoipa::path(get, path = "/api/v1/opportunities/{id}/history", tag = "sales", params(HistoryQuery), responses((status = 200, body = ListOf<AuditEvent>), (status = 404)))]
pub async fn history(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<ListOf<AuditEvent>>, HttpError> {
    visible(&st, &c, id).await?;
    let page = super::history_page(&st, "opportunity", id, &q).await?;
    Ok(Json(ListOf { items: filter_hidden(page.items, c.p.sees_hidden_fields()), next_cursor: page.next_cursor }))
}

/// History rows of admin-only fields, removed for everyone else.
pub fn filter_hidden(items: Vec<AuditEvent>, sees_hidden: bool) -> Vec<AuditEvent> {
    if sees_hidden {
        return items;
    }
    items.into_iter().filter(|e| e.field.as_deref().is_none_or(|f| !HIDDEN_HISTORY_FIELDS.contains(&f))).collect()
}

#[utoipa::path(get, path = "/api/v1/opportunities/{id}/notes", tag = "sales", responses((status = 200, body = ListOf<Note>), (status = 404)))]
pub async fn notes(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<ListOf<Note>>, HttpError> {
    visible(&st, &c, id).await?;
    Ok(Json(ListOf { items: store::notes(&st.db, id, 500).await?, next_cursor: None }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    pub body: String,
}

impl ApiInput for NoteBody {}

#[utoipa::path(post, path = "/api/v1/opportunities/{id}/notes", tag = "sales", request_body = NoteBody, responses((status = 201, body = Note), (status = 404), (status = 422)))]
pub async fn add_note(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<NoteBody>,
) -> Result<(StatusCode, Json<Note>), HttpError> {
    visible(&st, &c, id).await?;
    Ok((StatusCode::CREATED, Json(store::add_note(&st.db, &c.actor(), st.now(), id, &b.body).await?)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BoardColumn {
    pub status: String,
    pub label: String,
    pub cards: Vec<Opportunity>,
    pub more: bool,
}

/// The kanban board: each active status with its most recent cards.
#[utoipa::path(get, path = "/api/v1/opportunities/board", tag = "sales", params(ListQuery), responses((status = 200, body = Vec<BoardColumn>)))]
pub async fn board(
    State(st): State<AppState>,
    c: Ctx,
    Query(q): Query<ListQuery>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<BoardColumn>>, HttpError> {
    let statuses = crate::sales::Statuses::load(&st.db).await?;
    let per = q.limit.unwrap_or(20).clamp(1, 100);
    let s = ListState::load(&st.db, st.now(), &c.p, Opportunities::DEF, raw.as_deref(), per).await?;
    let cols = store::board(&st.db, &c.p.visibility, &statuses, &Opportunities::filter(&s, &c.p)?, per).await?;
    let hidden = c.p.sees_hidden_fields();
    Ok(Json(
        cols.into_iter()
            .map(|col| BoardColumn {
                label: col.status.label(&c.lang()).to_string(),
                status: col.status.code,
                cards: col.cards.into_iter().map(|o| o.for_viewer(hidden)).collect(),
                more: col.more,
            })
            .collect(),
    ))
}

/// The customer's open files in every department (names and statuses only where the
/// caller's visibility would hide them).
#[utoipa::path(get, path = "/api/v1/customers/{id}/open-files", tag = "customers", responses((status = 200, body = ListOf<OpenFile>), (status = 404)))]
pub async fn open_files(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<ListOf<OpenFile>>, HttpError> {
    crate::customers::store::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    let items = open_files_for(&st, &c, id).await?;
    Ok(Json(ListOf { items, next_cursor: None }))
}

/// Open files (opportunities and service requests) with details only where visible.
pub async fn open_files_for(st: &AppState, c: &Ctx, customer_id: i64) -> Result<Vec<OpenFile>, HttpError> {
    Ok(crate::customers::files::open_files(&st.db, &c.p, customer_id, c.lang(), crate::wiring::DEPARTMENTS).await?)
}

// ------------------------------------------------------------------ leads

impl ApiInput for LeadForm {}

/// Takes an Internet lead. The customer is recognised by phone or email (created when
/// unknown); the lead is merged into their most recent opportunity unless it is expired or
/// trashed, else a new opportunity is opened. The answer names the customer and the
/// opportunity only when the caller may see them (`null` otherwise). Send an `Idempotency-Key` header: the same
/// key twice with the same lead takes it once and answers the same; with a different lead it
/// is refused (422). Keys are per caller: another caller's identical key is independent.
#[utoipa::path(post, path = "/api/v1/leads", tag = "sales", request_body = LeadForm,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Yours only: the same key with the same lead takes it once (200, replayed); with another lead, 422")),
    responses((status = 409, description = "The `Idempotency-Key` was used for another lead"), (status = 201, body = LeadAnswer), (status = 200, body = LeadAnswer, description = "Replayed"),
        (status = 422, description = "Invalid lead, or the key already used for a different lead")))]
pub async fn create_lead(
    State(st): State<AppState>,
    c: Ctx,
    headers: HeaderMap,
    ApiJson(f): ApiJson<LeadForm>,
) -> Result<(StatusCode, Json<LeadAnswer>), HttpError> {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| Error::validation("Idempotency-Key", "error.idempotency_key"))?.trim().to_string()),
        None => None,
    };
    let region = crate::customers::store::region_of(&st.db).await?;
    let input = f.parse(&region)?;
    let defaults = leads::Defaults { branch_id: c.p.visibility.home_unit_id(), owner_id: None };
    let r = leads::intake(&st.db, &c.actor(), st.now(), &input, key.as_deref(), defaults).await?;
    let status = if r.replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(r.answer_for(&st.db, &c.p.visibility).await?)))
}

// ------------------------------------------------------------------ meetings

impl ApiInput for MeetingForm {
    const READ_ONLY: &'static [&'static str] = &["id", "subject", "uid", "sequence", "start_at", "end_at", "participants"];
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CalendarQuery {
    /// First day (`YYYY-MM-DD`, local); today by default.
    pub from: Option<String>,
    /// Number of days (1 to 42; 7 by default).
    pub days: Option<i64>,
    /// A user's calendar.
    pub user_id: Option<i64>,
    /// A branch's calendar.
    pub branch_id: Option<i64>,
}

/// Resolves a calendar query to (whose, from, to).
pub async fn calendar_range(st: &AppState, q: &CalendarQuery) -> Result<(CalendarOf, i64, i64, crate::clock::Zone), HttpError> {
    let zone = crate::settings::zone(&st.db).await?;
    let days = q.days.unwrap_or(7);
    if !(1..=crate::clock::WINDOW_DAYS_MAX).contains(&days) {
        return Err(Error::validation("days", "error.out_of_range").into());
    }
    let first = match q.from.as_deref().filter(|s| !s.is_empty()) {
        Some(d) => {
            chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| Error::validation("from", "error.invalid_datetime"))?
        }
        None => zone.local(st.now()).date(),
    };
    // Local midnights: count days in the zone, not 24 h steps, across DST changes.
    let crate::clock::Window { from, to, .. } = zone.window(first, crate::clock::Span::Days(days as u64));
    let of = match (q.user_id, q.branch_id) {
        (Some(u), _) => CalendarOf::User(u),
        (None, Some(b)) => CalendarOf::Branch(b),
        (None, None) => CalendarOf::All,
    };
    Ok((of, from, to, zone))
}

#[utoipa::path(get, path = "/api/v1/meetings", tag = "sales", params(CalendarQuery), responses((status = 200, body = ListOf<Meeting>)))]
pub async fn list_meetings(State(st): State<AppState>, c: Ctx, Query(q): Query<CalendarQuery>) -> Result<Json<ListOf<Meeting>>, HttpError> {
    let (of, from, to, _) = calendar_range(&st, &q).await?;
    let items = meetings::calendar(&st.db, &c.p.visibility, of, from, to).await?;
    Ok(Json(ListOf { items, next_cursor: None }))
}

/// Books a meeting on an opportunity (sends the confirmation with its invitation).
#[utoipa::path(post, path = "/api/v1/meetings", tag = "sales", request_body = MeetingForm, responses((status = 409, description = "No status to give the opportunity"), (status = 201, body = Meeting), (status = 422)))]
pub async fn create_meeting(
    State(st): State<AppState>,
    c: Ctx,
    ApiJson(f): ApiJson<MeetingForm>,
) -> Result<(StatusCode, Json<Meeting>), HttpError> {
    let zone = crate::settings::zone(&st.db).await?;
    let input = f.parse(zone)?;
    store::get_visible(&st.db, &c.p.visibility, input.opportunity_id)
        .await?
        .ok_or_else(|| Error::validation("opportunity_id", "error.unknown_opportunity"))?;
    let m = meetings::create(&st.db, &c.actor(), &c.p.visibility, st.now(), &input, zone).await?;
    Ok((StatusCode::CREATED, Json(m)))
}

async fn visible_meeting(st: &AppState, c: &Ctx, id: i64) -> Result<Meeting, HttpError> {
    Ok(meetings::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?)
}

#[utoipa::path(get, path = "/api/v1/meetings/{id}", tag = "sales", responses((status = 200, body = Meeting), (status = 404)))]
pub async fn get_meeting(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<Meeting>, HttpError> {
    Ok(Json(visible_meeting(&st, &c, id).await?))
}

/// Replaces a meeting's fields; a change of time, place or participants sends the update.
#[utoipa::path(put, path = "/api/v1/meetings/{id}", tag = "sales", request_body = MeetingForm, responses((status = 409, description = "The meeting is cancelled"), (status = 200, body = Meeting), (status = 404), (status = 422)))]
pub async fn update_meeting(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(f): ApiJson<MeetingForm>,
) -> Result<Json<Meeting>, HttpError> {
    visible_meeting(&st, &c, id).await?;
    let zone = crate::settings::zone(&st.db).await?;
    let input = f.parse(zone)?;
    Ok(Json(meetings::update(&st.db, &c.actor(), &c.p.visibility, st.now(), id, &input, zone).await?))
}

impl ApiInput for crate::calendar::Slot {}

/// Moves a meeting to another slot (and, with `person`, from one person to another) and
/// changes nothing else: a drag on the calendar's grid. The same rules and updated invitation as
/// a change through the form.
#[utoipa::path(post, path = "/api/v1/meetings/{id}/move", tag = "sales", request_body = crate::calendar::Slot, responses((status = 409, description = "The meeting is cancelled"), (status = 200, body = Meeting), (status = 404), (status = 422)))]
pub async fn move_meeting(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(slot): ApiJson<crate::calendar::Slot>,
) -> Result<Json<Meeting>, HttpError> {
    let m = visible_meeting(&st, &c, id).await?;
    let zone = crate::settings::zone(&st.db).await?;
    let input = MeetingForm::moved(&m, zone, slot).parse(zone)?;
    Ok(Json(meetings::update(&st.db, &c.actor(), &c.p.visibility, st.now(), id, &input, zone).await?))
}

#[utoipa::path(post, path = "/api/v1/meetings/{id}/cancel", tag = "sales", responses((status = 200, body = Meeting), (status = 404), (status = 409)))]
pub async fn cancel_meeting(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<Meeting>, HttpError> {
    visible_meeting(&st, &c, id).await?;
    let zone = crate::settings::zone(&st.db).await?;
    Ok(Json(meetings::cancel(&st.db, &c.actor(), st.now(), id, zone).await?))
}

// ------------------------------------------------------------------ calls

impl ApiInput for CallForm {
    const READ_ONLY: &'static [&'static str] = &["id", "due_at", "status", "outcome", "done_at", "automatic"];
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TasksQuery {
    /// Calls due within this many days (default 1: today and overdue).
    pub days: Option<i64>,
}

/// The caller's planned calls (their tasks), overdue first: on opportunities, and on service
/// requests for a caller who reads them.
#[utoipa::path(get, path = "/api/v1/calls", tag = "sales", params(TasksQuery), responses((status = 200, body = ListOf<Call>)))]
pub async fn list_calls(State(st): State<AppState>, c: Ctx, Query(q): Query<TasksQuery>) -> Result<Json<ListOf<Call>>, HttpError> {
    let zone = crate::settings::zone(&st.db).await?;
    let days = q.days.unwrap_or(1);
    if !(1..=calls::TASK_DAYS_MAX).contains(&days) {
        return Err(Error::validation("days", "error.out_of_range").into());
    }
    let until = zone.day_start(st.now()) + days * 86_400_000;
    let which = calls::Tasks { opportunities: true, requests: c.p.can(Right::ServiceRequestsRead) };
    Ok(Json(ListOf { items: calls::tasks(&st.db, c.p.user_id, until, which, 500).await?, next_cursor: None }))
}

/// Schedules a call on an opportunity (for its owner by default).
#[utoipa::path(post, path = "/api/v1/calls", tag = "sales", request_body = CallForm, responses((status = 201, body = Call), (status = 422)))]
pub async fn create_call(State(st): State<AppState>, c: Ctx, ApiJson(f): ApiJson<CallForm>) -> Result<(StatusCode, Json<Call>), HttpError> {
    let zone = crate::settings::zone(&st.db).await?;
    let opp = match f.opportunity_id {
        Some(id) => store::get_visible(&st.db, &c.p.visibility, id).await?,
        None => None,
    };
    let Some(opp) = opp else {
        return Err(Error::validation(
            "opportunity_id",
            if f.opportunity_id.is_none() { "error.required" } else { "error.unknown_opportunity" },
        )
        .into());
    };
    let input = f.parse(zone, calls::File::Opportunity(opp.id), opp.owner_id.unwrap_or(c.p.user_id))?;
    Ok((StatusCode::CREATED, Json(calls::schedule(&st.db, &c.actor(), st.now(), &input).await?)))
}

async fn visible_call(st: &AppState, c: &Ctx, id: i64) -> Result<Call, HttpError> {
    Ok(calls::get_visible(&st.db, &c.p.visibility, id, calls::On::Opportunity).await?.ok_or(Error::NotFound)?)
}

#[utoipa::path(put, path = "/api/v1/calls/{id}", tag = "sales", request_body = CallForm, responses((status = 200, body = Call), (status = 404), (status = 409), (status = 422)))]
pub async fn update_call(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(f): ApiJson<CallForm>,
) -> Result<Json<Call>, HttpError> {
    let cur = visible_call(&st, &c, id).await?;
    let zone = crate::settings::zone(&st.db).await?;
    let f = CallForm { opportunity_id: cur.opportunity_id, ..f };
    let input = f.parse(zone, cur.file(), cur.owner_id)?;
    Ok(Json(calls::reschedule(&st.db, &c.actor(), st.now(), id, &input).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogBody {
    /// A `call_outcome` code, or `cancelled`.
    pub outcome: String,
    #[serde(default)]
    pub comment: String,
}

impl ApiInput for LogBody {}

/// Logs a call's outcome (or cancels it); the opportunity's timeline says so.
#[utoipa::path(post, path = "/api/v1/calls/{id}/log", tag = "sales", request_body = LogBody, responses((status = 200, body = Call), (status = 404), (status = 409), (status = 422)))]
pub async fn log_call(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<LogBody>,
) -> Result<Json<Call>, HttpError> {
    visible_call(&st, &c, id).await?;
    Ok(Json(calls::log(&st.db, &c.actor(), st.now(), id, &b.outcome, &b.comment).await?))
}

// ------------------------------------------------------------------ stock units

impl ApiInput for StockForm {
    const READ_ONLY: &'static [&'static str] = &["id", "branch_name", "created_at", "updated_at"];
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StockQuery {
    /// A stock-number prefix.
    pub q: Option<String>,
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub after: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/stock-units", tag = "sales", params(StockQuery), responses((status = 200, body = ListOf<StockUnit>)))]
pub async fn list_stock(State(st): State<AppState>, _c: Ctx, Query(q): Query<StockQuery>) -> Result<Json<ListOf<StockUnit>>, HttpError> {
    let page = PageReq::parse(q.limit, q.after.as_deref())?;
    let res = stock::list(&st.db, q.q.as_deref(), q.status.as_deref(), &page).await?;
    Ok(Json(ListOf { items: res.items, next_cursor: res.next.map(|n| n.encode()) }))
}

#[utoipa::path(post, path = "/api/v1/stock-units", tag = "sales", request_body = StockForm, responses((status = 201, body = StockUnit), (status = 409), (status = 422)))]
pub async fn create_stock(
    State(st): State<AppState>,
    c: Ctx,
    ApiJson(f): ApiJson<StockForm>,
) -> Result<(StatusCode, Json<StockUnit>), HttpError> {
    let input = f.parse()?;
    Ok((StatusCode::CREATED, Json(stock::create(&st.db, &c.actor(), st.now(), &input).await?)))
}

#[utoipa::path(put, path = "/api/v1/stock-units/{id}", tag = "sales", request_body = StockForm, responses((status = 200, body = StockUnit), (status = 404), (status = 409), (status = 422)))]
pub async fn update_stock(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(f): ApiJson<StockForm>,
) -> Result<Json<StockUnit>, HttpError> {
    let input = f.parse()?;
    Ok(Json(stock::update(&st.db, &c.actor(), st.now(), id, &input).await?))
}
