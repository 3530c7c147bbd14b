//! Security headers (`http::headers`) and the Content-Security-Policy the UI lives under, on both
//! databases: every page reachable on the demo company, crawled as the administrator and as a
//! representative, carries the headers and holds no inline script, style or event handler; the
//! API and anonymous pages carry them too; HSTS only behind an https public URL; and in Chromium
//! the key pages raise no CSP violation while their JavaScript still works.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use carnet::http::headers::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY};
use carnet::http::router::ROUTES;
use common::browser::{with_demo, Browser};
use common::{each_backend, Session, TestApp};
use reqwest::header::HeaderMap;
use serde_json::json;

const DEMO_PASSWORD: &str = carnet::demo::PASSWORD;
const REP_EMAIL: &str = "marc.tremblay@carnet.demo";

// ---------------------------------------------------------------- what a response must carry

/// The security headers every response carries (HSTS absent: the test app is plain http).
fn assert_security_headers(h: &HeaderMap, what: &str) {
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert_eq!(get("content-security-policy"), CONTENT_SECURITY_POLICY, "{what}: CSP");
    assert_eq!(get("x-frame-options"), "DENY", "{what}: X-Frame-Options");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}: X-Content-Type-Options");
    assert_eq!(get("referrer-policy"), REFERRER_POLICY, "{what}: Referrer-Policy");
    assert!(h.get("strict-transport-security").is_none(), "{what}: no HSTS over http");
    assert!(h.get("x-request-id").is_some(), "{what}: the request id is kept");
}

fn cache_control(h: &HeaderMap) -> &str {
    h.get("cache-control").and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// What the policy would block in an HTML page: a `<script>` without `src`, a `<style>`
/// element, a `style` attribute, an `on…` event-handler attribute. A small tag scanner rather
/// than a regular expression, so that escaped text (an email shown in `srcdoc`, a comment typed
/// by a user) is not mistaken for markup.
fn inline_offences(html: &str) -> Vec<String> {
    let b = html.as_bytes();
    let n = b.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        if b[i..].starts_with(b"<!--") {
            i = html[i..].find("-->").map_or(n, |e| i + e + 3);
            continue;
        }
        if i + 1 >= n || !b[i + 1].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i + 1;
        while j < n && (b[j].is_ascii_alphanumeric() || b[j] == b'-') {
            j += 1;
        }
        let tag = html[i + 1..j].to_ascii_lowercase();
        let mut attrs = Vec::new();
        while j < n && b[j] != b'>' {
            if b[j].is_ascii_whitespace() || b[j] == b'/' {
                j += 1;
                continue;
            }
            let k = j;
            while j < n && !b[j].is_ascii_whitespace() && !matches!(b[j], b'=' | b'>' | b'/') {
                j += 1;
            }
            if j == k {
                j += 1;
                continue;
            }
            let name = String::from_utf8_lossy(&b[k..j]).to_ascii_lowercase();
            while j < n && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if j < n && b[j] == b'=' {
                j += 1;
                while j < n && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < n && (b[j] == b'"' || b[j] == b'\'') {
                    let q = b[j];
                    j += 1;
                    while j < n && b[j] != q {
                        j += 1;
                    }
                    j += 1;
                } else {
                    while j < n && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                        j += 1;
                    }
                }
            }
            attrs.push(name);
        }
        let j = j.min(n);
        let shown = || String::from_utf8_lossy(&b[start..(j + 1).min(n)]).chars().take(160).collect::<String>();
        if tag == "script" && !attrs.iter().any(|a| a == "src") {
            out.push(format!("inline script: {}", shown()));
        }
        if tag == "style" {
            out.push(format!("style element: {}", shown()));
        }
        for a in &attrs {
            if a == "style" || (a.len() > 2 && a.starts_with("on")) {
                out.push(format!("{a} attribute: {}", shown()));
            }
        }
        i = j + 1;
        // A script's or style's content is not markup.
        if tag == "script" || tag == "style" {
            let close = format!("</{tag}");
            i = html[i.min(n)..].to_ascii_lowercase().find(&close).map_or(n, |e| i + e);
        }
    }
    out
}

