//! Pre-sales requests: storage. A partner user's reads and writes take the partner
//! organisation from their session ([`By::Partner`]) and filter by it in SQL: another partner's
//! request reads as `None`, exactly as an unknown id. Every change goes through
//! [`act`], which asks [`super::workflow::decide`] and applies its effect in one transaction:
//! the row, the conversation, the slots, the history, the emails to the other side and the
//! invitation of the accepted slot.

use serde::Serialize;
use serde_json::json;
use sqlx::FromRow;

use super::calendar;
use super::workflow::{self, Action, Invitation, Side, State, Status};
use crate::audit::{self, Actor, Audited, Change};
use crate::clock::{Millis, Zone};
use crate::db::{Db, Sql, Tx};
use crate::error::{Error, FieldErrors, Result};
use crate::i18n::Lang;
use crate::mail::notify::{notify, Notice, Recipient};
use crate::mail::Mailbox;

/// The value list of intervention types.
pub const TYPE_LIST: &str = "presales_intervention_type";
/// The longest description, message or reason.
pub const TEXT_MAX: usize = 10_000;
/// The longest place.
pub const PLACE_MAX: usize = 500;
/// How many requests a page of a list holds.
pub const PAGE: i64 = 25;
/// Where a partner user opens a request (the partner portal), and where staff do.
pub const PARTNER_PATH: &str = "/partner/presales";
pub const STAFF_PATH: &str = "/presales";

/// Who acts: a partner user (their organisation from the session) or a staff user.
#[derive(Debug, Clone)]
pub enum By {
    Partner { partner_id: i64, user_id: i64, can_opportunities: bool, is_admin: bool, actor: Actor },
    Staff { user_id: i64, presales: bool, all_teams: bool, actor: Actor },
}

/// Which pre-sales teams' requests a staff user reaches: those of the groups they are a member
/// of (and the requests without a team), or every team's with the right `presales.all_teams`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeamScope {
    pub user_id: i64,
    pub all: bool,
}

impl TeamScope {
    /// The teams a staff user works for: their groups', or every team's with `presales.all_teams`.
    pub fn of(p: &crate::access::Principal) -> TeamScope {
        TeamScope { user_id: p.user_id, all: p.can(crate::access::Right::PresalesAllTeams) }
    }

    /// The scope's requests as SQL on `presales_requests r`: submitted ones (never a draft), of
    /// the user's teams or without a team.
    pub fn cond(self) -> Sql {
        let mut q = Sql::new("r.status <> 'brouillon'");
        if !self.all {
            q.push(" AND (r.team_id IS NULL OR r.team_id IN (SELECT m.group_id FROM user_group_members m WHERE m.user_id = ")
                .bind(self.user_id)
                .push("))");
        }
        q
    }
}

/// Whose request a read may return: a partner's own, a staff user's teams' (never a draft), or
/// any (inside the store, after the check).
#[derive(Debug, Clone, Copy)]
enum Reach {
    Partner(i64),
    Team(TeamScope),
    Any,
}

impl Reach {
    /// The filter on `presales_requests r`, in SQL.
    fn push(self, q: &mut Sql) {
        match self {
            Reach::Partner(p) => {
                q.push(" AND r.partner_id = ").bind(p);
            }
            Reach::Team(t) => {
                q.push(" AND ").append(t.cond());
            }
            Reach::Any => {}
        }
    }
}

impl By {
    fn actor(&self) -> &Actor {
        match self {
            By::Partner { actor, .. } | By::Staff { actor, .. } => actor,
        }
    }
    fn reach(&self) -> Reach {
        match self {
            By::Partner { partner_id, .. } => Reach::Partner(*partner_id),
            // Staff without the right are refused by the workflow (403), whatever the team.
            By::Staff { user_id, presales: false, .. } => Reach::Team(TeamScope { user_id: *user_id, all: true }),
            By::Staff { user_id, all_teams, .. } => Reach::Team(TeamScope { user_id: *user_id, all: *all_teams }),
        }
    }
    fn workflow_actor(&self) -> workflow::Actor {
        match self {
            By::Partner { is_admin: true, .. } => workflow::Actor::PartnerAdmin,
            By::Partner { can_opportunities: true, .. } => workflow::Actor::PartnerUser,
            By::Partner { .. } => workflow::Actor::PartnerWithoutRight,
            By::Staff { presales: true, .. } => workflow::Actor::Presales,
            By::Staff { .. } => workflow::Actor::StaffWithoutRight,
        }
    }
}

/// A pre-sales request with the names around it.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct PresalesRequest {
    pub id: i64,
    pub number: String,
    pub partner_id: i64,
    pub partner_name: String,
    pub partner_opportunity_id: i64,
    pub customer_name: String,
    pub opportunity_type: String,
    pub created_by_user_id: Option<i64>,
    pub created_by_name: Option<String>,
    pub description: String,
    pub intervention_type: String,
    #[sqlx(try_from = "crate::db::Flag")]
    pub on_site: bool,
    pub place: Option<String>,
    pub desired_date: Option<String>,
    pub preferred_engineer_id: Option<i64>,
    pub preferred_engineer_name: Option<String>,
    pub engineer_id: Option<i64>,
    pub engineer_name: Option<String>,
    /// The pre-sales team (a staff group) the request belongs to.
    pub team_id: Option<i64>,
    pub team_name: Option<String>,
    pub status: String,
    pub previous_status: Option<String>,
    pub reason: Option<String>,
    pub round: i64,
    pub accepted_slot_id: Option<i64>,
    pub invitation_sequence: i64,
    pub submitted_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PresalesRequest {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Brouillon)
    }
    pub fn state(&self) -> State {
        State { status: self.status(), previous: self.previous_status.as_deref().and_then(Status::parse) }
    }
}

