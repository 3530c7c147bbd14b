//! One migration tree renders the same schema on both backends: same tables, same columns,
//! same nullability.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use carnet::clock::{ManualClock, SharedClock};
use common::{pg_url, test_config, Backend, T0};

#[tokio::test]
async fn sqlite_and_postgres_schemas_match() {
    let Some(url) = pg_url() else {
        eprintln!("CARNET_TEST_POSTGRES_URL not set: schema comparison skipped");
        return;
    };
    let clock: SharedClock = Arc::new(ManualClock::new(T0));
    let (lite_cfg, _dir, _) = test_config(Backend::Sqlite);
    let lite = carnet::app::prepare(lite_cfg, clock.clone()).await.unwrap();
    let (pg_cfg, _, schema) = test_config(Backend::Postgres);
    let schema = schema.unwrap();
    let pg = carnet::app::prepare(pg_cfg, clock).await.unwrap();

    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .fetch_all(&lite.db.pool)
            .await
            .unwrap();
    let mut lite_cols = BTreeSet::new();
    for t in &tables {
        let rows: Vec<(String, i64)> =
            sqlx::query_as(&format!("SELECT name, \"notnull\" FROM pragma_table_info('{t}')")).fetch_all(&lite.db.pool).await.unwrap();
        for (c, nn) in rows {
            lite_cols.insert(format!("{t}.{c} notnull={}", nn != 0));
        }
    }
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, is_nullable::text FROM information_schema.columns WHERE table_schema = $1",
    )
    .bind(&schema)
    .fetch_all(&pg.db.pool)
    .await
    .unwrap();
    let mut pg_cols = BTreeSet::new();
    for (t, c, nullable) in rows {
        pg_cols.insert(format!("{t}.{c} notnull={}", nullable == "NO"));
    }
    // SQLite reports INTEGER PRIMARY KEY columns as nullable; PostgreSQL does not.
    let normalise =
        |s: &BTreeSet<String>| -> BTreeSet<String> { s.iter().map(|x| x.replace(".id notnull=false", ".id notnull=true")).collect() };
    let (l, p) = (normalise(&lite_cols), normalise(&pg_cols));
    let only_lite: Vec<_> = l.difference(&p).collect();
    let only_pg: Vec<_> = p.difference(&l).collect();
    assert!(only_lite.is_empty() && only_pg.is_empty(), "only in SQLite: {only_lite:?}\nonly in PostgreSQL: {only_pg:?}");
    assert!(l.len() > 60);

    pg.db.pool.close().await;
    let db = carnet::db::Db::connect(&url, None, 1).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&db.pool).await.unwrap();
}
