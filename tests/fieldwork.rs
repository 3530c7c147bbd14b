//! The technician's day (issue 21) over HTTP, on both backends: photos resized and kept as
//! documents of the request, a file that is not an image refused with 422 and nothing
//! written, the customer's signature recorded (audited) and drawn on the PDF summary, and
//! who may do it: the intervention's technician or a user covering its request, not another
//! technician (403) nor another branch (404).

mod common;

use common::{each_backend, Api, Session, TestApp};
use serde_json::{json, Value};

struct Setup {
    agent: Api,
    tech: Api,
    tech_id: i64,
    other_tech: Api,
    far_agent: Api,
    request: i64,
    intervention: i64,
    other_intervention: i64,
}

async fn setup(app: &TestApp) -> Setup {
    let company = app.unit("Service Inc.", "company", None).await;
    let laval = app.unit("Laval", "branch", Some(company)).await;
    let quebec = app.unit("Québec", "branch", Some(company)).await;
    let admin = app.user("admin@t.fr", "administrateur", None).await;
    let agent = app.user("agent@t.fr", "agent_support", Some(laval)).await;
    let far_agent = app.user("far@t.fr", "agent_support", Some(quebec)).await;
    let tech_id = app.user("luc@t.fr", "technicien", Some(laval)).await;
    let other_id = app.user("emma@t.fr", "technicien", Some(laval)).await;
    let admin = app.api(&app.token_for(admin).await);
    let agent = app.api(&app.token_for(agent).await);
    let (s, cu) = admin
        .send(
            "POST",
            "/api/v1/customers",
            Some(json!({"kind": "company", "company_name": "Boulangerie Les Trois Épis", "branch_id": laval, "address": "12 rue Principale, Laval"})),
        )
        .await;
    assert_eq!(s, 201, "{cu}");
    let (s, r) = agent
        .send("POST", "/api/v1/service-requests", Some(json!({"customer_id": cu["id"], "request_type": "panne", "branch_id": laval})))
        .await;
    assert_eq!(s, 201, "{r}");
    let request = r["id"].as_i64().unwrap();
    let slot = |tech: i64| json!({"request_id": request, "date": "2026-11-25", "start_time": "08:00", "end_time": "10:00", "technician_ids": [tech]});
    let (s, i) = agent.send("POST", "/api/v1/interventions", Some(slot(tech_id))).await;
    assert_eq!(s, 201, "{i}");
    let (_, i2) = agent.send("POST", "/api/v1/interventions", Some(slot(other_id))).await;
    Setup {
        agent,
        tech: app.api(&app.token_for(tech_id).await),
        tech_id,
        other_tech: app.api(&app.token_for(other_id).await),
        far_agent: app.api(&app.token_for(far_agent).await),
        request,
        intervention: i["id"].as_i64().unwrap(),
        other_intervention: i2["id"].as_i64().unwrap(),
    }
}

/// A photo as a phone would send it: `w`×`h` pixels, PNG or JPEG.
fn picture(w: u32, h: u32, jpeg: bool) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8]));
    let mut out = Vec::new();
    if jpeg {
        img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)).unwrap();
    } else {
        img.write_with_encoder(image::codecs::png::PngEncoder::new(&mut out)).unwrap();
    }
    out
}

/// A drawn signature: dark strokes on a transparent background, as a canvas gives it.
fn drawing() -> String {
    use base64::Engine;
    let mut img = image::RgbaImage::new(600, 180);
    for x in 40..560 {
        let y = 90 + ((x as f32 / 30.0).sin() * 40.0) as u32;
        for d in 0..3 {
            img.put_pixel(x, y + d, image::Rgba([15, 27, 45, 255]));
        }
    }
    let mut out = Vec::new();
    img.write_with_encoder(image::codecs::png::PngEncoder::new(&mut out)).unwrap();
    format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(out))
}

async fn photo(app: &TestApp, api: &Api, intervention: i64, name: &str, bytes: Vec<u8>) -> (u16, Value) {
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()));
    let r = api
        .client
        .post(format!("{}/api/v1/interventions/{intervention}/photos", app.url))
        .bearer_auth(&api.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (s, v) = common::json_of(r).await;
    (s.as_u16(), v)
}

