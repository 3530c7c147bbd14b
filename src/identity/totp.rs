//! The second factor: one-time codes from an authenticator app (TOTP, RFC 6238: HMAC-SHA1,
//! 6 digits, 30-second steps) and single-use recovery codes; see docs/security.md.
//!
//! - Enrolment: [`start`] draws a 160-bit secret, kept *pending* (shown, with its `otpauth://`
//!   URI and QR code, only until enabled); [`confirm`] enables it with a first code and returns
//!   [`RECOVERY_CODES`] recovery codes, shown once and stored as SHA-256.
//! - A code is accepted for the current step and one step either side (clock drift), and only
//!   for a step later than the last one accepted ([`verify`]: one compare-and-set), so that a
//!   code seen over a shoulder cannot be replayed within its window. A recovery code works once.
//! - An administrator may require the second factor of a role (`roles.require_second_factor`);
//!   its holders without one can reach only the enrolment pages (the guard reads
//!   `Principal::second_factor_due`) and cannot disable it.
//! - Logging in with a second factor passes through a [`challenge`]: an opaque token, stored
//!   hashed, bound to the user, short-lived and used once.

use rand::Rng;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::access::roles;
use crate::audit::{self, Actor, Change};
use crate::clock::Millis;
use crate::db::{Db, Tx};
use crate::error::{Error, Result};

/// Seconds per time step.
pub const STEP_S: i64 = 30;
/// Digits of a code.
pub const DIGITS: usize = 6;
/// Recovery codes given at enrolment and at each renewal.
pub const RECOVERY_CODES: usize = 10;
/// The name shown in authenticator apps.
pub const ISSUER: &str = "Carnet";
/// Letters of recovery codes: lowercase and digits without the look-alikes (0/o, 1/l/i).
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
const RECOVERY_LEN: usize = 10;
/// The entity and field under which changes are recorded in the user's history.
const ENTITY: &str = "user";

/// What a user typed at the second step: a code from the app or a recovery code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Code(String),
    Recovery(String),
}

impl Answer {
    /// Spaces and dashes are ignored, letters' case too; `field` names the input in a refusal.
    pub fn parse(raw: &str, field: &str) -> Result<Answer> {
        let s: String = raw.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_lowercase();
        if s.len() == DIGITS && s.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Answer::Code(s));
        }
        if s.len() == RECOVERY_LEN && s.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)) {
            return Ok(Answer::Recovery(s));
        }
        Err(Error::validation(field, "error.totp_format"))
    }

    /// A code from the app only (enrolment, renewal of recovery codes).
    pub fn parse_code(raw: &str, field: &str) -> Result<Answer> {
        match Answer::parse(raw, field)? {
            a @ Answer::Code(_) => Ok(a),
            Answer::Recovery(_) => Err(Error::validation(field, "error.totp_format")),
        }
    }
}

/// A user's second factor as their account page and the administrators see it.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// When it was enabled; `None`: not set up.
    pub enabled_at: Option<Millis>,
    /// An enrolment was started and awaits its first code.
    pub pending: bool,
    /// Recovery codes not used yet.
    pub recovery_left: i64,
    /// The user's role requires a second factor.
    pub required: bool,
}

/// A secret being enrolled, for the user to copy into their app.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// Base32, as authenticator apps take it.
    pub secret: String,
    /// `otpauth://totp/…`, what the QR code holds.
    pub uri: String,
}

impl Enrolment {
    fn new(secret: String, email: &str) -> Enrolment {
        let label: String = url::form_urlencoded::byte_serialize(format!("{ISSUER}:{email}").as_bytes()).collect();
        let uri = format!("otpauth://totp/{label}?secret={secret}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_S}");
        Enrolment { secret, uri }
    }

    /// The secret in groups of four letters, easier to type.
    pub fn grouped(&self) -> String {
        self.secret.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
    }

    /// The QR code of the URI, as an SVG document.
    pub fn qr_svg(&self) -> Result<String> {
        let code = qrcode::QrCode::new(self.uri.as_bytes()).map_err(Error::internal)?;
        Ok(code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).build())
    }
}

fn hash(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn totp(secret_b32: &str) -> Result<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_string()).to_bytes().map_err(|e| Error::internal(format!("{e:?}")))?;
    TOTP::new(Algorithm::SHA1, DIGITS, 0, STEP_S as u64, bytes).map_err(Error::internal)
}

/// The time step of `now`.
pub fn step_of(now: Millis) -> i64 {
    now.div_euclid(1000) / STEP_S
}

