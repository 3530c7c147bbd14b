//! Staff users: storage and rules. Lists are filtered by the caller's visibility (the
//! user record's owner is the user itself, its unit the user's org unit).

use serde::Serialize;
use sqlx::FromRow;

use super::{parse_email, password, Email};
use crate::access::{roles, Actor, Visibility};
use crate::audit::{self, Audited};
use crate::clock::Millis;
use crate::db::page::{self, Count, Page, PageReq, Sort, SortKey};
use crate::db::{Db, Sql, Tx};
use crate::error::{Error, FieldErrors, Result, UniqueField};
use crate::i18n::Lang;

/// The longest user name, in characters (trimmed).
pub const NAME_MAX: usize = 200;

#[derive(Debug, Clone, FromRow)]
struct UserRow {
    id: i64,
    email: String,
    name: String,
    language: String,
    #[sqlx(try_from = "crate::db::Flag")]
    active: bool,
    role_id: i64,
    role_code: String,
    role_name_fr: String,
    role_name_en: String,
    org_unit_id: Option<i64>,
    org_unit_name: Option<String>,
    last_login_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub language: Lang,
    pub active: bool,
    pub role_id: i64,
    pub role_code: String,
    pub role_name_fr: String,
    pub role_name_en: String,
    pub org_unit_id: Option<i64>,
    pub org_unit_name: Option<String>,
    /// Admin-only, system-set: when the user last logged in.
    pub last_login_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            email: r.email,
            name: r.name,
            language: Lang::parse(&r.language).unwrap_or_default(),
            active: r.active,
            role_id: r.role_id,
            role_code: r.role_code,
            role_name_fr: r.role_name_fr,
            role_name_en: r.role_name_en,
            org_unit_id: r.org_unit_id,
            org_unit_name: r.org_unit_name,
            last_login_at: r.last_login_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl User {
    pub fn role_name(&self, lang: &Lang) -> &str {
        match lang {
            Lang::Fr => &self.role_name_fr,
            Lang::En => &self.role_name_en,
        }
    }
}

impl Audited for User {
    const ENTITY: &'static str = "user";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("email", Some(self.email.clone())),
            ("name", Some(self.name.clone())),
            ("language", Some(self.language.code().to_string())),
            ("active", Some(self.active.to_string())),
            ("role", Some(self.role_code.clone())),
            ("org_unit", self.org_unit_name.clone()),
        ]
    }
}

/// The JSON shape of a user. `last_login_at` is an admin-only field: present only for
/// callers who see hidden fields, and never accepted as input.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserOut {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub language: Lang,
    pub active: bool,
    pub role: String,
    pub org_unit_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl UserOut {
    pub fn new(u: &User, sees_hidden: bool) -> UserOut {
        UserOut {
            id: u.id,
            email: u.email.clone(),
            name: u.name.clone(),
            language: u.language,
            active: u.active,
            role: u.role_code.clone(),
            org_unit_id: u.org_unit_id,
            last_login_at: if sees_hidden { u.last_login_at.map(crate::clock::rfc3339) } else { None },
            created_at: crate::clock::rfc3339(u.created_at),
            updated_at: crate::clock::rfc3339(u.updated_at),
        }
    }
}

/// Validated input for creating or editing a user.
#[derive(Debug, Clone)]
pub struct UserInput {
    pub email: Email,
    pub name: String,
    pub language: Lang,
    pub role_code: String,
    pub org_unit_id: Option<i64>,
    pub active: bool,
}

/// Raw user input, as typed in a form or sent as JSON.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserForm {
    pub email: String,
    pub name: String,
    #[serde(default)]
    pub language: Option<String>,
    pub role: String,
    #[serde(default)]
    pub org_unit_id: Option<i64>,
    #[serde(default)]
    pub active: Option<bool>,
    /// Only when creating: the initial password.
    #[serde(default)]
    pub password: Option<String>,
}

