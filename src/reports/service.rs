//! The service dashboard: the backlog now (by status, type and age), requests opened and
//! closed over the period, the service levels met and missed, interventions per technician
//! with their utilisation, and returns by type. Requests are counted through the request
//! list's filter (`service::store::visible_rows`) and interventions through the intervention
//! list's (`interventions::visible_rows`), with the user's visibility split in its arms: each
//! figure links to the list that shows its rows.

use chrono::Duration;
use sqlx::Row;

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

async fn grouped(db: &Db, q: &Sql) -> Result<Vec<(String, i64)>> {
    let mut conn = db.pool.acquire().await?;
    Ok(q.query_as().persistent(false).fetch_all(&mut *conn).await?)
}

/// One group of [`over_time`]: how many requests, and how many of them meet each condition.
struct Counted {
    group: i64,
    n: i64,
    sums: Vec<i64>,
}

/// The requests of `f` whose date `dated` falls in the previous period or in `p`, in one pass
/// over `[prev.start, p.end)`: group 0 is the previous period, `i + 2` the bucket `i` of `p`
/// (1, between the two when they are apart, counts in neither), each with the sum of each
/// condition of `sums`.
async fn over_time(db: &Db, vis: &Visibility, f: &Filter, dated: Dated, p: &Period, prev: &Period, sums: &[Sql]) -> Result<Vec<Counted>> {
    let col = match dated {
        Dated::Created => "r.created_at",
        Dated::Closed => "r.closed_at",
    };
    let mut ends = vec![prev.end, p.start];
    ends.extend(p.bucket_ends());
    let mut q = Sql::new("SELECT ");
    q.append(bucket_case(col, &ends)).push(", COUNT(*)");
    for c in sums {
        q.push(", CAST(SUM(CASE WHEN ").append(c.clone()).push(" THEN 1 ELSE 0 END) AS BIGINT)");
    }
    // The columns the buckets and the sums read, all in the date's indexes (migrations 34, 37).
    let cols = if sums.is_empty() {
        format!("SELECT {col} FROM service_requests r")
    } else {
        format!("SELECT {col}, r.first_update_at, r.first_update_due_at, r.closed_at, r.close_due_at FROM service_requests r")
    };
    let f = Filter { dated: Some((dated, prev.start.min(p.start), p.end)), ..f.clone() };
    q.push(" FROM ").append(store::visible_rows(&cols, vis, &f)).push(" r GROUP BY 1");
    let mut conn = db.pool.acquire().await?;
    let rows = q.query().persistent(false).fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let sums = (0..sums.len()).map(|i| row.try_get::<i64, _>(i + 2)).collect::<std::result::Result<Vec<_>, _>>()?;
        out.push(Counted { group: row.try_get(0)?, n: row.try_get(1)?, sums });
    }
    Ok(out)
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

    // The backlog now, by status, type and age, in one pass over the open requests. Ages by
    // the day a request was opened, oldest first, each to the day before the next (the
    // newest day of each, in days before today): older, 8–30 days, 3–7, 1–2, today.
    let today = p.zone.local(cx.now).date();
    let ages: [(&str, i64); 5] = [("older", 31), ("d8_30", 8), ("d3_7", 3), ("d1_2", 1), ("today", 0)];
    // Each age's end: the midnight after its newest day; then one for the requests opened
    // after today (in no age).
    let mut age_ends: Vec<i64> = ages
        .iter()
        .map(|(_, newest)| (today - Duration::days(*newest)).succ_opt().map(|d| p.zone.midnight(d)).unwrap_or(i64::MAX / 2))
        .collect();
    age_ends.push(i64::MAX / 2);
    let mut q = Sql::new("SELECT r.status, r.request_type, ");
    q.append(bucket_case("r.created_at", &age_ends)).push(", COUNT(*) FROM ");
    q.append(store::visible_rows("SELECT r.status, r.request_type, r.created_at FROM service_requests r", vis, &open));
    q.push(" r GROUP BY 1, 2, 3");
    let backlog = async {
        let mut conn = db.pool.acquire().await?;
        Ok::<Vec<(String, String, i64, i64)>, crate::error::Error>(q.query_as().persistent(false).fetch_all(&mut *conn).await?)
    };
    // Opened (with their service levels) and closed, over the period and the previous one:
    // one pass each.
    let sla_sums: Vec<Sql> = SlaOutcome::ALL.iter().map(|o| o.condition(cx.now)).collect();
    // Interventions per technician in the period.
    let lf = ListFilter { from: Some(p.start), to: Some(p.end), ..Default::default() };
    // The period's visible interventions first (a derived table, by the visibility's arms),
    // then their technicians.
    let mut tq = Sql::new(
        "SELECT t.user_id, COUNT(*), CAST(COALESCE(SUM(i.end_at - i.start_at), 0) AS BIGINT) FROM intervention_technicians t JOIN ",
    );
    // The request's owner only for a scope of one person: without it, the arm of a unit reads
    // its requests' ids from an index alone.
    let cols = if scope.owner_id.is_some() { "i.id, i.start_at, i.end_at, r.owner_id" } else { "i.id, i.start_at, i.end_at" };
    tq.append(interventions::visible_rows(
        &format!("SELECT {cols} FROM interventions i JOIN service_requests r ON r.id = i.request_id"),
        vis,
        &lf,
    ));
    tq.push(" i ON i.id = t.intervention_id");
    if let Some(o) = scope.owner_id {
        tq.push(" WHERE (i.owner_id = ").bind(o).push(" OR t.user_id = ").bind(o).push(")");
    }
    tq.push(" GROUP BY t.user_id");
    let per_technician = async {
        let mut conn = db.pool.acquire().await?;
        Ok::<Vec<(i64, i64, i64)>, crate::error::Error>(tq.query_as().persistent(false).fetch_all(&mut *conn).await?)
    };
    // Returns opened in the period, by type: the period's returns (a few hundred, from their
    // date index) each with its request's unit and owner looked up by id, then the visibility.
    // Joined to the requests, PostgreSQL hashed every request of the user's unit (80 000 for
    // the bench's largest branch) to keep a hundred returns.
    let mut head = Sql::new(
        "SELECT r.return_type, COUNT(*) FROM (SELECT x.return_type, x.request_id AS id, \
         (SELECT q.branch_id FROM service_requests q WHERE q.id = x.request_id) AS branch_id, \
         (SELECT q.owner_id FROM service_requests q WHERE q.id = x.request_id) AS owner_id \
         FROM equipment_returns x WHERE x.created_at >= ",
    );
    head.bind(p.start).push(" AND x.created_at < ").bind(p.end).push(") r");
    let mut rq = store::report_from(head, vis, &base);
    rq.push(" GROUP BY r.return_type");
    // Independent statements, each on its own connection: on PostgreSQL (and SQLite's
    // readers) they run at the same time. Each is planned for its values at every run (not
    // kept prepared, `persistent(false)`): after five runs PostgreSQL may switch a kept
    // statement to a generic plan, which cannot tell a one-day range from a year nor a few
    // taken-part requests from thousands; such a plan walked the whole period's date index
    // for the taken-part arm (240 ms against 8). Planning costs about a millisecond here.
    let (backlog_rows, opened, closed, rows, returns) = tokio::try_join!(
        backlog,
        over_time(db, vis, &base, Dated::Created, p, prev, &sla_sums),
        over_time(db, vis, &base, Dated::Closed, p, prev, &[]),
        per_technician,
        grouped(db, &rq),
    )?;
    let backlog: i64 = backlog_rows.iter().map(|r| r.3).sum();
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
                value: backlog_rows.iter().filter(|b| b.0 == s.code()).map(|b| b.3).sum(),
                previous: None,
                href: Some(href(scope, &format!("status={}", s.code()))),
            })
            .collect(),
        extra: None,
    });
    let mut type_codes: Vec<String> = cx.types.iter().map(|t| t.code.clone()).collect();
    for r in &backlog_rows {
        if !type_codes.contains(&r.1) {
            type_codes.push(r.1.clone());
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
                value: backlog_rows.iter().filter(|t| &t.1 == c).map(|t| t.3).sum(),
                previous: None,
                href: Some(href(scope, &format!("open=1&request_type={c}"))),
            })
            .collect(),
        extra: None,
    });
    let mut age_bars = Vec::new();
    for (i, (code, newest)) in ages.iter().enumerate() {
        let to = today - Duration::days(*newest);
        // The oldest day: the day after the previous (older) age's newest.
        let from = i.checked_sub(1).map(|o| today - Duration::days(ages[o].1 - 1));
        let mut link = String::from("open=1&in=created");
        if let Some(f) = from {
            link.push_str(&format!("&from={}", f.format("%Y-%m-%d")));
        }
        link.push_str(&format!("&to={}", to.format("%Y-%m-%d")));
        age_bars.push(Bar {
            code: (*code).into(),
            label: tr.t(&format!("reports.age_{code}")),
            value: backlog_rows.iter().filter(|r| r.2 == i as i64).map(|r| r.3).sum(),
            previous: None,
            href: Some(href(scope, &link)),
        });
    }
    // Shown newest first.
    age_bars.reverse();
    charts.push(Chart {
        id: "backlog_by_age",
        title: tr.t("reports.backlog_by_age"),
        note: tr.t("reports.age_note"),
        unit: Unit::Count,
        series: false,
        bars: age_bars,
        extra: None,
    });

    // Opened and closed over the period, against the previous one.
    let buckets = p.buckets();
    for (id, dated, counts) in [("opened", Dated::Created, &opened), ("closed", Dated::Closed, &closed)] {
        let total: i64 = counts.iter().filter(|c| c.group >= 2).map(|c| c.n).sum();
        let previous: i64 = counts.iter().filter(|c| c.group == 0).map(|c| c.n).sum();
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
                    value: counts.iter().filter(|c| c.group == i as i64 + 2).map(|c| c.n).sum(),
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

    // Service levels of the requests opened in the period (and in the previous one).
    let sla: Vec<(SlaOutcome, i64, i64)> = SlaOutcome::ALL
        .iter()
        .enumerate()
        .map(|(k, o)| {
            let sum = |current: bool| {
                opened
                    .iter()
                    .filter(|c| if current { c.group >= 2 } else { c.group == 0 })
                    .map(|c| c.sums.get(k).copied().unwrap_or(0))
                    .sum()
            };
            (*o, sum(true), sum(false))
        })
        .collect();
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
