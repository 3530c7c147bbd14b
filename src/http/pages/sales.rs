//! Sales pages: the opportunity list (saved views, CSV export), the kanban board, the
//! opportunity record (status, timeline, calls, meetings, the customer's other open files),
//! the forms, meetings and the calendar, the lead screen for agents, stock units, the trash.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{form_error, redirect_notice, render, FormErrors, NoticeQuery, PageCtx};
use crate::access::Right;
use crate::audit::{self, HistoryEntry};
use crate::clock::Zone;
use crate::customers::{Customer, CustomerForm};
use crate::db::page::PageReq;
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::AppState;
use crate::identity::users::{self, Staff};
use crate::lists::{self, ListItem};
use crate::org::units::{self, OrgUnit};
use crate::sales::calls::{self, Call, CallForm};
use crate::sales::leads::{self, LeadForm};
use crate::sales::meetings::{self, CalendarOf, Meeting, MeetingForm};
use crate::sales::stock::{self, StockForm, StockUnit};
use crate::sales::store::{self, Column, Filter, Note, OpenFile};
use crate::sales::{Opportunity, OpportunityForm, Statuses};

/// Labels and badges of the sales lists, for templates.
pub struct Labels {
    pub statuses: Statuses,
    pub lead_types: Vec<ListItem>,
    pub lang: crate::i18n::Lang,
    pub zone: Zone,
}

impl Labels {
    pub async fn load(st: &AppState, c: &Ctx) -> Result<Labels, HttpError> {
        Ok(Labels {
            statuses: Statuses::load(&st.db).await?,
            lead_types: lists::items(&st.db, "lead_type", true).await?,
            lang: c.lang(),
            zone: crate::settings::zone(&st.db).await?,
        })
    }
    pub fn status(&self, code: &str) -> String {
        self.statuses.label(code, &self.lang)
    }
    pub fn badge(&self, code: &str) -> &'static str {
        self.statuses.badge(code)
    }
    pub fn lead(&self, code: &Option<String>) -> String {
        match code {
            Some(c) => self.lead_types.iter().find(|i| &i.code == c).map(|i| i.label(&self.lang).to_string()).unwrap_or_else(|| c.clone()),
            None => "—".into(),
        }
    }
    pub fn at(&self, ms: &i64) -> String {
        self.zone.format(*ms)
    }
    pub fn date_of(&self, ms: &Option<i64>) -> String {
        ms.map(|m| self.zone.date(m)).unwrap_or_else(|| "—".into())
    }
    pub fn time(&self, ms: &i64) -> String {
        self.zone.time(*ms)
    }
}

// ------------------------------------------------------------------ the list

#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    q: Option<String>,
    status: Option<String>,
    lead_type: Option<String>,
    /// `1`: only my opportunities.
    mine: Option<String>,
    #[serde(default, deserialize_with = "super::blank_id")]
    view: Option<i64>,
    after: Option<String>,
    notice: Option<String>,
}

const VIEW_PARAMS: &[&str] = &["q", "status", "lead_type", "mine"];

impl ListQuery {
    fn view_query(&self) -> String {
        let raw = serde_urlencoded::to_string([
            ("q", self.q.clone().unwrap_or_default()),
            ("status", self.status.clone().unwrap_or_default()),
            ("lead_type", self.lead_type.clone().unwrap_or_default()),
            ("mine", self.mine.clone().unwrap_or_default()),
        ])
        .unwrap_or_default();
        crate::views::normalise_query(&raw, VIEW_PARAMS)
    }
    fn filter(&self, user_id: i64) -> Filter {
        Filter {
            q: self.q.clone(),
            status: self.status.clone().filter(|s| !s.is_empty()),
            lead_type: self.lead_type.clone().filter(|s| !s.is_empty()),
            owner_id: if self.mine.as_deref() == Some("1") { Some(user_id) } else { None },
            ..Default::default()
        }
    }
}

#[derive(Template)]
#[template(path = "sales/list.html")]
struct ListPage {
    c: PageCtx,
    l: Labels,
    items: Vec<Opportunity>,
    q: String,
    status: String,
    lead_type: String,
    mine: bool,
    views: Vec<crate::views::View>,
    current_view: Option<crate::views::View>,
    view_query: String,
    user_id: i64,
    next: Option<String>,
    show_expired: bool,
    can_create: bool,
    can_lead: bool,
    can_export: bool,
    can_restore: bool,
}

impl ListPage {
    fn view_selected(&self, id: &i64) -> bool {
        self.current_view.as_ref().is_some_and(|v| v.id == *id)
    }
}

