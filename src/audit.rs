//! Change history: every create, update, status change and delete of a business record
//! writes, in the same transaction as the change, who, when, which record, which field and
//! old → new. Record types implement [`Audited`]; storage code calls [`created`],
//! [`updated`] or [`deleted`] inside its transaction. The history tab of every record is
//! rendered from [`history`] by `templates/partials/history.html`.

use serde::Serialize;
use similar::{ChangeTag, TextDiff};
use sqlx::FromRow;

use crate::clock::Millis;
use crate::db::{Db, Sql, Tx};
use crate::error::Result;

/// Who made a change, for the change history. `id` is `None` for the system (jobs).
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Option<i64>,
    pub name: String,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn system() -> Actor {
        Actor { id: None, name: "system".into(), request_id: None }
    }
}

/// A record whose changes are kept.
pub trait Audited {
    /// Entity type as stored in `audit_events.entity_type`.
    const ENTITY: &'static str;
    /// The audited fields, rendered as text (`None` for empty).
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub field: std::borrow::Cow<'static, str>,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The fields that differ between two versions of a record.
pub fn diff<T: Audited>(old: &T, new: &T) -> Vec<Change> {
    let new_fields = new.audit_fields();
    old.audit_fields()
        .into_iter()
        .zip(new_fields)
        .filter(|((_, a), (_, b))| a != b)
        .map(|((field, old), (_, new))| Change { field: field.into(), old, new })
        .collect()
}

pub async fn record(tx: &mut Tx, actor: &Actor, at: Millis, entity: &str, entity_id: i64, action: &str, changes: &[Change]) -> Result<()> {
    let one = [Change { field: "".into(), old: None, new: None }];
    let rows: &[Change] = if changes.is_empty() { &one } else { changes };
    // One statement for the whole change (a record has a few dozen fields at most).
    let mut q = Sql::new("INSERT INTO audit_events (at, actor_id, actor_name, entity_type, entity_id, action, field, old_value, new_value, request_id) VALUES ");
    for (i, c) in rows.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push("(")
            .bind(at)
            .push(", ")
            .bind(actor.id)
            .push(", ")
            .bind(actor.name.clone())
            .push(", ")
            .bind(entity.to_string())
            .push(", ")
            .bind(entity_id)
            .push(", ")
            .bind(action.to_string())
            .push(", ")
            .bind(if c.field.is_empty() { None } else { Some(c.field.to_string()) })
            .push(", ")
            .bind(c.old.clone())
            .push(", ")
            .bind(c.new.clone())
            .push(", ")
            .bind(actor.request_id.clone())
            .push(")");
    }
    q.query().execute(&mut **tx).await?;
    Ok(())
}

/// One record's change, for [`record_many`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub entity: &'static str,
    pub entity_id: i64,
    pub action: &'static str,
    pub changes: Vec<Change>,
}

/// The history of a creation: every field that has a value.
pub fn creation<T: Audited>(id: i64, rec: &T) -> Entry {
    let changes = rec
        .audit_fields()
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(field, new)| Change { field: field.into(), old: None, new })
        .collect();
    Entry { entity: T::ENTITY, entity_id: id, action: "create", changes }
}

/// The history of an update: the fields that differ, or `None` when nothing changed.
pub fn update<T: Audited>(id: i64, old: &T, new: &T) -> Option<Entry> {
    let changes = diff(old, new);
    (!changes.is_empty()).then_some(Entry { entity: T::ENTITY, entity_id: id, action: "update", changes })
}

/// A record's stored row (every column but `updated_at`, as text), read in the transaction
/// before an update. After the update, [`Before::unchanged`] tells a no-change save: the
/// caller then rolls back, so that saving a record as it is writes nothing, not even
/// `updated_at`, and no history.
pub struct Before {
    table: &'static str,
    id: i64,
    row: Vec<Option<String>>,
}

async fn row_text(conn: &mut sqlx::AnyConnection, table: &str, id: i64) -> Result<Vec<Option<String>>> {
    use sqlx::{Column, Row};
    let row = sqlx::query(&format!("SELECT * FROM {table} WHERE id = $1")).bind(id).fetch_optional(conn).await?;
    let Some(row) = row else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        if col.name() == "updated_at" {
            continue;
        }
        let v = match row.try_get::<Option<String>, _>(i) {
            Ok(v) => v,
            Err(_) => match row.try_get::<Option<i64>, _>(i) {
                Ok(v) => v.map(|n| n.to_string()),
                Err(_) => row.try_get::<Option<f64>, _>(i)?.map(|n| n.to_string()),
            },
        };
        out.push(v);
    }
    Ok(out)
}

