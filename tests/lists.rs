//! Lists declared once (`http::lists`): every sort key of every list pages forward and back
//! over 10,000 rows, on both databases, exactly as one full `ORDER BY` would order them, with
//! no row twice or missing; the page shows "1–50 of 1,000+", and previous/next links that
//! lead back where they came from; a saved view of the request list keeps sort and columns.

mod common;

use carnet::db::page::SortKey;
use carnet::http::listing::ListDef;
use carnet::http::lists::{CUSTOMERS, INTERVENTIONS, OPPORTUNITIES, REQUESTS, USERS};
use common::*;
use serde_json::Value;

const ROWS: i64 = 10_000;

/// 10,000 customers (names from a small vocabulary, so that sort keys tie and the id breaks
/// ties), 10,000 opportunities and 10,000 service requests, spread over three owners and two
/// branches, some without owner or branch; 60 users.
async fn seed(app: &TestApp) {
    let co = app.unit("Groupe", "company", None).await;
    let north = app.unit("Nord", "branch", Some(co)).await;
    let south = app.unit("Sud", "branch", Some(co)).await;
    let mut owners = Vec::new();
    for i in 0..60 {
        let unit = [Some(north), Some(south), None][i % 3];
        owners.push(app.user(&format!("rep{i:02}.{}@t.fr", ["zoe", "adam", "marc"][i % 3]), "representant", unit).await);
    }
    let (o1, o2, o3) = (owners[0], owners[1], owners[2]);
    let now = app.now();
    let series = format!("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})");
    let pick3 = |a: i64, b: i64, c: i64| format!("CASE i % 4 WHEN 0 THEN {a} WHEN 1 THEN {b} WHEN 2 THEN {c} ELSE NULL END");
    let sqls = [
        format!(
            "INSERT INTO customers (sort_key, kind, first_name, last_name, company_name, display_name, email, address, language, \
             branch_id, owner_id, notes, particularities, created_at, updated_at) \
             {series} SELECT \
             CASE i % 7 WHEN 0 THEN 'roy' WHEN 1 THEN 'cote' WHEN 2 THEN 'tremblay' ELSE 'gagnon ' || CAST(i % 50 AS TEXT) END, \
             'person', 'Prénom', 'Nom', '', \
             CASE i % 7 WHEN 0 THEN 'Roy' WHEN 1 THEN 'Côté' WHEN 2 THEN 'Tremblay' ELSE 'Gagnon ' || CAST(i % 50 AS TEXT) END, \
             CASE WHEN i % 5 = 0 THEN NULL ELSE 'c' || CAST(i % 300 AS TEXT) || '@t.fr' END, '', 'fr', \
             CASE i % 3 WHEN 0 THEN {north} WHEN 1 THEN {south} ELSE NULL END, {}, '', '', {now} - i, {now} - i FROM n",
            pick3(o1, o2, o3)
        ),
        format!(
            "INSERT INTO opportunities (name, customer_id, lead_type, status, owner_id, branch_id, trashed, created_at, updated_at) \
             {series} SELECT 'Projet ' || CAST(i % 97 AS TEXT), (SELECT MIN(id) FROM customers) + (i % 500), \
             CASE i % 3 WHEN 0 THEN 'web' WHEN 1 THEN NULL ELSE 'telephone' END, \
             CASE i % 4 WHEN 0 THEN 'nouveau' WHEN 1 THEN 'en_cours' WHEN 2 THEN 'rdv_planifie' ELSE 'perdu' END, \
             {}, CASE i % 2 WHEN 0 THEN {north} ELSE NULL END, 0, {now} - i, {now} - (i % 37) FROM n",
            pick3(o2, o3, o1)
        ),
        format!(
            "INSERT INTO service_requests (number, customer_id, request_type, source, description, status, owner_id, branch_id, \
             created_at, updated_at) {series} SELECT 'DEM-2026-' || CAST(100000 + i AS TEXT), (SELECT MIN(id) FROM customers) + (i % 700), \
             CASE i % 2 WHEN 0 THEN 'panne' ELSE 'installation' END, 'phone', '', \
             CASE i % 3 WHEN 0 THEN 'nouveau' WHEN 1 THEN 'en_cours' ELSE 'cloture' END, {}, {south}, {now} - i, {now} - (i % 11) FROM n",
            pick3(o3, o1, o2)
        ),
        format!(
            "INSERT INTO interventions (number, request_id, start_at, end_at, place, status, report_work, branch_id, created_at, updated_at) \
             {series} SELECT 'INT-2026-' || CAST(100000 + i AS TEXT), (SELECT MIN(id) FROM service_requests) + (i % 900), \
             {now} + (i % 400) * 3600000, {now} + (i % 400) * 3600000 + 7200000, 'Laval', \
             CASE i % 4 WHEN 0 THEN 'planifiee' WHEN 1 THEN 'en_cours' WHEN 2 THEN 'terminee' ELSE 'annulee' END, '', {south}, {now}, {now} - (i % 13) FROM n"
        ),
        format!(
            "INSERT INTO intervention_technicians (intervention_id, user_id) SELECT id, {o1} FROM interventions WHERE id % 3 = 0"
        ),
    ];
    for sql in sqls {
        sqlx::query(&sql).execute(&app.state.db.pool).await.expect("seed");
    }
}

