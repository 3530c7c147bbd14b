//! Notifications: tell users, groups or raw addresses that something happened on a record.
//! Each recipient gets their own email, rendered from the event's template in their
//! language. Users can turn off the notifications they do not need, except those the
//! workflow requires.

use serde_json::Value;

use super::{Attachment, Mailbox, NewEmail};
use crate::clock::Millis;
use crate::db::{Db, Tx};
use crate::email::Email;
use crate::error::{Error, Result};
use crate::i18n::Lang;

#[derive(Debug, Clone)]
pub enum Recipient {
    User(i64),
    Group(i64),
    /// A raw address (a customer contact, a partner) and the language to write in.
    Address(Mailbox, Lang),
}

pub struct Notice {
    pub event: &'static str,
    /// The record it concerns.
    pub entity: Option<(String, i64)>,
    /// Template variables; `app_name` and `app_url` are added.
    pub vars: Value,
    pub attachments: Vec<Attachment>,
    pub created_by: Option<i64>,
}

struct Target {
    mailbox: Mailbox,
    lang: Lang,
    /// The user, for a user (their in-app notification: [`crate::inbox`]).
    user_id: Option<i64>,
    /// Whether the user wants this event (read with the user: see [`wants`]).
    wants: bool,
}

/// An active user's mailbox and language, and whether they want `event`, in one statement.
async fn user_target(tx: &mut Tx, id: i64, event: &str) -> Result<Option<Target>> {
    let def = super::templates::event(event).ok_or(Error::NotFound)?;
    let row: Option<(String, String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT email, name, language, active, (SELECT enabled FROM notification_prefs p WHERE p.user_id = u.id AND p.event = $2) \
         FROM users u WHERE id = $1",
    )
    .bind(id)
    .bind(event)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.filter(|r| r.3 != 0).and_then(|(email, name, lang, _, pref)| {
        Email::parse(&email).ok().map(|e| Target {
            mailbox: Mailbox::new(Some(&name), &e),
            lang: Lang::parse(&lang).unwrap_or_default(),
            user_id: Some(id),
            wants: def.required || pref.is_none_or(|p| p != 0),
        })
    }))
}

/// Whether `user_id` wants `event` (required events are always sent).
pub async fn wants(conn: &mut sqlx::AnyConnection, user_id: i64, event: &str) -> Result<bool> {
    let def = super::templates::event(event).ok_or(Error::NotFound)?;
    if def.required {
        return Ok(true);
    }
    let pref: Option<i64> = sqlx::query_scalar("SELECT enabled FROM notification_prefs WHERE user_id = $1 AND event = $2")
        .bind(user_id)
        .bind(event)
        .fetch_optional(conn)
        .await?;
    Ok(pref.is_none_or(|p| p != 0))
}

/// The events also shown in the app (the bell): those about a record a user works on
/// (not the account's own emails: creation, password, role).
pub const IN_APP: &[&str] = &[
    "opportunity_assigned",
    "lead_queued",
    "lead_merged",
    "call_reminder",
    "request_call_reminder",
    "meeting_confirmation",
    "meeting_updated",
    "meeting_cancelled",
    "presales_step",
    "presales_invitation",
    "request_message",
    "request_message_received",
    "request_update",
    "sla_warning",
    "sla_breached",
    "portal_request_created",
];

/// The in-app notification of a user who gets this notice's email, with its subject as the
/// text (in the user's language): for the events of [`IN_APP`] about a record, never for the
/// user who caused the event.
async fn in_app(tx: &mut Tx, now: Millis, notice: &Notice, user_id: i64, subject: &str) -> Result<()> {
    let Some((kind, id)) = notice.entity.as_ref() else { return Ok(()) };
    if notice.created_by == Some(user_id) || !IN_APP.contains(&notice.event) {
        return Ok(());
    }
    crate::inbox::add(tx, now, user_id, notice.event, (kind.as_str(), *id), subject).await
}

