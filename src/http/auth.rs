//! Authentication, rights and CSRF, enforced for every route by [`guard`] according to the
//! [`Access`] the route declares in `router.rs`.
//!
//! - Who: an `Authorization: Bearer` API token, or else the session cookie.
//! - May they: the route's right, checked before the handler runs (403 otherwise; nothing is
//!   read or written by the handler).
//! - CSRF: a state-changing request authenticated by cookie must carry the session's token
//!   (form field `_csrf` or header `X-CSRF-Token`). Token-authenticated API calls carry no
//!   cookie and need none.

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::error::{error_response, HttpError};
pub use super::request::{cookie, cookie_lang, ClientAddr, LANG_COOKIE};
use super::{AppState, RequestId};
use crate::access::{cache, Actor, Principal, Right};
use crate::error::{Error, FieldErrors};
use crate::i18n::{Lang, Tr};
use crate::identity::session;

pub const CSRF_FIELD: &str = "_csrf";
/// The largest body a public route (login, language switch) reads: anyone may send one.
pub const PUBLIC_BODY_BYTES: usize = 16 * 1024;
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Where a user whose role requires a second factor is sent until they set one up.
pub const SECOND_FACTOR_SETUP: &str = "/account/two-factor";

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, logged in or not.
    Public,
    /// Any logged-in user (their own account, the home page).
    Authenticated,
    /// Any logged-in user, including one whose role requires a second factor they have not
    /// set up yet: the enrolment pages and logout, all such a user may reach.
    Enrolment,
    /// A logged-in user holding this right.
    Right(Right),
    /// A logged-in customer portal user (`http::portal`); staff sessions do not count.
    Portal,
    /// Anyone, on the portal's side (its login, its links); only the portal session is read.
    PortalPublic,
    /// A logged-in partner user (`http::partner`); staff and customer portal sessions do not count.
    Partner,
    /// A logged-in partner user holding the partner right "Opportunités" (partner
    /// opportunities and pre-sales requests).
    PartnerOpportunities,
    /// Anyone, on the partner portal's side (its login, its links); only the partner session is read.
    PartnerPublic,
}

