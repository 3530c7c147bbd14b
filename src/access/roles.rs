//! Roles: storage and the default roles every installation starts with.

use serde::Serialize;
use sqlx::FromRow;

use super::{Actor, Right, RightSet, Scope};
use crate::audit::{self, Audited};
use crate::clock::Millis;
use crate::db::{Db, Tx};
use crate::error::{Error, FieldErrors, Result, UniqueField};

/// The longest code of a role (lowercase letters, digits and `_`).
pub const CODE_MAX: usize = 40;

#[derive(Debug, Clone, FromRow)]
struct RoleRow {
    id: i64,
    code: String,
    name_fr: String,
    name_en: String,
    scope: String,
    #[sqlx(try_from = "crate::db::Flag")]
    builtin: bool,
    #[sqlx(try_from = "crate::db::Flag")]
    require_second_factor: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Role {
    pub id: i64,
    pub code: String,
    pub name_fr: String,
    pub name_en: String,
    pub scope: Scope,
    pub builtin: bool,
    /// Its holders must log in with a second factor (one-time codes); those without one can
    /// reach only its enrolment until they set it up.
    pub require_second_factor: bool,
    #[schema(value_type = Vec<String>)]
    #[serde(serialize_with = "ser_rights")]
    pub rights: RightSet,
}

fn ser_rights<S: serde::Serializer>(r: &RightSet, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(r.iter().map(Right::code))
}

impl Role {
    pub fn name(&self, lang: &crate::i18n::Lang) -> &str {
        match lang {
            crate::i18n::Lang::Fr => &self.name_fr,
            crate::i18n::Lang::En => &self.name_en,
        }
    }
}

impl Audited for Role {
    const ENTITY: &'static str = "role";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("code", Some(self.code.clone())),
            ("name_fr", Some(self.name_fr.clone())),
            ("name_en", Some(self.name_en.clone())),
            ("scope", Some(self.scope.code().to_string())),
            ("rights", Some(self.rights.iter().map(Right::code).collect::<Vec<_>>().join(" "))),
            ("require_second_factor", Some(self.require_second_factor.to_string())),
        ]
    }
}

/// Validated input for creating or editing a role.
#[derive(Debug, Clone)]
pub struct RoleInput {
    pub code: String,
    pub name_fr: String,
    pub name_en: String,
    pub scope: Scope,
    pub rights: RightSet,
    pub require_second_factor: bool,
}

impl RoleInput {
    pub fn parse(
        code: &str,
        name_fr: &str,
        name_en: &str,
        scope: &str,
        rights: &[String],
        require_second_factor: bool,
    ) -> Result<RoleInput> {
        let mut errs = FieldErrors::new();
        let code = code.trim().to_lowercase();
        if code.is_empty() || code.len() > CODE_MAX || !code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            errs.add("code", "error.code_format");
        }
        if name_fr.trim().is_empty() {
            errs.add("name_fr", "error.required");
        }
        if name_en.trim().is_empty() {
            errs.add("name_en", "error.required");
        }
        let scope_v = Scope::from_code(scope);
        if scope_v.is_none() {
            errs.add("scope", "error.invalid_choice");
        }
        let mut set = RightSet::default();
        for r in rights {
            match Right::from_code(r) {
                Some(r) => set.insert(r),
                None => errs.add("rights", "error.unknown_right"),
            }
        }
        errs.into_result()?;
        Ok(RoleInput {
            code,
            name_fr: name_fr.trim().to_string(),
            name_en: name_en.trim().to_string(),
            scope: scope_v.unwrap_or(Scope::Own),
            rights: set,
            require_second_factor,
        })
    }
}

async fn rights_of(db: &mut sqlx::AnyConnection, role_id: i64) -> Result<RightSet> {
    let codes: Vec<String> =
        sqlx::query_scalar("SELECT right_code FROM role_rights WHERE role_id = $1").bind(role_id).fetch_all(db).await?;
    Ok(codes.iter().filter_map(|c| Right::from_code(c)).collect())
}

fn to_role(r: RoleRow, rights: RightSet) -> Role {
    Role {
        id: r.id,
        code: r.code,
        name_fr: r.name_fr,
        name_en: r.name_en,
        scope: Scope::from_code(&r.scope).unwrap_or(Scope::Own),
        builtin: r.builtin,
        require_second_factor: r.require_second_factor,
        rights,
    }
}