/// The tables of a list, as its store reads them, for the reference order.
fn from_of(def: &ListDef) -> (&'static str, &'static str) {
    match def.name {
        "customers" => ("FROM customers c LEFT JOIN org_units b ON b.id = c.branch_id LEFT JOIN users u ON u.id = c.owner_id", "c.id"),
        "opportunities" => (
            "FROM opportunities o JOIN customers c ON c.id = o.customer_id LEFT JOIN users u ON u.id = o.owner_id \
             LEFT JOIN org_units b ON b.id = o.branch_id WHERE o.trashed = 0",
            "o.id",
        ),
        "service_requests" => {
            ("FROM service_requests r JOIN customers c ON c.id = r.customer_id LEFT JOIN users u ON u.id = r.owner_id", "r.id")
        }
        "interventions" => {
            ("FROM interventions i JOIN service_requests r ON r.id = i.request_id JOIN customers c ON c.id = r.customer_id", "i.id")
        }
        "users" => ("FROM users u JOIN roles r ON r.id = u.role_id LEFT JOIN org_units o ON o.id = u.org_unit_id", "u.id"),
        other => panic!("no reference for {other}"),
    }
}

async fn reference(app: &TestApp, def: &ListDef, key: &SortKey, desc: bool) -> Vec<i64> {
    let (from, id) = from_of(def);
    let dir = if desc { "DESC" } else { "ASC" };
    let sql = format!("SELECT {id} {from} ORDER BY {} {dir}, {id} {dir}", key.expr);
    sqlx::query_scalar::<_, i64>(&sql).fetch_all(&app.state.db.pool).await.expect("reference order")
}

fn ids(b: &Value) -> Vec<i64> {
    b["items"].as_array().expect("items").iter().map(|i| i["id"].as_i64().expect("id")).collect()
}

