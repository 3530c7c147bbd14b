//! The global search (issue 21), on both backends: each kind of record found only when the
//! user holds its read right and only within their visibility (a rep's own customers and
//! opportunities, a support agent's unit's requests, found by number in full or in part and by
//! an equipment's serial number), another unit's records never shown (names that would break
//! the page stay text), the page, its dropdown fragment and the API agreeing, bad input refused.

mod common;

use common::{each_backend, Api, TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn created(api: &Api, path: &str, body: Value) -> i64 {
    let (s, v) = api.send("POST", path, Some(body)).await;
    assert_eq!(s, 201, "{path}: {v}");
    v["id"].as_i64().unwrap_or_else(|| panic!("{path}: {v}"))
}

async fn linked(api: &Api, request: i64, equipment: i64) {
    let path = format!("/api/v1/service-requests/{request}/equipment");
    let (s, v) = api.send("POST", &path, Some(json!({"equipment_id": equipment}))).await;
    assert_eq!(s, 201, "{path}: {v}");
}

/// The ids found of `kind` (empty when the group is absent), and the group itself.
fn found(v: &Value, kind: &str) -> Vec<i64> {
    v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["kind"] == kind)
        .map(|g| g["hits"].as_array().unwrap().iter().map(|h| h["id"].as_i64().unwrap()).collect())
        .unwrap_or_default()
}

fn kinds(v: &Value) -> Vec<String> {
    v["groups"].as_array().unwrap().iter().map(|g| g["kind"].as_str().unwrap().to_string()).collect()
}