#[test]
fn the_scanner_finds_what_the_policy_blocks_and_nothing_else() {
    for bad in [
        "<li style=\"margin-left: 20px\">x</li>",
        "<li STYLE='x'>",
        "<a href=/ onclick=\"go()\">",
        "<select onchange=this.form.submit()>",
        "<form  onsubmit = \"return false\">",
        "<script>alert(1)</script>",
        "<script type=\"module\">x</script>",
        "<style>p{}</style>",
    ] {
        assert_eq!(inline_offences(bad).len(), 1, "{bad}");
    }
    for good in [
        "<script src=\"/static/app.js\" defer></script>",
        "<iframe sandbox=\"\" srcdoc=\"&lt;p style=&quot;color:red&quot; onclick=&quot;x&quot;&gt;hi&lt;/p&gt;\"></iframe>",
        "<p>style=\"x\" onclick=y &lt;script&gt;</p>",
        "<!-- <p style=x> -->",
        "<td data-only=\"1\" data-onchange=\"x\" title='a > b style=x'>",
        "<a href=\"/x?on=1&amp;style=2\">",
        "<button data-confirm=\"Sûr ? style=x\">é</button>",
    ] {
        assert!(inline_offences(good).is_empty(), "{good}: {:?}", inline_offences(good));
    }
}

// ---------------------------------------------------------------- the crawl

/// The route pattern of the router that serves `path` (the one with the most fixed segments).
fn route_of(path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.split('/').collect();
    ROUTES
        .iter()
        .filter(|r| r.method == "get")
        .filter(|r| {
            let ps: Vec<&str> = r.path.split('/').collect();
            ps.len() == segs.len() && ps.iter().zip(&segs).all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()))
        })
        .max_by_key(|r| r.path.split('/').filter(|p| !p.starts_with('{')).count())
        .map(|r| r.path)
}

/// The same-site links of a page, unescaped, without fragments.
fn links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(|s| s.replace("&amp;", "&").replace("&#39;", "'").replace("&quot;", "\"").replace("&#x27;", "'"))
        .map(|s| s.split('#').next().unwrap_or_default().to_string())
        .filter(|s| s.starts_with('/') && !s.starts_with("//"))
        .collect()
}

/// The kind of a page, so that a bounded crawl spreads over page kinds rather than over the
/// 50 pages of one list: the path with numbers as `#`, and the names of its query parameters.
fn shape(url: &str) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let path: Vec<&str> = path.split('/').map(|s| if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) { "#" } else { s }).collect();
    let mut keys: Vec<&str> = query.split('&').filter_map(|kv| kv.split('=').next()).filter(|k| !k.is_empty()).collect();
    keys.sort();
    keys.dedup();
    format!("{}?{}", path.join("/"), keys.join("&"))
}

