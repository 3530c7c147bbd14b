//! The command line, run as a real process.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

fn carnet(db: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carnet"));
    cmd.args(args)
        .env("DATABASE_URL", db)
        .env("CARNET_LOG", "error")
        .env_remove("CARNET_CONFIG")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn carnet");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn admin_commands_migrate_and_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("cli.db").display());
    let (ok, out, err) = carnet(&db, &["migrate"], None);
    assert!(ok, "{err}");
    assert!(out.contains("migration"));

    let (ok, out, err) = carnet(
        &db,
        &["admin", "create-user", "--email", "chef@example.fr", "--name", "Chef", "--role", "administrateur", "--password-stdin"],
        Some("un-long-mot-de-passe\n"),
    );
    assert!(ok, "{err}");
    assert!(out.contains("chef@example.fr"));
    // Bad input: non-zero exit with a message naming the problem.
    let (ok, _, err) = carnet(
        &db,
        &["admin", "create-user", "--email", "chef@example.fr", "--name", "Chef", "--role", "administrateur", "--password-stdin"],
        Some("un-long-mot-de-passe\n"),
    );
    assert!(!ok);
    assert!(err.contains("email"), "{err}");
    let (ok, _, err) = carnet(
        &db,
        &["admin", "create-user", "--email", "x@example.fr", "--name", "X", "--role", "pape", "--password-stdin"],
        Some("un-long-mot-de-passe\n"),
    );
    assert!(!ok);
    assert!(err.contains("Unknown role"), "{err}");
    let (ok, _, err) = carnet(
        &db,
        &["admin", "create-user", "--email", "y@example.fr", "--name", "Y", "--role", "technicien", "--password-stdin"],
        Some("court\n"),
    );
    assert!(!ok);
    assert!(err.contains("password"), "{err}");
    let (ok, _, err) = carnet(&db, &["admin", "create-user", "--email", "z@example.fr", "--name", "Z", "--role", "technicien"], None);
    assert!(!ok);
    assert!(err.contains("--password-stdin"), "{err}");
    let (ok, _, err) = carnet(&db, &["admin", "create-user", "--email", "z@example.fr"], None);
    assert!(!ok, "missing arguments");
    assert!(err.contains("--name"), "{err}");

    let (ok, out, err) = carnet(&db, &["admin", "create-token", "--user", "chef@example.fr", "--name", "script"], None);
    assert!(ok, "{err}");
    assert!(out.trim().starts_with("carnet_"));
    let (ok, _, err) = carnet(&db, &["admin", "create-token", "--user", "personne@example.fr", "--name", "script"], None);
    assert!(!ok);
    assert!(err.contains("no user"), "{err}");

    let (ok, out, err) = carnet(&db, &["jobs", "run", "housekeeping"], None);
    assert!(ok, "{err}");
    assert!(out.contains("housekeeping"));
    let (ok, _, err) = carnet(&db, &["jobs", "run", "nope"], None);
    assert!(!ok);
    assert!(err.contains("Unknown job"), "{err}");
    let (ok, _, _) = carnet(&db, &["frobnicate"], None);
    assert!(!ok);
}

#[test]
fn config_check_masks_secrets_and_reports_bad_config() {
    let (ok, out, err) = carnet("postgres://carnet:tres-secret@db.example:5432/carnet", &["config", "check"], None);
    assert!(ok, "{err}");
    assert!(out.contains("postgres://carnet:****@db.example:5432/carnet"));
    assert!(!out.contains("tres-secret"));
    assert!(out.contains("listen = \"127.0.0.1:8080\""));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("carnet.toml");
    std::fs::write(&file, "listen = \"0.0.0.0:9999\"\nmax_body_bytes = 2048\n").unwrap();
    let (ok, out, _) = carnet("sqlite://x.db", &["--config", file.to_str().unwrap(), "config", "check"], None);
    assert!(ok);
    assert!(out.contains("0.0.0.0:9999") && out.contains("max_body_bytes = 2048"));
    std::fs::write(&file, "listen = \"not an address\"\n").unwrap();
    let (ok, _, err) = carnet("sqlite://x.db", &["--config", file.to_str().unwrap(), "config", "check"], None);
    assert!(!ok);
    assert!(err.contains("invalid configuration"), "{err}");
    let (ok, _, err) = carnet("mysql://x", &["migrate"], None);
    assert!(!ok);
    assert!(err.contains("unsupported database URL"), "{err}");
}

