//! Sales over HTTP, on both backends: the status workflow and its effects, the 8-week expiry
//! and the lead rule across their boundaries (injected clock), meetings and their
//! invitations, calls, open files across departments.

mod common;

use common::{each_backend, Api, TestApp};
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;

/// The expirations' history rows (migration 38: each expiration is one, with an event id taken
/// from the change history's ids and given to no other event), and any written the old way.
const EXPIRY_HISTORY_ROWS: &str = "SELECT (SELECT COUNT(DISTINCT x.audit_id) FROM opportunity_expirations x \
     WHERE x.audit_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.id = x.audit_id)) \
     + (SELECT COUNT(*) FROM audit_events WHERE field = 'expired')";

struct Setup {
    admin: Api,
    rep: Api,
    rep_id: i64,
    branch: i64,
}

async fn setup(app: &TestApp) -> Setup {
    let company = app.unit("Groupe Auto", "company", None).await;
    let branch = app.unit("Laval", "branch", Some(company)).await;
    let admin = app.user("admin@t.fr", "administrateur", None).await;
    let rep_id = app.user("rep@t.fr", "representant", Some(branch)).await;
    Setup { admin: app.api(&app.token_for(admin).await), rep: app.api(&app.token_for(rep_id).await), rep_id, branch }
}

async fn customer(api: &Api, first: &str, phone: &str, extra: Value) -> i64 {
    let mut body = json!({"kind": "person", "first_name": first, "last_name": "Tremblay", "phone": phone});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (s, c) = api.send("POST", "/api/v1/customers", Some(body)).await;
    assert_eq!(s, 201, "{c}");
    c["id"].as_i64().unwrap()
}

async fn opportunity(api: &Api, customer_id: i64, extra: Value) -> Value {
    let mut body = json!({"customer_id": customer_id});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (s, o) = api.send("POST", "/api/v1/opportunities", Some(body)).await;
    assert_eq!(s, 201, "{o}");
    o
}

#[tokio::test]
async fn status_changes_follow_the_table_and_run_their_effects() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let cust = customer(&s.rep, "Hélène", "514 555-0101", json!({"owner_id": s.rep_id, "branch_id": s.branch})).await;
        let o = opportunity(&s.rep, cust, json!({"lead_type": "phone_up"})).await;
        let id = o["id"].as_i64().unwrap();
        assert_eq!(o["status"], "en_traitement");
        assert_eq!(o["name"], "Hélène Tremblay", "named after the customer");
        assert!(o.get("expired").is_none(), "the expired flag is for administrators only: {o}");
        let (_, a) = s.admin.get(&format!("/api/v1/opportunities/{id}")).await;
        assert_eq!(a["expired"], false);
        let path = format!("/api/v1/opportunities/{id}");
        // Delivery before a sale: refused, nothing changed.
        let (st, b) = s.rep.send("PATCH", &path, Some(json!({"status": "livre"}))).await;
        assert_eq!(st, 422, "{b}");
        assert!(b["error"]["fields"]["status"].is_string(), "{b}");
        // The system's fields are not writable.
        for field in ["expired", "sale_date", "delivery_date"] {
            let (st, b) = s.admin.send("PATCH", &path, Some(json!({field: null}))).await;
            assert_eq!(st, 422, "{field}: {b}");
        }
        let (st, b) = s.admin.send("PATCH", &path, Some(json!({"expired": true}))).await;
        assert_eq!(st, 422, "{b}");
        // A status the rep has no right for (the trash is for BDC agents and managers).
        let (st, _) = s.rep.send("PATCH", &path, Some(json!({"status": "invalide_bdc", "name": "Changed"}))).await;
        assert_eq!(st, 422);
        let (_, cur) = s.rep.get(&path).await;
        assert_eq!(
            (cur["status"].as_str(), cur["name"].as_str()),
            (Some("en_traitement"), Some("Hélène Tremblay")),
            "nothing half-written"
        );
        // Sold: the sale date; delivered: the delivery date.
        app.clock.advance(3_600_000);
        let (st, b) = s.rep.send("PATCH", &path, Some(json!({"status": "pris_en_charge"}))).await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["sale_date"], carnet::clock::rfc3339(app.now()));
        assert!(b["delivery_date"].is_null());
        let (_, b) = s.rep.send("PATCH", &path, Some(json!({"status": "vendu_non_livre"}))).await;
        assert_eq!(b["status"], "vendu_non_livre");
        let (st, b) = s.rep.send("PATCH", &path, Some(json!({"status": "livre"}))).await;
        assert_eq!(st, 200, "{b}");
        assert!(b["delivery_date"].is_string());
        let (_, h) = s.rep.get(&format!("{path}/history")).await;
        let fields: Vec<&str> = h["items"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
        assert!(fields.contains(&"status") && fields.contains(&"sale_date") && fields.contains(&"delivery_date"), "{fields:?}");
        let (_, n) = s.rep.get(&format!("{path}/notes")).await;
        assert!(n["items"].as_array().unwrap().iter().any(|x| x["kind"] == "status"));

        // Lost by the BDC: the automatic follow-up call for the owner.
        let o2 = opportunity(&s.admin, cust, json!({"owner_id": s.rep_id, "branch_id": s.branch})).await;
        let id2 = o2["id"].as_i64().unwrap();
        let (st, _) = s.admin.send("PATCH", &format!("/api/v1/opportunities/{id2}"), Some(json!({"status": "perdu_bdc"}))).await;
        assert_eq!(st, 200);
        let (_, tasks) = s.rep.get("/api/v1/calls?days=40").await;
        let auto: Vec<&Value> = tasks["items"].as_array().unwrap().iter().filter(|c| c["opportunity_id"] == id2).collect();
        assert_eq!(auto.len(), 1, "{tasks}");
        assert_eq!(auto[0]["automatic"], true);
        assert_eq!(auto[0]["due_at"], app.now() + 30 * DAY);

        // Invalid: the trash. Gone from lists, search, board and detail; an administrator restores it.
        let bdc = app.user("bdc@t.fr", "agent_bdc", Some(s.branch)).await;
        let bdc = app.api(&app.token_for(bdc).await);
        let (st, b) = bdc.send("PATCH", &format!("/api/v1/opportunities/{id2}"), Some(json!({"status": "invalide_bdc"}))).await;
        assert_eq!(st, 200, "{b}");
        let (st, _) = bdc.get(&format!("/api/v1/opportunities/{id2}")).await;
        assert_eq!(st, 404);
        for api in [&s.admin, &s.rep, &bdc] {
            let (_, l) = api.get("/api/v1/opportunities?q=helene").await;
            assert!(l["items"].as_array().unwrap().iter().all(|x| x["id"] != id2), "{l}");
            let (_, b) = api.get("/api/v1/opportunities/board").await;
            assert!(!b.to_string().contains(&format!("\"id\":{id2},")), "trashed card on the board");
        }
        let (_, t) = s.admin.get("/api/v1/opportunities/trash").await;
        assert_eq!(t["items"][0]["id"], id2);
        let (st, _) = bdc.get("/api/v1/opportunities/trash").await;
        assert_eq!(st, 403);
        let (st, _) = s.admin.send("PATCH", &format!("/api/v1/opportunities/{id2}"), Some(json!({"status": "contacte"}))).await;
        assert_eq!(st, 404, "a trashed opportunity is not there until restored");
        // Restoring is filtered by visibility too: a unit-scoped role with the right, in another unit.
        let elsewhere = app.unit("Ailleurs", "company", None).await;
        let (st, role) = s
            .admin
            .send("POST", "/api/v1/roles", Some(json!({"code": "corbeille", "name_fr": "C", "name_en": "T", "scope": "unit", "rights": ["opportunities.read", "opportunities.restore"]})))
            .await;
        assert_eq!(st, 201, "{role}");
        let keeper = app.user("keeper@t.fr", "corbeille", Some(elsewhere)).await;
        let keeper = app.api(&app.token_for(keeper).await);
        let (_, t) = keeper.get("/api/v1/opportunities/trash").await;
        assert!(t["items"].as_array().unwrap().is_empty());
        let (st, _) = keeper.send("POST", &format!("/api/v1/opportunities/{id2}/restore"), None).await;
        assert_eq!(st, 404);
        let (st, r) = s.admin.send("POST", &format!("/api/v1/opportunities/{id2}/restore"), None).await;
        assert_eq!(st, 200, "{r}");
        assert_eq!(r["status"], "en_traitement");
        let (st, _) = s.rep.get(&format!("/api/v1/opportunities/{id2}")).await;
        assert_eq!(st, 200);
        app
    })
    .await;
}

