//! Inbound email ("CatchMail", issue 18): customers' emails read from IMAP mailboxes land in
//! the conversation of the right request, or wait in quarantine for a person to decide.
//!
//! - [`imap`] reads the configured mailboxes (the `inbound_mail` job, on a schedule) and hands
//!   each unseen message to [`take`], then moves or flags it.
//! - [`take`] records the message once (`inbound_emails.dedup_key`: its Message-ID, or a hash
//!   of its bytes), ignores auto-replies, bounces and loops, matches it to a request in a fixed
//!   order — (1) the reply-address token, (2) `In-Reply-To` / `References` against the
//!   Message-IDs Carnet sent, (3) a request number in the subject only from a contact of that
//!   request's customer — and lands it only when its sender is a contact or portal user of
//!   the request's customer, or a staff user. A known contact's email that matches nothing
//!   opens a request when the mailbox allows it. Everything else goes to quarantine, with the
//!   rules tried and what each found.
//! - [`strip`] cuts the quoted history and the signature; the full original is kept as an
//!   `.eml` document of the request, the attachments as documents of the message.
//! - The quarantine ([`list`], [`assign`], [`create_request`], [`discard`]) is for the holders
//!   of `service.inbound.manage`; every decision is audited.

pub mod imap;
pub mod strip;

use mail_parser::{Message as Parsed, MessageParser, MimeHeaders};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::FromRow;

use crate::access::Visibility;
use crate::audit::{self, Actor, Change};
use crate::clock::Millis;
use crate::db::{Db, Tx};
use crate::error::{Error, Result};
use crate::service::documents::{self, Storage};
use crate::service::messages::{self, Author};

/// The job that polls the mailboxes. Stored in `jobs`: never rename it.
pub const JOB: &str = "inbound_mail";

/// What a mailbox allows, as [`take`] needs it.
#[derive(Debug, Clone)]
pub struct Policy {
    pub mailbox: String,
    pub open_requests: bool,
    pub max_per_sender_per_minute: i64,
    pub max_document_bytes: usize,
}

impl Policy {
    pub fn of(m: &crate::config::InboundMailbox, max_document_bytes: usize) -> Policy {
        Policy {
            mailbox: m.name.clone(),
            open_requests: m.open_requests,
            max_per_sender_per_minute: m.max_per_sender_per_minute,
            max_document_bytes,
        }
    }
}

/// One rule tried on a message and what it found (shown in quarantine as "why it landed here").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Step {
    /// `token`, `thread`, `subject`, `sender`, `new_request`, `loop`.
    pub rule: String,
    /// What it found: a key under `inbound.found.`.
    pub found: String,
    /// The data it found (a request number, an address), if any.
    #[serde(default)]
    pub detail: String,
}

