//! Customer pages: the list with search as you type, the record with its contacts, the
//! forms with the returning-customer check, merge, history.

use askama::Template;
use axum::extract::{Path, Query, RawQuery, State};
use axum::response::Response;
use serde::Deserialize;

use super::history::{self, Record};
use super::{form_error, redirect_notice, render, FormErrors, PageCtx};
use crate::access::Right;

use crate::customers::phone::Phone;
use crate::customers::store::{self, Match};
use crate::customers::{Contact, ContactForm, Customer, CustomerForm, CustomerListItem};
use crate::error::Error;
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::form::FormPairs;
use crate::http::listing::{self, ListNav};
use crate::http::lists::Customers;
use crate::http::AppState;
use crate::identity::users::{self, Staff};
use crate::lists::{self, ListItem};
use crate::org::units::{self, OrgUnit};

#[derive(Template)]
#[template(path = "customers/list.html")]
struct ListPage {
    c: PageCtx,
    list: ListNav,
    customers: Vec<CustomerListItem>,
    q: String,
    kind: String,
    region: String,
    can_create: bool,
    can_export: bool,
    can_import: bool,
}

#[derive(Template)]
#[template(path = "customers/results.html")]
struct RowsPart {
    c: PageCtx,
    list: ListNav,
    customers: Vec<CustomerListItem>,
    q: String,
    region: String,
}

fn phone_display(p: &Option<String>, region: &str) -> String {
    p.as_deref().map(|e| Phone::display(e, region)).unwrap_or_default()
}

pub async fn list(State(st): State<AppState>, c: Ctx, RawQuery(raw): RawQuery) -> Result<Response, HttpError> {
    let (s, page, list) = listing::read::<Customers>(&st, &c, raw.as_deref()).await?;
    let region = store::region_of(&st.db).await?;
    let pc = PageCtx::new(&c, "/customers", "nav.customers").with_notice(s.notice.as_deref());
    if s.part.as_deref() == Some("rows") {
        return Ok(render(RowsPart { c: pc, list, customers: page.items, q: s.text("q"), region }));
    }
    Ok(render(ListPage {
        c: pc,
        list,
        customers: page.items,
        q: s.text("q"),
        kind: s.text("kind"),
        region,
        can_create: c.p.can(Right::CustomersCreate),
        can_export: c.p.can(Right::CustomersExport),
        can_import: c.p.can(Right::CustomersImport),
    }))
}

impl ListPage {
    fn phone(&self, p: &Option<String>) -> String {
        phone_display(p, &self.region)
    }
}

impl RowsPart {
    fn phone(&self, p: &Option<String>) -> String {
        phone_display(p, &self.region)
    }
}

// ------------------------------------------------------------------ the form

#[derive(Template)]
#[template(path = "customers/form.html")]
struct FormPage {
    c: PageCtx,
    id: Option<i64>,
    form: CustomerForm,
    f: FormErrors,
    civilities: Vec<ListItem>,
    particularities: Vec<ListItem>,
    units: Vec<OrgUnit>,
    owners: Vec<Staff>,
    /// Known customers with the same phone or email (the returning-customer check).
    duplicates: Vec<(Match, bool)>,
    can_force: bool,
}

impl FormPage {
    fn has_part(&self, code: &str) -> bool {
        self.form.particularities.iter().any(|p| p == code)
    }
    fn unit_is(&self, id: &i64) -> bool {
        self.form.branch_id == Some(*id)
    }
    fn owner_is(&self, id: &i64) -> bool {
        self.form.owner_id == Some(*id)
    }
    fn civ_is(&self, code: &str) -> bool {
        self.form.civility.as_deref() == Some(code)
    }
    fn is_company(&self) -> bool {
        self.form.kind == "company"
    }
}

