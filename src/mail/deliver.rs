//! Delivery: the `deliver-email` job turns an outbox row into a MIME message and hands it to
//! the transport. SMTP (lettre, STARTTLS or implicit TLS, authentication) when `smtp_url` is
//! configured; otherwise `.eml` files in `mail_dir`, so that a newcomer sees what would have
//! been sent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment as MimeAttachment, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{EmailRow, Mailbox};
use crate::config::Config;
use crate::jobs::JobContext;

pub const JOB: &str = "deliver-email";

/// After this many failed attempts an email is marked failed.
pub const MAX_ATTEMPTS: i64 = 5;

/// `X-Carnet-Ref`: the record's thread token, for matching replies.
#[derive(Debug, Clone)]
struct CarnetRef(String);

impl Header for CarnetRef {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Carnet-Ref")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(CarnetRef(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// SMTP transports by (URL, timeout in seconds).
type SmtpCache = HashMap<(String, u64), AsyncSmtpTransport<Tokio1Executor>>;

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

/// A failed send: permanent (the server refused with 5xx) or transient (retry later).
#[derive(Debug)]
pub enum SendError {
    Permanent(String),
    Transient(String),
}

impl Transport {
    pub fn from_config(c: &Config) -> anyhow::Result<Transport> {
        match &c.smtp_url {
            Some(url) => {
                // One transport per server for the whole process, so that its connection pool
                // keeps SMTP sessions open between emails instead of one connection each.
                static SMTP: OnceLock<Mutex<SmtpCache>> = OnceLock::new();
                let key = (url.clone(), c.smtp_timeout_secs.max(1));
                let mut cache = SMTP.get_or_init(Default::default).lock().map_err(|_| anyhow::anyhow!("SMTP transport cache poisoned"))?;
                if let Some(t) = cache.get(&key) {
                    return Ok(Transport::Smtp(t.clone()));
                }
                let t = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("invalid smtp_url: {e}"))?
                    .timeout(Some(Duration::from_secs(key.1)))
                    .build();
                cache.insert(key, t.clone());
                Ok(Transport::Smtp(t))
            }
            None => Ok(Transport::Files(c.mail_dir.clone())),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Transport::Smtp(_) => "smtp",
            Transport::Files(_) => "file",
        }
    }

    pub async fn send(&self, id: i64, msg: &Message) -> Result<(), SendError> {
        match self {
            Transport::Smtp(t) => match t.send(msg.clone()).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                Err(e) => Err(SendError::Transient(e.to_string())),
            },
            Transport::Files(dir) => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| SendError::Transient(e.to_string()))?;
                let path = dir.join(format!("{id:08}.eml"));
                tokio::fs::write(&path, msg.formatted()).await.map_err(|e| SendError::Transient(e.to_string()))
            }
        }
    }
}

fn lettre_mailbox(m: &Mailbox) -> anyhow::Result<lettre::message::Mailbox> {
    let address = m.email.parse().map_err(|e| anyhow::anyhow!("bad address {}: {e}", m.email))?;
    Ok(lettre::message::Mailbox::new(m.name.clone(), address))
}

/// Builds the MIME message of an outbox row.
pub fn build(e: &EmailRow, attachments: &[super::Attachment]) -> anyhow::Result<Message> {
    let from = e.from_mailbox().ok_or_else(|| anyhow::anyhow!("email {} has no sender", e.id))?;
    let mut b = Message::builder().from(lettre_mailbox(&from)?).subject(e.subject.clone()).message_id(Some(e.message_id.clone()));
    for m in e.to() {
        b = b.to(lettre_mailbox(&m)?);
    }
    for m in e.cc() {
        b = b.cc(lettre_mailbox(&m)?);
    }
    for m in e.bcc() {
        b = b.bcc(lettre_mailbox(&m)?);
    }
    if let Some(r) = e.reply_to_mailbox() {
        b = b.reply_to(lettre_mailbox(&r)?);
    }
    if let Some(irt) = &e.in_reply_to {
        b = b.in_reply_to(irt.clone());
    }
    if !e.references_ids.is_empty() {
        b = b.references(e.references_ids.clone());
    }
    if let Some(token) = e.message_id.strip_prefix("<carnet.").and_then(|s| s.split('.').next()).filter(|_| e.entity_type.is_some()) {
        b = b.header(CarnetRef(token.to_string()));
    }
    let mut alternative = match &e.html_body {
        Some(html) => MultiPart::alternative_plain_html(e.text_body.clone(), html.clone()),
        None => MultiPart::alternative().singlepart(SinglePart::plain(e.text_body.clone())),
    };
    // Calendar invitations also go in the alternative part, where Outlook looks for them.
    for a in attachments.iter().filter(|a| a.content_type.starts_with("text/calendar")) {
        let ct = ContentType::parse(&a.content_type)?;
        alternative = alternative.singlepart(SinglePart::builder().header(ct).body(String::from_utf8_lossy(&a.content).to_string()));
    }
    let msg = if attachments.is_empty() {
        b.multipart(alternative)?
    } else {
        let mut mixed = MultiPart::mixed().multipart(alternative);
        for a in attachments {
            let ct = ContentType::parse(&a.content_type).unwrap_or(ContentType::parse("application/octet-stream")?);
            mixed = mixed.singlepart(MimeAttachment::new(a.filename.clone()).body(a.content.clone(), ct));
        }
        b.multipart(mixed)?
    };
    Ok(msg)
}

