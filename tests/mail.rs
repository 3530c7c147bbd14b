//! Outbound email delivered to a real SMTP server on loopback (aiosmtpd), on both backends.

mod common;

use carnet::mail::{self, ics, Attachment, Mailbox, NewEmail};
use common::{backends, run_jobs, SmtpServer, TestApp};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::json;

async fn app_with_smtp(backend: common::Backend, smtp: &SmtpServer) -> TestApp {
    let url = smtp.url();
    TestApp::start_with(backend, move |c| c.smtp_url = Some(url)).await
}

fn parse(raw: &[u8]) -> mail_parser::Message<'_> {
    MessageParser::default().parse(raw).expect("a MIME message")
}

fn header_text(m: &mail_parser::Message<'_>, name: &str) -> String {
    m.header_raw(name).map(|s| s.trim().to_string()).unwrap_or_default()
}

fn meeting(seq: i64) -> ics::Event {
    ics::Event {
        uid: "meeting-42@carnet.test".into(),
        sequence: seq,
        start: common::T0 + 86_400_000,
        end: common::T0 + 86_400_000 + 3_600_000,
        summary: "JULIE / STOCK A1234, essai routier; « priorité » Or — rendez-vous à la succursale de Laval pour l'essai".into(),
        description: "Ligne 1\nLigne 2, avec virgule; et point-virgule".into(),
        location: "Succursale Laval".into(),
        organizer: Mailbox::parse("Marc Tremblay <marc@carnet.test>").unwrap(),
        attendees: vec![Mailbox::parse("Julie Roy <julie@client.test>").unwrap(), Mailbox::parse("dv-laval@carnet.test").unwrap()],
    }
}