impl UserForm {
    pub fn parse(&self) -> Result<UserInput> {
        let mut errs = FieldErrors::new();
        let email = Email::parse(&self.email);
        if let Err(r) = &email {
            errs.add("email", r);
        }
        let name = self.name.trim().to_string();
        if name.is_empty() {
            errs.add("name", "error.required");
        } else if name.chars().count() > NAME_MAX {
            errs.add("name", "error.too_long");
        }
        let language = match self.language.as_deref().filter(|s| !s.is_empty()) {
            None => Some(Lang::Fr),
            Some(s) => Lang::parse(s),
        };
        if language.is_none() {
            errs.add("language", "error.invalid_choice");
        }
        if self.role.trim().is_empty() {
            errs.add("role", "error.required");
        }
        if let Some(p) = &self.password {
            if let Err(Error::Validation(e)) = password::validate(p, &self.email) {
                errs.0.extend(e.0);
            }
        }
        match (email, language) {
            (Ok(email), Some(language)) if errs.is_empty() => Ok(UserInput {
                email,
                name,
                language,
                role_code: self.role.trim().to_string(),
                org_unit_id: self.org_unit_id,
                active: self.active.unwrap_or(true),
            }),
            _ => Err(Error::Validation(errs)),
        }
    }
}

const SELECT: &str = "SELECT u.id, u.email, u.name, u.language, u.active, u.role_id, r.code AS role_code, \
    r.name_fr AS role_name_fr, r.name_en AS role_name_en, u.org_unit_id, o.name AS org_unit_name, \
    u.last_login_at, u.created_at, u.updated_at \
    FROM users u JOIN roles r ON r.id = u.role_id LEFT JOIN org_units o ON o.id = u.org_unit_id";

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub q: Option<String>,
    pub role: Option<String>,
    pub org_unit_id: Option<i64>,
    pub active: Option<bool>,
    /// The order of [`list`] (default: by name).
    pub sort: Option<Sort>,
}

/// The orders of the user lists (`sort=code`, `-code` descending).
pub static SORTS: [SortKey; 5] = [
    SortKey::text("name", "u.sort_key"),
    SortKey::text("email", "u.email"),
    SortKey::text("unit", "COALESCE(o.name, '')"),
    SortKey::int("last_login", "COALESCE(u.last_login_at, 0)").desc_first(),
    SortKey::int("created", "u.id").desc_first(),
];

/// By name, A → Z.
pub fn default_sort() -> Sort {
    Sort::by(&SORTS[0])
}

fn filtered(select: &str, vis: &Visibility, filter: &UserFilter) -> Sql {
    let mut q = Sql::new(select);
    q.push(" WHERE ").append(vis.filter("u.id", "u.org_unit_id"));
    if let Some(text) = filter.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(m) = crate::search::matching(User::ENTITY, "u.id", text) {
            q.push(" AND ").append(m);
        }
    }
    if let Some(role) = &filter.role {
        q.push(" AND r.code = ").bind(role.as_str());
    }
    if let Some(unit) = filter.org_unit_id {
        q.push(" AND u.org_unit_id = ").bind(unit);
    }
    if let Some(active) = filter.active {
        q.push(" AND u.active = ").bind(active);
    }
    q
}

/// Users visible to `vis`, matching `filter`, in the filter's order.
pub async fn list(db: &Db, vis: &Visibility, filter: &UserFilter, page: &PageReq) -> Result<Page<User>> {
    let sort = filter.sort.unwrap_or_else(default_sort);
    let mut q = filtered(&page::keyed_select(SELECT, &sort), vis, filter);
    page::keyset(&mut q, &sort, "u.id", page)?;
    let rows: Vec<page::Keyed<UserRow>> = q.query_as().fetch_all(&db.pool).await?;
    Ok(Page::keyed(rows, page, |r: &UserRow| r.id).map(User::from))
}

/// How many users [`list`] would return, up to [`page::COUNT_CAP`].
pub async fn count(db: &Db, vis: &Visibility, filter: &UserFilter) -> Result<Count> {
    let from = "SELECT 1 FROM users u JOIN roles r ON r.id = u.role_id";
    let mut conn = db.pool.acquire().await?;
    page::count_capped(&mut conn, filtered(from, vis, filter), page::COUNT_CAP).await
}

/// A user, if it exists and `vis` may see it.
pub async fn get_visible(db: &Db, vis: &Visibility, id: i64) -> Result<Option<User>> {
    let mut q = Sql::new(SELECT);
    q.push(" WHERE u.id = ").bind(id).push(" AND ").append(vis.filter("u.id", "u.org_unit_id"));
    let row: Option<UserRow> = q.query_as().fetch_optional(&db.pool).await?;
    Ok(row.map(User::from))
}

