//! Partner sessions: their own table and cookie (never a staff or customer portal session),
//! opened and ended by the portal's code ([`crate::portal::realm`]). A session ends at logout,
//! after the idle time or the maximum life, when the password changes, when the account is
//! deactivated and when the partner is deactivated.

use sqlx::FromRow;

use super::PartnerUser;
use crate::clock::Millis;
use crate::db::Db;
use crate::error::Result;
use crate::i18n::Lang;
use crate::identity::session::hash_secret;
use crate::portal::realm::{NewSession, PARTNER};

pub const COOKIE: &str = "carnet_partner";
/// The cookie's name when served over https.
pub const HOST_COOKIE: &str = "__Host-carnet_partner";

pub async fn create(db: &Db, user_id: i64, now: Millis, max_ms: Millis, ip: &str, user_agent: &str) -> Result<NewSession> {
    PARTNER.create_session(db, user_id, now, max_ms, ip, user_agent).await
}

pub async fn end(db: &Db, id_hash: &str) -> Result<()> {
    PARTNER.end_session(db, id_hash).await
}

#[derive(FromRow)]
struct Row {
    user_id: i64,
    partner_id: i64,
    partner_name: String,
    name: String,
    email: String,
    language: String,
    is_admin: i64,
    can_opportunities: i64,
    admin_invites: i64,
    csrf_token: String,
    last_seen_at: i64,
    zone: Option<String>,
}

/// The partner user behind a session cookie, if the session is live, the account active and
/// the partner active. One query; last-seen written at most once a minute.
pub async fn user(db: &Db, secret: &str, now: Millis, idle_ms: Millis) -> Result<Option<PartnerUser>> {
    let hash = hash_secret(secret);
    let row: Option<Row> = sqlx::query_as(
        "SELECT a.id AS user_id, a.partner_id, p.name AS partner_name, a.name, a.email, a.language, a.is_admin, a.can_opportunities, \
         p.admin_invites, s.csrf_token, s.last_seen_at, \
         (SELECT st.value FROM settings st WHERE st.key = 'ui.timezone') AS zone \
         FROM partner_sessions s JOIN partner_users a ON a.id = s.user_id JOIN partners p ON p.id = a.partner_id \
         WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 AND a.status = 'active' AND p.active = $4",
    )
    .bind(&hash)
    .bind(now)
    .bind(now - idle_ms)
    .bind(1i64)
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    if now - r.last_seen_at > 60_000 {
        PARTNER.touch(db, &hash, now).await?;
    }
    Ok(Some(PartnerUser {
        user_id: r.user_id,
        partner_id: r.partner_id,
        partner_name: r.partner_name,
        name: r.name,
        email: r.email,
        language: Lang::parse(&r.language).unwrap_or_default(),
        is_admin: r.is_admin != 0,
        can_opportunities: r.can_opportunities != 0,
        admin_invites: r.admin_invites != 0,
        csrf_token: r.csrf_token,
        session_hash: hash,
        zone: r.zone.as_deref().and_then(crate::clock::Zone::parse).unwrap_or_default(),
    }))
}