#[tokio::test]
async fn delivers_with_recipients_bodies_attachments_and_threading() {
    let Some(smtp) = SmtpServer::start() else { return };
    for backend in backends() {
        let app = app_with_smtp(backend, &smtp).await;
        let before = smtp.messages().len();
        let mut ids = Vec::new();
        for (i, subject) in ["Première", "Deuxième"].iter().enumerate() {
            let mut tx = app.state.db.begin().await.unwrap();
            let mut atts = vec![Attachment {
                filename: "résumé.pdf".into(),
                content_type: "application/pdf".into(),
                content: b"%PDF-1.4 fake".to_vec(),
            }];
            if i == 1 {
                atts.push(ics::attachment(&meeting(0), ics::Method::Request, app.now()));
            }
            let id = mail::queue(
                &mut tx,
                app.now(),
                NewEmail {
                    entity: Some(("user".into(), 77)),
                    event: "test_email".into(),
                    to: vec![Mailbox::parse("Julie Roy <julie@client.test>").unwrap()],
                    cc: vec![Mailbox::parse("cc@client.test").unwrap()],
                    bcc: vec![Mailbox::parse("archive@carnet.test").unwrap()],
                    reply_to: Some(Mailbox::parse("marc@carnet.test").unwrap()),
                    subject: format!("{subject} — Hélène"),
                    text: "Bonjour Julie,\nVoici le message.".into(),
                    html: Some("<p>Bonjour <strong>Julie</strong></p>".into()),
                    attachments: atts,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
            ids.push(id);
        }
        assert_eq!(run_jobs(&app).await, 2);
        let msgs = smtp.messages();
        let dbg = mail::get(&app.state.db, ids[0]).await.unwrap().unwrap();
        assert_eq!(msgs.len(), before + 2, "{backend:?} {:?} {:?}", dbg.status, dbg.last_error);
        let first_db = mail::get(&app.state.db, ids[0]).await.unwrap().unwrap();
        let second_db = mail::get(&app.state.db, ids[1]).await.unwrap().unwrap();
        assert_eq!(first_db.status, "sent");
        assert_eq!(first_db.delivered_via.as_deref(), Some("smtp"));
        let raw: Vec<_> = msgs[before..].to_vec();
        let parsed: Vec<_> = raw.iter().map(|r| parse(r)).collect();
        let m1 = parsed.iter().find(|m| m.subject().is_some_and(|s| s.starts_with("Première"))).expect("first");
        let m2 = parsed.iter().find(|m| m.subject().is_some_and(|s| s.starts_with("Deuxième"))).expect("second");
        assert_eq!(m1.subject(), Some("Première — Hélène"));
        assert_eq!(m1.to().and_then(|a| a.first()).and_then(|a| a.address()), Some("julie@client.test"));
        assert_eq!(m1.cc().and_then(|a| a.first()).and_then(|a| a.address()), Some("cc@client.test"));
        assert!(m1.header_raw("Bcc").is_none(), "Bcc never appears in the headers");
        let rcpt = header_text(m1, "X-RcptTo");
        assert!(rcpt.contains("archive@carnet.test") && rcpt.contains("julie@client.test") && rcpt.contains("cc@client.test"), "{rcpt}");
        assert_eq!(m1.reply_to().and_then(|a| a.first()).and_then(|a| a.address()), Some("marc@carnet.test"));
        assert!(m1.body_text(0).unwrap().contains("Voici le message."));
        assert!(m1.body_html(0).unwrap().contains("<strong>Julie</strong>"));
        let att = m1.attachments().find(|a| a.attachment_name() == Some("résumé.pdf")).expect("pdf attachment");
        assert_eq!(att.contents(), b"%PDF-1.4 fake");
        // Threading: unique ids; the second refers to the first; both carry the record's token.
        assert_eq!(format!("<{}>", m1.message_id().unwrap()), first_db.message_id);
        assert_ne!(m1.message_id(), m2.message_id());
        let refs = header_text(m2, "References");
        assert!(refs.contains(m1.message_id().unwrap()), "{refs}");
        assert!(header_text(m2, "In-Reply-To").contains(m1.message_id().unwrap()));
        let token = header_text(m1, "X-Carnet-Ref");
        assert_eq!(token, header_text(m2, "X-Carnet-Ref"));
        assert_eq!(mail::thread_of(&app.state.db, &token).await.unwrap(), Some(("user".into(), 77)));
        assert_eq!(second_db.in_reply_to.as_deref(), Some(first_db.message_id.as_str()));
        // The invitation travels as text/calendar with METHOD:REQUEST.
        let cal = m2
            .parts
            .iter()
            .find(|p| p.content_type().is_some_and(|ct| ct.ctype() == "text" && ct.subtype() == Some("calendar")))
            .expect("calendar part");
        let ics_text = String::from_utf8_lossy(cal.contents()).to_string();
        assert!(ics_text.contains("METHOD:REQUEST"));
        app.stop().await;
    }
}

#[tokio::test]
async fn ics_is_valid_for_an_independent_parser() {
    let ev = meeting(3);
    for (method, m, status) in [(ics::Method::Request, "REQUEST", "CONFIRMED"), (ics::Method::Cancel, "CANCEL", "CANCELLED")] {
        let text = ics::render(&ev, method, common::T0);
        for line in text.split("\r\n") {
            assert!(line.len() <= 75, "line over 75 octets: {line:?}");
        }
        assert!(text.ends_with("\r\n") && !text.replace("\r\n", "").contains('\n'), "CRLF line endings only");
        let cal = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes())).next().expect("a calendar").expect("parses");
        let prop = |props: &[ical::property::Property], name: &str| {
            props.iter().find(|p| p.name == name).and_then(|p| p.value.clone()).unwrap_or_default()
        };
        assert_eq!(prop(&cal.properties, "METHOD"), m);
        assert_eq!(prop(&cal.properties, "VERSION"), "2.0");
        assert_eq!(cal.events.len(), 1);
        let e = &cal.events[0].properties;
        assert_eq!(prop(e, "UID"), "meeting-42@carnet.test");
        assert_eq!(prop(e, "SEQUENCE"), "3");
        assert_eq!(prop(e, "STATUS"), status);
        assert_eq!(prop(e, "DTSTART"), "20261124T090000Z");
        assert_eq!(prop(e, "DTEND"), "20261124T100000Z");
        // Folded and escaped text comes back whole.
        assert_eq!(
            prop(e, "SUMMARY"),
            "JULIE / STOCK A1234\\, essai routier\\; « priorité » Or — rendez-vous à la succursale de Laval pour l'essai"
        );
        assert_eq!(prop(e, "DESCRIPTION"), "Ligne 1\\nLigne 2\\, avec virgule\\; et point-virgule");
        let attendees: Vec<_> = e.iter().filter(|p| p.name == "ATTENDEE").collect();
        assert_eq!(attendees.len(), 2);
        assert_eq!(attendees[0].value.as_deref(), Some("mailto:julie@client.test"));
        let cn = attendees[0].params.as_ref().unwrap().iter().find(|(k, _)| k == "CN").unwrap();
        assert_eq!(cn.1[0].trim_matches('"'), "Julie Roy");
        assert_eq!(prop(e, "ORGANIZER"), "mailto:marc@carnet.test");
    }
}

