//! Meetings and the calendar.

use super::*;
use crate::http::pages::schedule::{self, ColumnSpec, Entry, Grid};

// ------------------------------------------------------------------ meetings

#[derive(Template)]
#[template(path = "sales/meeting.html")]
struct MeetingPage {
    c: PageCtx,
    l: Labels,
    o: Opportunity,
    meeting: Option<Meeting>,
    form: MeetingForm,
    stock_numbers: String,
    f: FormErrors,
    categories: Vec<ListItem>,
    meeting_statuses: Vec<ListItem>,
    units: Vec<OrgUnit>,
    users: Vec<Staff>,
    groups: Vec<crate::org::groups::Group>,
    can_update: bool,
    cancelled: bool,
}

impl MeetingPage {
    fn user_in(&self, id: &i64) -> bool {
        self.form.user_ids.contains(id)
    }
    fn group_in(&self, id: &i64) -> bool {
        self.form.group_ids.contains(id)
    }
    fn unit_is(&self, id: &i64) -> bool {
        self.form.branch_id == Some(*id)
    }
    fn owner_is(&self, id: &i64) -> bool {
        self.form.owner_id == Some(*id)
    }
    fn is(&self, field: &str, v: &str) -> bool {
        let cur = match field {
            "kind" => &self.form.kind,
            "priority" => &self.form.priority,
            "category" => &self.form.category,
            "appointment_type" => &self.form.appointment_type,
            "language" => &self.form.language,
            "deposit_method" => &self.form.deposit_method,
            "esign_status" => &self.form.esign_status,
            "status" => &self.form.status,
            _ => return false,
        };
        cur == v
    }
    fn kinds(&self) -> &'static [&'static str] {
        meetings::KINDS
    }
    fn priorities(&self) -> &'static [&'static str] {
        meetings::PRIORITIES
    }
    fn appointment_types(&self) -> &'static [&'static str] {
        meetings::APPOINTMENT_TYPES
    }
    fn deposit_methods(&self) -> &'static [&'static str] {
        meetings::DEPOSIT_METHODS
    }
    fn esign_statuses(&self) -> &'static [&'static str] {
        meetings::ESIGN_STATUSES
    }
}

