//! The staff directory: every user the viewer's visibility allows (the first record type
//! filtered by the sales structure).

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

use super::{render, PageCtx};
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::listing::{self, ListNav};
use crate::http::lists::Directory;
use crate::http::AppState;
use crate::identity::users::{self, User};

#[derive(Template)]
#[template(path = "directory.html")]
struct DirectoryPage {
    c: PageCtx,
    list: ListNav,
    q: String,
    users: Vec<User>,
}

pub async fn list(State(st): State<AppState>, c: Ctx, RawQuery(raw): RawQuery) -> Result<Response, HttpError> {
    let (s, page, list) = listing::read::<Directory>(&st, &c, raw.as_deref()).await?;
    Ok(render(DirectoryPage { c: PageCtx::new(&c, "/users", "nav.team"), list, q: s.text("q"), users: page.items }))
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