impl Before {
    pub async fn read(conn: &mut sqlx::AnyConnection, table: &'static str, id: i64) -> Result<Before> {
        Ok(Before { table, id, row: row_text(conn, table, id).await? })
    }

    /// Whether the row and the audited fields (which include linked sets: participants,
    /// stock units, technicians…) are as they were.
    pub async fn unchanged<T: Audited>(&self, conn: &mut sqlx::AnyConnection, old: &T, new: &T) -> Result<bool> {
        Ok(diff(old, new).is_empty() && row_text(conn, self.table, self.id).await? == self.row)
    }
}

/// The history of a deletion: every field that had a value.
pub fn deletion<T: Audited>(id: i64, old: &T) -> Entry {
    let changes = old
        .audit_fields()
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(field, old)| Change { field: field.into(), old, new: None })
        .collect();
    Entry { entity: T::ENTITY, entity_id: id, action: "delete", changes }
}

/// Audit rows per statement: they travel as one JSON parameter (see
/// [`crate::db::Backend::json_rows`]), so this only bounds the statement's size.
const ROWS_PER_STATEMENT: usize = 10_000;

/// Records the changes of many records made together by one actor (an import chunk): the
/// same rows as [`record`] for each entry, in order, written by `INSERT … SELECT`s over a
/// JSON array.
pub async fn record_many(tx: &mut Tx, actor: &Actor, at: Millis, entries: &[Entry]) -> Result<()> {
    use crate::db::JsonCol::{Int, Text};
    let empty = [Change { field: "".into(), old: None, new: None }];
    let rows: Vec<(&Entry, &Change)> =
        entries.iter().flat_map(|e| if e.changes.is_empty() { empty.iter() } else { e.changes.iter() }.map(move |c| (e, c))).collect();
    let select = crate::db::Backend::of(tx).json_rows(
        "$5",
        &[("entity_type", Text), ("entity_id", Int), ("action", Text), ("field", Text), ("old_value", Text), ("new_value", Text)],
    );
    let sql = format!(
        "INSERT INTO audit_events (at, actor_id, actor_name, request_id, entity_type, entity_id, action, field, old_value, new_value) \
         SELECT $1, $2, $3, $4, j.entity_type, j.entity_id, j.action, j.field, j.old_value, j.new_value FROM ({select}) j"
    );
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let json: Vec<serde_json::Value> = chunk
            .iter()
            .map(|(e, c)| {
                serde_json::json!([e.entity, e.entity_id, e.action, if c.field.is_empty() { None } else { Some(&c.field) }, c.old, c.new])
            })
            .collect();
        let json = serde_json::to_string(&json).map_err(|e| crate::error::Error::Internal(e.to_string()))?;
        sqlx::query(&sql)
            .bind(at)
            .bind(actor.id)
            .bind(actor.name.clone())
            .bind(actor.request_id.clone())
            .bind(json)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub async fn created<T: Audited>(tx: &mut Tx, actor: &Actor, at: Millis, id: i64, rec: &T) -> Result<()> {
    let e = creation(id, rec);
    record(tx, actor, at, e.entity, id, e.action, &e.changes).await
}

/// Records the differences; writes nothing when nothing changed.
pub async fn updated<T: Audited>(tx: &mut Tx, actor: &Actor, at: Millis, id: i64, old: &T, new: &T) -> Result<()> {
    match update(id, old, new) {
        Some(e) => record(tx, actor, at, e.entity, id, e.action, &e.changes).await,
        None => Ok(()),
    }
}

pub async fn deleted<T: Audited>(tx: &mut Tx, actor: &Actor, at: Millis, id: i64, old: &T) -> Result<()> {
    let e = deletion(id, old);
    record(tx, actor, at, e.entity, id, e.action, &e.changes).await
}

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub entity_type: String,
    pub entity_id: i64,
    pub action: String,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub request_id: Option<String>,
}

