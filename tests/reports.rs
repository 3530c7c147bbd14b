//! The dashboards (issue 20), on both backends: each figure against hand-computed data, each
//! figure that links to a list equal to that list's count for the same user (a manager, a rep,
//! the administrator), the period's comparison, the kanban's column totals, amounts on an
//! opportunity (form and API, a no-change save, a clear error), the CSV of a chart.

mod common;

use carnet::clock::Zone;
use common::{each_backend, run_jobs, Api, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn at(date: &str, time: &str) -> i64 {
    Zone::parse("America/Toronto").unwrap().parse_local(date, time).expect("local time")
}

const NOVEMBER: &str = "period=custom&from=2026-11-01&to=2026-11-30";

/// The count of the list `href` (a page's address) for the user of `api`, through the API.
async fn list_count(api: &Api, href: &str) -> Option<i64> {
    let path = if let Some(q) = href.strip_prefix("/opportunities?") {
        format!("/api/v1/opportunities?{q}")
    } else if let Some(q) = href.strip_prefix("/leads?") {
        format!("/api/v1/leads?{q}")
    } else if let Some(q) = href.strip_prefix("/service/requests?") {
        format!("/api/v1/service-requests?{q}")
    } else {
        return None;
    };
    let (s, v) = api.get(&format!("{path}&count=true&limit=1")).await;
    assert_eq!(s, StatusCode::OK, "{href}: {v}");
    assert_eq!(v["count"]["kind"], "exactly", "{v}");
    v["count"]["value"].as_i64()
}

/// Every counted figure of `d` that links to a list equals that list's count. Returns how
/// many were compared.
async fn figures_match_their_lists(api: &Api, d: &Value) -> usize {
    let mut compared = 0;
    for k in d["kpis"].as_array().unwrap() {
        if k["unit"] == "count" {
            if let (Some(h), Some(v)) = (k["href"].as_str(), k["value"].as_i64()) {
                if let Some(n) = list_count(api, h).await {
                    assert_eq!(n, v, "kpi {} ({h})", k["id"]);
                    compared += 1;
                }
            }
        }
    }
    for c in d["charts"].as_array().unwrap() {
        if c["unit"] != "count" {
            continue;
        }
        for b in c["bars"].as_array().unwrap() {
            if let Some(h) = b["href"].as_str() {
                if let Some(n) = list_count(api, h).await {
                    assert_eq!(n, b["value"].as_i64().unwrap(), "chart {} bar {} ({h})", c["id"], b["code"]);
                    compared += 1;
                }
            }
        }
    }
    for table in ["per_rep", "per_branch"] {
        for l in d[table].as_array().into_iter().flatten() {
            if let Some(h) = l["href"].as_str() {
                assert_eq!(list_count(api, h).await, l["created"].as_i64(), "{table} {}", l["name"]);
                for stage in ["booked", "showed", "sold", "lost"] {
                    assert_eq!(list_count(api, &format!("{h}&stage={stage}")).await, l[stage].as_i64(), "{table} {} {stage}", l["name"]);
                }
                compared += 5;
            }
        }
    }
    compared
}

fn kpi(d: &Value, id: &str) -> Value {
    d["kpis"].as_array().unwrap().iter().find(|k| k["id"] == id).cloned().unwrap_or_else(|| panic!("no kpi {id}: {d}"))
}

fn bars(d: &Value, chart: &str) -> Vec<(String, i64)> {
    let c = d["charts"].as_array().unwrap().iter().find(|c| c["id"] == chart).unwrap_or_else(|| panic!("no chart {chart}"));
    c["bars"].as_array().unwrap().iter().map(|b| (b["code"].as_str().unwrap().to_string(), b["value"].as_i64().unwrap())).collect()
}

fn bar(d: &Value, chart: &str, code: &str) -> i64 {
    bars(d, chart).into_iter().find(|b| b.0 == code).map(|b| b.1).unwrap_or_else(|| panic!("no bar {code} in {chart}"))
}

struct Sales {
    admin: Api,
    manager: Api,
    rep: Api,
    laval: i64,
    longueuil: i64,
    opps: Vec<i64>,
    r1: i64,
}

/// A region (Laval, Longueuil) with its manager and reps, another region (Lévis); leads in
/// October and November, answered or not, booked, shown, sold and lost.
async fn sales_data(app: &TestApp) -> Sales {
    let company = app.unit("Autos du Québec", "company", None).await;
    let region = app.unit("Montréal", "region", Some(company)).await;
    let laval = app.unit("Laval", "branch", Some(region)).await;
    let longueuil = app.unit("Longueuil", "branch", Some(region)).await;
    let east = app.unit("Est", "region", Some(company)).await;
    let levis = app.unit("Lévis", "branch", Some(east)).await;
    let admin = app.user("admin@t.fr", "administrateur", None).await;
    let manager = app.user("dir@t.fr", "directeur_ventes", Some(region)).await;
    let r1 = app.user("r1@t.fr", "representant", Some(laval)).await;
    let _r2 = app.user("r2@t.fr", "representant", Some(laval)).await;
    let _r3 = app.user("r3@t.fr", "representant", Some(longueuil)).await;
    let _r4 = app.user("r4@t.fr", "representant", Some(levis)).await;
    let admin_api = app.api(&app.token_for(admin).await);
    let rep = app.api(&app.token_for(r1).await);
    let lead = |n: usize, branch: i64, source: &str| json!({"first_name": "Client", "last_name": format!("N{n}"), "email": format!("n{n}@exemple.ca"), "branch_id": branch, "source": source, "lead_type": "internet"});
    // October: one lead in Laval (the previous period).
    app.clock.set(at("2026-10-20", "10:00"));
    let (s, r) = admin_api.send("POST", "/api/v1/leads", Some(lead(0, laval, "autohebdo"))).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let mut opps = vec![r["opportunity_id"].as_i64().unwrap()];
    // November: three in Laval (round robin: r1, r2, r1), one in Lévis (outside the region).
    app.clock.set(at("2026-11-10", "09:00"));
    for (n, source) in [(1, "autohebdo"), (2, "site web"), (3, "autohebdo")] {
        let (s, r) = admin_api.send("POST", "/api/v1/leads", Some(lead(n, laval, source))).await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        opps.push(r["opportunity_id"].as_i64().unwrap());
    }
    let (s, r) = admin_api.send("POST", "/api/v1/leads", Some(lead(4, levis, "autohebdo"))).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    opps.push(r["opportunity_id"].as_i64().unwrap());
    // Lead 1 answered after 20 minutes by a call logged; lead 2 after 3 hours; lead 3 never.
    let answer = |opp: i64| {
        let admin_api = &admin_api;
        async move {
            let (s, call) = admin_api
                .send(
                    "POST",
                    "/api/v1/calls",
                    Some(json!({"opportunity_id": opp, "date": "2026-11-10", "time": "15:00", "subject": "Rappel"})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{call}");
            let (s, v) = admin_api.send("POST", &format!("/api/v1/calls/{}/log", call["id"]), Some(json!({"outcome": "joint"}))).await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
    };
    app.clock.set(at("2026-11-10", "09:20"));
    answer(opps[1]).await;
    app.clock.set(at("2026-11-10", "12:00"));
    answer(opps[2]).await;
    // Opportunity 1 booked, came in, sold; 2 lost in the showroom; 3 booked, no show.
    let status = |opp: i64, s: &'static str| {
        let admin_api = &admin_api;
        async move {
            let (st, v) = admin_api.send("PATCH", &format!("/api/v1/opportunities/{opp}"), Some(json!({"status": s}))).await;
            assert_eq!(st, StatusCode::OK, "{v}");
        }
    };
    app.clock.set(at("2026-11-12", "10:00"));
    status(opps[1], "rdv_cedule").await;
    status(opps[3], "rdv_cedule").await;
    app.clock.set(at("2026-11-14", "10:00"));
    status(opps[1], "rdv_present").await;
    status(opps[1], "pris_en_charge").await;
    status(opps[2], "perdu_salle").await;
    // Amounts: the sold one and the booked one.
    for (opp, cents) in [(opps[1], 2_500_000), (opps[3], 3_000_000)] {
        let (s, v) = admin_api.send("PATCH", &format!("/api/v1/opportunities/{opp}"), Some(json!({"amount_cents": cents}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["amount_cents"], cents);
    }
    app.clock.set(at("2026-12-01", "08:00"));
    Sales { admin: admin_api, manager: app.api(&app.token_for(manager).await), rep, laval, longueuil, opps, r1 }
}

#[tokio::test]
async fn the_sales_dashboard_counts_what_each_user_sees_and_links_to_it() {
    each_backend(|app| async move {
        let s = sales_data(&app).await;
        // The manager of the region: Laval's three November opportunities, not Lévis'.
        let (st, d) = s.manager.get(&format!("/api/v1/reports/sales?{NOVEMBER}")).await;
        assert_eq!(st, StatusCode::OK, "{d}");
        assert_eq!((kpi(&d, "created")["value"].as_i64(), kpi(&d, "created")["previous"].as_i64()), (Some(3), Some(1)));
        assert_eq!((kpi(&d, "leads")["value"].as_i64(), kpi(&d, "leads")["previous"].as_i64()), (Some(3), Some(1)));
        assert_eq!(bars(&d, "funnel"), vec![("created".into(), 3), ("booked".into(), 2), ("showed".into(), 1), ("sold".into(), 1)]);
        assert_eq!(kpi(&d, "booked")["value"], 2);
        assert_eq!(kpi(&d, "show_rate")["value"], 500, "one of two came");
        assert_eq!(kpi(&d, "won")["value"], 1);
        assert_eq!(kpi(&d, "win_rate")["value"], 500, "one sold, one lost");
        assert_eq!(bar(&d, "lost_reasons", "perdu_salle"), 1);
        assert_eq!(bar(&d, "lost_reasons", "perdu_bdc"), 0);
        assert_eq!(bar(&d, "leads_by_source", "autohebdo"), 2);
        assert_eq!(bar(&d, "leads_by_source", "site web"), 1);
        assert_eq!(bar(&d, "leads_by_type", "internet"), 3);
        // Speed to lead: 20 minutes, 3 hours, not answered; the median is the lower middle.
        assert_eq!(bar(&d, "speed_to_lead", "le_1h"), 1);
        assert_eq!(bar(&d, "speed_to_lead", "le_4h"), 1);
        assert_eq!(bar(&d, "speed_to_lead", "none"), 1);
        assert_eq!(kpi(&d, "speed_to_lead")["value"], 20);
        // The time series covers the period once: November has 30 days.
        let series = bars(&d, "leads_over_time");
        assert_eq!(series.len(), 30);
        assert_eq!(series.iter().map(|b| b.1).sum::<i64>(), 3);
        assert_eq!(series[9], ("2026-11-10".into(), 3));
        // The pipeline is the board: every status now, with amounts; the open value.
        assert_eq!(bar(&d, "pipeline", "en_traitement"), 1, "October's lead, still in progress");
        assert_eq!(bar(&d, "pipeline", "rdv_cedule"), 1);
        assert_eq!(bar(&d, "pipeline", "pris_en_charge"), 1);
        assert_eq!(kpi(&d, "pipeline_value")["value"], 3_000_000);
        let pipeline = d["charts"].as_array().unwrap().iter().find(|c| c["id"] == "pipeline").unwrap().clone();
        let i = pipeline["bars"].as_array().unwrap().iter().position(|b| b["code"] == "pris_en_charge").unwrap();
        assert_eq!(pipeline["extra"]["values"][i], 2_500_000);
        assert!(d["kpis"].as_array().unwrap().iter().all(|k| k["id"] != "expired"), "the expired figure is the administrators'");
        let reps = d["per_rep"].as_array().unwrap();
        assert_eq!(reps.len(), 2, "{d}");
        assert_eq!((reps[0]["created"].as_i64(), reps[0]["booked"].as_i64(), reps[0]["sold"].as_i64()), (Some(2), Some(2), Some(1)));
        assert_eq!((reps[1]["created"].as_i64(), reps[1]["lost"].as_i64()), (Some(1), Some(1)));
        assert_eq!(d["per_branch"][0]["name"], "Laval");
        let n = figures_match_their_lists(&s.manager, &d).await;
        assert!(n >= 25, "{n} figures compared");

        // A branch of the region: Longueuil has nothing; Laval everything.
        let (_, d) = s.manager.get(&format!("/api/v1/reports/sales?{NOVEMBER}&unit_id={}", s.longueuil)).await;
        assert_eq!(kpi(&d, "created")["value"], 0);
        figures_match_their_lists(&s.manager, &d).await;
        let (_, d) = s.manager.get(&format!("/api/v1/reports/sales?{NOVEMBER}&unit_id={}", s.laval)).await;
        assert_eq!(kpi(&d, "created")["value"], 3);

        // The administrator: Lévis too, and the expired figure.
        let (_, d) = s.admin.get(&format!("/api/v1/reports/sales?{NOVEMBER}")).await;
        assert_eq!(kpi(&d, "created")["value"], 4);
        assert_eq!(kpi(&d, "expired")["value"], 0);
        assert!(figures_match_their_lists(&s.admin, &d).await >= 25);

        // A rep: their own by default, and never more than their own.
        let own = app
            .count(&format!("SELECT COUNT(*) FROM opportunities WHERE owner_id = {} AND created_at >= {}", s.r1, at("2026-11-01", "00:00")))
            .await;
        assert!(own > 0);
        for q in ["", "&scope=all", "&scope=mine"] {
            let (st, d) = s.rep.get(&format!("/api/v1/reports/sales?{NOVEMBER}{q}")).await;
            assert_eq!(st, StatusCode::OK, "{d}");
            assert_eq!(kpi(&d, "created")["value"], own, "{q}");
            figures_match_their_lists(&s.rep, &d).await;
        }
        let (_, d) = s.rep.get(&format!("/api/v1/reports/sales?{NOVEMBER}&unit_id={}", s.laval)).await;
        assert_eq!(kpi(&d, "created")["value"], own, "a unit does not widen what a rep sees");
        // The expired flag is the administrators': a rep cannot filter by it.
        let (st, v) = s.rep.get("/api/v1/opportunities?expired=0").await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let (st, v) = s.rep.get("/api/v1/opportunities?in=expired&from=2026-11-01&to=2026-11-30").await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

        // Bad periods are clear errors.
        for (q, field) in [
            ("period=custom&from=2026-12-01&to=2026-11-01", "from"),
            ("period=custom&from=x&to=2026-11-01", "from"),
            ("scope=team", "scope"),
        ] {
            let (st, v) = s.manager.get(&format!("/api/v1/reports/sales?{q}")).await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {v}");
            assert!(v["error"]["fields"][field].is_string(), "{q}: {v}");
        }

        // The pages: French and English, a chart's CSV.
        let web = app.login("dir@t.fr", common::PASSWORD).await.expect("login");
        let (st, html) = web.get_text(&format!("/reports/sales?{NOVEMBER}")).await;
        assert_eq!(st, StatusCode::OK);
        assert!(html.contains("Tableau de bord des ventes") && html.contains("<svg class=\"chart\""), "{html}");
        assert!(
            html.contains("/opportunities?in=created&#38;stage=booked&#38;from=2026-11-01&#38;to=2026-11-30"),
            "the funnel links to its list"
        );
        let r = web.get(&format!("/reports/sales?{NOVEMBER}&csv=lost_reasons")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let csv = r.text().await.unwrap();
        assert!(csv.starts_with("code,") && csv.contains("perdu_salle,Perdu salle de montre,1"), "{csv}");
        let (st, _) = web.get_text(&format!("/reports/sales?{NOVEMBER}&csv=nothing")).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        // The leads the speed chart counts: the one not answered yet, on the lead list.
        let (st, html) = web.get_text("/leads?speed=none&from=2026-11-01&to=2026-11-30").await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(html.matches("<tr data-href=\"/opportunities/").count(), 1, "{html}");
        assert!(html.contains("Pas encore de réponse"), "{html}");
        let (_, html) = web.get_text("/leads?speed=le_1h&from=2026-11-01&to=2026-11-30").await;
        assert!(html.contains("20 min"), "{html}");
        web.post("/language", &[("lang", "en")]).await;
        let (_, html) = web.get_text(&format!("/reports/sales?{NOVEMBER}")).await;
        assert!(html.contains("Sales dashboard") && html.contains("Conversion by stage"), "{html}");
        // The home page shows the manager's team figures.
        let (_, home) = web.get_text("/").await;
        assert!(home.contains("id=\"home-figures\"") && home.contains("My team&#39;s figures"), "{home}");
        let _ = s.opps;
        app
    })
    .await;
}

/// The kept figures (migration 31) equal a recomputation from the opportunities.
async fn kept_figures_are_exact(app: &TestApp, after: &str) {
    let diff = carnet::reports::figures::differences(&app.state.db).await.expect("recompute");
    assert!(diff.is_empty(), "after {after}: {diff:#?}");
}

async fn exec(app: &TestApp, sql: &str) {
    sqlx::query(sql).execute(&app.state.db.pool).await.expect(sql);
}

#[tokio::test]
async fn kept_figures_follow_every_write_and_count_as_the_lists_do() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    each_backend(|app| async move {
        let s = sales_data(&app).await;
        let db = app.state.db.clone();
        kept_figures_are_exact(&app, "intake, calls, the status workflow, amounts").await;
        let built: String = sqlx::query_scalar("SELECT built_for FROM report_zone").fetch_one(&db.pool).await.unwrap();
        let restore_built = format!("UPDATE report_zone SET built_for = '{built}'");
        let agree = |api: &'static str, q: String| {
            let (app, s, restore_built) = (&app, &s, restore_built.clone());
            async move {
                let api = match api {
                    "admin" => &s.admin,
                    "manager" => &s.manager,
                    _ => &s.rep,
                };
                let (st, kept) = api.get(&format!("/api/v1/reports/sales?{q}")).await;
                assert_eq!(st, StatusCode::OK, "{kept}");
                exec(app, "UPDATE report_zone SET built_for = 'stale|0'").await;
                let (_, direct) = api.get(&format!("/api/v1/reports/sales?{q}")).await;
                exec(app, &restore_built).await;
                assert_eq!(kept, direct, "{q}");
                figures_match_their_lists(api, &kept).await;
                kept
            }
        };
        let r2: i64 = app.count("SELECT id FROM users WHERE email = 'r2@t.fr'").await;
        let opp = |i: usize| format!("/api/v1/opportunities/{}", s.opps[i]);

        // The rep takes part in another rep's opportunity (a call of theirs): seen, and counted once.
        let other = app
            .count(&format!(
                "SELECT MIN(id) FROM opportunities WHERE owner_id <> {} AND branch_id = {} AND created_at >= {}",
                s.r1,
                s.laval,
                at("2026-11-01", "00:00")
            ))
            .await;
        let mine = app.count(&format!("SELECT MIN(id) FROM opportunities WHERE owner_id = {}", s.r1)).await;
        let (st, v) = s
            .admin
            .send(
                "POST",
                "/api/v1/calls",
                Some(json!({"opportunity_id": other, "owner_id": s.r1, "date": "2026-12-02", "time": "10:00", "subject": "Relance"})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let own = app.count(&format!("SELECT COUNT(*) FROM opportunities WHERE owner_id = {} AND created_at >= {}", s.r1, at("2026-11-01", "00:00"))).await;
        let d = agree("rep", format!("{NOVEMBER}&scope=all")).await;
        assert_eq!(kpi(&d, "created")["value"].as_i64(), Some(own + 1), "their own and the one they take part in");
        let d = agree("rep", NOVEMBER.to_string()).await;
        assert_eq!(kpi(&d, "created")["value"].as_i64(), Some(own), "their own only");
        // A call on their own opportunity counts it once.
        let (st, v) = s
            .admin
            .send(
                "POST",
                "/api/v1/calls",
                Some(json!({"opportunity_id": mine, "owner_id": s.r1, "date": "2026-12-02", "time": "11:00", "subject": "Suivi"})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let d = agree("rep", format!("{NOVEMBER}&scope=all")).await;
        assert_eq!(kpi(&d, "created")["value"].as_i64(), Some(own + 1));

        // Owner and branch changes, amounts.
        for (i, body) in [
            (3, json!({"owner_id": r2})),
            (1, json!({"branch_id": s.longueuil})),
            (1, json!({"amount_cents": 2_600_000})),
            (3, json!({"amount_cents": null})),
        ] {
            let (st, v) = s.admin.send("PATCH", &opp(i), Some(body.clone())).await;
            assert_eq!(st, StatusCode::OK, "{body}: {v}");
            kept_figures_are_exact(&app, &body.to_string()).await;
        }
        let d = agree("manager", NOVEMBER.to_string()).await;
        let sold = d["charts"].as_array().unwrap().iter().find(|c| c["id"] == "pipeline").unwrap().clone();
        let i = sold["bars"].as_array().unwrap().iter().position(|b| b["code"] == "pris_en_charge").unwrap();
        assert_eq!(sold["extra"]["values"][i], 2_600_000, "the amount changed");
        agree("manager", format!("{NOVEMBER}&unit_id={}", s.longueuil)).await;

        // Trash and restore; a customer merge; more leads, one on the last evening of November.
        let (st, v) = s.admin.send("PATCH", &opp(3), Some(json!({"status": "invalide_bdc"}))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        kept_figures_are_exact(&app, "trash").await;
        assert_eq!(kpi(&agree("admin", NOVEMBER.to_string()).await, "created")["value"], 3);
        let (st, v) = s.admin.send("POST", &format!("{}/restore", opp(3)), None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        kept_figures_are_exact(&app, "restore").await;
        let customer = |i: usize| {
            let s = &s;
            async move { s.admin.get(&format!("/api/v1/opportunities/{}", s.opps[i])).await.1["customer_id"].as_i64().unwrap() }
        };
        let (keep, from) = (customer(1).await, customer(4).await);
        let (st, v) = s.admin.send("POST", &format!("/api/v1/customers/{keep}/merge"), Some(json!({"from_id": from}))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        kept_figures_are_exact(&app, "merge").await;
        app.clock.set(at("2026-11-30", "23:30"));
        let (st, v) = s
            .admin
            .send("POST", "/api/v1/leads", Some(json!({"first_name": "Tard", "last_name": "Soir", "email": "tard@exemple.ca", "branch_id": s.laval, "lead_type": "internet"})))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        kept_figures_are_exact(&app, "a late lead").await;
        app.clock.set(at("2026-12-01", "08:00"));
        let d = agree("admin", NOVEMBER.to_string()).await;
        assert_eq!(kpi(&d, "created")["value"], 5, "23:30 on the 30th is November in Toronto (December in UTC)");
        let d = agree("admin", "period=custom&from=2026-12-01&to=2026-12-01".into()).await;
        assert_eq!(kpi(&d, "created")["value"], 0);
        agree("admin", "period=custom&from=2026-11-30&to=2026-11-30".into()).await;
        agree("admin", "period=7d".into()).await;

        // The expiry sweep, months later.
        let swept = carnet::sales::expiry::sweep(&db, at("2027-03-01", "00:00")).await.unwrap();
        assert!(swept > 0);
        kept_figures_are_exact(&app, "the expiry sweep").await;
        // An expired opportunity changes hands, branch, goes to the trash and back: its
        // expiration follows it in the figures.
        let expired = app.count("SELECT MIN(opportunity_id) FROM opportunity_expirations").await;
        let path = format!("/api/v1/opportunities/{expired}");
        for body in [json!({"owner_id": r2}), json!({"branch_id": s.longueuil}), json!({"status": "invalide_bdc"})] {
            let (st, v) = s.admin.send("PATCH", &path, Some(body.clone())).await;
            assert_eq!(st, StatusCode::OK, "{body}: {v}");
            kept_figures_are_exact(&app, &format!("expired, then {body}")).await;
        }
        let (st, v) = s.admin.send("POST", &format!("{path}/restore"), None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        kept_figures_are_exact(&app, "expired, then restored").await;
        app.clock.set(at("2027-03-02", "08:00"));
        let d = agree("admin", "period=7d".into()).await;
        assert_eq!(kpi(&d, "expired")["value"].as_i64(), Some(swept as i64));
        app.clock.set(at("2026-12-01", "08:00"));

        // Another time zone: the figures are rebuilt for its days (the late lead is December in Paris).
        let (st, v) = s.admin.send("PATCH", "/api/v1/settings", Some(json!({"ui.timezone": "Europe/Paris"}))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        // Until the rebuild job has run, the dashboard counts directly, in the new zone's days.
        let stale: String = sqlx::query_scalar("SELECT built_for FROM report_zone").fetch_one(&db.pool).await.unwrap();
        assert!(!stale.starts_with("Europe/Paris|"), "rebuilt inside the request: {stale}");
        let (_, before_job) = s.admin.get(&format!("/api/v1/reports/sales?{NOVEMBER}")).await;
        assert!(run_jobs(&app).await >= 1, "the rebuild is a job");
        let (_, after_job) = s.admin.get(&format!("/api/v1/reports/sales?{NOVEMBER}")).await;
        assert_eq!(before_job, after_job, "counted directly and kept, the same figures");
        let built: String = sqlx::query_scalar("SELECT built_for FROM report_zone").fetch_one(&db.pool).await.unwrap();
        assert!(built.starts_with("Europe/Paris|"), "{built}");
        kept_figures_are_exact(&app, "a new zone").await;
        let restore_built = format!("UPDATE report_zone SET built_for = '{built}'");
        for who in [&s.admin, &s.manager, &s.rep] {
            for q in [NOVEMBER.to_string(), format!("{NOVEMBER}&scope=all"), "period=custom&from=2026-11-30&to=2026-11-30".into()] {
                let (_, kept) = who.get(&format!("/api/v1/reports/sales?{q}")).await;
                exec(&app, "UPDATE report_zone SET built_for = 'stale|0'").await;
                let (_, direct) = who.get(&format!("/api/v1/reports/sales?{q}")).await;
                exec(&app, &restore_built).await;
                assert_eq!(kept, direct, "{q}");
                figures_match_their_lists(who, &kept).await;
            }
        }
        // Deleting an opportunity (as a purge would) takes it out.
        exec(&app, &format!("DELETE FROM opportunity_stock_units WHERE opportunity_id = {}", s.opps[0])).await;
        let deleted = sqlx::query(&format!("DELETE FROM opportunities WHERE id = {}", s.opps[0])).execute(&db.pool).await;
        if deleted.is_ok() {
            kept_figures_are_exact(&app, "a delete").await;
        }
        app
    })
    .await;
}

#[tokio::test]
async fn amounts_and_close_dates_on_opportunities_and_the_board_totals() {
    each_backend(|app| async move {
        let s = sales_data(&app).await;
        let opp = s.opps[3];
        let path = format!("/api/v1/opportunities/{opp}");
        // A close date and a bad amount: a 422 naming the field, nothing changed.
        let (st, v) = s.admin.send("PATCH", &path, Some(json!({"amount_cents": -5, "expected_close_on": "2026-13-01"}))).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v["error"]["fields"]["amount_cents"].is_string() && v["error"]["fields"]["expected_close_on"].is_string(), "{v}");
        let (st, v) = s.admin.send("PATCH", &path, Some(json!({"expected_close_on": "2026-12-20"}))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(
            (v["amount_cents"].as_i64(), v["expected_close_on"].as_str()),
            (Some(3_000_000), Some("2026-12-20")),
            "a PATCH changes only what it carries"
        );
        // The form: typed as people type amounts; a plain save keeps them; a bad one keeps what was typed.
        let web = app.login("admin@t.fr", common::PASSWORD).await.expect("login");
        let (_, form) = web.get_text(&format!("/opportunities/{opp}/edit")).await;
        assert!(form.contains("value=\"30000.00\"") && form.contains("value=\"2026-12-20\""), "{form}");
        let history =
            app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'opportunity' AND entity_id = {opp}")).await;
        let (_, cur) = s.admin.get(&path).await;
        let (owner, branch, name) = (cur["owner_id"].to_string(), cur["branch_id"].to_string(), cur["name"].as_str().unwrap().to_string());
        let with = |amount: &'static str| -> Vec<(&'static str, String)> {
            vec![
                ("name", name.clone()),
                ("lead_type", "internet".into()),
                ("owner_id", owner.clone()),
                ("branch_id", branch.clone()),
                ("amount", amount.into()),
                ("expected_close_on", "2026-12-20".into()),
            ]
        };
        let post = |f: Vec<(&'static str, String)>| {
            let web = &web;
            async move {
                let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
                web.post(&format!("/opportunities/{opp}"), &pairs).await
            }
        };
        let r = post(with("30000.00")).await;
        assert!(r.status().is_redirection(), "{}", r.status());
        assert_eq!(
            app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'opportunity' AND entity_id = {opp}")).await,
            history,
            "a no-change save changes nothing"
        );
        let r = post(with("trente mille")).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(html.contains("value=\"trente mille\"") && html.contains("Montant invalide"), "{html}");
        let r = post(with("31 500,50")).await;
        assert!(r.status().is_redirection());
        let (_, v) = s.admin.get(&path).await;
        assert_eq!(v["amount_cents"], 3_150_050);
        let (_, page) = web.get_text(&format!("/opportunities/{opp}")).await;
        assert!(page.contains("31\u{202f}500,50 CAD"), "{page}");
        // The board's heads: every opportunity of the column, with the total.
        let (_, board) = web.get_text("/opportunities/board").await;
        assert!(board.contains("data-count=\"2\"") || board.contains("data-count=\"1\""), "{board}");
        let sold = board.split("id=\"col-pris_en_charge\"").nth(1).unwrap();
        assert!(sold.contains("data-count=\"1\"") && sold.contains("data-cents=\"2500000\""), "{sold}");
        // A head costs at most the cap: past it, "cap+" and no total (the dashboard's).
        use carnet::db::page::Count;
        let vis = carnet::access::Visibility::everything(0);
        let filter = carnet::sales::store::Filter::default();
        let heads = carnet::sales::store::board_heads(&app.state.db, &vis, &["pris_en_charge", "en_traitement"], &filter, 1).await.unwrap();
        assert_eq!(
            heads,
            vec![("pris_en_charge".into(), Count::Exactly(1), Some(2_500_000)), ("en_traitement".into(), Count::AtLeast(1), None)]
        );
        app
    })
    .await;
}

async fn request(api: &Api, customer: i64, branch: i64, priority: &str) -> i64 {
    let body = json!({"customer_id": customer, "request_type": "panne", "priority": priority, "branch_id": branch, "description": "Panne"});
    let (s, r) = api.send("POST", "/api/v1/service-requests", Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    r["id"].as_i64().unwrap()
}

#[tokio::test]
async fn the_service_dashboard_counts_backlog_service_levels_and_technicians() {
    each_backend(|app| async move {
        let company = app.unit("Froid Service", "company", None).await;
        let laval = app.unit("Froid Laval", "branch", Some(company)).await;
        let quebec = app.unit("Froid Québec", "branch", Some(company)).await;
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let agent = app.user("agent@t.fr", "agent_support", Some(laval)).await;
        let tech = app.user("tech@t.fr", "technicien", Some(laval)).await;
        let admin_api = app.api(&app.token_for(admin).await);
        let agent_api = app.api(&app.token_for(agent).await);
        let (s, v) = admin_api
            .send(
                "PUT",
                "/api/v1/service-levels",
                Some(json!({"targets": [{"request_type": "panne", "priority": "haute", "first_update_minutes": 120, "close_minutes": 1080}]})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let customer = |name: &'static str, branch: i64| {
            let admin_api = &admin_api;
            async move {
                let (s, c) = admin_api.send("POST", "/api/v1/customers", Some(json!({"kind": "company", "company_name": name, "branch_id": branch}))).await;
                assert_eq!(s, StatusCode::CREATED, "{c}");
                c["id"].as_i64().unwrap()
            }
        };
        let (roy, gagne) = (customer("Boulangerie Roy", laval).await, customer("Épicerie Gagné", quebec).await);
        // October: one request (the previous period).
        app.clock.set(at("2026-10-20", "09:00"));
        request(&agent_api, roy, laval, "normale").await;
        // Tuesday 10 November, 09:00: two urgent ones with targets, one elsewhere.
        app.clock.set(at("2026-11-10", "09:00"));
        let r1 = request(&agent_api, roy, laval, "haute").await;
        let _r2 = request(&agent_api, roy, laval, "haute").await;
        request(&admin_api, gagne, quebec, "haute").await;
        // The first answered at 09:30 and closed the next day; the second never answered.
        app.clock.set(at("2026-11-10", "09:30"));
        let (s, v) = agent_api
            .send("POST", &format!("/api/v1/service-requests/{r1}/updates"), Some(json!({"status": "en_cours", "message": "On s'en occupe."})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let (s, i) = agent_api
            .send(
                "POST",
                "/api/v1/interventions",
                Some(json!({"request_id": r1, "date": "2026-11-11", "start_time": "13:00", "end_time": "15:00", "technician_ids": [tech]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{i}");
        app.clock.set(at("2026-11-11", "16:00"));
        let (s, v) =
            agent_api.send("POST", &format!("/api/v1/service-requests/{r1}/updates"), Some(json!({"status": "cloture", "message": "Réparé."}))).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        // Friday 20 November: one without a target.
        app.clock.set(at("2026-11-20", "10:00"));
        request(&agent_api, roy, laval, "normale").await;
        app.clock.set(at("2026-12-01", "08:00"));

        let (s, d) = agent_api.get(&format!("/api/v1/reports/service?{NOVEMBER}")).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        assert_eq!((kpi(&d, "opened")["value"].as_i64(), kpi(&d, "opened")["previous"].as_i64()), (Some(3), Some(1)));
        assert_eq!(kpi(&d, "closed")["value"], 1);
        assert_eq!(kpi(&d, "backlog")["value"], 3, "the October one, the unanswered one, Friday's");
        assert_eq!(bar(&d, "backlog_by_status", "nouveau"), 3);
        assert_eq!(bar(&d, "backlog_by_type", "panne"), 3);
        assert_eq!(bar(&d, "backlog_by_age", "d8_30"), 2);
        assert_eq!(bar(&d, "backlog_by_age", "older"), 1);
        for (code, n) in [("first_update_met", 1), ("first_update_missed", 1), ("close_met", 1), ("close_missed", 1)] {
            assert_eq!(bar(&d, "service_levels", code), n, "{code}");
        }
        assert_eq!(kpi(&d, "first_update_met")["value"], 500);
        assert_eq!(kpi(&d, "close_met")["value"], 500);
        let opened = bars(&d, "opened_over_time");
        assert_eq!(opened.len(), 30);
        assert_eq!(opened[9].1, 2);
        assert_eq!(opened[19].1, 1);
        let t = &d["technicians"][0];
        assert_eq!((t["id"].as_i64(), t["interventions"].as_i64(), t["minutes"].as_i64()), (Some(tech), Some(1), Some(120)), "{d}");
        let n = figures_match_their_lists(&agent_api, &d).await;
        assert!(n >= 15, "{n} figures compared");
        // The administrator sees Québec's too.
        let (_, d) = admin_api.get(&format!("/api/v1/reports/service?{NOVEMBER}")).await;
        assert_eq!(kpi(&d, "opened")["value"], 4);
        figures_match_their_lists(&admin_api, &d).await;
        // The technician's list the chart links to counts the same.
        let web = app.login("agent@t.fr", common::PASSWORD).await.expect("login");
        let (s, html) = web.get_text(&format!("/service/interventions?technician_id={tech}&from=2026-11-01&to=2026-11-30")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(html.matches("data-href=\"/service/interventions/").count(), 1, "{html}");
        let (s, html) = web.get_text(&format!("/reports/service?{NOVEMBER}")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(html.contains("Tableau de bord du service") && html.contains("id=\"chart-service_levels\""), "{html}");
        let r = web.get(&format!("/reports/service?{NOVEMBER}&csv=service_levels")).await;
        let csv = r.text().await.unwrap();
        assert!(csv.contains("first_update_missed,Première mise à jour en retard,1,0"), "{csv}");
        app
    })
    .await;
}

/// Each way of seeing a request counts on the service dashboard, once: a support agent's unit,
/// the requests they own elsewhere, those they have a call on, and a technician's interventions
/// (the visibility's arms, `Visibility::request_arms`: removing one loses its request here).
/// Every figure equals its list (which reads the same visibility as one `OR`).
#[tokio::test]
async fn the_service_dashboard_counts_each_way_of_seeing_a_request_once() {
    each_backend(|app| async move {
        let company = app.unit("Froid Service", "company", None).await;
        let laval = app.unit("Froid Laval", "branch", Some(company)).await;
        let quebec = app.unit("Froid Québec", "branch", Some(company)).await;
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let agent = app.user("agent@t.fr", "agent_support", Some(laval)).await;
        let tech = app.user("tech@t.fr", "technicien", Some(laval)).await;
        let admin_api = app.api(&app.token_for(admin).await);
        let agent_api = app.api(&app.token_for(agent).await);
        let tech_api = app.api(&app.token_for(tech).await);
        let ok = |s: StatusCode, v: &Value| assert!(s.is_success(), "{s} {v}");
        let (s, c) = admin_api.send("POST", "/api/v1/customers", Some(json!({"kind": "company", "company_name": "Boulangerie Roy", "branch_id": laval}))).await;
        ok(s, &c);
        let customer = c["id"].as_i64().unwrap();
        app.clock.set(at("2026-11-10", "09:00"));
        let new_request = |branch: i64, owner: i64| {
            let admin_api = &admin_api;
            async move {
                let body = json!({"customer_id": customer, "request_type": "panne", "branch_id": branch, "owner_id": owner, "description": "Panne"});
                let (s, r) = admin_api.send("POST", "/api/v1/service-requests", Some(body)).await;
                assert_eq!(s, StatusCode::CREATED, "{r}");
                r["id"].as_i64().unwrap()
            }
        };
        // The agent's unit; his own elsewhere; one he has a call on; one only the technician
        // works on; one in his unit that he owns too (two arms, counted once); one nobody sees.
        let by_unit = new_request(laval, admin).await;
        let owned = new_request(quebec, agent).await;
        let called = new_request(quebec, admin).await;
        let worked = new_request(quebec, admin).await;
        let _both = new_request(laval, agent).await;
        let hidden = new_request(quebec, admin).await;
        let (s, v) = admin_api
            .send(
                "POST",
                &format!("/api/v1/service-requests/{called}/calls"),
                Some(json!({"owner_id": agent, "date": "2026-11-12", "time": "10:00", "subject": "Rappeler"})),
            )
            .await;
        ok(s, &v);
        for (day, rid) in [("2026-11-16", by_unit), ("2026-11-17", owned), ("2026-11-18", called), ("2026-11-19", worked)] {
            let body = json!({"request_id": rid, "date": day, "start_time": "13:00", "end_time": "15:00", "technician_ids": [tech]});
            let (s, i) = admin_api.send("POST", "/api/v1/interventions", Some(body)).await;
            assert_eq!(s, StatusCode::CREATED, "{i}");
        }
        for rid in [by_unit, owned, called, worked, hidden] {
            let (s, l) = admin_api
                .send(
                    "POST",
                    &format!("/api/v1/service-requests/{rid}/equipment"),
                    Some(json!({"equipment": {"serial_number": format!("SN-{rid}"), "model": "Pétrin"}})),
                )
                .await;
            ok(s, &l);
            let eid = l["items"][0]["equipment_id"].as_i64().unwrap();
            let (s, x) = admin_api
                .send("POST", "/api/v1/equipment-returns", Some(json!({"request_id": rid, "equipment_id": eid, "reason": "Bruit", "return_type": "repair"})))
                .await;
            assert_eq!(s, StatusCode::CREATED, "{x}");
        }
        app.clock.set(at("2026-11-20", "10:00"));
        let (s, v) =
            admin_api.send("POST", &format!("/api/v1/service-requests/{owned}/updates"), Some(json!({"status": "cloture", "message": "Réparé."}))).await;
        ok(s, &v);
        app.clock.set(at("2026-12-01", "08:00"));

        // (who, opened, closed, backlog, interventions of the technician, returns)
        for (who, api, opened, closed, backlog, interventions, returns) in [
            ("agent", &agent_api, 4, 1, 3, 3, 3),
            ("technician", &tech_api, 4, 1, 3, 4, 4),
            ("administrator", &admin_api, 6, 1, 5, 4, 5),
        ] {
            // Everything each sees (a technician's own-only scope defaults to "mine").
            let (s, d) = api.get(&format!("/api/v1/reports/service?{NOVEMBER}&scope=all")).await;
            assert_eq!(s, StatusCode::OK, "{who}: {d}");
            assert_eq!(kpi(&d, "opened")["value"], opened, "{who} opened");
            assert_eq!(kpi(&d, "closed")["value"], closed, "{who} closed");
            assert_eq!(kpi(&d, "backlog")["value"], backlog, "{who} backlog");
            assert_eq!(bar(&d, "backlog_by_type", "panne"), backlog, "{who} backlog by type");
            let t = &d["technicians"][0];
            assert_eq!((t["id"].as_i64(), t["interventions"].as_i64(), t["minutes"].as_i64()), (Some(tech), Some(interventions), Some(120 * interventions)), "{who}: {d}");
            assert_eq!(bar(&d, "returns_by_type", "repair"), returns, "{who} returns");
            let n = figures_match_their_lists(api, &d).await;
            assert!(n >= 15, "{who}: {n} figures compared");
        }
        app
    })
    .await;
}
