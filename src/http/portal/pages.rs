//! The portal user's pages: login and links, home, requests (list, detail, new, documents),
//! planning with calendar files and a personal feed, equipment, account and colleagues.
//! Every read goes through `portal::store` with the organisation of the session.

use askama::Template;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{clear_session_cookie, session_cookie, MaybePortal, PortalCtx, PortalPage};
use crate::clock::Span;
use crate::error::{Error, FieldErrors};
use crate::http::auth::{self, constant_time_eq};
use crate::http::error::HttpError;
use crate::http::pages::{render, FormErrors};
use crate::http::{redirect_notice, AppState};
use crate::i18n::{Lang, Tr};
use crate::identity::{password, throttle};
use crate::portal::accounts::{self, Purpose};
use crate::portal::store::{self, Filter, NewRequest, RequestSummary, Visit};
use crate::portal::{session, Account, Status};
use crate::service::documents::Document;
use crate::service::equipment::{Equipment, Line};
use crate::service::store::RequestUpdate;
use crate::service::ServiceRequest;

/// The double-submit cookie of the portal's public forms (login, reset, links).
const FORM_COOKIE: &str = "carnet_portal_form";

fn form_errors(tr: Tr, e: Error) -> Result<FormErrors, HttpError> {
    match e {
        Error::Validation(f) | Error::Conflict(f) => Ok(FormErrors::from(f, tr)),
        Error::InvalidState { reason } => Ok(FormErrors::general(tr, reason)),
        other => Err(other.into()),
    }
}

fn with_status(mut resp: Response, status: StatusCode) -> Response {
    *resp.status_mut() = status;
    resp
}

