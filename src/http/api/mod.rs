//! The JSON REST API under `/api/v1`. Lists answer `{"items": [...], "next_cursor": …}`;
//! errors have one shape (see `http::error`). Handlers call the same domain functions as
//! the HTML pages.

pub mod activity;
pub mod admin;
pub mod customers;
pub mod inbox;
pub mod mail;
pub mod partners;
pub mod reports;
pub mod sales;
pub mod search;
pub mod service;
pub mod tokens;
pub mod users;

use axum::Json;
use serde::Serialize;

use crate::http::auth::Ctx;

pub use super::listing::{ListOf, PageOf};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub language: crate::i18n::Lang,
    pub role: String,
    pub rights: Vec<String>,
    pub scope: crate::access::Scope,
}

/// The authenticated user, their rights and visibility scope.
#[utoipa::path(get, path = "/api/v1/me", tag = "account", responses((status = 200, body = Me)))]
pub async fn me(c: Ctx) -> Json<Me> {
    Json(Me {
        id: c.p.user_id,
        email: c.p.email.clone(),
        name: c.p.name.clone(),
        language: c.p.language,
        role: c.p.role_code.clone(),
        rights: c.p.rights.iter().map(|r| r.code().to_string()).collect(),
        scope: c.p.visibility.scope,
    })
}

/// One page of a record's change history (`before`: keyset on the event id; `limit` 1–500,
/// 100 by default; outside: 422).
pub async fn history_page(
    st: &crate::http::AppState,
    entity: &str,
    id: i64,
    q: &users::HistoryQuery,
) -> Result<ListOf<crate::audit::AuditEvent>, crate::http::error::HttpError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=crate::db::page::MAX_LIMIT).contains(&limit) {
        return Err(crate::error::Error::validation("limit", "error.limit_range").into());
    }
    let mut items = crate::audit::history(&st.db, entity, id, q.before, limit + 1).await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = if more { items.last().map(|e| e.id.to_string()) } else { None };
    Ok(ListOf { items, next_cursor })
}
