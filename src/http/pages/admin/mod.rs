//! Administration pages: users, roles, org units, groups, value lists, settings, jobs.

pub mod groups;
pub mod jobs;
pub mod lists;
pub mod mail;
pub mod org;
pub mod roles;
pub mod service_levels;
pub mod settings;
pub mod users;

use askama::Template;
use axum::response::Response;

use super::{render, PageCtx, Tile};
use crate::access::Right;

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
    ("/admin/service-levels", "sla.title", Right::AdminSettings),
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

/// The history tab of a record of the administration.
pub async fn history_page(
    st: &AppState,
    c: &Ctx,
    entity: &'static str,
    id: i64,
    record_name: String,
    href: String,
    list_key: &str,
) -> Result<Response, HttpError> {
    let labels = |f: &str, v: &str| match f {
        "language" => super::known_label(c, "lang.", v),
        "two_factor" | "recovery_code" => super::known_label(c, "two_factor.state.", v),
        "require_second_factor" => super::known_label(c, "two_factor.required.", v),
        _ => None,
    };
    let list = href.rsplit_once('/').map(|(l, _)| l.to_string()).unwrap_or_default();
    let crumbs = vec![("/admin".into(), c.tr.t("nav.admin")), (list, c.tr.t(list_key))];
    let r = super::history::Record {
        entity,
        id,
        name: record_name,
        subtitle: None,
        section: "/admin",
        crumbs,
        href,
        labels: &labels,
        hidden: &[],
    };
    super::history::page(st, c, r).await
}
