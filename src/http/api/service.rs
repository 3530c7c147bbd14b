//! `/api/v1/service-requests` and `/api/v1/equipment`: the service module.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::sales::LogBody;
use super::users::HistoryQuery;
use super::{ListOf, PageOf};
use crate::access::Right;
use crate::audit::AuditEvent;
use crate::calls::{self, Call, CallForm};
use crate::customers::ContactForm;
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::json::{ApiInput, ApiJson};
use crate::http::listing;
use crate::http::lists::Requests;
use crate::http::AppState;
use crate::service::documents::{self, Document};
use crate::service::equipment::{self, Equipment, EquipmentForm, Line};
use crate::service::interventions::{self, Conflict, Intervention, InterventionForm, PlanningOf};
use crate::service::messages::Message;
use crate::service::notes::{self, RequestNote};
use crate::service::returns::{self, EquipmentReturn, ReturnForm};
use crate::service::store::{self, RequestUpdate, Role};
use crate::service::{RequestForm, ServiceRequest};

const READ_ONLY: &[&str] = &[
    "id",
    "number",
    "status",
    "customer_name",
    "requester",
    "user",
    "owner_name",
    "branch_name",
    "closed_at",
    "created_at",
    "updated_at",
    "first_update_at",
    "first_update_due_at",
    "close_due_at",
    "intervention_id",
];

impl ApiInput for RequestForm {
    const READ_ONLY: &'static [&'static str] = READ_ONLY;
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Searches the customer (names, emails, phone digits).
    pub q: Option<String>,
    /// `nouveau`, `en_cours`, `planifie` or `cloture`.
    pub status: Option<String>,
    pub request_type: Option<String>,
    pub owner_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// `true` or `1`: only requests that are not closed.
    pub open: Option<String>,
    /// `1`: the caller's own.
    pub mine: Option<String>,
    pub priority: Option<String>,
    /// `true` or `1`: requests with a customer message not read yet.
    pub unread: Option<String>,
    /// `true` or `1`: open requests past a service-level due time.
    pub overdue: Option<String>,
    /// The date `from` and `to` are about: `created` (default) or `closed`.
    #[serde(rename = "in")]
    #[param(rename = "in")]
    pub dated: Option<String>,
    /// `YYYY-MM-DD`, included.
    pub from: Option<String>,
    /// `YYYY-MM-DD`, included.
    pub to: Option<String>,
    /// A service-level outcome: `first_update_met`, `first_update_missed`, `close_met`, `close_missed`.
    pub sla: Option<String>,
    /// In this unit or below it.
    pub unit_id: Option<i64>,
    /// `created` (default, newest first), `number`, `customer`, `status`, `type`, `owner`, `updated`; `-` before reverses.
    pub sort: Option<String>,
    /// A saved view whose filters apply when the query names none.
    pub view: Option<i64>,
    pub limit: Option<i64>,
    pub after: Option<String>,
    pub before: Option<String>,
    /// `true`: include the count (exact up to 1,000).
    pub count: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/service-requests", tag = "service", params(ListQuery), responses((status = 200, body = PageOf<ServiceRequest>), (status = 422)))]
pub async fn list(
    State(st): State<AppState>,
    c: Ctx,
    Query(q): Query<ListQuery>,
    RawQuery(raw): RawQuery,
) -> Result<Json<PageOf<ServiceRequest>>, HttpError> {
    Ok(Json(listing::api_page::<Requests>(&st, &c, raw.as_deref(), q.limit, q.count).await?))
}

/// A new request for a customer the caller may see (owner: the caller by default).
#[utoipa::path(post, path = "/api/v1/service-requests", tag = "service", request_body = RequestForm, responses((status = 201, body = ServiceRequest), (status = 422)))]
pub async fn create(
    State(st): State<AppState>,
    c: Ctx,
    ApiJson(f): ApiJson<RequestForm>,
) -> Result<(StatusCode, Json<ServiceRequest>), HttpError> {
    let f = RequestForm { owner_id: f.owner_id.or(Some(c.p.user_id)), branch_id: f.branch_id.or(c.p.visibility.home_unit_id()), ..f };
    let input = f.parse()?;
    crate::customers::store::get_visible(&st.db, &c.p.visibility, input.customer_id)
        .await?
        .ok_or_else(|| Error::validation("customer_id", "error.unknown_customer"))?;
    crate::identity::users::check_owner_choice(&st.db, &c.p.visibility, input.owner_id, None).await?;
    Ok((StatusCode::CREATED, Json(store::create(&st.db, &c.actor(), st.now(), &input).await?)))
}

async fn visible(st: &AppState, c: &Ctx, id: i64) -> Result<ServiceRequest, HttpError> {
    Ok(store::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?)
}