fn step(rule: &str, found: &str, detail: impl Into<String>) -> Step {
    Step { rule: rule.into(), found: found.into(), detail: detail.into() }
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Added to a request's conversation, by `rule`.
    Landed { request_id: i64, rule: &'static str },
    /// Added to a pre-sales request's conversation (a reply to one of its emails), by `rule`.
    LandedPresales { presales_request_id: i64, rule: &'static str },
    /// Kept for a person to decide, with the reason's key.
    Quarantined(&'static str),
    /// An auto-reply, bounce or loop: recorded, never a message, never answered.
    Ignored(&'static str),
    /// Already taken (by an earlier poll or another process).
    Duplicate,
}

/// The parts of an email Carnet uses.
struct Mail {
    dedup_key: String,
    message_id: Option<String>,
    from_email: String,
    from_name: String,
    subject: String,
    body: String,
    recipients: Vec<String>,
    thread_ids: Vec<String>,
    loop_reason: Option<&'static str>,
    attachments: Vec<(String, Vec<u8>)>,
}

fn parse(raw: &[u8]) -> Mail {
    let dedup_hash = format!("sha256:{:x}", Sha256::digest(raw));
    let Some(m) = MessageParser::default().parse(raw) else {
        return Mail {
            dedup_key: dedup_hash,
            message_id: None,
            from_email: String::new(),
            from_name: String::new(),
            subject: String::new(),
            body: String::new(),
            recipients: Vec::new(),
            thread_ids: Vec::new(),
            loop_reason: Some("unreadable"),
            attachments: Vec::new(),
        };
    };
    let message_id = m.message_id().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let from = m.from().and_then(|a| a.first());
    let from_email = from.and_then(|a| a.address()).unwrap_or_default().trim().to_lowercase();
    let from_name = from.and_then(|a| a.name()).map(crate::mail::header_safe).unwrap_or_default();
    let mut recipients = Vec::new();
    for list in [m.to(), m.cc()].into_iter().flatten() {
        recipients.extend(list.iter().filter_map(|a| a.address()).map(str::to_lowercase));
    }
    for h in ["Delivered-To", "X-Original-To", "Envelope-To"] {
        for v in m.header_values(h) {
            if let Some(t) = v.as_text() {
                recipients.push(t.trim().trim_matches(['<', '>']).to_lowercase());
            }
        }
    }
    let mut thread_ids: Vec<String> = Vec::new();
    for v in [m.in_reply_to(), m.references()] {
        if let Some(t) = v.as_text() {
            thread_ids.push(t.to_string());
        } else if let Some(list) = v.as_text_list() {
            thread_ids.extend(list.iter().map(|s| s.to_string()));
        }
    }
    let body = strip::reply_text(&m.body_text(0).unwrap_or_default());
    let body: String = body.chars().take(messages::MAX_BODY).collect();
    let attachments = m
        .attachments()
        .filter_map(|p| {
            let name = p.attachment_name().map(|n| n.replace(['/', '\\'], "_"))?;
            Some((name, p.contents().to_vec()))
        })
        .collect();
    Mail {
        dedup_key: message_id.as_ref().map(|id| format!("mid:{id}")).unwrap_or(dedup_hash),
        loop_reason: loop_reason(&m),
        message_id,
        from_email,
        from_name,
        subject: crate::mail::header_safe(m.subject().unwrap_or_default()),
        body,
        recipients,
        thread_ids,
        attachments,
    }
}

/// Auto-replies, bounces and lists, by their headers (RFC 3834, RFC 3464, common practice).
fn loop_reason(m: &Parsed) -> Option<&'static str> {
    let raw = |name: &'static str| m.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    if raw("Auto-Submitted").is_some_and(|v| v != "no") || raw("X-Autoreply").is_some() || raw("X-Autorespond").is_some() {
        return Some("auto_submitted");
    }
    if raw("Precedence").is_some_and(|v| ["bulk", "junk", "list", "auto_reply"].contains(&v.as_str())) {
        return Some("precedence");
    }
    if raw("Return-Path").is_some_and(|v| v.trim_matches(['<', '>', ' ']).is_empty()) {
        return Some("bounce");
    }
    if m.content_type()
        .is_some_and(|c| c.ctype().eq_ignore_ascii_case("multipart") && c.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report")))
    {
        return Some("bounce");
    }
    None
}

/// The thread token of a reply address `reply+TOKEN@domain`.
fn token_of(address: &str) -> Option<&str> {
    let local = address.split('@').next()?;
    local.strip_prefix("reply+").filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A request number (`DEM-2026-000123`) in a subject.
pub fn number_in(subject: &str) -> Option<String> {
    let upper = subject.to_ascii_uppercase();
    let b = upper.as_bytes();
    (0..b.len()).find_map(|i| {
        let s = b.get(i..i + 15)?;
        let ok = s.starts_with(b"DEM-")
            && s[4..8].iter().all(u8::is_ascii_digit)
            && s[8] == b'-'
            && s[9..15].iter().all(u8::is_ascii_digit)
            && b.get(i + 15).is_none_or(|c| !c.is_ascii_digit());
        ok.then(|| upper[i..i + 15].to_string())
    })
}

/// Who the sender is for a customer: `contact`, `portal` or `staff`.
async fn sender_of(tx: &mut Tx, customer_id: i64, email: &str) -> Result<Option<&'static str>> {
    if email.is_empty() {
        return Ok(None);
    }
    for (kind, sql) in [
        ("contact", "SELECT COUNT(*) FROM contacts WHERE customer_id = $1 AND LOWER(email) = $2"),
        ("portal", "SELECT COUNT(*) FROM portal_accounts WHERE customer_id = $1 AND LOWER(email) = $2 AND status <> 'deactivated'"),
    ] {
        let n: i64 = sqlx::query_scalar(sql).bind(customer_id).bind(email).fetch_one(&mut **tx).await?;
        if n > 0 {
            return Ok(Some(kind));
        }
    }
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE LOWER(email) = $1 AND active = 1").bind(email).fetch_one(&mut **tx).await?;
    Ok((n > 0).then_some("staff"))
}

/// A request's number and customer.
async fn request_ref(tx: &mut Tx, id: i64) -> Result<Option<(String, i64)>> {
    Ok(sqlx::query_as("SELECT number, customer_id FROM service_requests WHERE id = $1").bind(id).fetch_optional(&mut **tx).await?)
}

/// The record of `entity` type whose email the message answers (its `In-Reply-To` or
/// `References` name a Message-ID Carnet sent about it), the latest when several.
async fn thread_hit(tx: &mut Tx, mail: &Mail, entity: &str) -> Result<Option<i64>> {
    let ids: Vec<String> = mail.thread_ids.iter().map(|i| format!("<{}>", i.trim().trim_matches(['<', '>']))).collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let mut q = crate::db::Sql::new("SELECT entity_id FROM emails WHERE entity_type = ");
    q.bind(entity.to_string()).push(" AND message_id IN (");
    for (i, id) in ids.iter().take(50).enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.bind(id.clone());
    }
    q.push(") ORDER BY id DESC LIMIT 1");
    Ok(q.query_scalar().fetch_optional(&mut **tx).await?)
}

async fn presales_number(tx: &mut Tx, id: i64) -> Result<String> {
    let n: Option<String> =
        sqlx::query_scalar("SELECT number FROM presales_requests WHERE id = $1").bind(id).fetch_optional(&mut **tx).await?;
    Ok(n.unwrap_or_default())
}

/// Rules (1) and (2) for pre-sales requests: the request a reply token or a referenced
/// Message-ID of its emails points to (a pre-sales request has no number to look for in the
/// subject).
async fn presales_thread(tx: &mut Tx, mail: &Mail, trace: &mut Vec<Step>) -> Result<Option<(i64, &'static str)>> {
    const ENTITY: &str = "presales_request";
    for t in mail.recipients.iter().filter_map(|r| token_of(r)) {
        let row: Option<i64> = sqlx::query_scalar("SELECT entity_id FROM mail_threads WHERE token = $1 AND entity_type = $2")
            .bind(t)
            .bind(ENTITY)
            .fetch_optional(&mut **tx)
            .await?;
        if let Some(id) = row {
            trace.push(step("token", "presales", presales_number(tx, id).await?));
            return Ok(Some((id, "token")));
        }
    }
    match thread_hit(tx, mail, ENTITY).await? {
        Some(id) => {
            trace.push(step("thread", "presales", presales_number(tx, id).await?));
            Ok(Some((id, "thread")))
        }
        None => Ok(None),
    }
}

/// Rules (1) and (2): the request a reply token or a referenced Message-ID points to.
async fn by_token_and_thread(tx: &mut Tx, mail: &Mail, trace: &mut Vec<Step>) -> Result<Option<(i64, &'static str)>> {
    let tokens: Vec<&str> = mail.recipients.iter().filter_map(|r| token_of(r)).collect();
    let mut found = None;
    for t in &tokens {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT entity_type, entity_id FROM mail_threads WHERE token = $1").bind(*t).fetch_optional(&mut **tx).await?;
        if let Some(("service_request", id)) = row.as_ref().map(|(k, i)| (k.as_str(), *i)) {
            found = Some(id);
            break;
        }
    }
    match (found, tokens.is_empty()) {
        (Some(id), _) => {
            let number = request_ref(tx, id).await?.map(|r| r.0).unwrap_or_default();
            trace.push(step("token", "request", number));
            return Ok(Some((id, "token")));
        }
        (None, true) => trace.push(step("token", "none", "")),
        (None, false) => trace.push(step("token", "unknown", tokens.join(", "))),
    }
    if mail.thread_ids.is_empty() {
        trace.push(step("thread", "none", ""));
        return Ok(None);
    }
    match thread_hit(tx, mail, "service_request").await? {
        Some(id) => {
            let number = request_ref(tx, id).await?.map(|r| r.0).unwrap_or_default();
            trace.push(step("thread", "request", number));
            Ok(Some((id, "thread")))
        }
        None => {
            trace.push(step("thread", "unknown", ""));
            Ok(None)
        }
    }
}

/// Rule (3): a request number in the subject, only from a contact of that request's customer.
async fn by_subject(tx: &mut Tx, mail: &Mail, trace: &mut Vec<Step>) -> Result<Option<i64>> {
    let Some(number) = number_in(&mail.subject) else {
        trace.push(step("subject", "none", ""));
        return Ok(None);
    };
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT id, customer_id FROM service_requests WHERE number = $1").bind(&number).fetch_optional(&mut **tx).await?;
    let Some((id, customer)) = row else {
        trace.push(step("subject", "unknown", number));
        return Ok(None);
    };
    if sender_of(tx, customer, &mail.from_email).await? == Some("contact") {
        trace.push(step("subject", "request", number));
        Ok(Some(id))
    } else {
        trace.push(step("subject", "not_a_contact", number));
        Ok(None)
    }
}

/// The contacts (customer, contact id, name) with this address.
async fn contacts_with(tx: &mut Tx, email: &str) -> Result<Vec<(i64, i64, String)>> {
    if email.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as(
        "SELECT customer_id, id, TRIM(first_name || ' ' || last_name) FROM contacts WHERE LOWER(email) = $1 ORDER BY customer_id, id LIMIT 5",
    )
    .bind(email)
    .fetch_all(&mut **tx)
    .await?)
}

/// Takes one message from `policy.mailbox`: records it once, then lands, quarantines or
/// ignores it, in one transaction (the documents' files are removed if it does not commit).
pub async fn take(db: &Db, storage: &Storage, now: Millis, policy: &Policy, raw: &[u8]) -> Result<Outcome> {
    let mail = parse(raw);
    let mut written = Vec::new();
    let res = take_in(db, storage, now, policy, raw, &mail, &mut written).await;
    let res = cleanup(storage, &written, res).await;
    let outcome = match &res {
        Ok(Outcome::Landed { .. }) | Ok(Outcome::LandedPresales { .. }) => "landed",
        Ok(Outcome::Quarantined(_)) => "quarantined",
        Ok(Outcome::Ignored(_)) => "ignored",
        Ok(Outcome::Duplicate) => "duplicate",
        Err(_) => "error",
    };
    metrics::counter!("carnet_inbound_messages_total", "outcome" => outcome).increment(1);
    res
}

/// How many messages wait in quarantine (the metrics' gauge; through the status index).
pub async fn quarantined_count(db: &Db) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM inbound_emails WHERE status = 'quarantined'").fetch_one(&db.pool).await?)
}