#[tokio::test]
async fn expiry_applies_after_eight_weeks_to_non_exempt_statuses_once() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let statuses: Vec<&str> = vec![
            "en_traitement",
            "reponse_envoyee",
            "contacte",
            "rdv_cedule",
            "rdv_present",
            "pris_en_charge",
            "vendu_non_livre",
            "suivi_long_terme",
            "perdu_salle",
        ];
        let mut ids = Vec::new();
        for (i, st) in statuses.iter().enumerate() {
            let cust = customer(&s.admin, "Client", &format!("514 555-02{i:02}"), json!({})).await;
            let o = opportunity(&s.admin, cust, json!({})).await;
            let id = o["id"].as_i64().unwrap();
            if *st != "en_traitement" {
                let (code, b) = s.admin.send("PATCH", &format!("/api/v1/opportunities/{id}"), Some(json!({"status": st}))).await;
                assert_eq!(code, 200, "{st}: {b}");
            }
            ids.push((id, *st));
        }
        let created = app.now();
        let expired = |app: &TestApp| {
            let db = app.state.db.clone();
            async move {
                let rows: Vec<i64> = sqlx::query_scalar("SELECT opportunity_id FROM opportunity_expirations ORDER BY opportunity_id")
                    .fetch_all(&db.pool)
                    .await
                    .unwrap();
                rows
            }
        };
        // 55 days 23 hours: nothing.
        app.clock.set(created + 56 * DAY - 3_600_000);
        assert_eq!(carnet::sales::expiry::sweep(&app.state.db, app.now()).await.unwrap(), 0);
        assert!(expired(&app).await.is_empty());
        // 56 days: every status but the exempt ones.
        app.clock.set(created + 56 * DAY);
        let n = carnet::sales::expiry::sweep(&app.state.db, app.now()).await.unwrap();
        let exempt = ["pris_en_charge", "vendu_non_livre", "suivi_long_terme"];
        let want: Vec<i64> = ids.iter().filter(|(_, st)| !exempt.contains(st)).map(|(id, _)| *id).collect();
        assert_eq!(n as usize, want.len());
        assert_eq!(expired(&app).await, want);
        // Each its own history row (migration 38), with an event id of its own.
        assert_eq!(app.count(EXPIRY_HISTORY_ROWS).await, want.len() as i64);
        // Idempotent: a second run changes nothing, history included.
        let audit_before = app.count("SELECT COUNT(*) FROM audit_events").await;
        assert_eq!(carnet::sales::expiry::sweep(&app.state.db, app.now() + DAY).await.unwrap(), 0);
        assert_eq!(app.count("SELECT COUNT(*) FROM audit_events").await, audit_before);
        assert_eq!(app.count(EXPIRY_HISTORY_ROWS).await, want.len() as i64);
        // The exempt flag is configuration: an administrator makes "Contacté" exempt; a later
        // opportunity in that status does not expire, one in "En traitement" does.
        let (_, items) = s.admin.get("/api/v1/lists/opportunity_status/items").await;
        let contacte = items["items"].as_array().unwrap().iter().find(|i| i["code"] == "contacte").unwrap().clone();
        let (st, b) = s
            .admin
            .send(
                "PATCH",
                &format!("/api/v1/lists/opportunity_status/items/{}", contacte["id"]),
                Some(json!({"label_fr": contacte["label_fr"], "label_en": contacte["label_en"], "position": contacte["position"], "active": true, "flags": ["expiry_exempt"]})),
            )
            .await;
        assert_eq!(st, 200, "{b}");
        let later = app.now();
        let c1 = customer(&s.admin, "Tardif", "514 555-0290", json!({})).await;
        let exempted = opportunity(&s.admin, c1, json!({"status": "contacte"})).await["id"].as_i64().unwrap();
        let c2 = customer(&s.admin, "Tardive", "514 555-0291", json!({})).await;
        let plain = opportunity(&s.admin, c2, json!({})).await["id"].as_i64().unwrap();
        app.clock.set(later + 56 * DAY);
        // Two sweeps at once (two processes): each opportunity expires once, with one history row.
        let audit_before = app.count(EXPIRY_HISTORY_ROWS).await;
        let (a, b) = tokio::join!(carnet::sales::expiry::sweep(&app.state.db, app.now()), carnet::sales::expiry::sweep(&app.state.db, app.now()));
        assert_eq!(a.unwrap() + b.unwrap(), 1);
        assert_eq!(app.count(EXPIRY_HISTORY_ROWS).await, audit_before + 1);
        let now_expired = expired(&app).await;
        assert!(now_expired.contains(&plain) && !now_expired.contains(&exempted));
        // Through the job registry too (what the daily schedule and the admin button run).
        let ctx = app.state.job_context();
        let r = carnet::jobs::run_now(&ctx, &app.state.jobs, carnet::sales::expiry::JOB).await.unwrap().unwrap();
        assert!(r.starts_with("0 "), "{r}");
        // Never cleared: moving an expired opportunity to an exempt status keeps the flag.
        let first = want[0];
        assert!(r.contains("opportunities expired"), "{r}");
        let (st, b) = s.admin.send("PATCH", &format!("/api/v1/opportunities/{first}"), Some(json!({"status": "suivi_long_terme"}))).await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["expired"], true);
        // In the history for administrators, in its place: after the creation, before the
        // later change of status; paged one event at a time, each event once, in that order.
        let (_, h) = s.admin.get(&format!("/api/v1/opportunities/{first}/history")).await;
        let items = h["items"].as_array().unwrap().clone();
        let at = |f: &dyn Fn(&Value) -> bool| items.iter().position(f).unwrap_or_else(|| panic!("{h}"));
        let expiry = at(&|e| e["field"] == "expired" && e["new_value"] == "true" && e["actor_name"] == "system" && e["action"] == "expire");
        let later_status = at(&|e| e["field"] == "status" && e["new_value"] == "suivi_long_terme");
        let creation = at(&|e| e["action"] == "create");
        assert!(later_status < expiry && expiry < creation, "{h}");
        let mut paged = Vec::new();
        let mut before = String::new();
        loop {
            let (st, p) = s.admin.get(&format!("/api/v1/opportunities/{first}/history?limit=1{before}")).await;
            assert_eq!(st, 200, "{p}");
            paged.extend(p["items"].as_array().unwrap().clone());
            match p["next_cursor"].as_str() {
                Some(c) => before = format!("&before={c}"),
                None => break,
            }
        }
        assert_eq!(paged, items);
        let mgr = app.user("dir@t.fr", "directeur_ventes", None).await;
        sqlx::query("UPDATE roles SET scope = 'all' WHERE code = 'directeur_ventes'").execute(&app.state.db.pool).await.unwrap();
        let mgr = app.api(&app.token_for(mgr).await);
        let (_, h) = mgr.get(&format!("/api/v1/opportunities/{first}/history")).await;
        assert!(h["items"].as_array().unwrap().iter().all(|e| e["field"] != "expired"), "{h}");
        let (_, o) = mgr.get(&format!("/api/v1/opportunities/{first}")).await;
        assert!(o.get("expired").is_none());
        app
    })
    .await;
}

