//! The service dashboard: the backlog now (by status, type and age), requests opened and
//! closed over the period, the service levels met and missed, interventions per technician
//! with their utilisation, and returns by type. Requests are counted through the request
//! list's filter (`service::store::report_from`) and interventions through the intervention
//! list's, with the user's visibility: each figure links to the list that shows its rows.

use chrono::Duration;

use super::{bucket_case, bucket_label, permille, Bar, Chart, Extra, Kpi, Period, Scope, Unit};
use crate::access::Visibility;
use crate::calendar::Calendar;
use crate::db::{Db, Sql};
use crate::error::Result;
use crate::i18n::{Lang, Tr};
use crate::lists::ListItem;
use crate::service::interventions::{self, ListFilter};
use crate::service::store::{self, Dated, Filter, SlaOutcome};
use crate::service::RequestStatus;

/// The request list's filter of a scope, its service levels judged at `now`.
fn scope_filter(scope: &Scope, now: i64) -> Filter {
    Filter { owner_id: scope.owner_id, unit_id: scope.unit_id, now, ..Default::default() }
}

/// One technician's interventions in the period.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TechnicianLine {
    pub id: i64,
    pub name: String,
    pub interventions: i64,
    /// Planned minutes.
    pub minutes: i64,
    /// Per week of the period (one decimal, ×10).
    pub per_week_x10: i64,
    /// Planned time over the business time of the period, per mille.
    pub utilisation: Option<i64>,
    pub href: String,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ServiceDashboard {
    pub kpis: Vec<Kpi>,
    pub charts: Vec<Chart>,
    pub technicians: Vec<TechnicianLine>,
}

impl ServiceDashboard {
    pub fn chart(&self, id: &str) -> Option<&Chart> {
        self.charts.iter().find(|c| c.id == id)
    }
    pub fn kpi(&self, id: &str) -> Option<&Kpi> {
        self.kpis.iter().find(|k| k.id == id)
    }
}

pub struct Context<'a> {
    pub types: &'a [ListItem],
    pub calendar: &'a Calendar,
    pub tr: Tr,
    pub now: i64,
}

fn href(scope: &Scope, rest: &str) -> String {
    format!("/service/requests?{}{rest}", scope.query())
}

async fn count(db: &Db, vis: &Visibility, f: &Filter) -> Result<i64> {
    let mut conn = db.pool.acquire().await?;
    Ok(store::report_from(Sql::new("SELECT COUNT(*) FROM service_requests r"), vis, f).query_scalar().fetch_one(&mut *conn).await?)
}

async fn grouped(db: &Db, q: &Sql) -> Result<Vec<(String, i64)>> {
    let mut conn = db.pool.acquire().await?;
    Ok(q.query_as().fetch_all(&mut *conn).await?)
}

/// Requests of `f` per bucket of `p` by the date `col` (`GROUP BY 1`).
async fn per_bucket(db: &Db, vis: &Visibility, f: &Filter, col: &str, p: &Period) -> Result<Vec<(i64, i64)>> {
    let mut head = Sql::new("SELECT ");
    head.append(bucket_case(col, &p.bucket_ends())).push(", COUNT(*) FROM service_requests r");
    let mut q = store::report_from(head, vis, f);
    q.push(" GROUP BY 1");
    let mut conn = db.pool.acquire().await?;
    Ok(q.query_as().fetch_all(&mut *conn).await?)
}

