//! Administration of groups of users.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;

use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::pages::{form_error, redirect_notice, render, FormErrors, NoticeQuery, PageCtx};
use crate::http::AppState;
use crate::identity::users::{self, Staff};
use crate::org::groups::{self, Group, GroupInput};
use crate::org::units::{self, OrgUnit};

#[derive(Template)]
#[template(path = "admin/groups.html")]
struct ListPage {
    c: PageCtx,
    groups: Vec<Group>,
}

pub async fn list(State(st): State<AppState>, c: Ctx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    let groups = groups::list(&st.db).await?;
    Ok(render(ListPage { c: PageCtx::new(&c, "/admin", "admin.groups").with_notice(q.notice.as_deref()), groups }))
}

#[derive(Debug, Clone, Default)]
pub struct GroupForm {
    name: String,
    description: String,
    org_unit_id: String,
    members: Vec<i64>,
}

impl GroupForm {
    fn read(body: &str) -> GroupForm {
        let p = crate::http::form::FormPairs::parse(body);
        GroupForm {
            name: p.text("name"),
            description: p.text("description"),
            org_unit_id: p.text("org_unit_id"),
            members: p.ids("members"),
        }
    }
    fn parse(&self) -> Result<GroupInput, Error> {
        let unit = match self.org_unit_id.trim() {
            "" => None,
            s => Some(s.parse().map_err(|_| Error::validation("org_unit_id", "error.invalid_choice"))?),
        };
        GroupInput::parse(&self.name, &self.description, unit, self.members.clone())
    }
    fn member(&self, id: &i64) -> bool {
        self.members.contains(id)
    }
    fn unit_is(&self, id: &i64) -> bool {
        self.org_unit_id == id.to_string()
    }
}

#[derive(Template)]
#[template(path = "admin/group_form.html")]
struct FormPage {
    c: PageCtx,
    id: Option<i64>,
    form: GroupForm,
    f: FormErrors,
    users: Vec<Staff>,
    /// More active users match than the list shows: the page asks for a search.
    more: bool,
    /// The search of the members picker.
    q: String,
    units: Vec<OrgUnit>,
}

/// The query of a group's page: a notice, and the search of its members picker.
#[derive(Debug, Default, serde::Deserialize)]
pub struct GroupQuery {
    notice: Option<String>,
    q: Option<String>,
}

async fn page(st: &AppState, c: &Ctx, id: Option<i64>, form: GroupForm, f: FormErrors, query: GroupQuery) -> Result<Response, HttpError> {
    let q = query.q.unwrap_or_default();
    let (users, more) = users::pick_active(&st.db, &q, &form.members).await?;
    let notice = query.notice.as_deref();
    let units = units::tree(&st.db).await?;
    let mut pc = PageCtx::new(c, "/admin", if id.is_some() { "admin.group_edit" } else { "admin.group_new" }).with_notice(notice);
    if id.is_some() {
        pc.title = form.name.clone();
    }
    let errors = f.any();
    let mut resp = render(FormPage { c: pc, id, form, f, users, more, q, units });
    if errors {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn new_form(State(st): State<AppState>, c: Ctx, Query(q): Query<GroupQuery>) -> Result<Response, HttpError> {
    page(&st, &c, None, GroupForm::default(), FormErrors::none(), q).await
}

pub async fn create(State(st): State<AppState>, c: Ctx, body: String) -> Result<Response, HttpError> {
    let form = GroupForm::read(&body);
    let res = match form.parse() {
        Ok(input) => groups::create(&st.db, &c.actor(), st.now(), &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(g) => Ok(redirect_notice(&format!("/admin/groups/{}", g.id), "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            page(&st, &c, None, form, fe, GroupQuery::default()).await
        }
    }
}

async fn load(st: &AppState, id: i64) -> Result<Group, HttpError> {
    let mut conn = st.db.pool.acquire().await?;
    Ok(groups::get(&mut conn, id).await?.ok_or(Error::NotFound)?)
}

fn to_form(g: &Group) -> GroupForm {
    GroupForm {
        name: g.name.clone(),
        description: g.description.clone(),
        org_unit_id: g.org_unit_id.map(|u| u.to_string()).unwrap_or_default(),
        members: g.members.clone(),
    }
}

pub async fn edit_form(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<GroupQuery>,
) -> Result<Response, HttpError> {
    let g = load(&st, id).await?;
    page(&st, &c, Some(id), to_form(&g), FormErrors::none(), q).await
}

pub async fn update(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    load(&st, id).await?;
    let form = GroupForm::read(&body);
    let res = match form.parse() {
        Ok(input) => groups::update(&st.db, &c.actor(), st.now(), id, &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/admin/groups/{id}"), "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            page(&st, &c, Some(id), form, fe, GroupQuery::default()).await
        }
    }
}

pub async fn delete(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    load(&st, id).await?;
    groups::delete(&st.db, &c.actor(), st.now(), id).await?;
    Ok(redirect_notice("/admin/groups", "notice.deleted"))
}

pub async fn history(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let g = load(&st, id).await?;
    super::history_page(&st, &c, "group", id, g.name, format!("/admin/groups/{id}"), "admin.groups").await
}
