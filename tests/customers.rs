//! Customers and contacts over HTTP, on both backends.

mod common;

use common::{each_backend, TestApp, PASSWORD};
use serde_json::json;

async fn admin_api(app: &TestApp) -> common::Api {
    let admin = app.user("admin@t.fr", "administrateur", None).await;
    app.api(&app.token_for(admin).await)
}

#[tokio::test]
async fn phones_are_normalised_and_returning_customers_recognised() {
    each_backend(|app| async move {
        let api = admin_api(&app).await;
        let (s, c) = api
            .send("POST", "/api/v1/customers", Some(json!({"kind": "person", "first_name": "Hélène", "last_name": "Côté", "phone": "514 555-0199", "email": " Helene.Cote@Exemple.FR "})))
            .await;
        assert_eq!(s, 201, "{c}");
        assert_eq!(c["phone"], "+15145550199");
        assert_eq!(c["email"], "helene.cote@exemple.fr");
        let id = c["id"].as_i64().unwrap();
        for phone in ["514 555-0199", "(514) 555 0199", "+1 514-555-0199"] {
            let (s, r) = api.get(&format!("/api/v1/customers/lookup?phone={}", carnet::http::auth::urlencode(phone))).await;
            assert_eq!(s, 200);
            assert_eq!(r["items"][0]["id"], id, "{phone}: {r}");
        }
        let (_, r) = api.get("/api/v1/customers/lookup?email=HELENE.COTE%40exemple.fr").await;
        assert_eq!(r["items"].as_array().unwrap().len(), 1);
        let (_, r) = api.get("/api/v1/customers/lookup?phone=438%20555%200100").await;
        assert!(r["items"].as_array().unwrap().is_empty());
        let (s, b) = api.get("/api/v1/customers/lookup").await;
        assert_eq!(s, 422, "{b}");
        // Creating the same customer again is refused with the field; with the right and the flag, allowed.
        let before = app.count("SELECT COUNT(*) FROM customers").await;
        let (s, b) = api.send("POST", "/api/v1/customers", Some(json!({"kind": "person", "last_name": "Autre", "phone": "(514) 555 0199"}))).await;
        assert_eq!(s, 409, "{b}");
        assert!(b["error"]["fields"]["phone"].is_string());
        // The customer already holding the number is named, with its details (visible to the caller).
        assert_eq!(b["error"]["existing"][0]["id"], id, "{b}");
        assert_eq!(b["error"]["existing"][0]["visible"], true, "{b}");
        assert_eq!(b["error"]["existing"][0]["phone"], "+15145550199", "{b}");
        assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, before);
        let (s, _) = api.send("POST", "/api/v1/customers?allow_duplicate=true", Some(json!({"kind": "person", "last_name": "Autre", "phone": "(514) 555 0199"}))).await;
        assert_eq!(s, 201);
        // A rep without the right cannot force it.
        let rep = app.user("rep@t.fr", "representant", None).await;
        let r = app.api(&app.token_for(rep).await);
        let (s, b) = r.send("POST", "/api/v1/customers?allow_duplicate=true", Some(json!({"kind": "person", "last_name": "Trois", "email": "helene.cote@exemple.fr"}))).await;
        assert_eq!(s, 409);
        // Named (recognition works across branches), but without the details of customers the rep may not see.
        let existing = b["error"]["existing"].as_array().unwrap();
        assert!(existing.iter().any(|e| e["id"] == id && e["visible"] == false && e["email"].is_null()), "{b}");
        // A contact's number recognises its company too.
        let (_, co) = api.send("POST", "/api/v1/customers", Some(json!({"kind": "company", "company_name": "Garage Laval inc."}))).await;
        let co_id = co["id"].as_i64().unwrap();
        let (s, _) = api.send("POST", &format!("/api/v1/customers/{co_id}/contacts"), Some(json!({"first_name": "Luc", "last_name": "Roy", "mobile": "+1 438 555 0142"}))).await;
        assert_eq!(s, 201);
        let (_, r) = api.get("/api/v1/customers/lookup?phone=4385550142").await;
        assert_eq!(r["items"][0]["id"], co_id);
        app
    })
    .await;
}

#[tokio::test]
async fn bad_input_names_each_field_and_saves_nothing() {
    each_backend(|app| async move {
        let api = admin_api(&app).await;
        let before = app.snapshot().await;
        let (s, b) = api
            .send(
                "POST",
                "/api/v1/customers",
                Some(json!({"kind": "person", "first_name": "X", "phone": "not a phone", "email": "nope", "mobile": "12"})),
            )
            .await;
        assert_eq!(s, 422);
        let f = &b["error"]["fields"];
        assert!(f["phone"].is_string() && f["email"].is_string() && f["mobile"].is_string(), "{b}");
        let (s, b) = api.send("POST", "/api/v1/customers", Some(json!({"kind": "company", "company_name": ""}))).await;
        assert_eq!(s, 422);
        assert!(b["error"]["fields"]["company_name"].is_string());
        let (s, b) = api.send("POST", "/api/v1/customers", Some(json!({"kind": "alien", "last_name": "X"}))).await;
        assert_eq!(s, 422);
        assert!(b["error"]["fields"]["kind"].is_string());
        let (s, b) = api.send("POST", "/api/v1/customers", Some(json!({"last_name": "X", "particularities": ["not_a_code"]}))).await;
        assert_eq!(s, 422, "{b}");
        let (s, b) = api.send("POST", "/api/v1/customers", Some(json!({"last_name": "X", "branch_id": 99999}))).await;
        assert_eq!(s, 422, "{b}");
        let (s, _) = api.send("POST", "/api/v1/customers", Some(json!({"last_name": "X", "display_name": "Y"}))).await;
        assert_eq!(s, 422, "read-only field");
        assert_eq!(app.snapshot().await, before);
        // The HTML form keeps what was typed and says what is wrong.
        let s = app.login("admin@t.fr", PASSWORD).await.unwrap();
        let r = s.post("/customers", &[("kind", "person"), ("first_name", "Gérard"), ("last_name", "Lambert"), ("phone", "abc")]).await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(html.contains("value=\"Gérard\"") && html.contains("value=\"abc\"") && html.contains("Numéro de téléphone invalide."));
        app
    })
    .await;
}

#[tokio::test]
async fn html_form_warns_about_a_returning_customer() {
    each_backend(|app| async move {
        let api = admin_api(&app).await;
        let (_, c) = api
            .send("POST", "/api/v1/customers", Some(json!({"first_name": "Julie", "last_name": "Roy", "email": "julie@exemple.fr"})))
            .await;
        let s = app.login("admin@t.fr", PASSWORD).await.unwrap();
        let r =
            s.post("/customers", &[("kind", "person"), ("first_name", "J."), ("last_name", "Roy"), ("email", "JULIE@exemple.fr")]).await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(html.contains("id=\"duplicates\"") && html.contains(&format!("/customers/{}", c["id"])), "offers to open the existing one");
        assert!(html.contains("create-anyway"), "administrators may create anyway");
        assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 1);
        let r = s
            .post(
                "/customers",
                &[("kind", "person"), ("first_name", "J."), ("last_name", "Roy"), ("email", "JULIE@exemple.fr"), ("create_anyway", "on")],
            )
            .await;
        assert_eq!(r.status(), 303);
        assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 2);
        app
    })
    .await;
}

