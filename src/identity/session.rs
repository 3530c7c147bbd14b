//! Login sessions, stored in the database so that any `carnet` process can serve any request.
//! The cookie holds 256 random bits; the database holds only their SHA-256. A session ends
//! at logout, after `session_idle_minutes` without use, after `session_max_hours`, when the
//! password changes and when the user is deactivated. Each login creates a new id (rotation).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::FromRow;

use crate::access::{Principal, Right, RightSet, Scope, Visibility};
use crate::clock::Millis;
use crate::db::{Backend, Db};
use crate::error::Result;
use crate::i18n::Lang;

pub const COOKIE: &str = "carnet_session";
/// The cookie's name when served over https (`http::auth::session_cookie_name`).
pub const HOST_COOKIE: &str = "__Host-carnet_session";

/// A new random secret (256 bits, URL-safe).
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

pub fn hash_secret(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct NewSession {
    /// Goes in the cookie; never stored.
    pub secret: String,
    pub csrf_token: String,
}

pub async fn create(db: &Db, user_id: i64, now: Millis, max_ms: Millis, ip: &str, user_agent: &str) -> Result<NewSession> {
    let secret = new_secret();
    let csrf = new_secret();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
    )
    .bind(hash_secret(&secret))
    .bind(user_id)
    .bind(&csrf)
    .bind(now)
    .bind(now + max_ms)
    .bind(ip)
    .bind(user_agent.chars().take(300).collect::<String>())
    .execute(&mut *tx)
    .await?;
    // System-set, admin-only field.
    sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2").bind(now).bind(user_id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(NewSession { secret, csrf_token: csrf })
}

pub async fn end(db: &Db, id_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(&db.pool).await?;
    db.auth_changed();
    Ok(())
}

#[derive(Debug, FromRow)]
struct PrincipalRow {
    user_id: i64,
    name: String,
    email: String,
    language: String,
    role_code: String,
    scope: String,
    org_unit_id: Option<i64>,
    unit_path: Option<String>,
    /// The path of the branch at or above the user's unit (their home unit), if any.
    branch_path: Option<String>,
    /// The role's rights, comma-separated (one row per principal, not one per right).
    right_codes: Option<String>,
    csrf_token: Option<String>,
    last_seen_at: Option<i64>,
    /// The setting `ui.timezone`, read in the same query.
    zone: Option<String>,
    /// The role requires a second factor the user has not enabled (sessions only).
    second_factor_due: i64,
}

/// The principal's columns; `o` is the user's unit (its home branch's path by the rule of
/// `org::units::BRANCH_ABOVE`).
fn principal_columns() -> String {
    format!(
        "u.id AS user_id, u.name, u.email, u.language, r.code AS role_code, r.scope, u.org_unit_id, o.path AS unit_path, \
         (SELECT b.path {}) AS branch_path, (SELECT st.value FROM settings st WHERE st.key = 'ui.timezone') AS zone",
        crate::org::units::BRANCH_ABOVE
    )
}

/// The role's rights as one comma-separated column: one row per principal, however many
/// rights the role has.
fn rights_column(backend: Backend) -> String {
    format!("(SELECT {} FROM role_rights rr WHERE rr.role_id = r.id) AS right_codes", backend.comma_list("rr.right_code"))
}

fn principal_from(row: Option<PrincipalRow>, session_hash: Option<String>) -> Option<Principal> {
    let first = row?;
    let rights: RightSet = first.right_codes.as_deref().unwrap_or("").split(',').filter_map(Right::from_code).collect();
    Some(Principal {
        user_id: first.user_id,
        name: first.name.clone(),
        email: first.email.clone(),
        language: Lang::parse(&first.language).unwrap_or_default(),
        role_code: first.role_code.clone(),
        zone: first.zone.as_deref().and_then(crate::clock::Zone::parse).unwrap_or_default(),
        rights,
        visibility: Visibility {
            scope: Scope::from_code(&first.scope).unwrap_or(Scope::Own),
            user_id: first.user_id,
            unit_id: first.org_unit_id,
            unit_path: first.unit_path.clone(),
            home_path: first.branch_path.clone().or_else(|| first.unit_path.clone()),
        },
        csrf_token: first.csrf_token.clone(),
        session_hash,
        second_factor_due: first.second_factor_due == 1,
    })
}

/// The user behind a session cookie, if the session is live. One query; the session's
/// last-seen time is written at most once a minute.
pub async fn principal(db: &Db, secret: &str, now: Millis, idle_ms: Millis) -> Result<Option<Principal>> {
    let hash = hash_secret(secret);
    let row: Option<PrincipalRow> = sqlx::query_as(&format!(
        "SELECT {}, {}, s.csrf_token, s.last_seen_at, \
         CAST(CASE WHEN r.require_second_factor = 1 AND NOT EXISTS \
           (SELECT 1 FROM user_totp t WHERE t.user_id = u.id AND t.enabled_at IS NOT NULL) THEN 1 ELSE 0 END AS BIGINT) AS second_factor_due \
         FROM sessions s \
         JOIN users u ON u.id = s.user_id JOIN roles r ON r.id = u.role_id \
         LEFT JOIN org_units o ON o.id = u.org_unit_id \
         WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 AND u.active = $4",
        principal_columns(),
        rights_column(db.backend)
    ))
    .bind(&hash)
    .bind(now)
    .bind(now - idle_ms)
    .bind(1i64)
    .fetch_optional(&db.pool)
    .await?;
    let last_seen = row.as_ref().and_then(|r| r.last_seen_at);
    if let Some(seen) = last_seen {
        if now - seen > 60_000 {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2").bind(now).bind(&hash).execute(&db.pool).await?;
        }
    }
    Ok(principal_from(row, Some(hash)))
}

/// The user behind an API token, if the token is live (not revoked, not expired, its user
/// active). Marks its last use at most once a minute, so that reads stay reads.
pub async fn principal_for_token(db: &Db, token: &str, now: Millis) -> Result<Option<Principal>> {
    let hash = hash_secret(token);
    let row: Option<PrincipalRow> = sqlx::query_as(&format!(
        "SELECT {}, {}, NULL AS csrf_token, t.last_used_at AS last_seen_at, CAST(0 AS BIGINT) AS second_factor_due FROM api_tokens t \
         JOIN users u ON u.id = t.user_id JOIN roles r ON r.id = u.role_id \
         LEFT JOIN org_units o ON o.id = u.org_unit_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $3) AND u.active = $2",
        principal_columns(),
        rights_column(db.backend)
    ))
    .bind(&hash)
    .bind(1i64)
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    if let Some(first) = &row {
        if first.last_seen_at.is_none_or(|t| now - t > 60_000) {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2").bind(now).bind(&hash).execute(&db.pool).await?;
        }
    }
    Ok(principal_from(row, None))
}

/// Deletes expired sessions (a scheduled job).
pub async fn purge_expired(db: &Db, now: Millis, idle_ms: Millis) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
        .bind(now)
        .bind(now - idle_ms)
        .execute(&db.pool)
        .await?
        .rows_affected())
}
