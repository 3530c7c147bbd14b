//! Service requests over HTTP, on both backends: numbering, bad input, visibility, customer
//! updates with their emails and the status workflow, contacts from a request, equipment
//! lines, history, open files.

mod common;

use common::{each_backend, Api, TestApp};
use serde_json::{json, Value};

struct Setup {
    admin: Api,
    agent: Api,
    customer: i64,
    contact: i64,
}

async fn setup(app: &TestApp) -> Setup {
    let company = app.unit("Service Inc.", "company", None).await;
    let team = app.unit("Service Laval", "team", Some(company)).await;
    let admin = app.user("admin@t.fr", "administrateur", None).await;
    let agent = app.user("agent@t.fr", "agent_support", Some(team)).await;
    let admin = app.api(&app.token_for(admin).await);
    let agent = app.api(&app.token_for(agent).await);
    let (s, cu) = admin
        .send(
            "POST",
            "/api/v1/customers",
            Some(json!({"kind": "company", "company_name": "Boulangerie Les Trois Épis", "branch_id": team, "language": "fr"})),
        )
        .await;
    assert_eq!(s, 201, "{cu}");
    let customer = cu["id"].as_i64().unwrap();
    let (_, ct) = admin
        .send(
            "POST",
            &format!("/api/v1/customers/{customer}/contacts"),
            Some(json!({"first_name": "Marie", "last_name": "Lemieux", "email": "marie@3epis.ca"})),
        )
        .await;
    Setup { admin, agent, customer, contact: ct["id"].as_i64().unwrap() }
}

async fn request(api: &Api, body: Value) -> Value {
    let (s, r) = api.send("POST", "/api/v1/service-requests", Some(body)).await;
    assert_eq!(s, 201, "{r}");
    r
}

#[tokio::test]
async fn requests_are_numbered_checked_and_visible_by_structure() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        // Bad input: no type, an unknown type, a contact of another customer. Nothing written.
        let before = app.snapshot().await;
        let (st, b) = s.agent.send("POST", "/api/v1/service-requests", Some(json!({"customer_id": s.customer}))).await;
        assert_eq!(st, 422);
        assert!(b["error"]["fields"]["request_type"].is_string(), "{b}");
        let (st, _) = s.agent.send("POST", "/api/v1/service-requests", Some(json!({"customer_id": s.customer, "request_type": "nope"}))).await;
        assert_eq!(st, 422);
        let (_, other) = s.admin.send("POST", "/api/v1/customers", Some(json!({"kind": "company", "company_name": "Autre"}))).await;
        let (_, oc) =
            s.admin.send("POST", &format!("/api/v1/customers/{}/contacts", other["id"]), Some(json!({"first_name": "X", "last_name": "Y"}))).await;
        let before2 = app.snapshot().await;
        let (st, b) = s
            .agent
            .send("POST", "/api/v1/service-requests", Some(json!({"customer_id": s.customer, "request_type": "panne", "requester_contact_id": oc["id"]})))
            .await;
        assert_eq!(st, 422, "{b}");
        assert_eq!(app.snapshot().await, before2);
        assert_ne!(before, before2);
        // Numbered per year, in order.
        let r1 = request(&s.agent, json!({"customer_id": s.customer, "request_type": "panne", "symptom": "fuite", "requester_contact_id": s.contact, "description": "Le four fuit."})).await;
        let r2 = request(&s.agent, json!({"customer_id": s.customer, "request_type": "maintenance"})).await;
        assert_eq!(r1["number"], "DEM-2026-000001");
        assert_eq!(r2["number"], "DEM-2026-000002");
        assert_eq!((r1["status"].as_str(), r1["source"].as_str()), (Some("nouveau"), Some("staff")));
        assert_eq!(r1["requester"]["email"], "marie@3epis.ca");
        // The number and status are the system's.
        let (st, _) = s.agent.send("PATCH", &format!("/api/v1/service-requests/{}", r1["id"]), Some(json!({"status": "cloture"}))).await;
        assert_eq!(st, 422);
        let (st, _) = s.agent.send("PATCH", &format!("/api/v1/service-requests/{}", r1["id"]), Some(json!({"number": "X"}))).await;
        assert_eq!(st, 422);
        let (st, p) = s.agent.send("PATCH", &format!("/api/v1/service-requests/{}", r1["id"]), Some(json!({"description": "Le four fuit beaucoup."}))).await;
        assert_eq!(st, 200, "{p}");
        // A technician (scope own) sees neither request; the list filters by status and type.
        let tech = app.user("tech@t.fr", "technicien", None).await;
        let tech = app.api(&app.token_for(tech).await);
        let (_, l) = tech.get("/api/v1/service-requests").await;
        assert!(l["items"].as_array().unwrap().is_empty());
        let (st, _) = tech.get(&format!("/api/v1/service-requests/{}", r1["id"])).await;
        assert_eq!(st, 404);
        let (_, l) = s.agent.get("/api/v1/service-requests?request_type=maintenance").await;
        assert_eq!(l["items"].as_array().unwrap().len(), 1);
        let (_, l) = s.agent.get("/api/v1/service-requests?q=boulangerie").await;
        assert_eq!(l["items"].as_array().unwrap().len(), 2);
        let (st, _) = s.agent.get("/api/v1/service-requests?status=nope").await;
        assert_eq!(st, 422);
        // The customer's open files name both requests.
        let (_, f) = s.agent.get(&format!("/api/v1/customers/{}/open-files", s.customer)).await;
        let kinds: Vec<&str> = f["items"].as_array().unwrap().iter().filter_map(|x| x["kind"].as_str()).collect();
        assert_eq!(kinds, vec!["service_request", "service_request"], "{f}");
        app
    })
    .await;
}

