//! The sales dashboard: what a sales manager (or a rep, for their own files) looks at every
//! morning. Every count goes through the opportunity list's filter (`store::report_from`) with
//! the user's visibility, so that each figure links to the list that shows exactly its rows.
//!
//! - pipeline: the opportunities by status, with their amounts (what the kanban's heads say);
//! - for the period, against the previous one: leads by type, by source and over time; speed
//!   to lead (a lead's arrival to the first call logged or meeting booked on its opportunity);
//!   meetings booked and the show rate; the funnel of the opportunities opened in the period
//!   (booked, showed, sold); won, lost by reason and the win rate; expired (administrators);
//!   per rep and per branch.

use super::{bucket_case, bucket_label, permille, Bar, Chart, Extra, Kpi, Period, Scope, Unit};
use crate::access::Visibility;
use crate::db::{Db, Sql};
use crate::error::Result;
use crate::i18n::{Lang, Tr};
use crate::lists::ListItem;
use crate::sales::leads::Speed;
use crate::sales::store::{self, Dated, Filter, Stage};
use crate::sales::Statuses;

/// The opportunity list's filter of a scope.
fn scope_filter(scope: &Scope) -> Filter {
    Filter { owner_id: scope.owner_id, unit_id: scope.unit_id, ..Default::default() }
}

/// One line of the per-rep or per-branch table: what became of the opportunities opened in
/// the period.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = SalesLine)]
pub struct Line {
    pub id: Option<i64>,
    pub name: String,
    pub created: i64,
    pub booked: i64,
    pub showed: i64,
    pub sold: i64,
    pub lost: i64,
    /// The list of this line's opportunities opened in the period (`None`: no list can say
    /// "without an owner").
    pub href: Option<String>,
}

impl Line {
    pub fn conversion(&self) -> Option<i64> {
        permille(self.sold, self.created)
    }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SalesDashboard {
    pub kpis: Vec<Kpi>,
    pub charts: Vec<Chart>,
    pub per_rep: Vec<Line>,
    pub per_branch: Vec<Line>,
}

impl SalesDashboard {
    pub fn chart(&self, id: &str) -> Option<&Chart> {
        self.charts.iter().find(|c| c.id == id)
    }
    pub fn kpi(&self, id: &str) -> Option<&Kpi> {
        self.kpis.iter().find(|k| k.id == id)
    }
}

/// What the dashboard needs besides the data: the statuses, the lead types, the reader.
pub struct Context<'a> {
    pub statuses: &'a Statuses,
    pub lead_types: &'a [ListItem],
    pub tr: Tr,
    /// Administrators see the expired figure (the expired flag is theirs).
    pub sees_expired: bool,
}

fn lang(tr: Tr) -> Lang {
    tr.0
}

fn href(scope: &Scope, rest: &str) -> String {
    format!("/opportunities?{}{rest}", scope.query())
}

/// The lead list of `scope` with `rest`.
fn leads_href(scope: &Scope, rest: &str) -> String {
    format!("/leads?{}{rest}", scope.query())
}

async fn ints(db: &Db, q: &Sql) -> Result<Vec<i64>> {
    let mut conn = db.pool.acquire().await?;
    let row = q.query().fetch_one(&mut *conn).await?;
    use sqlx::Row;
    (0..row.len()).map(|i| row.try_get::<i64, _>(i).map_err(Into::into)).collect()
}

async fn grouped<K>(db: &Db, q: &Sql) -> Result<Vec<(K, i64)>>
where
    K: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + Send + Unpin,
{
    let mut conn = db.pool.acquire().await?;
    Ok(q.query_as::<(K, i64)>().fetch_all(&mut *conn).await?)
}

/// An integer sum that reads as `BIGINT` on both databases (PostgreSQL sums to `numeric`).
fn sum(expr: &str) -> String {
    format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT)")
}