/// Removes the files written for a transaction that failed.
async fn cleanup<T>(storage: &Storage, written: &[String], res: Result<T>) -> Result<T> {
    if res.is_err() {
        for key in written {
            documents::remove_file(storage, key).await;
        }
    }
    res
}

async fn take_in(
    db: &Db,
    storage: &Storage,
    now: Millis,
    policy: &Policy,
    raw: &[u8],
    mail: &Mail,
    written: &mut Vec<String>,
) -> Result<Outcome> {
    let mut tx = db.begin().await?;
    let recent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound_emails WHERE from_email = $1 AND received_at > $2")
        .bind(&mail.from_email)
        .bind(now - 60_000)
        .fetch_one(&mut *tx)
        .await?;
    // Claims the message: a second copy (another poll, another process) stops here.
    let row: Option<i64> = sqlx::query_scalar(
        "INSERT INTO inbound_emails (mailbox, dedup_key, message_id, from_email, from_name, subject, body, status, trace, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'quarantined', '[]', $8) ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
    )
    .bind(&policy.mailbox)
    .bind(&mail.dedup_key)
    .bind(mail.message_id.as_deref())
    .bind(&mail.from_email)
    .bind(&mail.from_name)
    .bind(&mail.subject)
    .bind(&mail.body)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return Ok(Outcome::Duplicate);
    };
    let mut trace = Vec::new();
    let outcome = decide(&mut tx, storage, now, policy, raw, mail, row, recent, &mut trace, written).await?;
    let (status, rule, reason, request_id, presales_id) = match &outcome {
        Outcome::Landed { request_id, rule } => ("landed", Some(*rule), None, Some(*request_id), None),
        Outcome::LandedPresales { presales_request_id, rule } => ("landed", Some(*rule), None, None, Some(*presales_request_id)),
        Outcome::Quarantined(r) => ("quarantined", None, Some(*r), None, None),
        Outcome::Ignored(r) => ("ignored", None, Some(*r), None, None),
        Outcome::Duplicate => ("ignored", None, None, None, None),
    };
    sqlx::query(
        "UPDATE inbound_emails SET status = $1, rule = $2, reason = $3, trace = $4, request_id = $5, raw = $6, presales_request_id = $7 WHERE id = $8",
    )
    .bind(status)
    .bind(rule)
    .bind(reason)
    .bind(serde_json::to_string(&trace).unwrap_or_else(|_| "[]".into()))
    .bind(request_id)
    .bind((status == "quarantined").then(|| raw.to_vec()))
    .bind(presales_id)
    .bind(row)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(outcome)
}