pub async fn list(State(st): State<AppState>, c: Ctx, Query(mut q): Query<ListQuery>) -> Result<Response, HttpError> {
    let current_view = match q.view {
        Some(v) => {
            Some(crate::views::get_usable(&st.db, "opportunities", c.p.user_id, c.p.visibility.unit_id, v).await?.ok_or(Error::NotFound)?)
        }
        None => None,
    };
    if let Some(v) = &current_view {
        if q.q.is_none() && q.status.is_none() && q.lead_type.is_none() && q.mine.is_none() {
            let saved: ListQuery = serde_urlencoded::from_str(&v.query).unwrap_or_default();
            q = ListQuery { q: saved.q, status: saved.status, lead_type: saved.lead_type, mine: saved.mine, ..q };
        }
    }
    let size = crate::settings::get_int(&st.db, "lists.page_size").await?;
    let page = PageReq::parse(Some(size), q.after.as_deref())?;
    let res = store::list(&st.db, &c.p.visibility, &q.filter(c.p.user_id), &page).await?;
    let view_query = q.view_query();
    let next = res.next.map(|n| {
        let mut s = view_query.clone();
        if let Some(v) = &current_view {
            s.push_str(&format!("&view={}", v.id));
        }
        format!("{s}&after={}", n.encode())
    });
    let pc = PageCtx::new(&c, "/opportunities", "nav.opportunities").with_notice(q.notice.as_deref());
    Ok(render(ListPage {
        c: pc,
        l: Labels::load(&st, &c).await?,
        items: res.items,
        q: q.q.clone().unwrap_or_default(),
        status: q.status.clone().unwrap_or_default(),
        lead_type: q.lead_type.clone().unwrap_or_default(),
        mine: q.mine.as_deref() == Some("1"),
        views: crate::views::usable(&st.db, "opportunities", c.p.user_id, c.p.visibility.unit_id).await?,
        current_view,
        view_query,
        user_id: c.p.user_id,
        next,
        show_expired: c.p.sees_hidden_fields(),
        can_create: c.p.can(Right::OpportunitiesCreate),
        can_lead: c.p.can(Right::LeadsCreate),
        can_export: c.p.can(Right::OpportunitiesExport),
        can_restore: c.p.can(Right::OpportunitiesRestore),
    }))
}

#[derive(Deserialize)]
pub struct NewViewForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    query: String,
    #[serde(default)]
    shared: Option<String>,
}

pub async fn create_view(
    State(st): State<AppState>,
    c: Ctx,
    axum::extract::Form(f): axum::extract::Form<NewViewForm>,
) -> Result<Response, HttpError> {
    let query = crate::views::normalise_query(&f.query, VIEW_PARAMS);
    let share = if f.shared.is_some() { c.p.visibility.unit_id } else { None };
    let v = crate::views::create(&st.db, &c.actor(), st.now(), "opportunities", &f.name, &query, share).await?;
    Ok(redirect_notice(&format!("/opportunities?view={}", v.id), "notice.view_saved"))
}

#[derive(Deserialize)]
pub struct UpdateViewForm {
    #[serde(default)]
    query: String,
}

pub async fn update_view(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    axum::extract::Form(f): axum::extract::Form<UpdateViewForm>,
) -> Result<Response, HttpError> {
    let query = crate::views::normalise_query(&f.query, VIEW_PARAMS);
    crate::views::update(&st.db, &c.actor(), st.now(), id, &query).await?;
    Ok(redirect_notice(&format!("/opportunities?view={id}"), "notice.view_updated"))
}

pub async fn delete_view(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    crate::views::delete(&st.db, &c.actor(), st.now(), id).await?;
    Ok(redirect_notice("/opportunities", "notice.deleted"))
}

/// The list as CSV (streamed page by page; cells neutralised against formula injection).
pub async fn export(State(st): State<AppState>, c: Ctx, Query(q): Query<ListQuery>) -> Result<Response, HttpError> {
    let labels = Labels::load(&st, &c).await?;
    let filter = q.filter(c.p.user_id);
    let vis = c.p.visibility.clone();
    let db = st.db.clone();
    let header = ["id", "name", "customer", "status", "lead_type", "owner", "branch", "sale_date", "delivery_date", "created_at"];
    let stream = async_stream(db, vis, filter, labels, header);
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"opportunites.csv\""),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

fn csv_row(cells: &[String]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(cells.iter().map(|s| crate::customers::csv_safe(s)));
    w.into_inner().unwrap_or_default()
}

fn async_stream(
    db: crate::db::Db,
    vis: crate::access::Visibility,
    filter: Filter,
    labels: Labels,
    header: [&'static str; 10],
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let labels = std::sync::Arc::new(labels);
    futures_util::stream::unfold((Some(PageReq::first(500)), true), move |(page, first)| {
        let (db, vis, filter, labels) = (db.clone(), vis.clone(), filter.clone(), labels.clone());
        async move {
            let page = page?;
            let res = match store::list(&db, &vis, &filter, &page).await {
                Ok(r) => r,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), (None, false))),
            };
            let mut buf = if first { csv_row(&header.iter().map(|s| s.to_string()).collect::<Vec<_>>()) } else { Vec::new() };
            for o in &res.items {
                buf.extend(csv_row(&[
                    o.id.to_string(),
                    o.name.clone(),
                    o.customer_name.clone(),
                    labels.status(&o.status),
                    labels.lead(&o.lead_type),
                    o.owner_name.clone().unwrap_or_default(),
                    o.branch_name.clone().unwrap_or_default(),
                    labels.date_of(&o.sale_date),
                    labels.date_of(&o.delivery_date),
                    labels.at(&o.created_at),
                ]));
            }
            let next = res.next.map(|c| PageReq { limit: 500, after: Some(c) });
            Some((Ok(buf), (next, false)))
        }
    })
}

// ------------------------------------------------------------------ the board

#[derive(Template)]
#[template(path = "sales/board.html")]
struct BoardPage {
    c: PageCtx,
    l: Labels,
    columns: Vec<Column>,
    mine: bool,
    rights: crate::access::RightSet,
    now: i64,
}