#[utoipa::path(get, path = "/api/v1/service-requests/{id}", tag = "service", responses((status = 200, body = ServiceRequest), (status = 404)))]
pub async fn get(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<ServiceRequest>, HttpError> {
    Ok(Json(visible(&st, &c, id).await?))
}

/// A partial update; absent fields keep their value. The status follows customer updates.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestPatch {
    #[serde(default, deserialize_with = "crate::http::json::double_option")]
    #[schema(value_type = Option<i64>)]
    pub requester_contact_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "crate::http::json::double_option")]
    #[schema(value_type = Option<i64>)]
    pub user_contact_id: Option<Option<i64>>,
    pub request_type: Option<String>,
    #[serde(default, deserialize_with = "crate::http::json::double_option")]
    #[schema(value_type = Option<String>)]
    pub symptom: Option<Option<String>>,
    pub source: Option<String>,
    pub description: Option<String>,
    /// A `request_priority` code.
    pub priority: Option<String>,
    #[serde(default, deserialize_with = "crate::http::json::double_option")]
    #[schema(value_type = Option<i64>)]
    pub owner_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "crate::http::json::double_option")]
    #[schema(value_type = Option<i64>)]
    pub branch_id: Option<Option<i64>>,
}

impl ApiInput for RequestPatch {
    const READ_ONLY: &'static [&'static str] = &[
        "id",
        "number",
        "status",
        "customer_id",
        "customer_name",
        "requester",
        "user",
        "owner_name",
        "branch_name",
        "closed_at",
        "created_at",
        "updated_at",
        "first_update_at",
        "first_update_due_at",
        "close_due_at",
        "intervention_id",
    ];
}

#[utoipa::path(patch, path = "/api/v1/service-requests/{id}", tag = "service", request_body = RequestPatch, responses((status = 409, description = "The request is closed"), (status = 200, body = ServiceRequest), (status = 404), (status = 422)))]
pub async fn update(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(p): ApiJson<RequestPatch>,
) -> Result<Json<ServiceRequest>, HttpError> {
    let cur = visible(&st, &c, id).await?;
    let mut f = RequestForm::from_request(&cur);
    if let Some(v) = p.requester_contact_id {
        f.requester_contact_id = v;
    }
    if let Some(v) = p.user_contact_id {
        f.user_contact_id = v;
    }
    if let Some(v) = p.request_type {
        f.request_type = v;
    }
    if let Some(v) = p.priority {
        f.priority = Some(v);
    }
    if let Some(v) = p.symptom {
        f.symptom = v;
    }
    if let Some(v) = p.source {
        f.source = v;
    }
    if let Some(v) = p.description {
        f.description = v;
    }
    if let Some(v) = p.owner_id {
        f.owner_id = v;
    }
    if let Some(v) = p.branch_id {
        f.branch_id = v;
    }
    let input = f.parse()?;
    crate::identity::users::check_owner_choice(&st.db, &c.p.visibility, input.owner_id, cur.owner_id).await?;
    Ok(Json(store::update(&st.db, &c.actor(), st.now(), id, &input).await?))
}

/// The request's history: field changes, status changes, customer updates, equipment.
#[utoipa::path(get, path = "/api/v1/service-requests/{id}/history", tag = "service", params(HistoryQuery), responses((status = 200, body = ListOf<AuditEvent>), (status = 404)))]
pub async fn history(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<ListOf<AuditEvent>>, HttpError> {
    visible(&st, &c, id).await?;
    let page = super::history_page(&st, "service_request", id, &q).await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/api/v1/service-requests/{id}/updates", tag = "service", responses((status = 200, body = ListOf<RequestUpdate>), (status = 404)))]
pub async fn updates(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<ListOf<RequestUpdate>>, HttpError> {
    visible(&st, &c, id).await?;
    Ok(Json(ListOf { items: store::updates(&st.db, id).await?, next_cursor: None }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    /// `en_cours`, `planifie` or `cloture`.
    pub status: String,
    /// For the end customer.
    pub message: String,
}

impl ApiInput for UpdateBody {}

/// A customer update ("Nouvelle action"): the request's status follows and the customer's
/// contacts are emailed.
#[utoipa::path(post, path = "/api/v1/service-requests/{id}/updates", tag = "service", request_body = UpdateBody,
    responses((status = 201, body = RequestUpdate), (status = 404), (status = 409), (status = 422)))]
pub async fn add_update(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<UpdateBody>,
) -> Result<(StatusCode, Json<RequestUpdate>), HttpError> {
    visible(&st, &c, id).await?;
    Ok((StatusCode::CREATED, Json(store::add_update(&st.db, &c.actor(), st.now(), id, &b.status, &b.message).await?)))
}

/// The request's internal notes (staff only, never on the customer portal), newest first
/// (`before`: keyset on the note's id; `limit` 1–500, 100 by default).
#[utoipa::path(get, path = "/api/v1/service-requests/{id}/notes", tag = "service", params(HistoryQuery),
    responses((status = 200, body = ListOf<RequestNote>), (status = 404), (status = 422)))]
pub async fn notes(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<ListOf<RequestNote>>, HttpError> {
    visible(&st, &c, id).await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=crate::db::page::MAX_LIMIT).contains(&limit) {
        return Err(Error::validation("limit", "error.limit_range").into());
    }
    let mut items = notes::list(&st.db, id, q.before, limit + 1).await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = if more { items.last().map(|n| n.id.to_string()) } else { None };
    Ok(Json(ListOf { items, next_cursor }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestNoteBody {
    /// The note, for staff only (line breaks kept).
    pub body: String,
}

impl ApiInput for RequestNoteBody {}

/// Adds an internal note: in the request's feed and history, never shown to the customer.
#[utoipa::path(post, path = "/api/v1/service-requests/{id}/notes", tag = "service", request_body = RequestNoteBody,
    responses((status = 201, body = RequestNote), (status = 404), (status = 422)))]
pub async fn add_note(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<RequestNoteBody>,
) -> Result<(StatusCode, Json<RequestNote>), HttpError> {
    visible(&st, &c, id).await?;
    Ok((StatusCode::CREATED, Json(notes::add(&st.db, &c.actor(), st.now(), id, &b.body).await?)))
}

/// The request's calls to the customer, soonest first.
#[utoipa::path(get, path = "/api/v1/service-requests/{id}/calls", tag = "service", responses((status = 200, body = ListOf<Call>), (status = 404)))]
pub async fn calls(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<ListOf<Call>>, HttpError> {
    visible(&st, &c, id).await?;
    Ok(Json(ListOf { items: calls::of_file(&st.db, calls::File::Request(id)).await?, next_cursor: None }))
}

/// A call to the customer, on a request: when (local date and time) and about what; for the
/// caller unless `owner_id` names someone of the directory they see.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestCallBody {
    #[serde(default)]
    pub owner_id: Option<i64>,
    /// `YYYY-MM-DD`, local.
    #[serde(default)]
    pub date: String,
    /// `HH:MM`, local.
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub notes: String,
}

impl ApiInput for RequestCallBody {}

/// Schedules a call on the request (in its feed and history; the owner's task and reminder).
#[utoipa::path(post, path = "/api/v1/service-requests/{id}/calls", tag = "service", request_body = RequestCallBody,
    responses((status = 201, body = Call), (status = 404), (status = 422)))]
