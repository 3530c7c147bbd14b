//! Service pages: the request list, the new-request form, the request with its contacts
//! (create or modify from the request), customer updates, equipment lines, history.

use askama::Template;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::customers::{contact_choices, read_contact, Choice};
use super::history::{self, Record};
use super::{form_error, redirect_notice, render, FormErrors, NoticeQuery, PageCtx};
use crate::access::Right;
use crate::calls::{self, CallForm};

use crate::customers::{Contact, ContactForm, Customer};
use crate::db::page::PageReq;
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::form::FormPairs;
use crate::http::listing::{self, ListNav};
use crate::http::lists::{Interventions as InterventionsList, Requests};
use crate::http::pages::schedule::{self, ColumnSpec, Entry, Grid};
use crate::http::AppState;
use crate::identity::users::{self, Staff};
use crate::lists::{self, ListItem};
use crate::service::equipment::{self, Equipment, EquipmentForm, Line};
use crate::service::interventions::{self, Intervention, InterventionForm, PlanningOf};
use crate::service::returns::{self, EquipmentReturn, ReturnForm};
use crate::service::store::{self, Role};
use crate::service::{RequestForm, RequestStatus, ServiceRequest, SOURCES};

pub use crate::http::lists::ServiceLabels as Labels;

// ------------------------------------------------------------------ list

#[derive(Template)]
#[template(path = "service/list.html")]
struct ListPage {
    c: PageCtx,
    l: Labels,
    list: ListNav,
    items: Vec<ServiceRequest>,
    q: String,
    status: String,
    request_type: String,
    mine: bool,
    statuses: Vec<RequestStatus>,
    can_create: bool,
    can_export: bool,
    can_inbound: bool,
    /// Unread customer messages per request of the page.
    unread: Vec<(i64, i64)>,
    unread_only: bool,
    priority: String,
    overdue_only: bool,
}

impl ListPage {
    fn unread_of(&self, id: &i64) -> i64 {
        self.unread.iter().find(|(r, _)| r == id).map(|(_, n)| *n).unwrap_or(0)
    }
}

pub async fn list(State(st): State<AppState>, c: Ctx, RawQuery(raw): RawQuery) -> Result<Response, HttpError> {
    let (s, page, list) = listing::read::<Requests>(&st, &c, raw.as_deref()).await?;
    let ids: Vec<i64> = page.items.iter().map(|r| r.id).collect();
    let unread = if c.p.can(Right::ServiceMessages) { crate::service::messages::unread_of(&st.db, &ids).await? } else { Vec::new() };
    Ok(render(ListPage {
        unread,
        unread_only: s.get("unread") == Some("1"),
        priority: s.text("priority"),
        overdue_only: s.get("overdue") == Some("1"),
        can_inbound: c.p.can(Right::ServiceInboundManage),
        c: PageCtx::new(&c, "/service/requests", "nav.service").with_notice(s.notice.as_deref()),
        l: Labels::load(&st, &c).await?,
        list,
        items: page.items,
        q: s.text("q"),
        status: s.text("status"),
        request_type: s.text("request_type"),
        mine: s.get("mine") == Some("1"),
        statuses: RequestStatus::ALL.to_vec(),
        can_create: c.p.can(Right::ServiceRequestsCreate),
        can_export: c.p.can(Right::ServiceRequestsExport),
    }))
}

// ------------------------------------------------------------------ intervention list

#[derive(Template)]
#[template(path = "service/interventions.html")]
struct InterventionsPage {
    c: PageCtx,
    list: ListNav,
    items: Vec<Intervention>,
    status: String,
    mine: bool,
    statuses: Vec<interventions::Status>,
    can_export: bool,
}

pub async fn interventions_list(State(st): State<AppState>, c: Ctx, RawQuery(raw): RawQuery) -> Result<Response, HttpError> {
    let (s, page, list) = listing::read::<InterventionsList>(&st, &c, raw.as_deref()).await?;
    Ok(render(InterventionsPage {
        c: PageCtx::new(&c, "/service/requests", "service.interventions").with_notice(s.notice.as_deref()),
        list,
        items: page.items,
        status: s.text("status"),
        mine: s.get("mine") == Some("1"),
        statuses: interventions::Status::ALL.to_vec(),
        can_export: c.p.can(Right::ServiceRequestsExport),
    }))
}

// ------------------------------------------------------------------ the form

#[derive(Template)]
#[template(path = "service/form.html")]
struct FormPage {
    c: PageCtx,
    id: Option<i64>,
    form: RequestForm,
    f: FormErrors,
    customer: Option<Customer>,
    contacts: Vec<Contact>,
    find: String,
    found: Vec<Customer>,
    types: Vec<ListItem>,
    symptoms: Vec<ListItem>,
    priorities: Vec<ListItem>,
    owners: Vec<Staff>,
    sources: &'static [&'static str],
}

impl FormPage {
    fn type_is(&self, code: &str) -> bool {
        self.form.request_type == code
    }
    fn symptom_is(&self, code: &str) -> bool {
        self.form.symptom.as_deref() == Some(code)
    }
    fn priority_is(&self, code: &str) -> bool {
        self.form.priority.as_deref().unwrap_or("normale") == code
    }
    fn source_is(&self, code: &str) -> bool {
        self.form.source == code || (self.form.source.is_empty() && code == "staff")
    }
    fn owner_is(&self, id: &i64) -> bool {
        self.form.owner_id == Some(*id)
    }
    fn requester_is(&self, id: &i64) -> bool {
        self.form.requester_contact_id == Some(*id)
    }
    fn user_is(&self, id: &i64) -> bool {
        self.form.user_contact_id == Some(*id)
    }
}