fn flag(cond: &str) -> String {
    sum(&format!("CASE WHEN {cond} THEN 1 ELSE 0 END"))
}

/// What a figure of opportunities sums: a kind of the kept figures (migration 31,
/// [`super::figures`]) and the same counted directly.
struct Metric {
    kind: &'static str,
    /// The date it is counted by in a period (`None`: every live opportunity).
    dated: Option<Dated>,
    /// Each sum: the column of `sales_figures`, and the same of an opportunity `o`.
    sums: &'static [(&'static str, &'static str)],
}

const PIPELINE: Metric = Metric { kind: "pipeline", dated: None, sums: &[("n", "1"), ("amount", "COALESCE(o.amount_cents, 0)")] };
/// Opened in the period, and how many of them reached each stage (booked, showed, sold, lost).
const CREATED: Metric = Metric {
    kind: "created",
    dated: Some(Dated::Created),
    sums: &[
        ("n", "1"),
        ("booked", "CASE WHEN o.booked_at IS NULL THEN 0 ELSE 1 END"),
        ("showed", "CASE WHEN o.showed_at IS NULL THEN 0 ELSE 1 END"),
        ("sold", "CASE WHEN o.sale_date IS NULL THEN 0 ELSE 1 END"),
        ("lost", "CASE WHEN o.lost_at IS NULL THEN 0 ELSE 1 END"),
    ],
};
/// First meeting booked in the period, and how many of them came.
const BOOKED: Metric = Metric {
    kind: "booked",
    dated: Some(Dated::Booked),
    sums: &[("n", "1"), ("showed", "CASE WHEN o.showed_at IS NULL THEN 0 ELSE 1 END")],
};
const SOLD: Metric = Metric { kind: "sold", dated: Some(Dated::Sold), sums: &[("n", "1")] };
const LOST: Metric = Metric { kind: "lost", dated: Some(Dated::Lost), sums: &[("n", "1")] };
const EXPIRED: Metric = Metric { kind: "expired", dated: Some(Dated::Expired), sums: &[("n", "1")] };

/// What a figure is grouped by.
#[derive(Debug, Clone, Copy)]
enum By {
    Nothing,
    Status,
    Owner,
    Branch,
}

impl By {
    /// The key as text: of `sales_figures f`, of an opportunity `o` (no owner or unit is 0).
    fn columns(self) -> Option<(&'static str, &'static str)> {
        match self {
            By::Nothing => None,
            By::Status => Some(("f.status", "o.status")),
            By::Owner => Some(("CAST(f.owner_id AS TEXT)", "CAST(COALESCE(o.owner_id, 0) AS TEXT)")),
            By::Branch => Some(("CAST(f.branch_id AS TEXT)", "CAST(COALESCE(o.branch_id, 0) AS TEXT)")),
        }
    }
}

/// How the dashboard counts opportunities: from the kept figures (by owner and unit, so
/// within the user's scope) plus, counted directly, those the user sees only by taking part;
/// or all directly, when the figures are not of the period's time zone ([`super::figures::ready`]).
struct Counter<'a> {
    db: &'a Db,
    vis: &'a Visibility,
    scope: &'a Scope,
    kept: bool,
}

/// Adds `rows` into `out`, key by key.
fn add(out: &mut Vec<(String, Vec<i64>)>, rows: Vec<(String, Vec<i64>)>) {
    for (k, v) in rows {
        match out.iter_mut().find(|o| o.0 == k) {
            Some(o) => o.1.iter_mut().zip(v).for_each(|(a, b)| *a += b),
            None => out.push((k, v)),
        }
    }
}

async fn keyed(db: &Db, q: &Sql) -> Result<Vec<(String, Vec<i64>)>> {
    use sqlx::Row;
    let mut conn = db.pool.acquire().await?;
    let rows = q.query().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(0)?, (1..r.len()).map(|i| r.try_get::<i64, _>(i)).collect::<std::result::Result<_, _>>()?)))
        .collect()
}