#[allow(clippy::too_many_arguments)]
async fn decide(
    tx: &mut Tx,
    storage: &Storage,
    now: Millis,
    policy: &Policy,
    raw: &[u8],
    mail: &Mail,
    row: i64,
    recent: i64,
    trace: &mut Vec<Step>,
    written: &mut Vec<String>,
) -> Result<Outcome> {
    // Never a message, never answered: auto-replies, bounces, our own mail, floods.
    let own: i64 = match &mail.message_id {
        Some(id) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM emails WHERE message_id = $1").bind(format!("<{id}>")).fetch_one(&mut **tx).await?
        }
        None => 0,
    };
    let reason = mail
        .loop_reason
        .or((own > 0).then_some("own_message"))
        .or(mail.from_email.is_empty().then_some("no_sender"))
        .or((recent >= policy.max_per_sender_per_minute).then_some("rate"));
    if let Some(r) = reason {
        trace.push(step("loop", r, mail.from_email.clone()));
        return Ok(Outcome::Ignored(r));
    }
    // A reply to a pre-sales request's email: its conversation, from one of its two sides only.
    if let Some((id, rule)) = presales_thread(tx, mail, trace).await? {
        return match crate::presales::store::reply_author(tx, id, &mail.from_email).await? {
            Some(by) => {
                let side = if matches!(by, crate::presales::store::By::Partner { .. }) { "partner" } else { "staff" };
                trace.push(step("sender", side, mail.from_email.clone()));
                let zone = crate::clock::Zone::parse(&crate::settings::get_in(tx, "ui.timezone").await?).unwrap_or_default();
                crate::presales::store::add_reply(tx, now, zone, id, &by, &mail.body).await?;
                Ok(Outcome::LandedPresales { presales_request_id: id, rule })
            }
            None => {
                trace.push(step("sender", "unknown", mail.from_email.clone()));
                Ok(Outcome::Quarantined("unknown_sender"))
            }
        };
    }
    let actor = Actor::system();
    if let Some((id, rule)) = by_token_and_thread(tx, mail, trace).await? {
        let (_, customer) = request_ref(tx, id).await?.ok_or(Error::NotFound)?;
        match sender_of(tx, customer, &mail.from_email).await? {
            Some(kind) => trace.push(step("sender", kind, mail.from_email.clone())),
            None => {
                trace.push(step("sender", "unknown", mail.from_email.clone()));
                return Ok(Outcome::Quarantined("unknown_sender"));
            }
        }
        return land(tx, storage, &actor, now, policy, raw, mail, row, id, rule, trace, written).await;
    }
    if let Some(id) = by_subject(tx, mail, trace).await? {
        return land(tx, storage, &actor, now, policy, raw, mail, row, id, "subject", trace, written).await;
    }
    let contacts = contacts_with(tx, &mail.from_email).await?;
    let customers: std::collections::BTreeSet<i64> = contacts.iter().map(|c| c.0).collect();
    match (contacts.first(), customers.len(), policy.open_requests) {
        (None, _, _) => {
            trace.push(step("new_request", "not_a_contact", mail.from_email.clone()));
            Ok(Outcome::Quarantined("no_match"))
        }
        (Some(_), n, _) if n > 1 => {
            trace.push(step("new_request", "ambiguous", mail.from_email.clone()));
            Ok(Outcome::Quarantined("no_match"))
        }
        (Some(_), _, false) => {
            trace.push(step("new_request", "disabled", policy.mailbox.clone()));
            Ok(Outcome::Quarantined("no_match"))
        }
        (Some((customer, contact, _)), _, true) => {
            let id = open_request(tx, &actor, now, *customer, Some(*contact), mail).await?;
            let number = request_ref(tx, id).await?.map(|r| r.0).unwrap_or_default();
            trace.push(step("new_request", "opened", number));
            land(tx, storage, &actor, now, policy, raw, mail, row, id, "new_request", trace, written).await
        }
    }
}

