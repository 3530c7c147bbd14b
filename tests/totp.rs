//! The second factor (issue 16): enrolment on My account, login with a code or a recovery code,
//! replay and throttling, roles requiring it (enforced by the guard on every route), disabling,
//! an administrator's reset, and the pending login's token. Codes are computed here from the
//! secret the page shows, with the same crate (totp-rs). Every test runs on SQLite and (when
//! configured) PostgreSQL.

mod common;

use common::{each_backend, extract, Session, TestApp, PASSWORD};
use reqwest::redirect::Policy;
use reqwest::{Client, Response};
use serde_json::json;
use totp_rs::{Algorithm, Secret, TOTP};

/// A browser: keeps its cookies, follows no redirect.
fn browser() -> Client {
    Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

/// The code of `secret` (base32) at the app's time.
fn code(app: &TestApp, secret: &str) -> String {
    let bytes = Secret::Encoded(secret.to_string()).to_bytes().unwrap();
    TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes).unwrap().generate((app.now() / 1000) as u64)
}

/// The next time step: a new code.
fn next_step(app: &TestApp) {
    app.clock.advance(30_000);
}

/// The password step, as a browser does it.
async fn password_step(app: &TestApp, client: &Client, email: &str) -> Response {
    let page = client.get(format!("{}/login", app.url)).send().await.unwrap().text().await.unwrap();
    let tok = extract(&page, "name=\"login_csrf\" value=\"").unwrap();
    client
        .post(format!("{}/login", app.url))
        .form(&[("email", email), ("password", PASSWORD), ("login_csrf", &tok), ("next", "/customers")])
        .send()
        .await
        .unwrap()
}

/// The password step of a user with a second factor: the code page's challenge token.
async fn challenge(app: &TestApp, client: &Client, email: &str) -> String {
    let r = password_step(app, client, email).await;
    assert_eq!(r.status(), 200, "the code is asked for");
    assert!(r.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().contains("carnet_session=")), "no session yet");
    extract(&r.text().await.unwrap(), "name=\"challenge\" value=\"").expect("challenge")
}

async fn send_code(app: &TestApp, client: &Client, challenge: &str, code: &str) -> Response {
    client.post(format!("{}/login/code", app.url)).form(&[("challenge", challenge), ("code", code)]).send().await.unwrap()
}

/// Whether `client` holds a live session.
async fn logged_in(app: &TestApp, client: &Client) -> bool {
    client.get(format!("{}/account", app.url)).send().await.unwrap().status() == 200
}

