//! The test application: the real Carnet, started in-process on a fresh database (a temp
//! SQLite file, or a fresh PostgreSQL schema when `CARNET_TEST_POSTGRES_URL` is set), driven
//! over HTTP. Every test body runs once per backend through [`each_backend`].

#![allow(dead_code)]

pub mod browser;
#[path = "../support/smtp.rs"]
mod smtp;

#[allow(unused_imports)]
pub use smtp::SmtpServer;
#[path = "../support/imap.rs"]
mod imap;
#[allow(unused_imports)]
pub use imap::{ImapServer, IMAP_USER};

use std::future::Future;
use std::sync::Arc;

use carnet::access::Actor;
use carnet::clock::{ManualClock, SharedClock};
use carnet::config::Config;
use carnet::http::AppState;
use carnet::identity::users::{self, UserForm};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;

pub const PASSWORD: &str = "test-password-123";
/// 2026-11-23T09:00:00Z.
pub const T0: i64 = 1_795_424_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub backend: Backend,
    pub url: String,
    pub state: AppState,
    pub clock: ManualClock,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<String>,
}

pub fn pg_url() -> Option<String> {
    std::env::var("CARNET_TEST_POSTGRES_URL").ok().filter(|s| !s.is_empty())
}

fn random_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    // Unique across test processes running at once: pid, a counter, and random bits.
    format!(
        "{}_{}_{}",
        std::process::id(),
        n,
        carnet::identity::session::new_secret().to_lowercase().replace(['-', '_'], "").chars().take(8).collect::<String>()
    )
}

/// The configuration a test app starts with (tweak it with [`TestApp::start_with`]).
pub fn test_config(backend: Backend) -> (Config, Option<tempfile::TempDir>, Option<String>) {
    let mut config = Config { run_jobs: false, database_max_connections: 5, log: "warn".into(), ..Default::default() };
    let dir = tempfile::tempdir().expect("tempdir");
    config.documents_dir = dir.path().join("documents");
    match backend {
        Backend::Sqlite => {
            config.database_url = format!("sqlite://{}", dir.path().join("carnet.db").display());
            (config, Some(dir), None)
        }
        Backend::Postgres => {
            let schema = format!("t_{}", random_suffix());
            config.database_url = pg_url().expect("CARNET_TEST_POSTGRES_URL");
            config.database_schema = Some(schema.clone());
            (config, Some(dir), Some(schema))
        }
    }
}

