//! The HTML UI: server-rendered pages (askama templates in `templates/`, compiled into the
//! binary). Handlers call the same domain functions as the JSON API.

pub mod account;
pub mod activity;
pub mod admin;
pub mod customers;
pub mod directory;
pub mod history;
pub mod imports;
pub mod inbound;
pub mod inbox;
pub mod presales;
pub mod reports;
pub mod sales;
pub mod schedule;
pub mod search;
pub mod service;
pub mod two_factor;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::{self, Ctx, MaybeCtx};
use super::error::HttpError;
use super::AppState;
use crate::access::Right;
use crate::error::{Error, FieldErrors};
use crate::i18n::{Lang, Tr};
use crate::identity::{password, session, throttle, totp, users};

/// A link of the main navigation.
pub struct NavItem {
    pub href: &'static str,
    pub label: String,
    pub active: bool,
}

/// What the layout (`templates/base.html`) needs on every page.
pub struct PageCtx {
    pub tr: Tr,
    pub title: String,
    pub user_name: Option<String>,
    pub csrf: String,
    pub request_id: String,
    pub nav: Vec<NavItem>,
    pub notice: Option<String>,
    /// The page shown, where the language switch returns (empty: the home page).
    pub here: String,
    /// The business's time zone: every time a person reads is local (`c.at(ms)`).
    pub zone: crate::clock::Zone,
    /// The bell's unread count (absent: no bell).
    pub unread: Option<i64>,
}

/// Sections of the main navigation: (href, message key, shown when the user holds any of
/// these rights — empty means every logged-in user). Modules add their section here.
const SECTIONS: &[(&str, &str, &[Right])] = &[
    ("/", "nav.home", &[]),
    ("/customers", "nav.customers", &[Right::CustomersRead]),
    ("/opportunities", "nav.opportunities", &[Right::OpportunitiesRead]),
    ("/calendar", "nav.calendar", &[Right::MeetingsRead]),
    ("/service/requests", "nav.service", &[Right::ServiceRequestsRead]),
    ("/presales", "nav.presales", &[Right::PresalesManage]),
    ("/reports", "nav.reports", &[Right::OpportunitiesRead, Right::ServiceRequestsRead]),
    ("/users", "nav.team", &[Right::UsersRead]),
    ("/partners", "nav.partners", &[Right::PartnersRead]),
    (
        "/admin",
        "nav.admin",
        &[
            Right::AdminUsers,
            Right::AdminRoles,
            Right::AdminOrg,
            Right::AdminGroups,
            Right::AdminLists,
            Right::AdminSettings,
            Right::AdminJobs,
            Right::AdminMail,
        ],
    ),
];

impl PageCtx {
    pub fn new(c: &Ctx, section: &str, title_key: &str) -> PageCtx {
        let nav = SECTIONS
            .iter()
            .filter(|(_, _, rights)| rights.is_empty() || rights.iter().any(|r| c.p.can(*r)))
            .map(|(href, key, _)| NavItem { href, label: c.tr.t(key), active: *href == section })
            .collect();
        PageCtx {
            tr: c.tr,
            title: c.tr.t(title_key),
            user_name: Some(c.p.name.clone()),
            csrf: c.p.csrf_token.clone().unwrap_or_default(),
            request_id: c.request_id.clone(),
            nav,
            notice: None,
            here: c.here.clone(),
            zone: c.p.zone,
            unread: c.unread,
        }
    }

    /// Shows a success message named by `notice=` in the query (only known `notice.*` keys).
    pub fn with_notice(mut self, notice: Option<&str>) -> PageCtx {
        if let Some(n) = notice.filter(|n| n.starts_with("notice.") && n.len() < 60) {
            let text = self.tr.t(n);
            if text != n {
                self.notice = Some(text);
            }
        }
        self
    }

    /// The bell's badge when something is unread: the count, "99+" above 99.
    pub fn unread_badge(&self) -> Option<String> {
        self.unread.filter(|n| *n > 0).map(crate::inbox::badge)
    }

