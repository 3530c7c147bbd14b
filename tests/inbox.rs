//! In-app notifications (issue 21): each event that emails a user also leaves exactly one
//! notification for that user, in the same transaction, with the same preferences (off: neither),
//! never for the user who caused it; the bell counts them, the list and the API show only the
//! reader's own, opening one marks it read and re-checks the record's visibility; old read ones
//! are purged by the housekeeping. Both databases.

mod common;

use common::{each_backend, Api, TestApp, PASSWORD};
use serde_json::{json, Value};

struct Org {
    admin: Api,
    admin_id: i64,
    laval: i64,
    ventes_laval: i64,
}

async fn org(app: &TestApp) -> Org {
    let co = app.unit("Groupe", "company", None).await;
    let laval = app.unit("Succursale Laval", "branch", Some(co)).await;
    let ventes_laval = app.unit("Ventes Laval", "team", Some(laval)).await;
    let admin_id = app.user("admin@t.fr", "administrateur", None).await;
    Org { admin: app.api(&app.token_for(admin_id).await), admin_id, laval, ventes_laval }
}

/// The notifications of `user` for `event`.
async fn notes(app: &TestApp, user: i64, event: &str) -> i64 {
    app.count(&format!("SELECT COUNT(*) FROM notifications WHERE user_id = {user} AND event = '{event}'")).await
}

async fn emails(app: &TestApp, event: &str) -> i64 {
    app.count(&format!("SELECT COUNT(*) FROM emails WHERE event = '{event}'")).await
}

async fn created(api: &Api, path: &str, body: Value) -> Value {
    let (s, v) = api.send("POST", path, Some(body)).await;
    assert_eq!(s, 201, "{path}: {v}");
    v
}

