//! Logs in production (issue 22): the real binary with `log_format = "json"` (from the
//! environment) writes one JSON object per line, one line per request with its route template,
//! status, latency, user id and request id; and nothing personal or secret reaches the logs
//! of a run that logs in with a password, fails a login, creates a customer with a name, an
//! email and a phone, looks them up by email and phone in the query string, and uses an API
//! token. (The log is the server's standard error, at debug level everywhere.)

mod common;

use std::process::{Command, Stdio};

use serde_json::{json, Value};

const PASSWORD: &str = "Mot-de-passe-Secret-4242";
const WRONG_PASSWORD: &str = "Faux-Passe-Introuvable-77";
const ADMIN_EMAIL: &str = "gerante.journal@exemple-logs.fr";
const REP_EMAIL: &str = "vendeur.journal@exemple-logs.fr";
const CUSTOMER_FIRST: &str = "Philomène";
const CUSTOMER_LAST: &str = "Bergeron-Tranchemontagne";
const CUSTOMER_EMAIL: &str = "philomene.bergeron@client-logs.ca";
const CUSTOMER_PHONE: &str = "514 555-0142";

fn extract(html: &str, marker: &str) -> String {
    common::extract(html, marker).unwrap_or_else(|| panic!("{marker} not found"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_request_lines_and_no_personal_data_or_secret_in_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("logs.db").display());
    let run = |args: &[&str], stdin: Option<&str>| common::run_cli(&db, &[], args, stdin);
    run(
        &["admin", "create-user", "--email", ADMIN_EMAIL, "--name", "Gérante Journal", "--role", "administrateur", "--password-stdin"],
        Some(PASSWORD),
    );
    run(
        &["admin", "create-user", "--email", REP_EMAIL, "--name", "Vendeur Journal", "--role", "representant", "--password-stdin"],
        Some(PASSWORD),
    );
    let token = run(&["admin", "create-token", "--user", REP_EMAIL, "--name", "journal"], None);
    assert!(token.starts_with("carnet_"), "{token}");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log_path = dir.path().join("server.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let _server = common::Proc(
        Command::new(env!("CARGO_BIN_EXE_carnet"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .current_dir(dir.path())
            .env("DATABASE_URL", &db)
            .env_remove("CARNET_CONFIG")
            .env("CARNET_LOG_FORMAT", "json")
            .env("CARNET_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap(),
    );
    common::wait_for_port(port, "carnet serve", 60);
    let base = format!("http://127.0.0.1:{port}");

    // A staff login through the form: a wrong password first, then the right one.
    let browser = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (password, expected) in [(WRONG_PASSWORD, 401), (PASSWORD, 303)] {
        let page = browser.get(format!("{base}/login")).send().await.unwrap().text().await.unwrap();
        let csrf = extract(&page, "name=\"login_csrf\" value=\"");
        let r = browser
            .post(format!("{base}/login"))
            .form(&[("email", ADMIN_EMAIL), ("password", password), ("login_csrf", &csrf), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected);
    }
    assert_eq!(browser.get(format!("{base}/customers")).send().await.unwrap().status(), 200);

    // The sales rep's API token: a customer with a name, an email and a phone, then lookups
    // that carry them in the query string, and a path holding an address (no route).
    let api = reqwest::Client::new();
    let r = api
        .post(format!("{base}/api/v1/customers"))
        .bearer_auth(&token)
        .json(&json!({"kind": "person", "first_name": CUSTOMER_FIRST, "last_name": CUSTOMER_LAST, "email": CUSTOMER_EMAIL, "phone": CUSTOMER_PHONE}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let customer: Value = r.json().await.unwrap();
    let e164 = customer["phone"].as_str().unwrap().to_string();
    let lookups = [
        format!("/api/v1/customers/lookup?email={}", carnet::http::auth::urlencode(CUSTOMER_EMAIL)),
        format!("/api/v1/customers/lookup?phone={}", carnet::http::auth::urlencode(CUSTOMER_PHONE)),
        format!("/api/v1/customers?q={}", carnet::http::auth::urlencode(CUSTOMER_LAST)),
    ];
    for path in &lookups {
        let r = api.get(format!("{base}{path}")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = api.get(format!("{base}/api/v1/customers/{CUSTOMER_EMAIL}")).bearer_auth(&token).send().await.unwrap();
    assert!(r.status().is_client_error());
    let r = api.get(format!("{base}/nowhere/{CUSTOMER_EMAIL}")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // A wrong token is refused (and not logged either).
    let r = api.get(format!("{base}/api/v1/customers")).bearer_auth("carnet_not-a-real-token-123456").send().await.unwrap();
    assert_eq!(r.status(), 401);

    // The line of a request is written before its answer leaves: the log is complete now.
    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["target"] == "carnet::request").collect();
    let find = |method: &str, route: &str, status: u64| {
        requests
            .iter()
            .find(|l| l["method"] == method && l["route"] == route && l["status"] == status)
            .unwrap_or_else(|| panic!("no log line for {method} {route} {status} in:\n{text}"))
    };
    // One line per request, with the route template, the status, the latency, the user and the id.
    let created = find("POST", "/api/v1/customers", 201);
    assert_eq!(created["request_id"], request_id.as_str());
    assert!(created["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{created}");
    let rep_user: i64 = {
        let d = carnet::db::Db::connect(&db, None, 1).await.unwrap();
        let id = sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(REP_EMAIL).fetch_one(&d.pool).await.unwrap();
        d.close().await;
        id
    };
    assert_eq!(created["user_id"], rep_user.to_string().as_str(), "{created}");
    assert_eq!(created["level"], "INFO");
    find("GET", "/api/v1/customers/lookup", 200);
    assert!(requests.iter().any(|l| l["route"] == "/api/v1/customers/{id}"), "the address in the path is a route parameter");
    find("GET", carnet::http::UNMATCHED_ROUTE, 404);
    find("POST", "/login", 401);
    let login = find("POST", "/login", 303);
    assert_eq!(login["user_id"], "-", "nobody is logged in before the login");
    let listed = find("GET", "/customers", 200);
    assert_ne!(listed["user_id"], "-", "{listed}");
    assert_eq!(requests.len(), 4 + 1 + 1 + lookups.len() + 3, "one line per request:\n{text}");

    // Nothing personal, nothing secret.
    let digits: String = CUSTOMER_PHONE.chars().filter(char::is_ascii_digit).collect();
    let secret_part = token.trim_start_matches("carnet_");
    let forbidden = [
        PASSWORD,
        WRONG_PASSWORD,
        &token,
        secret_part,
        "not-a-real-token",
        ADMIN_EMAIL,
        REP_EMAIL,
        CUSTOMER_EMAIL,
        "client-logs",
        "exemple-logs",
        CUSTOMER_FIRST,
        CUSTOMER_LAST,
        "Bergeron",
        "Philom",
        CUSTOMER_PHONE,
        &e164,
        &digits,
        "5550142",
        "Gérante Journal",
        "Vendeur Journal",
    ];
    let lower = text.to_lowercase();
    for f in forbidden {
        assert!(!lower.contains(&f.to_lowercase()), "the logs hold {f:?}:\n{text}");
    }
    // Nor the URL-encoded forms of what went into query strings.
    for path in &lookups {
        let query = path.split_once('?').unwrap().1;
        assert!(!text.contains(query), "the logs hold the query {query:?}");
    }
}
