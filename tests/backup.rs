//! Backup and restore (issue 22). SQLite: `carnet backup` of a live database under write
//! load restores every lead acknowledged before the backup started, with the documents; a
//! damaged or altered archive, a newer schema and a non-empty target are refused, and the
//! target is left as it was. PostgreSQL: the documented `pg_dump`/`pg_restore` path, restored
//! into a fresh database that Carnet then serves (when `CARNET_TEST_POSTGRES_URL` is set and
//! the client tools are installed).

mod common;

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

const CLIENTS: usize = 4;

fn carnet(db: &str, docs: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_carnet"))
        .args(args)
        .env("DATABASE_URL", db)
        .env("CARNET_DOCUMENTS_DIR", docs)
        .env("CARNET_LOG", "error")
        .env_remove("CARNET_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("carnet runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

async fn lead_keys(db: &str) -> std::collections::HashSet<String> {
    let d = carnet::db::Db::connect(db, None, 1).await.unwrap();
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT idempotency_key FROM leads WHERE idempotency_key IS NOT NULL").fetch_all(&d.pool).await.unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&d.pool).await.unwrap();
    assert_eq!(check, "ok");
    d.close().await;
    keys.into_iter().collect()
}

fn sha(path: &std::path::Path) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_write_load_restores_every_lead_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("live.db").display());
    let docs = dir.path().join("documents");
    std::fs::create_dir_all(docs.join("2026/11")).unwrap();
    std::fs::write(docs.join("2026/11/doc-1.pdf"), b"%PDF-1.4 a document\n").unwrap();
    std::fs::write(docs.join("doc-2.bin"), vec![7u8; 70_000]).unwrap();
    let run = |args: &[&str], stdin: Option<&str>| common::run_cli(&db, &[], args, stdin);
    run(
        &["admin", "create-user", "--email", "bdc@t.fr", "--name", "Agent", "--role", "agent_bdc", "--password-stdin"],
        Some("un-long-mot-de-passe"),
    );
    let token = run(&["admin", "create-token", "--user", "bdc@t.fr", "--name", "web"], None);

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = common::Proc(
        Command::new(env!("CARGO_BIN_EXE_carnet"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", &db)
            .env("CARNET_DOCUMENTS_DIR", &docs)
            .env("CARNET_LOG", "error")
            .env("CARNET_RUN_JOBS", "false")
            .env_remove("CARNET_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    common::wait_for_port(port, "carnet serve", 60);

    // Leads posted without pause by several clients, each acknowledgement timed.
    let acknowledged: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (token, acknowledged, stop) = (token.clone(), acknowledged.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let key = format!("backup-{c}-{n}");
                n += 1;
                let r = http
                    .post(format!("http://127.0.0.1:{port}/api/v1/leads"))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", &key)
                    .json(&json!({"first_name": "Charge", "last_name": format!("{c} {n}"), "email": format!("{key}@exemple.ca"), "message": "Dispo ?"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
                acknowledged.lock().unwrap().push((key, Instant::now()));
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let archive = dir.path().join("carnet-backup.tar.gz");
    let started = Instant::now();
    let (db2, docs2, archive2) = (db.clone(), docs.clone(), archive.clone());
    let out = tokio::task::spawn_blocking(move || carnet(&db2, &docs2, &["backup", "--to", archive2.to_str().unwrap()])).await.unwrap();
    let ended = Instant::now();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("2 document(s)"), "{}", text(&out));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let acked = acknowledged.lock().unwrap().clone();
    let before: Vec<&String> = acked.iter().filter(|(_, at)| *at < started).map(|(k, _)| k).collect();
    let after = acked.len() - before.len();
    eprintln!("{} leads acknowledged before the backup started, {after} after", before.len());
    assert!(before.len() >= CLIENTS, "leads were taken before the backup ({})", before.len());
    let during = acked.iter().filter(|(_, at)| *at > started && *at < ended).count();
    assert!(during > 0 && after >= during, "leads were acknowledged while the backup ran ({during})");
    assert!(!archive.with_extension("partial").exists());

    // Restored elsewhere: every lead acknowledged before the backup started is there.
    let restored = format!("sqlite://{}", dir.path().join("restored/carnet.db").display());
    let restored_docs = dir.path().join("restored/documents");
    let out = carnet(&restored, &restored_docs, &["restore", "--from", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let keys = lead_keys(&restored).await;
    let lost: Vec<&&String> = before.iter().filter(|k| !keys.contains(**k)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} leads acknowledged before the backup are missing, e.g. {:?}",
        lost.len(),
        before.len(),
        lost.first()
    );
    assert!(keys.len() <= acked.len());
    assert_eq!(std::fs::read(restored_docs.join("2026/11/doc-1.pdf")).unwrap(), b"%PDF-1.4 a document\n");
    assert_eq!(sha(&restored_docs.join("doc-2.bin")), sha(&docs.join("doc-2.bin")));
    // The restored database is current and usable.
    let out = carnet(&restored, &restored_docs, &["migrate"]);
    assert!(text(&out).contains("0 migration(s) applied"), "{}", text(&out));
    let out = carnet(&restored, &restored_docs, &["admin", "create-token", "--user", "bdc@t.fr", "--name", "again"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// The entries of a `.tar.gz` archive, in order.
fn entries(archive: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let f = std::fs::File::open(archive).unwrap();
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(f));
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

fn repack(to: &std::path::Path, items: &[(String, Vec<u8>)]) {
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(to).unwrap(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, data) in items {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o600);
        h.set_entry_type(tar::EntryType::Regular);
        // The name written as is (the builder refuses `..`, as a hostile archive would not).
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

#[tokio::test]
async fn damaged_altered_or_newer_archives_and_non_empty_targets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("source.db").display());
    let docs = dir.path().join("documents");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("contrat.pdf"), b"original content").unwrap();
    common::run_cli(
        &db,
        &[],
        &["admin", "create-user", "--email", "chef@t.fr", "--name", "Chef", "--role", "administrateur", "--password-stdin"],
        Some("un-long-mot-de-passe"),
    );
    let archive = dir.path().join("b.tar.gz");
    let out = carnet(&db, &docs, &["backup", "--to", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let items = entries(&archive);
    assert_eq!(items.last().unwrap().0, "manifest.json");
    let manifest: serde_json::Value = serde_json::from_slice(&items.last().unwrap().1).unwrap();
    assert_eq!(manifest["schema_version"], carnet::db::MIGRATIONS.last().unwrap().version);
    assert_eq!(manifest["files"].as_array().unwrap().len(), 2, "{manifest}");

    let target = dir.path().join("target/carnet.db");
    let target_url = format!("sqlite://{}", target.display());
    let target_docs = dir.path().join("target/documents");
    let refused = |archive: &std::path::Path, why: &str| {
        let out = carnet(&target_url, &target_docs, &["restore", "--from", archive.to_str().unwrap()]);
        assert!(!out.status.success(), "{why}: accepted");
        assert!(text(&out).contains(why), "{why}: {}", text(&out));
        assert!(!target.exists(), "{why}: the target was written");
        assert!(!target_docs.join("contrat.pdf").exists(), "{why}: a document was written");
    };
    // A byte changed in the compressed stream.
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    let damaged = dir.path().join("damaged.tar.gz");
    std::fs::write(&damaged, &bytes).unwrap();
    refused(&damaged, "damaged");
    // Cut short.
    let short = dir.path().join("short.tar.gz");
    std::fs::write(&short, &std::fs::read(&archive).unwrap()[..middle]).unwrap();
    refused(&short, "damaged");
    // A document altered, the archive otherwise well formed: its checksum says so.
    let mut altered = items.clone();
    for (name, data) in &mut altered {
        if name == "documents/contrat.pdf" {
            *data = b"forged content!!".to_vec();
        }
    }
    let forged = dir.path().join("forged.tar.gz");
    repack(&forged, &altered);
    refused(&forged, "checksum mismatch for documents/contrat.pdf");
    // A file the manifest does not list.
    let mut extra = items.clone();
    extra.insert(0, ("documents/extra.sh".into(), b"#!/bin/sh\n".to_vec()));
    let extra_path = dir.path().join("extra.tar.gz");
    repack(&extra_path, &extra);
    refused(&extra_path, "does not list");
    // A path leaving the folder.
    let mut escape = items.clone();
    escape.insert(0, ("../escape.txt".into(), b"x".to_vec()));
    let escape_path = dir.path().join("escape.tar.gz");
    repack(&escape_path, &escape);
    let out = carnet(&target_url, &target_docs, &["restore", "--from", escape_path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(!dir.path().join("target/escape.txt").exists() && !dir.path().join("escape.txt").exists());
    // A schema newer than this binary knows.
    let mut newer = items.clone();
    let mut m = manifest.clone();
    m["schema_version"] = json!(9999);
    newer.last_mut().unwrap().1 = serde_json::to_vec(&m).unwrap();
    let newer_path = dir.path().join("newer.tar.gz");
    repack(&newer_path, &newer);
    refused(&newer_path, "newer than this binary knows");

    // A non-empty database is refused without --force, and left as it was.
    let source = dir.path().join("source.db");
    let other = dir.path().join("other.db");
    let other_url = format!("sqlite://{}", other.display());
    let other_docs = dir.path().join("other-docs");
    common::run_cli(
        &other_url,
        &[],
        &["admin", "create-user", "--email", "autre@t.fr", "--name", "Autre", "--role", "administrateur", "--password-stdin"],
        Some("un-long-mot-de-passe"),
    );
    let before = sha(&other);
    let out = carnet(&other_url, &other_docs, &["restore", "--from", archive.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not empty") && text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(sha(&other), before, "the database was left as it was");
    // With --force it is replaced by the backup's.
    let out = carnet(&other_url, &other_docs, &["restore", "--from", archive.to_str().unwrap(), "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    let d = carnet::db::Db::connect(&other_url, None, 1).await.unwrap();
    let emails: Vec<String> = sqlx::query_scalar("SELECT email FROM users ORDER BY email").fetch_all(&d.pool).await.unwrap();
    d.close().await;
    assert_eq!(emails, vec!["chef@t.fr".to_string()]);
    assert_eq!(std::fs::read(other_docs.join("contrat.pdf")).unwrap(), b"original content");
    assert!(source.exists());

    // PostgreSQL is backed up with its own tools.
    let out = carnet("postgres://u@127.0.0.1:1/x", &docs, &["backup", "--to", dir.path().join("pg.tar.gz").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("pg_dump"), "{}", text(&out));
}

fn has_tool(name: &str) -> bool {
    Command::new(name).arg("--version").output().map(|o| o.status.success()).unwrap_or(false)
}

/// The documented PostgreSQL path: `pg_dump -Fc` of the database, `pg_restore` into a fresh
/// database, Carnet started on it reads the data back.
#[tokio::test]
async fn postgres_dump_restores_into_a_fresh_database_that_carnet_serves() {
    let Some(url) = common::pg_url() else { return };
    if !has_tool("pg_dump") || !has_tool("pg_restore") {
        eprintln!("pg_dump/pg_restore not installed: skipped");
        return;
    }
    let app = common::TestApp::start(common::Backend::Postgres).await;
    let schema = app.state.config.database_schema.clone().unwrap();
    let rep = app.user("rep@dump.test", "representant", None).await;
    let token = app.token_for(rep).await;
    let (s, c) = app
        .api(&token)
        .send(
            "POST",
            "/api/v1/customers",
            Some(json!({"kind": "person", "first_name": "Aline", "last_name": "Dumont", "email": "aline@dump.test"})),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let id = c["id"].as_i64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("carnet.dump");
    let o = Command::new("pg_dump")
        .args(["--format=custom", "--no-owner", "--schema", &schema, "--file"])
        .arg(&dump)
        .arg(&url)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    // A fresh database on the same server.
    let fresh = format!("carnet_restore_{}", std::process::id());
    let admin = carnet::db::Db::connect(&url, None, 1).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {fresh}")).execute(&admin.pool).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {fresh}")).execute(&admin.pool).await.unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    let fresh_url = format!("{base}/{fresh}");
    let o = Command::new("pg_restore").args(["--no-owner", "--exit-on-error", "--dbname", &fresh_url]).arg(&dump).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    app.stop().await;

    let restored = common::TestApp::start_with(common::Backend::Postgres, |c| {
        c.database_url = fresh_url.clone();
        c.database_schema = Some(schema.clone());
    })
    .await;
    let (s, back) = restored.api(&token).get(&format!("/api/v1/customers/{id}")).await;
    assert_eq!(s, 200, "{back}");
    assert_eq!(back["last_name"], "Dumont");
    assert_eq!(back["email"], "aline@dump.test");
    restored.stop().await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {fresh} WITH (FORCE)")).execute(&admin.pool).await.unwrap();
    admin.close().await;
}
