//! Portal accounts: invited by staff (or by a customer's portal administrator), a first
//! password set through a single-use link, reset by the same kind of link, deactivated and
//! reactivated. Links and the calendar feed are random secrets whose SHA-256 alone is stored.

use serde_json::json;
use sqlx::FromRow;

use super::{Account, Status};
use crate::audit::{self, Actor, Change};
use crate::clock::Millis;
use crate::db::{Db, Tx};
use crate::error::{Error, Result};
use crate::i18n::Lang;
use crate::identity::password;
use crate::identity::session::{hash_secret, new_secret};
use crate::mail::notify::{notify, Notice, Recipient};

/// How long an invitation link stays valid.
pub const INVITE_TTL_MS: Millis = 7 * 24 * 3_600_000;
/// How long a password-reset link stays valid.
pub const RESET_TTL_MS: Millis = 2 * 3_600_000;

/// What a single-use link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Invite,
    Reset,
}

impl Purpose {
    pub fn code(self) -> &'static str {
        match self {
            Purpose::Invite => "invite",
            Purpose::Reset => "reset",
        }
    }
}

#[derive(FromRow)]
struct Row {
    id: i64,
    customer_id: i64,
    contact_id: Option<i64>,
    email: String,
    name: String,
    language: String,
    is_admin: i64,
    status: String,
    has_calendar: i64,
    invited_by_name: String,
    invited_at: i64,
    last_login_at: Option<i64>,
    created_at: i64,
}

impl From<Row> for Account {
    fn from(r: Row) -> Account {
        Account {
            id: r.id,
            customer_id: r.customer_id,
            contact_id: r.contact_id,
            email: r.email,
            name: r.name,
            language: Lang::parse(&r.language).unwrap_or_default(),
            is_admin: r.is_admin != 0,
            status: Status::parse(&r.status).unwrap_or(Status::Deactivated),
            has_calendar: r.has_calendar != 0,
            invited_by_name: r.invited_by_name,
            invited_at: r.invited_at,
            last_login_at: r.last_login_at,
            created_at: r.created_at,
        }
    }
}

const SELECT: &str = "SELECT id, customer_id, contact_id, email, name, language, is_admin, status, \
    CASE WHEN calendar_hash IS NULL THEN 0 ELSE 1 END AS has_calendar, invited_by_name, invited_at, last_login_at, created_at \
    FROM portal_accounts";

pub async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<Account>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_optional(conn).await?;
    Ok(row.map(Account::from))
}

/// An account of `customer_id` (None for another organisation's, as for an unknown id).
pub async fn get_of(db: &Db, customer_id: i64, id: i64) -> Result<Option<Account>> {
    let row: Option<Row> =
        sqlx::query_as(&format!("{SELECT} WHERE id = $1 AND customer_id = $2")).bind(id).bind(customer_id).fetch_optional(&db.pool).await?;
    Ok(row.map(Account::from))
}

/// The portal accounts of a customer, by name.
pub async fn of_customer(db: &Db, customer_id: i64) -> Result<Vec<Account>> {
    let rows: Vec<Row> =
        sqlx::query_as(&format!("{SELECT} WHERE customer_id = $1 ORDER BY name, id")).bind(customer_id).fetch_all(&db.pool).await?;
    Ok(rows.into_iter().map(Account::from).collect())
}

/// The account of a contact (or of the person customer themself), whatever its status.
pub async fn of_contact(db: &Db, customer_id: i64, contact_id: Option<i64>) -> Result<Option<Account>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE customer_id = $1 AND contact_key = $2"))
        .bind(customer_id)
        .bind(contact_id.unwrap_or(0))
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(Account::from))
}

/// Who an invitation is for: the contact (or the person customer), with the address and
/// language the invitation is written to.
struct Invitee {
    customer_name: String,
    name: String,
    email: Option<String>,
    language: Lang,
    portal_enabled: bool,
}

