//! The 8-week sweep at the issue's size (issue 15), through the real code: a scratch database
//! made by Carnet's start-up (migrations, figure triggers), `CARNET_SCALE_ROWS` opportunities
//! (2 000 000 by default) written set-wise in SQL (`generate_series`, a recursive CTE on
//! SQLite): created over 26 weeks in time order, 15 % in an exempt status, 5 % in the trash,
//! so that 59 % are due. Then `sweep_measured` at that moment (seconds, transactions, the
//! longest), the daily run a day later, and the checks: each due opportunity expired once with
//! one history row, the dashboard's figures exact. Ignored (minutes of loading):
//!
//! ```sh
//! CARNET_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo test --test expiry_scale -- --ignored --nocapture
//! ```
//!
//! `CARNET_SCALE_BACKENDS=sqlite` (or `postgres`) runs one backend alone.

mod common;

use std::time::Instant;

use common::Backend;
use common::TestApp;

const WEEK: i64 = 7 * 86_400_000;

/// The status of the `g`-th opportunity: 4 % pris en charge, 3 % vendu non livré, 8 % suivi
/// long-terme (the exempt 15 %), 5 % invalide (trash), the rest spread over four others.
const STATUS: &str = "CASE WHEN (g * 7919) % 1000 < 40 THEN 'pris_en_charge' WHEN (g * 7919) % 1000 < 70 THEN 'vendu_non_livre' \
    WHEN (g * 7919) % 1000 < 150 THEN 'suivi_long_terme' WHEN (g * 7919) % 1000 < 200 THEN 'invalide_bdc' \
    WHEN (g * 7919) % 1000 < 400 THEN 'en_traitement' WHEN (g * 7919) % 1000 < 600 THEN 'contacte' \
    WHEN (g * 7919) % 1000 < 800 THEN 'livre' ELSE 'perdu_salle' END";

