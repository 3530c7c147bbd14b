//! Meetings (seed 003): booked from an opportunity, with a subject generated from the kind,
//! the customer's first name and the stock number, a priority derived from the deposit and
//! the units (and overridable), participants, and a confirmation email with an iCalendar
//! invitation to the branch's group and the rep assigned to the file. Moving a meeting
//! sends the update (same UID, higher SEQUENCE); cancelling it sends a CANCEL.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::{Statuses, StockRef};
use crate::access::{Actor, RightSet, Visibility};
use crate::audit::{self, Audited};
use crate::clock::{Millis, Zone};
use crate::db::{Db, Sql, Tx};
use crate::error::{Error, FieldErrors, Result};

/// The longest location of a meeting.
pub const LOCATION_MAX: usize = 300;
/// The longest description of a meeting.
pub const DESCRIPTION_MAX: usize = 10_000;

pub const KINDS: &[&str] = &["inventaire", "stock", "depot", "virtuel", "transfert"];
pub const PRIORITIES: &[&str] = &["platine", "or", "argent"];
pub const APPOINTMENT_TYPES: &[&str] = &["telephone", "iphone", "android"];
pub const DEPOSIT_METHODS: &[&str] = &["stripe", "carte_credit", "virement"];
pub const ESIGN_STATUSES: &[&str] = &["envoye", "signe"];

/// The subject: `PRÉNOM / INVENTAIRE`, `PRÉNOM / STOCK`, `DÉPÔT / PRÉNOM / STOCK`,
/// `VIRTUEL / PRÉNOM / STOCK`, `TRANSFERT / PRÉNOM / STOCK`.
pub fn subject(kind: &str, first_name: &str, stock_numbers: &[String]) -> String {
    let name = first_name.trim().to_uppercase();
    let name = if name.is_empty() { "CLIENT".to_string() } else { name };
    let stock = if stock_numbers.is_empty() { "STOCK".to_string() } else { stock_numbers.join(", ") };
    match kind {
        "inventaire" => format!("{name} / INVENTAIRE"),
        "depot" => format!("DÉPÔT / {name} / {stock}"),
        "virtuel" => format!("VIRTUEL / {name} / {stock}"),
        "transfert" => format!("TRANSFERT / {name} / {stock}"),
        _ => format!("{name} / {stock}"),
    }
}

/// The derived priority: platine with a deposit, or for a meeting on one stock unit,
/// argent for several units or the inventory.
pub fn priority(kind: &str, deposit: bool, units: usize) -> &'static str {
    if deposit {
        "platine"
    } else if kind != "inventaire" && units == 1 {
        "or"
    } else {
        "argent"
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Participant {
    /// `customer`, `user` or `group`.
    pub kind: String,
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Meeting {
    pub id: i64,
    pub opportunity_id: i64,
    pub opportunity_name: String,
    pub customer_id: i64,
    pub customer_name: String,
    pub kind: String,
    pub subject: String,
    pub start_at: i64,
    pub end_at: i64,
    pub location: String,
    pub priority: String,
    pub priority_overridden: bool,
    pub category: String,
    pub appointment_type: Option<String>,
    pub branch_id: Option<i64>,
    pub branch_name: Option<String>,
    pub language: String,
    pub deposit_method: Option<String>,
    pub esign_status: Option<String>,
    pub transfer: bool,
    pub status: String,
    pub description: String,
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    pub uid: String,
    pub sequence: i64,
    pub stock_units: Vec<StockRef>,
    pub participants: Vec<Participant>,
}

impl Audited for Meeting {
    const ENTITY: &'static str = "meeting";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        let opt = |s: &Option<String>| s.clone().filter(|x| !x.is_empty());
        vec![
            ("kind", Some(self.kind.clone())),
            ("subject", Some(self.subject.clone())),
            ("start_at", Some(crate::clock::format_ms(self.start_at))),
            ("end_at", Some(crate::clock::format_ms(self.end_at))),
            ("location", Some(self.location.clone()).filter(|s| !s.is_empty())),
            ("priority", Some(self.priority.clone())),
            ("category", Some(self.category.clone())),
            ("appointment_type", opt(&self.appointment_type)),
            ("branch", self.branch_name.clone()),
            ("language", Some(self.language.clone())),
            ("deposit_method", opt(&self.deposit_method)),
            ("esign_status", opt(&self.esign_status)),
            ("transfer", Some(self.transfer.to_string())),
            ("status", Some(self.status.clone())),
            ("description", Some(self.description.clone()).filter(|s| !s.is_empty())),
            (
                "stock_units",
                Some(self.stock_units.iter().map(|s| s.stock_number.as_str()).collect::<Vec<_>>().join(" ")).filter(|s| !s.is_empty()),
            ),
            (
                "participants",
                Some(self.participants.iter().map(|p| format!("{}:{}", p.kind, p.name)).collect::<Vec<_>>().join(", "))
                    .filter(|s| !s.is_empty()),
            ),
        ]
    }
}

/// A meeting as typed (local date and times) or sent as JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingForm {
    #[serde(default)]
    pub opportunity_id: Option<i64>,
    /// `inventaire`, `stock`, `depot`, `virtuel` or `transfert`.
    #[serde(default)]
    pub kind: String,
    /// `YYYY-MM-DD`, local.
    #[serde(default)]
    pub date: String,
    /// `HH:MM`, local.
    #[serde(default)]
    pub start_time: String,
    /// `HH:MM`, local.
    #[serde(default)]
    pub end_time: String,
    #[serde(default)]
    pub location: String,
    /// Empty: derived (platine / or / argent).
    #[serde(default)]
    pub priority: String,
    /// A `meeting_category` code (default `rendez_vous`).
    #[serde(default)]
    pub category: String,
    /// For virtual meetings: `telephone`, `iphone` or `android`.
    #[serde(default)]
    pub appointment_type: String,
    #[serde(default)]
    pub branch_id: Option<i64>,
    /// The rep the meeting is for (default: the opportunity's owner). Booking for a rep on an
    /// opportunity without an owner makes the rep its owner.
    #[serde(default)]
    pub owner_id: Option<i64>,
    /// `fr` or `en` (default: the customer's language).
    #[serde(default)]
    pub language: String,
    /// `stripe`, `carte_credit`, `virement` or empty.
    #[serde(default)]
    pub deposit_method: String,
    /// `envoye`, `signe` or empty.
    #[serde(default)]
    pub esign_status: String,
    #[serde(default)]
    pub transfer: bool,
    /// A `meeting_status` code (default `planifie`).
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub description: String,
    /// Stock numbers.
    #[serde(default)]
    pub stock_numbers: Vec<String>,
    #[serde(default)]
    pub user_ids: Vec<i64>,
    #[serde(default)]
    pub group_ids: Vec<i64>,
    /// Other customer records taking part (the opportunity's customer always does).
    #[serde(default)]
    pub customer_ids: Vec<i64>,
}

