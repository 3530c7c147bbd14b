//! The partner portal's web side: its guard (its own session cookie; a staff or customer
//! portal session never counts here, a partner session never counts elsewhere), its context
//! extractor, its layout, the partner user's pages (`pages.rs`) and the staff pages that
//! manage partners, their opportunities and the news (`staff.rs`).

pub mod pages;
pub mod presales;
pub mod staff;

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::auth::{csrf_ok, is_form, read_form, urlencode, with_lang, Access, PUBLIC_BODY_BYTES};
use super::error::{error_response, HttpError};
use super::pages::NavItem;
use super::request::{cookie, cookie_lang, ClientAddr};
use super::{AppState, RequestId};
use crate::error::{Error, FieldErrors};
use crate::i18n::{Lang, Tr};
use crate::partners::{session, PartnerUser};

/// The partner session cookie's name (`__Host-` over https, as the staff one).
pub fn cookie_name(config: &crate::config::Config) -> &'static str {
    super::auth::host_name(config, session::COOKIE, session::HOST_COOKIE)
}

pub fn session_cookie(config: &crate::config::Config, secret: &str, max_age_s: i64) -> String {
    super::auth::session_cookie_as(config, cookie_name(config), secret, max_age_s)
}

pub fn clear_session_cookie(config: &crate::config::Config) -> String {
    super::auth::session_cookie_as(config, cookie_name(config), "", 0)
}

/// The guard of every partner route: the partner session (only), the login for logged-in
/// routes, the partner right "Opportunités" where the route needs it (404 otherwise, as for
/// a page that does not exist for them), a posted form read once and its CSRF token checked.
pub async fn guard(st: AppState, access: Access, mut req: Request, next: Next) -> Response {
    let now = st.now();
    let headers = req.headers().clone();
    let user = match cookie(&headers, cookie_name(&st.config)) {
        Some(secret) => match session::user(&st.db, &secret, now, st.config.session_idle_minutes * 60_000).await {
            Ok(u) => u,
            Err(e) => return HttpError::from(e).into_response(),
        },
        None => None,
    };
    let lang = user.as_ref().map(|u| u.language).unwrap_or_else(|| cookie_lang(&headers));
    let logged_in_route = access != Access::PartnerPublic;
    if logged_in_route && user.is_none() {
        let next_url = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
        return Redirect::to(&format!("/partner/login?next={}", urlencode(&next_url))).into_response();
    }
    if access == Access::PartnerOpportunities && !user.as_ref().is_some_and(|u| u.can_opportunities) {
        return with_lang(error_response(StatusCode::FORBIDDEN, "forbidden", "error.forbidden", FieldErrors::new()), lang);
    }
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
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
    if changes_state && logged_in_route {
        let expected = user.as_ref().map(|u| u.csrf_token.clone()).unwrap_or_default();
        if !csrf_ok(&req, form.as_deref(), &expected) {
            return with_lang(error_response(StatusCode::FORBIDDEN, "csrf_failed", "error.csrf", FieldErrors::new()), lang);
        }
    }
    if let Some(u) = user {
        crate::http::request::log_user(&req, || format!("partner:{}", u.user_id));
        req.extensions_mut().insert(u);
    }
    let peer = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let nets = st.config.trusted_proxy_nets().unwrap_or_default();
    req.extensions_mut().insert(ClientAddr(super::request::client_addr(peer, &headers, &nets)));
    req.extensions_mut().insert(lang);
    with_lang(next.run(req).await, lang)
}

/// What a partner handler needs about the request.
pub struct PartnerCtx {
    pub u: PartnerUser,
    pub request_id: String,
    pub tr: Tr,
}

impl PartnerCtx {
    pub fn actor(&self) -> crate::access::Actor {
        self.u.actor(&self.request_id)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PartnerCtx {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let u = parts.extensions.get::<PartnerUser>().cloned().ok_or(HttpError(Error::Unauthenticated))?;
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let tr = Tr(u.language);
        Ok(PartnerCtx { u, request_id, tr })
    }
}

/// For the partner portal's public pages: the partner user if logged in, the language, the client.
pub struct MaybePartner {
    pub u: Option<PartnerUser>,
    pub request_id: String,
    pub tr: Tr,
    pub ip: String,
    pub user_agent: String,
}

impl<S: Send + Sync> FromRequestParts<S> for MaybePartner {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let u = parts.extensions.get::<PartnerUser>().cloned();
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let lang = parts.extensions.get::<Lang>().copied().unwrap_or_else(|| cookie_lang(&parts.headers));
        let ip = parts.extensions.get::<ClientAddr>().map(|a| a.0.clone()).unwrap_or_else(|| "unknown".into());
        let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        Ok(MaybePartner { u, request_id, tr: Tr(lang), ip, user_agent })
    }
}

/// What the partner portal's layout (`templates/partner/base.html`) needs on every page.
pub struct PartnerPage {
    pub tr: Tr,
    pub title: String,
    pub user_name: Option<String>,
    pub org_name: String,
    pub csrf: String,
    pub request_id: String,
    pub nav: Vec<NavItem>,
    pub notice: Option<String>,
    pub zone: crate::clock::Zone,
}

/// Sections of the partner portal's navigation. The pre-sales requests add theirs here.
pub fn sections(u: &PartnerUser) -> Vec<(&'static str, &'static str)> {
    let mut s = vec![("/partner", "partner.nav_home")];
    if u.can_opportunities {
        s.push(("/partner/opportunities", "partner.nav_opportunities"));
        s.push(("/partner/presales", "partner.nav_presales"));
    }
    s.push(("/partner/news", "partner.nav_news"));
    if u.can_invite() {
        s.push(("/partner/colleagues", "partner.nav_colleagues"));
    }
    s
}

impl PartnerPage {
    pub fn new(c: &PartnerCtx, section: &str, title_key: &str) -> PartnerPage {
        let tr = c.tr;
        PartnerPage {
            tr,
            title: tr.t(title_key),
            user_name: Some(c.u.name.clone()),
            org_name: c.u.partner_name.clone(),
            csrf: c.u.csrf_token.clone(),
            request_id: c.request_id.clone(),
            nav: sections(&c.u).into_iter().map(|(href, key)| NavItem { href, label: tr.t(key), active: href == section }).collect(),
            notice: None,
            zone: c.u.zone,
        }
    }

    pub fn anonymous(tr: Tr, title_key: &str, request_id: &str) -> PartnerPage {
        PartnerPage {
            tr,
            title: tr.t(title_key),
            user_name: None,
            org_name: String::new(),
            csrf: String::new(),
            request_id: request_id.to_string(),
            nav: Vec::new(),
            notice: None,
            zone: crate::clock::Zone::default(),
        }
    }

    /// Shows a success message named by `notice=` (only known `notice.*` keys).
    pub fn with_notice(mut self, notice: Option<&str>) -> PartnerPage {
        if let Some(n) = notice.filter(|n| n.starts_with("notice.") && n.len() < 60) {
            let text = self.tr.t(n);
            if text != n {
                self.notice = Some(text);
            }
        }
        self
    }

    pub fn at(&self, ms: &i64) -> String {
        self.zone.format(*ms)
    }
    pub fn date(&self, ms: &i64) -> String {
        self.zone.date(*ms)
    }
}
