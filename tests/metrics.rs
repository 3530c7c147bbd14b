//! Metrics (issue 22): `/metrics` in the Prometheus text format after some activity, with the
//! series and values expected; refused without the token, or from an address not allowed;
//! absent when off; on its own listener when configured. Both databases.
//!
//! The recorder is one per process, so the tests of this file take turns ([`TURN`]) and read
//! counters as differences between two scrapes.

mod common;

use std::time::Duration;

use common::{run_jobs, Backend, TestApp, PASSWORD};
use serde_json::json;

const TOKEN: &str = "metrics-token-0123456789";

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The sum of the samples of `name` whose labels include every pair of `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text, name, labels).iter().sum()
}

fn samples(text: &str, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            let (n, rest) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            (n == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))).then(|| v.parse::<f64>().ok())?
        })
        .collect()
}

async fn scrape(app: &TestApp) -> String {
    let r = app.anon().get(format!("{}/metrics", app.url)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    r.text().await.unwrap()
}

async fn start(backend: Backend, tweak: impl FnOnce(&mut carnet::config::Config)) -> (TestApp, tempfile::TempDir) {
    let mail = tempfile::tempdir().unwrap();
    let mail_dir = mail.path().to_path_buf();
    let app = TestApp::start_with(backend, |c| {
        c.metrics_enabled = true;
        c.mail_dir = mail_dir;
        c.login_max_failures_per_account = 2;
        tweak(c);
    })
    .await;
    (app, mail)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_and_values_after_some_activity() {
    let _turn = TURN.lock().await;
    for backend in common::backends() {
        let (app, _mail) = start(backend, |c| c.metrics_token = Some(TOKEN.into())).await;
        let admin = app.user("admin@metrics.test", "administrateur", None).await;
        let rep = app.user("rep@metrics.test", "representant", None).await;
        run_jobs(&app).await; // the accounts' emails
        let before = scrape(&app).await;

        // Requests: two customers created and one refused, by the rep's token.
        let api = app.api(&app.token_for(rep).await);
        for (n, body) in
            [json!({"kind": "person", "last_name": "Un"}), json!({"kind": "person", "last_name": "Deux"}), json!({"kind": "nope"})]
                .into_iter()
                .enumerate()
        {
            let (s, b) = api.send("POST", "/api/v1/customers", Some(body)).await;
            assert_eq!(s, if n < 2 { 201 } else { 422 }, "{b}");
        }
        // Logins: two wrong passwords, then the throttle (2 free attempts per account).
        for expected in [401, 401, 429] {
            let status = app.login("rep@metrics.test", "not-the-password").await.err();
            assert_eq!(status.map(|s| s.as_u16()), Some(expected));
        }
        // Jobs and email: a test email queued by the administrator, due for 90 s.
        let admin_api = app.api(&app.token_for(admin).await);
        let (s, _) = admin_api.send("POST", "/api/v1/emails/test", Some(json!({"to": "julie@client.test"}))).await;
        assert_eq!(s, 202);
        // A job whose kind this binary does not know: it fails, and waits for its retry.
        let mut tx = app.state.db.begin().await.unwrap();
        carnet::jobs::enqueue(&mut tx, "metrics-test-unknown", &json!({}), app.now(), app.now(), None).await.unwrap();
        tx.commit().await.unwrap();
        app.clock.advance(90_000);
        // Inbound mail from a stranger: quarantined.
        let mailbox = carnet::config::InboundMailbox {
            name: "support".into(),
            host: "127.0.0.1".into(),
            port: 143,
            tls: carnet::config::ImapTls::Plain,
            user: "u".into(),
            password: Some("p".into()),
            oauth2_token: None,
            folder: "INBOX".into(),
            move_to: None,
            open_requests: false,
            max_per_sender_per_minute: 10,
            ca_file: None,
        };
        let raw = "From: Inconnu <inconnu@ailleurs.test>\r\nTo: support@carnet.test\r\nSubject: Bonjour\r\nMessage-ID: <m1@ailleurs.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\nAllo\r\n";
        let policy = carnet::inbound::Policy::of(&mailbox, 1 << 20);
        let outcome = carnet::inbound::take(&app.state.db, &app.state.storage, app.now(), &policy, raw.as_bytes()).await.unwrap();
        assert!(matches!(outcome, carnet::inbound::Outcome::Quarantined(_)), "{outcome:?}");

        let mid = scrape(&app).await;
        let delta = |name: &str, labels: &[(&str, &str)]| value(&mid, name, labels) - value(&before, name, labels);
        let created = [("method", "POST"), ("route", "/api/v1/customers"), ("status", "201")];
        assert_eq!(delta("carnet_http_requests_total", &created), 2.0, "{mid}");
        assert_eq!(delta("carnet_http_requests_total", &[("route", "/api/v1/customers"), ("status", "422")]), 1.0);
        let timed = [("method", "POST"), ("route", "/api/v1/customers")];
        assert_eq!(delta("carnet_http_request_duration_seconds_count", &timed), 3.0);
        assert!(delta("carnet_http_request_duration_seconds_sum", &timed) > 0.0);
        let buckets = samples(&mid, "carnet_http_request_duration_seconds_bucket", &timed);
        assert_eq!(buckets.len(), 14, "13 buckets and +Inf");
        assert_eq!(buckets.last().copied(), Some(value(&mid, "carnet_http_request_duration_seconds_count", &timed)));
        assert!(!mid.contains("/api/v1/customers/1\""), "routes are templates, never raw paths");
        assert_eq!(delta("carnet_login_failures_total", &[("realm", "staff")]), 2.0);
        assert_eq!(delta("carnet_login_throttled_total", &[("realm", "staff")]), 1.0);
        assert_eq!(value(&mid, "carnet_emails_queued", &[]), 1.0);
        assert_eq!(value(&mid, "carnet_jobs_queued", &[("kind", "deliver-email")]), 1.0);
        assert_eq!(value(&mid, "carnet_jobs_due", &[("kind", "deliver-email")]), 1.0);
        assert_eq!(value(&mid, "carnet_jobs_oldest_due_age_seconds", &[("kind", "deliver-email")]), 90.0);
        assert_eq!(value(&mid, "carnet_jobs_queued", &[("kind", "housekeeping")]), 0.0, "every known kind is reported");
        assert_eq!(value(&mid, "carnet_inbound_quarantined", &[]), 1.0);
        assert_eq!(delta("carnet_inbound_messages_total", &[("outcome", "quarantined")]), 1.0);
        assert_eq!(value(&mid, "carnet_db_pool_max_connections", &[]), 5.0);
        assert!(value(&mid, "carnet_db_pool_connections", &[("state", "idle")]) >= 1.0, "{mid}");
        assert!(delta("carnet_db_acquire_seconds_count", &[]) >= 3.0, "each write transaction is timed");
        assert_eq!(value(&mid, "carnet_scrape_database_ok", &[]), 1.0);
        assert_eq!(samples(&mid, "carnet_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), vec![1.0]);

        // The worker runs them: the email is sent, the unknown kind fails once.
        run_jobs(&app).await;
        let after = scrape(&app).await;
        let delta = |name: &str, labels: &[(&str, &str)]| value(&after, name, labels) - value(&mid, name, labels);
        assert_eq!(delta("carnet_emails_sent_total", &[]), 1.0, "{after}");
        assert_eq!(value(&after, "carnet_emails_queued", &[]), 0.0);
        assert_eq!(delta("carnet_job_runs_total", &[("kind", "deliver-email")]), 1.0);
        assert_eq!(delta("carnet_job_failures_total", &[("kind", "deliver-email")]), 0.0);
        assert_eq!(delta("carnet_job_runs_total", &[("kind", "metrics-test-unknown")]), 1.0);
        assert_eq!(delta("carnet_job_failures_total", &[("kind", "metrics-test-unknown")]), 1.0);
        assert_eq!(value(&after, "carnet_jobs_queued", &[("kind", "deliver-email")]), 0.0);
        assert_eq!(value(&after, "carnet_jobs_oldest_due_age_seconds", &[("kind", "deliver-email")]), 0.0);
        assert_eq!(value(&after, "carnet_jobs_queued", &[("kind", "metrics-test-unknown")]), 1.0, "waiting for its retry");
        assert_eq!(value(&after, "carnet_jobs_due", &[("kind", "metrics-test-unknown")]), 0.0);
        // Nothing personal in the series.
        for secret in ["rep@metrics.test", "julie@client.test", "inconnu@ailleurs.test", PASSWORD, TOKEN] {
            assert!(!after.contains(secret), "{secret} in the metrics");
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_without_the_token_or_from_an_address_not_allowed() {
    let _turn = TURN.lock().await;
    for backend in common::backends() {
        // A token: without it or with another, 401 and no series.
        let (app, _mail) = start(backend, |c| c.metrics_token = Some(TOKEN.into())).await;
        let url = format!("{}/metrics", app.url);
        for token in [None, Some("metrics-token-0123456780"), Some("")] {
            let mut rb = app.anon().get(&url);
            if let Some(t) = token {
                rb = rb.bearer_auth(t);
            }
            let r = rb.send().await.unwrap();
            assert_eq!(r.status(), 401, "{token:?}");
            assert!(!r.text().await.unwrap().contains("carnet_"));
        }
        assert_eq!(app.anon().get(&url).bearer_auth(TOKEN).send().await.unwrap().status(), 200);
        app.stop().await;

        // An allow-list without the test's address (loopback): 403; through a trusted proxy,
        // the forwarded client is the one checked.
        let (app, _mail) = start(backend, |c| {
            c.metrics_allow = vec!["10.0.0.0/8".into()];
            c.trusted_proxies = vec!["127.0.0.1".into()];
        })
        .await;
        let url = format!("{}/metrics", app.url);
        assert_eq!(app.anon().get(&url).send().await.unwrap().status(), 403);
        let r = app.anon().get(&url).header("x-forwarded-for", "192.0.2.10").send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert!(!r.text().await.unwrap().contains("carnet_"));
        let r = app.anon().get(&url).header("x-forwarded-for", "10.1.2.3").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("carnet_http_requests_total"));
        app.stop().await;

        // Neither: loopback only (the test's client is on loopback).
        let (app, _mail) = start(backend, |_| {}).await;
        assert_eq!(app.anon().get(format!("{}/metrics", app.url)).send().await.unwrap().status(), 200);
        app.stop().await;

        // Off (the default): no such route.
        let app = TestApp::start(backend).await;
        assert_eq!(app.anon().get(format!("{}/metrics", app.url)).send().await.unwrap().status(), 404);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_listener_serves_the_metrics_alone() {
    let _turn = TURN.lock().await;
    for backend in common::backends() {
        let (app, _mail) = start(backend, |c| {
            c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
            c.metrics_token = Some(TOKEN.into());
        })
        .await;
        // Not on the main listener.
        assert_eq!(app.anon().get(format!("{}/metrics", app.url)).bearer_auth(TOKEN).send().await.unwrap().status(), 404);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(carnet::http::telemetry::serve(app.state.clone(), listener, async {
            let _ = stopped.await;
        }));
        assert_eq!(app.anon().get(format!("{}/healthz", app.url)).send().await.unwrap().status(), 200);
        let client = app.anon();
        let r = client.get(format!("http://{addr}/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let r = client.get(format!("http://{addr}/metrics")).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        assert!(value(&text, "carnet_http_requests_total", &[("route", "/healthz"), ("status", "200")]) >= 1.0, "{text}");
        assert_eq!(client.get(format!("http://{addr}/")).send().await.unwrap().status(), 404, "the metrics alone");
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap().unwrap();
        app.stop().await;
    }
}
