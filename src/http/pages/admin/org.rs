//! Administration of the sales structure (org units).

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::pages::{form_error, redirect_notice, render, FormErrors, NoticeQuery, PageCtx};
use crate::http::AppState;
use crate::org::units::{self, OrgUnit, UnitInput, UnitKind};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UnitForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    parent_id: Option<String>,
}

impl UnitForm {
    fn parent(&self) -> Result<Option<i64>, Error> {
        match self.parent_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => s.parse().map(Some).map_err(|_| Error::validation("parent_id", "error.invalid_choice")),
            None => Ok(None),
        }
    }
    fn parse(&self) -> Result<UnitInput, Error> {
        UnitInput::parse(&self.name, &self.kind, self.parent()?)
    }
    fn parent_is(&self, id: &i64) -> bool {
        self.parent_id.as_deref() == Some(id.to_string().as_str())
    }
}

fn kinds(c: &Ctx) -> Vec<(&'static str, String)> {
    UnitKind::ALL.iter().map(|k| (k.code(), c.tr.t(&format!("unit_kind.{}", k.code())))).collect()
}

#[derive(Template)]
#[template(path = "admin/org_units.html")]
struct TreePage {
    c: PageCtx,
    units: Vec<OrgUnit>,
    kinds: Vec<(&'static str, String)>,
    form: UnitForm,
    f: FormErrors,
}

async fn tree_page(st: &AppState, c: &Ctx, form: UnitForm, f: FormErrors, notice: Option<&str>) -> Result<Response, HttpError> {
    let units = units::tree(&st.db).await?;
    let errors = f.any();
    let mut resp =
        render(TreePage { c: PageCtx::new(c, "/admin", "admin.org_units").with_notice(notice), units, kinds: kinds(c), form, f });
    if errors {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn tree(State(st): State<AppState>, c: Ctx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    tree_page(&st, &c, UnitForm { kind: "branch".into(), ..Default::default() }, FormErrors::none(), q.notice.as_deref()).await
}

pub async fn create(State(st): State<AppState>, c: Ctx, Form(form): Form<UnitForm>) -> Result<Response, HttpError> {
    let res = match form.parse() {
        Ok(input) => units::create(&st.db, &c.actor(), st.now(), &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice("/admin/org-units", "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            tree_page(&st, &c, form, fe, None).await
        }
    }
}

#[derive(Template)]
#[template(path = "admin/org_unit_form.html")]
struct EditPage {
    c: PageCtx,
    id: i64,
    units: Vec<OrgUnit>,
    kinds: Vec<(&'static str, String)>,
    form: UnitForm,
    f: FormErrors,
}

async fn edit_page(st: &AppState, c: &Ctx, id: i64, form: UnitForm, f: FormErrors, notice: Option<&str>) -> Result<Response, HttpError> {
    let all = units::tree(&st.db).await?;
    let me = all.iter().find(|u| u.id == id).cloned().ok_or(Error::NotFound)?;
    // A unit cannot move under itself or its own descendants.
    let units: Vec<OrgUnit> = all.into_iter().filter(|u| !u.path.starts_with(&me.path)).collect();
    let mut pc = PageCtx::new(c, "/admin", "admin.org_unit_edit").with_notice(notice);
    pc.title = me.name.clone();
    let errors = f.any();
    let mut resp = render(EditPage { c: pc, id, units, kinds: kinds(c), form, f });
    if errors {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

async fn load(st: &AppState, id: i64) -> Result<OrgUnit, HttpError> {
    let mut conn = st.db.pool.acquire().await?;
    Ok(units::get(&mut conn, id).await?.ok_or(Error::NotFound)?)
}

pub async fn edit_form(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, HttpError> {
    let u = load(&st, id).await?;
    let form = UnitForm { name: u.name, kind: u.kind.code().into(), parent_id: u.parent_id.map(|p| p.to_string()) };
    edit_page(&st, &c, id, form, FormErrors::none(), q.notice.as_deref()).await
}

pub async fn update(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, Form(form): Form<UnitForm>) -> Result<Response, HttpError> {
    load(&st, id).await?;
    let res = match form.parse() {
        Ok(input) => units::update(&st.db, &c.actor(), st.now(), id, &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/admin/org-units/{id}"), "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            edit_page(&st, &c, id, form, fe, None).await
        }
    }
}

pub async fn delete(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let u = load(&st, id).await?;
    match units::delete(&st.db, &c.actor(), st.now(), id).await {
        Ok(()) => Ok(redirect_notice("/admin/org-units", "notice.deleted")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            let form = UnitForm { name: u.name, kind: u.kind.code().into(), parent_id: u.parent_id.map(|p| p.to_string()) };
            edit_page(&st, &c, id, form, fe, None).await
        }
    }
}

pub async fn history(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let u = load(&st, id).await?;
    super::history_page(&st, &c, "org_unit", id, u.name, format!("/admin/org-units/{id}"), "admin.org_units").await
}