/// A record's history, newest first, keyset-paginated on the event id.
///
/// An opportunity's expiration (`sales::expiry`) is a history row of its own kind: the row of
/// `opportunity_expirations`, with the event id it was given from the `audit_events` sequence
/// (migration 38), read here as the event the sweep used to write (`expire`, field `expired`,
/// by the system) and paged with the others.
pub async fn history(db: &Db, entity: &str, id: i64, before: Option<i64>, limit: i64) -> Result<Vec<AuditEvent>> {
    let mut q = Sql::new(
        "SELECT * FROM (SELECT id, at, actor_id, actor_name, entity_type, entity_id, action, field, old_value, new_value, request_id \
         FROM audit_events WHERE entity_type = ",
    );
    q.bind(entity).push(" AND entity_id = ").bind(id);
    if let Some(b) = before {
        q.push(" AND id < ").bind(b);
    }
    q.push(" ORDER BY id DESC LIMIT ").bind(limit).push(") a");
    if entity == "opportunity" {
        q.push(
            " UNION ALL SELECT audit_id, expired_at, NULL, 'system', 'opportunity', opportunity_id, 'expire', 'expired', NULL, 'true', NULL \
             FROM opportunity_expirations WHERE opportunity_id = ",
        );
        q.bind(id).push(" AND audit_id IS NOT NULL");
        if let Some(b) = before {
            q.push(" AND audit_id < ").bind(b);
        }
    }
    q.push(" ORDER BY id DESC LIMIT ").bind(limit);
    Ok(q.query_as().fetch_all(&db.pool).await?)
}

/// One change as shown in the history tab.
#[derive(Debug, Clone)]
pub struct ShownChange {
    pub field: String,
    pub old: String,
    pub new: String,
    /// For long text: the word-level comparison.
    pub words: Option<Vec<WordPart>>,
}

#[derive(Debug, Clone)]
pub struct WordPart {
    /// "same", "ins" or "del".
    pub kind: &'static str,
    pub text: String,
}

/// A group of changes made together (same time, actor and action).
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub at: Millis,
    pub actor_name: String,
    pub action: String,
    pub request_id: Option<String>,
    pub changes: Vec<ShownChange>,
}

/// Text longer than this is compared word by word.
const LONG_TEXT: usize = 60;

pub fn word_diff(old: &str, new: &str) -> Vec<WordPart> {
    let d = TextDiff::from_words(old, new);
    let mut out: Vec<WordPart> = Vec::new();
    for c in d.iter_all_changes() {
        let kind = match c.tag() {
            ChangeTag::Equal => "same",
            ChangeTag::Insert => "ins",
            ChangeTag::Delete => "del",
        };
        match out.last_mut() {
            Some(last) if last.kind == kind => last.text.push_str(c.value()),
            _ => out.push(WordPart { kind, text: c.value().to_string() }),
        }
    }
    out
}

/// Groups events into entries for display.
pub fn entries(events: &[AuditEvent]) -> Vec<HistoryEntry> {
    let mut out: Vec<HistoryEntry> = Vec::new();
    for e in events {
        let change = e.field.as_ref().map(|f| {
            let old = e.old_value.clone().unwrap_or_default();
            let new = e.new_value.clone().unwrap_or_default();
            let words = (e.action == "update" && (old.len() > LONG_TEXT || new.len() > LONG_TEXT)).then(|| word_diff(&old, &new));
            ShownChange { field: f.clone(), old, new, words }
        });
        let same_group = out
            .last()
            .is_some_and(|l| l.at == e.at && l.actor_name == e.actor_name && l.action == e.action && l.request_id == e.request_id);
        if !same_group {
            out.push(HistoryEntry {
                at: e.at,
                actor_name: e.actor_name.clone(),
                action: e.action.clone(),
                request_id: e.request_id.clone(),
                changes: Vec::new(),
            });
        }
        if let (Some(c), Some(last)) = (change, out.last_mut()) {
            last.changes.push(c);
        }
    }
    out
}

/// How a person reads a history: field labels in their language, coded values as their
/// labels, times in the business's zone.
pub struct Reader<'a> {
    pub lang: crate::i18n::Lang,
    pub zone: crate::clock::Zone,
    /// The label of a coded value of a field (`("status", "contacte")` → "Contacté"), when the
    /// page knows it cheaply; `None` shows the value as stored.
    pub value_label: &'a dyn Fn(&str, &str) -> Option<String>,
}

