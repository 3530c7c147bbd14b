//! `/api/v1/emails`, `/api/v1/email-templates`, `/api/v1/me/notifications`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::ListOf;
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::json::{ApiInput, ApiJson};
use crate::http::AppState;
use crate::i18n::Lang;
use crate::mail::{self, notify, templates, AttachmentMeta, EmailRow, EmailSummary, Mailbox};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// `queued`, `sent` or `failed`.
    pub status: Option<String>,
    /// Cursor from the previous page's `next_cursor`.
    pub after: Option<String>,
    pub limit: Option<i64>,
}

/// The outbox, newest first.
#[utoipa::path(get, path = "/api/v1/emails", tag = "mail", params(OutboxQuery), responses((status = 200, body = ListOf<EmailSummary>)))]
pub async fn list(State(st): State<AppState>, _c: Ctx, Query(q): Query<OutboxQuery>) -> Result<Json<ListOf<EmailSummary>>, HttpError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=crate::db::page::MAX_LIMIT).contains(&limit) {
        return Err(Error::validation("limit", "error.limit_range").into());
    }
    let before = match q.after.as_deref() {
        Some(a) => Some(a.parse::<i64>().map_err(|_| Error::validation("after", "error.cursor_invalid"))?),
        None => None,
    };
    if let Some(s) = q.status.as_deref() {
        if !mail::STATUSES.contains(&s) {
            return Err(Error::validation("status", "error.invalid_choice").into());
        }
    }
    let rows = mail::list(&st.db, q.status.as_deref(), before, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let items: Vec<EmailSummary> = rows.into_iter().take(limit as usize).collect();
    let next_cursor = if more { items.last().map(|e| e.id.to_string()) } else { None };
    Ok(Json(ListOf { items, next_cursor }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmailOut {
    #[serde(flatten)]
    pub email: EmailRow,
    pub attachments: Vec<AttachmentMeta>,
}

/// One email with its headers, bodies and attachments' metadata.
#[utoipa::path(get, path = "/api/v1/emails/{id}", tag = "mail", responses((status = 200, body = EmailOut), (status = 404)))]
pub async fn get(State(st): State<AppState>, _c: Ctx, Path(id): Path<i64>) -> Result<Json<EmailOut>, HttpError> {
    let email = mail::get(&st.db, id).await?.ok_or(Error::NotFound)?;
    let attachments = mail::attachments(&st.db, id).await?;
    Ok(Json(EmailOut { email, attachments }))
}

/// Puts a failed email back in the queue (in its history); anything but a failed email is 409.
#[utoipa::path(post, path = "/api/v1/emails/{id}/retry", tag = "mail", responses((status = 204), (status = 404), (status = 409, description = "Not failed")))]
pub async fn retry(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    mail::get(&st.db, id).await?.ok_or(Error::NotFound)?;
    mail::retry(&st.db, &c.actor(), st.now(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Requeued {
    /// How many failed emails were queued again.
    pub requeued: u64,
}

/// Puts every failed email back in the queue (each in its history).
#[utoipa::path(post, path = "/api/v1/emails/retry-failed", tag = "mail", responses((status = 200, body = Requeued)))]
pub async fn retry_failed(State(st): State<AppState>, c: Ctx) -> Result<Json<Requeued>, HttpError> {
    let requeued = mail::retry_failed(&st.db, &c.actor(), st.now()).await?;
    Ok(Json(Requeued { requeued }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestEmail {
    /// `a@b.fr` or `Name <a@b.fr>`.
    pub to: String,
}

impl ApiInput for TestEmail {}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Queued {
    pub id: i64,
}

/// Queues the test email.
#[utoipa::path(post, path = "/api/v1/emails/test", tag = "mail", request_body = TestEmail, responses((status = 202, body = Queued), (status = 422)))]
pub async fn send_test(
    State(st): State<AppState>,
    c: Ctx,
    ApiJson(b): ApiJson<TestEmail>,
) -> Result<(StatusCode, Json<Queued>), HttpError> {
    let to = Mailbox::parse(&b.to).map_err(|r| Error::validation("to", r))?;
    let id = mail::send_test(&st.db, &c.actor(), st.now(), to, c.lang()).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { id })))
}

/// Every event's template in both languages.
#[utoipa::path(get, path = "/api/v1/email-templates", tag = "mail", responses((status = 200, body = ListOf<templates::Template>)))]
pub async fn list_templates(State(st): State<AppState>, _c: Ctx) -> Result<Json<ListOf<templates::Template>>, HttpError> {
    let mut conn = st.db.pool.acquire().await?;
    let mut items = Vec::new();
    for e in templates::events() {
        for l in [Lang::Fr, Lang::En] {
            items.push(templates::get(&mut conn, e.code, l).await?);
        }
    }
    Ok(Json(ListOf { items, next_cursor: None }))
}

pub use templates::TemplateInput as TemplateBody;

impl ApiInput for TemplateBody {
    const READ_ONLY: &'static [&'static str] = &["event", "lang", "customized"];
}

/// Replaces an event's template in one language (checked against sample data first).
#[utoipa::path(put, path = "/api/v1/email-templates/{event}/{lang}", tag = "mail", request_body = TemplateBody,
    responses((status = 200, body = templates::Template), (status = 404), (status = 422)))]
pub async fn put_template(
    State(st): State<AppState>,
    c: Ctx,
    Path((event, lang)): Path<(String, String)>,
    ApiJson(b): ApiJson<TemplateBody>,
) -> Result<Json<templates::Template>, HttpError> {
    let l = Lang::parse(&lang).ok_or(Error::NotFound)?;
    let t = templates::save(&st.db, &c.actor(), st.now(), &event, l, &b).await?;
    Ok(Json(t))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Prefs {
    /// Optional notifications by event: true to receive them.
    pub events: std::collections::BTreeMap<String, bool>,
}

impl ApiInput for Prefs {}

/// The caller's optional notifications.
#[utoipa::path(get, path = "/api/v1/me/notifications", tag = "account", responses((status = 200, body = Prefs)))]
pub async fn get_prefs(State(st): State<AppState>, c: Ctx) -> Result<Json<Prefs>, HttpError> {
    let p = notify::prefs(&st.db, c.p.user_id).await?;
    Ok(Json(Prefs { events: p.into_iter().map(|(k, v)| (k.to_string(), v)).collect() }))
}

/// Turns optional notifications on or off; required ones cannot be turned off (422).
#[utoipa::path(put, path = "/api/v1/me/notifications", tag = "account", request_body = Prefs, responses((status = 200, body = Prefs), (status = 422)))]
pub async fn put_prefs(State(st): State<AppState>, c: Ctx, ApiJson(b): ApiJson<Prefs>) -> Result<Json<Prefs>, HttpError> {
    let choices: Vec<(String, bool)> = b.events.into_iter().collect();
    notify::set_prefs(&st.db, c.p.user_id, &choices).await?;
    get_prefs(State(st), c).await
}
