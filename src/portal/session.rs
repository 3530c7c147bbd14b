//! Portal sessions: their own table and cookie, never a staff session. The cookie holds 256
//! random bits, the database their SHA-256. A session ends at logout, after the idle time or
//! the maximum life (the staff settings), when the password changes, when the account is
//! deactivated and when the customer's portal is closed.

use sqlx::FromRow;

use super::PortalUser;
use crate::clock::Millis;
use crate::db::Db;
use crate::error::Result;
use crate::i18n::Lang;
use crate::identity::session::{hash_secret, new_secret};

pub const COOKIE: &str = "carnet_portal";
/// The cookie's name when served over https.
pub const HOST_COOKIE: &str = "__Host-carnet_portal";

pub struct NewSession {
    pub secret: String,
}

pub async fn create(db: &Db, account_id: i64, now: Millis, max_ms: Millis, ip: &str, user_agent: &str) -> Result<NewSession> {
    let secret = new_secret();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO portal_sessions (id_hash, account_id, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
    )
    .bind(hash_secret(&secret))
    .bind(account_id)
    .bind(new_secret())
    .bind(now)
    .bind(now + max_ms)
    .bind(ip)
    .bind(user_agent.chars().take(300).collect::<String>())
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE portal_accounts SET last_login_at = $1 WHERE id = $2").bind(now).bind(account_id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(NewSession { secret })
}

pub async fn end(db: &Db, id_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM portal_sessions WHERE id_hash = $1").bind(id_hash).execute(&db.pool).await?;
    db.auth_changed();
    Ok(())
}

#[derive(FromRow)]
struct Row {
    account_id: i64,
    customer_id: i64,
    customer_name: String,
    contact_id: Option<i64>,
    name: String,
    email: String,
    language: String,
    is_admin: i64,
    admin_invites: i64,
    csrf_token: String,
    last_seen_at: i64,
    zone: Option<String>,
}

/// The portal user behind a session cookie, if the session is live, the account active and
/// the customer's portal open. One query; last-seen written at most once a minute.
pub async fn user(db: &Db, secret: &str, now: Millis, idle_ms: Millis) -> Result<Option<PortalUser>> {
    let hash = hash_secret(secret);
    let row: Option<Row> = sqlx::query_as(
        "SELECT a.id AS account_id, a.customer_id, c.display_name AS customer_name, a.contact_id, a.name, a.email, a.language, a.is_admin, \
         c.portal_admin_invites AS admin_invites, s.csrf_token, s.last_seen_at, \
         (SELECT st.value FROM settings st WHERE st.key = 'ui.timezone') AS zone \
         FROM portal_sessions s JOIN portal_accounts a ON a.id = s.account_id JOIN customers c ON c.id = a.customer_id \
         WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 AND a.status = 'active' AND c.portal_enabled = $4",
    )
    .bind(&hash)
    .bind(now)
    .bind(now - idle_ms)
    .bind(1i64)
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    if now - r.last_seen_at > 60_000 {
        sqlx::query("UPDATE portal_sessions SET last_seen_at = $1 WHERE id_hash = $2").bind(now).bind(&hash).execute(&db.pool).await?;
    }
    Ok(Some(PortalUser {
        account_id: r.account_id,
        customer_id: r.customer_id,
        customer_name: r.customer_name,
        contact_id: r.contact_id,
        name: r.name,
        email: r.email,
        language: Lang::parse(&r.language).unwrap_or_default(),
        is_admin: r.is_admin != 0,
        admin_invites: r.admin_invites != 0,
        csrf_token: r.csrf_token,
        session_hash: hash,
        zone: r.zone.as_deref().and_then(crate::clock::Zone::parse).unwrap_or_default(),
    }))
}

/// Deletes expired portal sessions and spent or expired links (housekeeping).
pub async fn purge_expired(db: &Db, now: Millis, idle_ms: Millis) -> Result<u64> {
    let s = sqlx::query("DELETE FROM portal_sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
        .bind(now)
        .bind(now - idle_ms)
        .execute(&db.pool)
        .await?
        .rows_affected();
    let l =
        sqlx::query("DELETE FROM portal_links WHERE expires_at <= $1").bind(now - 30 * 86_400_000).execute(&db.pool).await?.rows_affected();
    Ok(s + l)
}