async fn form_page(st: &AppState, c: &Ctx, id: Option<i64>, form: RequestForm, f: FormErrors, find: String) -> Result<Response, HttpError> {
    let customer = match form.customer_id {
        Some(cid) => crate::customers::store::get_visible(&st.db, &c.p.visibility, cid).await?,
        None => None,
    };
    let contacts = match &customer {
        Some(cu) => crate::customers::store::contacts(&st.db, cu.id).await?,
        None => Vec::new(),
    };
    let found = if find.trim().is_empty() {
        Vec::new()
    } else {
        let filter = crate::customers::store::Filter { q: Some(find.clone()), ..Default::default() };
        crate::customers::store::list(&st.db, &c.p.visibility, &filter, &PageReq::first(10)).await?.items
    };
    let errors = f.any();
    let types = lists::choices(&st.db, "request_type", &[form.request_type.as_str()]).await?;
    let symptom: Vec<&str> = form.symptom.iter().map(String::as_str).collect();
    let symptoms = lists::choices(&st.db, "symptom", &symptom).await?;
    let priorities = lists::choices(&st.db, "request_priority", &[form.priority.as_deref().unwrap_or("normale")]).await?;
    // The directory the user sees, and the owner the record has (not one typed in a refused post).
    let kept = match id {
        Some(id) => visible(st, c, id).await?.owner_id,
        None => None,
    };
    let owners = users::pickable(&st.db, &c.p.visibility, &kept.into_iter().collect::<Vec<_>>()).await?;
    let mut resp = render(FormPage {
        c: PageCtx::new(c, "/service/requests", if id.is_some() { "service.edit" } else { "service.new" }),
        id,
        form,
        f,
        customer,
        contacts,
        find,
        found,
        types,
        symptoms,
        priorities,
        owners,
        sources: SOURCES,
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
    let form = RequestForm { customer_id: q.customer_id, owner_id: Some(c.p.user_id), source: "staff".into(), ..Default::default() };
    form_page(&st, &c, None, form, FormErrors::none(), q.find.unwrap_or_default()).await
}

/// The request form as posted, onto `f`: a field the form does not carry (the branch, on
/// the edit form) keeps its value.
fn read_form(mut f: RequestForm, body: &str) -> RequestForm {
    let p = FormPairs::parse(body);
    p.set_id("customer_id", &mut f.customer_id);
    p.set_id("requester_contact_id", &mut f.requester_contact_id);
    p.set_id("user_contact_id", &mut f.user_contact_id);
    p.set("request_type", &mut f.request_type);
    p.set_opt("symptom", &mut f.symptom);
    p.set("source", &mut f.source);
    p.set("description", &mut f.description);
    p.set_opt("priority", &mut f.priority);
    p.set_id("owner_id", &mut f.owner_id);
    p.set_id("branch_id", &mut f.branch_id);
    f
}

pub async fn create(State(st): State<AppState>, c: Ctx, body: String) -> Result<Response, HttpError> {
    let form = read_form(RequestForm::default(), &body);
    let form = RequestForm { branch_id: form.branch_id.or(c.p.visibility.home_unit_id()), ..form };
    let res = async {
        let input = form.parse()?;
        crate::customers::store::get_visible(&st.db, &c.p.visibility, input.customer_id)
            .await?
            .ok_or_else(|| Error::validation("customer_id", "error.unknown_customer"))?;
        users::check_owner_choice(&st.db, &c.p.visibility, input.owner_id, None).await?;
        store::create(&st.db, &c.actor(), st.now(), &input).await
    }
    .await;
    match res {
        Ok(r) => Ok(redirect_notice(&format!("/service/requests/{}", r.id), "notice.request_created")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            form_page(&st, &c, None, form, fe, String::new()).await
        }
    }
}

async fn visible(st: &AppState, c: &Ctx, id: i64) -> Result<ServiceRequest, HttpError> {
    Ok(store::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?)
}

pub async fn edit_form(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let r = visible(&st, &c, id).await?;
    form_page(&st, &c, Some(id), RequestForm::from_request(&r), FormErrors::none(), String::new()).await
}

pub async fn update(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let r = visible(&st, &c, id).await?;
    let form = RequestForm { customer_id: Some(r.customer_id), ..read_form(RequestForm::from_request(&r), &body) };
    let res = async {
        let input = form.parse()?;
        users::check_owner_choice(&st.db, &c.p.visibility, input.owner_id, r.owner_id).await?;
        store::update(&st.db, &c.actor(), st.now(), id, &input).await
    }
    .await;
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/service/requests/{id}"), "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            form_page(&st, &c, Some(id), form, fe, String::new()).await
        }
    }
}

// ------------------------------------------------------------------ the request

#[derive(Template)]
#[template(path = "service/show.html")]
struct ShowPage {
    c: PageCtx,
    l: Labels,
    r: ServiceRequest,
    region: String,
    lines: Vec<Line>,
    base: Vec<Equipment>,
    update_status: String,
    update_message: String,
    uf: FormErrors,
    contact_role: String,
    contact_form: ContactForm,
    civ_choices: Vec<Choice>,
    part_choices: Vec<Choice>,
    cf: FormErrors,
    equipment_form: EquipmentForm,
    ef: FormErrors,
    can_update: bool,
    can_contact_create: bool,
    can_contact_update: bool,
    can_equipment: bool,
    update_statuses: Vec<RequestStatus>,
    interventions: Vec<Intervention>,
    returns: Vec<EquipmentReturn>,
    technicians: Vec<Staff>,
    intervention_form: InterventionForm,
    inf: FormErrors,
    /// The intervention form is shown open (a slot chosen in the planning).
    intervention_open: bool,
    return_form: ReturnForm,
    rf: FormErrors,
    can_intervene: bool,
    can_return: bool,
    can_return_update: bool,
    documents: Vec<crate::service::documents::Document>,
    document_error: Option<String>,
    can_documents: bool,
    can_upload: bool,
    can_delete_document: bool,
    /// The requester's portal account, if they have one.
    requester_portal: Option<crate::portal::Account>,
    conversation: Option<ConversationView>,
    max_mb: usize,
    mail_form: crate::service::summary::SendForm,
    mf: FormErrors,
    can_mail: bool,
    address_book: Vec<String>,
    sender: String,
    /// The activity feed (`partials/activity.html`).
    feed: crate::http::pages::activity::FeedView,
    /// The composer's tab open: `update`, `note`, `message`, `email`.
    tab: &'static str,
    /// The internal note being written, and its error.
    note_body: String,
    note_error: Option<String>,
    /// The call being scheduled (`crate::calls`), its errors, and whom it may be for.
    call_form: CallForm,
    kf: FormErrors,
    call_owners: Vec<Staff>,
}

impl ShowPage {
    fn phone(&self, p: &Option<String>) -> String {
        p.as_deref().map(|e| crate::customers::phone::Phone::display(e, &self.region)).unwrap_or_default()
    }
    /// The two contact fields of the request, in order.
    fn roles(&self) -> Vec<(&'static str, Option<crate::service::ContactRef>)> {
        vec![("requester", self.r.requester.clone()), ("user", self.r.user.clone())]
    }
    fn contact_open(&self, role: &str) -> bool {
        self.contact_role == role && self.cf.any()
    }
    fn tech_chosen(&self, id: &i64) -> bool {
        self.intervention_form.technician_ids.contains(id)
    }
    fn time(&self, ms: &i64) -> String {
        self.l.zone.time(*ms)
    }
    fn on_request(&self, id: &i64) -> bool {
        self.lines.iter().any(|l| l.equipment_id == *id)
    }
    fn line_symptom_is(&self, line: &Line, code: &str) -> bool {
        line.symptom.as_deref() == Some(code)
    }
    fn call_owner_is(&self, id: &i64) -> bool {
        self.call_form.owner_id == Some(*id)
    }
}

