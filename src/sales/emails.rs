//! An email about an opportunity, written from its page's composer (issue 21): queued in the
//! outbox with the opportunity as its record (so that it shows in the activity feed and replies
//! follow its thread), the sender as reply address, and a line in the opportunity's history
//! ([`crate::mail::compose`], as a request sent by email).

use crate::access::Actor;
use crate::clock::Millis;
use crate::db::Db;
use crate::error::Result;
use crate::mail::compose::{self, Typed};
use crate::mail::Mailbox;

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
    let typed = Typed { to: &f.to, cc: "", bcc: "", reply_to: "", subject: &f.subject, message: &f.message };
    let w = compose::check(sender, &typed, || crate::mail::header_safe(name))?;
    let mut tx = db.begin().await?;
    let id = compose::queue_about(&mut tx, actor, now, "opportunity", opportunity_id, "opportunity_email", w, Vec::new()).await?;
    tx.commit().await?;
    Ok(id)
}