async fn invitee(tx: &mut Tx, customer_id: i64, contact_id: Option<i64>) -> Result<Invitee> {
    #[derive(FromRow)]
    struct C {
        kind: String,
        display_name: String,
        email: Option<String>,
        language: String,
        portal_enabled: i64,
    }
    let c: C = sqlx::query_as("SELECT kind, display_name, email, language, portal_enabled FROM customers WHERE id = $1")
        .bind(customer_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound)?;
    let language = Lang::parse(&c.language).unwrap_or_default();
    let portal_enabled = c.portal_enabled != 0;
    match contact_id {
        Some(id) => {
            let (first, last, email): (String, String, Option<String>) =
                sqlx::query_as("SELECT first_name, last_name, email FROM contacts WHERE id = $1 AND customer_id = $2")
                    .bind(id)
                    .bind(customer_id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or_else(|| Error::validation("contact_id", "error.invalid_choice"))?;
            Ok(Invitee {
                customer_name: c.display_name,
                name: format!("{first} {last}").trim().to_string(),
                email,
                language,
                portal_enabled,
            })
        }
        None if c.kind == "person" => {
            Ok(Invitee { customer_name: c.display_name.clone(), name: c.display_name, email: c.email, language, portal_enabled })
        }
        None => Err(Error::validation("contact_id", "error.required")),
    }
}

/// Creates a single-use link for `account_id` (earlier unused links of the same purpose stop
/// working) and returns its secret.
async fn new_link(tx: &mut Tx, now: Millis, account_id: i64, purpose: Purpose) -> Result<String> {
    let ttl = if purpose == Purpose::Invite { INVITE_TTL_MS } else { RESET_TTL_MS };
    super::realm::PORTAL.new_link(tx, now, account_id, purpose.code(), ttl).await
}

/// Queues the email carrying a link, in the account's language.
async fn send_link(
    tx: &mut Tx,
    now: Millis,
    a: &Account,
    customer_name: &str,
    actor: &Actor,
    purpose: Purpose,
    secret: &str,
) -> Result<()> {
    let email = crate::identity::Email::parse(&a.email).map_err(|r| Error::validation("email", r))?;
    let recipient = Recipient::Address(crate::mail::Mailbox::new(Some(&a.name), &email), a.language);
    let (event, path, ttl) = match purpose {
        Purpose::Invite => ("portal_invitation", "welcome", INVITE_TTL_MS),
        Purpose::Reset => ("portal_password_reset", "reset", RESET_TTL_MS),
    };
    let notice = Notice {
        event,
        entity: Some(("customer".into(), a.customer_id)),
        vars: json!({"account": {"name": a.name, "email": a.email}, "customer": {"name": customer_name},
                     "actor": {"name": actor.name}, "link_path": format!("/portal/{path}/{secret}"),
                     "valid_hours": ttl / 3_600_000}),
        attachments: Vec::new(),
        created_by: actor.id,
    };
    notify(tx, now, notice, &[recipient]).await?;
    Ok(())
}

/// Invites a contact of `customer_id` (`None`: the person customer themself) to the portal,
/// or sends a new invitation to one already invited. The customer must have the portal
/// enabled and the contact an email address no other portal account uses. Returns the
/// account and the link's secret (it is in the email; callers other than tests and the demo
/// drop it).
pub async fn invite(
    db: &Db,
    actor: &Actor,
    now: Millis,
    customer_id: i64,
    contact_id: Option<i64>,
    is_admin: bool,
) -> Result<(Account, String)> {
    let mut tx = db.begin().await?;
    let who = invitee(&mut tx, customer_id, contact_id).await?;
    if !who.portal_enabled {
        return Err(Error::InvalidState { reason: "error.portal_disabled" });
    }
    let email = who
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| Error::validation("contact_id", "error.portal_no_email"))?;
    let email = crate::identity::Email::parse(email).map_err(|_| Error::validation("contact_id", "error.portal_no_email"))?;
    let existing: Option<(i64, String)> =
        sqlx::query_as("SELECT id, status FROM portal_accounts WHERE customer_id = $1 AND contact_key = $2")
            .bind(customer_id)
            .bind(contact_id.unwrap_or(0))
            .fetch_optional(&mut *tx)
            .await?;
    let account = match existing {
        Some((_, status)) if status != Status::Invited.code() => {
            return Err(Error::conflict("contact_id", "error.portal_already_has_access"));
        }
        Some((id, _)) => get(&mut tx, id).await?.ok_or(Error::NotFound)?,
        None => {
            let inserted = sqlx::query_scalar::<_, i64>(
                "INSERT INTO portal_accounts (customer_id, contact_id, contact_key, email, name, language, is_admin, status, invited_by_name, \
                 invited_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'invited', $8, $9, $9, $9) RETURNING id",
            )
            .bind(customer_id)
            .bind(contact_id)
            .bind(contact_id.unwrap_or(0))
            .bind(email.as_str())
            .bind(&who.name)
            .bind(who.language.code())
            .bind(is_admin as i64)
            .bind(&actor.name)
            .bind(now)
            .fetch_one(&mut *tx)
            .await;
            let id = match inserted {
                Ok(id) => id,
                Err(e) if crate::db::is_unique_violation(&e) => {
                    // Either this contact was invited at the same moment by someone else, or
                    // another organisation's account has the address.
                    tx.rollback().await?;
                    let reason = match of_contact(db, customer_id, contact_id).await? {
                        Some(_) => "error.portal_already_has_access",
                        None => "error.portal_email_taken",
                    };
                    return Err(Error::conflict("contact_id", reason));
                }
                Err(e) => return Err(e.into()),
            };
            let a = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
            audit::created(&mut tx, actor, now, id, &a).await?;
            a
        }
    };
    let secret = new_link(&mut tx, now, account.id, Purpose::Invite).await?;
    send_link(&mut tx, now, &account, &who.customer_name, actor, Purpose::Invite, &secret).await?;
    sqlx::query("UPDATE portal_accounts SET invited_at = $1, invited_by_name = $2, updated_at = $1 WHERE id = $3")
        .bind(now)
        .bind(&actor.name)
        .bind(account.id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        now,
        "portal_account",
        account.id,
        "invited",
        &[Change { field: "email".into(), old: None, new: Some(account.email.clone()) }],
    )
    .await?;
    tx.commit().await?;
    Ok((account, secret))
}