pub async fn schedule_call(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<RequestCallBody>,
) -> Result<(StatusCode, Json<Call>), HttpError> {
    visible(&st, &c, id).await?;
    let zone = crate::settings::zone(&st.db).await?;
    let f = CallForm { opportunity_id: None, owner_id: b.owner_id, date: b.date, time: b.time, subject: b.subject, notes: b.notes };
    let input = f.parse(zone, calls::File::Request(id), c.p.user_id)?;
    crate::identity::users::check_owner_choice(&st.db, &c.p.visibility, Some(input.owner_id), Some(c.p.user_id)).await?;
    Ok((StatusCode::CREATED, Json(crate::service::calls::schedule(&st.db, &c.actor(), st.now(), &input).await?)))
}

/// Logs the outcome of one of the request's planned calls (or cancels it); the request's
/// history says so.
#[utoipa::path(post, path = "/api/v1/service-requests/{id}/calls/{call_id}/log", tag = "service", request_body = LogBody,
    responses((status = 200, body = Call), (status = 404), (status = 409), (status = 422)))]
pub async fn log_call(
    State(st): State<AppState>,
    c: Ctx,
    Path((id, call_id)): Path<(i64, i64)>,
    ApiJson(b): ApiJson<LogBody>,
) -> Result<Json<Call>, HttpError> {
    visible(&st, &c, id).await?;
    calls::get_visible(&st.db, &c.p.visibility, call_id, calls::On::Request(id)).await?.ok_or(Error::NotFound)?;
    Ok(Json(crate::service::calls::log(&st.db, &c.actor(), st.now(), id, call_id, &b.outcome, &b.comment).await?))
}

/// The conversation with the customer, oldest first (404 when conversations are off).
#[utoipa::path(get, path = "/api/v1/service-requests/{id}/messages", tag = "service", responses((status = 200, body = ListOf<Message>), (status = 404)))]
pub async fn messages(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<ListOf<Message>>, HttpError> {
    visible(&st, &c, id).await?;
    if !crate::service::messages::enabled(&st.db).await? {
        return Err(Error::NotFound.into());
    }
    Ok(Json(ListOf { items: crate::service::messages::list(&st.db, id, false).await?, next_cursor: None }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// The text (line breaks kept; shown as text, never as HTML).
    pub body: String,
    /// Email it to the request's contacts from the request's thread (their reply comes back).
    #[serde(default)]
    pub notify: bool,
}

impl ApiInput for MessageBody {}

/// A staff message to the customer (409 when the conversation is closed; 404 when
/// conversations are off).
#[utoipa::path(post, path = "/api/v1/service-requests/{id}/messages", tag = "service", request_body = MessageBody,
    responses((status = 201, body = Message), (status = 404), (status = 409), (status = 422)))]
pub async fn post_message(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<MessageBody>,
) -> Result<(StatusCode, Json<Message>), HttpError> {
    use crate::service::messages::{self, Author};
    visible(&st, &c, id).await?;
    if !messages::enabled(&st.db).await? {
        return Err(Error::NotFound.into());
    }
    let author = Author::Staff { user_id: c.p.user_id, name: c.p.name.clone() };
    Ok((StatusCode::CREATED, Json(messages::post(&st.db, &c.actor(), st.now(), id, &author, &b.body, b.notify).await?)))
}

fn role(r: &str) -> Result<Role, HttpError> {
    Ok(Role::parse(r).ok_or(Error::NotFound)?)
}

async fn contact_input(st: &AppState, f: &ContactForm) -> Result<crate::customers::ContactInput, HttpError> {
    let region = crate::customers::store::region_of(&st.db).await?;
    f.parse(&region).map_err(HttpError::from)
}

/// Creates a contact of the request's customer and sets it as `requester` or `user` (only
/// when that field is empty: 409 otherwise).
#[utoipa::path(post, path = "/api/v1/service-requests/{id}/contacts/{role}", tag = "service", request_body = ContactForm,
    responses((status = 201, body = ServiceRequest), (status = 404), (status = 409), (status = 422)))]