#[tokio::test]
async fn customer_updates_drive_the_status_and_email_the_contacts() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let r = request(&s.agent, json!({"customer_id": s.customer, "request_type": "panne", "requester_contact_id": s.contact})).await;
        let path = format!("/api/v1/service-requests/{}/updates", r["id"]);
        let (st, b) = s.agent.send("POST", &path, Some(json!({"status": "nouveau", "message": "x"}))).await;
        assert_eq!(st, 422, "{b}");
        let (st, b) = s.agent.send("POST", &path, Some(json!({"status": "planifie", "message": "  "}))).await;
        assert_eq!(st, 422, "{b}");
        let (st, u) = s
            .agent
            .send("POST", &path, Some(json!({"status": "planifie", "message": "Un technicien passe mardi entre 8 h et 10 h."})))
            .await;
        assert_eq!(st, 201, "{u}");
        assert_eq!(u["notified"], 1);
        let (_, got) = s.agent.get(&format!("/api/v1/service-requests/{}", r["id"])).await;
        assert_eq!(got["status"], "planifie");
        let emails: Vec<(String, String, String)> =
            sqlx::query_as("SELECT event, to_addrs, subject FROM emails WHERE entity_type = 'service_request' AND entity_id = $1")
                .bind(r["id"].as_i64().unwrap())
                .fetch_all(&app.state.db.pool)
                .await
                .unwrap();
        assert_eq!(emails.len(), 1, "{emails:?}");
        assert_eq!(emails[0].0, "request_update");
        assert!(emails[0].1.contains("marie@3epis.ca"));
        assert_eq!(emails[0].2, "Votre demande DEM-2026-000001 : Planifié");
        // Closed, then closed again (refused), then reopened.
        let (st, _) = s.agent.send("POST", &path, Some(json!({"status": "cloture", "message": "Réparé."}))).await;
        assert_eq!(st, 201);
        let (_, got) = s.agent.get(&format!("/api/v1/service-requests/{}", r["id"])).await;
        assert!(got["closed_at"].is_i64());
        let (st, _) = s.agent.send("POST", &path, Some(json!({"status": "cloture", "message": "Encore"}))).await;
        assert_eq!(st, 409);
        let (_, f) = s.agent.get(&format!("/api/v1/customers/{}/open-files", s.customer)).await;
        assert!(f["items"].as_array().unwrap().is_empty(), "a closed request is not an open file");
        let (st, _) = s.agent.send("POST", &path, Some(json!({"status": "en_cours", "message": "La fuite est revenue."}))).await;
        assert_eq!(st, 201);
        let (_, got) = s.agent.get(&format!("/api/v1/service-requests/{}", r["id"])).await;
        assert_eq!((got["status"].as_str(), got["closed_at"].is_null()), (Some("en_cours"), true));
        let (_, l) = s.agent.get(&path).await;
        assert_eq!(l["items"].as_array().unwrap().len(), 3);
        let (_, h) = s.agent.get(&format!("/api/v1/service-requests/{}/history", r["id"])).await;
        assert!(h["items"].as_array().unwrap().iter().filter(|e| e["field"] == "status").count() >= 3, "{h}");
        app
    })
    .await;
}

#[tokio::test]
async fn contacts_are_created_only_into_empty_fields_and_modified_with_the_right() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let r =
            request(&s.agent, json!({"customer_id": s.customer, "request_type": "installation", "requester_contact_id": s.contact})).await;
        let id = r["id"].as_i64().unwrap();
        // The requester is set: creating one there is refused; the user field is empty.
        let (st, _) =
            s.agent.send("POST", &format!("/api/v1/service-requests/{id}/contacts/requester"), Some(json!({"last_name": "Nouveau"}))).await;
        assert_eq!(st, 409);
        let (st, b) = s
            .agent
            .send(
                "POST",
                &format!("/api/v1/service-requests/{id}/contacts/user"),
                Some(json!({"last_name": "Vachon", "email": "pas-valide"})),
            )
            .await;
        assert_eq!(st, 422, "{b}");
        let (st, b) = s
            .agent
            .send(
                "POST",
                &format!("/api/v1/service-requests/{id}/contacts/user"),
                Some(json!({"first_name": "Karine", "last_name": "Vachon", "mobile": "514 555-0199"})),
            )
            .await;
        assert_eq!(st, 201, "{b}");
        assert_eq!(b["user"]["name"], "Karine Vachon");
        assert_eq!(b["user"]["mobile"], "+15145550199");
        let (_, cts) = s.agent.get(&format!("/api/v1/customers/{}/contacts", s.customer)).await;
        assert_eq!(cts["items"].as_array().unwrap().len(), 2, "the contact belongs to the customer");
        // Modify the requester from the request.
        let (st, c) = s
            .agent
            .send(
                "PUT",
                &format!("/api/v1/service-requests/{id}/contacts/requester"),
                Some(json!({"first_name": "Marie", "last_name": "Lemieux", "email": "marie.lemieux@3epis.ca"})),
            )
            .await;
        assert_eq!(st, 200, "{c}");
        let (_, got) = s.agent.get(&format!("/api/v1/service-requests/{id}")).await;
        assert_eq!(got["requester"]["email"], "marie.lemieux@3epis.ca");
        // Without the rights (a technician on their own request): refused.
        let tech_id = app.user("tech@t.fr", "technicien", None).await;
        let tech = app.api(&app.token_for(tech_id).await);
        let (st, _) = tech.send("PUT", &format!("/api/v1/service-requests/{id}/contacts/requester"), Some(json!({"last_name": "X"}))).await;
        assert_eq!(st, 403);
        app
    })
    .await;
}

