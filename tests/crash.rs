//! Crash safety of the SQLite write path (issue 15): the real binary takes leads from
//! several clients at once and is killed with SIGKILL in the middle, again and again; every
//! lead it acknowledged (201) is in the database after each kill, and the file is sound.
//! (WAL with `synchronous = NORMAL`: a commit is in the WAL before it is acknowledged.)

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

const CYCLES: usize = 20;
const CLIENTS: usize = 6;

/// Kills the server even when an assertion fails first.
struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_acknowledged_lead_is_lost_when_the_server_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("crash.db").display());
    let bin = env!("CARGO_BIN_EXE_carnet");
    let run = |args: &[&str], stdin: Option<&str>| common::run_cli(&db, &[], args, stdin);
    run(
        &["admin", "create-user", "--email", "chef@t.fr", "--name", "Chef", "--role", "administrateur", "--password-stdin"],
        Some("un-long-mot-de-passe"),
    );
    let token = run(&["admin", "create-token", "--user", "chef@t.fr", "--name", "crash"], None);
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let mut killed_with_requests_in_flight = 0;
    for cycle in 0..CYCLES {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = Proc(
            std::process::Command::new(bin)
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .env("DATABASE_URL", &db)
                .env("CARNET_LOG", "error")
                .env("CARNET_RUN_JOBS", "false")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "carnet did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let (token, acknowledged, in_flight) = (token.clone(), acknowledged.clone(), in_flight.clone());
            clients.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                for n in 0.. {
                    let key = format!("crash-{cycle}-{c}-{n}");
                    in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let r = http
                        .post(format!("http://127.0.0.1:{port}/api/v1/leads"))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", &key)
                        .json(&json!({"first_name": "Crash", "last_name": format!("{cycle} {c} {n}"),
                            "email": format!("{key}@exemple.ca"), "message": "Disponible ?"}))
                        .send()
                        .await;
                    in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    match r {
                        Ok(resp) if resp.status() == 201 => acknowledged.lock().unwrap().push(key),
                        Ok(resp) => panic!("lead refused: {}", resp.status()),
                        // The server was killed under this request: not acknowledged.
                        Err(_) => return,
                    }
                }
            }));
        }
        // Killed after a varying time, mid-load.
        tokio::time::sleep(Duration::from_millis(150 + 37 * cycle as u64 % 300)).await;
        if in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            killed_with_requests_in_flight += 1;
        }
        server.0.kill().unwrap(); // SIGKILL
        server.0.wait().unwrap();
        for c in clients {
            c.await.unwrap();
        }
        let d = carnet::db::Db::connect(&db, None, 1).await.unwrap();
        let stored: Vec<String> =
            sqlx::query_scalar("SELECT idempotency_key FROM leads WHERE idempotency_key IS NOT NULL").fetch_all(&d.pool).await.unwrap();
        let stored: std::collections::HashSet<String> = stored.into_iter().collect();
        let acked = acknowledged.lock().unwrap().clone();
        let lost: Vec<&String> = acked.iter().filter(|k| !stored.contains(*k)).collect();
        assert!(lost.is_empty(), "cycle {cycle}: {} acknowledged leads lost, e.g. {:?}", lost.len(), lost.first());
        let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&d.pool).await.unwrap();
        assert_eq!(check, "ok", "cycle {cycle}");
        d.close().await;
    }
    let acked = acknowledged.lock().unwrap().len();
    eprintln!("{CYCLES} kills, {killed_with_requests_in_flight} with requests in flight; {acked} acknowledged leads, none lost");
    assert!(acked > CYCLES, "leads were taken ({acked})");
    assert!(killed_with_requests_in_flight > CYCLES / 2, "killed mid-load ({killed_with_requests_in_flight} of {CYCLES})");
}