impl Audited for PresalesRequest {
    const ENTITY: &'static str = "presales_request";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        let id = |v: Option<i64>| v.map(|x| x.to_string());
        vec![
            ("partner_opportunity_id", Some(self.partner_opportunity_id.to_string())),
            ("description", Some(self.description.clone())),
            ("intervention_type", Some(self.intervention_type.clone())),
            ("on_site", Some(self.on_site.to_string())),
            ("place", self.place.clone()),
            ("desired_date", self.desired_date.clone()),
            ("preferred_engineer_id", id(self.preferred_engineer_id)),
            ("engineer_id", id(self.engineer_id)),
            ("team_id", id(self.team_id)),
            ("status", Some(self.status.clone())),
            ("previous_status", self.previous_status.clone()),
            ("reason", self.reason.clone()),
            ("round", Some(self.round.to_string())),
            ("accepted_slot_id", id(self.accepted_slot_id)),
        ]
    }
}

/// The names around a request are read by scalar subqueries rather than joined: with seven
/// joined tables PostgreSQL spent 10 to 25 ms planning each page (`docs/benchmarks.md`).
const SELECT: &str = "SELECT r.id, r.number, r.partner_id, p.name AS partner_name, r.partner_opportunity_id, po.customer_name, \
    po.opportunity_type, r.created_by_user_id, (SELECT cu.name FROM partner_users cu WHERE cu.id = r.created_by_user_id) AS created_by_name, \
    r.description, r.intervention_type, r.on_site, r.place, r.desired_date, r.preferred_engineer_id, \
    (SELECT pe.name FROM users pe WHERE pe.id = r.preferred_engineer_id) AS preferred_engineer_name, r.engineer_id, \
    (SELECT e.name FROM users e WHERE e.id = r.engineer_id) AS engineer_name, r.team_id, \
    (SELECT tg.name FROM user_groups tg WHERE tg.id = r.team_id) AS team_name, r.status, \
    r.previous_status, r.reason, r.round, r.accepted_slot_id, r.invitation_sequence, r.submitted_at, r.created_at, r.updated_at \
    FROM presales_requests r JOIN partners p ON p.id = r.partner_id \
    JOIN partner_opportunities po ON po.id = r.partner_opportunity_id";

/// A proposed slot.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Slot {
    pub id: i64,
    pub request_id: i64,
    pub round: i64,
    pub engineer_id: i64,
    pub engineer_name: String,
    pub start_at: Millis,
    pub end_at: Millis,
    pub created_at: Millis,
}

/// A message of a request's conversation.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
#[schema(as = PresalesMessage)]
pub struct Message {
    pub id: i64,
    pub kind: String,
    pub side: String,
    pub author_name: String,
    pub body: String,
    pub created_at: Millis,
}

/// The fields a partner types (parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInput {
    pub partner_opportunity_id: i64,
    pub description: String,
    pub intervention_type: String,
    pub on_site: bool,
    pub place: Option<String>,
    pub desired_date: Option<String>,
    pub preferred_engineer_id: Option<i64>,
}

/// The request form as posted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestForm {
    pub partner_opportunity_id: String,
    pub description: String,
    pub intervention_type: String,
    pub on_site: bool,
    pub place: String,
    pub desired_date: String,
    pub preferred_engineer_id: String,
    pub confirmed: bool,
}

fn text_field(errs: &mut FieldErrors, field: &str, raw: &str, max: usize, required: bool) -> Option<String> {
    let t = raw.trim();
    if t.is_empty() {
        if required {
            errs.add(field, "error.required");
        }
        return None;
    }
    if t.chars().count() > max {
        errs.add(field, "error.too_long");
        return None;
    }
    Some(t.to_string())
}

impl RequestForm {
    /// Parses the form; `creating` requires the confirmation box.
    pub fn parse(&self, creating: bool) -> Result<RequestInput> {
        let mut errs = FieldErrors::new();
        let opp = self.partner_opportunity_id.trim().parse::<i64>().ok().filter(|v| *v > 0);
        if opp.is_none() {
            errs.add("partner_opportunity_id", "error.required");
        }
        let description = text_field(&mut errs, "description", &self.description, TEXT_MAX, true);
        let intervention_type = self.intervention_type.trim().to_string();
        if intervention_type.is_empty() || intervention_type.len() > 60 {
            errs.add("intervention_type", "error.required");
        }
        let place = text_field(&mut errs, "place", &self.place, PLACE_MAX, self.on_site);
        let desired_date = match self.desired_date.trim() {
            "" => None,
            d => match chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d") {
                Ok(_) => Some(d.to_string()),
                Err(_) => {
                    errs.add("desired_date", "error.invalid_datetime");
                    None
                }
            },
        };
        let preferred_engineer_id = match self.preferred_engineer_id.trim() {
            "" | "x" => None,
            v => match v.parse::<i64>() {
                Ok(id) if id > 0 => Some(id),
                _ => {
                    errs.add("preferred_engineer_id", "error.invalid_choice");
                    None
                }
            },
        };
        if creating && !self.confirmed {
            errs.add("confirmed", "error.presales_confirm");
        }
        errs.into_result()?;
        Ok(RequestInput {
            partner_opportunity_id: opp.unwrap_or_default(),
            description: description.unwrap_or_default(),
            intervention_type,
            on_site: self.on_site,
            place: if self.on_site { place } else { None },
            desired_date,
            preferred_engineer_id,
        })
    }
    pub fn from_request(r: &PresalesRequest) -> RequestForm {
        RequestForm {
            partner_opportunity_id: r.partner_opportunity_id.to_string(),
            description: r.description.clone(),
            intervention_type: r.intervention_type.clone(),
            on_site: r.on_site,
            place: r.place.clone().unwrap_or_default(),
            desired_date: r.desired_date.clone().unwrap_or_default(),
            preferred_engineer_id: r.preferred_engineer_id.map(|v| v.to_string()).unwrap_or_default(),
            confirmed: false,
        }
    }
}

/// A slot the team proposes (parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotInput {
    /// `None`: the request's engineer.
    pub engineer_id: Option<i64>,
    pub start_at: Millis,
    pub end_at: Millis,
}