/// Walks `path` (sorted by `sort`) forward with `after`, then back from the last page with
/// `before`; both must give `expected`, pages of `limit`.
async fn walk(api: &Api, path: &str, sort: &str, limit: usize, expected: &[i64]) {
    let base = format!("{path}?sort={sort}&limit={limit}");
    let mut pages: Vec<(Vec<i64>, Option<String>)> = Vec::new();
    let mut url = base.clone();
    loop {
        let (s, b) = api.get(&url).await;
        assert_eq!(s, 200, "{url}: {b}");
        pages.push((ids(&b), b["prev_cursor"].as_str().map(str::to_string)));
        assert_eq!(b["prev_cursor"].is_null(), pages.len() == 1, "{url}: a previous page exactly after the first");
        match b["next_cursor"].as_str() {
            Some(c) => url = format!("{base}&after={c}"),
            None => break,
        }
    }
    let forward: Vec<i64> = pages.iter().flat_map(|(p, _)| p.clone()).collect();
    assert_eq!(forward.len(), expected.len(), "{path} sort={sort}: every row once");
    assert!(forward == expected, "{path} sort={sort}: forward order differs from ORDER BY");
    // Back from the last page: each previous page is the one seen before it.
    let mut i = pages.len() - 1;
    let mut before = pages[i].1.clone();
    while let Some(c) = before {
        let (s, b) = api.get(&format!("{base}&before={c}")).await;
        assert_eq!(s, 200, "{b}");
        i -= 1;
        assert_eq!(ids(&b), pages[i].0, "{path} sort={sort}: page {i} read backwards");
        assert!(b["next_cursor"].is_string(), "a page read backwards has a next page");
        before = b["prev_cursor"].as_str().map(str::to_string);
    }
    assert_eq!(i, 0, "{path} sort={sort}: back to the first page");
}

#[tokio::test]
async fn every_sort_of_every_list_pages_both_ways_over_10000_rows() {
    each_backend(|app| async move {
        seed(&app).await;
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let api = app.api(&app.token_for(admin).await);
        // The interventions have no API list of their own: their page is walked below.
        let lists: [(&ListDef, &str, usize); 4] = [
            (&CUSTOMERS, "/api/v1/customers", 500),
            (&OPPORTUNITIES, "/api/v1/opportunities", 500),
            (&REQUESTS, "/api/v1/service-requests", 500),
            (&USERS, "/api/v1/users", 7),
        ];
        for (def, path, limit) in lists {
            for key in def.sorts {
                for desc in [false, true] {
                    let expected = reference(&app, def, key, desc).await;
                    assert!(expected.len() as i64 >= if def.name == "users" { 60 } else { ROWS }, "{}", def.name);
                    let sort = if desc { format!("-{}", key.code) } else { key.code.to_string() };
                    walk(&api, path, &sort, limit, &expected).await;
                }
            }
        }
        // An unknown sort is a clear error on the field.
        let (s, b) = api.get("/api/v1/opportunities?sort=password").await;
        assert_eq!(s, 422, "{b}");
        assert!(b["error"]["fields"]["sort"].is_string(), "{b}");
        // The count: exact up to 1,000, then "at least".
        let (_, b) = api.get("/api/v1/customers?count=true&limit=5").await;
        assert_eq!(b["count"], serde_json::json!({"kind": "at_least", "value": 1000}));
        let (_, b) = api.get("/api/v1/users?count=true&limit=5&q=zoe").await;
        assert_eq!(b["count"], serde_json::json!({"kind": "exactly", "value": 20}));
        app
    })
    .await;
}