impl Counter<'_> {
    /// The sums of `m` (over `p` when dated), by `by`.
    async fn sums(&self, m: &Metric, p: Option<&Period>, by: By) -> Result<Vec<(String, Vec<i64>)>> {
        let mut out = Vec::new();
        let period = m.dated.zip(p);
        if self.kept {
            let mut q = Sql::new("SELECT ");
            q.push(by.columns().map(|c| c.0).unwrap_or("''")).push(" AS k");
            for (col, _) in m.sums {
                q.push(", ").push(&sum(&format!("f.{col}")));
            }
            q.push(" FROM sales_figures f WHERE f.kind = ").bind(m.kind.to_string());
            q.push(" AND ").append(self.vis.filter("f.owner_id", "f.branch_id"));
            if let Some(o) = self.scope.owner_id {
                q.push(" AND f.owner_id = ").bind(o);
            }
            if let Some(u) = self.scope.unit_id {
                q.push(" AND f.branch_id IN (SELECT d.id FROM org_units d JOIN org_units p ON d.path LIKE p.path || '%' WHERE p.id = ")
                    .bind(u)
                    .push(")");
            }
            if let Some((_, p)) = period {
                q.push(" AND f.day >= ").bind(p.start).push(" AND f.day < ").bind(p.end);
            }
            if let Some((c, _)) = by.columns() {
                q.push(" GROUP BY ").push(c);
            }
            add(&mut out, keyed(self.db, &q).await?);
        }
        if !self.kept || !self.vis.sees_all() {
            let mut head = Sql::new("SELECT ");
            head.push(by.columns().map(|c| c.1).unwrap_or("''")).push(" AS k");
            for (_, expr) in m.sums {
                head.push(", ").push(&sum(expr));
            }
            head.push(" FROM opportunities o");
            let f = Filter { dated: period.map(|(d, p)| (d, p.start, p.end)), taking_part_only: self.kept, ..scope_filter(self.scope) };
            let mut q = store::report_from(head, self.vis, &f);
            if let Some((_, c)) = by.columns() {
                q.push(" GROUP BY ").push(c);
            }
            add(&mut out, keyed(self.db, &q).await?);
        }
        Ok(out)
    }

    /// The sums of `m` over `p`, ungrouped.
    async fn totals(&self, m: &Metric, p: &Period) -> Result<Vec<i64>> {
        let rows = self.sums(m, Some(p), By::Nothing).await?;
        Ok(rows.into_iter().next().map(|r| r.1).unwrap_or_else(|| vec![0; m.sums.len()]))
    }

    /// How many `m` in `p`.
    async fn count(&self, m: &Metric, p: &Period) -> Result<i64> {
        Ok(self.totals(m, p).await?.first().copied().unwrap_or(0))
    }
}

/// The leads of `p` on opportunities the user sees, through the lead list's filter:
/// `head` (`SELECT …`) `FROM leads l JOIN opportunities o … WHERE …`.
fn leads_of(head: Sql, vis: &Visibility, scope: &Scope, p: &Period) -> Sql {
    let mut head = head;
    head.push(" FROM leads l JOIN opportunities o ON o.id = l.opportunity_id");
    let f = crate::sales::leads::ListFilter {
        owner_id: scope.owner_id,
        unit_id: scope.unit_id,
        received: Some((p.start, p.end)),
        ..Default::default()
    };
    crate::sales::leads::report_from(head, vis, &f)
}

async fn leads_by(db: &Db, vis: &Visibility, scope: &Scope, p: &Period, col: &str) -> Result<Vec<(String, i64)>> {
    let mut q = leads_of(Sql::new(&format!("SELECT {col}, COUNT(*)")), vis, scope, p);
    q.push(&format!(" GROUP BY {col}"));
    grouped(db, &q).await
}