impl BoardPage {
    /// The statuses a card may move to (the workflow's, for this user).
    fn choices(&self, o: &Opportunity) -> Vec<&ListItem> {
        self.l.statuses.choices(
            &crate::sales::Current { status: &o.status, sale_date: o.sale_date, trashed: o.trashed },
            self.rights,
            self.now,
        )
    }
}

#[derive(Deserialize, Default)]
pub struct BoardQuery {
    mine: Option<String>,
    notice: Option<String>,
}

pub async fn board(State(st): State<AppState>, c: Ctx, Query(q): Query<BoardQuery>) -> Result<Response, HttpError> {
    let l = Labels::load(&st, &c).await?;
    let mine = q.mine.as_deref() == Some("1");
    let filter = Filter { owner_id: mine.then_some(c.p.user_id), ..Default::default() };
    let columns = store::board(&st.db, &c.p.visibility, &l.statuses, &filter, 25).await?;
    let pc = PageCtx::new(&c, "/opportunities", "sales.board").with_notice(q.notice.as_deref());
    Ok(render(BoardPage { c: pc, l, columns, mine, rights: c.p.rights, now: st.now() }))
}

// ------------------------------------------------------------------ the record

async fn visible(st: &AppState, c: &Ctx, id: i64) -> Result<Opportunity, HttpError> {
    Ok(store::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?)
}

#[derive(Template)]
#[template(path = "sales/show.html")]
struct ShowPage {
    c: PageCtx,
    l: Labels,
    o: Opportunity,
    notes: Vec<Note>,
    calls: Vec<Call>,
    meetings: Vec<Meeting>,
    others: Vec<OpenFile>,
    outcomes: Vec<ListItem>,
    statuses: Vec<ListItem>,
    owners: Vec<Staff>,
    status_error: Option<String>,
    note_error: Option<String>,
    note_body: String,
    call_form: CallForm,
    cf: FormErrors,
    now: i64,
    show_expired: bool,
    can_update: bool,
    can_call: bool,
    can_log: bool,
    can_meet: bool,
    /// The emails about the opportunity and its meetings (`partials/emails.html`).
    emails: Vec<crate::mail::EmailSummary>,
    show_links: bool,
}

#[allow(clippy::too_many_arguments)]
async fn show_page(
    st: &AppState,
    c: &Ctx,
    id: i64,
    notice: Option<&str>,
    status_error: Option<String>,
    note: (String, Option<String>),
    call: (CallForm, FormErrors),
) -> Result<Response, HttpError> {
    let o = visible(st, c, id).await?;
    let l = Labels::load(st, c).await?;
    let notes = store::notes(&st.db, id, 200).await?;
    let calls = if c.p.can(Right::CallsRead) { calls::for_opportunity(&st.db, id).await? } else { Vec::new() };
    let meetings = if c.p.can(Right::MeetingsRead) { meetings::for_opportunity(&st.db, id).await? } else { Vec::new() };
    let others = crate::http::api::sales::open_files_for(st, c, o.customer_id).await?.into_iter().filter(|f| f.id != id).collect();
    let meeting_ids: Vec<i64> = meetings.iter().map(|m| m.id).collect();
    let emails = crate::mail::for_entities(&st.db, &[("opportunity", &[id]), ("meeting", &meeting_ids)]).await?;
    let cur = crate::sales::Current { status: &o.status, sale_date: o.sale_date, trashed: o.trashed };
    let statuses: Vec<ListItem> = l.statuses.choices(&cur, c.p.rights, st.now()).into_iter().cloned().collect();
    let mut pc = PageCtx::new(c, "/opportunities", "nav.opportunities").with_notice(notice);
    pc.title = o.name.clone();
    let errors = status_error.is_some() || note.1.is_some() || call.1.any();
    let mut resp = render(ShowPage {
        c: pc,
        l,
        o,
        notes,
        calls,
        meetings,
        others,
        outcomes: lists::items(&st.db, "call_outcome", false).await?,
        statuses,
        owners: users::all_active(&st.db).await?,
        status_error,
        note_error: note.1,
        note_body: note.0,
        call_form: call.0,
        cf: call.1,
        now: st.now(),
        show_expired: c.p.sees_hidden_fields(),
        can_update: c.p.can(Right::OpportunitiesUpdate),
        can_call: c.p.can(Right::CallsCreate),
        can_log: c.p.can(Right::CallsUpdate),
        can_meet: c.p.can(Right::MeetingsCreate),
        emails,
        show_links: c.p.can(Right::AdminMail),
    });
    if errors {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

impl ShowPage {
    fn call_owner_is(&self, id: &i64) -> bool {
        self.call_form.owner_id == Some(*id)
    }
}

fn default_call(zone: Zone, now: i64) -> CallForm {
    let t = now + 86_400_000;
    CallForm { date: zone.date(t), time: "10:00".into(), ..Default::default() }
}

pub async fn show(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    let zone = crate::settings::zone(&st.db).await?;
    show_page(&st, &c, id, q.notice.as_deref(), None, (String::new(), None), (default_call(zone, st.now()), FormErrors::none())).await
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
}

/// A status change from the record's menu or a card dropped on the board (the board's
/// script sends `X-Requested-With: fetch` and gets 204, or 422 with `{"message": …}`).
pub async fn change_status(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    axum::extract::Form(f): axum::extract::Form<StatusForm>,
) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    let res = store::change_status(&st.db, &c.actor(), st.now(), id, &f.status, c.p.rights).await;
    let fetch = headers.get("x-requested-with").is_some_and(|v| v == "fetch");
    match res {
        Ok(_) if fetch => Ok(StatusCode::NO_CONTENT.into_response()),
        Ok(_) => Ok(redirect_notice(&format!("/opportunities/{id}"), "notice.status_changed")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            let msg = fe.err("status").or(fe.general.clone()).unwrap_or_else(|| c.tr.t("form.fix_errors"));
            if fetch {
                return Ok((StatusCode::UNPROCESSABLE_ENTITY, axum::Json(serde_json::json!({ "message": msg }))).into_response());
            }
            let zone = crate::settings::zone(&st.db).await?;
            show_page(&st, &c, id, None, Some(msg), (String::new(), None), (default_call(zone, st.now()), FormErrors::none())).await
        }
    }
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    body: String,
}

pub async fn add_note(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    axum::extract::Form(f): axum::extract::Form<NoteForm>,
) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    match store::add_note(&st.db, &c.actor(), st.now(), id, &f.body).await {
        Ok(_) => Ok(redirect_notice(&format!("/opportunities/{id}#timeline"), "notice.note_added")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            let zone = crate::settings::zone(&st.db).await?;
            show_page(&st, &c, id, None, None, (f.body, fe.err("body")), (default_call(zone, st.now()), FormErrors::none())).await
        }
    }
}

