//! Several processes share one database: jobs are never run twice, scheduled jobs are
//! enqueued once per period. Each "process" here has its own connection pool.

mod common;

use std::sync::Arc;

use carnet::clock::{ManualClock, SharedClock};
use carnet::jobs::{self, JobContext, Period, Registry};
use common::{pg_url, test_config, Backend, T0};

async fn two_workers(backend: Backend) {
    let (config, _dir, schema) = test_config(backend);
    let clock = ManualClock::new(T0);
    let shared: SharedClock = Arc::new(clock.clone());
    let a = carnet::app::prepare(config.clone(), shared.clone()).await.unwrap();
    let b = carnet::app::prepare(config.clone(), shared.clone()).await.unwrap();
    let mut reg = Registry::default();
    reg.register("work", |_, _| async {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        Ok("done".to_string())
    });
    reg.schedule("work", Period::Daily);
    let n = 300;
    let mut tx = a.db.begin().await.unwrap();
    for i in 0..n {
        jobs::enqueue(&mut tx, "work", &serde_json::json!({"i": i}), T0, T0, None).await.unwrap();
    }
    tx.commit().await.unwrap();
    let run = |st: carnet::http::AppState, name: &'static str, reg: Registry| async move {
        let ctx: JobContext = st.job_context();
        let mut ran = 0;
        while jobs::run_one(&ctx, &reg, name).await.unwrap() {
            ran += 1;
        }
        ran
    };
    let (ra, rb) = tokio::join!(run(a.clone(), "worker-a", reg.clone()), run(b.clone(), "worker-b", reg.clone()));
    assert_eq!(ra + rb, n, "every job ran");
    assert!(ra > 0 && rb > 0, "both workers took jobs ({ra} / {rb})");
    let twice: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT job_id FROM job_runs GROUP BY job_id HAVING COUNT(*) > 1) x")
        .fetch_one(&a.db.pool)
        .await
        .unwrap();
    assert_eq!(twice, 0, "no job ran twice");
    let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status = 'done'").fetch_one(&a.db.pool).await.unwrap();
    assert_eq!(done, n as i64);

    // Both processes run their scheduler at the same moment: one job for the period.
    let (ca, cb) = (a.job_context(), b.job_context());
    let (x, y) = tokio::join!(jobs::schedule_due(&ca, &reg), jobs::schedule_due(&cb, &reg));
    assert_eq!(x.unwrap() + y.unwrap(), 1);

    a.db.pool.close().await;
    b.db.pool.close().await;
    if let (Some(s), Some(url)) = (schema, pg_url()) {
        let db = carnet::db::Db::connect(&url, None, 1).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA {s} CASCADE")).execute(&db.pool).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_never_run_a_job_twice_on_sqlite() {
    two_workers(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_never_run_a_job_twice_on_postgres() {
    if pg_url().is_none() {
        eprintln!("CARNET_TEST_POSTGRES_URL not set: PostgreSQL half skipped");
        return;
    }
    two_workers(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_starting_together_migrate_once() {
    let backends = if pg_url().is_some() { vec![Backend::Sqlite, Backend::Postgres] } else { vec![Backend::Sqlite] };
    for backend in backends {
        let (config, _dir, schema) = test_config(backend);
        let shared: SharedClock = Arc::new(ManualClock::new(T0));
        let (a, b, c) = tokio::join!(
            carnet::app::prepare(config.clone(), shared.clone()),
            carnet::app::prepare(config.clone(), shared.clone()),
            carnet::app::prepare(config.clone(), shared.clone())
        );
        let a = a.unwrap();
        b.unwrap();
        c.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations").fetch_one(&a.db.pool).await.unwrap();
        assert_eq!(n, carnet::db::MIGRATIONS.len() as i64);
        let roles: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM roles").fetch_one(&a.db.pool).await.unwrap();
        assert_eq!(roles, 7, "default roles created once");
        if let (Some(s), Some(url)) = (schema, pg_url()) {
            a.db.pool.close().await;
            let db = carnet::db::Db::connect(&url, None, 1).await.unwrap();
            sqlx::query(&format!("DROP SCHEMA {s} CASCADE")).execute(&db.pool).await.unwrap();
        }
    }
}
