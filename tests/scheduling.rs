//! The time grid of the calendar and the planning, in headless Chromium on the demo company,
//! on both databases: a meeting dragged to another hour is moved and its updated invitation
//! reaches the SMTP server; an intervention dragged onto a booked technician shows the
//! conflict; an empty slot opens the booking form there; a phone gets the agenda list.

mod common;

use std::time::{Duration, Instant};

use common::browser::*;
use common::TestApp;
use serde_json::{json, Value};

const DEMO_PASSWORD: &str = carnet::demo::PASSWORD;

async fn demo_app(backend: common::Backend, smtp: Option<&common::SmtpServer>) -> TestApp {
    let url = smtp.map(|s| s.url());
    let app = TestApp::start_with(backend, move |c| c.smtp_url = url).await;
    carnet::demo::load(&app.state).await.expect("demo data loads");
    app
}

async fn demo_login(b: &Browser, email: &str) {
    login(b, email, DEMO_PASSWORD).await;
    assert_eq!(b.path_only().await, "/", "{email} is logged in");
}

async fn id_of(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.state.db.pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Opens a page and checks it answered below 400 and broke no Content-Security-Policy rule.
async fn open(b: &Browser, path: &str) {
    b.goto(path).await;
    let status = b.exec("const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : 0;").await;
    let status = status.as_i64().unwrap_or(0);
    assert!((200..400).contains(&status), "{path} answered {status}");
    let violations = b.violations().await;
    assert!(violations.is_empty(), "{path} broke the Content-Security-Policy: {violations:#?}");
}

/// The centre of an element's top band (`(x, y)` in the viewport), scrolled into view.
async fn grip(b: &Browser, css: &str) -> (i64, i64) {
    b.find(css).await;
    let v = b
        .exec(&format!(
            "const e = document.querySelector({css}); e.scrollIntoView({{block: 'center', inline: 'center'}}); \
             const r = e.getBoundingClientRect(); return [Math.round(r.left + r.width / 2), Math.round(r.top + 6)];",
            css = json!(css)
        ))
        .await;
    (v[0].as_i64().expect("x"), v[1].as_i64().expect("y"))
}

/// The centre of an element's top band, where it is now.
async fn point(b: &Browser, css: &str) -> (i64, i64) {
    let v = b
        .exec(&format!(
            "const r = document.querySelector({css}).getBoundingClientRect(); return [Math.round(r.left + r.width / 2), Math.round(r.top + 6)];",
            css = json!(css)
        ))
        .await;
    (v[0].as_i64().expect("x"), v[1].as_i64().expect("y"))
}

/// A real drag with the mouse (WebDriver actions: trusted pointer events) from one point of
/// the viewport to another, in small steps.
async fn drag(b: &Browser, from: (i64, i64), to: (i64, i64)) {
    let mut actions = vec![
        json!({"type": "pointerMove", "duration": 0, "x": from.0, "y": from.1, "origin": "viewport"}),
        json!({"type": "pointerDown", "button": 0}),
    ];
    for k in 1..=8 {
        let x = from.0 + (to.0 - from.0) * k / 8;
        let y = from.1 + (to.1 - from.1) * k / 8;
        actions.push(json!({"type": "pointerMove", "duration": 30, "x": x, "y": y, "origin": "viewport"}));
    }
    actions.push(json!({"type": "pointerUp", "button": 0}));
    b.exec("window.__carnetOldPage = true; return true;").await;
    b.post(
        "/actions",
        json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions}]}),
    )
    .await;
    let _ = b.cmd(reqwest::Method::DELETE, "/actions", None).await;
}