/// Changes an account of `customer_id`: deactivate (its sessions end), reactivate (active if
/// it has a password, else invited), portal administrator or not.
pub async fn set(
    db: &Db,
    actor: &Actor,
    now: Millis,
    customer_id: i64,
    id: i64,
    status: Option<Status>,
    is_admin: Option<bool>,
) -> Result<Account> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.filter(|a| a.customer_id == customer_id).ok_or(Error::NotFound)?;
    if let Some(to) = status {
        let to = match to {
            Status::Deactivated => Status::Deactivated,
            _ => {
                let has_password: Option<String> =
                    sqlx::query_scalar("SELECT password_hash FROM portal_accounts WHERE id = $1").bind(id).fetch_one(&mut *tx).await?;
                if has_password.is_some() {
                    Status::Active
                } else {
                    Status::Invited
                }
            }
        };
        sqlx::query("UPDATE portal_accounts SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(to.code())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if to == Status::Deactivated {
            sqlx::query("DELETE FROM portal_sessions WHERE account_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("UPDATE portal_links SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
    }
    if let Some(admin) = is_admin {
        sqlx::query("UPDATE portal_accounts SET is_admin = $1, updated_at = $2 WHERE id = $3")
            .bind(admin as i64)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(new)
}

/// Whether a link is live (for the page that asks for the new password).
pub async fn link_is_live(db: &Db, now: Millis, secret: &str, purpose: Purpose) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM portal_links l JOIN portal_accounts a ON a.id = l.account_id \
         WHERE l.token_hash = $1 AND l.purpose = $2 AND l.used_at IS NULL AND l.expires_at > $3 AND a.status <> 'deactivated'",
    )
    .bind(hash_secret(secret))
    .bind(purpose.code())
    .bind(now)
    .fetch_one(&db.pool)
    .await?;
    Ok(n > 0)
}

