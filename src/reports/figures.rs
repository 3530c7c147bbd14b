//! The sales dashboard's aggregates (migration 31): the opportunities out of the trash counted
//! by kind of date, local day of the business's time zone, owner, branch (and status), kept by
//! triggers on `opportunities` and `opportunity_expirations` (migration 35: the `expired` kind,
//! by the expiration's day) so that every write path — the workflow, lead intake, owner and
//! branch changes, amounts, trash and restore, merges, imports, the demo, the expiry sweep —
//! keeps them exact without a line of its own.
//!
//! - SQLite: row triggers, one per kind and event, each firing only when a column it depends on
//!   changes, and one per event on the expirations (the expiry sweep fires that one alone);
//! - PostgreSQL: statement triggers over the transition tables, one grouped upsert per
//!   statement (a bulk update costs one pass, not one function call per row), an update
//!   counting only the rows where a column of the kind changed.
//!
//! A timestamp's day is the latest local midnight at or before it (`report_days`, filled for
//! the zone). [`ensure`] installs the triggers and rebuilds the figures when the zone (or the
//! triggers' version) is not the one they were built for; until then, and for periods outside
//! the days filled, the dashboard counts directly ([`ready`]). [`differences`] recomputes them
//! from scratch and says what differs (the tests' proof).

use chrono::{Duration, NaiveDate};

use crate::clock::{Millis, Zone};
use crate::db::{Backend, Db};
use crate::error::Result;

/// Bumped when the triggers or the kinds change: the next start rebuilds.
const VERSION: &str = "4";

/// The days filled: from 2000-01-01 to 2100-01-01 (excluded).
const FIRST_YEAR: i32 = 2000;
const END_YEAR: i32 = 2100;

/// A kind of figure: what it counts of an opportunity `R` (and, for the `expired` kind, of its
/// expiration `E`, a row of `opportunity_expirations`).
struct Kind {
    code: &'static str,
    /// The columns of `R` it depends on (besides the owner, the branch and the trash flag).
    columns: &'static [&'static str],
    /// The date it is counted by (`None`: no day, 0): a column of `R`, or of `E` for a kind
    /// counted by [`Kind::expiration`].
    dated: Option<&'static str>,
    /// Whether it counts the opportunities with an expiration, by its date.
    expiration: bool,
    /// Whether it is kept per status.
    by_status: bool,
    /// `n, amount, booked, showed, sold, lost` of one opportunity.
    values: [&'static str; 6],
}

const KINDS: &[Kind] = &[
    Kind {
        code: "pipeline",
        columns: &["status", "amount_cents"],
        dated: None,
        expiration: false,
        by_status: true,
        values: ["1", "COALESCE(R.amount_cents, 0)", "0", "0", "0", "0"],
    },
    Kind {
        code: "created",
        columns: &["created_at", "booked_at", "showed_at", "sale_date", "lost_at"],
        dated: Some("created_at"),
        expiration: false,
        by_status: false,
        values: [
            "1",
            "0",
            "CASE WHEN R.booked_at IS NULL THEN 0 ELSE 1 END",
            "CASE WHEN R.showed_at IS NULL THEN 0 ELSE 1 END",
            "CASE WHEN R.sale_date IS NULL THEN 0 ELSE 1 END",
            "CASE WHEN R.lost_at IS NULL THEN 0 ELSE 1 END",
        ],
    },
    Kind {
        code: "booked",
        columns: &["booked_at", "showed_at"],
        dated: Some("booked_at"),
        expiration: false,
        by_status: false,
        values: ["1", "0", "0", "CASE WHEN R.showed_at IS NULL THEN 0 ELSE 1 END", "0", "0"],
    },
    Kind {
        code: "sold",
        columns: &["sale_date"],
        dated: Some("sale_date"),
        expiration: false,
        by_status: false,
        values: ["1", "0", "0", "0", "0", "0"],
    },
    Kind {
        code: "lost",
        columns: &["lost_at", "status"],
        dated: Some("lost_at"),
        expiration: false,
        by_status: true,
        values: ["1", "0", "0", "0", "0", "0"],
    },
    Kind {
        code: "expired",
        columns: &[],
        dated: Some("expired_at"),
        expiration: true,
        by_status: false,
        values: ["1", "0", "0", "0", "0", "0"],
    },
];

