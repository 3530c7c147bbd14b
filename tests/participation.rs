//! Every role does its day's work: participant access (what a user takes part in), scopes that
//! mean what an organisation means (a branch's teams), records that always get an owner and a
//! unit, meetings booked for a rep, and built-in roles that follow a release's defaults.

mod common;

use common::{each_backend, Api, TestApp};
use serde_json::{json, Value};

struct Org {
    admin: Api,
    laval: i64,
    longueuil: i64,
    service_laval: i64,
    ventes_laval: i64,
    bdc_team: i64,
}

async fn org(app: &TestApp) -> Org {
    let co = app.unit("Groupe", "company", None).await;
    let region = app.unit("Montréal", "region", Some(co)).await;
    let laval = app.unit("Succursale Laval", "branch", Some(region)).await;
    let longueuil = app.unit("Succursale Longueuil", "branch", Some(region)).await;
    let service_laval = app.unit("Service Laval", "team", Some(laval)).await;
    let ventes_laval = app.unit("Ventes Laval", "team", Some(laval)).await;
    let bdc_team = app.unit("BDC Montréal", "team", Some(region)).await;
    let admin = app.user("admin@t.fr", "administrateur", None).await;
    Org { admin: app.api(&app.token_for(admin).await), laval, longueuil, service_laval, ventes_laval, bdc_team }
}

async fn created(api: &Api, path: &str, body: Value) -> Value {
    let (s, v) = api.send("POST", path, Some(body)).await;
    assert_eq!(s, 201, "{path}: {v}");
    v
}

