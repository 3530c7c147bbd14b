//! Typed, admin-editable settings: feature switches and defaults. Each setting is declared
//! in [`DEFS`] with its type and default; the database holds only the values an
//! administrator changed. Modules add their settings to `DEFS`.

use crate::access::Actor;
use crate::audit;
use crate::clock::Millis;
use crate::db::Db;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    /// An integer within bounds.
    Int {
        min: i64,
        max: i64,
    },
    /// One of the given codes.
    Choice(&'static [&'static str]),
    /// Free text on one line, up to `max` characters (may be empty).
    Text {
        max: usize,
    },
    /// An email address.
    Email,
    /// A domain name (may be empty).
    Domain,
    /// Working days and hours, e.g. `1-5 08:00-17:00` ([`crate::calendar::Hours`]).
    BusinessHours,
    /// Dates `YYYY-MM-DD` separated by spaces or commas (may be empty).
    Dates,
}

#[derive(Debug, Clone, Copy)]
pub struct Def {
    pub key: &'static str,
    pub kind: Kind,
    pub default: &'static str,
}

/// The default regions of phone numbers typed without a country code that Carnet offers
/// (`customers::phone` parses any region `phonenumber` knows).
pub const PHONE_REGIONS: &[&str] = &["CA", "FR", "US", "BE", "CH"];

pub const DEFS: &[Def] = &[
    Def { key: "ui.default_language", kind: Kind::Choice(&["fr", "en"]), default: "fr" },
    Def { key: "lists.page_size", kind: Kind::Int { min: 10, max: 200 }, default: "50" },
    Def { key: "security.show_last_login", kind: Kind::Bool, default: "true" },
    Def { key: "jobs.session_cleanup_enabled", kind: Kind::Bool, default: "true" },
    Def { key: "customers.phone_region", kind: Kind::Choice(PHONE_REGIONS), default: "CA" },
    Def { key: "mail.from_address", kind: Kind::Email, default: "no-reply@carnet.localhost" },
    Def { key: "mail.from_name", kind: Kind::Text { max: 100 }, default: "Carnet" },
    Def { key: "mail.reply_domain", kind: Kind::Domain, default: "" },
    Def { key: "mail.link_base_url", kind: Kind::Text { max: 200 }, default: "http://127.0.0.1:8080" },
    Def {
        key: "ui.timezone",
        kind: Kind::Choice(&["America/Toronto", "America/Vancouver", "America/Halifax", "Europe/Paris", "Europe/Brussels", "UTC"]),
        default: "America/Toronto",
    },
    Def { key: "opportunities.expiry_weeks", kind: Kind::Int { min: 1, max: 104 }, default: "8" },
    Def { key: "opportunities.follow_up_days", kind: Kind::Int { min: 1, max: 365 }, default: "30" },
    Def { key: "sales.currency", kind: Kind::Choice(&["CAD", "USD", "EUR", "CHF", "GBP"]), default: "CAD" },
    Def { key: "calls.reminder_minutes", kind: Kind::Int { min: 0, max: 1440 }, default: "15" },
    Def { key: "leads.routing", kind: Kind::Choice(&["round_robin", "queue"]), default: "round_robin" },
    Def { key: "leads.default_branch_id", kind: Kind::Int { min: 0, max: i64::MAX }, default: "0" },
    Def { key: "leads.queue_group", kind: Kind::Text { max: 100 }, default: "BDC" },
    Def { key: "portal.support_group", kind: Kind::Text { max: 100 }, default: "Support" },
    Def { key: "presales.team_group", kind: Kind::Text { max: 100 }, default: "Avant-vente" },
    Def { key: "presales.type_teams", kind: Kind::Text { max: 500 }, default: "" },
    Def { key: "service.messages_enabled", kind: Kind::Bool, default: "false" },
    Def { key: "service.messages_notify_default", kind: Kind::Bool, default: "false" },
    Def { key: "service.business_hours", kind: Kind::BusinessHours, default: "1-5 08:00-17:00" },
    Def { key: "service.holidays", kind: Kind::Dates, default: "" },
    Def { key: "service.sla_warning_minutes", kind: Kind::Int { min: 0, max: 2880 }, default: "60" },
    Def { key: "service.escalation_group", kind: Kind::Text { max: 100 }, default: "Support" },
];

pub fn def(key: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.key == key)
}

/// Checks and normalises a value for a setting.
pub fn parse_value(d: &Def, raw: &str) -> Result<String> {
    let raw = raw.trim();
    let ok = match d.kind {
        Kind::Bool => match raw {
            "true" | "on" | "1" => Some("true".to_string()),
            "false" | "off" | "0" | "" => Some("false".to_string()),
            _ => None,
        },
        Kind::Int { min, max } => raw.parse::<i64>().ok().filter(|n| (min..=max).contains(n)).map(|n| n.to_string()),
        Kind::Choice(opts) => opts.contains(&raw).then(|| raw.to_string()),
        Kind::Text { max } => (raw.chars().count() <= max && !raw.chars().any(char::is_control)).then(|| raw.to_string()),
        Kind::Email => crate::email::Email::parse(raw).ok().map(|e| e.as_str().to_string()),
        Kind::Domain => {
            let d = raw.to_ascii_lowercase();
            let ok = d.is_empty()
                || (d.len() <= 253
                    && d.contains('.')
                    && d.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')));
            ok.then_some(d)
        }
        Kind::BusinessHours => {
            let v = raw.split_whitespace().collect::<Vec<_>>().join(" ");
            crate::calendar::Hours::parse(&v).map(|_| v)
        }
        Kind::Dates => crate::calendar::parse_holidays(raw).map(|d| d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" ")),
    };
    ok.ok_or_else(|| Error::validation(d.key, "error.setting_invalid"))
}

