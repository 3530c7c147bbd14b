//! Partner organisations and partner opportunities: storage. Every function a partner user
//! reaches takes the partner organisation from their session (`partner_id`) and filters by
//! it; every staff list and lookup applies the staff user's [`Visibility`] to the partner's
//! channel manager (`owner_id`) and unit (`unit_id`).

use serde::Deserialize;

use super::{format_amount, parse_amount, Opportunity, Partner, PartnerUser, FLAG_INITIAL, FLAG_PRESALES, STATUS_LIST, TYPE_LIST};
use crate::access::Visibility;
use crate::audit::{self, Actor};
use crate::clock::Millis;
use crate::db::{Db, Sql, Tx};
use crate::error::{Error, FieldErrors, Result};
use crate::identity::Email;

pub const NAME_MAX: usize = 200;
pub const TEXT_MAX: usize = 4000;

pub(crate) const PARTNER_SELECT: &str = "SELECT p.id, p.name, p.active, p.unit_id, u.name AS unit_name, p.owner_id, o.name AS owner_name, \
    p.email, p.phone, p.admin_invites, p.created_at, p.updated_at \
    FROM partners p JOIN org_units u ON u.id = p.unit_id JOIN users o ON o.id = p.owner_id";

pub(crate) const OPPORTUNITY_SELECT: &str = "SELECT po.id, po.partner_id, p.name AS partner_name, po.customer_name, po.contact_name, \
    po.contact_email, po.contact_phone, po.product_interest, po.amount_cents, po.expected_close_date, po.opportunity_type, po.status, \
    po.description, po.created_by_user_id, cu.name AS created_by_name, po.created_at, po.updated_at \
    FROM partner_opportunities po JOIN partners p ON p.id = po.partner_id LEFT JOIN partner_users cu ON cu.id = po.created_by_user_id";

fn text(errs: &mut FieldErrors, field: &str, v: &str, max: usize) -> String {
    let v = v.trim();
    if v.chars().count() > max {
        errs.add(field, "error.too_long");
    }
    v.to_string()
}

fn opt_text(errs: &mut FieldErrors, field: &str, v: &str, max: usize) -> Option<String> {
    Some(text(errs, field, v, max)).filter(|s| !s.is_empty())
}

fn opt_email(errs: &mut FieldErrors, field: &str, v: &str) -> Option<String> {
    if v.trim().is_empty() {
        return None;
    }
    match Email::parse(v) {
        Ok(e) => Some(e.as_str().to_string()),
        Err(r) => {
            errs.add(field, r);
            None
        }
    }
}

fn opt_phone(errs: &mut FieldErrors, field: &str, v: &str) -> Option<String> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    let digits = v.chars().filter(char::is_ascii_digit).count();
    if v.len() > 40 || !(6..=15).contains(&digits) || !v.chars().all(|c| c.is_ascii_digit() || " +-.()/".contains(c)) {
        errs.add(field, "error.phone_invalid");
        return None;
    }
    Some(v.to_string())
}

fn checkbox(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("on" | "true" | "1"))
}

// ------------------------------------------------------------------ partner organisations

/// The staff form of a partner organisation, as posted.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PartnerForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub unit_id: String,
    #[serde(default)]
    pub owner_id: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub active: Option<String>,
    #[serde(default)]
    pub admin_invites: Option<String>,
}

/// A partner organisation's fields, parsed.
#[derive(Debug, Clone)]
pub struct PartnerInput {
    pub name: String,
    pub unit_id: i64,
    pub owner_id: i64,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub active: bool,
    pub admin_invites: bool,
}

impl PartnerForm {
    pub fn parse(&self) -> Result<PartnerInput> {
        let mut errs = FieldErrors::new();
        let name = text(&mut errs, "name", &self.name, NAME_MAX);
        if name.is_empty() {
            errs.add("name", "error.required");
        }
        let id = |errs: &mut FieldErrors, field: &str, v: &str| match v.trim().parse::<i64>() {
            Ok(n) if n > 0 => n,
            _ => {
                errs.add(field, if v.trim().is_empty() { "error.required" } else { "error.invalid_choice" });
                0
            }
        };
        let unit_id = id(&mut errs, "unit_id", &self.unit_id);
        let owner_id = id(&mut errs, "owner_id", &self.owner_id);
        let email = opt_email(&mut errs, "email", &self.email);
        let phone = opt_phone(&mut errs, "phone", &self.phone);
        errs.into_result()?;
        Ok(PartnerInput {
            name,
            unit_id,
            owner_id,
            email,
            phone,
            active: checkbox(&self.active),
            admin_invites: checkbox(&self.admin_invites),
        })
    }
}

