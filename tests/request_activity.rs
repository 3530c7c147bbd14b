//! A service request's composer (issue 21), as the demo's support agent works it: internal
//! notes (staff only: never on the customer's portal), written from the request's page or the
//! API, in the request's feed and history; refused with 422 on the field, in the user's
//! language, with what was typed kept; 404 for whoever does not see the request, and nothing
//! written. Both databases.

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
