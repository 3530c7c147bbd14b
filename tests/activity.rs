//! The activity feed of a record (issue 21): `GET /api/v1/{opportunities,service-requests,
//! customers}/{id}/activity` and the pages' feed. Order, kinds, the kind filter, the keyset
//! cursor, and visibility: a rep sees no entry of another rep's opportunity on their shared
//! customer's feed, a support agent without sales rights no sales entry, an invisible record 404.

mod common;

use common::{each_backend, Api, TestApp};
use serde_json::{json, Value};

async fn created(api: &Api, path: &str, body: Value) -> Value {
    let (s, v) = api.send("POST", path, Some(body)).await;
    assert!(s == 201 || s == 200, "{path}: {s} {v}");
    v
}

fn kinds(v: &Value) -> Vec<String> {
    v["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

fn files(v: &Value) -> Vec<(String, i64)> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["file"]["kind"].as_str().unwrap().to_string(), e["file"]["id"].as_i64().unwrap()))
        .collect()
}

struct World {
    admin: Api,
    rep: Api,
    other_rep: Api,
    agent: Api,
    customer: i64,
    mine: i64,
    theirs: i64,
    request: i64,
}

async fn world(app: &TestApp) -> World {
    let co = app.unit("Groupe", "company", None).await;
    let laval = app.unit("Succursale Laval", "branch", Some(co)).await;
    let ventes = app.unit("Ventes Laval", "team", Some(laval)).await;
    let service = app.unit("Service Laval", "team", Some(laval)).await;
    let admin = app.user("admin@t.fr", "administrateur", None).await;
    let rep = app.user("rep@t.fr", "representant", Some(ventes)).await;
    let other = app.user("other@t.fr", "representant", Some(ventes)).await;
    let agent = app.user("agent@t.fr", "agent_support", Some(service)).await;
    let admin = app.api(&app.token_for(admin).await);
    let cu = created(&admin, "/api/v1/customers", json!({"kind": "company", "company_name": "Garage Côté", "branch_id": laval})).await;
    let customer = cu["id"].as_i64().unwrap();
    let mine = created(&admin, "/api/v1/opportunities", json!({"customer_id": customer, "owner_id": rep, "branch_id": laval})).await;
    let theirs = created(&admin, "/api/v1/opportunities", json!({"customer_id": customer, "owner_id": other, "branch_id": laval})).await;
    let request =
        created(&admin, "/api/v1/service-requests", json!({"customer_id": customer, "request_type": "panne", "branch_id": laval})).await;
    World {
        rep: app.api(&app.token_for(rep).await),
        other_rep: app.api(&app.token_for(other).await),
        agent: app.api(&app.token_for(agent).await),
        admin,
        customer,
        mine: mine["id"].as_i64().unwrap(),
        theirs: theirs["id"].as_i64().unwrap(),
        request: request["id"].as_i64().unwrap(),
    }
}