#[test]
fn serve_demo_prints_url_and_login_and_loads_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    for round in 0..2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_carnet"))
            .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
            .env("DATABASE_URL", &db)
            .env("CARNET_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut text = String::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut buf = [0u8; 256];
        while !text.contains("password") && std::time::Instant::now() < deadline {
            use std::io::Read;
            let n = out.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(text.contains("http://127.0.0.1:"), "round {round}: {text}");
        assert!(text.contains("admin@carnet.demo") && text.contains(carnet::demo::PASSWORD), "{text}");
    }
    // Loading twice added nothing.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let d = carnet::db::Db::connect(&db, None, 1).await.unwrap();
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&d.pool).await.unwrap();
        let units: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM org_units").fetch_one(&d.pool).await.unwrap();
        let groups: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_groups").fetch_one(&d.pool).await.unwrap();
        assert_eq!((users, units, groups), (13, 12, 6));
        let customers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers").fetch_one(&d.pool).await.unwrap();
        let contacts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contacts").fetch_one(&d.pool).await.unwrap();
        assert_eq!((customers, contacts), (42, 16), "40 customers, and 2 created by the demo's Internet leads");
        let statuses: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT status) FROM opportunities").fetch_one(&d.pool).await.unwrap();
        assert_eq!(statuses, 13, "opportunities in every status");
        let leads: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leads").fetch_one(&d.pool).await.unwrap();
        let meetings: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM meetings").fetch_one(&d.pool).await.unwrap();
        let calls: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls").fetch_one(&d.pool).await.unwrap();
        assert!(leads == 3 && meetings > 0 && calls > 0, "leads {leads}, meetings {meetings}, calls {calls}");
        let requests: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM service_requests").fetch_one(&d.pool).await.unwrap();
        let interventions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM interventions").fetch_one(&d.pool).await.unwrap();
        let returns: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM equipment_returns").fetch_one(&d.pool).await.unwrap();
        assert!(
            requests == 8 && interventions > 0 && returns == 1,
            "requests {requests}, interventions {interventions}, returns {returns}"
        );
        let roles: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT r.code FROM users u JOIN roles r ON r.id = u.role_id").fetch_all(&d.pool).await.unwrap();
        assert_eq!(roles.len(), 8, "a user of every role");
        let partners: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM partners").fetch_one(&d.pool).await.unwrap();
        let partner_users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM partner_users").fetch_one(&d.pool).await.unwrap();
        let news: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM news_items").fetch_one(&d.pool).await.unwrap();
        assert_eq!((partners, partner_users, news), (2, 3, 2), "the demo's partners, loaded once");
    });
}

#[test]
fn serve_without_demo_explains_how_to_create_the_first_admin() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("empty.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_carnet"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", &db)
        .env("CARNET_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 256];
    while !text.contains("create-user") {
        use std::io::Read;
        let n = out.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains("carnet admin create-user"), "{text}");
}

#[test]
fn unrelated_carnet_variables_are_not_configuration() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carnet"));
    let out = cmd
        .args(["config", "check"])
        .env("CARNET_TEST_POSTGRES_URL", "postgres://x")
        .env("CARNET_LISTEN", "127.0.0.1:9191")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("127.0.0.1:9191"));
}