impl TestApp {
    pub async fn start(backend: Backend) -> TestApp {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let (mut config, dir, schema) = test_config(backend);
        tweak(&mut config);
        let clock = ManualClock::new(T0);
        let shared: SharedClock = Arc::new(clock.clone());
        let state = carnet::app::prepare(config, shared).await.expect("prepare app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        tokio::spawn(async move {
            let _ = carnet::http::serve(st, listener, async {
                let _ = rx.await;
            })
            .await;
        });
        TestApp { backend, url, state, clock, shutdown: Some(tx), _dir: dir, pg_schema: schema }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.state.db.pool.close().await;
        if let (Some(schema), Some(url)) = (self.pg_schema.take(), pg_url()) {
            if let Ok(db) = carnet::db::Db::connect(&url, None, 1).await {
                let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&db.pool).await;
                db.pool.close().await;
            }
        }
    }

    pub fn now(&self) -> i64 {
        use carnet::clock::Clock;
        self.clock.now_ms()
    }

    /// Creates a user directly through the domain (as the system).
    pub async fn user(&self, email: &str, role: &str, unit: Option<i64>) -> i64 {
        let form = UserForm {
            email: email.into(),
            name: email.split('@').next().unwrap_or(email).replace('.', " "),
            language: Some("fr".into()),
            role: role.into(),
            org_unit_id: unit,
            active: Some(true),
            password: Some(PASSWORD.into()),
        };
        let input = form.parse().expect("valid user");
        users::create(&self.state.db, &Actor::system(), self.now(), &input, Some(PASSWORD)).await.expect("create user").id
    }

    /// Creates an org unit directly.
    pub async fn unit(&self, name: &str, kind: &str, parent: Option<i64>) -> i64 {
        let input = carnet::org::units::UnitInput::parse(name, kind, parent).expect("valid unit");
        carnet::org::units::create(&self.state.db, &Actor::system(), self.now(), &input).await.expect("create unit").id
    }

    /// An API token for the user, without expiry (tests move the clock by months; the default
    /// 90-day lifetime is tested in tests/login.rs).
    pub async fn token_for(&self, user_id: i64) -> String {
        use carnet::identity::token::{create_with, Expiry};
        create_with(&self.state.db, &Actor::system(), self.now(), user_id, "test", Expiry::Never).await.expect("token").1
    }

    /// An administrator and a browser-like session for them.
    pub async fn admin_session(&self) -> Session {
        let email = format!("admin{}@test.example", random_suffix());
        self.user(&email, "administrateur", None).await;
        self.login(&email, PASSWORD).await.expect("admin login")
    }

    /// Logs in through the login form; returns the session or the failing response status.
    pub async fn login(&self, email: &str, password: &str) -> Result<Session, StatusCode> {
        let client = Client::builder().cookie_store(true).redirect(Policy::none()).build().expect("client");
        let page = client.get(format!("{}/login", self.url)).send().await.expect("login page").text().await.expect("text");
        let login_csrf = extract(&page, "name=\"login_csrf\" value=\"").expect("login csrf");
        let resp = client
            .post(format!("{}/login", self.url))
            .form(&[("email", email), ("password", password), ("login_csrf", &login_csrf), ("next", "/")])
            .send()
            .await
            .expect("login post");
        if resp.status() != StatusCode::SEE_OTHER {
            return Err(resp.status());
        }
        let home = client.get(format!("{}/account", self.url)).send().await.expect("account").text().await.expect("text");
        let csrf = extract(&home, "name=\"_csrf\" value=\"").expect("csrf token on page");
        Ok(Session { client, csrf, url: self.url.clone() })
    }

    /// Logs in to the customer portal through its form; the session or the failing status.
    pub async fn portal_login(&self, email: &str, password: &str) -> Result<Session, StatusCode> {
        let client = Client::builder().cookie_store(true).redirect(Policy::none()).build().expect("client");
        let page = client.get(format!("{}/portal/login", self.url)).send().await.expect("login page").text().await.expect("text");
        let token = extract(&page, "name=\"token\" value=\"").expect("portal form token");
        let resp = client
            .post(format!("{}/portal/login", self.url))
            .form(&[("email", email), ("password", password), ("token", &token), ("next", "/portal")])
            .send()
            .await
            .expect("portal login post");
        if resp.status() != StatusCode::SEE_OTHER {
            return Err(resp.status());
        }
        let home = client.get(format!("{}/portal/account", self.url)).send().await.expect("account").text().await.expect("text");
        let csrf = extract(&home, "name=\"_csrf\" value=\"").expect("csrf token on portal page");
        Ok(Session { client, csrf, url: self.url.clone() })
    }

    /// Logs in to the partner portal through its form; the session or the failing status.
    pub async fn partner_login(&self, email: &str, password: &str) -> Result<Session, StatusCode> {
        let client = Client::builder().cookie_store(true).redirect(Policy::none()).build().expect("client");
        let page = client.get(format!("{}/partner/login", self.url)).send().await.expect("login page").text().await.expect("text");
        let token = extract(&page, "name=\"token\" value=\"").expect("partner form token");
        let resp = client
            .post(format!("{}/partner/login", self.url))
            .form(&[("email", email), ("password", password), ("token", &token), ("next", "/partner")])
            .send()
            .await
            .expect("partner login post");
        if resp.status() != StatusCode::SEE_OTHER {
            return Err(resp.status());
        }
        let home = client.get(format!("{}/partner", self.url)).send().await.expect("home").text().await.expect("text");
        let csrf = extract(&home, "name=\"_csrf\" value=\"").expect("csrf token on partner page");
        Ok(Session { client, csrf, url: self.url.clone() })
    }

    /// A client without cookies, for the API with a bearer token.
    pub fn api(&self, token: &str) -> Api {
        Api { client: Client::builder().redirect(Policy::none()).build().expect("client"), token: token.to_string(), url: self.url.clone() }
    }

    pub fn anon(&self) -> Client {
        Client::builder().redirect(Policy::none()).build().expect("client")
    }

    /// A fingerprint of every business table, to prove that a refused request wrote nothing.
    /// Sessions, login counters, known devices and token last-use times are bookkeeping and left out.
    pub async fn snapshot(&self) -> String {
        let tables = [
            ("org_units", "id, parent_id, kind, name, path, updated_at"),
            ("roles", "id, code, name_fr, name_en, scope, require_second_factor, updated_at"),
            ("user_totp", "user_id, secret, enabled_at, last_step"),
            ("totp_recovery_codes", "code_hash, user_id, used_at"),
            ("role_rights", "role_id, right_code"),
            ("users", "id, email, name, language, active, password_hash, role_id, org_unit_id, updated_at"),
            ("api_tokens", "id, user_id, name, revoked_at"),
            ("user_groups", "id, name, description, org_unit_id, updated_at"),
            ("user_group_members", "group_id, user_id"),
            ("audit_events", "id, entity_type, entity_id, field"),
            ("value_list_items", "id, list_code, code, label_fr, label_en, position, active, flags"),
            ("settings", "key, value"),
            ("jobs", "id, kind, status"),
            ("emails", "id, status, subject"),
            ("email_templates", "event, lang, subject"),
            ("notification_prefs", "user_id, event, enabled"),
            ("customers", "id, display_name, email, phone, mobile, owner_id, branch_id, updated_at"),
            ("contacts", "id, customer_id, first_name, last_name, email, updated_at"),
            ("search_terms", "entity_type, entity_id, term"),
            ("saved_views", "id, name, owner_id, shared_unit_id, query"),
            ("imports", "id, status, processed, mapping"),
            ("stock_units", "id, stock_number, description, status, updated_at"),
            ("opportunities", "id, name, customer_id, status, owner_id, branch_id, trashed, updated_at"),
            ("opportunity_expirations", "opportunity_id, expired_at"),
            ("opportunity_stock_units", "opportunity_id, stock_unit_id"),
            ("opportunity_notes", "id, opportunity_id, kind, body"),
            ("leads", "id, idempotency_key, opportunity_id, outcome"),
            ("meetings", "id, subject, start_at, status, sequence, updated_at"),
            ("meeting_participants", "meeting_id, kind, ref_id"),
            ("calls", "id, opportunity_id, owner_id, due_at, status, updated_at"),
            ("service_requests", "id, number, customer_id, requester_contact_id, user_contact_id, request_type, status, updated_at"),
            ("number_counters", "name, year, last"),
            ("interventions", "id, number, request_id, start_at, end_at, status, report_work, updated_at"),
            ("intervention_technicians", "intervention_id, user_id"),
            ("intervention_equipment", "intervention_id, equipment_id, symptom"),
            ("equipment_returns", "id, number, request_id, equipment_id, status, updated_at"),
            ("documents", "id, request_id, filename, size, shared"),
            ("request_updates", "id, request_id, status, message"),
            ("equipment", "id, customer_id, serial_number, model, updated_at"),
            ("request_equipment", "request_id, equipment_id, symptom"),
            ("portal_accounts", "id, customer_id, email, status, is_admin, calendar_hash, updated_at"),
            ("portal_links", "token_hash, account_id, purpose, used_at"),
            ("partners", "id, name, active, unit_id, owner_id, admin_invites, updated_at"),
            ("partner_users", "id, partner_id, email, status, is_admin, can_opportunities, language, updated_at"),
            ("partner_links", "token_hash, user_id, purpose, used_at"),
            ("partner_opportunities", "id, partner_id, customer_name, opportunity_type, status, amount_cents, updated_at"),
            ("news_items", "id, title, published_at, audience, updated_at"),
            ("news_item_partners", "news_item_id, partner_id"),
            ("news_reads", "user_id, news_item_id"),
            (
                "presales_requests",
                "id, partner_id, partner_opportunity_id, status, previous_status, engineer_id, reason, round, accepted_slot_id, updated_at",
            ),
            ("presales_slots", "id, request_id, round, engineer_id, start_at, end_at"),
            ("presales_messages", "id, request_id, kind, body"),
        ];
        let mut out = String::new();
        for (t, cols) in tables {
            let sql = format!("SELECT {cols} FROM {t} ORDER BY 1, 2");
            let rows = sqlx::query(&sql).fetch_all(&self.state.db.pool).await.expect("snapshot query");
            out.push_str(&format!("{t}:{}\n", rows.len()));
            for r in rows {
                use sqlx::Row;
                for i in 0..r.len() {
                    let v: Option<String> = r
                        .try_get::<Option<String>, _>(i)
                        .ok()
                        .flatten()
                        .or_else(|| r.try_get::<Option<i64>, _>(i).ok().flatten().map(|x| x.to_string()));
                    out.push_str(&format!("{v:?}|"));
                }
                out.push('\n');
            }
        }
        out
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.state.db.pool).await.expect("count")
    }
}