/// Opens a request from an email: `source: email`, the contact as requester, the customer's
/// branch, no owner yet (the support team's queue).
async fn open_request(tx: &mut Tx, actor: &Actor, now: Millis, customer: i64, contact: Option<i64>, mail: &Mail) -> Result<i64> {
    let branch: Option<i64> = sqlx::query_scalar("SELECT branch_id FROM customers WHERE id = $1")
        .bind(customer)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| Error::validation("customer_id", "error.unknown_customer"))?;
    let request_type: Option<String> = sqlx::query_scalar(
        "SELECT code FROM value_list_items WHERE list_code = 'request_type' AND active = 1 \
         ORDER BY CASE WHEN code = 'information' THEN 0 ELSE 1 END, id LIMIT 1",
    )
    .fetch_optional(&mut **tx)
    .await?;
    let request_type = request_type.ok_or_else(|| Error::internal("no active request type"))?;
    let number = crate::service::store::next_number(tx, "DEM", now).await?;
    let description = if mail.subject.trim().is_empty() { mail.body.clone() } else { mail.subject.clone() };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO service_requests (number, customer_id, requester_contact_id, user_contact_id, request_type, symptom, source, description, \
         status, owner_id, branch_id, created_at, updated_at) VALUES ($1, $2, $3, NULL, $4, NULL, 'email', $5, 'nouveau', NULL, $6, $7, $7) RETURNING id",
    )
    .bind(&number)
    .bind(customer)
    .bind(contact)
    .bind(&request_type)
    .bind(description.chars().take(20_000).collect::<String>())
    .bind(branch)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    crate::service::sla::stamp(tx, id).await?;
    let r = crate::service::store::get(tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(tx, actor, now, id, &r).await?;
    Ok(id)
}