/// The kind kept from `opportunity_expirations` as well as from `opportunities`.
const EXPIRED: &Kind = &KINDS[5];

const COLUMNS: &str = "kind, day, owner_id, branch_id, status, n, amount, booked, showed, sold, lost";
const KEY: &str = "kind, day, owner_id, branch_id, status";
const UPSERT: &str = " ON CONFLICT (kind, day, owner_id, branch_id, status) DO UPDATE SET n = sales_figures.n + excluded.n, \
     amount = sales_figures.amount + excluded.amount, booked = sales_figures.booked + excluded.booked, \
     showed = sales_figures.showed + excluded.showed, sold = sales_figures.sold + excluded.sold, lost = sales_figures.lost + excluded.lost";

/// The day (local midnight, ms) of the timestamp `at`: 0 before the days filled.
fn day_of(at: &str) -> String {
    format!("COALESCE((SELECT d.day_start FROM report_days d WHERE d.day_start <= {at} ORDER BY d.day_start DESC LIMIT 1), 0)")
}

/// The row an opportunity `r` (with its expiration `e`, for [`Kind::expiration`]) counts for in
/// `k`, with `sign`, and the condition for it to count.
fn select_of(k: &Kind, sign: i64, r: &str, e: &str) -> (String, String) {
    let dated = k.dated.map(|c| format!("{}.{c}", if k.expiration { e } else { r }));
    let day = dated.as_deref().map(day_of).unwrap_or_else(|| "0".into());
    let status = if k.by_status { format!("{r}.status") } else { "''".into() };
    let values: Vec<String> =
        k.values.iter().map(|v| v.replace("R.", &format!("{r}."))).map(|v| if sign < 0 { format!("-({v})") } else { v }).collect();
    let select = format!(
        "SELECT '{}' AS kind, {day} AS day, COALESCE({r}.owner_id, 0) AS owner_id, COALESCE({r}.branch_id, 0) AS branch_id, {status} AS status, \
         {} AS d_n, {} AS d_amount, {} AS d_booked, {} AS d_showed, {} AS d_sold, {} AS d_lost",
        k.code, values[0], values[1], values[2], values[3], values[4], values[5]
    );
    let cond = match dated {
        Some(c) => format!("{r}.trashed = 0 AND {c} IS NOT NULL"),
        None => format!("{r}.trashed = 0"),
    };
    (select, cond)
}

/// The rows of `source` (opportunities, aliased `R`), with their expiration `E` for `k`.
/// `source` is the whole table or a trigger's transition table: the second reads each row's
/// expiration by primary key (a lateral lookup: PostgreSQL plans a trigger's statement once per
/// session, and a join planned for a few rows, or for many, is the wrong one for the others).
fn from_of(k: &Kind, source: &str) -> String {
    match (k.expiration, source) {
        (false, _) => format!("{source} R"),
        (true, "opportunities") => format!("{source} R JOIN opportunity_expirations E ON E.opportunity_id = R.id"),
        (true, _) => format!(
            "{source} R CROSS JOIN LATERAL (SELECT x.expired_at FROM opportunity_expirations x WHERE x.opportunity_id = R.id LIMIT 1) E"
        ),
    }
}