/// The sweep's ranges taken by two workers at once (two connections on PostgreSQL; on SQLite the
/// second queues for the write lock), in many small ranges: the same expirations as the rule
/// says, each with one history row, and the dashboard's figures exact, although both workers
/// upsert the same figure rows (several owners and branches, one day). Then two such sweeps
/// at once (four transactions side by side on PostgreSQL): each opportunity once.
#[tokio::test]
async fn expiry_in_ranges_on_two_connections_expires_each_once() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let company = app.count(&format!("SELECT parent_id FROM org_units WHERE id = {}", s.branch)).await;
        let other = app.unit("Lévis", "branch", Some(company)).await;
        let rep2 = app.user("rep2@t.fr", "representant", Some(other)).await;
        let cust = customer(&s.admin, "Client", "514 555-0300", json!({})).await;
        let db = app.state.db.clone();
        // Opportunities written set-wise, one every hour back from now: 5 % in the trash, some
        // exempt, three owners (one none) over two branches. Each call adds `n` more.
        let load = |n: i64, newest: i64| {
            let db = db.clone();
            let (rep, branch) = (s.rep_id, s.branch);
            async move {
                let sql = format!(
                    "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n}) \
                     INSERT INTO opportunities (name, customer_id, lead_type, status, owner_id, branch_id, trashed, created_at, updated_at) \
                     SELECT 'Achat', {cust}, 'internet', \
                     CASE WHEN g % 7 = 0 THEN 'suivi_long_terme' WHEN g % 5 = 0 THEN 'contacte' ELSE 'en_traitement' END, \
                     CASE WHEN g % 3 = 0 THEN NULL WHEN g % 3 = 1 THEN {rep} ELSE {rep2} END, \
                     CASE WHEN g % 3 = 2 THEN {other} ELSE {branch} END, CASE WHEN g % 20 = 0 THEN 1 ELSE 0 END, \
                     {newest} - CAST(g AS BIGINT) * 3600000, {newest} - CAST(g AS BIGINT) * 3600000 FROM s"
                );
                sqlx::query(&sql).execute(&db.pool).await.unwrap();
            }
        };
        let due = |now: i64| {
            let db = db.clone();
            async move {
                let ids: Vec<i64> = sqlx::query_scalar(
                    "SELECT id FROM opportunities WHERE created_at <= $1 AND status NOT IN ('pris_en_charge', 'vendu_non_livre', 'suivi_long_terme') ORDER BY id",
                )
                .bind(now - 56 * DAY)
                .fetch_all(&db.pool)
                .await
                .unwrap();
                ids
            }
        };
        let check = |want: Vec<i64>| {
            let db = db.clone();
            async move {
                let expired: Vec<i64> = sqlx::query_scalar("SELECT opportunity_id FROM opportunity_expirations ORDER BY opportunity_id")
                    .fetch_all(&db.pool)
                    .await
                    .unwrap();
                assert_eq!(expired, want);
                let audited: Vec<i64> =
                    sqlx::query_scalar("SELECT opportunity_id FROM opportunity_expirations WHERE audit_id IS NOT NULL ORDER BY opportunity_id")
                        .fetch_all(&db.pool)
                        .await
                        .unwrap();
                assert_eq!(audited, want, "one history row per expiration");
                let events: i64 = sqlx::query_scalar(EXPIRY_HISTORY_ROWS).fetch_one(&db.pool).await.unwrap();
                assert_eq!(events as usize, want.len(), "each with an event id of its own");
                let differ = carnet::reports::figures::differences(&db).await.unwrap();
                assert!(differ.is_empty(), "{differ:?}");
            }
        };
        // 2 400 hours (100 days) of opportunities, one an hour: those of the 1 057 oldest hours are due.
        let now = app.now();
        load(2400, now).await;
        let want = due(now).await;
        assert!(want.len() > 500, "{}", want.len());
        let swept = carnet::sales::expiry::sweep_with(&db, now, 2, 10).await.unwrap();
        assert_eq!(swept.expired as usize, want.len());
        assert!(swept.batches >= 6, "many ranges: {swept:?}");
        let first = want.len();
        check(want).await;
        // Thirty days later (720 hours more due) and 480 newer opportunities: two sweeps at once.
        let later = now + 30 * DAY;
        load(480, later).await;
        let want = due(later).await;
        let (a, b) = tokio::join!(
            carnet::sales::expiry::sweep_with(&db, later, 2, 10),
            carnet::sales::expiry::sweep_with(&db, later, 2, 10)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!((a.expired + b.expired) as usize, want.len() - first, "{a:?} {b:?}");
        check(want).await;
        app
    })
    .await;
}

async fn lead(app: &TestApp, api: &Api, body: Value, key: Option<&str>) -> (u16, Value) {
    let mut rb = api.client.post(format!("{}/api/v1/leads", app.url)).bearer_auth(&api.token).json(&body);
    if let Some(k) = key {
        rb = rb.header("Idempotency-Key", k);
    }
    let (s, v) = common::json_of(rb.send().await.unwrap()).await;
    (s.as_u16(), v)
}