#[tokio::test]
async fn an_assignment_and_a_routed_lead_notify_their_owner_once_and_never_the_actor() {
    each_backend(|app| async move {
        let o = org(&app).await;
        let rep = app.user("rep@t.fr", "representant", Some(o.ventes_laval)).await;
        let quiet = app.user("quiet@t.fr", "representant", Some(o.ventes_laval)).await;
        let customer =
            created(&o.admin, "/api/v1/customers", json!({"kind": "company", "company_name": "Boulangerie Roy", "branch_id": o.laval}))
                .await;
        let opp = created(&o.admin, "/api/v1/opportunities", json!({"customer_id": customer["id"], "branch_id": o.laval})).await;
        let oid = opp["id"].as_i64().unwrap();

        // Assigned by the administrator: the rep gets one notification (and one email), the
        // administrator none; its text is the email's subject, in the rep's language.
        let (s, b) = o.admin.send("PATCH", &format!("/api/v1/opportunities/{oid}"), Some(json!({"owner_id": rep}))).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(notes(&app, rep, "opportunity_assigned").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM notifications").await, 1, "nobody else");
        let (text, subject): (String, String) = sqlx::query_as(
            "SELECT n.text, e.subject FROM notifications n JOIN emails e ON e.event = n.event AND e.entity_id = n.entity_id \
             WHERE n.user_id = $1",
        )
        .bind(rep)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        assert_eq!(text, subject);
        let rep_api = app.api(&app.token_for(rep).await);
        let (s, inbox) = rep_api.get("/api/v1/me/inbox").await;
        assert_eq!(s, 200, "{inbox}");
        assert_eq!(inbox["unread"], 1);
        assert_eq!(inbox["items"][0]["entity_type"], "opportunity");
        assert_eq!(inbox["items"][0]["entity_id"], oid);
        assert!(inbox["items"][0]["read_at"].is_null());

        // The actor assigning to themselves: nothing.
        o.admin.send("PATCH", &format!("/api/v1/opportunities/{oid}"), Some(json!({"owner_id": o.admin_id}))).await;
        assert_eq!(notes(&app, o.admin_id, "opportunity_assigned").await, 0);
        // The rep no longer sees that opportunity: its notification leaves their bell and list
        // (its text names the customer), though it is still stored.
        let (s, inbox) = rep_api.get("/api/v1/me/inbox").await;
        assert_eq!(s, 200, "{inbox}");
        assert_eq!(inbox["unread"], 0, "{inbox}");
        assert_eq!(inbox["items"].as_array().map(Vec::len), Some(0), "{inbox}");
        assert_eq!(notes(&app, rep, "opportunity_assigned").await, 1);

        // A user who turned the event off gets neither the email nor the notification.
        let quiet_api = app.api(&app.token_for(quiet).await);
        let (s, b) = quiet_api.send("PUT", "/api/v1/me/notifications", Some(json!({"events": {"opportunity_assigned": false}}))).await;
        assert_eq!(s, 200, "{b}");
        let emails_before = emails(&app, "opportunity_assigned").await;
        let (s, b) = o.admin.send("PATCH", &format!("/api/v1/opportunities/{oid}"), Some(json!({"owner_id": quiet}))).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(notes(&app, quiet, "opportunity_assigned").await, 0);
        assert_eq!(emails(&app, "opportunity_assigned").await, emails_before);

        // A new customer's lead routed to the branch's representative who wants it (round robin
        // between rep and quiet: two leads, one notification for rep, none for quiet).
        for n in 0..2 {
            let lead =
                json!({"first_name": "Client", "last_name": format!("N{n}"), "email": format!("n{n}@exemple.ca"), "branch_id": o.laval});
            created(&o.admin, "/api/v1/leads", lead).await;
        }
        let routed_to_rep = app
            .count(&format!("SELECT COUNT(*) FROM opportunities WHERE owner_id = {rep} AND id IN (SELECT opportunity_id FROM leads)"))
            .await;
        assert!(routed_to_rep >= 1, "round robin between the two");
        assert_eq!(notes(&app, rep, "opportunity_assigned").await, 1 + routed_to_rep, "the assignment and each lead routed to rep");
        assert_eq!(notes(&app, quiet, "opportunity_assigned").await, 0);

        // The queue: the BDC group hears of it, each agent once.
        let a1 = app.user("a1@t.fr", "agent_bdc", Some(o.laval)).await;
        let a2 = app.user("a2@t.fr", "agent_bdc", Some(o.laval)).await;
        created(&o.admin, "/api/v1/groups", json!({"name": "BDC", "description": "", "members": [a1, a2], "org_unit_id": null})).await;
        let (s, b) = o.admin.send("PATCH", "/api/v1/settings", Some(json!({"leads.routing": "queue"}))).await;
        assert_eq!(s, 200, "{b}");
        created(
            &o.admin,
            "/api/v1/leads",
            json!({"first_name": "Client", "last_name": "Q", "email": "q@exemple.ca", "branch_id": o.laval}),
        )
        .await;
        assert_eq!((notes(&app, a1, "lead_queued").await, notes(&app, a2, "lead_queued").await), (1, 1));
        app
    })
    .await;
}

#[tokio::test]
async fn a_customer_message_a_call_due_and_a_breached_service_level_notify_the_owner() {
    each_backend(|app| async move {
        let o = org(&app).await;
        let rep = app.user("rep@t.fr", "representant", Some(o.ventes_laval)).await;
        let agent = app.user("agent@t.fr", "agent_support", Some(o.laval)).await;
        let customer = created(
            &o.admin,
            "/api/v1/customers",
            json!({"kind": "company", "company_name": "Boulangerie Roy", "email": "roy@exemple.ca", "branch_id": o.laval}),
        )
        .await;

        // A call due: the reminder job notifies its owner (nobody caused it), once.
        let rep_api = app.api(&app.token_for(rep).await);
        let opp =
            created(&o.admin, "/api/v1/opportunities", json!({"customer_id": customer["id"], "branch_id": o.laval, "owner_id": rep})).await;
        let zone = carnet::settings::zone(&app.state.db).await.unwrap();
        let due = app.now() + 10 * 60_000;
        created(
            &rep_api,
            "/api/v1/calls",
            json!({"opportunity_id": opp["id"], "date": zone.date(due), "time": zone.time(due), "subject": "Rappeler"}),
        )
        .await;
        let ctx = app.state.job_context();
        carnet::jobs::run_now(&ctx, &app.state.jobs, carnet::sales::calls::REMINDER_JOB).await.unwrap().unwrap();
        carnet::jobs::run_now(&ctx, &app.state.jobs, carnet::sales::calls::REMINDER_JOB).await.unwrap().unwrap();
        assert_eq!(emails(&app, "call_reminder").await, 1);
        assert_eq!(notes(&app, rep, "call_reminder").await, 1);

        // A customer's message on the agent's request (by email, as inbound mail lands it).
        let agent_api = app.api(&app.token_for(agent).await);
        let r = created(&agent_api, "/api/v1/service-requests", json!({"customer_id": customer["id"], "request_type": "panne"})).await;
        let rid = r["id"].as_i64().unwrap();
        assert_eq!(r["owner_id"], agent, "{r}");
        let author = carnet::service::messages::Author::Email { name: "Roy".into(), email: "roy@exemple.ca".into() };
        carnet::service::messages::post(
            &app.state.db,
            &carnet::access::Actor::system(),
            app.now(),
            rid,
            &author,
            "Le four chauffe.",
            false,
        )
        .await
        .unwrap();
        assert_eq!(notes(&app, agent, "request_message_received").await, 1);
        // The agent's own message to the customer notifies no staff member.
        let staff = carnet::service::messages::Author::Staff { user_id: agent, name: "Agent".into() };
        let actor = carnet::access::Actor { id: Some(agent), name: "Agent".into(), request_id: None };
        carnet::service::messages::post(&app.state.db, &actor, app.now(), rid, &staff, "Merci.", true).await.unwrap();
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM notifications WHERE user_id = {agent}")).await, 1);
        // Turned off: no more.
        let (s, b) = agent_api.send("PUT", "/api/v1/me/notifications", Some(json!({"events": {"request_message_received": false}}))).await;
        assert_eq!(s, 200, "{b}");
        carnet::service::messages::post(&app.state.db, &carnet::access::Actor::system(), app.now(), rid, &author, "Encore.", false)
            .await
            .unwrap();
        assert_eq!(notes(&app, agent, "request_message_received").await, 1);

        // A service level breached: its owner is told (and no one else: no escalation group).
        let (s, b) = o
            .admin
            .send(
                "PUT",
                "/api/v1/service-levels",
                Some(
                    json!({"targets": [{"request_type": "panne", "priority": "haute", "first_update_minutes": 60, "close_minutes": 600}]}),
                ),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        let r = created(
            &agent_api,
            "/api/v1/service-requests",
            json!({"customer_id": customer["id"], "request_type": "panne", "priority": "haute"}),
        )
        .await;
        let due = r["first_update_due_at"].as_i64().expect("a due time");
        app.clock.set(due + 60_000);
        carnet::service::sla::watch(&app.state.db, app.now()).await.unwrap();
        assert_eq!(notes(&app, agent, "sla_breached").await, 1);
        carnet::service::sla::watch(&app.state.db, app.now()).await.unwrap();
        assert_eq!(notes(&app, agent, "sla_breached").await, 1, "once");
        assert_eq!(app.count("SELECT COUNT(*) FROM notifications WHERE event = 'sla_breached'").await, 1);
        app
    })
    .await;
}

#[tokio::test]
async fn a_meeting_notifies_its_rep_and_participants_but_not_who_booked_it() {
    each_backend(|app| async move {
        let o = org(&app).await;
        let rep = app.user("rep@t.fr", "representant", Some(o.ventes_laval)).await;
        let colleague = app.user("colleague@t.fr", "representant", Some(o.ventes_laval)).await;
        let customer = created(&o.admin, "/api/v1/customers", json!({"kind": "company", "company_name": "Roy", "branch_id": o.laval})).await;
        let opp = created(&o.admin, "/api/v1/opportunities", json!({"customer_id": customer["id"], "branch_id": o.laval, "owner_id": rep})).await;
        let zone = carnet::settings::zone(&app.state.db).await.unwrap();
        let date = zone.date(app.now() + 86_400_000);
        let meeting = |users: Vec<i64>| {
            json!({"opportunity_id": opp["id"], "kind": "inventaire", "date": date, "start_time": "10:00", "end_time": "11:00", "user_ids": users})
        };
        // Booked by the administrator: the file's rep and the colleague taking part, once each.
        let m = created(&o.admin, "/api/v1/meetings", meeting(vec![colleague])).await;
        assert_eq!((notes(&app, rep, "meeting_confirmation").await, notes(&app, colleague, "meeting_confirmation").await), (1, 1));
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM notifications WHERE user_id = {}", o.admin_id)).await, 0);
        let link: String = sqlx::query_scalar("SELECT entity_type FROM notifications WHERE user_id = $1 AND event = 'meeting_confirmation'")
            .bind(rep)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        assert_eq!((link.as_str(), carnet::inbox::record_path(&link, m["id"].as_i64().unwrap())), ("meeting", Some(format!("/meetings/{}", m["id"]))));
        // Booked by the rep himself: he is not told of his own booking.
        let rep_api = app.api(&app.token_for(rep).await);
        created(&rep_api, "/api/v1/meetings", meeting(vec![])).await;
        assert_eq!(app.count("SELECT COUNT(*) FROM meetings").await, 2);
        assert_eq!((notes(&app, rep, "meeting_confirmation").await, notes(&app, colleague, "meeting_confirmation").await), (1, 1));
        app
    })
    .await;
}

#[tokio::test]
async fn the_bell_the_list_and_opening_a_notification_are_the_readers_alone() {
    each_backend(|app| async move {
        let o = org(&app).await;
        let rep = app.user("rep@t.fr", "representant", Some(o.ventes_laval)).await;
        let other = app.user("other@t.fr", "representant", Some(o.ventes_laval)).await;
        let customer =
            created(&o.admin, "/api/v1/customers", json!({"kind": "company", "company_name": "Roy", "branch_id": o.laval})).await;
        let mut ids = Vec::new();
        for owner in [rep, other, rep] {
            let opp = created(&o.admin, "/api/v1/opportunities", json!({"customer_id": customer["id"], "branch_id": o.laval})).await;
            o.admin.send("PATCH", &format!("/api/v1/opportunities/{}", opp["id"]), Some(json!({"owner_id": owner}))).await;
            ids.push(opp["id"].as_i64().unwrap());
        }
        let note_of = |user: i64, opp: i64| format!("SELECT id FROM notifications WHERE user_id = {user} AND entity_id = {opp}");
        let others: i64 = app.count(&note_of(other, ids[1])).await;
        let mine: i64 = app.count(&note_of(rep, ids[0])).await;

        // The bell on every page: 2 unread.
        let s = app.login("rep@t.fr", PASSWORD).await.unwrap();
        let (_, home) = s.get_text("/").await;
        assert!(home.contains("id=\"bell-count\" aria-hidden=\"true\">2<"), "{}", home.split("usermenu").nth(1).unwrap_or(&home));
        // The list: the reader's own, newest first, unread emphasised.
        let (status, list) = s.get_text("/notifications").await;
        assert_eq!(status, 200);
        assert_eq!(list.matches("<li class=\"unread\"").count(), 2, "{list}");
        let newest: i64 = app.count(&note_of(rep, ids[2])).await;
        let at = |id: i64| list.find(&format!("href=\"/notifications/{id}\"")).unwrap_or_else(|| panic!("{id} listed"));
        assert!(at(newest) < at(mine), "newest first");
        assert!(!list.contains(&format!("href=\"/notifications/{others}\"")), "another user's notification is not listed");

        // Another user's notification: not found, page and API alike, and still unread.
        assert_eq!(s.get(&format!("/notifications/{others}")).await.status(), 404);
        let rep_api = app.api(&app.token_for(rep).await);
        let (st, _) = rep_api.send("POST", &format!("/api/v1/me/inbox/{others}/read"), None).await;
        assert_eq!(st, 404);
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM notifications WHERE id = {others} AND read_at IS NULL")).await, 1);
        let (_, inbox) = rep_api.get("/api/v1/me/inbox").await;
        assert_eq!(inbox["items"].as_array().unwrap().len(), 2, "{inbox}");
        assert!(inbox["items"].as_array().unwrap().iter().all(|n| n["id"] != others));

        // Opening one: read, and on to its record; the bell drops to 1.
        let r = s.get(&format!("/notifications/{mine}")).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"].to_str().unwrap(), format!("/opportunities/{}", ids[0]));
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM notifications WHERE id = {mine} AND read_at IS NOT NULL")).await, 1);
        let (_, home) = s.get_text("/").await;
        assert!(home.contains("id=\"bell-count\" aria-hidden=\"true\">1<"));

        // A record the user no longer sees: read, back to the list with a notice.
        o.admin.send("PATCH", &format!("/api/v1/opportunities/{}", ids[2]), Some(json!({"owner_id": other}))).await;
        let latest: i64 = app.count(&note_of(rep, ids[2])).await;
        let r = s.get(&format!("/notifications/{latest}")).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"].to_str().unwrap(), "/notifications?notice=notice.inbox_gone");

        // Mark all read (the API), for the caller alone.
        let (st, b) = app.api(&app.token_for(other).await).send("POST", "/api/v1/me/inbox/read-all", None).await;
        assert_eq!((st.as_u16(), b["marked"].as_i64()), (200, Some(2)), "{b}");
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM notifications WHERE user_id = {rep} AND read_at IS NULL")).await, 0);
        let (_, home) = s.get_text("/").await;
        assert!(!home.contains("bell-count"), "no badge once all is read");
        // The page's "mark all read" form.
        assert_eq!(s.post("/notifications/read-all", &[]).await.status(), 303);

        // The housekeeping removes notifications read 90 days ago, keeps the others.
        sqlx::query("UPDATE notifications SET read_at = $1 WHERE id = $2")
            .bind(app.now() - carnet::inbox::KEEP_READ_MS - 1)
            .bind(mine)
            .execute(&app.state.db.pool)
            .await
            .unwrap();
        let total = app.count("SELECT COUNT(*) FROM notifications").await;
        carnet::jobs::run_now(&app.state.job_context(), &app.state.jobs, carnet::wiring::HOUSEKEEPING).await.unwrap().unwrap();
        assert_eq!(app.count("SELECT COUNT(*) FROM notifications").await, total - 1);
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM notifications WHERE id = {mine}")).await, 0);
        app
    })
    .await;
}

/// The bell's count is one small indexed range: timed over 10,000 notifications of one user
/// (1,500 unread) among 100,000, on both backends; it stays a few milliseconds.
#[tokio::test]
async fn the_unread_count_is_cheap() {
    each_backend(|app| async move {
        let o = org(&app).await;
        let rep = app.user("rep@t.fr", "representant", Some(o.ventes_laval)).await;
        let many = app.user("many@t.fr", "representant", Some(o.ventes_laval)).await;
        let mut tx = app.state.db.begin().await.unwrap();
        for batch in 0..100 {
            let mut sql =
                String::from("INSERT INTO notifications (user_id, event, entity_type, entity_id, text, created_at, read_at) VALUES ");
            for i in 0..1000 {
                let n = batch * 1000 + i;
                let user = if n % 10 == 0 { rep } else { many };
                let read = if user == rep && n % 1000 < 150 { "NULL" } else { "1" };
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("({user}, 'opportunity_assigned', 'opportunity', {n}, 'x', {n}, {read})"));
            }
            sqlx::query(&sql).execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
        carnet::db::analyze(&app.state.db, &[]).await.unwrap();
        let unread = carnet::inbox::unread_count(&app.state.db, rep, carnet::db::Sql::new("1 = 1")).await.unwrap();
        assert_eq!(unread, 100, "counted up to 100 of 1,500");
        assert_eq!(carnet::inbox::badge(unread), "99+");
        let start = std::time::Instant::now();
        for _ in 0..100 {
            carnet::inbox::unread_count(&app.state.db, rep, carnet::db::Sql::new("1 = 1")).await.unwrap();
        }
        let each = start.elapsed() / 100;
        println!("{:?}: unread count {:?} per call", app.backend, each);
        assert!(each < std::time::Duration::from_millis(20), "{each:?}");
        app
    })
    .await;
}