/// Every row's contributions (`sign` each) of the rows of `source` (opportunities, aliased `R`).
fn contributions(source: &str, sign: i64) -> String {
    KINDS
        .iter()
        .map(|k| {
            let (select, cond) = select_of(k, sign, "R", "E");
            format!("{select} FROM {} WHERE {cond}", from_of(k, source))
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// The contributions (`sign` each) of the expirations of `source` (rows of
/// `opportunity_expirations`, aliased `E`) to the `expired` kind. The sweep's expirations of
/// one statement share their date: grouped first by date, owner and branch, and each distinct
/// date's day looked up once per statement (not once per owner and branch: a range of the
/// sweep falls on a couple of hundred of them). Each opportunity is read by primary key (see
/// [`from_of`]).
fn expiration_contributions(source: &str, sign: i64) -> String {
    let grouped = format!(
        "(SELECT E.expired_at, R.owner_id, R.branch_id, R.trashed, COUNT(*) AS n FROM {source} E \
         CROSS JOIN LATERAL (SELECT o.owner_id, o.branch_id, o.trashed FROM opportunities o WHERE o.id = E.opportunity_id LIMIT 1) R \
         GROUP BY E.expired_at, R.owner_id, R.branch_id, R.trashed)"
    );
    let days = format!("(SELECT x.expired_at, {} AS day FROM (SELECT DISTINCT expired_at FROM {source}) x)", day_of("x.expired_at"));
    let n = if sign < 0 { "-G.n" } else { "G.n" };
    format!(
        "SELECT '{}' AS kind, D.day AS day, COALESCE(G.owner_id, 0) AS owner_id, COALESCE(G.branch_id, 0) AS branch_id, '' AS status, \
         {n} AS d_n, 0 AS d_amount, 0 AS d_booked, 0 AS d_showed, 0 AS d_sold, 0 AS d_lost FROM {grouped} G \
         JOIN {days} D ON D.expired_at = G.expired_at WHERE G.trashed = 0",
        EXPIRED.code,
    )
}

/// The columns a kind's figure depends on: the owner, the branch, the trash flag and its own.
fn depends_on(k: &Kind) -> Vec<&'static str> {
    let mut cols = vec!["owner_id", "branch_id", "trashed"];
    cols.extend(k.columns);
    cols
}

/// An update's contributions (PostgreSQL's transition tables `old_rows`, `new_rows`): for each
/// kind, only the rows where a column it depends on changed take the old figure out and put
/// the new one in, so that an update touching none of them (a note's count, `updated_at`)
/// costs a join and no day lookup.
fn update_contributions() -> String {
    let mut parts = Vec::new();
    for k in KINDS {
        let cols = depends_on(k);
        let row = |alias: &str| cols.iter().map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ");
        let changed = format!("({}) IS DISTINCT FROM ({})", row("R"), row("X"));
        for (sign, this, other) in [(-1, "old_rows", "new_rows"), (1, "new_rows", "old_rows")] {
            let (select, cond) = select_of(k, sign, "R", "E");
            parts.push(format!("{select} FROM {} JOIN {other} X ON X.id = R.id WHERE {cond} AND {changed}", from_of(k, this)));
        }
    }
    parts.join(" UNION ALL ")
}

/// The grouped sum of `inner` (contribution rows), without the rows that add up to nothing.
fn grouped(inner: &str) -> String {
    format!(
        "SELECT kind, day, owner_id, branch_id, status, SUM(d_n) AS n, SUM(d_amount) AS amount, SUM(d_booked) AS booked, \
         SUM(d_showed) AS showed, SUM(d_sold) AS sold, SUM(d_lost) AS lost \
         FROM ({inner}) c GROUP BY {KEY} \
         HAVING SUM(d_n) <> 0 OR SUM(d_amount) <> 0 OR SUM(d_booked) <> 0 OR SUM(d_showed) <> 0 OR SUM(d_sold) <> 0 OR SUM(d_lost) <> 0"
    )
}

/// The tables with figure triggers, and how many each has.
fn expected_triggers(backend: Backend) -> usize {
    match backend {
        // One per kind and event on `opportunities`, one per event on `opportunity_expirations`.
        Backend::Sqlite => 3 * KINDS.len() + 3,
        // One per event on each table.
        Backend::Postgres => 6,
    }
}

/// The statements that (re)create the triggers: on `opportunities` (every kind) and on
/// `opportunity_expirations` (the `expired` kind: the sweep inserts there alone).
fn triggers(backend: Backend) -> Vec<String> {
    let mut out = Vec::new();
    match backend {
        Backend::Sqlite => {
            for k in KINDS {
                for event in ["insert", "update", "delete"] {
                    out.push(format!("DROP TRIGGER IF EXISTS sales_figures_{}_{event}", k.code));
                }
                // The upsert of `row` (`NEW`, `OLD`): a kind counted by an expiration reads it
                // by primary key.
                let upsert = |row: &str, sign: i64| {
                    let (select, cond) = select_of(k, sign, row, "E");
                    if k.expiration {
                        format!(
                            "INSERT INTO sales_figures ({COLUMNS}) {select} FROM opportunity_expirations E \
                             WHERE E.opportunity_id = {row}.id AND {cond}{UPSERT};"
                        )
                    } else {
                        format!("INSERT INTO sales_figures ({COLUMNS}) {select} WHERE {cond}{UPSERT};")
                    }
                };
                let cond = |row: &str| if k.expiration { format!("{row}.trashed = 0") } else { select_of(k, 1, row, "E").1 };
                out.push(format!(
                    "CREATE TRIGGER sales_figures_{c}_insert AFTER INSERT ON opportunities WHEN {w} BEGIN {u} END",
                    c = k.code,
                    w = cond("NEW"),
                    u = upsert("NEW", 1)
                ));
                out.push(format!(
                    "CREATE TRIGGER sales_figures_{c}_delete AFTER DELETE ON opportunities WHEN {w} BEGIN {u} END",
                    c = k.code,
                    w = cond("OLD"),
                    u = upsert("OLD", -1)
                ));
                let cols = depends_on(k);
                let changed: Vec<String> = cols.iter().map(|c| format!("OLD.{c} IS NOT NEW.{c}")).collect();
                out.push(format!(
                    "CREATE TRIGGER sales_figures_{c}_update AFTER UPDATE OF {cols} ON opportunities WHEN {w} BEGIN {old} {new} END",
                    c = k.code,
                    cols = cols.join(", "),
                    w = changed.join(" OR "),
                    old = upsert("OLD", -1),
                    new = upsert("NEW", 1)
                ));
            }
            // The expirations: the opportunity read by primary key.
            let upsert = |row: &str, sign: i64| {
                let (select, cond) = select_of(EXPIRED, sign, "R", row);
                format!("INSERT INTO sales_figures ({COLUMNS}) {select} FROM opportunities R WHERE R.id = {row}.opportunity_id AND {cond}{UPSERT};")
            };
            for event in ["insert", "update", "delete"] {
                out.push(format!("DROP TRIGGER IF EXISTS sales_figures_expiration_{event}"));
            }
            out.push(format!(
                "CREATE TRIGGER sales_figures_expiration_insert AFTER INSERT ON opportunity_expirations BEGIN {} END",
                upsert("NEW", 1)
            ));
            out.push(format!(
                "CREATE TRIGGER sales_figures_expiration_delete AFTER DELETE ON opportunity_expirations BEGIN {} END",
                upsert("OLD", -1)
            ));
            out.push(format!(
                "CREATE TRIGGER sales_figures_expiration_update AFTER UPDATE ON opportunity_expirations BEGIN {} {} END",
                upsert("OLD", -1),
                upsert("NEW", 1)
            ));
        }
        Backend::Postgres => {
            let events: [(&str, &str, &str, String); 6] = [
                ("insert", "opportunities", "NEW TABLE AS new_rows", contributions("new_rows", 1)),
                ("update", "opportunities", "OLD TABLE AS old_rows NEW TABLE AS new_rows", update_contributions()),
                ("delete", "opportunities", "OLD TABLE AS old_rows", contributions("old_rows", -1)),
                ("expiration_insert", "opportunity_expirations", "NEW TABLE AS new_rows", expiration_contributions("new_rows", 1)),
                (
                    "expiration_update",
                    "opportunity_expirations",
                    "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                    format!("{} UNION ALL {}", expiration_contributions("old_rows", -1), expiration_contributions("new_rows", 1)),
                ),
                ("expiration_delete", "opportunity_expirations", "OLD TABLE AS old_rows", expiration_contributions("old_rows", -1)),
            ];
            for (event, table, tables, inner) in events {
                out.push(format!("DROP TRIGGER IF EXISTS sales_figures_{event} ON {table}"));
                // Sorted by key, so that two transactions lock the rows they share in one order.
                out.push(format!(
                    "CREATE OR REPLACE FUNCTION sales_figures_{event}() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN \
                     INSERT INTO sales_figures ({COLUMNS}) {} ORDER BY 1, 2, 3, 4, 5{UPSERT}; RETURN NULL; END $body$",
                    grouped(&inner)
                ));
                let when = event.rsplit('_').next().unwrap_or(event).to_uppercase();
                out.push(format!(
                    "CREATE TRIGGER sales_figures_{event} AFTER {when} ON {table} REFERENCING {tables} \
                     FOR EACH STATEMENT EXECUTE FUNCTION sales_figures_{event}()"
                ));
            }
        }
    }
    out
}

fn built_for(zone: Zone) -> String {
    format!("{}|{VERSION}", zone.0.name())
}

/// The local midnights of `zone` from [`FIRST_YEAR`] to [`END_YEAR`].
fn midnights(zone: Zone) -> Vec<Millis> {
    let mut out = Vec::with_capacity(36_600);
    let (Some(mut d), Some(end)) = (NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1), NaiveDate::from_ymd_opt(END_YEAR, 1, 1)) else {
        return out;
    };
    while d < end {
        out.push(zone.midnight(d));
        d += Duration::days(1);
    }
    out
}

/// Whether the figures are those of `zone` and cover `[start, end)`: else the dashboard counts
/// directly.
pub async fn ready(db: &Db, zone: Zone, start: Millis, end: Millis) -> Result<bool> {
    let first = NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).map(|d| zone.midnight(d)).unwrap_or(Millis::MAX);
    let last = NaiveDate::from_ymd_opt(END_YEAR, 1, 1).map(|d| zone.midnight(d)).unwrap_or(Millis::MIN);
    if start < first || end > last {
        return Ok(false);
    }
    let mut conn = db.pool.acquire().await?;
    let built: Option<String> = sqlx::query_scalar("SELECT built_for FROM report_zone WHERE id = 1").fetch_optional(&mut *conn).await?;
    Ok(built.as_deref() == Some(built_for(zone).as_str()))
}