#[tokio::test]
async fn leads_merge_into_the_live_opportunity_or_open_a_new_one() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        // Bad input: neither a phone nor an email, or an invalid one. Nothing is written.
        let before = app.snapshot().await;
        let (st, b) = lead(&app, &s.admin, json!({"first_name": "Sans", "message": "?"}), None).await;
        assert_eq!(st, 422, "{b}");
        assert!(b["error"]["fields"]["phone"].is_string() && b["error"]["fields"]["email"].is_string());
        let (st, b) = lead(&app, &s.admin, json!({"email": "pas-une-adresse", "phone": "514 555 0300"}), None).await;
        assert_eq!(st, 422, "{b}");
        let (st, _) = lead(&app, &s.admin, json!({"email": "a@b.fr", "lead_type": "pigeon"}), None).await;
        assert_eq!(st, 422);
        assert_eq!(app.snapshot().await, before);

        // An unknown customer: the customer and an opportunity are created.
        let body = json!({"first_name": "Julie", "last_name": "Roy", "email": "julie@exemple.fr", "phone": "514 555-0300",
                          "message": "Le Civic est-il disponible ?", "source": "site web", "stock_number": "A1234"});
        let (st, r) = lead(&app, &s.admin, body.clone(), Some("lead-1")).await;
        assert_eq!(st, 201, "{r}");
        assert_eq!(r["outcome"], "created");
        assert_eq!(r["customer_created"], true);
        let opp = r["opportunity_id"].as_i64().unwrap();
        let cust = r["customer_id"].as_i64().unwrap();
        let created = app.now();
        // The same key again: taken once, same answer.
        let (st, r2) = lead(&app, &s.admin, body.clone(), Some("lead-1")).await;
        assert_eq!(st, 200);
        assert_eq!((r2["opportunity_id"].as_i64(), r2["replayed"].as_bool()), (Some(opp), Some(true)));
        assert_eq!(app.count("SELECT COUNT(*) FROM leads").await, 1);
        // The same new lead delivered twice at once: one customer, one opportunity, one lead.
        let twin = json!({"first_name": "Jumeau", "email": "jumeau@exemple.fr", "message": "deux fois"});
        let (x, y) = tokio::join!(lead(&app, &s.admin, twin.clone(), Some("twin")), lead(&app, &s.admin, twin.clone(), Some("twin")));
        assert!(x.0 < 300 && y.0 < 300, "{x:?} {y:?}");
        assert_eq!(x.1["opportunity_id"], y.1["opportunity_id"]);
        assert_eq!(app.count("SELECT COUNT(*) FROM leads WHERE idempotency_key = 'twin'").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM customers WHERE email = 'jumeau@exemple.fr'").await, 1);
        // Recognised by the phone in another format: merged into the live opportunity.
        app.clock.set(created + 56 * DAY - 3_600_000);
        let (st, r) =
            lead(&app, &s.admin, json!({"phone": "+1 (514) 555 0300", "message": "Rappelez-moi", "lead_type": "sms"}), Some("lead-2"))
                .await;
        assert_eq!(st, 201, "{r}");
        assert_eq!(
            (r["outcome"].as_str(), r["opportunity_id"].as_i64(), r["customer_id"].as_i64()),
            (Some("merged"), Some(opp), Some(cust))
        );
        let (_, n) = s.admin.get(&format!("/api/v1/opportunities/{opp}/notes")).await;
        assert_eq!(n["items"].as_array().unwrap().iter().filter(|x| x["kind"] == "lead").count(), 2);
        // 55 days 23 hours: the sweep leaves it; at 56 days it expires and a lead opens a new one.
        carnet::sales::expiry::sweep(&app.state.db, app.now()).await.unwrap();
        let (_, r) = lead(&app, &s.admin, json!({"email": "JULIE@exemple.fr"}), None).await;
        assert_eq!(r["outcome"], "merged");
        app.clock.set(created + 56 * DAY);
        carnet::sales::expiry::sweep(&app.state.db, app.now()).await.unwrap();
        let (_, r) = lead(&app, &s.admin, json!({"email": "julie@exemple.fr"}), None).await;
        assert_eq!(r["outcome"], "created");
        assert_eq!(r["customer_id"], cust);
        assert_eq!(r["customer_created"], false);
        let newest = r["opportunity_id"].as_i64().unwrap();
        assert_ne!(newest, opp);
        // A trashed opportunity does not take leads either.
        let (st, _) = s.admin.send("PATCH", &format!("/api/v1/opportunities/{newest}"), Some(json!({"status": "invalide_bdc"}))).await;
        assert_eq!(st, 200);
        let (_, r) = lead(&app, &s.admin, json!({"email": "julie@exemple.fr", "lead_type": "clavardage"}), None).await;
        assert_eq!(r["outcome"], "created");
        let (_, o) = s.admin.get(&format!("/api/v1/opportunities/{}", r["opportunity_id"])).await;
        assert_eq!((o["lead_type"].as_str(), o["status"].as_str()), (Some("clavardage"), Some("en_traitement")));
        // A representative cannot take Internet leads without the right... they can: reps hold leads.create.
        let (st, _) = lead(&app, &s.rep, json!({"email": "autre@exemple.fr"}), None).await;
        assert_eq!(st, 201);
        app
    })
    .await;
}

