//! The second factor in the UI: the login's second step (a code after the right password) and
//! the user's own set-up on *My account* (enrol, renew recovery codes, turn off). The rules are
//! in `identity::totp`.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{form_error, login_response, redirect_notice, render, with_retry_after, FormErrors, NoticeQuery, PageCtx};
use crate::access::Actor;
use crate::error::Error;
use crate::http::auth::{Ctx, MaybeCtx};
use crate::http::error::HttpError;
use crate::http::AppState;
use crate::i18n::Tr;
use crate::identity::totp::{self, Answer};
use crate::identity::{password, throttle, users};

// ---------------------------------------------------------------- the login's second step

#[derive(Template)]
#[template(path = "login_code.html")]
struct CodePage {
    c: PageCtx,
    challenge: String,
    error: Option<String>,
}

/// The form asking for the code, bound to the login's challenge token.
pub(super) fn code_page(tr: Tr, request_id: &str, challenge: String, error: Option<String>, status: StatusCode) -> Response {
    let mut resp = render(CodePage { c: PageCtx::anonymous(tr, "login.code_title", request_id), challenge, error });
    *resp.status_mut() = status;
    resp
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    challenge: String,
    #[serde(default)]
    code: String,
}

/// `POST /login/code`: the code (or a recovery code) for the login's challenge. Attempts are
/// counted before the check, on the user, like passwords; the session opens after the code.
pub async fn login_code(
    State(st): State<AppState>,
    m: MaybeCtx,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Result<Response, HttpError> {
    let now = st.now();
    let tr = m.tr;
    let expired =
        || login_response(&st, tr, &m.request_id, String::new(), "/".into(), Some(tr.t("login.code_expired")), StatusCode::UNAUTHORIZED);
    let Some(ch) = totp::challenge::get(&st.db, now, &f.challenge).await? else {
        return Ok(expired());
    };
    let again = |key: &str, status| code_page(tr, &m.request_id, f.challenge.clone(), Some(tr.t(key)), status);
    let user_key = ch.user_id.to_string();
    let key = throttle::Key::SecondFactor(&user_key);
    if let Some(ms) = throttle::take(&st.db, now, key, st.config.login_max_failures_per_account).await? {
        throttle::count_throttled("second_factor");
        return Ok(with_retry_after(again("error.rate_limited", StatusCode::TOO_MANY_REQUESTS), ms));
    }
    let answer = match Answer::parse(&f.code, "code") {
        Ok(a) => a,
        Err(_) => return Ok(again("error.totp_format", StatusCode::UNPROCESSABLE_ENTITY)),
    };
    // A recovery code used is in the user's history, as theirs.
    let mut conn = st.db.pool.acquire().await?;
    let name = users::get(&mut conn, ch.user_id).await?.map(|u| u.name).unwrap_or_default();
    drop(conn);
    let actor = Actor { id: Some(ch.user_id), name, request_id: Some(m.request_id.clone()) };
    if !totp::verify(&st.db, &actor, now, ch.user_id, &answer).await? {
        throttle::count_failure("second_factor");
        return Ok(again("login.code_invalid", StatusCode::UNAUTHORIZED));
    }
    if !totp::challenge::consume(&st.db, now, &f.challenge).await? {
        return Ok(expired());
    }
    throttle::clear(&st.db, key).await?;
    super::open_session(&st, &m, &headers, ch.user_id, ch.device_hash.as_deref(), &ch.next_path).await
}

// ---------------------------------------------------------------- My account

#[derive(Template)]
#[template(path = "account_two_factor.html")]
struct SetupPage {
    c: PageCtx,
    status: totp::Status,
    enrolment: Option<totp::Enrolment>,
    /// Recovery codes just made: shown this once.
    codes: Vec<String>,
    f: FormErrors,
    /// The user's role requires a second factor and none is set up: nothing else opens.
    due: bool,
}

async fn show(st: &AppState, c: &Ctx, notice: Option<&str>, codes: Vec<String>, f: FormErrors) -> Result<Response, HttpError> {
    let status = totp::status(&st.db, c.p.user_id).await?;
    let enrolment = totp::pending(&st.db, c.p.user_id, &c.p.email).await?;
    let due = status.required && status.enabled_at.is_none();
    let errors = f.any();
    let mut resp =
        render(SetupPage { c: PageCtx::new(c, "/account", "two_factor.title").with_notice(notice), status, enrolment, codes, f, due });
    if errors {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(resp)
}

pub async fn page(State(st): State<AppState>, c: Ctx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    show(&st, &c, q.notice.as_deref(), Vec::new(), FormErrors::none()).await
}

/// Starts (or starts again) the enrolment: a new secret, shown on the page until confirmed.
pub async fn setup(State(st): State<AppState>, c: Ctx) -> Result<Response, HttpError> {
    match totp::start(&st.db, &c.actor(), st.now(), c.p.user_id, &c.p.email).await {
        Ok(_) => Ok(redirect_notice("/account/two-factor", "notice.two_factor_started")),
        Err(e) => {
            let f = form_error(&c, e)?;
            show(&st, &c, None, Vec::new(), f).await
        }
    }
}

/// The QR code of the enrolment in progress (none once enabled: the secret is never shown again).
pub async fn qr(State(st): State<AppState>, c: Ctx) -> Result<Response, HttpError> {
    let enrolment = totp::pending(&st.db, c.p.user_id, &c.p.email).await?.ok_or(Error::NotFound)?;
    let svg = enrolment.qr_svg()?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "no-store")], svg).into_response())
}