/// [`in_app`] for an email prepared before its transaction (a lead's fast merge): the user's
/// notification with the email's subject, on the same rules.
pub async fn in_app_prepared(tx: &mut Tx, now: Millis, p: &super::Prepared, user_id: i64) -> Result<()> {
    let e = &p.email;
    if e.created_by == Some(user_id) || !IN_APP.contains(&e.event.as_str()) {
        return Ok(());
    }
    crate::inbox::add(tx, now, user_id, &e.event, (p.entity.0.as_str(), p.entity.1), &e.subject).await
}

/// Queues one email per recipient, in the caller's transaction. Returns the email ids.
pub async fn notify(tx: &mut Tx, now: Millis, notice: Notice, recipients: &[Recipient]) -> Result<Vec<i64>> {
    let mut targets: Vec<Target> = Vec::new();
    for r in recipients {
        match r {
            Recipient::User(id) => targets.extend(user_target(tx, *id, notice.event).await?),
            Recipient::Group(g) => {
                let members: Vec<i64> = sqlx::query_scalar("SELECT user_id FROM user_group_members WHERE group_id = $1 ORDER BY user_id")
                    .bind(*g)
                    .fetch_all(&mut **tx)
                    .await?;
                for m in members {
                    targets.extend(user_target(tx, m, notice.event).await?);
                }
            }
            Recipient::Address(m, lang) => targets.push(Target { mailbox: m.clone(), lang: *lang, user_id: None, wants: true }),
        }
    }
    let mut seen = std::collections::HashSet::new();
    targets.retain(|t| seen.insert(t.mailbox.email.clone()));
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let settings = super::mail_settings(tx).await?;
    let mut vars = notice.vars.clone();
    if let Value::Object(m) = &mut vars {
        m.entry("app_name").or_insert(Value::String(settings.app_name.clone()));
        m.entry("app_url").or_insert(Value::String(settings.app_url.clone()));
    }
    let mut ids = Vec::new();
    for t in targets {
        if !t.wants {
            continue;
        }
        let template = super::templates::get(tx, notice.event, t.lang).await?;
        let r = super::templates::render(&template, &vars)
            .map_err(|(part, e)| Error::internal(format!("template {} {part}: {e}", notice.event)))?;
        if let Some(user_id) = t.user_id {
            in_app(tx, now, &notice, user_id, &r.subject).await?;
        }
        let email = NewEmail {
            entity: notice.entity.clone(),
            event: notice.event.to_string(),
            to: vec![t.mailbox],
            subject: r.subject,
            text: r.text,
            html: Some(r.html),
            attachments: notice.attachments.clone(),
            created_by: notice.created_by,
            ..Default::default()
        };
        ids.push(super::queue_from(tx, now, email, settings.sender.clone()).await?);
    }
    Ok(ids)
}

