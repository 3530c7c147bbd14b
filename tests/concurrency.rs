//! Identity under concurrency (issue 13, part 4), on both backends: simultaneous leads and
//! customer creations for one new email or phone make one customer (and one opportunity);
//! idempotency keys belong to their caller, and a key reused for another body is refused.
//!
//! The PostgreSQL pool has as many connections as there are simultaneous requests, so the
//! requests really overlap in the database (READ COMMITTED lookup-then-insert is the race).

mod common;

use common::{backends, Api, TestApp};
use futures_util::future::join_all;
use serde_json::{json, Value};

const N: usize = 16;

async fn start(backend: common::Backend) -> TestApp {
    TestApp::start_with(backend, |c| c.database_max_connections = N as u32 + 4).await
}

async fn admin(app: &TestApp, email: &str) -> Api {
    let id = app.user(email, "administrateur", None).await;
    app.api(&app.token_for(id).await)
}

async fn lead(app: &TestApp, api: &Api, body: Value, key: Option<&str>) -> (u16, Value) {
    let mut rb = api.client.post(format!("{}/api/v1/leads", app.url)).bearer_auth(&api.token).json(&body);
    if let Some(k) = key {
        rb = rb.header("Idempotency-Key", k);
    }
    let (s, v) = common::json_of(rb.send().await.unwrap()).await;
    (s.as_u16(), v)
}

/// `N` leads at once for `body` (each with its own key); every one must succeed.
async fn simultaneous_leads(app: &TestApp, api: &Api, body: Value, tag: &str) -> Vec<Value> {
    let keys: Vec<String> = (0..N).map(|i| format!("{tag}-{i}")).collect();
    let answers = join_all(keys.iter().map(|k| lead(app, api, body.clone(), Some(k)))).await;
    answers
        .into_iter()
        .map(|(s, v)| {
            assert_eq!(s, 201, "{v}");
            v
        })
        .collect()
}

#[tokio::test]
async fn simultaneous_leads_for_one_new_email_make_one_customer_and_one_opportunity() {
    for b in backends() {
        let app = start(b).await;
        let api = admin(&app, "admin@t.fr").await;
        let t = std::time::Instant::now();
        let answers =
            simultaneous_leads(&app, &api, json!({"first_name": "Zoé", "email": "zoe.nouvelle@exemple.fr", "message": "Prix ?"}), "mail")
                .await;
        eprintln!("{b:?}: {N} simultaneous leads, one new email: {:?}", t.elapsed());
        assert_eq!(app.count("SELECT COUNT(*) FROM customers WHERE email = 'zoe.nouvelle@exemple.fr'").await, 1, "{b:?}");
        assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 1, "{b:?}");
        assert_eq!(app.count("SELECT COUNT(*) FROM opportunities").await, 1, "{b:?}");
        assert_eq!(app.count("SELECT COUNT(*) FROM leads").await, N as i64, "{b:?}");
        // One answer created the customer and the opportunity; every other one merged into it.
        assert_eq!(answers.iter().filter(|a| a["customer_created"] == true).count(), 1, "{b:?}");
        assert_eq!(answers.iter().filter(|a| a["outcome"] == "created").count(), 1, "{b:?}");
        let opp = app.count("SELECT id FROM opportunities").await;
        assert!(answers.iter().all(|a| a["opportunity_id"] == opp), "{b:?}");
        // Every lead is in the opportunity's timeline.
        assert_eq!(
            app.count(&format!("SELECT COUNT(*) FROM opportunity_notes WHERE opportunity_id = {opp} AND kind = 'lead'")).await,
            N as i64
        );
        // The locks taken: the email's identity key and the customer, stored hashed.
        assert_eq!(app.count("SELECT COUNT(*) FROM named_locks").await, 2);
        assert_eq!(app.count("SELECT COUNT(*) FROM named_locks WHERE name_hash LIKE '%@%'").await, 0);
        // Housekeeping forgets locks idle for a day; the next lead takes its lock again.
        app.clock.advance(86_400_000 + 1);
        carnet::jobs::run_now(&app.state.job_context(), &app.state.jobs, "housekeeping").await.unwrap().unwrap();
        assert_eq!(app.count("SELECT COUNT(*) FROM named_locks").await, 0);
        let (s, r) = lead(&app, &api, json!({"email": "zoe.nouvelle@exemple.fr"}), None).await;
        assert_eq!((s, r["outcome"].as_str(), r["opportunity_id"].as_i64()), (201, Some("merged"), Some(opp)));
        assert_eq!(app.count("SELECT COUNT(*) FROM named_locks").await, 2);
        app.stop().await;
    }
}