fn ids(v: &Value) -> Vec<i64> {
    let mut out: Vec<i64> = v["items"].as_array().unwrap().iter().map(|x| x["id"].as_i64().unwrap()).collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_technician_reads_the_request_and_customer_behind_his_intervention_and_nothing_else() {
    each_backend(|app| async move {
        let o = org(&app).await;
        // The technician sits in another branch's team: only taking part shows him anything.
        let elsewhere = app.unit("Service Longueuil", "team", Some(o.longueuil)).await;
        let tech = app.user("tech@t.fr", "technicien", Some(elsewhere)).await;
        let t = app.api(&app.token_for(tech).await);
        let cu =
            created(&o.admin, "/api/v1/customers", json!({"kind": "company", "company_name": "Garage Côté", "branch_id": o.laval})).await;
        let cid = cu["id"].as_i64().unwrap();
        let mine =
            created(&o.admin, "/api/v1/service-requests", json!({"customer_id": cid, "request_type": "panne", "branch_id": o.laval})).await;
        let other =
            created(&o.admin, "/api/v1/service-requests", json!({"customer_id": cid, "request_type": "panne", "branch_id": o.laval})).await;
        let (mine, other) = (mine["id"].as_i64().unwrap(), other["id"].as_i64().unwrap());
        assert_eq!(t.get(&format!("/api/v1/service-requests/{mine}")).await.0, 404, "not before he takes part");
        assert_eq!(t.get(&format!("/api/v1/customers/{cid}")).await.0, 404);
        let iv = created(
            &o.admin,
            "/api/v1/interventions",
            json!({"request_id": mine, "date": "2026-11-25", "start_time": "08:00", "end_time": "10:00", "technician_ids": [tech]}),
        )
        .await;
        let (s, r) = t.get(&format!("/api/v1/service-requests/{mine}")).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(t.get(&format!("/api/v1/service-requests/{other}")).await.0, 404, "not the customer's other requests");
        let (_, l) = t.get("/api/v1/service-requests").await;
        assert_eq!(ids(&l), vec![mine], "his list holds the request he works on");
        assert_eq!(t.get(&format!("/api/v1/customers/{cid}")).await.0, 200, "reads the customer behind it");
        assert_eq!(t.get(&format!("/api/v1/interventions/{}", iv["id"])).await.0, 200);
        // The pages too: the request, its customer, and his intervention.
        let s = app.login("tech@t.fr", common::PASSWORD).await.unwrap();
        assert_eq!(s.get(&format!("/service/requests/{mine}")).await.status(), 200);
        assert_eq!(s.get(&format!("/service/requests/{other}")).await.status(), 404);
        let (st, html) = s.get_text(&format!("/customers/{cid}")).await;
        assert_eq!(st, 200);
        assert!(!html.contains("id=\"edit-customer\""), "read only: no edit button");
        app
    })
    .await;
}

#[tokio::test]
async fn a_rep_sees_the_opportunities_he_takes_part_in_directly_by_group_or_by_call() {
    each_backend(|app| async move {
        let o = org(&app).await;
        let owner = app.user("owner@t.fr", "representant", Some(o.ventes_laval)).await;
        let guest = app.user("guest@t.fr", "representant", Some(o.longueuil)).await;
        let member = app.user("member@t.fr", "representant", Some(o.longueuil)).await;
        let caller = app.user("caller@t.fr", "representant", Some(o.longueuil)).await;
        let outsider = app.user("outsider@t.fr", "representant", Some(o.longueuil)).await;
        let (s, g) = o
            .admin
            .send("POST", "/api/v1/groups", Some(json!({"name": "Renfort", "description": "", "members": [member], "org_unit_id": null})))
            .await;
        assert_eq!(s, 201, "{g}");
        let cu = created(
            &o.admin,
            "/api/v1/customers",
            json!({"first_name": "Léa", "last_name": "Roy", "branch_id": o.laval, "owner_id": owner}),
        )
        .await;
        let opp =
            created(&o.admin, "/api/v1/opportunities", json!({"customer_id": cu["id"], "owner_id": owner, "branch_id": o.laval})).await;
        let oid = opp["id"].as_i64().unwrap();
        let api = |u: i64| {
            let app = &app;
            async move { app.api(&app.token_for(u).await) }
        };
        let (g_api, m_api, c_api, x_api) = (api(guest).await, api(member).await, api(caller).await, api(outsider).await);
        for a in [&g_api, &m_api, &c_api, &x_api] {
            assert_eq!(a.get(&format!("/api/v1/opportunities/{oid}")).await.0, 404);
        }
        created(
            &o.admin,
            "/api/v1/meetings",
            json!({"opportunity_id": oid, "kind": "inventaire", "date": "2026-11-26", "start_time": "10:00", "end_time": "11:00",
                   "user_ids": [guest], "group_ids": [g["id"]]}),
        )
        .await;
        created(
            &o.admin,
            "/api/v1/calls",
            json!({"opportunity_id": oid, "owner_id": caller, "date": "2026-11-27", "time": "09:00", "subject": "Relance"}),
        )
        .await;
        for (who, a) in [("participant", &g_api), ("group member", &m_api), ("call owner", &c_api)] {
            assert_eq!(a.get(&format!("/api/v1/opportunities/{oid}")).await.0, 200, "{who} opens the opportunity");
            let (_, l) = a.get("/api/v1/opportunities").await;
            assert_eq!(ids(&l), vec![oid], "{who} finds it in his list");
            assert_eq!(a.get(&format!("/api/v1/customers/{}", cu["id"])).await.0, 200, "{who} reads the customer");
        }
        assert_eq!(x_api.get(&format!("/api/v1/opportunities/{oid}")).await.0, 404, "someone who takes no part sees nothing");
        assert_eq!(x_api.get(&format!("/api/v1/customers/{}", cu["id"])).await.0, 404);
        // Taking part gives the actions of one's rights on that record.
        let (s, b) = g_api.send("POST", &format!("/api/v1/opportunities/{oid}/notes"), Some(json!({"body": "Vu en salle."}))).await;
        assert_eq!(s, 201, "{b}");
        app
    })
    .await;
}

#[tokio::test]
async fn a_support_agent_works_on_her_branch_and_what_she_creates_stays_hers() {
    each_backend(|app| async move {
        let o = org(&app).await;
        let agent = app.user("agent@t.fr", "agent_support", Some(o.service_laval)).await;
        let a = app.api(&app.token_for(agent).await);
        // Customers and requests filed under the branch (not under her team) are hers to work on.
        let cu =
            created(&o.admin, "/api/v1/customers", json!({"kind": "company", "company_name": "Pharmacie Fortin", "branch_id": o.laval}))
                .await;
        let far =
            created(&o.admin, "/api/v1/customers", json!({"kind": "company", "company_name": "Loin inc.", "branch_id": o.longueuil})).await;
        let (_, l) = a.get("/api/v1/customers").await;
        assert_eq!(ids(&l), vec![cu["id"].as_i64().unwrap()]);
        let (_, l) = a.get("/api/v1/customers?q=pharm").await;
        assert_eq!(ids(&l), vec![cu["id"].as_i64().unwrap()], "the search for a new request finds the customer");
        let r =
            created(&o.admin, "/api/v1/service-requests", json!({"customer_id": cu["id"], "request_type": "panne", "branch_id": o.laval}))
                .await;
        assert_eq!(a.get(&format!("/api/v1/service-requests/{}", r["id"])).await.0, 200);
        assert_eq!(a.get(&format!("/api/v1/customers/{}", far["id"])).await.0, 404);
        // A customer created without branch or owner: hers, in her branch, and she can open it.
        let (s, mine) = a.send("POST", "/api/v1/customers", Some(json!({"kind": "company", "company_name": "Nouvelle cliente"}))).await;
        assert_eq!(s, 201, "{mine}");
        assert_eq!(mine["owner_id"], agent);
        assert_eq!(mine["branch_id"], o.laval, "the branch above her team");
        assert_eq!(a.get(&format!("/api/v1/customers/{}", mine["id"])).await.0, 200);
        let (s, req) = a.send("POST", "/api/v1/service-requests", Some(json!({"customer_id": mine["id"], "request_type": "panne"}))).await;
        assert_eq!(s, 201, "{req}");
        assert_eq!((req["owner_id"].as_i64(), req["branch_id"].as_i64()), (Some(agent), Some(o.laval)));
        app
    })
    .await;
}

#[tokio::test]
async fn the_bdc_sees_every_branch_and_a_meeting_booked_for_a_rep_makes_him_the_owner() {
    each_backend(|app| async move {
        let o = org(&app).await;
        let bdc = app.user("bdc@t.fr", "agent_bdc", Some(o.bdc_team)).await;
        let rep = app.user("rep@t.fr", "representant", Some(o.ventes_laval)).await;
        let b = app.api(&app.token_for(bdc).await);
        let r = app.api(&app.token_for(rep).await);
        let cu = created(&o.admin, "/api/v1/customers", json!({"first_name": "Félix", "last_name": "Morin", "branch_id": o.longueuil})).await;
        // An opportunity of a branch, without an owner (a lead waiting in the queue).
        let (s, opp) = o.admin.send("POST", "/api/v1/opportunities", Some(json!({"customer_id": cu["id"], "branch_id": o.laval}))).await;
        assert_eq!(s, 201, "{opp}");
        let oid = opp["id"].as_i64().unwrap();
        sqlx::query("UPDATE opportunities SET owner_id = NULL WHERE id = $1").bind(oid).execute(&app.state.db.pool).await.unwrap();
        assert_eq!(b.get(&format!("/api/v1/customers/{}", cu["id"])).await.0, 200, "every branch's customers");
        assert_eq!(b.get(&format!("/api/v1/opportunities/{oid}")).await.0, 200, "every branch's opportunities");
        assert_eq!(r.get(&format!("/api/v1/opportunities/{oid}")).await.0, 404);
        // The branch calendar is hers to check.
        let (s, cal) = b.get(&format!("/api/v1/meetings?from=2026-11-23&days=7&branch_id={}", o.laval)).await;
        assert_eq!(s, 200, "{cal}");
        let (s, m) = b
            .send(
                "POST",
                "/api/v1/meetings",
                Some(json!({"opportunity_id": oid, "kind": "inventaire", "date": "2026-11-26", "start_time": "10:00", "end_time": "11:00", "owner_id": rep})),
            )
            .await;
        assert_eq!(s, 201, "{m}");
        let (s, now) = r.get(&format!("/api/v1/opportunities/{oid}")).await;
        assert_eq!(s, 200, "the rep opens the opportunity of his meeting: {now}");
        assert_eq!(now["owner_id"], rep, "booking for a rep on an unowned opportunity makes him its owner");
        let (_, cal) = b.get(&format!("/api/v1/meetings?from=2026-11-23&days=7&branch_id={}", o.laval)).await;
        assert_eq!(cal["items"].as_array().unwrap().len(), 1, "the booked meeting is on the branch calendar: {cal}");
        // Its history says who took it.
        let (_, h) = o.admin.get(&format!("/api/v1/opportunities/{oid}/history")).await;
        assert!(h.to_string().contains("owner"), "{h}");
        // An unknown rep is a clear error, and nothing is booked.
        let before = app.count("SELECT COUNT(*) FROM meetings").await;
        let (s, e) = b
            .send(
                "POST",
                "/api/v1/meetings",
                Some(json!({"opportunity_id": oid, "kind": "inventaire", "date": "2026-11-27", "start_time": "10:00", "end_time": "11:00", "owner_id": 999999})),
            )
            .await;
        assert_eq!(s, 422, "{e}");
        assert!(e.to_string().contains("owner_id"), "{e}");
        assert_eq!(app.count("SELECT COUNT(*) FROM meetings").await, before);
        app
    })
    .await;
}

#[tokio::test]
async fn a_view_shared_with_a_branch_reaches_its_teams() {
    each_backend(|app| async move {
        let o = org(&app).await;
        let dir = app.user("dir@t.fr", "directeur_ventes", Some(o.laval)).await;
        let rep = app.user("rep@t.fr", "representant", Some(o.ventes_laval)).await;
        let far = app.user("far@t.fr", "representant", Some(o.longueuil)).await;
        let d = app.api(&app.token_for(dir).await);
        let (s, v) = d.send("POST", "/api/v1/customers/views", Some(json!({"name": "VIP", "query": "kind=person", "shared": true}))).await;
        assert_eq!(s, 201, "{v}");
        let (_, l) = app.api(&app.token_for(rep).await).get("/api/v1/customers/views").await;
        assert_eq!(l["items"][0]["name"], "VIP", "{l}");
        let (_, l) = app.api(&app.token_for(far).await).get("/api/v1/customers/views").await;
        assert!(l["items"].as_array().unwrap().is_empty(), "not another branch: {l}");
        app
    })
    .await;
}

#[tokio::test]
async fn a_new_release_of_the_default_roles_reaches_an_existing_database() {
    each_backend(|app| async move {
        let db = &app.state.db;
        // A database from the first release: the BDC was unit-scoped and could export;
        // its administrator added the merge right and took away stock.read.
        let role: i64 = sqlx::query_scalar("SELECT id FROM roles WHERE code = 'agent_bdc'").fetch_one(&db.pool).await.unwrap();
        sqlx::query("UPDATE roles SET scope = 'unit', shipped = $1 WHERE id = $2")
            .bind("unit|users.read customers.read customers.export stock.read opportunities.read")
            .bind(role)
            .execute(&db.pool)
            .await
            .unwrap();
        sqlx::query("DELETE FROM role_rights WHERE role_id = $1").bind(role).execute(&db.pool).await.unwrap();
        for r in ["users.read", "customers.read", "customers.export", "customers.merge", "opportunities.read"] {
            sqlx::query("INSERT INTO role_rights (role_id, right_code) VALUES ($1, $2)")
                .bind(role)
                .bind(r)
                .execute(&db.pool)
                .await
                .unwrap();
        }
        carnet::access::roles::ensure_defaults(db, app.now()).await.unwrap();
        let got = carnet::access::roles::get(db, role).await.unwrap().unwrap();
        let codes: Vec<&str> = got.rights.iter().map(|r| r.code()).collect();
        assert_eq!(got.scope, carnet::access::Scope::All, "the scope follows the release (it was not changed here)");
        assert!(codes.contains(&"customers.merge"), "the administrator's addition stays: {codes:?}");
        assert!(!codes.contains(&"stock.read"), "the administrator's removal stays: {codes:?}");
        assert!(codes.contains(&"leads.create") && codes.contains(&"meetings.create"), "the release's additions arrive: {codes:?}");
        // Running again changes nothing and writes no history.
        let events = app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'role' AND entity_id = {role}")).await;
        carnet::access::roles::ensure_defaults(db, app.now()).await.unwrap();
        assert_eq!(carnet::access::roles::get(db, role).await.unwrap().unwrap().rights, got.rights);
        assert_eq!(
            app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'role' AND entity_id = {role}")).await,
            events
        );
        app
    })
    .await;
}

#[tokio::test]
async fn a_new_customers_lead_is_routed_in_turn_or_to_the_queue_and_its_owner_is_told() {
    each_backend(|app| async move {
        let o = org(&app).await;
        let r1 = app.user("r1@t.fr", "representant", Some(o.ventes_laval)).await;
        let r2 = app.user("r2@t.fr", "representant", Some(o.ventes_laval)).await;
        app.user("far@t.fr", "representant", Some(o.longueuil)).await;
        let a1 = app.user("a1@t.fr", "agent_bdc", Some(o.bdc_team)).await;
        let (s, g) = o.admin.send("POST", "/api/v1/groups", Some(json!({"name": "BDC", "description": "", "members": [a1], "org_unit_id": null}))).await;
        assert_eq!(s, 201, "{g}");
        let lead = |n: usize, branch: Option<i64>| json!({"first_name": "Client", "last_name": format!("N{n}"), "email": format!("n{n}@exemple.ca"), "branch_id": branch});
        let mut owners = Vec::new();
        for n in 0..3 {
            let (s, r) = o.admin.send("POST", "/api/v1/leads", Some(lead(n, Some(o.laval)))).await;
            assert_eq!(s, 201, "{r}");
            let (_, opp) = o.admin.get(&format!("/api/v1/opportunities/{}", r["opportunity_id"])).await;
            assert_eq!(opp["branch_id"], o.laval);
            owners.push(opp["owner_id"].as_i64().unwrap());
        }
        assert_eq!(owners, vec![r1, r2, r1], "round robin among the branch's representatives");
        let told = app.count("SELECT COUNT(*) FROM emails WHERE event = 'opportunity_assigned' AND entity_type = 'opportunity'").await;
        assert_eq!(told, 3, "each owner is told at once");
        // The queue: no owner, the BDC group is told; the first agent to book for a rep gives it away.
        let (s, b) = o.admin.send("PATCH", "/api/v1/settings", Some(json!({"leads.routing": "queue"}))).await;
        assert_eq!(s, 200, "{b}");
        let (s, r) = o.admin.send("POST", "/api/v1/leads", Some(lead(9, Some(o.laval)))).await;
        assert_eq!(s, 201, "{r}");
        let (_, opp) = o.admin.get(&format!("/api/v1/opportunities/{}", r["opportunity_id"])).await;
        assert!(opp["owner_id"].is_null(), "{opp}");
        assert_eq!(app.count("SELECT COUNT(*) FROM emails WHERE event = 'lead_queued'").await, 1);
        // Lost by the BDC without an owner: the follow-up goes to the agent, once.
        let bdc = app.api(&app.token_for(a1).await);
        let oid = r["opportunity_id"].as_i64().unwrap();
        let (s, b) = bdc.send("PATCH", &format!("/api/v1/opportunities/{oid}"), Some(json!({"status": "perdu_bdc"}))).await;
        assert_eq!(s, 200, "{b}");
        let q = format!("SELECT COUNT(*) FROM calls WHERE opportunity_id = {oid} AND automatic = 1 AND owner_id = {a1}");
        assert_eq!(app.count(&q).await, 1);
        bdc.send("PATCH", &format!("/api/v1/opportunities/{oid}"), Some(json!({"status": "perdu_bdc"}))).await;
        assert_eq!(app.count(&q).await, 1, "once per loss");
        // An unknown branch is a clear error, and nothing is written.
        let before = app.count("SELECT COUNT(*) FROM customers").await;
        let (s, e) = o.admin.send("POST", "/api/v1/leads", Some(lead(10, Some(999_999)))).await;
        assert_eq!(s, 422, "{e}");
        assert!(e["error"]["fields"]["branch_id"].is_string(), "{e}");
        assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, before);
        app
    })
    .await;
}