/// Adds the email to the request's conversation (as a customer message: unread, the owner
/// told), its original as an `.eml` document and its attachments as documents of the message.
#[allow(clippy::too_many_arguments)]
async fn land(
    tx: &mut Tx,
    storage: &Storage,
    actor: &Actor,
    now: Millis,
    policy: &Policy,
    raw: &[u8],
    mail: &Mail,
    row: i64,
    request_id: i64,
    rule: &'static str,
    trace: &mut Vec<Step>,
    written: &mut Vec<String>,
) -> Result<Outcome> {
    if messages::blocked(tx, request_id).await?.0 {
        trace.push(step("conversation", "blocked", ""));
        return Ok(Outcome::Quarantined("blocked"));
    }
    let contact_name: Option<String> =
        sqlx::query_scalar("SELECT TRIM(first_name || ' ' || last_name) FROM contacts c JOIN service_requests r ON r.customer_id = c.customer_id WHERE r.id = $1 AND LOWER(c.email) = $2 ORDER BY c.id LIMIT 1")
            .bind(request_id)
            .bind(&mail.from_email)
            .fetch_optional(&mut **tx)
            .await?;
    let name = contact_name
        .filter(|n| !n.is_empty())
        .or(Some(mail.from_name.clone()).filter(|n| !n.is_empty()))
        .unwrap_or(mail.from_email.clone());
    let body = if mail.body.trim().is_empty() {
        if mail.subject.is_empty() {
            "—".to_string()
        } else {
            mail.subject.clone()
        }
    } else {
        mail.body.clone()
    };
    let author = Author::Email { name, email: mail.from_email.clone() };
    let message = messages::post_in(tx, actor, now, request_id, &author, &body, false).await?;
    sqlx::query("UPDATE request_messages SET inbound_rule = $1 WHERE id = $2").bind(rule).bind(message).execute(&mut **tx).await?;
    sqlx::query("UPDATE inbound_emails SET message_row_id = $1 WHERE id = $2").bind(message).bind(row).execute(&mut **tx).await?;
    let max = policy.max_document_bytes;
    let eml =
        documents::store_for_message(tx, storage, actor, now, request_id, message, &format!("email-{row}.eml"), raw.to_vec(), false, max)
            .await?;
    match eml {
        Ok(d) => written.push(d.storage_key),
        Err(why) => trace.push(step("document", why, format!("email-{row}.eml"))),
    }
    for (name, bytes) in &mail.attachments {
        match documents::store_for_message(tx, storage, actor, now, request_id, message, name, bytes.clone(), true, max).await? {
            Ok(d) => written.push(d.storage_key),
            Err(why) => trace.push(step("document", why, name.clone())),
        }
    }
    Ok(Outcome::Landed { request_id, rule })
}

// ------------------------------------------------------------------ quarantine

/// A message as listed in quarantine.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Held {
    pub id: i64,
    pub mailbox: String,
    pub from_email: String,
    pub from_name: String,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub reason: Option<String>,
    pub trace: String,
    pub received_at: i64,
}

impl Held {
    /// The rules tried and what each found.
    pub fn steps(&self) -> Vec<Step> {
        serde_json::from_str(&self.trace).unwrap_or_default()
    }
}