#[tokio::test]
async fn meetings_book_the_opportunity_and_send_invitations() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let member = app.user("dv@t.fr", "representant", Some(s.branch)).await;
        let (st, g) = s.admin.send("POST", "/api/v1/groups", Some(json!({"name": "DV Laval", "org_unit_id": s.branch, "members": [member]}))).await;
        assert_eq!(st, 201, "{g}");
        let (st, _) = s.admin.send("POST", "/api/v1/stock-units", Some(json!({"stock_number": "a1234", "description": "Honda Civic 2024"}))).await;
        assert_eq!(st, 201);
        let (st, b) = s.admin.send("POST", "/api/v1/stock-units", Some(json!({"stock_number": "A1234"}))).await;
        assert_eq!(st, 409, "{b}");
        let cust = customer(&s.rep, "Hélène", "514 555-0400", json!({"owner_id": s.rep_id, "branch_id": s.branch})).await;
        let o = opportunity(&s.rep, cust, json!({})).await;
        let oid = o["id"].as_i64().unwrap();
        let base = json!({"opportunity_id": oid, "kind": "stock", "date": "2026-11-25", "start_time": "10:30", "end_time": "11:30",
                          "stock_numbers": ["A1234"], "location": "Succursale Laval"});
        // Bad input: end before start, unknown stock, virtual without its appointment type.
        let before = app.snapshot().await;
        let mut bad = base.clone();
        bad["end_time"] = json!("10:00");
        let (st, b) = s.rep.send("POST", "/api/v1/meetings", Some(bad)).await;
        assert_eq!(st, 422);
        assert!(b["error"]["fields"]["end_time"].is_string());
        let mut bad = base.clone();
        bad["stock_numbers"] = json!(["ZZZ"]);
        let (st, _) = s.rep.send("POST", "/api/v1/meetings", Some(bad)).await;
        assert_eq!(st, 422);
        let mut bad = base.clone();
        bad["kind"] = json!("virtuel");
        let (st, b) = s.rep.send("POST", "/api/v1/meetings", Some(bad)).await;
        assert_eq!(st, 422);
        assert!(b["error"]["fields"]["appointment_type"].is_string());
        assert_eq!(app.snapshot().await, before);

        let (st, m) = s.rep.send("POST", "/api/v1/meetings", Some(base.clone())).await;
        assert_eq!(st, 201, "{m}");
        assert_eq!(m["subject"], "HÉLÈNE / A1234");
        assert_eq!(m["priority"], "or");
        assert_eq!(m["status"], "planifie");
        assert_eq!(m["category"], "rendez_vous");
        assert_eq!(m["start_at"], carnet::clock::Zone::default().parse_local("2026-11-25", "10:30").unwrap());
        let parts: Vec<String> = m["participants"].as_array().unwrap().iter().map(|p| format!("{}:{}", p["kind"].as_str().unwrap(), p["id"])).collect();
        assert!(parts.contains(&format!("customer:{cust}")) && parts.contains(&format!("user:{}", s.rep_id)), "{parts:?}");
        let (_, o) = s.rep.get(&format!("/api/v1/opportunities/{oid}")).await;
        assert_eq!(o["status"], "rdv_cedule", "booking a meeting books the opportunity");
        let mid = m["id"].as_i64().unwrap();
        // The confirmation: to the branch's group and the rep, with the invitation.
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT event, to_addrs FROM emails WHERE entity_type = 'meeting' AND entity_id = $1 ORDER BY id").bind(mid).fetch_all(&app.state.db.pool).await.unwrap();
        let to: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        assert!(rows.iter().all(|r| r.0 == "meeting_confirmation"), "{rows:?}");
        assert!(to.iter().any(|t| t.contains("dv@t.fr")) && to.iter().any(|t| t.contains("rep@t.fr")), "{to:?}");
        let ics: Vec<u8> = sqlx::query_scalar(
            "SELECT a.content FROM email_attachments a JOIN emails e ON e.id = a.email_id WHERE e.entity_type = 'meeting' AND e.entity_id = $1 ORDER BY a.id LIMIT 1",
        )
        .bind(mid)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        let text = String::from_utf8(ics).unwrap();
        let cal = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes())).next().unwrap().unwrap();
        let e = &cal.events[0].properties;
        let prop = |name: &str| e.iter().find(|p| p.name == name).and_then(|p| p.value.clone()).unwrap_or_default();
        assert_eq!(prop("SEQUENCE"), "0");
        assert_eq!(prop("UID"), m["uid"].as_str().unwrap());
        assert_eq!(prop("DTSTART"), "20261125T153000Z");
        // Moving it sends the update (same UID, next sequence); cancelling sends the CANCEL.
        let mut moved = base.clone();
        moved["start_time"] = json!("14:00");
        moved["end_time"] = json!("15:00");
        let (st, m2) = s.rep.send("PUT", &format!("/api/v1/meetings/{mid}"), Some(moved)).await;
        assert_eq!(st, 200, "{m2}");
        assert_eq!(m2["sequence"], 1);
        let (st, m3) = s.rep.send("POST", &format!("/api/v1/meetings/{mid}/cancel"), None).await;
        assert_eq!(st, 200, "{m3}");
        assert_eq!((m3["status"].as_str(), m3["sequence"].as_i64()), (Some("annule"), Some(2)));
        let (st, _) = s.rep.send("POST", &format!("/api/v1/meetings/{mid}/cancel"), None).await;
        assert_eq!(st, 409);
        let events: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT event FROM emails WHERE entity_type = 'meeting' AND entity_id = $1").bind(mid).fetch_all(&app.state.db.pool).await.unwrap();
        for ev in ["meeting_confirmation", "meeting_updated", "meeting_cancelled"] {
            assert!(events.iter().any(|e| e == ev), "{ev} in {events:?}");
        }
        // Calendars: the rep's and the branch's; a deposit makes it platinum.
        let (_, cal) = s.rep.get(&format!("/api/v1/meetings?from=2026-11-23&days=7&user_id={}", s.rep_id)).await;
        assert_eq!(cal["items"].as_array().unwrap().len(), 1);
        let (_, cal) = s.admin.get(&format!("/api/v1/meetings?from=2026-11-23&days=7&branch_id={}", s.branch)).await;
        assert_eq!(cal["items"].as_array().unwrap().len(), 1);
        let (_, cal) = s.admin.get("/api/v1/meetings?from=2026-11-26&days=7").await;
        assert!(cal["items"].as_array().unwrap().is_empty());
        let mut dep = base.clone();
        dep["kind"] = json!("depot");
        dep["deposit_method"] = json!("stripe");
        let (_, m4) = s.rep.send("POST", "/api/v1/meetings", Some(dep)).await;
        assert_eq!((m4["subject"].as_str(), m4["priority"].as_str()), (Some("DÉPÔT / HÉLÈNE / A1234"), Some("platine")));
        let mut inv = base.clone();
        inv["kind"] = json!("inventaire");
        inv["stock_numbers"] = json!([]);
        inv["priority"] = json!("platine");
        let (_, m5) = s.rep.send("POST", "/api/v1/meetings", Some(inv)).await;
        assert_eq!((m5["subject"].as_str(), m5["priority"].as_str(), m5["priority_overridden"].as_bool()), (Some("HÉLÈNE / INVENTAIRE"), Some("platine"), Some(true)));
        app
    })
    .await;
}

#[tokio::test]
async fn calls_are_the_owners_tasks_with_reminders_and_outcomes() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let cust = customer(&s.rep, "Marc", "514 555-0500", json!({"owner_id": s.rep_id, "branch_id": s.branch})).await;
        let o = opportunity(&s.rep, cust, json!({})).await;
        let oid = o["id"].as_i64().unwrap();
        let zone = carnet::clock::Zone::default();
        let due = app.now() + 10 * 60_000;
        let (date, time) = (zone.date(due), zone.time(due));
        let (st, b) = s
            .rep
            .send("POST", "/api/v1/calls", Some(json!({"opportunity_id": oid, "date": date, "time": "25:00", "subject": "Essai"})))
            .await;
        assert_eq!(st, 422, "{b}");
        let (st, c) = s
            .rep
            .send(
                "POST",
                "/api/v1/calls",
                Some(json!({"opportunity_id": oid, "date": date, "time": time, "subject": "Rappeler pour l'essai"})),
            )
            .await;
        assert_eq!(st, 201, "{c}");
        assert_eq!(c["owner_id"], s.rep_id);
        let cid = c["id"].as_i64().unwrap();
        let (_, tasks) = s.rep.get("/api/v1/calls").await;
        assert_eq!(tasks["items"][0]["id"], cid);
        // Moved to an owner who does not exist: 422 on the field (a foreign-key 500 on PostgreSQL
        // before), the call unchanged.
        let (st, b) = s
            .rep
            .send(
                "PUT",
                &format!("/api/v1/calls/{cid}"),
                Some(json!({"opportunity_id": oid, "date": date, "time": time, "subject": "X", "owner_id": 999_999})),
            )
            .await;
        assert_eq!(st, 422, "{b}");
        assert!(b["error"]["fields"]["owner_id"].is_string(), "{b}");
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM calls WHERE id = {cid} AND subject = 'Rappeler pour l''essai'")).await, 1);
        // The reminder job emails the owner once.
        let ctx = app.state.job_context();
        carnet::jobs::run_now(&ctx, &app.state.jobs, carnet::sales::calls::REMINDER_JOB).await.unwrap().unwrap();
        carnet::jobs::run_now(&ctx, &app.state.jobs, carnet::sales::calls::REMINDER_JOB).await.unwrap().unwrap();
        assert_eq!(app.count("SELECT COUNT(*) FROM emails WHERE event = 'call_reminder'").await, 1);
        // Logged with an outcome: done, in the timeline; not twice.
        let (st, b) = s.rep.send("POST", &format!("/api/v1/calls/{cid}/log"), Some(json!({"outcome": "nope"}))).await;
        assert_eq!(st, 422, "{b}");
        let (st, l) =
            s.rep.send("POST", &format!("/api/v1/calls/{cid}/log"), Some(json!({"outcome": "joint", "comment": "Essai samedi"}))).await;
        assert_eq!(st, 200, "{l}");
        assert_eq!(l["status"], "done");
        let (st, _) = s.rep.send("POST", &format!("/api/v1/calls/{cid}/log"), Some(json!({"outcome": "joint"}))).await;
        assert_eq!(st, 409);
        let (_, n) = s.rep.get(&format!("/api/v1/opportunities/{oid}/notes")).await;
        assert!(n["items"].as_array().unwrap().iter().any(|x| x["kind"] == "call" && x["body"].as_str().unwrap().contains("Essai samedi")));
        let (st, n) = s.rep.send("POST", &format!("/api/v1/opportunities/{oid}/notes"), Some(json!({"body": "   "}))).await;
        assert_eq!(st, 422, "{n}");
        let (st, _) =
            s.rep.send("POST", &format!("/api/v1/opportunities/{oid}/notes"), Some(json!({"body": "Préfère être appelé le soir"}))).await;
        assert_eq!(st, 201);
        app
    })
    .await;
}

