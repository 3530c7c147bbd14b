//! Every list of records, declared once ([`crate::http::listing`] says what a declaration
//! gives): its filters, columns, sort keys and export. Pages and API handlers of a list both
//! read their query through its declaration here, so that a filter, a sort or a column means
//! the same everywhere (page, saved view, export, API).

use super::auth::Ctx;
use super::listing::{Col, ListDef, ListState, Listed};
use super::AppState;
use crate::access::{Principal, Visibility};
use crate::clock::Zone;
use crate::customers::{store as customers, Customer, CustomerListItem, Kind};
use crate::db::page::{Count, Page, PageReq};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::i18n::{Lang, Tr};
use crate::identity::users::{self, User, UserFilter};
use crate::lists::{self, ListItem};
use crate::sales::{leads, store as sales, Opportunity, Statuses};
use crate::service::interventions::{self, Intervention};
use crate::service::{store as service, RequestStatus, ServiceRequest};

/// `mine=1`: the caller's own records.
fn mine(s: &ListState, p: &Principal, owner_key: &'static str) -> Result<Option<i64>> {
    if s.get("mine") == Some("1") {
        return Ok(Some(p.user_id));
    }
    s.id(owner_key)
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

// ------------------------------------------------------------------ customers

pub struct Customers;

pub static CUSTOMERS: ListDef = ListDef {
    name: "customers",
    path: "/customers",
    filters: &["q", "kind", "branch_id", "owner_id"],
    columns: &[
        Col::fixed("name", "customers.name", Some("name")),
        Col::optional("email", "customers.col_email", Some("email")),
        Col::optional("phone", "customers.col_phone", None),
        Col::optional("mobile", "customers.col_mobile", None),
        Col::optional("branch", "customers.col_branch", Some("branch")),
        Col::optional("owner", "customers.col_owner", Some("owner")),
        Col::optional("created", "customers.col_created", Some("created")),
    ],
    default_columns: &["email", "phone", "branch", "owner"],
    export: &[
        "id",
        "kind",
        "civility",
        "first_name",
        "last_name",
        "company_name",
        "email",
        "phone",
        "mobile",
        "address",
        "language",
        "branch",
        "owner",
        "notes",
    ],
    export_file: "clients.csv",
    sorts: &customers::SORTS,
    default_sort: customers::default_sort,
};

impl Listed for Customers {
    const DEF: &'static ListDef = &CUSTOMERS;
    type Filter = customers::Filter;
    type Row = CustomerListItem;
    /// The export has the columns of the record the list does not show (address, notes…).
    type Exported = Customer;
    type Labels = ();

    fn filter(s: &ListState, _p: &Principal) -> Result<customers::Filter> {
        let kind = s.get("kind").map(|k| Kind::parse(k).ok_or_else(|| Error::validation("kind", "error.invalid_choice"))).transpose()?;
        Ok(customers::Filter {
            q: s.get("q").map(str::to_string),
            kind,
            branch_id: s.id("branch_id")?,
            owner_id: s.id("owner_id")?,
            sort: Some(s.sort),
        })
    }
    async fn fetch(db: &Db, vis: &Visibility, f: &customers::Filter, page: &PageReq) -> Result<Page<CustomerListItem>> {
        customers::list_items(db, vis, f, page).await
    }
    async fn fetch_export(db: &Db, vis: &Visibility, f: &customers::Filter, page: &PageReq) -> Result<Page<Customer>> {
        customers::list(db, vis, f, page).await
    }
    async fn count(db: &Db, vis: &Visibility, f: &customers::Filter) -> Result<Count> {
        customers::count(db, vis, f).await
    }
    async fn labels(_st: &AppState, _c: &Ctx) -> Result<()> {
        Ok(())
    }
    fn cell(cu: &Customer, col: &str, _l: &(), _tr: &Tr, _zone: &Zone) -> String {
        match col {
            "id" => cu.id.to_string(),
            "kind" => cu.kind.code().into(),
            "civility" => opt(&cu.civility),
            "first_name" => cu.first_name.clone(),
            "last_name" => cu.last_name.clone(),
            "company_name" => cu.company_name.clone(),
            "email" => opt(&cu.email),
            "phone" => opt(&cu.phone),
            "mobile" => opt(&cu.mobile),
            "address" => cu.address.clone(),
            "language" => cu.language.code().into(),
            "branch" => opt(&cu.branch_name),
            "owner" => opt(&cu.owner_name),
            "notes" => cu.notes.clone(),
            _ => String::new(),
        }
    }
}

// ------------------------------------------------------------------ opportunities

/// Labels and badges of the sales lists, for templates and exports.
pub struct SalesLabels {
    pub statuses: Statuses,
    pub lead_types: Vec<ListItem>,
    pub lang: Lang,
    pub zone: Zone,
    /// The currency of amounts (the setting `sales.currency`).
    pub currency: String,
}

impl SalesLabels {
    pub async fn load(st: &AppState, c: &Ctx) -> Result<SalesLabels> {
        Ok(SalesLabels {
            statuses: Statuses::load(&st.db).await?,
            lead_types: lists::items(&st.db, "lead_type", true).await?,
            lang: c.lang(),
            zone: crate::settings::zone(&st.db).await?,
            currency: crate::settings::get(&st.db, "sales.currency").await?,
        })
    }
    /// An amount in the reader's way of writing numbers, with the currency.
    pub fn amount(&self, cents: &Option<i64>) -> String {
        match cents {
            Some(c) => crate::money::display(*c, &self.currency, self.lang == Lang::Fr),
            None => "—".into(),
        }
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

pub struct Opportunities;

pub static OPPORTUNITIES: ListDef = ListDef {
    name: "opportunities",
    path: "/opportunities",
    filters: &[
        "q",
        "status",
        "lead_type",
        "mine",
        "owner_id",
        "branch_id",
        "customer_id",
        "unit_id",
        "expired",
        "in",
        "from",
        "to",
        "stage",
    ],
    columns: &[
        Col::fixed("name", "sales.name", Some("name")),
        Col::optional("customer", "sales.customer", Some("customer")),
        Col::optional("status", "sales.status", Some("status")),
        Col::optional("lead_type", "sales.lead_type", Some("lead_type")),
        Col::optional("owner", "customers.owner", Some("owner")),
        Col::optional("branch", "customers.branch", Some("branch")),
        Col::optional("amount", "sales.amount", Some("amount")),
        Col::optional("expected_close", "sales.expected_close", Some("expected_close")),
        Col::optional("sale_date", "sales.sale_date", None),
        Col::optional("created", "sales.created", Some("created")),
        Col::optional("updated", "list.col_updated", Some("updated")),
    ],
    default_columns: &["customer", "status", "lead_type", "owner", "branch", "created"],
    export: &[
        "id",
        "name",
        "customer",
        "status",
        "lead_type",
        "owner",
        "branch",
        "amount",
        "expected_close_on",
        "sale_date",
        "delivery_date",
        "created_at",
    ],
    export_file: "opportunites.csv",
    sorts: &sales::SORTS,
    default_sort: sales::default_sort,
};

impl Listed for Opportunities {
    const DEF: &'static ListDef = &OPPORTUNITIES;
    type Filter = sales::Filter;
    type Row = Opportunity;
    type Exported = Self::Row;
    type Labels = SalesLabels;

    fn filter(s: &ListState, p: &Principal) -> Result<sales::Filter> {
        Ok(sales::Filter {
            q: s.get("q").map(str::to_string),
            status: s.get("status").map(str::to_string),
            lead_type: s.get("lead_type").map(str::to_string),
            owner_id: mine(s, p, "owner_id")?,
            branch_id: s.id("branch_id")?,
            customer_id: s.id("customer_id")?,
            trash: false,
            sort: Some(s.sort),
            unit_id: s.id("unit_id")?,
            // The expired flag is the administrators' (a hidden field): nobody else filters by it.
            expired: match s.get("expired") {
                None => None,
                Some(_) if !p.sees_hidden_fields() => return Err(Error::validation("expired", "error.invalid_choice")),
                Some("0") => Some(false),
                Some("1") => Some(true),
                Some(_) => return Err(Error::validation("expired", "error.invalid_choice")),
            },
            dated: match s.period()? {
                None => None,
                Some((from, to)) => {
                    let d = sales::Dated::parse(s.get("in").unwrap_or("created"))
                        .ok_or_else(|| Error::validation("in", "error.invalid_choice"))?;
                    if d == sales::Dated::Expired && !p.sees_hidden_fields() {
                        return Err(Error::validation("in", "error.invalid_choice"));
                    }
                    Some((d, from, to))
                }
            },
            stage: s
                .get("stage")
                .map(|v| sales::Stage::parse(v).ok_or_else(|| Error::validation("stage", "error.invalid_choice")))
                .transpose()?,
            taking_part_only: false,
        })
    }
    async fn fetch_export(db: &Db, vis: &Visibility, f: &sales::Filter, page: &PageReq) -> Result<Page<Opportunity>> {
        Self::fetch(db, vis, f, page).await
    }
    async fn fetch(db: &Db, vis: &Visibility, f: &sales::Filter, page: &PageReq) -> Result<Page<Opportunity>> {
        sales::list(db, vis, f, page).await
    }
    async fn count(db: &Db, vis: &Visibility, f: &sales::Filter) -> Result<Count> {
        sales::count(db, vis, f).await
    }
    async fn labels(st: &AppState, c: &Ctx) -> Result<SalesLabels> {
        SalesLabels::load(st, c).await
    }
    fn cell(o: &Opportunity, col: &str, l: &SalesLabels, _tr: &Tr, _zone: &Zone) -> String {
        match col {
            "id" => o.id.to_string(),
            "name" => o.name.clone(),
            "customer" => o.customer_name.clone(),
            "status" => l.status(&o.status),
            "lead_type" => l.lead(&o.lead_type),
            "owner" => opt(&o.owner_name),
            "branch" => opt(&o.branch_name),
            "amount" => o.amount_cents.map(crate::money::format_amount).unwrap_or_default(),
            "expected_close_on" => opt(&o.expected_close_on),
            "sale_date" => l.date_of(&o.sale_date),
            "delivery_date" => l.date_of(&o.delivery_date),
            "created_at" => l.at(&o.created_at),
            _ => String::new(),
        }
    }
}

// ------------------------------------------------------------------ leads

pub struct Leads;

pub static LEADS: ListDef = ListDef {
    name: "leads",
    path: "/leads",
    filters: &["lead_type", "source", "owner_id", "unit_id", "opportunity_id", "from", "to", "speed", "mine"],
    columns: &[
        Col::fixed("received", "leads.received", Some("received")),
        Col::optional("name", "leads.person", None),
        Col::optional("lead_type", "sales.lead_type", None),
        Col::optional("source", "leads.source", None),
        Col::optional("opportunity", "leads.opportunity", None),
        Col::optional("owner", "customers.owner", None),
        Col::optional("answered", "leads.answered", None),
    ],
    default_columns: &["name", "lead_type", "source", "opportunity", "owner", "answered"],
    export: &[
        "id",
        "received",
        "first_name",
        "last_name",
        "email",
        "phone",
        "lead_type",
        "source",
        "opportunity_id",
        "owner",
        "answered_at",
    ],
    export_file: "leads.csv",
    sorts: &leads::SORTS,
    default_sort: leads::default_sort,
};

impl Listed for Leads {
    const DEF: &'static ListDef = &LEADS;
    type Filter = leads::ListFilter;
    type Row = leads::ListedLead;
    type Exported = Self::Row;
    type Labels = SalesLabels;

    fn filter(s: &ListState, p: &Principal) -> Result<leads::ListFilter> {
        Ok(leads::ListFilter {
            lead_type: s.get("lead_type").map(str::to_string),
            source: s.get("source").map(str::to_string),
            owner_id: mine(s, p, "owner_id")?,
            unit_id: s.id("unit_id")?,
            opportunity_id: s.id("opportunity_id")?,
            received: s.period()?,
            speed: s
                .get("speed")
                .map(|v| leads::Speed::parse(v).ok_or_else(|| Error::validation("speed", "error.invalid_choice")))
                .transpose()?,
            sort: Some(s.sort),
        })
    }
    async fn fetch_export(db: &Db, vis: &Visibility, f: &leads::ListFilter, page: &PageReq) -> Result<Page<leads::ListedLead>> {
        Self::fetch(db, vis, f, page).await
    }
    async fn fetch(db: &Db, vis: &Visibility, f: &leads::ListFilter, page: &PageReq) -> Result<Page<leads::ListedLead>> {
        leads::list(db, vis, f, page).await
    }
    async fn count(db: &Db, vis: &Visibility, f: &leads::ListFilter) -> Result<Count> {
        leads::count(db, vis, f).await
    }
    async fn labels(st: &AppState, c: &Ctx) -> Result<SalesLabels> {
        SalesLabels::load(st, c).await
    }
    fn cell(x: &leads::ListedLead, col: &str, l: &SalesLabels, _tr: &Tr, _zone: &Zone) -> String {
        match col {
            "id" => x.id.to_string(),
            "received" => l.at(&x.created_at),
            "first_name" => x.first_name.clone(),
            "last_name" => x.last_name.clone(),
            "email" => opt(&x.email),
            "phone" => opt(&x.phone),
            "lead_type" => l.lead(&Some(x.lead_type.clone())),
            "source" => x.source.clone(),
            "opportunity_id" => x.opportunity_id.to_string(),
            "owner" => opt(&x.owner_name),
            "answered_at" => x.responded_at.map(|t| l.at(&t)).unwrap_or_default(),
            _ => String::new(),
        }
    }
}

// ------------------------------------------------------------------ service requests

/// Labels of the service lists, for templates and exports.
pub struct ServiceLabels {
    pub types: Vec<ListItem>,
    pub symptoms: Vec<ListItem>,
    pub priorities: Vec<ListItem>,
    pub lang: Lang,
    pub zone: Zone,
    /// For the service levels: the business calendar, the time of the page, the warning.
    pub calendar: crate::calendar::Calendar,
    pub now: i64,
    pub warning: i64,
}

impl ServiceLabels {
    pub async fn load(st: &AppState, c: &Ctx) -> Result<ServiceLabels> {
        let mut conn = st.db.pool.acquire().await?;
        let calendar = crate::service::sla::calendar(&mut conn).await?;
        drop(conn);
        Ok(ServiceLabels {
            types: lists::items(&st.db, "request_type", true).await?,
            symptoms: lists::items(&st.db, "symptom", true).await?,
            priorities: lists::items(&st.db, "request_priority", true).await?,
            lang: c.lang(),
            zone: crate::settings::zone(&st.db).await?,
            calendar,
            now: st.now(),
            warning: crate::settings::get_int(&st.db, "service.sla_warning_minutes").await?,
        })
    }
    pub fn priority(&self, code: &str) -> String {
        Self::label(&self.priorities, code, &self.lang)
    }
    /// Where the request stands against its first-update target.
    pub fn first_update(&self, r: &ServiceRequest) -> Option<crate::service::sla::Standing> {
        crate::service::sla::Standing::of(&self.calendar, self.now, r.first_update_due_at, r.first_update_at, self.warning)
    }
    /// Where the request stands against its closing target.
    pub fn closing(&self, r: &ServiceRequest) -> Option<crate::service::sla::Standing> {
        crate::service::sla::Standing::of(&self.calendar, self.now, r.close_due_at, r.closed_at, self.warning)
    }
    /// The target that matters now (the first update until it is given, then closing).
    pub fn next_due(&self, r: &ServiceRequest) -> Option<crate::service::sla::Standing> {
        match (r.first_update_at, self.first_update(r)) {
            (None, Some(s)) => Some(s),
            _ => self.closing(r),
        }
    }
    /// A standing in words: `Reste 3 h 20`, `En retard de 45 min`, `Respectée`.
    pub fn standing(&self, s: &crate::service::sla::Standing) -> String {
        use crate::service::sla::{duration_text, Standing};
        let tr = Tr(self.lang);
        match s {
            Standing::Met => tr.t("sla.met"),
            Standing::Missed => tr.t("sla.missed"),
            Standing::OnTrack { minutes_left } | Standing::DueSoon { minutes_left } => {
                tr.t("sla.left").replace("{n}", &duration_text(*minutes_left, self.lang))
            }
            Standing::Overdue { minutes_late } => tr.t("sla.late").replace("{n}", &duration_text(*minutes_late, self.lang)),
        }
    }
    fn label(items: &[ListItem], code: &str, lang: &Lang) -> String {
        items.iter().find(|i| i.code == code).map(|i| i.label(lang).to_string()).unwrap_or_else(|| code.to_string())
    }
    pub fn kind(&self, code: &str) -> String {
        Self::label(&self.types, code, &self.lang)
    }
    pub fn symptom(&self, code: &Option<String>) -> String {
        code.as_deref().map(|c| Self::label(&self.symptoms, c, &self.lang)).unwrap_or_else(|| "—".into())
    }
    pub fn at(&self, ms: &i64) -> String {
        self.zone.format(*ms)
    }
}

pub struct Requests;

pub static REQUESTS: ListDef = ListDef {
    name: "service_requests",
    path: "/service/requests",
    filters: &[
        "q",
        "status",
        "request_type",
        "priority",
        "mine",
        "owner_id",
        "customer_id",
        "open",
        "unread",
        "overdue",
        "in",
        "from",
        "to",
        "sla",
        "unit_id",
    ],
    columns: &[
        Col::fixed("number", "service.number", Some("number")),
        Col::optional("customer", "sales.customer", Some("customer")),
        Col::optional("type", "service.type", Some("type")),
        Col::optional("priority", "service.priority", Some("priority")),
        Col::optional("status", "sales.status", Some("status")),
        Col::optional("due", "sla.due", Some("due")),
        Col::optional("owner", "customers.owner", Some("owner")),
        Col::optional("branch", "customers.branch", None),
        Col::optional("created", "sales.created", Some("created")),
        Col::optional("updated", "list.col_updated", Some("updated")),
    ],
    default_columns: &["customer", "type", "priority", "status", "due", "owner", "created"],
    export: &[
        "id",
        "number",
        "customer",
        "type",
        "priority",
        "status",
        "owner",
        "branch",
        "created_at",
        "first_update_at",
        "first_update_due_at",
        "close_due_at",
        "closed_at",
    ],
    export_file: "demandes.csv",
    sorts: &service::SORTS,
    default_sort: service::default_sort,
};

impl Listed for Requests {
    const DEF: &'static ListDef = &REQUESTS;
    type Filter = service::Filter;
    type Row = ServiceRequest;
    type Exported = Self::Row;
    type Labels = ServiceLabels;

    fn filter(s: &ListState, p: &Principal) -> Result<service::Filter> {
        let status = s
            .get("status")
            .map(|v| RequestStatus::parse(v).ok_or_else(|| Error::validation("status", "error.invalid_choice")))
            .transpose()?;
        let flag = |name: &str| match s.get(name) {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(_) => Err(Error::validation(name.to_string(), "error.invalid_choice")),
        };
        let (open, unread, overdue) = (flag("open")?, flag("unread")?, flag("overdue")?);
        Ok(service::Filter {
            q: s.get("q").map(str::to_string),
            status,
            request_type: s.get("request_type").map(str::to_string),
            priority: s.get("priority").map(str::to_string),
            overdue,
            now: s.now,
            owner_id: mine(s, p, "owner_id")?,
            customer_id: s.id("customer_id")?,
            open,
            unread,
            sort: Some(s.sort),
            dated: match s.period()? {
                None => None,
                Some((from, to)) => Some((
                    service::Dated::parse(s.get("in").unwrap_or("created"))
                        .ok_or_else(|| Error::validation("in", "error.invalid_choice"))?,
                    from,
                    to,
                )),
            },
            sla: s
                .get("sla")
                .map(|v| service::SlaOutcome::parse(v).ok_or_else(|| Error::validation("sla", "error.invalid_choice")))
                .transpose()?,
            unit_id: s.id("unit_id")?,
        })
    }
    async fn fetch_export(db: &Db, vis: &Visibility, f: &service::Filter, page: &PageReq) -> Result<Page<ServiceRequest>> {
        Self::fetch(db, vis, f, page).await
    }
    async fn fetch(db: &Db, vis: &Visibility, f: &service::Filter, page: &PageReq) -> Result<Page<ServiceRequest>> {
        service::list(db, vis, f, page).await
    }
    async fn count(db: &Db, vis: &Visibility, f: &service::Filter) -> Result<Count> {
        service::count(db, vis, f).await
    }
    async fn labels(st: &AppState, c: &Ctx) -> Result<ServiceLabels> {
        ServiceLabels::load(st, c).await
    }
    fn cell(r: &ServiceRequest, col: &str, l: &ServiceLabels, tr: &Tr, zone: &Zone) -> String {
        match col {
            "id" => r.id.to_string(),
            "number" => r.number.clone(),
            "customer" => r.customer_name.clone(),
            "type" => l.kind(&r.request_type),
            "priority" => l.priority(&r.priority),
            "status" => tr.tp("service.status_", r.status.code()),
            "owner" => opt(&r.owner_name),
            "branch" => opt(&r.branch_name),
            "created_at" => zone.format(r.created_at),
            "closed_at" => r.closed_at.map(|t| zone.format(t)).unwrap_or_default(),
            "first_update_at" => r.first_update_at.map(|t| zone.format(t)).unwrap_or_default(),
            "first_update_due_at" => r.first_update_due_at.map(|t| zone.format(t)).unwrap_or_default(),
            "close_due_at" => r.close_due_at.map(|t| zone.format(t)).unwrap_or_default(),
            _ => String::new(),
        }
    }
}

// ------------------------------------------------------------------ interventions

pub struct Interventions;

pub static INTERVENTIONS: ListDef = ListDef {
    name: "interventions",
    path: "/service/interventions",
    filters: &["status", "mine", "technician_id", "branch_id", "from", "to"],
    columns: &[
        Col::fixed("number", "service.number", Some("number")),
        Col::optional("start", "list.col_start", Some("start")),
        Col::optional("customer", "sales.customer", Some("customer")),
        Col::optional("request", "list.col_request", None),
        Col::optional("technicians", "list.col_technicians", None),
        Col::optional("place", "list.col_place", None),
        Col::optional("status", "sales.status", Some("status")),
        Col::optional("updated", "list.col_updated", Some("updated")),
    ],
    default_columns: &["start", "customer", "request", "technicians", "status"],
    export: &["id", "number", "start", "end", "customer", "request", "technicians", "place", "status", "report_minutes"],
    export_file: "interventions.csv",
    sorts: &interventions::SORTS,
    default_sort: interventions::default_sort,
};

impl Listed for Interventions {
    const DEF: &'static ListDef = &INTERVENTIONS;
    type Filter = interventions::ListFilter;
    type Row = Intervention;
    type Exported = Self::Row;
    type Labels = ();

    fn filter(s: &ListState, p: &Principal) -> Result<interventions::ListFilter> {
        let status = s
            .get("status")
            .map(|v| interventions::Status::parse(v).ok_or_else(|| Error::validation("status", "error.invalid_choice")))
            .transpose()?;
        Ok(interventions::ListFilter {
            status,
            technician_id: mine(s, p, "technician_id")?,
            branch_id: s.id("branch_id")?,
            sort: Some(s.sort),
            from: s.period()?.map(|p| p.0),
            to: s.period()?.map(|p| p.1),
        })
    }
    async fn fetch_export(db: &Db, vis: &Visibility, f: &interventions::ListFilter, page: &PageReq) -> Result<Page<Intervention>> {
        Self::fetch(db, vis, f, page).await
    }
    async fn fetch(db: &Db, vis: &Visibility, f: &interventions::ListFilter, page: &PageReq) -> Result<Page<Intervention>> {
        interventions::list(db, vis, f, page).await
    }
    async fn count(db: &Db, vis: &Visibility, f: &interventions::ListFilter) -> Result<Count> {
        interventions::count(db, vis, f).await
    }
    async fn labels(_st: &AppState, _c: &Ctx) -> Result<()> {
        Ok(())
    }
    fn cell(i: &Intervention, col: &str, _l: &(), tr: &Tr, zone: &Zone) -> String {
        match col {
            "id" => i.id.to_string(),
            "number" => i.number.clone(),
            "start" => zone.format(i.start_at),
            "end" => zone.format(i.end_at),
            "customer" => i.customer_name.clone(),
            "request" => i.request_number.clone(),
            "technicians" => i.technicians.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
            "place" => i.place.clone(),
            "status" => tr.tp("intervention.status_", i.status.code()),
            "report_minutes" => i.report_minutes.map(|m| m.to_string()).unwrap_or_default(),
            _ => String::new(),
        }
    }
}

// ------------------------------------------------------------------ users

pub struct Users;

pub static USERS: ListDef = ListDef {
    name: "users",
    path: "/admin/users",
    filters: &["q", "role", "status", "active", "org_unit_id"],
    columns: &[
        Col::fixed("name", "user.name", Some("name")),
        Col::optional("email", "user.email", Some("email")),
        Col::optional("role", "user.role", None),
        Col::optional("unit", "user.org_unit", Some("unit")),
        Col::optional("last_login", "user.last_login_at", Some("last_login")),
        Col::optional("active", "user.active", None),
    ],
    default_columns: &["email", "role", "unit", "active"],
    export: &["id", "name", "email", "role", "unit", "active", "last_login"],
    export_file: "utilisateurs.csv",
    sorts: &users::SORTS,
    default_sort: users::default_sort,
};

impl Listed for Users {
    const DEF: &'static ListDef = &USERS;
    type Filter = UserFilter;
    type Row = User;
    type Exported = Self::Row;
    type Labels = ();

    fn filter(s: &ListState, _p: &Principal) -> Result<UserFilter> {
        // The page's `status`, or the API's `active`.
        let active = match (s.get("active"), s.get("status")) {
            (Some("true"), _) => Some(true),
            (Some("false"), _) => Some(false),
            (Some(_), _) => return Err(Error::validation("active", "error.invalid_choice")),
            (None, Some("active")) => Some(true),
            (None, Some("inactive")) => Some(false),
            (None, Some("all")) | (None, None) => None,
            (None, Some(_)) => return Err(Error::validation("status", "error.invalid_choice")),
        };
        Ok(UserFilter {
            q: s.get("q").map(str::to_string),
            role: s.get("role").map(str::to_string),
            org_unit_id: s.id("org_unit_id")?,
            active,
            sort: Some(s.sort),
        })
    }
    async fn fetch_export(db: &Db, vis: &Visibility, f: &UserFilter, page: &PageReq) -> Result<Page<User>> {
        Self::fetch(db, vis, f, page).await
    }
    async fn fetch(db: &Db, vis: &Visibility, f: &UserFilter, page: &PageReq) -> Result<Page<User>> {
        users::list(db, vis, f, page).await
    }
    async fn count(db: &Db, vis: &Visibility, f: &UserFilter) -> Result<Count> {
        users::count(db, vis, f).await
    }
    async fn labels(_st: &AppState, _c: &Ctx) -> Result<()> {
        Ok(())
    }
    fn cell(u: &User, col: &str, _l: &(), tr: &Tr, zone: &Zone) -> String {
        match col {
            "id" => u.id.to_string(),
            "name" => u.name.clone(),
            "email" => u.email.clone(),
            "role" => u.role_name(&tr.0).to_string(),
            "unit" => opt(&u.org_unit_name),
            "active" => u.active.to_string(),
            "last_login" => u.last_login_at.map(|t| zone.format(t)).unwrap_or_default(),
            _ => String::new(),
        }
    }
}

/// The staff directory (`/users`): active colleagues the user may see, without export.
pub struct Directory;

pub static DIRECTORY: ListDef = ListDef {
    name: "directory",
    path: "/users",
    filters: &["q", "role", "org_unit_id"],
    columns: &[
        Col::fixed("name", "user.name", Some("name")),
        Col::optional("email", "user.email", Some("email")),
        Col::optional("role", "user.role", None),
        Col::optional("unit", "user.org_unit", Some("unit")),
    ],
    default_columns: &["email", "role", "unit"],
    export: &[],
    export_file: "",
    sorts: &users::SORTS,
    default_sort: users::default_sort,
};

impl Listed for Directory {
    const DEF: &'static ListDef = &DIRECTORY;
    type Filter = UserFilter;
    type Row = User;
    type Exported = Self::Row;
    type Labels = ();

    fn filter(s: &ListState, p: &Principal) -> Result<UserFilter> {
        Ok(UserFilter { active: Some(true), ..Users::filter(s, p)? })
    }
    async fn fetch_export(db: &Db, vis: &Visibility, f: &UserFilter, page: &PageReq) -> Result<Page<User>> {
        Self::fetch(db, vis, f, page).await
    }
    async fn fetch(db: &Db, vis: &Visibility, f: &UserFilter, page: &PageReq) -> Result<Page<User>> {
        users::list(db, vis, f, page).await
    }
    async fn count(db: &Db, vis: &Visibility, f: &UserFilter) -> Result<Count> {
        users::count(db, vis, f).await
    }
    async fn labels(_st: &AppState, _c: &Ctx) -> Result<()> {
        Ok(())
    }
    fn cell(u: &User, col: &str, l: &(), tr: &Tr, zone: &Zone) -> String {
        Users::cell(u, col, l, tr, zone)
    }
}

/// The declared lists the API serves, with their path and OpenAPI tag: each has
/// `{path}/views` (saved views) and `{path}/export` (CSV) besides its own list route.
pub static API: &[(&ListDef, &str, &str)] = &[
    (&CUSTOMERS, "/api/v1/customers", "customers"),
    (&OPPORTUNITIES, "/api/v1/opportunities", "sales"),
    (&LEADS, "/api/v1/leads", "sales"),
    (&REQUESTS, "/api/v1/service-requests", "service"),
];