#[tokio::test]
#[ignore]
async fn the_sweep_over_two_million_opportunities() {
    let rows: i64 = std::env::var("CARNET_SCALE_ROWS").ok().and_then(|s| s.parse().ok()).unwrap_or(2_000_000);
    let only = std::env::var("CARNET_SCALE_BACKENDS").unwrap_or_default();
    // The sweep's warnings (a transaction over 100 ms, with its range) on the standard error.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("carnet=warn"))
        .with_writer(std::io::stderr)
        .try_init();
    for backend in common::backends() {
        let name = if backend == Backend::Sqlite { "sqlite" } else { "postgres" };
        if !only.is_empty() && !only.contains(name) {
            continue;
        }
        let app = TestApp::start(backend).await;
        let db = app.state.db.clone();
        let now = app.now();
        // The figure triggers go while loading (one rebuild after, as a restore does).
        match backend {
            Backend::Sqlite => {
                let names: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'sales_figures_%'")
                        .fetch_all(&db.pool)
                        .await
                        .unwrap();
                for n in names {
                    sqlx::query(&format!("DROP TRIGGER {n}")).execute(&db.pool).await.unwrap();
                }
            }
            Backend::Postgres => {
                let names: Vec<(String, String)> = sqlx::query_as(
                    "SELECT t.tgname::text, c.relname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
                     WHERE t.tgname LIKE 'sales_figures_%' AND c.relnamespace = current_schema()::regnamespace",
                )
                .fetch_all(&db.pool)
                .await
                .unwrap();
                for (t, on) in names {
                    sqlx::query(&format!("DROP TRIGGER {t} ON {on}")).execute(&db.pool).await.unwrap();
                }
            }
        }
        sqlx::query("DELETE FROM report_zone").execute(&db.pool).await.unwrap();
        let customer: i64 = sqlx::query_scalar(
            "INSERT INTO customers (kind, first_name, last_name, company_name, display_name, address, language, notes, particularities, \
             created_at, updated_at, sort_key) VALUES ('person', 'Hélène', 'Côté', '', 'Hélène Côté', '', 'fr', '', '[]', $1, $1, 'cote helene') \
             RETURNING id",
        )
        .bind(now)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        // The schema before migration 35 keeps the flag in `opportunities`.
        let old_schema = sqlx::query("SELECT expired FROM opportunities LIMIT 0").execute(&db.pool).await.is_ok();
        let (flag_col, flag_val) = if old_schema { (", expired", ", 0") } else { ("", "") };
        let first = now - 26 * WEEK;
        let step = 26 * WEEK / rows;
        let started = Instant::now();
        let chunk = 250_000;
        let mut from = 1;
        while from <= rows {
            let to = (from + chunk - 1).min(rows);
            let select = format!(
                "SELECT 'Achat ' || CAST(g AS TEXT), {customer}, 'internet', {STATUS}, NULL, NULL{flag_val}, \
                 CASE WHEN (g * 7919) % 1000 >= 150 AND (g * 7919) % 1000 < 200 THEN 1 ELSE 0 END, {first} + g * {step}, {first} + g * {step}"
            );
            let insert = format!(
                "INSERT INTO opportunities (name, customer_id, lead_type, status, owner_id, branch_id{flag_col}, trashed, created_at, updated_at)"
            );
            let sql = match backend {
                Backend::Sqlite => {
                    format!("WITH RECURSIVE s(g) AS (SELECT {from} UNION ALL SELECT g + 1 FROM s WHERE g < {to}) {insert} {select} FROM s")
                }
                Backend::Postgres => format!("{insert} {select} FROM generate_series(CAST({from} AS BIGINT), {to}) g"),
            };
            sqlx::query(&sql).execute(&db.pool).await.unwrap();
            from = to + 1;
        }
        match backend {
            Backend::Sqlite => {
                sqlx::query("ANALYZE").execute(&db.pool).await.unwrap();
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&db.pool).await.unwrap();
            }
            Backend::Postgres => {
                sqlx::query("VACUUM (ANALYZE)").execute(&db.pool).await.unwrap();
                // The load's gigabyte of WAL checkpointed now, not during the sweep (whose own
                // WAL is printed below): the sweep is measured, not the load's aftermath.
                sqlx::query("CHECKPOINT").execute(&db.pool).await.unwrap();
            }
        }
        let loaded_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        assert!(carnet::reports::figures::ensure(&db, now).await.unwrap());
        let figures_s = started.elapsed().as_secs_f64();
        let cutoff = now - 8 * WEEK;
        let due: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM opportunities WHERE created_at <= $1 AND status NOT IN ('pris_en_charge', 'vendu_non_livre', 'suivi_long_terme')",
        )
        .bind(cutoff)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        eprintln!("{name}: {rows} opportunities ({due} due) loaded in {loaded_s:.1} s, figures built in {figures_s:.1} s");

        let wal = || {
            let db = db.clone();
            async move {
                match backend {
                    Backend::Postgres => sqlx::query_scalar::<_, i64>("SELECT CAST(pg_current_wal_lsn() - '0/0' AS BIGINT)")
                        .fetch_one(&db.pool)
                        .await
                        .unwrap(),
                    Backend::Sqlite => 0,
                }
            }
        };
        let wal_before = wal().await;
        let started = Instant::now();
        // `CARNET_SCALE_WORKERS` tries another number of workers than the backend's.
        let workers = std::env::var("CARNET_SCALE_WORKERS").ok().and_then(|s| s.parse().ok()).unwrap_or(db.backend.bulk_writers());
        let swept = carnet::sales::expiry::sweep_with(&db, now, workers, 2000).await.unwrap();
        let first_s = started.elapsed().as_secs_f64();
        eprintln!(
            "{name}: first sweep: {} expired in {first_s:.2} s, {} transactions ({:.2} s in all), the longest {:.1} ms{}",
            swept.expired,
            swept.batches,
            swept.in_tx.as_secs_f64(),
            swept.longest_tx.as_secs_f64() * 1000.0,
            match backend {
                Backend::Postgres => format!(", {:.0} MB of WAL", (wal().await - wal_before) as f64 / 1e6),
                Backend::Sqlite => String::new(),
            }
        );
        assert_eq!(swept.expired as i64, due);
        // The next day's run: the day's newly due opportunities, over everything already done.
        let next_due: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM opportunities WHERE created_at > $1 AND created_at <= $2 \
             AND status NOT IN ('pris_en_charge', 'vendu_non_livre', 'suivi_long_terme')",
        )
        .bind(cutoff)
        .bind(cutoff + 86_400_000)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        let started = Instant::now();
        let daily = carnet::sales::expiry::sweep_measured(&db, now + 86_400_000).await.unwrap();
        let daily_s = started.elapsed().as_secs_f64();
        eprintln!(
            "{name}: the next day's sweep: {} expired in {daily_s:.2} s, {} transactions ({:.2} s in all), the longest {:.1} ms",
            daily.expired,
            daily.batches,
            daily.in_tx.as_secs_f64(),
            daily.longest_tx.as_secs_f64() * 1000.0
        );
        assert_eq!(daily.expired as i64, next_due);
        let flagged: i64 = sqlx::query_scalar(if old_schema {
            "SELECT COUNT(*) FROM opportunities WHERE expired = 1"
        } else {
            "SELECT COUNT(*) FROM opportunity_expirations"
        })
        .fetch_one(&db.pool)
        .await
        .unwrap();
        // Each expiration its own history row since migration 38 (an event id of its own).
        let audited: i64 = sqlx::query_scalar(if old_schema {
            "SELECT COUNT(*) FROM audit_events WHERE action = 'expire'"
        } else {
            "SELECT (SELECT COUNT(DISTINCT audit_id) FROM opportunity_expirations) + (SELECT COUNT(*) FROM audit_events WHERE action = 'expire')"
        })
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!((flagged, audited), (due + next_due, due + next_due));
        let started = Instant::now();
        let differ = carnet::reports::figures::differences(&db).await.unwrap();
        assert!(differ.is_empty(), "{differ:?}");
        eprintln!("{name}: checked ({:.1} s)", started.elapsed().as_secs_f64());
        app.stop().await;
    }
}
