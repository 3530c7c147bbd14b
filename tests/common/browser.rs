//! The browser harness shared by the browser tests: chromedriver, a small W3C WebDriver
//! client over `reqwest`, and `with_browser` (a fresh app and a fresh Chromium per backend).
//!
//! Without chromedriver the tests print a line and pass, unless `CARNET_REQUIRE_BROWSER=1`
//! (set in CI), in which case they fail. Screenshots land in `target/screenshots/`.
//!
//! The WebDriver client is a small one over `reqwest`: fantoccini is in the dev-dependencies
//! with `default-features = false`, which leaves it without any HTTP connector that a test
//! can name (its connectors come from `hyper-util`, which is not a direct dependency).

use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use super::{each_backend, Backend, TestApp};

pub const ADMIN_EMAIL: &str = "admin@browser.test";
pub const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
pub const WAIT: Duration = Duration::from_secs(15);

/// One browser test at a time: each starts its own Chromium, and this machine is small.
pub static BROWSER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------- chromedriver

/// chromedriver: `$CHROMEDRIVER` when set (and then only that), else `/usr/bin/chromedriver`,
/// else the `PATH`.
pub fn find_chromedriver() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMEDRIVER").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            println!("CHROMEDRIVER={} is not a file", p.display());
            return None;
        }
        return Some(p);
    }
    let default = PathBuf::from("/usr/bin/chromedriver");
    if default.is_file() {
        return Some(default);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("chromedriver")).find(|p| p.is_file())
}

/// The Chromium binary: `$CHROME_BIN`, else `/usr/bin/chromium` when present (else
/// chromedriver's own search).
pub fn chrome_binary() -> Option<String> {
    if let Some(b) = std::env::var("CHROME_BIN").ok().filter(|b| !b.is_empty()) {
        return Some(b);
    }
    Path::new("/usr/bin/chromium").is_file().then(|| "/usr/bin/chromium".to_string())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind a free port").local_addr().expect("local addr").port()
}

/// A running chromedriver, killed when dropped (also when a test panics).
pub struct Driver {
    child: Child,
    addr: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts chromedriver, or returns `None` (test skipped) when it is not installed; with
    /// `CARNET_REQUIRE_BROWSER=1` a missing chromedriver fails the test instead.
    pub async fn start_or_skip() -> Option<Driver> {
        let Some(exe) = find_chromedriver() else {
            if std::env::var("CARNET_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
                panic!("chromedriver not found but CARNET_REQUIRE_BROWSER=1: install chromium and chromium-driver, or set CHROMEDRIVER");
            }
            println!("chromedriver not found: browser tests skipped (install chromium and chromium-driver)");
            return None;
        };
        let port = free_port();
        let child = Command::new(&exe)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("http client");
        let driver = Driver { child, addr: format!("127.0.0.1:{port}"), http };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = match driver.http.get(format!("http://{}/status", driver.addr)).send().await {
                Ok(r) => r.json::<Value>().await.ok().and_then(|v| v["value"]["ready"].as_bool()).unwrap_or(false),
                Err(_) => false,
            };
            if ready {
                return Some(driver);
            }
            assert!(Instant::now() < deadline, "chromedriver ({}) did not answer on port {port} within 30 s", exe.display());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new headless Chromium with a fresh profile, pointed at `app`.
    pub async fn browser(&self, app: &TestApp) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut options = json!({ "args": args });
        if let Some(bin) = chrome_binary() {
            options["binary"] = json!(bin);
        }
        // The browser log (`POST /se/log`) keeps console messages: CSP violations among them.
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options, "goog:loggingPrefs": { "browser": "ALL" }
        } } });
        let resp = self.http.post(format!("http://{}/session", self.addr)).json(&caps).send().await.expect("new session request");
        let status = resp.status();
        let body: Value = resp.json().await.expect("new session answer");
        let Some(session) = body["value"]["sessionId"].as_str() else {
            panic!("chromedriver refused a new session ({status}): {body}");
        };
        let backend = match app.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        Browser {
            http: self.http.clone(),
            driver_addr: self.addr.clone(),
            session: session.to_string(),
            app_url: app.url.clone(),
            backend,
            closed: false,
            _profile: profile,
        }
    }
}