/// The job that rebuilds the figures after a change of zone (see [`rebuild_soon`]).
pub const JOB: &str = "sales_figures";

/// After a change of settings: when the figures are no longer those of the business's zone,
/// queues their rebuild (a job: over millions of opportunities it is no work for a request);
/// until it has run, the dashboard counts directly ([`ready`]). Returns whether one was queued.
pub async fn rebuild_soon(db: &Db, now: Millis) -> Result<bool> {
    let want = built_for(crate::settings::zone(db).await?);
    let built: Option<String> = sqlx::query_scalar("SELECT built_for FROM report_zone WHERE id = 1").fetch_optional(&db.pool).await?;
    if built.as_deref() == Some(want.as_str()) {
        return Ok(false);
    }
    let mut conn = db.pool.acquire().await?;
    // One per zone asked for; the job itself does nothing when the figures are already right.
    let key = format!("{JOB}:{want}:{now}");
    crate::jobs::enqueue(&mut conn, JOB, &serde_json::json!({}), now, now, Some(&key)).await?;
    Ok(true)
}

/// The figure triggers installed on PostgreSQL.
const PG_INSTALLED: &str = "SELECT COUNT(*) FROM pg_trigger WHERE tgname LIKE 'sales_figures_%' \
     AND tgrelid IN ('opportunities'::regclass, 'opportunity_expirations'::regclass)";