async fn bytes(app: &TestApp, api: &Api, path: &str) -> (u16, Vec<u8>) {
    let r = api.client.get(format!("{}{path}", app.url)).bearer_auth(&api.token).send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn photos_are_resized_and_anything_else_is_refused() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let iid = s.intervention;
        // A 4000×3000 JPEG from the phone's camera: kept as a JPEG of at most 1600 pixels.
        let big = picture(4000, 3000, true);
        let (st, d) = photo(&app, &s.tech, iid, "IMG_0042.jpg", big.clone()).await;
        assert_eq!(st, 201, "{d}");
        assert_eq!((d["request_id"].as_i64(), d["intervention_id"].as_i64()), (Some(s.request), Some(iid)), "a document of the request");
        assert_eq!(d["content_type"], "image/jpeg");
        assert!(d["filename"].as_str().unwrap().ends_with("IMG_0042.jpg"), "{d}");
        let (code, stored) = bytes(&app, &s.tech, &format!("/api/v1/documents/{}", d["id"])).await;
        assert_eq!(code, 200);
        let img = image::load_from_memory(&stored).unwrap();
        assert_eq!((img.width(), img.height()), (1600, 1200), "the longest side at 1600, the ratio kept");
        assert!(stored.len() < big.len() / 3, "stored smaller: {} bytes for {}", stored.len(), big.len());
        assert_eq!(d["size"].as_u64(), Some(stored.len() as u64));
        // A PNG is taken too, and re-encoded as a JPEG.
        let (st, d) = photo(&app, &s.tech, iid, "plaque.png", picture(300, 200, false)).await;
        assert_eq!((st, d["content_type"].as_str()), (201, Some("image/jpeg")), "{d}");
        // Not an image (whatever its name says): 422 on the file, nothing written.
        let tech = app.login("luc@t.fr", common::PASSWORD).await.expect("login");
        let before = app.snapshot().await;
        let (st, b) = photo(&app, &s.tech, iid, "photo.jpg", b"%PDF-1.4\n1 0 obj <<>> endobj\n".to_vec()).await;
        assert_eq!(st, 422, "{b}");
        assert!(b["error"]["fields"]["file"].as_str().unwrap_or_default().contains("JPEG"), "{b}");
        let (st, _) = photo(&app, &s.tech, iid, "notes.txt", b"hello".to_vec()).await;
        assert_eq!(st, 422);
        let (st, _) = photo(&app, &s.tech, iid, "vide.jpg", Vec::new()).await;
        assert_eq!(st, 422);
        assert_eq!(app.snapshot().await, before, "a refused file changes nothing");
        // The same refusal on the page, in the photo card, in the user's language.
        let form =
            reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(b"GIF89a not really".to_vec()).file_name("x.gif"));
        let r = tech
            .client
            .post(format!("{}/service/interventions/{iid}/photos?_csrf={}", tech.url, tech.csrf))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        let card = html.split("id=\"photo-error\"").nth(1).and_then(|r| r.split("</div>").next()).unwrap_or_default();
        assert!(card.contains("JPEG") && card.contains("PNG"), "{card}");
        assert_eq!(app.snapshot().await, before);
        // Two photos on the request's documents, both in the intervention's history.
        let n = app.count(&format!("SELECT COUNT(*) FROM documents WHERE request_id = {} AND intervention_id = {iid}", s.request)).await;
        assert_eq!(n, 2);
        let n = app
            .count(&format!(
                "SELECT COUNT(*) FROM audit_events WHERE entity_type = 'intervention' AND entity_id = {iid} AND action = 'photo'"
            ))
            .await;
        assert_eq!(n, 2);
        app
    })
    .await;
}