async fn meeting_page(
    st: &AppState,
    c: &Ctx,
    o: Opportunity,
    meeting: Option<Meeting>,
    form: MeetingForm,
    f: FormErrors,
    notice: Option<&str>,
) -> Result<Response, HttpError> {
    let l = Labels::load(st, c).await?;
    let mut pc = PageCtx::new(c, "/calendar", if meeting.is_some() { "meetings.edit" } else { "meetings.new" }).with_notice(notice);
    if let Some(m) = &meeting {
        pc.title = m.subject.clone();
    }
    let cancelled = meeting.as_ref().is_some_and(|m| m.status == "annule");
    let errors = f.any();
    let stock_numbers = form.stock_numbers.join(", ");
    let categories = lists::choices(&st.db, "meeting_category", &[form.category.as_str()]).await?;
    let meeting_statuses = lists::choices(&st.db, "meeting_status", &[form.status.as_str()]).await?;
    // The directory the user sees, and whom the meeting and its file already have (not the ids
    // of a refused post: their names are not the user's to read).
    let mut keep: Vec<i64> = o.owner_id.into_iter().collect();
    if let Some(m) = &meeting {
        keep.extend(m.owner_id);
        keep.extend(m.participants.iter().filter(|p| p.kind == "user").map(|p| p.id));
    }
    let users = users::pickable(&st.db, &c.p.visibility, &keep).await?;
    let mut resp = render(MeetingPage {
        c: pc,
        l,
        o,
        meeting,
        form,
        stock_numbers,
        f,
        categories,
        meeting_statuses,
        units: units::tree(&st.db).await?,
        users,
        groups: crate::org::groups::list(&st.db).await?,
        can_update: c.p.can(Right::MeetingsUpdate),
        cancelled,
    });
    if errors {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

/// A slot chosen in the calendar's grid (`date`, `start_time`, the rep): the new meeting's
/// form starts there (an hour long).
#[derive(Deserialize, Default)]
pub struct SlotQuery {
    date: Option<String>,
    start_time: Option<String>,
    #[serde(default, deserialize_with = "crate::http::pages::select_id")]
    owner_id: Option<Option<i64>>,
    /// The booking picker's search (customers).
    q: Option<String>,
}

impl SlotQuery {
    /// `(date, start, end)` when the slot is a valid local date and time.
    fn slot(&self) -> Option<(String, String, String)> {
        schedule::slot(self.date.as_deref(), self.start_time.as_deref(), 1)
    }
    /// The same slot as a query string (`date=…&start_time=…&owner_id=…`).
    fn query(&self) -> String {
        schedule::slot_query(self.slot(), "owner_id", self.owner_id.flatten())
    }
}

pub async fn new_meeting(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(slot): Query<SlotQuery>,
) -> Result<Response, HttpError> {
    let o = visible(&st, &c, id).await?;
    let zone = crate::settings::zone(&st.db).await?;
    let (date, start_time, end_time) =
        slot.slot().unwrap_or_else(|| (zone.date(st.now() + 86_400_000), "10:00".to_string(), "11:00".to_string()));
    let form = MeetingForm {
        opportunity_id: Some(id),
        kind: if o.stock_units.is_empty() { "inventaire".into() } else { "stock".into() },
        date,
        start_time,
        end_time,
        category: "rendez_vous".into(),
        status: "planifie".into(),
        branch_id: o.branch_id,
        owner_id: slot.owner_id.flatten().or(o.owner_id),
        stock_numbers: o.stock_units.iter().map(|s| s.stock_number.clone()).collect(),
        ..Default::default()
    };
    meeting_page(&st, &c, o, None, form, FormErrors::none(), None).await
}

fn read_meeting(body: &str) -> MeetingForm {
    let p = FormPairs::parse(body);
    MeetingForm {
        opportunity_id: p.id("opportunity_id"),
        kind: p.text("kind"),
        date: p.text("date"),
        start_time: p.text("start_time"),
        end_time: p.text("end_time"),
        location: p.text("location"),
        priority: p.text("priority"),
        category: p.text("category"),
        appointment_type: p.text("appointment_type"),
        branch_id: p.id("branch_id"),
        owner_id: p.id("owner_id"),
        language: p.text("language"),
        deposit_method: p.text("deposit_method"),
        esign_status: p.text("esign_status"),
        transfer: p.flag("transfer"),
        status: p.text("status"),
        description: p.text("description"),
        stock_numbers: p.get("stock_numbers").map(|v| vec![v.to_string()]).unwrap_or_default(),
        user_ids: p.ids("user_ids"),
        group_ids: p.ids("group_ids"),
        ..Default::default()
    }
}

pub async fn create_meeting(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let o = visible(&st, &c, id).await?;
    let mut form = read_meeting(&body);
    form.opportunity_id = Some(id);
    let zone = crate::settings::zone(&st.db).await?;
    let res = match form.parse(zone) {
        Ok(input) => meetings::create(&st.db, &c.actor(), &c.p.visibility, st.now(), &input, zone).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(m) => Ok(redirect_notice(&format!("/meetings/{}", m.id), "notice.meeting_booked")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            meeting_page(&st, &c, o, None, form, fe, None).await
        }
    }
}

async fn visible_meeting(st: &AppState, c: &Ctx, id: i64) -> Result<(Meeting, Opportunity), HttpError> {
    let m = meetings::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    let mut conn = st.db.pool.acquire().await?;
    let o = store::get(&mut conn, m.opportunity_id).await?.ok_or(Error::NotFound)?;
    Ok((m, o))
}

pub async fn show_meeting(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, HttpError> {
    let (m, o) = visible_meeting(&st, &c, id).await?;
    let zone = crate::settings::zone(&st.db).await?;
    let form = MeetingForm::from_meeting(&m, zone);
    meeting_page(&st, &c, o, Some(m), form, FormErrors::none(), q.notice.as_deref()).await
}

pub async fn update_meeting(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let (m, o) = visible_meeting(&st, &c, id).await?;
    let mut form = read_meeting(&body);
    form.opportunity_id = Some(m.opportunity_id);
    let zone = crate::settings::zone(&st.db).await?;
    let res = match form.parse(zone) {
        Ok(input) => meetings::update(&st.db, &c.actor(), &c.p.visibility, st.now(), id, &input, zone).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/meetings/{id}"), "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            meeting_page(&st, &c, o, Some(m), form, fe, None).await
        }
    }
}

pub async fn cancel_meeting(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    visible_meeting(&st, &c, id).await?;
    let zone = crate::settings::zone(&st.db).await?;
    meetings::cancel(&st.db, &c.actor(), st.now(), id, zone).await?;
    Ok(redirect_notice(&format!("/meetings/{id}"), "notice.meeting_cancelled"))
}

// ------------------------------------------------------------------ calendar

#[derive(Deserialize, Default)]
pub struct CalendarQuery {
    /// `week` (default) or `day`.
    view: Option<String>,
    date: Option<String>,
    /// Absent: the user's own calendar; empty ("—"): no user filter.
    #[serde(default, deserialize_with = "crate::http::pages::select_id")]
    user_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "crate::http::pages::select_id")]
    branch_id: Option<Option<i64>>,
}