const HELD: &str = "SELECT id, mailbox, from_email, from_name, subject, body, status, reason, trace, received_at FROM inbound_emails";

/// The quarantine (or the ignored messages), newest first, keyset-paginated on id.
pub async fn list(db: &Db, status: &str, before: Option<i64>, limit: i64) -> Result<Vec<Held>> {
    Ok(sqlx::query_as(&format!("{HELD} WHERE status = $1 AND id < $2 ORDER BY id DESC LIMIT $3"))
        .bind(status)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&db.pool)
        .await?)
}

/// A quarantined message, with its original.
async fn held_raw(tx: &mut Tx, id: i64) -> Result<Vec<u8>> {
    let row: Option<(String, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT status, raw FROM inbound_emails WHERE id = $1").bind(id).fetch_optional(&mut **tx).await?;
    match row {
        None => Err(Error::NotFound),
        Some((status, Some(raw))) if status == "quarantined" => Ok(raw),
        Some(_) => Err(Error::InvalidState { reason: "error.inbound_not_quarantined" }),
    }
}

async fn decided(tx: &mut Tx, actor: &Actor, now: Millis, id: i64, action: &str, outcome: &Outcome) -> Result<()> {
    let (status, rule, request_id) = match outcome {
        Outcome::Landed { request_id, rule } => ("landed", Some(*rule), Some(*request_id)),
        _ => ("discarded", None, None),
    };
    let done = sqlx::query(
        "UPDATE inbound_emails SET status = $1, rule = $2, request_id = $3, raw = NULL, handled_by = $4, handled_at = $5 \
         WHERE id = $6 AND status = 'quarantined'",
    )
    .bind(status)
    .bind(rule)
    .bind(request_id)
    .bind(actor.id)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::InvalidState { reason: "error.inbound_not_quarantined" });
    }
    let number = match request_id {
        Some(r) => request_ref(tx, r).await?.map(|r| r.0),
        None => None,
    };
    audit::record(
        tx,
        actor,
        now,
        "inbound_email",
        id,
        action,
        &[
            Change { field: "status".into(), old: Some("quarantined".into()), new: Some(status.into()) },
            Change { field: "request".into(), old: None, new: number },
        ],
    )
    .await
}

/// Lands a quarantined message on the request numbered `number`, one the user may see (a
/// person's decision: the sender need not be known).
#[allow(clippy::too_many_arguments)]
pub async fn assign(
    db: &Db,
    storage: &Storage,
    actor: &Actor,
    vis: &Visibility,
    now: Millis,
    id: i64,
    number: &str,
    max_document_bytes: usize,
) -> Result<i64> {
    let number = number.trim().to_ascii_uppercase();
    if number.is_empty() {
        return Err(Error::validation("number", "error.required"));
    }
    let request: Option<i64> =
        sqlx::query_scalar("SELECT id FROM service_requests WHERE number = $1").bind(&number).fetch_optional(&db.pool).await?;
    let visible = match request {
        Some(r) => crate::service::store::get_visible(db, vis, r).await?.map(|r| r.id),
        None => None,
    };
    let request = visible.ok_or_else(|| Error::validation("number", "error.unknown_request"))?;
    let mut written = Vec::new();
    let res = async {
        let mut tx = db.begin().await?;
        let raw = held_raw(&mut tx, id).await?;
        let mail = parse(&raw);
        let policy = Policy { mailbox: String::new(), open_requests: false, max_per_sender_per_minute: 0, max_document_bytes };
        let mut trace = Vec::new();
        let outcome = land(&mut tx, storage, actor, now, &policy, &raw, &mail, id, request, "assigned", &mut trace, &mut written).await?;
        if outcome != (Outcome::Landed { request_id: request, rule: "assigned" }) {
            return Err(Error::InvalidState { reason: "error.conversation_blocked" });
        }
        decided(&mut tx, actor, now, id, "assigned", &outcome).await?;
        tx.commit().await?;
        Ok(request)
    }
    .await;
    cleanup(storage, &written, res).await
}