#[tokio::test]
async fn the_pages_show_where_they_are_and_lead_back() {
    each_backend(|app| async move {
        seed(&app).await;
        let s = app.admin_session().await;
        // French: "1–50 sur 1 000+"; a column header sorts, a second click reverses.
        let (st, html) = s.get_text("/opportunities").await;
        assert_eq!(st, 200);
        assert!(html.contains("1–50 sur 1\u{202f}000+"), "the capped count");
        assert!(!html.contains("id=\"prev-page\""), "no previous page on the first");
        assert!(html.contains("aria-sort=\"descending\""), "the default order is shown on its column");
        let next = extract(&html, "id=\"next-page\" href=\"").expect("a next page").replace("&#38;", "&").replace("&amp;", "&");
        let (_, second) = s.get_text(&next).await;
        assert!(second.contains("51–100 sur 1\u{202f}000+"), "the second page says where it is");
        let prev = extract(&second, "id=\"prev-page\" href=\"").expect("a previous page").replace("&#38;", "&").replace("&amp;", "&");
        let (_, back) = s.get_text(&prev).await;
        let rows = |h: &str| h.matches("<tr data-href=\"/opportunities/").count();
        assert_eq!(rows(&back), 50);
        let first_rows = |h: &str| {
            let at = h.find("<tbody>").unwrap_or(0);
            h[at..].split("</tbody>").next().unwrap_or("").to_string()
        };
        assert_eq!(first_rows(&back), first_rows(&html), "previous page of the second is the first");
        assert!(back.contains("1–50 sur"));
        // Sort by customer from its header, then reverse.
        let by_customer = extract(&html, "href=\"/opportunities?sort=customer").map(|q| format!("/opportunities?sort=customer{q}"));
        let url = by_customer.expect("the customer header links to its sort").replace("&#38;", "&").replace("&amp;", "&");
        let (st, sorted) = s.get_text(&url).await;
        assert_eq!(st, 200);
        assert!(sorted.contains("aria-sort=\"ascending\""));
        assert!(sorted.contains("href=\"/opportunities?sort=-customer"), "a second click reverses");
        // The column choice is kept in links.
        let (_, html) = s.get_text("/service/requests?cols=status,updated&sort=-updated").await;
        assert!(html.contains("cols=status%2Cupdated"), "links keep the columns");
        assert!(
            !html.contains("sort=type") && html.contains("sort=status") && html.contains("aria-sort=\"descending\""),
            "only the chosen columns"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn the_request_list_has_saved_views_with_sort_and_columns() {
    each_backend(|app| async move {
        seed(&app).await;
        let south: i64 = sqlx::query_scalar("SELECT id FROM org_units WHERE name = 'Sud'").fetch_one(&app.state.db.pool).await.unwrap();
        let unit = app.unit("Service Sud", "team", Some(south)).await;
        let agent = app.user("agent@t.fr", "agent_support", Some(unit)).await;
        let other = app.user("other@t.fr", "agent_support", Some(unit)).await;
        let sa = app.login("agent@t.fr", PASSWORD).await.unwrap();
        let r = sa
            .post(
                "/service/requests/views",
                &[
                    ("name", "Pannes récentes"),
                    ("query", "request_type=panne&sort=-updated&cols=status,updated&after=junk"),
                    ("shared", "on"),
                ],
            )
            .await;
        assert_eq!(r.status(), 303);
        let (st, v) = app.api(&app.token_for(agent).await).get("/api/v1/service-requests/views").await;
        assert_eq!(st, 200);
        let view = &v["items"][0];
        assert_eq!(view["query"], "cols=status%2Cupdated&request_type=panne&sort=-updated", "only what a view keeps");
        let id = view["id"].as_i64().unwrap();
        // The team mate uses it; only its owner updates it; someone else's id is a 404.
        let so = app.login("other@t.fr", PASSWORD).await.unwrap();
        let (st, html) = so.get_text(&format!("/service/requests?view={id}")).await;
        assert_eq!(st, 200);
        assert!(html.contains("Pannes récentes") && !html.contains("id=\"update-view\""));
        let r = so.post(&format!("/service/requests/views/{id}"), &[("query", "q=x")]).await;
        assert_eq!(r.status(), 404, "{:?}", r.text().await);
        let (_, html) = sa.get_text(&format!("/service/requests?view={id}")).await;
        assert!(html.contains("id=\"update-view\""));
        // A view of another list is not this list's.
        assert_eq!(sa.get(&format!("/customers?view={id}")).await.status(), 404);
        assert_ne!(agent, other);
        app
    })
    .await;
}

/// The rows of a list page, in order (ids from their links to `prefix`).
fn page_ids(html: &str, prefix: &str) -> Vec<i64> {
    let body = html.split("<tbody>").nth(1).unwrap_or("").split("</tbody>").next().unwrap_or("");
    let marker = format!("data-href=\"{prefix}");
    body.split(&marker).skip(1).filter_map(|rest| rest.split('"').next()?.parse().ok()).collect()
}

#[tokio::test]
async fn the_intervention_list_pages_every_sort_both_ways_in_the_browser_s_links() {
    each_backend(|app| async move {
        seed(&app).await;
        let s = app.admin_session().await;
        for key in INTERVENTIONS.sorts {
            for desc in [false, true] {
                let expected = reference(&app, &INTERVENTIONS, key, desc).await;
                let sort = if desc { format!("-{}", key.code) } else { key.code.to_string() };
                // Forward over the first 30 pages by the "next" links, then back by "previous".
                let mut url = format!("/service/interventions?sort={sort}");
                let mut pages = Vec::new();
                let mut last = String::new();
                for _ in 0..30 {
                    let (st, html) = s.get_text(&url).await;
                    assert_eq!(st, 200, "{url}");
                    pages.push(page_ids(&html, "/service/interventions/"));
                    last = html;
                    match extract(&last, "id=\"next-page\" href=\"") {
                        Some(n) => url = n.replace("&#38;", "&").replace("&amp;", "&"),
                        None => break,
                    }
                }
                let forward: Vec<i64> = pages.iter().flatten().copied().collect();
                assert_eq!(forward, expected[..forward.len()], "sort={sort}: the pages follow ORDER BY");
                let mut back = extract(&last, "id=\"prev-page\" href=\"");
                let mut i = pages.len() - 1;
                while let Some(p) = back {
                    let (_, html) = s.get_text(&p.replace("&#38;", "&").replace("&amp;", "&")).await;
                    i -= 1;
                    assert_eq!(page_ids(&html, "/service/interventions/"), pages[i], "sort={sort}: page {i} read back");
                    back = extract(&html, "id=\"prev-page\" href=\"");
                }
                assert_eq!(i, 0);
            }
        }
        // A technician's list: his own interventions only, with "mine".
        let tech = app.user("tech@t.fr", "technicien", None).await;
        sqlx::query(&format!(
            "INSERT INTO intervention_technicians (intervention_id, user_id) SELECT id, {tech} FROM interventions WHERE id % 3 = 0"
        ))
        .execute(&app.state.db.pool)
        .await
        .unwrap();
        let tech = app.login("tech@t.fr", PASSWORD).await.unwrap();
        let (st, html) = tech.get_text("/service/interventions?mine=1").await;
        assert_eq!(st, 200);
        let ids = page_ids(&html, "/service/interventions/");
        assert!(!ids.is_empty() && ids.iter().all(|id| id % 3 == 0), "his interventions only: {ids:?}");
        app
    })
    .await;
}

/// A representative with no opportunity yet is told how to make one; once a filter narrows the
/// list to nothing, the page says that nothing matches and offers to clear the filters (not to
/// create one), in the reader's language.
#[tokio::test]
async fn an_empty_opportunity_list_says_whether_a_filter_hides_everything() {
    each_backend(|app| async move {
        let co = app.unit("Groupe", "company", None).await;
        let north = app.unit("Nord", "branch", Some(co)).await;
        app.user("rep.vide@t.fr", "representant", Some(north)).await;
        let s = app.login("rep.vide@t.fr", PASSWORD).await.unwrap();
        let (st, html) = s.get_text("/opportunities").await;
        assert_eq!(st, 200);
        assert!(html.contains("Aucune opportunité<") && !html.contains("id=\"no-match\""), "the first-use state");
        let (st, html) = s.get_text("/opportunities?q=zzzz-personne").await;
        assert_eq!(st, 200);
        assert!(html.contains("id=\"no-match\"") && html.contains("Aucune opportunité ne correspond à ces filtres"));
        assert!(html.contains("href=\"/opportunities\">Effacer les filtres"), "a way back to the whole list");
        assert!(!html.contains("href=\"/opportunities/new\" class") && !html.contains("btn btn-primary\" href=\"/opportunities/new\">"));
        s.post("/language", &[("lang", "en"), ("next", "/")]).await;
        let (_, html) = s.get_text("/opportunities?q=zzzz-personne").await;
        assert!(html.contains("No opportunity matches these filters") && html.contains(">Clear the filters<"));
        app
    })
    .await;
}
