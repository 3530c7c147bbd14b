//! Moving from SQLite to PostgreSQL (issue 22): `carnet migrate-data` copies the demo company
//! from SQLite into a fresh PostgreSQL schema; every table has the same rows, column by column;
//! Carnet then serves the copy (the demo administrator reads the same customer, and new records
//! get new ids); a second copy into the now full schema is refused and changes nothing.
//! Runs when `CARNET_TEST_POSTGRES_URL` is set.

mod common;

use std::process::Command;

use sqlx::Row;

/// Every row of every table, as text, in a stable order.
async fn contents(db: &carnet::db::Db, tables: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for t in tables {
        let rows = sqlx::query(&format!("SELECT * FROM \"{t}\"")).fetch_all(&db.pool).await.unwrap();
        let mut lines: Vec<String> = rows
            .iter()
            .map(|r| {
                let mut cols: Vec<(String, String)> = (0..r.len())
                    .map(|i| {
                        use sqlx::Column;
                        let name = r.columns()[i].name().to_string();
                        let v = r
                            .try_get::<Option<i64>, _>(i)
                            .map(|v| format!("{v:?}"))
                            .or_else(|_| r.try_get::<Option<String>, _>(i).map(|v| format!("{v:?}")))
                            .or_else(|_| r.try_get::<Option<Vec<u8>>, _>(i).map(|v| format!("{v:?}")))
                            .or_else(|_| r.try_get::<Option<f64>, _>(i).map(|v| format!("{v:?}")))
                            .unwrap_or_else(|e| panic!("{t}.{name}: {e}"));
                        (name, v)
                    })
                    .collect();
                cols.sort();
                format!("{t}: {cols:?}")
            })
            .collect();
        lines.sort();
        out.extend(lines);
    }
    out
}

fn migrate_data(from: &str, to: &str, schema: &str) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_carnet"))
        .args(["migrate-data", "--from", from, "--to", to, "--to-schema", schema])
        .env("CARNET_LOG", "error")
        .env_remove("CARNET_CONFIG")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_demo_moves_to_postgresql_whole() {
    let Some(pg) = common::pg_url() else { return };
    let app = common::TestApp::start(common::Backend::Sqlite).await;
    carnet::demo::load(&app.state).await.unwrap();
    let admin = app.login(carnet::demo::ADMIN_EMAIL, carnet::demo::PASSWORD).await.unwrap();
    let customer: i64 = app.count("SELECT MAX(id) FROM customers").await;
    let (_, before) = admin.get_text(&format!("/api/v1/customers/{customer}")).await;
    // The sweep ten weeks on: its expirations carry history event ids from SQLite's
    // `AUTOINCREMENT` counter of `audit_events` (migration 38), beyond its largest row id.
    let swept = carnet::sales::expiry::sweep(&app.state.db, app.now() + 70 * 86_400_000).await.unwrap();
    assert!(swept > 0, "the demo has opportunities to expire");
    let last_event: i64 = app.count("SELECT MAX(audit_id) FROM opportunity_expirations").await;
    assert!(last_event > app.count("SELECT MAX(id) FROM audit_events").await);
    let sqlite_url = app.state.config.database_url.clone();

    let schema = format!("t_move_{}", std::process::id());
    let (ok, out) = migrate_data(&sqlite_url, &pg, &schema);
    assert!(ok, "{out}");
    assert!(out.contains("counts verified"), "{out}");

    // Every table, every row, every column.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    assert!(tables.len() > 50, "{tables:?}");
    let target = carnet::db::Db::connect(&pg, Some(&schema), 2).await.unwrap();
    let (source_rows, target_rows) = (contents(&app.state.db, &tables).await, contents(&target, &tables).await);
    assert!(source_rows.len() > 500, "the demo has data ({})", source_rows.len());
    for (s, t) in source_rows.iter().zip(&target_rows) {
        assert_eq!(s, t);
    }
    assert_eq!(source_rows.len(), target_rows.len());
    let units_with_parent: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM org_units WHERE parent_id IS NOT NULL").fetch_one(&target.pool).await.unwrap();
    assert!(units_with_parent > 0, "self references are copied");

    // A second copy into the full schema is refused, and changes nothing.
    let (ok, out) = migrate_data(&sqlite_url, &pg, &schema);
    assert!(!ok);
    assert!(out.contains("not empty"), "{out}");
    assert_eq!(contents(&target, &tables).await.len(), target_rows.len());
    target.close().await;

    // Carnet serves the copy: the same customer reads the same; a new one gets a new id.
    let moved = common::TestApp::start_with(common::Backend::Postgres, |c| c.database_schema = Some(schema.clone())).await;
    let admin_pg = moved.login(carnet::demo::ADMIN_EMAIL, carnet::demo::PASSWORD).await.unwrap();
    let (status, after) = admin_pg.get_text(&format!("/api/v1/customers/{customer}")).await;
    assert_eq!(status, 200);
    assert_eq!(after, before);
    let r = admin_pg
        .client
        .post(format!("{}/api/v1/customers", moved.url))
        .header("x-csrf-token", &admin_pg.csrf)
        .json(&serde_json::json!({"kind": "person", "last_name": "Nouveau après le déménagement"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    assert!(created["id"].as_i64().unwrap() > customer);
    // Its history event comes after the expirations' (the sequence went on after the counter).
    let first_new_event =
        moved.count(&format!("SELECT MIN(id) FROM audit_events WHERE entity_type = 'customer' AND entity_id = {}", created["id"])).await;
    assert!(first_new_event > last_event, "{first_new_event} > {last_event}");
    moved.stop().await;
    let d = carnet::db::Db::connect(&pg, None, 1).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&d.pool).await.unwrap();
    d.close().await;
    app.stop().await;
}