#[tokio::test]
async fn one_feed_per_record_in_order_filtered_by_kind_and_paged() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let path = format!("/api/v1/opportunities/{}/activity", w.mine);
        created(&w.rep, &format!("/api/v1/opportunities/{}/notes", w.mine), json!({"body": "Cherche un VUS hybride."})).await;
        app.clock.advance(60_000);
        let zone = carnet::settings::zone(&app.state.db).await.unwrap();
        let due = app.now() + 86_400_000;
        let call = created(
            &w.rep,
            "/api/v1/calls",
            json!({"opportunity_id": w.mine, "date": zone.date(due), "time": zone.time(due), "subject": "Rappeler pour l'essai"}),
        )
        .await;
        let (_, feed) = w.rep.get(&path).await;
        // (The opportunity's assignment email to its rep came first.)
        assert_eq!(kinds(&feed)[..2], ["call", "note"], "{feed}");
        assert_eq!(feed["items"][0]["state"], "planned");
        app.clock.advance(60_000);
        created(&w.rep, &format!("/api/v1/calls/{}/log", call["id"]), json!({"outcome": "joint", "comment": "Essai samedi"})).await;
        app.clock.advance(60_000);
        let (st, b) = w.rep.send("PATCH", &format!("/api/v1/opportunities/{}", w.mine), Some(json!({"status": "contacte"}))).await;
        assert_eq!(st, 200, "{b}");
        let (st, feed) = w.rep.get(&path).await;
        assert_eq!(st, 200, "{feed}");
        assert_eq!(kinds(&feed)[..3], ["status", "call", "note"], "newest first; the logged call moves to when it was logged: {feed}");
        let before_notes = feed["items"].as_array().unwrap().len();
        assert_eq!(feed["items"][1]["state"], "done");
        assert!(feed["items"][1]["detail"].as_str().unwrap().contains("Essai samedi"));
        assert_eq!(feed["items"][0]["state"], "contacte");
        assert_eq!(feed["items"][2]["author"], "rep");
        assert!(feed["next_cursor"].is_null());
        // The kind filter.
        let (_, only) = w.rep.get(&format!("{path}?kind=note,status")).await;
        assert_eq!(kinds(&only), ["status", "note"]);
        assert_eq!(w.rep.get(&format!("{path}?kind=nope")).await.0, 422);
        assert_eq!(w.rep.get(&format!("{path}?before=garbage")).await.0, 422);
        // Pages of 50, keyset (time, kind, id): nothing lost, nothing twice.
        for i in 0..52 {
            created(&w.rep, &format!("/api/v1/opportunities/{}/notes", w.mine), json!({"body": format!("Note {i}")})).await;
        }
        let (_, first) = w.rep.get(&path).await;
        assert_eq!(first["items"].as_array().unwrap().len(), 50);
        let cursor = first["next_cursor"].as_str().expect("an older page").to_string();
        let (st, second) = w.rep.get(&format!("{path}?before={cursor}")).await;
        assert_eq!(st, 200, "{second}");
        assert_eq!(second["items"].as_array().unwrap().len(), before_notes + 52 - 50, "every entry once");
        assert!(second["next_cursor"].is_null());
        let mut seen: Vec<(String, i64)> = Vec::new();
        for e in first["items"].as_array().unwrap().iter().chain(second["items"].as_array().unwrap()) {
            seen.push((e["kind"].as_str().unwrap().into(), e["id"].as_i64().unwrap()));
        }
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n);

        // An email from the page's composer: refused without a message (what was typed kept), then sent, in the feed.
        let s = app.login("rep@t.fr", common::PASSWORD).await.unwrap();
        let to = format!("/opportunities/{}/email", w.mine);
        let r = s.post(&to, &[("to", "client@exemple.ca"), ("subject", "Votre essai"), ("message", " ")]).await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(html.contains("client@exemple.ca") && html.contains("Votre essai"), "the form keeps what was typed");
        let r = s.post(&to, &[("to", "client@exemple.ca"), ("subject", "Votre essai"), ("message", "Samedi 10 h ?")]).await;
        assert_eq!(r.status(), 303);
        let (_, mails) = w.rep.get(&format!("{path}?kind=email")).await;
        assert_eq!(mails["items"][0]["title"], "Votre essai", "{mails}");
        assert_eq!(mails["items"][0]["detail"], "client@exemple.ca");
        assert_eq!(mails["items"][0]["author"], "rep");

        // A request: customer updates (with their status change), emails.
        let rpath = format!("/api/v1/service-requests/{}/activity", w.request);
        app.clock.advance(60_000);
        created(
            &w.agent,
            &format!("/api/v1/service-requests/{}/updates", w.request),
            json!({"status": "planifie", "message": "Mardi 8 h."}),
        )
        .await;
        let (st, rfeed) = w.agent.get(&rpath).await;
        assert_eq!(st, 200, "{rfeed}");
        let rk = kinds(&rfeed);
        assert!(rk.contains(&"update".to_string()) && rk.contains(&"status".to_string()), "{rfeed}");
        assert_eq!(w.rep.get(&rpath).await.0, 403, "a rep has no service right");
        app
    })
    .await;
}

