//! Org units. Each unit stores its materialised path (`/1/4/9/`), so that "this unit and
//! everything below it" is one indexed `LIKE '/1/4/%'` (see `access::Visibility`).

use serde::Serialize;
use sqlx::FromRow;

use crate::access::Actor;
use crate::audit::{self, Audited};
use crate::clock::Millis;
use crate::db::{Db, Tx};
use crate::error::{Error, FieldErrors, Result};

/// The longest name of a unit.
pub const NAME_MAX: usize = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    Company,
    Region,
    Branch,
    Team,
}

impl UnitKind {
    pub const ALL: [UnitKind; 4] = [UnitKind::Company, UnitKind::Region, UnitKind::Branch, UnitKind::Team];
    pub fn code(self) -> &'static str {
        match self {
            UnitKind::Company => "company",
            UnitKind::Region => "region",
            UnitKind::Branch => "branch",
            UnitKind::Team => "team",
        }
    }
    pub fn from_code(s: &str) -> Option<UnitKind> {
        UnitKind::ALL.into_iter().find(|k| k.code() == s)
    }
    fn rank(self) -> u8 {
        self as u8
    }
}

#[derive(Debug, Clone, FromRow)]
struct UnitRow {
    id: i64,
    parent_id: Option<i64>,
    kind: String,
    name: String,
    path: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrgUnit {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub kind: UnitKind,
    pub name: String,
    pub path: String,
}

impl OrgUnit {
    pub fn depth(&self) -> usize {
        self.path.matches('/').count().saturating_sub(2)
    }
}

impl From<UnitRow> for OrgUnit {
    fn from(r: UnitRow) -> Self {
        OrgUnit {
            id: r.id,
            parent_id: r.parent_id,
            kind: UnitKind::from_code(&r.kind).unwrap_or(UnitKind::Team),
            name: r.name,
            path: r.path,
        }
    }
}

impl Audited for OrgUnit {
    const ENTITY: &'static str = "org_unit";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("name", Some(self.name.clone())),
            ("kind", Some(self.kind.code().to_string())),
            ("parent_id", self.parent_id.map(|p| p.to_string())),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct UnitInput {
    pub name: String,
    pub kind: UnitKind,
    pub parent_id: Option<i64>,
}

impl UnitInput {
    pub fn parse(name: &str, kind: &str, parent_id: Option<i64>) -> Result<UnitInput> {
        let mut errs = FieldErrors::new();
        let name = name.trim();
        if name.is_empty() {
            errs.add("name", "error.required");
        } else if name.chars().count() > NAME_MAX {
            errs.add("name", "error.too_long");
        }
        let kind = UnitKind::from_code(kind);
        if kind.is_none() {
            errs.add("kind", "error.invalid_choice");
        }
        errs.into_result()?;
        Ok(UnitInput { name: name.to_string(), kind: kind.unwrap_or(UnitKind::Team), parent_id })
    }
}

const SELECT: &str = "SELECT id, parent_id, kind, name, path FROM org_units";

/// Every unit, in tree order (parents before children, siblings by name).
pub async fn tree(db: &Db) -> Result<Vec<OrgUnit>> {
    let rows: Vec<UnitRow> = sqlx::query_as(&format!("{SELECT} ORDER BY path")).fetch_all(&db.pool).await?;
    let units: Vec<OrgUnit> = rows.into_iter().map(OrgUnit::from).collect();
    // Order siblings by name while keeping each subtree under its parent.
    let mut out = Vec::with_capacity(units.len());
    fn walk(units: &[OrgUnit], parent: Option<i64>, out: &mut Vec<OrgUnit>) {
        let mut kids: Vec<&OrgUnit> = units.iter().filter(|u| u.parent_id == parent).collect();
        kids.sort_by_key(|u| u.name.to_lowercase());
        for k in kids {
            out.push(k.clone());
            walk(units, Some(k.id), out);
        }
    }
    walk(&units, None, &mut out);
    Ok(out)
}

pub async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<OrgUnit>> {
    let row: Option<UnitRow> = sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_optional(conn).await?;
    Ok(row.map(OrgUnit::from))
}

async fn check_parent(tx: &mut Tx, input: &UnitInput, moving: Option<&OrgUnit>) -> Result<Option<OrgUnit>> {
    let Some(pid) = input.parent_id else {
        if input.kind != UnitKind::Company {
            return Err(Error::validation("parent_id", "error.parent_required"));
        }
        return Ok(None);
    };
    let parent = get(tx, pid).await?.ok_or_else(|| Error::validation("parent_id", "error.unknown_org_unit"))?;
    if let Some(me) = moving {
        if parent.path.starts_with(&me.path) {
            return Err(Error::validation("parent_id", "error.parent_cycle"));
        }
    }
    if parent.kind.rank() >= input.kind.rank() {
        return Err(Error::validation("kind", "error.kind_below_parent"));
    }
    Ok(Some(parent))
}

pub async fn create(db: &Db, actor: &Actor, now: Millis, input: &UnitInput) -> Result<OrgUnit> {
    let mut tx = db.begin().await?;
    let parent = check_parent(&mut tx, input, None).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO org_units (parent_id, kind, name, path, created_at, updated_at) VALUES ($1, $2, $3, '', $4, $4) RETURNING id",
    )
    .bind(input.parent_id)
    .bind(input.kind.code())
    .bind(&input.name)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let path = format!("{}{id}/", parent.map(|p| p.path).unwrap_or_else(|| "/".into()));
    sqlx::query("UPDATE org_units SET path = $1 WHERE id = $2").bind(&path).bind(id).execute(&mut *tx).await?;
    let unit = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(&mut tx, actor, now, id, &unit).await?;
    tx.commit().await?;
    Ok(unit)
}

/// Renames, re-kinds or moves a unit; moving rewrites the paths of its whole subtree.
pub async fn update(db: &Db, actor: &Actor, now: Millis, id: i64, input: &UnitInput) -> Result<OrgUnit> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let before = audit::Before::read(&mut tx, "org_units", id).await?;
    let parent = check_parent(&mut tx, input, Some(&old)).await?;
    let kids: Vec<String> = sqlx::query_scalar("SELECT kind FROM org_units WHERE parent_id = $1").bind(id).fetch_all(&mut *tx).await?;
    if kids.iter().filter_map(|k| UnitKind::from_code(k)).any(|k| k.rank() <= input.kind.rank()) {
        return Err(Error::validation("kind", "error.kind_above_children"));
    }
    let new_path = format!("{}{id}/", parent.map(|p| p.path).unwrap_or_else(|| "/".into()));
    sqlx::query("UPDATE org_units SET name = $1, kind = $2, parent_id = $3, updated_at = $4 WHERE id = $5")
        .bind(&input.name)
        .bind(input.kind.code())
        .bind(input.parent_id)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if new_path != old.path {
        sqlx::query("UPDATE org_units SET path = $1 || SUBSTR(path, CAST($2 AS INTEGER)) WHERE path LIKE $3")
            .bind(&new_path)
            .bind(old.path.len() as i64 + 1)
            .bind(format!("{}%", old.path))
            .execute(&mut *tx)
            .await?;
    }
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if before.unchanged(&mut tx, &old, &new).await? {
        tx.rollback().await?;
        return Ok(old);
    }
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(new)
}