#[tokio::test]
async fn open_files_show_every_department_with_details_only_where_visible() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let other_branch = app.unit("Québec", "company", None).await;
        let other = app.user("rep2@t.fr", "representant", Some(other_branch)).await;
        let other_api = app.api(&app.token_for(other).await);
        // The customer belongs to the other rep; the first rep's opportunity is on it too.
        let cust = customer(&other_api, "Lucie", "514 555-0600", json!({"owner_id": other, "branch_id": other_branch})).await;
        opportunity(&s.admin, cust, json!({"owner_id": s.rep_id, "branch_id": s.branch})).await;
        let mine = opportunity(&other_api, cust, json!({})).await;
        let (st, f) = other_api.get(&format!("/api/v1/customers/{cust}/open-files")).await;
        assert_eq!(st, 200, "{f}");
        let items = f["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{f}");
        let hidden = items.iter().find(|x| x["id"] != mine["id"]).unwrap();
        assert_eq!((hidden["visible"].as_bool(), hidden["status"].as_str()), (Some(false), Some("en_traitement")));
        assert!(hidden["owner_name"].is_null() && hidden["name"].is_string());
        let shown = items.iter().find(|x| x["id"] == mine["id"]).unwrap();
        assert_eq!(shown["visible"], true);
        // A customer with files is kept (merge it instead), nothing deleted.
        let (st, b) = s.admin.send("DELETE", &format!("/api/v1/customers/{cust}"), None).await;
        assert_eq!(st, 409, "{b}");
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM customers WHERE id = {cust}")).await, 1);
        // The first rep reads the customer behind his own opportunity (not the other rep's
        // file), and may not change it.
        let (st, f) = s.rep.get(&format!("/api/v1/customers/{cust}/open-files")).await;
        assert_eq!(st, 200);
        let theirs = f["items"].as_array().unwrap().iter().find(|x| x["id"] == mine["id"]).unwrap().clone();
        assert_eq!(theirs["visible"], false, "{f}");
        let (st, _) = s.rep.send("PATCH", &format!("/api/v1/customers/{cust}"), Some(json!({"notes": "x"}))).await;
        assert_eq!(st, 404, "reading through a file gives no right to change the customer");
        app
    })
    .await;
}

#[tokio::test]
async fn calendar_filters_notices_after_fragments_and_line_breaks_in_notes() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let cust = customer(&s.rep, "Hélène", "514 555-0500", json!({"owner_id": s.rep_id, "branch_id": s.branch})).await;
        let o = opportunity(&s.rep, cust, json!({})).await;
        let oid = o["id"].as_i64().unwrap();
        let (st, m) = s
            .rep
            .send(
                "POST",
                "/api/v1/meetings",
                Some(
                    json!({"opportunity_id": oid, "kind": "inventaire", "date": "2026-11-25", "start_time": "10:30", "end_time": "11:30"}),
                ),
            )
            .await;
        assert_eq!(st, 201, "{m}");
        let web = app.login("rep@t.fr", common::PASSWORD).await.expect("login");

        // The calendar's "Apply" with the default values: the empty selects mean "no filter".
        let (st, html) = web.get_text("/calendar?view=week&date=2026-11-25&user_id=&branch_id=").await;
        assert_eq!(st, 200, "{html}");
        assert!(html.contains("Hélène"), "everyone's calendar shows the meeting (the customer's name)");
        let (st, html) = web.get_text(&format!("/calendar?view=week&date=2026-11-25&user_id={}&branch_id=", s.rep_id)).await;
        assert_eq!(st, 200);
        assert!(html.contains("Hélène"));
        assert!(html.contains(&format!("<option value=\"{}\" selected>", s.rep_id)), "the user stays chosen");
        let (st, _) = web.get_text("/calendar?user_id=abc").await;
        assert_eq!(st, 400, "a malformed id is still refused");

        // A note with line breaks: the notice comes back (before the fragment), the lines too.
        let r = web.post(&format!("/opportunities/{oid}/notes"), &[("body", "Première ligne\nDeuxième ligne")]).await;
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(to, format!("/opportunities/{oid}?notice=notice.note_added#activity"));
        let (_, html) = web.get_text(&to).await;
        assert!(html.contains("id=\"notice\">Remarque ajoutée.</div>"), "the success notice is shown");
        assert!(html.contains("<p class=\"prewrap feed-text\">Première ligne\nDeuxième ligne</p>"), "the note keeps its line break");
        let css = app.anon().get(format!("{}/static/app.css", app.url)).send().await.unwrap().text().await.unwrap();
        assert!(css.contains(".prewrap { white-space: pre-wrap;"), "the class the templates use exists");
        app
    })
    .await;
}

#[tokio::test]
async fn sold_not_delivered_always_has_a_sale_date() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let cust = customer(&s.rep, "Hélène", "514 555-0600", json!({"owner_id": s.rep_id, "branch_id": s.branch})).await;
        // Not as a starting status (it would have no sale date); nothing written.
        let before = app.snapshot().await;
        let (st, b) = s.rep.send("POST", "/api/v1/opportunities", Some(json!({"customer_id": cust, "status": "vendu_non_livre"}))).await;
        assert_eq!(st, 422, "{b}");
        assert_eq!(app.snapshot().await, before);
        let o = opportunity(&s.rep, cust, json!({})).await;
        let path = format!("/api/v1/opportunities/{}", o["id"]);
        app.clock.advance(3_600_000);
        let (st, b) = s.rep.send("PATCH", &path, Some(json!({"status": "vendu_non_livre"}))).await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["sale_date"], carnet::clock::rfc3339(app.now()), "straight to sold-not-delivered: the sale date is set");
        let (_, h) = s.rep.get(&format!("{path}/history")).await;
        assert!(h["items"].as_array().unwrap().iter().any(|e| e["field"] == "sale_date"), "audited: {h}");
        // Delivered later: the sale date stays the first one.
        let sold_at = b["sale_date"].clone();
        app.clock.advance(3_600_000);
        let (st, b) = s.rep.send("PATCH", &path, Some(json!({"status": "livre"}))).await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["sale_date"], sold_at);
        app
    })
    .await;
}