pub async fn schedule_call(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let o = visible(&st, &c, id).await?;
    let mut f: CallForm = CallForm::default();
    for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(&body).unwrap_or_default() {
        match k.as_str() {
            "date" => f.date = v,
            "time" => f.time = v,
            "subject" => f.subject = v,
            "notes" => f.notes = v,
            "owner_id" => f.owner_id = v.parse().ok(),
            _ => {}
        }
    }
    f.opportunity_id = Some(id);
    let zone = crate::settings::zone(&st.db).await?;
    let res = match f.parse(zone, o.owner_id.unwrap_or(c.p.user_id)) {
        Ok(input) => calls::schedule(&st.db, &c.actor(), st.now(), &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/opportunities/{id}#calls"), "notice.call_scheduled")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            show_page(&st, &c, id, None, None, (String::new(), None), (f, fe)).await
        }
    }
}

#[derive(Deserialize)]
pub struct LogForm {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    comment: String,
}

pub async fn log_call(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    axum::extract::Form(f): axum::extract::Form<LogForm>,
) -> Result<Response, HttpError> {
    let call = calls::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    calls::log(&st.db, &c.actor(), st.now(), id, &f.outcome, &f.comment).await?;
    Ok(redirect_notice(&format!("/opportunities/{}#calls", call.opportunity_id), "notice.call_logged"))
}

#[derive(Template)]
#[template(path = "sales/history.html")]
struct HistoryPage {
    c: PageCtx,
    o: Opportunity,
    entries: Vec<HistoryEntry>,
}

pub async fn history(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let o = visible(&st, &c, id).await?;
    let events = audit::history(&st.db, "opportunity", id, None, 500).await?;
    let events = crate::http::api::sales::filter_hidden(events, c.p.sees_hidden_fields());
    let l = Labels::load(&st, &c).await?;
    let labels = |f: &str, v: &str| match f {
        "status" => l.statuses.get(v).map(|s| s.label(&l.lang).to_string()),
        "lead_type" => l.lead_types.iter().find(|t| t.code == v).map(|t| t.label(&l.lang).to_string()),
        _ => None,
    };
    let entries = audit::entries_for(&events, &super::history_reader(&c, &labels));
    let mut pc = PageCtx::new(&c, "/opportunities", "history.title");
    pc.title = format!("{} · {}", c.tr.t("history.title"), o.name);
    Ok(render(HistoryPage { c: pc, o, entries }))
}

// ------------------------------------------------------------------ the forms

#[derive(Template)]
#[template(path = "sales/form.html")]
struct FormPage {
    c: PageCtx,
    id: Option<i64>,
    form: OpportunityForm,
    stock_numbers: String,
    customer: Option<Customer>,
    new_customer: CustomerForm,
    f: FormErrors,
    lead_types: Vec<ListItem>,
    units: Vec<OrgUnit>,
    owners: Vec<Staff>,
    find: String,
    found: Vec<Customer>,
    duplicates: Vec<crate::customers::store::Match>,
    can_force: bool,
}

impl FormPage {
    fn lead_is(&self, code: &str) -> bool {
        self.form.lead_type.as_deref() == Some(code)
    }
    fn unit_is(&self, id: &i64) -> bool {
        self.form.branch_id == Some(*id)
    }
    fn owner_is(&self, id: &i64) -> bool {
        self.form.owner_id == Some(*id)
    }
}

struct FormState {
    form: OpportunityForm,
    stock_numbers: String,
    new_customer: CustomerForm,
    f: FormErrors,
    find: String,
    duplicates: Vec<crate::customers::store::Match>,
}

