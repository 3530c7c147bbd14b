//! Personal API tokens: shown once at creation, stored hashed, revocable. A token acts with
//! the rights of its user. A new token expires after `DEFAULT_DAYS` days unless its creator
//! chose another lifetime or none; its last use is recorded (at most once a minute). Every
//! token of a user is revoked when their password changes (by them or by an administrator)
//! and when they are deactivated.

use serde::Serialize;
use sqlx::FromRow;

use super::session::{hash_secret, new_secret};
use crate::access::Actor;
use crate::audit;
use crate::clock::Millis;
use crate::db::{Db, Tx};
use crate::error::{Error, Result};

/// The longest token name, in characters.
pub const NAME_MAX: usize = 100;

pub const PREFIX: &str = "carnet_";
/// The lifetime of a new token when its creator chooses none.
pub const DEFAULT_DAYS: i64 = 90;
/// The longest lifetime that may be chosen (ten years); `0` days means no expiry.
pub const MAX_DAYS: i64 = 3650;

/// How long a new token lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Days(i64),
    Never,
}

impl Default for Expiry {
    fn default() -> Self {
        Expiry::Days(DEFAULT_DAYS)
    }
}

impl Expiry {
    /// `None`: the default lifetime; `0`: no expiry; 1 to `MAX_DAYS` days.
    pub fn parse(days: Option<i64>) -> Result<Expiry> {
        match days {
            None => Ok(Expiry::default()),
            Some(0) => Ok(Expiry::Never),
            Some(d) if (1..=MAX_DAYS).contains(&d) => Ok(Expiry::Days(d)),
            Some(_) => Err(Error::validation("expires_in_days", "error.token_expiry")),
        }
    }

    fn at(self, now: Millis) -> Option<Millis> {
        match self {
            Expiry::Days(d) => Some(now + d * 86_400_000),
            Expiry::Never => None,
        }
    }
}

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    pub created_at: i64,
    /// When it stops working (`null`: never).
    pub expires_at: Option<i64>,
    /// Its last use, to the minute.
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ApiToken {
    /// Whether it still works at `now`.
    pub fn live(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| t > now)
    }
}

const COLUMNS: &str = "id, user_id, name, prefix, created_at, expires_at, last_used_at, revoked_at";

pub fn parse_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::validation("name", "error.required"));
    }
    if name.chars().count() > NAME_MAX {
        return Err(Error::validation("name", "error.too_long"));
    }
    Ok(name.to_string())
}

/// Creates a token for `user_id` with the default lifetime; returns it with its secret (the
/// only time it is shown).
pub async fn create(db: &Db, actor: &Actor, now: Millis, user_id: i64, name: &str) -> Result<(ApiToken, String)> {
    create_with(db, actor, now, user_id, name, Expiry::default()).await
}

/// Creates a token for `user_id` that lives as long as `expiry` says.
pub async fn create_with(db: &Db, actor: &Actor, now: Millis, user_id: i64, name: &str, expiry: Expiry) -> Result<(ApiToken, String)> {
    let name = parse_name(name)?;
    let expires_at = expiry.at(now);
    let secret = format!("{PREFIX}{}", new_secret());
    let prefix: String = secret.chars().take(PREFIX.len() + 6).collect();
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(user_id)
    .bind(&name)
    .bind(hash_secret(&secret))
    .bind(&prefix)
    .bind(now)
    .bind(expires_at)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        now,
        "user",
        user_id,
        "update",
        &[audit::Change { field: "api_token".into(), old: None, new: Some(format!("{name} ({prefix}…)")) }],
    )
    .await?;
    tx.commit().await?;
    let token = ApiToken { id, user_id, name, prefix, created_at: now, expires_at, last_used_at: None, revoked_at: None };
    Ok((token, secret))
}

pub async fn list_for(db: &Db, user_id: i64) -> Result<Vec<ApiToken>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id DESC"))
        .bind(user_id)
        .fetch_all(&db.pool)
        .await?)
}

/// Revokes one of `user_id`'s tokens.
pub async fn revoke(db: &Db, actor: &Actor, now: Millis, user_id: i64, token_id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let tok: Option<ApiToken> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1 AND user_id = $2"))
        .bind(token_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
    let tok = tok.ok_or(Error::NotFound)?;
    if tok.revoked_at.is_some() {
        return Ok(());
    }
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2").bind(now).bind(token_id).execute(&mut *tx).await?;
    audit::record(
        &mut tx,
        actor,
        now,
        "user",
        user_id,
        "update",
        &[audit::Change { field: "api_token".into(), old: Some(format!("{} ({}…)", tok.name, tok.prefix)), new: None }],
    )
    .await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(())
}

/// Revokes every token of `user_id` not yet revoked, in the caller's transaction (a password
/// change, a deactivation), and records it in the user's history. Returns how many.
pub async fn revoke_all(tx: &mut Tx, actor: &Actor, now: Millis, user_id: i64) -> Result<u64> {
    let live: Vec<ApiToken> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id"))
            .bind(user_id)
            .fetch_all(&mut **tx)
            .await?;
    if live.is_empty() {
        return Ok(0);
    }
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    let changes: Vec<audit::Change> = live
        .iter()
        .map(|t| audit::Change { field: "api_token".into(), old: Some(format!("{} ({}…)", t.name, t.prefix)), new: None })
        .collect();
    audit::record(tx, actor, now, "user", user_id, "update", &changes).await?;
    Ok(live.len() as u64)
}
