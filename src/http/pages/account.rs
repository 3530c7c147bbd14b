//! The user's own account: password change, personal API tokens, notifications, and the way
//! to the second factor's page (`two_factor.rs`).

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{form_error, redirect_notice, render, FormErrors, NoticeQuery, PageCtx};
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::AppState;
use crate::identity::token::{self, ApiToken};
use crate::identity::{password, totp, users};

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    c: PageCtx,
    email: String,
    tokens: Vec<ApiToken>,
    new_token: Option<String>,
    pw_errors: FormErrors,
    token_errors: FormErrors,
    token_name: String,
    /// Now, to tell the tokens that expired.
    now: i64,
    /// The lifetimes offered for a new token: (days, label), the default first.
    lifetimes: Vec<(i64, String)>,
    /// Optional notifications: (event, label, enabled).
    prefs: Vec<(String, String, bool)>,
    /// The second factor's state (set up on its own page).
    two_factor: totp::Status,
}

async fn show(
    st: &AppState,
    c: &Ctx,
    notice: Option<&str>,
    new_token: Option<String>,
    pw_errors: FormErrors,
    token_errors: FormErrors,
    token_name: String,
) -> Result<Response, HttpError> {
    let tokens = token::list_for(&st.db, c.p.user_id).await?;
    let prefs = crate::mail::notify::prefs(&st.db, c.p.user_id)
        .await?
        .into_iter()
        .map(|(e, on)| (e.to_string(), c.tr.tp("event.", e), on))
        .collect();
    Ok(render(AccountPage {
        c: PageCtx::new(c, "/account", "account.title").with_notice(notice),
        email: c.p.email.clone(),
        tokens,
        new_token,
        pw_errors,
        token_errors,
        token_name,
        now: st.now(),
        lifetimes: [token::DEFAULT_DAYS, 30, 365, 0]
            .into_iter()
            .map(|d| (d, if d == 0 { c.tr.t("account.token_never") } else { c.tr.f("account.token_days", d) }))
            .collect(),
        prefs,
        two_factor: totp::status(&st.db, c.p.user_id).await?,
    }))
}

/// A form shown again with its errors: 422.
fn refused(mut resp: Response) -> Response {
    *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    resp
}

pub async fn page(State(st): State<AppState>, c: Ctx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    show(&st, &c, q.notice.as_deref(), None, FormErrors::none(), FormErrors::none(), String::new()).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn change_password(State(st): State<AppState>, c: Ctx, Form(f): Form<PasswordForm>) -> Result<Response, HttpError> {
    let stored = users::password_hash(&st.db, c.p.user_id).await?;
    let current_ok = match stored {
        Some(h) => password::verify_blocking(f.current.clone(), h).await?,
        None => false,
    };
    let mut errs = crate::error::FieldErrors::new();
    if !current_ok {
        errs.add("current", "error.password_wrong");
    }
    if f.new_password != f.confirm {
        errs.add("confirm", "error.password_mismatch");
    }
    if !errs.is_empty() {
        return Ok(refused(show(&st, &c, None, None, FormErrors::from(errs, c.tr), FormErrors::none(), String::new()).await?));
    }
    match users::set_password(&st.db, &c.actor(), st.now(), c.p.user_id, &f.new_password, c.p.session_hash.as_deref()).await {
        Ok(()) => Ok(redirect_notice("/account", "notice.password_changed")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            Ok(refused(show(&st, &c, None, None, fe, FormErrors::none(), String::new()).await?))
        }
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    /// Days until it expires (`0`: never); empty or absent: the default.
    #[serde(default)]
    expires_in_days: String,
}

pub async fn create_token(State(st): State<AppState>, c: Ctx, Form(f): Form<TokenForm>) -> Result<Response, HttpError> {
    let days = f.expires_in_days.trim();
    let expiry = match days {
        "" => Ok(token::Expiry::default()),
        d => d
            .parse::<i64>()
            .map_err(|_| crate::error::Error::validation("expires_in_days", "error.token_expiry"))
            .and_then(|d| token::Expiry::parse(Some(d))),
    };
    let created = match expiry {
        Ok(expiry) => token::create_with(&st.db, &c.actor(), st.now(), c.p.user_id, &f.name, expiry).await,
        Err(e) => Err(e),
    };
    match created {
        Ok((_, secret)) => {
            show(&st, &c, Some("notice.token_created"), Some(secret), FormErrors::none(), FormErrors::none(), String::new()).await
        }
        Err(e) => {
            let fe = form_error(&c, e)?;
            Ok(refused(show(&st, &c, None, None, FormErrors::none(), fe, f.name).await?))
        }
    }
}

pub async fn revoke_token(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    token::revoke(&st.db, &c.actor(), st.now(), c.p.user_id, id).await?;
    Ok(redirect_notice("/account", "notice.token_revoked"))
}

/// Saves the optional notifications: a checked box means "send me these".
pub async fn save_notifications(State(st): State<AppState>, c: Ctx, body: String) -> Result<Response, HttpError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let current = crate::mail::notify::prefs(&st.db, c.p.user_id).await?;
    let choices: Vec<(String, bool)> =
        current.iter().map(|(e, _)| (e.to_string(), pairs.iter().any(|(k, v)| k == "events" && v == e))).collect();
    crate::mail::notify::set_prefs(&st.db, c.p.user_id, &choices).await?;
    Ok(redirect_notice("/account", "notice.saved"))
}