#[derive(Default)]
struct ShowState {
    update: (String, String, FormErrors),
    contact: (String, ContactForm, FormErrors),
    equipment: (EquipmentForm, FormErrors),
    intervention: Option<(InterventionForm, FormErrors)>,
    ret: (ReturnForm, FormErrors),
    document_error: Option<String>,
    mail: Option<(crate::service::summary::SendForm, FormErrors)>,
    /// A message being written (kept when the form shows an error).
    message: Option<(String, bool, FormErrors)>,
    /// An internal note being written, and its error.
    note: Option<(String, Option<String>)>,
    /// A call being scheduled, and its errors.
    call: Option<(CallForm, FormErrors)>,
    /// The intervention form comes prefilled from a slot of the planning (shown open).
    slot_chosen: bool,
    /// The activity feed's filter and page.
    feed: crate::http::pages::activity::FeedQuery,
}

/// The conversation card of the request page (when enabled and the user holds the right).
pub struct ConversationView {
    pub blocked: bool,
    pub note: Option<String>,
    pub body: String,
    pub notify: bool,
    pub errors: FormErrors,
}

async fn conversation(
    st: &AppState,
    c: &Ctx,
    id: i64,
    draft: Option<(String, bool, FormErrors)>,
) -> Result<Option<ConversationView>, HttpError> {
    use crate::service::messages;
    if !c.p.can(Right::ServiceMessages) || !messages::enabled(&st.db).await? {
        return Ok(None);
    }
    let (blocked, note) = {
        let mut conn = st.db.pool.acquire().await?;
        messages::blocked(&mut conn, id).await?
    };
    let (body, notify, errors) = match draft {
        Some(d) => d,
        None => (String::new(), crate::settings::get_bool(&st.db, "service.messages_notify_default").await?, FormErrors::none()),
    };
    // The messages themselves are in the activity feed.
    Ok(Some(ConversationView { blocked, note, body, notify, errors }))
}

async fn show_page(st: &AppState, c: &Ctx, id: i64, notice: Option<&str>, s: ShowState) -> Result<Response, HttpError> {
    let r = visible(st, c, id).await?;
    let mut conn = st.db.pool.acquire().await?;
    let lines = equipment::lines(&mut conn, id).await?;
    let region = crate::customers::store::region(&mut conn).await?;
    drop(conn);
    let base = equipment::of_customer(&st.db, r.customer_id).await?;
    let mut pc = PageCtx::new(c, "/service/requests", "nav.service").with_notice(notice);
    pc.title = r.number.clone();
    let l = Labels::load(st, c).await?;
    let zone = l.zone;
    let intervention_open = s.slot_chosen;
    let (intervention_form, inf) = s.intervention.unwrap_or_else(|| {
        let t = st.now() + 86_400_000;
        (
            InterventionForm { date: zone.date(t), start_time: "08:00".into(), end_time: "10:00".into(), ..Default::default() },
            FormErrors::none(),
        )
    });
    let (mail_form, mf) = s.mail.unwrap_or_else(|| {
        let subject = crate::service::summary::default_subject(&r, zone, c.lang(), st.now());
        (crate::service::summary::SendForm { subject, attach_summary: true, ..Default::default() }, FormErrors::none())
    });
    // Autocompletion of staff and the customer's contacts.
    let staff = users::pickable(&st.db, &c.p.visibility, &[]).await?;
    let mut address_book: Vec<String> = staff.iter().map(|u| format!("{} <{}>", u.name, u.email)).collect();
    for ct in crate::customers::store::contacts(&st.db, r.customer_id).await? {
        if let Some(e) = &ct.email {
            address_book.push(format!("{} <{e}>", ct.name()));
        }
    }
    let (civ_choices, part_choices) = contact_choices(st, c, &s.contact.1).await?;
    let feed =
        crate::http::pages::activity::load(st, c, crate::activity::Of::Request(id), &format!("/service/requests/{id}"), &s.feed).await?;
    let (call_form, kf) = s.call.unwrap_or_else(|| {
        let t = st.now() + 86_400_000;
        (CallForm { date: zone.date(t), time: "10:00".into(), ..Default::default() }, FormErrors::none())
    });
    let tab = if s.note.is_some() {
        "note"
    } else if kf.any() {
        "call"
    } else if s.message.is_some() {
        "message"
    } else if mf.any() {
        "email"
    } else {
        "update"
    };
    let errors = s.update.2.any()
        || s.contact.2.any()
        || s.equipment.1.any()
        || inf.any()
        || s.ret.1.any()
        || s.document_error.is_some()
        || s.note.as_ref().is_some_and(|n| n.1.is_some())
        || kf.any()
        || mf.any();
    let (note_body, note_error) = s.note.unwrap_or_default();
    let mut resp = render(ShowPage {
        c: pc,
        l,
        lines,
        base,
        region,
        update_status: if s.update.0.is_empty() { r.status.update_default().code().into() } else { s.update.0 },
        update_message: s.update.1,
        uf: s.update.2,
        contact_role: s.contact.0,
        contact_form: s.contact.1,
        civ_choices,
        part_choices,
        cf: s.contact.2,
        equipment_form: s.equipment.0,
        ef: s.equipment.1,
        can_update: c.p.can(Right::ServiceRequestsUpdate),
        can_contact_create: c.p.can(Right::ServiceContactCreate),
        can_contact_update: c.p.can(Right::ServiceContactUpdate),
        can_equipment: c.p.can(Right::ServiceEquipmentManage),
        update_statuses: r.status.update_choices(),
        interventions: if c.p.can(Right::InterventionsRead) { interventions::for_request(&st.db, id).await? } else { Vec::new() },
        returns: if c.p.can(Right::ReturnsRead) { returns::for_request(&st.db, id).await? } else { Vec::new() },
        call_owners: staff,
        technicians: users::pickable_holding(&st.db, &c.p.visibility, Right::InterventionsPerform, &[]).await?,
        intervention_form,
        inf,
        intervention_open,
        return_form: s.ret.0,
        rf: s.ret.1,
        can_intervene: c.p.can(Right::InterventionsCreate),
        can_return: c.p.can(Right::ReturnsCreate),
        can_return_update: c.p.can(Right::ReturnsUpdate),
        documents: if c.p.can(Right::DocumentsRead) { crate::service::documents::for_request(&st.db, id).await? } else { Vec::new() },
        document_error: s.document_error,
        can_documents: c.p.can(Right::DocumentsRead),
        can_upload: c.p.can(Right::DocumentsCreate),
        can_delete_document: c.p.can(Right::DocumentsDelete),
        conversation: conversation(st, c, id, s.message).await?,
        requester_portal: match &r.requester {
            Some(rq) => crate::portal::accounts::of_contact(&st.db, r.customer_id, Some(rq.id)).await?,
            None => None,
        },
        max_mb: st.config.max_document_bytes / (1024 * 1024),
        mail_form,
        mf,
        can_mail: c.p.can(Right::ServiceMailSend),
        address_book,
        feed,
        tab,
        note_body,
        note_error,
        call_form,
        kf,
        sender: format!("{} <{}>", c.p.name, c.p.email),
        r,
    });
    if errors {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    /// The notice, and the activity feed's filter and page.
    #[serde(flatten)]
    feed: crate::http::pages::activity::FeedQuery,
    /// A slot chosen in the planning: the new intervention's form starts there, open.
    #[serde(flatten)]
    slot: PlanSlotQuery,
}

pub async fn show(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, Query(q): Query<ShowQuery>) -> Result<Response, HttpError> {
    let mut state = ShowState::default();
    if let Some((date, start_time, end_time)) = q.slot.slot() {
        let form = InterventionForm {
            date,
            start_time,
            end_time,
            technician_ids: q.slot.technician_id.flatten().into_iter().collect(),
            ..Default::default()
        };
        state.intervention = Some((form, FormErrors::none()));
        state.slot_chosen = true;
    }
    let notice = q.feed.notice.clone();
    state.feed = q.feed;
    show_page(&st, &c, id, notice.as_deref(), state).await
}

#[derive(Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    message: String,
}