/// Parses up to [`workflow::MAX_SLOTS`] slots typed as local date, start and end times
/// (`slot1_date`, `slot1_start`, `slot1_end`, `slot1_engineer`…); blank rows are skipped.
pub fn parse_slots(rows: &[(String, String, String, String)], zone: Zone) -> Result<Vec<SlotInput>> {
    let mut errs = FieldErrors::new();
    let mut out = Vec::new();
    for (i, (date, start, end, engineer)) in rows.iter().enumerate() {
        let n = i + 1;
        if date.trim().is_empty() && start.trim().is_empty() && end.trim().is_empty() {
            continue;
        }
        let s = zone.parse_local(date, start);
        let e = zone.parse_local(date, end);
        match (s, e) {
            (Some(s), Some(e)) if s < e => {
                let engineer_id = match engineer.trim() {
                    "" | "x" => None,
                    v => match v.parse::<i64>() {
                        Ok(id) if id > 0 => Some(id),
                        _ => {
                            errs.add(format!("slot{n}_engineer"), "error.invalid_choice");
                            None
                        }
                    },
                };
                out.push(SlotInput { engineer_id, start_at: s, end_at: e });
            }
            (Some(_), Some(_)) => errs.add(format!("slot{n}_end"), "error.end_before_start"),
            (None, _) => errs.add(format!("slot{n}_date"), "error.invalid_datetime"),
            (_, None) => errs.add(format!("slot{n}_end"), "error.invalid_datetime"),
        }
    }
    if out.len() > workflow::MAX_SLOTS || (out.is_empty() && errs.is_empty()) {
        errs.add("slots", "error.presales_slots");
    }
    errs.into_result()?;
    Ok(out)
}

/// One step someone takes on a request, with what it carries (parsed).
#[derive(Debug, Clone)]
pub enum Step {
    Edit(RequestInput),
    Submit { confirmed: bool },
    Accept,
    Propose(Vec<SlotInput>),
    PickSlot(i64),
    AskOtherDates(String),
    AskInfo(String),
    AnswerInfo(String),
    Refuse(String),
    Cancel(String),
    Assign(i64),
}

impl Step {
    fn action(&self) -> Action {
        let given = |s: &String| !s.trim().is_empty();
        match self {
            Step::Edit(_) => Action::Edit,
            Step::Submit { confirmed } => Action::Submit { confirmed: *confirmed },
            Step::Accept => Action::Accept,
            Step::Propose(s) => Action::Propose { slots: s.len() },
            Step::PickSlot(_) => Action::PickSlot,
            Step::AskOtherDates(t) => Action::AskOtherDates { expectations: given(t) },
            Step::AskInfo(t) => Action::AskInfo { question: given(t) },
            Step::AnswerInfo(t) => Action::AnswerInfo { answer: given(t) },
            Step::Refuse(t) => Action::Refuse { reason: given(t) },
            Step::Cancel(t) => Action::Cancel { reason: given(t) },
            Step::Assign(_) => Action::Assign,
        }
    }
}

/// A text a step carries, bounded.
pub fn parse_text(field: &'static str, raw: &str) -> Result<String> {
    let t = raw.trim();
    if t.chars().count() > TEXT_MAX {
        return Err(Error::validation(field, "error.too_long"));
    }
    Ok(t.to_string())
}

async fn get_in(conn: &mut sqlx::AnyConnection, id: i64, reach: Reach) -> Result<Option<PresalesRequest>> {
    let mut q = Sql::new(SELECT);
    q.push(" WHERE r.id = ").bind(id);
    reach.push(&mut q);
    Ok(q.query_as().fetch_optional(conn).await?)
}

/// A request of the partner `partner_id` (`None` for another partner's, as for an unknown id).
pub async fn get_for_partner(db: &Db, partner_id: i64, id: i64) -> Result<Option<PresalesRequest>> {
    let mut conn = db.pool.acquire().await?;
    get_in(&mut conn, id, Reach::Partner(partner_id)).await
}

/// A request as a pre-sales engineer sees it: a submitted request of one of their teams (a
/// draft is the partner's alone, another team's request is unknown: both read as `None`).
pub async fn get_for_team(db: &Db, scope: TeamScope, id: i64) -> Result<Option<PresalesRequest>> {
    let mut conn = db.pool.acquire().await?;
    get_in(&mut conn, id, Reach::Team(scope)).await
}

/// Which requests a list shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<Status>,
    pub engineer_id: Option<i64>,
    pub opportunity_id: Option<i64>,
    /// Newest first, those with an id below this one (keyset).
    pub before: Option<i64>,
}

/// A page of requests and whether more follow.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub items: Vec<PresalesRequest>,
    pub next_before: Option<i64>,
}

async fn list(db: &Db, reach: Reach, f: &Filter, limit: i64) -> Result<Listed> {
    let limit = limit.clamp(1, 200);
    let mut conn = db.pool.acquire().await?;
    let mut q = Sql::new(SELECT);
    q.push(" WHERE r.id < ").bind(f.before.unwrap_or(i64::MAX));
    match reach {
        // A member's teams read first: the condition is then a list of ids that every planner
        // ranges over on the index `(team_id, status, id)`; the requests without a team (none
        // once a team group exists) are added only when there are some.
        Reach::Team(t) if !t.all => {
            let ids: Vec<i64> = sqlx::query_scalar("SELECT group_id FROM user_group_members WHERE user_id = $1 ORDER BY group_id")
                .bind(t.user_id)
                .fetch_all(&mut *conn)
                .await?;
            // Two seeks on the team index, on either side of the drafts (which have no team yet).
            let orphans: i64 = sqlx::query_scalar(
                "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM presales_requests WHERE team_id IS NULL AND status < 'brouillon') \
                 OR EXISTS (SELECT 1 FROM presales_requests WHERE team_id IS NULL AND status > 'brouillon') THEN 1 ELSE 0 END AS BIGINT)",
            )
            .fetch_one(&mut *conn)
            .await?;
            q.push(" AND r.status <> 'brouillon' AND (");
            if ids.is_empty() {
                q.push("1 = 0");
            } else {
                q.push("r.team_id IN (");
                for (i, id) in ids.iter().enumerate() {
                    q.push(if i > 0 { ", " } else { "" }).bind(*id);
                }
                q.push(")");
            }
            if orphans == 1 {
                q.push(" OR r.team_id IS NULL");
            }
            q.push(")");
        }
        other => other.push(&mut q),
    }
    if let Some(s) = f.status {
        q.push(" AND r.status = ").bind(s.code());
    }
    if let Some(e) = f.engineer_id {
        q.push(" AND r.engineer_id = ").bind(e);
    }
    if let Some(o) = f.opportunity_id {
        q.push(" AND r.partner_opportunity_id = ").bind(o);
    }
    q.push(" ORDER BY r.id DESC LIMIT ").bind(limit + 1);
    let mut items: Vec<PresalesRequest> = q.query_as().fetch_all(&mut *conn).await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_before = if more { items.last().map(|r| r.id) } else { None };
    Ok(Listed { items, next_before })
}

