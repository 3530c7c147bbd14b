//! The dashboards' pages (`/reports/sales`, `/reports/service`), their CSV exports
//! (`?csv=<chart>`) and the figures shown on the home page.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};

use super::{render, PageCtx};
use crate::access::Right;
use crate::error::{Error, Result};
use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::reports::{read, sales_dashboard, service_dashboard, Reading, ReportQuery};
use crate::http::AppState;
use crate::i18n::{Lang, Tr};
use crate::org::units::OrgUnit;
use crate::reports::{self, chart, sales, service, Chart, Kpi, Unit};

/// What the dashboards' pages share: the period form, the charts' SVG, the figures.
pub struct Frame {
    pub r: Reading,
    pub units: Vec<OrgUnit>,
    pub currency: String,
    pub french: bool,
    /// The query of the page (period and scope), for the CSV links.
    pub query: String,
}

impl Frame {
    async fn load(st: &AppState, c: &Ctx, r: Reading) -> Result<Frame> {
        let units = crate::org::units::tree(&st.db).await?.into_iter().filter(|u| c.p.visibility.covers_unit(&u.path)).collect();
        let mut query = match r.period.preset.as_str() {
            "custom" => format!("period=custom&{}", r.period.query()),
            p => format!("period={p}"),
        };
        if r.mine {
            query.push_str("&scope=mine");
        } else if let Some(u) = r.unit_id {
            query.push_str(&format!("&unit_id={u}"));
        } else {
            query.push_str("&scope=all");
        }
        Ok(Frame { r, units, currency: crate::settings::get(&st.db, "sales.currency").await?, french: c.lang() == Lang::Fr, query })
    }
    pub fn svg(&self, chart: &Chart) -> String {
        chart::svg(chart, &self.currency, self.french)
    }
    pub fn value(&self, v: &i64, unit: &Unit) -> String {
        reports::format(*v, *unit, &self.currency, self.french)
    }
    pub fn permille(&self, v: &i64) -> String {
        self.value(v, &Unit::Permille)
    }
    pub fn minutes(&self, v: &i64) -> String {
        self.value(v, &Unit::Minutes)
    }
    pub fn kpi_value(&self, k: &Kpi) -> String {
        k.value.map(|v| self.value(&v, &k.unit)).unwrap_or_else(|| "—".into())
    }
    pub fn kpi_previous(&self, k: &Kpi) -> String {
        k.previous.map(|v| self.value(&v, &k.unit)).unwrap_or_else(|| "—".into())
    }
    /// `+12 %`, `−5 %`, or nothing without a base.
    pub fn delta(&self, k: &Kpi) -> String {
        match k.delta_percent() {
            Some(d) if d > 0 => format!("+{d}\u{a0}%"),
            Some(d) if d < 0 => format!("−{}\u{a0}%", -d),
            Some(_) => "=".into(),
            None => String::new(),
        }
    }
    pub fn delta_class(&self, k: &Kpi) -> &'static str {
        match k.delta_percent() {
            Some(d) if d > 0 => "delta-up",
            Some(d) if d < 0 => "delta-down",
            _ => "delta-flat",
        }
    }
    pub fn share(&self, chart: &Chart, v: &i64) -> String {
        chart::share(chart, *v).map(|s| self.value(&s, &Unit::Permille)).unwrap_or_default()
    }
    pub fn compared(&self, chart: &Chart) -> bool {
        chart.bars.iter().any(|b| b.previous.is_some())
    }
    pub fn extra(&self, chart: &Chart, i: &usize) -> String {
        match &chart.extra {
            Some(e) => e.values.get(*i).map(|v| self.value(v, &e.unit)).unwrap_or_default(),
            None => String::new(),
        }
    }
    pub fn preset_is(&self, p: &str) -> bool {
        self.r.period.preset == p
    }
    pub fn unit_is(&self, id: &i64) -> bool {
        self.r.unit_id == Some(*id)
    }
    pub fn from(&self) -> String {
        self.r.period.from.format("%Y-%m-%d").to_string()
    }
    pub fn to(&self) -> String {
        self.r.period.to.format("%Y-%m-%d").to_string()
    }
    pub fn previous_text(&self) -> String {
        format!("{} → {}", self.r.previous.from.format("%Y-%m-%d"), self.r.previous.to.format("%Y-%m-%d"))
    }
}