pub async fn create_contact(
    State(st): State<AppState>,
    c: Ctx,
    Path((id, r)): Path<(i64, String)>,
    ApiJson(f): ApiJson<ContactForm>,
) -> Result<(StatusCode, Json<ServiceRequest>), HttpError> {
    visible(&st, &c, id).await?;
    let role = role(&r)?;
    let input = contact_input(&st, &f).await?;
    Ok((StatusCode::CREATED, Json(store::create_contact(&st.db, &c.actor(), st.now(), id, role, &input).await?)))
}

/// Modifies the contact set as `requester` or `user`.
#[utoipa::path(put, path = "/api/v1/service-requests/{id}/contacts/{role}", tag = "service", request_body = ContactForm,
    responses((status = 409, description = "A contact is set already"), (status = 200, body = crate::customers::Contact), (status = 404), (status = 422)))]
pub async fn update_contact(
    State(st): State<AppState>,
    c: Ctx,
    Path((id, r)): Path<(i64, String)>,
    ApiJson(f): ApiJson<ContactForm>,
) -> Result<Json<crate::customers::Contact>, HttpError> {
    let req = visible(&st, &c, id).await?;
    let role = role(&r)?;
    let ct = store::contact_of(&st.db, id, role).await?.ok_or(Error::NotFound)?;
    let input = contact_input(&st, &f).await?;
    Ok(Json(crate::customers::store::update_contact(&st.db, &c.actor(), st.now(), req.customer_id, ct.id, &input).await?))
}

// ------------------------------------------------------------------ equipment

impl ApiInput for EquipmentForm {
    const READ_ONLY: &'static [&'static str] = &["id", "created_at", "updated_at"];
}

#[utoipa::path(get, path = "/api/v1/service-requests/{id}/equipment", tag = "service", responses((status = 200, body = ListOf<Line>), (status = 404)))]
pub async fn lines(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<ListOf<Line>>, HttpError> {
    visible(&st, &c, id).await?;
    let mut conn = st.db.pool.acquire().await?;
    Ok(Json(ListOf { items: equipment::lines(&mut conn, id).await?, next_cursor: None }))
}

/// Adds an equipment line: an existing equipment of the customer (`equipment_id`) or a new
/// one (`equipment`, needs `service.equipment.manage`), with an optional `symptom`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineBody {
    #[serde(default)]
    pub equipment_id: Option<i64>,
    #[serde(default)]
    pub equipment: Option<EquipmentForm>,
    #[serde(default)]
    pub symptom: Option<String>,
}

impl ApiInput for LineBody {}

#[utoipa::path(post, path = "/api/v1/service-requests/{id}/equipment", tag = "service", request_body = LineBody,
    responses((status = 201, body = ListOf<Line>), (status = 404), (status = 409), (status = 422)))]