#[tokio::test]
async fn equipment_lines_are_added_created_given_symptoms_and_removed() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let r = request(&s.agent, json!({"customer_id": s.customer, "request_type": "panne"})).await;
        let id = r["id"].as_i64().unwrap();
        let (st, e) = s
            .agent
            .send("POST", "/api/v1/equipment", Some(json!({"customer_id": s.customer, "serial_number": "sn-100", "model": "Four Rational iCombi", "installed_on": "2023-04-12", "location": "Cuisine"})))
            .await;
        assert_eq!(st, 201, "{e}");
        assert_eq!(e["serial_number"], "SN-100");
        let (st, _) = s.agent.send("POST", "/api/v1/equipment", Some(json!({"customer_id": s.customer, "serial_number": "SN-100", "model": "Doublon"}))).await;
        assert_eq!(st, 409);
        let (st, b) = s.agent.send("POST", "/api/v1/equipment", Some(json!({"customer_id": s.customer, "serial_number": "SN-1", "model": "M", "installed_on": "hier"}))).await;
        assert_eq!(st, 422, "{b}");
        let eid = e["id"].as_i64().unwrap();
        let lines = format!("/api/v1/service-requests/{id}/equipment");
        let (st, l) = s.agent.send("POST", &lines, Some(json!({"equipment_id": eid, "symptom": "fuite"}))).await;
        assert_eq!(st, 201, "{l}");
        let (st, _) = s.agent.send("POST", &lines, Some(json!({"equipment_id": eid}))).await;
        assert_eq!(st, 409, "already on the request");
        let (st, _) = s.agent.send("POST", &lines, Some(json!({"equipment_id": eid, "symptom": "grele"}))).await;
        assert_eq!(st, 422);
        // New equipment created from the request, with its symptom.
        let (st, l) = s.agent.send("POST", &lines, Some(json!({"equipment": {"serial_number": "SN-200", "model": "Pétrin"}, "symptom": "bruit"}))).await;
        assert_eq!(st, 201, "{l}");
        assert_eq!(l["items"].as_array().unwrap().len(), 2);
        // Equipment of another customer cannot be added.
        let (_, other) = s.admin.send("POST", "/api/v1/customers", Some(json!({"kind": "company", "company_name": "Autre"}))).await;
        let (_, oe) = s.admin.send("POST", "/api/v1/equipment", Some(json!({"customer_id": other["id"], "serial_number": "X1", "model": "M"}))).await;
        let (st, _) = s.agent.send("POST", &lines, Some(json!({"equipment_id": oe["id"]}))).await;
        assert_eq!(st, 422);
        let (st, _) = s.agent.send("PATCH", &format!("{lines}/{eid}"), Some(json!({"symptom": "ne_demarre_pas"}))).await;
        assert_eq!(st, 204);
        let (st, _) = s.agent.send("DELETE", &format!("{lines}/{eid}"), None).await;
        assert_eq!(st, 204);
        let (_, l) = s.agent.get(&lines).await;
        let items = l["items"].as_array().unwrap();
        assert_eq!((items.len(), items[0]["serial_number"].as_str(), items[0]["symptom"].as_str()), (1, Some("SN-200"), Some("bruit")));
        let (_, base) = s.agent.get(&format!("/api/v1/equipment?customer_id={}", s.customer)).await;
        assert_eq!(base["items"].as_array().unwrap().len(), 2, "removing a line keeps the equipment");
        let (_, h) = s.agent.get(&format!("/api/v1/service-requests/{id}/history")).await;
        assert_eq!(h["items"].as_array().unwrap().iter().filter(|e| e["action"] == "equipment").count(), 4, "{h}");
        // Merging customers moves their requests and equipment (a serial number both have stays apart).
        let (_, dup) = s.admin.send("POST", "/api/v1/customers?allow_duplicate=true", Some(json!({"kind": "company", "company_name": "Boulangerie 3 Épis"}))).await;
        let (st, _) = s.admin.send("POST", "/api/v1/equipment", Some(json!({"customer_id": dup["id"], "serial_number": "SN-200", "model": "Pétrin"}))).await;
        assert_eq!(st, 201);
        let (st, m) = s.admin.send("POST", &format!("/api/v1/customers/{}/merge", dup["id"]), Some(json!({"from_id": s.customer}))).await;
        assert_eq!(st, 200, "{m}");
        let (_, got) = s.admin.get(&format!("/api/v1/service-requests/{id}")).await;
        assert_eq!(got["customer_id"], dup["id"]);
        let (_, base) = s.admin.get(&format!("/api/v1/equipment?customer_id={}", dup["id"])).await;
        assert_eq!(base["items"].as_array().unwrap().len(), 3, "{base}");
        app
    })
    .await;
}

