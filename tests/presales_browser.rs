//! The seed's pre-sales journey in headless Chromium, on the demo company, with a real SMTP
//! server: a partner user creates a Primo opportunity and asks for a demo from it; the
//! pre-sales engineer accepts and sends three slots; the partner asks for other dates; the
//! engineer sends new ones; the partner accepts one: `terminee`, and the invitation (ICS)
//! reaches both the partner user and the engineer. Then an information request and its answer
//! return a request to its previous status, and a refusal shows its reason. Both databases.

mod common;

use common::browser::*;
use common::{SmtpServer, TestApp};

const ENGINEER: &str = "thomas.pelletier@carnet.demo";
const DEMO_PASSWORD: &str = carnet::demo::PASSWORD;

/// The emails the SMTP server received for `to`: (subject, raw message).
fn mails_to(smtp: &SmtpServer, to: &str) -> Vec<(String, String)> {
    smtp.messages()
        .iter()
        .filter_map(|raw| {
            let m = mail_parser::MessageParser::default().parse(raw)?;
            let to_ok = m.to().and_then(|a| a.first()).and_then(|a| a.address()).is_some_and(|a| a.eq_ignore_ascii_case(to));
            to_ok.then(|| (m.subject().unwrap_or_default().to_string(), String::from_utf8_lossy(raw).to_string()))
        })
        .collect()
}

async fn partner_login(b: &Browser, email: &str) {
    b.goto("/partner/login").await;
    b.fill("#email", email).await;
    b.fill("#password", DEMO_PASSWORD).await;
    b.click_and_wait("#login-submit").await;
}

async fn status(b: &Browser) -> String {
    b.exec("return document.getElementById('presales-status').dataset.status;").await.as_str().unwrap_or_default().to_string()
}

fn day_after(app: &TestApp, days: i64) -> String {
    chrono::DateTime::from_timestamp_millis(app.now() + days * 86_400_000).unwrap().format("%Y-%m-%d").to_string()
}