/// Speed to lead over the leads of `p`: the count per bucket of [`Speed`] (the lead list's
/// filter) and the median in minutes.
async fn speed(db: &Db, vis: &Visibility, scope: &Scope, p: &Period) -> Result<(Vec<i64>, Option<i64>)> {
    let cols: Vec<String> = Speed::ALL.iter().map(|s| flag(&s.condition())).collect();
    let counts = ints(db, &leads_of(Sql::new(&format!("SELECT {}", cols.join(", "))), vis, scope, p)).await?;
    let answered: i64 = counts.iter().zip(Speed::ALL).filter(|(_, s)| *s != Speed::None).map(|(n, _)| n).sum();
    let median = if answered > 0 {
        let mut q = leads_of(Sql::new("SELECT l.responded_at - l.created_at AS d"), vis, scope, p);
        q.push(" AND l.responded_at IS NOT NULL ORDER BY d LIMIT 1 OFFSET ").bind((answered - 1) / 2);
        let mut conn = db.pool.acquire().await?;
        let d: Option<i64> = q.query_scalar().fetch_optional(&mut *conn).await?;
        d.map(|ms| ms / 60_000)
    } else {
        None
    };
    Ok((counts, median))
}

/// The per-owner or per-branch lines of the opportunities opened in `p`.
async fn lines(c: &Counter<'_>, p: &Period, by_owner: bool) -> Result<Vec<Line>> {
    let names = if by_owner { "users" } else { "org_units" };
    let sums = c.sums(&CREATED, Some(p), if by_owner { By::Owner } else { By::Branch }).await?;
    let rows: Vec<(Option<i64>, Vec<i64>)> = sums
        .into_iter()
        .filter(|r| r.1.first().is_some_and(|n| *n != 0))
        .map(|(k, v)| (k.parse::<i64>().ok().filter(|i| *i != 0), v))
        .collect();
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.0).collect();
    let mut named: Vec<(i64, String)> = Vec::new();
    if !ids.is_empty() {
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let mut conn = c.db.pool.acquire().await?;
        // Integer ids read from the database, written inline.
        named = sqlx::query_as(&format!("SELECT id, name FROM {names} WHERE id IN ({list})")).fetch_all(&mut *conn).await?;
    }
    let key = if by_owner { "owner_id" } else { "branch_id" };
    let at = |v: &[i64], i: usize| v.get(i).copied().unwrap_or(0);
    let mut out: Vec<Line> = rows
        .into_iter()
        .map(|(id, v)| Line {
            id,
            name: id.and_then(|i| named.iter().find(|n| n.0 == i).map(|n| n.1.clone())).unwrap_or_else(|| "—".into()),
            created: at(&v, 0),
            booked: at(&v, 1),
            showed: at(&v, 2),
            sold: at(&v, 3),
            lost: at(&v, 4),
            href: id.map(|i| {
                let s = Scope { owner_id: if by_owner { None } else { c.scope.owner_id }, unit_id: c.scope.unit_id };
                href(&s, &format!("{key}={i}&in=created&{}", p.query()))
            }),
        })
        .collect();
    out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}