/// "Nouvelle action": a status and a message for the end customer.
pub async fn add_update(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    axum::extract::Form(f): axum::extract::Form<UpdateForm>,
) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    match store::add_update(&st.db, &c.actor(), st.now(), id, &f.status, &f.message).await {
        Ok(u) => Ok(redirect_notice(
            &format!("/service/requests/{id}#activity"),
            if u.notified > 0 { "notice.update_sent" } else { "notice.update_saved" },
        )),
        Err(e) => {
            let fe = form_error(&c, e)?;
            show_page(&st, &c, id, None, ShowState { update: (f.status, f.message, fe), ..Default::default() }).await
        }
    }
}

/// An internal note from the composer (staff only).
pub async fn add_note(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    axum::extract::Form(f): axum::extract::Form<super::sales::NoteForm>,
) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    match crate::service::notes::add(&st.db, &c.actor(), st.now(), id, &f.body).await {
        Ok(_) => Ok(redirect_notice(&format!("/service/requests/{id}#activity"), "notice.note_added")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            let err = fe.err("body").or(fe.general);
            show_page(&st, &c, id, None, ShowState { note: Some((f.body, err)), ..Default::default() }).await
        }
    }
}

/// A call to the customer from the composer: for the user unless another owner is chosen
/// among the directory they see (the owner then takes part in the request).
pub async fn schedule_call(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    let f = super::sales::read_call(&body);
    let zone = crate::settings::zone(&st.db).await?;
    let res = async {
        let input = f.parse(zone, calls::File::Request(id), c.p.user_id)?;
        users::check_owner_choice(&st.db, &c.p.visibility, Some(input.owner_id), Some(c.p.user_id)).await?;
        crate::service::calls::schedule(&st.db, &c.actor(), st.now(), &input).await
    }
    .await;
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/service/requests/{id}#activity"), "notice.call_scheduled")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            show_page(&st, &c, id, None, ShowState { call: Some((f, fe)), ..Default::default() }).await
        }
    }
}

/// Logs the outcome of one of the request's planned calls, from its entry in the feed.
pub async fn log_call(
    State(st): State<AppState>,
    c: Ctx,
    Path((id, call_id)): Path<(i64, i64)>,
    axum::extract::Form(f): axum::extract::Form<super::sales::LogForm>,
) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    calls::get_visible(&st.db, &c.p.visibility, call_id, calls::On::Request(id)).await?.ok_or(Error::NotFound)?;
    crate::service::calls::log(&st.db, &c.actor(), st.now(), id, call_id, &f.outcome, &f.comment).await?;
    Ok(redirect_notice(&format!("/service/requests/{id}#activity"), "notice.call_logged"))
}

fn role_of(r: &str) -> Result<Role, HttpError> {
    Ok(Role::parse(r).ok_or(Error::NotFound)?)
}

/// Creates a contact from the request and sets it as requester or user.
pub async fn create_contact(
    State(st): State<AppState>,
    c: Ctx,
    Path((id, r)): Path<(i64, String)>,
    body: String,
) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    let role = role_of(&r)?;
    let form = read_contact(ContactForm::default(), &body);
    let region = crate::customers::store::region_of(&st.db).await?;
    let res = match form.parse(&region) {
        Ok(input) => store::create_contact(&st.db, &c.actor(), st.now(), id, role, &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/service/requests/{id}"), "notice.contact_added")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            show_page(&st, &c, id, None, ShowState { contact: (r, form, fe), ..Default::default() }).await
        }
    }
}

#[derive(Template)]
#[template(path = "service/contact_form.html")]
struct ContactPage {
    c: PageCtx,
    r: ServiceRequest,
    role: String,
    form: ContactForm,
    f: FormErrors,
    civ_choices: Vec<Choice>,
    part_choices: Vec<Choice>,
}

pub async fn edit_contact(State(st): State<AppState>, c: Ctx, Path((id, r)): Path<(i64, String)>) -> Result<Response, HttpError> {
    let req = visible(&st, &c, id).await?;
    let role = role_of(&r)?;
    let ct = store::contact_of(&st.db, id, role).await?.ok_or(Error::NotFound)?;
    let mut pc = PageCtx::new(&c, "/service/requests", "customers.contact_edit");
    pc.title = ct.name();
    let form = ContactForm::from_contact(&ct);
    let (civ_choices, part_choices) = contact_choices(&st, &c, &form).await?;
    Ok(render(ContactPage { c: pc, r: req, role: r, form, f: FormErrors::none(), civ_choices, part_choices }))
}