/// The partner's requests, newest first.
pub async fn list_for_partner(db: &Db, partner_id: i64, f: &Filter, limit: i64) -> Result<Listed> {
    list(db, Reach::Partner(partner_id), f, limit).await
}

/// The queue of the engineer's teams (their submitted requests), newest first.
pub async fn queue(db: &Db, scope: TeamScope, f: &Filter, limit: i64) -> Result<Listed> {
    list(db, Reach::Team(scope), f, limit).await
}

/// Counts of the queue stop here: a status with more shows "1000+" (each count reads at most
/// this many index entries, however many requests the team has had).
pub const COUNT_CAP: i64 = 1000;

/// How many requests of the engineer's teams are in each status of the queue, up to
/// [`COUNT_CAP`] + 1 each: one query per status, each reading at most that many entries of the
/// index `(team_id, status, id)` per team (the teams' ids are read first, so that every
/// planner ranges over that index; requests without a team count for everyone).
pub async fn queue_counts(db: &Db, scope: TeamScope) -> Result<Vec<(Status, i64)>> {
    let mut conn = db.pool.acquire().await?;
    let teams: Option<Vec<i64>> = if scope.all {
        None
    } else {
        Some(
            sqlx::query_scalar("SELECT group_id FROM user_group_members WHERE user_id = $1 ORDER BY group_id")
                .bind(scope.user_id)
                .fetch_all(&mut *conn)
                .await?,
        )
    };
    let capped = |q: &mut Sql, st: Status, teams: Option<&[i64]>| {
        q.push("(SELECT COUNT(*) FROM (SELECT 1 FROM presales_requests r WHERE r.status = ").bind(st.code());
        match teams {
            None => {}
            Some([]) => {
                q.push(" AND r.team_id IS NULL");
            }
            Some(ids) => {
                q.push(" AND r.team_id IN (");
                for (i, id) in ids.iter().enumerate() {
                    q.push(if i > 0 { ", " } else { "" }).bind(*id);
                }
                q.push(")");
            }
        }
        q.push(" LIMIT ").bind(COUNT_CAP + 1).push(") c)");
    };
    let mut out = Vec::with_capacity(Status::QUEUE.len());
    for st in Status::QUEUE {
        let mut q = Sql::new("SELECT ");
        match &teams {
            None => capped(&mut q, st, None),
            Some(ids) => {
                capped(&mut q, st, Some(&[]));
                if !ids.is_empty() {
                    q.push(" + ");
                    capped(&mut q, st, Some(ids));
                }
            }
        }
        let n: i64 = q.query_scalar().fetch_one(&mut *conn).await?;
        out.push((st, n));
    }
    Ok(out)
}

/// Every slot proposed for a request, rounds in order.
pub async fn slots(db: &Db, request_id: i64) -> Result<Vec<Slot>> {
    Ok(sqlx::query_as(
        "SELECT s.id, s.request_id, s.round, s.engineer_id, u.name AS engineer_name, s.start_at, s.end_at, s.created_at \
         FROM presales_slots s JOIN users u ON u.id = s.engineer_id WHERE s.request_id = $1 ORDER BY s.round, s.start_at, s.id",
    )
    .bind(request_id)
    .fetch_all(&db.pool)
    .await?)
}

/// The conversation of a request, oldest first.
pub async fn messages(db: &Db, request_id: i64) -> Result<Vec<Message>> {
    Ok(sqlx::query_as("SELECT id, kind, side, author_name, body, created_at FROM presales_messages WHERE request_id = $1 ORDER BY id")
        .bind(request_id)
        .fetch_all(&db.pool)
        .await?)
}

/// The accepted pre-sales slots of an engineer (or of everyone) starting in `[from, to)`: for
/// the calendar.
/// Only the requests of the viewer's teams are shown.
pub async fn accepted_slots(
    db: &Db,
    scope: TeamScope,
    engineer: Option<i64>,
    from: Millis,
    to: Millis,
) -> Result<Vec<(PresalesRequest, Slot)>> {
    let mut q = Sql::new(
        "SELECT s.id, s.request_id, s.round, s.engineer_id, u.name AS engineer_name, s.start_at, s.end_at, s.created_at \
         FROM presales_slots s JOIN users u ON u.id = s.engineer_id JOIN presales_requests r ON r.accepted_slot_id = s.id \
         WHERE r.status = 'terminee' AND s.start_at >= ",
    );
    q.bind(from).push(" AND s.start_at < ").bind(to);
    if let Some(e) = engineer {
        q.push(" AND s.engineer_id = ").bind(e);
    }
    q.push(" ORDER BY s.start_at, s.id LIMIT 500");
    let rows: Vec<Slot> = q.query_as().fetch_all(&db.pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut conn = db.pool.acquire().await?;
    for s in rows {
        if let Some(r) = get_in(&mut conn, s.request_id, Reach::Team(scope)).await? {
            out.push((r, s));
        }
    }
    Ok(out)
}

/// The partner's opportunities eligible for a pre-sales request (their type carries the flag
/// `presales`), newest first: (id, customer name).
pub async fn eligible_opportunities(db: &Db, partner_id: i64) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as(
        "SELECT po.id, po.customer_name FROM partner_opportunities po JOIN value_list_items v ON v.list_code = $1 AND v.code = po.opportunity_type \
         WHERE po.partner_id = $2 AND v.active = 1 AND (' ' || v.flags || ' ') LIKE '% presales %' ORDER BY po.id DESC LIMIT 500",
    )
    .bind(crate::partners::TYPE_LIST)
    .bind(partner_id)
    .fetch_all(&db.pool)
    .await?)
}

