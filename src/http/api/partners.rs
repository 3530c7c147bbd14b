//! `/api/v1/partners`, `/api/v1/partner-opportunities`, `/api/v1/news` and
//! `/api/v1/presales-requests`: the partner side of the vendor, for staff. Partners and their
//! opportunities by the caller's visibility (the partner's channel manager and unit), news for
//! the holders of `news.publish`, and the pre-sales team's queue and steps: every step goes
//! through `presales::store::act`, so through the one state machine (`presales::decide`), and
//! reaches only the requests of the caller's teams.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::ListOf;
use crate::db::page::MAX_LIMIT;
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::json::{ApiInput, ApiJson};
use crate::http::AppState;
use crate::partners::news::{self, NewsInput};
use crate::partners::store::{self as partners, OpportunityFilter};
use crate::partners::{NewsItem, Opportunity, Partner};
use crate::presales::store::{self as presales, By, Filter, Message, PresalesRequest, Slot, Step};
use crate::presales::Status;

/// `limit`: 1 to [`MAX_LIMIT`], `default` when absent; outside: 422 on `limit`.
fn limit_of(limit: Option<i64>, default: i64) -> Result<i64, Error> {
    let l = limit.unwrap_or(default);
    if !(1..=MAX_LIMIT).contains(&l) {
        return Err(Error::validation("limit", "error.limit_range"));
    }
    Ok(l)
}

fn bad_cursor() -> Error {
    Error::validation("after", "error.cursor_invalid")
}

/// An `after` cursor made of an id (`None`: the first page).
fn cursor_id(after: Option<&str>) -> Result<Option<i64>, Error> {
    match after {
        None | Some("") => Ok(None),
        Some(a) => a.parse::<i64>().map(Some).map_err(|_| bad_cursor()),
    }
}

/// An `after` cursor of two parts, `number:rest` (`None`: the first page).
fn cursor_pair(after: Option<&str>) -> Result<Option<(i64, String)>, Error> {
    match after {
        None | Some("") => Ok(None),
        Some(a) => {
            let (n, rest) = a.split_once(':').ok_or_else(bad_cursor)?;
            Ok(Some((n.parse::<i64>().map_err(|_| bad_cursor())?, rest.to_string())))
        }
    }
}