/// [`notify`] of one user about a record, with everything it reads in one statement (the
/// user and their preference, the template in their language, the sender settings, the
/// record's thread), then the email and its delivery job ([`super::insert_prepared`]): 3
/// statements, 4 for a record's first email. Same rules as [`notify`] (an inactive user or
/// one who turned the event off gets nothing).
pub async fn notify_user(tx: &mut Tx, now: Millis, notice: Notice, user_id: i64) -> Result<Option<i64>> {
    let Some((kind, entity_id)) = notice.entity.clone() else {
        return Ok(notify(tx, now, notice, &[Recipient::User(user_id)]).await?.pop());
    };
    let def = super::templates::event(notice.event).ok_or(Error::NotFound)?;
    type Row = (
        String,
        String,
        String,
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT u.email, u.name, u.language, u.active, (SELECT enabled FROM notification_prefs p WHERE p.user_id = u.id AND p.event = $2), \
         t.subject, t.text_body, t.html_body, \
         (SELECT value FROM settings WHERE key = 'mail.from_address'), (SELECT value FROM settings WHERE key = 'mail.from_name'), \
         (SELECT value FROM settings WHERE key = 'mail.reply_domain'), (SELECT value FROM settings WHERE key = 'mail.link_base_url'), \
         (SELECT token FROM mail_threads th WHERE th.entity_type = $3 AND th.entity_id = $4) \
         FROM users u LEFT JOIN email_templates t ON t.event = $2 AND t.lang = u.language WHERE u.id = $1",
    )
    .bind(user_id)
    .bind(notice.event)
    .bind(&kind)
    .bind(entity_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((email, name, lang, active, pref, subject, text, html, from_address, from_name, reply_domain, link_base, thread)) = row else {
        return Ok(None);
    };
    let Ok(address) = Email::parse(&email) else { return Ok(None) };
    if active == 0 || !(def.required || pref.is_none_or(|p| p != 0)) {
        return Ok(None);
    }
    let lang = Lang::parse(&lang).unwrap_or_default();
    let stored = match (subject, text, html) {
        (Some(s), Some(t), Some(h)) => Some((s, t, h)),
        _ => None,
    };
    let template = super::templates::from_stored(notice.event, lang, stored)?;
    let setting = |v: Option<String>, k: &str| v.or_else(|| crate::settings::def(k).map(|d| d.default.to_string())).unwrap_or_default();
    let from_name = setting(from_name, "mail.from_name");
    let sender = super::sender_of(&setting(from_address, "mail.from_address"), &from_name, &setting(reply_domain, "mail.reply_domain"))?;
    let mut vars = notice.vars.clone();
    if let Value::Object(m) = &mut vars {
        m.entry("app_name").or_insert(Value::String(from_name));
        m.entry("app_url").or_insert(Value::String(setting(link_base, "mail.link_base_url")));
    }
    let r = super::templates::render(&template, &vars)
        .map_err(|(part, e)| Error::internal(format!("template {} {part}: {e}", notice.event)))?;
    in_app(tx, now, &notice, user_id, &r.subject).await?;
    let new = NewEmail {
        entity: notice.entity.clone(),
        event: notice.event.to_string(),
        to: vec![Mailbox::new(Some(&name), &address)],
        subject: r.subject,
        text: r.text,
        html: Some(r.html),
        attachments: notice.attachments.clone(),
        created_by: notice.created_by,
        ..Default::default()
    };
    let prepared = super::Prepared::new(new, (kind, entity_id), sender, thread);
    let backend = crate::db::Backend::of(tx);
    Ok(Some(super::insert_prepared(tx, backend, now, &prepared).await?))
}

/// A user's choices for the optional notifications: (event, enabled).
pub async fn prefs(db: &Db, user_id: i64) -> Result<Vec<(&'static str, bool)>> {
    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT event, enabled FROM notification_prefs WHERE user_id = $1").bind(user_id).fetch_all(&db.pool).await?;
    Ok(super::templates::events()
        .iter()
        .filter(|e| !e.required)
        .map(|e| (e.code, stored.iter().find(|(k, _)| k == e.code).is_none_or(|(_, v)| *v != 0)))
        .collect())
}

/// Sets a user's choices; required events cannot be turned off.
pub async fn set_prefs(db: &Db, user_id: i64, choices: &[(String, bool)]) -> Result<()> {
    let mut tx = db.begin().await?;
    for (event, enabled) in choices {
        let def = super::templates::event(event).ok_or_else(|| Error::validation(event.clone(), "error.unknown_event"))?;
        if def.required {
            return Err(Error::validation(event.clone(), "error.notification_required"));
        }
        let stored: Option<i64> = sqlx::query_scalar("SELECT enabled FROM notification_prefs WHERE user_id = $1 AND event = $2")
            .bind(user_id)
            .bind(event)
            .fetch_optional(&mut *tx)
            .await?;
        if stored.is_none_or(|v| v != 0) == *enabled {
            // Already so (on by default): a no-change save writes nothing.
            continue;
        }
        sqlx::query("DELETE FROM notification_prefs WHERE user_id = $1 AND event = $2").bind(user_id).bind(event).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO notification_prefs (user_id, event, enabled) VALUES ($1, $2, $3)")
            .bind(user_id)
            .bind(event)
            .bind(*enabled as i64)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