/// The staff users who may be assigned (active holders of `presales.manage`, by name), for
/// the team's drop-downs and the partner's "preferred engineer".
pub async fn engineers(db: &Db) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as(&format!("SELECT u.id, u.name FROM users u WHERE u.active = 1 AND {HAS_RIGHT} ORDER BY u.name, u.id"))
        .bind(crate::access::Right::PresalesManage.code())
        .fetch_all(&db.pool)
        .await?)
}

/// The engineers of a request's team (all engineers when it has none), for assignment and slots.
pub async fn team_engineers(db: &Db, team: Option<i64>) -> Result<Vec<(i64, String)>> {
    let Some(team) = team else { return engineers(db).await };
    Ok(sqlx::query_as(&format!(
        "SELECT u.id, u.name FROM users u JOIN user_group_members m ON m.user_id = u.id AND m.group_id = $2 \
         WHERE u.active = 1 AND {HAS_RIGHT} ORDER BY u.name, u.id"
    ))
    .bind(crate::access::Right::PresalesManage.code())
    .bind(team)
    .fetch_all(&db.pool)
    .await?)
}

/// The user `u` holds the right `$1` through their role.
const HAS_RIGHT: &str = "EXISTS (SELECT 1 FROM role_rights rr WHERE rr.role_id = u.role_id AND rr.right_code = $1)";

async fn check_input(tx: &mut Tx, partner_id: i64, input: &RequestInput) -> Result<()> {
    let mut errs = FieldErrors::new();
    let opp: Option<String> = sqlx::query_scalar("SELECT opportunity_type FROM partner_opportunities WHERE id = $1 AND partner_id = $2")
        .bind(input.partner_opportunity_id)
        .bind(partner_id)
        .fetch_optional(&mut **tx)
        .await?;
    match opp {
        None => errs.add("partner_opportunity_id", "error.invalid_choice"),
        Some(t) => {
            let flags: Option<String> =
                sqlx::query_scalar("SELECT flags FROM value_list_items WHERE list_code = $1 AND code = $2 AND active = 1")
                    .bind(crate::partners::TYPE_LIST)
                    .bind(&t)
                    .fetch_optional(&mut **tx)
                    .await?;
            if !flags.is_some_and(|f| f.split_whitespace().any(|x| x == crate::partners::FLAG_PRESALES)) {
                errs.add("partner_opportunity_id", "error.presales_not_eligible");
            }
        }
    }
    let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM value_list_items WHERE list_code = $1 AND code = $2 AND active = 1")
        .bind(TYPE_LIST)
        .bind(&input.intervention_type)
        .fetch_optional(&mut **tx)
        .await?;
    if known.is_none() {
        errs.add("intervention_type", "error.invalid_choice");
    }
    if let Some(e) = input.preferred_engineer_id {
        if !is_engineer(tx, e, None).await? {
            errs.add("preferred_engineer_id", "error.invalid_choice");
        }
    }
    errs.into_result()
}

/// An active pre-sales engineer, a member of `team` when the request has one.
async fn is_engineer(tx: &mut Tx, user_id: i64, team: Option<i64>) -> Result<bool> {
    let mut q = Sql::new("SELECT u.id FROM users u WHERE u.id = ");
    q.bind(user_id).push(" AND u.active = 1 AND EXISTS (SELECT 1 FROM role_rights rr WHERE rr.role_id = u.role_id AND rr.right_code = ");
    q.bind(crate::access::Right::PresalesManage.code()).push(")");
    if let Some(t) = team {
        q.push(" AND EXISTS (SELECT 1 FROM user_group_members m WHERE m.user_id = u.id AND m.group_id = ").bind(t).push(")");
    }
    let found: Option<i64> = q.query_scalar().fetch_optional(&mut **tx).await?;
    Ok(found.is_some())
}

/// The team of a request of this intervention type: the group the setting
/// `presales.type_teams` names for the type (`demo=Avant-vente Est; atelier=Avant-vente Ouest`),
/// else the group named by `presales.team_group`; `None` when no such group exists.
async fn team_for(tx: &mut Tx, intervention_type: &str) -> Result<Option<i64>> {
    let routes = crate::settings::get_in(tx, "presales.type_teams").await?;
    let default = crate::settings::get_in(tx, "presales.team_group").await?;
    let mut names: Vec<String> = type_team(&routes, intervention_type).into_iter().collect();
    names.push(default.trim().to_string());
    for name in names.iter().filter(|n| !n.is_empty()) {
        let g: Option<i64> = sqlx::query_scalar("SELECT id FROM user_groups WHERE name = $1").bind(name).fetch_optional(&mut **tx).await?;
        if g.is_some() {
            return Ok(g);
        }
    }
    Ok(None)
}

/// The group name the routing setting gives an intervention type (`code=Group; code=Group`).
pub fn type_team(routes: &str, intervention_type: &str) -> Option<String> {
    routes.split([';', '\n']).find_map(|pair| {
        let (code, group) = pair.split_once('=')?;
        (code.trim() == intervention_type && !group.trim().is_empty()).then(|| group.trim().to_string())
    })
}

