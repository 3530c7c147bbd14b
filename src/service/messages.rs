//! Direct messages on a request (seed 004, "messages sur demandes"): one conversation per
//! request between staff and the customer — portal users, or the customer's emails landed by
//! the inbound mail reader. Enabled by the setting `service.messages_enabled`.
//!
//! A customer message (`direction = in`) is unread for staff until someone marks it read; the
//! customer sees the mark. A staff message may notify the customer by email, from the
//! request's reply address with threading headers, so that a reply comes back into the
//! conversation. A blocked conversation keeps its history; nobody writes in it.

use serde::Serialize;
use serde_json::json;
use sqlx::FromRow;

use crate::audit::{self, Actor, Audited, Change};
use crate::clock::Millis;
use crate::db::{Db, Tx};
use crate::error::{Error, Result};
use crate::mail::notify::{notify, Notice, Recipient};

/// The longest message.
pub const MAX_BODY: usize = 10_000;

/// Who writes.
#[derive(Debug, Clone)]
pub enum Author {
    Staff {
        user_id: i64,
        name: String,
    },
    Portal {
        account_id: i64,
        name: String,
        email: String,
    },
    /// An email landed on the request (its sender, already checked as a contact of the customer).
    Email {
        name: String,
        email: String,
    },
}

impl Author {
    fn kind(&self) -> &'static str {
        match self {
            Author::Staff { .. } => "staff",
            Author::Portal { .. } => "portal",
            Author::Email { .. } => "email",
        }
    }
    fn direction(&self) -> &'static str {
        match self {
            Author::Staff { .. } => "out",
            _ => "in",
        }
    }
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Message {
    pub id: i64,
    pub request_id: i64,
    /// `in` (from the customer) or `out` (from staff).
    pub direction: String,
    /// `staff`, `portal` or `email`.
    pub author_kind: String,
    pub author_name: String,
    pub author_email: Option<String>,
    pub body: String,
    /// A staff message: whether the customer was emailed.
    #[sqlx(try_from = "crate::db::Flag")]
    pub notified: bool,
    /// A customer message: when staff marked it read.
    pub read_at: Option<i64>,
    pub created_at: i64,
    /// The files sent with it (documents of the request).
    #[sqlx(skip)]
    pub attachments: Vec<MessageFile>,
}

/// A file sent with a message: a document of the request.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct MessageFile {
    /// The document's id.
    pub id: i64,
    #[serde(skip)]
    pub message_id: i64,
    pub filename: String,
    pub size: i64,
}

/// A file written with a message, checked ([`check_files`]) but not stored yet.
pub struct NewFile {
    pub name: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The most files on one message.
pub const MAX_FILES: usize = 10;

impl Message {
    pub fn from_customer(&self) -> bool {
        self.direction == "in"
    }
    /// The text as HTML: escaped, its web addresses as links.
    pub fn body_html(&self) -> String {
        crate::text::with_links(&self.body)
    }
}

impl Audited for Message {
    const ENTITY: &'static str = "request_message";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("direction", Some(self.direction.clone())),
            ("author", Some(self.author_name.clone())),
            ("body", Some(self.body.clone())),
            ("notified", Some(self.notified.to_string())),
            ("read", Some(self.read_at.is_some().to_string())),
        ]
    }
}

const SELECT: &str =
    "SELECT id, request_id, direction, author_kind, author_name, author_email, body, notified, read_at, created_at FROM request_messages";

/// The text of a message: trimmed, required, at most [`MAX_BODY`] characters. Line breaks are
/// kept; it is shown as text (escaped), never as HTML.
pub fn check_body(raw: &str) -> Result<String> {
    let body = raw.trim();
    if body.is_empty() {
        return Err(Error::validation("body", "error.required"));
    }
    if body.chars().count() > MAX_BODY {
        return Err(Error::validation("body", "error.too_long"));
    }
    Ok(body.to_string())
}

/// Whether conversations are enabled (the setting; off by default, as in the seed).
pub async fn enabled(db: &Db) -> Result<bool> {
    crate::settings::get_bool(db, "service.messages_enabled").await
}

