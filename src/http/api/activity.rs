//! `GET /api/v1/opportunities/{id}/activity`, `/api/v1/customers/{id}/activity`,
//! `/api/v1/service-requests/{id}/activity`, `/api/v1/presales-requests/{id}/activity`: a
//! record's activity feed (`crate::activity`), with the rights of reading the record; a
//! customer's gathers the files the caller may see, a pre-sales request's is read only by its
//! team (another team's request is a 404).

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::activity::{self, Entry, Filter, Of};
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    /// Kinds to show, separated by commas: `note`, `call`, `meeting`, `update`, `email`, `message`,
    /// `intervention`, `slot`, `status`, `document` (none: every kind).
    pub kind: Option<String>,
    /// The `next_cursor` of the page before: entries older than it.
    pub before: Option<String>,
}

/// A page of a feed, newest first (50 entries).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActivityPage {
    pub items: Vec<Entry>,
    /// Pass as `before` to get the older entries; null on the last page.
    pub next_cursor: Option<String>,
}

async fn page(st: &AppState, c: &Ctx, of: Of, q: &ActivityQuery) -> Result<Json<ActivityPage>, HttpError> {
    let f = Filter::parse(q.kind.as_deref(), q.before.as_deref())?;
    let feed = activity::read(&st.db, &c.p, of, &f).await?;
    Ok(Json(ActivityPage { items: feed.entries, next_cursor: feed.older.map(|c| c.encode()) }))
}

/// The opportunity's notes, calls, meetings, emails and status changes, newest first.
#[utoipa::path(get, path = "/api/v1/opportunities/{id}/activity", tag = "sales", params(ActivityQuery),
    responses((status = 200, body = ActivityPage), (status = 404), (status = 422)))]
pub async fn opportunity(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<ActivityQuery>,
) -> Result<Json<ActivityPage>, HttpError> {
    crate::sales::store::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    page(&st, &c, Of::Opportunity(id), &q).await
}

/// The request's customer updates, messages, internal notes, calls, emails, interventions, status changes and
/// documents, newest first.
#[utoipa::path(get, path = "/api/v1/service-requests/{id}/activity", tag = "service", params(ActivityQuery),
    responses((status = 200, body = ActivityPage), (status = 404), (status = 422)))]
pub async fn request(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<ActivityQuery>,
) -> Result<Json<ActivityPage>, HttpError> {
    crate::service::store::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    page(&st, &c, Of::Request(id), &q).await
}

/// Every file of the customer the caller may see (opportunities with the sales read right,
/// requests with the service one), each entry naming its file, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/activity", tag = "customers", params(ActivityQuery),
    responses((status = 200, body = ActivityPage), (status = 404), (status = 422)))]
pub async fn customer(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<ActivityQuery>,
) -> Result<Json<ActivityPage>, HttpError> {
    crate::customers::store::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    page(&st, &c, Of::Customer(id), &q).await
}

/// The pre-sales request's messages (the partner's and the team's), slot proposals, emails and
/// status changes, newest first; only for the request's team (`presales.all_teams`: every team).
#[utoipa::path(get, path = "/api/v1/presales-requests/{id}/activity", tag = "presales", params(ActivityQuery),
    responses((status = 200, body = ActivityPage), (status = 404), (status = 422)))]
pub async fn presales(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<ActivityQuery>,
) -> Result<Json<ActivityPage>, HttpError> {
    let scope = crate::presales::store::TeamScope::of(&c.p);
    crate::presales::store::get_for_team(&st.db, scope, id).await?.ok_or(Error::NotFound)?;
    page(&st, &c, Of::Presales(id), &q).await
}