impl Access {
    pub fn describe(self) -> String {
        match self {
            Access::Public => "public".into(),
            Access::Authenticated => "authenticated".into(),
            Access::Enrolment => "authenticated (also before second-factor enrolment)".into(),
            Access::Right(r) => r.code().into(),
            Access::Portal => "portal".into(),
            Access::PortalPublic => "portal public".into(),
            Access::Partner => "partner".into(),
            Access::PartnerOpportunities => "partner: opportunities".into(),
            Access::PartnerPublic => "partner public".into(),
        }
    }
    /// Routes of the customer portal: guarded by `http::portal::guard`, never by a staff session.
    pub fn is_portal(self) -> bool {
        matches!(self, Access::Portal | Access::PortalPublic)
    }
    /// Routes of the partner portal: guarded by `http::partner::guard`, never by a staff or
    /// customer portal session.
    pub fn is_partner(self) -> bool {
        matches!(self, Access::Partner | Access::PartnerOpportunities | Access::PartnerPublic)
    }
    /// Routes anyone may call: they read a small body only.
    pub fn is_public(self) -> bool {
        matches!(self, Access::Public | Access::PortalPublic | Access::PartnerPublic)
    }
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The per-route guard. `access` comes from the route table.
pub async fn guard(State(st): State<AppState>, access: Access, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let api = is_api(&path);
    let now = st.now();
    let headers = req.headers().clone();
    // Taken before the principal is read: a change committed meanwhile makes it stale.
    let epoch = st.db.auth_epoch();
    let (principal, by_token) = if let Some(tok) = bearer(&headers) {
        let key = cache::key("token", tok);
        match st.principals.get(&key, epoch, now) {
            Some(p) => (Some(p), true),
            None => match session::principal_for_token(&st.db, tok, now).await {
                Ok(Some(p)) => {
                    st.principals.put(key, p.clone(), epoch, now);
                    (Some(p), true)
                }
                Ok(None) => {
                    return error_response(StatusCode::UNAUTHORIZED, "unauthenticated", "error.token_invalid", FieldErrors::new());
                }
                Err(e) => return HttpError::from(e).into_response(),
            },
        }
    } else if let Some(secret) = cookie(&headers, session_cookie_name(&st.config)) {
        let key = cache::key("session", &secret);
        match st.principals.get(&key, epoch, now) {
            Some(p) => (Some(p), false),
            None => match session::principal(&st.db, &secret, now, st.config.session_idle_minutes * 60_000).await {
                Ok(Some(p)) => {
                    st.principals.put(key, p.clone(), epoch, now);
                    (Some(p), false)
                }
                Ok(None) => (None, false),
                Err(e) => return HttpError::from(e).into_response(),
            },
        }
    } else {
        (None, false)
    };
    let lang = principal.as_ref().map(|p| p.language).unwrap_or_else(|| if api { Lang::En } else { cookie_lang(&headers) });

    if access != Access::Public {
        let Some(p) = principal.as_ref() else {
            if api {
                return with_lang(HttpError(Error::Unauthenticated).into_response(), lang);
            }
            let next_url = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
            return Redirect::to(&format!("/login?next={}", urlencode(&next_url))).into_response();
        };
        // A role requiring a second factor: until the user set it up, their session opens its
        // enrolment and nothing else, pages and API alike (tokens are not concerned).
        if p.second_factor_due && !by_token && access != Access::Enrolment {
            if api {
                let resp =
                    error_response(StatusCode::FORBIDDEN, "second_factor_required", "error.second_factor_required", FieldErrors::new());
                return with_lang(resp, lang);
            }
            return Redirect::to(SECOND_FACTOR_SETUP).into_response();
        }
        if let Access::Right(r) = access {
            if !p.can(r) {
                return with_lang(HttpError(Error::Forbidden).into_response(), lang);
            }
        }
    }

    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // A posted form is read once here: its text never holds control characters other than
    // tab and line breaks (a NUL byte would reach the database; refused with the field), and
    // it carries the CSRF token.
    let mut form = None;
    if changes_state && is_form(&req) {
        let limit = if access.is_public() { PUBLIC_BODY_BYTES } else { st.config.max_body_bytes };
        match read_form(req, limit, lang).await {
            Ok((r, bytes)) => {
                req = r;
                form = Some(bytes);
            }
            Err(resp) => return resp,
        }
    }
    if changes_state && !by_token {
        if let Some(p) = principal.as_ref() {
            let expected = p.csrf_token.clone().unwrap_or_default();
            if !csrf_ok(&req, form.as_deref(), &expected) {
                return with_lang(error_response(StatusCode::FORBIDDEN, "csrf_failed", "error.csrf", FieldErrors::new()), lang);
            }
        }
    }

    if let Some(p) = principal {
        // A page shown to a logged-in user carries the bell's unread count: one indexed count,
        // capped (`inbox::unread_count`), read at each page render, never cached. Not for what
        // the browser says is no page (`Sec-Fetch-Dest`: the rows and suggestions fetched as
        // one types, images), which has no bell.
        if !api && !by_token && !changes_state && access != Access::Public && !p.second_factor_due && is_document(&headers) {
            match crate::inbox::unread_count(&st.db, p.user_id, crate::wiring::readable_notifications(&p)).await {
                Ok(n) => {
                    req.extensions_mut().insert(Unread(n));
                }
                Err(e) => return with_lang(HttpError::from(e).into_response(), lang),
            }
        }
        super::request::log_user(&req, || p.user_id.to_string());
        req.extensions_mut().insert(p);
    }
    let peer = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let nets = st.config.trusted_proxy_nets().unwrap_or_default();
    req.extensions_mut().insert(ClientAddr(super::request::client_addr(peer, &headers, &nets)));
    req.extensions_mut().insert(lang);
    with_lang(next.run(req).await, lang)
}

/// Whether the request asks for a page (a browser's navigation, or a client that does not say).
fn is_document(headers: &axum::http::HeaderMap) -> bool {
    headers.get("sec-fetch-dest").and_then(|v| v.to_str().ok()).is_none_or(|d| matches!(d, "document" | "iframe" | "frame"))
}

/// Reads a posted urlencoded form once (at most `limit` bytes): its text never holds control
/// characters other than tab and line breaks (refused with the field). The request is
/// rebuilt with the same body for the handler.
pub(super) async fn read_form(req: Request, limit: usize, lang: Lang) -> Result<(Request, axum::body::Bytes), Response> {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        let resp = error_response(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "error.too_large", FieldErrors::new());
        return Err(with_lang(resp, lang));
    };
    let bad = url::form_urlencoded::parse(&bytes).find(|(_, v)| super::request::has_control_char(v)).map(|(k, _)| k.into_owned());
    if let Some(field) = bad {
        let mut errs = FieldErrors::new();
        errs.add(&field, "error.control_char");
        let resp = error_response(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "error.control_char", errs);
        return Err(with_lang(resp, lang));
    }
    Ok((Request::from_parts(parts, Body::from(bytes.clone())), bytes))
}

