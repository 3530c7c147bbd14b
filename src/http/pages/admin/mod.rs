//! Administration pages: users, roles, org units, groups, value lists, settings, jobs.

pub mod groups;
pub mod jobs;
pub mod lists;
pub mod mail;
pub mod org;
pub mod roles;
pub mod settings;
pub mod users;

use askama::Template;
use axum::response::Response;

use super::{render, PageCtx, Tile};
use crate::access::Right;
use crate::audit::{self, HistoryEntry};
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::AppState;

/// Administration sections: (href, message key, right). `{key}_text` describes it.
pub const SECTIONS: &[(&str, &str, Right)] = &[
    ("/admin/users", "admin.users", Right::AdminUsers),
    ("/admin/roles", "admin.roles", Right::AdminRoles),
    ("/admin/org-units", "admin.org_units", Right::AdminOrg),
    ("/admin/groups", "admin.groups", Right::AdminGroups),
    ("/admin/lists", "admin.lists", Right::AdminLists),
    ("/admin/settings", "admin.settings", Right::AdminSettings),
    ("/admin/outbox", "admin.outbox", Right::AdminMail),
    ("/admin/email-templates", "admin.email_templates", Right::AdminMail),
    ("/admin/jobs", "admin.jobs", Right::AdminJobs),
];

#[derive(Template)]
#[template(path = "admin/index.html")]
struct IndexPage {
    c: PageCtx,
    tiles: Vec<Tile>,
}

pub async fn index(c: Ctx) -> Result<Response, HttpError> {
    let tiles: Vec<Tile> = SECTIONS
        .iter()
        .filter(|(_, _, r)| c.p.can(*r))
        .map(|(href, key, _)| Tile { href, title: c.tr.t(key), text: c.tr.t(&format!("{key}_text")) })
        .collect();
    if tiles.is_empty() {
        return Err(crate::error::Error::Forbidden.into());
    }
    Ok(render(IndexPage { c: PageCtx::new(&c, "/admin", "nav.admin"), tiles }))
}

#[derive(Template)]
#[template(path = "admin/history.html")]
struct HistoryPage {
    c: PageCtx,
    back_href: String,
    back_label: String,
    record_name: String,
    entries: Vec<HistoryEntry>,
}

/// The history tab of a record of the administration.
pub async fn history_page(
    st: &AppState,
    c: &Ctx,
    entity: &str,
    id: i64,
    record_name: String,
    back_href: String,
    back_key: &str,
) -> Result<Response, HttpError> {
    let events = audit::history(&st.db, entity, id, None, 500).await?;
    let mut pc = PageCtx::new(c, "/admin", "history.title");
    pc.title = format!("{} · {record_name}", c.tr.t("history.title"));
    Ok(render(HistoryPage {
        c: pc,
        back_href,
        back_label: c.tr.t(back_key),
        record_name,
        entries: audit::entries_for(
            &events,
            &super::history_reader(c, &|f, v| match f {
                "language" => super::known_label(c, "lang.", v),
                _ => None,
            }),
        ),
    }))
}
