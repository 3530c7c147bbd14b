//! The storage layer under load (issue 15): on SQLite, write transactions of a process queue
//! in order for the one write lock instead of sleeping on the busy timeout.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use carnet::db::Db;

/// A writer holds the write lock while eight others arrive one after the other: they get it
/// in the order they asked, each right after the previous one commits. (On the busy timeout,
/// SQLite's busy handler retries each waiter on its own schedule of growing sleeps: the
/// order is that of the sleeps, and a waiter may sleep up to 100 ms past the release.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_writers_queue_in_order_for_the_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("queue.db").display());
    let db = Db::connect(&url, None, 10).await.unwrap();
    sqlx::query("CREATE TABLE arrivals (seq BIGINT NOT NULL)").execute(&db.pool).await.unwrap();

    let mut first = db.begin().await.unwrap();
    sqlx::query("INSERT INTO arrivals (seq) VALUES (0)").execute(&mut *first).await.unwrap();
    let t0 = Instant::now();
    let waits = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 1..=8i64 {
        let db = db.clone();
        let waits = waits.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20 * i as u64)).await;
            let mut tx = db.begin().await.unwrap();
            waits.lock().unwrap().push((i, t0.elapsed()));
            sqlx::query("INSERT INTO arrivals (seq) VALUES ($1)").bind(i).execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let released = t0.elapsed();
    first.commit().await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let order: Vec<i64> = sqlx::query_scalar("SELECT seq FROM arrivals ORDER BY rowid").fetch_all(&db.pool).await.unwrap();
    assert_eq!(order, (0..=8).collect::<Vec<i64>>(), "writers served in arrival order");
    let last = waits.lock().unwrap().iter().map(|(_, t)| *t).max().unwrap();
    assert!(last - released < Duration::from_millis(80), "the eight queued writers ran within {:?} of the release", last - released);
    db.pool.close().await;
}

/// Write transactions queued together commit together (group commit), each one's failure
/// its own: of eight transactions queued behind a ninth, one fails on a constraint, one is
/// dropped half-way and one rolls back; the others are all committed, with fewer `COMMIT`s
/// than transactions, and each `commit()` returns only once its writes are visible to readers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_queued_writers_commit_together_and_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("group.db").display());
    let db = Db::connect(&url, None, 10).await.unwrap();
    sqlx::query("CREATE TABLE rows (seq BIGINT NOT NULL UNIQUE)").execute(&db.pool).await.unwrap();
    let (units0, commits0) = db.group_commit_stats().unwrap();

    let mut first = db.begin().await.unwrap();
    sqlx::query("INSERT INTO rows (seq) VALUES (0)").execute(&mut *first).await.unwrap();
    let mut tasks = Vec::new();
    for i in 1..=8i64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10 * i as u64)).await;
            let mut tx = db.begin().await.unwrap();
            sqlx::query("INSERT INTO rows (seq) VALUES ($1)").bind(i * 10).execute(&mut *tx).await.unwrap();
            match i {
                // A constraint violation: the statement fails, the caller gives up (drops).
                3 => {
                    let e = sqlx::query("INSERT INTO rows (seq) VALUES (0)").execute(&mut *tx).await;
                    assert!(e.is_err());
                    return false;
                }
                // Dropped half-way (a cancelled request).
                5 => {
                    drop(tx);
                    return false;
                }
                6 => {
                    tx.rollback().await.unwrap();
                    return false;
                }
                _ => {}
            }
            tx.commit().await.unwrap();
            // Committed means readable at once.
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rows WHERE seq = $1").bind(i * 10).fetch_one(&db.pool).await.unwrap();
            assert_eq!(n, 1, "transaction {i} visible once committed");
            true
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    first.commit().await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM rows ORDER BY seq").fetch_all(&db.pool).await.unwrap();
    assert_eq!(seqs, vec![0, 10, 20, 40, 70, 80], "the failed, dropped and rolled-back transactions alone are missing");
    let (units, commits) = db.group_commit_stats().unwrap();
    assert_eq!(units - units0, 6, "six transactions committed");
    assert!(commits - commits0 < 6, "in fewer COMMITs ({} for 6)", commits - commits0);

    // Alone, a transaction commits at once, and the writer goes on after all of the above.
    let mut tx = db.begin().await.unwrap();
    sqlx::query("INSERT INTO rows (seq) VALUES (100)").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(db.group_commit_stats().unwrap(), (units + 1, commits + 1));
    db.close().await;
}