// ------------------------------------------------------------------ partners

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PartnersQuery {
    /// Part of the name.
    pub q: Option<String>,
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// The partner organisations the caller may see (their channel manager or unit within the
/// caller's scope), by name.
#[utoipa::path(get, path = "/api/v1/partners", tag = "partners", params(PartnersQuery), responses((status = 200, body = ListOf<Partner>)))]
pub async fn list_partners(State(st): State<AppState>, c: Ctx, Query(q): Query<PartnersQuery>) -> Result<Json<ListOf<Partner>>, HttpError> {
    let limit = limit_of(q.limit, 50)?;
    let after = cursor_pair(q.after.as_deref())?;
    let (items, more) =
        partners::partners_visible(&st.db, &c.p.visibility, q.q.as_deref(), after.as_ref().map(|(i, n)| (n.as_str(), *i)), limit).await?;
    let next_cursor = if more { items.last().map(|p| format!("{}:{}", p.id, p.name)) } else { None };
    Ok(Json(ListOf { items, next_cursor }))
}

#[utoipa::path(get, path = "/api/v1/partners/{id}", tag = "partners", responses((status = 200, body = Partner), (status = 404)))]
pub async fn get_partner(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<Partner>, HttpError> {
    Ok(Json(partners::partner_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?))
}

// ------------------------------------------------------------------ partner opportunities

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OpportunitiesQuery {
    /// Searches the customer, the product and the contact.
    pub q: Option<String>,
    /// A code of the list `partner_opportunity_status`.
    pub status: Option<String>,
    /// A code of the list `partner_opportunity_type`.
    pub opportunity_type: Option<String>,
    pub partner_id: Option<i64>,
    /// Only the types eligible for a pre-sales request.
    pub presales_only: Option<bool>,
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// The partner opportunities the caller may see (through their partner), newest first.
#[utoipa::path(get, path = "/api/v1/partner-opportunities", tag = "partners", params(OpportunitiesQuery), responses((status = 200, body = ListOf<Opportunity>)))]
pub async fn list_opportunities(
    State(st): State<AppState>,
    c: Ctx,
    Query(q): Query<OpportunitiesQuery>,
) -> Result<Json<ListOf<Opportunity>>, HttpError> {
    let limit = limit_of(q.limit, 50)?;
    let before = cursor_id(q.after.as_deref())?;
    let f = OpportunityFilter {
        q: q.q,
        status: q.status,
        opportunity_type: q.opportunity_type,
        partner_id: q.partner_id,
        presales_only: q.presales_only.unwrap_or(false),
    };
    let (items, more) = partners::opportunities_visible(&st.db, &c.p.visibility, &f, before, limit).await?;
    let next_cursor = if more { items.last().map(|o| o.id.to_string()) } else { None };
    Ok(Json(ListOf { items, next_cursor }))
}

#[utoipa::path(get, path = "/api/v1/partner-opportunities/{id}", tag = "partners", responses((status = 200, body = Opportunity), (status = 404)))]
pub async fn get_opportunity(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<Opportunity>, HttpError> {
    Ok(Json(partners::opportunity_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?))
}

// ------------------------------------------------------------------ news

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NewsQuery {
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// Every news item, newest publication first.
#[utoipa::path(get, path = "/api/v1/news", tag = "partners", params(NewsQuery), responses((status = 200, body = ListOf<NewsItem>)))]
pub async fn list_news(State(st): State<AppState>, Query(q): Query<NewsQuery>) -> Result<Json<ListOf<NewsItem>>, HttpError> {
    let limit = limit_of(q.limit, 50)?;
    let after = match cursor_pair(q.after.as_deref())? {
        Some((at, id)) => Some((at, id.parse::<i64>().map_err(|_| bad_cursor())?)),
        None => None,
    };
    let (items, more) = news::all(&st.db, after, limit).await?;
    let next_cursor = if more { items.last().map(|n| format!("{}:{}", n.published_at, n.id)) } else { None };
    Ok(Json(ListOf { items, next_cursor }))
}

/// A news item with the partners it is addressed to (audience `some`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewsDetail {
    #[serde(flatten)]
    pub item: NewsItem,
    pub partner_ids: Vec<i64>,
}

#[utoipa::path(get, path = "/api/v1/news/{id}", tag = "partners", responses((status = 200, body = NewsDetail), (status = 404)))]
pub async fn get_news(State(st): State<AppState>, Path(id): Path<i64>) -> Result<Json<NewsDetail>, HttpError> {
    let item = news::get(&st.db, id).await?.ok_or(Error::NotFound)?;
    Ok(Json(NewsDetail { partner_ids: news::audience_of(&st.db, id).await?, item }))
}

/// A news item to publish. The body is safe formatted text (escaped, a small markup; never
/// raw HTML).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewsBody {
    pub title: String,
    pub summary: String,
    pub body: String,
    /// The publication day (`YYYY-MM-DD`, the vendor's time zone); today when absent.
    #[serde(default)]
    pub date: Option<String>,
    /// `HH:MM`; midnight when absent.
    #[serde(default)]
    pub time: Option<String>,
    /// `all` (every partner) or `some` (those of `partner_ids`).
    pub audience: String,
    #[serde(default)]
    pub partner_ids: Vec<i64>,
}

impl ApiInput for NewsBody {
    const READ_ONLY: &'static [&'static str] = &["id", "has_image", "published_at", "author_id", "created_at", "updated_at"];
}

#[utoipa::path(post, path = "/api/v1/news", tag = "partners", request_body = NewsBody, responses((status = 201, body = NewsItem), (status = 422)))]
pub async fn create_news(
    State(st): State<AppState>,
    c: Ctx,
    ApiJson(b): ApiJson<NewsBody>,
) -> Result<(StatusCode, Json<NewsItem>), HttpError> {
    let zone = c.p.zone;
    let at = match b.date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => Some(st.now()),
        Some(d) => zone.parse_local(d, b.time.as_deref().map(str::trim).filter(|t| !t.is_empty()).unwrap_or("00:00")),
    };
    let input =
        NewsInput::parse(&b.title, &b.summary, &b.body, at, &b.audience, b.partner_ids).map_err(|e| rename(e, "published_at", "date"))?;
    Ok((StatusCode::CREATED, Json(news::create(&st.db, &c.actor(), st.now(), &input).await?)))
}

/// A validation error's field under the name the API gives it.
fn rename(e: Error, from: &str, to: &str) -> Error {
    match e {
        Error::Validation(mut f) => {
            for e in f.0.iter_mut().filter(|e| e.field == from) {
                e.field = to.to_string();
            }
            Error::Validation(f)
        }
        other => other,
    }
}

// ------------------------------------------------------------------ pre-sales requests

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PresalesQuery {
    /// One status of the queue (`a_traiter`, `en_cours`, `en_attente_info`, `planifiee`, `terminee`, `refusee`, `annulee`).
    pub status: Option<String>,
    /// `true`: only the requests assigned to the caller.
    pub mine: Option<bool>,
    /// Only the requests of this partner opportunity.
    pub opportunity_id: Option<i64>,
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// The queue of the caller's pre-sales teams (submitted requests; with the right
/// `presales.all_teams`, every team's), newest first, keyset-paginated.
#[utoipa::path(get, path = "/api/v1/presales-requests", tag = "presales", params(PresalesQuery), responses((status = 200, body = ListOf<PresalesRequest>)))]
pub async fn list_presales(
    State(st): State<AppState>,
    c: Ctx,
    Query(q): Query<PresalesQuery>,
) -> Result<Json<ListOf<PresalesRequest>>, HttpError> {
    let limit = limit_of(q.limit, presales::PAGE)?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(Status::parse(s).filter(|s| *s != Status::Brouillon).ok_or(Error::validation("status", "error.invalid_choice"))?),
    };
    let before = cursor_id(q.after.as_deref())?;
    let f = Filter { status, engineer_id: q.mine.unwrap_or(false).then_some(c.p.user_id), opportunity_id: q.opportunity_id, before };
    let listed = presales::queue(&st.db, crate::presales::store::TeamScope::of(&c.p), &f, limit).await?;
    Ok(Json(ListOf { items: listed.items, next_cursor: listed.next_before.map(|b| b.to_string()) }))
}

/// A request with its slot proposals (every round) and its conversation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PresalesDetail {
    #[serde(flatten)]
    pub request: PresalesRequest,
    pub slots: Vec<Slot>,
    pub messages: Vec<Message>,
}

