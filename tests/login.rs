//! Login, sessions and tokens under attack (issue 16): redirects after login, throttling under
//! concurrency, slowdown instead of lockout, known devices, trusted proxies, token lifetimes
//! and revocation, body limits of public routes, password rules, `__Host-` cookies. Every test
//! runs on SQLite and (when configured) PostgreSQL.

mod common;

use common::{extract, Backend, TestApp, PASSWORD};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use serde_json::json;

/// A browser: keeps its cookies (the device cookie among them), follows no redirect.
fn browser() -> Client {
    Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

/// A browser that carries only a device cookie (a known device whose session ended).
fn device_browser(app: &TestApp, device: &str) -> Client {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(&format!("{device}; Path=/login"), &app.url.parse().unwrap());
    Client::builder().cookie_provider(jar).redirect(Policy::none()).build().unwrap()
}

/// The device cookie (`carnet_device=…`) a successful login set.
fn device_cookie(r: &Response) -> String {
    let set: Vec<String> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    let device = set.iter().find(|c| c.starts_with("carnet_device=")).expect("a device cookie");
    assert!(device.contains("HttpOnly") && device.contains("Path=/login"), "{device}");
    device.split(';').next().unwrap().to_string()
}

/// Opens the login page and posts the form, as a browser does (optionally behind a proxy that
/// says `X-Forwarded-For`).
async fn login_with(app: &TestApp, client: &Client, email: &str, password: &str, next: &str, xff: Option<&str>) -> Response {
    let mut rb = client.get(format!("{}/login", app.url));
    if let Some(x) = xff {
        rb = rb.header("x-forwarded-for", x);
    }
    let page = rb.send().await.unwrap().text().await.unwrap();
    let tok = extract(&page, "name=\"login_csrf\" value=\"").unwrap();
    let mut rb =
        client.post(format!("{}/login", app.url)).form(&[("email", email), ("password", password), ("login_csrf", &tok), ("next", next)]);
    if let Some(x) = xff {
        rb = rb.header("x-forwarded-for", x);
    }
    rb.send().await.unwrap()
}

async fn status_of(app: &TestApp, client: &Client, email: &str, password: &str) -> StatusCode {
    login_with(app, client, email, password, "/", None).await.status()
}

fn retry_after(r: &Response) -> Option<String> {
    r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn after_login_only_same_site_paths_are_followed() {
    common::each_backend(|app| async move {
        app.user("rep@test.example", "representant", None).await;
        let cases = [
            ("/customers?q=x", "/customers?q=x"),
            ("/a/./b/../customers#top", "/a/customers#top"),
            ("/\t/evil.example", "/"),
            ("//evil.example", "/"),
            ("/\\evil.example", "/"),
            ("https://evil.example/", "/"),
            ("/..//evil.example", "/"),
            ("/%2e%2e//evil.example", "/"),
            ("/%2F%2Fevil.example", "/"),
            ("evil.example", "/"),
        ];
        for (next, expected) in cases {
            let r = login_with(&app, &browser(), "rep@test.example", PASSWORD, next, None).await;
            assert_eq!(r.status(), 303, "{next:?}");
            assert_eq!(r.headers()["location"], expected, "{next:?}");
        }
        // Already logged in: the login page sends the browser on, through the same rule.
        let b = browser();
        assert_eq!(login_with(&app, &b, "rep@test.example", PASSWORD, "/", None).await.status(), 303);
        for (raw, expected) in [("/%09/evil.example", "/"), ("/..//evil.example", "/"), ("/customers%3Fq%3D1", "/customers?q=1")] {
            let r = b.get(format!("{}/login?next={raw}", app.url)).send().await.unwrap();
            assert_eq!(r.status(), 303, "{raw}");
            assert_eq!(r.headers()["location"], expected, "{raw}");
        }
        app
    })
    .await;
}

/// 12 wrong passwords sent at once, to two Carnet processes on one database, against a limit
/// of 5: at most 5 are verified (401), the others wait (429); before, all 12 were checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_wrong_passwords_are_verified_up_to_the_limit_only() {
    for backend in common::backends() {
        let app = TestApp::start(backend).await;
        let (url, schema) = (app.state.config.database_url.clone(), app.state.config.database_schema.clone());
        let other = TestApp::start_with(backend, |c| {
            c.database_url = url;
            c.database_schema = schema;
        })
        .await;
        app.user("target@test.example", "representant", None).await;
        let mut ready = Vec::new();
        for i in 0..12 {
            let server = if i % 2 == 0 { &app } else { &other };
            let client = browser();
            let page = client.get(format!("{}/login", server.url)).send().await.unwrap().text().await.unwrap();
            let tok = extract(&page, "name=\"login_csrf\" value=\"").unwrap();
            ready.push((client, server.url.clone(), tok));
        }
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(12));
        let mut tasks = Vec::new();
        for (client, url, tok) in ready {
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let form = [("email", "target@test.example"), ("password", "wrong-password-0"), ("login_csrf", tok.as_str())];
                client.post(format!("{url}/login")).form(&form).send().await.unwrap().status()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        let verified = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
        let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
        assert_eq!((verified, refused), (5, 7), "{backend:?}: {statuses:?}");
        // Even the right password now waits.
        assert_eq!(status_of(&app, &browser(), "target@test.example", PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
        other.stop().await;
        app.stop().await;
    }
}

#[tokio::test]
async fn failures_slow_the_account_down_with_backoff_but_not_a_known_device() {
    common::each_backend(|app| async move {
        let u = "user@test.example";
        app.user(u, "representant", None).await;
        app.user("other@test.example", "representant", None).await;
        // The user's own browser becomes a known device at its first login.
        let r = login_with(&app, &browser(), u, PASSWORD, "/", None).await;
        assert_eq!(r.status(), 303);
        let device = device_cookie(&r);
        let mine = || device_browser(&app, &device);
        assert_eq!(app.count("SELECT COUNT(*) FROM known_devices").await, 1);

        // Someone else guesses: 5 free attempts, then the account waits 30 s.
        for _ in 0..5 {
            assert_eq!(status_of(&app, &browser(), u, "guess-password-1").await, StatusCode::UNAUTHORIZED);
        }
        let r = login_with(&app, &browser(), u, PASSWORD, "/", None).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the right password from an unknown device waits too");
        assert_eq!(retry_after(&r).as_deref(), Some("30"));
        // The known device passes, and its success does not lift the account's slowdown.
        assert_eq!(status_of(&app, &mine(), u, PASSWORD).await, StatusCode::SEE_OTHER);
        assert_eq!(status_of(&app, &browser(), u, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);

        // The wait doubles at each further failure: one attempt per wait.
        app.clock.advance(30_000);
        assert_eq!(status_of(&app, &browser(), u, "guess-password-2").await, StatusCode::UNAUTHORIZED);
        let r = login_with(&app, &browser(), u, "guess-password-3", "/", None).await;
        assert_eq!((r.status(), retry_after(&r).as_deref()), (StatusCode::TOO_MANY_REQUESTS, Some("60")));
        app.clock.advance(60_000);
        assert_eq!(status_of(&app, &browser(), u, "guess-password-4").await, StatusCode::UNAUTHORIZED);
        let r = login_with(&app, &browser(), u, "guess-password-5", "/", None).await;
        assert_eq!((r.status(), retry_after(&r).as_deref()), (StatusCode::TOO_MANY_REQUESTS, Some("120")));
        // The right password after the wait clears the account's counter.
        app.clock.advance(120_000);
        assert_eq!(status_of(&app, &browser(), u, PASSWORD).await, StatusCode::SEE_OTHER);
        assert_eq!(status_of(&app, &browser(), u, "guess-password-6").await, StatusCode::UNAUTHORIZED);

        // A device is known for its own account only.
        for _ in 0..5 {
            assert_eq!(status_of(&app, &browser(), "other@test.example", "guess-password-7").await, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(status_of(&app, &mine(), "other@test.example", PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
        // And a known device has its own limit: a stolen device cookie does not guess freely.
        for _ in 0..5 {
            assert_eq!(status_of(&app, &mine(), u, "guess-password-8").await, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(status_of(&app, &mine(), u, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
        app
    })
    .await;
}

#[tokio::test]
async fn address_limits_spare_known_devices_and_forwarded_for_needs_a_trusted_proxy() {
    for backend in common::backends() {
        // No trusted proxy (the default): X-Forwarded-For is ignored.
        let app = TestApp::start_with(backend, |c| c.login_max_failures_per_address = 3).await;
        app.user("u@test.example", "representant", None).await;
        app.user("v@test.example", "representant", None).await;
        let r = login_with(&app, &browser(), "u@test.example", PASSWORD, "/", None).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let device = device_cookie(&r);
        let mine = || device_browser(&app, &device);
        for i in 1..=3 {
            let r =
                login_with(&app, &browser(), &format!("x{i}@test.example"), "guess-password-1", "/", Some(&format!("203.0.113.{i}"))).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        let r = login_with(&app, &browser(), "v@test.example", PASSWORD, "/", Some("203.0.113.50")).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "one address, whatever the header says");
        // The address's slowdown does not block a known device, whatever its account.
        assert_eq!(status_of(&app, &mine(), "u@test.example", PASSWORD).await, StatusCode::SEE_OTHER);
        app.stop().await;

        // Behind a trusted proxy: the client is the first untrusted address from the right.
        let app = TestApp::start_with(backend, |c| {
            c.login_max_failures_per_address = 3;
            c.login_max_failures_per_account = 2;
            c.trusted_proxies = vec!["127.0.0.1".into()];
        })
        .await;
        app.user("v@test.example", "representant", None).await;
        for i in 1..=3 {
            let r = login_with(&app, &browser(), &format!("x{i}@test.example"), "guess-password-1", "/", Some("203.0.113.1")).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        for xff in ["203.0.113.1", "198.51.100.7, 203.0.113.1"] {
            let r = login_with(&app, &browser(), "v@test.example", PASSWORD, "/", Some(xff)).await;
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{xff}: a client cannot choose its address");
        }
        let r = login_with(&app, &browser(), "v@test.example", PASSWORD, "/", Some("203.0.113.2")).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "another client behind the proxy");
        let ip: String =
            sqlx::query_scalar("SELECT ip FROM sessions ORDER BY created_at, id_hash").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(ip, "203.0.113.2");
        // Attempts refused by an account's slowdown are not verified: they cost the address nothing.
        for _ in 0..2 {
            let r = login_with(&app, &browser(), "w@test.example", "guess-password-2", "/", Some("203.0.113.4")).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        for _ in 0..3 {
            let r = login_with(&app, &browser(), "w@test.example", "guess-password-3", "/", Some("203.0.113.4")).await;
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        }
        let r = login_with(&app, &browser(), "v@test.example", PASSWORD, "/", Some("203.0.113.4")).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "the address is not slowed down by the account's refusals");
        // People of one office log in one after the other: successes give the address its attempt back.
        for i in 1..=5 {
            let email = format!("staff{i}@test.example");
            app.user(&email, "representant", None).await;
            let r = login_with(&app, &browser(), &email, PASSWORD, "/", Some("203.0.113.3")).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{email}");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn trusted_proxies_must_be_addresses() {
    let (mut config, _dir, _) = common::test_config(Backend::Sqlite);
    config.trusted_proxies = vec!["proxy.example".into()];
    let clock: carnet::clock::SharedClock = std::sync::Arc::new(carnet::clock::ManualClock::new(common::T0));
    let err = carnet::app::prepare(config, clock).await.err().expect("refused at start-up");
    assert!(err.to_string().contains("proxy.example"), "{err}");
}

async fn token_row(app: &TestApp, secret: &str) -> (i64, Option<i64>, Option<i64>) {
    let api = app.api(secret);
    let (_, list) = api.get("/api/v1/tokens").await;
    let prefix: String = secret.chars().take(13).collect();
    let t = list["items"].as_array().unwrap().iter().find(|t| t["prefix"] == prefix.as_str()).unwrap().clone();
    (t["created_at"].as_i64().unwrap(), t["expires_at"].as_i64(), t["last_used_at"].as_i64())
}

#[tokio::test]
async fn tokens_expire_record_their_use_and_die_with_the_password() {
    common::each_backend(|app| async move {
        const DAY: i64 = 86_400_000;
        let id = app.user("t@test.example", "representant", None).await;
        let s = app.login("t@test.example", PASSWORD).await.unwrap();
        // From My account: 90 days by default, or no expiry.
        let r = s.post("/account/tokens", &[("name", "Par défaut"), ("expires_in_days", "")]).await;
        assert_eq!(r.status(), 200);
        let default = extract(&r.text().await.unwrap(), "data-copy=\"").unwrap();
        assert_eq!(token_row(&app, &default).await.0 + 90 * DAY, token_row(&app, &default).await.1.unwrap());
        let r = s.post("/account/tokens", &[("name", "Sans fin"), ("expires_in_days", "0")]).await;
        let forever = extract(&r.text().await.unwrap(), "data-copy=\"").unwrap();
        assert_eq!(token_row(&app, &forever).await.1, None);
        let before = app.snapshot().await;
        let r = s.post("/account/tokens", &[("name", "Trop long"), ("expires_in_days", "5000")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Une durée de 1 à 3650 jours"));
        let (st, b) = app.api(&forever).send("POST", "/api/v1/tokens", Some(json!({"name": "x", "expires_in_days": -1}))).await;
        assert_eq!(st, 422);
        assert!(b["error"]["fields"]["expires_in_days"].is_string(), "{b}");
        assert_eq!(app.snapshot().await, before, "nothing written");
        let (st, b) = app.api(&forever).send("POST", "/api/v1/tokens", Some(json!({"name": "un jour", "expires_in_days": 1}))).await;
        assert_eq!(st, 201);
        let one_day = b["secret"].as_str().unwrap().to_string();
        assert_eq!(b["expires_at"].as_i64(), Some(app.now() + DAY));

        // The last use is written at most once a minute.
        let used = token_row(&app, &default).await.2.expect("used by the listing itself");
        app.clock.advance(30_000);
        assert_eq!(token_row(&app, &default).await.2, Some(used), "not rewritten within the minute");
        app.clock.advance(31_000);
        assert_eq!(token_row(&app, &default).await.2, Some(app.now()));

        // My account lists them with their creation, expiry and last use.
        let (_, html) = s.get_text("/account").await;
        assert_eq!(html.matches("class=\"token-row\"").count(), 3);
        assert!(html.contains("Expire le") && html.contains("Sans expiration") && html.contains("Dernière utilisation"));
        // Expired after its day.
        app.clock.advance(DAY);
        assert_eq!(app.api(&one_day).get("/api/v1/me").await.0, 401);
        let s = app.login("t@test.example", PASSWORD).await.unwrap();
        assert!(s.get_text("/account").await.1.contains("Expiré"));
        assert_eq!(app.api(&default).get("/api/v1/me").await.0, 200);

        // The user changes their password: every token is revoked.
        let r = s
            .post("/account/password", &[("current", PASSWORD), ("new_password", "another-password-1"), ("confirm", "another-password-1")])
            .await;
        assert_eq!(r.status(), 303);
        assert_eq!(app.api(&default).get("/api/v1/me").await.0, 401);
        assert_eq!(app.api(&forever).get("/api/v1/me").await.0, 401);
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM api_tokens WHERE user_id = {id} AND revoked_at IS NULL")).await, 0);
        assert!(app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_id = {id} AND field = 'api_token'")).await >= 5);

        // An administrator resets the password: revoked too.
        let admin = app.admin_session().await;
        let tok = app.token_for(id).await;
        assert_eq!(app.api(&tok).get("/api/v1/me").await.0, 200);
        let r = admin.post(&format!("/admin/users/{id}/password"), &[("password", "reset-by-admin-1")]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(app.api(&tok).get("/api/v1/me").await.0, 401);

        // Deactivated: revoked, and reactivating gives no token back.
        let admin_id: i64 =
            sqlx::query_scalar("SELECT id FROM users WHERE email LIKE 'admin%'").fetch_one(&app.state.db.pool).await.unwrap();
        let adm = app.api(&app.token_for(admin_id).await);
        let tok = app.token_for(id).await;
        assert_eq!(adm.send("PATCH", &format!("/api/v1/users/{id}"), Some(json!({"active": false}))).await.0, 200);
        assert_eq!(adm.send("PATCH", &format!("/api/v1/users/{id}"), Some(json!({"active": true}))).await.0, 200);
        assert_eq!(app.api(&tok).get("/api/v1/me").await.0, 401);
        app
    })
    .await;
}

#[tokio::test]
async fn public_routes_take_small_bodies_only() {
    common::each_backend(|app| async move {
        let big = "a".repeat(20 * 1024);
        let anon = browser();
        for path in ["/login", "/language"] {
            let r = anon.post(format!("{}{path}", app.url)).form(&[("email", big.as_str()), ("lang", "fr")]).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        }
        let r = anon
            .post(format!("{}/login", app.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![b'a'; 100 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // Logged in, the public language switch still reads a small body only...
        let s = app.admin_session().await;
        let r = s.post("/language", &[("lang", "en"), ("pad", big.as_str())]).await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // ...while the routes of logged-in users keep their limit.
        let r = s.post("/account/tokens", &[("name", "grand"), ("pad", big.as_str())]).await;
        assert_eq!(r.status(), 200);
        app
    })
    .await;
}

#[tokio::test]
async fn common_passwords_and_the_email_are_refused_in_both_languages() {
    common::each_backend(|app| async move {
        let admin = app.user("admin@test.example", "administrateur", None).await;
        let api = app.api(&app.token_for(admin).await);
        let before = app.snapshot().await;
        for (pw, key_fr) in [
            ("1234567890", "parmi les plus courants"),
            ("Password123", "parmi les plus courants"),
            ("New.Person@Test.Example", "votre adresse courriel"),
        ] {
            let body = json!({"email": "new.person@test.example", "name": "New", "role": "representant", "password": pw});
            let (st, b) = api.send("POST", "/api/v1/users", Some(body)).await;
            assert_eq!(st, 422, "{pw}");
            assert!(b["error"]["fields"]["password"].as_str().unwrap().contains(key_fr), "{pw}: {b}");
        }
        assert_eq!(app.snapshot().await, before, "nothing written");

        // My account, in English: a 422 with the field's message.
        let id = app.user("en@test.example", "representant", None).await;
        sqlx::query("UPDATE users SET language = 'en' WHERE id = $1").bind(id).execute(&app.state.db.pool).await.unwrap();
        let s = app.login("en@test.example", PASSWORD).await.unwrap();
        for (pw, msg) in [("qwertyuiop", "among the most common"), ("EN@test.example", "cannot be your email address")] {
            let r = s.post("/account/password", &[("current", PASSWORD), ("new_password", pw), ("confirm", pw)]).await;
            assert_eq!(r.status(), 422, "{pw}");
            assert!(r.text().await.unwrap().contains(msg), "{pw}");
        }
        assert!(app.login("en@test.example", PASSWORD).await.is_ok(), "the password did not change");
        // An administrator's reset follows the same rule.
        let a = app.admin_session().await;
        let r = a.post(&format!("/admin/users/{id}/password"), &[("password", "1q2w3e4r5t")]).await;
        assert!(r.text().await.unwrap().contains("parmi les plus courants"));
        assert!(app.login("en@test.example", PASSWORD).await.is_ok());
        app
    })
    .await;
}

#[tokio::test]
async fn the_session_cookie_is_host_prefixed_over_https() {
    for backend in common::backends() {
        let app = TestApp::start_with(backend, |c| c.public_url = "https://carnet.example.com".into()).await;
        app.user("h@test.example", "representant", None).await;
        // The login cookie is Secure: sent by hand over the test's plain http.
        let client = app.anon();
        let page = client.get(format!("{}/login", app.url)).send().await.unwrap();
        let csrf_cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        let tok = extract(&page.text().await.unwrap(), "name=\"login_csrf\" value=\"").unwrap();
        let r = client
            .post(format!("{}/login", app.url))
            .header("cookie", &csrf_cookie)
            .form(&[("email", "h@test.example"), ("password", PASSWORD), ("login_csrf", &tok)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let set = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.contains("carnet_session="))
            .unwrap();
        assert!(set.starts_with("__Host-carnet_session="), "{set}");
        assert!(set.contains("; Secure") && set.contains("Path=/;") && !set.contains("Domain"), "{set}");
        let secret = set.split(';').next().unwrap().trim_start_matches("__Host-carnet_session=").to_string();
        let get = |cookie: String| app.anon().get(format!("{}/account", app.url)).header("cookie", cookie).send();
        assert_eq!(get(format!("__Host-carnet_session={secret}")).await.unwrap().status(), 200);
        let r = get(format!("carnet_session={secret}")).await.unwrap();
        assert_eq!(r.status(), 303, "the unprefixed name is not read over https");
        app.stop().await;
    }
    // Over plain http the name stays `carnet_session`.
    let app = TestApp::start(Backend::Sqlite).await;
    app.user("h@test.example", "representant", None).await;
    let r = login_with(&app, &browser(), "h@test.example", PASSWORD, "/", None).await;
    assert_eq!(r.status(), 303);
    assert!(r.headers().get_all("set-cookie").iter().any(|v| v.to_str().unwrap().starts_with("carnet_session=")));
    app.stop().await;
}

/// A NUL byte (or any control character but tab and line breaks) in text is refused at the
/// edge with a 422 naming the field, on both databases, and nothing is written: API JSON,
/// a staff HTML form and the anonymous login form.
#[tokio::test]
async fn control_characters_are_refused_at_the_edge_with_the_field() {
    common::each_backend(|app| async move {
        let admin = app.user("nul.admin@t.fr", "administrateur", None).await;
        let api = app.api(&app.token_for(admin).await);
        let before = app.count("SELECT COUNT(*) FROM customers").await;
        let (st, b) = api.send("POST", "/api/v1/customers", Some(serde_json::json!({"first_name": "Zo\u{0}é", "last_name": "Roy"}))).await;
        assert_eq!(st, 422, "{b}");
        assert!(b["error"]["fields"]["first_name"].is_string(), "{b}");
        let (st, b) = api
            .send("POST", "/api/v1/customers", Some(serde_json::json!({"first_name": "Zoé", "last_name": "Roy", "notes": "a\tb\nc\r\nd"})))
            .await;
        assert_eq!(st, 201, "tab and line breaks are text: {b}");
        let s = app.login("nul.admin@t.fr", PASSWORD).await.unwrap();
        let r = s.post("/customers", &[("kind", "person"), ("first_name", "Léa\u{1b}"), ("last_name", "Roy")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("caractère de contrôle"), "a readable message in the user's language");
        assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, before + 1, "only the clean one was written");
        let r = app.anon().post(format!("{}/login", app.url)).form(&[("email", "x\u{0}@t.fr"), ("password", "p")]).send().await.unwrap();
        assert_eq!(r.status(), 422);
        app
    })
    .await;
}
