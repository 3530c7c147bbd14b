//! Partners, as the channel manager, the partner users and a hostile reseller would use it:
//! a partner organisation created and its administrator invited, the first password, login,
//! opportunities of their own organisation only (a "Primo" one eligible for pre-sales), news
//! published for all or some partners with the unread mark, a partner administrator inviting
//! a colleague, staff visibility over partners by the channel manager's unit, and a tenant
//! boundary proven on every partner route with another partner's ids (generated from the
//! route table). Both databases.

mod common;

use carnet::http::auth::Access;
use carnet::http::router::ROUTES;
use common::{each_backend, extract, Session, TestApp};
use reqwest::StatusCode;

const PW: &str = "Espace-partenaire-2026!";

/// The secret of the last link emailed to `to` (invitation or reset), read from the outbox.
async fn last_link(app: &TestApp, to: &str, kind: &str) -> String {
    let text: String = sqlx::query_scalar("SELECT text_body FROM emails WHERE to_addrs LIKE $1 ORDER BY id DESC LIMIT 1")
        .bind(format!("%{to}%"))
        .fetch_one(&app.state.db.pool)
        .await
        .expect("an email to the partner user");
    let marker = format!("/partner/{kind}/");
    let start = text.find(&marker).unwrap_or_else(|| panic!("a {kind} link in {text}")) + marker.len();
    text[start..].split_whitespace().next().unwrap().to_string()
}

/// The staff side: a channel manager in their unit, a sales rep elsewhere.
struct Staff {
    company: i64,
    unit: i64,
    manager: Session,
    manager_id: i64,
}

async fn staff(app: &TestApp) -> Staff {
    let company = app.unit("Compagnie", "company", None).await;
    let unit = app.unit("Réseau partenaires", "team", Some(company)).await;
    let manager_id = app.user("canal@t.fr", "responsable_partenaires", Some(unit)).await;
    let manager = app.login("canal@t.fr", common::PASSWORD).await.unwrap();
    Staff { company, unit, manager, manager_id }
}