/// Fields whose values are times, recorded as `YYYY-MM-DD HH:MM` in UTC
/// ([`crate::clock::format_ms`]).
const TIME_FIELDS: &[&str] = &["start_at", "end_at", "due_at", "sale_date", "delivery_date", "closed_at", "done_at", "last_login_at"];

/// The label of a field of a record (`field.<entity>.<field>` in the locales), or its name
/// when there is none.
pub fn field_label(lang: crate::i18n::Lang, entity: &str, field: &str) -> String {
    let key = format!("field.{entity}.{field}");
    let text = crate::i18n::t(lang, &key);
    if text == key {
        field.to_string()
    } else {
        text
    }
}

impl Reader<'_> {
    fn value(&self, field: &str, v: String) -> String {
        if TIME_FIELDS.contains(&field) {
            if let Ok(t) = chrono::NaiveDateTime::parse_from_str(&v, "%Y-%m-%d %H:%M") {
                return self.zone.format(t.and_utc().timestamp_millis());
            }
        }
        (self.value_label)(field, &v).unwrap_or(v)
    }
}

/// [`entries`] as `reader` reads them.
pub fn entries_for(events: &[AuditEvent], reader: &Reader<'_>) -> Vec<HistoryEntry> {
    let shown: Vec<AuditEvent> = events
        .iter()
        .cloned()
        .map(|mut e| {
            if let Some(f) = e.field.take() {
                e.old_value = e.old_value.take().map(|v| reader.value(&f, v));
                e.new_value = e.new_value.take().map(|v| reader.value(&f, v));
                e.field = Some(field_label(reader.lang, &e.entity_type, &f));
            }
            e
        })
        .collect();
    entries(&shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_reads_in_the_users_language_and_zone() {
        let ev = |field: &str, old: Option<&str>, new: &str| AuditEvent {
            id: 1,
            at: 0,
            actor_id: None,
            actor_name: "x".into(),
            entity_type: "opportunity".into(),
            entity_id: 1,
            action: "status".into(),
            field: Some(field.into()),
            old_value: old.map(str::to_string),
            new_value: Some(new.into()),
            request_id: None,
        };
        let labels = |f: &str, v: &str| (f == "status" && v == "contacte").then(|| "Contacté".to_string());
        let reader = Reader { lang: crate::i18n::Lang::Fr, zone: crate::clock::Zone::default(), value_label: &labels };
        let e = entries_for(
            &[ev("status", Some("contacte"), "rdv_cedule"), ev("sale_date", None, "2026-11-24 15:00"), ev("colour", None, "blue")],
            &reader,
        );
        let c = &e[0].changes;
        assert_eq!((c[0].field.as_str(), c[0].old.as_str(), c[0].new.as_str()), ("Statut", "Contacté", "rdv_cedule"));
        assert_eq!((c[1].field.as_str(), c[1].new.as_str()), ("Date de vente", "2026-11-24 10:00"), "Toronto time");
        assert_eq!(c[2].field, "colour", "no label: the field's name");
        let en = Reader { lang: crate::i18n::Lang::En, ..reader };
        assert_eq!(entries_for(&[ev("status", None, "x")], &en)[0].changes[0].field, "Status");
    }

    struct R(Option<String>, Option<String>);
    impl Audited for R {
        const ENTITY: &'static str = "r";
        fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
            vec![("a", self.0.clone()), ("b", self.1.clone())]
        }
    }

    #[test]
    fn diff_lists_only_changed_fields() {
        let old = R(Some("x".into()), Some("y".into()));
        let new = R(Some("x".into()), None);
        assert_eq!(diff(&old, &new), vec![Change { field: "b".into(), old: Some("y".into()), new: None }]);
    }

    #[test]
    fn word_diff_marks_added_and_removed_words() {
        let parts = word_diff("the quick brown fox", "the slow brown fox jumps");
        let ins: Vec<_> = parts.iter().filter(|p| p.kind == "ins").map(|p| p.text.trim()).collect();
        let del: Vec<_> = parts.iter().filter(|p| p.kind == "del").map(|p| p.text.trim()).collect();
        assert!(ins.contains(&"slow"));
        assert!(ins.iter().any(|t| t.contains("jumps")));
        assert_eq!(del, vec!["quick"]);
    }
}
