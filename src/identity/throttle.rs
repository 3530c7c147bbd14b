//! Login throttling: a slowdown with backoff, never a lockout, kept in the database so that it
//! holds across processes.
//!
//! Each key (an account's email, a known device, a client address) has a counter. An attempt
//! is *taken* on its keys before the password is verified ([`take`]): one upsert counts it
//! and, past the free attempts, sets the time before which the next attempt is refused (429):
//! `BASE_DELAY_MS`, doubling at each further attempt, at most `MAX_DELAY_MS`. Simultaneous
//! attempts are counted one at a time by that single statement, so no more than the free
//! attempts are ever verified at once, on either backend and whatever the number of processes.
//! A success clears the account's (or the device's) counter ([`clear`]) and gives the address
//! its attempt back ([`refund`]). A counter untouched for `FORGET_AFTER_MS` starts again.
//!
//! Who is slowed down (the caller, `http::pages::login_submit`, picks the keys): an attempt
//! from a device the user already logged in from counts on that device's key only, so failures
//! made elsewhere (by someone guessing) never slow the user's own browser; any other attempt
//! counts on the client address and on the account.

use sha2::{Digest, Sha256};

use crate::clock::Millis;
use crate::db::Db;
use crate::error::Result;

/// The first wait, once the free attempts are spent.
pub const BASE_DELAY_MS: Millis = 30_000;
/// The longest wait between two attempts on one key.
pub const MAX_DELAY_MS: Millis = 15 * 60_000;
/// A counter not used for this long is forgotten (longer than `MAX_DELAY_MS`, so that waiting
/// out the backoff does not give the free attempts back).
pub const FORGET_AFTER_MS: Millis = 60 * 60_000;

/// Counts, in the metrics, a login refused for its credentials (`realm`: `staff`, `portal`,
/// `partner`, `second_factor`).
pub fn count_failure(realm: &'static str) {
    metrics::counter!("carnet_login_failures_total", "realm" => realm).increment(1);
}

/// Counts, in the metrics, a login attempt told to wait (the throttle's backoff).
pub fn count_throttled(realm: &'static str) {
    metrics::counter!("carnet_login_throttled_total", "realm" => realm).increment(1);
}