/// Creates a partner through the staff form; returns its id.
async fn partner(s: &Staff, name: &str) -> i64 {
    let r = s
        .manager
        .post(
            "/partners",
            &[
                ("name", name),
                ("unit_id", &s.unit.to_string()),
                ("owner_id", &s.manager_id.to_string()),
                ("email", &format!("contact@{}.example", name.to_lowercase())),
                ("active", "on"),
                ("admin_invites", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let to = r.headers().get("location").unwrap().to_str().unwrap().to_string();
    to.trim_start_matches("/partners/").split('?').next().unwrap().parse().unwrap()
}

/// Follows an invitation link and sets the password; returns the logged-in session.
async fn accept(app: &TestApp, email: &str) -> Session {
    let secret = last_link(app, email, "welcome").await;
    let client = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = client.get(format!("{}/partner/welcome/{secret}", app.url)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let token = extract(&page.text().await.unwrap(), "name=\"token\" value=\"").unwrap();
    let r = client
        .post(format!("{}/partner/welcome/{secret}", app.url))
        .form(&[("password", PW), ("confirm", PW), ("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "password set");
    assert_eq!(client.get(format!("{}/partner/welcome/{secret}", app.url)).send().await.unwrap().status(), StatusCode::GONE, "spent");
    app.partner_login(email, PW).await.expect("partner login")
}

/// Staff invite a partner user (administrator or not) who then sets their password.
async fn onboard(app: &TestApp, s: &Staff, partner: i64, email: &str, admin: bool) -> Session {
    let mut form = vec![("name", "Paul Martin"), ("email", email), ("language", "fr"), ("can_opportunities", "on")];
    if admin {
        form.push(("is_admin", "on"));
    }
    let r = s.manager.post(&format!("/partners/{partner}/invite"), &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    accept(app, email).await
}

async fn create_opportunity(p: &Session, customer: &str, kind: &str) -> i64 {
    let r = p
        .post(
            "/partner/opportunities",
            &[
                ("customer_name", customer),
                ("contact_name", "Julien Giraud"),
                ("contact_email", "julien@giraud.example"),
                ("contact_phone", "+33 4 72 00 00 01"),
                ("product_interest", "ERP"),
                ("amount", "48 000,50"),
                ("expected_close_date", "2027-03-15"),
                ("opportunity_type", kind),
                ("description", "Premier contact au salon."),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let to = r.headers().get("location").unwrap().to_str().unwrap().to_string();
    to.trim_start_matches("/partner/opportunities/").split('?').next().unwrap().parse().unwrap()
}

async fn publish(s: &Staff, title: &str, audience: &str, partners: &[i64]) {
    let ids: Vec<String> = partners.iter().map(i64::to_string).collect();
    let mut form = vec![
        ("title", title),
        ("summary", "Résumé de l'actualité"),
        ("body", "**Gras** et <script>alert(1)</script>\n\n- point un\n- point deux"),
        ("date", "2026-01-05"),
        ("time", "09:00"),
        ("audience", audience),
    ];
    for id in &ids {
        form.push(("partner_ids", id));
    }
    let r = s.manager.post("/news", &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
}

fn tile(home: &str) -> String {
    home.split("id=\"unread-news-count\">").nth(1).and_then(|t| t.split('<').next()).unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_partner_user_is_invited_and_follows_their_opportunities_and_news() {
    each_backend(|app| async move {
        let s = staff(&app).await;
        let a = partner(&s, "Alpha").await;
        let b = partner(&s, "Beta").await;
        let pa = onboard(&app, &s, a, "paul@alpha.example", true).await;
        let pb = onboard(&app, &s, b, "paul@beta.example", false).await;
        assert_eq!(
            app.count("SELECT COUNT(*) FROM emails WHERE event = 'partner_invitation' AND to_addrs LIKE '%paul@alpha.example%'").await,
            1
        );
        // A Primo opportunity: eligible for pre-sales, in the list, with its fields parsed.
        let primo = create_opportunity(&pa, "Menuiserie Giraud", "primo").await;
        let (st, page) = pa.get_text(&format!("/partner/opportunities/{primo}")).await;
        assert_eq!(st, StatusCode::OK);
        assert!(page.contains("Menuiserie Giraud") && page.contains("48000.50") && page.contains("2027-03-15"));
        assert!(page.contains("id=\"presales-request\""), "the Actions menu offers a pre-sales request for a Primo");
        let (amount, status, by): (Option<i64>, String, Option<i64>) =
            sqlx::query_as("SELECT amount_cents, status, created_by_user_id FROM partner_opportunities WHERE id = $1")
                .bind(primo)
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
        assert_eq!((amount, status.as_str()), (Some(4_800_050), "nouvelle"));
        assert!(by.is_some());
        assert!(carnet::partners::store::presales_eligible(&app.state.db, "primo").await.unwrap());
        let upsell = create_opportunity(&pa, "Transports Morel", "extension").await;
        let (_, page) = pa.get_text(&format!("/partner/opportunities/{upsell}")).await;
        assert!(page.contains("presales-not-eligible"));
        // Invalid input names the field and writes nothing.
        let before = app.snapshot().await;
        let r = pa.post("/partner/opportunities", &[("customer_name", ""), ("opportunity_type", "inconnu"), ("amount", "abc")]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.snapshot().await, before);
        // An edit changes only what it carries.
        let r = pa.post(&format!("/partner/opportunities/{primo}"), &[("status", "en_cours")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let (customer, status, amount): (String, String, Option<i64>) =
            sqlx::query_as("SELECT customer_name, status, amount_cents FROM partner_opportunities WHERE id = $1")
                .bind(primo)
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
        assert_eq!((customer.as_str(), status.as_str(), amount), ("Menuiserie Giraud", "en_cours", Some(4_800_050)));
        assert!(
            app.count(&format!(
                "SELECT COUNT(*) FROM audit_events WHERE entity_type = 'partner_opportunity' AND entity_id = {primo} AND field = 'status'"
            ))
            .await
                >= 1
        );
        // The edit form posted back as it renders changes nothing, not even the history.
        let (_, form) = pa.get_text(&format!("/partner/opportunities/{primo}/edit")).await;
        let value = |name: &str| {
            let tag = form.split(&format!("name=\"{name}\"")).nth(1).and_then(|t| t.split('>').next()).unwrap_or_default().to_string();
            extract(&tag, "value=\"").unwrap_or_default().replace("&#43;", "+").replace("&#64;", "@")
        };
        assert_eq!(value("amount"), "48000.50");
        let fields: Vec<(String, String)> =
            ["customer_name", "contact_name", "contact_email", "contact_phone", "product_interest", "amount", "expected_close_date"]
                .iter()
                .map(|n| (n.to_string(), value(n)))
                .chain([
                    ("opportunity_type".to_string(), "primo".to_string()),
                    ("status".to_string(), "en_cours".to_string()),
                    ("description".to_string(), "Premier contact au salon.".to_string()),
                ])
                .collect();
        assert!(form.contains("<option value=\"primo\" selected>") && form.contains("<option value=\"en_cours\" selected>"));
        let before = app.snapshot().await;
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pa.post(&format!("/partner/opportunities/{primo}"), &pairs).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.snapshot().await, before, "an unchanged edit writes nothing");
        // Lists: own organisation only, keyset pages.
        let (_, list) = pa.get_text("/partner/opportunities").await;
        assert!(list.contains("Menuiserie Giraud") && list.contains("Transports Morel"));
        let (_, list_b) = pb.get_text("/partner/opportunities").await;
        assert!(!list_b.contains("Menuiserie Giraud"));
        for i in 0..26 {
            create_opportunity(&pb, &format!("Client B{i:02}"), "renouvellement").await;
        }
        let (_, p1) = pb.get_text("/partner/opportunities").await;
        let next = extract(&p1, "id=\"next-page\" href=\"").or_else(|| {
            p1.split("href=\"").find(|s| s.starts_with("/partner/opportunities?before=")).map(|s| s.split('"').next().unwrap().to_string())
        });
        let next = next.expect("a next page").replace("&amp;", "&");
        let (_, p2) = pb.get_text(&next).await;
        assert!(p1.contains("Client B25") && !p1.contains("Client B00") && p2.contains("Client B00") && !p2.contains("Client B25"));
        // News: one for all, one for Alpha only; unread marks on the home page.
        publish(&s, "Nouveautés 2027", "all", &[]).await;
        publish(&s, "Certification Alpha", "some", &[a]).await;
        assert_eq!(tile(&pa.get_text("/partner").await.1), "2");
        assert_eq!(tile(&pb.get_text("/partner").await.1), "1");
        let (_, news_b) = pb.get_text("/partner/news").await;
        assert!(news_b.contains("Nouveautés 2027") && !news_b.contains("Certification Alpha"));
        let alpha_news: i64 = sqlx::query_scalar("SELECT id FROM news_items WHERE title = 'Certification Alpha'")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        assert_eq!(pb.get(&format!("/partner/news/{alpha_news}")).await.status(), StatusCode::NOT_FOUND);
        let (st, item) = pa.get_text(&format!("/partner/news/{alpha_news}")).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            item.contains("<strong>Gras</strong>") && item.contains("&lt;script&gt;") && !item.contains("<script>alert"),
            "safe formatted text"
        );
        assert!(item.contains("<li>point un</li>"));
        assert_eq!(tile(&pa.get_text("/partner").await.1), "1", "read once, no longer unread");
        // An image: PNG accepted, anything else refused; partners of the audience see it.
        let png = b"\x89PNG\r\n\x1a\n0000".to_vec();
        let upload = |bytes: Vec<u8>, name: &'static str| {
            let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name(name));
            s.manager.client.post(format!("{}/news/{alpha_news}/image?_csrf={}", app.url, s.manager.csrf)).multipart(form).send()
        };
        let before = app.snapshot().await;
        assert_eq!(upload(b"<svg onload=alert(1)>".to_vec(), "x.svg").await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.snapshot().await, before);
        assert_eq!(upload(png.clone(), "a.png").await.unwrap().status(), StatusCode::SEE_OTHER);
        let r = pa.get(&format!("/partner/news/{alpha_news}/image")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers().get("content-type").unwrap(), "image/png");
        assert_eq!(r.bytes().await.unwrap().to_vec(), png);
        assert!(pa.get_text(&format!("/partner/news/{alpha_news}")).await.1.contains(&format!("/partner/news/{alpha_news}/image")));
        assert_eq!(pb.get(&format!("/partner/news/{alpha_news}/image")).await.status(), StatusCode::NOT_FOUND, "not for another partner");
        // A news item published later is not shown yet.
        let r = s
            .manager
            .post(
                "/news",
                &[("title", "Plus tard"), ("summary", "S"), ("body", "B"), ("date", "2099-01-01"), ("time", "09:00"), ("audience", "all")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(!pa.get_text("/partner/news").await.1.contains("Plus tard"));
        // The partner administrator invites a colleague; a plain user may not.
        let r = pa
            .post("/partner/colleagues", &[("name", "Claire Dubois"), ("email", "claire@alpha.example"), ("can_opportunities", "on")])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
        let claire = accept(&app, "claire@alpha.example").await;
        assert!(
            claire.get_text("/partner/opportunities").await.1.contains("Menuiserie Giraud"),
            "a colleague sees the organisation's opportunities"
        );
        let before = app.snapshot().await;
        assert_eq!(pb.post("/partner/colleagues", &[("name", "X"), ("email", "x@beta.example")]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.snapshot().await, before);
        // An address already used by another partner's user is refused.
        let r = pa.post("/partner/colleagues", &[("name", "Intrus"), ("email", "paul@beta.example")]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // Without the right "Opportunités", the opportunities are refused.
        let claire_id: i64 = sqlx::query_scalar("SELECT id FROM partner_users WHERE email = 'claire@alpha.example'")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        let r = s.manager.post(&format!("/partners/{a}/users/{claire_id}/revoke-opportunities"), &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(claire.get("/partner/opportunities").await.status(), StatusCode::FORBIDDEN);
        assert!(!claire.get_text("/partner").await.1.contains("/partner/opportunities\""), "no link to what they may not open");
        // Deactivating a partner ends its users' sessions and logins.
        let r = s
            .manager
            .post(&format!("/partners/{b}"), &[("name", "Beta"), ("unit_id", &s.unit.to_string()), ("owner_id", &s.manager_id.to_string())])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(pb.get("/partner").await.status(), StatusCode::SEE_OTHER, "session ended");
        assert!(app.partner_login("paul@beta.example", PW).await.is_err());
        app
    })
    .await;
}

#[tokio::test]
async fn staff_see_partners_and_their_opportunities_by_visibility() {
    each_backend(|app| async move {
        let s = staff(&app).await;
        let a = partner(&s, "Alpha").await;
        let pa = onboard(&app, &s, a, "paul@alpha.example", true).await;
        let primo = create_opportunity(&pa, "Menuiserie Giraud", "primo").await;
        // The channel manager sees the partner's opportunities.
        let (st, list) = s.manager.get_text("/partners/opportunities").await;
        assert_eq!(st, StatusCode::OK);
        assert!(list.contains("Menuiserie Giraud"));
        let (st, page) = s.manager.get_text(&format!("/partners/opportunities/{primo}")).await;
        assert_eq!(st, StatusCode::OK);
        assert!(page.contains("Alpha") && page.contains("Julien Giraud"));
        let (_, hist) = s.manager.get_text(&format!("/partners/opportunities/{primo}/history")).await;
        assert!(hist.contains("Menuiserie Giraud"));
        // A channel manager of another unit sees neither the partner nor its deals.
        let other_unit = app.unit("Autre réseau", "team", Some(s.company)).await;
        app.user("autre@t.fr", "responsable_partenaires", Some(other_unit)).await;
        let other = app.login("autre@t.fr", common::PASSWORD).await.unwrap();
        assert!(!other.get_text("/partners").await.1.contains("Alpha"));
        assert!(!other.get_text("/partners/opportunities").await.1.contains("Menuiserie Giraud"));
        assert_eq!(other.get(&format!("/partners/{a}")).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(other.get(&format!("/partners/opportunities/{primo}")).await.status(), StatusCode::NOT_FOUND);
        let before = app.snapshot().await;
        let r = other.post(&format!("/partners/{a}/invite"), &[("name", "X"), ("email", "x@alpha.example")]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(app.snapshot().await, before);
        // A sales rep has no right to the partners.
        app.user("rep@t.fr", "representant", Some(s.unit)).await;
        let rep = app.login("rep@t.fr", common::PASSWORD).await.unwrap();
        assert_eq!(rep.get("/partners").await.status(), StatusCode::FORBIDDEN);
        assert_eq!(rep.get("/news").await.status(), StatusCode::FORBIDDEN);
        // The partner's history records who changed what.
        let (_, h) = s.manager.get_text(&format!("/partners/{a}/history")).await;
        assert!(h.contains("Alpha"));
        app
    })
    .await;
}

/// Fills the path parameters of a partner route with partner B's ids.
fn with_ids(path: &str, opp: i64, news: i64, user: i64, presales: i64) -> Option<String> {
    let mut out = String::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        if !seg.starts_with('{') {
            out.push_str(seg);
            continue;
        }
        let id = match (path, seg) {
            (p, "{id}") if p.starts_with("/partner/opportunities/") => opp,
            (p, "{id}") if p.starts_with("/partner/news/") => news,
            (p, "{id}") if p.starts_with("/partner/colleagues/") => user,
            (p, "{id}") if p.starts_with("/partner/presales/") => presales,
            (_, "{step}") => {
                out.push_str("cancel");
                continue;
            }
            (_, "{action}") => {
                out.push_str("deactivate");
                continue;
            }
            _ => return None,
        };
        out.push_str(&id.to_string());
    }
    Some(out)
}

#[tokio::test]
async fn every_partner_route_answers_404_for_another_partners_ids_and_changes_nothing() {
    each_backend(|app| async move {
        let s = staff(&app).await;
        let a = partner(&s, "Alpha").await;
        let b = partner(&s, "Beta").await;
        let pa = onboard(&app, &s, a, "paul@alpha.example", true).await;
        let pb = onboard(&app, &s, b, "paul@beta.example", true).await;
        let b_opp = create_opportunity(&pb, "Client Beta", "primo").await;
        publish(&s, "Pour Beta", "some", &[b]).await;
        let b_news: i64 =
            sqlx::query_scalar("SELECT id FROM news_items WHERE title = 'Pour Beta'").fetch_one(&app.state.db.pool).await.unwrap();
        let b_user: i64 =
            sqlx::query_scalar("SELECT id FROM partner_users WHERE partner_id = $1").bind(b).fetch_one(&app.state.db.pool).await.unwrap();
        // B's pre-sales request, created and submitted through B's pages.
        let created = pb
            .post(
                "/partner/presales",
                &[
                    ("partner_opportunity_id", &b_opp.to_string()),
                    ("description", "Démo Beta"),
                    ("intervention_type", "demo"),
                    ("confirmed", "1"),
                ],
            )
            .await;
        assert_eq!(created.status(), StatusCode::SEE_OTHER);
        let b_presales: i64 = sqlx::query_scalar("SELECT id FROM presales_requests WHERE partner_id = $1")
            .bind(b)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        assert_eq!(pb.post(&format!("/partner/presales/{b_presales}/submit"), &[("confirmed", "1")]).await.status(), StatusCode::SEE_OTHER);
        let mut tried = 0;
        for r in ROUTES.iter().filter(|r| matches!(r.access, Access::Partner | Access::PartnerOpportunities) && r.path.contains('{')) {
            let path = with_ids(r.path, b_opp, b_news, b_user, b_presales).unwrap_or_else(|| panic!("no id for {}", r.path));
            let before = app.snapshot().await;
            let resp = if r.method == "get" {
                pa.get(&path).await
            } else {
                pa.post(
                    &path,
                    &[
                        ("customer_name", "Pirate"),
                        ("status", "perdue"),
                        ("reason", "pirate"),
                        ("confirmed", "1"),
                        ("description", "Pirate"),
                    ],
                )
                .await
            };
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{} {path} with another partner's id", r.method);
            let unknown = with_ids(r.path, 999_991, 999_992, 999_993, 999_994).unwrap();
            let unknown_status = if r.method == "get" { pa.get(&unknown).await.status() } else { pa.post(&unknown, &[]).await.status() };
            assert_eq!(unknown_status, StatusCode::NOT_FOUND, "{unknown}: the same as an unknown id");
            assert_eq!(app.snapshot().await, before, "{} {path} changed nothing", r.method);
            tried += 1;
        }
        assert!(tried >= 6, "the partner routes with ids were walked ({tried})");
        // Lists never show B's records.
        for p in [
            "/partner",
            "/partner/opportunities",
            "/partner/opportunities?q=Beta",
            "/partner/news",
            "/partner/colleagues",
            "/partner/presales",
        ] {
            let (st, body) = pa.get_text(p).await;
            assert_eq!(st, StatusCode::OK, "{p}");
            assert!(
                !body.contains("Client Beta")
                    && !body.contains("Pour Beta")
                    && !body.contains("paul@beta.example")
                    && !body.contains("AV-"),
                "{p} shows nothing of B"
            );
        }
        // The staff opportunity pages refuse a partner session (they ask for the staff login).
        app
    })
    .await;
}

#[tokio::test]
async fn each_kind_of_session_opens_only_its_own_routes() {
    each_backend(|app| async move {
        let s = staff(&app).await;
        let a = partner(&s, "Alpha").await;
        let pa = onboard(&app, &s, a, "paul@alpha.example", true).await;
        let concrete = |p: &str| -> String { p.split('/').map(|s| if s.starts_with('{') { "1" } else { s }).collect::<Vec<_>>().join("/") };
        // A customer portal user, and an administrator.
        let admin_id = app.user("adm@t.fr", "administrateur", None).await;
        let admin = app.login("adm@t.fr", common::PASSWORD).await.unwrap();
        let api = app.api(&app.token_for(admin_id).await);
        let (_, cu) =
            api.send("POST", "/api/v1/customers", Some(serde_json::json!({"kind": "company", "company_name": "Client Portail"}))).await;
        let customer = cu["id"].as_i64().unwrap();
        let (_, ct) = api
            .send(
                "POST",
                &format!("/api/v1/customers/{customer}/contacts"),
                Some(serde_json::json!({"first_name": "Léa", "last_name": "Portail", "email": "lea@portail.example"})),
            )
            .await;
        let contact = ct["id"].as_i64().unwrap();
        let sys = carnet::access::Actor::system();
        carnet::portal::accounts::set_customer_portal(&app.state.db, &sys, app.now(), customer, true, false).await.unwrap();
        let (_, secret) = carnet::portal::accounts::invite(&app.state.db, &sys, app.now(), customer, Some(contact), false).await.unwrap();
        carnet::portal::accounts::set_password_by_link(&app.state.db, app.now(), &secret, carnet::portal::accounts::Purpose::Invite, PW)
            .await
            .unwrap();
        let portal = app.portal_login("lea@portail.example", PW).await.expect("portal login");
        // The same password does not open the partner portal, nor the partner's the customer one.
        assert!(app.partner_login("lea@portail.example", PW).await.is_err());
        assert!(app.portal_login("paul@alpha.example", PW).await.is_err());
        // A partner session on staff and customer portal routes: their own logins, nothing changed.
        let before = app.snapshot().await;
        for r in ROUTES.iter().filter(|r| !r.access.is_public() && !r.access.is_partner()) {
            let path = concrete(r.path);
            let resp = match r.method {
                "get" => pa.get(&path).await,
                m => {
                    let method = reqwest::Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
                    pa.client.request(method, format!("{}{path}", app.url)).form(&[("_csrf", pa.csrf.as_str())]).send().await.unwrap()
                }
            };
            if path.starts_with("/api/") {
                assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{} {path} with a partner session", r.method);
            } else {
                assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{} {path} with a partner session", r.method);
                let to = resp.headers().get("location").unwrap().to_str().unwrap();
                let login = if r.access.is_portal() { "/portal/login" } else { "/login" };
                assert!(to.starts_with(login), "{path} sends to {login}, not {to}");
            }
        }
        assert_eq!(app.snapshot().await, before, "a partner session changed nothing elsewhere");
        // Staff and customer portal sessions on partner routes: the partner login.
        for r in ROUTES.iter().filter(|r| matches!(r.access, Access::Partner | Access::PartnerOpportunities)) {
            let path = concrete(r.path);
            let resp = if r.method == "get" { s.manager.get(&path).await } else { s.manager.post(&path, &[]).await };
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path} with a staff session");
            assert!(resp.headers().get("location").unwrap().to_str().unwrap().starts_with("/partner/login"));
            let resp = if r.method == "get" { admin.get(&path).await } else { admin.post(&path, &[]).await };
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path} with an administrator's session");
            let resp = if r.method == "get" { portal.get(&path).await } else { portal.post(&path, &[]).await };
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path} with a customer portal session");
            assert!(resp.headers().get("location").unwrap().to_str().unwrap().starts_with("/partner/login"));
        }
        assert_eq!(app.snapshot().await, before, "nothing changed");
        app
    })
    .await;
}

/// The partner's account page: their name and language changed (history kept, the other
/// partner's user untouched), a bad name refused with what was typed kept, the password
/// changed through the realm's code shared with the customer portal (wrong current password
/// refused, the other sessions closed, the new password works).
#[tokio::test]
async fn a_partner_user_keeps_their_own_account() {
    each_backend(|app| async move {
        let s = staff(&app).await;
        let a = partner(&s, "Alpha").await;
        let b = partner(&s, "Beta").await;
        let pa = onboard(&app, &s, a, "paul@alpha.example", false).await;
        let _pb = onboard(&app, &s, b, "paul@beta.example", true).await;
        let other_session = app.partner_login("paul@alpha.example", PW).await.expect("second session");
        let (st, page) = pa.get_text("/partner").await;
        assert_eq!(st, StatusCode::OK);
        assert!(page.contains("href=\"/partner/account\""), "the user's name leads to the account page");
        let (st, page) = pa.get_text("/partner/account").await;
        assert_eq!(st, StatusCode::OK);
        assert!(page.contains("paul@alpha.example") && page.contains("value=\"Paul Martin\"") && page.contains("id=\"change-password\""));

        // A blank name is refused, with the typed language kept.
        let before = app.snapshot().await;
        let r = pa.post("/partner/account", &[("name", "  "), ("language", "en")]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = r.text().await.unwrap();
        assert!(body.contains("<option value=\"en\" selected>"), "what was typed is kept");
        assert_eq!(pa.post("/partner/account", &[("name", "Paul"), ("language", "xx")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.snapshot().await, before, "a refused save changes nothing");

        // Name and language saved: the portal now answers in English.
        let r = pa.post("/partner/account", &[("name", "Paul M. Martin"), ("language", "en")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let (_, page) = pa.get_text("/partner/account").await;
        assert!(page.contains("value=\"Paul M. Martin\"") && page.contains("My account"), "{page}");
        let (name, lang): (String, String) =
            sqlx::query_as("SELECT name, language FROM partner_users WHERE email = 'paul@beta.example'").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!((name.as_str(), lang.as_str()), ("Paul Martin", "fr"), "the other partner's user is untouched");
        let history = app.count("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'partner_user' AND action = 'update' AND field = 'name' AND new_value = 'Paul M. Martin'").await;
        assert_eq!(history, 1, "the change is in the history");

        // The password: the current one is checked, both new ones must match.
        let before = app.snapshot().await;
        let wrong = pa.post("/partner/account/password", &[("current_password", "nope"), ("new_password", "Autre-mot-2027!x"), ("confirm", "Autre-mot-2027!x")]).await;
        assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let mismatch = pa.post("/partner/account/password", &[("current_password", PW), ("new_password", "Autre-mot-2027!x"), ("confirm", "Autre-mot-2027!y")]).await;
        assert_eq!(mismatch.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.snapshot().await, before);
        let ok = pa.post("/partner/account/password", &[("current_password", PW), ("new_password", "Autre-mot-2027!x"), ("confirm", "Autre-mot-2027!x")]).await;
        assert_eq!(ok.status(), StatusCode::SEE_OTHER);
        assert_eq!(pa.get("/partner/account").await.status(), StatusCode::OK, "this session goes on");
        assert_eq!(other_session.get("/partner/account").await.status(), StatusCode::SEE_OTHER, "the other session is closed");
        assert!(app.partner_login("paul@alpha.example", PW).await.is_err());
        assert!(app.partner_login("paul@alpha.example", "Autre-mot-2027!x").await.is_ok());
        assert!(app.partner_login("paul@beta.example", PW).await.is_ok(), "B's password unchanged");
        app
    })
    .await;
}

/// The partners API as the channel manager uses it: their partners and the partners'
/// opportunities (by visibility: another unit's manager reads 404s and empty lists, keyset
/// pages), news listed, read and published (bad input: 422 on the field, nothing written).
#[tokio::test]
async fn the_channel_manager_reads_partners_and_publishes_news_through_the_api() {
    each_backend(|app| async move {
        let s = staff(&app).await;
        let a = partner(&s, "Alpha").await;
        let b = partner(&s, "Beta").await;
        let pa = onboard(&app, &s, a, "paul@alpha.example", true).await;
        let o1 = create_opportunity(&pa, "Menuiserie Giraud", "primo").await;
        let o2 = create_opportunity(&pa, "Transports Morel", "extension").await;
        let api = app.api(&app.token_for(s.manager_id).await);
        let (st, list) = api.get("/api/v1/partners?limit=1").await;
        assert_eq!(st, 200, "{list}");
        assert_eq!(list["items"][0]["name"], "Alpha");
        let cursor = list["next_cursor"].as_str().expect("a second page").to_string();
        let (_, page2) = api.get(&format!("/api/v1/partners?limit=1&after={}", urlencode(&cursor))).await;
        assert_eq!(page2["items"][0]["id"].as_i64(), Some(b));
        assert!(page2["next_cursor"].is_null());
        let (st, one) = api.get(&format!("/api/v1/partners/{a}")).await;
        assert_eq!((st.as_u16(), one["name"].as_str()), (200, Some("Alpha")));
        let (_, opps) = api.get("/api/v1/partner-opportunities?limit=1").await;
        assert_eq!(opps["items"][0]["id"].as_i64(), Some(o2), "newest first");
        let (_, opps2) = api.get(&format!("/api/v1/partner-opportunities?limit=1&after={}", opps["next_cursor"].as_str().unwrap())).await;
        assert_eq!(opps2["items"][0]["id"].as_i64(), Some(o1));
        let (_, eligible) = api.get("/api/v1/partner-opportunities?presales_only=true").await;
        assert_eq!(eligible["items"].as_array().unwrap().len(), 1);
        let (st, o) = api.get(&format!("/api/v1/partner-opportunities/{o1}")).await;
        assert_eq!((st.as_u16(), o["customer_name"].as_str(), o["partner_id"].as_i64()), (200, Some("Menuiserie Giraud"), Some(a)));
        assert_eq!(api.get("/api/v1/partners?after=garbage").await.0, 422);

        // Another unit's channel manager sees none of it.
        let other_unit = app.unit("Autre réseau", "team", Some(s.company)).await;
        let other = app.user("autre@t.fr", "responsable_partenaires", Some(other_unit)).await;
        let other = app.api(&app.token_for(other).await);
        assert_eq!(other.get(&format!("/api/v1/partners/{a}")).await.0, 404);
        assert_eq!(other.get(&format!("/api/v1/partner-opportunities/{o1}")).await.0, 404);
        assert!(other.get("/api/v1/partners").await.1["items"].as_array().unwrap().is_empty());
        assert!(other.get("/api/v1/partner-opportunities").await.1["items"].as_array().unwrap().is_empty());

        // News: published for some partners, read back with its audience.
        let before = app.snapshot().await;
        let (st, e) = api.send("POST", "/api/v1/news", Some(serde_json::json!({"title": " ", "summary": "S", "body": "B", "audience": "some"}))).await;
        assert_eq!(st, 422);
        assert!(e["error"]["fields"]["title"].is_string() && e["error"]["fields"]["partner_ids"].is_string(), "{e}");
        let (st, e) = api
            .send("POST", "/api/v1/news", Some(serde_json::json!({"title": "T", "summary": "S", "body": "B", "audience": "some", "partner_ids": [999_999]})))
            .await;
        assert_eq!((st.as_u16(), e["error"]["fields"]["partner_ids"].is_string()), (422, true), "{e}");
        let (st, e) = api.send("POST", "/api/v1/news", Some(serde_json::json!({"title": "T", "summary": "S", "body": "B", "audience": "all", "date": "2026-13-40"}))).await;
        assert_eq!((st.as_u16(), e["error"]["fields"]["date"].is_string()), (422, true), "{e}");
        assert_eq!(app.snapshot().await, before, "refusals write nothing");
        let (st, n) = api
            .send(
                "POST",
                "/api/v1/news",
                Some(serde_json::json!({"title": "Nouvelle version", "summary": "Quoi de neuf", "body": "**Enfin** là", "audience": "some", "partner_ids": [a]})),
            )
            .await;
        assert_eq!(st, 201, "{n}");
        let id = n["id"].as_i64().unwrap();
        let (_, got) = api.get(&format!("/api/v1/news/{id}")).await;
        assert_eq!((got["title"].as_str(), got["partner_ids"].clone()), (Some("Nouvelle version"), serde_json::json!([a])));
        let (_, all) = api.get("/api/v1/news").await;
        assert!(all["items"].as_array().unwrap().iter().any(|x| x["id"].as_i64() == Some(id)));
        // The partner reads it in the portal; B's user would not (audience).
        let (_, news) = pa.get_text("/partner/news").await;
        assert!(news.contains("Nouvelle version"));
        app
    })
    .await;
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}