const SELECT: &str = "SELECT id, code, name_fr, name_en, scope, builtin, require_second_factor FROM roles";

pub async fn list(db: &Db) -> Result<Vec<Role>> {
    let rows: Vec<RoleRow> = sqlx::query_as(&format!("{SELECT} ORDER BY id")).fetch_all(&db.pool).await?;
    let pairs: Vec<(i64, String)> = sqlx::query_as("SELECT role_id, right_code FROM role_rights").fetch_all(&db.pool).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let set = pairs.iter().filter(|(id, _)| *id == r.id).filter_map(|(_, c)| Right::from_code(c)).collect();
            to_role(r, set)
        })
        .collect())
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Role>> {
    let mut conn = db.pool.acquire().await?;
    get_in(&mut conn, id).await
}

async fn get_in(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<Role>> {
    let row: Option<RoleRow> = sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_optional(&mut *conn).await?;
    match row {
        Some(r) => {
            let rights = rights_of(conn, r.id).await?;
            Ok(Some(to_role(r, rights)))
        }
        None => Ok(None),
    }
}

/// The code of the built-in administrator role (every right, every record).
pub const ADMIN: &str = "administrateur";

/// The rights of whoever makes a change: their role's (none once deactivated), or every right
/// for the system (the command line, jobs).
pub async fn rights_of_actor(conn: &mut sqlx::AnyConnection, actor: &Actor) -> Result<RightSet> {
    let Some(id) = actor.id else { return Ok(RightSet::all()) };
    let codes: Vec<String> = sqlx::query_scalar(
        "SELECT rr.right_code FROM role_rights rr JOIN users u ON u.role_id = rr.role_id WHERE u.id = $1 AND u.active = 1",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(codes.iter().filter_map(|c| Right::from_code(c)).collect())
}

/// Nobody hands out a right they do not hold: refuses (on `field`) a role holding a right the
/// actor lacks, whether given to a role or to a user through their role.
pub async fn check_within_actor(
    conn: &mut sqlx::AnyConnection,
    actor: &Actor,
    rights: RightSet,
    field: &str,
    reason: &'static str,
) -> Result<()> {
    let mine = rights_of_actor(conn, actor).await?;
    if rights.minus(mine) == RightSet::default() {
        Ok(())
    } else {
        Err(Error::validation(field, reason))
    }
}

/// Nobody gives a role a wider view than their own: a scope other than theirs and "own"
/// needs the scope "all" (the system has it).
async fn check_scope_within_actor(conn: &mut sqlx::AnyConnection, actor: &Actor, scope: Scope) -> Result<()> {
    let Some(id) = actor.id else { return Ok(()) };
    let mine: Option<String> = sqlx::query_scalar("SELECT r.scope FROM users u JOIN roles r ON r.id = u.role_id WHERE u.id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    let mine = mine.as_deref().and_then(Scope::from_code).unwrap_or(Scope::Own);
    if mine == Scope::All || scope == mine || scope == Scope::Own {
        Ok(())
    } else {
        Err(Error::validation("scope", "error.scope_not_yours"))
    }
}

/// The rights of a role, by id.
pub async fn rights_of_role(conn: &mut sqlx::AnyConnection, role_id: i64) -> Result<RightSet> {
    rights_of(conn, role_id).await
}

pub async fn id_by_code(db: &Db, code: &str) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT id FROM roles WHERE code = $1").bind(code).fetch_optional(&db.pool).await?)
}

async fn write_rights(tx: &mut Tx, role_id: i64, rights: RightSet) -> Result<()> {
    sqlx::query("DELETE FROM role_rights WHERE role_id = $1").bind(role_id).execute(&mut **tx).await?;
    for r in rights.iter() {
        sqlx::query("INSERT INTO role_rights (role_id, right_code) VALUES ($1, $2)")
            .bind(role_id)
            .bind(r.code())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn insert(tx: &mut Tx, input: &RoleInput, builtin: bool, now: Millis) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO roles (code, name_fr, name_en, scope, builtin, created_at, updated_at, require_second_factor) VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING id",
    )
    .bind(&input.code)
    .bind(&input.name_fr)
    .bind(&input.name_en)
    .bind(input.scope.code())
    .bind(builtin as i64)
    .bind(now)
    .bind(input.require_second_factor as i64)
    .fetch_one(&mut **tx)
    .await
    .unique_field("code", "error.code_taken")?;
    write_rights(tx, id, input.rights).await?;
    Ok(id)
}

pub async fn create(db: &Db, actor: &Actor, now: Millis, input: RoleInput) -> Result<Role> {
    let mut tx = db.begin().await?;
    check_within_actor(&mut tx, actor, input.rights, "rights", "error.right_not_yours").await?;
    check_scope_within_actor(&mut tx, actor, input.scope).await?;
    let id = insert(&mut tx, &input, false, now).await?;
    let role = get_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(&mut tx, actor, now, id, &role).await?;
    tx.commit().await?;
    Ok(role)
}

pub async fn update(db: &Db, actor: &Actor, now: Millis, id: i64, input: RoleInput) -> Result<Role> {
    let mut tx = db.begin().await?;
    let old = get_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let before = audit::Before::read(&mut tx, "roles", id).await?;
    // Withdrawing a right is anyone's (with `admin.roles`); granting one is only for its holders.
    check_within_actor(&mut tx, actor, input.rights.minus(old.rights), "rights", "error.right_not_yours").await?;
    if input.scope != old.scope {
        check_scope_within_actor(&mut tx, actor, input.scope).await?;
    }
    // The administrators keep every right and every record: nobody demotes them all at once.
    if old.builtin && old.code == ADMIN {
        let mut errs = FieldErrors::new();
        if input.rights != RightSet::all() {
            errs.add("rights", "error.admin_role_fixed");
        }
        if input.scope != Scope::All {
            errs.add("scope", "error.admin_role_fixed");
        }
        errs.into_result()?;
    }
    // The code of a built-in role is referenced by the command line and the demo data.
    let code = if old.builtin { old.code.clone() } else { input.code.clone() };
    sqlx::query(
        "UPDATE roles SET code = $1, name_fr = $2, name_en = $3, scope = $4, updated_at = $5, require_second_factor = $7 WHERE id = $6",
    )
    .bind(&code)
    .bind(&input.name_fr)
    .bind(&input.name_en)
    .bind(input.scope.code())
    .bind(now)
    .bind(id)
    .bind(input.require_second_factor as i64)
    .execute(&mut *tx)
    .await
    .unique_field("code", "error.code_taken")?;
    write_rights(&mut tx, id, input.rights).await?;
    let new = get_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if before.unchanged(&mut tx, &old, &new).await? {
        tx.rollback().await?;
        return Ok(old);
    }
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(new)
}

pub async fn delete(db: &Db, actor: &Actor, now: Millis, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let old = get_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if old.builtin {
        return Err(Error::InvalidState { reason: "error.role_builtin" });
    }
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role_id = $1").bind(id).fetch_one(&mut *tx).await?;
    if users > 0 {
        return Err(Error::InvalidState { reason: "error.role_in_use" });
    }
    sqlx::query("DELETE FROM roles WHERE id = $1").bind(id).execute(&mut *tx).await?;
    audit::deleted(&mut tx, actor, now, id, &old).await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(())
}

/// The default roles: code, French and English names, scope, rights.
pub fn defaults() -> Vec<RoleInput> {
    use Right::*;
    let admin_rights = RightSet::all();
    let rows: Vec<(&str, &str, &str, Scope, RightSet)> = vec![
        ("administrateur", "Administrateur", "Administrator", Scope::All, admin_rights),
        (
            "directeur_ventes",
            "Directeur des ventes",
            "Sales manager",
            Scope::Subtree,
            [
                UsersRead,
                CustomersRead,
                CustomersCreate,
                CustomersCreateDuplicate,
                CustomersUpdate,
                CustomersMerge,
                CustomersImport,
                CustomersExport,
                OpportunitiesRead,
                OpportunitiesCreate,
                OpportunitiesUpdate,
                OpportunitiesWin,
                OpportunitiesTrash,
                OpportunitiesExport,
                LeadsCreate,
                MeetingsRead,
                MeetingsCreate,
                MeetingsUpdate,
                CallsRead,
                CallsCreate,
                CallsUpdate,
                StockRead,
                StockManage,
                PartnersRead,
            ]
            .into_iter()
            .collect(),
        ),
        (
            "representant",
            "Représentant",
            "Sales representative",
            Scope::Own,
            [
                UsersRead,
                CustomersRead,
                CustomersCreate,
                CustomersUpdate,
                OpportunitiesRead,
                OpportunitiesCreate,
                OpportunitiesUpdate,
                OpportunitiesWin,
                LeadsCreate,
                MeetingsRead,
                MeetingsCreate,
                MeetingsUpdate,
                CallsRead,
                CallsCreate,
                CallsUpdate,
                StockRead,
            ]
            .into_iter()
            .collect(),
        ),
        (
            // The BDC is a central team working for every branch.
            "agent_bdc",
            "Agent BDC",
            "BDC agent",
            Scope::All,
            [
                UsersRead,
                CustomersRead,
                CustomersCreate,
                CustomersUpdate,
                CustomersExport,
                OpportunitiesRead,
                OpportunitiesCreate,
                OpportunitiesUpdate,
                OpportunitiesTrash,
                LeadsCreate,
                MeetingsRead,
                MeetingsCreate,
                MeetingsUpdate,
                CallsRead,
                CallsCreate,
                CallsUpdate,
                StockRead,
            ]
            .into_iter()
            .collect(),
        ),
        (
            "agent_support",
            "Agent de support",
            "Support agent",
            Scope::Unit,
            [
                UsersRead,
                CustomersRead,
                CustomersCreate,
                CustomersUpdate,
                ServiceRequestsRead,
                ServiceRequestsCreate,
                ServiceRequestsUpdate,
                ServiceRequestsExport,
                ServiceContactCreate,
                ServiceContactUpdate,
                ServiceEquipmentManage,
                InterventionsRead,
                InterventionsCreate,
                InterventionsUpdate,
                ReturnsRead,
                ReturnsCreate,
                ReturnsUpdate,
                DocumentsRead,
                DocumentsCreate,
                DocumentsDelete,
                ServiceMailSend,
                CustomersPortal,
                ServiceMessages,
                ServiceInboundManage,
            ]
            .into_iter()
            .collect(),
        ),
        (
            "technicien",
            "Technicien",
            "Technician",
            Scope::Own,
            [
                CustomersRead,
                ServiceRequestsRead,
                InterventionsRead,
                InterventionsUpdate,
                InterventionsPerform,
                ReturnsRead,
                DocumentsRead,
                DocumentsCreate,
            ]
            .into_iter()
            .collect(),
        ),
        (
            "avant_vente",
            "Avant-vente",
            "Pre-sales engineer",
            Scope::Unit,
            [UsersRead, CustomersRead, MeetingsRead, PresalesManage].into_iter().collect(),
        ),
        (
            "responsable_partenaires",
            "Responsable partenaires",
            "Channel manager",
            Scope::Unit,
            [UsersRead, PartnersRead, PartnersManage, NewsPublish].into_iter().collect(),
        ),
    ];
    rows.into_iter()
        .map(|(code, fr, en, scope, rights)| RoleInput {
            code: code.into(),
            name_fr: fr.into(),
            name_en: en.into(),
            scope,
            rights,
            require_second_factor: false,
        })
        .collect()
}

/// A role's scope and rights as stored in `roles.shipped`: `scope|right right …`.
fn encode(scope: Scope, rights: RightSet) -> String {
    format!("{}|{}", scope.code(), rights.iter().map(Right::code).collect::<Vec<_>>().join(" "))
}

fn decode(s: &str) -> Option<(Scope, RightSet)> {
    let (scope, rights) = s.split_once('|')?;
    Some((Scope::from_code(scope)?, rights.split_whitespace().filter_map(Right::from_code).collect()))
}

/// The three-way merge that carries a release's new defaults for a built-in role into a
/// database whose administrators may have changed the role: a right the release added is
/// granted, a right it removed is withdrawn, and every other right stays as the
/// administrators left it; the scope follows the release unless it was changed here.
pub fn merge_defaults(current: (Scope, RightSet), shipped: (Scope, RightSet), new: (Scope, RightSet)) -> (Scope, RightSet) {
    let rights = current.1.minus(shipped.1.minus(new.1)).union(new.1.minus(shipped.1));
    let scope = if current.0 == shipped.0 { new.0 } else { current.0 };
    (scope, rights)
}

/// Creates the default roles that do not exist yet, and brings existing built-in roles up to
/// this release's defaults with [`merge_defaults`] (run at every start; idempotent, and safe
/// when several processes start at once: the first to move `shipped` does the work).
pub async fn ensure_defaults(db: &Db, now: Millis) -> Result<()> {
    for input in defaults() {
        let shipped = encode(input.scope, input.rights);
        let existing: Option<(i64, Option<String>)> = sqlx::query_as("SELECT id, shipped FROM roles WHERE code = $1 AND builtin = 1")
            .bind(&input.code)
            .fetch_optional(&db.pool)
            .await?;
        match existing {
            Some((_, Some(s))) if s == shipped => {}
            Some((id, old)) => upgrade(db, now, id, old, &input, &shipped).await?,
            None if id_by_code(db, &input.code).await?.is_some() => {}
            None => {
                let mut tx = db.begin().await?;
                match insert(&mut tx, &input, true, now).await {
                    Ok(id) => {
                        sqlx::query("UPDATE roles SET shipped = $1 WHERE id = $2").bind(&shipped).bind(id).execute(&mut *tx).await?;
                        let role = get_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
                        audit::created(&mut tx, &Actor::system(), now, id, &role).await?;
                        tx.commit().await?;
                        db.auth_changed();
                    }
                    // Another process created it first.
                    Err(Error::Conflict(_)) => tx.rollback().await?,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(())
}

async fn upgrade(db: &Db, now: Millis, id: i64, old: Option<String>, input: &RoleInput, shipped: &str) -> Result<()> {
    let mut tx = db.begin().await?;
    // Compare and set: a second process starting at the same time finds nothing to move.
    let moved = match &old {
        Some(o) => sqlx::query("UPDATE roles SET shipped = $1 WHERE id = $2 AND shipped = $3").bind(shipped).bind(id).bind(o),
        None => sqlx::query("UPDATE roles SET shipped = $1 WHERE id = $2 AND shipped IS NULL").bind(shipped).bind(id),
    }
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        tx.rollback().await?;
        return Ok(());
    }
    let before = get_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let current = (before.scope, before.rights);
    // Without a record of what was shipped, the role is taken as shipped (not customised).
    let base = old.as_deref().and_then(decode).unwrap_or(current);
    let (scope, rights) = merge_defaults(current, base, (input.scope, input.rights));
    if (scope, rights) != current {
        sqlx::query("UPDATE roles SET scope = $1, updated_at = $2 WHERE id = $3")
            .bind(scope.code())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        write_rights(&mut tx, id, rights).await?;
        let after = get_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
        audit::updated(&mut tx, &Actor::system(), now, id, &before, &after).await?;
    }
    tx.commit().await?;
    db.auth_changed();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(r: &[Right]) -> RightSet {
        r.iter().copied().collect()
    }

    #[test]
    fn a_new_release_adds_and_removes_its_rights_and_keeps_the_administrators_changes() {
        use Right::*;
        let shipped = (Scope::Unit, set(&[CustomersRead, CustomersExport, StockRead]));
        let new = (Scope::All, set(&[CustomersRead, StockRead, UsersRead]));
        // Not customised: becomes the new defaults.
        assert_eq!(merge_defaults(shipped, shipped, new), new);
        // Customised: the administrator added merge and removed stock; the release added
        // users.read and removed export; the scope was changed here, so it stays.
        let current = (Scope::Own, set(&[CustomersRead, CustomersExport, CustomersMerge]));
        let (scope, rights) = merge_defaults(current, shipped, new);
        assert_eq!(scope, Scope::Own);
        assert_eq!(rights, set(&[CustomersRead, CustomersMerge, UsersRead]));
    }

    #[test]
    fn shipped_round_trips() {
        for r in defaults() {
            assert_eq!(decode(&encode(r.scope, r.rights)), Some((r.scope, r.rights)));
        }
    }
}