async fn form_page(
    st: &AppState,
    c: &Ctx,
    id: Option<i64>,
    form: CustomerForm,
    f: FormErrors,
    duplicates: Vec<(Match, bool)>,
) -> Result<Response, HttpError> {
    let civilities = lists::choices(&st.db, "civility", &form.civility.iter().map(String::as_str).collect::<Vec<_>>()).await?;
    let chosen: Vec<&str> = form.particularities.iter().map(String::as_str).collect();
    let particularities = lists::choices(&st.db, "customer_particularity", &chosen).await?;
    let units = units::tree(&st.db).await?;
    // The directory the user sees, and the owner the record has (not one typed in a refused post).
    let kept = match id {
        Some(id) => writable(st, c, id).await?.owner_id,
        None => None,
    };
    let owners = users::pickable(&st.db, &c.p.visibility, &kept.into_iter().collect::<Vec<_>>()).await?;
    let mut pc = PageCtx::new(c, "/customers", if id.is_some() { "customers.edit" } else { "customers.new" });
    if id.is_some() {
        pc.title = format!("{} {}", form.first_name, if form.kind == "company" { &form.company_name } else { &form.last_name });
    }
    let errors = f.any() || !duplicates.is_empty();
    let mut resp = render(FormPage {
        c: pc,
        id,
        form,
        f,
        civilities,
        particularities,
        units,
        owners,
        duplicates,
        can_force: c.p.can(Right::CustomersCreateDuplicate),
    });
    if errors {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn new_form(State(st): State<AppState>, c: Ctx) -> Result<Response, HttpError> {
    let form = CustomerForm {
        kind: "person".into(),
        language: Some("fr".into()),
        owner_id: Some(c.p.user_id),
        branch_id: c.p.visibility.home_unit_id(),
        ..Default::default()
    };
    form_page(&st, &c, None, form, FormErrors::none(), Vec::new()).await
}

/// The customer form as posted (repeated `particularities`, empty selects).
fn read_form(body: &str) -> (CustomerForm, bool) {
    let p = FormPairs::parse(body);
    let f = CustomerForm {
        kind: p.text("kind"),
        civility: p.opt_text("civility"),
        first_name: p.text("first_name"),
        last_name: p.text("last_name"),
        company_name: p.text("company_name"),
        email: p.text("email"),
        phone: p.text("phone"),
        mobile: p.text("mobile"),
        address: p.text("address"),
        language: p.get("language").map(str::to_string),
        branch_id: p.id("branch_id"),
        owner_id: p.id("owner_id"),
        notes: p.text("notes"),
        particularities: p.all("particularities").map(str::to_string).collect(),
    };
    (f, p.flag("create_anyway"))
}

async fn duplicates_of(
    st: &AppState,
    c: &Ctx,
    input: &crate::customers::CustomerInput,
    exclude: Option<i64>,
) -> Result<Vec<(Match, bool)>, HttpError> {
    let mut conn = st.db.pool.acquire().await?;
    let phones: Vec<&str> = input.phone.iter().chain(input.mobile.iter()).map(|p| p.as_str()).collect();
    let matches = store::lookup(&mut conn, input.email.as_ref().map(|e| e.as_str()), &phones, exclude).await?;
    drop(conn);
    let mut out = Vec::new();
    for m in matches {
        let visible = store::get_visible(&st.db, &c.p.visibility, m.id).await?.is_some();
        out.push((m, visible));
    }
    Ok(out)
}

pub async fn create(State(st): State<AppState>, c: Ctx, body: String) -> Result<Response, HttpError> {
    let (form, force) = read_form(&body);
    let region = store::region_of(&st.db).await?;
    let input = match form.parse(&region) {
        Ok(i) => i,
        Err(e) => {
            let fe = form_error(&c, e)?;
            return form_page(&st, &c, None, form, fe, Vec::new()).await;
        }
    };
    if let Err(e) = users::check_owner_choice(&st.db, &c.p.visibility, input.owner_id, None).await {
        let fe = form_error(&c, e)?;
        return form_page(&st, &c, None, form, fe, Vec::new()).await;
    }
    let allow = force && c.p.can(Right::CustomersCreateDuplicate);
    if !allow {
        let dups = duplicates_of(&st, &c, &input, None).await?;
        if !dups.is_empty() {
            return form_page(&st, &c, None, form, FormErrors::none(), dups).await;
        }
    }
    match store::create(&st.db, &c.actor(), st.now(), &input, allow).await {
        Ok(cu) => Ok(redirect_notice(&format!("/customers/{}", cu.id), "notice.customer_created")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            form_page(&st, &c, None, form, fe, Vec::new()).await
        }
    }
}

/// The customer, if the user may change it (scope only; 404 otherwise).
async fn writable(st: &AppState, c: &Ctx, id: i64) -> Result<Customer, HttpError> {
    Ok(store::get_writable(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?)
}

async fn visible(st: &AppState, c: &Ctx, id: i64) -> Result<Customer, HttpError> {
    Ok(store::get_visible(&st.db, &c.p.visibility, id).await?.ok_or(Error::NotFound)?)
}

pub async fn edit_form(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let cu = writable(&st, &c, id).await?;
    form_page(&st, &c, Some(id), CustomerForm::from_customer(&cu), FormErrors::none(), Vec::new()).await
}

pub async fn update(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    let cur = writable(&st, &c, id).await?;
    let (form, _) = read_form(&body);
    let region = store::region_of(&st.db).await?;
    let res = async {
        let input = form.parse(&region)?;
        users::check_owner_choice(&st.db, &c.p.visibility, input.owner_id, cur.owner_id).await?;
        store::update(&st.db, &c.actor(), st.now(), id, &input).await
    }
    .await;
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/customers/{id}"), "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            form_page(&st, &c, Some(id), form, fe, Vec::new()).await
        }
    }
}

pub async fn delete(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    writable(&st, &c, id).await?;
    store::delete(&st.db, &c.actor(), st.now(), id).await?;
    Ok(redirect_notice("/customers", "notice.deleted"))
}

// ------------------------------------------------------------------ the record

#[derive(Template)]
#[template(path = "customers/show.html")]
struct ShowPage {
    c: PageCtx,
    cu: Customer,
    contacts: Vec<Contact>,
    region: String,
    particularities: Vec<ListItem>,
    emails: Vec<crate::mail::EmailSummary>,
    show_links: bool,
    /// Every visible file's activity (`partials/activity.html`).
    feed: crate::http::pages::activity::FeedView,
    can_update: bool,
    can_delete: bool,
    can_merge: bool,
    contact_form: ContactForm,
    civ_choices: Vec<Choice>,
    part_choices: Vec<Choice>,
    f: FormErrors,
    merge_error: Option<String>,
    open_files: Vec<crate::sales::store::OpenFile>,
    can_opportunity: bool,
    /// Who has access to the customer portal (for staff managing it).
    can_portal: bool,
    portal_accounts: Vec<crate::portal::Account>,
}

impl ShowPage {
    fn phone(&self, p: &Option<String>) -> String {
        phone_display(p, &self.region)
    }
    fn part_label(&self, code: &str) -> String {
        self.particularities.iter().find(|i| i.code == code).map(|i| i.label(&self.c.tr.0).to_string()).unwrap_or_else(|| code.to_string())
    }
}

/// The emails about the customer and about its files the user may see: its opportunities
/// and their meetings, its service requests (each visibility-filtered).
async fn related_emails(st: &AppState, c: &Ctx, id: i64) -> Result<Vec<crate::mail::EmailSummary>, HttpError> {
    let opportunities =
        if c.p.can(Right::OpportunitiesRead) { crate::sales::store::visible_ids(&st.db, &c.p.visibility, id).await? } else { Vec::new() };
    let meetings = if c.p.can(Right::MeetingsRead) { crate::sales::store::meeting_ids(&st.db, &opportunities).await? } else { Vec::new() };
    let requests = if c.p.can(Right::ServiceRequestsRead) {
        crate::service::store::visible_ids(&st.db, &c.p.visibility, id).await?
    } else {
        Vec::new()
    };
    crate::mail::for_entities(
        &st.db,
        &[("customer", &[id]), ("opportunity", &opportunities), ("meeting", &meetings), ("service_request", &requests)],
    )
    .await
    .map_err(HttpError::from)
}

#[allow(clippy::too_many_arguments)]
async fn show_page(
    st: &AppState,
    c: &Ctx,
    id: i64,
    notice: Option<&str>,
    feed_q: &crate::http::pages::activity::FeedQuery,
    contact_form: ContactForm,
    f: FormErrors,
    merge_error: Option<String>,
) -> Result<Response, HttpError> {
    let cu = visible(st, c, id).await?;
    let contacts = store::contacts(&st.db, id).await?;
    let region = store::region_of(&st.db).await?;
    let particularities = lists::items(&st.db, "customer_particularity", true).await?;
    let emails = related_emails(st, c, id).await?;
    let feed = crate::http::pages::activity::load(st, c, crate::activity::Of::Customer(id), &format!("/customers/{id}"), feed_q).await?;
    let open_files = crate::http::api::sales::open_files_for(st, c, id).await?;
    // Read through a record one takes part in: no change controls.
    let in_scope = store::get_writable(&st.db, &c.p.visibility, id).await?.is_some();
    let (civ_choices, part_choices) = contact_choices(st, c, &contact_form).await?;
    let mut pc = PageCtx::new(c, "/customers", "nav.customers").with_notice(notice);
    pc.title = cu.display_name.clone();
    let errors = f.any() || merge_error.is_some();
    let portal_accounts =
        if c.p.can(Right::CustomersPortal) { crate::portal::accounts::of_customer(&st.db, cu.id).await? } else { Vec::new() };
    let mut resp = render(ShowPage {
        c: pc,
        cu,
        contacts,
        region,
        particularities,
        emails,
        show_links: c.p.can(Right::AdminMail),
        feed,
        can_update: in_scope && c.p.can(Right::CustomersUpdate),
        can_delete: in_scope && c.p.can(Right::CustomersDelete),
        can_merge: in_scope && c.p.can(Right::CustomersMerge),
        contact_form,
        civ_choices,
        part_choices,
        f,
        merge_error,
        open_files,
        can_opportunity: c.p.can(Right::OpportunitiesCreate),
        can_portal: in_scope && c.p.can(Right::CustomersPortal),
        portal_accounts,
    });
    if errors {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

pub async fn show(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    Query(q): Query<crate::http::pages::activity::FeedQuery>,
) -> Result<Response, HttpError> {
    show_page(&st, &c, id, q.notice.as_deref(), &q, ContactForm::default(), FormErrors::none(), None).await
}

/// A contact form as posted, onto `f` (the stored contact, or an empty form): a field the
/// form does not carry keeps its value. The particularities checkboxes follow a hidden empty
/// `particularities` input, so that "none checked" is told apart from "not in the form".
pub(crate) fn read_contact(mut f: ContactForm, body: &str) -> ContactForm {
    let p = FormPairs::parse(body);
    p.set_opt("civility", &mut f.civility);
    p.set("first_name", &mut f.first_name);
    p.set("last_name", &mut f.last_name);
    p.set("email", &mut f.email);
    p.set("phone", &mut f.phone);
    p.set("mobile", &mut f.mobile);
    p.set("notes", &mut f.notes);
    p.set_list("particularities", &mut f.particularities);
    f
}

/// One choice of a select or a checkbox list, as rendered.
#[derive(Debug, Clone)]
pub struct Choice {
    pub code: String,
    pub label: String,
    pub on: bool,
}

/// The civility and particularities controls of a contact form (the customer form's): the
/// active entries, plus the inactive ones the contact already has, so that saving keeps them.
pub(crate) async fn contact_choices(st: &AppState, c: &Ctx, form: &ContactForm) -> Result<(Vec<Choice>, Vec<Choice>), HttpError> {
    let lang = c.lang();
    let civilities = lists::items(&st.db, "civility", true).await?;
    let parts = lists::items(&st.db, "customer_particularity", true).await?;
    let civ = civilities
        .iter()
        .map(|i| (i, form.civility.as_deref() == Some(i.code.as_str())))
        .filter(|(i, on)| i.active || *on)
        .map(|(i, on)| Choice { code: i.code.clone(), label: i.label(&lang).to_string(), on })
        .collect();
    let part = parts
        .iter()
        .map(|i| (i, form.particularities.contains(&i.code)))
        .filter(|(i, on)| i.active || *on)
        .map(|(i, on)| Choice { code: i.code.clone(), label: i.label(&lang).to_string(), on })
        .collect();
    Ok((civ, part))
}

pub async fn create_contact(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>, body: String) -> Result<Response, HttpError> {
    writable(&st, &c, id).await?;
    let form = read_contact(ContactForm::default(), &body);
    let region = store::region_of(&st.db).await?;
    let res = match form.parse(&region) {
        Ok(input) => store::create_contact(&st.db, &c.actor(), st.now(), id, &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/customers/{id}"), "notice.contact_added")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            show_page(&st, &c, id, None, &Default::default(), form, fe, None).await
        }
    }
}

#[derive(Template)]
#[template(path = "customers/contact_form.html")]
struct ContactPage {
    c: PageCtx,
    customer: Customer,
    contact_id: i64,
    form: ContactForm,
    f: FormErrors,
    civ_choices: Vec<Choice>,
    part_choices: Vec<Choice>,
}

pub async fn edit_contact(State(st): State<AppState>, c: Ctx, Path((id, cid)): Path<(i64, i64)>) -> Result<Response, HttpError> {
    let customer = writable(&st, &c, id).await?;
    let mut conn = st.db.pool.acquire().await?;
    let ct = store::contact(&mut conn, id, cid).await?.ok_or(Error::NotFound)?;
    let mut pc = PageCtx::new(&c, "/customers", "customers.contact_edit");
    pc.title = ct.name();
    let form = ContactForm::from_contact(&ct);
    let (civ_choices, part_choices) = contact_choices(&st, &c, &form).await?;
    Ok(render(ContactPage { c: pc, customer, contact_id: cid, form, f: FormErrors::none(), civ_choices, part_choices }))
}

pub async fn update_contact(
    State(st): State<AppState>,
    c: Ctx,
    Path((id, cid)): Path<(i64, i64)>,
    body: String,
) -> Result<Response, HttpError> {
    let customer = writable(&st, &c, id).await?;
    let mut conn = st.db.pool.acquire().await?;
    let ct = store::contact(&mut conn, id, cid).await?.ok_or(Error::NotFound)?;
    drop(conn);
    let form = read_contact(ContactForm::from_contact(&ct), &body);
    let region = store::region_of(&st.db).await?;
    let res = match form.parse(&region) {
        Ok(input) => store::update_contact(&st.db, &c.actor(), st.now(), id, cid, &input).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(_) => Ok(redirect_notice(&format!("/customers/{id}"), "notice.saved")),
        Err(e) => {
            let fe = form_error(&c, e)?;
            let mut pc = PageCtx::new(&c, "/customers", "customers.contact_edit");
            pc.title = format!("{} {}", form.first_name, form.last_name);
            let (civ_choices, part_choices) = contact_choices(&st, &c, &form).await?;
            let mut resp = render(ContactPage { c: pc, customer, contact_id: cid, form, f: fe, civ_choices, part_choices });
            *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
    }
}

pub async fn delete_contact(State(st): State<AppState>, c: Ctx, Path((id, cid)): Path<(i64, i64)>) -> Result<Response, HttpError> {
    writable(&st, &c, id).await?;
    store::delete_contact(&st.db, &c.actor(), st.now(), id, cid).await?;
    Ok(redirect_notice(&format!("/customers/{id}"), "notice.deleted"))
}

#[derive(Deserialize)]
pub struct MergeForm {
    #[serde(default)]
    from_id: String,
}

pub async fn merge(
    State(st): State<AppState>,
    c: Ctx,
    Path(id): Path<i64>,
    axum::extract::Form(m): axum::extract::Form<MergeForm>,
) -> Result<Response, HttpError> {
    writable(&st, &c, id).await?;
    let from: Option<i64> = m.from_id.trim().trim_start_matches('#').parse().ok();
    let other = match from {
        Some(f) => store::get_writable(&st.db, &c.p.visibility, f).await?,
        None => None,
    };
    let Some(other) = other.filter(|o| o.id != id) else {
        return show_page(
            &st,
            &c,
            id,
            None,
            &Default::default(),
            ContactForm::default(),
            FormErrors::none(),
            Some(c.tr.t("error.merge_target")),
        )
        .await;
    };
    store::merge(&st.db, &c.actor(), st.now(), id, other.id).await?;
    Ok(redirect_notice(&format!("/customers/{id}"), "notice.customers_merged"))
}

pub async fn history(State(st): State<AppState>, c: Ctx, Path(id): Path<i64>) -> Result<Response, HttpError> {
    let cu = visible(&st, &c, id).await?;
    let labels = |f: &str, v: &str| match f {
        "kind" => super::known_label(&c, "customers.kind_", v),
        "language" => super::known_label(&c, "lang.", v),
        _ => None,
    };
    let crumbs = vec![("/customers".into(), c.tr.t("nav.customers"))];
    let r = Record {
        entity: "customer",
        id,
        name: cu.display_name,
        subtitle: None,
        section: "/customers",
        crumbs,
        href: format!("/customers/{id}"),
        labels: &labels,
        hidden: &[],
    };
    history::page(&st, &c, r).await
}