#[derive(Deserialize)]
pub struct CodeOnly {
    #[serde(default)]
    code: String,
}

/// Counts an attempt at a code typed on *My account* like one at login (so that a session left
/// open does not let anyone guess codes freely), then checks it.
async fn attempt(st: &AppState, user_id: i64, raw: &str) -> Result<Answer, Error> {
    let user_key = user_id.to_string();
    let key = throttle::Key::SecondFactor(&user_key);
    if throttle::take(&st.db, st.now(), key, st.config.login_max_failures_per_account).await?.is_some() {
        return Err(Error::RateLimited);
    }
    Answer::parse_code(raw, "code")
}

/// The page after new recovery codes were made (shown this once), or the form's errors.
async fn codes_made(st: &AppState, c: &Ctx, made: Result<Vec<String>, Error>, notice: &str) -> Result<Response, HttpError> {
    match made {
        Ok(codes) => {
            throttle::clear(&st.db, throttle::Key::SecondFactor(&c.p.user_id.to_string())).await?;
            show(st, c, Some(notice), codes, FormErrors::none()).await
        }
        Err(e) => {
            let f = form_error(c, e)?;
            show(st, c, None, Vec::new(), f).await
        }
    }
}

/// Enables the enrolment with a first code; the recovery codes are shown once.
pub async fn confirm(State(st): State<AppState>, c: Ctx, Form(f): Form<CodeOnly>) -> Result<Response, HttpError> {
    let made = match attempt(&st, c.p.user_id, &f.code).await {
        Ok(code) => totp::confirm(&st.db, &c.actor(), st.now(), c.p.user_id, &code).await,
        Err(e) => Err(e),
    };
    codes_made(&st, &c, made, "notice.two_factor_enabled").await
}

/// New recovery codes (the old ones stop working), after a code from the app.
pub async fn renew(State(st): State<AppState>, c: Ctx, Form(f): Form<CodeOnly>) -> Result<Response, HttpError> {
    let made = match attempt(&st, c.p.user_id, &f.code).await {
        Ok(code) => totp::renew_recovery_codes(&st.db, &c.actor(), st.now(), c.p.user_id, &code).await,
        Err(e) => Err(e),
    };
    codes_made(&st, &c, made, "notice.recovery_codes_renewed").await
}

#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

/// Turns the second factor off, with the password or a current code; refused while the role
/// requires it.
pub async fn disable(State(st): State<AppState>, c: Ctx, Form(f): Form<DisableForm>) -> Result<Response, HttpError> {
    let now = st.now();
    let proven = if !f.code.trim().is_empty() {
        match attempt(&st, c.p.user_id, &f.code).await {
            Ok(code) => totp::verify(&st.db, &c.actor(), now, c.p.user_id, &code).await?,
            Err(e @ Error::RateLimited) => return Err(e.into()),
            Err(_) => false,
        }
    } else {
        match users::password_hash(&st.db, c.p.user_id).await? {
            Some(h) if !f.password.is_empty() => password::verify_blocking(f.password.clone(), h).await?,
            _ => false,
        }
    };
    let res = if proven {
        totp::disable(&st.db, &c.actor(), now, c.p.user_id).await
    } else {
        Err(Error::validation("proof", "error.totp_disable_proof"))
    };
    match res {
        Ok(()) => {
            throttle::clear(&st.db, throttle::Key::SecondFactor(&c.p.user_id.to_string())).await?;
            Ok(redirect_notice("/account/two-factor", "notice.two_factor_disabled"))
        }
        Err(e) => {
            let f = form_error(&c, e)?;
            show(&st, &c, None, Vec::new(), f).await
        }
    }
}
