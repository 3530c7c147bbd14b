//! The history tab of every record: one handler body and one template
//! (`templates/history.html`) for customers, opportunities, requests and the administration's
//! records. A record's page module says what the record is ([`Record`]); the change history
//! itself comes from [`crate::audit`].

use askama::Template;
use axum::response::Response;

use super::{history_reader, render, PageCtx};
use crate::audit::{self, HistoryEntry};
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::AppState;

/// What the history page needs to know of its record.
pub struct Record<'a> {
    /// The audit entity (`customer`, `opportunity`…) and the record's id.
    pub entity: &'static str,
    pub id: i64,
    pub name: String,
    pub subtitle: Option<String>,
    /// The nav section (`/customers`) and the breadcrumbs before the record: (href, label).
    pub section: &'static str,
    pub crumbs: Vec<(String, String)>,
    /// The record's page (the "Details" tab).
    pub href: String,
    /// Labels of stored codes (`status` → its label), for the changes shown.
    pub labels: &'a (dyn Fn(&str, &str) -> Option<String> + Sync),
    /// Fields this user may not read in the history (admin-only fields).
    pub hidden: &'a [&'a str],
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    c: PageCtx,
    name: String,
    subtitle: Option<String>,
    crumbs: Vec<(String, String)>,
    href: String,
    entries: Vec<HistoryEntry>,
}

/// The last 500 changes of a record, newest first. The caller has checked that the user may
/// see the record.
pub async fn page(st: &AppState, c: &Ctx, r: Record<'_>) -> Result<Response, HttpError> {
    let events = audit::history(&st.db, r.entity, r.id, None, 500).await?;
    let events: Vec<_> = events.into_iter().filter(|e| e.field.as_deref().is_none_or(|f| !r.hidden.contains(&f))).collect();
    let entries = audit::entries_for(&events, &history_reader(c, r.labels));
    let mut pc = PageCtx::new(c, r.section, "history.title");
    pc.title = format!("{} · {}", c.tr.t("history.title"), r.name);
    Ok(render(HistoryPage { c: pc, name: r.name, subtitle: r.subtitle, crumbs: r.crumbs, href: r.href, entries }))
}