fn csv_response(chart: &Chart, tr: Tr, name: &str) -> Response {
    let body = reports::csv(chart, &tr.t("reports.csv_label"), &tr.t("reports.csv_value"), &tr.t("reports.csv_previous"));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}-{}.csv\"", chart.id)),
        ],
        body,
    )
        .into_response()
}

// ------------------------------------------------------------------ sales

#[derive(Template)]
#[template(path = "reports/sales.html")]
struct SalesPage {
    c: PageCtx,
    f: Frame,
    d: sales::SalesDashboard,
    can_service: bool,
}

impl SalesPage {
    /// The per-rep and per-branch tables: (id, title key, lines).
    fn tables(&self) -> [(&'static str, &'static str, &Vec<sales::Line>); 2] {
        [("per-rep", "reports.per_rep", &self.d.per_rep), ("per-branch", "reports.per_branch", &self.d.per_branch)]
    }
}

pub async fn sales_page(State(st): State<AppState>, c: Ctx, Query(q): Query<ReportQuery>) -> Result<Response, HttpError> {
    let r = read(&c.p, st.now(), &q)?;
    let d = sales_dashboard(&st, &c, &r).await?;
    if let Some(id) = q.csv.as_deref() {
        let chart = d.chart(id).ok_or_else(|| Error::validation("csv", "error.invalid_choice"))?;
        return Ok(csv_response(chart, c.tr, "ventes"));
    }
    let f = Frame::load(&st, &c, r).await?;
    Ok(render(SalesPage { c: PageCtx::new(&c, "/reports", "reports.sales_title"), f, d, can_service: c.p.can(Right::ServiceRequestsRead) }))
}

// ------------------------------------------------------------------ service

#[derive(Template)]
#[template(path = "reports/service.html")]
struct ServicePage {
    c: PageCtx,
    f: Frame,
    d: service::ServiceDashboard,
    can_sales: bool,
}

pub async fn service_page(State(st): State<AppState>, c: Ctx, Query(q): Query<ReportQuery>) -> Result<Response, HttpError> {
    let r = read(&c.p, st.now(), &q)?;
    let d = service_dashboard(&st, &c, &r).await?;
    if let Some(id) = q.csv.as_deref() {
        let chart = d.chart(id).ok_or_else(|| Error::validation("csv", "error.invalid_choice"))?;
        return Ok(csv_response(chart, c.tr, "service"));
    }
    let f = Frame::load(&st, &c, r).await?;
    Ok(render(ServicePage { c: PageCtx::new(&c, "/reports", "reports.service_title"), f, d, can_sales: c.p.can(Right::OpportunitiesRead) }))
}

/// `/reports`: the dashboard the user may read (sales first).
pub async fn index(c: Ctx) -> Result<Response, HttpError> {
    if c.p.can(Right::OpportunitiesRead) {
        Ok(Redirect::to("/reports/sales").into_response())
    } else if c.p.can(Right::ServiceRequestsRead) {
        Ok(Redirect::to("/reports/service").into_response())
    } else {
        Err(Error::Forbidden.into())
    }
}

// ------------------------------------------------------------------ the home page

/// The key figures of the dashboards the user may read, for the home page: a manager's
/// team (everything they see), an agent's own, over the last 30 days.
pub struct Figures {
    pub f: Frame,
    /// The user's own figures (their scope is their own records).
    pub mine: bool,
    pub sales: Option<Vec<Kpi>>,
    pub service: Option<Vec<Kpi>>,
    /// The pipeline (sales) and the backlog (service), as on the dashboards.
    pub charts: Vec<Chart>,
}

pub async fn home_figures(st: &AppState, c: &Ctx) -> Result<Option<Figures>> {
    let (can_sales, can_service) = (c.p.can(Right::OpportunitiesRead), c.p.can(Right::ServiceRequestsRead));
    if !can_sales && !can_service {
        return Ok(None);
    }
    let r = read(&c.p, st.now(), &ReportQuery::default())?;
    let mut charts = Vec::new();
    let sales = if can_sales {
        let d = sales_dashboard(st, c, &r).await?;
        charts.extend(d.chart("pipeline").cloned());
        Some(d.kpis)
    } else {
        None
    };
    let service = if can_service {
        let d = service_dashboard(st, c, &r).await?;
        charts.extend(d.chart("backlog_by_status").cloned());
        Some(d.kpis)
    } else {
        None
    };
    let mine = r.mine;
    Ok(Some(Figures { f: Frame::load(st, c, r).await?, mine, sales, service, charts }))
}