pub async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as(&format!("{SELECT} WHERE u.id = $1")).bind(id).fetch_optional(conn).await?;
    Ok(row.map(User::from))
}

pub async fn by_email(db: &Db, email: &str) -> Result<Option<User>> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("{SELECT} WHERE u.email = $1")).bind(email.trim().to_lowercase()).fetch_optional(&db.pool).await?;
    Ok(row.map(User::from))
}

/// Active users by name, for pickers (group members…).
/// An active staff member as pickers show them (owner, technician, participant, recipient
/// lists): three columns, since every such page loads the whole list.
#[derive(Debug, Clone, FromRow)]
pub struct Staff {
    pub id: i64,
    pub name: String,
    pub email: String,
}

/// The users a picker bound by no directory offers (an administrator choosing a group's
/// members): every active user, or those whose name or email starts with the words of `q`,
/// the first [`PICK_LIMIT`] by name, and whether more match (the page then asks for a
/// search); plus the ones the record already has (`keep`, even inactive), so that saving it
/// as it is keeps them.
pub async fn pick_active(db: &Db, q: &str, keep: &[i64]) -> Result<(Vec<Staff>, bool)> {
    let mut sql = Sql::new("SELECT u.id, u.name, u.email FROM users u WHERE u.active = ");
    sql.bind(1i64);
    if let Some(m) = crate::search::matching(User::ENTITY, "u.id", q) {
        sql.push(" AND ").append(m);
    }
    sql.push(" ORDER BY u.sort_key, u.id LIMIT ").bind(PICK_LIMIT + 1);
    let mut all: Vec<Staff> = sql.query_as().fetch_all(&db.pool).await?;
    let more = all.len() as i64 > PICK_LIMIT;
    all.truncate(PICK_LIMIT as usize);
    all.extend(missing_of(db, &all, keep).await?);
    Ok((all, more))
}

/// The users of `keep` that `listed` leaves out, in one statement.
async fn missing_of(db: &Db, listed: &[Staff], keep: &[i64]) -> Result<Vec<Staff>> {
    let missing: Vec<i64> = keep.iter().copied().filter(|id| !listed.iter().any(|u| u.id == *id)).collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new("SELECT id, name, email FROM users WHERE id IN (");
    for (i, id) in missing.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.bind(*id);
    }
    q.push(") ORDER BY sort_key, id");
    Ok(q.query_as::<Staff>().fetch_all(&db.pool).await?)
}

/// The most users a pick-list shows (the first by name). A directory larger than this is
/// not searched from the form yet: the list is cut there.
pub const PICK_LIMIT: i64 = 200;

/// The users a form offers someone (owner, participants, technicians, whose calendar): the
/// active users of the directory they see (`vis`, as on `/users`; at most [`PICK_LIMIT`]),
/// plus the ones the record already has (`keep`, even inactive or outside it), so that
/// saving the record as it is keeps them.
pub async fn pickable(db: &Db, vis: &Visibility, keep: &[i64]) -> Result<Vec<Staff>> {
    pick(db, vis, None, keep).await
}

/// [`pickable`], of those whose role holds `right` (the technicians an intervention may be
/// given: `service.interventions.perform`), plus the record's own (`keep`).
pub async fn pickable_holding(db: &Db, vis: &Visibility, right: crate::access::Right, keep: &[i64]) -> Result<Vec<Staff>> {
    pick(db, vis, Some(right), keep).await
}

async fn pick(db: &Db, vis: &Visibility, right: Option<crate::access::Right>, keep: &[i64]) -> Result<Vec<Staff>> {
    let mut q = Sql::new("SELECT u.id, u.name, u.email FROM users u WHERE u.active = ");
    q.bind(1i64).push(" AND ").append(vis.filter("u.id", "u.org_unit_id"));
    if let Some(r) = right {
        q.push(" AND EXISTS (SELECT 1 FROM role_rights rr WHERE rr.role_id = u.role_id AND rr.right_code = ")
            .bind(r.code().to_string())
            .push(")");
    }
    q.push(" ORDER BY u.sort_key, u.id LIMIT ").bind(PICK_LIMIT);
    let mut all: Vec<Staff> = q.query_as().fetch_all(&db.pool).await?;
    // The record's own users, when the page above left them out.
    all.extend(missing_of(db, &all, keep).await?);
    Ok(all)
}