#[tokio::test]
async fn interventions_carry_the_equipment_over_and_the_planning_shows_conflicts() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let tech = app.user("luc@t.fr", "technicien", None).await;
        let other_tech = app.user("emma@t.fr", "technicien", None).await;
        let (_, cu) = s.admin.get(&format!("/api/v1/customers/{}", s.customer)).await;
        assert!(cu["id"].is_i64());
        sqlx::query("UPDATE customers SET address = '12 rue Principale, Laval' WHERE id = $1").bind(s.customer).execute(&app.state.db.pool).await.unwrap();
        let r = request(&s.agent, json!({"customer_id": s.customer, "request_type": "panne"})).await;
        let rid = r["id"].as_i64().unwrap();
        s.agent.send("POST", &format!("/api/v1/service-requests/{rid}/equipment"), Some(json!({"equipment": {"serial_number": "SN-1", "model": "Four"}, "symptom": "fuite"}))).await;
        // Bad input: an unknown technician, no technician, end before start. Nothing written.
        let before = app.snapshot().await;
        for bad in [
            json!({"request_id": rid, "date": "2026-11-25", "start_time": "08:00", "end_time": "10:00", "technician_ids": [999999]}),
            json!({"request_id": rid, "date": "2026-11-25", "start_time": "08:00", "end_time": "10:00", "technician_ids": []}),
            json!({"request_id": rid, "date": "2026-11-25", "start_time": "10:00", "end_time": "08:00", "technician_ids": [tech]}),
        ] {
            let (st, b) = s.agent.send("POST", "/api/v1/interventions", Some(bad)).await;
            assert_eq!(st, 422, "{b}");
        }
        assert_eq!(app.snapshot().await, before);
        let (st, i) = s
            .agent
            .send("POST", "/api/v1/interventions", Some(json!({"request_id": rid, "date": "2026-11-25", "start_time": "08:00", "end_time": "10:00", "technician_ids": [tech]})))
            .await;
        assert_eq!(st, 201, "{i}");
        assert_eq!(i["number"], "INT-2026-000001");
        assert_eq!(i["place"], "12 rue Principale, Laval", "the customer's address by default");
        assert_eq!(i["equipment"][0]["serial_number"], "SN-1");
        assert_eq!(i["equipment"][0]["symptom"], "fuite", "carried over with its symptom");
        let iid = i["id"].as_i64().unwrap();
        // The list's wrench points at it.
        let (_, got) = s.agent.get(&format!("/api/v1/service-requests/{rid}")).await;
        assert_eq!(got["intervention_id"], iid);
        // A second one overlapping for the same technician: a conflict on the planning.
        let (st, i2) = s
            .agent
            .send("POST", "/api/v1/interventions", Some(json!({"request_id": rid, "date": "2026-11-25", "start_time": "09:30", "end_time": "11:00", "technician_ids": [tech, other_tech]})))
            .await;
        assert_eq!(st, 201, "{i2}");
        let (_, p) = s.agent.get("/api/v1/interventions?from=2026-11-23&days=7").await;
        assert_eq!(p["items"].as_array().unwrap().len(), 2);
        assert_eq!(p["conflicts"].as_array().unwrap().len(), 1, "{p}");
        assert_eq!(p["conflicts"][0]["technician_id"], tech);
        let (_, p) = s.agent.get(&format!("/api/v1/interventions?from=2026-11-23&days=7&technician_id={other_tech}")).await;
        assert_eq!(p["items"].as_array().unwrap().len(), 1);
        // The technician sees their own intervention, finishes it only with a report.
        let tapi = app.api(&app.token_for(tech).await);
        let (st, _) = tapi.get(&format!("/api/v1/interventions/{iid}")).await;
        assert_eq!(st, 200);
        let upd = |status: &str, report: &str| json!({"date": "2026-11-25", "start_time": "08:00", "end_time": "10:00", "technician_ids": [tech], "status": status, "report_work": report, "report_minutes": 90});
        let (st, _) = tapi.send("PUT", &format!("/api/v1/interventions/{iid}"), Some(upd("terminee", ""))).await;
        assert_eq!(st, 422);
        let (st, b) = tapi.send("PUT", &format!("/api/v1/interventions/{iid}"), Some(upd("en_cours", ""))).await;
        assert_eq!(st, 200, "{b}");
        let (st, b) = tapi.send("PUT", &format!("/api/v1/interventions/{iid}"), Some(upd("terminee", "Joint de porte remplacé."))).await;
        assert_eq!((st.as_u16(), b["status"].as_str()), (200, Some("terminee")), "{b}");
        let (st, _) = tapi.send("PUT", &format!("/api/v1/interventions/{iid}"), Some(upd("planifiee", "x"))).await;
        assert_eq!(st, 409);
        let (_, h) = s.agent.get(&format!("/api/v1/service-requests/{rid}/history")).await;
        assert!(h["items"].as_array().unwrap().iter().any(|e| e["action"] == "intervention"), "in the request's history");
        app
    })
    .await;
}

#[tokio::test]
async fn equipment_returns_follow_their_workflow() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let r = request(&s.agent, json!({"customer_id": s.customer, "request_type": "panne"})).await;
        let rid = r["id"].as_i64().unwrap();
        let (_, l) = s
            .agent
            .send(
                "POST",
                &format!("/api/v1/service-requests/{rid}/equipment"),
                Some(json!({"equipment": {"serial_number": "SN-9", "model": "Pétrin"}})),
            )
            .await;
        let eid = l["items"][0]["equipment_id"].as_i64().unwrap();
        let (st, b) = s
            .agent
            .send(
                "POST",
                "/api/v1/equipment-returns",
                Some(json!({"request_id": rid, "equipment_id": eid, "reason": "", "return_type": "repair"})),
            )
            .await;
        assert_eq!(st, 422, "{b}");
        let (st, x) = s
            .agent
            .send(
                "POST",
                "/api/v1/equipment-returns",
                Some(json!({"request_id": rid, "equipment_id": eid, "reason": "Moteur bruyant", "return_type": "repair"})),
            )
            .await;
        assert_eq!(st, 201, "{x}");
        assert_eq!((x["number"].as_str(), x["status"].as_str()), (Some("RMA-2026-000001"), Some("demande")));
        let path = format!("/api/v1/equipment-returns/{}", x["id"]);
        let (st, _) = s.agent.send("PATCH", &path, Some(json!({"status": "renvoye"}))).await;
        assert_eq!(st, 409, "not before it is received");
        for to in ["recu", "en_reparation", "renvoye", "cloture"] {
            let (st, b) = s.agent.send("PATCH", &path, Some(json!({"status": to}))).await;
            assert_eq!(st, 200, "{to}: {b}");
        }
        let (_, list) = s.agent.get(&format!("/api/v1/equipment-returns?request_id={rid}")).await;
        assert_eq!(list["items"][0]["status"], "cloture");
        app
    })
    .await;
}