#[tokio::test]
async fn smtp_down_keeps_emails_queued_and_delivers_later_exactly_once() {
    for backend in backends() {
        // A port with nobody listening.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let app = TestApp::start_with(backend, move |c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))).await;
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let api = app.api(&app.token_for(admin).await);
        run_jobs(&app).await; // the account-created email fails too; fine
        let (s, q) = api.send("POST", "/api/v1/emails/test", Some(json!({"to": "Julie <julie@client.test>"}))).await;
        assert_eq!(s, 202, "{q}");
        let id = q["id"].as_i64().unwrap();
        run_jobs(&app).await;
        let e = mail::get(&app.state.db, id).await.unwrap().unwrap();
        assert_eq!(e.status, "queued", "stays queued while the server is down");
        assert_eq!(e.attempts, 1);
        assert!(e.last_error.is_some());
        // The outbox says so.
        let s = app.login("admin@t.fr", common::PASSWORD).await.unwrap();
        let (_, html) = s.get_text("/admin/outbox").await;
        assert!(html.contains("alert-warning"), "the outbox warns about waiting emails");
        // The server comes back; after the backoff, the email goes out once.
        let Some(smtp) = SmtpServer::start_on(port) else { return };
        assert_eq!(run_jobs(&app).await, 0, "not before the backoff");
        app.clock.advance(60_000);
        run_jobs(&app).await;
        app.clock.advance(3_600_000);
        run_jobs(&app).await;
        let e = mail::get(&app.state.db, id).await.unwrap().unwrap();
        assert_eq!(e.status, "sent");
        let ours: Vec<_> =
            smtp.messages().into_iter().filter(|m| parse(m).message_id().map(|x| format!("<{x}>")) == Some(e.message_id.clone())).collect();
        assert_eq!(ours.len(), 1, "delivered exactly once");
        app.stop().await;
    }
}

#[tokio::test]
async fn permanent_refusal_marks_failed_and_admin_can_retry() {
    let Some(smtp) = SmtpServer::start() else { return };
    for backend in backends() {
        let app = app_with_smtp(backend, &smtp).await;
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let api = app.api(&app.token_for(admin).await);
        let (_, q) = api.send("POST", "/api/v1/emails/test", Some(json!({"to": "refuse-me@client.test"}))).await;
        let id = q["id"].as_i64().unwrap();
        run_jobs(&app).await;
        let (_, e) = api.get(&format!("/api/v1/emails/{id}")).await;
        assert_eq!(e["status"], "failed");
        assert!(e["last_error"].as_str().unwrap().contains("550"), "{e}");
        // Not retried by itself.
        app.clock.advance(10 * 3_600_000);
        run_jobs(&app).await;
        assert_eq!(api.get(&format!("/api/v1/emails/{id}")).await.1["attempts"], 1);
        // Retrying a sent email is refused; a failed one is queued again.
        assert_eq!(api.send("POST", &format!("/api/v1/emails/{id}/retry"), None).await.0, 204);
        assert_eq!(api.get(&format!("/api/v1/emails/{id}")).await.1["status"], "queued");
        run_jobs(&app).await;
        assert_eq!(api.get(&format!("/api/v1/emails/{id}")).await.1["status"], "failed");
        let (_, q) = api.send("POST", "/api/v1/emails/test", Some(json!({"to": "ok@client.test"}))).await;
        run_jobs(&app).await;
        assert_eq!(api.send("POST", &format!("/api/v1/emails/{}/retry", q["id"]), None).await.0, 409);
        // Bad addresses are refused where they are entered.
        let (s, b) = api.send("POST", "/api/v1/emails/test", Some(json!({"to": "x@y.fr\r\nBcc: evil@x.fr"}))).await;
        assert_eq!(s, 422);
        assert!(b["error"]["fields"]["to"].is_string());
        app.stop().await;
    }
}