/// A partner organisation by id (no visibility: callers on the staff side use [`partner_visible`]).
pub async fn partner(db: &Db, id: i64) -> Result<Option<Partner>> {
    Ok(sqlx::query_as(&format!("{PARTNER_SELECT} WHERE p.id = $1")).bind(id).fetch_optional(&db.pool).await?)
}

async fn partner_in(tx: &mut Tx, id: i64) -> Result<Option<Partner>> {
    Ok(sqlx::query_as(&format!("{PARTNER_SELECT} WHERE p.id = $1")).bind(id).fetch_optional(&mut **tx).await?)
}

/// A partner organisation the staff user may see (their channel manager's or unit's).
pub async fn partner_visible(db: &Db, vis: &Visibility, id: i64) -> Result<Option<Partner>> {
    let mut s = Sql::new(PARTNER_SELECT);
    s.push(" WHERE p.id = ").bind(id).push(" AND ").append(vis.filter("p.owner_id", "p.unit_id"));
    Ok(s.query_as().fetch_optional(&db.pool).await?)
}

/// The partners a staff user may see, by name, `limit` after the name/id cursor `after`.
pub async fn partners_visible(
    db: &Db,
    vis: &Visibility,
    q: Option<&str>,
    after: Option<(&str, i64)>,
    limit: i64,
) -> Result<(Vec<Partner>, bool)> {
    let mut s = Sql::new(PARTNER_SELECT);
    s.push(" WHERE ").append(vis.filter("p.owner_id", "p.unit_id"));
    if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
        s.push(" AND LOWER(p.name) LIKE ").bind(format!("%{}%", q.to_lowercase().replace(['%', '_'], "")));
    }
    if let Some((name, id)) = after {
        s.push(" AND (p.name > ")
            .bind(name.to_string())
            .push(" OR (p.name = ")
            .bind(name.to_string())
            .push(" AND p.id > ")
            .bind(id)
            .push("))");
    }
    s.push(&format!(" ORDER BY p.name, p.id LIMIT {}", limit + 1));
    let mut rows: Vec<Partner> = s.query_as().fetch_all(&db.pool).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    Ok((rows, more))
}

/// Every active partner, by name (the audience picker of news items).
pub async fn all_active(db: &Db) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as("SELECT id, name FROM partners WHERE active = $1 ORDER BY name, id").bind(1i64).fetch_all(&db.pool).await?)
}

/// Checks the unit and the channel manager exist (an active staff user).
async fn check_refs(tx: &mut Tx, input: &PartnerInput) -> Result<()> {
    let mut errs = FieldErrors::new();
    let unit: Option<i64> =
        sqlx::query_scalar("SELECT id FROM org_units WHERE id = $1").bind(input.unit_id).fetch_optional(&mut **tx).await?;
    if unit.is_none() {
        errs.add("unit_id", "error.invalid_choice");
    }
    let owner: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1 AND active = $2")
        .bind(input.owner_id)
        .bind(1i64)
        .fetch_optional(&mut **tx)
        .await?;
    if owner.is_none() {
        errs.add("owner_id", "error.invalid_choice");
    }
    errs.into_result()
}

pub async fn create_partner(db: &Db, actor: &Actor, now: Millis, input: &PartnerInput) -> Result<Partner> {
    let mut tx = db.begin().await?;
    check_refs(&mut tx, input).await?;
    let inserted = sqlx::query_scalar::<_, i64>(
        "INSERT INTO partners (name, active, unit_id, owner_id, email, phone, admin_invites, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(&input.name)
    .bind(input.active as i64)
    .bind(input.unit_id)
    .bind(input.owner_id)
    .bind(&input.email)
    .bind(&input.phone)
    .bind(input.admin_invites as i64)
    .bind(now)
    .fetch_one(&mut *tx)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(e) if crate::db::is_unique_violation(&e) => return Err(Error::conflict("name", "error.partner_name_taken")),
        Err(e) => return Err(e.into()),
    };
    let p = partner_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(&mut tx, actor, now, id, &p).await?;
    tx.commit().await?;
    Ok(p)
}