/// Records the request's language on the response, for `error::render_errors`; a handler
/// that set one itself (the language switch) keeps it.
pub(super) fn with_lang(mut resp: Response, lang: Lang) -> Response {
    if resp.extensions().get::<Lang>().is_none() {
        resp.extensions_mut().insert(lang);
    }
    resp
}

pub(super) fn is_form(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Whether the request carries the CSRF token: in the header, in the query string of a file
/// upload (multipart), or in the urlencoded form body (`form`, read by the guard).
pub(super) fn csrf_ok(req: &Request, form: Option<&[u8]>, expected: &str) -> bool {
    let given = if let Some(h) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        Some(h.to_string())
    } else if let Some(bytes) = form {
        form_urlencoded_value(bytes, CSRF_FIELD)
    } else if req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("multipart/form-data")) {
        req.uri().query().and_then(|q| form_urlencoded_value(q.as_bytes(), CSRF_FIELD))
    } else {
        None
    };
    !expected.is_empty() && given.is_some_and(|g| constant_time_eq(&g, expected))
}

fn form_urlencoded_value(bytes: &[u8], key: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes).ok()?.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).map(|x| x.trim_start_matches('=').to_string()).unwrap_or_default()
}

/// The unread count of the user's in-app notifications, read by the guard for pages.
#[derive(Debug, Clone, Copy)]
pub struct Unread(pub i64);

/// Everything a handler of an authenticated route needs about the request.
pub struct Ctx {
    pub p: Principal,
    pub request_id: String,
    pub tr: Tr,
    /// The page being shown (path and query of a GET, without its `notice`), for links back
    /// to it such as the language switch; empty for other methods.
    pub here: String,
    /// The bell's unread count (pages only: `None` for the API and state changes).
    pub unread: Option<i64>,
}

impl Ctx {
    pub fn actor(&self) -> Actor {
        self.p.actor(&self.request_id)
    }
    pub fn lang(&self) -> Lang {
        self.tr.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let p = parts.extensions.get::<Principal>().cloned().ok_or(HttpError(Error::Unauthenticated))?;
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let tr = Tr(p.language);
        let here = if parts.method == axum::http::Method::GET { here(&parts.uri) } else { String::new() };
        let unread = parts.extensions.get::<Unread>().map(|u| u.0);
        Ok(Ctx { p, request_id, tr, here, unread })
    }
}

/// The path and query of `uri` without the one-time `notice` parameter.
fn here(uri: &axum::http::Uri) -> String {
    let path = uri.path();
    let kept: Vec<&str> = uri.query().unwrap_or("").split('&').filter(|p| !p.is_empty() && !p.starts_with("notice=")).collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// For public routes: the user if logged in, the request id and the language.
pub struct MaybeCtx {
    pub p: Option<Principal>,
    pub request_id: String,
    pub tr: Tr,
    pub ip: String,
    pub user_agent: String,
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeCtx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let p = parts.extensions.get::<Principal>().cloned();
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let lang = parts.extensions.get::<Lang>().copied().unwrap_or_else(|| cookie_lang(&parts.headers));
        let ip = parts.extensions.get::<ClientAddr>().map(|a| a.0.clone()).unwrap_or_else(|| "unknown".into());
        let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        Ok(MaybeCtx { p, request_id, tr: Tr(lang), ip, user_agent })
    }
}

/// The session cookie's name: `__Host-carnet_session` when served over https (the browser
/// then keeps it only if Secure, for the whole site, set by this host alone), else
/// `carnet_session`.
pub fn session_cookie_name(config: &crate::config::Config) -> &'static str {
    host_name(config, session::COOKIE, session::HOST_COOKIE)
}

/// A session cookie's name: `host` (the `__Host-` form) when served over https, else `plain`.
pub fn host_name(config: &crate::config::Config, plain: &'static str, host: &'static str) -> &'static str {
    if config.host_cookies() {
        host
    } else {
        plain
    }
}

/// `Set-Cookie` value of a session cookie named `name` (empty `secret` and 0: cleared).
pub fn session_cookie_as(config: &crate::config::Config, name: &str, secret: &str, max_age_s: i64) -> String {
    let secure = if config.cookies_secure() { "; Secure" } else { "" };
    format!("{name}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}")
}

/// `Set-Cookie` value for the session cookie.
pub fn session_cookie(config: &crate::config::Config, secret: &str, max_age_s: i64) -> String {
    session_cookie_as(config, session_cookie_name(config), secret, max_age_s)
}

pub fn clear_session_cookie(config: &crate::config::Config) -> String {
    session_cookie_as(config, session_cookie_name(config), "", 0)
}