/// The job body: sends email `email_id` once.
///
/// Whatever goes wrong is written on the email: a refusal by the server (5xx) or a message
/// that cannot be built makes it `failed` at once; anything else (server unreachable, a
/// transport that cannot be set up, an attachment that cannot be read) is retried with the
/// job's backoff, and the email is `failed` with its last error after [`MAX_ATTEMPTS`]
/// attempts or at the job's last one. A `failed` email is resent by an administrator
/// ([`super::retry`], [`super::retry_failed`]).
pub async fn run(ctx: &JobContext, payload: serde_json::Value) -> anyhow::Result<String> {
    let id = payload["email_id"].as_i64().ok_or_else(|| anyhow::anyhow!("payload without email_id"))?;
    let outcome = deliver(ctx, id).await;
    if let Err(e) = &outcome {
        if ctx.attempt.is_last() {
            // The job gives up (an error before the email could be updated, such as the
            // database failing mid-way): the email says so, and can be resent.
            let given_up = sqlx::query("UPDATE emails SET status = 'failed', last_error = $1 WHERE id = $2 AND status = 'queued'")
                .bind(format!("{e:#}"))
                .bind(id)
                .execute(&ctx.db.pool)
                .await?;
            if given_up.rows_affected() > 0 {
                metrics::counter!("carnet_emails_failed_total").increment(1);
            }
        }
    }
    outcome
}

/// [`run`] for email `id`.
async fn deliver(ctx: &JobContext, id: i64) -> anyhow::Result<String> {
    let Some(e) = super::get(&ctx.db, id).await? else {
        return Ok(format!("email {id} no longer exists"));
    };
    if e.status != "queued" {
        return Ok(format!("email {id} already {}", e.status));
    }
    let outcome = attempt(ctx, &e).await;
    let now = ctx.clock.now_ms();
    match outcome {
        Ok(via) => {
            sqlx::query(
                "UPDATE emails SET status = 'sent', sent_at = $1, attempts = attempts + 1, last_error = NULL, delivered_via = $2, \
                 delivered_by = $3 WHERE id = $4 AND status = 'queued'",
            )
            .bind(now)
            .bind(via)
            .bind(Some(ctx.worker.as_str()).filter(|w| !w.is_empty()))
            .bind(id)
            .execute(&ctx.db.pool)
            .await?;
            metrics::counter!("carnet_emails_sent_total").increment(1);
            Ok(format!("email {id} sent via {via} by {}", ctx.worker))
        }
        Err(SendError::Permanent(msg)) => {
            sqlx::query(
                "UPDATE emails SET status = 'failed', attempts = attempts + 1, last_error = $1 WHERE id = $2 AND status = 'queued'",
            )
            .bind(&msg)
            .bind(id)
            .execute(&ctx.db.pool)
            .await?;
            metrics::counter!("carnet_emails_failed_total").increment(1);
            Ok(format!("email {id} refused: {msg}"))
        }
        Err(SendError::Transient(msg)) => {
            let attempts = e.attempts + 1;
            let status = if attempts >= MAX_ATTEMPTS || ctx.attempt.is_last() { "failed" } else { "queued" };
            sqlx::query("UPDATE emails SET status = $1, attempts = $2, last_error = $3 WHERE id = $4 AND status = 'queued'")
                .bind(status)
                .bind(attempts)
                .bind(&msg)
                .bind(id)
                .execute(&ctx.db.pool)
                .await?;
            if status == "failed" {
                metrics::counter!("carnet_emails_failed_total").increment(1);
                Ok(format!("email {id} failed after {attempts} attempts: {msg}"))
            } else {
                // The job is retried with backoff.
                Err(anyhow::anyhow!("email {id} not sent yet: {msg}"))
            }
        }
    }
}

/// One delivery attempt of `e`: the transport's name, or why it did not go.
async fn attempt(ctx: &JobContext, e: &EmailRow) -> Result<&'static str, SendError> {
    let transient = |what: &str, err: &dyn std::fmt::Display| SendError::Transient(format!("{what}: {err}"));
    let metas = super::attachments(&ctx.db, e.id).await.map_err(|err| transient("reading the attachments", &err))?;
    let mut atts = Vec::with_capacity(metas.len());
    for m in metas {
        if let Some(a) = super::attachment(&ctx.db, e.id, m.id).await.map_err(|err| transient("reading an attachment", &err))? {
            atts.push(a);
        }
    }
    let transport = Transport::from_config(&ctx.config).map_err(|err| transient("mail transport", &err))?;
    let msg = build(e, &atts).map_err(|err| SendError::Permanent(format!("cannot build the message: {err}")))?;
    transport.send(e.id, &msg).await?;
    Ok(transport.name())
}
