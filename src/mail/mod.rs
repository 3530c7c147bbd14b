//! Outbound email, for every module.
//!
//! - [`queue`] stores an email in the outbox (`emails`, `email_attachments`) and enqueues its
//!   delivery job, inside the caller's transaction: the email exists if and only if the
//!   business change does, and a crash or an SMTP outage leaves it queued.
//! - [`deliver`] is the job that sends it (SMTP with lettre, or `.eml` files when no server is
//!   configured), retries transient failures with backoff and marks permanent refusals
//!   (5xx) as failed with the server's answer.
//! - [`templates`] holds one template per event and language, editable by administrators;
//!   [`notify`] renders them for users, groups or raw addresses, each in their language.
//! - [`ics`] builds iCalendar invitations (REQUEST / CANCEL with a stable UID and SEQUENCE).
//! - Threading: every email has a unique Message-ID carrying the record's thread token, and
//!   the References of the earlier emails about the same record.

pub mod compose;
pub mod deliver;
pub mod ics;
pub mod notify;
pub mod templates;

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::clock::Millis;
use crate::db::{Db, Sql, Tx};
use crate::email::Email;
use crate::error::{Error, FieldErrors, Result};

/// The states of an email in the outbox, as the API filters them.
pub const STATUSES: &[&str] = &["queued", "sent", "failed"];

/// An address with an optional display name. Parsing refuses anything that could add a
/// header (CR, LF) or smuggle a second address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mailbox {
    pub name: Option<String>,
    pub email: String,
}

impl Mailbox {
    pub fn new(name: Option<&str>, email: &Email) -> Mailbox {
        Mailbox { name: name.map(clean_name).filter(|n| !n.is_empty()), email: email.as_str().to_string() }
    }

    /// `a@b.fr` or `Name <a@b.fr>`.
    pub fn parse(raw: &str) -> std::result::Result<Mailbox, &'static str> {
        let raw = raw.trim();
        if raw.contains(['\r', '\n']) {
            return Err("error.email_invalid");
        }
        match (raw.rfind('<'), raw.ends_with('>')) {
            (Some(i), true) => {
                let email = Email::parse(&raw[i + 1..raw.len() - 1])?;
                let name = raw[..i].trim().trim_matches('"').trim();
                Ok(Mailbox::new(Some(name), &email))
            }
            _ => Ok(Mailbox::new(None, &Email::parse(raw)?)),
        }
    }

    /// Parses a list separated by commas or semicolons; each bad entry is reported on
    /// `field`.
    pub fn parse_list(field: &str, raw: &str) -> Result<Vec<Mailbox>> {
        let mut out = Vec::new();
        let mut errs = FieldErrors::new();
        for part in raw.split([',', ';']).map(str::trim).filter(|s| !s.is_empty()) {
            match Mailbox::parse(part) {
                Ok(m) => out.push(m),
                Err(r) => {
                    errs.add(field, r);
                    break;
                }
            }
        }
        errs.into_result()?;
        Ok(out)
    }

    /// As written in a header.
    pub fn display(&self) -> String {
        match &self.name {
            Some(n) => format!("\"{}\" <{}>", n.replace('"', "'"), self.email),
            None => self.email.clone(),
        }
    }
}

fn clean_name(n: &str) -> String {
    n.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_string()
}

/// Removes line breaks from a value that goes in a header.
pub fn header_safe(s: &str) -> String {
    s.chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect::<String>().trim().to_string()
}

#[derive(Debug, Clone)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// Refuses an attachment over the configured size (at entry, before anything is stored).
pub fn check_attachment(field: &str, size: usize, max: usize) -> Result<()> {
    if size > max {
        return Err(Error::validation(field, "error.attachment_too_large"));
    }
    Ok(())
}

/// An email to queue.
#[derive(Debug, Clone, Default)]
pub struct NewEmail {
    /// The record it concerns: (entity type, id).
    pub entity: Option<(String, i64)>,
    /// What caused it (`test_email`, `meeting_confirmation`…).
    pub event: String,
    /// Defaults to the configured sender.
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    /// Defaults to the record's reply address when a reply domain is configured.
    pub reply_to: Option<Mailbox>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    pub created_by: Option<i64>,
}