#[tokio::test]
async fn visibility_applies_to_list_detail_search_lookup_and_export() {
    each_backend(|app| async move {
        let co = app.unit("Groupe", "company", None).await;
        let laval = app.unit("Laval", "branch", Some(co)).await;
        let longueuil = app.unit("Longueuil", "branch", Some(co)).await;
        let rep = app.user("rep@t.fr", "representant", Some(laval)).await;
        let bdc = app.user("bdc@t.fr", "directeur_ventes", Some(laval)).await; // the Laval branch
        let far = app.user("far@t.fr", "representant", Some(longueuil)).await;
        let api = admin_api(&app).await;
        let mk = |name: &str, branch: i64, owner: i64, phone: &str| json!({"first_name": name, "last_name": "Client", "branch_id": branch, "owner_id": owner, "phone": phone});
        let (_, a) = api.send("POST", "/api/v1/customers", Some(mk("Aline", laval, rep, "514 555 0001"))).await;
        let (_, b) = api.send("POST", "/api/v1/customers", Some(mk("Bruno", laval, bdc, "514 555 0002"))).await;
        let (_, c) = api.send("POST", "/api/v1/customers", Some(mk("Chloé", longueuil, far, "514 555 0003"))).await;
        let names = |v: &serde_json::Value| -> Vec<String> { v["items"].as_array().unwrap().iter().map(|i| i["display_name"].as_str().unwrap().to_string()).collect() };
        let r = app.api(&app.token_for(rep).await);
        let (_, l) = r.get("/api/v1/customers").await;
        assert_eq!(names(&l), vec!["Aline Client"], "own records");
        let bd = app.api(&app.token_for(bdc).await);
        let (_, l) = bd.get("/api/v1/customers").await;
        assert_eq!(names(&l), vec!["Aline Client", "Bruno Client"], "own unit");
        let (_, l) = bd.get("/api/v1/customers?q=chlo").await;
        assert!(names(&l).is_empty(), "search applies visibility");
        assert_eq!(r.get(&format!("/api/v1/customers/{}", b["id"])).await.0, 404);
        assert_eq!(r.get(&format!("/api/v1/customers/{}", a["id"])).await.0, 200);
        // Lookup names the customer (recognition works everywhere) but hides the details.
        let (_, l) = r.get("/api/v1/customers/lookup?phone=514%20555%200003").await;
        assert_eq!(l["items"][0]["id"], c["id"]);
        assert_eq!(l["items"][0]["visible"], false);
        assert!(l["items"][0]["phone"].is_null());
        // Export: only what the caller sees.
        let s = app.login("bdc@t.fr", PASSWORD).await.unwrap();
        let r = s.get("/customers/export.csv").await;
        assert_eq!(r.status(), 200);
        let csv = r.text().await.unwrap();
        assert!(csv.contains("Aline") && csv.contains("Bruno") && !csv.contains("Chloé"), "{csv}");
        app
    })
    .await;
}

#[tokio::test]
async fn search_as_you_type_by_name_company_email_and_phone_digits() {
    each_backend(|app| async move {
        let api = admin_api(&app).await;
        api.send(
            "POST",
            "/api/v1/customers",
            Some(json!({"first_name": "Hélène", "last_name": "TREMBLAY", "email": "h.tremblay@exemple.fr", "phone": "514 555 0199"})),
        )
        .await;
        api.send(
            "POST",
            "/api/v1/customers",
            Some(json!({"kind": "company", "company_name": "Équipements Côté", "phone": "418 555 0100"})),
        )
        .await;
        let found = |q: &'static str| {
            let api = &api;
            async move {
                let (_, b) = api.get(&format!("/api/v1/customers?q={}", carnet::http::auth::urlencode(q))).await;
                b["items"].as_array().unwrap().iter().map(|i| i["display_name"].as_str().unwrap().to_string()).collect::<Vec<_>>()
            }
        };
        assert_eq!(found("helene").await, vec!["Hélène TREMBLAY"]);
        assert_eq!(found("tremblay").await, vec!["Hélène TREMBLAY"]);
        assert_eq!(found("tre").await, vec!["Hélène TREMBLAY"]);
        assert_eq!(found("equip cote").await, vec!["Équipements Côté"]);
        assert_eq!(found("h.tremblay@").await, vec!["Hélène TREMBLAY"]);
        assert_eq!(found("514555").await, vec!["Hélène TREMBLAY"]);
        assert_eq!(found("418 555").await, vec!["Équipements Côté"]);
        assert!(found("zzz").await.is_empty());
        // The page answers the table rows alone for search as you type.
        let s = app.login("admin@t.fr", PASSWORD).await.unwrap();
        let (st, rows) = s.get_text("/customers?q=hel&part=rows").await;
        assert_eq!(st, 200);
        assert!(rows.contains("<tr") && rows.contains("Hélène") && !rows.contains("<html"), "{rows}");
        app
    })
    .await;
}

#[tokio::test]
async fn merge_moves_everything_and_is_in_both_histories() {
    each_backend(|app| async move {
        let api = admin_api(&app).await;
        let (_, keep) = api
            .send(
                "POST",
                "/api/v1/customers",
                Some(json!({"kind": "company", "company_name": "Acme", "email": "info@acme.test", "notes": "Client depuis 2019"})),
            )
            .await;
        let (_, dup) = api
            .send(
                "POST",
                "/api/v1/customers?allow_duplicate=true",
                Some(
                    json!({"kind": "company", "company_name": "ACME inc.", "phone": "514 555 0150", "notes": "Doublon saisi au téléphone"}),
                ),
            )
            .await;
        let (k, d) = (keep["id"].as_i64().unwrap(), dup["id"].as_i64().unwrap());
        api.send("POST", &format!("/api/v1/customers/{d}/contacts"), Some(json!({"first_name": "Ana", "last_name": "Lopez"}))).await;
        let (s, m) = api.send("POST", &format!("/api/v1/customers/{k}/merge"), Some(json!({"from_id": d}))).await;
        assert_eq!(s, 200, "{m}");
        assert_eq!(m["phone"], "+15145550150", "empty fields filled from the duplicate");
        assert!(m["notes"].as_str().unwrap().contains("Client depuis 2019") && m["notes"].as_str().unwrap().contains("Doublon"));
        let (_, cts) = api.get(&format!("/api/v1/customers/{k}/contacts")).await;
        assert_eq!(cts["items"].as_array().unwrap().len(), 1, "the contact moved");
        assert_eq!(api.get(&format!("/api/v1/customers/{d}")).await.0, 404);
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) FROM audit_events WHERE entity_type = 'customer' AND entity_id = {d} AND action = 'merge'"
            ))
            .await,
            1
        );
        assert!(
            app.count(&format!(
                "SELECT COUNT(*) FROM audit_events WHERE entity_type = 'customer' AND entity_id = {k} AND action = 'merge'"
            ))
            .await
                >= 1
        );
        let (s, _) = api.send("POST", &format!("/api/v1/customers/{k}/merge"), Some(json!({"from_id": k}))).await;
        assert_eq!(s, 422);
        // The history tab shows it.
        let s = app.login("admin@t.fr", PASSWORD).await.unwrap();
        let (_, html) = s.get_text(&format!("/customers/{k}/history")).await;
        assert!(html.contains("Fusion") && html.contains("<td>Fusionné depuis</td>"), "the field in the reader's language");
        app
    })
    .await;
}