async fn upload(app: &TestApp, api: &Api, request: i64, name: &str, bytes: Vec<u8>, shared: bool) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()));
    if shared {
        form = form.text("shared", "on");
    }
    let r = api
        .client
        .post(format!("{}/api/v1/service-requests/{request}/documents", app.url))
        .bearer_auth(&api.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (s, v) = common::json_of(r).await;
    (s.as_u16(), v)
}

#[tokio::test]
async fn documents_are_checked_stored_under_generated_names_and_downloaded_with_visibility() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let r = request(&s.agent, json!({"customer_id": s.customer, "request_type": "panne"})).await;
        let rid = r["id"].as_i64().unwrap();
        let dir = app.state.config.documents_dir.clone();
        let files_in = |d: &std::path::Path| walk(d);
        // Refused: a path as name, a type not accepted, an empty file, too large. Nothing written.
        let before = app.snapshot().await;
        let (st, b) = upload(&app, &s.agent, rid, "../../etc/passwd", b"root".to_vec(), false).await;
        assert_eq!(st, 422, "{b}");
        let (st, _) = upload(&app, &s.agent, rid, "programme.exe", b"MZ".to_vec(), false).await;
        assert_eq!(st, 422);
        let (st, _) = upload(&app, &s.agent, rid, "vide.pdf", Vec::new(), false).await;
        assert_eq!(st, 422);
        let big = vec![b'x'; app.state.config.max_document_bytes + 1];
        let (st, _) = upload(&app, &s.agent, rid, "gros.pdf", big, false).await;
        assert!(st == 422 || st == 413, "{st}");
        assert_eq!(app.snapshot().await, before);
        assert!(files_in(&dir).is_empty(), "no file stored");
        // Accepted: stored under a generated name inside the folder, listed, downloadable.
        let content = b"%PDF-1.4 rapport d'intervention".to_vec();
        let (st, d) = upload(&app, &s.agent, rid, "Rapport été.pdf", content.clone(), true).await;
        assert_eq!(st, 201, "{d}");
        assert_eq!(
            (d["filename"].as_str(), d["shared"].as_bool(), d["size"].as_i64()),
            (Some("Rapport été.pdf"), Some(true), Some(content.len() as i64))
        );
        let stored = files_in(&dir);
        assert_eq!(stored.len(), 1);
        assert!(stored[0].starts_with(&dir) && !stored[0].to_string_lossy().contains("Rapport"), "{stored:?}");
        let did = d["id"].as_i64().unwrap();
        let resp = s.agent.client.get(format!("{}/api/v1/documents/{did}", app.url)).bearer_auth(&s.agent.token).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let cd = resp.headers()["content-disposition"].to_str().unwrap().to_string();
        assert!(cd.starts_with("attachment;") && cd.contains("filename*=UTF-8''Rapport%20%C3%A9t%C3%A9.pdf"), "{cd}");
        assert_eq!(resp.headers()["content-type"], "application/pdf");
        assert_eq!(resp.bytes().await.unwrap().to_vec(), content);
        // Someone who cannot see the request cannot download it.
        let tech = app.user("tech@t.fr", "technicien", None).await;
        let tech = app.api(&app.token_for(tech).await);
        let resp = tech.client.get(format!("{}/api/v1/documents/{did}", app.url)).bearer_auth(&tech.token).send().await.unwrap();
        assert_eq!(resp.status(), 404);
        // Deleting removes the row and the file.
        let (st, _) = s.agent.send("DELETE", &format!("/api/v1/documents/{did}"), None).await;
        assert_eq!(st, 204);
        assert!(files_in(&dir).is_empty());
        let (_, h) = s.agent.get(&format!("/api/v1/service-requests/{rid}/history")).await;
        assert_eq!(h["items"].as_array().unwrap().iter().filter(|e| e["action"] == "document").count(), 2);
        app
    })
    .await;
}