/// Crawls from `/`, `seeds` and every GET route without an id, following links, at most `budget`
/// pages (and 4 of each kind): every response carries the security headers and is not stored
/// (the static files keep their caching), every HTML page holds nothing inline. Returns the
/// route patterns met.
async fn crawl(s: &Session, who: &str, seeds: &[String], budget: usize) -> BTreeSet<&'static str> {
    let mut queue: VecDeque<String> = VecDeque::from(["/".to_string()]);
    queue.extend(seeds.iter().cloned());
    queue.extend(ROUTES.iter().filter(|r| r.method == "get" && !r.path.contains('{')).map(|r| r.path.to_string()));
    let mut seen: BTreeSet<String> = queue.iter().cloned().collect();
    let mut per_shape: HashMap<String, usize> = HashMap::new();
    let mut routes = BTreeSet::new();
    let mut offences: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut visited = 0;
    while let Some(url) = queue.pop_front() {
        if visited >= budget {
            break;
        }
        let n = per_shape.entry(shape(&url)).or_default();
        if *n >= 4 {
            continue;
        }
        *n += 1;
        visited += 1;
        let r = s.get(&url).await;
        let status = r.status();
        let what = format!("{who} GET {url} ({status})");
        assert!(!status.is_server_error(), "{what}");
        let headers = r.headers().clone();
        assert_security_headers(&headers, &what);
        if url.starts_with("/static/") {
            assert_eq!(cache_control(&headers), "public, max-age=3600", "{what}: static files keep their caching");
        } else {
            assert_eq!(cache_control(&headers), "no-store", "{what}: an authenticated response is not stored");
        }
        if let Some(route) = route_of(url.split('?').next().unwrap_or_default()) {
            routes.insert(route);
        }
        let html = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html"));
        if !html {
            continue;
        }
        let body = r.text().await.expect("body");
        let found = inline_offences(&body);
        if !found.is_empty() {
            offences.insert(url.clone(), found);
        }
        for link in links(&body) {
            if seen.insert(link.clone()) {
                queue.push_back(link);
            }
        }
    }
    assert!(offences.is_empty(), "{who}: pages with inline script or style (blocked by the CSP): {offences:#?}");
    let missed: Vec<&str> = ROUTES.iter().filter(|r| r.method == "get" && !routes.contains(r.path)).map(|r| r.path).collect();
    println!("{who}: {visited} responses, {} routes; GET routes not met: {missed:?}", routes.len());
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_carries_the_security_headers_and_holds_nothing_inline() {
    each_backend(|app| async move {
        carnet::demo::load(&app.state).await.expect("demo data loads");
        let admin = app.login(carnet::demo::ADMIN_EMAIL, DEMO_PASSWORD).await.expect("demo admin logs in");
        // An import waiting for its mapping (the demo has none).
        let csv = reqwest::multipart::Part::bytes(b"name,email\nAnne Import,anne@import.test\n".to_vec())
            .file_name("import.csv")
            .mime_str("text/csv")
            .expect("mime");
        let r = admin
            .client
            .post(format!("{}/customers/import?_csrf={}", admin.url, admin.csrf))
            .multipart(reqwest::multipart::Form::new().part("file", csv))
            .send()
            .await
            .expect("upload");
        let import = r.headers().get("location").and_then(|v| v.to_str().ok()).expect("the upload leads to its import").to_string();
        // Records the first pages of a list may not show: a meeting (linked from days and
        // calendars), a customer with contacts, a request with a document.
        let seeds = [
            import,
            format!("/meetings/{}", id_of(&app, "SELECT MIN(id) FROM meetings").await),
            format!("/customers/{}", id_of(&app, "SELECT MIN(customer_id) FROM contacts").await),
            format!("/service/requests/{}", id_of(&app, "SELECT MIN(request_id) FROM documents").await),
        ];
        let met = crawl(&admin, "admin", &seeds, 400).await;
        // The crawl reached the pages of every kind of record, the forms and the org tree.
        for route in [
            "/",
            "/customers/{id}",
            "/customers/{id}/edit",
            "/customers/{id}/history",
            "/customers/{id}/contacts/{cid}",
            "/customers/import/{id}",
            "/customers/{id}/contacts/{cid}/vcard",
            "/service/documents/{id}",
            "/opportunities/{id}",
            "/opportunities/board",
            "/meetings/{id}",
            "/service/requests/{id}",
            "/service/interventions/{id}",
            "/admin/org-units",
            "/admin/org-units/{id}",
            "/admin/users/{id}",
            "/admin/roles/{id}",
            "/admin/lists/{code}",
            "/admin/email-templates/{event}/{lang}",
            "/users/{id}",
            "/api/docs",
        ] {
            assert!(met.contains(route), "the crawl never reached {route}: {met:?}");
        }
        let rep = app.login(REP_EMAIL, DEMO_PASSWORD).await.expect("the demo representative logs in");
        let met = crawl(&rep, "representative", &[], 150).await;
        assert!(met.contains("/customers/{id}") && met.contains("/opportunities/{id}"), "{met:?}");
        // The customer portal, as the demo's portal user.
        let email: String = sqlx::query_scalar("SELECT email FROM portal_accounts ORDER BY id LIMIT 1")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("a demo portal account");
        let portal = app.portal_login(&email, DEMO_PASSWORD).await.expect("the demo portal user logs in");
        let met = crawl(&portal, "portal user", &["/portal".to_string()], 150).await;
        for route in [
            "/portal",
            "/portal/requests",
            "/portal/requests/{id}",
            "/portal/requests/new",
            "/portal/planning",
            "/portal/equipment/{id}",
            "/portal/account",
            "/portal/colleagues",
        ] {
            assert!(met.contains(route), "the portal crawl never reached {route}: {met:?}");
        }
        app
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_pages_errors_and_the_api_carry_the_headers_too() {
    each_backend(|app| async move {
        let anon = app.anon();
        // The login page and everything an anonymous visitor meets: not stored, nothing inline.
        for path in ["/login", "/", "/customers", "/no-such-page", "/api/docs", "/api/v1/me", "/healthz", "/api/v1/openapi.json"] {
            let r = anon.get(format!("{}{path}", app.url)).send().await.expect("get");
            let what = format!("anonymous GET {path} ({})", r.status());
            assert_security_headers(r.headers(), &what);
            assert_eq!(cache_control(r.headers()), "no-store", "{what}");
            let body = r.text().await.expect("body");
            assert!(inline_offences(&body).is_empty(), "{what}: {:?}", inline_offences(&body));
        }
        for path in ["/static/app.css", "/static/app.js"] {
            let r = anon.get(format!("{}{path}", app.url)).send().await.expect("get");
            assert_security_headers(r.headers(), path);
            assert_eq!(cache_control(r.headers()), "public, max-age=3600", "{path} keeps its caching");
        }

        // The API with a token: answers, errors and exports alike; the export keeps its file name.
        let admin_id = app.user("api.admin@test.example", "administrateur", None).await;
        let api = app.api(&app.token_for(admin_id).await);
        for path in [
            "/api/v1/me",
            "/api/v1/customers",
            "/api/v1/opportunities",
            "/api/v1/service-requests",
            "/api/v1/org-units",
            "/api/v1/customers/999999",
            "/api/v1/customers/export",
        ] {
            let r = api.client.get(format!("{}{path}", app.url)).bearer_auth(&api.token).send().await.expect("get");
            let what = format!("API GET {path} ({})", r.status());
            assert!(!r.status().is_server_error(), "{what}");
            assert_security_headers(r.headers(), &what);
            assert_eq!(cache_control(r.headers()), "no-store", "{what}");
            if path.ends_with("/export") {
                let disposition = r.headers().get("content-disposition").and_then(|v| v.to_str().ok()).unwrap_or("");
                assert!(disposition.starts_with("attachment"), "{what}: the export stays a download: {disposition:?}");
            }
        }
        // A posted form's redirect and its refusal carry them as well.
        let s = app.admin_session().await;
        let r = s.post("/admin/org-units", &[("name", ""), ("kind", "team")]).await;
        assert_eq!(r.status(), 422);
        assert_security_headers(r.headers(), "refused form");
        assert_eq!(cache_control(r.headers()), "no-store");
        let r = s.post("/admin/org-units", &[("name", "Équipe des en-têtes"), ("kind", "company")]).await;
        assert!(r.status().is_redirection(), "{}", r.status());
        assert_security_headers(r.headers(), "redirect after a post");
        app
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_only_when_the_public_url_is_https() {
    for backend in common::backends() {
        for (public_url, hsts) in [("https://carnet.example.com", true), ("http://127.0.0.1:8080", false)] {
            let app = TestApp::start_with(backend, |c| c.public_url = public_url.into()).await;
            for path in ["/login", "/static/app.css", "/api/v1/me"] {
                let r = app.anon().get(format!("{}{path}", app.url)).send().await.expect("get");
                let got = r.headers().get("strict-transport-security").and_then(|v| v.to_str().ok()).map(str::to_string);
                assert_eq!(got.as_deref(), hsts.then_some(STRICT_TRANSPORT_SECURITY), "{public_url} {path}");
                assert_eq!(r.headers().get("content-security-policy").and_then(|v| v.to_str().ok()), Some(CONTENT_SECURITY_POLICY));
            }
            app.stop().await;
        }
    }
}

/// The org tree's indentation lives in the stylesheet: one rule per depth a tree can reach
/// (each kind of unit sits below a kind of higher rank: company, region, branch, team).
#[test]
fn the_stylesheet_indents_every_depth_of_the_org_tree() {
    let css = include_str!("../static/app.css");
    for depth in 1..carnet::org::units::UnitKind::ALL.len() {
        assert!(css.contains(&format!("ul.tree li.tree-depth-{depth} {{ margin-left: {}px; }}", depth * 20)), "depth {depth}");
    }
}

// ---------------------------------------------------------------- in the browser

async fn open_clean(b: &Browser, path: &str) {
    b.goto(path).await;
    b.find("main").await;
    let v = b.violations().await;
    assert!(v.is_empty(), "{path}: {v:#?}");
}

async fn id_of(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.state.db.pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn margin_left(b: &Browser, css: &str) -> String {
    b.exec(&format!("return getComputedStyle(document.querySelector({})).marginLeft;", json!(css)))
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_works_under_the_policy_in_chromium() {
    with_demo(|b, app| Box::pin(ui_under_the_policy(b, app))).await;
}

async fn ui_under_the_policy(b: &Browser, app: &TestApp) {
    // The log does see a violation: a style attribute added to the page is refused and logged.
    open_clean(b, "/login").await;
    b.exec("document.body.insertAdjacentHTML('beforeend', '<p id=\"probe\" style=\"margin-left: 33px\">x</p>'); return true;").await;
    assert_eq!(margin_left(b, "#probe").await, "0px", "the policy refuses a style attribute");
    let mut seen = Vec::new();
    for _ in 0..20 {
        seen = b.violations().await;
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen.iter().any(|m| m.contains("style-src")), "the browser log reports violations: {seen:?}");

    b.fill("#email", carnet::demo::ADMIN_EMAIL).await;
    b.fill("#password", DEMO_PASSWORD).await;
    b.click_and_wait("#login-submit").await;
    assert_eq!(b.path_only().await, "/");
    let v = b.violations().await;
    assert!(v.is_empty(), "home: {v:#?}");

    // Search as you type: app.js fetches the rows and puts them in place.
    open_clean(b, "/customers").await;
    let name: String =
        sqlx::query_scalar("SELECT display_name FROM customers ORDER BY id LIMIT 1").fetch_one(&app.state.db.pool).await.unwrap();
    let word = name.split_whitespace().last().unwrap_or(&name).to_string();
    let before = b.text("#customer-results").await;
    b.find("#q").await.send_keys(&word).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if b.path().await.contains("q=") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "search as you type never updated the list");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let after = b.text("#customer-results").await;
    assert!(after.contains(&word), "the rows found show {word}: {after}");
    assert_ne!(before, after, "the rows changed in place");
    let v = b.violations().await;
    assert!(v.is_empty(), "search as you type: {v:#?}");

    // A customer page, and a form whose button asks for confirmation (app.js) before posting.
    let cid = id_of(app, "SELECT MIN(id) FROM customers").await;
    open_clean(b, &format!("/customers/{cid}")).await;
    b.find("form[data-confirm] button[type=submit]").await.click().await;
    let alert = b.get("/alert/text").await;
    assert!(alert.as_str().is_some_and(|t| !t.is_empty()), "a confirmation is asked: {alert}");
    b.post("/alert/dismiss", json!({})).await;
    assert_eq!(b.path_only().await, format!("/customers/{cid}"), "dismissed: nothing posted");
    let v = b.violations().await;
    assert!(v.is_empty(), "confirmation: {v:#?}");

    // The org tree, indented by the stylesheet.
    open_clean(b, "/admin/org-units").await;
    let team = id_of(app, "SELECT id FROM org_units WHERE name = 'Ventes Laval'").await;
    let company = id_of(app, "SELECT id FROM org_units WHERE name = 'Groupe Auto Carnet'").await;
    assert_eq!(margin_left(b, &format!("ul.tree li:has(> .tree-node > a[href='/admin/org-units/{company}'])")).await, "0px");
    assert_eq!(
        margin_left(b, &format!("ul.tree li:has(> .tree-node > a[href='/admin/org-units/{team}'])")).await,
        "60px",
        "a team is 3 levels in"
    );
    b.screenshot("csp-org-tree").await;

    // The board: app.js marks the page as enhanced.
    open_clean(b, "/opportunities/board").await;
    let js = b.exec("return document.documentElement.classList.contains('js');").await;
    assert_eq!(js, json!(true), "app.js ran on the board");
    b.screenshot("csp-board").await;
}