/// Changes a partner the staff user may see. Deactivating it ends its users' sessions.
pub async fn update_partner(db: &Db, actor: &Actor, vis: &Visibility, now: Millis, id: i64, input: &PartnerInput) -> Result<Partner> {
    let old = partner_visible(db, vis, id).await?.ok_or(Error::NotFound)?;
    let unchanged = old.name == input.name
        && old.active == input.active
        && old.unit_id == input.unit_id
        && old.owner_id == input.owner_id
        && old.email == input.email
        && old.phone == input.phone
        && old.admin_invites == input.admin_invites;
    if unchanged {
        // The form posted back as shown: nothing to write, nothing in the history.
        return Ok(old);
    }
    let mut tx = db.begin().await?;
    check_refs(&mut tx, input).await?;
    let updated = sqlx::query(
        "UPDATE partners SET name = $1, active = $2, unit_id = $3, owner_id = $4, email = $5, phone = $6, admin_invites = $7, updated_at = $8 \
         WHERE id = $9",
    )
    .bind(&input.name)
    .bind(input.active as i64)
    .bind(input.unit_id)
    .bind(input.owner_id)
    .bind(&input.email)
    .bind(&input.phone)
    .bind(input.admin_invites as i64)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await;
    match updated {
        Ok(_) => {}
        Err(e) if crate::db::is_unique_violation(&e) => return Err(Error::conflict("name", "error.partner_name_taken")),
        Err(e) => return Err(e.into()),
    }
    if !input.active {
        sqlx::query("DELETE FROM partner_sessions WHERE user_id IN (SELECT id FROM partner_users WHERE partner_id = $1)")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    let new = partner_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    db.auth_changed();
    Ok(new)
}

// ------------------------------------------------------------------ partner opportunities

/// The opportunity form, as posted. A field absent from the form is left as it is (an edit
/// changes only what it carries); an empty optional field is cleared.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OpportunityForm {
    pub customer_name: Option<String>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub product_interest: Option<String>,
    pub amount: Option<String>,
    pub expected_close_date: Option<String>,
    pub opportunity_type: Option<String>,
    pub status: Option<String>,
    pub description: Option<String>,
}

/// What the form carries, parsed: `None` is "not carried", `Some(None)` is "cleared".
#[derive(Debug, Clone, Default)]
pub struct OpportunityInput {
    pub customer_name: Option<String>,
    pub contact_name: Option<Option<String>>,
    pub contact_email: Option<Option<String>>,
    pub contact_phone: Option<Option<String>>,
    pub product_interest: Option<Option<String>>,
    pub amount_cents: Option<Option<i64>>,
    pub expected_close_date: Option<Option<String>>,
    pub opportunity_type: Option<String>,
    pub status: Option<String>,
    pub description: Option<Option<String>>,
}