/// Sets the password through a single-use link: the link is spent, the account becomes
/// active, every earlier session ends. Returns the account (to log it in).
pub async fn set_password_by_link(db: &Db, now: Millis, secret: &str, purpose: Purpose, new_password: &str) -> Result<Account> {
    let invalid = Error::InvalidState { reason: "error.portal_link_invalid" };
    let hash = hash_secret(secret);
    // Checked and hashed before the write transaction (hashing is slow on purpose).
    let email: Option<String> = sqlx::query_scalar(
        "SELECT a.email FROM portal_links l JOIN portal_accounts a ON a.id = l.account_id \
         WHERE l.token_hash = $1 AND l.purpose = $2 AND l.used_at IS NULL AND l.expires_at > $3 AND a.status <> 'deactivated'",
    )
    .bind(&hash)
    .bind(purpose.code())
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    let Some(email) = email else { return Err(invalid) };
    password::validate(new_password, &email)?;
    let password_hash = password::hash_blocking(new_password.to_string()).await?;
    let mut tx = db.begin().await?;
    // Spending the link: of two simultaneous uses, one alone goes on.
    let account_id: Option<i64> = sqlx::query_scalar(
        "UPDATE portal_links SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 RETURNING account_id",
    )
    .bind(now)
    .bind(&hash)
    .bind(purpose.code())
    .fetch_optional(&mut *tx)
    .await?;
    let old = match account_id {
        Some(id) => get(&mut tx, id).await?.filter(|a| a.status != Status::Deactivated),
        None => None,
    };
    let Some(old) = old else { return Err(invalid) };
    sqlx::query(
        "UPDATE portal_accounts SET password_hash = $1, status = 'active', password_changed_at = $2, updated_at = $2 WHERE id = $3",
    )
    .bind(&password_hash)
    .bind(now)
    .bind(old.id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM portal_sessions WHERE account_id = $1").bind(old.id).execute(&mut *tx).await?;
    let new = get(&mut tx, old.id).await?.ok_or(Error::NotFound)?;
    let actor = Actor { id: None, name: new.name.clone(), request_id: None };
    audit::updated(&mut tx, &actor, now, new.id, &old, &new).await?;
    audit::record(
        &mut tx,
        &actor,
        now,
        "portal_account",
        new.id,
        "password",
        &[Change { field: "password".into(), old: None, new: Some(purpose.code().into()) }],
    )
    .await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(new)
}

/// Sends a reset link to an active account with this address. Says nothing about whether one
/// exists: the caller answers the same either way.
pub async fn request_reset(db: &Db, now: Millis, email: &str) -> Result<()> {
    let email = email.trim().to_lowercase();
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM portal_accounts WHERE email = $1 AND status = 'active'")
        .bind(&email)
        .fetch_optional(&db.pool)
        .await?;
    let Some(id) = id else { return Ok(()) };
    let mut tx = db.begin().await?;
    let a = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let customer_name: String =
        sqlx::query_scalar("SELECT display_name FROM customers WHERE id = $1").bind(a.customer_id).fetch_one(&mut *tx).await?;
    let secret = new_link(&mut tx, now, id, Purpose::Reset).await?;
    let actor = Actor { id: None, name: a.name.clone(), request_id: None };
    send_link(&mut tx, now, &a, &customer_name, &actor, Purpose::Reset, &secret).await?;
    tx.commit().await?;
    Ok(())
}

/// For the login: the account's id, password hash and whether it may log in (active, and its
/// customer's portal open).
pub async fn for_login(db: &Db, email: &str) -> Result<Option<(i64, Option<String>, bool)>> {
    let row: Option<(i64, Option<String>, String, i64)> = sqlx::query_as(
        "SELECT a.id, a.password_hash, a.status, c.portal_enabled FROM portal_accounts a JOIN customers c ON c.id = a.customer_id WHERE a.email = $1",
    )
    .bind(email)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(id, h, s, open)| (id, h, s == Status::Active.code() && open != 0)))
}

/// Changes one's own password (the current one is checked by the caller); other sessions end.
pub async fn change_password(
    db: &Db,
    actor: &Actor,
    now: Millis,
    id: i64,
    current: &str,
    new_password: &str,
    keep_session: &str,
) -> Result<()> {
    super::realm::PORTAL.change_password(db, actor, now, id, current, new_password, keep_session).await
}

/// The account's own settings a user changes themself.
#[derive(Debug, Clone, Copy)]
enum Own {
    Language,
    Calendar,
}

impl Own {
    fn column(self) -> &'static str {
        match self {
            Own::Language => "language",
            Own::Calendar => "calendar_hash",
        }
    }
}

