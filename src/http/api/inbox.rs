//! `/api/v1/me/inbox`: the caller's in-app notifications (the bell), newest first. Only the
//! caller's own: another user's notification is not found.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::AppState;
use crate::inbox::{self, Notification};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// A page of the caller's notifications (50 at most) and their unread count.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Inbox {
    pub items: Vec<Notification>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// Unread notifications, counted up to 100 (the bell shows "99+" beyond 99).
    pub unread: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Marked {
    /// How many notifications were unread and are now read.
    pub marked: u64,
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/api/v1/me/inbox", tag = "account", params(InboxQuery), responses((status = 200, body = Inbox), (status = 422)))]
pub async fn list(State(st): State<AppState>, c: Ctx, Query(q): Query<InboxQuery>) -> Result<Json<Inbox>, HttpError> {
    let readable = || crate::wiring::readable_notifications(&c.p);
    let (items, next_cursor) = inbox::list(&st.db, c.p.user_id, q.after.as_deref(), readable()).await?;
    let unread = inbox::unread_count(&st.db, c.p.user_id, readable()).await?;
    Ok(Json(Inbox { items, next_cursor, unread }))
}

/// Marks one of the caller's notifications read (again: no change).
#[utoipa::path(post, path = "/api/v1/me/inbox/{id}/read", tag = "account", params(("id" = i64, Path)), responses((status = 200, body = Notification), (status = 404)))]
pub async fn read(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Json<Notification>, HttpError> {
    Ok(Json(inbox::mark_read(&st.db, st.now(), c.p.user_id, id).await?.ok_or(Error::NotFound)?))
}

/// Marks all the caller's notifications read.
#[utoipa::path(post, path = "/api/v1/me/inbox/read-all", tag = "account", responses((status = 200, body = Marked)))]
pub async fn read_all(State(st): State<AppState>, c: Ctx) -> Result<Json<Marked>, HttpError> {
    Ok(Json(Marked { marked: inbox::mark_all_read(&st.db, st.now(), c.p.user_id).await? }))
}