#[tokio::test]
async fn contacts_actions_vcard_and_csv_injection() {
    each_backend(|app| async move {
        let api = admin_api(&app).await;
        let (_, c) = api
            .send(
                "POST",
                "/api/v1/customers",
                Some(json!({"kind": "company", "company_name": "=HYPERLINK(\"http://evil\")", "phone": "514 555 0160"})),
            )
            .await;
        let id = c["id"].as_i64().unwrap();
        let (_, ct) = api
            .send(
                "POST",
                &format!("/api/v1/customers/{id}/contacts"),
                Some(json!({"civility": "mme", "first_name": "Zoé", "last_name": "Gagnon", "email": "zoe@acme.test"})),
            )
            .await;
        let cid = ct["id"].as_i64().unwrap();
        let (s, b) = api
            .send(
                "PUT",
                &format!("/api/v1/customers/{id}/contacts/{cid}"),
                Some(json!({"first_name": "Zoé", "last_name": "Gagnon", "phone": "bad"})),
            )
            .await;
        assert_eq!(s, 422, "{b}");
        let s = app.login("admin@t.fr", PASSWORD).await.unwrap();
        let (_, html) = s.get_text(&format!("/customers/{id}")).await;
        assert!(html.contains("mailto:zoe@acme.test") && html.contains("data-copy=\"zoe@acme.test\""), "email action and copy");
        assert!(html.contains("tel:+15145550160"), "call link");
        assert!(html.contains("aria-disabled=\"true\""), "missing values are disabled, not links");
        let r = s.get(&format!("/customers/{id}/contacts/{cid}/vcard")).await;
        assert_eq!(r.headers().get("content-type").unwrap(), "text/vcard; charset=utf-8");
        let v = r.text().await.unwrap();
        assert!(
            v.starts_with("BEGIN:VCARD\r\nVERSION:3.0")
                && v.contains("FN:Zoé Gagnon")
                && v.contains("EMAIL;TYPE=INTERNET,WORK:zoe@acme.test")
        );
        let csv = s.get("/customers/export.csv").await.text().await.unwrap();
        assert!(csv.contains("'=HYPERLINK"), "formula neutralised: {csv}");
        assert!(csv.contains("'+15145550160"), "phone cells starting with + are neutralised too");
        assert!(!csv.lines().any(|l| l.starts_with('=') || l.contains(",=")));
        // Delete the contact, then the customer: both in the history.
        assert_eq!(api.send("DELETE", &format!("/api/v1/customers/{id}/contacts/{cid}"), None).await.0, 204);
        assert_eq!(api.send("DELETE", &format!("/api/v1/customers/{id}"), None).await.0, 204);
        assert!(
            app.count(&format!(
                "SELECT COUNT(*) FROM audit_events WHERE entity_type = 'customer' AND entity_id = {id} AND action = 'delete'"
            ))
            .await
                > 0
        );
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM search_terms WHERE entity_type = 'customer' AND entity_id = {id}")).await, 0);
        app
    })
    .await;
}

async fn upload(s: &common::Session, name: &str, bytes: Vec<u8>) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()).mime_str("text/csv").unwrap());
    s.client.post(format!("{}/customers/import?_csrf={}", s.url, s.csrf)).multipart(form).send().await.unwrap()
}

#[tokio::test]
async fn csv_import_dry_run_then_job_with_per_row_report() {
    each_backend(|app| async move {
        let api = admin_api(&app).await;
        api.send("POST", "/api/v1/customers", Some(json!({"first_name": "Julie", "last_name": "Roy", "email": "julie@exemple.ca"}))).await;
        let s = app.login("admin@t.fr", PASSWORD).await.unwrap();
        // Semicolons, Windows-1252, a bad phone, a bad email, a row without name, a known
        // customer, the same new customer twice.
        let mut csv: Vec<u8> = Vec::new();
        csv.extend_from_slice(b"Pr\xe9nom;Nom;Courriel;T\xe9l\xe9phone;Entreprise\n");
        csv.extend_from_slice(b"H\xe9l\xe8ne;C\xf4t\xe9;helene@exemple.ca;514 555 0199;\n");
        csv.extend_from_slice(b"Marc;Tremblay;marc@exemple.ca;pas un numero;\n");
        csv.extend_from_slice(b"Luc;Gagnon;pas-un-courriel;;\n");
        csv.extend_from_slice(b";;vide@exemple.ca;;\n");
        csv.extend_from_slice(b"Julie;Roy;JULIE@exemple.ca;438 555 0100;\n");
        csv.extend_from_slice(b"H\xe9l\xe8ne;C\xf4t\xe9;;(514) 555-0199;\n");
        csv.extend_from_slice(b";;info@garage.ca;450 555 0000;Garage Laval\n");
        // Without the CSRF token: refused.
        let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(csv.clone()).file_name("x.csv"));
        assert_eq!(s.client.post(format!("{}/customers/import", s.url)).multipart(form).send().await.unwrap().status(), 403);
        let r = upload(&s, "clients.csv", csv).await;
        assert_eq!(r.status(), 303);
        let loc = r.headers().get("location").unwrap().to_str().unwrap().to_string();
        let id: i64 = loc.rsplit('/').next().unwrap().parse().unwrap();
        let (_, html) = s.get_text(&loc).await;
        assert!(html.contains("Windows-1252") && html.contains("Prénom"), "encoding detected, headers decoded");
        // The dry run writes nothing but its report.
        let before = app.count("SELECT COUNT(*) FROM customers").await;
        let r = s
            .post(
                &format!("/customers/import/{id}/dry-run"),
                &[
                    ("mapping", "first_name"),
                    ("mapping", "last_name"),
                    ("mapping", "email"),
                    ("mapping", "phone"),
                    ("mapping", "company_name"),
                ],
            )
            .await;
        assert_eq!(r.status(), 303);
        assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, before);
        let imp = carnet::customers::import::get(
            &app.state.db,
            sqlx::query_scalar("SELECT id FROM users WHERE email = 'admin@t.fr'").fetch_one(&app.state.db.pool).await.unwrap(),
            id,
        )
        .await
        .unwrap()
        .unwrap();
        let rep = imp.report().unwrap();
        assert_eq!((rep.created, rep.merged, rep.rejected), (2, 2, 3), "{rep:?}");
        let reasons =
            |line: usize| rep.rows.iter().find(|r| r.line == line).unwrap().reasons.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>();
        assert_eq!(reasons(3), vec!["phone"]);
        assert_eq!(reasons(4), vec!["email"]);
        assert_eq!(reasons(5), vec!["last_name"]);
        // A mapping without any name column is refused.
        let r = s
            .post(
                &format!("/customers/import/{id}/dry-run"),
                &[("mapping", ""), ("mapping", ""), ("mapping", "email"), ("mapping", ""), ("mapping", "")],
            )
            .await;
        assert_eq!(r.status(), 422);
        let r = s
            .post(
                &format!("/customers/import/{id}/dry-run"),
                &[
                    ("mapping", "first_name"),
                    ("mapping", "last_name"),
                    ("mapping", "email"),
                    ("mapping", "phone"),
                    ("mapping", "company_name"),
                ],
            )
            .await;
        assert_eq!(r.status(), 303);
        // The real run is a job; the page shows progress until it is done.
        assert_eq!(s.post(&format!("/customers/import/{id}/run"), &[]).await.status(), 303);
        let (_, html) = s.get_text(&loc).await;
        assert!(html.contains("http-equiv=\"refresh\"") && html.contains("<progress"));
        common::run_jobs(&app).await;
        let (_, html) = s.get_text(&loc).await;
        assert!(!html.contains("http-equiv=\"refresh\""));
        assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, before + 2, "Hélène and the garage");
        assert_eq!(
            app.count("SELECT COUNT(*) FROM customers WHERE phone = '+15145550199'").await,
            1,
            "the second Hélène merged into the first"
        );
        assert_eq!(
            app.count("SELECT COUNT(*) FROM customers WHERE email = 'julie@exemple.ca' AND phone = '+14385550100'").await,
            1,
            "Julie's empty phone filled"
        );
        assert_eq!(app.count("SELECT COUNT(*) FROM customers WHERE kind = 'company' AND company_name = 'Garage Laval'").await, 1);
        // The new records are searchable and in the history, by the importer.
        let (_, found) = api.get("/api/v1/customers?q=helene").await;
        assert_eq!(found["items"].as_array().unwrap().len(), 1);
        assert!(
            app.count(
                "SELECT COUNT(*) FROM audit_events WHERE entity_type = 'customer' AND action = 'create' AND request_id LIKE 'import-%'"
            )
            .await
                > 0
        );
        // Running again is refused.
        assert_eq!(s.post(&format!("/customers/import/{id}/run"), &[]).await.status(), 422, "shown with the error");
        // Another user cannot see this import.
        app.user("other@t.fr", "directeur_ventes", None).await;
        let o = app.login("other@t.fr", PASSWORD).await.unwrap();
        assert_eq!(o.get(&loc).await.status(), 404);
        // A file that is not a CSV with rows.
        let r = upload(&s, "vide.csv", b"Nom\n".to_vec()).await;
        assert_eq!(r.status(), 422);
        app
    })
    .await;
}

