//! What the dashboards' pages and their API share: the period and scope of a request, and the
//! dashboards computed for the user (`pages::reports`, `api::reports`).

use serde::Deserialize;

use crate::access::Principal;
use crate::error::{Error, Result};
use crate::http::auth::Ctx;
use crate::http::AppState;
use crate::reports::{sales, service, Period};

/// The dashboards' query: a period (a preset, or `from`/`to`), whose figures (`scope=mine`,
/// `scope=all`, or `unit_id`), and `csv=<chart id>` for a chart's numbers.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    /// `7d`, `30d` (default), `90d`, `month`, `prev_month`, `quarter`, `year`, or `custom` with `from` and `to`.
    pub period: Option<String>,
    /// `YYYY-MM-DD`, with `to`.
    pub from: Option<String>,
    /// `YYYY-MM-DD` (included), with `from`.
    pub to: Option<String>,
    /// `mine` (the user's own records) or `all` (everything the user sees); the default
    /// depends on the user's scope.
    pub scope: Option<String>,
    /// A unit (a branch, a region) and what is below it (empty: none).
    pub unit_id: Option<String>,
    /// The id of a chart: its numbers as CSV.
    pub csv: Option<String>,
}

/// The period and scope read from the query (a bad date is a 422 naming the field).
pub struct Reading {
    pub period: Period,
    pub previous: Period,
    pub mine: bool,
    pub unit_id: Option<i64>,
}

pub fn read(p: &Principal, now: i64, q: &ReportQuery) -> Result<Reading> {
    let today = p.zone.local(now).date();
    let period = Period::parse(q.period.as_deref(), q.from.as_deref(), q.to.as_deref(), today, p.zone).ok_or_else(|| {
        let field = if q.from.as_deref().is_some_and(|f| !f.is_empty()) { "from" } else { "period" };
        Error::validation(field, "error.invalid_period")
    })?;
    let previous = period.previous(p.zone);
    let unit_id = match q.unit_id.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => Some(u.parse::<i64>().map_err(|_| Error::validation("unit_id", "error.invalid_choice"))?),
        None => None,
    };
    let mine = match q.scope.as_deref() {
        Some("mine") => true,
        Some("all") | Some("") => false,
        Some(_) => return Err(Error::validation("scope", "error.invalid_choice")),
        None => unit_id.is_none() && p.visibility.own_only(),
    };
    Ok(Reading { period, previous, mine: mine && unit_id.is_none(), unit_id })
}

pub async fn sales_dashboard(st: &AppState, c: &Ctx, r: &Reading) -> Result<sales::SalesDashboard> {
    let statuses = crate::sales::Statuses::load(&st.db).await?;
    let lead_types = crate::lists::items(&st.db, "lead_type", false).await?;
    let scope = crate::reports::Scope { owner_id: r.mine.then_some(c.p.user_id), unit_id: r.unit_id };
    let cx = sales::Context { statuses: &statuses, lead_types: &lead_types, tr: c.tr, sees_expired: c.p.sees_hidden_fields() };
    sales::dashboard(&st.db, &c.p.visibility, &scope, &r.period, &r.previous, &cx).await
}

pub async fn service_dashboard(st: &AppState, c: &Ctx, r: &Reading) -> Result<service::ServiceDashboard> {
    let types = crate::lists::items(&st.db, "request_type", false).await?;
    let calendar = {
        let mut conn = st.db.pool.acquire().await?;
        crate::service::sla::calendar(&mut conn).await?
    };
    let scope = crate::reports::Scope { owner_id: r.mine.then_some(c.p.user_id), unit_id: r.unit_id };
    let cx = service::Context { types: &types, calendar: &calendar, tr: c.tr, now: st.now() };
    service::dashboard(&st.db, &c.p.visibility, &scope, &r.period, &r.previous, &cx).await
}
