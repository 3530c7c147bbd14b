//! Saved views: a list's filters, columns and sort under a name, personal or shared with
//! the owner's team. Saving never silently changes the view in use: "save as new view"
//! ([`create`]) and "update this view" ([`update`]) are distinct actions, and only the owner
//! updates or deletes a view.

use serde::Serialize;
use sqlx::FromRow;

use crate::access::Actor;
use crate::audit::{self, Audited};
use crate::clock::Millis;
use crate::db::Db;
use crate::error::{Error, FieldErrors, Result};

/// The longest name of a saved view.
pub const NAME_MAX: usize = 80;

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct View {
    pub id: i64,
    pub entity: String,
    pub name: String,
    pub owner_id: i64,
    /// The team the view is shared with, if any.
    pub shared_unit_id: Option<i64>,
    /// The list's query string (filters, `cols`, `sort`).
    pub query: String,
}

impl Audited for View {
    const ENTITY: &'static str = "saved_view";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("entity", Some(self.entity.clone())),
            ("name", Some(self.name.clone())),
            ("shared_unit_id", self.shared_unit_id.map(|u| u.to_string())),
            ("query", Some(self.query.clone())),
        ]
    }
}

/// Keeps only the query parameters a view may hold, in a stable order.
pub fn normalise_query(raw: &str, allowed: &[&str]) -> String {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.trim_start_matches('?')).unwrap_or_default();
    let mut kept: Vec<(String, String)> = pairs.into_iter().filter(|(k, v)| allowed.contains(&k.as_str()) && !v.is_empty()).collect();
    kept.sort();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

const SELECT: &str = "SELECT id, entity, name, owner_id, shared_unit_id, query FROM saved_views";

/// The units whose shared views reach a user of unit `$n`: that unit and every unit above it
/// (a view shared with a branch reaches the branch's teams). Completed by the placeholder.
const SHARED_WITH: &str = "SELECT a.id FROM org_units a JOIN org_units mine ON mine.path LIKE a.path || '%' WHERE mine.id = ";

/// The views a user may use for `entity`: their own and those shared with their unit or a
/// unit above it.
pub async fn usable(db: &Db, entity: &str, user_id: i64, unit_id: Option<i64>) -> Result<Vec<View>> {
    Ok(sqlx::query_as(&format!(
        "{SELECT} WHERE entity = $1 AND (owner_id = $2 OR shared_unit_id IN ({SHARED_WITH}$3)) ORDER BY name, id LIMIT 200"
    ))
    .bind(entity)
    .bind(user_id)
    .bind(unit_id.unwrap_or(-1))
    .fetch_all(&db.pool)
    .await?)
}

pub async fn get_usable(db: &Db, entity: &str, user_id: i64, unit_id: Option<i64>, id: i64) -> Result<Option<View>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE id = $1 AND entity = $2 AND (owner_id = $3 OR shared_unit_id IN ({SHARED_WITH}$4))"))
        .bind(id)
        .bind(entity)
        .bind(user_id)
        .bind(unit_id.unwrap_or(-1))
        .fetch_optional(&db.pool)
        .await?)
}

fn check_name(name: &str) -> Result<String> {
    let n = name.trim();
    let mut errs = FieldErrors::new();
    if n.is_empty() {
        errs.add("name", "error.required");
    } else if n.chars().count() > NAME_MAX {
        errs.add("name", "error.too_long");
    }
    errs.into_result()?;
    Ok(n.to_string())
}

/// Saves a new view. `share_with` is the owner's unit when sharing with the team.
pub async fn create(db: &Db, actor: &Actor, now: Millis, entity: &str, name: &str, query: &str, share_with: Option<i64>) -> Result<View> {
    let name = check_name(name)?;
    let owner = actor.id.ok_or(Error::Forbidden)?;
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO saved_views (entity, name, owner_id, shared_unit_id, query, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(entity)
    .bind(&name)
    .bind(owner)
    .bind(share_with)
    .bind(query)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let v: View = sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_one(&mut *tx).await?;
    audit::created(&mut tx, actor, now, id, &v).await?;
    tx.commit().await?;
    Ok(v)
}

/// A view of list `entity` the actor owns, else `NotFound` (someone else's view is not
/// revealed, as for records).
async fn owned(tx: &mut crate::db::Tx, actor: &Actor, entity: &str, id: i64) -> Result<View> {
    let v: Option<View> =
        sqlx::query_as(&format!("{SELECT} WHERE id = $1 AND entity = $2")).bind(id).bind(entity).fetch_optional(&mut **tx).await?;
    v.filter(|v| Some(v.owner_id) == actor.id).ok_or(Error::NotFound)
}

/// Replaces the filters of a view the actor owns.
pub async fn update(db: &Db, actor: &Actor, now: Millis, entity: &str, id: i64, query: &str) -> Result<View> {
    let mut tx = db.begin().await?;
    let old = owned(&mut tx, actor, entity, id).await?;
    if old.query == query {
        return Ok(old);
    }
    sqlx::query("UPDATE saved_views SET query = $1, updated_at = $2 WHERE id = $3")
        .bind(query)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let new: View = sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_one(&mut *tx).await?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    Ok(new)
}

pub async fn delete(db: &Db, actor: &Actor, now: Millis, entity: &str, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let old = owned(&mut tx, actor, entity, id).await?;
    sqlx::query("DELETE FROM saved_views WHERE id = $1").bind(id).execute(&mut *tx).await?;
    audit::deleted(&mut tx, actor, now, id, &old).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn queries_are_normalised() {
        assert_eq!(
            super::normalise_query("?sort=recent&q=tre&after=xyz&evil=1&kind=", &["q", "kind", "sort", "cols"]),
            "q=tre&sort=recent"
        );
    }
}