async fn form_page(st: &AppState, c: &Ctx, id: Option<i64>, s: FormState) -> Result<Response, HttpError> {
    let customer = match s.form.customer_id {
        Some(cid) => crate::customers::store::get_visible(&st.db, &c.p.visibility, cid).await?,
        None => None,
    };
    let found = if s.find.trim().is_empty() || id.is_some() {
        Vec::new()
    } else {
        let filter = crate::customers::store::Filter { q: Some(s.find.clone()), ..Default::default() };
        crate::customers::store::list(&st.db, &c.p.visibility, &filter, &PageReq::first(10)).await?.items
    };
    let mut pc = PageCtx::new(c, "/opportunities", if id.is_some() { "sales.edit" } else { "sales.new" });
    if id.is_some() {
        pc.title = s.form.name.clone();
    }
    let errors = s.f.any() || !s.duplicates.is_empty();
    let lead_type: Vec<&str> = s.form.lead_type.iter().map(String::as_str).collect();
    let lead_types = lists::choices(&st.db, "lead_type", &lead_type).await?;
    let owners = users::active_and(&st.db, &s.form.owner_id.into_iter().collect::<Vec<_>>()).await?;
    let mut resp = render(FormPage {
        c: pc,
        id,
        form: s.form,
        stock_numbers: s.stock_numbers,
        customer,
        new_customer: s.new_customer,
        f: s.f,
        lead_types,
        units: units::tree(&st.db).await?,
        owners,
        find: s.find,
        found,
        duplicates: s.duplicates,
        can_force: c.p.can(Right::CustomersCreateDuplicate),
    });
    if errors {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    customer_id: Option<i64>,
    find: Option<String>,
}

pub async fn new_form(State(st): State<AppState>, c: Ctx, Query(q): Query<NewQuery>) -> Result<Response, HttpError> {
    let form = OpportunityForm {
        customer_id: q.customer_id,
        owner_id: Some(c.p.user_id),
        branch_id: c.p.visibility.home_unit_id(),
        lead_type: Some("phone_up".into()),
        ..Default::default()
    };
    let new_customer = CustomerForm { kind: "person".into(), ..Default::default() };
    let s = FormState {
        form,
        stock_numbers: String::new(),
        new_customer,
        f: FormErrors::none(),
        find: q.find.unwrap_or_default(),
        duplicates: Vec::new(),
    };
    form_page(&st, &c, None, s).await
}

fn read_form(body: &str) -> (OpportunityForm, String, CustomerForm, bool) {
    let mut f = OpportunityForm::default();
    let mut nc = CustomerForm { kind: "person".into(), ..Default::default() };
    let mut stock = String::new();
    let mut force = false;
    for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(body).unwrap_or_default() {
        match k.as_str() {
            "name" => f.name = v,
            "customer_id" => f.customer_id = v.parse().ok(),
            "lead_type" => f.lead_type = Some(v).filter(|s| !s.is_empty()),
            "owner_id" => f.owner_id = v.parse().ok(),
            "branch_id" => f.branch_id = v.parse().ok(),
            "stock_numbers" => stock = v,
            "c_first_name" => nc.first_name = v,
            "c_last_name" => nc.last_name = v,
            "c_email" => nc.email = v,
            "c_phone" => nc.phone = v,
            "create_anyway" => force = v == "on",
            _ => {}
        }
    }
    (f, stock, nc, force)
}

pub async fn create(State(st): State<AppState>, c: Ctx, body: String) -> Result<Response, HttpError> {
    let (mut form, stock_numbers, nc, force) = read_form(&body);
    let state = |form: OpportunityForm, f: FormErrors, duplicates| FormState {
        form,
        stock_numbers: stock_numbers.clone(),
        new_customer: nc.clone(),
        f,
        find: String::new(),
        duplicates,
    };
    let res: Result<Opportunity, Error> = async {
        form.stock_unit_ids = stock::ids_of_numbers(&st.db, "stock_numbers", &stock_numbers).await?;
        match form.customer_id {
            Some(cid) => {
                crate::customers::store::get_visible(&st.db, &c.p.visibility, cid)
                    .await?
                    .ok_or_else(|| Error::validation("customer_id", "error.unknown_customer"))?;
                let input = form.parse()?;
                store::create(&st.db, &c.actor(), st.now(), &input).await
            }
            None => {
                if !c.p.can(Right::CustomersCreate) {
                    return Err(Error::validation("customer_id", "error.required"));
                }
                let region = crate::customers::store::region_of(&st.db).await?;
                let ci = nc.parse(&region).map_err(|e| match e {
                    Error::Validation(f) => {
                        let mut out = crate::error::FieldErrors::new();
                        for x in f.0 {
                            out.add(format!("c_{}", x.field), x.reason);
                        }
                        Error::Validation(out)
                    }
                    e => e,
                })?;
                let input = OpportunityForm { customer_id: Some(0), ..form.clone() }.parse()?;
                let allow = force && c.p.can(Right::CustomersCreateDuplicate);
                store::create_with_customer(&st.db, &c.actor(), st.now(), &ci, allow, &input).await
            }
        }
    }
    .await;
    match res {
        Ok(o) => Ok(redirect_notice(&format!("/opportunities/{}", o.id), "notice.opportunity_created")),
        Err(Error::Conflict(_)) => {
            // The new customer's phone or email is known: show who, offer to use them.
            let region = crate::customers::store::region_of(&st.db).await?;
            let mut duplicates = Vec::new();
            if let Ok(ci) = nc.parse(&region) {
                let mut conn = st.db.pool.acquire().await?;
                let phones: Vec<&str> = ci.phone.iter().map(|p| p.as_str()).collect();
                duplicates = crate::customers::store::lookup(&mut conn, ci.email.as_ref().map(|e| e.as_str()), &phones, None).await?;
            }
            form_page(&st, &c, None, state(form, FormErrors::none(), duplicates)).await
        }
        Err(e) => {
            let fe = form_error(&c, e)?;
            form_page(&st, &c, None, state(form, fe, Vec::new())).await
        }
    }
}

pub async fn edit_form(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let o = visible(&st, &c, id).await?;
    let stock_numbers = o.stock_units.iter().map(|s| s.stock_number.clone()).collect::<Vec<_>>().join(", ");
    let s = FormState {
        form: OpportunityForm::from_opportunity(&o),
        stock_numbers,
        new_customer: CustomerForm::default(),
        f: FormErrors::none(),
        find: String::new(),
        duplicates: Vec::new(),
    };
    form_page(&st, &c, Some(id), s).await
}

pub async fn update(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let o = visible(&st, &c, id).await?;
    let (mut form, stock_numbers, _, _) = read_form(&body);
    form.customer_id = Some(o.customer_id);
    let res: Result<Opportunity, Error> = async {
        form.stock_unit_ids = stock::ids_of_numbers(&st.db, "stock_numbers", &stock_numbers).await?;
        let input = form.parse()?;
        store::update(&st.db, &c.actor(), st.now(), id, &input).await
    }
    .await;
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/opportunities/{id}"), "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            let s = FormState {
                form,
                stock_numbers,
                new_customer: CustomerForm::default(),
                f: fe,
                find: String::new(),
                duplicates: Vec::new(),
            };
            form_page(&st, &c, Some(id), s).await
        }
    }
}