pub async fn add_line(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<LineBody>,
) -> Result<(StatusCode, Json<ListOf<Line>>), HttpError> {
    let r = visible(&st, &c, id).await?;
    let symptom = b.symptom.as_deref().filter(|s| !s.is_empty());
    match (b.equipment_id, b.equipment) {
        (Some(eid), None) => equipment::add_line(&st.db, &c.actor(), st.now(), id, eid, symptom).await?,
        (None, Some(f)) => {
            if !c.p.can(Right::ServiceEquipmentManage) {
                return Err(Error::Forbidden.into());
            }
            let input = EquipmentForm { customer_id: Some(r.customer_id), ..f }.parse()?;
            equipment::create_line(&st.db, &c.actor(), st.now(), id, &input, symptom).await?;
        }
        _ => return Err(Error::validation("equipment_id", "error.equipment_or_id").into()),
    }
    let mut conn = st.db.pool.acquire().await?;
    Ok((StatusCode::CREATED, Json(ListOf { items: equipment::lines(&mut conn, id).await?, next_cursor: None })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SymptomBody {
    /// A `symptom` code, or null to clear it; absent keeps it.
    #[serde(default, deserialize_with = "crate::http::json::double_option")]
    #[schema(value_type = Option<String>)]
    pub symptom: Option<Option<String>>,
}

impl ApiInput for SymptomBody {}

#[utoipa::path(patch, path = "/api/v1/service-requests/{id}/equipment/{equipment_id}", tag = "service", request_body = SymptomBody,
    responses((status = 204), (status = 404), (status = 422)))]
pub async fn set_symptom(
    State(st): State<AppState>,
    c: Ctx,
    Path((id, eid)): Path<(i64, i64)>,
    ApiJson(b): ApiJson<SymptomBody>,
) -> Result<StatusCode, HttpError> {
    visible(&st, &c, id).await?;
    let symptom = match b.symptom {
        Some(s) => s,
        None => {
            // Absent: the stored symptom stays (the line must exist all the same).
            let mut conn = st.db.pool.acquire().await?;
            let lines = equipment::lines(&mut conn, id).await?;
            lines.into_iter().find(|l| l.equipment_id == eid).ok_or(Error::NotFound)?.symptom
        }
    };
    equipment::set_symptom(&st.db, &c.actor(), st.now(), id, eid, symptom.as_deref().filter(|s| !s.is_empty())).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/service-requests/{id}/equipment/{equipment_id}", tag = "service", responses((status = 204), (status = 404)))]
pub async fn remove_line(State(st): State<AppState>, c: Ctx, Path((id, eid)): Path<(i64, i64)>) -> Result<StatusCode, HttpError> {
    visible(&st, &c, id).await?;
    equipment::remove_line(&st.db, &c.actor(), st.now(), id, eid).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EquipmentQuery {
    pub customer_id: i64,
}

/// A customer's installed base.
#[utoipa::path(get, path = "/api/v1/equipment", tag = "service", params(EquipmentQuery), responses((status = 200, body = ListOf<Equipment>), (status = 404)))]
pub async fn list_equipment(
    State(st): State<AppState>,
    c: Ctx,
    Query(q): Query<EquipmentQuery>,
) -> Result<Json<ListOf<Equipment>>, HttpError> {
    crate::customers::store::get_visible(&st.db, &c.p.visibility, q.customer_id).await?.ok_or(Error::NotFound)?;
    Ok(Json(ListOf { items: equipment::of_customer(&st.db, q.customer_id).await?, next_cursor: None }))
}

#[utoipa::path(post, path = "/api/v1/equipment", tag = "service", request_body = EquipmentForm, responses((status = 201, body = Equipment), (status = 409), (status = 422)))]
pub async fn create_equipment(
    State(st): State<AppState>,
    c: Ctx,
    ApiJson(f): ApiJson<EquipmentForm>,
) -> Result<(StatusCode, Json<Equipment>), HttpError> {
    let input = f.parse()?;
    crate::customers::store::get_visible(&st.db, &c.p.visibility, input.customer_id)
        .await?
        .ok_or_else(|| Error::validation("customer_id", "error.unknown_customer"))?;
    Ok((StatusCode::CREATED, Json(equipment::create(&st.db, &c.actor(), st.now(), &input).await?)))
}

#[utoipa::path(put, path = "/api/v1/equipment/{id}", tag = "service", request_body = EquipmentForm, responses((status = 200, body = Equipment), (status = 404), (status = 409), (status = 422)))]
pub async fn update_equipment(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(f): ApiJson<EquipmentForm>,
) -> Result<Json<Equipment>, HttpError> {
    let mut conn = st.db.pool.acquire().await?;
    let cur = equipment::get(&mut conn, id).await?.ok_or(Error::NotFound)?;
    drop(conn);
    crate::customers::store::get_visible(&st.db, &c.p.visibility, cur.customer_id).await?.ok_or(Error::NotFound)?;
    let input = EquipmentForm { customer_id: Some(cur.customer_id), ..f }.parse()?;
    Ok(Json(equipment::update(&st.db, &c.actor(), st.now(), id, &input).await?))
}

// ------------------------------------------------------------------ interventions

impl ApiInput for InterventionForm {
    const READ_ONLY: &'static [&'static str] =
        &["id", "number", "start_at", "end_at", "technicians", "equipment", "created_at", "updated_at"];
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PlanningQuery {
    /// First day (`YYYY-MM-DD`, local); today by default.
    pub from: Option<String>,
    /// Number of days (1 to 42; 7 by default).
    pub days: Option<i64>,
    pub technician_id: Option<i64>,
    pub branch_id: Option<i64>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Planning {
    pub items: Vec<Intervention>,
    /// Technicians booked twice at the same time.
    pub conflicts: Vec<Conflict>,
}

/// Resolves a planning window: (whose, from, to).
pub async fn planning_range(
    st: &AppState,
    from: Option<&str>,
    days: i64,
    technician: Option<i64>,
    branch: Option<i64>,
) -> Result<(PlanningOf, i64, i64), HttpError> {
    let zone = crate::settings::zone(&st.db).await?;
    if !(1..=crate::clock::WINDOW_DAYS_MAX).contains(&days) {
        return Err(Error::validation("days", "error.out_of_range").into());
    }
    let first = match from.filter(|s| !s.is_empty()) {
        Some(d) => {
            chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| Error::validation("from", "error.invalid_datetime"))?
        }
        None => zone.local(st.now()).date(),
    };
    let crate::clock::Window { from: start, to: end, .. } = zone.window(first, crate::clock::Span::Days(days as u64));
    let of = match (technician, branch) {
        (Some(t), _) => PlanningOf::Technician(t),
        (None, Some(b)) => PlanningOf::Branch(b),
        (None, None) => PlanningOf::All,
    };
    Ok((of, start, end))
}

/// The planning: interventions in a window, per technician or per branch, with conflicts.
#[utoipa::path(get, path = "/api/v1/interventions", tag = "service", params(PlanningQuery), responses((status = 200, body = Planning)))]
pub async fn planning(State(st): State<AppState>, c: Ctx, Query(q): Query<PlanningQuery>) -> Result<Json<Planning>, HttpError> {
    let (of, from, to) = planning_range(&st, q.from.as_deref(), q.days.unwrap_or(7), q.technician_id, q.branch_id).await?;
    let items = interventions::planning(&st.db, &c.p.visibility, of, from, to).await?;
    let conflicts = interventions::conflicts(&items);
    Ok(Json(Planning { items, conflicts }))
}

/// Creates an intervention from a request (`request_id`): its equipment lines are carried over.
#[utoipa::path(post, path = "/api/v1/interventions", tag = "service", request_body = InterventionForm, responses((status = 201, body = Intervention), (status = 404), (status = 422)))]
pub async fn create_intervention(
    State(st): State<AppState>,
    c: Ctx,
    ApiJson(f): ApiJson<InterventionForm>,
) -> Result<(StatusCode, Json<Intervention>), HttpError> {
    let Some(request_id) = f.request_id else {
        return Err(Error::validation("request_id", "error.required").into());
    };
    store::get_visible(&st.db, &c.p.visibility, request_id)
        .await?
        .ok_or_else(|| Error::validation("request_id", "error.unknown_request"))?;
    let zone = crate::settings::zone(&st.db).await?;
    let input = f.parse(zone)?;
    Ok((StatusCode::CREATED, Json(interventions::create(&st.db, &c.actor(), st.now(), request_id, &input).await?)))
}

async fn visible_intervention(st: &AppState, c: &Ctx, id: i64) -> Result<Intervention, HttpError> {
    Ok(interventions::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?)
}

#[utoipa::path(get, path = "/api/v1/interventions/{id}", tag = "service", responses((status = 200, body = Intervention), (status = 404)))]
pub async fn get_intervention(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<Intervention>, HttpError> {
    Ok(Json(visible_intervention(&st, &c, id).await?))
}

/// Changes an intervention: slot, technicians, place, status (planifiee → en_cours →
/// terminee, or annulee; finishing needs `report_work`), report.
#[utoipa::path(put, path = "/api/v1/interventions/{id}", tag = "service", request_body = InterventionForm,
    responses((status = 200, body = Intervention), (status = 404), (status = 409), (status = 422)))]
pub async fn update_intervention(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(f): ApiJson<InterventionForm>,
) -> Result<Json<Intervention>, HttpError> {
    visible_intervention(&st, &c, id).await?;
    let zone = crate::settings::zone(&st.db).await?;
    let input = f.parse(zone)?;
    Ok(Json(interventions::update(&st.db, &c.actor(), st.now(), id, &input).await?))
}

/// Moves an intervention to another slot (and, with `person`, from one technician to another)
/// and changes nothing else: a drag on the planning's grid. The same rules as the form.
#[utoipa::path(post, path = "/api/v1/interventions/{id}/move", tag = "service", request_body = crate::calendar::Slot,
    responses((status = 200, body = Intervention), (status = 404), (status = 409), (status = 422)))]
