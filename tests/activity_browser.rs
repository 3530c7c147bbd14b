//! The activity feed in Chromium, on the demo company, on both databases (issue 21): a sales
//! rep works an opportunity from its composer (a note, a call scheduled then logged, a status
//! change), a support agent works a request (a customer update that changes its status, an
//! email, an internal note, a call scheduled, found in her day, then logged), each feed in the right order and filtered by kind without script; the customer's
//! page gathers both files' entries, each linked to its file.

mod common;

use common::browser::*;
use common::TestApp;
use serde_json::json;

const DEMO_PASSWORD: &str = carnet::demo::PASSWORD;

async fn assert_ok(b: &Browser, what: &str) {
    let status = b.exec("const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : 0;").await;
    let status = status.as_i64().unwrap_or(0);
    let path = b.path().await;
    assert!((200..400).contains(&status), "{what}: {path} answered {status}");
    let violations = b.violations().await;
    assert!(violations.is_empty(), "{what}: {path} broke the Content-Security-Policy: {violations:#?}");
}

async fn open(b: &Browser, path: &str) {
    b.goto(path).await;
    assert_ok(b, path).await;
}

async fn click(b: &Browser, css: &str) {
    // Pages come back at their feed (`#activity`): bring the control into view first.
    b.find(css).await;
    b.exec(&format!("document.querySelector({}).scrollIntoView({{block: 'center'}}); return true;", json!(css))).await;
    b.click_and_wait(css).await;
    assert_ok(b, css).await;
}

async fn set(b: &Browser, css: &str, value: &str) {
    b.find(css).await;
    b.exec(&format!(
        "const e = document.querySelector({css}); e.value = {value}; e.dispatchEvent(new Event('change', {{bubbles: true}})); return true;",
        css = json!(css),
        value = json!(value)
    ))
    .await;
}

async fn login(b: &Browser, email: &str) {
    b.goto("/login").await;
    b.fill("#email", email).await;
    b.fill("#password", DEMO_PASSWORD).await;
    click(b, "#login-submit").await;
}