#[tokio::test]
async fn every_board_column_is_reachable_with_its_count() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let cust = customer(&s.rep, "Hélène", "514 555-0700", json!({"owner_id": s.rep_id, "branch_id": s.branch})).await;
        let o = opportunity(&s.rep, cust, json!({})).await;
        let (st, _) = s.rep.send("PATCH", &format!("/api/v1/opportunities/{}", o["id"]), Some(json!({"status": "perdu_fi"}))).await;
        assert_eq!(st, 200);
        let web = app.login("rep@t.fr", common::PASSWORD).await.expect("login");
        let (st, html) = web.get_text("/opportunities/board").await;
        assert_eq!(st, 200);
        let (index, board) = html.split_once("id=\"board\"").expect("the board");
        let columns = board.matches("class=\"board-col\"").count();
        assert!(columns >= 12, "{columns} columns");
        // An index above the board links to every column, each with its count.
        for code in ["en_traitement", "livre", "perdu_fi", "perdu_salle"] {
            assert!(board.contains(&format!("id=\"col-{code}\"")), "{code}");
            assert!(index.contains(&format!("href=\"#col-{code}\"")), "{code} in the index");
        }
        assert_eq!(index.matches("board-index-count").count(), columns);
        let perdu_fi = index.split("href=\"#col-perdu_fi\"").nth(1).unwrap();
        assert!(perdu_fi.split("</li>").next().unwrap().contains(">1</span>"), "the lost column counts its card");
        // The board scrolls within the window, its headers stay in view.
        let css = app.anon().get(format!("{}/static/app.css", app.url)).send().await.unwrap().text().await.unwrap();
        let rule = |sel: &str| css.split(&format!("\n{sel} {{")).nth(1).and_then(|r| r.split('}').next()).unwrap_or_default().to_string();
        assert!(rule(".board").contains("overflow: auto") && rule(".board").contains("max-height"), "{}", rule(".board"));
        assert!(rule(".board-col h2").contains("position: sticky"));
        app
    })
    .await;
}

#[tokio::test]
async fn trashing_an_opportunity_cancels_its_coming_meetings_with_the_cancel_invitation() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let cust = customer(&s.rep, "Hélène", "514 555-0800", json!({"owner_id": s.rep_id, "branch_id": s.branch})).await;
        let o = opportunity(&s.rep, cust, json!({})).await;
        let oid = o["id"].as_i64().unwrap();
        let (st, m) = s
            .rep
            .send(
                "POST",
                "/api/v1/meetings",
                Some(
                    json!({"opportunity_id": oid, "kind": "inventaire", "date": "2026-11-25", "start_time": "10:30", "end_time": "11:30"}),
                ),
            )
            .await;
        assert_eq!(st, 201, "{m}");
        let mid = m["id"].as_i64().unwrap();
        let bdc = app.user("bdc@t.fr", "agent_bdc", Some(s.branch)).await;
        let bdc = app.api(&app.token_for(bdc).await);
        let (st, b) = bdc.send("PATCH", &format!("/api/v1/opportunities/{oid}"), Some(json!({"status": "invalide_bdc"}))).await;
        assert_eq!(st, 200, "{b}");
        let (status, sequence): (String, i64) =
            sqlx::query_as("SELECT status, sequence FROM meetings WHERE id = $1").bind(mid).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!((status.as_str(), sequence), ("annule", 1), "the meeting is cancelled, with the next sequence");
        let to: Vec<String> = sqlx::query_scalar(
            "SELECT to_addrs FROM emails WHERE entity_type = 'meeting' AND entity_id = $1 AND event = 'meeting_cancelled'",
        )
        .bind(mid)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
        assert!(to.iter().any(|t| t.contains("rep@t.fr")), "the cancellation goes to the participants: {to:?}");
        let ics: Vec<u8> = sqlx::query_scalar(
            "SELECT a.content FROM email_attachments a JOIN emails e ON e.id = a.email_id \
             WHERE e.entity_type = 'meeting' AND e.entity_id = $1 AND e.event = 'meeting_cancelled' LIMIT 1",
        )
        .bind(mid)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        let text = String::from_utf8(ics).unwrap();
        assert!(text.contains("METHOD:CANCEL") && text.contains(m["uid"].as_str().unwrap()) && text.contains("SEQUENCE:1"), "{text}");
        // Restoring does not bring the meeting back by itself.
        let (st, _) = s.admin.send("POST", &format!("/api/v1/opportunities/{oid}/restore"), None).await;
        assert_eq!(st, 200);
        let status: String =
            sqlx::query_scalar("SELECT status FROM meetings WHERE id = $1").bind(mid).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(status, "annule");
        app
    })
    .await;
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#x27;")
}

#[tokio::test]
async fn sales_emails_are_listed_on_the_opportunity_and_customer_pages_by_visibility() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let other_company = app.unit("Ailleurs", "company", None).await;
        let elsewhere = app.unit("Québec", "branch", Some(other_company)).await;
        let rep2 = app.user("rep2@t.fr", "representant", Some(elsewhere)).await;
        let (st, _) = s.admin.send("POST", "/api/v1/stock-units", Some(json!({"stock_number": "B777", "description": "Civic"}))).await;
        assert_eq!(st, 201);
        let cust = customer(&s.rep, "Hélène", "514 555-0900", json!({"owner_id": s.rep_id, "branch_id": s.branch})).await;
        let mine = opportunity(&s.rep, cust, json!({})).await["id"].as_i64().unwrap();
        let theirs = opportunity(&s.admin, cust, json!({"owner_id": rep2, "branch_id": elsewhere})).await["id"].as_i64().unwrap();
        let book = |oid: i64, kind: &str| {
            let mut b = json!({"opportunity_id": oid, "kind": kind, "date": "2026-11-25", "start_time": "10:30", "end_time": "11:30"});
            if kind == "stock" {
                b["stock_numbers"] = json!(["B777"]);
            }
            b
        };
        let (st, m1) = s.rep.send("POST", "/api/v1/meetings", Some(book(mine, "inventaire"))).await;
        assert_eq!(st, 201, "{m1}");
        let (st, m2) = s.admin.send("POST", "/api/v1/meetings", Some(book(theirs, "stock"))).await;
        assert_eq!(st, 201, "{m2}");
        let subject = |mid: i64| {
            let pool = app.state.db.pool.clone();
            async move {
                let s: String =
                    sqlx::query_scalar("SELECT subject FROM emails WHERE entity_type = 'meeting' AND entity_id = $1 ORDER BY id LIMIT 1")
                        .bind(mid)
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                html_escape(&s)
            }
        };
        let (mine_subject, their_subject) = (subject(m1["id"].as_i64().unwrap()).await, subject(m2["id"].as_i64().unwrap()).await);
        assert_ne!(mine_subject, their_subject);
        let web = app.login("rep@t.fr", common::PASSWORD).await.expect("login");
        let emails = |html: &str| {
            html.split("id=\"record-emails\"").nth(1).unwrap_or_default().split("</section>").next().unwrap_or_default().to_string()
        };
        // The opportunity page shows its emails in its activity feed (issue 21).
        let feed = |html: &str| {
            html.split("id=\"activity\"").nth(1).unwrap_or_default().split("</section>").next().unwrap_or_default().to_string()
        };
        let (st, html) = web.get_text(&format!("/opportunities/{mine}")).await;
        assert_eq!(st, 200);
        let list = feed(&html);
        assert!(list.contains(&mine_subject), "the opportunity page lists its meeting's emails: {list}");
        assert!(!list.contains(&their_subject));
        let (st, html) = web.get_text(&format!("/customers/{cust}")).await;
        assert_eq!(st, 200);
        let list = emails(&html);
        assert!(list.contains(&mine_subject), "the customer page lists the emails of its files: {list}");
        assert!(!list.contains(&their_subject), "not those of a file the user may not see");
        let admin = app.admin_session().await;
        let (_, html) = admin.get_text(&format!("/customers/{cust}")).await;
        let list = emails(&html);
        assert!(list.contains(&mine_subject) && list.contains(&their_subject), "{list}");
        app
    })
    .await;
}