#[tokio::test]
async fn saved_views_personal_or_shared_and_distinct_save_actions() {
    each_backend(|app| async move {
        let co = app.unit("Groupe", "company", None).await;
        let team = app.unit("BDC Laval", "branch", Some(co)).await;
        let a = app.user("a@t.fr", "agent_bdc", Some(team)).await;
        let b = app.user("b@t.fr", "agent_bdc", Some(team)).await;
        let other = app.user("o@t.fr", "agent_bdc", None).await;
        let api = admin_api(&app).await;
        for (f, l, k) in [("Aline", "Zed", "person"), ("Bruno", "Young", "person"), ("", "", "company")] {
            let body = if k == "company" { json!({"kind": k, "company_name": "Xylo inc.", "branch_id": team}) } else { json!({"first_name": f, "last_name": l, "branch_id": team}) };
            api.send("POST", "/api/v1/customers", Some(body)).await;
        }
        let aa = app.api(&app.token_for(a).await);
        let (s, v) = aa.send("POST", "/api/v1/customers/views", Some(json!({"name": "Entreprises récentes", "query": "kind=company&sort=recent&cols=email,created&after=junk", "shared": true}))).await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["query"], "cols=email%2Ccreated&kind=company&sort=recent", "only view parameters are kept");
        let vid = v["id"].as_i64().unwrap();
        let (_, mine) = aa.send("POST", "/api/v1/customers/views", Some(json!({"name": "Perso", "query": "q=zed", "shared": false}))).await;
        // The team sees the shared view, not the personal one; someone outside sees neither.
        let bb = app.api(&app.token_for(b).await);
        let (_, l) = bb.get("/api/v1/customers/views").await;
        let names: Vec<&str> = l["items"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["Entreprises récentes"]);
        let (_, l) = app.api(&app.token_for(other).await).get("/api/v1/customers/views").await;
        assert!(l["items"].as_array().unwrap().is_empty());
        // Only the owner updates; "update" changes the view, "save as new" makes another.
        assert_eq!(bb.send("PUT", &format!("/api/v1/customers/views/{vid}"), Some(json!({"query": "kind=person"}))).await.0, 404, "someone else's view is not revealed");
        let before = app.count("SELECT COUNT(*) FROM saved_views").await;
        let (s, u) = aa.send("PUT", &format!("/api/v1/customers/views/{vid}"), Some(json!({"query": "kind=company"}))).await;
        assert_eq!(s, 200);
        assert_eq!(u["query"], "kind=company");
        assert_eq!(app.count("SELECT COUNT(*) FROM saved_views").await, before);
        // Applying a view in the UI: its filters and columns.
        let sb = app.login("b@t.fr", PASSWORD).await.unwrap();
        let (st, html) = sb.get_text(&format!("/customers?view={vid}")).await;
        assert_eq!(st, 200);
        assert!(html.contains("Xylo inc.") && !html.contains("Aline Zed"), "the view's filter applies");
        assert_eq!(sb.get(&format!("/customers?view={}", mine["id"])).await.status(), 404, "someone else's personal view");
        // The page's two actions: save as new (anyone) and update (the owner only).
        assert!(!html.contains("id=\"update-view\""), "b does not own the view");
        let sa = app.login("a@t.fr", PASSWORD).await.unwrap();
        let (_, html) = sa.get_text(&format!("/customers?view={vid}&sort=name&kind=person")).await;
        assert!(html.contains("id=\"update-view\"") && html.contains("id=\"save-view\""));
        assert!(html.contains("Aline Zed") && !html.contains("Xylo"), "the filters shown override the saved ones");
        let r = sa.post(&format!("/customers/views/{vid}"), &[("query", "kind=person&sort=name")]).await;
        assert_eq!(r.status(), 303);
        let r = sa.post("/customers/views", &[("name", "Particuliers"), ("query", "kind=person&cols=mobile")]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(app.count("SELECT COUNT(*) FROM saved_views").await, before + 1);
        let (_, html) = sa.get_text("/customers?cols=mobile,created").await;
        assert!(html.contains("<th>Cellulaire</th>") && !html.contains("<th>Courriel</th>"), "column choice");
        app
    })
    .await;
}