fn random_token(len: usize) -> String {
    use rand::Rng;
    rand::rngs::OsRng.sample_iter(&rand::distributions::Alphanumeric).take(len).map(|c| char::from(c).to_ascii_lowercase()).collect()
}

/// The record's thread token (created on first use).
async fn thread_token(tx: &mut Tx, entity: &str, id: i64) -> Result<String> {
    let existing: Option<String> = sqlx::query_scalar("SELECT token FROM mail_threads WHERE entity_type = $1 AND entity_id = $2")
        .bind(entity)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(t) = existing {
        return Ok(t);
    }
    let token = random_token(16);
    sqlx::query("INSERT INTO mail_threads (entity_type, entity_id, token) VALUES ($1, $2, $3)")
        .bind(entity)
        .bind(id)
        .bind(&token)
        .execute(&mut **tx)
        .await?;
    Ok(token)
}

/// The record a thread token belongs to (for matching replies).
pub async fn thread_of(db: &Db, token: &str) -> Result<Option<(String, i64)>> {
    Ok(sqlx::query_as("SELECT entity_type, entity_id FROM mail_threads WHERE token = $1").bind(token).fetch_optional(&db.pool).await?)
}

/// The configured sender and reply domain (admin settings).
pub async fn sender(conn: &mut sqlx::AnyConnection) -> Result<(Mailbox, Option<String>)> {
    let v = crate::settings::get_many_in(conn, &["mail.from_address", "mail.from_name", "mail.reply_domain"]).await?;
    sender_of(&v[0], &v[1], &v[2])
}

pub(crate) fn sender_of(address: &str, name: &str, domain: &str) -> Result<(Mailbox, Option<String>)> {
    let email = Email::parse(address).map_err(|_| Error::internal("mail.from_address is not an address"))?;
    Ok((Mailbox::new(Some(name), &email), Some(domain.to_string()).filter(|d| !d.is_empty())))
}

/// The settings a notification needs, read once: the sender, the reply domain, and the
/// product's name and address for the templates.
pub(crate) struct MailSettings {
    pub sender: (Mailbox, Option<String>),
    pub app_name: String,
    pub app_url: String,
}

pub(crate) async fn mail_settings(conn: &mut sqlx::AnyConnection) -> Result<MailSettings> {
    let v = crate::settings::get_many_in(conn, &["mail.from_address", "mail.from_name", "mail.reply_domain", "mail.link_base_url"]).await?;
    Ok(MailSettings { sender: sender_of(&v[0], &v[1], &v[2])?, app_name: v[1].clone(), app_url: v[3].clone() })
}

/// Stores an email in the outbox and enqueues its delivery, in the caller's transaction.
///
/// Attachment sizes are checked where users enter them ([`check_attachment`]); system
/// content (invitations, PDFs) is not limited here.
pub async fn queue(tx: &mut Tx, now: Millis, e: NewEmail) -> Result<i64> {
    let sender = sender(tx).await?;
    queue_from(tx, now, e, sender).await
}