/// The step among now's and its neighbours for which `code` is right, if any (each compared
/// in constant time).
fn matching_step(secret_b32: &str, code: &str, now: Millis) -> Result<Option<i64>> {
    let t = totp(secret_b32)?;
    let here = step_of(now);
    Ok((here - 1..=here + 1).filter(|s| *s >= 0).find(|s| t.check(code, (*s * STEP_S) as u64)))
}

/// The code of `secret_b32` at `now` (for tests and the command line).
pub fn code_at(secret_b32: &str, now: Millis) -> Result<String> {
    Ok(totp(secret_b32)?.generate((step_of(now) * STEP_S) as u64))
}

fn new_recovery_code() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_LEN).map(|_| RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())] as char).collect()
}

/// Shown as `abcde-fghjk`.
fn show_recovery(code: &str) -> String {
    format!("{}-{}", &code[..RECOVERY_LEN / 2], &code[RECOVERY_LEN / 2..])
}

async fn audit(tx: &mut Tx, actor: &Actor, now: Millis, user_id: i64, field: &'static str, old: &str, new: &str) -> Result<()> {
    let change = Change { field: field.into(), old: Some(old.to_string()), new: Some(new.to_string()) };
    audit::record(tx, actor, now, ENTITY, user_id, "update", &[change]).await
}

/// Whether the user's role requires a second factor.
pub async fn required(conn: &mut sqlx::AnyConnection, user_id: i64) -> Result<bool> {
    let flag: Option<i64> =
        sqlx::query_scalar("SELECT r.require_second_factor FROM users u JOIN roles r ON r.id = u.role_id WHERE u.id = $1")
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(flag == Some(1))
}

pub async fn status(db: &Db, user_id: i64) -> Result<Status> {
    let mut conn = db.pool.acquire().await?;
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT enabled_at FROM user_totp WHERE user_id = $1").bind(user_id).fetch_optional(&mut *conn).await?;
    let recovery_left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM totp_recovery_codes WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Status {
        enabled_at: row.as_ref().and_then(|r| r.0),
        pending: row.as_ref().is_some_and(|r| r.0.is_none()),
        recovery_left,
        required: required(&mut conn, user_id).await?,
    })
}

/// What a login does after the right password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPassword {
    /// A second factor is on: the code is asked for, no session yet.
    AskCode,
    /// The role requires one and none is on: a session that opens only the enrolment.
    Enrol,
    /// Neither: the session opens.
    Open,
}

pub async fn after_password(db: &Db, user_id: i64) -> Result<AfterPassword> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT r.require_second_factor, \
         (SELECT COUNT(*) FROM user_totp t WHERE t.user_id = u.id AND t.enabled_at IS NOT NULL) \
         FROM users u JOIN roles r ON r.id = u.role_id WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        Some((_, enabled)) if enabled > 0 => AfterPassword::AskCode,
        Some((1, _)) => AfterPassword::Enrol,
        _ => AfterPassword::Open,
    })
}