#[tokio::test]
async fn search_pages_follow_the_matched_word_without_repeats() {
    each_backend(|app| async move {
        let api = admin_api(&app).await;
        // Several customers have more than one term starting with "tre" (name, email, joined email).
        let people = [
            ("Jean", "Tremblay", "jean.tremblay@exemple.ca"),
            ("Anne", "Tremblay", "tremblay.anne@trefle.ca"),
            ("Luc", "Trépanier", ""),
            ("Marc", "Roy", "marc@trefle.ca"),
            ("Tremblay", "Zed", ""),
            ("Paul", "Tessier", ""),
            ("Trevor", "Treize", "trevor@tre.ca"),
            ("Ève", "Côté", ""),
        ];
        for (f, l, e) in people {
            let mut body = json!({"first_name": f, "last_name": l});
            if !e.is_empty() {
                body["email"] = json!(e);
            }
            let (s, b) = api.send("POST", "/api/v1/customers", Some(body)).await;
            assert_eq!(s, 201, "{b}");
        }
        api.send("POST", "/api/v1/customers", Some(json!({"kind": "company", "company_name": "Garage Tremblay inc."}))).await;
        let names = |b: &serde_json::Value| -> Vec<String> {
            b["items"].as_array().unwrap().iter().map(|i| i["display_name"].as_str().unwrap().to_string()).collect()
        };
        let (_, all) = api.get("/api/v1/customers?q=tre&limit=50").await;
        let all = names(&all);
        let mut expected =
            vec!["Jean Tremblay", "Anne Tremblay", "Luc Trépanier", "Marc Roy", "Tremblay Zed", "Trevor Treize", "Garage Tremblay inc."];
        let mut got = all.clone();
        got.sort();
        expected.sort();
        assert_eq!(got, expected, "each match once");
        // Ordered by matched word: "trefle" (Marc Roy's email) before "tremblay", "trepanier" after.
        let pos = |n: &str| all.iter().position(|x| x == n).unwrap();
        assert!(pos("Marc Roy") < pos("Jean Tremblay") && pos("Jean Tremblay") < pos("Luc Trépanier"), "{all:?}");
        // Pages of 2 give the same list, without repeats or gaps.
        let mut paged: Vec<String> = Vec::new();
        let mut pages: Vec<(Vec<String>, Option<String>)> = Vec::new();
        let mut url = "/api/v1/customers?q=tre&limit=2".to_string();
        loop {
            let (s, b) = api.get(&url).await;
            assert_eq!(s, 200, "{b}");
            paged.extend(names(&b));
            pages.push((names(&b), b["prev_cursor"].as_str().map(str::to_string)));
            match b["next_cursor"].as_str() {
                Some(c) => url = format!("/api/v1/customers?q=tre&limit=2&after={c}"),
                None => break,
            }
        }
        assert_eq!(paged, all);
        // And back, page by page, along the same matched words.
        let mut i = pages.len() - 1;
        while let Some(c) = pages[i].1.clone() {
            let (_, b) = api.get(&format!("/api/v1/customers?q=tre&limit=2&before={c}")).await;
            i -= 1;
            assert_eq!(names(&b), pages[i].0, "page {i} read backwards");
        }
        assert_eq!(i, 0);
        // Other words and filters still apply.
        let (_, b) = api.get("/api/v1/customers?q=tre%20jea").await;
        assert_eq!(names(&b), vec!["Jean Tremblay"]);
        // Several words: the walk follows the rarest ("anne"), pages included.
        let (_, b) = api.get("/api/v1/customers?q=tremblay.anne%40trefle.ca").await;
        assert_eq!(names(&b), vec!["Anne Tremblay"]);
        let (_, b) = api.get("/api/v1/customers?q=tre%20ca&limit=1").await;
        let mut pages = names(&b);
        let mut next = b["next_cursor"].as_str().map(str::to_string);
        while let Some(c) = next {
            let (_, b) = api.get(&format!("/api/v1/customers?q=tre%20ca&limit=1&after={c}")).await;
            pages.extend(names(&b));
            next = b["next_cursor"].as_str().map(str::to_string);
        }
        pages.sort();
        assert_eq!(pages, vec!["Anne Tremblay", "Jean Tremblay", "Marc Roy", "Trevor Treize"], "the customers with an email in .ca");
        let (_, b) = api.get("/api/v1/customers?q=tre&kind=company").await;
        assert_eq!(names(&b), vec!["Garage Tremblay inc."]);
        let (_, b) = api.get("/api/v1/customers?q=tre&sort=recent&limit=50").await;
        assert_eq!(names(&b)[0], "Garage Tremblay inc.", "most recent first");
        assert_eq!(names(&b).len(), 7);
        // A representative sees only their customers in a search.
        let rep = app.user("rep@t.fr", "representant", None).await;
        let rep_api = app.api(&app.token_for(rep).await);
        let (_, b) = rep_api.get("/api/v1/customers?q=tre").await;
        assert!(names(&b).is_empty(), "{b}");
        // Their own customers come by name (walked from the owner index), page after page.
        for (f, l) in [("Zoé", "Trudel"), ("Alain", "Tremblay"), ("Marie", "Trottier"), ("Paul", "Zed")] {
            let (s, b) = api.send("POST", "/api/v1/customers", Some(json!({"first_name": f, "last_name": l, "owner_id": rep}))).await;
            assert_eq!(s, 201, "{b}");
        }
        let mut paged: Vec<String> = Vec::new();
        let mut url = "/api/v1/customers?q=tr&limit=1".to_string();
        loop {
            let (_, b) = rep_api.get(&url).await;
            paged.extend(names(&b));
            match b["next_cursor"].as_str() {
                Some(c) => url = format!("/api/v1/customers?q=tr&limit=1&after={c}"),
                None => break,
            }
        }
        assert_eq!(paged, vec!["Alain Tremblay", "Marie Trottier", "Zoé Trudel"]);
        // A first page whose walk meets one customer many times (every word of the names
        // starts with "quo") reads on until the page is full, each customer once.
        let many = "Quoa Quob Quoc Quod Quoe Quof Quog Quoh Quoi Quoj Quok Quol";
        for (f, l) in [(many, "Quom"), ("Rémi", "Quoz")] {
            let (s, b) = api.send("POST", "/api/v1/customers", Some(json!({"first_name": f, "last_name": l}))).await;
            assert_eq!(s, 201, "{b}");
        }
        let (_, b) = api.get("/api/v1/customers?q=quo&limit=1").await;
        assert_eq!(names(&b), vec![format!("{many} Quom")]);
        let (_, second) =
            api.get(&format!("/api/v1/customers?q=quo&limit=1&after={}", b["next_cursor"].as_str().expect("a next page"))).await;
        assert_eq!(names(&second), vec!["Rémi Quoz"]);
        assert!(second["next_cursor"].is_null(), "{second}");
        let (_, b) = api.get("/api/v1/customers?q=quo&limit=2").await;
        assert_eq!(names(&b), vec![format!("{many} Quom"), "Rémi Quoz".to_string()]);
        assert!(b["next_cursor"].is_null(), "{b}");
        // The list's items carry the columns it shows, not the whole record.
        let item = b["items"][0].as_object().expect("an item");
        let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            ["branch_id", "branch_name", "created_at", "display_name", "email", "id", "kind", "mobile", "owner_id", "owner_name", "phone"]
        );
        app
    })
    .await;
}

