//! The customer portal in headless Chromium, with the demo company and a real SMTP server:
//! the support agent opens the portal to a customer and invites a contact; the invitation
//! arrives by email; the contact follows the link, sets a password, opens a request with an
//! attachment; the agent posts an update; the contact sees it; the password is reset by
//! email; the portal fits a phone. Both databases.

mod common;

use common::browser::*;
use common::{SmtpServer, TestApp};
use serde_json::json;

const AGENT: &str = "camille.fortin@carnet.demo";
const DEMO_PASSWORD: &str = carnet::demo::PASSWORD;
const PORTAL_PW: &str = "Mon-espace-client-2026";

/// The last email the SMTP server received for `to`, as (subject, text).
fn last_mail_to(smtp: &SmtpServer, to: &str) -> Option<(String, String)> {
    smtp.messages()
        .iter()
        .rev()
        .filter_map(|m| mail_parser::MessageParser::default().parse(m))
        .filter(|m| m.to().and_then(|a| a.first()).and_then(|a| a.address()).is_some_and(|a| a.eq_ignore_ascii_case(to)))
        .map(|m| (m.subject().unwrap_or_default().to_string(), m.body_text(0).map(|t| t.to_string()).unwrap_or_default()))
        .next()
}

fn link_in(text: &str, kind: &str) -> String {
    let marker = format!("/portal/{kind}/");
    let start = text.find(&marker).unwrap_or_else(|| panic!("a {kind} link in {text}"));
    text[start..].split_whitespace().next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_contact_is_invited_and_works_in_the_portal() {
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
        let def = carnet::settings::def("service.messages_enabled").unwrap();
        carnet::settings::set_many(&app.state.db, &carnet::access::Actor::system(), app.now(), &[(def, "true".into())]).await.unwrap();
        let b = driver.browser(&app).await;
        journey(&b, &app, &smtp).await;
        b.quit().await;
        app.stop().await;
    }
}