/// Opens a request for `customer_id` (a customer the user may see) from a quarantined message (its sender as requester when
/// a contact of that customer has the address) and lands the message on it.
#[allow(clippy::too_many_arguments)]
pub async fn create_request(
    db: &Db,
    storage: &Storage,
    actor: &Actor,
    vis: &Visibility,
    now: Millis,
    id: i64,
    customer_id: Option<i64>,
    max_document_bytes: usize,
) -> Result<i64> {
    let customer = customer_id.ok_or_else(|| Error::validation("customer_id", "error.required"))?;
    // A customer the user may see (else, as for an unknown one, a 422).
    if crate::customers::store::get_visible(db, vis, customer).await?.is_none() {
        return Err(Error::validation("customer_id", "error.unknown_customer"));
    }
    let mut written = Vec::new();
    let res = async {
        let mut tx = db.begin().await?;
        let raw = held_raw(&mut tx, id).await?;
        let mail = parse(&raw);
        let contact = contacts_with(&mut tx, &mail.from_email).await?.into_iter().find(|c| c.0 == customer).map(|c| c.1);
        let request = open_request(&mut tx, actor, now, customer, contact, &mail).await?;
        let policy = Policy { mailbox: String::new(), open_requests: true, max_per_sender_per_minute: 0, max_document_bytes };
        let mut trace = Vec::new();
        let outcome = land(&mut tx, storage, actor, now, &policy, &raw, &mail, id, request, "created", &mut trace, &mut written).await?;
        decided(&mut tx, actor, now, id, "created", &outcome).await?;
        tx.commit().await?;
        Ok(request)
    }
    .await;
    cleanup(storage, &written, res).await
}

/// Discards a quarantined message (its original is dropped; the record stays).
pub async fn discard(db: &Db, actor: &Actor, now: Millis, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    held_raw(&mut tx, id).await?;
    decided(&mut tx, actor, now, id, "discarded", &Outcome::Quarantined("discarded")).await?;
    tx.commit().await?;
    Ok(())
}

/// The job: polls every configured mailbox; one failing mailbox does not stop the others.
pub async fn run(ctx: &crate::jobs::JobContext) -> anyhow::Result<String> {
    if ctx.config.inbound_mailboxes.is_empty() {
        return Ok("no inbound mailbox configured".into());
    }
    let storage = Storage::from_config(&ctx.config)?;
    let mut report = Vec::new();
    let mut failed = Vec::new();
    for m in &ctx.config.inbound_mailboxes {
        let polled = imap::poll(&ctx.db, &storage, &ctx.clock, m, ctx.config.max_document_bytes).await;
        let result = if polled.is_ok() { "ok" } else { "error" };
        metrics::counter!("carnet_inbound_polls_total", "mailbox" => m.name.clone(), "result" => result).increment(1);
        match polled {
            Ok(s) => report.push(format!("{}: {s}", m.name)),
            Err(e) => failed.push(format!("{}: {e:#}", m.name)),
        }
    }
    if !failed.is_empty() {
        anyhow::bail!("{}", failed.join("; "));
    }
    Ok(report.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_numbers() {
        assert_eq!(token_of("reply+abc123@carnet.test"), Some("abc123"));
        assert_eq!(token_of("support@carnet.test"), None);
        assert_eq!(token_of("reply+a.b@x"), None);
        assert_eq!(number_in("Re: [DEM-2026-000123] panne"), Some("DEM-2026-000123".into()));
        assert_eq!(number_in("re: dem-2026-000007"), Some("DEM-2026-000007".into()));
        assert_eq!(number_in("DEM-2026-0001234"), None, "seven digits is not a number");
        assert_eq!(number_in("DEM-26-000123"), None);
    }

    #[test]
    fn loops_are_recognised_by_their_headers() {
        let reason = |headers: &str| {
            parse(format!("From: a@b.fr\r\nMessage-ID: <x@y>\r\n{headers}Subject: s\r\n\r\nbody\r\n").as_bytes()).loop_reason
        };
        assert_eq!(reason("Auto-Submitted: auto-replied\r\n"), Some("auto_submitted"));
        assert_eq!(reason("Auto-Submitted: no\r\n"), None);
        assert_eq!(reason("Precedence: bulk\r\n"), Some("precedence"));
        assert_eq!(reason("Return-Path: <>\r\n"), Some("bounce"));
        assert_eq!(reason("Return-Path: <a@b.fr>\r\n"), None);
        assert_eq!(reason("Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n"), Some("bounce"));
        assert_eq!(reason(""), None);
    }

    #[test]
    fn the_key_is_the_message_id_or_a_hash() {
        assert_eq!(parse(b"From: a@b.fr\r\nMessage-ID: <x@y>\r\n\r\nb").dedup_key, "mid:x@y");
        let a = parse(b"From: a@b.fr\r\n\r\none").dedup_key;
        assert!(a.starts_with("sha256:"));
        assert_ne!(a, parse(b"From: a@b.fr\r\n\r\ntwo").dedup_key);
    }
}