pub async fn move_intervention(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(slot): ApiJson<crate::calendar::Slot>,
) -> Result<Json<Intervention>, HttpError> {
    let i = visible_intervention(&st, &c, id).await?;
    let zone = crate::settings::zone(&st.db).await?;
    let input = InterventionForm::moved(&i, zone, slot).parse(zone)?;
    Ok(Json(interventions::update(&st.db, &c.actor(), st.now(), id, &input).await?))
}

#[utoipa::path(get, path = "/api/v1/service-requests/{id}/interventions", tag = "service", responses((status = 200, body = ListOf<Intervention>), (status = 404)))]
pub async fn request_interventions(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
) -> Result<Json<ListOf<Intervention>>, HttpError> {
    visible(&st, &c, id).await?;
    Ok(Json(ListOf { items: interventions::for_request(&st.db, id).await?, next_cursor: None }))
}

// ------------------------------------------------------------------ equipment returns

impl ApiInput for ReturnForm {
    const READ_ONLY: &'static [&'static str] = &["id", "number", "status", "serial_number", "model", "created_at", "updated_at"];
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReturnsQuery {
    pub request_id: i64,
}

#[utoipa::path(get, path = "/api/v1/equipment-returns", tag = "service", params(ReturnsQuery), responses((status = 200, body = ListOf<EquipmentReturn>), (status = 404)))]
pub async fn list_returns(
    State(st): State<AppState>,
    c: Ctx,
    Query(q): Query<ReturnsQuery>,
) -> Result<Json<ListOf<EquipmentReturn>>, HttpError> {
    visible(&st, &c, q.request_id).await?;
    Ok(Json(ListOf { items: returns::for_request(&st.db, q.request_id).await?, next_cursor: None }))
}