/// What an attempt counts on.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    /// The email typed (lowercased), whether or not an account has it.
    Account(&'a str),
    /// A known device (the hash of its cookie).
    Device(&'a str),
    /// The client's address.
    Address(&'a str),
    /// The second step of a user's login (their id): codes typed after the right password.
    SecondFactor(&'a str),
}

impl Key<'_> {
    fn hash(&self) -> String {
        let text = match self {
            Key::Account(s) => format!("account:{s}"),
            Key::Device(s) => format!("device:{s}"),
            Key::Address(s) => format!("address:{s}"),
            Key::SecondFactor(s) => format!("second-factor:{s}"),
        };
        Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// An attempt from a device not known for the account: taken on the client `address`, then on
/// the `account`; when the account must wait, the address gets its attempt back (nothing was
/// verified). The wait, if any. Staff and portal logins use it, each with its own keys.
pub async fn take_address_then_account(
    db: &Db,
    now: Millis,
    address: &str,
    account: &str,
    per_address: i64,
    per_account: i64,
) -> Result<Option<Millis>> {
    if let Some(w) = take(db, now, Key::Address(address), per_address).await? {
        return Ok(Some(w));
    }
    let wait = take(db, now, Key::Account(account), per_account).await?;
    if wait.is_some() {
        refund(db, now, Key::Address(address), per_address).await?;
    }
    Ok(wait)
}

/// Takes one attempt on `key`, before the password is verified: `Ok(None)` when it may be
/// verified (it counts as a failure until [`clear`] or [`refund`]), `Ok(Some(ms))` when it
/// must wait that long. `free` attempts go through without delay.
pub async fn take(db: &Db, now: Millis, key: Key<'_>, free: i64) -> Result<Option<Millis>> {
    let hash = key.hash();
    let forgotten = now - FORGET_AFTER_MS;
    let first_delay = if free <= 1 { BASE_DELAY_MS } else { 0 };
    // One statement: the counter is read, checked and written atomically (the row lock of the
    // upsert on PostgreSQL, the database write lock on SQLite).
    let failures = "CASE WHEN login_throttle.updated_at <= $4 THEN 1 ELSE login_throttle.failures + 1 END";
    let delay = format!(
        "CASE WHEN {failures} < $5 THEN 0 \
              WHEN login_throttle.updated_at <= $4 OR login_throttle.delay_ms = 0 THEN $6 \
              WHEN login_throttle.delay_ms * 2 >= $7 THEN $7 \
              ELSE login_throttle.delay_ms * 2 END"
    );
    let taken: Option<i64> = sqlx::query_scalar(&format!(
        "INSERT INTO login_throttle (key_hash, failures, delay_ms, next_at, updated_at) VALUES ($1, 1, $2, $3 + $2, $3) \
         ON CONFLICT (key_hash) DO UPDATE SET failures = {failures}, delay_ms = {delay}, next_at = $3 + {delay}, updated_at = $3 \
         WHERE login_throttle.next_at <= $3 OR login_throttle.updated_at <= $4 \
         RETURNING failures"
    ))
    .bind(&hash)
    .bind(first_delay)
    .bind(now)
    .bind(forgotten)
    .bind(free)
    .bind(BASE_DELAY_MS)
    .bind(MAX_DELAY_MS)
    .fetch_optional(&db.pool)
    .await?;
    if taken.is_some() {
        return Ok(None);
    }
    let next_at: Option<i64> =
        sqlx::query_scalar("SELECT next_at FROM login_throttle WHERE key_hash = $1").bind(&hash).fetch_optional(&db.pool).await?;
    Ok(Some(next_at.map_or(1000, |t| (t - now).max(1000))))
}

/// A success: the key's counter starts again.
pub async fn clear(db: &Db, key: Key<'_>) -> Result<()> {
    sqlx::query("DELETE FROM login_throttle WHERE key_hash = $1").bind(key.hash()).execute(&db.pool).await?;
    Ok(())
}

/// A success on a shared key (the address): the attempt taken is given back, so that the
/// people of an office behind one address do not slow one another down by logging in.
pub async fn refund(db: &Db, now: Millis, key: Key<'_>, free: i64) -> Result<()> {
    sqlx::query(
        "UPDATE login_throttle SET failures = failures - 1, \
         delay_ms = CASE WHEN failures - 1 < $2 THEN 0 ELSE delay_ms END, \
         next_at = CASE WHEN failures - 1 < $2 THEN $3 ELSE next_at END \
         WHERE key_hash = $1 AND failures > 0",
    )
    .bind(key.hash())
    .bind(free)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Forgets the counters nobody used for `FORGET_AFTER_MS` (the housekeeping job).
pub async fn purge(db: &Db, now: Millis) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM login_throttle WHERE updated_at <= $1")
        .bind(now - FORGET_AFTER_MS)
        .execute(&db.pool)
        .await?
        .rows_affected())
}

/// Known devices: a random cookie set at a successful login, stored hashed with its user.
pub mod devices {
    use super::super::session::{hash_secret, new_secret};
    use crate::clock::Millis;
    use crate::db::Db;
    use crate::error::Result;

    pub const COOKIE: &str = "carnet_device";
    /// How long a device stays known without a login from it.
    pub const KEEP_MS: Millis = 365 * 86_400_000;

    /// The hash of the device behind `secret` when it is one of `user_id`'s.
    pub async fn known(db: &Db, now: Millis, user_id: i64, secret: &str) -> Result<Option<String>> {
        let hash = hash_secret(secret);
        let found: Option<String> =
            sqlx::query_scalar("SELECT id_hash FROM known_devices WHERE id_hash = $1 AND user_id = $2 AND last_used_at > $3")
                .bind(&hash)
                .bind(user_id)
                .bind(now - KEEP_MS)
                .fetch_optional(&db.pool)
                .await?;
        Ok(found)
    }

    /// After a successful login: the device's last use, or a new device (its cookie's secret).
    pub async fn remember(db: &Db, now: Millis, user_id: i64, known: Option<&str>) -> Result<Option<String>> {
        if let Some(hash) = known {
            sqlx::query("UPDATE known_devices SET last_used_at = $1 WHERE id_hash = $2").bind(now).bind(hash).execute(&db.pool).await?;
            return Ok(None);
        }
        let secret = new_secret();
        sqlx::query("INSERT INTO known_devices (id_hash, user_id, created_at, last_used_at) VALUES ($1, $2, $3, $3)")
            .bind(hash_secret(&secret))
            .bind(user_id)
            .bind(now)
            .execute(&db.pool)
            .await?;
        Ok(Some(secret))
    }

    /// Forgets devices unused for `KEEP_MS` (the housekeeping job).
    pub async fn purge(db: &Db, now: Millis) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM known_devices WHERE last_used_at <= $1").bind(now - KEEP_MS).execute(&db.pool).await?.rows_affected())
    }
}