#[tokio::test]
async fn documents_can_live_in_an_s3_compatible_bucket() {
    let Some(s3) = common::S3Server::start() else { return };
    for backend in common::backends() {
        let bucket = format!("carnet-{}", if backend == common::Backend::Sqlite { "sqlite" } else { "postgres" });
        s3.create_bucket(&bucket).await;
        let url = format!(
            "s3://{bucket}/pieces/jointes?endpoint={}&region=us-east-1&allow_http=true&access_key_id=test&secret_access_key=test",
            s3.endpoint()
        );
        let app = TestApp::start_with(backend, |c| c.documents_url = Some(url)).await;
        let s = setup(&app).await;
        let r = request(&s.agent, json!({"customer_id": s.customer, "request_type": "panne"})).await;
        let rid = r["id"].as_i64().unwrap();
        // Refused uploads write nothing to the bucket either.
        let (st, _) = upload(&app, &s.agent, rid, "../../etc/passwd", b"root".to_vec(), false).await;
        assert_eq!(st, 422);
        assert!(s3.keys(&bucket, "").await.is_empty());
        let content = b"%PDF-1.4 bon de travail".to_vec();
        let (st, d) = upload(&app, &s.agent, rid, "Bon de travail.pdf", content.clone(), false).await;
        assert_eq!(st, 201, "{d}");
        // Stored in the bucket under the prefix and a generated key, not in the local folder.
        let keys = s3.keys(&bucket, "").await;
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert!(keys[0].starts_with("pieces/jointes/") && !keys[0].contains("Bon"), "{keys:?}");
        assert!(walk(&app.state.config.documents_dir).is_empty());
        let did = d["id"].as_i64().unwrap();
        let resp = s.agent.client.get(format!("{}/api/v1/documents/{did}", app.url)).bearer_auth(&s.agent.token).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.bytes().await.unwrap().to_vec(), content);
        let (st, _) = s.agent.send("DELETE", &format!("/api/v1/documents/{did}"), None).await;
        assert_eq!(st, 204);
        assert!(s3.keys(&bucket, "").await.is_empty(), "the object is deleted with the document");
        app.stop().await;
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn a_request_is_sent_by_email_with_its_pdf_summary_and_kept_on_the_request() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let r = request(&s.agent, json!({"customer_id": s.customer, "request_type": "panne", "requester_contact_id": s.contact, "description": "Le four fuit — été."})).await;
        let rid = r["id"].as_i64().unwrap();
        let path = format!("/api/v1/service-requests/{rid}/emails");
        let before = app.snapshot().await;
        let (st, b) = s.agent.send("POST", &path, Some(json!({"to": "pas une adresse", "message": "x"}))).await;
        assert_eq!(st, 422, "{b}");
        let (st, b) = s.agent.send("POST", &path, Some(json!({"to": "a@b.fr", "message": ""}))).await;
        assert_eq!(st, 422, "{b}");
        let (st, b) = s.agent.send("POST", &path, Some(json!({"to": "a@b.fr\\r\\nBcc: evil@x.fr", "message": "x"}))).await;
        assert_eq!(st, 422, "{b}");
        assert_eq!(app.snapshot().await, before);
        let (st, b) = s
            .agent
            .send("POST", &path, Some(json!({"to": "Marie Lemieux <marie@3epis.ca>", "cc": "chef@3epis.ca", "bcc": "archive@t.fr", "message": "Voici le résumé.", "attach_summary": true})))
            .await;
        assert_eq!(st, 201, "{b}");
        let email = carnet::mail::get(&app.state.db, b["email_id"].as_i64().unwrap()).await.unwrap().unwrap();
        assert_eq!(email.subject, "Demande DEM-2026-000001 du 2026-11-23");
        assert!(email.text_body.ends_with("\n-- \nagent"), "signed with the sender's name: {}", email.text_body);
        assert!(email.reply_to.as_deref().is_some_and(|r| r.contains("agent@t.fr")), "Reply-To defaults to the sender");
        assert!(email.bcc_addrs.contains("archive@t.fr"));
        let atts = carnet::mail::attachments(&app.state.db, email.id).await.unwrap();
        assert_eq!(atts.len(), 1);
        assert_eq!(atts[0].filename, "DEM-2026-000001.pdf");
        let pdf = carnet::mail::attachment(&app.state.db, email.id, atts[0].id).await.unwrap().unwrap().content;
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.windows(b"DEM-2026-000001".len()).any(|w| w == b"DEM-2026-000001"), "the number is in the PDF");
        let listed = carnet::mail::for_entity(&app.state.db, "service_request", rid).await.unwrap();
        assert_eq!(listed.len(), 1, "kept on the request");
        let (_, h) = s.agent.get(&format!("/api/v1/service-requests/{rid}/history")).await;
        assert!(h["items"].as_array().unwrap().iter().any(|e| e["action"] == "email"));
        // The summary on its own.
        let resp = s.agent.client.get(format!("{}/api/v1/service-requests/{rid}/summary.pdf", app.url)).bearer_auth(&s.agent.token).send().await.unwrap();
        assert_eq!(resp.headers()["content-type"], "application/pdf");
        app
    })
    .await;
}

#[tokio::test]
async fn the_planning_filters_accept_their_default_values() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let tech = app.user("luc@t.fr", "technicien", None).await;
        let r = request(&s.agent, json!({"customer_id": s.customer, "request_type": "panne"})).await;
        let rid = r["id"].as_i64().unwrap();
        let (st, i) = s
            .agent
            .send(
                "POST",
                "/api/v1/interventions",
                Some(
                    json!({"request_id": rid, "date": "2026-11-25", "start_time": "08:00", "end_time": "10:00", "technician_ids": [tech]}),
                ),
            )
            .await;
        assert_eq!(st, 201, "{i}");
        let web = app.login("admin@t.fr", common::PASSWORD).await.expect("login");
        let (st, html) = web.get_text("/service/planning?view=week&date=2026-11-25&technician_id=&branch_id=").await;
        assert_eq!(st, 200, "{html}");
        assert!(html.contains("INT-2026-000001"), "no filter: the intervention is shown");
        let (st, html) = web.get_text(&format!("/service/planning?view=week&date=2026-11-25&technician_id={tech}&branch_id=")).await;
        assert_eq!(st, 200);
        assert!(html.contains("INT-2026-000001"));
        let (st, _) = web.get_text("/service/planning?technician_id=x").await;
        assert_eq!(st, 400);
        app
    })
    .await;
}