/// Enrols the session's user through My account: the secret shown and the recovery codes.
async fn enrol(app: &TestApp, s: &Session) -> (String, Vec<String>) {
    assert_eq!(s.post("/account/two-factor/setup", &[]).await.status(), 303);
    let (st, page) = s.get_text("/account/two-factor").await;
    assert_eq!(st, 200);
    let secret = extract(&page, "data-secret=\"").expect("the secret is shown while enrolling");
    assert!(page.contains("otpauth://totp/Carnet"), "the otpauth URI is shown");
    let qr = s.get("/account/two-factor/qr.svg").await;
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    assert!(qr.text().await.unwrap().contains("<svg"));
    // A wrong first code enables nothing.
    let wrong = s.post("/account/two-factor/confirm", &[("code", "000000")]).await;
    assert_eq!(wrong.status(), 422);
    let r = s.post("/account/two-factor/confirm", &[("code", &code(app, &secret))]).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let codes: Vec<String> = html.split("<li class=\"recovery-code\">").skip(1).map(|p| p.split('<').next().unwrap().to_string()).collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

async fn user_with_session(app: &TestApp, email: &str, role: &str) -> (i64, Session) {
    let id = app.user(email, role, None).await;
    (id, app.login(email, PASSWORD).await.unwrap())
}

#[tokio::test]
async fn enrol_then_log_in_with_a_code() {
    each_backend(|app| async move {
        let (uid, s) = user_with_session(&app, "rep@totp.test", "representant").await;
        let (secret, _) = enrol(&app, &s).await;
        // Never shown again once enabled.
        let (_, page) = s.get_text("/account/two-factor").await;
        assert!(!page.contains(&secret) && !page.contains("otpauth://"), "the secret is not shown after enrolment");
        assert_eq!(s.get("/account/two-factor/qr.svg").await.status(), 404);
        assert!(s.get_text("/account").await.1.contains("id=\"two-factor\""));
        let audited = app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'user' AND entity_id = {uid} AND field = 'two_factor' AND new_value = 'on'")).await;
        assert_eq!(audited, 1);

        // The password alone opens no session; the code does, and goes where the login was going.
        next_step(&app);
        let b = browser();
        let ch = challenge(&app, &b, "rep@totp.test").await;
        assert!(!logged_in(&app, &b).await);
        let r = send_code(&app, &b, &ch, &code(&app, &secret)).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/customers");
        assert!(logged_in(&app, &b).await);
        // The token is used up.
        next_step(&app);
        let again = send_code(&app, &browser(), &ch, &code(&app, &secret)).await;
        assert_eq!(again.status(), 401);
        app
    })
    .await;
}

#[tokio::test]
async fn wrong_codes_are_refused_and_throttled() {
    each_backend(|app| async move {
        let (_, s) = user_with_session(&app, "rep@totp.test", "representant").await;
        let (secret, _) = enrol(&app, &s).await;
        next_step(&app);
        let b = browser();
        let ch = challenge(&app, &b, "rep@totp.test").await;
        let right = code(&app, &secret);
        let wrong = if right == "123456" { "654321" } else { "123456" };
        for _ in 0..5 {
            assert_eq!(send_code(&app, &b, &ch, wrong).await.status(), 401);
        }
        let r = send_code(&app, &b, &ch, wrong).await;
        assert_eq!(r.status(), 429);
        assert!(r.headers().get("retry-after").is_some());
        // Even the right code waits: attempts are counted before the check.
        assert_eq!(send_code(&app, &b, &ch, &right).await.status(), 429);
        assert!(!logged_in(&app, &b).await);
        // A malformed code is a 422 with its reason.
        app.clock.advance(60_000);
        let r = send_code(&app, &b, &ch, "12ab").await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("abcde-fghjk"));
        app
    })
    .await;
}

#[tokio::test]
async fn a_code_cannot_be_replayed() {
    each_backend(|app| async move {
        let (_, s) = user_with_session(&app, "rep@totp.test", "representant").await;
        let (secret, _) = enrol(&app, &s).await;
        // The enrolment's own code cannot log in within its window.
        let b = browser();
        let ch = challenge(&app, &b, "rep@totp.test").await;
        assert_eq!(send_code(&app, &b, &ch, &code(&app, &secret)).await.status(), 401);
        next_step(&app);
        let used = code(&app, &secret);
        assert_eq!(send_code(&app, &b, &ch, &used).await.status(), 303);
        // The same code, seen over a shoulder, in another browser within its window: refused.
        let other = browser();
        let ch2 = challenge(&app, &other, "rep@totp.test").await;
        assert_eq!(send_code(&app, &other, &ch2, &used).await.status(), 401);
        app.clock.advance(10_000);
        assert_eq!(send_code(&app, &other, &ch2, &used).await.status(), 401);
        assert!(!logged_in(&app, &other).await);
        // The next step's code works.
        next_step(&app);
        assert_eq!(send_code(&app, &other, &ch2, &code(&app, &secret)).await.status(), 303);
        app
    })
    .await;
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    each_backend(|app| async move {
        let (uid, s) = user_with_session(&app, "rep@totp.test", "representant").await;
        let (_, codes) = enrol(&app, &s).await;
        let b = browser();
        let ch = challenge(&app, &b, "rep@totp.test").await;
        assert_eq!(send_code(&app, &b, &ch, &codes[3].to_uppercase()).await.status(), 303);
        assert!(logged_in(&app, &b).await);
        let other = browser();
        let ch = challenge(&app, &other, "rep@totp.test").await;
        assert_eq!(send_code(&app, &other, &ch, &codes[3]).await.status(), 401);
        assert_eq!(send_code(&app, &other, &ch, &codes[4]).await.status(), 303);
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM totp_recovery_codes WHERE user_id = {uid} AND used_at IS NULL")).await, 8);
        let audited = format!("SELECT COUNT(*) FROM audit_events WHERE entity_id = {uid} AND field = 'recovery_code' AND actor_id = {uid}");
        assert_eq!(app.count(&audited).await, 2, "each use is in the user's history, as theirs");
        // New codes need a current code, and replace the old ones.
        next_step(&app);
        let page = s.get_text("/account/two-factor").await.1;
        assert!(page.contains("8 "), "{page}");
        assert_eq!(s.post("/account/two-factor/recovery-codes", &[("code", "000000")]).await.status(), 422);
        app
    })
    .await;
}

