//! An email about an opportunity, written from its page's composer (issue 21): queued in the
//! outbox with the opportunity as its record (so that it shows in the activity feed and replies
//! follow its thread), the sender as reply address, and a line in the opportunity's history.

use crate::access::Actor;
use crate::audit::{self, Change};
use crate::clock::Millis;
use crate::db::Db;
use crate::error::{Error, FieldErrors, Result};
use crate::mail::{Mailbox, NewEmail};

pub const RECIPIENTS_MAX: usize = 20;
pub const SUBJECT_MAX: usize = 200;
pub const MESSAGE_MAX: usize = 20_000;

/// The composer's email form, as typed.
#[derive(Debug, Clone, Default)]
pub struct EmailForm {
    /// Addresses separated by commas (`Name <a@b.fr>` or `a@b.fr`).
    pub to: String,
    /// Defaults to the opportunity's name.
    pub subject: String,
    pub message: String,
}

/// Queues the email and records it in the opportunity's history; its id.
pub async fn send(db: &Db, actor: &Actor, sender: &Mailbox, now: Millis, opportunity_id: i64, name: &str, f: &EmailForm) -> Result<i64> {
    let mut errs = FieldErrors::new();
    let to = match Mailbox::parse_list("to", &f.to) {
        Ok(l) => l,
        Err(Error::Validation(e)) => {
            for x in e.0 {
                errs.add(x.field, x.reason);
            }
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    if to.is_empty() && errs.get("to").is_none() {
        errs.add("to", "error.required");
    }
    if to.len() > RECIPIENTS_MAX {
        errs.add("to", "error.too_many_recipients");
    }
    let message = f.message.trim();
    if message.is_empty() {
        errs.add("message", "error.required");
    } else if message.chars().count() > MESSAGE_MAX {
        errs.add("message", "error.too_long");
    }
    let subject = match f.subject.trim() {
        "" => crate::mail::header_safe(name),
        s if s.chars().count() > SUBJECT_MAX => {
            errs.add("subject", "error.too_long");
            String::new()
        }
        s => crate::mail::header_safe(s),
    };
    errs.into_result()?;
    let text = format!("{message}\n\n-- \n{}", sender.name.clone().unwrap_or_else(|| sender.email.clone()));
    let mut tx = db.begin().await?;
    let id = crate::mail::queue(
        &mut tx,
        now,
        NewEmail {
            entity: Some(("opportunity".into(), opportunity_id)),
            event: "opportunity_email".into(),
            from: None,
            to: to.clone(),
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to: Some(sender.clone()),
            subject: subject.clone(),
            text,
            html: None,
            attachments: Vec::new(),
            created_by: actor.id,
        },
    )
    .await?;
    let new = format!("{subject} → {}", to.iter().map(Mailbox::display).collect::<Vec<_>>().join(", "));
    audit::record(
        &mut tx,
        actor,
        now,
        "opportunity",
        opportunity_id,
        "email",
        &[Change { field: "email".into(), old: None, new: Some(new) }],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}