#[tokio::test]
async fn the_update_form_preselects_the_current_status_and_offers_only_the_workflow_choices() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let r = request(&s.agent, json!({"customer_id": s.customer, "request_type": "panne"})).await;
        let rid = r["id"].as_i64().unwrap();
        let web = app.login("agent@t.fr", common::PASSWORD).await.expect("login");
        let select = |html: &str| {
            html.split("id=\"update-status\"").nth(1).and_then(|x| x.split("</select>").next()).unwrap_or_default().to_string()
        };
        let (_, html) = web.get_text(&format!("/service/requests/{rid}")).await;
        assert!(select(&html).contains("<option value=\"en_cours\" selected>"), "a new request: in progress by default");
        let path = format!("/api/v1/service-requests/{rid}/updates");
        let (st, _) = s.agent.send("POST", &path, Some(json!({"status": "planifie", "message": "Mardi 8 h."}))).await;
        assert_eq!(st, 201);
        let (_, html) = web.get_text(&format!("/service/requests/{rid}")).await;
        let sel = select(&html);
        assert!(sel.contains("<option value=\"planifie\" selected>"), "a planned request stays planned: {sel}");
        assert!(!sel.contains("en_cours\" selected"), "{sel}");
        let (st, _) = s.agent.send("POST", &path, Some(json!({"status": "cloture", "message": "Réparé."}))).await;
        assert_eq!(st, 201);
        let (_, html) = web.get_text(&format!("/service/requests/{rid}")).await;
        let sel = select(&html);
        assert!(!sel.contains("value=\"cloture\""), "a closed request cannot be closed again: {sel}");
        assert!(sel.contains("value=\"en_cours\" selected") && sel.contains("value=\"planifie\""), "{sel}");
        app
    })
    .await;
}

#[tokio::test]
async fn the_intervention_status_drop_down_offers_only_the_workflow_choices() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let tech = app.user("luc@t.fr", "technicien", None).await;
        let r = request(&s.agent, json!({"customer_id": s.customer, "request_type": "panne"})).await;
        let (st, i) = s
            .agent
            .send("POST", "/api/v1/interventions", Some(json!({"request_id": r["id"], "date": "2026-11-25", "start_time": "08:00", "end_time": "10:00", "technician_ids": [tech]})))
            .await;
        assert_eq!(st, 201, "{i}");
        let iid = i["id"].as_i64().unwrap();
        let web = app.login("admin@t.fr", common::PASSWORD).await.expect("login");
        let select = |html: &str| html.split("id=\"status\" name=\"status\"").nth(1).and_then(|x| x.split("</select>").next()).unwrap_or_default().to_string();
        let (_, html) = web.get_text(&format!("/service/interventions/{iid}")).await;
        let sel = select(&html);
        for code in ["planifiee", "en_cours", "terminee", "annulee"] {
            assert!(sel.contains(&format!("value=\"{code}\"")), "{code} from planned: {sel}");
        }
        let body = json!({"date": "2026-11-25", "start_time": "08:00", "end_time": "10:00", "technician_ids": [tech], "status": "terminee", "report_work": "Fait."});
        let (st, b) = s.admin.send("PUT", &format!("/api/v1/interventions/{iid}"), Some(body)).await;
        assert_eq!(st, 200, "{b}");
        let (_, html) = web.get_text(&format!("/service/interventions/{iid}")).await;
        let sel = select(&html);
        assert!(sel.contains("value=\"terminee\" selected"), "{sel}");
        for code in ["planifiee", "en_cours", "annulee"] {
            assert!(!sel.contains(&format!("value=\"{code}\"")), "{code} offered after the end: {sel}");
        }
        app
    })
    .await;
}