#[tokio::test]
async fn a_customer_feed_follows_the_readers_visibility_and_rights() {
    each_backend(|app| async move {
        let w = world(&app).await;
        created(&w.rep, &format!("/api/v1/opportunities/{}/notes", w.mine), json!({"body": "La mienne"})).await;
        created(&w.other_rep, &format!("/api/v1/opportunities/{}/notes", w.theirs), json!({"body": "La sienne"})).await;
        created(&w.agent, &format!("/api/v1/service-requests/{}/updates", w.request), json!({"status": "planifie", "message": "Mardi."}))
            .await;
        let path = format!("/api/v1/customers/{}/activity", w.customer);
        // The administrator sees every file.
        let (st, all) = w.admin.get(&path).await;
        assert_eq!(st, 200, "{all}");
        let f = files(&all);
        assert!(f.contains(&("opportunity".into(), w.mine)) && f.contains(&("opportunity".into(), w.theirs)), "{all}");
        assert!(f.contains(&("service_request".into(), w.request)), "{all}");
        // A rep: their own opportunity only, nothing of the other rep's.
        let (st, feed) = w.rep.get(&path).await;
        assert_eq!(st, 200, "{feed}");
        let f = files(&feed);
        assert!(f.contains(&("opportunity".into(), w.mine)), "{feed}");
        assert!(!f.iter().any(|(k, id)| k == "opportunity" && *id == w.theirs), "another rep's opportunity stays hidden: {feed}");
        assert!(!f.iter().any(|(k, _)| k == "service_request"), "no service right, no request entries: {feed}");
        assert!(!feed.to_string().contains("La sienne"));
        // The other rep's opportunity itself: 404.
        assert_eq!(w.rep.get(&format!("/api/v1/opportunities/{}/activity", w.theirs)).await.0, 404);
        // A support agent: the request, no sales entry.
        let (st, feed) = w.agent.get(&path).await;
        assert_eq!(st, 200, "{feed}");
        let f = files(&feed);
        assert!(f.contains(&("service_request".into(), w.request)), "{feed}");
        assert!(!f.iter().any(|(k, _)| k == "opportunity"), "no sales entries for support: {feed}");
        // Unknown customer: 404.
        assert_eq!(w.admin.get("/api/v1/customers/999999/activity").await.0, 404);
        // The page shows the same, linked to the files.
        let s = app.login("rep@t.fr", common::PASSWORD).await.unwrap();
        let (st, html) = s.get_text(&format!("/customers/{}", w.customer)).await;
        assert_eq!(st, 200);
        assert!(html.contains("id=\"activity\""), "the feed on the customer page");
        assert!(html.contains("La mienne") && !html.contains("La sienne"));
        assert!(html.contains(&format!("href=\"/opportunities/{}\"", w.mine)));
        app
    })
    .await;
}

/// Who may not read the conversation does not read it through the feed: a message's notification
/// email (which carries the message) is not an email entry; the support agent, who reads
/// messages, finds the request's other emails as before.
#[tokio::test]
async fn a_messages_notification_is_not_read_through_the_feed_without_the_right() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let branch: i64 = sqlx::query_scalar("SELECT branch_id FROM service_requests WHERE id = $1")
            .bind(w.request)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        let tech_id = app.user("tech@t.fr", "technicien", Some(branch)).await;
        let tech = app.api(&app.token_for(tech_id).await);
        // The technician's intervention on the request: the request is theirs to read.
        created(
            &w.admin,
            "/api/v1/interventions",
            json!({"request_id": w.request, "date": "2026-11-25", "start_time": "08:00", "end_time": "10:00", "technician_ids": [tech_id]}),
        )
        .await;
        let to = vec![carnet::mail::Mailbox { name: None, email: "client@exemple.ca".into() }];
        let mut tx = app.state.db.begin().await.unwrap();
        for (event, subject) in [("request_message", "Message confidentiel du client"), ("request_email", "Résumé envoyé")] {
            carnet::mail::queue(
                &mut tx,
                app.now(),
                carnet::mail::NewEmail {
                    entity: Some(("service_request".into(), w.request)),
                    event: event.into(),
                    from: None,
                    to: to.clone(),
                    cc: Vec::new(),
                    bcc: Vec::new(),
                    reply_to: None,
                    subject: subject.into(),
                    text: format!("{subject} : le code de l'alarme est 4521"),
                    html: None,
                    attachments: Vec::new(),
                    created_by: None,
                },
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let path = format!("/api/v1/service-requests/{}/activity", w.request);
        for who in [&tech, &w.agent] {
            let (st, feed) = who.get(&path).await;
            assert_eq!(st, 200, "{feed}");
            let text = feed.to_string();
            assert!(text.contains("Résumé envoyé"), "the request's emails are in the feed: {feed}");
            assert!(!text.contains("Message confidentiel"), "a message's notification is not an email entry: {feed}");
        }
        app
    })
    .await;
}