/// Creates a draft (`brouillon`) from one of the partner's eligible opportunities.
pub async fn create(db: &Db, by: &By, now: Millis, input: &RequestInput) -> Result<PresalesRequest> {
    let By::Partner { partner_id, user_id, can_opportunities, is_admin, actor } = by else {
        return Err(Error::Forbidden);
    };
    if !can_opportunities && !is_admin {
        return Err(Error::Forbidden);
    }
    let mut tx = db.begin().await?;
    check_input(&mut tx, *partner_id, input).await?;
    let number = crate::service::store::next_number(&mut tx, "AV", now).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO presales_requests (number, partner_id, partner_opportunity_id, created_by_user_id, description, intervention_type, on_site, \
         place, desired_date, preferred_engineer_id, status, round, invitation_sequence, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'brouillon', 0, 0, $11, $11) RETURNING id",
    )
    .bind(&number)
    .bind(*partner_id)
    .bind(input.partner_opportunity_id)
    .bind(*user_id)
    .bind(&input.description)
    .bind(&input.intervention_type)
    .bind(input.on_site as i64)
    .bind(&input.place)
    .bind(&input.desired_date)
    .bind(input.preferred_engineer_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let r = get_in(&mut tx, id, Reach::Any).await?.ok_or(Error::NotFound)?;
    audit::created(&mut tx, actor, now, id, &r).await?;
    tx.commit().await?;
    Ok(r)
}