/// The sales dashboard of `scope` (within `vis`) for `p`, compared to `prev`.
pub async fn dashboard(db: &Db, vis: &Visibility, scope: &Scope, p: &Period, prev: &Period, cx: &Context<'_>) -> Result<SalesDashboard> {
    let tr = cx.tr;
    let lg = lang(tr);
    let pq = p.query();
    let mut charts = Vec::new();
    let mut kpis = Vec::new();
    let kept = super::figures::ready(db, p.zone, p.start.min(prev.start), p.end.max(prev.end)).await?;
    let c = Counter { db, vis, scope, kept };

    // The pipeline: every status of the board, with its amounts.
    let by_status = c.sums(&PIPELINE, None, By::Status).await?;
    let board: Vec<&ListItem> = cx.statuses.board().collect();
    let open = |s: &ListItem| !(s.has_flag("lost") || s.has_flag("sets_sale_date") || s.has_flag("sets_delivery_date"));
    let found = |code: &str| {
        by_status
            .iter()
            .find(|b| b.0 == code)
            .map(|b| (b.1.first().copied().unwrap_or(0), b.1.get(1).copied().unwrap_or(0)))
            .unwrap_or((0, 0))
    };
    let pipeline_value: i64 = board.iter().filter(|s| open(s)).map(|s| found(&s.code).1).sum();
    let pipeline_count: i64 = board.iter().filter(|s| open(s)).map(|s| found(&s.code).0).sum();
    charts.push(Chart {
        id: "pipeline",
        title: tr.t("reports.pipeline"),
        note: tr.t("reports.pipeline_note"),
        unit: Unit::Count,
        series: false,
        bars: board
            .iter()
            .map(|s| Bar {
                code: s.code.clone(),
                label: s.label(&lg).to_string(),
                value: found(&s.code).0,
                previous: None,
                href: Some(href(scope, &format!("status={}", s.code))),
            })
            .collect(),
        extra: Some(Extra { label: tr.t("reports.amount"), unit: Unit::Money, values: board.iter().map(|s| found(&s.code).1).collect() }),
    });
    kpis.push(Kpi {
        id: "pipeline_value",
        label: tr.t("reports.pipeline_value"),
        value: Some(pipeline_value),
        previous: None,
        unit: Unit::Money,
        href: Some("/opportunities/board".into()),
    });
    kpis.push(Kpi {
        id: "pipeline_open",
        label: tr.t("reports.pipeline_open"),
        value: Some(pipeline_count),
        previous: None,
        unit: Unit::Count,
        href: None,
    });

    // Leads: by type, by source, over time.
    let (types, types_prev) = (leads_by(db, vis, scope, p, "l.lead_type").await?, leads_by(db, vis, scope, prev, "l.lead_type").await?);
    let leads_total: i64 = types.iter().map(|t| t.1).sum();
    let leads_prev: i64 = types_prev.iter().map(|t| t.1).sum();
    kpis.push(Kpi {
        id: "leads",
        label: tr.t("reports.leads"),
        value: Some(leads_total),
        previous: Some(leads_prev),
        unit: Unit::Count,
        href: None,
    });
    let mut type_codes: Vec<String> = cx.lead_types.iter().map(|t| t.code.clone()).collect();
    for (c, _) in types.iter().chain(types_prev.iter()) {
        if !type_codes.contains(c) {
            type_codes.push(c.clone());
        }
    }
    charts.push(Chart {
        id: "leads_by_type",
        title: tr.t("reports.leads_by_type"),
        note: tr.t("reports.leads_note"),
        unit: Unit::Count,
        series: false,
        bars: type_codes
            .iter()
            .map(|c| Bar {
                code: c.clone(),
                label: cx.lead_types.iter().find(|t| &t.code == c).map(|t| t.label(&lg).to_string()).unwrap_or_else(|| c.clone()),
                value: types.iter().find(|t| &t.0 == c).map(|t| t.1).unwrap_or(0),
                previous: Some(types_prev.iter().find(|t| &t.0 == c).map(|t| t.1).unwrap_or(0)),
                href: Some(leads_href(scope, &format!("lead_type={c}&{pq}"))),
            })
            .collect(),
        extra: None,
    });
    let mut sources = leads_by(db, vis, scope, p, "l.source").await?;
    sources.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let others: i64 = sources.iter().skip(8).map(|s| s.1).sum();
    let mut source_bars: Vec<Bar> = sources
        .iter()
        .take(8)
        .map(|(s, n)| Bar {
            code: s.clone(),
            label: if s.is_empty() { tr.t("reports.no_source") } else { s.clone() },
            value: *n,
            previous: None,
            // A lead without a source has no list of its own (an empty filter is no filter).
            href: (!s.is_empty())
                .then(|| leads_href(scope, &format!("{}&{pq}", serde_urlencoded::to_string([("source", s)]).unwrap_or_default()))),
        })
        .collect();
    if others > 0 {
        source_bars.push(Bar { code: "*".into(), label: tr.t("reports.other_sources"), value: others, previous: None, href: None });
    }
    charts.push(Chart {
        id: "leads_by_source",
        title: tr.t("reports.leads_by_source"),
        note: tr.t("reports.leads_note"),
        unit: Unit::Count,
        series: false,
        bars: source_bars,
        extra: None,
    });
    let buckets = p.buckets();
    let mut head = Sql::new("SELECT ");
    head.append(bucket_case("l.created_at", &p.bucket_ends())).push(", COUNT(*)");
    let mut q = leads_of(head, vis, scope, p);
    q.push(" GROUP BY 1");
    let per_bucket: Vec<(i64, i64)> = {
        let mut conn = db.pool.acquire().await?;
        q.query_as().fetch_all(&mut *conn).await?
    };
    charts.push(Chart {
        id: "leads_over_time",
        title: tr.t("reports.leads_over_time"),
        note: tr.t("reports.leads_note"),
        unit: Unit::Count,
        series: true,
        bars: buckets
            .iter()
            .enumerate()
            .map(|(i, (first, last))| Bar {
                code: first.format("%Y-%m-%d").to_string(),
                label: bucket_label(*first, p.grain(), lg == Lang::Fr),
                value: per_bucket.iter().find(|b| b.0 == i as i64).map(|b| b.1).unwrap_or(0),
                previous: None,
                href: Some(leads_href(scope, &format!("from={}&to={}", first.format("%Y-%m-%d"), last.format("%Y-%m-%d")))),
            })
            .collect(),
        extra: None,
    });

    // Speed to lead.
    let ((counts, median), (_, median_prev)) = (speed(db, vis, scope, p).await?, speed(db, vis, scope, prev).await?);
    kpis.push(Kpi {
        id: "speed_to_lead",
        label: tr.t("reports.speed_median"),
        value: median,
        previous: median_prev,
        unit: Unit::Minutes,
        href: None,
    });
    let speed_bars: Vec<Bar> = Speed::ALL
        .iter()
        .map(|s| s.code().to_string())
        .enumerate()
        .map(|(i, code)| Bar {
            label: tr.t(&format!("reports.speed_{code}")),
            href: Some(leads_href(scope, &format!("speed={code}&{pq}"))),
            code,
            value: counts.get(i).copied().unwrap_or(0),
            previous: None,
        })
        .collect();
    charts.push(Chart {
        id: "speed_to_lead",
        title: tr.t("reports.speed_to_lead"),
        note: tr.t("reports.speed_note"),
        unit: Unit::Count,
        series: false,
        bars: speed_bars,
        extra: None,
    });

    // Appointments booked in the period and how many came.
    let (b, bp) = (c.totals(&BOOKED, p).await?, c.totals(&BOOKED, prev).await?);
    let (booked, showed) = (b.first().copied().unwrap_or(0), b.get(1).copied().unwrap_or(0));
    let (booked_prev, showed_prev) = (bp.first().copied().unwrap_or(0), bp.get(1).copied().unwrap_or(0));
    kpis.push(Kpi {
        id: "booked",
        label: tr.t("reports.booked"),
        value: Some(booked),
        previous: Some(booked_prev),
        unit: Unit::Count,
        href: Some(href(scope, &format!("in=booked&{pq}"))),
    });
    kpis.push(Kpi {
        id: "show_rate",
        label: tr.t("reports.show_rate"),
        value: permille(showed, booked),
        previous: permille(showed_prev, booked_prev),
        unit: Unit::Permille,
        href: Some(href(scope, &format!("in=booked&stage=showed&{pq}"))),
    });

    // The funnel of the opportunities opened in the period.
    let (f, fp) = (c.totals(&CREATED, p).await?, c.totals(&CREATED, prev).await?);
    let stages: [(&str, Option<Stage>); 4] =
        [("created", None), ("booked", Some(Stage::Booked)), ("showed", Some(Stage::Showed)), ("sold", Some(Stage::Sold))];
    charts.push(Chart {
        id: "funnel",
        title: tr.t("reports.funnel"),
        note: tr.t("reports.funnel_note"),
        unit: Unit::Count,
        series: false,
        bars: stages
            .iter()
            .enumerate()
            .map(|(i, (code, stage))| Bar {
                code: code.to_string(),
                label: tr.t(&format!("reports.stage_{code}")),
                value: f.get(i).copied().unwrap_or(0),
                previous: Some(fp.get(i).copied().unwrap_or(0)),
                href: Some(href(
                    scope,
                    &match stage {
                        Some(s) => format!("in=created&stage={}&{pq}", s.code()),
                        None => format!("in=created&{pq}"),
                    },
                )),
            })
            .collect(),
        extra: None,
    });
    kpis.push(Kpi {
        id: "created",
        label: tr.t("reports.created"),
        value: f.first().copied(),
        previous: fp.first().copied(),
        unit: Unit::Count,
        href: Some(href(scope, &format!("in=created&{pq}"))),
    });

    // Won, lost and why, the win rate.
    let won = c.count(&SOLD, p).await?;
    let won_prev = c.count(&SOLD, prev).await?;
    let by_lost = |rows: Vec<(String, Vec<i64>)>| -> Vec<(String, i64)> {
        rows.into_iter().map(|(s, v)| (s, v.first().copied().unwrap_or(0))).filter(|l| l.1 != 0).collect()
    };
    let lost = by_lost(c.sums(&LOST, Some(p), By::Status).await?);
    let lost_prev = by_lost(c.sums(&LOST, Some(prev), By::Status).await?);
    let lost_n: i64 = lost.iter().map(|l| l.1).sum();
    let lost_prev_n: i64 = lost_prev.iter().map(|l| l.1).sum();
    kpis.push(Kpi {
        id: "won",
        label: tr.t("reports.won"),
        value: Some(won),
        previous: Some(won_prev),
        unit: Unit::Count,
        href: Some(href(scope, &format!("in=sold&{pq}"))),
    });
    kpis.push(Kpi {
        id: "win_rate",
        label: tr.t("reports.win_rate"),
        value: permille(won, won + lost_n),
        previous: permille(won_prev, won_prev + lost_prev_n),
        unit: Unit::Permille,
        href: None,
    });
    let lost_statuses: Vec<&ListItem> = cx.statuses.0.iter().filter(|s| s.has_flag("lost")).collect();
    charts.push(Chart {
        id: "lost_reasons",
        title: tr.t("reports.lost_reasons"),
        note: tr.t("reports.lost_note"),
        unit: Unit::Count,
        series: false,
        bars: lost_statuses
            .iter()
            .map(|s| Bar {
                code: s.code.clone(),
                label: s.label(&lg).to_string(),
                value: lost.iter().find(|l| l.0 == s.code).map(|l| l.1).unwrap_or(0),
                previous: Some(lost_prev.iter().find(|l| l.0 == s.code).map(|l| l.1).unwrap_or(0)),
                href: Some(href(scope, &format!("in=lost&status={}&{pq}", s.code))),
            })
            .collect(),
        extra: None,
    });
    if cx.sees_expired {
        kpis.push(Kpi {
            id: "expired",
            label: tr.t("reports.expired"),
            value: Some(c.count(&EXPIRED, p).await?),
            previous: Some(c.count(&EXPIRED, prev).await?),
            unit: Unit::Count,
            href: Some(href(scope, &format!("in=expired&{pq}"))),
        });
    }

    let per_rep = lines(&c, p, true).await?;
    let per_branch = lines(&c, p, false).await?;
    Ok(SalesDashboard { kpis, charts, per_rep, per_branch })
}