/// The conversation of a request, oldest first, each message with its files (for the
/// customer, `shared_only`: the files shared with them, never an email's original).
pub async fn list(db: &Db, request_id: i64, shared_only: bool) -> Result<Vec<Message>> {
    let mut messages: Vec<Message> =
        sqlx::query_as(&format!("{SELECT} WHERE request_id = $1 ORDER BY id")).bind(request_id).fetch_all(&db.pool).await?;
    let files: Vec<MessageFile> = sqlx::query_as(&format!(
        "SELECT id, message_id, filename, size FROM documents WHERE request_id = $1 AND message_id IS NOT NULL{} ORDER BY id",
        if shared_only { " AND shared = 1" } else { "" }
    ))
    .bind(request_id)
    .fetch_all(&db.pool)
    .await?;
    for f in files {
        if let Some(m) = messages.iter_mut().find(|m| m.id == f.message_id) {
            m.attachments.push(f);
        }
    }
    Ok(messages)
}

/// The files of a message as written (`files` parts of a form: name and bytes): each name and
/// type accepted, not empty, at most `max` bytes; at most [`MAX_FILES`]. Refusals name the
/// field `files`.
pub fn check_files(files: Vec<(String, Vec<u8>)>, max: usize) -> Result<Vec<NewFile>> {
    if files.len() > MAX_FILES {
        return Err(Error::validation("files", "error.too_many_files"));
    }
    let mut out = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let (name, content_type) = crate::service::documents::check_name(&name).map_err(|r| Error::validation("files", r))?;
        if bytes.is_empty() {
            return Err(Error::validation("files", "error.file_empty"));
        }
        if bytes.len() > max {
            return Err(Error::validation("files", "error.too_large"));
        }
        out.push(NewFile { name, content_type, bytes });
    }
    Ok(out)
}

pub async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<Message>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_optional(conn).await?)
}

/// Whether the request's conversation is blocked, and the note shown to the customer.
pub async fn blocked(conn: &mut sqlx::AnyConnection, request_id: i64) -> Result<(bool, Option<String>)> {
    let row: Option<(i64, Option<String>)> =
        sqlx::query_as("SELECT conversation_blocked, conversation_note FROM service_requests WHERE id = $1")
            .bind(request_id)
            .fetch_optional(conn)
            .await?;
    let (b, note) = row.ok_or(Error::NotFound)?;
    Ok((b != 0, note))
}

/// Adds a message in the caller's transaction (the inbound mail reader lands email replies
/// with it, inside its own transaction). Refused when the conversation is blocked. A
/// customer message tells the request's owner (a notification preference); a staff message
/// with `notify_customer` emails the request's contacts from the request's reply address.
/// Returns the message's id.
pub async fn post_in(
    tx: &mut Tx,
    actor: &Actor,
    now: Millis,
    request_id: i64,
    author: &Author,
    body: &str,
    notify_customer: bool,
) -> Result<i64> {
    let body = check_body(body)?;
    write(tx, actor, now, request_id, author, body, notify_customer, Vec::new()).await
}