async fn id_of(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.state.db.pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The kinds of the feed's entries, top to bottom.
async fn feed_kinds(b: &Browser) -> Vec<String> {
    let v = b.exec("return Array.from(document.querySelectorAll('#activity .feed-entry')).map(e => e.dataset.kind);").await;
    v.as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_and_a_support_agent_work_their_files_from_the_feed() {
    with_demo(|b, app| Box::pin(journey(b, app))).await;
}

async fn journey(b: &Browser, app: &TestApp) {
    let marc = id_of(app, "SELECT id FROM users WHERE email = 'marc.tremblay@carnet.demo'").await;
    let laval = id_of(app, "SELECT id FROM org_units WHERE name = 'Succursale Laval'").await;
    let admin = id_of(app, &format!("SELECT id FROM users WHERE email = '{}'", carnet::demo::ADMIN_EMAIL)).await;
    // A customer of Camille's branch with a request; Marc gets an opportunity for them.
    let team = id_of(app, "SELECT org_unit_id FROM users WHERE email = 'camille.fortin@carnet.demo'").await;
    let rid = id_of(
        app,
        &format!(
            "SELECT MIN(id) FROM service_requests WHERE branch_id IN ({laval}, {team}) AND status <> 'cloture' AND owner_id IS NOT NULL"
        ),
    )
    .await;
    let cust = id_of(app, &format!("SELECT customer_id FROM service_requests WHERE id = {rid}")).await;
    let api = app.api(&app.token_for(admin).await);
    let (st, o) = api.send("POST", "/api/v1/opportunities", Some(json!({"customer_id": cust, "owner_id": marc, "branch_id": laval}))).await;
    assert_eq!(st, 201, "{o}");
    let oid = o["id"].as_i64().unwrap();

    // Marc: a note, a call scheduled and logged, a status change, all from the opportunity's page.
    login(b, "marc.tremblay@carnet.demo").await;
    open(b, &format!("/opportunities/{oid}")).await;
    b.fill("#note-body", "Veut un utilitaire pour la boulangerie.").await;
    click(b, "#add-note").await;
    assert!(b.text("#activity .feed-note").await.contains("Veut un utilitaire"));
    app.clock.advance(60_000);
    b.exec("document.querySelector('#tab-call > summary').scrollIntoView({block: 'center'}); return true;").await;
    b.find("#tab-call > summary").await.click().await;
    let zone = carnet::settings::zone(&app.state.db).await.unwrap();
    set(b, "#call-date", &zone.date(app.now() + 86_400_000)).await;
    set(b, "#call-time", "10:30").await;
    b.fill("#call-subject", "Proposer un essai").await;
    click(b, "#call-form button[type=submit]").await;
    let call = id_of(app, &format!("SELECT id FROM calls WHERE opportunity_id = {oid}")).await;
    assert_eq!(feed_kinds(b).await.first().map(String::as_str), Some("call"), "the scheduled call on top");
    app.clock.advance(60_000);
    b.fill(&format!("#comment-{call}"), "Essai samedi 10 h.").await;
    click(b, &format!("#log-call-{call}")).await;
    app.clock.advance(60_000);
    // An email to the customer from the composer (addressed to them by default).
    b.exec("document.querySelector('#tab-email > summary').scrollIntoView({block: 'center'}); return true;").await;
    b.find("#tab-email > summary").await.click().await;
    b.fill("#e-to", "gerant@boulangerie.example").await;
    b.fill("#e-subject", "Votre utilitaire").await;
    b.fill("#e-message", "Bonjour, je vous propose un essai samedi à 10 h.").await;
    click(b, "#send-opportunity-email").await;
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM emails WHERE entity_type = 'opportunity' AND entity_id = {oid} AND subject = 'Votre utilitaire'"
        ))
        .await,
        1
    );
    app.clock.advance(60_000);
    // Another status among those Marc may choose.
    let label = b
        .exec(
            "const s = document.getElementById('status'); const cur = s.value; \
               for (const o of s.options) { if (o.value !== cur) { s.value = o.value; return o.textContent.trim(); } } return '';",
        )
        .await;
    let label = label.as_str().unwrap().to_string();
    assert!(!label.is_empty(), "Marc has another status to choose");
    click(b, "#status-form button[type=submit]").await;
    let kinds = feed_kinds(b).await;
    assert_eq!(kinds[..4], ["status", "email", "call", "note"], "newest first: {kinds:?}");
    assert_eq!(kinds.last().map(String::as_str), Some("email"), "the oldest: the assignment email to Marc: {kinds:?}");
    let top = b.text("#activity .feed-entry:first-child").await;
    assert!(top.contains(&label), "the status change in words: {top}");
    assert!(b.text(&format!("#call-{call}")).await.contains("Essai samedi"), "the logged call with its outcome");
    b.screenshot("activity-opportunity").await;
    b.exec("document.getElementById('activity').scrollIntoView(); window.scrollBy(0, -90); return true;").await;
    b.screenshot("activity-opportunity-feed").await;
    // The kind filter is a link: only calls, then everything again.
    click(b, "#activity .chips a[href*='kind=call']").await;
    assert!(b.path().await.contains("kind=call"));
    assert_eq!(feed_kinds(b).await, ["call"]);
    click(b, "#kind-all").await;
    assert_eq!(feed_kinds(b).await.len(), kinds.len());
    click(b, "#logout").await;

    // Camille: a customer update that changes the status, then an email, from the request's page.
    login(b, "camille.fortin@carnet.demo").await;
    open(b, &format!("/service/requests/{rid}")).await;
    let current: String =
        sqlx::query_scalar("SELECT status FROM service_requests WHERE id = $1").bind(rid).fetch_one(&app.state.db.pool).await.unwrap();
    b.exec(&format!(
        "const s = document.getElementById('update-status'); \
         for (const o of s.options) {{ if (o.value !== {cur} && o.value !== 'cloture') {{ s.value = o.value; break; }} }} return true;",
        cur = json!(current)
    ))
    .await;
    app.clock.advance(60_000);
    b.fill("#update-message", "Le technicien passe mardi entre 8 h et 10 h.").await;
    click(b, "#send-update").await;
    app.clock.advance(60_000);
    b.exec("document.getElementById('open-email').scrollIntoView({block: 'center'}); return true;").await;
    b.find("#open-email").await.click().await;
    b.fill("#m-to", "gerant@boulangerie.example").await;
    b.fill("#m-message", "Voici le résumé de votre demande.").await;
    click(b, "#send-request-email").await;
    // An internal note, then a call to the customer scheduled and logged, all from the request's page.
    app.clock.advance(60_000);
    b.exec("document.querySelector('#tab-note > summary').scrollIntoView({block: 'center'}); return true;").await;
    b.find("#tab-note > summary").await.click().await;
    b.fill("#note-body", "Client joignable le matin seulement.").await;
    click(b, "#add-note").await;
    assert!(b.text("#activity .feed-note").await.contains("Client joignable le matin"));
    app.clock.advance(60_000);
    b.exec("document.querySelector('#tab-call > summary').scrollIntoView({block: 'center'}); return true;").await;
    b.find("#tab-call > summary").await.click().await;
    let later = app.now() + 2 * 3_600_000;
    set(b, "#call-date", &zone.date(later)).await;
    set(b, "#call-time", &zone.time(later)).await;
    b.fill("#call-subject", "Confirmer le passage du technicien").await;
    click(b, "#schedule-call").await;
    let rcall = id_of(app, &format!("SELECT id FROM calls WHERE request_id = {rid}")).await;
    assert_eq!(feed_kinds(b).await.first().map(String::as_str), Some("call"), "the scheduled call on top");
    // In Camille's day, leading back to the request.
    open(b, "/").await;
    click(b, &format!("#my-call-{rcall} a")).await;
    assert_eq!(b.path_only().await, format!("/service/requests/{rid}#call-{rcall}"), "to the call in the request's feed");
    app.clock.advance(60_000);
    b.fill(&format!("#comment-{rcall}"), "Passage confirmé mardi 8 h.").await;
    click(b, &format!("#log-call-{rcall}")).await;
    assert!(b.text(&format!("#call-{rcall}")).await.contains("Passage confirmé"), "the logged call with its outcome");
    let kinds = feed_kinds(b).await;
    assert_eq!(kinds[..3], ["call", "note", "email"], "newest first: {kinds:?}");
    let at = |k: &str| kinds.iter().position(|x| x == k).unwrap_or_else(|| panic!("no {k} in {kinds:?}"));
    assert!(at("email") < at("update") && at("email") < at("status"), "{kinds:?}");
    b.screenshot("activity-request").await;
    b.exec("document.getElementById('activity').scrollIntoView(); window.scrollBy(0, -90); return true;").await;
    b.screenshot("activity-request-feed").await;
    click(b, "#activity .chips a[href*='kind=email']").await;
    assert!(feed_kinds(b).await.iter().all(|k| k == "email"));
    click(b, "#logout").await;

    // The administrator: the customer's page gathers both files, each entry linked to its file.
    login(b, carnet::demo::ADMIN_EMAIL).await;
    open(b, &format!("/customers/{cust}")).await;
    let links = b.exec("return Array.from(document.querySelectorAll('#activity a.feed-file')).map(a => a.getAttribute('href'));").await;
    let links: Vec<String> = links.as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_string()).collect();
    assert!(links.contains(&format!("/opportunities/{oid}")), "{links:?}");
    assert!(links.contains(&format!("/service/requests/{rid}")), "{links:?}");
    b.screenshot("activity-customer").await;
    b.exec("document.getElementById('activity').scrollIntoView(); window.scrollBy(0, -90); return true;").await;
    b.screenshot("activity-customer-feed").await;
    click(b, &format!("#activity a.feed-file[href='/opportunities/{oid}']")).await;
    assert_eq!(b.path_only().await, format!("/opportunities/{oid}"));
}