#[tokio::test]
async fn renewed_recovery_codes_replace_the_old_ones() {
    each_backend(|app| async move {
        let (uid, s) = user_with_session(&app, "rep@totp.test", "representant").await;
        let (secret, old) = enrol(&app, &s).await;
        next_step(&app);
        let r = s.post("/account/two-factor/recovery-codes", &[("code", &code(&app, &secret))]).await;
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        let new: Vec<&str> = html.split("<li class=\"recovery-code\">").skip(1).map(|p| p.split('<').next().unwrap()).collect();
        assert_eq!(new.len(), 10);
        let b = browser();
        let ch = challenge(&app, &b, "rep@totp.test").await;
        assert_eq!(send_code(&app, &b, &ch, &old[0]).await.status(), 401);
        assert_eq!(send_code(&app, &b, &ch, new[0]).await.status(), 303);
        let audited = app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_id = {uid} AND field = 'recovery_codes'")).await;
        assert_eq!(audited, 1);
        app
    })
    .await;
}

/// Requires the second factor for `role` through the API (as an administrator).
async fn require(app: &TestApp, admin_token: &str, role: &str, on: bool) {
    let (_, roles) = app.api(admin_token).get("/api/v1/roles").await;
    let id = roles["items"].as_array().unwrap().iter().find(|r| r["code"] == role).unwrap()["id"].as_i64().unwrap();
    let (st, body) = app.api(admin_token).send("PATCH", &format!("/api/v1/roles/{id}"), Some(json!({"require_second_factor": on}))).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["require_second_factor"], on);
}