    /// A stored time as people read it: `YYYY-MM-DD HH:MM` in the business's zone.
    pub fn at(&self, ms: &i64) -> String {
        self.zone.format(*ms)
    }
    /// [`PageCtx::at`], or "—" when there is no time.
    pub fn opt_at(&self, ms: &Option<i64>) -> String {
        ms.map(|m| self.zone.format(m)).unwrap_or_else(|| "—".into())
    }

    pub fn anonymous(tr: Tr, title_key: &str, request_id: &str) -> PageCtx {
        PageCtx {
            tr,
            title: tr.t(title_key),
            user_name: None,
            csrf: String::new(),
            request_id: request_id.to_string(),
            nav: Vec::new(),
            notice: None,
            here: String::new(),
            zone: crate::clock::Zone::default(),
            unread: None,
        }
    }
}

/// The message `prefix` + `code` in the user's language, when there is one (for coded values
/// shown in a history).
pub fn known_label(c: &Ctx, prefix: &str, code: &str) -> Option<String> {
    let key = format!("{prefix}{code}");
    Some(c.tr.t(&key)).filter(|t| *t != key)
}

/// How the user reads a history (their language, the business's zone), with `value_label`
/// for the coded values the page knows.
pub fn history_reader<'a>(c: &Ctx, value_label: &'a dyn Fn(&str, &str) -> Option<String>) -> crate::audit::Reader<'a> {
    crate::audit::Reader { lang: c.lang(), zone: c.p.zone, value_label }
}

/// Per-field errors of a form, translated, for templates: `f.cls("email")`, `f.err("email")`.
#[derive(Default)]
pub struct FormErrors {
    errs: FieldErrors,
    tr: Option<Tr>,
    /// A message for the whole form.
    pub general: Option<String>,
}

impl FormErrors {
    pub fn none() -> FormErrors {
        FormErrors::default()
    }
    pub fn from(errs: FieldErrors, tr: Tr) -> FormErrors {
        FormErrors { errs, tr: Some(tr), general: None }
    }
    pub fn general(tr: Tr, key: &str) -> FormErrors {
        FormErrors { errs: FieldErrors::new(), tr: Some(tr), general: Some(tr.t(key)) }
    }
    pub fn err(&self, field: &str) -> Option<String> {
        let tr = self.tr?;
        self.errs.get(field).map(|k| tr.t(k))
    }
    pub fn cls(&self, field: &str) -> &'static str {
        if self.errs.get(field).is_some() {
            "field has-error"
        } else {
            "field"
        }
    }
    pub fn any(&self) -> bool {
        !self.errs.is_empty() || self.general.is_some()
    }
}

/// Renders a template into a response (a rendering failure is a logged 500).
pub fn render(t: impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => HttpError::from(Error::internal(e)).into_response(),
    }
}

/// Splits a domain result for form handlers: validation and conflict errors go back to the
/// form, anything else becomes an error response.
pub fn form_error(c: &Ctx, e: Error) -> Result<FormErrors, HttpError> {
    match e {
        Error::Validation(f) | Error::Conflict(f) => Ok(FormErrors::from(f, c.tr)),
        Error::InvalidState { reason } => Ok(FormErrors::general(c.tr, reason)),
        other => Err(other.into()),
    }
}

/// [`form_error`] for pages without a staff context (the partner portal): the language alone.
pub fn form_error_tr(tr: Tr, e: Error) -> Result<FormErrors, HttpError> {
    match e {
        Error::Validation(f) | Error::Conflict(f) => Ok(FormErrors::from(f, tr)),
        Error::InvalidState { reason } => Ok(FormErrors::general(tr, reason)),
        other => Err(other.into()),
    }
}

pub use super::{notice_url, redirect_notice};

/// A select's value in a query string, for `#[serde(default, deserialize_with = "select_id")]`
/// on an `Option<Option<i64>>`: absent is `None`, the empty "—" option (`owner=`) is
/// `Some(None)`, "no filter", and an id is `Some(Some(id))`; anything else is a 400.
pub fn select_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    let s = String::deserialize(d)?;
    let s = s.trim();
    if s.is_empty() {
        return Ok(Some(None));
    }
    s.parse::<i64>().map(|v| Some(Some(v))).map_err(|_| serde::de::Error::custom("expected an id or nothing"))
}

