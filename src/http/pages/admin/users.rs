//! Administration of users.

use askama::Template;
use axum::extract::{Path, Query, RawQuery, State};
use axum::response::Response;
use serde::Deserialize;

use crate::access::roles::{self, Role};
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::listing::{self, ListNav};
use crate::http::lists::Users;
use crate::http::pages::{form_error, redirect_notice, render, FormErrors, PageCtx};
use crate::http::AppState;
use crate::identity::totp;
use crate::identity::users::{self, User, UserForm};
use crate::org::units::{self, OrgUnit};

#[derive(Template)]
#[template(path = "admin/users.html")]
struct ListPage {
    c: PageCtx,
    list: ListNav,
    users: Vec<User>,
    roles: Vec<Role>,
    q: String,
    role: String,
    status: String,
}

pub async fn list(State(st): State<AppState>, c: Ctx, RawQuery(raw): RawQuery) -> Result<Response, HttpError> {
    // The page shows active users unless the query or a saved view says otherwise.
    let raw = raw.unwrap_or_default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&raw).unwrap_or_default();
    let raw = if pairs.iter().any(|(k, _)| k == "status" || k == "view") { raw } else { format!("status=active&{raw}") };
    let (s, page, list) = listing::read::<Users>(&st, &c, Some(&raw)).await?;
    Ok(render(ListPage {
        c: PageCtx::new(&c, "/admin", "admin.users").with_notice(s.notice.as_deref()),
        list,
        users: page.items,
        roles: roles::list(&st.db).await?,
        q: s.text("q"),
        role: s.text("role"),
        status: s.get("status").unwrap_or("all").to_string(),
    }))
}

#[derive(Template)]
#[template(path = "admin/user_form.html")]
struct FormPage {
    c: PageCtx,
    id: Option<i64>,
    form: UserForm,
    f: FormErrors,
    roles: Vec<Role>,
    units: Vec<OrgUnit>,
    pw: FormErrors,
    last_login: Option<i64>,
    emails: Vec<crate::mail::EmailSummary>,
    show_links: bool,
    /// The user's second factor (when editing).
    two_factor: Option<totp::Status>,
}

impl FormPage {
    fn sel_role(&self, code: &str) -> bool {
        self.form.role == code
    }
    fn sel_unit(&self, id: &i64) -> bool {
        self.form.org_unit_id == Some(*id)
    }
    fn lang_is(&self, code: &str) -> bool {
        self.form.language.as_deref().unwrap_or("fr") == code
    }
}

/// What the user form shows: the record (if editing), the values as typed, and errors.
struct Shown {
    id: Option<i64>,
    form: UserForm,
    f: FormErrors,
    pw: FormErrors,
    last_login: Option<i64>,
}

impl Shown {
    fn new(id: Option<i64>, form: UserForm) -> Shown {
        Shown { id, form, f: FormErrors::none(), pw: FormErrors::none(), last_login: None }
    }
}