/// An accepted pre-sales slot in a calendar.
#[derive(Debug, Clone)]
pub struct PresalesItem {
    pub id: i64,
    pub number: String,
    pub customer: String,
    pub engineer: String,
    pub start_at: i64,
    pub end_at: i64,
}

#[derive(Template)]
#[template(path = "sales/calendar.html")]
struct CalendarPage {
    c: PageCtx,
    grid: Grid,
    week: bool,
    date: String,
    prev: String,
    next: String,
    user_id: Option<i64>,
    branch_id: Option<i64>,
    users: Vec<Staff>,
    units: Vec<OrgUnit>,
    /// Whether the viewer may move meetings and book new ones.
    can_update: bool,
    can_book: bool,
}

impl CalendarPage {
    /// The same view on another date.
    fn link(&self, date: &str) -> String {
        self.query(date, self.week)
    }
    /// The other view (day ↔ week) on the current date.
    fn toggle(&self) -> String {
        self.query(&self.date, !self.week)
    }
    /// The day view of a date (a week column's heading).
    fn day_link(&self, date: &str) -> String {
        self.query(date, false)
    }
    fn query(&self, date: &str, week: bool) -> String {
        let mut s = format!("/calendar?view={}&date={date}", if week { "week" } else { "day" });
        match self.user_id {
            Some(u) => s.push_str(&format!("&user_id={u}")),
            // Everyone's: keep "no user" (an absent user_id means the user's own calendar).
            None => s.push_str("&user_id="),
        }
        if let Some(b) = self.branch_id {
            s.push_str(&format!("&branch_id={b}"));
        }
        s
    }
    /// Where an empty slot of a column leads: the booking of a meeting there, for the column's
    /// person (or the calendar's).
    fn book(&self, col: &schedule::Column, time: &str) -> String {
        let mut s = format!("/calendar/book?date={}&start_time={time}", col.date);
        if let Some(p) = col.person.or(self.user_id) {
            s.push_str(&format!("&owner_id={p}"));
        }
        s
    }
    fn api(&self) -> &'static str {
        "/api/v1/meetings/"
    }
    fn user_is(&self, id: &i64) -> bool {
        self.user_id == Some(*id)
    }
    fn unit_is(&self, id: &i64) -> bool {
        self.branch_id == Some(*id)
    }
}

/// The title of a meeting as people read it: the customer and the kind in full.
fn meeting_title(c: &Ctx, m: &Meeting) -> String {
    format!("{} · {}", m.customer_name, c.tr.tp("meetings.kind_", &m.kind))
}

