//! Administration of roles: rights and visibility scope.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::access::roles::{self, Role, RoleInput};
use crate::access::{Right, Scope};
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::pages::{form_error, redirect_notice, render, FormErrors, NoticeQuery, PageCtx};
use crate::http::AppState;

#[derive(Template)]
#[template(path = "admin/roles.html")]
struct ListPage {
    c: PageCtx,
    roles: Vec<Role>,
}

pub async fn list(State(st): State<AppState>, c: Ctx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    let roles = roles::list(&st.db).await?;
    Ok(render(ListPage { c: PageCtx::new(&c, "/admin", "admin.roles").with_notice(q.notice.as_deref()), roles }))
}

/// The role form as typed (kept on error).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name_fr: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    rights: Vec<String>,
    /// `None` when the form does not carry the checkbox (the stored value is kept).
    #[serde(default)]
    require_second_factor: Option<bool>,
}

pub struct RightGroup {
    pub name: String,
    pub rights: Vec<(String, String, bool)>,
}

#[derive(Template)]
#[template(path = "admin/role_form.html")]
struct FormPage {
    c: PageCtx,
    id: Option<i64>,
    builtin: bool,
    form: RoleForm,
    f: FormErrors,
    groups: Vec<RightGroup>,
    scopes: Vec<(&'static str, String)>,
}

fn page(c: &Ctx, id: Option<i64>, builtin: bool, form: RoleForm, f: FormErrors, notice: Option<&str>) -> Response {
    let mut groups: Vec<RightGroup> = Vec::new();
    for r in Right::ALL {
        let entry = (r.code().to_string(), c.tr.t(&r.label_key()), form.rights.iter().any(|x| x == r.code()));
        let gname = c.tr.t(&format!("right_group.{}", r.group()));
        match groups.iter_mut().find(|g| g.name == gname) {
            Some(g) => g.rights.push(entry),
            None => groups.push(RightGroup { name: gname, rights: vec![entry] }),
        }
    }
    let scopes = Scope::ALL.iter().map(|s| (s.code(), c.tr.t(&format!("scope.{}", s.code())))).collect();
    let mut pc = PageCtx::new(c, "/admin", if id.is_some() { "admin.role_edit" } else { "admin.role_new" }).with_notice(notice);
    if id.is_some() {
        pc.title = form.name_fr.clone();
    }
    let errors = f.any();
    let mut resp = render(FormPage { c: pc, id, builtin, form, f, groups, scopes });
    if errors {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    resp
}

pub async fn new_form(c: Ctx) -> Response {
    page(&c, None, false, RoleForm { scope: "own".into(), ..Default::default() }, FormErrors::none(), None)
}

fn parse(form: &RoleForm) -> Result<RoleInput, Error> {
    RoleInput::parse(&form.code, &form.name_fr, &form.name_en, &form.scope, &form.rights, form.require_second_factor.unwrap_or(false))
}

/// Forms post repeated `rights` fields; axum's `Form` does not collect repeated keys, so
/// the body is read as pairs.
fn read_form(body: &str) -> RoleForm {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap_or_default();
    let mut f = RoleForm::default();
    for (k, v) in pairs {
        match k.as_str() {
            "code" => f.code = v,
            "name_fr" => f.name_fr = v,
            "name_en" => f.name_en = v,
            "scope" => f.scope = v,
            "rights" => f.rights.push(v),
            // A hidden `0` precedes the checkbox's `1`: the last value wins.
            "require_second_factor" => f.require_second_factor = Some(v == "1"),
            _ => {}
        }
    }
    f
}

pub async fn create(State(st): State<AppState>, c: Ctx, body: String) -> Result<Response, HttpError> {
    let form = read_form(&body);
    let res = match parse(&form) {
        Ok(input) => roles::create(&st.db, &c.actor(), st.now(), input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(r) => Ok(redirect_notice(&format!("/admin/roles/{}", r.id), "notice.role_created")),
        Err(e) => Ok(page(&c, None, false, form, form_error(&c, e)?, None)),
    }
}

fn to_form(r: &Role) -> RoleForm {
    RoleForm {
        code: r.code.clone(),
        name_fr: r.name_fr.clone(),
        name_en: r.name_en.clone(),
        scope: r.scope.code().to_string(),
        rights: r.rights.iter().map(|x| x.code().to_string()).collect(),
        require_second_factor: Some(r.require_second_factor),
    }
}

async fn load(st: &AppState, id: i64) -> Result<Role, HttpError> {
    Ok(roles::get(&st.db, id).await?.ok_or(Error::NotFound)?)
}

pub async fn edit_form(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, HttpError> {
    let r = load(&st, id).await?;
    Ok(page(&c, Some(id), r.builtin, to_form(&r), FormErrors::none(), q.notice.as_deref()))
}

pub async fn update(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let existing = load(&st, id).await?;
    let mut form = read_form(&body);
    if existing.builtin {
        form.code = existing.code.clone();
    }
    if form.require_second_factor.is_none() {
        form.require_second_factor = Some(existing.require_second_factor);
    }
    let res = match parse(&form) {
        Ok(input) => roles::update(&st.db, &c.actor(), st.now(), id, input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/admin/roles/{id}"), "notice.saved")),
        Err(e) => Ok(page(&c, Some(id), existing.builtin, form, form_error(&c, e)?, None)),
    }
}

pub async fn delete(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let existing = load(&st, id).await?;
    match roles::delete(&st.db, &c.actor(), st.now(), id).await {
        Ok(()) => Ok(redirect_notice("/admin/roles", "notice.deleted")),
        Err(e) => Ok(page(&c, Some(id), existing.builtin, to_form(&existing), form_error(&c, e)?, None)),
    }
}

pub async fn history(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let r = load(&st, id).await?;
    super::history_page(&st, &c, "role", id, r.name(&c.lang()).to_string(), format!("/admin/roles/{id}"), "admin.roles").await
}
