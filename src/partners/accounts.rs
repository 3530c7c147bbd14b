//! Partner user accounts: invited by staff (or by a partner administrator), a first password
//! set through a single-use link, reset by the same kind of link, deactivated and
//! reactivated. Sessions and links are the portal's code ([`crate::portal::realm`]) on the
//! partner tables.

use serde_json::json;
use sqlx::FromRow;

use super::{Account, Status};
use crate::audit::{self, Actor, Change};
use crate::clock::Millis;
use crate::db::{Db, Tx};
use crate::error::{Error, Result};
use crate::i18n::Lang;
use crate::identity::{password, Email};
use crate::mail::notify::{notify, Notice, Recipient};
use crate::portal::accounts::{Purpose, INVITE_TTL_MS, RESET_TTL_MS};
use crate::portal::realm::PARTNER;

#[derive(FromRow)]
struct Row {
    id: i64,
    partner_id: i64,
    email: String,
    name: String,
    language: String,
    phone: Option<String>,
    is_admin: i64,
    can_opportunities: i64,
    status: String,
    invited_by_name: String,
    invited_at: i64,
    last_login_at: Option<i64>,
    created_at: i64,
}

impl From<Row> for Account {
    fn from(r: Row) -> Account {
        Account {
            id: r.id,
            partner_id: r.partner_id,
            email: r.email,
            name: r.name,
            language: Lang::parse(&r.language).unwrap_or_default(),
            phone: r.phone,
            is_admin: r.is_admin != 0,
            can_opportunities: r.can_opportunities != 0,
            status: Status::parse(&r.status).unwrap_or(Status::Deactivated),
            invited_by_name: r.invited_by_name,
            invited_at: r.invited_at,
            last_login_at: r.last_login_at,
            created_at: r.created_at,
        }
    }
}

const SELECT: &str = "SELECT id, partner_id, email, name, language, phone, is_admin, can_opportunities, status, invited_by_name, \
    invited_at, last_login_at, created_at FROM partner_users";

async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<Account>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_optional(conn).await?;
    Ok(row.map(Account::from))
}

/// An account of `partner_id` (None for another partner's, as for an unknown id).
pub async fn get_of(db: &Db, partner_id: i64, id: i64) -> Result<Option<Account>> {
    let row: Option<Row> =
        sqlx::query_as(&format!("{SELECT} WHERE id = $1 AND partner_id = $2")).bind(id).bind(partner_id).fetch_optional(&db.pool).await?;
    Ok(row.map(Account::from))
}

/// The users of a partner, by name.
pub async fn of_partner(db: &Db, partner_id: i64) -> Result<Vec<Account>> {
    let rows: Vec<Row> =
        sqlx::query_as(&format!("{SELECT} WHERE partner_id = $1 ORDER BY name, id")).bind(partner_id).fetch_all(&db.pool).await?;
    Ok(rows.into_iter().map(Account::from).collect())
}

/// Who to invite, parsed at the edge.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub email: Email,
    pub name: String,
    pub language: Lang,
    pub is_admin: bool,
    pub can_opportunities: bool,
}

/// Queues the email carrying a link, in the account's language.
async fn send_link(tx: &mut Tx, now: Millis, a: &Account, partner_name: &str, actor: &Actor, purpose: Purpose, secret: &str) -> Result<()> {
    let email = Email::parse(&a.email).map_err(|r| Error::validation("email", r))?;
    let recipient = Recipient::Address(crate::mail::Mailbox::new(Some(&a.name), &email), a.language);
    let (event, path, ttl) = match purpose {
        Purpose::Invite => ("partner_invitation", "welcome", INVITE_TTL_MS),
        Purpose::Reset => ("partner_password_reset", "reset", RESET_TTL_MS),
    };
    let notice = Notice {
        event,
        entity: Some(("partner".into(), a.partner_id)),
        vars: json!({"account": {"name": a.name, "email": a.email}, "partner": {"name": partner_name},
                     "actor": {"name": actor.name}, "link_path": format!("/partner/{path}/{secret}"),
                     "valid_hours": ttl / 3_600_000}),
        attachments: Vec::new(),
        created_by: actor.id,
    };
    notify(tx, now, notice, &[recipient]).await?;
    Ok(())
}

