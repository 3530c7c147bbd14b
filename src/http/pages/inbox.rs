//! The in-app notifications of the user (`/notifications`): newest first, unread ones
//! emphasised, each a link that marks it read and opens its record — after checking that
//! the user may still see that record — and "mark all read".

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{redirect_notice, render, PageCtx};
use crate::access::Right;
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::AppState;
use crate::inbox::{self, Notification};

#[derive(Debug, Deserialize)]
pub struct InboxQuery {
    pub after: Option<String>,
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    c: PageCtx,
    rows: Vec<Notification>,
    /// The next page's cursor.
    next: Option<String>,
    /// Whether this is a later page (a link back to the first).
    later: bool,
}

pub async fn page(State(st): State<AppState>, c: Ctx, Query(q): Query<InboxQuery>) -> Result<Response, HttpError> {
    let (rows, next) = inbox::list(&st.db, c.p.user_id, q.after.as_deref(), crate::wiring::readable_notifications(&c.p)).await?;
    let later = q.after.as_deref().is_some_and(|a| !a.is_empty());
    let page = InboxPage { c: PageCtx::new(&c, "", "inbox.title").with_notice(q.notice.as_deref()), rows, next, later };
    Ok(render(page))
}

/// Marks the notification read and opens its record, if the user may still see it (else back
/// to the list, with a notice). Another user's notification is not found.
pub async fn open(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let n = inbox::mark_read(&st.db, st.now(), c.p.user_id, id).await?.ok_or(Error::NotFound)?;
    match visible_record(&st, &c, &n).await? {
        Some(path) => Ok(Redirect::to(&path).into_response()),
        None => Ok(redirect_notice("/notifications", "notice.inbox_gone")),
    }
}

pub async fn read_all(State(st): State<AppState>, c: Ctx) -> Result<Response, HttpError> {
    inbox::mark_all_read(&st.db, st.now(), c.p.user_id).await?;
    Ok(redirect_notice("/notifications", "notice.inbox_all_read"))
}

/// The record's page when the user holds the right to read its kind and sees that record
/// today (their role or scope may have changed since the notification).
async fn visible_record(st: &AppState, c: &Ctx, n: &Notification) -> Result<Option<String>, HttpError> {
    let (vis, id) = (&c.p.visibility, n.entity_id);
    let seen = match n.entity_type.as_str() {
        "opportunity" => c.p.can(Right::OpportunitiesRead) && crate::sales::store::get_visible(&st.db, vis, id).await?.is_some(),
        "meeting" => c.p.can(Right::MeetingsRead) && crate::sales::meetings::get_visible(&st.db, vis, id).await?.is_some(),
        "service_request" => c.p.can(Right::ServiceRequestsRead) && crate::service::store::get_visible(&st.db, vis, id).await?.is_some(),
        "presales_request" => {
            c.p.can(Right::PresalesManage) && crate::presales::store::get_for_team(&st.db, super::presales::scope(c), id).await?.is_some()
        }
        _ => false,
    };
    Ok(if seen { inbox::record_path(&n.entity_type, id) } else { None })
}