pub fn extract(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

/// A logged-in browser-like client.
pub struct Session {
    pub client: Client,
    pub csrf: String,
    pub url: String,
}

impl Session {
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(format!("{}{path}", self.url)).send().await.expect("get")
    }
    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let r = self.get(path).await;
        let s = r.status();
        (s, r.text().await.expect("text"))
    }
    /// Posts a form with the CSRF token added.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("_csrf", &self.csrf));
        self.client.post(format!("{}{path}", self.url)).form(&fields).send().await.expect("post")
    }
    /// Posts a form exactly as given (no CSRF token added).
    pub async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client.post(format!("{}{path}", self.url)).form(form).send().await.expect("post")
    }
}

/// A bearer-token API client.
pub struct Api {
    pub client: Client,
    pub token: String,
    pub url: String,
}

impl Api {
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.client.get(format!("{}{path}", self.url)).bearer_auth(&self.token).send().await.expect("get");
        json_of(r).await
    }
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.client.request(m, format!("{}{path}", self.url)).bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        json_of(rb.send().await.expect("send")).await
    }
    pub async fn raw(&self, method: &str, path: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let r = self
            .client
            .request(m, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("send");
        json_of(r).await
    }
}

pub async fn json_of(r: Response) -> (StatusCode, Value) {
    let s = r.status();
    let text = r.text().await.expect("body");
    let v = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    (s, v)
}