/// Validated meeting fields.
#[derive(Debug, Clone)]
pub struct MeetingInput {
    pub opportunity_id: i64,
    pub kind: String,
    pub start_at: Millis,
    pub end_at: Millis,
    pub location: String,
    pub priority: Option<String>,
    pub category: String,
    pub appointment_type: Option<String>,
    pub branch_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub language: Option<String>,
    pub deposit_method: Option<String>,
    pub esign_status: Option<String>,
    pub transfer: bool,
    pub status: String,
    pub description: String,
    pub stock_numbers: Vec<String>,
    pub user_ids: Vec<i64>,
    pub group_ids: Vec<i64>,
    pub customer_ids: Vec<i64>,
}

fn choice(errs: &mut FieldErrors, field: &str, v: &str, allowed: &[&str]) -> Option<String> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    if !allowed.contains(&v) {
        errs.add(field, "error.invalid_choice");
    }
    Some(v.to_string())
}

impl MeetingForm {
    pub fn parse(&self, zone: Zone) -> Result<MeetingInput> {
        let mut errs = FieldErrors::new();
        if self.opportunity_id.is_none() {
            errs.add("opportunity_id", "error.required");
        }
        if !KINDS.contains(&self.kind.as_str()) {
            errs.add("kind", "error.invalid_choice");
        }
        let start = zone.parse_local(&self.date, &self.start_time);
        let end = zone.parse_local(&self.date, &self.end_time);
        if chrono::NaiveDate::parse_from_str(self.date.trim(), "%Y-%m-%d").is_err() {
            errs.add("date", "error.invalid_datetime");
        } else if start.is_none() {
            errs.add("start_time", "error.invalid_datetime");
        } else if end.is_none() {
            errs.add("end_time", "error.invalid_datetime");
        } else if end <= start {
            errs.add("end_time", "error.end_before_start");
        }
        let priority = choice(&mut errs, "priority", &self.priority, PRIORITIES);
        let appointment_type = choice(&mut errs, "appointment_type", &self.appointment_type, APPOINTMENT_TYPES);
        if self.kind == "virtuel" && appointment_type.is_none() {
            errs.add("appointment_type", "error.required");
        }
        let language = choice(&mut errs, "language", &self.language, &["fr", "en"]);
        let deposit_method = choice(&mut errs, "deposit_method", &self.deposit_method, DEPOSIT_METHODS);
        let esign_status = choice(&mut errs, "esign_status", &self.esign_status, ESIGN_STATUSES);
        let stock_numbers: Vec<String> = {
            let mut v: Vec<String> = self
                .stock_numbers
                .iter()
                .flat_map(|s| s.split([',', ' ', ';']))
                .map(|s| s.trim().to_uppercase())
                .filter(|s| !s.is_empty())
                .collect();
            v.dedup();
            v
        };
        if matches!(self.kind.as_str(), "stock" | "depot" | "transfert") && stock_numbers.is_empty() {
            errs.add("stock_numbers", "error.stock_required");
        }
        if self.location.chars().count() > LOCATION_MAX {
            errs.add("location", "error.too_long");
        }
        if self.description.chars().count() > DESCRIPTION_MAX {
            errs.add("description", "error.too_long");
        }
        errs.into_result()?;
        Ok(MeetingInput {
            opportunity_id: self.opportunity_id.unwrap_or_default(),
            kind: self.kind.clone(),
            start_at: start.unwrap_or_default(),
            end_at: end.unwrap_or_default(),
            location: self.location.trim().to_string(),
            priority,
            category: if self.category.trim().is_empty() { "rendez_vous".into() } else { self.category.trim().to_string() },
            appointment_type,
            branch_id: self.branch_id,
            owner_id: self.owner_id,
            language,
            deposit_method,
            esign_status,
            transfer: self.transfer,
            status: if self.status.trim().is_empty() { "planifie".into() } else { self.status.trim().to_string() },
            description: self.description.trim().to_string(),
            stock_numbers,
            user_ids: self.user_ids.clone(),
            group_ids: self.group_ids.clone(),
            customer_ids: self.customer_ids.clone(),
        })
    }