/// How many times PostgreSQL's statistics of `table` (in the app's schema) were refreshed by
/// an `ANALYZE`.
async fn analyzed(app: &common::TestApp, table: &str) -> i64 {
    // A fresh snapshot of the statistics views in each transaction.
    sqlx::query_scalar("SELECT CAST(analyze_count AS BIGINT) FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = $1")
        .bind(table)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

/// PostgreSQL plans from fresh statistics: `ANALYZE` after the migrations, after an import
/// and in the daily housekeeping.
#[tokio::test]
async fn postgres_statistics_are_refreshed_after_migrations_imports_and_housekeeping() {
    if common::pg_url().is_none() {
        eprintln!("CARNET_TEST_POSTGRES_URL not set: skipped");
        return;
    }
    let app = common::TestApp::start(common::Backend::Postgres).await;
    let after_migrations = analyzed(&app, "customers").await;
    assert!(after_migrations >= 1, "customers analysed after the migrations");
    assert!(analyzed(&app, "opportunities").await >= 1, "opportunities analysed after the migrations");

    let admin = app.user("admin@t.fr", "administrateur", None).await;
    let db = &app.state.db;
    let mut csv = String::from("Prénom;Nom;Courriel\n");
    for i in 0..1200 {
        csv.push_str(&format!("Client{i};Nom{i};client{i}@exemple.ca\n"));
    }
    let imp = carnet::customers::import::upload(db, admin, app.now(), "clients.csv", csv.as_bytes()).await.unwrap();
    let mapping: Vec<String> = ["first_name", "last_name", "email"].iter().map(|s| s.to_string()).collect();
    carnet::customers::import::dry_run(db, admin, imp.id, mapping, app.now()).await.unwrap();
    carnet::customers::import::start(db, admin, imp.id, app.now()).await.unwrap();
    common::run_jobs(&app).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 1200);
    let after_import = analyzed(&app, "customers").await;
    assert!(after_import >= after_migrations + 2, "analysed while the import grows the table and at its end ({after_import})");
    assert!(analyzed(&app, "search_terms").await >= after_migrations + 2);

    carnet::jobs::run_now(&app.state.job_context(), &app.state.jobs, "housekeeping").await.unwrap().unwrap();
    assert_eq!(analyzed(&app, "customers").await, after_import + 1, "housekeeping refreshes every table's statistics");
    assert!(analyzed(&app, "sessions").await >= 2);
    app.stop().await;
}

/// Several settings in one statement (lead intake and notifications read theirs so): in the
/// order asked, stored values and defaults alike; an unknown key is an error.
#[tokio::test]
async fn settings_read_together_come_in_the_order_asked_with_their_defaults() {
    for b in common::backends() {
        let app = common::TestApp::start(b).await;
        let db = &app.state.db;
        sqlx::query("DELETE FROM settings WHERE key = 'mail.from_name'").execute(&db.pool).await.unwrap();
        sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ('mail.from_name', 'Concession Roy', 0)")
            .execute(&db.pool)
            .await
            .unwrap();
        let mut conn = db.pool.acquire().await.unwrap();
        let keys = ["leads.routing", "mail.from_name", "mail.reply_domain"];
        let got = carnet::settings::get_many_in(&mut conn, &keys).await.unwrap();
        let mut one_by_one = Vec::new();
        for k in keys {
            one_by_one.push(carnet::settings::get_in(&mut conn, k).await.unwrap());
        }
        assert_eq!(got, one_by_one, "{b:?}");
        assert_eq!(got[1], "Concession Roy");
        assert!(carnet::settings::get_many_in(&mut conn, &["mail.from_name", "no.such.key"]).await.is_err());
        drop(conn);
        app.stop().await;
    }
}

/// On SQLite, the WAL is copied back into the database beside the writer, within a second,
/// not by a commit that happens to cross the checkpoint threshold (every queued writer would
/// wait for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_checkpoints_happen_beside_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wal.db");
    let db = Db::connect(&format!("sqlite://{}", file.display()), None, 4).await.unwrap();
    sqlx::query("CREATE TABLE blobs (body TEXT NOT NULL)").execute(&db.pool).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before = std::fs::metadata(&file).unwrap().len();
    let mut tx = db.begin().await.unwrap();
    for _ in 0..200 {
        sqlx::query("INSERT INTO blobs (body) VALUES ($1)").bind("x".repeat(10_000)).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let wal = std::fs::metadata(dir.path().join("wal.db-wal")).unwrap().len();
    assert!(wal > 1_000_000, "the commit went to the WAL ({wal} bytes)");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = std::fs::metadata(&file).unwrap().len();
    assert!(after > before + 1_000_000, "checkpointed into the database file: {before} → {after} bytes");
    db.close().await;
}