/// Deletes a unit that has no sub-units, users or groups.
pub async fn delete(db: &Db, actor: &Actor, now: Millis, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let used: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM org_units WHERE parent_id = $1) + (SELECT COUNT(*) FROM users WHERE org_unit_id = $1) \
         + (SELECT COUNT(*) FROM user_groups WHERE org_unit_id = $1)",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if used > 0 {
        return Err(Error::InvalidState { reason: "error.org_unit_in_use" });
    }
    sqlx::query("DELETE FROM org_units WHERE id = $1").bind(id).execute(&mut *tx).await?;
    audit::deleted(&mut tx, actor, now, id, &old).await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(())
}

/// The branch at or above the unit aliased `o` (the rule of the home unit, one place for the
/// principal's query and [`home_of`]): select a column of `b` before it.
pub const BRANCH_ABOVE: &str =
    "FROM org_units b WHERE b.kind = 'branch' AND o.path LIKE b.path || '%' ORDER BY LENGTH(b.path) DESC LIMIT 1";

/// A user's home unit: the branch at or above their unit, else their unit (a BDC team under a
/// region works for every branch). `None` for a user without a unit.
pub async fn home_of(conn: &mut sqlx::AnyConnection, user_id: i64) -> Result<Option<i64>> {
    let home: Option<Option<i64>> = sqlx::query_scalar(&format!(
        "SELECT COALESCE((SELECT b.id {BRANCH_ABOVE}), o.id) FROM users u JOIN org_units o ON o.id = u.org_unit_id WHERE u.id = $1"
    ))
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    Ok(home.flatten())
}

/// Where a new record goes when its form or API call names no owner or unit: owned by its
/// creator, in the home unit of its owner. A record is never left without either (the system,
/// which has no unit, keeps what it was given).
pub async fn placement(
    conn: &mut sqlx::AnyConnection,
    actor: &Actor,
    unit: Option<i64>,
    owner: Option<i64>,
) -> Result<(Option<i64>, Option<i64>)> {
    let owner = owner.or(actor.id);
    let unit = match (unit, owner) {
        (Some(u), _) => Some(u),
        (None, Some(o)) => home_of(conn, o).await?,
        (None, None) => None,
    };
    Ok((unit, owner))
}

/// `col IN (the unit `unit` and every unit below it)`: a record filed under a team of a branch
/// is the branch's too, as the lists and the users of a branch count it.
pub fn within(col: &str, unit: i64) -> crate::db::sql::Sql {
    let mut q = crate::db::sql::Sql::new(col);
    q.push(" IN (SELECT d.id FROM org_units d JOIN org_units p ON d.path LIKE p.path || '%' WHERE p.id = ").bind(unit).push(")");
    q
}
