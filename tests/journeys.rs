//! One browser journey per default role, on the demo company, on both databases: each role
//! does its day's first steps in headless Chromium, and every page met on the way must answer
//! below 400 (the navigation's own status, read from the browser's Navigation Timing) and log
//! no Content-Security-Policy violation or script error.

mod common;

use common::browser::*;
use common::TestApp;
use serde_json::json;

const DEMO_PASSWORD: &str = carnet::demo::PASSWORD;

/// The status of the page the browser shows (fails the journey at any 4xx or 5xx).
async fn assert_ok(b: &Browser, what: &str) {
    let status = b.exec("const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : 0;").await;
    let status = status.as_i64().unwrap_or(0);
    let path = b.path().await;
    assert!((200..400).contains(&status), "{what}: {path} answered {status}");
    let violations = b.violations().await;
    assert!(violations.is_empty(), "{what}: {path} broke the Content-Security-Policy: {violations:#?}");
}

async fn open(b: &Browser, path: &str) {
    b.goto(path).await;
    assert_ok(b, path).await;
}

async fn click(b: &Browser, css: &str) {
    b.click_and_wait(css).await;
    assert_ok(b, css).await;
}

/// Sets a field's value (a select, a date or time input) as the user would pick it.
async fn set(b: &Browser, css: &str, value: &str) {
    b.find(css).await;
    b.exec(&format!(
        "const e = document.querySelector({css}); e.value = {value}; e.dispatchEvent(new Event('change', {{bubbles: true}})); return true;",
        css = json!(css),
        value = json!(value)
    ))
    .await;
}

/// Selects the options of a multiple select.
async fn select_many(b: &Browser, css: &str, values: &[i64]) {
    b.find(css).await;
    let vals: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    b.exec(&format!(
        "const e = document.querySelector({css}); const v = {vals}; for (const o of e.options) o.selected = v.includes(o.value); return true;",
        css = json!(css),
        vals = json!(vals)
    ))
    .await;
}

async fn demo_login(b: &Browser, email: &str) {
    b.goto("/login").await;
    b.fill("#email", email).await;
    b.fill("#password", DEMO_PASSWORD).await;
    click(b, "#login-submit").await;
    assert_eq!(b.path_only().await, "/", "{email} is logged in");
}