/// Who gets interventions (issue 21): the right `service.interventions.perform`, held by the
/// technicians. On the demo company, as Camille (support agent, Laval) works: the branch's
/// planning day has one column per technician of the branch and none for the support agent
/// (who also holds `service.interventions.update`), unless she is already booked that day;
/// the intervention form offers technicians only; assigning her is refused (422 on
/// `technician_ids`, in the user's language) from the form, the API and a drag on the planning,
/// and nothing changes; a booking made before keeps her when saved as it is.
#[tokio::test]
async fn the_planning_and_the_pickers_are_for_technicians_only() {
    each_backend(|app| async move {
        carnet::demo::load(&app.state).await.expect("demo");
        let db = &app.state.db;
        // The demo's interventions are filed under Laval's service team, as its support agent works.
        let (iid, rid, start, laval): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT i.id, i.request_id, i.start_at, i.branch_id FROM interventions i WHERE i.status = 'planifiee' AND i.branch_id IS NOT NULL ORDER BY i.start_at, i.id LIMIT 1",
        )
        .fetch_one(&db.pool)
        .await
        .expect("a demo intervention");
        let camille = app.count("SELECT id FROM users WHERE email = 'camille.fortin@carnet.demo'").await;
        let luc = app.count("SELECT id FROM users WHERE email = 'luc.gauthier@carnet.demo'").await;
        let emma = app.count("SELECT id FROM users WHERE email = 'emma.morin@carnet.demo'").await;
        let zone = carnet::settings::zone(db).await.expect("zone");
        let web = app.login("camille.fortin@carnet.demo", carnet::demo::PASSWORD).await.expect("camille");
        let column = |p: i64| format!("data-person=\"{p}\"");

        // A quiet day: the branch's technicians, not its support agent.
        let quiet = zone.date(app.now() + 60 * 86_400_000);
        let (s, page) = web.get_text(&format!("/service/planning?view=day&date={quiet}&branch_id={laval}")).await;
        assert_eq!(s, 200);
        assert!(page.contains(&column(luc)) && page.contains(&column(emma)), "a column per technician");
        assert!(!page.contains(&column(camille)), "no column for the support agent");
        let filter = page.split("id=\"p-tech\"").nth(1).and_then(|x| x.split("</select>").next()).unwrap_or_default();
        assert!(filter.contains(&format!("value=\"{luc}\"")) && !filter.contains(&format!("value=\"{camille}\"")), "{filter}");

        // The branch above the team: its planning shows its teams' interventions and technicians.
        let branch = app
            .count(&format!(
                "SELECT p.id FROM org_units p JOIN org_units t ON t.path LIKE p.path || '%' WHERE t.id = {laval} AND p.kind = 'branch'"
            ))
            .await;
        assert_ne!(branch, laval);
        let (s, page) = web.get_text(&format!("/service/planning?view=day&date={}&branch_id={branch}", zone.date(start))).await;
        assert_eq!(s, 200);
        assert!(page.contains(&format!("/service/interventions/{iid}")), "the branch's day shows its team's intervention");
        assert!(page.contains(&column(luc)) && !page.contains(&column(camille)), "its technicians' columns");
        let (s, page) = web.get_text(&format!("/service/interventions?branch_id={branch}")).await;
        assert_eq!(s, 200);
        assert!(page.contains(&format!("/service/interventions/{iid}")), "and the list filtered by the branch");

        // The intervention form of a request offers the technicians only.
        let (s, page) = web.get_text(&format!("/service/requests/{rid}")).await;
        assert_eq!(s, 200);
        let picker = page.split("id=\"i-techs\"").nth(1).and_then(|x| x.split("</select>").next()).unwrap_or_default();
        assert!(picker.contains(&format!("value=\"{luc}\"")) && picker.contains(&format!("value=\"{emma}\"")), "{picker}");
        assert!(!picker.contains(&format!("value=\"{camille}\"")), "the support agent is not offered: {picker}");

        // Assigning her is refused everywhere, and nothing changes.
        let api = app.api(&app.token_for(camille).await);
        let before = app.snapshot().await;
        let day = zone.date(app.now() + 2 * 86_400_000);
        let cam = camille.to_string();
        let resp = web
            .post(
                &format!("/service/requests/{rid}/interventions"),
                &[("date", day.as_str()), ("start_time", "08:00"), ("end_time", "10:00"), ("technician_ids", cam.as_str())],
            )
            .await;
        assert_eq!(resp.status(), 422);
        let page = resp.text().await.expect("body");
        assert!(page.contains("pas le droit « Effectuer les interventions »"), "the reason, in French");
        let body = json!({"request_id": rid, "date": day, "start_time": "08:00", "end_time": "10:00", "technician_ids": [luc, camille]});
        let (s, e) = api.send("POST", "/api/v1/interventions", Some(body.clone())).await;
        assert_eq!(s, 422, "{e}");
        assert_eq!(e["error"]["fields"]["technician_ids"], carnet::i18n::t(carnet::i18n::Lang::Fr, "error.not_a_technician"), "{e}");
        let mover = sqlx::query_scalar::<_, i64>("SELECT user_id FROM intervention_technicians WHERE intervention_id = $1 ORDER BY user_id LIMIT 1")
            .bind(iid)
            .fetch_one(&db.pool)
            .await
            .expect("its technician");
        let slot = json!({"date": zone.date(start), "start_time": "13:00", "end_time": "15:00", "person": [mover, camille]});
        let (s, e) = api.send("POST", &format!("/api/v1/interventions/{iid}/move"), Some(slot)).await;
        assert_eq!(s, 422, "dropped into her column: {e}");
        assert_eq!(app.snapshot().await, before, "nothing changed");
        sqlx::query("UPDATE users SET language = 'en' WHERE id = $1").bind(camille).execute(&db.pool).await.unwrap();
        db.auth_changed();
        let (s, e) = api.send("POST", "/api/v1/interventions", Some(body)).await;
        assert_eq!(s, 422);
        assert_eq!(e["error"]["fields"]["technician_ids"], carnet::i18n::t(carnet::i18n::Lang::En, "error.not_a_technician"), "{e}");

        // Booked before the rule (or before her role lost the right): her column stays that
        // day, and the intervention saved as it is keeps her.
        sqlx::query("INSERT INTO intervention_technicians (intervention_id, user_id) VALUES ($1, $2)").bind(iid).bind(camille).execute(&db.pool).await.unwrap();
        let (_, page) = web.get_text(&format!("/service/planning?view=day&date={}&branch_id={laval}", zone.date(start))).await;
        assert!(page.contains(&column(camille)) && page.contains(&column(luc)), "the people booked that day keep their column");
        let (s, i) = api.get(&format!("/api/v1/interventions/{iid}")).await;
        assert_eq!(s, 200, "{i}");
        let techs: Vec<i64> = i["technicians"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
        let same = json!({"date": zone.date(start), "start_time": zone.time(start), "end_time": zone.time(i["end_at"].as_i64().unwrap()), "technician_ids": techs, "status": "planifiee"});
        let (s, e) = api.send("PUT", &format!("/api/v1/interventions/{iid}"), Some(same)).await;
        assert_eq!(s, 200, "a technician already on it stays: {e}");
        app
    })
    .await;
}
