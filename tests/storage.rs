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