/// The list's items are written by the database (`store::list_json`): each must be the record's
/// own fields, typed as the record's endpoint types them (numbers, nulls, text with quotes,
/// backslashes, accents and control characters), on every page and with the count.
#[tokio::test]
async fn the_api_list_items_are_the_records_fields_as_the_record_types_them() {
    each_backend(|app| async move {
        let api = admin_api(&app).await;
        let company = app.unit("Groupe", "company", None).await;
        let branch = app.unit("Succursale \"Nord\" \\ Île", "branch", Some(company)).await;
        let owner = app.user("o.brien@t.fr", "representant", Some(branch)).await;
        let bodies = [
            json!({"first_name": "Zoë \"Zed\"", "last_name": "O'Brien \\ fils", "email": "zoe@exemple.ca", "phone": "514 555 0101",
                   "mobile": "438 555 0102", "branch_id": branch, "owner_id": owner}),
            json!({"first_name": "Ana", "last_name": "Zeta\ttab"}),
            json!({"kind": "company", "company_name": "Zèbre & Cie — 日本"}),
        ];
        let mut ids = Vec::new();
        for body in bodies {
            let (s, b) = api.send("POST", "/api/v1/customers?allow_duplicate=true", Some(body)).await;
            assert_eq!(s, 201, "{b}");
            ids.push(b["id"].as_i64().expect("an id"));
        }
        let fields =
            ["id", "kind", "display_name", "email", "phone", "mobile", "branch_id", "branch_name", "owner_id", "owner_name", "created_at"];
        let mut seen = 0;
        for query in ["q=ze&limit=1", "q=ze&limit=2&sort=-created", "sort=-created&limit=3", "q=zebre&count=true"] {
            let mut url = format!("/api/v1/customers?{query}");
            loop {
                let r = api.client.get(format!("{}{url}", app.url)).bearer_auth(&api.token).send().await.expect("get");
                assert_eq!(r.status(), 200);
                assert_eq!(r.headers()["content-type"], "application/json");
                let b: serde_json::Value = r.json().await.expect("a JSON document");
                for item in b["items"].as_array().expect("items") {
                    let id = item["id"].as_i64().expect("an id");
                    let (_, record) = api.get(&format!("/api/v1/customers/{id}")).await;
                    let item = item.as_object().expect("an object");
                    assert_eq!(item.len(), fields.len(), "{item:?}");
                    for f in fields {
                        assert_eq!(item.get(f), record.get(f), "{f} of {id}: {item:?} / {record}");
                    }
                    seen += 1;
                }
                if query.contains("count") {
                    assert_eq!(b["count"], json!({"kind": "exactly", "value": 1}), "{b}");
                } else {
                    assert!(b.get("count").is_none(), "{b}");
                }
                match b["next_cursor"].as_str() {
                    Some(c) => url = format!("/api/v1/customers?{query}&after={c}"),
                    None => break,
                }
            }
        }
        assert_eq!(seen, 3 + 3 + 3 + 1, "every item of every page");
        let (_, b) = api.get(&format!("/api/v1/customers/{}", ids[0])).await;
        assert_eq!(b["branch_name"], "Succursale \"Nord\" \\ Île", "{b}");
        app
    })
    .await;
}

#[tokio::test]
async fn terms_of_many_records_are_replaced_in_a_few_statements() {
    each_backend(|app| async move {
        let db = &app.state.db;
        let values: Vec<(i64, Vec<String>)> = (1..=1200).map(|i| (i, vec![format!("Nom{i}"), format!("Rue {}", i % 7)])).collect();
        let records: Vec<(i64, Vec<&str>)> = values.iter().map(|(i, v)| (*i, v.iter().map(String::as_str).collect())).collect();
        let mut tx = db.begin().await.unwrap();
        carnet::search::index_many(&mut tx, "essai", &records).await.unwrap();
        tx.commit().await.unwrap();
        // nomN, rue, the digit, rueD: four terms each.
        assert_eq!(app.count("SELECT COUNT(*) FROM search_terms WHERE entity_type = 'essai'").await, 4800);
        // The same terms as one record at a time.
        let mut tx = db.begin().await.unwrap();
        carnet::search::index(&mut tx, "essai1", 42, &["Nom42", "Rue 0"]).await.unwrap();
        tx.commit().await.unwrap();
        let pool = &app.state.db.pool;
        let terms = |entity: &'static str| async move {
            let v: Vec<String> =
                sqlx::query_scalar("SELECT term FROM search_terms WHERE entity_type = $1 AND entity_id = 42 ORDER BY term")
                    .bind(entity)
                    .fetch_all(pool)
                    .await
                    .unwrap();
            v
        };
        assert_eq!(terms("essai").await, terms("essai1").await);
        // Indexing again replaces: half the records lose their street.
        let again: Vec<(i64, Vec<&str>)> = records.iter().take(600).map(|(i, v)| (*i, vec![v[0]])).collect();
        let mut tx = db.begin().await.unwrap();
        carnet::search::index_many(&mut tx, "essai", &again).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(app.count("SELECT COUNT(*) FROM search_terms WHERE entity_type = 'essai'").await, 600 + 2400);
        app
    })
    .await;
}