    /// The meeting's form as it is now, moved to a new slot (a drag on the time grid). Dropped
    /// from person `from`'s column into `to`'s: the meeting becomes `to`'s when it was `from`'s
    /// own, and `to` takes `from`'s place among the participants; nothing else changes.
    pub fn moved(m: &Meeting, zone: Zone, slot: crate::calendar::Slot) -> MeetingForm {
        let mut f = MeetingForm::from_meeting(m, zone);
        (f.date, f.start_time, f.end_time) = (slot.date, slot.start_time, slot.end_time);
        if let Some((from, to)) = slot.person {
            if f.owner_id == Some(from) {
                f.owner_id = Some(to);
            }
            if f.owner_id == Some(to) {
                // Onto its owner's own column: the owner is not also a participant.
                f.user_ids.retain(|u| *u != from);
            } else if f.user_ids.contains(&from) {
                f.user_ids = crate::calendar::Slot::swap(&f.user_ids, from, to);
            }
        }
        f
    }

    pub fn from_meeting(m: &Meeting, zone: Zone) -> MeetingForm {
        let ids = |k: &str| m.participants.iter().filter(|p| p.kind == k).map(|p| p.id).collect::<Vec<_>>();
        MeetingForm {
            opportunity_id: Some(m.opportunity_id),
            kind: m.kind.clone(),
            date: zone.date(m.start_at),
            start_time: zone.time(m.start_at),
            end_time: zone.time(m.end_at),
            location: m.location.clone(),
            priority: if m.priority_overridden { m.priority.clone() } else { String::new() },
            category: m.category.clone(),
            appointment_type: m.appointment_type.clone().unwrap_or_default(),
            branch_id: m.branch_id,
            owner_id: m.owner_id,
            language: m.language.clone(),
            deposit_method: m.deposit_method.clone().unwrap_or_default(),
            esign_status: m.esign_status.clone().unwrap_or_default(),
            transfer: m.transfer,
            status: m.status.clone(),
            description: m.description.clone(),
            stock_numbers: m.stock_units.iter().map(|s| s.stock_number.clone()).collect(),
            user_ids: ids("user"),
            group_ids: ids("group"),
            customer_ids: ids("customer").into_iter().filter(|c| *c != m.customer_id).collect(),
        }
    }
}

#[derive(Debug, FromRow)]
struct Row {
    id: i64,
    opportunity_id: i64,
    opportunity_name: String,
    customer_id: i64,
    customer_name: String,
    kind: String,
    subject: String,
    start_at: i64,
    end_at: i64,
    location: String,
    priority: String,
    priority_overridden: i64,
    category: String,
    appointment_type: Option<String>,
    branch_id: Option<i64>,
    branch_name: Option<String>,
    language: String,
    deposit_method: Option<String>,
    esign_status: Option<String>,
    transfer: i64,
    status: String,
    description: String,
    owner_id: Option<i64>,
    owner_name: Option<String>,
    uid: String,
    sequence: i64,
}

const SELECT: &str = "SELECT m.id, m.opportunity_id, o.name AS opportunity_name, o.customer_id, c.display_name AS customer_name, m.kind, \
    m.subject, m.start_at, m.end_at, m.location, m.priority, m.priority_overridden, m.category, m.appointment_type, m.branch_id, \
    b.name AS branch_name, m.language, m.deposit_method, m.esign_status, m.transfer, m.status, m.description, m.owner_id, \
    u.name AS owner_name, m.uid, m.sequence FROM meetings m JOIN opportunities o ON o.id = m.opportunity_id \
    JOIN customers c ON c.id = o.customer_id LEFT JOIN org_units b ON b.id = m.branch_id LEFT JOIN users u ON u.id = m.owner_id";

