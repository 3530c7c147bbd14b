//! Inbound email against a real IMAP server (a private Dovecot per test), on both backends:
//! replies quoted by Gmail, Outlook and Apple Mail land on the right request with the quote
//! stripped; a message polled twice, or by two processes at once, lands once; a spoofed sender
//! with a valid reply token goes to quarantine; auto-replies are ignored and never answered; a
//! known contact's new email opens a request; the quarantine's actions work and are audited.

mod common;

use carnet::access::Actor;
use carnet::config::InboundMailbox;
use carnet::inbound;
use carnet::service::messages::{self, Author};
use common::{each_backend, Api, ImapServer, TestApp};
use serde_json::json;

/// A landed message: direction, author kind, body, matching rule, read mark.
type MessageRow = (String, String, String, Option<String>, Option<i64>);

struct Setup {
    admin: Api,
    agent_id: i64,
    customer: i64,
    request_id: i64,
    number: String,
    /// The reply address and Message-ID of Carnet's notification about the request.
    reply_to: String,
    notification_id: String,
}

async fn setup(app: &TestApp) -> Setup {
    let company = app.unit("Service Inc.", "company", None).await;
    let team = app.unit("Service Laval", "team", Some(company)).await;
    let admin = app.user("admin@t.fr", "administrateur", None).await;
    let agent_id = app.user("agent@t.fr", "agent_support", Some(team)).await;
    let admin = app.api(&app.token_for(admin).await);
    let agent = app.api(&app.token_for(agent_id).await);
    let (s, b) = admin.send("PATCH", "/api/v1/settings", Some(json!({"mail.reply_domain": "carnet.test"}))).await;
    assert_eq!(s, 200, "{b}");
    let (s, cu) = admin
        .send(
            "POST",
            "/api/v1/customers",
            Some(json!({"kind": "company", "company_name": "Les Trois Épis", "branch_id": team, "language": "fr"})),
        )
        .await;
    assert_eq!(s, 201, "{cu}");
    let customer = cu["id"].as_i64().unwrap();
    let (_, ct) = admin
        .send(
            "POST",
            &format!("/api/v1/customers/{customer}/contacts"),
            Some(json!({"first_name": "Marie", "last_name": "Lemieux", "email": "Marie@3epis.ca"})),
        )
        .await;
    let (s, r) = agent
        .send(
            "POST",
            "/api/v1/service-requests",
            Some(json!({"customer_id": customer, "request_type": "panne", "requester_contact_id": ct["id"], "description": "Le four"})),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let request_id = r["id"].as_i64().unwrap();
    // Staff write to the customer, who is emailed from the request's reply address.
    let staff = Author::Staff { user_id: agent_id, name: "agent".into() };
    let actor = Actor { id: Some(agent_id), name: "agent".into(), request_id: None };
    messages::post(&app.state.db, &actor, app.now(), request_id, &staff, "Le technicien passe demain.", true).await.expect("post");
    let (notification_id, reply_to): (String, Option<String>) =
        sqlx::query_as("SELECT message_id, reply_to FROM emails WHERE event = 'request_message' ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("notification");
    let reply_to: serde_json::Value = serde_json::from_str(&reply_to.expect("a reply address")).unwrap();
    let reply_to = reply_to["email"].as_str().unwrap().to_string();
    assert!(reply_to.starts_with("reply+") && reply_to.ends_with("@carnet.test"), "{reply_to}");
    Setup { admin, agent_id, customer, request_id, number: r["number"].as_str().unwrap().into(), reply_to, notification_id }
}

/// A fixture with its placeholders filled.
fn fixture(name: &str, from: &str, to: &str, subject: &str, message_id: &str, in_reply_to: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/mail/{name}.eml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .expect("fixture")
        .replace("{{FROM}}", from)
        .replace("{{TO}}", to)
        .replace("{{SUBJECT}}", subject)
        .replace("{{MESSAGE_ID}}", message_id)
        .replace("{{IN_REPLY_TO}}", in_reply_to)
        .into_bytes()
}

fn plain(from: &str, to: &str, subject: &str, message_id: &str, extra: &str, body: &str) -> Vec<u8> {
    format!("From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n{extra}Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\n{body}\r\n")
        .into_bytes()
}

async fn poll(app: &TestApp, mailbox: &InboundMailbox) -> String {
    let ctx = app.state.job_context();
    inbound::imap::poll(&ctx.db, &app.state.storage, &ctx.clock, mailbox, 5_000_000).await.expect("poll")
}

async fn inbound_rows(app: &TestApp) -> Vec<(String, Option<String>, Option<String>, String)> {
    sqlx::query_as("SELECT status, rule, reason, trace FROM inbound_emails ORDER BY id").fetch_all(&app.state.db.pool).await.unwrap()
}

#[tokio::test]
async fn replies_quoted_by_gmail_outlook_and_apple_land_on_the_right_request_stripped() {
    let Some(imap) = ImapServer::start() else { return };
    each_backend(|app| {
        let imap = &imap;
        async move {
            let s = setup(&app).await;
            let marie = "Marie Lemieux <marie@3epis.ca>";
            let subject = format!("Votre demande {}", s.number);
            // Gmail and Apple answer the reply address; Outlook's reply reaches the general
            // address and is known by its In-Reply-To.
            let tag = format!("{:?}", app.backend);
            imap.append("INBOX", &fixture("gmail", marie, &s.reply_to, &subject, &format!("g{tag}@mail.gmail.com"), &s.notification_id)).await;
            imap.append("INBOX", &fixture("outlook", marie, "support@carnet.test", &subject, &format!("o{tag}@outlook.com"), &s.notification_id))
                .await;
            imap.append("INBOX", &fixture("apple", marie, &s.reply_to, &subject, &format!("a{tag}@icloud.com"), "")).await;
            let emails_before = app.count("SELECT COUNT(*) FROM emails WHERE event <> 'request_message_received'").await;
            let summary = poll(&app, &imap.mailbox("support")).await;
            assert!(summary.starts_with("3 landed"), "{summary} {:?}", inbound_rows(&app).await);
            let rows: Vec<MessageRow> = sqlx::query_as(
                "SELECT direction, author_kind, body, inbound_rule, read_at FROM request_messages WHERE request_id = $1 AND author_kind = 'email' ORDER BY id",
            )
            .bind(s.request_id)
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
            assert_eq!(rows.len(), 3, "{rows:?}");
            let rules: Vec<_> = rows.iter().map(|r| r.3.clone().unwrap_or_default()).collect();
            assert_eq!(rules, vec!["token", "thread", "token"]);
            for (direction, _, body, _, read) in &rows {
                assert_eq!((direction.as_str(), *read), ("in", None), "a customer message, unread");
                assert!(body.starts_with("Bonjour") && body.contains("toujours en panne"), "{body}");
                assert!(!body.contains("QUOTED-HISTORY") && !body.contains("SIGNATURE-LINE") && !body.contains("wrote:"), "{body}");
            }
            // Counted unread; the owner is told; the customer is not answered.
            assert_eq!(messages::unread_of(&app.state.db, &[s.request_id]).await.unwrap(), vec![(s.request_id, 3)]);
            assert_eq!(app.count("SELECT COUNT(*) FROM emails WHERE event = 'request_message_received'").await, 3);
            assert_eq!(app.count("SELECT COUNT(*) FROM emails WHERE event <> 'request_message_received'").await, emails_before);
            // Each original is an .eml document of the request, linked to its message.
            let emls = app
                .count(&format!(
                    "SELECT COUNT(*) FROM documents WHERE request_id = {} AND filename LIKE '%.eml' AND shared = 0 AND message_id IS NOT NULL",
                    s.request_id
                ))
                .await;
            assert_eq!(emls, 3);
            // Taken: no longer unseen.
            let (all, unseen) = imap.counts("INBOX").await;
            assert_eq!(unseen, 0, "{all} messages");
            app
        }
    })
    .await;
}

#[tokio::test]
async fn the_same_message_polled_twice_or_by_two_processes_at_once_lands_once() {
    let Some(imap) = ImapServer::start() else { return };
    each_backend(|app| {
        let imap = &imap;
        async move {
            let s = setup(&app).await;
            let tag = format!("{:?}", app.backend);
            let mailbox = imap.mailbox("support");
            // The same message delivered twice, and polled twice.
            let raw = plain("marie@3epis.ca", &s.reply_to, "Re: suivi", &format!("twice{tag}@x"), "", "Merci, c'est noté.");
            imap.append("INBOX", &raw).await;
            imap.append("INBOX", &raw).await;
            let first = poll(&app, &mailbox).await;
            assert_eq!(first, "1 landed, 0 quarantined, 0 ignored, 1 already taken");
            imap.append("INBOX", &raw).await;
            poll(&app, &mailbox).await;
            assert_eq!(app.count("SELECT COUNT(*) FROM request_messages WHERE author_kind = 'email'").await, 1);
            // Two processes poll the same mailbox at once (each with its own database pool): five
            // messages, each lands once.
            for i in 0..5 {
                let raw = plain("marie@3epis.ca", &s.reply_to, "Re: suivi", &format!("race{i}{tag}@x"), "", &format!("Message {i}"));
                imap.append("INBOX", &raw).await;
            }
            let other =
                carnet::db::Db::connect(&app.state.config.database_url, app.state.config.database_schema.as_deref(), 3).await.unwrap();
            let ctx = app.state.job_context();
            let (a, b) = tokio::join!(
                inbound::imap::poll(&ctx.db, &app.state.storage, &ctx.clock, &mailbox, 5_000_000),
                inbound::imap::poll(&other, &app.state.storage, &ctx.clock, &mailbox, 5_000_000),
            );
            let (a, b) = (a.expect("first poller"), b.expect("second poller"));
            other.pool.close().await;
            assert_eq!(app.count("SELECT COUNT(*) FROM request_messages WHERE author_kind = 'email'").await, 6, "{a} / {b}");
            assert_eq!(app.count("SELECT COUNT(*) FROM inbound_emails").await, 6);
            for i in 0..5 {
                let n = app.count(&format!("SELECT COUNT(*) FROM request_messages WHERE body = 'Message {i}'")).await;
                assert_eq!(n, 1, "message {i}: {a} / {b}");
            }
            assert_eq!(imap.counts("INBOX").await.1, 0);
            app
        }
    })
    .await;
}

#[tokio::test]
async fn spoofed_senders_go_to_quarantine_where_people_decide_with_an_audit() {
    let Some(imap) = ImapServer::start() else { return };
    each_backend(|app| {
        let imap = &imap;
        async move {
            let s = setup(&app).await;
            let tag = format!("{:?}", app.backend);
            let mailbox = imap.mailbox("support");
            // A valid reply token from a stranger; a request number in the subject from a
            // stranger; the number from the customer's contact (lands by rule 3).
            imap.append("INBOX", &plain("mallory@evil.test", &s.reply_to, "Re: suivi", &format!("spoof{tag}@x"), "", "Changez l'IBAN."))
                .await;
            imap.append(
                "INBOX",
                &plain("eve@evil.test", "support@carnet.test", &format!("Re: {}", s.number), &format!("subj{tag}@x"), "", "Bonjour"),
            )
            .await;
            imap.append(
                "INBOX",
                &plain("marie@3epis.ca", "support@carnet.test", &format!("Re: {}", s.number), &format!("ok{tag}@x"), "", "Par le numéro"),
            )
            .await;
            let summary = poll(&app, &mailbox).await;
            assert_eq!(summary, "1 landed, 2 quarantined, 0 ignored, 0 already taken");
            let rows = inbound_rows(&app).await;
            assert_eq!((rows[0].0.as_str(), rows[0].2.as_deref()), ("quarantined", Some("unknown_sender")));
            let trace: Vec<inbound::Step> = serde_json::from_str(&rows[0].3).unwrap();
            assert_eq!(trace[0], inbound::Step { rule: "token".into(), found: "request".into(), detail: s.number.clone() });
            assert_eq!(trace[1], inbound::Step { rule: "sender".into(), found: "unknown".into(), detail: "mallory@evil.test".into() });
            assert_eq!((rows[1].0.as_str(), rows[1].2.as_deref()), ("quarantined", Some("no_match")));
            assert!(rows[1].3.contains("not_a_contact"), "{}", rows[1].3);
            assert_eq!((rows[2].0.as_str(), rows[2].1.as_deref()), ("landed", Some("subject")));
            assert_eq!(app.count("SELECT COUNT(*) FROM request_messages WHERE body LIKE '%IBAN%'").await, 0);

            // The quarantine page: support leads (agent_support) and administrators; not a technician.
            let agent = app.login("agent@t.fr", common::PASSWORD).await.expect("login");
            let (st, html) = agent.get_text("/service/inbound").await;
            assert_eq!(st, 200);
            assert!(html.contains("mallory@evil.test") && html.contains("eve@evil.test") && !html.contains("Par le numéro"), "{html}");
            assert!(html.contains("Adresse de réponse") && html.contains("demande trouvée"), "why it landed here");
            app.user("tech@t.fr", "technicien", None).await;
            let tech = app.login("tech@t.fr", common::PASSWORD).await.expect("login");
            assert_eq!(tech.get("/service/inbound").await.status(), 403);
            let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM inbound_emails WHERE status = 'quarantined' ORDER BY id")
                .fetch_all(&app.state.db.pool)
                .await
                .unwrap();
            // Assign: a bad number is a 422 with the reason, nothing changes.
            let before = app.snapshot().await;
            let r = agent.post(&format!("/service/inbound/{}/assign", ids[0]), &[("number", "DEM-1999-000001")]).await;
            assert_eq!(r.status(), 422);
            assert!(r.text().await.unwrap().contains("Demande introuvable"));
            assert_eq!(app.snapshot().await, before);
            // A request the agent may not see is unknown to them.
            let (_, other) = s.admin.send("POST", "/api/v1/customers", Some(json!({"kind": "company", "company_name": "Ailleurs"}))).await;
            let (st, hidden) =
                s.admin.send("POST", "/api/v1/service-requests", Some(json!({"customer_id": other["id"], "request_type": "panne"}))).await;
            assert_eq!(st, 201, "{hidden}");
            let r = agent.post(&format!("/service/inbound/{}/assign", ids[0]), &[("number", hidden["number"].as_str().unwrap())]).await;
            assert_eq!(r.status(), 422, "not visible to the agent");
            let r = agent.post(&format!("/service/inbound/{}/create", ids[0]), &[("customer_id", other["id"].to_string().as_str())]).await;
            assert_eq!(r.status(), 422, "a customer the agent may not see");
            let r = agent.post(&format!("/service/inbound/{}/assign", ids[0]), &[("number", s.number.as_str())]).await;
            assert_eq!(r.status(), 303);
            assert_eq!(app.count("SELECT COUNT(*) FROM request_messages WHERE body LIKE '%IBAN%' AND inbound_rule = 'assigned'").await, 1);
            // Twice is refused: it is no longer in quarantine.
            let r = agent.post(&format!("/service/inbound/{}/assign", ids[0]), &[("number", s.number.as_str())]).await;
            assert_eq!(r.status(), 422);
            // Discard the other.
            let r = agent.post(&format!("/service/inbound/{}/discard", ids[1]), &[]).await;
            assert_eq!(r.status(), 303);
            let statuses: Vec<String> =
                sqlx::query_scalar("SELECT status FROM inbound_emails ORDER BY id").fetch_all(&app.state.db.pool).await.unwrap();
            assert_eq!(statuses, vec!["landed", "discarded", "landed"]);
            let audited: Vec<(String, i64)> = sqlx::query_as(
                "SELECT action, actor_id FROM audit_events WHERE entity_type = 'inbound_email' AND field = 'status' ORDER BY id",
            )
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
            assert_eq!(audited, vec![("assigned".to_string(), s.agent_id), ("discarded".to_string(), s.agent_id)]);
            app
        }
    })
    .await;
}

#[tokio::test]
async fn auto_replies_bounces_and_loops_are_ignored_and_never_answered() {
    let Some(imap) = ImapServer::start() else { return };
    each_backend(|app| {
        let imap = &imap;
        async move {
            let s = setup(&app).await;
            let tag = format!("{:?}", app.backend);
            let to = s.reply_to.clone();
            let cases = [
                ("Auto-Submitted: auto-replied\r\n", "auto_submitted"),
                ("Precedence: bulk\r\n", "precedence"),
                ("Return-Path: <>\r\n", "bounce"),
            ];
            for (i, (header, _)) in cases.iter().enumerate() {
                imap.append("INBOX", &plain("marie@3epis.ca", &to, "Absent", &format!("auto{i}{tag}@x"), header, "Je suis absente.")).await;
            }
            // Carnet's own notification, come back.
            let own = s.notification_id.trim_matches(['<', '>']).to_string();
            imap.append("INBOX", &plain("marie@3epis.ca", &to, "Re", &own, "", "Boucle")).await;
            let emails = app.count("SELECT COUNT(*) FROM emails").await;
            let summary = poll(&app, &imap.mailbox("support")).await;
            assert_eq!(summary, "0 landed, 0 quarantined, 4 ignored, 0 already taken");
            let reasons: Vec<Option<String>> =
                sqlx::query_scalar("SELECT reason FROM inbound_emails ORDER BY id").fetch_all(&app.state.db.pool).await.unwrap();
            assert_eq!(
                reasons,
                vec![Some("auto_submitted".into()), Some("precedence".into()), Some("bounce".into()), Some("own_message".into())]
            );
            assert_eq!(app.count("SELECT COUNT(*) FROM request_messages WHERE author_kind = 'email'").await, 0);
            assert_eq!(app.count("SELECT COUNT(*) FROM emails").await, emails, "nothing answered, nobody told");
            // A flood from one sender: past the limit a minute, the rest is a loop.
            let mut mailbox = imap.mailbox("support");
            mailbox.max_per_sender_per_minute = 2;
            for i in 0..3 {
                imap.append("INBOX", &plain("marie@3epis.ca", &to, "Re", &format!("flood{i}{tag}@x"), "", &format!("flood {i}"))).await;
            }
            let summary = poll(&app, &mailbox).await;
            // The four ignored above count for the sender's minute too.
            assert!(summary.starts_with("0 landed"), "{summary}");
            assert_eq!(app.count("SELECT COUNT(*) FROM inbound_emails WHERE reason = 'rate'").await, 3);
            // The ignored are listed, read-only.
            let agent = app.login("agent@t.fr", common::PASSWORD).await.expect("login");
            let (st, html) = agent.get_text("/service/inbound?status=ignored").await;
            assert_eq!(st, 200);
            assert!(html.contains("réponse automatique") && !html.contains("/discard"), "{html}");
            app
        }
    })
    .await;
}

#[tokio::test]
async fn a_known_contacts_new_email_opens_a_request_when_the_mailbox_allows() {
    let Some(imap) = ImapServer::start() else { return };
    each_backend(|app| {
        let imap = &imap;
        async move {
            let s = setup(&app).await;
            let tag = format!("{:?}", app.backend);
            let mut mailbox = imap.mailbox("support");
            // Not allowed by this mailbox: quarantine.
            imap.append("INBOX", &plain("Marie <marie@3epis.ca>", "support@carnet.test", "Nouvelle panne", &format!("n1{tag}@x"), "", "Le four ne chauffe plus."))
                .await;
            assert_eq!(poll(&app, &mailbox).await, "0 landed, 1 quarantined, 0 ignored, 0 already taken");
            // Allowed: a request, source email, requester = the contact, the message in its conversation.
            mailbox.open_requests = true;
            let attachment = "--b\r\nContent-Type: text/plain\r\n\r\nLe four ne chauffe plus.\r\n--b\r\nContent-Type: application/pdf; name=\"devis.pdf\"\r\n\
                Content-Disposition: attachment; filename=\"devis.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--";
            imap.append(
                "INBOX",
                &plain(
                    "Marie <marie@3epis.ca>",
                    "support@carnet.test",
                    "Autre panne",
                    &format!("n2{tag}@x"),
                    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n",
                    attachment,
                ),
            )
            .await;
            assert_eq!(poll(&app, &mailbox).await, "1 landed, 0 quarantined, 0 ignored, 0 already taken");
            let (id, source, requester, description): (i64, String, Option<i64>, String) = sqlx::query_as(
                "SELECT id, source, requester_contact_id, description FROM service_requests WHERE source = 'email'",
            )
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
            let contact: i64 = sqlx::query_scalar("SELECT id FROM contacts WHERE customer_id = $1").bind(s.customer).fetch_one(&app.state.db.pool).await.unwrap();
            assert_eq!((source.as_str(), requester, description.as_str()), ("email", Some(contact), "Autre panne"));
            let body: String = sqlx::query_scalar("SELECT body FROM request_messages WHERE request_id = $1").bind(id).fetch_one(&app.state.db.pool).await.unwrap();
            assert_eq!(body, "Le four ne chauffe plus.");
            let docs: Vec<(String, i64)> =
                sqlx::query_as("SELECT filename, shared FROM documents WHERE request_id = $1 AND message_id IS NOT NULL ORDER BY filename")
                    .bind(id)
                    .fetch_all(&app.state.db.pool)
                    .await
                    .unwrap();
            assert_eq!(docs.len(), 2, "{docs:?}");
            assert_eq!(docs[0], ("devis.pdf".to_string(), 1), "the attachment, shared with the customer");
            assert!(docs[1].0.ends_with(".eml") && docs[1].1 == 0, "{docs:?}");
            // The quarantined one: a person opens a request for it (audited); a bad customer is a 422.
            let held: i64 = sqlx::query_scalar("SELECT id FROM inbound_emails WHERE status = 'quarantined'").fetch_one(&app.state.db.pool).await.unwrap();
            let agent = app.login("agent@t.fr", common::PASSWORD).await.expect("login");
            let r = agent.post(&format!("/service/inbound/{held}/create"), &[("customer_id", "x")]).await;
            assert_eq!(r.status(), 422);
            let r = agent.post(&format!("/service/inbound/{held}/create"), &[("customer_id", "999999")]).await;
            assert_eq!(r.status(), 422);
            let r = agent.post(&format!("/service/inbound/{held}/create"), &[("customer_id", s.customer.to_string().as_str())]).await;
            assert_eq!(r.status(), 303);
            let n = app.count("SELECT COUNT(*) FROM request_messages WHERE body = 'Le four ne chauffe plus.' AND inbound_rule = 'created'").await;
            assert_eq!(n, 1);
            assert_eq!(app.count("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'inbound_email' AND action = 'created'").await, 2);
            app
        }
    })
    .await;
}

#[tokio::test]
async fn the_scheduled_job_polls_every_configured_mailbox_once_per_period() {
    let Some(imap) = ImapServer::start() else { return };
    for backend in common::backends() {
        let mailbox = imap.mailbox("support");
        let app = TestApp::start_with(backend, |c| c.inbound_mailboxes = vec![mailbox]).await;
        let s = setup(&app).await;
        let tag = format!("{backend:?}");
        imap.append("INBOX", &plain("marie@3epis.ca", &s.reply_to, "Re: suivi", &format!("job{tag}@x"), "", "Par le job")).await;
        // Two processes reach the start of the period: one run is enqueued.
        let ctx = app.state.job_context();
        carnet::jobs::schedule_due(&ctx, &app.state.jobs).await.unwrap();
        carnet::jobs::schedule_due(&ctx, &app.state.jobs).await.unwrap();
        assert_eq!(app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'inbound_mail'").await, 1);
        common::run_jobs(&app).await;
        let (status, error): (String, Option<String>) =
            sqlx::query_as("SELECT status, last_error FROM jobs WHERE kind = 'inbound_mail'").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(status, "done", "{error:?}");
        assert_eq!(app.count("SELECT COUNT(*) FROM request_messages WHERE body = 'Par le job' AND inbound_rule = 'token'").await, 1);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_message_that_cannot_be_stored_is_left_for_the_next_poll_and_the_others_are_taken() {
    let Some(imap) = ImapServer::start() else { return };
    each_backend(|app| {
        let imap = &imap;
        async move {
            let s = setup(&app).await;
            let tag = format!("{:?}", app.backend);
            imap.append("INBOX", &plain("marie@3epis.ca", &s.reply_to, "Re", &format!("store{tag}@x"), "", "Avec pièce")).await;
            imap.append(
                "INBOX",
                &plain("marie@3epis.ca", &s.reply_to, "Absent", &format!("away{tag}@x"), "Auto-Submitted: auto-replied\r\n", "x"),
            )
            .await;
            // Document storage under a plain file: writing the .eml fails, the landing rolls back.
            let file = tempfile::NamedTempFile::new().unwrap();
            let broken = object_store::local::LocalFileSystem::new_with_prefix(file.path()).unwrap();
            let broken = carnet::service::documents::Storage(std::sync::Arc::new(broken));
            let ctx = app.state.job_context();
            let mailbox = imap.mailbox("support");
            let err = inbound::imap::poll(&ctx.db, &broken, &ctx.clock, &mailbox, 5_000_000).await.unwrap_err();
            assert!(format!("{err:#}").contains("1 not taken"), "{err:#}");
            assert_eq!(app.count("SELECT COUNT(*) FROM inbound_emails").await, 1, "the auto-reply only");
            assert_eq!(app.count("SELECT COUNT(*) FROM request_messages WHERE author_kind = 'email'").await, 0);
            assert_eq!(imap.counts("INBOX").await.1, 1, "left unseen");
            // The next poll, with the storage back, lands it.
            assert_eq!(poll(&app, &mailbox).await, "1 landed, 0 quarantined, 0 ignored, 0 already taken");
            app
        }
    })
    .await;
}

#[tokio::test]
async fn mailboxes_are_read_over_imaps_and_starttls_trusting_a_private_authority() {
    let Some(imap) = ImapServer::start_tls() else { return };
    let (tls_port, ca) = (imap.tls_port.expect("IMAPS port"), imap.ca.clone().expect("authority"));
    each_backend(|app| {
        let imap = &imap;
        let ca = ca.clone();
        async move {
            let s = setup(&app).await;
            let tag = format!("{:?}", app.backend);
            let imaps = InboundMailbox {
                tls: carnet::config::ImapTls::Imaps,
                port: tls_port,
                ca_file: Some(ca.clone()),
                ..imap.mailbox("support")
            };
            let starttls = InboundMailbox { tls: carnet::config::ImapTls::Starttls, ca_file: Some(ca), ..imap.mailbox("support") };
            imap.append("INBOX", &plain("marie@3epis.ca", &s.reply_to, "Re", &format!("imaps{tag}@x"), "", "Par IMAPS")).await;
            assert_eq!(poll(&app, &imaps).await, "1 landed, 0 quarantined, 0 ignored, 0 already taken");
            imap.append("INBOX", &plain("marie@3epis.ca", &s.reply_to, "Re", &format!("starttls{tag}@x"), "", "Par STARTTLS")).await;
            assert_eq!(poll(&app, &starttls).await, "1 landed, 0 quarantined, 0 ignored, 0 already taken");
            assert_eq!(app.count("SELECT COUNT(*) FROM request_messages WHERE body LIKE 'Par %TLS' OR body = 'Par IMAPS'").await, 2);
            // Without the authority the server's certificate is refused: nothing is read.
            imap.append("INBOX", &plain("marie@3epis.ca", &s.reply_to, "Re", &format!("untrusted{tag}@x"), "", "Refusé")).await;
            let ctx = app.state.job_context();
            for m in [InboundMailbox { ca_file: None, ..imaps.clone() }, InboundMailbox { ca_file: None, ..starttls.clone() }] {
                let err = inbound::imap::poll(&ctx.db, &app.state.storage, &ctx.clock, &m, 5_000_000).await.unwrap_err();
                assert!(format!("{err:#}").to_lowercase().contains("certificate"), "{err:#}");
            }
            assert_eq!(app.count("SELECT COUNT(*) FROM request_messages WHERE body = 'Refusé'").await, 0);
            assert_eq!(poll(&app, &imaps).await, "1 landed, 0 quarantined, 0 ignored, 0 already taken");
            app
        }
    })
    .await;
}

#[tokio::test]
async fn a_mailbox_is_read_with_an_oauth2_token_and_a_revoked_token_reads_nothing() {
    // The identity provider's token info endpoint: one valid token, for the mailbox's user.
    const TOKEN: &str = "ya29.carnet-test-token";
    async fn tokeninfo(
        axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        match q.get("access_token").map(String::as_str) {
            Some(TOKEN) => axum::Json(json!({"username": common::IMAP_USER, "expires_in": 3600})).into_response(),
            _ => (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_token"}))).into_response(),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/tokeninfo?access_token=", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().route("/tokeninfo", axum::routing::get(tokeninfo))).await });
    let Some(imap) = ImapServer::start_oauth2(&url) else { return };
    each_backend(|app| {
        let imap = &imap;
        async move {
            let s = setup(&app).await;
            let tag = format!("{:?}", app.backend);
            let oauth = InboundMailbox { password: None, oauth2_token: Some(TOKEN.into()), ..imap.mailbox("support") };
            imap.append("INBOX", &plain("marie@3epis.ca", &s.reply_to, "Re", &format!("oauth{tag}@x"), "", "Par jeton")).await;
            assert_eq!(poll(&app, &oauth).await, "1 landed, 0 quarantined, 0 ignored, 0 already taken", "{}", imap.log());
            // A token the provider no longer accepts: the login fails, nothing is read.
            imap.append("INBOX", &plain("marie@3epis.ca", &s.reply_to, "Re", &format!("revoked{tag}@x"), "", "Jeton révoqué")).await;
            let revoked = InboundMailbox { oauth2_token: Some("ya29.revoked".into()), ..oauth.clone() };
            let ctx = app.state.job_context();
            assert!(inbound::imap::poll(&ctx.db, &app.state.storage, &ctx.clock, &revoked, 5_000_000).await.is_err());
            assert_eq!(app.count("SELECT COUNT(*) FROM request_messages WHERE body = 'Jeton révoqué'").await, 0);
            assert_eq!(poll(&app, &oauth).await, "1 landed, 0 quarantined, 0 ignored, 0 already taken");
            app
        }
    })
    .await;
}

/// Replies to a pre-sales request's emails join its conversation: the partner user answering
/// the team's email (its reply address), the engineer answering the partner's (by its
/// thread). A stranger, or a user of another partner, holding the reply address goes to
/// quarantine and changes nothing on the request.
#[tokio::test]
async fn replies_to_presales_emails_join_the_request() {
    use carnet::presales::store::{self as presales, By, RequestInput, Step};
    let Some(imap) = ImapServer::start() else { return };
    each_backend(|app| {
        let imap = &imap;
        async move {
            let db = &app.state.db;
            let now = app.now();
            let pool = app.state.db.pool.clone();
            let exec = |sql: String| {
                let pool = pool.clone();
                async move { sqlx::query(&sql).execute(&pool).await.expect("sql") }
            };
            let admin = app.user("admin@t.fr", "administrateur", None).await;
            let admin = app.api(&app.token_for(admin).await);
            let (s, b) = admin.send("PATCH", "/api/v1/settings", Some(json!({"mail.reply_domain": "carnet.test"}))).await;
            assert_eq!(s, 200, "{b}");
            let company = app.unit("Éditeur", "company", None).await;
            let engineer = app.user("emma@editeur.example", "avant_vente", Some(company)).await;
            exec(format!("INSERT INTO user_groups (name, description, org_unit_id, created_at, updated_at) VALUES ('Avant-vente', '', NULL, {now}, {now})")).await;
            let g: i64 = sqlx::query_scalar("SELECT id FROM user_groups WHERE name = 'Avant-vente'").fetch_one(&db.pool).await.unwrap();
            exec(format!("INSERT INTO user_group_members (group_id, user_id) VALUES ({g}, {engineer})")).await;
            for name in ["Ouest", "Est"] {
                exec(format!("INSERT INTO partners (name, active, unit_id, owner_id, admin_invites, created_at, updated_at) VALUES ('{name}', 1, {company}, {engineer}, 1, {now}, {now})")).await;
            }
            let pa: i64 = sqlx::query_scalar("SELECT id FROM partners WHERE name = 'Ouest'").fetch_one(&db.pool).await.unwrap();
            let pb: i64 = sqlx::query_scalar("SELECT id FROM partners WHERE name = 'Est'").fetch_one(&db.pool).await.unwrap();
            for (p, email) in [(pa, "paul@ouest.example"), (pb, "bob@est.example")] {
                exec(format!(
                    "INSERT INTO partner_users (partner_id, email, name, language, is_admin, can_opportunities, status, invited_by_name, invited_at, created_at, updated_at) \
                     VALUES ({p}, '{email}', '{email}', 'fr', 0, 1, 'active', 'test', {now}, {now}, {now})"
                ))
                .await;
            }
            let paul: i64 = sqlx::query_scalar("SELECT id FROM partner_users WHERE email = 'paul@ouest.example'").fetch_one(&db.pool).await.unwrap();
            exec(format!(
                "INSERT INTO partner_opportunities (partner_id, customer_name, opportunity_type, status, created_at, updated_at) VALUES ({pa}, 'Boulangerie', 'primo', 'nouvelle', {now}, {now})"
            ))
            .await;
            let opp: i64 = sqlx::query_scalar("SELECT id FROM partner_opportunities").fetch_one(&db.pool).await.unwrap();
            let actor = |name: &str, id: Option<i64>| Actor { id, name: name.into(), request_id: None };
            let partner = By::Partner { partner_id: pa, user_id: paul, can_opportunities: true, is_admin: false, actor: actor("Paul", None) };
            let team = By::Staff { user_id: engineer, presales: true, all_teams: false, actor: actor("Emma", Some(engineer)) };
            let input = RequestInput {
                partner_opportunity_id: opp,
                description: "Démo".into(),
                intervention_type: "demo".into(),
                on_site: false,
                place: None,
                desired_date: None,
                preferred_engineer_id: None,
            };
            let z = carnet::clock::Zone::default();
            let r = presales::create(db, &partner, now, &input).await.unwrap();
            presales::act(db, &partner, now, z, r.id, Step::Submit { confirmed: true }).await.unwrap();
            presales::act(db, &team, now, z, r.id, Step::AskInfo("Combien d'utilisateurs ?".into())).await.unwrap();
            // The email the partner got (the question), with the request's reply address.
            let (to_partner_id, reply_to): (String, Option<String>) = sqlx::query_as(
                "SELECT message_id, reply_to FROM emails WHERE entity_type = 'presales_request' AND to_addrs LIKE '%paul@ouest.example%' ORDER BY id DESC LIMIT 1",
            )
            .fetch_one(&db.pool)
            .await
            .unwrap();
            let reply_to: serde_json::Value = serde_json::from_str(&reply_to.expect("a reply address")).unwrap();
            let reply_to = reply_to["email"].as_str().unwrap().to_string();
            assert!(reply_to.starts_with("reply+"), "{reply_to}");
            let (to_team_id,): (String,) = sqlx::query_as(
                "SELECT message_id FROM emails WHERE entity_type = 'presales_request' AND to_addrs LIKE '%emma@editeur.example%' ORDER BY id LIMIT 1",
            )
            .fetch_one(&db.pool)
            .await
            .unwrap();
            let told_before = app.count("SELECT COUNT(*) FROM emails WHERE entity_type = 'presales_request'").await;

            let tag = format!("{:?}", app.backend);
            // The partner answers by email; the engineer answers the partner's earlier email by its thread.
            imap.append("INBOX", &plain("Paul <paul@ouest.example>", &reply_to, "Re: AV", &format!("p{tag}@ouest"), "", "Douze utilisateurs.\r\n\r\n> Combien ?")).await;
            let irt = format!("In-Reply-To: {to_team_id}\r\n");
            imap.append("INBOX", &plain("emma@editeur.example", "support@carnet.test", "Re: AV", &format!("e{tag}@editeur"), &irt, "Bien reçu, merci.")).await;
            // A stranger and another partner's user, with the reply address.
            imap.append("INBOX", &plain("pirate@evil.example", &reply_to, "Re: AV", &format!("x{tag}@evil"), "", "Annulez tout")).await;
            imap.append("INBOX", &plain("bob@est.example", &reply_to, "Re: AV", &format!("b{tag}@est"), "", "Je m'invite")).await;
            let summary = poll(&app, &imap.mailbox("support")).await;
            assert!(summary.starts_with("2 landed, 2 quarantined"), "{summary} {:?}", inbound_rows(&app).await);
            let rows: Vec<(String, String, String)> =
                sqlx::query_as("SELECT kind, side, body FROM presales_messages WHERE request_id = $1 AND kind = 'email' ORDER BY id")
                    .bind(r.id)
                    .fetch_all(&db.pool)
                    .await
                    .unwrap();
            assert_eq!(
                rows,
                vec![
                    ("email".to_string(), "partner".to_string(), "Douze utilisateurs.".to_string()),
                    ("email".to_string(), "team".to_string(), "Bien reçu, merci.".to_string())
                ]
            );
            let landed: Vec<(Option<String>, Option<i64>, Option<i64>)> =
                sqlx::query_as("SELECT rule, presales_request_id, request_id FROM inbound_emails WHERE status = 'landed' ORDER BY id")
                    .fetch_all(&db.pool)
                    .await
                    .unwrap();
            assert_eq!(landed, vec![(Some("token".into()), Some(r.id), None), (Some("thread".into()), Some(r.id), None)]);
            let reasons: Vec<Option<String>> =
                sqlx::query_scalar("SELECT reason FROM inbound_emails WHERE status = 'quarantined' ORDER BY id").fetch_all(&db.pool).await.unwrap();
            assert_eq!(reasons, vec![Some("unknown_sender".to_string()), Some("unknown_sender".to_string())]);
            // The status did not move (a step is taken in Carnet); the history has both; each
            // side was told of the other's reply.
            assert_eq!(presales::get_for_partner(db, pa, r.id).await.unwrap().unwrap().status, "en_attente_info");
            let n = app.count(&format!("SELECT COUNT(*) FROM audit_events WHERE entity_type = 'presales_request' AND entity_id = {} AND action = 'email'", r.id)).await;
            assert_eq!(n, 2);
            assert_eq!(app.count("SELECT COUNT(*) FROM emails WHERE entity_type = 'presales_request'").await, told_before + 2);
            let _ = to_partner_id;
            app
        }
    })
    .await;
}
