//! The customer portal, as its users and as a hostile customer would use it: invitation,
//! first password, login, requests and planning of their own organisation only, password
//! reset without account enumeration, and a tenant boundary proven on every portal route
//! with another organisation's ids (generated from the route table). Both databases.

mod common;

use carnet::http::auth::Access;
use carnet::http::router::ROUTES;
use common::{each_backend, extract, Session, TestApp};
use reqwest::StatusCode;
use serde_json::json;

const PW: &str = "Portail-client-2026!";

/// One customer organisation with what the portal shows: a contact with an address, an
/// item of equipment, a request with an update, an intervention, a shared and an internal
/// document.
struct Org {
    customer: i64,
    contact: i64,
    email: String,
    equipment: i64,
    request: i64,
    intervention: i64,
    shared_doc: i64,
    internal_doc: i64,
}

async fn org(app: &TestApp, api: &common::Api, name: &str, phone: &str, tech: i64) -> Org {
    let (s, cu) = api.send("POST", "/api/v1/customers", Some(json!({"kind": "company", "company_name": name, "phone": phone}))).await;
    assert_eq!(s, StatusCode::CREATED, "{cu}");
    let customer = cu["id"].as_i64().unwrap();
    let email = format!("contact@{}.example", name.to_lowercase());
    let (_, ct) = api
        .send(
            "POST",
            &format!("/api/v1/customers/{customer}/contacts"),
            Some(json!({"first_name": "Léa", "last_name": name, "email": email})),
        )
        .await;
    let contact = ct["id"].as_i64().unwrap();
    let (s, eq) = api
        .send("POST", "/api/v1/equipment", Some(json!({"customer_id": customer, "serial_number": format!("SN-{name}"), "model": "Four"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{eq}");
    let equipment = eq["id"].as_i64().unwrap();
    let (s, r) = api
        .send(
            "POST",
            "/api/v1/service-requests",
            Some(json!({"customer_id": customer, "requester_contact_id": contact, "request_type": "panne", "description": format!("Panne chez {name}")})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let request = r["id"].as_i64().unwrap();
    api.send("POST", &format!("/api/v1/service-requests/{request}/equipment"), Some(json!({"equipment_id": equipment}))).await;
    api.send(
        "POST",
        &format!("/api/v1/service-requests/{request}/updates"),
        Some(json!({"status": "en_cours", "message": format!("Bien reçu, {name}")})),
    )
    .await;
    let (s, i) = api
        .send(
            "POST",
            "/api/v1/interventions",
            Some(
                json!({"request_id": request, "date": "2026-12-08", "start_time": "08:30", "end_time": "10:00", "technician_ids": [tech]}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{i}");
    let intervention = i["id"].as_i64().unwrap();
    let upload = |file: &'static str, shared: bool| {
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(b"contenu".to_vec()).file_name(file))
            .text("shared", if shared { "true" } else { "false" });
        api.client.post(format!("{}/api/v1/service-requests/{request}/documents", api.url)).bearer_auth(&api.token).multipart(form).send()
    };
    let d1: serde_json::Value = upload("partage.txt", true).await.unwrap().json().await.unwrap();
    let d2: serde_json::Value = upload("interne.txt", false).await.unwrap().json().await.unwrap();
    let _ = app;
    Org {
        customer,
        contact,
        email,
        equipment,
        request,
        intervention,
        shared_doc: d1["id"].as_i64().expect("shared doc"),
        internal_doc: d2["id"].as_i64().expect("internal doc"),
    }
}

/// The secret of the last link emailed to `to` (invitation or reset), read from the outbox.
async fn last_link(app: &TestApp, to: &str, kind: &str) -> String {
    let text: String = sqlx::query_scalar("SELECT text_body FROM emails WHERE to_addrs LIKE $1 ORDER BY id DESC LIMIT 1")
        .bind(format!("%{to}%"))
        .fetch_one(&app.state.db.pool)
        .await
        .expect("an email to the contact");
    let marker = format!("/portal/{kind}/");
    let start = text.find(&marker).unwrap_or_else(|| panic!("a {kind} link in {text}")) + marker.len();
    text[start..].split_whitespace().next().unwrap().to_string()
}

/// Staff enable the portal and invite the org's contact; the contact follows the link and
/// sets a password; returns their portal session.
async fn onboard(app: &TestApp, staff: &Session, o: &Org, admin: bool) -> Session {
    let r = staff.post(&format!("/customers/{}/portal", o.customer), &[("enabled", "on"), ("admin_invites", "on")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut form = vec![("contact_id", o.contact.to_string())];
    if admin {
        form.push(("is_admin", "on".into()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = staff.post(&format!("/customers/{}/portal/invite", o.customer), &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let secret = last_link(app, &o.email, "welcome").await;
    let client = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = client.get(format!("{}/portal/welcome/{secret}", app.url)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let token = extract(&page.text().await.unwrap(), "name=\"token\" value=\"").unwrap();
    let r = client
        .post(format!("{}/portal/welcome/{secret}", app.url))
        .form(&[("password", PW), ("confirm", PW), ("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "password set and logged in");
    // The link is spent.
    let again = client.get(format!("{}/portal/welcome/{secret}", app.url)).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    app.portal_login(&o.email, PW).await.expect("portal login")
}

async fn setup(app: &TestApp) -> (Session, Org, Org) {
    let admin = app.user("portal-admin@t.fr", "administrateur", None).await;
    let api = app.api(&app.token_for(admin).await);
    let tech = app.user("tech@t.fr", "technicien", None).await;
    let a = org(app, &api, "Alpha", "514 555-0100", tech).await;
    let b = org(app, &api, "Beta", "514 555-0199", tech).await;
    let staff = app.login("portal-admin@t.fr", common::PASSWORD).await.unwrap();
    (staff, a, b)
}

#[tokio::test]
async fn a_contact_is_invited_sets_a_password_and_follows_their_requests() {
    each_backend(|app| async move {
        let (staff, a, b) = setup(&app).await;
        let pa = onboard(&app, &staff, &a, true).await;
        // Home: their open request and its latest update, marked unread.
        let (s, home) = pa.get_text("/portal").await;
        assert_eq!(s, StatusCode::OK);
        assert!(home.contains("Bien reçu, Alpha"), "latest update on the home page");
        assert!(!home.contains("Beta"), "nothing of another organisation");
        // The request: updates, intervention with the technician's first name, the shared
        // document only, the equipment line.
        let (s, page) = pa.get_text(&format!("/portal/requests/{}", a.request)).await;
        assert_eq!(s, StatusCode::OK);
        assert!(page.contains("Bien reçu, Alpha") && page.contains("partage.txt") && !page.contains("interne.txt"), "internal documents are not named, not even in the history");
        assert!(page.contains("SN-ALPHA"));
        assert!(!page.contains("href=\"/service/") && !page.contains("href=\"/customers/"), "no staff link in the portal");
        let r = pa.get(&format!("/portal/documents/{}", a.shared_doc)).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.text().await.unwrap(), "contenu");
        assert_eq!(pa.get(&format!("/portal/documents/{}", a.internal_doc)).await.status(), StatusCode::NOT_FOUND, "internal document");
        // The report appears once staff share it.
        sqlx::query("UPDATE interventions SET report_work = 'Joint remplacé' WHERE id = $1").bind(a.intervention).execute(&app.state.db.pool).await.unwrap();
        assert!(!pa.get_text(&format!("/portal/requests/{}", a.request)).await.1.contains("Joint remplacé"));
        let r = staff.post(&format!("/service/interventions/{}/share-report", a.intervention), &[("shared", "on")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(pa.get_text(&format!("/portal/requests/{}", a.request)).await.1.contains("Joint remplacé"));
        // A document staff share after upload appears; unshared, it is gone again.
        let r = staff.post(&format!("/service/documents/{}/share", a.internal_doc), &[("shared", "on")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(pa.get_text(&format!("/portal/requests/{}", a.request)).await.1.contains("interne.txt"));
        assert_eq!(pa.get(&format!("/portal/documents/{}", a.internal_doc)).await.status(), StatusCode::OK);
        staff.post(&format!("/service/documents/{}/share", a.internal_doc), &[]).await;
        assert!(!pa.get_text(&format!("/portal/requests/{}", a.request)).await.1.contains("interne.txt"));
        // The support team (the group named by the setting) hears of portal requests.
        let agent = app.user("agent@t.fr", "agent_support", None).await;
        let input = carnet::org::groups::GroupInput::parse("Support", "", None, vec![agent]).unwrap();
        carnet::org::groups::create(&app.state.db, &carnet::access::Actor::system(), app.now(), &input).await.unwrap();
        // A new request from the portal, with equipment and an attachment.
        let form = reqwest::multipart::Form::new()
            .text("request_type", "panne")
            .text("description", "La chambre froide ne refroidit plus.")
            .text("equipment", a.equipment.to_string())
            .text(format!("symptom_{}", a.equipment), "bruit")
            .part("files", reqwest::multipart::Part::bytes(b"photo".to_vec()).file_name("photo.jpg"));
        let r = pa.client.post(format!("{}/portal/requests?_csrf={}", app.url, pa.csrf)).multipart(form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
        let (id, source, requester, portal_account): (i64, String, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT id, source, requester_contact_id, portal_account_id FROM service_requests WHERE description = 'La chambre froide ne refroidit plus.'",
        )
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        assert_eq!((source.as_str(), requester), ("portal", Some(a.contact)));
        assert!(portal_account.is_some());
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM documents WHERE request_id = {id} AND shared = 1")).await, 1);
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM request_equipment WHERE request_id = {id} AND symptom = 'bruit'")).await, 1);
        assert_eq!(
            app.count(&format!("SELECT COUNT(*) FROM emails WHERE event = 'portal_request_created' AND entity_id = {id} AND to_addrs LIKE '%agent@t.fr%'")).await,
            1,
            "the support group is told"
        );
        // Equipment of another organisation is refused, and nothing is written.
        let before = app.count("SELECT COUNT(*) FROM service_requests").await;
        let form = reqwest::multipart::Form::new()
            .text("request_type", "panne")
            .text("description", "Essai")
            .text("equipment", b.equipment.to_string());
        let r = pa.client.post(format!("{}/portal/requests?_csrf={}", app.url, pa.csrf)).multipart(form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.count("SELECT COUNT(*) FROM service_requests").await, before);
        // Staff post an update: the portal user sees it as unread, then read.
        let r = staff.post(&format!("/service/requests/{id}/updates"), &[("status", "en_cours"), ("message", "Technicien en route")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let (_, list) = pa.get_text("/portal/requests").await;
        assert!(list.contains("Technicien en route") && list.contains("class=\"unread\""));
        let tile = |home: &str| home.split("id=\"tile-unread\"><span class=\"tile-count\">").nth(1).and_then(|t| t.split('<').next()).unwrap_or_default().to_string();
        assert_eq!(tile(&pa.get_text("/portal").await.1), "1", "one request with an unread update");
        pa.get(&format!("/portal/requests/{id}")).await;
        assert_eq!(tile(&pa.get_text("/portal").await.1), "0");
        let (_, list) = pa.get_text("/portal/requests").await;
        assert!(list.contains("Technicien en route") && !list.contains("class=\"unread\""));
        // Planning with an .ics per intervention, and a personal feed that can be revoked.
        let (_, planning) = pa.get_text("/portal/planning?week=2026-12-07").await;
        assert!(planning.contains(&format!("/portal/interventions/{}/calendar.ics", a.intervention)));
        let ics = pa.get(&format!("/portal/interventions/{}/calendar.ics", a.intervention)).await;
        assert_eq!(ics.status(), StatusCode::OK);
        assert!(ics.text().await.unwrap().contains("BEGIN:VEVENT"));
        let r = pa.post("/portal/account/calendar", &[]).await;
        let page = r.text().await.unwrap();
        let feed = extract(&page, "data-copy=\"").expect("feed address");
        let path = &feed[feed.find("/portal/calendar/").unwrap()..];
        let anon = app.anon();
        let r = anon.get(format!("{}{path}", app.url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body = r.text().await.unwrap();
        assert!(body.contains("VEVENT") && body.contains("Alpha") && !body.contains("Beta"));
        pa.post("/portal/account/calendar/revoke", &[]).await;
        assert_eq!(anon.get(format!("{}{path}", app.url)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        // The customer page shows who has access and when they came.
        let (_, cpage) = staff.get_text(&format!("/customers/{}", a.customer)).await;
        assert!(cpage.contains("portal-summary") && cpage.contains(&"Léa Alpha".to_string()));
        // The request page shows the requester's access and the preview.
        let (_, rpage) = staff.get_text(&format!("/service/requests/{}", a.request)).await;
        assert!(rpage.contains("requester-portal") && rpage.contains("badge-green"));
        let (s, preview) = staff.get_text(&format!("/service/requests/{}/portal-preview", a.request)).await;
        assert_eq!(s, StatusCode::OK);
        assert!(preview.contains("preview-banner") && preview.contains("Bien reçu, Alpha") && !preview.contains("interne.txt"));
        app
    })
    .await;
}

/// Fills the path parameters of a portal route with organisation B's ids.
fn with_ids(path: &str, b: &Org, b_account: i64) -> Option<String> {
    let mut out = String::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        if !seg.starts_with('{') {
            out.push_str(seg);
            continue;
        }
        let id = match (path, seg) {
            (p, "{id}") if p.starts_with("/portal/requests/") => b.request,
            (p, "{id}") if p.starts_with("/portal/documents/") => b.shared_doc,
            (p, "{id}") if p.starts_with("/portal/interventions/") => b.intervention,
            (p, "{id}") if p.starts_with("/portal/equipment/") => b.equipment,
            (p, "{id}") if p.starts_with("/portal/colleagues/") => b_account,
            (_, "{action}") => {
                out.push_str("deactivate");
                continue;
            }
            _ => return None,
        };
        out.push_str(&id.to_string());
    }
    Some(out)
}

#[tokio::test]
async fn every_portal_route_answers_404_for_another_organisations_ids_and_changes_nothing() {
    each_backend(|app| async move {
        let (staff, a, b) = setup(&app).await;
        let pa = onboard(&app, &staff, &a, true).await;
        let _pb = onboard(&app, &staff, &b, true).await;
        let b_account: i64 = sqlx::query_scalar("SELECT id FROM portal_accounts WHERE customer_id = $1")
            .bind(b.customer)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        let mut tried = 0;
        for r in ROUTES.iter().filter(|r| r.access == Access::Portal && r.path.contains('{')) {
            let path = with_ids(r.path, &b, b_account).unwrap_or_else(|| panic!("no id for {}", r.path));
            let before = app.snapshot().await;
            let resp = match r.method {
                "get" => pa.get(&path).await,
                "post" if r.path.ends_with("/documents") => {
                    let form =
                        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("x.txt"));
                    pa.client.post(format!("{}{path}?_csrf={}", app.url, pa.csrf)).multipart(form).send().await.unwrap()
                }
                _ => pa.post(&path, &[]).await,
            };
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{} {path} with another organisation's id", r.method);
            // Exactly as an unknown id.
            let nobody = Org {
                customer: 0,
                contact: 0,
                email: String::new(),
                equipment: 999_991,
                request: 999_992,
                intervention: 999_993,
                shared_doc: 999_994,
                internal_doc: 999_995,
            };
            let unknown = with_ids(r.path, &nobody, 999_996).unwrap();
            let unknown_status = if r.method == "get" { pa.get(&unknown).await.status() } else { pa.post(&unknown, &[]).await.status() };
            if !r.path.ends_with("/documents") {
                assert_eq!(unknown_status, StatusCode::NOT_FOUND, "{unknown}");
            }
            assert_eq!(app.snapshot().await, before, "{} {path} changed nothing", r.method);
            tried += 1;
        }
        assert!(tried >= 6, "the portal's routes with ids were walked ({tried})");
        // Another organisation's internal document, by id, reads as unknown too.
        assert_eq!(pa.get(&format!("/portal/documents/{}", b.internal_doc)).await.status(), StatusCode::NOT_FOUND);
        // A colleague invitation naming another organisation's contact is refused.
        let before = app.snapshot().await;
        let r = pa.post("/portal/colleagues", &[("contact_id", &b.contact.to_string())]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.snapshot().await, before);
        // Lists and search never show B's records.
        for p in [
            "/portal",
            "/portal/requests",
            "/portal/requests?closed=1",
            "/portal/equipment",
            "/portal/planning?week=2026-12-07",
            "/portal/colleagues",
        ] {
            let (s, body) = pa.get_text(p).await;
            assert_eq!(s, StatusCode::OK, "{p}");
            assert!(!body.contains("Beta") && !body.contains("SN-BETA"), "{p} shows nothing of organisation B");
        }
        let (_, found) = pa.get_text("/portal/requests?q=Beta").await;
        assert!(!found.contains("portal-requests"), "a search for B's words finds nothing");
        app
    })
    .await;
}

#[tokio::test]
async fn staff_routes_refuse_a_portal_session_and_portal_routes_refuse_a_staff_session() {
    each_backend(|app| async move {
        let (staff, a, _) = setup(&app).await;
        let pa = onboard(&app, &staff, &a, false).await;
        for r in
            ROUTES.iter().filter(|r| !matches!(r.access, Access::Public | Access::PortalPublic | Access::Portal) && !r.access.is_partner())
        {
            let path = r.path.replace("{id}", "1").replace("{cid}", "1").replace("{kind}", "x").replace("{role}", "requester");
            let path: String = path.split('/').map(|s| if s.starts_with('{') { "1" } else { s }).collect::<Vec<_>>().join("/");
            let resp = match r.method {
                "get" => pa.get(&path).await,
                m => {
                    let method = reqwest::Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
                    pa.client.request(method, format!("{}{path}", app.url)).form(&[("_csrf", pa.csrf.as_str())]).send().await.unwrap()
                }
            };
            let s = resp.status();
            if path.starts_with("/api/") {
                assert_eq!(s, StatusCode::UNAUTHORIZED, "{} {path} with a portal session", r.method);
            } else {
                assert_eq!(s, StatusCode::SEE_OTHER, "{} {path} with a portal session", r.method);
                let to = resp.headers().get("location").unwrap().to_str().unwrap();
                assert!(to.starts_with("/login"), "{path} sends to the staff login, not {to}");
            }
        }
        for r in ROUTES.iter().filter(|r| r.access == Access::Portal && r.method == "get") {
            let path: String = r.path.split('/').map(|s| if s.starts_with('{') { "1" } else { s }).collect::<Vec<_>>().join("/");
            let resp = staff.get(&path).await;
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path} with a staff session");
            assert!(resp.headers().get("location").unwrap().to_str().unwrap().starts_with("/portal/login"));
        }
        app
    })
    .await;
}

#[tokio::test]
async fn password_reset_says_nothing_about_accounts_and_links_work_once() {
    each_backend(|app| async move {
        let (staff, a, _) = setup(&app).await;
        onboard(&app, &staff, &a, false).await;
        let anon = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let ask = |email: &'static str| {
            let anon = anon.clone();
            let url = app.url.clone();
            async move {
                let page = anon.get(format!("{url}/portal/reset")).send().await.unwrap().text().await.unwrap();
                let token = extract(&page, "name=\"token\" value=\"").unwrap();
                let r = anon.post(format!("{url}/portal/reset")).form(&[("email", email), ("token", &token)]).send().await.unwrap();
                (r.status(), r.text().await.unwrap())
            }
        };
        let emails_before = app.count("SELECT COUNT(*) FROM emails").await;
        let (s1, unknown) = ask("nobody@nowhere.example").await;
        assert_eq!(app.count("SELECT COUNT(*) FROM emails").await, emails_before, "no email for an unknown address");
        let (s2, known) = ask("contact@alpha.example").await;
        assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
        let strip = |t: &str| t.split("<footer").next().unwrap().replace("nobody@nowhere.example", "").replace("contact@alpha.example", "");
        assert_eq!(strip(&unknown), strip(&known), "the same answer whether or not the account exists");
        let secret = last_link(&app, "contact@alpha.example", "reset").await;
        let page = anon.get(format!("{}/portal/reset/{secret}", app.url)).send().await.unwrap().text().await.unwrap();
        let token = extract(&page, "name=\"token\" value=\"").unwrap();
        let new_pw = "Nouveau-mot-2026!";
        // A weak password is refused and the link stays usable.
        let r = anon
            .post(format!("{}/portal/reset/{secret}", app.url))
            .form(&[("password", "court"), ("confirm", "court"), ("token", &token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = r.text().await.unwrap();
        let token = extract(&page, "name=\"token\" value=\"").unwrap();
        let r = anon
            .post(format!("{}/portal/reset/{secret}", app.url))
            .form(&[("password", new_pw), ("confirm", new_pw), ("token", &token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(app.portal_login("contact@alpha.example", PW).await.is_err(), "the old password no longer works");
        assert!(app.portal_login("contact@alpha.example", new_pw).await.is_ok());
        assert_eq!(anon.get(format!("{}/portal/reset/{secret}", app.url)).send().await.unwrap().status(), StatusCode::GONE, "used once");
        // Two simultaneous uses of one link: one alone sets the password.
        ask("contact@alpha.example").await;
        let secret = last_link(&app, "contact@alpha.example", "reset").await;
        let attempt = |pw: &'static str| {
            let url = app.url.clone();
            let secret = secret.clone();
            async move {
                let c = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
                let page = c.get(format!("{url}/portal/reset/{secret}")).send().await.unwrap().text().await.unwrap();
                let token = extract(&page, "name=\"token\" value=\"").unwrap();
                c.post(format!("{url}/portal/reset/{secret}"))
                    .form(&[("password", pw), ("confirm", pw), ("token", &token)])
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        let (x, y) = tokio::join!(attempt("Premier-mot-2026!"), attempt("Second-mot-2026!!"));
        let mut got = [x, y];
        got.sort();
        assert_eq!(got, [StatusCode::SEE_OTHER, StatusCode::GONE], "one use only");
        // Links expire.
        ask("contact@alpha.example").await;
        let secret = last_link(&app, "contact@alpha.example", "reset").await;
        app.clock.advance(3 * 3_600_000);
        assert_eq!(anon.get(format!("{}/portal/reset/{secret}", app.url)).send().await.unwrap().status(), StatusCode::GONE, "expired");
        app
    })
    .await;
}

#[tokio::test]
async fn deactivation_closing_the_portal_and_wrong_passwords_end_access() {
    each_backend(|app| async move {
        let (staff, a, _) = setup(&app).await;
        let pa = onboard(&app, &staff, &a, false).await;
        let account: i64 = sqlx::query_scalar("SELECT id FROM portal_accounts WHERE customer_id = $1")
            .bind(a.customer)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        // Deactivated: the session ends at once, and login is refused.
        let r = staff.post(&format!("/customers/{}/portal/accounts/{account}/deactivate", a.customer), &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let r = pa.get("/portal").await;
        assert!(r.headers().get("location").unwrap().to_str().unwrap().starts_with("/portal/login"));
        assert_eq!(app.portal_login(&a.email, PW).await.err(), Some(StatusCode::UNAUTHORIZED));
        staff.post(&format!("/customers/{}/portal/accounts/{account}/reactivate", a.customer), &[]).await;
        let pa = app.portal_login(&a.email, PW).await.expect("reactivated");
        // The portal closed for the customer: sessions end and login is refused.
        staff.post(&format!("/customers/{}/portal", a.customer), &[]).await;
        assert_eq!(pa.get("/portal").await.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.portal_login(&a.email, PW).await.err(), Some(StatusCode::UNAUTHORIZED));
        staff.post(&format!("/customers/{}/portal", a.customer), &[("enabled", "on")]).await;
        // Wrong passwords are slowed down (the portal's own counters).
        let mut statuses = Vec::new();
        for _ in 0..8 {
            statuses.push(app.portal_login(&a.email, "faux-mot-de-passe").await.err());
        }
        assert!(statuses.contains(&Some(StatusCode::TOO_MANY_REQUESTS)), "{statuses:?}");
        // Every change was audited.
        assert!(
            app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'portal_account' AND entity_id = {account}")).await
                >= 3
        );
        app
    })
    .await;
}

async fn enable_messages(app: &TestApp) {
    let def = carnet::settings::def("service.messages_enabled").unwrap();
    carnet::settings::set_many(&app.state.db, &carnet::access::Actor::system(), app.now(), &[(def, "true".into())]).await.unwrap();
}

#[tokio::test]
async fn staff_and_the_customer_talk_on_a_request() {
    each_backend(|app| async move {
        let (staff, a, b) = setup(&app).await;
        let pa = onboard(&app, &staff, &a, false).await;
        let staff_page = format!("/service/requests/{}", a.request);
        let portal_page = format!("/portal/requests/{}", a.request);
        // Off by default (as in the seed): no conversation on either side.
        assert!(!staff.get_text(&staff_page).await.1.contains("id=\"conversation\""));
        assert!(!pa.get_text(&portal_page).await.1.contains("id=\"conversation\""));
        assert_eq!(pa.post(&format!("{portal_page}/messages"), &[("body", "Bonjour")]).await.status(), StatusCode::NOT_FOUND);
        enable_messages(&app).await;
        // Staff write, notifying the customer by email from the request's thread.
        let r = staff
            .post(
                &format!("{staff_page}/messages"),
                &[("body", "Pouvez-vous envoyer une photo ?\nLa notice : https://exemple.fr/notice.pdf.\nMerci."), ("notify", "on")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let (subject, to): (String, String) =
            sqlx::query_as("SELECT subject, to_addrs FROM emails WHERE event = 'request_message' ORDER BY id DESC LIMIT 1")
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
        assert!(subject.contains("DEM-") && to.contains(&a.email), "{subject} {to}");
        // The customer sees it and answers; raw HTML stays text.
        let (_, page) = pa.get_text(&portal_page).await;
        assert!(page.contains("Pouvez-vous envoyer une photo ?"));
        assert!(
            page.contains("<a href=\"https://exemple.fr/notice.pdf\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">"),
            "a link"
        );
        let r = pa.post(&format!("{portal_page}/messages"), &[("body", "Voici <b>la photo</b>")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let to = r.headers().get("location").unwrap().to_str().unwrap().to_string();
        assert!(to.contains("#message-"), "{to}");
        let (_, page) = staff.get_text(&staff_page).await;
        assert!(
            page.contains("feed-in") && page.contains("Voici &#60;b&#62;la photo&#60;/b&#62;"),
            "escaped, in the customer's colour: {}",
            page.split("id=\"conversation\"").nth(1).unwrap_or("no conversation").chars().take(1500).collect::<String>()
        );
        // Unread for staff: a badge in the list, a filter, a count at home; the owner was told.
        let (_, list) = staff.get_text("/service/requests?unread=1").await;
        assert!(
            list.contains(&format!("/service/requests/{}#conversation", a.request))
                && !list.contains(&format!("/service/requests/{}\"", b.request))
        );
        let (_, home) = staff.get_text("/").await;
        assert!(home.contains("unread-messages"));
        assert!(app.count("SELECT COUNT(*) FROM emails WHERE event = 'request_message_received'").await >= 1);
        // Marked read: the customer sees the mark.
        let mid: i64 =
            sqlx::query_scalar("SELECT id FROM request_messages WHERE direction = 'in'").fetch_one(&app.state.db.pool).await.unwrap();
        assert!(pa.get_text(&portal_page).await.1.contains("Pas encore lu"));
        let r = staff.post(&format!("{staff_page}/messages/{mid}/read"), &[("read", "on")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(pa.get_text(&portal_page).await.1.contains("Lu par notre équipe"));
        assert!(!staff.get_text("/service/requests?unread=1").await.1.contains(&format!("/service/requests/{}#conversation", a.request)));
        // An empty message is refused with the field, the text kept.
        let r = pa.post(&format!("{portal_page}/messages"), &[("body", "   ")]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // Closed: history stays, nobody writes, the portal says why.
        let r = staff.post(&format!("{staff_page}/conversation"), &[("blocked", "on"), ("note", "Demande traitée par téléphone.")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let (_, page) = pa.get_text(&portal_page).await;
        assert!(page.contains("conversation-closed") && page.contains("Demande traitée par téléphone.") && page.contains("Voici"));
        let before = app.count("SELECT COUNT(*) FROM request_messages").await;
        assert_eq!(pa.post(&format!("{portal_page}/messages"), &[("body", "Encore")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(staff.post(&format!("{staff_page}/messages"), &[("body", "Encore")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.count("SELECT COUNT(*) FROM request_messages").await, before);
        staff.post(&format!("{staff_page}/conversation"), &[]).await;
        assert_eq!(pa.post(&format!("{portal_page}/messages"), &[("body", "Merci")]).await.status(), StatusCode::SEE_OTHER);
        // The API: the conversation as JSON; a message; a closed conversation is a 409.
        let admin: i64 =
            sqlx::query_scalar("SELECT id FROM users WHERE email = 'portal-admin@t.fr'").fetch_one(&app.state.db.pool).await.unwrap();
        let api = app.api(&app.token_for(admin).await);
        let (s, v) = api.get(&format!("/api/v1/service-requests/{}/messages", a.request)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["items"][1]["direction"], "in");
        let (s, _) =
            api.send("POST", &format!("/api/v1/service-requests/{}/messages", a.request), Some(json!({"body": "Par l'API"}))).await;
        assert_eq!(s, StatusCode::CREATED);
        staff.post(&format!("{staff_page}/conversation"), &[("blocked", "on")]).await;
        let (s, v) = api.send("POST", &format!("/api/v1/service-requests/{}/messages", a.request), Some(json!({"body": "Encore"}))).await;
        assert_eq!(s, StatusCode::CONFLICT, "{v}");
        // Another organisation's request: 404, nothing written.
        assert_eq!(pa.post(&format!("/portal/requests/{}/messages", b.request), &[("body", "x")]).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM request_messages WHERE request_id = {}", b.request)).await, 0);
        app
    })
    .await;
}

/// A message's files posted as the compose box sends them (multipart, the CSRF token in the query).
async fn post_files(s: &Session, path: &str, body: &str, notify: bool, files: &[(&str, &[u8])]) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new().text("body", body.to_string());
    if notify {
        form = form.text("notify", "on");
    }
    for (name, bytes) in files {
        form = form.part("files", reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_string()));
    }
    s.client.post(format!("{}{path}?_csrf={}", s.url, s.csrf)).multipart(form).send().await.unwrap()
}

#[tokio::test]
async fn files_sent_with_messages_become_documents_shared_with_the_customer() {
    each_backend(|app| async move {
        let (staff, a, b) = setup(&app).await;
        let pa = onboard(&app, &staff, &a, false).await;
        let pb = onboard(&app, &staff, &b, false).await;
        enable_messages(&app).await;
        let staff_page = format!("/service/requests/{}", a.request);
        let portal_page = format!("/portal/requests/{}", a.request);
        // Staff send a quote with the message, emailed to the customer with the file attached.
        let r = post_files(&staff, &format!("{staff_page}/messages"), "Voici le devis.", true, &[("devis.pdf", b"%PDF-1.4 devis")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let (doc, shared, message): (i64, i64, Option<i64>) =
            sqlx::query_as("SELECT id, shared, message_id FROM documents WHERE filename = 'devis.pdf'").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(shared, 1, "a message's file is shared with the customer");
        assert!(message.is_some());
        assert_eq!(
            app.count(
                "SELECT COUNT(*) FROM email_attachments a JOIN emails e ON e.id = a.email_id WHERE e.event = 'request_message' AND a.filename = 'devis.pdf'"
            )
            .await,
            1
        );
        // The customer sees it under the message and downloads it; another organisation cannot.
        let (_, page) = pa.get_text(&portal_page).await;
        let conversation = page.split("id=\"conversation\"").nth(1).unwrap_or_default().to_string();
        assert!(conversation.contains(&format!("/portal/documents/{doc}")), "{conversation}");
        let got = pa.get(&format!("/portal/documents/{doc}")).await;
        assert_eq!(got.status(), StatusCode::OK);
        assert_eq!(got.bytes().await.unwrap().as_ref(), b"%PDF-1.4 devis");
        assert_eq!(pb.get(&format!("/portal/documents/{doc}")).await.status(), StatusCode::NOT_FOUND);
        // The customer answers with a photo and no text: it lands, from the customer.
        let r = post_files(&pa, &format!("{portal_page}/messages"), "", false, &[("photo.jpg", b"\xff\xd8 photo")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let (photo, from_portal): (i64, Option<i64>) =
            sqlx::query_as("SELECT id, portal_account_id FROM documents WHERE filename = 'photo.jpg'").fetch_one(&app.state.db.pool).await.unwrap();
        assert!(from_portal.is_some());
        let (_, page) = staff.get_text(&staff_page).await;
        assert!(page.split("id=\"conversation\"").nth(1).unwrap_or_default().contains(&format!("/service/documents/{photo}")));
        // A refused file: 422 naming the files, the text kept, nothing written (message, row or file).
        let (messages, docs) =
            (app.count("SELECT COUNT(*) FROM request_messages").await, app.count("SELECT COUNT(*) FROM documents").await);
        let r = post_files(&pa, &format!("{portal_page}/messages"), "Et le programme", false, &[("setup.exe", b"MZ")]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = r.text().await.unwrap();
        assert!(page.contains("message-files-error") && page.contains("Et le programme"));
        let r = post_files(&staff, &format!("{staff_page}/messages"), "Vide", false, &[("vide.txt", b"")]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // Neither text nor file: the text is required.
        assert_eq!(post_files(&pa, &format!("{portal_page}/messages"), " ", false, &[]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.count("SELECT COUNT(*) FROM request_messages").await, messages);
        assert_eq!(app.count("SELECT COUNT(*) FROM documents").await, docs);
        // Another organisation's request: 404, nothing written.
        assert_eq!(
            post_files(&pa, &format!("/portal/requests/{}/messages", b.request), "x", false, &[("x.txt", b"x")]).await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(app.count("SELECT COUNT(*) FROM documents").await, docs);
        // The API shows each message's files.
        let admin: i64 =
            sqlx::query_scalar("SELECT id FROM users WHERE email = 'portal-admin@t.fr'").fetch_one(&app.state.db.pool).await.unwrap();
        let api = app.api(&app.token_for(admin).await);
        let (_, v) = api.get(&format!("/api/v1/service-requests/{}/messages", a.request)).await;
        assert_eq!(v["items"][0]["attachments"][0]["filename"], "devis.pdf", "{v}");
        app
    })
    .await;
}

#[tokio::test]
async fn simultaneous_invitations_of_one_contact_make_one_account() {
    each_backend(|app| async move {
        let (staff, a, _) = setup(&app).await;
        staff.post(&format!("/customers/{}/portal", a.customer), &[("enabled", "on")]).await;
        let other = app.login("portal-admin@t.fr", common::PASSWORD).await.unwrap();
        let path = format!("/customers/{}/portal/invite", a.customer);
        let contact = a.contact.to_string();
        let form = [("contact_id", contact.as_str())];
        let (x, y) = tokio::join!(staff.post(&path, &form), other.post(&path, &form));
        for r in [x, y] {
            // One invites; the other sends the invitation again or is told the contact has access.
            assert!(r.status() == StatusCode::SEE_OTHER || r.status() == StatusCode::UNPROCESSABLE_ENTITY, "{}", r.status());
        }
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM portal_accounts WHERE customer_id = {}", a.customer)).await, 1);
        app
    })
    .await;
}
