//! Groups: named sets of users ("DV Laval"), used as meeting participants and notification
//! targets.

use serde::Serialize;
use sqlx::FromRow;

use crate::access::Actor;
use crate::audit::{self, Audited};
use crate::clock::Millis;
use crate::db::{Db, Tx};
use crate::error::{Error, FieldErrors, Result, UniqueField};

/// The longest name of a group.
pub const NAME_MAX: usize = 120;
/// The longest description of a group.
pub const DESCRIPTION_MAX: usize = 2000;

#[derive(Debug, Clone, FromRow)]
struct GroupRow {
    id: i64,
    name: String,
    description: String,
    org_unit_id: Option<i64>,
    org_unit_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub org_unit_id: Option<i64>,
    pub org_unit_name: Option<String>,
    /// Member user ids.
    pub members: Vec<i64>,
}

impl Audited for Group {
    const ENTITY: &'static str = "group";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        let members = self.members.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(" ");
        vec![
            ("name", Some(self.name.clone())),
            ("description", Some(self.description.clone()).filter(|s| !s.is_empty())),
            ("org_unit", self.org_unit_name.clone()),
            ("members", Some(members).filter(|s| !s.is_empty())),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct GroupInput {
    pub name: String,
    pub description: String,
    pub org_unit_id: Option<i64>,
    pub members: Vec<i64>,
}

impl GroupInput {
    pub fn parse(name: &str, description: &str, org_unit_id: Option<i64>, mut members: Vec<i64>) -> Result<GroupInput> {
        let mut errs = FieldErrors::new();
        let name = name.trim();
        if name.is_empty() {
            errs.add("name", "error.required");
        } else if name.chars().count() > NAME_MAX {
            errs.add("name", "error.too_long");
        }
        if description.chars().count() > DESCRIPTION_MAX {
            errs.add("description", "error.too_long");
        }
        errs.into_result()?;
        members.sort_unstable();
        members.dedup();
        Ok(GroupInput { name: name.to_string(), description: description.trim().to_string(), org_unit_id, members })
    }
}

const SELECT: &str = "SELECT g.id, g.name, g.description, g.org_unit_id, o.name AS org_unit_name FROM user_groups g \
    LEFT JOIN org_units o ON o.id = g.org_unit_id";

pub async fn list(db: &Db) -> Result<Vec<Group>> {
    let rows: Vec<GroupRow> = sqlx::query_as(&format!("{SELECT} ORDER BY g.name, g.id")).fetch_all(&db.pool).await?;
    let pairs: Vec<(i64, i64)> =
        sqlx::query_as("SELECT group_id, user_id FROM user_group_members ORDER BY user_id").fetch_all(&db.pool).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let members = pairs.iter().filter(|(g, _)| *g == r.id).map(|(_, u)| *u).collect();
            to_group(r, members)
        })
        .collect())
}

fn to_group(r: GroupRow, members: Vec<i64>) -> Group {
    Group { id: r.id, name: r.name, description: r.description, org_unit_id: r.org_unit_id, org_unit_name: r.org_unit_name, members }
}

pub async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<Group>> {
    let row: Option<GroupRow> = sqlx::query_as(&format!("{SELECT} WHERE g.id = $1")).bind(id).fetch_optional(&mut *conn).await?;
    let Some(row) = row else { return Ok(None) };
    let members: Vec<i64> =
        sqlx::query_scalar("SELECT user_id FROM user_group_members WHERE group_id = $1 ORDER BY user_id").bind(id).fetch_all(conn).await?;
    Ok(Some(to_group(row, members)))
}

async fn check_refs(tx: &mut Tx, input: &GroupInput) -> Result<()> {
    let mut errs = FieldErrors::new();
    if let Some(u) = input.org_unit_id {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM org_units WHERE id = $1").bind(u).fetch_one(&mut **tx).await?;
        if n == 0 {
            errs.add("org_unit_id", "error.unknown_org_unit");
        }
    }
    for m in &input.members {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1").bind(*m).fetch_one(&mut **tx).await?;
        if n == 0 {
            errs.add("members", "error.unknown_user");
            break;
        }
    }
    errs.into_result()
}

async fn write_members(tx: &mut Tx, id: i64, members: &[i64]) -> Result<()> {
    sqlx::query("DELETE FROM user_group_members WHERE group_id = $1").bind(id).execute(&mut **tx).await?;
    for m in members {
        sqlx::query("INSERT INTO user_group_members (group_id, user_id) VALUES ($1, $2)").bind(id).bind(*m).execute(&mut **tx).await?;
    }
    Ok(())
}

pub async fn create(db: &Db, actor: &Actor, now: Millis, input: &GroupInput) -> Result<Group> {
    let mut tx = db.begin().await?;
    check_refs(&mut tx, input).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO user_groups (name, description, org_unit_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(&input.name)
    .bind(&input.description)
    .bind(input.org_unit_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .unique_field("name", "error.name_taken")?;
    write_members(&mut tx, id, &input.members).await?;
    let g = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(&mut tx, actor, now, id, &g).await?;
    tx.commit().await?;
    Ok(g)
}

pub async fn update(db: &Db, actor: &Actor, now: Millis, id: i64, input: &GroupInput) -> Result<Group> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let before = audit::Before::read(&mut tx, "user_groups", id).await?;
    check_refs(&mut tx, input).await?;
    sqlx::query("UPDATE user_groups SET name = $1, description = $2, org_unit_id = $3, updated_at = $4 WHERE id = $5")
        .bind(&input.name)
        .bind(&input.description)
        .bind(input.org_unit_id)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .unique_field("name", "error.name_taken")?;
    write_members(&mut tx, id, &input.members).await?;
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if before.unchanged(&mut tx, &old, &new).await? {
        tx.rollback().await?;
        return Ok(old);
    }
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    Ok(new)
}

pub async fn delete(db: &Db, actor: &Actor, now: Millis, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    sqlx::query("DELETE FROM user_groups WHERE id = $1").bind(id).execute(&mut *tx).await?;
    audit::deleted(&mut tx, actor, now, id, &old).await?;
    tx.commit().await?;
    Ok(())
}

/// Email addresses of a group's active members (for notifications).
pub async fn member_emails(db: &Db, id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT u.email FROM user_group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = $1 AND u.active = $2 ORDER BY u.email",
    )
    .bind(id)
    .bind(1i64)
    .fetch_all(&db.pool)
    .await?)
}
