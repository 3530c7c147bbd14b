//! An email a user writes about a record (a service request sent by email, an opportunity's
//! composer): the typed addresses, subject and message checked field by field, then queued in
//! the outbox with the record as its thread and a line in the record's history, in the caller's
//! transaction.

use crate::access::Actor;
use crate::audit::{self, Change};
use crate::clock::Millis;
use crate::db::Tx;
use crate::error::{Error, FieldErrors, Result};

use super::{Attachment, Mailbox, NewEmail};

/// At most this many addresses in to, cc and bcc together.
pub const RECIPIENTS_MAX: usize = 50;
pub const MESSAGE_MAX: usize = 20_000;
pub const SUBJECT_MAX: usize = 200;

/// What the user typed (lists of addresses separated by commas: `Name <a@b.fr>` or `a@b.fr`).
pub struct Typed<'a> {
    pub to: &'a str,
    pub cc: &'a str,
    pub bcc: &'a str,
    /// Empty: the sender.
    pub reply_to: &'a str,
    /// Empty: `default_subject`.
    pub subject: &'a str,
    pub message: &'a str,
}

/// A checked email, ready to queue.
pub struct Written {
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub subject: String,
    /// The message signed with the sender's name.
    pub text: String,
}

/// Checks what was typed; every field's error at once.
pub fn check(sender: &Mailbox, t: &Typed, default_subject: impl FnOnce() -> String) -> Result<Written> {
    let mut errs = FieldErrors::new();
    let mut list = |field: &'static str, raw: &str| match Mailbox::parse_list(field, raw) {
        Ok(l) => l,
        Err(Error::Validation(f)) => {
            for x in f.0 {
                errs.add(x.field, x.reason);
            }
            Vec::new()
        }
        Err(_) => Vec::new(),
    };
    let (to, cc, bcc) = (list("to", t.to), list("cc", t.cc), list("bcc", t.bcc));
    let reply_to = match t.reply_to.trim() {
        "" => Some(sender.clone()),
        raw => Mailbox::parse(raw).map_err(|reason| errs.add("reply_to", reason)).ok(),
    };
    if to.is_empty() && errs.get("to").is_none() {
        errs.add("to", "error.required");
    }
    if to.len() + cc.len() + bcc.len() > RECIPIENTS_MAX {
        errs.add("to", "error.too_many_recipients");
    }
    let message = t.message.trim();
    if message.is_empty() {
        errs.add("message", "error.required");
    } else if message.chars().count() > MESSAGE_MAX {
        errs.add("message", "error.too_long");
    }
    let subject = match t.subject.trim() {
        "" => default_subject(),
        s if s.chars().count() > SUBJECT_MAX => {
            errs.add("subject", "error.too_long");
            String::new()
        }
        s => super::header_safe(s),
    };
    errs.into_result()?;
    let text = format!("{message}\n\n-- \n{}", sender.name.clone().unwrap_or_else(|| sender.email.clone()));
    Ok(Written { to, cc, bcc, reply_to, subject, text })
}

/// Queues `w` about the record (`entity`, `id`): kept on the record (its feed, its thread) and
/// said in its history. The email's id.
#[allow(clippy::too_many_arguments)]
pub async fn queue_about(
    tx: &mut Tx,
    actor: &Actor,
    now: Millis,
    entity: &'static str,
    id: i64,
    event: &str,
    w: Written,
    attachments: Vec<Attachment>,
) -> Result<i64> {
    let said = format!("{} → {}", w.subject, w.to.iter().map(Mailbox::display).collect::<Vec<_>>().join(", "));
    let email = super::queue(
        tx,
        now,
        NewEmail {
            entity: Some((entity.into(), id)),
            event: event.into(),
            from: None,
            to: w.to,
            cc: w.cc,
            bcc: w.bcc,
            reply_to: w.reply_to,
            subject: w.subject,
            text: w.text,
            html: None,
            attachments,
            created_by: actor.id,
        },
    )
    .await?;
    audit::record(tx, actor, now, entity, id, "email", &[Change { field: "email".into(), old: None, new: Some(said) }]).await?;
    Ok(email)
}