async fn search(api: &Api, q: &str) -> Value {
    let (s, v) = api.get(&format!("/api/v1/search?q={}", urlencode(q))).await;
    assert_eq!(s, StatusCode::OK, "{q}: {v}");
    v
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

struct World {
    admin: i64,
    rep: i64,
    agent: i64,
    alpha: i64,
    beta: i64,
    far: i64,
    opp_alpha: i64,
    opp_beta: i64,
    contact_alpha: i64,
    contact_far: i64,
    req_alpha: i64,
    req_far: i64,
    req_alpha_number: String,
    req_far_number: String,
    eq_alpha: i64,
}

async fn world(app: &TestApp) -> World {
    let co = app.unit("Groupe", "company", None).await;
    let laval = app.unit("Succursale Laval", "branch", Some(co)).await;
    let longueuil = app.unit("Succursale Longueuil", "branch", Some(co)).await;
    let service_laval = app.unit("Service Laval", "team", Some(laval)).await;
    let admin_id = app.user("admin@t.fr", "administrateur", None).await;
    let admin = app.api(&app.token_for(admin_id).await);
    let rep = app.user("rep@t.fr", "representant", Some(laval)).await;
    let rep2 = app.user("rep2@t.fr", "representant", Some(laval)).await;
    let agent = app.user("agent@t.fr", "agent_support", Some(service_laval)).await;
    let cu = |name: &str, branch: i64, owner: i64| json!({"kind": "company", "company_name": name, "branch_id": branch, "owner_id": owner});
    let alpha = created(&admin, "/api/v1/customers", cu("Quillon Alpha", laval, rep)).await;
    let beta = created(&admin, "/api/v1/customers", cu("Quillon Beta", laval, rep2)).await;
    // Another branch's customer, with a name that would break the page if it were not text.
    let far = created(&admin, "/api/v1/customers", cu("Quillon <script>alert(1)</script>", longueuil, rep2)).await;
    let opp = |c: i64, owner: i64, branch: i64| json!({"customer_id": c, "owner_id": owner, "branch_id": branch});
    let opp_alpha = created(&admin, "/api/v1/opportunities", opp(alpha, rep, laval)).await;
    let opp_beta = created(&admin, "/api/v1/opportunities", opp(beta, rep2, laval)).await;
    let contact = |first: &str| json!({"first_name": first, "last_name": "Zarkovski", "email": "z@exemple.fr"});
    let contact_alpha = created(&admin, &format!("/api/v1/customers/{alpha}/contacts"), contact("Nadia")).await;
    let contact_far = created(&admin, &format!("/api/v1/customers/{far}/contacts"), contact("Noé")).await;
    let req_alpha =
        created(&admin, "/api/v1/service-requests", json!({"customer_id": alpha, "request_type": "panne", "branch_id": laval})).await;
    let req_far =
        created(&admin, "/api/v1/service-requests", json!({"customer_id": far, "request_type": "panne", "branch_id": longueuil})).await;
    let number = |id: i64| {
        let admin = &admin;
        async move { admin.get(&format!("/api/v1/service-requests/{id}")).await.1["number"].as_str().unwrap().to_string() }
    };
    let (req_alpha_number, req_far_number) = (number(req_alpha).await, number(req_far).await);
    let eq_alpha = created(&admin, "/api/v1/equipment", json!({"customer_id": alpha, "serial_number": "QX-7001", "model": "Four"})).await;
    let eq_far = created(&admin, "/api/v1/equipment", json!({"customer_id": far, "serial_number": "QX-7002", "model": "Four"})).await;
    linked(&admin, req_alpha, eq_alpha).await;
    linked(&admin, req_far, eq_far).await;
    World {
        admin: admin_id,
        rep,
        agent,
        alpha,
        beta,
        far,
        opp_alpha,
        opp_beta,
        contact_alpha,
        contact_far,
        req_alpha,
        req_far,
        req_alpha_number,
        req_far_number,
        eq_alpha,
    }
}

#[tokio::test]
async fn a_rep_finds_only_their_own_customers_and_opportunities() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let rep = app.api(&app.token_for(w.rep).await);
        let v = search(&rep, "quill").await;
        assert_eq!(found(&v, "customers"), vec![w.alpha], "{v}");
        assert_eq!(found(&v, "opportunities"), vec![w.opp_alpha], "{v}");
        assert!(!found(&v, "customers").contains(&w.beta) && !found(&v, "opportunities").contains(&w.opp_beta));
        // No right on service requests: no group of requests or equipment, whatever is typed.
        for q in ["quill", &w.req_alpha_number, "qx-70", "1"] {
            let v = search(&rep, q).await;
            let k = kinds(&v);
            assert!(!k.contains(&"requests".to_string()) && !k.contains(&"equipment".to_string()), "{q}: {v}");
        }
        let v = search(&rep, "zarko").await;
        assert_eq!(found(&v, "contacts"), vec![w.contact_alpha], "{v}");
        let v = search(&rep, "Nadia Zar").await;
        assert_eq!(found(&v, "contacts"), vec![w.contact_alpha], "every word matches: {v}");
        assert!(!found(&search(&rep, "Noé").await, "contacts").contains(&w.contact_far), "another branch's contact");
        // The page shows the same records, each linking to it, and nothing of the others.
        let s = app.login("rep@t.fr", PASSWORD).await.unwrap();
        let (st, html) = s.get_text("/search?q=quill").await;
        assert_eq!(st, StatusCode::OK);
        assert!(html.contains(&format!("href=\"/customers/{}\"", w.alpha)), "{html}");
        assert!(html.contains(&format!("href=\"/opportunities/{}\"", w.opp_alpha)));
        for id in [w.beta, w.far] {
            assert!(!html.contains(&format!("/customers/{id}\"")), "customer {id} shown");
        }
        assert!(!html.contains(&format!("/opportunities/{}\"", w.opp_beta)));
        assert!(!html.contains("<script>alert"));
        app
    })
    .await;
}