impl OpportunityForm {
    /// Parses the fields (list codes are checked by the store).
    pub fn parse(&self) -> Result<OpportunityInput> {
        let mut errs = FieldErrors::new();
        let customer_name = self.customer_name.as_deref().map(|v| {
            let t = text(&mut errs, "customer_name", v, NAME_MAX);
            if t.is_empty() {
                errs.add("customer_name", "error.required");
            }
            t
        });
        let contact_name = self.contact_name.as_deref().map(|v| opt_text(&mut errs, "contact_name", v, NAME_MAX));
        let contact_email = self.contact_email.as_deref().map(|v| opt_email(&mut errs, "contact_email", v));
        let contact_phone = self.contact_phone.as_deref().map(|v| opt_phone(&mut errs, "contact_phone", v));
        let product_interest = self.product_interest.as_deref().map(|v| opt_text(&mut errs, "product_interest", v, NAME_MAX));
        let amount_cents = self.amount.as_deref().map(|v| {
            if v.trim().is_empty() {
                return None;
            }
            let a = parse_amount(v);
            if a.is_none() {
                errs.add("amount", "error.amount_invalid");
            }
            a
        });
        let expected_close_date = self.expected_close_date.as_deref().map(|v| {
            let v = v.trim();
            if v.is_empty() {
                return None;
            }
            match chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
                Ok(d) => Some(d.format("%Y-%m-%d").to_string()),
                Err(_) => {
                    errs.add("expected_close_date", "error.invalid_datetime");
                    None
                }
            }
        });
        let code = |v: &str| v.trim().to_string();
        let opportunity_type = self.opportunity_type.as_deref().map(code);
        let status = self.status.as_deref().map(code);
        let description = self.description.as_deref().map(|v| opt_text(&mut errs, "description", v, TEXT_MAX));
        errs.into_result()?;
        Ok(OpportunityInput {
            customer_name,
            contact_name,
            contact_email,
            contact_phone,
            product_interest,
            amount_cents,
            expected_close_date,
            opportunity_type,
            status,
            description,
        })
    }
}

/// Whether `code` is an active entry of the list `list`, with its flags.
async fn list_flags(tx: &mut Tx, list: &str, code: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT flags FROM value_list_items WHERE list_code = $1 AND code = $2 AND active = $3")
        .bind(list)
        .bind(code)
        .bind(1i64)
        .fetch_optional(&mut **tx)
        .await?)
}

/// The status a new opportunity starts in: the active entry flagged `initial`, else the first.
async fn initial_status(tx: &mut Tx) -> Result<String> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT code, flags FROM value_list_items WHERE list_code = $1 AND active = $2 ORDER BY position, id")
            .bind(STATUS_LIST)
            .bind(1i64)
            .fetch_all(&mut **tx)
            .await?;
    rows.iter()
        .find(|(_, f)| f.split_whitespace().any(|x| x == FLAG_INITIAL))
        .or(rows.first())
        .map(|(c, _)| c.clone())
        .ok_or(Error::InvalidState { reason: "error.list_empty" })
}

async fn check_codes(tx: &mut Tx, input: &OpportunityInput) -> Result<()> {
    let mut errs = FieldErrors::new();
    if let Some(t) = &input.opportunity_type {
        if list_flags(tx, TYPE_LIST, t).await?.is_none() {
            errs.add("opportunity_type", if t.is_empty() { "error.required" } else { "error.invalid_choice" });
        }
    }
    if let Some(s) = &input.status {
        if list_flags(tx, STATUS_LIST, s).await?.is_none() {
            errs.add("status", "error.invalid_choice");
        }
    }
    errs.into_result()
}

async fn opportunity_in(tx: &mut Tx, id: i64) -> Result<Option<Opportunity>> {
    Ok(sqlx::query_as(&format!("{OPPORTUNITY_SELECT} WHERE po.id = $1")).bind(id).fetch_optional(&mut **tx).await?)
}