/// The rows with their stock units and participants: two queries for the whole page.
async fn assemble_all(conn: &mut sqlx::AnyConnection, rows: Vec<Row>) -> Result<Vec<Meeting>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Integer ids read from the database, written inline.
    let ids = rows.iter().map(|r| r.id.to_string()).collect::<Vec<_>>().join(", ");
    let stock: Vec<(i64, i64, String, String)> = sqlx::query_as(&format!(
        "SELECT l.meeting_id, s.id, s.stock_number, s.description FROM meeting_stock_units l JOIN stock_units s ON s.id = l.stock_unit_id \
         WHERE l.meeting_id IN ({ids}) ORDER BY s.stock_number"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let parts: Vec<(i64, String, i64, Option<String>)> = sqlx::query_as(&format!(
        "SELECT p.meeting_id, p.kind, p.ref_id, COALESCE(c.display_name, u.name, g.name) FROM meeting_participants p \
         LEFT JOIN customers c ON p.kind = 'customer' AND c.id = p.ref_id LEFT JOIN users u ON p.kind = 'user' AND u.id = p.ref_id \
         LEFT JOIN user_groups g ON p.kind = 'group' AND g.id = p.ref_id WHERE p.meeting_id IN ({ids}) ORDER BY p.kind, p.ref_id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Meeting {
            stock_units: stock
                .iter()
                .filter(|x| x.0 == r.id)
                .map(|x| StockRef { id: x.1, stock_number: x.2.clone(), description: x.3.clone() })
                .collect(),
            participants: parts
                .iter()
                .filter(|x| x.0 == r.id)
                .map(|x| Participant { kind: x.1.clone(), id: x.2, name: x.3.clone().unwrap_or_default() })
                .collect(),
            id: r.id,
            opportunity_id: r.opportunity_id,
            opportunity_name: r.opportunity_name,
            customer_id: r.customer_id,
            customer_name: r.customer_name,
            kind: r.kind,
            subject: r.subject,
            start_at: r.start_at,
            end_at: r.end_at,
            location: r.location,
            priority: r.priority,
            priority_overridden: r.priority_overridden != 0,
            category: r.category,
            appointment_type: r.appointment_type,
            branch_id: r.branch_id,
            branch_name: r.branch_name,
            language: r.language,
            deposit_method: r.deposit_method,
            esign_status: r.esign_status,
            transfer: r.transfer != 0,
            status: r.status,
            description: r.description,
            owner_id: r.owner_id,
            owner_name: r.owner_name,
            uid: r.uid,
            sequence: r.sequence,
        })
        .collect())
}

async fn assemble(conn: &mut sqlx::AnyConnection, r: Row) -> Result<Meeting> {
    assemble_all(conn, vec![r]).await?.pop().ok_or(Error::NotFound)
}

pub async fn get(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Option<Meeting>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE m.id = $1")).bind(id).fetch_optional(&mut *conn).await?;
    match row {
        Some(r) => Ok(Some(assemble(conn, r).await?)),
        None => Ok(None),
    }
}

/// The condition "the user may see this meeting": its opportunity is visible, which holds
/// for the meeting's rep and participants too (taking part, see `Visibility::opportunities`).
fn visible_cond(vis: &Visibility) -> Sql {
    let mut s = Sql::new("(o.trashed = 0 AND ");
    s.append(vis.opportunities("o")).push(")");
    s
}

pub async fn get_visible(db: &Db, vis: &Visibility, id: i64) -> Result<Option<Meeting>> {
    let mut q = Sql::new(SELECT);
    q.push(" WHERE m.id = ").bind(id).push(" AND ").append(visible_cond(vis));
    let mut conn = db.pool.acquire().await?;
    let row: Option<Row> = q.query_as().fetch_optional(&mut *conn).await?;
    match row {
        Some(r) => Ok(Some(assemble(&mut conn, r).await?)),
        None => Ok(None),
    }
}

/// Whose calendar.
#[derive(Debug, Clone, Copy)]
pub enum CalendarOf {
    /// A user's: meetings they are the rep of or take part in (directly or by group).
    User(i64),
    /// A branch's.
    Branch(i64),
    /// Everything the viewer may see.
    All,
}

/// Meetings starting in `[from, to)` on a calendar, filtered by the viewer's visibility.
pub async fn calendar(db: &Db, vis: &Visibility, of: CalendarOf, from: Millis, to: Millis) -> Result<Vec<Meeting>> {
    let mut q = Sql::new(SELECT);
    q.push(" WHERE m.start_at >= ").bind(from).push(" AND m.start_at < ").bind(to).push(" AND ").append(visible_cond(vis));
    match of {
        CalendarOf::User(u) => {
            q.push(" AND (m.owner_id = ").bind(u);
            q.push(" OR EXISTS (SELECT 1 FROM meeting_participants p WHERE p.meeting_id = m.id AND ((p.kind = 'user' AND p.ref_id = ")
                .bind(u)
                .push(") OR (p.kind = 'group' AND p.ref_id IN (SELECT group_id FROM user_group_members WHERE user_id = ")
                .bind(u)
                .push(")))))");
        }
        CalendarOf::Branch(b) => {
            q.push(" AND m.branch_id = ").bind(b);
        }
        CalendarOf::All => {}
    }
    q.push(" ORDER BY m.start_at, m.id LIMIT 500");
    let mut conn = db.pool.acquire().await?;
    let rows: Vec<Row> = q.query_as().fetch_all(&mut *conn).await?;
    assemble_all(&mut conn, rows).await
}

pub async fn for_opportunity(db: &Db, opportunity_id: i64) -> Result<Vec<Meeting>> {
    let mut conn = db.pool.acquire().await?;
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} WHERE m.opportunity_id = $1 ORDER BY m.start_at DESC"))
        .bind(opportunity_id)
        .fetch_all(&mut *conn)
        .await?;
    assemble_all(&mut conn, rows).await
}

