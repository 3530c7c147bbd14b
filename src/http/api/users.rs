//! `/api/v1/users`.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::{ListOf, PageOf};
use crate::audit::AuditEvent;
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::json::{ApiInput, ApiJson};
use crate::http::listing;
use crate::http::lists::Users;
use crate::http::AppState;
use crate::identity::users::{self, UserForm, UserOut};

impl ApiInput for UserForm {
    const READ_ONLY: &'static [&'static str] = &["id", "last_login_at", "created_at", "updated_at"];
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserListQuery {
    /// Text searched in names and emails.
    pub q: Option<String>,
    /// Role code.
    pub role: Option<String>,
    pub org_unit_id: Option<i64>,
    pub active: Option<bool>,
    /// `name` (default), `email`, `unit`, `last_login`, `created`; `-` before reverses.
    pub sort: Option<String>,
    /// Page size (1 to 500, default 50).
    pub limit: Option<i64>,
    /// Cursor from the previous page's `next_cursor`.
    pub after: Option<String>,
    /// Cursor from the page's `prev_cursor`.
    pub before: Option<String>,
    /// `true`: include the count (exact up to 1,000).
    pub count: Option<bool>,
}

/// Users the caller may see (by their place in the sales structure), by name.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserListQuery),
    responses((status = 200, body = PageOf<UserOut>), (status = 422, description = "Invalid filter")))]
pub async fn list(
    State(st): State<AppState>,
    c: Ctx,
    Query(q): Query<UserListQuery>,
    RawQuery(raw): RawQuery,
) -> Result<Json<PageOf<UserOut>>, HttpError> {
    let (page, count) = listing::api_read::<Users>(&st, &c, raw.as_deref(), q.limit, q.count).await?;
    let hidden = c.p.sees_hidden_fields();
    Ok(Json(PageOf::new(page.map(|u| UserOut::new(&u, hidden)), count)))
}

/// One user, if visible to the caller.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", responses((status = 200, body = UserOut), (status = 404)))]
pub async fn get(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<UserOut>, HttpError> {
    let u = users::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    Ok(Json(UserOut::new(&u, c.p.sees_hidden_fields())))
}

/// Creates a user. `password` is optional (a user without one cannot log in until an
/// administrator sets it).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserForm,
    responses((status = 201, body = UserOut), (status = 409, description = "Email taken"), (status = 422, description = "Invalid input")))]
pub async fn create(
    State(st): State<AppState>,
    c: Ctx,
    ApiJson(form): ApiJson<UserForm>,
) -> Result<(StatusCode, Json<UserOut>), HttpError> {
    let input = form.parse()?;
    let u = users::create(&st.db, &c.actor(), st.now(), &input, form.password.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(UserOut::new(&u, c.p.sees_hidden_fields()))))
}

/// A partial update: absent fields keep their value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub email: Option<String>,
    pub name: Option<String>,
    pub language: Option<String>,
    pub role: Option<String>,
    /// Null clears the unit.
    #[serde(default, deserialize_with = "crate::http::json::double_option")]
    #[schema(value_type = Option<i64>)]
    pub org_unit_id: Option<Option<i64>>,
    pub active: Option<bool>,
}

impl ApiInput for UserPatch {
    const READ_ONLY: &'static [&'static str] = &["id", "last_login_at", "created_at", "updated_at", "password"];
}

/// Updates a user.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UserPatch,
    responses((status = 409, description = "Email taken"), (status = 200, body = UserOut), (status = 404), (status = 422, description = "Invalid input")))]
pub async fn update(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(p): ApiJson<UserPatch>,
) -> Result<Json<UserOut>, HttpError> {
    let u = users::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    let form = UserForm {
        email: p.email.unwrap_or(u.email),
        name: p.name.unwrap_or(u.name),
        language: Some(p.language.unwrap_or_else(|| u.language.code().to_string())),
        role: p.role.unwrap_or(u.role_code),
        org_unit_id: p.org_unit_id.unwrap_or(u.org_unit_id),
        active: Some(p.active.unwrap_or(u.active)),
        password: None,
    };
    let input = form.parse()?;
    let u = users::update(&st.db, &c.actor(), st.now(), id, &input).await?;
    Ok(Json(UserOut::new(&u, c.p.sees_hidden_fields())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Only events with an id below this one (keyset pagination).
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

/// The change history of a user, newest first.
#[utoipa::path(get, path = "/api/v1/users/{id}/history", tag = "users", params(HistoryQuery), responses((status = 200, body = ListOf<AuditEvent>)))]
pub async fn history(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<ListOf<AuditEvent>>, HttpError> {
    users::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    Ok(Json(super::history_page(&st, "user", id, &q).await?))
}