#[tokio::test]
async fn import_chunks_write_everything_or_nothing() {
    each_backend(|app| async move {
        use carnet::customers::import;
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let api = app.api(&app.token_for(admin).await);
        api.send("POST", "/api/v1/customers", Some(json!({"first_name": "Julie", "last_name": "Roy", "email": "julie@exemple.ca"}))).await;
        // 1 200 rows (three chunks): new customers, invalid rows, a known customer, repeats.
        let mut csv = String::from("Prénom;Nom;Courriel;Téléphone\n");
        for i in 0..1200 {
            let line = match i {
                5 => "Julie;Roy;JULIE@exemple.ca;438 555 0100\n".to_string(),
                _ if i % 100 == 7 => format!("Bad{i};Row;pas-un-courriel{i};\n"),
                _ if i % 100 == 9 => format!("Again;Twice;twice{}@exemple.ca;\n", i / 400),
                700 => "Paul;Boum;boum@exemple.ca;\n".to_string(),
                _ => format!("Client{i};Nom{i};client{i}@exemple.ca;514 555 {:04}\n", i),
            };
            csv.push_str(&line);
        }
        let db = &app.state.db;
        let imp = import::upload(db, admin, app.now(), "gros.csv", csv.as_bytes()).await.unwrap();
        let mapping: Vec<String> = ["first_name", "last_name", "email", "phone"].iter().map(|s| s.to_string()).collect();
        let import::Checked::Done(dry) = import::dry_run(db, admin, imp.id, mapping, app.now()).await.unwrap() else {
            panic!("a file of 1 200 rows is checked at once")
        };
        // 12 invalid, 1 known, 12 rows of "Twice" in three chunks: 3 of them new.
        assert_eq!((dry.created, dry.merged, dry.rejected), (1200 - 12 - 1 - 12 + 3, 1 + 9, 12), "{:?}", &dry.rows[..3]);
        let customers_before = app.count("SELECT COUNT(*) FROM customers").await;
        let audit_before = app.count("SELECT COUNT(*) FROM audit_events").await;
        // The second chunk fails at its last statement (the history of "Boum").
        let boom = match app.backend {
            common::Backend::Sqlite => vec![
                "CREATE TRIGGER boom BEFORE INSERT ON audit_events WHEN NEW.new_value = 'Boum' BEGIN SELECT RAISE(ABORT, 'boom'); END",
            ],
            common::Backend::Postgres => vec![
                "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN IF NEW.new_value = 'Boum' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER boom BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION boom()",
            ],
        };
        for s in &boom {
            sqlx::query(s).execute(&db.pool).await.unwrap();
        }
        import::start(db, admin, imp.id, app.now()).await.unwrap();
        common::run_jobs(&app).await;
        let imp2 = import::get(db, admin, imp.id).await.unwrap().unwrap();
        assert_eq!(imp2.processed, 500, "the first chunk is written, the second not");
        let first_chunk_created = app.count("SELECT COUNT(*) FROM customers").await - customers_before;
        assert_eq!(first_chunk_created, imp2.created);
        assert_eq!(app.count("SELECT COUNT(*) FROM customers WHERE last_name IN ('Boum', 'Nom600')").await, 0);
        assert_eq!(app.count("SELECT COUNT(*) FROM search_terms WHERE term IN ('boum', 'nom600')").await, 0);
        assert_eq!(app.count("SELECT COUNT(*) FROM audit_events WHERE new_value IN ('Nom600', 'Boum')").await, 0);
        // Without the fault, the retry finishes where it stopped.
        let drop = if app.backend == common::Backend::Sqlite { "DROP TRIGGER boom" } else { "DROP TRIGGER boom ON audit_events" };
        sqlx::query(drop).execute(&db.pool).await.unwrap();
        app.clock.advance(3_600_000);
        common::run_jobs(&app).await;
        let done = import::get(db, admin, imp.id).await.unwrap().unwrap();
        assert_eq!(done.status, "done");
        assert_eq!((done.created, done.merged, done.rejected), (dry.created as i64, dry.merged as i64, dry.rejected as i64));
        assert_eq!(app.count("SELECT COUNT(*) FROM customers").await - customers_before, done.created);
        // Every created customer has its terms and its history; merges are in the history too.
        assert_eq!(
            app.count("SELECT COUNT(*) FROM customers c WHERE NOT EXISTS (SELECT 1 FROM search_terms t WHERE t.entity_type = 'customer' AND t.entity_id = c.id)").await,
            0
        );
        assert_eq!(
            app.count("SELECT COUNT(DISTINCT entity_id) FROM audit_events WHERE entity_type = 'customer' AND action = 'create' AND request_id LIKE 'import-%'").await,
            done.created
        );
        assert!(app.count("SELECT COUNT(*) FROM audit_events").await > audit_before);
        assert_eq!(app.count("SELECT COUNT(*) FROM customers WHERE email = 'julie@exemple.ca' AND phone = '+14385550100'").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM customers WHERE last_name = 'Twice'").await, 3, "one per chunk");
        // The filled phone is searchable.
        let (_, b) = api.get("/api/v1/customers?q=438555").await;
        assert_eq!(b["items"][0]["display_name"], "Julie Roy");
        app
    })
    .await;
}

/// Runs again the data statements (UPDATE / INSERT) of this branch's migration, as on a
/// database written before it.
async fn rerun_backfill(app: &TestApp) {
    let m = carnet::db::MIGRATIONS.iter().find(|m| m.name == "sold_and_sort_keys").expect("the migration");
    for stmt in m.sql.split(";\n").map(str::trim) {
        let code: String = stmt.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
        let code = code.trim();
        if code.starts_with("UPDATE") || code.starts_with("INSERT") {
            sqlx::query(code.trim_end_matches(';')).execute(&app.state.db.pool).await.expect("backfill statement");
        }
    }
}

#[tokio::test]
async fn a_phone_is_found_by_its_local_part_without_the_area_code() {
    each_backend(|app| async move {
        let api = admin_api(&app).await;
        let (st, c) =
            api.send("POST", "/api/v1/customers", Some(json!({"first_name": "Zoé", "last_name": "Roy", "phone": "(514) 555-1018"}))).await;
        assert_eq!(st, 201, "{c}");
        let id = c["id"].as_i64().unwrap();
        api.send("POST", "/api/v1/customers", Some(json!({"first_name": "Autre", "last_name": "Numéro", "mobile": "418 555 2020"}))).await;
        let found = |q: &'static str| {
            let api = &api;
            async move {
                let (_, b) = api.get(&format!("/api/v1/customers?q={}", carnet::http::auth::urlencode(q))).await;
                b["items"].as_array().unwrap().iter().map(|i| i["display_name"].as_str().unwrap().to_string()).collect::<Vec<_>>()
            }
        };
        assert_eq!(found("555-1018").await, vec!["Zoé Roy"]);
        assert_eq!(found("5551018").await, vec!["Zoé Roy"]);
        assert_eq!(found("4 555 1018").await, vec!["Zoé Roy"]);
        assert_eq!(found("555 2020").await, vec!["Autre Numéro"], "mobiles too");
        assert!(found("555-1019").await.is_empty());
        // The page's search too.
        let s = app.login("admin@t.fr", PASSWORD).await.unwrap();
        let (_, rows) = s.get_text("/customers?q=555-1018&part=rows").await;
        assert!(rows.contains("Zoé Roy"));
        // A customer written before this change (no local-part terms) is found after the backfill.
        sqlx::query(
            "DELETE FROM search_terms WHERE entity_type = 'customer' AND entity_id = $1 AND term IN ('5551018', '45551018', '145551018')",
        )
        .bind(id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
        assert!(found("555-1018").await.is_empty());
        rerun_backfill(&app).await;
        assert_eq!(found("555-1018").await, vec!["Zoé Roy"]);
        app
    })
    .await;
}

#[tokio::test]
async fn names_sort_without_accents_or_case_across_pages_and_after_the_backfill() {
    each_backend(|app| async move {
        let api = admin_api(&app).await;
        for (first, last) in
            [("Zoé", "Zénith"), ("Étienne", "Roy"), ("adèle", "Bédard"), ("Émile", "Zola"), ("Éric", "Ouellet"), ("Denis", "Côté")]
        {
            let (st, c) = api.send("POST", "/api/v1/customers", Some(json!({"first_name": first, "last_name": last}))).await;
            assert_eq!(st, 201, "{c}");
        }
        let expected = vec!["adèle Bédard", "Denis Côté", "Émile Zola", "Éric Ouellet", "Étienne Roy", "Zoé Zénith"];
        // Walks the list two by two: the keyset cursor follows the folded key.
        let walk = || {
            let api = &api;
            async move {
                let mut names = Vec::new();
                let mut after = String::new();
                loop {
                    let (st, b) = api.get(&format!("/api/v1/customers?sort=name&limit=2&after={after}")).await;
                    assert_eq!(st, 200, "{b}");
                    names.extend(b["items"].as_array().unwrap().iter().map(|i| i["display_name"].as_str().unwrap().to_string()));
                    match b["next_cursor"].as_str() {
                        Some(n) => after = n.to_string(),
                        None => break names,
                    }
                }
            }
        };
        assert_eq!(walk().await, expected);
        let (st, _) = api.send("POST", "/api/v1/customers", Some(json!({"kind": "company", "company_name": "Œuvres ÆRØ & Fils Ĳ"}))).await;
        assert_eq!(st, 201);
        let mut expected = expected;
        expected.insert(5, "Œuvres ÆRØ & Fils Ĳ");
        assert_eq!(walk().await, expected);
        // Rows written before the change (no key) get the same keys from the migration.
        sqlx::query("UPDATE customers SET sort_key = ''").execute(&app.state.db.pool).await.unwrap();
        rerun_backfill(&app).await;
        let keys: Vec<(String, String)> =
            sqlx::query_as("SELECT display_name, sort_key FROM customers").fetch_all(&app.state.db.pool).await.unwrap();
        for (name, key) in &keys {
            assert_eq!(key, &carnet::search::sort_key(name), "the SQL backfill and the Rust key agree for {name}");
        }
        assert_eq!(walk().await, expected);
        // Users too.
        for name in ["Zoé Gagnon", "Étienne Lavoie", "émilie Roy"] {
            let email = format!("{}@t.fr", carnet::search::fold(name).replace(' ', "."));
            let (st, b) = api.send("POST", "/api/v1/users", Some(json!({"email": email, "name": name, "role": "representant"}))).await;
            assert_eq!(st, 201, "{b}");
        }
        let (_, b) = api.get("/api/v1/users?limit=500").await;
        let users: Vec<&str> =
            b["items"].as_array().unwrap().iter().filter_map(|u| u["name"].as_str()).filter(|n| n.contains(' ')).collect();
        assert_eq!(users, vec!["émilie Roy", "Étienne Lavoie", "Zoé Gagnon"]);
        app
    })
    .await;
}

#[tokio::test]
async fn the_customer_history_shows_field_labels_and_coded_values_in_the_users_language() {
    each_backend(|app| async move {
        let api = admin_api(&app).await;
        let (st, c) = api.send("POST", "/api/v1/customers", Some(json!({"first_name": "Zoé", "last_name": "Roy", "language": "en"}))).await;
        assert_eq!(st, 201, "{c}");
        let s = app.login("admin@t.fr", PASSWORD).await.unwrap();
        let (st, html) = s.get_text(&format!("/customers/{}/history", c["id"])).await;
        assert_eq!(st, 200);
        assert!(html.contains("<td>Prénom</td>") && html.contains("<td>Nom de famille</td>"), "labels in French");
        assert!(html.contains("<td>Type</td><td class=\"old prewrap\"></td><td class=\"prewrap\">Particulier</td>"), "the kind's label");
        assert!(html.contains("<td>Langue</td><td class=\"old prewrap\"></td><td class=\"prewrap\">Anglais</td>"), "the language's name");
        assert!(!html.contains("<td>first_name</td>"));
        let local = carnet::clock::Zone::default().format(app.now());
        assert!(html.contains(&format!("· {local}")), "local time");
        app
    })
    .await;
}

#[tokio::test]
async fn choosing_no_saved_view_is_not_an_error() {
    each_backend(|app| async move {
        let api = admin_api(&app).await;
        let (st, _) = api.send("POST", "/api/v1/customers", Some(json!({"first_name": "Zoé", "last_name": "Roy"}))).await;
        assert_eq!(st, 201);
        let s = app.login("admin@t.fr", PASSWORD).await.unwrap();
        for path in ["/customers?view=", "/opportunities?view="] {
            let (st, html) = s.get_text(path).await;
            assert_eq!(st, 200, "{path}: the \"no view\" option");
            if path.starts_with("/customers") {
                assert!(html.contains("Zoé Roy"));
            }
        }
        let (st, html) = s.get_text("/customers?view=abc").await;
        assert_eq!(st, 422, "a view id that is not a number: the field and the reason");
        assert!(html.contains("view"), "{html}");
        app
    })
    .await;
}

/// A file larger than `import::INLINE_ROWS` is checked by a job: the page shows the check's
/// progress and refreshes itself, nothing is written, then the report waits for its owner,
/// equal to what the run then does; the run cannot start before the check is done.
#[tokio::test]
async fn large_import_is_checked_in_the_background_with_progress() {
    each_backend(|app| async move {
        use carnet::customers::import;
        let api = admin_api(&app).await;
        api.send("POST", "/api/v1/customers", Some(json!({"first_name": "Julie", "last_name": "Roy", "email": "julie@exemple.ca"}))).await;
        let s = app.login("admin@t.fr", PASSWORD).await.unwrap();
        let rows = import::INLINE_ROWS + 700;
        let mut csv = String::from("Prénom;Nom;Courriel;Téléphone\n");
        for i in 0..rows {
            let line = match i {
                3 => "Julie;Roy;JULIE@exemple.ca;\n".to_string(),
                _ if i % 1000 == 11 => format!("Bad{i};Row;pas-un-courriel{i};\n"),
                _ => format!("Client{i};Nom{i};client{i}@exemple.ca;514 55{} {:04}\n", i / 10_000, i % 10_000),
            };
            csv.push_str(&line);
        }
        let r = upload(&s, "grand.csv", csv.into_bytes()).await;
        assert_eq!(r.status(), 303);
        let loc = r.headers().get("location").unwrap().to_str().unwrap().to_string();
        let id: i64 = loc.rsplit('/').next().unwrap().parse().unwrap();
        let before = app.count("SELECT COUNT(*) FROM customers").await;
        let mapping = [("mapping", "first_name"), ("mapping", "last_name"), ("mapping", "email"), ("mapping", "phone")];
        assert_eq!(s.post(&format!("/customers/import/{id}/dry-run"), &mapping).await.status(), 303);
        let (_, html) = s.get_text(&loc).await;
        assert!(html.contains("id=\"import-checking\"") && html.contains("<progress") && html.contains("http-equiv=\"refresh\""), "{html}");
        // Neither a second dry run nor the run while it is being checked.
        assert!(s.post(&format!("/customers/import/{id}/dry-run"), &mapping).await.status().is_client_error());
        assert!(s.post(&format!("/customers/import/{id}/run"), &[]).await.status().is_client_error());
        common::run_jobs(&app).await;
        assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, before, "the check writes nothing");
        let admin: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'admin@t.fr'").fetch_one(&app.state.db.pool).await.unwrap();
        let imp = import::get(&app.state.db, admin, id).await.unwrap().unwrap();
        assert_eq!(imp.status, "draft");
        let rep = imp.report().unwrap();
        let bad = (0..rows).filter(|i| i % 1000 == 11).count();
        assert_eq!((rep.created, rep.merged, rep.rejected), (rows - 1 - bad, 1, bad), "{:?}", &rep.rows[..3]);
        assert!(rep.rows.len() <= 2000 && rep.rows.iter().take(bad).all(|r| r.outcome == "reject"), "rejections listed first");
        let (_, html) = s.get_text(&loc).await;
        assert!(html.contains("id=\"run-import\"") && !html.contains("http-equiv=\"refresh\""));
        // The run does what the check said.
        assert_eq!(s.post(&format!("/customers/import/{id}/run"), &[]).await.status(), 303);
        common::run_jobs(&app).await;
        let done = import::get(&app.state.db, admin, id).await.unwrap().unwrap();
        assert_eq!(done.status, "done");
        assert_eq!((done.created, done.merged, done.rejected), (rep.created as i64, rep.merged as i64, rep.rejected as i64));
        assert_eq!(app.count("SELECT COUNT(*) FROM customers").await - before, done.created);
        // Every new customer has its terms, its history, and its branch and owner in the history.
        assert_eq!(
            app.count("SELECT COUNT(*) FROM customers c WHERE NOT EXISTS (SELECT 1 FROM search_terms t WHERE t.entity_type = 'customer' AND t.entity_id = c.id)").await,
            0
        );
        assert_eq!(
            app.count(&format!("SELECT COUNT(DISTINCT entity_id) FROM audit_events WHERE entity_type = 'customer' AND action = 'create' AND request_id = 'import-{id}'")).await,
            done.created
        );
        assert_eq!(
            app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'customer' AND request_id = 'import-{id}' AND field = 'owner' AND new_value IS NOT NULL")).await,
            done.created
        );
        // Found by what was imported.
        let (_, found) = api.send("GET", "/api/v1/customers?q=nom4321", None).await;
        assert_eq!(found["items"][0]["email"], "client4321@exemple.ca", "{found}");
        app
    })
    .await;
}

/// Two clicks on "import" at once queue one run.
#[tokio::test]
async fn an_import_started_twice_at_once_runs_once() {
    each_backend(|app| async move {
        use carnet::customers::import;
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let db = &app.state.db;
        let imp = import::upload(db, admin, app.now(), "deux.csv", "Prénom;Nom\nJulie;Roy\nPaul;Côté\n".as_bytes()).await.unwrap();
        let mapping: Vec<String> = ["first_name", "last_name"].iter().map(|s| s.to_string()).collect();
        import::dry_run(db, admin, imp.id, mapping, app.now()).await.unwrap();
        let (a, b) = tokio::join!(import::start(db, admin, imp.id, app.now()), import::start(db, admin, imp.id, app.now()));
        assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(), 1, "{a:?} {b:?}");
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM jobs WHERE kind = '{}'", import::JOB)).await, 1);
        common::run_jobs(&app).await;
        assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 2);
        app
    })
    .await;
}