// ------------------------------------------------------------------ the trash

#[derive(Template)]
#[template(path = "sales/trash.html")]
struct TrashPage {
    c: PageCtx,
    l: Labels,
    items: Vec<Opportunity>,
}

pub async fn trash(State(st): State<AppState>, c: Ctx, Query(q): Query<NoticeQuery>) -> Result<Response, HttpError> {
    let filter = Filter { trash: true, ..Default::default() };
    let res = store::list(&st.db, &c.p.visibility, &filter, &PageReq::first(200)).await?;
    let pc = PageCtx::new(&c, "/opportunities", "sales.trash").with_notice(q.notice.as_deref());
    Ok(render(TrashPage { c: pc, l: Labels::load(&st, &c).await?, items: res.items }))
}

pub async fn restore(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    store::get_visible_trashed(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    store::restore(&st.db, &c.actor(), st.now(), id).await?;
    Ok(redirect_notice(&format!("/opportunities/{id}"), "notice.restored"))
}

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
    let users = users::active_and(&st.db, &form.user_ids).await?;
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

pub async fn new_meeting(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let o = visible(&st, &c, id).await?;
    let zone = crate::settings::zone(&st.db).await?;
    let form = MeetingForm {
        opportunity_id: Some(id),
        kind: if o.stock_units.is_empty() { "inventaire".into() } else { "stock".into() },
        date: zone.date(st.now() + 86_400_000),
        start_time: "10:00".into(),
        end_time: "11:00".into(),
        category: "rendez_vous".into(),
        status: "planifie".into(),
        branch_id: o.branch_id,
        owner_id: o.owner_id,
        stock_numbers: o.stock_units.iter().map(|s| s.stock_number.clone()).collect(),
        ..Default::default()
    };
    meeting_page(&st, &c, o, None, form, FormErrors::none(), None).await
}

fn read_meeting(body: &str) -> MeetingForm {
    let mut f = MeetingForm::default();
    for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(body).unwrap_or_default() {
        match k.as_str() {
            "opportunity_id" => f.opportunity_id = v.parse().ok(),
            "kind" => f.kind = v,
            "date" => f.date = v,
            "start_time" => f.start_time = v,
            "end_time" => f.end_time = v,
            "location" => f.location = v,
            "priority" => f.priority = v,
            "category" => f.category = v,
            "appointment_type" => f.appointment_type = v,
            "branch_id" => f.branch_id = v.parse().ok(),
            "owner_id" => f.owner_id = v.parse().ok(),
            "language" => f.language = v,
            "deposit_method" => f.deposit_method = v,
            "esign_status" => f.esign_status = v,
            "transfer" => f.transfer = v == "on",
            "status" => f.status = v,
            "description" => f.description = v,
            "stock_numbers" => f.stock_numbers = vec![v],
            "user_ids" => f.user_ids.extend(v.parse::<i64>().ok()),
            "group_ids" => f.group_ids.extend(v.parse::<i64>().ok()),
            _ => {}
        }
    }
    f
}

pub async fn create_meeting(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let o = visible(&st, &c, id).await?;
    let mut form = read_meeting(&body);
    form.opportunity_id = Some(id);
    let zone = crate::settings::zone(&st.db).await?;
    let res = match form.parse(zone) {
        Ok(input) => meetings::create(&st.db, &c.actor(), st.now(), &input, zone).await,
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
        Ok(input) => meetings::update(&st.db, &c.actor(), st.now(), id, &input, zone).await,
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
    #[serde(default, deserialize_with = "super::select_id")]
    user_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::select_id")]
    branch_id: Option<Option<i64>>,
}

pub struct Day {
    pub label: String,
    pub date: String,
    pub today: bool,
    pub meetings: Vec<Meeting>,
}

#[derive(Template)]
#[template(path = "sales/calendar.html")]
struct CalendarPage {
    c: PageCtx,
    l: Labels,
    days: Vec<Day>,
    week: bool,
    date: String,
    prev: String,
    next: String,
    user_id: Option<i64>,
    branch_id: Option<i64>,
    users: Vec<Staff>,
    units: Vec<OrgUnit>,
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
    fn user_is(&self, id: &i64) -> bool {
        self.user_id == Some(*id)
    }
    fn unit_is(&self, id: &i64) -> bool {
        self.branch_id == Some(*id)
    }
}

pub async fn calendar(State(st): State<AppState>, c: Ctx, Query(q): Query<CalendarQuery>) -> Result<Response, HttpError> {
    let zone = crate::settings::zone(&st.db).await?;
    let span = crate::clock::Span::of_view(q.view.as_deref());
    let week = span == crate::clock::Span::Week;
    let today = zone.local(st.now()).date();
    let date = q.date.as_deref().and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()).unwrap_or(today);
    use chrono::Datelike;
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
    let mut days = Vec::new();
    for &d in &window.days {
        let ds = fmt(d);
        let wd = c.tr.tp("day.", &d.weekday().num_days_from_monday().to_string());
        days.push(Day {
            label: format!("{wd} {}", d.format("%d/%m")),
            today: d == today,
            meetings: items.iter().filter(|m| zone.date(m.start_at) == ds).cloned().collect(),
            date: ds,
        });
    }
    let step = window.step();
    let pc = PageCtx::new(&c, "/calendar", "nav.calendar");
    Ok(render(CalendarPage {
        c: pc,
        l: Labels::load(&st, &c).await?,
        days,
        week,
        date: fmt(date),
        prev: fmt(date - step),
        next: fmt(date + step),
        user_id: if branch_id.is_some() { None } else { user_id },
        branch_id,
        users: users::all_active(&st.db).await?,
        units: units::tree(&st.db).await?,
    }))
}

// ------------------------------------------------------------------ the lead screen

#[derive(Template)]
#[template(path = "sales/lead.html")]
struct LeadPage {
    c: PageCtx,
    form: LeadForm,
    f: FormErrors,
    lead_types: Vec<ListItem>,
    /// The customers recognised from the phone or email typed, with their open files.
    known: Vec<(crate::customers::store::Match, bool, Vec<OpenFile>)>,
    checked: bool,
    /// The branches a new customer's lead may be routed to.
    branches: Vec<OrgUnit>,
}

impl LeadPage {
    fn lead_is(&self, code: &str) -> bool {
        self.form.lead_type.as_deref() == Some(code)
    }
    fn branch_is(&self, id: &i64) -> bool {
        self.form.branch_id == Some(*id)
    }
}

async fn lead_page(st: &AppState, c: &Ctx, form: LeadForm, f: FormErrors, checked: bool) -> Result<Response, HttpError> {
    // Before handling a lead the agent sees the customer's other open files, in every department.
    let mut known = Vec::new();
    let region = crate::customers::store::region_of(&st.db).await?;
    let mut errs = crate::error::FieldErrors::new();
    let email = crate::customers::opt_email(&mut errs, "email", &form.email);
    let phone = crate::customers::opt_phone(&mut errs, "phone", &form.phone, &region);
    if email.is_some() || phone.is_some() {
        let mut conn = st.db.pool.acquire().await?;
        let phones: Vec<&str> = phone.iter().map(|p| p.as_str()).collect();
        let matches = crate::customers::store::lookup(&mut conn, email.as_ref().map(|e| e.as_str()), &phones, None).await?;
        drop(conn);
        for m in matches {
            let visible = crate::customers::store::get_visible(&st.db, &c.p.visibility, m.id).await?.is_some();
            let files = crate::http::api::sales::open_files_for(st, c, m.id).await?;
            known.push((m, visible, files));
        }
    }
    let errors = f.any();
    let mut resp = render(LeadPage {
        c: PageCtx::new(c, "/opportunities", "leads.new"),
        form,
        f,
        lead_types: lists::items(&st.db, "lead_type", false).await?,
        known,
        checked,
        branches: units::tree(&st.db).await?.into_iter().filter(|u| u.kind == crate::org::units::UnitKind::Branch).collect(),
    });
    if errors {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn lead_form(State(st): State<AppState>, c: Ctx) -> Result<Response, HttpError> {
    let form = LeadForm { lead_type: Some("phone_up".into()), ..Default::default() };
    lead_page(&st, &c, form, FormErrors::none(), false).await
}

/// The agent's lead: "check" shows who the customer is and their open files; "take the
/// lead" merges or opens the opportunity.
pub async fn lead_submit(State(st): State<AppState>, c: Ctx, body: String) -> Result<Response, HttpError> {
    let mut f = LeadForm::default();
    let mut check = false;
    for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(&body).unwrap_or_default() {
        match k.as_str() {
            "first_name" => f.first_name = v,
            "last_name" => f.last_name = v,
            "email" => f.email = v,
            "phone" => f.phone = v,
            "message" => f.message = v,
            "source" => f.source = v,
            "stock_number" => f.stock_number = v,
            "lead_type" => f.lead_type = Some(v),
            "branch_id" => f.branch_id = v.parse().ok(),
            "check" => check = true,
            _ => {}
        }
    }
    let region = crate::customers::store::region_of(&st.db).await?;
    let input = match f.parse(&region) {
        Ok(i) => i,
        Err(e) => {
            let fe = form_error(&c, e)?;
            return lead_page(&st, &c, f, fe, false).await;
        }
    };
    if check {
        return lead_page(&st, &c, f, FormErrors::none(), true).await;
    }
    let defaults = leads::Defaults { branch_id: c.p.visibility.home_unit_id(), owner_id: None };
    match leads::intake(&st.db, &c.actor(), st.now(), &input, None, defaults).await {
        Ok(r) => Ok(redirect_notice(
            &format!("/opportunities/{}", r.opportunity_id),
            if r.outcome == leads::Outcome::Merged { "notice.lead_merged" } else { "notice.lead_created" },
        )),
        Err(e) => {
            let fe = form_error(&c, e)?;
            lead_page(&st, &c, f, fe, false).await
        }
    }
}

// ------------------------------------------------------------------ stock units

#[derive(Template)]
#[template(path = "sales/stock.html")]
struct StockPage {
    c: PageCtx,
    items: Vec<StockUnit>,
    q: String,
    next: Option<String>,
    form: StockForm,
    f: FormErrors,
    units: Vec<OrgUnit>,
    can_manage: bool,
}

impl StockPage {
    fn unit_is(&self, id: &i64) -> bool {
        self.form.branch_id == Some(*id)
    }
}

#[derive(Deserialize, Default)]
pub struct StockQuery {
    q: Option<String>,
    after: Option<String>,
    notice: Option<String>,
}

async fn stock_page(st: &AppState, c: &Ctx, q: StockQuery, form: StockForm, f: FormErrors) -> Result<Response, HttpError> {
    let page = PageReq::parse(Some(100), q.after.as_deref())?;
    let res = stock::list(&st.db, q.q.as_deref(), None, &page).await?;
    let qs = q.q.clone().unwrap_or_default();
    let next = res.next.map(|n| format!("q={}&after={}", crate::http::auth::urlencode(&qs), n.encode()));
    let errors = f.any();
    let mut resp = render(StockPage {
        c: PageCtx::new(c, "/opportunities", "stock.title").with_notice(q.notice.as_deref()),
        items: res.items,
        q: qs,
        next,
        form,
        f,
        units: units::tree(&st.db).await?,
        can_manage: c.p.can(Right::StockManage),
    });
    if errors {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn stock_list(State(st): State<AppState>, c: Ctx, Query(q): Query<StockQuery>) -> Result<Response, HttpError> {
    stock_page(&st, &c, q, StockForm::default(), FormErrors::none()).await
}

fn read_stock(body: &str) -> StockForm {
    let mut f = StockForm::default();
    for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(body).unwrap_or_default() {
        match k.as_str() {
            "stock_number" => f.stock_number = v,
            "description" => f.description = v,
            "status" => f.status = v,
            "branch_id" => f.branch_id = v.parse().ok(),
            _ => {}
        }
    }
    f
}

pub async fn stock_create(State(st): State<AppState>, c: Ctx, body: String) -> Result<Response, HttpError> {
    let form = read_stock(&body);
    let res = match form.parse() {
        Ok(i) => stock::create(&st.db, &c.actor(), st.now(), &i).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice("/stock", "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            stock_page(&st, &c, StockQuery::default(), form, fe).await
        }
    }
}

pub async fn stock_update(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let form = read_stock(&body);
    let res = match form.parse() {
        Ok(i) => stock::update(&st.db, &c.actor(), st.now(), id, &i).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice("/stock", "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            stock_page(&st, &c, StockQuery::default(), form, fe).await
        }
    }
}

// ------------------------------------------------------------------ my day

/// Today's meetings, due calls and interventions of the user (the home page's "my day").
pub struct MyDay {
    pub meetings: Vec<Meeting>,
    pub calls: Vec<Call>,
    /// `None` for a user who works on no intervention.
    pub interventions: Option<Vec<crate::service::interventions::Intervention>>,
    pub sales: bool,
    pub zone: Zone,
    pub now: i64,
}

impl MyDay {
    pub fn time(&self, ms: &i64) -> String {
        self.zone.time(*ms)
    }
    pub fn at(&self, ms: &i64) -> String {
        self.zone.format(*ms)
    }
}

pub async fn my_day(st: &AppState, c: &Ctx) -> Result<Option<MyDay>, HttpError> {
    let sales = c.p.can(Right::MeetingsRead) || c.p.can(Right::CallsRead);
    if !sales && !c.p.can(Right::InterventionsRead) {
        return Ok(None);
    }
    let zone = crate::settings::zone(&st.db).await?;
    let start = zone.day_start(st.now());
    let end = start + 86_400_000;
    let meetings = if c.p.can(Right::MeetingsRead) {
        meetings::calendar(&st.db, &c.p.visibility, CalendarOf::User(c.p.user_id), start, end).await?
    } else {
        Vec::new()
    };
    let calls = if c.p.can(Right::CallsRead) { calls::tasks(&st.db, c.p.user_id, end, 50).await? } else { Vec::new() };
    // The interventions the user is booked on today (a technician's day).
    let interventions = if c.p.can(Right::InterventionsRead) {
        use crate::service::interventions::{planning, PlanningOf};
        let mine = planning(&st.db, &c.p.visibility, PlanningOf::Technician(c.p.user_id), start, end).await?;
        (!mine.is_empty() || !sales).then_some(mine)
    } else {
        None
    };
    Ok(Some(MyDay { meetings, calls, interventions, sales, zone, now: st.now() }))
}
