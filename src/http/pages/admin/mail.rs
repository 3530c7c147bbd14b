//! Administration of email: the outbox (with retry and a test email) and the templates.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::pages::{form_error, redirect_notice, render, FormErrors, PageCtx};
use crate::http::AppState;
use crate::i18n::Lang;
use crate::mail::{self, templates, AttachmentMeta, EmailRow, EmailSummary, Mailbox};

#[derive(Deserialize, Default)]
pub struct OutboxQuery {
    status: Option<String>,
    before: Option<i64>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/outbox.html")]
struct OutboxPage {
    c: PageCtx,
    emails: Vec<EmailSummary>,
    status: String,
    next_before: Option<i64>,
    transport: String,
    queued: i64,
    queued_with_errors: i64,
    failed: i64,
    test_to: String,
    f: FormErrors,
}

async fn outbox_page(st: &AppState, c: &Ctx, q: OutboxQuery, test_to: String, f: FormErrors) -> Result<Response, HttpError> {
    let status = q.status.clone().filter(|s| ["queued", "sent", "failed"].contains(&s.as_str()));
    let limit = 50;
    let rows = mail::list(&st.db, status.as_deref(), q.before, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let emails: Vec<EmailSummary> = rows.into_iter().take(limit as usize).collect();
    let next_before = if more { emails.last().map(|e| e.id) } else { None };
    let (queued, queued_with_errors, failed) = mail::queue_state(&st.db).await?;
    let transport = match &st.config.smtp_url {
        Some(u) => crate::config::mask_url_password(u),
        None => format!("{} ({})", c.tr.t("mail.files"), st.config.mail_dir.display()),
    };
    let errors = f.any();
    let mut resp = render(OutboxPage {
        c: PageCtx::new(c, "/admin", "admin.outbox").with_notice(q.notice.as_deref()),
        emails,
        status: status.unwrap_or_default(),
        next_before,
        transport,
        queued,
        queued_with_errors,
        failed,
        test_to,
        f,
    });
    if errors {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn outbox(State(st): State<AppState>, c: Ctx, Query(q): Query<OutboxQuery>) -> Result<Response, HttpError> {
    let to = c.p.email.clone();
    outbox_page(&st, &c, q, to, FormErrors::none()).await
}

#[derive(Template)]
#[template(path = "admin/email.html")]
struct EmailPage {
    c: PageCtx,
    e: EmailRow,
    attachments: Vec<AttachmentMeta>,
    to: String,
    cc: String,
    bcc: String,
    from: String,
    reply_to: String,
}

pub async fn show(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, Query(q): Query<OutboxQuery>) -> Result<Response, HttpError> {
    let e = mail::get(&st.db, id).await?.ok_or(Error::NotFound)?;
    let attachments = mail::attachments(&st.db, id).await?;
    let mut pc = PageCtx::new(&c, "/admin", "admin.outbox").with_notice(q.notice.as_deref());
    pc.title = e.subject.clone();
    Ok(render(EmailPage {
        c: pc,
        to: EmailRow::joined(&e.to()),
        cc: EmailRow::joined(&e.cc()),
        bcc: EmailRow::joined(&e.bcc()),
        from: e.from_mailbox().map(|m| m.display()).unwrap_or_default(),
        reply_to: e.reply_to_mailbox().map(|m| m.display()).unwrap_or_default(),
        e,
        attachments,
    }))
}

pub async fn attachment(State(st): State<AppState>, _c: Ctx, Path((id, aid)): Path<(i64, i64)>) -> Result<Response, HttpError> {
    let a = mail::attachment(&st.db, id, aid).await?.ok_or(Error::NotFound)?;
    let disposition = format!("attachment; filename=\"{}\"", a.filename.replace(['"', '\\'], "_"));
    Ok((
        [
            (header::CONTENT_TYPE, a.content_type.clone()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        a.content,
    )
        .into_response())
}

pub async fn retry(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    mail::get(&st.db, id).await?.ok_or(Error::NotFound)?;
    mail::retry(&st.db, &c.actor(), st.now(), id).await?;
    Ok(redirect_notice(&format!("/admin/outbox/{id}"), "notice.email_requeued"))
}

/// "Resend all failed": every failed email queued again.
pub async fn retry_failed(State(st): State<AppState>, c: Ctx) -> Result<Response, HttpError> {
    let n = mail::retry_failed(&st.db, &c.actor(), st.now()).await?;
    let key = if n == 0 { "notice.no_failed_email" } else { "notice.failed_emails_requeued" };
    Ok(redirect_notice("/admin/outbox", key))
}

#[derive(Deserialize)]
pub struct TestForm {
    #[serde(default)]
    to: String,
}

pub async fn send_test(State(st): State<AppState>, c: Ctx, Form(f): Form<TestForm>) -> Result<Response, HttpError> {
    let res = match Mailbox::parse(&f.to) {
        Ok(to) => mail::send_test(&st.db, &c.actor(), st.now(), to, c.lang()).await,
        Err(r) => Err(Error::validation("to", r)),
    };
    match res {
        Ok(id) => Ok(redirect_notice(&format!("/admin/outbox/{id}"), "notice.test_email_queued")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            outbox_page(&st, &c, OutboxQuery::default(), f.to, fe).await
        }
    }
}

// ------------------------------------------------------------------ templates

pub struct TemplateRow {
    pub event: &'static str,
    pub required: bool,
    pub fr_custom: bool,
    pub en_custom: bool,
}

#[derive(Template)]
#[template(path = "admin/email_templates.html")]
struct TemplatesPage {
    c: PageCtx,
    rows: Vec<TemplateRow>,
}

pub async fn templates_list(State(st): State<AppState>, c: Ctx) -> Result<Response, HttpError> {
    let mut conn = st.db.pool.acquire().await?;
    let mut rows = Vec::new();
    for e in templates::events() {
        let fr = templates::get(&mut conn, e.code, Lang::Fr).await?;
        let en = templates::get(&mut conn, e.code, Lang::En).await?;
        rows.push(TemplateRow { event: e.code, required: e.required, fr_custom: fr.customized, en_custom: en.customized });
    }
    Ok(render(TemplatesPage { c: PageCtx::new(&c, "/admin", "admin.email_templates"), rows }))
}

#[derive(Template)]
#[template(path = "admin/email_template_form.html")]
struct TemplateFormPage {
    c: PageCtx,
    event: String,
    lang: String,
    subject: String,
    text_body: String,
    html_body: String,
    customized: bool,
    preview: Option<templates::Rendered>,
    variables: String,
    f: FormErrors,
}

fn parse_lang(s: &str) -> Result<Lang, HttpError> {
    Ok(Lang::parse(s).ok_or(Error::NotFound)?)
}

#[derive(Deserialize, Default)]
pub struct NoticeQ {
    notice: Option<String>,
}

pub async fn template_form(
    State(st): State<AppState>,
    c: Ctx,
    Path((event, lang)): Path<(String, String)>,
    Query(q): Query<NoticeQ>,
) -> Result<Response, HttpError> {
    let l = parse_lang(&lang)?;
    let def = templates::event(&event).ok_or(Error::NotFound)?;
    let mut conn = st.db.pool.acquire().await?;
    let t = templates::get(&mut conn, &event, l).await?;
    let sample = (def.sample)();
    let preview = templates::render(&t, &sample).ok();
    let mut pc = PageCtx::new(&c, "/admin", "admin.email_templates").with_notice(q.notice.as_deref());
    pc.title = format!("{} · {}", c.tr.tp("event.", &event), lang.to_uppercase());
    Ok(render(TemplateFormPage {
        c: pc,
        event,
        lang,
        subject: t.subject,
        text_body: t.text_body,
        html_body: t.html_body,
        customized: t.customized,
        preview,
        variables: serde_json::to_string_pretty(&sample).unwrap_or_default(),
        f: FormErrors::none(),
    }))
}

#[derive(Deserialize)]
pub struct TemplateForm {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    text_body: String,
    #[serde(default)]
    html_body: String,
    /// "preview" shows the result without saving.
    #[serde(default)]
    action: String,
}

pub async fn template_save(
    State(st): State<AppState>,
    c: Ctx,
    Path((event, lang)): Path<(String, String)>,
    Form(f): Form<TemplateForm>,
) -> Result<Response, HttpError> {
    let l = parse_lang(&lang)?;
    let def = templates::event(&event).ok_or(Error::NotFound)?;
    let sample = (def.sample)();
    let candidate = templates::Template {
        event: event.clone(),
        lang: l,
        subject: f.subject.clone(),
        text_body: f.text_body.clone(),
        html_body: f.html_body.clone(),
        customized: true,
    };
    let result = if f.action == "preview" {
        match templates::render(&candidate, &sample) {
            Ok(_) => Err(None),
            Err((field, _)) => Err(Some(Error::validation(field, "error.template_invalid"))),
        }
    } else {
        templates::save(
            &st.db,
            &c.actor(),
            st.now(),
            &event,
            l,
            &templates::TemplateInput { subject: f.subject.clone(), text_body: f.text_body.clone(), html_body: f.html_body.clone() },
        )
        .await
        .map(|_| ())
        .map_err(Some)
    };
    let fe = match result {
        Ok(()) => return Ok(redirect_notice(&format!("/admin/email-templates/{event}/{lang}"), "notice.saved")),
        Err(None) => FormErrors::none(),
        Err(Some(e)) => form_error(&c, e)?,
    };
    let mut pc = PageCtx::new(&c, "/admin", "admin.email_templates");
    pc.title = format!("{} · {}", c.tr.tp("event.", &event), lang.to_uppercase());
    let errors = fe.any();
    let mut resp = render(TemplateFormPage {
        c: pc,
        preview: templates::render(&candidate, &sample).ok(),
        event,
        lang,
        subject: f.subject,
        text_body: f.text_body,
        html_body: f.html_body,
        customized: true,
        variables: serde_json::to_string_pretty(&sample).unwrap_or_default(),
        f: fe,
    });
    if errors {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn template_reset(
    State(st): State<AppState>,
    c: Ctx,
    Path((event, lang)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let l = parse_lang(&lang)?;
    templates::reset(&st.db, &c.actor(), st.now(), &event, l).await?;
    Ok(redirect_notice(&format!("/admin/email-templates/{event}/{lang}"), "notice.template_reset"))
}
