//! Generated from the route table: every route is called by every default role. A route the
//! role has no right for answers 403 and changes nothing in the database; a route needing a
//! login refuses anonymous callers; every page an administrator may open renders.

mod common;

use carnet::access::roles;
use carnet::http::auth::Access;
use carnet::http::router::ROUTES;
use common::{each_backend, TestApp, PASSWORD};
use serde_json::json;

struct Fixture {
    user: i64,
    role: i64,
    unit: i64,
    group: i64,
    item: i64,
    job: i64,
    email: i64,
    attachment: i64,
    customer: i64,
    contact: i64,
    import: i64,
    opportunity: i64,
    meeting: i64,
    call: i64,
    stock: i64,
    request: i64,
    equipment: i64,
    intervention: i64,
    ret: i64,
    document: i64,
    partner: i64,
    partner_opportunity: i64,
    presales: i64,
    news: i64,
}

async fn fixture(app: &TestApp) -> Fixture {
    let unit = app.unit("Compagnie", "company", None).await;
    let branch = app.unit("Succursale", "branch", Some(unit)).await;
    let user = app.user("cible@t.fr", "representant", Some(branch)).await;
    let technician = app.user("technicien@t.fr", "technicien", Some(branch)).await;
    let admin = app.user("fixture-admin@t.fr", "administrateur", None).await;
    let api = app.api(&app.token_for(admin).await);
    let (_, role) = api
        .send(
            "POST",
            "/api/v1/roles",
            Some(json!({"code": "perso", "name_fr": "Perso", "name_en": "Custom", "scope": "own", "rights": []})),
        )
        .await;
    let (_, group) = api.send("POST", "/api/v1/groups", Some(json!({"name": "DV Test", "members": [user]}))).await;
    let (_, items) = api.get("/api/v1/lists/request_type/items").await;
    let mut tx = app.state.db.begin().await.unwrap();
    let job = carnet::jobs::enqueue(&mut tx, "housekeeping", &json!({}), app.now() + 86_400_000, app.now(), None).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    sqlx::query("UPDATE jobs SET status = 'failed' WHERE id = $1").bind(job).execute(&app.state.db.pool).await.unwrap();
    let mut tx = app.state.db.begin().await.unwrap();
    let email = carnet::mail::queue(
        &mut tx,
        app.now(),
        carnet::mail::NewEmail {
            event: "test_email".into(),
            to: vec![carnet::mail::Mailbox::parse("x@t.fr").unwrap()],
            subject: "S".into(),
            text: "T".into(),
            attachments: vec![carnet::mail::Attachment {
                filename: "a.txt".into(),
                content_type: "text/plain".into(),
                content: b"a".to_vec(),
            }],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    sqlx::query("UPDATE emails SET status = 'failed' WHERE id = $1").bind(email).execute(&app.state.db.pool).await.unwrap();
    let attachment: i64 =
        sqlx::query_scalar("SELECT id FROM email_attachments WHERE email_id = $1").bind(email).fetch_one(&app.state.db.pool).await.unwrap();
    let (_, cu) = api
        .send(
            "POST",
            "/api/v1/customers",
            Some(json!({"kind": "company", "company_name": "Acme", "phone": "514 555-0100", "branch_id": branch})),
        )
        .await;
    let customer = cu["id"].as_i64().unwrap();
    let (_, ct) =
        api.send("POST", &format!("/api/v1/customers/{customer}/contacts"), Some(json!({"first_name": "Jo", "last_name": "Doe"}))).await;
    let contact = ct["id"].as_i64().unwrap();
    let import = carnet::customers::import::upload(&app.state.db, admin, app.now(), "clients.csv", b"Nom;Courriel\nRoy;roy@t.fr\n")
        .await
        .unwrap()
        .id;
    let (_, su) = api.send("POST", "/api/v1/stock-units", Some(json!({"stock_number": "FIX1", "description": "Unit"}))).await;
    let (_, op) =
        api.send("POST", "/api/v1/opportunities", Some(json!({"customer_id": customer, "owner_id": user, "branch_id": branch}))).await;
    let opportunity = op["id"].as_i64().unwrap();
    let (_, m) = api
        .send(
            "POST",
            "/api/v1/meetings",
            Some(json!({"opportunity_id": opportunity, "kind": "inventaire", "date": "2026-11-30", "start_time": "10:00", "end_time": "11:00"})),
        )
        .await;
    let (_, k) = api
        .send(
            "POST",
            "/api/v1/calls",
            Some(json!({"opportunity_id": opportunity, "date": "2026-11-30", "time": "09:00", "subject": "Rappel"})),
        )
        .await;
    let (_, rq) = api
        .send(
            "POST",
            "/api/v1/service-requests",
            Some(json!({"customer_id": customer, "request_type": "panne", "requester_contact_id": contact, "branch_id": branch})),
        )
        .await;
    let request = rq["id"].as_i64().unwrap();
    let (_, eq) = api
        .send(
            "POST",
            &format!("/api/v1/service-requests/{request}/equipment"),
            Some(json!({"equipment": {"serial_number": "FIX-1", "model": "Four"}})),
        )
        .await;
    let equipment = eq["items"][0]["equipment_id"].as_i64().unwrap();
    let (_, iv) = api
        .send(
            "POST",
            "/api/v1/interventions",
            Some(
                json!({"request_id": request, "date": "2026-11-30", "start_time": "08:00", "end_time": "10:00", "technician_ids": [technician]}),
            ),
        )
        .await;
    // Signed by the customer: its signature is an image page of its own.
    let png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
    let (st, signed) = api
        .send("PUT", &format!("/api/v1/interventions/{}/signature", iv["id"]), Some(json!({"signer_name": "Client", "signature": png})))
        .await;
    assert_eq!(st, 200, "{signed}");
    let (_, rt) = api
        .send(
            "POST",
            "/api/v1/equipment-returns",
            Some(json!({"request_id": request, "equipment_id": equipment, "reason": "Panne", "return_type": "repair"})),
        )
        .await;
    let actor = carnet::access::Actor { id: Some(admin), name: "admin".into(), request_id: None };
    let document = carnet::service::documents::upload(
        &app.state.db,
        &app.state.storage,
        &actor,
        app.now(),
        request,
        "note.txt",
        b"hello".to_vec(),
        false,
        1000,
    )
    .await
    .unwrap()
    .id;
    let partner_form = carnet::partners::store::PartnerForm {
        name: "Revendeur".into(),
        unit_id: branch.to_string(),
        owner_id: user.to_string(),
        active: Some("on".into()),
        ..Default::default()
    };
    let partner = carnet::partners::store::create_partner(&app.state.db, &actor, app.now(), &partner_form.parse().unwrap()).await.unwrap();
    let invitation = carnet::partners::accounts::Invitation {
        email: carnet::identity::Email::parse("p@r.fr").unwrap(),
        name: "P".into(),
        language: carnet::i18n::Lang::Fr,
        is_admin: true,
        can_opportunities: true,
    };
    let (partner_account, _) = carnet::partners::accounts::invite(&app.state.db, &actor, app.now(), partner.id, &invitation).await.unwrap();
    let partner_user = partner_account.id;
    let pu = carnet::partners::PartnerUser {
        user_id: partner_account.id,
        partner_id: partner.id,
        partner_name: partner.name.clone(),
        name: "P".into(),
        email: "p@r.fr".into(),
        language: carnet::i18n::Lang::Fr,
        is_admin: true,
        can_opportunities: true,
        admin_invites: true,
        csrf_token: String::new(),
        session_hash: String::new(),
        zone: Default::default(),
    };
    let opp_form = carnet::partners::store::OpportunityForm {
        customer_name: Some("Client final".into()),
        opportunity_type: Some("primo".into()),
        ..Default::default()
    };
    let partner_opportunity =
        carnet::partners::store::create_opportunity(&app.state.db, &pu, &actor, app.now(), &opp_form.parse().unwrap()).await.unwrap().id;
    // A submitted pre-sales request of that opportunity.
    let by = carnet::presales::store::By::Partner {
        partner_id: partner.id,
        user_id: partner_user,
        can_opportunities: true,
        is_admin: true,
        actor: actor.clone(),
    };
    let presales_input = carnet::presales::store::RequestInput {
        partner_opportunity_id: partner_opportunity,
        description: "Démo".into(),
        intervention_type: "demo".into(),
        on_site: false,
        place: None,
        desired_date: None,
        preferred_engineer_id: None,
    };
    let presales = carnet::presales::store::create(&app.state.db, &by, app.now(), &presales_input).await.unwrap().id;
    carnet::presales::store::act(
        &app.state.db,
        &by,
        app.now(),
        Default::default(),
        presales,
        carnet::presales::store::Step::Submit { confirmed: true },
    )
    .await
    .unwrap();
    let news_input = carnet::partners::news::NewsInput::parse("Titre", "Résumé", "Texte", Some(app.now()), "all", vec![]).unwrap();
    let news = carnet::partners::news::create(&app.state.db, &actor, app.now(), &news_input).await.unwrap().id;
    carnet::partners::news::set_image(&app.state.db, &actor, app.now(), news, Some(b"\x89PNG\r\n\x1a\nfixture".to_vec())).await.unwrap();
    Fixture {
        partner: partner.id,
        partner_opportunity,
        presales,
        news,
        document,
        intervention: iv["id"].as_i64().unwrap(),
        ret: rt["id"].as_i64().unwrap(),
        user,
        request,
        equipment,
        opportunity,
        meeting: m["id"].as_i64().unwrap(),
        call: k["id"].as_i64().unwrap(),
        stock: su["id"].as_i64().unwrap(),
        role: role["id"].as_i64().unwrap(),
        unit: branch,
        group: group["id"].as_i64().unwrap(),
        item: items["items"][0]["id"].as_i64().unwrap(),
        job,
        email,
        attachment,
        customer,
        contact,
        import,
    }
}

/// The route's path with real ids of existing records, so that a refusal is about rights.
fn concrete(path: &str, f: &Fixture) -> String {
    let id = if path.starts_with("/presales/") || path.starts_with("/api/v1/presales-requests/") {
        f.presales
    } else if path.starts_with("/partners/opportunities/") || path.starts_with("/api/v1/partner-opportunities/") {
        f.partner_opportunity
    } else if path.starts_with("/partners/") || path.starts_with("/api/v1/partners/") {
        f.partner
    } else if path.starts_with("/news/") || path.starts_with("/api/v1/news/") {
        f.news
    } else if path.contains("/roles/") {
        f.role
    } else if path.contains("/org-units/") {
        f.unit
    } else if path.contains("/groups/") {
        f.group
    } else if path.contains("/lists/") {
        f.item
    } else if path.contains("/jobs/") {
        f.job
    } else if path.contains("/import/") {
        f.import
    } else if path.contains("/customers/") {
        f.customer
    } else if path.contains("/documents/") {
        f.document
    } else if path.contains("/interventions/") {
        f.intervention
    } else if path.contains("/equipment-returns/") || path.contains("/service/returns/") {
        f.ret
    } else if path.contains("/service-requests/") || path.contains("/service/requests/") {
        f.request
    } else if path.contains("/equipment/") {
        f.equipment
    } else if path.contains("/opportunities/") {
        f.opportunity
    } else if path.contains("/meetings/") {
        f.meeting
    } else if path.contains("/calls/") {
        f.call
    } else if path.contains("/stock") {
        f.stock
    } else if path.contains("/outbox/") || path.contains("/emails/") {
        f.email
    } else if path.contains("/tokens/") {
        999_999
    } else {
        f.user
    };
    path.replace("{id}", &id.to_string())
        .replace("{aid}", &f.attachment.to_string())
        .replace("{cid}", &f.contact.to_string())
        .replace("{equipment_id}", &f.equipment.to_string())
        .replace("{call_id}", &f.call.to_string())
        .replace("{role}", "requester")
        .replace("{step}", "accept")
        .replace("{contact_id}", &f.contact.to_string())
        .replace("{code}", "request_type")
        .replace("{kind}", "housekeeping")
        .replace("{event}", "test_email")
        .replace("{lang}", "fr")
        .replace("{account}", "999999")
        .replace("{user}", "999999")
        .replace("{action}", "deactivate")
        .replace("{secret}", "unknown")
}

/// A plausible body for each writing route, so that only the right can make it fail.
fn form_body(path: &str) -> Vec<(&'static str, &'static str)> {
    if path.starts_with("/admin/users") {
        vec![
            ("email", "nouveau@t.fr"),
            ("name", "Nouveau"),
            ("role", "representant"),
            ("language", "fr"),
            ("active", "on"),
            ("password", "new-password-123"),
        ]
    } else if path.starts_with("/admin/roles") {
        vec![("code", "nouveau"), ("name_fr", "N"), ("name_en", "N"), ("scope", "all"), ("rights", "admin.users")]
    } else if path.starts_with("/admin/org-units") {
        vec![("name", "Nouvelle"), ("kind", "team")]
    } else if path.starts_with("/admin/groups") {
        vec![("name", "Nouveau groupe")]
    } else if path.starts_with("/admin/lists") {
        vec![("code", "nouveau"), ("label_fr", "N"), ("label_en", "N"), ("active", "on")]
    } else if path.starts_with("/admin/settings") {
        vec![("lists.page_size", "99")]
    } else if path.starts_with("/customers") && path.contains("/contacts") {
        vec![("first_name", "Nouveau"), ("last_name", "Contact")]
    } else if path.ends_with("/merge") {
        vec![("from_id", "1")]
    } else if path.starts_with("/customers") {
        vec![("kind", "person"), ("first_name", "Nouveau"), ("last_name", "Client"), ("phone", "514 555-0111")]
    } else if path.starts_with("/admin/outbox") {
        vec![("to", "someone@t.fr")]
    } else if path.ends_with("/interventions") || path.starts_with("/service/interventions") {
        vec![("date", "2026-12-01"), ("start_time", "08:00"), ("end_time", "09:00"), ("technician_ids", "1")]
    } else if path.ends_with("/returns") {
        vec![("equipment_id", "1"), ("reason", "Panne"), ("return_type", "credit")]
    } else if path.starts_with("/service/returns") {
        vec![("status", "recu")]
    } else if path.starts_with("/service/requests") && path.ends_with("/updates") {
        vec![("status", "planifie"), ("message", "Bientôt")]
    } else if path.starts_with("/service/requests") && path.contains("/contacts/") {
        vec![("first_name", "Nouveau"), ("last_name", "Contact")]
    } else if path.starts_with("/service/requests") && path.contains("/equipment") {
        vec![("serial_number", "NEW-9"), ("model", "Modèle"), ("symptom", "bruit")]
    } else if path.starts_with("/service/requests") {
        vec![("customer_id", "1"), ("request_type", "maintenance"), ("description", "Nouvelle")]
    } else if path.ends_with("/status") {
        vec![("status", "contacte")]
    } else if path.ends_with("/notes") {
        vec![("body", "Une remarque")]
    } else if path.ends_with("/calls") {
        vec![("date", "2026-12-01"), ("time", "10:00"), ("subject", "Appel")]
    } else if path.ends_with("/log") {
        vec![("outcome", "joint")]
    } else if path.contains("/meetings") {
        vec![
            ("kind", "inventaire"),
            ("date", "2026-12-01"),
            ("start_time", "10:00"),
            ("end_time", "11:00"),
            ("category", "rendez_vous"),
            ("status", "planifie"),
        ]
    } else if path.starts_with("/opportunities/views") {
        vec![("name", "Vue"), ("query", "status=contacte")]
    } else if path.starts_with("/opportunities") {
        vec![("name", "Nouvelle"), ("c_last_name", "Nouveau"), ("c_phone", "514 555-0177"), ("lead_type", "sms")]
    } else if path.starts_with("/leads") {
        vec![("first_name", "Lead"), ("phone", "514 555-0166"), ("lead_type", "sms")]
    } else if path.starts_with("/stock") {
        vec![("stock_number", "NEW1"), ("description", "Nouvelle")]
    } else if path.starts_with("/admin/email-templates") {
        vec![("subject", "S"), ("text_body", "T"), ("html_body", "H")]
    } else {
        vec![]
    }
}

fn json_body(path: &str) -> serde_json::Value {
    if path.starts_with("/api/v1/news") {
        json!({"title": "T", "summary": "S", "body": "B", "audience": "all"})
    } else if path.ends_with("/assign") {
        json!({"engineer_id": 1})
    } else if path.ends_with("/propose") {
        json!({"slots": [{"date": "2027-01-12", "start_time": "09:00", "end_time": "11:00"}]})
    } else if path.ends_with("/ask-info") {
        json!({"question": "Combien ?"})
    } else if path.starts_with("/api/v1/presales-requests") {
        json!({"reason": "Non"})
    } else if path.starts_with("/api/v1/users") {
        json!({"email": "nouveau@t.fr", "name": "Nouveau", "role": "administrateur"})
    } else if path.starts_with("/api/v1/roles") {
        json!({"code": "nouveau", "name_fr": "N", "name_en": "N", "scope": "all", "rights": ["admin.users"]})
    } else if path.starts_with("/api/v1/org-units") {
        json!({"name": "Nouvelle", "kind": "company", "parent_id": null})
    } else if path.starts_with("/api/v1/groups") {
        json!({"name": "Nouveau groupe"})
    } else if path.starts_with("/api/v1/lists") {
        json!({"code": "nouveau", "label_fr": "N", "label_en": "N"})
    } else if path.starts_with("/api/v1/settings") {
        json!({"lists.page_size": "99"})
    } else if path.starts_with("/api/v1/customers") && path.contains("/contacts") {
        json!({"first_name": "Nouveau", "last_name": "Contact"})
    } else if path.ends_with("/merge") {
        json!({"from_id": 1})
    } else if path.starts_with("/api/v1/customers") {
        json!({"kind": "person", "first_name": "Nouveau", "last_name": "Client", "phone": "514 555-0111"})
    } else if path.starts_with("/api/v1/interventions") {
        json!({"request_id": 1, "date": "2026-12-01", "start_time": "08:00", "end_time": "09:00", "technician_ids": [1]})
    } else if path.starts_with("/api/v1/equipment-returns") && path.contains("{id}") {
        json!({"status": "recu"})
    } else if path.starts_with("/api/v1/equipment-returns") {
        json!({"request_id": 1, "equipment_id": 1, "reason": "Panne", "return_type": "credit"})
    } else if path.starts_with("/api/v1/service-requests") && path.ends_with("/updates") {
        json!({"status": "planifie", "message": "Bientôt"})
    } else if path.starts_with("/api/v1/service-requests") && path.contains("/contacts/") {
        json!({"first_name": "Nouveau", "last_name": "Contact"})
    } else if path.starts_with("/api/v1/service-requests") && path.ends_with("/equipment") {
        json!({"equipment": {"serial_number": "NEW-9", "model": "Modèle"}})
    } else if path.starts_with("/api/v1/service-requests") && path.contains("{equipment_id}") {
        json!({"symptom": "bruit"})
    } else if path.starts_with("/api/v1/service-requests") {
        json!({"customer_id": 1, "request_type": "maintenance", "description": "Nouvelle"})
    } else if path.starts_with("/api/v1/equipment") {
        json!({"customer_id": 1, "serial_number": "NEW-9", "model": "Modèle"})
    } else if path.starts_with("/api/v1/opportunities") && path.ends_with("/notes") {
        json!({"body": "Une remarque"})
    } else if path.starts_with("/api/v1/opportunities") && path.contains("{id}") {
        json!({"status": "contacte"})
    } else if path.starts_with("/api/v1/opportunities") {
        json!({"customer": {"kind": "person", "last_name": "Nouveau", "phone": "514 555-0177"}})
    } else if path.starts_with("/api/v1/leads") {
        json!({"first_name": "Lead", "phone": "514 555-0166"})
    } else if path.ends_with("/log") {
        json!({"outcome": "joint"})
    } else if path.starts_with("/api/v1/calls") {
        json!({"opportunity_id": 1, "date": "2026-12-01", "time": "10:00", "subject": "Appel"})
    } else if path.starts_with("/api/v1/meetings") && path.ends_with("/cancel") {
        json!({})
    } else if path.starts_with("/api/v1/meetings") {
        json!({"opportunity_id": 1, "kind": "inventaire", "date": "2026-12-01", "start_time": "10:00", "end_time": "11:00"})
    } else if path.starts_with("/api/v1/stock-units") {
        json!({"stock_number": "NEW1", "description": "Nouvelle"})
    } else if path.starts_with("/api/v1/tokens") {
        json!({"name": "t"})
    } else if path.starts_with("/api/v1/emails") {
        json!({"to": "someone@t.fr"})
    } else if path.starts_with("/api/v1/email-templates") {
        json!({"subject": "S", "text_body": "T", "html_body": "H"})
    } else {
        json!({})
    }
}

#[tokio::test]
async fn every_refused_route_answers_403_and_changes_nothing() {
    each_backend(|app| async move {
        let f = fixture(&app).await;
        let mut checked = 0;
        for role in roles::defaults() {
            let email = format!("{}@roles.test", role.code);
            let uid = app.user(&email, &role.code, Some(f.unit)).await;
            let session = app.login(&email, PASSWORD).await.unwrap();
            let api = app.api(&app.token_for(uid).await);
            for route in ROUTES {
                let Access::Right(right) = route.access else { continue };
                if role.rights.contains(right) {
                    continue;
                }
                let path = concrete(route.path, &f);
                let before = app.snapshot().await;
                let status = if route.path.starts_with("/api/") {
                    let body = (route.method != "get").then(|| json_body(route.path));
                    api.send(&route.method.to_uppercase(), &path, body).await.0
                } else if route.method == "get" {
                    session.get(&path).await.status()
                } else {
                    session.post(&path, &form_body(route.path)).await.status()
                };
                assert_eq!(status, 403, "{} {} {} with role {}", route.method, route.path, path, role.code);
                assert_eq!(app.snapshot().await, before, "{} {} with role {} changed the database", route.method, path, role.code);
                checked += 1;
            }
        }
        assert!(checked > 100, "only {checked} refusals checked");
        app
    })
    .await;
}

#[tokio::test]
async fn anonymous_callers_are_refused_everywhere_but_public_routes() {
    each_backend(|app| async move {
        let f = fixture(&app).await;
        let client = app.anon();
        for route in ROUTES {
            if route.access.is_public() {
                continue;
            }
            let path = concrete(route.path, &f);
            let before = app.snapshot().await;
            let m = reqwest::Method::from_bytes(route.method.to_uppercase().as_bytes()).unwrap();
            let mut rb = client.request(m, format!("{}{path}", app.url));
            if route.path.starts_with("/api/") && route.method != "get" {
                rb = rb.json(&json_body(route.path));
            } else if route.method != "get" {
                rb = rb.form(&form_body(route.path));
            }
            let r = rb.send().await.unwrap();
            if route.path.starts_with("/api/") {
                assert_eq!(r.status(), 401, "{} {}", route.method, path);
            } else {
                assert_eq!(r.status(), 303, "{} {}", route.method, path);
                // The customer portal has its own login.
                let login = if route.access == Access::Portal {
                    "/portal/login"
                } else if route.access.is_partner() {
                    "/partner/login"
                } else {
                    "/login"
                };
                assert!(r.headers().get("location").unwrap().to_str().unwrap().starts_with(login), "{} {}", route.method, path);
            }
            assert_eq!(app.snapshot().await, before, "{} {} changed the database", route.method, path);
        }
        app
    })
    .await;
}

#[tokio::test]
async fn administrators_can_open_every_page() {
    each_backend(|app| async move {
        let f = fixture(&app).await;
        // The fixture's administrator: imports are private to who uploaded them.
        let s = app.login("fixture-admin@t.fr", PASSWORD).await.unwrap();
        // A second factor being set up: its QR code exists (only then).
        assert_eq!(s.post("/account/two-factor/setup", &[]).await.status(), 303);
        // The login page sends a logged-in user home.
        // The customer portal's pages are for portal users (tests/portal.rs).
        for route in ROUTES.iter().filter(|r| {
            r.method == "get" && !r.path.starts_with("/api/") && r.path != "/login" && !r.access.is_portal() && !r.access.is_partner()
        }) {
            if route.path == "/notifications/{id}" {
                // Opening a notification marks it read and goes to its record (tests/inbox.rs).
                continue;
            }
            let path = concrete(route.path, &f);
            if path == "/reports" {
                // The reports' entry sends to the dashboard the user may read.
                let r = s.get(&path).await;
                assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/reports/sales"));
                continue;
            }
            let (status, body) = s.get_text(&path).await;
            assert_eq!(status, 200, "GET {path}: {}", body.split("<main").nth(1).unwrap_or(&body).chars().take(700).collect::<String>());
        }
        app
    })
    .await;
}

/// Taking part gives access to that record and the customer behind it, never to the
/// customer's other files: walked over every record route of the table.
#[tokio::test]
async fn taking_part_opens_that_record_and_its_customer_and_nothing_else() {
    each_backend(|app| async move {
        let co = app.unit("Compagnie", "company", None).await;
        let laval = app.unit("Laval", "branch", Some(co)).await;
        let elsewhere = app.unit("Ailleurs", "branch", Some(co)).await;
        let admin = app.user("adm@t.fr", "administrateur", None).await;
        let owner = app.user("owner@t.fr", "representant", Some(laval)).await;
        let tech = app.user("tech@t.fr", "technicien", Some(elsewhere)).await;
        let rep = app.user("rep@t.fr", "representant", Some(elsewhere)).await;
        let adm = app.api(&app.token_for(admin).await);
        let post = |path: &'static str, body: serde_json::Value| {
            let adm = &adm;
            async move {
                let (s, v) = adm.send("POST", path, Some(body)).await;
                assert_eq!(s, 201, "{path}: {v}");
                v["id"].as_i64().unwrap()
            }
        };
        let customer = post("/api/v1/customers", json!({"kind": "company", "company_name": "Cible", "branch_id": laval, "owner_id": owner})).await;
        let mine = post("/api/v1/service-requests", json!({"customer_id": customer, "request_type": "panne", "branch_id": laval, "owner_id": owner})).await;
        let other = post("/api/v1/service-requests", json!({"customer_id": customer, "request_type": "panne", "branch_id": laval, "owner_id": owner})).await;
        post(
            "/api/v1/interventions",
            json!({"request_id": mine, "date": "2026-11-25", "start_time": "08:00", "end_time": "10:00", "technician_ids": [tech]}),
        )
        .await;
        let opp = post("/api/v1/opportunities", json!({"customer_id": customer, "owner_id": owner, "branch_id": laval})).await;
        let opp2 = post("/api/v1/opportunities", json!({"customer_id": customer, "owner_id": owner, "branch_id": laval})).await;
        post(
            "/api/v1/meetings",
            json!({"opportunity_id": opp, "kind": "inventaire", "date": "2026-11-26", "start_time": "10:00", "end_time": "11:00", "user_ids": [rep]}),
        )
        .await;
        let mut checked = 0;
        for (user, prefix, part, not_part) in
            [(tech, "/api/v1/service-requests/{id}", mine, other), (rep, "/api/v1/opportunities/{id}", opp, opp2)]
        {
            let api = app.api(&app.token_for(user).await);
            let role = if user == tech { "technicien" } else { "representant" };
            let rights = roles::defaults().into_iter().find(|r| r.code == role).unwrap().rights;
            for route in ROUTES.iter().filter(|r| r.method == "get" && r.path.starts_with(prefix) && !r.path[prefix.len()..].contains('{')) {
                let Access::Right(right) = route.access else { continue };
                if !rights.contains(right) {
                    continue;
                }
                let yes = route.path.replace("{id}", &part.to_string());
                let no = route.path.replace("{id}", &not_part.to_string());
                assert_eq!(api.get(&yes).await.0, 200, "{role} takes part: GET {yes}");
                assert_eq!(api.get(&no).await.0, 404, "{role} takes no part: GET {no}");
                checked += 1;
            }
            // The customer behind it: read, not changed.
            for route in ROUTES.iter().filter(|r| r.method == "get" && r.path.starts_with("/api/v1/customers/{id}") && !r.path.ends_with("/vcard")) {
                let path = route.path.replace("{id}", &customer.to_string());
                assert_eq!(api.get(&path).await.0, 200, "{role} reads the customer: GET {path}");
                checked += 1;
            }
            let before = app.snapshot().await;
            let (s, _) = api.send("PATCH", &format!("/api/v1/customers/{customer}"), Some(json!({"notes": "x"}))).await;
            assert!(s == 404 || s == 403, "{role} may not change the customer: {s}");
            assert_eq!(app.snapshot().await, before);
        }
        assert!(checked >= 8, "only {checked} routes checked");
        app
    })
    .await;
}
