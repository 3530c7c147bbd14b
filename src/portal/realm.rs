//! What the customer portal and the partner portal share: the outside users' sessions and
//! single-use links. Each kind of outside user has its own accounts table, session table and
//! link table (a customer's contact and a reseller's employee never share a session, a
//! cookie or a login page), and the same code drives both, named by a [`Realm`].

use crate::audit::{self, Actor, Change};
use crate::clock::Millis;
use crate::db::{Db, Tx};
use crate::error::{Error, Result};
use crate::identity::password;
use crate::identity::session::{hash_secret, new_secret};

/// The tables of one kind of outside user. Every name is a constant of this module, never
/// input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Realm {
    /// The accounts table (`id`, `status`, `last_login_at`…).
    pub accounts: &'static str,
    /// The sessions table (`id_hash`, the account column, `csrf_token`, times, client).
    pub sessions: &'static str,
    /// The single-use links table (`token_hash`, the account column, `purpose`, times).
    pub links: &'static str,
    /// The column of `sessions` and `links` naming the account.
    pub account_col: &'static str,
    /// The history's name of an account (`audit_events.entity_type`).
    pub entity: &'static str,
}

/// The customer portal's contacts.
pub const PORTAL: Realm = Realm {
    accounts: "portal_accounts",
    sessions: "portal_sessions",
    links: "portal_links",
    account_col: "account_id",
    entity: "portal_account",
};
/// The partner portal's users.
pub const PARTNER: Realm = Realm {
    accounts: "partner_users",
    sessions: "partner_sessions",
    links: "partner_links",
    account_col: "user_id",
    entity: "partner_user",
};

/// A new session's secret (for the cookie; the database holds its hash).
pub struct NewSession {
    pub secret: String,
}

