//! The customer portal's web side: its guard (its own session cookie; a staff session never
//! counts here, a portal session never counts on staff routes), its context extractor, its
//! layout, the portal user's pages (`pages.rs`) and the staff pages that manage access
//! (`staff.rs`).

pub mod pages;
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
use crate::portal::{session, PortalUser};

/// The portal session cookie's name (`__Host-` over https, as the staff one).
pub fn cookie_name(config: &crate::config::Config) -> &'static str {
    super::auth::host_name(config, session::COOKIE, session::HOST_COOKIE)
}

pub fn session_cookie(config: &crate::config::Config, secret: &str, max_age_s: i64) -> String {
    super::auth::session_cookie_as(config, cookie_name(config), secret, max_age_s)
}

pub fn clear_session_cookie(config: &crate::config::Config) -> String {
    super::auth::session_cookie_as(config, cookie_name(config), "", 0)
}

/// The guard of every portal route: the portal session (only), the login for `Portal` routes,
/// a posted form read once (control characters refused) and its CSRF token checked.
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
    if access == Access::Portal && user.is_none() {
        let next_url = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
        return Redirect::to(&format!("/portal/login?next={}", urlencode(&next_url))).into_response();
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
    if changes_state && access == Access::Portal {
        let expected = user.as_ref().map(|u| u.csrf_token.clone()).unwrap_or_default();
        if !csrf_ok(&req, form.as_deref(), &expected) {
            return with_lang(error_response(StatusCode::FORBIDDEN, "csrf_failed", "error.csrf", FieldErrors::new()), lang);
        }
    }
    if let Some(u) = user {
        crate::http::request::log_user(&req, || format!("portal:{}", u.account_id));
        req.extensions_mut().insert(u);
    }
    let peer = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let nets = st.config.trusted_proxy_nets().unwrap_or_default();
    req.extensions_mut().insert(ClientAddr(super::request::client_addr(peer, &headers, &nets)));
    req.extensions_mut().insert(lang);
    with_lang(next.run(req).await, lang)
}

/// What a portal handler needs about the request.
pub struct PortalCtx {
    pub u: PortalUser,
    pub request_id: String,
    pub tr: Tr,
}

impl PortalCtx {
    pub fn actor(&self) -> crate::access::Actor {
        self.u.actor(&self.request_id)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PortalCtx {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let u = parts.extensions.get::<PortalUser>().cloned().ok_or(HttpError(Error::Unauthenticated))?;
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let tr = Tr(u.language);
        Ok(PortalCtx { u, request_id, tr })
    }
}

/// For the portal's public pages: the portal user if logged in, the language, the client.
pub struct MaybePortal {
    pub u: Option<PortalUser>,
    pub request_id: String,
    pub tr: Tr,
    pub ip: String,
    pub user_agent: String,
}

impl<S: Send + Sync> FromRequestParts<S> for MaybePortal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let u = parts.extensions.get::<PortalUser>().cloned();
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let lang = parts.extensions.get::<Lang>().copied().unwrap_or_else(|| cookie_lang(&parts.headers));
        let ip = parts.extensions.get::<ClientAddr>().map(|a| a.0.clone()).unwrap_or_else(|| "unknown".into());
        let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        Ok(MaybePortal { u, request_id, tr: Tr(lang), ip, user_agent })
    }
}

/// What the portal's layout (`templates/portal/base.html`) needs on every page.
pub struct PortalPage {
    pub tr: Tr,
    pub title: String,
    /// The logged-in user and their organisation (none on the login pages).
    pub user_name: Option<String>,
    pub org_name: String,
    pub csrf: String,
    pub request_id: String,
    pub nav: Vec<NavItem>,
    pub notice: Option<String>,
    pub zone: crate::clock::Zone,
    /// A read-only preview shown to staff ("as the customer sees it").
    pub preview: bool,
}

impl PortalPage {
    pub fn new(c: &PortalCtx, section: &str, title_key: &str) -> PortalPage {
        PortalPage::for_user(&c.u, c.tr, &c.request_id, section, title_key)
    }

    pub fn for_user(u: &PortalUser, tr: Tr, request_id: &str, section: &str, title_key: &str) -> PortalPage {
        let mut sections: Vec<(&'static str, &'static str)> = vec![
            ("/portal", "portal.nav_home"),
            ("/portal/requests", "portal.nav_requests"),
            ("/portal/planning", "portal.nav_planning"),
            ("/portal/equipment", "portal.nav_equipment"),
        ];
        if u.can_invite() {
            sections.push(("/portal/colleagues", "portal.nav_colleagues"));
        }
        PortalPage {
            tr,
            title: tr.t(title_key),
            user_name: Some(u.name.clone()),
            org_name: u.customer_name.clone(),
            csrf: u.csrf_token.clone(),
            request_id: request_id.to_string(),
            nav: sections.into_iter().map(|(href, key)| NavItem { href, label: tr.t(key), active: href == section }).collect(),
            notice: None,
            zone: u.zone,
            preview: false,
        }
    }

    pub fn anonymous(tr: Tr, title_key: &str, request_id: &str) -> PortalPage {
        PortalPage {
            tr,
            title: tr.t(title_key),
            user_name: None,
            org_name: String::new(),
            csrf: String::new(),
            request_id: request_id.to_string(),
            nav: Vec::new(),
            notice: None,
            zone: crate::clock::Zone::default(),
            preview: false,
        }
    }

    /// Shows a success message named by `notice=` (only known `notice.*` keys).
    pub fn with_notice(mut self, notice: Option<&str>) -> PortalPage {
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
    pub fn time(&self, ms: &i64) -> String {
        self.zone.time(*ms)
    }
}

/// Redirects to a portal page with a one-time notice.
pub fn redirect_notice(to: &str, key: &str) -> Response {
    super::redirect_notice(to, key)
}