/// The calendar: a time grid, a week of days or a day of people (the reps of a branch).
pub async fn calendar(State(st): State<AppState>, c: Ctx, Query(q): Query<CalendarQuery>) -> Result<Response, HttpError> {
    use chrono::Datelike;
    let zone = crate::settings::zone(&st.db).await?;
    let span = crate::clock::Span::of_view(q.view.as_deref());
    let week = span == crate::clock::Span::Week;
    let today = zone.local(st.now()).date();
    let date = q.date.as_deref().and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()).unwrap_or(today);
    let window = zone.window(date, span);
    let fmt = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let (from, to) = (window.from, window.to);
    // A user's calendar by default (their own); a branch's when chosen.
    let branch_id = q.branch_id.flatten();
    let user_id = match (q.user_id, branch_id) {
        (None, None) => Some(c.p.user_id),
        (u, _) => u.flatten(),
    };
    let of = match (user_id, branch_id) {
        (_, Some(b)) => CalendarOf::Branch(b),
        (Some(u), None) => CalendarOf::User(u),
        (None, None) => CalendarOf::All,
    };
    let items = meetings::calendar(&st.db, &c.p.visibility, of, from, to).await?;
    // The accepted pre-sales slots: a user's own, or everyone's on the calendar of all.
    let presales: Vec<PresalesItem> = match of {
        _ if !c.p.can(crate::access::Right::PresalesManage) => Vec::new(),
        CalendarOf::User(u) => {
            crate::presales::store::accepted_slots(&st.db, crate::http::pages::presales::scope(&c), Some(u), from, to).await?
        }
        CalendarOf::All => crate::presales::store::accepted_slots(&st.db, crate::http::pages::presales::scope(&c), None, from, to).await?,
        CalendarOf::Branch(_) => Vec::new(),
    }
    .into_iter()
    .map(|(r, s)| PresalesItem {
        id: r.id,
        number: r.number,
        customer: format!("{} ({})", r.customer_name, r.partner_name),
        engineer: s.engineer_name,
        start_at: s.start_at,
        end_at: s.end_at,
    })
    .collect();
    let mut entries: Vec<Entry> = items
        .iter()
        .map(|m| {
            let mut people: Vec<i64> = m.owner_id.into_iter().collect();
            people.extend(m.participants.iter().filter(|p| p.kind == "user").map(|p| p.id));
            people.dedup();
            let mut detail: Vec<&str> = m.owner_name.iter().map(String::as_str).collect();
            if !m.location.is_empty() {
                detail.push(&m.location);
            }
            Entry {
                id: m.id,
                start: m.start_at,
                end: m.end_at,
                people,
                href: format!("/meetings/{}", m.id),
                title: meeting_title(&c, m),
                detail: detail.join(" · "),
                class: format!("priority-{}", m.priority),
                cancelled: m.status == "annule",
                movable: true,
            }
        })
        .collect();
    entries.extend(presales.iter().map(|p| Entry {
        // Negative ids: never a meeting's (conflicts and lanes only).
        id: -p.id,
        start: p.start_at,
        end: p.end_at,
        people: Vec::new(),
        href: format!("/presales/{}", p.id),
        title: format!("{} {}", c.tr.t("nav.presales"), p.number),
        detail: format!("{} · {}", p.customer, p.engineer),
        class: "presales-item".into(),
        cancelled: false,
        movable: false,
    }));
    let label =
        |d: chrono::NaiveDate| format!("{} {}", c.tr.tp("day.", &d.weekday().num_days_from_monday().to_string()), d.format("%d/%m"));
    let columns: Vec<ColumnSpec> = if week {
        window.days.iter().map(|&d| ColumnSpec { label: label(d), date: d, person: None }).collect()
    } else {
        // The day of people: a branch's reps, the one whose calendar it is, or whoever is booked.
        let people: Vec<(i64, String)> = match (of, user_id) {
            (CalendarOf::Branch(b), _) => users::of_branch_with_right(&st.db, &c.p.visibility, b, Right::MeetingsUpdate)
                .await?
                .into_iter()
                .map(|u| (u.id, u.name))
                .collect(),
            (_, Some(u)) => users::get_visible(&st.db, &c.p.visibility, u).await?.map(|x| vec![(x.id, x.name)]).unwrap_or_default(),
            _ => Vec::new(),
        };
        let booked = items.iter().filter(|_| !matches!(of, CalendarOf::User(_))).filter_map(|m| Some((m.owner_id?, m.owner_name.clone()?)));
        schedule::people_columns(people, booked, date, label(date))
    };
    let agenda: Vec<(chrono::NaiveDate, String)> = window.days.iter().map(|&d| (d, label(d))).collect();
    let grid = schedule::layout(zone, &columns, &entries, st.now(), &agenda);
    let step = window.step();
    let pc = PageCtx::new(&c, "/calendar", "nav.calendar");
    Ok(render(CalendarPage {
        c: pc,
        grid,
        week,
        date: fmt(date),
        prev: fmt(date - step),
        next: fmt(date + step),
        user_id: if branch_id.is_some() { None } else { user_id },
        branch_id,
        users: users::pickable(&st.db, &c.p.visibility, &[]).await?,
        units: units::tree(&st.db).await?,
        can_update: c.p.can(Right::MeetingsUpdate),
        can_book: c.p.can(Right::MeetingsCreate),
    }))
}

#[derive(Template)]
#[template(path = "sales/book.html")]
struct BookPage {
    c: PageCtx,
    slot: SlotQuery,
    when: String,
    person: Option<String>,
    opportunities: Vec<Opportunity>,
}

/// An empty slot of the calendar clicked: which file the meeting is for (the rep's recent
/// opportunities, or a search), each leading to the new meeting's form at that slot.
pub async fn book_meeting(State(st): State<AppState>, c: Ctx, Query(mut slot): Query<SlotQuery>) -> Result<Response, HttpError> {
    if slot.slot().is_none() {
        // No slot (or a wrong one): the new meeting form's own default, tomorrow at 10:00.
        let zone = crate::settings::zone(&st.db).await?;
        slot.date = Some(zone.date(st.now() + 86_400_000));
        slot.start_time = Some("10:00".into());
    }
    let (date, start, _) = slot.slot().ok_or_else(|| Error::validation("date", "error.invalid_datetime"))?;
    let owner = slot.owner_id.flatten();
    let person = match owner {
        Some(u) => users::get_visible(&st.db, &c.p.visibility, u).await?.map(|u| u.name),
        None => None,
    };
    let q = slot.q.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let filter = store::Filter { owner_id: if q.is_some() { None } else { owner.filter(|_| person.is_some()) }, q, ..Default::default() };
    let page = store::list(&st.db, &c.p.visibility, &filter, &PageReq { limit: 20, at: None }).await?;
    let when = format!("{date} {start}");
    Ok(render(BookPage { c: PageCtx::new(&c, "/calendar", "schedule.book_meeting"), slot, when, person, opportunities: page.items }))
}