// ---------------------------------------------------------------- WebDriver client

/// A WebDriver session; the browser is closed when dropped (also when a test panics).
pub struct Browser {
    http: reqwest::Client,
    driver_addr: String,
    session: String,
    app_url: String,
    backend: &'static str,
    closed: bool,
    _profile: tempfile::TempDir,
}

pub struct WdError {
    error: String,
    message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        // Cannot await here: a blocking `DELETE /session/{id}` so that chromedriver closes
        // Chromium before it is killed itself.
        if let Ok(mut s) = TcpStream::connect(&self.driver_addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
            let req = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                self.session, self.driver_addr
            );
            if s.write_all(req.as_bytes()).is_ok() {
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink);
            }
        }
    }
}

impl Browser {
    pub async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        let url = format!("http://{}/session/{}{path}", self.driver_addr, self.session);
        let mut req = self.http.request(method.clone(), url);
        if method == reqwest::Method::POST {
            req = req.json(&body.unwrap_or_else(|| json!({})));
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let ok = resp.status().is_success();
        let v: Value = resp.json().await.unwrap_or_else(|e| panic!("WebDriver {method} {path}: bad answer: {e}"));
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        if ok {
            Ok(value)
        } else {
            Err(WdError {
                error: value["error"].as_str().unwrap_or("unknown").to_string(),
                message: value["message"].as_str().unwrap_or("").to_string(),
            })
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        self.cmd(reqwest::Method::GET, path, None).await.unwrap_or_else(|e| panic!("WebDriver GET {path}: {e}"))
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body)).await.unwrap_or_else(|e| panic!("WebDriver POST {path}: {e}"))
    }

    pub async fn quit(mut self) {
        let _ = self.cmd(reqwest::Method::DELETE, "", None).await;
        self.closed = true;
    }

    /// Opens a path of the app.
    pub async fn goto(&self, path: &str) {
        self.post("/url", json!({ "url": format!("{}{path}", self.app_url) })).await;
    }

    /// The current path (with the query) in the app.
    pub async fn path(&self) -> String {
        let url = self.get("/url").await.as_str().unwrap_or_default().to_string();
        url.strip_prefix(&self.app_url).map(str::to_string).unwrap_or(url)
    }

    /// The current path without the query.
    pub async fn source(&self) -> String {
        self.get("/source").await.as_str().unwrap_or_default().to_string()
    }
    pub async fn path_only(&self) -> String {
        let p = self.path().await;
        p.split('?').next().unwrap_or_default().to_string()
    }

    pub async fn exec(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] })).await
    }

    /// The element matching `css`, waited for (fails the test when it never shows up).
    pub async fn find(&self, css: &str) -> Elem<'_> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.find_now(css).await {
                return e;
            }
            if Instant::now() > deadline {
                let path = self.path().await;
                panic!("no element {css:?} on {path}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element matching `css` right now, if any.
    pub async fn find_now(&self, css: &str) -> Option<Elem<'_>> {
        match self.cmd(reqwest::Method::POST, "/element", Some(json!({ "using": "css selector", "value": css }))).await {
            Ok(v) => Some(Elem { b: self, id: v[ELEMENT_KEY].as_str().expect("element id").to_string() }),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("find {css:?}: {e}"),
        }
    }

    /// Clicks `css` and waits until the page it leads to has loaded.
    pub async fn click_and_wait(&self, css: &str) {
        self.exec("window.__carnetOldPage = true;").await;
        self.find(css).await.click().await;
        let deadline = Instant::now() + WAIT;
        loop {
            // The script fails while the new document is being set up: just poll again.
            let done = self
                .cmd(
                    reqwest::Method::POST,
                    "/execute/sync",
                    Some(json!({ "script": "return !window.__carnetOldPage && document.readyState === 'complete';", "args": [] })),
                )
                .await;
            if matches!(done, Ok(Value::Bool(true))) {
                return;
            }
            assert!(Instant::now() < deadline, "clicking {css:?} did not load a new page");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Replaces the content of the field `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await;
        e.send_keys(text).await;
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await
    }

    /// The text as written in the page (`text` is as rendered, after CSS `text-transform`).
    pub async fn content(&self, css: &str) -> String {
        self.find(css).await.prop("textContent").await.trim().to_string()
    }

    pub async fn value(&self, css: &str) -> String {
        self.find(css).await.prop("value").await
    }

    pub async fn html_lang(&self) -> String {
        self.exec("return document.documentElement.lang;").await.as_str().unwrap_or_default().to_string()
    }

    /// The labels of the main navigation.
    pub async fn nav_labels(&self) -> Vec<String> {
        let v = self.exec("return Array.from(document.querySelectorAll('nav.mainnav a')).map(a => a.textContent.trim());").await;
        v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
    }

    /// What Chromium logged since the last call that tells of a page broken under the
    /// Content-Security-Policy: a violation (source `security`) or a script error (source
    /// `javascript`). Network messages (a missing favicon) are left out.
    pub async fn violations(&self) -> Vec<String> {
        let log = self.post("/se/log", json!({ "type": "browser" })).await;
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|e| {
                matches!(e["source"].as_str(), Some("security" | "javascript"))
                    || e["message"].as_str().is_some_and(|m| m.contains("Content Security Policy"))
            })
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Saves a PNG screenshot of the viewport as `target/screenshots/<backend>-<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let b64 = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD.decode(b64.as_str().expect("screenshot data")).expect("screenshot base64");
        assert!(png.starts_with(b"\x89PNG"), "screenshot {name} is not a PNG");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("screenshots");
        std::fs::create_dir_all(&dir).expect("create target/screenshots");
        let file = dir.join(format!("{}-{name}.png", self.backend));
        std::fs::write(&file, png).expect("write screenshot");
        println!("screenshot: {}", file.display());
    }
}

pub struct Elem<'a> {
    b: &'a Browser,
    id: String,
}