/// The active people of a branch (its sub-units included) who hold `right`, among those the
/// viewer sees: the columns of a branch's calendar or planning (at most [`PICK_LIMIT`]).
pub async fn of_branch_with_right(db: &Db, vis: &Visibility, branch_id: i64, right: crate::access::Right) -> Result<Vec<Staff>> {
    let mut q = Sql::new("SELECT u.id, u.name, u.email FROM users u WHERE u.active = ");
    q.bind(1i64)
        .push(" AND u.org_unit_id IN (SELECT c.id FROM org_units c, org_units b WHERE b.id = ")
        .bind(branch_id)
        .push(" AND c.path LIKE b.path || '%')")
        .push(" AND EXISTS (SELECT 1 FROM role_rights rr WHERE rr.role_id = u.role_id AND rr.right_code = ")
        .bind(right.code().to_string())
        .push(") AND ")
        .append(vis.filter("u.id", "u.org_unit_id"))
        .push(" ORDER BY u.sort_key, u.id LIMIT ")
        .bind(PICK_LIMIT);
    Ok(q.query_as().fetch_all(&db.pool).await?)
}

/// An owner chosen by someone for a customer, an opportunity or a request is an active user
/// of the directory they see, as the pick-list offers them ([`pickable`]); the record's
/// current owner (`current`) stays a valid choice whoever it is, so that a record saved as it
/// is keeps it. Otherwise `422` on `owner_id` (`error.unknown_user`): a forged id says
/// nothing of users outside the directory.
pub async fn check_owner_choice(db: &Db, vis: &Visibility, chosen: Option<i64>, current: Option<i64>) -> Result<()> {
    let Some(owner) = chosen.filter(|o| Some(*o) != current) else { return Ok(()) };
    let mut q = Sql::new("SELECT COUNT(*) FROM users u WHERE u.active = ");
    q.bind(1i64).push(" AND u.id = ").bind(owner).push(" AND ").append(vis.filter("u.id", "u.org_unit_id"));
    let n: i64 = q.query_scalar().fetch_one(&db.pool).await?;
    if n == 0 {
        return Err(Error::validation("owner_id", "error.unknown_user"));
    }
    Ok(())
}

async fn resolve_refs(tx: &mut Tx, input: &UserInput) -> Result<i64> {
    let role_id: Option<i64> =
        sqlx::query_scalar("SELECT id FROM roles WHERE code = $1").bind(&input.role_code).fetch_optional(&mut **tx).await?;
    let mut errs = FieldErrors::new();
    if role_id.is_none() {
        errs.add("role", "error.unknown_role");
    }
    if let Some(unit) = input.org_unit_id {
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM org_units WHERE id = $1").bind(unit).fetch_optional(&mut **tx).await?;
        if exists.is_none() {
            errs.add("org_unit_id", "error.unknown_org_unit");
        }
    }
    errs.into_result()?;
    role_id.ok_or(Error::NotFound)
}

/// Refreshes what is derived from a user's fields: search terms and the folded name it sorts by.
async fn reindex(tx: &mut Tx, id: i64, input: &UserInput) -> Result<()> {
    sqlx::query("UPDATE users SET sort_key = $1 WHERE id = $2")
        .bind(crate::search::sort_key(&input.name))
        .bind(id)
        .execute(&mut **tx)
        .await?;
    crate::search::index(tx, User::ENTITY, id, &[&input.name, input.email.as_str()]).await
}