async fn add_message(tx: &mut Tx, now: Millis, id: i64, kind: &str, by: &By, body: &str) -> Result<()> {
    let (side, user_id, partner_user_id) = match by {
        By::Partner { user_id, .. } => ("partner", None, Some(*user_id)),
        By::Staff { user_id, .. } => ("team", Some(*user_id), None),
    };
    sqlx::query(
        "INSERT INTO presales_messages (request_id, kind, side, author_name, user_id, partner_user_id, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(kind)
    .bind(side)
    .bind(&by.actor().name)
    .bind(user_id)
    .bind(partner_user_id)
    .bind(body)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Applies one step (see [`workflow::decide`]). A partner reaches only their organisation's
/// requests: another's is `NotFound` and nothing changes.
pub async fn act(db: &Db, by: &By, now: Millis, zone: Zone, id: i64, step: Step) -> Result<PresalesRequest> {
    let mut tx = db.begin().await?;
    let old = get_in(&mut tx, id, by.reach()).await?.ok_or(Error::NotFound)?;
    let effect = workflow::decide(old.state(), step.action(), by.workflow_actor())?;
    let actor = by.actor().clone();
    let mut message: Option<String> = None;
    let mut extra: Vec<Change> = Vec::new();
    match &step {
        Step::Edit(input) => {
            check_input(&mut tx, old.partner_id, input).await?;
            sqlx::query(
                "UPDATE presales_requests SET partner_opportunity_id = $1, description = $2, intervention_type = $3, on_site = $4, place = $5, \
                 desired_date = $6, preferred_engineer_id = $7 WHERE id = $8",
            )
            .bind(input.partner_opportunity_id)
            .bind(&input.description)
            .bind(&input.intervention_type)
            .bind(input.on_site as i64)
            .bind(&input.place)
            .bind(&input.desired_date)
            .bind(input.preferred_engineer_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        Step::Submit { .. } => {
            // The request enters the queue of its team (kept when one was set before).
            let team = match old.team_id {
                Some(t) => Some(t),
                None => team_for(&mut tx, &old.intervention_type).await?,
            };
            sqlx::query("UPDATE presales_requests SET submitted_at = $1, team_id = $2 WHERE id = $3")
                .bind(now)
                .bind(team)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        Step::Accept => {
            // The engineer who accepts takes the request when nobody has it yet.
            if let (None, By::Staff { user_id, .. }) = (old.engineer_id, by) {
                sqlx::query("UPDATE presales_requests SET engineer_id = $1 WHERE id = $2")
                    .bind(*user_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Step::Propose(slots) => {
            let fallback = old.engineer_id.or(match by {
                By::Staff { user_id, .. } => Some(*user_id),
                By::Partner { .. } => None,
            });
            let round = old.round + 1;
            let mut errs = FieldErrors::new();
            let mut lines = Vec::new();
            for (i, s) in slots.iter().enumerate() {
                let Some(engineer) = s.engineer_id.or(fallback) else {
                    errs.add(format!("slot{}_engineer", i + 1), "error.required");
                    continue;
                };
                if s.engineer_id.is_some() && !is_engineer(&mut tx, engineer, old.team_id).await? {
                    errs.add(format!("slot{}_engineer", i + 1), "error.invalid_choice");
                    continue;
                }
                if s.start_at < now {
                    errs.add(format!("slot{}_date", i + 1), "error.presales_slot_past");
                    continue;
                }
                sqlx::query("INSERT INTO presales_slots (request_id, round, engineer_id, start_at, end_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(id)
                    .bind(round)
                    .bind(engineer)
                    .bind(s.start_at)
                    .bind(s.end_at)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                lines.push(format!("{} – {}", zone.format(s.start_at), zone.time(s.end_at)));
            }
            errs.into_result()?;
            sqlx::query("UPDATE presales_requests SET round = $1 WHERE id = $2").bind(round).bind(id).execute(&mut *tx).await?;
            extra.push(Change { field: "slots".into(), old: None, new: Some(lines.join("; ")) });
            message = Some(lines.join("\n"));
        }
        Step::PickSlot(slot_id) => {
            let slot: Option<(i64, i64)> =
                sqlx::query_as("SELECT engineer_id, round FROM presales_slots WHERE id = $1 AND request_id = $2")
                    .bind(*slot_id)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let engineer = match slot {
                Some((e, round)) if round == old.round => e,
                _ => return Err(Error::validation("slot_id", "error.invalid_choice")),
            };
            sqlx::query(
                "UPDATE presales_requests SET accepted_slot_id = $1, engineer_id = $2, invitation_sequence = invitation_sequence + 1 WHERE id = $3",
            )
            .bind(*slot_id)
            .bind(engineer)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        Step::AskOtherDates(t) => {
            add_message(&mut tx, now, id, "expectations", by, t).await?;
            message = Some(t.clone());
        }
        Step::AskInfo(t) => {
            add_message(&mut tx, now, id, "question", by, t).await?;
            message = Some(t.clone());
        }
        Step::AnswerInfo(t) => {
            add_message(&mut tx, now, id, "answer", by, t).await?;
            message = Some(t.clone());
        }
        Step::Refuse(t) | Step::Cancel(t) => {
            add_message(&mut tx, now, id, "reason", by, t).await?;
            sqlx::query("UPDATE presales_requests SET reason = $1 WHERE id = $2").bind(t).bind(id).execute(&mut *tx).await?;
            if effect.invitation == Some(Invitation::Cancel) {
                sqlx::query("UPDATE presales_requests SET invitation_sequence = invitation_sequence + 1 WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            message = Some(t.clone());
        }
        Step::Assign(engineer) => {
            if !is_engineer(&mut tx, *engineer, old.team_id).await? {
                return Err(Error::validation("engineer_id", "error.invalid_choice"));
            }
            sqlx::query("UPDATE presales_requests SET engineer_id = $1 WHERE id = $2").bind(*engineer).bind(id).execute(&mut *tx).await?;
        }
    }
    sqlx::query("UPDATE presales_requests SET status = $1, previous_status = $2, updated_at = $3 WHERE id = $4")
        .bind(effect.to.code())
        .bind(effect.previous.map(Status::code))
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let new = get_in(&mut tx, id, Reach::Any).await?.ok_or(Error::NotFound)?;
    let mut changes = audit::diff(&old, &new);
    changes.extend(extra);
    if let Some(m) = &message {
        if !matches!(step, Step::Propose(_) | Step::Refuse(_) | Step::Cancel(_)) {
            changes.push(Change { field: "message".into(), old: None, new: Some(m.clone()) });
        }
    }
    if changes.is_empty() {
        // A save that changes nothing writes nothing.
        return Ok(old);
    }
    audit::record(&mut tx, &actor, now, PresalesRequest::ENTITY, id, step.action().code(), &changes).await?;
    if let Some(side) = effect.notify {
        tell(&mut tx, now, zone, &new, side, effect.event, message.as_deref(), by).await?;
    }
    if let Some(inv) = effect.invitation {
        invite(&mut tx, now, zone, &new, inv, by).await?;
    }
    tx.commit().await?;
    Ok(new)
}

/// The partner's users who follow pre-sales requests (the right "Opportunités" or
/// administrators), active, with their language.
async fn partner_recipients(tx: &mut Tx, partner_id: i64) -> Result<Vec<Recipient>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT name, email, language FROM partner_users WHERE partner_id = $1 AND status = 'active' AND (can_opportunities = 1 OR is_admin = 1) ORDER BY id",
    )
    .bind(partner_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(name, email, lang)| {
            let e = crate::email::Email::parse(&email).ok()?;
            Some(Recipient::Address(Mailbox::new(Some(&name), &e), Lang::parse(&lang).unwrap_or(Lang::Fr)))
        })
        .collect())
}

/// The pre-sales team: the request's team (its group), and the request's engineer.
async fn team_recipients(tx: &mut Tx, r: &PresalesRequest) -> Result<Vec<Recipient>> {
    let mut out = Vec::new();
    let team = match r.team_id {
        Some(t) => Some(t),
        None => team_for(tx, &r.intervention_type).await?,
    };
    out.extend(team.map(Recipient::Group));
    out.extend(r.engineer_id.map(Recipient::User));
    Ok(out)
}

fn vars(r: &PresalesRequest, event: workflow::Event, message: Option<&str>, side: Side, by: &By) -> serde_json::Value {
    let status = r.status();
    let path = match side {
        Side::Partner => PARTNER_PATH,
        Side::Team => STAFF_PATH,
    };
    let step = format!("presales.step.{}", event.mail_event().unwrap_or("presales_edited"));
    json!({
        "actor": {"name": by.actor().name},
        "request": {"id": r.id, "number": r.number, "customer": r.customer_name, "partner": r.partner_name,
                    "status_fr": crate::i18n::t(Lang::Fr, status.label_key()), "status_en": crate::i18n::t(Lang::En, status.label_key()),
                    "reason": r.reason, "description": r.description},
        "step": {"fr": crate::i18n::t(Lang::Fr, &step), "en": crate::i18n::t(Lang::En, &step)},
        "message": message.unwrap_or(""),
        "link_path": format!("{path}/{}", r.id),
    })
}

#[allow(clippy::too_many_arguments)]
async fn tell(
    tx: &mut Tx,
    now: Millis,
    _zone: Zone,
    r: &PresalesRequest,
    side: Side,
    event: workflow::Event,
    message: Option<&str>,
    by: &By,
) -> Result<()> {
    let recipients = match side {
        Side::Partner => partner_recipients(tx, r.partner_id).await?,
        Side::Team => team_recipients(tx, r).await?,
    };
    if recipients.is_empty() {
        return Ok(());
    }
    let created_by = match by {
        By::Staff { user_id, .. } => Some(*user_id),
        By::Partner { .. } => None,
    };
    notify(
        tx,
        now,
        Notice {
            event: "presales_step",
            entity: Some((PresalesRequest::ENTITY.to_string(), r.id)),
            vars: vars(r, event, message, side, by),
            attachments: Vec::new(),
            created_by,
        },
        &recipients,
    )
    .await?;
    Ok(())
}

/// The invitation of the accepted slot (or its withdrawal) to the partner user who asked and
/// the engineer, each on their side's link.
async fn invite(tx: &mut Tx, now: Millis, zone: Zone, r: &PresalesRequest, inv: Invitation, by: &By) -> Result<()> {
    let Some(slot_id) = r.accepted_slot_id else { return Ok(()) };
    let (engineer_id, start_at, end_at): (i64, i64, i64) =
        sqlx::query_as("SELECT engineer_id, start_at, end_at FROM presales_slots WHERE id = $1").bind(slot_id).fetch_one(&mut **tx).await?;
    let engineer: Option<(String, String, String)> =
        sqlx::query_as("SELECT name, email, language FROM users WHERE id = $1").bind(engineer_id).fetch_optional(&mut **tx).await?;
    let partner_user: Option<(String, String, String)> = match r.created_by_user_id {
        Some(u) => {
            sqlx::query_as("SELECT name, email, language FROM partner_users WHERE id = $1 AND status = 'active'")
                .bind(u)
                .fetch_optional(&mut **tx)
                .await?
        }
        None => None,
    };
    let mailbox =
        |(name, email, _): &(String, String, String)| crate::email::Email::parse(email).ok().map(|e| Mailbox::new(Some(name), &e));
    let attendees: Vec<Mailbox> = partner_user.iter().chain(engineer.iter()).filter_map(mailbox).collect();
    if attendees.is_empty() {
        return Ok(());
    }
    let (organizer, _) = crate::mail::sender(tx).await?;
    let host = organizer.email.rsplit('@').next().unwrap_or("carnet").to_string();
    let type_label: Option<(String, String)> =
        sqlx::query_as("SELECT label_fr, label_en FROM value_list_items WHERE list_code = $1 AND code = $2")
            .bind(TYPE_LIST)
            .bind(&r.intervention_type)
            .fetch_optional(&mut **tx)
            .await?;
    let type_name = type_label.map(|(fr, _)| fr).unwrap_or_else(|| r.intervention_type.clone());
    let location = if r.on_site { r.place.clone().unwrap_or_default() } else { "À distance / Remote".to_string() };
    let event = calendar::event(
        &calendar::Invite {
            request_id: r.id,
            number: &r.number,
            sequence: r.invitation_sequence,
            start_at,
            end_at,
            summary: format!("{type_name} — {} ({})", r.customer_name, r.partner_name),
            description: &r.description,
            location,
            organizer,
            attendees,
        },
        &host,
    );
    let method = match inv {
        Invitation::Request => crate::mail::ics::Method::Request,
        Invitation::Cancel => crate::mail::ics::Method::Cancel,
    };
    let attachment = crate::mail::ics::attachment(&event, method, now);
    let when = format!("{} – {}", zone.format(start_at), zone.time(end_at));
    let created_by = match by {
        By::Staff { user_id, .. } => Some(*user_id),
        By::Partner { .. } => None,
    };
    let cancelled = inv == Invitation::Cancel;
    for (side, person) in [(Side::Partner, partner_user.as_ref()), (Side::Team, engineer.as_ref())] {
        let Some(p) = person else { continue };
        let Some(mb) = mailbox(p) else { continue };
        let lang = Lang::parse(&p.2).unwrap_or(Lang::Fr);
        let mut v = vars(r, workflow::Event::SlotAccepted, None, side, by);
        v["slot"] = json!({"when": when, "cancelled": cancelled});
        notify(
            tx,
            now,
            Notice {
                event: "presales_invitation",
                entity: Some((PresalesRequest::ENTITY.to_string(), r.id)),
                vars: v,
                attachments: vec![attachment.clone()],
                created_by,
            },
            &[Recipient::Address(mb, lang)],
        )
        .await?;
    }
    Ok(())
}

/// Who an email about request `id` is from, as the request knows them: an active user of its
/// partner who follows pre-sales requests, or an active pre-sales engineer of its team (any
/// engineer when it has no team; every team's with `presales.all_teams`). `None`: a stranger
/// (the email waits in quarantine).
pub async fn reply_author(tx: &mut Tx, id: i64, email: &str) -> Result<Option<By>> {
    if email.is_empty() {
        return Ok(None);
    }
    let Some(r) = get_in(tx, id, Reach::Any).await? else { return Ok(None) };
    let partner: Option<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT id, name, is_admin, can_opportunities FROM partner_users \
         WHERE partner_id = $1 AND LOWER(email) = $2 AND status = 'active' AND (can_opportunities = 1 OR is_admin = 1)",
    )
    .bind(r.partner_id)
    .bind(email)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((user_id, name, is_admin, can)) = partner {
        let actor = Actor { id: None, name, request_id: None };
        return Ok(Some(By::Partner { partner_id: r.partner_id, user_id, can_opportunities: can != 0, is_admin: is_admin != 0, actor }));
    }
    let mut q = Sql::new("SELECT u.id, u.name FROM users u WHERE LOWER(u.email) = ");
    q.bind(email.to_string())
        .push(" AND u.active = 1 AND EXISTS (SELECT 1 FROM role_rights rr WHERE rr.role_id = u.role_id AND rr.right_code = ");
    q.bind(crate::access::Right::PresalesManage.code()).push(")");
    if let Some(team) = r.team_id {
        q.push(" AND (EXISTS (SELECT 1 FROM user_group_members m WHERE m.user_id = u.id AND m.group_id = ")
            .bind(team)
            .push(") OR EXISTS (SELECT 1 FROM role_rights ra WHERE ra.role_id = u.role_id AND ra.right_code = ")
            .bind(crate::access::Right::PresalesAllTeams.code())
            .push("))");
    }
    let staff: Option<(i64, String)> = q.query_as().fetch_optional(&mut **tx).await?;
    Ok(staff.map(|(user_id, name)| By::Staff {
        user_id,
        presales: true,
        all_teams: false,
        actor: Actor { id: Some(user_id), name, request_id: None },
    }))
}

/// Lands an email reply on request `id` in the caller's transaction (the inbound mail's): a
/// message of its conversation (kind `email`), a history entry, and the other side told by
/// email. The status does not change: a step is taken in Carnet, through the workflow.
pub async fn add_reply(tx: &mut Tx, now: Millis, zone: Zone, id: i64, by: &By, body: &str) -> Result<()> {
    let r = get_in(tx, id, Reach::Any).await?.ok_or(Error::NotFound)?;
    let body: String = body.trim().chars().take(TEXT_MAX).collect();
    let body = if body.is_empty() { "—".to_string() } else { body };
    add_message(tx, now, id, "email", by, &body).await?;
    sqlx::query("UPDATE presales_requests SET updated_at = $1 WHERE id = $2").bind(now).bind(id).execute(&mut **tx).await?;
    let change = Change { field: "message".into(), old: None, new: Some(body.clone()) };
    audit::record(tx, by.actor(), now, PresalesRequest::ENTITY, id, "email", &[change]).await?;
    let side = match by {
        By::Partner { .. } => Side::Team,
        By::Staff { .. } => Side::Partner,
    };
    tell(tx, now, zone, &r, side, workflow::Event::Replied, Some(&body), by).await
}
