//! The partner user's pages: login and links, home (with the unread news), opportunities
//! (list, new, view, edit), news (list, read more) and colleagues (partner administrators).
//! Every read goes through `partners::store` / `partners::news` with the organisation of the
//! session: another partner's id is a 404, as an unknown one.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{clear_session_cookie, session_cookie, MaybePartner, PartnerCtx, PartnerPage};
use crate::error::{Error, FieldErrors};
use crate::http::auth::{self, constant_time_eq};
use crate::http::error::HttpError;
use crate::http::pages::{render, FormErrors};
use crate::http::{redirect_notice, AppState};
use crate::i18n::{Lang, Tr};
use crate::identity::{password, throttle, Email};
use crate::lists::ListItem;
use crate::partners::accounts::{self, AccountChange, Invitation};
use crate::partners::news::{self, PartnerNews};
use crate::partners::store::{self, OpportunityFilter, OpportunityForm};
use crate::partners::{format_amount, session, Account, NewsItem, Opportunity, Status, STATUS_LIST, TYPE_LIST};
use crate::portal::accounts::Purpose;

/// The double-submit cookie of the partner portal's public forms (login, reset, links).
const FORM_COOKIE: &str = "carnet_partner_form";
const PAGE: i64 = 25;

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

/// Renders a public form with a fresh double-submit token (cookie + hidden field).
fn public_form(st: &AppState, page: impl Template, token: &str, tr: Tr, status: StatusCode) -> Response {
    let mut resp = with_status(render(page), status);
    let secure = if st.config.cookies_secure() { "; Secure" } else { "" };
    if let Ok(v) = format!("{FORM_COOKIE}={token}; Path=/partner; HttpOnly; SameSite=Strict{secure}").parse() {
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

/// After login: a partner portal path only.
fn partner_next(next: Option<&str>) -> String {
    let n = crate::http::pages::safe_next(next);
    if n == "/partner" || n.starts_with("/partner/") || n.starts_with("/partner?") {
        n
    } else {
        "/partner".into()
    }
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

// ------------------------------------------------------------------ login, logout, language

#[derive(Template)]
#[template(path = "partner/login.html")]
struct LoginPage {
    c: PartnerPage,
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

pub async fn login_page(State(st): State<AppState>, m: MaybePartner, Query(q): Query<LoginQuery>) -> Response {
    if m.u.is_some() {
        return Redirect::to(&partner_next(q.next.as_deref())).into_response();
    }
    let tr = q.lang.as_deref().and_then(Lang::parse).map(Tr).unwrap_or(m.tr);
    let token = crate::identity::session::new_secret();
    let c = PartnerPage::anonymous(tr, "partner.login_title", &m.request_id).with_notice(q.notice.as_deref());
    let page = LoginPage { c, email: String::new(), next: partner_next(q.next.as_deref()), error: None, token: token.clone() };
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

/// Partner login: its own throttle keys (`partner:` + address, `partner:` + email), counted
/// before the password is verified, the same work whether or not the account exists.
pub async fn login_submit(
    State(st): State<AppState>,
    m: MaybePartner,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, HttpError> {
    let tr = m.tr;
    let next = partner_next(f.next.as_deref());
    let fail = |key: &str, status: StatusCode| {
        let token = crate::identity::session::new_secret();
        let page = LoginPage {
            c: PartnerPage::anonymous(tr, "partner.login_title", &m.request_id),
            email: f.email.clone(),
            next: next.clone(),
            error: Some(tr.t(key)),
            token: token.clone(),
        };
        public_form(&st, page, &token, tr, status)
    };
    if !form_token_ok(&headers, &f.token) {
        return Ok(fail("error.csrf", StatusCode::FORBIDDEN));
    }
    let now = st.now();
    let email = f.email.trim().to_lowercase();
    let address_key = format!("partner:{}", m.ip);
    let account_key = format!("partner:{email}");
    let per_account = st.config.login_max_failures_per_account;
    let per_address = st.config.login_max_failures_per_address;
    let wait = throttle::take_address_then_account(&st.db, now, &address_key, &account_key, per_address, per_account).await?;
    if let Some(ms) = wait {
        throttle::count_throttled("partner");
        let mut resp = fail("error.rate_limited", StatusCode::TOO_MANY_REQUESTS);
        if let Ok(v) = ((ms + 999) / 1000).to_string().parse() {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(resp);
    }
    let found = accounts::for_login(&st.db, &email).await?;
    let (id, ok) = match found {
        Some((id, Some(hash), true)) => (Some(id), password::verify_blocking(f.password.clone(), hash).await?),
        _ => {
            let _ = password::verify_blocking(f.password.clone(), password::dummy_hash().to_string()).await;
            (None, false)
        }
    };
    let Some(id) = id.filter(|_| ok) else {
        throttle::count_failure("partner");
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

pub async fn logout(State(st): State<AppState>, c: PartnerCtx) -> Result<Response, HttpError> {
    session::end(&st.db, &c.u.session_hash).await?;
    let mut resp = redirect_notice("/partner/login", "notice.logged_out");
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
pub async fn set_language(State(st): State<AppState>, m: MaybePartner, Form(f): Form<LanguageForm>) -> Result<Response, HttpError> {
    let lang = Lang::parse(&f.lang).ok_or_else(|| Error::validation("lang", "error.invalid_choice"))?;
    if let Some(u) = &m.u {
        accounts::set_language(&st.db, &u.actor(&m.request_id), st.now(), u.user_id, lang).await?;
    }
    let mut resp = Redirect::to(&partner_next(f.next.as_deref())).into_response();
    let secure = if st.config.cookies_secure() { "; Secure" } else { "" };
    if let Ok(v) = format!("{}={}; Path=/; SameSite=Lax; Max-Age=31536000{secure}", auth::LANG_COOKIE, lang.code()).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

// ------------------------------------------------------------------ password links

#[derive(Template)]
#[template(path = "partner/forgot.html")]
struct ForgotPage {
    c: PartnerPage,
    email: String,
    sent: bool,
    error: Option<String>,
    token: String,
}

pub async fn forgot_page(State(st): State<AppState>, m: MaybePartner) -> Response {
    let token = crate::identity::session::new_secret();
    let page = ForgotPage {
        c: PartnerPage::anonymous(m.tr, "portal.forgot_title", &m.request_id),
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
/// and is throttled like the login.
pub async fn forgot_submit(
    State(st): State<AppState>,
    m: MaybePartner,
    headers: HeaderMap,
    Form(f): Form<ForgotForm>,
) -> Result<Response, HttpError> {
    let token = crate::identity::session::new_secret();
    let page = |sent: bool, error: Option<String>| ForgotPage {
        c: PartnerPage::anonymous(m.tr, "portal.forgot_title", &m.request_id),
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
    let address_key = format!("partner-reset:{}", m.ip);
    let account_key = format!("partner-reset:{email}");
    let limited =
        throttle::take(&st.db, now, throttle::Key::Address(&address_key), st.config.login_max_failures_per_address).await?.is_some()
            || throttle::take(&st.db, now, throttle::Key::Account(&account_key), 3).await?.is_some();
    if limited {
        return Ok(public_form(&st, page(false, Some(m.tr.t("error.rate_limited"))), &token, m.tr, StatusCode::TOO_MANY_REQUESTS));
    }
    if Email::parse(&email).is_ok() {
        accounts::request_reset(&st.db, now, &email).await?;
    }
    Ok(public_form(&st, page(true, None), &token, m.tr, StatusCode::OK))
}

#[derive(Template)]
#[template(path = "partner/set_password.html")]
struct SetPasswordPage {
    c: PartnerPage,
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

fn set_password_page(m: &MaybePartner, purpose: Purpose, secret: &str, live: bool, errors: FormErrors, token: &str) -> SetPasswordPage {
    SetPasswordPage {
        c: PartnerPage::anonymous(
            m.tr,
            if purpose == Purpose::Invite { "partner.welcome_title" } else { "portal.reset_title" },
            &m.request_id,
        ),
        action: format!("/partner/{}/{secret}", kind_of(purpose)),
        live,
        welcome: purpose == Purpose::Invite,
        errors,
        token: token.to_string(),
    }
}

pub async fn welcome_page(st: State<AppState>, m: MaybePartner, Path(secret): Path<String>) -> Result<Response, HttpError> {
    link_page(st, m, Purpose::Invite, secret).await
}

pub async fn reset_page(st: State<AppState>, m: MaybePartner, Path(secret): Path<String>) -> Result<Response, HttpError> {
    link_page(st, m, Purpose::Reset, secret).await
}

pub async fn welcome_submit(
    st: State<AppState>,
    m: MaybePartner,
    headers: HeaderMap,
    Path(secret): Path<String>,
    f: Form<SetPasswordForm>,
) -> Result<Response, HttpError> {
    link_submit(st, m, headers, Purpose::Invite, secret, f).await
}

pub async fn reset_submit(
    st: State<AppState>,
    m: MaybePartner,
    headers: HeaderMap,
    Path(secret): Path<String>,
    f: Form<SetPasswordForm>,
) -> Result<Response, HttpError> {
    link_submit(st, m, headers, Purpose::Reset, secret, f).await
}

async fn link_page(State(st): State<AppState>, m: MaybePartner, purpose: Purpose, secret: String) -> Result<Response, HttpError> {
    let live = accounts::link_is_live(&st.db, st.now(), &secret, purpose).await?;
    let token = crate::identity::session::new_secret();
    let page = set_password_page(&m, purpose, &secret, live, FormErrors::none(), &token);
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
    m: MaybePartner,
    headers: HeaderMap,
    purpose: Purpose,
    secret: String,
    Form(f): Form<SetPasswordForm>,
) -> Result<Response, HttpError> {
    let token = crate::identity::session::new_secret();
    let respond = |live: bool, errors: FormErrors, status: StatusCode| {
        public_form(&st, set_password_page(&m, purpose, &secret, live, errors, &token), &token, m.tr, status)
    };
    if !form_token_ok(&headers, &f.token) {
        return Ok(respond(true, FormErrors::general(m.tr, "error.csrf"), StatusCode::FORBIDDEN));
    }
    if f.password != f.confirm {
        let errs = FormErrors::from(FieldErrors::single("confirm", "error.password_mismatch"), m.tr);
        return Ok(respond(true, errs, StatusCode::UNPROCESSABLE_ENTITY));
    }
    let now = st.now();
    match accounts::set_password_by_link(&st.db, now, &secret, purpose, &f.password).await {
        Ok(a) => {
            let max_ms = st.config.session_max_hours * 3_600_000;
            let s = session::create(&st.db, a.id, now, max_ms, &m.ip, &m.user_agent).await?;
            let mut resp = redirect_notice("/partner", "notice.portal_password_set");
            if let Ok(v) = session_cookie(&st.config, &s.secret, max_ms / 1000).parse() {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(resp)
        }
        Err(Error::InvalidState { .. }) => Ok(respond(false, FormErrors::none(), StatusCode::GONE)),
        Err(e) => {
            let errs = form_errors(m.tr, e)?;
            Ok(respond(true, errs, StatusCode::UNPROCESSABLE_ENTITY))
        }
    }
}

// ------------------------------------------------------------------ labels

/// The entries of the partner lists, for labels and selects.
pub struct Labels {
    pub types: Vec<ListItem>,
    pub statuses: Vec<ListItem>,
    pub lang: Lang,
}

impl Labels {
    pub async fn load(st: &AppState, lang: Lang) -> Result<Labels, HttpError> {
        Ok(Labels {
            types: crate::lists::items(&st.db, TYPE_LIST, true).await?,
            statuses: crate::lists::items(&st.db, STATUS_LIST, true).await?,
            lang,
        })
    }
    fn label(items: &[ListItem], code: &str, lang: &Lang) -> String {
        items.iter().find(|i| i.code == code).map(|i| i.label(lang).to_string()).unwrap_or_else(|| code.to_string())
    }
    pub fn kind(&self, code: &str) -> String {
        Self::label(&self.types, code, &self.lang)
    }
    pub fn status(&self, code: &str) -> String {
        Self::label(&self.statuses, code, &self.lang)
    }
    /// The badge colour of a status: won green, lost grey, the rest blue.
    pub fn status_badge(&self, code: &str) -> &'static str {
        match self.statuses.iter().find(|i| i.code == code) {
            Some(i) if i.has_flag("won") => "badge-green",
            Some(i) if i.has_flag("lost") => "badge-gray",
            _ => "badge-blue",
        }
    }
    pub fn eligible(&self, code: &str) -> bool {
        self.types.iter().any(|i| i.code == code && i.active && i.has_flag(crate::partners::FLAG_PRESALES))
    }
    pub fn active_types(&self) -> Vec<&ListItem> {
        self.types.iter().filter(|i| i.active).collect()
    }
    pub fn active_statuses(&self) -> Vec<&ListItem> {
        self.statuses.iter().filter(|i| i.active).collect()
    }
}

pub fn amount(o: &Opportunity) -> String {
    o.amount_cents.map(format_amount).unwrap_or_default()
}

// ------------------------------------------------------------------ home

#[derive(Template)]
#[template(path = "partner/home.html")]
struct HomePage {
    c: PartnerPage,
    unread: i64,
    news: Vec<PartnerNews>,
    opportunities: Vec<Opportunity>,
    can_opportunities: bool,
    labels: Labels,
}

pub async fn home(State(st): State<AppState>, c: PartnerCtx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    let now = st.now();
    let unread = news::unread_count(&st.db, &c.u, now).await?;
    let (news, _) = news::for_user(&st.db, &c.u, now, None, 3).await?;
    let opportunities = if c.u.can_opportunities {
        store::opportunities_of(&st.db, c.u.partner_id, &OpportunityFilter::default(), None, 5).await?.0
    } else {
        Vec::new()
    };
    let labels = Labels::load(&st, c.tr.0).await?;
    let page = PartnerPage::new(&c, "/partner", "partner.home_title").with_notice(q.notice.as_deref());
    Ok(render(HomePage { c: page, unread, news, opportunities, can_opportunities: c.u.can_opportunities, labels }))
}

// ------------------------------------------------------------------ opportunities

#[derive(Template)]
#[template(path = "partner/opportunities.html")]
struct OpportunitiesPage {
    c: PartnerPage,
    rows: Vec<Opportunity>,
    labels: Labels,
    q: String,
    status: String,
    kind: String,
    next: Option<i64>,
}

impl OpportunitiesPage {
    fn next_href(&self, before: &i64) -> String {
        format!(
            "/partner/opportunities?before={before}&q={}&status={}&type={}",
            auth::urlencode(&self.q),
            auth::urlencode(&self.status),
            auth::urlencode(&self.kind)
        )
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

fn before_id(raw: Option<&str>) -> Result<Option<i64>, HttpError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse::<i64>().map(Some).map_err(|_| Error::validation("before", "error.cursor_invalid").into()),
    }
}

pub async fn opportunities(State(st): State<AppState>, c: PartnerCtx, Query(q): Query<ListQuery>) -> Result<Response, HttpError> {
    let before = before_id(q.before.as_deref())?;
    let f = OpportunityFilter { q: q.q.clone(), status: q.status.clone(), opportunity_type: q.kind.clone(), ..Default::default() };
    let (rows, more) = store::opportunities_of(&st.db, c.u.partner_id, &f, before, PAGE).await?;
    let next = if more { rows.last().map(|o| o.id) } else { None };
    let labels = Labels::load(&st, c.tr.0).await?;
    Ok(render(OpportunitiesPage {
        c: PartnerPage::new(&c, "/partner/opportunities", "partner.opportunities_title").with_notice(q.notice.as_deref()),
        rows,
        labels,
        q: q.q.unwrap_or_default(),
        status: q.status.unwrap_or_default(),
        kind: q.kind.unwrap_or_default(),
        next,
    }))
}

#[derive(Template)]
#[template(path = "partner/opportunity_form.html")]
struct OpportunityFormPage {
    c: PartnerPage,
    /// None for a new opportunity.
    id: Option<i64>,
    f: OpportunityForm,
    labels: Labels,
    errors: FormErrors,
}

impl OpportunityFormPage {
    fn v<'a>(&self, s: &'a Option<String>) -> &'a str {
        s.as_deref().unwrap_or("")
    }
}

fn form_of(o: &Opportunity) -> OpportunityForm {
    OpportunityForm {
        customer_name: Some(o.customer_name.clone()),
        contact_name: o.contact_name.clone(),
        contact_email: o.contact_email.clone(),
        contact_phone: o.contact_phone.clone(),
        product_interest: o.product_interest.clone(),
        amount: o.amount_cents.map(format_amount),
        expected_close_date: o.expected_close_date.clone(),
        opportunity_type: Some(o.opportunity_type.clone()),
        status: Some(o.status.clone()),
        description: o.description.clone(),
    }
}

async fn form_page(st: &AppState, c: &PartnerCtx, id: Option<i64>, f: OpportunityForm, errors: FormErrors) -> Result<Response, HttpError> {
    let labels = Labels::load(st, c.tr.0).await?;
    let title = if id.is_some() { "partner.edit_opportunity" } else { "partner.new_opportunity" };
    let status = if errors.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(with_status(render(OpportunityFormPage { c: PartnerPage::new(c, "/partner/opportunities", title), id, f, labels, errors }), status))
}

#[derive(Deserialize)]
pub struct NewQuery {
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

pub async fn new_opportunity(State(st): State<AppState>, c: PartnerCtx, Query(q): Query<NewQuery>) -> Result<Response, HttpError> {
    let f = OpportunityForm { opportunity_type: q.kind, ..Default::default() };
    form_page(&st, &c, None, f, FormErrors::none()).await
}

pub async fn create_opportunity(State(st): State<AppState>, c: PartnerCtx, Form(f): Form<OpportunityForm>) -> Result<Response, HttpError> {
    let res = match f.parse() {
        Ok(input) => store::create_opportunity(&st.db, &c.u, &c.actor(), st.now(), &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(o) => Ok(redirect_notice(&format!("/partner/opportunities/{}", o.id), "notice.created")),
        Err(e) => {
            let errors = form_errors(c.tr, e)?;
            form_page(&st, &c, None, f, errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "partner/opportunity.html")]
struct OpportunityPage {
    c: PartnerPage,
    o: Opportunity,
    labels: Labels,
    eligible: bool,
    presales: Vec<crate::http::pages::presales::PresalesRow>,
}

pub async fn opportunity(
    State(st): State<AppState>,
    c: PartnerCtx,
    Path(id): Path<i64>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, HttpError> {
    let o = store::opportunity_of(&st.db, c.u.partner_id, id).await?.ok_or(Error::NotFound)?;
    let labels = Labels::load(&st, c.tr.0).await?;
    let eligible = labels.eligible(&o.opportunity_type);
    let presales = super::presales::of_opportunity(&st, &c, o.id).await?;
    let mut page = PartnerPage::new(&c, "/partner/opportunities", "partner.opportunity_title").with_notice(q.notice.as_deref());
    page.title = o.customer_name.clone();
    Ok(render(OpportunityPage { c: page, o, labels, eligible, presales }))
}

pub async fn edit_opportunity(State(st): State<AppState>, c: PartnerCtx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let o = store::opportunity_of(&st.db, c.u.partner_id, id).await?.ok_or(Error::NotFound)?;
    form_page(&st, &c, Some(id), form_of(&o), FormErrors::none()).await
}

pub async fn update_opportunity(
    State(st): State<AppState>,
    c: PartnerCtx,
    Path(id): Path<i64>,
    Form(f): Form<OpportunityForm>,
) -> Result<Response, HttpError> {
    // Another partner's id is a 404 before anything is parsed or written.
    store::opportunity_of(&st.db, c.u.partner_id, id).await?.ok_or(Error::NotFound)?;
    let res = match f.parse() {
        Ok(input) => store::update_opportunity(&st.db, c.u.partner_id, &c.actor(), st.now(), id, &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/partner/opportunities/{id}"), "notice.saved")),
        Err(Error::NotFound) => Err(Error::NotFound.into()),
        Err(e) => {
            let errors = form_errors(c.tr, e)?;
            form_page(&st, &c, Some(id), f, errors).await
        }
    }
}

// ------------------------------------------------------------------ news

#[derive(Template)]
#[template(path = "partner/news.html")]
struct NewsPage {
    c: PartnerPage,
    rows: Vec<PartnerNews>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct NewsQuery {
    #[serde(default)]
    after: Option<String>,
}

/// A news cursor: `published_at.id`.
pub fn news_cursor(raw: Option<&str>) -> Result<Option<(i64, i64)>, HttpError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .map(Some)
            .ok_or_else(|| Error::validation("after", "error.cursor_invalid").into()),
    }
}

pub async fn news_list(State(st): State<AppState>, c: PartnerCtx, Query(q): Query<NewsQuery>) -> Result<Response, HttpError> {
    let after = news_cursor(q.after.as_deref())?;
    let (rows, more) = news::for_user(&st.db, &c.u, st.now(), after, PAGE).await?;
    let next = if more { rows.last().map(|n| format!("{}.{}", n.item.published_at, n.item.id)) } else { None };
    Ok(render(NewsPage { c: PartnerPage::new(&c, "/partner/news", "partner.news_title"), rows, next }))
}

#[derive(Template)]
#[template(path = "partner/news_item.html")]
struct NewsItemPage {
    c: PartnerPage,
    n: NewsItem,
    body_html: String,
}

pub async fn news_item(State(st): State<AppState>, c: PartnerCtx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let now = st.now();
    let n = news::one_for_user(&st.db, &c.u, now, id).await?.ok_or(Error::NotFound)?;
    news::mark_read(&st.db, &c.u, now, id).await?;
    let body_html = news::render(&n.body);
    let mut page = PartnerPage::new(&c, "/partner/news", "partner.news_title");
    page.title = n.title.clone();
    Ok(render(NewsItemPage { c: page, n, body_html }))
}

pub async fn news_image(State(st): State<AppState>, c: PartnerCtx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    news::one_for_user(&st.db, &c.u, st.now(), id).await?.ok_or(Error::NotFound)?;
    staff::image_response(&st, id).await
}

use super::staff;

// ------------------------------------------------------------------ colleagues

#[derive(Template)]
#[template(path = "partner/colleagues.html")]
struct ColleaguesPage {
    c: PartnerPage,
    accounts: Vec<Account>,
    me: i64,
    errors: FormErrors,
}

impl ColleaguesPage {
    fn invite_action(&self) -> &'static str {
        "/partner/colleagues"
    }
}

fn require_invite(c: &PartnerCtx) -> Result<(), HttpError> {
    if c.u.can_invite() {
        Ok(())
    } else {
        Err(Error::Forbidden.into())
    }
}

async fn colleagues_page(st: &AppState, c: &PartnerCtx, errors: FormErrors, notice: Option<&str>) -> Result<Response, HttpError> {
    let accounts = accounts::of_partner(&st.db, c.u.partner_id).await?;
    let status = if errors.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = PartnerPage::new(c, "/partner/colleagues", "partner.colleagues_title").with_notice(notice);
    Ok(with_status(render(ColleaguesPage { c: page, accounts, me: c.u.user_id, errors }), status))
}

pub async fn colleagues(State(st): State<AppState>, c: PartnerCtx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    require_invite(&c)?;
    colleagues_page(&st, &c, FormErrors::none(), q.notice.as_deref()).await
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub is_admin: Option<String>,
    #[serde(default)]
    pub can_opportunities: Option<String>,
}

impl InviteForm {
    pub fn parse(&self) -> Result<Invitation, Error> {
        let mut errs = FieldErrors::new();
        let name = self.name.trim().to_string();
        if name.is_empty() {
            errs.add("name", "error.required");
        } else if name.chars().count() > 200 {
            errs.add("name", "error.too_long");
        }
        let email = Email::parse(&self.email).map_err(|r| errs.add("email", r)).ok();
        let language = if self.language.is_empty() { Some(Lang::Fr) } else { Lang::parse(&self.language) };
        if language.is_none() {
            errs.add("language", "error.invalid_choice");
        }
        errs.into_result()?;
        Ok(Invitation {
            email: email.ok_or_else(|| Error::validation("email", "error.required"))?,
            name,
            language: language.unwrap_or_default(),
            is_admin: self.is_admin.as_deref() == Some("on"),
            can_opportunities: self.can_opportunities.as_deref() == Some("on"),
        })
    }
}

/// A partner administrator invites a colleague into their own organisation.
pub async fn invite_colleague(State(st): State<AppState>, c: PartnerCtx, Form(f): Form<InviteForm>) -> Result<Response, HttpError> {
    require_invite(&c)?;
    let res = match f.parse() {
        Ok(inv) => accounts::invite(&st.db, &c.actor(), st.now(), c.u.partner_id, &inv).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match res {
        Ok(()) => Ok(redirect_notice("/partner/colleagues", "notice.portal_invited")),
        Err(e) => {
            let errors = form_errors(c.tr, e)?;
            colleagues_page(&st, &c, errors, None).await
        }
    }
}

/// A colleague's action: `resend`, `deactivate`, `reactivate`, `admin` / `member`. Never on
/// oneself (an administrator cannot lock themself out).
pub async fn colleague_action(
    State(st): State<AppState>,
    c: PartnerCtx,
    Path((id, action)): Path<(i64, String)>,
) -> Result<Response, HttpError> {
    require_invite(&c)?;
    let a = accounts::get_of(&st.db, c.u.partner_id, id).await?.ok_or(Error::NotFound)?;
    if a.id == c.u.user_id {
        return Err(Error::InvalidState { reason: "error.partner_not_yourself" }.into());
    }
    account_action(&st, &c.actor(), c.u.partner_id, &a, &action).await?;
    Ok(redirect_notice("/partner/colleagues", "notice.saved"))
}

/// The account actions staff and partner administrators share.
pub async fn account_action(
    st: &AppState,
    actor: &crate::access::Actor,
    partner_id: i64,
    a: &Account,
    action: &str,
) -> Result<(), HttpError> {
    let now = st.now();
    let change = match action {
        "resend" => {
            if a.status != Status::Invited {
                return Err(Error::InvalidState { reason: "error.portal_already_has_access" }.into());
            }
            let inv = Invitation {
                email: Email::parse(&a.email).map_err(|r| Error::validation("email", r))?,
                name: a.name.clone(),
                language: a.language,
                is_admin: a.is_admin,
                can_opportunities: a.can_opportunities,
            };
            accounts::invite(&st.db, actor, now, partner_id, &inv).await?;
            return Ok(());
        }
        "deactivate" => AccountChange { status: Some(Status::Deactivated), ..Default::default() },
        "reactivate" => AccountChange { status: Some(Status::Active), ..Default::default() },
        "admin" => AccountChange { is_admin: Some(true), ..Default::default() },
        "member" => AccountChange { is_admin: Some(false), ..Default::default() },
        "grant-opportunities" => AccountChange { can_opportunities: Some(true), ..Default::default() },
        "revoke-opportunities" => AccountChange { can_opportunities: Some(false), ..Default::default() },
        _ => return Err(Error::NotFound.into()),
    };
    accounts::set(&st.db, actor, now, partner_id, a.id, change).await?;
    Ok(())
}

// ------------------------------------------------------------------ account

#[derive(Template)]
#[template(path = "partner/account.html")]
struct AccountPage {
    c: PartnerPage,
    email: String,
    /// The profile form: name and language (as typed, after a refused save).
    name: String,
    language: String,
    profile_errors: FormErrors,
    errors: FormErrors,
    password_action: &'static str,
}

async fn account_page(
    st: &AppState,
    c: &PartnerCtx,
    typed: Option<(String, String)>,
    profile_errors: FormErrors,
    errors: FormErrors,
    notice: Option<&str>,
) -> Result<Response, HttpError> {
    // The account of the session, never one named by the request.
    let a = accounts::own(&st.db, c.u.user_id).await?.ok_or(Error::NotFound)?;
    let status = if profile_errors.any() || errors.any() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let (name, language) = typed.unwrap_or((a.name, a.language.code().to_string()));
    let page = AccountPage {
        c: PartnerPage::new(c, "", "partner.account_title").with_notice(notice),
        email: a.email,
        name,
        language,
        profile_errors,
        errors,
        password_action: "/partner/account/password",
    };
    Ok(with_status(render(page), status))
}

pub async fn account(State(st): State<AppState>, c: PartnerCtx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    account_page(&st, &c, None, FormErrors::none(), FormErrors::none(), q.notice.as_deref()).await
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    language: String,
}

pub async fn update_account(State(st): State<AppState>, c: PartnerCtx, Form(f): Form<ProfileForm>) -> Result<Response, HttpError> {
    let res = match accounts::Profile::parse(&f.name, &f.language) {
        Ok(p) => accounts::update_profile(&st.db, &c.actor(), st.now(), c.u.user_id, &p).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(a) => {
            // The page answers in the language just chosen.
            let mut resp = redirect_notice("/partner/account", "notice.saved");
            let secure = if st.config.cookies_secure() { "; Secure" } else { "" };
            if let Ok(v) = format!("{}={}; Path=/; SameSite=Lax; Max-Age=31536000{secure}", auth::LANG_COOKIE, a.language.code()).parse() {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(resp)
        }
        Err(e) => {
            let fe = form_errors(c.tr, e)?;
            account_page(&st, &c, Some((f.name, f.language)), fe, FormErrors::none(), None).await
        }
    }
}

pub async fn change_password(
    State(st): State<AppState>,
    c: PartnerCtx,
    Form(f): Form<crate::http::portal::pages::PasswordForm>,
) -> Result<Response, HttpError> {
    let res = match f.confirmed() {
        Err(e) => Err(e),
        Ok(()) => {
            // The realm's code, as the customer portal's.
            let (current, new) = (&f.current_password, &f.new_password);
            crate::portal::realm::PARTNER.change_password(&st.db, &c.actor(), st.now(), c.u.user_id, current, new, &c.u.session_hash).await
        }
    };
    match res {
        Ok(()) => Ok(redirect_notice("/partner/account", "notice.password_changed")),
        Err(e) => {
            let fe = form_errors(c.tr, e)?;
            account_page(&st, &c, None, FormErrors::none(), fe, None).await
        }
    }
}