/// [`queue`] with the configured sender already read.
pub(crate) async fn queue_from(tx: &mut Tx, now: Millis, e: NewEmail, sender: (Mailbox, Option<String>)) -> Result<i64> {
    let mut errs = FieldErrors::new();
    if e.to.is_empty() && e.cc.is_empty() && e.bcc.is_empty() {
        errs.add("to", "error.no_recipient");
    }
    errs.into_result()?;
    let (default_from, reply_domain) = sender;
    let from = e.from.unwrap_or(default_from);
    let domain = from.email.rsplit('@').next().unwrap_or("carnet.localhost").to_string();
    let (message_id, references, reply_to) = match &e.entity {
        Some((kind, id)) => {
            let token = thread_token(tx, kind, *id).await?;
            let refs: Vec<String> =
                sqlx::query_scalar("SELECT message_id FROM emails WHERE entity_type = $1 AND entity_id = $2 ORDER BY id")
                    .bind(kind)
                    .bind(*id)
                    .fetch_all(&mut **tx)
                    .await?;
            let reply = e.reply_to.clone().or_else(|| reply_domain.map(|d| Mailbox { name: None, email: format!("reply+{token}@{d}") }));
            (format!("<carnet.{token}.{}@{domain}>", random_token(12)), refs, reply)
        }
        None => (format!("<carnet.{}@{domain}>", random_token(16)), Vec::new(), e.reply_to.clone()),
    };
    let list = |v: &[Mailbox]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO emails (entity_type, entity_id, event, from_addr, to_addrs, cc_addrs, bcc_addrs, reply_to, subject, text_body, html_body, \
         message_id, in_reply_to, references_ids, status, attempts, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'queued', 0, $15, $16) RETURNING id",
    )
    .bind(e.entity.as_ref().map(|(k, _)| k.clone()))
    .bind(e.entity.as_ref().map(|(_, i)| *i))
    .bind(&e.event)
    .bind(serde_json::to_string(&from).unwrap_or_default())
    .bind(list(&e.to))
    .bind(list(&e.cc))
    .bind(list(&e.bcc))
    .bind(reply_to.map(|r| serde_json::to_string(&r).unwrap_or_default()))
    .bind(header_safe(&e.subject))
    .bind(&e.text)
    .bind(e.html.as_deref())
    .bind(&message_id)
    .bind(references.last().cloned())
    .bind(references.join(" "))
    .bind(e.created_by)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    for a in &e.attachments {
        sqlx::query("INSERT INTO email_attachments (email_id, filename, content_type, content) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(header_safe(&a.filename).replace(['/', '\\'], "_"))
            .bind(header_safe(&a.content_type))
            .bind(a.content.clone())
            .execute(&mut **tx)
            .await?;
    }
    crate::jobs::enqueue(tx, deliver::JOB, &serde_json::json!({ "email_id": id }), now, now, None).await?;
    Ok(id)
}

/// An email made ready before the write transaction that queues it: rendered, addressed,
/// its Message-ID and reply address made from the record's thread token (read beforehand,
/// or new). [`insert_prepared`] writes it and its delivery job in two statements, the
/// thread's earlier Message-IDs (In-Reply-To, References) read by the insert itself, so
/// that the transaction holds no template, settings or recipient reads.
#[derive(Debug, Clone)]
pub struct Prepared {
    email: NewEmail,
    entity: (String, i64),
    from: Mailbox,
    reply_domain: Option<String>,
    /// The thread token, and whether it is already stored.
    token: String,
    token_stored: bool,
}

impl Prepared {
    /// `token`: the record's thread token read before the transaction (`None`: the record has
    /// none yet, a new one is stored with the email).
    pub fn new(email: NewEmail, entity: (String, i64), sender: (Mailbox, Option<String>), token: Option<String>) -> Prepared {
        let (default_from, reply_domain) = sender;
        let from = email.from.clone().unwrap_or(default_from);
        let token_stored = token.is_some();
        Prepared { email, entity, from, reply_domain, token: token.unwrap_or_else(|| random_token(16)), token_stored }
    }
}

