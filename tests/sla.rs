//! Service levels (issue 20), on both backends: targets per type and priority, due times in
//! business hours across a holiday and a weekend, the list's overdue filter and standings, the
//! warning and the escalation sent once (also by two runs at once), the admin grid.

mod common;

use carnet::access::Actor;
use carnet::clock::{Clock, Zone};
use carnet::org::groups::{self, GroupInput};
use carnet::service::sla;
use common::{each_backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

fn toronto(app: &TestApp, date: &str, time: &str) -> i64 {
    let _ = app;
    Zone::parse("America/Toronto").unwrap().parse_local(date, time).expect("local time")
}

fn local(ms: Option<i64>) -> String {
    ms.map(|m| Zone::parse("America/Toronto").unwrap().format(m)).unwrap_or_else(|| "none".into())
}

#[tokio::test]
async fn due_times_follow_business_hours_and_overdue_requests_escalate_once() {
    each_backend(|app| async move {
        let company = app.unit("Froid Service", "company", None).await;
        let team = app.unit("Froid Laval", "team", Some(company)).await;
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let agent = app.user("agent@t.fr", "agent_support", Some(team)).await;
        let lead = app.user("lead@t.fr", "agent_support", Some(team)).await;
        let input = GroupInput::parse("Support", "Responsables", Some(company), vec![lead]).unwrap();
        groups::create(&app.state.db, &Actor::system(), app.now(), &input).await.unwrap();
        let admin_api = app.api(&app.token_for(admin).await);
        let agent_api = app.api(&app.token_for(agent).await);
        let (s, v) = admin_api.send("PATCH", "/api/v1/settings", Some(json!({"service.holidays": "2026-12-25"}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // Targets: refused with the field, then set.
        let (s, v) = admin_api
            .send(
                "PUT",
                "/api/v1/service-levels",
                Some(json!({"targets": [{"request_type": "panne", "priority": "critique", "first_update_minutes": 0, "close_minutes": null}]})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let text = v.to_string();
        assert!(text.contains("targets[0].priority") && text.contains("targets[0].first_update_minutes"), "{v}");
        let (s, _) = agent_api.send("PUT", "/api/v1/service-levels", Some(json!({"targets": []}))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "an agent does not set targets");
        let (s, v) = admin_api
            .send(
                "PUT",
                "/api/v1/service-levels",
                Some(json!({"targets": [{"request_type": "panne", "priority": "haute", "first_update_minutes": 120, "close_minutes": 1080}]})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["targets"].as_array().unwrap().len(), 1);
        // Two saves of the same pair at once: both succeed, one row.
        let body = json!({"targets": [{"request_type": "panne", "priority": "urgente", "first_update_minutes": 30, "close_minutes": 480}]});
        let (a, b) = tokio::join!(
            admin_api.send("PUT", "/api/v1/service-levels", Some(body.clone())),
            admin_api.send("PUT", "/api/v1/service-levels", Some(body.clone()))
        );
        assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK), "{} {}", a.1, b.1);
        assert_eq!(app.count("SELECT COUNT(*) FROM service_levels WHERE priority = 'urgente'").await, 1);
        assert!(app.count("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'service_level'").await >= 2);

        // Thursday 24 December, 16:00: one business hour left that day, Christmas off, then the weekend.
        app.clock.set(toronto(&app, "2026-12-24", "16:00"));
        let (_, cu) =
            admin_api.send("POST", "/api/v1/customers", Some(json!({"kind": "company", "company_name": "Boulangerie Roy", "branch_id": team}))).await;
        let customer = cu["id"].as_i64().unwrap();
        let (s, r) = agent_api
            .send("POST", "/api/v1/service-requests", Some(json!({"customer_id": customer, "request_type": "panne", "priority": "haute"})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let id = r["id"].as_i64().unwrap();
        let number = r["number"].as_str().unwrap().to_string();
        assert_eq!(local(r["first_update_due_at"].as_i64()), "2026-12-28 09:00", "1 h Thursday, 1 h Monday");
        assert_eq!(local(r["close_due_at"].as_i64()), "2026-12-29 16:00", "18 business hours");
        // A request without a target has no due time; a bad priority is refused.
        let (_, other) = agent_api
            .send("POST", "/api/v1/service-requests", Some(json!({"customer_id": customer, "request_type": "maintenance"})))
            .await;
        assert_eq!(other["priority"], "normale");
        assert!(other["close_due_at"].is_null());
        let (s, v) = agent_api
            .send("POST", "/api/v1/service-requests", Some(json!({"customer_id": customer, "request_type": "panne", "priority": "x"})))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(v.to_string().contains("priority"), "{v}");
        // A change of priority moves the due times (from the creation); back again, the same.
        let (s, v) = agent_api.send("PATCH", &format!("/api/v1/service-requests/{id}"), Some(json!({"priority": "normale"}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(v["first_update_due_at"].is_null(), "{v}");
        let (_, v) = agent_api.send("PATCH", &format!("/api/v1/service-requests/{id}"), Some(json!({"priority": "haute"}))).await;
        assert_eq!(local(v["first_update_due_at"].as_i64()), "2026-12-28 09:00");
        // A save that changes nothing keeps the due times.
        let (_, v) = agent_api.send("PATCH", &format!("/api/v1/service-requests/{id}"), Some(json!({}))).await;
        assert_eq!(local(v["close_due_at"].as_i64()), "2026-12-29 16:00");

        // Monday 08:05: the first update is due within the hour: the owner is warned, once.
        app.clock.set(toronto(&app, "2026-12-28", "08:05"));
        assert_eq!(sla::watch(&app.state.db, app.now()).await.unwrap(), "1 warnings, 0 escalations sent");
        assert_eq!(sla::watch(&app.state.db, app.now()).await.unwrap(), "0 warnings, 0 escalations sent");
        let warned = app.count("SELECT COUNT(*) FROM emails WHERE event = 'sla_warning' AND to_addrs LIKE '%agent@t.fr%'").await;
        assert_eq!(warned, 1);
        // 09:30: breached. Two runs at once (two processes) escalate once: the owner and the group.
        app.clock.set(toronto(&app, "2026-12-28", "09:30"));
        let (a, b) = tokio::join!(sla::watch(&app.state.db, app.now()), sla::watch(&app.state.db, app.now()));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!([a.as_str(), b.as_str()].contains(&"0 warnings, 1 escalations sent"), "{a} / {b}");
        assert!([a.as_str(), b.as_str()].contains(&"0 warnings, 0 escalations sent"), "{a} / {b}");
        assert_eq!(app.count("SELECT COUNT(*) FROM sla_alerts WHERE level = 'breached'").await, 1);
        let to: Vec<String> = sqlx::query_scalar("SELECT to_addrs FROM emails WHERE event = 'sla_breached' ORDER BY id")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
        let all = to.join(" ");
        assert!(all.contains("agent@t.fr") && all.contains("lead@t.fr"), "{all}");

        // The agent's list: overdue filter and the standing; the other request is not overdue.
        let s = app.login("agent@t.fr", common::PASSWORD).await.unwrap();
        let (_, page) = s.get_text("/service/requests?overdue=1").await;
        assert!(page.contains(&number) && !page.contains(other["number"].as_str().unwrap()), "only the overdue one");
        assert!(page.contains("En retard de 30 min"), "the standing in business time");
        let (_, page) = s.get_text(&format!("/service/requests/{id}")).await;
        assert!(page.contains("id=\"sla-first-update\"") && page.contains("En retard de 30 min"));
        // The first update given (late): missed; the request leaves the overdue list.
        let (st, v) = agent_api
            .send("POST", &format!("/api/v1/service-requests/{id}/updates"), Some(json!({"status": "en_cours", "message": "On s'en occupe."})))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let (_, page) = s.get_text(&format!("/service/requests/{id}")).await;
        let first = page.split("id=\"sla-first-update\"").nth(1).unwrap_or_default().chars().take(200).collect::<String>();
        assert!(first.contains("Manquée"), "{first}");
        assert!(!s.get_text("/service/requests?overdue=1").await.1.contains(&number));
        // Tuesday 17:00: closing breached, escalated once more.
        app.clock.set(toronto(&app, "2026-12-29", "17:00"));
        assert_eq!(sla::watch(&app.state.db, app.now()).await.unwrap(), "0 warnings, 1 escalations sent");
        let s = app.login("agent@t.fr", common::PASSWORD).await.unwrap();
        assert!(s.get_text("/service/requests?overdue=1").await.1.contains(&number));
        assert_eq!(app.clock.now_ms(), toronto(&app, "2026-12-29", "17:00"));
        app
    })
    .await;
}

#[tokio::test]
async fn the_admin_grid_keeps_what_was_typed_on_an_error_and_saves_in_hours() {
    each_backend(|app| async move {
        let s = app.admin_session().await;
        let (status, page) = s.get_text("/admin/service-levels").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("name=\"first.panne.urgente\""), "a cell per type and priority");
        let r = s.post("/admin/service-levels", &[("first.panne.urgente", "1,5"), ("close.panne.urgente", "beaucoup")]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = r.text().await.unwrap();
        assert!(page.contains("value=\"beaucoup\"") && page.contains("value=\"1,5\""), "what was typed stays");
        assert_eq!(app.count("SELECT COUNT(*) FROM service_levels").await, 0, "nothing half-written");
        let r = s.post("/admin/service-levels", &[("first.panne.urgente", "1,5"), ("close.panne.urgente", "8")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let (first, close): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT first_update_minutes, close_minutes FROM service_levels WHERE request_type = 'panne' AND priority = 'urgente'",
        )
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        assert_eq!((first, close), (Some(90), Some(480)));
        let (_, page) = s.get_text("/admin/service-levels").await;
        assert!(page.contains("value=\"1.5\"") && page.contains("value=\"8\""));
        // Emptied: removed. A cell the form does not carry is kept.
        let r = s.post("/admin/service-levels", &[("first.panne.urgente", ""), ("close.panne.urgente", "")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.count("SELECT COUNT(*) FROM service_levels").await, 0);
        // A technician may not open it.
        let tech = app.user("tech@t.fr", "technicien", None).await;
        let _ = tech;
        let t = app.login("tech@t.fr", common::PASSWORD).await.unwrap();
        assert_eq!(t.get_text("/admin/service-levels").await.0, StatusCode::FORBIDDEN);
        app
    })
    .await;
}