async fn detail(st: &AppState, r: PresalesRequest) -> Result<PresalesDetail, HttpError> {
    Ok(PresalesDetail { slots: presales::slots(&st.db, r.id).await?, messages: presales::messages(&st.db, r.id).await?, request: r })
}

#[utoipa::path(get, path = "/api/v1/presales-requests/{id}", tag = "presales", responses((status = 200, body = PresalesDetail), (status = 404)))]
pub async fn get_presales(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<PresalesDetail>, HttpError> {
    let r = presales::get_for_team(&st.db, crate::presales::store::TeamScope::of(&c.p), id).await?.ok_or(Error::NotFound)?;
    Ok(Json(detail(&st, r).await?))
}

fn by(c: &Ctx) -> By {
    By::Staff {
        user_id: c.p.user_id,
        presales: c.p.can(crate::access::Right::PresalesManage),
        all_teams: c.p.can(crate::access::Right::PresalesAllTeams),
        actor: c.actor(),
    }
}

async fn step(st: &AppState, c: &Ctx, id: i64, step: Step) -> Result<Json<PresalesDetail>, HttpError> {
    let r = presales::act(&st.db, &by(c), st.now(), c.p.zone, id, step).await?;
    Ok(Json(detail(st, r).await?))
}

/// The team accepts the request (`a_traiter` → `en_cours`); the caller takes it when nobody has.
#[utoipa::path(post, path = "/api/v1/presales-requests/{id}/accept", tag = "presales", responses((status = 200, body = PresalesDetail), (status = 404), (status = 409, description = "Not from this status")))]
pub async fn accept(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<PresalesDetail>, HttpError> {
    step(&st, &c, id, Step::Accept).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// A pre-sales engineer of the request's team.
    pub engineer_id: i64,
}

impl ApiInput for AssignBody {}

/// Assigns (or changes) the request's engineer.
#[utoipa::path(post, path = "/api/v1/presales-requests/{id}/assign", tag = "presales", request_body = AssignBody, responses((status = 200, body = PresalesDetail), (status = 404), (status = 409, description = "Not from this status"), (status = 422)))]
pub async fn assign(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<AssignBody>,
) -> Result<Json<PresalesDetail>, HttpError> {
    step(&st, &c, id, Step::Assign(b.engineer_id)).await
}

/// One proposed slot, in the vendor's time zone.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotBody {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// `HH:MM`.
    pub start_time: String,
    /// `HH:MM`, after the start.
    pub end_time: String,
    /// The engineer; the request's engineer (or the caller) when absent.
    #[serde(default)]
    pub engineer_id: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeBody {
    /// One to three slots (`slotN_…` in the errors: N from 1).
    pub slots: Vec<SlotBody>,
}

impl ApiInput for ProposeBody {}

/// Sends a round of one to three slot proposals (`en_cours` → `planifiee`).
#[utoipa::path(post, path = "/api/v1/presales-requests/{id}/propose", tag = "presales", request_body = ProposeBody, responses((status = 200, body = PresalesDetail), (status = 404), (status = 409, description = "Not from this status"), (status = 422)))]
pub async fn propose(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ProposeBody>,
) -> Result<Json<PresalesDetail>, HttpError> {
    if b.slots.len() > crate::presales::workflow::MAX_SLOTS {
        return Err(Error::validation("slots", "error.presales_slots").into());
    }
    let rows: Vec<(String, String, String, String)> =
        b.slots.into_iter().map(|s| (s.date, s.start_time, s.end_time, s.engineer_id.map(|e| e.to_string()).unwrap_or_default())).collect();
    let slots = presales::parse_slots(&rows, c.p.zone)?;
    step(&st, &c, id, Step::Propose(slots)).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionBody {
    pub question: String,
}

impl ApiInput for QuestionBody {}

/// Asks the partner for information (→ `en_attente_info`; their answer returns the request to
/// the status it had).
#[utoipa::path(post, path = "/api/v1/presales-requests/{id}/ask-info", tag = "presales", request_body = QuestionBody, responses((status = 200, body = PresalesDetail), (status = 404), (status = 409, description = "Not from this status"), (status = 422)))]
pub async fn ask_info(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<QuestionBody>,
) -> Result<Json<PresalesDetail>, HttpError> {
    let t = presales::parse_text("question", &b.question)?;
    step(&st, &c, id, Step::AskInfo(t)).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Shown to the partner.
    pub reason: String,
}

impl ApiInput for ReasonBody {}

/// Refuses the request, with the reason the partner reads (→ `refusee`).
#[utoipa::path(post, path = "/api/v1/presales-requests/{id}/refuse", tag = "presales", request_body = ReasonBody, responses((status = 200, body = PresalesDetail), (status = 404), (status = 409, description = "Not from this status"), (status = 422)))]
pub async fn refuse(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ReasonBody>,
) -> Result<Json<PresalesDetail>, HttpError> {
    let t = presales::parse_text("reason", &b.reason)?;
    step(&st, &c, id, Step::Refuse(t)).await
}

/// Cancels the request, with the reason the partner reads (→ `annulee`; an accepted slot's
/// invitation is withdrawn).
#[utoipa::path(post, path = "/api/v1/presales-requests/{id}/cancel", tag = "presales", request_body = ReasonBody, responses((status = 200, body = PresalesDetail), (status = 404), (status = 409, description = "Not from this status"), (status = 422)))]
pub async fn cancel(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ReasonBody>,
) -> Result<Json<PresalesDetail>, HttpError> {
    let t = presales::parse_text("reason", &b.reason)?;
    step(&st, &c, id, Step::Cancel(t)).await
}