pub async fn update_contact(
    State(st): State<AppState>,
    c: Ctx,
    Path((id, r)): Path<(i64, String)>,
    body: String,
) -> Result<Response, HttpError> {
    let req = visible(&st, &c, id).await?;
    let role = role_of(&r)?;
    let ct = store::contact_of(&st.db, id, role).await?.ok_or(Error::NotFound)?;
    let form = read_contact(ContactForm::from_contact(&ct), &body);
    let region = crate::customers::store::region_of(&st.db).await?;
    let res = match form.parse(&region) {
        Ok(input) => crate::customers::store::update_contact(&st.db, &c.actor(), st.now(), req.customer_id, ct.id, &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/service/requests/{id}"), "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            let mut pc = PageCtx::new(&c, "/service/requests", "customers.contact_edit");
            pc.title = ct.name();
            let (civ_choices, part_choices) = contact_choices(&st, &c, &form).await?;
            let mut resp = render(ContactPage { c: pc, r: req, role: r, form, f: fe, civ_choices, part_choices });
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
    }
}

/// Adds an existing equipment of the customer (`equipment_id`) or a new one (serial number,
/// model…), with a symptom.
pub async fn add_line(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let r = visible(&st, &c, id).await?;
    let p = FormPairs::parse(&body);
    let f = EquipmentForm {
        customer_id: Some(r.customer_id),
        serial_number: p.text("serial_number"),
        model: p.text("model"),
        installed_on: p.text("installed_on"),
        location: p.text("location"),
    };
    let existing = p.id("equipment_id");
    let symptom = p.get("symptom").filter(|s| !s.is_empty());
    let res = match existing {
        Some(eid) => equipment::add_line(&st.db, &c.actor(), st.now(), id, eid, symptom).await,
        None if !c.p.can(Right::ServiceEquipmentManage) => Err(Error::Forbidden),
        None => match f.parse() {
            Ok(input) => equipment::create_line(&st.db, &c.actor(), st.now(), id, &input, symptom).await.map(|_| ()),
            Err(e) => Err(e),
        },
    };
    match res {
        Ok(()) => Ok(redirect_notice(&format!("/service/requests/{id}#equipment"), "notice.equipment_added")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            show_page(&st, &c, id, None, ShowState { equipment: (f, fe), ..Default::default() }).await
        }
    }
}

#[derive(Deserialize)]
pub struct SymptomForm {
    #[serde(default)]
    symptom: String,
}

pub async fn set_symptom(
    State(st): State<AppState>,
    c: Ctx,
    Path((id, eid)): Path<(i64, i64)>,
    axum::extract::Form(f): axum::extract::Form<SymptomForm>,
) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    equipment::set_symptom(&st.db, &c.actor(), st.now(), id, eid, Some(f.symptom.as_str()).filter(|s| !s.is_empty())).await?;
    Ok(redirect_notice(&format!("/service/requests/{id}#equipment"), "notice.saved"))
}

pub async fn remove_line(State(st): State<AppState>, c: Ctx, Path((id, eid)): Path<(i64, i64)>) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    equipment::remove_line(&st.db, &c.actor(), st.now(), id, eid).await?;
    Ok(redirect_notice(&format!("/service/requests/{id}#equipment"), "notice.equipment_removed"))
}

pub async fn history(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let r = visible(&st, &c, id).await?;
    let types = lists::items(&st.db, "request_type", true).await?;
    let labels = |f: &str, v: &str| match f {
        "status" => super::known_label(&c, "service.status_", v),
        "request_type" => types.iter().find(|t| t.code == v).map(|t| t.label(&c.lang()).to_string()),
        _ => None,
    };
    let crumbs = vec![("/service/requests".into(), c.tr.t("nav.service"))];
    let href = format!("/service/requests/{id}");
    let rec = Record {
        entity: "service_request",
        id,
        name: r.number,
        subtitle: Some(r.customer_name),
        section: "/service/requests",
        crumbs,
        href,
        labels: &labels,
        hidden: &[],
    };
    history::page(&st, &c, rec).await
}

// ------------------------------------------------------------------ interventions

fn read_intervention(body: &str) -> InterventionForm {
    let p = FormPairs::parse(body);
    InterventionForm {
        date: p.text("date"),
        start_time: p.text("start_time"),
        end_time: p.text("end_time"),
        place: p.text("place"),
        technician_ids: p.ids("technician_ids"),
        status: p.text("status"),
        report_work: p.text("report_work"),
        report_minutes: p.get("report_minutes").and_then(|v| v.trim().parse().ok()),
        ..Default::default()
    }
}