#[tokio::test]
async fn the_signature_is_recorded_audited_and_drawn_on_the_summary() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let iid = s.intervention;
        let summary = format!("/api/v1/service-requests/{}/summary.pdf", s.request);
        let (_, pdf) = bytes(&app, &s.agent, &summary).await;
        assert!(!String::from_utf8_lossy(&pdf).contains("/Subtype /Image"), "no picture before signing");
        // Refused: no name, no drawing, a drawing that is not an image. Nothing written.
        let before = app.snapshot().await;
        let sig_path = format!("/api/v1/interventions/{iid}/signature");
        let put = |body: Value| s.tech.send("PUT", &sig_path, Some(body));
        let (st, b) = put(json!({"signer_name": "", "signature": ""})).await;
        assert_eq!(st, 422);
        assert!(b["error"]["fields"]["signer_name"].is_string() && b["error"]["fields"]["signature"].is_string(), "{b}");
        let (st, _) = put(json!({"signer_name": "Marie Lemieux", "signature": "data:image/png;base64,bm9wZQ=="})).await;
        assert_eq!(st, 422);
        assert_eq!(app.snapshot().await, before);
        // Signed: the name, the time, the drawing kept as a PNG document of the request.
        let (st, i) = put(json!({"signer_name": "Marie Lemieux", "signature": drawing()})).await;
        assert_eq!(st, 200, "{i}");
        assert_eq!(i["signed_by"], "Marie Lemieux");
        assert_eq!(i["signed_at"].as_i64(), Some(app.now()));
        let doc = i["signature_document_id"].as_i64().expect("a document");
        let (code, png) = bytes(&app, &s.tech, &format!("/api/v1/documents/{doc}")).await;
        assert_eq!(code, 200);
        let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap().to_rgb8();
        assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255], "the transparent background is white");
        let signed = app
            .count(&format!(
                "SELECT COUNT(*) FROM audit_events WHERE entity_type = 'intervention' AND entity_id = {iid} AND field = 'signed_by' AND new_value = 'Marie Lemieux'"
            ))
            .await;
        assert_eq!(signed, 1, "in the intervention's history");
        // The summary draws it: an image XObject made from the stored signature's pixels.
        let (_, pdf) = bytes(&app, &s.agent, &summary).await;
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/Subtype /Image") && text.contains("/FlateDecode"), "an image XObject");
        assert!(text.contains(&format!("/Width {}", img.width())) && text.contains(&format!("/Height {}", img.height())), "the stored signature's size");
        let hex: String = "Marie Lemieux".bytes().map(|b| format!("{b:02X}")).collect();
        assert!(text.contains(&hex), "the signer's name under the intervention (a hex string: it has accents around it)");
        // The signature stays with its intervention.
        let (st, _) = s.agent.send("DELETE", &format!("/api/v1/documents/{doc}"), None).await;
        assert_eq!(st, 409);
        // The page shows it, as an image the page may load.
        let tech = app.login("luc@t.fr", common::PASSWORD).await.expect("login");
        let (st, html) = tech.get_text(&format!("/service/interventions/{iid}")).await;
        assert_eq!(st, 200);
        assert!(html.contains(&format!("/service/interventions/{iid}/signature.png")) && html.contains("Marie Lemieux"));
        let r = tech.get(&format!("/service/interventions/{iid}/signature.png")).await;
        assert_eq!((r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()), (200, "image/png"));
        app
    })
    .await;
}

#[tokio::test]
async fn only_its_technician_or_a_user_covering_it_works_on_an_intervention() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let iid = s.intervention;
        let sign = json!({"signer_name": "Marie Lemieux", "signature": drawing()});
        let emma = app.login("emma@t.fr", common::PASSWORD).await.expect("login");
        let before = app.snapshot().await;
        // Another technician sees it (he works on the same request) but may not work on it.
        let (st, _) = s.other_tech.get(&format!("/api/v1/interventions/{iid}")).await;
        assert_eq!(st, 200);
        let (st, _) = s.other_tech.send("PUT", &format!("/api/v1/interventions/{iid}/signature"), Some(sign.clone())).await;
        assert_eq!(st, 403);
        let (st, _) = photo(&app, &s.other_tech, iid, "a.jpg", picture(20, 20, true)).await;
        assert_eq!(st, 403);
        // Another branch does not see it.
        let (st, _) = s.far_agent.send("PUT", &format!("/api/v1/interventions/{iid}/signature"), Some(sign.clone())).await;
        assert_eq!(st, 404);
        let (st, _) = photo(&app, &s.far_agent, iid, "a.jpg", picture(20, 20, true)).await;
        assert_eq!(st, 404);
        // On the pages too: no start, report or signature, and no work card shown.
        for path in ["start", "report", "signature"] {
            let r = emma.post(&format!("/service/interventions/{iid}/{path}"), &[("report_work", "x"), ("signer_name", "X")]).await;
            assert_eq!(r.status(), 403, "{path}");
        }
        let (st, html) = emma.get_text(&format!("/service/interventions/{iid}")).await;
        assert_eq!(st, 200);
        assert!(!html.contains("id=\"start-intervention\"") && !html.contains("id=\"signature-form\""), "no work card for him");
        assert_eq!(app.snapshot().await, before, "refusals change nothing");
        // His own one he may start, the first one's technician his, the branch's agent both.
        let (st, html) = emma.get_text(&format!("/service/interventions/{}", s.other_intervention)).await;
        assert_eq!(st, 200);
        assert!(html.contains("id=\"start-intervention\""));
        let luc = app.login("luc@t.fr", common::PASSWORD).await.expect("login");
        started(&app, &luc, iid).await;
        let (st, b) = photo(&app, &s.agent, iid, "a.jpg", picture(20, 20, true)).await;
        assert_eq!(st, 201, "{b}");
        let (st, b) = s.agent.send("PUT", &format!("/api/v1/interventions/{iid}/signature"), Some(sign)).await;
        assert_eq!(st, 200, "{b}");
        let _ = (s.tech, s.tech_id);
        app
    })
    .await;
}