/// Invites a person to a partner organisation (or sends a new invitation to one already
/// invited there). The partner must be active and the address used by no other partner
/// user. Returns the account and the link's secret (it is in the email; callers other than
/// tests and the demo drop it).
pub async fn invite(db: &Db, actor: &Actor, now: Millis, partner_id: i64, inv: &Invitation) -> Result<(Account, String)> {
    let mut tx = db.begin().await?;
    let partner: Option<(String, i64)> =
        sqlx::query_as("SELECT name, active FROM partners WHERE id = $1").bind(partner_id).fetch_optional(&mut *tx).await?;
    let Some((partner_name, active)) = partner else { return Err(Error::NotFound) };
    if active == 0 {
        return Err(Error::InvalidState { reason: "error.partner_inactive" });
    }
    let existing: Option<(i64, i64, String)> = sqlx::query_as("SELECT id, partner_id, status FROM partner_users WHERE email = $1")
        .bind(inv.email.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let account = match existing {
        Some((_, other, _)) if other != partner_id => return Err(Error::conflict("email", "error.partner_email_taken")),
        Some((_, _, status)) if status != Status::Invited.code() => {
            return Err(Error::conflict("email", "error.portal_already_has_access"))
        }
        Some((id, _, _)) => get(&mut tx, id).await?.ok_or(Error::NotFound)?,
        None => {
            let inserted = sqlx::query_scalar::<_, i64>(
                "INSERT INTO partner_users (partner_id, email, name, language, is_admin, can_opportunities, status, invited_by_name, \
                 invited_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'invited', $7, $8, $8, $8) RETURNING id",
            )
            .bind(partner_id)
            .bind(inv.email.as_str())
            .bind(&inv.name)
            .bind(inv.language.code())
            .bind(inv.is_admin as i64)
            .bind(inv.can_opportunities as i64)
            .bind(&actor.name)
            .bind(now)
            .fetch_one(&mut *tx)
            .await;
            let id = match inserted {
                Ok(id) => id,
                Err(e) if crate::db::is_unique_violation(&e) => {
                    tx.rollback().await?;
                    return Err(Error::conflict("email", "error.partner_email_taken"));
                }
                Err(e) => return Err(e.into()),
            };
            let a = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
            audit::created(&mut tx, actor, now, id, &a).await?;
            a
        }
    };
    let secret = PARTNER.new_link(&mut tx, now, account.id, Purpose::Invite.code(), INVITE_TTL_MS).await?;
    send_link(&mut tx, now, &account, &partner_name, actor, Purpose::Invite, &secret).await?;
    sqlx::query("UPDATE partner_users SET invited_at = $1, invited_by_name = $2, updated_at = $1 WHERE id = $3")
        .bind(now)
        .bind(&actor.name)
        .bind(account.id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        now,
        "partner_user",
        account.id,
        "invited",
        &[Change { field: "email".into(), old: None, new: Some(account.email.clone()) }],
    )
    .await?;
    tx.commit().await?;
    Ok((account, secret))
}

/// What staff (or a partner administrator) change on an account.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountChange {
    pub status: Option<Status>,
    pub is_admin: Option<bool>,
    pub can_opportunities: Option<bool>,
}

/// Changes an account of `partner_id`: deactivate (its sessions and links end), reactivate
/// (active if it has a password, else invited), partner roles.
pub async fn set(db: &Db, actor: &Actor, now: Millis, partner_id: i64, id: i64, change: AccountChange) -> Result<Account> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.filter(|a| a.partner_id == partner_id).ok_or(Error::NotFound)?;
    if let Some(to) = change.status {
        let to = match to {
            Status::Deactivated => Status::Deactivated,
            _ => {
                let has_password: Option<String> =
                    sqlx::query_scalar("SELECT password_hash FROM partner_users WHERE id = $1").bind(id).fetch_one(&mut *tx).await?;
                if has_password.is_some() {
                    Status::Active
                } else {
                    Status::Invited
                }
            }
        };
        sqlx::query("UPDATE partner_users SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(to.code())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if to == Status::Deactivated {
            PARTNER.end_sessions_of(&mut tx, id, None).await?;
            PARTNER.spend_links_of(&mut tx, now, id).await?;
        }
    }
    for (col, v) in [("is_admin", change.is_admin), ("can_opportunities", change.can_opportunities)] {
        if let Some(v) = v {
            sqlx::query(&format!("UPDATE partner_users SET {col} = $1, updated_at = $2 WHERE id = $3"))
                .bind(v as i64)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
    }
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(new)
}

/// Whether a link is live (for the page that asks for the new password).
pub async fn link_is_live(db: &Db, now: Millis, secret: &str, purpose: Purpose) -> Result<bool> {
    Ok(PARTNER.link_email(db, now, secret, purpose.code()).await?.is_some())
}