/// The backends the suite runs on: SQLite, and PostgreSQL when configured.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    if pg_url().is_some() {
        v.push(Backend::Postgres);
    }
    v
}

/// A child process (a `carnet serve`…) killed when dropped, even when an assertion fails first.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until a server started as a child process accepts connections on `port`.
pub fn wait_for_port(port: u16, what: &str, seconds: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "{what} did not start on port {port}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A real S3-compatible server on loopback for the document storage tests: moto's server
/// (`pip install 'moto[server]'`). With `CARNET_REQUIRE_S3=1` a missing moto fails the test.
pub struct S3Server {
    pub port: u16,
    child: std::process::Child,
}

impl S3Server {
    pub fn start() -> Option<S3Server> {
        let has = std::process::Command::new("python3")
            .args(["-c", "import moto.server, flask, werkzeug"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !has {
            assert!(std::env::var("CARNET_REQUIRE_S3").is_err(), "moto's S3 server is required (pip install 'moto[server]')");
            eprintln!("moto[server] not installed: S3 storage tests skipped");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let child = std::process::Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto server");
        wait_for_port(port, "moto server", 30);
        Some(S3Server { port, child })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (moto takes unsigned requests).
    pub async fn create_bucket(&self, name: &str) {
        let r = reqwest::Client::new().put(format!("{}/{name}", self.endpoint())).send().await.expect("create bucket");
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }

    /// The keys in `bucket` under `prefix`, from a ListObjectsV2 answer.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let r = reqwest::Client::new()
            .get(format!("{}/{bucket}?list-type=2&prefix={prefix}", self.endpoint()))
            .send()
            .await
            .expect("list bucket");
        let xml = r.text().await.expect("list body");
        xml.split("<Key>").skip(1).filter_map(|k| k.split("</Key>").next()).map(str::to_string).collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs every due job until none is left (the test's "worker").
pub async fn run_jobs(app: &TestApp) -> usize {
    let ctx = app.state.job_context();
    let mut n = 0;
    while carnet::jobs::run_one(&ctx, &app.state.jobs, "test-worker").await.expect("job") {
        n += 1;
    }
    n
}

/// Runs `body` on SQLite, then on PostgreSQL when `CARNET_TEST_POSTGRES_URL` is set.
pub async fn each_backend<F, Fut>(body: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = TestApp>,
{
    let mut backends = vec![Backend::Sqlite];
    if pg_url().is_some() {
        backends.push(Backend::Postgres);
    }
    for b in backends {
        let app = TestApp::start(b).await;
        let app = body(app).await;
        app.stop().await;
    }
}

/// Runs the `carnet` binary on database `db` with `args` (and `stdin`, then closed), extra
/// environment `env`; its trimmed standard output. Fails the test when it fails.
pub fn run_cli(db: &str, env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_carnet"))
        .args(args)
        .env("DATABASE_URL", db)
        .env("CARNET_LOG", "error")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("carnet starts");
    if let Some(s) = stdin {
        c.stdin.take().expect("stdin").write_all(s.as_bytes()).expect("stdin written");
    }
    drop(c.stdin.take());
    let out = c.wait_with_output().expect("carnet ends");
    assert!(out.status.success(), "carnet {args:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