pub async fn create(db: &Db, actor: &Actor, now: Millis, input: &UserInput, password: Option<&str>) -> Result<User> {
    let hash = match password {
        Some(p) => {
            password::validate(p, input.email.as_str())?;
            Some(password::hash_blocking(p.to_string()).await?)
        }
        None => None,
    };
    let mut tx = db.begin().await?;
    let role_id = resolve_refs(&mut tx, input).await?;
    let rights = roles::rights_of_role(&mut tx, role_id).await?;
    roles::check_within_actor(&mut tx, actor, rights, "role", "error.role_not_yours").await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (email, name, language, active, password_hash, role_id, org_unit_id, password_changed_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
    )
    .bind(input.email.as_str())
    .bind(&input.name)
    .bind(input.language.code())
    .bind(input.active as i64)
    .bind(hash.as_deref())
    .bind(role_id)
    .bind(input.org_unit_id)
    .bind(hash.as_ref().map(|_| now))
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .unique_field("email", "error.email_taken")?;
    reindex(&mut tx, id, input).await?;
    let user = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(&mut tx, actor, now, id, &user).await?;
    notify_user(&mut tx, actor, now, &user, "account_created", serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(user)
}

pub async fn update(db: &Db, actor: &Actor, now: Millis, id: i64, input: &UserInput) -> Result<User> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let before = audit::Before::read(&mut tx, "users", id).await?;
    if actor.id == Some(id) && !input.active {
        return Err(Error::validation("active", "error.cannot_deactivate_self"));
    }
    let role_id = resolve_refs(&mut tx, input).await?;
    // Nobody changes an account holding rights they do not hold, nor gives one such a role.
    let rights = roles::rights_of_role(&mut tx, old.role_id).await?;
    roles::check_within_actor(&mut tx, actor, rights, "role", "error.user_above_you").await?;
    if role_id != old.role_id {
        let rights = roles::rights_of_role(&mut tx, role_id).await?;
        roles::check_within_actor(&mut tx, actor, rights, "role", "error.role_not_yours").await?;
    }
    if old.active && old.role_code == roles::ADMIN && !(input.active && input.role_code == roles::ADMIN) {
        keep_an_administrator(&mut tx, now, id, if input.active { "role" } else { "active" }).await?;
    }
    sqlx::query(
        "UPDATE users SET email = $1, name = $2, language = $3, active = $4, role_id = $5, org_unit_id = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(input.email.as_str())
    .bind(&input.name)
    .bind(input.language.code())
    .bind(input.active as i64)
    .bind(role_id)
    .bind(input.org_unit_id)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await
    .unique_field("email", "error.email_taken")?;
    reindex(&mut tx, id, input).await?;
    if old.active && !input.active {
        // Deactivation ends every session and revokes every token of the user (reactivating
        // the account gives none back).
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
        super::token::revoke_all(&mut tx, actor, now, id).await?;
    }
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if before.unchanged(&mut tx, &old, &new).await? {
        tx.rollback().await?;
        return Ok(old);
    }
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    if old.role_code != new.role_code {
        let role = new.role_name(&new.language).to_string();
        notify_user(&mut tx, actor, now, &new, "role_changed", serde_json::json!({ "role": role })).await?;
    }
    tx.commit().await?;
    db.auth_changed();
    Ok(new)
}

/// Refuses (422 on `field`) to leave the installation without an active administrator when
/// user `id` stops being one. Two such changes at once are taken one at a time (a named lock),
/// so they cannot both see the other administrator and both go through.
async fn keep_an_administrator(tx: &mut Tx, now: Millis, id: i64, field: &str) -> Result<()> {
    crate::db::lock(tx, now, &["last-administrator".to_string()]).await?;
    let others: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u JOIN roles r ON r.id = u.role_id \
         WHERE r.code = $1 AND r.builtin = 1 AND u.active = 1 AND u.id <> $2",
    )
    .bind(roles::ADMIN)
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    if others == 0 {
        return Err(Error::validation(field, "error.last_administrator"));
    }
    Ok(())
}

/// Makes the user with this email an active administrator (the command line's repair for an
/// installation left without one).
pub async fn grant_admin(db: &Db, actor: &Actor, now: Millis, email: &str) -> Result<User> {
    let u = by_email(db, email).await?.ok_or_else(|| Error::validation("email", "error.unknown_user"))?;
    let input = UserInput {
        email: Email::parse(&u.email).map_err(|r| Error::validation("email", r))?,
        name: u.name.clone(),
        language: u.language,
        role_code: roles::ADMIN.to_string(),
        org_unit_id: u.org_unit_id,
        active: true,
    };
    update(db, actor, now, u.id, &input).await
}