/// Waits for the page to reload (after a drag saved).
async fn reloaded(b: &Browser, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(v) = b
            .cmd(
                reqwest::Method::POST,
                "/execute/sync",
                Some(json!({"script": "return !window.__carnetOldPage && document.readyState === 'complete';", "args": []})),
            )
            .await
        {
            if v == json!(true) {
                return;
            }
        }
        let err = b.exec("const e = document.getElementById('sched-error'); return e && !e.hidden ? e.textContent : null;").await;
        assert!(err.is_null(), "{what}: the grid says {err}");
        assert!(Instant::now() < deadline, "{what}: the page did not reload");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------- (1) a meeting dragged

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bdc_agent_drags_a_meeting_an_hour_later_and_the_updated_invitation_goes_out() {
    let _one_at_a_time = BROWSER_LOCK.lock().await;
    let Some(driver) = Driver::start_or_skip().await else { return };
    let smtp = common::SmtpServer::start();
    for backend in common::backends() {
        let app = demo_app(backend, smtp.as_ref()).await;
        let b = driver.browser(&app).await;
        let zone = carnet::settings::zone(&app.state.db).await.unwrap();
        let laval = id_of(&app, "SELECT id FROM org_units WHERE name = 'Succursale Laval'").await;
        let (mid, start, end, uid, seq): (i64, i64, i64, String, i64) = sqlx::query_as(
            "SELECT id, start_at, end_at, uid, sequence FROM meetings WHERE branch_id = $1 AND status <> 'annule' ORDER BY start_at, id LIMIT 1",
        )
        .bind(laval)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        common::run_jobs(&app).await;
        demo_login(&b, "nadia.bouchard@carnet.demo").await;
        open(&b, &format!("/calendar?view=week&date={}&branch_id={laval}", zone.date(start))).await;
        let ev = format!(".sched-ev[data-id='{mid}']");
        // People read the customer and the kind, no internal code.
        let title = b.text(&format!("{ev} .sched-title")).await;
        assert!(title.contains(" · ") && !title.contains(" / "), "a readable title: {title}");
        b.screenshot("schedule-calendar-week").await;
        let (x, y) = grip(&b, &ev).await;
        let row_h =
            b.exec("return document.querySelector('#sched .sched-slot').getBoundingClientRect().height / 2;").await.as_f64().unwrap();
        drag(&b, (x, y), (x, y + (row_h * 4.0).round() as i64)).await;
        reloaded(&b, "the meeting moved").await;
        let (new_start, new_end, new_seq): (i64, i64, i64) =
            sqlx::query_as("SELECT start_at, end_at, sequence FROM meetings WHERE id = $1")
                .bind(mid)
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
        assert_eq!((new_start, new_end), (start + 3_600_000, end + 3_600_000), "an hour later, as long");
        assert!(new_seq > seq, "the sequence went up: {seq} → {new_seq}");
        assert!(b.source().await.contains(&format!("data-id=\"{mid}\"")), "still on the grid");
        common::run_jobs(&app).await;
        if let Some(smtp) = smtp.as_ref() {
            use mail_parser::MimeHeaders;
            let stamp = chrono::DateTime::from_timestamp_millis(new_start).unwrap().format("%Y%m%dT%H%M%SZ").to_string();
            let found = smtp.messages().iter().filter_map(|m| mail_parser::MessageParser::default().parse(m)).any(|m| {
                m.attachments().any(|a| {
                    let is_ics = a.content_type().is_some_and(|c| c.c_type == "text" && c.subtype() == Some("calendar"));
                    let text = String::from_utf8_lossy(a.contents()).to_string();
                    is_ics
                        && text.contains("METHOD:REQUEST")
                        && text.contains(&format!("UID:{uid}"))
                        && text.contains(&format!("SEQUENCE:{new_seq}"))
                        && text.contains(&format!("DTSTART:{stamp}"))
                })
            });
            assert!(found, "the updated invitation (UID {uid}, SEQUENCE {new_seq}, DTSTART {stamp}) reached the SMTP server");
        }
        b.quit().await;
        app.stop().await;
    }
}

// ---------------------------------------------------------------- (2) an intervention dragged

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_support_agent_drags_an_intervention_onto_a_booked_technician_and_sees_the_conflict() {
    let _one_at_a_time = BROWSER_LOCK.lock().await;
    let Some(driver) = Driver::start_or_skip().await else { return };
    for backend in common::backends() {
        let app = demo_app(backend, None).await;
        let b = driver.browser(&app).await;
        let zone = carnet::settings::zone(&app.state.db).await.unwrap();
        let luc = id_of(&app, "SELECT id FROM users WHERE email = 'luc.gauthier@carnet.demo'").await;
        let emma = id_of(&app, "SELECT id FROM users WHERE email = 'emma.morin@carnet.demo'").await;
        // Luc's first intervention; Emma booked that day at 13:00.
        let (iid, start, branch, request): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT i.id, i.start_at, i.branch_id, i.request_id FROM interventions i JOIN intervention_technicians t ON t.intervention_id = i.id \
             WHERE t.user_id = $1 AND i.status = 'planifiee' AND i.branch_id IS NOT NULL ORDER BY i.start_at, i.id LIMIT 1",
        )
        .bind(luc)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        let day = zone.date(start);
        let form = carnet::service::interventions::InterventionForm {
            date: day.clone(),
            start_time: "13:00".into(),
            end_time: "15:00".into(),
            technician_ids: vec![emma],
            ..Default::default()
        };
        let emmas = carnet::service::interventions::create(
            &app.state.db,
            &carnet::access::Actor::system(),
            app.now(),
            request,
            &form.parse(zone).unwrap(),
        )
        .await
        .unwrap();
        demo_login(&b, "camille.fortin@carnet.demo").await;
        // A tall window: the morning and the afternoon in view at once.
        b.post("/window/rect", json!({"width": 1280, "height": 1400})).await;
        open(&b, &format!("/service/planning?view=day&date={day}&branch_id={branch}")).await;
        b.screenshot("schedule-planning-day").await;
        let ev = format!(".sched-col[data-person='{luc}'] .sched-ev[data-id='{iid}']");
        let target = format!(".sched-col[data-person='{emma}'] .sched-ev[data-id='{}']", emmas.id);
        let from = grip(&b, &ev).await;
        let to = point(&b, &target).await;
        drag(&b, from, (to.0, to.1)).await;
        reloaded(&b, "the intervention moved").await;
        let moved = carnet::service::interventions::get_visible(&app.state.db, &carnet::access::Visibility::everything(0), iid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(moved.technicians.iter().map(|t| t.id).collect::<Vec<_>>(), vec![emma], "now Emma's");
        assert_eq!(zone.time(moved.start_at), "13:00", "at Emma's booking's time");
        // The conflict shows: marked on the grid, and said above it (numbers, not ids).
        let marked = b
            .exec(&format!("return !!document.querySelector(\".sched-col[data-person='{emma}'] .sched-ev.conflict[data-id='{iid}']\");"))
            .await;
        assert_eq!(marked, json!(true), "the moved intervention is marked in conflict");
        let said = b.text("#conflicts").await;
        assert!(said.contains("Emma Morin") && said.contains(&moved.number) && said.contains(&emmas.number), "{said}");
        b.screenshot("schedule-planning-conflict").await;
        b.quit().await;
        app.stop().await;
    }
}

// ---------------------------------------------------------------- (3) an empty slot clicked

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_slot_opens_the_booking_form_at_that_time_for_that_person() {
    with_demo(|b, app| Box::pin(slots(b, app))).await;
}

async fn slots(b: &Browser, app: &TestApp) {
    let zone = carnet::settings::zone(&app.state.db).await.unwrap();
    let day = zone.date(app.now() + 86_400_000);
    let laval = id_of(app, "SELECT id FROM org_units WHERE name = 'Succursale Laval'").await;
    let julie = id_of(app, "SELECT id FROM users WHERE email = 'julie.roy@carnet.demo'").await;
    // A meeting: the BDC agent on the branch's day, Julie's column at 17:00.
    demo_login(b, "nadia.bouchard@carnet.demo").await;
    open(b, &format!("/calendar?view=day&date={day}&branch_id={laval}")).await;
    b.screenshot("schedule-calendar-day").await;
    let slot = format!(".sched-col[data-person='{julie}'] a.sched-slot[data-time='17:00']");
    grip(b, &slot).await;
    b.click_and_wait(&slot).await;
    assert_eq!(b.path_only().await, "/calendar/book");
    assert!(b.text("#book-when").await.contains("Julie Roy"), "for Julie");
    b.click_and_wait("#book-list a.book-choice").await;
    assert!(b.path_only().await.ends_with("/meetings/new"), "the new meeting form");
    assert_eq!(b.value("#date").await, day);
    assert_eq!(b.value("#start_time").await, "17:00");
    assert_eq!(b.value("#end_time").await, "18:00");
    assert_eq!(b.value("#owner_id").await, julie.to_string());
    b.click_and_wait("#save-meeting").await;
    assert!(b.path_only().await.starts_with("/meetings/"), "booked");
    let owner: Option<i64> =
        sqlx::query_scalar("SELECT owner_id FROM meetings ORDER BY id DESC LIMIT 1").fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(owner, Some(julie));
    b.click_and_wait("#logout").await;

    // An intervention: the support agent on the branch's planning, Emma's column at 14:00.
    let emma = id_of(app, "SELECT id FROM users WHERE email = 'emma.morin@carnet.demo'").await;
    let branch = id_of(app, "SELECT branch_id FROM interventions WHERE branch_id IS NOT NULL LIMIT 1").await;
    login(b, "camille.fortin@carnet.demo", DEMO_PASSWORD).await;
    open(b, &format!("/service/planning?view=day&date={day}&branch_id={branch}")).await;
    let slot = format!(".sched-col[data-person='{emma}'] a.sched-slot[data-time='14:00']");
    grip(b, &slot).await;
    b.click_and_wait(&slot).await;
    assert_eq!(b.path_only().await, "/service/planning/book");
    b.click_and_wait("#book-list a.book-choice").await;
    assert!(b.path_only().await.starts_with("/service/requests/"), "the request, its intervention form open");
    assert_eq!(b.value("#i-date").await, day);
    assert_eq!(b.value("#i-start").await, "14:00");
    let chosen = b.exec(&format!("return document.querySelector(\"#intervention-form option[value='{emma}']\").selected;")).await;
    assert_eq!(chosen, json!(true), "Emma is chosen");
    let open_form = b.exec("return document.getElementById('intervention-form').closest('details').open;").await;
    assert_eq!(open_form, Value::Bool(true));
}

// ---------------------------------------------------------------- (4) a phone

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_the_planning_is_an_agenda_list() {
    with_demo(|b, app| Box::pin(phone(b, app))).await;
}

async fn phone(b: &Browser, app: &TestApp) {
    let zone = carnet::settings::zone(&app.state.db).await.unwrap();
    demo_login(b, "camille.fortin@carnet.demo").await;
    b.post("/window/rect", json!({"width": 390, "height": 844})).await;
    let width = b.exec("return window.innerWidth;").await.as_i64().unwrap();
    assert!(width <= 600, "a phone's width: {width}");
    open(b, &format!("/service/planning?view=week&date={}", zone.date(app.now()))).await;
    let shown = |id: &str| {
        format!("const e = document.getElementById('{id}'); return getComputedStyle(e).display !== 'none' && e.getBoundingClientRect().height > 0;")
    };
    assert_eq!(b.exec(&shown("agenda")).await, json!(true), "the agenda list shows");
    assert_eq!(b.exec(&shown("sched")).await, json!(false), "the grid does not");
    let items = b.exec("return document.querySelectorAll('#agenda .agenda-item').length;").await.as_i64().unwrap();
    assert!(items > 0, "the week's interventions are listed");
    let fits = b.exec("return document.documentElement.scrollWidth <= window.innerWidth + 1;").await;
    assert_eq!(fits, json!(true), "no sideways scrolling");
    b.exec("document.getElementById('agenda').scrollIntoView(); return true;").await;
    b.screenshot("schedule-planning-phone").await;
    b.post("/window/rect", json!({"width": 1280, "height": 900})).await;
}