async fn propose(b: &Browser, app: &TestApp, first_day: i64, n: usize) {
    for i in 1..=n {
        let day = day_after(app, first_day + i as i64);
        b.exec(&format!(
            "document.getElementById('slot{i}_date').value = '{day}'; document.getElementById('slot{i}_start').value = '09:00'; \
             document.getElementById('slot{i}_end').value = '11:00'; return true;"
        ))
        .await;
    }
    b.click_and_wait("#presales-send-proposals").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_asks_for_a_demo_and_accepts_a_slot() {
    let _one_at_a_time = BROWSER_LOCK.lock().await;
    let Some(driver) = Driver::start_or_skip().await else {
        return;
    };
    let Some(smtp) = SmtpServer::start() else {
        assert!(std::env::var("CARNET_REQUIRE_SMTP").is_err(), "aiosmtpd is required");
        return;
    };
    for backend in common::backends() {
        let url = smtp.url();
        let app = TestApp::start_with(backend, move |c| c.smtp_url = Some(url)).await;
        carnet::demo::load(&app.state).await.expect("demo data loads");
        let b = driver.browser(&app).await;
        journey(&b, &app, &smtp).await;
        b.quit().await;
        app.stop().await;
    }
}

async fn journey(b: &Browser, app: &TestApp, smtp: &SmtpServer) {
    let partner: String =
        sqlx::query_scalar("SELECT email FROM partner_users WHERE status = 'active' AND can_opportunities = 1 ORDER BY id LIMIT 1")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("a demo partner user");

    // The partner creates a Primo opportunity, then Actions → Pre-sales request.
    partner_login(b, &partner).await;
    b.goto("/partner/opportunities/new?type=primo").await;
    b.fill("#customer_name", "Fromagerie Dubois").await;
    b.click_and_wait("#save-opportunity").await;
    assert!(b.path_only().await.starts_with("/partner/opportunities/"), "{}", b.text("main").await);
    b.find("#actions-menu").await.click().await;
    b.click_and_wait("#presales-request").await;
    assert_eq!(b.path_only().await, "/partner/presales/new");
    b.fill("#description", "Démonstration de la gestion commerciale pour 8 utilisateurs.").await;
    b.exec("document.getElementById('intervention_type').value = 'demo'; return true;").await;
    b.find("#on_site").await.click().await;
    b.fill("#place", "3 place du Marché, Angers").await;
    // Without the confirmation box: refused with the field.
    b.click_and_wait("#save-presales").await;
    assert!(
        b.find_now(".has-error #confirmed").await.is_some() || b.text("main").await.contains("confirmation"),
        "{}",
        b.text("main").await
    );
    b.find("#confirmed").await.click().await;
    b.click_and_wait("#save-presales").await;
    let path = b.path_only().await;
    assert!(path.starts_with("/partner/presales/"), "{}", b.text("main").await);
    let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(status(b).await, "brouillon");
    b.find("#submit-confirmed").await.click().await;
    b.click_and_wait("#presales-submit-button").await;
    assert_eq!(status(b).await, "a_traiter");
    b.screenshot("fr-partner-presales-submitted").await;
    b.click_and_wait("#logout").await;

    // The engineer accepts and sends three slots.
    login(b, ENGINEER, DEMO_PASSWORD).await;
    assert!(b.nav_labels().await.iter().any(|l| l == "Avant-vente"), "{:?}", b.nav_labels().await);
    b.goto("/presales").await;
    assert!(b.text("#presales-table").await.contains("Fromagerie Dubois"));
    b.goto(&format!("/presales/{id}")).await;
    b.click_and_wait("#presales-accept").await;
    assert_eq!(status(b).await, "en_cours");
    propose(b, app, 20, 3).await;
    assert_eq!(status(b).await, "planifiee");
    b.screenshot("fr-presales-proposals").await;
    b.click_and_wait("#logout").await;

    // The partner asks for other dates.
    partner_login(b, &partner).await;
    b.goto(&format!("/partner/presales/{id}")).await;
    b.find("#presales-other-dates-open").await.click().await;
    b.fill("#expectations", "Plutôt un mardi ou un jeudi après-midi.").await;
    b.click_and_wait("#presales-send-other-dates").await;
    assert_eq!(status(b).await, "en_cours");
    b.click_and_wait("#logout").await;

    // The engineer sees the expectations and sends new slots; the first round stays.
    login(b, ENGINEER, DEMO_PASSWORD).await;
    b.goto(&format!("/presales/{id}")).await;
    assert!(b.text("#activity").await.contains("mardi ou un jeudi"));
    propose(b, app, 30, 2).await;
    assert_eq!(status(b).await, "planifiee");
    assert!(b.text("#presales-proposals").await.contains("précédent"), "the earlier round is kept");
    b.click_and_wait("#logout").await;

    // The partner picks one and accepts: terminee, an invitation to both sides.
    partner_login(b, &partner).await;
    b.goto(&format!("/partner/presales/{id}")).await;
    b.find("#presales-pick input[type=radio]").await.click().await;
    b.click_and_wait("#presales-accept-proposal").await;
    assert_eq!(status(b).await, "terminee");
    b.screenshot("fr-partner-presales-accepted").await;
    common::run_jobs(app).await;
    for to in [partner.as_str(), ENGINEER] {
        let got = mails_to(smtp, to);
        assert!(
            got.iter().any(|(_, raw)| raw.contains("text/calendar") && raw.contains("METHOD:REQUEST")),
            "the invitation reached {to}: {:?}",
            got.iter().map(|(s, _)| s).collect::<Vec<_>>()
        );
    }
    b.click_and_wait("#logout").await;

    // The accepted slot shows in the engineer's calendar.
    login(b, ENGINEER, DEMO_PASSWORD).await;
    let slot_day = sqlx::query_scalar::<_, i64>(
        "SELECT s.start_at FROM presales_slots s JOIN presales_requests r ON r.accepted_slot_id = s.id WHERE r.id = $1",
    )
    .bind(id)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    let zone = carnet::settings::zone(&app.state.db).await.unwrap();
    b.goto(&format!("/calendar?view=week&date={}", zone.date(slot_day))).await;
    assert!(b.find_now(&format!("a.presales-item[href='/presales/{id}']")).await.is_some(), "{}", b.text("main").await);

    // Information: asked from planifiee on another request, answered, back to planifiee.
    let other: i64 = sqlx::query_scalar("SELECT id FROM presales_requests WHERE status = 'planifiee' AND id <> $1 ORDER BY id LIMIT 1")
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .expect("a demo request waiting for the partner's choice");
    let owner: String = sqlx::query_scalar(
        "SELECT u.email FROM presales_requests r JOIN partner_users u ON u.partner_id = r.partner_id AND u.can_opportunities = 1 AND u.status = 'active' WHERE r.id = $1 ORDER BY u.id LIMIT 1",
    )
    .bind(other)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    b.goto(&format!("/presales/{other}")).await;
    b.fill("#question", "Combien de sites seront équipés ?").await;
    b.click_and_wait("#presales-ask-info button").await;
    assert_eq!(status(b).await, "en_attente_info");
    b.click_and_wait("#logout").await;
    partner_login(b, &owner).await;
    b.goto(&format!("/partner/presales/{other}")).await;
    assert!(b.text("#presales-question").await.contains("Combien de sites"));
    b.fill("#answer", "Deux sites.").await;
    b.click_and_wait("#presales-answer").await;
    assert_eq!(status(b).await, "planifiee", "the answer returns the request to its previous status");

    // A refused demo request shows its reason to the partner.
    let refused: i64 = sqlx::query_scalar("SELECT id FROM presales_requests WHERE status = 'refusee' ORDER BY id LIMIT 1")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("a refused demo request");
    let refused_owner: String = sqlx::query_scalar(
        "SELECT u.email FROM presales_requests r JOIN partner_users u ON u.partner_id = r.partner_id AND u.can_opportunities = 1 AND u.status = 'active' WHERE r.id = $1 ORDER BY u.id LIMIT 1",
    )
    .bind(refused)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    if refused_owner != owner {
        b.click_and_wait("#logout").await;
        partner_login(b, &refused_owner).await;
    }
    b.goto(&format!("/partner/presales/{refused}")).await;
    assert!(b.text("#presales-reason").await.contains("hors de notre zone"), "{}", b.text("main").await);
    assert!(b.violations().await.is_empty(), "{:?}", b.violations().await);
    b.click_and_wait("#logout").await;
}