/// Sets one of the account's own columns (`None`: empty), with its history, in one transaction.
async fn set_own(db: &Db, actor: &Actor, now: Millis, id: i64, what: Own, value: Option<String>) -> Result<()> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    sqlx::query(&format!("UPDATE portal_accounts SET {} = $1, updated_at = $2 WHERE id = $3", what.column()))
        .bind(value)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    if matches!(what, Own::Calendar) && old.has_calendar && new.has_calendar {
        // A renewed secret: the stored value is a hash, the history says what happened.
        let change = Change { field: "calendar_feed".into(), old: None, new: Some("renewed".into()) };
        audit::record(&mut tx, actor, now, "portal_account", id, "updated", &[change]).await?;
    }
    tx.commit().await?;
    db.auth_changed();
    Ok(())
}

/// Sets one's own language.
pub async fn set_language(db: &Db, actor: &Actor, now: Millis, id: i64, lang: Lang) -> Result<()> {
    set_own(db, actor, now, id, Own::Language, Some(lang.code().to_string())).await
}

/// A new secret for the personal calendar feed (the previous address stops working; the
/// history says it was renewed, since the stored value is only a hash).
pub async fn new_calendar(db: &Db, actor: &Actor, now: Millis, id: i64) -> Result<String> {
    let secret = new_secret();
    set_own(db, actor, now, id, Own::Calendar, Some(hash_secret(&secret))).await?;
    Ok(secret)
}

/// Turns the calendar feed off.
pub async fn revoke_calendar(db: &Db, actor: &Actor, now: Millis, id: i64) -> Result<()> {
    set_own(db, actor, now, id, Own::Calendar, None).await
}

/// The organisation and language behind a calendar feed secret (an active account only).
pub async fn by_calendar(db: &Db, secret: &str) -> Result<Option<(i64, Lang)>> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT customer_id, language FROM portal_accounts WHERE calendar_hash = $1 AND status = 'active'")
            .bind(hash_secret(secret))
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(|(c, l)| (c, Lang::parse(&l).unwrap_or_default())))
}

/// The customer's portal settings, changed by staff.
pub async fn set_customer_portal(db: &Db, actor: &Actor, now: Millis, customer_id: i64, enabled: bool, admin_invites: bool) -> Result<()> {
    let mut tx = db.begin().await?;
    let old: Option<(i64, i64)> = sqlx::query_as("SELECT portal_enabled, portal_admin_invites FROM customers WHERE id = $1")
        .bind(customer_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some((was_enabled, was_invites)) = old else { return Err(Error::NotFound) };
    let mut changes = Vec::new();
    if (was_enabled != 0) != enabled {
        changes.push(Change { field: "portal_enabled".into(), old: Some((was_enabled != 0).to_string()), new: Some(enabled.to_string()) });
    }
    if (was_invites != 0) != admin_invites {
        changes.push(Change {
            field: "portal_admin_invites".into(),
            old: Some((was_invites != 0).to_string()),
            new: Some(admin_invites.to_string()),
        });
    }
    if changes.is_empty() {
        tx.rollback().await?;
        return Ok(());
    }
    sqlx::query("UPDATE customers SET portal_enabled = $1, portal_admin_invites = $2, updated_at = $3 WHERE id = $4")
        .bind(enabled as i64)
        .bind(admin_invites as i64)
        .bind(now)
        .bind(customer_id)
        .execute(&mut *tx)
        .await?;
    if !enabled {
        // The portal closed: every session of the customer's people ends.
        sqlx::query("DELETE FROM portal_sessions WHERE account_id IN (SELECT id FROM portal_accounts WHERE customer_id = $1)")
            .bind(customer_id)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(&mut tx, actor, now, "customer", customer_id, "updated", &changes).await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(())
}

/// The customer's portal settings: (enabled, portal administrators may invite).
pub async fn customer_portal(db: &Db, customer_id: i64) -> Result<(bool, bool)> {
    let row: Option<(i64, i64)> = sqlx::query_as("SELECT portal_enabled, portal_admin_invites FROM customers WHERE id = $1")
        .bind(customer_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|(a, b)| (a != 0, b != 0)).unwrap_or((false, false)))
}