struct Resolved {
    stock_ids: Vec<i64>,
    customer_first_name: String,
    customer_language: String,
    opp_branch: Option<i64>,
    opp_owner: Option<i64>,
    customer_id: i64,
}

/// Checks the references; what the meeting already has (`current`: a rep who has since left,
/// participants someone else added) may be kept. A new rep or participant must be a record the
/// user may see: staff from their directory, customers they may read; any other id is
/// refused as unknown, without its name.
async fn resolve(tx: &mut Tx, input: &MeetingInput, vis: &Visibility, current: Option<&Meeting>) -> Result<Resolved> {
    let current_owner = current.and_then(|m| m.owner_id);
    let kept = |kind: &str, id: i64| current.is_some_and(|m| m.participants.iter().any(|p| p.kind == kind && p.id == id));
    let mut errs = FieldErrors::new();
    let opp: Option<(i64, Option<i64>, Option<i64>, i64)> =
        sqlx::query_as("SELECT customer_id, branch_id, owner_id, trashed FROM opportunities WHERE id = $1")
            .bind(input.opportunity_id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some((customer_id, opp_branch, opp_owner, _)) = opp.filter(|o| o.3 == 0) else {
        return Err(Error::validation("opportunity_id", "error.unknown_opportunity"));
    };
    let (first, last, lang): (String, String, String) =
        sqlx::query_as("SELECT first_name, display_name, language FROM customers WHERE id = $1")
            .bind(customer_id)
            .fetch_one(&mut **tx)
            .await?;
    let mut stock_ids = Vec::new();
    for n in &input.stock_numbers {
        match sqlx::query_scalar::<_, i64>("SELECT id FROM stock_units WHERE stock_number = $1").bind(n).fetch_optional(&mut **tx).await? {
            Some(id) => stock_ids.push(id),
            None => {
                errs.add("stock_numbers", "error.unknown_stock_unit");
                break;
            }
        }
    }
    if let Some(o) = input.owner_id.filter(|o| Some(*o) != current_owner) {
        // The file's own rep is always a valid choice; anyone else comes from the directory.
        let n: i64 = if Some(o) == opp_owner {
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1 AND active = 1").bind(o).fetch_one(&mut **tx).await?
        } else {
            in_directory(tx, vis, o).await?
        };
        if n == 0 {
            errs.add("owner_id", "error.unknown_user");
        }
    }
    for (list, code, field) in [("meeting_category", &input.category, "category"), ("meeting_status", &input.status, "status")] {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM value_list_items WHERE list_code = $1 AND code = $2")
            .bind(list)
            .bind(code)
            .fetch_one(&mut **tx)
            .await?;
        if n == 0 {
            errs.add(field, "error.invalid_choice");
        }
    }
    if let Some(b) = input.branch_id {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM org_units WHERE id = $1").bind(b).fetch_one(&mut **tx).await?;
        if n == 0 {
            errs.add("branch_id", "error.unknown_org_unit");
        }
    }
    for u in &input.user_ids {
        let n: i64 = if kept("user", *u) { 1 } else { in_directory(tx, vis, *u).await? };
        if n == 0 {
            errs.add("user_ids", "error.unknown_user");
            break;
        }
    }
    for g in &input.group_ids {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_groups WHERE id = $1").bind(*g).fetch_one(&mut **tx).await?;
        if n == 0 {
            errs.add("group_ids", "error.unknown_group");
            break;
        }
    }
    for c in &input.customer_ids {
        let n: i64 = if kept("customer", *c) {
            1
        } else {
            let mut q = Sql::new("SELECT COUNT(*) FROM customers c WHERE c.id = ");
            q.bind(*c).push(" AND ").append(vis.customers("c"));
            q.query_scalar().fetch_one(&mut **tx).await?
        };
        if n == 0 {
            errs.add("customer_ids", "error.unknown_customer");
            break;
        }
    }
    errs.into_result()?;
    let first = if first.is_empty() { last } else { first };
    Ok(Resolved { stock_ids, customer_first_name: first, customer_language: lang, opp_branch, opp_owner, customer_id })
}

/// 1 when user `id` is an active user of the directory `vis` sees, else 0.
async fn in_directory(tx: &mut Tx, vis: &Visibility, id: i64) -> Result<i64> {
    let mut q = Sql::new("SELECT COUNT(*) FROM users u WHERE u.active = 1 AND u.id = ");
    q.bind(id).push(" AND ").append(vis.filter("u.id", "u.org_unit_id"));
    Ok(q.query_scalar().fetch_one(&mut **tx).await?)
}

/// The branch's group: the first group attached to the meeting's branch.
async fn branch_group(tx: &mut Tx, branch: Option<i64>) -> Result<Option<i64>> {
    let Some(b) = branch else { return Ok(None) };
    Ok(sqlx::query_scalar("SELECT id FROM user_groups WHERE org_unit_id = $1 ORDER BY id LIMIT 1")
        .bind(b)
        .fetch_optional(&mut **tx)
        .await?)
}

async fn write_links(tx: &mut Tx, id: i64, r: &Resolved, input: &MeetingInput, owner: Option<i64>, branch: Option<i64>) -> Result<()> {
    sqlx::query("DELETE FROM meeting_stock_units WHERE meeting_id = $1").bind(id).execute(&mut **tx).await?;
    for s in &r.stock_ids {
        sqlx::query("INSERT INTO meeting_stock_units (meeting_id, stock_unit_id) VALUES ($1, $2)")
            .bind(id)
            .bind(*s)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("DELETE FROM meeting_participants WHERE meeting_id = $1").bind(id).execute(&mut **tx).await?;
    let mut parts: Vec<(&str, i64)> = vec![("customer", r.customer_id)];
    parts.extend(input.customer_ids.iter().map(|c| ("customer", *c)));
    // The sales expert assigned to the file takes part.
    parts.extend(owner.map(|o| ("user", o)));
    parts.extend(input.user_ids.iter().map(|u| ("user", *u)));
    parts.extend(input.group_ids.iter().map(|g| ("group", *g)));
    // Virtual meetings: the branch's group too.
    if input.kind == "virtuel" {
        parts.extend(branch_group(tx, branch).await?.map(|g| ("group", g)));
    }
    parts.sort();
    parts.dedup();
    for (kind, ref_id) in parts {
        sqlx::query("INSERT INTO meeting_participants (meeting_id, kind, ref_id) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(kind)
            .bind(ref_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn derived(input: &MeetingInput, r: &Resolved) -> (String, String, bool) {
    let subject = subject(&input.kind, &r.customer_first_name, &input.stock_numbers);
    let (prio, overridden) = match &input.priority {
        Some(p) => (p.clone(), true),
        None => (priority(&input.kind, input.deposit_method.is_some(), r.stock_ids.len()).to_string(), false),
    };
    (subject, prio, overridden)
}

/// Books a meeting: stores it, moves the opportunity to the "meeting booked" status when it
/// is earlier in the pipeline, writes the timeline and sends the confirmation with its
/// invitation.
pub async fn create(db: &Db, actor: &Actor, vis: &Visibility, now: Millis, input: &MeetingInput, zone: Zone) -> Result<Meeting> {
    let statuses = Statuses::load(db).await?;
    let mut tx = db.begin().await?;
    let r = resolve(&mut tx, input, vis, None).await?;
    let (subject, prio, overridden) = derived(input, &r);
    let branch = input.branch_id.or(r.opp_branch);
    let owner = input.owner_id.or(r.opp_owner);
    let language = input.language.clone().unwrap_or_else(|| r.customer_language.clone());
    let uid = format!(
        "{}@carnet",
        crate::identity::session::new_secret().chars().filter(|c| c.is_ascii_alphanumeric()).take(24).collect::<String>()
    );
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO meetings (opportunity_id, kind, subject, start_at, end_at, location, priority, priority_overridden, category, \
         appointment_type, branch_id, language, deposit_method, esign_status, transfer, status, description, owner_id, uid, sequence, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, 0, $20, $20) \
         RETURNING id",
    )
    .bind(input.opportunity_id)
    .bind(&input.kind)
    .bind(&subject)
    .bind(input.start_at)
    .bind(input.end_at)
    .bind(&input.location)
    .bind(&prio)
    .bind(overridden as i64)
    .bind(&input.category)
    .bind(input.appointment_type.as_deref())
    .bind(branch)
    .bind(&language)
    .bind(input.deposit_method.as_deref())
    .bind(input.esign_status.as_deref())
    .bind(input.transfer as i64)
    .bind(&input.status)
    .bind(&input.description)
    .bind(owner)
    .bind(&uid)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    write_links(&mut tx, id, &r, input, owner, branch).await?;
    let m = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(&mut tx, actor, now, id, &m).await?;
    if let (None, Some(rep)) = (r.opp_owner, owner) {
        super::store::take_owner_in(&mut tx, actor, now, input.opportunity_id, rep, input.branch_id).await?;
    }
    super::leads::answered_in(&mut tx, input.opportunity_id, now).await?;
    // The opportunity moves to "meeting booked" when that is ahead of where it is.
    if let Some(booked) = statuses.meeting_booked() {
        let cur: String =
            sqlx::query_scalar("SELECT status FROM opportunities WHERE id = $1").bind(input.opportunity_id).fetch_one(&mut *tx).await?;
        let ahead = statuses.get(&cur).is_none_or(|s| s.position < booked.position && !s.has_flag("lost") && !s.has_flag("trash"));
        if ahead {
            let code = booked.code.clone();
            super::store::change_status_in(&mut tx, actor, now, &statuses, input.opportunity_id, &code, RightSet::all()).await?;
        }
    }
    super::store::add_note_in(
        &mut tx,
        actor,
        now,
        input.opportunity_id,
        "meeting",
        &format!("{} — {}", m.subject, zone.format(m.start_at)),
    )
    .await?;
    send(&mut tx, now, &m, zone, "meeting_confirmation", crate::mail::ics::Method::Request, actor).await?;
    tx.commit().await?;
    Ok(m)
}

/// Changes a meeting. A change of time, place, subject or participants sends the update.
pub async fn update(db: &Db, actor: &Actor, vis: &Visibility, now: Millis, id: i64, input: &MeetingInput, zone: Zone) -> Result<Meeting> {
    let mut tx = db.begin().await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if input.opportunity_id != old.opportunity_id {
        return Err(Error::validation("opportunity_id", "error.read_only"));
    }
    let before = audit::Before::read(&mut tx, "meetings", id).await?;
    let r = resolve(&mut tx, input, vis, Some(&old)).await?;
    let (subject, prio, overridden) = derived(input, &r);
    let branch = input.branch_id.or(old.branch_id);
    let owner = input.owner_id.or(old.owner_id);
    let language = input.language.clone().unwrap_or_else(|| old.language.clone());
    sqlx::query(
        "UPDATE meetings SET kind = $1, subject = $2, start_at = $3, end_at = $4, location = $5, priority = $6, priority_overridden = $7, \
         category = $8, appointment_type = $9, branch_id = $10, language = $11, deposit_method = $12, esign_status = $13, transfer = $14, \
         status = $15, description = $16, owner_id = $17, updated_at = $18 WHERE id = $19",
    )
    .bind(&input.kind)
    .bind(&subject)
    .bind(input.start_at)
    .bind(input.end_at)
    .bind(&input.location)
    .bind(&prio)
    .bind(overridden as i64)
    .bind(&input.category)
    .bind(input.appointment_type.as_deref())
    .bind(branch)
    .bind(&language)
    .bind(input.deposit_method.as_deref())
    .bind(input.esign_status.as_deref())
    .bind(input.transfer as i64)
    .bind(&input.status)
    .bind(&input.description)
    .bind(owner)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    write_links(&mut tx, id, &r, input, owner, branch).await?;
    if let (None, Some(rep)) = (r.opp_owner, owner) {
        super::store::take_owner_in(&mut tx, actor, now, input.opportunity_id, rep, input.branch_id).await?;
    }
    let mut new = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let changes = audit::diff(&old, &new);
    if before.unchanged(&mut tx, &old, &new).await? {
        // A no-change save writes nothing, not even `updated_at`.
        tx.rollback().await?;
        return Ok(old);
    }
    audit::record(&mut tx, actor, now, Meeting::ENTITY, id, "update", &changes).await?;
    let cancelled = is_cancelled(&mut tx, &new.status).await?;
    let invitation = ["subject", "start_at", "end_at", "location", "participants", "description"];
    let was_cancelled = is_cancelled(&mut tx, &old.status).await?;
    if cancelled && !was_cancelled {
        new = bump(&mut tx, id).await?;
        send(&mut tx, now, &new, zone, "meeting_cancelled", crate::mail::ics::Method::Cancel, actor).await?;
    } else if !cancelled && changes.iter().any(|c| invitation.contains(&c.field.as_ref()) || was_cancelled) {
        new = bump(&mut tx, id).await?;
        send(&mut tx, now, &new, zone, "meeting_updated", crate::mail::ics::Method::Request, actor).await?;
    }
    tx.commit().await?;
    Ok(new)
}

async fn is_cancelled(tx: &mut Tx, status: &str) -> Result<bool> {
    let flags: Option<String> = sqlx::query_scalar("SELECT flags FROM value_list_items WHERE list_code = 'meeting_status' AND code = $1")
        .bind(status)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(flags.is_some_and(|f| f.split_whitespace().any(|x| x == "cancelled")))
}

async fn bump(tx: &mut Tx, id: i64) -> Result<Meeting> {
    sqlx::query("UPDATE meetings SET sequence = sequence + 1 WHERE id = $1").bind(id).execute(&mut **tx).await?;
    get(tx, id).await?.ok_or(Error::NotFound)
}

/// Cancels a meeting (status flagged `cancelled`) and sends the CANCEL.
pub async fn cancel(db: &Db, actor: &Actor, now: Millis, id: i64, zone: Zone) -> Result<Meeting> {
    let mut tx = db.begin().await?;
    let code = cancelled_code(&mut tx).await?;
    let old = get(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if is_cancelled(&mut tx, &old.status).await? {
        return Err(Error::InvalidState { reason: "error.meeting_cancelled" });
    }
    let new = cancel_in(&mut tx, actor, now, old, &code, zone).await?;
    tx.commit().await?;
    Ok(new)
}

/// The active meeting status flagged `cancelled`.
async fn cancelled_code(tx: &mut Tx) -> Result<String> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT code, flags FROM value_list_items WHERE list_code = 'meeting_status' AND active = 1 ORDER BY position, id")
            .fetch_all(&mut **tx)
            .await?;
    rows.into_iter()
        .find(|(_, f)| f.split_whitespace().any(|x| x == "cancelled"))
        .map(|(c, _)| c)
        .ok_or(Error::InvalidState { reason: "error.no_status" })
}

/// Cancels `old` in the caller's transaction: the status, a new sequence, the history, a note
/// on the opportunity's timeline, and the cancellation email with its CANCEL invitation.
async fn cancel_in(tx: &mut Tx, actor: &Actor, now: Millis, old: Meeting, code: &str, zone: Zone) -> Result<Meeting> {
    sqlx::query("UPDATE meetings SET status = $1, sequence = sequence + 1, updated_at = $2 WHERE id = $3")
        .bind(code)
        .bind(now)
        .bind(old.id)
        .execute(&mut **tx)
        .await?;
    let new = get(tx, old.id).await?.ok_or(Error::NotFound)?;
    audit::record(tx, actor, now, Meeting::ENTITY, old.id, "cancel", &audit::diff(&old, &new)).await?;
    super::store::add_note_in(tx, actor, now, old.opportunity_id, "meeting", &format!("{} — annulé / cancelled", old.subject)).await?;
    send(tx, now, &new, zone, "meeting_cancelled", crate::mail::ics::Method::Cancel, actor).await?;
    Ok(new)
}

/// When an opportunity goes to the trash, in the same transaction: cancels its meetings that
/// are not over and not cancelled yet, each with its CANCEL to its participants (meetings that
/// already took place stay as they were). Returns how many were cancelled.
pub async fn cancel_for_opportunity_in(tx: &mut Tx, actor: &Actor, now: Millis, opportunity_id: i64) -> Result<usize> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM meetings WHERE opportunity_id = $1 AND end_at > $2 ORDER BY id")
        .bind(opportunity_id)
        .bind(now)
        .fetch_all(&mut **tx)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let code = cancelled_code(tx).await?;
    let zone = Zone::parse(&crate::settings::get_in(tx, "ui.timezone").await?).unwrap_or_default();
    let mut n = 0;
    for id in ids {
        let Some(old) = get(tx, id).await? else { continue };
        if is_cancelled(tx, &old.status).await? {
            continue;
        }
        cancel_in(tx, actor, now, old, &code, zone).await?;
        n += 1;
    }
    Ok(n)
}

/// The confirmation, update or cancellation email, with its invitation, to the branch's
/// group, the rep assigned to the file and the staff taking part (users and groups).
async fn send(
    tx: &mut Tx,
    now: Millis,
    m: &Meeting,
    zone: Zone,
    event: &'static str,
    method: crate::mail::ics::Method,
    actor: &Actor,
) -> Result<()> {
    use crate::mail::notify::{notify, Notice, Recipient};
    let mut recipients: Vec<Recipient> = Vec::new();
    if let Some(g) = branch_group(tx, m.branch_id).await? {
        recipients.push(Recipient::Group(g));
    }
    if let Some(o) = m.owner_id {
        recipients.push(Recipient::User(o));
    }
    for p in &m.participants {
        match p.kind.as_str() {
            "user" => recipients.push(Recipient::User(p.id)),
            "group" => recipients.push(Recipient::Group(p.id)),
            _ => {}
        }
    }
    if recipients.is_empty() {
        return Ok(());
    }
    // Attendees of the invitation: every staff address the email goes to.
    let mut attendees = Vec::new();
    let mut user_ids: Vec<i64> = m.participants.iter().filter(|p| p.kind == "user").map(|p| p.id).collect();
    user_ids.extend(m.owner_id);
    for g in m.participants.iter().filter(|p| p.kind == "group").map(|p| p.id).chain(branch_group(tx, m.branch_id).await?) {
        let members: Vec<i64> =
            sqlx::query_scalar("SELECT user_id FROM user_group_members WHERE group_id = $1").bind(g).fetch_all(&mut **tx).await?;
        user_ids.extend(members);
    }
    user_ids.sort();
    user_ids.dedup();
    for u in user_ids {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT name, email FROM users WHERE id = $1 AND active = 1").bind(u).fetch_optional(&mut **tx).await?;
        if let Some((name, email)) = row {
            if let Ok(e) = crate::identity::Email::parse(&email) {
                attendees.push(crate::mail::Mailbox::new(Some(&name), &e));
            }
        }
    }
    let (organizer, _) = crate::mail::sender(tx).await?;
    let stock = m.stock_units.iter().map(|s| format!("{} {}", s.stock_number, s.description)).collect::<Vec<_>>().join(", ");
    let description = format!("{}\n{} — {}\n{}: {}\n{}", m.subject, m.customer_name, m.opportunity_name, m.priority, stock, m.description);
    let ev = crate::mail::ics::Event {
        uid: m.uid.clone(),
        sequence: m.sequence,
        start: m.start_at,
        end: m.end_at,
        summary: m.subject.clone(),
        description,
        location: m.location.clone(),
        organizer,
        attendees,
    };
    let vars = serde_json::json!({
        "meeting": {
            "id": m.id, "subject": m.subject, "start": zone.format(m.start_at), "end": zone.time(m.end_at), "location": m.location,
            "priority": m.priority, "category": m.category, "kind": m.kind, "appointment_type": m.appointment_type,
            "branch": m.branch_name, "language": m.language, "deposit_method": m.deposit_method, "esign_status": m.esign_status,
            "transfer": m.transfer, "status": m.status, "description": m.description, "stock": stock, "rep": m.owner_name,
            "participants": m.participants.iter().map(|p| p.name.clone()).collect::<Vec<_>>().join(", "),
        },
        "customer": {"name": m.customer_name},
        "opportunity": {"id": m.opportunity_id, "name": m.opportunity_name},
        "actor": {"name": actor.name},
    });
    let notice = Notice {
        event,
        entity: Some(("meeting".into(), m.id)),
        vars,
        attachments: vec![crate::mail::ics::attachment(&ev, method, now)],
        created_by: actor.id,
    };
    notify(tx, now, notice, &recipients).await?;
    Ok(())
}