/// Creates a return (RMA) for one of a request's equipment lines.
#[utoipa::path(post, path = "/api/v1/equipment-returns", tag = "service", request_body = ReturnForm, responses((status = 201, body = EquipmentReturn), (status = 404), (status = 422)))]
pub async fn create_return(
    State(st): State<AppState>,
    c: Ctx,
    ApiJson(f): ApiJson<ReturnForm>,
) -> Result<(StatusCode, Json<EquipmentReturn>), HttpError> {
    let Some(request_id) = f.request_id else {
        return Err(Error::validation("request_id", "error.required").into());
    };
    visible(&st, &c, request_id).await?;
    Ok((StatusCode::CREATED, Json(returns::create(&st.db, &c.actor(), st.now(), request_id, &f).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnStatusBody {
    /// The next status (`recu`, `en_reparation`, `renvoye`, `cloture`); absent or the current
    /// one changes nothing.
    pub status: Option<String>,
}

impl ApiInput for ReturnStatusBody {
    const READ_ONLY: &'static [&'static str] =
        &["id", "number", "request_id", "equipment_id", "serial_number", "model", "reason", "return_type", "created_at", "updated_at"];
}

#[utoipa::path(patch, path = "/api/v1/equipment-returns/{id}", tag = "service", request_body = ReturnStatusBody,
    responses((status = 200, body = EquipmentReturn), (status = 404), (status = 409), (status = 422)))]
pub async fn update_return(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ReturnStatusBody>,
) -> Result<Json<EquipmentReturn>, HttpError> {
    let mut conn = st.db.pool.acquire().await?;
    let x = returns::get(&mut conn, id).await?.ok_or(Error::NotFound)?;
    drop(conn);
    visible(&st, &c, x.request_id).await?;
    match b.status.filter(|s| *s != x.status) {
        Some(to) => Ok(Json(returns::set_status(&st.db, &c.actor(), st.now(), id, &to).await?)),
        None => Ok(Json(x)),
    }
}

// ------------------------------------------------------------------ documents

#[utoipa::path(get, path = "/api/v1/service-requests/{id}/documents", tag = "service", responses((status = 200, body = ListOf<Document>), (status = 404)))]
pub async fn list_documents(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<ListOf<Document>>, HttpError> {
    visible(&st, &c, id).await?;
    Ok(Json(ListOf { items: documents::for_request(&st.db, id).await?, next_cursor: None }))
}

/// Reads a multipart upload: the `file` part (name and bytes) and the `shared` flag.
pub async fn read_upload(mp: &mut axum::extract::Multipart, max: usize) -> Result<(String, Vec<u8>, bool), HttpError> {
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut shared = false;
    loop {
        match mp.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => {
                let name = field.file_name().unwrap_or_default().to_string();
                let bytes = field.bytes().await.map_err(|_| Error::validation("file", "error.too_large"))?;
                if bytes.len() > max {
                    return Err(Error::validation("file", "error.too_large").into());
                }
                file = Some((name, bytes.to_vec()));
            }
            Ok(Some(field)) if field.name() == Some("shared") => {
                let v = field.text().await.unwrap_or_default();
                shared = matches!(v.as_str(), "on" | "true" | "1");
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => return Err(Error::validation("file", "error.too_large").into()),
        }
    }
    let (name, bytes) = file.ok_or_else(|| Error::validation("file", "error.required"))?;
    Ok((name, bytes, shared))
}

/// Attaches a file (multipart: `file`, optional `shared`) to a request. Size and type are
/// checked; the file is stored under a generated name.
#[utoipa::path(post, path = "/api/v1/service-requests/{id}/documents", tag = "service", request_body(content_type = "multipart/form-data"),
    responses((status = 201, body = Document), (status = 404), (status = 422)))]
pub async fn upload_document(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    mut mp: axum::extract::Multipart,
) -> Result<(StatusCode, Json<Document>), HttpError> {
    visible(&st, &c, id).await?;
    let (name, bytes, shared) = read_upload(&mut mp, st.config.max_document_bytes).await?;
    let d = documents::upload(&st.db, &st.storage, &c.actor(), st.now(), id, &name, bytes, shared, st.config.max_document_bytes).await?;
    Ok((StatusCode::CREATED, Json(d)))
}

/// A document whose request the caller may see.
pub async fn visible_document(st: &AppState, c: &Ctx, id: i64) -> Result<Document, HttpError> {
    let d = documents::get(&st.db, id).await?.ok_or(Error::NotFound)?;
    visible(st, c, d.request_id).await?;
    Ok(d)
}