/// Renders a public portal form with a fresh double-submit token (cookie + hidden field).
fn public_form(st: &AppState, page: impl Template, token: &str, tr: Tr, status: StatusCode) -> Response {
    let mut resp = with_status(render(page), status);
    let secure = if st.config.cookies_secure() { "; Secure" } else { "" };
    if let Ok(v) = format!("{FORM_COOKIE}={token}; Path=/portal; HttpOnly; SameSite=Strict{secure}").parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    if let Ok(v) = format!("{}={}; Path=/; SameSite=Lax; Max-Age=31536000{secure}", auth::LANG_COOKIE, tr.0.code()).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn form_token_ok(headers: &HeaderMap, given: &str) -> bool {
    let cookie = auth::cookie(headers, FORM_COOKIE).unwrap_or_default();
    !cookie.is_empty() && constant_time_eq(&cookie, given)
}

/// After login: a portal path only.
fn portal_next(next: Option<&str>) -> String {
    let n = crate::http::pages::safe_next(next);
    if n == "/portal" || n.starts_with("/portal/") || n.starts_with("/portal?") {
        n
    } else {
        "/portal".into()
    }
}

// ------------------------------------------------------------------ login, logout, language

#[derive(Template)]
#[template(path = "portal/login.html")]
struct LoginPage {
    c: PortalPage,
    email: String,
    next: String,
    error: Option<String>,
    token: String,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

fn login_response(
    st: &AppState,
    tr: Tr,
    request_id: &str,
    email: String,
    next: String,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let token = crate::identity::session::new_secret();
    let page = LoginPage { c: PortalPage::anonymous(tr, "portal.login_title", request_id), email, next, error, token: token.clone() };
    public_form(st, page, &token, tr, status)
}

pub async fn login_page(State(st): State<AppState>, m: MaybePortal, Query(q): Query<LoginQuery>) -> Response {
    if m.u.is_some() {
        return Redirect::to(&portal_next(q.next.as_deref())).into_response();
    }
    let tr = q.lang.as_deref().and_then(Lang::parse).map(Tr).unwrap_or(m.tr);
    let mut page_notice = None;
    if let Some(n) = q.notice.as_deref().filter(|n| n.starts_with("notice.") && n.len() < 60) {
        let t = tr.t(n);
        if t != n {
            page_notice = Some(t);
        }
    }
    let token = crate::identity::session::new_secret();
    let mut c = PortalPage::anonymous(tr, "portal.login_title", &m.request_id);
    c.notice = page_notice;
    let page = LoginPage { c, email: String::new(), next: portal_next(q.next.as_deref()), error: None, token: token.clone() };
    public_form(&st, page, &token, tr, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    token: String,
}

/// Portal login: its own throttle keys (`portal:` + address, `portal:` + email), counted
/// before the password is verified, the same work whether or not the account exists.
pub async fn login_submit(
    State(st): State<AppState>,
    m: MaybePortal,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, HttpError> {
    let tr = m.tr;
    let next = portal_next(f.next.as_deref());
    let fail =
        |key: &str, status: StatusCode| login_response(&st, tr, &m.request_id, f.email.clone(), next.clone(), Some(tr.t(key)), status);
    if !form_token_ok(&headers, &f.token) {
        return Ok(fail("error.csrf", StatusCode::FORBIDDEN));
    }
    let now = st.now();
    let email = f.email.trim().to_lowercase();
    let address_key = format!("portal:{}", m.ip);
    let account_key = format!("portal:{email}");
    let per_account = st.config.login_max_failures_per_account;
    let per_address = st.config.login_max_failures_per_address;
    let wait = throttle::take_address_then_account(&st.db, now, &address_key, &account_key, per_address, per_account).await?;
    if let Some(ms) = wait {
        throttle::count_throttled("portal");
        let mut resp = fail("error.rate_limited", StatusCode::TOO_MANY_REQUESTS);
        if let Ok(v) = ((ms + 999) / 1000).to_string().parse() {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(resp);
    }
    // An account may log in only when active and its customer's portal is open.
    let found = accounts::for_login(&st.db, &email).await?;
    let (id, ok) = match found {
        Some((id, Some(hash), true)) => (Some(id), password::verify_blocking(f.password.clone(), hash).await?),
        _ => {
            let _ = password::verify_blocking(f.password.clone(), password::dummy_hash().to_string()).await;
            (None, false)
        }
    };
    let Some(id) = id.filter(|_| ok) else {
        throttle::count_failure("portal");
        return Ok(fail("login.invalid", StatusCode::UNAUTHORIZED));
    };
    throttle::clear(&st.db, throttle::Key::Account(&account_key)).await?;
    throttle::refund(&st.db, now, throttle::Key::Address(&address_key), per_address).await?;
    if let Some(old) = auth::cookie(&headers, super::cookie_name(&st.config)) {
        session::end(&st.db, &crate::identity::session::hash_secret(&old)).await?;
    }
    let max_ms = st.config.session_max_hours * 3_600_000;
    let s = session::create(&st.db, id, now, max_ms, &m.ip, &m.user_agent).await?;
    let mut resp = Redirect::to(&next).into_response();
    if let Ok(v) = session_cookie(&st.config, &s.secret, max_ms / 1000).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

pub async fn logout(State(st): State<AppState>, c: PortalCtx) -> Result<Response, HttpError> {
    session::end(&st.db, &c.u.session_hash).await?;
    let mut resp = redirect_notice("/portal/login", "notice.logged_out");
    if let Ok(v) = clear_session_cookie(&st.config).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct LanguageForm {
    lang: String,
    #[serde(default)]
    next: Option<String>,
}

/// Switches the language: a cookie, and the account's language when logged in.
pub async fn set_language(State(st): State<AppState>, m: MaybePortal, Form(f): Form<LanguageForm>) -> Result<Response, HttpError> {
    let lang = Lang::parse(&f.lang).ok_or_else(|| Error::validation("lang", "error.invalid_choice"))?;
    if let Some(u) = &m.u {
        accounts::set_language(&st.db, &u.actor(&m.request_id), st.now(), u.account_id, lang).await?;
    }
    let mut resp = Redirect::to(&portal_next(f.next.as_deref())).into_response();
    let secure = if st.config.cookies_secure() { "; Secure" } else { "" };
    if let Ok(v) = format!("{}={}; Path=/; SameSite=Lax; Max-Age=31536000{secure}", auth::LANG_COOKIE, lang.code()).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

// ------------------------------------------------------------------ password links

#[derive(Template)]
#[template(path = "portal/forgot.html")]
struct ForgotPage {
    c: PortalPage,
    email: String,
    sent: bool,
    error: Option<String>,
    token: String,
}

pub async fn forgot_page(State(st): State<AppState>, m: MaybePortal) -> Response {
    let token = crate::identity::session::new_secret();
    let page = ForgotPage {
        c: PortalPage::anonymous(m.tr, "portal.forgot_title", &m.request_id),
        email: String::new(),
        sent: false,
        error: None,
        token: token.clone(),
    };
    public_form(&st, page, &token, m.tr, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    token: String,
}

/// Sends a reset link if an active account has this address; answers the same either way,
/// and is throttled like the login (per address and per email).
pub async fn forgot_submit(
    State(st): State<AppState>,
    m: MaybePortal,
    headers: HeaderMap,
    Form(f): Form<ForgotForm>,
) -> Result<Response, HttpError> {
    let token = crate::identity::session::new_secret();
    let page = |sent: bool, error: Option<String>| ForgotPage {
        c: PortalPage::anonymous(m.tr, "portal.forgot_title", &m.request_id),
        email: f.email.clone(),
        sent,
        error,
        token: token.clone(),
    };
    if !form_token_ok(&headers, &f.token) {
        return Ok(public_form(&st, page(false, Some(m.tr.t("error.csrf"))), &token, m.tr, StatusCode::FORBIDDEN));
    }
    let now = st.now();
    let email = f.email.trim().to_lowercase();
    let address_key = format!("portal-reset:{}", m.ip);
    let account_key = format!("portal-reset:{email}");
    let limited =
        throttle::take(&st.db, now, throttle::Key::Address(&address_key), st.config.login_max_failures_per_address).await?.is_some()
            || throttle::take(&st.db, now, throttle::Key::Account(&account_key), 3).await?.is_some();
    if limited {
        return Ok(public_form(&st, page(false, Some(m.tr.t("error.rate_limited"))), &token, m.tr, StatusCode::TOO_MANY_REQUESTS));
    }
    if crate::identity::Email::parse(&email).is_ok() {
        accounts::request_reset(&st.db, now, &email).await?;
    }
    Ok(public_form(&st, page(true, None), &token, m.tr, StatusCode::OK))
}

#[derive(Template)]
#[template(path = "portal/set_password.html")]
struct SetPasswordPage {
    c: PortalPage,
    action: String,
    live: bool,
    welcome: bool,
    errors: FormErrors,
    token: String,
}

fn kind_of(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Invite => "welcome",
        Purpose::Reset => "reset",
    }
}

pub async fn welcome_page(st: State<AppState>, m: MaybePortal, Path(secret): Path<String>) -> Result<Response, HttpError> {
    link_page(st, m, Purpose::Invite, secret).await
}

pub async fn reset_page(st: State<AppState>, m: MaybePortal, Path(secret): Path<String>) -> Result<Response, HttpError> {
    link_page(st, m, Purpose::Reset, secret).await
}

pub async fn welcome_submit(
    st: State<AppState>,
    m: MaybePortal,
    headers: HeaderMap,
    Path(secret): Path<String>,
    f: Form<SetPasswordForm>,
) -> Result<Response, HttpError> {
    link_submit(st, m, headers, Purpose::Invite, secret, f).await
}

pub async fn reset_submit(
    st: State<AppState>,
    m: MaybePortal,
    headers: HeaderMap,
    Path(secret): Path<String>,
    f: Form<SetPasswordForm>,
) -> Result<Response, HttpError> {
    link_submit(st, m, headers, Purpose::Reset, secret, f).await
}

/// `/portal/welcome/{secret}` and `/portal/reset/{secret}`: choose a password.
async fn link_page(State(st): State<AppState>, m: MaybePortal, purpose: Purpose, secret: String) -> Result<Response, HttpError> {
    let kind = kind_of(purpose);
    let live = accounts::link_is_live(&st.db, st.now(), &secret, purpose).await?;
    let token = crate::identity::session::new_secret();
    let page = SetPasswordPage {
        c: PortalPage::anonymous(
            m.tr,
            if purpose == Purpose::Invite { "portal.welcome_title" } else { "portal.reset_title" },
            &m.request_id,
        ),
        action: format!("/portal/{kind}/{secret}"),
        live,
        welcome: purpose == Purpose::Invite,
        errors: FormErrors::none(),
        token: token.clone(),
    };
    Ok(public_form(&st, page, &token, m.tr, if live { StatusCode::OK } else { StatusCode::GONE }))
}

#[derive(Deserialize)]
pub struct SetPasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    token: String,
}

async fn link_submit(
    State(st): State<AppState>,
    m: MaybePortal,
    headers: HeaderMap,
    purpose: Purpose,
    secret: String,
    Form(f): Form<SetPasswordForm>,
) -> Result<Response, HttpError> {
    let kind = kind_of(purpose);
    let token = crate::identity::session::new_secret();
    let page = |live: bool, errors: FormErrors| SetPasswordPage {
        c: PortalPage::anonymous(
            m.tr,
            if purpose == Purpose::Invite { "portal.welcome_title" } else { "portal.reset_title" },
            &m.request_id,
        ),
        action: format!("/portal/{kind}/{secret}"),
        live,
        welcome: purpose == Purpose::Invite,
        errors,
        token: token.clone(),
    };
    if !form_token_ok(&headers, &f.token) {
        return Ok(public_form(&st, page(true, FormErrors::general(m.tr, "error.csrf")), &token, m.tr, StatusCode::FORBIDDEN));
    }
    if f.password != f.confirm {
        let errs = FormErrors::from(FieldErrors::single("confirm", "error.password_mismatch"), m.tr);
        return Ok(public_form(&st, page(true, errs), &token, m.tr, StatusCode::UNPROCESSABLE_ENTITY));
    }
    let now = st.now();
    match accounts::set_password_by_link(&st.db, now, &secret, purpose, &f.password).await {
        Ok(a) => {
            // Logged in straight away.
            let max_ms = st.config.session_max_hours * 3_600_000;
            let s = session::create(&st.db, a.id, now, max_ms, &m.ip, &m.user_agent).await?;
            let mut resp = redirect_notice("/portal", "notice.portal_password_set");
            if let Ok(v) = session_cookie(&st.config, &s.secret, max_ms / 1000).parse() {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(resp)
        }
        Err(Error::InvalidState { .. }) => Ok(public_form(&st, page(false, FormErrors::none()), &token, m.tr, StatusCode::GONE)),
        Err(e) => {
            let errs = form_errors(m.tr, e)?;
            Ok(public_form(&st, page(true, errs), &token, m.tr, StatusCode::UNPROCESSABLE_ENTITY))
        }
    }
}

// ------------------------------------------------------------------ home

#[derive(Template)]
#[template(path = "portal/home.html")]
struct HomePage {
    c: PortalPage,
    open: Vec<RequestSummary>,
    /// All the organisation's open requests (the list shows the latest few).
    open_count: i64,
    visits: Vec<Visit>,
    unread: i64,
    types: Vec<(String, String)>,
}

impl HomePage {
    fn kind(&self, code: &str) -> String {
        label(&self.types, code)
    }
}

fn label(items: &[(String, String)], code: &str) -> String {
    items.iter().find(|(c, _)| c == code).map(|(_, l)| l.clone()).unwrap_or_else(|| code.to_string())
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

pub async fn home(State(st): State<AppState>, c: PortalCtx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    let (open, _) = store::requests(&st.db, &c.u, &Filter::default(), 10).await?;
    let unread = store::unread_count(&st.db, &c.u).await?;
    let open_count = store::open_count(&st.db, c.u.customer_id).await?;
    let now = st.now();
    let visits = store::planning(&st.db, c.u.customer_id, c.u.zone.day_start(now), now + 90 * 86_400_000, 5).await?;
    let types = all_types(&st, c.tr.0).await?;
    Ok(render(HomePage {
        c: PortalPage::new(&c, "/portal", "portal.home_title").with_notice(q.notice.as_deref()),
        open,
        open_count,
        visits,
        unread,
        types,
    }))
}

/// Every request type's label (a request may have a type the portal no longer offers).
async fn all_types(st: &AppState, lang: Lang) -> Result<Vec<(String, String)>, HttpError> {
    Ok(crate::lists::items(&st.db, "request_type", true).await?.iter().map(|t| (t.code.clone(), t.label(&lang).to_string())).collect())
}

// ------------------------------------------------------------------ requests

#[derive(Template)]
#[template(path = "portal/requests.html")]
struct RequestsPage {
    c: PortalPage,
    rows: Vec<RequestSummary>,
    closed: bool,
    q: String,
    next: Option<i64>,
    types: Vec<(String, String)>,
}

impl RequestsPage {
    fn kind(&self, code: &str) -> String {
        label(&self.types, code)
    }
    fn next_href(&self, before: &i64) -> String {
        let mut s = format!("/portal/requests?before={before}");
        if self.closed {
            s.push_str("&closed=1");
        }
        if !self.q.is_empty() {
            s.push_str(&format!("&q={}", auth::urlencode(&self.q)));
        }
        s
    }
}

#[derive(Deserialize)]
pub struct RequestsQuery {
    #[serde(default)]
    closed: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    before: Option<i64>,
}

pub async fn requests(State(st): State<AppState>, c: PortalCtx, Query(q): Query<RequestsQuery>) -> Result<Response, HttpError> {
    let closed = q.closed.as_deref().is_some_and(|v| v == "1" || v == "true");
    let text = q.q.unwrap_or_default();
    if text.chars().count() > 100 {
        return Err(Error::validation("q", "error.too_long").into());
    }
    let f = Filter { closed, q: Some(text.clone()), before: q.before };
    let (rows, more) = store::requests(&st.db, &c.u, &f, store::PAGE).await?;
    let next = if more { rows.last().map(|r| r.id) } else { None };
    let types = all_types(&st, c.tr.0).await?;
    Ok(render(RequestsPage { c: PortalPage::new(&c, "/portal/requests", "portal.requests_title"), rows, closed, q: text, next, types }))
}

#[derive(Template)]
#[template(path = "portal/request.html")]
pub struct RequestPage {
    pub c: PortalPage,
    pub r: ServiceRequest,
    pub updates: Vec<RequestUpdate>,
    pub visits: Vec<Visit>,
    pub lines: Vec<Line>,
    pub documents: Vec<Document>,
    pub history: Vec<store::Event>,
    pub types: Vec<(String, String)>,
    pub symptoms: Vec<(String, String)>,
    pub upload_error: Option<String>,
    /// The conversation with our team, when enabled: its messages, whether it is closed (and
    /// why), the message being written and its errors.
    pub messages: Option<Vec<crate::service::messages::Message>>,
    pub blocked: Option<Option<String>>,
    pub draft: String,
    pub message_errors: FormErrors,
}

impl RequestPage {
    fn kind(&self, code: &str) -> String {
        label(&self.types, code)
    }
    fn symptom(&self, code: &Option<String>) -> String {
        code.as_deref().map(|s| label(&self.symptoms, s)).unwrap_or_else(|| "—".into())
    }
    fn event(&self, e: &store::Event) -> String {
        let tr = self.c.tr;
        match (e.action.as_str(), e.field.as_deref()) {
            ("created", _) => tr.t("portal.event_created"),
            (_, Some("status")) => format!(
                "{} {}",
                tr.t("portal.event_status"),
                e.new_value.as_deref().map(|v| tr.tp("service.status_", v)).unwrap_or_default()
            ),
            (_, Some("equipment")) => {
                format!("{} {}", tr.t("portal.event_equipment"), e.new_value.as_deref().or(e.old_value.as_deref()).unwrap_or_default())
            }
            _ => e.action.clone(),
        }
    }
}

/// The request page as its customer sees it (also the staff preview, read-only).
pub async fn request_page(
    st: &AppState,
    c: PortalPage,
    customer_id: i64,
    id: i64,
    upload_error: Option<String>,
) -> Result<RequestPage, HttpError> {
    let r = store::request(&st.db, customer_id, id).await?.ok_or(Error::NotFound)?;
    let lang = c.tr.0;
    let (_, symptoms) = store::choices(&st.db, lang).await?;
    let (messages, blocked) = if crate::service::messages::enabled(&st.db).await? {
        let mut conn = st.db.pool.acquire().await?;
        let (b, note) = crate::service::messages::blocked(&mut conn, id).await?;
        drop(conn);
        (Some(crate::service::messages::list(&st.db, id, true).await?), b.then_some(note))
    } else {
        (None, None)
    };
    Ok(RequestPage {
        messages,
        blocked,
        draft: String::new(),
        message_errors: FormErrors::none(),
        updates: store::updates(&st.db, id).await?,
        visits: store::visits_of_request(&st.db, customer_id, id).await?,
        lines: store::lines(&st.db, id).await?,
        documents: store::documents(&st.db, id).await?,
        history: store::history(&st.db, id).await?,
        types: all_types(st, lang).await?,
        symptoms,
        r,
        c,
        upload_error,
    })
}

pub async fn request(
    State(st): State<AppState>,
    c: PortalCtx,
    Path(id): Path<i64>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, HttpError> {
    let mut page = PortalPage::new(&c, "/portal/requests", "portal.request_title").with_notice(q.notice.as_deref());
    let r = store::request(&st.db, c.u.customer_id, id).await?.ok_or(Error::NotFound)?;
    page.title = r.number.clone();
    let page = request_page(&st, page, c.u.customer_id, id, None).await?;
    store::mark_read(&st.db, c.u.account_id, id, st.now()).await?;
    Ok(render(page))
}

/// A file of the customer's own, added to one of their requests (checked like staff uploads).
pub async fn upload(State(st): State<AppState>, c: PortalCtx, Path(id): Path<i64>, mut mp: Multipart) -> Result<Response, HttpError> {
    store::request(&st.db, c.u.customer_id, id).await?.ok_or(Error::NotFound)?;
    let max = st.config.max_document_bytes;
    let res = match crate::http::api::service::read_upload(&mut mp, max).await {
        Ok((name, bytes, _)) => {
            crate::service::documents::upload_from_portal(&st.db, &st.storage, &c.actor(), st.now(), id, &name, bytes, c.u.account_id, max)
                .await
        }
        Err(e) => Err(e.0),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/portal/requests/{id}#documents"), "notice.document_added")),
        Err(e) => {
            let fe = form_errors(c.tr, e)?;
            let msg = fe.err("file").or(fe.general.clone()).unwrap_or_else(|| c.tr.t("form.fix_errors"));
            let page =
                request_page(&st, PortalPage::new(&c, "/portal/requests", "portal.request_title"), c.u.customer_id, id, Some(msg)).await?;
            Ok(with_status(render(page), StatusCode::UNPROCESSABLE_ENTITY))
        }
    }
}

/// A message to our team, on one of the organisation's requests, with files (multipart) or not.
pub async fn post_message(
    State(st): State<AppState>,
    c: PortalCtx,
    Path(id): Path<i64>,
    req: axum::extract::Request,
) -> Result<Response, HttpError> {
    use crate::service::messages::{self, Author};
    store::request(&st.db, c.u.customer_id, id).await?.ok_or(Error::NotFound)?;
    if !messages::enabled(&st.db).await? {
        return Err(Error::NotFound.into());
    }
    let author = Author::Portal { account_id: c.u.account_id, name: c.u.name.clone(), email: c.u.email.clone() };
    let mut body = String::new();
    let res = async {
        let f = crate::http::form::FormWithFiles::read(req, "files").await?;
        body = f.pairs.text("body");
        let files = messages::check_files(f.files, st.config.max_document_bytes)?;
        messages::post_with_files(&st.db, &st.storage, &c.actor(), st.now(), id, &author, &body, false, files, 0).await
    }
    .await;
    match res {
        Ok(m) => Ok(redirect_notice(&format!("/portal/requests/{id}#message-{}", m.id), "notice.message_sent")),
        Err(e) => {
            let fe = form_errors(c.tr, e)?;
            let mut page =
                request_page(&st, PortalPage::new(&c, "/portal/requests", "portal.request_title"), c.u.customer_id, id, None).await?;
            page.draft = body;
            page.message_errors = fe;
            Ok(with_status(render(page), StatusCode::UNPROCESSABLE_ENTITY))
        }
    }
}

pub async fn document(State(st): State<AppState>, c: PortalCtx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let d = store::document(&st.db, c.u.customer_id, id).await?.ok_or(Error::NotFound)?;
    crate::http::api::service::download_response(&st, &d).await
}

// ------------------------------------------------------------------ a new request

#[derive(Template)]
#[template(path = "portal/new_request.html")]
struct NewRequestPage {
    c: PortalPage,
    f: NewRequest,
    types: Vec<(String, String)>,
    symptoms: Vec<(String, String)>,
    equipment: Vec<Equipment>,
    errors: FormErrors,
}

impl NewRequestPage {
    fn picked(&self, id: &i64) -> bool {
        self.f.equipment.iter().any(|(e, _)| e == id)
    }
    fn picked_symptom(&self, id: &i64, code: &str) -> bool {
        self.f.equipment.iter().any(|(e, s)| e == id && s.as_deref() == Some(code))
    }
}

async fn new_request_page(st: &AppState, c: &PortalCtx, f: NewRequest, errors: FormErrors) -> Result<NewRequestPage, HttpError> {
    let (types, symptoms) = store::choices(&st.db, c.tr.0).await?;
    let equipment = store::equipment(&st.db, c.u.customer_id).await?;
    Ok(NewRequestPage { c: PortalPage::new(c, "/portal/requests", "portal.new_request_title"), f, types, symptoms, equipment, errors })
}

pub async fn new_request(State(st): State<AppState>, c: PortalCtx) -> Result<Response, HttpError> {
    Ok(render(new_request_page(&st, &c, NewRequest::default(), FormErrors::none()).await?))
}

/// The new-request form (multipart: its fields and any attachments). The request and its
/// lines are one transaction; the attachments follow, each checked like staff uploads (a
/// refused file is said on the request page, the request stays).
pub async fn create_request(State(st): State<AppState>, c: PortalCtx, mut mp: Multipart) -> Result<Response, HttpError> {
    let max = st.config.max_document_bytes;
    let mut f = NewRequest::default();
    let mut picked: Vec<i64> = Vec::new();
    let mut line_symptoms: Vec<(i64, String)> = Vec::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut errs = FieldErrors::new();
    loop {
        let field = match mp.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return Err(Error::validation("file", "error.too_large").into()),
        };
        let name = field.name().unwrap_or_default().to_string();
        if name == "files" {
            let filename = field.file_name().unwrap_or_default().to_string();
            let bytes = field.bytes().await.map_err(|_| Error::validation("files", "error.too_large"))?;
            if bytes.is_empty() && filename.is_empty() {
                continue;
            }
            if bytes.len() > max {
                errs.add("files", "error.too_large");
            } else if let Err(r) = crate::service::documents::check_name(&filename) {
                errs.add("files", r);
            } else if files.len() >= 10 {
                errs.add("files", "error.too_many_files");
            } else {
                files.push((filename, bytes.to_vec()));
            }
            continue;
        }
        let text = field.text().await.map_err(|_| Error::validation(name.clone(), "error.invalid_choice"))?;
        if crate::http::request::has_control_char(&text) {
            errs.add(&name, "error.control_char");
            continue;
        }
        match name.as_str() {
            "request_type" => f.request_type = text,
            "symptom" => f.symptom = Some(text).filter(|s| !s.trim().is_empty()),
            "description" => f.description = text,
            "equipment" => match text.parse() {
                Ok(id) => picked.push(id),
                Err(_) => errs.add("equipment", "error.invalid_choice"),
            },
            other => {
                if let Some(id) = other.strip_prefix("symptom_").and_then(|s| s.parse::<i64>().ok()) {
                    if !text.trim().is_empty() {
                        line_symptoms.push((id, text));
                    }
                }
            }
        }
    }
    f.equipment = picked.iter().map(|id| (*id, line_symptoms.iter().find(|(e, _)| e == id).map(|(_, s)| s.clone()))).collect();
    if !errs.is_empty() {
        let page = new_request_page(&st, &c, f, FormErrors::from(errs, c.tr)).await?;
        return Ok(with_status(render(page), StatusCode::UNPROCESSABLE_ENTITY));
    }
    let now = st.now();
    let r = match store::create_request(&st.db, &c.u, &c.actor(), now, &f).await {
        Ok(r) => r,
        Err(e) => {
            let fe = form_errors(c.tr, e)?;
            let page = new_request_page(&st, &c, f, fe).await?;
            return Ok(with_status(render(page), StatusCode::UNPROCESSABLE_ENTITY));
        }
    };
    for (name, bytes) in files {
        crate::service::documents::upload_from_portal(&st.db, &st.storage, &c.actor(), now, r.id, &name, bytes, c.u.account_id, max)
            .await?;
    }
    Ok(redirect_notice(&format!("/portal/requests/{}", r.id), "notice.portal_request_created"))
}

// ------------------------------------------------------------------ planning and calendars

#[derive(Template)]
#[template(path = "portal/planning.html")]
struct PlanningPage {
    c: PortalPage,
    visits: Vec<Visit>,
    week_label: String,
    prev: String,
    next: String,
}

#[derive(Deserialize)]
pub struct PlanningQuery {
    #[serde(default)]
    week: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

pub async fn planning(State(st): State<AppState>, c: PortalCtx, Query(q): Query<PlanningQuery>) -> Result<Response, HttpError> {
    let zone = c.u.zone;
    let day = match q.week.as_deref().filter(|w| !w.is_empty()) {
        Some(w) => chrono::NaiveDate::parse_from_str(w, "%Y-%m-%d").map_err(|_| Error::validation("week", "error.invalid_datetime"))?,
        None => zone.local(st.now()).date(),
    };
    let w = zone.window(day, Span::Week);
    let visits = store::planning(&st.db, c.u.customer_id, w.from, w.to, 500).await?;
    let first = w.days.first().copied().unwrap_or(day);
    let last = w.days.last().copied().unwrap_or(day);
    let page = PlanningPage {
        c: PortalPage::new(&c, "/portal/planning", "portal.planning_title").with_notice(q.notice.as_deref()),
        visits,
        week_label: format!("{} – {}", first.format("%Y-%m-%d"), last.format("%Y-%m-%d")),
        prev: (first - chrono::Days::new(7)).format("%Y-%m-%d").to_string(),
        next: (first + chrono::Days::new(7)).format("%Y-%m-%d").to_string(),
    };
    Ok(render(page))
}

fn ics_event(v: &Visit, tr: Tr, org: &str) -> crate::mail::ics::Event {
    let organizer = crate::mail::Mailbox { name: Some("Carnet".into()), email: "no-reply@carnet.invalid".into() };
    crate::mail::ics::Event {
        uid: format!("intervention-{}@carnet", v.id),
        sequence: 0,
        start: v.start_at,
        end: v.end_at,
        summary: format!("{} {} · {}", tr.t("portal.intervention"), v.number, v.request_number),
        description: format!("{org}\n{}: {}", tr.t("portal.technicians"), v.technicians.join(", ")),
        location: v.place.clone(),
        organizer,
        attendees: Vec::new(),
    }
}

fn calendar_response(body: String, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=UTF-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        body,
    )
        .into_response()
}

/// One intervention as an `.ics` file.
pub async fn visit_ics(State(st): State<AppState>, c: PortalCtx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let v = store::visit(&st.db, c.u.customer_id, id).await?.ok_or(Error::NotFound)?;
    let body = crate::mail::ics::publish(&[ics_event(&v, c.tr, &c.u.customer_name)], st.now());
    Ok(calendar_response(body, &format!("{}.ics", v.number)))
}

/// The personal feed: the organisation's interventions from 30 days ago to a year ahead, by a
/// secret address (no session: calendar apps fetch it). An unknown or revoked secret is a 404.
pub async fn calendar_feed(State(st): State<AppState>, Path(secret): Path<String>) -> Result<Response, HttpError> {
    let secret = secret.strip_suffix(".ics").unwrap_or(&secret);
    let (customer_id, lang) = accounts::by_calendar(&st.db, secret).await?.ok_or(Error::NotFound)?;
    let now = st.now();
    let visits = store::planning(&st.db, customer_id, now - 30 * 86_400_000, now + 365 * 86_400_000, 2000).await?;
    let org: String =
        sqlx::query_scalar("SELECT display_name FROM customers WHERE id = $1").bind(customer_id).fetch_one(&st.db.pool).await?;
    let events: Vec<_> = visits.iter().map(|v| ics_event(v, Tr(lang), &org)).collect();
    Ok(calendar_response(crate::mail::ics::publish(&events, now), "carnet.ics"))
}

// ------------------------------------------------------------------ equipment

#[derive(Template)]
#[template(path = "portal/equipment.html")]
struct EquipmentPage {
    c: PortalPage,
    items: Vec<Equipment>,
}

pub async fn equipment(State(st): State<AppState>, c: PortalCtx) -> Result<Response, HttpError> {
    let items = store::equipment(&st.db, c.u.customer_id).await?;
    Ok(render(EquipmentPage { c: PortalPage::new(&c, "/portal/equipment", "portal.equipment_title"), items }))
}

#[derive(Template)]
#[template(path = "portal/equipment_item.html")]
struct EquipmentItemPage {
    c: PortalPage,
    e: Equipment,
    requests: Vec<(i64, String, String, i64)>,
}

pub async fn equipment_item(State(st): State<AppState>, c: PortalCtx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let (e, requests) = store::equipment_item(&st.db, c.u.customer_id, id).await?.ok_or(Error::NotFound)?;
    let mut page = PortalPage::new(&c, "/portal/equipment", "portal.equipment_title");
    page.title = format!("{} {}", e.model, e.serial_number);
    Ok(render(EquipmentItemPage { c: page, e, requests }))
}

// ------------------------------------------------------------------ account

#[derive(Template)]
#[template(path = "portal/account.html")]
struct AccountPage {
    c: PortalPage,
    email: String,
    has_calendar: bool,
    /// The feed's address, shown once right after it is made.
    feed_url: Option<String>,
    errors: FormErrors,
    password_action: &'static str,
}

async fn account_page(
    st: &AppState,
    c: &PortalCtx,
    feed_url: Option<String>,
    errors: FormErrors,
    notice: Option<&str>,
) -> Result<AccountPage, HttpError> {
    let mut conn = st.db.pool.acquire().await?;
    let a = accounts::get(&mut conn, c.u.account_id).await?.ok_or(Error::NotFound)?;
    Ok(AccountPage {
        c: PortalPage::new(c, "", "portal.account_title").with_notice(notice),
        email: a.email,
        has_calendar: a.has_calendar,
        feed_url,
        errors,
        password_action: "/portal/account/password",
    })
}

pub async fn account(State(st): State<AppState>, c: PortalCtx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    Ok(render(account_page(&st, &c, None, FormErrors::none(), q.notice.as_deref()).await?))
}

/// The password change form of an outside user's account page (customer and partner portals).
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    pub current_password: String,
    #[serde(default)]
    pub new_password: String,
    #[serde(default)]
    pub confirm: String,
}

impl PasswordForm {
    /// The new password typed twice alike.
    pub fn confirmed(&self) -> Result<(), Error> {
        if self.new_password != self.confirm {
            return Err(Error::validation("confirm", "error.password_mismatch"));
        }
        Ok(())
    }
}

pub async fn change_password(State(st): State<AppState>, c: PortalCtx, Form(f): Form<PasswordForm>) -> Result<Response, HttpError> {
    let res = match f.confirmed() {
        Err(e) => Err(e),
        Ok(()) => {
            accounts::change_password(&st.db, &c.actor(), st.now(), c.u.account_id, &f.current_password, &f.new_password, &c.u.session_hash)
                .await
        }
    };
    match res {
        Ok(()) => Ok(redirect_notice("/portal/account", "notice.password_changed")),
        Err(e) => {
            let fe = form_errors(c.tr, e)?;
            Ok(with_status(render(account_page(&st, &c, None, fe, None).await?), StatusCode::UNPROCESSABLE_ENTITY))
        }
    }
}

pub async fn new_calendar(State(st): State<AppState>, c: PortalCtx) -> Result<Response, HttpError> {
    let secret = accounts::new_calendar(&st.db, &c.actor(), st.now(), c.u.account_id).await?;
    let base = crate::settings::get(&st.db, "mail.link_base_url").await?;
    let url = format!("{}/portal/calendar/{secret}.ics", base.trim_end_matches('/'));
    Ok(render(account_page(&st, &c, Some(url), FormErrors::none(), Some("notice.portal_calendar_created")).await?))
}

pub async fn revoke_calendar(State(st): State<AppState>, c: PortalCtx) -> Result<Response, HttpError> {
    accounts::revoke_calendar(&st.db, &c.actor(), st.now(), c.u.account_id).await?;
    Ok(redirect_notice("/portal/account", "notice.portal_calendar_revoked"))
}

// ------------------------------------------------------------------ colleagues

#[derive(Template)]
#[template(path = "portal/colleagues.html")]
struct ColleaguesPage {
    c: PortalPage,
    accounts: Vec<Account>,
    /// Contacts of the organisation with an address and no access yet: (id, name, email).
    invitable: Vec<(i64, String, String)>,
    me: i64,
    errors: FormErrors,
}

async fn colleagues_page(st: &AppState, c: &PortalCtx, errors: FormErrors, notice: Option<&str>) -> Result<ColleaguesPage, HttpError> {
    let accounts = accounts::of_customer(&st.db, c.u.customer_id).await?;
    let invitable = invitable_contacts(st, c.u.customer_id).await?;
    Ok(ColleaguesPage {
        c: PortalPage::new(c, "/portal/colleagues", "portal.colleagues_title").with_notice(notice),
        accounts,
        invitable,
        me: c.u.account_id,
        errors,
    })
}

/// Contacts of a customer with an email address and no portal account yet.
pub async fn invitable_contacts(st: &AppState, customer_id: i64) -> Result<Vec<(i64, String, String)>, HttpError> {
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT ct.id, ct.first_name, ct.last_name, ct.email FROM contacts ct WHERE ct.customer_id = $1 AND ct.email IS NOT NULL AND ct.email <> '' \
         AND NOT EXISTS (SELECT 1 FROM portal_accounts a WHERE a.customer_id = ct.customer_id AND a.contact_key = ct.id AND a.status <> 'invited') \
         ORDER BY ct.last_name, ct.first_name, ct.id LIMIT 500",
    )
    .bind(customer_id)
    .fetch_all(&st.db.pool)
    .await?;
    Ok(rows.into_iter().map(|(id, f, l, e)| (id, format!("{f} {l}").trim().to_string(), e)).collect())
}

fn must_invite(c: &PortalCtx) -> Result<(), HttpError> {
    if c.u.can_invite() {
        Ok(())
    } else {
        Err(Error::NotFound.into())
    }
}

pub async fn colleagues(State(st): State<AppState>, c: PortalCtx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    must_invite(&c)?;
    Ok(render(colleagues_page(&st, &c, FormErrors::none(), q.notice.as_deref()).await?))
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    contact_id: String,
}

/// A portal administrator invites a colleague: a contact of their own organisation only.
pub async fn invite_colleague(State(st): State<AppState>, c: PortalCtx, Form(f): Form<InviteForm>) -> Result<Response, HttpError> {
    must_invite(&c)?;
    let res = match f.contact_id.trim().parse::<i64>() {
        Ok(id) => accounts::invite(&st.db, &c.actor(), st.now(), c.u.customer_id, Some(id), false).await.map(|_| ()),
        Err(_) => Err(Error::validation("contact_id", "error.required")),
    };
    match res {
        Ok(()) => Ok(redirect_notice("/portal/colleagues", "notice.portal_invited")),
        Err(e) => {
            let fe = form_errors(c.tr, e)?;
            Ok(with_status(render(colleagues_page(&st, &c, fe, None).await?), StatusCode::UNPROCESSABLE_ENTITY))
        }
    }
}

/// Deactivates or reactivates a colleague's access (not one's own).
pub async fn colleague_status(
    State(st): State<AppState>,
    c: PortalCtx,
    Path((id, action)): Path<(i64, String)>,
) -> Result<Response, HttpError> {
    must_invite(&c)?;
    let to = match action.as_str() {
        "deactivate" => Status::Deactivated,
        "reactivate" => Status::Active,
        _ => return Err(Error::NotFound.into()),
    };
    accounts::get_of(&st.db, c.u.customer_id, id).await?.ok_or(Error::NotFound)?;
    if id == c.u.account_id {
        return Err(Error::InvalidState { reason: "error.portal_not_yourself" }.into());
    }
    accounts::set(&st.db, &c.actor(), st.now(), c.u.customer_id, id, Some(to), None).await?;
    Ok(redirect_notice("/portal/colleagues", "notice.saved"))
}