#[tokio::test]
async fn a_role_requiring_it_opens_nothing_but_enrolment() {
    each_backend(|app| async move {
        let admin = app.user("admin@totp.test", "administrateur", None).await;
        let admin_token = app.token_for(admin).await;
        let (uid, before) = user_with_session(&app, "rep@totp.test", "representant").await;
        let rep_token = app.token_for(uid).await;
        require(&app, &admin_token, "representant", true).await;

        // The role editor shows the box checked, and the change is in the role's history.
        let admin_s = app.login("admin@totp.test", PASSWORD).await.unwrap();
        let (_, roles) = app.api(&admin_token).get("/api/v1/roles").await;
        let rid = roles["items"].as_array().unwrap().iter().find(|r| r["code"] == "representant").unwrap()["id"].as_i64().unwrap();
        let form = admin_s.get_text(&format!("/admin/roles/{rid}")).await.1;
        assert!(form.contains("name=\"require_second_factor\" value=\"1\" checked"), "checkbox checked");
        let audited = app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'role' AND entity_id = {rid} AND field = 'require_second_factor' AND new_value = 'true'")).await;
        assert_eq!(audited, 1);
        // The role editor's checkbox: checked sets it, unchecked (the hidden 0 alone) clears it.
        let fields = [("code", "securise"), ("name_fr", "Sécurisé"), ("name_en", "Secured"), ("scope", "own")];
        let checked: Vec<(&str, &str)> = fields.iter().copied().chain([("require_second_factor", "0"), ("require_second_factor", "1")]).collect();
        assert_eq!(admin_s.post("/admin/roles", &checked).await.status(), 303);
        let flag = "SELECT require_second_factor FROM roles WHERE code = 'securise'";
        assert_eq!(app.count(flag).await, 1);
        let sid = app.count("SELECT id FROM roles WHERE code = 'securise'").await;
        let unchecked: Vec<(&str, &str)> = fields.iter().copied().chain([("require_second_factor", "0")]).collect();
        assert_eq!(admin_s.post(&format!("/admin/roles/{sid}"), &unchecked).await.status(), 303);
        assert_eq!(app.count(flag).await, 0);

        // A session opened before, and one opened now: the password leads to enrolment only.
        let b = browser();
        let r = password_step(&app, &b, "rep@totp.test").await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/account/two-factor");
        let csrf = extract(&b.get(format!("{}/account/two-factor", app.url)).send().await.unwrap().text().await.unwrap(), "name=\"_csrf\" value=\"").unwrap();
        let now = Session { client: b, csrf, url: app.url.clone() };
        let tokens = app.count("SELECT COUNT(*) FROM api_tokens").await;
        for s in [&before, &now] {
            for path in ["/", "/customers", "/opportunities", "/account", "/users", "/calendar"] {
                let r = s.get(path).await;
                assert_eq!(r.status(), 303, "{path}");
                assert_eq!(r.headers()["location"], "/account/two-factor", "{path}");
            }
            let r = s.post("/account/tokens", &[("name", "sneaky")]).await;
            assert_eq!(r.status(), 303);
            assert_eq!(r.headers()["location"], "/account/two-factor");
            let r = s.post("/account/password", &[("current", PASSWORD), ("new_password", "another-password-42"), ("confirm", "another-password-42")]).await;
            assert_eq!(r.headers()["location"], "/account/two-factor");
            // The API with the session cookie: 403 with its code.
            let (st, body) = common::json_of(s.get("/api/v1/me").await).await;
            assert_eq!(st, 403);
            assert_eq!(body["error"]["code"], "second_factor_required");
            let r = s.client.post(format!("{}/api/v1/tokens", app.url)).header("x-csrf-token", &s.csrf).json(&json!({"name": "x"})).send().await.unwrap();
            assert_eq!(r.status(), 403);
            let (st, page) = s.get_text("/account/two-factor").await;
            assert_eq!(st, 200);
            assert!(page.contains("id=\"two-factor-due\""));
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM api_tokens").await, tokens, "nothing created");
        // API tokens are not concerned (made from a session that passed the second factor).
        assert_eq!(app.api(&rep_token).get("/api/v1/me").await.0, 200);

        // Once enrolled, everything opens again; and it cannot be turned off.
        let (secret, _) = enrol(&app, &now).await;
        assert_eq!(now.get("/customers").await.status(), 200);
        assert_eq!(now.get("/api/v1/me").await.status(), 200);
        let r = now.post("/account/two-factor/disable", &[("password", PASSWORD)]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Votre rôle exige"));
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM user_totp WHERE user_id = {uid} AND enabled_at IS NOT NULL")).await, 1);
        // The next login asks for the code.
        next_step(&app);
        let b = browser();
        let ch = challenge(&app, &b, "rep@totp.test").await;
        assert_eq!(send_code(&app, &b, &ch, &code(&app, &secret)).await.status(), 303);
        app
    })
    .await;
}

#[tokio::test]
async fn disabling_needs_the_password_or_a_code() {
    each_backend(|app| async move {
        let (uid, s) = user_with_session(&app, "rep@totp.test", "representant").await;
        enrol(&app, &s).await;
        let enabled = format!("SELECT COUNT(*) FROM user_totp WHERE user_id = {uid}");
        assert_eq!(s.post("/account/two-factor/disable", &[("password", "wrong-password-1")]).await.status(), 422);
        assert_eq!(s.post("/account/two-factor/disable", &[]).await.status(), 422);
        assert_eq!(app.count(&enabled).await, 1);
        let r = s.post("/account/two-factor/disable", &[("password", PASSWORD)]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(app.count(&enabled).await, 0);
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM totp_recovery_codes WHERE user_id = {uid}")).await, 0);
        let audited = app
            .count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_id = {uid} AND field = 'two_factor' AND new_value = 'off'"))
            .await;
        assert_eq!(audited, 1);
        // The password alone logs in again.
        assert!(app.login("rep@totp.test", PASSWORD).await.is_ok());
        app
    })
    .await;
}

#[tokio::test]
async fn an_administrator_resets_a_lost_second_factor() {
    each_backend(|app| async move {
        let (uid, rep) = user_with_session(&app, "rep@totp.test", "representant").await;
        enrol(&app, &rep).await;
        let (aid, admin) = user_with_session(&app, "admin@totp.test", "administrateur").await;
        let page = admin.get_text(&format!("/admin/users/{uid}")).await.1;
        assert!(page.contains("id=\"two-factor-status\"><span class=\"badge badge-green\">"), "shown as on");

        // A user administrator holding fewer rights than an administrator cannot reset theirs.
        let mut input = carnet::access::roles::RoleInput::parse("gestion_comptes", "Comptes", "Accounts", "all", &[], false).unwrap();
        input.rights = [carnet::access::Right::AdminUsers, carnet::access::Right::UsersRead].into_iter().collect();
        carnet::access::roles::create(&app.state.db, &carnet::access::Actor::system(), app.now(), input).await.unwrap();
        let (_, manager) = user_with_session(&app, "accounts@totp.test", "gestion_comptes").await;
        enrol(&app, &admin).await;
        let before = app.snapshot().await;
        let r = manager.post(&format!("/admin/users/{aid}/two-factor/reset"), &[]).await;
        assert_eq!(r.status(), 422);
        assert_eq!(app.snapshot().await, before, "nothing changed");

        // The administrator resets the representative's: gone, sessions ended, audited.
        let r = admin.post(&format!("/admin/users/{uid}/two-factor/reset"), &[]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM user_totp WHERE user_id = {uid}")).await, 0);
        assert_eq!(rep.get("/account").await.status(), 303, "the user's sessions ended");
        let audited = app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_id = {uid} AND field = 'two_factor' AND new_value = 'reset' AND actor_id = {aid}")).await;
        assert_eq!(audited, 1);
        let history = admin.get_text(&format!("/admin/users/{uid}/history")).await.1;
        assert!(history.contains("Réinitialisée par un administrateur"), "the history says it in words");
        // Their role does not require it: the password alone logs in; they may enrol again.
        let again = app.login("rep@totp.test", PASSWORD).await.unwrap();
        enrol(&app, &again).await;

        // The command line resets it too (an installation whose administrators lost theirs).
        let schema = app.state.config.database_schema.clone();
        let env: Vec<(&str, &str)> = schema.iter().map(|s| ("CARNET_DATABASE_SCHEMA", s.as_str())).collect();
        let out = common::run_cli(&app.state.config.database_url, &env, &["admin", "reset-two-factor", "--email", "admin@totp.test"], None);
        assert!(out.contains("admin@totp.test"), "{out}");
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM user_totp WHERE user_id = {aid}")).await, 0);
        assert_eq!(admin.get("/account").await.status(), 303, "the administrator's sessions ended");
        app
    })
    .await;
}

#[tokio::test]
async fn the_pending_login_expires_and_belongs_to_its_user() {
    each_backend(|app| async move {
        let (_, a) = user_with_session(&app, "a@totp.test", "representant").await;
        let (_, b) = user_with_session(&app, "b@totp.test", "representant").await;
        let (secret_a, _) = enrol(&app, &a).await;
        let (secret_b, codes_b) = enrol(&app, &b).await;
        next_step(&app);

        // A's pending login with B's code or recovery code: refused, no session.
        let client = browser();
        let ch = challenge(&app, &client, "a@totp.test").await;
        let (ca, cb) = (code(&app, &secret_a), code(&app, &secret_b));
        if ca != cb {
            assert_eq!(send_code(&app, &client, &ch, &cb).await.status(), 401);
        }
        assert_eq!(send_code(&app, &client, &ch, &codes_b[0]).await.status(), 401);
        assert!(!logged_in(&app, &client).await);
        // A made-up token opens nothing.
        let r = send_code(&app, &client, "not-a-token", &ca).await;
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().contains("name=\"login_csrf\""), "back to the password");

        // Five minutes later the token is dead, even with the right code.
        app.clock.advance(5 * 60_000 + 1_000);
        let r = send_code(&app, &client, &ch, &code(&app, &secret_a)).await;
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().contains("name=\"login_csrf\""));
        assert!(!logged_in(&app, &client).await);
        // A fresh one works.
        let ch = challenge(&app, &client, "a@totp.test").await;
        assert_eq!(send_code(&app, &client, &ch, &code(&app, &secret_a)).await.status(), 303);
        app
    })
    .await;
}
