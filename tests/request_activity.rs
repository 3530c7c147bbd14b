//! A service request's composer (issue 21), as the demo's support agent works it: internal
//! notes (staff only: never on the customer's portal) and calls to the customer (scheduled from
//! the composer, logged from the feed, due in the owner's day, reminded), written from the
//! request's page or the API, in the request's feed and history; refused with 422 on the field,
//! in the user's language, with what was typed kept; 404 for whoever does not see the request,
//! and nothing written. Both databases.

mod common;

use common::{each_backend, Session, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const DEMO_PASSWORD: &str = carnet::demo::PASSWORD;
const AGENT: &str = "camille.fortin@carnet.demo";

async fn id_of(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.state.db.pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn kinds(v: &Value) -> Vec<String> {
    v["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

/// The demo with a request of the customer who has a portal account (their contact as the
/// requester), in Camille's branch, hers. Returns (request, portal email).
async fn demo_request(app: &TestApp) -> (i64, String) {
    let login = carnet::demo::load(&app.state).await.expect("demo data loads");
    let portal_email = login.portal_email.expect("a portal user in the demo");
    let contact = id_of(app, &format!("SELECT contact_id FROM portal_accounts WHERE email = '{portal_email}'")).await;
    let customer = id_of(app, &format!("SELECT customer_id FROM contacts WHERE id = {contact}")).await;
    let laval = id_of(app, "SELECT id FROM org_units WHERE name = 'Succursale Laval'").await;
    let camille = id_of(app, &format!("SELECT id FROM users WHERE email = '{AGENT}'")).await;
    let admin = id_of(app, &format!("SELECT id FROM users WHERE email = '{}'", carnet::demo::ADMIN_EMAIL)).await;
    let api = app.api(&app.token_for(admin).await);
    let (s, r) = api
        .send(
            "POST",
            "/api/v1/service-requests",
            Some(json!({"customer_id": customer, "requester_contact_id": contact, "request_type": "panne",
                        "description": "Le four ne chauffe plus.", "branch_id": laval, "owner_id": camille})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    (r["id"].as_i64().unwrap(), portal_email)
}

async fn agent(app: &TestApp) -> Session {
    app.login(AGENT, DEMO_PASSWORD).await.expect("Camille logs in")
}

#[tokio::test]
async fn a_support_agent_writes_internal_notes_that_the_customer_never_sees() {
    each_backend(|app| async move {
        let (rid, portal_email) = demo_request(&app).await;
        let s = agent(&app).await;
        let page = format!("/service/requests/{rid}");
        let (st, html) = s.get_text(&page).await;
        assert_eq!(st, StatusCode::OK);
        assert!(html.contains("id=\"tab-note\"") && html.contains("Note interne"), "the composer's note tab, in French");

        // A customer update the customer will see, then an internal note they will not.
        let r = s.post(&format!("{page}/updates"), &[("status", "en_cours"), ("message", "Un technicien vous appellera.")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        app.clock.advance(60_000);
        let r = s.post(&format!("{page}/notes"), &[("body", "Client difficile à joindre avant 16 h.")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(r.headers()["location"].to_str().unwrap().contains("notice=notice.note_added"));
        let note = id_of(&app, &format!("SELECT id FROM request_notes WHERE request_id = {rid}")).await;
        let (_, html) = s.get_text(&page).await;
        let (n, u) =
            (html.find(&format!("id=\"note-{note}\"")).expect("the note in the feed"), html.find("Un technicien vous appellera").unwrap());
        assert!(n < u, "newest first");
        assert!(html.contains("Client difficile à joindre"));

        // The API: the same note in the list, the feed and the history.
        let camille = id_of(&app, &format!("SELECT id FROM users WHERE email = '{AGENT}'")).await;
        let api = app.api(&app.token_for(camille).await);
        app.clock.advance(60_000);
        let (st, b) = api.send("POST", &format!("/api/v1/service-requests/{rid}/notes"), Some(json!({"body": "Pièce commandée."}))).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        assert_eq!(b["author_name"], "Camille Fortin");
        let (st, list) = api.get(&format!("/api/v1/service-requests/{rid}/notes")).await;
        assert_eq!(st, StatusCode::OK, "{list}");
        let bodies: Vec<&str> = list["items"].as_array().unwrap().iter().map(|n| n["body"].as_str().unwrap()).collect();
        assert_eq!(bodies, ["Pièce commandée.", "Client difficile à joindre avant 16 h."]);
        let (_, one) = api.get(&format!("/api/v1/service-requests/{rid}/notes?limit=1")).await;
        let cursor = one["next_cursor"].as_str().expect("a next page");
        let (_, two) = api.get(&format!("/api/v1/service-requests/{rid}/notes?limit=1&before={cursor}")).await;
        assert_eq!(two["items"][0]["body"], "Client difficile à joindre avant 16 h.");
        assert!(two["next_cursor"].is_null());
        let (_, feed) = api.get(&format!("/api/v1/service-requests/{rid}/activity")).await;
        assert_eq!(kinds(&feed)[..2], ["note", "note"], "{feed}");
        assert_eq!(feed["items"][0]["state"], "internal");
        let (_, only) = api.get(&format!("/api/v1/service-requests/{rid}/activity?kind=note")).await;
        assert_eq!(kinds(&only), ["note", "note"]);
        let (_, history) = api.get(&format!("/api/v1/service-requests/{rid}/history")).await;
        assert!(
            history["items"].as_array().unwrap().iter().any(|e| e["field"] == "note" && e["new_value"] == "Pièce commandée."),
            "in the request's history: {history}"
        );
        // The customer's page gathers it too.
        let customer = id_of(&app, &format!("SELECT customer_id FROM service_requests WHERE id = {rid}")).await;
        let (_, cfeed) = api.get(&format!("/api/v1/customers/{customer}/activity?kind=note")).await;
        assert!(cfeed["items"].as_array().unwrap().iter().any(|e| e["body"] == "Pièce commandée."), "{cfeed}");

        // The customer's portal: the update, never the notes (nor in its history).
        let portal = app.portal_login(&portal_email, DEMO_PASSWORD).await.expect("portal login");
        let (st, p) = portal.get_text(&format!("/portal/requests/{rid}")).await;
        assert_eq!(st, StatusCode::OK);
        assert!(p.contains("Un technicien vous appellera"), "the portal shows the request's updates");
        assert!(!p.contains("Client difficile") && !p.contains("Pièce commandée"), "no internal note on the portal");
        let (_, home) = portal.get_text("/portal").await;
        assert!(!home.contains("Client difficile") && !home.contains("Pièce commandée"));
        // Nor in the staff's "as the customer sees it" preview.
        let (_, preview) = s.get_text(&format!("{page}/portal-preview")).await;
        assert!(!preview.contains("Pièce commandée"), "not in the portal preview");
        app
    })
    .await;
}

#[tokio::test]
async fn a_bad_note_is_refused_on_its_field_and_an_unseen_request_is_404() {
    each_backend(|app| async move {
        let (rid, _) = demo_request(&app).await;
        let s = agent(&app).await;
        let page = format!("/service/requests/{rid}");
        // Empty: 422, the error in French on the composer's note tab, opened.
        let r = s.post(&format!("{page}/notes"), &[("body", "  ")]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(html.contains("id=\"note-error\">Champ obligatoire."), "the error on the field, in French");
        assert!(html.contains("id=\"tab-note\" open") || html.contains("open id=\"tab-note\""), "the note tab comes back open");
        // Too long: what was typed is kept.
        let long = format!("Début {}", "x".repeat(carnet::service::notes::NOTE_MAX));
        let r = s.post(&format!("{page}/notes"), &[("body", &long)]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(html.contains(&long), "the form keeps what was typed");
        assert!(html.contains("id=\"note-error\">Trop long."));
        // In English for an English user.
        let service = id_of(&app, "SELECT id FROM org_units WHERE name = 'Service Laval'").await;
        let en = app.user("agent.en@t.fr", "agent_support", Some(service)).await;
        sqlx::query("UPDATE users SET language = 'en' WHERE id = $1").bind(en).execute(&app.state.db.pool).await.unwrap();
        let se = app.login("agent.en@t.fr", common::PASSWORD).await.unwrap();
        let r = se.post(&format!("{page}/notes"), &[("body", "")]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(html.contains("id=\"note-error\">Required.") && html.contains("Internal note"), "in English");
        // The API: 422 on `body`.
        let camille = id_of(&app, &format!("SELECT id FROM users WHERE email = '{AGENT}'")).await;
        let api = app.api(&app.token_for(camille).await);
        let (st, b) = api.send("POST", &format!("/api/v1/service-requests/{rid}/notes"), Some(json!({"body": " "}))).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(b["error"]["fields"]["body"].is_string(), "{b}");
        assert_eq!(api.get(&format!("/api/v1/service-requests/{rid}/notes?limit=0")).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.count("SELECT COUNT(*) FROM request_notes").await, 0, "nothing written");

        // A support agent of another branch does not see the request: 404 everywhere, nothing written.
        let longueuil = id_of(&app, "SELECT id FROM org_units WHERE name = 'Succursale Longueuil'").await;
        let stranger = app.user("agent.longueuil@t.fr", "agent_support", Some(longueuil)).await;
        let other = app.login("agent.longueuil@t.fr", common::PASSWORD).await.unwrap();
        assert_eq!(other.get(&page).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(other.post(&format!("{page}/notes"), &[("body", "Intrus")]).await.status(), StatusCode::NOT_FOUND);
        let oapi = app.api(&app.token_for(stranger).await);
        let path = format!("/api/v1/service-requests/{rid}/notes");
        assert_eq!(oapi.send("POST", &path, Some(json!({"body": "Intrus"}))).await.0, StatusCode::NOT_FOUND);
        assert_eq!(oapi.get(&path).await.0, StatusCode::NOT_FOUND);
        // A technician may read requests, not write notes.
        let luc = id_of(&app, "SELECT id FROM users WHERE email = 'luc.gauthier@carnet.demo'").await;
        let tapi = app.api(&app.token_for(luc).await);
        assert_eq!(tapi.send("POST", &path, Some(json!({"body": "Intrus"}))).await.0, StatusCode::FORBIDDEN);
        assert_eq!(app.count("SELECT COUNT(*) FROM request_notes").await, 0, "nothing written");
        app
    })
    .await;
}

/// The local date and time of `ms` in the business's zone, as the forms take them.
async fn local(app: &TestApp, ms: i64) -> (String, String) {
    let zone = carnet::settings::zone(&app.state.db).await.unwrap();
    (zone.date(ms), zone.time(ms))
}

#[tokio::test]
async fn a_support_agent_schedules_a_call_from_the_request_and_logs_it_from_the_feed() {
    each_backend(|app| async move {
        let (rid, portal_email) = demo_request(&app).await;
        let camille = id_of(&app, &format!("SELECT id FROM users WHERE email = '{AGENT}'")).await;
        let s = agent(&app).await;
        let page = format!("/service/requests/{rid}");
        let r = s.post(&format!("{page}/notes"), &[("body", "Préfère être appelé le matin.")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        app.clock.advance(60_000);
        let (_, html) = s.get_text(&page).await;
        assert!(html.contains("id=\"tab-call\"") && html.contains("<option value=\"\">Moi</option>"), "the call tab, for me by default");
        let (date, time) = local(&app, app.now() + 2 * 3_600_000).await;
        let r = s
            .post(
                &format!("{page}/calls"),
                &[("date", &date), ("time", &time), ("subject", "Confirmer le passage du technicien"), ("owner_id", ""), ("notes", "")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(r.headers()["location"].to_str().unwrap().contains("notice=notice.call_scheduled"));
        let call = id_of(&app, &format!("SELECT id FROM calls WHERE request_id = {rid}")).await;
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM calls WHERE id = {call} AND opportunity_id IS NULL AND owner_id = {camille}")).await, 1);

        // Due today: in Camille's day, linked to its entry in the request's feed.
        let (_, home) = s.get_text("/").await;
        assert!(home.contains(&format!("id=\"my-call-{call}\"")), "the call in my day");
        assert!(home.contains(&format!("href=\"/service/requests/{rid}#call-{call}\"")));
        // In the feed, on top, with its log form.
        let (_, html) = s.get_text(&page).await;
        let at_call = html.find(&format!("id=\"call-{call}\"")).expect("the call in the feed");
        let note = id_of(&app, &format!("SELECT id FROM request_notes WHERE request_id = {rid}")).await;
        assert!(at_call < html.find(&format!("id=\"note-{note}\"")).unwrap(), "newest first");
        assert!(html.contains(&format!("action=\"/service/requests/{rid}/calls/{call}/log\"")));

        // Logged from the feed: the entry moves to when it was logged, with its outcome.
        app.clock.advance(60_000);
        let log = format!("{page}/calls/{call}/log");
        let r = s.post(&log, &[("outcome", "joint"), ("comment", "Passage confirmé mardi 8 h.")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(r.headers()["location"].to_str().unwrap().contains("notice=notice.call_logged"));
        assert_eq!(s.post(&log, &[("outcome", "joint")]).await.status(), StatusCode::CONFLICT, "a call is logged once");
        let api = app.api(&app.token_for(camille).await);
        let (_, feed) = api.get(&format!("/api/v1/service-requests/{rid}/activity")).await;
        assert_eq!(kinds(&feed)[..2], ["call", "note"], "{feed}");
        assert_eq!(feed["items"][0]["state"], "done");
        assert!(feed["items"][0]["detail"].as_str().unwrap().contains("Passage confirmé"), "{feed}");
        let (_, only) = api.get(&format!("/api/v1/service-requests/{rid}/activity?kind=call")).await;
        assert_eq!(kinds(&only), ["call"]);
        let (_, html) = s.get_text(&page).await;
        assert!(!html.contains(&format!("action=\"{log}\"")), "no log form once logged");
        assert!(html.contains("<p class=\"feed-outcome\">Client joint — Passage confirmé mardi 8 h.</p>"), "the outcome in words, not its code");
        let (_, home) = s.get_text("/").await;
        assert!(!home.contains(&format!("id=\"my-call-{call}\"")), "done: out of my day");
        // The request's history says both; the portal says neither.
        let (_, history) = api.get(&format!("/api/v1/service-requests/{rid}/history")).await;
        let actions: Vec<&str> =
            history["items"].as_array().unwrap().iter().filter(|e| e["field"] == "call").map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["call_logged", "call"], "{history}");
        let portal = app.portal_login(&portal_email, DEMO_PASSWORD).await.expect("portal login");
        let (_, p) = portal.get_text(&format!("/portal/requests/{rid}")).await;
        assert!(!p.contains("Confirmer le passage") && !p.contains("Passage confirmé"), "calls are internal");

        // The API: schedule, list, log; a reminder to its owner, by email and in the bell.
        let due = app.now() + 10 * 60_000;
        let (date, time) = local(&app, due).await;
        let (st, c) = api
            .send(
                "POST",
                &format!("/api/v1/service-requests/{rid}/calls"),
                Some(json!({"date": date, "time": time, "subject": "Rappeler pour la pièce"})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{c}");
        assert_eq!((c["request_id"].as_i64(), c["owner_id"].as_i64()), (Some(rid), Some(camille)));
        assert!(c["opportunity_id"].is_null() && c["request_number"].as_str().unwrap().starts_with("DEM-"));
        let (_, list) = api.get(&format!("/api/v1/service-requests/{rid}/calls")).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        let ctx = app.state.job_context();
        carnet::jobs::run_now(&ctx, &app.state.jobs, carnet::calls::REMINDER_JOB).await.unwrap().unwrap();
        carnet::jobs::run_now(&ctx, &app.state.jobs, carnet::calls::REMINDER_JOB).await.unwrap().unwrap();
        assert_eq!(app.count("SELECT COUNT(*) FROM emails WHERE event = 'request_call_reminder'").await, 1, "reminded once");
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) FROM notifications WHERE user_id = {camille} AND event = 'request_call_reminder' AND entity_type = 'service_request' AND entity_id = {rid}"
            ))
            .await,
            1
        );
        let (st, logged) = api
            .send("POST", &format!("/api/v1/service-requests/{rid}/calls/{}/log", c["id"]), Some(json!({"outcome": "cancelled"})))
            .await;
        assert_eq!(st, StatusCode::OK, "{logged}");
        assert_eq!(logged["status"], "cancelled");
        // A request's call is not an opportunity's: the sales routes do not know it.
        let admin = id_of(&app, &format!("SELECT id FROM users WHERE email = '{}'", carnet::demo::ADMIN_EMAIL)).await;
        let aapi = app.api(&app.token_for(admin).await);
        let (st, _) = aapi.send("POST", &format!("/api/v1/calls/{call}/log"), Some(json!({"outcome": "joint"}))).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        app
    })
    .await;
}

#[tokio::test]
async fn bad_calls_are_refused_on_their_fields_and_an_unseen_requests_calls_are_404() {
    each_backend(|app| async move {
        let (rid, _) = demo_request(&app).await;
        let camille = id_of(&app, &format!("SELECT id FROM users WHERE email = '{AGENT}'")).await;
        let s = agent(&app).await;
        let page = format!("/service/requests/{rid}");
        // No subject, a broken date: 422 on both fields, in French, what was typed kept, the tab open.
        let r = s
            .post(
                &format!("{page}/calls"),
                &[("date", "2026-13-45"), ("time", "10:00"), ("subject", " "), ("notes", "Numéro du cellulaire")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(html.contains("id=\"call-subject-error\">Champ obligatoire."), "the subject's error");
        assert!(html.contains("2026-13-45") && html.contains("Numéro du cellulaire"), "the form keeps what was typed");
        assert!(html.contains("open id=\"tab-call\""), "the call tab comes back open");
        let api = app.api(&app.token_for(camille).await);
        let calls = format!("/api/v1/service-requests/{rid}/calls");
        let (st, b) = api.send("POST", &calls, Some(json!({"date": "2026-12-01", "time": "25:00", "subject": ""}))).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(b["error"]["fields"]["time"].is_string() && b["error"]["fields"]["subject"].is_string(), "{b}");
        // An owner outside the directory Camille sees.
        let longueuil = id_of(&app, "SELECT id FROM org_units WHERE name = 'Succursale Longueuil'").await;
        let stranger = app.user("agent.longueuil@t.fr", "agent_support", Some(longueuil)).await;
        let (st, b) =
            api.send("POST", &calls, Some(json!({"date": "2026-12-01", "time": "10:00", "subject": "x", "owner_id": stranger}))).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(b["error"]["fields"]["owner_id"].is_string(), "{b}");
        assert_eq!(app.count("SELECT COUNT(*) FROM calls WHERE request_id IS NOT NULL").await, 0, "nothing written");

        // A call for Luc, a technician who did not see the request: owning it, he takes part.
        let luc = id_of(&app, "SELECT id FROM users WHERE email = 'luc.gauthier@carnet.demo'").await;
        let lapi = app.api(&app.token_for(luc).await);
        assert_eq!(lapi.get(&format!("/api/v1/service-requests/{rid}")).await.0, StatusCode::NOT_FOUND);
        let (st, c) = api
            .send("POST", &calls, Some(json!({"date": "2026-12-01", "time": "10:00", "subject": "Appeler le client", "owner_id": luc})))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{c}");
        let call = c["id"].as_i64().unwrap();
        assert_eq!(lapi.get(&format!("/api/v1/service-requests/{rid}")).await.0, StatusCode::OK, "the call's owner sees its request");
        let (_, feed) = lapi.get(&format!("/api/v1/service-requests/{rid}/activity?kind=call")).await;
        assert_eq!(feed["items"][0]["id"].as_i64(), Some(call));
        let customer = id_of(&app, &format!("SELECT customer_id FROM service_requests WHERE id = {rid}")).await;
        assert_eq!(lapi.get(&format!("/api/v1/customers/{customer}")).await.0, StatusCode::OK, "and its customer");
        assert_eq!(lapi.send("POST", &format!("{calls}/{call}/log"), Some(json!({"outcome": "joint"}))).await.0, StatusCode::FORBIDDEN);

        // Whoever does not see the request: 404 on every call route, nothing changed.
        let other = app.login("agent.longueuil@t.fr", common::PASSWORD).await.unwrap();
        let (date, time) = local(&app, app.now() + 86_400_000).await;
        let form = [("date", date.as_str()), ("time", time.as_str()), ("subject", "Intrus")];
        assert_eq!(other.post(&format!("{page}/calls"), &form).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(other.post(&format!("{page}/calls/{call}/log"), &[("outcome", "joint")]).await.status(), StatusCode::NOT_FOUND);
        let oapi = app.api(&app.token_for(stranger).await);
        assert_eq!(oapi.get(&calls).await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            oapi.send("POST", &calls, Some(json!({"date": date, "time": time, "subject": "Intrus"}))).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(oapi.send("POST", &format!("{calls}/{call}/log"), Some(json!({"outcome": "joint"}))).await.0, StatusCode::NOT_FOUND);
        // A call of another request is not this request's.
        let other_rid = {
            let admin = id_of(&app, &format!("SELECT id FROM users WHERE email = '{}'", carnet::demo::ADMIN_EMAIL)).await;
            let aapi = app.api(&app.token_for(admin).await);
            let (_, r) = aapi
                .send(
                    "POST",
                    "/api/v1/service-requests",
                    Some(json!({"customer_id": customer, "request_type": "panne", "owner_id": camille})),
                )
                .await;
            r["id"].as_i64().unwrap()
        };
        let (st, _) =
            api.send("POST", &format!("/api/v1/service-requests/{other_rid}/calls/{call}/log"), Some(json!({"outcome": "joint"}))).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM calls WHERE id = {call} AND status = 'planned'")).await, 1, "nothing changed");
        assert_eq!(app.count("SELECT COUNT(*) FROM calls WHERE request_id IS NOT NULL").await, 1);
        app
    })
    .await;
}