/// Creates an opportunity of the partner user's organisation.
pub async fn create_opportunity(db: &Db, u: &PartnerUser, actor: &Actor, now: Millis, input: &OpportunityInput) -> Result<Opportunity> {
    let mut errs = FieldErrors::new();
    if input.customer_name.as_deref().is_none_or(str::is_empty) {
        errs.add("customer_name", "error.required");
    }
    if input.opportunity_type.as_deref().is_none_or(str::is_empty) {
        errs.add("opportunity_type", "error.required");
    }
    errs.into_result()?;
    let mut tx = db.begin().await?;
    check_codes(&mut tx, input).await?;
    let status = match &input.status {
        Some(s) => s.clone(),
        None => initial_status(&mut tx).await?,
    };
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO partner_opportunities (partner_id, customer_name, contact_name, contact_email, contact_phone, product_interest, \
         amount_cents, expected_close_date, opportunity_type, status, description, created_by_user_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id",
    )
    .bind(u.partner_id)
    .bind(input.customer_name.clone().unwrap_or_default())
    .bind(input.contact_name.clone().flatten())
    .bind(input.contact_email.clone().flatten())
    .bind(input.contact_phone.clone().flatten())
    .bind(input.product_interest.clone().flatten())
    .bind(input.amount_cents.flatten())
    .bind(input.expected_close_date.clone().flatten())
    .bind(input.opportunity_type.clone().unwrap_or_default())
    .bind(&status)
    .bind(input.description.clone().flatten())
    .bind(u.user_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let o = opportunity_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(&mut tx, actor, now, id, &o).await?;
    tx.commit().await?;
    Ok(o)
}

/// Changes what the form carries on an opportunity of `partner_id` (another partner's is
/// `NotFound`, as an unknown id).
pub async fn update_opportunity(
    db: &Db,
    partner_id: i64,
    actor: &Actor,
    now: Millis,
    id: i64,
    input: &OpportunityInput,
) -> Result<Opportunity> {
    let mut tx = db.begin().await?;
    let old = opportunity_in(&mut tx, id).await?.filter(|o| o.partner_id == partner_id).ok_or(Error::NotFound)?;
    check_codes(&mut tx, input).await?;
    let mut new = old.clone();
    if let Some(v) = &input.customer_name {
        new.customer_name = v.clone();
    }
    let set = |slot: &mut Option<String>, v: &Option<Option<String>>| {
        if let Some(v) = v {
            *slot = v.clone();
        }
    };
    set(&mut new.contact_name, &input.contact_name);
    set(&mut new.contact_email, &input.contact_email);
    set(&mut new.contact_phone, &input.contact_phone);
    set(&mut new.product_interest, &input.product_interest);
    set(&mut new.expected_close_date, &input.expected_close_date);
    set(&mut new.description, &input.description);
    if let Some(a) = input.amount_cents {
        new.amount_cents = a;
    }
    if let Some(t) = &input.opportunity_type {
        new.opportunity_type = t.clone();
    }
    if let Some(s) = &input.status {
        new.status = s.clone();
    }
    if audit::diff(&old, &new).is_empty() {
        tx.rollback().await?;
        return Ok(old);
    }
    sqlx::query(
        "UPDATE partner_opportunities SET customer_name = $1, contact_name = $2, contact_email = $3, contact_phone = $4, \
         product_interest = $5, amount_cents = $6, expected_close_date = $7, opportunity_type = $8, status = $9, description = $10, \
         updated_at = $11 WHERE id = $12 AND partner_id = $13",
    )
    .bind(&new.customer_name)
    .bind(&new.contact_name)
    .bind(&new.contact_email)
    .bind(&new.contact_phone)
    .bind(&new.product_interest)
    .bind(new.amount_cents)
    .bind(&new.expected_close_date)
    .bind(&new.opportunity_type)
    .bind(&new.status)
    .bind(&new.description)
    .bind(now)
    .bind(id)
    .bind(partner_id)
    .execute(&mut *tx)
    .await?;
    let new = opportunity_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    Ok(new)
}

/// An opportunity of the partner `partner_id` (None for another partner's, as for an unknown id).
pub async fn opportunity_of(db: &Db, partner_id: i64, id: i64) -> Result<Option<Opportunity>> {
    Ok(sqlx::query_as(&format!("{OPPORTUNITY_SELECT} WHERE po.id = $1 AND po.partner_id = $2"))
        .bind(id)
        .bind(partner_id)
        .fetch_optional(&db.pool)
        .await?)
}

/// Filters of an opportunity list.
#[derive(Debug, Clone, Default)]
pub struct OpportunityFilter {
    pub q: Option<String>,
    pub status: Option<String>,
    pub opportunity_type: Option<String>,
    /// Staff lists only: one partner.
    pub partner_id: Option<i64>,
    /// Only the types eligible for a pre-sales request.
    pub presales_only: bool,
}

fn push_filter(s: &mut Sql, f: &OpportunityFilter) {
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let like = format!("%{}%", q.to_lowercase().replace(['%', '_'], ""));
        s.push(" AND (LOWER(po.customer_name) LIKE ").bind(like.clone());
        s.push(" OR LOWER(COALESCE(po.product_interest, '')) LIKE ").bind(like.clone());
        s.push(" OR LOWER(COALESCE(po.contact_name, '')) LIKE ").bind(like).push(")");
    }
    if let Some(st) = f.status.as_deref().filter(|v| !v.is_empty()) {
        s.push(" AND po.status = ").bind(st.to_string());
    }
    if let Some(t) = f.opportunity_type.as_deref().filter(|v| !v.is_empty()) {
        s.push(" AND po.opportunity_type = ").bind(t.to_string());
    }
    if let Some(p) = f.partner_id {
        s.push(" AND po.partner_id = ").bind(p);
    }
    if f.presales_only {
        s.push(" AND po.opportunity_type IN (SELECT vi.code FROM value_list_items vi WHERE vi.list_code = ")
            .bind(TYPE_LIST)
            .push(" AND vi.active = ")
            .bind(1i64)
            .push(" AND (' ' || vi.flags || ' ') LIKE ")
            .bind(format!("% {FLAG_PRESALES} %"))
            .push(")");
    }
}