/// The service dashboard of `scope` (within `vis`) for `p`, compared to `prev`.
pub async fn dashboard(db: &Db, vis: &Visibility, scope: &Scope, p: &Period, prev: &Period, cx: &Context<'_>) -> Result<ServiceDashboard> {
    let tr = cx.tr;
    let lg = tr.0;
    let pq = p.query();
    let base = scope_filter(scope, cx.now);
    let open = Filter { open: true, ..base.clone() };
    let mut charts = Vec::new();
    let mut kpis = Vec::new();

    // The backlog now: by status, by type, by age.
    let mut q = store::report_from(Sql::new("SELECT r.status, COUNT(*) FROM service_requests r"), vis, &open);
    q.push(" GROUP BY r.status");
    let by_status = grouped(db, &q).await?;
    let backlog: i64 = by_status.iter().map(|s| s.1).sum();
    kpis.push(Kpi {
        id: "backlog",
        label: tr.t("reports.backlog"),
        value: Some(backlog),
        previous: None,
        unit: Unit::Count,
        href: Some(href(scope, "open=1")),
    });
    charts.push(Chart {
        id: "backlog_by_status",
        title: tr.t("reports.backlog_by_status"),
        note: tr.t("reports.backlog_note"),
        unit: Unit::Count,
        series: false,
        bars: RequestStatus::ALL
            .iter()
            .filter(|s| s.is_open())
            .map(|s| Bar {
                code: s.code().into(),
                label: tr.tp("service.status_", s.code()),
                value: by_status.iter().find(|b| b.0 == s.code()).map(|b| b.1).unwrap_or(0),
                previous: None,
                href: Some(href(scope, &format!("status={}", s.code()))),
            })
            .collect(),
        extra: None,
    });
    let mut q = store::report_from(Sql::new("SELECT r.request_type, COUNT(*) FROM service_requests r"), vis, &open);
    q.push(" GROUP BY r.request_type");
    let by_type = grouped(db, &q).await?;
    let mut type_codes: Vec<String> = cx.types.iter().map(|t| t.code.clone()).collect();
    for (c, _) in &by_type {
        if !type_codes.contains(c) {
            type_codes.push(c.clone());
        }
    }
    charts.push(Chart {
        id: "backlog_by_type",
        title: tr.t("reports.backlog_by_type"),
        note: tr.t("reports.backlog_note"),
        unit: Unit::Count,
        series: false,
        bars: type_codes
            .iter()
            .map(|c| Bar {
                code: c.clone(),
                label: cx.types.iter().find(|t| &t.code == c).map(|t| t.label(&lg).to_string()).unwrap_or_else(|| c.clone()),
                value: by_type.iter().find(|t| &t.0 == c).map(|t| t.1).unwrap_or(0),
                previous: None,
                href: Some(href(scope, &format!("open=1&request_type={c}"))),
            })
            .collect(),
        extra: None,
    });
    // Ages by the day a request was opened: today, 1–2 days, 3–7, 8–30, older.
    let today = p.zone.local(cx.now).date();
    let ages: [(&str, Option<i64>, Option<i64>); 5] = [
        ("today", Some(0), Some(0)),
        ("d1_2", Some(2), Some(1)),
        ("d3_7", Some(7), Some(3)),
        ("d8_30", Some(30), Some(8)),
        ("older", None, Some(31)),
    ];
    let mut age_bars = Vec::new();
    for (code, oldest, newest) in ages {
        let from = oldest.map(|d| today - Duration::days(d));
        let to = newest.map(|d| today - Duration::days(d));
        let start = from.map(|d| p.zone.midnight(d)).unwrap_or(i64::MIN / 2);
        let end = to.and_then(|d| d.succ_opt()).map(|d| p.zone.midnight(d)).unwrap_or(i64::MAX / 2);
        let n = count(db, vis, &Filter { dated: Some((Dated::Created, start, end)), ..open.clone() }).await?;
        let mut link = String::from("open=1&in=created");
        if let Some(f) = from {
            link.push_str(&format!("&from={}", f.format("%Y-%m-%d")));
        }
        if let Some(t) = to {
            link.push_str(&format!("&to={}", t.format("%Y-%m-%d")));
        }
        age_bars.push(Bar {
            code: code.into(),
            label: tr.t(&format!("reports.age_{code}")),
            value: n,
            previous: None,
            href: Some(href(scope, &link)),
        });
    }
    charts.push(Chart {
        id: "backlog_by_age",
        title: tr.t("reports.backlog_by_age"),
        note: tr.t("reports.age_note"),
        unit: Unit::Count,
        series: false,
        bars: age_bars,
        extra: None,
    });

    // Opened and closed over the period.
    let buckets = p.buckets();
    for (id, dated, col) in [("opened", Dated::Created, "r.created_at"), ("closed", Dated::Closed, "r.closed_at")] {
        let f = Filter { dated: Some((dated, p.start, p.end)), ..base.clone() };
        let counts = per_bucket(db, vis, &f, col, p).await?;
        let total: i64 = counts.iter().map(|c| c.1).sum();
        let previous = count(db, vis, &Filter { dated: Some((dated, prev.start, prev.end)), ..base.clone() }).await?;
        kpis.push(Kpi {
            id,
            label: tr.t(&format!("reports.{id}")),
            value: Some(total),
            previous: Some(previous),
            unit: Unit::Count,
            href: Some(href(scope, &format!("in={}&{pq}", if dated == Dated::Created { "created" } else { "closed" }))),
        });
        charts.push(Chart {
            id: if id == "opened" { "opened_over_time" } else { "closed_over_time" },
            title: tr.t(&format!("reports.{id}_over_time")),
            note: tr.t("reports.over_time_note"),
            unit: Unit::Count,
            series: true,
            bars: buckets
                .iter()
                .enumerate()
                .map(|(i, (first, last))| Bar {
                    code: first.format("%Y-%m-%d").to_string(),
                    label: bucket_label(*first, p.grain(), lg == Lang::Fr),
                    value: counts.iter().find(|c| c.0 == i as i64).map(|c| c.1).unwrap_or(0),
                    previous: None,
                    href: Some(href(
                        scope,
                        &format!(
                            "in={}&from={}&to={}",
                            if dated == Dated::Created { "created" } else { "closed" },
                            first.format("%Y-%m-%d"),
                            last.format("%Y-%m-%d")
                        ),
                    )),
                })
                .collect(),
            extra: None,
        });
    }

    // Service levels of the requests opened in the period.
    let mut sla = Vec::new();
    for o in SlaOutcome::ALL {
        let f = Filter { dated: Some((Dated::Created, p.start, p.end)), sla: Some(o), ..base.clone() };
        let fp = Filter { dated: Some((Dated::Created, prev.start, prev.end)), sla: Some(o), ..base.clone() };
        sla.push((o, count(db, vis, &f).await?, count(db, vis, &fp).await?));
    }
    let n = |o: SlaOutcome, prev: bool| sla.iter().find(|s| s.0 == o).map(|s| if prev { s.2 } else { s.1 }).unwrap_or(0);
    for (id, met, missed) in [
        ("first_update_met", SlaOutcome::FirstUpdateMet, SlaOutcome::FirstUpdateMissed),
        ("close_met", SlaOutcome::CloseMet, SlaOutcome::CloseMissed),
    ] {
        kpis.push(Kpi {
            id,
            label: tr.t(&format!("reports.{id}")),
            value: permille(n(met, false), n(met, false) + n(missed, false)),
            previous: permille(n(met, true), n(met, true) + n(missed, true)),
            unit: Unit::Permille,
            href: Some(href(scope, &format!("in=created&sla={}&{pq}", met.code()))),
        });
    }
    charts.push(Chart {
        id: "service_levels",
        title: tr.t("reports.service_levels"),
        note: tr.t("reports.service_levels_note"),
        unit: Unit::Count,
        series: false,
        bars: sla
            .iter()
            .map(|(o, v, pv)| Bar {
                code: o.code().into(),
                label: tr.t(&format!("reports.sla_{}", o.code())),
                value: *v,
                previous: Some(*pv),
                href: Some(href(scope, &format!("in=created&sla={}&{pq}", o.code()))),
            })
            .collect(),
        extra: None,
    });

    // Interventions per technician and their utilisation.
    let lf = ListFilter { from: Some(p.start), to: Some(p.end), ..Default::default() };
    let head = Sql::new(
        "SELECT t.user_id, COUNT(*), CAST(COALESCE(SUM(i.end_at - i.start_at), 0) AS BIGINT) FROM intervention_technicians t \
         JOIN interventions i ON i.id = t.intervention_id JOIN service_requests r ON r.id = i.request_id",
    );
    let mut q = interventions::report_from(head, vis, &lf);
    if let Some(o) = scope.owner_id {
        q.push(" AND (r.owner_id = ").bind(o).push(" OR t.user_id = ").bind(o).push(")");
    }
    q.push(" GROUP BY t.user_id");
    let rows: Vec<(i64, i64, i64)> = {
        let mut conn = db.pool.acquire().await?;
        q.query_as().fetch_all(&mut *conn).await?
    };
    let mut names: Vec<(i64, String)> = Vec::new();
    if !rows.is_empty() {
        let list = rows.iter().map(|r| r.0.to_string()).collect::<Vec<_>>().join(",");
        let mut conn = db.pool.acquire().await?;
        // Integer ids read from the database, written inline.
        names = sqlx::query_as(&format!("SELECT id, name FROM users WHERE id IN ({list})")).fetch_all(&mut *conn).await?;
    }
    let business = cx.calendar.minutes_between(p.start, p.end);
    let weeks_x10 = (p.days() * 10 / 7).max(1);
    let mut technicians: Vec<TechnicianLine> = rows
        .into_iter()
        .map(|(id, n, ms)| TechnicianLine {
            id,
            name: names.iter().find(|x| x.0 == id).map(|x| x.1.clone()).unwrap_or_else(|| "—".into()),
            interventions: n,
            minutes: ms / 60_000,
            per_week_x10: n * 100 / weeks_x10,
            utilisation: permille(ms / 60_000, business),
            href: format!("/service/interventions?technician_id={id}&{pq}"),
        })
        .collect();
    technicians.sort_by(|a, b| b.interventions.cmp(&a.interventions).then_with(|| a.name.cmp(&b.name)));
    charts.push(Chart {
        id: "interventions_by_technician",
        title: tr.t("reports.interventions_by_technician"),
        note: tr.t("reports.interventions_note"),
        unit: Unit::Count,
        series: false,
        bars: technicians
            .iter()
            .map(|t| Bar {
                code: t.id.to_string(),
                label: t.name.clone(),
                value: t.interventions,
                previous: None,
                href: Some(t.href.clone()),
            })
            .collect(),
        extra: Some(Extra {
            label: tr.t("reports.planned_hours"),
            unit: Unit::Minutes,
            values: technicians.iter().map(|t| t.minutes).collect(),
        }),
    });

    // Returns opened in the period, by type.
    let mut q = store::report_from(
        Sql::new("SELECT x.return_type, COUNT(*) FROM equipment_returns x JOIN service_requests r ON r.id = x.request_id"),
        vis,
        &base,
    );
    q.push(" AND x.created_at >= ").bind(p.start).push(" AND x.created_at < ").bind(p.end).push(" GROUP BY x.return_type");
    let returns = grouped(db, &q).await?;
    charts.push(Chart {
        id: "returns_by_type",
        title: tr.t("reports.returns_by_type"),
        note: tr.t("reports.returns_note"),
        unit: Unit::Count,
        series: false,
        bars: crate::service::returns::TYPES
            .iter()
            .map(|t| Bar {
                code: t.to_string(),
                label: tr.tp("return.type_", t),
                value: returns.iter().find(|r| r.0 == *t).map(|r| r.1).unwrap_or(0),
                previous: None,
                href: None,
            })
            .collect(),
        extra: None,
    });
    Ok(ServiceDashboard { kpis, charts, technicians })
}