/// Queues a notification about `user` to `user`, in the caller's transaction.
async fn notify_user(tx: &mut Tx, actor: &Actor, now: Millis, user: &User, event: &'static str, extra: serde_json::Value) -> Result<()> {
    use crate::mail::notify::{notify, Notice, Recipient};
    // The time as the person reads it: in the business's zone.
    let zone = crate::clock::Zone::parse(&crate::settings::get_in(tx, "ui.timezone").await?).unwrap_or_default();
    let mut vars = serde_json::json!({
        "user": { "name": user.name, "email": user.email },
        "actor": { "name": actor.name },
        "at": zone.format(now),
    });
    if let (Some(v), serde_json::Value::Object(extra)) = (vars.as_object_mut(), extra) {
        v.extend(extra);
    }
    let notice = Notice { event, entity: Some((User::ENTITY.to_string(), user.id)), vars, attachments: Vec::new(), created_by: actor.id };
    notify(tx, now, notice, &[Recipient::User(user.id)]).await?;
    Ok(())
}

/// Sets a user's password, ends all their sessions (but `keep_session`, the one making the
/// change, if any) and revokes all their API tokens: whoever changes a password (the user, or
/// an administrator resetting it) may be shutting someone out.
pub async fn set_password(db: &Db, actor: &Actor, now: Millis, id: i64, new_password: &str, keep_session: Option<&str>) -> Result<()> {
    let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE id = $1").bind(id).fetch_optional(&db.pool).await?;
    password::validate(new_password, &email.ok_or(Error::NotFound)?)?;
    let hash = password::hash_blocking(new_password.to_string()).await?;
    let mut tx = db.begin().await?;
    // Setting someone's password is taking their account: not one holding rights the actor lacks.
    let role: Option<i64> = sqlx::query_scalar("SELECT role_id FROM users WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
    let rights = roles::rights_of_role(&mut tx, role.ok_or(Error::NotFound)?).await?;
    roles::check_within_actor(&mut tx, actor, rights, "password", "error.user_above_you").await?;
    let n = sqlx::query("UPDATE users SET password_hash = $1, password_changed_at = $2, updated_at = $2 WHERE id = $3")
        .bind(&hash)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(Error::NotFound);
    }
    let user = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    notify_user(&mut tx, actor, now, &user, "password_changed", serde_json::json!({})).await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
        .bind(id)
        .bind(keep_session.unwrap_or(""))
        .execute(&mut *tx)
        .await?;
    super::token::revoke_all(&mut tx, actor, now, id).await?;
    audit::record(
        &mut tx,
        actor,
        now,
        User::ENTITY,
        id,
        "update",
        &[audit::Change { field: "password".into(), old: Some("••••".into()), new: Some("••••".into()) }],
    )
    .await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(())
}

/// Changes the user's own language (from the language switch).
pub async fn set_language(db: &Db, actor: &Actor, now: Millis, id: i64, lang: Lang) -> Result<()> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    sqlx::query("UPDATE users SET language = $1, updated_at = $2 WHERE id = $3")
        .bind(lang.code())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(())
}

pub(crate) async fn password_hash(db: &Db, id: i64) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1").bind(id).fetch_optional(&db.pool).await?.flatten())
}

/// Validates the email field alone (used by the CLI).
pub fn check_email(raw: &str) -> Result<Email> {
    parse_email("email", raw)
}

/// Rebuilds the search terms and sort keys of every user (after a bulk import that bypassed
/// `create`).
pub async fn reindex_search(db: &Db) -> Result<u64> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as("SELECT id, name, email FROM users ORDER BY id").fetch_all(&db.pool).await?;
    let mut n = 0;
    for chunk in rows.chunks(1000) {
        let mut tx = db.begin().await?;
        for (id, name, email) in chunk {
            sqlx::query("UPDATE users SET sort_key = $1 WHERE id = $2")
                .bind(crate::search::sort_key(name))
                .bind(*id)
                .execute(&mut *tx)
                .await?;
            crate::search::index(&mut tx, User::ENTITY, *id, &[name, email]).await?;
            n += 1;
        }
        tx.commit().await?;
    }
    Ok(n)
}