#[tokio::test]
async fn simultaneous_leads_for_one_new_phone_make_one_customer_and_one_opportunity() {
    for b in backends() {
        let app = start(b).await;
        let api = admin(&app, "admin@t.fr").await;
        // The same number typed in several ways: one E.164 identity.
        let styles = ["514 555-0177", "(514) 555 0177", "+1 514 555 0177", "5145550177"];
        let keys: Vec<String> = (0..N).map(|i| format!("tel-{i}")).collect();
        let answers = join_all(keys.iter().enumerate().map(|(i, k)| {
            lead(&app, &api, json!({"last_name": "Gagnon", "phone": styles[i % styles.len()], "lead_type": "sms"}), Some(k))
        }))
        .await;
        for (s, v) in &answers {
            assert_eq!(*s, 201, "{v}");
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM customers WHERE phone = '+15145550177'").await, 1, "{b:?}");
        assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 1, "{b:?}");
        assert_eq!(app.count("SELECT COUNT(*) FROM opportunities").await, 1, "{b:?}");
        assert_eq!(app.count("SELECT COUNT(*) FROM leads").await, N as i64, "{b:?}");
        assert_eq!(answers.iter().filter(|(_, a)| a["customer_created"] == true).count(), 1, "{b:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn simultaneous_leads_by_email_and_by_phone_of_a_known_customer_open_one_opportunity() {
    for b in backends() {
        let app = start(b).await;
        let api = admin(&app, "admin@t.fr").await;
        let (s, c) = api
            .send(
                "POST",
                "/api/v1/customers",
                Some(json!({"kind": "person", "last_name": "Roy", "email": "roy@exemple.fr", "phone": "514 555 0160"})),
            )
            .await;
        assert_eq!(s, 201, "{c}");
        // Half recognise the customer by email, half by phone (different identity keys): the
        // customer itself serialises them, so only the first opens an opportunity.
        let keys: Vec<String> = (0..N).map(|i| format!("known-{i}")).collect();
        let answers = join_all(keys.iter().enumerate().map(|(i, k)| {
            let body = if i % 2 == 0 { json!({"email": "ROY@exemple.fr"}) } else { json!({"phone": "+15145550160"}) };
            lead(&app, &api, body, Some(k))
        }))
        .await;
        for (s, v) in &answers {
            assert_eq!(*s, 201, "{v}");
            assert_eq!(v["customer_id"], c["id"]);
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 1, "{b:?}");
        assert_eq!(app.count("SELECT COUNT(*) FROM opportunities").await, 1, "{b:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn simultaneous_customer_creations_for_one_new_email_make_one_customer() {
    for b in backends() {
        let app = start(b).await;
        let api = admin(&app, "admin@t.fr").await;
        let answers = join_all((0..N).map(|i| {
            api.send(
                "POST",
                "/api/v1/customers",
                Some(json!({"kind": "person", "last_name": format!("Client {i}"), "email": "meme.client@exemple.fr"})),
            )
        }))
        .await;
        assert_eq!(app.count("SELECT COUNT(*) FROM customers WHERE email = 'meme.client@exemple.fr'").await, 1, "{b:?}");
        assert_eq!(answers.iter().filter(|(s, _)| *s == 201).count(), 1, "{b:?}: {answers:?}");
        // The others are refused exactly as a later creation would be: 409 on the email, naming
        // the customer that was created.
        let created = answers.iter().find(|(s, _)| *s == 201).map(|(_, v)| v["id"].clone()).unwrap();
        for (s, v) in answers.iter().filter(|(s, _)| *s != 201) {
            assert_eq!(*s, 409, "{v}");
            assert!(v["error"]["fields"]["email"].is_string(), "{v}");
            assert_eq!(v["error"]["existing"][0]["id"], created, "{v}");
            assert_eq!(v["error"]["existing"].as_array().map(Vec::len), Some(1), "{v}");
        }
        // A user with `customers.create_duplicate` may still create a duplicate on purpose,
        // even several at once.
        let dups = join_all((0..4).map(|i| {
            api.send(
                "POST",
                "/api/v1/customers?allow_duplicate=true",
                Some(json!({"kind": "person", "last_name": format!("Doublon {i}"), "email": "meme.client@exemple.fr"})),
            )
        }))
        .await;
        assert!(dups.iter().all(|(s, _)| *s == 201), "{dups:?}");
        assert_eq!(app.count("SELECT COUNT(*) FROM customers WHERE email = 'meme.client@exemple.fr'").await, 5, "{b:?}");
        // An opportunity created with a new customer (one transaction): the same guarantee.
        let answers = join_all((0..N).map(|i| {
            api.send(
                "POST",
                "/api/v1/opportunities",
                Some(json!({"customer": {"kind": "person", "last_name": format!("Opp {i}"), "phone": "438 555 0123"}})),
            )
        }))
        .await;
        assert_eq!(answers.iter().filter(|(s, _)| *s == 201).count(), 1, "{b:?}: {answers:?}");
        for (s, v) in answers.iter().filter(|(s, _)| *s != 201) {
            assert_eq!(*s, 409, "{v}");
            assert!(v["error"]["fields"]["customer.phone"].is_string(), "{v}");
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM customers WHERE phone = '+14385550123'").await, 1, "{b:?}");
        assert_eq!(app.count("SELECT COUNT(*) FROM opportunities").await, 1, "{b:?}");
        app.stop().await;
    }
}

/// Timing, not a check (run with `--ignored --nocapture`): rounds of `N` simultaneous leads,
/// all for one new person, then each for a different new person.
#[tokio::test]
#[ignore]
async fn timing_of_simultaneous_leads() {
    for b in backends() {
        let app = start(b).await;
        let api = admin(&app, "admin@t.fr").await;
        const ROUNDS: usize = 16;
        for (what, same) in [("one new person", true), ("N different new people", false)] {
            let t = std::time::Instant::now();
            for r in 0..ROUNDS {
                let keys: Vec<String> = (0..N).map(|i| format!("{what}-{r}-{i}")).collect();
                let answers = join_all(keys.iter().enumerate().map(|(i, k)| {
                    let email = if same { format!("same{r}@exemple.fr") } else { format!("p{r}-{i}@exemple.fr") };
                    lead(&app, &api, json!({"email": email}), Some(k))
                }))
                .await;
                assert!(answers.iter().all(|(s, _)| *s == 201));
            }
            let e = t.elapsed();
            eprintln!(
                "TIMING {b:?}: {ROUNDS} rounds of {N} simultaneous leads, {what}: {:.0} ms per round, {:.1} ms per lead",
                e.as_secs_f64() * 1000.0 / ROUNDS as f64,
                e.as_secs_f64() * 1000.0 / (ROUNDS * N) as f64
            );
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn idempotency_keys_belong_to_their_caller_and_a_reused_key_is_refused() {
    for b in backends() {
        let app = start(b).await;
        let a = admin(&app, "admin@t.fr").await;
        // Another caller: a representative who sees only their own customers, speaking English.
        let company = app.unit("Groupe Auto", "company", None).await;
        let branch = app.unit("Laval", "branch", Some(company)).await;
        let rep_id = app.user("rep@t.fr", "representant", Some(branch)).await;
        sqlx::query("UPDATE users SET language = 'en' WHERE id = $1").bind(rep_id).execute(&app.state.db.pool).await.unwrap();
        let rep = app.api(&app.token_for(rep_id).await);

        let first = json!({"first_name": "Anne", "email": "anne@exemple.fr", "message": "Essai routier"});
        let (s, ra) = lead(&app, &a, first.clone(), Some("commande-42")).await;
        assert_eq!(s, 201, "{ra}");
        // The same key from another caller is another key: the rep's lead is taken, with its own
        // customer and opportunity (not a replay of the administrator's, which the rep may not open).
        let second = json!({"first_name": "Bruno", "email": "bruno@exemple.fr", "message": "Financement"});
        let (s, rb) = lead(&app, &rep, second.clone(), Some("commande-42")).await;
        assert_eq!(s, 201, "{rb}");
        assert_eq!(rb["replayed"], false);
        assert_eq!(rb["customer_created"], true);
        assert_ne!(rb["opportunity_id"], ra["opportunity_id"]);
        assert_ne!(rb["customer_id"], ra["customer_id"]);
        assert_eq!(app.count("SELECT COUNT(*) FROM leads WHERE idempotency_key = 'commande-42'").await, 2);
        assert_eq!(app.count("SELECT COUNT(*) FROM customers WHERE email = 'bruno@exemple.fr'").await, 1);

        // Each caller's retry (same key, same lead, even typed differently) replays its own answer.
        let (s, r) =
            lead(&app, &a, json!({"message": "Essai routier", "email": " ANNE@exemple.fr", "first_name": "Anne"}), Some("commande-42"))
                .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!((r["replayed"].as_bool(), &r["opportunity_id"]), (Some(true), &ra["opportunity_id"]));
        let (s, r) = lead(&app, &rep, second.clone(), Some("commande-42")).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!((r["replayed"].as_bool(), &r["opportunity_id"]), (Some(true), &rb["opportunity_id"]));

        // The same caller's key with another lead: 422 on the header, in the caller's language,
        // and nothing written.
        let before = app.snapshot().await;
        let other = json!({"first_name": "Anne", "email": "anne@exemple.fr", "message": "Autre chose"});
        let (s, e) = lead(&app, &a, other, Some("commande-42")).await;
        assert_eq!(s, 422, "{e}");
        let msg = e["error"]["fields"]["Idempotency-Key"].as_str().unwrap_or_default();
        assert!(msg.contains("déjà servi pour un autre lead"), "{e}");
        let (s, e) = lead(&app, &rep, json!({"email": "carla@exemple.fr"}), Some("commande-42")).await;
        assert_eq!(s, 422, "{e}");
        let msg = e["error"]["fields"]["Idempotency-Key"].as_str().unwrap_or_default();
        assert!(msg.contains("already used for a different lead"), "{e}");
        assert_eq!(app.snapshot().await, before, "{b:?}");
        assert_eq!(app.count("SELECT COUNT(*) FROM customers WHERE email = 'carla@exemple.fr'").await, 0);

        // Different leads under one key at once (a client bug): one is taken, the others are
        // refused, and only the taken one wrote anything.
        let answers = join_all((0..8).map(|i| lead(&app, &a, json!({"email": format!("lot{i}@exemple.fr")}), Some("lot")))).await;
        assert_eq!(answers.iter().filter(|(s, _)| *s == 201).count(), 1, "{b:?}: {answers:?}");
        assert!(answers.iter().all(|(s, _)| *s == 201 || *s == 422), "{answers:?}");
        assert_eq!(app.count("SELECT COUNT(*) FROM leads WHERE idempotency_key = 'lot'").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM customers WHERE email LIKE 'lot%'").await, 1, "{b:?}");
        app.stop().await;
    }
}