impl Realm {
    /// Opens a session for `account_id` and notes the login time.
    pub async fn create_session(
        self,
        db: &Db,
        account_id: i64,
        now: Millis,
        max_ms: Millis,
        ip: &str,
        user_agent: &str,
    ) -> Result<NewSession> {
        let secret = new_secret();
        let mut tx = db.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO {} (id_hash, {}, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
            self.sessions, self.account_col
        ))
        .bind(hash_secret(&secret))
        .bind(account_id)
        .bind(new_secret())
        .bind(now)
        .bind(now + max_ms)
        .bind(ip)
        .bind(user_agent.chars().take(300).collect::<String>())
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!("UPDATE {} SET last_login_at = $1 WHERE id = $2", self.accounts))
            .bind(now)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(NewSession { secret })
    }

    /// Ends one session (logout).
    pub async fn end_session(self, db: &Db, id_hash: &str) -> Result<()> {
        sqlx::query(&format!("DELETE FROM {} WHERE id_hash = $1", self.sessions)).bind(id_hash).execute(&db.pool).await?;
        db.auth_changed();
        Ok(())
    }

    /// Ends every session of an account but `keep` (a password change keeps the current one).
    pub async fn end_sessions_of(self, tx: &mut Tx, account_id: i64, keep: Option<&str>) -> Result<()> {
        sqlx::query(&format!("DELETE FROM {} WHERE {} = $1 AND id_hash <> $2", self.sessions, self.account_col))
            .bind(account_id)
            .bind(keep.unwrap_or(""))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Changes one's own password: the current one checked first, the new one validated
    /// (length, common passwords, not the address); every other session of the account ends
    /// (`keep_session` is the current one's hash), and the history says it changed.
    #[allow(clippy::too_many_arguments)]
    pub async fn change_password(
        self,
        db: &Db,
        actor: &Actor,
        now: Millis,
        account_id: i64,
        current: &str,
        new_password: &str,
        keep_session: &str,
    ) -> Result<()> {
        let row: Option<(Option<String>, String)> =
            sqlx::query_as(&format!("SELECT password_hash, email FROM {} WHERE id = $1", self.accounts))
                .bind(account_id)
                .fetch_optional(&db.pool)
                .await?;
        let Some((stored, email)) = row else { return Err(Error::NotFound) };
        let ok = match stored {
            Some(h) => password::verify_blocking(current.to_string(), h).await?,
            None => false,
        };
        if !ok {
            return Err(Error::validation("current_password", "error.password_wrong"));
        }
        password::validate(new_password, &email)?;
        let hash = password::hash_blocking(new_password.to_string()).await?;
        let mut tx = db.begin().await?;
        sqlx::query(&format!("UPDATE {} SET password_hash = $1, password_changed_at = $2, updated_at = $2 WHERE id = $3", self.accounts))
            .bind(&hash)
            .bind(now)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        self.end_sessions_of(&mut tx, account_id, Some(keep_session)).await?;
        let change = Change { field: "password".into(), old: None, new: Some("changed".into()) };
        audit::record(&mut tx, actor, now, self.entity, account_id, "password", &[change]).await?;
        tx.commit().await?;
        db.auth_changed();
        Ok(())
    }

    /// Writes `last_seen_at` (the caller does it at most once a minute).
    pub async fn touch(self, db: &Db, id_hash: &str, now: Millis) -> Result<()> {
        sqlx::query(&format!("UPDATE {} SET last_seen_at = $1 WHERE id_hash = $2", self.sessions))
            .bind(now)
            .bind(id_hash)
            .execute(&db.pool)
            .await?;
        Ok(())
    }

    /// Creates a single-use link (earlier unused links of the same purpose stop working) and
    /// returns its secret.
    pub async fn new_link(self, tx: &mut Tx, now: Millis, account_id: i64, purpose: &str, ttl: Millis) -> Result<String> {
        sqlx::query(&format!(
            "UPDATE {} SET used_at = $1 WHERE {} = $2 AND purpose = $3 AND used_at IS NULL",
            self.links, self.account_col
        ))
        .bind(now)
        .bind(account_id)
        .bind(purpose)
        .execute(&mut **tx)
        .await?;
        let secret = new_secret();
        sqlx::query(&format!(
            "INSERT INTO {} (token_hash, {}, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            self.links, self.account_col
        ))
        .bind(hash_secret(&secret))
        .bind(account_id)
        .bind(purpose)
        .bind(now)
        .bind(now + ttl)
        .execute(&mut **tx)
        .await?;
        Ok(secret)
    }

    /// Spends every unused link of an account (deactivation).
    pub async fn spend_links_of(self, tx: &mut Tx, now: Millis, account_id: i64) -> Result<()> {
        sqlx::query(&format!("UPDATE {} SET used_at = $1 WHERE {} = $2 AND used_at IS NULL", self.links, self.account_col))
            .bind(now)
            .bind(account_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// The email of the account behind a live link (unused, unexpired, account not deactivated).
    pub async fn link_email(self, db: &Db, now: Millis, secret: &str, purpose: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT a.email FROM {} l JOIN {} a ON a.id = l.{} \
             WHERE l.token_hash = $1 AND l.purpose = $2 AND l.used_at IS NULL AND l.expires_at > $3 AND a.status <> 'deactivated'",
            self.links, self.accounts, self.account_col
        ))
        .bind(hash_secret(secret))
        .bind(purpose)
        .bind(now)
        .fetch_optional(&db.pool)
        .await?)
    }

    /// Spends a link: of two simultaneous uses, one alone gets the account id.
    pub async fn spend_link(self, tx: &mut Tx, now: Millis, secret: &str, purpose: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(&format!(
            "UPDATE {} SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 RETURNING {}",
            self.links, self.account_col
        ))
        .bind(now)
        .bind(hash_secret(secret))
        .bind(purpose)
        .fetch_optional(&mut **tx)
        .await?)
    }

    /// Deletes expired sessions and long-expired links (housekeeping).
    pub async fn purge_expired(self, db: &Db, now: Millis, idle_ms: Millis) -> Result<u64> {
        let s = sqlx::query(&format!("DELETE FROM {} WHERE expires_at <= $1 OR last_seen_at <= $2", self.sessions))
            .bind(now)
            .bind(now - idle_ms)
            .execute(&db.pool)
            .await?
            .rows_affected();
        let l = sqlx::query(&format!("DELETE FROM {} WHERE expires_at <= $1", self.links))
            .bind(now - 30 * 86_400_000)
            .execute(&db.pool)
            .await?
            .rows_affected();
        Ok(s + l)
    }
}
