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
        assert_eq!(roles, 8, "default roles created once");
        if let (Some(s), Some(url)) = (schema, pg_url()) {
            a.db.pool.close().await;
            let db = carnet::db::Db::connect(&url, None, 1).await.unwrap();
            sqlx::query(&format!("DROP SCHEMA {s} CASCADE")).execute(&db.pool).await.unwrap();
        }
    }
}

/// The status and worker of job `id`.
async fn job_state(db: &carnet::db::Db, id: i64) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, locked_by FROM jobs WHERE id = $1").bind(id).fetch_one(&db.pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_workers_email_is_delivered_within_one_lease_while_a_live_worker_keeps_its_job() {
    for backend in common::backends() {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().to_path_buf();
        // A lease of 900 ms: live workers renew it every 300 ms.
        let app = common::TestApp::start_with(backend, move |c| {
            c.job_lease_ms = 900;
            c.mail_dir = dir;
        })
        .await;
        let db = &app.state.db;
        let now = app.now();
        let to = carnet::mail::Mailbox::parse("julie@client.test").unwrap();
        let email = carnet::mail::send_test(db, &carnet::access::Actor::system(), now, to, carnet::i18n::Lang::Fr).await.unwrap();
        // A worker on another machine claims the email's delivery, then dies (kill -9).
        let dead = jobs::Worker::register_as(db, now, "worker", Some("machine-a".into()), 4242).await.unwrap();
        let abandoned = jobs::claim_leased(db, &dead.id, now, 900).await.unwrap().expect("the delivery job");
        // A live worker runs a long job; its heartbeat keeps it.
        let mut reg = (*app.state.jobs).clone();
        let release = Arc::new(tokio::sync::Notify::new());
        let r = release.clone();
        reg.register("long", move |_, _| {
            let r = r.clone();
            async move {
                r.notified().await;
                Ok("long done".to_string())
            }
        });
        let mut tx = db.begin().await.unwrap();
        let long = jobs::enqueue(&mut tx, "long", &serde_json::json!({}), now, now, None).await.unwrap().unwrap();
        tx.commit().await.unwrap();
        let live = jobs::Worker::register_as(db, now, "worker", Some("machine-b".into()), 4343).await.unwrap();
        let ctx = app.state.job_context();
        let (lctx, lreg, lid) = (ctx.clone(), reg.clone(), live.id.clone());
        let running = tokio::spawn(async move { jobs::run_one(&lctx, &lreg, &lid).await.unwrap() });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while job_state(db, long).await.0 != "running" {
            assert!(std::time::Instant::now() < deadline, "the live worker took its job");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // The lease runs out (the database's time); the live worker's heartbeat renews its own.
        app.clock.advance(901);
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        // A new worker takes the dead worker's job, not the live one's.
        let fresh = jobs::Worker::register_as(db, app.now(), "worker", Some("machine-c".into()), 4444).await.unwrap();
        assert!(jobs::run_one(&ctx, &reg, &fresh.id).await.unwrap(), "the abandoned delivery is taken again");
        assert!(!jobs::run_one(&ctx, &reg, &fresh.id).await.unwrap(), "the live worker's job is not");
        assert_eq!(job_state(db, abandoned.id).await, ("done".to_string(), Some(fresh.id.clone())));
        assert_eq!(job_state(db, long).await, ("running".to_string(), Some(live.id.clone())));
        let e = carnet::mail::get(db, email).await.unwrap().unwrap();
        assert_eq!((e.status.as_str(), e.delivered_by.as_deref()), ("sent", Some(fresh.id.as_str())));
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
        release.notify_one();
        assert!(running.await.unwrap());
        assert_eq!(job_state(db, long).await.0, "done", "the live worker finished its job, once");
        let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_runs WHERE job_id = $1").bind(long).fetch_one(&db.pool).await.unwrap();
        assert_eq!(runs, 1);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_starting_process_releases_its_dead_predecessors_claims_on_this_host_only() {
    let Some(here) = jobs::host_key() else {
        eprintln!("no host key on this system: nothing is released by process id");
        return;
    };
    for backend in common::backends() {
        let app = common::TestApp::start(backend).await;
        let db = &app.state.db;
        let now = app.now();
        let mut tx = db.begin().await.unwrap();
        for i in 0..4 {
            jobs::enqueue(&mut tx, "housekeeping", &serde_json::json!({ "i": i }), now, now, None).await.unwrap();
        }
        tx.commit().await.unwrap();
        let me = std::process::id();
        // Claims of: a process of this host that no longer runs; an earlier run with this very
        // process id (a container restarted as pid 1); a live process of this host (this one,
        // registered separately); a process of another machine.
        let workers = [
            ("gone", here.as_str(), 999_999_999i64),
            ("earlier", here.as_str(), i64::from(me)),
            ("alive", here.as_str(), i64::from(std::os::unix::process::parent_id())),
            ("elsewhere", "another-machine", 999_999_998),
        ];
        let mut claimed = Vec::new();
        for (id, host, pid) in workers {
            sqlx::query("INSERT INTO workers (id, host, pid, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $4)")
                .bind(id)
                .bind(host)
                .bind(pid)
                .bind(now)
                .execute(&db.pool)
                .await
                .unwrap();
            claimed.push(jobs::claim(db, id, now).await.unwrap().unwrap().id);
        }
        // The new run of this process starts: at once, without the clock moving.
        let _new = jobs::Worker::register(db, now, "worker").await.unwrap();
        assert_eq!(job_state(db, claimed[0]).await, ("queued".to_string(), None), "a process that no longer runs");
        assert_eq!(job_state(db, claimed[1]).await, ("queued".to_string(), None), "an earlier run with this process id");
        assert_eq!(job_state(db, claimed[2]).await.0, "running", "a live process keeps its job");
        assert_eq!(job_state(db, claimed[3]).await.0, "running", "another machine's worker is left to its lease");
        let left: Vec<String> =
            sqlx::query_scalar("SELECT id FROM workers WHERE id IN ('gone', 'earlier', 'alive', 'elsewhere') ORDER BY id")
                .fetch_all(&db.pool)
                .await
                .unwrap();
        assert_eq!(left, ["alive", "elsewhere"], "the dead workers are forgotten");
        app.stop().await;
    }
}