#[tokio::test]
async fn status_drop_downs_offer_only_what_the_workflow_allows_the_user() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let cust = customer(&s.rep, "Hélène", "514 555-1000", json!({"owner_id": s.rep_id, "branch_id": s.branch})).await;
        let oid = opportunity(&s.rep, cust, json!({})).await["id"].as_i64().unwrap();
        let web = app.login("rep@t.fr", common::PASSWORD).await.expect("login");
        let (_, html) = web.get_text(&format!("/opportunities/{oid}")).await;
        let sel =
            html.split("id=\"status\" name=\"status\"").nth(1).and_then(|x| x.split("</select>").next()).unwrap_or_default().to_string();
        assert!(sel.contains("value=\"en_traitement\" selected") && sel.contains("value=\"contacte\""), "{sel}");
        assert!(sel.contains("value=\"pris_en_charge\""), "a rep may sell: {sel}");
        assert!(!sel.contains("value=\"invalide_bdc\""), "the trash is not the rep's: {sel}");
        assert!(!sel.contains("value=\"livre\""), "no delivery before a sale: {sel}");
        let (_, html) = web.get_text("/opportunities/board").await;
        let card =
            html.split(&format!("id=\"move-{oid}\"")).nth(1).and_then(|x| x.split("</select>").next()).unwrap_or_default().to_string();
        assert!(
            card.contains("value=\"contacte\"") && !card.contains("value=\"invalide_bdc\"") && !card.contains("value=\"livre\""),
            "{card}"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn the_history_reads_in_the_users_language_with_labels_and_local_times() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let cust = customer(&s.rep, "Hélène", "514 555-1100", json!({"owner_id": s.rep_id, "branch_id": s.branch})).await;
        let oid = opportunity(&s.rep, cust, json!({})).await["id"].as_i64().unwrap();
        let path = format!("/api/v1/opportunities/{oid}");
        let (st, _) = s.rep.send("PATCH", &path, Some(json!({"status": "contacte"}))).await;
        assert_eq!(st, 200);
        let (st, _) = s.rep.send("PATCH", &path, Some(json!({"status": "pris_en_charge"}))).await;
        assert_eq!(st, 200);
        let zone = carnet::clock::Zone::default();
        let (local, utc) = (zone.format(app.now()), carnet::clock::format_ms(app.now()));
        assert_ne!(local, utc, "the test clock is at a time where the zones differ");
        let web = app.login("rep@t.fr", common::PASSWORD).await.expect("login");
        let (st, html) = web.get_text(&format!("/opportunities/{oid}/history")).await;
        assert_eq!(st, 200);
        assert!(html.contains("<td>Statut</td>") && html.contains("<td>Date de vente</td>"), "field labels in French");
        assert!(!html.contains("<td>status</td>") && !html.contains("<td>sale_date</td>"), "no raw field names");
        assert!(
            html.contains("<td class=\"old prewrap\">Contacté</td><td class=\"prewrap\">Pris en charge</td>"),
            "status labels, not codes"
        );
        assert!(html.contains(&format!("<td class=\"prewrap\">{local}</td>")), "the sale date in local time");
        assert!(html.contains(&format!("· {local}")), "the entry's time in local time");
        assert!(!html.contains(&utc), "no UTC time anywhere");
        app
    })
    .await;
}

/// A stock unit placed in a branch that does not exist is a 422 on `branch_id` (it was a 500:
/// the foreign key refused it), on creation and on update; nothing changes.
#[tokio::test]
async fn a_stock_unit_in_an_unknown_branch_is_refused() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let before = app.snapshot().await;
        let (st, b) = s.admin.send("POST", "/api/v1/stock-units", Some(json!({"stock_number": "Z900", "branch_id": 987654}))).await;
        assert_eq!(st, 422, "{b}");
        assert!(b["error"]["fields"]["branch_id"].is_string(), "{b}");
        assert_eq!(app.snapshot().await, before);
        let (st, u) = s.admin.send("POST", "/api/v1/stock-units", Some(json!({"stock_number": "Z901", "branch_id": s.branch}))).await;
        assert_eq!(st, 201, "{u}");
        let before = app.snapshot().await;
        let path = format!("/api/v1/stock-units/{}", u["id"]);
        let (st, b) = s.admin.send("PUT", &path, Some(json!({"stock_number": "Z901", "branch_id": 0}))).await;
        assert_eq!(st, 422, "{b}");
        assert!(b["error"]["fields"]["branch_id"].is_string(), "{b}");
        assert_eq!(app.snapshot().await, before);
        app
    })
    .await;
}

/// A drag on the calendar moves the meeting and changes nothing else (description, stock,
/// participants, priority stay). Dropped from a participant's column into another person's, that
/// person takes the participant's place and the owner stays; from the owner's column, the other
/// person becomes the owner.
#[tokio::test]
async fn a_drag_on_the_calendar_moves_the_meeting_and_keeps_the_rest() {
    each_backend(|app| async move {
        let s = setup(&app).await;
        let colleague = app.user("julie@t.fr", "representant", Some(s.branch)).await;
        let third = app.user("paul@t.fr", "representant", Some(s.branch)).await;
        let cust = customer(&s.rep, "Hélène", "514 555-0700", json!({"owner_id": s.rep_id, "branch_id": s.branch})).await;
        let o = opportunity(&s.rep, cust, json!({"owner_id": s.rep_id, "branch_id": s.branch})).await;
        let body = json!({"opportunity_id": o["id"], "kind": "inventaire", "date": "2026-11-26", "start_time": "10:00", "end_time": "11:00",
            "description": "Apporter le carnet d'entretien", "user_ids": [colleague]});
        let (st, m) = s.admin.send("POST", "/api/v1/meetings", Some(body)).await;
        assert_eq!(st, 201, "{m}");
        let path = format!("/api/v1/meetings/{}/move", m["id"]);
        let (st, moved) = s
            .admin
            .send(
                "POST",
                &path,
                Some(json!({"date": "2026-11-27", "start_time": "14:00", "end_time": "15:30", "person": [colleague, third]})),
            )
            .await;
        assert_eq!(st, 200, "{moved}");
        assert_eq!(moved["owner_id"], s.rep_id, "the owner stays: the drag left a participant's column");
        assert_eq!(moved["description"], "Apporter le carnet d'entretien");
        let users: Vec<i64> =
            moved["participants"].as_array().unwrap().iter().filter(|p| p["kind"] == "user").map(|p| p["id"].as_i64().unwrap()).collect();
        assert!(users.contains(&third) && !users.contains(&colleague), "the colleague's place is the third's: {moved}");
        assert_ne!(moved["start_at"], m["start_at"]);
        let (st, moved) = s
            .admin
            .send(
                "POST",
                &path,
                Some(json!({"date": "2026-11-27", "start_time": "14:00", "end_time": "15:30", "person": [s.rep_id, colleague]})),
            )
            .await;
        assert_eq!(st, 200, "{moved}");
        assert_eq!(moved["owner_id"], colleague, "from the owner's column: the other person's now");
        assert_eq!(moved["description"], "Apporter le carnet d'entretien");
        app
    })
    .await;
}