#[tokio::test]
async fn a_support_agent_finds_their_units_requests_by_number_and_serial() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let agent = app.api(&app.token_for(w.agent).await);
        let seq = w.req_alpha_number.rsplit('-').next().unwrap().to_string();
        let short = seq.trim_start_matches('0').to_string();
        let year_seq = w.req_alpha_number.trim_start_matches("DEM-").to_string();
        for q in [w.req_alpha_number.clone(), w.req_alpha_number.to_lowercase(), year_seq, seq.clone(), short.clone()] {
            let v = search(&agent, &q).await;
            assert!(found(&v, "requests").contains(&w.req_alpha), "{q}: {v}");
            assert!(!found(&v, "requests").contains(&w.req_far), "{q}: another unit's request: {v}");
        }
        // The other unit's request is not found by its own number either.
        let v = search(&agent, &w.req_far_number).await;
        assert!(found(&v, "requests").is_empty(), "{v}");
        // By customer: the unit's request and customer, not the other branch's.
        let v = search(&agent, "quillon").await;
        assert_eq!(found(&v, "requests"), vec![w.req_alpha], "{v}");
        assert!(!found(&v, "customers").contains(&w.far), "{v}");
        // No right on opportunities: no group of them.
        assert!(!kinds(&v).contains(&"opportunities".to_string()), "{v}");
        // Equipment by the beginning of its serial number, any case, linking to its request.
        let v = search(&agent, "qx-70").await;
        assert_eq!(found(&v, "equipment"), vec![w.eq_alpha], "{v}");
        let eq = &v["groups"].as_array().unwrap().iter().find(|g| g["kind"] == "equipment").unwrap()["hits"][0];
        assert_eq!(eq["href"], format!("/service/requests/{}", w.req_alpha));
        // The page and the dropdown fragment agree with the API.
        let s = app.login("agent@t.fr", PASSWORD).await.unwrap();
        let (st, html) = s.get_text(&format!("/search?q={short}")).await;
        assert_eq!(st, StatusCode::OK);
        assert!(html.contains(&format!("href=\"/service/requests/{}\"", w.req_alpha)), "{html}");
        assert!(!html.contains(&format!("/service/requests/{}\"", w.req_far)));
        let (st, part) = s.get_text("/search?q=qx-70&part=1").await;
        assert_eq!(st, StatusCode::OK);
        assert!(!part.contains("<html"), "a fragment, not a page");
        assert!(part.contains("role=\"listbox\"") && part.contains("role=\"option\""), "{part}");
        assert!(part.contains(&format!("href=\"/service/requests/{}\"", w.req_alpha)), "{part}");
        assert!(!part.contains(&format!("/service/requests/{}\"", w.req_far)) && !part.contains("QX-7002"));
        app
    })
    .await;
}

#[tokio::test]
async fn bad_and_empty_queries() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let agent = app.api(&app.token_for(w.agent).await);
        let long = "a".repeat(carnet::global_search::QUERY_MAX + 1);
        let (s, v) = agent.get(&format!("/api/v1/search?q={long}")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v["error"]["fields"]["q"].is_string(), "{v}");
        let (s, v) = agent.get("/api/v1/search?q=%20%20").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["groups"], json!([]));
        let (s, _) = agent.get("/api/v1/search?q=x&nope=1").await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "unknown parameter");
        let sess = app.login("agent@t.fr", PASSWORD).await.unwrap();
        let (s, html) = sess.get_text(&format!("/search?q={long}")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains("La recherche est trop longue : 100 caractères au plus."), "{html}");
        assert!(html.contains(&format!("value=\"{long}\"")), "keeps what was typed");
        let (s, html) = sess.get_text("/search").await;
        assert_eq!(s, StatusCode::OK);
        assert!(html.contains("id=\"search-empty\"") && html.contains("numéro de série"), "says what can be searched");
        let (_, html) = sess.get_text("/search?q=zzzzzz").await;
        assert!(html.contains("id=\"search-none\""), "{html}");
        // Names are text: a customer's name with markup is shown escaped (page and dropdown).
        let admin = app.api(&app.token_for(w.admin).await);
        assert!(found(&search(&admin, "quillon script").await, "customers").contains(&w.far));
        let a = app.login("admin@t.fr", PASSWORD).await.unwrap();
        for path in ["/search?q=quillon+script", "/search?q=quillon+script&part=1"] {
            let (_, html) = a.get_text(path).await;
            assert!(
                html.contains("Quillon &lt;script&gt;alert(1)&lt;/script&gt;") || html.contains("Quillon &#60;script&#62;"),
                "{path}: {html}"
            );
            assert!(!html.contains("<script>alert"), "{path}");
        }
        // More than 8 of a kind: the first 8 and a link to the whole list.
        for i in 0..9 {
            created(&admin, "/api/v1/customers", json!({"kind": "company", "company_name": format!("Vorpal {i}")})).await;
        }
        let v = search(&admin, "vorpal").await;
        let g = &v["groups"][0];
        assert_eq!(
            (g["kind"].as_str(), g["hits"].as_array().unwrap().len(), g["more"].as_bool()),
            (Some("customers"), 8, Some(true)),
            "{v}"
        );
        assert_eq!(g["all_href"], "/customers?q=vorpal");
        // The search box is in the top bar of every staff page.
        let (_, html) = sess.get_text("/").await;
        assert!(html.contains("id=\"topsearch-q\"") && html.contains("role=\"combobox\""));
        app
    })
    .await;
}