/// Starts (or starts again) an enrolment: a new pending secret. Refused once enabled.
pub async fn start(db: &Db, actor: &Actor, now: Millis, user_id: i64, email: &str) -> Result<Enrolment> {
    let mut bytes = [0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let Secret::Encoded(secret) = Secret::Raw(bytes.to_vec()).to_encoded() else {
        return Err(Error::internal("base32 encoding"));
    };
    let mut tx = db.begin().await?;
    let existing: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT enabled_at FROM user_totp WHERE user_id = $1").bind(user_id).fetch_optional(&mut *tx).await?;
    match existing {
        Some((Some(_),)) => return Err(Error::InvalidState { reason: "error.totp_already_enabled" }),
        Some((None,)) => {
            sqlx::query("UPDATE user_totp SET secret = $1, created_at = $2 WHERE user_id = $3")
                .bind(&secret)
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        None => {
            sqlx::query("INSERT INTO user_totp (user_id, secret, created_at) VALUES ($1, $2, $3)")
                .bind(user_id)
                .bind(&secret)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
    }
    audit(&mut tx, actor, now, user_id, "two_factor", "off", "pending").await?;
    tx.commit().await?;
    Ok(Enrolment::new(secret, email))
}

/// The enrolment awaiting its first code, if any: its secret is shown until then, never after.
pub async fn pending(db: &Db, user_id: i64, email: &str) -> Result<Option<Enrolment>> {
    let secret: Option<String> = sqlx::query_scalar("SELECT secret FROM user_totp WHERE user_id = $1 AND enabled_at IS NULL")
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(secret.map(|s| Enrolment::new(s, email)))
}

/// Replaces the user's recovery codes with new ones, returned as shown (once).
async fn new_recovery_codes(tx: &mut Tx, now: Millis, user_id: i64) -> Result<Vec<String>> {
    sqlx::query("DELETE FROM totp_recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut **tx).await?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let mut q = crate::db::sql::Sql::new("INSERT INTO totp_recovery_codes (code_hash, user_id, created_at) VALUES ");
    for (i, c) in codes.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push("(").bind(hash(c)).push(", ").bind(user_id).push(", ").bind(now).push(")");
    }
    q.query().execute(&mut **tx).await?;
    Ok(codes.iter().map(|c| show_recovery(c)).collect())
}

/// Enables the pending enrolment with its first code; the recovery codes, shown once.
pub async fn confirm(db: &Db, actor: &Actor, now: Millis, user_id: i64, code: &Answer) -> Result<Vec<String>> {
    let Answer::Code(code) = code else { return Err(Error::validation("code", "error.totp_format")) };
    let mut tx = db.begin().await?;
    let secret: Option<String> = sqlx::query_scalar("SELECT secret FROM user_totp WHERE user_id = $1 AND enabled_at IS NULL")
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
    let secret = secret.ok_or(Error::InvalidState { reason: "error.totp_not_pending" })?;
    let step = matching_step(&secret, code, now)?.ok_or_else(|| Error::validation("code", "error.totp_wrong"))?;
    let n =
        sqlx::query("UPDATE user_totp SET enabled_at = $1, last_step = $2, last_used_at = $1 WHERE user_id = $3 AND enabled_at IS NULL")
            .bind(now)
            .bind(step)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if n == 0 {
        // Confirmed meanwhile by another request.
        return Err(Error::InvalidState { reason: "error.totp_already_enabled" });
    }
    let codes = new_recovery_codes(&mut tx, now, user_id).await?;
    audit(&mut tx, actor, now, user_id, "two_factor", "pending", "on").await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(codes)
}

/// Checks and uses `answer` for the user: a code for a step later than the last one used, or
/// an unused recovery code (then used up, in the user's history as `actor`'s). `false` when
/// wrong, replayed or already used.
pub async fn verify(db: &Db, actor: &Actor, now: Millis, user_id: i64, answer: &Answer) -> Result<bool> {
    match answer {
        Answer::Code(code) => {
            let secret: Option<String> = sqlx::query_scalar("SELECT secret FROM user_totp WHERE user_id = $1 AND enabled_at IS NOT NULL")
                .bind(user_id)
                .fetch_optional(&db.pool)
                .await?;
            let Some(secret) = secret else { return Ok(false) };
            let Some(step) = matching_step(&secret, code, now)? else { return Ok(false) };
            // Compare-and-set: two simultaneous uses of one code cannot both pass.
            let n = sqlx::query(
                "UPDATE user_totp SET last_step = $1, last_used_at = $2 \
                 WHERE user_id = $3 AND enabled_at IS NOT NULL AND (last_step IS NULL OR last_step < $1)",
            )
            .bind(step)
            .bind(now)
            .bind(user_id)
            .execute(&db.pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        }
        Answer::Recovery(code) => {
            let mut tx = db.begin().await?;
            let n = sqlx::query("UPDATE totp_recovery_codes SET used_at = $1 WHERE code_hash = $2 AND user_id = $3 AND used_at IS NULL")
                .bind(now)
                .bind(hash(code))
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                let change = Change { field: "recovery_code".into(), old: None, new: Some("used".into()) };
                audit::record(&mut tx, actor, now, ENTITY, user_id, "update", &[change]).await?;
            }
            tx.commit().await?;
            Ok(n == 1)
        }
    }
}

/// New recovery codes (the old ones stop working), after a code from the app.
pub async fn renew_recovery_codes(db: &Db, actor: &Actor, now: Millis, user_id: i64, code: &Answer) -> Result<Vec<String>> {
    if !matches!(code, Answer::Code(_)) || !verify(db, actor, now, user_id, code).await? {
        return Err(Error::validation("code", "error.totp_wrong"));
    }
    let mut tx = db.begin().await?;
    let codes = new_recovery_codes(&mut tx, now, user_id).await?;
    audit(&mut tx, actor, now, user_id, "recovery_codes", "••••", "••••").await?;
    tx.commit().await?;
    Ok(codes)
}

async fn remove(tx: &mut Tx, user_id: i64) -> Result<bool> {
    let n = sqlx::query("DELETE FROM user_totp WHERE user_id = $1").bind(user_id).execute(&mut **tx).await?.rows_affected();
    sqlx::query("DELETE FROM totp_recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut **tx).await?;
    Ok(n > 0)
}

/// The user turns their second factor off (the caller checked their password or a code).
/// Refused while their role requires one.
pub async fn disable(db: &Db, actor: &Actor, now: Millis, user_id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    if required(&mut tx, user_id).await? {
        return Err(Error::InvalidState { reason: "error.totp_required_by_role" });
    }
    if !remove(&mut tx, user_id).await? {
        return Err(Error::InvalidState { reason: "error.totp_not_enabled" });
    }
    audit(&mut tx, actor, now, user_id, "two_factor", "on", "off").await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(())
}

/// An administrator resets a user's second factor (a lost phone): it is removed, the user's
/// sessions end, and they enrol again (at their next login when their role requires it).
/// Like setting a password, not for a user holding rights the administrator lacks.
pub async fn reset(db: &Db, actor: &Actor, now: Millis, user_id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let role: Option<i64> = sqlx::query_scalar("SELECT role_id FROM users WHERE id = $1").bind(user_id).fetch_optional(&mut *tx).await?;
    let rights = roles::rights_of_role(&mut tx, role.ok_or(Error::NotFound)?).await?;
    roles::check_within_actor(&mut tx, actor, rights, "two_factor", "error.user_above_you").await?;
    if !remove(&mut tx, user_id).await? {
        return Err(Error::InvalidState { reason: "error.totp_not_enabled" });
    }
    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
    audit(&mut tx, actor, now, user_id, "two_factor", "on", "reset").await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(())
}

/// The step between the right password and the code.
pub mod challenge {
    use super::super::session::{hash_secret, new_secret};
    use crate::clock::Millis;
    use crate::db::Db;
    use crate::error::Result;

    /// How long the code may be typed after the password.
    pub const LIFETIME_MS: Millis = 5 * 60_000;

    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct Challenge {
        pub user_id: i64,
        pub device_hash: Option<String>,
        pub next_path: String,
    }

    /// A new challenge for `user_id`: its token (for the form; stored hashed).
    pub async fn create(db: &Db, now: Millis, user_id: i64, device_hash: Option<&str>, next: &str) -> Result<String> {
        let secret = new_secret();
        let mut tx = db.begin().await?;
        // Expired challenges go when new ones come.
        sqlx::query("DELETE FROM login_challenges WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO login_challenges (id_hash, user_id, device_hash, next_path, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hash_secret(&secret))
        .bind(user_id)
        .bind(device_hash)
        .bind(next)
        .bind(now)
        .bind(now + LIFETIME_MS)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// The live challenge behind `token`, if any.
    pub async fn get(db: &Db, now: Millis, token: &str) -> Result<Option<Challenge>> {
        Ok(sqlx::query_as("SELECT user_id, device_hash, next_path FROM login_challenges WHERE id_hash = $1 AND expires_at > $2")
            .bind(hash_secret(token))
            .bind(now)
            .fetch_optional(&db.pool)
            .await?)
    }

    /// Uses the challenge up; `false` when it was already used or expired meanwhile.
    pub async fn consume(db: &Db, now: Millis, token: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM login_challenges WHERE id_hash = $1 AND expires_at > $2")
            .bind(hash_secret(token))
            .bind(now)
            .execute(&db.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed_at_the_edge() {
        assert_eq!(Answer::parse(" 123 456 ", "code").unwrap(), Answer::Code("123456".into()));
        assert_eq!(Answer::parse("ABCDE-FGHJK", "code").unwrap(), Answer::Recovery("abcdefghjk".into()));
        assert!(Answer::parse("12345", "code").is_err());
        assert!(Answer::parse("abcde-fghi1", "code").is_err());
        assert!(Answer::parse_code("abcde-fghjk", "code").is_err());
    }

    #[test]
    fn rfc_6238_sha1_vector() {
        // RFC 6238, appendix B: the secret "12345678901234567890", T = 59 s → 94287082 (8 digits);
        // its last six digits with 6-digit codes.
        let b32 = match Secret::Raw(b"12345678901234567890".to_vec()).to_encoded() {
            Secret::Encoded(s) => s,
            Secret::Raw(_) => unreachable!(),
        };
        assert_eq!(code_at(&b32, 59_000).unwrap(), "287082");
        assert_eq!(matching_step(&b32, "287082", 59_000).unwrap(), Some(1));
        // One step either side is accepted, two are not.
        assert_eq!(matching_step(&b32, "287082", 89_000).unwrap(), Some(1));
        assert_eq!(matching_step(&b32, "287082", 125_000).unwrap(), None);
    }

    #[test]
    fn recovery_codes_are_shown_in_two_halves() {
        let c = new_recovery_code();
        assert_eq!(c.len(), RECOVERY_LEN);
        let shown = show_recovery(&c);
        assert_eq!(Answer::parse(&shown, "code").unwrap(), Answer::Recovery(c));
    }
}
