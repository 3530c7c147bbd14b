//! The staff directory: every user the viewer's visibility allows (the first record type
//! filtered by the sales structure).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{render, PageCtx};
use crate::db::page::PageReq;
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::AppState;
use crate::identity::users::{self, User, UserFilter};

#[derive(Deserialize, Default)]
pub struct ListQuery {
    pub q: Option<String>,
    pub after: Option<String>,
}

#[derive(Template)]
#[template(path = "directory.html")]
struct DirectoryPage {
    c: PageCtx,
    q: String,
    users: Vec<User>,
    next: Option<String>,
}

pub async fn list(State(st): State<AppState>, c: Ctx, Query(q): Query<ListQuery>) -> Result<Response, HttpError> {
    let size = crate::settings::get_int(&st.db, "lists.page_size").await?;
    let page = PageReq::parse(Some(size), q.after.as_deref())?;
    let filter = UserFilter { q: q.q.clone(), active: Some(true), ..Default::default() };
    let res = users::list(&st.db, &c.p.visibility, &filter, &page).await?;
    let next = res.next.map(|n| {
        let mut qs = format!("after={}", n.encode());
        if let Some(text) = q.q.as_deref().filter(|s| !s.is_empty()) {
            qs.push_str(&format!("&q={}", crate::http::auth::urlencode(text)));
        }
        qs
    });
    Ok(render(DirectoryPage { c: PageCtx::new(&c, "/users", "nav.team"), q: q.q.unwrap_or_default(), users: res.items, next }))
}

#[derive(Template)]
#[template(path = "directory_show.html")]
struct ShowPage {
    c: PageCtx,
    u: User,
    sees_hidden: bool,
}

pub async fn show(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let u = users::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    let sees_hidden = c.p.sees_hidden_fields();
    let mut pc = PageCtx::new(&c, "/users", "nav.team");
    pc.title = u.name.clone();
    Ok(render(ShowPage { c: pc, u, sees_hidden }))
}