async fn journey(b: &Browser, app: &TestApp, smtp: &SmtpServer) {
    // A company the support agent may manage, not yet open to the portal, with a contact
    // that has an address.
    let agent = app.login(AGENT, DEMO_PASSWORD).await.expect("the support agent logs in");
    let candidates: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT c.id, ct.id, ct.email FROM customers c JOIN contacts ct ON ct.customer_id = c.id \
         WHERE c.kind = 'company' AND c.portal_enabled = 0 AND ct.email IS NOT NULL ORDER BY c.id, ct.id",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    let mut chosen = None;
    for (customer, contact, email) in candidates {
        if agent.get(&format!("/customers/{customer}/portal")).await.status() == 200 {
            chosen = Some((customer, contact, email));
            break;
        }
    }
    let (customer, contact, email) = chosen.expect("the support agent manages a company of the demo");

    // The agent opens the portal to the customer and invites the contact, in the browser.
    login(b, AGENT, DEMO_PASSWORD).await;
    b.goto(&format!("/customers/{customer}")).await;
    b.click_and_wait("#portal-access").await;
    b.find("#portal-enabled").await.click().await;
    b.click_and_wait("#save-portal-settings").await;
    b.exec(&format!("document.getElementById('contact_id').value = '{contact}'; return true;")).await;
    b.click_and_wait("#portal-invite-submit").await;
    assert!(b.text("#notice").await.contains("Invitation"), "{}", b.text("main").await);
    let accounts = b.text("#portal-accounts").await;
    assert!(accounts.contains(&email), "{accounts}");
    b.screenshot("fr-portal-access").await;
    common::run_jobs(app).await;
    let (subject, text) = last_mail_to(smtp, &email).expect("the invitation reached the SMTP server");
    assert!(subject.contains("espace client"), "{subject}");
    let welcome = link_in(&text, "welcome");
    b.click_and_wait("#logout").await;

    // The contact follows the link and chooses a password (a short one first).
    b.goto(&welcome).await;
    b.fill("#password", "court").await;
    b.fill("#confirm", "court").await;
    b.click_and_wait("#set-password").await;
    assert!(b.find_now(".has-error #password").await.is_some(), "a short password is refused with the field");
    b.fill("#password", PORTAL_PW).await;
    b.fill("#confirm", PORTAL_PW).await;
    b.click_and_wait("#set-password").await;
    assert_eq!(b.path_only().await, "/portal");
    b.screenshot("fr-portal-home").await;

    // A new request with an attachment.
    b.click_and_wait("#new-request").await;
    b.exec("document.getElementById('request_type').value = 'panne'; return true;").await;
    b.fill("#description", "Le lave-vaisselle affiche E12.").await;
    let file = std::env::temp_dir().join(format!("carnet-photo-{}.jpg", std::process::id()));
    std::fs::write(&file, b"\xff\xd8\xff photo").unwrap();
    b.find("#files").await.send_keys(&file.display().to_string()).await;
    b.click_and_wait("#create-request").await;
    assert!(b.path_only().await.starts_with("/portal/requests/"), "{}", b.text("main").await);
    let docs = b.text("#documents").await;
    assert!(docs.contains(&file.file_name().unwrap().to_string_lossy().to_string()), "{docs}");
    let _ = std::fs::remove_file(&file);
    let request: i64 = b.path_only().await.rsplit('/').next().unwrap().parse().unwrap();
    b.screenshot("fr-portal-request").await;
    // A message to the team.
    b.fill("#message-body", "Le code E12 revient après chaque cycle.").await;
    b.click_and_wait("#send-message").await;
    assert!(b.text("#conversation").await.contains("Pas encore lu"));
    b.click_and_wait("#logout").await;

    // The agent sees it arrive from the portal and posts an update.
    login(b, AGENT, DEMO_PASSWORD).await;
    b.goto(&format!("/service/requests/{request}")).await;
    assert!(b.text("main").await.contains("Espace client"), "source: portal");
    b.exec("document.getElementById('update-status').value = 'planifie'; return true;").await;
    b.fill("#update-message", "Un technicien passe jeudi matin.").await;
    b.click_and_wait("#send-update").await;
    // The customer's message in the request's feed, unread; marked read, answered from the composer.
    let feed = b.text("#activity").await;
    assert!(feed.contains("Le code E12 revient") && feed.contains("Non lu"), "{feed}");
    b.exec("document.querySelector('#activity form[action$=\"/read\"] button').scrollIntoView({block: 'center'}); return true;").await;
    b.click_and_wait("#activity form[action$='/read'] button").await;
    assert!(b.text("#activity .feed-in").await.contains("Lu"));
    b.exec("document.querySelector('#composer-message > summary').scrollIntoView({block: 'center'}); return true;").await;
    b.find("#composer-message > summary").await.click().await;
    b.fill("#message-body", "Merci, le technicien apporte la carte de rechange.").await;
    let plan = std::env::temp_dir().join(format!("schema-carte-{}.pdf", std::process::id()));
    std::fs::write(&plan, b"%PDF-1.4 schema").unwrap();
    b.find("#message-files").await.send_keys(&plan.display().to_string()).await;
    b.exec("document.getElementById('send-message').scrollIntoView({block: 'center'}); return true;").await;
    b.click_and_wait("#send-message").await;
    let _ = std::fs::remove_file(&plan);
    assert!(b.text("#activity .feed-document").await.contains("schema-carte-"), "the file in the feed");
    b.screenshot("fr-request-conversation").await;
    b.click_and_wait("#logout").await;

    // The contact logs in and sees the update, marked new.
    b.goto("/portal/login").await;
    b.fill("#email", &email).await;
    b.fill("#password", PORTAL_PW).await;
    b.click_and_wait("#login-submit").await;
    let open = b.text("#open-requests").await;
    assert!(open.contains("Un technicien passe jeudi matin.") && open.contains("Nouveau"), "{open}");
    b.goto(&format!("/portal/requests/{request}")).await;
    let conv = b.text("#conversation").await;
    assert!(conv.contains("Lu par notre équipe") && conv.contains("apporte la carte de rechange"), "{conv}");
    assert!(b.text("#conversation .attachments").await.contains("schema-carte-"), "{conv}");
    assert!(b.text("#documents").await.contains("schema-carte-"), "a document of the request, shared");
    b.screenshot("fr-portal-conversation").await;
    b.click_and_wait("#logout").await;
    // The agent closes the conversation: the compose box is disabled on both sides.
    login(b, AGENT, DEMO_PASSWORD).await;
    b.goto(&format!("/service/requests/{request}")).await;
    b.exec("document.getElementById('composer-message').open = true; document.querySelector('#conversation details').open = true; return true;").await;
    b.fill("#block-note", "Suite par téléphone.").await;
    b.click_and_wait("#toggle-conversation").await;
    assert_eq!(b.exec("return document.getElementById('message-body').disabled;").await, json!(true));
    b.click_and_wait("#logout").await;
    b.goto("/portal/login").await;
    b.fill("#email", &email).await;
    b.fill("#password", PORTAL_PW).await;
    b.click_and_wait("#login-submit").await;
    b.goto(&format!("/portal/requests/{request}")).await;
    assert!(b.text("#conversation-closed").await.contains("Suite par téléphone."));
    assert_eq!(b.exec("return document.getElementById('message-body').disabled;").await, json!(true));
    b.click_and_wait("#logout").await;

    // Password reset by email.
    b.goto("/portal/login").await;
    b.click_and_wait("#forgot").await;
    b.fill("#email", &email).await;
    b.click_and_wait("#reset-submit").await;
    assert!(b.find_now("#reset-sent").await.is_some());
    common::run_jobs(app).await;
    let (_, text) = last_mail_to(smtp, &email).expect("the reset email");
    b.goto(&link_in(&text, "reset")).await;
    b.fill("#password", "Un-autre-mot-2026").await;
    b.fill("#confirm", "Un-autre-mot-2026").await;
    b.click_and_wait("#set-password").await;
    assert_eq!(b.path_only().await, "/portal");

    // On a phone: the navigation is a menu.
    b.post("/window/rect", json!({"width": 390, "height": 844})).await;
    b.goto("/portal/requests").await;
    let menu_shown = b.exec("return getComputedStyle(document.querySelector('.portal-menu > summary')).display !== 'none';").await;
    assert_eq!(menu_shown, json!(true), "the menu button shows on a phone");
    let nav_hidden = b.exec("return getComputedStyle(document.querySelector('.portal-menu .mainnav')).display === 'none';").await;
    assert_eq!(nav_hidden, json!(true), "the links fold into the menu");
    b.screenshot("fr-portal-phone").await;
    let wide = b
        .exec("var w = window.innerWidth; return Array.from(document.querySelectorAll('body *')).filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().right > w + 1).map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 8);")
        .await;
    assert_eq!(wide, json!([]), "nothing wider than the phone (tables scroll in their frame)");
    b.find("#portal-menu").await.click().await;
    b.screenshot("fr-portal-phone-menu").await;
    b.click_and_wait("#lang-switch").await;
    assert_eq!(b.html_lang().await, "en");
    b.screenshot("en-portal-phone").await;
    b.post("/window/rect", json!({"width": 1440, "height": 900})).await;
    assert!(b.violations().await.is_empty(), "no CSP violation: {:?}", b.violations().await);
}