/// Installs the triggers and rebuilds the figures when they are not those of the business's
/// zone and of this version (the first start after migration 31, a change of zone): in one
/// transaction, writes waiting meanwhile.
pub async fn ensure(db: &Db, now: Millis) -> Result<bool> {
    let zone = crate::settings::zone(db).await?;
    let want = built_for(zone);
    let built: Option<String> = sqlx::query_scalar("SELECT built_for FROM report_zone WHERE id = 1").fetch_optional(&db.pool).await?;
    // A copy of the data (`migrate-data`, a restore) brings the figures without the triggers.
    let installed: i64 = sqlx::query_scalar(match db.backend {
        Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'sales_figures_%'",
        Backend::Postgres => PG_INSTALLED,
    })
    .fetch_one(&db.pool)
    .await?;
    let expected = expected_triggers(db.backend);
    if built.as_deref() == Some(want.as_str()) && installed == expected as i64 {
        return Ok(false);
    }
    let started = std::time::Instant::now();
    let mut tx = db.begin().await?;
    if db.backend == Backend::Postgres {
        // Processes starting together: one rebuilds, the others wait, then find it done
        // (creating the same trigger function at once is a unique violation in the catalogue).
        sqlx::query("SELECT pg_advisory_xact_lock(7204331)").execute(&mut *tx).await?;
        let built: Option<String> = sqlx::query_scalar("SELECT built_for FROM report_zone WHERE id = 1").fetch_optional(&mut *tx).await?;
        let installed: i64 = sqlx::query_scalar(PG_INSTALLED).fetch_one(&mut *tx).await?;
        if built.as_deref() == Some(want.as_str()) && installed == expected as i64 {
            tx.rollback().await?;
            return Ok(false);
        }
    }
    for stmt in triggers(db.backend) {
        sqlx::query(&stmt).execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM report_days").execute(&mut *tx).await?;
    for chunk in midnights(zone).chunks(1000) {
        let values: Vec<String> = chunk.iter().map(|m| format!("({m})")).collect();
        // Integers computed here, written inline.
        sqlx::query(&format!("INSERT INTO report_days (day_start) VALUES {}", values.join(", "))).execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM sales_figures").execute(&mut *tx).await?;
    sqlx::query(&format!("INSERT INTO sales_figures ({COLUMNS}) {}", grouped(&contributions("opportunities", 1))))
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM report_zone").execute(&mut *tx).await?;
    sqlx::query("INSERT INTO report_zone (id, built_for, built_at) VALUES (1, $1, $2)").bind(&want).bind(now).execute(&mut *tx).await?;
    tx.commit().await?;
    tracing::info!(built_for = %want, ms = started.elapsed().as_millis() as u64, "sales dashboard figures rebuilt");
    Ok(true)
}

type FigureRow = (String, i64, i64, i64, String, i64, i64, i64, i64, i64, i64);

/// The figures as kept and as recomputed from the opportunities, side by side where they
/// differ (rows adding up to nothing left out): empty when they agree.
pub async fn differences(db: &Db) -> Result<Vec<String>> {
    let cast = "SELECT kind, day, owner_id, branch_id, status, CAST(n AS BIGINT), CAST(amount AS BIGINT), CAST(booked AS BIGINT), \
                CAST(showed AS BIGINT), CAST(sold AS BIGINT), CAST(lost AS BIGINT) FROM";
    let mut conn = db.pool.acquire().await?;
    let mut kept: Vec<FigureRow> = sqlx::query_as(&format!(
        "{cast} sales_figures f WHERE n <> 0 OR amount <> 0 OR booked <> 0 OR showed <> 0 OR sold <> 0 OR lost <> 0"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let mut fresh: Vec<FigureRow> =
        sqlx::query_as(&format!("{cast} ({}) f", grouped(&contributions("opportunities", 1)))).fetch_all(&mut *conn).await?;
    kept.sort();
    fresh.sort();
    let mut out = Vec::new();
    for r in kept.iter().filter(|r| !fresh.contains(r)) {
        out.push(format!("kept, not recomputed: {r:?}"));
    }
    for r in fresh.iter().filter(|r| !kept.contains(r)) {
        out.push(format!("recomputed, not kept: {r:?}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    #[test]
    fn days_are_local_midnights() {
        let z = Zone::default();
        let m = midnights(z);
        assert_eq!(
            m.len() as i64,
            (NaiveDate::from_ymd_opt(END_YEAR, 1, 1).unwrap() - NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).unwrap()).num_days()
        );
        assert!(m.windows(2).all(|w| w[0] < w[1]));
        let d = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let i = (d - NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).unwrap()).num_days() as usize;
        assert_eq!(m[i], z.midnight(d));
        assert_eq!(m[i + 1] - m[i], 25 * 3_600_000, "the day winter time starts");
        assert_eq!(d.year(), 2026);
    }
}
