//! Login throttling, per account and per client address, kept in the database so that it
//! holds across processes: after too many failures in the window, further attempts are
//! refused (429) until the window slides past them.

use crate::clock::Millis;
use crate::db::Db;
use crate::error::Result;

pub const WINDOW_MS: Millis = 15 * 60 * 1000;

pub struct Limits {
    pub per_account: i64,
    pub per_address: i64,
}

/// Whether another attempt for this account and address may be tried now.
pub async fn allowed(db: &Db, now: Millis, account: &str, address: &str, limits: &Limits) -> Result<bool> {
    let since = now - WINDOW_MS;
    let by_account: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_attempts WHERE account = $1 AND at > $2 AND success = $3")
        .bind(account)
        .bind(since)
        .bind(0i64)
        .fetch_one(&db.pool)
        .await?;
    if by_account >= limits.per_account {
        return Ok(false);
    }
    let by_address: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_attempts WHERE address = $1 AND at > $2 AND success = $3")
        .bind(address)
        .bind(since)
        .bind(0i64)
        .fetch_one(&db.pool)
        .await?;
    Ok(by_address < limits.per_address)
}

pub async fn record(db: &Db, now: Millis, account: &str, address: &str, success: bool) -> Result<()> {
    let mut tx = db.begin().await?;
    if success {
        // A successful login clears the account's failures.
        sqlx::query("DELETE FROM login_attempts WHERE account = $1").bind(account).execute(&mut *tx).await?;
    } else {
        sqlx::query("INSERT INTO login_attempts (account, address, at, success) VALUES ($1, $2, $3, $4)")
            .bind(account)
            .bind(address)
            .bind(now)
            .bind(0i64)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn purge(db: &Db, now: Millis) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM login_attempts WHERE at <= $1").bind(now - WINDOW_MS).execute(&db.pool).await?.rows_affected())
}