/// Writes a [`Prepared`] email and its delivery job in the caller's transaction: two
/// statements (three for a record's first email, whose thread token is stored too).
pub async fn insert_prepared(tx: &mut Tx, backend: crate::db::Backend, now: Millis, p: &Prepared) -> Result<i64> {
    let (kind, entity_id) = (&p.entity.0, p.entity.1);
    let mut token = p.token.clone();
    if !p.token_stored {
        let inserted = sqlx::query(
            "INSERT INTO mail_threads (entity_type, entity_id, token) VALUES ($1, $2, $3) ON CONFLICT (entity_type, entity_id) DO NOTHING",
        )
        .bind(kind)
        .bind(entity_id)
        .bind(&token)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            // Another transaction gave the record its token first.
            token = sqlx::query_scalar("SELECT token FROM mail_threads WHERE entity_type = $1 AND entity_id = $2")
                .bind(kind)
                .bind(entity_id)
                .fetch_one(&mut **tx)
                .await?;
        }
    }
    let e = &p.email;
    let domain = p.from.email.rsplit('@').next().unwrap_or("carnet.localhost").to_string();
    let message_id = format!("<carnet.{token}.{}@{domain}>", random_token(12));
    let reply_to =
        e.reply_to.clone().or_else(|| p.reply_domain.as_ref().map(|d| Mailbox { name: None, email: format!("reply+{token}@{d}") }));
    let list = |v: &[Mailbox]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    // The thread's earlier Message-IDs, oldest first, read by the insert.
    let references = match backend {
        crate::db::Backend::Sqlite => {
            "COALESCE((SELECT group_concat(message_id, ' ') FROM (SELECT message_id FROM emails WHERE entity_type = $1 AND entity_id = $2 ORDER BY id)), '')"
        }
        crate::db::Backend::Postgres => {
            "COALESCE((SELECT string_agg(message_id, ' ' ORDER BY id) FROM emails WHERE entity_type = $1 AND entity_id = $2), '')"
        }
    };
    let sql = format!(
        "INSERT INTO emails (entity_type, entity_id, event, from_addr, to_addrs, cc_addrs, bcc_addrs, reply_to, subject, text_body, html_body, \
         message_id, in_reply_to, references_ids, status, attempts, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         (SELECT message_id FROM emails WHERE entity_type = $1 AND entity_id = $2 ORDER BY id DESC LIMIT 1), {references}, 'queued', 0, $13, $14) \
         RETURNING id"
    );
    let id: i64 = sqlx::query_scalar(&sql)
        .bind(kind)
        .bind(entity_id)
        .bind(&e.event)
        .bind(serde_json::to_string(&p.from).unwrap_or_default())
        .bind(list(&e.to))
        .bind(list(&e.cc))
        .bind(list(&e.bcc))
        .bind(reply_to.map(|r| serde_json::to_string(&r).unwrap_or_default()))
        .bind(header_safe(&e.subject))
        .bind(&e.text)
        .bind(e.html.as_deref())
        .bind(&message_id)
        .bind(e.created_by)
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
    for a in &e.attachments {
        sqlx::query("INSERT INTO email_attachments (email_id, filename, content_type, content) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(header_safe(&a.filename).replace(['/', '\\'], "_"))
            .bind(header_safe(&a.content_type))
            .bind(a.content.clone())
            .execute(&mut **tx)
            .await?;
    }
    crate::jobs::enqueue(tx, deliver::JOB, &serde_json::json!({ "email_id": id }), now, now, None).await?;
    Ok(id)
}

/// An outbox row as listed.
#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct EmailSummary {
    pub id: i64,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub event: String,
    pub to_addrs: String,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub delivered_via: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

