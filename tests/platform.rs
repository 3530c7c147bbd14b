//! Platform behaviour over HTTP, on SQLite and (when configured) PostgreSQL.

mod common;

use common::{each_backend, extract, json_of, TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn health_and_readiness_and_request_ids() {
    each_backend(|app| async move {
        let c = app.anon();
        let r = c.get(format!("{}/healthz", app.url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let id = r.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
        assert_eq!(id.len(), 16);
        let r = c.get(format!("{}/readyz", app.url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        // A proxy-given request id is kept and echoed in error bodies.
        let r = c.get(format!("{}/api/v1/me", app.url)).header("x-request-id", "abc-123").send().await.unwrap();
        assert_eq!(r.headers().get("x-request-id").unwrap(), "abc-123");
        let (s, body) = json_of(r).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "unauthenticated");
        assert_eq!(body["error"]["request_id"], "abc-123");
        // Unknown pages: the HTML error page shows the request id.
        let r = c.get(format!("{}/no-such-page", app.url)).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let rid = r.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
        let html = r.text().await.unwrap();
        assert!(html.contains(&rid), "error page shows the request id");
        app
    })
    .await;
}

#[tokio::test]
async fn login_logout_and_session_cookie() {
    each_backend(|app| async move {
        app.user("rep@test.example", "representant", None).await;
        // Wrong password: 401 page with the message, no session.
        assert_eq!(app.login("rep@test.example", "wrong-password").await.err(), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(app.login("nobody@test.example", PASSWORD).await.err(), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);

        // The cookie is HttpOnly, SameSite=Lax, with a 256-bit random id.
        let client = app.anon();
        let page = client.get(format!("{}/login", app.url)).send().await.unwrap();
        let cookie = page.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
        let html = page.text().await.unwrap();
        let tok = extract(&html, "name=\"login_csrf\" value=\"").unwrap();
        let r = client
            .post(format!("{}/login", app.url))
            .header("cookie", &cookie)
            .form(&[("email", "REP@test.example "), ("password", PASSWORD), ("login_csrf", &tok), ("next", "/account")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers().get("location").unwrap(), "/account");
        let set = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with("carnet_session="))
            .unwrap();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"));
        assert!(!set.contains("Secure"), "not Secure over plain http by default");
        let secret = set.split(';').next().unwrap().trim_start_matches("carnet_session=");
        assert!(secret.len() >= 43, "256 bits base64url");

        // Login without the login CSRF cookie is refused.
        let r = app
            .anon()
            .post(format!("{}/login", app.url))
            .form(&[("email", "rep@test.example"), ("password", PASSWORD), ("login_csrf", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);

        // An open redirect through `next` is not followed.
        let s = app.login("rep@test.example", PASSWORD).await.unwrap();
        let (st, _) = s.get_text("/").await;
        assert_eq!(st, 200);
        // Logout ends the session in the database.
        let before = app.count("SELECT COUNT(*) FROM sessions").await;
        let r = s.post("/logout", &[]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, before - 1);
        let r = s.get("/").await;
        assert_eq!(r.status(), 303, "logged out: redirected to login");
        assert!(r.headers().get("location").unwrap().to_str().unwrap().starts_with("/login"));
        app
    })
    .await;
}

#[tokio::test]
async fn login_rotates_session_and_password_change_ends_other_sessions() {
    each_backend(|app| async move {
        app.user("a@test.example", "representant", None).await;
        let s1 = app.login("a@test.example", PASSWORD).await.unwrap();
        let s2 = app.login("a@test.example", PASSWORD).await.unwrap();
        assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 2);
        // Wrong current password: refused with the field named, nothing changed.
        let r = s1
            .post("/account/password", &[("current", "nope"), ("new_password", "another-password-1"), ("confirm", "another-password-1")])
            .await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("field has-error"));
        let r = s1
            .post("/account/password", &[("current", PASSWORD), ("new_password", "another-password-1"), ("confirm", "another-password-1")])
            .await;
        assert_eq!(r.status(), 303);
        assert_eq!(s1.get("/").await.status(), 200, "the session that changed it stays");
        assert_eq!(s2.get("/").await.status(), 303, "other sessions end");
        assert!(app.login("a@test.example", PASSWORD).await.is_err());
        assert!(app.login("a@test.example", "another-password-1").await.is_ok());
        app
    })
    .await;
}

#[tokio::test]
async fn deactivation_ends_sessions_and_tokens() {
    each_backend(|app| async move {
        let id = app.user("b@test.example", "representant", None).await;
        let s = app.login("b@test.example", PASSWORD).await.unwrap();
        let tok = app.token_for(id).await;
        assert_eq!(app.api(&tok).get("/api/v1/me").await.0, 200);
        let admin = app.admin_session().await;
        let r = admin
            .post(
                &format!("/admin/users/{id}"),
                &[("email", "b@test.example"), ("name", "B"), ("role", "representant"), ("language", "fr")],
            )
            .await;
        assert_eq!(r.status(), 303);
        assert_eq!(s.get("/").await.status(), 303);
        assert_eq!(app.api(&tok).get("/api/v1/me").await.0, 401);
        assert!(app.login("b@test.example", PASSWORD).await.is_err());
        app
    })
    .await;
}

#[tokio::test]
async fn login_is_rate_limited_per_account() {
    each_backend(|app| async move {
        app.user("c@test.example", "representant", None).await;
        for _ in 0..5 {
            assert_eq!(app.login("c@test.example", "bad-password").await.err(), Some(StatusCode::UNAUTHORIZED));
        }
        // Even the right password is refused while throttled.
        assert_eq!(app.login("c@test.example", PASSWORD).await.err(), Some(StatusCode::TOO_MANY_REQUESTS));
        // The window slides.
        app.clock.advance(16 * 60 * 1000);
        assert!(app.login("c@test.example", PASSWORD).await.is_ok());
        app
    })
    .await;
}

#[tokio::test]
async fn csrf_is_required_on_forms() {
    each_backend(|app| async move {
        let admin = app.admin_session().await;
        let before = app.snapshot().await;
        let r = admin.post_raw("/admin/groups", &[("name", "Sans jeton")]).await;
        assert_eq!(r.status(), 403);
        let r = admin.post_raw("/admin/groups", &[("name", "Mauvais jeton"), ("_csrf", "forged")]).await;
        assert_eq!(r.status(), 403);
        assert_eq!(app.snapshot().await, before, "nothing written");
        let r = admin.post("/admin/groups", &[("name", "Avec jeton")]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(app.count("SELECT COUNT(*) FROM user_groups").await, 1);
        app
    })
    .await;
}

#[tokio::test]
async fn api_tokens_create_use_revoke() {
    each_backend(|app| async move {
        let s = app.admin_session().await;
        let r = s.post("/account/tokens", &[("name", "Intégration site web")]).await;
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        let secret = extract(&html, "data-copy=\"").unwrap();
        assert!(secret.starts_with("carnet_"));
        // Stored hashed only.
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM api_tokens WHERE token_hash = '{secret}'")).await, 0);
        let api = app.api(&secret);
        let (st, me) = api.get("/api/v1/me").await;
        assert_eq!(st, 200);
        assert!(me["rights"].as_array().unwrap().iter().any(|r| r == "admin.users"));
        // Token-authenticated calls need no CSRF token.
        let (st, created) = api.send("POST", "/api/v1/tokens", Some(json!({"name": "second"}))).await;
        assert_eq!(st, 201);
        let (st, list) = api.get("/api/v1/tokens").await;
        assert_eq!(st, 200);
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        assert!(list["items"][0].get("secret").is_none());
        // Revoke the second; it stops working, the first still works.
        let id = created["id"].as_i64().unwrap();
        assert_eq!(api.send("DELETE", &format!("/api/v1/tokens/{id}"), None).await.0, 204);
        assert_eq!(app.api(created["secret"].as_str().unwrap()).get("/api/v1/me").await.0, 401);
        assert_eq!(api.get("/api/v1/me").await.0, 200);
        assert_eq!(app.api("carnet_garbage").get("/api/v1/me").await.0, 401);
        app
    })
    .await;
}

#[tokio::test]
async fn api_bad_input_is_a_clear_4xx_and_writes_nothing() {
    each_backend(|app| async move {
        let admin = app.user("admin@test.example", "administrateur", None).await;
        let api = app.api(&app.token_for(admin).await);
        let before = app.snapshot().await;
        let (s, b) = api.raw("POST", "/api/v1/users", "application/json", b"{not json".to_vec()).await;
        assert_eq!(s, 400);
        assert_eq!(b["error"]["code"], "malformed_json");
        assert_eq!(b["error"]["message"], "Le corps de la requête n'est pas du JSON valide.", "in the user's language");
        let (s, b) = api
            .send("POST", "/api/v1/users", Some(json!({"email": "x@y.fr", "name": "X", "role": "representant", "colour": "blue"})))
            .await;
        assert_eq!(s, 422);
        assert!(b["error"]["fields"]["colour"].is_string(), "{b}");
        let (s, b) = api
            .send(
                "POST",
                "/api/v1/users",
                Some(json!({"email": "x@y.fr", "name": "X", "role": "representant", "last_login_at": "2026-01-01"})),
            )
            .await;
        assert_eq!(s, 422);
        assert_eq!(b["error"]["fields"]["last_login_at"], "Ce champ est en lecture seule : seul le système le modifie.");
        assert_eq!(b["error"]["message"], "Certains champs sont invalides.", "{b}");
        let (s, b) = api.send("POST", "/api/v1/users", Some(json!({"email": "x@y.fr", "name": 42, "role": "representant"}))).await;
        assert_eq!(s, 422);
        assert!(b["error"]["fields"]["name"].is_string(), "{b}");
        let (s, b) = api.send("POST", "/api/v1/users", Some(json!({"name": "X", "role": "representant"}))).await;
        assert_eq!(s, 422);
        assert!(b["error"]["fields"]["email"].is_string(), "{b}");
        let (s, b) = api.send("POST", "/api/v1/users", Some(json!({"email": "not an email", "name": "", "role": "representant"}))).await;
        assert_eq!(s, 422);
        assert_eq!(b["error"]["fields"]["email"], "Adresse courriel invalide.", "in the user's language");
        assert!(b["error"]["fields"]["name"].is_string());
        let (s, b) = api.send("POST", "/api/v1/users", Some(json!({"email": "z@y.fr", "name": "Z", "role": "pape"}))).await;
        assert_eq!(s, 422);
        assert!(b["error"]["fields"]["role"].is_string());
        let (s, _) = api.raw("POST", "/api/v1/users", "text/plain", b"{}".to_vec()).await;
        assert_eq!(s, 415);
        let big = format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
        let (s, b) = api.raw("POST", "/api/v1/users", "application/json", big.into_bytes()).await;
        assert_eq!(s, 413);
        assert_eq!(b["error"]["code"], "payload_too_large");
        let (s, b) = api.get("/api/v1/users/not-a-number").await;
        assert_eq!(s, 400);
        assert!(b["error"]["code"].is_string());
        let (s, b) = api.get("/api/v1/users?limit=0").await;
        assert_eq!(s, 422);
        assert!(b["error"]["fields"]["limit"].is_string());
        let (s, _) = api.get("/api/v1/users?after=%%%").await;
        assert!(s == 400 || s == 422);
        assert_eq!(app.snapshot().await, before, "nothing written by refused input");
        // Duplicate email: 409 with the field.
        let (s, _) = api.send("POST", "/api/v1/users", Some(json!({"email": "dup@y.fr", "name": "D", "role": "representant"}))).await;
        assert_eq!(s, 201);
        let (s, b) = api.send("POST", "/api/v1/users", Some(json!({"email": "DUP@y.fr", "name": "D2", "role": "representant"}))).await;
        assert_eq!(s, 409);
        assert!(b["error"]["fields"]["email"].is_string());
        // An English-speaking user reads the same refusals in English.
        let (s, _) = api.send("PATCH", &format!("/api/v1/users/{admin}"), Some(json!({"language": "en"}))).await;
        assert_eq!(s, 200);
        let before = app.snapshot().await;
        let (_, b) = api.raw("POST", "/api/v1/users", "application/json", b"{not json".to_vec()).await;
        assert_eq!(b["error"]["message"], "The request body is not valid JSON.");
        let (_, b) = api
            .send("POST", "/api/v1/users", Some(json!({"email": "e@y.fr", "name": "E", "role": "representant", "last_login_at": "x"})))
            .await;
        assert_eq!(b["error"]["fields"]["last_login_at"], "This field is read-only: only the system sets it.");
        assert_eq!(app.snapshot().await, before, "nothing written by refused input");
        app
    })
    .await;
}

#[tokio::test]
async fn users_api_audit_and_admin_only_fields() {
    each_backend(|app| async move {
        let admin = app.user("admin@test.example", "administrateur", None).await;
        let api = app.api(&app.token_for(admin).await);
        let (s, u) = api
            .send(
                "POST",
                "/api/v1/users",
                Some(
                    json!({"email": " Julie.Roy@Example.FR", "name": "Julie Roy", "role": "representant", "password": "julie-password-1"}),
                ),
            )
            .await;
        assert_eq!(s, 201, "{u}");
        assert_eq!(u["email"], "julie.roy@example.fr");
        let id = u["id"].as_i64().unwrap();
        // The admin sees last_login_at once Julie has logged in; Julie does not.
        app.login("julie.roy@example.fr", "julie-password-1").await.unwrap();
        let (_, seen) = api.get(&format!("/api/v1/users/{id}")).await;
        assert!(seen["last_login_at"].is_string(), "{seen}");
        let julie = app.api(&app.token_for(id).await);
        let (_, self_view) = julie.get(&format!("/api/v1/users/{id}")).await;
        assert!(self_view.get("last_login_at").is_none(), "{self_view}");
        // Nobody writes it.
        let (s, _) = api.send("PATCH", &format!("/api/v1/users/{id}"), Some(json!({"last_login_at": "2020-01-01T00:00:00Z"}))).await;
        assert_eq!(s, 422);
        // A change is audited with old and new values, in the same transaction.
        let (s, u2) =
            api.send("PATCH", &format!("/api/v1/users/{id}"), Some(json!({"name": "Julie Roy-Tremblay", "language": "en"}))).await;
        assert_eq!(s, 200, "{u2}");
        let (s, h) = api.get(&format!("/api/v1/users/{id}/history")).await;
        assert_eq!(s, 200);
        let items = h["items"].as_array().unwrap();
        let name_change = items.iter().find(|e| e["field"] == "name" && e["action"] == "update").unwrap();
        assert_eq!(name_change["old_value"], "Julie Roy");
        assert_eq!(name_change["new_value"], "Julie Roy-Tremblay");
        assert_eq!(name_change["actor_id"], admin);
        assert!(items.iter().any(|e| e["action"] == "create" && e["field"] == "email"));
        // A refused update writes no history.
        let before = app.count("SELECT COUNT(*) FROM audit_events").await;
        let (s, _) = api.send("PATCH", &format!("/api/v1/users/{id}"), Some(json!({"email": "bad"}))).await;
        assert_eq!(s, 422);
        assert_eq!(app.count("SELECT COUNT(*) FROM audit_events").await, before);
        // The history tab shows the change.
        let s = app.login("admin@test.example", PASSWORD).await.unwrap();
        let (st, html) = s.get_text(&format!("/admin/users/{id}/history")).await;
        assert_eq!(st, 200);
        assert!(html.contains("Julie Roy-Tremblay"));
        app
    })
    .await;
}

/// The sales structure used by the visibility tests:
/// company ─ region A ─ branch A1 ─ team A1a
///                    └ branch A2
///         └ region B ─ branch B1
async fn structure(app: &TestApp) -> [i64; 6] {
    let co = app.unit("Compagnie", "company", None).await;
    let ra = app.unit("Région A", "region", Some(co)).await;
    let a1 = app.unit("Succursale A1", "branch", Some(ra)).await;
    let a1a = app.unit("Équipe A1a", "team", Some(a1)).await;
    let a2 = app.unit("Succursale A2", "branch", Some(ra)).await;
    let rb = app.unit("Région B", "region", Some(co)).await;
    let b1 = app.unit("Succursale B1", "branch", Some(rb)).await;
    let _ = b1;
    [co, ra, a1, a1a, a2, rb]
}

async fn visible_emails(app: &TestApp, token: &str) -> Vec<String> {
    let (s, b) = app.api(token).get("/api/v1/users?limit=500").await;
    assert_eq!(s, 200, "{b}");
    let mut v: Vec<String> = b["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn visibility_by_sales_structure() {
    each_backend(|app| async move {
        let [_co, ra, a1, a1a, a2, _rb] = structure(&app).await;
        let dir = app.user("dir@t.fr", "directeur_ventes", Some(ra)).await; // subtree of region A
                                                                            // Unit scope: branch A1 and its team A1a (a team member's home unit is their branch).
        let bdc = app.user("bdc@t.fr", "agent_support", Some(a1)).await;
        let rep = app.user("rep@t.fr", "representant", Some(a1a)).await; // own
        app.user("rep2@t.fr", "representant", Some(a1)).await;
        app.user("rep3@t.fr", "representant", Some(a2)).await;
        app.user("far@t.fr", "representant", None).await;
        let admin = app.user("adm@t.fr", "administrateur", None).await;

        let t = app.token_for(dir).await;
        assert_eq!(visible_emails(&app, &t).await, vec!["bdc@t.fr", "dir@t.fr", "rep2@t.fr", "rep3@t.fr", "rep@t.fr"]);
        let t = app.token_for(bdc).await;
        assert_eq!(visible_emails(&app, &t).await, vec!["bdc@t.fr", "rep2@t.fr", "rep@t.fr"]);
        let t = app.token_for(rep).await;
        assert_eq!(visible_emails(&app, &t).await, vec!["rep@t.fr"]);
        let t = app.token_for(admin).await;
        assert_eq!(visible_emails(&app, &t).await.len(), 7);

        // Detail lookups apply the same filter: invisible is not found.
        let rep_api = app.api(&app.token_for(rep).await);
        assert_eq!(rep_api.get(&format!("/api/v1/users/{bdc}")).await.0, 404);
        assert_eq!(rep_api.get(&format!("/api/v1/users/{rep}")).await.0, 200);
        let s = app.login("rep@t.fr", PASSWORD).await.unwrap();
        assert_eq!(s.get(&format!("/users/{bdc}")).await.status(), 404);
        let (_, html) = s.get_text("/users").await;
        assert!(html.contains("rep@t.fr") && !html.contains("bdc@t.fr"));
        // Search applies it too.
        let bdc_api = app.api(&app.token_for(bdc).await);
        let (_, b) = bdc_api.get("/api/v1/users?q=rep").await;
        let mut found: Vec<&str> = b["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
        found.sort();
        assert_eq!(found, vec!["rep2@t.fr", "rep@t.fr"]);

        // Moving region A's branch A1 under region B takes its subtree along.
        let adm = app.api(&app.token_for(admin).await);
        let rb: i64 = sqlx::query_scalar("SELECT id FROM org_units WHERE name = 'Région B'").fetch_one(&app.state.db.pool).await.unwrap();
        let (s, moved) = adm
            .send("PATCH", &format!("/api/v1/org-units/{a1}"), Some(json!({"name": "Succursale A1", "kind": "branch", "parent_id": rb})))
            .await;
        assert_eq!(s, 200, "{moved}");
        let t = app.token_for(dir).await;
        assert_eq!(visible_emails(&app, &t).await, vec!["dir@t.fr", "rep3@t.fr"]);
        let path: String =
            sqlx::query_scalar("SELECT path FROM org_units WHERE id = $1").bind(a1a).fetch_one(&app.state.db.pool).await.unwrap();
        assert!(path.contains(&format!("/{rb}/{a1}/{a1a}/")), "{path}");
        // A unit cannot move under its own descendant, nor a team hold a branch.
        let (s, _) =
            adm.send("PATCH", &format!("/api/v1/org-units/{a1}"), Some(json!({"name": "X", "kind": "branch", "parent_id": a1a}))).await;
        assert_eq!(s, 422);
        let (s, _) = adm.send("POST", "/api/v1/org-units", Some(json!({"name": "X", "kind": "branch", "parent_id": a1a}))).await;
        assert_eq!(s, 422);
        // A unit in use cannot be deleted.
        let (s, b) = adm.send("DELETE", &format!("/api/v1/org-units/{a1}"), None).await;
        assert_eq!(s, 409, "{b}");
        app
    })
    .await;
}

#[tokio::test]
async fn keyset_pagination_covers_every_row_once() {
    each_backend(|app| async move {
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let mut tx = app.state.db.begin().await.unwrap();
        let role: i64 = sqlx::query_scalar("SELECT id FROM roles WHERE code = 'representant'").fetch_one(&mut *tx).await.unwrap();
        for i in 0..130 {
            // Duplicate names exercise the id tie-breaker.
            sqlx::query(
                "INSERT INTO users (email, name, language, active, role_id, created_at, updated_at) VALUES ($1, $2, 'fr', 1, $3, 0, 0)",
            )
            .bind(format!("u{i}@t.fr"))
            .bind(format!("Nom {}", i % 7))
            .bind(role)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let api = app.api(&app.token_for(admin).await);
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &after {
                Some(a) => format!("/api/v1/users?limit=50&after={a}"),
                None => "/api/v1/users?limit=50".into(),
            };
            let (s, b) = api.get(&path).await;
            assert_eq!(s, 200);
            pages += 1;
            for u in b["items"].as_array().unwrap() {
                seen.push(u["id"].as_i64().unwrap());
            }
            match b["next_cursor"].as_str() {
                Some(c) => after = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n, "no row twice");
        assert_eq!(n, 131);
        app
    })
    .await;
}

#[tokio::test]
async fn roles_rights_take_effect() {
    each_backend(|app| async move {
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let adm = app.api(&app.token_for(admin).await);
        let tech = app.user("tech@t.fr", "technicien", None).await;
        let t = app.api(&app.token_for(tech).await);
        assert_eq!(t.get("/api/v1/users").await.0, 403);
        // A custom role with users.read and the 'all' scope.
        let (s, role) = adm
            .send(
                "POST",
                "/api/v1/roles",
                Some(json!({"code": "lecteur", "name_fr": "Lecteur", "name_en": "Reader", "scope": "all", "rights": ["users.read"]})),
            )
            .await;
        assert_eq!(s, 201, "{role}");
        let (s, _) = adm.send("PATCH", &format!("/api/v1/users/{tech}"), Some(json!({"role": "lecteur"}))).await;
        assert_eq!(s, 200);
        assert_eq!(t.get("/api/v1/users").await.0, 200, "new rights apply at once");
        // Unknown right or scope: 422; built-in role cannot be deleted; a used role neither.
        let (s, b) = adm
            .send("POST", "/api/v1/roles", Some(json!({"code": "x", "name_fr": "X", "name_en": "X", "scope": "galaxy", "rights": ["fly"]})))
            .await;
        assert_eq!(s, 422);
        assert!(b["error"]["fields"]["scope"].is_string() && b["error"]["fields"]["rights"].is_string());
        let builtin: i64 =
            sqlx::query_scalar("SELECT id FROM roles WHERE code = 'technicien'").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(adm.send("DELETE", &format!("/api/v1/roles/{builtin}"), None).await.0, 409);
        let rid = role["id"].as_i64().unwrap();
        assert_eq!(adm.send("DELETE", &format!("/api/v1/roles/{rid}"), None).await.0, 409);
        // The seven default roles exist with their codes.
        let (_, roles) = adm.get("/api/v1/roles").await;
        let codes: Vec<&str> = roles["items"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
        for c in ["administrateur", "directeur_ventes", "representant", "agent_bdc", "agent_support", "technicien", "avant_vente"] {
            assert!(codes.contains(&c), "{c}");
        }
        app
    })
    .await;
}

#[tokio::test]
async fn groups_lists_and_settings() {
    each_backend(|app| async move {
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let rep = app.user("rep@t.fr", "representant", None).await;
        let adm = app.api(&app.token_for(admin).await);
        // Groups.
        let (s, g) = adm.send("POST", "/api/v1/groups", Some(json!({"name": "DV Laval", "members": [admin, rep]}))).await;
        assert_eq!(s, 201, "{g}");
        assert_eq!(g["members"].as_array().unwrap().len(), 2);
        let (s, _) = adm.send("POST", "/api/v1/groups", Some(json!({"name": "DV Laval"}))).await;
        assert_eq!(s, 409);
        let (s, _) = adm.send("POST", "/api/v1/groups", Some(json!({"name": "Fantômes", "members": [999999]}))).await;
        assert_eq!(s, 422);
        let emails = carnet::org::groups::member_emails(&app.state.db, g["id"].as_i64().unwrap()).await.unwrap();
        assert_eq!(emails, vec!["admin@t.fr", "rep@t.fr"]);

        // Lists: the built-in lists exist; entries have stable codes, labels, order, flags.
        let (s, items) = adm.get("/api/v1/lists/opportunity_status/items").await;
        assert_eq!(s, 200);
        let items = items["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 13);
        let sold = items.iter().find(|i| i["code"] == "pris_en_charge").unwrap();
        assert!(sold["flags"].as_str().unwrap().contains("sets_sale_date"));
        let (s, b) = adm
            .send(
                "POST",
                "/api/v1/lists/request_type/items",
                Some(json!({"code": "rappel", "label_fr": "Rappel", "label_en": "Recall", "flags": ["trash"]})),
            )
            .await;
        assert_eq!(s, 422, "request types carry no flags: {b}");
        let (s, it) = adm
            .send(
                "POST",
                "/api/v1/lists/request_type/items",
                Some(json!({"code": "rappel", "label_fr": "Rappel", "label_en": "Recall", "position": 5})),
            )
            .await;
        assert_eq!(s, 201, "{it}");
        let id = it["id"].as_i64().unwrap();
        let (s, it) = adm
            .send(
                "PATCH",
                &format!("/api/v1/lists/request_type/items/{id}"),
                Some(json!({"code": "changed", "label_fr": "Rappel produit", "label_en": "Product recall", "active": false})),
            )
            .await;
        assert_eq!(s, 200);
        assert_eq!(it["code"], "rappel", "codes are stable");
        assert_eq!(it["active"], false);
        // Inactive entries are hidden from users who do not administer lists.
        let r = app.api(&app.token_for(rep).await);
        let (_, visible) = r.get("/api/v1/lists/request_type/items").await;
        assert!(!visible["items"].as_array().unwrap().iter().any(|i| i["code"] == "rappel"));
        assert_eq!(
            r.send("POST", "/api/v1/lists/request_type/items", Some(json!({"code": "x", "label_fr": "x", "label_en": "x"}))).await.0,
            403
        );

        // Settings: typed, validated all-or-nothing, audited.
        let before = app.snapshot().await;
        let (s, b) = adm.send("PATCH", "/api/v1/settings", Some(json!({"lists.page_size": "20", "ui.default_language": "de"}))).await;
        assert_eq!(s, 422, "{b}");
        assert_eq!(app.snapshot().await, before);
        let (s, b) = adm.send("PATCH", "/api/v1/settings", Some(json!({"lists.page_size": "20"}))).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(carnet::settings::get_int(&app.state.db, "lists.page_size").await.unwrap(), 20);
        assert_eq!(app.count("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'setting' AND field = 'lists.page_size'").await, 1);
        app
    })
    .await;
}

#[tokio::test]
async fn html_forms_keep_input_and_show_field_errors() {
    each_backend(|app| async move {
        let s = app.admin_session().await;
        let r = s
            .post(
                "/admin/users",
                &[("name", "Gérard Lambert"), ("email", "pas-un-courriel"), ("role", "representant"), ("language", "fr"), ("active", "on")],
            )
            .await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(html.contains("value=\"Gérard Lambert\""), "typed name kept");
        assert!(html.contains("value=\"pas-un-courriel\""), "typed email kept");
        assert!(html.contains("Adresse courriel invalide."));
        assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE name = 'Gérard Lambert'").await, 0);
        let r = s
            .post(
                "/admin/users",
                &[
                    ("name", "Gérard Lambert"),
                    ("email", "gerard@t.fr"),
                    ("role", "representant"),
                    ("language", "fr"),
                    ("active", "on"),
                    ("password", "long-enough-pw"),
                ],
            )
            .await;
        assert_eq!(r.status(), 303);
        assert!(app.login("gerard@t.fr", "long-enough-pw").await.is_ok());
        // Org units, roles and groups forms behave the same.
        let r = s.post("/admin/org-units", &[("name", ""), ("kind", "team")]).await;
        assert_eq!(r.status(), 422);
        let r = s
            .post("/admin/roles", &[("code", "Bad Code"), ("name_fr", "Rôle"), ("name_en", ""), ("scope", "own"), ("rights", "users.read")])
            .await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(html.contains("value=\"Bad Code\"") && html.contains("value=\"users.read\" checked"));
        app
    })
    .await;
}

#[tokio::test]
async fn history_shows_word_level_diff_of_long_text() {
    each_backend(|app| async move {
        let s = app.admin_session().await;
        let long1 = "Les représentants de la succursale de Laval qui reçoivent les confirmations de rendez-vous du samedi";
        let long2 = "Les représentants et directeurs de la succursale de Laval qui reçoivent les confirmations de rendez-vous";
        let r = s.post("/admin/groups", &[("name", "DV Laval"), ("description", long1)]).await;
        assert_eq!(r.status(), 303);
        let loc = r.headers().get("location").unwrap().to_str().unwrap().split('?').next().unwrap().to_string();
        let r = s.post(&loc, &[("name", "DV Laval"), ("description", long2)]).await;
        assert_eq!(r.status(), 303);
        let (st, html) = s.get_text(&format!("{loc}/history")).await;
        assert_eq!(st, 200);
        assert!(html.contains("<ins>et directeurs </ins>") || html.contains("<ins>et </ins>"), "{html}");
        assert!(html.contains("<del>"), "removed words highlighted");
        app
    })
    .await;
}

#[tokio::test]
async fn pages_in_french_and_english() {
    each_backend(|app| async move {
        let s = app.admin_session().await;
        let pages = [
            "/",
            "/admin",
            "/admin/users",
            "/admin/users/new",
            "/admin/roles",
            "/admin/roles/new",
            "/admin/org-units",
            "/admin/groups",
            "/admin/groups/new",
            "/admin/lists",
            "/admin/lists/opportunity_status",
            "/admin/settings",
            "/admin/jobs",
            "/account",
            "/users",
            "/api/docs",
            "/customers",
            "/customers/new",
            "/admin/outbox",
            "/admin/email-templates",
            "/admin/email-templates/account_created/en",
        ];
        for p in pages {
            let (st, html) = s.get_text(p).await;
            assert_eq!(st, 200, "{p}");
            assert!(html.contains("lang=\"fr\""), "{p}");
            // No message key shown raw (right codes are shown on purpose, in <code>).
            let html: String =
                html.split("<code class=\"small\">").map(|part| part.split_once("</code>").map(|(_, rest)| rest).unwrap_or(part)).collect();
            for bad in ["error.", "admin.", "nav.", "action.", "notice.", "history."] {
                assert!(!html.contains(&format!(">{bad}")), "{p} shows a raw key {bad}");
            }
        }
        assert_eq!(s.post("/language", &[("lang", "en")]).await.status(), 303);
        for p in pages {
            let (st, html) = s.get_text(p).await;
            assert_eq!(st, 200, "{p}");
            assert!(html.contains("lang=\"en\""), "{p}");
        }
        let (_, html) = s.get_text("/admin").await;
        assert!(html.contains("Users") && html.contains("Roles and rights"));
        app
    })
    .await;
}

#[tokio::test]
async fn openapi_documents_every_api_route() {
    each_backend(|app| async move {
        let r = app.anon().get(format!("{}/api/v1/openapi.json", app.url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let doc: serde_json::Value = r.json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        for route in carnet::http::router::ROUTES {
            if !route.path.starts_with("/api/v1/") || route.path.ends_with("openapi.json") {
                continue;
            }
            let op = &doc["paths"][route.path][route.method];
            assert!(op.is_object(), "{} {} is not documented", route.method, route.path);
        }
        app
    })
    .await;
}

#[tokio::test]
async fn jobs_run_retry_and_schedule_once() {
    each_backend(|app| async move {
        use carnet::jobs::{self, Period, Registry};
        let ctx = app.state.job_context();
        let mut reg = Registry::default();
        reg.register("always-fails", |_, _| async { Err(anyhow::anyhow!("SMTP down")) });
        reg.register("ok", |_, p| async move { Ok(format!("got {p}")) });
        reg.schedule("ok", Period::Daily);
        let now = app.now();
        let mut tx = app.state.db.begin().await.unwrap();
        let id = jobs::enqueue(&mut tx, "always-fails", &json!({}), now, now, None).await.unwrap().unwrap();
        tx.commit().await.unwrap();
        // First attempt fails and is retried with backoff.
        assert!(jobs::run_one(&ctx, &reg, "w1").await.unwrap());
        let (status, run_at): (String, i64) =
            sqlx::query_as("SELECT status, run_at FROM jobs WHERE id = $1").bind(id).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(status, "queued");
        assert_eq!(run_at, now + 10_000);
        assert!(!jobs::run_one(&ctx, &reg, "w1").await.unwrap(), "not due yet");
        for _ in 0..4 {
            app.clock.advance(3_600_000);
            assert!(jobs::run_one(&ctx, &reg, "w1").await.unwrap());
        }
        let (status, err): (String, Option<String>) =
            sqlx::query_as("SELECT status, last_error FROM jobs WHERE id = $1").bind(id).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(status, "failed");
        assert_eq!(err.as_deref(), Some("SMTP down"));
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM job_runs WHERE job_id = {id}")).await, 5);
        // An administrator retries it.
        assert!(jobs::retry(&app.state.db, id, app.now()).await.unwrap());
        // Scheduled jobs: once per period, however many times the scheduler runs.
        assert_eq!(jobs::schedule_due(&ctx, &reg).await.unwrap(), 1);
        assert_eq!(jobs::schedule_due(&ctx, &reg).await.unwrap(), 0);
        app.clock.advance(24 * 3_600_000);
        assert_eq!(jobs::schedule_due(&ctx, &reg).await.unwrap(), 1);
        // A crashed worker's job is taken again when its lease runs out.
        let mut tx = app.state.db.begin().await.unwrap();
        let j = jobs::enqueue(&mut tx, "ok", &json!({"n": 1}), app.now(), app.now(), None).await.unwrap().unwrap();
        tx.commit().await.unwrap();
        sqlx::query("UPDATE jobs SET status = 'done' WHERE id <> $1").bind(j).execute(&app.state.db.pool).await.unwrap();
        let claimed = jobs::claim(&app.state.db, "dead-worker", app.now()).await.unwrap().unwrap();
        assert_eq!(claimed.id, j);
        assert!(jobs::claim(&app.state.db, "w2", app.now()).await.unwrap().is_none(), "leased");
        app.clock.advance(jobs::LEASE_MS + 1);
        let again = jobs::claim(&app.state.db, "w2", app.now()).await.unwrap().unwrap();
        assert_eq!(again.id, j);
        // With a job due for longer waiting too, both are taken, the expired lease first (a
        // dead worker's job is not left behind the queue), then nothing.
        let mut tx = app.state.db.begin().await.unwrap();
        let k = jobs::enqueue(&mut tx, "ok", &json!({"n": 2}), 0, app.now(), None).await.unwrap().unwrap();
        tx.commit().await.unwrap();
        app.clock.advance(jobs::LEASE_MS + 1);
        assert_eq!(jobs::claim(&app.state.db, "w3", app.now()).await.unwrap().unwrap().id, j);
        assert_eq!(jobs::claim(&app.state.db, "w3", app.now()).await.unwrap().unwrap().id, k);
        assert!(jobs::claim(&app.state.db, "w3", app.now()).await.unwrap().is_none());

        // The standard housekeeping job through the API and its rights.
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let (s, out) = app.api(&app.token_for(admin).await).send("POST", "/api/v1/jobs/housekeeping/run", None).await;
        assert_eq!(s, 200, "{out}");
        assert_eq!(out["ok"], true);
        let (s, _) = app.api(&app.token_for(admin).await).send("POST", "/api/v1/jobs/nope/run", None).await;
        assert_eq!(s, 422);
        app
    })
    .await;
}

#[tokio::test]
async fn housekeeping_removes_expired_sessions() {
    each_backend(|app| async move {
        app.user("d@t.fr", "representant", None).await;
        let s = app.login("d@t.fr", PASSWORD).await.unwrap();
        assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 1);
        // Idle past the timeout: the session no longer works, and the job removes it.
        app.clock.advance(app.state.config.session_idle_minutes * 60_000 + 1);
        assert_eq!(s.get("/").await.status(), 303);
        let out = carnet::jobs::run_now(&app.state.job_context(), &app.state.jobs, "housekeeping").await.unwrap();
        assert!(out.is_ok());
        assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
        app
    })
    .await;
}

#[tokio::test]
async fn secure_cookie_when_served_over_https() {
    let app = TestApp::start_with(common::Backend::Sqlite, |c| c.public_url = "https://carnet.example.com".into()).await;
    app.user("e@t.fr", "representant", None).await;
    let client = app.anon();
    let page = client.get(format!("{}/login", app.url)).send().await.unwrap();
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("carnet_login_csrf"))
        .unwrap();
    assert!(cookie.contains("Secure"));
    let html = page.text().await.unwrap();
    let tok = extract(&html, "name=\"login_csrf\" value=\"").unwrap();
    let r = client
        .post(format!("{}/login", app.url))
        .header("cookie", cookie.split(';').next().unwrap())
        .form(&[("email", "e@t.fr"), ("password", PASSWORD), ("login_csrf", &tok)])
        .send()
        .await
        .unwrap();
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-carnet_session="))
        .unwrap();
    assert!(set.contains("; Secure"));
    app.stop().await;
}

#[tokio::test]
async fn user_search_is_accent_and_case_insensitive_by_word_prefix() {
    each_backend(|app| async move {
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let api = app.api(&app.token_for(admin).await);
        for (email, name) in [("helene@t.fr", "Hélène CÔTÉ"), ("marc@t.fr", "Marc Tremblay"), ("eve@t.fr", "Ève Tremblay-Roy")] {
            let (s, _) = api.send("POST", "/api/v1/users", Some(json!({"email": email, "name": name, "role": "representant"}))).await;
            assert_eq!(s, 201);
        }
        let found = |q: &str| {
            let api = &api;
            let q = q.to_string();
            async move {
                let (_, b) = api.get(&format!("/api/v1/users?q={}", carnet::http::auth::urlencode(&q))).await;
                let mut v: Vec<String> = b["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_string()).collect();
                v.sort();
                v
            }
        };
        assert_eq!(found("helene").await, vec!["helene@t.fr"]);
        assert_eq!(found("COTE").await, vec!["helene@t.fr"]);
        assert_eq!(found("trem").await, vec!["eve@t.fr", "marc@t.fr"]);
        assert_eq!(found("tremblay roy").await, vec!["eve@t.fr"]);
        assert_eq!(found("eve").await, vec!["eve@t.fr"]);
        assert!(found("zzz").await.is_empty());
        // Renaming updates the terms.
        let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'marc@t.fr'").fetch_one(&app.state.db.pool).await.unwrap();
        api.send("PATCH", &format!("/api/v1/users/{id}"), Some(json!({"name": "Marc Gagnon"}))).await;
        assert_eq!(found("trem").await, vec!["eve@t.fr"]);
        assert_eq!(found("gagn").await, vec!["marc@t.fr"]);
        app
    })
    .await;
}

#[tokio::test]
async fn switching_language_returns_to_the_same_page_and_never_elsewhere() {
    each_backend(|app| async move {
        let s = app.admin_session().await;
        let (_, html) = s.get_text("/admin/users?q=adm&notice=notice.saved").await;
        let next = common::extract(&html, "name=\"next\" value=\"").expect("the switch carries the page");
        assert_eq!(next, "/admin/users?q=adm", "the page, without its one-time notice");
        let r = s.post("/language", &[("lang", "en"), ("next", "/admin/users?q=adm")]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/admin/users?q=adm");
        let (_, html) = s.get_text("/admin/users?q=adm").await;
        assert!(html.contains("lang=\"en\""));
        for bad in ["//evil.example/x", "https://evil.example", "/\\evil.example", "/\t/evil.example", "evil.example"] {
            let r = s.post("/language", &[("lang", "fr"), ("next", bad)]).await;
            assert_eq!(r.status(), 303);
            assert_eq!(r.headers()["location"], "/", "{bad:?} is not followed");
        }
        app
    })
    .await;
}

/// Errors are said by the rendering layer in the request's language (the user's), with the
/// request id, whichever way the handler returned them (`?` on a domain error, a field error
/// from the domain, the guard's refusal); a 500 shows no internals, only the generic message
/// and the request id.
#[tokio::test]
async fn errors_in_the_users_language_and_500s_without_internals() {
    each_backend(|app| async move {
        let fr = app.user("fr@test.example", "administrateur", None).await;
        let en = app.user("en@test.example", "administrateur", None).await;
        sqlx::query("UPDATE users SET language = 'en' WHERE id = $1").bind(en).execute(&app.state.db.pool).await.unwrap();
        let rep = app.user("rep@test.example", "representant", None).await;
        let cases = [
            (fr, "Cette page ou cette fiche n'existe pas, ou vous n'y avez pas accès.", "Adresse courriel invalide.", "fr"),
            (en, "This page or record does not exist, or you have no access to it.", "Invalid email address.", "en"),
        ];
        for (user, not_found, bad_email, code) in cases {
            // API: a domain NotFound through `?`, a domain validation error with its field.
            let api = app.api(&app.token_for(user).await);
            let r = api.client.get(format!("{}/api/v1/customers/999999", app.url)).bearer_auth(&api.token).send().await.unwrap();
            let rid = r.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
            let (s, b) = json_of(r).await;
            assert_eq!(s, 404);
            assert_eq!(b["error"]["code"], "not_found");
            assert_eq!(b["error"]["message"], not_found, "{code}");
            assert_eq!(b["error"]["request_id"], rid.as_str());
            assert_eq!(b["error"]["fields"], json!({}));
            let before = app.snapshot().await;
            let (s, b) = api
                .send("POST", "/api/v1/customers", Some(json!({"kind": "person", "last_name": "Roy", "email": "pas-un-courriel"})))
                .await;
            assert_eq!(s, 422, "{b}");
            assert_eq!(b["error"]["code"], "validation_failed");
            assert_eq!(b["error"]["fields"]["email"], bad_email, "{code}: {b}");
            assert_eq!(app.snapshot().await, before, "nothing written by refused input");
            // UI: the error page in the user's language, with the request id.
            let email = if user == fr { "fr@test.example" } else { "en@test.example" };
            let s = app.login(email, PASSWORD).await.unwrap();
            let r = s.get("/customers/999999").await;
            assert_eq!(r.status(), 404);
            let rid = r.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
            let html = r.text().await.unwrap();
            assert!(html.contains(&format!("lang=\"{code}\"")), "{html}");
            assert!(html.contains(not_found.split(',').next().unwrap().split('\'').next().unwrap()), "{code}: {html}");
            assert!(html.contains(&rid), "the page shows the request id");
        }
        // The guard's refusal is said in the user's language too.
        let (s, b) = app.api(&app.token_for(rep).await).get("/api/v1/jobs").await;
        assert_eq!(s, 403);
        assert_eq!(b["error"]["message"], "Vous n'avez pas le droit de faire cela.");

        // A fault: the customers table is gone. The client sees the generic message and the
        // request id, never the database's words.
        sqlx::query("ALTER TABLE customers RENAME TO customers_gone").execute(&app.state.db.pool).await.unwrap();
        let internals = ["customers", "table", "relation", "database", "sql", "error returned"];
        let api = app.api(&app.token_for(en).await);
        let r = api.client.get(format!("{}/api/v1/customers", app.url)).bearer_auth(&api.token).send().await.unwrap();
        let rid = r.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
        let (s, b) = json_of(r).await;
        assert_eq!(s, 500);
        assert_eq!(
            b,
            json!({"error": {"code": "internal", "message": "Something went wrong on our side. Give the request id to support.",
                "fields": {}, "request_id": rid}})
        );
        let s = app.login("fr@test.example", PASSWORD).await.unwrap();
        let r = s.get("/customers").await;
        assert_eq!(r.status(), 500);
        let rid = r.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
        let html = r.text().await.unwrap();
        assert!(html.contains(&rid) && html.contains("Une erreur inattendue s"), "{html}");
        let lower = html.to_lowercase();
        for word in internals {
            assert!(!lower.contains(word), "the 500 page shows {word:?}: {html}");
        }
        sqlx::query("ALTER TABLE customers_gone RENAME TO customers").execute(&app.state.db.pool).await.unwrap();
        app
    })
    .await;
}