/// A select's value in a query string where "—" (empty) means the same as absent:
/// `#[serde(default, deserialize_with = "blank_id")]` on an `Option<i64>`.
pub fn blank_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    select_id(d).map(Option::flatten)
}

/// A link that opens an address on a map (OpenStreetMap's search: no key, and a phone offers
/// its own maps application from there); empty for no address.
pub fn maps_link(address: &str) -> String {
    let one_line = address.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return String::new();
    }
    format!("https://www.openstreetmap.org/search?query={}", url::form_urlencoded::byte_serialize(one_line.as_bytes()).collect::<String>())
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../../static/app.css"),
    )
        .into_response()
}

pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../../static/app.js"),
    )
        .into_response()
}

pub async fn not_found() -> Response {
    HttpError::from(Error::NotFound).into_response()
}

// ---------------------------------------------------------------- login and logout

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: PageCtx,
    email: String,
    next: String,
    error: Option<String>,
    login_csrf: String,
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
}

const LOGIN_CSRF_COOKIE: &str = "carnet_login_csrf";

/// Where to go after login or a language switch: a same-site absolute path, normalised as a
/// browser would read it (dot segments resolved, non-ASCII percent-encoded), or the home page.
/// Anything a browser could read as another site is refused: `//host`, `/\\host`, a scheme,
/// control characters or spaces that browsers strip (`/\t/host`), and a path that only becomes
/// `//host` once normalised (`/..//host`, `/%2e%2e//host`, `/%2F%2Fhost`).
pub(crate) fn safe_next(next: Option<&str>) -> String {
    const HOME: &str = "/";
    let Some(n) = next else { return HOME.into() };
    if !n.starts_with('/')
        || n.starts_with("//")
        || n.contains('\\')
        || n.chars().any(|ch| ch.is_control() || ch.is_whitespace())
        || n.len() > 2000
    {
        return HOME.into();
    }
    // Resolved against a base of our own: the result must stay on that site.
    let Ok(base) = url::Url::parse("http://carnet.invalid/") else { return HOME.into() };
    let Ok(url) = base.join(n) else { return HOME.into() };
    if url.origin() != base.origin() {
        return HOME.into();
    }
    let path = url.path();
    let lower = path.to_ascii_lowercase();
    if path.starts_with("//") || ["/%2f", "/%5c"].iter().any(|p| lower.starts_with(p)) {
        return HOME.into();
    }
    let mut out = path.to_string();
    if let Some(q) = url.query() {
        out.push('?');
        out.push_str(q);
    }
    if let Some(f) = url.fragment() {
        out.push('#');
        out.push_str(f);
    }
    out
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
    let token = session::new_secret();
    let page = LoginPage { c: PageCtx::anonymous(tr, "login.title", request_id), email, next, error, login_csrf: token.clone() };
    let mut resp = render(page);
    *resp.status_mut() = status;
    let secure = if st.config.cookies_secure() { "; Secure" } else { "" };
    if let Ok(v) = format!("{LOGIN_CSRF_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict{secure}").parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    if let Ok(v) = format!("{}={}; Path=/; SameSite=Lax; Max-Age=31536000{secure}", auth::LANG_COOKIE, tr.0.code()).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// A refused attempt says how long to wait (`Retry-After`, whole seconds).
fn with_retry_after(mut resp: Response, wait_ms: i64) -> Response {
    if let Ok(v) = ((wait_ms + 999) / 1000).to_string().parse() {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

pub async fn login_page(State(st): State<AppState>, m: MaybeCtx, Query(q): Query<LoginQuery>) -> Response {
    if m.p.is_some() {
        return Redirect::to(&safe_next(q.next.as_deref())).into_response();
    }
    let tr = q.lang.as_deref().and_then(Lang::parse).map(Tr).unwrap_or(m.tr);
    login_response(&st, tr, &m.request_id, String::new(), safe_next(q.next.as_deref()), None, StatusCode::OK)
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
    login_csrf: String,
}

pub async fn login_submit(
    State(st): State<AppState>,
    m: MaybeCtx,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, HttpError> {
    let tr = m.tr;
    let next = safe_next(f.next.as_deref());
    let email = f.email.trim().to_lowercase();
    let fail =
        |key: &str, status: StatusCode| login_response(&st, tr, &m.request_id, f.email.clone(), next.clone(), Some(tr.t(key)), status);

    // Login CSRF: the form must echo the cookie set with it (double submit).
    let cookie_token = auth::cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if cookie_token.is_empty() || !auth::constant_time_eq(&cookie_token, &f.login_csrf) {
        return Ok(fail("error.csrf", StatusCode::FORBIDDEN));
    }
    let now = st.now();
    let user = users::by_email(&st.db, &email).await?;
    // A device this account logged in from before: its attempts count on the device alone, so
    // that failures made elsewhere never slow the user's own browser down.
    let device = match (&user, auth::cookie(&headers, throttle::devices::COOKIE)) {
        (Some(u), Some(secret)) => throttle::devices::known(&st.db, now, u.id, &secret).await?,
        _ => None,
    };
    let per_account = st.config.login_max_failures_per_account;
    let per_address = st.config.login_max_failures_per_address;
    // The attempt is counted before the password is verified (one statement per key), so that
    // simultaneous attempts cannot all be verified.
    let wait = match &device {
        Some(d) => throttle::take(&st.db, now, throttle::Key::Device(d), per_account).await?,
        None => throttle::take_address_then_account(&st.db, now, &m.ip, &email, per_address, per_account).await?,
    };
    if let Some(ms) = wait {
        throttle::count_throttled("staff");
        return Ok(with_retry_after(fail("error.rate_limited", StatusCode::TOO_MANY_REQUESTS), ms));
    }
    let stored = match &user {
        Some(u) if u.active => users::password_hash(&st.db, u.id).await?,
        _ => None,
    };
    let ok = match &stored {
        Some(h) => password::verify_blocking(f.password.clone(), h.clone()).await?,
        None => {
            // Same work whether or not the account exists.
            let _ = password::verify_blocking(f.password.clone(), password::dummy_hash().to_string()).await;
            false
        }
    };
    let Some(user) = user.filter(|_| ok) else {
        throttle::count_failure("staff");
        return Ok(fail("login.invalid", StatusCode::UNAUTHORIZED));
    };
    match &device {
        Some(d) => throttle::clear(&st.db, throttle::Key::Device(d)).await?,
        None => {
            throttle::clear(&st.db, throttle::Key::Account(&email)).await?;
            throttle::refund(&st.db, now, throttle::Key::Address(&m.ip), per_address).await?;
        }
    }
    match totp::after_password(&st.db, user.id).await? {
        // A second factor: the session opens only after the code (`two_factor::login_code`).
        totp::AfterPassword::AskCode => {
            let token = totp::challenge::create(&st.db, now, user.id, device.as_deref(), &next).await?;
            Ok(two_factor::code_page(tr, &m.request_id, token, None, StatusCode::OK))
        }
        // A role requiring one not set up yet: the session opens its enrolment only.
        totp::AfterPassword::Enrol => open_session(&st, &m, &headers, user.id, device.as_deref(), auth::SECOND_FACTOR_SETUP).await,
        totp::AfterPassword::Open => open_session(&st, &m, &headers, user.id, device.as_deref(), &next).await,
    }
}

/// Ends a login: a new session (and its cookie), the device remembered, the login form's
/// CSRF cookie cleared, and a redirect to `next`.
pub(crate) async fn open_session(
    st: &AppState,
    m: &MaybeCtx,
    headers: &HeaderMap,
    user_id: i64,
    device: Option<&str>,
    next: &str,
) -> Result<Response, HttpError> {
    let now = st.now();
    // A new session id at every login (rotation); an earlier session in this browser ends.
    if let Some(old) = auth::cookie(headers, auth::session_cookie_name(&st.config)) {
        session::end(&st.db, &session::hash_secret(&old)).await?;
    }
    let max_ms = st.config.session_max_hours * 3_600_000;
    let s = session::create(&st.db, user_id, now, max_ms, &m.ip, &m.user_agent).await?;
    let device_secret = match throttle::devices::remember(&st.db, now, user_id, device).await? {
        Some(new) => Some(new),
        // Known: its cookie is set again, so that it lives a year from its last use.
        None => auth::cookie(headers, throttle::devices::COOKIE),
    };
    let mut resp = Redirect::to(next).into_response();
    let secure = if st.config.cookies_secure() { "; Secure" } else { "" };
    if let Ok(v) = auth::session_cookie(&st.config, &s.secret, max_ms / 1000).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    if let Some(d) = device_secret {
        let max_age = throttle::devices::KEEP_MS / 1000;
        let cookie = format!("{}={d}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}", throttle::devices::COOKIE);
        if let Ok(v) = cookie.parse() {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    if let Ok(v) = format!("{LOGIN_CSRF_COOKIE}=; Path=/login; Max-Age=0").parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

pub async fn logout(State(st): State<AppState>, c: Ctx) -> Result<Response, HttpError> {
    if let Some(h) = &c.p.session_hash {
        session::end(&st.db, h).await?;
    }
    let mut resp = redirect_notice("/login", "notice.logged_out");
    if let Ok(v) = auth::clear_session_cookie(&st.config).parse() {
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

/// Switches the language: a cookie for everyone, and the user's setting when logged in.
pub async fn set_language(State(st): State<AppState>, m: MaybeCtx, Form(f): Form<LanguageForm>) -> Result<Response, HttpError> {
    let lang = Lang::parse(&f.lang).ok_or_else(|| Error::validation("lang", "error.invalid_choice"))?;
    if let Some(p) = &m.p {
        if let Err(e) = users::set_language(&st.db, &p.actor(&m.request_id), st.now(), p.user_id, lang).await {
            // Said in the language just chosen.
            let mut resp = HttpError(e).into_response();
            resp.extensions_mut().insert(lang);
            return Ok(resp);
        }
    }
    let mut resp = Redirect::to(&safe_next(f.next.as_deref())).into_response();
    let secure = if st.config.cookies_secure() { "; Secure" } else { "" };
    if let Ok(v) = format!("{}={}; Path=/; SameSite=Lax; Max-Age=31536000{secure}", auth::LANG_COOKIE, lang.code()).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

// ---------------------------------------------------------------- home

pub struct Tile {
    pub href: &'static str,
    pub title: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    c: PageCtx,
    tiles: Vec<Tile>,
    role_name: String,
    day: Option<sales::MyDay>,
    /// Customer messages no one has read yet, on requests the user may see.
    unread_messages: i64,
    /// The dashboards' key figures (the user's own when their scope is their own records).
    figures: Option<reports::Figures>,
}

pub async fn home(State(st): State<AppState>, c: Ctx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    let mut tiles = Vec::new();
    if c.p.can(Right::OpportunitiesRead) {
        tiles.push(Tile { href: "/opportunities", title: c.tr.t("nav.opportunities"), text: c.tr.t("home.opportunities_text") });
    }
    if c.p.can(Right::CustomersRead) {
        tiles.push(Tile { href: "/customers", title: c.tr.t("nav.customers"), text: c.tr.t("home.customers_text") });
    }
    if c.p.can(Right::ServiceRequestsRead) {
        tiles.push(Tile { href: "/service/requests", title: c.tr.t("nav.service"), text: c.tr.t("home.service_text") });
    }
    if c.p.can(Right::ServiceInboundManage) {
        tiles.push(Tile { href: "/service/inbound", title: c.tr.t("inbound.title"), text: c.tr.t("inbound.subtitle") });
    }
    if c.p.can(Right::InterventionsRead) {
        tiles.push(Tile { href: "/service/planning", title: c.tr.t("service.planning"), text: c.tr.t("home.planning_text") });
    }
    if c.p.can(Right::UsersRead) {
        tiles.push(Tile { href: "/users", title: c.tr.t("nav.team"), text: c.tr.t("home.team_text") });
    }
    if c.p.can(Right::PartnersRead) {
        tiles.push(Tile { href: "/partners", title: c.tr.t("nav.partners"), text: c.tr.t("home.partners_text") });
    }
    if c.p.can(Right::NewsPublish) {
        tiles.push(Tile { href: "/news", title: c.tr.t("news.title"), text: c.tr.t("home.news_text") });
    }
    for (href, key, right) in admin::SECTIONS {
        if c.p.can(*right) {
            tiles.push(Tile { href, title: c.tr.t(key), text: c.tr.t(&format!("{key}_text")) });
        }
    }
    tiles.push(Tile { href: "/account", title: c.tr.t("nav.account"), text: c.tr.t("home.account_text") });
    let role_name = crate::access::roles::id_by_code(&st.db, &c.p.role_code).await?;
    let role_name = match role_name {
        Some(id) => crate::access::roles::get(&st.db, id).await?.map(|r| r.name(&c.lang()).to_string()).unwrap_or_default(),
        None => String::new(),
    };
    let day = sales::my_day(&st, &c).await?;
    let unread_messages = if c.p.can(Right::ServiceMessages) && crate::service::messages::enabled(&st.db).await? {
        crate::service::messages::unread_visible(&st.db, &c.p.visibility).await?
    } else {
        0
    };
    let figures = reports::home_figures(&st, &c).await?;
    Ok(render(HomePage {
        c: PageCtx::new(&c, "/", "nav.home").with_notice(q.notice.as_deref()),
        tiles,
        role_name,
        day,
        unread_messages,
        figures,
    }))
}

#[cfg(test)]
mod tests {
    use super::notice_url;

    #[derive(serde::Deserialize)]
    struct Q {
        #[serde(default, deserialize_with = "super::select_id")]
        owner: Option<Option<i64>>,
    }

    #[test]
    fn an_empty_select_means_no_filter() {
        let q = |s: &str| serde_urlencoded::from_str::<Q>(s).map(|q| q.owner).ok();
        assert_eq!(q(""), Some(None));
        assert_eq!(q("owner="), Some(Some(None)));
        assert_eq!(q("owner=12"), Some(Some(Some(12))));
        assert_eq!(q("owner=abc"), None);
        #[derive(serde::Deserialize)]
        struct V {
            #[serde(default, deserialize_with = "super::blank_id")]
            view: Option<i64>,
        }
        let v = |s: &str| serde_urlencoded::from_str::<V>(s).map(|q| q.view).ok();
        assert_eq!((v(""), v("view="), v("view=3"), v("view=x")), (Some(None), Some(None), Some(Some(3)), None));
    }

    #[test]
    fn only_same_site_paths_are_followed() {
        use super::safe_next;
        assert_eq!(safe_next(Some("/opportunities/3?view=2")), "/opportunities/3?view=2");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "/\t/evil.example",
            "/\n/x",
            " /x",
            "evil",
            "",
            "/..//evil.example",
            "/%2e%2e//evil.example",
            "/a/../..//evil.example",
            "/%2F%2Fevil.example",
            "/%5c%5cevil.example",
            "/\u{3000}/evil.example",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(Some("/a/./b/../customers?q=x#top")), "/a/customers?q=x#top");
        assert_eq!(safe_next(Some("/customers?q=é")), "/customers?q=%C3%A9");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn the_notice_goes_before_the_fragment() {
        assert_eq!(notice_url("/opportunities/3#calls", "notice.call_logged"), "/opportunities/3?notice=notice.call_logged#calls");
        assert_eq!(notice_url("/opportunities?view=2#x", "notice.saved"), "/opportunities?view=2&notice=notice.saved#x");
        assert_eq!(notice_url("/stock", "notice.saved"), "/stock?notice=notice.saved");
        assert_eq!(notice_url("/customers?view=1", "notice.saved"), "/customers?view=1&notice=notice.saved");
    }
}