#[tokio::test]
async fn notifications_use_templates_languages_and_preferences() {
    let Some(smtp) = SmtpServer::start() else { return };
    for backend in backends() {
        let app = app_with_smtp(backend, &smtp).await;
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let api = app.api(&app.token_for(admin).await);
        run_jobs(&app).await;
        let start = smtp.messages().len();
        // A customised template, with a variable in the subject and in the HTML.
        let (s, _) = api.send("PUT", "/api/v1/email-templates/account_created/en", Some(json!({"subject": "Welcome {{ user.name }}", "text_body": "Hi {{ user.name }}", "html_body": "<p>Hi {{ user.name }}</p>"}))).await;
        assert_eq!(s, 200);
        let (s, b) = api
            .send(
                "PUT",
                "/api/v1/email-templates/account_created/en",
                Some(json!({"subject": "{% if %}", "text_body": "x", "html_body": "x"})),
            )
            .await;
        assert_eq!(s, 422, "{b}");
        // A new English user whose name tries to add a header and HTML.
        let (s, u) = api
            .send(
                "POST",
                "/api/v1/users",
                Some(json!({"email": "kevin@t.fr", "name": "<b>Kevin</b>\r\nBcc: evil@x.fr", "role": "representant", "language": "en"})),
            )
            .await;
        assert_eq!(s, 201, "{u}");
        // A French user gets the French default.
        let (_, fr) =
            api.send("POST", "/api/v1/users", Some(json!({"email": "julie@t.fr", "name": "Julie", "role": "representant"}))).await;
        run_jobs(&app).await;
        let msgs = smtp.messages();
        let new: Vec<_> = msgs[start..].iter().map(|m| parse(m)).collect();
        let kevin = new.iter().find(|m| header_text(m, "X-RcptTo").contains("kevin@t.fr")).expect("kevin's email");
        assert!(kevin.subject().unwrap().starts_with("Welcome <b>Kevin</b>"), "{:?}", kevin.subject());
        assert!(!header_text(kevin, "X-RcptTo").contains("evil"), "no injected recipient");
        assert!(kevin.header_raw("Bcc").is_none());
        assert!(kevin.body_html(0).unwrap().contains("&lt;b&gt;Kevin"), "escaped in HTML");
        let julie = new.iter().find(|m| header_text(m, "X-RcptTo").contains("julie@t.fr")).expect("julie's email");
        assert!(julie.subject().unwrap().starts_with("Votre compte"), "{:?}", julie.subject());
        // The email is listed on the user's record.
        let julie_id = fr["id"].as_i64().unwrap();
        let listed = mail::for_entity(&app.state.db, "user", julie_id).await.unwrap();
        assert_eq!(listed.len(), 1);
        // Preferences: an optional notification can be turned off, a required one cannot.
        let j = app.api(&app.token_for(julie_id).await);
        assert_eq!(j.send("PUT", "/api/v1/me/notifications", Some(json!({"events": {"password_changed": false}}))).await.0, 422);
        let (s, p) = j.send("PUT", "/api/v1/me/notifications", Some(json!({"events": {"role_changed": false}}))).await;
        assert_eq!(s, 200);
        assert_eq!(p["events"]["role_changed"], false);
        let before = app.count("SELECT COUNT(*) FROM emails").await;
        api.send("PATCH", &format!("/api/v1/users/{julie_id}"), Some(json!({"role": "agent_bdc"}))).await;
        assert_eq!(app.count("SELECT COUNT(*) FROM emails").await, before, "turned off: nothing sent");
        let kevin_id = u["id"].as_i64().unwrap();
        api.send("PATCH", &format!("/api/v1/users/{kevin_id}"), Some(json!({"role": "agent_bdc"}))).await;
        assert_eq!(app.count("SELECT COUNT(*) FROM emails").await, before + 1, "Kevin still gets it");
        // Groups: each member in their own language.
        let (_, g) = api.send("POST", "/api/v1/groups", Some(json!({"name": "Mixte", "members": [julie_id, kevin_id]}))).await;
        let mut tx = app.state.db.begin().await.unwrap();
        let ids = mail::notify::notify(
            &mut tx,
            app.now(),
            mail::notify::Notice {
                event: "test_email",
                entity: None,
                vars: json!({"user": {"name": "Équipe"}}),
                attachments: vec![],
                created_by: None,
            },
            &[mail::notify::Recipient::Group(g["id"].as_i64().unwrap())],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(ids.len(), 2);
        let subjects: Vec<String> = futures_subjects(&app, &ids).await;
        assert!(
            subjects.iter().any(|s| s.starts_with("Courriel de test")) && subjects.iter().any(|s| s.starts_with("Test email")),
            "{subjects:?}"
        );
        app.stop().await;
    }
}

async fn futures_subjects(app: &TestApp, ids: &[i64]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        out.push(mail::get(&app.state.db, *id).await.unwrap().unwrap().subject);
    }
    out
}