/// Sets the password through a single-use link: the link is spent, the account becomes
/// active, every earlier session ends. Returns the account (to log it in).
pub async fn set_password_by_link(db: &Db, now: Millis, secret: &str, purpose: Purpose, new_password: &str) -> Result<Account> {
    let invalid = Error::InvalidState { reason: "error.portal_link_invalid" };
    let Some(email) = PARTNER.link_email(db, now, secret, purpose.code()).await? else { return Err(invalid) };
    password::validate(new_password, &email)?;
    let password_hash = password::hash_blocking(new_password.to_string()).await?;
    let mut tx = db.begin().await?;
    let old = match PARTNER.spend_link(&mut tx, now, secret, purpose.code()).await? {
        Some(id) => get(&mut tx, id).await?.filter(|a| a.status != Status::Deactivated),
        None => None,
    };
    let Some(old) = old else { return Err(invalid) };
    sqlx::query("UPDATE partner_users SET password_hash = $1, status = 'active', password_changed_at = $2, updated_at = $2 WHERE id = $3")
        .bind(&password_hash)
        .bind(now)
        .bind(old.id)
        .execute(&mut *tx)
        .await?;
    PARTNER.end_sessions_of(&mut tx, old.id, None).await?;
    let new = get(&mut tx, old.id).await?.ok_or(Error::NotFound)?;
    let actor = Actor { id: None, name: new.name.clone(), request_id: None };
    audit::updated(&mut tx, &actor, now, new.id, &old, &new).await?;
    audit::record(
        &mut tx,
        &actor,
        now,
        "partner_user",
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
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM partner_users WHERE email = $1 AND status = 'active'")
        .bind(&email)
        .fetch_optional(&db.pool)
        .await?;
    let Some(id) = id else { return Ok(()) };
    let mut tx = db.begin().await?;
    let a = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let partner_name: String = sqlx::query_scalar("SELECT name FROM partners WHERE id = $1").bind(a.partner_id).fetch_one(&mut *tx).await?;
    let secret = PARTNER.new_link(&mut tx, now, id, Purpose::Reset.code(), RESET_TTL_MS).await?;
    let actor = Actor { id: None, name: a.name.clone(), request_id: None };
    send_link(&mut tx, now, &a, &partner_name, &actor, Purpose::Reset, &secret).await?;
    tx.commit().await?;
    Ok(())
}

/// For the login: the account's id, password hash and whether it may log in (active, and its
/// partner active).
pub async fn for_login(db: &Db, email: &str) -> Result<Option<(i64, Option<String>, bool)>> {
    let row: Option<(i64, Option<String>, String, i64)> = sqlx::query_as(
        "SELECT a.id, a.password_hash, a.status, p.active FROM partner_users a JOIN partners p ON p.id = a.partner_id WHERE a.email = $1",
    )
    .bind(email)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(id, h, s, open)| (id, h, s == Status::Active.code() && open != 0)))
}

/// What a partner user changes of their own account (parsed at the edge): their name and
/// language. The address is the login: staff change it, not the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub language: Lang,
}

impl Profile {
    pub fn parse(name: &str, language: &str) -> Result<Profile> {
        let mut errs = crate::error::FieldErrors::new();
        let name = name.trim();
        if name.is_empty() {
            errs.add("name", "error.required");
        } else if name.chars().count() > super::store::NAME_MAX {
            errs.add("name", "error.too_long");
        }
        let language = Lang::parse(language.trim());
        if language.is_none() {
            errs.add("language", "error.invalid_choice");
        }
        errs.into_result()?;
        Ok(Profile { name: name.to_string(), language: language.unwrap_or_default() })
    }
}

/// Changes one's own name and language (`name: None` keeps it), with the history; a save
/// that changes nothing writes nothing.
async fn set_own(db: &Db, actor: &Actor, now: Millis, id: i64, name: Option<&str>, lang: Lang) -> Result<Account> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let name = name.unwrap_or(&old.name).to_string();
    if name == old.name && lang == old.language {
        return Ok(old);
    }
    sqlx::query("UPDATE partner_users SET name = $1, language = $2, updated_at = $3 WHERE id = $4")
        .bind(&name)
        .bind(lang.code())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(new)
}

/// Sets one's own language.
pub async fn set_language(db: &Db, actor: &Actor, now: Millis, id: i64, lang: Lang) -> Result<()> {
    set_own(db, actor, now, id, None, lang).await.map(|_| ())
}

/// Saves one's own account page (name and language).
pub async fn update_profile(db: &Db, actor: &Actor, now: Millis, id: i64, p: &Profile) -> Result<Account> {
    set_own(db, actor, now, id, Some(&p.name), p.language).await
}

/// The account itself (the account page: `id` from the session).
pub async fn own(db: &Db, id: i64) -> Result<Option<Account>> {
    let mut conn = db.pool.acquire().await?;
    get(&mut conn, id).await
}