/// "Nouvelle intervention" from the request.
pub async fn create_intervention(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    let form = read_intervention(&body);
    let zone = crate::settings::zone(&st.db).await?;
    let res = match form.parse(zone) {
        Ok(input) => interventions::create(&st.db, &c.actor(), st.now(), id, &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(i) => Ok(redirect_notice(&format!("/service/interventions/{}", i.id), "notice.intervention_created")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            show_page(&st, &c, id, None, ShowState { intervention: Some((form, fe)), ..Default::default() }).await
        }
    }
}

#[derive(Template)]
#[template(path = "service/intervention.html")]
struct InterventionPage {
    c: PageCtx,
    l: Labels,
    i: Intervention,
    form: InterventionForm,
    f: FormErrors,
    technicians: Vec<Staff>,
    can_update: bool,
    statuses: Vec<interventions::Status>,
    /// Where the technician goes and whom to call there.
    customer: Option<crate::customers::Customer>,
    contact: Option<crate::customers::Contact>,
    region: String,
    /// The user may start it, write its report, add photos, have it signed (its technician).
    can_work: bool,
    /// Photos taken there, newest first.
    photos: Vec<crate::service::documents::Document>,
    /// A refused start, report, photo or signature: (the card's id, the message).
    work_error: Option<(&'static str, String)>,
    report: crate::service::fieldwork::ReportForm,
    maps: String,
}

impl InterventionPage {
    fn work_err(&self, card: &str) -> Option<&str> {
        self.work_error.as_ref().filter(|(k, _)| *k == card).map(|(_, m)| m.as_str())
    }
    fn kb(&self, size: &i64) -> String {
        format!("{} ko", (size + 1023) / 1024)
    }
    fn phone(&self, p: &Option<String>) -> String {
        p.as_deref().map(|e| crate::customers::phone::Phone::display(e, &self.region)).unwrap_or_default()
    }
    fn tech_chosen(&self, id: &i64) -> bool {
        self.form.technician_ids.contains(id)
    }
    fn time(&self, ms: &i64) -> String {
        self.l.zone.time(*ms)
    }
}

/// What the technician's card on the intervention page shows after a refused action.
#[derive(Default)]
struct WorkState {
    error: Option<(&'static str, String)>,
    report: Option<crate::service::fieldwork::ReportForm>,
}

async fn intervention_page(
    st: &AppState,
    c: &Ctx,
    id: i64,
    notice: Option<&str>,
    form: Option<(InterventionForm, FormErrors)>,
    work: WorkState,
) -> Result<Response, HttpError> {
    let i = interventions::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    let l = Labels::load(st, c).await?;
    let status = i.status;
    let (form, f) = form.unwrap_or_else(|| (InterventionForm::from_intervention(&i, l.zone), FormErrors::none()));
    let customer = {
        let mut conn = st.db.pool.acquire().await?;
        crate::customers::store::get(&mut conn, i.customer_id).await?
    };
    let contact = match store::contact_of(&st.db, i.request_id, store::Role::Requester).await? {
        Some(ct) => Some(ct),
        None => store::contact_of(&st.db, i.request_id, store::Role::User).await?,
    };
    let region = crate::customers::store::region_of(&st.db).await?;
    // The directory the user sees, and the technicians the intervention has (not the ids of a refused post).
    let kept: Vec<i64> = i.technicians.iter().map(|t| t.id).collect();
    let technicians = users::pickable_holding(&st.db, &c.p.visibility, Right::InterventionsPerform, &kept).await?;
    let mut pc = PageCtx::new(c, "/service/requests", "service.intervention").with_notice(notice);
    pc.title = i.number.clone();
    let errors = f.any() || work.error.is_some();
    let can_work = c.p.can(Right::InterventionsUpdate) && crate::service::fieldwork::may_work(&st.db, &c.p.visibility, &i).await?;
    let photos = crate::service::fieldwork::photos(&st.db, i.id).await?;
    let address = if i.place.is_empty() { customer.as_ref().map(|c| c.address.clone()).unwrap_or_default() } else { i.place.clone() };
    let maps = crate::http::pages::maps_link(&address);
    let report = work.report.unwrap_or_else(|| crate::service::fieldwork::ReportForm {
        report_work: i.report_work.clone(),
        report_minutes: i.report_minutes,
        finish: false,
    });
    let mut resp = render(InterventionPage {
        c: pc,
        l,
        i,
        form,
        f,
        technicians,
        can_update: c.p.can(Right::InterventionsUpdate),
        statuses: status.choices(),
        customer,
        contact,
        region,
        can_work,
        photos,
        work_error: work.error,
        report,
        maps,
    });
    if errors {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn show_intervention(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, HttpError> {
    intervention_page(&st, &c, id, q.notice.as_deref(), None, WorkState::default()).await
}

pub async fn update_intervention(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    interventions::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    let form = read_intervention(&body);
    let zone = crate::settings::zone(&st.db).await?;
    let res = match form.parse(zone) {
        Ok(input) => interventions::update(&st.db, &c.actor(), st.now(), id, &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/service/interventions/{id}"), "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            intervention_page(&st, &c, id, None, Some((form, fe)), WorkState::default()).await
        }
    }
}

// ------------------------------------------------------------------ the technician's day

/// A refused work action: validation and state errors go back to the intervention page (422)
/// in the card they came from; anything else is an error response.
async fn work_refused(
    st: &AppState,
    c: &Ctx,
    id: i64,
    card: &'static str,
    e: Error,
    report: Option<crate::service::fieldwork::ReportForm>,
) -> Result<Response, HttpError> {
    let first = match &e {
        Error::Validation(f) | Error::Conflict(f) => f.0.first().map(|x| c.tr.t(x.reason)),
        _ => None,
    };
    let fe = form_error(c, e)?;
    let msg = fe.general.or(first).unwrap_or_else(|| c.tr.t("form.fix_errors"));
    intervention_page(st, c, id, None, None, WorkState { error: Some((card, msg)), report }).await
}

/// "Démarrer": the technician is there.
pub async fn start_intervention(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    use crate::service::fieldwork;
    let i = fieldwork::for_work(&st.db, &c.p.visibility, id).await?;
    match fieldwork::start(&st.db, &c.actor(), st.now(), &i).await {
        Ok(_) => Ok(redirect_notice(&format!("/service/interventions/{id}"), "notice.intervention_started")),
        Err(e) => work_refused(&st, &c, id, "work-status", e, None).await,
    }
}

/// The report typed on site; "Terminer" also finishes the intervention.
pub async fn report_intervention(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    use crate::service::fieldwork;
    let i = fieldwork::for_work(&st.db, &c.p.visibility, id).await?;
    let p = FormPairs::parse(&body);
    let minutes = p.text("report_minutes");
    let f = fieldwork::ReportForm {
        report_work: p.text("report_work"),
        report_minutes: minutes.trim().parse().ok(),
        finish: p.text("finish") == "1",
    };
    if !minutes.trim().is_empty() && f.report_minutes.is_none() {
        return work_refused(&st, &c, id, "work-report", Error::validation("report_minutes", "error.out_of_range"), Some(f)).await;
    }
    match fieldwork::report(&st.db, &c.actor(), st.now(), &i, &f).await {
        Ok(_) => {
            let notice = if f.finish { "notice.intervention_finished" } else { "notice.saved" };
            Ok(redirect_notice(&format!("/service/interventions/{id}"), notice))
        }
        Err(e) => work_refused(&st, &c, id, "work-report", e, Some(f)).await,
    }
}

/// A photo taken on site (multipart `file`): resized and kept with the request's documents.
pub async fn add_photo(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    mut mp: axum::extract::Multipart,
) -> Result<Response, HttpError> {
    use crate::service::fieldwork;
    let i = fieldwork::for_work(&st.db, &c.p.visibility, id).await?;
    let res = match crate::http::api::service::read_upload(&mut mp, st.config.max_document_bytes).await {
        Ok((name, bytes, _)) => fieldwork::add_photo(&st.db, &st.storage, &c.actor(), st.now(), &i, &name, &bytes).await,
        Err(e) => Err(e.0),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/service/interventions/{id}#work-photos"), "notice.photo_added")),
        Err(e) => work_refused(&st, &c, id, "work-photos", e, None).await,
    }
}

/// The customer's signature drawn on the screen (`signature`: a PNG data URL) and their name.
pub async fn sign_intervention(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    use crate::service::fieldwork;
    let i = fieldwork::for_work(&st.db, &c.p.visibility, id).await?;
    let p = FormPairs::parse(&body);
    let drawn = p.text("signature");
    let res = match if drawn.trim().is_empty() { Ok(Vec::new()) } else { fieldwork::from_data_url(&drawn) } {
        Ok(bytes) => fieldwork::sign(&st.db, &st.storage, &c.actor(), st.now(), &i, &p.text("signer_name"), &bytes).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/service/interventions/{id}#work-signature"), "notice.signed")),
        Err(e) => work_refused(&st, &c, id, "work-signature", e, None).await,
    }
}

/// The customer's signature as an image, for the intervention page.
pub async fn signature_image(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    use axum::response::IntoResponse;
    let i = interventions::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?;
    let d = match i.signature_document_id {
        Some(d) => crate::service::documents::get(&st.db, d).await?.ok_or(Error::NotFound)?,
        None => return Err(Error::NotFound.into()),
    };
    let bytes = crate::service::documents::content(&st.storage, &d).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/png"), (axum::http::header::CACHE_CONTROL, "private, max-age=300")], bytes)
        .into_response())
}

#[derive(Deserialize, Default)]
pub struct PlanningQuery {
    view: Option<String>,
    date: Option<String>,
    #[serde(default, deserialize_with = "super::select_id")]
    technician_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::select_id")]
    branch_id: Option<Option<i64>>,
}

/// A conflict as people read it: the technician and the two interventions' numbers.
pub struct ConflictLine {
    pub technician: String,
    pub first: (i64, String),
    pub second: (i64, String),
}

#[derive(Template)]
#[template(path = "service/planning.html")]
struct PlanningPage {
    c: PageCtx,
    grid: Grid,
    conflicts: Vec<ConflictLine>,
    week: bool,
    date: String,
    prev: String,
    next: String,
    technician_id: Option<i64>,
    branch_id: Option<i64>,
    users: Vec<Staff>,
    units: Vec<crate::org::units::OrgUnit>,
    can_update: bool,
    can_book: bool,
}

impl PlanningPage {
    fn link(&self, date: &str) -> String {
        self.query(date, self.week)
    }
    fn toggle(&self) -> String {
        self.query(&self.date, !self.week)
    }
    fn day_link(&self, date: &str) -> String {
        self.query(date, false)
    }
    fn query(&self, date: &str, week: bool) -> String {
        let mut s = format!("/service/planning?view={}&date={date}", if week { "week" } else { "day" });
        if let Some(t) = self.technician_id {
            s.push_str(&format!("&technician_id={t}"));
        }
        if let Some(b) = self.branch_id {
            s.push_str(&format!("&branch_id={b}"));
        }
        s
    }
    fn api(&self) -> &'static str {
        "/api/v1/interventions/"
    }
    /// Where an empty slot leads: the choice of the request to book an intervention for, at
    /// that time, with the column's technician (or the planning's).
    fn book(&self, col: &schedule::Column, time: &str) -> String {
        let mut s = format!("/service/planning/book?date={}&start_time={time}", col.date);
        if let Some(t) = col.person.or(self.technician_id) {
            s.push_str(&format!("&technician_id={t}"));
        }
        if let Some(b) = self.branch_id {
            s.push_str(&format!("&branch_id={b}"));
        }
        s
    }
    fn user_is(&self, id: &i64) -> bool {
        self.technician_id == Some(*id)
    }
    fn unit_is(&self, id: &i64) -> bool {
        self.branch_id == Some(*id)
    }
}

/// The planning: a time grid, a week of days or a day of technicians (a branch's), conflicts
/// marked.
pub async fn planning(State(st): State<AppState>, c: Ctx, Query(q): Query<PlanningQuery>) -> Result<Response, HttpError> {
    use chrono::Datelike;
    let zone = crate::settings::zone(&st.db).await?;
    let span = crate::clock::Span::of_view(q.view.as_deref());
    let week = span == crate::clock::Span::Week;
    let today = zone.local(st.now()).date();
    let date = q.date.as_deref().and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()).unwrap_or(today);
    let window = zone.window(date, span);
    let fmt = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let (from, to) = (window.from, window.to);
    let (technician_id, branch_id) = (q.technician_id.flatten(), q.branch_id.flatten());
    let of = match (technician_id, branch_id) {
        (Some(t), _) => PlanningOf::Technician(t),
        (None, Some(b)) => PlanningOf::Branch(b),
        (None, None) => PlanningOf::All,
    };
    let items = interventions::planning(&st.db, &c.p.visibility, of, from, to).await?;
    let number = |id: i64| (id, items.iter().find(|i| i.id == id).map(|i| i.number.clone()).unwrap_or_default());
    let conflicts = interventions::conflicts(&items)
        .into_iter()
        .map(|k| ConflictLine { technician: k.technician_name, first: number(k.first), second: number(k.second) })
        .collect();
    let entries: Vec<Entry> = items
        .iter()
        .map(|i| {
            let mut detail: Vec<&str> = i.technicians.iter().map(|t| t.name.as_str()).collect();
            detail.push(&i.number);
            if !i.place.is_empty() {
                detail.push(&i.place);
            }
            Entry {
                id: i.id,
                start: i.start_at,
                end: i.end_at,
                people: i.technicians.iter().map(|t| t.id).collect(),
                href: format!("/service/interventions/{}", i.id),
                title: i.customer_name.clone(),
                detail: detail.join(" · "),
                class: format!("status-{}", i.status.code()),
                cancelled: i.status == interventions::Status::Annulee,
                movable: true,
            }
        })
        .collect();
    let label =
        |d: chrono::NaiveDate| format!("{} {}", c.tr.tp("day.", &d.weekday().num_days_from_monday().to_string()), d.format("%d/%m"));
    let columns: Vec<ColumnSpec> = if week {
        window.days.iter().map(|&d| ColumnSpec { label: label(d), date: d, person: None }).collect()
    } else {
        // The day of technicians: the one chosen, a branch's, or whoever is booked.
        let people: Vec<(i64, String)> = match of {
            PlanningOf::Technician(t) => {
                users::get_visible(&st.db, &c.p.visibility, t).await?.map(|u| vec![(u.id, u.name)]).unwrap_or_default()
            }
            PlanningOf::Branch(b) => users::of_branch_with_right(&st.db, &c.p.visibility, b, Right::InterventionsPerform)
                .await?
                .into_iter()
                .map(|u| (u.id, u.name))
                .collect(),
            PlanningOf::All => Vec::new(),
        };
        let booked = items
            .iter()
            .filter(|_| !matches!(of, PlanningOf::Technician(_)))
            .flat_map(|i| i.technicians.iter().map(|t| (t.id, t.name.clone())));
        schedule::people_columns(people, booked, date, label(date))
    };
    let agenda: Vec<(chrono::NaiveDate, String)> = window.days.iter().map(|&d| (d, label(d))).collect();
    let grid = schedule::layout(zone, &columns, &entries, st.now(), &agenda);
    let step = window.step();
    Ok(render(PlanningPage {
        c: PageCtx::new(&c, "/service/requests", "service.planning"),
        grid,
        conflicts,
        week,
        date: fmt(date),
        prev: fmt(date - step),
        next: fmt(date + step),
        technician_id,
        branch_id,
        users: users::pickable_holding(
            &st.db,
            &c.p.visibility,
            Right::InterventionsPerform,
            &technician_id.into_iter().collect::<Vec<_>>(),
        )
        .await?,
        units: crate::org::units::tree(&st.db).await?,
        can_update: c.p.can(Right::InterventionsUpdate),
        can_book: c.p.can(Right::InterventionsCreate),
    }))
}

/// A slot chosen in the planning's grid.
#[derive(Deserialize, Default)]
pub struct PlanSlotQuery {
    date: Option<String>,
    start_time: Option<String>,
    #[serde(default, deserialize_with = "super::select_id")]
    technician_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::select_id")]
    branch_id: Option<Option<i64>>,
    /// The picker's search (customers).
    q: Option<String>,
}

impl PlanSlotQuery {
    /// `(date, start, end)` (two hours, as the form's default) when the slot is valid.
    fn slot(&self) -> Option<(String, String, String)> {
        schedule::slot(self.date.as_deref(), self.start_time.as_deref(), 2)
    }
    fn query(&self) -> String {
        schedule::slot_query(self.slot(), "technician_id", self.technician_id.flatten())
    }
}

#[derive(Template)]
#[template(path = "service/book.html")]
struct PlanBookPage {
    c: PageCtx,
    slot: PlanSlotQuery,
    when: String,
    person: Option<String>,
    requests: Vec<crate::service::ServiceRequest>,
}

/// An empty slot of the planning clicked: which open request the intervention is for (the
/// branch's, or a search), each leading to the request's intervention form at that slot.
pub async fn book_intervention(State(st): State<AppState>, c: Ctx, Query(mut slot): Query<PlanSlotQuery>) -> Result<Response, HttpError> {
    if slot.slot().is_none() {
        // No slot (or a wrong one): the intervention form's own default, tomorrow at 08:00.
        let zone = crate::settings::zone(&st.db).await?;
        slot.date = Some(zone.date(st.now() + 86_400_000));
        slot.start_time = Some("08:00".into());
    }
    let (date, start, _) = slot.slot().ok_or_else(|| Error::validation("date", "error.invalid_datetime"))?;
    let person = match slot.technician_id.flatten() {
        Some(u) => users::get_visible(&st.db, &c.p.visibility, u).await?.map(|u| u.name),
        None => None,
    };
    let q = slot.q.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let filter = store::Filter { q, open: true, unit_id: slot.branch_id.flatten(), now: st.now(), ..Default::default() };
    let page = store::list(&st.db, &c.p.visibility, &filter, &PageReq { limit: 20, at: None }).await?;
    Ok(render(PlanBookPage {
        c: PageCtx::new(&c, "/service/requests", "schedule.book_intervention"),
        when: format!("{date} {start}"),
        slot,
        person,
        requests: page.items,
    }))
}

// ------------------------------------------------------------------ returns

pub async fn create_return(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    let p = FormPairs::parse(&body);
    let f = ReturnForm {
        request_id: Some(id),
        equipment_id: p.id("equipment_id"),
        reason: p.text("reason"),
        return_type: p.text("return_type"),
    };
    match returns::create(&st.db, &c.actor(), st.now(), id, &f).await {
        Ok(_) => Ok(redirect_notice(&format!("/service/requests/{id}#returns"), "notice.return_created")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            show_page(&st, &c, id, None, ShowState { ret: (f, fe), ..Default::default() }).await
        }
    }
}

#[derive(Deserialize)]
pub struct ReturnStatusForm {
    #[serde(default)]
    status: String,
}

pub async fn return_status(
    State(st): State<AppState>,
    c: Ctx,
    Path(rid): Path<i64>,
    axum::extract::Form(f): axum::extract::Form<ReturnStatusForm>,
) -> Result<Response, HttpError> {
    let mut conn = st.db.pool.acquire().await?;
    let x = returns::get(&mut conn, rid).await?.ok_or(Error::NotFound)?;
    drop(conn);
    visible(&st, &c, x.request_id).await?;
    returns::set_status(&st.db, &c.actor(), st.now(), rid, &f.status).await?;
    Ok(redirect_notice(&format!("/service/requests/{}#returns", x.request_id), "notice.saved"))
}

// ------------------------------------------------------------------ documents

pub async fn upload_document(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    mut mp: axum::extract::Multipart,
) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    let max = st.config.max_document_bytes;
    let res = match crate::http::api::service::read_upload(&mut mp, max).await {
        Ok((name, bytes, shared)) => {
            crate::service::documents::upload(&st.db, &st.storage, &c.actor(), st.now(), id, &name, bytes, shared, max).await
        }
        Err(e) => Err(e.0),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/service/requests/{id}#documents"), "notice.document_added")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            let msg = fe.err("file").or(fe.general.clone()).unwrap_or_else(|| c.tr.t("form.fix_errors"));
            show_page(&st, &c, id, None, ShowState { document_error: Some(msg), ..Default::default() }).await
        }
    }
}

pub async fn download_document(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let d = crate::http::api::service::visible_document(&st, &c, id).await?;
    crate::http::api::service::download_response(&st, &d).await
}

pub async fn delete_document(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let d = crate::http::api::service::visible_document(&st, &c, id).await?;
    crate::service::documents::delete(&st.db, &st.storage, &c.actor(), st.now(), id).await?;
    Ok(redirect_notice(&format!("/service/requests/{}#documents", d.request_id), "notice.deleted"))
}

// ------------------------------------------------------------------ send by email

pub async fn send_email(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let r = visible(&st, &c, id).await?;
    let p = FormPairs::parse(&body);
    let f = crate::service::summary::SendForm {
        to: p.text("to"),
        cc: p.text("cc"),
        bcc: p.text("bcc"),
        reply_to: p.text("reply_to"),
        subject: p.text("subject"),
        message: p.text("message"),
        attach_summary: p.flag("attach_summary"),
    };
    let zone = crate::settings::zone(&st.db).await?;
    let sender = crate::http::api::service::sender_of(&c)?;
    match crate::service::summary::send(&st.db, &c.actor(), &sender, st.now(), &r, &f, &st.storage, zone, c.lang()).await {
        Ok(_) => Ok(redirect_notice(&format!("/service/requests/{id}#activity"), "notice.email_queued")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            show_page(&st, &c, id, None, ShowState { mail: Some((f, fe)), ..Default::default() }).await
        }
    }
}

// ------------------------------------------------------------------ conversation

/// A staff message (optionally emailed to the customer), with files (multipart) or not.
pub async fn post_message(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    req: axum::extract::Request,
) -> Result<Response, HttpError> {
    use crate::service::messages::{self, Author};
    visible(&st, &c, id).await?;
    if !messages::enabled(&st.db).await? {
        return Err(Error::NotFound.into());
    }
    let author = Author::Staff { user_id: c.p.user_id, name: c.p.name.clone() };
    let (mut text, mut notify) = (String::new(), false);
    let res = async {
        let f = crate::http::form::FormWithFiles::read(req, "files").await?;
        (text, notify) = (f.pairs.text("body"), f.pairs.flag("notify"));
        let files = messages::check_files(f.files, st.config.max_document_bytes)?;
        let mail_max = st.config.max_attachment_bytes;
        messages::post_with_files(&st.db, &st.storage, &c.actor(), st.now(), id, &author, &text, notify, files, mail_max).await
    }
    .await;
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/service/requests/{id}#activity"), "notice.message_sent")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            let mut resp = show_page(&st, &c, id, None, ShowState { message: Some((text, notify, fe)), ..Default::default() }).await?;
            *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
    }
}

/// Marks a customer message read or unread.
pub async fn mark_message(
    State(st): State<AppState>,
    c: Ctx,
    Path((id, mid)): Path<(i64, i64)>,
    body: String,
) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    let read = FormPairs::parse(&body).flag("read");
    crate::service::messages::set_read(&st.db, &c.actor(), st.now(), id, mid, read).await?;
    Ok(redirect_notice(&format!("/service/requests/{id}#message-{mid}"), "notice.saved"))
}

/// Blocks the conversation (with a note for the customer) or reopens it.
pub async fn block_conversation(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    visible(&st, &c, id).await?;
    let p = FormPairs::parse(&body);
    crate::service::messages::set_blocked(&st.db, &c.actor(), st.now(), id, p.flag("blocked"), &p.text("note")).await?;
    Ok(redirect_notice(&format!("/service/requests/{id}#activity"), "notice.saved"))
}