impl EmailSummary {
    /// Recipients as `a@b.fr, c@d.fr`.
    pub fn to_display(&self) -> String {
        serde_json::from_str::<Vec<Mailbox>>(&self.to_addrs)
            .map(|v| v.iter().map(|m| m.email.clone()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    }
}

const SUMMARY: &str = "SELECT id, entity_type, entity_id, event, to_addrs, subject, status, attempts, last_error, delivered_via, created_at, sent_at FROM emails";

/// The emails about any of these records (entity type, ids), newest first: the "related
/// emails" of a page that gathers several records (an opportunity and its meetings, a
/// customer and its files). The caller passes only the records the user may see.
pub async fn for_entities(db: &Db, records: &[(&str, &[i64])]) -> Result<Vec<EmailSummary>> {
    let mut q = Sql::new(SUMMARY);
    q.push(" WHERE 1 = 0");
    for (entity, ids) in records.iter().filter(|(_, ids)| !ids.is_empty()) {
        q.push(" OR (entity_type = ").bind(entity.to_string()).push(" AND entity_id IN (");
        for (i, id) in ids.iter().take(1000).enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(*id);
        }
        q.push("))");
    }
    q.push(" ORDER BY id DESC LIMIT 200");
    Ok(q.query_as().fetch_all(&db.pool).await?)
}

/// The outbox, newest first, keyset-paginated on id.
pub async fn list(db: &Db, status: Option<&str>, before: Option<i64>, limit: i64) -> Result<Vec<EmailSummary>> {
    let mut q = Sql::new(SUMMARY);
    q.push(" WHERE id < ").bind(before.unwrap_or(i64::MAX));
    if let Some(s) = status {
        q.push(" AND status = ").bind(s);
    }
    q.push(" ORDER BY id DESC LIMIT ").bind(limit);
    Ok(q.query_as().fetch_all(&db.pool).await?)
}

/// The emails about one record, newest first.
pub async fn for_entity(db: &Db, entity: &str, id: i64) -> Result<Vec<EmailSummary>> {
    Ok(sqlx::query_as(&format!("{SUMMARY} WHERE entity_type = $1 AND entity_id = $2 ORDER BY id DESC LIMIT 200"))
        .bind(entity)
        .bind(id)
        .fetch_all(&db.pool)
        .await?)
}

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct EmailRow {
    pub id: i64,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub event: String,
    pub from_addr: String,
    pub to_addrs: String,
    pub cc_addrs: String,
    pub bcc_addrs: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub text_body: String,
    pub html_body: Option<String>,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references_ids: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub delivered_via: Option<String>,
    /// The worker that sent it (`host-pid-kind-run`).
    pub delivered_by: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

impl EmailRow {
    pub fn from_mailbox(&self) -> Option<Mailbox> {
        serde_json::from_str(&self.from_addr).ok()
    }
    pub fn to(&self) -> Vec<Mailbox> {
        serde_json::from_str(&self.to_addrs).unwrap_or_default()
    }
    pub fn cc(&self) -> Vec<Mailbox> {
        serde_json::from_str(&self.cc_addrs).unwrap_or_default()
    }
    pub fn bcc(&self) -> Vec<Mailbox> {
        serde_json::from_str(&self.bcc_addrs).unwrap_or_default()
    }
    pub fn reply_to_mailbox(&self) -> Option<Mailbox> {
        self.reply_to.as_deref().and_then(|r| serde_json::from_str(r).ok())
    }
    pub fn joined(list: &[Mailbox]) -> String {
        list.iter().map(Mailbox::display).collect::<Vec<_>>().join(", ")
    }
}

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct AttachmentMeta {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

pub async fn get(db: &Db, id: i64) -> Result<Option<EmailRow>> {
    Ok(sqlx::query_as(
        "SELECT id, entity_type, entity_id, event, from_addr, to_addrs, cc_addrs, bcc_addrs, reply_to, subject, text_body, html_body, \
         message_id, in_reply_to, references_ids, status, attempts, last_error, delivered_via, delivered_by, created_at, sent_at \
         FROM emails WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?)
}

pub async fn attachments(db: &Db, email_id: i64) -> Result<Vec<AttachmentMeta>> {
    Ok(sqlx::query_as("SELECT id, filename, content_type, LENGTH(content) AS size FROM email_attachments WHERE email_id = $1 ORDER BY id")
        .bind(email_id)
        .fetch_all(&db.pool)
        .await?)
}

pub async fn attachment(db: &Db, email_id: i64, id: i64) -> Result<Option<Attachment>> {
    let row: Option<(String, String, Vec<u8>)> =
        sqlx::query_as("SELECT filename, content_type, content FROM email_attachments WHERE email_id = $1 AND id = $2")
            .bind(email_id)
            .bind(id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(|(filename, content_type, content)| Attachment { filename, content_type, content }))
}

/// Puts a failed email back in the queue (administrators), in its history. Anything but a
/// failed email is refused (`error.email_not_failed`, 409).
pub async fn retry(db: &Db, actor: &crate::access::Actor, now: Millis, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    if !requeue(&mut tx, actor, now, id).await? {
        return Err(Error::InvalidState { reason: "error.email_not_failed" });
    }
    tx.commit().await?;
    Ok(())
}

/// Puts every failed email back in the queue (administrators), each in its history, by
/// batches of 500 in a transaction each. Returns how many.
pub async fn retry_failed(db: &Db, actor: &crate::access::Actor, now: Millis) -> Result<u64> {
    let mut done = 0;
    let mut after = 0i64;
    loop {
        let mut tx = db.begin().await?;
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM emails WHERE status = 'failed' AND id > $1 ORDER BY id LIMIT 500")
            .bind(after)
            .fetch_all(&mut *tx)
            .await?;
        let Some(&last) = ids.last() else {
            tx.commit().await?;
            return Ok(done);
        };
        for id in ids {
            done += u64::from(requeue(&mut tx, actor, now, id).await?);
        }
        tx.commit().await?;
        after = last;
    }
}

/// One failed email queued again with a fresh count of attempts: `false` when it is not failed.
async fn requeue(tx: &mut Tx, actor: &crate::access::Actor, now: Millis, id: i64) -> Result<bool> {
    let error: Option<Option<String>> =
        sqlx::query_scalar("SELECT last_error FROM emails WHERE id = $1 AND status = 'failed'").bind(id).fetch_optional(&mut **tx).await?;
    let Some(error) = error else { return Ok(false) };
    sqlx::query("UPDATE emails SET status = 'queued', attempts = 0, last_error = NULL WHERE id = $1 AND status = 'failed'")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    crate::jobs::enqueue(tx, deliver::JOB, &serde_json::json!({ "email_id": id }), now, now, None).await?;
    let changes = [
        crate::audit::Change { field: "status".into(), old: Some("failed".into()), new: Some("queued".into()) },
        crate::audit::Change { field: "last_error".into(), old: error, new: None },
    ];
    crate::audit::record(tx, actor, now, ENTITY, id, "resend", &changes).await?;
    Ok(true)
}

/// An email's entity name in the change history.
pub const ENTITY: &str = "email";

/// Delivers email `id` now (`carnet admin send-test-email`): its delivery job is run here if
/// it still waits; if another worker took it first (a running server), that worker's outcome
/// is waited for (at most `wait`). Either way the answer is the email as it then is, whose
/// `delivered_by` names the worker that sent it.
pub async fn deliver_now(
    ctx: &crate::jobs::JobContext,
    registry: &crate::jobs::Registry,
    id: i64,
    wait: std::time::Duration,
) -> Result<EmailRow> {
    let payload = serde_json::json!({ "email_id": id });
    let me = crate::jobs::Worker::register(&ctx.db, ctx.clock.now_ms(), "cli").await?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut tried = false;
    let email = loop {
        let email = get(&ctx.db, id).await?.ok_or(Error::NotFound)?;
        if email.status != "queued" {
            break email;
        }
        match crate::jobs::find_active(&ctx.db, deliver::JOB, &payload).await? {
            Some(j) if j.status == "queued" && !tried => {
                tried = true;
                if let Some(claimed) = crate::jobs::claim_id(&ctx.db, &me.id, ctx.clock.now_ms(), ctx.lease_ms(), j.id).await? {
                    // The outcome is the email's, read at the next turn; the job's is recorded.
                    let _outcome = crate::jobs::execute(ctx, registry, &me.id, claimed).await?;
                }
            }
            Some(j) if j.status == "running" && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            _ => break email,
        }
    };
    me.stop(&ctx.db, ctx.clock.now_ms()).await?;
    Ok(email)
}

/// Sends the test email to `to` (administrators check the mail set-up with it).
pub async fn send_test(db: &Db, actor: &crate::access::Actor, now: Millis, to: Mailbox, lang: crate::i18n::Lang) -> Result<i64> {
    use notify::{notify, Notice, Recipient};
    let mut tx = db.begin().await?;
    let name = to.name.clone().unwrap_or_else(|| to.email.clone());
    let notice = Notice {
        event: "test_email",
        entity: None,
        vars: serde_json::json!({ "user": { "name": name, "email": to.email }, "actor": { "name": actor.name } }),
        attachments: Vec::new(),
        created_by: actor.id,
    };
    let ids = notify(&mut tx, now, notice, &[Recipient::Address(to, lang)]).await?;
    tx.commit().await?;
    ids.first().copied().ok_or(Error::NotFound)
}

/// How many emails wait in the queue, how many of them already failed an attempt, and how
/// many failed for good (to be resent).
pub async fn queue_state(db: &Db) -> Result<(i64, i64, i64)> {
    let row: (i64, i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN status = 'queued' AND attempts > 0 THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) FROM emails WHERE status IN ('queued', 'failed')",
    )
    .fetch_one(&db.pool)
    .await?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_parsing_refuses_header_injection() {
        let m = Mailbox::parse("Julie Roy <Julie@Example.FR>").unwrap();
        assert_eq!(m.name.as_deref(), Some("Julie Roy"));
        assert_eq!(m.email, "julie@example.fr");
        assert_eq!(m.display(), "\"Julie Roy\" <julie@example.fr>");
        assert!(Mailbox::parse("a@b.fr\r\nBcc: x@y.fr").is_err());
        assert!(Mailbox::parse("Evil\n <a@b.fr>").is_err());
        assert!(Mailbox::parse("a@b.fr, c@d.fr").is_err());
        let l = Mailbox::parse_list("cc", "a@b.fr; C <c@d.fr>").unwrap();
        assert_eq!(l.len(), 2);
        assert!(Mailbox::parse_list("cc", "a@b.fr, nope").is_err());
        assert_eq!(header_safe("Hello\r\nBcc: x"), "Hello  Bcc: x");
    }
}