/// A header parameter value in RFC 5987 form (`filename*=UTF-8''…`).
fn rfc5987(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The file itself, as an attachment under its original name.
pub async fn download_response(st: &AppState, d: &Document) -> Result<axum::response::Response, HttpError> {
    use axum::response::IntoResponse;
    let bytes = documents::content(&st.storage, d).await?;
    let ascii: String = d.filename.chars().map(|ch| if ch.is_ascii_alphanumeric() || ".-_ ".contains(ch) { ch } else { '_' }).collect();
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{}", rfc5987(&d.filename));
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, d.content_type.clone()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
            (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        bytes,
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/documents/{id}", tag = "service", responses((status = 200, description = "The file, as an attachment"), (status = 404)))]
pub async fn download_document(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<axum::response::Response, HttpError> {
    let d = visible_document(&st, &c, id).await?;
    download_response(&st, &d).await
}

#[utoipa::path(delete, path = "/api/v1/documents/{id}", tag = "service", responses((status = 204), (status = 404)))]
pub async fn delete_document(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    visible_document(&st, &c, id).await?;
    documents::delete(&st.db, &st.storage, &c.actor(), st.now(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ summary and email

/// The sender of a send-by-email: the user, by name and address.
pub fn sender_of(c: &Ctx) -> Result<crate::mail::Mailbox, HttpError> {
    let email = crate::identity::Email::parse(&c.p.email).map_err(|_| Error::internal("user address"))?;
    Ok(crate::mail::Mailbox::new(Some(&c.p.name), &email))
}

/// The request's summary as a PDF.
#[utoipa::path(get, path = "/api/v1/service-requests/{id}/summary.pdf", tag = "service", responses((status = 200, content_type = "application/pdf"), (status = 404)))]
pub async fn summary_pdf(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<axum::response::Response, HttpError> {
    use axum::response::IntoResponse;
    let r = visible(&st, &c, id).await?;
    let zone = crate::settings::zone(&st.db).await?;
    let bytes = crate::service::summary::pdf(&st.db, &st.storage, &r, zone, c.lang(), st.now()).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/pdf".to_string()),
            (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}.pdf\"", r.number)),
        ],
        bytes,
    )
        .into_response())
}

impl ApiInput for crate::service::summary::SendForm {}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Sent {
    pub email_id: i64,
}

/// Sends the request by email (To, Cc, Bcc, Reply-To defaulting to the sender, subject
/// pre-filled, message signed, the PDF summary attached on request); kept on the request.
#[utoipa::path(post, path = "/api/v1/service-requests/{id}/emails", tag = "service", request_body = crate::service::summary::SendForm,
    responses((status = 201, body = Sent), (status = 404), (status = 422)))]
pub async fn send_email(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(f): ApiJson<crate::service::summary::SendForm>,
) -> Result<(StatusCode, Json<Sent>), HttpError> {
    let r = visible(&st, &c, id).await?;
    let zone = crate::settings::zone(&st.db).await?;
    let sender = sender_of(&c)?;
    let email_id = crate::service::summary::send(&st.db, &c.actor(), &sender, st.now(), &r, &f, &st.storage, zone, c.lang()).await?;
    Ok((StatusCode::CREATED, Json(Sent { email_id })))
}

// ------------------------------------------------------------------ service levels

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceLevels {
    /// Targets per request type and priority, in business minutes; a pair sent with neither
    /// target is removed; pairs not sent are kept.
    pub targets: Vec<crate::service::sla::Target>,
}

impl ApiInput for ServiceLevels {}

/// The service-level targets.
#[utoipa::path(get, path = "/api/v1/service-levels", tag = "service", responses((status = 200, body = ServiceLevels)))]
pub async fn service_levels(State(st): State<AppState>, _c: Ctx) -> Result<Json<ServiceLevels>, HttpError> {
    Ok(Json(ServiceLevels { targets: crate::service::sla::targets(&st.db).await? }))
}

/// Sets targets (the pairs sent; each change in the history). Requests already open keep
/// their due times.
#[utoipa::path(put, path = "/api/v1/service-levels", tag = "service", request_body = ServiceLevels,
    responses((status = 200, body = ServiceLevels), (status = 422)))]
pub async fn put_service_levels(
    State(st): State<AppState>,
    c: Ctx,
    ApiJson(b): ApiJson<ServiceLevels>,
) -> Result<Json<ServiceLevels>, HttpError> {
    crate::service::sla::set_targets(&st.db, &c.actor(), st.now(), &b.targets).await?;
    Ok(Json(ServiceLevels { targets: crate::service::sla::targets(&st.db).await? }))
}

// ------------------------------------------------------------------ the technician's day

/// Adds a photo taken at the intervention (multipart: `file`, a JPEG or PNG): resized to at
/// most 1600 pixels on its longest side and stored as a JPEG document of the request. Only a
/// technician of the intervention, or a user whose scope covers its request, may.
#[utoipa::path(post, path = "/api/v1/interventions/{id}/photos", tag = "service", request_body(content_type = "multipart/form-data"),
    responses((status = 201, body = Document), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn add_photo(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    mut mp: axum::extract::Multipart,
) -> Result<(StatusCode, Json<Document>), HttpError> {
    let i = crate::service::fieldwork::for_work(&st.db, &c.p.visibility, id).await?;
    let (name, bytes, _) = read_upload(&mut mp, st.config.max_document_bytes).await?;
    let d = crate::service::fieldwork::add_photo(&st.db, &st.storage, &c.actor(), st.now(), &i, &name, &bytes).await?;
    Ok((StatusCode::CREATED, Json(d)))
}

impl ApiInput for crate::service::fieldwork::SignatureForm {
    const READ_ONLY: &'static [&'static str] = &["signed_at", "signature_document_id"];
}

/// Records the customer's signature: `signer_name` and the drawing as a PNG data URL
/// (`data:image/png;base64,…`). Signing again replaces it; the history keeps both.
#[utoipa::path(put, path = "/api/v1/interventions/{id}/signature", tag = "service", request_body = crate::service::fieldwork::SignatureForm,
    responses((status = 200, body = Intervention), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn put_signature(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(f): ApiJson<crate::service::fieldwork::SignatureForm>,
) -> Result<Json<Intervention>, HttpError> {
    use crate::service::fieldwork;
    let i = fieldwork::for_work(&st.db, &c.p.visibility, id).await?;
    let drawing = if f.signature.trim().is_empty() { Vec::new() } else { fieldwork::from_data_url(&f.signature)? };
    Ok(Json(fieldwork::sign(&st.db, &st.storage, &c.actor(), st.now(), &i, &f.signer_name, &drawing).await?))
}