/// A setting's current value (stored, or the default).
pub async fn get(db: &Db, key: &str) -> Result<String> {
    let d = def(key).ok_or(Error::NotFound)?;
    let v: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&db.pool).await?;
    Ok(v.unwrap_or_else(|| d.default.to_string()))
}

/// A setting's current value, read on a given connection (inside a transaction).
pub async fn get_in(conn: &mut sqlx::AnyConnection, key: &str) -> Result<String> {
    let d = def(key).ok_or(Error::NotFound)?;
    let v: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(conn).await?;
    Ok(v.unwrap_or_else(|| d.default.to_string()))
}

/// Several settings' current values, in the order of `keys`, in one statement.
pub async fn get_many_in(conn: &mut sqlx::AnyConnection, keys: &[&str]) -> Result<Vec<String>> {
    let defs = keys.iter().map(|k| def(k).ok_or(Error::NotFound)).collect::<Result<Vec<_>>>()?;
    let mut q = crate::db::Sql::new("SELECT key, value FROM settings WHERE key IN (");
    for (i, k) in keys.iter().enumerate() {
        q.push(if i > 0 { ", " } else { "" }).bind(k.to_string());
    }
    q.push(")");
    let stored: Vec<(String, String)> = q.query_as().fetch_all(conn).await?;
    Ok(defs
        .iter()
        .map(|d| stored.iter().find(|(k, _)| k == d.key).map(|(_, v)| v.clone()).unwrap_or_else(|| d.default.to_string()))
        .collect())
}

pub async fn get_bool(db: &Db, key: &str) -> Result<bool> {
    Ok(get(db, key).await? == "true")
}

pub async fn get_int(db: &Db, key: &str) -> Result<i64> {
    get(db, key).await?.parse().map_err(Error::internal)
}

/// Every setting with its current value.
pub async fn all(db: &Db) -> Result<Vec<(&'static Def, String)>> {
    let stored: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM settings").fetch_all(&db.pool).await?;
    Ok(DEFS
        .iter()
        .map(|d| {
            let v = stored.iter().find(|(k, _)| k == d.key).map(|(_, v)| v.clone()).unwrap_or_else(|| d.default.to_string());
            (d, v)
        })
        .collect())
}

/// Sets several settings in one transaction, recording each change. Settings have no row
/// id, so their history uses entity id 0 and the key as the field.
pub async fn set_many(db: &Db, actor: &Actor, now: Millis, values: &[(&'static Def, String)]) -> Result<()> {
    let current = all(db).await?;
    let mut tx = db.begin().await?;
    for (d, v) in values {
        let old = current.iter().find(|(c, _)| c.key == d.key).map(|(_, v)| v.clone());
        if old.as_deref() == Some(v.as_str()) {
            continue;
        }
        let n = sqlx::query("UPDATE settings SET value = $1, updated_at = $2, updated_by = $3 WHERE key = $4")
            .bind(v)
            .bind(now)
            .bind(actor.id)
            .bind(d.key)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            sqlx::query("INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)")
                .bind(d.key)
                .bind(v)
                .bind(now)
                .bind(actor.id)
                .execute(&mut *tx)
                .await?;
        }
        audit::record(&mut tx, actor, now, "setting", 0, "update", &[audit::Change { field: d.key.into(), old, new: Some(v.clone()) }])
            .await?;
    }
    tx.commit().await?;
    db.auth_changed();
    Ok(())
}

/// The business's time zone.
pub async fn zone(db: &Db) -> Result<crate::clock::Zone> {
    Ok(crate::clock::Zone::parse(&get(db, "ui.timezone").await?).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        let b = def("security.show_last_login").unwrap();
        assert_eq!(parse_value(b, "on").unwrap(), "true");
        assert!(parse_value(b, "maybe").is_err());
        let i = def("lists.page_size").unwrap();
        assert_eq!(parse_value(i, " 20 ").unwrap(), "20");
        assert!(parse_value(i, "5").is_err());
        assert!(parse_value(i, "x").is_err());
        let c = def("ui.default_language").unwrap();
        assert!(parse_value(c, "de").is_err());
        let h = def("service.business_hours").unwrap();
        assert_eq!(parse_value(h, " 1-5   08:30-17:30 ").unwrap(), "1-5 08:30-17:30");
        assert!(parse_value(h, "8h-17h").is_err());
        let d = def("service.holidays").unwrap();
        assert_eq!(parse_value(d, "2027-01-01, 2026-12-25").unwrap(), "2026-12-25 2027-01-01");
        assert!(parse_value(d, "noël").is_err());
        for d in DEFS {
            assert!(parse_value(d, d.default).is_ok(), "default of {} is invalid", d.key);
        }
    }
}