impl Elem<'_> {
    pub async fn click(&self) {
        self.b.post(&format!("/element/{}/click", self.id), json!({})).await;
    }
    pub async fn clear(&self) {
        self.b.post(&format!("/element/{}/clear", self.id), json!({})).await;
    }
    pub async fn send_keys(&self, text: &str) {
        self.b.post(&format!("/element/{}/value", self.id), json!({ "text": text })).await;
    }
    pub async fn text(&self) -> String {
        self.b.get(&format!("/element/{}/text", self.id)).await.as_str().unwrap_or_default().to_string()
    }
    pub async fn prop(&self, name: &str) -> String {
        let v = self.b.get(&format!("/element/{}/property/{name}", self.id)).await;
        match v {
            Value::String(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }
}

// ---------------------------------------------------------------- harness

pub type Body = for<'a> fn(&'a Browser, &'a TestApp) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Runs `body` in a fresh browser against a fresh app with an administrator, per backend.
pub async fn with_browser(body: Body) {
    let _one_at_a_time = BROWSER_LOCK.lock().await;
    let Some(driver) = Driver::start_or_skip().await else {
        return;
    };
    let driver = &driver;
    each_backend(|app| async move {
        app.user(ADMIN_EMAIL, "administrateur", None).await;
        let browser = driver.browser(&app).await;
        body(&browser, &app).await;
        browser.quit().await;
        app
    })
    .await;
}

/// Runs `body` in a fresh browser against a fresh app holding the demo company, per backend.
pub async fn with_demo(body: Body) {
    let _one_at_a_time = BROWSER_LOCK.lock().await;
    let Some(driver) = Driver::start_or_skip().await else {
        return;
    };
    // The apps and their demo data made side by side (the loading is the databases' work);
    // the browser then visits one after the other.
    let apps = futures_util::future::join_all(super::backends().into_iter().map(|backend| async move {
        let app = TestApp::start(backend).await;
        carnet::demo::load(&app.state).await.expect("demo data loads");
        app
    }))
    .await;
    for app in apps {
        let b = driver.browser(&app).await;
        body(&b, &app).await;
        b.quit().await;
        app.stop().await;
    }
}

/// Logs in through the login page.
pub async fn login(b: &Browser, email: &str, password: &str) {
    b.goto("/login").await;
    b.fill("#email", email).await;
    b.fill("#password", password).await;
    b.click_and_wait("#login-submit").await;
}