#[tokio::test]
async fn without_smtp_mail_goes_to_eml_files_readable_in_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let app = TestApp::start_with(common::Backend::Sqlite, move |c| c.mail_dir = path).await;
    let s = app.admin_session().await;
    let r = s.post("/admin/outbox/test", &[("to", "julie@client.test")]).await;
    assert_eq!(r.status(), 303);
    let r = s.post("/admin/outbox/test", &[("to", "not-an-address")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("value=\"not-an-address\""));
    run_jobs(&app).await;
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert!(files.len() >= 2, "the test email and the admin's account email");
    let (_, html) = s.get_text("/admin/outbox").await;
    assert!(html.contains("julie@client.test"));
    let id: i64 = sqlx::query_scalar("SELECT id FROM emails WHERE event = 'test_email'").fetch_one(&app.state.db.pool).await.unwrap();
    let raw = std::fs::read(dir.path().join(format!("{id:08}.eml"))).unwrap();
    assert_eq!(parse(&raw).to().and_then(|a| a.first()).and_then(|a| a.address()), Some("julie@client.test"));
    let (st, page) = s.get_text(&format!("/admin/outbox/{id}")).await;
    assert_eq!(st, 200);
    assert!(page.contains("Courriel de test"));
    app.stop().await;
}

#[test]
fn crash_between_queueing_and_delivery_delivers_exactly_once() {
    let Some(smtp) = SmtpServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("crash.db").display());
    let bin = env!("CARGO_BIN_EXE_carnet");
    let smtp_url = smtp.url();
    let run = |args: &[&str], stdin: Option<&str>| common::run_cli(&db, &[("CARNET_SMTP_URL", smtp_url.as_str())], args, stdin);
    run(
        &["admin", "create-user", "--email", "chef@t.fr", "--name", "Chef", "--role", "administrateur", "--password-stdin"],
        Some("un-long-mot-de-passe"),
    );
    let token = run(&["admin", "create-token", "--user", "chef@t.fr", "--name", "crash"], None);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    use common::Proc;
    let serve = |jobs: bool| {
        Proc(
            std::process::Command::new(bin)
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .env("DATABASE_URL", &db)
                .env("CARNET_LOG", "error")
                .env("CARNET_SMTP_URL", smtp.url())
                .env("CARNET_RUN_JOBS", if jobs { "true" } else { "false" })
                .env("CARNET_JOB_POLL_MS", "100")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let wait_up = || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "carnet did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    // First process: queues the email, then dies before any worker delivers it.
    let mut p1 = serve(false);
    wait_up();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let id = rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/api/v1/emails/test"))
            .bearer_auth(&token)
            .json(&json!({"to": "julie@client.test"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        r.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap()
    });
    p1.0.kill().unwrap(); // SIGKILL: no graceful anything
    p1.0.wait().unwrap();
    let count_ours =
        |mid: &str| smtp.messages().iter().filter(|m| parse(m).message_id().map(|x| format!("<{x}>")).as_deref() == Some(mid)).count();
    let message_id: String = rt.block_on(async {
        let d = carnet::db::Db::connect(&db, None, 1).await.unwrap();
        let (status, mid): (String, String) =
            sqlx::query_as("SELECT status, message_id FROM emails WHERE id = $1").bind(id).fetch_one(&d.pool).await.unwrap();
        assert_eq!(status, "queued");
        mid
    });
    assert_eq!(count_ours(&message_id), 0);
    // Second process with its worker: the email goes out, once.
    let p2 = serve(true);
    wait_up();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while count_ours(&message_id) == 0 {
        assert!(std::time::Instant::now() < deadline, "not delivered after restart");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    drop(p2);
    assert_eq!(count_ours(&message_id), 1, "exactly once");
}

#[tokio::test]
async fn per_record_reply_address_when_a_reply_domain_is_set() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let api = app.api(&app.token_for(admin).await);
        let (s, _) = api
            .send(
                "PATCH",
                "/api/v1/settings",
                Some(json!({"mail.reply_domain": "reponses.carnet.test", "mail.from_address": "crm@carnet.test"})),
            )
            .await;
        assert_eq!(s, 200);
        let (s, b) = api.send("PATCH", "/api/v1/settings", Some(json!({"mail.reply_domain": "not a domain"}))).await;
        assert_eq!(s, 422, "{b}");
        let mut tx = app.state.db.begin().await.unwrap();
        let id = mail::queue(
            &mut tx,
            app.now(),
            NewEmail {
                entity: Some(("user".into(), admin)),
                event: "test_email".into(),
                to: vec![Mailbox::parse("a@b.fr").unwrap()],
                subject: "S".into(),
                text: "T".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let e = mail::get(&app.state.db, id).await.unwrap().unwrap();
        let reply = e.reply_to_mailbox().unwrap().email;
        let token = reply.strip_prefix("reply+").unwrap().strip_suffix("@reponses.carnet.test").unwrap().to_string();
        assert_eq!(mail::thread_of(&app.state.db, &token).await.unwrap(), Some(("user".into(), admin)));
        assert_eq!(e.from_mailbox().unwrap().email, "crm@carnet.test");
        assert!(e.message_id.ends_with("@carnet.test>") && e.message_id.contains(&token));
        app.stop().await;
    }
}

/// Runs every due job with `ctx`, then moves the clock past the longest backoff, until the
/// queue is empty.
async fn drain(app: &TestApp, ctx: &carnet::jobs::JobContext) {
    for _ in 0..8 {
        while carnet::jobs::run_one(ctx, &app.state.jobs, "drain-worker").await.expect("job") {}
        app.clock.advance(2 * 3_600_000);
    }
}

#[tokio::test]
async fn emails_that_cannot_go_fail_for_good_and_are_delivered_once_resent_after_the_fix() {
    let Some(smtp) = SmtpServer::start() else { return };
    for backend in backends() {
        // The setting names a port where nobody listens.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let app = TestApp::start_with(backend, move |c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))).await;
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let api = app.api(&app.token_for(admin).await);
        let mut ids = Vec::new();
        for i in 0..2 {
            let (s, q) = api.send("POST", "/api/v1/emails/test", Some(json!({ "to": format!("port{i}@client.test") }))).await;
            assert_eq!(s, 202, "{q}");
            ids.push(q["id"].as_i64().unwrap());
        }
        drain(&app, &app.state.job_context()).await;
        // A transport that cannot even be set up (`smtp//oops`, which start-up now refuses, in
        // a process that had it): before, the job failed before touching the email, which
        // stayed `queued` for ever and could not be resent (409).
        let (_, q) = api.send("POST", "/api/v1/emails/test", Some(json!({ "to": "oops@client.test" }))).await;
        ids.push(q["id"].as_i64().unwrap());
        let bad = carnet::config::Config { smtp_url: Some("smtp//oops".into()), ..(*app.state.config).clone() };
        let ctx = carnet::jobs::JobContext { config: std::sync::Arc::new(bad), ..app.state.job_context() };
        drain(&app, &ctx).await;
        for id in &ids {
            let (_, e) = api.get(&format!("/api/v1/emails/{id}")).await;
            assert_eq!(e["status"], "failed", "{e}");
            assert!(!e["last_error"].as_str().unwrap_or("").is_empty(), "the error is kept: {e}");
        }
        let (_, e) = api.get(&format!("/api/v1/emails/{}", ids[2])).await;
        assert!(e["last_error"].as_str().unwrap().contains("smtp_url"), "{e}");
        let (_, listed) = api.get("/api/v1/emails?status=failed").await;
        assert!(listed["items"].as_array().unwrap().len() >= 3, "{listed}");
        // The outbox says so, with the errors and the button.
        let s = app.login("admin@t.fr", common::PASSWORD).await.unwrap();
        let (_, html) = s.get_text("/admin/outbox").await;
        assert!(html.contains("id=\"failed-emails\"") && html.contains("/admin/outbox/retry-failed"), "the outbox offers to resend");
        assert!(html.contains("invalid smtp_url"), "errors are listed");
        // The setting is fixed (a restart with the right server)…
        let fixed = carnet::config::Config { smtp_url: Some(smtp.url()), ..(*app.state.config).clone() };
        let st2 = carnet::app::prepare(fixed, app.state.clock.clone()).await.unwrap();
        // … one email is resent from the API (no longer 409), the others all at once from the outbox.
        assert_eq!(api.send("POST", &format!("/api/v1/emails/{}/retry", ids[0]), None).await.0, 204);
        assert_eq!(api.get(&format!("/api/v1/emails/{}", ids[0])).await.1["status"], "queued");
        let before = app.count("SELECT COUNT(*) FROM emails WHERE status = 'failed'").await;
        let r = s.post("/admin/outbox/retry-failed", &[]).await;
        assert_eq!(r.status(), 303);
        assert!(r.headers()["location"].to_str().unwrap().contains("notice.failed_emails_requeued"));
        assert_eq!(app.count("SELECT COUNT(*) FROM emails WHERE status = 'failed'").await, 0);
        let audited =
            app.count("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'email' AND action = 'resend' AND field = 'status'").await;
        assert_eq!(audited, before + 1, "every resend is in the history, with who did it");
        let actors = app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'email' AND actor_id = {admin}")).await;
        assert!(actors >= 2);
        drain(&app, &st2.job_context()).await;
        let msgs = smtp.messages();
        for id in &ids {
            let e = mail::get(&app.state.db, *id).await.unwrap().unwrap();
            assert_eq!(e.status, "sent", "email {id}");
            let ours = msgs.iter().filter(|m| parse(m).message_id().map(|x| format!("<{x}>")) == Some(e.message_id.clone())).count();
            assert_eq!(ours, 1, "email {id} arrived once");
        }
        // A sent email is not resent; nothing failed is left to resend.
        assert_eq!(api.send("POST", &format!("/api/v1/emails/{}/retry", ids[0]), None).await.0, 409);
        let (s2, n) = api.send("POST", "/api/v1/emails/retry-failed", None).await;
        assert_eq!((s2.as_u16(), n["requeued"].as_i64()), (200, Some(0)));
        st2.db.pool.close().await;
        app.stop().await;
    }
}

#[tokio::test]
async fn the_test_email_reports_a_delivery_made_by_another_worker() {
    for backend in backends() {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().to_path_buf();
        let app = TestApp::start_with(backend, move |c| c.mail_dir = dir).await;
        let now = app.now();
        let to = Mailbox::parse("julie@client.test").unwrap();
        let id = mail::send_test(&app.state.db, &carnet::access::Actor::system(), now, to, carnet::i18n::Lang::Fr).await.unwrap();
        // A running server's worker took the delivery first and is sending it.
        let server = carnet::jobs::Worker::register_as(&app.state.db, now, "worker", Some("server-host".into()), 7).await.unwrap();
        let claimed = carnet::jobs::claim(&app.state.db, &server.id, now).await.unwrap().expect("the delivery job");
        let (ctx, reg, sid) = (app.state.job_context(), app.state.jobs.clone(), server.id.clone());
        let other = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            carnet::jobs::execute(&ctx, &reg, &sid, claimed).await.unwrap()
        });
        let e = mail::deliver_now(&app.state.job_context(), &app.state.jobs, id, std::time::Duration::from_secs(20)).await.unwrap();
        assert_eq!(e.status, "sent", "the outcome is the other worker's");
        assert_eq!(e.delivered_by.as_deref(), Some(server.id.as_str()), "and says who sent it");
        assert_eq!(e.delivered_via.as_deref(), Some("file"));
        assert!(other.await.unwrap().is_ok());
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1, "written once");
        // Alone, the command delivers it itself.
        let to = Mailbox::parse("marc@client.test").unwrap();
        let id = mail::send_test(&app.state.db, &carnet::access::Actor::system(), now, to, carnet::i18n::Lang::Fr).await.unwrap();
        let e = mail::deliver_now(&app.state.job_context(), &app.state.jobs, id, std::time::Duration::from_secs(20)).await.unwrap();
        assert_eq!(e.status, "sent");
        assert!(e.delivered_by.unwrap().contains("-cli-"));
        app.stop().await;
    }
}