async fn fetch_page(db: &Db, mut s: Sql, before: Option<i64>, limit: i64) -> Result<(Vec<Opportunity>, bool)> {
    if let Some(b) = before {
        s.push(" AND po.id < ").bind(b);
    }
    s.push(&format!(" ORDER BY po.id DESC LIMIT {}", limit + 1));
    let mut rows: Vec<Opportunity> = s.query_as().fetch_all(&db.pool).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    Ok((rows, more))
}

/// The partner's opportunities, newest first, `limit` before the id `before` (keyset); and
/// whether there are more.
pub async fn opportunities_of(
    db: &Db,
    partner_id: i64,
    f: &OpportunityFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<Opportunity>, bool)> {
    let mut s = Sql::new(OPPORTUNITY_SELECT);
    s.push(" WHERE po.partner_id = ").bind(partner_id);
    let f = OpportunityFilter { partner_id: None, ..f.clone() };
    push_filter(&mut s, &f);
    fetch_page(db, s, before, limit).await
}

/// Partner opportunities a staff user may see (the partner's channel manager or unit within
/// their scope), newest first.
pub async fn opportunities_visible(
    db: &Db,
    vis: &Visibility,
    f: &OpportunityFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<Opportunity>, bool)> {
    let mut s = Sql::new(OPPORTUNITY_SELECT);
    s.push(" WHERE ").append(vis.filter("p.owner_id", "p.unit_id"));
    push_filter(&mut s, f);
    fetch_page(db, s, before, limit).await
}

/// A partner opportunity a staff user may see.
pub async fn opportunity_visible(db: &Db, vis: &Visibility, id: i64) -> Result<Option<Opportunity>> {
    let mut s = Sql::new(OPPORTUNITY_SELECT);
    s.push(" WHERE po.id = ").bind(id).push(" AND ").append(vis.filter("p.owner_id", "p.unit_id"));
    Ok(s.query_as().fetch_optional(&db.pool).await?)
}

/// Whether an opportunity's type is eligible for a pre-sales request (its list entry carries
/// the flag `presales` and is active).
pub async fn presales_eligible(db: &Db, opportunity_type: &str) -> Result<bool> {
    let flags: Option<String> = sqlx::query_scalar("SELECT flags FROM value_list_items WHERE list_code = $1 AND code = $2 AND active = $3")
        .bind(TYPE_LIST)
        .bind(opportunity_type)
        .bind(1i64)
        .fetch_optional(&db.pool)
        .await?;
    Ok(flags.is_some_and(|f| f.split_whitespace().any(|x| x == FLAG_PRESALES)))
}

/// The amount as shown (`12500.00`), for templates.
pub fn amount_text(o: &Opportunity) -> String {
    o.amount_cents.map(format_amount).unwrap_or_default()
}

/// The staff users a partner may be given to as channel manager: active users the staff
/// user may see, by name.
pub async fn owner_choices(db: &Db, vis: &Visibility) -> Result<Vec<(i64, String)>> {
    let mut s = Sql::new("SELECT u.id, u.name FROM users u WHERE u.active = ");
    s.bind(1i64).push(" AND ").append(vis.filter("u.id", "u.org_unit_id")).push(" ORDER BY u.name, u.id LIMIT 500");
    Ok(s.query_as().fetch_all(&db.pool).await?)
}