/// The card ids of a board (`GET /api/v1/opportunities/board`), column by column.
fn board_cards(v: &Value) -> Vec<(String, Vec<i64>, bool)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let ids = c["cards"].as_array().unwrap().iter().map(|x| x["id"].as_i64().unwrap()).collect();
            (c["status"].as_str().unwrap().to_string(), ids, c["more"].as_bool().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn a_reps_board_shows_his_cards_and_those_he_takes_part_in_and_no_others() {
    each_backend(|app| async move {
        let o = org(&app).await;
        let rep = app.user("rep@t.fr", "representant", Some(o.ventes_laval)).await;
        let other = app.user("other@t.fr", "representant", Some(o.longueuil)).await;
        let manager = app.user("manager@t.fr", "directeur_ventes", Some(o.longueuil)).await;
        let cu = created(&o.admin, "/api/v1/customers", json!({"first_name": "Zoé", "last_name": "Roy", "branch_id": o.laval})).await;
        // 45 opportunities in one column, interleaved: the rep's own (Laval), others' he takes
        // part in (a meeting or a call) and others' he does not (both in Longueuil).
        let (mut rep_sees, mut manager_sees, mut own) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..45 {
            let (owner, branch) = if i % 3 == 0 { (rep, o.laval) } else { (other, o.longueuil) };
            let opp = created(&o.admin, "/api/v1/opportunities", json!({"customer_id": cu["id"], "owner_id": owner, "branch_id": branch})).await;
            let id = opp["id"].as_i64().unwrap();
            if i % 3 == 0 {
                rep_sees.push(id);
                own.push(id);
            } else {
                manager_sees.push(id);
            }
            if i % 3 == 1 {
                rep_sees.push(id);
                if i % 9 == 1 {
                    let day = format!("2026-12-{:02}", 10 + i / 9);
                    created(
                        &o.admin,
                        "/api/v1/meetings",
                        json!({"opportunity_id": id, "kind": "inventaire", "date": day, "start_time": "10:00", "end_time": "11:00", "user_ids": [rep]}),
                    )
                    .await;
                } else {
                    created(
                        &o.admin,
                        "/api/v1/calls",
                        json!({"opportunity_id": id, "owner_id": rep, "date": "2026-12-01", "time": "09:00", "subject": "Relance"}),
                    )
                    .await;
                }
            }
            // The manager (Longueuil's subtree) also takes part in one of the rep's.
            if i == 3 {
                manager_sees.push(id);
                created(
                    &o.admin,
                    "/api/v1/calls",
                    json!({"opportunity_id": id, "owner_id": manager, "date": "2026-12-01", "time": "10:00", "subject": "Appui"}),
                )
                .await;
            }
        }
        rep_sees.sort_by(|a, b| b.cmp(a));
        manager_sees.sort_by(|a, b| b.cmp(a));
        assert_eq!((rep_sees.len(), manager_sees.len()), (30, 31));
        // A meeting may move its opportunity on (booked): each column expects its own share.
        let (_, all) = o.admin.get("/api/v1/opportunities/board?limit=100").await;
        let status_of: std::collections::HashMap<i64, String> =
            board_cards(&all).into_iter().flat_map(|(s, ids, _)| ids.into_iter().map(move |id| (id, s.clone()))).collect();
        let in_column = |sees: &[i64], status: &str| -> Vec<i64> { sees.iter().copied().filter(|id| status_of[id] == status).collect() };
        let token = |u: i64| {
            let app = &app;
            async move { app.api(&app.token_for(u).await) }
        };
        for (who, api, sees) in [("rep", token(rep).await, &rep_sees), ("manager", token(manager).await, &manager_sees)] {
            let mut longest = 0;
            for limit in [20, 5, 40] {
                let (s, b) = api.get(&format!("/api/v1/opportunities/board?limit={limit}")).await;
                assert_eq!(s, 200, "{b}");
                for (status, ids, more) in board_cards(&b) {
                    let expected = in_column(sees, &status);
                    longest = longest.max(expected.len());
                    assert_eq!(ids, expected[..limit.min(expected.len())].to_vec(), "{who}'s {status} cards, {limit} a column");
                    assert_eq!(more, expected.len() > limit, "{who}'s {status}: more than {limit}");
                }
            }
            assert!(longest > 21, "{who}: a column longer than a page ({longest})");
        }
        // The page: 25 cards a column, and each column's count; "mine" keeps the rep's own.
        let web = app.login("rep@t.fr", common::PASSWORD).await.expect("login");
        let (s, html) = web.get_text("/opportunities/board").await;
        assert_eq!(s, 200);
        let mut expected = Vec::new();
        for status in status_of.values().collect::<std::collections::BTreeSet<_>>() {
            let column = in_column(&rep_sees, status);
            assert!(html.contains(&format!("board-index-count\">{}<", column.len())), "{status}'s count");
            expected.extend(column.into_iter().take(25));
        }
        expected.sort();
        let mut shown: Vec<i64> = status_of.keys().copied().filter(|id| html.contains(&format!("id=\"card-{id}\""))).collect();
        shown.sort();
        assert_eq!(shown, expected, "the rep's page");
        let (_, html) = web.get_text("/opportunities/board?mine=1").await;
        let shown: Vec<i64> = own.iter().copied().filter(|id| html.contains(&format!("id=\"card-{id}\""))).collect();
        assert_eq!(shown, own, "his own cards");
        assert!(html.contains("board-index-count\">15<"), "his own count");
        assert_eq!(html.matches("class=\"board-card\"").count(), 15, "his own only");
        app
    })
    .await;
}