/// Starts the intervention from its page, writes the report, finishes it.
async fn started(app: &TestApp, luc: &Session, iid: i64) {
    let r = luc.post(&format!("/service/interventions/{iid}/start"), &[]).await;
    assert_eq!(r.status(), 303, "back to the page");
    let status = |app: &TestApp| {
        let pool = app.state.db.pool.clone();
        async move {
            sqlx::query_as::<_, (String, String)>("SELECT status, report_work FROM interventions WHERE id = $1")
                .bind(iid)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(status(app).await.0, "en_cours");
    // Finishing without a report is refused in the report card.
    let r = luc.post(&format!("/service/interventions/{iid}/report"), &[("report_work", ""), ("finish", "1")]).await;
    assert_eq!(r.status(), 422);
    assert_eq!(status(app).await.0, "en_cours");
    let r =
        luc.post(&format!("/service/interventions/{iid}/report"), &[("report_work", "Joint remplacé."), ("report_minutes", "45")]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(status(app).await, ("en_cours".into(), "Joint remplacé.".into()));
    let r = luc
        .post(
            &format!("/service/interventions/{iid}/report"),
            &[("report_work", "Joint remplacé."), ("report_minutes", "45"), ("finish", "1")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(status(app).await.0, "terminee");
}

/// A drag on the planning moves the intervention and changes nothing else: the report the
/// technician wrote after the planner's page was loaded, the place and the status stay; dropped
/// from one technician's column into another's, the second takes the first's place. Another
/// branch's agent cannot move it (404), a bad slot is a 422.
#[tokio::test]
async fn a_drag_on_the_planning_moves_the_slot_and_keeps_the_report() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let iid = s.intervention;
        let (_, other) = s.agent.get(&format!("/api/v1/interventions/{}", s.other_intervention)).await;
        let other_id = other["technicians"][0]["id"].as_i64().unwrap();
        let report = json!({"request_id": s.request, "date": "2026-11-25", "start_time": "08:00", "end_time": "10:00",
            "technician_ids": [s.tech_id], "place": "Atelier arrière", "status": "en_cours", "report_work": "Compresseur démonté"});
        let (st, body) = s.tech.send("PUT", &format!("/api/v1/interventions/{iid}"), Some(report)).await;
        assert_eq!(st, 200, "{body}");
        let path = format!("/api/v1/interventions/{iid}/move");
        let slot = json!({"date": "2026-11-26", "start_time": "13:00", "end_time": "15:30", "person": [s.tech_id, other_id]});
        let (st, _) = s.far_agent.send("POST", &path, Some(slot.clone())).await;
        assert_eq!(st, 404, "another branch");
        let (st, body) = s.agent.send("POST", &path, Some(json!({"date": "2026-11-26", "start_time": "25:00", "end_time": "26:00"}))).await;
        assert_eq!(st, 422, "{body}");
        let (st, moved) = s.agent.send("POST", &path, Some(slot)).await;
        assert_eq!(st, 200, "{moved}");
        assert_eq!(moved["report_work"], "Compresseur démonté", "{moved}");
        assert_eq!(moved["place"], "Atelier arrière");
        assert_eq!(moved["status"], "en_cours");
        let techs: Vec<i64> = moved["technicians"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
        assert_eq!(techs, vec![other_id]);
        let (_, again) = s.agent.get(&format!("/api/v1/interventions/{iid}")).await;
        assert_eq!(again["start_at"], moved["start_at"]);
        assert_ne!(again["start_at"], json!(null));
        app
    })
    .await;
}

/// Two signings at once (the technician's phone sending twice, a colleague's tablet): one after
/// the other, the second's history starting from what the first wrote, the intervention showing
/// the last one's drawing.
#[tokio::test]
async fn two_signatures_at_once_are_recorded_one_after_the_other() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let iid = s.intervention;
        let path = format!("/api/v1/interventions/{iid}/signature");
        let (a, b) = tokio::join!(
            s.tech.send("PUT", &path, Some(json!({"signer_name": "Marie Lemieux", "signature": drawing()}))),
            s.agent.send("PUT", &path, Some(json!({"signer_name": "Paul Lemieux", "signature": drawing()}))),
        );
        assert!(a.0 == 200 && b.0 == 200, "{} {}", a.1, b.1);
        let history: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT old_value, new_value FROM audit_events WHERE entity_type = 'intervention' AND entity_id = $1 AND field = 'signed_by' ORDER BY id",
        )
        .bind(iid)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
        assert_eq!(history.len(), 2, "{history:?}");
        assert_eq!(history[1].0, history[0].1, "the second signing starts from the first: {history:?}");
        let (_, now) = s.agent.get(&format!("/api/v1/interventions/{iid}")).await;
        assert_eq!(now["signed_by"].as_str(), history[1].1.as_deref());
        app
    })
    .await;
}