#[tokio::test]
async fn emails_left_queued_by_a_failed_delivery_job_become_failed_with_migration_17() {
    for backend in backends() {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().to_path_buf();
        let app = TestApp::start_with(backend, move |c| c.mail_dir = dir).await;
        let mut ids = Vec::new();
        for to in ["stuck@client.test", "waiting@client.test"] {
            let to = Mailbox::parse(to).unwrap();
            ids.push(
                mail::send_test(&app.state.db, &carnet::access::Actor::system(), app.now(), to, carnet::i18n::Lang::Fr).await.unwrap(),
            );
        }
        // What the former delivery left behind: a job that gave up, its email still `queued`.
        sqlx::query("UPDATE jobs SET status = 'failed' WHERE kind = 'deliver-email' AND payload = $1")
            .bind(json!({ "email_id": ids[0] }).to_string())
            .execute(&app.state.db.pool)
            .await
            .unwrap();
        let m = carnet::db::MIGRATIONS.iter().find(|m| m.version == 17).unwrap();
        let repair = m.sql.split(";\n").find(|s| s.contains("UPDATE emails")).unwrap();
        sqlx::query(repair).execute(&app.state.db.pool).await.unwrap();
        let stuck = mail::get(&app.state.db, ids[0]).await.unwrap().unwrap();
        assert_eq!(stuck.status, "failed");
        assert!(stuck.last_error.unwrap().contains("abandoned"));
        assert_eq!(mail::get(&app.state.db, ids[1]).await.unwrap().unwrap().status, "queued", "a live job keeps its email");
        // It can now be resent, and goes.
        mail::retry(&app.state.db, &carnet::access::Actor::system(), app.now(), ids[0]).await.unwrap();
        run_jobs(&app).await;
        for id in &ids {
            assert_eq!(mail::get(&app.state.db, *id).await.unwrap().unwrap().status, "sent");
        }
        app.stop().await;
    }
}
