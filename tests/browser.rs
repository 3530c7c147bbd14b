//! Browser tests: the real pages in headless Chromium, driven over the W3C WebDriver
//! protocol by chromedriver (the harness is `tests/common/browser.rs`), against the in-process
//! test app (SQLite, and PostgreSQL when `CARNET_TEST_POSTGRES_URL` is set).

mod common;

use std::time::{Duration, Instant};

use common::browser::*;
use common::{TestApp, PASSWORD};
use serde_json::json;

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_logout() {
    with_browser(|b, app| Box::pin(login_and_logout_body(b, app))).await;
}

async fn login_and_logout_body(b: &Browser, _app: &TestApp) {
    b.goto("/login").await;
    assert_eq!(b.html_lang().await, "fr");
    assert!(b.find_now("#login-error").await.is_none(), "no error before any attempt");
    b.screenshot("fr-login").await;

    // Wrong password: the error, still on /login, the email kept.
    login(b, ADMIN_EMAIL, "not-the-password").await;
    assert_eq!(b.path_only().await, "/login");
    assert_eq!(b.text("#login-error").await, "Adresse courriel ou mot de passe incorrect.");
    assert_eq!(b.value("#email").await, ADMIN_EMAIL);
    assert!(b.find_now("#logout").await.is_none());
    b.screenshot("fr-login-error").await;

    // Right password: home, with the user menu.
    b.fill("#password", PASSWORD).await;
    b.click_and_wait("#login-submit").await;
    assert_eq!(b.path().await, "/");
    assert_eq!(b.text("#user-menu").await, "admin");
    assert!(b.find_now("#login-error").await.is_none());
    assert_eq!(
        b.nav_labels().await,
        ["Accueil", "Clients", "Opportunités", "Agenda", "Service", "Avant-vente", "Rapports", "Équipe", "Partenaires", "Administration"]
    );
    assert_eq!(b.text("h1").await, "Bonjour, admin");
    b.screenshot("fr-home").await;

    // Logout: back on /login, and the home page asks to log in again.
    b.click_and_wait("#logout").await;
    assert_eq!(b.path_only().await, "/login");
    assert!(b.find_now("#user-menu").await.is_none());
    b.goto("/").await;
    assert_eq!(b.path_only().await, "/login", "the session must be over after logout");
    assert!(b.find_now("#logout").await.is_none());
    b.find("#login-submit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_creates_a_user() {
    with_browser(|b, app| Box::pin(admin_creates_a_user_body(b, app))).await;
}

async fn admin_creates_a_user_body(b: &Browser, app: &TestApp) {
    const NAME: &str = "Camille Navigateur";
    const EMAIL: &str = "camille.navigateur@browser.test";
    login(b, ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(b.path().await, "/");

    b.goto("/admin/users").await;
    assert_eq!(b.path().await, "/admin/users");
    let table = b.text("#users-table").await;
    assert!(table.contains(ADMIN_EMAIL), "the admin is listed: {table}");
    assert!(!table.contains(EMAIL));
    b.screenshot("fr-admin-users").await;

    b.click_and_wait("#new-user").await;
    assert_eq!(b.path().await, "/admin/users/new");

    // First with an invalid email: refused, the error shown, what was typed kept.
    b.fill("#name", NAME).await;
    b.fill("#email", "camille-at-nowhere").await;
    b.find("#role option[value=\"technicien\"]").await.click().await;
    b.fill("#password", "mot-de-passe-navigateur").await;
    b.click_and_wait("#save-user").await;
    assert_eq!(b.path().await, "/admin/users", "the refused form is shown again in place");
    assert_eq!(b.text("#form-error").await, "Corrigez les champs indiqués : rien n'a été enregistré.");
    assert_eq!(b.text(".has-error .field-error").await, "Adresse courriel invalide.");
    assert_eq!(b.value("#name").await, NAME, "the typed name is kept");
    assert_eq!(b.value("#email").await, "camille-at-nowhere");
    assert_eq!(b.value("#role").await, "technicien", "the chosen role is kept");
    assert_eq!(b.value("#password").await, "", "the password is never sent back");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1, "nothing saved");
    b.screenshot("fr-user-form-error").await;

    // Fixed: saved, the notice, and the user in the list and the database.
    b.fill("#email", EMAIL).await;
    b.fill("#password", "mot-de-passe-navigateur").await;
    b.click_and_wait("#save-user").await;
    let path = b.path_only().await;
    let id: i64 =
        path.strip_prefix("/admin/users/").and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not on the new user's page: {path}"));
    assert_eq!(b.text("#notice").await, "Utilisateur créé.");
    assert!(b.find_now("#form-error").await.is_none());
    assert_eq!(b.value("#name").await, NAME);
    assert_eq!(b.value("#email").await, EMAIL);
    b.screenshot("fr-user-created").await;

    b.goto("/admin/users").await;
    let table = b.text("#users-table").await;
    assert!(table.contains(NAME) && table.contains(EMAIL), "the new user is listed: {table}");
    let link = b.find(&format!("#users-table a[href=\"/admin/users/{id}\"]")).await;
    assert_eq!(link.text().await, NAME);

    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = $1")
        .bind(EMAIL)
        .fetch_one(&app.state.db.pool)
        .await
        .expect("count users");
    assert_eq!(count, 1);
    let name: String =
        sqlx::query_scalar("SELECT name FROM users WHERE id = $1").bind(id).fetch_one(&app.state.db.pool).await.expect("user name");
    assert_eq!(name, NAME);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_switch() {
    with_browser(|b, app| Box::pin(language_switch_body(b, app))).await;
}

async fn language_switch_body(b: &Browser, app: &TestApp) {
    login(b, ADMIN_EMAIL, PASSWORD).await;
    b.goto("/admin/users").await;
    assert_eq!(b.html_lang().await, "fr");
    assert_eq!(
        b.nav_labels().await,
        ["Accueil", "Clients", "Opportunités", "Agenda", "Service", "Avant-vente", "Rapports", "Équipe", "Partenaires", "Administration"]
    );
    assert_eq!(b.content("#lang-switch").await, "English");

    b.click_and_wait("#lang-switch").await;
    assert_eq!(b.path().await, "/admin/users", "back on the same page");
    assert_eq!(b.html_lang().await, "en");
    assert_eq!(b.text("h1").await, "Users");
    assert_eq!(
        b.nav_labels().await,
        ["Home", "Customers", "Opportunities", "Calendar", "Service", "Pre-sales", "Reports", "Team", "Partners", "Administration"]
    );
    assert_eq!(b.text("#logout").await, "Log out");
    assert_eq!(b.content("#lang-switch").await, "Français");

    // The choice sticks: other pages are in English too, and it is saved for the user.
    b.goto("/").await;
    b.screenshot("en-home").await;
    b.goto("/admin/users").await;
    assert_eq!(b.html_lang().await, "en");
    assert_eq!(b.text("h1").await, "Users");
    assert_eq!(b.text("#new-user").await, "New user");
    b.screenshot("en-admin-users").await;
    let lang: String = sqlx::query_scalar("SELECT language FROM users WHERE email = $1")
        .bind(ADMIN_EMAIL)
        .fetch_one(&app.state.db.pool)
        .await
        .expect("language");
    assert_eq!(lang, "en");

    // And back to French.
    b.click_and_wait("#lang-switch").await;
    assert_eq!(b.html_lang().await, "fr");
    assert_eq!(
        b.nav_labels().await,
        ["Accueil", "Clients", "Opportunités", "Agenda", "Service", "Avant-vente", "Rapports", "Équipe", "Partenaires", "Administration"]
    );
    assert_eq!(b.text("#logout").await, "Déconnexion");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_test_email_and_template_preview() {
    with_browser(|b, app| Box::pin(outbox_body(b, app))).await;
}

async fn outbox_body(b: &Browser, app: &TestApp) {
    login(b, ADMIN_EMAIL, PASSWORD).await;
    b.goto("/admin/outbox").await;
    b.fill("#test-to", "julie@client.test").await;
    b.click_and_wait("#send-test").await;
    assert!(b.path_only().await.starts_with("/admin/outbox/"), "lands on the queued email");
    assert_eq!(b.text("h1").await, "Courriel de test de Carnet");
    common::run_jobs(app).await;
    b.goto("/admin/outbox").await;
    b.screenshot("fr-outbox").await;
    let html = b.source().await;
    assert!(html.contains("julie@client.test") && html.contains("Envoyé"), "the sent email is listed");
    b.goto("/admin/email-templates/account_created/fr").await;
    b.screenshot("fr-email-template").await;
    assert!(b.source().await.contains("Votre compte Carnet"), "the preview renders the sample");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_search_as_you_type_and_record() {
    with_browser(|b, app| Box::pin(customers_body(b, app))).await;
}

async fn customers_body(b: &Browser, app: &TestApp) {
    let admin: i64 =
        sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(ADMIN_EMAIL).fetch_one(&app.state.db.pool).await.unwrap();
    let api = app.api(&app.token_for(admin).await);
    for (first, last, phone) in [("Hélène", "Côté", "514 555 0101"), ("Marc", "Tremblay", "514 555 0102"), ("Julie", "Roy", "514 555 0103")]
    {
        api.send(
            "POST",
            "/api/v1/customers",
            Some(json!({"first_name": first, "last_name": last, "phone": phone, "email": format!("{}@exemple.ca", last.to_lowercase())})),
        )
        .await;
    }
    login(b, ADMIN_EMAIL, PASSWORD).await;
    b.goto("/customers").await;
    assert_eq!(b.exec("return document.querySelectorAll('#customer-rows tr.clickable').length").await, json!(3));
    b.find("#q").await.send_keys("hele").await;
    // The rows refresh while typing, without a page load.
    let deadline = Instant::now() + WAIT;
    while b.exec("return document.querySelectorAll('#customer-rows tr.clickable').length").await != json!(1) {
        assert!(Instant::now() < deadline, "live search did not narrow the list");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    b.screenshot("fr-customers-search").await;
    b.click_and_wait("#customer-rows a").await;
    assert_eq!(b.text("h1").await, "Hélène Côté");
    b.screenshot("fr-customer").await;
}

// ---------------------------------------------------------------- sales

/// Create an opportunity for a new customer, book a meeting (the confirmation reaches a real
/// SMTP server with a valid invitation), drag the card on the kanban board.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_opportunity_meeting_and_board() {
    let _one_at_a_time = BROWSER_LOCK.lock().await;
    let Some(driver) = Driver::start_or_skip().await else {
        return;
    };
    let smtp = common::SmtpServer::start();
    for backend in common::backends() {
        let url = smtp.as_ref().map(|s| s.url());
        let app = TestApp::start_with(backend, move |c| c.smtp_url = url).await;
        app.user(ADMIN_EMAIL, "administrateur", None).await;
        let b = driver.browser(&app).await;
        sales_body(&b, &app, smtp.as_ref()).await;
        b.quit().await;
        app.stop().await;
    }
}

async fn wait_for(b: &Browser, script: &str, what: &str) {
    let deadline = Instant::now() + WAIT;
    while b.exec(script).await != json!(true) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn drag(b: &Browser, card: i64, status: &str) {
    b.exec(&format!(
        "const card = document.getElementById('card-{card}'); const col = document.querySelector('.board-col[data-status=\"{status}\"]');\
         const dt = new DataTransfer();\
         card.dispatchEvent(new DragEvent('dragstart', {{bubbles: true, dataTransfer: dt}}));\
         col.dispatchEvent(new DragEvent('dragover', {{bubbles: true, cancelable: true, dataTransfer: dt}}));\
         col.dispatchEvent(new DragEvent('drop', {{bubbles: true, cancelable: true, dataTransfer: dt}}));\
         card.dispatchEvent(new DragEvent('dragend', {{bubbles: true, dataTransfer: dt}})); return true;"
    ))
    .await;
}

async fn sales_body(b: &Browser, app: &TestApp, smtp: Option<&common::SmtpServer>) {
    let admin = carnet::access::Actor::system();
    let input =
        carnet::sales::stock::StockForm { stock_number: "A1234".into(), description: "Honda Civic 2024".into(), ..Default::default() };
    carnet::sales::stock::create(&app.state.db, &admin, app.now(), &input.parse().unwrap()).await.unwrap();
    login(b, ADMIN_EMAIL, PASSWORD).await;

    // A new opportunity for a new customer; a form error keeps what was typed.
    b.goto("/opportunities/new").await;
    b.fill("#c_first_name", "Hélène").await;
    b.fill("#c_last_name", "Tremblay").await;
    b.fill("#c_phone", "514 55").await;
    b.fill("#stock_numbers", "A1234").await;
    b.click_and_wait("#save-opportunity").await;
    assert!(b.find_now(".has-error #c_phone").await.is_some(), "the phone is refused");
    assert_eq!(b.value("#c_first_name").await, "Hélène");
    assert_eq!(b.value("#stock_numbers").await, "A1234");
    b.fill("#c_phone", "514 555 0142").await;
    b.click_and_wait("#save-opportunity").await;
    let path = b.path_only().await;
    assert!(path.starts_with("/opportunities/"), "{path}");
    let opp: i64 = path.trim_start_matches("/opportunities/").parse().unwrap();
    assert_eq!(b.text("h1").await, "Hélène Tremblay");
    assert_eq!(b.text("#status-badge").await, "En traitement");
    b.screenshot("fr-opportunity").await;

    // Book a meeting: the opportunity moves to "Rendez-vous cédulé", the confirmation goes out.
    b.click_and_wait("#book-meeting").await;
    b.screenshot("fr-meeting-form").await;
    b.fill("#location", "Succursale Laval").await;
    b.click_and_wait("#save-meeting").await;
    assert!(b.path_only().await.starts_with("/meetings/"));
    assert_eq!(b.text("h1").await, "HÉLÈNE / A1234");
    let status: String =
        sqlx::query_scalar("SELECT status FROM opportunities WHERE id = $1").bind(opp).fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(status, "rdv_cedule");
    common::run_jobs(app).await;
    if let Some(smtp) = smtp {
        let msgs = smtp.messages();
        let parsed: Vec<_> = msgs.iter().filter_map(|m| mail_parser::MessageParser::default().parse(m)).collect();
        let subjects: Vec<String> = parsed.iter().map(|m| m.subject().unwrap_or_default().to_string()).collect();
        let msg = parsed
            .iter()
            .find(|m| m.subject().unwrap_or_default().starts_with("Rendez-vous confirmé : HÉLÈNE / A1234"))
            .unwrap_or_else(|| panic!("the confirmation reached the SMTP server: {subjects:?}"));
        use mail_parser::MimeHeaders;
        let ics = msg
            .attachments()
            .find(|a| a.content_type().is_some_and(|c| c.c_type == "text" && c.subtype() == Some("calendar")))
            .expect("an invitation");
        let text = String::from_utf8_lossy(ics.contents()).to_string();
        let cal = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes())).next().expect("a calendar").expect("parses");
        let prop = |props: &[ical::property::Property], name: &str| {
            props.iter().find(|p| p.name == name).and_then(|p| p.value.clone()).unwrap_or_default()
        };
        assert_eq!(prop(&cal.properties, "METHOD"), "REQUEST");
        assert_eq!(prop(&cal.events[0].properties, "SUMMARY"), "HÉLÈNE / A1234");
        assert_eq!(prop(&cal.events[0].properties, "LOCATION"), "Succursale Laval");
    }
    b.goto("/calendar").await;
    b.screenshot("fr-calendar").await;
    // The grid names the customer and the kind in full.
    let grid = b.text("#sched").await;
    assert!(grid.contains("Hélène Tremblay · Stock"), "{grid}");

    // The kanban board: drag the card to "Rendez-vous présent".
    b.goto("/opportunities/board").await;
    wait_for(
        b,
        &format!("return document.getElementById('card-{opp}').closest('.board-col').dataset.status === 'rdv_cedule';"),
        "the card in its column",
    )
    .await;
    drag(b, opp, "rdv_present").await;
    wait_for(b, &format!("return document.getElementById('card-{opp}').dataset.moved === 'rdv_present';"), "the move to be saved").await;
    let status: String =
        sqlx::query_scalar("SELECT status FROM opportunities WHERE id = $1").bind(opp).fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(status, "rdv_present");
    // A move the status table refuses: the card goes back, the reason is shown, nothing changes.
    drag(b, opp, "livre").await;
    wait_for(b, "return !document.getElementById('board-error').hidden;", "the refusal").await;
    assert!(b.text("#board-error").await.contains("vendue"), "{}", b.text("#board-error").await);
    wait_for(
        b,
        &format!("return document.getElementById('card-{opp}').closest('.board-col').dataset.status === 'rdv_present';"),
        "the card back",
    )
    .await;
    let status: String =
        sqlx::query_scalar("SELECT status FROM opportunities WHERE id = $1").bind(opp).fetch_one(&app.state.db.pool).await.unwrap();
    assert_eq!(status, "rdv_present");
    // Every column is reachable: the board fits the window's height once scrolled to, and
    // each column's header, with its count, can be brought into view.
    let reach = b
        .exec(
            "const board = document.getElementById('board'); window.scrollTo(0, board.getBoundingClientRect().top + window.scrollY);\
             if (board.getBoundingClientRect().bottom > window.innerHeight + 1) return 'the board is taller than the window';\
             const cols = board.querySelectorAll('.board-col');\
             for (const col of cols) { col.scrollIntoView({inline: 'start', block: 'nearest'}); const h = col.querySelector('h2').getBoundingClientRect();\
               if (h.left < -1 || h.right > window.innerWidth + 1 || !col.querySelector('h2 .board-count')) return 'unreachable: ' + col.dataset.status; }\
             if (getComputedStyle(cols[0].querySelector('h2')).position !== 'sticky') return 'headers not sticky';\
             return cols.length;",
        )
        .await;
    assert!(reach.as_i64().is_some_and(|n| n >= 12), "{reach}");
    b.screenshot("fr-board").await;

    // The same pages in English.
    b.click_and_wait("#lang-switch").await;
    b.goto(&format!("/opportunities/{opp}")).await;
    assert_eq!(b.text("#status-badge").await, "Came in / walk-in");
    b.screenshot("en-opportunity").await;
    b.goto("/opportunities/board").await;
    b.screenshot("en-board").await;
    b.goto("/").await;
    b.screenshot("en-home").await;
}

// ---------------------------------------------------------------- service

/// Create a request, add equipment with a symptom, post a customer update (the email
/// reaches a real SMTP server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_request_equipment_and_update() {
    let _one_at_a_time = BROWSER_LOCK.lock().await;
    let Some(driver) = Driver::start_or_skip().await else {
        return;
    };
    let smtp = common::SmtpServer::start();
    for backend in common::backends() {
        let url = smtp.as_ref().map(|s| s.url());
        let app = TestApp::start_with(backend, move |c| c.smtp_url = url).await;
        app.user(ADMIN_EMAIL, "administrateur", None).await;
        let b = driver.browser(&app).await;
        service_body(&b, &app, smtp.as_ref()).await;
        b.quit().await;
        app.stop().await;
    }
}

async fn service_body(b: &Browser, app: &TestApp, smtp: Option<&common::SmtpServer>) {
    let admin: i64 =
        sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(ADMIN_EMAIL).fetch_one(&app.state.db.pool).await.unwrap();
    let api = app.api(&app.token_for(admin).await);
    let (_, cu) =
        api.send("POST", "/api/v1/customers", Some(json!({"kind": "company", "company_name": "Boulangerie Les Trois Épis"}))).await;
    let customer = cu["id"].as_i64().unwrap();
    api.send(
        "POST",
        &format!("/api/v1/customers/{customer}/contacts"),
        Some(json!({"first_name": "Marie", "last_name": "Lemieux", "email": "marie@3epis.ca"})),
    )
    .await;
    login(b, ADMIN_EMAIL, PASSWORD).await;

    // New request: find the customer, pick the type (required: the error keeps the text).
    b.goto("/service/requests").await;
    b.click_and_wait("#new-request").await;
    b.fill("#find", "trois epis").await;
    b.click_and_wait("#find-customer").await;
    b.click_and_wait("#found-customers a").await;
    b.fill("#description", "Le four fuit depuis ce matin.").await;
    b.click_and_wait("#save-request").await;
    assert!(b.find_now(".has-error #request_type").await.is_some(), "the type is required");
    assert_eq!(b.value("#description").await, "Le four fuit depuis ce matin.");
    b.exec("document.getElementById('request_type').value = 'panne'; document.getElementById('requester_contact_id').selectedIndex = 1; return true;").await;
    b.click_and_wait("#save-request").await;
    assert!(b.path_only().await.starts_with("/service/requests/"));
    assert_eq!(b.content("h1").await.split_whitespace().next().unwrap_or_default(), "DEM-2026-000001");
    b.screenshot("fr-request").await;

    // Equipment created from the request, with its symptom.
    b.fill("#serial_number", "SN-100").await;
    b.fill("#model", "Four Rational iCombi").await;
    b.exec("document.getElementById('new-symptom').value = 'fuite'; return true;").await;
    b.click_and_wait("#save-equipment").await;
    let lines = b.text("#equipment-lines").await;
    assert!(lines.contains("SN-100") && lines.contains("Four Rational iCombi"), "{lines}");
    assert_eq!(b.value("#equipment-lines select[name=symptom]").await, "fuite");

    // A customer update: the status follows, the requester is emailed.
    b.exec("document.getElementById('update-status').value = 'planifie'; return true;").await;
    b.fill("#update-message", "Un technicien passe mardi entre 8 h et 10 h.").await;
    b.click_and_wait("#send-update").await;
    assert_eq!(b.text("#request-status").await, "Planifié");
    b.screenshot("fr-request-updated").await;
    common::run_jobs(app).await;
    if let Some(smtp) = smtp {
        let found = smtp.messages().iter().filter_map(|m| mail_parser::MessageParser::default().parse(m)).any(|m| {
            m.subject().unwrap_or_default() == "Votre demande DEM-2026-000001 : Planifié"
                && m.body_text(0).is_some_and(|t| t.contains("Un technicien passe mardi"))
        });
        assert!(found, "the update reached the customer's contact");
    }
    // An intervention from the request: the equipment line and its symptom are carried over.
    let tech = app.user("luc.tech@browser.test", "technicien", None).await;
    let here = b.path_only().await;
    b.goto(here.split('#').next().unwrap_or_default()).await;
    b.find("#new-intervention").await.click().await;
    b.find(&format!("#i-techs option[value='{tech}']")).await.click().await;
    b.click_and_wait("#save-intervention").await;
    if !b.path_only().await.starts_with("/service/interventions/") {
        panic!("{} {}", b.path_only().await, b.text("#intervention-form").await);
    }
    let carried = b.text("#intervention-equipment").await;
    assert!(carried.contains("SN-100") && carried.contains("Fuite"), "{carried}");
    b.screenshot("fr-intervention").await;

    // Attach a document and download it.
    b.exec("history.back(); return true;").await;
    let request_path: String =
        sqlx::query_scalar("SELECT '/service/requests/' || CAST(id AS TEXT) FROM service_requests ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    b.goto(&request_path).await;
    let file = std::env::temp_dir().join(format!("carnet-rapport-{}.pdf", std::process::id()));
    std::fs::write(&file, b"%PDF-1.4 rapport").unwrap();
    b.find("#file").await.send_keys(&file.display().to_string()).await;
    b.click_and_wait("#upload-document").await;
    let table = b.text("#documents-table").await;
    assert!(table.contains(&file.file_name().unwrap().to_string_lossy().to_string()), "{table}");
    let href = b.exec("return document.querySelector('#documents-table a').getAttribute('href');").await;
    let status = b
        .exec(&format!("var x = new XMLHttpRequest(); x.open('GET', '{}', false); x.send(); return x.status + ' ' + x.getResponseHeader('Content-Disposition') + ' ' + x.responseText;", href.as_str().unwrap()))
        .await;
    let status = status.as_str().unwrap_or_default().to_string();
    assert!(status.starts_with("200 attachment;") && status.ends_with("%PDF-1.4 rapport"), "{status}");
    let _ = std::fs::remove_file(&file);
    b.screenshot("fr-request-documents").await;

    b.click_and_wait("#lang-switch").await;
    b.goto("/service/requests").await;
    b.screenshot("en-requests").await;
    b.goto("/service/planning?date=2026-11-24").await;
    b.screenshot("en-planning").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_factor_enrolment_and_login() {
    with_browser(|b, app| Box::pin(second_factor_body(b, app))).await;
}

/// The code of `secret` (base32) at the app's time, as an authenticator app computes it.
fn totp_code(app: &TestApp, secret: &str) -> String {
    use totp_rs::{Algorithm, Secret, TOTP};
    let bytes = Secret::Encoded(secret.to_string()).to_bytes().unwrap();
    TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes).unwrap().generate((app.now() / 1000) as u64)
}

async fn second_factor_body(b: &Browser, app: &TestApp) {
    login(b, ADMIN_EMAIL, PASSWORD).await;
    b.goto("/account").await;
    b.click_and_wait("#two-factor-manage").await;
    assert_eq!(b.path_only().await, "/account/two-factor");
    b.click_and_wait("#two-factor-setup").await;
    // The key is shown for manual entry beside the QR code; the app computes the code.
    let secret = b.exec("return document.querySelector('#totp-secret').dataset.secret").await;
    let secret = secret.as_str().unwrap().to_string();
    assert!(b.text("#totp-secret").await.starts_with(&secret[..4]));
    b.screenshot("two-factor-enrol").await;
    b.fill("#confirm-code", &totp_code(app, &secret)).await;
    b.click_and_wait("#confirm-submit").await;
    let codes = b.exec("return document.querySelectorAll('.recovery-code').length").await;
    assert_eq!(codes, json!(10));
    b.screenshot("two-factor-recovery-codes").await;

    // Log out, then in: the password, then the code of the next step.
    b.click_and_wait("#logout").await;
    app.clock.advance(30_000);
    login(b, ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(b.path_only().await, "/login");
    b.find("#code").await;
    assert!(b.find_now("#user-menu").await.is_none(), "no session before the code");
    b.fill("#code", "000000").await;
    b.click_and_wait("#code-submit").await;
    assert_eq!(b.text("#login-error").await, "Code erroné, ou déjà utilisé. Attendez le suivant.");
    b.fill("#code", &totp_code(app, &secret)).await;
    b.click_and_wait("#code-submit").await;
    assert_eq!(b.path().await, "/");
    assert_eq!(b.text("#user-menu").await, "admin");
}