#[test]
fn send_test_email_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("mail.db").display());
    let outbox = dir.path().join("outbox");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_carnet"))
            .args(args)
            .env("DATABASE_URL", &db)
            .env("CARNET_LOG", "error")
            .env("CARNET_MAIL_DIR", &outbox)
            .output()
            .unwrap()
    };
    let out = run(&["admin", "send-test-email", "--to", "Julie <julie@example.fr>"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sent to julie@example.fr via file"));
    let files: Vec<_> = std::fs::read_dir(&outbox).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    let raw = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(raw.contains("julie@example.fr") && raw.contains("Subject: Courriel de test"), "{raw}");
    let out = run(&["admin", "send-test-email", "--to", "not an address"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--to"));
    // An unreachable server: the email stays queued, the command says so and fails.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_carnet"))
        .args(["admin", "send-test-email", "--to", "julie@example.fr"])
        .env("DATABASE_URL", &db)
        .env("CARNET_LOG", "error")
        .env("CARNET_SMTP_URL", format!("smtp://127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stays queued"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("term.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_carnet"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &db)
        .env("CARNET_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Runs `carnet` with `args` and extra environment (no configuration file unless given);
/// (success, stdout, stderr, seconds taken).
fn carnet_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String, f64) {
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_carnet"))
        .args(args)
        .env("CARNET_LOG", "error")
        .env_remove("CARNET_CONFIG")
        .env_remove("DATABASE_URL")
        .envs(env.iter().copied())
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
        started.elapsed().as_secs_f64(),
    )
}

#[test]
fn malformed_smtp_urls_are_refused_by_serve_and_config_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("smtp.db").display());
    for bad in
        ["smtp//oops", "http://mail.example:25", "smtp://", "smtp://u:tres-secret@mail.example:99999", "smtp://mail.example?tls=maybe"]
    {
        let env = [("DATABASE_URL", db.as_str()), ("CARNET_SMTP_URL", bad)];
        let (ok, _, err, _) = carnet_env(&["config", "check"], &env);
        assert!(!ok, "config check accepted {bad}");
        assert!(err.contains("smtp_url") && err.contains("invalid"), "{bad}: {err}");
        assert!(!err.contains("tres-secret"), "the password is masked: {err}");
        let (ok, out, err, secs) = carnet_env(&["serve", "--listen", "127.0.0.1:0"], &env);
        assert!(!ok, "serve started with {bad}: {out}");
        assert!(err.contains("smtp_url"), "{bad}: {err}");
        assert!(!err.contains("tres-secret"), "{err}");
        assert!(secs < 10.0, "refused at once ({secs} s)");
    }
    // Nothing was created by the refused start-ups.
    assert!(!dir.path().join("smtp.db").exists(), "serve refused before opening the database");
    let (ok, _, err, _) = carnet_env(&["config", "check"], &[("CARNET_SMTP_URL", "smtps://u:p@mail.example:465")]);
    assert!(ok, "{err}");
}

#[test]
fn a_named_configuration_file_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let missing = dir.path().join("nope.toml");
    let missing = missing.to_str().unwrap();
    let (ok, _, err, _) = carnet_env(&["--config", missing, "migrate"], &[("DATABASE_URL", &db)]);
    assert!(!ok);
    assert!(err.contains(missing) && err.contains("does not exist"), "{err}");
    let (ok, _, err, _) = carnet_env(&["migrate"], &[("DATABASE_URL", &db), ("CARNET_CONFIG", missing)]);
    assert!(!ok);
    assert!(err.contains("does not exist"), "{err}");
    let folder = dir.path().to_str().unwrap();
    let (ok, _, err, _) = carnet_env(&["serve", "--listen", "127.0.0.1:0"], &[("DATABASE_URL", &db), ("CARNET_CONFIG", folder)]);
    assert!(!ok);
    assert!(err.contains("is not a file"), "{err}");
    assert!(!dir.path().join("c.db").exists(), "no fresh empty database was started");
    let file = dir.path().join("ok.toml");
    std::fs::write(&file, "max_body_bytes = 4096\n").unwrap();
    let (ok, out, err, _) = carnet_env(&["config", "check"], &[("CARNET_CONFIG", file.to_str().unwrap())]);
    assert!(ok && out.contains("max_body_bytes = 4096"), "{err}");
}

#[test]
fn a_database_that_cannot_be_used_is_reported_at_once() {
    // SQLite: no file named; a file that is not a database.
    let (ok, _, err, _) = carnet_env(&["--database", "sqlite://", "migrate"], &[]);
    assert!(!ok);
    assert!(err.contains("database_url") && err.contains("no database file"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "these are not the pages of a database\n".repeat(200)).unwrap();
    let url = format!("sqlite://{}", text.display());
    let (ok, _, err, secs) = carnet_env(&["--database", &url, "migrate"], &[]);
    assert!(!ok);
    assert!(err.contains("cannot open the database") && err.contains("notes.txt") && err.contains("not a database"), "{err}");
    assert!(secs < 10.0, "failed fast ({secs} s)");
    assert_eq!(std::fs::read_to_string(&text).unwrap(), "these are not the pages of a database\n".repeat(200), "the file is untouched");
    // PostgreSQL: a closed port, the password masked.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://carnet:tres-secret@127.0.0.1:{port}/carnet");
    for args in [vec!["migrate"], vec!["serve", "--listen", "127.0.0.1:0"], vec!["jobs", "list"]] {
        let (ok, _, err, secs) = carnet_env(&args, &[("DATABASE_URL", &url)]);
        assert!(!ok, "{args:?}");
        assert!(err.contains(&format!("postgres://carnet:****@127.0.0.1:{port}/carnet")), "{err}");
        assert!(!err.contains("tres-secret"), "{err}");
        assert!(err.to_lowercase().contains("refused"), "the cause is given: {err}");
        assert!(secs < 10.0, "{args:?} failed fast ({secs} s)");
    }
}

#[test]
fn send_test_email_reports_the_outcome_when_a_running_server_delivers_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("race.db").display());
    let outbox = dir.path().join("outbox");
    let outbox = outbox.to_str().unwrap();
    let (ok, _, err) = carnet(&db, &["migrate"], None);
    assert!(ok, "{err}");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // A running server whose worker looks for jobs every 5 ms.
    let _server = common::Proc(
        Command::new(env!("CARGO_BIN_EXE_carnet"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", &db)
            .env("CARNET_LOG", "error")
            .env("CARNET_MAIL_DIR", outbox)
            .env("CARNET_JOB_POLL_MS", "5")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    common::wait_for_port(port, "carnet serve", 30);
    let mut by_server = 0;
    for round in 0..8 {
        let (ok, out, err, _) =
            carnet_env(&["admin", "send-test-email", "--to", "julie@example.fr"], &[("DATABASE_URL", &db), ("CARNET_MAIL_DIR", outbox)]);
        assert!(ok, "round {round}: the command fails with {err:?}");
        assert!(out.contains("sent to julie@example.fr via file (by worker "), "round {round}: {out}");
        if out.contains("-worker-") {
            by_server += 1;
        }
    }
    let files = std::fs::read_dir(outbox).unwrap().count();
    assert_eq!(files, 8, "each email written once");
    eprintln!("{by_server} of 8 delivered by the server's worker");
}

/// `carnet --version`: the release and the commit built (issue 22); "unknown" outside a git
/// checkout, which the build script itself is run to prove.
#[test]
fn version_names_the_release_and_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_carnet")).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let prefix = format!("carnet {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&prefix) && text.ends_with(')'), "{text}");
    let commit = &text[prefix.len()..text.len() - 1];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match (std::env::var("CARNET_GIT_COMMIT").ok().filter(|s| !s.is_empty()), head) {
        (Some(given), _) => assert_eq!(commit, given),
        (None, Some(head)) if root.join(".git").exists() => assert_eq!(commit, head, "the commit checked out"),
        _ => assert_eq!(commit, "unknown"),
    }
    // The build script, run where there is no .git (a source archive): "unknown", no failure.
    let target = std::path::Path::new(env!("CARGO_BIN_EXE_carnet")).parent().unwrap().join("build");
    let script = std::fs::read_dir(&target)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("build-script-build"))
        .filter(|p| p.is_file() && p.parent().unwrap().file_name().unwrap().to_string_lossy().starts_with("carnet-"))
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .expect("carnet's build script");
    let bare = tempfile::tempdir().unwrap();
    let out = Command::new(&script).current_dir(bare.path()).env_remove("CARNET_GIT_COMMIT").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("cargo:rustc-env=CARNET_GIT_COMMIT=unknown\n"));
}