async fn form_page(st: &AppState, c: &Ctx, shown: Shown, notice: Option<&str>) -> Result<Response, HttpError> {
    let Shown { id, form, f, pw, last_login } = shown;
    let emails = match id {
        Some(id) => crate::mail::for_entity(&st.db, "user", id).await?,
        None => Vec::new(),
    };
    let show_links = c.p.can(crate::access::Right::AdminMail);
    let roles = roles::list(&st.db).await?;
    let units = units::tree(&st.db).await?;
    let mut pc = PageCtx::new(c, "/admin", if id.is_some() { "admin.user_edit" } else { "admin.user_new" }).with_notice(notice);
    if id.is_some() {
        pc.title = form.name.clone();
    }
    let has_errors = f.any() || pw.any();
    let two_factor = match id {
        Some(id) => Some(totp::status(&st.db, id).await?),
        None => None,
    };
    let mut resp = render(FormPage { c: pc, id, form, f, roles, units, pw, last_login, emails, show_links, two_factor });
    if has_errors {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn new_form(State(st): State<AppState>, c: Ctx) -> Result<Response, HttpError> {
    let form = UserForm { role: "representant".into(), language: Some("fr".into()), active: Some(true), ..Default::default() };
    form_page(&st, &c, Shown::new(None, form), None).await
}

/// The user form as posted (checkbox `active` absent means unchecked).
#[derive(Deserialize)]
pub struct PostedUser {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    role: String,
    #[serde(default)]
    org_unit_id: Option<String>,
    #[serde(default)]
    active: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl PostedUser {
    fn into_form(self, creating: bool) -> Result<UserForm, Error> {
        let org_unit_id = match self.org_unit_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(s.parse::<i64>().map_err(|_| Error::validation("org_unit_id", "error.invalid_choice"))?),
            None => None,
        };
        Ok(UserForm {
            email: self.email,
            name: self.name,
            language: self.language,
            role: self.role,
            org_unit_id,
            active: Some(self.active.is_some()),
            password: if creating { self.password.filter(|p| !p.is_empty()) } else { None },
        })
    }
}

pub async fn create(
    State(st): State<AppState>,
    c: Ctx,
    axum::extract::Form(p): axum::extract::Form<PostedUser>,
) -> Result<Response, HttpError> {
    let form = p.into_form(true)?;
    let result = match form.parse() {
        Ok(input) => users::create(&st.db, &c.actor(), st.now(), &input, form.password.as_deref()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(u) => Ok(redirect_notice(&format!("/admin/users/{}", u.id), "notice.user_created")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            let mut form = form;
            form.password = None;
            form_page(&st, &c, Shown { f: fe, ..Shown::new(None, form) }, None).await
        }
    }
}

fn to_form(u: &User) -> UserForm {
    UserForm {
        email: u.email.clone(),
        name: u.name.clone(),
        language: Some(u.language.code().to_string()),
        role: u.role_code.clone(),
        org_unit_id: u.org_unit_id,
        active: Some(u.active),
        password: None,
    }
}

async fn load(st: &AppState, c: &Ctx, id: i64) -> Result<User, HttpError> {
    Ok(users::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?)
}

#[derive(Deserialize, Default)]
pub struct NoticeOnly {
    notice: Option<String>,
}

pub async fn edit_form(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<NoticeOnly>,
) -> Result<Response, HttpError> {
    let u = load(&st, &c, id).await?;
    let last = if c.p.sees_hidden_fields() { u.last_login_at } else { None };
    form_page(&st, &c, Shown { last_login: last, ..Shown::new(Some(id), to_form(&u)) }, q.notice.as_deref()).await
}

pub async fn update(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    axum::extract::Form(p): axum::extract::Form<PostedUser>,
) -> Result<Response, HttpError> {
    let existing = load(&st, &c, id).await?;
    let form = p.into_form(false)?;
    let result = match form.parse() {
        Ok(input) => users::update(&st.db, &c.actor(), st.now(), id, &input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(redirect_notice(&format!("/admin/users/{id}"), "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            let last = if c.p.sees_hidden_fields() { existing.last_login_at } else { None };
            form_page(&st, &c, Shown { f: fe, last_login: last, ..Shown::new(Some(id), form) }, None).await
        }
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

pub async fn set_password(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    axum::extract::Form(f): axum::extract::Form<PasswordForm>,
) -> Result<Response, HttpError> {
    let u = load(&st, &c, id).await?;
    match users::set_password(&st.db, &c.actor(), st.now(), id, &f.password, c.p.session_hash.as_deref()).await {
        Ok(()) => Ok(redirect_notice(&format!("/admin/users/{id}"), "notice.password_set")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            form_page(&st, &c, Shown { pw: fe, ..Shown::new(Some(id), to_form(&u)) }, None).await
        }
    }
}

/// Resets the user's second factor (a lost phone): they enrol again; their sessions end.
pub async fn reset_two_factor(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let u = load(&st, &c, id).await?;
    match totp::reset(&st.db, &c.actor(), st.now(), id).await {
        Ok(()) => Ok(redirect_notice(&format!("/admin/users/{id}"), "notice.two_factor_reset")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            form_page(&st, &c, Shown { f: fe, ..Shown::new(Some(id), to_form(&u)) }, None).await
        }
    }
}

pub async fn history(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let u = load(&st, &c, id).await?;
    super::history_page(&st, &c, "user", id, u.name, format!("/admin/users/{id}"), "admin.users").await
}
