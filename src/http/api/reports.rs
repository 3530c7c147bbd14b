//! The dashboards as JSON: the same figures as `/reports/sales` and `/reports/service`, each
//! with the address of the list it counts.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

use crate::http::auth::Ctx;
use crate::http::error::HttpError;
use crate::http::reports::{read, sales_dashboard, service_dashboard, ReportQuery};
use crate::http::AppState;
use crate::reports::sales::SalesDashboard;
use crate::reports::service::ServiceDashboard;

/// A dashboard's period and scope.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ReportParams {
    /// `7d`, `30d` (default), `90d`, `month`, `prev_month`, `quarter`, `year`, or `custom` with `from` and `to`.
    pub period: Option<String>,
    /// `YYYY-MM-DD`, with `to`.
    pub from: Option<String>,
    /// `YYYY-MM-DD` (included), with `from`.
    pub to: Option<String>,
    /// `mine` (the caller's own records) or `all` (everything the caller sees).
    pub scope: Option<String>,
    /// A unit (a branch, a region) and what is below it.
    pub unit_id: Option<i64>,
}

impl ReportParams {
    fn query(self) -> ReportQuery {
        ReportQuery {
            period: self.period,
            from: self.from,
            to: self.to,
            scope: self.scope,
            unit_id: self.unit_id.map(|u| u.to_string()),
            csv: None,
        }
    }
}

/// The sales dashboard: key figures, charts (each bar with the list it counts), per rep and
/// per branch, over the opportunities the caller sees.
#[utoipa::path(get, path = "/api/v1/reports/sales", tag = "reports", params(ReportParams),
    responses((status = 200, body = SalesDashboard), (status = 422)))]
pub async fn sales(State(st): State<AppState>, c: Ctx, Query(q): Query<ReportParams>) -> Result<Json<SalesDashboard>, HttpError> {
    let r = read(&c.p, st.now(), &q.query())?;
    Ok(Json(sales_dashboard(&st, &c, &r).await?))
}

/// The service dashboard: backlog, opened and closed, service levels, interventions per
/// technician, returns, over the requests the caller sees.
#[utoipa::path(get, path = "/api/v1/reports/service", tag = "reports", params(ReportParams),
    responses((status = 200, body = ServiceDashboard), (status = 422)))]
pub async fn service(State(st): State<AppState>, c: Ctx, Query(q): Query<ReportParams>) -> Result<Json<ServiceDashboard>, HttpError> {
    let r = read(&c.p, st.now(), &q.query())?;
    Ok(Json(service_dashboard(&st, &c, &r).await?))
}
