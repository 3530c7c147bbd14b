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
use crate::identity::session::hash_secret;

pub const COOKIE: &str = "carnet_portal";
/// The cookie's name when served over https.
pub const HOST_COOKIE: &str = "__Host-carnet_portal";

pub use super::realm::NewSession;
use super::realm::PORTAL;

pub async fn create(db: &Db, account_id: i64, now: Millis, max_ms: Millis, ip: &str, user_agent: &str) -> Result<NewSession> {
    PORTAL.create_session(db, account_id, now, max_ms, ip, user_agent).await
}

pub async fn end(db: &Db, id_hash: &str) -> Result<()> {
    PORTAL.end_session(db, id_hash).await
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
        PORTAL.touch(db, &hash, now).await?;
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
    PORTAL.purge_expired(db, now, idle_ms).await
}
