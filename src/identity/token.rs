//! Personal API tokens: shown once at creation, stored hashed, revocable. A token acts with
//! the rights of its user.

use serde::Serialize;
use sqlx::FromRow;

use super::session::{hash_secret, new_secret};
use crate::access::Actor;
use crate::audit;
use crate::clock::Millis;
use crate::db::Db;
use crate::error::{Error, Result};

pub const PREFIX: &str = "carnet_";

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub fn parse_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::validation("name", "error.required"));
    }
    if name.chars().count() > 100 {
        return Err(Error::validation("name", "error.too_long"));
    }
    Ok(name.to_string())
}

/// Creates a token for `user_id`; returns it with its secret (the only time it is shown).
pub async fn create(db: &Db, actor: &Actor, now: Millis, user_id: i64, name: &str) -> Result<(ApiToken, String)> {
    let name = parse_name(name)?;
    let secret = format!("{PREFIX}{}", new_secret());
    let prefix: String = secret.chars().take(PREFIX.len() + 6).collect();
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(user_id)
    .bind(&name)
    .bind(hash_secret(&secret))
    .bind(&prefix)
    .bind(now)
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
    let token = ApiToken { id, user_id, name, prefix, created_at: now, last_used_at: None, revoked_at: None };
    Ok((token, secret))
}

pub async fn list_for(db: &Db, user_id: i64) -> Result<Vec<ApiToken>> {
    Ok(sqlx::query_as(
        "SELECT id, user_id, name, prefix, created_at, last_used_at, revoked_at FROM api_tokens WHERE user_id = $1 ORDER BY id DESC",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?)
}

/// Revokes one of `user_id`'s tokens.
pub async fn revoke(db: &Db, actor: &Actor, now: Millis, user_id: i64, token_id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let tok: Option<ApiToken> = sqlx::query_as(
        "SELECT id, user_id, name, prefix, created_at, last_used_at, revoked_at FROM api_tokens WHERE id = $1 AND user_id = $2",
    )
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