/// Writes a checked message; `attachments` go with the customer's notification email.
#[allow(clippy::too_many_arguments)]
async fn write(
    tx: &mut Tx,
    actor: &Actor,
    now: Millis,
    request_id: i64,
    author: &Author,
    body: String,
    notify_customer: bool,
    attachments: Vec<crate::mail::Attachment>,
) -> Result<i64> {
    let (is_blocked, _) = blocked(tx, request_id).await?;
    if is_blocked {
        return Err(Error::InvalidState { reason: "error.conversation_blocked" });
    }
    let (user_id, portal_id, name, email) = match author {
        Author::Staff { user_id, name } => (Some(*user_id), None, name.clone(), None),
        Author::Portal { account_id, name, email } => (None, Some(*account_id), name.clone(), Some(email.clone())),
        Author::Email { name, email } => (None, None, name.clone(), Some(email.clone())),
    };
    let r = crate::service::store::get(tx, request_id).await?.ok_or(Error::NotFound)?;
    // Staff → customer: the contacts set on the request, else the customer's own address.
    let mut recipients = Vec::new();
    if notify_customer && matches!(author, Author::Staff { .. }) {
        let lang: String =
            sqlx::query_scalar("SELECT language FROM customers WHERE id = $1").bind(r.customer_id).fetch_one(&mut **tx).await?;
        let lang = crate::i18n::Lang::parse(&lang).unwrap_or_default();
        let mut addresses: Vec<(String, String)> =
            [&r.requester, &r.user].into_iter().flatten().filter_map(|c| c.email.clone().map(|e| (e, c.name.clone()))).collect();
        if addresses.is_empty() {
            let e: Option<String> =
                sqlx::query_scalar("SELECT email FROM customers WHERE id = $1").bind(r.customer_id).fetch_one(&mut **tx).await?;
            addresses.extend(e.map(|e| (e, r.customer_name.clone())));
        }
        addresses.sort();
        addresses.dedup_by(|a, b| a.0 == b.0);
        recipients = addresses
            .iter()
            .filter_map(|(e, n)| crate::identity::Email::parse(e).ok().map(|e| crate::mail::Mailbox::new(Some(n), &e)))
            .map(|m| Recipient::Address(m, lang))
            .collect();
        if recipients.is_empty() {
            return Err(Error::validation("notify", "error.no_customer_address"));
        }
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO request_messages (request_id, direction, author_kind, author_user_id, author_portal_id, author_name, author_email, body, \
         notified, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(request_id)
    .bind(author.direction())
    .bind(author.kind())
    .bind(user_id)
    .bind(portal_id)
    .bind(&name)
    .bind(email.as_deref())
    .bind(&body)
    .bind(!recipients.is_empty() as i64)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    let vars = json!({"request": {"id": request_id, "number": r.number}, "customer": {"name": r.customer_name},
                      "message": {"body": body, "author": name}, "actor": {"name": actor.name}});
    if !recipients.is_empty() {
        let notice = Notice {
            event: "request_message",
            entity: Some(("service_request".into(), request_id)),
            vars: vars.clone(),
            attachments,
            created_by: actor.id,
        };
        let ids = notify(tx, now, notice, &recipients).await?;
        if let Some(first) = ids.first() {
            sqlx::query("UPDATE request_messages SET email_id = $1 WHERE id = $2").bind(*first).bind(id).execute(&mut **tx).await?;
        }
    }
    if !matches!(author, Author::Staff { .. }) {
        if let Some(owner) = r.owner_id {
            let notice = Notice {
                event: "request_message_received",
                entity: Some(("service_request".into(), request_id)),
                vars,
                attachments: Vec::new(),
                created_by: None,
            };
            notify(tx, now, notice, &[Recipient::User(owner)]).await?;
        }
    }
    sqlx::query("UPDATE service_requests SET updated_at = $1 WHERE id = $2").bind(now).bind(request_id).execute(&mut **tx).await?;
    let m = get(tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(tx, actor, now, id, &m).await?;
    audit::record(
        tx,
        actor,
        now,
        "service_request",
        request_id,
        "message",
        &[Change { field: "message".into(), old: None, new: Some(name) }],
    )
    .await?;
    Ok(id)
}

/// [`post_in`] in its own transaction.
pub async fn post(
    db: &Db,
    actor: &Actor,
    now: Millis,
    request_id: i64,
    author: &Author,
    body: &str,
    notify_customer: bool,
) -> Result<Message> {
    let mut tx = db.begin().await?;
    let id = post_in(&mut tx, actor, now, request_id, author, body, notify_customer).await?;
    let m = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    tx.commit().await?;
    Ok(m)
}

/// A message with files ([`check_files`]): the files become documents of the request, shared
/// with the customer and linked to the message; a customer notification carries them when
/// together they fit in `mail_max` bytes. The files are stored first, then the message and
/// their rows in one transaction; if it does not commit, the files are removed again. With
/// files, the text may be empty.
#[allow(clippy::too_many_arguments)]
pub async fn post_with_files(
    db: &Db,
    storage: &crate::service::documents::Storage,
    actor: &Actor,
    now: Millis,
    request_id: i64,
    author: &Author,
    body: &str,
    notify_customer: bool,
    files: Vec<NewFile>,
    mail_max: usize,
) -> Result<Message> {
    if files.is_empty() {
        return post(db, actor, now, request_id, author, body, notify_customer).await;
    }
    let body = match check_body(body) {
        Err(Error::Validation(_)) if body.trim().is_empty() => String::new(),
        other => other?,
    };
    let total: usize = files.iter().map(|f| f.bytes.len()).sum();
    let attachments = if notify_customer && total <= mail_max {
        files
            .iter()
            .map(|f| crate::mail::Attachment { filename: f.name.clone(), content_type: f.content_type.into(), content: f.bytes.clone() })
            .collect()
    } else {
        Vec::new()
    };
    let mut stored = Vec::with_capacity(files.len());
    for f in files {
        let size = f.bytes.len() as i64;
        match crate::service::documents::put_file(storage, request_id, f.bytes).await {
            Ok(key) => stored.push((f.name, f.content_type, size, key)),
            Err(e) => {
                for (_, _, _, key) in &stored {
                    crate::service::documents::remove_file(storage, key).await;
                }
                return Err(e);
            }
        }
    }
    let portal_account = match author {
        Author::Portal { account_id, .. } => Some(*account_id),
        _ => None,
    };
    let res = async {
        let mut tx = db.begin().await?;
        let id = write(&mut tx, actor, now, request_id, author, body, notify_customer, attachments).await?;
        for (name, content_type, size, key) in &stored {
            crate::service::documents::attach_to_message(
                &mut tx,
                actor,
                now,
                request_id,
                id,
                name,
                content_type,
                *size,
                key,
                portal_account,
            )
            .await?;
        }
        let m = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
        tx.commit().await?;
        Ok::<Message, Error>(m)
    }
    .await;
    if res.is_err() {
        for (_, _, _, key) in &stored {
            crate::service::documents::remove_file(storage, key).await;
        }
    }
    let mut m = res?;
    m.attachments = sqlx::query_as("SELECT id, message_id, filename, size FROM documents WHERE message_id = $1 ORDER BY id")
        .bind(m.id)
        .fetch_all(&db.pool)
        .await?;
    Ok(m)
}

/// Marks a customer message of `request_id` read or unread (staff).
pub async fn set_read(db: &Db, actor: &Actor, now: Millis, request_id: i64, id: i64, read: bool) -> Result<Message> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.filter(|m| m.request_id == request_id && m.from_customer()).ok_or(Error::NotFound)?;
    if old.read_at.is_some() == read {
        tx.rollback().await?;
        return Ok(old);
    }
    sqlx::query("UPDATE request_messages SET read_at = $1, read_by = $2 WHERE id = $3")
        .bind(read.then_some(now))
        .bind(if read { actor.id } else { None })
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    Ok(new)
}

/// Blocks the conversation (with a note shown to the customer) or reopens it.
pub async fn set_blocked(db: &Db, actor: &Actor, now: Millis, request_id: i64, block: bool, note: &str) -> Result<()> {
    let note = note.trim();
    if note.chars().count() > 500 {
        return Err(Error::validation("note", "error.too_long"));
    }
    let mut tx = db.begin().await?;
    let (was, old_note) = blocked(&mut tx, request_id).await?;
    let new_note = if block { Some(note.to_string()).filter(|n| !n.is_empty()) } else { None };
    if was == block && old_note == new_note {
        tx.rollback().await?;
        return Ok(());
    }
    sqlx::query("UPDATE service_requests SET conversation_blocked = $1, conversation_note = $2, updated_at = $3 WHERE id = $4")
        .bind(block as i64)
        .bind(new_note.as_deref())
        .bind(now)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        now,
        "service_request",
        request_id,
        "updated",
        &[Change { field: "conversation_blocked".into(), old: Some(was.to_string()), new: Some(block.to_string()) }],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Unread customer messages per request among `ids` (for lists): (request id, count).
pub async fn unread_of(db: &Db, ids: &[i64]) -> Result<Vec<(i64, i64)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    Ok(sqlx::query_as(&format!(
        "SELECT request_id, COUNT(*) FROM request_messages WHERE direction = 'in' AND read_at IS NULL AND request_id IN ({list}) GROUP BY request_id"
    ))
    .fetch_all(&db.pool)
    .await?)
}

/// Unread customer messages on the requests `vis` may see (the home page's count).
pub async fn unread_visible(db: &Db, vis: &crate::access::Visibility) -> Result<i64> {
    let mut q = crate::db::Sql::new(
        "SELECT COUNT(*) FROM request_messages m JOIN service_requests r ON r.id = m.request_id WHERE m.direction = 'in' AND m.read_at IS NULL AND ",
    );
    q.append(vis.requests("r"));
    Ok(q.query_scalar().fetch_one(&db.pool).await?)
}
