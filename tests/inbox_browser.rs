//! The bell in Chromium, on the demo company, both databases: a new customer's lead is routed
//! to a sales representative; logged in, he sees the unread count in the top bar, opens the
//! list, follows the notification to the opportunity, and the count drops.

mod common;

use common::browser::*;
use common::TestApp;
use serde_json::json;

async fn one(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.state.db.pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn unread(app: &TestApp, user: i64) -> i64 {
    one(app, &format!("SELECT COUNT(*) FROM notifications WHERE user_id = {user} AND read_at IS NULL")).await
}

/// The badge's number, 0 when there is none.
async fn badge(b: &Browser) -> i64 {
    let v = b.exec("const e = document.getElementById('bell-count'); return e ? e.textContent.trim() : '0';").await;
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_sees_the_lead_routed_to_him_in_the_bell_and_opens_it() {
    with_demo(|b, app| Box::pin(journey(b, app))).await;
}

async fn journey(b: &Browser, app: &TestApp) {
    let admin = one(app, &format!("SELECT id FROM users WHERE email = '{}'", carnet::demo::ADMIN_EMAIL)).await;
    let laval = one(app, "SELECT id FROM org_units WHERE name = 'Succursale Laval'").await;
    let api = app.api(&app.token_for(admin).await);
    let (s, lead) = api
        .send(
            "POST",
            "/api/v1/leads",
            Some(json!({"first_name": "Rosalie", "last_name": "Cloche", "email": "rosalie.cloche@exemple.ca", "branch_id": laval,
                        "message": "Le Civic est-il disponible ?"})),
        )
        .await;
    assert_eq!(s, 201, "{lead}");
    let oid = lead["opportunity_id"].as_i64().unwrap();
    let owner = one(app, &format!("SELECT owner_id FROM opportunities WHERE id = {oid}")).await;
    let email: String =
        sqlx::query_scalar("SELECT email FROM users WHERE id = $1").bind(owner).fetch_one(&app.state.db.pool).await.unwrap();
    let note = one(app, &format!("SELECT id FROM notifications WHERE user_id = {owner} AND entity_id = {oid}")).await;
    // What the bell counts: his unread notifications of records he sees (the demo also told him,
    // with his team, of colleagues' meetings that he cannot open).
    let rep_api = app.api(&app.token_for(owner).await);
    let readable = || async { rep_api.get("/api/v1/me/inbox").await.1["unread"].as_i64().unwrap() };
    let before = readable().await;
    assert!(before >= 1 && before <= unread(app, owner).await);

    // The representative logs in: the bell shows his unread count.
    login(b, &email, carnet::demo::PASSWORD).await;
    assert_eq!(b.path_only().await, "/", "{email} is logged in");
    assert_eq!(badge(b).await, before.min(99), "the bell's count");
    let label = b.find("#bell").await.prop("ariaLabel").await;
    assert!(label.contains(&before.min(99).to_string()), "the count is in the bell's name: {label}");

    // The list: his notification, unread, first.
    b.click_and_wait("#bell").await;
    assert_eq!(b.path_only().await, "/notifications");
    let first = b.exec("return document.querySelector('#inbox li').id;").await;
    assert_eq!(first, json!(format!("notification-{note}")), "newest first");
    assert!(b.text(&format!("#notification-{note}")).await.contains("Rosalie"), "the text names the file");
    assert_eq!(b.exec(&format!("return document.getElementById('notification-{note}').className;")).await, json!("unread"));
    b.screenshot("inbox-list").await;

    // Clicking it opens the opportunity; the count drops by one.
    b.click_and_wait(&format!("#notification-{note} a")).await;
    assert_eq!(b.path_only().await, format!("/opportunities/{oid}"));
    assert_eq!(readable().await, before - 1);
    assert_eq!(badge(b).await, (before - 1).min(99), "the bell's count dropped");
    // Back on the list, it is read.
    b.goto("/notifications").await;
    assert_eq!(b.exec(&format!("return document.getElementById('notification-{note}').className;")).await, json!("read"));
    // Mark all read: no badge any more.
    b.click_and_wait("#inbox-read-all").await;
    assert_eq!(badge(b).await, 0);
    assert_eq!(unread(app, owner).await, 0);
}