async fn id_of(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.state.db.pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The id at the end of the current path (`/opportunities/12` → 12).
async fn current_id(b: &Browser) -> i64 {
    let p = b.path_only().await;
    p.rsplit('/').next().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no id in {p}"))
}

async fn today(app: &TestApp) -> String {
    carnet::settings::zone(&app.state.db).await.unwrap().date(app.now())
}

async fn count(b: &Browser, css: &str) -> i64 {
    b.exec(&format!("return document.querySelectorAll({}).length;", json!(css))).await.as_i64().unwrap_or(0)
}

// ---------------------------------------------------------------- BDC agent, then the rep

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bdc_agent_takes_a_lead_and_books_it_for_a_rep_who_works_it() {
    with_demo(|b, app| Box::pin(bdc_and_rep(b, app))).await;
}

async fn bdc_and_rep(b: &Browser, app: &TestApp) {
    let marc = id_of(app, "SELECT id FROM users WHERE email = 'marc.tremblay@carnet.demo'").await;
    let laval = id_of(app, "SELECT id FROM org_units WHERE name = 'Succursale Laval'").await;
    demo_login(b, "nadia.bouchard@carnet.demo").await;
    // She sees every branch's customers and opportunities.
    open(b, "/customers").await;
    assert!(count(b, "#customer-rows tr.clickable").await > 0, "the BDC sees customers");
    open(b, "/opportunities").await;
    // A caller: is he known, with open files?
    open(b, "/leads/new").await;
    b.fill("#phone", "514 555-1000").await;
    click(b, "#check-lead").await;
    let known = b.text("#known-customers").await;
    assert!(known.contains("Hélène"), "the caller is recognised: {known}");
    // A new caller: she takes the lead (it waits in the queue: no branch named).
    b.fill("#phone", "514 555-7788").await;
    b.fill("#first_name", "Rosalie").await;
    b.fill("#last_name", "Nouvelle").await;
    b.fill("#email", "rosalie.nouvelle@exemple.ca").await;
    click(b, "#take-lead").await;
    assert!(b.path_only().await.starts_with("/opportunities/"), "lands on the opportunity");
    let oid = current_id(b).await;
    // She checks the Laval calendar, then books the meeting there for Marc.
    open(b, &format!("/calendar?branch_id={laval}")).await;
    open(b, &format!("/opportunities/{oid}")).await;
    click(b, "#book-meeting").await;
    set(b, "#date", &today(app).await).await;
    set(b, "#start_time", "14:00").await;
    set(b, "#end_time", "15:00").await;
    set(b, "#branch_id", &laval.to_string()).await;
    set(b, "#owner_id", &marc.to_string()).await;
    click(b, "#save-meeting").await;
    assert!(b.path_only().await.starts_with("/meetings/"), "the meeting is booked");
    let mid = current_id(b).await;
    let owner: Option<i64> =
        sqlx::query_scalar("SELECT owner_id FROM opportunities WHERE id = $1").bind(oid).fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(owner, Some(marc), "booking for Marc made him the owner");
    open(b, &format!("/calendar?branch_id={laval}")).await;
    assert!(b.source().await.contains(&format!("/meetings/{mid}")), "on the branch calendar");
    b.screenshot("journey-bdc").await;
    click(b, "#logout").await;

    // Marc finds it in his day, opens the opportunity and logs a call.
    demo_login(b, "marc.tremblay@carnet.demo").await;
    let day = b.text("#my-day").await;
    assert!(b.source().await.contains(&format!("/meetings/{mid}")), "the meeting is in his day: {day}");
    open(b, "/calendar").await;
    assert!(b.source().await.contains(&format!("/meetings/{mid}")), "and in his calendar");
    open(b, &format!("/meetings/{mid}")).await;
    open(b, &format!("/opportunities/{oid}")).await;
    b.find("details:has(#call-form) > summary").await.click().await;
    set(b, "#call-date", &today(app).await).await;
    set(b, "#call-time", "16:30").await;
    b.fill("#call-subject", "Confirmer le rendez-vous").await;
    click(b, "#call-form button[type=submit]").await;
    let call: i64 = id_of(app, &format!("SELECT id FROM calls WHERE opportunity_id = {oid} ORDER BY id DESC LIMIT 1")).await;
    b.fill(&format!("#comment-{call}"), "Client confirmé pour 14 h.").await;
    click(b, &format!("form[action='/calls/{call}/log'] button[type=submit]")).await;
    let status: String =
        sqlx::query_scalar("SELECT status FROM calls WHERE id = $1").bind(call).fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(status, "done", "the call is logged");
    b.screenshot("journey-rep").await;
}

// ---------------------------------------------------------------- support agent

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_support_agent_opens_a_request_posts_an_update_and_books_an_intervention() {
    with_demo(|b, app| Box::pin(support(b, app))).await;
}

async fn support(b: &Browser, app: &TestApp) {
    let luc = id_of(app, "SELECT id FROM users WHERE email = 'luc.gauthier@carnet.demo'").await;
    demo_login(b, "camille.fortin@carnet.demo").await;
    open(b, "/customers").await;
    assert!(count(b, "#customer-rows tr.clickable").await > 0, "her branch's customers are listed");
    open(b, "/service/requests").await;
    // Her list, sorted by status from its header, kept as a view of her own.
    click(b, "#requests-table th a.sort[href*='sort=status']").await;
    assert_eq!(count(b, "#requests-table th[aria-sort='ascending']").await, 1, "sorted by the header clicked");
    b.find("#views details summary").await.click().await;
    b.fill("#view-name", "Par statut").await;
    click(b, "#save-view").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM saved_views WHERE entity = 'service_requests' AND name = 'Par statut'").await, 1);
    assert!(b.path().await.contains("view="), "the saved view is in use");
    assert_eq!(count(b, "#requests-table th[aria-sort='ascending']").await, 1, "the view keeps the sort");
    open(b, "/service/requests/new?find=Boulangerie").await;
    click(b, "#found-customers a").await;
    set(b, "#request_type", "panne").await;
    b.fill("#description", "Le four ne chauffe plus.\nCode E12 affiché.").await;
    click(b, "#save-request").await;
    assert!(b.path_only().await.starts_with("/service/requests/"), "the request is created");
    let rid = current_id(b).await;
    // The customer link of her own request opens.
    let cust = id_of(app, &format!("SELECT customer_id FROM service_requests WHERE id = {rid}")).await;
    open(b, &format!("/customers/{cust}")).await;
    open(b, &format!("/service/requests/{rid}")).await;
    b.fill("#update-message", "Nous avons bien reçu votre demande.").await;
    click(b, "#send-update").await;
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM request_updates WHERE request_id = {rid}")).await, 1, "the update is posted");
    b.find("#new-intervention").await.click().await;
    set(b, "#i-date", &today(app).await).await;
    set(b, "#i-start", "13:00").await;
    set(b, "#i-end", "15:00").await;
    select_many(b, "#i-techs", &[luc]).await;
    click(b, "#save-intervention").await;
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM interventions WHERE request_id = {rid}")).await, 1, "the intervention is booked");
    b.screenshot("journey-support").await;
}

// ---------------------------------------------------------------- technician

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_technician_works_his_day_on_a_phone() {
    with_demo(|b, app| Box::pin(technician(b, app))).await;
}

/// The technician's day on a phone (390×844): the menu, today's visits, then one of them
/// started, reported, photographed, signed by the customer and finished; the request's PDF
/// summary carries the signature.
async fn technician(b: &Browser, app: &TestApp) {
    b.post("/window/rect", json!({"width": 390, "height": 844})).await;
    demo_login(b, "luc.gauthier@carnet.demo").await;
    let width = b.exec("return window.innerWidth;").await.as_i64().unwrap_or(0);
    assert!((360..=400).contains(&width), "a phone's width: {width}");
    // The navigation folds into a menu button; nothing runs off the right edge.
    let hidden = b.exec("return getComputedStyle(document.querySelector('.topbar > nav.mainnav')).display;").await;
    assert_eq!(hidden, "none", "the bar of links is replaced by the menu");
    let overflow = b.exec("return document.documentElement.scrollWidth - window.innerWidth;").await.as_i64().unwrap_or(99);
    assert!(overflow <= 0, "the page is {overflow} px wider than the phone");
    b.find("#navmenu-button").await.click().await;
    let shown = b.exec("return Array.from(document.querySelectorAll('#navmenu .navmenu-list a')).filter(a => a.offsetWidth > 0 && a.getBoundingClientRect().right <= window.innerWidth).length;").await;
    assert!(shown.as_i64().unwrap_or(0) >= 3, "the menu opens with its links on screen: {shown}");
    b.screenshot("phone-technician-menu").await;
    b.find("#navmenu-button").await.click().await;
    // Today's interventions, in order, each with its map, phone, email, equipment and symptom.
    let visits = count(b, "#my-interventions .visit").await;
    assert!(visits > 0, "today's interventions on his home page");
    let times = b
        .exec("return Array.from(document.querySelectorAll('#my-interventions .visit-time')).map(e => e.firstChild.textContent.trim());")
        .await;
    let times: Vec<String> = serde_json::from_value(times).unwrap_or_default();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "in the order of the day");
    assert!(count(b, "#my-interventions .visit-map[href^='https://www.openstreetmap.org/search?query=']").await > 0, "a map link");
    assert!(count(b, "#my-interventions .visit-tel[href^='tel:+']").await > 0, "a phone link");
    assert!(count(b, "#my-interventions .visit-mail[href^='mailto:']").await > 0, "an email link");
    assert!(count(b, "#my-interventions .visit-eq li").await > 0, "the equipment and its symptom");
    b.screenshot("phone-technician-home").await;
    // He opens the first one and starts it.
    click(b, "#my-interventions .visit-open").await;
    let iid = current_id(b).await;
    let status = |app: &TestApp| {
        let pool = app.state.db.pool.clone();
        async move {
            sqlx::query_as::<_, (String, String, String, Option<i64>)>(
                "SELECT status, report_work, signed_by, signature_document_id FROM interventions WHERE id = $1",
            )
            .bind(iid)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(status(app).await.0, "planifiee");
    b.screenshot("phone-technician-intervention").await;
    click(b, "#start-intervention").await;
    assert_eq!(status(app).await.0, "en_cours");
    // The report.
    b.fill("#work_report", "Joint de porte remplacé.\nEssai de cuisson concluant.").await;
    b.fill("#work_minutes", "75").await;
    click(b, "#save-report").await;
    assert!(status(app).await.1.contains('\n'), "the report with its line breaks");
    // A photo from the phone's camera: 3000×2000, kept at 1600 on its longest side.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("IMG_2041.png");
    let img = image::RgbImage::from_fn(3000, 2000, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    img.save(&file).unwrap();
    b.find("#photo").await.send_keys(&file.display().to_string()).await;
    click(b, "#add-photo").await;
    let docs = carnet::service::documents::for_intervention(&app.state.db, iid).await.unwrap();
    let photo = docs.iter().find(|d| d.content_type == "image/jpeg").expect("the photo is a document of the request");
    let stored = carnet::service::documents::content(&app.state.storage, photo).await.unwrap();
    let back = image::load_from_memory(&stored).unwrap();
    assert_eq!((back.width(), back.height()), (1600, 1067), "stored resized");
    assert!(b.text("#work-photos").await.contains("IMG_2041"), "listed on the intervention");
    // The customer signs on the screen with a finger.
    b.fill("#signer_name", "Hélène Gagnon").await;
    b.exec("document.querySelector('#sigpad').scrollIntoView({block: 'center'}); return true;").await;
    let rect =
        b.exec("const r = document.querySelector('#sigpad').getBoundingClientRect(); return [r.left, r.top, r.width, r.height];").await;
    let r: Vec<f64> = serde_json::from_value(rect).unwrap();
    let (x0, y0) = ((r[0] + r[2] * 0.15) as i64, (r[1] + r[3] * 0.6) as i64);
    let mut strokes = vec![
        json!({"type": "pointerMove", "duration": 0, "origin": "viewport", "x": x0, "y": y0}),
        json!({"type": "pointerDown", "button": 0}),
    ];
    for k in 1..=24 {
        let x = x0 + k * (r[2] * 0.7 / 24.0) as i64;
        let y = y0 - ((k as f64 / 3.0).sin() * r[3] * 0.25) as i64;
        strokes.push(json!({"type": "pointerMove", "duration": 10, "origin": "viewport", "x": x, "y": y}));
    }
    strokes.push(json!({"type": "pointerUp", "button": 0}));
    b.post(
        "/actions",
        json!({"actions": [{"type": "pointer", "id": "finger", "parameters": {"pointerType": "touch"}, "actions": strokes}]}),
    )
    .await;
    let _ = b.cmd(reqwest::Method::DELETE, "/actions", None).await;
    click(b, "#save-signature").await;
    let (_, _, signer, doc) = status(app).await;
    assert_eq!(signer, "Hélène Gagnon");
    let doc = doc.expect("the signature is stored");
    let loaded = b.exec("const i = document.querySelector('#signed img'); return i && i.complete ? i.naturalWidth : 0;").await;
    assert!(loaded.as_i64().unwrap_or(0) > 0, "the signature shows on the page");
    let d = carnet::service::documents::get(&app.state.db, doc).await.unwrap().unwrap();
    let png = carnet::service::documents::content(&app.state.storage, &d).await.unwrap();
    let (w, h, rgb) = carnet::service::fieldwork::signature_pixels(&png).unwrap();
    assert!(rgb.chunks(3).filter(|p| p[0] < 100).count() > 50, "ink was drawn on the canvas");
    // He finishes it.
    b.exec("document.querySelector('#work-report').scrollIntoView(); return true;").await;
    click(b, "#finish-intervention").await;
    assert_eq!(status(app).await.0, "terminee");
    b.exec("document.querySelector('#work-signature').scrollIntoView({block: 'center'}); return true;").await;
    b.screenshot("phone-technician-signed").await;
    // The request's summary draws the stored signature: an image XObject of its pixels.
    let rid: i64 =
        sqlx::query_scalar("SELECT request_id FROM interventions WHERE id = $1").bind(iid).fetch_one(&app.state.db.pool).await.unwrap();
    let r = {
        let mut conn = app.state.db.pool.acquire().await.unwrap();
        carnet::service::store::get(&mut conn, rid).await.unwrap().unwrap()
    };
    let zone = carnet::settings::zone(&app.state.db).await.unwrap();
    let pdf = carnet::service::summary::pdf(&app.state.db, &app.state.storage, &r, zone, carnet::i18n::Lang::Fr, app.now()).await.unwrap();
    let text = String::from_utf8_lossy(&pdf);
    assert!(
        text.contains("/Subtype /Image") && text.contains(&format!("/Width {w}")) && text.contains(&format!("/Height {h}")),
        "an image XObject"
    );
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, &rgb).unwrap();
    let packed = z.finish().unwrap();
    assert!(pdf.windows(packed.len()).any(|win| win == packed.as_slice()), "the picture is the stored signature's pixels");
    let hex: String = "Gagnon".bytes().map(|b| format!("{b:02X}")).collect();
    assert!(text.contains(&hex), "the signer under the intervention");
}

// ---------------------------------------------------------------- sales manager

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sales_manager_sees_the_teams_pipeline() {
    with_demo(|b, app| Box::pin(manager(b, app))).await;
}

async fn manager(b: &Browser, _app: &TestApp) {
    demo_login(b, "sophie.gagnon@carnet.demo").await;
    open(b, "/opportunities").await;
    let rows = b.exec("return document.querySelectorAll('a[href^=\"/opportunities/\"]').length;").await;
    assert!(rows.as_i64().unwrap_or(0) > 5, "the region's opportunities: {rows}");
    open(b, "/opportunities/board").await;
    assert!(count(b, "[id^='card-']").await > 5, "the pipeline on the board");
    open(b, "/calendar").await;
    open(b, "/customers").await;
    b.screenshot("journey-manager").await;

    // The dashboard: the team's figures on the home page, then the sales dashboard, a period
    // picked, and a chart's bar followed to the list it counts.
    open(b, "/").await;
    assert!(count(b, "#home-figures .kpi").await >= 5, "the team's figures on the home page");
    click(b, "a[href='/reports/sales']").await;
    assert_eq!(b.path_only().await, "/reports/sales");
    assert!(count(b, "svg.chart").await >= 6, "the charts are drawn");
    // Picking a period shows it at once (the select submits its form).
    set(b, "#period", "90d").await;
    let t0 = std::time::Instant::now();
    while !b.path().await.contains("period=90d") {
        assert!(t0.elapsed().as_secs() < 10, "the period applies: {}", b.path().await);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.find("#chart-pipeline").await;
    assert_ok(b, "90 days").await;
    b.screenshot("journey-manager-sales-dashboard").await;
    // The pipeline's busiest status: its bar leads to the list of exactly those.
    let (href, value) = bar_of(b, "#chart-pipeline").await;
    click(b, &format!("#chart-pipeline svg a[href='{href}']")).await;
    assert!(b.path().await.starts_with("/opportunities?status="), "{}", b.path().await);
    assert_eq!(count(b, "#opportunities-table tbody tr").await, value, "the list counts what the bar says");
}

/// The largest bar of a chart (under 50: one page of its list): its link and value.
async fn bar_of(b: &Browser, chart: &str) -> (String, i64) {
    let v = b
        .exec(&format!(
            "let best = null; for (const r of document.querySelectorAll({rows})) {{ const a = r.querySelector('th a'); const n = parseInt(r.querySelector('.figure').textContent.replace(/\\D/g, ''), 10); \
             if (a && n > 0 && n < 50 && (!best || n > best[1])) best = [a.getAttribute('href'), n]; }} return best;",
            rows = json!(format!("{chart} .report-table tbody tr"))
        ))
        .await;
    let href = v[0].as_str().unwrap_or_else(|| panic!("no bar with a list in {chart}: {v}")).to_string();
    (href, v[1].as_i64().unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_support_agent_follows_the_service_dashboard_to_the_backlog() {
    with_demo(|b, app| Box::pin(service_dashboard(b, app))).await;
}

async fn service_dashboard(b: &Browser, _app: &TestApp) {
    demo_login(b, "camille.fortin@carnet.demo").await;
    assert!(count(b, "#home-figures .kpi").await >= 3, "the agent's figures on the home page");
    open(b, "/reports").await;
    assert_eq!(b.path_only().await, "/reports/service", "an agent without sales rights lands on the service dashboard");
    assert!(count(b, "svg.chart").await >= 5);
    b.screenshot("journey-support-service-dashboard").await;
    b.exec("document.getElementById('chart-backlog_by_status').scrollIntoView(); return true;").await;
    b.screenshot("journey-support-service-dashboard-charts").await;
    let (href, value) = bar_of(b, "#chart-backlog_by_status").await;
    click(b, &format!("#chart-backlog_by_status svg a[href='{href}']")).await;
    assert!(b.path().await.starts_with("/service/requests?status="), "{}", b.path().await);
    assert_eq!(count(b, "#requests-table tbody tr").await, value, "the list counts what the bar says");
    // In English too.
    b.goto("/reports/service").await;
    b.click_and_wait("#lang-switch").await;
    assert_ok(b, "English").await;
    assert_eq!(b.text("h1").await, "Service dashboard");
    b.screenshot("journey-support-service-dashboard-en").await;
}

// ---------------------------------------------------------------- administrator

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_administrator_relabels_a_status_and_the_next_sale_still_gets_its_sale_date() {
    with_demo(|b, app| Box::pin(administrator(b, app))).await;
}

async fn administrator(b: &Browser, app: &TestApp) {
    demo_login(b, carnet::demo::ADMIN_EMAIL).await;
    open(b, "/admin/lists/opportunity_status").await;
    let item = id_of(app, "SELECT id FROM value_list_items WHERE list_code = 'opportunity_status' AND code = 'pris_en_charge'").await;
    b.fill(&format!("input[form='item-{item}'][name='label_fr']"), "Vendu (pris en charge)").await;
    click(b, &format!("#item-{item} button[type=submit]")).await;
    let (label, flags): (String, String) = sqlx::query_as("SELECT label_fr, flags FROM value_list_items WHERE id = $1")
        .bind(item)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(label, "Vendu (pris en charge)");
    assert!(flags.contains("sets_sale_date"), "relabelling kept the behaviour: {flags}");
    let oid =
        id_of(app, "SELECT id FROM opportunities WHERE trashed = 0 AND sale_date IS NULL AND status = 'en_traitement' ORDER BY id LIMIT 1")
            .await;
    open(b, &format!("/opportunities/{oid}")).await;
    set(b, "#status", "pris_en_charge").await;
    click(b, "#status-form button[type=submit]").await;
    let sale: Option<i64> =
        sqlx::query_scalar("SELECT sale_date FROM opportunities WHERE id = $1").bind(oid).fetch_one(&app.state.db.pool).await.unwrap();
    assert!(sale.is_some(), "the sale date is set");
    assert!(b.text("#status-badge").await.contains("Vendu"), "the new label shows");
    b.screenshot("journey-admin").await;
}

// ---------------------------------------------------------------- the global search

/// Waits until the browser shows a path starting with `prefix`.
async fn wait_path(b: &Browser, prefix: &str) -> String {
    for _ in 0..100 {
        let p = b.path_only().await;
        if p.starts_with(prefix) && b.exec("return document.readyState === 'complete';").await == json!(true) {
            return p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("never reached {prefix}: {}", b.path().await);
}

/// The top bar fits the window: nothing sticks out on the right.
async fn topbar_fits(b: &Browser, what: &str) {
    let overflow = b
        .exec(
            "const w = document.documentElement.clientWidth; const out = [];\
             for (const e of document.querySelectorAll('.topbar .brand, .topbar .topsearch, .topbar .usermenu, .topsearch-pop:not([hidden])')) {\
               const r = e.getBoundingClientRect(); if (r.right > w + 1 || r.left < -1) out.push(e.className + ' ' + r.left + '-' + r.right); }\
             if (document.documentElement.scrollWidth > w + 1) out.push('page ' + document.documentElement.scrollWidth);\
             return out;",
        )
        .await;
    assert_eq!(overflow, json!([]), "{what}: the top bar overflows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_support_agent_finds_a_request_from_the_top_bar_search() {
    with_demo(|b, app| Box::pin(top_search(b, app))).await;
}

async fn top_search(b: &Browser, app: &TestApp) {
    demo_login(b, "camille.fortin@carnet.demo").await;
    open(b, "/service/requests").await;
    // A request of her unit, and its number's sequence as she would type it ("123").
    let first = b
        .exec("const a = document.querySelector('#requests-table tbody td a'); return [a.getAttribute('href'), a.textContent.trim()];")
        .await;
    let (href, number) = (first[0].as_str().unwrap().to_string(), first[1].as_str().unwrap().to_string());
    let short = number.rsplit('-').next().unwrap().trim_start_matches('0').to_string();
    open(b, "/").await;
    // `/` focuses the search from the page; typed in a field it is only a character.
    b.exec("document.body.dispatchEvent(new KeyboardEvent('keydown', {key: '/', bubbles: true})); return true;").await;
    assert_eq!(b.exec("return document.activeElement.id;").await, json!("topsearch-q"), "/ focuses the search");
    let input = b.find("#topsearch-q").await;
    input.send_keys(&short).await;
    // The dropdown lists the request (after the debounce), as a listbox the field controls.
    let option = format!("#topsearch-pop [role=option][href='{href}']");
    b.find(&option).await;
    assert_eq!(b.find("#topsearch-q").await.prop("ariaExpanded").await, "true");
    assert!(b.text("#topsearch-pop").await.contains(&number), "the number is shown");
    // Arrow down to the first result (requests come first), Enter opens it.
    input.send_keys("\u{E015}").await;
    let active = b.exec("return document.getElementById('topsearch-q').getAttribute('aria-activedescendant');").await;
    assert!(active.as_str().is_some_and(|s| s.starts_with("gs-requests-")), "{active}");
    input.send_keys("\u{E007}").await;
    wait_path(b, "/service/requests/").await;
    assert_ok(b, "the request from the search").await;
    assert_eq!(b.path_only().await, href, "Enter opened the request");
    // Escape closes the dropdown; without a choice, Enter submits the form to /search.
    let input = b.find("#topsearch-q").await;
    input.send_keys("boulang").await;
    b.find("#topsearch-pop [role=option]").await;
    input.send_keys("\u{E00C}").await;
    assert_eq!(b.exec("return document.getElementById('topsearch-pop').hidden;").await, json!(true), "Escape closes");
    input.send_keys("\u{E007}").await;
    wait_path(b, "/search").await;
    assert_ok(b, "the search page").await;
    assert!(count(b, ".gsearch-section").await > 0, "the page shows the results");
    // `n` on a list opens its "new" form; typed in a field, it is only a letter.
    open(b, "/customers").await;
    b.find("#q").await.send_keys("n").await;
    assert_eq!(b.path_only().await, "/customers", "n typed in a field");
    b.exec(
        "document.activeElement.blur(); document.body.dispatchEvent(new KeyboardEvent('keydown', {key: 'n', bubbles: true})); return true;",
    )
    .await;
    wait_path(b, "/customers/new").await;
    assert_ok(b, "n for a new customer").await;
    let _ = app;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_box_fits_the_top_bar_on_a_wide_screen_and_a_phone() {
    with_demo(|b, app| Box::pin(search_layout(b, app))).await;
}

async fn search_layout(b: &Browser, _app: &TestApp) {
    // The administrator has the most sections in the navigation.
    demo_login(b, "admin@carnet.demo").await;
    open(b, "/customers").await;
    topbar_fits(b, "1280 px").await;
    // On a wide screen the navigation keeps all its sections in view beside the search box.
    let nav = b.exec("const n = document.querySelector('.mainnav'); const s = document.querySelector('.topsearch').getBoundingClientRect();\
        const last = [...n.querySelectorAll('a')].pop().getBoundingClientRect(); return [n.scrollWidth - n.clientWidth, s.left - last.right];").await;
    assert!(nav[0].as_i64().unwrap() <= 1, "the navigation overflows: {nav}");
    assert!(nav[1].as_f64().unwrap() >= 0.0, "the search box covers the navigation: {nav}");
    b.screenshot("search-wide-rest").await;
    b.find("#topsearch-q").await.click().await;
    b.find("#topsearch-q").await.send_keys("a").await;
    b.find("#topsearch-pop [role=option]").await;
    topbar_fits(b, "1280 px, the search focused").await;
    b.screenshot("search-wide").await;
    b.post("/window/rect", json!({"width": 390, "height": 844})).await;
    open(b, "/customers").await;
    topbar_fits(b, "390 px").await;
    b.find("#topsearch-q").await.click().await;
    b.find("#topsearch-q").await.send_keys("a").await;
    b.find("#topsearch-pop [role=option]").await;
    topbar_fits(b, "390 px, the search focused").await;
    b.screenshot("search-phone").await;
}
